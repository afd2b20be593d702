"""Categorical (soft or one-hot targets) and sparse (class id) cross-entropy.

Both losses are ``l_i = sum_c w_ic * (-log p_ic)`` for target weights ``w`` (class weights,
smoothing and the target folded in; sparse targets are one-hot), so from logits, with
``L = log1p(s)`` from the softmax pass and ``v_c = m - x_c >= 0`` carried with its rounding
error,

    l_i = W_i * L_i + sum_c w_ic * v_ic,          W_i = sum_c w_ic,
    dl_i/dx_ic = W_i * p_ic - w_ic,

a sum of non-negative terms, and a gradient whose entry at a class with ``p > 1/2`` is
computed as ``sum_{j != c} w_ij - W_i s_i / (1 + s_i)``, never ``p - 1``: a confident
prediction keeps its tiny loss and gradient to the last bits. The kernel that does this is
``finish`` in xent/_kernels/body.h; this module validates, describes the call and reduces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt
from numpy_typing_compat import LiteralFalse, LiteralTrue

from . import _engine
from . import _validation as v
from ._engine import Block, Layout, layout_of, run_chunks
from ._kernels import _core
from ._outputs import MIN_BYTES, new_array
from ._reduction import Reduction, for_mean, grad_divisor, mean_exponent, reduce
from ._softmax import (
    CATEGORICAL,
    SPARSE,
    BlockArrays,
    RowSource,
    SoftmaxCall,
    SpanCheck,
    run_blocks,
    run_shared,
    span_blocks,
    whole_call,
)

Loss = np.ndarray | np.floating
_PROB_HINT = "; pass from_logits=True if these are logits"


def _rtol(arr: np.ndarray) -> float:
    """The tolerance of a row sum of ``arr``: sqrt(eps) of its float dtype (float64 else)."""
    return _SQRT_EPS.get(arr.dtype.type, _SQRT_EPS[np.float64])


#: sqrt(eps) of each float type (keyed by the scalar type, whose hash is cheaper than a dtype's)
_SQRT_EPS: dict[type, float] = {
    t: float(np.sqrt(np.finfo(t).eps)) for t in (np.float16, np.float32, np.float64, np.longdouble)
}


class _Distributions:
    """Checks that an array holds distributions along the class axis (entries in [0, 1], rows
    summing to 1; no NaN either when ``nan_what`` says what they are), one kernel pass per
    block, and the denominator of a mean over them: ``sum_i s_i sum_c cw_c arr_ic`` (``s``:
    ``weights``, 1 without; ``cw``: 1 without).

    The blocks are those of a `SoftmaxCall` of ``dtype``: the loss's kernel checks each as it
    runs it (`span_check`: before its loss, the block then in the cache, or as its loop reads
    the targets; see `SoftmaxCall.run`), or `run` checks them all first (a gradient needs the
    denominator before its pass). Both give each block's total (the kernel's `stats_block`
    sum), so the mean is the same with and without the gradient. Where the kernel's check of a
    block fails, `check` finds the first bad entry or row for the message.

    With ``one_hot``, a block whose every row is one-hot (one entry exactly 1, the others
    exactly 0) may run as the sparse loss of its class ids (the same loss, bit for bit):
    ``hot`` marks the block (1; 0 not; -1 where the kernel's check failed), and after `run`,
    the kernel reads the ids of those blocks again.
    """

    def __init__(
        self,
        arr: np.ndarray,
        layout: Layout,
        name: str,
        axis: int,
        hint: str,
        dtype: np.dtype[np.floating],
        *,
        nan_what: str | None = None,
        cw: np.ndarray | None = None,
        weights: RowSource | None = None,
        one_hot: bool = False,
    ) -> None:
        self.arr, self.layout, self.name, self.axis, self.hint = arr, layout, name, axis, hint
        self.dtype, self.nan_what, self.cw, self.weights = dtype, nan_what, cw, weights
        self.rtol = _rtol(arr)
        self.blocks = layout.blocks(dtype.itemsize)
        self.totals = np.zeros(len(self.blocks))
        self.one_hot = one_hot
        self.hot = np.zeros(len(self.blocks), np.int8)

    def check(self, blk: Block, block: np.ndarray) -> np.ndarray | None:
        """Check one block, ``(R, C)`` in ``dtype`` as `load` gives it; returns its class ids
        where it is one-hot (see above)."""
        R = block.shape[0]
        sums = np.empty(R)
        wsums = None if self.cw is None else np.empty(R)
        hot = np.empty(R, np.int64) if self.one_hot and R else None
        sw = None if self.weights is None else self.weights.block(blk)
        lo, hi, nan, bad_sum, total, all_hot = _core.stats_block(
            block, self.cw, sums, wsums, hot, self.rtol, sw
        )
        # on a failure the validators find the first bad entry or row for the message
        if nan and self.nan_what is not None:
            v.check_not_nan(self.arr, self.name, self.nan_what)
        if lo < 0 or hi > 1:
            v.check_in_unit_interval(self.arr, self.name, self.hint)
        if bad_sum:
            offset = blk.a0 * self.layout.B + blk.b0
            shape = self.layout.batch_shape
            v.check_row_sums(sums, self.name, self.axis, self.rtol, shape, offset)
        self.totals[blk.number] = total
        self.hot[blk.number] = all_hot
        return hot if all_hot else None

    def span_check(self, index: int, n: int, first: bool) -> SpanCheck:
        """What the kernel needs to check blocks ``index .. index + n - 1`` of a span (all of
        them where ``first``, else the one-hot ones again for their ids), and where it puts
        their totals and one-hot flags."""
        totals, hot = self.totals[index : index + n], self.hot[index : index + n]
        return (self.cw, self.rtol, self.one_hot, first, totals, hot)

    def run(self) -> float:
        """Check every block (a span of them in one kernel call, as the loss runs them);
        returns `total`."""

        def kernel(blk: Block, a: BlockArrays, block_rows: int) -> list[tuple[float, float]]:
            if not block_rows:
                self.check(blk, a.x)
                return [(0.0, 0.0)]
            rows = a.x.shape[0]
            n = -(-rows // block_rows)
            sw = None if self.weights is None else self.weights.block(blk)
            done = _core.stats_span(a.x, block_rows, self.span_check(blk.number, n, True), sw)
            # a block whose check failed, and the rest: one by one, where `check` says why
            for sub, r0, r1 in span_blocks(blk, rows, block_rows, done):
                self.check(sub, a.x[r0:r1])
            return [(0.0, 0.0)] * n

        if self.arr.size and not self._run_shared():
            run_blocks(self.layout, self.dtype, self.arr, kernel, spans=True)
        return self.total()

    def _run_shared(self) -> bool:
        """`run`'s checks as one kernel call per thread (`_softmax.run_shared`), where the
        targets and weights are used whole; False where not, or where a block's check fails
        (`run_blocks` then says why)."""
        whole = whole_call(self.layout, self.dtype, self.arr, (), self.weights, None)
        if whole is None:
            return False
        blocks, t, _, sw, _ = whole
        job = _core.SharedBlocks(
            CATEGORICAL, t, None, None, sw, None, None, 0.0, 0.0, 1.0, None, True, 0.0, 0.0,
            self.layout.block_rows(self.dtype.itemsize), 0, t,
            self.span_check(0, len(blocks), True), True,
        )  # fmt: skip
        return run_shared(job, len(blocks))

    def total(self) -> float:
        """The denominator, once every block is checked (one block's total as it is: what
        np.sum gives, without its cost in a small call)."""
        if len(self.totals) == 1:
            return float(self.totals[0])
        return float(np.sum(self.totals))


def _check_dtype(arr: np.ndarray) -> np.dtype[np.floating]:
    """The kernel dtype in which `_Distributions` reads ``arr``."""
    if arr.dtype in (np.float32, np.float64):
        return arr.dtype
    return np.dtype(np.float32 if arr.dtype == np.float16 else np.float64)


def _sum_of_others(cw: np.ndarray | None, n_classes: int) -> np.ndarray:
    """``sum_{k != c} cw_k`` for every class c, without cancellation (prefix + suffix sums)."""
    w = np.ones(n_classes) if cw is None else cw
    ext = w.astype(np.longdouble)
    before = np.concatenate([[0], np.cumsum(ext)[:-1]])
    after = np.concatenate([np.cumsum(ext[::-1])[::-1][1:], [0]])
    others: np.ndarray = (before + after).astype(np.float64)
    return others


def _call(
    mode: int,
    layout: Layout,
    work: np.dtype[np.floating],
    from_logits: bool,
    cw: np.ndarray | None,
    eps: float,
    red: str,
    total: float,
    return_grad: bool,
    z_loss: float,
    gamma: float,
) -> SoftmaxCall:
    """The description of a loss call, the same for every block."""
    others = _sum_of_others(cw, layout.C) if eps > 0 and return_grad else None
    grad_div = grad_divisor(red, total)
    return SoftmaxCall(mode, layout, work, from_logits, cw, others, eps, grad_div, z_loss, gamma)


def _run(
    call: SoftmaxCall,
    pred: np.ndarray,
    result: np.dtype[np.floating],
    red: str,
    total: Callable[[], float],
    return_grad: bool,
    *,
    target: np.ndarray | None = None,
    labels: RowSource | None = None,
    weights: RowSource | None = None,
    targets: _Distributions | None = None,
    checked: bool = False,
) -> Loss | tuple[Loss, np.ndarray]:
    """Run a loss over its blocks and reduce it: ``loss`` or ``(loss, grad)``. ``total`` gives
    the mean's denominator once the blocks have run (and each block of ``targets`` has been
    checked: before, where ``checked``, else as the blocks run)."""
    rows_out = new_array(call.layout.batch_shape, result) if red == "none" else None
    grad = new_array(pred.shape, result) if return_grad else None
    partial = call.run(
        pred, out=grad, target=target, labels=labels, weights=weights, rows_out=rows_out,
        targets=targets, checked=checked,
    )  # fmt: skip
    loss = reduce(rows_out, partial, total(), red, result)
    return loss if grad is None else (loss, grad)


def _prepare(
    y_pred: npt.ArrayLike, axis: int, reduction: str, label_smoothing: float
) -> tuple[np.ndarray, Layout, str, float]:
    red = v.check_reduction(reduction)
    pred = v.as_real_array(y_pred, "y_pred")
    layout = layout_of(pred.shape, v.check_axis(axis, pred.ndim))
    if layout.C == 0:
        raise ValueError(f"y_pred has no classes: its axis {axis} has size 0.")
    return pred, layout, red, v.check_label_smoothing(label_smoothing)


def _z_loss(z_loss: object, from_logits: bool, cw: np.ndarray | None, red: str) -> float:
    """The z-loss coefficient for the kernel: scaled like the class weights for a mean (the
    z-loss is not class-weighted, so its share of the mean must not change)."""
    z = v.check_coefficient(z_loss, "z_loss")
    v.check_needs_logits(z, "z_loss", "it is z_loss * logsumexp(y_pred)**2", from_logits)
    try:
        return math.ldexp(z, -mean_exponent(cw, red))
    except OverflowError:  # class weights all below 2**-1000: the z-loss dominates the mean
        return math.inf


def _focal_gamma(focal_gamma: object, from_logits: bool) -> float:
    gamma = v.check_coefficient(focal_gamma, "focal_gamma")
    what = "(1 - p)**gamma is computed in log space from the softmax sums"
    v.check_needs_logits(gamma, "focal_gamma", what, from_logits)
    return gamma


# --- calls of one block, in a few microseconds ------------------------------------------------
#
# A call whose logits fit in one block runs on the calling thread, and around its kernel (2 us
# at 64 x 10 float32) the general path's validation, call description and block driver cost
# 20 us of Python: PyTorch's whole call took 7. `_core.sparse_one_block` and
# `_core.categorical_one_block` run such a call in C when its inputs are plainly valid: NumPy
# arrays the kernel reads as they are (float32 or float64 in native byte order, C-contiguous,
# classes along the last axis, one block; class ids int64 or int32 in range, targets of the
# logits' dtype), logits, no weights, no ignore_index, options of Python floats or ints in
# range. They pass the kernel what the general path passes it and reduce as it does, so the
# result is the same, bit for bit (tests/test_one_block.py); anything else, or a check that
# fails, returns None, and the call takes the general path, whose checks and messages are the
# only ones. 64 x 10 float32, one thread (AMD EPYC Zen 1): sparse 17.6 -> 6.2-7.3 us (PyTorch
# 14.4), categorical of soft targets 30 -> 7.5 us (PyTorch 37), with the gradient 60 -> 16 us.
# Calls of more blocks (the sparse loss's with int64 ids) take the same way as jobs in C
# (`_core._plain_job`, `_core._categorical_job`: the general path's `SharedBlocks` jobs and
# threads): 10-13 us of Python less a call (Intel Xeon, one thread: 1,024 x 100 float32 sparse
# 90.8 -> 80.9 us).


#: The tolerance of a row sum of float32 and of float64 targets (`_rtol`), for
#: `_core.categorical_one_block`.
_ONE_BLOCK_RTOLS = (_SQRT_EPS[np.float32], _SQRT_EPS[np.float64])


@overload
def sparse_categorical_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    axis: int = ...,
    ignore_index: int | None = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    focal_gamma: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
) -> Loss: ...
@overload
def sparse_categorical_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    axis: int = ...,
    ignore_index: int | None = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    focal_gamma: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
) -> tuple[Loss, np.ndarray]: ...
def sparse_categorical_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = False,
    axis: int = -1,
    ignore_index: int | None = None,
    class_weight: npt.ArrayLike | None = None,
    sample_weight: npt.ArrayLike | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    focal_gamma: float = 0.0,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
) -> Loss | tuple[Loss, np.ndarray]:
    r"""Cross-entropy between integer class ids and predicted distributions.

    .. math:: l_i = -(1-\varepsilon)\, c_{y_i} \log p_{i y_i}
                    - \frac{\varepsilon}{C} \sum_c c_c \log p_{ic}
                    + z \,\big(\log \textstyle\sum_c e^{x_{ic}}\big)^2

    with ``p = softmax(y_pred)`` when ``from_logits``, class weights ``c``, smoothing
    ``epsilon`` and z-loss ``z`` (0 by default).

    Parameters
    ----------
    y_true : array_like of int, shape (...)
        Class ids in ``[0, C)``: ``y_pred``'s shape without ``axis``. Integral floats are
        accepted and compared with ``ignore_index`` exactly (``2.0**53`` is not
        ``2**53 + 1``). Entries equal to ``ignore_index`` are skipped.
    y_pred : array_like, shape (..., C, ...)
        Logits (``from_logits=True``) or probabilities summing to 1 along ``axis``.
    from_logits : bool, default False
        Whether ``y_pred`` holds logits.
    axis : int, default -1
        The class axis of ``y_pred``.
    ignore_index : int, optional
        Rows whose id equals it have loss 0, gradient 0 and weight 0; their id is never used.
    class_weight : array_like, shape (C,), optional
        Non-negative weight per class.
    sample_weight : array_like, optional
        Non-negative weight per row, broadcasting to ``y_true``'s shape.
    label_smoothing : float, default 0.0
        ``epsilon`` in [0, 1] (PyTorch's rule, above).
    z_loss : float, default 0.0
        ``z >= 0``: each row adds ``z * logsumexp(y_pred_i)**2`` (PaLM's z-loss, which keeps
        the logits' normalizer near 1), times the row's sample weight but not its class
        weight; ignored rows add nothing and the mean's denominator is unchanged. Logits only.
    focal_gamma : float, default 0.0
        ``gamma >= 0``: the focal loss (Lin et al. 2017; Keras's
        ``CategoricalFocalCrossentropy`` with the class weights as its ``alpha``), each term
        ``-w_c log p_c`` multiplied by ``(1 - p_c)**gamma``, computed in log space from the
        softmax sums. 0 is the plain loss, bit for bit. Logits only.
    reduction : {"mean", "sum", "none"}, default "mean"
        "none": ``s_i * l_i`` per row; "sum": their sum; "mean": their sum divided by
        ``sum_i s_i * c_{y_i}`` over rows not ignored (0.0 when that is 0).
    return_grad : bool, default False
        Also return the gradient with respect to ``y_pred``.

    Returns
    -------
    loss : numpy.ndarray or numpy.floating
        Shape of ``y_true`` for "none", else a NumPy scalar; ``y_pred``'s float dtype.
    grad : numpy.ndarray
        With ``return_grad``: d loss / d y_pred (of the sum for "none"), ``y_pred``'s shape
        and dtype.

    Raises
    ------
    ValueError
        On shapes that do not match, ids out of range or not integral, probabilities outside
        [0, 1] or rows not summing to 1 (rtol sqrt(eps)), bad weights, smoothing outside
        [0, 1], a negative or non-finite ``z_loss`` or ``focal_gamma`` (or one with
        ``from_logits=False``), an unknown reduction or an axis out of range.
    TypeError
        On non-numeric or complex input.

    See Also
    --------
    categorical_cross_entropy : the same loss with one-hot or soft targets.

    Notes
    -----
    From logits, the true class's term is ``log1p(sum_{j != y} exp(x_j - x_y))`` when ``y``
    is the arg-max, so a confident prediction keeps its relative accuracy, and the gradient's
    true-class entry is ``-sum_{j != y} p_j``, not ``p_y - 1``. No probability is clipped:
    probability 0 on the true class gives ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 3.0, 0.0]])
    >>> loss, grad = xent.sparse_categorical_cross_entropy(
    ...     [0, 1], logits, from_logits=True, return_grad=True)
    >>> print(f"{loss:.6f}")
    0.168117
    >>> print(grad.round(4))
    [[-0.1072  0.0876  0.0196]
     [ 0.0226 -0.0453  0.0226]]

    A confident prediction: the textbook ``logsumexp(x) - x[y]`` returns 0.

    >>> x = np.array([[40.0, 0.0]])
    >>> print(f"{xent.sparse_categorical_cross_entropy([0], x, from_logits=True):.6e}")
    4.248354e-18
    """
    from_logits = v.check_flag(from_logits, "from_logits")
    return_grad = v.check_flag(return_grad, "return_grad")
    if from_logits and ignore_index is None and class_weight is None and sample_weight is None:
        done: Loss | tuple[Loss, np.ndarray] | None = _core.sparse_one_block(
            y_true, y_pred, axis, reduction, label_smoothing, z_loss, focal_gamma, return_grad,
            _engine.BLOCK_BYTES, _engine.MIN_ROWS, new_array, MIN_BYTES, run_shared,
        )  # fmt: skip
        if done is not None:
            return done
    pred, layout, red, eps = _prepare(y_pred, axis, reduction, label_smoothing)
    labels = v.as_real_array(y_true, "y_true")
    v.check_batch_shape(labels, pred, axis, layout.batch_shape)
    ignore_given = v.check_ignore_index(ignore_index)
    # many integer ids: checked block by block as the kernel's blocks read them
    by_blocks = v.ids_checked_by_blocks(labels)
    if by_blocks:
        ignore = ignore_given
    else:
        labels, ignore = v.check_class_ids(labels, layout.C, axis, ignore_given)
    cw_given = v.check_class_weight(class_weight, layout.C)
    cw, z = for_mean(cw_given, red), _z_loss(z_loss, from_logits, cw_given, red)
    gamma = _focal_gamma(focal_gamma, from_logits)
    s = for_mean(
        v.check_weight(sample_weight, "sample_weight", layout.batch_shape, "the batch shape"), red
    )
    if not from_logits:
        _Distributions(pred, layout, "y_pred", axis, _PROB_HINT, _check_dtype(pred)).run()
    result, work = v.float_dtypes(pred)
    ids = RowSource(layout, labels, np.int64, ignore, layout.C if by_blocks else None)
    weights = None if s is None else RowSource(layout, s, np.float64)
    try:
        total = _sparse_total(layout, ids, weights, cw) if red == "mean" else 0.0
        call = _call(SPARSE, layout, work, from_logits, cw, eps, red, total, return_grad, z, gamma)
        return _run(
            call, pred, result, red, lambda: total, return_grad, labels=ids, weights=weights
        )
    except v.ClassIdsOutOfRange:  # (a block's ids, before the kernel read them) where and which
        v.check_class_ids(labels, layout.C, axis, ignore_given)
        raise


def _sparse_total(
    layout: Layout, ids: RowSource, weights: RowSource | None, cw: np.ndarray | None
) -> float:
    """The mean's denominator: sum of s_i * c_{y_i} over the rows not ignored."""
    if weights is None and ids.ignore is None and cw is None:
        return float(layout.A * layout.B)
    blocks = layout.blocks(8)
    if ids.ignore is None and cw is None and weights is not None:
        # the row weights alone, block by block as below (the same sums), the ids left to the
        # kernel's check: a pass over each block's ids here had made the call's denominator
        # 0.55 ms of a 0.95 ms call (65,536 x 10 float32), at one thread whatever the count
        return float(np.sum([float(np.sum(weights.block(blk))) for blk in blocks]))
    sums = [0.0] * len(blocks)

    def work(chunk: Sequence[Block]) -> None:
        for blk in chunk:
            y, sw = ids.ids(blk, weights, check=True)  # (before cw[y] reads past cw)
            w = np.ones(y.shape) if sw is None else sw
            if cw is not None:
                w = w * cw[y]
            sums[blk.number] = float(np.sum(w))

    run_chunks(blocks, work)
    ids.check_ids = None  # (every block's ids checked here already: not again in the kernel's)
    return float(np.sum(sums))


@overload
def categorical_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    axis: int = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    focal_gamma: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
) -> Loss: ...
@overload
def categorical_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    axis: int = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    focal_gamma: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
) -> tuple[Loss, np.ndarray]: ...
def categorical_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = False,
    axis: int = -1,
    class_weight: npt.ArrayLike | None = None,
    sample_weight: npt.ArrayLike | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    focal_gamma: float = 0.0,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
) -> Loss | tuple[Loss, np.ndarray]:
    r"""Cross-entropy between target distributions (one-hot or soft) and predictions.

    .. math:: l_i = -\sum_c c_c\, \tilde y_{ic} \log p_{ic}
              + z \,\big(\log \textstyle\sum_c e^{x_{ic}}\big)^2, \qquad
              \tilde y = (1 - \varepsilon)\, y + \varepsilon / C

    with ``p = softmax(y_pred)`` when ``from_logits`` and z-loss ``z`` (0 by default).

    Parameters
    ----------
    y_true : array_like, shape (..., C, ...)
        Target distributions along ``axis``: values in [0, 1] whose rows sum to 1
        (rtol sqrt(eps) of their dtype).
    y_pred : array_like, shape (..., C, ...)
        Logits (``from_logits=True``) or probabilities summing to 1 along ``axis``.
    from_logits : bool, default False
        Whether ``y_pred`` holds logits.
    axis : int, default -1
        The class axis.
    class_weight : array_like, shape (C,), optional
        Non-negative weight per class.
    sample_weight : array_like, optional
        Non-negative weight per row, broadcasting to the batch shape (``y_pred``'s shape
        without ``axis``).
    label_smoothing : float, default 0.0
        ``epsilon`` in [0, 1].
    z_loss : float, default 0.0
        ``z >= 0``: each row adds ``z * logsumexp(y_pred_i)**2`` (PaLM's z-loss), times the
        row's sample weight but not the class weights; the mean's denominator is unchanged.
        Logits only.
    focal_gamma : float, default 0.0
        ``gamma >= 0``: the focal loss (Lin et al. 2017; Keras's
        ``CategoricalFocalCrossentropy`` with the class weights as its ``alpha``), each term
        ``-w_c log p_c`` multiplied by ``(1 - p_c)**gamma``, computed in log space from the
        softmax sums. 0 is the plain loss, bit for bit. Logits only.
    reduction : {"mean", "sum", "none"}, default "mean"
        "none": ``s_i * l_i`` per row; "sum": their sum; "mean": their sum divided by
        ``sum_i s_i * sum_c c_c y_ic`` (unsmoothed targets; 0.0 when that is 0), so that a
        one-hot target gives exactly the sparse loss's mean.
    return_grad : bool, default False
        Also return the gradient with respect to ``y_pred``.

    Returns
    -------
    loss : numpy.ndarray or numpy.floating
        The batch shape for "none", else a NumPy scalar; ``y_pred``'s float dtype.
    grad : numpy.ndarray
        With ``return_grad``: d loss / d y_pred (of the sum for "none"), ``y_pred``'s shape
        and dtype.

    Raises
    ------
    ValueError
        On shapes that differ, targets or probabilities outside [0, 1] or rows not summing to
        1, bad weights, smoothing outside [0, 1], a negative or non-finite ``z_loss`` or
        ``focal_gamma`` (or one with ``from_logits=False``), an unknown reduction or an axis
        out of range.
    TypeError
        On non-numeric or complex input.

    See Also
    --------
    sparse_categorical_cross_entropy : the same loss with class ids.

    Notes
    -----
    A class with zero target contributes exactly 0, even where its logit is ``-inf`` or its
    probability 0 (``0 log 0 = 0``); the per-row loss is a sum of non-negative terms, so it
    never cancels. PyTorch divides the mean over soft targets by the number of rows even
    with class weights; xent divides by the total target weight, like its class-index mean.

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> y = np.array([[0.9, 0.1, 0.0], [0.0, 0.0, 1.0]])
    >>> logits = np.array([[3.0, 1.0, -np.inf], [0.0, 1.0, 2.0]])
    >>> print(f"{xent.categorical_cross_entropy(y, logits, from_logits=True):.6f}")
    0.367267
    >>> print(xent.categorical_cross_entropy(y, xent.softmax(logits), reduction="none"))
    [0.32692801 0.40760596]
    """
    from_logits = v.check_flag(from_logits, "from_logits")
    return_grad = v.check_flag(return_grad, "return_grad")
    if from_logits and class_weight is None and sample_weight is None:
        done: Loss | tuple[Loss, np.ndarray] | None = _core.categorical_one_block(
            y_true, y_pred, axis, reduction, label_smoothing, z_loss, focal_gamma, return_grad,
            _ONE_BLOCK_RTOLS, _engine.BLOCK_BYTES, _engine.MIN_ROWS, new_array, MIN_BYTES,
            run_shared,
        )  # fmt: skip
        if done is not None:
            return done
    pred, layout, red, eps = _prepare(y_pred, axis, reduction, label_smoothing)
    target = v.as_real_array(y_true, "y_true")
    v.check_same_shape(target, pred)
    cw_given = v.check_class_weight(class_weight, layout.C)
    cw, z = for_mean(cw_given, red), _z_loss(z_loss, from_logits, cw_given, red)
    gamma = _focal_gamma(focal_gamma, from_logits)
    s = for_mean(
        v.check_weight(sample_weight, "sample_weight", layout.batch_shape, "the batch shape"), red
    )
    if not from_logits:
        _Distributions(pred, layout, "y_pred", axis, _PROB_HINT, _check_dtype(pred)).run()
    result, work = v.float_dtypes(pred)
    if target.dtype == np.float64:  # float64 targets keep their precision with float32 logits
        work = np.dtype(np.float64)
    weights = None if s is None else RowSource(layout, s, np.float64)
    # one-hot blocks from logits run as the sparse loss of their class ids (the same loss)
    targets = _Distributions(
        target, layout, "y_true", axis, "", work, nan_what="target probabilities", cw=cw,
        weights=weights, one_hot=from_logits,
    )  # fmt: skip
    # the gradient of a mean is divided by its denominator: the targets checked first; else
    # as the kernel reads them
    first = return_grad and red == "mean"
    total = targets.run() if first else 0.0
    call = _call(CATEGORICAL, layout, work, from_logits, cw, eps, red, total, return_grad, z, gamma)
    return _run(call, pred, result, red, targets.total, return_grad, target=target,
                weights=weights, targets=targets, checked=first)  # fmt: skip
