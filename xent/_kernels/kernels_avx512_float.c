/* The float kernels of the AVX-512 variant (XK_PART 1, instance.h): see kernels_avx512.c. */
#define XK_PART 1
#include "kernels_avx512.c"
