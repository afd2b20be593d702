"""The only place that knows the reductions "none", "sum", "mean" and the zero-weight rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

#: How a loss is reduced over the batch.
Reduction = Literal["none", "sum", "mean"]


def grad_divisor(reduction: str, total_weight: float) -> float:
    """What a weighted per-row gradient is divided by: 1 for "none"/"sum", the total for "mean".

    A mean over zero total weight is defined as 0.0, so its gradient is zero: dividing by inf
    gives exactly that. Dividing (rather than multiplying by a reciprocal) keeps tiny weights
    from overflowing: a single row of weight 1e-310 has mean-gradient weight 1.
    """
    if reduction != "mean":
        return 1.0
    return total_weight if total_weight > 0 else np.inf


def reduce(
    rows: np.ndarray | None,
    partial_sums: Sequence[float],
    total_weight: float,
    reduction: str,
    dtype: np.dtype[np.floating],
) -> np.ndarray | np.floating:
    """Finish a loss from its weighted per-row values.

    ``rows`` holds the per-row values when ``reduction == "none"``; otherwise the kernels have
    accumulated one float64 partial sum per block, added here in block order so the result
    does not depend on the number of threads.
    """
    if reduction == "none":
        assert rows is not None
        return rows.astype(dtype, copy=False)
    total = float(np.sum(np.asarray(partial_sums, dtype=np.float64)))
    if reduction == "mean":
        total = total / total_weight if total_weight > 0 else 0.0
    return np.asarray(total, dtype=dtype)[()]
