"""The driver of the softmax kernels: a frozen description of a call, run block by block.

Every softmax-based function of xent (logsumexp, log_softmax, softmax, and the sparse and
categorical losses from logits or probabilities) is one `SoftmaxCall` run over the blocks of
its input: each block goes to the compiled kernel (xent/_kernels) with the GIL released, which
returns the block's per-row values and partial sum and writes only the block's output. The
partial sums come back in block order, so results do not depend on the number of threads.
`run_blocks` is that block driver, shared with the KL divergence's kernel.

The kernel takes a block as an ``(R, C)`` array with unit stride along its classes
(row-major) or along its rows (class-major); views of the caller's arrays are passed as they
are, and only a block that is neither (another dtype, other strides, a group of short tails)
is copied, so memory stays bounded by a few blocks whatever the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from . import _engine
from ._engine import Block, Layout, run_chunks
from ._kernels import _core
from ._validation import block_id_check

#: Kernel modes.
LSE, SOFTMAX, LOG_SOFTMAX, SPARSE, CATEGORICAL, STATE = (
    _core.LSE,
    _core.SOFTMAX,
    _core.LOG_SOFTMAX,
    _core.SPARSE,
    _core.CATEGORICAL,
    _core.STATE,
)


def usable(a: np.ndarray, dtype: np.dtype[np.floating], class_major: bool) -> bool:
    """Whether the kernel can use ``a`` (R, C) in place: unit stride along the rows
    (class-major) or along the classes (row-major), as every array of the call has."""
    if a.dtype != dtype:
        return False
    flags = a.flags
    if not flags.aligned:
        return False
    if flags.c_contiguous and not class_major:  # the common case: a whole C-ordered batch
        return True
    size = dtype.itemsize
    s0, s1 = a.strides
    if s0 % size or s1 % size:
        return False
    return (s0 == size or a.shape[0] == 1) if class_major else (s1 == size or a.shape[1] == 1)


def whole_array(a: np.ndarray, dtype: np.dtype[np.generic]) -> bool:
    """Whether the kernel can read or write ``a`` whole, in place: C-contiguous, aligned, of
    ``dtype`` in the machine's byte order."""
    return a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned


def load(layout: Layout, arr: np.ndarray, blk: Block, dtype: np.dtype[np.floating]) -> np.ndarray:
    """The block of ``arr`` (seen by `Layout.view`) as an ``(R, C)`` array the kernel can read
    (a view when possible)."""
    view = layout.take(arr, blk)
    if view.ndim == 3:  # a group of short tails (A', C, B): gathered class-major
        A, C, B = view.shape
        buf = np.empty((C, A * B), dtype)
        np.copyto(buf.reshape(C, A, B), view.transpose(1, 0, 2), casting="unsafe")
        return buf.T
    rows = view.T if layout.class_major else view
    if usable(rows, dtype, layout.class_major):
        return rows
    if layout.class_major:
        return np.ascontiguousarray(view, dtype=dtype).T
    return np.ascontiguousarray(rows, dtype=dtype)


def destination(
    layout: Layout, arr: np.ndarray, blk: Block, dtype: np.dtype[np.floating]
) -> tuple[np.ndarray, bool]:
    """Where the kernel writes a block of ``arr`` (seen by `Layout.view`): ``(R, C)`` array, and
    whether it is a buffer to be copied back by `store`."""
    view = layout.take(arr, blk)
    if view.ndim == 2:
        rows = view.T if layout.class_major else view
        if usable(rows, dtype, layout.class_major):
            return rows, False
        shape = view.shape
    else:
        shape = (view.shape[1], view.shape[0] * view.shape[2])
    buf = np.empty(shape, dtype)
    return (buf.T if layout.class_major else buf), True


def store(layout: Layout, arr: np.ndarray, blk: Block, values: np.ndarray) -> None:
    """Copy a block written into a buffer (``(R, C)``) back into ``arr``."""
    view = layout.take(arr, blk)
    # A value beyond a float16 result's range becomes inf, silently (the documented rule).
    with np.errstate(over="ignore"):
        if view.ndim == 3:
            A, C, B = view.shape
            np.copyto(view.transpose(1, 0, 2), values.T.reshape(C, A, B), casting="unsafe")
        else:
            np.copyto(view, values.T if layout.class_major else values, casting="unsafe")


#: What `_core.softmax_block` needs to check a span's targets: (class weights, rtol, one_hot,
#: first check, totals and one-hot flags of the span's blocks)
SpanCheck = tuple[np.ndarray | None, float, bool, bool, np.ndarray, np.ndarray]


class Targets(Protocol):
    """The check of a categorical loss's targets, block by block (`_categorical._Distributions`):
    by the kernel (`span_check`: what it needs), and where it fails, by `check`, which says
    why."""

    def span_check(self, index: int, n: int, first: bool) -> SpanCheck: ...

    def check(self, blk: Block, block: np.ndarray) -> np.ndarray | None: ...


class SoftmaxCall(NamedTuple):
    """What one softmax-family call computes, the same for every block.

    ``cw`` is the class weights (None: 1 for every class), ``cw_others[c] = sum_{k != c} cw_k``
    (needed for a gradient), ``eps`` the label smoothing, ``grad_div`` what the gradient of the
    weighted sum is divided by (1, or the mean's denominator), ``z_loss`` the coefficient of
    the z-loss and ``gamma`` the focal exponent (0: neither).
    """

    mode: int
    layout: Layout
    dtype: np.dtype[np.floating]  # the kernel's (working) dtype
    from_logits: bool = True
    cw: np.ndarray | None = None
    cw_others: np.ndarray | None = None
    eps: float = 0.0
    grad_div: float = 1.0
    z_loss: float = 0.0
    gamma: float = 0.0

    def run(
        self,
        x: np.ndarray,
        *,
        out: np.ndarray | None = None,
        target: np.ndarray | None = None,
        labels: RowSource | None = None,
        weights: RowSource | None = None,
        rows_out: np.ndarray | None = None,
        targets: Targets | None = None,
        checked: bool = False,
        state: np.ndarray | None = None,
    ) -> list[tuple[float, float]]:
        """Run every block; returns the per-block partial sums of the per-row values (see
        `_reduction.reduce`). With ``targets``, the kernel checks each block's targets as it
        runs it (before its loss, or as it reads them: `_core.softmax_block`), and where a
        check fails, ``targets.check`` finds out why; a block whose targets are one-hot runs as
        the sparse loss of their class ids, which is the same loss without reading the targets
        again. With ``checked`` (the targets were checked before), only the one-hot blocks are
        read again, for their ids. Mode STATE writes each row's softmax state into ``state``
        (rows, STATE_LEN) instead (classes last)."""
        cw = self.cw  # None: class weights of 1, which the kernel need not read
        cw_sum = float(self.layout.C) if cw is None else float(np.sum(cw))

        def block_call(
            blk: Block, a: BlockArrays, block_rows: int, check: SpanCheck | None = None
        ) -> list[tuple[float, float]]:
            """The kernel on a block, or on a span of them (``block_rows``), checking the
            targets (``check``); without it, a block's targets checked here (where the kernel's
            check failed, to say why)."""
            id_limit = 0
            if labels is None:
                yb, sw = None, None if weights is None else weights.block(blk)
            else:
                yb, sw = labels.ids(blk, weights)
                id_limit = labels.check_ids or 0  # the kernel checks them as it reads them
            mode, tb = self.mode, a.target
            if targets is not None and tb is not None and check is None and not checked:
                hot = targets.check(blk, tb)
                if hot is not None:
                    mode, tb, yb = SPARSE, None, hot
            sb = None if state is None else state[blk.a0 : blk.a1]
            return _core.softmax_block(
                mode, a.x, a.out, tb, yb, sw, cw, self.cw_others, cw_sum, self.eps,
                self.grad_div, a.rows, a.scratch, self.from_logits, self.z_loss, self.gamma, sb,
                block_rows, check, id_limit,
            )  # fmt: skip

        def kernel(blk: Block, a: BlockArrays, block_rows: int) -> list[tuple[float, float]]:
            rows = a.x.shape[0]
            if targets is None or a.target is None or not rows:
                return block_call(blk, a, block_rows)
            # the kernel checks each block's targets (a lone block: a span of one)
            n = -(-rows // block_rows) if block_rows else 1
            check = targets.span_check(blk.number, n, not checked)
            results = block_call(blk, a, block_rows or rows, check)
            if not block_rows:  # its check failed: `targets.check` says what is wrong
                return results or block_call(blk, a, 0)
            # the check failed at block len(results): that block and the rest one by one,
            # as above
            for sub, r0, r1 in span_blocks(blk, rows, block_rows, len(results)):
                part = BlockArrays(
                    a.x[r0:r1], _rows(a.target, r0, r1), _rows(a.out, r0, r1),
                    _rows(a.rows, r0, r1), a.scratch,
                )  # fmt: skip
                results += block_call(sub, part, 0)
            return results

        if state is None and (target is None) == (targets is None):
            shared = self._run_shared(
                x, out, labels, weights, rows_out, cw, cw_sum, target, targets, checked
            )
            if shared is not None:
                return shared
        return run_blocks(
            self.layout, self.dtype, x, kernel, target=target, out=out, rows_out=rows_out,
            scratch_len=_core.scratch_len(self.layout.C), spans=True,
        )  # fmt: skip

    def _run_shared(
        self,
        x: np.ndarray,
        out: np.ndarray | None,
        labels: RowSource | None,
        weights: RowSource | None,
        rows_out: np.ndarray | None,
        cw: np.ndarray | None,
        cw_sum: float,
        target: np.ndarray | None,
        targets: Targets | None,
        checked: bool,
    ) -> list[tuple[float, float]] | None:
        """`run`'s blocks by one kernel call per thread, where every array of the call is used
        whole, in place (row-major, of the kernel's dtypes, contiguous; labels without an
        ``ignore_index``): the threads take the blocks from a counter they share, in the
        kernel, instead of a Python call each (whose handing over of the GIL between the
        threads took as long as a block of two classes' kernel every few blocks). The same
        blocks and checks as `run_blocks`'s, so the same results. None where it does not
        apply, or where a block's targets fail their check (`run_blocks` then says why)."""
        layout, dtype = self.layout, self.dtype
        whole = whole_call(layout, dtype, x, (out, target), weights, rows_out)
        y = None if labels is None or labels.ignore is not None else labels.whole()
        if whole is None or (labels is not None and y is None):
            return None
        blocks, xs, (outs, ts), sw, rows = whole
        id_limit = 0 if labels is None else labels.check_ids or 0
        # (with targets: every block checked as it runs, or only the one-hot ones read again
        # where they were checked before)
        check = None if targets is None else targets.span_check(0, len(blocks), not checked)
        job = _core.SharedBlocks(
            self.mode, xs, outs, y, sw, cw, self.cw_others, cw_sum, self.eps, self.grad_div,
            rows, self.from_logits, self.z_loss, self.gamma, layout.block_rows(dtype.itemsize),
            id_limit, ts, check,
        )  # fmt: skip
        return job.results() if run_shared(job, len(blocks)) else None


class WholeCall(NamedTuple):
    """A call whose arrays a job in C (`run_shared`) uses whole, in place: its blocks, its
    input and other arrays as (R, C) views (None for those it has not), its row weights and
    per-row values."""

    blocks: list[Block]
    x: np.ndarray
    others: tuple[np.ndarray | None, ...]
    weights: np.ndarray | None
    rows: np.ndarray | None


def whole_call(
    layout: Layout,
    dtype: np.dtype[np.floating],
    x: np.ndarray,
    others: tuple[np.ndarray | None, ...],
    weights: RowSource | None,
    rows_out: np.ndarray | None,
) -> WholeCall | None:
    """The call as a job in C takes it whole (`WholeCall`), where it can: row-major, more than
    one block, every array of ``dtype`` with unit class stride, the row weights one
    contiguous float64 vector, the per-row values contiguous float64 or float32 (each block's
    doubles rounded into them in the job); else None."""
    if layout.class_major:
        return None
    blocks = layout.blocks(dtype.itemsize)
    if len(blocks) < 2:
        return None
    xs = layout.view(x)
    views = tuple(None if a is None else layout.view(a) for a in others)
    if not all(usable(v, dtype, False) for v in (xs, *views) if v is not None):
        return None
    sw = None if weights is None else weights.whole()
    rows = None if rows_out is None else layout.rows_view(rows_out)
    if (weights is not None and sw is None) or (
        rows is not None
        and not (whole_array(rows, np.dtype(np.float64)) or whole_array(rows, np.dtype(np.float32)))
    ):
        return None
    return WholeCall(blocks, xs, views, sw, rows)


class SharedJob(Protocol):
    """A job whose threads share its blocks through counters in C (`_core.SharedBlocks`,
    `_core.SharedBinary`, `_core.SharedKL`)."""

    def run_pooled(self, helpers: int) -> bool: ...
    def run(self, lead: bool) -> None: ...
    def failed(self) -> bool: ...


def run_shared(job: SharedJob, n_blocks: int) -> bool:
    """Run a job of ``n_blocks`` blocks on this thread and the kernel's helper threads, else
    (none in this build, or held by another call) the engine's; whether it ran to its end (not
    where a block's check of its targets failed). The other threads hold the job alone, not
    the call's arrays, which the caller keeps alive until this returns: every block is done
    then."""
    n = min(_engine.get_num_threads(), n_blocks)
    if n == 1 or not _engine.start_helpers(n - 1) or not job.run_pooled(n - 1):
        _engine.run_alongside(n, job.run)
    return not job.failed()


def _rows(arr: np.ndarray | None, r0: int, r1: int) -> np.ndarray | None:
    return None if arr is None else arr[r0:r1]


def span_blocks(
    span: Block, rows: int, block_rows: int, start: int
) -> Iterator[tuple[Block, int, int]]:
    """The blocks of a row-major span of ``rows`` rows from its ``start``-th on, each with its
    rows ``r0:r1`` within the span (a span's blocks run one by one after a failed check)."""
    for r0 in range(start * block_rows, rows, block_rows):
        r1 = min(r0 + block_rows, rows)
        yield Block(span.number + r0 // block_rows, span.a0 + r0, span.a0 + r1, 0, 1), r0, r1


#: Blocks that `run_blocks` hands to a kernel in one call (a span), where it may: at most this
#: many, and at most `BLOCK_BYTES` of per-row float64 values.
SPAN_BLOCKS = 16


class BlockArrays(NamedTuple):
    """What a kernel call reads and writes for one block: ``(R, C)`` arrays of the working
    dtype the kernel can use (views where possible), float64 per-row values, scratch."""

    x: np.ndarray
    target: np.ndarray | None
    out: np.ndarray | None
    rows: np.ndarray | None
    scratch: np.ndarray


def run_blocks(
    layout: Layout,
    dtype: np.dtype[np.floating],
    x: np.ndarray,
    kernel: Callable[[Block, BlockArrays, int], list[tuple[float, float]]],
    *,
    target: np.ndarray | None = None,
    out: np.ndarray | None = None,
    rows_out: np.ndarray | None = None,
    scratch_len: int = 0,
    spans: bool = False,
) -> list[tuple[float, float]]:
    """The block driver of every kernel that reads ``x`` (and ``target``) of one layout:
    ``kernel(block, arrays, 0)`` per block on the engine's threads, its output block copied
    back where it went to a buffer (`destination`), its per-row values into ``rows_out`` in
    that array's dtype; returns the kernel's results in block order.

    With ``spans``, the kernel also takes a run of row-major blocks whose arrays are all views
    (no copy) as one span, ``kernel(span, arrays, block_rows)`` returning each block's result:
    the same results, with one Python call per `SPAN_BLOCKS` blocks instead of one per block
    (the per-row arrays a span may copy, labels of another integer type say, stay bounded)."""
    xs = layout.view(x)
    ts = None if target is None else layout.view(target)
    outs = None if out is None else layout.view(out)
    row_values = None if rows_out is None else layout.rows_view(rows_out)
    blocks = layout.blocks(dtype.itemsize)

    def run(blk: Block, scratch: np.ndarray, span_rows: int) -> list[tuple[float, float]]:
        xb = load(layout, xs, blk, dtype)
        tb = None if ts is None else load(layout, ts, blk, dtype)
        ob, copy_back = (None, False) if outs is None else destination(layout, outs, blk, dtype)
        rows = None if row_values is None else layout.take_rows(row_values, blk)
        # per-row values are float64 in the kernel: a block buffer for other dtypes
        rb = rows if rows is None or rows.dtype == np.float64 else np.empty(rows.shape)
        result = kernel(blk, BlockArrays(xb, tb, ob, rb, scratch), span_rows)
        if rows is not None and rb is not rows:
            with np.errstate(over="ignore"):  # beyond the dtype's range: inf
                rows[...] = rb
        if copy_back:
            assert outs is not None
            assert ob is not None
            store(layout, outs, blk, ob)
        return result

    if len(blocks) == 1:  # one block (a small call): on this thread, nothing to share out
        return [run(blocks[0], np.empty(scratch_len), 0)[0]]
    # spans of at most SPAN_BLOCKS blocks and BLOCK_BYTES of per-row float64 values (a span's
    # buffers of per-row values stay the size of a block's logits)
    block_rows = layout.block_rows(dtype.itemsize)
    step = 1
    if spans and not layout.class_major:
        step = min(SPAN_BLOCKS, max(1, _engine.BLOCK_BYTES // (8 * block_rows)))
    partial = [(0.0, 0.0)] * len(blocks)

    def viewable(blk: Block) -> bool:
        """Whether every array of a row-major span is used in place (nothing copied)."""
        return all(
            usable(layout.take(a, blk), dtype, False) for a in (xs, ts, outs) if a is not None
        )

    def work(chunk: Sequence[Block]) -> None:
        scratch = np.empty(scratch_len)
        if step == 1:
            for blk in chunk:
                partial[blk.number] = run(blk, scratch, 0)[0]
            return
        for k in range(0, len(chunk), step):
            run_of = chunk[k : k + step]
            span = Block(run_of[0].number, run_of[0].a0, run_of[-1].a1, 0, 1)
            if len(run_of) > 1 and viewable(span):
                for blk, result in zip(run_of, run(span, scratch, block_rows), strict=True):
                    partial[blk.number] = result
            else:
                for blk in run_of:
                    partial[blk.number] = run(blk, scratch, 0)[0]

    run_chunks(blocks, work)
    return partial


class RowSource:
    """Per-row values (labels or weights) of a batch, handed to the kernel block by block.

    ``values`` broadcasts to the batch shape; each block gets a contiguous array of its rows in
    ``dtype`` (a copy of a block at most).
    """

    def __init__(
        self,
        layout: Layout,
        values: np.ndarray,
        dtype: type,
        ignore: int | None = None,
        check_ids: int | None = None,
    ) -> None:
        self.layout, self.dtype, self.ignore = layout, dtype, ignore
        #: class ids not checked yet: each block's checked against [0, check_ids), by the
        #: kernel as it reads them (`SoftmaxCall.run`) or by `ids` with ``check``
        self.check_ids = check_ids
        shape = layout.batch_shape
        self.values = layout.rows_view(
            values if values.shape == shape else np.broadcast_to(values, shape)
        )

    def whole(self) -> np.ndarray | None:
        """The values of every row as one contiguous 1-D array of ``dtype``, where they are
        that already (None where not: a block at a time takes a copy of its rows)."""
        v = self.values
        return v if v.ndim == 1 and whole_array(v, np.dtype(self.dtype)) else None

    def block(self, blk: Block) -> np.ndarray:
        return np.ascontiguousarray(self.layout.take_rows(self.values, blk), dtype=self.dtype)

    def ids(
        self, blk: Block, weights: RowSource | None, *, check: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """A block's class ids and row weights (None: all 1), ignored rows given weight 0 and
        id 0, so that the kernel never reads past a row's classes for them; with ``check``, the
        ids checked first where `check_ids` asks for it (`_validation.block_id_check`)."""
        raw = self.layout.take_rows(self.values, blk)
        y: np.ndarray = np.ascontiguousarray(raw, dtype=self.dtype)
        sw = None if weights is None else weights.block(blk)
        if self.ignore is not None:
            keep = raw != self.ignore  # (in their dtype: uint64 ids may equal one beyond int64)
            if not keep.all():
                sw = np.where(keep, 1.0 if sw is None else sw, 0.0)
                y = np.where(keep, y, 0)
        if check and self.check_ids is not None:
            block_id_check(y, self.check_ids)
        return y, sw
