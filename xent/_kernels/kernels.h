/* The compiled kernels of xent: one call computes one block of rows.
 *
 * A block is R rows of C classes, element (r, c) of an array at p[r * rs + c * cs] (strides in
 * elements). Every array of a call has either cs == 1 ("row-major": rows are contiguous) or
 * rs == 1 ("class-major": the class axis is not the last one, and runs of rows are contiguous).
 * The Python driver guarantees it, copying a block only when it is neither.
 *
 * A kernel reads its inputs, writes only its own outputs (the per-row values and the output
 * block), and returns what it accumulated in the xk_block: nothing is shared between calls, so
 * the engine's threads may run blocks in any order and results do not depend on it.
 *
 * Arithmetic is IEEE double, but for the exp pass of float32 rows (body.h row_pass_s), where
 * exp(x - m) is computed in float on sixteen lanes to 0.56 ulp of float (it is stored as float
 * anyway) and added up in double; compiled with -ffp-contract=off and without -ffast-math, so
 * that every SIMD variant gives the same bits (every variant that fuses its multiply-adds: the
 * x86-64 baseline, for CPUs without FMA, rounds them twice; xmath.h XM_FUSED).
 */
#ifndef XENT_KERNELS_H
#define XENT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum xk_mode {
    XK_LSE = 0,         /* row_out = logsumexp */
    XK_SOFTMAX = 1,     /* out = softmax */
    XK_LOG_SOFTMAX = 2, /* out = log_softmax */
    XK_SPARSE = 3,      /* sparse cross-entropy (labels), loss per row, gradient in out */
    XK_CATEGORICAL = 4, /* categorical cross-entropy (targets t), loss per row, gradient in out */
    XK_STATE = 5        /* the softmax state of each row of one chunk of its classes, for rows
                           streamed chunk by chunk: state[XK_STATE_LEN r + k] = m (k = 0), sb (1),
                           nt (2), vs (3, with eps > 0); row-major rows of more than XK_SMALL_C
                           classes only (state_merge, state_finish below) */
};

/* Doubles per row of a streamed state: m, sb, nt, vs (see FN(state) in body.h), and x_y. */
#define XK_STATE_LEN 5

/* The KL divergence's rows of at most this many classes go eight rows at a time (kl.h: the
 * lanes are rows, ten arrays of eight rows' classes in its scratch); longer rows one at a
 * time (twelve arrays of a row's classes). A row alone has a fixed cost (its maxima, logs
 * and sums' ends: about 200 ns at one thread on an Intel Xeon), eight rows share theirs: with
 * 16 here, 17 classes of float32 logits took 3.5x the time of 16 (and of PyTorch). Intel Xeon,
 * one thread, float32 logits on both sides, against 16: 17-64 classes 0.28-0.69x the time of
 * the forward pass and 0.30-0.71x with the gradient, 128 classes 0.95x both; at 160 1.05x and
 * 1.01x. The AVX2 variant: 17 classes 0.44x and 0.33x, 64 classes 1.05x and 0.68x, 128 classes
 * 1.26x and 0.75x. */
#define XK_KL_TILE_C 128

struct xk_stats;

typedef struct {
    /* shape */
    ptrdiff_t R, C;
    /* logits or probabilities (float or double, as the kernel's type) */
    const void *x;
    ptrdiff_t x_rs, x_cs;
    /* targets of the categorical loss, the type of x, or NULL */
    const void *t;
    ptrdiff_t t_rs, t_cs;
    /* output block (softmax, log_softmax or gradient), the type of x, or NULL; a sparse
     * gradient of row-major rows of more than XK_SMALL_C classes without focal loss may be
     * written over x itself (out == x, the same strides: a tile copies its rows before it
     * writes them) */
    void *out;
    ptrdiff_t o_rs, o_cs;
    /* per row: class ids (sparse; ignored rows have weight 0 and any id), weights (NULL: 1) */
    const int64_t *labels;
    const double *row_weight;
    /* per class: weights (NULL: 1) and sum_{k != c} weight_k (needed with a gradient) */
    const double *cw;
    const double *cw_others;
    double cw_sum;
    double eps;          /* label smoothing */
    double grad_div;     /* the gradient of the weighted sum is divided by it */
    /* per row output: the weighted loss, or the logsumexp (NULL: not wanted) */
    double *row_out;
    /* results */
    double loss_sum;     /* sum of the weighted per-row losses, in row order */
    double loss_sum_small; /* the same sum of the losses times XK_SMALL: finite where it overflows */
    /* working memory of at least xk_scratch_len(C) doubles */
    double *scratch;
    /* z-loss (from logits): each row adds z * logsumexp^2, times its row weight (0: none) */
    double z;
    /* focal loss: the exponent gamma of the factor (1 - p_c)^gamma (0: plain cross-entropy) */
    double gamma;
    /* XK_STATE_LEN doubles per row: written by XK_STATE, read by the state functions */
    double *state;
    /* the next block's targets in a span (row-major, contiguous): pf_lines cache lines from
       pf that the exp passes of this block's rows prefetch into L2, spread over the rows, so
       that the next block's check finds them there instead of waiting on memory (NULL:
       none) */
    const char *pf;
    ptrdiff_t pf_lines;
    /* the check of the targets (categorical, from logits), done by the kernel as it reads them
       where xk_two_pairs or xk_tile_check holds: its results as `stats` gives them, but
       all_hot 0 (one-hot rows are not looked for) and no per-row sums, in the struct, whose
       rtol is read; NULL: not wanted */
    struct xk_stats *check;
    /* > 0: the sparse loss's class ids (labels) are checked against [0, id_limit) before the
       kernel reads them (a tile of rows at a time, while they stay in cache: no pass of their
       own); a bad one sets ids_bad and ends the call, whose results are then not wanted */
    int64_t id_limit;
    int ids_bad;
    /* with check, where xk_hot_rows holds (forward, without smoothing or focal loss): each
       row's exp pass is the sparse loss's, which looks at the targets for a one-hot row (one
       entry exactly 1, the others 0) as it reads the logits; a one-hot row's weighted sums
       come from its class, and from the first row that is not, the rows take the weighted
       sums' pass (body.h rows_values, pass_hot_L). Set where the block's first row is
       one-hot. */
    int hot_scan;
} xk_block;

/* Whether a block of two classes takes the unweighted two-class loop (body.h tile2_plain):
 * sparse rows with labels, or categorical rows with targets, without class or row weights or
 * smoothing; categorical rows without per-row output (whose one-hot rows then run as the
 * sparse loss's, the same values to the sign of a NaN). */
static inline int xk_two_plain(const xk_block *b, int mode)
{
    if (b->cw || b->row_weight || b->eps != 0.0) return 0;
    if (b->row_out && mode == XK_CATEGORICAL) return 0;
    return (mode == XK_SPARSE && b->labels) || (mode == XK_CATEGORICAL && b->t);
}

/* Whether every array of a block is rows of two contiguous entries, more than one of them:
 * the two-class loops read (and write) them in place, as pairs. */
static inline int xk_pair_rows(const xk_block *b)
{
    return b->C == 2 && b->R > 1 && b->x_rs == 2 && b->x_cs == 1 &&
           (!b->out || (b->o_rs == 2 && b->o_cs == 1)) &&
           (!b->t || (b->t_rs == 2 && b->t_cs == 1));
}

/* Whether tile2_plain reads (and writes) the block in place (xk_pair_rows). */
static inline int xk_two_pairs(const xk_block *b, int mode)
{
    return xk_pair_rows(b) && xk_two_plain(b, mode);
}

/* Whether body.h tile2_out reads (and writes) the block in place (xk_pair_rows): logsumexp,
 * and softmax and log_softmax into their output. */
static inline int xk_two_out_pairs(const xk_block *b, int mode)
{
    return xk_pair_rows(b) && (mode == XK_LSE || ((mode == XK_SOFTMAX || mode == XK_LOG_SOFTMAX)
                                                  && b->out));
}

typedef struct {
    ptrdiff_t n;
    const void *x;       /* logits or probabilities, the kernel's type, contiguous */
    const void *y;       /* labels in [0, 1], contiguous: float (y_float) or double */
    int y_float;
    const double *pw;    /* pos_weight per element, or NULL */
    const double *sw;    /* sample weight per element, or NULL */
    void *grad;          /* the gradient, the type of x, or NULL */
    double *loss_out;    /* per-element weighted loss, or NULL */
    double eps, grad_div;
    int from_logits;
    double loss_sum, loss_sum_small;
    /* focal loss: l = alpha_t (1 - p_t)^gamma bce (gamma = 0 and alpha < 0: plain) */
    double gamma, alpha;
    /* results of the checks: the least and greatest label and (from probabilities) x, NaN
       skipped (+inf and -inf when there is none), and whether a label is NaN */
    double y_lo, y_hi, x_lo, x_hi;
    int y_nan;
} xk_binary;

/* What the checks of target distributions (and of probabilities) need, per block: per row
 * sum_c t_c and sum_c cw_c t_c in double, and the least and greatest entry and whether one is
 * NaN; whether each row is one-hot (hot: its class, or a negative number); the block's total
 * target weight. Any strides. */
typedef struct xk_stats {
    ptrdiff_t R, C;
    const void *t;       /* the kernel's type */
    ptrdiff_t rs, cs;
    const double *cw;    /* class weights, or NULL: then wsums is not written */
    double *sums, *wsums;
    /* per row (NULL: not wanted): the class of its only nonzero entry if that entry is exactly
       1, else negative (-1: no nonzero entry, -2: another), written up to the first row that
       is not one-hot (rows of few classes: up to its group of eight), the rest left as they
       are: every row is one-hot where no entry up to the first negative one is negative */
    int64_t *hot;
    double rtol;         /* a row sum further than this from 1 sets bad_sum (NaN does not) */
    const double *row_weight; /* per row, or NULL: 1 */
    double lo, hi;       /* NaN skipped; +inf and -inf for a block of NaN */
    int nan, bad_sum;
    int all_hot;         /* with hot: whether every row is one-hot (0 for no row) */
    /* the block's total target weight sum_r row_weight_r (w)sums_r: eight compensated sums
       (row r in sum r mod 8, four groups of eight rows added pairwise first) added in order */
    double total;
} xk_stats;

/* The KL divergence of one block (kl.h): R rows of C classes of targets p and predictions q,
 * each logits (divided by temperature) or probabilities; element (r, c) at [r * rs + c * cs]. */
typedef struct {
    ptrdiff_t R, C;
    const void *p;       /* targets: teacher logits or probabilities, the kernel's type */
    ptrdiff_t p_rs, p_cs;
    const void *q;       /* predictions: student logits or probabilities, the same type */
    ptrdiff_t q_rs, q_cs;
    void *grad;          /* d loss / d q, the same type, or NULL */
    ptrdiff_t g_rs, g_cs;
    const double *row_weight; /* per row (NULL: 1) */
    double *row_out;     /* per row: the weighted loss, or NULL */
    double temperature, grad_div;
    int p_logits, q_logits;
    double *scratch;     /* max(10 (C rounded up to 8), 80 C) doubles */
    double loss_sum, loss_sum_small;
    int p_nan;           /* out: some target logit (of any row, weighted 0 too) is NaN */
} xk_kl;

/* A sum of finite losses can overflow where their mean does not: kernels also return the sum of
 * the losses scaled by this power of two (exact), from which the mean is still finite. */
#define XK_SMALL 0x1p-64

/* A block's sum of weighted per-row losses on eight lanes (row r on lane r % 8, or vectors of
 * eight rows), s with Kahan's compensation c, so that the sum of a block of any length stays
 * within a few ulp (plain lane sums of 300,000 equal losses were 750 ulp off); small, the
 * values times XK_SMALL in plain sums, read only where a block's own sum overflows. body.h:
 * sum_add, vsum_*, sum_result. */
typedef struct {
    double s[8], c[8], small[8];
} xk_sum;

/* Rows of a class-major tile: per-row state arrays hold this many. */
#define XK_TILE 256
/* Row-major rows with at most this many classes are processed in class-major tiles; float rows
 * without focal loss up to XK_TILE_C_MAX (a row's fixed costs, its maximum's and exp pass's
 * set-up and the sums' reductions, weigh more than the transposes there: 24 classes, float32,
 * forward 4.0 -> 2.1 ns per entry, gradient 7.3 -> 5.1 on a Zen 4; on a Zen 3 (AVX2) tiles
 * took 0.52x / 0.63x the time at 33 classes, 0.71x / 0.89x at 48, and at 64 the forward 0.86x
 * but the gradient and softmax 1.06-1.09x; on a Zen 1 (AVX2), tiles of 64 and 100 classes took
 * 1.10-1.14x the rows' time forward and 1.24-1.36x with the gradient or softmax). One threshold
 * for the loss with and without its gradient, so that the loss has the same bits either way. */
#define XK_SMALL_C 16
#define XK_TILE_C_MAX 48
/* The entries of a float row's run of plain sums before a compensated addition (see body.h);
 * also the most classes of a float tile whose focal loss takes the focal sums (tile_pass_s). */
#define XK_RUN 1024

/* body.h softmax's layouts of a block: every array row-major (unit class stride), or every one
 * class-major (unit row stride; one row is both). */
static inline int xk_row_major(const xk_block *b)
{
    return b->x_cs == 1 && (!b->out || b->o_cs == 1) && (!b->t || b->t_cs == 1);
}

static inline int xk_class_major(const xk_block *b)
{
    return b->R == 1 || (b->x_rs == 1 && (!b->out || b->o_rs == 1) && (!b->t || b->t_rs == 1));
}

/* The most classes of the row-major rows that body.h softmax takes in tiles (float: float32
 * rows). */
static inline ptrdiff_t xk_tile_c(const xk_block *b, int is_float)
{
    return is_float && b->gamma == 0.0 ? XK_TILE_C_MAX : XK_SMALL_C;
}

/* Whether body.h softmax transposes the categorical loss's targets into its tiles (rows of
 * few classes, neither class-major nor xk_two_pairs's): it then checks them from the tiles
 * where b->check asks for it, as tile2_plain does for xk_two_pairs. */
static inline int xk_tile_check(const xk_block *b, int mode, int is_float)
{
    /* (rows of fewer than 16 classes: `stats` adds each row's entries in class order there, as
       the tiles' lanes do, but for a block's last R % 16 rows of 8-15 classes, which
       tile_check adds in stats's order too; float rows of 16-48 classes of unit class stride
       (row-major above 16): stats adds them sixteen entries at a time but for its groups of
       sixteen rows of sixteen classes, in class order, and tile_check the same, tile_sums16) */
    const int few = b->C < XK_SMALL_C ||
                    (is_float && b->t_cs == 1 && (b->C == XK_SMALL_C || xk_row_major(b)));
    return mode == XK_CATEGORICAL && b->t && few && !xk_two_pairs(b, mode) &&
           !xk_class_major(b) && !(xk_row_major(b) && b->C > xk_tile_c(b, is_float));
}

/* Whether body.h rows checks the categorical loss's targets in its weighted sums' pass (or
 * the focal sums' pass: the forward focal loss, gamma = 1-4) where b->check asks for it (float
 * rows of more classes than tiles take, read in place, from logits the caller says, without
 * class weights or another focal loss, the gradient not written over the logits): each row's
 * sum in `stats`'s order, the same total. */
static inline int xk_row_check(const xk_block *b, int mode, int is_float)
{
    const double g = b->gamma;
    const int focal_sums = b->out == NULL && (g == 1.0 || g == 2.0 || g == 3.0 || g == 4.0);
    return mode == XK_CATEGORICAL && b->t && is_float && b->cw == NULL &&
           (g == 0.0 || focal_sums) && xk_row_major(b) && b->C > xk_tile_c(b, is_float) &&
           (const void *)b->out != b->x;
}

/* Whether a block whose first row is one-hot takes xk_block.hot_scan: rows that their passes
 * check (xk_row_check), forward, without smoothing or focal loss. */
static inline int xk_hot_rows(const xk_block *b, int mode, int is_float)
{
    return xk_row_check(b, mode, is_float) && b->out == NULL && b->eps == 0.0 && b->gamma == 0.0;
}

/* Whether the row of C entries at t (stride cs, float or double) is one-hot: a single nonzero
 * entry, 1. */
static inline int xk_row_one_hot(const void *t, ptrdiff_t cs, ptrdiff_t C, int is_float)
{
    int ones = 0;
    for (ptrdiff_t c = 0; c < C; c++) {
        const double v =
            is_float ? (double)((const float *)t)[c * cs] : ((const double *)t)[c * cs];
        if (v != 0.0 && (v != 1.0 || ++ones > 1)) return 0;
    }
    return ones == 1;
}

ptrdiff_t xk_scratch_len(ptrdiff_t C);

/* The counters and flags of a job whose blocks its threads share (_core.pyx SharedBlocks):
 * xk_take hands out the next block number, xk_count_up counts a block done (its results
 * written before), xk_count reads a counter or flag (what was written before its count is
 * there to read after it), xk_set raises a flag (a block stopped the job, the lead has the GIL
 * back). */

/* A thread waiting for the others spins this many times (a pause each: some 0.1 ms), then
 * gives its core away at each turn (xk_pause): more threads than cores would otherwise spin
 * where the ones they wait for could run. */
#define XK_SPINS_BEFORE_YIELD 4096
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
static inline int64_t xk_take(int64_t *c) { return _InterlockedExchangeAdd64((volatile long long *)c, 1); }
static inline void xk_count_up(int64_t *c) { _InterlockedExchangeAdd64((volatile long long *)c, 1); }
static inline int64_t xk_count(int64_t *c) { return _InterlockedOr64((volatile long long *)c, 0); }
static inline void xk_set(int64_t *flag) { _InterlockedExchange64((volatile long long *)flag, 1); }
static inline void xk_pause(int64_t spins)
{
    if (spins < XK_SPINS_BEFORE_YIELD) _mm_pause();
    else SwitchToThread();
}
#else
#include <sched.h>
static inline int64_t xk_take(int64_t *c) { return __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }
static inline void xk_count_up(int64_t *c) { __atomic_fetch_add(c, 1, __ATOMIC_RELEASE); }
static inline int64_t xk_count(int64_t *c) { return __atomic_load_n(c, __ATOMIC_ACQUIRE); }
static inline void xk_set(int64_t *flag) { __atomic_store_n(flag, 1, __ATOMIC_RELEASE); }
static inline void xk_pause(int64_t spins)
{
    if (spins >= XK_SPINS_BEFORE_YIELD) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
#endif

typedef void (*xk_softmax_fn)(xk_block *b, int mode);
typedef void (*xk_prob_fn)(xk_block *b, int mode);
typedef void (*xk_binary_fn)(xk_binary *b);
typedef void (*xk_softplus_fn)(const void *x, void *out, ptrdiff_t n, int negate);
typedef void (*xk_stats_fn)(xk_stats *s);
typedef void (*xk_kl_fn)(xk_kl *b);

/* x86-64 builds with GCC or Clang compile the AVX-512 and AVX2 variants besides the baseline. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(XK_PORTABLE_ONLY)
#define XK_X86 1
#endif

typedef struct {
    const char *name;
    int fused;                  /* whether its multiply-adds are fused (XM_FUSED, xmath.h) */
    int registers;              /* whether its 64-byte vectors live in registers (xvec.h
                                   XV_IN_REGISTERS) */
    xk_softmax_fn softmax[2];   /* [0] float, [1] double */
    xk_prob_fn prob[2];
    xk_binary_fn binary[2];
    xk_softplus_fn softplus[2];
    xk_stats_fn stats[2];
    xk_kl_fn kl[2];
    /* rows streamed by chunks of classes (XK_STATE): a chunk's states merged into the states
       so far (their classes' weight sums w_acc and w_chunk; vs with smooth), then the sparse
       loss of each row from its state and x_y (state[XK_STATE_LEN r + 4]), as softmax[] gives
       it (b->C the row's whole class count; no gradient, no focal loss) */
    void (*state_merge)(ptrdiff_t R, double *acc, const double *chunk, double w_acc,
                        double w_chunk, int smooth);
    void (*state_finish)(xk_block *b);
    /* exp (fn 0), log (1), log1p (2), ...: see instance.h math_array */
    void (*math_array)(int fn, const double *x, double *y, ptrdiff_t n, int vector);
    /* the least and greatest of n int64 class ids (int32 with is32) other than skip (where
       use_skip), and their count (instance.h) */
    void (*id_range)(const void *y, int is32, ptrdiff_t n, int64_t skip, int use_skip,
                     int64_t *lo, int64_t *hi, ptrdiff_t *count);
} xk_variant;

/* The variants compiled into this build, best first, and which of them this CPU can run. */
int xk_n_variants(void);
const xk_variant *xk_get_variant(int i);
int xk_variant_supported(int i);

/* Elementwise math, exposed for the tests of its accuracy. */
void xk_math_array(int fn, const double *x, double *y, ptrdiff_t n, int variant, int vector);

#ifdef __cplusplus
}
#endif
#endif
