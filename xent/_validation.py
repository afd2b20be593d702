"""Input checks. Every message names the argument, the rule and the offending value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._engine import run_chunks
from ._kernels import _core

REDUCTIONS = ("none", "sum", "mean")


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _fmt(value: Any) -> str:
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


_MaskedArray = np.ma.MaskedArray


def as_real_array(value: npt.ArrayLike, name: str) -> np.ndarray:
    """``value`` as an array of bool, integer or floating dtype (never copied if already one).

    A masked array is refused: its mask would be lost without a word. An ``np.matrix`` (or any
    other subclass) is read as the plain array it holds.
    """
    if isinstance(value, _MaskedArray):
        raise TypeError(
            f"{name} is a masked array, whose mask xent would ignore; pass its data with the "
            f"masked entries filled ({name}.filled(...)) and give them zero weight "
            "(sample_weight=~mask for the batch)."
        )
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(
            f"{name} must be a rectangular array of real numbers; NumPy could not convert it: {err}"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}.")
    return arr


def check_flag(value: object, name: str) -> bool:
    """A bool option: a Python or NumPy bool and nothing else (no strings, numbers, arrays)."""
    if value is True or value is False:  # the common case first
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False); got {_short(value)}.")
    return bool(value)


def _short(value: object) -> str:
    """``repr(value)``, cut to a readable length (an array passed as an option, say)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def float_dtypes(y_pred: np.ndarray) -> tuple[np.dtype[Any], np.dtype[Any]]:
    """(result dtype, working dtype): float16 is computed in float32, non-floats become float64."""
    if y_pred.dtype.kind != "f":
        return np.dtype(np.float64), np.dtype(np.float64)
    native = y_pred.dtype  # results in native byte order, whatever the input
    if not native.isnative:
        native = native.newbyteorder("=")
    if native.itemsize < 4:
        return native, np.dtype(np.float32)
    return native, native


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


def _real(value: object) -> float | None:
    """A real option (a Python or NumPy int or float, not a bool) as a float (inf for an int
    beyond float's range); None for anything else."""
    if type(value) is float:  # the common case first
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        return math.inf


def check_label_smoothing(label_smoothing: object) -> float:
    e = _real(label_smoothing)
    if e is None:
        raise TypeError(f"label_smoothing must be a real number; got {label_smoothing!r}.")
    if not 0.0 <= e <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; got {_short(label_smoothing)}.")
    return e


def check_coefficient(value: object, name: str) -> float:
    """A finite, non-negative real option (``z_loss``, ``focal_gamma``) as a float."""
    f = _real(value)
    if f is None:
        raise TypeError(f"{name} must be a real number; got {_short(value)}.")
    if not (math.isfinite(f) and f >= 0.0):
        raise ValueError(f"{name} must be finite and non-negative; got {_short(value)}.")
    return f


def check_temperature(value: object, from_logits: bool, target_from_logits: bool) -> float:
    """A finite, positive temperature; one other than 1 needs logits on at least one side."""
    t = _real(value)
    if t is None:
        raise TypeError(f"temperature must be a real number; got {_short(value)}.")
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"temperature must be finite and positive; got {_short(value)}.")
    if t != 1.0 and not (from_logits or target_from_logits):
        raise ValueError(
            f"temperature divides logits; got temperature={value!r} with from_logits=False "
            "and target_from_logits=False."
        )
    return t


def check_fraction(value: object, name: str) -> float:
    """A real option in [0, 1] (``focal_alpha``) as a float."""
    f = _real(value)
    if f is None:
        raise TypeError(f"{name} must be a real number or None; got {_short(value)}.")
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]; got {_short(value)}.")
    return f


def check_needs_logits(value: float, name: str, what: str, from_logits: bool) -> None:
    """An option defined on logits only (``what`` says why), with ``from_logits=False``."""
    if value != 0.0 and not from_logits:
        raise ValueError(
            f"{name} needs logits ({what}); got {name}={value!r} with from_logits=False."
        )


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
    # two reductions in the common case (NaN makes the minimum NaN, inf the maximum; a weight
    # per element of a large batch was five passes and their temporaries before), the exact
    # search for the message only where they fail
    if w.size and not (np.min(w) >= 0.0 and np.max(w) < np.inf):
        bad = ~(np.isfinite(w) & (w >= 0))
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


def check_not_nan(arr: np.ndarray, name: str, what: str) -> None:
    """No NaN in ``arr``, which holds ``what`` (labels, targets): a NaN there is not data."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    # One reduction in the common case: a sum without NaN is not NaN unless inf - inf (or an
    # overflow to inf meets a -inf), and the exact search below settles those.
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isnan(np.add.reduce(arr, axis=None)):
            return
    nan = np.flatnonzero(np.isnan(arr))
    if nan.size:
        raise ValueError(
            f"{name} holds NaN at index {_index(int(nan[0]), arr.shape)}; {what} must be numbers."
        )


def check_labels(arr: np.ndarray, name: str) -> None:
    """Labels or target probabilities: no NaN and all in [0, 1]."""
    check_not_nan(arr, name, "labels")
    check_in_unit_interval(arr, name)


def check_in_unit_interval(arr: np.ndarray, name: str, hint: str = "") -> None:
    """All of ``arr`` in [0, 1]; NaN passes (it propagates to the result)."""
    if arr.size == 0 or arr.dtype.kind == "b":
        return
    # fmin/fmax skip NaN and allocate nothing: the common, valid case costs two reads.
    if np.fmin.reduce(arr, axis=None) >= 0 and np.fmax.reduce(arr, axis=None) <= 1:
        return
    outside = np.flatnonzero((arr < 0) | (arr > 1))
    if outside.size == 0:  # every entry NaN: fmin/fmax return NaN
        return
    flat = int(outside[0])
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


def check_class_ids(
    y: np.ndarray,
    n_classes: int,
    axis: int,
    ignore_index: int | None,
    classes: str | None = None,
) -> tuple[np.ndarray, int | None]:
    """Integral class ids in [0, C), except entries equal to ``ignore_index``.

    ``classes`` names where the C classes come from in the message (default: y_pred's axis).

    Returns the ids and the value that marks an ignored entry among them. Float ids are
    compared with ``ignore_index`` exactly (``2.0**53`` is not ``2**53 + 1``, though NumPy's
    comparison rounds the integer to that float); with an ``ignore_index`` they are returned as
    int64 with the ignored entries set to -1, and -1 is returned as the marker.
    """
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
        return y, ignore_index
    ignored = None
    if y.dtype.kind == "f":
        ignored = None if ignore_index is None else _equal_exactly(y, ignore_index)
        out = (y < 0) | (y >= n_classes)
        if ignored is not None:
            out &= ~ignored
    else:
        # one pass in the kernels where it can
        found = _id_range(y.reshape(-1), _id_skip(ignore_index)) if y.flags.c_contiguous else None
        if _ids_within(found, y, n_classes, ignore_index):
            return y, ignore_index
        out = (y < 0) | (y >= n_classes)
        if ignore_index is not None:
            out &= y != ignore_index
    if out.any():
        flat = int(np.flatnonzero(out)[0])
        where = classes or f"y_pred's axis {axis} of size {n_classes}"
        raise ValueError(
            f"y_true holds class id {_fmt(y.flat[flat])} at index {_index(flat, y.shape)}, "
            f"outside [0, {n_classes}) for {where}."
        )
    if ignored is None:
        return y, ignore_index
    ids: np.ndarray = np.where(ignored, -1, y).astype(np.int64)
    return ids, -1


#: Class ids per piece of `_id_range` (512 KiB of int64 ids): a batch of more ids is checked on
#: the engine's threads, so that this pass over the labels is not the serial part of a call.
ID_PIECE = 1 << 16


#: A block's class ids hold one outside [0, C) (`block_id_check`, or the kernel's check of a
#: block's ids as it runs it): the caller then calls `check_class_ids` on the whole batch,
#: which says where.
ClassIdsOutOfRange = _core.ClassIdsOutOfRange


def ids_checked_by_blocks(y: np.ndarray) -> bool:
    """Whether the class ids ``y`` can be checked block by block, by the kernel as it reads
    each block's (`_core.softmax_block`'s ``id_limit``: a tile of rows at a time, while they
    are in cache), instead of by `check_class_ids` first: integers of any layout (each block's
    become int64 for the kernel, where an id beyond int64 wraps to a negative one, also
    outside). No pass over the ids of its own: 1,048,576 rows of two float32 classes on an
    Intel Xeon took 2.24 ms at one thread with a pass over all of them first, 2.21 with a pass
    per block just before the kernel, 2.04 with the kernel's check (two threads: 1.51, 1.40,
    1.27 ms)."""
    return y.dtype.kind in "iu"


def block_id_check(y: np.ndarray, n_classes: int) -> None:
    """Raise `ClassIdsOutOfRange` where a block's int64 class ids (ignored rows' set to 0) are
    not all in [0, ``n_classes``)."""
    if not _ids_within(_core.id_range(y), y, n_classes, None):
        raise ClassIdsOutOfRange


def _id_skip(ignore_index: int | None) -> int | None:
    """The id `_core.id_range` leaves out: ``ignore_index``, or None beyond int64's range
    (no int64 id equals it)."""
    in_range = ignore_index is not None and -(2**63) <= ignore_index < 2**63
    return ignore_index if in_range else None


def _ids_within(
    found: tuple[int, int, int] | None, y: np.ndarray, n_classes: int, ignore_index: int | None
) -> bool:
    """Whether the integer ids ``y`` but those equal to ``ignore_index`` are all in
    [0, ``n_classes``): from ``found`` (`_core.id_range`'s least, greatest and count), or where
    it is None from ``y`` itself."""
    if found is None:
        valid = y if ignore_index is None else y[y != ignore_index]
        return valid.size == 0 or bool(valid.min() >= 0 and valid.max() < n_classes)
    lo, hi, count = found
    return count == 0 or (lo >= 0 and hi < n_classes)


def _id_range(flat: np.ndarray, skip: int | None) -> tuple[int, int, int] | None:
    """`_core.id_range` of 1-D ids (least, greatest and count of those not equal to ``skip``;
    None where the kernel does not take the array), piece by piece on the engine's threads."""
    n = flat.shape[0]
    if n <= ID_PIECE:
        found: tuple[int, int, int] | None = _core.id_range(flat, skip)
        return found
    starts = list(range(0, n, ID_PIECE))
    parts: list[tuple[int, int, int] | None] = [None] * len(starts)

    def work(chunk: Sequence[int]) -> None:
        for i0 in chunk:
            parts[i0 // ID_PIECE] = _core.id_range(flat[i0 : i0 + ID_PIECE], skip)

    run_chunks(starts, work)
    if any(p is None for p in parts):
        return None
    counted = [p for p in parts if p is not None and p[2] > 0]
    if not counted:
        return 0, 0, 0
    return (
        min(p[0] for p in counted),
        max(p[1] for p in counted),
        sum(p[2] for p in counted),
    )


def _equal_exactly(y: np.ndarray, value: int) -> np.ndarray:
    """Where the integral floats ``y`` equal the integer ``value`` exactly."""
    try:
        as_float = float(value)
    except OverflowError:  # beyond every float
        return np.zeros(y.shape, dtype=bool)
    if as_float != value:  # no float is this integer (NumPy would compare it rounded)
        return np.zeros(y.shape, dtype=bool)
    # A float64 scalar, not a Python float: NumPy would round a Python float to y's dtype.
    return np.asarray(y == np.float64(as_float))


def check_ignore_index(ignore_index: object) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index must be an integer or None; got {ignore_index!r}.")
    return int(ignore_index)
