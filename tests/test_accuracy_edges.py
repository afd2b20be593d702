"""Accuracy off the beaten path: layouts, cancellations and ranges the main families miss.

Each case was once far outside the bounds of test_accuracy.py (values 4 ulp, gradient entries
8 ulp of the larger of the exact terms they are the difference of); the references are mpmath
(tests/_reference.py).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import xent

from . import _reference as ref

VALUE_ULP, GRAD_ULP = 4.0, 8.0


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_class_axis_first_is_as_accurate_as_last(rng, fn, dtype):
    x = (rng.standard_normal((16, 400)) * 3).astype(dtype)
    got = getattr(xent, fn)(x, axis=0)
    exact = getattr(ref, fn)(x, axis=0)
    assert ref.max_ulp(ref.ulp_error(got, exact)) <= VALUE_ULP
    np.testing.assert_array_equal(got, getattr(xent, fn)(x.T.copy()).T)


def test_soft_targets_class_axis_first(rng):
    x = rng.standard_normal((300, 16)) * 3
    t = rng.dirichlet(np.ones(16), 300)
    loss, grad = xent.categorical_cross_entropy(
        t.T.copy(), x.T.copy(), from_logits=True, axis=0, reduction="sum", return_grad=True
    )
    exact, exact_grad, scale = ref.categorical_cross_entropy(
        t, x, from_logits=True, return_grad=True
    )
    rows = xent.categorical_cross_entropy(
        t.T.copy(), x.T.copy(), from_logits=True, axis=0, reduction="none"
    )
    assert ref.max_ulp(ref.ulp_error(rows, exact)) <= VALUE_ULP
    assert ref.max_ulp(ref.ulp_error(grad.T, exact_grad, scale=scale)) <= GRAD_ULP
    np.testing.assert_allclose(loss, rows.sum(), rtol=1e-14)


def test_categorical_gradient_at_the_largest_entry_of_flat_rows(rng):
    x = rng.standard_normal((12, 1000)) * 1e-3
    t = rng.dirichlet(np.ones(1000), 12)
    _, grad = xent.categorical_cross_entropy(
        t, x, from_logits=True, reduction="sum", return_grad=True
    )
    _, exact_grad, scale = ref.categorical_cross_entropy(t, x, from_logits=True, return_grad=True)
    assert ref.max_ulp(ref.ulp_error(grad, exact_grad, scale=scale)) <= GRAD_ULP


def test_true_class_of_weight_zero_with_smoothing():
    x, cw = np.array([[-20.0, 0.0, 0.0]]), np.array([0.0, 1.0, 1.0])
    _, grad = xent.sparse_categorical_cross_entropy(
        [0], x, from_logits=True, class_weight=cw, label_smoothing=0.2, reduction="sum",
        return_grad=True,
    )  # fmt: skip
    _, exact_grad, scale = ref.sparse_categorical_cross_entropy(
        np.array([0]), x, from_logits=True, class_weight=cw, label_smoothing=0.2, return_grad=True
    )
    # the true-class entry W p_0 - 0 is measured against itself: 1.37e-10, not the 0.13 of W
    assert ref.max_ulp(ref.ulp_error(grad[:, :1], exact_grad[:, :1])) <= GRAD_ULP
    assert ref.max_ulp(ref.ulp_error(grad, exact_grad, scale=scale)) <= GRAD_ULP


def test_binary_float64_labels_keep_their_precision_with_float32_logits():
    y = np.array([1 - 2.0**-30, 1 - 2.0**-40, 2.0**-35])
    x = np.array([20.0, 30.0, -25.0], np.float32)
    loss = xent.binary_cross_entropy(y, x, from_logits=True, reduction="none")
    assert loss.dtype == np.float32
    exact = ref.binary_cross_entropy(y, x.astype(np.float64), from_logits=True)
    assert ref.max_ulp(ref.ulp_error(loss, exact)) <= VALUE_ULP


def test_finite_results_near_the_largest_float_stay_finite():
    x = np.array([[3e38, -3e38]], np.float32)
    loss = xent.categorical_cross_entropy([[0.9, 0.1]], x, from_logits=True)
    exact = ref.categorical_cross_entropy(np.array([[0.9, 0.1]]), x, from_logits=True)
    assert ref.max_ulp(ref.ulp_error(np.atleast_1d(loss), exact)) <= VALUE_ULP
    # two losses of 1.5e308: their sum overflows, their mean does not
    mean = xent.binary_cross_entropy(np.zeros(2), np.full(2, 1.5e308), from_logits=True)
    assert mean == 1.5e308
    total = xent.binary_cross_entropy(
        np.zeros(2), np.full(2, 1.5e308), from_logits=True, reduction="sum"
    )
    assert total == np.inf


def test_float32_softmax_is_rounded_once(rng):
    x = (rng.standard_normal((400, 50)) * 5).astype(np.float32)
    assert ref.max_ulp(ref.ulp_error(xent.softmax(x), ref.softmax(x))) <= 2.0


# ------------------------------------------------------------------ the sums of long batches


def _many_rows(rng, C, n, same):
    """n rows of C logits: one row repeated (every rounding of a plain sum then goes the same
    way), or random rows."""
    rows = np.repeat(rng.normal(0, 4, (1, C)), n, axis=0) if same else rng.normal(0, 4, (n, C))
    return rows, rng.integers(0, C, n) if not same else np.full(n, C // 2)


_LONG_BATCH_LOSSES = {
    "binary logits": lambda rng, same: (
        lambda x, y: lambda red: xent.binary_cross_entropy(y, x, from_logits=True, reduction=red)
    )(np.full(300_000, 1.5e300) if same else rng.normal(0, 30, 300_000), np.zeros(300_000)),
    "binary probabilities": lambda rng, same: (
        lambda p, y: lambda red: xent.binary_cross_entropy(y, p, reduction=red)
    )(np.full(300_000, 0.3) if same else rng.random(300_000), np.ones(300_000)),
    "sparse 2 classes": lambda rng, same: (
        lambda xy: (
            lambda red: xent.sparse_categorical_cross_entropy(
                xy[1], xy[0], from_logits=True, reduction=red
            )
        )
    )(_many_rows(rng, 2, 300_000, same)),
    "sparse 10 classes": lambda rng, same: (
        lambda xy: (
            lambda red: xent.sparse_categorical_cross_entropy(
                xy[1], xy[0], from_logits=True, reduction=red, focal_gamma=0.5
            )
        )
    )(_many_rows(rng, 10, 100_000, same)),
    "categorical 1,024 classes": lambda rng, same: (
        lambda xy: (
            lambda red: xent.categorical_cross_entropy(
                np.full_like(xy[0], 2.0**-10), xy[0], from_logits=True, reduction=red
            )
        )
    )(_many_rows(rng, 1024, 3_000, same)),
    "KL 10 classes": lambda rng, same: (
        lambda xy: (
            lambda red: xent.kl_divergence(
                xy[0][::-1], xy[0], from_logits=True, target_from_logits=True, reduction=red
            )
        )
    )(_many_rows(rng, 10, 100_000, same)),
    "KL 100 classes": lambda rng, same: (
        lambda xy: (
            lambda red: xent.kl_divergence(
                xy[0] * 0.5, xy[0], from_logits=True, target_from_logits=True, reduction=red
            )
        )
    )(_many_rows(rng, 100, 20_000, same)),
}


@pytest.mark.parametrize("same", [True, False], ids=["equal rows", "random rows"])
@pytest.mark.parametrize("case", list(_LONG_BATCH_LOSSES))
def test_mean_and_sum_of_a_long_batch_keep_their_digits(rng, case, same):
    """The sum and mean over many rows are within 2 ulp of the exact sum (and mean) of the
    per-row losses: block sums are compensated and added exactly. Plain sums of 300,000 equal
    losses were 750 ulp off."""
    loss = _LONG_BATCH_LOSSES[case](rng, same)
    rows = loss("none")
    exact_sum = Fraction(math.fsum(rows))  # within half an ulp of the exact sum
    for got, exact in ((loss("sum"), exact_sum), (loss("mean"), exact_sum / rows.size)):
        assert abs(got - float(exact)) <= 2 * np.spacing(abs(float(exact))), (got, float(exact))


def _assert_sparse_and_softmax_accurate(x, y, rows_for_softmax):
    """The sparse loss per row and its gradient of logits ``x`` (labels ``y``), and logsumexp,
    log_softmax and softmax of ``rows_for_softmax``, against mpmath."""
    rows, grad = xent.sparse_categorical_cross_entropy(
        y, x, from_logits=True, reduction="none", return_grad=True
    )
    exact, exact_grad, scale = ref.sparse_categorical_cross_entropy(
        y, x, from_logits=True, return_grad=True
    )
    assert ref.max_ulp(ref.ulp_error(rows, exact)) <= VALUE_ULP
    assert ref.max_ulp(ref.ulp_error(grad, exact_grad, scale=scale)) <= GRAD_ULP
    for fn in ("logsumexp", "log_softmax", "softmax"):
        got = getattr(xent, fn)(rows_for_softmax, axis=-1)
        exact_fn = getattr(ref, fn)(rows_for_softmax)
        assert ref.max_ulp(ref.ulp_error(got, exact_fn)) <= VALUE_ULP, fn


@pytest.mark.parametrize(
    ("dtype", "gaps"),
    [
        # float rows: clean (without the exp pass's range checks) up to 80 below the maximum;
        # below -86 an entry's exp is not a normal float and takes the double lanes
        (np.float32, [79.9, 80.0, 80.1, 85.9, 86.1, 103.0, 150.0]),
        # double rows: clean up to 700 below; exp's short path ends at -707, its result is
        # subnormal below -708.4 and 0 below -745.2
        (np.float64, [699.9, 700.0, 700.1, 706.9, 707.1, 720.0, 745.0, 760.0]),
    ],
)
def test_rows_at_the_edge_of_the_clean_span(rng, dtype, gaps):
    # the maximum 20 at entry 0 and the row's least entry the gap below it at entry C - 1; in
    # even rows the others near 0 and the label at the least entry (a huge loss), in odd rows
    # the others just above the least entry and the label at the maximum (a loss that is the
    # sum of their tiny exps)
    C = 300
    x = np.empty((2 * len(gaps), C), dtype)
    y = np.empty(len(x), np.int64)
    tiny = np.finfo(dtype).tiny
    for i, gap in enumerate(gaps):
        low = 20.0 - gap
        x[2 * i] = rng.standard_normal(C) * 0.5
        x[2 * i + 1] = low + np.abs(rng.standard_normal(C)) * 0.5
        x[2 * i : 2 * i + 2, 0] = 20.0
        x[2 * i : 2 * i + 2, C - 1] = low
        # (not where that sum is subnormal: a few ulp of the smallest subnormal is no bound)
        y[2 * i], y[2 * i + 1] = C - 1, 0 if C * math.exp(-gap) > 2 * tiny else C - 1
    # the odd rows whose log_softmax at the maximum is subnormal left out (as above)
    _assert_sparse_and_softmax_accurate(x, y, x[(np.arange(len(x)) % 2 == 0) | (y == 0)])


def test_tiles_at_the_edge_of_the_clean_span(rng):
    # float32 rows of few classes go sixteen rows at a time: a group whose rows are all
    # within 80 of their maxima skips the exp pass's checks; here groups on either side of
    # that and of exp's normal range (-86), the least entry of every row the gap below its
    # maximum, labels anywhere
    C, gaps = 10, [79.9, 80.0, 80.1, 85.9, 86.1]
    x = (rng.standard_normal((16 * len(gaps), C)) * 0.5).astype(np.float32)
    for i, gap in enumerate(gaps):
        rows = slice(16 * i, 16 * i + 16)
        x[rows, 0] = 20.0
        x[rows, C - 1] = 20.0 - gap
    _assert_sparse_and_softmax_accurate(x, rng.integers(0, C, len(x)), x)


@pytest.mark.parametrize("C", [10, 100])
def test_float32_log1p_of_the_sums_in_every_regime(rng, C):
    # float32 losses and log_softmax take L = log1p(s) by the short log (relative error
    # < 2^-32): its series below s = 2^-10, its table above, up to s = C - 1 (equal entries);
    # rows of ten classes go sixteen at a time (tiles), of a hundred one by one
    targets_s = [1e-30, 1e-7, 0.999 * 2.0**-10, 1.001 * 2.0**-10, 0.3, 1.0, 5.0, C - 1.0]
    x = np.zeros((16 * len(targets_s), C), np.float32)
    for i, s in enumerate(targets_s):
        rows = slice(16 * i, 16 * i + 16)
        # the maximum 3 at a random class, the others g below it: s = (C - 1) exp(-g)
        gap = math.log((C - 1) / s)
        x[rows] = (3.0 - gap + rng.standard_normal((16, C)) * 1e-3).astype(np.float32)
        x[rows][np.arange(16), rng.integers(0, C, 16)] = 3.0
    y = rng.integers(0, C, len(x))
    _assert_sparse_and_softmax_accurate(x, y, x)
    # within an ulp: computed in double, each rounded once to float32 (0.51 and 0.64 measured)
    got = xent.sparse_categorical_cross_entropy(y, x, from_logits=True, reduction="none")
    exact = ref.sparse_categorical_cross_entropy(y, x, from_logits=True)
    assert ref.max_ulp(ref.ulp_error(got, exact)) <= 1.0
    got = xent.log_softmax(x, axis=-1)
    assert ref.max_ulp(ref.ulp_error(got, ref.log_softmax(x))) <= 1.0
    t = rng.random(x.shape).astype(np.float32)
    t /= t.sum(axis=-1, keepdims=True)
    got = xent.categorical_cross_entropy(t, x, from_logits=True, reduction="none")
    exact = ref.categorical_cross_entropy(t, x, from_logits=True)
    assert ref.max_ulp(ref.ulp_error(got, exact)) <= VALUE_ULP
