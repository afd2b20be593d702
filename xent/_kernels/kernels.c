/* Entry points of the compiled kernels and their run-time SIMD dispatch.
 *
 * body.h (the kernels) is compiled once per element type and instruction set: for x86-64,
 * with AVX-512 (x86-64-v4), AVX2 + FMA (x86-64-v3) and the baseline; elsewhere, the portable
 * build alone. The best variant this CPU runs is chosen once, from __builtin_cpu_supports,
 * which needs no ifunc (so it works on musl too). -ffp-contract=off is set for the whole file
 * (setup.py) and no -ffast-math: every variant computes the same IEEE operations in the same
 * order and gives the same bits; the tests run each on the same inputs.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(XK_PORTABLE_ONLY)
#define XK_X86 1
#endif

#define XK_CAT2(a, b) a##b
#define XK_CAT(a, b) XK_CAT2(a, b)

/* Per-row slots of a tile, then three class-major tiles of few classes (row-major rows
 * transposed): at most 98 KiB. */
ptrdiff_t xk_scratch_len(ptrdiff_t C)
{
    return XK_TILE + (C <= XK_SMALL_C ? 3 * C * XK_TILE : 0);
}


#ifdef XK_X86
/* ---- AVX-512 */
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define XK_V _v4
#include "instance.h"
#undef XK_V
#pragma GCC pop_options
/* ---- AVX2 + FMA */
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define XK_V _v3
#include "instance.h"
#undef XK_V
#pragma GCC pop_options
#endif
/* ---- the baseline of the build */
#define XK_V _base
#include "instance.h"
#undef XK_V

static const xk_variant variants[] = {
#ifdef XK_X86
    {"avx512", {softmax_f32_v4, softmax_f64_v4}, {prob_f32_v4, prob_f64_v4},
     {binary_f32_v4, binary_f64_v4}, {softplus_f32_v4, softplus_f64_v4},
     {stats_f32_v4, stats_f64_v4}, {kl_f32_v4, kl_f64_v4}},
    {"avx2", {softmax_f32_v3, softmax_f64_v3}, {prob_f32_v3, prob_f64_v3},
     {binary_f32_v3, binary_f64_v3}, {softplus_f32_v3, softplus_f64_v3},
     {stats_f32_v3, stats_f64_v3}, {kl_f32_v3, kl_f64_v3}},
#endif
    {"baseline", {softmax_f32_base, softmax_f64_base}, {prob_f32_base, prob_f64_base},
     {binary_f32_base, binary_f64_base}, {softplus_f32_base, softplus_f64_base},
     {stats_f32_base, stats_f64_base}, {kl_f32_base, kl_f64_base}},
};

int xk_n_variants(void) { return (int)(sizeof variants / sizeof variants[0]); }

const xk_variant *xk_get_variant(int i) { return &variants[i]; }

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
#ifdef XK_X86
    if (v == 0) { math_array_v4(fn, x, y, n, vector); return; }
    if (v == 1) { math_array_v3(fn, x, y, n, vector); return; }
#endif
    (void)v;
    math_array_base(fn, x, y, n, vector);
}
