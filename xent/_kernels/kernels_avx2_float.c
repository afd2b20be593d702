/* The float kernels of the AVX2 variant (XK_PART 1, instance.h): see kernels_avx2.c. */
#define XK_PART 1
#include "kernels_avx2.c"
