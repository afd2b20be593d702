"""Blocked, threaded execution shared by every function of xent.

An array is seen as ``(A, C, B)``: ``C`` classes along the class axis, ``A`` the product of the
dimensions before it and ``B`` of those after it, so the batch has ``A * B`` rows in C order. The
rows are cut into blocks whose scratch fits in the cache, independently of the thread count, and
each block is processed by one fused pass that writes disjoint outputs. Reductions over rows
happen afterwards in block order, so results are bit-identical for every number of threads.

A block is either *row-major*, ``(R, C)`` with classes along axis 1 (``B == 1``), or
*class-major*, ``(C, R)`` with classes along axis 0 (``B > 1``): a strided slice of one outer
index's tail, no copy, or for a short tail a group of whole outer indices, gathered into
scratch. The compiled kernel transposes row-major rows of few classes into class-major tiles
itself, so that its loops run over rows.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import NamedTuple, TypeVar

import numpy as np

from ._kernels import _core

#: Bytes of one scratch array of a block; a kernel holds a handful per thread. Blocks are the
#: grain of the threads: at 256 KiB a call of 2.5 MiB is ten (2.0x on two threads, against
#: 1.7x as five of 512 KiB); a call within one block runs in C without the block driver.
BLOCK_BYTES = 1 << 18
#: Row-major blocks hold at least this many rows (a kernel call per row of a huge vocabulary
#: would cost more in Python than in the kernel; such blocks are views, not copies).
MIN_ROWS = 8

T = TypeVar("T")

_lock = threading.Lock()
_num_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_local = threading.local()
#: `_default_threads()`, once asked for (a system call per loss call would cost more than a
#: small batch's kernel): forgotten by ``set_num_threads(None)`` and in a forked child.
_default: int | None = None


def _default_threads() -> int:
    env = os.environ.get("XENT_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"XENT_NUM_THREADS must be a positive integer; got {env!r}.") from None
        if n < 1:
            raise ValueError(f"XENT_NUM_THREADS must be a positive integer; got {env!r}.")
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_num_threads(n: int | None) -> None:
    """Set the number of threads xent uses; ``None`` restores the default.

    The default is the ``XENT_NUM_THREADS`` environment variable if set, else the number of
    cores this process may run on, read when first needed (and again after
    ``set_num_threads(None)``). Results do not depend on the thread count.

    Parameters
    ----------
    n : int or None
        A positive number of threads, or None for the default.

    Examples
    --------
    >>> import xent
    >>> xent.set_num_threads(1)
    >>> xent.get_num_threads()
    1
    >>> xent.set_num_threads(None)
    """
    global _num_threads, _default
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive integer or None; got {n!r}.")
    with _lock:
        _num_threads = None if n is None else int(n)
        _default = None


def get_num_threads() -> int:
    """The number of threads xent uses (see `set_num_threads`).

    Examples
    --------
    >>> import xent
    >>> xent.get_num_threads() >= 1
    True
    """
    global _default
    local = getattr(_local, "limit", None)
    if local is not None:
        return int(local)
    n = _num_threads
    if n is not None:
        return n
    if _default is None:
        _default = _default_threads()
    return _default


@contextmanager
def thread_limit(n: int) -> Iterator[None]:
    """Run xent's calls made by *this* thread on at most ``n`` threads, inside the block.

    Other threads keep the process-wide setting. Used where the caller is itself one of many
    worker threads (a Dask worker, say), so that threads are not multiplied.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}.")
    previous = getattr(_local, "limit", None)
    _local.limit = int(n) if previous is None else min(int(n), previous)
    try:
        yield
    finally:
        _local.limit = previous


def _submit(
    n: int, work: Callable[[Sequence[T]], None], chunks: list[Sequence[T]]
) -> list[Future[None]]:
    """Submit ``work`` on each chunk to a pool of at least ``n`` threads.

    A pool too small for ``n`` is replaced and shut down. Submitting happens under the lock,
    so no call can be submitting to a pool that another call is shutting down; a shut-down
    pool still runs the tasks it has, and its threads then exit.
    """
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            old, _pool = _pool, ThreadPoolExecutor(max_workers=n, thread_name_prefix="xent")
            _pool_size = n
            if old is not None:
                old.shutdown(wait=False)
        return [_pool.submit(work, chunk) for chunk in chunks]


def _reset_after_fork() -> None:
    """In a forked child: forget the parent's pools (their threads do not exist here) and lock
    (another thread may have held it at the fork)."""
    global _lock, _pool, _pool_size, _default, _helpers
    _lock = threading.Lock()
    _pool, _pool_size, _default, _helpers = None, 0, None, 0
    _core.pool_reset()


#: The kernel's helper threads started (`start_helpers`).
_helpers = 0


def start_helpers(n: int) -> bool:
    """Whether the kernel's helper threads (`_core.pool_helper`: they wait for work in C,
    without the GIL) number at least ``n``, starting those missing; False where this build
    has none (then `run_alongside` shares the work). Daemon threads: they hold no Python
    state, and a process exits with them waiting."""
    global _helpers
    if not _core.pool_supported():
        return False
    if _helpers < n:
        with _lock:
            for index in range(_helpers, n):
                threading.Thread(
                    target=_core.pool_helper, args=(index,), name=f"xent-helper-{index}",
                    daemon=True,
                ).start()  # fmt: skip
            _helpers = max(_helpers, n)
    return True


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reset_after_fork)


#: Pieces per thread in `run_chunks`: threads take the next piece as they finish one, so that a
#: thread slowed by something else on its core leaves its share to the others.
PIECES_PER_THREAD = 8


def run_chunks(items: Sequence[T], work: Callable[[Sequence[T]], None]) -> None:
    """Call ``work`` on contiguous pieces of ``items`` on the engine's threads.

    The items are cut into about `PIECES_PER_THREAD` pieces per thread, handed out in order as
    threads become free. Callers write each item's results to its own place, so which thread
    runs a piece does not change them. Where pieces raise, the error raised is that of the
    first of them in the items' order, whatever the threads' timing: once a piece fails no
    thread takes another, and every piece before it was taken already, so each has run to its
    end or its own error (a message naming the first bad row of an input names the same row
    at every thread count).
    """
    n = len(items)
    if n > 1:
        n = min(get_num_threads(), n)
    if n <= 1:
        work(items)
        return
    count = min(len(items), n * PIECES_PER_THREAD)
    bounds = [len(items) * k // count for k in range(count + 1)]
    pieces = [items[bounds[k] : bounds[k + 1]] for k in range(count)]
    taken = itertools.count()  # next() on it is atomic: each piece goes to one thread
    failed = threading.Event()
    errors: dict[int, BaseException] = {}  # piece -> its error

    def worker(_: Sequence[int]) -> None:
        for k in taken:
            if k >= count or failed.is_set():
                return
            try:
                work(pieces[k])
            except BaseException as err:
                errors[k] = err
                failed.set()
                return

    futures = _submit(n, worker, [()] * (n - 1))
    try:
        worker(())
    finally:
        for f in futures:
            f.exception()  # (waits for it: its errors are in `errors`)
    if errors:
        raise errors[min(errors)]


def run_alongside(n: int, work: Callable[[bool], None]) -> None:
    """Call ``work(True)`` on this thread and ``work(False)`` on ``n - 1`` of the engine's
    threads, without waiting for those to come back.

    For kernels whose threads share their work through counters in C and wait there for each
    other's last piece (`_core.SharedBlocks`, where the kernel's helper threads are missing or
    held by another call: `start_helpers`): this thread's ``work`` returns when
    all of it is done, and waiting for the others' return to Python too took a tenth of a
    millisecond more on a 2-core VM (a thread waiting for the GIL, or for a future, is woken
    up). Their errors are theirs alone: ``work`` raises the call's error on this thread too,
    and a thread that fails before it starts leaves its part to the others. What the others
    hold (``work`` and what it refers to) they hold until they next take the GIL: not the
    call's arrays (`_core.SharedBlocks`).
    """
    if n > 1:
        others: list[Sequence[None]] = [()] * (n - 1)
        _submit(n, lambda _: work(False), others)
    work(True)


def tiles(rows: int, cols: int, itemsize: int) -> list[tuple[int, int, int, int]]:
    """``(r0, r1, c0, c1)`` tiles of a ``(rows, cols)`` array, each about one scratch array
    (the list made once for the last 64 shapes: do not change it)."""
    return _tiles(rows, cols, max(1, BLOCK_BYTES // itemsize))


@functools.lru_cache(maxsize=64)
def _tiles(rows: int, cols: int, step: int) -> list[tuple[int, int, int, int]]:
    if cols <= step:
        per = step // max(cols, 1)
        return [(r, min(r + per, rows), 0, cols) for r in range(0, rows, per)]
    return [(r, r + 1, c, min(c + step, cols)) for r in range(rows) for c in range(0, cols, step)]


class Block(NamedTuple):
    """Rows ``a0:a1`` x ``b0:b1`` of the ``(A, B)`` batch; ``number`` orders the blocks."""

    number: int
    a0: int
    a1: int
    b0: int
    b1: int


class Layout:
    """An array of ``shape`` seen as ``(A, C, B)`` around its class ``axis``.

    A description that does not change once made; `layout_of` gives the one of a (shape, axis)
    made before, with its blocks, as calls on batches of one shape (a training loop's) need.
    """

    def __init__(self, shape: tuple[int, ...], axis: int) -> None:
        self.shape, self.axis = shape, axis
        self.A = math.prod(shape[:axis])
        self.C = shape[axis]
        self.B = math.prod(shape[axis + 1 :])
        self.batch_shape = shape[:axis] + shape[axis + 1 :]
        #: Blocks are class-major, ``(C, R)``: always unless the class axis is the last one.
        self.class_major = self.B > 1
        self._view_shape = (self.A, self.C, self.B) if self.B != 1 else (self.A, self.C)
        self._rows_shape = (self.A, self.B) if self.B != 1 else (self.A,)
        self._blocks: dict[tuple[int, int], list[Block]] = {}

    def view(self, arr: np.ndarray) -> np.ndarray:
        """``arr`` (of ``shape``) as `take` cuts it: ``(A, C)`` with classes last, else
        ``(A, C, B)`` (also for an empty batch of ``B = 0``, which has no blocks); ``arr``
        itself where it has that shape already."""
        shape = self._view_shape
        return arr if arr.shape == shape else arr.reshape(shape)

    def rows_view(self, arr: np.ndarray) -> np.ndarray:
        """A batch-shaped ``arr`` as `take_rows` cuts it: ``(A,)`` with classes last, else
        ``(A, B)``; ``arr`` itself where it has that shape already."""
        shape = self._rows_shape
        return arr if arr.shape == shape else arr.reshape(shape)

    def block_rows(self, itemsize: int) -> int:
        """The rows of a block (the small calls of `_core` take row-major ones as one block by
        the same formula)."""
        rows = BLOCK_BYTES // (itemsize * max(self.C, 1))
        return max(1, rows) if self.class_major else max(rows, MIN_ROWS)

    def blocks(self, itemsize: int) -> list[Block]:
        """Blocks of at most `block_rows` rows, in batch order.

        With classes last, runs of rows; with a long tail (``B`` at least a block), runs of one
        outer index's tail; with a short tail, groups of whole outer indices, so that a short
        tail never makes blocks of a few rows. The list is made once per item size (do not
        change it).
        """
        key = (itemsize, BLOCK_BYTES)
        cached = self._blocks.get(key)
        if cached is not None:
            return cached
        self._blocks[key] = out = self._make_blocks(itemsize)
        return out

    def _make_blocks(self, itemsize: int) -> list[Block]:
        r = self.block_rows(itemsize)
        out: list[Block] = []
        if self.A * self.B == 0:  # an empty batch (whatever the class axis): no block
            return out
        if not self.class_major:
            for a0 in range(0, self.A, r):
                out.append(Block(len(out), a0, min(a0 + r, self.A), 0, 1))
        elif self.B >= r:
            for a in range(self.A):
                for b0 in range(0, self.B, r):
                    out.append(Block(len(out), a, a + 1, b0, min(b0 + r, self.B)))
        else:
            step = max(1, r // self.B)
            for a0 in range(0, self.A, step):
                out.append(Block(len(out), a0, min(a0 + step, self.A), 0, self.B))
        return out

    def take(self, arr: np.ndarray, blk: Block) -> np.ndarray:
        """The block of an array seen by `view`, a view: ``(R, C)`` with classes last, else
        ``(C, R)`` for a run of one tail, or ``(A', C, B)`` for a group of whole tails."""
        if not self.class_major or blk.a1 - blk.a0 > 1:
            # the whole array in one block (a small call): itself, not a slice of it
            return arr if blk.a0 == 0 and blk.a1 == len(arr) else arr[blk.a0 : blk.a1]
        return arr[blk.a0, :, blk.b0 : blk.b1]

    def take_rows(self, rows: np.ndarray, blk: Block) -> np.ndarray:
        """The block's rows of a batch-shaped array seen by `rows_view`, 1-D (a view if it is
        contiguous)."""
        if not self.class_major:
            return rows if blk.a0 == 0 and blk.a1 == len(rows) else rows[blk.a0 : blk.a1]
        if blk.a1 - blk.a0 == 1:
            return rows[blk.a0, blk.b0 : blk.b1]
        return rows[blk.a0 : blk.a1].reshape(-1)


@functools.lru_cache(maxsize=64)
def layout_of(shape: tuple[int, ...], axis: int) -> Layout:
    """The `Layout` of ``shape`` around ``axis`` (``0 <= axis < len(shape)``), made once for
    the last 64 pairs asked for: making one and its blocks took a fifth of a small call."""
    return Layout(shape, axis)
