# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Python entry points of the compiled kernels (kernels.c), one call per block.

Each function checks the dtypes and layouts it is handed (cheap, per block), then calls the C
kernel of the selected SIMD variant with the GIL released, so the engine's threads run blocks
in parallel. The callers (xent._softmax, xent._binary, xent._primitives) guarantee the layouts:
every 2-D block has unit stride along its classes (row-major) or along its rows (class-major).
"""

import os

import numpy as np
from math import fsum

cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.math cimport INFINITY, NAN, copysign, isfinite, isinf
from libc.stdlib cimport free, malloc, calloc
from libc.string cimport memcpy, memset

cnp.import_array()

cdef extern from "pool.h":
    ctypedef void (*xk_pool_fn)(void *job) noexcept nogil
    int xk_pool_supported() nogil
    void xk_pool_helper(int64_t index) nogil
    int xk_pool_post(xk_pool_fn fn, void *job, int64_t helpers) nogil
    void xk_pool_finish() nogil
    void xk_pool_reset() nogil


cdef extern from "numpy/arrayobject.h":
    object PyArray_Scalar(void *data, cnp.dtype descr, object base)

cdef extern from "kernels.h":
    double XK_SMALL
    int XK_STATE_LEN
    int XK_KL_TILE_C
    ctypedef struct xk_stats:
        Py_ssize_t R, C
        const void *t
        Py_ssize_t rs, cs
        const double *cw
        double *sums
        double *wsums
        int64_t *hot
        double rtol
        const double *row_weight
        double lo, hi
        int nan, bad_sum
        int all_hot
        double total
    ctypedef struct xk_block:
        Py_ssize_t R, C
        const void *x
        Py_ssize_t x_rs, x_cs
        const void *t
        Py_ssize_t t_rs, t_cs
        void *out
        Py_ssize_t o_rs, o_cs
        const int64_t *labels
        const double *row_weight
        const double *cw
        const double *cw_others
        double cw_sum
        double eps
        double grad_div
        double *row_out
        double loss_sum
        double loss_sum_small
        double *scratch
        double z
        double gamma
        double *state
        const char *pf
        Py_ssize_t pf_lines
        xk_stats *check
        int64_t id_limit
        int ids_bad
        int hot_scan

    ctypedef struct xk_binary:
        Py_ssize_t n
        const void *x
        const void *y
        int y_float
        const double *pw
        const double *sw
        void *grad
        double *loss_out
        double eps, grad_div
        int from_logits
        double loss_sum, loss_sum_small
        double gamma, alpha
        double y_lo, y_hi, x_lo, x_hi
        int y_nan

    ctypedef struct xk_kl:
        Py_ssize_t R, C
        const void *p
        Py_ssize_t p_rs, p_cs
        const void *q
        Py_ssize_t q_rs, q_cs
        void *grad
        Py_ssize_t g_rs, g_cs
        const double *row_weight
        double *row_out
        double temperature, grad_div
        int p_logits, q_logits
        double *scratch
        double loss_sum, loss_sum_small
        int p_nan

    ctypedef void (*xk_softmax_fn)(xk_block *b, int mode) noexcept nogil
    ctypedef void (*xk_prob_fn)(xk_block *b, int mode) noexcept nogil
    ctypedef void (*xk_binary_fn)(xk_binary *b) noexcept nogil
    ctypedef void (*xk_softplus_fn)(const void *x, void *out, Py_ssize_t n, int negate) noexcept nogil
    ctypedef void (*xk_stats_fn)(xk_stats *s) noexcept nogil
    ctypedef void (*xk_kl_fn)(xk_kl *b) noexcept nogil

    ctypedef struct xk_variant:
        const char *name
        int fused
        int registers
        xk_softmax_fn softmax[2]
        xk_prob_fn prob[2]
        xk_binary_fn binary[2]
        xk_softplus_fn softplus[2]
        xk_stats_fn stats[2]
        xk_kl_fn kl[2]
        void (*state_merge)(Py_ssize_t R, double *acc, const double *chunk, double w_acc,
                            double w_chunk, int smooth) noexcept nogil
        void (*state_finish)(xk_block *b) noexcept nogil
        void (*id_range)(const void *y, int is32, Py_ssize_t n, int64_t skip, int use_skip,
                         int64_t *lo, int64_t *hi, Py_ssize_t *count) noexcept nogil

    int xk_two_plain(const xk_block *b, int mode) nogil
    int xk_two_pairs(const xk_block *b, int mode) nogil
    int xk_tile_check(const xk_block *b, int mode, int is_float) nogil
    int xk_row_check(const xk_block *b, int mode, int is_float) nogil
    int xk_hot_rows(const xk_block *b, int mode, int is_float) nogil
    int xk_row_one_hot(const void *t, Py_ssize_t cs, Py_ssize_t C, int is_float) nogil
    Py_ssize_t xk_scratch_len(Py_ssize_t C) nogil
    int64_t xk_take(int64_t *c) nogil
    void xk_count_up(int64_t *c) nogil
    int64_t xk_count(int64_t *c) nogil
    void xk_set(int64_t *flag) nogil
    void xk_pause(int64_t spins) nogil
    int xk_n_variants() nogil
    const xk_variant *xk_get_variant(int i) nogil
    int xk_variant_supported(int i) nogil
    void xk_math_array(int fn, const double *x, double *y, Py_ssize_t n, int variant,
                       int vector) nogil

#: Modes of `softmax_block`, as in kernels.h.
LSE, SOFTMAX, LOG_SOFTMAX, SPARSE, CATEGORICAL, STATE = 0, 1, 2, 3, 4, 5
#: Doubles per row of a streamed softmax state (mode STATE): m, sb, nt, vs, x_y.
STATE_LEN = XK_STATE_LEN
#: The scale of the second sum the kernels return.
SMALL = XK_SMALL
cdef int SPARSE_MODE = SPARSE, LSE_MODE = LSE, CATEGORICAL_MODE = CATEGORICAL

cdef int _current = -1

#: Kernel calls on fewer entries than this (about a microsecond of kernel) keep the GIL:
#: releasing and taking it back, about 0.2 us, would be a fifth of such a call (NumPy's loops
#: draw the same kind of line, at 500 elements). Larger blocks release it, so that the
#: engine's threads (and the caller's) run in parallel.
cdef Py_ssize_t GIL_FREE_MIN = 1024


def variants():
    """The SIMD variants of this build, best first, each with whether this CPU runs it."""
    return [(xk_get_variant(i).name.decode(), bool(xk_variant_supported(i)))
            for i in range(xk_n_variants())]


cdef const xk_variant *_named(variant):
    """The SIMD variant named ``variant``, None: the one in use."""
    if variant is None:
        return xk_get_variant(_current)
    return xk_get_variant([n for n, _ in variants()].index(variant))


def fused(variant=None):
    """Whether the SIMD variant ``variant`` (None: the one in use) fuses its multiply-adds
    (rounds each once: the variants for CPUs with the FMA instruction); the variants that do
    give the same bits, and one that does not may differ from them in the last place."""
    return bool(_named(variant).fused)


def in_registers(variant=None):
    """Whether the SIMD variant ``variant`` (None: the one in use) keeps its vectors in
    registers: the AVX-512 variant, and the AVX2 one where the build compiled it as C++; not
    the baseline, nor an AVX2 variant compiled as C for want of a C++ compiler (slower)."""
    return bool(_named(variant).registers)


def get_variant():
    """The name of the SIMD variant in use."""
    return xk_get_variant(_current).name.decode()


def set_variant(name=None):
    """Use the SIMD variant ``name`` (None: the best this CPU runs)."""
    global _current
    table = variants()
    if name is None:
        _current = next(i for i, (_, ok) in enumerate(table) if ok)
        return
    names = [n for n, _ in table]
    if name not in names:
        raise ValueError(f"SIMD variant must be one of {names}; got {name!r}.")
    i = names.index(name)
    if not table[i][1]:
        raise ValueError(f"SIMD variant {name!r} is not supported by this CPU.")
    _current = i


set_variant(os.environ.get("XENT_SIMD") or None)


cdef inline int _kind(cnp.ndarray a) except -1:
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
        return 0
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64:
        return 1
    raise TypeError(f"kernel arrays are float32 or float64; got {a.dtype}")


cdef inline void _strides2(cnp.ndarray a, Py_ssize_t *rs, Py_ssize_t *cs):
    rs[0] = cnp.PyArray_STRIDE(a, 0) // cnp.PyArray_ITEMSIZE(a)
    cs[0] = cnp.PyArray_STRIDE(a, 1) // cnp.PyArray_ITEMSIZE(a)


cdef inline const double *_dptr(object a) except? NULL:
    if a is None:
        return NULL
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != cnp.NPY_FLOAT64 or not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise TypeError("per-row and per-class arrays are contiguous float64")
    return <const double *>cnp.PyArray_DATA(arr)


cdef inline const int64_t *_labels_ptr(object labels, Py_ssize_t R) except? NULL:
    """The class ids of R rows (None: NULL), contiguous native int64 (ids in the other byte
    order would be read swapped, past a row's classes)."""
    if labels is None:
        return NULL
    cdef cnp.ndarray a = <cnp.ndarray>labels
    if (cnp.PyArray_TYPE(a) != cnp.NPY_INT64 or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or not cnp.PyArray_ISNOTSWAPPED(a) or a.shape[0] < R):
        raise TypeError("labels are contiguous native int64, one per row")
    return <const int64_t *>cnp.PyArray_DATA(a)


def scratch_len(Py_ssize_t C):
    """Doubles of working memory a `softmax_block` call of C classes needs."""
    return xk_scratch_len(C)


cdef void *_like_x(object a, int kind, str name, Py_ssize_t *rs, Py_ssize_t *cs) except? NULL:
    """The data of an (R, C) array of x's kind (None: NULL), its strides in entries into rs,
    cs (0 for None)."""
    rs[0] = cs[0] = 0
    if a is None:
        return NULL
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if _kind(arr) != kind:
        raise TypeError(f"{name} must have x's dtype")
    _strides2(arr, rs, cs)
    return cnp.PyArray_DATA(arr)


cdef int _fill_block(xk_block *bp, int mode, cnp.ndarray x, object out, object t, object labels,
                     object row_weight, object cw, object cw_others, double cw_sum, double eps,
                     double grad_div, object row_out, bint from_logits, double z_loss,
                     double gamma, object state, int64_t id_limit) except -1:
    """`softmax_block`'s arguments into the kernel's block ``bp`` (pointers into the arrays,
    which the caller keeps alive); returns the kind of x (0 float32, 1 float64)."""
    cdef int kind = _kind(x)
    memset(bp, 0, sizeof(xk_block))
    bp.R = x.shape[0]
    bp.C = x.shape[1]
    bp.x = cnp.PyArray_DATA(x)
    _strides2(x, &bp.x_rs, &bp.x_cs)
    bp.t = _like_x(t, kind, "t", &bp.t_rs, &bp.t_cs)
    bp.out = _like_x(out, kind, "out", &bp.o_rs, &bp.o_cs)
    bp.labels = _labels_ptr(labels, bp.R)
    bp.id_limit = id_limit if bp.labels != NULL else 0
    bp.row_weight = _dptr(row_weight)
    bp.cw = _dptr(cw)
    bp.cw_others = _dptr(cw_others)
    bp.cw_sum = cw_sum
    bp.eps = eps
    bp.grad_div = grad_div
    bp.row_out = <double *>_dptr(row_out)
    bp.z = z_loss
    bp.gamma = gamma
    if mode == STATE:
        if not from_logits or bp.x_cs != 1 or bp.C <= 16:
            raise ValueError("mode STATE takes logits with unit class stride, > 16 classes")
        bp.state = _state_ptr(state, bp.R)
    return kind


def softmax_block(int mode, cnp.ndarray x, object out, object t, object labels,
                  object row_weight, object cw, object cw_others, double cw_sum, double eps,
                  double grad_div, object row_out, cnp.ndarray scratch=None,
                  bint from_logits=True, double z_loss=0.0, double gamma=0.0, object state=None,
                  Py_ssize_t block_rows=0, object check=None, int64_t id_limit=0):
    """Run the softmax kernel (``from_logits``) or the probability kernel on one block.

    ``x`` (R, C); ``out`` and ``t`` the same dtype and shape (or None); ``labels`` int64 (R,);
    ``row_weight`` and ``row_out`` float64 (R,); ``cw`` and ``cw_others`` float64 (C,) (``cw``
    None: class weights of 1); ``scratch`` float64 of ``scratch_len(C)``, or None: the call
    allocates it.
    ``z_loss`` adds ``z_loss * logsumexp**2`` per row (logits only); ``gamma`` is the focal
    exponent (0: cross-entropy). Mode STATE writes each row's softmax state (m, sb, nt, vs) into
    ``state``, float64 (R, STATE_LEN), for rows of more than 16 classes with unit class stride.
    The rows run as consecutive blocks of ``block_rows`` (the last one shorter; 0: all of them
    one block): what one call per block gives, without a Python call per block. Returns, per
    block, the sum of its weighted per-row losses, in row order, and the same sum of the losses
    times 2**-64 (finite where the sum overflows).

    ``check`` (mode CATEGORICAL) checks each block's targets ``t`` first, as `stats_block`
    does (rows of two classes in contiguous pairs, from logits, without weights: as the loss's
    loop reads them, the same totals; such a block runs as the categorical loss, one-hot or
    not, which gives a one-hot row the sparse loss's bits; other row-major rows of fewer than
    16 classes from logits whose first row is not one-hot: from the kernel's tiles; float rows
    of more classes from logits: as the loss's passes read them, and a forward pass whose first
    row is one-hot looks for one-hot rows in them (``xk_block.hot_scan``); the same totals): a
    tuple
    ``(cw, rtol, one_hot, first, totals, hot)`` with ``totals`` float64 and ``hot`` int8, one
    per block. With ``first``, each block is checked: its total target weight
    (`stats_block`'s) goes to ``totals``, and ``hot`` says 1 where every row is one-hot (with
    ``one_hot``; the block then runs as the sparse loss of those classes), 0 where not, -1
    where the check failed, which ends the call before that block (the list returned is
    shorter: the caller finds out why). Without ``first`` (the blocks were checked before),
    only the blocks whose ``hot`` is 1 are read again, for their classes (not two-class rows of
    the unweighted loop, whose one-hot rows give the sparse loss's bits there).

    ``id_limit`` > 0: the kernel checks ``labels`` against [0, ``id_limit``) before it reads
    them, a tile of rows at a time, and raises `ClassIdsOutOfRange` where one is outside.

    """
    cdef xk_block b
    cdef int kind = _fill_block(&b, mode, x, out, t, labels, row_weight, cw, cw_others, cw_sum,
                                eps, grad_div, row_out, from_logits, z_loss, gamma, state,
                                id_limit)
    cdef const xk_variant *v = xk_get_variant(_current)
    cdef Py_ssize_t R = b.R, r0, k = 0, size = 4 if kind == 0 else 8
    if scratch is None:
        if check is None and (block_rows <= 0 or block_rows >= R):
            # one block (a small call): its scratch from the C heap, a fifth of the time of
            # a NumPy array's
            b.scratch = <double *>malloc(xk_scratch_len(b.C) * sizeof(double))
            if b.scratch == NULL:
                raise MemoryError()
            if R * b.C < GIL_FREE_MIN:
                _run_block(v, &b, kind, mode, from_logits)
            else:
                with nogil:
                    _run_block(v, &b, kind, mode, from_logits)
            free(b.scratch)
            if b.ids_bad:
                raise ClassIdsOutOfRange
            return [(b.loss_sum, b.loss_sum_small)]
        scratch = np.empty(xk_scratch_len(b.C))
    elif scratch.shape[0] < xk_scratch_len(b.C):
        raise ValueError("scratch is too small")
    b.scratch = <double *>_dptr(scratch)
    cdef _SpanCheck chk
    cdef cnp.ndarray c_sums, c_wsums, c_ids  # the checks' buffers, one block's rows
    if check is not None:
        if mode != CATEGORICAL or b.t == NULL:
            raise ValueError("check takes the categorical loss's targets")
        if block_rows <= 0 or block_rows >= R:
            block_rows = R
        c_sums, c_wsums, c_ids = np.empty(block_rows), np.empty(block_rows), np.empty(
            block_rows, np.int64)
        _span_check_init(&chk, check, b.C, (R + block_rows - 1) // block_rows, c_sums, c_wsums,
                         c_ids)
    elif block_rows <= 0 or block_rows >= R:  # one block
        if R * b.C < GIL_FREE_MIN:
            _run_block(v, &b, kind, mode, from_logits)
        else:
            with nogil:
                _run_block(v, &b, kind, mode, from_logits)
        if b.ids_bad:
            raise ClassIdsOutOfRange
        return [(b.loss_sum, b.loss_sum_small)]
    cdef cnp.ndarray sums = np.empty(2 * ((R + block_rows - 1) // block_rows))
    cdef double *s = <double *>cnp.PyArray_DATA(sums)
    cdef xk_block sub
    cdef bint checking = check is not None
    cdef const char *pf
    cdef Py_ssize_t pf_lines
    with nogil:
        r0 = 0
        while r0 < R:
            _sub_block(&b, &sub, r0, block_rows, size)
            pf, pf_lines = NULL, 0
            if checking and r0 + block_rows < R and b.t_cs == 1 and b.t_rs == b.C:
                # the next block's targets, contiguous: prefetched while this one runs
                pf = <const char *>b.t + (r0 + block_rows) * b.C * size
                pf_lines = (min(block_rows, R - r0 - block_rows) * b.C * size + 63) // 64
            if _span_block(v, &sub, kind, mode, from_logits, &chk if checking else NULL, k // 2,
                           pf, pf_lines) < 0 or sub.ids_bad:
                b.ids_bad = sub.ids_bad
                break
            s[k] = sub.loss_sum
            s[k + 1] = sub.loss_sum_small
            k += 2
            r0 += block_rows
    if b.ids_bad:
        raise ClassIdsOutOfRange
    return [(s[j], s[j + 1]) for j in range(0, k, 2)]


# --- a small sparse call, whole -------------------------------------------------------------
#
# A sparse call whose logits fit in one block spends most of its time around the kernel: at
# 64 x 10 float32 the Python of `_categorical`'s small path (the checks of its arguments, the
# kernel call's 19 arguments, the reduction) took 14 of 17.6 us (AMD EPYC Zen 1), PyTorch's
# whole call 14. `sparse_one_block` does the same in C: the same checks (a call that fails one
# returns None, for the general path and its messages), the same kernel arguments and the same
# reduction, so the same bits (tests/test_one_block.py).

cdef double _FLOAT_MAX = 1.7976931348623157e308


cdef int _one_block_kind(object a, object axis, Py_ssize_t block_bytes, Py_ssize_t min_rows,
                         Py_ssize_t *R, Py_ssize_t *C, Py_ssize_t *block_rows=NULL) except -2:
    """The test of a small call's logits: 0 (float32) or 1 (float64) where ``a`` is a NumPy
    array (not a subclass) of float32 or float64 in native byte order, C-contiguous, of at
    least one entry, ``axis`` (a Python int) its last axis and its rows one block (at most
    ``max(block_bytes // (itemsize * C), min_rows)`` rows, `xent._engine.Layout.block_rows`),
    with R and C set; -1 otherwise. Given ``block_rows``, rows of any number of blocks (a
    call in C as one job, `_plain_job`), with that number of rows a block set."""
    if type(a) is not np.ndarray or type(axis) is not int:
        return -1
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int typ = cnp.PyArray_TYPE(arr), nd = cnp.PyArray_NDIM(arr)
    if typ != cnp.NPY_FLOAT32 and typ != cnp.NPY_FLOAT64:
        return -1
    if not cnp.PyArray_ISNOTSWAPPED(arr) or not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        return -1
    if nd == 0 or (axis != -1 and axis != nd - 1) or cnp.PyArray_SIZE(arr) == 0:
        return -1
    C[0] = cnp.PyArray_DIM(arr, nd - 1)
    R[0] = cnp.PyArray_SIZE(arr) // C[0]
    cdef Py_ssize_t rows = max(block_bytes // (cnp.PyArray_ITEMSIZE(arr) * C[0]), min_rows)
    if block_rows != NULL:
        block_rows[0] = rows
    elif R[0] > rows:
        return -1
    return 0 if typ == cnp.NPY_FLOAT32 else 1


cdef int _reduction_code(object reduction):
    """0, 1, 2 for the reductions "none", "sum", "mean" (a str); -1 for anything else."""
    if type(reduction) is not str:
        return -1
    if reduction == "mean":
        return 2
    if reduction == "sum":
        return 1
    if reduction == "none":
        return 0
    return -1


cdef bint _plain_option(object value, double top, double *out) except -1:
    """`xent._validation.plain_option` in C: a Python float or int in [0, top] into ``out``
    (True); False for anything else."""
    cdef double f
    if type(value) is not float and type(value) is not int:
        return False
    if not (-_FLOAT_MAX <= value <= _FLOAT_MAX):  # NaN, or an int beyond float range
        return False
    f = float(value)
    if not (0.0 <= f <= top):
        return False
    out[0] = f
    return True


cdef int _run_lone_block(const xk_variant *v, xk_block *b, int kind, int mode) except -1:
    """The softmax kernel on a lone block from logits, its scratch from the C heap (the
    caller frees ``b.scratch``), with the GIL released from GIL_FREE_MIN entries."""
    b.scratch = <double *>malloc(xk_scratch_len(b.C) * sizeof(double))
    if b.scratch == NULL:
        raise MemoryError()
    if b.R * b.C < GIL_FREE_MIN:
        _run_block(v, b, kind, mode, True)
    else:
        with nogil:
            _run_block(v, b, kind, mode, True)
    return 0


cdef void _round_rows(const double *rows, cnp.ndarray out, Py_ssize_t R) noexcept:
    """Per-row float64 values into the float32 array ``out``, each rounded once (as NumPy's
    astype: beyond float32's range, inf)."""
    cdef float *o = <float *>cnp.PyArray_DATA(out)
    cdef Py_ssize_t r
    for r in range(R):
        o[r] = <float>rows[r]


cdef cnp.ndarray _new_rows(int nd, cnp.npy_intp *dims, int typ, object new_array,
                           Py_ssize_t min_out_bytes):
    """A new array of ``dims`` and type ``typ`` (float32 or float64) that xent returns: from
    ``new_array(shape, dtype)`` (`xent._outputs.new_array`) from ``min_out_bytes`` up, else
    NumPy's."""
    cdef Py_ssize_t i, n = 8 if typ == cnp.NPY_FLOAT64 else 4
    for i in range(nd):
        n *= dims[i]
    if n >= min_out_bytes:
        return new_array(tuple([dims[i] for i in range(nd)]),
                         np.float64 if typ == cnp.NPY_FLOAT64 else np.float32)
    return cnp.PyArray_EMPTY(nd, dims, typ, 0)


cdef cnp.ndarray _new_output(cnp.ndarray like, object new_array, Py_ssize_t min_out_bytes):
    """A new array of ``like``'s shape and dtype (float32 or float64), as `_new_rows`."""
    return _new_rows(cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like), cnp.PyArray_TYPE(like),
                     new_array, min_out_bytes)


def rows_one_block(int mode, object a, object axis, bint keepdims, Py_ssize_t block_bytes,
                   Py_ssize_t min_rows, object new_array, Py_ssize_t min_out_bytes,
                   object run_job=None):
    """logsumexp (mode LSE, ``keepdims``), softmax or log_softmax of ``a`` along ``axis``
    where ``a`` is plainly one block (`_one_block_kind`), or of any number of blocks given
    ``run_job`` (`_plain_job`); None otherwise. As `sparse_one_block`, the general path's
    kernel call and results, in C."""
    cdef Py_ssize_t R, C, block_rows = 0
    cdef int kind = _one_block_kind(a, axis, block_bytes, min_rows, &R, &C,
                                    NULL if run_job is None else &block_rows)
    if kind < 0:
        return None
    cdef cnp.ndarray x = <cnp.ndarray>a, out
    cdef int nd = cnp.PyArray_NDIM(x), typ = cnp.PyArray_TYPE(x)
    cdef cnp.npy_intp dims[64]
    cdef const xk_variant *v = xk_get_variant(_current)
    cdef xk_block b
    cdef double *rows = NULL
    if R > block_rows > 0:
        if mode == LSE_MODE:
            memcpy(dims, cnp.PyArray_DIMS(x), nd * sizeof(cnp.npy_intp))
            dims[nd - 1] = 1  # (dropped without keepdims)
            out = _new_rows(nd if keepdims else nd - 1, dims, typ, new_array, min_out_bytes)
            _plain_job(mode, x, R, C, block_rows, None, None, 0.0, 1.0, out, 0.0, 0.0, 0, run_job)
        else:
            out = _new_output(x, new_array, min_out_bytes)
            _plain_job(mode, x, R, C, block_rows, out, None, 0.0, 1.0, None, 0.0, 0.0, 0, run_job)
        return out
    memset(&b, 0, sizeof(b))
    b.R, b.C = R, C
    b.x = cnp.PyArray_DATA(x)
    b.x_rs, b.x_cs = C, 1
    b.cw_sum = <double>C
    b.grad_div = 1.0
    if mode != LSE_MODE:
        out = _new_output(x, new_array, min_out_bytes)
        b.out = cnp.PyArray_DATA(out)
        b.o_rs, b.o_cs = C, 1
    try:
        if mode == LSE_MODE:
            memcpy(dims, cnp.PyArray_DIMS(x), nd * sizeof(cnp.npy_intp))
            dims[nd - 1] = 1  # (dropped without keepdims)
            out = _row_values(nd if keepdims else nd - 1, dims, typ, R, &b.row_out, &rows)
        _run_lone_block(v, &b, kind, mode)
        if rows != NULL:
            _round_rows(rows, out, R)
    finally:
        free(b.scratch)
        free(rows)
    return _one_loss(out, 0.0, 0.0, 0.0, 0, kind)


cdef bint _loss_options(object label_smoothing, object z_loss, object focal_gamma,
                        double *eps, double *z, double *gamma) except -1:
    """The softmax losses' options of a small call (`_plain_option` each); False if one is
    not plain."""
    return (_plain_option(label_smoothing, 1.0, eps) and _plain_option(z_loss, _FLOAT_MAX, z)
            and _plain_option(focal_gamma, _FLOAT_MAX, gamma))


cdef int _loss_call(object y_true, object y_pred, object axis, object reduction,
                    object label_smoothing, object z_loss, object focal_gamma,
                    Py_ssize_t block_bytes, Py_ssize_t min_rows, Py_ssize_t *R, Py_ssize_t *C,
                    int *red, double *eps, double *z, double *gamma,
                    Py_ssize_t *block_rows=NULL) except -2:
    """The test of a small softmax-loss call: its logits' kind (`_one_block_kind`, with their
    rows and classes, and ``block_rows`` as it sets them), its reduction's code and its options
    (`_loss_options`); -1 where the logits, the reduction or an option is not one of the small
    path's, or ``y_true`` is not a NumPy array."""
    cdef int kind = _one_block_kind(y_pred, axis, block_bytes, min_rows, R, C, block_rows)
    red[0] = _reduction_code(reduction)
    if kind < 0 or red[0] < 0 or type(y_true) is not np.ndarray:
        return -1
    if not _loss_options(label_smoothing, z_loss, focal_gamma, eps, z, gamma):
        return -1
    return kind


cdef object _loss_block(xk_block *b, cnp.ndarray x, Py_ssize_t R, Py_ssize_t C, double eps,
                        double z, double gamma, bint return_grad, object new_array,
                        Py_ssize_t min_out_bytes):
    """A small softmax-loss call's block over its row-major logits ``x`` (R x C), without class
    weights: the logits, the options and, where ``return_grad``, the gradient's new array
    (`_new_output`; returned, else None) as the output. The caller sets the targets and
    ``grad_div``."""
    cdef object grad = None
    b.R, b.C = R, C
    b.x = cnp.PyArray_DATA(x)
    b.x_rs, b.x_cs = C, 1
    if return_grad:
        grad = _new_output(x, new_array, min_out_bytes)
        b.out = cnp.PyArray_DATA(<cnp.ndarray>grad)
        b.o_rs, b.o_cs = C, 1
    b.cw_sum = <double>C
    b.eps = eps
    b.z = z
    b.gamma = gamma
    return grad


cdef bint _same_layout(cnp.ndarray a, cnp.ndarray like):
    """Whether ``a`` has ``like``'s shape and is C-contiguous in native byte order."""
    cdef int i, nd = cnp.PyArray_NDIM(like)
    if (cnp.PyArray_NDIM(a) != nd or not cnp.PyArray_ISNOTSWAPPED(a)
            or not cnp.PyArray_IS_C_CONTIGUOUS(a)):
        return False
    for i in range(nd):
        if cnp.PyArray_DIM(a, i) != cnp.PyArray_DIM(like, i):
            return False
    return True


cdef double *_unit_others(Py_ssize_t C) except NULL:
    """`_sum_of_others` of unit class weights, C - 1 for every class (exactly), malloc'd."""
    cdef double *others = <double *>malloc(C * sizeof(double))
    cdef Py_ssize_t c
    if others == NULL:
        raise MemoryError()
    for c in range(C):
        others[c] = <double>(C - 1)
    return others


cdef cnp.ndarray _row_values(int nd, cnp.npy_intp *dims, int typ, Py_ssize_t n,
                             double **values, double **buf):
    """A new array of per-row (binary: per-entry) values, of ``dims`` and type ``typ``, and
    where the kernel writes its ``n`` float64 values (``*values``): into it for float64, into
    ``*buf`` (malloc'd, the caller frees it; `_round_rows` then fills the array) for
    float32."""
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(nd, dims, typ, 0)
    if typ == cnp.NPY_FLOAT64:
        values[0] = <double *>cnp.PyArray_DATA(out)
        return out
    buf[0] = <double *>malloc(n * sizeof(double))
    if buf[0] == NULL:
        raise MemoryError()
    values[0] = buf[0]
    return out


cdef object _one_loss(cnp.ndarray rows_out, double total, double small, double weight,
                      int red, int kind):
    """A small call's result, `xent._reduction.reduce` of one block: with ``red`` 0 ("none")
    the array ``rows_out`` (0-d: its scalar), else the block's sum ``total`` (``small`` the
    same times 2**-64), or its mean over ``weight``, as a scalar of the kind's type."""
    if red == 0:
        return rows_out if cnp.PyArray_NDIM(rows_out) else rows_out[()]
    total = total + 0.0
    if red == 2:
        small = small + 0.0
        if weight <= 0:
            total = 0.0
        elif isinf(total) and isfinite(small):
            total = small / weight / XK_SMALL
        else:
            total = total / weight
    return _scalar(total, kind)


cdef object _scalar(double value, int kind):
    """``value`` as a NumPy scalar of the kind's type, rounded once (as the reduction's)."""
    cdef float f
    if kind == 0:
        f = <float>value
        return PyArray_Scalar(&f, cnp.PyArray_DescrFromType(cnp.NPY_FLOAT32), None)
    return PyArray_Scalar(&value, cnp.PyArray_DescrFromType(cnp.NPY_FLOAT64), None)


cdef SharedBlocks _plain_job(int mode, cnp.ndarray x, Py_ssize_t R, Py_ssize_t C,
                             Py_ssize_t block_rows, object out, object labels, double eps,
                             double grad_div, object rows_out, double z, double gamma,
                             int64_t id_limit, object run_job, object t=None, object check=None):
    """A small path's call of more than one block, from logits without weights, as
    `xent._softmax.SoftmaxCall._run_shared` runs it: one `SharedBlocks` job over the whole
    C-contiguous arrays (``x``, ``out`` and the targets ``t`` seen as R x C, ``labels`` and
    ``rows_out`` as R values), run by ``run_job(job, n_blocks)`` (`xent._softmax.run_shared`:
    this thread and the kernel's helper threads); returns the job, whose blocks' sums
    `_job_sum` adds, or None where a block's ``check`` of its targets failed. The general
    path's Python around that job took 10-13 us a call (Intel Xeon, one thread: 1,024 rows of
    100 float32 logits, two blocks, 90 us in all). Without class weights, a smoothed gradient's
    sums of the other classes' weights are C - 1 each (`_unit_others`)."""
    others = np.full(C, C - 1.0) if eps > 0 and out is not None else None
    job = SharedBlocks(
        mode, x.reshape(R, C), None if out is None else out.reshape(R, C),
        None if labels is None else labels.reshape(R), None, None, others, <double>C, eps,
        grad_div, None if rows_out is None else rows_out.reshape(R), True, z, gamma, block_rows,
        id_limit, None if t is None else t.reshape(R, C), check)
    return job if run_job(job, job.job.s.n_blocks) else None


def exact_sum(list values):
    """The blocks' sums ``values`` added exactly and rounded once (`math.fsum`): inf where that
    sum overflows, NaN where it holds inf and -inf. The reduction of every call of two blocks
    or more (`xent._reduction.reduce`, `_job_sum`)."""
    try:
        return fsum(values)
    except OverflowError:  # finite values whose sum is beyond the largest float
        return copysign(INFINITY, sum(values))
    except ValueError:  # inf + -inf
        return NAN


cdef double _job_sum(SharedBlocks job, int k) except? -1.0:
    """Item ``k`` of the blocks' sums (0: the loss sums, 1: the same times 2**-64), as
    `exact_sum` adds them."""
    return exact_sum([job.job.sums[2 * j + k] for j in range(job.job.s.n_blocks)])


def sparse_one_block(object y_true, object y_pred, object axis, object reduction,
                     object label_smoothing, object z_loss, object focal_gamma, bint return_grad,
                     Py_ssize_t block_bytes, Py_ssize_t min_rows, object new_array,
                     Py_ssize_t min_out_bytes, object run_job=None):
    """The sparse cross-entropy of logits ``y_pred`` and class ids ``y_true`` (no weights, no
    ignore_index), its loss or (loss, gradient), where the call is plainly valid and its
    logits one block (`_one_block_kind`, the blocks of ``block_bytes`` and ``min_rows``): class
    ids a NumPy array of the batch's shape, int64 or int32 in native byte order, in range; the
    options Python numbers in range and ``reduction`` a reduction's name. Given ``run_job``,
    also logits of more than one block with C-contiguous int64 ids, as one job (`_plain_job`;
    the kernel checks the ids). None otherwise, and where an id is out of range.
    The gradient is a new array of the logits' shape and dtype, from ``new_array(shape,
    dtype)`` (`xent._outputs.new_array`) from ``min_out_bytes`` up, else NumPy's."""
    cdef Py_ssize_t R, C, block_rows = 0
    cdef int red
    cdef double eps, z, gamma
    cdef int kind = _loss_call(y_true, y_pred, axis, reduction, label_smoothing, z_loss,
                               focal_gamma, block_bytes, min_rows, &R, &C, &red, &eps, &z, &gamma,
                               NULL if run_job is None else &block_rows)
    if kind < 0:
        return None
    cdef cnp.ndarray x = <cnp.ndarray>y_pred, y = <cnp.ndarray>y_true
    cdef int nd = cnp.PyArray_NDIM(x), typ = cnp.PyArray_TYPE(x), i
    if cnp.PyArray_NDIM(y) != nd - 1:
        return None
    for i in range(nd - 1):
        if cnp.PyArray_DIM(y, i) != cnp.PyArray_DIM(x, i):
            return None
    cdef object grad = None
    cdef cnp.ndarray rows_out = None
    if R > block_rows > 0:
        if (cnp.PyArray_TYPE(y) != cnp.NPY_INT64 or not cnp.PyArray_IS_C_CONTIGUOUS(y)
                or not cnp.PyArray_ISNOTSWAPPED(y)):
            return None
        if return_grad:
            grad = _new_output(x, new_array, min_out_bytes)
        if red == 0:
            rows_out = _new_rows(nd - 1, cnp.PyArray_DIMS(x), typ, new_array, min_out_bytes)
        try:
            job = _plain_job(SPARSE_MODE, x, R, C, block_rows, grad, y, eps,
                             <double>R if red == 2 else 1.0, rows_out, z, gamma, C, run_job)
        except ClassIdsOutOfRange:  # the general path says which
            return None
        if red == 0:
            loss = _one_loss(rows_out, 0.0, 0.0, 0.0, 0, kind)
        else:
            loss = _one_loss(None, _job_sum(job, 0), _job_sum(job, 1), <double>R, red, kind)
        return loss if grad is None else (loss, grad)
    if not cnp.PyArray_IS_C_CONTIGUOUS(y):
        y = cnp.PyArray_GETCONTIGUOUS(y)
    cdef int id_size = cnp.PyArray_ITEMSIZE(y)
    if (not cnp.PyArray_ISSIGNED(y) or not cnp.PyArray_ISNOTSWAPPED(y)
            or (id_size != 4 and id_size != 8)):
        return None
    cdef const xk_variant *v = xk_get_variant(_current)
    cdef int64_t lo, hi
    cdef Py_ssize_t count
    v.id_range(cnp.PyArray_DATA(y), id_size == 4, R, 0, 0, &lo, &hi, &count)
    if lo < 0 or hi >= C:
        return None
    cdef xk_block b
    memset(&b, 0, sizeof(b))
    grad = _loss_block(&b, x, R, C, eps, z, gamma, return_grad, new_array, min_out_bytes)
    b.grad_div = <double>R if red == 2 else 1.0
    cdef int64_t *ids = NULL
    cdef double *others = NULL
    cdef double *rows = NULL
    cdef const int *ids32
    cdef Py_ssize_t r
    try:
        if id_size == 8:
            b.labels = <const int64_t *>cnp.PyArray_DATA(y)
        else:
            ids = <int64_t *>malloc(R * sizeof(int64_t))
            if ids == NULL:
                raise MemoryError()
            ids32 = <const int *>cnp.PyArray_DATA(y)
            for r in range(R):
                ids[r] = ids32[r]
            b.labels = ids
        if eps > 0 and return_grad:
            others = _unit_others(C)
            b.cw_others = others
        if red == 0:
            rows_out = _row_values(nd - 1, cnp.PyArray_DIMS(x), typ, R, &b.row_out, &rows)
        _run_lone_block(v, &b, kind, SPARSE_MODE)
        if rows != NULL:
            _round_rows(rows, rows_out, R)
    finally:
        free(b.scratch)
        free(ids)
        free(others)
        free(rows)
    loss = _one_loss(rows_out, b.loss_sum, b.loss_sum_small, <double>R, red, kind)
    return loss if grad is None else (loss, grad)


def categorical_one_block(object y_true, object y_pred, object axis, object reduction,
                          object label_smoothing, object z_loss, object focal_gamma,
                          bint return_grad, tuple rtols, Py_ssize_t block_bytes,
                          Py_ssize_t min_rows, object new_array, Py_ssize_t min_out_bytes,
                          object run_job=None):
    """The categorical cross-entropy of logits ``y_pred`` and targets ``y_true`` (no weights)
    as `sparse_one_block` does the sparse one: where the logits are one block and plainly
    valid, the targets a NumPy array of their shape and dtype, C-contiguous, and the options
    Python numbers in range; None otherwise, and where the targets are not distributions
    (``rtols``: the tolerance of a row sum of float32 and of float64 targets), for the general
    path's messages. The gradient of a
    mean checks the targets first, for their total; otherwise the kernel checks them as it
    runs (`softmax_block`'s ``check``, one block). Given ``run_job``, logits of more than one
    block too, as `_categorical_job`."""
    cdef Py_ssize_t R, C, block_rows = 0
    cdef int red
    cdef double eps, z, gamma
    cdef int kind = _loss_call(y_true, y_pred, axis, reduction, label_smoothing, z_loss,
                               focal_gamma, block_bytes, min_rows, &R, &C, &red, &eps, &z, &gamma,
                               NULL if run_job is None else &block_rows)
    if kind < 0:
        return None
    cdef cnp.ndarray x = <cnp.ndarray>y_pred, t = <cnp.ndarray>y_true
    cdef int nd = cnp.PyArray_NDIM(x), typ = cnp.PyArray_TYPE(x)
    if cnp.PyArray_TYPE(t) != typ or not _same_layout(t, x):
        return None
    if R > block_rows > 0:
        return _categorical_job(x, t, R, C, block_rows, red, eps, z, gamma, return_grad,
                                rtols[kind], new_array, min_out_bytes, run_job, kind)
    cdef const xk_variant *v = xk_get_variant(_current)
    cdef object grad = None
    cdef cnp.ndarray rows_out = None
    cdef xk_block b
    cdef xk_stats first_stats
    cdef _SpanCheck chk
    cdef double totals[1]
    cdef signed char hot[1]
    cdef int all_hot = 0, failed = 0
    cdef bint first = return_grad and red == 2
    cdef double rtol = rtols[kind]
    cdef double *buf = NULL
    cdef double *others = NULL
    cdef double *rows = NULL
    memset(&b, 0, sizeof(b))
    memset(&chk, 0, sizeof(chk))
    totals[0], hot[0] = 0.0, 0
    try:
        # the rows' sums, weighted sums and one-hot classes of the checks
        buf = <double *>malloc(3 * R * sizeof(double))
        if buf == NULL:
            raise MemoryError()
        if first:  # `stats_block` of the targets, for their total
            memset(&first_stats, 0, sizeof(first_stats))
            first_stats.C, first_stats.cw, first_stats.rtol = C, NULL, rtol
            if _stats_run(v, kind, &first_stats, cnp.PyArray_DATA(t), C, 1, R, buf, NULL,
                          <int64_t *>(buf + 2 * R), NULL, &all_hot) < 0:
                return None
            totals[0], hot[0] = first_stats.total, all_hot
        chk.st.C, chk.st.cw, chk.st.rtol = C, NULL, rtol
        chk.sums, chk.wsums, chk.ids = buf, buf + R, <int64_t *>(buf + 2 * R)
        chk.totals, chk.hot = totals, hot
        chk.one_hot, chk.first = 1, not first
        grad = _loss_block(&b, x, R, C, eps, z, gamma, return_grad, new_array, min_out_bytes)
        b.t = cnp.PyArray_DATA(t)
        b.t_rs, b.t_cs = C, 1
        # `grad_divisor` of the total known now (the forward's is not used)
        b.grad_div = 1.0 if red != 2 else (totals[0] if totals[0] > 0 else INFINITY)
        if eps > 0 and return_grad:
            others = _unit_others(C)
            b.cw_others = others
        if red == 0:
            rows_out = _row_values(nd - 1, cnp.PyArray_DIMS(x), typ, R, &b.row_out, &rows)
        b.scratch = <double *>malloc(xk_scratch_len(C) * sizeof(double))
        if b.scratch == NULL:
            raise MemoryError()
        if R * C < GIL_FREE_MIN:
            failed = _span_block(v, &b, kind, CATEGORICAL_MODE, True, &chk, 0, NULL, 0)
        else:
            with nogil:
                failed = _span_block(v, &b, kind, CATEGORICAL_MODE, True, &chk, 0, NULL, 0)
        if failed:  # a target the check refused: the general path says which
            return None
        if rows != NULL:
            _round_rows(rows, rows_out, R)
    finally:
        free(b.scratch)
        free(buf)
        free(others)
        free(rows)
    loss = _one_loss(rows_out, b.loss_sum, b.loss_sum_small, totals[0], red, kind)
    return loss if grad is None else (loss, grad)


cdef object _categorical_job(cnp.ndarray x, cnp.ndarray t, Py_ssize_t R, Py_ssize_t C,
                            Py_ssize_t block_rows, int red, double eps, double z, double gamma,
                            bint return_grad, double rtol, object new_array,
                            Py_ssize_t min_out_bytes, object run_job, int kind):
    """`categorical_one_block` of more than one block, as the general path runs it whole
    (`xent._categorical._Distributions` and `SoftmaxCall._run_shared`): the targets' check
    first as a job of its own where the gradient of a mean needs their total, then the loss's
    job, which checks every block's targets as it reads them (or reads the one-hot blocks'
    again, for their ids); each block's total and one-hot flag in ``totals``, ``hot``. None
    where a block's check fails (the general path says why)."""
    cdef Py_ssize_t n = (R + block_rows - 1) // block_rows
    cdef bint first = return_grad and red == 2
    cdef cnp.ndarray ts = t.reshape(R, C)
    cdef cnp.ndarray rows_out = None
    totals, hot = np.zeros(n), np.zeros(n, np.int8)
    if first:
        checks = SharedBlocks(CATEGORICAL_MODE, ts, None, None, None, None, None, 0.0, 0.0, 1.0,
                              None, True, 0.0, 0.0, block_rows, 0, ts,
                              (None, rtol, True, True, totals, hot), True)
        if not run_job(checks, n):
            return None
    cdef double total = float(np.sum(totals)) if first else 0.0
    grad = _new_output(x, new_array, min_out_bytes) if return_grad else None
    if red == 0:
        rows_out = _new_rows(cnp.PyArray_NDIM(x) - 1, cnp.PyArray_DIMS(x), cnp.PyArray_TYPE(x),
                             new_array, min_out_bytes)
    job = _plain_job(CATEGORICAL_MODE, x, R, C, block_rows, grad, None, eps,
                     1.0 if red != 2 else (total if total > 0 else INFINITY), rows_out, z, gamma,
                     0, run_job, t, (None, rtol, True, not first, totals, hot))
    if job is None:
        return None
    if red == 0:
        loss = _one_loss(rows_out, 0.0, 0.0, 0.0, 0, kind)
    else:
        loss = _one_loss(None, _job_sum(job, 0), _job_sum(job, 1), float(np.sum(totals)), red,
                         kind)
    return loss if grad is None else (loss, grad)


cdef struct _SpanCheck:
    xk_stats st
    double *sums
    double *wsums
    int64_t *ids
    double *totals
    signed char *hot
    int one_hot, first


cdef int _span_check_init(_SpanCheck *c, tuple check, Py_ssize_t C, Py_ssize_t n_blocks,
                          cnp.ndarray sums, cnp.ndarray wsums, cnp.ndarray ids) except -1:
    """A span's checks: what `check` says, and per-row buffers (the caller keeps them; None:
    set by the caller)."""
    cw, rtol, one_hot, first, totals, hot = check
    cdef cnp.ndarray t_arr = <cnp.ndarray>totals, h_arr = <cnp.ndarray>hot
    if (cnp.PyArray_TYPE(t_arr) != cnp.NPY_FLOAT64 or cnp.PyArray_TYPE(h_arr) != cnp.NPY_INT8
            or not cnp.PyArray_IS_C_CONTIGUOUS(t_arr) or not cnp.PyArray_IS_C_CONTIGUOUS(h_arr)
            or t_arr.shape[0] < n_blocks or h_arr.shape[0] < n_blocks):
        raise TypeError("totals and hot are contiguous float64 and int8, one per block")
    c.st.C = C
    c.st.cw = _dptr(cw)
    c.st.rtol = rtol
    if sums is not None:
        c.sums = <double *>cnp.PyArray_DATA(sums)
        c.wsums = <double *>cnp.PyArray_DATA(wsums)
        c.ids = <int64_t *>cnp.PyArray_DATA(ids)
    c.totals = <double *>cnp.PyArray_DATA(t_arr)
    c.hot = <signed char *>cnp.PyArray_DATA(h_arr)
    c.one_hot = one_hot
    c.first = first
    return 0


cdef inline void _sub_block(const xk_block *b, xk_block *sub, Py_ssize_t r0,
                            Py_ssize_t block_rows, Py_ssize_t size) noexcept nogil:
    """``sub``: the rows ``r0 : r0 + block_rows`` of ``b`` (fewer at its end), ``size`` the
    bytes of an entry."""
    sub[0] = b[0]
    sub.R = min(block_rows, b.R - r0)
    sub.x = <const char *>b.x + r0 * b.x_rs * size
    if b.t != NULL:
        sub.t = <const char *>b.t + r0 * b.t_rs * size
    if b.out != NULL:
        sub.out = <char *>b.out + r0 * b.o_rs * size
    if b.labels != NULL:
        sub.labels = b.labels + r0
    if b.row_weight != NULL:
        sub.row_weight = b.row_weight + r0
    if b.row_out != NULL:
        sub.row_out = b.row_out + r0
    if b.state != NULL:
        sub.state = b.state + r0 * XK_STATE_LEN


cdef struct _Shared:
    # what the threads of a job share: its blocks' count, the next block to take, the blocks
    # done, a stop, and the lead's word that the others may go (see _run_part)
    Py_ssize_t n_blocks
    int64_t next_block, stop, done, released


ctypedef int (*_part_fn)(void *job) noexcept nogil


cdef struct _Job:
    _Shared s
    xk_block b
    int kind, mode
    bint from_logits, checking
    bint stats_only  # the targets' checks alone (`stats_span`'s), no loss
    _SpanCheck chk  # (the checks' template: each thread's has per-row buffers of its own)
    Py_ssize_t block_rows, size
    double *sums
    float *rows_f  # float32 per-row values (row_out float32): each block's from its doubles


cdef int _job_part(_Job *job) noexcept nogil:
    """This thread's blocks of a job, taken from its counter until none is left (or a block
    stopped it: class ids out of range, or a failed check of its targets); -1 where this
    thread's buffers could not be had (it then takes no block)."""
    cdef const xk_variant *v = xk_get_variant(_current)
    cdef Py_ssize_t rows = job.block_rows
    cdef _SpanCheck chk = job.chk
    cdef _SpanCheck *check = &chk if job.checking else NULL
    cdef double *scratch = <double *>malloc(xk_scratch_len(job.b.C) * sizeof(double))
    # float32 per-row values: each block's doubles here, then rounded into rows_f
    cdef double *row_values = NULL
    chk.sums = chk.wsums = NULL
    chk.ids = NULL
    if job.checking:
        chk.sums = <double *>malloc(rows * sizeof(double))
        chk.wsums = <double *>malloc(rows * sizeof(double))
        chk.ids = <int64_t *>malloc(rows * sizeof(int64_t))
    if job.rows_f != NULL:
        row_values = <double *>malloc(rows * sizeof(double))
    if scratch == NULL or (job.checking and (chk.sums == NULL or chk.wsums == NULL
                                             or chk.ids == NULL)) or (
            job.rows_f != NULL and row_values == NULL):
        _free4(scratch, chk.sums, chk.wsums, chk.ids)
        free(row_values)
        return -1
    cdef xk_block sub
    cdef int64_t j
    cdef Py_ssize_t i
    cdef int status
    while not xk_count(&job.s.stop):
        j = xk_take(&job.s.next_block)
        if j >= job.s.n_blocks:
            break
        _sub_block(&job.b, &sub, j * rows, rows, job.size)
        sub.scratch = scratch
        if row_values != NULL:
            sub.row_out = row_values
        if job.stats_only:
            status = _span_check_block(v, job.kind, check, &sub, j)
        else:
            status = _span_block(v, &sub, job.kind, job.mode, job.from_logits, check, j, NULL, 0)
        if row_values != NULL and status >= 0:
            # rounded as NumPy's casts round (to nearest; beyond float's range, inf)
            for i in range(sub.R):
                job.rows_f[j * rows + i] = <float>row_values[i]
        job.sums[2 * j] = sub.loss_sum
        job.sums[2 * j + 1] = sub.loss_sum_small
        xk_count_up(&job.s.done)
        if sub.ids_bad or status < 0:  # (a failed check: the caller finds out why)
            xk_set(&job.s.stop)
            break
    _free4(scratch, chk.sums, chk.wsums, chk.ids)
    free(row_values)
    return 0


#: How long a thread of `SharedBlocks.run` waits for the lead thread at most (turns of
#: xk_pause: a few milliseconds): the lead takes the GIL back as soon as the last block is done.
cdef int64_t RELEASE_SPINS = 20000


cdef int _job_part_v(void *job) noexcept nogil:
    return _job_part(<_Job *>job)


cdef void _helper_part(void *job) noexcept nogil:
    """A helper thread's part of a job (pool.h): its blocks (none where its buffers could not
    be had: the others take them)."""
    _job_part(<_Job *>job)


cdef void _shared_wait(_Shared *s) noexcept nogil:
    """Until every block a thread took is done (at most one each, also after a stop): then
    nothing writes to the call's arrays any more."""
    cdef int64_t spins = 0
    while xk_count(&s.done) < min(xk_count(&s.next_block), s.n_blocks):
        xk_pause(spins)
        spins += 1


cdef int _run_pooled(_Shared *s, _part_fn part, xk_pool_fn helper, void *job,
                     int64_t helpers) noexcept nogil:
    """A job (``part`` of ``job`` on this thread, ``helper`` on the kernel's first ``helpers``
    helper threads) until every block is done: 0, -1 where this thread's part failed (it then
    stops the job), 1 where the pool is held by another call or missing (nothing run)."""
    cdef int status = 0
    if not xk_pool_post(helper, job, helpers):
        return 1
    if part(job) < 0:
        status = -1
        xk_set(&s.stop)
    _shared_wait(s)
    xk_pool_finish()
    return status


cdef int _run_part(_Shared *s, _part_fn part, void *job, bint lead) noexcept nogil:
    """One engine thread's part of a job (`SharedBlocks.run`): its blocks until none is left,
    then until every block taken is done; the others (not ``lead``) then wait (a while at
    most) for the lead to take the GIL back, so that it need not wait for one of them to let
    go of it (a thread waiting for the GIL is woken up: a tenth of a millisecond on a 2-core
    VM). -1 where this thread's part failed (the lead's stops the job)."""
    cdef int status = 0
    cdef int64_t spins = 0
    if part(job) < 0:
        status = -1
        if lead:
            xk_set(&s.stop)
    _shared_wait(s)
    while not lead and not xk_count(&s.released) and spins < RELEASE_SPINS:
        xk_pause(spins)
        spins += 1
    return status


cdef inline void _free4(void *a, void *b, void *c, void *d) noexcept nogil:
    free(a)
    free(b)
    free(c)
    free(d)




def pool_supported():
    """Whether this build has the kernel's helper threads (pool.h: POSIX threads)."""
    return bool(xk_pool_supported())


def pool_helper(int64_t index):
    """The body of the kernel's helper thread ``index`` (0, 1, ...): it waits for jobs in C,
    without the GIL, and never returns (`_engine.start_helpers` runs it on daemon threads)."""
    with nogil:
        xk_pool_helper(index)


def pool_reset():
    """In a forked child: the helper pool as new (the parent's helpers are not there)."""
    xk_pool_reset()


cdef class SharedBlocks:
    """The blocks of one call, run by several threads that take them from a counter they share:
    no Python between blocks.

    Made from `softmax_block`'s arguments (without ``scratch`` and ``state``; ``check`` for
    every block of the call; ``row_out`` also float32, each block's values rounded from its
    doubles, as NumPy's cast rounds), with ``block_rows`` > 0; with ``stats_only``, the checks
    of the targets ``t`` alone, as `stats_span` makes them (``x`` the targets too). It keeps pointers
    into the arrays, not the arrays: the caller keeps them alive until its own `run_pooled` or
    `run` (``lead``) has returned, which it does once every block that a thread took is done (a
    thread that starts late finds no block left, and touches nothing but this object). `results` then gives each
    block's two sums, as `softmax_block` returns them; a block whose class ids are out of range
    stops every thread, and the lead raises `ClassIdsOutOfRange`; a block whose targets' check
    fails stops them too (`failed`): the caller runs the call block by block, which says why.
    """

    cdef _Job job

    def __cinit__(self, int mode, cnp.ndarray x, object out, object labels, object row_weight,
                  object cw, object cw_others, double cw_sum, double eps, double grad_div,
                  object row_out, bint from_logits, double z_loss, double gamma,
                  Py_ssize_t block_rows, int64_t id_limit, object t=None, object check=None,
                  bint stats_only=False):
        memset(&self.job, 0, sizeof(_Job))
        if block_rows <= 0 or mode == STATE:
            raise ValueError("SharedBlocks takes block_rows > 0, not mode STATE")
        cdef _Job *job = &self.job
        # float32 per-row values: rounded from each block's doubles (see _job_part)
        cdef bint rows_f = row_out is not None and cnp.PyArray_TYPE(<cnp.ndarray>row_out) == (
            cnp.NPY_FLOAT32)
        if rows_f and (not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>row_out)
                       or cnp.PyArray_SIZE(<cnp.ndarray>row_out) != x.shape[0]):
            raise TypeError("float32 per-row values are contiguous, one per row of x")
        job.kind = _fill_block(&job.b, mode, x, out, t, labels, row_weight, cw, cw_others,
                               cw_sum, eps, grad_div, None if rows_f else row_out, from_logits,
                               z_loss, gamma, None, id_limit)
        if rows_f:
            job.rows_f = <float *>cnp.PyArray_DATA(<cnp.ndarray>row_out)
        job.mode, job.from_logits, job.block_rows = mode, from_logits, block_rows
        job.size = 4 if job.kind == 0 else 8
        job.s.n_blocks = (job.b.R + block_rows - 1) // block_rows
        job.checking = check is not None
        if job.checking:
            if mode != CATEGORICAL or job.b.t == NULL:
                raise ValueError("check takes the categorical loss's targets")
            _span_check_init(&job.chk, check, job.b.C, job.s.n_blocks, None, None, None)
        elif stats_only:
            raise ValueError("stats_only takes a check")
        job.stats_only = stats_only
        if stats_only:
            job.chk.first = 1
        job.sums = <double *>calloc(2 * job.s.n_blocks + 2, sizeof(double))
        if job.sums == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.job.sums)

    def run_pooled(self, int64_t helpers):
        """The whole job on this thread and the first ``helpers`` of the kernel's helper
        threads (`pool_helper`); False (nothing run) where the pool is held by another call
        or missing, which then runs the job with `run` on the engine's threads."""
        cdef int status
        with nogil:
            status = _run_pooled(&self.job.s, _job_part_v, _helper_part, &self.job, helpers)
        if status == 1:
            return False
        self._raise(status)
        return True

    def run(self, bint lead):
        """This thread's part (one of the engine's threads; see _run_part)."""
        cdef int status
        with nogil:
            status = _run_part(&self.job.s, _job_part_v, &self.job, lead)
        if lead:
            xk_set(&self.job.s.released)
            self._raise(status)

    def _raise(self, int status):
        if status < 0:
            raise MemoryError()
        if xk_count(&self.job.s.stop) and not self.job.checking:
            raise ClassIdsOutOfRange

    def failed(self):
        """Whether a block's check of its targets failed (after the lead's run): the call's
        results are then not all there."""
        return bool(self.job.s.stop)

    def results(self):
        """Each block's sum of weighted per-row losses and the same sum times 2**-64, in block
        order (after the lead's run)."""
        return [(self.job.sums[2 * j], self.job.sums[2 * j + 1])
                for j in range(self.job.s.n_blocks)]


cdef struct _BinaryJob:
    _Shared s
    xk_binary b  # the whole call's arrays (no per-element loss); tiles are its ranges
    int kind
    Py_ssize_t x_size, y_size
    int64_t *bounds  # tile j: elements bounds[j] .. bounds[j + 1] - 1
    double *sums  # per tile: the loss sum, the same times 2**-64
    double *ranges  # per tile: least and greatest label, a NaN label, least and greatest x


cdef int _binary_part(void *job_v) noexcept nogil:
    """This thread's tiles of a binary job, taken from its counter until none is left."""
    cdef _BinaryJob *job = <_BinaryJob *>job_v
    cdef const xk_variant *v = xk_get_variant(_current)
    cdef xk_binary b
    cdef int64_t j, start
    while True:
        j = xk_take(&job.s.next_block)
        if j >= job.s.n_blocks:
            break
        b = job.b
        start = job.bounds[j]
        b.n = job.bounds[j + 1] - start
        b.x = <const char *>job.b.x + start * job.x_size
        b.y = <const char *>job.b.y + start * job.y_size
        if job.b.pw != NULL:
            b.pw = job.b.pw + start
        if job.b.sw != NULL:
            b.sw = job.b.sw + start
        if job.b.grad != NULL:
            b.grad = <char *>job.b.grad + start * job.x_size
        v.binary[job.kind](&b)
        job.sums[2 * j], job.sums[2 * j + 1] = b.loss_sum, b.loss_sum_small
        job.ranges[5 * j], job.ranges[5 * j + 1] = b.y_lo, b.y_hi
        job.ranges[5 * j + 2] = b.y_nan
        job.ranges[5 * j + 3], job.ranges[5 * j + 4] = b.x_lo, b.x_hi
        xk_count_up(&job.s.done)
    return 0


cdef void _binary_helper_part(void *job) noexcept nogil:
    _binary_part(job)


cdef class _SharedRun:
    """What SharedBinary and SharedKL share: a job of blocks that always run to their end, run
    as `SharedBlocks` runs blocks, each block's sums at ``sums[stride j]`` (its loss sum, the
    same times 2**-64). The subclass's job is set up by its own constructor."""

    cdef _Shared *shared
    cdef _part_fn part
    cdef xk_pool_fn helper
    cdef void *data
    cdef double *sums
    cdef Py_ssize_t stride

    def run_pooled(self, int64_t helpers):
        """As `SharedBlocks.run_pooled`."""
        cdef int status
        with nogil:
            status = _run_pooled(self.shared, self.part, self.helper, self.data, helpers)
        if status < 0:
            raise MemoryError()
        return status != 1

    def run(self, bint lead):
        """As `SharedBlocks.run`."""
        cdef int status
        with nogil:
            status = _run_part(self.shared, self.part, self.data, lead)
        if lead:
            xk_set(&self.shared.released)
            if status < 0:
                raise MemoryError()

    def failed(self):
        """False: a block always runs to its end (`run_shared` asks)."""
        return False

    def results(self):
        """Each block's loss sum and the same times 2**-64, in block order."""
        return [(self.sums[self.stride * j], self.sums[self.stride * j + 1])
                for j in range(self.shared.n_blocks)]


cdef class SharedBinary(_SharedRun):
    """The tiles of one binary cross-entropy call (`binary_block` per tile, without per-element
    loss), run as `SharedBlocks` runs blocks: several threads take them from a counter they
    share, no Python between tiles. ``x``, ``y``, ``grad`` and the weights are whole
    contiguous arrays (``grad`` x's dtype, or None; ``pw``, ``sw`` float64 of x's size, or
    None) and ``bounds`` the tiles' element offsets (int64, from 0 to x's length); `results`
    and `ranges` then give each tile's sums and checks, as `binary_block` returns them. The
    caller keeps the arrays alive until its `run_pooled` or `run` (``lead``) has returned."""

    cdef _BinaryJob job

    def __cinit__(self, cnp.ndarray x, cnp.ndarray y, object grad, double eps,
                  double grad_div, bint from_logits, double gamma, double alpha,
                  cnp.ndarray bounds, object pw=None, object sw=None):
        memset(&self.job, 0, sizeof(_BinaryJob))
        cdef _BinaryJob *job = &self.job
        job.kind = _kind(x)
        if not cnp.PyArray_IS_C_CONTIGUOUS(x) or not cnp.PyArray_IS_C_CONTIGUOUS(y) or (
                cnp.PyArray_TYPE(y) not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)) or (
                cnp.PyArray_SIZE(y) != cnp.PyArray_SIZE(x)):
            raise TypeError("x and y must be contiguous, y float32 or float64 of x's size")
        if grad is not None and (_kind(<cnp.ndarray>grad) != job.kind or not (
                cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>grad)) or (
                cnp.PyArray_SIZE(<cnp.ndarray>grad) != cnp.PyArray_SIZE(x))):
            raise TypeError("grad must be contiguous with x's dtype and size")
        cdef Py_ssize_t n = bounds.shape[0] - 1
        if (cnp.PyArray_TYPE(bounds) != cnp.NPY_INT64 or bounds.ndim != 1 or n < 1
                or not cnp.PyArray_IS_C_CONTIGUOUS(bounds)):
            raise TypeError("bounds must be a contiguous int64 vector of two or more offsets")
        cdef const int64_t *bp = <const int64_t *>cnp.PyArray_DATA(bounds)
        cdef Py_ssize_t j
        if bp[0] != 0 or bp[n] != cnp.PyArray_SIZE(x):
            raise ValueError("bounds must run from 0 to x's size")
        for j in range(n):
            if bp[j + 1] <= bp[j]:
                raise ValueError("bounds must increase")
        job.s.n_blocks = n
        job.x_size = cnp.PyArray_ITEMSIZE(x)
        job.y_size = cnp.PyArray_ITEMSIZE(y)
        job.b.x = cnp.PyArray_DATA(x)
        job.b.y = cnp.PyArray_DATA(y)
        job.b.y_float = cnp.PyArray_TYPE(y) == cnp.NPY_FLOAT32
        job.b.grad = NULL if grad is None else cnp.PyArray_DATA(<cnp.ndarray>grad)
        for w in (pw, sw):
            if w is not None and cnp.PyArray_SIZE(<cnp.ndarray>w) != cnp.PyArray_SIZE(x):
                raise TypeError("pw and sw must be contiguous float64 of x's size")
        job.b.pw = _dptr(pw)
        job.b.sw = _dptr(sw)
        job.b.eps, job.b.grad_div, job.b.from_logits = eps, grad_div, from_logits
        job.b.gamma, job.b.alpha = gamma, alpha
        job.bounds = <int64_t *>malloc((n + 1) * sizeof(int64_t))
        job.sums = <double *>calloc(2 * n, sizeof(double))
        job.ranges = <double *>calloc(5 * n, sizeof(double))
        if job.bounds == NULL or job.sums == NULL or job.ranges == NULL:
            raise MemoryError()
        memcpy(job.bounds, bp, (n + 1) * sizeof(int64_t))
        self.shared, self.part, self.helper = &job.s, _binary_part, _binary_helper_part
        self.data, self.sums, self.stride = job, job.sums, 2

    def __dealloc__(self):
        free(self.job.bounds)
        free(self.job.sums)
        free(self.job.ranges)

    def ranges(self):
        """Each tile's least and greatest label, whether one is NaN, and least and greatest
        x, as `binary_block` returns them."""
        cdef double *r = self.job.ranges
        return [(r[5 * j], r[5 * j + 1], bool(r[5 * j + 2]), r[5 * j + 3], r[5 * j + 4])
                for j in range(self.job.s.n_blocks)]


cdef inline Py_ssize_t _kl_scratch_len(Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t rows = 12 * ((C + 7) // 8 * 8)
    return max(rows, 80 * C) if C <= XK_KL_TILE_C else rows


cdef struct _KLJob:
    _Shared s
    xk_kl b  # the whole call's arrays; blocks are its runs of block_rows rows
    int kind
    Py_ssize_t block_rows, size
    float *rows_f  # float32 per-row values (row_out float32): each block's from its doubles
    double *sums  # per block: the loss sum, the same times 2**-64, a NaN target logit (0, 1)


cdef int _kl_part(void *job_v) noexcept nogil:
    """This thread's blocks of a KL job, taken from its counter until none is left; -1 where
    its buffers could not be had (it then takes no block)."""
    cdef _KLJob *job = <_KLJob *>job_v
    cdef const xk_variant *v = xk_get_variant(_current)
    cdef Py_ssize_t rows = job.block_rows, i
    cdef double *scratch = <double *>malloc(_kl_scratch_len(job.b.C) * sizeof(double))
    cdef double *row_values = NULL
    if job.rows_f != NULL:
        row_values = <double *>malloc(rows * sizeof(double))
    if scratch == NULL or (job.rows_f != NULL and row_values == NULL):
        free(scratch)
        free(row_values)
        return -1
    cdef xk_kl b
    cdef int64_t j, r0
    while not xk_count(&job.s.stop):
        j = xk_take(&job.s.next_block)
        if j >= job.s.n_blocks:
            break
        r0 = j * rows
        b = job.b
        b.R = min(rows, job.b.R - r0)
        b.p = <const char *>job.b.p + r0 * job.b.p_rs * job.size
        b.q = <const char *>job.b.q + r0 * job.b.q_rs * job.size
        if job.b.grad != NULL:
            b.grad = <char *>job.b.grad + r0 * job.b.g_rs * job.size
        if job.b.row_weight != NULL:
            b.row_weight = job.b.row_weight + r0
        if row_values != NULL:
            b.row_out = row_values
        elif job.b.row_out != NULL:
            b.row_out = job.b.row_out + r0
        b.scratch = scratch
        b.loss_sum = b.loss_sum_small = 0.0
        b.p_nan = 0
        v.kl[job.kind](&b)
        if row_values != NULL:  # rounded as NumPy's casts round
            for i in range(b.R):
                job.rows_f[r0 + i] = <float>row_values[i]
        job.sums[3 * j], job.sums[3 * j + 1] = b.loss_sum, b.loss_sum_small
        job.sums[3 * j + 2] = b.p_nan
        xk_count_up(&job.s.done)
    free(scratch)
    free(row_values)
    return 0


cdef void _kl_helper_part(void *job) noexcept nogil:
    _kl_part(job)


cdef class SharedKL(_SharedRun):
    """The blocks of one KL divergence call (`kl_block` per block of ``block_rows`` rows), run
    as `SharedBlocks` runs blocks. ``p`` and ``q`` (and ``grad``) are (R, C) arrays of one
    dtype with unit class stride; ``row_weight`` float64 (R,) or None; ``row_out`` float64 or
    float32 (R,) or None (float32: each block's values rounded from its doubles). `results`
    then gives each block's sums, and `target_nan` whether a target logit is NaN. The caller
    keeps the arrays alive until its `run_pooled` or `run` (``lead``) has returned."""

    cdef _KLJob job

    def __cinit__(self, cnp.ndarray p, cnp.ndarray q, object grad, object row_weight,
                  object row_out, double temperature, double grad_div, bint p_logits,
                  bint q_logits, Py_ssize_t block_rows):
        memset(&self.job, 0, sizeof(_KLJob))
        cdef _KLJob *job = &self.job
        job.kind = _kind(q)
        if _kind(p) != job.kind or p.ndim != 2 or q.ndim != 2 or p.shape[0] != q.shape[0] or (
                p.shape[1] != q.shape[1]):
            raise TypeError("p and q must be (R, C) arrays of one dtype")
        if block_rows <= 0:
            raise ValueError("SharedKL takes block_rows > 0")
        job.size = cnp.PyArray_ITEMSIZE(q)
        job.b.R, job.b.C = q.shape[0], q.shape[1]
        job.b.p = cnp.PyArray_DATA(p)
        _strides2(p, &job.b.p_rs, &job.b.p_cs)
        job.b.q = cnp.PyArray_DATA(q)
        _strides2(q, &job.b.q_rs, &job.b.q_cs)
        if grad is not None:
            if _kind(<cnp.ndarray>grad) != job.kind or (<cnp.ndarray>grad).ndim != 2:
                raise TypeError("grad must be (R, C) with q's dtype")
            job.b.grad = cnp.PyArray_DATA(<cnp.ndarray>grad)
            _strides2(<cnp.ndarray>grad, &job.b.g_rs, &job.b.g_cs)
        if job.b.p_cs != 1 or job.b.q_cs != 1 or (grad is not None and job.b.g_cs != 1):
            raise TypeError("p, q and grad must have unit class stride")
        job.b.row_weight = _dptr(row_weight)
        if row_out is not None and cnp.PyArray_TYPE(<cnp.ndarray>row_out) == cnp.NPY_FLOAT32:
            if (not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>row_out)
                    or cnp.PyArray_SIZE(<cnp.ndarray>row_out) != job.b.R):
                raise TypeError("float32 per-row values are contiguous, one per row of q")
            job.rows_f = <float *>cnp.PyArray_DATA(<cnp.ndarray>row_out)
        else:
            job.b.row_out = <double *>_dptr(row_out)
        job.b.temperature, job.b.grad_div = temperature, grad_div
        job.b.p_logits, job.b.q_logits = p_logits, q_logits
        job.block_rows = block_rows
        job.s.n_blocks = (job.b.R + block_rows - 1) // block_rows
        job.sums = <double *>calloc(3 * job.s.n_blocks + 3, sizeof(double))
        if job.sums == NULL:
            raise MemoryError()
        self.shared, self.part, self.helper = &job.s, _kl_part, _kl_helper_part
        self.data, self.sums, self.stride = job, job.sums, 3

    def __dealloc__(self):
        free(self.job.sums)

    def target_nan(self):
        """Whether a block found a NaN target logit."""
        return any(self.job.sums[3 * j + 2] != 0 for j in range(self.job.s.n_blocks))


cdef int _span_block(const xk_variant *v, xk_block *sub, int kind, int mode, bint from_logits,
                     _SpanCheck *chk, Py_ssize_t j, const char *pf,
                     Py_ssize_t pf_lines) noexcept nogil:
    """Block j of a span (``sub``): its check (``chk``, NULL: none) and its kernel; -1 where
    the check failed (the block's sums are then not wanted). ``pf``, ``pf_lines``: the next
    block's targets, prefetched where the check of this one is not the kernel's."""
    cdef int sub_mode = mode, status
    # rows of two classes in the unweighted loop: a one-hot row gives the sparse loss's bits
    # there, so that they need not run as the sparse loss (nor be read for ids)
    cdef bint two_plain = from_logits and sub.C == 2 and xk_two_plain(sub, mode)
    cdef bint tiles = False, rows = False, hot = False
    # the kernel checks the targets as it reads them (two-class pairs, float rows of many
    # classes) or from its tiles (rows of few classes); where the block may be one-hot, the
    # first row says whether it may: the forward pass of such rows looks for one-hot rows
    # itself (xk_block.hot_scan), the tiles and the gradient do not, and `stats` checks the
    # block instead
    if chk != NULL and chk.first and not (two_plain and xk_two_pairs(sub, mode)) and from_logits:
        tiles = xk_tile_check(sub, mode, kind == 0)
        rows = not tiles and xk_row_check(sub, mode, kind == 0)
        hot = (tiles or rows) and chk.one_hot and xk_row_one_hot(sub.t, sub.t_cs, sub.C,
                                                                 kind == 0)
    if chk != NULL and chk.first and (
            (two_plain and xk_two_pairs(sub, mode))
            or ((tiles or rows) and not hot)
            or (rows and hot and xk_hot_rows(sub, mode, kind == 0))):
        # (rtol and cw set; the rows' sums and weights for xk_row_check's total)
        chk.st.R, chk.st.sums, chk.st.row_weight = sub.R, chk.sums, sub.row_weight
        sub.check = &chk.st
        sub.hot_scan = hot
        _run_block(v, sub, kind, sub_mode, from_logits)
        status = _stats_status(&chk.st)
        chk.totals[j] = chk.st.total
        chk.hot[j] = <signed char>status
        return -1 if status < 0 else 0
    if chk != NULL and not (two_plain and not chk.first):
        if _span_check_block(v, kind, chk, sub, j) < 0:
            return -1
        sub.pf, sub.pf_lines = pf, pf_lines
        if chk.hot[j] == 1:  # one-hot rows: the sparse loss of their classes
            sub_mode, sub.t, sub.labels = SPARSE_MODE, NULL, chk.ids
    _run_block(v, sub, kind, sub_mode, from_logits)
    return 0


cdef int _span_check_block(const xk_variant *v, int kind, _SpanCheck *c, const xk_block *sub,
                           Py_ssize_t j) noexcept nogil:
    """Check block j of a span (sub); -1 where the check fails."""
    if not c.first and c.hot[j] != 1:
        return 0
    cdef int status = _stats_run(v, kind, &c.st, sub.t, sub.t_rs, sub.t_cs, sub.R, c.sums,
                                 c.wsums, c.ids if c.one_hot else NULL, sub.row_weight, NULL)
    if c.first:
        c.totals[j] = c.st.total
        c.hot[j] = <signed char>status
        return status
    if status != 1:  # (not expected: the same targets were one-hot before)
        c.hot[j] = 0
    return 0


cdef int _stats_run(const xk_variant *v, int kind, xk_stats *st, const void *t, Py_ssize_t rs,
                    Py_ssize_t cs, Py_ssize_t R, double *sums, double *wsums, int64_t *hot,
                    const double *row_weight, int *all_hot) noexcept nogil:
    """The stats pass over R rows of targets t (its results in st, the total target weight
    too): -1 where they are not distributions (an entry below 0, above 1 or NaN, a row sum off
    1), else 1 where every row is one-hot (with hot), else 0; whatever the answer, whether
    every row is one-hot into all_hot (if not NULL)."""
    st.R = R
    st.t = t
    st.rs = rs
    st.cs = cs
    st.sums = sums
    st.wsums = wsums
    st.hot = hot
    st.row_weight = row_weight
    v.stats[kind](st)
    if all_hot != NULL:
        all_hot[0] = st.all_hot  # (0 without hot)
    return _stats_status(st)


cdef inline int _stats_status(const xk_stats *st) noexcept nogil:
    """-1 where the targets are not distributions (an entry below 0, above 1 or NaN, a row
    sum off 1), else 1 where every row is one-hot, else 0."""
    if st.lo < 0 or st.hi > 1 or st.nan or st.bad_sum:
        return -1
    return st.all_hot


cdef inline void _run_block(const xk_variant *v, xk_block *b, int kind, int mode,
                            bint from_logits) noexcept nogil:
    if from_logits:
        v.softmax[kind](b, mode)
    else:
        v.prob[kind](b, mode)


cdef inline double *_state_ptr(object state, Py_ssize_t R) except NULL:
    cdef cnp.ndarray a = <cnp.ndarray>state
    if (cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT64 or not cnp.PyArray_IS_C_CONTIGUOUS(a) or a.ndim != 2
            or a.shape[0] < R or a.shape[1] != XK_STATE_LEN):
        raise TypeError(f"states are contiguous float64 of shape (R, {XK_STATE_LEN})")
    return <double *>cnp.PyArray_DATA(a)


def state_merge(cnp.ndarray acc, cnp.ndarray chunk, double w_acc, double w_chunk, bint smooth):
    """Merge the softmax states of a chunk of each row's classes (mode STATE) into ``acc``, the
    states of the classes before it; ``w_acc`` and ``w_chunk`` are the two sides' sums of class
    weights (for vs, with ``smooth``)."""
    cdef Py_ssize_t R = acc.shape[0]
    cdef double *a = _state_ptr(acc, R)
    cdef double *c = _state_ptr(chunk, R)
    cdef const xk_variant *v = xk_get_variant(_current)
    with nogil:
        v.state_merge(R, a, c, w_acc, w_chunk, smooth)


def state_finish(cnp.ndarray state, Py_ssize_t C, object labels, object row_weight, object cw,
                 double cw_sum, double eps, double grad_div, double z_loss, object row_out):
    """The sparse loss of rows of ``C`` classes from their merged states (x_y in column 4), as
    `softmax_block` in mode SPARSE gives it without a gradient. Returns the sum of the weighted
    per-row losses, in row order, and the same sum times 2**-64."""
    cdef xk_block b
    memset(&b, 0, sizeof(b))
    b.R = state.shape[0]
    b.C = C
    b.state = _state_ptr(state, b.R)
    b.labels = _labels_ptr(labels, b.R)
    b.row_weight = _dptr(row_weight)
    b.cw = _dptr(cw)
    b.cw_sum = cw_sum
    b.eps = eps
    b.grad_div = grad_div
    b.z = z_loss
    b.row_out = <double *>_dptr(row_out)
    cdef const xk_variant *v = xk_get_variant(_current)
    with nogil:
        v.state_finish(&b)
    return b.loss_sum, b.loss_sum_small


def stats_block(cnp.ndarray t, object cw, cnp.ndarray sums, object wsums, object hot=None,
                double rtol=INFINITY, object row_weight=None):
    """Per row of ``t`` (R, C) (float32/64, any strides): ``sums`` = sum_c t_c and, with ``cw``
    (float64 (C,)), ``wsums`` = sum_c cw_c t_c (float64 (R,)); with ``hot`` (int64 (R,)), the
    class of the row's only nonzero entry where it is exactly 1 (else negative; the rows after
    the first that is not one-hot may be left as they are). Returns the least and the
    greatest entry (NaN skipped), whether an entry is NaN, whether a row sum is further than
    ``rtol`` from 1 (a NaN sum is not), the block's total target weight
    ``sum_r row_weight_r * (w)sums_r`` (``row_weight``: float64 (R,), None for 1) and whether
    every row is one-hot (with ``hot``)."""
    cdef xk_stats s
    cdef cnp.ndarray a
    cdef int kind = _kind(t)
    cdef Py_ssize_t rs, cs, R = t.shape[0]
    cdef int64_t *hp = NULL
    cdef int all_hot = 0
    s.C = t.shape[1]
    _strides2(t, &rs, &cs)
    s.cw = _dptr(cw)
    s.rtol = rtol
    cdef double *sp = <double *>_dptr(sums)
    cdef double *wp = <double *>_dptr(wsums)
    cdef const double *swp = _dptr(row_weight)
    if hot is not None:
        a = <cnp.ndarray>hot
        if (cnp.PyArray_TYPE(a) != cnp.NPY_INT64 or not cnp.PyArray_IS_C_CONTIGUOUS(a)
                or a.shape[0] < R):
            raise TypeError("hot is contiguous int64, one per row")
        hp = <int64_t *>cnp.PyArray_DATA(a)
    if sums.shape[0] < R or (cw is not None and (wsums is None or wsums.shape[0] < R)):
        raise ValueError("sums and wsums need a value per row")
    if row_weight is not None and row_weight.shape[0] < R:
        raise ValueError("row_weight needs a value per row")
    cdef const void *data = cnp.PyArray_DATA(t)
    cdef const xk_variant *v = xk_get_variant(_current)
    if R * s.C < GIL_FREE_MIN:
        _stats_run(v, kind, &s, data, rs, cs, R, sp, wp, hp, swp, &all_hot)
    else:
        with nogil:
            _stats_run(v, kind, &s, data, rs, cs, R, sp, wp, hp, swp, &all_hot)
    return s.lo, s.hi, bool(s.nan), bool(s.bad_sum), s.total, bool(all_hot)


def stats_span(cnp.ndarray t, Py_ssize_t block_rows, tuple check, object row_weight=None):
    """`stats_block` on the consecutive blocks of ``block_rows`` rows of ``t`` (R, C) in one
    call, with ``check`` as for `softmax_block` (its ``first`` set): each block's total into
    ``totals``, its one-hot flag into ``hot``; the count of blocks checked, which ends before
    a block whose check fails (its flag -1). ``row_weight``: float64 (R,), None for 1."""
    cdef int kind = _kind(t)
    cdef Py_ssize_t R = t.shape[0], r0 = 0, j = 0, size = 4 if kind == 0 else 8
    if block_rows <= 0 or block_rows >= R:
        block_rows = max(R, 1)
    if row_weight is not None and row_weight.shape[0] < R:
        raise ValueError("row_weight needs a value per row")
    cdef cnp.ndarray c_sums = np.empty(block_rows), c_wsums = np.empty(block_rows)
    cdef cnp.ndarray c_ids = np.empty(block_rows, np.int64)
    cdef _SpanCheck chk
    _span_check_init(&chk, check, t.shape[1], (R + block_rows - 1) // block_rows, c_sums,
                     c_wsums, c_ids)
    chk.first = 1
    cdef xk_block sub
    _strides2(t, &sub.t_rs, &sub.t_cs)
    cdef const char *data = <const char *>cnp.PyArray_DATA(t)
    cdef const double *sw = _dptr(row_weight)
    cdef const xk_variant *v = xk_get_variant(_current)
    with nogil:
        while r0 < R:
            sub.R = min(block_rows, R - r0)
            sub.t = data + r0 * sub.t_rs * size
            sub.row_weight = sw
            if sw != NULL:
                sub.row_weight = sw + r0
            if _span_check_block(v, kind, &chk, &sub, j) < 0:
                break
            j += 1
            r0 += block_rows
    return j


class ClassIdsOutOfRange(Exception):
    """A block's class ids, checked as the block is run (``softmax_block``'s ``id_limit``, or
    `xent._validation.block_id_check`), hold one outside [0, C): the caller then checks the
    whole batch's ids, which says where."""


def id_range(cnp.ndarray y, object skip=None):
    """The least and greatest of the contiguous int64 or int32 class ids ``y`` not equal to
    ``skip``, and how many there are, in one vectorized pass (NumPy's min and max take two, and
    a copy without ``skip``'s entries); None for other arrays (also ids in the other byte
    order, which the kernel would read swapped)."""
    if not cnp.PyArray_IS_C_CONTIGUOUS(y) or y.ndim != 1 or not cnp.PyArray_ISNOTSWAPPED(y):
        return None
    cdef int size = cnp.PyArray_ITEMSIZE(y)
    if not cnp.PyArray_ISSIGNED(y) or (size != 4 and size != 8):
        return None
    cdef int is32 = size == 4
    cdef int64_t sk = 0 if skip is None else skip
    cdef int use = skip is not None
    cdef int64_t lo, hi
    cdef Py_ssize_t n = y.shape[0], count
    cdef const void *data = cnp.PyArray_DATA(y)
    cdef const xk_variant *v = xk_get_variant(_current)
    if n < GIL_FREE_MIN:
        v.id_range(data, is32, n, sk, use, &lo, &hi, &count)
    else:
        with nogil:
            v.id_range(data, is32, n, sk, use, &lo, &hi, &count)
    return lo, hi, count


def binary_block(cnp.ndarray x, cnp.ndarray y, object pw, object sw, object grad,
                 object loss_out, double eps, double grad_div, bint from_logits,
                 double gamma=0.0, double alpha=-1.0):
    """Binary cross-entropy of contiguous 1-D arrays: x (float32/64), y float32 or float64,
    pw, sw float64, grad x's dtype or None, loss_out float64 or None; the focal loss with
    ``gamma`` != 0 or ``alpha`` >= 0 (< 0: no alpha). Returns the sum of the losses, their sum
    times 2**-64, and the checks: the least and greatest label (NaN skipped; inf and -inf for
    none), whether a label is NaN, and (from probabilities) the least and greatest x."""
    cdef xk_binary b
    cdef int kind = _kind(x)
    if not cnp.PyArray_IS_C_CONTIGUOUS(x):
        raise TypeError("x must be contiguous")
    if not cnp.PyArray_IS_C_CONTIGUOUS(y) or y.shape[0] != x.shape[0] or cnp.PyArray_TYPE(y) not in (
            cnp.NPY_FLOAT32, cnp.NPY_FLOAT64):
        raise TypeError("y must be contiguous float32 or float64, x's length")
    b.n = x.shape[0]
    b.x = cnp.PyArray_DATA(x)
    b.y = cnp.PyArray_DATA(y)
    b.y_float = cnp.PyArray_TYPE(y) == cnp.NPY_FLOAT32
    b.pw = _dptr(pw)
    b.sw = _dptr(sw)
    b.grad = NULL
    if grad is not None:
        if _kind(<cnp.ndarray>grad) != kind or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>grad):
            raise TypeError("grad must be contiguous with x's dtype")
        b.grad = cnp.PyArray_DATA(<cnp.ndarray>grad)
    b.loss_out = <double *>_dptr(loss_out)
    b.eps = eps
    b.grad_div = grad_div
    b.from_logits = from_logits
    b.gamma = gamma
    b.alpha = alpha
    b.loss_sum = 0.0
    cdef const xk_variant *v = xk_get_variant(_current)
    if b.n < GIL_FREE_MIN:
        v.binary[kind](&b)
    else:
        with nogil:
            v.binary[kind](&b)
    return b.loss_sum, b.loss_sum_small, b.y_lo, b.y_hi, bool(b.y_nan), b.x_lo, b.x_hi


def binary_one_tile(object y_true, object y_pred, bint from_logits, object reduction,
                    object label_smoothing, object focal_gamma, object focal_alpha,
                    bint return_grad, Py_ssize_t block_bytes, object new_array,
                    Py_ssize_t min_out_bytes):
    """Binary cross-entropy (or its focal loss) of ``y_pred`` and labels ``y_true`` without
    weights, its loss or (loss, gradient), where the call is plainly valid and one tile of the
    general path (of ``block_bytes``): NumPy arrays of one shape, float32 or float64, native,
    C-contiguous, at least one entry; the options Python numbers in range (``focal_alpha``
    also None). None for anything else and where a label or probability is out of range (the
    general path says which). As `sparse_one_block`: the general path's kernel call and
    reduction, in C."""
    cdef int red = _reduction_code(reduction)
    cdef double eps, gamma, alpha = -1.0
    if red < 0 or type(y_pred) is not np.ndarray or type(y_true) is not np.ndarray:
        return None
    if not (_plain_option(label_smoothing, 1.0, &eps)
            and _plain_option(focal_gamma, _FLOAT_MAX, &gamma)
            and (focal_alpha is None or _plain_option(focal_alpha, 1.0, &alpha))):
        return None
    cdef cnp.ndarray x = <cnp.ndarray>y_pred, t = <cnp.ndarray>y_true
    cdef int nd = cnp.PyArray_NDIM(x), typ = cnp.PyArray_TYPE(x), ttyp = cnp.PyArray_TYPE(t)
    if ((typ != cnp.NPY_FLOAT32 and typ != cnp.NPY_FLOAT64)
            or (ttyp != cnp.NPY_FLOAT32 and ttyp != cnp.NPY_FLOAT64)
            or not cnp.PyArray_ISNOTSWAPPED(x) or not cnp.PyArray_IS_C_CONTIGUOUS(x)
            or not _same_layout(t, x)):
        return None
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    if n == 0:
        return None
    # one tile of `_engine.tiles(rows, cols, 2)`: steps of max(1, block_bytes // 2) entries
    cdef Py_ssize_t cols = cnp.PyArray_DIM(x, nd - 1) if nd else 1
    cdef Py_ssize_t step = max(1, block_bytes // 2)
    if cols > step or n // cols > step // cols:
        return None
    cdef int kind = 0 if typ == cnp.NPY_FLOAT32 else 1
    cdef object grad = None
    cdef cnp.ndarray rows_out = None
    cdef double *rows = NULL
    cdef xk_binary b
    memset(&b, 0, sizeof(b))
    b.n = n
    b.x = cnp.PyArray_DATA(x)
    b.y = cnp.PyArray_DATA(t)
    b.y_float = ttyp == cnp.NPY_FLOAT32
    b.eps = eps
    b.grad_div = <double>n if red == 2 else 1.0
    b.from_logits = from_logits
    b.gamma = gamma
    b.alpha = alpha
    if return_grad:
        grad = _new_output(x, new_array, min_out_bytes)
        b.grad = cnp.PyArray_DATA(<cnp.ndarray>grad)
    cdef const xk_variant *v = xk_get_variant(_current)
    try:
        if red == 0:
            rows_out = _row_values(nd, cnp.PyArray_DIMS(x), typ, n, &b.loss_out, &rows)
        if n < GIL_FREE_MIN:
            v.binary[kind](&b)
        else:
            with nogil:
                v.binary[kind](&b)
        if b.y_nan or b.y_lo < 0 or b.y_hi > 1 or (not from_logits and (b.x_lo < 0
                                                                       or b.x_hi > 1)):
            return None
        if rows != NULL:
            _round_rows(rows, rows_out, n)
    finally:
        free(rows)
    loss = _one_loss(rows_out, b.loss_sum, b.loss_sum_small, <double>n, red, kind)
    return loss if grad is None else (loss, grad)


cpdef Py_ssize_t kl_scratch_len(Py_ssize_t C):
    """The length of ``kl_block``'s scratch for rows of C classes: twelve rows padded to a
    multiple of eight, and for rows of at most XK_KL_TILE_C (128) classes, which go eight at a
    time, eight rows of ten values per class (80 C doubles at every C had been 82 MB a thread
    at 128,000 classes)."""
    return _kl_scratch_len(C)


def kl_block(cnp.ndarray p, cnp.ndarray q, object grad, object row_weight, object row_out,
             double temperature, double grad_div, bint p_logits, bint q_logits,
             cnp.ndarray scratch):
    """KL divergence of one block: targets ``p`` and predictions ``q`` (R, C), one dtype, each
    logits (divided by ``temperature``) or probabilities; ``grad`` q's dtype and shape or None;
    ``row_weight``, ``row_out`` float64 (R,) or None; ``scratch`` float64 of
    ``kl_scratch_len(C)``. Returns the sum of the weighted per-row losses, their sum times
    2**-64, and whether a target logit is NaN (``p_logits``; the caller's error)."""
    cdef xk_kl b
    cdef int kind = _kind(q)
    if _kind(p) != kind:
        raise TypeError("p must have q's dtype")
    b.R = q.shape[0]
    b.C = q.shape[1]
    b.p = cnp.PyArray_DATA(p)
    _strides2(p, &b.p_rs, &b.p_cs)
    b.q = cnp.PyArray_DATA(q)
    _strides2(q, &b.q_rs, &b.q_cs)
    b.grad = NULL
    b.g_rs = b.g_cs = 0
    if grad is not None:
        if _kind(<cnp.ndarray>grad) != kind:
            raise TypeError("grad must have q's dtype")
        b.grad = cnp.PyArray_DATA(<cnp.ndarray>grad)
        _strides2(<cnp.ndarray>grad, &b.g_rs, &b.g_cs)
    b.row_weight = _dptr(row_weight)
    b.row_out = <double *>_dptr(row_out)
    b.temperature = temperature
    b.grad_div = grad_div
    b.p_logits = p_logits
    b.q_logits = q_logits
    if scratch.shape[0] < kl_scratch_len(b.C):
        raise ValueError("scratch is too small")
    b.scratch = <double *>_dptr(scratch)
    b.loss_sum = b.loss_sum_small = 0.0
    b.p_nan = 0
    cdef const xk_variant *v = xk_get_variant(_current)
    if b.R * b.C < GIL_FREE_MIN:
        v.kl[kind](&b)
    else:
        with nogil:
            v.kl[kind](&b)
    return b.loss_sum, b.loss_sum_small, bool(b.p_nan)


def kl_one_block(object y_true, object y_pred, object axis, object temperature,
                 object reduction, bint return_grad, Py_ssize_t block_bytes, Py_ssize_t min_rows,
                 object new_array, Py_ssize_t min_out_bytes):
    """The KL divergence of teacher logits ``y_true`` and student logits ``y_pred`` (no sample
    weights) as `sparse_one_block` does the sparse loss: where the student's logits are one
    block and plainly valid (`_one_block_kind`), the teacher's a NumPy array of their shape
    and dtype, C-contiguous, and the temperature a Python number in (0, max]; None otherwise
    and where a teacher logit is NaN (the general path says where)."""
    cdef Py_ssize_t R, C
    cdef int kind = _one_block_kind(y_pred, axis, block_bytes, min_rows, &R, &C)
    cdef int red = _reduction_code(reduction)
    cdef double temp
    if kind < 0 or red < 0 or type(y_true) is not np.ndarray:
        return None
    if not _plain_option(temperature, _FLOAT_MAX, &temp) or temp == 0.0:
        return None
    cdef cnp.ndarray q = <cnp.ndarray>y_pred, p = <cnp.ndarray>y_true
    cdef int nd = cnp.PyArray_NDIM(q), typ = cnp.PyArray_TYPE(q)
    if cnp.PyArray_TYPE(p) != typ or not _same_layout(p, q):
        return None
    cdef object grad = None
    cdef cnp.ndarray rows_out = None
    cdef double *rows = NULL
    cdef xk_kl b
    memset(&b, 0, sizeof(b))
    b.R, b.C = R, C
    b.p = cnp.PyArray_DATA(p)
    b.p_rs, b.p_cs = C, 1
    b.q = cnp.PyArray_DATA(q)
    b.q_rs, b.q_cs = C, 1
    b.temperature = temp
    b.grad_div = <double>R if red == 2 else 1.0
    b.p_logits = b.q_logits = 1
    if return_grad:
        grad = _new_output(q, new_array, min_out_bytes)
        b.grad = cnp.PyArray_DATA(<cnp.ndarray>grad)
        b.g_rs, b.g_cs = C, 1
    cdef const xk_variant *v = xk_get_variant(_current)
    try:
        b.scratch = <double *>malloc(kl_scratch_len(C) * sizeof(double))
        if b.scratch == NULL:
            raise MemoryError()
        if red == 0:
            rows_out = _row_values(nd - 1, cnp.PyArray_DIMS(q), typ, R, &b.row_out, &rows)
        if R * C < GIL_FREE_MIN:
            v.kl[kind](&b)
        else:
            with nogil:
                v.kl[kind](&b)
        if b.p_nan:
            return None
        if rows != NULL:
            _round_rows(rows, rows_out, R)
    finally:
        free(b.scratch)
        free(rows)
    loss = _one_loss(rows_out, b.loss_sum, b.loss_sum_small, <double>R, red, kind)
    return loss if grad is None else (loss, grad)


def softplus_block(cnp.ndarray x, cnp.ndarray out, bint negate):
    """out = softplus(x), or log_sigmoid(x) with ``negate``; contiguous 1-D, one dtype."""
    cdef int kind = _kind(x)
    if _kind(out) != kind or not (cnp.PyArray_IS_C_CONTIGUOUS(x) and cnp.PyArray_IS_C_CONTIGUOUS(out)):
        raise TypeError("x and out must be contiguous with one dtype")
    cdef const xk_variant *v = xk_get_variant(_current)
    cdef Py_ssize_t n = x.shape[0]
    cdef const void *px = cnp.PyArray_DATA(x)
    cdef void *po = cnp.PyArray_DATA(out)
    if n < GIL_FREE_MIN:
        v.softplus[kind](px, po, n, negate)
    else:
        with nogil:
            v.softplus[kind](px, po, n, negate)


def expm1(x, variant=None, vector=False):
    """The kernels' expm1 of float64 values, through the scalar or the vector path (for tests)."""
    return _elementwise(4, x, variant, vector)


def _elementwise(int fn, x, variant, vector):
    names = [name for name, _ in variants()]
    if variant is not None and not dict(variants())[variant]:
        raise ValueError(f"the {variant!r} kernels need instructions this CPU does not have")
    cdef cnp.ndarray a = np.ascontiguousarray(x, dtype=np.float64)
    cdef cnp.ndarray out = np.empty_like(a)
    cdef int v = names.index(variant) if variant is not None else _current
    cdef const double *pa = <const double *>cnp.PyArray_DATA(a)
    cdef double *po = <double *>cnp.PyArray_DATA(out)
    cdef Py_ssize_t n = a.size
    cdef int vec = bool(vector)
    with nogil:
        xk_math_array(fn, pa, po, n, v, vec)
    return out


def exp(x, variant=None, vector=False):
    """The kernels' exp of float64 values, through the scalar or the vector path (for tests)."""
    return _elementwise(0, x, variant, vector)


def log(x, variant=None, vector=False):
    """The kernels' log of float64 values, through the scalar or the vector path (for tests)."""
    return _elementwise(1, x, variant, vector)


def log1p(x, variant=None, vector=False):
    """The kernels' log1p of float64 values, through the scalar or the vector path (for tests)."""
    return _elementwise(2, x, variant, vector)


def exp_short(x, variant=None):
    """The kernels' exp for float results (xvec.h exp_short: relative error < 2^-39) of
    float64 values, eight lanes at a time (for tests)."""
    return _elementwise(5, x, variant, True)


def log1p_short(x, variant=None):
    """The kernels' log1p for float results (xvec.h log1p_short, 0 <= x <= 1: relative error
    < 2^-32) of float64 values, eight lanes at a time (for tests)."""
    return _elementwise(6, x, variant, True)


def log_short(x, variant=None):
    """The kernels' log for float results (xvec.h log_short, x a float32 value or 0: relative
    error < 2^-32) of float64 values, eight lanes at a time (for tests)."""
    return _elementwise(10, x, variant, True)


def expm1_short(x, variant=None):
    """The kernels' expm1 for float results (xvec.h expm1_short: relative error < 2^-40) of
    float64 values, eight lanes at a time (for tests)."""
    return _elementwise(9, x, variant, True)


def log1p_exp_short(x, variant=None, exp=False):
    """log1p(exp(-x)) for float results (xvec.h log1p_exp_short, x >= 0: relative error
    < 2^-34) of float64 values, eight lanes at a time, or (exp) its exp(-x) (for tests)."""
    return _elementwise(11 if exp else 7, x, variant, True)


def expf_hilo(x, variant=None):
    """exp(x) of x rounded to float32, -86 <= x <= 0, as the float pair hi + lo of xvec.h
    expf_hilo, summed in float64 (for tests)."""
    return _elementwise(8, x, variant, True)


def expf(x, variant=None):
    """exp(x) of the float32 rows' exp pass, x rounded to float32 first, as float64 (for tests).

    The value a float32 row's pass adds to its sums: a float where it is a normal float, the
    double exp below (see xvec.h)."""
    return _elementwise(3, x, variant, True)
