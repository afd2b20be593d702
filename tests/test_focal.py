"""Focal loss (Lin et al., "Focal Loss for Dense Object Detection", 2017): ``focal_gamma``.

Oracles: exact mpmath values (tests/_reference.py ``softmax_family_loss`` for the softmax
losses; the binary definition evaluated here in mpmath), in ulps, for values and gradients;
the formulas of torchvision's ``sigmoid_focal_loss`` and Keras's focal losses in NumPy
float64 on benign inputs (torchvision and Keras are not needed); PyTorch autograd of
torchvision's formula when PyTorch is installed; 4th-order central differences; identities
(``gamma = 0`` is the plain loss bit for bit, sparse equals one-hot categorical).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special

import xent
from tests import _reference as ref

VALUE_ULP = 4.0
GRAD_ULP = 8.0
REDUCTIONS = ["none", "sum", "mean"]
scce = xent.sparse_categorical_cross_entropy
cce = xent.categorical_cross_entropy
bce = xent.binary_cross_entropy


def logits(rng, n, c, dtype, *, scale=3.0):
    """Logits with 20 % -inf (never the label), every 3rd row's label leading by 10 to 600."""
    return ref.masked_leading_logits(rng, n, c, dtype, lead_from=10.0, scale=scale)


soft_targets = ref.soft_targets


# ------------------------------------------------------------------ softmax losses: exact

CASES = list(
    itertools.product(
        [np.float64, np.float32],
        ["sparse", "categorical"],
        [0.5, 2.0],
        ["plain", "cw-sw", "ls", "z", "scale-1e3"],
    )
)


@pytest.mark.parametrize(
    ("dtype", "kind", "gamma", "option"),
    CASES,
    ids=[f"{np.dtype(d).name}-{k}-g{g}-{o}" for d, k, g, o in CASES],
)
@pytest.mark.parametrize("c", [7, 2])  # 2: the two-class path
def test_softmax_values_and_gradients_match_mpmath(rng, dtype, kind, gamma, option, c):
    n = 30
    x, y = logits(rng, n, c, dtype, scale=1e3 if option == "scale-1e3" else 3.0)
    kw = {}
    if option == "cw-sw":
        kw["class_weight"] = rng.uniform(0.5, 2.0, c).astype(dtype).astype(np.float64)
        kw["sample_weight"] = rng.uniform(0.0, 3.0, n).astype(dtype).astype(np.float64)
    if option == "ls":  # smoothing puts mass on every class: no -inf logits then
        x = np.where(np.isneginf(x), -30.0, x).astype(dtype)
        kw["label_smoothing"] = 0.1
    if option == "z":
        kw["z_loss"] = 1e-3
    t = y if kind == "sparse" else soft_targets(rng, x.astype(np.float64)).astype(dtype)
    rows = ref.target_rows(
        t,
        c,
        sparse=kind == "sparse",
        class_weight=kw.get("class_weight"),
        eps=kw.get("label_smoothing", 0.0),
    )
    want, want_g, scale = ref.softmax_family_loss(
        rows,
        x,
        sample_weight=kw.get("sample_weight"),
        z_loss=kw.get("z_loss", 0.0),
        gamma=gamma,
        return_grad=True,
    )
    fn = scce if kind == "sparse" else cce
    got, grad = fn(
        t, x, from_logits=True, focal_gamma=gamma, reduction="none", return_grad=True, **kw
    )
    assert got.dtype == dtype
    assert grad.dtype == dtype
    assert ref.max_ulp(ref.ulp_error(got, want)) <= VALUE_ULP
    assert ref.max_ulp(ref.ulp_error(grad, want_g, scale=scale)) <= GRAD_ULP


@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_confident_rows_keep_tiny_losses_and_gradients(kind):
    """(1 - p)^gamma far below the smallest double's square root: exact, never 0 or NaN."""
    x3 = np.array([[60.0, 0.0, -1.0], [35.0, 1.0, 2.0], [800.0, 0.0, 0.0]])
    y = np.array([0, 0, 0])
    fn = scce if kind == "sparse" else cce
    for gamma, x in itertools.product((0.25, 2.0), (x3, x3[:, :2])):  # 2 classes: their path
        c = x.shape[1]
        t = y if kind == "sparse" else np.eye(c)[y]
        got, grad = fn(
            t, x, from_logits=True, focal_gamma=gamma, reduction="none", return_grad=True
        )  # fmt: skip
        want, want_g, scale = ref.softmax_family_loss(
            ref.target_rows(t, c, sparse=kind == "sparse"), x, gamma=gamma, return_grad=True
        )
        assert ref.max_ulp(ref.ulp_error(got, want)) <= VALUE_ULP
        assert ref.max_ulp(ref.ulp_error(grad, want_g, scale=scale)) <= GRAD_ULP
        assert 0 < got[0] < 1e-26
        assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("kind", ["sparse", "categorical"])
@pytest.mark.parametrize("c", [2, 10, 40])  # the two-class path, a class-major tile, a row pass
@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0, 4.0])
def test_float32_leading_rows_keep_their_digits(rng, kind, c, gamma):
    """Float32 rows whose label is the maximum with s < 1: the factor (s / (1 + s))^gamma
    multiplies s's relative error by gamma, so the kernel adds every exp of s with its
    rounding error; beside rows with entries beyond float exp's range (whose group of rows
    takes the wide path). 4.9 ulp at gamma = 4 when s added the exps as floats."""
    n = 64
    x = (rng.standard_normal((n, c)) * rng.choice([3.0, 30.0], (n, 1))).astype(np.float32)
    y = x.argmax(axis=1)
    y[::4] = rng.integers(0, c, n // 4)
    t = (
        y
        if kind == "sparse"
        else ref.soft_targets(rng, x.astype(np.float64) / 4).astype(np.float32)
    )
    rows = ref.target_rows(t, c, sparse=kind == "sparse")
    want = ref.softmax_family_loss(rows, x, gamma=gamma)
    fn = scce if kind == "sparse" else cce
    got = fn(t, x, from_logits=True, focal_gamma=gamma, reduction="none")
    assert ref.max_ulp(ref.ulp_error(got, want)) <= 1.0


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0, 4.0])
@pytest.mark.parametrize(
    ("c", "axis"),
    # tiles, rows, class-major tiles (their F kept in the transposes' room, and beyond 48
    # classes in a scratch of their own)
    [(3, -1), (16, -1), (17, -1), (300, -1), (10, 0), (40, 0), (60, 0)],
)
@pytest.mark.parametrize("option", ["plain", "cw-sw", "ls", "z", "ties"])
def test_float32_soft_targets_forward_from_the_focal_sums(rng, gamma, c, axis, option):
    """The forward focal loss of float32 soft targets, gamma 1-4, from the sums of w f and
    w f v that a loop after the exp pass takes from its F and s (body.h focal_pass_s,
    tile_group_s; focal_sums_v) rather than a second pass: within an ulp of mpmath with
    masked, leading (10 to 600) and tied logits, smoothing, weights and z-loss; the values of
    the gradient call, which keeps the second pass, to float's rounding."""
    n = 48
    x, _ = logits(rng, n, c, np.float32)
    kw: dict = {}
    if option == "cw-sw":
        kw["class_weight"] = rng.uniform(0.0, 2.0, c)
        kw["sample_weight"] = rng.uniform(0.0, 3.0, n)
    if option == "ls":
        x = np.where(np.isneginf(x), -30.0, x).astype(np.float32)
        kw["label_smoothing"] = 0.1
    if option == "z":
        kw["z_loss"] = 1e-3
    if option == "ties":  # two, three or every class at the maximum
        x[::3, :2] = x[::3].max(axis=1, keepdims=True)
        x[1::3, -3:] = x[1::3].max(axis=1, keepdims=True)
        x[2] = 1.5
    t = soft_targets(rng, np.where(np.isneginf(x), -np.inf, x / 4.0)).astype(np.float32)
    rows = ref.target_rows(
        t, c, sparse=False, class_weight=kw.get("class_weight"), eps=kw.get("label_smoothing", 0.0)
    )
    want = ref.softmax_family_loss(
        rows, x, sample_weight=kw.get("sample_weight"), z_loss=kw.get("z_loss", 0.0), gamma=gamma
    )
    tx, xx = (t.T.copy(), x.T.copy()) if axis == 0 else (t, x)
    got = cce(tx, xx, from_logits=True, focal_gamma=gamma, reduction="none", axis=axis, **kw)
    assert ref.max_ulp(ref.ulp_error(got, want)) <= 1.0
    with_grad, _ = cce(
        tx, xx, from_logits=True, focal_gamma=gamma, reduction="none", axis=axis,
        return_grad=True, **kw,
    )  # fmt: skip
    np.testing.assert_allclose(got, with_grad, rtol=2**-21, atol=0.0)


@pytest.mark.parametrize("c", [3, 10])
def test_float32_focal_sums_weights_of_later_tiles(rng, c):
    """The focal sums' rows past the first tile of 256 (tile_focal_sums's gathers of each
    group's maxima's targets, class weights and row weights at the tile's offset, the last
    group's missing rows masked): within an ulp of mpmath over 601 rows."""
    n = 601
    x, _ = logits(rng, n, c, np.float32)
    kw = {"class_weight": rng.uniform(0.0, 2.0, c), "sample_weight": rng.uniform(0.0, 3.0, n)}
    t = soft_targets(rng, np.where(np.isneginf(x), -np.inf, x / 4.0)).astype(np.float32)
    rows = ref.target_rows(t, c, sparse=False, class_weight=kw["class_weight"], eps=0.0)
    want = ref.softmax_family_loss(rows, x, sample_weight=kw["sample_weight"], gamma=2.0)
    got = cce(t, x, from_logits=True, focal_gamma=2.0, reduction="none", **kw)
    assert ref.max_ulp(ref.ulp_error(got, want)) <= 1.0


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((30_000, 7), -1), ((6_000, 40), -1), ((60, 5_000), 0), ((7, 30_000), 0)],
)
def test_focal_sums_do_not_depend_on_thread_count(rng, shape, axis):
    """The forward from the focal sums over several blocks (tiles, rows, class-major tiles):
    the same bits per row and in the mean for one, two and three threads."""
    x = (rng.standard_normal(shape) * 3.0).astype(np.float32)
    t = rng.random(shape).astype(np.float32)
    t /= t.sum(axis=axis, keepdims=True)
    results = []
    try:
        for n in (1, 2, 3):
            xent.set_num_threads(n)
            results.append(
                [
                    cce(t, x, from_logits=True, axis=axis, focal_gamma=2.0, reduction=red)
                    for red in ("none", "mean")
                ]
            )
    finally:
        xent.set_num_threads(None)
    for other in results[1:]:
        for got, first in zip(other, results[0], strict=True):
            np.testing.assert_array_equal(got, first)


def test_focal_sums_keep_infinite_and_nan_rows():
    """Rows the focal sums see at their edges: a +inf logit (one-hot p: an inf loss where a
    target has mass elsewhere, 0 where it does not), every logit -inf or a NaN (NaN)."""
    inf = np.inf
    x = np.array(
        [[inf, 0.0, 1.0], [inf, 0.0, 1.0], [-inf, -inf, -inf], [np.nan, 0.0, 1.0]], np.float32
    )
    t = np.array([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]], np.float32)
    for gamma in (1.0, 2.0):
        got = cce(t, x, from_logits=True, focal_gamma=gamma, reduction="none")
        assert got[0] == inf
        assert got[1] == 0.0
        assert np.isnan(got[2])
        assert np.isnan(got[3])
        with_grad, _ = cce(
            t, x, from_logits=True, focal_gamma=gamma, reduction="none", return_grad=True
        )
        np.testing.assert_array_equal(got, with_grad)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 20])  # one row (the tiles), twenty (row-major pairs)
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_two_classes_with_an_infinite_logit_keep_the_gradients_limit(dtype, rows, gamma):
    """p_c = 0 exactly (a -inf logit, or +inf on the other class): the loss is inf and the
    gradient its limit, (p - y) weighted as at gamma = 0 (the factor is 1 and p_c nll_c -> 0),
    in every dtype. Float results once took p_c as exp(-700) there, and p_c nll_c as inf: a
    gradient of -inf and inf."""
    inf = np.inf
    x = np.tile(np.array([[-inf, 0.0], [inf, 0.0]], dtype), (rows, 1))
    y = np.tile([0, 1], rows)
    hard = np.eye(2, dtype=dtype)[y]
    soft = np.full_like(x, 0.5)
    want = np.tile([[-1.0, 1.0], [1.0, -1.0]], (rows, 1))
    for loss, target, expect in ((scce, y, want), (cce, hard, want), (cce, soft, want / 2)):
        value, grad = loss(
            target, x, from_logits=True, focal_gamma=gamma, reduction="none", return_grad=True
        )
        assert np.all(value == inf)
        assert grad.dtype == dtype
        np.testing.assert_array_equal(grad, expect.astype(dtype))


# ------------------------------------------------------------------ softmax losses: peers


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_matches_keras_categorical_focal_formula(rng, kind, smoothing):
    """Keras's CategoricalFocalCrossentropy on probabilities p = softmax(x):
    sum_c alpha_c y_c (1 - p_c)^gamma (-log p_c), y smoothed first; alpha = class weights."""
    n, c, gamma = 20, 5, 2.0
    x = 2.0 * rng.standard_normal((n, c))
    y = rng.integers(0, c, n)
    t = np.eye(c)[y] if kind == "sparse" else soft_targets(rng, x)
    alpha = rng.uniform(0.25, 1.0, c)
    ts = t * (1 - smoothing) + smoothing / c
    p = special.softmax(x, axis=1)
    want = np.sum(alpha * ts * (1 - p) ** gamma * -np.log(p), axis=1)
    got = (scce if kind == "sparse" else cce)(
        y if kind == "sparse" else t,
        x,
        from_logits=True,
        focal_gamma=gamma,
        class_weight=alpha,
        label_smoothing=smoothing,
        reduction="none",
    )
    np.testing.assert_allclose(got, want, rtol=1e-13)


# ------------------------------------------------------------------ softmax losses: identities


@pytest.mark.parametrize("c", [3, 40], ids=["tiles", "rows"])
def test_gamma_zero_is_the_plain_loss_bit_for_bit(rng, c):
    x, y = logits(rng, 50, c, np.float32)
    t = soft_targets(rng, x.astype(np.float64)).astype(np.float32)
    for red in REDUCTIONS:
        for fn, target in ((scce, y), (cce, t)):
            a = fn(target, x, from_logits=True, reduction=red, return_grad=True)
            b = fn(target, x, from_logits=True, reduction=red, return_grad=True, focal_gamma=0.0)
            for u, w in zip(a, b, strict=True):
                assert np.asarray(u).tobytes() == np.asarray(w).tobytes()
    yb = rng.random(x.shape)
    a = bce(yb, x, from_logits=True, return_grad=True)
    b = bce(yb, x, from_logits=True, return_grad=True, focal_gamma=0.0)
    assert a[0].tobytes() == b[0].tobytes()
    assert a[1].tobytes() == b[1].tobytes()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("c", [3, 40], ids=["tiles", "rows"])
def test_sparse_equals_one_hot_categorical(rng, reduction, smoothing, c):
    x, y = logits(rng, 40, c, np.float64)
    if smoothing:
        x = np.where(np.isneginf(x), -30.0, x)
    kw = {
        "from_logits": True,
        "focal_gamma": 1.5,
        "class_weight": rng.uniform(0.1, 2, c),
        "sample_weight": rng.uniform(0, 2, 40),
        "label_smoothing": smoothing,
        "reduction": reduction,
        "return_grad": True,
    }
    a, ga = scce(y, x, **kw)
    b, gb = cce(np.eye(c)[y], x, **kw)
    np.testing.assert_allclose(a, b, rtol=16 * np.finfo(float).eps)
    np.testing.assert_allclose(ga, gb, rtol=16 * np.finfo(float).eps, atol=1e-300)


def test_ignore_index_and_class_axis(rng):
    x, y = logits(rng, 24, 6, np.float64)
    y[::5] = -1
    kw = {"from_logits": True, "focal_gamma": 2.0, "ignore_index": -1, "return_grad": True}
    got, grad = scce(y, x, reduction="none", **kw)
    assert np.all(got[::5] == 0)
    assert np.all(grad[::5] == 0)
    keep = y != -1
    sub, sub_g = scce(y[keep], x[keep], reduction="none", **kw)
    np.testing.assert_array_equal(got[keep], sub)
    np.testing.assert_array_equal(grad[keep], sub_g)
    mean = scce(y, x, reduction="mean", **kw)[0]
    np.testing.assert_allclose(mean, got.sum() / keep.sum(), rtol=1e-15)
    x3 = np.moveaxis(x.reshape(4, 6, 6), 2, 0)  # the class axis first
    got3, grad3 = scce(y.reshape(4, 6), x3, axis=0, reduction="none", **kw)
    np.testing.assert_array_equal(got3, got.reshape(4, 6))
    np.testing.assert_array_equal(grad3, np.moveaxis(grad.reshape(4, 6, 6), 2, 0))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["sparse", "sparse-smoothed", "categorical"])
def test_softmax_gradient_finite_differences(rng, fd, kind, reduction):
    x = 2.0 * rng.standard_normal((4, 5))
    y = rng.integers(0, 5, 4)
    t = y if kind.startswith("sparse") else soft_targets(rng, x)
    fn = scce if kind.startswith("sparse") else cce
    kw = {
        "from_logits": True,
        "focal_gamma": 2.5,
        "z_loss": 0.1,
        "class_weight": rng.uniform(0.5, 2, 5),
        "sample_weight": rng.uniform(0.5, 2, 4),
        "label_smoothing": 0.1 if kind == "sparse-smoothed" else 0.0,
        "reduction": reduction,
    }
    _, grad = fn(t, x, return_grad=True, **kw)
    want = fd(lambda v: np.sum(fn(t, v, **kw)), x, 1e-3)
    np.testing.assert_allclose(grad, want, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------ binary


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_logits_match_mpmath(rng, dtype, gamma, alpha):
    n = 60
    mag = 10.0 ** rng.uniform(-2, 2.5, n)  # up to about 300: confident elements both ways
    x = np.where(rng.random(n) < 0.5, -mag, mag).astype(dtype)
    y = (rng.random(n) < 0.5).astype(np.float64)
    y[::4] = rng.random(n // 4)  # soft labels too
    got, grad = bce(
        y, x, from_logits=True, focal_gamma=gamma, focal_alpha=alpha, reduction="sum",
        return_grad=True,
    )  # fmt: skip
    rows = bce(y, x, from_logits=True, focal_gamma=gamma, focal_alpha=alpha, reduction="none")
    want, want_g, scale = ref.binary_focal_loss(
        y, x, gamma=gamma, alpha=alpha, from_logits=True, return_grad=True
    )
    assert ref.max_ulp(ref.ulp_error(rows, want)) <= VALUE_ULP
    assert ref.max_ulp(ref.ulp_error(grad, want_g, scale=scale)) <= GRAD_ULP
    assert got > 0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("n", [4, 100])  # the chunked entries; the one-pass steps
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_binary_infinite_logits_keep_the_gradients_limit(dtype, n, smoothing, gamma):
    """Logits of +-inf: p_t = 0 or 1 exactly, and the gradient the limit of the formula, in
    every dtype: with the label's own class at p = 0 (bce = inf) F dbce, the focal term's
    gamma bce (1 - q) -> 0; with smoothing (yp, bw) at x = +inf (p = 1): f = bw**gamma,
    dbce = bw, so g = bw**(gamma + 1), and at -inf -yp**(gamma + 1). Float results once
    multiplied an infinite cross-entropy by exp(-700) (the short exp's 1 - q) there: -inf or
    inf where float64 had these."""
    inf = np.inf
    x = np.resize(np.array([inf, -inf, inf, -inf], dtype), n)
    y = np.resize(np.array([1.0, 0.0, 0.0, 1.0], dtype), n)
    yp = y.astype(np.float64) * (1 - smoothing) + smoothing / 2  # the smoothed label
    bw = 1 - yp
    want = np.where(x > 0, bw ** (gamma + 1), -(yp ** (gamma + 1)))
    loss, grad = bce(
        y, x, from_logits=True, label_smoothing=smoothing, focal_gamma=gamma, reduction="none",
        return_grad=True,
    )  # fmt: skip
    assert grad.dtype == dtype
    np.testing.assert_array_equal(np.isinf(loss), want != 0)
    rtol = max(2 * float(np.finfo(dtype).eps), 1e-13)  # (float64: exp(gamma log bw))
    np.testing.assert_allclose(grad, want, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_entries_do_not_depend_on_their_neighbours(rng, dtype):
    """float32 entries of labels 0 and 1 take a shorter path than soft labels (xent/_kernels/
    body.h binary_focal_hard): an entry's loss and gradient are the same bits whatever labels
    its neighbours have (Dask chunks and blocks cut anywhere)."""
    n = 3000
    x = (4.0 * rng.standard_normal(n)).astype(dtype)
    y = (rng.random(n) < 0.5).astype(np.float64)
    soft = rng.random(n) < 0.1
    y[soft] = rng.random(int(soft.sum()))
    kw = {"from_logits": True, "focal_gamma": 2.0, "focal_alpha": 0.25, "reduction": "none"}
    rows, grad = bce(y, x, return_grad=True, **kw)
    for part in (soft, ~soft):
        r, g = bce(y[part], x[part], return_grad=True, **kw)
        np.testing.assert_array_equal(r, rows[part])
        np.testing.assert_array_equal(g, grad[part])


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_binary_probabilities_match_mpmath(rng, alpha):
    n = 40
    tiny = 10.0 ** rng.uniform(-12, -1, n)
    p = np.where(rng.random(n) < 0.5, tiny, 1.0 - tiny)
    y = (rng.random(n) < 0.5).astype(np.float64)
    got, grad = bce(
        y, p, focal_gamma=2.0, focal_alpha=alpha, reduction="none", return_grad=True
    )  # fmt: skip
    want, want_g, scale = ref.binary_focal_loss(y, p, gamma=2.0, alpha=alpha, return_grad=True)
    assert ref.max_ulp(ref.ulp_error(got, want)) <= VALUE_ULP
    assert ref.max_ulp(ref.ulp_error(grad, want_g, scale=scale)) <= GRAD_ULP


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_binary_matches_torchvision_formula(rng, from_logits, alpha, smoothing):
    """torchvision.ops.sigmoid_focal_loss (and Keras's BinaryFocalCrossentropy, which smooths
    the label first): ce = BCE(y, p), p_t = p y + (1 - p)(1 - y), loss = alpha_t (1-p_t)^g ce."""
    x = 3.0 * rng.standard_normal((6, 5))
    y = rng.random((6, 5))
    y[::2] = np.round(y[::2])
    ys = y * (1 - smoothing) + smoothing / 2
    p = special.expit(x)
    ce = -(ys * np.log(p) + (1 - ys) * np.log(1 - p))
    pt = p * ys + (1 - p) * (1 - ys)
    want = ce * (1 - pt) ** 2.0
    if alpha is not None:
        want = (alpha * ys + (1 - alpha) * (1 - ys)) * want
    got = bce(
        y,
        x if from_logits else p,
        from_logits=from_logits,
        focal_gamma=2.0,
        focal_alpha=alpha,
        label_smoothing=smoothing,
        reduction="none",
    )
    np.testing.assert_allclose(got, want, rtol=1e-12)
    got_mean = bce(y, x if from_logits else p, from_logits=from_logits, focal_gamma=2.0,
                   focal_alpha=alpha, label_smoothing=smoothing)  # fmt: skip
    np.testing.assert_allclose(got_mean, want.mean(), rtol=1e-12)  # torchvision's "mean"


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_gradient_matches_torch_autograd(rng, reduction):
    torch = pytest.importorskip("torch")
    x = 3.0 * rng.standard_normal(50)
    y = (rng.random(50) < 0.3).astype(np.float64)
    sw = rng.uniform(0.0, 2.0, 50)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y)
    p = torch.sigmoid(xt)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(xt, yt, reduction="none")
    pt = p * yt + (1 - p) * (1 - yt)
    rows = torch.tensor(sw) * (0.25 * yt + 0.75 * (1 - yt)) * ce * (1 - pt) ** 2
    total = {"none": rows, "sum": rows.sum(), "mean": rows.sum() / float(sw.sum())}[reduction]
    total.sum().backward()
    got, grad = bce(
        y, x, from_logits=True, focal_gamma=2.0, focal_alpha=0.25, sample_weight=sw,
        reduction=reduction, return_grad=True,
    )  # fmt: skip
    np.testing.assert_allclose(got, total.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_binary_gradient_finite_differences(rng, fd, from_logits):
    x = 2.0 * rng.standard_normal((3, 4))
    if not from_logits:
        x = special.expit(x)
    y = rng.random((3, 4))
    y[0] = np.round(y[0])
    kw = {
        "from_logits": from_logits,
        "focal_gamma": 1.5,
        "focal_alpha": 0.3,
        "pos_weight": 2.0,
        "sample_weight": rng.uniform(0.5, 2, (3, 1)),
        "label_smoothing": 0.05,
        "reduction": "mean",
    }
    _, grad = bce(y, x, return_grad=True, **kw)
    want = fd(lambda v: bce(y, v, **kw), x, 1e-5 if not from_logits else 1e-3)
    np.testing.assert_allclose(grad, want, rtol=1e-7, atol=1e-9)


def test_binary_limits():
    """Exact 0 where the prediction is certain and right, inf where certain and wrong; a
    gamma below 1 keeps a finite gradient."""
    y = np.array([1.0, 0.0, 1.0, 0.0])
    x = np.array([np.inf, -np.inf, -np.inf, np.inf])
    got = bce(y, x, from_logits=True, focal_gamma=2.0, reduction="none")
    np.testing.assert_array_equal(got, [0.0, 0.0, np.inf, np.inf])
    p = np.array([1.0, 0.0, 0.999999])
    got, grad = bce([1.0, 0.0, 1.0], p, focal_gamma=0.5, reduction="none", return_grad=True)
    np.testing.assert_array_equal(got[:2], [0.0, 0.0])
    assert np.all(np.isfinite(grad))


# ------------------------------------------------------------------ errors


NONNEG = "must be finite and non-negative; got"
IN01 = r"^focal_alpha must be in \[0, 1\]; got "
REAL = "must be a real number"
BAD_BINARY = {
    "gamma-negative": ({"focal_gamma": -1.0}, ValueError, rf"^focal_gamma {NONNEG} -1\.0\.$"),
    "gamma-nan": ({"focal_gamma": np.nan}, ValueError, rf"^focal_gamma {NONNEG} nan\.$"),
    "gamma-string": ({"focal_gamma": "2"}, TypeError, rf"^focal_gamma {REAL}; got '2'\.$"),
    "alpha-big": ({"focal_alpha": 1.5}, ValueError, IN01 + r"1\.5\.$"),
    "alpha-nan": ({"focal_alpha": np.nan}, ValueError, IN01 + r"nan\.$"),
    "alpha-huge": ({"focal_alpha": 10**400}, ValueError, IN01 + "1000"),
    "alpha-string": ({"focal_alpha": "a"}, TypeError, rf"^focal_alpha {REAL} or None; got 'a'"),
    "alpha-bool": ({"focal_alpha": True}, TypeError, rf"^focal_alpha {REAL} or None; got True"),
}


@pytest.mark.parametrize(("kwargs", "exc", "pattern"), BAD_BINARY.values(), ids=BAD_BINARY.keys())
def test_binary_bad_options(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        bce([1.0, 0.0], [0.5, 0.5], **kwargs)


@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_softmax_bad_gamma(kind):
    x = np.zeros((2, 3))
    fn = scce if kind == "sparse" else cce
    t = [0, 1] if kind == "sparse" else np.eye(3)[[0, 1]]
    with pytest.raises(ValueError, match=rf"^focal_gamma {NONNEG} inf\.$"):
        fn(t, x, from_logits=True, focal_gamma=np.inf)
    msg = (
        r"^focal_gamma needs logits \(\(1 - p\)\*\*gamma is computed in log space from the "
        r"softmax sums\); got focal_gamma=2\.0 with from_logits=False\.$"
    )
    with pytest.raises(ValueError, match=msg):
        fn(t, np.full((2, 3), 1 / 3), focal_gamma=2.0)
