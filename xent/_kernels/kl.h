/* The KL divergence kernel of one element type and one instruction set: included by
 * instance.h after body.h, with T (float or double) and FN(name) as there.
 *
 * Per row, targets p (teacher logits t or probabilities) and predictions q (student logits s
 * or probabilities); the loss is temp^2 KL(p || q) = temp^2 sum_c p_c (log p_c - log q_c),
 * logits divided by the temperature temp first.
 *
 * Why not log_softmax(t) - log_softmax(s): each log-probability carries a rounding error of
 * its own size (an ulp of 5 at a class of probability e^-5), while for nearly equal
 * distributions the terms r_c = log p_c - log q_c are tiny. The formulation below makes the
 * result depend on those large quantities only at second order.
 *
 * Formulation. Each side gives unnormalized weights and their logs:
 *   logits:         a_c = (t_c - max t) / temp <= 0 as a double-double (ah, al),
 *                   F_c = exp(a_c) = exp(ah) (1 + al), p_c = F_c / SF, SF = sum_c F_c;
 *   probabilities:  F_c = p_c as given, a_c = log p_c, SF = 1,
 * and the same for q (G_c, b_c, SG). With any per-row shift k, x_c = a_c - b_c - k and
 * P = sum p, Q = sum q (exactly 1 from logits),
 *   sum_c p_c x_c = KL - k P,   sum_c q_c exp(x_c) = P exp(-k)
 * (p_c / q_c is exp(a_c - b_c) times a per-row constant),
 * so that, writing Y = (Q - 1) + sum_c q_c expm1(x_c) (the sum of q_c exp(x_c), minus 1),
 *   KL = sum_c p_c x_c + P (log1p(P - 1) - log1p(Y)),
 * which for logits targets (P = 1) is sum_c p_c x_c - log1p(Y). The shift is taken as
 * k = log SF - log SG, so that x_c is close to r_c = log p_c - log q_c.
 *
 * Error argument. Let p_c, q_c carry relative errors e_c, f_c (a few ulp: exp, a sum, a
 * division) and x_c an absolute error d_c. The first term's error is
 * sum_c p_c (e_c x_c + d_c), Y's is sum_c q_c (f_c expm1(x_c) + e^x_c d_c) plus the rounding
 * of expm1 (relative, < 2 ulp), and since q_c e^x_c / (1 + Y) = p_c (the identity above) the
 * d_c cancel between the two terms to first order: what remains is a few ulp of
 * sum_c p_c |x_c| + sum_c q_c |expm1(x_c)| <= 3 sum_c p_c |r_c| + |k - Delta| (using
 * p log(p/q) >= p - q, so sum |p - q| <= 2 sum_c p_c |r_c|), i.e. a few ulp of the sum of the
 * absolute terms, as wanted, plus second-order terms in d_c. Nothing in it cancels
 * catastrophically: k absorbs the difference of the normalizers, and Y is a sum of terms
 * q_c expm1(x_c) of size |p_c - q_c|. Where x_c > 1 (q_c much smaller than p_c, possibly
 * underflowed) the term is formed as (F_c exp(-k) - G_c) / SG instead, with no cancellation
 * (q_c exp(x_c) = F_c exp(-k) / SG > e q_c). x_c is formed as a double-double difference
 * ((ah - bh) - k) + (al - bl), so its error is an ulp of itself: the gradient below needs that.
 * The term |k - Delta| (Delta the exact difference of the normalizers) is the rounding of k,
 * a few ulp of log SF and log SG; where the divergence is as small as that (distributions
 * equal to the last bits), a second pass uses the shift k + lambda, lambda = log1p(Y) -
 * log1p(P - 1) from the first, which is exact to a few ulp of the divergence. Sums of
 * probabilities are kept in twice the working precision (P - 1 is a term of the loss), the
 * other sums are compensated (Kahan) on eight lanes.
 *
 * Gradient with respect to the predictions (of temp^2 KL):
 *   student logits: temp (P q_c - p_c), and for logits targets, where x_c <= 1,
 *                   q_c - p_c = q_c (Y - expm1(x_c)) / (1 + Y)   (from p_c = q_c e^x_c / (1+Y)),
 *                   exact to a few ulp of itself even where p_c and q_c agree to many digits
 *                   (float results: written in the expm1 pass with Y left out, then the
 *                   entries that Y changes by more than 2^-30 of themselves, |expm1(x_c)| <=
 *                   2^30 |Y|, rewritten with it; Y, the normalizers' rounding, is tiny);
 *   probabilities:  -temp^2 p_c / q_c (from logits targets, where p_c or q_c is below the
 *                   normal range, from their logs with exact scaling: kl_ratio).
 *
 * Special values: p_c = 0 contributes 0 whatever q_c (even -inf logits on both sides: x_c,
 * NaN there, is set to 0); q_c = 0 with p_c > 0 gives x_c = inf and an infinite loss, also
 * where p_c from logits underflowed to 0;
 * a row of logits with a NaN, no finite maximum below +inf (every entry -inf) or several +inf
 * entries is NaN, as xent.softmax; a single +inf logit is a one-hot distribution.
 *
 * Float input (T = float, results rounded to float) drops what only double results need: the
 * logits' differences and their quotient by the temperature are plain doubles (x - m of two
 * floats is exact in double or nearly, and an error d_c of x_c cancels to first order), and
 * exp and expm1 are xvec.h's short forms (relative errors < 2^-38, 2^-40): by the argument
 * above an error e_c of p_c or q_c enters multiplied by x_c or expm1(x_c), i.e. below 2^-37 of
 * the sum of the absolute terms, far under float's half ulp.
 *
 * The direct form, for float results. With F and G from exp_short (relative errors e_c, f_c
 * below 2^-38), u_c = a_c - b_c and kh = log SF - log SG,
 *   KL = sum_c F_c u_c / SF - P kh
 * (log p_c - log q_c = u_c - kh; SF = 1 for probabilities, and SG = 1 with log SG = 0). Its
 * error: the weights' errors enter as sum_c p_c (e_c - e) u_c (e the p-weighted mean of the
 * e_c), which is sum_c p_c (e_c - e) r_c (the sum of the p_c (e_c - e) is 0) and so below 2^-37
 * of the scale sum_c p_c |r_c|, and as the two normalizers' mean errors, below 2^-37 outright;
 * the rest (u_c, the compensated sums, the logs) is a few ulp of double of the logits' scale.
 * It is kept where the divergence (at most the scale) or the scale itself (kl_scale, a light
 * pass over the stored F and u) is at least XK_KL_DIRECT = 2^-7: there its error is below 2^-30
 * of the scale, 1/64 ulp of float. Elsewhere (nearly equal distributions, NaN rows) the form
 * above decides. The gradient of student logits against teacher logits takes the expm1 pass
 * in every row (the loss keeps its form either way, the same bits with and without the
 * gradient). This saves the pass of expm1 per entry for most rows of a distillation's forward
 * pass (divergences of 0.01-1 per row). Such a forward pass (float logits on both sides,
 * contiguous rows, no gradient) first takes the direct form's sums in one pass that stores
 * nothing (kl_fused, the same sums in the same order) and keeps them where the divergence is
 * at least XK_KL_DIRECT; only the other rows store their weights and logs for the passes below.
 *
 * Float rows of two classes with logits on both sides take a closed form of their own
 * (kl_two, below: about a third of the time of the tiles); the rest go one of two ways through
 * a block, with the same arithmetic per entry (the functions kl_logit, kl_prob, kl_u,
 * kl_term, kl_grad_logits and kl_grad_probs below, on vectors of eight doubles from xvec.h):
 *   - rows of more than XK_KL_TILE_C classes, one at a time: lanes are classes (c mod 8), the
 *     sums of a row are taken on eight compensated lanes added in order at the end, and the
 *     per-row values in scalar code;
 *   - rows of at most XK_KL_TILE_C classes, eight rows at a time: lanes are rows (read by
 *     gathers, any strides), each lane's sums run over the classes in order, and the per-row
 *     values are vectors too. With at most eight classes the two ways add the same numbers in
 *     the same order (a lane of the first holds one class or none), and gave the same bits
 *     where compared.
 * Every variant computes the same IEEE operations in the same order (the same bits among the
 * variants that fuse their multiply-adds, xmath.h XM_FUSED).
 */

#ifndef XK_KL_ONCE
#define XK_KL_ONCE
/* s + e = a + b exactly (Knuth's TwoSum); scalars or vectors */
#define XK_KL_TWO_SUM(a, b, s, e)                                                           \
    do {                                                                                  \
        __typeof__(s) s_ = (a) + (b);                                                     \
        __typeof__(s) bv_ = s_ - (a);                                                     \
        (e) = ((a) - (s_ - bv_)) + ((b) - bv_);                                           \
        (s) = s_;                                                                         \
    } while (0)
/* the direct form (float results) is kept where the divergence or its scale is at least this
 * (see the header) */
#define XK_KL_DIRECT 0x1p-7
/* kl_row_pass's gradient, written in the pass (float results, student against teacher
 * logits): g (T, stride cs) = k (q_c - p_c) with Y left out; emin: out, the least |expm1(x_c)|
 * of the entries whose value Y would change (see kl_rows_impl) */
typedef struct {
    void *g;
    ptrdiff_t cs;
    double k, rF, rG, emin;
} xk_kl_go;
/* the division of logits by the temperature: temp = bh + bl (Veltkamp's split), 1 / temp */
typedef struct {
    double temp, inv, bh, bl;
    int scale, temp_ok;
} xk_kl_tp;
#endif

/* s + k += v as a double-length sum (TwoSum into s, its error into k; Ogita, Rump and Oishi's
 * Sum2, as accurate as twice the working precision), masked as vkadd (body.h). */
static inline __attribute__((always_inline)) void FN(kl_vsum2)(xv_d *s, xv_d *k, xv_d v,
                                                                const xv_i *live)
{
    xv_d t, e;
    XK_KL_TWO_SUM(*s, v, t, e);
    *k = live ? XV(sel)(*live, *k + e, *k) : *k + e;
    *s = live ? XV(sel)(*live, t, *s) : t;
}

/* The weight of a logit and its scaled log: (v - m) / temp = hi + lo, with v - m <= 0 carried
 * exactly (TwoSum) and divided with its exact remainder (Dekker's product with Veltkamp's split,
 * no fma); 0 where v equals m (a +inf maximum too), -inf below a +inf maximum or at a -inf
 * logit. Returns exp(hi) (1 + lo). */
static inline __attribute__((always_inline)) xv_d FN(kl_logit)(xv_d v, xv_d m,
                                                               const xk_kl_tp *tp, xv_d *hi,
                                                               xv_d *lo)
{
    const xv_d zero = XV(splat)(0.0), ninf = XV(splat)(-HUGE_VAL);
    const xv_d d = v - m;
    const xv_i tie = XV_EQ(v, m);
#if XK_WIDEN
    /* float logits: see the header (no low parts; exp for float results); below finite
       maxima, d is 0 exactly where v equals its lane's (the test is loop-invariant) */
    (void)ninf;
    xv_d h = XV(any)(XV_NE(m - m, zero)) ? XV(sel)(tie, zero, d) : d;
    if (tp->scale) h = h * tp->inv;
    *hi = h;
    *lo = zero;
    return XV(exp_short)(h);
#else
    xv_d h = XV(sel)(tie, zero, d);
    const xv_d bp = d - v;
    const xv_d e = (v - (d - bp)) - (bp + m);
    xv_d l = XV(sel)(tie | ~XV_GT(d, ninf), zero, e);
    if (tp->scale) {
        /* h / temp as h * (1 / temp), rounded or not: the remainder is exact either way */
        const double split = 134217729.0; /* 2^27 + 1 */
        const xv_d qt = h * tp->inv;
        const xv_d ta = split * qt, ah = ta - (ta - qt), al = qt - ah;
        const xv_d P = qt * tp->temp;
        const xv_d E = ((ah * tp->bh - P) + ah * tp->bl + al * tp->bh) + al * tp->bl;
        const xv_d r = (h - P) - E; /* h - qt temp, exact */
        const xv_d rk = tp->temp_ok ? XV(sel)(XV_GT(qt, -0x1p900), r, zero) : zero;
        l = XV(sel)(XV_GT(qt, ninf), (rk + l) * tp->inv, zero);
        h = qt;
    }
    *hi = h;
    *lo = l;
    const xv_d W = XV(exp)(h);
    return W + W * l;
#endif
}

/* An entry's term F v of the first sum (kl_term's F x, the direct form's F u): inf where v =
 * +inf (q_c = 0 where the target has mass, however small its p_c, even where it underflowed to
 * 0 from logits), else 0 where F = 0. The direct form's had been 0 wherever F = 0: float
 * teacher logits 750 below their maximum against a student's probability of 0 gave a finite
 * divergence (and an infinite gradient). */
static inline __attribute__((always_inline)) xv_d FN(kl_fu)(xv_d F, xv_d uh)
{
    const xv_d inf = XV(splat)(HUGE_VAL);
    return XV(sel)(XV_EQ(uh, inf), inf, XV(sel)(XV_EQ(F, 0.0), XV(splat)(0.0), F * uh));
}

/* The weight of a probability (itself) and its log (hi; lo = 0). */
static inline __attribute__((always_inline)) xv_d FN(kl_prob)(xv_d v, xv_d *hi, xv_d *lo)
{
    *hi = XV(log_kernel)(v, XV(splat)(0.0));
    *lo = XV(splat)(0.0);
    return v;
}

/* u = a - b as a double-double (uh, ul); ul = 0 where uh is infinite or NaN. */
static inline __attribute__((always_inline)) void FN(kl_u)(xv_d ah, xv_d al, xv_d bh, xv_d bl,
                                                           xv_d *uh, xv_d *ul)
{
#if XK_WIDEN
    (void)al, (void)bl;
    *uh = ah - bh;
    *ul = XV(splat)(0.0);
#else
    xv_d u, ue;
    XK_KL_TWO_SUM(ah, -bh, u, ue);
    const xv_d l = ue + (al - bl);
    *uh = u;
    *ul = XV(sel)(XV_EQ(l, l), l, XV(splat)(0.0));
#endif
}

/* The terms of one entry for the shift k = kh + kl (E0 = exp(-k)): x = (u - kh) - kl, its
 * expm1 em, the first sum's term F x (returned; inf where x = +inf: q_c = 0 where the target
 * has mass, however small its p_c, even where it underflowed to 0 from logits) and the second
 * sum's term tm = G expm1(x), as F exp(-k) - G where x > 1 (no cancellation). */
static inline __attribute__((always_inline)) xv_d FN(kl_term)(xv_d F, xv_d G, xv_d uh, xv_d ul,
                                                              xv_d kh, xv_d kl, xv_d E0,
                                                              xv_d *x_out, xv_d *em_out,
                                                              xv_d *tm)
{
    const xv_d zero = XV(splat)(0.0);
    xv_d v, ve;
    XK_KL_TWO_SUM(uh, -kh, v, ve);
    const xv_d lo = (ve + ul) - kl;
    xv_d x = v + XV(sel)(XV_EQ(lo, lo), lo, zero); /* lo is NaN where v is infinite */
    /* -inf on both sides: no mass */
    x = XV(sel)(XV_NE(x, x) & XV_EQ(F, 0.0) & XV_EQ(G, 0.0), zero, x);
#if XK_WIDEN
    const xv_d em = XV(expm1_short)(x);
#else
    const xv_d em = XV(expm1)(x);
#endif
    *x_out = x;
    *em_out = em;
    *tm = XV(sel)(XV_GT(x, 1.0), F * E0 - G, G * em);
    return FN(kl_fu)(F, x);
}

/* Float results (XK_WIDEN) take the gradient's per-row divisors (SF, SG, D below) as their
 * reciprocals and multiply: one rounding more, 2^-53 of an entry, far under float's, where
 * three divisions an entry had been most of the time of the tiles' gradient (as kl_row_pass's
 * rF, rG). XK_KL_DIV(a, d): a / d, or a times d's reciprocal for float results. */
#if XK_WIDEN
#define XK_KL_DIV(a, d) ((a) * (d))
#define XK_KL_DIVISOR(d) (1.0 / (d))
#else
#define XK_KL_DIV(a, d) ((a) / (d))
#define XK_KL_DIVISOR(d) (d)
#endif

/* q_c - p_c = q_c (Y - expm1(x_c)) / (1 + Y) for teacher logits where x_c <= 1, D = SG (1 + Y)
 * (XK_KL_DIVISOR): kl_grad_logits's form, and the entries kl_rows_impl rewrites after the expm1
 * pass. */
static inline __attribute__((always_inline)) xv_d FN(kl_grad_near)(xv_d G, xv_d Y, xv_d em,
                                                                   xv_d D)
{
    return XK_KL_DIV(G * (Y - em), D);
}

/* The gradient entries (of temp^2 KL, times k) for student logits: temp (P q_c - p_c), and for
 * teacher logits, where x_c <= 1, q_c - p_c = q_c (Y - expm1(x_c)) / (1 + Y) (from
 * p_c = q_c e^x_c / (1 + Y)), exact to a few ulp of itself where p_c and q_c agree to many
 * digits. D = SG (1 + Y); SF, SG and D as XK_KL_DIVISOR makes them. */
static inline __attribute__((always_inline)) xv_d FN(kl_grad_logits)(
    xv_d F, xv_d G, xv_d x, xv_d em, xv_d SF, xv_d SG, xv_d P, xv_d Y, xv_d D, xv_d k, int pl)
{
    const xv_d pc = XK_KL_DIV(F, SF), qc = XK_KL_DIV(G, SG);
    xv_d gc = P * qc - pc;
    if (pl) gc = XV(sel)(XV_LE(x, 1.0), FN(kl_grad_near)(G, Y, em, D), gc);
    return k * gc;
}

/* p / q for p = exp(ah + al) / SF (logits) and a probability q: both scaled by 2^k so that
 * q 2^k is in [1, 2), p 2^k = exp(h) (1 + l) with h + l = ah + k ln2 - log SF carried as a
 * double-double (k ln2 with ln2's 35-bit head exact): a ratio of subnormal or underflowed
 * p and q keeps its digits. 0 where ah = -inf (p = 0), inf where q = 0 < p. */
static inline double FN(kl_ratio)(double ah, double al, double logSF, double q)
{
    if (!(ah > -HUGE_VAL)) return 0.0;
    if (q == 0.0) return HUGE_VAL;
    const double ln2hi = 32.0 * XM_EXP_LN2HIN, ln2lo = 32.0 * XM_EXP_LN2LON;
    double q1 = q < 0x1p-1022 ? q * 0x1p64 : q;
    int k0 = q < 0x1p-1022 ? 64 : 0;
    uint64_t bits;
    memcpy(&bits, &q1, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023; /* q1 = m 2^e, m in [1, 2) */
    uint64_t sb = (uint64_t)(1023 - e) << 52;
    double scale;
    memcpy(&scale, &sb, sizeof scale);
    double qs = q1 * scale; /* exact */
    double kd = (double)(k0 - e);
    double h1, e1, h, e2;
    XK_KL_TWO_SUM(ah, kd * ln2hi, h1, e1);
    XK_KL_TWO_SUM(h1, -logSF, h, e2);
    double l = ((e1 + e2) + al) + kd * ln2lo;
    double ex = xk_exp(h);
    return (ex + ex * l) / qs;
}

/* The gradient entries (times k) for probabilities q: -temp^2 p_c / q_c, from logits targets,
 * where p_c or q_c is below the normal range, from their logs with exact scaling (kl_ratio, lane
 * by lane, with the target's scaled logs ah, al and log SF). */
static inline __attribute__((always_inline)) xv_d FN(kl_grad_probs)(xv_d F, xv_d G, xv_d ah,
                                                                    xv_d al, xv_d SF, xv_d logSF,
                                                                    xv_d k, int pl)
{
    const xv_d zero = XV(splat)(0.0);
    const xv_d pc = F / SF;
    xv_d ratio = XV(sel)(XV_EQ(pc, 0.0), zero, pc / G);
    if (pl) {
        const xv_i tiny = XV_LT(F, 0x1p-1000) | XV_LT(G, 0x1p-1000);
        if (XV(any)(tiny))
            for (int l = 0; l < 8; l++)
                if (tiny[l]) ratio[l] = FN(kl_ratio)(ah[l], al[l], logSF[l], G[l]);
    }
    return XV(sel)(XV_EQ(ratio, 0.0), zero, -(k * ratio));
}

/* The maxima of eight lanes of logits, and the lanes' counts of NaN and +inf entries. */
static inline __attribute__((always_inline)) void FN(kl_vmax)(xv_d v, xv_d *m, xv_d *nan,
                                                              xv_d *inf)
{
    const xv_d one = XV(splat)(1.0), zero = XV(splat)(0.0);
    *nan += XV(sel)(XV_NE(v, v), one, zero);
    *inf += XV(sel)(XV_EQ(v, HUGE_VAL), one, zero);
    *m = XV(sel)(XV_GT(v, *m), v, *m);
}

/* u = a - b for logits on both sides: for float logits from each side's difference to its
 * maximum and one rounding, an ulp of itself, where ah - bh (uh, given) carries an ulp of each
 * quotient by a temperature (the gradient q (Y - expm1(x)) / D needs x to an ulp of itself); uh
 * itself where an entry or a maximum is infinite, and for double logits. Two floats' difference
 * is exact in double where their exponents are at most 29 apart: v - m is, at every entry whose
 * weight exp((v - m) / temp) is not 0 (or the entry's own rounding is far below its size). The
 * two sides' differences first, (vp - vq) - (mp - mq), had lost the student's logits beside a
 * teacher's of 1e20 (a loss of 0 for p = (1/2, 1/2, 0), a gradient of 1/2 for 1). */
static inline __attribute__((always_inline)) xv_d FN(kl_u_logits)(xv_d vp, xv_d vq, xv_d mp,
                                                                  xv_d mq, const xk_kl_tp *tp,
                                                                  xv_d uh)
{
#if XK_WIDEN
    const xv_d du = (vp - mp) - (vq - mq);
    /* du is finite exactly where vp, vq, mp and mq are (two floats' difference does not
       overflow in double) */
    const xv_i fin = XV_EQ(du - du, 0.0);
    return XV(sel)(fin, tp->scale ? du * tp->inv : du, uh);
#else
    (void)vp, (void)vq, (void)mp, (void)mq, (void)tp;
    return uh;
#endif
}

/* The weights F, G of eight entries of each side (logits or probabilities), the difference of
 * their logs u = uh + ul and the target's logs (ah, al), for the tiles (kl_side and kl_u_pass
 * one after the other: the same values, in about 1.5x the time there). A side of probabilities
 * adds its weights to its double-length sum (the sum minus 1 is a term of the loss); a side of
 * logits adds them to its compensated sum. */
static inline __attribute__((always_inline)) void FN(kl_weights)(
    xv_d vp, xv_d vq, xv_d mp, xv_d mq, const xk_kl_tp *tp, int pl, int ql, xv_d sums[4],
    xv_d *F, xv_d *G, xv_d *uh, xv_d *ul, xv_d *ah, xv_d *al)
{
    xv_d bh, bl;
    *F = pl ? FN(kl_logit)(vp, mp, tp, ah, al) : FN(kl_prob)(vp, ah, al);
    *G = ql ? FN(kl_logit)(vq, mq, tp, &bh, &bl) : FN(kl_prob)(vq, &bh, &bl);
    if (!pl) FN(kl_vsum2)(&sums[0], &sums[1], *F, NULL);
    else FN(vkadd)(&sums[0], &sums[1], *F, NULL);
    if (!ql) FN(kl_vsum2)(&sums[2], &sums[3], *G, NULL);
    else FN(vkadd)(&sums[2], &sums[3], *G, NULL);
    FN(kl_u)(*ah, *al, bh, bl, uh, ul);
    if (pl && ql) *uh = FN(kl_u_logits)(vp, vq, mp, mq, tp, *uh);
}

/* A row's double-length sum of probabilities (kl_vsum2's eight lanes) minus 1: exact for sums
 * in [0.5, 2]. */
static inline double FN(kl_sum2_m1)(xv_d s8, xv_d k8)
{
    double s = 0.0, k = 0.0;
    for (int j = 0; j < 8; j++) {
        double e;
        XK_KL_TWO_SUM(s, s8[j], s, e);
        k += e + k8[j];
    }
    return (s - 1.0) + k;
}

/* ------------------------------------------------------------------ rows of many classes */

/* Entries c .. c + 7 of a row of C (the ones beyond C are pad), as doubles: from a contiguous
 * row x, or from d, a copy of the row padded to a multiple of eight. */
static inline __attribute__((always_inline)) xv_d FN(kl_get)(const T *x, const double *d,
                                                             ptrdiff_t c, ptrdiff_t C, T pad)
{
    if (d) return XV(load)(d + c);
    if (c + 8 <= C) return XK_LOADV(x + c);
    T v[8];
    for (int l = 0; l < 8; l++) v[l] = c + l < C ? x[c + l] : pad;
    return XK_LOADV(v);
}

/* The maximum of a row of logits, or NaN where the row has no distribution (a NaN, every entry
 * -inf, several +inf); pad entries are -inf. A contiguous row takes the loss kernels' maximum
 * pass (row_max_s, row_max: NaN if the row holds one), a copied one kl_vmax's lanes. *nan_out
 * (if not NULL) is set where the row holds a NaN. */
static inline double FN(kl_row_max)(const T *x, const double *d, ptrdiff_t C, int *nan_out)
{
    double mm;
    if (!d) {
        mm = FN(max_of_row)(x, C, NULL);
        if (mm != mm && nan_out) *nan_out = 1;
        if (mm == HUGE_VAL) { /* several +inf entries: no distribution */
            ptrdiff_t n = 0;
            for (ptrdiff_t c = 0; c < C; c++) n += (double)x[c] == HUGE_VAL;
            if (n > 1) return NAN;
        }
        return mm == -HUGE_VAL ? NAN : mm;
    }
    xv_d m = XV(splat)(-HUGE_VAL), nan = XV(splat)(0.0), inf = nan;
    for (ptrdiff_t c = 0; c < C; c += 8)
        FN(kl_vmax)(FN(kl_get)(x, d, c, C, (T)-HUGE_VAL), &m, &nan, &inf);
    double nn = 0.0, ni = 0.0;
    mm = -HUGE_VAL;
    for (int j = 0; j < 8; j++) {
        mm = m[j] > mm ? m[j] : mm;
        nn += nan[j];
        ni += inf[j];
    }
    if (nn > 0.0 && nan_out) *nan_out = 1;
    return (nn > 0.0 || mm == -HUGE_VAL || ni > 1.0) ? NAN : mm;
}

/* The lanes of a row's chunk at c that hold entries (c + l < C). */
static inline __attribute__((always_inline)) xv_i FN(kl_live)(ptrdiff_t c, ptrdiff_t C)
{
    const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    return XV_LT(lane, (xv_i){0} + (C - c));
}

/* One pass for the shift kh + kl over a row's stored F, G, uh, ul (ul NULL: 0): A = sum F x,
 * B = sum tm (both compensated), S = sum |F x| (an estimate); x and expm1(x) into X, E if X
 * is not NULL; with go, the gradient written as go says and expm1(x) into E. Not inlined, as
 * kl_side_logits. */
static __attribute__((noinline)) void FN(kl_row_pass)(ptrdiff_t C, const double *Fw,
                                                      const double *Gw, const double *Uh,
                                                      const double *Ul, double kh, double kl,
                                                      double *X, double *E, double *A_out,
                                                      double *B_out, double *S_out,
                                                      xk_kl_go *go)
{
    const xv_d zero = XV(splat)(0.0), vkh = XV(splat)(kh), vkl = XV(splat)(kl);
    const xv_d E0 = XV(splat)(xk_exp(-(kh + kl)));
    const xv_d vk = XV(splat)(go ? go->k : 0.0), rF = XV(splat)(go ? go->rF : 0.0),
               rG = XV(splat)(go ? go->rG : 0.0);
    T *g = go ? (T *)go->g : NULL;
    xv_d emin = XV(splat)(HUGE_VAL);
    xv_d a = zero, ak = zero, bs = zero, bk = zero, S = zero;
    /* four vectors a step, their terms added pairwise and then to the compensated sums (the
       entries past C are pad: F = G = 0, so x = 0 and both terms 0) */
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 32) {
        xv_d P[4], M[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t c = c0 + 8 * k;
            P[k] = M[k] = zero;
            if (c >= C) continue;
            xv_d x, em;
            const xv_d F = XV(load)(Fw + c), G = XV(load)(Gw + c);
            P[k] = FN(kl_term)(F, G, XV(load)(Uh + c), Ul ? XV(load)(Ul + c) : zero, vkh, vkl,
                               E0, &x, &em, &M[k]);
            if (X) XV(store)(X + c, x);
            if (X || go) XV(store)(E + c, em);
            S += XV(sel)(XV_LT(P[k], 0.0), -P[k], P[k]);
            if (go) {
                /* kl_grad_logits with Y = 0: -q expm1(x) where x <= 1, else q - p */
                const xv_d qc = G * rG;
                const xv_i near = XV_LE(x, 1.0) & XV_GT(G, 0.0);
                const xv_d gv = vk * XV(sel)(XV_LE(x, 1.0), -(qc * em), qc - F * rF);
                const xv_d aem = XV(sel)(XV_LT(em, 0.0), -em, em);
                emin = XV(sel)(near & XV_LT(aem, emin), aem, emin);
                if (go->cs == 1 && c + 8 <= C) XK_STOREV(g + c, gv);
                else
                    for (int l = 0; l < 8 && c + l < C; l++) g[(c + l) * go->cs] = (T)gv[l];
            }
        }
        FN(vkadd)(&a, &ak, (P[0] + P[1]) + (P[2] + P[3]), NULL);
        FN(vkadd)(&bs, &bk, (M[0] + M[1]) + (M[2] + M[3]), NULL);
    }
    double s = 0.0, em1 = HUGE_VAL;
    for (int j = 0; j < 8; j++) {
        s += S[j];
        em1 = emin[j] < em1 ? emin[j] : em1;
    }
    if (go) go->emin = em1;
    *A_out = FN(lanes_sum)(a, ak);
    *B_out = FN(lanes_sum)(bs, bk);
    *S_out = s;
}

/* F |u - k| (0 where F = 0): SF times a term of the scale sum_c p_c |log p_c - log q_c| of
 * the direct form's error (u - k = log p - log q up to the rounding of k) */
static inline __attribute__((always_inline)) xv_d FN(kl_scale_term)(xv_d F, xv_d u, xv_d k)
{
    const xv_d zero = XV(splat)(0.0), d = u - k;
    return XV(sel)(XV_EQ(F, 0.0), zero, F * XV(sel)(XV_LT(d, 0.0), -d, d));
}

/* SF times the scale of a row (classes in the lanes) from its stored F and u, to a few ulp of
 * float. */
static inline double FN(kl_scale)(ptrdiff_t C, const double *Fw, const double *Uh, double k)
{
    const xv_d vk = XV(splat)(k);
    xv_d S = XV(splat)(0.0);
    for (ptrdiff_t c = 0; c < C; c += 8)
        S += FN(kl_scale_term)(XV(load)(Fw + c), XV(load)(Uh + c), vk);
    double s = 0.0;
    for (int j = 0; j < 8; j++) s += S[j];
    return s;
}

/* A strided row copied to d, contiguous and padded with pad to a multiple of eight. */
static inline void FN(kl_copy)(const T *x, ptrdiff_t cs, ptrdiff_t C, double pad, double *d)
{
    ptrdiff_t c = 0;
    for (; c < C; c++) d[c] = (double)x[c * cs];
    for (; c & 7; c++) d[c] = pad;
}

/* One side of a row (logits x or probabilities, as kl_get reads them; m the maximum of
 * logits): its weights into W, their logs into H, L (L: double input only, else 0; kl_logit,
 * kl_prob), and the weights added to the double-length sum s + k (probabilities; the last
 * vector masked where C is not a multiple of eight) or, four vectors pairwise, to the
 * compensated sum s, k (logits; pad entries weigh 0). */
static inline __attribute__((always_inline)) void FN(kl_side)(const T *x, const double *d,
                                                              T pad, xv_d m,
                                                              const xk_kl_tp *tp, int logits,
                                                              ptrdiff_t C, double *W, double *H,
                                                              double *L, xv_d *s, xv_d *k)
{
    const xv_d zero = XV(splat)(0.0);
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 32) {
        xv_d Ws[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const ptrdiff_t c = c0 + 8 * j;
            Ws[j] = zero;
            if (c >= C) continue;
            const xv_d v = FN(kl_get)(x, d, c, C, pad);
            xv_d h, l;
            if (logits) {
                Ws[j] = FN(kl_logit)(v, m, tp, &h, &l);
            } else {
                const xv_i lv = FN(kl_live)(c, C);
                Ws[j] = FN(kl_prob)(v, &h, &l);
                FN(kl_vsum2)(s, k, Ws[j], c + 8 <= C ? NULL : &lv);
            }
            XV(store)(W + c, Ws[j]);
            XV(store)(H + c, h);
            if (!XK_WIDEN) XV(store)(L + c, l);
        }
        if (logits) FN(vkadd)(s, k, (Ws[0] + Ws[1]) + (Ws[2] + Ws[3]), NULL);
    }
}

/* kl_side for each kind of side, compiled as functions of their own: inlined in the loop over
 * rows, their vectors went to the stack (GCC allocates the registers of a function as a whole;
 * the float KL divergence at 1,000 classes took twice the time). */
static __attribute__((noinline)) void FN(kl_side_logits)(const T *x, const double *d, T pad,
                                                         xv_d m, const xk_kl_tp *tp,
                                                         ptrdiff_t C, double *W, double *H,
                                                         double *L, xv_d *s, xv_d *k)
{
    FN(kl_side)(x, d, pad, m, tp, 1, C, W, H, L, s, k);
}

static __attribute__((noinline)) void FN(kl_side_probs)(const T *x, const double *d, T pad,
                                                        ptrdiff_t C, double *W, double *H,
                                                        double *L, xv_d *s, xv_d *k)
{
    FN(kl_side)(x, d, pad, XV(splat)(0.0), NULL, 0, C, W, H, L, s, k);
}

/* The difference of a row's logs u = (Ah, Al) - (Bh, Bl) into Uh, Ul (kl_u; Ul: double input
 * only; for logits on both sides, kl_u_logits from the entries p, q and maxima mp, mq) and,
 * where fu is not NULL, the direct form's sum of F u (0 where F = 0) into the compensated sum
 * fu, fuk, four vectors pairwise. Not inlined, as kl_side_logits. */
static __attribute__((noinline)) void FN(kl_u_pass)(
    const T *p, const double *dp, T ppad, const T *q, const double *dq, T qpad, xv_d mp, xv_d mq,
    const xk_kl_tp *tp, int logits, ptrdiff_t C, const double *Fw, const double *Ah,
    const double *Al, const double *Bh, const double *Bl, double *Uh, double *Ul, xv_d *fu,
    xv_d *fuk)
{
    const xv_d zero = XV(splat)(0.0);
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 32) {
        xv_d FU[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const ptrdiff_t c = c0 + 8 * j;
            FU[j] = zero;
            if (c >= C) continue;
            xv_d uh, ul;
            FN(kl_u)(XV(load)(Ah + c), XK_WIDEN ? zero : XV(load)(Al + c), XV(load)(Bh + c),
                     XK_WIDEN ? zero : XV(load)(Bl + c), &uh, &ul);
            if (logits)
                uh = FN(kl_u_logits)(FN(kl_get)(p, dp, c, C, ppad), FN(kl_get)(q, dq, c, C, qpad),
                                     mp, mq, tp, uh);
            if (fu) {
                const xv_d F = XV(load)(Fw + c);
                FU[j] = FN(kl_fu)(F, uh);
            }
            XV(store)(Uh + c, uh);
            if (!XK_WIDEN) XV(store)(Ul + c, ul); /* 0 for float input: not stored */
        }
        if (fu) FN(vkadd)(fu, fuk, (FU[0] + FU[1]) + (FU[2] + FU[3]), NULL);
    }
}

#if XK_WIDEN
/* The entries c .. c + 7 of a row of float logits on both sides (contiguous; pad -inf beyond
 * C): their weights F, G (kl_logit) and the direct form's term F u (kl_u_pass's), zero where
 * c >= C, as kl_side_logits and kl_u_pass compute them. */
static inline __attribute__((always_inline)) void FN(kl_fused_v)(const T *p, const T *q,
                                                                 xv_d mp, xv_d mq,
                                                                 const xk_kl_tp *tp,
                                                                 ptrdiff_t c, ptrdiff_t C,
                                                                 xv_d *F, xv_d *G, xv_d *FU)
{
    const xv_d zero = XV(splat)(0.0);
    *F = *G = *FU = zero;
    if (c >= C) return;
    const xv_d vp = FN(kl_get)(p, NULL, c, C, (T)-HUGE_VAL);
    const xv_d vq = FN(kl_get)(q, NULL, c, C, (T)-HUGE_VAL);
    xv_d ah, al, bh, bl, uh, ul;
    *F = FN(kl_logit)(vp, mp, tp, &ah, &al);
    *G = FN(kl_logit)(vq, mq, tp, &bh, &bl);
    FN(kl_u)(ah, al, bh, bl, &uh, &ul);
    uh = FN(kl_u_logits)(vp, vq, mp, mq, tp, uh);
    *FU = FN(kl_fu)(*F, uh);
}

/* The sums of the direct form of a row of float logits on both sides (contiguous), in one pass
 * that stores nothing: the weights' compensated sums (sums[0..1] the target's, sums[2..3] the
 * prediction's) and the sum of F u (fu, fuk), each added as kl_side_logits and kl_u_pass add
 * them (four vectors pairwise per 32 entries), so with the same bits. A forward pass needs
 * nothing else where the divergence is at least XK_KL_DIRECT; kl_side, kl_u_pass and their
 * stores (five doubles an entry, beyond L1 at 1,000 classes) took about half of its time. Not
 * inlined, as kl_side_logits. */
static __attribute__((noinline)) void FN(kl_fused)(const T *p, const T *q, xv_d mp, xv_d mq,
                                                   const xk_kl_tp *tp, ptrdiff_t C,
                                                   xv_d sums[4], xv_d *fu, xv_d *fuk,
                                                   const T *pn, const T *qn)
{
    /* the sums in locals, which GCC keeps in registers (through the pointers, each addition
       was a load and a store) */
    xv_d s0 = sums[0], s1 = sums[1], s2 = sums[2], s3 = sums[3], f0 = *fu, f1 = *fuk;
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 32) {
        /* the next rows (pn, qn: NULL for none), whose maxima come next, into the cache
           meanwhile (their maxima's passes waited for memory: a sixth of the time at 8,192
           x 1,000 float32) */
        if (pn)
            for (ptrdiff_t c = c0; c < c0 + 32 && c < C; c += 64 / (ptrdiff_t)sizeof(T)) {
                __builtin_prefetch(pn + c, 0, 3);
                __builtin_prefetch(qn + c, 0, 3);
            }
        xv_d F0, G0, U0, F1, G1, U1;
        FN(kl_fused_v)(p, q, mp, mq, tp, c0, C, &F0, &G0, &U0);
        FN(kl_fused_v)(p, q, mp, mq, tp, c0 + 8, C, &F1, &G1, &U1);
        const xv_d F01 = F0 + F1, G01 = G0 + G1, U01 = U0 + U1;
        FN(kl_fused_v)(p, q, mp, mq, tp, c0 + 16, C, &F0, &G0, &U0);
        FN(kl_fused_v)(p, q, mp, mq, tp, c0 + 24, C, &F1, &G1, &U1);
        FN(vkadd)(&s0, &s1, F01 + (F0 + F1), NULL);
        FN(vkadd)(&s2, &s3, G01 + (G0 + G1), NULL);
        FN(vkadd)(&f0, &f1, U01 + (U0 + U1), NULL);
    }
    sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3, *fu = f0, *fuk = f1;
}
#endif

static inline __attribute__((always_inline)) void FN(kl_rows_impl)(xk_kl *b,
                                                                   const xk_kl_tp *tp,
                                                                   const int pl, const int ql)
{
    const ptrdiff_t C = b->C, Cp = (C + 7) & ~(ptrdiff_t)7;
    const double temp = b->temperature;
    const int grad_a = b->grad && pl && !ql; /* the gradient needs the target's logs */
    const int direct = XK_WIDEN; /* the direct form for float results (XK_KL_DIRECT) */
    /* the gradient of student logits against teacher logits takes the expm1 pass (whatever
       form the loss takes), and for float results is written in it (kl_row_pass's go) */
    const int careful_grad = b->grad && pl && ql;
    double *Fw = b->scratch, *Gw = Fw + Cp, *Uh = Gw + Cp, *Ul = Uh + Cp, *X = Ul + Cp,
           *E = X + Cp, *Ah = E + Cp, *Al = Ah + Cp, *Bh = Al + Cp, *Bl = Bh + Cp,
           *Dp = Bl + Cp, *Dq = Dp + Cp;
    const T ppad = pl ? (T)-HUGE_VAL : (T)0.0, qpad = ql ? (T)-HUGE_VAL : (T)0.0;
    xk_sum bsum = {{0}, {0}, {0}};
    /* kl_fused is tried where the row before kept the direct form: rows of nearly equal
       distributions (divergences below XK_KL_DIRECT) go the long way, and a pass of kl_fused
       before it took 1.7x their time; the choice changes no bits */
    int fuse = 1;
    (void)fuse; /* (read by float rows only) */
    for (ptrdiff_t r = 0; r < b->R; r++) {
        const T *p = (const T *)b->p + r * b->p_rs;
        const T *q = (const T *)b->q + r * b->q_rs;
        T *g = b->grad ? (T *)b->grad + r * b->g_rs : NULL;
        const double w = b->row_weight ? b->row_weight[r] : 1.0;
        const double *dp = NULL, *dq = NULL;
        if (b->p_cs != 1 && (pl || w != 0.0)) {
            FN(kl_copy)(p, b->p_cs, C, (double)ppad, Dp);
            dp = Dp;
        }
        /* the target's maximum, also in rows of weight 0 (a NaN target logit is an error) */
        const xv_d mp = XV(splat)(pl ? FN(kl_row_max)(p, dp, C, &b->p_nan) : 0.0);
        if (w == 0.0) { /* a row of weight 0 contributes 0, whatever its values */
            if (b->row_out) b->row_out[r] = 0.0;
            if (g)
                for (ptrdiff_t c = 0; c < C; c++) g[c * b->g_cs] = (T)0.0;
            continue;
        }
        if (b->q_cs != 1) {
            FN(kl_copy)(q, b->q_cs, C, (double)qpad, Dq);
            dq = Dq;
        }
        /* (a NaN student logit makes its row NaN, not an error) */
        const xv_d mq = XV(splat)(ql ? FN(kl_row_max)(q, dq, C, NULL) : 0.0);
#if XK_WIDEN
        if (pl && ql && !g && !dp && !dq && fuse) {
            /* the direct form in one pass (kl_fused), kept where the divergence is at least
               XK_KL_DIRECT; elsewhere the row goes the way below, which gives these bits too
               where it keeps the direct form */
            const xv_d z = XV(splat)(0.0);
            xv_d s4[4] = {z, z, z, z}, su = z, suk = z;
            const int next = r + 1 < b->R;
            FN(kl_fused)(p, q, mp, mq, tp, C, s4, &su, &suk, next ? p + b->p_rs : NULL,
                         next ? q + b->q_rs : NULL);
            const double SF = FN(lanes_sum)(s4[0], s4[1]), SG = FN(lanes_sum)(s4[2], s4[3]);
            const double kl = FN(lanes_sum)(su, suk) / SF - 1.0 * (xk_log(SF) - xk_log(SG));
            fuse = kl >= XK_KL_DIRECT;
            if (fuse) {
                const double value = w * ((temp * temp) * kl);
                if (b->row_out) b->row_out[r] = value;
                FN(sum_add)(&bsum, (int)(r & 7), value);
                continue;
            }
        }
#endif
        /* each side's weights, logs and sums (kl_side), then the difference of the logs and
           the direct form's sum of F u (kl_u_pass): loops of their own, whose vectors fit in
           AVX2's sixteen registers */
        const xv_d zero = XV(splat)(0.0);
        xv_d sums[4] = {zero, zero, zero, zero}, fu = zero, fuk = zero;
        if (pl) FN(kl_side_logits)(p, dp, ppad, mp, tp, C, Fw, Ah, Al, &sums[0], &sums[1]);
        else FN(kl_side_probs)(p, dp, ppad, C, Fw, Ah, Al, &sums[0], &sums[1]);
        if (ql) FN(kl_side_logits)(q, dq, qpad, mq, tp, C, Gw, Bh, Bl, &sums[2], &sums[3]);
        else FN(kl_side_probs)(q, dq, qpad, C, Gw, Bh, Bl, &sums[2], &sums[3]);
        FN(kl_u_pass)(p, dp, ppad, q, dq, qpad, mp, mq, tp, pl && ql, C, Fw, Ah, Al, Bh, Bl, Uh,
                      Ul, direct ? &fu : NULL, &fuk);
        const double SF = pl ? FN(lanes_sum)(sums[0], sums[1]) : 1.0;
        const double SG = ql ? FN(lanes_sum)(sums[2], sums[3]) : 1.0;
        const double Pm1 = pl ? 0.0 : FN(kl_sum2_m1)(sums[0], sums[1]);
        const double Qm1 = ql ? 0.0 : FN(kl_sum2_m1)(sums[2], sums[3]);
        const double logSF = pl ? xk_log(SF) : 0.0, logSG = ql ? xk_log(SG) : 0.0;
        const double kh = logSF - logSG;
        const double P = pl ? 1.0 : 1.0 + Pm1;
        double kl = NAN, Y = 0.0;
        if (direct) {
            /* the direct form, kept where its error is below 2^-30 of the divergence's scale
               (see XK_KL_DIRECT) */
            kl = FN(lanes_sum)(fu, fuk) / SF - P * kh;
            if (!(kl >= XK_KL_DIRECT) && kl == kl &&
                !(FN(kl_scale)(C, Fw, Uh, kh) / SF >= XK_KL_DIRECT))
                kl = NAN;
        }
        const double kgrad = (w * temp) / b->grad_div;
        int written = 0; /* the gradient written by the expm1 pass */
        if (kl != kl || careful_grad) {
            double *Xs = g && ql ? X : NULL;
            double A, B, Sabs;
            const double *Uls = XK_WIDEN ? NULL : Ul;
            xk_kl_go go = {g, b->g_cs, kgrad, 1.0 / SF, 1.0 / SG, 0.0};
            xk_kl_go *gop = XK_WIDEN && careful_grad ? &go : NULL;
            FN(kl_row_pass)(C, Fw, Gw, Uh, Uls, kh, 0.0, gop ? NULL : Xs, E, &A, &B, &Sabs, gop);
            written = gop != NULL;
            Y = Qm1 + B / SG;
            if (Sabs / SF < 0x1p-20) {
                /* Nearly equal distributions: the rounding of k (a few ulp of log SF, log SG)
                   is no longer small beside the divergence. k + lambda, with lambda from this
                   pass, is the exact shift to a few ulp of the divergence; pass again with it
                   (the gradient then by the loop below). */
                const double lambda = xk_log1p(Y) - xk_log1p(Pm1);
                FN(kl_row_pass)(C, Fw, Gw, Uh, Uls, kh, lambda, Xs, E, &A, &B, &Sabs, NULL);
                Y = Qm1 + B / SG;
                written = 0;
            }
            if (written && Y != 0.0 && !(go.emin > 0x1p30 * fabs(Y))) {
                /* the entries whose -q expm1(x) Y changes by more than 2^-30 of itself: the
                   gradient of kl_grad_logits */
                const xv_d vY = XV(splat)(Y), vD = XV(splat)(XK_KL_DIVISOR(SG * (1.0 + Y)));
                const xv_d lim = XV(splat)(0x1p30 * fabs(Y)), vk = XV(splat)(kgrad);
                for (ptrdiff_t c = 0; c < C; c += 8) {
                    const xv_d em = XV(load)(E + c), G = XV(load)(Gw + c);
                    const xv_i fix = XV_LE(em, lim) & XV_GE(em, -lim) & XV_LT(em, 1.5) &
                        XV_GT(G, 0.0);
                    if (!XV(any)(fix)) continue;
                    const xv_d gv = vk * FN(kl_grad_near)(G, vY, em, vD);
                    for (int l = 0; l < 8 && c + l < C; l++)
                        if (fix[l]) g[(c + l) * b->g_cs] = (T)gv[l];
                }
            }
            const double kc = pl ? A / SF - xk_log1p(Y)
                                 : A / SF + P * (xk_log1p(Pm1) - xk_log1p(Y));
            if (kl != kl) kl = kc;
        }
        fuse = kl >= XK_KL_DIRECT;
        if (pl && ql && kl < 0.0) kl = 0.0; /* >= 0 for two distributions; NaN stays */
        const double value = w * ((temp * temp) * kl);
        if (b->row_out) b->row_out[r] = value;
        FN(sum_add)(&bsum, (int)(r & 7), value);
        if (!g || written) continue;
        const int unit = b->g_cs == 1;
        for (ptrdiff_t c = 0; c < C; c += 8) {
            xv_d gv;
            if (ql)
                gv = FN(kl_grad_logits)(XV(load)(Fw + c), XV(load)(Gw + c),
                                        pl ? XV(load)(X + c) : zero, pl ? XV(load)(E + c) : zero,
                                        XV(splat)(XK_KL_DIVISOR(SF)), XV(splat)(XK_KL_DIVISOR(SG)),
                                        XV(splat)(P), XV(splat)(Y),
                                        XV(splat)(XK_KL_DIVISOR(SG * (1.0 + Y))), XV(splat)(kgrad),
                                        pl);
            else
                gv = FN(kl_grad_probs)(XV(load)(Fw + c), XV(load)(Gw + c),
                                       grad_a ? XV(load)(Ah + c) : zero,
                                       grad_a && !XK_WIDEN ? XV(load)(Al + c) : zero,
                                       XV(splat)(SF),
                                       XV(splat)(pl ? xk_log(SF) : 0.0),
                                       XV(splat)((w * (temp * temp)) / b->grad_div), pl);
            if (unit && c + 8 <= C) XK_STOREV(g + c, gv);
            else
                for (int l = 0; l < 8 && c + l < C; l++) g[(c + l) * b->g_cs] = (T)gv[l];
        }
    }
    FN(sum_result)(&bsum, 1, &b->loss_sum, &b->loss_sum_small);
}

/* kl_rows_impl compiled for each kind of the two sides (logits or probabilities; at run time
   without XK_SPECIALIZE, body.h) */
static void FN(kl_rows)(xk_kl *b, const xk_kl_tp *tp)
{
#if XK_SPECIALIZE
    if (b->p_logits && b->q_logits) FN(kl_rows_impl)(b, tp, 1, 1);
    else if (b->p_logits) FN(kl_rows_impl)(b, tp, 1, 0);
    else if (b->q_logits) FN(kl_rows_impl)(b, tp, 0, 1);
    else FN(kl_rows_impl)(b, tp, 0, 0);
#else
    FN(kl_rows_impl)(b, tp, b->p_logits != 0, b->q_logits != 0);
#endif
}

/* ------------------------------------------------------------------ rows of few classes */

/* Eight rows r0 .. r0 + 7 at a time (the lanes), rows past the block's end repeating its last
 * row and left out of every result; per class c and lane the stored values at [8 c + lane]
 * (the entries themselves too, read once: rows_to_lanes). */
static void FN(kl_tiles)(xk_kl *b, const xk_kl_tp *tp)
{
    const ptrdiff_t C = b->C, R = b->R, n8 = 8 * C;
    const double temp = b->temperature;
    const int pl = b->p_logits, ql = b->q_logits;
    double *Fw = b->scratch, *Gw = Fw + n8, *Uh = Gw + n8, *Ul = Uh + n8, *X = Ul + n8,
           *E = X + n8, *Ah = E + n8, *Al = Ah + n8, *Vp = Al + n8, *Vq = Vp + n8;
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0), ninf = XV(splat)(-HUGE_VAL);
    const int direct = XK_WIDEN;                       /* as kl_rows_impl */
    const int careful_grad = b->grad && pl && ql;       /* the gradient takes X, E, Y */
    const int grad_a = b->grad && pl && !ql;            /* and the target's logs */
    xk_sum bsum = {{0}, {0}, {0}};
    for (ptrdiff_t r0 = 0; r0 < R; r0 += 8) {
        const ptrdiff_t nr = R - r0 < 8 ? R - r0 : 8;
        xv_i row;
        for (int l = 0; l < 8; l++) row[l] = l < nr ? r0 + l : R - 1;
        const xv_i ip = row * b->p_rs, iq = row * b->q_rs;
        const T *p = (const T *)b->p, *q = (const T *)b->q;
        /* rows of unit class stride: those of the gathers a few groups ahead prefetched, as
           FN(prob)'s */
        if (b->p_cs == 1) FN(prefetch_rows)(p, b->p_rs, C, r0 + XK_GATHER_AHEAD, 8, R, 0);
        if (b->q_cs == 1) FN(prefetch_rows)(q, b->q_rs, C, r0 + XK_GATHER_AHEAD, 8, R, 0);
        /* the entries (kept in Vp, Vq) and the maxima of the logits */
        xv_d mp = ninf, mq = ninf, np = zero, nq = zero, fp = zero, fq = zero;
        FN(rows_to_lanes)(p, ip, b->p_cs, C, Vp);
        FN(rows_to_lanes)(q, iq, b->q_cs, C, Vq);
        for (ptrdiff_t c = 0; c < C; c++) {
            const xv_d vp = XV(load)(Vp + 8 * c), vq = XV(load)(Vq + 8 * c);
            if (pl) FN(kl_vmax)(vp, &mp, &np, &fp);
            if (ql) FN(kl_vmax)(vq, &mq, &nq, &fq);
        }
        for (int l = 0; l < nr; l++)
            if (np[l] > 0.0) b->p_nan = 1;
        const xv_d nanv = XV(splat)(NAN);
        mp = XV(sel)(XV_GT(np, 0.0) | XV_EQ(mp, -HUGE_VAL) | XV_GT(fp, 1.0), nanv, mp);
        mq = XV(sel)(XV_GT(nq, 0.0) | XV_EQ(mq, -HUGE_VAL) | XV_GT(fq, 1.0), nanv, mq);
        xv_d sums[4] = {zero, zero, zero, zero}, fu = zero, fuk = zero;
        for (ptrdiff_t c = 0; c < C; c++) {
            const xv_d vp = XV(load)(Vp + 8 * c), vq = XV(load)(Vq + 8 * c);
            xv_d F, G, uh, ul, ah, al;
            FN(kl_weights)(vp, vq, mp, mq, tp, pl, ql, sums, &F, &G, &uh, &ul, &ah, &al);
            if (direct) FN(vkadd)(&fu, &fuk, FN(kl_fu)(F, uh), NULL);
            XV(store)(Fw + 8 * c, F);
            XV(store)(Gw + 8 * c, G);
            XV(store)(Uh + 8 * c, uh);
            if (!XK_WIDEN) XV(store)(Ul + 8 * c, ul); /* 0 for float logits: not stored */
            if (grad_a) {
                XV(store)(Ah + 8 * c, ah);
                XV(store)(Al + 8 * c, al);
            }
        }
        /* each lane's sums, in the order of the classes */
        xv_d SF = one, SG = one, Pm1 = zero, Qm1 = zero;
        if (pl) SF = sums[0] - sums[1];
        else Pm1 = (sums[0] - 1.0) + sums[1]; /* exact for sums in [0.5, 2] */
        if (ql) SG = sums[2] - sums[3];
        else Qm1 = (sums[2] - 1.0) + sums[3];
        const xv_d kh = XV(log_kernel)(SF, zero) - XV(log_kernel)(SG, zero);
        const xv_d P = pl ? one : one + Pm1;
        /* the direct form in the lanes where it is kept (as kl_rows_impl), the other form in
           the others, computed for all eight lanes if any needs it */
        xv_d kd = zero;
        xv_i keep = (xv_i){0};
        if (direct) {
            kd = (fu - fuk) / SF - P * kh;
            keep = XV_GE(kd, XK_KL_DIRECT);
            if (XV(any)(~keep)) {
                xv_d S = zero;
                for (ptrdiff_t c = 0; c < C; c++)
                    S += FN(kl_scale_term)(XV(load)(Fw + 8 * c), XV(load)(Uh + 8 * c), kh);
                keep = keep | (XV_GE(S / SF, XK_KL_DIRECT) & XV_EQ(kd, kd));
            }
        }
        xv_d A = zero, B = zero, Sabs = zero, Y = zero;
        for (int round = 0; round < 2 && (careful_grad || XV(any)(~keep)); round++) {
            /* round 1: the lanes of nearly equal distributions again with k + lambda (see the
               rows above); the others with lambda = 0 repeat their values exactly */
            xv_d lam = zero;
            if (round) {
                const xv_i again = XV_LT(Sabs / SF, 0x1p-20);
                if (!XV(any)(again)) break;
                lam = XV(sel)(again, XV(log1p)(Y) - XV(log1p)(Pm1), zero);
            }
            const xv_d E0 = XV(exp)(-(kh + lam));
            xv_d ak = zero, bk = zero;
            A = B = Sabs = zero;
            for (ptrdiff_t c = 0; c < C; c++) {
                xv_d x, em, tm;
                const xv_d px =
                    FN(kl_term)(XV(load)(Fw + 8 * c), XV(load)(Gw + 8 * c), XV(load)(Uh + 8 * c),
                                XK_WIDEN ? zero : XV(load)(Ul + 8 * c), kh, lam, E0, &x, &em,
                                &tm);
                XV(store)(X + 8 * c, x);
                XV(store)(E + 8 * c, em);
                Sabs += XV(sel)(XV_LT(px, 0.0), -px, px);
                FN(vkadd)(&A, &ak, px, NULL);
                FN(vkadd)(&B, &bk, tm, NULL);
            }
            A = A - ak;
            B = B - bk;
            Y = Qm1 + B / SG;
        }
        xv_d kl = A / SF;
        if (pl) kl = kl - XV(log1p)(Y);
        else kl = kl + P * (XV(log1p)(Pm1) - XV(log1p)(Y));
        kl = XV(sel)(keep, kd, kl);
        if (pl && ql) kl = XV(sel)(XV_LT(kl, 0.0), zero, kl);
        xv_d w = one;
        if (b->row_weight)
            for (int l = 0; l < 8; l++) w[l] = b->row_weight[row[l]];
        const xv_i dead = XV_EQ(w, 0.0);
        const xv_d value = XV(sel)(dead, zero, w * ((temp * temp) * kl));
        for (int l = 0; l < nr; l++) {
            if (b->row_out) b->row_out[r0 + l] = value[l];
            FN(sum_add)(&bsum, l, value[l]);
        }
        if (!b->grad) continue;
        T *g = (T *)b->grad;
        const xv_d logSF = pl ? XV(log_kernel)(SF, zero) : zero;
        const xv_d kg = (w * (ql ? temp : temp * temp)) / b->grad_div;
        const xv_d dF = XK_KL_DIVISOR(SF), dG = XK_KL_DIVISOR(SG);
        const xv_d dD = XK_KL_DIVISOR(SG * (one + Y));
        /* the entries into Vp (read above, no longer needed), then row by row: a lane's
           value read back right after the vector's store waited for it */
        for (ptrdiff_t c = 0; c < C; c++) {
            const xv_d F = XV(load)(Fw + 8 * c), G = XV(load)(Gw + 8 * c);
            xv_d gv = ql ? FN(kl_grad_logits)(F, G, pl ? XV(load)(X + 8 * c) : zero,
                                              pl ? XV(load)(E + 8 * c) : zero, dF, dG, P, Y, dD,
                                              kg, pl)
                         : FN(kl_grad_probs)(F, G, grad_a ? XV(load)(Ah + 8 * c) : zero,
                                             grad_a ? XV(load)(Al + 8 * c) : zero, SF, logSF, kg,
                                             pl);
            XV(store)(Vp + 8 * c, XV(sel)(dead, zero, gv));
        }
        for (int l = 0; l < nr; l++) {
            T *gr = g + (r0 + l) * b->g_rs;
            for (ptrdiff_t c = 0; c < C; c++) gr[c * b->g_cs] = (T)Vp[8 * c + l];
        }
    }
    FN(sum_result)(&bsum, 1, &b->loss_sum, &b->loss_sum_small);
}

#if XK_WIDEN
/* ------------------------------------------------------------------ two classes of logits */

/* The two entries of eight rows (row: their indices) as doubles: contiguous rows by one load
 * of sixteen floats, split into the even and odd entries; other layouts by gathers. */
static inline __attribute__((always_inline)) void FN(kl_two_load)(const T *x, ptrdiff_t rs,
                                                                  ptrdiff_t cs, ptrdiff_t r0,
                                                                  ptrdiff_t nr, xv_i row,
                                                                  xv_d *c0, xv_d *c1)
{
    if (nr == 8 && rs == 2 && cs == 1) {
        const xv_s v = XV(sload)(x + 2 * r0);
        const xv_f even = XV_SHUFFLE(v, v, 0, 2, 4, 6, 8, 10, 12, 14);
        const xv_f odd = XV_SHUFFLE(v, v, 1, 3, 5, 7, 9, 11, 13, 15);
        *c0 = XV_CONVERT(even, xv_d);
        *c1 = XV_CONVERT(odd, xv_d);
        return;
    }
    const xv_i idx = row * rs;
    *c0 = FN(gather)(x, idx);
    *c1 = FN(gather)(x + cs, idx);
}

/* Rows of two classes, teacher and student logits, float results, eight rows in the lanes
 * (t0, t1 the teacher's logits, s0, s1 the student's): with the logits' differences
 * a = (t1 - t0) / temp and b = (s1 - s0) / temp, p1 = sigmoid(a), q1 = sigmoid(b),
 *   KL = sp(b) - sp(a) - sigmoid(a) (b - a)          (sp: softplus)
 * split so that nothing much larger than the divergence's scale S = sum_c p_c |r_c| cancels:
 * with sp(z) = relu(z) + L(z), L(z) = log1p(exp(-|z|)),
 *   B1 = relu(b) - relu(a) - sigmoid(a) d  (d = b - a)
 *      = relu(-b) + sigmoid(-a) d  (a >= 0),   relu(b) - sigmoid(a) d  (a < 0),
 *   B2 = L(b) - L(a) = log1p(sigmoid(-|a|) expm1(|a| - |b|)),
 * each term below twice S (S is about 2 p0 p1 |d| where d is small), each factor to a relative
 * 2^-37 (exp_short, expm1_short, log1p): the divergence to 2^-35 of S, as the direct form.
 * With GRAD, *d1 = q1 - p1 (the gradient with respect to the student's logits is temp times it
 * on class 1, its negative on class 0): sigmoid(a) sigmoid(-b) expm1(d) for |d| <= 1 (relative
 * to itself), else the difference of the two sigmoids on the side where they are small. *ok:
 * the lanes whose logit differences are within 700 in size (not an infinite or NaN logit);
 * the others' values are not used. */
static inline __attribute__((always_inline)) xv_d FN(kl_two_logits_v)(
    xv_d t0, xv_d t1, xv_d s0, xv_d s1, const xk_kl_tp *tp, const int GRAD, xv_i *ok_out,
    xv_d *d1_out)
{
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0);
    /* the differences of two floats are exact in double (or nearly), and so is
       d0 = (s1 - s0) - (t1 - t0) where the rows nearly agree: d = b - a to an ulp of itself
       (b - a of the quotients would carry their roundings, an ulp of |a|) */
    const xv_d ta = t1 - t0, sb = s1 - s0, d0 = sb - ta;
    xv_d a = ta, bb = sb, dd = d0;
    if (tp->scale) a = a * tp->inv, bb = bb * tp->inv, dd = dd * tp->inv;
    const xv_d aa = XV(sel)(XV_LT(a, 0.0), -a, a), ab = XV(sel)(XV_LT(bb, 0.0), -bb, bb);
    const xv_i ok = XV_LE(aa, 700.0) & XV_LE(ab, 700.0); /* NaN too: not ok */
    const xv_d a_ = XV(sel)(ok, a, zero), b_ = XV(sel)(ok, bb, zero);
    const xv_d aa_ = XV(sel)(ok, aa, zero), ab_ = XV(sel)(ok, ab, zero);
    /* sigmoid(|z|) = 1 / (1 + exp(-|z|)), sigmoid(-|z|) = exp(-|z|) sigmoid(|z|) */
    const xv_d ea = XV(exp_short)(-aa_), eb = XV(exp_short)(-ab_);
    const xv_d sa_hi = one / (one + ea), sa_lo = ea * sa_hi;
    const xv_d sb_hi = one / (one + eb), sb_lo = eb * sb_hi;
    const xv_i apos = XV_GE(a_, 0.0), bpos = XV_GE(b_, 0.0);
    const xv_d sig_a = XV(sel)(apos, sa_hi, sa_lo), sig_na = XV(sel)(apos, sa_lo, sa_hi);
    const xv_d d = XV(sel)(ok, dd, zero);
    const xv_d relu_b = XV(sel)(bpos, b_, zero), relu_nb = XV(sel)(bpos, zero, -b_);
    const xv_d B1 = XV(sel)(apos, relu_nb + sig_na * d, relu_b - sig_a * d);
    /* |a| - |b| is -d or d where the signs agree (the one place it may cancel) */
    const xv_i same = ~(apos ^ bpos);
    const xv_d k = XV(sel)(same, XV(sel)(apos, -d, d), aa_ - ab_);
    const xv_d B2 = XV(log1p)(sa_lo * XV(expm1_short)(k));
    const xv_d kl = B1 + B2;
    if (GRAD) {
        const xv_d sig_b = XV(sel)(bpos, sb_hi, sb_lo), sig_nb = XV(sel)(bpos, sb_lo, sb_hi);
        const xv_i near = XV_LE(d, 1.0) & XV_GE(d, -1.0);
        /* |d| > 1: sigmoid(b) - sigmoid(a), or sigmoid(-a) - sigmoid(-b) where both logits
           are positive (there the sigmoids of the negatives are the small ones) */
        const xv_d far = XV(sel)(apos & bpos, sig_na - sig_nb, sig_b - sig_a);
        const xv_d em = XV(expm1_short)(XV(sel)(near, d, zero));
        *d1_out = XV(sel)(near, sig_a * sig_nb * em, far);
    }
    *ok_out = ok;
    return XV(sel)(XV_LT(kl, 0.0), zero, kl);
}

/* Rows of two classes, probability targets (p0, p1) and student logits (s0, s1), float
 * results, eight rows in the lanes: with b = (s1 - s0) / temp, log q0 = -sp(b) and
 * log q1 = -sp(-b) (sp: softplus, relu plus log1p(exp(-|b|)) in full precision), the
 * divergence sum_c p_c (log p_c + sp(-+b)) directly (a p_c of 0 adds 0). Its error, a few
 * roundings of 2^-53 of M = sum_c p_c (|log p_c| + sp(-+b)), is below 2^-31 of the scale
 * S = sum_c p_c |log p_c - log q_c| where S >= 2^-20 M; with GRAD, *d0 and *d1 = P q_c - p_c
 * (P = p0 + p1, exact; q_c to a few ulp: the gradient, temp times them, within a few ulp of its
 * terms' scale, as the general path's). *ok: the lanes kept, not those below that S (nearly
 * equal distributions), whose |b| is beyond 700 (an infinite or NaN logit too) or whose target
 * is not in [0, 1]. Before it every such row took kl_tiles: 1,048,576 x 2 float32 on an Intel
 * Xeon, one thread, 30 -> 12.8 ms. */
static inline __attribute__((always_inline)) xv_d FN(kl_two_probs_v)(
    xv_d p0, xv_d p1, xv_d s0, xv_d s1, const xk_kl_tp *tp, const int GRAD, xv_i *ok_out,
    xv_d *d0_out, xv_d *d1_out)
{
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0);
    xv_d bb = s1 - s0;
    if (tp->scale) bb = bb * tp->inv;
    const xv_d ab = XV(sel)(XV_LT(bb, 0.0), -bb, bb);
    const xv_i in = XV_LE(ab, 700.0) & XV_GE(p0, 0.0) & XV_LE(p0, 1.0) & XV_GE(p1, 0.0) &
                    XV_LE(p1, 1.0); /* NaN too: not in */
    const xv_d b_ = XV(sel)(in, bb, zero), ab_ = XV(sel)(in, ab, zero);
    const xv_d e = XV(exp)(-ab_), L = XV(log1p)(e);
    const xv_i bpos = XV_GE(b_, 0.0);
    const xv_d sp_b = XV(sel)(bpos, b_, zero) + L, sp_nb = XV(sel)(bpos, zero, -b_) + L;
    /* log p_c, 0 where p_c is 0 (its term is 0 whatever q_c) */
    const xv_i z0 = XV_EQ(p0, 0.0), z1 = XV_EQ(p1, 0.0);
    const xv_d lp0 = XV(log_kernel)(XV(sel)(z0, one, p0), zero);
    const xv_d lp1 = XV(log_kernel)(XV(sel)(z1, one, p1), zero);
    const xv_d t0 = XV(sel)(z0, zero, p0 * (lp0 + sp_b)), t1 = XV(sel)(z1, zero, p1 * (lp1 + sp_nb));
    const xv_d S = XV(sel)(XV_LT(t0, 0.0), -t0, t0) + XV(sel)(XV_LT(t1, 0.0), -t1, t1);
    const xv_d M = XV(sel)(z0, zero, p0 * (sp_b - lp0)) + XV(sel)(z1, zero, p1 * (sp_nb - lp1));
    if (GRAD) {
        /* q1 = sigmoid(b) = 1 / (1 + e) or e / (1 + e), q0 on the other side */
        const xv_d hi = one / (one + e), lo = e * hi;
        const xv_d q1 = XV(sel)(bpos, hi, lo), q0 = XV(sel)(bpos, lo, hi);
        const xv_d P = p0 + p1;
        *d0_out = P * q0 - p0;
        *d1_out = P * q1 - p1;
    }
    *ok_out = in & XV_GE(S, 0x1p-20 * M);
    return t0 + t1;
}

/* Row r of block b alone by kl_tiles (its gradient written there): its value. */
static double FN(kl_one_row)(xk_kl *b, const xk_kl_tp *tp, ptrdiff_t r)
{
    double v;
    xk_kl one_row = *b;
    one_row.R = 1;
    one_row.p = (const T *)b->p + r * b->p_rs;
    one_row.q = (const T *)b->q + r * b->q_rs;
    one_row.grad = b->grad ? (void *)((T *)b->grad + r * b->g_rs) : NULL;
    one_row.row_weight = b->row_weight ? b->row_weight + r : NULL;
    one_row.row_out = &v;
    one_row.p_nan = 0;
    FN(kl_tiles)(&one_row, tp);
    if (one_row.p_nan) b->p_nan = 1;
    return v;
}

/* Rows of two classes, student logits, float results, in a closed form (PL: teacher logits,
 * kl_two_logits_v; else probability targets, kl_two_probs_v), eight rows at a time (the lanes;
 * kl_two_load): a lane the form does not keep is its row alone by kl_tiles, and every row's
 * value is added to the block's sum in order, so a row's bits do not depend on its
 * neighbours. */
static inline __attribute__((always_inline)) void FN(kl_two)(xk_kl *b, const xk_kl_tp *tp,
                                                              const int PL)
{
    const ptrdiff_t R = b->R;
    const double temp = b->temperature;
    const T *p = (const T *)b->p, *q = (const T *)b->q;
    T *g = (T *)b->grad;
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0);
    xk_sum bsum = {{0}, {0}, {0}};
    for (ptrdiff_t r0 = 0; r0 < R; r0 += 8) {
        const ptrdiff_t nr = R - r0 < 8 ? R - r0 : 8;
        xv_i row;
        for (int l = 0; l < 8; l++) row[l] = l < nr ? r0 + l : R - 1;
        xv_d p0, p1, s0, s1, d0 = zero, d1 = zero;
        FN(kl_two_load)(p, b->p_rs, b->p_cs, r0, nr, row, &p0, &p1);
        FN(kl_two_load)(q, b->q_rs, b->q_cs, r0, nr, row, &s0, &s1);
        xv_i ok;
        const xv_d kl = PL ? FN(kl_two_logits_v)(p0, p1, s0, s1, tp, g != NULL, &ok, &d1)
                           : FN(kl_two_probs_v)(p0, p1, s0, s1, tp, g != NULL, &ok, &d0, &d1);
        xv_d w = one;
        if (b->row_weight)
            for (int l = 0; l < 8; l++) w[l] = b->row_weight[row[l]];
        const xv_i dead = XV_EQ(w, 0.0);
        xv_d value = XV(sel)(dead, zero, w * ((temp * temp) * kl));
        xv_d g0 = zero, g1 = zero;
        if (g) {
            const xv_d k = (w * temp) / b->grad_div;
            g1 = XV(sel)(dead, zero, k * d1);
            g0 = PL ? -g1 : XV(sel)(dead, zero, k * d0); /* teacher logits: q0 - p0 = p1 - q1 */
        }
        for (int l = 0; l < nr; l++) {
            if (!ok[l]) { /* this row alone by kl_tiles */
                value[l] = FN(kl_one_row)(b, tp, r0 + l);
                continue;
            }
            if (g) {
                g[(r0 + l) * b->g_rs + b->g_cs] = (T)g1[l];
                g[(r0 + l) * b->g_rs] = (T)g0[l];
            }
        }
        for (int l = 0; l < nr; l++) {
            if (b->row_out) b->row_out[r0 + l] = value[l];
            FN(sum_add)(&bsum, l, value[l]);
        }
    }
    FN(sum_result)(&bsum, 1, &b->loss_sum, &b->loss_sum_small);
}

#endif

XK_ENTRY void FN(kl)(xk_kl *b)
{
    const double temp = b->temperature;
    xk_kl_tp tp = {temp, 1.0 / temp, 0.0, 0.0, temp != 1.0, temp < 0x1p900 && temp > 0x1p-900};
    const double split = 134217729.0, tb = split * temp; /* 2^27 + 1 */
    tp.bh = tb - (tb - temp);
    tp.bl = temp - tp.bh;
    b->loss_sum = b->loss_sum_small = 0.0;
#if XK_WIDEN
    if (b->C == 2 && b->q_logits) { /* the closed forms of two classes */
        if (b->p_logits) FN(kl_two)(b, &tp, 1);
        else FN(kl_two)(b, &tp, 0);
        return;
    }
#endif
    if (b->C <= XK_KL_TILE_C) FN(kl_tiles)(b, &tp);
    else FN(kl_rows)(b, &tp);
}

#undef XK_KL_DIV
#undef XK_KL_DIVISOR
/* body.h's loads and stores of T, used above */
#undef XK_LOADV
#undef XK_STOREV
