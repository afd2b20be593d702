/* The AVX-512 (x86-64-v4) variant of the kernels (instance.h); x86-64 with GCC or Clang only.
 * Its float kernels are a unit of their own (kernels_avx512_float.c, XK_PART 1), compiled at
 * the same time; this one has the rest (XK_PART 2). */
#include "kernels.h"

#ifdef XK_X86
#pragma GCC target("arch=x86-64-v4")
#ifndef XK_PART
#define XK_PART 2
#endif
#define XK_V _v4
#define XK_NAME "avx512"
#include "instance.h"
#else
typedef int xk_no_avx512_variant; /* an empty translation unit is not ISO C */
#endif
