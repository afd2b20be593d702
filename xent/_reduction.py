"""The only place that knows the reductions "none", "sum", "mean" and the zero-weight rule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from ._kernels import _core

#: How a loss is reduced over the batch.
Reduction = Literal["none", "sum", "mean"]


def for_mean(weights: np.ndarray | None, reduction: str) -> np.ndarray | None:
    """Weights scaled by a power of two so the largest is in [0.5, 1), for a "mean".

    A mean divides by the total weight, so a common factor cancels; scaling by a power of 2 is
    exact and keeps tiny (even subnormal) or huge weights from losing digits or overflowing.
    """
    e = mean_exponent(weights, reduction)
    if weights is None or e == 0:
        return weights
    scaled: np.ndarray = np.ldexp(weights, -e)
    return scaled


def mean_exponent(weights: np.ndarray | None, reduction: str) -> int:
    """``e`` such that `for_mean` scales ``weights`` by ``2**-e`` (0 when it leaves them).

    A term of the loss that the weights do not multiply (the z-loss, next to class weights) is
    scaled by the same power of two, so that the mean is unchanged.
    """
    if reduction != "mean" or weights is None or weights.size == 0:
        return 0
    top = float(np.max(weights))
    return 0 if top == 0.0 else int(np.frexp(top)[1])


def grad_divisor(reduction: str, total_weight: float) -> float:
    """What a weighted per-row gradient is divided by: 1 for "none"/"sum", the total for "mean".

    A mean over zero total weight is defined as 0.0, so its gradient is zero: dividing by inf
    gives exactly that. Dividing (rather than multiplying by a reciprocal) keeps tiny weights
    from overflowing: a single row of weight 1e-310 has mean-gradient weight 1.
    """
    if reduction != "mean":
        return 1.0
    return total_weight if total_weight > 0 else np.inf


def _sum(partial_sums: Sequence[tuple[float, float]], k: int) -> float:
    """The blocks' sums (item ``k`` of each pair) added exactly, then rounded once
    (`_core.exact_sum`, as the small path's jobs add theirs; 0.0 for none, and for -0.0): inf
    where that sum overflows, NaN where it holds inf and -inf."""
    if len(partial_sums) == 1:  # one block (a small call): the sum itself, -0.0 as 0.0
        return partial_sums[0][k] + 0.0
    return _core.exact_sum([pair[k] for pair in partial_sums])


def reduce(
    rows: np.ndarray | None,
    partial_sums: Sequence[tuple[float, float]],
    total_weight: float,
    reduction: str,
    dtype: np.dtype[np.floating],
) -> np.ndarray | np.floating:
    """Finish a loss from its weighted per-row values.

    ``rows`` holds the per-row values when ``reduction == "none"``; otherwise the kernels have
    accumulated float64 partial sums per block (compensated: a few ulp for any block length),
    added here exactly and rounded once, so that the result does not depend on the number of
    threads and the mean of many losses keeps their digits. Each block gives its sum and the
    same sum scaled by 2**-64 (exact): where finite losses sum past the largest float, their
    mean comes from the scaled sum and stays finite.
    """
    if reduction == "none":
        assert rows is not None
        # A value beyond the result dtype's range (float32 over 3.4e38, say) becomes inf, as
        # the rounding rule says: the cast's overflow warning is not the user's business.
        with np.errstate(over="ignore"):
            out: np.ndarray | np.floating = rows.astype(dtype, copy=False)[()]
        return out
    total = _sum(partial_sums, 0)
    if reduction == "mean":
        if total_weight <= 0:
            total = 0.0
        elif math.isinf(total) and math.isfinite(small := _sum(partial_sums, 1)):
            total = small / total_weight / _core.SMALL
        else:
            total = total / total_weight
    kind = dtype.type
    if abs(total) <= _FINITE_MAX.get(kind, 0.0):
        # 1 of the result type times the float: the float rounded once to that type, as
        # kind(total) gives it, in a fifth of the time (0.1 us; NumPy 2's scalar constructor
        # took 0.35-0.6 us, a fortieth of a small call)
        value: np.floating = _ONE[kind] * total
        return value
    with np.errstate(over="ignore"):  # inf, NaN, or beyond the largest value (rounded): silently
        return kind(total)


#: The largest finite value of each result type (below it, a result needs no errstate); keyed
#: by the scalar type, whose hash is cheaper than a dtype's.
_FINITE_MAX: dict[type, float] = {
    t: float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)
}
#: 1 as each result type (see reduce).
_ONE: dict[type, np.floating] = {t: t(1.0) for t in _FINITE_MAX}
