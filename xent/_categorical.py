"""Categorical (soft or one-hot targets) and sparse (class id) cross-entropy.

Both losses are ``l_i = sum_c w_ic * (-log p_ic)`` for target weights ``w`` (class weights,
smoothing and the target folded in), so from logits, with ``L = log1p(s)`` from the fused
pass and ``v_c = (m - x_c) - e_c >= 0``,

    l_i = W_i * L_i + sum_c w_ic * v_ic,          W_i = sum_c w_ic,
    dl_i/dx_ic = W_i * p_ic - w_ic = ((W_i * F_ic - w_ic) - w_ic * s_i) / (1 + s_i),

two sums of non-negative terms and a gradient whose maximum entry is ``-W s / (1 + s)`` when
the target sits there, never ``p - 1``: nothing cancels, so a confident prediction keeps
its tiny loss and gradient to the last bits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt
from numpy_typing_compat import LiteralFalse, LiteralTrue

from . import _validation as v
from ._engine import Block, Layout, run_chunks
from ._primitives import log1p_nonneg
from ._reduction import Reduction, for_mean, grad_divisor, reduce
from ._softmax import (
    Picker,
    Scratch,
    dense,
    destination,
    for_blocks,
    load,
    per_row,
    shifted_exp,
    store,
    two_diff,
)

Loss = np.ndarray | np.floating
_PROB_HINT = "; pass from_logits=True if these are logits"


def _rtol(arr: np.ndarray) -> float:
    dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    return float(np.sqrt(np.finfo(dtype).eps))


def _row_dot(block: np.ndarray, cax: int, weights: np.ndarray | None, exact: bool) -> np.ndarray:
    """``sum_c weights_c * block_c`` per row (plain sums if ``weights`` is None).

    ``exact``: accumulate in float64; else in the block's own float dtype, which is enough to
    check that rows sum to 1 and twice as fast. Never through BLAS: its threads fight the
    engine's for a product this thin.
    """
    sub = "acb->ab" if block.ndim == 3 else ("ji->i" if cax == 0 else "ij->i")
    if exact or block.dtype.kind != "f":
        dtype: type[np.floating] | None = np.float64
    else:
        dtype = np.float32 if block.dtype.itemsize < 4 else None
    if weights is None:
        if block.ndim == 2 and cax == 1 and exact:
            sums: np.ndarray = np.add.reduce(block, axis=cax, dtype=dtype)
        else:
            sums = np.einsum(sub, block, dtype=dtype)
    else:
        sub = sub.replace("->", ",c->" if block.ndim == 3 else (",j->"))
        sums = np.einsum(sub, block, weights.astype(np.float64))
    return sums.reshape(-1)


def _distribution_rows(
    arr: np.ndarray,
    layout: Layout,
    name: str,
    axis: int,
    hint: str,
    row_weight: Callable[[Block, np.ndarray], float] | None = None,
) -> float:
    """Check that ``arr`` holds distributions along the class axis, block by block.

    Returns the sum over blocks of ``row_weight(block, row_sums)`` (0.0 without it).
    """
    v.check_in_unit_interval(arr, name, hint)
    arr3, rtol, cax = layout.view3(arr), _rtol(arr), 0 if layout.class_major else 1
    blocks = layout.blocks(1)  # only row sums per block: larger blocks, fewer calls
    sums = [0.0] * len(blocks)

    def work(chunk: Sequence[Block]) -> None:
        for blk in chunk:
            row_sums = _row_dot(layout.take(arr3, blk), cax, None, exact=False)
            offset = blk.a0 * layout.B + blk.b0
            v.check_row_sums(row_sums, name, axis, rtol, layout.batch_shape, offset)
            if row_weight is not None:
                sums[blk.index] = row_weight(blk, row_sums)

    run_chunks(blocks, work)
    return float(np.sum(sums))


class _Rows:
    """Per-row weights of a batch: sample weights ``s``, ignored rows, labels."""

    def __init__(self, layout: Layout, sample_weight: np.ndarray | None) -> None:
        self.layout = layout
        self.s2 = None
        if sample_weight is not None:
            s = np.broadcast_to(sample_weight, layout.batch_shape)
            self.s2 = layout.rows2(s)

    def weight(self, blk: Block) -> np.ndarray:
        if self.s2 is None:
            return np.ones(blk.rows)
        return np.array(self.layout.take_rows(self.s2, blk), dtype=np.float64)


def _finish_rows(
    loss: np.ndarray,
    sv: np.ndarray | None,
    blk: Block,
    layout: Layout,
    rows_out: np.ndarray | None,
    partial: list[float],
) -> None:
    """Weight a block's per-row losses (a zero weight wins over inf/NaN) and store them."""
    weighted = loss if sv is None else np.where(sv == 0, 0.0, sv * loss)
    if rows_out is not None:
        layout.take_rows(rows_out, blk)[...] = weighted
    partial[blk.index] = float(np.sum(weighted))


def _sum_of_others(cw: np.ndarray | None, n_classes: int) -> np.ndarray:
    """``sum_{k != c} cw_k`` for every class c, without cancellation (prefix + suffix sums)."""
    w = np.ones(n_classes) if cw is None else cw
    ext = w.astype(np.longdouble)
    before = np.concatenate([[0], np.cumsum(ext)[:-1]])
    after = np.concatenate([np.cumsum(ext[::-1])[::-1][1:], [0]])
    others: np.ndarray = (before + after).astype(np.float64)
    return others


def _true_term(coef: np.ndarray | float, nll: np.ndarray, zero_coef: bool) -> np.ndarray:
    """``coef * nll``, exactly 0 where ``coef`` is (even where ``nll`` is inf)."""
    term: np.ndarray = coef * nll
    return np.where(np.equal(coef, 0), 0.0, term) if zero_coef else term


def _zero_rows(g: np.ndarray, k: np.ndarray | float, cax: int) -> None:
    """Zero the gradient of rows with scale 0 (ignored, zero weight) whatever their logits."""
    if np.ndim(k) == 0 and k != 0:
        return
    idx = np.flatnonzero(np.broadcast_to(k, g.shape[1 - cax]) == 0)
    if idx.size:
        if cax == 0:
            g[:, idx] = 0
        else:
            g[idx] = 0


def _prepare(
    y_pred: npt.ArrayLike, axis: int, reduction: str, label_smoothing: float
) -> tuple[np.ndarray, Layout, str, float]:
    red = v.check_reduction(reduction)
    pred = v.as_real_array(y_pred, "y_pred")
    layout = Layout(pred.shape, v.check_axis(axis, pred.ndim))
    if layout.C == 0:
        raise ValueError(f"y_pred has no classes: its axis {axis} has size 0.")
    return pred, layout, red, v.check_label_smoothing(label_smoothing)


def _class_col(cw: np.ndarray | None, cax: int, dtype: np.dtype[np.floating]) -> np.ndarray | None:
    if cw is None:
        return None
    c = cw.astype(dtype)
    return c[:, np.newaxis] if cax == 0 else c[np.newaxis, :]


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
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
) -> Loss | tuple[Loss, np.ndarray]:
    r"""Cross-entropy between integer class ids and predicted distributions.

    .. math:: l_i = -(1-\varepsilon)\, c_{y_i} \log p_{i y_i}
                    - \frac{\varepsilon}{C} \sum_c c_c \log p_{ic}

    with ``p = softmax(y_pred)`` when ``from_logits``, class weights ``c`` and smoothing
    ``epsilon``.

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
        [0, 1], an unknown reduction or an axis out of range.
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
    pred, layout, red, eps = _prepare(y_pred, axis, reduction, label_smoothing)
    labels = v.as_real_array(y_true, "y_true")
    v.check_batch_shape(labels, pred, axis, layout.batch_shape)
    labels, ignore = v.check_class_ids(labels, layout.C, axis, v.check_ignore_index(ignore_index))
    cw = for_mean(v.check_class_weight(class_weight, layout.C), red)
    s = for_mean(
        v.check_weight(sample_weight, "sample_weight", layout.batch_shape, "the batch shape"), red
    )
    if not from_logits:
        _distribution_rows(pred, layout, "y_pred", axis, _PROB_HINT)
    result, work = v.float_dtypes(pred)

    rows = _Rows(layout, s)
    y2 = layout.rows2(labels)
    C = layout.C
    weighted = s is not None or ignore is not None

    def row_terms(blk: Block) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | float]:
        """(safe ids, row weights s_i with 0 where ignored or None, c_{y_i} or 1.0)."""
        y = layout.take_rows(y2, blk)
        sv = rows.weight(blk) if weighted else None
        if ignore is not None:
            keep = y != ignore
            sv = np.where(keep, rows.weight(blk), 0.0)
            y = np.where(keep, y, 0)
        y = y.astype(np.intp, copy=False)
        return y, sv, 1.0 if cw is None else cw[y]

    total = float(layout.A * layout.B)
    if red == "mean" and (weighted or cw is not None):
        blocks = layout.blocks(work.itemsize)
        sums = [0.0] * len(blocks)

        def weigh(chunk: Sequence[Block]) -> None:
            for blk in chunk:
                _, sv, cwy = row_terms(blk)
                sums[blk.index] = float(np.sum(cwy if sv is None else sv * cwy))

        run_chunks(blocks, weigh)
        total = float(np.sum(sums))
    gdiv = grad_divisor(red, total)

    rows_out = np.empty(layout.batch_shape, np.float64) if red == "none" else None
    rows2 = None if rows_out is None else layout.rows2(rows_out)
    grad = np.empty(pred.shape, result) if return_grad else None
    pred3, grad3 = layout.view3(pred), None if grad is None else layout.view3(grad)
    cw_sum = float(C if cw is None else np.sum(cw))
    cw_others = _sum_of_others(cw, C) if eps > 0 and return_grad else np.zeros(C)
    # A true-class term with weight 0 is 0, even where -log p is inf.
    zero_coef = eps == 1 or (cw is not None and bool(np.any(cw == 0)))
    partial = [0.0] * len(layout.blocks(work.itemsize))

    def block(blk: Block, sc: Scratch) -> None:
        x, cax = load(layout, pred3, blk, sc, 0)
        y, sv, cwy = row_terms(blk)
        pick = Picker(y, cax)
        coef = (1.0 - eps) * cwy
        cwc = _class_col(cw, cax, x.dtype)
        k = (1.0 if sv is None else sv) / gdiv
        # The gradient block (the output itself where it can be) holds exp(x - m) first.
        g = None if grad3 is None else destination(layout, grad3, blk, sc, 1, cax, True)
        if from_logits:
            st = shifted_exp(x, cax, sc, blk.rows, out=None if g is None else dense(g))
            L = log1p_nonneg(st.s)
            # -log p_y = log1p(s) + (m - x_y); the difference is exact in float64 for float32
            # input, and carried with its rounding error (TwoSum) for float64.
            m64 = st.m.reshape(-1).astype(np.float64)
            if x.dtype == np.float64:
                hi, lo = two_diff(m64, pick.take(st.x))
                nll = L + hi
                nll += np.where(np.isfinite(hi), lo, 0.0)
            else:
                hi = m64 - pick.take(st.x)
                nll = L + hi
            loss = _true_term(coef, nll, zero_coef)
            if eps > 0:
                vv = np.subtract(st.m, st.x, out=sc.get(2, blk.rows))
                np.subtract(vv, st.e, out=vv)
                if cwc is not None:
                    np.multiply(vv, cwc, out=vv)
                    np.fmax(vv, 0, out=vv)
                total_v = np.add.reduce(vv, axis=cax, dtype=np.float64)
                loss = loss + eps / C * (L * cw_sum + total_v)
        else:
            py = pick.take(x)
            loss = _true_term(coef, -np.log(py), zero_coef)
            if eps > 0:
                nlp = -np.log(x, dtype=np.float64)
                if cwc is not None:
                    nlp = np.fmax(nlp * cwc, 0)
                loss = loss + eps / C * np.add.reduce(nlp, axis=cax)
        _finish_rows(loss, sv, blk, layout, rows2, partial)
        if g is None or grad3 is None:
            return
        if from_logits:
            W = coef + eps / C * cw_sum
            inv = 1.0 / (1.0 + st.s)
            # The true class: W p_y - w_y = (W - w_y) - W (1 - p_y), two accurate parts:
            # W - w_y = eps/C sum_{k != y} c_k, and 1 - p_y = s / (1 + s) where y is the
            # maximum (never p_y - 1), else (1 + s - F_y) / (1 + s).
            q = np.where(hi == 0, st.s, (1.0 + st.s) - pick.take(st.F)) * inv
            gy = k * (eps / C * cw_others[y] - W * q)
            np.multiply(st.F, per_row(W * inv * k, cax).astype(g.dtype), out=g)
            if eps > 0:
                shift = per_row(np.broadcast_to(k * (eps / C), blk.rows), cax).astype(g.dtype)
                np.subtract(
                    g,
                    shift if cwc is None else np.multiply(cwc, shift, out=sc.get(4, blk.rows)),
                    out=g,
                )
        else:
            if eps > 0:
                shift = per_row(np.broadcast_to(-k * (eps / C), blk.rows), cax).astype(g.dtype)
                num = shift if cwc is None else np.multiply(cwc, shift)
                np.fmin(np.divide(num, x, out=g), 0, out=g)
            else:
                g[...] = 0
            kw = k * (coef + eps / C * cwy)
            gy = np.where(kw == 0, 0.0, -kw / py)
        pick.put(g, gy)
        _zero_rows(g, k, cax)
        store(layout, grad3, blk, g, cax)

    for_blocks(layout, work, 5, block)
    loss_out = reduce(rows_out, partial, total, red, result)
    if grad is not None:
        return loss_out, grad
    return loss_out


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
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
) -> Loss | tuple[Loss, np.ndarray]:
    r"""Cross-entropy between target distributions (one-hot or soft) and predictions.

    .. math:: l_i = -\sum_c c_c\, \tilde y_{ic} \log p_{ic}, \qquad
              \tilde y = (1 - \varepsilon)\, y + \varepsilon / C

    with ``p = softmax(y_pred)`` when ``from_logits``.

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
        1, bad weights, smoothing outside [0, 1], an unknown reduction or an axis out of range.
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
    pred, layout, red, eps = _prepare(y_pred, axis, reduction, label_smoothing)
    target = v.as_real_array(y_true, "y_true")
    v.check_same_shape(target, pred)
    v.check_not_nan(target, "y_true", "target probabilities")
    cw = for_mean(v.check_class_weight(class_weight, layout.C), red)
    s = for_mean(
        v.check_weight(sample_weight, "sample_weight", layout.batch_shape, "the batch shape"), red
    )
    if not from_logits:
        _distribution_rows(pred, layout, "y_pred", axis, _PROB_HINT)
    result, work = v.float_dtypes(pred)
    rows = _Rows(layout, s)
    target3 = layout.view3(target)
    tcax = 0 if layout.class_major else 1

    def weighted_rows(blk: Block, row_sums: np.ndarray) -> float:
        wy = row_sums if cw is None else _row_dot(layout.take(target3, blk), tcax, cw, True)
        return float(np.sum(rows.weight(blk) * wy))

    total = _distribution_rows(target, layout, "y_true", axis, "", weighted_rows)
    gdiv = grad_divisor(red, total)

    C = layout.C
    rows_out = np.empty(layout.batch_shape, np.float64) if red == "none" else None
    rows2 = None if rows_out is None else layout.rows2(rows_out)
    grad = np.empty(pred.shape, result) if return_grad else None
    pred3, grad3 = layout.view3(pred), None if grad is None else layout.view3(grad)
    cw_sum = float(C if cw is None else np.sum(cw))
    cw_others = _sum_of_others(cw, C) if eps > 0 and return_grad else np.zeros(C)
    partial = [0.0] * len(layout.blocks(work.itemsize))

    def block(blk: Block, sc: Scratch) -> None:
        x, cax = load(layout, pred3, blk, sc, 0)
        t, _ = load(layout, target3, blk, sc, 5)
        sv = rows.weight(blk)
        k = sv / gdiv
        cwc = _class_col(cw, cax, x.dtype)
        # The gradient block (the output itself where it can be) holds exp(x - m) first.
        g = None if grad3 is None else destination(layout, grad3, blk, sc, 1, cax)
        st = shifted_exp(x, cax, sc, blk.rows, out=g) if from_logits else None
        wy = _row_dot(t, cax, cw, exact=True)
        # -log p_c = L + v_c with v_c = (m - x_c) - e_c >= 0 from logits, or -log p_c itself;
        # l = (1 - eps) sum_c c_c y_c (-log p_c) + eps/C sum_c c_c (-log p_c): sums of
        # non-negative terms, each product rounded once. A zero weight times inf is 0 (fmax).
        if st is not None:
            L = log1p_nonneg(st.s)
            nlp = np.subtract(st.m, st.x, out=sc.get(2, blk.rows))
            np.subtract(nlp, st.e, out=nlp)
        else:
            L = None
            nlp = np.negative(np.log(x, dtype=np.float64))
        if cwc is not None:
            np.fmax(np.multiply(nlp, cwc, out=nlp), 0, out=nlp)
        spread = np.add.reduce(nlp, axis=cax, dtype=np.float64) if eps > 0 else None
        tv = np.multiply(nlp, t, out=nlp)
        # Row-major rows are summed pairwise in their own dtype (error O(log C) ulp, and
        # float32 sums are cast once); class-major rows, summed in sequence, in float64.
        acc = np.float64 if cax == 0 else None
        loss = np.add.reduce(np.fmax(tv, 0, out=tv), axis=cax, dtype=acc).astype(np.float64)
        if L is not None:
            loss += wy * L
        if spread is not None:
            if L is not None:
                spread += cw_sum * L
            loss = (1.0 - eps) * loss + eps / C * spread
        if st is None:
            loss[np.isnan(np.add.reduce(x, axis=cax))] = np.nan
        _finish_rows(loss, sv, blk, layout, rows2, partial)
        if g is None or grad3 is None:
            return
        # w = c ((1 - eps) y + eps / C), the weight of each class's -log p.
        if cwc is None and eps == 0:
            w = t
        else:
            w = np.multiply(t, 1.0 - eps, out=sc.get(4, blk.rows))
            if eps > 0:
                np.add(w, eps / C, out=w)
            if cwc is not None:
                np.multiply(w, cwc, out=w)
        if st is not None:
            # ((W F - w) - w s) / (1 + s): exact 0 - w s at a one-hot maximum.
            W = (1.0 - eps) * wy + eps / C * cw_sum
            inv = 1.0 / (1.0 + st.s)
            np.multiply(st.F, per_row(W, cax).astype(g.dtype), out=g)
            np.subtract(g, w, out=g)
            ws = np.multiply(w, per_row(st.s, cax).astype(g.dtype), out=sc.get(3, blk.rows))
            np.subtract(g, ws, out=g)
            np.multiply(g, per_row(inv * k, cax).astype(g.dtype), out=g)
            # At the maximum, W - w_c cancels when w_c dominates: there W p_c - w_c is
            # (1 - eps) (sum_k c_k y_k - c_c y_c) + eps/C sum_{k != c} c_k - W s / (1 + s),
            # whose first part is exactly 0 for a one-hot target.
            top = st.argmax(cax)
            pick = Picker(top, cax)
            cy = pick.take(t) * (1.0 if cw is None else cw[top])
            rest = (1.0 - eps) * (wy - cy) + eps / C * cw_others[top]
            pick.put(g, k * (rest - W * st.s * inv))
        else:
            np.fmax(np.divide(w, x, out=g), 0, out=g)
            np.multiply(g, per_row(-k, cax).astype(g.dtype), out=g)
        _zero_rows(g, k, cax)
        store(layout, grad3, blk, g, cax)

    for_blocks(layout, work, 6, block)
    loss_out = reduce(rows_out, partial, total, red, result)
    if grad is not None:
        return loss_out, grad
    return loss_out
