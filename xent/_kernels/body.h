/* The kernels of one element type and one instruction set: included by instance.h once per
 * (type, SIMD variant) pair, with
 *   T        the element type of x, t and out (float or double),
 *   FN(name) the name with the pair's suffix.
 * Every function here is static; instance.h collects the entry points in the variant's table.
 *
 * The softmax pass of one row (Blanchard, Higham & Higham, "Accurately computing the log-sum-exp
 * and softmax functions", IMA J. Numer. Anal. 41, 2021):
 *   m = max_c x_c, and for every entry d_c = x_c - m with its rounding error e_c (Knuth's
 *   TwoSum), so exp(x_c - m) = exp(d_c) (1 + e_c) = F_c to working precision;
 *   s = sum of F_c over every entry but one maximum, so logsumexp = m + log1p(s) keeps its
 *   relative accuracy when one entry dominates. Entries tied with the maximum count 1 each.
 * -inf entries give F = 0 and v = m - x = inf; a row whose maximum is +inf is its limit (one
 * entry with all the mass; NaN with several); a NaN anywhere makes the row NaN.
 *
 * A row is read twice (its maximum, then the exp pass) while it is in the cache, and once more
 * to write a gradient or softmax from the F stored by the exp pass. Loops are written so that
 * GCC vectorizes them without reassociation: reductions along a row use 8 explicit lanes added
 * in a fixed order; class-major tiles keep one state per row and vectorize over the rows.
 */

/* XK_SPECIALIZE (default 1): the hot passes compiled once per set of compile-time flags (the
 * pass_* and tile2_plain_* functions, the tile's and the binary chunks' passes), so that each
 * loop carries only its own work. 0 (the x86-64 baseline variant, kernels_baseline.c): one
 * instance of each, its flags read at run time: the same operations in the same order, so the
 * same bits, in half the code (6.7 -> 3.3 MB; its compile 233 -> 117 s of CPU on a 2-core AMD
 * EPYC Zen 1, where it had been a third of the build's; it runs only on CPUs without AVX2). */
#ifndef XK_SPECIALIZE
#define XK_SPECIALIZE 1
#endif

/* float tiles (tile_pass_s) keep class indices in int32 lanes: fewer classes than this */
#ifndef XK_S_MAX_C
#define XK_S_MAX_C ((ptrdiff_t)INT32_MAX - 32)
#endif

/* ------------------------------------------------------------------ one element */

/* d = x - m and its rounding error e; d = e = 0 where x equals m (also when both are +inf);
 * e = 0 where d is not finite (x = -inf, or an overflow, where F is 0 anyway). */
#define XK_SHIFT(xv, m, d, e)                                                   \
    do {                                                                      \
        double d_ = (xv) - (m);                                               \
        double bp_ = d_ - (xv);                                               \
        double e_ = ((xv) - (d_ - bp_)) - (bp_ + (m));                         \
        int tie_ = (xv) == (m);                                               \
        (d) = xk_sel(tie_, 0.0, d_);                                          \
        (e) = xk_sel(tie_ || !(d_ > -HUGE_VAL), 0.0, e_);                     \
    } while (0)

/* s += v with Kahan's compensation c: the error of a long sum stays at 2 ulp, whatever its
 * length (Kahan, "Further remarks on reducing truncation errors", CACM 8, 1965). */
#define XK_KADD(s, c, v)                                                        \
    do {                                                                      \
        double y_ = (v) - (c);                                                \
        double t_ = (s) + y_;                                                 \
        double c_ = (t_ - (s)) - y_;                                          \
        (c) = xk_sel(c_ - c_ == 0.0, c_, 0.0); /* a sum of inf stays inf */ \
        (s) = t_;                                                             \
    } while (0)

#define XK_NACC 6

/* Sums of non-negative terms along float rows (row_pass_s's weighted sums, focal_row's terms)
 * are added in double, one vector each, over runs of this many entries (an error below 2^-46
 * of the run's sum: 127 additions per lane), each run then to a compensated sum: a few ulp of
 * double for any length of row, far below float's. (A compensated addition per 32 or 64
 * entries, as for F, was a quarter of the focal pass, and in row_pass_s four partial sums with
 * one each held more vectors than there are registers: the pass spilled them.) XK_RUN (1,024)
 * is defined in kernels.h, where the scratch's length depends on it. */

/* s += v on eight lanes, Kahan's compensation in c (XK_KADD lane by lane); with a mask of the
 * lanes to change (live; NULL: all of them), the others keep s and c. */
static inline __attribute__((always_inline)) void FN(vkadd)(xv_d *s, xv_d *c, xv_d v,
                                                            const xv_i *live)
{
    const xv_d y = v - *c, t = *s + y, cn = (t - *s) - y;
    const xv_d cc = XV(sel)(XV_EQ(cn - cn, 0.0), cn, XV(splat)(0.0)); /* as XK_KADD */
    *c = live ? XV(sel)(*live, cc, *c) : cc;
    *s = live ? XV(sel)(*live, t, *s) : t;
}

/* The sum of eight compensated lanes (vkadd's s, c), added in order with compensation. */
static inline double FN(lanes_sum)(xv_d s, xv_d c)
{
    double S = 0.0, K = 0.0;
    for (int j = 0; j < 8; j++) XK_KADD(S, K, s[j] - c[j]);
    return S - K;
}

/* A block's loss sum (xk_sum, kernels.h): value v added to lane l; the same for eight values,
 * one per lane, kept in registers across a loop (vsum_load, vsum_add, vsum_store); the block's
 * two results: the lanes added in order with compensation, and the small sum, that sum times
 * XK_SMALL (exact) where it is finite, else the lanes' small sums. */
static inline void FN(sum_add)(xk_sum *a, int l, double v)
{
    XK_KADD(a->s[l], a->c[l], v);
    a->small[l] += v * XK_SMALL;
}

typedef struct {
    xv_d s, c, small;
} FN(vsum);

static inline __attribute__((always_inline)) FN(vsum) FN(vsum_load)(const xk_sum *a)
{
    return (FN(vsum)){XV(load)(a->s), XV(load)(a->c), XV(load)(a->small)};
}

static inline __attribute__((always_inline)) void FN(vsum_add)(FN(vsum) *v, xv_d value)
{
    FN(vkadd)(&v->s, &v->c, value, NULL);
    v->small += value * XK_SMALL;
}

static inline __attribute__((always_inline)) void FN(vsum_store)(xk_sum *a, const FN(vsum) *v)
{
    XV(store)(a->s, v->s);
    XV(store)(a->c, v->c);
    XV(store)(a->small, v->small);
}

static inline void FN(sum_result)(const xk_sum *a, int count, double *sum, double *small)
{
    /* count sums (a loop that keeps several for its latency): their lanes one after another */
    double S = 0.0, K = 0.0, sm = 0.0;
    for (int k = 0; k < count; k++)
        for (int j = 0; j < 8; j++) {
            XK_KADD(S, K, a[k].s[j] - a[k].c[j]);
            sm += a[k].small[j];
        }
    *sum = S - K;
    *small = *sum - *sum == 0.0 ? *sum * XK_SMALL : sm;
}

/* exp, log1p and log of the results: for float the short forms of xvec.h (relative error
 * < 2^-32, less than 2^-8 ulp of float), for double the full ones. XK_LOG1P_OUT takes
 * 0 <= u < 2^127. */
#if XK_WIDEN
#define XK_EXP_OUT XV(exp_short)
#define XK_LOG1P_OUT XV(log1p_short)
#define XK_LOG_OUT(v) XV(log_short)(v)
#else
#define XK_EXP_OUT XV(exp)
#define XK_LOG1P_OUT XV(log1p)
#define XK_LOG_OUT(v) XV(log_kernel)(v, XV(splat)(0.0))
#endif

/* u = exp(-|v|) and T = log1p(u) of eight doubles: for float results by log1p_exp_short
 * (relative errors below 2^-34), else in full precision */
static inline __attribute__((always_inline)) void FN(softplus_terms8)(xv_d v, xv_d *u, xv_d *Tv)
{
#if XK_WIDEN
    *Tv = XV(log1p_exp_short)(XV(sel)(XV_LT(v, 0.0), -v, v), u);
#else
    /* -|v| as a select of v and -v (-NaN for NaN, in every variant: a negation the compiler
       could fold into exp's first multiply-add would leave a NaN's sign unchanged) */
    *u = XK_EXP_OUT(XV(sel)(XV_LT(v, 0.0), v, -v));
    *Tv = XK_LOG1P_OUT(*u);
#endif
}



/* Elementwise exp and log over the arrays of a chunk: the vector path, then the scalar one for
 * the last entries (the same bits). Loops of one kind: the arithmetic that uses their results
 * runs in loops of its own, which the compiler vectorizes. */
static inline void FN(vexp)(const double *in, double sign, double *out, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) XV(store)(out + i, XV(exp)(sign * XV(load)(in + i)));
    for (; i < n; i++) out[i] = xk_exp(sign * in[i]);
}

static inline void FN(vlog)(const double *in, double *out, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) XV(store)(out + i, XV(log_kernel)(XV(load)(in + i), XV(splat)(0.0)));
    for (; i < n; i++) out[i] = xk_log(in[i]);
}

/* Per-row state after the exp pass. */
typedef struct {
    double m, sb, nt, vs, tv, wy, wyx;
    ptrdiff_t top;
    const T *next; /* the row whose maximum's pass comes next, prefetched by the exp pass (NULL: none) */
    const T *next_t; /* float rows: the targets read after this row's pass, prefetched by it */
    int clean;     /* the row is clean (see XK_CLEAN_SPAN) */
    /* float rows: s with each exp's rounding error (expf_hilo's low part, summed in float
       lanes and added once), not the floats alone: for the focal loss, whose factor at the
       maximum, (s / (1 + s))^gamma, has gamma times s's relative error (2^-24 from floats:
       4.9 ulp of float32 at gamma = 4) */
    int hilo;
    /* the focal loss's sums (row_pass_s with FG, gamma 1-4): target weights
       w_c = cw_c (kw1 t_c + kw0), and over the entries but the maximum's, with the factor
       f_c = (1 - p_c)^gamma, fa = sum w f and fb = sum w f v (focal_pass_s; focal_sums_v's
       A_0, B_0) */
    double kw0, kw1, fa, fb;
    /* where row_pass_s with FG keeps each entry's F (with its low part, as a double) for the
       focal sums' loop after it (focal_pass_s): C rounded up to 16 doubles */
    double *ff;
    /* this row's share of the block's prefetch (xk_block.pf): pf_lines lines from pf */
    const char *pf;
    ptrdiff_t pf_lines;
    /* tcheck (the categorical loss's float rows, xk_row_check): the weighted sums' pass (or the
       focal sums') also checks the targets, as `stats` does: their sum in its order (tsum), and whether an entry
       is below 0 or above 1 (tbad) */
    int tcheck, tbad;
    /* rows_values's one-hot rows (xk_block.hot_scan, row_pass_s_impl's HOT): the class of the
       row's 1 so far (-1: none yet; -2: the row is not one-hot) */
    ptrdiff_t hot_y;
    double tsum;
} FN(state);

/* A row's state, zero, field by field: `= {0}` was a
 * `rep stos` of its 176 bytes, whose start-up took a twentieth of a float32 forward pass at 64
 * classes. */
static inline __attribute__((always_inline)) void FN(state_zero)(FN(state) *st)
{
    st->m = st->sb = st->nt = st->vs = st->tv = st->wy = st->wyx = 0.0;
    st->top = 0;
    st->next = st->next_t = NULL;
    st->clean = st->hilo = 0;
    st->kw0 = st->kw1 = st->fa = st->fb = 0.0;
    st->ff = NULL;
    st->pf = NULL;
    st->pf_lines = 0;
    st->tcheck = st->tbad = 0;
    st->tsum = 0.0;
    st->hot_y = -1;
}

/* Row r of R's share of a block's prefetch (xk_block.pf) into st. */
static inline void FN(pf_share)(const xk_block *b, ptrdiff_t r, FN(state) *st)
{
    const ptrdiff_t l0 = b->pf ? r * b->pf_lines / b->R : 0;
    st->pf = b->pf ? b->pf + 64 * l0 : NULL;
    st->pf_lines = b->pf ? (r + 1) * b->pf_lines / b->R - l0 : 0;
}

/* The prefetch of a row's exp pass: per step of 64 entries (pf_step), its share of st->pf's
 * lines. */
typedef struct {
    const char *p;
    ptrdiff_t left, step;
} FN(pf);

static inline __attribute__((always_inline)) FN(pf) FN(pf_init)(const FN(state) *st, ptrdiff_t C)
{
    const ptrdiff_t steps = (C + 63) / 64, left = st->pf_lines;
    return (FN(pf)){st->pf, left, left > 0 ? (left + steps - 1) / steps : 0};
}

static inline __attribute__((always_inline)) void FN(pf_step)(FN(pf) *pf)
{
    for (ptrdiff_t q = 0; q < pf->step && pf->left > 0; q++, pf->left--, pf->p += 64)
        __builtin_prefetch(pf->p, 0, 2);
}

/* What the output pass of a row needs. */
typedef struct {
    double inv, a, k, L;        /* g_c = k (a F_c - ((1 - eps) t_c + eps / C) cw_c) */
    double g_top, g_y;          /* entries computed apart (see finish) */
    int fix_top, fix_y;
    int zero;                   /* a row of weight 0: its gradient is 0 */
    double zl, zg;              /* z-loss: its value z lse^2 and gradient factor 2 z lse */
    double Dy;                  /* focal, sparse without smoothing: the weight D at y */
    int focal_row;              /* focal with soft or smoothed targets: see focal_row */
} FN(coef);

/* ------------------------------------------------------------------ vector row passes */

/* The passes over a contiguous row, written with the vectors of xvec.h: the row is read as
 * doubles eight entries at a time (float widened in registers) and exp is xv_exp; float rows
 * (too many classes for the tiles, see XK_TILE_C_MAX) take row_max_s / row_pass_s below instead
 * (sixteen float lanes). Every row takes them, whatever its maximum (a maximum of +inf, -inf or NaN sets the
 * pass's `tie` flag). The maximum's pass finds the maximum alone; the exp pass counts the
 * entries equal to it and keeps the first, and takes the sum of F in groups of 64 entries (a
 * pairwise sum of eight vectors) each added to a compensated sum. For float input d = x - m in
 * double is exact up to far below float's precision, so its rounding error is not carried. */
/* base[idx] lane by lane, as doubles */
#if XK_WIDEN
#define FN_gather_impl XV(gather_f)
#else
#define FN_gather_impl XV(gather)
#endif
static inline __attribute__((always_inline)) xv_d FN(gather)(const T *base, xv_i idx)
{
    return FN_gather_impl(base, idx);
}
#undef FN_gather_impl

#if XK_WIDEN
#define XK_LOADV(p) XV(load_f)(p)
#define XK_STOREV(p, v) XV(store_f)(p, v)
#else
#define XK_LOADV(p) XV(load)(p)
#define XK_STOREV(p, v) XV(store)(p, v)
#endif

/* The first n <= 8 entries at p as doubles, the other lanes `pad` (nothing read past p + n):
 * the last entries of a row or chunk take the vector path too, so that an entry's value never
 * depends on where it sits */
static inline __attribute__((always_inline)) xv_d FN(load_pad)(const T *p, int n, double pad)
{
    if (n == 8) return XK_LOADV(p);
#if XK_WIDEN && defined(XV_X86_INTRIN) && defined(__AVX512VL__)
    /* a masked load (pad is 0 or -inf, floats): through memory, eight scalar stores and the
       vector's load stalled each row's last entries */
    return XV_CONVERT(
        (xv_f)_mm256_mask_loadu_ps(_mm256_set1_ps((float)pad), (__mmask8)((1u << n) - 1), p),
        xv_d);
#elif XK_WIDEN
    double v[8];
    for (int l = 0; l < 8; l++) v[l] = l < n ? (double)p[l] : pad;
    return XV(load)(v);
#else
    return XV(load_pad)(p, n, pad);
#endif
}

/* The first index of the row's entries equal to m (0 if none: a NaN maximum), for the
 * categorical gradient written over its logits, whose weighted sums (wsum_pass_v, wsum_pass_s)
 * then come before the exp pass, and for the categorical gradient of double rows with
 * XK_FUSE_TOP, whose sums are within it; the other passes find it themselves (the same index),
 * and give it to the weighted sums that follow them. */
static inline ptrdiff_t FN(row_first)(const T *x, ptrdiff_t C, double m)
{
    const xv_d mv = XV(splat)(m);
    ptrdiff_t c = 0;
    for (; c + 8 <= C; c += 8) {
        const uint32_t z = XV(mask)(XV_EQ(XK_LOADV(x + c), mv));
        if (z) return c + __builtin_ctz(z);
    }
    for (; c < C; c++)
        if ((double)x[c] == m) return c;
    return 0;
}

/* The maximum alone of a row (NaN if it holds one), four vectors a step into two independent
 * maxima (and minima), so that the pass runs at the speed of its loads with its accumulators
 * in registers (four of each had filled AVX2's sixteen, and the loop kept them on the stack):
 * the exp pass (row_pass_v) counts the entries equal to it and finds the first. With lo_out,
 * also the row's minimum (NaN entries left out), which tells the exp pass whether its row is
 * clean (XK_CLEAN_SPAN). */
static inline __attribute__((always_inline)) void FN(row_max)(const T *x, ptrdiff_t C,
                                                              double *m_out, double *lo_out)
{
    const xv_d ninf = XV(splat)(-HUGE_VAL), pinf = XV(splat)(HUGE_VAL);
    xv_d m0 = ninf, m1 = ninf;
    xv_d l0 = pinf, l1 = pinf;
    xv_i nan = {0};
    ptrdiff_t c = 0;
    for (; c + 32 <= C; c += 32) {
        const xv_d v0 = XK_LOADV(x + c), v1 = XK_LOADV(x + c + 8);
        const xv_d v2 = XK_LOADV(x + c + 16), v3 = XK_LOADV(x + c + 24);
        m0 = XV(max)(v0, m0); /* a NaN entry leaves the maximum as it is */
        m1 = XV(max)(v1, m1);
        m0 = XV(max)(v2, m0);
        m1 = XV(max)(v3, m1);
        if (lo_out) {
            l0 = XV(min)(v0, l0);
            l1 = XV(min)(v1, l1);
            l0 = XV(min)(v2, l0);
            l1 = XV(min)(v3, l1);
        }
        nan |= (XV_NE(v0, v0) | XV_NE(v1, v1)) | (XV_NE(v2, v2) | XV_NE(v3, v3));
    }
    for (; c + 8 <= C; c += 8) {
        const xv_d v = XK_LOADV(x + c);
        m0 = XV(max)(v, m0);
        if (lo_out) l0 = XV(min)(v, l0);
        nan |= XV_NE(v, v);
    }
    if (c < C && C >= 8) { /* the last eight entries, some read again (the maximum is the same) */
        const xv_d v = XK_LOADV(x + C - 8);
        m0 = XV(max)(v, m0);
        if (lo_out) l0 = XV(min)(v, l0);
        nan |= XV_NE(v, v);
        c = C;
    }
    double m = XV(max_lanes)(XV(max)(m0, m1));
    double lo = lo_out ? -XV(max_lanes)(-XV(min)(l0, l1)) : 0.0;
    int tail_nan = 0;
    for (; c < C; c++) {
        const double v = (double)x[c];
        m = v > m ? v : m;
        lo = v < lo ? v : lo;
        tail_nan |= v != v;
    }
    *m_out = XV(any)(nan) || tail_nan ? NAN : m;
    if (lo_out) *lo_out = lo;
}

#define XV_KADD(s, c, v)                                                        \
    do {                                                                      \
        xv_d y_ = (v) - (c);                                                  \
        xv_d t_ = (s) + y_;                                                   \
        (c) = (t_ - (s)) - y_;                                                \
        (s) = t_;                                                             \
    } while (0)
/* the same where the sum may become infinite (its compensation then 0, not inf or NaN, so
   that the sum stays inf) */
#define XV_KADD_INF(s, c, v)                                                    \
    do {                                                                      \
        XV_KADD(s, c, v);                                                     \
        (c) = XV(sel)(XV_EQ((c) - (c), zero), (c), zero);                     \
    } while (0)

/* The sum of eight lanes added pairwise in a fixed order, ((l0 + l1) + (l2 + l3)) +
 * ((l4 + l5) + (l6 + l7)), in registers (through memory, each lane's load waited for the
 * vector's store: a stall per row). */
static inline __attribute__((always_inline)) double FN(hsum)(xv_d l)
{
    l += XV_SHUFFLE(l, l, 1, 0, 3, 2, 5, 4, 7, 6);
    l += XV_SHUFFLE(l, l, 2, 3, 0, 1, 6, 7, 4, 5);
    l += XV_SHUFFLE(l, l, 4, 5, 6, 7, 0, 1, 2, 3);
    return l[0];
}

/* A row pass's sums into its state, each from its eight lanes (hsum): F (sb), v (vs), the
 * target-weighted v (tv), the target weights (wy) and the same without the maximum's entry
 * (wyx); the unused sums of a pass (zero vectors) fold away. */
static inline __attribute__((always_inline)) void FN(state_sums)(FN(state) *st, xv_d F, xv_d V,
                                                                 xv_d TV, xv_d W, xv_d WX)
{
    st->sb = FN(hsum)(F);
    st->vs = FN(hsum)(V);
    st->tv = FN(hsum)(TV);
    st->wy = FN(hsum)(W);
    st->wyx = FN(hsum)(WX);
}

/* The weighted sums alone (state_sums's V, TV, W, WX). */
static inline __attribute__((always_inline)) void FN(state_wsums)(FN(state) *st, xv_d V, xv_d TV,
                                                                  xv_d W, xv_d WX)
{
    st->vs = FN(hsum)(V);
    st->tv = FN(hsum)(TV);
    st->wy = FN(hsum)(W);
    st->wyx = FN(hsum)(WX);
}

/* d = x - m of eight entries and (double rows) its rounding error e, d + e = x - m exactly
 * (TwoSum; float rows: 0, their x - m in double exact or nearly), as the exp pass and the
 * weighted sums take them: e = 0 where d is -inf (but in CLEAN rows, which have none), and
 * d = e = 0 at the entries equal to a maximum that is not finite (tie: +inf, -inf). With mv,
 * zero, CLEAN and tie in scope; a macro (as an inline function, the float64 tiles took 1.02x
 * the time). */
#define XV_SHIFT_DE(xv, d, e)                                                   \
    do {                                                                      \
        (d) = (xv) - mv, (e) = zero;                                          \
        if (!XK_WIDEN) {                                                      \
            xv_d bp_ = (d) - (xv);                                            \
            (e) = ((xv) - ((d) - bp_)) - (bp_ + mv);                          \
            if (!CLEAN) (e) = XV(sel)(XV_GT((d), -HUGE_VAL), (e), zero);      \
        }                                                                     \
        if (!CLEAN && tie) { /* a maximum of +inf: x = m gives d = e = 0 */   \
            xv_i tie_ = XV_EQ((xv), mv);                                      \
            (d) = XV(sel)(tie_, zero, (d));                                   \
            if (!XK_WIDEN) (e) = XV(sel)(tie_, zero, (e));                    \
        }                                                                     \
    } while (0)

/* One vector of the exp pass: F = exp(x - m) below the maximum (0 at the entries equal to it),
 * written to out (STORE, every entry) and the weighted sums of SMOOTH/CAT added. */
#define XV_STEP(xv, tv, cwv, cidx, F, nstore, o)                                \
    do {                                                                      \
        xv_d d_, e_;                                                          \
        XV_SHIFT_DE((xv), d_, e_);                                            \
        xv_d E_ = CLEAN ? XV(exp_core)(d_) : XV(exp)(d_);                     \
        xv_d F_ = XK_WIDEN ? E_ : E_ + E_ * e_;                               \
        if (STORE) {                                                          \
            if ((nstore) == 8) XK_STOREV(o, F_);                              \
            else for (int l_ = 0; l_ < (nstore); l_++) (o)[l_] = (T)F_[l_];   \
        }                                                                     \
        (F) = XV(sel)(XV_LT(d_, zero), F_, zero);                             \
        if (SMOOTH || CAT) {                                                  \
            xv_d v_ = -(d_ + e_);                                             \
            if (SMOOTH) XV_KADD_INF(A2, K2, XV(sel)(XV_EQ((cwv), zero), zero, (cwv) * v_)); \
            if (CAT) {                                                        \
                xv_d w_ = (cwv) * (tv);                                       \
                XV_KADD_INF(A3, K3, XV(sel)(XV_EQ(w_, zero), zero, w_ * v_)); \
                XV_KADD(A4, K4, w_);                                          \
                if (STORE) /* wyx: the gradient's (and F kept: a focal pass) */ \
                    XV_KADD(A5, K5, XV(sel)(XV_EQ((cidx), topv), zero, w_));  \
            }                                                                 \
        }                                                                     \
    } while (0)

/* The weighted sums of a forward pass (SMOOTH or CAT without STORE or FG) within the exp
 * pass's loop (XK_FUSE_SUMS: row_pass_v, row_pass_s) where a vector is one register (AVX-512,
 * whose 32 registers hold the exp's and the sums' vectors), in a loop of their own after it
 * elsewhere (wsum_pass_v, wsum_pass_s: AVX2's sixteen registers did not hold them). The same
 * operations in the same order for each sum: the same bits. Intel Xeon (AVX-512; benchmarks.ab,
 * one thread, forward): the categorical loss of soft targets 0.88-0.96x the time at 64-1,000
 * float32 classes and 0.76x at 1,000 float64 classes, label smoothing 0.93-0.96x (float32) and
 * 0.68-0.77x (float64) at 100 and 1,000 classes. */
#undef XK_FUSE_SUMS
#undef XK_FUSE_TOP
#if defined(__AVX512F__)
#define XK_FUSE_SUMS 1
#else
#define XK_FUSE_SUMS 0
#endif
/* double rows with XK_FUSE_SUMS: the passes with a gradient too, the categorical gradient's
 * maximum's first entry (whose target it leaves out of a sum) found before the pass
 * (row_first). Intel Xeon (AVX-512), one thread: float64 gradients of label smoothing
 * 0.72-0.81x the time, of soft targets 0.74-0.90x (100 and 1,000 classes). Not float rows,
 * whose pass with STORE, fused, took 1.03-1.05x the time. */
#define XK_FUSE_TOP (XK_FUSE_SUMS && !XK_WIDEN)

/* row_pass_v's weighted sums (SMOOTH, CAT) in a loop of their own, after its exp pass or
 * before it where it writes over the row: XV_STEP's terms and compensated additions in the
 * same order, so the same bits. Within the pass, the eight vectors of F and the compensated sums
 * did not fit in the registers of AVX2. Into st (state_wsums). */
static inline __attribute__((always_inline)) void FN(wsum_pass_v)(
    const T *x, const T *t, const double *cw, ptrdiff_t C, FN(state) *st, const int STORE,
    const int SMOOTH, const int CAT, const int CLEAN)
{
    const xv_d zero = XV(splat)(0.0), mv = XV(splat)(st->m), ones = XV(splat)(1.0);
    const xv_i topv = {st->top, st->top, st->top, st->top, st->top, st->top, st->top, st->top};
    const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    const int tie = !(st->m > -HUGE_VAL && st->m < HUGE_VAL);
    xv_d A2 = zero, K2 = zero, A3 = zero, K3 = zero, A4 = zero, K4 = zero, A5 = zero, K5 = zero;
    for (ptrdiff_t c = 0; c < C; c += 8) {
        xv_d xv, tv = zero, cwv = ones;
        if (c + 8 <= C) {
            xv = XK_LOADV(x + c);
            if (CAT) tv = XK_LOADV(t + c);
            if (cw) cwv = XV(load)(cw + c);
        } else { /* padded as in row_pass_v */
            const int n = (int)(C - c);
            xv = FN(load_pad)(x + c, n, CLEAN ? st->m : -HUGE_VAL);
            if (CAT) tv = FN(load_pad)(t + c, n, 0.0);
            cwv = XV(load_pad)(cw ? cw + c : xk_ones, n, 0.0);
        }
        xv_d d_, e_;
        XV_SHIFT_DE(xv, d_, e_);
        const xv_d v_ = -(d_ + e_);
        if (SMOOTH) XV_KADD_INF(A2, K2, XV(sel)(XV_EQ(cwv, zero), zero, cwv * v_));
        if (CAT) {
            xv_d w_ = cwv * tv;
            XV_KADD_INF(A3, K3, XV(sel)(XV_EQ(w_, zero), zero, w_ * v_));
            XV_KADD(A4, K4, w_);
            /* wyx: the gradient's alone (finish's g_top) */
            if (STORE) XV_KADD(A5, K5, XV(sel)(XV_EQ(lane + c, topv), zero, w_));
        }
    }
    FN(state_wsums)(st, A2 - K2, A3 - K3, A4 - K4, A5 - K5);
}

/* The exp pass of a contiguous row: sb = sum of F = exp(x - m) below the maximum m; STORE:
 * out = F; SMOOTH: vs = sum_c cw_c v_c with v = m - x >= 0; CAT: with target weights
 * w_c = cw_c t_c, tv = sum_c w_c v_c, wy = sum_c w_c and wyx the same without entry `top`
 * (cw NULL: class weights of 1). A weight of 0 contributes 0 even where v is inf. The row is
 * taken in groups of eight vectors
 * (the last ones padded with -inf and weights 0), whose F are added pairwise and then to a
 * compensated sum (Kahan, "Further remarks on reducing truncation errors", CACM 8, 1965): the
 * error of a long sum stays at a few ulp, whatever its length. A maximum that is not finite
 * (+inf, -inf: every entry -inf, NaN) takes `tie`, which makes entries equal to it count 1. */
static inline __attribute__((always_inline)) void FN(row_pass_v)(
    const T *x, const T *t, const double *cw, T *out, ptrdiff_t C, FN(state) *st,
    const int STORE, const int SMOOTH_SUMS, const int CAT_SUMS, const int FG, const int CLEAN)
{
    (void)FG; /* the focal sums: float rows only (row_pass_s) */
    /* the exp pass's XV_STEP without the weighted sums (wsum_pass_v takes them apart) but with
       XK_FUSE_TOP (XK_FUSE_SUMS in double rows, whatever the pass) */
    const int FUSE = XK_FUSE_TOP;
    const int SMOOTH = FUSE && SMOOTH_SUMS, CAT = FUSE && CAT_SUMS;
    /* the entries equal to the maximum, counted, and the first of them (row_max found only
       the maximum) */
    uint64_t nt = 0;
    ptrdiff_t top = -1;
    const xv_d zero = XV(splat)(0.0), mv = XV(splat)(st->m), ones = XV(splat)(1.0);
    const xv_i topv = {st->top, st->top, st->top, st->top, st->top, st->top, st->top, st->top};
    const int tie = !(st->m > -HUGE_VAL && st->m < HUGE_VAL);
    xv_d A0 = zero, K0 = zero, A2 = zero, K2 = zero, A3 = zero, K3 = zero, A4 = zero, K4 = zero,
         A5 = zero, K5 = zero;
    /* the weighted sums after the pass (its row then in the cache), but before it where the
       pass writes over x */
    const int sums_first =
        (SMOOTH_SUMS || CAT_SUMS) && STORE && (const void *)out == x && !FUSE;
    if (sums_first) FN(wsum_pass_v)(x, t, cw, C, st, STORE, SMOOTH_SUMS, CAT_SUMS, CLEAN);
    xv_i cidx = {0, 1, 2, 3, 4, 5, 6, 7};
    FN(pf) pf = FN(pf_init)(st, C);
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 64) {
        xv_d F[8];
        FN(pf_step)(&pf);
        if (st->next) /* see row_pass_s */
            for (ptrdiff_t c = c0; c < c0 + 64 && c < C; c += 64 / (ptrdiff_t)sizeof(T))
                __builtin_prefetch(st->next + c, 0, 3);
        /* unrolled: F stays in registers (a loop kept it on the stack) */
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const ptrdiff_t c = c0 + 8 * k;
            F[k] = zero;
            if (c >= C) continue;
            xv_d xv, tv = zero, cwv = ones;
            if (c + 8 <= C) {
                xv = XK_LOADV(x + c);
                if (CAT) tv = XK_LOADV(t + c);
                if ((SMOOTH || CAT) && cw) cwv = XV(load)(cw + c);
            } else { /* the last entries, padded with -inf (F = 0) and weights 0; in a clean
                        row with m (d = 0: F = 0 too, and the padding is not counted as a
                        tie below) */
                const int n = (int)(C - c);
                xv = FN(load_pad)(x + c, n, CLEAN ? st->m : -HUGE_VAL);
                if (CAT) tv = FN(load_pad)(t + c, n, 0.0);
                cwv = SMOOTH || CAT ? XV(load_pad)(cw ? cw + c : xk_ones, n, 0.0) : zero;
            }
            const int nstore = C - c < 8 ? (int)(C - c) : 8;
            const xv_i idx = cidx + c;
            { /* the padding's lanes are not entries (they may equal a -inf maximum) */
                const uint32_t z = XV(mask)(XV_EQ(xv, mv)) & ((1u << nstore) - 1);
                if (z) { /* about once a row */
                    nt += (uint64_t)__builtin_popcount(z);
                    if (top < 0) top = c + __builtin_ctz(z);
                }
            }
            XV_STEP(xv, tv, cwv, idx, F[k], nstore, out + c);
        }
        XV_KADD(A0, K0, ((F[0] + F[1]) + (F[2] + F[3])) + ((F[4] + F[5]) + (F[6] + F[7])));
    }
    st->top = top < 0 ? 0 : top; /* for wsum_pass_v below: row_first's index */
    if ((SMOOTH_SUMS || CAT_SUMS) && !sums_first && !FUSE)
        FN(wsum_pass_v)(x, t, cw, C, st, STORE, SMOOTH_SUMS, CAT_SUMS, CLEAN);
    if ((SMOOTH_SUMS || CAT_SUMS) && !FUSE)
        st->sb = FN(hsum)(A0 - K0); /* the others: wsum_pass_v */
    else FN(state_sums)(st, A0 - K0, A2 - K2, A3 - K3, A4 - K4, A5 - K5);
    st->nt = (double)nt;
}

/* s of a row from its pass: NaN for a NaN row and a row of -inf (whose softmax is undefined),
 * 0 or NaN for a row whose maximum is +inf (one such entry: the limit; several: undefined).
 * Branch-free, so that a loop over the rows of a tile vectorizes with log1p(s) in it. */
static inline __attribute__((always_inline)) double FN(row_s)(double m, double sb, double nt)
{
    double s = sb + (nt - 1.0);
    s = xk_sel(m != m || m == -HUGE_VAL, NAN, s);
    return xk_sel(m == HUGE_VAL, xk_sel(nt == 1.0, 0.0, NAN), s);
}

/* row_s of eight rows (the same operations as selects) */
static inline __attribute__((always_inline)) xv_d FN(row_s_v)(xv_d m, xv_d sb, xv_d nt)
{
    const xv_d nan = XV(splat)(NAN);
    const xv_d s = XV(sel)(XV_NE(m, m) | XV_EQ(m, -HUGE_VAL), nan, sb + (nt - 1.0));
    return XV(sel)(XV_EQ(m, HUGE_VAL), XV(sel)(XV_EQ(nt, 1.0), XV(splat)(0.0), nan), s);
}

/* q^gamma by products for gamma = 1, 2, 3 or 4 (focal_int): q, q q, (q q) q, (q q)(q q) */
static inline __attribute__((always_inline)) xv_d FN(powi_v)(double gamma, xv_d q)
{
    const xv_d q2 = q * q;
    return gamma == 1.0 ? q : gamma == 2.0 ? q2 : gamma == 3.0 ? q2 * q : q2 * q2;
}

/* w f of the focal sums (focal_pass_s, tile_group_s): f = (1 - p)^G by products, p = F inv
 * (F = exp(x - m) with its low part, inv = 1 / (1 + s)) at most 1/2 off the maximum's entry,
 * so that 1 - p, in one multiply-add, is within an ulp */
static inline __attribute__((always_inline)) xv_d FN(focal_wf)(const int G, xv_d w, xv_d F,
                                                               xv_d inv)
{
    return w * FN(powi_v)(G, XV(fma)(-1.0 * F, inv, XV(splat)(1.0)));
}

#if XK_WIDEN
/* float rows, sixteen lanes at a time: row_max and row_pass_v with float arithmetic where the
 * result does not depend on it.
 *
 * The maximum's pass compares floats. The exp pass takes d = x - m in float with its rounding
 * error e (TwoSum), and F = exp(d + e) from expf_core (< 0.56 ulp of float, see xvec.h), or
 * expf_wide for vectors holding an entry whose F is not a normal float: F is then the double
 * exp(d) (1 + e), so entries down to the bottom of double's range keep their contribution, as
 * in the double pass. The sums (of F, and the weighted sums of SMOOTH/CAT, whose v = m - x is
 * taken in double from the widened x) are double: groups of 64 entries added pairwise, F's
 * groups then in plain double (see the pass), the weighted sums' runs compensated (Kahan), as
 * row_pass_v adds them. A float32 row's F is stored as float
 * anyway, so float arithmetic for it costs nothing in the results beyond its own 0.56 ulp.
 * With FG = gamma (1-4; CAT, the forward focal loss) the pass keeps each F with its float exp's
 * low part for the focal sums' loop after it (focal_pass_s). */

/* The maximum alone of a float row (NaN if it holds one), as row_max: four vectors a step
 * into two independent maxima and minima (four of each, their vectors on the stack, were a
 * fifth of a 64-class row's time): the exp pass then counts the entries equal to it and finds
 * the first (row_pass_s with TIES). */
static inline __attribute__((always_inline)) void FN(row_max_s)(const float *x, ptrdiff_t C,
                                                                double *m_out, double *lo_out)
{
    const xv_s ninf = XV(ssplat)(-HUGE_VALF), pinf = XV(ssplat)(HUGE_VALF);
    xv_s m0 = ninf, m1 = ninf;
    xv_s l0 = pinf, l1 = pinf;
    xv_si nan = {0};
    ptrdiff_t c = 0;
    for (; c + 64 <= C; c += 64) {
        const xv_s v0 = XV(sload)(x + c), v1 = XV(sload)(x + c + 16);
        const xv_s v2 = XV(sload)(x + c + 32), v3 = XV(sload)(x + c + 48);
        m0 = XV(smax)(v0, m0); /* a NaN entry leaves the maximum as it is */
        m1 = XV(smax)(v1, m1);
        m0 = XV(smax)(v2, m0);
        m1 = XV(smax)(v3, m1);
        if (lo_out) {
            l0 = XV(smin)(v0, l0);
            l1 = XV(smin)(v1, l1);
            l0 = XV(smin)(v2, l0);
            l1 = XV(smin)(v3, l1);
        }
        nan |= (XV_NE(v0, v0) | XV_NE(v1, v1)) | (XV_NE(v2, v2) | XV_NE(v3, v3));
    }
    for (; c + 16 <= C; c += 16) {
        const xv_s v = XV(sload)(x + c);
        m0 = XV(smax)(v, m0);
        if (lo_out) l0 = XV(smin)(v, l0);
        nan |= XV_NE(v, v);
    }
    if (c < C && C >= 16) { /* the last sixteen entries, some read again (the same maximum) */
        const xv_s v = XV(sload)(x + C - 16);
        m0 = XV(smax)(v, m0);
        if (lo_out) l0 = XV(smin)(v, l0);
        nan |= XV_NE(v, v);
        c = C;
    }
    float m = XV(smax_lanes)(XV(smax)(m0, m1));
    float lo = -XV(smax_lanes)(-XV(smin)(l0, l1));
    int tail_nan = 0;
    for (; c < C; c++) {
        m = x[c] > m ? x[c] : m;
        lo = x[c] < lo ? x[c] : lo;
        tail_nan |= x[c] != x[c];
    }
    *m_out = XV(sany)(nan) || tail_nan ? NAN : (double)m;
    if (lo_out) *lo_out = (double)lo;
}

/* row_pass_s's weighted sums (SMOOTH, CAT): P2 .. P5 over the current run of XK_RUN entries,
 * each run then added to the compensated sums A, K (see row_pass_s) */
typedef struct {
    xv_d P2, P3, P4, P5, A2, K2, A3, K3, A4, K4, A5, K5;
} FN(wsums);

/* Sixteen entries of a float row at c for row_pass_s: the logits (the last nstore < 16 padded
 * with pad), the targets (CAT; padded with 0) and the class weights (SMOOTH or CAT; padded
 * with 0, none to read in a whole vector without them). */
static inline __attribute__((always_inline)) void FN(load16_s)(
    const float *x, const float *t, const double *cw, ptrdiff_t c, int nstore, float pad,
    xv_s *xv, xv_s *tv, xv_d cwv[2], const int SMOOTH, const int CAT)
{
    const xv_d zero = XV(splat)(0.0);
    cwv[0] = cwv[1] = zero;
    if (nstore == 16) {
        *xv = XV(sload)(x + c);
        if (CAT) *tv = XV(sload)(t + c);
        if ((SMOOTH || CAT) && cw) cwv[0] = XV(load)(cw + c), cwv[1] = XV(load)(cw + c + 8);
    } else {
        *xv = XV(sload_pad)(x + c, nstore, pad);
        if (CAT) *tv = XV(sload_pad)(t + c, nstore, 0.0f);
        if ((SMOOTH || CAT) && cw) {
            cwv[0] = XV(load_pad)(cw + c, nstore < 8 ? nstore : 8, 0.0);
            cwv[1] = XV(load_pad)(cw + c + 8, nstore < 8 ? 0 : nstore - 8, 0.0);
        } else if (SMOOTH || CAT) { /* weights of 1 padded with 0, by lane numbers (the masked
                                       loads of ones were a tenth of a 100-class row's sums) */
            const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
            cwv[0] = XV(sel)(XV_LT(lane, (int64_t)nstore), XV(splat)(1.0), zero);
            cwv[1] = XV(sel)(XV_LT(lane, (int64_t)nstore - 8), XV(splat)(1.0), zero);
        }
    }
}

/* w with the entry top set apart (0) where one of the eight lanes from c holds it (once a row:
 * no vector of indices to compare in the others) */
static inline __attribute__((always_inline)) xv_d FN(off_top)(xv_d w, ptrdiff_t c, ptrdiff_t top)
{
    const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    if ((size_t)(top - c) < 8) w = XV(sel)(XV_EQ(lane + c, top), XV(splat)(0.0), w);
    return w;
}

/* The targets of sixteen entries at c of a float row into their sum as `stats` adds a row
 * (ta0 and ta1 taken in turn, sixteen entries each; the last, fewer than sixteen, padded with
 * 0, into ta1), and with BAD whether one is below 0 or above 1 (a NaN: the sum's): the check
 * of the targets within the sums' passes (wsum_pass_s, focal_pass_s; xk_row_check). */
static inline __attribute__((always_inline)) void FN(tsum16)(xv_s tv, ptrdiff_t c, int nstore,
                                                             xv_d *ta0, xv_d *ta1, xv_si *tbad,
                                                             const int BAD)
{
    const xv_d ts = XV(swiden_lo)(tv) + XV(swiden_hi)(tv);
    if (((c >> 4) & 1) || nstore < 16) *ta1 += ts;
    else *ta0 += ts;
    if (BAD) *tbad |= XV_LT(tv, 0.0f) | XV_GT(tv, 1.0f);
}

/* The weighted sums' terms of sixteen entries at c (row_pass_s): v = m - x >= 0 in double from
 * the widened x, SMOOTH's cw v, CAT's w = cw t, w v, w and w off the entry topc. plain: a whole
 * vector without class weights; low: a lane below exp's range (x may be -inf); tie: the
 * maximum is not finite; nw: no sum of w here (wsum_pass_s's targets without class weights:
 * the caller's). */
static inline __attribute__((always_inline)) void FN(wsum_vec_s)(
    FN(wsums) *S, const FN(state) *st, xv_s xv, xv_s tv, const xv_d cwv[2], ptrdiff_t c,
    int plain, int low, int tie, int nw, ptrdiff_t topc, const int STORE, const int SMOOTH,
    const int CAT)
{
    const xv_d zero = XV(splat)(0.0), mv = XV(splat)(st->m);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        xv_d xd = h ? XV(swiden_hi)(xv) : XV(swiden_lo)(xv);
        /* 0 at the entries equal to the maximum (set where the maximum is not finite:
           inf - inf) */
        xv_d v_ = mv - xd;
        if (tie) v_ = XV(sel)(XV_EQ(xd, mv), zero, v_);
        if (SMOOTH) S->P2 += plain ? v_ : XV(sel)(XV_EQ(cwv[h], zero), zero, cwv[h] * v_);
        if (CAT) {
            const xv_d tvd = h ? XV(swiden_hi)(tv) : XV(swiden_lo)(tv);
            const xv_d w_ = plain ? tvd : cwv[h] * tvd;
            /* v is finite but where x is -inf (low) or the maximum is not finite (tie); w v is
               added in one multiply-add where it is */
            if (low || tie) S->P3 += XV(sel)(XV_EQ(w_, zero), zero, w_ * v_);
            else S->P3 = XV(fma)(w_, v_, S->P3);
            if (!nw) S->P4 += w_;
            /* the entry topc set apart in the one vector that holds it (once a row: no vector
               of indices to compare in the others) */
            if (STORE) S->P5 += FN(off_top)(w_, c + 8 * h, topc);
        }
    }
}

/* The end of a run: its weighted sums added to the compensated ones. */
static inline __attribute__((always_inline)) void FN(wsum_run_s)(FN(wsums) *S, const int STORE,
                                                                  const int SMOOTH,
                                                                  const int CAT)
{
    const xv_d zero = XV(splat)(0.0);
    if (SMOOTH) XV_KADD_INF(S->A2, S->K2, S->P2);
    if (CAT) {
        XV_KADD_INF(S->A3, S->K3, S->P3);
        XV_KADD(S->A4, S->K4, S->P4);
        if (STORE) XV_KADD(S->A5, S->K5, S->P5); /* wyx: the gradient's */
    }
    S->P2 = S->P3 = S->P4 = S->P5 = zero;
}

/* d = x - m in float (0 at a maximum of +inf), as the exp pass takes it, and whether a lane's
 * d is below exp's range (CAT, where the row is not clean). */
static inline __attribute__((always_inline)) int FN(wsum_low_s)(xv_s xv, xv_s mf, int tie,
                                                               const int CAT, const int CLEAN)
{
    if (CLEAN || !CAT) return 0;
    xv_s d = xv - mf;
    if (tie) d = XV(ssel)(XV_EQ(xv, mf), XV(ssplat)(0.0f), d);
    return XV(sany)(XV_LT(d, XV_EXPF_MIN));
}

/* The end of a float row's weighted sums (wsum_pass_s, row_pass_s_impl with FUSE, pair_end)
 * into st: the weighted sums themselves, the targets' sum wy where they have no class weights
 * (TW: added as `stats` adds a row, by tsum16) and with CHECK the check's sum and range. */
static inline __attribute__((always_inline)) void FN(wsums_end)(FN(state) *st,
                                                               const FN(wsums) *S, xv_d ta0,
                                                               xv_d ta1, xv_si tbad,
                                                               const int TW, const int CHECK)
{
    FN(state_wsums)(st, S->A2 - S->K2, S->A3 - S->K3, S->A4 - S->K4, S->A5 - S->K5);
    if (TW) st->wy = FN(hsum)(ta0 + ta1);
    if (CHECK) {
        st->tsum = st->wy;
        st->tbad = XV(sany)(tbad);
    }
}

/* The weighted sums of a row (row_pass_s) in a loop of their own, after its exp pass or before
 * it (see row_pass_v; within it with XK_FUSE_SUMS): within the pass the exp's and the sums'
 * vectors did not fit in the sixteen registers of AVX2 (the categorical loss's pass took 1.6
 * times the sparse one's, its gradient's 2.5 times). Each w v is added in one multiply-add.
 *
 * Targets without class weights (CAT, tw): their sum wy = W is added as `stats` adds a row
 * (sixteen entries at a time into two vectors of eight lanes taken in turn, the last entries,
 * fewer than sixteen, padded with 0 into the second, its lanes then added pairwise; relative
 * error below (C / 32 + 5) 2^-53, far under a float result's), so that with CHECK, the
 * targets checked as they are read here (st->tcheck, see xk_row_check), the row's sum is W
 * itself and the block's total the one `stats` gives: a pass over the targets fewer (at 1,000
 * float32 classes it was a fifth of the loss), and no sum of W of its own (compensated, in two
 * more vectors, which took the check's and the sums' accumulators beyond the registers). */
static inline __attribute__((always_inline)) void FN(wsum_pass_s)(
    const float *x, const float *t, const double *cw, ptrdiff_t C, FN(state) *st, int tie,
    const int STORE, const int SMOOTH, const int CAT, const int CLEAN, const int CHECK,
    const int TW)
{
    const xv_d zero = XV(splat)(0.0);
    FN(wsums) S = {zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero};
    xv_d ta0 = zero, ta1 = zero;
    xv_si tbad = {0};
    const xv_s mf = XV(ssplat)((float)st->m);
    /* targets without class weights (TW: cw is NULL): their sum (wy), in `stats`'s order, is
       also their check's (CHECK) */
    const int tw = CAT && TW;
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 64) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t c = c0 + 16 * k;
            if (c >= C) continue;
            const int nstore = C - c < 16 ? (int)(C - c) : 16;
            xv_s xv, tv = XV(ssplat)(0.0f);
            xv_d cwv[2];
            FN(load16_s)(x, t, cw, c, nstore, CLEAN ? (float)st->m : -HUGE_VALF, &xv, &tv, cwv,
                         SMOOTH, CAT);
            const int low = FN(wsum_low_s)(xv, mf, tie, CAT, CLEAN);
            FN(wsum_vec_s)(&S, st, xv, tv, cwv, c, cw == NULL && nstore == 16, low, tie, tw,
                           st->top, STORE, SMOOTH, CAT);
            if (tw) FN(tsum16)(tv, c, nstore, &ta0, &ta1, &tbad, CHECK);
        }
        if ((c0 + 64) % XK_RUN == 0 || c0 + 64 >= C) {
            FN(wsum_run_s)(&S, STORE, SMOOTH, CAT);
        }
    }
    FN(wsums_end)(st, &S, ta0, ta1, tbad, tw, CHECK && CAT);
}

/* The focal loss's sums of a float row (row_pass_s with FG = gamma, 1-4; the forward loss of
 * soft or smoothed targets) in a loop after its exp pass: over the entries but the first
 * maximum's, fa = sum w f and fb = sum w f v (see FN(state)), f = (1 - p)^gamma by products,
 * p = F / (1 + s) from the F the pass kept in st->ff (with its low part) and its s (st->sb,
 * st->nt), in runs of XK_RUN entries then compensated sums (focal_wf). Every term is
 * non-negative: the alternating power sums sum w F^j, sum w F^j v that the exp pass took
 * before s was known (commit 9149854 replaced them) needed 2 gamma + 2 accumulators, whose
 * loop took as long as the exp pass (1,000 float32 classes). CHECK: the targets checked as
 * they are read, as wsum_pass_s's CHECK does (tsum16). */
static inline __attribute__((always_inline)) void FN(focal_pass_s)(
    const float *x, const float *t, const double *cw, ptrdiff_t C, FN(state) *st, int tie,
    const int CLEAN, const int CHECK, const int G)
{
    const xv_d zero = XV(splat)(0.0), mv = XV(splat)(st->m);
    const xv_d inv = XV(splat)(1.0 / (1.0 + FN(row_s)(st->m, st->sb, st->nt)));
    const xv_s mf = XV(ssplat)((float)st->m);
    const int smoothed = st->kw0 != 0.0 || st->kw1 != 1.0;
    const ptrdiff_t top = st->top;
    xv_d PA = zero, PB = zero, AA = zero, KA = zero, AB = zero, KB = zero;
    xv_d ta0 = zero, ta1 = zero;
    xv_si tbad = {0};
    for (ptrdiff_t c0 = 0; c0 < C; c0 += XK_RUN) {
        const ptrdiff_t c1 = C - c0 < XK_RUN ? C : c0 + XK_RUN;
        for (ptrdiff_t c = c0; c < c1; c += 16) {
            const int nstore = C - c < 16 ? (int)(C - c) : 16;
            xv_s xv, tv;
            xv_d cwv[2];
            FN(load16_s)(x, t, cw, c, nstore, CLEAN ? (float)st->m : -HUGE_VALF, &xv, &tv, cwv,
                         0, 1);
            const int low = FN(wsum_low_s)(xv, mf, tie, 1, CLEAN);
            if (CHECK) FN(tsum16)(tv, c, nstore, &ta0, &ta1, &tbad, 1);
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const xv_d xd = h ? XV(swiden_hi)(xv) : XV(swiden_lo)(xv);
                xv_d v = mv - xd; /* 0 at the maximum's entries (set where it is infinite) */
                if (tie) v = XV(sel)(XV_EQ(xd, mv), zero, v);
                xv_d w = h ? XV(swiden_hi)(tv) : XV(swiden_lo)(tv);
                if (smoothed) w = st->kw1 * w + st->kw0;
                if (cw != NULL || nstore < 16) w = cwv[h] * w;
                w = FN(off_top)(w, c + 8 * h, top); /* the maximum's entry set apart */
                const xv_d wf = FN(focal_wf)(G, w, XV(load)(st->ff + c + 8 * h), inv);
                PA += wf;
                /* v is infinite where x is -inf (low) */
                if (low || tie) PB += XV(sel)(XV_EQ(wf, zero), zero, wf * v);
                else PB = XV(fma)(wf, v, PB);
            }
        }
        XV_KADD(AA, KA, PA);
        XV_KADD_INF(AB, KB, PB);
        PA = PB = zero;
    }
    st->fa = FN(hsum)(AA - KA);
    st->fb = FN(hsum)(AB - KB);
    if (CHECK) {
        st->tsum = FN(hsum)(ta0 + ta1);
        st->tbad = XV(sany)(tbad);
    }
}

/* The targets of the 64 entries from c0 of a float row, looked at for a one-hot row
 * (row_pass_s_impl's HOT): st->hot_y the class of its 1 so far, -2 once it is not one-hot (a
 * second nonzero entry, or one that is not 1; NaN is not). 64 entries of zeros (+0 or -0) in
 * one test: a mask a vector, moved to a general register and tested, had cost a fifth of a
 * one-hot row's exp pass. */
static inline __attribute__((always_inline)) void FN(hot_step)(const float *t, ptrdiff_t c0,
                                                               ptrdiff_t C, FN(state) *st)
{
    const xv_si none = {0};
    if (c0 + 64 <= C) {
        const xv_si a = ((xv_si)XV(sload)(t + c0) | (xv_si)XV(sload)(t + c0 + 16)) |
                        ((xv_si)XV(sload)(t + c0 + 32) | (xv_si)XV(sload)(t + c0 + 48));
        if (!XV(sany)(XV_NE(a & (none + 0x7fffffff), none))) return;
    }
    /* the nonzero entries and the 1s as the bits of two masks: one test, without a branch
       per vector (each a misprediction where the 1 is) */
    uint64_t nz = 0, ones = 0;
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const ptrdiff_t c = c0 + 16 * k;
        if (c >= C) break;
        const int n = C - c < 16 ? (int)(C - c) : 16;
        const xv_s v = n == 16 ? XV(sload)(t + c) : XV(sload_pad)(t + c, n, 0.0f);
        nz |= (uint64_t)XV(smask)(XV_NE(v, XV(ssplat)(0.0f))) << (16 * k);
        ones |= (uint64_t)XV(smask)(XV_EQ(v, XV(ssplat)(1.0f))) << (16 * k);
    }
    if (nz)
        st->hot_y = st->hot_y < 0 && (nz & (nz - 1)) == 0 && nz == ones
                        ? c0 + __builtin_ctzll(nz)
                        : -2;
}

/* The exp pass's shift of sixteen entries of a float row (row_pass_s_impl, pair_vec): d = x - m
 * in float and its rounding error e (TwoSum; e is NaN where d is -inf, x = -inf or x - m
 * beyond float's range, whose F the callers set to 0 whatever e is); with tie (a maximum of
 * +inf) d = e = 0 where x = m. The entries equal to the maximum among the first n (the
 * padding's lanes are not entries: they may equal a -inf maximum) counted into nt, the first
 * one's index into top; returns their mask. */
static inline __attribute__((always_inline)) uint32_t FN(shift16)(xv_s xv, xv_s mf, int tie,
                                                                 ptrdiff_t c, int n, xv_s *d_out,
                                                                 xv_s *e_out, uint64_t *nt,
                                                                 ptrdiff_t *top)
{
    const xv_s szero = XV(ssplat)(0.0f);
    xv_s d = xv - mf, bp = d - xv;
    xv_s e = (xv - (d - bp)) - (bp + mf);
    if (tie) { /* a maximum of +inf: x = m gives d = e = 0 */
        const xv_si tie_ = XV_EQ(xv, mf);
        d = XV(ssel)(tie_, szero, d);
        e = XV(ssel)(tie_, szero, e);
    }
    const uint32_t z = XV(smask)(XV_EQ(d, szero)) & (uint32_t)((1ull << n) - 1);
    if (z) { /* about once a row */
        *nt += (uint64_t)__builtin_popcount(z);
        if (*top < 0) *top = c + __builtin_ctz(z);
    }
    *d_out = d, *e_out = e;
    return z;
}

/* The float rows of at least this many classes prefetch their targets in the exp pass, 2 KiB
 * ahead: rows that are not in the cache (a 500 KiB row of 128,000 float32 targets) waited for
 * them, and the categorical loss of 256 x 128,000 took 0.83x the time with it (Intel Xeon, one
 * thread); rows of 1,000 read theirs from the block's prefetch (xk_block.pf) or the hardware's,
 * and took 1.04x with it. */
#ifndef XK_PF_T_MIN
#define XK_PF_T_MIN 8192
#endif
static inline __attribute__((always_inline)) void FN(row_pass_s_impl)(
    const float *x, const float *t, const double *cw, float *out, ptrdiff_t C, FN(state) *st,
    const int STORE, const int SMOOTH, const int CAT, const int FG, const int CLEAN,
    const int FUSE, const int FCHECK, const int FTW, const int HOT)
{
    const xv_d zero = XV(splat)(0.0);
    /* HOT (the sparse loss's pass, CAT 0): the row's targets t looked at for a one-hot row as
       the pass reads the logits (hot_step) */
    /* FUSE: the weighted sums in the exp pass's loop (see row_pass_s), their targets' check
       (FCHECK) and targets without class weights (FTW) as wsum_pass_s's CHECK and TW */
    FN(wsums) S = {zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero};
    xv_d ta0 = zero, ta1 = zero;
    xv_si tbad = {0};
    const int ftw = FUSE && CAT && FTW;
    const xv_s szero = XV(ssplat)(0.0f), mf = XV(ssplat)((float)st->m);
    const int tie = !CLEAN && !(st->m > -HUGE_VAL && st->m < HUGE_VAL);
    /* the weighted sums after the pass (wsum_pass_s; with FG the focal sums instead,
       focal_pass_s, from the F it keeps and its s), but before it where it writes over x (see
       row_pass_v), and within its loop with FUSE (see XK_FUSE_SUMS) */
    /* the entries equal to the maximum (d = 0 exactly, as the maximum is one of the row's
       floats; set below where it is infinite), counted, and the first of them */
    uint64_t nt = 0;
    ptrdiff_t top = -1;
    xv_d A0 = zero, K0 = zero;
    const int sums = SMOOTH || CAT, sums_first = sums && STORE && out == x;
    if (sums_first && cw == NULL)
        FN(wsum_pass_s)(x, t, cw, C, st, tie, STORE, SMOOTH, CAT, CLEAN, 0, 1);
    else if (sums_first)
        FN(wsum_pass_s)(x, t, cw, C, st, tie, STORE, SMOOTH, CAT, CLEAN, 0, 0);
    xv_s LO = szero; /* with st->hilo: the exps' rounding errors */
    FN(pf) pf = FN(pf_init)(st, C);
    /* the targets of a long row, 2 KiB ahead (see XK_PF_T_MIN) */
    const int pf_t = FUSE && CAT && C >= XK_PF_T_MIN;
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 64) {
        FN(pf_step)(&pf);
        /* per vector, the sum of its two halves' F (G), added in pairs and then to A0 once
           per 64 entries, in plain double: non-negative terms, so s's relative error is below
           (6 + C / 64) 2^-53 (2^-29 for any row of fewer than 2^24 entries, a 32nd of a float
           result's ulp). A compensated addition there, a chain of four dependent additions,
           had cost 3-4 % of the pass at 100-1,000 classes (and a fifth once per 32 entries). */
        xv_d G[4];
        /* the next row's maximum pass then reads from the cache: its loads overlap this
           row's arithmetic instead of following it */
        if (st->next)
            for (ptrdiff_t c = c0; c < c0 + 64 && c < C; c += 16)
                __builtin_prefetch(st->next + c, 0, 3);
        if (st->next_t)
            for (ptrdiff_t c = c0; c < c0 + 64 && c < C; c += 16)
                __builtin_prefetch(st->next_t + c, 0, 3);
        if (__builtin_expect(pf_t, 0) && c0 + 512 < C)
            for (int l = 0; l < 4; l++) __builtin_prefetch(t + c0 + 512 + 16 * l, 0, 3);
        /* FG: the focal sums' loop after this pass reads the targets, which this one does not:
           their lines of these 64 entries asked for here, so that that loop finds them in the
           cache (without it, its loads of a line's targets waited for memory: an eighth of the
           focal loss of 8,192 x 1,000 float32 soft targets, perf; with it 0.86-0.89x the time,
           benchmarks.ab large). The weighted sums' loop after a pass with a gradient gained
           2 % at 1,000 classes from the same and lost 1-2 % at 64-257 in the cache: not there. */
        if (FG)
            for (ptrdiff_t c = c0; c < c0 + 64 && c < C; c += 16) __builtin_prefetch(t + c, 0, 3);
        if (HOT && st->hot_y != -2) FN(hot_step)(t, c0, C, st);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t c = c0 + 16 * k;
            G[k] = zero;
            if (c >= C) continue;
            const int nstore = C - c < 16 ? (int)(C - c) : 16;
            xv_s xv, tv = szero;
            xv_d cwv[2];
            /* the last entries padded with -inf (F = 0); in a clean row with m (d = 0: F = 0
               too, and not counted as a tie below) */
            FN(load16_s)(x, t, cw, c, nstore, CLEAN ? (float)st->m : -HUGE_VALF, &xv, &tv, cwv,
                         FUSE && SMOOTH, FUSE && CAT);
            xv_s d, e;
            const uint32_t z = FN(shift16)(xv, mf, tie, c, nstore, &d, &e, &nt, &top);
            /* FG, a whole vector without an entry at the maximum (d < 0 in every lane): s
               takes each F with its low part as FF keeps them, one sum in double, instead of
               the select's F widened again and the low parts' float sum (LO) */
            int kept = 0;
            xv_s flo;
            xv_s core = XV(expf_hilo)(d, e, &flo);
            /* the core's lanes (also in expf_wide's): their rounding errors */
            const xv_s flo_core = CLEAN ? flo : XV(ssel)(XV_GE(d, XV_EXPF_MIN), flo, szero);
            xv_d FF[2] = {zero, zero}; /* FG: F at every entry, with its low part */
            if (!CLEAN && __builtin_expect(XV(expf_needs_wide)(d), 0)) {
                xv_d W[2];
                XV(expf_wide)(d, e, core, W);
                if (STORE)
                    for (int l = 0; l < nstore; l++) out[c + l] = (float)W[l >> 3][l & 7];
                G[k] = XV(sel)(XV_LT(XV(swiden_lo)(d), zero), W[0], zero) +
                       XV(sel)(XV_LT(XV(swiden_hi)(d), zero), W[1], zero);
                if (FG) { /* the core's lanes as below: a row's sums whatever its vector */
                    FF[0] = W[0] + XV(swiden_lo)(flo_core);
                    FF[1] = W[1] + XV(swiden_hi)(flo_core);
                }
            } else {
                xv_s Fs = CLEAN ? core : XV(ssel)(XV_LT(d, XV_EXPF_MIN), szero, core);
                if (STORE) {
                    if (nstore == 16) XV(sstore)(out + c, Fs);
                    else for (int l = 0; l < nstore; l++) out[c + l] = Fs[l];
                }
                if (FG) {
                    FF[0] = XV(swiden_lo)(Fs) + XV(swiden_lo)(flo_core);
                    FF[1] = XV(swiden_hi)(Fs) + XV(swiden_hi)(flo_core);
                }
                kept = FG && !z && nstore == 16;
                if (kept) {
                    G[k] = FF[0] + FF[1];
                } else {
                    Fs = XV(ssel)(XV_LT(d, szero), Fs, szero);
                    G[k] = XV(swiden_lo)(Fs) + XV(swiden_hi)(Fs);
                }
            }
            /* the rounding errors summed in float lanes (a sum 2^-24 of s's needs no more;
               d = 0 has none) */
            if (st->hilo && !kept) LO += flo_core;
            if (FG) XV(store)(st->ff + c, FF[0]), XV(store)(st->ff + c + 8, FF[1]);
            if (FUSE) { /* wsum_pass_s's step */
                const int low = FN(wsum_low_s)(xv, mf, tie, CAT, CLEAN);
                FN(wsum_vec_s)(&S, st, xv, tv, cwv, c, cw == NULL && nstore == 16, low, tie, ftw,
                               st->top, STORE, SMOOTH, CAT);
                if (ftw) FN(tsum16)(tv, c, nstore, &ta0, &ta1, &tbad, FCHECK);
            }
        }
        A0 += (G[0] + G[1]) + (G[2] + G[3]);
        if (FUSE && ((c0 + 64) % XK_RUN == 0 || c0 + 64 >= C))
            FN(wsum_run_s)(&S, STORE, SMOOTH, CAT);
    }
    if (st->hilo) XV_KADD(A0, K0, XV(swiden_lo)(LO) + XV(swiden_hi)(LO));
    /* for the sums' pass below: row_first's index (FG: -1 where no maximum was found, a NaN
       row: no entry set apart) */
    st->top = top < 0 && !FG ? 0 : top;
    st->nt = (double)nt;
    if (sums) st->sb = FN(hsum)(A0 - K0); /* (the focal sums' s; the others: the sums' pass) */
    if (FUSE) FN(wsums_end)(st, &S, ta0, ta1, tbad, ftw, FCHECK && CAT);
    else if (sums && !sums_first) {
        /* (the check's targets have no class weights: xk_row_check) */
        if (FG && st->tcheck) FN(focal_pass_s)(x, t, cw, C, st, tie, CLEAN, 1, FG);
        else if (FG) FN(focal_pass_s)(x, t, cw, C, st, tie, CLEAN, 0, FG);
        else if (CAT && st->tcheck)
            FN(wsum_pass_s)(x, t, cw, C, st, tie, STORE, SMOOTH, CAT, CLEAN, 1, 1);
        else if (CAT && cw == NULL)
            FN(wsum_pass_s)(x, t, cw, C, st, tie, STORE, SMOOTH, CAT, CLEAN, 0, 1);
        else FN(wsum_pass_s)(x, t, cw, C, st, tie, STORE, SMOOTH, CAT, CLEAN, 0, 0);
    }
    st->top = top < 0 ? 0 : top;
    if (!sums) FN(state_sums)(st, A0 - K0, zero, zero, zero, zero);
}

/* row_pass_s_impl, its weighted sums in the exp pass's loop for a forward pass with
 * XK_FUSE_SUMS (their check, and targets without class weights, as wsum_pass_s's instances) */
static inline __attribute__((always_inline)) void FN(row_pass_s)(
    const float *x, const float *t, const double *cw, float *out, ptrdiff_t C, FN(state) *st,
    const int STORE, const int SMOOTH, const int CAT, const int FG, const int CLEAN)
{
    if (XK_FUSE_SUMS && (SMOOTH || CAT) && !STORE && !FG) {
        /* (the check's targets have no class weights: xk_row_check) */
        if (CAT && st->tcheck)
            FN(row_pass_s_impl)(x, t, cw, out, C, st, STORE, SMOOTH, CAT, FG, CLEAN, 1, 1, 1, 0);
        else if (CAT && cw == NULL)
            FN(row_pass_s_impl)(x, t, cw, out, C, st, STORE, SMOOTH, CAT, FG, CLEAN, 1, 0, 1, 0);
        else FN(row_pass_s_impl)(x, t, cw, out, C, st, STORE, SMOOTH, CAT, FG, CLEAN, 1, 0, 0, 0);
    } else FN(row_pass_s_impl)(x, t, cw, out, C, st, STORE, SMOOTH, CAT, FG, CLEAN, 0, 0, 0, 0);
}

/* Two rows in one exp pass: the float rows of rows_values whose pass is row_pass_s_impl's with
 * CLEAN alone (the sparse loss without smoothing or focal factor, logsumexp) or with CLEAN and
 * the categorical loss's fused sums and check (CAT, FUSE, FCHECK, FTW: targets without class
 * weights, checked by the pass; forward, no smoothing or focal factor), with at most XK_PAIR_C
 * classes, two at a time where both are clean, where a vector is one register (AVX-512: the
 * two rows' exps and sums fit in its 32). Each row's operations are that pass's, in the same
 * order (pair_vec: its vector step; pair_end: its end): the same bits as the row alone.
 * Interleaved, the rows' chains of dependent operations (the exp's, the sums' reductions)
 * overlap, and the two share one call's set-up: Intel Xeon (AVX-512), one thread, float32
 * sparse loss and logsumexp of 2,048 rows: 49-100 classes 0.88-0.91x the time, 128-192
 * 0.94-0.97x, 256 1.0x; the categorical loss of soft targets at 64 and 100 classes 0.95-0.97x
 * (benchmarks.ab catrows), 256 x 100 0.91x; with AVX2's sixteen registers the sparse pair
 * took 1.6-1.8x the time (spilled), so not there. */
#if defined(__AVX512F__)
#define XK_PAIR_C 256
#else
#define XK_PAIR_C 0
#endif

/* One row of a pair: its pass's sums as row_pass_s_impl keeps them, and its share of the
 * block's prefetch. */
typedef struct {
    const float *x, *t;
    FN(state) *st;
    xv_s mf;
    uint64_t nt;
    ptrdiff_t top;
    xv_d A0, ta0, ta1;
    xv_si tbad;
    FN(wsums) S;
    FN(pf) pf;
} FN(pair_row);

static inline __attribute__((always_inline)) void FN(pair_init)(FN(pair_row) *p,
                                                               const float *x, const float *t,
                                                               FN(state) *st, ptrdiff_t C)
{
    const xv_d zero = XV(splat)(0.0);
    p->x = x, p->t = t, p->st = st;
    p->mf = XV(ssplat)((float)st->m);
    p->nt = 0, p->top = -1;
    p->A0 = p->ta0 = p->ta1 = zero;
    p->tbad = (xv_si){0};
    p->S = (FN(wsums)){zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero};
    p->pf = FN(pf_init)(st, C);
}

/* The vector step of the 16 entries from c (nstore of them, the others padded with the
 * maximum; targets with 0): the ties with the maximum counted into nt and the first one's index
 * into top, F below the maximum summed in double (returned), and with CAT the weighted sums and
 * the targets' sum and check. */
static inline __attribute__((always_inline)) xv_d FN(pair_vec)(FN(pair_row) *p, ptrdiff_t c,
                                                              int nstore, const int CAT)
{
    const xv_s szero = XV(ssplat)(0.0f);
    xv_s xv, tv = szero;
    xv_d cwv[2];
    FN(load16_s)(p->x, p->t, NULL, c, nstore, p->mf[0], &xv, &tv, cwv, 0, CAT);
    xv_s d, e, flo;
    FN(shift16)(xv, p->mf, 0, c, nstore, &d, &e, &p->nt, &p->top);
    const xv_s Fs = XV(ssel)(XV_LT(d, szero), XV(expf_hilo)(d, e, &flo), szero);
    if (CAT) {
        FN(wsum_vec_s)(&p->S, p->st, xv, tv, cwv, c, nstore == 16, 0, 0, 1, p->st->top, 0, 0, 1);
        FN(tsum16)(tv, c, nstore, &p->ta0, &p->ta1, &p->tbad, 1);
    }
    return XV(swiden_lo)(Fs) + XV(swiden_hi)(Fs);
}

static inline __attribute__((always_inline)) void FN(pair_end)(FN(pair_row) *p, const int CAT)
{
    const xv_d zero = XV(splat)(0.0);
    FN(state) *st = p->st;
    st->top = p->top < 0 ? 0 : p->top;
    st->nt = (double)p->nt;
    if (CAT) {
        st->sb = FN(hsum)(p->A0);
        FN(wsums_end)(st, &p->S, p->ta0, p->ta1, p->tbad, 1, 1);
    } else FN(state_sums)(st, p->A0, zero, zero, zero, zero);
}

/* The exp passes of the clean rows a and b (each prefetches its `next` and its share of the
 * block's prefetch). */
static inline __attribute__((always_inline)) void FN(pass_pair_impl)(FN(pair_row) *a,
                                                                    FN(pair_row) *b,
                                                                    ptrdiff_t C, const int CAT)
{
    const xv_d zero = XV(splat)(0.0);
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 64) {
        FN(pf_step)(&a->pf);
        FN(pf_step)(&b->pf);
        for (ptrdiff_t c = c0; c < c0 + 64 && c < C; c += 16) {
            if (a->st->next) __builtin_prefetch(a->st->next + c, 0, 3);
            if (b->st->next) __builtin_prefetch(b->st->next + c, 0, 3);
        }
        xv_d Ga[4], Gb[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t c = c0 + 16 * k;
            Ga[k] = Gb[k] = zero;
            if (c >= C) continue;
            const int nstore = C - c < 16 ? (int)(C - c) : 16;
            Ga[k] = FN(pair_vec)(a, c, nstore, CAT);
            Gb[k] = FN(pair_vec)(b, c, nstore, CAT);
        }
        a->A0 += (Ga[0] + Ga[1]) + (Ga[2] + Ga[3]);
        b->A0 += (Gb[0] + Gb[1]) + (Gb[2] + Gb[3]);
        if (CAT && ((c0 + 64) % XK_RUN == 0 || c0 + 64 >= C)) {
            FN(wsum_run_s)(&a->S, 0, 0, 1);
            FN(wsum_run_s)(&b->S, 0, 0, 1);
        }
    }
    FN(pair_end)(a, CAT);
    FN(pair_end)(b, CAT);
}

/* Rows xa and xb (targets ta, tb with CAT; states sa, sb) in one pass. */
static __attribute__((noinline)) void FN(pass_pair)(const float *xa, const float *xb,
                                                    const float *ta, const float *tb,
                                                    ptrdiff_t C, FN(state) *sa, FN(state) *sb,
                                                    int cat)
{
    FN(pair_row) a, b;
    FN(pair_init)(&a, xa, ta, sa, C);
    FN(pair_init)(&b, xb, tb, sb, C);
    if (cat) FN(pass_pair_impl)(&a, &b, C, 1);
    else FN(pass_pair_impl)(&a, &b, C, 0);
}

/* The forward pass of a float row of the categorical loss that may be one-hot (rows_values,
 * xk_block.hot_scan; targets checked, without class weights: xk_row_check): the sparse loss's
 * exp pass, which looks at the targets as it reads the logits (HOT), and where the row is not
 * one-hot, the weighted sums' pass with their check after it (as row_pass_s adds them where
 * they are not in its loop: the same sums). A one-hot row's sums: rows_values (hot_sums). */
#define XK_PASS_HOT(L)                                                                         \
    static __attribute__((noinline)) void FN(pass_hot_##L)(const float *x, const float *t,     \
                                                            ptrdiff_t C, FN(state) *st)        \
    {                                                                                         \
        st->hot_y = -1;                                                                       \
        FN(row_pass_s_impl)(x, t, NULL, NULL, C, st, 0, 0, 0, 0, L, 0, 0, 0, 1);              \
        if (st->hot_y >= 0) return;                                                           \
        const int tie = !L && !(st->m > -HUGE_VAL && st->m < HUGE_VAL);                       \
        FN(wsum_pass_s)(x, t, NULL, C, st, tie, 0, 0, 1, L, 1, 1);                            \
    }
XK_PASS_HOT(0)
XK_PASS_HOT(1)
#undef XK_PASS_HOT
#endif

/* A row is clean when its maximum m is finite and no entry is below m - XK_CLEAN_SPAN: every
 * x - m is then finite and, after its rounding, at least -707 in a double row (exp_core's
 * range) and XV_EXPF_MIN (-86) in a float row (expf_hilo's normal results), so that the exp
 * pass runs without the checks of exp's range and of -inf entries (row_pass_v's and
 * row_pass_s's CLEAN). */
#undef XK_CLEAN_SPAN
#if XK_WIDEN
#define XK_CLEAN_SPAN 80.0
#else
#define XK_CLEAN_SPAN 700.0
#endif

/* The maximum of a contiguous row (NaN if it holds one): row_max_s for float rows, row_max
 * for double ones; with clean, whether the row is clean. */
static inline __attribute__((always_inline)) double FN(max_of_row)(const T *x, ptrdiff_t C,
                                                                   int *clean)
{
    double m;
    double lo;
#if XK_WIDEN
    FN(row_max_s)(x, C, &m, clean ? &lo : NULL);
#else
    FN(row_max)(x, C, &m, clean ? &lo : NULL);
#endif
    if (clean) *clean = m > -HUGE_VAL && m < HUGE_VAL && lo >= m - XK_CLEAN_SPAN; /* NaN: 0 */
    return m;
}

/* The exp pass of a contiguous row: row_pass_s for float rows, row_pass_v for double ones,
 * instantiated for the flags of the call, each instance a function of its own (pass_SMKGL:
 * STORE, SMOOTH, CAT, FG, CLEAN). Inlined in pass_v, GCC allocated the registers of its twenty
 * instances as a whole and moved their vectors to the stack: rows of 1,000 classes took 1.1x
 * the time (float and double), 1.15-1.25x with the gradient. */
#if XK_WIDEN
#define XK_ROW_PASS FN(row_pass_s)
#else
#define XK_ROW_PASS FN(row_pass_v)
#endif
#if XK_SPECIALIZE
#define XK_PASS_FN(S, M, K, G, L)                                                              \
    static __attribute__((noinline)) void FN(pass_##S##M##K##G##L)(                            \
        const T *x, const T *t, const double *cw, T *out, ptrdiff_t C, FN(state) *st)          \
    {                                                                                         \
        XK_ROW_PASS(x, t, cw, out, C, st, S, M, K, G, L);                                     \
    }
#define XK_PASS_FNS(S, M, K) XK_PASS_FN(S, M, K, 0, 0) XK_PASS_FN(S, M, K, 0, 1)
XK_PASS_FNS(1, 1, 1)
XK_PASS_FNS(1, 0, 1)
XK_PASS_FNS(0, 1, 1)
XK_PASS_FNS(0, 0, 1)
XK_PASS_FNS(1, 1, 0)
XK_PASS_FNS(1, 0, 0)
XK_PASS_FNS(0, 1, 0)
XK_PASS_FNS(0, 0, 0)
#if XK_WIDEN
XK_PASS_FN(0, 0, 1, 1, 0)
XK_PASS_FN(0, 0, 1, 1, 1)
XK_PASS_FN(0, 0, 1, 2, 0)
XK_PASS_FN(0, 0, 1, 2, 1)
XK_PASS_FN(0, 0, 1, 3, 0)
XK_PASS_FN(0, 0, 1, 3, 1)
XK_PASS_FN(0, 0, 1, 4, 0)
XK_PASS_FN(0, 0, 1, 4, 1)
#endif
#undef XK_PASS_FNS
#undef XK_PASS_FN
#define XK_PASS_CALL(O, S, M, K, G, L) FN(pass_##S##M##K##G##L)(x, t, cw, O, C, st)
#else
static __attribute__((noinline)) void FN(pass_flags)(const T *x, const T *t, const double *cw,
                                                     T *out, ptrdiff_t C, FN(state) *st, int S,
                                                     int M, int K, int G, int L)
{
    XK_ROW_PASS(x, t, cw, out, C, st, S, M, K, G, L);
}
#define XK_PASS_CALL(O, S, M, K, G, L) FN(pass_flags)(x, t, cw, O, C, st, S, M, K, G, L)
#endif
#undef XK_ROW_PASS
static inline void FN(pass_v)(int mode, int store, int smooth, int fg, const T *x, const T *t,
                              const double *cw, T *out, ptrdiff_t C, FN(state) *st)
{
#if XK_WIDEN
    /* the focal loss's sums (forward, categorical, float rows; see focal_pass_s) */
#define XK_FG_PASS(G)                                                                          \
    do {                                                                                      \
        if (st->clean) XK_PASS_CALL(NULL, 0, 0, 1, G, 1);                                     \
        else XK_PASS_CALL(NULL, 0, 0, 1, G, 0);                                               \
    } while (0)
    if (fg == 1) XK_FG_PASS(1);
    else if (fg == 2) XK_FG_PASS(2);
    else if (fg == 3) XK_FG_PASS(3);
    else if (fg == 4) XK_FG_PASS(4);
#undef XK_FG_PASS
    if (fg) return;
#else
    (void)fg;
#endif
    /* clean rows (see XK_CLEAN_SPAN) without the range checks; float rows only where the pass
       stores nothing: with STORE, GCC (12, AVX-512) kept the clean float pass's vectors on
       the stack, and gradients of 1,000 float32 classes took 1.2-1.3x their time */
#if XK_WIDEN
#define XK_CLEAN_PASS(STORE) (!(STORE))
#else
#define XK_CLEAN_PASS(STORE) 1
#endif
#define XK_PASS(STORE, SMOOTH, CAT)                                                            \
    do {                                                                                      \
        if (XK_CLEAN_PASS(STORE) && st->clean) XK_PASS_CALL(out, STORE, SMOOTH, CAT, 0, 1);   \
        else XK_PASS_CALL(out, STORE, SMOOTH, CAT, 0, 0);                                     \
    } while (0)
    if (mode == XK_CATEGORICAL) {
        if (store && smooth) XK_PASS(1, 1, 1);
        else if (store) XK_PASS(1, 0, 1);
        else if (smooth) XK_PASS(0, 1, 1);
        else XK_PASS(0, 0, 1);
    } else if (store && smooth) XK_PASS(1, 1, 0);
    else if (store) XK_PASS(1, 0, 0);
    else if (smooth) XK_PASS(0, 1, 0);
    else XK_PASS(0, 0, 0);
#undef XK_PASS
#undef XK_CLEAN_PASS
}
#undef XK_PASS_CALL
/* The double-lane exp passes' sums of eight rows from r (XV_STEP's A0, K0 .. A5, K5: those in
 * use) into the tile's acc and comp. */
#define XK_STORE_SUMS(r)                                                                   \
    do {                                                                                  \
        XV(store)(acc[0] + (r), A0), XV(store)(comp[0] + (r), K0);                        \
        if (SMOOTH) XV(store)(acc[2] + (r), A2), XV(store)(comp[2] + (r), K2);            \
        if (CAT) {                                                                        \
            XV(store)(acc[3] + (r), A3), XV(store)(comp[3] + (r), K3);                    \
            XV(store)(acc[4] + (r), A4), XV(store)(comp[4] + (r), K4);                    \
            XV(store)(acc[5] + (r), A5), XV(store)(comp[5] + (r), K5);                    \
        }                                                                                 \
    } while (0)

/* The exp pass over a class-major tile of n <= XK_TILE rows (see row_pass), vectors of eight
 * rows at a time, one state per row: m, top and the accumulators are arrays of XK_TILE rows,
 * the entries tied with a row's maximum counted by the maximum's pass. */
static inline __attribute__((always_inline)) void FN(tile_pass_v)(
    const xk_block *b, ptrdiff_t n, const T *x, ptrdiff_t xs, const T *t, ptrdiff_t ts, T *out,
    ptrdiff_t os, const double *m, const int64_t *top, double (*acc)[XK_TILE],
    double (*comp)[XK_TILE], const int STORE, const int SMOOTH, const int CAT, const int FG,
    double *ffb, const int64_t *labels, double *xy)
{
    (void)FG, (void)ffb; /* the focal sums: float rows only (tile_pass_s) */
    (void)labels, (void)xy; /* x at the labels: tile_finish gathers them */
    const xv_d zero = XV(splat)(0.0);
    const int CLEAN = 0; /* XV_STEP's: the rows' own checks (see row_pass_v) */
    for (ptrdiff_t c = 0; c < b->C; c++) {
        const T *xc = x + c * xs;
        const T *tc = CAT ? t + c * ts : NULL;
        T *oc = STORE ? out + c * os : NULL;
        const xv_d cwv = XV(splat)((SMOOTH || CAT) && b->cw ? b->cw[c] : 1.0);
        const xv_i cidx = {c, c, c, c, c, c, c, c};
        for (ptrdiff_t r = 0; r < n; r += 8) {
            const int nr = n - r < 8 ? (int)(n - r) : 8;
            xv_d xv, tv = zero;
            if (nr == 8) {
                xv = XK_LOADV(xc + r);
                if (CAT) tv = XK_LOADV(tc + r);
            } else { /* the last rows, padded with -inf and target 0 */
                T xp[8], tp[8];
                for (int l = 0; l < 8; l++) {
                    xp[l] = l < nr ? xc[r + l] : (T)-HUGE_VAL;
                    tp[l] = CAT && l < nr ? tc[r + l] : (T)0;
                }
                xv = XK_LOADV(xp);
                tv = XK_LOADV(tp);
            }
            const xv_d mv = XV(load)(m + r);
            xv_i topv;
            memcpy(&topv, top + r, sizeof topv);
            xv_d A0 = XV(load)(acc[0] + r), K0 = XV(load)(comp[0] + r), A2 = zero, K2 = zero,
                 A3 = zero, K3 = zero, A4 = zero, K4 = zero, A5 = zero, K5 = zero;
            if (SMOOTH) A2 = XV(load)(acc[2] + r), K2 = XV(load)(comp[2] + r);
            if (CAT) {
                A3 = XV(load)(acc[3] + r), K3 = XV(load)(comp[3] + r);
                A4 = XV(load)(acc[4] + r), K4 = XV(load)(comp[4] + r);
                A5 = XV(load)(acc[5] + r), K5 = XV(load)(comp[5] + r);
            }
            xv_d F;
            const int tie = 1;
            XV_STEP(xv, tv, cwv, cidx, F, nr, oc + r);
            XV_KADD(A0, K0, F);
            XK_STORE_SUMS(r);
        }
    }
}

/* The exp pass over the eight rows r .. r + nr - 1 of a class-major tile (see row_pass, and
 * tile_pass_d), whose maxima are mv and first maxima topv: one state per row in the lanes, the
 * sums in registers, F added to them class by class (a compensated addition each); rows past
 * nr read -inf and targets 0 (not stored). CLEAN: every row of the group clean (see
 * XK_CLEAN_SPAN), the pass without the checks of exp's range and of infinite maxima. */
static inline __attribute__((always_inline)) void FN(tile_group_v)(
    const xk_block *b, ptrdiff_t r, int nr, const T *x, ptrdiff_t xs, const T *t, ptrdiff_t ts,
    T *out, ptrdiff_t os, xv_d mv, xv_i topv, double (*acc)[XK_TILE], double (*comp)[XK_TILE],
    const int STORE, const int SMOOTH, const int CAT, const int CLEAN)
{
    const xv_d zero = XV(splat)(0.0);
    const int tie = 1; /* XV_STEP's: without CLEAN, the lanes' own checks */
    xv_d A0 = zero, K0 = zero, A2 = zero, K2 = zero, A3 = zero, K3 = zero, A4 = zero, K4 = zero,
         A5 = zero, K5 = zero;
    for (ptrdiff_t c = 0; c < b->C; c++) {
        const xv_d xv = FN(load_pad)(x + c * xs + r, nr, -HUGE_VAL);
        const xv_d tv = CAT ? FN(load_pad)(t + c * ts + r, nr, 0.0) : zero;
        const xv_d cwv = XV(splat)((SMOOTH || CAT) && b->cw ? b->cw[c] : 1.0);
        const xv_i cidx = (xv_i){0} + (int64_t)c;
        xv_d F;
        XV_STEP(xv, tv, cwv, cidx, F, nr, STORE ? out + c * os + r : NULL);
        XV_KADD(A0, K0, F);
    }
    XK_STORE_SUMS(r);
}
#undef XK_STORE_SUMS

/* The maximum's pass and the exp pass of a class-major tile of n <= XK_TILE double rows of at
 * most XK_SMALL_C classes (tile_stats and tile_pass_v take the others), eight rows at a time:
 * per row the maximum m (NaN if the row holds one), its first class top and the number of
 * entries equal to it (acc[1]; rows past n: -inf, C entries equal to it), and with xy the
 * entry at its label, in registers over the group's classes, then the group's exp pass
 * (tile_group_v) while its entries are in L1, without the checks where its eight rows are all
 * clean. The sums
 * of the rows are those of the pass class by class over the whole tile (their order per row is
 * the same). */
static inline __attribute__((always_inline)) void FN(tile_pass_d)(
    const xk_block *b, ptrdiff_t n, const T *x, ptrdiff_t xs, const T *t, ptrdiff_t ts, T *out,
    ptrdiff_t os, double *m, int64_t *top, double (*acc)[XK_TILE], double (*comp)[XK_TILE],
    const int STORE, const int SMOOTH, const int CAT, const int FG, double *ffb,
    const int64_t *labels, double *xy)
{
    (void)FG, (void)ffb; /* the focal sums: float tiles only (tile_pass_s) */
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0);
    for (ptrdiff_t r = 0; r < n; r += 8) {
        const int nr = n - r < 8 ? (int)(n - r) : 8;
        xv_d mv = XV(splat)(-HUGE_VAL), ntv = zero, lo = XV(splat)(HUGE_VAL), xyv = zero;
        xv_i topv = {0}, yv = (xv_i){0} - 1; /* the labels (xy): -1 past the last row */
        if (xy)
            for (int l = 0; l < nr; l++) yv[l] = labels[r + l];
        for (ptrdiff_t c = 0; c < b->C; c++) {
            const xv_d v = FN(load_pad)(x + c * xs + r, nr, -HUGE_VAL);
            if (xy) xyv = XV(sel)(XV_EQ(yv, (xv_i){0} + (int64_t)c), v, xyv);
            const xv_i gt = XV_GT(v, mv);
            ntv = XV(sel)(gt, one, ntv + XV(sel)(XV_EQ(v, mv), one, zero));
            topv = (((xv_i){0} + (int64_t)c) & gt) | (topv & ~gt);
            mv = XV(sel)(gt | XV_NE(v, v), v, mv);
            lo = XV(min)(v, lo);
        }
        XV(store)(m + r, mv);
        XV(store)(acc[1] + r, ntv);
        memcpy(top + r, &topv, sizeof topv);
        if (xy) XV(store)(xy + r, xyv);
        /* clean: every maximum finite (not NaN) and every entry within the span below it */
        const xv_i clean = XV_GT(mv, -HUGE_VAL) & XV_LT(mv, HUGE_VAL) &
                           XV_GE(lo, mv - XK_CLEAN_SPAN);
        if (nr == 8 && !XV(any)(~clean))
            FN(tile_group_v)(b, r, nr, x, xs, t, ts, out, os, mv, topv, acc, comp, STORE,
                             SMOOTH, CAT, 1);
        else
            FN(tile_group_v)(b, r, nr, x, xs, t, ts, out, os, mv, topv, acc, comp, STORE,
                             SMOOTH, CAT, 0);
    }
}

#if XK_WIDEN
/* The weighted sums' terms of class c of a group of sixteen float rows (tile_group_s): x (xv)
 * and the targets (tv) widened, v = m - x in double, into P[2] (SMOOTH: sum cw v), P[3]
 * (CAT: sum w v), P[4] (sum w) and P[5] (STORE: w off the maximum's entry, the gradient's). */
static inline __attribute__((always_inline)) void FN(tile_wsum_s)(
    const xk_block *b, ptrdiff_t c, xv_s xv, xv_s tv, const xv_d mv[2], const xv_i topv[2],
    xv_d (*P)[2], const int STORE, const int SMOOTH, const int CAT, const int CLEAN)
{
    const xv_d zero = XV(splat)(0.0);
    const double cwc = b->cw ? b->cw[c] : 1.0;
    const xv_i cidx = (xv_i){0} + (int64_t)c;
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const xv_d xd = h ? XV(swiden_hi)(xv) : XV(swiden_lo)(xv);
        /* v = m - x >= 0, 0 at the entries equal to the maximum (in a clean group m - x is
           that already, and finite: w v needs no select either) */
        const xv_d v_ = CLEAN ? mv[h] - xd : XV(sel)(XV_EQ(xd, mv[h]), zero, mv[h] - xd);
        if (SMOOTH && cwc != 0.0) P[2][h] += cwc * v_;
        if (CAT) {
            const xv_d tvd = h ? XV(swiden_hi)(tv) : XV(swiden_lo)(tv);
            const xv_d w_ = b->cw ? cwc * tvd : tvd;
            P[3][h] += CLEAN ? w_ * v_ : XV(sel)(XV_EQ(w_, zero), zero, w_ * v_);
            P[4][h] += w_;
            /* wyx, w off the maximum's entry: the gradient's (the forward loss does not read
               it: without its vectors and compares, ten classes of soft targets take 0.92x
               the time) */
            if (STORE) P[5][h] += XV(sel)(XV_EQ(cidx, topv[h]), zero, w_);
        }
    }
}

/* The end of a run of eight classes (tile_wsum_s): half h of its sums added to the rows'
 * sums, in plain double (see tile_group_s; the run's P are locals of its loop: nothing to
 * reset). */
static inline __attribute__((always_inline)) void FN(tile_wsum_run)(xv_d (*A)[2],
                                                                    xv_d (*P)[2], int h,
                                                                    const int STORE,
                                                                    const int SMOOTH,
                                                                    const int CAT)
{
    if (SMOOTH) A[2][h] += P[2][h];
    if (CAT) {
        A[3][h] += P[3][h];
        A[4][h] += P[4][h];
        if (STORE) A[5][h] += P[5][h];
    }
}

/* tile_pass_s's exp pass over a group of nr <= 16 rows from row r, whose maxima (mf; as
 * doubles mv) and first maxima (topv) its maximum's pass found; CLEAN: every row of the group
 * clean (see XK_CLEAN_SPAN), so that the pass runs without the checks for the double exp's
 * lanes and for infinite maxima, as row_pass_s's. */
static inline __attribute__((always_inline)) void FN(tile_group_s)(
    const xk_block *b, ptrdiff_t r, int nr, const float *x, ptrdiff_t xs, const float *t,
    ptrdiff_t ts, float *out, ptrdiff_t os, xv_s mf, const xv_d mv[2], const xv_i topv[2],
    double (*acc)[XK_TILE], double (*comp)[XK_TILE], const int STORE, const int SMOOTH,
    const int CAT, const int FG, double *ffb, const int CLEAN)
{
    const ptrdiff_t C = b->C;
    const int hilo = b->gamma != 0.0; /* see FN(state).hilo */
    const double kw0 = b->eps / (double)C, kw1 = 1.0 - b->eps;
    const xv_d zero = XV(splat)(0.0);
    const xv_s szero = XV(ssplat)(0.0f);
#define XK_TLOAD(p, pad) (nr == 16 ? XV(sload)(p) : XV(sload_pad)(p, nr, pad))
    xv_d A[XK_NACC][2], K[XK_NACC][2];
#pragma GCC unroll 6
    for (int k = 0; k < XK_NACC; k++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) A[k][h] = K[k][h] = zero;
    /* a run's sums (P, added to the compensated sums A, K at its end) are local to the run's
       loop: GCC then keeps them in registers (declared for the whole loop over the classes, P
       lived in memory, a load and a store per addition, and A, K in registers) */
#define XK_RUN_SUMS(P)                                                                     \
    xv_d P[XK_NACC][2];                                                                   \
    _Pragma("GCC unroll 6") for (int k = 0; k < XK_NACC; k++)                             \
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) P[k][h] = zero
    xv_s LO = szero; /* with hilo: the exps' rounding errors */
    /* the weighted sums (tile_wsum_s), in the forward pass in a loop of their own after the
       exp loop, over the group's classes in L1: within it, its accumulators and the exp's
       constants did not fit in AVX2's sixteen registers (with the gradient, whose pass may
       write over x, the loop of their own gained nothing; with AVX-512, XK_FUSE_SUMS, within
       it: ten float32 classes of soft targets 0.95x the time on an Intel Xeon) */
    const int wsums = (SMOOTH || CAT) && !FG, split = !STORE && !XK_FUSE_SUMS;
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 8) {
        XK_RUN_SUMS(P);
        for (ptrdiff_t c = c0; c < C && c < c0 + 8; c++) {
            const xv_s xv = XK_TLOAD(x + c * xs + r, -HUGE_VALF);
            /* d = x - m and its rounding error e (NaN where d is -inf: F = 0 there by the
               selects); d = e = 0 at the entries equal to the maximum (also inf) */
            xv_s d = xv - mf, bp = d - xv;
            xv_s e = (xv - (d - bp)) - (bp + mf);
            if (!CLEAN) { /* a finite maximum's entries have d = e = 0 already */
                const xv_si tie = XV_EQ(xv, mf);
                d = XV(ssel)(tie, szero, d);
                e = XV(ssel)(tie, szero, e);
            }
            xv_s flo;
            const xv_s core = XV(expf_hilo)(d, e, &flo);
            const xv_s flo_core = CLEAN ? flo : XV(ssel)(XV_GE(d, XV_EXPF_MIN), flo, szero);
            float *oc = STORE ? out + c * os + r : NULL;
            xv_d F[2], FF[2] = {zero, zero}; /* FF (FG): F at every entry, with its low part */
            if (!CLEAN && __builtin_expect(XV(expf_needs_wide)(d), 0)) {
                XV(expf_wide)(d, e, core, F);
                if (STORE)
                    for (int l = 0; l < nr; l++) oc[l] = (float)F[l >> 3][l & 7];
                if (FG) {
                    FF[0] = F[0] + XV(swiden_lo)(flo_core);
                    FF[1] = F[1] + XV(swiden_hi)(flo_core);
                }
                F[0] = XV(sel)(XV_LT(XV(swiden_lo)(d), zero), F[0], zero);
                F[1] = XV(sel)(XV_LT(XV(swiden_hi)(d), zero), F[1], zero);
            } else {
                xv_s Fs = CLEAN ? core : XV(ssel)(XV_LT(d, XV_EXPF_MIN), szero, core);
                if (STORE) {
                    if (nr == 16) XV(sstore)(oc, Fs);
                    else for (int l = 0; l < nr; l++) oc[l] = Fs[l];
                }
                if (FG) {
                    FF[0] = XV(swiden_lo)(Fs) + XV(swiden_lo)(flo_core);
                    FF[1] = XV(swiden_hi)(Fs) + XV(swiden_hi)(flo_core);
                }
                Fs = XV(ssel)(XV_LT(d, szero), Fs, szero);
                F[0] = XV(swiden_lo)(Fs);
                F[1] = XV(swiden_hi)(Fs);
            }
            /* as row_pass_s: the core's lanes' rounding errors, in float lanes */
            if (hilo) LO += flo_core;
            P[0][0] += F[0];
            P[0][1] += F[1];
            if (FG) XV(store)(ffb + 16 * c, FF[0]), XV(store)(ffb + 16 * c + 8, FF[1]);
            if (wsums && !split)
                FN(tile_wsum_s)(b, c, xv, CAT ? XK_TLOAD(t + c * ts + r, 0.0f) : szero, mv, topv, P,
                                STORE, SMOOTH, CAT, CLEAN);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            /* each run of eight classes added in plain double, F's and the weighted sums'
               (non-negative terms, an inf staying inf): relative errors below C 2^-53 for
               rows of at most 48 classes, far under a float result's ulp; compensated
               additions there, chains of four dependent operations, had cost 1-2.5 % of the
               float tiles' time at 6-32 classes */
            A[0][h] += P[0][h];
            if (wsums && !split) FN(tile_wsum_run)(A, P, h, STORE, SMOOTH, CAT);
        }
    }
    if (wsums && split)
        for (ptrdiff_t c0 = 0; c0 < C; c0 += 8) {
            XK_RUN_SUMS(P);
            for (ptrdiff_t c = c0; c < C && c < c0 + 8; c++)
                FN(tile_wsum_s)(b, c, XK_TLOAD(x + c * xs + r, -HUGE_VALF),
                                CAT ? XK_TLOAD(t + c * ts + r, 0.0f) : szero, mv, topv, P,
                                STORE, SMOOTH, CAT, CLEAN);
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) FN(tile_wsum_run)(A, P, h, STORE, SMOOTH, CAT);
        }
    if (hilo) {
        XV_KADD(A[0][0], K[0][0], XV(swiden_lo)(LO));
        XV_KADD(A[0][1], K[0][1], XV(swiden_hi)(LO));
    }
    if (FG) {
        /* the focal sums into A[5], A[3] (A[4], W: unused), each run of eight classes added in
           plain double as the sums above (terms w f and w f v, non-negative or +inf): 0.98x
           the time of the compensated additions at ten float32 classes (benchmarks.ab) */
        xv_d inv[2];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const xv_d s = FN(row_s_v)(mv[h], A[0][h] - K[0][h], XV(load)(acc[1] + r + 8 * h));
            inv[h] = 1.0 / (1.0 + s);
        }
        /* PLAIN: targets without class weights or smoothing (w = t), in a clean group (v
           finite, 0 at a finite maximum's entries): the same values without the selects and
           products that leave them as they are */
#define XK_FOCAL_SUMS(PLAIN)                                                               \
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 8) {                                              \
        XK_RUN_SUMS(P);                                                                    \
        for (ptrdiff_t c = c0; c < C && c < c0 + 8; c++) {                                 \
            const double cwc = b->cw ? b->cw[c] : 1.0;                                     \
            const xv_s xv = XK_TLOAD(x + c * xs + r, -HUGE_VALF);                          \
            const xv_s tv = XK_TLOAD(t + c * ts + r, 0.0f);                                \
            const xv_i cidx = (xv_i){0} + (int64_t)c;                                      \
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {                          \
                const xv_d xd = h ? XV(swiden_hi)(xv) : XV(swiden_lo)(xv);                 \
                const xv_d td = h ? XV(swiden_hi)(tv) : XV(swiden_lo)(tv);                 \
                const xv_d v_ =                                                            \
                    PLAIN ? mv[h] - xd : XV(sel)(XV_EQ(xd, mv[h]), zero, mv[h] - xd);      \
                xv_d w_ = PLAIN ? td : cwc * (kw1 * td + kw0);                             \
                w_ = XV(sel)(XV_EQ(cidx, topv[h]), zero, w_);                              \
                const xv_d wf =                                                            \
                    FN(focal_wf)(FG, w_, XV(load)(ffb + 16 * c + 8 * h), inv[h]);          \
                P[5][h] += wf;                                                             \
                if (PLAIN) P[3][h] += wf * v_;                                             \
                else P[3][h] += XV(sel)(XV_EQ(wf, zero), zero, wf * v_);                   \
            }                                                                              \
        }                                                                                  \
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {                              \
            A[5][h] += P[5][h];                                                            \
            A[3][h] += P[3][h];                                                            \
        }                                                                                  \
    }
        if (CLEAN && b->cw == NULL && b->eps == 0.0) {
            XK_FOCAL_SUMS(1)
        } else {
            XK_FOCAL_SUMS(0)
        }
#undef XK_FOCAL_SUMS
    }
#pragma GCC unroll 6
    for (int k = 0; k < XK_NACC; k++)
        if (k == 0 || (k == 2 && SMOOTH) || (k > 2 && CAT))
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                XV(store)(acc[k] + r + 8 * h, A[k][h]);
                XV(store)(comp[k] + r + 8 * h, K[k][h]);
            }
#undef XK_RUN_SUMS
#undef XK_TLOAD
}

/* The maximum's pass and the exp pass of a float tile (C < XK_S_MAX_C classes), sixteen rows
 * at a time in float lanes: the passes of a float row (row_max_s, row_pass_s) with the rows
 * in lanes. Per row the maximum m (NaN if the row holds one), its first class top and the
 * number of entries equal to it (acc[1]); then F = exp(d + e) from expf_core (expf_wide where a lane needs it), stored
 * (STORE) and summed below the maximum, and the weighted sums of SMOOTH/CAT from v = m - x in
 * double, as row_pass_s computes them. Each sum adds eight classes in double, then that to
 * the row's sum in plain double (A in acc), the focal loss's sums too, but for the exps' low
 * parts (hilo), which are added with compensation (K in comp). Rows past n read -inf and
 * targets 0 (not stored). A
 * group of sixteen clean rows (see XK_CLEAN_SPAN) takes the exp pass without the checks
 * (tile_group_s). */
static inline __attribute__((always_inline)) void FN(tile_pass_s)(
    const xk_block *b, ptrdiff_t n, const float *x, ptrdiff_t xs, const float *t, ptrdiff_t ts,
    float *out, ptrdiff_t os, double *m, int64_t *top, double (*acc)[XK_TILE],
    double (*comp)[XK_TILE], const int STORE, const int SMOOTH, const int CAT, const int FG,
    double *ffb, const int64_t *labels, double *xy)
{
    /* FG (CAT, gamma 1-4, the forward focal loss of soft or smoothed targets): instead of the
       weighted sums, each row's focal sums as focal_pass_s takes them, fa into acc[5] and fb
       into acc[3] (A - K as the others), after each group's exp pass from its F kept in ffb
       (sixteen rows by C doubles) and its s */
    const ptrdiff_t C = b->C;
    for (ptrdiff_t r = 0; r < n; r += 16) {
        const int nr = n - r < 16 ? (int)(n - r) : 16;
#define XK_TLOAD(p, pad) (nr == 16 ? XV(sload)(p) : XV(sload_pad)(p, nr, pad))
        xv_s mf = XV(ssplat)(-HUGE_VALF), lo = XV(ssplat)(HUGE_VALF), xyf = XV(ssplat)(0.0f);
        xv_si count = {0}, first = {0}, yv = (xv_si){0} - 1; /* labels: -1 past the last row */
        if (xy)
            for (int l = 0; l < nr; l++) yv[l] = (int32_t)labels[r + l];
        for (ptrdiff_t c = 0; c < C; c++) {
            const xv_s v = XK_TLOAD(x + c * xs + r, -HUGE_VALF);
            if (xy) xyf = XV(ssel)(XV_EQ(yv, (xv_si){0} + (int32_t)c), v, xyf);
            lo = XV(smin)(v, lo); /* a NaN entry leaves it as it is */
            const xv_si gt = XV_GT(v, mf), eq = XV_EQ(v, mf);
            count = ((count - eq) & ~gt) | (gt & 1); /* a new maximum counts 1, a tie adds 1 */
            first = (((xv_si){0} + (int32_t)c) & gt) | (first & ~gt);
            mf = XV(ssel)(gt | XV_NE(v, v), v, mf);
        }
        const xv_d mv[2] = {XV(swiden_lo)(mf), XV(swiden_hi)(mf)};
        xv_i topv[2];
        /* (by conversions of the halves: an access lane by lane kept count and first in
           memory through the loop above) */
        topv[0] = XV_CONVERT(XV_SHUFFLE(first, first, 0, 1, 2, 3, 4, 5, 6, 7), xv_i);
        topv[1] = XV_CONVERT(XV_SHUFFLE(first, first, 8, 9, 10, 11, 12, 13, 14, 15), xv_i);
        XV(store)(acc[1] + r, XV_CONVERT(XV_SHUFFLE(count, count, 0, 1, 2, 3, 4, 5, 6, 7), xv_d));
        XV(store)(acc[1] + r + 8,
                  XV_CONVERT(XV_SHUFFLE(count, count, 8, 9, 10, 11, 12, 13, 14, 15), xv_d));
        for (int h = 0; h < 2; h++) {
            XV(store)(m + r + 8 * h, mv[h]);
            memcpy(top + r + 8 * h, &topv[h], sizeof topv[h]);
            if (xy) XV(store)(xy + r + 8 * h, h ? XV(swiden_hi)(xyf) : XV(swiden_lo)(xyf));
        }
        /* a whole group of clean rows: d = lo - mf, the least d of the exp pass (rounded as
           it will be), at least -XK_CLEAN_SPAN (a NaN maximum fails the comparisons) */
        const xv_si ok = XV_GT(mf, XV(ssplat)(-HUGE_VALF)) & XV_LT(mf, XV(ssplat)(HUGE_VALF)) &
                         XV_GE(lo - mf, XV(ssplat)((float)-XK_CLEAN_SPAN));
        if (nr == 16 && XV(smask)(ok) == 0xffffu)
            FN(tile_group_s)(b, r, nr, x, xs, t, ts, out, os, mf, mv, topv, acc, comp, STORE,
                             SMOOTH, CAT, FG, ffb, 1);
        else
            FN(tile_group_s)(b, r, nr, x, xs, t, ts, out, os, mf, mv, topv, acc, comp, STORE,
                             SMOOTH, CAT, FG, ffb, 0);
#undef XK_TLOAD
    }
}
#endif

#undef XV_STEP
#undef XV_KADD
#undef XV_KADD_INF

/* ------------------------------------------------------------------ per-row results */


/* Whether L = log1p(s) may take the short log (relative error < 2^-32, XK_LOG1P_OUT) in a call
 * of this mode: float results where L is only added to terms of its own sign, the loss
 * (sparse, categorical, their smoothing: L + (m - x_y), t + W L, v + cw L, all >= 0) and
 * log_softmax ((x - m) - L), and the sparse focal loss without smoothing (tile_finish: nll_y
 * = L + (m - x_y) as above; focal_entry_v's log(1 - p) = log(s) - L only where s < 1, both
 * terms <= 0, and its L / s, relative errors near 2^-32 again, gamma times that in f), and
 * the focal sums of soft or smoothed targets (fg: L A + B + wtop f_top L, see focal_sums_v);
 * not logsumexp (m + L may cancel), the z-loss (its square) nor the other focal losses of
 * soft or smoothed targets (tile_focal, focal_row: log(1 - p_c) of every class). */
static inline int FN(short_logs)(const xk_block *b, int mode, int fg)
{
    const int focal_ok = b->gamma == 0.0 || (mode == XK_SPARSE && b->eps == 0.0) || fg;
    return XK_WIDEN && focal_ok && b->z == 0.0 &&
           (mode == XK_SPARSE || mode == XK_CATEGORICAL || mode == XK_LOG_SOFTMAX);
}

/* L = log1p(s) of the rows 0 .. n8 - 1 (a multiple of 8) of a tile's maxima m and sums acc
 * (acc[0]: below the maximum, acc[1]: the entries equal to it), eight rows at a time; SHORT
 * (see short_logs): by XK_LOG1P_OUT, whose division-free log was a sixth of a forward pass
 * over float32 rows of ten classes by the full one */
static inline void FN(tile_logs)(ptrdiff_t n8, const double *m, double (*acc)[XK_TILE],
                                 double *Ls, const int SHORT)
{
    for (ptrdiff_t r = 0; r < n8; r += 8) {
        const xv_d s = FN(row_s_v)(XV(load)(m + r), XV(load)(acc[0] + r), XV(load)(acc[1] + r));
        XV(store)(Ls + r, SHORT ? XK_LOG1P_OUT(s) : XV(log1p)(s));
    }
}

/* The rows' L = log1p(s) for a call of this mode (tile_logs, the short log where short_logs
 * allows it); none for softmax, whose output takes 1 / (1 + s) alone (Ls then unread). */
static inline void FN(rows_logs)(const xk_block *b, int mode, int fg, ptrdiff_t n8,
                                 const double *m, double (*acc)[XK_TILE], double *Ls)
{
    if (mode == XK_SOFTMAX) return;
    if (FN(short_logs)(b, mode, fg)) FN(tile_logs)(n8, m, acc, Ls, 1);
    else FN(tile_logs)(n8, m, acc, Ls, 0);
}

/* a * b = p + e exactly (Dekker's TwoProduct with Veltkamp's split: no fma needed), for
 * |a|, |b|, |a b| well inside the range; e = 0 outside it. */
static inline void FN(two_prod)(double a, double b, double *p, double *e)
{
    const double split = 134217729.0; /* 2^27 + 1 */
    double P = a * b, E = 0.0;
    if (P > -0x1p900 && P < 0x1p900 && a > -0x1p900 && a < 0x1p900 && b > -0x1p900 &&
        b < 0x1p900) {
        double ta = split * a, ah = ta - (ta - a), al = a - ah;
        double tb = split * b, bh = tb - (tb - b), bl = b - bh;
        E = ((ah * bh - P) + ah * bl + al * bh) + al * bl;
    }
    *p = P;
    *e = E;
}

/* log(u) = hi + lo to about 0.5 ulp of 1 absolutely, whatever its size: lo by one Newton
 * step, u exp(-hi) - 1 = log(u) - hi to first order, with the product exact. */
static inline void FN(log_dd)(double u, double *hi, double *lo)
{
    double h = xk_log(u), P, E;
    *hi = h;
    *lo = 0.0;
    if (!(u > 0x1p-1000 && u < 0x1p1000)) return;
    FN(two_prod)(u, xk_exp(-h), &P, &E);
    *lo = (P - 1.0) + E;
}

/* exp(g (hi + lo)) with the product carried exactly: exp(P) (1 + e) for g hi = P + e. A
 * large exponent (gamma log(1 - p) = -50, say) keeps its relative accuracy. */
static inline double FN(exp_scaled)(double g, double hi, double lo)
{
    double P, E;
    FN(two_prod)(g, hi, &P, &E);
    E += g * lo;
    double X = xk_exp(P);
    return X == 0.0 || X == HUGE_VAL ? X : X + X * E;
}

/* p = exp(x - m) / (1 + s) of eight entries (inv = 1 / (1 + s)) and nll = -log p = L - (x - m),
 * x - m with its rounding error (XK_SHIFT on eight lanes). */
static inline __attribute__((always_inline)) xv_d FN(focal_p)(xv_d xv, xv_d mv, xv_d inv, xv_d L,
                                                              xv_d *nll)
{
    const xv_d zero = XV(splat)(0.0), ninf = XV(splat)(-HUGE_VAL);
    const xv_d d0 = xv - mv, bp = d0 - xv;
    const xv_d e0 = (xv - (d0 - bp)) - (bp + mv);
    const xv_i tie = XV_EQ(xv, mv);
    const xv_d d = XV(sel)(tie, zero, d0);
    const xv_d e = XV(sel)(tie | ~XV_GT(d0, ninf), zero, e0);
    const xv_d E = XK_EXP_OUT(d);
    *nll = L + -(d + e);
    return (E + E * e) * inv;
}

/* focal_p of entries whose F = exp(x - m) the exp pass stored (for float rows a float, whose
 * rounding (2^-24 of p) moves (1 - p)^gamma by at most gamma 2^-24 at p <= 1/2). Its nll has
 * focal_p's bits without the rounding error e: d + e is x - m exactly, which rounds to d. */
static inline __attribute__((always_inline)) xv_d FN(focal_pF)(xv_d xv, xv_d Fv, xv_d mv,
                                                               xv_d inv, xv_d L, xv_d *nll)
{
    const xv_d d = XV(sel)(XV_EQ(xv, mv), XV(splat)(0.0), xv - mv);
    *nll = L + -d;
    return Fv * inv;
}

/* (1 - p)^gamma for 0 <= p <= 1/2 (or NaN), the focal factor of an entry other than a row's
 * dominant one: exp(gamma log1p(-p)); for float results with gamma = 1, 2, 3 or 4 (2 is the
 * usual choice) by products of 1 - p (a few roundings of double, invisible in float), else
 * log(1 - p) of 1 - p rounded and the short exp (an error of 2^-52 gamma of f). Double results
 * keep log1p and exp: the products measured up to 3.6 ulp of the loss where these give 2.4
 * (benchmarks.accuracy, masked family). */
static inline int FN(focal_int)(double gamma)
{
    return XK_WIDEN && (gamma == 1.0 || gamma == 2.0 || gamma == 3.0 || gamma == 4.0);
}

/* The gamma whose focal sums the exp pass takes for a block's forward focal loss (soft or
 * smoothed targets, float results, gamma = 1-4: the tiles' power sums of focal_sums_v, the
 * rows' sums of focal_pass_s), else 0. */
static inline int FN(focal_sums_gamma)(const xk_block *b, int mode)
{
    return mode == XK_CATEGORICAL && b->out == NULL && FN(focal_int)(b->gamma) ? (int)b->gamma
                                                                                : 0;
}

static inline double FN(powi)(double gamma, double q)
{
    const double q2 = q * q;
    return gamma == 1.0 ? q : gamma == 2.0 ? q2 : gamma == 3.0 ? q2 * q : q2 * q2;
}

static inline __attribute__((always_inline)) xv_d FN(pow1m_v)(double gamma, xv_d p)
{
    if (FN(focal_int)(gamma)) return FN(powi_v)(gamma, 1.0 - p);
#if XK_WIDEN
    return XK_EXP_OUT(gamma * XV(log_kernel)(1.0 - p, XV(splat)(0.0)));
#else
    return XV(exp)(gamma * XV(log1p)(-1.0 * p));
#endif
}

static inline double FN(pow1m)(double gamma, double p)
{
    if (FN(focal_int)(gamma)) return FN(powi)(gamma, 1.0 - p);
    return xk_exp(gamma * xk_log1p(-p));
}

/* The focal factor of one class (Lin et al., "Focal Loss for Dense Object Detection", 2017):
 * f = (1 - p)^gamma = exp(gamma log(1 - p)) and the weight D with which the class enters the
 * gradient, D = f (1 + gamma p nll / (1 - p)) (nll = -log p): the row's focal loss
 * sum_c w_c f_c nll_c has gradient g_k = p_k sum_c w_c D_c - w_k D_k, the form of plain
 * cross-entropy with target weights w_c D_c. log(1 - p) is exact from the softmax sums: at
 * the maximum with s < 1 (p > 1/2) it is log(s) - L, 1 - p = s / (1 + s); elsewhere
 * log1p(-p) with p <= 1/2. A confident row keeps its tiny f and D; at s = 0 (p = 1) f = 0,
 * and D = 0 (the limit of f L / s for gamma > 0). */
static inline void FN(focal_entry)(double gamma, double nll, double s, double L, double inv,
                                   int is_top, double p, double *f_out, double *D_out)
{
    double rho_nll;
    if (is_top && s < 1.0 && FN(focal_int)(gamma)) {
        /* float results, gamma = 1-4: 1 - p = s / (1 + s) (a few ulp of double) and its
           powers by products */
        *f_out = FN(powi)(gamma, s / (1.0 + s));
        rho_nll = s == 0.0 ? 1.0 : L / s;
    } else if (is_top && s < 1.0) {
        /* log(1 - p) = log(s) - L can be large (-50 for s = 1e-11), and exp turns its
           rounding into a relative error: it is carried as hi + lo into exp_scaled */
        double h, lo;
        FN(log_dd)(s, &h, &lo);
        double a = h - L, bp = a - h;
        lo += (h - (a - bp)) + (-L - bp);
        *f_out = s == 0.0 ? 0.0 : FN(exp_scaled)(gamma, a, lo);
        rho_nll = s == 0.0 ? 1.0 : L / s; /* p / (1 - p) = 1 / s, nll = L */
    } else {
        *f_out = FN(pow1m)(gamma, p);
        rho_nll = p == 0.0 ? 0.0 : p * nll / (1.0 - p);
    }
    (void)inv;
    *D_out = *f_out == 0.0 ? 0.0 : *f_out * (1.0 + gamma * rho_nll);
}

/* The weighted loss of one row (or its logsumexp) and the coefficients of its output pass.
 *
 * Both losses are l = sum_c w_c (-log p_c) with -log p_c = L + v_c, L = log1p(s), for target
 * weights w_c = cw_c ((1 - eps) t_c + eps / C) (sparse: t_c = [c == y]):
 *   l = (1 - eps) (sum_c cw_c t_c v_c + wy L) + eps / C (sum_c cw_c v_c + cw_sum L),
 * sums of non-negative terms. The gradient of k l (k = row weight / grad_div) is
 *   g_c = k (W p_c - w_c) = k (a F_c - w_c),  a = W / (1 + s),  W = sum_c w_c,
 * k applied last, so a weighted row's gradient is its weight times the unweighted one,
 * and at an entry with p > 1/2 (the maximum, when s < 1) W p - w is computed as
 * (W - w) - W (1 - p) = (1 - eps) wyx + eps / C cw_others[top] - W s / (1 + s):
 * two accurate parts where W p - w would cancel for a confident prediction.
 * The z-loss z lse^2 (b->z != 0) adds to l, and its gradient 2 z lse p_c joins W p_c:
 * a = (W + 2 z lse) / (1 + s), and the entry set apart gets 2 z lse / (1 + s). */
static inline double FN(finish)(const xk_block *b, int mode, const FN(state) *st, double sw,
                                int64_t y, double xy, double L, FN(coef) *g)
{
    const double C = (double)b->C, eps = b->eps;
    double s = FN(row_s)(st->m, st->sb, st->nt);
    g->L = L;
    g->inv = 1.0 / (1.0 + s);
    g->fix_top = g->fix_y = g->zero = g->focal_row = 0;
    g->a = g->k = g->g_top = g->g_y = 0.0; /* set below where a mode reads them */
    g->zl = g->zg = g->Dy = 0.0;
    if (mode == XK_LSE) {
        if (st->m == -HUGE_VAL) return -HUGE_VAL;
        if (st->m == HUGE_VAL) return HUGE_VAL;
        return st->m + L;
    }
    if (mode == XK_SOFTMAX || mode == XK_LOG_SOFTMAX) return 0.0;

    double wy = st->wy, wyx = st->wyx, tv = st->tv, loss;
    if (mode == XK_SPARSE) {
        double cwy = b->cw ? b->cw[y] : 1.0;
        /* -log p_y = L + (m - x_y); m - x_y with its rounding error for double input */
        double hi = st->m - xy, bp = hi - st->m;
        double lo = (st->m - (hi - bp)) - (bp + xy);
        if (xy == st->m) hi = lo = 0.0;
        if (!(hi < HUGE_VAL) || !(hi > -HUGE_VAL)) lo = 0.0;
        double nll = (L + hi) + lo;
        double coef = (1.0 - eps) * cwy;
        loss = coef == 0.0 ? 0.0 : coef * nll;
        wy = cwy;
        wyx = y == st->top ? 0.0 : cwy;
        if (b->gamma != 0.0 && eps == 0.0) {
            /* focal: l = cw_y f nll with f = (1 - p_y)^gamma, and D = dl/d(-log p_y) */
            double f, D, d, e;
            XK_SHIFT(xy, st->m, d, e);
            double E = xk_exp(d);
            FN(focal_entry)(b->gamma, nll, s, L, g->inv, y == st->top, (E + E * e) * g->inv,
                            &f, &D);
            loss = cwy == 0.0 || f == 0.0 ? 0.0 : cwy * f * nll;
            wy = cwy == 0.0 ? 0.0 : cwy * D;
            wyx = y == st->top ? 0.0 : wy;
            g->Dy = wy;
        }
    } else {
        loss = tv + (wy == 0.0 ? 0.0 : wy * L);
        if (eps > 0.0) loss *= 1.0 - eps;
    }
    if (eps > 0.0) loss += eps / C * (st->vs + b->cw_sum * L);
    /* z-loss z lse^2 with lse = m + L as hi + lo (TwoSum): lse^2 = hi^2 + 2 hi lo to working
       precision, also where m + L nearly cancels; its gradient 2 z lse p joins W p in `a`.
       Float results take hi^2 alone (z_loss_v) */
    double zg = 0.0;
    if (b->z != 0.0) {
        double hi = st->m + L, bp = hi - st->m;
        double lo = XK_WIDEN ? 0.0 : (st->m - (hi - bp)) + (L - bp);
        if (!(hi < HUGE_VAL) || !(hi > -HUGE_VAL)) lo = 0.0;
        g->zl = b->z * (hi * hi + (2.0 * hi) * lo);
        loss += g->zl;
        zg = g->zg = 2.0 * b->z * hi;
    }
    double weighted = sw == 0.0 ? 0.0 : sw * loss;

    double k = sw / b->grad_div;
    double W = (1.0 - eps) * wy + eps / C * b->cw_sum;
    g->zero = k == 0.0;
    g->a = (b->z == 0.0 ? W : W + zg) * g->inv;
    g->k = k;
    if (s < 1.0) {
        double others = b->cw_others ? b->cw_others[st->top] : C - 1.0;
        double ce = ((1.0 - eps) * wyx + eps / C * others) - W * s * g->inv;
        g->g_top = k * (b->z == 0.0 ? ce : ce + zg * g->inv);
        g->fix_top = 1;
    }
    if (mode == XK_SPARSE && !(g->fix_top && y == st->top)) g->fix_y = 1;
    g->focal_row = b->gamma != 0.0 && (mode == XK_CATEGORICAL || eps > 0.0);
    if (g->focal_row) g->fix_y = 0;
    return weighted;
}

/* The gradient entry at the class id y of a sparse row, from its F (read back from out). */
static inline double FN(sparse_gy)(const xk_block *b, const FN(coef) *g, int64_t y, double Fy)
{
    double cwy = b->cw ? b->cw[y] : 1.0;
    if (b->gamma != 0.0) return g->k * (g->a * Fy - g->Dy);
    return g->k * (g->a * Fy - ((1.0 - b->eps) + b->eps / (double)b->C) * cwy);
}

/* The focal terms of the eight entries c .. c + nl - 1 of a row (nl <= 8; the other lanes 0):
 * ltv = w_c f_c nll_c and, with the gradient (grad), wdv = w_c D_c, with the operations of the
 * one-entry forms (XK_SHIFT, log1p, exp: the same bits), p_c = F_c / (1 + s) from the F the
 * row's exp pass stored (rows: unit strides). The maximum's entry (p > 1/2 possible) is set
 * apart by the callers. */
static inline __attribute__((always_inline)) void FN(focal_vec)(
    const xk_block *b, int cat, int grad, const T *x, const T *t, const T *F, ptrdiff_t c,
    int nl, int64_t y, xv_d mv, xv_d inv, xv_d L, xv_d *ltv, xv_d *wdv)
{
    const double kw0 = b->eps / (double)b->C, kw1 = 1.0 - b->eps, gamma = b->gamma;
    const xv_d zero = XV(splat)(0.0);
    const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    /* lanes past the row read 0, their weight too, so that they add nothing */
    const xv_d xv = FN(load_pad)(x + c, nl, 0.0);
    const xv_d tc = cat ? FN(load_pad)(t + c, nl, 0.0)
                        : XV(sel)(XV_EQ(lane + c, y), XV(splat)(1.0), zero);
    const xv_d cwv = XV(load_pad)(b->cw ? b->cw + c : xk_ones, nl, 0.0);
    xv_d nv;
    const xv_d pv = FN(focal_pF)(xv, FN(load_pad)(F + c, nl, 0.0), mv, inv, L, &nv);
    const xv_d f = FN(pow1m_v)(gamma, pv); /* p <= 1/2 but at the maximum: set apart */
    const xv_d wc = cwv * (kw1 * tc + kw0);
    *wdv = zero;
    if (grad) {
        const xv_d rho_nll = XV(sel)(XV_EQ(pv, 0.0), zero, pv * nv / (1.0 - pv));
        const xv_d D = XV(sel)(XV_EQ(f, 0.0), zero, f * (1.0 + gamma * rho_nll));
        *wdv = XV(sel)(XV_EQ(wc, 0.0), zero, wc * D);
    }
    *ltv = XV(sel)(XV_EQ(wc, 0.0) | XV_EQ(f, 0.0), zero, wc * f * nv);
}

/* The focal terms of a row's maximum entry `top`, whose 1 - p is s / (1 + s) (focal_entry; its
 * p is 1 / (1 + s) and its nll L, exactly as focal_p gives them: x - m = 0 there). */
static inline void FN(focal_top)(const xk_block *b, int cat, const T *t, ptrdiff_t top,
                                 int64_t y, double s, const FN(coef) *g, double *lt, double *wd)
{
    const double tc = cat ? (double)t[top] : (top == y ? 1.0 : 0.0);
    const double wc = (b->cw ? b->cw[top] : 1.0) * ((1.0 - b->eps) * tc + b->eps / (double)b->C);
    double ft, D;
    FN(focal_entry)(b->gamma, g->L, s, g->L, g->inv, 1, g->inv, &ft, &D);
    *wd = wc == 0.0 ? 0.0 : wc * D;
    *lt = wc == 0.0 || ft == 0.0 ? 0.0 : wc * ft * g->L;
}

/* The terms of focal_row, all non-negative, are added in runs before each compensated
 * addition: XK_RUN entries for float rows, 32 for double ones (each group of
 * four vectors: double results need the compensation's few ulp). */
#define XK_FOCAL_RUN (XK_WIDEN ? XK_RUN : 32)
/* Focal loss with soft or smoothed targets: a second pass over the row once its softmax sums
 * are known (a contiguous row x, targets t), focal_vec on four vectors a step, their terms
 * added pairwise, in runs (XK_FOCAL_RUN) and then to compensated sums. Target weights
 * w_c = cw_c ((1 - eps) t_c + eps / C) (sparse: t_c = [c == y]); the loss is
 * sum_c w_c f_c nll_c with nll_c = L + v_c, and the gradient k (a F_c - w_c D_c) with
 * a = (sum_c w_c D_c + 2 z lse) / (1 + s), its maximum entry set apart as in `finish`; with
 * the gradient, each w_c D_c goes to wd[c] for focal_output. Returns the row's loss (with its
 * z-loss) before the row weight. */
static double FN(focal_row)(const xk_block *b, int mode, const T *x, const T *t, const T *F,
                            const FN(state) *st, int64_t y, FN(coef) *g, double *wd)
{
    const ptrdiff_t C = b->C, top = st->top;
    const int cat = mode == XK_CATEGORICAL, grad = b->out != NULL;
    const double s = FN(row_s)(st->m, st->sb, st->nt);
    const xv_d zero = XV(splat)(0.0), mv = XV(splat)(st->m), inv = XV(splat)(g->inv),
               L = XV(splat)(g->L);
    const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    const xv_i topv = lane * 0 + top;
    double lt_top, wd_top;
    FN(focal_top)(b, cat, t, top, y, s, g, &lt_top, &wd_top);
    const xv_d ltt = XV(splat)(lt_top), wdt = XV(splat)(wd_top);
    xv_d ls = zero, lc = zero, ds = zero, dc = zero, xsum = zero, xc = zero;
    xv_d lrun = zero, drun = zero, xrun = zero; /* the sums of the current run */
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 32) {
        xv_d lv[4], dv[4], xv[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t c = c0 + 8 * k;
            lv[k] = dv[k] = xv[k] = zero;
            if (c >= C) continue;
            FN(focal_vec)(b, cat, grad, x, t, F, c, C - c < 8 ? (int)(C - c) : 8, y, mv, inv,
                          L, &lv[k], &dv[k]);
            const xv_i is_top = XV_EQ(lane + c, topv);
            lv[k] = XV(sel)(is_top, ltt, lv[k]);
            if (grad) {
                dv[k] = XV(sel)(is_top, wdt, dv[k]);
                if (C - c >= 8) XV(store)(wd + c, dv[k]);
                else for (ptrdiff_t l = 0; l < C - c; l++) wd[c + l] = dv[k][l];
                /* the sum off the maximum on its own: dsum - wD[top] would cancel */
                xv[k] = XV(sel)(is_top, zero, dv[k]);
            }
        }
        lrun += (lv[0] + lv[1]) + (lv[2] + lv[3]);
        if (grad) { /* the sums of w_c D_c are the gradient's */
            drun += (dv[0] + dv[1]) + (dv[2] + dv[3]);
            xrun += (xv[0] + xv[1]) + (xv[2] + xv[3]);
        }
        if ((c0 + 32) % XK_FOCAL_RUN == 0 || c0 + 32 >= C) {
            FN(vkadd)(&ls, &lc, lrun, NULL);
            if (grad) {
                FN(vkadd)(&ds, &dc, drun, NULL);
                FN(vkadd)(&xsum, &xc, xrun, NULL);
            }
            lrun = drun = xrun = zero;
        }
    }
    const double lsum = FN(lanes_sum)(ls, lc), dsum = FN(lanes_sum)(ds, dc);
    const double dx = FN(lanes_sum)(xsum, xc);
    g->a = (b->z == 0.0 ? dsum : dsum + g->zg) * g->inv;
    if (g->fix_top) {
        double ce = dx - dsum * s * g->inv;
        g->g_top = g->k * (b->z == 0.0 ? ce : ce + g->zg * g->inv);
    }
    return b->z == 0.0 ? lsum : lsum + g->zl;
}

/* The gradient of a contiguous row after focal_row: out[c] = k (a F_c - w_c D_c), F read from
 * out and w_c D_c from wd (focal_row's), the maximum's entry set apart. */
static void FN(focal_output)(ptrdiff_t C, T *out, const double *wd, ptrdiff_t top,
                             const FN(coef) *g)
{
    if (g->zero) {
        for (ptrdiff_t c = 0; c < C; c++) out[c] = 0;
        return;
    }
    /* eight entries a step, as row_output */
    const xv_d a = XV(splat)(g->a), k = XV(splat)(g->k);
    for (ptrdiff_t c = 0; c < C; c += 8) {
        const int n = C - c < 8 ? (int)(C - c) : 8;
        const xv_d v = k * (a * FN(load_pad)(out + c, n, 0.0) - XV(load_pad)(wd + c, n, 0.0));
        if (n == 8) XK_STOREV(out + c, v);
        else
            for (int l = 0; l < n; l++) out[c + l] = (T)v[l];
    }
    if (g->fix_top) out[top] = (T)g->g_top;
}

/* log_softmax of eight entries x of rows with maxima m and L = log1p(s): (d - L) + e with d, e
 * XK_SHIFT's of x - m, lane by lane (the output passes of rows and tiles) */
static inline __attribute__((always_inline)) xv_d FN(log_softmax_v)(xv_d x, xv_d m, xv_d L)
{
    const xv_d zero = XV(splat)(0.0);
    const xv_d d_ = x - m, bp = d_ - x;
    const xv_d e_ = (x - (d_ - bp)) - (bp + m);
    const xv_i tie = XV_EQ(x, m);
    const xv_d d = XV(sel)(tie, zero, d_);
    const xv_d e = XV(sel)(tie | ~XV_GT(d_, -HUGE_VAL), zero, e_);
    return (d - L) + e;
}

/* The output pass of a contiguous row: the gradient (from F in out), softmax (from F in out) or
 * log_softmax (from x), eight entries a step in vectors (the loop's scalar form does not
 * vectorize: at -O2 GCC leaves a loop with a remainder scalar, about 2 ns an entry), the last
 * n < 8 entries through the same vector arithmetic (padded loads, stored lane by lane), so that
 * an entry's value does not depend on where it sits. Each lane computes what the scalar form
 * computed, in the same order: the same bits. */
#define XK_ROW_OUT(expr)                                                                   \
    do {                                                                                   \
        for (ptrdiff_t c = 0; c < C; c += 8) {                                             \
            const int n_ = C - c < 8 ? (int)(C - c) : 8;                                   \
            const xv_d o = n_ == 8 ? XK_LOADV(out + c) : FN(load_pad)(out + c, n_, 0.0);   \
            xv_d tv = zero, cv = zero, xv = zero;                                          \
            if (mode == XK_CATEGORICAL) tv = FN(load_pad)(t + c, n_, 0.0);                 \
            if (cw) cv = XV(load_pad)(cw + c, n_, 0.0);                                    \
            if (mode == XK_LOG_SOFTMAX) xv = FN(load_pad)(x + c, n_, 0.0);                 \
            (void)o, (void)tv, (void)cv, (void)xv;                                         \
            const xv_d r_ = (expr);                                                        \
            if (n_ == 8) XK_STOREV(out + c, r_);                                           \
            else                                                                           \
                for (int l = 0; l < n_; l++) out[c + l] = (T)r_[l];                        \
        }                                                                                  \
    } while (0)
static inline __attribute__((always_inline)) void FN(row_output)(
    const xk_block *b, int mode, const T *x, const T *t, T *out, ptrdiff_t C, double m,
    const FN(coef) *g)
{
    const xv_d zero = XV(splat)(0.0);
    if (g->zero && mode != XK_SOFTMAX && mode != XK_LOG_SOFTMAX) {
        for (ptrdiff_t c = 0; c < C; c++) out[c] = 0;
        return;
    }
    const double *cw = mode == XK_SOFTMAX || mode == XK_LOG_SOFTMAX ? NULL : b->cw;
    if (mode == XK_SOFTMAX) {
        const xv_d inv = XV(splat)(g->inv);
        XK_ROW_OUT(o * inv);
    } else if (mode == XK_LOG_SOFTMAX) {
        const xv_d mv = XV(splat)(m), L = XV(splat)(g->L);
        XK_ROW_OUT(FN(log_softmax_v)(xv, mv, L));
    } else {
        const xv_d a = XV(splat)(g->a), k = XV(splat)(g->k);
        const xv_d kw0 = XV(splat)(b->eps / (double)C), kw1 = XV(splat)(1.0 - b->eps);
        if (mode == XK_CATEGORICAL && cw) XK_ROW_OUT(k * (a * o - (kw1 * tv + kw0) * cv));
        else if (mode == XK_CATEGORICAL) XK_ROW_OUT(k * (a * o - (kw1 * tv + kw0)));
        else if (cw) XK_ROW_OUT(k * (a * o - kw0 * cv));
        else XK_ROW_OUT(k * (a * o - kw0));
    }
}
#undef XK_ROW_OUT

/* The rows of a call without an output pass (a loss or logsumexp without gradient), XK_TILE
 * at a time: each row's passes, then their L = log1p(s) and the rest of `finish` eight rows at
 * a time as tile_finish computes it for a tile (the same operations as finish, its branches
 * made selects; the vector log1p has the scalar one's bits, xvec.h), with the rows' entries at
 * their labels read before. The values are summed in row order, eight lanes, as `rows` does. */
static void FN(tile_finish)(xk_block *b, int mode, ptrdiff_t r0, ptrdiff_t n, const T *x,
                            ptrdiff_t xs, const T *out, ptrdiff_t os, double *m, int64_t *top,
                            double (*acc)[XK_TILE], const double *Ls, double *inv_o, double *L_o,
                            double *a_o, double *k_o, double *gtop_o, xk_sum *bsum,
                            const double *xy, const double *fy);

static void FN(tile_focal_sums)(xk_block *b, ptrdiff_t r0, ptrdiff_t n, const T *t,
                                ptrdiff_t t_cs, ptrdiff_t t_rs, const double *m,
                                const int64_t *top, double (*acc)[XK_TILE], const double *Ls,
                                xk_sum *bsum);

/* The check of a block's targets by its rows' weighted sums' pass (xk_row_check; st->tcheck):
 * each row's sum into check->sums as it is read, and after the last row the block's results
 * as `stats` gives them (the same total; lo and hi only 0 and 1, or +inf where an entry is out
 * of [0, 1]; not one-hot). */
typedef struct {
    int bad, nan, range;
} FN(rcheck);

static void FN(stats_total)(xk_stats *s);

static inline void FN(rcheck_row)(xk_stats *c, FN(rcheck) *a, ptrdiff_t r, const FN(state) *st)
{
    c->sums[r] = st->tsum;
    a->bad |= fabs(st->tsum - 1.0) > c->rtol;
    a->nan |= st->tsum != st->tsum;
    a->range |= st->tbad;
}

static void FN(rcheck_end)(xk_stats *c, const FN(rcheck) *a)
{
    c->lo = 0.0;
    c->hi = a->range ? HUGE_VAL : 1.0;
    c->nan = a->nan;
    c->bad_sum = a->bad;
    c->all_hot = 0;
    FN(stats_total)(c);
}

#if XK_WIDEN
/* A one-hot row's weighted sums and check (class y, logit xy), as the exp pass's weighted
 * sums give them for its targets (row_pass_s with XK_FUSE_SUMS, CHECK and TW: the entry at y
 * the only term, w v = 1 v in one multiply-add and the compensated sums exact), after the
 * sparse loss's exp pass, which leaves the same m, sb, nt and top: tv = m - x_y (0 where x_y
 * is a maximum that is not finite), W = the targets' sum = 1. */
static inline void FN(hot_sums)(FN(state) *st, double xy)
{
    const double m = st->m;
    const int tie = !(m > -HUGE_VAL && m < HUGE_VAL);
    st->tv = tie && xy == m ? 0.0 : m - xy;
    st->wy = st->tsum = 1.0;
    st->vs = st->wyx = 0.0;
    st->tbad = 0;
}
#endif

/* Row j's results of its exp pass (st) into rows_values's arrays. */
static inline __attribute__((always_inline)) void FN(rows_value_sums)(
    const FN(state) *st, ptrdiff_t j, double *m, double *mx, int64_t *top,
    double (*acc)[XK_TILE])
{
    m[j] = mx[j] = st->m, top[j] = st->top;
    acc[0][j] = st->sb, acc[1][j] = st->nt, acc[2][j] = st->vs, acc[3][j] = st->tv;
    acc[4][j] = st->wy, acc[5][j] = st->wyx;
}

static void FN(rows_values)(xk_block *b, int mode, int smooth, int fg, xk_sum *bsum,
                            xk_stats *check, FN(rcheck) *rc)
{
    const ptrdiff_t R = b->R, C = b->C;
    /* with an output (the gradient without focal loss, softmax, log_softmax; rows of at most
       1 KiB, see rows): the exp pass stores F (but for log_softmax), tile_finish gives each
       row's coefficients and the entries set apart as for a tile (finish's values), and each
       row's output pass follows (row_output): a row's fixed costs were a scalar finish and
       log1p per row, 40-50 ns */
    const int out = b->out != NULL;
    const int grad = out && (mode == XK_SPARSE || mode == XK_CATEGORICAL);
    const int store = mode == XK_SOFTMAX || grad;
    double m[XK_TILE], xy[XK_TILE], fy[XK_TILE], Ls[XK_TILE], inv[XK_TILE], L[XK_TILE];
    double a[XK_TILE], k[XK_TILE], gtop[XK_TILE], mx[XK_TILE];
    double acc[XK_NACC][XK_TILE];
    int64_t top[XK_TILE];
    /* each row's maximum is taken before the previous row's exp pass (the first row's before
       the loop): the two are independent, so that the maximum's reduction and the pass's
       final sums, chains of dependent operations, can overlap the other row's loads and exps
       (measured on an AMD EPYC: float64 rows of 100 classes about 10 % faster, float32 rows
       2-6 %; a row's fixed cost, about 30 ns at 100 float32 classes, is mostly elsewhere) */
    int clean_next = 0;
    double m_next = R > 0 ? FN(max_of_row)((const T *)b->x, C, &clean_next) : 0.0;
#if XK_WIDEN
    /* one-hot rows looked for (xk_block.hot_scan) until a row is not one-hot: the stats' pass
       over a block's targets before its exp passes had cost half of them (8,192 x 1,000
       float32, their loads waiting for memory) */
    int scan = b->hot_scan && check && xk_hot_rows(b, mode, 1);
    /* rows in pairs (pass_pair): the passes that are row_pass_s_impl's with CLEAN alone */
    const int cat = mode == XK_CATEGORICAL && check != NULL; /* (no class weights) */
    const int pair = C <= XK_PAIR_C && !out && !smooth && !fg && b->gamma == 0.0 &&
                     (cat || (!check && (mode == XK_SPARSE || mode == XK_LSE)));
#endif
    for (ptrdiff_t r0 = 0; r0 < R; r0 += XK_TILE) {
        const ptrdiff_t n = R - r0 < XK_TILE ? R - r0 : XK_TILE, n8 = (n + 7) & ~(ptrdiff_t)7;
        for (ptrdiff_t j = 0; j < n8; j++) {
            FN(state) st;
            FN(state_zero)(&st);
            xy[j] = fy[j] = 0.0;
            /* row j + 1's maximum where the pair below took it (known) */
            int known = 0, clean1 = 0;
            double m1 = 0.0;
#if XK_WIDEN
            /* rows j and j + 1 in one pass where both are clean (see pass_pair); else row j
               below */
            if (pair && !scan && j + 1 < n && clean_next) {
                const ptrdiff_t r = r0 + j;
                const T *x = (const T *)b->x + r * b->x_rs, *x1 = x + b->x_rs;
                FN(state) s1;
                FN(state_zero)(&s1);
                s1.m = m1 = FN(max_of_row)(x1, C, &clean1);
                known = 1;
                if (clean1) {
                    st.m = m_next, st.clean = s1.clean = 1;
                    if (r + 2 < R) m_next = FN(max_of_row)(x + 2 * b->x_rs, C, &clean_next);
                    st.next = r + 3 < R ? x + 3 * b->x_rs : NULL; /* (r + 2: read just now) */
                    if (mode == XK_SPARSE) {
                        xy[j] = (double)x[b->labels[r]];
                        xy[j + 1] = (double)x1[b->labels[r + 1]];
                    }
                    const T *t = cat ? (const T *)b->t + r * b->t_rs : NULL;
                    FN(pf_share)(b, r, &st);
                    FN(pf_share)(b, r + 1, &s1);
                    FN(pass_pair)(x, x1, t, cat ? t + b->t_rs : NULL, C, &st, &s1, cat);
                    if (check) {
                        FN(rcheck_row)(check, rc, r, &st);
                        FN(rcheck_row)(check, rc, r + 1, &s1);
                    }
                    FN(rows_value_sums)(&st, j, m, mx, top, acc);
                    FN(rows_value_sums)(&s1, ++j, m, mx, top, acc);
                    continue;
                }
            }
#endif
            if (j < n) {
                const ptrdiff_t r = r0 + j;
                const T *x = (const T *)b->x + r * b->x_rs;
                const T *t = mode == XK_CATEGORICAL ? (const T *)b->t + r * b->t_rs : NULL;
                T *o = out ? (T *)b->out + r * b->o_rs : NULL;
                const int64_t y = b->labels ? b->labels[r] : 0;
                /* the row whose maximum is taken after this pass (row r + 1's was taken
                   before it) */
                st.next = r + 2 < R ? x + 2 * b->x_rs : NULL;
                st.hilo = b->gamma != 0.0;
                st.kw0 = b->eps / (double)C, st.kw1 = 1.0 - b->eps;
                st.ff = b->scratch + XK_TILE; /* (fg: C rounded up to 16 doubles) */
                FN(pf_share)(b, r, &st);
                st.m = m_next, st.clean = clean_next;
                if (known) m_next = m1, clean_next = clean1;
                else if (r + 1 < R) m_next = FN(max_of_row)(x + b->x_rs, C, &clean_next);
                /* the categorical gradient over its logits: its weighted sums, before the
                   pass, need the maximum's first entry (and within it: XK_FUSE_TOP) */
                if (mode == XK_CATEGORICAL && store &&
                    (XK_FUSE_TOP || (const void *)o == (const void *)x))
                    st.top = FN(row_first)(x, C, st.m);
                /* x[y] before the pass: the gradient may be written over the logits */
                if (mode == XK_SPARSE) xy[j] = (double)x[y];
                st.tcheck = check != NULL;
#if XK_WIDEN
                if (scan) { /* see pass_hot_L; it asks for the next row's targets */
                    st.next_t = r + 1 < R ? t + b->t_rs : NULL;
                    if (st.clean) FN(pass_hot_1)(x, t, C, &st);
                    else FN(pass_hot_0)(x, t, C, &st);
                    if (st.hot_y >= 0) FN(hot_sums)(&st, (double)x[st.hot_y]);
                    scan = st.hot_y >= 0;
                } else
#endif
                    FN(pass_v)(mode, store, smooth && !fg, fg, x, t, b->cw, o, C, &st);
                if (check) FN(rcheck_row)(check, rc, r, &st);
                if (mode == XK_SPARSE && grad) fy[j] = (double)o[y];
            } else { /* the last vector's other lanes: a row of one entry */
                st.nt = 1.0;
            }
            FN(rows_value_sums)(&st, j, m, mx, top, acc);
            if (fg) acc[3][j] = st.fb, acc[5][j] = st.fa; /* the focal sums (tile_focal_sums) */
        }
        FN(rows_logs)(b, mode, fg, n8, m, acc, Ls);
        if (fg) {
            FN(tile_focal_sums)(b, r0, n, (const T *)b->t + r0 * b->t_rs, 1, b->t_rs, m, top,
                                acc, Ls, bsum);
            continue;
        }
        FN(tile_finish)(b, mode, r0, n, NULL, 0, out ? (const T *)b->out : NULL, 0, m, top, acc,
                        Ls, inv, L, a, k, gtop, bsum, xy, fy);
        if (!out) continue;
        for (ptrdiff_t j = 0; j < n; j++) {
            const ptrdiff_t r = r0 + j;
            const T *x = (const T *)b->x + r * b->x_rs;
            const T *t = mode == XK_CATEGORICAL ? (const T *)b->t + r * b->t_rs : NULL;
            T *o = (T *)b->out + r * b->o_rs;
            /* finish's coefficients, as tile_finish computed them (k 0: a zero row) */
            FN(coef) g = {0};
            g.inv = inv[j], g.L = L[j], g.a = a[j], g.k = k[j], g.zero = k[j] == 0.0;
            FN(row_output)(b, mode, x, t, o, C, mx[j], &g);
            if (!grad) continue;
            /* the entries set apart: the label's (sparse) and the maximum's */
            const int64_t yo = ((const int64_t *)b->scratch)[j];
            if (mode == XK_SPARSE && yo >= 0) o[yo] = (T)m[j];
            if (top[j] >= 0) o[top[j]] = (T)gtop[j];
        }
    }
}

static void FN(rows)(xk_block *b, int mode)
{
    const ptrdiff_t R = b->R, C = b->C;
    const int grad = b->out != NULL && (mode == XK_SPARSE || mode == XK_CATEGORICAL);
    const int store = mode == XK_SOFTMAX || grad;
    const int smooth =
        b->eps > 0.0 && (mode == XK_SPARSE || mode == XK_CATEGORICAL || mode == XK_STATE);
    /* focal loss with soft or smoothed targets: the exp pass gives the softmax sums only (the
       weighted sums of the plain loss would be unused: focal_row takes every term) */
    const int focal = b->gamma != 0.0 && (mode == XK_CATEGORICAL || (mode == XK_SPARSE && smooth));
    const int pass_mode = focal ? XK_SPARSE : mode;
    /* log_softmax's double rows, one at a time: the exp pass stores F in the output as
       softmax's does, values that the output pass then writes over with log_softmax's (from x,
       m and L alone: the same bits). The output's cache lines are thus fetched for writing
       while the exp pass computes, and the output pass writes in the cache; alone in that
       pass, the fetches of an output beyond the caches took as long as the exp pass (8,192 x
       1,000 float64, Intel Xeon with AVX-512: 0.58-0.59x the time with them in the exp
       pass).
       Not for float rows, whose exp pass with STORE is not the clean one (see pass_v; 1.07-1.1x
       the time at 100-32,000 float32 classes), nor for rows_values' (a tile's output stays in
       L2 for its output pass: 1.05x at 100 float64 classes), nor where the output is the
       logits themselves. */
    const int warm = !XK_WIDEN && mode == XK_LOG_SOFTMAX && b->out != NULL && b->out != b->x;
    /* the forward focal loss of soft targets, float results, gamma = 1-4: the focal sums of
       the exp pass's row (row_pass_s with FG, rows_values) rather than focal_row's pass */
    const int fg = FN(focal_sums_gamma)(b, mode);
    xk_sum bsum = {{0}, {0}, {0}};
    /* the targets checked by the weighted sums' pass where b->check asks for it */
    xk_stats *const check = xk_row_check(b, mode, XK_WIDEN) ? b->check : NULL;
    FN(rcheck) rc = {0, 0, 0};
    /* rows_values takes the rows without an output (but for a focal loss's second pass), and
       those with an output and no focal loss where a tile's output stays in L2 for its output
       pass (XK_TILE rows of at most 1 KiB: 256 floats, 128 doubles); longer rows one at a
       time below, the output pass while the row is in cache */
    const int batched =
        mode != XK_STATE && (b->out == NULL ? !focal || fg
                                            : mode != XK_LSE && b->gamma == 0.0 &&
                                                  C * (ptrdiff_t)sizeof(T) <= 1024);
    if (batched) {
        FN(rows_values)(b, mode, smooth, fg, &bsum, check, &rc);
        FN(sum_result)(&bsum, 1, &b->loss_sum, &b->loss_sum_small);
        if (check) FN(rcheck_end)(check, &rc);
        return;
    }
    for (ptrdiff_t r = 0; r < R; r++) {
        const T *x = (const T *)b->x + r * b->x_rs;
        const T *t = mode == XK_CATEGORICAL ? (const T *)b->t + r * b->t_rs : NULL;
        T *out = b->out ? (T *)b->out + r * b->o_rs : NULL;
        double sw = b->row_weight ? b->row_weight[r] : 1.0;
        int64_t y = b->labels ? b->labels[r] : 0;
        FN(state) st;
        FN(coef) g;
        st.next = r + 1 < R ? x + b->x_rs : NULL;
        st.hilo = b->gamma != 0.0;
        st.top = 0, st.nt = 0.0; /* set by the exp pass (top: by row_first too) */
        st.tcheck = check != NULL;
        FN(pf_share)(b, r, &st);
        /* the maximum; the entries equal to it and the first of them come from the exp pass,
           but for the categorical gradient over its logits, whose weighted sums need that
           index before the pass */
        st.m = FN(max_of_row)(x, C, &st.clean);
        if (pass_mode == XK_CATEGORICAL && store &&
            (XK_FUSE_TOP || (const void *)out == (const void *)x))
            st.top = FN(row_first)(x, C, st.m);
        /* x[y] before the exp pass: the gradient may be written over the logits (out == x,
           see kernels.h) */
        double xy = mode == XK_SPARSE ? (double)x[y] : 0.0;
        /* a focal row's F for its second pass, in the output, else in scratch; with the
           output, its w_c D_c for the third there */
        double *wd = b->scratch + XK_TILE;
        T *F = out ? out : focal ? (T *)wd : NULL;
        FN(pass_v)(pass_mode, store || focal || warm, smooth && !focal, 0, x, t, b->cw, F, C,
                   &st);
        if (check) FN(rcheck_row)(check, &rc, r, &st);
        if (mode == XK_STATE) {
            double *q = b->state + XK_STATE_LEN * r;
            q[0] = st.m, q[1] = st.sb, q[2] = st.nt, q[3] = smooth ? st.vs : 0.0;
            continue;
        }
        double L = xk_log1p(FN(row_s)(st.m, st.sb, st.nt));
        double value = FN(finish)(b, mode, &st, sw, y, xy, L, &g);
        if (g.focal_row) {
            double l = FN(focal_row)(b, mode, x, t, F, &st, y, &g, wd);
            value = sw == 0.0 ? 0.0 : sw * l;
        }
        if (b->row_out) b->row_out[r] = value;
        FN(sum_add)(&bsum, r & 7, value);
        if (b->out == NULL || mode == XK_LSE) continue;
        if (g.focal_row) {
            FN(focal_output)(C, out, wd, st.top, &g);
            continue;
        }
        double gy = g.fix_y && !g.zero ? FN(sparse_gy)(b, &g, y, (double)out[y]) : 0.0;
        FN(row_output)(b, mode, x, t, out, C, st.m, &g);
        if (!grad || g.zero) continue;
        if (g.fix_y) out[y] = (T)gy;
        if (g.fix_top) out[st.top] = (T)g.g_top;
    }
    FN(sum_result)(&bsum, 1, &b->loss_sum, &b->loss_sum_small);
    if (check) FN(rcheck_end)(check, &rc);
}

#if !XK_WIDEN
/* ------------------------------------------------------------------ rows streamed by chunks */

/* Rows whose classes come chunk by chunk (the fused linear cross-entropy over a vocabulary):
 * each chunk's pass (XK_STATE) gives per row its maximum m, the sum sb of exp(x - m) below it,
 * the count nt of entries equal to it and vs = sum_c cw_c (m - x_c). Two states merge exactly
 * as one pass over both chunks would add them, but for the rounding of the rescaling: with
 * m = max(m1, m2) > m2, the chunk of the smaller maximum contributes all its entries,
 * (nt2 + sb2) exp(m2 - m) with the shift's rounding error carried (XK_SHIFT, as for an entry),
 * to sb, and vs adds (m - m_i) times each side's weight sum. A NaN maximum stays NaN; -inf and
 * +inf maxima merge as the pass's ties do (every entry -inf: nt counts them; +inf: the others
 * contribute 0). */
XK_ENTRY void FN(state_merge)(ptrdiff_t R, double *acc, const double *chunk, double w_acc,
                            double w_chunk, int smooth)
{
    for (ptrdiff_t r = 0; r < R; r++) {
        double *a = acc + XK_STATE_LEN * r;
        const double *c = chunk + XK_STATE_LEN * r;
        const double ma = a[0], mc = c[0];
        if (ma != ma || mc != mc) {
            a[0] = NAN;
            continue;
        }
        const double m = mc > ma ? mc : ma;
        double sb, nt;
        if (ma == mc) {
            sb = a[1] + c[1];
            nt = a[2] + c[2];
        } else {
            /* lo: the state of the smaller maximum, rescaled to m */
            const double *lo = mc > ma ? a : c, *hi = mc > ma ? c : a;
            double d, e;
            XK_SHIFT(lo[0], m, d, e);
            const double E = xk_exp(d);
            sb = hi[1] + (lo[2] + lo[1]) * (E + E * e);
            nt = hi[2];
        }
        if (smooth) { /* a side whose maximum is m adds nothing (also where m is infinite) */
            const double va = w_acc == 0.0 || ma == m ? a[3] : a[3] + w_acc * (m - ma);
            const double vc = w_chunk == 0.0 || mc == m ? c[3] : c[3] + w_chunk * (m - mc);
            a[3] = va + vc;
        }
        a[0] = m, a[1] = sb, a[2] = nt;
    }
}

/* The sparse loss of each row from its streamed state and x_y (b->state), as the row pass and
 * `finish` give it: per-row values into row_out, their sum in row order (as FN(rows) adds it)
 * into loss_sum. No gradient (b->cw_others unused), no focal loss. */
XK_ENTRY void FN(state_finish)(xk_block *b)
{
    xk_sum bsum = {{0}, {0}, {0}};
    xk_block fb = *b;
    fb.cw_others = NULL;
    fb.gamma = 0.0;
    for (ptrdiff_t r = 0; r < b->R; r++) {
        const double *q = b->state + XK_STATE_LEN * r;
        FN(state) st = {.m = q[0], .sb = q[1], .nt = q[2], .vs = q[3]}; /* the others 0 */
        FN(coef) g;
        const double sw = b->row_weight ? b->row_weight[r] : 1.0;
        const int64_t y = b->labels ? b->labels[r] : 0; /* st.top: for a gradient only */
        const double L = xk_log1p(FN(row_s)(st.m, st.sb, st.nt));
        const double value = FN(finish)(&fb, XK_SPARSE, &st, sw, y, q[4], L, &g);
        if (b->row_out) b->row_out[r] = value;
        FN(sum_add)(&bsum, r & 7, value);
    }
    FN(sum_result)(&bsum, 1, &b->loss_sum, &b->loss_sum_small);
}
#endif

/* ------------------------------------------------------------------ class-major tiles */

/* two_prod on eight lanes: a * b = p + e exactly, e = 0 outside the range (as two_prod). */
static inline __attribute__((always_inline)) void FN(two_prod_v)(xv_d a, xv_d b, xv_d *p,
                                                                 xv_d *e)
{
    const double split = 134217729.0; /* 2^27 + 1 */
    const xv_d P = a * b;
    const xv_d ta = split * a, ah = ta - (ta - a), al = a - ah;
    const xv_d tb = split * b, bh = tb - (tb - b), bl = b - bh;
    const xv_d E = ((ah * bh - P) + ah * bl + al * bh) + al * bl;
    const xv_i ok = XV_GT(P, -0x1p900) & XV_LT(P, 0x1p900) & XV_GT(a, -0x1p900) &
                    XV_LT(a, 0x1p900) & XV_GT(b, -0x1p900) & XV_LT(b, 0x1p900);
    *p = P;
    *e = XV(sel)(ok, E, XV(splat)(0.0));
}

/* focal_entry on eight rows (both arms computed, one selected per lane; not inlined: called
 * once per eight rows, and inlining it thrice doubled the compile time of the variants whose
 * registers are narrower than the vectors): the same operations
 * in the same order, so the same bits, for double results; float results take log(1 - p) as a
 * plain double and the short exp (relative errors near 2^-46 of f). */
#if XK_WIDEN
/* focal_entry_v's factor f for float results and gamma = 1-4 (focal_int): the products of
 * pow1m_v, of 1 - p = s / (1 + s) at the maximum (is_top, with s < 1). Inline where the loss
 * alone is wanted: focal_entry_v's call, its vectors passed through memory, was a third of
 * the factor's cost (float32 sparse focal loss of ten classes 0.92x the time). */
static inline __attribute__((always_inline)) xv_d FN(focal_f_int)(double gamma, xv_d s,
                                                                  xv_i is_top, xv_d p)
{
    const xv_i top = is_top & XV_LT(s, 1.0);
    xv_d f = FN(pow1m_v)(gamma, p);
    if (XV(any)(top)) /* s = 0: f = 0 */
        f = XV(sel)(top, FN(powi_v)(gamma, s / (1.0 + s)), f);
    return f;
}
#endif

static __attribute__((noinline)) void FN(focal_entry_v)(double gamma, xv_d nll,
                                                                    xv_d s, xv_d L,
                                                                    xv_i is_top, xv_d p,
                                                                    xv_d *f_out, xv_d *D_out)
{
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0);
    const xv_i top = is_top & XV_LT(s, 1.0);
#if XK_WIDEN
    /* float results: for gamma = 1-4 the products of pow1m_v, of 1 - p = s / (1 + s) at the
       maximum (a few ulp of double; the maximum's arm only where a lane takes it); for other
       gamma log(1 - p) as a plain double (log(s) - L or log1p(-p)) and one short exp */
    xv_d f;
    if (FN(focal_int)(gamma)) {
        f = FN(focal_f_int)(gamma, s, is_top, p);
    } else {
        const xv_d l1p = XV(sel)(top, XV(log_kernel)(s, zero) - L, XV(log1p)(-p));
        f = XV(sel)(top & XV_EQ(s, 0.0), zero, XK_EXP_OUT(gamma * l1p));
    }
#else
    /* the maximum with s < 1: log(1 - p) = log(s) - L as hi + lo (log_dd, exp_scaled) */
    const xv_d h = XV(log_kernel)(s, zero);
    xv_d P, E;
    FN(two_prod_v)(s, XV(exp)(-h), &P, &E);
    xv_d lo = XV(sel)(XV_GT(s, 0x1p-1000) & XV_LT(s, 0x1p1000), (P - 1.0) + E, zero);
    const xv_d a = h - L, bp = a - h;
    lo += (h - (a - bp)) + (-L - bp);
    FN(two_prod_v)(XV(splat)(gamma), a, &P, &E);
    E += gamma * lo;
    const xv_d X = XV(exp)(P);
    const xv_d f_top =
        XV(sel)(XV_EQ(s, 0.0), zero, XV(sel)(XV_EQ(X, 0.0) | XV_EQ(X, HUGE_VAL), X, X + X * E));
    /* elsewhere (p <= 1/2) */
    const xv_d f_other = FN(pow1m_v)(gamma, p);
    const xv_d f = XV(sel)(top, f_top, f_other);
#endif
    *f_out = f;
    if (D_out == NULL) return; /* the loss alone */
    const xv_d rho_top = XV(sel)(XV_EQ(s, 0.0), one, L / s);
    const xv_d rho_other = XV(sel)(XV_EQ(p, 0.0), zero, p * nll / (1.0 - p));
    const xv_d rho = XV(sel)(top, rho_top, rho_other);
    *D_out = XV(sel)(XV_EQ(f, 0.0), zero, f * (1.0 + gamma * rho));
}

/* The z-loss of eight rows, z lse^2 with lse = m + L carried as hi + lo (TwoSum; lo = 0
 * where hi is not finite, and for float results), as finish computes it, and its gradient
 * factor 2 z lse in zg. */
static inline __attribute__((always_inline)) xv_d FN(z_loss_v)(double z, xv_d m, xv_d L,
                                                               xv_d *zg)
{
    const xv_d hi = m + L;
    *zg = 2.0 * z * hi;
#if XK_WIDEN
    /* float results: lo = 0 (hi^2 within 2^-52 of the z-loss, far below their rounding; the
       TwoSum's low part was a fifth of the two-class loss with the z-loss), as finish */
    return z * (hi * hi + (2.0 * hi) * XV(splat)(0.0));
#else
    const xv_d bp = hi - m;
    xv_d lo = (m - (hi - bp)) + (L - bp);
    lo = XV(sel)(XV_LT(hi, HUGE_VAL) & XV_GT(hi, -HUGE_VAL), lo, XV(splat)(0.0));
    return z * (hi * hi + (2.0 * hi) * lo);
#endif
}

/* The focal loss of eight rows from their focal sums (forward, float results, gamma = 1-4;
 * row_pass_s and tile_pass_s with FG: A = sum w f, B = sum w f v over the entries but the
 * maximum's, see focal_pass_s), instead of focal_row's second pass over the row: with
 * nll_c = L + v_c, the sum of w_c f_c nll_c there is L A + B, and the maximum's entry, whose p
 * may be near 1, is focal_entry's (factor f_top, nll = L) with its weight wtop. Terms of one
 * sign: L may be the short log (short_logs). A row of -inf entries or with a NaN is NaN (s),
 * an infinite nll of weight > 0 inf (B). */
static inline __attribute__((always_inline)) xv_d FN(focal_sums_v)(double gamma, xv_d L, xv_d s,
                                                                   xv_d inv, xv_d wtop, xv_d A,
                                                                   xv_d B)
{
    const xv_d zero = XV(splat)(0.0);
    const xv_i all = (xv_i){0} == 0;
    xv_d ftop;
#if XK_WIDEN
    if (FN(focal_int)(gamma)) ftop = FN(focal_f_int)(gamma, s, all, inv);
    else
#endif
        FN(focal_entry_v)(gamma, L, s, L, all, inv, &ftop, NULL);
    return (L * A + B) + XV(sel)(XV_EQ(wtop, zero) | XV_EQ(ftop, zero), zero, wtop * ftop * L);
}

/* finish for the rows of a tile, eight at a time (gamma = 0, or sparse rows without smoothing):
 * the same operations in the same order as finish, its branches made selects. Inputs: m, top, the sums acc and L = log1p(s);
 * outputs as the output pass of tile reads them: inv, L, a, k (0 for a row of weight 0), the
 * entries set apart (top: index or -1, g_top; m: gy, with the class id in scratch, or -1). */
static void FN(tile_finish)(xk_block *b, int mode, ptrdiff_t r0, ptrdiff_t n, const T *x,
                            ptrdiff_t xs, const T *out, ptrdiff_t os, double *m, int64_t *top,
                            double (*acc)[XK_TILE], const double *Ls, double *inv_o, double *L_o,
                            double *a_o, double *k_o, double *gtop_o, xk_sum *bsum,
                            const double *xy, const double *fy)
{
    const double Cd = (double)b->C, eps = b->eps, z = b->z;
    const int sparse = mode == XK_SPARSE, cat = mode == XK_CATEGORICAL;
    const int focal = sparse && b->gamma != 0.0; /* (eps = 0: see tile) */
    const xv_d zero = XV(splat)(0.0), nan = XV(splat)(NAN),
               inf = XV(splat)(HUGE_VAL), ninf = XV(splat)(-HUGE_VAL);
    FN(vsum) sums = FN(vsum_load)(bsum);
    for (ptrdiff_t r = 0; r < n; r += 8) {
        /* the rows' labels and weights (the last rows' padded with label 0 and weight 0), then
           what each row reads at its label and at its maximum's class */
        const int whole = r + 8 <= n;
        int64_t ypad[8] = {0};
        double swpad[8] = {0};
        const int64_t *yp = b->labels ? b->labels + r0 + r : ypad;
        const double *swp = b->row_weight ? b->row_weight + r0 + r : NULL;
        if (!whole) {
            for (int l = 0; l < 8 && r + l < n; l++) {
                ypad[l] = b->labels ? yp[l] : 0;
                swpad[l] = swp ? swp[l] : 1.0;
            }
            yp = ypad;
            swp = swpad;
        }
        const xv_i lanem = XV_LT(((xv_i){0, 1, 2, 3, 4, 5, 6, 7}), (int64_t)(n - r));
        xv_i yv, topv;
        memcpy(&yv, yp, sizeof yv);
        memcpy(&topv, top + r, sizeof topv);
        const xv_d sw = swp ? XV(load)(swp) : XV(splat)(1.0);
        const xv_d cwy = b->cw ? XV(gather)(b->cw, yv) : XV(splat)(1.0);
        const xv_d othv = out && b->cw_others ? XV(gather)(b->cw_others, topv) : XV(splat)(Cd - 1.0);
        xv_d xyv = zero, fyv = zero;
        if (sparse) {
            /* x and (with out) F at the label: the caller's (rows_values: both; tile: x, from
               its maximum's pass), else gathered from the tile, the padding lanes reading row
               r's entry of class 0 */
            const xv_i lane = (xv_i){0, 1, 2, 3, 4, 5, 6, 7} + (int64_t)r;
            if (xy) {
                xyv = XV(sel)(lanem, XV(load)(xy + r), zero);
            } else {
                const xv_i at_x = ((yv * (int64_t)xs + lane) & lanem) | (lane & ~lanem);
                xyv = XV(sel)(lanem, FN(gather)(x, at_x), zero);
            }
            if (out && fy) {
                fyv = XV(sel)(lanem, XV(load)(fy + r), zero);
            } else if (out) {
                const xv_i at_o = ((yv * (int64_t)os + lane) & lanem) | (lane & ~lanem);
                fyv = XV(sel)(lanem, FN(gather)(out, at_o), zero);
            }
        }
        const xv_d mv = XV(load)(m + r), sbv = XV(load)(acc[0] + r), ntv = XV(load)(acc[1] + r);
        const xv_d L = mode == XK_SOFTMAX ? zero : XV(load)(Ls + r); /* (none: rows_logs) */
        const xv_d sv = FN(row_s_v)(mv, sbv, ntv);
        const xv_d inv = 1.0 / (1.0 + sv);
        xv_d value = zero;
        if (mode == XK_LSE) {
            value = XV(sel)(XV_EQ(mv, ninf), ninf, XV(sel)(XV_EQ(mv, inf), inf, mv + L));
        } else if (sparse || cat) {
            xv_d wy, wyx, loss, Dy = zero;
            if (sparse) {
                const xv_d xy = xyv;
                xv_d hi = mv - xy, bp = hi - mv;
                xv_d lo = (mv - (hi - bp)) - (bp + xy);
                const xv_i tie = XV_EQ(xy, mv);
                hi = XV(sel)(tie, zero, hi);
                lo = XV(sel)(tie, zero, lo);
                lo = XV(sel)(~(XV_LT(hi, inf) & XV_GT(hi, ninf)), zero, lo);
                const xv_d nll = (L + hi) + lo;
                const xv_d coef = (1.0 - eps) * cwy;
                loss = XV(sel)(XV_EQ(coef, 0.0), zero, coef * nll);
                wy = cwy;
                wyx = XV(sel)(XV_EQ(yv, topv), zero, cwy);
                if (focal) {
                    /* l = cw_y f nll with f = (1 - p_y)^gamma, D = dl/d(-log p_y) (finish) */
                    xv_d f, D = zero, nll_y;
                    const xv_d p_y = FN(focal_p)(xy, mv, inv, L, &nll_y); /* (its nll: above) */
#if XK_WIDEN
                    if (!out && FN(focal_int)(b->gamma))
                        f = FN(focal_f_int)(b->gamma, sv, XV_EQ(yv, topv), p_y);
                    else
#endif
                        FN(focal_entry_v)(b->gamma, nll, sv, L, XV_EQ(yv, topv), p_y, &f,
                                          out ? &D : NULL);
                    loss = XV(sel)(XV_EQ(cwy, 0.0) | XV_EQ(f, 0.0), zero, cwy * f * nll);
                    wy = XV(sel)(XV_EQ(cwy, 0.0), zero, cwy * D);
                    wyx = XV(sel)(XV_EQ(yv, topv), zero, wy);
                    Dy = wy;
                }
            } else {
                const xv_d tv = XV(load)(acc[3] + r);
                wy = XV(load)(acc[4] + r);
                wyx = XV(load)(acc[5] + r);
                loss = tv + XV(sel)(XV_EQ(wy, 0.0), zero, wy * L);
                if (eps > 0.0) loss *= 1.0 - eps;
            }
            if (eps > 0.0) loss += eps / Cd * (XV(load)(acc[2] + r) + b->cw_sum * L);
            xv_d zg = zero;
            if (z != 0.0) loss += FN(z_loss_v)(z, mv, L, &zg);
            value = XV(sel)(XV_EQ(sw, 0.0), zero, sw * loss);
            if (out) { /* the output pass's coefficients: with a gradient only */
                const xv_d k = sw / b->grad_div;
                const xv_d W = (1.0 - eps) * wy + eps / Cd * b->cw_sum;
                const xv_i kzero = XV_EQ(k, 0.0);
                const xv_d a = (z == 0.0 ? W : W + zg) * inv;
                const xv_i fix_top = XV_LT(sv, 1.0);
                const xv_d ce = ((1.0 - eps) * wyx + eps / Cd * othv) - W * sv * inv;
                const xv_d g_top = k * (z == 0.0 ? ce : ce + zg * inv);
                XV(store)(a_o + r, a);
                XV(store)(k_o + r, XV(sel)(kzero, zero, k));
                XV(store)(gtop_o + r, g_top);
                const xv_i ftop = fix_top & ~kzero;
                const xv_i topo = (topv & ftop) | ((xv_i){-1, -1, -1, -1, -1, -1, -1, -1} & ~ftop);
                memcpy(top + r, &topo, sizeof topo);
                if (sparse) {
                    const xv_i fix_y = ~(fix_top & XV_EQ(yv, topv)) & ~kzero;
                    const xv_d gy = k * (a * fyv - (focal ? Dy : ((1.0 - eps) + eps / Cd) * cwy));
                    XV(store)(m + r, XV(sel)(fix_y, gy, nan));
                    /* the label to fix, or -1 (without labels: class 0, as `rows` takes it) */
                    const xv_i yo = (yv & fix_y) | ((xv_i){-1, -1, -1, -1, -1, -1, -1, -1} & ~fix_y);
                    memcpy((int64_t *)b->scratch + r, &yo, sizeof yo);
                } else {
                    XV(store)(m + r, nan);
                }
            }
        }
        value = XV(sel)(lanem, value, zero);
        XV(store)(inv_o + r, inv);
        XV(store)(L_o + r, L);
        if (b->row_out)
            for (int l = 0; l < 8 && r + l < n; l++) b->row_out[r0 + r + l] = value[l];
        FN(vsum_add)(&sums, value);
    }
    FN(vsum_store)(bsum, &sums);
}

/* The focal terms of class c for eight rows r .. r + 7 of a tile (focal_vec's operations;
 * inlined: as a call of its own, its vectors passed through memory per class, the float32
 * categorical focal gradient of ten classes took 3.4x its forward pass):
 * lt = w_c f_c nll_c and, with need_d, wD = w_c D_c; at each row's maximum (topv == c) f and D
 * are the row's own (ftop, Dtop: focal_entry of p = 1 / (1 + s), nll = L). p from the F the
 * tile's exp pass stored (entry (c, r) at F[c * fs + r]) where F is not NULL (focal_pF), else
 * computed again (focal_p). */
static inline __attribute__((always_inline)) void FN(tile_focal_terms)(
    const xk_block *b, int cat, const T *x, ptrdiff_t xs, const T *t, ptrdiff_t ts,
    const T *F, ptrdiff_t fs, ptrdiff_t c, ptrdiff_t r, ptrdiff_t nr, xv_d mv, xv_d inv,
    xv_d L, xv_i topv, xv_i yv, xv_d ftop, xv_d Dtop, int need_d, xv_d *lt, xv_d *wD)
{
    const double gamma = b->gamma, kw0 = b->eps / (double)b->C, kw1 = 1.0 - b->eps;
    const xv_d zero = XV(splat)(0.0);
    T xb[8], tb[8], fb[8];
    const T *xp = x + c * xs + r, *tp = cat ? t + c * ts + r : NULL;
    const T *fp = F ? F + c * fs + r : NULL;
    if (nr < 8) {
        for (ptrdiff_t l = 0; l < 8; l++) {
            xb[l] = l < nr ? xp[l] : (T)0;
            tb[l] = cat && l < nr ? tp[l] : (T)0;
            fb[l] = F && l < nr ? fp[l] : (T)0;
        }
        xp = xb;
        tp = tb;
        fp = fb;
    }
    xv_d nll;
    const xv_d p = F ? FN(focal_pF)(XK_LOADV(xp), XK_LOADV(fp), mv, inv, L, &nll)
                     : FN(focal_p)(XK_LOADV(xp), mv, inv, L, &nll);
    xv_d f = FN(pow1m_v)(gamma, p);
    const xv_i is_top = XV_EQ(topv, c);
    f = XV(sel)(is_top, ftop, f);
    const xv_d tc = cat ? XK_LOADV(tp) : XV(sel)(XV_EQ(yv, c), XV(splat)(1.0), zero);
    const xv_d wc = (b->cw ? b->cw[c] : 1.0) * (kw1 * tc + kw0);
    *lt = XV(sel)(XV_EQ(wc, 0.0) | XV_EQ(f, 0.0), zero, wc * f * nll);
    if (need_d) {
        const xv_d rho_nll = XV(sel)(XV_EQ(p, 0.0), zero, p * nll / (1.0 - p));
        xv_d D = XV(sel)(XV_EQ(f, 0.0), zero, f * (1.0 + gamma * rho_nll));
        D = XV(sel)(is_top, Dtop, D);
        *wD = XV(sel)(XV_EQ(wc, 0.0), zero, wc * D);
    }
}

/* Focal rows with soft or smoothed targets in a tile, eight rows at a time: focal_row's loss
 * and focal_output's gradient (finish's per-row values as tile_finish computes them), with each
 * row's sums taken over the classes in order (compensated), the terms recomputed for the
 * gradient. F holds the F of the pass (fs its class stride: the output, or a scratch tile), or
 * is NULL. */
static void FN(tile_focal)(xk_block *b, int mode, ptrdiff_t r0, ptrdiff_t n, const T *x,
                           ptrdiff_t xs, const T *t, ptrdiff_t ts, T *out, ptrdiff_t os,
                           const T *F, ptrdiff_t fs, const double *m, const int64_t *top,
                           double (*acc)[XK_TILE], const double *Ls, xk_sum *bsum)
{
    const ptrdiff_t C = b->C;
    const int cat = mode == XK_CATEGORICAL, grad = out != NULL;
    const double z = b->z;
    const xv_d zero = XV(splat)(0.0);
    const xv_i all = (xv_i){0} == 0;
    FN(vsum) sums = FN(vsum_load)(bsum);
    for (ptrdiff_t r = 0; r < n; r += 8) {
        const ptrdiff_t nr = n - r < 8 ? n - r : 8;
        const xv_i live = XV_LT(((xv_i){0, 1, 2, 3, 4, 5, 6, 7}), (int64_t)nr);
        xv_i topv, yv = {0};
        xv_d sw = XV(splat)(1.0);
        memcpy(&topv, top + r, sizeof topv);
        for (ptrdiff_t l = 0; l < nr; l++) {
            if (!cat && b->labels) yv[l] = b->labels[r0 + r + l];
            if (b->row_weight) sw[l] = b->row_weight[r0 + r + l];
        }
        const xv_d mv = XV(load)(m + r), ntv = XV(load)(acc[1] + r), L = XV(load)(Ls + r);
        const xv_d sv = FN(row_s_v)(mv, XV(load)(acc[0] + r), ntv);
        const xv_d inv = 1.0 / (1.0 + sv);
        xv_d ftop, Dtop;
        FN(focal_entry_v)(b->gamma, L, sv, L, all, inv, &ftop, &Dtop);
        xv_d ls = zero, lc = zero, ds = zero, dc = zero, xsum = zero, xc = zero;
        for (ptrdiff_t c = 0; c < C; c++) {
            xv_d lt, wD = zero;
            FN(tile_focal_terms)(b, cat, x, xs, t, ts, F, fs, c, r, nr, mv, inv, L, topv, yv,
                                 ftop, Dtop, grad, &lt, &wD);
            FN(vkadd)(&ls, &lc, lt, NULL);
            if (!grad) continue;
            FN(vkadd)(&ds, &dc, wD, NULL);
            /* the sum off the maximum on its own: dsum - wD[top] would cancel */
            FN(vkadd)(&xsum, &xc, XV(sel)(XV_EQ(topv, c), zero, wD), NULL);
        }
        xv_d loss = ls - lc, zg = zero;
        if (z != 0.0) loss += FN(z_loss_v)(z, mv, L, &zg);
        const xv_d value = XV(sel)(live & XV_NE(sw, 0.0), sw * loss, zero);
        if (b->row_out)
            for (ptrdiff_t l = 0; l < nr; l++) b->row_out[r0 + r + l] = value[l];
        FN(vsum_add)(&sums, value);
        if (!grad) continue;
        const xv_d dsum = ds - dc, dx = xsum - xc, k = sw / b->grad_div;
        const xv_i kzero = XV_EQ(k, 0.0);
        const xv_d a = (z == 0.0 ? dsum : dsum + zg) * inv;
        const xv_d ce = dx - dsum * sv * inv;
        const xv_d g_top = k * (z == 0.0 ? ce : ce + zg * inv);
        for (ptrdiff_t c = 0; c < C; c++) {
            xv_d lt, wD = zero;
            FN(tile_focal_terms)(b, cat, x, xs, t, ts, F, fs, c, r, nr, mv, inv, L, topv, yv,
                                 ftop, Dtop, 1, &lt, &wD);
            T *oc = out + c * os + r;
            for (ptrdiff_t l = 0; l < nr; l++) {
                const double g = kzero[l] ? 0.0 : k[l] * (a[l] * (double)oc[l] - wD[l]);
                oc[l] = (T)g;
            }
        }
        for (ptrdiff_t l = 0; l < nr; l++)
            if (sv[l] < 1.0 && !kzero[l]) out[topv[l] * os + r + l] = (T)g_top[l];
    }
    FN(vsum_store)(bsum, &sums);
}

/* The focal loss of n <= XK_TILE rows from their focal sums (row_pass_s and tile_pass_s with
 * FG: sum w f in acc[5], sum w f v in acc[3]), eight rows at a time (focal_sums_v), with the
 * z-loss and row weights as tile_focal; the target of row i at class c is t[c t_cs + i t_rs]. */
static void FN(tile_focal_sums)(xk_block *b, ptrdiff_t r0, ptrdiff_t n, const T *t,
                                ptrdiff_t t_cs, ptrdiff_t t_rs, const double *m,
                                const int64_t *top, double (*acc)[XK_TILE], const double *Ls,
                                xk_sum *bsum)
{
    const double z = b->z, kw0 = b->eps / (double)b->C, kw1 = 1.0 - b->eps;
    const xv_d zero = XV(splat)(0.0);
    FN(vsum) sums = FN(vsum_load)(bsum);
    for (ptrdiff_t r = 0; r < n; r += 8) {
        const ptrdiff_t nr = n - r < 8 ? n - r : 8;
        const xv_i live = XV_LT(((xv_i){0, 1, 2, 3, 4, 5, 6, 7}), (int64_t)nr);
        /* the maxima's targets by a gather (lane by lane, through the stack, their stores
           made the vector's load wait: a third of this loop), the lanes past the last row
           reading row r's class 0 */
        const xv_i lane = (xv_i){0, 1, 2, 3, 4, 5, 6, 7} + (int64_t)r;
        xv_i topv;
        memcpy(&topv, top + r, sizeof topv);
        topv &= live;
        const xv_i at = ((topv * t_cs + lane * t_rs) & live) | (((xv_i){0} + r * t_rs) & ~live);
        const xv_d tt = FN(gather)(t, at);
        const xv_d wtop = (b->cw ? XV(gather)(b->cw, topv) : XV(splat)(1.0)) * (kw1 * tt + kw0);
        const xv_d sw = b->row_weight ? XV(load_pad)(b->row_weight + r0 + r, (int)nr, 1.0)
                                      : XV(splat)(1.0);
        const xv_d mv = XV(load)(m + r), L = XV(load)(Ls + r);
        const xv_d sv = FN(row_s_v)(mv, XV(load)(acc[0] + r), XV(load)(acc[1] + r));
        xv_d loss = FN(focal_sums_v)(b->gamma, L, sv, 1.0 / (1.0 + sv), wtop,
                                     XV(load)(acc[5] + r), XV(load)(acc[3] + r));
        xv_d zg;
        if (z != 0.0) loss += FN(z_loss_v)(z, mv, L, &zg);
        const xv_d value = XV(sel)(live & XV_NE(sw, 0.0), sw * loss, zero);
        if (b->row_out)
            for (ptrdiff_t l = 0; l < nr; l++) b->row_out[r0 + r + l] = value[l];
        FN(vsum_add)(&sums, value);
    }
    FN(vsum_store)(bsum, &sums);
}

/* Sparse and categorical cross-entropy of two classes (no smoothing; with the focal factor),
 * eight rows of a class-major tile at a time, one exp and one log1p per row (softplus_terms8;
 * for float input log1p_exp_short of |d|, where e changes exp(-|d|) by less than 2^-43): with
 * d = x1 - x0 and its TwoSum error e,
 *   -log p0 = softplus(d) = relu(d) + T,  -log p1 = softplus(-d) = relu(-d) + T,
 *   T = log1p(exp(-|d|)), e carried (exp(-|d|) = exp(-|d_hi|)(1 -+ e), relu(+-d) = +-(d_hi + e)),
 * the values `finish` gives by the two-entry softmax sums. With target weights w_c (sparse:
 * cw_y at y, 0 at the other class; categorical: cw_c t_c) the loss is w0 (-log p0) +
 * w1 (-log p1), a term of weight 0 being 0 (also where its log is infinite), and the gradient
 * of k l is g1 = k (w0 p1 - w1 p0) = -g0 (W p_c - w_c with W = w0 + w1), p1 = sigmoid(d).
 * NaN and infinite logits give what the softmax sums give: a NaN or two infinities of one sign
 * make d NaN, one infinity makes it +-inf. The z-loss z lse^2 (lse = max(x0, x1) + T) adds
 * to the loss and 2 z lse p_c to the gradient, as in finish. */
/* The focal factor exp(-gamma h) of a two-class row, h = r + T + e the other class's
 * -log p as a value and its low part (e: TwoSum's), so that a large h keeps f's relative
 * accuracy: for float results h and its product by gamma as plain doubles (relative errors
 * near 2^-53 of the exponent, up to ~2^-46 of f) and the short exp; for double ones gamma h
 * as a double-double (Dekker's product) into the exp. */
static inline __attribute__((always_inline)) xv_d FN(focal2_f)(double gamma, xv_d r, xv_d e,
                                                               xv_d Tv)
{
#if XK_WIDEN
    (void)e;
    return XK_EXP_OUT(-gamma * (r + Tv));
#else
    const xv_d zero = XV(splat)(0.0), inf = XV(splat)(HUGE_VAL);
    const xv_d h = r + Tv, bph = h - r;
    xv_d hl = ((r - (h - bph)) + (Tv - bph)) + e;
    hl = XV(sel)(XV_LT(h, inf), hl, zero);
    const xv_d g = XV(splat)(-gamma), P = g * h;
    const double split = 134217729.0;
    const xv_d ta = split * g, ah = ta - (ta - g), al = g - ah;
    const xv_d tb = split * h, bh = tb - (tb - h), bl = h - bh;
    xv_d E = ((ah * bh - P) + ah * bl + al * bh) + al * bl;
    E = XV(sel)(XV_GT(P, -0x1p900) & XV_LT(h, 0x1p900), E, zero) + g * hl;
    const xv_d X = XV(exp)(P);
    return XV(sel)(XV_EQ(X, zero) | XV_EQ(X, inf), X, X + X * E);
#endif
}

/* The terms of eight two-class rows (tile2, tile2_plain, tile2_out): d = x1 - x0 and its
 * TwoSum error e (0 where d is infinite), u = exp(-|d|) and T = log1p(u); returns where
 * d > 0. Float rows take softplus_terms8's short forms, but with FULL the full-precision exp
 * and log1p of double rows (e carried), as logsumexp needs them. */
/* Where the focal gradient's term p_c nll_c (nll_c = -log p_c) is 0, its limit: p_c = 0, or
 * nll_c = inf (a logit of -inf, or of +inf on the other class). The second matters with float
 * results, whose u = exp(-|d|) is exp(-700), not 0, at d = +-inf (log1p_exp_short): p_c = u / (1
 * + u) is then about 1e-304, and its product with nll_c = inf was inf (a gradient of -inf and
 * inf where float64 results have the limit, -1 and 1). The focal products take the limit (here,
 * binary_focal_hard_v, binary_focal_chunk): a u of exactly 0 at +-inf in log1p_exp_short itself
 * cost the two-class rows and softplus 1.02-1.06x the time (one more select on their path). */
static inline __attribute__((always_inline)) xv_i FN(p_nll_zero)(xv_d p, xv_d nll)
{
    return XV_EQ(p, XV(splat)(0.0)) | XV_EQ(nll, XV(splat)(HUGE_VAL));
}

static inline __attribute__((always_inline)) xv_i FN(tile2_terms)(xv_d a0, xv_d a1, xv_d *d,
                                                                  xv_d *e, xv_d *u, xv_d *Tv,
                                                                  const int FULL)
{
    const xv_d zero = XV(splat)(0.0), inf = XV(splat)(HUGE_VAL);
    *d = a1 - a0;
    const xv_d bp = *d - a1;
    *e = (a1 - (*d - bp)) - (bp + a0);
    *e = XV(sel)(XV_LT(*d, inf) & XV_GT(*d, -inf), *e, zero);
    const xv_i pos = XV_GT(*d, zero);
    if (XK_WIDEN && !FULL) {
        FN(softplus_terms8)(*d, u, Tv);
    } else {
        const xv_d u0 = XV(exp)(XV(sel)(pos, -*d, *d));
        *u = u0 + u0 * XV(sel)(pos, -*e, *e);
        *Tv = XV(log1p)(*u);
    }
    return pos;
}

/* Eight rows of two entries in row-major pairs (entry (r, c) at p[2 r + c]) as the lanes of
 * a0 (class 0) and a1 (class 1), and back: one or two loads (stores) and their shuffles. */
static inline __attribute__((always_inline)) void FN(load_pairs)(const T *p, xv_d *a0, xv_d *a1)
{
#if XK_WIDEN
    xv_s v;
    memcpy(&v, p, sizeof v);
    const xv_f e = XV_SHUFFLE(v, v, 0, 2, 4, 6, 8, 10, 12, 14);
    const xv_f o = XV_SHUFFLE(v, v, 1, 3, 5, 7, 9, 11, 13, 15);
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    *a0 = (xv_d)_mm512_cvtps_pd((__m256)e), *a1 = (xv_d)_mm512_cvtps_pd((__m256)o);
#else
    *a0 = XV_CONVERT(e, xv_d), *a1 = XV_CONVERT(o, xv_d);
#endif
#else
    const xv_d u = XV(load)(p), w = XV(load)(p + 8);
    *a0 = XV_SHUFFLE(u, w, 0, 2, 4, 6, 8, 10, 12, 14);
    *a1 = XV_SHUFFLE(u, w, 1, 3, 5, 7, 9, 11, 13, 15);
#endif
}

static inline __attribute__((always_inline)) void FN(store_pairs)(T *p, xv_d g0, xv_d g1)
{
#if XK_WIDEN
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    const xv_f f0 = (xv_f)_mm512_cvtpd_ps((__m512d)g0), f1 = (xv_f)_mm512_cvtpd_ps((__m512d)g1);
#else
    const xv_f f0 = XV_CONVERT(g0, xv_f), f1 = XV_CONVERT(g1, xv_f);
#endif
    const xv_s v = XV_SHUFFLE(f0, f1, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    memcpy(p, &v, sizeof v);
#else
    XV(store)(p, XV_SHUFFLE(g0, g1, 0, 8, 1, 9, 2, 10, 3, 11));
    XV(store)(p + 8, XV_SHUFFLE(g0, g1, 4, 12, 5, 13, 6, 14, 7, 15));
#endif
}

/* The gradient of the nr <= 8 two-class rows from row r, g0 and g1: into row-major pairs
 * (PAIRS: entry (r, c) at out[2 r + c]) or class-major columns (out[c os + r]). */
static inline __attribute__((always_inline)) void FN(store_two)(T *out, ptrdiff_t os,
                                                                ptrdiff_t r, int nr, xv_d g0,
                                                                xv_d g1, const int PAIRS)
{
    if (PAIRS) {
        T *o = out + 2 * r;
        if (nr == 8) FN(store_pairs)(o, g0, g1);
        else
            for (int l = 0; l < nr; l++) o[2 * l] = (T)g0[l], o[2 * l + 1] = (T)g1[l];
        return;
    }
    T *o0 = out + r, *o1 = out + os + r;
    if (nr == 8) {
        XK_STOREV(o0, g0);
        XK_STOREV(o1, g1);
    } else {
        for (int l = 0; l < nr; l++) o0[l] = (T)g0[l], o1[l] = (T)g1[l];
    }
}

/* The check of a block's targets by tile2_plain as it reads them (xk_block.check): the least
 * and greatest entry, NaN, the rows whose sum t0 + t1 (added as `stats` adds it) is further
 * than rtol from 1, and the block's total target weight, stats_total's compensated lane sums of
 * the rows' sums (groups of 32 rows, four vectors added pairwise: a block's tiles start at
 * multiples of 32 rows), in lanes until the block's end (tcheck_end). */
typedef struct {
    xv_d lo, hi, ts, tc;
    xv_i nan, bad;
    double rtol;
} FN(tcheck);

/* tile2 without class or row weights or smoothing (xk_two_plain), with or without the focal
 * factor, the z-loss and per-row output (row_out: each row's loss, tile2's value). Sparse
 * (labels): the loss of the label's class alone, nll_y = relu(+-d) + T + (+-e where
 * +-d > 0), times the focal factor f_y of tile2 (FOCAL: the other class's p^gamma by
 * products for float results and gamma 1-4, else focal2_f of the other class's -log p), plus
 * the z-loss (Z), and the gradient's c1 = p1 (label 0) or 0 - p0 (label 1), or their focal
 * forms. CAT (targets t): tile2's t0 nll0 + t1 nll1 and c1 = t0 p1 - t1 p0, or their focal
 * forms, which for a one-hot row are the sparse loss's values, bit for bit. The same
 * operations on the same values as tile2's (whose class weights are 1), so the same bits. For float results the losses go to a plain double sum per lane (at most
 * XK_TILE / 8 additions of non-negative terms), added to the compensated sum once per tile.
 *
 * With chk (PAIRS and CAT only), the targets are checked as they are read (tcheck). */
static inline __attribute__((always_inline)) void FN(tile2_plain)(
    xk_block *b, ptrdiff_t r0, ptrdiff_t n, const T *x, ptrdiff_t xs, const T *t, ptrdiff_t ts,
    T *out, ptrdiff_t os, xk_sum *bsum, FN(tcheck) *chk, const int GRAD, const int FOCAL,
    const int Z, const int PAIRS, const int CAT)
{
    const xv_d zero = XV(splat)(0.0);
    const xv_d k = XV(splat)(1.0) / b->grad_div;
    const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    const double gamma = b->gamma;
    const int focal_int = FOCAL && FN(focal_int)(gamma);
    FN(vsum) sums = FN(vsum_load)(bsum);
#if XK_WIDEN
    xv_d acc = zero;
#endif
    /* the check's: the row sums of the group of 32 rows so far (one vector, and the sum of
       the first two); float targets' least and greatest entry and NaN in float lanes, as
       loaded (added to chk's after the loop) */
    xv_d t_one = zero, t_two = zero;
    const xv_d rtol = XV(splat)(chk ? chk->rtol : 0.0);
#if XK_WIDEN
    xv_s t_lo = XV(ssplat)(HUGE_VALF), t_hi = XV(ssplat)(-HUGE_VALF);
    xv_si t_nan = {0};
#endif
    for (ptrdiff_t r = 0; r < n; r += 8) {
        const int nr = n - r < 8 ? (int)(n - r) : 8;
        const T *x0 = PAIRS ? x + 2 * r : x + r, *x1 = x + xs + r;
        const T *t0 = CAT ? (PAIRS ? t + 2 * r : t + r) : NULL, *t1 = CAT ? t + ts + r : NULL;
        const int64_t *yp = CAT ? NULL : b->labels + r0 + r;
        xv_d a0 = zero, a1 = zero, w0 = zero, w1 = zero;
        xv_i yv = {0};
        if (nr == 8) {
            if (PAIRS) FN(load_pairs)(x0, &a0, &a1);
            else a0 = XK_LOADV(x0), a1 = XK_LOADV(x1);
            if (!CAT) memcpy(&yv, yp, sizeof yv);
            else if (PAIRS) FN(load_pairs)(t0, &w0, &w1);
            else w0 = XK_LOADV(t0), w1 = XK_LOADV(t1);
        } else { /* the last rows, padded with zeros (their losses set to 0 below) */
            if (PAIRS)
                for (int l = 0; l < nr; l++) a0[l] = (double)x0[2 * l], a1[l] = (double)x0[2 * l + 1];
            else a0 = FN(load_pad)(x0, nr, 0.0), a1 = FN(load_pad)(x1, nr, 0.0);
            if (!CAT)
                for (int l = 0; l < nr; l++) yv[l] = yp[l];
            else if (PAIRS)
                for (int l = 0; l < nr; l++) w0[l] = (double)t0[2 * l], w1[l] = (double)t0[2 * l + 1];
            else w0 = FN(load_pad)(t0, nr, 0.0), w1 = FN(load_pad)(t1, nr, 0.0);
        }
        if (CAT && PAIRS && chk) {
            const xv_d tsum = (zero + w0) + w1, dev = tsum - 1.0; /* 0 past the last row */
            if (nr == 8) { /* (no lanes to leave out: a fifth fewer operations a group) */
#if XK_WIDEN
                xv_s tv;
                memcpy(&tv, t0, sizeof tv);
                t_lo = XV(smin)(tv, t_lo); /* a NaN entry leaves them as they are */
                t_hi = XV(smax)(tv, t_hi);
                t_nan |= XV_NE(tv, tv);
#else
                chk->lo = XV(min)(XV(min)(w1, w0), chk->lo);
                chk->hi = XV(max)(XV(max)(w1, w0), chk->hi);
                chk->nan |= XV_NE(w0, w0) | XV_NE(w1, w1);
#endif
                chk->bad |= XV_GT(dev, rtol) | XV_LT(dev, -rtol); /* |dev| > rtol */
            } else {
                const xv_i in = XV_LT(lane, (int64_t)nr);
                chk->lo = XV(min)(XV(sel)(in, XV(min)(w1, w0), chk->lo), chk->lo);
                chk->hi = XV(max)(XV(sel)(in, XV(max)(w1, w0), chk->hi), chk->hi);
                chk->nan |= in & (XV_NE(w0, w0) | XV_NE(w1, w1));
                chk->bad |= in & (XV_GT(dev, rtol) | XV_LT(dev, -rtol));
            }
            /* stats_total's (v0 + v1) + (v2 + v3) per 32 rows, the vectors past the end 0 */
            const int g = (int)((r0 + r) / 8 & 3), last = r + 8 >= n;
            if (g == 0) t_one = tsum;
            else if (g == 1) t_two = t_one + tsum;
            else if (g == 2) t_one = tsum;
            if (g == 3 || last) {
                const xv_d pair0 = g == 0 ? t_one + zero : t_two;
                const xv_d pair1 = g == 3 ? t_one + tsum : g == 2 ? t_one + zero : zero + zero;
                FN(vkadd)(&chk->ts, &chk->tc, pair0 + pair1, NULL);
            }
        }
        const xv_i is1 = XV_EQ(yv, 1);
        xv_d d, e, u, Tv;
        const xv_i pos = FN(tile2_terms)(a0, a1, &d, &e, &u, &Tv, 0);
        /* nll1 = (relu(-d) + T) + (-e where d <= 0), nll0 = (relu(d) + T) + (e where d > 0) */
        const xv_i on = is1 ^ pos; /* where the label's class has the relu term */
        const xv_d dd = XV(sel)(is1, -d, d), ee = XV(sel)(is1, -e, e);
        xv_d nll = zero, nll0 = zero, nll1 = zero;
        if (CAT) {
            nll0 = (XV(sel)(pos, d, zero) + Tv) + XV(sel)(pos, e, zero);
            nll1 = (XV(sel)(pos, zero, -d) + Tv) + XV(sel)(pos, zero, -e);
            nll = XV(sel)(XV_EQ(w0, zero), zero, w0 * nll0) +
                  XV(sel)(XV_EQ(w1, zero), zero, w1 * nll1);
        } else {
            nll = (XV(sel)(on, dd, zero) + Tv) + XV(sel)(on, ee, zero);
        }
        xv_d loss = nll, p0 = zero, p1 = zero, f = zero, f0 = zero, f1 = zero;
        xv_i off0 = {0}, off1 = {0};
        if (GRAD || focal_int) {
            const xv_d inv = 1.0 / (1.0 + u), small_p = u * inv;
            p1 = XV(sel)(pos, inv, small_p), p0 = XV(sel)(pos, small_p, inv);
        }
        if (FOCAL && CAT) {
            /* tile2's: f_c = p_o^gamma by products, or focal2_f of the other class's -log p */
            if (focal_int) {
                f0 = FN(powi_v)(gamma, p1);
                f1 = FN(powi_v)(gamma, p0);
            } else {
                f0 = FN(focal2_f)(gamma, XV(sel)(pos, zero, -d), XV(sel)(pos, zero, -e), Tv);
                f1 = FN(focal2_f)(gamma, XV(sel)(pos, d, zero), XV(sel)(pos, e, zero), Tv);
            }
            off0 = XV_EQ(w0, zero) | XV_EQ(f0, zero), off1 = XV_EQ(w1, zero) | XV_EQ(f1, zero);
            loss = XV(sel)(off0, zero, w0 * f0 * nll0) + XV(sel)(off1, zero, w1 * f1 * nll1);
        } else if (FOCAL) {
            /* the other class's -log p = relu(-+d) + T + e's part: relu and e where the
               label's class has none */
            if (focal_int) f = FN(powi_v)(gamma, XV(sel)(is1, p0, p1));
            else f = FN(focal2_f)(gamma, XV(sel)(on, zero, -dd), XV(sel)(on, zero, -ee), Tv);
            loss = XV(sel)(XV_EQ(f, zero), zero, f * nll);
        }
        xv_d zg = zero; /* z-loss, lse = max + T */
        if (Z) loss += FN(z_loss_v)(b->z, XV(sel)(pos, a1, a0), Tv, &zg);
        if (nr < 8) loss = XV(sel)(XV_LT(lane, (int64_t)nr), loss, zero);
        if (b->row_out && nr == 8) XV(store)(b->row_out + r0 + r, loss);
        else if (b->row_out) XV(store_n)(b->row_out + r0 + r, nr, loss);
#if XK_WIDEN
        acc += loss;
#else
        FN(vsum_add)(&sums, loss);
#endif
        if (GRAD) {
            xv_d c1;
            if (FOCAL && CAT) { /* tile2's */
                const xv_d x0v = XV(sel)(FN(p_nll_zero)(p0, nll0), zero, gamma * p0 * nll0);
                const xv_d x1v = XV(sel)(FN(p_nll_zero)(p1, nll1), zero, gamma * p1 * nll1);
                c1 = XV(sel)(off0, zero, w0 * f0 * (p1 + x0v)) -
                     XV(sel)(off1, zero, w1 * f1 * (p0 + x1v));
            } else if (FOCAL) {
                /* the label's class c: f (p_o + gamma p_c nll) (tile2's w_c D_c p_o) */
                const xv_d pc = XV(sel)(is1, p1, p0), po = XV(sel)(is1, p0, p1);
                const xv_d xv = XV(sel)(FN(p_nll_zero)(pc, nll), zero, gamma * pc * nll);
                const xv_d D = XV(sel)(XV_EQ(f, zero), zero, f * (po + xv));
                c1 = XV(sel)(is1, zero - D, D);
            } else if (CAT) {
                c1 = w0 * p1 - w1 * p0;
            } else {
                c1 = XV(sel)(is1, zero - p0, p1);
            }
            const xv_d g1 = XV(sel)(XV_EQ(k, zero), zero, k * (c1 + zg * p1));
            const xv_d g0 = XV(sel)(XV_EQ(k, zero), zero, k * (-c1 + zg * p0));
            FN(store_two)(out, os, r, nr, g0, g1, PAIRS);
        }
    }
#if XK_WIDEN
    FN(vsum_add)(&sums, acc);
    if (CAT && PAIRS && chk) {
        chk->lo = XV(min)(chk->lo, XV(min)(XV(swiden_lo)(t_lo), XV(swiden_hi)(t_lo)));
        chk->hi = XV(max)(chk->hi, XV(max)(XV(swiden_lo)(t_hi), XV(swiden_hi)(t_hi)));
        if (XV(sany)(t_nan)) chk->nan |= (xv_i){0} == (xv_i){0}; /* every lane set */
    }
#endif
    FN(vsum_store)(bsum, &sums);
}

/* The check of a tile's targets (the n rows from r0 of fewer than 16 classes, transposed:
 * entry (r, c) at tt[c * XK_TILE + r]) into chk, as `stats` gives it: each row's sum (with
 * class weights, its weighted sum) added in class order (the block's last R % 16 rows of 8-15
 * classes as stats's row loop adds them: the first eight entries pairwise, then the others in
 * order), the least and greatest entry and NaN, the rows whose sum is further than rtol from
 * 1, and the block's total target weight as stats_total adds the rows' sums times their
 * weights (per 32 rows, four vectors added pairwise, zero past the last row, then to
 * compensated lanes; a tile starts at a multiple of 32 rows). From the tile in L1, where
 * `stats` read the rows again and transposed them (a tenth of the loss's time at ten classes).
 * tests/test_hardening.py checks that the loss has the same bits as after the pass. */
#if XK_WIDEN
/* The sums (and with cw, the weighted sums, into *wsum) of eight rows (lanes) from r of a
 * float tile of C >= 16 classes in `stats`'s order for such rows: sixteen entries at a time
 * (entries c + l and c + 8 + l of each into lane l), the runs of sixteen into two vectors in
 * turn (a0: the even ones, a1: the odd ones and the last entries, padded with 0), a0 + a1 and
 * its lanes pairwise; here one of stats's lanes l at a time (stats adds a run of zeros where
 * the row may still be one-hot, or no run where it skips one of only zeros: the same sums, but
 * for the sign of a zero). */
static inline xv_d FN(tile_sums16)(const float *tt, ptrdiff_t r, ptrdiff_t C, const double *cw,
                                   xv_d *wsum)
{
    const xv_d zero = XV(splat)(0.0);
    const ptrdiff_t whole = C / 16;
#define XK_TC(c) XK_LOADV(tt + (c) * XK_TILE + r)
    /* a run's lane l: entries c and c + 8, weighted or not */
#define XK_TC2(c) (W ? cw[c] * XK_TC(c) + cw[(c) + 8] * XK_TC((c) + 8) : XK_TC(c) + XK_TC((c) + 8))
    xv_d out[2];
    for (int W = 0; W < 1 + (cw != NULL); W++) {
        xv_d a0[8], a1[8], a[8];
        ptrdiff_t q = 0;
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) a0[l] = a1[l] = zero;
        for (; q + 2 <= whole; q += 2)
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {
                a0[l] += XK_TC2(16 * q + l);
                a1[l] += XK_TC2(16 * q + 16 + l);
            }
        if (q < whole)
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) a0[l] += XK_TC2(16 * q + l);
        for (int l = 0; l < 8; l++) {
            const ptrdiff_t c1 = 16 * whole + l, c2 = c1 + 8;
            if (c1 < C)
                a1[l] += W ? cw[c1] * XK_TC(c1) + (c2 < C ? cw[c2] * XK_TC(c2) : zero)
                           : XK_TC(c1) + (c2 < C ? XK_TC(c2) : zero);
            a[l] = a0[l] + a1[l];
        }
        out[W] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
#undef XK_TC2
#undef XK_TC
    if (cw) *wsum = out[1];
    return out[0];
}
#endif

static void FN(tile_check)(const xk_block *b, const T *tt, ptrdiff_t r0, ptrdiff_t n,
                           FN(tcheck) *chk)
{
    const ptrdiff_t C = b->C;
    const double *cw = b->cw, *sw = b->row_weight;
    const xv_d zero = XV(splat)(0.0), rtol = XV(splat)(chk->rtol);
    const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    /* the least and greatest entry and NaN (the last rows padded with 0, which changes
       neither the check's answer), sixteen float lanes at a time for float targets */
#if XK_WIDEN
    xv_s lo = XV(ssplat)(HUGE_VALF), hi = XV(ssplat)(-HUGE_VALF);
    xv_si nan = {0};
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t r = 0; r < n; r += 16) {
            const float *p = tt + c * XK_TILE + r;
            const xv_s x = r + 16 <= n ? XV(sload)(p) : XV(sload_pad)(p, (int)(n - r), 0.0f);
            lo = XV(smin)(x, lo); /* a NaN entry leaves them as they are */
            hi = XV(smax)(x, hi);
            nan |= XV_NE(x, x);
        }
    chk->lo = XV(min)(chk->lo, XV(min)(XV(swiden_lo)(lo), XV(swiden_hi)(lo)));
    chk->hi = XV(max)(chk->hi, XV(max)(XV(swiden_lo)(hi), XV(swiden_hi)(hi)));
    if (XV(sany)(nan)) chk->nan |= (xv_i){0} == (xv_i){0}; /* every lane set */
#else
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t r = 0; r < n; r += 8) {
            const T *p = tt + c * XK_TILE + r;
            const xv_d x = r + 8 <= n ? XK_LOADV(p) : FN(load_pad)(p, (int)(n - r), 0.0);
            chk->lo = XV(min)(x, chk->lo);
            chk->hi = XV(max)(x, chk->hi);
            chk->nan |= XV_NE(x, x);
        }
#endif
    /* the rows' sums (the lanes past the last row hold whatever the tile holds there: set to
       0 before they count) */
    const ptrdiff_t tail = b->R - b->R % 16; /* stats's row loop from there */
    /* float rows of more than 16 classes (contiguous: xk_tile_check): each row's sums in
       stats's order for them (tile_sums16); at sixteen classes only the rows of stats's row
       loop, below */
    const int runs16 = XK_WIDEN && C > XK_SMALL_C;
    for (ptrdiff_t g = 0; g < n; g += 32) {
        /* four groups of eight rows at a time: four independent chains of additions */
        xv_d v[4], sums[4] = {zero, zero, zero, zero}, wsums[4] = {zero, zero, zero, zero};
        const int groups = n - g >= 32 ? 4 : (int)((n - g + 7) / 8);
        for (ptrdiff_t c = 0; c < C && !runs16; c++) {
            const T *col = tt + c * XK_TILE + g;
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                if (k >= groups) continue;
                const xv_d x = XK_LOADV(col + 8 * k);
                sums[k] += x;
                if (cw) wsums[k] += cw[c] * x;
            }
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t r = g + 8 * k;
            v[k] = zero;
            if (r >= n) continue;
            const int nr = n - r < 8 ? (int)(n - r) : 8;
            const xv_i in = XV_LT(lane, (int64_t)nr);
            xv_d sum = sums[k], wsum = wsums[k];
#if XK_WIDEN
            if (runs16) {
                sum = FN(tile_sums16)(tt, r, C, cw, &wsum);
            } else if (C == XK_SMALL_C && r0 + r + 8 > tail) {
                xv_d s8, w8 = zero;
                s8 = FN(tile_sums16)(tt, r, C, cw, &w8);
                const xv_i rem = XV_GE(lane + (r0 + r), (int64_t)tail);
                sum = XV(sel)(rem, s8, sum);
                wsum = XV(sel)(rem, w8, wsum);
            } else
#endif
            if (C >= 8 && r0 + r + 8 > tail) {
                xv_d a[8], w[8];
                for (int c = 0; c < 8; c++) {
                    const xv_d x = XK_LOADV(tt + c * XK_TILE + r);
                    a[c] = zero + x;
                    if (cw) w[c] = zero + cw[c] * x;
                }
                xv_d s8 = zero + (((a[0] + a[1]) + (a[2] + a[3])) +
                                  ((a[4] + a[5]) + (a[6] + a[7])));
                xv_d w8 = zero;
                if (cw)
                    w8 = zero + (((w[0] + w[1]) + (w[2] + w[3])) +
                                 ((w[4] + w[5]) + (w[6] + w[7])));
                for (ptrdiff_t c = 8; c < C; c++) {
                    const xv_d x = XK_LOADV(tt + c * XK_TILE + r);
                    s8 += x;
                    if (cw) w8 += cw[c] * x;
                }
                const xv_i rem = XV_GE(lane + (r0 + r), (int64_t)tail);
                sum = XV(sel)(rem, s8, sum);
                wsum = XV(sel)(rem, w8, wsum);
            }
            const xv_d dev = sum - 1.0;
            chk->bad |= in & XV_GT(XV(sel)(XV_LT(dev, zero), -dev, dev), rtol);
            chk->nan |= in & XV_NE(sum, sum);
            v[k] = XV(sel)(in, cw ? wsum : sum, zero);
            if (sw) v[k] *= XV(load_pad)(sw + r0 + r, nr, 0.0);
        }
        FN(vkadd)(&chk->ts, &chk->tc, (v[0] + v[1]) + (v[2] + v[3]), NULL);
    }
}

/* The results of a block's tcheck into its xk_stats (as `stats` gives them, but all_hot 0). */
static void FN(tcheck_end)(const FN(tcheck) *c, xk_stats *s)
{
    s->lo = HUGE_VAL, s->hi = -HUGE_VAL;
    for (int l = 0; l < 8; l++) {
        s->lo = c->lo[l] < s->lo ? c->lo[l] : s->lo;
        s->hi = c->hi[l] > s->hi ? c->hi[l] : s->hi;
    }
    s->nan = XV(any)(c->nan);
    s->bad_sum = XV(any)(c->bad);
    s->all_hot = 0;
    s->total = FN(lanes_sum)(c->ts, c->tc);
}

/* tile2_plain instantiated: one function per set of flags (GRAD, PAIRS, CAT, and whether
 * there is a focal factor or z-loss). In one function together (or in their callers), their
 * loops kept their polynomials' coefficients on the stack: sparse float32 pairs with the
 * gradient took 1.08x the time. The z-loss alone has instances of its own (the F and Z of
 * the names: 0, 1, or read at run time); with a focal factor, whether there is a z-loss too is
 * read at run time (two classes with a focal factor: their two combinations had been a tenth
 * of the AVX2 variant's double code). */
#define XK_T2_0 0
#define XK_T2_1 1
#define XK_T2_F (b->gamma != 0.0)
#define XK_T2_Z (b->z != 0.0)
#if XK_SPECIALIZE
#define XK_TILE2_PLAIN(G, F, Z, P, C)                                                          \
    static __attribute__((noinline)) void FN(tile2_plain_##G##F##Z##P##C)(                      \
        xk_block *b, ptrdiff_t r0, ptrdiff_t n, const T *x, ptrdiff_t xs, const T *t,           \
        ptrdiff_t ts, T *out, ptrdiff_t os, xk_sum *bsum, FN(tcheck) *chk)                      \
    {                                                                                            \
        FN(tile2_plain)(b, r0, n, x, xs, t, ts, out, os, bsum, chk, G, XK_T2_##F, XK_T2_##Z, P, \
                        C);                                                                      \
    }
#define XK_TILE2_PLAIN_GP(F, Z, C)                                                             \
    XK_TILE2_PLAIN(0, F, Z, 0, C)                                                              \
    XK_TILE2_PLAIN(0, F, Z, 1, C)                                                              \
    XK_TILE2_PLAIN(1, F, Z, 0, C)                                                              \
    XK_TILE2_PLAIN(1, F, Z, 1, C)
#define XK_TILE2_PLAIN_FZ(C)                                                                   \
    XK_TILE2_PLAIN_GP(0, 0, C)                                                                 \
    XK_TILE2_PLAIN_GP(0, 1, C)                                                                 \
    XK_TILE2_PLAIN_GP(F, Z, C)
XK_TILE2_PLAIN_FZ(0) /* sparse */
XK_TILE2_PLAIN_FZ(1) /* categorical */
#undef XK_TILE2_PLAIN_FZ
#undef XK_TILE2_PLAIN_GP
#undef XK_TILE2_PLAIN
#else
static __attribute__((noinline)) void FN(tile2_plain_flags)(
    xk_block *b, ptrdiff_t r0, ptrdiff_t n, const T *x, ptrdiff_t xs, const T *t, ptrdiff_t ts,
    T *out, ptrdiff_t os, xk_sum *bsum, FN(tcheck) *chk, int G, int F, int Z, int P, int C)
{
    FN(tile2_plain)(b, r0, n, x, xs, t, ts, out, os, bsum, chk, G, F, Z, P, C);
}
#endif

/* tile2_plain for the call's loss (sparse or categorical), gradient (out), focal factor and
 * z-loss, and layout: pairs, x, t and out are row-major pairs (entry (r, c) at x[2 r + c]),
 * else class-major (x[c xs + r]). */
static inline void FN(tile2_plain_any)(xk_block *b, int mode, ptrdiff_t r0, ptrdiff_t n,
                                       const T *x, ptrdiff_t xs, const T *t, ptrdiff_t ts,
                                       T *out, ptrdiff_t os, xk_sum *bsum, FN(tcheck) *chk,
                                       int pairs)
{
#if XK_SPECIALIZE
#define XK_CALL(G, F, Z, P, C) FN(tile2_plain_##G##F##Z##P##C)(b, r0, n, x, xs, t, ts, out, os, bsum, chk)
#else
#define XK_CALL(G, F, Z, P, C)                                                                \
    FN(tile2_plain_flags)(b, r0, n, x, xs, t, ts, out, os, bsum, chk, G, XK_T2_##F, XK_T2_##Z, \
                          P, C)
#endif
#define XK_PLAIN(F, Z, C)                                                                     \
    do {                                                                                      \
        if (out && pairs) XK_CALL(1, F, Z, 1, C);                                             \
        else if (out) XK_CALL(1, F, Z, 0, C);                                                 \
        else if (pairs) XK_CALL(0, F, Z, 1, C);                                               \
        else XK_CALL(0, F, Z, 0, C);                                                          \
    } while (0)
#define XK_PLAIN_FZ(C)                                                                        \
    do {                                                                                      \
        if (focal) XK_PLAIN(F, Z, C);                                                         \
        else if (z) XK_PLAIN(0, 1, C);                                                        \
        else XK_PLAIN(0, 0, C);                                                               \
    } while (0)
    const int focal = b->gamma != 0.0, z = b->z != 0.0;
    if (mode == XK_CATEGORICAL) XK_PLAIN_FZ(1);
    else XK_PLAIN_FZ(0);
#undef XK_PLAIN_FZ
#undef XK_PLAIN
#undef XK_CALL
}

/* logsumexp, softmax and log_softmax of rows of two classes (MODE), eight rows a step in
 * double lanes, without the maximum's and the exp pass's loops of other rows: with d = x1 - x0
 * and its TwoSum error e (tile2_terms), the other entry's x_o - m is -|d| with error -+e, its
 * F = exp(-|d|) (1 -+ e) = u, and
 *   logsumexp = m + log1p(u),  softmax = 1 / (1 + u) (the maximum's), u / (1 + u),
 *   log_softmax = (0 - L) + 0 (the maximum's), (-|d| - L) + (-+e),  L = log1p(u),
 * the operations `finish` and the output passes apply to the two-entry sums (s = u): the same
 * bits for double rows. Float rows in double lanes too (their d exact but where the two
 * exponents lie far apart, e then carried): logsumexp by the full-precision exp and log1p, as
 * the sums of many classes take it (a result near 0, m ~ -L, keeps its digits), softmax and
 * log_softmax by softplus_terms8 (relative errors below 2^-34 before their rounding to float).
 * Rows of two equal infinities (d NaN) are the maximum's: logsumexp +-inf, softmax and
 * log_softmax the sums' NaN, as for every row of -inf or of several +inf; NaN gives NaN.
 * PAIRS: x and out are row-major pairs (entry (r, c) at x[2 r + c]), else class-major
 * (x[c xs + r]). logsumexp's values go to row_out and their sum (in row order, eight lanes)
 * to bsum, as tile_finish's. */
static inline __attribute__((always_inline)) void FN(tile2_out)(
    xk_block *b, ptrdiff_t r0, ptrdiff_t n, const T *x, ptrdiff_t xs, T *out, ptrdiff_t os,
    xk_sum *bsum, const int MODE, const int PAIRS)
{
    const xv_d zero = XV(splat)(0.0), inf = XV(splat)(HUGE_VAL);
    const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    FN(vsum) sums = FN(vsum_load)(bsum);
    for (ptrdiff_t r = 0; r < n; r += 8) {
        const int nr = n - r < 8 ? (int)(n - r) : 8;
        const T *x0 = PAIRS ? x + 2 * r : x + r, *x1 = x + xs + r;
        xv_d a0 = zero, a1 = zero;
        if (nr == 8) {
            if (PAIRS) FN(load_pairs)(x0, &a0, &a1);
            else a0 = XK_LOADV(x0), a1 = XK_LOADV(x1);
        } else if (PAIRS) { /* the last rows, padded with zeros */
            for (int l = 0; l < nr; l++) a0[l] = (double)x0[2 * l], a1[l] = (double)x0[2 * l + 1];
        } else {
            a0 = FN(load_pad)(x0, nr, 0.0), a1 = FN(load_pad)(x1, nr, 0.0);
        }
        xv_d d, e, u, L;
        const xv_i pos = FN(tile2_terms)(a0, a1, &d, &e, &u, &L, MODE == XK_LSE);
        /* an infinite d: L = 0 exactly, where the short forms take it as 700 (L ~ 2^-1010,
           whose -L log_softmax would round to -0 for the maximum's log of 1) */
        if (XK_WIDEN && MODE != XK_LSE) L = XV(sel)(XV_EQ(d, inf) | XV_EQ(d, -inf), zero, L);
        /* two equal infinities: d = inf - inf, a NaN of its own; the sums' NaN (row_s) */
        const xv_i twin = XV_EQ(a0, a1) & ~XV_EQ(a0 - a0, zero);
        if (MODE == XK_LSE) {
            xv_d value = XV(sel)(pos, a1, a0) + L;
            /* two equal infinities: the maximum itself (d is NaN there) */
            value = XV(sel)(twin, a0, value);
            value = XV(sel)(XV_LT(lane, (int64_t)nr), value, zero);
            FN(vsum_add)(&sums, value);
            if (b->row_out && nr == 8) XV(store)(b->row_out + r0 + r, value);
            else if (b->row_out) XV(store_n)(b->row_out + r0 + r, nr, value);
            continue;
        }
        u = XV(sel)(twin, XV(splat)(NAN), u);
        L = XV(sel)(twin, XV(splat)(NAN), L);
        xv_d vm, vo; /* the maximum's entry and the other's (both the maximum's in a twin) */
        if (MODE == XK_SOFTMAX) {
            vm = 1.0 / (1.0 + u);
            vo = u * vm;
        } else {
            vm = (zero - L) + zero;
            vo = (XV(sel)(pos, -d, d) - L) + XV(sel)(pos, -e, e);
        }
        vo = XV(sel)(twin, vm, vo);
        FN(store_two)(out, os, r, nr, XV(sel)(pos, vo, vm), XV(sel)(pos, vm, vo), PAIRS);
    }
    FN(vsum_store)(bsum, &sums);
}

/* tile2_out for the mode and layout of a call (a function each) */
#define XK_TILE2_OUT(M, P)                                                                     \
    static __attribute__((noinline)) void FN(tile2_out_##M##P)(                                 \
        xk_block *b, ptrdiff_t r0, ptrdiff_t n, const T *x, ptrdiff_t xs, T *out, ptrdiff_t os, \
        xk_sum *bsum)                                                                            \
    {                                                                                            \
        FN(tile2_out)(b, r0, n, x, xs, out, os, bsum, M, P);                                     \
    }
XK_TILE2_OUT(0, 0)
XK_TILE2_OUT(0, 1)
XK_TILE2_OUT(1, 0)
XK_TILE2_OUT(1, 1)
XK_TILE2_OUT(2, 0)
XK_TILE2_OUT(2, 1)
#undef XK_TILE2_OUT

static inline void FN(tile2_out_any)(xk_block *b, int mode, ptrdiff_t r0, ptrdiff_t n,
                                     const T *x, ptrdiff_t xs, T *out, ptrdiff_t os,
                                     xk_sum *bsum, int pairs)
{
    if (mode == XK_LSE && pairs) FN(tile2_out_01)(b, r0, n, x, xs, out, os, bsum);
    else if (mode == XK_LSE) FN(tile2_out_00)(b, r0, n, x, xs, out, os, bsum);
    else if (mode == XK_SOFTMAX && pairs) FN(tile2_out_11)(b, r0, n, x, xs, out, os, bsum);
    else if (mode == XK_SOFTMAX) FN(tile2_out_10)(b, r0, n, x, xs, out, os, bsum);
    else if (pairs) FN(tile2_out_21)(b, r0, n, x, xs, out, os, bsum);
    else FN(tile2_out_20)(b, r0, n, x, xs, out, os, bsum);
}

static void FN(tile2)(xk_block *b, int mode, ptrdiff_t r0, ptrdiff_t n, const T *x,
                      ptrdiff_t xs, const T *t, ptrdiff_t ts, T *out, ptrdiff_t os,
                      xk_sum *bsum)
{
    const int cat = mode == XK_CATEGORICAL;
    if (xk_two_plain(b, mode)) {
        FN(tile2_plain_any)(b, mode, r0, n, x, xs, t, ts, out, os, bsum, NULL, 0);
        return;
    }
    const xv_d zero = XV(splat)(0.0);
    const double cw0 = b->cw ? b->cw[0] : 1.0, cw1 = b->cw ? b->cw[1] : 1.0;
    FN(vsum) sums = FN(vsum_load)(bsum);
    const int focal_int = FN(focal_int)(b->gamma);
    /* p0 and p1 (from u = exp(-|d|)): for the gradient and the focal factors of float results */
    const int need_p = out != NULL || focal_int;
    for (ptrdiff_t r = 0; r < n; r += 8) {
        const int nr = n - r < 8 ? (int)(n - r) : 8;
        const T *x0 = x + r, *x1 = x + xs + r;
        const T *t0 = cat ? t + r : NULL, *t1 = cat ? t + ts + r : NULL;
        const int64_t *yp = !cat && b->labels ? b->labels + r0 + r : NULL;
        const double *swp = b->row_weight ? b->row_weight + r0 + r : NULL;
        T xp0[8], xp1[8], tp0[8], tp1[8];
        int64_t ypad[8] = {0};
        double swpad[8] = {0};
        if (nr < 8) { /* the last rows, padded with zeros and weight 0 */
            for (int l = 0; l < 8; l++) {
                xp0[l] = l < nr ? x0[l] : (T)0;
                xp1[l] = l < nr ? x1[l] : (T)0;
                tp0[l] = cat && l < nr ? t0[l] : (T)0;
                tp1[l] = cat && l < nr ? t1[l] : (T)0;
                ypad[l] = yp && l < nr ? yp[l] : 0;
                swpad[l] = l < nr ? (swp ? swp[l] : 1.0) : 0.0;
            }
            x0 = xp0, x1 = xp1, t0 = tp0, t1 = tp1, yp = ypad, swp = swpad;
        }
        xv_d w0, w1;
        if (cat) {
            w0 = cw0 * XK_LOADV(t0);
            w1 = cw1 * XK_LOADV(t1);
        } else {
            xv_i yv = {0};
            if (yp) memcpy(&yv, yp, sizeof yv);
            const xv_i is1 = XV_EQ(yv, 1);
            w0 = XV(sel)(is1, zero, XV(splat)(cw0));
            w1 = XV(sel)(is1, XV(splat)(cw1), zero);
        }
        const xv_d a0 = XK_LOADV(x0), a1 = XK_LOADV(x1);
        xv_d d, e, u, Tv;
        const xv_i pos = FN(tile2_terms)(a0, a1, &d, &e, &u, &Tv, 0);
        const xv_d nll0 = (XV(sel)(pos, d, zero) + Tv) + XV(sel)(pos, e, zero);
        const xv_d nll1 = (XV(sel)(pos, zero, -d) + Tv) + XV(sel)(pos, zero, -e);
        xv_d loss = XV(sel)(XV_EQ(w0, zero), zero, w0 * nll0) +
            XV(sel)(XV_EQ(w1, zero), zero, w1 * nll1);
        /* p1 = sigmoid(d), p0 = sigmoid(-d), c1 = W p1 - w1 */
        xv_d p0 = zero, p1 = zero, c1 = zero;
        if (need_p) {
            const xv_d inv = 1.0 / (1.0 + u), small_p = u * inv;
            p1 = XV(sel)(pos, inv, small_p);
            p0 = XV(sel)(pos, small_p, inv);
            c1 = w0 * p1 - w1 * p0;
        }
        if (b->gamma != 0.0) {
            /* the focal factor of class c, f_c = (1 - p_c)^gamma = exp(-gamma nll_o) with
               nll_o = -log p of the other class (focal2_f); l = w_c f_c nll_c summed, and
               w_c p_o in the gradient becomes w_c f_c (p_o + gamma p_c nll_c) (= w_c D_c p_o,
               D of focal_entry) */
            const xv_d r0o = XV(sel)(pos, zero, -d), e0o = XV(sel)(pos, zero, -e);
            const xv_d r1o = XV(sel)(pos, d, zero), e1o = XV(sel)(pos, e, zero);
            xv_d f0, f1;
            if (focal_int) {
                /* float results, gamma = 1-4: f_c = p_o^gamma by products (p from u, relative
                   errors near 2^-28 for float rows: gamma of them in f, far below float's) */
                f0 = FN(powi_v)(b->gamma, p1);
                f1 = FN(powi_v)(b->gamma, p0);
            } else if (cat) {
                f0 = FN(focal2_f)(b->gamma, r0o, e0o, Tv);
                f1 = FN(focal2_f)(b->gamma, r1o, e1o, Tv);
            } else { /* the class of the label's only (the other's weight is 0) */
                const xv_i is1 = XV_NE(w1, zero);
                f0 = f1 = FN(focal2_f)(b->gamma, XV(sel)(is1, r1o, r0o), XV(sel)(is1, e1o, e0o),
                                       Tv);
            }
            const xv_i off0 = XV_EQ(w0, zero) | XV_EQ(f0, zero),
                       off1 = XV_EQ(w1, zero) | XV_EQ(f1, zero);
            loss = XV(sel)(off0, zero, w0 * f0 * nll0) + XV(sel)(off1, zero, w1 * f1 * nll1);
            if (out) {
                const xv_d x0v = XV(sel)(FN(p_nll_zero)(p0, nll0), zero, b->gamma * p0 * nll0);
                const xv_d x1v = XV(sel)(FN(p_nll_zero)(p1, nll1), zero, b->gamma * p1 * nll1);
                c1 = XV(sel)(off0, zero, w0 * f0 * (p1 + x0v)) -
                     XV(sel)(off1, zero, w1 * f1 * (p0 + x1v));
            }
        }
        xv_d zg = zero; /* z-loss, lse = max + T */
        if (b->z != 0.0) loss += FN(z_loss_v)(b->z, XV(sel)(pos, a1, a0), Tv, &zg);
        const xv_d sw = swp ? XV(load)(swp) : XV(splat)(1.0);
        xv_d value = XV(sel)(XV_EQ(sw, zero), zero, sw * loss);
        if (b->row_out)
            for (int l = 0; l < nr; l++) b->row_out[r0 + r + l] = value[l];
        FN(vsum_add)(&sums, value);
        if (out) {
            const xv_d k = sw / b->grad_div;
            const xv_d g1 = XV(sel)(XV_EQ(k, zero), zero, k * (c1 + zg * p1));
            const xv_d g0 = XV(sel)(XV_EQ(k, zero), zero, k * (-c1 + zg * p0));
            FN(store_two)(out, os, r, nr, g0, g1, 0);
        }
    }
    FN(vsum_store)(bsum, &sums);
}

/* The maximum of each row of a tile (element (r, c) at x[c * xs + r]; NaN for a row holding
 * one), its first class and the number of entries equal to it (acc[1]), for the n8 >= n rows
 * the vector passes read (the rows past n: -inf, C entries equal to it). */
static void FN(tile_stats)(ptrdiff_t C, ptrdiff_t n, ptrdiff_t n8, const T *x, ptrdiff_t xs,
                           double *m, int64_t *top, double (*acc)[XK_TILE])
{
    for (ptrdiff_t r = 0; r < n8; r++) {
        m[r] = -HUGE_VAL;
        top[r] = 0;
        acc[1][r] = 0.0;
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *xc = x + c * xs;
        for (ptrdiff_t r = 0; r < n; r++) {
            double v = xc[r];
            acc[1][r] = v > m[r] ? 1.0 : acc[1][r] + (v == m[r] ? 1.0 : 0.0);
            top[r] = v > m[r] ? (int64_t)c : top[r];
            m[r] = (v > m[r] || v != v) ? v : m[r];
        }
    }
}

/* n <= XK_TILE rows of a class-major tile: element (r, c) at x[c * xs + r] (t and out alike). */
#ifndef XK_FIX_C
#define XK_FIX_C 6
#endif
/* The first k <= 8 lanes of v to p as T (nothing written past p + k). */
static inline __attribute__((always_inline)) void FN(store_pad)(T *p, int k, xv_d v)
{
    if (k == 8) {
        XK_STOREV(p, v);
        return;
    }
#if XK_WIDEN && defined(XV_X86_INTRIN) && defined(__AVX512VL__)
    _mm256_mask_storeu_ps(p, (__mmask8)((1u << k) - 1), _mm512_cvtpd_ps((__m512d)v));
#elif !XK_WIDEN
    XV(store_n)(p, k, v);
#else
    for (int l = 0; l < k; l++) p[l] = (T)v[l];
#endif
}

/* The output pass of a tile (FN(tile)), eight rows a step (the scalar loops stayed scalar at
 * -O2), the last rows by padded loads and stores: each entry as the scalar form computed it.
 * Compiled for each MODE and FIX: with the mode tested in its loop, and its last rows' stores
 * lane by lane (which kept each vector on the stack), the pass took a third of a float tile's
 * time with a gradient. The gradient's entries set apart, the label's (sparse: the class
 * tile_finish says to fix, or -1) and then the maximum's (top, or -1), with the values it left
 * in m and wyx: by selects in the pass (FIX) where the rows have at most XK_FIX_C classes, else
 * row by row after it (their scalar stores into the vectors the transpose back (from_tile)
 * reads at once made it wait: three float32 classes with the gradient took 1.27x the time,
 * four float64 classes 1.16x, six 1.02x; the selects, four loads and four operations more per
 * vector, cost more than that from eight classes on: 1.05x). */
static inline __attribute__((always_inline)) void FN(tile_out)(
    const xk_block *b, ptrdiff_t n, const T *x, ptrdiff_t xs, const T *t, ptrdiff_t ts, T *out,
    ptrdiff_t os, const double *m, const int64_t *top, const double *sb, const double *nt,
    const double *vs, const double *tv, const double *wyx, const int MODE, const int FIX)
{
    const ptrdiff_t C = b->C;
    const int CAT = MODE == XK_CATEGORICAL;
    const xv_d zero = XV(splat)(0.0), kw0 = XV(splat)(b->eps / (double)C),
               kw1 = XV(splat)(1.0 - b->eps);
    for (ptrdiff_t c = 0; c < C; c++) {
        T *oc = out + c * os;
        const T *xc = x + c * xs;
        const T *tc = CAT ? t + c * ts : NULL;
        const xv_d cwc = XV(splat)(b->cw ? b->cw[c] : 1.0);
        const xv_i cv = (xv_i){0} + (int64_t)c;
        for (ptrdiff_t r = 0; r < n; r += 8) {
            const int k = n - r < 8 ? (int)(n - r) : 8;
            const xv_d o = FN(load_pad)(oc + r, k, 0.0);
            xv_d v;
            if (MODE == XK_SOFTMAX) v = o * XV(load)(sb + r);
            else if (MODE == XK_LOG_SOFTMAX)
                v = FN(log_softmax_v)(FN(load_pad)(xc + r, k, 0.0), XV(load)(m + r),
                                      XV(load)(nt + r));
            else {
                const xv_d tvr = XV(load)(tv + r), vsr = XV(load)(vs + r);
                const xv_d w = CAT ? (kw1 * FN(load_pad)(tc + r, k, 0.0) + kw0) * cwc
                                   : kw0 * cwc;
                v = XV(sel)(XV_EQ(tvr, zero), zero, tvr * (vsr * o - w));
            }
            if (FIX) { /* the entries set apart, by selects */
                xv_i fix;
                if (MODE == XK_SPARSE) {
                    memcpy(&fix, (const int64_t *)b->scratch + r, sizeof fix);
                    v = XV(sel)(XV_EQ(fix, cv), XV(load)(m + r), v);
                }
                memcpy(&fix, top + r, sizeof fix);
                v = XV(sel)(XV_EQ(fix, cv), XV(load)(wyx + r), v);
            }
            FN(store_pad)(oc + r, k, v);
        }
    }
}

/* Prefetch the cache lines of the rows r .. r + rows - 1 of a block of R rows of C entries
 * (row r at x + r * rs, unit class stride), where the block has them, for reading or (write)
 * for writing: to_tile_c and from_tile_c ask for a group of rows a tile ahead, so that the
 * next tile's lines arrive while this one is copied and computed. The hardware's stream
 * prefetchers did not do it for the gathers that copied them then: on an AMD EPYC the gathers of
 * 65,536 rows of ten doubles took a quarter of log_softmax (perf), and with this the call
 * took 0.68x the time (one thread, best of 4 x 5 x 20 calls alternating builds; softmax
 * 0.63x, the sparse loss 0.74x, with its gradient 0.65x; float32 rows of ten classes
 * 0.86-0.94x, of sixteen 0.93-0.98x). Since to_tile_c reads rows by contiguous loads, its
 * reads of rows one after another (rs == C: one stream) are left to the hardware: with the
 * prefetches an Intel Xeon's copy of x and the categorical loss's targets waited on them (perf:
 * the copy a quarter of the loss of 65,536 x 10 float32, a sixth of it on the instruction after
 * a prefetch); without, that loss took 0.93x the time, the sparse loss, logsumexp and the
 * softmaxes of 3-32 float classes 0.95-1.0x, of float64 ones 0.94-1.0x (AVX2 variant 0.95-1.01x;
 * benchmarks.ab). Its writes (from_tile_c) keep theirs: without, float64 rows lost 1-3 %. */
static inline __attribute__((always_inline)) void FN(prefetch_rows)(const T *x, ptrdiff_t rs,
                                                                     ptrdiff_t C, ptrdiff_t r,
                                                                     ptrdiff_t rows, ptrdiff_t R,
                                                                     const int write)
{
    if (r + rows > R) return;
    x += r * rs;
    if (rs == C) { /* one contiguous run */
        const char *p = (const char *)x, *end = (const char *)(x + rows * C);
        for (; p < end; p += 64) {
            if (write) __builtin_prefetch(p, 1, 2);
            else __builtin_prefetch(p, 0, 2);
        }
        return;
    }
    for (ptrdiff_t k = 0; k < rows; k++) {
        const char *a = (const char *)(x + k * rs), *e = (const char *)(x + k * rs + C - 1);
        if (write) __builtin_prefetch(a, 1, 2), __builtin_prefetch(e, 1, 2);
        else __builtin_prefetch(a, 0, 2), __builtin_prefetch(e, 0, 2);
    }
}

#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
/* log_softmax of n <= XK_TILE rows of C <= XK_TILE_C_MAX classes (row r at x + r * xs and
 * out + r * os, unit class stride) from their maxima m and L = log1p(s) (nt), each entry as
 * tile_out computes it (log_softmax_v, the same bits), in the rows as they are: contiguous
 * rows eight at a time, their 8 C entries as C vectors whose lanes take their row's m and L by
 * a permute (the lanes' rows the same for every group of eight), the others row by row. With
 * it the transposed tiles of log_softmax skip tile_out's pass over the tile and from_tile's
 * transposes, whose output pass then took as long as a read and write of the rows (np.subtract):
 * Intel Xeon (AVX-512), one thread (benchmarks.ab), 65,536 x 10 float64 0.92x the time
 * (1.81 -> 1.67 ms), float64 rows of 4-16 classes 0.89-0.92x, float32 of 3-32 0.90-0.95x.
 * AVX2 has no permute of eight doubles in one register: its tiles go the way of the others. */
static void FN(log_softmax_rows)(const T *x, ptrdiff_t xs, T *out, ptrdiff_t os, ptrdiff_t C,
                                 ptrdiff_t n, const double *m, const double *nt, ptrdiff_t ahead)
{
    xv_i lane_row[XK_TILE_C_MAX]; /* entry 8 k + l of eight rows: row (8 k + l) / C */
    ptrdiff_t r = 0;
    if (xs == C && os == C) {
        for (ptrdiff_t k = 0; k < C; k++)
            for (int l = 0; l < 8; l++) lane_row[k][l] = (8 * k + l) / C;
        for (; r + 8 <= n; r += 8) {
            FN(prefetch_rows)(out, os, C, r + XK_TILE, 8, n + ahead, 1);
            const xv_d M = XV(load)(m + r), L = XV(load)(nt + r);
            const T *xg = x + r * C;
            T *og = out + r * C;
            for (ptrdiff_t k = 0; k < C; k++) {
                const __m512i idx = (__m512i)lane_row[k];
                const xv_d mv = (xv_d)_mm512_permutexvar_pd(idx, (__m512d)M);
                const xv_d Lv = (xv_d)_mm512_permutexvar_pd(idx, (__m512d)L);
                XK_STOREV(og + 8 * k, FN(log_softmax_v)(XK_LOADV(xg + 8 * k), mv, Lv));
            }
        }
    }
    for (; r < n; r++) {
        const xv_d mv = XV(splat)(m[r]), Lv = XV(splat)(nt[r]);
        for (ptrdiff_t c = 0; c < C; c += 8) {
            const int k = C - c < 8 ? (int)(C - c) : 8;
            FN(store_pad)(out + r * os + c, k,
                          FN(log_softmax_v)(FN(load_pad)(x + r * xs + c, k, 0.0), mv, Lv));
        }
    }
}
#endif

static void FN(from_tile)(const T *ot, ptrdiff_t C, ptrdiff_t n, T *out, ptrdiff_t rs,
                          ptrdiff_t ahead, const double *scale);

/* A tile of n rows (class-major: entry (r, c) at x[c * xs + r]) through its passes, its output
 * (if out) written class-major to out for the caller to transpose. Where rows_out is given
 * (the transposed tile's rows, row-major at rows_x and rows_out, row strides rows_xs and
 * rows_os, the block's next `ahead` rows after them) log_softmax may write its rows there
 * itself (log_softmax_rows): it returns 1 where it did, else 0. */
static int FN(tile)(xk_block *b, int mode, ptrdiff_t r0, ptrdiff_t n, const T *x, ptrdiff_t xs,
                    const T *t, ptrdiff_t ts, T *out, ptrdiff_t os, T *fbuf, xk_sum *bsum,
                    const T *rows_x, ptrdiff_t rows_xs, T *rows_out, ptrdiff_t rows_os,
                    ptrdiff_t ahead)
{
    const ptrdiff_t C = b->C;
    if (C == 2 && (mode == XK_SPARSE || mode == XK_CATEGORICAL) && b->eps == 0.0) {
        FN(tile2)(b, mode, r0, n, x, xs, t, ts, out, os, bsum);
        return 0;
    }
    if (C == 2 && (mode == XK_LSE || mode == XK_SOFTMAX || mode == XK_LOG_SOFTMAX)) {
        FN(tile2_out_any)(b, mode, r0, n, x, xs, out, os, bsum, 0);
        return 0;
    }
    const int grad = out != NULL && (mode == XK_SPARSE || mode == XK_CATEGORICAL);
    const int SMOOTH = b->eps > 0.0 && (mode == XK_SPARSE || mode == XK_CATEGORICAL);
    const int CAT = mode == XK_CATEGORICAL;
    /* focal rows with soft or smoothed targets through tile_focal after the pass; sparse focal
       rows without smoothing through tile_finish with the others */
    const int focal_rows = b->gamma != 0.0 && (CAT || SMOOTH);
    /* the focal loss of soft targets, forward, float results, gamma = 1-4, rows of at most
       XK_RUN classes: the exp pass's power sums (tile_focal_sums) rather than a second pass */
    const int fg = C <= XK_RUN ? FN(focal_sums_gamma)(b, mode) : 0;
    /* where the pass stores F: the output, else for a focal tile fbuf (a tile of scratch,
       stride XK_TILE; or NULL: tile_focal computes them again) */
    T *fo = out ? out : focal_rows && !fg ? fbuf : NULL;
    const ptrdiff_t fos = out ? os : XK_TILE;
    const int STORE = mode == XK_SOFTMAX || grad || (focal_rows && fo);
    /* per row: the maximum, then the output pass's coefficients and the entries set apart */
    double m[XK_TILE], sb[XK_TILE], nt[XK_TILE], vs[XK_TILE], tv[XK_TILE], wyx[XK_TILE];
    double acc[XK_NACC][XK_TILE], comp[XK_NACC][XK_TILE];
    int64_t top[XK_TILE];
    const ptrdiff_t n8 = (n + 7) & ~(ptrdiff_t)7; /* the vector pass reads whole vectors */
    /* the sums in use: F and the ties always, v with smoothing, the target sums of CAT */
    int used[XK_NACC];
    for (int k = 0; k < XK_NACC; k++)
        used[k] = k < 2 || (k == 2 && SMOOTH && !fg) || (k > 2 && CAT);
    /* the sparse rows' entries at their labels, taken by the maximum's pass where it reads
       them (tile_pass_s, tile_pass_d: a select per class instead of a gather per row in
       tile_finish, whose gathers were a third of its time on an AMD EPYC) */
    const int64_t *lab = mode == XK_SPARSE && b->labels && !fg &&
                                 (XK_WIDEN ? C < XK_S_MAX_C : C <= XK_SMALL_C)
                             ? b->labels + r0
                             : NULL;
    double xyb[XK_TILE], *const xyp = lab ? xyb : NULL;
    /* a tile pass instantiated for the call's flags (STORE, SMOOTH, CAT) */
#define XK_PASS_AS(P, ST, SM, CA)                                                         \
    P(b, n, x, xs, t, ts, fo, fos, m, top, acc, comp, ST, SM, CA, 0, NULL, lab, xyp)
#if XK_SPECIALIZE
#define XK_TILE_PASS(P)                                                                   \
    do {                                                                                  \
        if (CAT) {                                                                        \
            if (STORE && SMOOTH) XK_PASS_AS(P, 1, 1, 1);                                  \
            else if (STORE) XK_PASS_AS(P, 1, 0, 1);                                       \
            else if (SMOOTH) XK_PASS_AS(P, 0, 1, 1);                                      \
            else XK_PASS_AS(P, 0, 0, 1);                                                  \
        } else if (STORE && SMOOTH) XK_PASS_AS(P, 1, 1, 0);                               \
        else if (STORE) XK_PASS_AS(P, 1, 0, 0);                                           \
        else if (SMOOTH) XK_PASS_AS(P, 0, 1, 0);                                          \
        else XK_PASS_AS(P, 0, 0, 0);                                                      \
    } while (0)
#else
#define XK_TILE_PASS(P) XK_PASS_AS(P, STORE, SMOOTH, CAT)
#endif
#if XK_WIDEN
    /* FG: where the exp pass keeps sixteen rows' F (tile_pass_s): the output tile of a
       transposed tile, else the scratch (xk_scratch_len) */
    double *const ffb = fg ? (fbuf ? (double *)(void *)fbuf : b->scratch + XK_TILE) : NULL;
#define XK_FOCAL_PASS(G)                                                                 \
    FN(tile_pass_s)(b, n, x, xs, t, ts, NULL, 0, m, top, acc, comp, 0, 0, 1, G, ffb, NULL, NULL)
#if XK_SPECIALIZE
    if (fg == 1) XK_FOCAL_PASS(1);
    else if (fg == 2) XK_FOCAL_PASS(2);
    else if (fg == 3) XK_FOCAL_PASS(3);
    else if (fg == 4) XK_FOCAL_PASS(4);
#else
    if (fg) XK_FOCAL_PASS(fg);
#endif
    else if (C < XK_S_MAX_C) {
        XK_TILE_PASS(FN(tile_pass_s));
    } else
#endif
    if (!XK_WIDEN && C <= XK_SMALL_C) {
        /* eight rows at a time, the maximum's pass and the exp pass while they are in L1 */
        XK_TILE_PASS(FN(tile_pass_d));
    } else {
        /* class by class over the tile: class-major rows of more classes (the eight rows' C
           lines would not stay in L1, and the hardware's prefetchers did not follow C streams
           of a line a step: 1,000 float64 classes took 1.5x the time eight rows at a time),
           and float rows of 2^31 - 32 classes or more in double lanes */
        FN(tile_stats)(C, n, n8, x, xs, m, top, acc);
        for (int k = 0; k < XK_NACC; k++)
            if (used[k] && k != 1)
                for (ptrdiff_t r = 0; r < n8; r++) acc[k][r] = comp[k][r] = 0.0;
#if XK_WIDEN
        FN(tile_pass_v)(b, n, x, xs, t, ts, fo, fos, m, top, acc, comp, STORE, SMOOTH, CAT, 0,
                        NULL, NULL, NULL);
#else
        XK_TILE_PASS(FN(tile_pass_v));
#endif
    }
#undef XK_TILE_PASS
#undef XK_PASS_AS
#undef XK_FOCAL_PASS
    double Ls[XK_TILE];
    for (int k = 0; k < XK_NACC; k++)
        if (used[k] && k != 1) /* the ties (1) are counted exactly */
            for (ptrdiff_t r = 0; r < n; r++) acc[k][r] -= comp[k][r];
    FN(rows_logs)(b, mode, fg, n8, m, acc, Ls);
    if (fg) {
        FN(tile_focal_sums)(b, r0, n, t, ts, 1, m, top, acc, Ls, bsum);
        return 0;
    }
    if (focal_rows) {
        FN(tile_focal)(b, mode, r0, n, x, xs, t, ts, out, os, fo, fos, m, top, acc, Ls, bsum);
        return 0;
    }
    FN(tile_finish)(b, mode, r0, n, x, xs, out, os, m, top, acc, Ls, sb, nt, vs, tv, wyx, bsum,
                    xyp, NULL);
    if (out == NULL || mode == XK_LSE) return 0;
    if (!XK_WIDEN && mode == XK_SOFTMAX && rows_out) {
        /* double rows: F times 1 / (1 + s) as from_tile transposes them (its multiplies
           instead of tile_out's pass over the tile) */
        FN(from_tile)(out, C, n, rows_out, rows_os, ahead, sb);
        return 1;
    }
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    if (mode == XK_LOG_SOFTMAX && rows_out) {
        FN(log_softmax_rows)(rows_x, rows_xs, rows_out, rows_os, C, n, m, nt, ahead);
        return 1;
    }
#else
    (void)rows_x, (void)rows_xs;
#endif
    /* the output pass (tile_out), compiled for each mode and whether it fixes the entries set
       apart by selects */
    const int fix_in_pass = grad && C <= XK_FIX_C;
#define XK_TILE_OUT(MODE, FIX)                                                            \
    FN(tile_out)(b, n, x, xs, t, ts, out, os, m, top, sb, nt, vs, tv, wyx, MODE, FIX)
#if XK_SPECIALIZE
    if (mode == XK_SOFTMAX) XK_TILE_OUT(XK_SOFTMAX, 0);
    else if (mode == XK_LOG_SOFTMAX) XK_TILE_OUT(XK_LOG_SOFTMAX, 0);
    else if (mode == XK_SPARSE && fix_in_pass) XK_TILE_OUT(XK_SPARSE, 1);
    else if (mode == XK_SPARSE) XK_TILE_OUT(XK_SPARSE, 0);
    else if (fix_in_pass) XK_TILE_OUT(XK_CATEGORICAL, 1);
    else XK_TILE_OUT(XK_CATEGORICAL, 0);
#else
    XK_TILE_OUT(mode, fix_in_pass);
#endif
#undef XK_TILE_OUT
    if (!grad || fix_in_pass) return 0;
    for (ptrdiff_t r = 0; r < n; r++) {
        if (mode == XK_SPARSE) { /* the label tile_finish says to fix, or -1 */
            int64_t y = ((int64_t *)b->scratch)[r];
            if (y >= 0) out[y * os + r] = (T)m[r];
        }
        if (top[r] >= 0) out[top[r] * os + r] = (T)wyx[r];
    }
    return 0;
}

#ifndef XK_GATHER_AHEAD
/* how far ahead the gathers of rows, one row per lane (FN(prob), stats_few, kl_tiles),
   prefetch them */
#define XK_GATHER_AHEAD 64 /* rows */
#endif

#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
/* Classes 0 .. C - 1 of the eight rows at x + at[l] (unit class stride) as doubles, class c of
 * row l at V[c * vs + l]: eight classes of each row by one masked load, the 8 x 8 square
 * transposed in registers (XV(transpose8)), a store per class; the loops unrolled, so that
 * the vectors stay in registers (see to_tile_c). */
static inline __attribute__((always_inline)) void FN(rows8_to_lanes)(const T *x,
                                                                      const ptrdiff_t at[8],
                                                                      ptrdiff_t C, double *V,
                                                                      ptrdiff_t vs)
{
#pragma GCC unroll 2
    for (ptrdiff_t c0 = 0; c0 < C; c0 += 8) {
        const int w = C - c0 < 8 ? (int)(C - c0) : 8;
        xv_d v[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) v[i] = FN(load_pad)(x + at[i] + c0, w, 0.0);
        XV(transpose8)(v);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            if (k < w) XV(store)(V + (c0 + k) * vs, v[k]);
    }
}
#endif

/* n <= XK_TILE rows of C <= XK_TILE_C_MAX entries (row r at x + r * rs, unit class stride) to
 * the class-major tile xt (entry (r, c) at xt[c * XK_TILE + r]), and back. The loops are
 * compiled for each C (a constant inner loop the compiler unrolls and vectorizes). */
static inline __attribute__((always_inline)) void FN(to_tile_c)(const T *x, ptrdiff_t rs,
                                                                 ptrdiff_t C, ptrdiff_t n, T *xt,
                                                                 ptrdiff_t ahead)
{
    ptrdiff_t r = 0;
    if (C == 2 && rs == 2) { /* contiguous pairs: two loads split into even and odd entries */
#if XK_WIDEN
        for (; r + 16 <= n; r += 16) {
            const xv_s a = XV(sload)(x + 2 * r), b = XV(sload)(x + 2 * r + 16);
            XV(sstore)(xt + r, XV_SHUFFLE(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                                       20, 22, 24, 26, 28, 30));
            XV(sstore)(xt + XK_TILE + r, XV_SHUFFLE(a, b, 1, 3, 5, 7, 9, 11, 13,
                                                                 15, 17, 19, 21, 23, 25, 27,
                                                                 29, 31));
        }
#else
        for (; r + 8 <= n; r += 8) {
            const xv_d a = XV(load)(x + 2 * r), b = XV(load)(x + 2 * r + 8);
            XV(store)(xt + r, XV_SHUFFLE(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
            XV(store)(xt + XK_TILE + r, XV_SHUFFLE(a, b, 1, 3, 5, 7, 9, 11, 13, 15));
        }
#endif
    }
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    /* sixteen (float) or eight (double) rows at a time, in chunks of as many classes: each
       row's entries of the chunk by one masked load, the square transposed in registers
       (XV(stranspose16), XV(transpose8)) and a store per class. A gather per class did it
       before: on an AMD EPYC (Zen 4) the gathers were 87 % of this copy's samples, and the
       copy a quarter of a forward pass over 65,536 float32 rows of ten classes (perf); with
       the transposes that pass took 0.83x the time, logsumexp 0.80-0.93x at 3-32 float
       classes, 0.87-0.95x at 3-16 double ones (one thread, both builds in one process,
       calls alternated). The loops unrolled, so that the sixteen vectors stay in registers
       (rolled, GCC 12 kept them on the stack, and the copy was slower than the gathers
       below 10 classes), the chunks' loop too: each chunk's width then known, the transposes'
       shuffles that only its missing classes need are left out (Intel Xeon, one thread: ten
       float64 classes' softmax 0.94-0.96x the time, logsumexp and the sparse loss 0.95-0.98x;
       the others unchanged). */
#if XK_WIDEN
    for (; r + 16 <= n; r += 16) {
        if (rs != C) FN(prefetch_rows)(x, rs, C, r + XK_TILE, 16, n + ahead, 0);
#pragma GCC unroll 3
        for (ptrdiff_t c0 = 0; c0 < C; c0 += 16) {
            const int w = C - c0 < 16 ? (int)(C - c0) : 16;
            xv_s v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) v[i] = XV(sload_pad)(x + (r + i) * rs + c0, w, 0.0f);
            XV(stranspose16)(v);
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++)
                if (k < w) XV(sstore)(xt + (c0 + k) * XK_TILE + r, v[k]);
        }
    }
#else
    for (; r + 8 <= n; r += 8) {
        if (rs != C) FN(prefetch_rows)(x, rs, C, r + XK_TILE, 8, n + ahead, 0);
        ptrdiff_t at[8];
        for (int i = 0; i < 8; i++) at[i] = (r + i) * rs;
        FN(rows8_to_lanes)(x, at, C, xt + r, XK_TILE);
    }
#endif
#elif XV_AVX2
    /* the same with AVX2: eight float (four double) rows at a time, in chunks of as many
       classes, the last chunk's entries by masked loads (they read nothing past the row),
       the square transposed in registers. Element by element (what GCC made of the loop
       below) this copy was a tenth of a forward pass over 65,536 float32 rows of ten classes
       on a Zen 3. */
#if XK_WIDEN
    for (; r + 8 <= n; r += 8) {
        if (rs != C) FN(prefetch_rows)(x, rs, C, r + XK_TILE, 8, n + ahead, 0);
        for (ptrdiff_t c0 = 0; c0 < C; c0 += 8) {
            const int w = C - c0 < 8 ? (int)(C - c0) : 8;
            const __m256i mask = XV(mask32_n)(w);
            __m256 v[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) /* (past a row's end: the eight rows' entries) */
                v[i] = w == 8 || (rs == C && i * C + c0 + 8 <= 8 * C)
                           ? _mm256_loadu_ps(x + (r + i) * rs + c0)
                           : _mm256_maskload_ps(x + (r + i) * rs + c0, mask);
            XV(transpose8_ps)(v);
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                if (k < w) _mm256_storeu_ps(xt + (c0 + k) * XK_TILE + r, v[k]);
        }
    }
#else
    for (; r + 4 <= n; r += 4) {
        if (rs != C) FN(prefetch_rows)(x, rs, C, r + XK_TILE, 4, n + ahead, 0);
        for (ptrdiff_t c0 = 0; c0 < C; c0 += 4) {
            const int w = C - c0 < 4 ? (int)(C - c0) : 4;
            const __m256i mask = XV(mask64_n)(w);
            __m256d v[4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                v[i] = w == 4 || (rs == C && i * C + c0 + 4 <= 4 * C)
                           ? _mm256_loadu_pd(x + (r + i) * rs + c0)
                           : _mm256_maskload_pd(x + (r + i) * rs + c0, mask);
            XV(transpose4_pd)(v);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                if (k < w) _mm256_storeu_pd(xt + (c0 + k) * XK_TILE + r, v[k]);
        }
    }
#endif
#endif
    for (; r < n; r++)
        for (ptrdiff_t c = 0; c < C; c++) xt[c * XK_TILE + r] = x[r * rs + c];
}

/* Classes 0 .. C - 1 of the eight rows at x + at[l] (class stride cs) as doubles, class c of
 * row l at V[8 c + l]: with AVX-512 and unit class stride as to_tile_c's double rows
 * (rows8_to_lanes), else a gather per class. */
static inline __attribute__((always_inline)) void FN(rows_to_lanes)(const T *x, xv_i at,
                                                                     ptrdiff_t cs, ptrdiff_t C,
                                                                     double *V)
{
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    if (cs == 1) {
        ptrdiff_t a[8];
        for (int i = 0; i < 8; i++) a[i] = at[i];
        FN(rows8_to_lanes)(x, a, C, V, 8);
        return;
    }
#endif
    for (ptrdiff_t c = 0; c < C; c++) XV(store)(V + 8 * c, FN(gather)(x + c * cs, at));
}

static inline __attribute__((always_inline)) void FN(from_tile_c)(const T *ot, ptrdiff_t C,
                                                                   ptrdiff_t n, T *out,
                                                                   ptrdiff_t rs, ptrdiff_t ahead,
                                                                   const double *scale)
{
    ptrdiff_t r = 0;
    if (C == 2 && rs == 2) { /* contiguous pairs: the two classes interleaved, two stores */
#if XK_WIDEN
        for (; r + 16 <= n; r += 16) {
            const xv_s a = XV(sload)(ot + r), b = XV(sload)(ot + XK_TILE + r);
            XV(sstore)(out + 2 * r, XV_SHUFFLE(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4,
                                                            20, 5, 21, 6, 22, 7, 23));
            XV(sstore)(out + 2 * r + 16, XV_SHUFFLE(a, b, 8, 24, 9, 25, 10, 26, 11,
                                                                 27, 12, 28, 13, 29, 14, 30,
                                                                 15, 31));
        }
#else
        for (; r + 8 <= n; r += 8) {
            const xv_d a = XV(load)(ot + r), b = XV(load)(ot + XK_TILE + r);
            XV(store)(out + 2 * r, XV_SHUFFLE(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
            XV(store)(out + 2 * r + 8, XV_SHUFFLE(a, b, 4, 12, 5, 13, 6, 14, 7, 15));
        }
#endif
    }
#if defined(XV_X86_INTRIN) && defined(__AVX512F__)
    /* as to_tile_c, the other way: the chunk's classes transposed into rows, each row's
       entries by one store, masked where it would pass the sixteen (eight) rows' end or the
       rows are not contiguous (scatters before: a seventh of log_softmax's samples; softmax
       now 0.68-0.90x the time at 3-32 float classes, 0.84-0.93x at 3-16 double ones) */
#if XK_WIDEN
    for (; r + 16 <= n; r += 16) {
        FN(prefetch_rows)(out, rs, C, r + XK_TILE, 16, n + ahead, 1);
#pragma GCC unroll 3
        for (ptrdiff_t c0 = (C - 1) / 16 * 16; c0 >= 0; c0 -= 16) { /* the last chunk first */
            const int w = C - c0 < 16 ? (int)(C - c0) : 16;
            xv_s v[16];
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++)
                v[k] = k < w ? XV(sload)(ot + (c0 + k) * XK_TILE + r) : XV(ssplat)(0.0f);
            XV(stranspose16)(v);
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) {
                /* contiguous rows: a whole vector where it ends within the sixteen rows; what
                   it writes past its row, the later stores write again (those of the rows
                   after it, and chunk 0 last) */
                if (rs == C && i * C + c0 + 16 <= 16 * C)
                    XV(sstore)(out + (r + i) * rs + c0, v[i]);
                else XV(sstore_n)(out + (r + i) * rs + c0, w, v[i]);
            }
        }
    }
#else
    for (; r + 8 <= n; r += 8) {
        FN(prefetch_rows)(out, rs, C, r + XK_TILE, 8, n + ahead, 1);
#pragma GCC unroll 2
        for (ptrdiff_t c0 = (C - 1) / 8 * 8; c0 >= 0; c0 -= 8) {
            const int w = C - c0 < 8 ? (int)(C - c0) : 8;
            xv_d v[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                v[k] = k < w ? XV(load)(ot + (c0 + k) * XK_TILE + r) : XV(splat)(0.0);
            if (scale) { /* softmax: F times its row's 1 / (1 + s) */
                const xv_d sv = XV(load)(scale + r);
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++)
                    if (k < w) v[k] = v[k] * sv;
            }
            XV(transpose8)(v);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                if (rs == C && i * C + c0 + 8 <= 8 * C) XV(store)(out + (r + i) * rs + c0, v[i]);
                else XV(store_n)(out + (r + i) * rs + c0, w, v[i]);
            }
        }
    }
#endif
#elif XV_AVX2
    /* as to_tile_c's AVX2 copy, the other way: each row's entries of the chunk by one store,
       the last chunk first, its stores whole where they end within the rows (what they write
       past their row, the later chunks write again), else masked */
#if XK_WIDEN
    for (; r + 8 <= n; r += 8) {
        FN(prefetch_rows)(out, rs, C, r + XK_TILE, 8, n + ahead, 1);
        for (ptrdiff_t c0 = (C - 1) / 8 * 8; c0 >= 0; c0 -= 8) {
            const int w = C - c0 < 8 ? (int)(C - c0) : 8;
            const __m256i mask = XV(mask32_n)(w);
            __m256 v[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                v[k] = k < w ? _mm256_loadu_ps(ot + (c0 + k) * XK_TILE + r) : _mm256_setzero_ps();
            XV(transpose8_ps)(v);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                if (w == 8 || (rs == C && i * C + c0 + 8 <= 8 * C))
                    _mm256_storeu_ps(out + (r + i) * rs + c0, v[i]);
                else _mm256_maskstore_ps(out + (r + i) * rs + c0, mask, v[i]);
            }
        }
    }
#else
    for (; r + 4 <= n; r += 4) {
        FN(prefetch_rows)(out, rs, C, r + XK_TILE, 4, n + ahead, 1);
        for (ptrdiff_t c0 = (C - 1) / 4 * 4; c0 >= 0; c0 -= 4) {
            const int w = C - c0 < 4 ? (int)(C - c0) : 4;
            const __m256i mask = XV(mask64_n)(w);
            __m256d v[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                v[k] = k < w ? _mm256_loadu_pd(ot + (c0 + k) * XK_TILE + r) : _mm256_setzero_pd();
            if (scale) { /* softmax: F times its row's 1 / (1 + s) */
                const __m256d sv = _mm256_loadu_pd(scale + r);
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) v[k] = _mm256_mul_pd(v[k], sv);
            }
            XV(transpose4_pd)(v);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                if (w == 4 || (rs == C && i * C + c0 + 4 <= 4 * C))
                    _mm256_storeu_pd(out + (r + i) * rs + c0, v[i]);
                else _mm256_maskstore_pd(out + (r + i) * rs + c0, mask, v[i]);
            }
        }
    }
#endif
#endif
    for (; r < n; r++)
        for (ptrdiff_t c = 0; c < C; c++)
            out[r * rs + c] = scale ? ot[c * XK_TILE + r] * scale[r] : ot[c * XK_TILE + r];
}

#define XK_TILE_CASES(F, ...)                                                   \
    switch (C) {                                                                \
    case 2: F(__VA_ARGS__, 2); break;                                           \
    case 3: F(__VA_ARGS__, 3); break;                                           \
    case 4: F(__VA_ARGS__, 4); break;                                           \
    case 10: F(__VA_ARGS__, 10); break;                                         \
    default: F(__VA_ARGS__, C); break;                                          \
    }
/* rows one after another (rs == C, the usual case) with rs a constant too: the compiler then
   turns the copies into vector loads and permutes */
#define XK_TO_TILE(x, rs, n, xt, ahead, C)                                      \
    do {                                                                      \
        if ((rs) == (C)) FN(to_tile_c)(x, C, C, n, xt, ahead);                \
        else FN(to_tile_c)(x, rs, C, n, xt, ahead);                           \
    } while (0)
#define XK_FROM_TILE(ot, n, out, rs, ahead, scale, C)                           \
    do {                                                                      \
        if ((rs) == (C)) FN(from_tile_c)(ot, C, n, out, C, ahead, scale);     \
        else FN(from_tile_c)(ot, C, n, out, rs, ahead, scale);                \
    } while (0)

/* ahead: the rows after these n that the block holds (the next tile's, prefetched) */
static void FN(to_tile)(const T *x, ptrdiff_t rs, ptrdiff_t C, ptrdiff_t n, T *xt,
                        ptrdiff_t ahead)
{
    XK_TILE_CASES(XK_TO_TILE, x, rs, n, xt, ahead)
}

/* scale (the softmax of double rows of more than two classes; else NULL): each row's entries
   times scale[r] as tile_out's softmax multiplies them, here instead of there. Intel Xeon, one
   thread (benchmarks.ab), 4-16 float64 classes: 0.91-0.95x the time with AVX-512, 0.94-0.97x
   with the AVX2 variant, 0.94-0.99x with the baseline one. Float rows multiply in double,
   which took 1.03-1.10x the time before their transposes (3-32 classes) and 1.08-1.25x at 3-6
   classes after them (per row rather than per entry): theirs stay in tile_out, and their
   branches read no scale. */
static void FN(from_tile)(const T *ot, ptrdiff_t C, ptrdiff_t n, T *out, ptrdiff_t rs,
                          ptrdiff_t ahead, const double *scale)
{
    XK_TILE_CASES(XK_FROM_TILE, ot, n, out, rs, ahead, scale)
}
#undef XK_TILE_CASES
#undef XK_TO_TILE
#undef XK_FROM_TILE

/* A block of rows: contiguous rows one by one; class-major runs of rows, and row-major rows
 * of few classes transposed into scratch, in tiles of XK_TILE rows. */
XK_ENTRY void FN(softmax)(xk_block *b, int mode)
{
    const ptrdiff_t R = b->R, C = b->C;
    b->loss_sum = b->loss_sum_small = 0.0;
    if (R == 0 || C == 0) return;
    /* every array of the call is row-major, or every one class-major (one row is both) */
    const int row_major = xk_row_major(b), class_major = xk_class_major(b);
    if (row_major && (C > xk_tile_c(b, XK_WIDEN) || mode == XK_STATE)) {
        if (xk_labels_bad(b, 0, R)) return;
        FN(rows)(b, mode);
        return;
    }
    if (mode == XK_STATE) return; /* row-major rows of more classes only (_core checks it) */
    xk_sum bsum = {{0}, {0}, {0}};
    T *xt = NULL, *tt = NULL, *ot = NULL;
    const int transpose = !class_major;
    if (transpose) {
        T *base = (T *)(b->scratch + XK_TILE);
        xt = base;
        tt = base + C * XK_TILE;
        ot = base + 2 * C * XK_TILE;
    }
    /* rows of two classes in contiguous pairs for tile2_plain: read (and written) in place, a
       tile's rows at a time as the transposed ones (the same sums); the targets checked as
       they are read (pairs) or from their tiles (tile_check) where b->check asks for it */
    const int pairs = xk_two_pairs(b, mode), out_pairs = xk_two_out_pairs(b, mode);
    const int tile_checks = xk_tile_check(b, mode, XK_WIDEN);
    xk_stats *const check =
        (pairs && mode == XK_CATEGORICAL) || tile_checks ? b->check : NULL;
    const xv_d zero = XV(splat)(0.0);
    const xv_i no = {0};
    FN(tcheck) tc = {XV(splat)(HUGE_VAL), XV(splat)(-HUGE_VAL), zero, zero, no, no,
                     check ? check->rtol : 0.0};
    FN(tcheck) *const chk = check ? &tc : NULL;
    for (ptrdiff_t r0 = 0; r0 < R; r0 += XK_TILE) {
        ptrdiff_t n = R - r0 < XK_TILE ? R - r0 : XK_TILE;
        if (xk_labels_bad(b, r0, n)) return;
        if (pairs) {
            T *out = b->out ? (T *)b->out + 2 * r0 : NULL;
            const T *t = b->t ? (const T *)b->t + 2 * r0 : NULL;
            FN(tile2_plain_any)(b, mode, r0, n, (const T *)b->x + 2 * r0, 0, t, 0, out, 0, &bsum,
                                chk, 1);
            continue;
        }
        if (out_pairs) {
            T *out = b->out ? (T *)b->out + 2 * r0 : NULL;
            FN(tile2_out_any)(b, mode, r0, n, (const T *)b->x + 2 * r0, 0, out, 0, &bsum, 1);
            continue;
        }
        if (!transpose) {
            const T *x = (const T *)b->x + r0;
            const T *t = b->t ? (const T *)b->t + r0 : NULL;
            T *out = b->out ? (T *)b->out + r0 : NULL;
            FN(tile)(b, mode, r0, n, x, b->x_cs, t, b->t_cs, out, b->o_cs, NULL, &bsum, NULL, 0,
                     NULL, 0, 0);
            continue;
        }
        const ptrdiff_t ahead = R - r0 - n;
        FN(to_tile)((const T *)b->x + r0 * b->x_rs, b->x_rs, C, n, xt, ahead);
        if (mode == XK_CATEGORICAL)
            FN(to_tile)((const T *)b->t + r0 * b->t_rs, b->t_rs, C, n, tt, ahead);
        if (check && tile_checks) FN(tile_check)(b, tt, r0, n, chk);
        const T *const rows_x = (const T *)b->x + r0 * b->x_rs;
        T *const rows_out = b->out ? (T *)b->out + r0 * b->o_rs : NULL;
        if (!FN(tile)(b, mode, r0, n, xt, XK_TILE, tt, XK_TILE, b->out ? ot : NULL, XK_TILE, ot,
                      &bsum, rows_x, b->x_rs, rows_out, b->o_rs, ahead) &&
            rows_out && mode != XK_LSE)
            FN(from_tile)(ot, C, n, rows_out, b->o_rs, ahead, NULL);
    }
    FN(sum_result)(&bsum, 1, &b->loss_sum, &b->loss_sum_small);
    if (check) FN(tcheck_end)(chk, check);
}

/* ------------------------------------------------------------------ from probabilities */

/* Sparse and categorical cross-entropy from probabilities: l = sum_c w_c (-log p_c), gradient
 * -k w_c / p_c, with the target weights of `finish`; a weight of 0 contributes 0 (also where
 * p = 0). Sparse rows without smoothing read p_y alone; otherwise a NaN anywhere in the row
 * makes its loss NaN. Any strides.
 *
 * Eight rows at a time, one per lane (the last group's missing rows repeat its last row, their
 * lanes unused), each entry read by a gather: a row's terms are added in class order, one lane
 * each, so a row's loss does not depend on its neighbours or the layout. The log is XK_LOG_OUT:
 * float results the short one (relative error < 2^-32), double ones the full one. */
XK_ENTRY void FN(prob)(xk_block *b, int mode)
{
    const ptrdiff_t R = b->R, C = b->C;
    const double eps = b->eps, Cd = (double)C;
    const int sparse = mode == XK_SPARSE, only_y = sparse && eps == 0.0;
    const T *X = (const T *)b->x, *Tt = sparse ? NULL : (const T *)b->t;
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0);
    const xv_d kw1 = XV(splat)(1.0 - eps), kw0 = XV(splat)(eps / Cd);
    xk_sum bsum = {{0}, {0}, {0}};
    b->loss_sum = b->loss_sum_small = 0.0;
    if (sparse && xk_labels_bad(b, 0, R)) return;
    /* few classes in rows of unit class stride: the gathers' rows a few groups ahead
       prefetched, as the tiles' (prefetch_rows) */
    const int few = C <= XK_TILE_C_MAX;
    const int pf_x = few && b->x_cs == 1 && !only_y, pf_t = few && Tt && b->t_cs == 1;
    for (ptrdiff_t r0 = 0; r0 < R; r0 += 8) {
        const int n = R - r0 < 8 ? (int)(R - r0) : 8;
        if (pf_x) FN(prefetch_rows)(X, b->x_rs, C, r0 + XK_GATHER_AHEAD, 8, R, 0);
        if (pf_t) FN(prefetch_rows)(Tt, b->t_rs, C, r0 + XK_GATHER_AHEAD, 8, R, 0);
        xv_i rr, yv = {0};
        xv_d sw = one;
        for (int l = 0; l < 8; l++) {
            const ptrdiff_t r = r0 + (l < n ? l : n - 1);
            rr[l] = r;
            if (sparse) yv[l] = b->labels[r];
            if (b->row_weight) sw[l] = b->row_weight[r];
        }
        const xv_d k = sw / b->grad_div, nk = -k;
        const xv_i k0 = XV_EQ(k, zero);
        const xv_i xrow = rr * (int64_t)b->x_rs, trow = rr * (int64_t)b->t_rs;
        xv_d loss = zero;
        if (only_y) {
            const xv_d p = FN(gather)(X, xrow + yv * (int64_t)b->x_cs);
            const xv_d w = b->cw ? XV(gather)(b->cw, yv) : one;
            const xv_i w0 = XV_EQ(w, zero);
            loss = XV(sel)(w0, zero, -w * XK_LOG_OUT(p));
            if (b->out) {
                const xv_d g = XV(sel)(k0 | w0, zero, nk * w / p);
                for (int l = 0; l < n; l++) {
                    T *out = (T *)b->out + (r0 + l) * b->o_rs;
                    for (ptrdiff_t c = 0; c < C; c++) out[c * b->o_cs] = 0;
                    out[yv[l] * b->o_cs] = (T)g[l];
                }
            }
        } else {
            xv_i nan = {0};
            for (ptrdiff_t c = 0; c < C; c++) {
                const xv_d p = FN(gather)(X, xrow + c * b->x_cs);
                const xv_d tc = sparse ? XV(sel)(XV_EQ(yv, c), one, zero)
                                       : FN(gather)(Tt, trow + c * b->t_cs);
                const xv_d w = (b->cw ? XV(splat)(b->cw[c]) : one) * (kw1 * tc + kw0);
                const xv_i w0 = XV_EQ(w, zero);
                loss += XV(sel)(w0, zero, -w * XK_LOG_OUT(p));
                nan |= XV_NE(p, p);
                if (b->out) {
                    const xv_d g = XV(sel)(k0 | w0, zero, nk * w / p);
                    for (int l = 0; l < n; l++)
                        ((T *)b->out)[(r0 + l) * b->o_rs + c * b->o_cs] = (T)g[l];
                }
            }
            loss = XV(sel)(nan, XV(splat)(NAN), loss);
        }
        const xv_d value = XV(sel)(XV_EQ(sw, zero), zero, sw * loss);
        for (int l = 0; l < n; l++) {
            if (b->row_out) b->row_out[r0 + l] = value[l];
            FN(sum_add)(&bsum, (int)((r0 + l) & 7), value[l]);
        }
    }
    FN(sum_result)(&bsum, 1, &b->loss_sum, &b->loss_sum_small);
}

/* ------------------------------------------------------------------ elementwise */

#define XK_CHUNK 512

/* From logits: u = exp(-|x|) (unless u is NULL) and lt = log1p(u) (softplus(x) = relu(x) +
 * lt). */
static inline void FN(softplus_parts)(const T *x, ptrdiff_t n, double *u, double *lt)
{
    for (ptrdiff_t i = 0; i < n; i += 8) {
        xv_d U, L;
        FN(softplus_terms8)(FN(load_pad)(x + i, n - i < 8 ? (int)(n - i) : 8, 0.0), &U, &L);
        if (u) XV(store)(u + i, U);
        XV(store)(lt + i, L);
    }
}

/* From probabilities: lp = log(p) and lq = log1p(-p). */
static inline void FN(prob_logs)(const T *x, ptrdiff_t n, double *lp, double *lq)
{
    ptrdiff_t i = 0;
#if XK_WIDEN
    /* float results: the short log (relative error < 2^-32); log1p(-p) as log(1 - p), 1 - p
       exact in double for a float p >= 2^-10, and below by its series (error < p^5/5) */
    for (; i < n; i += 8) {
        const xv_d v = FN(load_pad)(x + i, n - i < 8 ? (int)(n - i) : 8, 0.0);
        const xv_d ser = -(v + (v * v) * (0.5 + v * ((1.0 / 3.0) + 0.25 * v)));
        const xv_d a = XV(log_short)(v),
            b = XV(sel)(XV_LT(v, 0x1p-10), ser, XV(log_short)(1.0 - v));
        if (n - i >= 8) {
            XV(store)(lp + i, a);
            XV(store)(lq + i, b);
        } else {
            for (int l = 0; l < n - i; l++) lp[i + l] = a[l], lq[i + l] = b[l];
        }
    }
#endif
    for (; i + 8 <= n; i += 8) {
        xv_d v = XK_LOADV(x + i);
        XV(store)(lp + i, XV(log_kernel)(v, XV(splat)(0.0)));
        XV(store)(lq + i, XV(log1p)(-v));
    }
    for (; i < n; i++) {
        lp[i] = xk_log((double)x[i]);
        lq[i] = xk_log1p(-(double)x[i]);
    }
}

/* The lines of the binary step of 32 entries XK_BIN_AHEAD entries after the one at i, of every
 * array it reads, prefetched into L1 (the labels' float or double, the weights' double). The
 * one-pass loops read two to four streams at about 1.3 ns per entry, and the hardware's
 * prefetchers left them waiting for memory: on an Intel Xeon (AVX-512, one thread) 10,000,000
 * float32 entries took 1.79 ns each against 1.22 in cache, with this 1.27 (0.71x the time; 256
 * to 1,024 entries ahead alike, 4,096 slower). */
#define XK_BIN_AHEAD 512
static inline __attribute__((always_inline)) void FN(binary_prefetch)(const xk_binary *bb,
                                                                     ptrdiff_t i, const int YF,
                                                                     const int SW, const int PW)
{
    const ptrdiff_t j = i + XK_BIN_AHEAD;
    const char *px = (const char *)((const T *)bb->x + j);
    const char *py = (const char *)bb->y + (YF ? 4 : 8) * j;
    for (int l = 0; l < (int)(32 * sizeof(T) / 64); l++) __builtin_prefetch(px + 64 * l, 0, 3);
    for (int l = 0; l < (YF ? 2 : 4); l++) __builtin_prefetch(py + 64 * l, 0, 3);
    for (int l = 0; SW && l < 4; l++) __builtin_prefetch((const char *)(bb->sw + j) + 64 * l, 0, 3);
    for (int l = 0; PW && l < 4; l++) __builtin_prefetch((const char *)(bb->pw + j) + 64 * l, 0, 3);
}

/* The per-vector steps of the one-pass binary runs (binary_logits_run, binary_focal_run): vector
 * j of a step at i holds nl <= 8 entries (0 past the tile's end); its padding lanes read x 0,
 * weights 1 and the step's first label, and their losses are 0. */

/* The softplus terms of the step at i (up to 32 entries of N, four vectors), u where wanted. */
static inline __attribute__((always_inline)) void FN(binary_step_terms)(const T *x, ptrdiff_t i,
                                                                        ptrdiff_t N, xv_d *U,
                                                                        xv_d *L)
{
    const ptrdiff_t left = N - i;
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const ptrdiff_t nl = left - 8 * k < 0 ? 0 : left - 8 * k < 8 ? left - 8 * k : 8;
        xv_d u;
        FN(softplus_terms8)(FN(load_pad)(x + i + 8 * k, (int)nl, 0.0), U ? &U[k] : &u, &L[k]);
    }
}

/* Vector j's labels as doubles, folded into the range (lo, hi, nan). */
static inline __attribute__((always_inline)) xv_d FN(binary_label8)(const xk_binary *bb,
                                                                    ptrdiff_t i, ptrdiff_t j,
                                                                    ptrdiff_t nl, xv_d *lo,
                                                                    xv_d *hi, xv_i *nan)
{
    const float *yf = (const float *)bb->y;
    const double *yd = (const double *)bb->y;
    xv_d yv;
    if (nl == 8) {
        yv = bb->y_float ? XV(load_f)(yf + j) : XV(load)(yd + j);
    } else {
        double y8[8];
        for (int l = 0; l < 8; l++) {
            const ptrdiff_t e = l < nl ? j + l : i;
            y8[l] = bb->y_float ? yf[e] : yd[e];
        }
        yv = XV(load)(y8);
    }
    *lo = XV(min)(yv, *lo);
    *hi = XV(max)(yv, *hi);
    *nan |= XV_NE(yv, yv);
    return yv;
}

/* Vector j's logits and, where given, pos_weight and sample weight. */
static inline __attribute__((always_inline)) void FN(binary_in8)(const xk_binary *bb,
                                                                 ptrdiff_t j, ptrdiff_t nl,
                                                                 const int PW, const int SW,
                                                                 xv_d *xv, xv_d *pwv, xv_d *swv)
{
    const T *x = (const T *)bb->x;
    *pwv = *swv = XV(splat)(1.0);
    if (nl == 8) {
        *xv = XK_LOADV(x + j);
        if (PW) *pwv = XV(load)(bb->pw + j);
        if (SW) *swv = XV(load)(bb->sw + j);
    } else {
        *xv = FN(load_pad)(x + j, (int)nl, 0.0);
        if (PW) *pwv = XV(load_pad)(bb->pw + j, (int)nl, 1.0);
        if (SW) *swv = XV(load_pad)(bb->sw + j, (int)nl, 1.0);
    }
}

/* Vector j's losses into the loss sum s (the padding's as 0) and loss_out, its gradient into
 * grad. */
static inline __attribute__((always_inline)) void FN(binary_out8)(xk_binary *bb, FN(vsum) *s,
                                                                  ptrdiff_t j, ptrdiff_t nl,
                                                                  xv_d loss, xv_d g,
                                                                  const int GRAD)
{
    if (nl < 8) {
        const xv_i lane = {0, 1, 2, 3, 4, 5, 6, 7};
        loss = XV(sel)(XV_LT(lane, (int64_t)nl), loss, XV(splat)(0.0));
    }
    FN(vsum_add)(s, loss);
    if (bb->loss_out)
        for (ptrdiff_t l = 0; l < nl; l++) bb->loss_out[j + l] = loss[l];
    if (GRAD) {
        T *grad = (T *)bb->grad;
        if (nl == 8) XK_STOREV(grad + j, g);
        else for (ptrdiff_t l = 0; l < nl; l++) grad[j + l] = (T)g[l];
    }
}

/* Binary cross-entropy from logits of a whole tile in one pass: with weights a (positive
 * term) and b (negative), each smoothed on its own (1 - (y (1 - e) + e / 2) would cancel where
 * y is near 1), -log p = softplus(-x) = T + relu(-x) and -log(1 - p) = softplus(x) = T +
 * relu(x), T = log1p(exp(-|x|)), so l = (a + b) T + a relu(-x) + b relu(x), non-negative terms
 * (a + b = 1 without pos_weight); a label of exactly 0 or 1 at an infinite logit gives 0, not
 * 0 * inf. The gradient is b sigmoid(x) - a sigmoid(-x).
 * A step of 32 entries (softplus_terms8 four times) is
 * read once: its terms stay in registers, its labels' range goes into lo, hi, nan (two sets in
 * turn: see binary_labels), and its vector k into the loss sum s[k] (the sums of the chunked
 * passes, in the same order; k known at compile time, so that the AVX2 variant keeps the sums
 * in registers); the tile's last step padded (x 0, labels the step's first, weights 1, losses
 * 0). */
static inline __attribute__((always_inline)) void FN(binary_logits_step)(
    xk_binary *bb, ptrdiff_t i, FN(vsum) s[4], xv_d lo[2], xv_d hi[2], xv_i *nan, const int GRAD,
    const int SW, const int PW)
{
    const ptrdiff_t N = bb->n;
    const double keep = 1.0 - bb->eps, half = bb->eps / 2.0, ginv = 1.0 / bb->grad_div;
    const xv_d zero = XV(splat)(0.0);
    xv_d U[4], L[4];
    FN(binary_prefetch)(bb, i, bb->y_float, SW, PW);
    FN(binary_step_terms)((const T *)bb->x, i, N, GRAD ? U : NULL, L);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const ptrdiff_t j = i + 8 * k;
        const ptrdiff_t nl = N - j < 0 ? 0 : N - j < 8 ? N - j : 8;
        xv_d xv, pwv, swv;
        FN(binary_in8)(bb, j, nl, PW, SW, &xv, &pwv, &swv);
        const xv_d yv = FN(binary_label8)(bb, i, j, nl, &lo[k & 1], &hi[k & 1], nan);
        xv_d a = yv * keep + half;
        const xv_d bw = (1.0 - yv) * keep + half;
        if (PW) a *= pwv;
        const xv_d Tv = L[k];
        const xv_d relu = XV(sel)(XV_GT(xv, zero), xv, zero), relu_neg = relu - xv;
        const xv_d pa = relu_neg * a, pb = relu * bw;
        xv_d loss = (PW ? (a + bw) * Tv : Tv) + XV(sel)(XV_GT(pa, zero), pa, zero) +
                    XV(sel)(XV_GT(pb, zero), pb, zero);
        xv_d g = zero;
        if (GRAD) {
            /* sigmoid(|x|) = 1 / (1 + u), sigmoid(-|x|) = u / (1 + u) */
            const xv_d u = U[k];
            const xv_d inv = 1.0 / (1.0 + u), small = u * inv;
            const xv_i pos = XV_GE(xv, zero);
            g = bw * XV(sel)(pos, inv, small) - a * XV(sel)(pos, small, inv);
        }
        if (SW) {
            loss = XV(sel)(XV_EQ(swv, zero), zero, swv * loss);
            if (GRAD) g = XV(sel)(XV_EQ(swv, zero), zero, g * (swv / bb->grad_div));
        } else if (GRAD) {
            g *= ginv;
        }
        FN(binary_out8)(bb, &s[k], j, nl, loss, g, GRAD);
    }
}

static inline __attribute__((always_inline)) void FN(binary_logits_run)(
    xk_binary *bb, FN(vsum) s[4], xv_d lo[2], xv_d hi[2], xv_i *nan, const int GRAD,
    const int SW, const int PW)
{
    for (ptrdiff_t i = 0; i < bb->n; i += 32)
        FN(binary_logits_step)(bb, i, s, lo, hi, nan, GRAD, SW, PW);
}

#if XK_WIDEN
/* binary_logits_step without weights or smoothing, for the steps binary_plain_run leaves to it
 * (not inlined: they are rare, and the plain loop keeps its registers) */
static __attribute__((noinline)) void FN(binary_plain_other)(xk_binary *bb, ptrdiff_t i,
                                                             FN(vsum) s[4], xv_d lo[2],
                                                             xv_d hi[2], xv_i *nan)
{
    if (bb->grad && bb->sw) FN(binary_logits_step)(bb, i, s, lo, hi, nan, 1, 1, 0);
    else if (bb->grad) FN(binary_logits_step)(bb, i, s, lo, hi, nan, 1, 0, 0);
    else if (bb->sw) FN(binary_logits_step)(bb, i, s, lo, hi, nan, 0, 1, 0);
    else FN(binary_logits_step)(bb, i, s, lo, hi, nan, 0, 0, 0);
}

/* binary_logits_run for float logits without pos_weight or smoothing, the common call (SW:
 * with sample weights, as binary_logits_step applies them): each entry's loss is T + |x| w, T = log1p(u), u = exp(-|x|), w = 1 - y where x >= 0 and
 * y elsewhere (the product exact for a float label: |x| w has at most 49 significant bits; one
 * rounding for a double one), in double lanes by log1p_exp_short (T within 2^-34: the float
 * result within 0.501 ulp); the gradient (1 - y) sigmoid(x) - y sigmoid(-x) as
 * binary_logits_step's. binary_plain_steps runs whole steps of 32 entries from i until `end` or
 * a step with an infinite or NaN logit (where |x| w would be 0 times inf), and returns where it
 * stopped; its vectors' losses go to four plain double sums, which binary_plain_run adds to the
 * compensated s[k] after at most 4 XK_RUN entries (128 additions per lane, as XK_RUN's:
 * non-negative terms, an error below 2^-46 of the run's sum). Without weights a NaN label is
 * found in those sums (its loss is NaN); a weight of 0 would hide it, so with weights it is
 * looked for entry by entry. binary_plain_run leaves such steps, and the tile's last entries when they are
 * not a whole step, to binary_logits_step (binary_plain_other). YF: float labels. Everything
 * the steps update is a local of binary_plain_steps, kept in registers through its loop. */
static inline __attribute__((always_inline)) ptrdiff_t FN(binary_plain_steps)(
    xk_binary *bb, ptrdiff_t i, ptrdiff_t end, xv_d acc[4], xv_d lo[2], xv_d hi[2], xv_i *nan,
    const int GRAD, const int YF, const int SW)
{
    const float *x = (const float *)bb->x;
    const double *sw = bb->sw;
    const float *yf = (const float *)bb->y;
    const double *yd = (const double *)bb->y;
    float *const grad = (float *)bb->grad;
    double *const loss_out = bb->loss_out;
    const double ginv = 1.0 / bb->grad_div;
    const xv_s fmax = XV(ssplat)(0x1.fffffep127f);
    const xv_d zero = XV(splat)(0.0);
    xv_d a[4] = {acc[0], acc[1], acc[2], acc[3]}, l[2] = {lo[0], lo[1]}, h[2] = {hi[0], hi[1]};
    xv_i na = *nan;
    for (; i < end; i += 32) {
        FN(binary_prefetch)(bb, i, YF, SW, 0);
        const xv_s a0 = XV(sload)(x + i), a1 = XV(sload)(x + i + 16);
        /* |x| <= FLT_MAX is false for inf and NaN */
        const xv_si finite = XV_LE(XV(ssel)(XV_LT(a0, 0.0f), -a0, a0), fmax) &
                             XV_LE(XV(ssel)(XV_LT(a1, 0.0f), -a1, a1), fmax);
        if (__builtin_expect(XV(sany)(~finite), 0)) break;
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t j = i + 8 * k;
            const xv_d xv = XV(load_f)(x + j);
            const xv_d yv = YF ? XV(load_f)(yf + j) : XV(load)(yd + j);
            l[k & 1] = XV(min)(yv, l[k & 1]);
            h[k & 1] = XV(max)(yv, h[k & 1]);
            const xv_i pos = XV_GE(xv, zero);
            const xv_d ax = (xv_d)((xv_u)xv & ~(xv_u)XV(splat)(-0.0));
            xv_d u;
            xv_d loss = XV(log1p_exp_finite)(ax, &u) + ax * XV(sel)(pos, 1.0 - yv, yv);
            const xv_d swv = SW ? XV(load)(sw + j) : zero;
            if (SW) {
                loss = XV(sel)(XV_EQ(swv, zero), zero, swv * loss);
                na |= XV_NE(yv, yv);
            }
            a[k] += loss;
            if (loss_out) XV(store)(loss_out + j, loss);
            if (GRAD) {
                const xv_d inv = 1.0 / (1.0 + u), small = u * inv;
                const xv_d g = (1.0 - yv) * XV(sel)(pos, inv, small) -
                               yv * XV(sel)(pos, small, inv);
                if (SW)
                    XV(store_f)(grad + j,
                                XV(sel)(XV_EQ(swv, zero), zero, g * (swv / bb->grad_div)));
                else XV(store_f)(grad + j, g * ginv);
            }
        }
    }
    /* a NaN label makes its loss NaN (a finite logit's T and |x| are finite): found in the
       sums, not entry by entry; min and max above skip it */
    for (int k = 0; k < 4; k++) acc[k] = a[k], na |= XV_NE(a[k], a[k]);
    lo[0] = l[0], lo[1] = l[1], hi[0] = h[0], hi[1] = h[1];
    *nan = na;
    return i;
}

static inline __attribute__((always_inline)) void FN(binary_plain_run)(
    xk_binary *bb, FN(vsum) s[4], xv_d lo[2], xv_d hi[2], xv_i *nan, const int GRAD,
    const int YF, const int SW)
{
    const ptrdiff_t N = bb->n, whole = N / 32 * 32;
    const xv_d zero = XV(splat)(0.0);
    for (ptrdiff_t i = 0; i < N;) {
        if (i == whole) { /* the last entries */
            FN(binary_plain_other)(bb, i, s, lo, hi, nan);
            break;
        }
        const ptrdiff_t end = whole - i > 4 * XK_RUN ? i + 4 * XK_RUN : whole;
        xv_d acc[4] = {zero, zero, zero, zero};
        i = FN(binary_plain_steps)(bb, i, end, acc, lo, hi, nan, GRAD, YF, SW);
        for (int k = 0; k < 4; k++) FN(vsum_add)(&s[k], acc[k]);
        if (i < end) { /* a step with an infinite or NaN logit */
            FN(binary_plain_other)(bb, i, s, lo, hi, nan);
            i += 32;
        }
    }
}

/* binary_plain_run's instances, with the flags at run time: in a function of their own, as
 * binary_focal_plain */
static __attribute__((noinline)) void FN(binary_plain)(xk_binary *bb, FN(vsum) s[4],
                                                       xv_d lo[2], xv_d hi[2], xv_i *nan)
{
    const int G = bb->grad != NULL, YF = bb->y_float;
    if (bb->sw) {
        if (G) FN(binary_plain_run)(bb, s, lo, hi, nan, 1, YF, 1);
        else FN(binary_plain_run)(bb, s, lo, hi, nan, 0, YF, 1);
    } else if (YF) {
        if (G) FN(binary_plain_run)(bb, s, lo, hi, nan, 1, 1, 0);
        else FN(binary_plain_run)(bb, s, lo, hi, nan, 0, 1, 0);
    } else {
        if (G) FN(binary_plain_run)(bb, s, lo, hi, nan, 1, 0, 0);
        else FN(binary_plain_run)(bb, s, lo, hi, nan, 0, 0, 0);
    }
}
#endif

/* The same from probabilities: l = -a log p - b log1p(-p), nothing clipped; gradient
 * b / (1 - p) - a / p, a weight of 0 contributing 0 (also where p is 0 or 1). */
static inline __attribute__((always_inline)) void FN(binary_prob_chunk)(
    const xk_binary *bb, ptrdiff_t i0, ptrdiff_t n, const double *y, double *lb, const int GRAD,
    const int SW, const int PW)
{
    const T *x = (const T *)bb->x + i0;
    const double *pw = PW ? bb->pw + i0 : NULL, *sw = SW ? bb->sw + i0 : NULL;
    T *grad = GRAD ? (T *)bb->grad + i0 : NULL;
    const double keep = 1.0 - bb->eps, half = bb->eps / 2.0, ginv = 1.0 / bb->grad_div;
    double U[XK_CHUNK], V[XK_CHUNK];
    FN(prob_logs)(x, n, U, V);
    for (ptrdiff_t i = 0; i < n; i++) {
        double xv = x[i], yv = y[i];
        double a = yv * keep + half, bw = (1.0 - yv) * keep + half;
        if (PW) a *= pw[i];
        double la = -a * U[i], lb_ = -bw * V[i], g = 0.0;
        double loss = (la > 0.0 ? la : 0.0) + (lb_ > 0.0 ? lb_ : 0.0) + 0.0 * xv;
        if (GRAD) {
            double ga = a / xv, gb = bw / (1.0 - xv);
            g = (gb > 0.0 ? gb : 0.0) - (ga > 0.0 ? ga : 0.0);
        }
        if (SW) {
            double s = sw[i];
            loss = s == 0.0 ? 0.0 : s * loss;
            if (GRAD) g = s == 0.0 ? 0.0 : g * (s / bb->grad_div);
        } else if (GRAD) {
            g *= ginv;
        }
        lb[i] = loss;
        if (GRAD) grad[i] = (T)g;
    }
}

/* Binary focal loss (torchvision's sigmoid_focal_loss, Keras's BinaryFocalCrossentropy):
 * l = alpha_t (1 - p_t)^gamma bce with y' the smoothed label, p_t = y' p + (1 - y') (1 - p),
 * alpha_t = alpha y' + (1 - alpha)(1 - y') (1 without alpha) and bce the loss of binary_chunk.
 * 1 - p_t = y' sigmoid(-x) + (1 - y') sigmoid(x) (from probabilities y' (1 - p) + (1 - y') p),
 * a sum of non-negative terms; for a hard label its log is -softplus(+-x) (log1p(-p), log p)
 * exactly, so a confident element keeps its tiny loss. The gradient is
 * F (bce' + gamma bce (1 - 2 y') u' / u) with F = alpha_t (1 - p_t)^gamma, u = 1 - p_t. */
/* a * b = p + e as two_prod, without a branch (for loops that vectorize); e = 0 where the
 * split could overflow. */
static inline __attribute__((always_inline)) void FN(two_prod_sel)(double a, double b,
                                                                 double *p, double *e)
{
    const double split = 134217729.0; /* 2^27 + 1 */
    double P = a * b;
    double ta = split * a, ah = ta - (ta - a), al = a - ah;
    double tb = split * b, bh = tb - (tb - b), bl = b - bh;
    double E = ((ah * bh - P) + ah * bl + al * bh) + al * bl;
    int ok = P > -0x1p900 && P < 0x1p900 && a > -0x1p900 && a < 0x1p900 && b > -0x1p900 &&
             b < 0x1p900;
    *p = P;
    *e = xk_sel(ok, E, 0.0);
}

/* GCC (12, -O2) cannot see, once this is inlined into binary_focal_step, that its arrays are
 * written for every entry its vector functions read (both loops run to n) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
static inline __attribute__((always_inline)) void FN(binary_focal_chunk)(
    const xk_binary *bb, ptrdiff_t i0, ptrdiff_t n, const double *y, double *lb,
    const int LOGITS, const int GRAD, const double *ones)
{
    /* Loops of one kind each, branch-free, so that they vectorize: the transcendental
       functions first into per-element arrays, then the arithmetic that uses them. Missing
       weights read `ones`, so that only LOGITS and GRAD make variants of the code. */
    const T *x = (const T *)bb->x + i0;
    const double *pw = bb->pw ? bb->pw + i0 : ones;
    const double *sw = bb->sw ? bb->sw + i0 : ones;
    T *grad = GRAD ? (T *)bb->grad + i0 : NULL;
    const double keep = 1.0 - bb->eps, half = bb->eps / 2.0, gamma = bb->gamma;
    const double alpha = bb->alpha, ginv_div = bb->grad_div;
    const int has_alpha = alpha >= 0.0;
    double A[XK_CHUNK], B[XK_CHUNK], Cc[XK_CHUNK], D[XK_CHUNK], E[XK_CHUNK], G[XK_CHUNK];
    /* logits: A = exp(-|x|), B = log1p(A); probabilities: A = log(p), B = log1p(-p) */
    if (LOGITS) FN(softplus_parts)(x, n, A, B);
    else FN(prob_logs)(x, n, A, B);
    /* u = 1 - p_t where it needs a log of its own (soft labels; from probabilities also
       1 - p >= 1/2 and p alone): Cc = u, else 1; D = log(Cc), E = exp(-D) */
    for (ptrdiff_t i = 0; i < n; i++) {
        double xv = x[i], yv = y[i];
        double yp = yv * keep + half, bw = (1.0 - yv) * keep + half, uu, own_v;
        int own = bw != 0.0 && yp != 0.0;
        if (LOGITS) {
            double inv = 1.0 / (1.0 + A[i]), small = A[i] * inv;
            double sig = xk_sel(xv >= 0.0, inv, small), sig_neg = xk_sel(xv >= 0.0, small, inv);
            uu = yp * sig_neg + bw * sig;
            own_v = uu;
        } else {
            uu = yp * (1.0 - xv) + bw * xv;
            own = own || (bw == 0.0 && xv >= 0.5) || yp == 0.0;
            own_v = xk_sel(bw == 0.0, 1.0 - xv, xk_sel(yp == 0.0, xv, uu));
        }
        Cc[i] = xk_sel(own, own_v, 1.0);
    }
    FN(vlog)(Cc, D, n);
    FN(vexp)(D, -1.0, E, n);
    /* log u = lu + lu_lo; then G = gamma lu rounded, the rest kept in E */
    for (ptrdiff_t i = 0; i < n; i++) {
        double xv = x[i], yv = y[i];
        double yp = yv * keep + half, bw = (1.0 - yv) * keep + half;
        /* from the Newton step: u exp(-hi) - 1 = log(u) - hi */
        double u = Cc[i], P, Pe;
        FN(two_prod_sel)(u, E[i], &P, &Pe);
        double lu = D[i], lu_lo = xk_sel(u > 0x1p-1000 && u < 0x1p1000, (P - 1.0) + Pe, 0.0);
        if (LOGITS) {
            /* hard label: u = sigmoid(-+x), log u = -(relu + T) as an exact hi + lo */
            double r = xk_sel(bw == 0.0, xv > 0.0 ? xv : 0.0, xv < 0.0 ? -xv : 0.0);
            double h = -(r + B[i]), bp = h + r;
            double hl = xk_sel(h > -HUGE_VAL, (-r - (h - bp)) + (-B[i] - bp), 0.0);
            int hard = bw == 0.0 || yp == 0.0;
            lu = xk_sel(hard, h, lu);
            lu_lo = xk_sel(hard, hl, lu_lo);
        } else {
            int small = bw == 0.0 && xv < 0.5; /* log1p(-p), small: no tail needed */
            lu = xk_sel(small, B[i], lu);
            lu_lo = xk_sel(small, 0.0, lu_lo);
        }
        FN(two_prod_sel)(gamma, lu, &P, &Pe);
        G[i] = P;
        E[i] = Pe + gamma * lu_lo;
    }
    if (gamma != 0.0) FN(vexp)(G, 1.0, D, n);
    for (ptrdiff_t i = 0; i < n; i++) {
        double xv = x[i], yv = y[i];
        double yp = yv * keep + half, bw = (1.0 - yv) * keep + half, a = yp;
        a *= pw[i];
        double bce, dbce, ru; /* bce, its derivative, u' / u */
        if (LOGITS) {
            double Tv = B[i];
            double relu = xv > 0.0 ? xv : 0.0, relu_neg = xv < 0.0 ? -xv : 0.0;
            double sp = Tv + relu, spn = Tv + relu_neg; /* -log(1 - p), -log p */
            double inv = 1.0 / (1.0 + A[i]), small = A[i] * inv;
            double sig = xk_sel(xv >= 0.0, inv, small), sig_neg = xk_sel(xv >= 0.0, small, inv);
            bce = xk_sel(a == 0.0, 0.0, a * spn) + xk_sel(bw == 0.0, 0.0, bw * sp);
            dbce = bw * sig - a * sig_neg;
            double soft = (bw - yp) * (sig * sig_neg) / (yp * sig_neg + bw * sig);
            ru = xk_sel(bw == 0.0, -sig, xk_sel(yp == 0.0, sig_neg, soft));
        } else {
            double la = -a * A[i], lb_ = -bw * B[i];
            bce = (la > 0.0 ? la : 0.0) + (lb_ > 0.0 ? lb_ : 0.0) + 0.0 * xv;
            double ga = a / xv, gb = bw / (1.0 - xv);
            dbce = (gb > 0.0 ? gb : 0.0) - (ga > 0.0 ? ga : 0.0);
            double soft = (bw - yp) / (yp * (1.0 - xv) + bw * xv);
            ru = xk_sel(bw == 0.0, -1.0 / (1.0 - xv), xk_sel(yp == 0.0, 1.0 / xv, soft));
        }
        double f = 1.0;
        if (gamma != 0.0) {
            double X = D[i]; /* exp(G + E) = X + X E */
            f = xk_sel(X == 0.0 || X == HUGE_VAL, X, X + X * E[i]);
        }
        double F = xk_sel(has_alpha, alpha * yp + (1.0 - alpha) * bw, 1.0) * f;
        double loss = xk_sel(F == 0.0 || bce == 0.0, 0.0, F * bce);
        double g = 0.0;
        if (GRAD) {
            /* (bce = inf: bce ru's limit, 0, as p_nll_zero's) */
            double mod = xk_sel(gamma == 0.0 || ru == 0.0 || bce == 0.0 || bce == HUGE_VAL, 0.0,
                                gamma * bce * ru);
            g = xk_sel(F == 0.0, 0.0, F * (dbce + mod));
        }
        double sv = sw[i];
        loss = xk_sel(sv == 0.0, 0.0, sv * loss);
        if (GRAD) g = xk_sel(sv == 0.0, 0.0, g * (sv / ginv_div));
        lb[i] = loss;
        if (GRAD) grad[i] = (T)g;
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#if XK_WIDEN
/* Focal binary cross-entropy of float32 logits with hard labels (no smoothing), in terms of
 * the logit signed toward the wrong class, s = -x for label 1 and x for label 0: the entry's
 * cross-entropy is wt softplus(s) = wt (relu(s) + T) (wt = pos_weight for label 1, else 1;
 * T = log1p(exp(-|x|)), the plain loss's softplus part, in double lanes), 1 - p_t = sigmoid(s)
 * = q (1 / (1 + u) or u / (1 + u), u = exp(-|x|)), and f = (1 - p_t)^gamma = q^gamma by
 * products for gamma = 1-4 (as pow1m_v), else exp(-gamma softplus(-s)) by the short exp:
 * relative errors below 2^-26 in all, far under float's half ulp (the general
 * binary_focal_chunk carries log(1 - p_t) as hi + lo, for double results). Writes the entries
 * with labels 0 or 1 only (lb, and grad); the others are binary_focal_chunk's. The loss is
 * F bce with F = alpha_t f, and dl/ds = F (wt q + gamma bce r), r = 1 - q = sigmoid(-s): the
 * gradient is -dl/ds for label 1, dl/ds for label 0 (each term's sign taken before the
 * product, as the form for any label has it). Written for labels 0 and 1 alone, it
 * holds half the vectors of the form for any label (y pw softplus(-x) + (1 - y) softplus(x),
 * ...), whose temporaries went to the stack. */
static inline __attribute__((always_inline)) void FN(binary_focal_hard_v)(
    const xk_binary *bb, xv_d xv, xv_d yv, xv_d pwv, xv_d swv, xv_d u, xv_d Tv, const int GRAD,
    const int PW, const int SW, const int FINITE, xv_d *loss_out, xv_d *g_out)
{
    /* eight entries, their labels yv 0 or 1 (the other lanes' values are not used) */
    const double gamma = bb->gamma, alpha = bb->alpha;
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0);
    const xv_i pos_label = XV_EQ(yv, 1.0);
    const xv_d sx = XV(sel)(pos_label, -xv, xv);
    const xv_d sp = Tv + XV(sel)(XV_GT(sx, zero), sx, zero); /* softplus(s) = -log p_t */
    xv_d bce = sp;
    xv_d wt = one;
    if (PW) {
        wt = XV(sel)(pos_label, pwv, one);
        bce = XV(sel)(XV_EQ(wt, zero), zero, wt * sp);
    }
    /* sigmoid(s) (q) and sigmoid(-s) (r): 1 / (1 + u) on the side of s's sign */
    const xv_d inv = 1.0 / (1.0 + u), small = u * inv;
    const xv_i s_pos = XV_GE(sx, zero);
    const xv_d q = XV(sel)(s_pos, inv, small);
    xv_d f = one;
    if (FN(focal_int)(gamma)) { /* (1 - p_t)^gamma by products */
        f = FN(powi_v)(gamma, q);
    } else if (gamma != 0.0) { /* -log(1 - p_t) = softplus(-s) */
        f = XV(exp_short)(-gamma * (Tv + XV(sel)(XV_GT(-sx, zero), -sx, zero)));
    }
    const xv_d F = alpha >= 0.0 ? XV(sel)(pos_label, XV(splat)(alpha), XV(splat)(1.0 - alpha)) * f
                                : f;
    /* 0 where F or bce is 0 (0 inf); with FINITE (every logit finite) both are finite and at
       least +0, so that F bce is that +0 itself */
    xv_d loss = FINITE ? F * bce : XV(sel)(XV_EQ(F, 0.0) | XV_EQ(bce, 0.0), zero, F * bce);
    xv_d g = zero;
    if (GRAD) {
        /* -+(wt q) and -+(gamma bce r) with x's sign (0 - v: +0 where v is 0, as the form
           for any label gives it), then their sum times F: a gradient that underflows keeps
           its sign */
        const xv_d r = XV(sel)(s_pos, small, inv);
        const xv_d dq = PW ? wt * q : q;
        const xv_d dbce = XV(sel)(pos_label, zero - dq, dq);
        xv_d mod = zero;
        if (gamma != 0.0) {
            const xv_d mag = gamma * bce * r;
            /* (r = 0 or bce = inf: r bce's limit, 0; see p_nll_zero) */
            mod = XV(sel)(FN(p_nll_zero)(r, bce) | XV_EQ(bce, 0.0), zero,
                          XV(sel)(pos_label, -mag, mag));
        }
        g = XV(sel)(XV_EQ(F, 0.0), zero, F * (dbce + mod));
    }
    if (SW) {
        loss = XV(sel)(XV_EQ(swv, zero), zero, swv * loss);
        if (GRAD) g = XV(sel)(XV_EQ(swv, zero), zero, g * (swv / bb->grad_div));
    } else if (GRAD) {
        g = g * (1.0 / bb->grad_div);
    }
    *loss_out = loss;
    *g_out = g;
}

static inline void FN(binary_focal_hard)(const xk_binary *bb, ptrdiff_t i0, ptrdiff_t n,
                                         const double *y, const double *pw, const double *sw,
                                         double *lb)
{
    const T *x = (const T *)bb->x + i0;
    T *grad = bb->grad ? (T *)bb->grad + i0 : NULL;
    const xv_d one = XV(splat)(1.0);
    double U[XK_CHUNK], V[XK_CHUNK]; /* exp(-|x|) and log1p of it */
    FN(softplus_parts)(x, n, U, V);
    for (ptrdiff_t i = 0; i < n; i += 8) {
        const ptrdiff_t nl = n - i < 8 ? n - i : 8;
        const xv_d xv = FN(load_pad)(x + i, (int)nl, 0.0), yv = XV(load)(y + i);
        const xv_i hard = XV_EQ(yv, 1.0) | XV_EQ(yv, 0.0);
        if (!XV(any)(hard)) continue;
        xv_d loss, g;
        FN(binary_focal_hard_v)(bb, xv, yv, pw ? XV(load)(pw + i) : one,
                                sw ? XV(load)(sw + i) : one, XV(load)(U + i), XV(load)(V + i),
                                grad != NULL, pw != NULL, sw != NULL, 0, &loss, &g);
        XV(store)(lb + i, XV(sel)(hard, loss, XV(load)(lb + i)));
        if (grad)
            for (ptrdiff_t l = 0; l < nl; l++)
                if (hard[l]) grad[i + l] = (T)g[l];
    }
}

/* binary_focal_run's step with a label other than 0 or 1: the chunk functions on its n <= 32
 * entries (one copy of them, not one per instance of the run) */
static __attribute__((noinline)) void FN(binary_focal_step)(const xk_binary *bb, ptrdiff_t i,
                                                          ptrdiff_t n, const double *y,
                                                          const double *pw, const double *sw,
                                                          const double *ones, double *lb)
{
    if (bb->grad) FN(binary_focal_chunk)(bb, i, n, y, lb, 1, 1, ones);
    else FN(binary_focal_chunk)(bb, i, n, y, lb, 1, 0, ones);
    FN(binary_focal_hard)(bb, i, n, y, pw, sw, lb);
}

/* The loops over a step's four vectors of the binary focal loss (binary_focal_step_any,
 * binary_focal_plain_steps): not unrolled with AVX2, where the focal terms of four vectors at
 * once spilled (4.4 -> 5.2 ns per entry); unrolled with AVX-512's 32 registers (Intel Xeon:
 * 0.955-0.98x the time). */
#undef XK_FOCAL_UNROLL
#if defined(__AVX512F__)
#define XK_FOCAL_UNROLL _Pragma("GCC unroll 4")
#else
#define XK_FOCAL_UNROLL _Pragma("GCC unroll 1")
#endif

/* The focal loss of float logits without smoothing in one pass per tile, as binary_logits_run:
 * a step of 32 entries whose labels are all 0 or 1 by binary_focal_hard_v on its softplus
 * terms in registers; a step with another label by the chunk functions on its 32 entries
 * (binary_focal_chunk, then binary_focal_hard for the hard labels: the chunked passes' values),
 * its losses through a buffer. Labels' range, sums and padding as binary_logits_run. */
static inline __attribute__((always_inline)) void FN(binary_focal_step_any)(
    xk_binary *bb, ptrdiff_t i, FN(vsum) s[4], xv_d lo[2], xv_d hi[2], xv_i *nan,
    const double *ones, const int GRAD, const int SW, const int PW)
{
    const ptrdiff_t N = bb->n;
    const ptrdiff_t nstep = N - i < 32 ? N - i : 32;
    xv_d Y[4];
    xv_i softv = {0};
    FN(binary_prefetch)(bb, i, bb->y_float, SW, PW);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const ptrdiff_t j = i + 8 * k;
        const ptrdiff_t nl = N - j < 0 ? 0 : N - j < 8 ? N - j : 8;
        Y[k] = FN(binary_label8)(bb, i, j, nl, &lo[k & 1], &hi[k & 1], nan);
        softv |= XV_NE(Y[k], 0.0) & XV_NE(Y[k], 1.0);
    }
    if (__builtin_expect(XV(any)(softv), 0)) {
        double Ys[32], lbs[32], pwb[32], swb[32];
        for (int k = 0; k < 4; k++) XV(store)(Ys + 8 * k, Y[k]);
        for (ptrdiff_t l = 0; l < 32; l++) {
            pwb[l] = PW && l < nstep ? bb->pw[i + l] : 1.0;
            swb[l] = SW && l < nstep ? bb->sw[i + l] : 1.0;
        }
        FN(binary_focal_step)(bb, i, nstep, Ys, PW ? pwb : NULL, SW ? swb : NULL, ones, lbs);
        for (ptrdiff_t l = nstep; l < 32; l++) lbs[l] = 0.0;
        for (int k = 0; k < 4; k++) FN(vsum_add)(&s[k], XV(load)(lbs + 8 * k));
        if (bb->loss_out)
            for (ptrdiff_t l = 0; l < nstep; l++) bb->loss_out[i + l] = lbs[l];
        return;
    }
    xv_d U[4], L[4];
    FN(binary_step_terms)((const T *)bb->x, i, N, U, L);
    XK_FOCAL_UNROLL
    for (int k = 0; k < 4; k++) {
        const ptrdiff_t j = i + 8 * k;
        const ptrdiff_t nl = N - j < 0 ? 0 : N - j < 8 ? N - j : 8;
        xv_d xv, pwv, swv, loss, g;
        FN(binary_in8)(bb, j, nl, PW, SW, &xv, &pwv, &swv);
        FN(binary_focal_hard_v)(bb, xv, Y[k], pwv, swv, U[k], L[k], GRAD, PW, SW, 0, &loss,
                                &g);
        FN(binary_out8)(bb, &s[k], j, nl, loss, g, GRAD);
    }
}

static inline __attribute__((always_inline)) void FN(binary_focal_run)(
    xk_binary *bb, FN(vsum) s[4], xv_d lo[2], xv_d hi[2], xv_i *nan, const double *ones,
    const int GRAD, const int SW, const int PW)
{
    for (ptrdiff_t i = 0; i < bb->n; i += 32)
        FN(binary_focal_step_any)(bb, i, s, lo, hi, nan, ones, GRAD, SW, PW);
}

/* binary_focal_step_any without weights, for the steps binary_focal_plain_run leaves to it */
static __attribute__((noinline)) void FN(binary_focal_other)(xk_binary *bb, ptrdiff_t i,
                                                             FN(vsum) s[4], xv_d lo[2],
                                                             xv_d hi[2], xv_i *nan,
                                                             const double *ones)
{
    if (bb->grad) FN(binary_focal_step_any)(bb, i, s, lo, hi, nan, ones, 1, 0, 0);
    else FN(binary_focal_step_any)(bb, i, s, lo, hi, nan, ones, 0, 0, 0);
}

/* binary_focal_run without pos_weight or sample weights, as binary_plain_run is to
 * binary_logits_run: whole steps of finite logits and labels 0 and 1 by binary_focal_hard_v
 * on the terms of log1p_exp_finite (binary_step_terms' values: the same bits), read once, the
 * losses in plain double sums; other steps (a soft or NaN label, an infinite or NaN logit,
 * the tile's last entries) by binary_focal_step_any. */
static inline __attribute__((always_inline)) ptrdiff_t FN(binary_focal_plain_steps)(
    xk_binary *bb, ptrdiff_t i, ptrdiff_t end, xv_d acc[4], xv_d lo[2], xv_d hi[2],
    const int GRAD, const int YF)
{
    const float *x = (const float *)bb->x;
    const float *yf = (const float *)bb->y;
    const double *yd = (const double *)bb->y;
    float *const grad = (float *)bb->grad;
    double *const loss_out = bb->loss_out;
    const xv_s fmax = XV(ssplat)(0x1.fffffep127f);
    const xv_d one = XV(splat)(1.0);
    /* the labels' bounds in one vector each (the step's four label vectors reduced first; min
       and max are exact, so the same bounds as binary_labels's two sets): two registers fewer
       across the loop than two sets */
    xv_d a[4] = {acc[0], acc[1], acc[2], acc[3]}, l = XV(min)(lo[0], lo[1]),
         h = XV(max)(hi[0], hi[1]);
    for (; i < end; i += 32) {
        FN(binary_prefetch)(bb, i, YF, 0, 0);
        const xv_s a0 = XV(sload)(x + i), a1 = XV(sload)(x + i + 16);
        const xv_si finite = XV_LE(XV(ssel)(XV_LT(a0, 0.0f), -a0, a0), fmax) &
                             XV_LE(XV(ssel)(XV_LT(a1, 0.0f), -a1, a1), fmax);
        xv_d Y[4];
        xv_i soft = {0};
        for (int k = 0; k < 4; k++) {
            Y[k] = YF ? XV(load_f)(yf + i + 8 * k) : XV(load)(yd + i + 8 * k);
            soft |= XV_NE(Y[k], 0.0) & XV_NE(Y[k], 1.0);
        }
        if (__builtin_expect(XV(sany)(~finite) || XV(any)(soft), 0)) break;
        l = XV(min)(XV(min)(XV(min)(Y[0], Y[1]), XV(min)(Y[2], Y[3])), l);
        h = XV(max)(XV(max)(XV(max)(Y[0], Y[1]), XV(max)(Y[2], Y[3])), h);
        XK_FOCAL_UNROLL
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t j = i + 8 * k;
            const xv_d xv = XV(load_f)(x + j);
            xv_d u, loss, g;
            const xv_d Tv =
                XV(log1p_exp_finite)((xv_d)((xv_u)xv & ~(xv_u)XV(splat)(-0.0)), &u);
            FN(binary_focal_hard_v)(bb, xv, Y[k], one, one, u, Tv, GRAD, 0, 0, 1, &loss, &g);
            a[k] += loss;
            if (loss_out) XV(store)(loss_out + j, loss);
            if (GRAD) XV(store_f)(grad + j, g);
        }
    }
    for (int k = 0; k < 4; k++) acc[k] = a[k];
    lo[0] = lo[1] = l, hi[0] = hi[1] = h;
    return i;
}

static inline __attribute__((always_inline)) void FN(binary_focal_plain_run)(
    xk_binary *bb, FN(vsum) s[4], xv_d lo[2], xv_d hi[2], xv_i *nan, const double *ones,
    const int GRAD, const int YF)
{
    const ptrdiff_t N = bb->n, whole = N / 32 * 32;
    const xv_d zero = XV(splat)(0.0);
    for (ptrdiff_t i = 0; i < N;) {
        if (i == whole) { /* the last entries */
            FN(binary_focal_other)(bb, i, s, lo, hi, nan, ones);
            break;
        }
        const ptrdiff_t end = whole - i > 4 * XK_RUN ? i + 4 * XK_RUN : whole;
        xv_d acc[4] = {zero, zero, zero, zero};
        i = FN(binary_focal_plain_steps)(bb, i, end, acc, lo, hi, GRAD, YF);
        for (int k = 0; k < 4; k++) FN(vsum_add)(&s[k], acc[k]);
        if (i < end) { /* a step with a soft label or a non-finite logit */
            FN(binary_focal_other)(bb, i, s, lo, hi, nan, ones);
            i += 32;
        }
    }
}

/* binary_focal_plain_run's instances, with the flags at run time, in a function of their own:
 * inlined in FN(binary) with the other paths, its vectors went to the stack (GCC allocates the
 * registers of a function as a whole) */
static __attribute__((noinline)) void FN(binary_focal_plain)(xk_binary *bb, FN(vsum) s[4],
                                                             xv_d lo[2], xv_d hi[2], xv_i *nan,
                                                             const double *ones)
{
    const int G = bb->grad != NULL;
    if (bb->y_float) {
        if (G) FN(binary_focal_plain_run)(bb, s, lo, hi, nan, ones, 1, 1);
        else FN(binary_focal_plain_run)(bb, s, lo, hi, nan, ones, 0, 1);
    } else {
        if (G) FN(binary_focal_plain_run)(bb, s, lo, hi, nan, ones, 1, 0);
        else FN(binary_focal_plain_run)(bb, s, lo, hi, nan, ones, 0, 0);
    }
}
#endif

/* A chunk's labels as doubles in Y (the lanes after the n-th copies of the first), with
 * their least and greatest value (NaN skipped) and whether one is NaN folded into lo, hi, nan. */
static inline void FN(binary_labels)(const xk_binary *bb, ptrdiff_t i0, ptrdiff_t n, double *Y,
                                     xv_d *lo, xv_d *hi, xv_i *nan)
{
    /* vminpd / vmaxpd (a NaN label leaves the bound as it is; `nan` finds it), two sets of
       bounds in turn: a compare and a blend through one set made their latency the loop's */
    xv_d lo2[2] = {*lo, *lo}, hi2[2] = {*hi, *hi};
    int k = 0;
    for (ptrdiff_t i = 0; i < n; i += 8, k ^= 1) {
        const ptrdiff_t nl = n - i < 8 ? n - i : 8;
        const float *yf = (const float *)bb->y + i0 + i;
        const double *yd = (const double *)bb->y + i0 + i;
        xv_d v;
        if (nl == 8) {
            v = bb->y_float ? XV(load_f)(yf) : XV(load)(yd);
        } else {
            double v8[8];
            for (int l = 0; l < 8; l++) v8[l] = bb->y_float ? yf[l < nl ? l : 0] : yd[l < nl ? l : 0];
            v = XV(load)(v8);
        }
        XV(store)(Y + i, v);
        lo2[k] = XV(min)(v, lo2[k]);
        hi2[k] = XV(max)(v, hi2[k]);
        *nan |= XV_NE(v, v);
    }
    *lo = XV(min)(lo2[0], lo2[1]);
    *hi = XV(max)(hi2[0], hi2[1]);
}

/* The least and greatest of a chunk's x (probabilities), NaN skipped, folded into lo and hi. */
static inline void FN(binary_range)(const T *x, ptrdiff_t n, xv_d *lo, xv_d *hi)
{
    for (ptrdiff_t i = 0; i < n; i += 8) {
        const ptrdiff_t nl = n - i < 8 ? n - i : 8;
        T v8[8];
        for (int l = 0; nl < 8 && l < 8; l++) v8[l] = x[i + (l < nl ? l : 0)];
        const xv_d v = XK_LOADV(nl == 8 ? x + i : v8);
        *lo = XV(sel)(XV_LT(v, *lo), v, *lo);
        *hi = XV(sel)(XV_GT(v, *hi), v, *hi);
    }
}

XK_ENTRY void FN(binary)(xk_binary *bb)
{
    xk_sum bsum[4] = {{{0}, {0}, {0}}, {{0}, {0}, {0}}, {{0}, {0}, {0}}, {{0}, {0}, {0}}};
    double lb[XK_CHUNK], Y[XK_CHUNK];
    const int L = bb->from_logits != 0, G = bb->grad != NULL, S = bb->sw != NULL,
              P = bb->pw != NULL;
    const int key = G * 4 + S * 2 + P;
    const int focal = bb->gamma != 0.0 || bb->alpha >= 0.0;
    xv_d ylo = XV(splat)(HUGE_VAL), yhi = XV(splat)(-HUGE_VAL), xlo = ylo, xhi = yhi;
    xv_i ynan = {0};
    double ones[XK_CHUNK];
    for (ptrdiff_t i = 0; focal && i < XK_CHUNK; i++) ones[i] = 1.0;
    /* float32 focal from logits without smoothing: one pass too (binary_focal_run) */
    const int hard_focal = XK_WIDEN && focal && L && bb->eps == 0.0;
#if XK_WIDEN
    if (hard_focal) {
        FN(vsum) s[4] = {FN(vsum_load)(bsum), FN(vsum_load)(bsum + 1), FN(vsum_load)(bsum + 2),
                         FN(vsum_load)(bsum + 3)};
        xv_d lo2[2] = {ylo, ylo}, hi2[2] = {yhi, yhi};
        /* the weights' flags at run time: two instances, not eight (compile time) */
        if (!S && !P) FN(binary_focal_plain)(bb, s, lo2, hi2, &ynan, ones);
        else if (G) FN(binary_focal_run)(bb, s, lo2, hi2, &ynan, ones, 1, S, P);
        else FN(binary_focal_run)(bb, s, lo2, hi2, &ynan, ones, 0, S, P);
        for (int k = 0; k < 4; k++) FN(vsum_store)(bsum + k, s + k);
        ylo = XV(min)(lo2[0], lo2[1]);
        yhi = XV(max)(hi2[0], hi2[1]);
    }
#endif
    if (L && !focal) { /* one pass (binary_logits_run) */
        FN(vsum) s[4] = {FN(vsum_load)(bsum), FN(vsum_load)(bsum + 1), FN(vsum_load)(bsum + 2),
                         FN(vsum_load)(bsum + 3)};
        xv_d lo2[2] = {ylo, ylo}, hi2[2] = {yhi, yhi};
#if XK_WIDEN
        if (!P && bb->eps == 0.0) FN(binary_plain)(bb, s, lo2, hi2, &ynan);
        else
#endif
        if (G) FN(binary_logits_run)(bb, s, lo2, hi2, &ynan, 1, S, P);
        else FN(binary_logits_run)(bb, s, lo2, hi2, &ynan, 0, S, P);
        for (int k = 0; k < 4; k++) FN(vsum_store)(bsum + k, s + k);
        ylo = XV(min)(lo2[0], lo2[1]);
        yhi = XV(max)(hi2[0], hi2[1]);
    }
    for (ptrdiff_t i0 = 0; ((focal && !hard_focal) || !L) && i0 < bb->n; i0 += XK_CHUNK) {
        ptrdiff_t n = bb->n - i0 < XK_CHUNK ? bb->n - i0 : XK_CHUNK;
        FN(binary_labels)(bb, i0, n, Y, &ylo, &yhi, &ynan);
        if (!L) FN(binary_range)((const T *)bb->x + i0, n, &xlo, &xhi);
#if !XK_SPECIALIZE
        (void)key;
        if (focal) FN(binary_focal_chunk)(bb, i0, n, Y, lb, L, G, ones);
        else FN(binary_prob_chunk)(bb, i0, n, Y, lb, G, S, P);
#else
        if (focal) {
            if (L && G) FN(binary_focal_chunk)(bb, i0, n, Y, lb, 1, 1, ones);
            else if (L) FN(binary_focal_chunk)(bb, i0, n, Y, lb, 1, 0, ones);
            else if (G) FN(binary_focal_chunk)(bb, i0, n, Y, lb, 0, 1, ones);
            else FN(binary_focal_chunk)(bb, i0, n, Y, lb, 0, 0, ones);
        } else switch (key) {
#define XK_CASE(K) \
    case K: FN(binary_prob_chunk)(bb, i0, n, Y, lb, (K >> 2) & 1, (K >> 1) & 1, K & 1); break;
            XK_CASE(0) XK_CASE(1) XK_CASE(2) XK_CASE(3) XK_CASE(4) XK_CASE(5) XK_CASE(6)
            XK_CASE(7)
#undef XK_CASE
        }
#endif
        /* the losses into four sums, a vector each in turn (one compensated sum would make
           its additions' latency the loop's time); the last chunk's padded with zeros */
        for (ptrdiff_t i = n; i < (n + 31) / 32 * 32; i++) lb[i] = 0.0;
        FN(vsum) s0 = FN(vsum_load)(bsum), s1 = FN(vsum_load)(bsum + 1),
                 s2 = FN(vsum_load)(bsum + 2), s3 = FN(vsum_load)(bsum + 3);
        for (ptrdiff_t i = 0; i < n; i += 32) {
            FN(vsum_add)(&s0, XV(load)(lb + i));
            FN(vsum_add)(&s1, XV(load)(lb + i + 8));
            FN(vsum_add)(&s2, XV(load)(lb + i + 16));
            FN(vsum_add)(&s3, XV(load)(lb + i + 24));
        }
        FN(vsum_store)(bsum, &s0);
        FN(vsum_store)(bsum + 1, &s1);
        FN(vsum_store)(bsum + 2, &s2);
        FN(vsum_store)(bsum + 3, &s3);
        if (bb->loss_out)
            for (ptrdiff_t k = 0; k < n; k++) bb->loss_out[i0 + k] = lb[k];
    }
    FN(sum_result)(bsum, 4, &bb->loss_sum, &bb->loss_sum_small);
    bb->y_lo = bb->x_lo = HUGE_VAL;
    bb->y_hi = bb->x_hi = -HUGE_VAL;
    bb->y_nan = 0;
    for (int j = 0; j < 8; j++) {
        bb->y_lo = ylo[j] < bb->y_lo ? ylo[j] : bb->y_lo;
        bb->y_hi = yhi[j] > bb->y_hi ? yhi[j] : bb->y_hi;
        bb->x_lo = xlo[j] < bb->x_lo ? xlo[j] : bb->x_lo;
        bb->x_hi = xhi[j] > bb->x_hi ? xhi[j] : bb->x_hi;
        bb->y_nan |= ynan[j] != 0;
    }
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow for any x, and both terms are
 * non-negative; log_sigmoid(x) = -softplus(-x). */
XK_ENTRY void FN(softplus)(const void *xv, void *outv, ptrdiff_t n, int negate)
{
    const T *x = (const T *)xv;
    T *out = (T *)outv;
    const double sign = negate ? -1.0 : 1.0;
    const xv_d zero = XV(splat)(0.0);
    for (ptrdiff_t i = 0; i < n; i += 8) {
        const ptrdiff_t nl = n - i < 8 ? n - i : 8;
        const xv_d v = sign * FN(load_pad)(x + i, (int)nl, 0.0);
        xv_d u, L;
        FN(softplus_terms8)(v, &u, &L);
        const xv_d r = sign * (XV(sel)(XV_GT(v, zero), v, zero) + L);
        if (nl == 8) XK_STOREV(out + i, r);
        else for (ptrdiff_t l = 0; l < nl; l++) out[i + l] = (T)r[l];
    }
}

/* ------------------------------------------------------------------ checks of distributions */

/* The stats of eight rows of few classes, class by class (stats_few): the rows' sums and
 * weighted sums (added in class order), their counts of nonzero entries and the last class
 * whose entry is 1; and the least and greatest entry and NaN of every row seen. */
typedef struct {
    xv_d sum, wsum, lo, hi;
    xv_i nan, nnz, one;
} FN(stats8);

static inline __attribute__((always_inline)) void FN(stats_col)(FN(stats8) *a, xv_d x,
                                                                 ptrdiff_t c, const double *cw)
{
    const xv_d zero = XV(splat)(0.0);
    a->sum += x;
    if (cw) a->wsum += cw[c] * x;
    a->lo = XV(min)(x, a->lo); /* a NaN entry leaves them as they are */
    a->hi = XV(max)(x, a->hi);
    a->nan |= XV_NE(x, x);
    a->nnz -= XV_NE(x, zero); /* (a true comparison is -1) */
    const xv_i is1 = XV_EQ(x, XV(splat)(1.0)), cv = {c, c, c, c, c, c, c, c};
    a->one = (cv & is1) | (a->one & ~is1);
}

/* Class c of the eight rows r .. r + 7 of a block of rows with unit class stride. */
static inline __attribute__((always_inline)) xv_d FN(few_col)(const T *t, ptrdiff_t rs,
                                                              ptrdiff_t r, ptrdiff_t c)
{
    return FN(gather)(t + r * rs + c, (xv_i){0, 1, 2, 3, 4, 5, 6, 7} * rs);
}

#if !XK_WIDEN
/* Classes 0 and 1 of the eight rows r .. r + 7 of a block of contiguous double rows of two
 * classes (sixteen contiguous entries, split by class; float rows: stats_contig). */
static inline __attribute__((always_inline)) void FN(two_cols)(const T *t, ptrdiff_t r,
                                                               xv_d *x0, xv_d *x1)
{
    const xv_d a = XV(load)(t + 2 * r), b = XV(load)(t + 2 * r + 8);
    *x0 = XV_SHUFFLE(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
    *x1 = XV_SHUFFLE(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
}
#endif

#if XK_WIDEN
/* The sixteen contiguous float rows of C <= 16 classes at t (rs = C; `avail` floats from t to
 * the end of the block, at least 16 C), class by class: cols[c] holds class c of the rows
 * (lane l: row l) for c < C. Each row is loaded whole (sixteen floats from its start, masked
 * where they would pass the block's end) and the 16 x 16 matrix transposed in registers
 * (four rounds of sixteen two-vector shuffles): contiguous loads where a gather per class
 * and eight rows read one float per lane (the gathers' latency was most of stats_few). */
static inline __attribute__((always_inline)) void FN(few_cols16)(const float *t, ptrdiff_t C,
                                                                 ptrdiff_t avail, xv_s cols[16])
{
    for (int i = 0; i < 16; i++) {
        const ptrdiff_t left = avail - i * C;
        cols[i] = left >= 16 ? XV(sload)(t + i * C) : XV(sload_pad)(t + i * C, (int)left, 0.0f);
    }
    XV(stranspose16)(cols);
}
#endif

/* A group's results: sums, weighted sums and, while every row so far is one-hot (*hot_ok), the
 * one-hot classes of its eight rows (the class of the only nonzero entry where it is 1; -1
 * without a nonzero entry, else -2), its bad sums. */
static inline __attribute__((always_inline)) void FN(stats8_end)(const xk_stats *s,
                                                                 FN(stats8) *a, ptrdiff_t r,
                                                                 xv_i *bad, int *hot_ok)
{
    const xv_d dev = a->sum - 1.0;
    *bad |= XV_GT(XV(sel)(XV_LT(dev, 0.0), -dev, dev), s->rtol);
    XV(store)(s->sums + r, a->sum);
    if (s->cw) XV(store)(s->wsums + r, a->wsum);
    if (*hot_ok) {
        const xv_i none = XV_EQ(a->nnz, 0), hot = XV_EQ(a->nnz, 1) & XV_GE(a->one, 0);
        const xv_i h = (none & -1) | (hot & a->one) | (~none & ~hot & -2);
        memcpy(s->hot + r, &h, sizeof h);
        *hot_ok = !XV(any)(XV_LT(h, 0));
    }
}

#if XK_WIDEN
/* The stats of sixteen float rows of few classes, class by class (stats_contig): the rows'
 * sums and weighted sums in double (lanes 0-7 in [0], 8-15 in [1]), the rest in float lanes. */
typedef struct {
    xv_d sum[2], wsum[2];
    xv_s lo, hi;
    xv_si nan, nnz, one;
} FN(stats16);

/* stats_col for sixteen rows: the same sums, added in the same order */
static inline __attribute__((always_inline)) void FN(stats16_col)(FN(stats16) *a, xv_s x,
                                                                  ptrdiff_t c, const double *cw)
{
    const xv_d x0 = XV(swiden_lo)(x), x1 = XV(swiden_hi)(x);
    a->sum[0] += x0;
    a->sum[1] += x1;
    if (cw) {
        a->wsum[0] += cw[c] * x0;
        a->wsum[1] += cw[c] * x1;
    }
    a->lo = XV(smin)(x, a->lo); /* a NaN entry leaves them as they are */
    a->hi = XV(smax)(x, a->hi);
    a->nan |= XV_NE(x, x);
    a->nnz -= XV_NE(x, XV(ssplat)(0.0f)); /* (a true comparison is -1) */
    const xv_si is1 = XV_EQ(x, XV(ssplat)(1.0f)), cv = (xv_si){0} + (int32_t)c;
    a->one = (cv & is1) | (a->one & ~is1);
}

/* One group of sixteen contiguous float rows at row r for stats_contig: its sums, counts and
 * one-hot classes in locals of the group (declared for the whole loop over the groups, GCC
 * kept them and the bounds in memory, a load and a store per class), the bounds and NaN
 * carried in *lo, *hi, *nan; CW: class weights (their sums only then). */
static inline __attribute__((always_inline)) void FN(stats_group16)(
    xk_stats *s, ptrdiff_t r, xv_s *lo, xv_s *hi, xv_si *nan, xv_i *bad, int *hot_ok,
    const int CW)
{
    const ptrdiff_t R = s->R, C = s->C;
    const float *t = (const float *)s->t;
    const double *cw = CW ? s->cw : NULL;
    const xv_d zero = XV(splat)(0.0);
    const xv_si none = {0};
    FN(stats16) a = {{zero, zero}, {zero, zero}, *lo, *hi, *nan, none, none - 1};
    if (C == 2) {
        const xv_s v0 = XV(sload)(t + 2 * r), v1 = XV(sload)(t + 2 * r + 16);
        FN(stats16_col)(&a, XV_SHUFFLE(v0, v1, 0, 2, 4, 6, 8, 10, 12, 14, 16,
                                                    18, 20, 22, 24, 26, 28, 30), 0, cw);
        FN(stats16_col)(&a, XV_SHUFFLE(v0, v1, 1, 3, 5, 7, 9, 11, 13, 15, 17,
                                                    19, 21, 23, 25, 27, 29, 31), 1, cw);
    } else {
        xv_s cols[16];
        FN(few_cols16)(t + r * C, C, (R - r) * C, cols);
        for (ptrdiff_t c = 0; c < C; c++) FN(stats16_col)(&a, cols[c], c, cw);
    }
    *lo = a.lo, *hi = a.hi, *nan = a.nan;
    for (int h = 0; h < 2; h++) {
        FN(stats8) g;
        g.sum = a.sum[h];
        g.wsum = a.wsum[h];
        g.nnz = XV_CONVERT(
            h ? XV_SHUFFLE(a.nnz, a.nnz, 8, 9, 10, 11, 12, 13, 14, 15)
              : XV_SHUFFLE(a.nnz, a.nnz, 0, 1, 2, 3, 4, 5, 6, 7),
            xv_i);
        g.one = XV_CONVERT(
            h ? XV_SHUFFLE(a.one, a.one, 8, 9, 10, 11, 12, 13, 14, 15)
              : XV_SHUFFLE(a.one, a.one, 0, 1, 2, 3, 4, 5, 6, 7),
            xv_i);
        FN(stats8_end)(s, &g, r + 8 * h, bad, hot_ok);
    }
}

/* stats_few for contiguous float rows (rs = C), sixteen rows at a time (stats_group16): each
 * row loaded whole and the classes of sixteen rows made vectors by shuffles (few_cols16; for
 * two classes, one deinterleave of 32 floats), their stats in float lanes but for the sums
 * (stats16_col). The same results as the gathers of stats_few, bit for bit, in about half its
 * time. */
static ptrdiff_t FN(stats_contig)(xk_stats *s, xv_d *lo, xv_d *hi, xv_i *nan, xv_i *bad,
                                  int *hot_ok)
{
    const ptrdiff_t R = s->R;
    xv_s vlo = XV(ssplat)(HUGE_VALF), vhi = XV(ssplat)(-HUGE_VALF);
    xv_si vnan = {0};
    xv_i bad_v = *bad;
    ptrdiff_t r = 0;
    if (s->cw)
        for (; r + 16 <= R; r += 16) FN(stats_group16)(s, r, &vlo, &vhi, &vnan, &bad_v, hot_ok, 1);
    else
        for (; r + 16 <= R; r += 16) FN(stats_group16)(s, r, &vlo, &vhi, &vnan, &bad_v, hot_ok, 0);
    *lo = XV(min)(*lo, XV(min)(XV(swiden_lo)(vlo), XV(swiden_hi)(vlo)));
    *hi = XV(max)(*hi, XV(max)(XV(swiden_lo)(vhi), XV(swiden_hi)(vhi)));
    if (XV(sany)(vnan)) *nan |= (xv_i){0} == (xv_i){0}; /* every lane set */
    *bad = bad_v;
    return r;
}
#endif

/* The stats of rows of C <= 16 classes with unit class stride (double rows, and float rows
 * not contiguous: others take stats_contig), sixteen rows at a time in two groups of eight
 * (two independent chains of operations), each row's sum and weighted sum added in class
 * order (the bits of the row-by-row loop). Returns the number of rows done
 * (whole groups of sixteen); *hot_ok (set: s->hot is wanted) stays set while they are all
 * one-hot, and their classes are in s->hot then. */
static ptrdiff_t FN(stats_few)(xk_stats *s, xv_d *lo, xv_d *hi, xv_i *nan, xv_i *bad,
                               int *hot_ok)
{
    const ptrdiff_t R = s->R, C = s->C, rs = s->rs;
    const T *t = (const T *)s->t;
    const xv_d zero = XV(splat)(0.0);
    const xv_i none = {0}, minus1 = none - 1;
    FN(stats8) a = {zero, zero, *lo, *hi, *nan, none, minus1}, b = a;
    xv_i bad_v = *bad;
    ptrdiff_t r = 0;
    for (; r + 16 <= R; r += 16) {
        /* the gathers' rows ahead, as FN(prob)'s */
        FN(prefetch_rows)(t, rs, C, r + XK_GATHER_AHEAD, 16, R, 0);
        a.sum = a.wsum = b.sum = b.wsum = zero;
        a.nnz = b.nnz = none;
        a.one = b.one = minus1;
#if !XK_WIDEN
        if (C == 2 && rs == 2) {
            xv_d a0, a1, b0, b1;
            FN(two_cols)(t, r, &a0, &a1);
            FN(two_cols)(t, r + 8, &b0, &b1);
            FN(stats_col)(&a, a0, 0, s->cw);
            FN(stats_col)(&b, b0, 0, s->cw);
            FN(stats_col)(&a, a1, 1, s->cw);
            FN(stats_col)(&b, b1, 1, s->cw);
        } else
#endif
        {
            for (ptrdiff_t c = 0; c < C; c++) {
                FN(stats_col)(&a, FN(few_col)(t, rs, r, c), c, s->cw);
                FN(stats_col)(&b, FN(few_col)(t, rs, r + 8, c), c, s->cw);
            }
        }
        FN(stats8_end)(s, &a, r, &bad_v, hot_ok);
        FN(stats8_end)(s, &b, r + 8, &bad_v, hot_ok);
    }
    *lo = XV(min)(a.lo, b.lo);
    *hi = XV(max)(a.hi, b.hi);
    *nan = a.nan | b.nan;
    *bad = bad_v;
    return r;
}

/* The total target weight of a block whose rows' (weighted) sums are in s->sums (s->wsums):
 * eight at a time in lanes, four vectors added pairwise and then to eight compensated sums
 * (the padding's lanes 0; a compensated addition per eight rows was a chain that set the pace
 * of few-class rows). */
static void FN(stats_total)(xk_stats *s)
{
    const ptrdiff_t R = s->R;
    const double *wy = s->cw ? s->wsums : s->sums, *sw = s->row_weight;
    const xv_d zero = XV(splat)(0.0);
    xv_d ts = zero, tc = zero;
    for (ptrdiff_t r0 = 0; r0 < R; r0 += 32) {
        xv_d v[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const ptrdiff_t r = r0 + 8 * k;
            const int n = R - r >= 8 ? 8 : R - r > 0 ? (int)(R - r) : 0;
            v[k] = n == 8 ? XV(load)(wy + r) : XV(load_pad)(wy + r, n, 0.0);
            if (sw) v[k] *= n == 8 ? XV(load)(sw + r) : XV(load_pad)(sw + r, n, 0.0);
        }
        FN(vkadd)(&ts, &tc, (v[0] + v[1]) + (v[2] + v[3]), NULL);
    }
    s->total = FN(lanes_sum)(ts, tc);
}

/* stats of a block of contiguous rows (rs = C, cs = 1) that is one-hot, where its one-hot
 * classes are wanted (s->hot): the block read as one run of entries, each vector's entries
 * equal to 1 the same as its nonzero ones (a NaN is not) and the k-th 1 in row k, its class
 * then hot[k]; every result what `stats` gives such a block (each row's sum 1 and weighted sum
 * cw_y exactly: its other terms are 0; lo 0, hi 1). Returns 0, the results not all written,
 * where the block is not one-hot (the caller's `stats` then takes it). For rows of few
 * classes, whose stats transpose sixteen rows at a time (stats_contig): at 10 float32 classes
 * they took 0.44 ns an entry, a sixth of the loss's, six times a read of the targets. */
#if defined(XV_X86_INTRIN) && defined(__AVX512F__) && XK_WIDEN
/* stats_one_hot's classes of at least sixteen float rows with AVX-512, without a branch per
 * 1: the positions of the 1s compressed into hot (as int32, the first half of its bytes; the
 * loop over each vector's 1s, whose count varies, was a mispredicted branch a vector), then
 * checked against their rows and widened into hot in place, from the end. */
static int FN(one_hot_classes16)(const float *t, ptrdiff_t R, ptrdiff_t C, int64_t *hot)
{
    const ptrdiff_t n = R * C;
    int32_t *pos = (int32_t *)hot; /* 2 R slots: k + 16 <= 2 R below */
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    ptrdiff_t k = 0;
    for (ptrdiff_t i = 0; i < n; i += 16) {
        const __mmask16 in = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(in, t + i);
        const __mmask16 ones = _mm512_cmp_ps_mask(v, one, _CMP_EQ_OQ);
        if (ones != _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ)) return 0; /* (NaN: not 1) */
        const int p = __builtin_popcount(ones);
        if (k + p > R) return 0;
        _mm512_storeu_si512(pos + k, _mm512_maskz_compress_epi32(
                                         ones, _mm512_add_epi32(lane, _mm512_set1_epi32((int)i))));
        k += p;
    }
    if (k != R) return 0;
    /* the k-th 1 in row k: c = pos - k C in [0, C) (unsigned) */
    __mmask16 bad = 0;
    const __m512i vC = _mm512_set1_epi32((int)C);
    for (ptrdiff_t k0 = (R - 1) & ~(ptrdiff_t)15; k0 >= 0; k0 -= 16) {
        const __mmask16 in = R - k0 >= 16 ? 0xffff : (__mmask16)((1u << (R - k0)) - 1);
        const __m512i row = _mm512_add_epi32(lane, _mm512_set1_epi32((int)k0));
        const __m512i c = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(in, pos + k0),
                                           _mm512_mullo_epi32(row, vC));
        bad |= _mm512_mask_cmpge_epu32_mask(in, c, vC);
        _mm512_mask_storeu_epi64(hot + k0, (__mmask8)in,
                                 _mm512_cvtepi32_epi64(_mm512_castsi512_si256(c)));
        _mm512_mask_storeu_epi64(hot + k0 + 8, (__mmask8)(in >> 8),
                                 _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(c, 1)));
    }
    return !bad;
}
#endif

static int FN(stats_one_hot)(xk_stats *s)
{
    const ptrdiff_t R = s->R, C = s->C, n = R * C;
    const T *t = (const T *)s->t;
#if defined(XV_X86_INTRIN) && defined(__AVX512F__) && XK_WIDEN
    if (R >= 16 && n < INT32_MAX) {
        if (!FN(one_hot_classes16)(t, R, C, s->hot)) return 0;
        goto found;
    }
#endif
#if XK_WIDEN
    const xv_s zero = XV(ssplat)(0.0f), one = XV(ssplat)(1.0f);
    const int L = 16;
#else
    const xv_d zero = XV(splat)(0.0), one = XV(splat)(1.0);
    const int L = 8;
#endif
    ptrdiff_t k = 0, row0 = 0; /* the next row and its first entry */
    for (ptrdiff_t i = 0; i < n; i += L) {
        const int m = n - i < L ? (int)(n - i) : L;
#if XK_WIDEN
        const xv_s v = m == L ? XV(sload)(t + i) : XV(sload_pad)(t + i, m, 0.0f);
        uint32_t ones = XV(smask)(XV_EQ(v, one));
        if (ones != XV(smask)(XV_NE(v, zero))) return 0;
#else
        const xv_d v = m == L ? XV(load)(t + i) : XV(load_pad)(t + i, m, 0.0);
        uint32_t ones = (uint32_t)XV(mask)(XV_EQ(v, one));
        if (ones != (uint32_t)XV(mask)(XV_NE(v, zero))) return 0;
#endif
        for (; ones; ones &= ones - 1, k++, row0 += C) {
            const ptrdiff_t c = i + __builtin_ctz(ones) - row0;
            if (c < 0 || c >= C) return 0; /* a second 1 in row k - 1, or none in row k */
            s->hot[k] = c;
        }
    }
    if (k != R) return 0;
#if defined(XV_X86_INTRIN) && defined(__AVX512F__) && XK_WIDEN
found:
#endif
    for (ptrdiff_t r = 0; r < R; r++) {
        s->sums[r] = 1.0;
        if (s->cw) s->wsums[r] = s->cw[s->hot[r]];
    }
    s->lo = R ? C > 1 ? 0.0 : 1.0 : HUGE_VAL; /* (one class: no 0) */
    s->hi = R ? 1.0 : -HUGE_VAL;
    s->nan = s->bad_sum = 0;
    s->all_hot = R > 0;
    FN(stats_total)(s);
    return 1;
}

/* xk_stats of a block (kernels.h): rows with unit class stride eight entries at a time in
 * lanes added in a fixed order (rows of at most 16 classes sixteen rows at a time), other
 * layouts entry by entry. */
XK_ENTRY void FN(stats)(xk_stats *s)
{
    const ptrdiff_t R = s->R, C = s->C, rs = s->rs, cs = s->cs;
    const T *t = (const T *)s->t;
    const double *cw = s->cw;
    if (s->hot && cs == 1 && rs == C && C <= 16 && FN(stats_one_hot)(s)) return;
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    int nan = 0, bad = 0, zero = 0; /* zero: entries of 0 left out of lo and hi */
    if (rs == 1 && cs != 1) { /* class-major: runs of rows are contiguous */
        for (ptrdiff_t r = 0; r < R; r++) {
            s->sums[r] = 0.0;
            if (cw) s->wsums[r] = 0.0;
            if (s->hot) s->hot[r] = -1;
        }
        for (ptrdiff_t c = 0; c < C; c++) {
            const T *col = t + c * cs;
            for (ptrdiff_t r = 0; r < R; r++) {
                double v = (double)col[r];
                s->sums[r] += v;
                if (cw) s->wsums[r] += cw[c] * v;
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
                nan |= v != v;
                if (s->hot && v != 0.0) s->hot[r] = v == 1.0 && s->hot[r] == -1 ? c : -2;
            }
        }
        for (ptrdiff_t r = 0; r < R; r++) bad |= fabs(s->sums[r] - 1.0) > s->rtol;
    }
    /* row by row (after the groups of sixteen of few-class rows); once a row is not one-hot,
       the block is not: the rows after it are not looked at for it (hot left as it is) */
    ptrdiff_t r0 = 0;
    int want_hot = s->hot != NULL;
    if (cs == 1 && C <= 16) {
        xv_d vlo = XV(splat)(HUGE_VAL), vhi = XV(splat)(-HUGE_VAL);
        xv_i vnan = {0}, vbad = {0};
#if XK_WIDEN
        if (s->rs == C) r0 = FN(stats_contig)(s, &vlo, &vhi, &vnan, &vbad, &want_hot);
        else
#endif
            r0 = FN(stats_few)(s, &vlo, &vhi, &vnan, &vbad, &want_hot);
        for (int l = 0; l < 8; l++) {
            lo = vlo[l] < lo ? vlo[l] : lo;
            hi = vhi[l] > hi ? vhi[l] : hi;
        }
        nan |= XV(any)(vnan);
        bad |= XV(any)(vbad);
    }
#if XK_WIDEN
    /* the least and greatest entries of float rows of 16 or more classes, lane by lane over
       the block's rows (reduced once, after them) */
    xv_s mn0 = XV(ssplat)(HUGE_VALF), mn1 = mn0, mx0 = XV(ssplat)(-HUGE_VALF), mx1 = mx0;
#endif
    for (ptrdiff_t r = r0; r < R && !(rs == 1 && cs != 1); r++) {
        const T *row = t + r * rs;
        double sum = 0.0, wsum = 0.0;
        int64_t hot = want_hot ? -1 : -2; /* as s->hot, once the row is read */
        ptrdiff_t c = 0;
#if XK_WIDEN
        if (cs == 1 && C >= 16) {
            /* thirty-two float lanes at a time in two vectors, so that no chain of additions or
               comparisons sets the pace (the pass runs at the speed of reading the targets);
               the sums in double. A NaN entry makes the row's sum NaN, which sets nan below.
               The last entries (fewer than sixteen) by masked loads, padded with 0 (for the
               sums and the one-hot test) or with +-inf (for the least and greatest entry). */
            const xv_d dz = XV(splat)(0.0);
            xv_d a0 = dz, a1 = dz, w0 = dz, w1 = dz;
            const xv_s sz = XV(ssplat)(0.0f);
            for (; c + 16 <= C; c += 32) {
                const int two = c + 32 <= C;
                __builtin_prefetch(row + c + 512, 0, 3); /* 2 KiB ahead: into the next row */
                __builtin_prefetch(row + c + 528, 0, 3);
                const xv_s v0 = XV(sload)(row + c), v1 = two ? XV(sload)(row + c + 16) : sz;
                /* while the row may be one-hot: its nonzero entries (NaN among them), by the
                   bits of a mask; without any, the entries add nothing to the sums and leave
                   the least and greatest entry but for their 0 (zero, added after the rows):
                   a one-hot row's zeros are read, not widened and added (at 1,000 float32
                   classes the pass took 0.6x the time) */
                uint64_t nz = 0;
                if (hot != -2) {
                    nz = (uint64_t)XV(smask)(XV_NE(v0, sz)) |
                         (uint64_t)XV(smask)(XV_NE(v1, sz)) << 16;
                    if (!nz) {
                        zero = 1;
                        if (!two) c -= 16;
                        continue;
                    }
                }
                a0 += XV(swiden_lo)(v0) + XV(swiden_hi)(v0);
                a1 += XV(swiden_lo)(v1) + XV(swiden_hi)(v1);
                if (cw) {
                    w0 += XV(load)(cw + c) * XV(swiden_lo)(v0) +
                          XV(load)(cw + c + 8) * XV(swiden_hi)(v0);
                    if (two)
                        w1 += XV(load)(cw + c + 16) * XV(swiden_lo)(v1) +
                              XV(load)(cw + c + 24) * XV(swiden_hi)(v1);
                }
                /* one least and one greatest vector (exact, in any order: two of each, with
                   the sums' four, had filled AVX2's registers) */
                mn0 = XV(smin)(v0, mn0);
                mx0 = XV(smax)(v0, mx0);
                if (two) {
                    mn0 = XV(smin)(v1, mn0);
                    mx0 = XV(smax)(v1, mx0);
                }
                if (nz) { /* (0 once the row is not one-hot) */
                    const int l = __builtin_ctzll(nz);
                    const float e = l < 16 ? v0[l] : v1[l - 16];
                    hot = hot == -1 && (nz & (nz - 1)) == 0 && e == 1.0f ? c + l : -2;
                }
                if (!two) c -= 16; /* one vector done: the loop's step leaves c at c + 16 */
            }
            if (c < C) {
                const int n = (int)(C - c);
                const xv_s v = XV(sload_pad)(row + c, n, 0.0f);
                a1 += XV(swiden_lo)(v) + XV(swiden_hi)(v);
                if (cw)
                    w1 += XV(load_pad)(cw + c, n < 8 ? n : 8, 0.0) * XV(swiden_lo)(v) +
                          XV(load_pad)(cw + c + 8, n < 8 ? 0 : n - 8, 0.0) * XV(swiden_hi)(v);
                mn1 = XV(smin)(XV(sload_pad)(row + c, n, HUGE_VALF), mn1);
                mx1 = XV(smax)(XV(sload_pad)(row + c, n, -HUGE_VALF), mx1);
                const uint64_t nz = (uint64_t)XV(smask)(XV_NE(v, sz));
                if (hot != -2 && nz) {
                    const int l = __builtin_ctzll(nz);
                    hot = hot == -1 && (nz & (nz - 1)) == 0 && v[l] == 1.0f ? c + l : -2;
                }
                c = C;
            }
            const xv_d a = a0 + a1, w = w0 + w1;
            sum = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
            wsum = ((w[0] + w[1]) + (w[2] + w[3])) + ((w[4] + w[5]) + (w[6] + w[7]));
        }
#endif
        if (cs == 1 && C - c >= 8) {
            xv_d a = XV(splat)(0.0), w = a, mn = XV(splat)(HUGE_VAL), mx = XV(splat)(-HUGE_VAL);
            xv_i nn = {0};
            for (; c + 8 <= C; c += 8) {
                __builtin_prefetch(row + c + 2048 / sizeof(T), 0, 3); /* as above */
#if XK_WIDEN
                xv_d v = XV(load_f)(row + c);
#else
                xv_d v = XV(load)(row + c);
#endif
                /* a one-hot row's zeros: read alone (see above) */
                const int nz = hot != -2 && XV(any)(XV_NE(v, 0.0));
                if (hot != -2 && !nz) {
                    zero = 1;
                    continue;
                }
                a += v;
                if (cw) w += XV(load)(cw + c) * v;
                mn = XV(sel)(XV_LT(v, mn), v, mn);
                mx = XV(sel)(XV_GT(v, mx), v, mx);
                nn |= XV_NE(v, v);
                /* the lanes one by one only while the row may be one-hot */
                if (nz)
                    for (int l = 0; l < 8 && hot != -2; l++)
                        if (v[l] != 0.0) hot = v[l] == 1.0 && hot == -1 ? c + l : -2;
            }
            sum += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
            wsum += ((w[0] + w[1]) + (w[2] + w[3])) + ((w[4] + w[5]) + (w[6] + w[7]));
            for (int l = 0; l < 8; l++) {
                lo = mn[l] < lo ? mn[l] : lo;
                hi = mx[l] > hi ? mx[l] : hi;
            }
            nan |= XV(any)(nn);
        }
        for (; c < C; c++) { /* without branches: few-class rows have their 1 anywhere */
            double v = (double)row[c * cs];
            sum += v;
            if (cw) wsum += cw[c] * v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            nan |= v != v;
            const int64_t nz = -(int64_t)(v != 0.0);
            const int64_t first = -(int64_t)(v == 1.0 && hot == -1);
            hot = (((c & first) | (-2 & ~first)) & nz) | (hot & ~nz);
        }
        bad |= fabs(sum - 1.0) > s->rtol;
        nan |= sum != sum;
        s->sums[r] = sum;
        if (cw) s->wsums[r] = wsum;
        if (want_hot) {
            s->hot[r] = hot;
            want_hot = hot >= 0;
        }
    }
#if XK_WIDEN
    mn0 = XV(smin)(mn1, mn0);
    mx0 = XV(smax)(mx1, mx0);
    for (int l = 0; l < 16; l++) {
        lo = mn0[l] < lo ? mn0[l] : lo;
        hi = mx0[l] > hi ? mx0[l] : hi;
    }
#endif
    if (zero) {
        lo = 0.0 < lo ? 0.0 : lo;
        hi = 0.0 > hi ? 0.0 : hi;
    }
    s->lo = lo;
    s->hi = hi;
    s->nan = nan;
    s->bad_sum = bad;
    s->all_hot = s->hot != NULL && R > 0 && want_hot;
    if (s->all_hot && rs == 1 && cs != 1) /* class-major: every row's class was written */
        for (ptrdiff_t r = 0; r < R && s->all_hot; r++) s->all_hot = s->hot[r] >= 0;
    FN(stats_total)(s);
}

#undef XK_EXP_OUT
#undef XK_LOG1P_OUT
#undef XK_LOG_OUT
