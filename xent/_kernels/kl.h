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
 *                   exact to a few ulp of itself even where p_c and q_c agree to many digits;
 *   probabilities:  -temp^2 p_c / q_c (from logits targets, where p_c or q_c is below the
 *                   normal range, from their logs with exact scaling: kl_ratio).
 *
 * Special values: p_c = 0 contributes 0 whatever q_c (even -inf logits on both sides: x_c,
 * NaN there, is set to 0); q_c = 0 with p_c > 0 gives x_c = inf and an infinite loss, also
 * where p_c from logits underflowed to 0;
 * a row of logits with a NaN, no finite maximum below +inf (every entry -inf) or several +inf
 * entries is NaN, as xent.softmax; a single +inf logit is a one-hot distribution.
 *
 * Rows are taken one at a time with any strides; within a row, the exp, log and expm1 of
 * xmath.h run in loops of their own, which the compiler vectorizes, and every variant
 * computes the same IEEE operations in the same order (the same bits).
 */

#ifndef XK_KL_ONCE
#define XK_KL_ONCE
/* s + e = a + b exactly (Knuth's TwoSum) */
#define XK_KL_TWO_SUM(a, b, s, e)                                                           \
    do {                                                                                  \
        double s_ = (a) + (b);                                                            \
        double bv_ = s_ - (a);                                                            \
        (e) = ((a) - (s_ - bv_)) + ((b) - bv_);                                           \
        (s) = s_;                                                                         \
    } while (0)
/* s += v, Kahan's compensation in c (the sum is s - c; an infinite sum keeps c = 0) */
#define XK_KL_KADD(s, c, v)                                                                 \
    do {                                                                                  \
        double y_ = (v) - (c);                                                            \
        double t_ = (s) + y_;                                                             \
        double c_ = (t_ - (s)) - y_;                                                      \
        (c) = c_ == c_ ? c_ : 0.0;                                                        \
        (s) = t_;                                                                         \
    } while (0)
#endif

/* out = f(in) elementwise in blocks of 8 (which GCC vectorizes for AVX2 and AVX-512: the
 * functions of xmath.h are branch-free) and a scalar remainder: the same bits either way. */
#define XK_KL_MAP(name, f)                                                                   \
    static inline void FN(name)(const double *restrict in, double *restrict out, ptrdiff_t n) \
    {                                                                                       \
        ptrdiff_t i = 0;                                                                    \
        for (; i + 8 <= n; i += 8)                                                          \
            for (int j = 0; j < 8; j++) out[i + j] = f(in[i + j]);                          \
        for (; i < n; i++) out[i] = f(in[i]);                                               \
    }
XK_KL_MAP(kl_vexp, xk_exp)
XK_KL_MAP(kl_vexpm1, xk_expm1)
XK_KL_MAP(kl_vlog, xk_log)
#undef XK_KL_MAP

/* sum_i v_i with Kahan's compensation on 8 lanes (i mod 8, independent chains the compiler
 * may run side by side or as one vector), the lanes then added in order, compensated. */
static inline double FN(kl_ksum)(const double *restrict v, ptrdiff_t n)
{
    double s[8] = {0.0}, k[8] = {0.0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) XK_KL_KADD(s[j], k[j], v[i + j]);
    for (int j = 0; i < n; i++, j++) XK_KL_KADD(s[j], k[j], v[i]);
    double S = 0.0, K = 0.0;
    for (int j = 0; j < 8; j++) XK_KL_KADD(S, K, s[j] - k[j]);
    return S - K;
}

/* The maximum of a row of logits, or NaN where the row has no distribution (a NaN, every entry
 * -inf, several +inf). */
static double FN(kl_max)(const T *x, ptrdiff_t cs, ptrdiff_t C)
{
    /* eight lanes (c mod 8) of maxima and counts, which the compiler keeps in vectors */
    double m8[8], nan8[8] = {0.0}, inf8[8] = {0.0};
    for (int j = 0; j < 8; j++) m8[j] = -HUGE_VAL;
    ptrdiff_t c = 0;
    for (; c + 8 <= C; c += 8)
        for (int j = 0; j < 8; j++) {
            double v = (double)x[(c + j) * cs];
            nan8[j] += v != v;
            inf8[j] += v == HUGE_VAL;
            m8[j] = v > m8[j] ? v : m8[j];
        }
    for (int j = 0; c < C; c++, j++) {
        double v = (double)x[c * cs];
        nan8[j] += v != v;
        inf8[j] += v == HUGE_VAL;
        m8[j] = v > m8[j] ? v : m8[j];
    }
    double m = -HUGE_VAL, nan = 0.0, n_inf = 0.0;
    for (int j = 0; j < 8; j++) {
        m = m8[j] > m ? m8[j] : m;
        nan += nan8[j];
        n_inf += inf8[j];
    }
    return (nan > 0.0 || m == -HUGE_VAL || n_inf > 1.0) ? NAN : m;
}

/* (x_c - m) / temp = hi_c + lo_c for a row: x_c - m <= 0 carried exactly (TwoSum) and divided
 * with its exact remainder (Dekker's product with Veltkamp's split, no fma); 0 where x_c
 * equals m (a +inf maximum too), -inf below a +inf maximum or at a -inf logit. Written
 * without branches (selects of cheap arms), so that the loops vectorize. */
static inline void FN(kl_scaled)(const T *x, ptrdiff_t cs, ptrdiff_t C, double m, double temp,
                                 double *restrict hi, double *restrict lo)
{
    for (ptrdiff_t c = 0; c < C; c++) {
        double v = (double)x[c * cs];
        double d = v - m, bp = d - v;
        double e = (v - (d - bp)) - (bp + m);
        int tie = v == m;
        hi[c] = tie ? 0.0 : d;
        lo[c] = (tie || !(d > -HUGE_VAL)) ? 0.0 : e;
    }
    if (temp == 1.0) return;
    const double split = 134217729.0; /* 2^27 + 1 */
    const double tb = split * temp, bh = tb - (tb - temp), bl = temp - bh;
    const int temp_ok = temp < 0x1p900 && temp > 0x1p-900;
    /* hi = h / temp rounded or not (a product by 1 / temp): the remainder below is exact
       either way, and lo carries it */
    const double inv = 1.0 / temp;
    for (ptrdiff_t c = 0; c < C; c++) {
        double h = hi[c], l = lo[c];
        double qt = h * inv;
        double ta = split * qt, ah = ta - (ta - qt), al = qt - ah;
        double P = qt * temp;
        double E = ((ah * bh - P) + ah * bl + al * bh) + al * bl; /* qt temp = P + E */
        double r = (h - P) - E;                                    /* h - qt temp, exact */
        int ok = temp_ok && qt > -0x1p900;
        hi[c] = qt;
        lo[c] = qt > -HUGE_VAL ? ((ok ? r : 0.0) + l) * inv : 0.0;
    }
}

/* One side of a row: weights W (F or G), the double-double logs (hi, lo) and the normalizer
 * (sum of W for logits, 1 for probabilities), and for probabilities sum(W) - 1 in *m1. */
static double FN(kl_side)(const T *x, ptrdiff_t cs, ptrdiff_t C, int logits, double temp,
                          double *W, double *hi, double *lo, double *m1)
{
    double s = 0.0, k = 0.0;
    if (logits) {
        double m = FN(kl_max)(x, cs, C);
        FN(kl_scaled)(x, cs, C, m, temp, hi, lo);
        FN(kl_vexp)(hi, W, C);
        for (ptrdiff_t c = 0; c < C; c++) W[c] = W[c] + W[c] * lo[c];
        *m1 = 0.0;
        return FN(kl_ksum)(W, C);
    }
    for (ptrdiff_t c = 0; c < C; c++) W[c] = (double)x[c * cs];
    FN(kl_vlog)(W, hi, C);
    /* sum - 1 is a term of the loss (P log P) of the size of the rows' rounding: the sum is
       carried as s + k with every TwoSum error in k (Ogita, Rump and Oishi's Sum2, as accurate
       as twice the working precision), and s - 1 is exact for s in [0.5, 2]. */
    double sl[8] = {0.0}, kk[8] = {0.0};
    ptrdiff_t c = 0;
    for (; c + 8 <= C; c += 8)
        for (int j = 0; j < 8; j++) {
            double e;
            XK_KL_TWO_SUM(sl[j], W[c + j], sl[j], e);
            kk[j] += e;
        }
    for (int j = 0; c < C; c++, j++) {
        double e;
        XK_KL_TWO_SUM(sl[j], W[c], sl[j], e);
        kk[j] += e;
    }
    for (int j = 0; j < 8; j++) {
        double e;
        XK_KL_TWO_SUM(s, sl[j], s, e);
        k += e + kk[j];
    }
    for (c = 0; c < C; c++) lo[c] = 0.0;
    *m1 = (s - 1.0) + k;
    return 1.0;
}

/* One pass over a row for the shift k = kh + kl: x_c = (u_c - kh) - kl into X, expm1(x_c)
 * into E; A = sum_c F_c x_c, B = sum_c G_c expm1(x_c) (as (F_c exp(-k) - G_c) where x_c > 1),
 * both compensated, and Sabs = sum_c F_c |x_c| (a plain sum: an estimate). */
static void FN(kl_pass)(ptrdiff_t C, const double *Fw, const double *Gw, const double *Uh,
                        const double *Ul, double kh, double kl, double *X, double *E,
                        double *PX, double *TM, double *A_out, double *B_out, double *S_out)
{
    const double E0 = xk_exp(-(kh + kl));
    double S = 0.0;
    for (ptrdiff_t c = 0; c < C; c++) {
        double v, ve;
        XK_KL_TWO_SUM(Uh[c], -kh, v, ve);
        double lo = (ve + Ul[c]) - kl;
        double x = v + (lo == lo ? lo : 0.0); /* lo is NaN where v is infinite */
        if (x != x && Fw[c] == 0.0 && Gw[c] == 0.0) x = 0.0; /* -inf on both sides: no mass */
        X[c] = x;
    }
    FN(kl_vexpm1)(X, E, C);
    for (ptrdiff_t c = 0; c < C; c++) {
        const double x = X[c], em = E[c];
        /* x = +inf: q_c = 0 where the target has mass, however small its p_c (even where it
           underflowed to 0 from logits): the divergence is inf */
        double px = x == HUGE_VAL ? HUGE_VAL : Fw[c] == 0.0 ? 0.0 : Fw[c] * x;
        PX[c] = px;
        S += px < 0.0 ? -px : px;
        TM[c] = x > 1.0 ? Fw[c] * E0 - Gw[c] : Gw[c] * em;
    }
    *A_out = FN(kl_ksum)(PX, C);
    *B_out = FN(kl_ksum)(TM, C);
    *S_out = S;
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

static void FN(kl)(xk_kl *b)
{
    const ptrdiff_t C = b->C;
    const double temp = b->temperature;
    const int pl = b->p_logits, ql = b->q_logits;
    /* per row: the weights F, G and the double-double logs of each side (x and expm1(x)
       then take the teacher's pair) */
    double *Fw = b->scratch, *Gw = b->scratch + C, *Xh = b->scratch + 2 * C,
           *Xl = b->scratch + 3 * C, *Bh = b->scratch + 4 * C, *Bl = b->scratch + 5 * C,
           *Uh = b->scratch + 6 * C, *Ul = b->scratch + 7 * C, *PX = b->scratch + 8 * C,
           *TM = b->scratch + 9 * C;
    b->loss_sum = b->loss_sum_small = 0.0;
    for (ptrdiff_t r = 0; r < b->R; r++) {
        const T *p = (const T *)b->p + r * b->p_rs;
        const T *q = (const T *)b->q + r * b->q_rs;
        T *g = b->grad ? (T *)b->grad + r * b->g_rs : NULL;
        const double w = b->row_weight ? b->row_weight[r] : 1.0;
        if (w == 0.0) { /* a row of weight 0 contributes 0, whatever its values */
            if (b->row_out) b->row_out[r] = 0.0;
            if (g)
                for (ptrdiff_t c = 0; c < C; c++) g[c * b->g_cs] = (T)0.0;
            continue;
        }
        double Pm1, Qm1;
        double SF = FN(kl_side)(p, b->p_cs, C, pl, temp, Fw, Xh, Xl, &Pm1);
        double SG = FN(kl_side)(q, b->q_cs, C, ql, temp, Gw, Bh, Bl, &Qm1);
        /* u_c = a_c - b_c as a double-double (Uh, Ul); then x_c = u_c - k */
        for (ptrdiff_t c = 0; c < C; c++) {
            double u, ue;
            XK_KL_TWO_SUM(Xh[c], -Bh[c], u, ue);
            double lo = ue + (Xl[c] - Bl[c]);
            Uh[c] = u;
            Ul[c] = lo == lo ? lo : 0.0; /* NaN where u is infinite */
        }
        const double kh = xk_log(SF) - xk_log(SG);
        const double P = pl ? 1.0 : 1.0 + Pm1;
        double *X = Bl, *E = Bh;
        double A, B, Sabs;
        FN(kl_pass)(C, Fw, Gw, Uh, Ul, kh, 0.0, X, E, PX, TM, &A, &B, &Sabs);
        double Y = Qm1 + B / SG;
        if (Sabs / SF < 0x1p-20) {
            /* Nearly equal distributions: the rounding of k (a few ulp of log SF, log SG) is
               no longer small beside the divergence. k + lambda, with lambda from this pass,
               is the exact shift to a few ulp of the divergence; pass again with it. */
            const double lambda = xk_log1p(Y) - xk_log1p(Pm1);
            FN(kl_pass)(C, Fw, Gw, Uh, Ul, kh, lambda, X, E, PX, TM, &A, &B, &Sabs);
            Y = Qm1 + B / SG;
        }
        double kl = A / SF;
        kl = pl ? kl - xk_log1p(Y) : kl + P * (xk_log1p(Pm1) - xk_log1p(Y));
        if (pl && ql && kl < 0.0) kl = 0.0; /* >= 0 for two distributions; NaN stays */
        double value = w * ((temp * temp) * kl);
        if (b->row_out) b->row_out[r] = value;
        b->loss_sum += value;
        b->loss_sum_small += value * XK_SMALL;
        if (!g) continue;
        if (ql) {
            const double k = (w * temp) / b->grad_div;
            const double D = SG * (1.0 + Y);
            for (ptrdiff_t c = 0; c < C; c++) {
                double pc = Fw[c] / SF, qc = Gw[c] / SG, gc;
                if (pl && X[c] <= 1.0)
                    gc = (Gw[c] * (Y - E[c])) / D;
                else
                    gc = P * qc - pc;
                g[c * b->g_cs] = (T)(k * gc);
            }
        } else {
            const double k = (w * (temp * temp)) / b->grad_div;
            const double logSF = xk_log(SF);
            for (ptrdiff_t c = 0; c < C; c++) {
                double pc = Fw[c] / SF, ratio = pc == 0.0 ? 0.0 : pc / Gw[c];
                /* p_c from logits below the normal range (or a subnormal q_c) has lost its
                   digits or underflowed: see kl_ratio */
                if (pl && (Fw[c] < 0x1p-1000 || Gw[c] < 0x1p-1000))
                    ratio = FN(kl_ratio)(Xh[c], Xl[c], logSF, Gw[c]);
                g[c * b->g_cs] = (T)(ratio == 0.0 ? 0.0 : -(k * ratio));
            }
        }
    }
}
