"""KL divergence between target and predicted distributions, with a distillation temperature.

``l_i = T**2 * sum_c p_ic (log p_ic - log q_ic)`` with ``p`` the targets (probabilities, or
the softmax of teacher logits over ``T``) and ``q`` the predictions (probabilities, or the
softmax of student logits over ``T``). The kernel (xent/_kernels/kl.h) computes it as
``sum_c p_c x_c - log1p(sum_c q_c expm1(x_c))`` with ``x_c`` the difference of the two
log-weights shifted by the difference of their normalizers, so that nearly equal
distributions keep their tiny divergence (float results keep the direct sum where it is as
accurate); this module validates, describes the call and reduces.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt
from numpy_typing_compat import LiteralFalse, LiteralTrue

from . import _engine
from . import _validation as v
from ._categorical import _check_dtype, _Distributions
from ._engine import Block, Layout, layout_of
from ._kernels import _core
from ._outputs import MIN_BYTES, new_array
from ._reduction import Reduction, for_mean, grad_divisor, reduce
from ._softmax import BlockArrays, RowSource, run_blocks, run_shared, whole_call

Loss = np.ndarray | np.floating
_PROB_HINT = "; pass from_logits=True if these are logits"
_TARGET_HINT = "; pass target_from_logits=True if these are logits"


def _run(
    layout: Layout,
    work: np.dtype[np.floating],
    target: np.ndarray,
    pred: np.ndarray,
    grad: np.ndarray | None,
    weights: RowSource | None,
    rows_out: np.ndarray | None,
    temperature: float,
    grad_div: float,
    target_logits: bool,
    pred_logits: bool,
) -> tuple[list[tuple[float, float]], bool]:
    """Every block through the kernel: the per-block partial sums, in block order, and whether
    a target logit is NaN (found by the kernel's maximum of each target row). Where every array
    is used whole (`whole_call`), the blocks as one job whose threads take them from a counter
    shared in C (`_core.SharedKL`): the same blocks and kernel calls, so the same results."""
    whole = whole_call(layout, work, pred, (target, grad), weights, rows_out)
    if whole is not None:
        blocks, qs, (ps, gs), sw, rows = whole
        assert ps is not None  # (the targets are given)
        job = _core.SharedKL(
            ps, qs, gs, sw, rows, temperature, grad_div, target_logits, pred_logits,
            layout.block_rows(work.itemsize),
        )  # fmt: skip
        run_shared(job, len(blocks))
        return job.results(), job.target_nan()
    nan_blocks: list[int] = []  # appended to by the engine's threads

    def kernel(blk: Block, a: BlockArrays, block_rows: int) -> list[tuple[float, float]]:
        assert a.target is not None
        assert block_rows == 0  # one block at a time
        sw = None if weights is None else weights.block(blk)
        total, small, nan = _core.kl_block(
            a.target, a.x, a.out, sw, a.rows, temperature, grad_div, target_logits,
            pred_logits, a.scratch,
        )  # fmt: skip
        if nan:
            nan_blocks.append(blk.number)
        return [(total, small)]

    partial = run_blocks(
        layout, work, pred, kernel, target=target, out=grad, rows_out=rows_out,
        scratch_len=_core.kl_scratch_len(layout.C),
    )  # fmt: skip
    return partial, bool(nan_blocks)


@overload
def kl_divergence(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    target_from_logits: bool = ...,
    temperature: float = ...,
    axis: int = ...,
    sample_weight: npt.ArrayLike | None = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
) -> Loss: ...
@overload
def kl_divergence(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = ...,
    target_from_logits: bool = ...,
    temperature: float = ...,
    axis: int = ...,
    sample_weight: npt.ArrayLike | None = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
) -> tuple[Loss, np.ndarray]: ...
def kl_divergence(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    from_logits: bool = False,
    target_from_logits: bool = False,
    temperature: float = 1.0,
    axis: int = -1,
    sample_weight: npt.ArrayLike | None = None,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
) -> Loss | tuple[Loss, np.ndarray]:
    r"""Kullback-Leibler divergence of predictions from targets, for distillation.

    .. math:: l_i = T^2 \sum_c p_{ic} \,(\log p_{ic} - \log q_{ic})

    with ``p = softmax(y_true / T)`` when ``target_from_logits`` (a teacher's logits) and
    ``q = softmax(y_pred / T)`` when ``from_logits`` (a student's logits); probabilities are
    used as they are. ``T = temperature`` (Hinton et al., 2015). The ``T**2`` factor keeps the
    gradient's scale independent of ``T``; with ``reduction="mean"`` the result equals
    PyTorch's ``F.kl_div(F.log_softmax(s / T), F.log_softmax(t / T), log_target=True,
    reduction="batchmean") * T**2``.

    Parameters
    ----------
    y_true : array_like, shape (..., C, ...)
        Targets: probabilities summing to 1 along ``axis`` (rtol sqrt(eps) of their dtype),
        or logits with ``target_from_logits``.
    y_pred : array_like, shape (..., C, ...)
        Predictions: probabilities summing to 1 along ``axis``, or logits with
        ``from_logits``; ``y_true``'s shape.
    from_logits : bool, default False
        Whether ``y_pred`` holds logits (the keyword of every loss of xent).
    target_from_logits : bool, default False
        Whether ``y_true`` holds logits. A keyword of its own, named after ``from_logits``,
        rather than PyTorch's ``log_target``: logits need not be normalized (``log_target``
        means log-probabilities, which are one kind of logits), and the target is where the
        teacher's logits go.
    temperature : float, default 1.0
        ``T > 0``, dividing every set of logits; the divergence is multiplied by ``T**2``. A
        value other than 1 needs logits on at least one side.
    axis : int, default -1
        The class axis.
    sample_weight : array_like, optional
        Non-negative weight per row, broadcasting to the batch shape (``y_pred``'s shape
        without ``axis``). A row of weight 0 contributes 0, with a zero gradient.
    reduction : {"mean", "sum", "none"}, default "mean"
        "none": ``s_i * l_i`` per row; "sum": their sum; "mean": their sum divided by
        ``sum_i s_i`` (the number of rows without weights: PyTorch's "batchmean"; 0.0 when
        it is 0).
    return_grad : bool, default False
        Also return the gradient with respect to ``y_pred``: ``T * (q - p)`` per row (times
        ``sum_c p_c``, 1 up to rounding, on ``q``) from logits, ``-T**2 * p / q`` from
        probabilities.

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
        On shapes that differ, NaN in ``y_true``, probabilities outside [0, 1] or rows not
        summing to 1, bad weights, a temperature that is not finite and positive (or not 1
        without logits), an unknown reduction or an axis out of range.
    TypeError
        On non-numeric input or options of the wrong type.

    See Also
    --------
    categorical_cross_entropy : ``sum_c p_c (-log q_c)``, the divergence plus the entropy of p.

    Notes
    -----
    A class with ``p_c = 0`` contributes exactly 0 whatever ``q_c`` (a ``-inf`` logit on both
    sides too); ``q_c = 0`` with ``p_c > 0`` gives ``inf``. No probability is clipped
    (Keras clips both to [1e-7, 1]). Two ``log_softmax`` subtracted lose the divergence of
    nearly equal distributions (each log-probability is rounded at its own size); xent
    computes ``sum_c p_c x_c - log1p(sum_c q_c expm1(x_c))`` with ``x_c = log(p_c / q_c)`` up
    to a per-row shift, whose rounding errors cancel to first order: the error is a few ulp
    of ``sum_c p_c |log p_c - log q_c|``. For float32 (and float16) results the kernel keeps
    the direct ``sum_c p_c (log p_c - log q_c)`` from the same pass where that sum of absolute
    terms is at least 2**-7 (there its error is below 2**-30 of it), which saves an ``expm1``
    per entry for most rows of a distillation. Probabilities are used as given (not
    renormalized), as Keras, Optax and PyTorch do.

    References
    ----------
    Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network", 2015.

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> teacher = np.array([[4.0, 1.0, -2.0], [0.5, 2.5, 0.0]])
    >>> student = np.array([[3.0, 1.5, -1.0], [0.0, 2.0, 1.0]])
    >>> loss, grad = xent.kl_divergence(teacher, student, from_logits=True,
    ...                                 target_from_logits=True, temperature=2.0,
    ...                                 return_grad=True)
    >>> print(f"{loss:.6f}")
    0.219741
    >>> print(grad.round(4))
    [[-0.1636  0.1185  0.0451]
     [-0.036  -0.098   0.134 ]]

    Nearly equal distributions: the difference of two ``log_softmax`` rounds the divergence
    away (here to a value of the wrong sign), xent keeps it.

    >>> t = np.array([[20.0, 0.0, -5.0]])
    >>> s = t + np.array([[0.0, 1e-9, 0.0]])
    >>> print(f"{xent.kl_divergence(t, s, from_logits=True, target_from_logits=True):.4e}")
    1.0306e-27
    >>> p, lp, lq = xent.softmax(t), xent.log_softmax(t), xent.log_softmax(s)
    >>> print(f"{np.sum(p * (lp - lq)):.1e}")
    -3.2e-26
    """
    from_logits = v.check_flag(from_logits, "from_logits")
    target_from_logits = v.check_flag(target_from_logits, "target_from_logits")
    return_grad = v.check_flag(return_grad, "return_grad")
    red = v.check_reduction(reduction)
    if from_logits and target_from_logits and sample_weight is None:
        # a small call, plainly valid: in C (`_core.kl_one_block`), the same bits
        done: Loss | tuple[Loss, np.ndarray] | None = _core.kl_one_block(
            y_true, y_pred, axis, temperature, red, return_grad, _engine.BLOCK_BYTES,
            _engine.MIN_ROWS, new_array, MIN_BYTES,
        )  # fmt: skip
        if done is not None:
            return done
    pred = v.as_real_array(y_pred, "y_pred")
    target = v.as_real_array(y_true, "y_true")
    v.check_same_shape(target, pred)
    layout = layout_of(pred.shape, v.check_axis(axis, pred.ndim))
    if layout.C == 0:
        raise ValueError(f"y_pred has no classes: its axis {axis} has size 0.")
    temp = v.check_temperature(temperature, from_logits, target_from_logits)
    s = for_mean(
        v.check_weight(sample_weight, "sample_weight", layout.batch_shape, "the batch shape"), red
    )
    if not target_from_logits:  # the distributions' one pass per block also finds a NaN
        _Distributions(
            target, layout, "y_true", axis, _TARGET_HINT, _check_dtype(target),
            nan_what="target probabilities",
        ).run()  # fmt: skip
    if not from_logits:
        _Distributions(pred, layout, "y_pred", axis, _PROB_HINT, _check_dtype(pred)).run()
    result, work = v.float_dtypes(pred)
    if target.dtype == np.float64:  # float64 targets keep their precision with float32 logits
        work = np.dtype(np.float64)
    n_rows = layout.A * layout.B
    total = float(n_rows) if s is None else float(np.sum(np.broadcast_to(s, layout.batch_shape)))
    weights = None if s is None else RowSource(layout, s, np.float64)
    rows_out = new_array(layout.batch_shape, result) if red == "none" else None
    grad = new_array(pred.shape, result) if return_grad else None
    partial, target_nan = _run(
        layout, work, target, pred, grad, weights, rows_out, temp, grad_divisor(red, total),
        target_from_logits, from_logits,
    )  # fmt: skip
    if target_nan:
        v.check_not_nan(target, "y_true", "targets")  # the error, with the NaN's index
    loss = reduce(rows_out, partial, total, red, result)
    return loss if grad is None else (loss, grad)
