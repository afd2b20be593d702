/* The float kernels of the AVX2 variant compiled as C++, as kernels_avx2.cpp. */
#include "kernels_avx2_float.c"
