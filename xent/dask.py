"""xent on Dask arrays: the same functions, lazily, chunk by chunk.

Every function here takes Dask arrays (NumPy arrays and scalars alongside) and builds a graph in
which each chunk calls the in-memory xent function of the same name on its block, with
``reduction="none"`` or ``"sum"``. Per-row losses and the gradients of "none" and "sum" are
therefore those of the in-memory call, bit for bit.

Design:

- Rows are chunked; the class axis is whole in every chunk. An input chunked along it is
  rechunked there (``rechunk({axis: -1})``), which multiplies the chunk size by the number of
  chunks it had along that axis: choose the row chunks so that whole rows fit.
- One task per chunk computes everything the call asks for (loss, gradient, the chunk's share
  of the mean's denominator) in one pass; small getter tasks pick the parts out.
- "sum" and "mean": each chunk yields ``[sum of s_i l_i, total weight]`` in float64; these are
  added by Dask's tree reduction and divided at the end (0.0 when the total weight is 0). The
  denominators are those of the in-memory functions (the README's table), and weights given as
  NumPy arrays are scaled by the same power of two first. The mean's gradient is the chunk's
  gradient of "sum" divided by the graph's total weight, so it waits for that total.
- A bad value found at compute time (a class id out of range, a probability outside [0, 1], a
  row not summing to 1, a negative weight) raises the in-memory ``ValueError`` with the index
  rewritten from the chunk's to the whole array's: the first bad value of the chunk where the
  error is raised, which is the first overall when one chunk holds the bad values. Shapes and
  options are checked when the graph is built.
- Each chunk runs inside ``xent._engine.thread_limit(threads)``: one xent thread per Dask thread
  by default, so a worker's threads are not multiplied.

Importing ``xent`` never imports this module (nor Dask).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import dask.array as da
import numpy as np
import numpy.typing as npt
from numpy_typing_compat import LiteralFalse, LiteralTrue

from . import _validation as v
from . import binary_cross_entropy as _binary
from . import categorical_cross_entropy as _categorical
from . import kl_divergence as _kl
from . import log_sigmoid as _log_sigmoid
from . import log_softmax as _log_softmax
from . import logsumexp as _logsumexp
from . import softmax as _softmax
from . import softplus as _softplus
from . import sparse_categorical_cross_entropy as _sparse
from ._categorical import _focal_gamma, _z_loss
from ._engine import thread_limit

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "kl_divergence",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "softmax",
    "softplus",
    "sparse_categorical_cross_entropy",
]

Reduction = Literal["none", "sum", "mean"]
Input = da.Array | npt.ArrayLike
Chunks = tuple[tuple[int, ...], ...]

#: dask.array's functions carry no annotations: they are called through this ``Any``.
_da: Any = da

_LOSSES: dict[str, Callable[..., Any]] = {
    "sparse": _sparse,
    "categorical": _categorical,
    "binary": _binary,
    "kl": _kl,
}
_INDEX = re.compile(r"(at index|row) \(([-\d, ]*)\)")


# --- graph-build-time helpers -------------------------------------------------------------


def _check_threads(threads: object) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive integer; got {threads!r}.")
    return int(threads)


def _real(value: Input, name: str) -> da.Array | np.ndarray:
    """``value`` as a Dask array or a NumPy array of bool, integer or float dtype."""
    if isinstance(value, da.Array):
        v.as_real_array(np.empty(0, value.dtype), name)
        return value
    return v.as_real_array(value, name)


def _chunked(value: da.Array | np.ndarray, chunks: Chunks) -> da.Array:
    """``value`` as a Dask array with exactly ``chunks``."""
    out: da.Array = (
        _da.Array.rechunk(value, chunks)
        if isinstance(value, da.Array)
        else _da.from_array(value, chunks=chunks)
    )
    return out


def _whole_axis(pred: da.Array | np.ndarray, axis: int | None) -> da.Array:
    """``pred`` as a Dask array whose ``axis`` (the class axis) is one chunk."""
    arr: da.Array = pred if isinstance(pred, da.Array) else _da.asarray(pred)
    if axis is not None and arr.numblocks[axis] > 1:
        arr = _da.Array.rechunk(arr, {axis: -1})
    return arr


def _starts(chunks: Chunks) -> tuple[tuple[int, ...], ...]:
    """The first index of every chunk along every axis."""
    return tuple(tuple(int(s) for s in np.cumsum((0, *c[:-1]))) for c in chunks)


def _pow2_scaled(w: np.ndarray | None, reduction: str) -> np.ndarray | None:
    """Weights of a "mean" times a power of two that brings the largest into [0.5, 1).

    The mean divides by the total weight, so the factor cancels exactly; as in memory it keeps
    tiny or huge weights from losing digits or overflowing in the sums.
    """
    if reduction != "mean" or w is None or w.size == 0:
        return w
    top = float(np.max(w))
    if top == 0.0:
        return w
    scaled: np.ndarray = np.ldexp(w, -np.frexp(top)[1])
    return scaled


def _like(arr: da.Array | np.ndarray) -> np.ndarray:
    """A NumPy stand-in with ``arr``'s shape and dtype, allocating one element (for checks)."""
    return np.broadcast_to(np.zeros((), arr.dtype), arr.shape)


def _numpy(value: npt.ArrayLike | da.Array | None) -> np.ndarray | None:
    """A small per-class or per-column option as a NumPy array (a Dask one is computed)."""
    return None if value is None else np.asarray(value)


def _sample_weight(
    value: Input | None, shape: tuple[int, ...], chunks: Chunks, rule: str, reduction: str
) -> da.Array | None:
    """A sample weight checked (its shape now, a NumPy weight's values too) and broadcast to
    ``shape`` with ``chunks``, without ever materializing the broadcast."""
    if value is None:
        return None
    w = _real(value, "sample_weight")
    if isinstance(w, da.Array):
        # Only the shape is checked here; the values are checked by each chunk's call.
        v.check_weight(_like(w), "sample_weight", shape, rule)
    else:
        checked = _pow2_scaled(v.check_weight(w, "sample_weight", shape, rule), reduction)
        assert checked is not None
        w = checked
    w = w.reshape((1,) * (len(shape) - w.ndim) + w.shape)
    own = tuple((1,) if n == 1 else c for n, c in zip(w.shape, chunks, strict=True))
    out: da.Array = _da.broadcast_to(_chunked(w, own), shape, chunks=chunks)
    return out


def _result_dtype(pred: da.Array) -> np.dtype[Any]:
    return v.float_dtypes(np.empty(0, pred.dtype))[0]


# --- what runs in a chunk -----------------------------------------------------------------


def _global_error(err: ValueError, offsets: Sequence[Sequence[int]]) -> ValueError:
    """``err`` with every index ``(i, j, ...)`` in its message shifted by the chunk's offsets.

    ``offsets`` holds one offset tuple per shape an index may refer to (y_pred's, the batch's),
    told apart by their lengths.
    """

    def shift(m: re.Match[str]) -> str:
        local = [int(t) for t in m.group(2).split(",") if t.strip()]
        base = next((o for o in offsets if len(o) == len(local)), None)
        if base is None:
            return m.group(0)
        return f"{m.group(1)} {tuple(i + o for i, o in zip(local, base, strict=True))!r}"

    return ValueError(_INDEX.sub(shift, str(err)))


def _call(
    fn: Callable[..., Any], threads: int, offsets: Sequence[Sequence[int]], *args: Any, **kw: Any
) -> Any:
    """``fn(*args, **kw)`` on at most ``threads`` xent threads, errors naming global indices."""
    try:
        with thread_limit(threads):
            return fn(*args, **kw)
    except ValueError as err:
        raise _global_error(err, offsets) from None


def _block_offsets(starts: tuple[tuple[int, ...], ...], block_id: tuple[int, ...]) -> list[int]:
    return [starts[d][b] for d, b in enumerate(block_id)]


def _loss_block(
    pred: np.ndarray,
    y: np.ndarray,
    s: np.ndarray | None = None,
    *,
    kind: str,
    options: dict[str, Any],
    reduction: str,
    return_grad: bool,
    threads: int,
    cax: int | None,
    starts: tuple[tuple[int, ...], ...],
    block_id: tuple[int, ...] | None = None,
) -> dict[str, np.ndarray]:
    """One chunk of a loss: ``{"rows"|"parts": ..., "grad": ...}``.

    ``cax`` is the class axis (None for binary); ``y`` and ``s`` carry a size-1 axis there.
    ``parts`` is ``[sum of s_i l_i, total weight]`` in float64 with one axis per input axis
    plus one, for the tree reduction.
    """
    assert block_id is not None
    full = _block_offsets(starts, block_id)
    batch = full if cax is None else full[:cax] + full[cax + 1 :]
    if cax is not None and kind == "sparse":
        y = np.squeeze(y, cax)
    if cax is not None and s is not None:
        s = np.squeeze(s, cax)
    opts = dict(options)
    if kind == "binary" and opts.get("pos_weight") is not None:
        pw = opts["pos_weight"]  # the chunk's part, along every axis where it is not 1
        opts["pos_weight"] = pw[
            tuple(
                slice(None) if size == 1 else slice(o, o + n)
                for size, o, n in zip(pw.shape, full, pred.shape, strict=True)
            )
        ]
    fn: Callable[..., Any] = _LOSSES[kind]
    out = _call(
        fn,
        threads,
        (full, batch),
        y,
        pred,
        sample_weight=s,
        reduction="none" if reduction == "none" else "sum",
        return_grad=return_grad,
        **opts,
    )
    loss, grad = out if return_grad else (out, None)
    result: dict[str, np.ndarray] = {}
    if grad is not None:
        result["grad"] = grad
    if reduction == "none":
        rows = np.asarray(loss)
        result["rows"] = rows if cax is None else np.expand_dims(rows, cax)
        return result
    weight = _chunk_weight(kind, y, s, pred, cax, options) if reduction == "mean" else 0.0
    result["parts"] = np.array([float(loss), weight]).reshape((1,) * pred.ndim + (2,))
    return result


def _chunk_weight(
    kind: str,
    y: np.ndarray,
    s: np.ndarray | None,
    pred: np.ndarray,
    cax: int | None,
    options: dict[str, Any],
) -> float:
    """The chunk's share of the mean's denominator, as in memory (README's table).

    Runs after the chunk's call has validated ``y`` and ``s``.
    """
    if kind == "binary":
        return float(pred.size) if s is None else float(np.sum(s, dtype=np.float64))
    assert cax is not None
    if kind == "kl":  # rows (PyTorch's "batchmean") or their total weight
        return float(pred.size // pred.shape[cax]) if s is None else float(np.sum(s))
    cw = options.get("class_weight")
    if kind == "sparse":
        ignore = options.get("ignore_index")
        keep = np.ones(y.shape, bool) if ignore is None else y != ignore
        w = keep.astype(np.float64)
        if cw is not None:
            w *= cw[np.where(keep, y, 0).astype(np.intp)]
    else:
        t = np.moveaxis(y, cax, -1).astype(np.float64)
        w = t.sum(axis=-1) if cw is None else t @ cw.astype(np.float64)
    if s is not None:
        w = w * s
    return float(np.sum(w))


def _divide(grad: np.ndarray, total: np.ndarray) -> np.ndarray:
    """The mean's gradient from the gradient of the sum: 0 where the total weight is 0."""
    t = float(total)
    if t > 0:
        return (grad.astype(np.float64) / t).astype(grad.dtype)
    return np.zeros_like(grad)


def _mean(num: np.ndarray, den: np.ndarray, out_dtype: np.dtype[Any]) -> np.ndarray:
    n, d = float(num), float(den)
    return np.asarray(n / d if d > 0 else 0.0, dtype=out_dtype)


def _cast(num: np.ndarray, out_dtype: np.dtype[Any]) -> np.ndarray:
    return np.asarray(num, dtype=out_dtype)


def _lazy_loss(
    kind: str,
    pred: da.Array,
    y: da.Array,
    s: da.Array | None,
    *,
    cax: int | None,
    options: dict[str, Any],
    reduction: str,
    return_grad: bool,
    threads: int,
) -> da.Array | tuple[da.Array, da.Array]:
    """The graph of one loss over chunks of ``pred``; ``y`` and ``s`` are chunked alike."""
    dtype = _result_dtype(pred)
    nd = pred.ndim
    args = [pred, y] if s is None else [pred, y, s]
    parts = _da.map_blocks(
        _loss_block,
        *args,
        kind=kind,
        options=options,
        reduction=reduction,
        return_grad=return_grad,
        threads=threads,
        cax=cax,
        starts=_starts(pred.chunks),
        token=f"xent-{kind}",
        meta=np.empty((0,) * nd, dtype=object),
    )
    idx = "".join(chr(ord("a") + d) for d in range(nd))
    loss: da.Array
    if reduction == "none":
        row_chunks = (
            pred.chunks
            if cax is None
            else tuple((1,) if d == cax else c for d, c in enumerate(pred.chunks))
        )
        loss = _da.map_blocks(operator.getitem, parts, "rows", chunks=row_chunks, dtype=dtype)
        if cax is not None:
            loss = _da.squeeze(loss, axis=cax)
        total = None
    else:
        sums = _da.map_blocks(
            operator.getitem,
            parts,
            "parts",
            new_axis=nd,
            chunks=(*((1,) * n for n in pred.numblocks), (2,)),
            dtype=np.float64,
        ).sum(axis=tuple(range(nd)), dtype=np.float64)
        num, total = sums[0], sums[1]
        if reduction == "mean":
            loss = _da.blockwise(_mean, "", num, "", total, "", dtype=dtype, out_dtype=dtype)
        else:
            loss = _da.blockwise(_cast, "", num, "", dtype=dtype, out_dtype=dtype)
    if not return_grad:
        return loss
    grad = _da.map_blocks(operator.getitem, parts, "grad", dtype=dtype)
    if reduction == "mean":
        assert total is not None
        grad = _da.blockwise(_divide, idx, grad, idx, total, "", dtype=dtype)
    return loss, grad


def _batch_chunks(pred: da.Array, cax: int) -> Chunks:
    chunks: Chunks = pred.chunks
    return chunks[:cax] + chunks[cax + 1 :]


def _class_input(
    y_pred: Input, axis: int, reduction: str, label_smoothing: float, threads: int
) -> tuple[da.Array, int, str, float, int]:
    """The checks the in-memory softmax losses make first, and ``y_pred`` with a whole class
    axis."""
    red = v.check_reduction(reduction)
    n = _check_threads(threads)
    pred = _real(y_pred, "y_pred")
    cax = v.check_axis(axis, pred.ndim)
    if pred.shape[cax] == 0:
        raise ValueError(f"y_pred has no classes: its axis {axis} has size 0.")
    eps = v.check_label_smoothing(label_smoothing)
    return _whole_axis(pred, cax), cax, red, eps, n


def _row_weights(
    sample_weight: Input | None, pred: da.Array, cax: int, reduction: str
) -> da.Array | None:
    """A softmax loss's sample weight over the batch (its rows chunked like ``pred``'s), with a
    unit class axis at ``cax``, or None."""
    batch_shape = pred.shape[:cax] + pred.shape[cax + 1 :]
    s = _sample_weight(
        sample_weight, batch_shape, _batch_chunks(pred, cax), "the batch shape", reduction
    )
    return None if s is None else _da.expand_dims(s, cax)


def _dense_target(y_true: Input, pred: da.Array) -> da.Array:
    """Targets of ``pred``'s shape (checked now), chunked like it."""
    target = _real(y_true, "y_true")
    v.check_same_shape(_like(target), _like(pred))
    return _chunked(target, pred.chunks)


@overload
def sparse_categorical_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = ...,
    axis: int = ...,
    ignore_index: int | None = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: Input | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    focal_gamma: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
    threads: int = ...,
) -> da.Array: ...
@overload
def sparse_categorical_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = ...,
    axis: int = ...,
    ignore_index: int | None = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: Input | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    focal_gamma: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
    threads: int = ...,
) -> tuple[da.Array, da.Array]: ...
def sparse_categorical_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = False,
    axis: int = -1,
    ignore_index: int | None = None,
    class_weight: npt.ArrayLike | None = None,
    sample_weight: Input | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    focal_gamma: float = 0.0,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
    threads: int = 1,
) -> da.Array | tuple[da.Array, da.Array]:
    """`xent.sparse_categorical_cross_entropy` over the chunks of Dask arrays, lazily.

    Parameters are those of `xent.sparse_categorical_cross_entropy`; ``y_true`` and
    ``sample_weight`` may be Dask or NumPy arrays (rechunked like ``y_pred``'s rows), and
    ``class_weight`` a NumPy array.

    Parameters
    ----------
    threads : int, default 1
        xent threads per chunk, inside each Dask thread.

    Returns
    -------
    loss : dask.array.Array
        0-d for "sum" and "mean"; ``y_true``'s shape chunked like ``y_pred``'s rows for "none".
    grad : dask.array.Array
        With ``return_grad``: ``y_pred``'s shape and chunks (the class axis in one chunk).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent, xent.dask
    >>> rng = np.random.default_rng(0)
    >>> logits, y = rng.normal(size=(1000, 5)), rng.integers(0, 5, 1000)
    >>> lazy = xent.dask.sparse_categorical_cross_entropy(
    ...     da.from_array(y, chunks=300), da.from_array(logits, chunks=(300, 5)), from_logits=True)
    >>> lazy.shape
    ()
    >>> in_memory = xent.sparse_categorical_cross_entropy(y, logits, from_logits=True)
    >>> bool(np.isclose(lazy.compute(), in_memory, rtol=1e-15))
    True
    """
    pred, cax, red, eps, n = _class_input(y_pred, axis, reduction, label_smoothing, threads)
    batch_shape = pred.shape[:cax] + pred.shape[cax + 1 :]
    labels = _real(y_true, "y_true")
    v.check_batch_shape(_like(labels), _like(pred), axis, batch_shape)
    ignore = v.check_ignore_index(ignore_index)
    v.check_class_ids(np.empty(0, labels.dtype), pred.shape[cax], axis, ignore)  # the dtype
    cw_given = v.check_class_weight(_numpy(class_weight), pred.shape[cax])
    cw = _pow2_scaled(cw_given, red)
    z = _z_loss(z_loss, from_logits, cw_given, red)
    gamma = _focal_gamma(focal_gamma, from_logits)
    options = {
        "from_logits": from_logits,
        "axis": axis,
        "ignore_index": ignore,
        "class_weight": cw,
        "label_smoothing": eps,
        "z_loss": z,
        "focal_gamma": gamma,
    }
    return _lazy_loss(
        "sparse",
        pred,
        _da.expand_dims(_chunked(labels, _batch_chunks(pred, cax)), cax),
        _row_weights(sample_weight, pred, cax, red),
        cax=cax,
        options=options,
        reduction=red,
        return_grad=bool(return_grad),
        threads=n,
    )


@overload
def categorical_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = ...,
    axis: int = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: Input | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    focal_gamma: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
    threads: int = ...,
) -> da.Array: ...
@overload
def categorical_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = ...,
    axis: int = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: Input | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    focal_gamma: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
    threads: int = ...,
) -> tuple[da.Array, da.Array]: ...
def categorical_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = False,
    axis: int = -1,
    class_weight: npt.ArrayLike | None = None,
    sample_weight: Input | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    focal_gamma: float = 0.0,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
    threads: int = 1,
) -> da.Array | tuple[da.Array, da.Array]:
    """`xent.categorical_cross_entropy` over the chunks of Dask arrays, lazily.

    Parameters are those of `xent.categorical_cross_entropy`; ``y_true`` (``y_pred``'s shape)
    and ``sample_weight`` may be Dask or NumPy arrays, rechunked like ``y_pred``.

    Parameters
    ----------
    threads : int, default 1
        xent threads per chunk, inside each Dask thread.

    Returns
    -------
    loss : dask.array.Array
        0-d for "sum" and "mean"; the batch shape chunked like ``y_pred``'s rows for "none".
    grad : dask.array.Array
        With ``return_grad``: ``y_pred``'s shape and chunks (the class axis in one chunk).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent.dask
    >>> y = da.from_array(np.eye(3)[[0, 2, 1, 1]], chunks=(2, 3))
    >>> logits = da.from_array(np.array([[2.0, 0.5, -1.0]] * 4), chunks=(2, 3))
    >>> loss = xent.dask.categorical_cross_entropy(y, logits, from_logits=True, reduction="none")
    >>> print(loss.compute().round(6), loss.chunks)
    [0.241311 3.241311 1.741311 1.741311] ((2, 2),)
    """
    pred, cax, red, eps, n = _class_input(y_pred, axis, reduction, label_smoothing, threads)
    target = _dense_target(y_true, pred)
    cw_given = v.check_class_weight(_numpy(class_weight), pred.shape[cax])
    cw = _pow2_scaled(cw_given, red)
    z = _z_loss(z_loss, from_logits, cw_given, red)
    gamma = _focal_gamma(focal_gamma, from_logits)
    options = {
        "from_logits": from_logits,
        "axis": axis,
        "class_weight": cw,
        "label_smoothing": eps,
        "z_loss": z,
        "focal_gamma": gamma,
    }
    return _lazy_loss(
        "categorical",
        pred,
        target,
        _row_weights(sample_weight, pred, cax, red),
        cax=cax,
        options=options,
        reduction=red,
        return_grad=bool(return_grad),
        threads=n,
    )


@overload
def kl_divergence(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = ...,
    target_from_logits: bool = ...,
    temperature: float = ...,
    axis: int = ...,
    sample_weight: Input | None = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
    threads: int = ...,
) -> da.Array: ...
@overload
def kl_divergence(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = ...,
    target_from_logits: bool = ...,
    temperature: float = ...,
    axis: int = ...,
    sample_weight: Input | None = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
    threads: int = ...,
) -> tuple[da.Array, da.Array]: ...
def kl_divergence(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = False,
    target_from_logits: bool = False,
    temperature: float = 1.0,
    axis: int = -1,
    sample_weight: Input | None = None,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
    threads: int = 1,
) -> da.Array | tuple[da.Array, da.Array]:
    """`xent.kl_divergence` over the chunks of Dask arrays, lazily.

    Parameters are those of `xent.kl_divergence`; ``y_true`` (``y_pred``'s shape) and
    ``sample_weight`` may be Dask or NumPy arrays, rechunked like ``y_pred``.

    Parameters
    ----------
    threads : int, default 1
        xent threads per chunk, inside each Dask thread.

    Returns
    -------
    loss : dask.array.Array
        0-d for "sum" and "mean"; the batch shape chunked like ``y_pred``'s rows for "none".
    grad : dask.array.Array
        With ``return_grad``: ``y_pred``'s shape and chunks (the class axis in one chunk).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent.dask
    >>> teacher = da.from_array(np.array([[2.0, 0.5, -1.0]] * 4), chunks=(2, 3))
    >>> student = da.from_array(np.array([[1.0, 1.0, -1.0]] * 4), chunks=(2, 3))
    >>> kl = xent.dask.kl_divergence(
    ...     teacher, student, from_logits=True, target_from_logits=True, temperature=2.0
    ... )
    >>> print(f"{float(kl.compute()):.6f}")
    0.237071
    """
    from_logits = v.check_flag(from_logits, "from_logits")
    target_from_logits = v.check_flag(target_from_logits, "target_from_logits")
    pred, cax, red, _, n = _class_input(y_pred, axis, reduction, 0.0, threads)
    target = _dense_target(y_true, pred)
    temp = v.check_temperature(temperature, from_logits, target_from_logits)
    options = {
        "from_logits": from_logits,
        "target_from_logits": target_from_logits,
        "temperature": temp,
        "axis": axis,
    }
    return _lazy_loss(
        "kl",
        pred,
        target,
        _row_weights(sample_weight, pred, cax, red),
        cax=cax,
        options=options,
        reduction=red,
        return_grad=bool(return_grad),
        threads=n,
    )


def _pos_weight(value: npt.ArrayLike | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The in-memory function's checks of ``pos_weight`` (it broadcasts to ``y_pred``'s
    shape), made when the graph is built; padded with leading axes to ``y_pred``'s ndim."""
    if value is None:
        return None
    pw = v.check_weight(np.asarray(value), "pos_weight", shape, "y_pred's shape")
    assert pw is not None
    return pw.reshape((1,) * (len(shape) - pw.ndim) + pw.shape)


@overload
def binary_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = ...,
    pos_weight: npt.ArrayLike | None = ...,
    sample_weight: Input | None = ...,
    label_smoothing: float = ...,
    focal_gamma: float = ...,
    focal_alpha: float | None = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
    threads: int = ...,
) -> da.Array: ...
@overload
def binary_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = ...,
    pos_weight: npt.ArrayLike | None = ...,
    sample_weight: Input | None = ...,
    label_smoothing: float = ...,
    focal_gamma: float = ...,
    focal_alpha: float | None = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
    threads: int = ...,
) -> tuple[da.Array, da.Array]: ...
def binary_cross_entropy(
    y_true: Input,
    y_pred: Input,
    *,
    from_logits: bool = False,
    pos_weight: npt.ArrayLike | None = None,
    sample_weight: Input | None = None,
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
    focal_alpha: float | None = None,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
    threads: int = 1,
) -> da.Array | tuple[da.Array, da.Array]:
    """`xent.binary_cross_entropy` over the chunks of Dask arrays, lazily.

    Parameters are those of `xent.binary_cross_entropy`; ``y_true`` and ``sample_weight`` may
    be Dask or NumPy arrays (rechunked like ``y_pred``), ``pos_weight`` a NumPy array. Any axis
    may be chunked.

    Parameters
    ----------
    threads : int, default 1
        xent threads per chunk, inside each Dask thread.

    Returns
    -------
    loss : dask.array.Array
        0-d for "sum" and "mean"; ``y_pred``'s shape and chunks for "none".
    grad : dask.array.Array
        With ``return_grad``: ``y_pred``'s shape and chunks.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent.dask
    >>> y = da.from_array(np.array([1.0, 0.0, 1.0, 1.0]), chunks=3)
    >>> x = da.from_array(np.array([3.0, -1.0, 50.0, 0.0]), chunks=3)
    >>> loss, grad = xent.dask.binary_cross_entropy(
    ...     y, x, from_logits=True, reduction="sum", return_grad=True)
    >>> print(f"{loss.compute():.6f}", grad.compute().round(6))
    1.054996 [-0.047426  0.268941 -0.       -0.5     ]
    """
    red = v.check_reduction(reduction)
    n = _check_threads(threads)
    pred = _whole_axis(_real(y_pred, "y_pred"), None)
    target = _real(y_true, "y_true")
    v.check_same_shape(_like(target), _like(pred))
    eps = v.check_label_smoothing(label_smoothing)
    pw = _pos_weight(pos_weight, pred.shape)
    s = _sample_weight(sample_weight, pred.shape, pred.chunks, "y_pred's shape", red)
    alpha = None if focal_alpha is None else v.check_fraction(focal_alpha, "focal_alpha")
    options = {
        "from_logits": from_logits,
        "pos_weight": pw,
        "label_smoothing": eps,
        "focal_gamma": v.check_coefficient(focal_gamma, "focal_gamma"),
        "focal_alpha": alpha,
    }
    return _lazy_loss(
        "binary",
        pred,
        _chunked(target, pred.chunks),
        s,
        cax=None,
        options=options,
        reduction=red,
        return_grad=bool(return_grad),
        threads=n,
    )


# --- primitives ---------------------------------------------------------------------------


def _primitive_block(
    x: np.ndarray, *, fn: Callable[..., Any], kwargs: dict[str, Any], threads: int
) -> np.ndarray:
    with thread_limit(threads):
        return np.asarray(fn(x, **kwargs))


def _primitive(
    fn: Callable[..., Any],
    a: Input,
    axis: int | None,
    threads: int,
    kwargs: dict[str, Any],
    chunks: Callable[[da.Array, int | None], Chunks] | None = None,
) -> da.Array:
    n = _check_threads(threads)
    arr = _real(a, "a")
    cax = None if axis is None else v.check_axis(axis, arr.ndim, "a")
    x = _whole_axis(arr, cax)
    out: da.Array = _da.map_blocks(
        _primitive_block,
        x,
        fn=fn,
        kwargs=kwargs,
        threads=n,
        chunks=x.chunks if chunks is None else chunks(x, cax),
        meta=np.empty((0,) * x.ndim, _result_dtype(x)),
        token=f"xent-{fn.__name__}",
    )
    return out


def _keep_one(x: da.Array, cax: int | None) -> Chunks:
    return tuple((1,) if d == cax else c for d, c in enumerate(x.chunks))


def logsumexp(a: Input, axis: int = -1, *, keepdims: bool = False, threads: int = 1) -> da.Array:
    """`xent.logsumexp` over the chunks of a Dask array (the reduced axis in one chunk).

    ``threads``: xent threads per chunk, inside each Dask thread (default 1).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent.dask
    >>> a = da.from_array(np.array([[1000.0, 0.0], [-40.0, 0.0], [0.0, 0.0]]), chunks=(2, 1))
    >>> print(xent.dask.logsumexp(a).compute())
    [1.00000000e+03 4.24835426e-18 6.93147181e-01]
    """
    out = _primitive(_logsumexp, a, axis, threads, {"axis": axis, "keepdims": True}, _keep_one)
    return out if keepdims else _da.squeeze(out, axis=v.check_axis(axis, out.ndim, "a"))


def log_softmax(a: Input, axis: int = -1, *, threads: int = 1) -> da.Array:
    """`xent.log_softmax` over the chunks of a Dask array (``axis`` in one chunk).

    ``threads``: xent threads per chunk, inside each Dask thread (default 1).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent.dask
    >>> a = da.from_array(np.array([[50.0, 0.0], [0.0, 0.0]]), chunks=1)
    >>> print(xent.dask.log_softmax(a).compute())
    [[-1.92874985e-22 -5.00000000e+01]
     [-6.93147181e-01 -6.93147181e-01]]
    """
    return _primitive(_log_softmax, a, axis, threads, {"axis": axis})


def softmax(a: Input, axis: int = -1, *, threads: int = 1) -> da.Array:
    """`xent.softmax` over the chunks of a Dask array (``axis`` in one chunk).

    ``threads``: xent threads per chunk, inside each Dask thread (default 1).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent.dask
    >>> a = da.from_array(np.array([[0.0, np.log(3.0)], [np.inf, 0.0]]), chunks=1)
    >>> print(xent.dask.softmax(a).compute())
    [[0.25 0.75]
     [1.   0.  ]]
    """
    return _primitive(_softmax, a, axis, threads, {"axis": axis})


def softplus(a: Input, *, threads: int = 1) -> da.Array:
    """`xent.softplus` over the chunks of a Dask array, any chunking.

    ``threads``: xent threads per chunk, inside each Dask thread (default 1).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent.dask
    >>> print(xent.dask.softplus(da.from_array(np.array([-800.0, 0.0, 800.0]), chunks=2)).compute())
    [0.00000000e+00 6.93147181e-01 8.00000000e+02]
    """
    return _primitive(_softplus, a, None, threads, {})


def log_sigmoid(a: Input, *, threads: int = 1) -> da.Array:
    """`xent.log_sigmoid` over the chunks of a Dask array, any chunking.

    ``threads``: xent threads per chunk, inside each Dask thread (default 1).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import xent.dask
    >>> print(xent.dask.log_sigmoid(da.from_array(np.array([-800.0, 40.0]), chunks=1)).compute())
    [-8.00000000e+02 -4.24835426e-18]
    """
    return _primitive(_log_sigmoid, a, None, threads, {})
