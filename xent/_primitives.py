"""logsumexp, log_softmax, softmax, softplus and log_sigmoid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _engine
from ._engine import Layout, layout_of, run_chunks, tiles
from ._kernels import _core
from ._outputs import MIN_BYTES, new_array
from ._softmax import LOG_SOFTMAX, LSE, SOFTMAX, SoftmaxCall, run_shared
from ._validation import as_real_array, check_axis, check_flag, float_dtypes


def _one_block(mode: int, a: object, axis: object, keepdims: bool) -> Any:
    """A plain call (logits of one block, or of more as one job, plainly valid) in C: the
    general path's kernel calls and results (`_core.rows_one_block`); None for any other."""
    return _core.rows_one_block(
        mode, a, axis, keepdims, _engine.BLOCK_BYTES, _engine.MIN_ROWS, new_array, MIN_BYTES,
        run_shared,
    )  # fmt: skip


def _normalized(mode: int, a: npt.ArrayLike, axis: int) -> np.ndarray:
    """softmax or log_softmax of ``a`` along ``axis``."""
    done: np.ndarray | None = _one_block(mode, a, axis, False)
    if done is not None:
        return done
    arr, layout, result, work = _softmax_input(a, axis)
    out = new_array(arr.shape, result)
    if layout.C and out.size:
        SoftmaxCall(mode, layout, work).run(arr, out=out)
    return out


def _softmax_input(
    a: npt.ArrayLike, axis: int
) -> tuple[np.ndarray, Layout, np.dtype[np.floating], np.dtype[np.floating]]:
    arr = as_real_array(a, "a")
    ax = check_axis(axis, arr.ndim, "a")
    result, work = float_dtypes(arr)
    return arr, layout_of(arr.shape, ax), result, work


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
    done: np.ndarray | np.floating | None = _one_block(LSE, a, axis, keepdims)
    if done is not None:
        return done
    arr, layout, result, work = _softmax_input(a, axis)
    out = np.full(layout.batch_shape, -np.inf, result)  # log of an empty sum, if C == 0
    if layout.C:
        SoftmaxCall(LSE, layout, work).run(arr, rows_out=out)
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
    return _normalized(LOG_SOFTMAX, a, axis)


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
    return _normalized(SOFTMAX, a, axis)


def _elementwise(a: npt.ArrayLike, negate: bool) -> np.ndarray | np.floating:
    arr = as_real_array(a, "a")
    result, work = float_dtypes(arr)
    flat = np.ravel(arr)
    out = new_array(flat.shape, result)
    direct = result == work

    def chunk(spans: Sequence[tuple[int, int, int, int]]) -> None:
        for _, _, i0, i1 in spans:
            x = np.ascontiguousarray(flat[i0:i1], dtype=work)
            dest = out[i0:i1] if direct else np.empty(i1 - i0, work)
            _core.softplus_block(x, dest, negate)
            if not direct:
                with np.errstate(over="ignore"):
                    out[i0:i1] = dest

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
