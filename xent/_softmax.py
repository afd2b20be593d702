"""The fused softmax pass every softmax-based function of xent is built on.

For one block of rows it computes, reading the logits once:

* ``m``, the row maximum, and ``d = x - m`` with its rounding error ``e`` (Knuth's TwoSum), so
  ``exp(x_j - m) = exp(d_j) * (1 + e_j)`` to working precision even when ``x_j - m`` rounds;
* ``F = exp(d) * (1 + e)``, the softmax numerators (exactly 1 at the maximum);
* ``s = sum(F) - 1``: the sum over every entry but one maximum, accumulated without the 1, so
  that ``logsumexp = m + log1p(s)`` keeps its relative accuracy when one class dominates
  (Blanchard, Higham & Higham, "Accurately computing the log-sum-exp and softmax functions",
  IMA J. Numer. Anal. 41, 2021).

Masked logits (``-inf``) are clamped far below the maximum before the subtraction, so they
contribute an exact 0 and no NaN; a row whose maximum is ``+inf`` is replaced by its limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._engine import SMALL_C, Block, Layout, run_chunks

#: Logits further than this below the row maximum have exp() == 0 in every float dtype.
_FAR = 2048.0


class Scratch:
    """Per-thread buffers shaped like the largest block, in the working dtype.

    A buffer is allocated when first used, so a kernel pays only for the ones it needs.
    """

    def __init__(self, layout: Layout, dtype: np.dtype[np.floating], n: int) -> None:
        rows = min(layout.block_rows(dtype.itemsize), layout.A * layout.B)
        self.class_major = layout.class_major or layout.C <= SMALL_C
        self.shape = (layout.C, rows) if self.class_major else (rows, layout.C)
        self.dtype = dtype
        self.bufs: list[np.ndarray | None] = [None] * n

    def get(self, k: int, rows: int) -> np.ndarray:
        b = self.bufs[k]
        if b is None:
            b = self.bufs[k] = np.empty(self.shape, self.dtype)
        return b[:, :rows] if self.class_major else b[:rows]


def load(
    layout: Layout, arr3: np.ndarray, blk: Block, sc: Scratch, k: int
) -> tuple[np.ndarray, int]:
    """The block of ``arr3`` in the working dtype and its class axis (copied only if needed).

    Few classes given last are transposed into class-major scratch, and a group of short
    tails is gathered into it.
    """
    view = layout.take(arr3, blk)
    if view.ndim == 3:
        out = sc.get(k, blk.rows)
        np.copyto(
            out.reshape(view.shape[1], *view.shape[::2]), view.transpose(1, 0, 2), casting="unsafe"
        )
        return out, 0
    cax = 0 if layout.class_major else 1
    if cax == 1 and sc.class_major:
        out = sc.get(k, blk.rows)
        np.copyto(out, view.T, casting="unsafe")
        return out, 0
    if view.dtype == sc.dtype:
        return view, cax
    out = sc.get(k, blk.rows)
    np.copyto(out, view, casting="unsafe")
    return out, cax


def store(layout: Layout, arr3: np.ndarray, blk: Block, values: np.ndarray, cax: int) -> None:
    """Write a block computed with class axis ``cax`` into ``arr3`` (no-op if it is that view)."""
    view = layout.take(arr3, blk)
    if np.may_share_memory(values, view):  # written in place by way of `destination`
        return
    if view.ndim == 3:
        np.copyto(
            view.transpose(1, 0, 2),
            values.reshape(view.shape[1], *view.shape[::2]),
            casting="unsafe",
        )
    elif cax == 0 and not layout.class_major:
        np.copyto(view, values.T, casting="unsafe")
    else:
        np.copyto(view, values, casting="unsafe")


def destination(
    layout: Layout,
    arr3: np.ndarray,
    blk: Block,
    sc: Scratch,
    k: int,
    cax: int,
    transposed_ok: bool = False,
) -> np.ndarray:
    """Where a kernel should write a block of ``arr3``: the output itself when its layout and
    dtype are the kernel's, else scratch ``k`` (copied back by `store`).

    With ``transposed_ok``, a transposed view of the output also qualifies: worth it for a
    kernel that writes it in one pass; several strided passes cost more than the copy.
    """
    view = layout.take(arr3, blk)
    if view.ndim == 2 and view.dtype == sc.dtype:
        if cax == 1 or layout.class_major:
            return view
        if transposed_ok:
            return view.T
    return sc.get(k, blk.rows)


def dense(block: np.ndarray) -> np.ndarray | None:
    """``block`` if its rows are contiguous, so that a kernel may work in it; else None."""
    return block if block.strides[-1] == block.itemsize else None


def per_row(values: np.ndarray, cax: int) -> np.ndarray:
    """A per-row value shaped to broadcast against a block with class axis ``cax``."""
    return values[np.newaxis, :] if cax == 0 else values[:, np.newaxis]


class Picker:
    """Reads and writes ``block[row, ids[row]]`` for every row of same-shaped blocks.

    Each block is seen as a 1-D strided view of its memory and indexed with one ``take`` or
    ``put`` at computed offsets, several times faster than fancy indexing or ``np.choose``
    for short rows; the offsets are computed once per distinct strides.
    """

    def __init__(self, ids: np.ndarray, cax: int) -> None:
        self.ids, self.cax = ids, cax
        self._pos: dict[tuple[int, ...], tuple[int, int, np.ndarray]] = {}

    def _flat(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = block.strides
        if key not in self._pos:
            s_cls, s_row = key[self.cax], key[1 - self.cax]
            step = math.gcd(s_cls, s_row) or block.itemsize
            rows = block.shape[1 - self.cax]
            pos = self.ids * (s_cls // step) + np.arange(rows) * (s_row // step)
            span = ((block.shape[self.cax] - 1) * s_cls + (rows - 1) * s_row) // step + 1
            self._pos[key] = (step, span, pos)
        step, span, pos = self._pos[key]
        return np.lib.stride_tricks.as_strided(block, shape=(span,), strides=(step,)), pos

    def _direct(self, block: np.ndarray) -> bool:
        return block.size > 0 and min(block.strides) > 0

    def take(self, block: np.ndarray) -> np.ndarray:
        """``block[row, ids[row]]`` per row, as float64."""
        if self._direct(block):
            flat, pos = self._flat(block)
            picked = np.take(flat, pos)
        else:
            picked = np.take_along_axis(block, per_row(self.ids, self.cax), self.cax).ravel()
        out: np.ndarray = picked.astype(np.float64, copy=False)
        return out

    def put(self, block: np.ndarray, values: np.ndarray) -> None:
        """``block[row, ids[row]] = values[row]`` per row."""
        if self._direct(block):
            flat, pos = self._flat(block)
            np.put(flat, pos, values)
        else:
            np.put_along_axis(
                block, per_row(self.ids, self.cax), per_row(values, self.cax), axis=self.cax
            )


def two_diff(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a - b`` and its exact rounding error (Knuth's TwoSum; any magnitudes)."""
    s = a - b
    bp = s - a
    err = (a - (s - bp)) - (b + bp)
    return s, err


@dataclass
class Shifted:
    """The result of `shifted_exp` for one block; per-row arrays have shape (R,)."""

    x: np.ndarray  # the logits used: the input block, or its limit where a row max is +inf
    m: np.ndarray  # the shift (row maximum of x), working dtype, broadcastable against x
    e: np.ndarray  # rounding error of x - m (0 where x is far below m)
    F: np.ndarray  # exp(x - m) * (1 + e): exactly 1 at maxima, 0 for masked logits
    s: np.ndarray  # sum of F over every entry but one maximum, float64
    inf_rows: np.ndarray | None  # rows whose maximum is +inf (replaced by their limit)
    k: np.ndarray | None  # row-major blocks: the index of the maximum left out of s

    def argmax(self, cax: int) -> np.ndarray:
        """The index of one maximum per row (the first)."""
        return self.k if self.k is not None else np.argmax(self.x, axis=cax)


def _limit_rows(x: np.ndarray, m: np.ndarray, cax: int) -> np.ndarray:
    """Rows whose maximum is +inf, replaced by their limit: 0 at the +inf entry, -inf elsewhere.

    A row with several +inf entries has no limit and becomes NaN. Rare: a fresh array is fine.
    """
    is_top = x == np.inf
    limit = np.where(is_top, 0.0, -np.inf).astype(x.dtype)
    several = np.sum(is_top, axis=cax, keepdims=True) > 1
    limit[np.broadcast_to(several, limit.shape)] = np.nan
    out: np.ndarray = np.where(np.isposinf(m), limit, x)
    return out


def _row_max(x: np.ndarray, cax: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The row maximum (keepdims) and, for row-major blocks, the index of one maximum."""
    if cax == 0:
        return np.max(x, axis=0, keepdims=True), None
    k = np.argmax(x, axis=1)  # the first NaN, if any: the row's m is NaN then
    return x[np.arange(x.shape[0]), k][:, np.newaxis], k


def shifted_exp(
    x: np.ndarray, cax: int, sc: Scratch, rows: int, out: np.ndarray | None = None
) -> Shifted:
    """The fused pass over one block ``x`` (classes along ``cax``).

    ``F`` is written into ``out`` (a kernel's gradient block, which then needs no scratch of
    its own), else into scratch 1; scratch 3 holds ``e`` afterwards; scratch 2 is free, and
    so is 4, which only class-major blocks use here. Scratch 0 is left alone (it may hold
    ``x`` itself, see `load`).
    """
    m, k = _row_max(x, cax)
    inf_rows = None
    if np.fmax.reduce(m, axis=None) == np.inf:
        inf_rows = np.isposinf(m).reshape(-1)
        x = _limit_rows(x, m, cax)
        m, k = _row_max(x, cax)
    # Entries far below the maximum are clamped: exp() stays exactly 0 and TwoSum finite.
    lo = np.abs(m)
    lo *= -(2.0**-10)
    lo -= _FAR
    lo += m
    xc = np.fmax(x, lo, out=sc.get(1, rows) if out is None else out)
    # d = xc - m and its rounding error e by Knuth's TwoSum: bp = d - xc, e = (xc - (d - bp))
    # - (bp + m). bp is computed twice (the same value), so three buffers hold it all.
    d = np.subtract(xc, m, out=sc.get(2, rows))
    e = np.subtract(d, xc, out=sc.get(3, rows))
    np.subtract(d, e, out=e)
    np.subtract(xc, e, out=e)
    bpm = np.subtract(d, xc, out=xc)
    np.add(bpm, m, out=bpm)
    np.subtract(e, bpm, out=e)
    acc = np.float64 if x.dtype != np.float64 else None
    if k is not None:
        # Row-major: one maximum per row, by index, is left out of the sum (exp(-inf) = 0)
        # and put back as exactly 1; other entries tied with it count 1 each.
        r = np.arange(x.shape[0])
        d[r, k] = -np.inf
        F = np.exp(d, out=xc)
        np.multiply(F, e, out=d)
        np.add(F, d, out=F)
        s = np.add.reduce(F, axis=1, dtype=acc)
        F[r, k] = 1.0
    else:
        # Class-major: t = sign(d) is -1 off the maximum and 0 at the entries tied with it;
        # s = (sum of F off the ties) + (number of ties - 1), each part summed on its own.
        t = np.sign(d, out=sc.get(4, rows))
        F = np.exp(d, out=xc)
        np.multiply(F, e, out=d)
        np.add(F, d, out=F)
        np.multiply(F, t, out=d)
        s = np.add.reduce(t, axis=0, dtype=np.float64 if x.shape[0] > 1 << 24 else None)
        s = s + (x.shape[0] - 1.0)
        s -= np.add.reduce(d, axis=0, dtype=acc)
    return Shifted(x=x, m=m, e=e, F=F, s=np.asarray(s, dtype=np.float64), inf_rows=inf_rows, k=k)


def for_blocks(
    layout: Layout,
    dtype: np.dtype[np.floating],
    n_scratch: int,
    fn: Callable[[Block, Scratch], None],
) -> None:
    """Run ``fn`` on every block, a chunk of blocks per thread, each with its own scratch.

    inf and NaN are results here (an exact inf loss, a NaN row), not accidents: the floating
    point warnings they raise inside the kernels are silenced for the kernels only.
    """
    blocks = layout.blocks(dtype.itemsize)

    def work(chunk: Sequence[Block]) -> None:
        sc = Scratch(layout, dtype, n_scratch)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for blk in chunk:
                fn(blk, sc)

    run_chunks(blocks, work)
