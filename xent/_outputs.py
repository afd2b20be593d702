"""The arrays xent returns (gradients, softmax outputs, per-entry losses), the large ones in
memory that is reused from one call to the next.

A fresh block of memory beyond the C library's mmap threshold (32 MiB at most with glibc) comes
from the operating system, which zeroes each of its pages at the first write: measured at
about 0.1 ms per MiB on the machines of this project (10 GB/s), a third of the time of a
float64 gradient or log_softmax over the same entries. Smaller blocks come fresh too whenever
other code's frees have made glibc give the top of its heap back. xent allocates its outputs
of 1 MiB (`MIN_BYTES`) or more through a NumPy memory handler (NEP 49,
`xent._kernels._buffers`) that keeps the blocks their arrays free, up to a limit, and gives one
back to the next output of the same size. Nothing changes for the caller: the array owns its
data, and NumPy frees it through the handler whenever it is released.
"""

from __future__ import annotations

import importlib
import math
import os
import threading
from typing import Any

import numpy as np

from ._kernels import _buffers

#: Outputs smaller than this come from NumPy's own allocator. glibc's malloc serves blocks below
#: 32 MiB from memory it holds once a block of their size has been freed, but only until other
#: code's frees make it give the top of its heap back to the operating system: after one SciPy
#: log_softmax over 65,536 x 10 float64, xent's log_softmax of the same logits at one thread (a
#: 5 MiB output) took 242 page faults and 9.1 ms, from the handler none and 7.2 ms (AMD EPYC
#: Zen 1 VM). In a steady loop (two threads) the two measured the same from 2.5 to 31 MiB,
#: float32 and float64 (0.98-1.03x, calls alternated).
MIN_BYTES = 1 << 20
#: The default limit of the bytes kept for reuse.
_DEFAULT_LIMIT = 1 << 30
_ENV = "XENT_OUTPUT_CACHE"
_lock = threading.Lock()
_multiarray = importlib.import_module("numpy._core.multiarray")


def _madvise_hugepage() -> bool:
    """Whether NumPy marks its large blocks for transparent huge pages (its default on Linux)."""
    get = getattr(_multiarray, "_get_madvise_hugepage", None)
    return bool(get()) if get is not None else True


def new_array(shape: Any, dtype: Any) -> np.ndarray:
    """``np.empty(shape, dtype)`` for an array xent returns (see the module)."""
    dt = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    # Python's product (np.prod took 4 us, most of a small call's output)
    n = dt.itemsize * math.prod(shape)
    if n < MIN_BYTES or get_output_cache() == 0:
        return np.empty(shape, dt)
    _buffers.set_hugepage(_madvise_hugepage())
    out: np.ndarray = _buffers.empty(shape, dt)
    return out


def _default_limit() -> int:
    env = os.environ.get(_ENV, "").strip()
    if not env:
        return _DEFAULT_LIMIT
    if not env.isdigit():
        raise ValueError(f"{_ENV} must be a non-negative integer number of bytes; got {env!r}.")
    return int(env)


#: the limit set (None: the default, read when first needed)
_limit: int | None = None


def set_output_cache(nbytes: int | None) -> None:
    """Set how many bytes of freed output memory xent keeps for its next outputs; ``None``
    restores the default.

    The arrays xent returns of 1 MiB or more (gradients, ``softmax`` and ``log_softmax``,
    per-entry losses) are allocated through a NumPy memory handler that keeps the memory they
    free, at most four blocks and ``nbytes`` in all (the oldest freed first), and gives a block
    back to the next output of the same size. Such a block otherwise often comes fresh from the
    operating system, which zeroes its pages at their first write (about 0.1 ms per MiB, a
    third of the time of a float64 gradient): always from 32 MiB up, and below that whenever
    other code's frees made glibc's malloc give memory back. A loop that computes a gradient
    of the same shape at every step then pays it once. The memory kept is
    not in use by any array; it is freed when the limit is lowered, ``set_output_cache(0)``
    freeing all of it. The default is the ``XENT_OUTPUT_CACHE`` environment variable (bytes)
    if set, else 1 GiB.

    Parameters
    ----------
    nbytes : int or None
        The number of bytes to keep at most (0: none), or None for the default.

    Raises
    ------
    ValueError
        If ``nbytes`` is not a non-negative integer or None, or (for the default) the
        environment variable is not a non-negative integer.

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> xent.set_output_cache(0)  # every output in fresh memory
    >>> xent.get_output_cache()
    0
    >>> xent.set_output_cache(256 * 2**20)
    >>> xent.get_output_cache()
    268435456
    >>> xent.set_output_cache(None)  # the default
    """
    global _limit
    if nbytes is not None and (
        isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0
    ):
        raise ValueError(f"nbytes must be a non-negative integer or None; got {nbytes!r}.")
    with _lock:
        _limit = None if nbytes is None else int(nbytes)
        _buffers.set_limit(_default_limit() if _limit is None else _limit)


def get_output_cache() -> int:
    """The number of bytes of freed output memory xent keeps at most (see `set_output_cache`).

    Examples
    --------
    >>> import xent
    >>> xent.get_output_cache() >= 0
    True
    """
    global _limit
    limit = _limit
    if limit is None:
        with _lock:
            if _limit is None:
                _limit = _default_limit()
                _buffers.set_limit(_limit)
            limit = _limit
    return limit


def output_cache_stats() -> dict[str, int]:
    """The memory kept now and how the large outputs were served: keys "bytes" and "blocks"
    (kept now), "reused" and "fresh" (outputs of `MIN_BYTES` or more since the process started)."""
    held, blocks, hits, misses = _buffers.stats()
    return {"bytes": held, "blocks": blocks, "reused": hits, "fresh": misses}
