"""Fused linear cross-entropy: the sparse loss of ``hidden @ weight.T + bias`` without its logits.

A language model's output layer makes ``N x V`` logits (4 GiB in float32 for 8,192 tokens and a
131,072-word vocabulary) and, for training, their gradient as large again. Here the rows are cut
into chunks whose ``R x V`` logits fit a memory budget; per chunk,

    Z = H_c @ W.T + b                      one matrix product (BLAS)
    l_c, G = sparse CE kernel (Z, y_c)     the very `SoftmaxCall` of the sparse loss, mode SPARSE
    dH_c = G @ W,  dW += G.T @ H_c,  db += sum_rows(G)

so the loss costs one product and the gradients three, as when the logits are materialized,
while memory holds one chunk of logits (their gradient is written over them, where the kernel
allows it: more than 16 classes). The chunks are whole runs of
the sparse loss's blocks, so its per-block partial sums, and hence every reduction, are those the
sparse loss gives on the same logits, bit for bit; only the products' rounding differs.

``dW`` is accumulated in place by a GEMM with ``beta = 1`` (SciPy's BLAS wrapper, which then
does the other products too; see `_Products`): NumPy has no accumulating product, and a
temporary ``V x D`` product per chunk would cost the memory saved.

Without gradients, when the logits of all rows exceed the budget, the vocabulary is chunked
instead (`_run_vocab_chunks`): per group of rows (all of them, up to what a chunk of
`MIN_VOCAB_CHUNK` classes allows) and chunk of classes, ``Z = H_g @ W_v.T + b_v``, and the
kernel's softmax state of each row over the chunk (mode STATE: maximum, compensated sum, tie
count, smoothing sum) is merged into the row's state so far; the loss comes from the merged
states. Cutting by rows, each chunk's product reads (packs) the whole weight again, 512 MiB at
V = 131,072, D = 1,024 float32; cutting by classes, each product reads its slice of the weight
once and the hidden states of the group again (32 MiB for 8,192 rows), and products of all rows
run at the speed of the whole one. With gradients the rows are chunked: the gradient of a row
needs its whole softmax, which the vocabulary chunks would compute twice (four products). Merging
rescales a state's sum by exp(m1 - m2) with the shift's rounding error carried, so the loss is
within a few ulp of double of the one pass's (not bit for bit); confident rows keep their tiny
losses.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple, overload

import numpy as np
import numpy.typing as npt
from numpy_typing_compat import LiteralFalse, LiteralTrue

from . import _validation as v
from ._categorical import _call, _sparse_total, _z_loss
from ._engine import Block, Layout, get_num_threads
from ._kernels import _core
from ._reduction import Reduction, for_mean, reduce
from ._softmax import SPARSE, STATE, RowSource, SoftmaxCall

Loss = np.ndarray | np.floating

#: Default memory budget, in bytes, of the chunk buffers: one chunk of logits, over which the
#: kernel writes their gradient (with 16 classes or fewer, a chunk of logits and one of their
#: gradient, half the budget each). 192 MiB is 384 rows (192
#: with gradients) of a 131,072-word vocabulary in float32: enough rows for the products to run
#: near BLAS speed, and under 5 % of the logits of 8,192 such rows.
CHUNK_BYTES = 192 << 20


#: Products of fewer multiply-adds than this run on one BLAS thread: handing a product this small
#: to other threads costs more than it saves (milliseconds when the cores are busy).
SMALL_PRODUCT = 1 << 24

#: The kernel writes a sparse gradient over the logits for rows of more classes than this.
_IN_PLACE_CLASSES = 16

#: Vocabulary chunks (forward only) are at least this many classes wide: products of thinner
#: slices of the weight, and row passes over shorter rows, lose speed.
MIN_VOCAB_CHUNK = 4096


class LinearGrads(NamedTuple):
    """Gradients of `linear_cross_entropy`, each in its input's shape."""

    hidden: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None


_blas_lock = threading.Lock()
_blas: dict[str, Any] = {}


def _controller() -> Any:
    """threadpoolctl's view of the BLAS libraries, made once SciPy's BLAS (if installed) is
    loaded too."""
    with _blas_lock:
        if "controller" not in _blas:
            with contextlib.suppress(ImportError):
                import scipy.linalg.blas  # noqa: F401  (loads SciPy's BLAS before the scan)
            from threadpoolctl import ThreadpoolController

            _blas["controller"] = ThreadpoolController()
        return _blas["controller"]


@contextlib.contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    """BLAS on ``n`` threads inside the block: xent's thread count, so that the products and the
    kernel take turns on the same cores instead of BLAS spreading over more than xent was given.
    """
    with _controller().limit(limits=n, user_api="blas"):
        yield


class _Products:
    """The three products of a chunk.

    SciPy's wrapper of BLAS ``?gemm`` where SciPy is installed: it accumulates ``dW += G.T @ H``
    in place (``beta = 1``), which NumPy cannot, and makes the logits and ``dH = G @ W`` as
    well, so that one BLAS library runs every product. Two libraries (NumPy's OpenBLAS for
    ``dH``, as once here) take turns badly: OpenBLAS's idle threads spin for a while after each
    product (2**28 cycles unless ``OPENBLAS_THREAD_TIMEOUT`` says otherwise), on the cores the
    other library's product then needs. At 8,192 x 1,024 x 131,072 float32 on two threads of an
    AMD EPYC, the step with gradients took 46.1 s with one library and 49.3 s with two (medians
    of two interleaved runs; the three bare products 40.4 s), although NumPy's OpenBLAS ran
    ``dH`` alone 5 % faster; with ``OPENBLAS_THREAD_TIMEOUT=4`` the two forms took the same
    time. Without SciPy, NumPy's products, ``dW`` accumulated in slices as tall as the chunk
    through a temporary of ``rows x D``. Arrays are C-contiguous; SciPy's Fortran routines see
    their transposes, so nothing is copied.
    """

    def __init__(self, dtype: np.dtype[np.floating], w: np.ndarray, b: np.ndarray | None) -> None:
        self.w = _as(w, dtype)  # the layer's weight and bias in the working dtype
        self.b = None if b is None else _as(b, dtype)
        try:
            from scipy.linalg.blas import get_blas_funcs
        except ImportError:
            self.gemm = None
        else:
            self.gemm = get_blas_funcs("gemm", dtype=dtype)

    def _into(self, out: np.ndarray, result: np.ndarray) -> None:
        if not np.shares_memory(out, result):  # the wrapper wrote a copy: keep its values
            out[...] = result

    def logits(self, hc: np.ndarray, zc: np.ndarray, v0: int = 0) -> None:
        """``zc = hc @ w[v0:v1].T + b[v0:v1]`` for the classes ``v0:v1`` of ``zc``'s columns."""
        w = self.w[v0 : v0 + zc.shape[1]]
        if self.gemm is None:
            np.matmul(hc, w.T, out=zc)
        else:  # Z.T (V, R) = W (V, D) @ H.T (D, R)
            self._into(zc.T, self.gemm(1.0, w.T, hc.T, c=zc.T, trans_a=1, overwrite_c=1))
        if self.b is not None:
            zc += self.b[v0 : v0 + zc.shape[1]]

    def hidden_grad(self, gc: np.ndarray, out: np.ndarray) -> None:
        """``out = gc @ w``."""
        if self.gemm is None:
            np.matmul(gc, self.w, out=out)
        else:  # out.T (D, R) = W.T (D, V) @ G.T (V, R)
            self._into(out.T, self.gemm(1.0, self.w.T, gc.T, c=out.T, overwrite_c=1))

    def accumulate_weight_grad(self, dw: np.ndarray, gc: np.ndarray, hc: np.ndarray) -> None:
        """``dw += gc.T @ hc`` in place."""
        if self.gemm is None:
            rows = max(gc.shape[0], 1)
            tmp = np.empty((rows, dw.shape[1]), dw.dtype)
            for v0 in range(0, dw.shape[0], rows):
                v1 = min(v0 + rows, dw.shape[0])
                np.matmul(gc[:, v0:v1].T, hc, out=tmp[: v1 - v0])
                dw[v0:v1] += tmp[: v1 - v0]
            return
        # dW.T (D, V) += H_c.T (D, R) @ G (R, V)
        result = self.gemm(1.0, hc.T, gc.T, beta=1.0, c=dw.T, trans_b=1, overwrite_c=1)
        self._into(dw.T, result)


def _check_chunk_bytes(chunk_bytes: object) -> int:
    if chunk_bytes is None:
        return CHUNK_BYTES
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, (int, np.integer)):
        raise TypeError(f"chunk_bytes must be a positive integer or None; got {chunk_bytes!r}.")
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be a positive integer or None; got {chunk_bytes!r}.")
    return int(chunk_bytes)


def _check_shapes(h: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[int, int]:
    """``hidden`` (..., D), ``weight`` (V, D), ``bias`` (V,): returns (V, D)."""
    if w.ndim != 2:
        raise ValueError(f"weight must have shape (V, D); got {w.ndim} dimensions {w.shape}.")
    V, D = w.shape
    if h.ndim == 0 or h.shape[-1] != D:
        raise ValueError(
            f"hidden has shape {h.shape} but weight of shape {w.shape} needs (..., D) with D = {D}."
        )
    if V == 0:
        raise ValueError(f"weight has no classes: its shape {w.shape} has V = 0.")
    if b is not None and b.shape != (V,):
        raise ValueError(f"bias must have shape (V,) = ({V},); got {b.shape}.")
    return V, D


def _chunk_rows(n_rows: int, layout: Layout, itemsize: int, budget: int) -> int:
    """Rows per chunk: as many of the kernel's blocks as fit ``budget`` bytes, at least one."""
    block = layout.block_rows(itemsize)
    rows = budget // (layout.C * itemsize) // block * block
    return max(1, min(max(rows, block), n_rows))


def _as(a: np.ndarray, dtype: np.dtype[np.floating]) -> np.ndarray:
    """``a`` in ``dtype``, C-contiguous (the caller's array when it already is)."""
    return np.ascontiguousarray(a, dtype=dtype)


@overload
def linear_cross_entropy(
    y_true: npt.ArrayLike,
    hidden: npt.ArrayLike,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = ...,
    *,
    ignore_index: int | None = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralFalse = ...,
    chunk_bytes: int | None = ...,
) -> Loss: ...
@overload
def linear_cross_entropy(
    y_true: npt.ArrayLike,
    hidden: npt.ArrayLike,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = ...,
    *,
    ignore_index: int | None = ...,
    class_weight: npt.ArrayLike | None = ...,
    sample_weight: npt.ArrayLike | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    reduction: Reduction = ...,
    return_grad: LiteralTrue,
    chunk_bytes: int | None = ...,
) -> tuple[Loss, LinearGrads]: ...
def linear_cross_entropy(
    y_true: npt.ArrayLike,
    hidden: npt.ArrayLike,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    *,
    ignore_index: int | None = None,
    class_weight: npt.ArrayLike | None = None,
    sample_weight: npt.ArrayLike | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    reduction: Reduction = "mean",
    return_grad: bool | np.bool = False,
    chunk_bytes: int | None = None,
) -> Loss | tuple[Loss, LinearGrads]:
    r"""Sparse cross-entropy of a linear layer's output, without building its logits.

    .. math:: z_i = W h_i + b, \qquad
              l_i = -(1-\varepsilon)\, c_{y_i} \log \mathrm{softmax}(z_i)_{y_i}
                    - \frac{\varepsilon}{V} \sum_k c_k \log \mathrm{softmax}(z_i)_k

    The result is `sparse_categorical_cross_entropy` of ``hidden @ weight.T + bias`` with
    ``from_logits=True`` and the same options, up to the rounding of the matrix product; the
    ``N x V`` logits are made and used one chunk of rows at a time.

    Parameters
    ----------
    y_true : array_like of int, shape (...)
        Class ids in ``[0, V)``, one per row of ``hidden``; entries equal to ``ignore_index``
        are skipped.
    hidden : array_like, shape (..., D)
        The layer's input (a model's last hidden states).
    weight : array_like, shape (V, D)
        The layer's weight, laid out as in PyTorch's ``Linear``.
    bias : array_like, shape (V,), optional
        The layer's bias.
    ignore_index : int, optional
        Rows whose id equals it have loss 0, gradient 0 and weight 0.
    class_weight : array_like, shape (V,), optional
        Non-negative weight per class.
    sample_weight : array_like, optional
        Non-negative weight per row, broadcasting to ``y_true``'s shape.
    label_smoothing : float, default 0.0
        ``epsilon`` in [0, 1] (PyTorch's rule, above).
    z_loss : float, default 0.0
        ``z >= 0``: each row adds ``z * logsumexp(z_i)**2`` (PaLM's z-loss; Liger's
        ``lse_square_scale``), as in `sparse_categorical_cross_entropy`.
    reduction : {"mean", "sum", "none"}, default "mean"
        As for `sparse_categorical_cross_entropy`: the mean divides by ``sum_i s_i c_{y_i}``
        over rows not ignored (0.0 when that is 0).
    return_grad : bool, default False
        Also return the gradients with respect to ``hidden``, ``weight`` and ``bias``.
    chunk_bytes : int, optional
        Memory budget of the chunk buffers (default `CHUNK_BYTES`, 192 MiB): one chunk of
        logits, with ``return_grad`` overwritten by their gradient (with 16 classes or fewer,
        one of logits and one of their gradient, half each).
        Results do not depend on it beyond the rounding of the products.

    Returns
    -------
    loss : numpy.ndarray or numpy.floating
        ``y_true``'s shape for "none", else a NumPy scalar; the inputs' float dtype.
    grads : LinearGrads
        With ``return_grad``: ``(hidden, weight, bias)``, the gradients of the loss (of its sum
        for "none"), each in its input's shape and float dtype; ``bias`` is None without one.

    Raises
    ------
    ValueError
        On shapes that do not match (naming D and V), and everything
        `sparse_categorical_cross_entropy` rejects, with its messages.
    TypeError
        On non-numeric or complex input.

    See Also
    --------
    sparse_categorical_cross_entropy : the same loss from materialized logits.

    Notes
    -----
    The products run on SciPy's ``gemm`` where SciPy is installed (``dW`` accumulated in
    place), else on NumPy's (``dW`` through products into slices of it), limited with
    threadpoolctl to `get_num_threads` threads for the call (one for products of fewer than
    `SMALL_PRODUCT` multiply-adds a chunk); the kernel between them runs on as many of xent's.
    float16 inputs are computed in float32 chunks (the weight is converted once); integer
    inputs in float64.

    Memory beyond the inputs and outputs: ``chunk_bytes``, plus per-row values and, for
    float16 or mixed inputs, the weight converted to the working dtype. A chunk holds at
    least one of the kernel's blocks (8 rows when ``V`` is large, fewer only when there are
    fewer rows): with a vocabulary so large that 8 rows exceed the budget, the floor is
    ``min(N, 8) * V`` values per buffer. Without gradients, logits larger than the budget
    are made by chunks of the vocabulary (at least `MIN_VOCAB_CHUNK` classes) for groups of
    rows instead: each product then reads its slice of ``weight`` once, where chunks of rows
    read all of it per chunk; the loss is then within a few ulp (of float64) of the one made
    by rows.

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> rng = np.random.default_rng(0)
    >>> h, W = rng.standard_normal((6, 4)), rng.standard_normal((50, 4))
    >>> y = np.array([3, 1, 49, 0, 7, 7])
    >>> loss = xent.linear_cross_entropy(y, h, W)
    >>> ref = xent.sparse_categorical_cross_entropy(y, h @ W.T, from_logits=True)
    >>> print(f"{loss:.12f} {ref:.12f}")
    4.603223241486 4.603223241486
    >>> loss, grads = xent.linear_cross_entropy(y, h, W, return_grad=True)
    >>> grads.hidden.shape, grads.weight.shape, grads.bias
    ((6, 4), (50, 4), None)

    A confident row keeps its tiny loss, which ``logsumexp(z) - z[y]`` rounds to 0:

    >>> z_big = xent.linear_cross_entropy([0], [[40.0]], [[1.0], [0.0]], reduction="sum")
    >>> print(f"{z_big:.6e}")
    4.248354e-18
    """
    return_grad = v.check_flag(return_grad, "return_grad")
    red = v.check_reduction(reduction)
    eps = v.check_label_smoothing(label_smoothing)
    budget = _check_chunk_bytes(chunk_bytes)
    h = v.as_real_array(hidden, "hidden")
    w = v.as_real_array(weight, "weight")
    b = None if bias is None else v.as_real_array(bias, "bias")
    V, D = _check_shapes(h, w, b)
    batch = h.shape[:-1]
    labels = v.as_real_array(y_true, "y_true")
    if labels.shape != batch:
        raise ValueError(
            f"y_true has shape {labels.shape} but hidden of shape {h.shape} needs {batch}."
        )
    labels, ignore = v.check_class_ids(
        labels, V, -1, v.check_ignore_index(ignore_index), f"weight's V = {V} classes"
    )
    cw_given = v.check_class_weight(class_weight, V)
    cw, z = for_mean(cw_given, red), _z_loss(z_loss, True, cw_given, red)
    s = for_mean(v.check_weight(sample_weight, "sample_weight", batch, "the batch shape"), red)

    parts = [h, w] if b is None else [h, w, b]
    result, work = v.float_dtypes(np.empty(0, np.result_type(*parts)))
    N = math.prod(batch)
    layout = Layout((N, V), 1)
    ids = RowSource(layout, labels.reshape(N), np.int64, ignore)
    weights = None if s is None else RowSource(layout, np.broadcast_to(s, batch).reshape(N), float)
    total = _sparse_total(layout, ids, weights, cw) if red == "mean" else 0.0
    call = _call(SPARSE, layout, work, True, cw, eps, red, total, return_grad, z, 0.0)

    rows_out = np.empty(N, result) if red == "none" else None
    plan = None if return_grad else _vocab_plan(N, layout, work.itemsize, budget)
    if plan is not None:
        group, chunks = plan
        with _blas_threads(get_num_threads() if group * D * V >= chunks * SMALL_PRODUCT else 1):
            partial = _run_vocab_chunks(
                call, h.reshape(N, D), w, b, ids, weights, rows_out, group, chunks
            )
        out = None if rows_out is None else rows_out.reshape(batch)
        return reduce(out, partial, total, red, result)
    # the kernel writes the gradient of rows of more than 16 classes over their logits
    in_place = V > _IN_PLACE_CLASSES
    two_buffers = return_grad and not in_place
    rows = _chunk_rows(N, layout, work.itemsize, budget // 2 if two_buffers else budget)
    with _blas_threads(get_num_threads() if rows * D * V >= SMALL_PRODUCT else 1):
        partial, grads = _run_chunks(
            call, h.reshape(N, D), w, b, ids, weights, rows_out, rows, return_grad, in_place
        )
    loss = reduce(
        None if rows_out is None else rows_out.reshape(batch), partial, total, red, result
    )
    if grads is None:
        return loss
    dh, dw, db = grads
    return loss, LinearGrads(
        dh.reshape(h.shape).astype(_grad_dtype(h, result), copy=False),
        dw.astype(_grad_dtype(w, result), copy=False),
        None if db is None or b is None else db.astype(_grad_dtype(b, result)),
    )


def _vocab_plan(n_rows: int, layout: Layout, itemsize: int, budget: int) -> tuple[int, int] | None:
    """Rows per group and the number of vocabulary chunks (of equal widths but for one class)
    for the forward pass by chunks of classes, or None where chunks of rows do as well: all
    the logits fit the budget (one chunk), or chunks of about `MIN_VOCAB_CHUNK` classes would
    not make two chunks."""
    V = layout.C
    if n_rows * V * itemsize <= budget or V < 2 * MIN_VOCAB_CHUNK:
        return None
    group = _chunk_rows(n_rows, layout, itemsize, budget * V // MIN_VOCAB_CHUNK)
    return group, -(-V // max(budget // (group * itemsize), MIN_VOCAB_CHUNK))


def _run_vocab_chunks(
    call: SoftmaxCall,
    h2: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    ids: RowSource,
    weights: RowSource | None,
    rows_out: np.ndarray | None,
    group: int,
    chunks: int,
) -> list[tuple[float, float]]:
    """The loss's per-block partial sums (per-row values into ``rows_out``), groups of
    ``group`` rows (whole runs of the loss's blocks) by ``chunks`` chunks of classes."""
    work: np.dtype[np.floating] = call.dtype
    N = h2.shape[0]
    V = w.shape[0]
    cw = np.ones(V) if call.cw is None else call.cw
    cw_sum = float(np.sum(cw))
    smooth = call.eps > 0
    products = _Products(work, w, b)
    edges = [V * j // chunks for j in range(chunks + 1)]
    buf = np.empty(group * -(-V // chunks), work)
    states = np.empty((group, _core.STATE_LEN))
    chunk_states = np.empty((group, _core.STATE_LEN))
    partial: list[tuple[float, float]] = []
    for r0 in range(0, N, group):
        r1 = min(r0 + group, N)
        n = r1 - r0
        hc = _as(h2[r0:r1], work)
        sub = Layout((n, V), 1)
        labels = _rows(ids, sub, r0, r1)
        row_weights = None if weights is None else _rows(weights, sub, r0, r1)
        y = labels.ids(Block(0, 0, n, 0, 1), None)[0]  # ignored rows: class 0
        acc, part = states[:n], chunk_states[:n]
        acc[:, 4] = 0.0
        w_acc = 0.0
        for v0, v1 in itertools.pairwise(edges):
            zc = buf[: n * (v1 - v0)].reshape(n, v1 - v0)
            products.logits(hc, zc, v0)
            chunk = call._replace(
                mode=STATE, layout=Layout((n, v1 - v0), 1), cw=cw[v0:v1], cw_others=None
            )
            chunk.run(zc, state=acc if v0 == 0 else part)
            here = np.flatnonzero((y >= v0) & (y < v1))
            acc[here, 4] = zc[here, y[here] - v0]
            w_chunk = float(np.sum(cw[v0:v1])) if smooth else 0.0
            if v0 > 0:
                _core.state_merge(acc, part, w_acc, w_chunk, smooth)
            w_acc += w_chunk
        for blk in sub.blocks(work.itemsize):
            yb, sw = labels.ids(blk, row_weights)
            rows = None if rows_out is None else rows_out[r0 + blk.a0 : r0 + blk.a1]
            # per-row values are float64 in the kernel: a block buffer for other dtypes
            rb = rows if rows is None or rows.dtype == np.float64 else np.empty(rows.shape)
            args = (yb, sw, cw, cw_sum, call.eps, call.grad_div, call.z_loss, rb)
            partial.append(_core.state_finish(acc[blk.a0 : blk.a1], V, *args))
            if rows is not None and rb is not rows:
                with np.errstate(over="ignore"):  # beyond the dtype's range: inf
                    rows[...] = rb
    return partial


def _grad_dtype(a: np.ndarray, result: np.dtype[np.floating]) -> np.dtype[np.floating]:
    return a.dtype.newbyteorder("=") if a.dtype.kind == "f" else result


def _run_chunks(
    call: SoftmaxCall,
    h2: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    ids: RowSource,
    weights: RowSource | None,
    rows_out: np.ndarray | None,
    rows: int,
    return_grad: bool,
    in_place: bool,
) -> tuple[list[tuple[float, float]], tuple[np.ndarray, np.ndarray, np.ndarray | None] | None]:
    """The loss's per-block partial sums (per-row values into ``rows_out``), chunks of ``rows``
    rows, and, with ``return_grad``, ``(dH, dW, db)`` in the working dtype (``db`` in float64);
    ``in_place``: the gradient of a chunk is written over its logits."""
    work: np.dtype[np.floating] = call.dtype
    N, D = h2.shape
    V = w.shape[0]
    products = _Products(work, w, b)
    z = np.empty((rows, V), work)
    partial: list[tuple[float, float]] = []
    g = None if not return_grad else z if in_place else np.empty((rows, V), work)
    dh = np.empty((N, D), work) if return_grad else None
    dw = np.zeros((V, D), work) if return_grad else None
    db = np.zeros(V) if return_grad and b is not None else None
    for r0 in range(0, N, rows):
        r1 = min(r0 + rows, N)
        hc = _as(h2[r0:r1], work)
        zc = z[: r1 - r0]
        products.logits(hc, zc)
        sub = Layout((r1 - r0, V), 1)
        gc = None if g is None else g[: r1 - r0]
        partial += call._replace(layout=sub).run(
            zc,
            out=gc,
            labels=_rows(ids, sub, r0, r1),
            weights=None if weights is None else _rows(weights, sub, r0, r1),
            rows_out=None if rows_out is None else rows_out[r0:r1],
        )
        if gc is not None and dh is not None and dw is not None:
            products.hidden_grad(gc, dh[r0:r1])
            products.accumulate_weight_grad(dw, gc, hc)
            if db is not None:
                db += np.add.reduce(gc, axis=0, dtype=np.float64)
    grads = None if dh is None or dw is None else (dh, dw, db)
    return partial, grads


def _rows(source: RowSource, sub: Layout, r0: int, r1: int) -> RowSource:
    """The rows ``r0:r1`` of a batch's per-row values, for a chunk's layout ``sub``."""
    return RowSource(sub, source.values[r0:r1], source.dtype, source.ignore)
