"""Input checks. Every message names the argument, the rule and the offending value."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

REDUCTIONS = ("none", "sum", "mean")


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _fmt(value: Any) -> str:
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


def as_real_array(value: npt.ArrayLike, name: str) -> np.ndarray:
    """``value`` as an array of bool, integer or floating dtype (never copied if already one)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}.")
    return arr


def float_dtypes(y_pred: np.ndarray) -> tuple[np.dtype[Any], np.dtype[Any]]:
    """(result dtype, working dtype): float16 is computed in float32, non-floats become float64."""
    if y_pred.dtype.kind != "f":
        return np.dtype(np.float64), np.dtype(np.float64)
    if y_pred.dtype.itemsize < 4:
        return y_pred.dtype, np.dtype(np.float32)
    return y_pred.dtype, y_pred.dtype


def check_reduction(reduction: object) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of 'none', 'sum', 'mean'; got {reduction!r}.")
    return reduction


def check_axis(axis: object, ndim: int, name: str = "y_pred") -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an integer; got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for {name} with {ndim} dimensions.")
    return int(axis) % ndim


def check_label_smoothing(label_smoothing: object) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"label_smoothing must be a real number; got {label_smoothing!r}.")
    e = float(label_smoothing)
    if not 0.0 <= e <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; got {label_smoothing!r}.")
    return e


def check_same_shape(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; they must match."
        )


def check_batch_shape(
    y_true: np.ndarray, y_pred: np.ndarray, axis: int, batch_shape: tuple[int, ...]
) -> None:
    if y_true.shape != batch_shape:
        raise ValueError(
            f"y_true has shape {y_true.shape} but y_pred of shape {y_pred.shape} with class "
            f"axis {axis} needs {batch_shape}."
        )


def check_weight(
    value: npt.ArrayLike | None, name: str, shape: tuple[int, ...], rule: str
) -> np.ndarray | None:
    """A finite, non-negative float64 weight broadcastable to ``shape`` (``rule`` names it)."""
    if value is None:
        return None
    w = as_real_array(value, name).astype(np.float64, copy=False)
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise ValueError(
            f"{name} of shape {w.shape} does not broadcast to {rule} {shape}."
        ) from None
    if np.broadcast_shapes(w.shape, shape) != shape:
        raise ValueError(f"{name} of shape {w.shape} does not broadcast to {rule} {shape}.")
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        flat = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be finite and non-negative; got {_fmt(w.flat[flat])} "
            f"at index {_index(flat, w.shape)}."
        )
    return w


def check_class_weight(value: npt.ArrayLike | None, n_classes: int) -> np.ndarray | None:
    if value is None:
        return None
    w = as_real_array(value, "class_weight")
    if w.shape != (n_classes,):
        raise ValueError(f"class_weight must have shape (C,) = ({n_classes},); got {w.shape}.")
    return check_weight(w, "class_weight", (n_classes,), "the classes")


def check_in_unit_interval(arr: np.ndarray, name: str, hint: str = "") -> None:
    """All of ``arr`` in [0, 1]; NaN passes (it propagates to the result)."""
    if arr.size == 0 or arr.dtype.kind == "b":
        return
    # fmin/fmax skip NaN and allocate nothing: the common, valid case costs two reads.
    if np.fmin.reduce(arr, axis=None) >= 0 and np.fmax.reduce(arr, axis=None) <= 1:
        return
    flat = int(np.flatnonzero((arr < 0) | (arr > 1))[0])
    raise ValueError(
        f"{name} has values outside [0, 1] (first: {_fmt(arr.flat[flat])} at index "
        f"{_index(flat, arr.shape)}){hint}."
    )


def check_row_sums(
    sums: np.ndarray, name: str, axis: int, rtol: float, batch_shape: tuple[int, ...], offset: int
) -> None:
    """Rows of a distribution sum to 1 within ``rtol``; ``sums`` are rows ``offset, ...``."""
    with np.errstate(invalid="ignore"):
        bad = np.abs(sums - 1.0) > rtol
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} rows must sum to 1 along axis {axis} (rtol {rtol:.3g}); row "
            f"{_index(offset + k, batch_shape)} sums to {float(sums[k])!r}."
        )


def check_class_ids(y: np.ndarray, n_classes: int, axis: int, ignore_index: int | None) -> None:
    """Integral class ids in [0, C), except entries equal to ``ignore_index``."""
    if y.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(y) | (y != np.floor(y))
        if bad.any():
            flat = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"y_true holds non-integral class id {_fmt(y.flat[flat])} at index "
                f"{_index(flat, y.shape)}."
            )
    elif y.dtype.kind not in "iu":
        raise TypeError(f"y_true must hold integer class ids; got dtype {y.dtype}.")
    if y.size == 0:
        return
    valid = y if ignore_index is None else y[y != ignore_index]
    if valid.size == 0 or (valid.min() >= 0 and valid.max() < n_classes):
        return
    out = (y < 0) | (y >= n_classes)
    if ignore_index is not None:
        out &= y != ignore_index
    flat = int(np.flatnonzero(out)[0])
    raise ValueError(
        f"y_true holds class id {_fmt(y.flat[flat])} at index {_index(flat, y.shape)}, outside "
        f"[0, {n_classes}) for y_pred's axis {axis} of size {n_classes}."
    )


def check_ignore_index(ignore_index: object) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index must be an integer or None; got {ignore_index!r}.")
    return int(ignore_index)
