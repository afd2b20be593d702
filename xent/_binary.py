"""Binary (and multi-label) cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
import numpy.typing as npt
from numpy_typing_compat import LiteralFalse, LiteralTrue

from . import _engine
from . import _validation as v
from ._engine import run_chunks, tiles
from ._kernels import _core
from ._outputs import MIN_BYTES, new_array
from ._reduction import Reduction, for_mean, grad_divisor, reduce
from ._softmax import run_shared, whole_array

Loss = np.ndarray | np.floating
Tile = tuple[int, int, int, int]
#: A tile's ranges before it has any: the least and greatest label, a NaN label, the least and
#: greatest y_pred.
_NO_RANGE = (np.inf, -np.inf, False, np.inf, -np.inf)


def _pos_weight(value: npt.ArrayLike | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """A non-negative weight that broadcasts to ``y_pred``'s shape (PyTorch's rule: a scalar,
    a vector along the last axis, a column, or any shape that broadcasts)."""
    return v.check_weight(value, "pos_weight", shape, "y_pred's shape")


@overload
def binary_cross_entropy(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    pos_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    focal_gamma: float = ...,
    focal_alpha: float | None = ...,
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
    focal_gamma: float = ...,
    focal_alpha: float | None = ...,
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
    focal_gamma: float = 0.0,
    focal_alpha: float | None = None,
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
    pos_weight : float or array_like, optional
        Non-negative weight of the positive term, broadcasting to ``y_pred``'s shape
        (PyTorch's rule): a scalar, one per entry of the last axis (shape ``(K,)``), one per
        row (``(N, 1)``), or one per element.
    sample_weight : array_like, optional
        Non-negative weights broadcasting to ``y_pred``'s shape.
    label_smoothing : float, default 0.0
        ``epsilon`` in [0, 1].
    focal_gamma : float, default 0.0
        ``gamma >= 0``: the focal loss (Lin et al. 2017) ``alpha_t (1 - p_t)**gamma * l`` with
        ``p_t = y p + (1 - y)(1 - p)`` for the (smoothed) label ``y``: torchvision's
        ``sigmoid_focal_loss`` and Keras's ``BinaryFocalCrossentropy``. 0 is the plain loss.
    focal_alpha : float in [0, 1], optional
        ``alpha_t = alpha y + (1 - alpha)(1 - y)`` (torchvision's ``alpha``, Keras's
        ``apply_class_balancing``); None: ``alpha_t = 1``.
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
        smoothing or ``focal_alpha`` outside [0, 1], a negative or non-finite
        ``focal_gamma`` or an unknown reduction.
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

    The focal loss of a confident element keeps its digits: ``(1 - p_t)**2`` is ``exp(-100)``
    here, computed in log space, where ``1 - sigmoid(50)`` rounds to 0.

    >>> print(f"{xent.binary_cross_entropy(1.0, 50.0, from_logits=True, focal_gamma=2.0):.6e}")
    7.175095e-66
    """
    red = v.check_reduction(reduction)
    from_logits = v.check_flag(from_logits, "from_logits")
    return_grad = v.check_flag(return_grad, "return_grad")
    if pos_weight is None and sample_weight is None:
        # a call of one tile, plainly valid: in C (`_core.binary_one_tile`), the same bits
        done: Loss | tuple[Loss, np.ndarray] | None = _core.binary_one_tile(
            y_true, y_pred, from_logits, red, label_smoothing, focal_gamma, focal_alpha,
            return_grad, _engine.BLOCK_BYTES, new_array, MIN_BYTES,
        )  # fmt: skip
        if done is not None:
            return done
    pred = v.as_real_array(y_pred, "y_pred")
    target = v.as_real_array(y_true, "y_true")
    v.check_same_shape(target, pred)
    eps = v.check_label_smoothing(label_smoothing)
    gamma = v.check_coefficient(focal_gamma, "focal_gamma")
    alpha = -1.0 if focal_alpha is None else v.check_fraction(focal_alpha, "focal_alpha")
    n_last = pred.shape[-1] if pred.ndim else 1
    pw = _pos_weight(pos_weight, pred.shape)
    s = for_mean(v.check_weight(sample_weight, "sample_weight", pred.shape, "y_pred's shape"), red)
    result, work = v.float_dtypes(pred)
    # Labels stay float32 or float64 (the kernel reads both); others become float64 per tile.
    label_dtype = target.dtype if target.dtype in (np.float32, np.float64) else np.float64

    rows, cols = pred.size // max(n_last, 1) if n_last else 0, n_last
    x2, y2 = pred.reshape(rows, cols), target.reshape(rows, cols)
    pw2 = None if pw is None else np.broadcast_to(pw, pred.shape).reshape(rows, cols)
    s2 = None if s is None else np.broadcast_to(s, pred.shape).reshape(rows, cols)
    total = float(pred.size) if s2 is None else float(np.sum(s2))
    gdiv = grad_divisor(red, total)
    out = new_array((rows, cols), result) if red == "none" else None
    grad = new_array((rows, cols), result) if return_grad else None
    # Tiles of a quarter million elements: per-tile copies (labels as float64, broadcast
    # weights) stay a few MiB per thread.
    blocks = tiles(rows, cols, 2)
    partial = [(0.0, 0.0)] * len(blocks)
    # per tile: the least and greatest label, whether one is NaN, the least and greatest y_pred
    ranges = [_NO_RANGE] * len(blocks)

    def tile(i: int, r0: int, r1: int, c0: int, c1: int) -> None:
        shape = (r1 - r0, c1 - c0)

        def flat(a: np.ndarray, dtype: np.dtype[np.floating] | type) -> np.ndarray:
            """A tile of an array of the batch's shape, contiguous (a view where it is)."""
            return np.ascontiguousarray(a, dtype=dtype).reshape(-1)

        x = flat(x2[r0:r1, c0:c1], work)
        y = flat(y2[r0:r1, c0:c1], label_dtype)  # labels keep their own precision
        pwt = None if pw2 is None else flat(pw2[r0:r1, c0:c1], np.float64)
        swt = None if s2 is None else flat(s2[r0:r1, c0:c1], np.float64)
        loss = None if out is None else np.empty(x.size)
        g = None
        if grad is not None:
            view = grad[r0:r1, c0:c1]
            g = view.reshape(-1) if view.flags.c_contiguous and grad.dtype == work else None
            g = np.empty(x.size, work) if g is None else g
        res = _core.binary_block(
            x, y, pwt, swt, g, loss, eps, gdiv, bool(from_logits), gamma, alpha
        )
        partial[i], ranges[i] = res[:2], res[2:]
        copy_grad = grad is not None and g is not None and not np.may_share_memory(g, grad)
        if out is None and not copy_grad:
            return
        # A value beyond the result dtype's range becomes inf, silently (the documented rule).
        with np.errstate(over="ignore"):
            if out is not None and loss is not None:
                out[r0:r1, c0:c1] = loss.reshape(shape)
            if copy_grad and grad is not None and g is not None:
                grad[r0:r1, c0:c1] = g.reshape(shape)

    def work_chunk(chunk: Sequence[tuple[int, Tile]]) -> None:
        for i, (r0, r1, c0, c1) in chunk:
            tile(i, r0, r1, c0, c1)

    # arrays the kernel reads whole (weights too: float64 of the batch's shape), without
    # per-element losses: the tiles as one job in C (`_core.SharedBinary`: the threads take
    # them from a shared counter, no Python between them), the same kernel calls and results
    # as tile by tile
    whole = (
        len(blocks) > 0
        and all(w is None or whole_array(w, np.dtype(np.float64)) for w in (pw2, s2))
        and out is None
        and pred.dtype == work
        and target.dtype == label_dtype
        and pred.flags.c_contiguous
        and target.flags.c_contiguous
        and (grad is None or (grad.dtype == work and grad.flags.c_contiguous))
    )
    if whole:
        # each tile is full rows or a piece of one row: a range of the flat arrays
        starts = [r0 * cols + c0 for r0, _, c0, _ in blocks]
        job = _core.SharedBinary(
            pred.reshape(-1), target.reshape(-1), None if grad is None else grad.reshape(-1),
            eps, gdiv, bool(from_logits), gamma, alpha, np.array([*starts, rows * cols], np.int64),
            None if pw2 is None else pw2.reshape(-1), None if s2 is None else s2.reshape(-1),
        )  # fmt: skip
        run_shared(job, len(blocks))
        partial, ranges = job.results(), job.ranges()
    else:
        run_chunks(list(enumerate(blocks)), work_chunk)
    # The checks of the labels (and probabilities) came from the kernel's pass; on a failure the
    # validators find the first bad entry for the message.
    if len(ranges) == 1:  # one tile (a small call): its ranges
        y_lo, y_hi, y_nan, x_lo, x_hi = ranges[0]
    else:  # _NO_RANGE first: an empty batch has no tiles
        y_los, y_his, y_nans, x_los, x_his = zip(_NO_RANGE, *ranges, strict=True)
        y_lo, y_hi, y_nan = min(y_los), max(y_his), any(y_nans)
        x_lo, x_hi = min(x_los), max(x_his)
    if y_nan or y_lo < 0 or y_hi > 1:
        v.check_labels(target, "y_true")
    if not from_logits and (x_lo < 0 or x_hi > 1):
        v.check_in_unit_interval(pred, "y_pred", "; pass from_logits=True if these are logits")
    rows_out = None if out is None else out.reshape(pred.shape)
    loss_out = reduce(rows_out, partial, total, red, result)
    if grad is not None:
        return loss_out, grad.reshape(pred.shape)
    return loss_out
