/* xvec.h -- eight-lane double vectors for the hot loops of body.h, and exp on them.
 *
 * Written with GCC/Clang vector extensions: the same source compiles to one zmm register per
 * vector for AVX-512, two ymm for AVX2 (as C++, with the vector types of xvec_pieces.h and the
 * XV_AVX2 branches below) and four xmm for SSE2, always with the same IEEE operations in the same order (-ffp-contract=off), so
 * every variant gives the same bits. The only fused multiply-adds are the ones written out
 * (XV(fma)): rounded once in the variants for CPUs with the FMA instruction (AVX2, AVX-512), in
 * two roundings in the x86-64 baseline (CPUs without it, whose results may therefore differ in
 * the last place, within the same bounds).
 * What the auto-vectorizer cannot find by itself is written here explicitly:
 *   - the table lookups of exp: with AVX-512 each 32-entry table lives in four registers and a
 *     lookup is two two-source permutes and a blend; with AVX2 a double table's lookup is four
 *     scalar loads (dlookup_half); the float exp's table has 8 entries, one register, and a
 *     lookup is one permute (slookup8). No gathers: slow on many CPUs (16 cycles for eight
 *     floats on a Zen 3, where the float rows' exp spent half its time in them), and GCC turns
 *     `tab[j]` into eight scalar loads and inserts;
 *   - a cheap test that no lane needs the careful path, so that the common case runs without it.
 *
 * xv_exp(x) gives xm_exp(x) bit for bit: lanes whose result is a normal number go through the
 * short path (round(T + T p) 2^e, see xmath.h), and a vector with any lane below -707 (where the
 * result may be subnormal) is finished lane by lane with xm_exp itself, except that lanes below
 * -746, whose result is 0 (masked logits, -inf), are set to 0 without it.
 *
 * Included by instance.h once per SIMD variant, after xmath.h; every function name carries the
 * variant's suffix through XV().
 */
#ifndef XVEC_TYPES_H
#define XVEC_TYPES_H
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define XV_X86_INTRIN 1
#endif

typedef float xv_f __attribute__((vector_size(32)));
#define XV_LANES 8
#define XV_SLANES 16
#if defined(__cplusplus) && defined(__AVX2__) && !defined(__AVX512F__)
#define XV_PIECES 1
#include "xvec_pieces.h"
#else
#define XV_PIECES 0
typedef double xv_d __attribute__((vector_size(64)));
typedef int64_t xv_i __attribute__((vector_size(64)));
typedef uint64_t xv_u __attribute__((vector_size(64)));
/* sixteen float lanes (the float32 rows), with their integer lanes */
typedef float xv_s __attribute__((vector_size(64)));
typedef int32_t xv_si __attribute__((vector_size(64)));
typedef uint32_t xv_su __attribute__((vector_size(64)));
/* GCC's conversions and shuffles of vectors (xvec_pieces.h has them for its types) */
#define XV_CONVERT(v, T) __builtin_convertvector(v, T)
#define XV_SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#endif
/* below this, exp of a float row entry is not a normal float: such entries take the double exp */
#define XV_EXPF_MIN -86.0f
#endif

#define XV_INLINE static inline __attribute__((always_inline))

/* whether the vectors live in registers: one zmm each with AVX-512, two ymm each in the AVX2
 * variant compiled as C++ (xvec_pieces.h); in memory between operations elsewhere (the
 * baseline, and the AVX2 variant compiled as C: its kernels take 3-4x the time) */
#if defined(__AVX512F__) || XV_PIECES
#define XV_IN_REGISTERS 1
#else
#define XV_IN_REGISTERS 0
#endif

/* AVX2 (x86-64-v3, without AVX-512): a vector is two 256-bit halves. Compiled as C++ (the
 * build's way, kernels_avx2.cpp), the vectors are xvec_pieces.h's structs of two 32-byte GCC
 * vectors, kept in registers, and their operators work on the halves. Compiled as C (where there
 * is no C++ compiler), they are 64-byte GCC vectors: GCC splits their arithmetic into halves by
 * itself, but keeps the vectors in memory (no register holds 64 bytes; the C variant runs at
 * 3-4x the C++ one's time) and turns comparisons into one scalar operation per lane, so the
 * kernels compare vectors through XV_LT and the like, which C compiles on the halves. In both,
 * what GCC would do lane by lane on any vector type (selects, multiply-adds, table lookups,
 * conversions, lane masks) is written below with the intrinsics on the halves: GCC 12 turns
 * each of those into one scalar operation per lane (-Wvector-operation-performance lists them),
 * which made the AVX2 variant 13-25x slower than the AVX-512 one. */
#if defined(XV_X86_INTRIN) && defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#define XV_AVX2 1
#ifndef __cplusplus
/* a vector as its two halves, and back (xvec_pieces.h has them for C++) */
#define XV_HALVES(H, v) memcpy((H), &(v), 64)
#define XV_JOIN(T, H)                                                                      \
    __extension__({                                                                        \
        T j_;                                                                              \
        memcpy(&j_, (H), 64);                                                              \
        j_;                                                                                \
    })
#endif
/* f (an intrinsic on halves H) on each half of a and b (and c), the results' halves joined as
 * the vector type T; XV_HALVES_HILO the same for f(a, b, &lo) of two results (*lo's halves
 * joined into lo) */
#define XV_ON_HALVES2(T, H, f, a, b)                                                       \
    __extension__({                                                                        \
        H a_[2], b_[2];                                                                    \
        XV_HALVES(a_, a), XV_HALVES(b_, b);                                                \
        const H r_[2] = {f(a_[0], b_[0]), f(a_[1], b_[1])};                                \
        XV_JOIN(T, r_);                                                                    \
    })
#define XV_ON_HALVES3(T, H, f, a, b, c)                                                    \
    __extension__({                                                                        \
        H a_[2], b_[2], c_[2];                                                             \
        XV_HALVES(a_, a), XV_HALVES(b_, b), XV_HALVES(c_, c);                              \
        const H r_[2] = {f(a_[0], b_[0], c_[0]), f(a_[1], b_[1], c_[1])};                  \
        XV_JOIN(T, r_);                                                                    \
    })
#define XV_HALVES_HILO(T, H, f, a, b, lo)                                                  \
    __extension__({                                                                        \
        H a_[2], b_[2], l_[2];                                                             \
        XV_HALVES(a_, a), XV_HALVES(b_, b);                                                \
        const H r_[2] = {f(a_[0], b_[0], &l_[0]), f(a_[1], b_[1], &l_[1])};                \
        *(lo) = XV_JOIN(T, l_);                                                            \
        XV_JOIN(T, r_);                                                                    \
    })
#else
#define XV_AVX2 0
#endif

/* Comparisons of vectors, a OP b lane by lane (all ones where true): XV_LT(a, b) is a < b, and
 * so on, for every vector type (the lanes' type is a's; b may be a vector or a scalar). With
 * AVX2, on the halves (see above); else the operators themselves. */
#if XV_AVX2 && !defined(__cplusplus)
enum { XV_OP_LT, XV_OP_LE, XV_OP_GT, XV_OP_GE, XV_OP_EQ, XV_OP_NE };
#define XV_CMP(a, b, op)                                                                    \
    _Generic((a),                                                                           \
        xv_d: XV(cmp_d),                                                                    \
        xv_s: XV(cmp_s),                                                                    \
        xv_i: XV(cmp_i),                                                                    \
        xv_u: XV(cmp_u),                                                                    \
        xv_si: XV(cmp_si),                                                                  \
        xv_su: XV(cmp_su))((a), (__typeof__(a)){0} + (b), (op))
#define XV_LT(a, b) XV_CMP(a, b, XV_OP_LT)
#define XV_LE(a, b) XV_CMP(a, b, XV_OP_LE)
#define XV_GT(a, b) XV_CMP(a, b, XV_OP_GT)
#define XV_GE(a, b) XV_CMP(a, b, XV_OP_GE)
#define XV_EQ(a, b) XV_CMP(a, b, XV_OP_EQ)
#define XV_NE(a, b) XV_CMP(a, b, XV_OP_NE)
#else
#define XV_LT(a, b) ((a) < (b))
#define XV_LE(a, b) ((a) <= (b))
#define XV_GT(a, b) ((a) > (b))
#define XV_GE(a, b) ((a) >= (b))
#define XV_EQ(a, b) ((a) == (b))
#define XV_NE(a, b) ((a) != (b))
#endif

XV_INLINE xv_d XV(splat)(double v)
{
#if XV_PIECES
    return xv_d::splat(v);
#endif
    return (xv_d){v, v, v, v, v, v, v, v};
}

#if XV_AVX2 && !defined(__cplusplus)
/* the comparisons of XV_CMP on the halves: GCC's operators on 32-byte vectors, which AVX2
 * compares natively (IEEE's comparisons for floating lanes, != true where a lane is NaN;
 * unsigned lanes as unsigned), the result of each half as the operator gives it */
#define XV_CMP_HALVES(NAME, VT, RT, HT, HR)                                                 \
    XV_INLINE RT XV(NAME)(VT a, VT b, int op)                                               \
    {                                                                                       \
        HT ah[2], bh[2];                                                                    \
        HR r[2];                                                                            \
        XV_HALVES(ah, a), XV_HALVES(bh, b);                                                 \
        for (int h = 0; h < 2; h++) {                                                       \
            switch (op) {                                                                   \
            case XV_OP_LT: r[h] = ah[h] < bh[h]; break;                                     \
            case XV_OP_LE: r[h] = ah[h] <= bh[h]; break;                                    \
            case XV_OP_GT: r[h] = ah[h] > bh[h]; break;                                     \
            case XV_OP_GE: r[h] = ah[h] >= bh[h]; break;                                    \
            case XV_OP_EQ: r[h] = ah[h] == bh[h]; break;                                    \
            default: r[h] = ah[h] != bh[h]; break;                                          \
            }                                                                               \
        }                                                                                   \
        return XV_JOIN(RT, r);                                                              \
    }
typedef double xv_d4 __attribute__((vector_size(32)));
typedef float xv_s8 __attribute__((vector_size(32)));
typedef int64_t xv_i4 __attribute__((vector_size(32)));
typedef uint64_t xv_u4 __attribute__((vector_size(32)));
typedef int32_t xv_si8 __attribute__((vector_size(32)));
typedef uint32_t xv_su8 __attribute__((vector_size(32)));
XV_CMP_HALVES(cmp_d, xv_d, xv_i, xv_d4, xv_i4)
XV_CMP_HALVES(cmp_s, xv_s, xv_si, xv_s8, xv_si8)
XV_CMP_HALVES(cmp_i, xv_i, xv_i, xv_i4, xv_i4)
XV_CMP_HALVES(cmp_u, xv_u, xv_i, xv_u4, xv_i4)
XV_CMP_HALVES(cmp_si, xv_si, xv_si, xv_si8, xv_si8)
XV_CMP_HALVES(cmp_su, xv_su, xv_si, xv_su8, xv_si8)
#undef XV_CMP_HALVES
#endif

XV_INLINE xv_d XV(load)(const double *p)
{
#if XV_PIECES
    return xv_d::load(p);
#endif
    xv_d v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The first n (0 <= n <= 8) doubles at p, the other lanes `pad` (nothing read past p + n). */
XV_INLINE xv_d XV(load_pad)(const double *p, int n, double pad)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_d)_mm512_mask_loadu_pd(_mm512_set1_pd(pad), (__mmask8)((1u << n) - 1), p);
#else
    double v[8];
    for (int l = 0; l < 8; l++) v[l] = l < n ? p[l] : pad;
    return XV(load)(v);
#endif
}

XV_INLINE xv_d XV(load_f)(const float *p)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    /* one conversion (GCC makes the generic one below two halves, an extract and an insert) */
    return (xv_d)_mm512_cvtps_pd(_mm256_loadu_ps(p));
#elif XV_AVX2
    const __m256d h[2] = {_mm256_cvtps_pd(_mm_loadu_ps(p)), _mm256_cvtps_pd(_mm_loadu_ps(p + 4))};
    return XV_JOIN(xv_d, h);
#endif
    xv_f v;
    memcpy(&v, p, sizeof v);
    return XV_CONVERT(v, xv_d);
}

XV_INLINE void XV(store)(double *p, xv_d v)
{
#if XV_PIECES
    return v.store(p);
#endif
    memcpy(p, &v, sizeof v);
}

XV_INLINE void XV(store_f)(float *p, xv_d v)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    _mm256_storeu_ps(p, _mm512_cvtpd_ps((__m512d)v));
    return;
#elif XV_AVX2
    __m256d h[2];
    XV_HALVES(h, v);
    _mm_storeu_ps(p, _mm256_cvtpd_ps(h[0]));
    _mm_storeu_ps(p + 4, _mm256_cvtpd_ps(h[1]));
    return;
#endif
    xv_f f = XV_CONVERT(v, xv_f);
    memcpy(p, &f, sizeof f);
}

/* m ? a : b lane by lane, m all ones or all zeros (the result of a vector comparison). With
 * AVX-512, as bit operations: GCC keeps m in a mask register and makes them a masked xor and an
 * xor, where a blend through _mm512_movepi64_mask took the comparison's mask to a vector and
 * back first (two more instructions: 6-17 % of the kernels' time, the same bits). */
XV_INLINE xv_d XV(sel)(xv_i m, xv_d a, xv_d b)
{
#if XV_AVX2
    return XV_ON_HALVES3(xv_d, __m256d, _mm256_blendv_pd, b, a, m);
#else
    return (xv_d)((xv_i)b ^ (((xv_i)a ^ (xv_i)b) & m));
#endif
}

/* whether any lane of m is set */
XV_INLINE int XV(any)(xv_i m)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512DQ__)
    return _mm512_movepi64_mask((__m512i)m) != 0;
#elif XV_AVX2
    __m256d h[2];
    XV_HALVES(h, m);
    return _mm256_movemask_pd(_mm256_or_pd(h[0], h[1])) != 0;
#else
    int64_t r = 0;
    for (int j = 0; j < XV_LANES; j++) r |= m[j];
    return r != 0;
#endif
}

/* the lanes of m as the bits of a number, lane l in bit l */
XV_INLINE uint32_t XV(mask)(xv_i m)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512DQ__)
    return (uint32_t)_mm512_movepi64_mask((__m512i)m);
#elif XV_AVX2
    __m256d h[2];
    XV_HALVES(h, m);
    return (uint32_t)_mm256_movemask_pd(h[0]) | (uint32_t)_mm256_movemask_pd(h[1]) << 4;
#else
    uint32_t r = 0;
    for (int j = 0; j < XV_LANES; j++) r |= (uint32_t)(m[j] & 1) << j;
    return r;
#endif
}

/* a b + c lane by lane, as xm__fma: rounded once (IEEE fusedMultiplyAdd) where the variant's
 * CPU has the FMA instruction (XM_FUSED), the same bits in every such variant; else in two
 * roundings */
XV_INLINE xv_d XV(fma)(xv_d a, xv_d b, xv_d c)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_d)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
#elif XV_AVX2
    return XV_ON_HALVES3(xv_d, __m256d, _mm256_fmadd_pd, a, b, c);
#elif XM_FUSED
    xv_d r;
    for (int l = 0; l < XV_LANES; l++) r[l] = __builtin_fma(a[l], b[l], c[l]);
    return r;
#else
    return a * b + c;
#endif
}

/* a < b ? a : b lane by lane (b where either is NaN): vminpd with AVX-512 */
XV_INLINE xv_d XV(min)(xv_d a, xv_d b)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_d)_mm512_min_pd((__m512d)a, (__m512d)b);
#elif XV_AVX2
    return XV_ON_HALVES2(xv_d, __m256d, _mm256_min_pd, a, b);
#else
    return XV(sel)(XV_LT(a, b), a, b);
#endif
}

/* a > b ? a : b lane by lane (b where either is NaN): vmaxpd with AVX-512 */
XV_INLINE xv_d XV(max)(xv_d a, xv_d b)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_d)_mm512_max_pd((__m512d)a, (__m512d)b);
#elif XV_AVX2
    return XV_ON_HALVES2(xv_d, __m256d, _mm256_max_pd, a, b);
#else
    return XV(sel)(XV_GT(a, b), a, b);
#endif
}

/* The greatest lane of v, which holds no NaN: a tree of maxima (exact, as any order is). */
XV_INLINE double XV(max_lanes)(xv_d v)
{
    v = XV(max)(v, XV_SHUFFLE(v, v, 4, 5, 6, 7, 0, 1, 2, 3));
    v = XV(max)(v, XV_SHUFFLE(v, v, 2, 3, 0, 1, 6, 7, 4, 5));
    v = XV(max)(v, XV_SHUFFLE(v, v, 1, 0, 3, 2, 5, 4, 7, 6));
    return v[0];
}

#if XV_AVX2
/* tab[j] in four double lanes (any 64-bit indices into the table, or array): four scalar
 * loads. Not a gather: a four-lane gather of doubles took about 16 cycles on a Zen 3 (as slow
 * as eight floats'), and permutes cannot hold a 32-entry table of doubles (eight registers). */
XV_INLINE __m256d XV(dlookup_half)(const double *tab, __m256i j)
{
    const __m128i jl = _mm256_castsi256_si128(j), jh = _mm256_extracti128_si256(j, 1);
    const __m128d lo = _mm_loadh_pd(_mm_load_sd(tab + _mm_cvtsi128_si64(jl)),
                                    tab + _mm_extract_epi64(jl, 1));
    const __m128d hi = _mm_loadh_pd(_mm_load_sd(tab + _mm_cvtsi128_si64(jh)),
                                    tab + _mm_extract_epi64(jh, 1));
    return _mm256_insertf128_pd(_mm256_castpd128_pd256(lo), hi, 1);
}
/* the same for a float table, widened */
XV_INLINE __m256d XV(flookup_half)(const float *tab, __m256i j)
{
    const __m128i jl = _mm256_castsi256_si128(j), jh = _mm256_extracti128_si256(j, 1);
    const __m128 v = _mm_setr_ps(tab[_mm_cvtsi128_si64(jl)], tab[_mm_extract_epi64(jl, 1)],
                                 tab[_mm_cvtsi128_si64(jh)], tab[_mm_extract_epi64(jh, 1)]);
    return _mm256_cvtps_pd(v);
}
#define XV_DLOOKUP(tab, j)                                                                  \
    __extension__({                                                                        \
        const xv_i j_ = (j);                                                               \
        __m256i jh_[2];                                                                    \
        XV_HALVES(jh_, j_);                                                                \
        const __m256d h_[2] = {XV(dlookup_half)(tab, jh_[0]),                             \
                               XV(dlookup_half)(tab, jh_[1])};                            \
        XV_JOIN(xv_d, h_);                                                                 \
    })
#endif

/* tab[j] lane by lane, for a 32-entry table and 0 <= j < 32 */
XV_INLINE xv_d XV(lookup32)(const double *tab, xv_i j)
{
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
    xv_d t0 = XV(load)(tab), t1 = XV(load)(tab + 8), t2 = XV(load)(tab + 16),
         t3 = XV(load)(tab + 24);
    xv_i k = j & 15;
    xv_d lo = __builtin_shuffle(t0, t1, k), hi = __builtin_shuffle(t2, t3, k);
    return XV(sel)(XV_NE(j & 16, 0), hi, lo);
#elif XV_AVX2
    return XV_DLOOKUP(tab, j);
#else
    xv_d v;
    for (int l = 0; l < XV_LANES; l++) v[l] = tab[j[l]];
    return v;
#endif
}

/* tab[j & 7] and tab[j & 15] lane by lane, for tables of 8 and 16 entries (with AVX-512 in one
 * and two registers: one permute each) */
XV_INLINE xv_d XV(lookup8)(const double *tab, xv_i j)
{
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
    return __builtin_shuffle(XV(load)(tab), j & 7);
#elif XV_AVX2
    return XV_DLOOKUP(tab, j & 7);
#else
    xv_d v;
    for (int l = 0; l < XV_LANES; l++) v[l] = tab[j[l] & 7];
    return v;
#endif
}

XV_INLINE xv_d XV(lookup16)(const double *tab, xv_i j)
{
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
    return __builtin_shuffle(XV(load)(tab), XV(load)(tab + 8), j & 15);
#elif XV_AVX2
    return XV_DLOOKUP(tab, j & 15);
#else
    xv_d v;
    for (int l = 0; l < XV_LANES; l++) v[l] = tab[j[l] & 15];
    return v;
#endif
}

/* base[idx] lane by lane (any 64-bit indices into the array), for the per-row values a tile
 * reads at each row's class id: one gather instruction with AVX-512, scalar loads with AVX2
 * (dlookup_half) */
XV_INLINE xv_d XV(gather)(const double *base, xv_i idx)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_d)_mm512_i64gather_pd((__m512i)idx, base, 8);
#elif XV_AVX2
    return XV_DLOOKUP(base, idx);
#else
    xv_d v;
    for (int l = 0; l < XV_LANES; l++) v[l] = base[idx[l]];
    return v;
#endif
}

XV_INLINE xv_d XV(gather_f)(const float *base, xv_i idx)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return XV_CONVERT((xv_f)_mm512_i64gather_ps((__m512i)idx, base, 4), xv_d);
#elif XV_AVX2
    __m256i ih[2];
    XV_HALVES(ih, idx);
    const __m256d h[2] = {XV(flookup_half)(base, ih[0]), XV(flookup_half)(base, ih[1])};
    return XV_JOIN(xv_d, h);
#else
    xv_d v;
    for (int l = 0; l < XV_LANES; l++) v[l] = base[idx[l]];
    return v;
#endif
}

#if XV_AVX2
/* XV(exp)'s short path on one 256-bit half with the intrinsics, the same operations in the same
 * order (see XV_AVX2) */
XV_INLINE __m256d XV(exp_half)(__m256d x)
{
    const __m256d shift = _mm256_set1_pd(0x1.8p52);
    __m256d kd = _mm256_fmadd_pd(x, _mm256_set1_pd(XM_EXP_INVLN2N), shift);
    const __m256i ki = _mm256_castpd_si256(kd);
    kd = _mm256_sub_pd(kd, shift);
    const __m256d r = _mm256_fmadd_pd(kd, _mm256_set1_pd(-XM_EXP_LN2LON),
                                      _mm256_fmadd_pd(kd, _mm256_set1_pd(-XM_EXP_LN2HIN), x));
    const __m256i j = _mm256_and_si256(ki, _mm256_set1_epi64x(31));
    const __m256d T = XV(dlookup_half)(XM_EXP_HI, j);
    const __m256d tail = XV(dlookup_half)(XM_EXP_TAIL, j);
    const __m256d r2 = _mm256_mul_pd(r, r);
    const __m256d p = XM_EXP_P(r, r2, tail, _mm256_fmadd_pd, _mm256_set1_pd);
    const __m256d v = _mm256_fmadd_pd(T, p, T);
    const __m256i eb = _mm256_sub_epi64(
        _mm256_srli_epi64(ki, 5),
        _mm256_set1_epi64x((int64_t)((UINT64_C(0x4338000000000000) >> 5) - 1023)));
    return _mm256_mul_pd(v, _mm256_castsi256_pd(_mm256_slli_epi64(eb, 52)));
}
#endif

/* exp(x) for lanes in [-707, 709] (XV(exp)'s short path; other lanes hold garbage but NaN
   passes through): for callers that know every lane is in range. */
XV_INLINE xv_d XV(exp_core)(xv_d x)
{
#if XV_AVX2
    __m256d xh[2], yh[2];
    XV_HALVES(xh, x);
    yh[0] = XV(exp_half)(xh[0]);
    yh[1] = XV(exp_half)(xh[1]);
    xv_d y = XV_JOIN(xv_d, yh);
#else
    const xv_d shift = XV(splat)(0x1.8p52);
    xv_d kd = XV(fma)(x, XV(splat)(XM_EXP_INVLN2N), shift);
    xv_u ki = (xv_u)kd;
    kd = kd - shift;
    xv_d r = XV(fma)(kd, XV(splat)(-XM_EXP_LN2LON), XV(fma)(kd, XV(splat)(-XM_EXP_LN2HIN), x));
    xv_i j = (xv_i)(ki & 31);
    xv_d T = XV(lookup32)(XM_EXP_HI, j);
    xv_d tail = XV(lookup32)(XM_EXP_TAIL, j);
    xv_d r2 = r * r;
    xv_d p = XM_EXP_P(r, r2, tail, XV(fma), XV(splat));
    xv_d v = XV(fma)(T, p, T);
    /* 2^e, e = floor(k / N), as bits (e + 1023) << 52: right for -1022 <= e <= 1023 */
    xv_u eb = (ki >> 5) - ((UINT64_C(0x4338000000000000) >> 5) - 1023);
    xv_d y = v * (xv_d)(eb << 52);
#endif
    return y;
}

/* exp(x) lane by lane, equal to xm_exp(x) in every lane (see above): exp_core, then the lanes
   outside [-707, 709] again (NaN passes through exp_core). */
XV_INLINE xv_d XV(exp)(xv_d x)
{
    xv_d y = XV(exp_core)(x);
    if (__builtin_expect(XV(any)(XV_LT(x, -707.0) | XV_GT(x, 709.0)), 0)) {
        y = XV(sel)(XV_LT(x, -746.0), XV(splat)(0.0), y);
        for (int l = 0; l < XV_LANES; l++)
            if ((x[l] < -707.0 && x[l] >= -746.0) || x[l] > 709.0) y[l] = xm_exp(x[l]);
    }
    return y;
}

/* A log's result y for x = bits ix0 in (0, inf), else its special value: -inf at +-0, NaN
   below 0 and for NaN, inf at inf (bit masks, as xm__log_kernel's end). */
XV_INLINE xv_d XV(log_specials)(xv_u ix0, xv_d y)
{
    xv_u ok = (xv_u)XV_LT(ix0 - 1, UINT64_C(0x7fefffffffffffff));
    xv_u mzero = (xv_u)XV_EQ(ix0 << 1, 0);
    xv_u mneg = (xv_u)XV_LT((xv_i)ix0, 0);
    xv_u sbits = ((xv_u)XV(splat)(-INFINITY) & mzero) |
                 (~mzero & (((xv_u)XV(splat)(NAN) & mneg) | (ix0 & ~mneg)));
    return (xv_d)(((xv_u)y & ok) | (sbits & ~ok));
}

/* log(x) + corr lane by lane, equal to xm__log_kernel(x, corr) in every lane (the same
   operations in the same order, the table lookups done as in XV(exp)). */
XV_INLINE xv_d XV(log_kernel)(xv_d x, xv_d corr)
{
    const xv_d two52 = XV(splat)(0x1p52);
    const xv_u ix0 = (xv_u)x;
    const xv_u one_b = (xv_u)XV(splat)(1.0), two52_b = (xv_u)two52;
    xv_u msub = (xv_u)XV_LT(ix0, UINT64_C(0x0010000000000000));
    xv_u scale = one_b ^ ((one_b ^ two52_b) & msub);
    xv_u ix = (xv_u)(x * (xv_d)scale);
    xv_u tmp = ix + (((uint64_t)1 << 63) - XM_LOG_OFF);
    xv_i i = (xv_i)((tmp >> XM_LOG_SHIFT) & 31);
    xv_u kb = (tmp >> 52) - (msub & 52);
    xv_d kd = ((xv_d)(two52_b | kb) - two52) - 2048.0;
    xv_u iz = (tmp & (((uint64_t)1 << 52) - 1)) + XM_LOG_OFF;
    xv_d z = (xv_d)iz;
    xv_d zh = (xv_d)(iz & ~(uint64_t)0x3ff);
    xv_d zl = z - zh;

    xv_d invc = XV(lookup32)(XM_LOG_INVC, i);
    xv_d logc_hi = XV(lookup32)(XM_LOG_LOGC_HI, i);
    xv_d logc_lo = XV(lookup32)(XM_LOG_LOGC_LO, i);
    xv_d a = zh * invc - 1.0;
    xv_d b = zl * invc;
    xv_d rh = a + b;
    xv_d bv = rh - a;
    xv_d rl = (a - (rh - bv)) + (b - bv);

    xv_d w = XV(fma)(kd, XV(splat)(XM_LOG_LN2HI), logc_hi);
    xv_d hi = w + rh;
    xv_d rv = hi - w;
    xv_d t = (w - (hi - rv)) + (rh - rv);

    xv_d r2 = rh * rh;
    xv_d q = XM_LOG_Q(rh, r2, XV(fma), XV(splat));
    xv_d lo = XV(fma)(r2, q, ((t + rl) + XV(fma)(kd, XV(splat)(XM_LOG_LN2LO), logc_lo)) + corr);
    xv_d y = hi + lo;

    return XV(log_specials)(ix0, y);
}

/* log1p(u) lane by lane, equal to xm_log1p(u) in every lane. */
XV_INLINE xv_d XV(log1p)(xv_d u)
{
    xv_d t = u + 1.0;
    xv_d uv = t - 1.0;
    xv_d e = (1.0 - (t - uv)) + (u - uv);
    xv_d yk = XV(log_kernel)(t, e / t);
    xv_d u2 = u * u;
    xv_d ys = u + u2 * (-0.5 + u * (0x1.5555555555555p-2 - 0.25 * u));
    xv_i msmall = XV_LT((xv_u)u << 1, (uint64_t)0x3f00000000000000 << 1);
    return XV(sel)(msmall, ys, yk);
}

/* expm1(x) lane by lane, equal to xm_expm1(x) in every lane (the same operations; the lanes
   beyond 40 take XV(exp), which only runs when there are such lanes). */
XV_INLINE xv_d XV(expm1)(xv_d x)
{
    const xv_d shift = XV(splat)(0x1.8p52);
    const xv_i mhi = XV_GT(x, 40.0), mlo = XV_LT(x, -40.0);
    const xv_d xc = XV(sel)(mhi, XV(splat)(40.0), XV(sel)(mlo, XV(splat)(-40.0), x));
    xv_d kd = XV(fma)(xc, XV(splat)(XM_EXP_INVLN2N), shift);
    xv_u ki = (xv_u)kd;
    kd = kd - shift;
    xv_d r = XV(fma)(kd, XV(splat)(-XM_EXP_LN2LON), XV(fma)(kd, XV(splat)(-XM_EXP_LN2HIN), xc));
    xv_i j = (xv_i)(ki & 31);
    xv_u eb = ((ki >> 5) - ((UINT64_C(0x4338000000000000) >> 5) - 2048)) - 2048 + 1023;
    xv_d sc = (xv_d)((eb & 0x7ff) << 52);
    xv_d tab = XV(lookup32)(XM_EXP_HI, j);
    xv_d r2 = r * r;
    xv_d p = XM_EXP_P(r, r2, XV(lookup32)(XM_EXP_TAIL, j), XV(fma), XV(splat));
    xv_d hi = tab * sc;
    xv_d lo = (tab * p) * sc;
    xv_d s = hi - 1.0;
    xv_d bv = s - hi;
    xv_d err = (hi - (s - bv)) + (-1.0 - bv);
    xv_d y = s + (err + lo);
    if (__builtin_expect(XV(any)(mhi), 0)) y = XV(sel)(mhi, XV(exp)(x), y);
    return XV(sel)(mlo, XV(splat)(-1.0), y);
}

/* ------------------------------------------------------------------ short forms for float results
 *
 * exp and log1p in double with shorter polynomials and no low-order parts, for values that are
 * rounded to float32 in the end (the float32 binary loss, softplus and the two-class rows): a
 * relative error below 2^-32 adds less than 2^-8 ulp of float to the final rounding, so the
 * result stays within 0.51 ulp, at about half the work of the full-precision forms above.
 */

/* The short forms' exp (exp_short, log1p_exp_finite): x = k ln2/8 + r with k = round(8 x / ln2)
   (xmath_tables.h's XM_SPX_*: r by one multiply-add with ln2/8 rounded, its error below 2^-47
   for |k| < 2^13), exp(r) by a degree-5 polynomial (relative error 2^-39.6) times 2^(j/8) (j = k
   mod 8, one register of table): returns that product, 2^(k/8 - floor(k/8)) exp(r), and in *ki
   the bits of 0x1.8p52 + k, from which the callers scale it by 2^floor(k/8). NEG: of x = -a
   (the same operations, the negation inside the multiply-adds: 0.97x the time of the binary
   loss against a negation of its own). The reduction, the polynomial (Horner) and T + T p are
   fused multiply-adds (XV(fma): one rounding each where the variant fuses). */
XV_INLINE xv_d XV(exp8_core)(xv_d a, const int NEG, xv_u *ki)
{
    const xv_d shift = XV(splat)(0x1.8p52);
    xv_d kd = XV(fma)(a, XV(splat)(NEG ? -XM_SPX_INVLN2N : XM_SPX_INVLN2N), shift);
    *ki = (xv_u)kd;
    kd = kd - shift;
    const xv_d r = XV(fma)(kd, XV(splat)(-XM_SPX_LN2N), NEG ? -a : a);
    const xv_d T = XV(lookup8)(XM_SPX_EXP, (xv_i)*ki);
    xv_d q = XV(fma)(r, XV(splat)(XM_SPX_C5), XV(splat)(XM_SPX_C4));
    q = XV(fma)(r, q, XV(splat)(XM_SPX_C3));
    q = XV(fma)(r, q, XV(splat)(XM_SPX_C2));
    const xv_d p = XV(fma)(r * r, q, r);
    return XV(fma)(T, p, T);
}

/* exp(x) with relative error < 2^-39 (exp8_core, scaled by a product with 2^floor(k/8)).
   Lanes outside [-707, 709] (subnormal, zero, inf or NaN results) take XV(exp)'s value, lane
   by lane: a lane's result never depends on the others (the dead lanes of a tile's last rows,
   say). With one table register instead of XV(exp)'s 32-entry table, the float KL divergence,
   whose two exps per entry are these, took 0.87x the time at 1,000 classes. */
XV_INLINE xv_d XV(exp_short)(xv_d x)
{
    const xv_i wide = ~(XV_GE(x, -707.0) & XV_LE(x, 709.0));
    xv_u ki;
    const xv_d v = XV(exp8_core)(x, 0, &ki);
    xv_u eb = (ki >> 3) - ((UINT64_C(0x4338000000000000) >> 3) - 1023);
    const xv_d y = v * (xv_d)(eb << 52);
    if (__builtin_expect(XV(any)(wide), 0)) return XV(sel)(wide, XV(exp)(x), y);
    return y;
}

/* expm1(x) with relative error < 2^-40: XV(expm1)'s reduction and table without its tail
   (2^-53 of exp, less than 2^-46 of expm1 where the table is used, |x| > ln2/64), exp(r) - 1
   by the degree-5 Taylor polynomial (at k = 0 the result itself: r^6/720 relative error r^5/720
   < 2^-42). Lanes outside [-40, 40] (or NaN) take XV(expm1)'s value, lane by lane (as
   exp_short). The reduction and the polynomial are fused multiply-adds, as in exp_short. */
XV_INLINE xv_d XV(expm1_short)(xv_d x)
{
    const xv_i wide = ~(XV_GE(x, -40.0) & XV_LE(x, 40.0));
    const xv_d shift = XV(splat)(0x1.8p52);
    xv_d kd = XV(fma)(x, XV(splat)(XM_EXP_INVLN2N), shift);
    xv_u ki = (xv_u)kd;
    kd = kd - shift;
    xv_d r = XV(fma)(kd, XV(splat)(-XM_EXP_LN2LON), XV(fma)(kd, XV(splat)(-XM_EXP_LN2HIN), x));
    xv_u eb = ((ki >> 5) - ((UINT64_C(0x4338000000000000) >> 5) - 2048)) - 2048 + 1023;
    xv_d sc = (xv_d)((eb & 0x7ff) << 52);
    xv_d tab = XV(lookup32)(XM_EXP_HI, (xv_i)(ki & 31));
    xv_d r2 = r * r;
    xv_d q = XV(fma)(r, XV(splat)(1.0 / 120.0), XV(splat)(1.0 / 24.0));
    q = XV(fma)(r, q, XV(splat)(1.0 / 6.0));
    q = XV(fma)(r, q, XV(splat)(0.5));
    xv_d p = XV(fma)(r2, q, r);
    xv_d hi = tab * sc;
    xv_d lo = (tab * p) * sc;
    xv_d s = hi - 1.0;
    xv_d bv = s - hi;
    xv_d err = (hi - (s - bv)) + (-1.0 - bv);
    const xv_d y = s + (err + lo);
    if (__builtin_expect(XV(any)(wide), 0)) return XV(sel)(wide, XV(expm1)(x), y);
    return y;
}

/* log(x) with relative error < 2^-32 for a normal x > 0 whose exponent is that of a float's
   (|k| <= 150 below; no special values): XV(log_kernel)'s table, x = 2^k z, z invc - 1 = r
   rounded (|r| <= 1/64; exact around 1, where invc = 1, so that the error stays relative
   there) and log1p(r) by its degree-5 Taylor polynomial (r^6/6 < 2^-38.6, less than 2^-32 of
   log x, which is at least 2^-6.6 outside the interval of 1); k ln2 with ln2 rounded (2^-53 of
   the result). The short forms below. */
XV_INLINE xv_d XV(log_short_table)(xv_d x)
{
    const xv_u tmp = (xv_u)x - XM_LOG_OFF;
    const xv_i i = (xv_i)((tmp >> XM_LOG_SHIFT) & 31);
    /* k, tmp's top 12 bits as a signed number, as a double: (0x1.8p52 + k) - 0x1.8p52 from
       the bits of 0x1.8p52 + k (exact), as AVX2 has no conversion of int64 lanes (GCC makes it
       one scalar conversion per lane) nor an arithmetic shift of them */
    const xv_u ku = (((xv_u)tmp >> 52) ^ 0x800) + (UINT64_C(0x4338000000000000) - 0x800);
    const xv_d kd = (xv_d)ku - 0x1.8p52;
    const xv_d z = (xv_d)((tmp & ((UINT64_C(1) << 52) - 1)) + XM_LOG_OFF);
    const xv_d r = z * XV(lookup32)(XM_LOG_INVC, i) - 1.0;
    const xv_d r2 = r * r;
    const xv_d q = r + r2 * ((-0.5 + r * (1.0 / 3.0)) + r2 * (-0.25 + r * 0.2));
    return (kd * 0x1.62e42fefa39efp-1 + XV(lookup32)(XM_LOG_LOGC_HI, i)) +
           (XV(lookup32)(XM_LOG_LOGC_LO, i) + q);
}

/* log1p(u) for 0 <= u < 2^127 (NaN gives NaN) with relative error < 2^-32: u < 2^-10 by the
   series u - u^2/2 + u^3/3 - u^4/4 (error < u^4/5 < 2^-42); above, log(t) of t = 1 + u (whose
   rounding, 2^-53 absolutely in log t, is < 2^-43 of the result there) by log_short_table. */
XV_INLINE xv_d XV(log1p_short)(xv_d u)
{
    const xv_d big = XV(log_short_table)(u + 1.0);
    const xv_d small = u + (u * u) * (-0.5 + u * ((1.0 / 3.0) - 0.25 * u));
    return XV(sel)(XV_LT(u, 0x1p-10), small, big) + (u - u); /* u - u: NaN stays NaN */
}

/* log(x) for values that end as float32, x a float widened to double (normal in double) or a
   special value, with relative error < 2^-32: log_short_table, and XV(log_kernel)'s special
   values (log_specials). */
XV_INLINE xv_d XV(log_short)(xv_d x)
{
    return XV(log_specials)((xv_u)x, XV(log_short_table)(x));
}

/* T = log1p(exp(-a)) and u = exp(-a) (in *u) for a >= 0 (a above 700, inf too, taken as 700:
 * T and u below 2^-1009, which round to 0 in float; NaN gives NaN), with relative errors below
 * 2^-35 (u) and 2^-34 (T): for float32 results (the binary loss, softplus), within 0.501 ulp
 * once rounded.
 * Written for few operations and registers (one table register for the exp, two per table for
 * the log): u by exp8_core of -a (r = -a - k ln2/8 within 2^-47 for a <= 700) and 2^floor(k/8)
 * through the exponent bits (k >= -8080: a normal result); log1p(u) = log w, w = 1 + u in
 * [1, 2], as -log(invc) + log1p(r) with r = u invc + (invc - 1) (invc - 1 exact; one rounding:
 * where invc = 1, in the interval next to w = 1, r is u itself, so that log1p(u) keeps u's
 * relative precision however small u is) and a degree-7 polynomial (2^-35.96, XM_SPL_*).
 * log1p_exp_finite is the function for a that is not NaN. */
XV_INLINE xv_d XV(log1p_exp_finite)(xv_d a, xv_d *u)
{
    const xv_d am = XV(min)(XV(splat)(700.0), a);
    xv_u ki;
    const xv_d v = XV(exp8_core)(am, 1, &ki);
    /* k's low 15 bits are ki's; (k >> 3) << 52 (mod 2^64) added to v's exponent */
    const xv_d e = (xv_d)((xv_u)v + ((ki << 49) & UINT64_C(0xfff0000000000000)));
    *u = e;
    const xv_d w = 1.0 + e;
    const xv_i i = (xv_i)((xv_u)XV(min)(w, XV(splat)(0x1.fffffffffffffp0)) >> 48);
    const xv_d invc = XV(lookup16)(XM_SPL_INVC, i);
    const xv_d rl = XV(fma)(e, invc, invc - 1.0);
    xv_d ql = XV(fma)(rl, XV(splat)(XM_SPL_C7), XV(splat)(XM_SPL_C6));
    ql = XV(fma)(rl, ql, XV(splat)(XM_SPL_C5));
    ql = XV(fma)(rl, ql, XV(splat)(XM_SPL_C4));
    ql = XV(fma)(rl, ql, XV(splat)(XM_SPL_C3));
    ql = XV(fma)(rl, ql, XV(splat)(XM_SPL_C2));
    return XV(lookup16)(XM_SPL_LOGC, i) + XV(fma)(rl * rl, ql, rl);
}

/* log1p_exp_finite with NaN's propagation (a NaN's lanes are garbage there: its exponent
 * arithmetic can make a number of a NaN): adding a - a, 0 elsewhere (exact: both results are
 * at least 0; inf is taken as 700 first) */
XV_INLINE xv_d XV(log1p_exp_short)(xv_d a, xv_d *u)
{
    const xv_d am = XV(min)(XV(splat)(700.0), a); /* vminpd: a where a is NaN */
    const xv_d nan = am - am;                       /* 0, or NaN */
    const xv_d T = XV(log1p_exp_finite)(a, u);
    *u += nan;
    return T + nan;
}

/* ------------------------------------------------------------------ sixteen float lanes */

XV_INLINE xv_s XV(ssplat)(float v)
{
#if XV_PIECES
    return xv_s::splat(v);
#endif
    return (xv_s){v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v};
}

XV_INLINE xv_s XV(sload)(const float *p)
{
#if XV_PIECES
    return xv_s::load(p);
#endif
    xv_s v;
    memcpy(&v, p, sizeof v);
    return v;
}

#if XV_AVX2
/* -1 then 0: eight int32 lanes from XV_TAIL_MASK + 8 - n are the mask of the first n */
static const int32_t XV_TAIL_MASK[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#endif

/* The first n (0 <= n <= 16) floats at p, the other lanes `pad` (nothing read past p + n). */
XV_INLINE xv_s XV(sload_pad)(const float *p, int n, float pad)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_s)_mm512_mask_loadu_ps(_mm512_set1_ps(pad), (__mmask16)((1u << n) - 1), p);
#elif XV_AVX2
    /* masked loads, whose lanes masked off are not read (no fault past the row), pad blended
       in; the masks loaded from a table (no constant vector for GCC to hoist into a register
       of the hot loops around). Stored lane by lane into an array and loaded back as a
       vector, a row's last entries waited on a store-forwarding stall. */
    __m256 h[2];
    for (int k = 0; k < 2; k++) {
        const int nk = n - 8 * k < 0 ? 0 : n - 8 * k > 8 ? 8 : n - 8 * k;
        const __m256i m = _mm256_loadu_si256((const __m256i *)(XV_TAIL_MASK + 8 - nk));
        const __m256 v = _mm256_maskload_ps(nk ? p + 8 * k : p, m);
        h[k] = _mm256_blendv_ps(_mm256_set1_ps(pad), v, _mm256_castsi256_ps(m));
    }
    return XV_JOIN(xv_s, h);
#else
    float v[16];
    for (int l = 0; l < 16; l++) v[l] = l < n ? p[l] : pad;
    return XV(sload)(v);
#endif
}

XV_INLINE void XV(sstore)(float *p, xv_s v)
{
#if XV_PIECES
    return v.store(p);
#endif
    memcpy(p, &v, sizeof v);
}

/* The first n (0 <= n <= 8) lanes of v to p, nothing written past p + n. */
XV_INLINE void XV(store_n)(double *p, int n, xv_d v)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << n) - 1), (__m512d)v);
#else
    for (int l = 0; l < n; l++) p[l] = v[l];
#endif
}

/* The first n (0 <= n <= 16) lanes of v to p, nothing written past p + n. */
XV_INLINE void XV(sstore_n)(float *p, int n, xv_s v)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), (__m512)v);
#else
    for (int l = 0; l < n; l++) p[l] = v[l];
#endif
}

/* The 8 x 8 matrix whose row i is m[i] transposed in place (m[k] then holds lane k of every
 * m[i], in lane i): three rounds of eight two-vector shuffles. */
XV_INLINE void XV(transpose8)(xv_d m[8])
{
    xv_d a[8];
    /* rows 2i, 2i + 1 interleaved (unpacklo/hi_pd): a[2i] holds their even lanes, a[2i + 1]
       their odd ones */
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        a[i] = XV_SHUFFLE(m[i], m[i + 1], 0, 8, 2, 10, 4, 12, 6, 14);
        a[i + 1] = XV_SHUFFLE(m[i], m[i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    }
    /* four rows 4g .. 4g + 3: m[4g + k] holds lanes k (low half) and 4 + k (high half) */
#pragma GCC unroll 2
    for (int g = 0; g < 8; g += 4)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            m[g + h] = XV_SHUFFLE(a[g + h], a[g + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            m[g + h + 2] = XV_SHUFFLE(a[g + h], a[g + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    /* the eight rows: lane k from the low halves of rows 0-3's and rows 4-7's vectors */
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        a[k] = XV_SHUFFLE(m[k], m[4 + k], 0, 1, 2, 3, 8, 9, 10, 11);
        a[k + 4] = XV_SHUFFLE(m[k], m[4 + k], 4, 5, 6, 7, 12, 13, 14, 15);
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) m[k] = a[k];
}

#if XV_AVX2
/* The 8 x 8 float matrix and the 4 x 4 double matrix whose row i is m[i], transposed in place
 * (m[k] then holds lane k of every m[i]): the AVX2 tiles' copies (to_tile_c, from_tile_c) */
XV_INLINE void XV(transpose8_ps)(__m256 m[8])
{
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(m[i], m[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(m[i], m[i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        m[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
        m[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
    }
}

XV_INLINE void XV(transpose4_pd)(__m256d m[4])
{
    const __m256d t0 = _mm256_unpacklo_pd(m[0], m[1]), t1 = _mm256_unpackhi_pd(m[0], m[1]);
    const __m256d t2 = _mm256_unpacklo_pd(m[2], m[3]), t3 = _mm256_unpackhi_pd(m[2], m[3]);
    m[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    m[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    m[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    m[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* lanes below n all ones (the masked loads and stores of the copies' last classes) */
XV_INLINE __m256i XV(mask32_n)(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

XV_INLINE __m256i XV(mask64_n)(int n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}
#endif

/* The 16 x 16 matrix whose row i is m[i] transposed in place (m[k] then holds lane k of every
 * m[i], in lane i): four rounds of sixteen two-vector shuffles. */
XV_INLINE void XV(stranspose16)(xv_s m[16])
{
#if XV_AVX2
    /* with AVX2, as four 8 x 8 squares (rows 0-7 and 8-15 by lanes 0-7 and 8-15), each
       transposed within its halves (transpose8_ps): the shuffles below, across the halves,
       went through memory (the categorical targets' check of ten float32 classes took
       0.87-0.94x the time of the loss after it) */
    __m256 q[4][8]; /* q[2 g + k]: rows 8 g .. 8 g + 7, lanes 8 k .. 8 k + 7 */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        __m256 h[2];
        XV_HALVES(h, m[i]);
        q[2 * (i >> 3)][i & 7] = h[0];
        q[2 * (i >> 3) + 1][i & 7] = h[1];
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) XV(transpose8_ps)(q[k]);
#pragma GCC unroll 16
    for (int c = 0; c < 16; c++) {
        const __m256 h[2] = {q[c >> 3][c & 7], q[2 + (c >> 3)][c & 7]};
        m[c] = XV_JOIN(xv_s, h);
    }
    return;
#endif
    xv_s a[16];
    /* rows 2i, 2i + 1 interleaved within each 128-bit lane (unpacklo/hi_ps) */
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        a[i] = XV_SHUFFLE(m[i], m[i + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13,
                          29);
        a[i + 1] = XV_SHUFFLE(m[i], m[i + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14,
                              30, 15, 31);
    }
    /* four rows 4g .. 4g + 3: m[4g + k] holds, in 128-bit lane j, lane 4j + k of them
       (unpacklo/hi_pd) */
#pragma GCC unroll 4
    for (int g = 0; g < 16; g += 4)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            m[g + 2 * h] = XV_SHUFFLE(a[g + h], a[g + h + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9,
                                      24, 25, 12, 13, 28, 29);
            m[g + 2 * h + 1] = XV_SHUFFLE(a[g + h], a[g + h + 2], 2, 3, 18, 19, 6, 7, 22, 23,
                                          10, 11, 26, 27, 14, 15, 30, 31);
        }
    /* eight rows 8q .. 8q + 7: a[8q + k] holds lanes k (rows in the low half) and 8 + k,
       a[8q + 4 + k] lanes 4 + k and 12 + k (128-bit lanes of two groups of four rows) */
#pragma GCC unroll 2
    for (int q = 0; q < 16; q += 8)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            a[q + k] = XV_SHUFFLE(m[q + k], m[q + 4 + k], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10,
                                  11, 24, 25, 26, 27);
            a[q + 4 + k] = XV_SHUFFLE(m[q + k], m[q + 4 + k], 4, 5, 6, 7, 20, 21, 22, 23, 12,
                                      13, 14, 15, 28, 29, 30, 31);
        }
    /* the sixteen rows: a[k] holds lanes k and k + 8 of rows 0-7, a[8 + k] of rows 8-15 */
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        m[k] = XV_SHUFFLE(a[k], a[8 + k], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22,
                          23);
        m[k + 8] = XV_SHUFFLE(a[k], a[8 + k], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28,
                              29, 30, 31);
    }
}

/* m ? a : b lane by lane (m from a comparison of float vectors) */
XV_INLINE xv_s XV(ssel)(xv_si m, xv_s a, xv_s b)
{
#if XV_AVX2
    return XV_ON_HALVES3(xv_s, __m256, _mm256_blendv_ps, b, a, m);
#else
    return (xv_s)((xv_si)b ^ (((xv_si)a ^ (xv_si)b) & m));
#endif
}

/* the lanes of m (the result of a comparison of float vectors) as the bits of a number, lane l
 * in bit l */
XV_INLINE uint32_t XV(smask)(xv_si m)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512DQ__)
    return (uint32_t)_mm512_movepi32_mask((__m512i)m);
#elif XV_AVX2
    __m256 h[2];
    XV_HALVES(h, m);
    return (uint32_t)_mm256_movemask_ps(h[0]) | (uint32_t)_mm256_movemask_ps(h[1]) << 8;
#else
    uint32_t r = 0;
    for (int j = 0; j < XV_SLANES; j++) r |= (uint32_t)(m[j] & 1) << j;
    return r;
#endif
}

/* a < b ? a : b and a > b ? a : b lane by lane (b where either is NaN, or where they are equal):
 * one instruction each with AVX-512 (vminps and vmaxps have exactly these semantics) */
XV_INLINE xv_s XV(smin)(xv_s a, xv_s b)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_s)_mm512_min_ps((__m512)a, (__m512)b);
#elif XV_AVX2
    return XV_ON_HALVES2(xv_s, __m256, _mm256_min_ps, a, b);
#else
    return XV(ssel)(XV_LT(a, b), a, b);
#endif
}

XV_INLINE xv_s XV(smax)(xv_s a, xv_s b)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_s)_mm512_max_ps((__m512)a, (__m512)b);
#elif XV_AVX2
    return XV_ON_HALVES2(xv_s, __m256, _mm256_max_ps, a, b);
#else
    return XV(ssel)(XV_GT(a, b), a, b);
#endif
}

/* a b + c, sixteen float lanes (XV(fma)'s rule: rounded once where the variant fuses) */
XV_INLINE xv_s XV(sfma)(xv_s a, xv_s b, xv_s c)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    return (xv_s)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif XV_AVX2
    return XV_ON_HALVES3(xv_s, __m256, _mm256_fmadd_ps, a, b, c);
#elif XM_FUSED
    xv_s r;
    for (int l = 0; l < XV_SLANES; l++) r[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return r;
#else
    return a * b + c;
#endif
}

/* The greatest lane of v, which holds no NaN: a tree of maxima (exact, as any order is). */
XV_INLINE float XV(smax_lanes)(xv_s v)
{
    v = XV(smax)(v, XV_SHUFFLE(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4,
                                            5, 6, 7));
    v = XV(smax)(v, XV_SHUFFLE(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8,
                                            9, 10, 11));
    v = XV(smax)(v, XV_SHUFFLE(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14,
                                            15, 12, 13));
    v = XV(smax)(v, XV_SHUFFLE(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13,
                                            12, 15, 14));
    return v[0];
}

XV_INLINE int XV(sany)(xv_si m)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512DQ__)
    return _mm512_movepi32_mask((__m512i)m) != 0;
#elif XV_AVX2
    __m256 h[2];
    XV_HALVES(h, m);
    return _mm256_movemask_ps(_mm256_or_ps(h[0], h[1])) != 0;
#else
    int32_t r = 0;
    for (int j = 0; j < XV_SLANES; j++) r |= m[j];
    return r != 0;
#endif
}

/* the eight lower or upper lanes, widened to double (exactly) */
XV_INLINE xv_d XV(swiden_lo)(xv_s v)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512DQ__)
    return (xv_d)_mm512_cvtps_pd(_mm512_castps512_ps256((__m512)v));
#elif XV_AVX2
    __m256 vh[2];
    XV_HALVES(vh, v);
    const __m256d h[2] = {_mm256_cvtps_pd(_mm256_castps256_ps128(vh[0])),
                          _mm256_cvtps_pd(_mm256_extractf128_ps(vh[0], 1))};
    return XV_JOIN(xv_d, h);
#else
    return XV_CONVERT(
        XV_SHUFFLE(v, v, 0, 1, 2, 3, 4, 5, 6, 7), xv_d);
#endif
}

XV_INLINE xv_d XV(swiden_hi)(xv_s v)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512DQ__)
    return (xv_d)_mm512_cvtps_pd(_mm512_extractf32x8_ps((__m512)v, 1));
#elif XV_AVX2
    __m256 vh[2];
    XV_HALVES(vh, v);
    const __m256d h[2] = {_mm256_cvtps_pd(_mm256_castps256_ps128(vh[1])),
                          _mm256_cvtps_pd(_mm256_extractf128_ps(vh[1], 1))};
    return XV_JOIN(xv_d, h);
#else
    return XV_CONVERT(
        XV_SHUFFLE(v, v, 8, 9, 10, 11, 12, 13, 14, 15), xv_d);
#endif
}

/* tab[j] lane by lane for the float exp's table of 8 entries (xmath_tables.h writes each
 * twice, at j and j + 8) and any j (bits 3 and up ignored): one permute of one register, with
 * AVX2 per half (vpermps reads three bits) and with AVX-512 for all sixteen lanes (four bits). */
XV_INLINE xv_s XV(slookup8)(const float *tab, xv_si j)
{
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
    return __builtin_shuffle(XV(sload)(tab), j);
#elif XV_AVX2
    __m256i jh[2];
    XV_HALVES(jh, j);
    const __m256 t = _mm256_load_ps(tab);
    const __m256 h[2] = {_mm256_permutevar8x32_ps(t, jh[0]), _mm256_permutevar8x32_ps(t, jh[1])};
    return XV_JOIN(xv_s, h);
#else
    xv_s v;
    for (int l = 0; l < XV_SLANES; l++) v[l] = tab[j[l] & (XM_EXPF_N - 1)];
    return v;
#endif
}

/* exp(d + e) = hi + lo for float d <= 0 and a low part e (|e| <= ulp(d)/2, the rounding error
 * of d), in float arithmetic: exp's reduction (xmath.h) with N = 8 and float constants
 * (XM_EXPF_*), ln2/N with 12 significant bits so that k hi is exact and d - k hi too
 * (Sterbenz); r = (d - k hi) + (e - k lo), one rounding (2^-29 at most: |r| <= ln2/16), and
 * exp(r) - 1 ~ r + r^2 (C2 + C3 r + C4 r^2) (relative error 2^-31.4); the reduction, the
 * polynomial and v = T + T p are multiply-adds (XV(sfma), rounded once where the variant
 * fuses). v in [0.95, 2) is scaled by 2^floor(k/N) through its exponent bits: hi, right (a
 * normal float, error < 0.56 ulp of float) in lanes with d >= XV_EXPF_MIN; other lanes hold
 * garbage that expf_wide replaces. The rounding error of v, T p + (T - v) (T - v exact by
 * Sterbenz), is one more fused multiply-add, scaled as lo: hi + lo has a relative error below
 * 2^-26.8 (the roundings of r, r + r^2 q and tail + p, each up to 2^-29; 2^-25 near d = -86,
 * where lo is subnormal). N = 8 rather than exp's 32: the table is one register, and a lookup
 * one permute (with AVX2, a 32-entry table's took four permutes and three blends per eight
 * lanes, a third of the float rows' exp pass), for one more multiply-add in the polynomial. */
#if XV_AVX2
/* expf_hilo of one 256-bit half with the intrinsics, the same operations in the same order:
 * written out for AVX2 so that its intermediate vectors stay in registers (see XV_AVX2) */
XV_INLINE __m256 XV(expf_hilo_half)(__m256 d, __m256 e, __m256 *lo)
{
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    __m256 kd = _mm256_fmadd_ps(d, _mm256_set1_ps(XM_EXPF_INVLN2N), shift);
    const __m256i ki = _mm256_castps_si256(kd);
    kd = _mm256_sub_ps(kd, shift);
    const __m256 r = _mm256_add_ps(_mm256_fmadd_ps(kd, _mm256_set1_ps(-XM_EXPF_LN2HIN), d),
                                   _mm256_fmadd_ps(kd, _mm256_set1_ps(-XM_EXPF_LN2LON), e));
    const __m256 T = _mm256_permutevar8x32_ps(_mm256_load_ps(XM_EXPF_HI), ki);
    const __m256 tail = _mm256_permutevar8x32_ps(_mm256_load_ps(XM_EXPF_TAIL), ki);
    const __m256 q = _mm256_fmadd_ps(
        _mm256_fmadd_ps(r, _mm256_set1_ps(XM_EXPF_C4), _mm256_set1_ps(XM_EXPF_C3)), r,
        _mm256_set1_ps(XM_EXPF_C2));
    const __m256 p = _mm256_add_ps(tail, _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r));
    const __m256 v = _mm256_fmadd_ps(T, p, T);
    const __m256 vl = _mm256_fmadd_ps(T, p, _mm256_sub_ps(T, v));
    const __m256i e2 = _mm256_srai_epi32(_mm256_sub_epi32(ki, _mm256_set1_epi32(0x4B400000)), 3);
    const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(e2, _mm256_set1_epi32(127)), 23);
    *lo = _mm256_mul_ps(vl, _mm256_castsi256_ps(scale));
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(v), _mm256_slli_epi32(e2, 23)));
}
#endif

XV_INLINE xv_s XV(expf_hilo)(xv_s d, xv_s e, xv_s *lo)
{
#if XV_AVX2
    return XV_HALVES_HILO(xv_s, __m256, XV(expf_hilo_half), d, e, lo);
#endif
    const xv_s shift = XV(ssplat)(0x1.8p23f);
    xv_s kd = XV(sfma)(d, XV(ssplat)(XM_EXPF_INVLN2N), shift);
    xv_su ki = (xv_su)kd;
    kd = kd - shift;
    xv_s r = XV(sfma)(kd, XV(ssplat)(-XM_EXPF_LN2HIN), d) +
             XV(sfma)(kd, XV(ssplat)(-XM_EXPF_LN2LON), e);
    xv_s T = XV(slookup8)(XM_EXPF_HI, (xv_si)ki);
    xv_s tail = XV(slookup8)(XM_EXPF_TAIL, (xv_si)ki);
    xv_s q = XV(sfma)(XV(sfma)(r, XV(ssplat)(XM_EXPF_C4), XV(ssplat)(XM_EXPF_C3)), r,
                      XV(ssplat)(XM_EXPF_C2));
    xv_s p = tail + XV(sfma)(r * r, q, r);
    xv_s v = XV(sfma)(T, p, T);
    xv_s vl = XV(sfma)(T, p, T - v);
    /* k = bits(kd) - bits(1.5 2^23); 2^e2 = 2^floor(k/8), -125 <= e2 <= 0 where it matters */
    const xv_si e2 = (xv_si)(ki - 0x4B400000u) >> 3;
    *lo = vl * (xv_s)((xv_su)(e2 + 127) << 23); /* rounded where it is subnormal */
    return (xv_s)((xv_su)v + ((xv_su)e2 << 23));
}

/* expf_hilo's hi alone (the float rows' exp; the compiler drops lo's work) */
XV_INLINE xv_s XV(expf_core)(xv_s d, xv_s e)
{
    xv_s lo;
    return XV(expf_hilo)(d, e, &lo);
}

/* Whether a vector has a lane whose exp needs expf_wide: d below XV_EXPF_MIN whose result is
 * not 0 in double (d >= -746; -inf and the masked entries of a row are below). */
XV_INLINE int XV(expf_needs_wide)(xv_s d)
{
    return XV(sany)(XV_LT(d, XV_EXPF_MIN) & XV_GE(d, -746.0f));
}

/* exp(d + e) as doubles, the lower [0] and upper [1] eight lanes, for every lane: the core's
 * value where d >= XV_EXPF_MIN, else exp(d) (1 + e) by the double exp (0 below -746). Lanes
 * that expf_core gets right give the same value here, so the result of a lane does not depend
 * on its neighbours. */
XV_INLINE void XV(expf_wide)(xv_s d, xv_s e, xv_s core, xv_d out[2])
{
    for (int h = 0; h < 2; h++) {
        xv_d dd = h ? XV(swiden_hi)(d) : XV(swiden_lo)(d);
        xv_d ed = h ? XV(swiden_hi)(e) : XV(swiden_lo)(e);
        xv_d cd = h ? XV(swiden_hi)(core) : XV(swiden_lo)(core);
        xv_d E = XV(exp)(dd);
        E = E + E * ed;
        out[h] = XV(sel)(XV_GE(dd, (double)XV_EXPF_MIN), cd,
                         XV(sel)(XV_LT(dd, -746.0), XV(splat)(0.0), E));
    }
}
