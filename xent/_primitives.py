"""logsumexp, log_softmax, softmax, softplus and log_sigmoid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ._engine import Block, Layout, run_chunks, tiles
from ._softmax import Scratch, dense, destination, for_blocks, load, per_row, shifted_exp, store
from ._validation import as_real_array, check_axis, check_flag, float_dtypes


def log1p_nonneg(u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """log1p(u) for u >= 0, from one vectorized log.

    With w = fl(1 + u), log1p(u) = log(w) + (u - (w - 1)) / w: the second term puts back the
    rounding of 1 + u, which is exact for u <= 1 (Sterbenz), and is negligible beyond
    (Goldberg, "What every computer scientist should know about floating-point", 1991).
    NumPy's log1p is a scalar libm call; this is several times faster and as accurate.
    """
    w = u + 1.0
    c = u - (w - 1.0)
    c /= w
    r = np.log(w, out=out)
    r += c
    return r


def _softmax_input(
    a: npt.ArrayLike, axis: int
) -> tuple[np.ndarray, Layout, np.dtype[np.floating], np.dtype[np.floating]]:
    arr = as_real_array(a, "a")
    ax = check_axis(axis, arr.ndim, "a")
    result, work = float_dtypes(arr)
    return arr, Layout(arr.shape, ax), result, work


def logsumexp(
    a: npt.ArrayLike, axis: int = -1, *, keepdims: bool = False
) -> np.ndarray | np.floating:
    r"""Log of the sum of exponentials along an axis, to the last bits.

    .. math:: \operatorname{logsumexp}(a) = \log \sum_j e^{a_j}
              = m + \operatorname{log1p}\Big(\sum_{j \ne k} e^{a_j - m}\Big),
              \quad m = a_k = \max_j a_j

    Parameters
    ----------
    a : array_like, shape (..., C, ...)
        Real values; integers and booleans are promoted to float64.
    axis : int, default -1
        The axis to reduce.
    keepdims : bool, default False
        Keep the reduced axis with size 1.

    Returns
    -------
    numpy.ndarray or numpy.floating
        ``a``'s shape without ``axis`` (or with size 1 there), in ``a``'s float dtype; a NumPy
        scalar for 1-D input.

    Raises
    ------
    TypeError
        If ``a`` is not real numeric.
    ValueError
        If ``axis`` is out of range.

    See Also
    --------
    log_softmax, softmax

    Notes
    -----
    The largest entry is set aside and the rest summed as ``log1p`` of a small number, so a
    dominant entry does not swallow the others (Blanchard, Higham & Higham, 2021). Each
    ``a_j - m`` carries its rounding error (TwoSum) into the exponential. ``-inf`` entries
    contribute exactly 0, a row of ``-inf`` gives ``-inf`` and a row holding ``+inf`` gives
    ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> print(f"{xent.logsumexp([0.0, np.log(3.0)]):.6f}")
    1.386294
    >>> print(xent.logsumexp([[1000.0, 1000.0], [0.0, -40.0]]))
    [1.00069315e+03 4.24835426e-18]
    >>> print(np.log(np.sum(np.exp([0.0, -40.0]))))  # the textbook formula loses it all
    0.0
    """
    keepdims = check_flag(keepdims, "keepdims")
    arr, layout, result, work = _softmax_input(a, axis)
    out = np.full(layout.batch_shape, -np.inf, result)  # log of an empty sum, if C == 0
    x3, out2 = layout.view3(arr), layout.rows2(out)

    def block(blk: Block, sc: Scratch) -> None:
        x, cax = load(layout, x3, blk, sc, 0)
        st = shifted_exp(x, cax, sc, blk.rows)
        lse = st.m.reshape(-1) + log1p_nonneg(st.s)
        if st.inf_rows is not None:
            lse[st.inf_rows] = np.inf
        # A row of -inf: log(0) = -inf exactly (its softmax is undefined, its logsumexp is not).
        lse[st.m.reshape(-1) == -np.inf] = -np.inf
        layout.take_rows(out2, blk)[...] = lse

    if layout.C:
        for_blocks(layout, work, 5, block)
    if keepdims:
        out = np.expand_dims(out, layout.axis)
    return out[()]


def log_softmax(a: npt.ArrayLike, axis: int = -1) -> np.ndarray:
    r"""Logarithm of the softmax along an axis, to the last bits.

    .. math:: \log \operatorname{softmax}(a)_j = a_j - \operatorname{logsumexp}(a)

    Parameters
    ----------
    a : array_like, shape (..., C, ...)
        Logits; integers and booleans are promoted to float64.
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        ``a``'s shape, in ``a``'s float dtype.

    Raises
    ------
    TypeError
        If ``a`` is not real numeric.
    ValueError
        If ``axis`` is out of range.

    See Also
    --------
    softmax, logsumexp

    Notes
    -----
    The largest entry's value, ``-log1p(sum of the others)``, keeps its relative accuracy when it
    is tiny (a confident prediction), where ``a - logsumexp(a)`` returns 0.

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> print(xent.log_softmax([0.0, -50.0]))
    [-1.92874985e-22 -5.00000000e+01]
    >>> print(np.array([0.0, -50.0]) - np.log(np.sum(np.exp([0.0, -50.0]))))
    [  0. -50.]
    """
    arr, layout, result, work = _softmax_input(a, axis)
    out = np.empty(arr.shape, result)
    x3, out3 = layout.view3(arr), layout.view3(out)

    def block(blk: Block, sc: Scratch) -> None:
        x, cax = load(layout, x3, blk, sc, 0)
        dest = destination(layout, out3, blk, sc, 1, cax)
        st = shifted_exp(x, cax, sc, blk.rows, out=dest)  # its exp(x - m) is then overwritten
        np.subtract(st.x, st.m, out=dest)
        np.subtract(dest, per_row(log1p_nonneg(st.s), cax).astype(dest.dtype), out=dest)
        store(layout, out3, blk, dest, cax)

    if layout.C:
        for_blocks(layout, work, 5, block)
    return out


def softmax(a: npt.ArrayLike, axis: int = -1) -> np.ndarray:
    r"""Softmax along an axis: probabilities that sum to 1.

    .. math:: \operatorname{softmax}(a)_j = \frac{e^{a_j - m}}{\sum_k e^{a_k - m}}

    Parameters
    ----------
    a : array_like, shape (..., C, ...)
        Logits; integers and booleans are promoted to float64.
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        ``a``'s shape, in ``a``'s float dtype.

    Raises
    ------
    TypeError
        If ``a`` is not real numeric.
    ValueError
        If ``axis`` is out of range.

    See Also
    --------
    log_softmax, logsumexp

    Notes
    -----
    A single ``+inf`` logit takes all the mass (the limit); several give NaN. ``-inf`` logits
    get exactly 0.

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> print(xent.softmax([0.0, np.log(3.0)]))
    [0.25 0.75]
    >>> print(xent.softmax([np.inf, 0.0]))  # NaN in SciPy and PyTorch
    [1. 0.]
    """
    arr, layout, result, work = _softmax_input(a, axis)
    out = np.empty(arr.shape, result)
    x3, out3 = layout.view3(arr), layout.view3(out)

    def block(blk: Block, sc: Scratch) -> None:
        x, cax = load(layout, x3, blk, sc, 0)
        dest = destination(layout, out3, blk, sc, 1, cax, transposed_ok=True)
        st = shifted_exp(x, cax, sc, blk.rows, out=dense(dest))
        np.multiply(st.F, per_row(1.0 / (1.0 + st.s), cax).astype(dest.dtype), out=dest)
        store(layout, out3, blk, dest, cax)

    if layout.C:
        for_blocks(layout, work, 5, block)
    return out


def softplus_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(max(x, 0), log1p(exp(-|x|)))`` in float64 (float32 and below: exact enough).

    softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow for any x, and both terms are
    non-negative, so the sum keeps its relative accuracy; softplus(-x) = max(-x, 0) + the same.
    """
    u = np.exp(-np.abs(x))
    return np.maximum(x, 0), log1p_nonneg(u.astype(np.float64, copy=False))


def _elementwise(a: npt.ArrayLike, negate: bool) -> np.ndarray | np.floating:
    arr = as_real_array(a, "a")
    result, work = float_dtypes(arr)
    flat = np.ravel(arr)[np.newaxis]
    out = np.empty(flat.shape, result)

    def chunk(spans: Sequence[tuple[int, int, int, int]]) -> None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for _, _, i0, i1 in spans:
                x = flat[0, i0:i1].astype(work, copy=False)
                pos, tail = softplus_parts(-x if negate else x)
                val = pos + tail
                out[0, i0:i1] = -val if negate else val

    run_chunks(tiles(1, flat.size, np.dtype(work).itemsize), chunk)
    return out.reshape(arr.shape)[()]


def softplus(a: npt.ArrayLike) -> np.ndarray | np.floating:
    r"""``log(1 + exp(a))``, stable and accurate for every ``a``.

    .. math:: \operatorname{softplus}(a) = \max(a, 0) + \operatorname{log1p}(e^{-|a|})

    Parameters
    ----------
    a : array_like
        Real values; integers and booleans are promoted to float64.

    Returns
    -------
    numpy.ndarray or numpy.floating
        ``a``'s shape and float dtype; a NumPy scalar for a scalar input.

    Raises
    ------
    TypeError
        If ``a`` is not real numeric.

    See Also
    --------
    log_sigmoid

    Examples
    --------
    >>> import numpy as np
    >>> import xent
    >>> print(xent.softplus([-800.0, 0.0, 800.0]))
    [0.00000000e+00 6.93147181e-01 8.00000000e+02]
    >>> print(f"{xent.softplus(-40.0):.6e}")  # log(1 + exp(-40)) is 0 in float64
    4.248354e-18
    """
    return _elementwise(a, negate=False)


def log_sigmoid(a: npt.ArrayLike) -> np.ndarray | np.floating:
    r"""``log(1 / (1 + exp(-a)))``, stable and accurate for every ``a``.

    .. math:: \log \sigma(a) = -\operatorname{softplus}(-a)

    Parameters
    ----------
    a : array_like
        Real values; integers and booleans are promoted to float64.

    Returns
    -------
    numpy.ndarray or numpy.floating
        ``a``'s shape and float dtype; a NumPy scalar for a scalar input.

    Raises
    ------
    TypeError
        If ``a`` is not real numeric.

    See Also
    --------
    softplus

    Examples
    --------
    >>> import xent
    >>> print(xent.log_sigmoid([-800.0, 0.0, 40.0]))
    [-8.00000000e+02 -6.93147181e-01 -4.24835426e-18]
    """
    return _elementwise(a, negate=True)
