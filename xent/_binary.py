"""Binary (and multi-label) cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
import numpy.typing as npt
from numpy_typing_compat import LiteralFalse, LiteralTrue

from . import _validation as v
from ._engine import run_chunks, tiles
from ._primitives import log1p_nonneg
from ._reduction import Reduction, for_mean, grad_divisor, reduce

Loss = np.ndarray | np.floating
Tile = tuple[int, int, int, int]


def _pos_weight(value: npt.ArrayLike | None, n_last: int) -> np.ndarray | None:
    """A scalar or a vector along the last axis, as a ``(1, K)`` row."""
    if value is None:
        return None
    pw = v.as_real_array(value, "pos_weight")
    if pw.ndim > 1 or (pw.ndim == 1 and pw.shape[0] not in (1, n_last)):
        raise ValueError(
            f"pos_weight must be a scalar or have shape (K,) = ({n_last},) along y_pred's last "
            f"axis; got {pw.shape}."
        )
    checked = v.check_weight(pw, "pos_weight", pw.shape, "its own shape")
    assert checked is not None
    # Full length, so that a tile of any columns c0:c1 of a long last axis can slice it.
    return np.broadcast_to(checked.reshape(1, -1), (1, n_last))


@overload
def binary_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    pos_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
) -> Loss: ...
@overload
def binary_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    pos_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
) -> tuple[Loss, np.ndarray]: ...
def binary_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = False,
    pos_weight: npt.ArrayLike | None = None,
    sample_weight: npt.ArrayLike | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
) -> Loss | tuple[Loss, np.ndarray]:
    r"""Binary cross-entropy, elementwise: binary and multi-label classification.

    .. math:: l = -\big(q\, y \log p + (1 - y) \log(1 - p)\big)

    with ``p = sigmoid(y_pred)`` when ``from_logits``, ``q = pos_weight`` and
    ``y -> y (1 - epsilon) + epsilon / 2`` with label smoothing ``epsilon`` (before ``q``).

    Parameters
    ----------
    y_true : array_like
        Labels in [0, 1] (soft labels allowed), ``y_pred``'s shape.
    y_pred : array_like
        Logits (``from_logits=True``) or probabilities in [0, 1].
    from_logits : bool, default False
        Whether ``y_pred`` holds logits.
    pos_weight : float or array_like of shape (K,), optional
        Non-negative weight of the positive term, per entry of the last axis (PyTorch's).
    sample_weight : array_like, optional
        Non-negative weights broadcasting to ``y_pred``'s shape.
    label_smoothing : float, default 0.0
        ``epsilon`` in [0, 1].
    reduction : {"mean", "sum", "none"}, default "mean"
        "none": ``s * l`` elementwise; "sum": their sum; "mean": their sum divided by the sum
        of ``s`` over all elements (0.0 when that is 0).
    return_grad : bool, default False
        Also return the gradient with respect to ``y_pred``.

    Returns
    -------
    loss : numpy.ndarray or numpy.floating
        ``y_pred``'s shape for "none", else a NumPy scalar; ``y_pred``'s float dtype.
    grad : numpy.ndarray
        With ``return_grad``: d loss / d y_pred (of the sum for "none"), ``y_pred``'s shape
        and dtype.

    Raises
    ------
    ValueError
        On shapes that differ, labels or probabilities outside [0, 1], bad weights,
        smoothing outside [0, 1] or an unknown reduction.
    TypeError
        On non-numeric or complex input.

    See Also
    --------
    categorical_cross_entropy : two classes as a 2-class softmax.

    Notes
    -----
    From logits, ``softplus(x) = max(x, 0) + log1p(exp(-|x|))`` and
    ``softplus(-x) = max(-x, 0) + log1p(exp(-|x|))`` are both sums of non-negative terms, so
    every loss keeps its relative accuracy, and logits of ``+-inf`` give exactly 0 or ``inf``.
    From probabilities, ``log(1 - p)`` is ``log1p(-p)`` and nothing is clipped: PyTorch caps
    each log at -100 and Keras clips ``p`` to [1e-7, 1 - 1e-7].

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> print(f"{xent.binary_cross_entropy(1.0, 0.9):.6f}")  # -log(0.9)
    0.105361
    >>> loss, grad = xent.binary_cross_entropy(
    ...     [1.0, 0.0], [3.0, -1.0], from_logits=True, return_grad=True)
    >>> print(f"{loss:.6f}", grad.round(6))
    0.180925 [-0.023713  0.134471]
    >>> print(f"{xent.binary_cross_entropy(1.0, 50.0, from_logits=True):.6e}")
    1.928750e-22
    """
    red = v.check_reduction(reduction)
    from_logits = v.check_flag(from_logits, "from_logits")
    return_grad = v.check_flag(return_grad, "return_grad")
    pred = v.as_real_array(y_pred, "y_pred")
    target = v.as_real_array(y_true, "y_true")
    v.check_same_shape(target, pred)
    eps = v.check_label_smoothing(label_smoothing)
    n_last = pred.shape[-1] if pred.ndim else 1
    pw = _pos_weight(pos_weight, n_last)
    s = for_mean(v.check_weight(sample_weight, "sample_weight", pred.shape, "y_pred's shape"), red)
    v.check_labels(target, "y_true")
    if not from_logits:
        v.check_in_unit_interval(pred, "y_pred", "; pass from_logits=True if these are logits")
    result, work = v.float_dtypes(pred)

    rows, cols = pred.size // max(n_last, 1) if n_last else 0, n_last
    x2, y2 = pred.reshape(rows, cols), target.reshape(rows, cols)
    s2 = None if s is None else np.broadcast_to(s, pred.shape).reshape(rows, cols)
    total = float(pred.size) if s2 is None else float(np.sum(s2))
    gdiv = grad_divisor(red, total)
    out = np.empty((rows, cols), result) if red == "none" else None
    grad = np.empty((rows, cols), result) if return_grad else None
    # About eight float64 temporaries per element: tiles a quarter of a block keep them cached.
    blocks = tiles(rows, cols, 4 * np.dtype(work).itemsize)
    partial = [0.0] * len(blocks)

    def tile(i: int, r0: int, r1: int, c0: int, c1: int) -> None:
        x = x2[r0:r1, c0:c1].astype(work, copy=False)
        y = y2[r0:r1, c0:c1].astype(work, copy=False)
        # The weights of the positive and negative terms, each smoothed on its own:
        # 1 - (y (1 - e) + e/2) would cancel where y is near 1.
        b = 1.0 - y
        if eps > 0:
            y = y * (1.0 - eps) + eps / 2
            b = b * (1.0 - eps) + eps / 2
        a = y if pw is None else y * pw[:, c0:c1].astype(work)
        if from_logits:
            # -log p = softplus(-x) = T + relu(-x), -log(1 - p) = softplus(x) = T + relu(x),
            # T = log1p(exp(-|x|)): l = (a + b) T + a relu(-x) + b relu(x), non-negative terms.
            # 0 * inf (a label of exactly 0 or 1 at an infinite logit) is 0 (fmax drops the
            # NaN); T is NaN only where x is, so NaN still propagates.
            u = np.exp(-np.abs(x))
            loss = log1p_nonneg(u.astype(np.float64, copy=False))
            if pw is not None:
                loss *= a + b
            relu = np.maximum(x, 0)
            relu_neg = relu - x
            loss += np.fmax(np.multiply(relu_neg, a, out=relu_neg), 0, out=relu_neg)
            loss += np.fmax(np.multiply(relu, b, out=relu), 0, out=relu)
        else:
            x64 = x.astype(np.float64, copy=False)
            loss = np.fmax(-a * np.log(x64), 0) + np.fmax(-b * np.log1p(-x64), 0) + 0.0 * x64
        sw = None if s2 is None else s2[r0:r1, c0:c1]
        if sw is not None:
            loss = np.where(sw == 0, 0.0, sw * loss)
        if out is not None:
            out[r0:r1, c0:c1] = loss
        partial[i] = float(np.sum(loss, dtype=np.float64))
        if grad is None:
            return
        if from_logits:
            # sigmoid(|x|) = 1 / (1 + u), sigmoid(-|x|) = u / (1 + u), u = exp(-|x|)
            inv = 1.0 / (1.0 + u)
            small = u * inv
            sig = np.where(x >= 0, inv, small)
            sig_neg = np.where(x >= 0, small, inv)
            g = b * sig - a * sig_neg
        else:
            g = np.fmax(b / (1.0 - x), 0) - np.fmax(a / x, 0)
        # A zero weight (or a mean over zero weight) zeroes the gradient, inf and NaN included.
        if sw is None:
            g = g * (1.0 / gdiv) if gdiv != np.inf else np.zeros_like(g)
        else:
            g = np.where(sw == 0, 0.0, g * (sw / gdiv))
        grad[r0:r1, c0:c1] = g

    def work_chunk(chunk: Sequence[tuple[int, Tile]]) -> None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for i, (r0, r1, c0, c1) in chunk:
                tile(i, r0, r1, c0, c1)

    run_chunks(list(enumerate(blocks)), work_chunk)
    rows_out = None if out is None else out.reshape(pred.shape)
    loss_out = reduce(rows_out, partial, total, red, result)
    if grad is not None:
        return loss_out, grad.reshape(pred.shape)
    return loss_out
