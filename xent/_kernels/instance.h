/* One SIMD variant (suffix XK_V, name XK_NAME) of everything: the elementwise math, then the
 * kernels for float and for double, and the variant's table of entry points (xk_variant_XK_V,
 * which kernels.c lists). Included by kernels_<variant>.c under the variant's target pragma. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

#define XK_CAT2(a, b) a##b
#define XK_CAT(a, b) XK_CAT2(a, b)

/* XK_PART: 0 (the default) the whole variant in this translation unit; 1 its float kernels
 * alone, 2 the rest: its double kernels, its elementwise math and its table, which names the
 * float kernels of the part-1 unit. A variant that takes long to compile is built as its two
 * parts, compiled at the same time (setup.py); its entry points (XK_ENTRY) are then external. */
#ifndef XK_PART
#define XK_PART 0
#endif
#if XK_PART && defined(__cplusplus)
#define XK_ENTRY extern "C"
#elif XK_PART
#define XK_ENTRY
#else
#define XK_ENTRY static
#endif

#define xm_exp XK_CAT(xm_exp, XK_V)
#define xm_log XK_CAT(xm_log, XK_V)
#define xm_log1p XK_CAT(xm_log1p, XK_V)
#define xm_expm1 XK_CAT(xm_expm1, XK_V)
#define xm__bits XK_CAT(xm__bits, XK_V)
#define xm__double XK_CAT(xm__double, XK_V)
#define xm__log_kernel XK_CAT(xm__log_kernel, XK_V)
#include "xmath.h"
#define XV(name) XK_CAT(XK_CAT(xv_, name), XK_V)
#include "xvec.h"

#define xk_exp xm_exp
#define xk_log xm_log
#define xk_log1p xm_log1p
#define xk_expm1 xm_expm1

/* class weights of 1, for the vector loads of kernels called without class weights (cw NULL) */
static const double xk_ones[16] = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
                                   1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};

/* cond ? a : b without a branch: a plain ?: lets the compiler move the work of one arm under
 * the condition, which stops the vectorizer (see xmath.h). */
#define xk_sel XK_CAT(xk_sel, XK_V)
static inline __attribute__((always_inline)) double xk_sel(int cond, double a, double b)
{
    uint64_t ua, ub, m = (uint64_t)0 - (uint64_t)(cond != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

#if XK_PART != 1
/* exp (fn 0), log (1), log1p (2), the float rows' exp (3), expm1 (4), exp_short (5),
 * log1p_short (6, for 0 <= x <= 1), log1p_exp_short (7: log1p(exp(-x)); 11: its exp(-x), for
 * x >= 0), expf_hilo (8), expm1_short (9) or log_short (10) of n doubles: exp, log, log1p and expm1 through the vector
 * path (vector != 0, the entries after the last whole vector through the scalar one) or the
 * scalar path: for the tests, which check them against mpmath and the paths against each
 * other. */
static void XK_CAT(math_array, XK_V)(int fn, const double *x, double *y, ptrdiff_t n, int vector)
{
    ptrdiff_t i = 0;
    if (fn == 3 || fn == 8) { /* float lanes (xvec.h), x rounded to float, sixteen at a time:
        the float rows' exp (3) and expf_hilo (8), each as a double */
        for (; i < n; i += XV_SLANES) {
            float d[XV_SLANES] = {0};
            for (int l = 0; l < XV_SLANES && i + l < n; l++) d[l] = (float)x[i + l];
            const xv_s v = XV(sload)(d), zero = XV(ssplat)(0.0f);
            xv_s lo = zero, hi = zero;
            xv_d w[2] = {XV(splat)(0.0), XV(splat)(0.0)};
            if (fn == 3) XV(expf_wide)(v, zero, XV(expf_core)(v, zero), w);
            else hi = XV(expf_hilo)(v, zero, &lo);
            for (int l = 0; l < XV_SLANES && i + l < n; l++)
                y[i + l] = fn == 3 ? w[l >> 3][l & 7] : (double)hi[l] + lo[l];
        }
        return;
    }
    if ((fn >= 5 && fn <= 7) || fn >= 9) { /* the short forms, eight at a time */
        for (; i < n; i += XV_LANES) {
            double d[XV_LANES] = {0};
            for (int l = 0; l < XV_LANES && i + l < n; l++) d[l] = x[i + l];
            xv_d v = XV(load)(d), u;
            v = fn == 7    ? XV(log1p_exp_short)(v, &u)
                : fn == 11 ? (XV(log1p_exp_short)(v, &u), u)
                : fn == 5  ? XV(exp_short)(v)
                : fn == 6  ? XV(log1p_short)(v)
                : fn == 10 ? XV(log_short)(v)
                           : XV(expm1_short)(v);
            for (int l = 0; l < XV_LANES && i + l < n; l++) y[i + l] = v[l];
        }
        return;
    }
    if (vector && (fn < 3 || fn == 4))
        for (; i + XV_LANES <= n; i += XV_LANES) {
            xv_d v = XV(load)(x + i);
            XV(store)(y + i, fn == 0   ? XV(exp)(v)
                             : fn == 1 ? XV(log_kernel)(v, XV(splat)(0.0))
                             : fn == 2 ? XV(log1p)(v)
                                       : XV(expm1)(v));
        }
    for (; i < n; i++)
        y[i] = fn == 0   ? xk_exp(x[i])
               : fn == 1 ? xk_log(x[i])
               : fn == 2 ? xk_log1p(x[i])
                         : xk_expm1(x[i]); /* fn 4 */
}
#endif

/* The least and greatest of n class ids y (int64, or int32 with is32) other than skip (where
 * use_skip), and how many they are: one pass, eight ids at a time without a branch. lo and hi
 * stay INT64_MAX and INT64_MIN where there is none. AVX2 in intrinsics, four ids per register
 * in two independent chains: the eight-lane vectors of xvec_pieces.h went through the stack
 * on each load (a store-forwarding stall: 2 ns per int64 id on a Zen 3, six times NumPy's
 * min and max, a quarter of a sparse forward pass of two float32 classes). */
static inline void XK_CAT(id_range, XK_V)(const void *y, int is32, ptrdiff_t n, int64_t skip,
                                          int use_skip, int64_t *lo, int64_t *hi,
                                          ptrdiff_t *count)
{
    const int64_t *y64 = (const int64_t *)y;
    const int32_t *y32 = (const int32_t *)y;
    int64_t l = INT64_MAX, h = INT64_MIN;
    ptrdiff_t c = 0, i = 0;
#if XV_AVX2
    const __m256i sk = _mm256_set1_epi64x(skip), vmax = _mm256_set1_epi64x(INT64_MAX),
                  vmin = _mm256_set1_epi64x(INT64_MIN), zero = _mm256_setzero_si256();
    __m256i lo0 = vmax, lo1 = vmax, hi0 = vmin, hi1 = vmin, sk0 = zero, sk1 = zero;
    /* a skipped id: INT64_MAX for the minimum, INT64_MIN for the maximum */
#define XK_ID_STEP(v, LO, HI, SK)                                                          \
    do {                                                                                  \
        __m256i a = (v), b = (v);                                                         \
        if (use_skip) {                                                                   \
            const __m256i eq = _mm256_cmpeq_epi64((v), sk);                               \
            a = _mm256_blendv_epi8((v), vmax, eq);                                        \
            b = _mm256_blendv_epi8((v), vmin, eq);                                        \
            SK = _mm256_sub_epi64(SK, eq);                                                \
        }                                                                                 \
        LO = _mm256_blendv_epi8(LO, a, _mm256_cmpgt_epi64(LO, a));                        \
        HI = _mm256_blendv_epi8(HI, b, _mm256_cmpgt_epi64(b, HI));                        \
    } while (0)
    if (is32) {
        for (; i + 8 <= n; i += 8) {
            const __m256i v0 = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(y32 + i)));
            const __m256i v1 =
                _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(y32 + i + 4)));
            XK_ID_STEP(v0, lo0, hi0, sk0);
            XK_ID_STEP(v1, lo1, hi1, sk1);
        }
    } else {
        for (; i + 8 <= n; i += 8) {
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)(y64 + i));
            const __m256i v1 = _mm256_loadu_si256((const __m256i *)(y64 + i + 4));
            XK_ID_STEP(v0, lo0, hi0, sk0);
            XK_ID_STEP(v1, lo1, hi1, sk1);
        }
    }
#undef XK_ID_STEP
    int64_t vl[8], vh[8], vs[8];
    _mm256_storeu_si256((__m256i *)vl, lo0), _mm256_storeu_si256((__m256i *)(vl + 4), lo1);
    _mm256_storeu_si256((__m256i *)vh, hi0), _mm256_storeu_si256((__m256i *)(vh + 4), hi1);
    _mm256_storeu_si256((__m256i *)vs, sk0), _mm256_storeu_si256((__m256i *)(vs + 4), sk1);
    c = i;
    for (int k = 0; k < 8; k++) {
        l = vl[k] < l ? vl[k] : l;
        h = vh[k] > h ? vh[k] : h;
        c -= (ptrdiff_t)vs[k];
    }
#else
    const xv_i none = {0}, all = none - 1, vmax = none + INT64_MAX, vmin = none + INT64_MIN;
    const xv_i sk = none + skip, use = use_skip ? all : none;
    xv_i vlo = vmax, vhi = vmin, cnt = none;
    for (; i + XV_LANES <= n; i += XV_LANES) {
        xv_i v;
        if (is32) {
            typedef int32_t i32x8 __attribute__((vector_size(32)));
            i32x8 w;
            memcpy(&w, y32 + i, sizeof w);
            v = XV_CONVERT(w, xv_i);
        } else {
            memcpy(&v, y64 + i, sizeof v);
        }
        const xv_i keep = ~(XV_EQ(v, sk) & use);
        const xv_i a = (v & keep) | (vmax & ~keep), b = (v & keep) | (vmin & ~keep);
        const xv_i below = XV_LT(a, vlo), above = XV_GT(b, vhi);
        vlo = (a & below) | (vlo & ~below);
        vhi = (b & above) | (vhi & ~above);
        cnt -= keep;
    }
    for (int k = 0; k < XV_LANES; k++) {
        l = vlo[k] < l ? vlo[k] : l;
        h = vhi[k] > h ? vhi[k] : h;
        c += (ptrdiff_t)cnt[k];
    }
#endif
    for (; i < n; i++) {
        const int64_t v = is32 ? (int64_t)y32[i] : y64[i];
        if (use_skip && v == skip) continue;
        c++;
        l = v < l ? v : l;
        h = v > h ? v : h;
    }
    *lo = l, *hi = h, *count = c;
}

/* Whether the labels of rows r0:r0+n of a block are outside [0, b->id_limit) somewhere (where
 * b->id_limit > 0 asks for the check): then b->ids_bad is set, and the kernel returns. The next
 * n rows' labels are prefetched (a tile's check otherwise waited for memory: as long as a pass
 * of its own over them). */
#define xk_labels_bad XK_CAT(xk_labels_bad, XK_V)
static inline int xk_labels_bad(xk_block *b, ptrdiff_t r0, ptrdiff_t n)
{
    if (b->id_limit <= 0 || !b->labels || n <= 0) return 0;
    const ptrdiff_t ahead = r0 + n + n <= b->R ? n : b->R - r0 - n;
    for (ptrdiff_t i = 0; i < ahead; i += 64 / sizeof(int64_t))
        __builtin_prefetch(b->labels + r0 + n + i, 0, 3);
    int64_t lo, hi;
    ptrdiff_t count;
    XK_CAT(id_range, XK_V)(b->labels + r0, 0, n, 0, 0, &lo, &hi, &count);
    if (lo >= 0 && hi < b->id_limit) return 0;
    b->ids_bad = 1;
    return 1;
}

#if XK_PART != 2
#define T float
#define XK_WIDEN 1
#define FN(name) XK_CAT(XK_CAT(name, _f32), XK_V)
#include "body.h"
#include "kl.h"
#undef FN
#undef T
#undef XK_WIDEN
#endif

#if XK_PART != 1
#define T double
#define XK_WIDEN 0
#define FN(name) XK_CAT(XK_CAT(name, _f64), XK_V)
#include "body.h"
#include "kl.h"
#undef FN
#undef T
#undef XK_WIDEN

#if XK_PART == 2
/* the float kernels, from the part-1 unit */
XK_ENTRY void XK_CAT(softmax_f32, XK_V)(xk_block *b, int mode);
XK_ENTRY void XK_CAT(prob_f32, XK_V)(xk_block *b, int mode);
XK_ENTRY void XK_CAT(binary_f32, XK_V)(xk_binary *bb);
XK_ENTRY void XK_CAT(softplus_f32, XK_V)(const void *xv, void *outv, ptrdiff_t n, int negate);
XK_ENTRY void XK_CAT(stats_f32, XK_V)(xk_stats *s);
XK_ENTRY void XK_CAT(kl_f32, XK_V)(xk_kl *b);
#endif

#ifdef __cplusplus
extern "C" const xk_variant XK_CAT(xk_variant, XK_V);
#endif
const xk_variant XK_CAT(xk_variant, XK_V) = {
    .name = XK_NAME,
    .fused = XM_FUSED,
    .registers = XV_IN_REGISTERS,
    .softmax = {XK_CAT(softmax_f32, XK_V), XK_CAT(softmax_f64, XK_V)},
    .prob = {XK_CAT(prob_f32, XK_V), XK_CAT(prob_f64, XK_V)},
    .binary = {XK_CAT(binary_f32, XK_V), XK_CAT(binary_f64, XK_V)},
    .softplus = {XK_CAT(softplus_f32, XK_V), XK_CAT(softplus_f64, XK_V)},
    .stats = {XK_CAT(stats_f32, XK_V), XK_CAT(stats_f64, XK_V)},
    .kl = {XK_CAT(kl_f32, XK_V), XK_CAT(kl_f64, XK_V)},
    .state_merge = XK_CAT(state_merge_f64, XK_V),
    .state_finish = XK_CAT(state_finish_f64, XK_V),
    .math_array = XK_CAT(math_array, XK_V),
    .id_range = XK_CAT(id_range, XK_V),
};
#endif
