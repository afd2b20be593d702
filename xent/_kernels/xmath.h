/* xmath.h -- branch-free, vectorizable exp, log and log1p for double (max error < 1 ulp).
 *
 * Design
 * ------
 * All three functions are `static inline` (forced inline with GCC/Clang) and use only +, -, *, /
 * (one division in log1p), multiply-adds (xm__fma: fused where the variant's CPU has the FMA
 * instruction, else two roundings), integer shifts/masks on the bit pattern (through memcpy,
 * which compiles to register moves), loads from the small tables in xmath_tables.h (generated
 * by gen_tables.py with mpmath) and selects.  No branches, no intrinsics: a loop that calls
 * them can be vectorized, with the table loads done element by element (or as gathers).
 *
 * Why branch-free, and why the selects are bit masks: a branch per element stops the vectorizer.
 * A plain `c ? a : b` is not enough either when one arm only matters for special inputs: the
 * compiler then evaluates the main path (including table loads and FP operations, which may trap
 * under the default -ftrapping-math) only under the condition, and such a loop vectorizes only with
 * AVX-512 masked loads.  So every select that guards real work is written as
 * (bits(a) & m) | (bits(b) & ~m) with m all ones or zero, and classification uses integer compares
 * on the bit pattern, which cannot trap.
 *
 * Building: compile with -ffp-contract=off (or -std=c11): each operation is then one IEEE operation
 * in source order (the only fused multiply-adds are the ones written out) and every SIMD width
 * of a variant, and every variant that fuses (XM_FUSED), gives the same bits.  Never
 * -ffast-math: the exact two-sum steps below would be simplified away.  Calling loops: mark
 * pointers `restrict` and, for -O2 (GCC's "very cheap" vectorizer model, which rejects loops
 * that need a scalar epilogue), write blocks of 8 with a fixed inner loop plus a scalar
 * remainder.  GCC 12.2 then vectorizes exp, log
 * and log1p to zmm for x86-64-v4 and ymm for x86-64-v3, by -march or by
 * __attribute__((target("arch=..."))); for baseline x86-64 (SSE2) it keeps scalar code (no
 * emulated gathers at -O2, no 64-bit vector compares), which gives the same bits.
 *
 * exp(x), after Tang (1989), "Table-driven implementation of the exponential function":
 *   x = k ln2/N + r with N = 32, k = round(x N/ln2) (the 0x1.8p52 shift trick, x N/ln2 + shift
 *   in one fused multiply-add), |r| <= ln2/64.  ln2/N = hi + lo with hi holding 35 bits, so k*hi
 *   is exact (|k| < 2^18) and x - k*hi is exact (Sterbenz); r = (x - k hi) - k lo by a fused
 *   multiply-add has one rounding.
 *   exp(x) = 2^e 2^(j/N) exp(r), k = N e + j.  2^(j/N) = T (1 + t) from the tables (t is the tail
 *   relative to the double T), exp(r) - 1 ~ r + r^2 P(r), P quartic, relative error < 2^-61;
 *   p = (t + r) + r^2 P(r) and P by fused multiply-adds (Estrin's scheme, XM_EXP_P).
 *   N = 32 so that a vector lookup keeps each table in four AVX-512 registers (xvec.h).
 *   v = T + T p rounded once (a fused multiply-add), scaled by 2^e1 2^e2 (e1 = floor(e/2),
 *   e2 = e - e1), so both factors are normal numbers for every e the clamped input can give:
 *   overflow becomes inf and underflow 0 by the final multiplication itself.  When the result
 *   is below 2^-1022 the last rounding must happen at the subnormal quantum 2^-1074, not at 53
 *   bits and then again: the sum
 *   T 2^e1 + (T p) 2^e1 is rounded by adding C = 2^(-1022-e2) (whose ulp is that quantum) and
 *   subtracting it again, with the low part carried exactly; a normal result is
 *   round(T + T p) 2^e, as the vector path computes it.
 *   Inputs are clamped to [-746, 710] (beyond, the result is 0 / inf anyway); NaN passes through.
 *   Error budget (normal results): final rounding 0.5 ulp + the rounding of r (2^-53 |r| relative,
 *   < 0.022 ulp) + the roundings in p (< 0.01 ulp in the worst case); measured 0.515 ulp;
 *   subnormal results: one rounding at 2^-1074 plus far less than 0.01 of that quantum.
 *
 * log(x), table-driven in the manner of Tang (1990) and of ARM's optimized-routines log:
 *   x = 2^k z with z in [0.6797, 1.3594): k and z come from bits(x) - OFF (subnormal x is first
 *   multiplied by 2^52).  The top 5 bits of the mantissa difference choose one of 32 intervals
 *   (few enough for AVX-512 to hold each table in four registers, xvec.h) with a centre
 *   c = 1/invc, invc having 10 significant bits (exactly 1 for the interval that contains 1.0).
 *   log x = k ln2 + log c + log1p(r), r = z invc - 1, |r| <= 1/64.
 *   r is computed exactly as a + b without FMA: z = zh + zl with zh holding 43 bits, so zh*invc
 *   and zl*invc are exact and a = zh*invc - 1 is exact (Sterbenz); (rh, rl) = TwoSum(a, b).
 *   k ln2_hi + logc_hi is exact (ln2_hi has 42 bits and logc_hi is a multiple of 2^-42), then
 *   (hi, t) = TwoSum(that, rh) and everything else (t, rl, logc_lo, k ln2_lo, r^2 Q(r), where
 *   log1p(r) - r ~ r^2 Q(r) with relative error < 2^-62; Q by fused multiply-adds in Estrin's
 *   scheme, r^2 Q added by one) is added to the low part.  Near 1 the
 *   interval has invc = 1 and logc = 0, so the result is rh + (rl + r^2 Q) with r = x - 1 exact:
 *   no cancellation anywhere.  Error budget: final rounding 0.5 ulp + the errors of the low part
 *   (poly < 2^-63 relative, roundings of terms < 2^-58 of the result): < 0.02 ulp.
 *   Special inputs (x <= 0, inf, NaN) are selected at the end.
 *
 * log1p(u): (t, e) = TwoSum(1, u), so 1 + u = t + e exactly, and log1p(u) = log(t) + log1p(e/t)
 *   with |e/t| <= 2^-53: the log kernel above takes e/t as an extra low-order term (its rounding
 *   and the dropped (e/t)^2/2 are < 2^-100 against a result >= 2^-16).  Near -1, t = 1 + u is
 *   exact (e = 0).  For |u| < 2^-15 the result is the series u - u^2/2 + u^3/3 - u^4/4 instead
 *   (chosen by a bit mask), which is exact to 2^-62 and returns u itself for tiny u.  Measured
 *   max 0.502 ulp.
 */
#ifndef XMATH_H
#define XMATH_H

#include <math.h> /* INFINITY and NAN only; no libm function is called */
#include <stdint.h>
#include <string.h>

#include "xmath_tables.h"

/* Inlining is what lets a calling loop vectorize, so force it where the compiler allows. */
#if defined(__GNUC__)
#define XM_INLINE static inline __attribute__((always_inline))
#else
#define XM_INLINE static inline
#endif

XM_INLINE uint64_t xm__bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

XM_INLINE double xm__double(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* a b + c: rounded once (IEEE fusedMultiplyAdd, the FMA instruction) in the variants compiled
   for CPUs that have the instruction (the AVX2 and AVX-512 variants; every platform whose
   compiler calls fma fast, as on ARM64), else a * b + c in two roundings (the x86-64 baseline
   variant, for CPUs without it, where C's fma() is emulated in software at about 300 ns a
   call). The error bounds below hold either way; the bits may differ in the last place. */
#if defined(__FMA__) || defined(__FP_FAST_FMA)
#define XM_FUSED 1
#define xm__fma(a, b, c) __builtin_fma(a, b, c)
#else
#define XM_FUSED 0
#define xm__fma(a, b, c) ((a) * (b) + (c))
#endif

/* exp(x) = 2^e 2^(j/N) exp(r) for x = k ln2/N + r, the one polynomial and reduction of every exp
   path (scalar and vector alike, so that they round the same), F a fused multiply-add and K a
   constant of the operands' type: p = tail + exp(r) - 1 with exp(r) - 1 - r ~ r^2 P(r), P
   quartic in Estrin's scheme. */
#define XM_EXP_P(r, r2, tail, F, K)                                                        \
    F(r2,                                                                                  \
      F(r2, F(r2, K(XM_EXP_C6), F(r, K(XM_EXP_C5), K(XM_EXP_C4))),                         \
        F(r, K(XM_EXP_C3), K(XM_EXP_C2))),                                                 \
      (tail) + (r))
#define XM__SCALAR(c) (c)

/* exp(x) for every double x. */
XM_INLINE double xm_exp(double x)
{
    const double shift = 0x1.8p52; /* x + shift rounds x to an integer held in the low bits */
    /* e + 2048 = (bits(kd) >> 7) - (bits(shift) >> 7) + 2048, computed without sign */
    const uint64_t ebias = (UINT64_C(0x4338000000000000) >> 5) - 2048;
    /* Clamp to [-746, 710] (exp(710) > DBL_MAX: still inf; exp(-746) < 2^-1075: still 0; NaN
       unchanged).  Done with bit masks rather than `?:` so that the compiler does not split the
       loop body into a constant path for the clamped inputs and a masked path for the rest. */
    uint64_t mhi = (uint64_t)0 - (uint64_t)(x > 710.0);
    uint64_t mlo = (uint64_t)0 - (uint64_t)(x < -746.0);
    double xc = xm__double((xm__bits(x) & ~(mhi | mlo)) | (xm__bits(710.0) & mhi) |
                           (xm__bits(-746.0) & mlo));

    double kd = xm__fma(xc, XM_EXP_INVLN2N, shift);
    uint64_t ki = xm__bits(kd);
    kd -= shift;                          /* k = round(x N / ln2), exact */
    double r = xm__fma(kd, -XM_EXP_LN2LON, xm__fma(kd, -XM_EXP_LN2HIN, xc));

    uint64_t j = ki & (uint64_t)31;
    uint64_t eb = (ki >> 5) - ebias;      /* e + 2048, in [971, 3072] after the clamp */
    uint64_t h = eb >> 1;                 /* e1 + 1024 */
    uint64_t b2 = eb - h - 1;             /* biased exponent of 2^e2 = e - e1 + 1023 */
    double sc1 = xm__double((h - 1) << 52);  /* 2^e1 */
    double sc2 = xm__double(b2 << 52);       /* 2^e2 */
    /* C = 2^(-1022 - e2): biased exponent 1024 - b2. For e2 >= 1 the bits wrap to a value <= 0,
       which the comparison below never selects. */
    double cq = xm__double(((uint64_t)1024 - b2) << 52);

    double tab = XM_EXP_HI[j];
    double tail = XM_EXP_TAIL[j];
    double r2 = r * r;
    double p = XM_EXP_P(r, r2, tail, xm__fma, XM__SCALAR);
    /* a normal result: round(T + T p) 2^e, as the vector path computes it */
    double yn = (xm__fma(tab, p, tab) * sc1) * sc2;

    double a = tab * sc1;                 /* exact */
    double b = (tab * p) * sc1;
    double ab = a + b;                    /* the result before the last scaling */
    double c = ab < cq ? cq : 0.0;        /* result below 2^-1022: round at its quantum */
    double s = c + a;
    double lo = ((c - s) + a) + b;
    /* NaN needs no select: it propagates through r and p into y */
    double ys = ((s + lo) - c) * sc2;
    uint64_t msub = (uint64_t)0 - (uint64_t)(c != 0.0);
    return xm__double((xm__bits(ys) & msub) | (xm__bits(yn) & ~msub));
}

/* (log1p(r) - r) / r^2 for |r| <= 1/64, the one polynomial of every log path (scalar and
   vector alike), F a fused multiply-add and K a constant of the operands' type (Estrin's
   scheme, as XM_EXP_P) */
#define XM_LOG_Q(r, r2, F, K)                                                              \
    F(r2,                                                                                  \
      F(r2, F(r2, F(r, K(XM_LOG_C9), K(XM_LOG_C8)), F(r, K(XM_LOG_C7), K(XM_LOG_C6))),     \
        F(r, K(XM_LOG_C5), K(XM_LOG_C4))),                                                 \
      F(r, K(XM_LOG_C3), K(XM_LOG_C2)))

/* log(x) + corr for finite x > 0, where corr is a low-order correction (|corr| <= 2^-53, added
   to the low part); special values of x (<= 0, inf, NaN) are selected at the end. */
XM_INLINE double xm__log_kernel(double x, double corr)
{
    const double two52 = 0x1p52;
    /* Classification is done on the bit pattern: integer compares cannot trap, so the compiler
       may evaluate them unconditionally and turn every `?:` below into a vector blend. */
    uint64_t ix0 = xm__bits(x);
    /* all ones for +0 or subnormal x, which is scaled by 2^52 (exactly) */
    uint64_t msub = (uint64_t)0 - (uint64_t)(ix0 < UINT64_C(0x0010000000000000));
    uint64_t scale = xm__bits(1.0) ^ ((xm__bits(1.0) ^ xm__bits(two52)) & msub);
    uint64_t ix = xm__bits(x * xm__double(scale));
    /* ix + 2^63 - OFF does not wrap for positive x; its top 12 bits are k + 2048 (+ 52 if
       scaled).  The selects are bit masks so that no FP operation ends up under a condition. */
    uint64_t tmp = ix + (((uint64_t)1 << 63) - XM_LOG_OFF);
    uint64_t i = (tmp >> XM_LOG_SHIFT) & (uint64_t)31;
    uint64_t kb = (tmp >> 52) - (msub & 52);   /* k + 2048 */
    double kd = (xm__double(xm__bits(two52) | kb) - two52) - 2048.0;  /* exact */
    uint64_t iz = (tmp & (((uint64_t)1 << 52) - 1)) + XM_LOG_OFF;
    double z = xm__double(iz);
    double zh = xm__double(iz & ~(uint64_t)0x3ff);  /* 43 significant bits */
    double zl = z - zh;                             /* exact */

    double invc = XM_LOG_INVC[i];
    double logc_hi = XM_LOG_LOGC_HI[i];
    double logc_lo = XM_LOG_LOGC_LO[i];
    double a = zh * invc - 1.0;           /* exact: product exact, then Sterbenz */
    double b = zl * invc;                 /* exact */
    double rh = a + b;                    /* TwoSum: rh + rl = a + b = z invc - 1 */
    double bv = rh - a;
    double rl = (a - (rh - bv)) + (b - bv);

    double w = xm__fma(kd, XM_LOG_LN2HI, logc_hi);  /* exact */
    double hi = w + rh;                   /* TwoSum: hi + t = w + rh */
    double rv = hi - w;
    double t = (w - (hi - rv)) + (rh - rv);

    double r2 = rh * rh;
    double q = XM_LOG_Q(rh, r2, xm__fma, XM__SCALAR);
    double lo = xm__fma(r2, q, ((t + rl) + xm__fma(kd, XM_LOG_LN2LO, logc_lo)) + corr);
    double y = hi + lo;

    /* x in (0, inf): y.  Otherwise +-0 -> -inf, x < 0 (incl. -inf, -NaN) -> NaN, inf/NaN -> x */
    /* The final choice is made with bit masks, not `?:`, so that the compiler cannot move the
       table loads under a condition (a conditional load needs masked vector loads). */
    uint64_t ok = (uint64_t)0 - (uint64_t)(ix0 - 1 < UINT64_C(0x7fefffffffffffff));
    uint64_t mzero = (uint64_t)0 - (uint64_t)((ix0 << 1) == 0);
    uint64_t mneg = (uint64_t)0 - (ix0 >> 63);
    uint64_t sbits = (xm__bits(-INFINITY) & mzero) |
                     (~mzero & ((xm__bits(NAN) & mneg) | (ix0 & ~mneg)));
    return xm__double((xm__bits(y) & ok) | (sbits & ~ok));
}

/* log(x): -inf at +-0, NaN below 0 and for NaN, inf at inf. */
XM_INLINE double xm_log(double x)
{
    return xm__log_kernel(x, 0.0);
}

/* log1p(u) = log(1 + u): -inf at -1, NaN below -1 and for NaN, inf at inf. */
XM_INLINE double xm_log1p(double u)
{
    double t = u + 1.0;                   /* TwoSum: t + e = 1 + u exactly */
    double uv = t - 1.0;
    double e = (1.0 - (t - uv)) + (u - uv);
    double yk = xm__log_kernel(t, e / t); /* special values of t decide -inf / NaN / inf */
    /* |u| < 2^-15: u - u^2/2 + u^3/3 - u^4/4, relative error < u^4/5 < 2^-62.  Here e/t would
       be comparable to the result and its rounding (and the dropped -(e/t)^2/2) visible. */
    double u2 = u * u;
    double ys = u + u2 * (-0.5 + u * (0x1.5555555555555p-2 - 0.25 * u));
    uint64_t msmall = (uint64_t)0 - (uint64_t)((xm__bits(u) << 1) < (xm__bits(0x1p-15) << 1));
    return xm__double((xm__bits(ys) & msmall) | (xm__bits(yk) & ~msmall));
}

/* expm1(x) = exp(x) - 1 with a relative error of at most about 2 ulp (the KL kernel, kl.h).
 * x = k ln2/N + r as in xm_exp, with |x| <= 40 so that 2^e is a normal factor
 * (e = floor(k/N) in [-58, 58]): exp(x) = hi + lo with hi = 2^(j/N) 2^e exact and
 * lo = hi (tail + r + r^2 P(r)), |lo| <= 0.011 hi; then hi - 1 = s + err exactly (TwoSum) and
 * the result is s + (err + lo). Near 0 (k = 0) hi = 1 and the result is lo = r + r^2 P(r),
 * one rounding. The errors are those of lo (at most 2 ulp of lo, and |lo| <= |expm1(x)| + 0.011
 * where k != 0, i.e. |x| > 0.0108) plus the final rounding. Beyond 40, exp(x) - 1 rounds to
 * exp(x) and below -40 to -1; NaN propagates. */
XM_INLINE double xm_expm1(double x)
{
    const double shift = 0x1.8p52;
    uint64_t mhi = (uint64_t)0 - (uint64_t)(x > 40.0);
    uint64_t mlo = (uint64_t)0 - (uint64_t)(x < -40.0);
    double xc = xm__double((xm__bits(x) & ~(mhi | mlo)) | (xm__bits(40.0) & mhi) |
                           (xm__bits(-40.0) & mlo));
    double kd = xm__fma(xc, XM_EXP_INVLN2N, shift);
    uint64_t ki = xm__bits(kd);
    kd -= shift;
    double r = xm__fma(kd, -XM_EXP_LN2LON, xm__fma(kd, -XM_EXP_LN2HIN, xc));
    uint64_t j = ki & (uint64_t)31;
    /* e + 1023 from the low bits of ki (k = 32 e + j, |k| < 2^12): as in xm_exp */
    uint64_t eb = ((ki >> 5) - ((UINT64_C(0x4338000000000000) >> 5) - 2048)) - 2048 + 1023;
    double sc = xm__double((eb & (uint64_t)0x7ff) << 52);
    double tab = XM_EXP_HI[j];
    double r2 = r * r;
    double p = XM_EXP_P(r, r2, XM_EXP_TAIL[j], xm__fma, XM__SCALAR);
    double hi = tab * sc;          /* exact */
    double lo = (tab * p) * sc;
    double s = hi - 1.0;           /* TwoSum: s + err = hi - 1 */
    double bv = s - hi;
    double err = (hi - (s - bv)) + (-1.0 - bv);
    double y = s + (err + lo);
    double big = xm_exp(x);
    return xm__double((xm__bits(y) & ~(mhi | mlo)) | (xm__bits(big) & mhi) |
                      (xm__bits(-1.0) & mlo));
}

#endif /* XMATH_H */
