/* The AVX2 + FMA (x86-64-v3) variant of the kernels (instance.h); x86-64 with GCC or Clang only.
 * The build compiles it as C++ (kernels_avx2.cpp, with -march=x86-64-v3: see setup.py), as C
 * where there is no C++ compiler (the pragma below then sets the instruction set). Its float
 * kernels are a unit of their own (kernels_avx2_float.c, XK_PART 1), compiled at the same
 * time; this one has the rest (XK_PART 2). */
#include "kernels.h"

#ifdef XK_X86
#pragma GCC target("arch=x86-64-v3")
#ifndef XK_PART
#define XK_PART 2
#endif
#define XK_V _v3
#define XK_NAME "avx2"
#include "instance.h"
#else
typedef int xk_no_avx2_variant; /* an empty translation unit is not ISO C */
#endif
