/* The AVX2 variant compiled as C++: its vectors are then two 32-byte pieces in registers
 * (xvec_pieces.h) instead of 64-byte GCC vectors in memory. The same source as kernels_avx2.c. */
#include "kernels_avx2.c"
