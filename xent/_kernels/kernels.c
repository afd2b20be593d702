/* Entry points of the compiled kernels and their run-time SIMD dispatch.
 *
 * body.h (the kernels) is compiled once per element type and instruction set: for x86-64,
 * with AVX-512 (x86-64-v4), AVX2 + FMA (x86-64-v3) and the baseline; elsewhere, the portable
 * build alone. The best variant this CPU runs is chosen once, from __builtin_cpu_supports,
 * which needs no ifunc (so it works on musl too). -ffp-contract=off is set for every file
 * (setup.py) and no -ffast-math: every variant computes the same IEEE operations in the same
 * order and gives the same bits, but that the x86-64 baseline rounds the written-out
 * multiply-adds in two steps where the others fuse them (xmath.h XM_FUSED); the tests run each
 * on the same inputs.
 */
#include "kernels.h"

/* Per-row slots of a tile, then three class-major tiles of few classes (row-major rows
 * transposed; at most 194 KiB), or a row's F for the second pass of a focal loss (the float
 * rows' focal sums: C rounded up to 16), or sixteen rows' F for the focal sums of a tile of
 * class-major float rows (C <= XK_RUN: at most 128 KiB). */
ptrdiff_t xk_scratch_len(ptrdiff_t C)
{
    return XK_TILE + (C <= XK_TILE_C_MAX ? 3 * C * XK_TILE : C <= XK_RUN ? 16 * C + 16 : C + 16);
}

/* The variants, each compiled in files of its own (kernels_avx512.c and kernels_avx512_float.c,
 * kernels_avx2.cpp and kernels_avx2_float.cpp, kernels_baseline.c: the build compiles them in
 * parallel), best first. */
#ifdef XK_X86
extern const xk_variant xk_variant_v4, xk_variant_v3;
#endif
extern const xk_variant xk_variant_base;

static const xk_variant *const variants[] = {
#ifdef XK_X86
    &xk_variant_v4,
    &xk_variant_v3,
#endif
    &xk_variant_base,
};

int xk_n_variants(void) { return (int)(sizeof variants / sizeof variants[0]); }

const xk_variant *xk_get_variant(int i) { return variants[i]; }

int xk_variant_supported(int i)
{
#ifdef XK_X86
    __builtin_cpu_init();
    if (i == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
    if (i == 1)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
#endif
    return i == xk_n_variants() - 1;
}

void xk_math_array(int fn, const double *x, double *y, ptrdiff_t n, int v, int vector)
{
    variants[v]->math_array(fn, x, y, n, vector);
}
