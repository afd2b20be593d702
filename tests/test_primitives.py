"""logsumexp, log_softmax, softmax, softplus and log_sigmoid.

Oracles: SciPy (``scipy.special.logsumexp``, ``log_softmax``, ``softmax``,
``log_expit``) evaluated in float64, ``np.logaddexp(0, a)`` for softplus,
closed forms (uniform input gives ``log C``), and mpmath at 50 digits for
the tails of softplus / log_sigmoid.  Tolerances are ``k * eps`` of the
dtype under test.
"""

from __future__ import annotations

import re

import mpmath
import numpy as np
import pytest
from scipy import special

import xent
from tests._reference import ulp_error

DTYPES = [np.float16, np.float32, np.float64]
DTYPE_IDS = ["f16", "f32", "f64"]

# Errors: float16 is computed in float32 and rounded once (<= 1 ulp of float16);
# float32/float64 accumulate a few roundings over a row.
K = {np.float16: 2.0, np.float32: 16.0, np.float64: 16.0}


def _check(actual, expected, dtype, scale=1.0):
    eps = K[dtype] * np.finfo(dtype).eps
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64), expected, rtol=eps, atol=eps * scale
    )


def _logits(rng, shape, dtype, scale=5.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


SHAPE_AXIS = [
    ((7,), -1),
    ((7,), 0),
    ((4, 5), -1),
    ((4, 5), 0),
    ((3, 4, 5), 1),
    ((2, 3, 4, 5), -3),
]
SHAPE_AXIS_IDS = [f"shape{s}-axis{a}" for s, a in SHAPE_AXIS]


# --------------------------------------------------------------------------- logsumexp


@pytest.mark.parametrize("keepdims", [False, True], ids=["flat", "keepdims"])
@pytest.mark.parametrize(("shape", "axis"), SHAPE_AXIS, ids=SHAPE_AXIS_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_logsumexp_matches_scipy(rng, dtype, shape, axis, keepdims):
    a = _logits(rng, shape, dtype)
    got = xent.logsumexp(a, axis=axis, keepdims=keepdims)
    want = special.logsumexp(a.astype(np.float64), axis=axis, keepdims=keepdims)
    assert np.asarray(got).dtype == dtype
    assert np.shape(got) == want.shape
    _check(got, want, dtype, scale=float(np.max(np.abs(a.astype(np.float64)))))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_logsumexp_full_reduction_is_numpy_scalar(dtype):
    got = xent.logsumexp(np.zeros(4, dtype=dtype))
    assert type(got) is np.dtype(dtype).type
    # closed form: logsumexp of C zeros is log C
    _check(got, np.log(4.0), dtype)


@pytest.mark.parametrize("n_classes", [1, 2, 10, 100_000], ids=lambda c: f"C{c}")
def test_logsumexp_uniform_is_log_c(n_classes):
    for level in (0.0, -7.5, 1e4):
        a = np.full((2, n_classes), level)
        # closed form: logsumexp of C copies of v is v + log C
        _check(xent.logsumexp(a), np.full(2, level + np.log(n_classes)), np.float64, scale=level)


def test_logsumexp_large_values_do_not_overflow():
    a = np.array([1e4, 1e4, -1e4])
    # closed form: 1e4 + log(2 + exp(-2e4)) = 1e4 + log 2 in float64
    _check(xent.logsumexp(a), 1e4 + np.log(2.0), np.float64, scale=1e4)
    a = np.array([-1e4, -1e4])
    _check(xent.logsumexp(a), -1e4 + np.log(2.0), np.float64, scale=1e4)


def test_logsumexp_many_classes_matches_scipy(rng):
    a = 3.0 * rng.standard_normal((3, 100_000))
    _check(xent.logsumexp(a), special.logsumexp(a, axis=-1), np.float64, scale=10.0)


@pytest.mark.parametrize(
    ("row", "want"),
    [
        ([-np.inf, -np.inf], -np.inf),
        ([-np.inf, 0.0], 0.0),
        ([np.inf, 0.0], np.inf),
        ([np.inf, -np.inf], np.inf),
        ([np.nan, 0.0], np.nan),
        ([np.nan, np.inf], np.nan),
    ],
    ids=["all-neginf", "neginf-and-0", "posinf", "posinf-and-neginf", "nan", "nan-and-posinf"],
)
def test_logsumexp_infinities_match_scipy(row, want):
    a = np.array(row)
    got = xent.logsumexp(a)
    assert special.logsumexp(a) == want or (np.isnan(want) and np.isnan(special.logsumexp(a)))
    np.testing.assert_equal(got, want)


def test_logsumexp_integer_and_bool_input_give_float64():
    got = xent.logsumexp(np.array([[0, 1, 2]], dtype=np.int64))
    assert got.dtype == np.float64
    _check(got, special.logsumexp([[0.0, 1.0, 2.0]], axis=-1), np.float64)
    got = xent.logsumexp(np.array([True, False]))
    assert type(got) is np.float64
    _check(got, np.log(1.0 + np.e), np.float64)


# --------------------------------------------------------------------- softmax family


@pytest.mark.parametrize(("shape", "axis"), SHAPE_AXIS, ids=SHAPE_AXIS_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_log_softmax_matches_scipy(rng, dtype, shape, axis):
    a = _logits(rng, shape, dtype)
    got = xent.log_softmax(a, axis=axis)
    want = special.log_softmax(a.astype(np.float64), axis=axis)
    assert got.dtype == dtype
    assert got.shape == a.shape
    _check(got, want, dtype, scale=float(np.max(np.abs(want))))


@pytest.mark.parametrize(("shape", "axis"), SHAPE_AXIS, ids=SHAPE_AXIS_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_softmax_matches_scipy(rng, dtype, shape, axis):
    a = _logits(rng, shape, dtype)
    got = xent.softmax(a, axis=axis)
    want = special.softmax(a.astype(np.float64), axis=axis)
    assert got.dtype == dtype
    assert got.shape == a.shape
    _check(got, want, dtype)
    _check(np.sum(got, axis=axis, dtype=np.float64), np.ones(want.sum(axis=axis).shape), dtype)


@pytest.mark.parametrize("n_classes", [2, 10, 100_000], ids=lambda c: f"C{c}")
def test_uniform_logits_closed_form(n_classes):
    a = np.full((2, n_classes), 3.25)
    # closed form: softmax of equal logits is 1/C, log_softmax is -log C
    _check(xent.softmax(a), np.full(a.shape, 1.0 / n_classes), np.float64)
    _check(xent.log_softmax(a), np.full(a.shape, -np.log(n_classes)), np.float64, scale=12.0)


def test_softmax_shift_invariance(rng):
    a = _logits(rng, (4, 6), np.float64)
    shift = 1e4 + rng.standard_normal((4, 1))
    want = special.log_softmax(a, axis=-1)
    # exact shift: adding 1e4 rounds a to a multiple of 2**-39, so compare at 1e4 * eps
    _check(xent.log_softmax(a + shift), want, np.float64, scale=1e4)
    _check(xent.softmax(a + shift), special.softmax(a, axis=-1), np.float64, scale=1e4)


def test_log_softmax_large_logits(rng):
    a = 1e4 * rng.standard_normal((5, 7))
    got = xent.log_softmax(a)
    assert np.all(np.isfinite(got))
    _check(got, special.log_softmax(a, axis=-1), np.float64, scale=float(np.max(np.abs(a))))


def test_softmax_single_posinf_is_one_hot():
    a = np.array([[0.0, np.inf, -3.0], [np.inf, -np.inf, 5.0]])
    np.testing.assert_array_equal(xent.softmax(a), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(
        xent.log_softmax(a), [[-np.inf, 0.0, -np.inf], [0.0, -np.inf, -np.inf]]
    )


def test_softmax_neginf_entry_is_zero_probability():
    a = np.array([0.0, 0.0, -np.inf])
    np.testing.assert_array_equal(xent.softmax(a), [0.5, 0.5, 0.0])
    np.testing.assert_array_equal(xent.log_softmax(a), [-np.log(2.0), -np.log(2.0), -np.inf])


@pytest.mark.parametrize(
    "row",
    [[-np.inf, -np.inf], [np.inf, np.inf, 0.0], [np.nan, 0.0]],
    ids=["all-neginf", "two-posinf", "nan"],
)
def test_softmax_undefined_rows_are_nan(row):
    a = np.array([row, [0.0] * len(row)])
    undefined = ~np.isfinite(a[0]) | np.all(np.isneginf(a[0]))
    for fn in (xent.softmax, xent.log_softmax):
        out = fn(a)
        assert np.all(np.isnan(out[0][undefined])), fn.__name__
        assert np.all(np.isfinite(out[1])), fn.__name__


# ------------------------------------------------------------- rows of two classes
#
# The kernel takes rows of two classes apart (body.h tile2_out): d = x1 - x0 and one exp and
# one log1p per row, in double lanes for both dtypes. References: mpmath at 60 digits on the
# rounded inputs (exact), in every layout the kernel reads them.


def _two_class_exact(x):
    """Exact logsumexp, log_softmax and softmax of rows (r, 2) of finite floats, as mpf: with
    m the larger entry and d >= 0 the difference, T = log1p(exp(-d)), logsumexp = m + T and
    log_softmax -T (the larger) and -d - T, at a precision that keeps every digit of T."""
    mpmath.mp.dps = 80
    lse, lsm, sm = [], [], []
    for a0, a1 in x.astype(np.float64):
        big = a1 > a0
        d = abs(mpmath.mpf(a1) - mpmath.mpf(a0))
        u = mpmath.exp(-d)
        t = mpmath.log1p(u)
        m = mpmath.mpf(a1 if big else a0)
        lse.append(m + t)
        top, other = -t, -d - t
        lsm.append([other, top] if big else [top, other])
        ptop, pother = 1 / (1 + u), u / (1 + u)
        sm.append([pother, ptop] if big else [ptop, pother])
    return np.array(lse, dtype=object), np.array(lsm, dtype=object), np.array(sm, dtype=object)


def _two_class_rows(rng, dtype):
    """Rows of every regime: close and far apart, ties, huge and tiny logits, differences
    beyond float's exponent range apart, and log-probability rows (logsumexp near 0)."""
    n = 301  # not a multiple of 8 nor of a 256-row tile
    x = 4.0 * rng.standard_normal((n, 2))
    x[:40, 1] = x[:40, 0] + rng.uniform(-1e-6, 1e-6, 40)
    x[40:50, 1] = x[40:50, 0]  # ties
    x[50:80] *= 1e3 if dtype == np.float64 else 10.0
    x[80:90, 0] = 1e30
    x[90:100, 1] = -1e-30
    p = rng.uniform(1e-6, 1.0, 100)
    x[100:200] = np.log(np.stack([p, 1.0 - p], axis=1) + 1e-300)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["pairs", "class-major", "strided", "middle-axis"])
def test_two_classes_against_mpmath(rng, dtype, layout):
    x = _two_class_rows(rng, dtype)
    lse_x, lsm_x, sm_x = _two_class_exact(x)
    if layout == "pairs":
        arr, axis = x, -1
    elif layout == "class-major":
        arr, axis = np.ascontiguousarray(x.T), 0
    elif layout == "strided":
        arr, axis = np.repeat(x, 2, axis=1)[:, ::2], -1
    else:
        arr, axis = np.ascontiguousarray(x.reshape(7, 43, 2).swapaxes(1, 2)), 1

    def back(out):
        if layout == "class-major":
            return out.T
        if layout == "middle-axis":
            return out.swapaxes(1, 2).reshape(-1, 2) if out.ndim == 3 else out.reshape(-1)
        return out

    fns = (xent.logsumexp, xent.log_softmax, xent.softmax)
    lse, lsm, sm = (back(f(arr, axis=axis)) for f in fns)
    for got in (lse, lsm, sm):
        assert got.dtype == dtype
    # logsumexp = m + log1p(u): within an ulp of its terms' size (m and log1p(u) cancel in
    # log-probability rows, whose float32 results are still within an ulp of the exact)
    m = x.astype(np.float64).max(axis=1)
    scale = np.abs(m) if dtype == np.float64 else None
    assert ulp_error(lse, lse_x, dtype, scale).max() <= 1.0
    # log_softmax: two non-positive terms (-|d| and -log1p(u)), no cancellation
    assert ulp_error(lsm, lsm_x, dtype).max() <= (1.0 if dtype == np.float32 else 2.0)
    assert ulp_error(sm, sm_x, dtype).max() <= (1.0 if dtype == np.float32 else 2.0)


def test_two_classes_float32_logsumexp_near_zero(rng):
    """Rows of float32 log-probabilities: logsumexp is the log of a sum within 2^-24 of 1,
    which the float exp of the general pass got to a few 1e-8 at best."""
    p = rng.uniform(0.01, 0.99, 200)
    x = np.log(np.stack([p, 1.0 - p], axis=1)).astype(np.float32)
    lse_x = _two_class_exact(x)[0]
    assert ulp_error(xent.logsumexp(x, axis=-1), lse_x, np.float32).max() <= 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_two_classes_special_rows(dtype):
    inf, nan = np.inf, np.nan
    rows = [
        ([0.0, inf], inf, [-inf, 0.0], [0.0, 1.0]),
        ([inf, -3.0], inf, [0.0, -inf], [1.0, 0.0]),
        ([-inf, 2.0], 2.0, [-inf, 0.0], [0.0, 1.0]),
        ([5.0, -inf], 5.0, [0.0, -inf], [1.0, 0.0]),
        ([-inf, inf], inf, [-inf, 0.0], [0.0, 1.0]),
        ([inf, inf], inf, [nan, nan], [nan, nan]),
        ([-inf, -inf], -inf, [nan, nan], [nan, nan]),
        ([nan, 1.0], nan, [nan, nan], [nan, nan]),
        ([1.0, nan], nan, [nan, nan], [nan, nan]),
        ([3.0, 3.0], 3.0 + np.log(2.0), [-np.log(2.0)] * 2, [0.5, 0.5]),
    ]
    for reps in (1, 9):  # one row alone, and in a vector of eight rows with others
        x = np.array([r[0] for r in rows] * reps, dtype=dtype)
        want_lse = np.array([r[1] for r in rows] * reps, dtype=dtype)
        want_lsm = np.array([r[2] for r in rows] * reps, dtype=dtype)
        want_sm = np.array([r[3] for r in rows] * reps, dtype=dtype)
        np.testing.assert_array_equal(xent.logsumexp(x, axis=-1), want_lse)
        np.testing.assert_array_equal(xent.log_softmax(x, axis=-1), want_lsm)
        np.testing.assert_array_equal(xent.softmax(x, axis=-1), want_sm)
        # exact zeros are +0 (log 1, a probability of 1 - 0)
        lsm = xent.log_softmax(x, axis=-1)[:5]
        assert not np.signbit(lsm[lsm == 0.0]).any()


# ------------------------------------------------------------- softplus / log_sigmoid


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_softplus_and_log_sigmoid_match_references(rng, dtype):
    a = np.concatenate([_logits(rng, (50,), np.float64, 20.0), [0.0, -30.0, 30.0]]).astype(dtype)
    a64 = a.astype(np.float64)
    sp = xent.softplus(a)
    ls = xent.log_sigmoid(a)
    assert sp.dtype == dtype
    assert ls.dtype == dtype
    # softplus(a) = log(1 + e^a) = logaddexp(0, a); log_sigmoid(a) = -softplus(-a) = log_expit(a)
    _check(sp, np.logaddexp(0.0, a64), dtype)
    _check(ls, special.log_expit(a64), dtype)


@pytest.mark.parametrize(
    "x", [-745.0, -700.0, -40.0, -20.0, -1e-8, 0.0, 1e-8, 1.0, 20.0, 40.0, 700.0, 1e4]
)
def test_softplus_log_sigmoid_tails_match_mpmath(x):
    mpmath.mp.dps = 50
    want_sp = float(mpmath.log1p(mpmath.exp(mpmath.mpf(x))))
    want_ls = float(-mpmath.log1p(mpmath.exp(-mpmath.mpf(x))))
    got_sp = xent.softplus(np.float64(x))
    got_ls = xent.log_sigmoid(np.float64(x))
    assert type(got_sp) is np.float64
    assert type(got_ls) is np.float64
    # relative accuracy even in the tails, where log(1 + exp(x)) rounds to 0
    for got, want in ((got_sp, want_sp), (got_ls, want_ls)):
        if want == 0.0:
            assert got == 0.0
        else:
            np.testing.assert_allclose(got, want, rtol=4 * np.finfo(np.float64).eps, atol=0.0)


def test_softplus_infinities_and_nan():
    a = np.array([-np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(xent.softplus(a), [0.0, np.inf, np.nan])
    np.testing.assert_array_equal(xent.log_sigmoid(a), [-np.inf, 0.0, np.nan])


def test_softplus_closed_forms():
    # softplus(0) = log 2, softplus(x) - softplus(-x) = x
    _check(xent.softplus(0.0), np.log(2.0), np.float64)
    x = np.linspace(-30, 30, 61)
    _check(xent.softplus(x) - xent.softplus(-x), x, np.float64, scale=30.0)


def test_softplus_integer_input_gives_float64():
    got = xent.softplus(np.arange(3))
    assert got.dtype == np.float64
    _check(got, np.logaddexp(0.0, np.arange(3.0)), np.float64)


# ------------------------------------------------------ inputs: writeback and layout

PRIMITIVES = [
    ("logsumexp", lambda a: xent.logsumexp(a, axis=0)),
    ("log_softmax", lambda a: xent.log_softmax(a, axis=0)),
    ("softmax", lambda a: xent.softmax(a, axis=0)),
    ("softplus", xent.softplus),
    ("log_sigmoid", xent.log_sigmoid),
]


@pytest.mark.parametrize("fn", [f for _, f in PRIMITIVES], ids=[n for n, _ in PRIMITIVES])
def test_primitives_leave_inputs_unchanged_and_accept_read_only(rng, fn):
    a = _logits(rng, (6, 5), np.float64)
    before = a.copy()
    want = fn(a)
    np.testing.assert_array_equal(a, before)
    a.flags.writeable = False
    np.testing.assert_array_equal(fn(a), want)


@pytest.mark.parametrize("fn", [f for _, f in PRIMITIVES], ids=[n for n, _ in PRIMITIVES])
def test_primitives_non_contiguous_equal_contiguous(rng, fn):
    base = _logits(rng, (12, 10), np.float64)
    for view in (base[::2, ::3], base.T, base[:, 1::2].T):
        assert not view.flags.c_contiguous
        np.testing.assert_array_equal(fn(view), fn(np.ascontiguousarray(view)))


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((30_000, 7), -1), ((6_000, 40), -1), ((7, 30_000), 0), ((2, 6, 12_000), 1), ((300, 6, 2), 1)],
    ids=["rows-C7", "rows-C40", "classes-first", "middle-long-tail", "middle-short-tail"],
)
def test_large_inputs_match_scipy(rng, shape, axis):
    """Inputs that span many blocks of the engine, in each of its layouts."""
    a = _logits(rng, shape, np.float64)
    _check(xent.logsumexp(a, axis=axis), special.logsumexp(a, axis=axis), np.float64, scale=30.0)
    _check(
        xent.log_softmax(a, axis=axis), special.log_softmax(a, axis=axis), np.float64, scale=60.0
    )
    _check(xent.softmax(a, axis=axis), special.softmax(a, axis=axis), np.float64)
    b = a.reshape(-1)
    _check(xent.softplus(b), np.logaddexp(0.0, b), np.float64)


@pytest.mark.parametrize(
    ("shape", "axis"), [((2, 0), -1), ((0, 3), 0)], ids=["empty-last-axis", "empty-first-axis"]
)
@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
def test_empty_reduction_axis(name, shape, axis):
    """An empty axis is either computed (log of an empty sum is -inf; softmax of nothing is
    empty) or rejected by a message that names the argument ``a`` (contract: bad input ->
    ValueError naming the argument); never a bare NumPy reduction error."""
    fn = getattr(xent, name)
    a = np.zeros(shape)
    try:
        out, message = fn(a, axis=axis), None
    except ValueError as err:
        out, message = None, str(err)
    if message is not None:
        assert re.match(r"^(a |axis )", message), message
        return
    if name == "logsumexp":
        np.testing.assert_array_equal(out, np.full(np.delete(shape, axis), -np.inf))
    else:
        assert out.shape == shape
