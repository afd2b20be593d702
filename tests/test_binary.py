"""binary_cross_entropy: values, gradients, identities, limits and dtypes.

Oracles: the worked example ``L(1, 0.9) = -log 0.9``; the textbook float64
formula ``-(pw y log p + (1 - y) log(1 - p))`` on safe inputs, with
``log p = scipy.special.log_expit(z)`` and ``log(1 - p) = log_expit(-z)``
for logits; scikit-learn's ``log_loss``; 4th-order central differences for
gradients; the 2-class categorical loss with logits ``[0, z]``.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from scipy import special

import xent
from tests._reference import as_bits
from xent._kernels import _core

EPS64 = np.finfo(np.float64).eps
REDUCTIONS = ["none", "sum", "mean"]
DTYPES = [np.float16, np.float32, np.float64]
DTYPE_IDS = ["f16", "f32", "f64"]
SHAPE = (4, 3)


def reference(
    y,
    y_pred,
    *,
    from_logits,
    pos_weight=None,
    sample_weight=None,
    label_smoothing=0.0,
    reduction="mean",
):
    """The contract's formula in float64 (safe inputs only: no 0 * log 0)."""
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(y_pred, dtype=np.float64)
    y = y * (1.0 - label_smoothing) + label_smoothing / 2.0
    if from_logits:
        log_p, log_1mp = special.log_expit(x), special.log_expit(-x)
    else:
        log_p, log_1mp = np.log(x), np.log1p(-x)
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight, dtype=np.float64)
    loss = -(pw * y * log_p + (1.0 - y) * log_1mp)
    s = np.broadcast_to(
        1.0 if sample_weight is None else np.asarray(sample_weight, float), loss.shape
    )
    if reduction == "none":
        return s * loss
    if reduction == "sum":
        return np.sum(s * loss)
    total = np.sum(s)
    return np.sum(s * loss) / total if total > 0 else 0.0


def make_inputs(rng, shape=SHAPE, from_logits=True, soft=True):
    y = rng.uniform(0.0, 1.0, shape) if soft else rng.integers(0, 2, shape).astype(np.float64)
    x = 3.0 * rng.standard_normal(shape) if from_logits else rng.uniform(0.05, 0.95, shape)
    return y, x


def pos_weights(kind, rng):
    return {"none": None, "scalar": 2.5, "per-column": rng.uniform(0.5, 3.0, SHAPE[-1])}[kind]


def sample_weights(kind, rng):
    return {
        "none": None,
        "per-row": rng.uniform(0.0, 2.0, (SHAPE[0], 1)),
        "full": rng.uniform(0.0, 2.0, SHAPE),
    }[kind]


OPTIONS = list(
    itertools.product(
        [True, False],
        ["none", "scalar", "per-column"],
        ["none", "per-row", "full"],
        [0.0, 0.2],
        REDUCTIONS,
    )
)
OPTION_IDS = [
    f"{'logits' if fl else 'probs'}-pw_{pw}-sw_{sw}-ls{ls}-{red}" for fl, pw, sw, ls, red in OPTIONS
]


# ------------------------------------------------------------------ closed forms


def test_worked_example_from_probabilities():
    got = xent.binary_cross_entropy(1.0, 0.9)
    assert type(got) is np.float64
    # worked example of the contract: L(1, 0.9) = -log 0.9
    np.testing.assert_allclose(got, -np.log(0.9), rtol=2 * EPS64)
    got = xent.binary_cross_entropy(np.array([1.0]), np.array([0.9]), reduction="none")
    assert got.shape == (1,)
    np.testing.assert_allclose(got, [-np.log(0.9)], rtol=2 * EPS64)


def test_zero_logit_gives_log_2():
    # sigmoid(0) = 1/2, so any target y gives -(y + 1 - y) log(1/2) = log 2
    got = xent.binary_cross_entropy(
        np.array([0.0, 1.0, 0.3]), np.zeros(3), from_logits=True, reduction="none"
    )
    np.testing.assert_allclose(got, np.full(3, np.log(2.0)), rtol=2 * EPS64)


def test_sklearn_log_loss(rng):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y = rng.integers(0, 2, 50)
    p = rng.uniform(0.01, 0.99, 50)
    w = rng.uniform(0.1, 2.0, 50)
    np.testing.assert_allclose(
        xent.binary_cross_entropy(y, p), sklearn_metrics.log_loss(y, p), rtol=16 * EPS64
    )
    np.testing.assert_allclose(
        xent.binary_cross_entropy(y, p, sample_weight=w),
        sklearn_metrics.log_loss(y, p, sample_weight=w),
        rtol=16 * EPS64,
    )
    np.testing.assert_allclose(
        xent.binary_cross_entropy(y, p, reduction="sum"),
        sklearn_metrics.log_loss(y, p, normalize=False),
        rtol=16 * EPS64,
    )


# --------------------------------------------------- every option vs the reference


@pytest.mark.parametrize(
    ("from_logits", "pw", "sw", "smoothing", "reduction"), OPTIONS, ids=OPTION_IDS
)
def test_matches_reference(rng, from_logits, pw, sw, smoothing, reduction):
    y, x = make_inputs(rng, from_logits=from_logits)
    kwargs = {
        "pos_weight": pos_weights(pw, rng),
        "sample_weight": sample_weights(sw, rng),
        "label_smoothing": smoothing,
        "reduction": reduction,
    }
    got = xent.binary_cross_entropy(y, x, from_logits=from_logits, **kwargs)
    want = reference(y, x, from_logits=from_logits, **kwargs)
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=32 * EPS64, atol=32 * EPS64)
    loss, grad = xent.binary_cross_entropy(
        y, x, from_logits=from_logits, return_grad=True, **kwargs
    )
    np.testing.assert_array_equal(loss, got)
    assert grad.shape == x.shape
    assert grad.dtype == np.float64


@pytest.mark.parametrize(
    ("from_logits", "pw", "sw", "smoothing", "reduction"), OPTIONS, ids=OPTION_IDS
)
def test_gradient_finite_differences(rng, fd, from_logits, pw, sw, smoothing, reduction):
    y, x = make_inputs(rng, from_logits=from_logits)
    kwargs = {
        "from_logits": from_logits,
        "pos_weight": pos_weights(pw, rng),
        "sample_weight": sample_weights(sw, rng),
        "label_smoothing": smoothing,
        "reduction": reduction,
    }
    _, grad = xent.binary_cross_entropy(y, x, return_grad=True, **kwargs)

    def f(v):
        return np.sum(xent.binary_cross_entropy(y, v, **kwargs))

    # probabilities stay in [0.05 - 2h, 0.95 + 2h] inside (0, 1); no row constraint here
    h = 1e-3 if from_logits else 1e-4
    want = fd(f, x, h)
    np.testing.assert_allclose(grad, want, rtol=1e-8, atol=1e-9)


def test_gradient_closed_form_from_logits(rng):
    # d/dz -(pw y log s(z) + (1-y) log(1-s(z))) = (pw y + 1 - y) s(z) - pw y
    y, z = make_inputs(rng)
    pw = 1.7
    _, grad = xent.binary_cross_entropy(
        y, z, from_logits=True, pos_weight=pw, reduction="sum", return_grad=True
    )
    want = (pw * y + 1.0 - y) * special.expit(z) - pw * y
    np.testing.assert_allclose(grad, want, rtol=8 * EPS64, atol=8 * EPS64)


def test_gradient_closed_form_from_probabilities(rng):
    # d/dp -(pw y log p + (1-y) log(1-p)) = -pw y / p + (1 - y) / (1 - p), then / sum(s) for mean
    y, p = make_inputs(rng, from_logits=False)
    s = rng.uniform(0.5, 1.5, SHAPE)
    _, grad = xent.binary_cross_entropy(y, p, sample_weight=s, pos_weight=0.5, return_grad=True)
    want = s * (-0.5 * y / p + (1.0 - y) / (1.0 - p)) / s.sum()
    np.testing.assert_allclose(grad, want, rtol=16 * EPS64)


# ------------------------------------------------------------------- identities


# with pos_weight the means differ by design: binary divides by sum(s), categorical by
# sum(s cw y), so "mean" is compared without pos_weight only
TWO_CLASS = [
    (red, pw, ls)
    for red, pw, ls in itertools.product(REDUCTIONS, ["none", "scalar", "per-column"], [0.0, 0.1])
    if red != "mean" or pw == "none"
]


@pytest.mark.parametrize(
    ("reduction", "pw", "smoothing"),
    TWO_CLASS,
    ids=[f"{red}-pw_{pw}-ls{ls}" for red, pw, ls in TWO_CLASS],
)
def test_equals_two_class_categorical(rng, reduction, pw, smoothing):
    """Binary from logits z is categorical with logits [0, z], targets [1-y, y], cw [1, pw]."""
    y, z = make_inputs(rng)
    pos_weight = pos_weights(pw, rng)
    s = rng.uniform(0.1, 2.0, SHAPE)
    logits = np.stack([np.zeros_like(z), z], axis=-1)
    targets = np.stack([1.0 - y, y], axis=-1)
    if pos_weight is None:
        b_loss, b_grad = xent.binary_cross_entropy(
            y,
            z,
            from_logits=True,
            sample_weight=s,
            label_smoothing=smoothing,
            reduction=reduction,
            return_grad=True,
        )
        c_loss, c_grad = xent.categorical_cross_entropy(
            targets,
            logits,
            from_logits=True,
            sample_weight=s,
            label_smoothing=smoothing,
            reduction=reduction,
            return_grad=True,
        )
    else:
        # class weights are per class, pos_weight per column: compare one column at a time
        # with class weights [1, pw_j]
        pwb = np.broadcast_to(pos_weight, SHAPE)
        b_loss, b_grad = xent.binary_cross_entropy(
            y,
            z,
            from_logits=True,
            pos_weight=pos_weight,
            sample_weight=s,
            label_smoothing=smoothing,
            reduction="none",
            return_grad=True,
        )
        c_loss = np.empty(SHAPE)
        c_grad = np.empty((*SHAPE, 2))
        for j in range(SHAPE[1]):
            c_loss[:, j], c_grad[:, j] = xent.categorical_cross_entropy(
                targets[:, j],
                logits[:, j],
                from_logits=True,
                class_weight=[1.0, pwb[0, j]],
                sample_weight=s[:, j],
                label_smoothing=smoothing,
                reduction="none",
                return_grad=True,
            )
        if reduction == "sum":
            b_loss, c_loss = np.sum(b_loss), np.sum(c_loss)
    np.testing.assert_allclose(b_loss, c_loss, rtol=16 * EPS64, atol=16 * EPS64)
    # d/dz of categorical([0, z]) is the second column; the first column is its negative
    np.testing.assert_allclose(b_grad, c_grad[..., 1], rtol=16 * EPS64, atol=16 * EPS64)
    np.testing.assert_allclose(c_grad[..., 0], -c_grad[..., 1], rtol=16 * EPS64, atol=16 * EPS64)


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_sum_is_sum_of_none_and_mean_is_weighted_average(rng, from_logits):
    y, x = make_inputs(rng, from_logits=from_logits)
    s = rng.uniform(0.0, 2.0, SHAPE)
    kw = {"from_logits": from_logits, "sample_weight": s, "pos_weight": 1.5}
    none, g_none = xent.binary_cross_entropy(y, x, reduction="none", return_grad=True, **kw)
    total, g_sum = xent.binary_cross_entropy(y, x, reduction="sum", return_grad=True, **kw)
    mean, g_mean = xent.binary_cross_entropy(y, x, reduction="mean", return_grad=True, **kw)
    np.testing.assert_allclose(total, none.sum(), rtol=8 * EPS64)
    np.testing.assert_allclose(mean, none.sum() / s.sum(), rtol=8 * EPS64)
    np.testing.assert_allclose(g_sum, g_none, rtol=4 * EPS64)
    np.testing.assert_allclose(g_mean, g_none / s.sum(), rtol=8 * EPS64)


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_weighted_none_is_weight_times_unweighted(rng, from_logits):
    y, x = make_inputs(rng, from_logits=from_logits)
    s = rng.uniform(0.0, 2.0, SHAPE)
    plain, g_plain = xent.binary_cross_entropy(
        y, x, from_logits=from_logits, reduction="none", return_grad=True
    )
    weighted, g_weighted = xent.binary_cross_entropy(
        y, x, from_logits=from_logits, sample_weight=s, reduction="none", return_grad=True
    )
    np.testing.assert_allclose(weighted, s * plain, rtol=4 * EPS64)
    np.testing.assert_allclose(g_weighted, s * g_plain, rtol=4 * EPS64)


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_zero_total_weight_mean_is_zero_with_zero_grad(rng, from_logits):
    y, x = make_inputs(rng, from_logits=from_logits)
    loss, grad = xent.binary_cross_entropy(
        y, x, from_logits=from_logits, sample_weight=np.zeros(SHAPE), return_grad=True
    )
    assert loss == 0.0
    assert type(loss) is np.float64
    np.testing.assert_array_equal(grad, np.zeros(SHAPE))


def test_probabilities_equal_sigmoid_of_logits(rng):
    y, z = make_inputs(rng)
    z = np.clip(z, -5, 5)
    np.testing.assert_allclose(
        xent.binary_cross_entropy(y, special.expit(z), reduction="none"),
        xent.binary_cross_entropy(y, z, from_logits=True, reduction="none"),
        rtol=1e-13,
    )


# ------------------------------------------------------------- limits and extremes


@pytest.mark.parametrize(
    ("y", "z", "want"),
    [
        (1.0, np.inf, 0.0),
        (0.0, -np.inf, 0.0),
        (0.0, np.inf, np.inf),
        (1.0, -np.inf, np.inf),
        (0.5, np.inf, np.inf),
        (0.5, -np.inf, np.inf),
    ],
    ids=["y1-posinf", "y0-neginf", "y0-posinf", "y1-neginf", "y.5-posinf", "y.5-neginf"],
)
def test_infinite_logits_give_exact_limits(y, z, want):
    loss = xent.binary_cross_entropy(
        np.array([y]), np.array([z]), from_logits=True, reduction="none"
    )
    assert loss[0] == want
    if want == 0.0:
        _, grad = xent.binary_cross_entropy(
            np.array([y]), np.array([z]), from_logits=True, return_grad=True
        )
        assert grad[0] == 0.0


@pytest.mark.parametrize(
    ("y", "p", "want"),
    [(1.0, 0.0, np.inf), (0.0, 1.0, np.inf), (0.0, 0.0, 0.0), (1.0, 1.0, 0.0), (0.5, 0.0, np.inf)],
    ids=["y1-p0", "y0-p1", "y0-p0", "y1-p1", "y.5-p0"],
)
def test_probability_endpoints(y, p, want):
    """No clipping: -log 0 = inf, and 0 log 0 = 0."""
    loss = xent.binary_cross_entropy(np.array([y]), np.array([p]), reduction="none")
    assert loss[0] == want


def test_smoothing_with_certain_prediction_is_infinite():
    # y = 1 smoothed by 0.2 gives y' = 0.9, so (1 - y') log(1 - 1) = -inf: no clipping
    loss = xent.binary_cross_entropy(
        np.array([1.0]), np.array([1.0]), label_smoothing=0.2, reduction="none"
    )
    assert loss[0] == np.inf


def test_extreme_probabilities_are_accurate():
    p = np.array([1e-300, 1e-300, 1.0 - 1e-12, 1.0 - 1e-12])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    got = xent.binary_cross_entropy(y, p, reduction="none")
    # -log p, -log1p(-p) with 1 - p exact in float64 (Sterbenz) for p = 1 - 1e-12
    one_minus = 1.0 - p[2]
    want = np.array([-np.log(1e-300), 1e-300, -np.log1p(-one_minus), -np.log(one_minus)])
    np.testing.assert_allclose(got, want, rtol=4 * EPS64, atol=0.0)


@pytest.mark.parametrize("scale", [1e4, 1e300], ids=["1e4", "1e300"])
def test_huge_logits(scale):
    z = np.array([scale, scale, -scale, -scale])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    got = xent.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    # softplus(-x) = exp(-x) rounds to 0 and softplus(x) = x for x >= 1e4
    np.testing.assert_array_equal(got, [0.0, scale, scale, 0.0])


def test_moderate_logits_are_accurate_in_the_tail():
    # y = 1, z = 40: loss = log1p(exp(-40)) = exp(-40) (1 - exp(-40)/2 ...) to full precision
    got = xent.binary_cross_entropy(
        np.array([1.0]), np.array([40.0]), from_logits=True, reduction="none"
    )
    np.testing.assert_allclose(got, [np.exp(-40.0)], rtol=4 * EPS64)


def test_nan_propagates():
    y = np.array([1.0, 0.0, 1.0])
    z = np.array([0.5, np.nan, -0.5])
    none = xent.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    assert np.isnan(none[1])
    assert np.all(np.isfinite(none[[0, 2]]))
    assert np.isnan(xent.binary_cross_entropy(y, z, from_logits=True))


# ----------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dtype_is_preserved(rng, dtype, from_logits, reduction):
    y, x = make_inputs(rng, from_logits=from_logits)
    xd = x.astype(dtype)
    loss, grad = xent.binary_cross_entropy(
        y, xd, from_logits=from_logits, reduction=reduction, return_grad=True
    )
    want = reference(y, xd.astype(np.float64), from_logits=from_logits, reduction=reduction)
    if reduction == "none":
        assert loss.dtype == dtype
        assert loss.shape == SHAPE
    else:
        assert type(loss) is np.dtype(dtype).type
    assert grad.dtype == dtype
    assert grad.shape == SHAPE
    # float16 is computed in float32 and rounded once
    k = 4 if dtype == np.float16 else 64
    np.testing.assert_allclose(
        np.asarray(loss, np.float64),
        want,
        rtol=k * np.finfo(dtype).eps,
        atol=k * np.finfo(dtype).eps,
    )


@pytest.mark.parametrize("int_dtype", [np.int8, np.int64, np.bool_], ids=["i8", "i64", "bool"])
def test_integer_and_bool_predictions_give_float64(int_dtype):
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([1, 0, 1]).astype(int_dtype)
    loss, grad = xent.binary_cross_entropy(y, p, return_grad=True)
    assert type(loss) is np.float64
    assert loss == 0.0
    assert grad.dtype == np.float64
    z = np.array([2, -1, 0]).astype(int_dtype)
    got = xent.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    assert got.dtype == np.float64
    np.testing.assert_allclose(
        got, reference(y, z, from_logits=True, reduction="none"), rtol=4 * EPS64
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_label_and_weight_dtypes_do_not_change_result_dtype(rng, dtype):
    y, x = make_inputs(rng, soft=False)
    x = x.astype(dtype)
    for y_cast in (y.astype(np.int64), y.astype(bool), y.astype(np.float16), y.astype(np.float64)):
        for w_dtype in (np.float16, np.float64, np.int32):
            w = np.ones(SHAPE, dtype=w_dtype)
            loss, grad = xent.binary_cross_entropy(
                y_cast,
                x,
                from_logits=True,
                sample_weight=w,
                pos_weight=np.ones(3, dtype=w_dtype),
                return_grad=True,
            )
            assert type(loss) is np.dtype(dtype).type
            assert grad.dtype == dtype


# ------------------------------------------------------------------ input handling


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_inputs_unchanged_and_read_only_accepted(rng, from_logits):
    y, x = make_inputs(rng, from_logits=from_logits)
    s = rng.uniform(0.1, 1.0, SHAPE)
    pw = rng.uniform(0.5, 2.0, SHAPE[-1])
    arrays = [y, x, s, pw]
    before = [a.copy() for a in arrays]
    kw = {"from_logits": from_logits, "sample_weight": s, "pos_weight": pw, "label_smoothing": 0.1}
    want = {}
    for reduction in REDUCTIONS:
        want[reduction] = xent.binary_cross_entropy(
            y, x, reduction=reduction, return_grad=True, **kw
        )
        for a, b in zip(arrays, before, strict=False):
            np.testing.assert_array_equal(a, b)
    for a in arrays:
        a.flags.writeable = False
    for reduction in REDUCTIONS:
        loss, grad = xent.binary_cross_entropy(y, x, reduction=reduction, return_grad=True, **kw)
        np.testing.assert_array_equal(loss, want[reduction][0])
        np.testing.assert_array_equal(grad, want[reduction][1])


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_non_contiguous_equal_contiguous(rng, from_logits):
    y, x = make_inputs(rng, shape=(8, 6), from_logits=from_logits)
    s = rng.uniform(0.1, 1.0, (8, 6))
    for view in (np.s_[::2, ::3], np.s_[1::3, :]):
        args = (y[view], x[view])
        kw = {
            "from_logits": from_logits,
            "sample_weight": s[view],
            "reduction": "none",
            "return_grad": True,
        }
        got = xent.binary_cross_entropy(*args, **kw)
        kw["sample_weight"] = np.ascontiguousarray(s[view])
        want = xent.binary_cross_entropy(*(np.ascontiguousarray(a) for a in args), **kw)
        np.testing.assert_allclose(got[0], want[0], rtol=4 * EPS64, atol=0)
        np.testing.assert_allclose(got[1], want[1], rtol=4 * EPS64, atol=0)
    got = xent.binary_cross_entropy(y.T, x.T, from_logits=from_logits, reduction="none")
    want = xent.binary_cross_entropy(
        y.T.copy(), x.T.copy(), from_logits=from_logits, reduction="none"
    )
    np.testing.assert_allclose(got, want, rtol=4 * EPS64, atol=0)


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("shape", [(200_000,), (400, 500), (3, 20_000, 4)], ids=["1d", "2d", "3d"])
def test_large_inputs_match_reference(rng, shape, from_logits):
    """Inputs that span many blocks of the engine."""
    y, x = make_inputs(rng, shape=shape, from_logits=from_logits)
    kw = {
        "pos_weight": rng.uniform(0.5, 2.0, shape[-1]),
        "sample_weight": rng.uniform(0.0, 2.0, (*shape[:-1], 1)),
        "label_smoothing": 0.1,
    }
    for reduction in ("none", "mean"):
        got = xent.binary_cross_entropy(y, x, from_logits=from_logits, reduction=reduction, **kw)
        want = reference(y, x, from_logits=from_logits, reduction=reduction, **kw)
        # a sum of n positive terms in another order: at most n eps apart
        k = 32 if reduction == "none" else 32 + x.size
        np.testing.assert_allclose(got, want, rtol=k * EPS64, atol=k * EPS64)


def test_empty_input():
    for reduction, want in (("sum", 0.0), ("mean", 0.0)):
        loss, grad = xent.binary_cross_entropy(
            np.zeros(0), np.zeros(0, np.float32), reduction=reduction, return_grad=True
        )
        assert type(loss) is np.float32
        assert loss == want
        assert grad.shape == (0,)
    assert xent.binary_cross_entropy(
        np.zeros((0, 2)), np.zeros((0, 2)), reduction="none"
    ).shape == (0, 2)


@pytest.mark.parametrize("s_shape", [(), (1,), (3,), (4, 1), (4, 3)], ids=lambda s: f"s{s}")
@pytest.mark.parametrize(
    "pw_shape", [(), (1,), (3,), (4, 1), (1, 3), (4, 3), (1, 1)], ids=lambda s: f"pw{s}"
)
def test_weights_broadcast(rng, s_shape, pw_shape):
    """pos_weight and sample_weight broadcast to y_pred's shape (PyTorch's rule for
    pos_weight): the same result as the weights spelled out in full, and as the reference."""
    y, z = make_inputs(rng)
    s = rng.uniform(0.1, 2.0, s_shape)
    pw = rng.uniform(0.5, 2.0, pw_shape)
    for reduction in REDUCTIONS:
        got = xent.binary_cross_entropy(
            y,
            z,
            from_logits=True,
            sample_weight=s,
            pos_weight=pw,
            reduction=reduction,
            return_grad=True,
        )
        want = xent.binary_cross_entropy(
            y,
            z,
            from_logits=True,
            sample_weight=np.broadcast_to(s, SHAPE).copy(),
            pos_weight=np.broadcast_to(pw, SHAPE).copy(),
            reduction=reduction,
            return_grad=True,
        )
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        ref = reference(y, z, from_logits=True, pos_weight=pw, sample_weight=s, reduction=reduction)
        np.testing.assert_allclose(got[0], ref, rtol=16 * EPS64)


@pytest.mark.parametrize(
    ("shape", "pw_shape"),
    [((3, 1), (3, 1)), ((2, 5, 3), (2, 1, 3)), ((2, 5, 3), (5, 1)), ((70_000,), (70_000,))],
    ids=["column-of-column", "rows-and-classes", "middle-axis", "long-vector"],
)
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_pos_weight_of_any_broadcasting_shape(rng, shape, pw_shape, from_logits):
    """A pos_weight that is not a scalar or a last-axis vector (PyTorch's own test calls the
    loss with a (3, 1) pos_weight on (3, 1) targets) against the formula, every reduction."""
    y, x = make_inputs(rng, shape, from_logits)
    pw = rng.uniform(0.2, 3.0, pw_shape)
    for reduction in REDUCTIONS:
        got, grad = xent.binary_cross_entropy(
            y, x, from_logits=from_logits, pos_weight=pw, reduction=reduction, return_grad=True
        )
        want = reference(y, x, from_logits=from_logits, pos_weight=pw, reduction=reduction)
        np.testing.assert_allclose(got, want, rtol=16 * EPS64)
        assert grad.shape == shape
    # the gradient of the sum, entry by entry: -q y (1 - p) + (1 - y) p from logits
    _, grad = xent.binary_cross_entropy(
        y, x, from_logits=from_logits, pos_weight=pw, reduction="sum", return_grad=True
    )
    q = np.broadcast_to(pw, shape)
    if from_logits:
        p = special.expit(x)
        want_g = -q * y * (1 - p) + (1 - y) * p
    else:
        want_g = -q * y / x + (1 - y) / (1 - x)
    np.testing.assert_allclose(grad, want_g, rtol=64 * EPS64, atol=64 * EPS64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_zero_dim_input_gives_numpy_scalar(dtype, reduction):
    """A 0-d result is a NumPy scalar of the result dtype for every reduction (contract:
    "Scalars are NumPy scalars"; STYLE: 0-d results as ``out[()]``)."""
    loss, grad = xent.binary_cross_entropy(
        1.0, np.array(0.9, dtype=dtype), reduction=reduction, return_grad=True
    )
    assert type(loss) is np.dtype(dtype).type
    np.testing.assert_allclose(loss, -np.log(np.float64(dtype(0.9))), rtol=4 * np.finfo(dtype).eps)
    assert np.shape(grad) == ()
    assert grad.dtype == dtype


@pytest.mark.parametrize(
    "scale", [1e-300, 1e-310, 1e300], ids=["1e-300", "1e-310-subnormal", "1e300"]
)
def test_mean_is_invariant_to_weight_scale(rng, scale):
    """mean = sum(s l) / sum(s) and its gradient do not change when s is scaled."""
    y, z = make_inputs(rng)
    s = rng.uniform(0.5, 2.0, SHAPE)
    want, want_grad = xent.binary_cross_entropy(
        y, z, from_logits=True, sample_weight=s, return_grad=True
    )
    got, grad = xent.binary_cross_entropy(
        y, z, from_logits=True, sample_weight=s * scale, return_grad=True
    )
    # weights near 1e-310 keep ~13 significant digits
    np.testing.assert_allclose(got, want, rtol=1e-11)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-11, atol=1e-11)


def test_label_dtypes_agree():
    """float32 labels are read as they are, others converted: the same loss and gradient."""
    rng = np.random.default_rng(77)
    x = rng.normal(0.0, 4.0, (300, 7)).astype(np.float32)
    y = rng.integers(0, 2, x.shape)
    results = [
        xent.binary_cross_entropy(y.astype(dt), x, from_logits=True, return_grad=True)
        for dt in (np.float32, np.float64, np.int64, np.bool_, np.float16)
    ]
    for loss, grad in results[1:]:
        assert loss == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])


@pytest.mark.parametrize("label_dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (1.5, "y_true has values outside [0, 1] (first: 1.5 at index (700001,))."),
        (-0.25, "y_true has values outside [0, 1] (first: -0.25 at index (700001,))."),
        (np.nan, "y_true holds NaN at index (700001,); labels must be numbers."),
    ],
)
def test_labels_checked_in_every_tile(label_dtype, bad, message):
    """The kernel's pass checks the labels of every tile (here the third of quarter-million
    element tiles); the message names the first bad entry."""
    y = np.zeros(800_000, label_dtype)
    y[700_001] = bad
    y[700_005] = 2.0
    x = np.zeros(800_000, np.float32)
    with pytest.raises(ValueError, match=re.escape(message)):
        xent.binary_cross_entropy(y, x, from_logits=True)


def test_probabilities_checked_in_every_tile():
    x = np.full(800_000, 0.5)
    x[650_000] = np.nan  # NaN passes: it propagates to the result
    assert np.isnan(xent.binary_cross_entropy(np.zeros(800_000), x))
    x[700_001] = 1.25
    with pytest.raises(ValueError, match=re.escape("(first: 1.25 at index (700001,))")):
        xent.binary_cross_entropy(np.zeros(800_000), x)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("label_dtype", [np.float32, np.float64], ids=["y32", "y64"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    "shape", [(300_007,), (700, 900), (2, 150_001)], ids=["1d", "rows", "long"]
)
def test_whole_array_job_equals_tile_by_tile(rng, shape, dtype, label_dtype, threads):
    """Contiguous arrays (weights too, of the batch's shape) run their tiles as one job in C
    (`_core.SharedBinary`); the same values through strided views take the tiles one by one
    from Python: the same kernel calls, the same bits, for every option and thread count."""
    x = (3.0 * rng.standard_normal(shape)).astype(dtype)
    p = special.expit(x.astype(np.float64)).astype(dtype)
    y = (rng.random(shape) < 0.5).astype(label_dtype)
    y.reshape(-1)[::7] = 0.25

    def strided(a):
        return np.repeat(a, 2, axis=-1)[..., ::2]

    w = rng.uniform(0.0, 2.0, shape)
    options = [
        {"from_logits": True},
        {"from_logits": True, "return_grad": True, "reduction": "sum"},
        {"from_logits": True, "label_smoothing": 0.1, "focal_gamma": 2.0, "focal_alpha": 0.25},
        {"from_logits": False, "return_grad": True},
        {"from_logits": True, "return_grad": True, "sample_weight": w, "pos_weight": 1.0 + w},
    ]
    try:
        xent.set_num_threads(threads)
        for kw in options:
            pred = x if kw["from_logits"] else p
            got = xent.binary_cross_entropy(y, pred, **kw)
            want = xent.binary_cross_entropy(strided(y), strided(pred), **kw)
            assert as_bits(got) == as_bits(want), kw
    finally:
        xent.set_num_threads(None)


def test_shared_binary_refuses_what_it_cannot_read():
    x = np.zeros(10, np.float32)
    y = np.zeros(10, np.float32)
    bounds = np.array([0, 4, 10], np.int64)
    args = (0.0, 1.0, True, 0.0, -1.0)
    Job = _core.SharedBinary
    msg = "x and y must be contiguous, y float32 or float64 of x's size"
    for xx, yy in ((x[::2], y[::2]), (x, y[:5]), (x, y.astype(np.int32))):
        with pytest.raises(TypeError, match=re.escape(msg)):
            Job(xx, yy, None, *args, np.array([0, xx.size], np.int64))
    with pytest.raises(TypeError, match=re.escape("grad must be contiguous with x's dtype")):
        Job(x, y, np.zeros(10), *args, bounds)
    msg = "pw and sw must be contiguous float64 of x's size"
    for kw in ({"pw": np.ones(9)}, {"sw": np.ones(11)}):
        with pytest.raises(TypeError, match=re.escape(msg)):
            Job(x, y, None, *args, bounds, **kw)
    with pytest.raises(TypeError, match="per-row and per-class arrays are contiguous float64"):
        Job(x, y, None, *args, bounds, sw=np.ones(10, np.float32))
    msg = "bounds must be a contiguous int64 vector of two or more offsets"
    for b in (bounds.astype(np.int32), bounds[:1], np.array([[0, 10]], np.int64)):
        with pytest.raises(TypeError, match=re.escape(msg)):
            Job(x, y, None, *args, b)
    with pytest.raises(ValueError, match=re.escape("bounds must run from 0 to x's size")):
        Job(x, y, None, *args, np.array([0, 9], np.int64))
    with pytest.raises(ValueError, match=re.escape("bounds must increase")):
        Job(x, y, None, *args, np.array([0, 4, 4, 10], np.int64))
    job = Job(x, y, None, *args, bounds)
    job.run(True)
    assert not job.failed()
    (s0, _), (s1, _) = job.results()
    assert (s0, s1) == (pytest.approx(4 * np.log(2.0)), pytest.approx(6 * np.log(2.0)))
    assert [r[:3] for r in job.ranges()] == [(0.0, 0.0, False)] * 2
