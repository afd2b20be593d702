"""categorical_cross_entropy and sparse_categorical_cross_entropy.

Oracles: closed forms (uniform logits give ``log C``; ``-log p`` of a single
probability); the contract's formulas evaluated in float64 with
``scipy.special.log_softmax`` on safe inputs; the textbook gradients
``(sum_k cw_k t_k) p_c - cw_c t_c`` (logits) and ``-cw_c t_c / p_c``
(probabilities); 4th-order central differences in float64.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import mpmath
import numpy as np
import pytest
from scipy import special

import xent
from tests._reference import as_bits

EPS64 = np.finfo(np.float64).eps
REDUCTIONS = ["none", "sum", "mean"]
DTYPES = [np.float16, np.float32, np.float64]
DTYPE_IDS = ["f16", "f32", "f64"]
C = 5
# (shape of y_pred, class axis): class axis last, first, and in the middle of 3-D
LAYOUTS = {"2d-last": ((3, C), -1), "3d-first": ((C, 2, 2), 0), "3d-mid": ((2, C, 2), 1)}


# ------------------------------------------------------------------ references


def _denominator(r, reduction):
    if reduction != "mean":
        return 1.0
    total = np.sum(r)
    return total if total > 0 else np.inf


def _reduce(weighted, r, reduction):
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return np.sum(weighted)
    total = np.sum(r)
    return np.sum(weighted) / total if total > 0 else 0.0


def reference(
    targets,
    y_pred,
    *,
    from_logits,
    axis=-1,
    class_weight=None,
    sample_weight=None,
    label_smoothing=0.0,
    reduction="mean",
    counted=None,
):
    """Categorical loss and gradient by the contract's formulas, in float64.

    ``targets`` are distributions along ``axis``; ``counted`` (batch-shaped bool)
    zeroes rows the way ignore_index does.
    """
    t = np.moveaxis(np.asarray(targets, dtype=np.float64), axis, -1)
    x = np.moveaxis(np.asarray(y_pred, dtype=np.float64), axis, -1)
    n = x.shape[-1]
    cw = np.ones(n) if class_weight is None else np.asarray(class_weight, dtype=np.float64)
    s = np.broadcast_to(
        1.0 if sample_weight is None else np.asarray(sample_weight, float), x.shape[:-1]
    )
    if counted is not None:
        s = np.where(counted, s, 0.0)
    ts = (1.0 - label_smoothing) * t + label_smoothing / n
    if from_logits:
        log_p = special.log_softmax(x, axis=-1)
        p = np.exp(log_p)
        grad = np.sum(cw * ts, axis=-1, keepdims=True) * p - cw * ts
    else:
        log_p = np.log(x)
        grad = -cw * ts / x
    loss = -np.sum(cw * ts * log_p, axis=-1)
    r = s * np.sum(cw * t, axis=-1)
    weighted = s * loss
    grad = s[..., None] * grad / _denominator(r, reduction)
    return _reduce(weighted, r, reduction), np.moveaxis(grad, -1, axis)


def sparse_reference(labels, y_pred, *, axis=-1, ignore_index=None, **kwargs):
    labels = np.asarray(labels)
    n = np.shape(y_pred)[axis]
    counted = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    onehot = (np.where(counted, labels, 0)[..., None] == np.arange(n)).astype(float)
    return reference(np.moveaxis(onehot, -1, axis), y_pred, axis=axis, counted=counted, **kwargs)


# ---------------------------------------------------------------------- inputs


def make_logits(rng, shape, scale=3.0):
    return scale * rng.standard_normal(shape)


def make_probs(rng, shape, axis):
    # entries >= 0.5 / (1.5 C): far from 0, so finite differences stay inside (0, 1)
    u = rng.uniform(0.5, 1.5, shape)
    return u / u.sum(axis=axis, keepdims=True)


def make_targets(rng, shape, axis):
    u = rng.uniform(0.0, 1.0, shape)
    return u / u.sum(axis=axis, keepdims=True)


def make_labels(rng, batch_shape, n_classes):
    return rng.integers(0, n_classes, batch_shape)


def batch_shape(shape, axis):
    return tuple(d for i, d in enumerate(shape) if i != axis % len(shape))


def make_pred(rng, shape, axis, from_logits):
    return make_logits(rng, shape) if from_logits else make_probs(rng, shape, axis)


def option_values(rng, shape, axis, cw, sw):
    class_weight = rng.uniform(0.2, 3.0, shape[axis]) if cw else None
    sample_weight = rng.uniform(0.0, 2.0, batch_shape(shape, axis)) if sw else None
    return class_weight, sample_weight


def apply_ignore(rng, labels, ignore_index):
    """Mark about a third of the rows (at least one, never all) as ignored."""
    if ignore_index is None:
        return labels
    labels = labels.copy()
    flat = labels.reshape(-1)
    drop = rng.permutation(flat.size)[: max(1, flat.size // 3)]
    flat[drop] = ignore_index
    return labels


CAT_OPTIONS = list(
    itertools.product(LAYOUTS, [True, False], [False, True], [False, True], [0.0, 0.15], REDUCTIONS)
)
CAT_IDS = [
    f"{lay}-{'logits' if fl else 'probs'}-{'cw' if cw else 'nocw'}-"
    f"{'sw' if sw else 'nosw'}-ls{ls}-{red}"
    for lay, fl, cw, sw, ls, red in CAT_OPTIONS
]

SPARSE_OPTIONS = [(*opt, ig) for opt in CAT_OPTIONS for ig in (None, -100, 2)]
SPARSE_IDS = [f"{cid}-ig{ig}" for cid in CAT_IDS for ig in (None, -100, 2)]

# Finite differences cost 4 calls per entry: every option combination on small 2-D input, and
# every from_logits x reduction with all options on for a class axis that is not last.
FD_LAYOUTS = {"2d-last": ((2, C), -1), "3d-first": ((C, 1, 2), 0), "3d-mid": ((1, C, 2), 1)}
FD_CAT = [o for o in CAT_OPTIONS if o[0] == "2d-last"] + [
    (lay, fl, True, True, 0.15, red)
    for lay, fl, red in itertools.product(["3d-first", "3d-mid"], [True, False], REDUCTIONS)
]
FD_CAT_IDS = [
    f"{lay}-{'logits' if fl else 'probs'}-{'cw' if cw else 'nocw'}-"
    f"{'sw' if sw else 'nosw'}-ls{ls}-{red}"
    for lay, fl, cw, sw, ls, red in FD_CAT
]
FD_SPARSE = [(*o, ig) for o in FD_CAT for ig in (None, 2)]
FD_SPARSE_IDS = [f"{cid}-ig{ig}" for cid in FD_CAT_IDS for ig in (None, 2)]


# ---------------------------------------------------------------- closed forms


@pytest.mark.parametrize("n_classes", [2, 7, 100_000], ids=lambda c: f"C{c}")
def test_uniform_logits_give_log_c(rng, n_classes):
    x = np.full((3, n_classes), -2.5)
    labels = rng.integers(0, n_classes, 3)
    targets = make_targets(rng, (3, n_classes), -1)
    # closed form: softmax of equal logits is 1/C, so -sum_c t_c log(1/C) = log C
    want = np.log(n_classes)
    for got in (
        xent.sparse_categorical_cross_entropy(labels, x, from_logits=True),
        xent.categorical_cross_entropy(targets, x, from_logits=True),
    ):
        assert type(got) is np.float64
        np.testing.assert_allclose(got, want, rtol=8 * EPS64)


def test_single_probability_closed_form():
    p = np.array([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
    got = xent.sparse_categorical_cross_entropy(np.array([2, 0]), p, reduction="none")
    np.testing.assert_allclose(got, [-np.log(0.5), -np.log(0.9)], rtol=2 * EPS64)
    got = xent.categorical_cross_entropy(np.array([[0, 0, 1.0], [1.0, 0, 0]]), p, reduction="none")
    np.testing.assert_allclose(got, [-np.log(0.5), -np.log(0.9)], rtol=2 * EPS64)


# ------------------------------------------------------------ every option vs reference


@pytest.mark.parametrize(
    ("layout", "from_logits", "cw", "sw", "smoothing", "reduction"), CAT_OPTIONS, ids=CAT_IDS
)
def test_categorical_matches_reference(rng, layout, from_logits, cw, sw, smoothing, reduction):
    shape, axis = LAYOUTS[layout]
    t = make_targets(rng, shape, axis)
    x = make_pred(rng, shape, axis, from_logits)
    class_weight, sample_weight = option_values(rng, shape, axis, cw, sw)
    kw = {
        "from_logits": from_logits,
        "axis": axis,
        "class_weight": class_weight,
        "sample_weight": sample_weight,
        "label_smoothing": smoothing,
        "reduction": reduction,
    }
    loss, grad = xent.categorical_cross_entropy(t, x, return_grad=True, **kw)
    want_loss, want_grad = reference(t, x, **kw)
    assert np.shape(loss) == np.shape(want_loss)
    assert grad.shape == x.shape
    assert grad.dtype == np.float64
    np.testing.assert_allclose(loss, want_loss, rtol=32 * EPS64, atol=32 * EPS64)
    np.testing.assert_allclose(grad, want_grad, rtol=64 * EPS64, atol=64 * EPS64)
    np.testing.assert_array_equal(xent.categorical_cross_entropy(t, x, **kw), loss)


@pytest.mark.parametrize(
    ("layout", "from_logits", "cw", "sw", "smoothing", "reduction", "ignore_index"),
    SPARSE_OPTIONS,
    ids=SPARSE_IDS,
)
def test_sparse_matches_reference_and_one_hot_categorical(
    rng, layout, from_logits, cw, sw, smoothing, reduction, ignore_index
):
    """Sparse against the float64 formula, and the contract's identity: sparse == one-hot
    categorical for every option combination (an ignored row is a one-hot row with weight 0)."""
    shape, axis = LAYOUTS[layout]
    labels = apply_ignore(
        rng, make_labels(rng, batch_shape(shape, axis), shape[axis]), ignore_index
    )
    x = make_pred(rng, shape, axis, from_logits)
    class_weight, sample_weight = option_values(rng, shape, axis, cw, sw)
    kw = {
        "from_logits": from_logits,
        "axis": axis,
        "class_weight": class_weight,
        "label_smoothing": smoothing,
        "reduction": reduction,
    }
    loss, grad = xent.sparse_categorical_cross_entropy(
        labels, x, ignore_index=ignore_index, sample_weight=sample_weight, return_grad=True, **kw
    )
    want_loss, want_grad = sparse_reference(
        labels, x, ignore_index=ignore_index, sample_weight=sample_weight, **kw
    )
    assert np.shape(loss) == np.shape(want_loss)
    assert grad.shape == x.shape
    np.testing.assert_allclose(loss, want_loss, rtol=32 * EPS64, atol=32 * EPS64)
    np.testing.assert_allclose(grad, want_grad, rtol=64 * EPS64, atol=64 * EPS64)
    np.testing.assert_array_equal(
        xent.sparse_categorical_cross_entropy(
            labels, x, ignore_index=ignore_index, sample_weight=sample_weight, **kw
        ),
        loss,
    )

    counted = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    onehot = (np.where(counted, labels, 0)[..., None] == np.arange(shape[axis])).astype(float)
    s = np.ones(labels.shape) if sample_weight is None else sample_weight
    s_cat = sample_weight if ignore_index is None else np.where(counted, s, 0.0)
    cat_loss, cat_grad = xent.categorical_cross_entropy(
        np.moveaxis(onehot, -1, axis), x, sample_weight=s_cat, return_grad=True, **kw
    )
    np.testing.assert_allclose(loss, cat_loss, rtol=16 * EPS64, atol=16 * EPS64)
    np.testing.assert_allclose(grad, cat_grad, rtol=16 * EPS64, atol=16 * EPS64)


# ------------------------------------------------------- finite-difference gradients


def _fd_check(fd, fd_dir, rng, loss_fn, x, grad, axis, from_logits):
    if from_logits:
        want = fd(lambda v: np.sum(loss_fn(v)), x, 1e-3)
        np.testing.assert_allclose(grad, want, rtol=1e-8, atol=1e-9)
        return
    # probabilities: move along directions that keep every row summing to 1 (the row-sum check
    # allows only sqrt(eps) slack), one class pair (j, k) at a time: d = e_j - e_k in each row
    n = x.shape[axis]
    shape = [1] * x.ndim
    shape[axis] = n
    for j, k in [(0, 1), (1, n - 1), (n - 1, 2), (3, 0)]:
        pair = np.zeros(n)
        pair[j], pair[k] = 1.0, -1.0
        # a random positive amount per row, the same on both entries of the pair
        amount = np.expand_dims(rng.uniform(0.5, 1.0, batch_shape(x.shape, axis)), axis)
        d = pair.reshape(shape) * amount
        np.testing.assert_array_equal(np.sum(d, axis=axis), 0.0)
        want = fd_dir(lambda v: np.sum(loss_fn(v)), x, d, 1e-4)
        np.testing.assert_allclose(np.sum(grad * d), want, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(
    ("layout", "from_logits", "cw", "sw", "smoothing", "reduction"), FD_CAT, ids=FD_CAT_IDS
)
def test_categorical_gradient_finite_differences(
    rng, fd, fd_dir, layout, from_logits, cw, sw, smoothing, reduction
):
    shape, axis = FD_LAYOUTS[layout]
    t = make_targets(rng, shape, axis)
    x = make_pred(rng, shape, axis, from_logits)
    class_weight, sample_weight = option_values(rng, shape, axis, cw, sw)
    kw = {
        "from_logits": from_logits,
        "axis": axis,
        "class_weight": class_weight,
        "sample_weight": sample_weight,
        "label_smoothing": smoothing,
        "reduction": reduction,
    }
    _, grad = xent.categorical_cross_entropy(t, x, return_grad=True, **kw)
    _fd_check(
        fd,
        fd_dir,
        rng,
        lambda v: xent.categorical_cross_entropy(t, v, **kw),
        x,
        grad,
        axis,
        from_logits,
    )


@pytest.mark.parametrize(
    ("layout", "from_logits", "cw", "sw", "smoothing", "reduction", "ignore_index"),
    FD_SPARSE,
    ids=FD_SPARSE_IDS,
)
def test_sparse_gradient_finite_differences(
    rng, fd, fd_dir, layout, from_logits, cw, sw, smoothing, reduction, ignore_index
):
    shape, axis = FD_LAYOUTS[layout]
    labels = apply_ignore(
        rng, make_labels(rng, batch_shape(shape, axis), shape[axis]), ignore_index
    )
    x = make_pred(rng, shape, axis, from_logits)
    class_weight, sample_weight = option_values(rng, shape, axis, cw, sw)
    kw = {
        "from_logits": from_logits,
        "axis": axis,
        "class_weight": class_weight,
        "sample_weight": sample_weight,
        "label_smoothing": smoothing,
        "reduction": reduction,
        "ignore_index": ignore_index,
    }
    _, grad = xent.sparse_categorical_cross_entropy(labels, x, return_grad=True, **kw)
    _fd_check(
        fd,
        fd_dir,
        rng,
        lambda v: xent.sparse_categorical_cross_entropy(labels, v, **kw),
        x,
        grad,
        axis,
        from_logits,
    )


# ---------------------------------------------------------------------- identities


SPARSE_AND_CAT = ["categorical", "sparse"]


def make_y(kind, rng, shape, axis=-1):
    """Class ids for sparse, distributions along ``axis`` for categorical."""
    if kind == "sparse":
        return make_labels(rng, batch_shape(shape, axis), shape[axis])
    return make_targets(rng, shape, axis)


def loss_of(kind, y, x, **kw):
    if kind == "sparse":
        return xent.sparse_categorical_cross_entropy(y, x, **kw)
    return xent.categorical_cross_entropy(y, x, **kw)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_sum_is_sum_of_none_and_mean_divides_by_row_weights(rng, kind, from_logits):
    shape = (6, C)
    x = make_pred(rng, shape, -1, from_logits)
    cw = rng.uniform(0.2, 3.0, C)
    s = rng.uniform(0.0, 2.0, 6)
    y = make_y(kind, rng, shape)
    kw = {
        "from_logits": from_logits,
        "class_weight": cw,
        "sample_weight": s,
        "label_smoothing": 0.1,
        "return_grad": True,
    }
    none, g_none = loss_of(kind, y, x, reduction="none", **kw)
    total, g_sum = loss_of(kind, y, x, reduction="sum", **kw)
    mean, g_mean = loss_of(kind, y, x, reduction="mean", **kw)
    # r_i = s_i sum_c cw_c y_ic with the UNsmoothed targets
    r = s * (cw[y] if kind == "sparse" else y @ cw)
    np.testing.assert_allclose(total, none.sum(), rtol=8 * EPS64)
    np.testing.assert_allclose(mean, none.sum() / r.sum(), rtol=8 * EPS64)
    # gradient entries W p_c - cw_c t_c cancel: compare at the row scale
    g_scale = 8 * EPS64 * np.max(np.abs(g_none))
    np.testing.assert_allclose(g_sum, g_none, rtol=4 * EPS64, atol=g_scale)
    np.testing.assert_allclose(g_mean, g_none / r.sum(), rtol=8 * EPS64, atol=g_scale / r.sum())


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_weighted_none_is_weight_times_unweighted(rng, kind, from_logits):
    x = make_pred(rng, (6, C), -1, from_logits)
    s = rng.uniform(0.0, 2.0, 6)
    y = make_y(kind, rng, x.shape)
    plain, g_plain = loss_of(
        kind, y, x, from_logits=from_logits, reduction="none", return_grad=True
    )
    weighted, g_w = loss_of(
        kind, y, x, from_logits=from_logits, reduction="none", sample_weight=s, return_grad=True
    )
    np.testing.assert_allclose(weighted, s * plain, rtol=4 * EPS64)
    np.testing.assert_allclose(g_w, s[:, None] * g_plain, rtol=4 * EPS64)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_shift_invariance_of_logits(rng, kind, reduction):
    x = make_logits(rng, (6, C))
    shift = rng.uniform(-50.0, 50.0, (6, 1))
    y = make_y(kind, rng, x.shape)
    a = loss_of(kind, y, x, from_logits=True, reduction=reduction, return_grad=True)
    b = loss_of(kind, y, x + shift, from_logits=True, reduction=reduction, return_grad=True)
    # x + shift rounds by up to eps * 60 per entry
    np.testing.assert_allclose(b[0], a[0], rtol=0, atol=64 * 60 * EPS64)
    np.testing.assert_allclose(b[1], a[1], rtol=0, atol=64 * 60 * EPS64)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize(
    ("shape", "axis"),
    [
        ((C, 3, 4), 0),
        ((3, C, 4), 1),
        ((3, 4, C), -1),
        ((C, 2, 3, 2), 0),
        ((2, C, 3, 2), 1),
        ((2, 3, 2, C), -1),
        ((2, 3, C, 2), 2),
    ],
    ids=["3d-ax0", "3d-ax1", "3d-ax-1", "4d-ax0", "4d-ax1", "4d-ax-1", "4d-ax2"],
)
def test_axis_equals_moveaxis(rng, kind, shape, axis):
    x = make_logits(rng, shape)
    moved = np.moveaxis(x, axis, -1)
    s = rng.uniform(0.1, 2.0, moved.shape[:-1])
    cw = rng.uniform(0.2, 3.0, C)
    kw = {
        "from_logits": True,
        "class_weight": cw,
        "sample_weight": s,
        "label_smoothing": 0.05,
        "reduction": "none",
        "return_grad": True,
    }
    if kind == "sparse":
        labels = make_labels(rng, moved.shape[:-1], C)
        got = xent.sparse_categorical_cross_entropy(labels, x, axis=axis, **kw)
        want = xent.sparse_categorical_cross_entropy(labels, moved, axis=-1, **kw)
    else:
        t = make_targets(rng, moved.shape, -1)
        got = xent.categorical_cross_entropy(np.moveaxis(t, -1, axis), x, axis=axis, **kw)
        want = xent.categorical_cross_entropy(t, moved, axis=-1, **kw)
    assert got[0].shape == moved.shape[:-1]
    np.testing.assert_allclose(got[0], want[0], rtol=4 * EPS64, atol=4 * EPS64)
    np.testing.assert_allclose(
        got[1], np.moveaxis(want[1], -1, axis), rtol=4 * EPS64, atol=4 * EPS64
    )


# -------------------------------------------------------------------- ignore_index


@pytest.mark.parametrize("ignore_index", [-100, 2, 7], ids=["ig-100", "ig-in-range", "ig7"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_ignored_rows_give_zero_and_do_not_count(rng, from_logits, ignore_index):
    x = make_pred(rng, (8, C), -1, from_logits)
    labels = make_labels(rng, 8, C)
    labels[labels == ignore_index] = 0
    labels[[1, 4, 5]] = ignore_index
    keep = labels != ignore_index
    cw = rng.uniform(0.2, 3.0, C)
    s = rng.uniform(0.1, 2.0, 8)
    kw = {
        "from_logits": from_logits,
        "class_weight": cw,
        "label_smoothing": 0.1,
        "ignore_index": ignore_index,
        "return_grad": True,
    }
    none, g_none = xent.sparse_categorical_cross_entropy(
        labels, x, sample_weight=s, reduction="none", **kw
    )
    np.testing.assert_array_equal(none[~keep], 0.0)
    np.testing.assert_array_equal(g_none[~keep], 0.0)
    assert np.all(none[keep] > 0)
    mean, g_mean = xent.sparse_categorical_cross_entropy(labels, x, sample_weight=s, **kw)
    kept_mean, kept_grad = xent.sparse_categorical_cross_entropy(
        labels[keep], x[keep], sample_weight=s[keep], **kw
    )
    np.testing.assert_allclose(mean, kept_mean, rtol=8 * EPS64)
    np.testing.assert_allclose(g_mean[keep], kept_grad, rtol=8 * EPS64)
    np.testing.assert_array_equal(g_mean[~keep], 0.0)


def test_ignored_row_may_hold_any_logits(rng):
    """An ignored row is never looked at: all -inf logits there still give loss 0."""
    x = make_logits(rng, (3, C))
    x[1] = -np.inf
    labels = np.array([0, -100, 3])
    loss, grad = xent.sparse_categorical_cross_entropy(
        labels, x, from_logits=True, ignore_index=-100, reduction="none", return_grad=True
    )
    assert loss[1] == 0.0
    np.testing.assert_array_equal(grad[1], 0.0)
    assert np.all(np.isfinite(loss))


@pytest.mark.parametrize("kind", ["all-ignored", "zero-sample-weight", "zero-class-weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1], ids=["ls0", "ls0.1"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
def test_zero_total_weight_mean_is_zero_with_zero_grad(rng, from_logits, smoothing, kind):
    x = make_pred(rng, (4, C), -1, from_logits)
    labels = np.array([0, 0, 0, 0])
    kw = {"from_logits": from_logits, "label_smoothing": smoothing, "return_grad": True}
    if kind == "all-ignored":
        kw["ignore_index"] = 0
    elif kind == "zero-sample-weight":
        kw["sample_weight"] = np.zeros(4)
    else:
        kw["class_weight"] = np.array([0.0, 1.0, 1.0, 1.0, 1.0])
    loss, grad = xent.sparse_categorical_cross_entropy(labels, x, **kw)
    assert type(loss) is np.float64
    assert loss == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(x))
    kw.pop("ignore_index", None)
    if kind == "all-ignored":
        kw["sample_weight"] = np.zeros(4)
    loss, grad = xent.categorical_cross_entropy(np.eye(C)[labels], x, **kw)
    assert loss == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(x))


# ------------------------------------------------------------ infinities and limits


def test_neginf_logit_with_zero_target_contributes_nothing():
    x = np.array([[0.0, 0.0, -np.inf]])
    t = np.array([[0.5, 0.5, 0.0]])
    loss, grad = xent.categorical_cross_entropy(t, x, from_logits=True, return_grad=True)
    # 0 log 0 = 0: -(0.5 log 0.5 + 0.5 log 0.5) = log 2
    np.testing.assert_allclose(loss, np.log(2.0), rtol=2 * EPS64)
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.0]])
    loss = xent.sparse_categorical_cross_entropy(np.array([1]), x, from_logits=True)
    np.testing.assert_allclose(loss, np.log(2.0), rtol=2 * EPS64)


def test_zero_probability_with_zero_target_contributes_nothing():
    p = np.array([[0.5, 0.5, 0.0]])
    t = np.array([[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(xent.categorical_cross_entropy(t, p), np.log(2.0), rtol=2 * EPS64)
    np.testing.assert_allclose(
        xent.sparse_categorical_cross_entropy(np.array([0]), p), np.log(2.0), rtol=2 * EPS64
    )


def test_zero_probability_on_true_class_is_inf():
    p = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])
    none = xent.sparse_categorical_cross_entropy(np.array([0, 0]), p, reduction="none")
    assert none[0] == np.inf
    assert np.isfinite(none[1])
    assert xent.categorical_cross_entropy(np.eye(3)[[0, 0]], p) == np.inf
    x = np.array([[-np.inf, 0.0, 0.0]])
    assert xent.sparse_categorical_cross_entropy(np.array([0]), x, from_logits=True) == np.inf


def test_smoothing_puts_mass_on_zero_probability():
    p = np.array([[0.0, 0.5, 0.5]])
    assert xent.sparse_categorical_cross_entropy(np.array([1]), p, label_smoothing=0.1) == np.inf


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize(
    "row",
    [[-np.inf] * C, [np.inf, np.inf, 0.0, 1.0, 2.0], [0.0, np.nan, 1.0, 2.0, 3.0]],
    ids=["all-neginf", "two-posinf", "nan"],
)
def test_undefined_rows_are_nan(rng, kind, row):
    x = make_logits(rng, (3, C))
    x[1] = row
    y = make_y(kind, rng, x.shape)
    none = loss_of(kind, y, x, from_logits=True, reduction="none")
    assert np.isnan(none[1])
    assert np.all(np.isfinite(none[[0, 2]]))
    assert np.isnan(loss_of(kind, y, x, from_logits=True, reduction="mean"))
    assert np.isnan(loss_of(kind, y, x, from_logits=True, reduction="sum"))


def test_nan_probability_propagates():
    p = np.array([[0.2, 0.3, 0.5], [np.nan, 0.5, 0.5]])
    none = xent.sparse_categorical_cross_entropy(np.array([0, 0]), p, reduction="none")
    assert np.isfinite(none[0])
    assert np.isnan(none[1])
    t = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    none = xent.categorical_cross_entropy(t, p, reduction="none")
    assert np.isfinite(none[0])
    assert np.isnan(none[1])


def test_single_posinf_logit_is_the_limit():
    x = np.array([[np.inf, 0.0, -1.0], [np.inf, 0.0, -1.0]])
    loss, grad = xent.sparse_categorical_cross_entropy(
        np.array([0, 1]), x, from_logits=True, reduction="none", return_grad=True
    )
    # softmax is one-hot on the +inf entry: -log 1 = 0 on it, -log 0 = inf elsewhere
    assert loss[0] == 0.0
    assert loss[1] == np.inf
    np.testing.assert_array_equal(grad[0], 0.0)
    t = np.array([[1.0, 0.0, 0.0]])
    loss, grad = xent.categorical_cross_entropy(t, x[:1], from_logits=True, return_grad=True)
    assert loss == 0.0
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.0]])


def test_large_logits(rng):
    x = 1e4 * rng.standard_normal((6, C))
    labels = make_labels(rng, 6, C)
    t = make_targets(rng, (6, C), -1)
    scale = float(np.max(np.abs(x)))
    got = xent.sparse_categorical_cross_entropy(labels, x, from_logits=True, reduction="none")
    want, _ = sparse_reference(labels, x, from_logits=True, reduction="none")
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=8 * EPS64, atol=8 * EPS64 * scale)
    got = xent.categorical_cross_entropy(t, x, from_logits=True, reduction="none")
    want, _ = reference(t, x, from_logits=True, reduction="none")
    np.testing.assert_allclose(got, want, rtol=8 * EPS64, atol=8 * EPS64 * scale)


def test_large_offset_logits(rng):
    noise = rng.standard_normal((6, C))
    labels = make_labels(rng, 6, C)
    got, grad = xent.sparse_categorical_cross_entropy(
        labels, 1e4 + noise, from_logits=True, reduction="none", return_grad=True
    )
    want, want_grad = sparse_reference(labels, noise, from_logits=True, reduction="none")
    # 1e4 + noise is rounded to a multiple of 2**-39 ~ 1e4 eps: the oracle is the shifted input
    np.testing.assert_allclose(got, want, rtol=0, atol=64 * 1e4 * EPS64)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=64 * 1e4 * EPS64)


def test_many_classes(rng):
    n = 100_000
    x = 2.0 * rng.standard_normal((3, n))
    labels = make_labels(rng, 3, n)
    loss, grad = xent.sparse_categorical_cross_entropy(
        labels, x, from_logits=True, reduction="none", return_grad=True
    )
    want, want_grad = sparse_reference(labels, x, from_logits=True, reduction="none")
    np.testing.assert_allclose(loss, want, rtol=64 * EPS64)
    np.testing.assert_allclose(grad, want_grad, rtol=64 * EPS64, atol=64 * EPS64 / n)
    t = make_targets(rng, (3, n), -1)
    np.testing.assert_allclose(
        xent.categorical_cross_entropy(t, x, from_logits=True, reduction="none"),
        reference(t, x, from_logits=True, reduction="none")[0],
        rtol=64 * EPS64,
    )


def test_extreme_probabilities():
    p = np.array([[1e-300, 1.0], [1.0 - 1e-12, 1e-12]])
    got = xent.sparse_categorical_cross_entropy(np.array([0, 0]), p, reduction="none")
    # -log p exactly as float64 evaluates it: log is accurate near 1 for an exact input
    want = np.array([-np.log(1e-300), -np.log(p[1, 0])])
    np.testing.assert_allclose(got, want, rtol=4 * EPS64, atol=0)
    got = xent.categorical_cross_entropy(np.eye(2)[[0, 0]], p, reduction="none")
    np.testing.assert_allclose(got, want, rtol=4 * EPS64, atol=0)


# ---------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dtype_is_preserved(rng, dtype, kind, from_logits, reduction):
    x = make_pred(rng, (6, C), -1, from_logits).astype(dtype)
    if not from_logits:
        x = (x.astype(np.float64) / x.astype(np.float64).sum(-1, keepdims=True)).astype(dtype)
    y = make_y(kind, rng, x.shape)
    loss, grad = loss_of(kind, y, x, from_logits=from_logits, reduction=reduction, return_grad=True)
    # the float64 formula on the very values xent received (their rows sum to 1 only to
    # within the rounding of ``dtype``, so xent itself would reject them as float64)
    ref = sparse_reference if kind == "sparse" else reference
    want, _ = ref(y, x.astype(np.float64), from_logits=from_logits, reduction=reduction)
    if reduction == "none":
        assert loss.dtype == dtype
        assert loss.shape == (6,)
    else:
        assert type(loss) is np.dtype(dtype).type
    assert grad.dtype == dtype
    assert grad.shape == x.shape
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
    p = np.eye(3)[[0, 2]].astype(int_dtype)
    loss, grad = xent.sparse_categorical_cross_entropy(np.array([0, 2]), p, return_grad=True)
    assert type(loss) is np.float64
    assert loss == 0.0
    assert grad.dtype == np.float64
    loss = xent.categorical_cross_entropy(np.eye(3)[[0, 2]], p, reduction="none")
    assert loss.dtype == np.float64
    z = np.array([[1, 0, 0], [0, 0, 1]]).astype(int_dtype)
    loss = xent.sparse_categorical_cross_entropy(np.array([0, 1]), z, from_logits=True)
    assert type(loss) is np.float64
    want, _ = sparse_reference(np.array([0, 1]), z, from_logits=True)
    np.testing.assert_allclose(loss, want, rtol=4 * EPS64)


@pytest.mark.parametrize(
    "label_dtype", [np.int8, np.uint8, np.int32, np.int64, np.float32, np.float64]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_label_and_weight_dtypes_do_not_change_result_dtype(rng, dtype, label_dtype):
    x = make_logits(rng, (6, C)).astype(dtype)
    labels = make_labels(rng, 6, C)
    base = xent.sparse_categorical_cross_entropy(labels, x, from_logits=True)
    for w_dtype in (np.float16, np.float64, np.int32):
        kw = {
            "from_logits": True,
            "class_weight": np.ones(C, dtype=w_dtype),
            "sample_weight": np.ones(6, dtype=w_dtype),
            "return_grad": True,
        }
        loss, grad = xent.sparse_categorical_cross_entropy(labels.astype(label_dtype), x, **kw)
        assert type(loss) is np.dtype(dtype).type
        assert grad.dtype == dtype
        np.testing.assert_allclose(loss, base, rtol=4 * np.finfo(dtype).eps)
        ignored = labels.astype(label_dtype)
        ignored[0] = 4
        loss_ig = xent.sparse_categorical_cross_entropy(ignored, x, ignore_index=4, **kw)[0]
        loss_neg = xent.sparse_categorical_cross_entropy(
            labels.astype(label_dtype), x, ignore_index=-100, **kw
        )[0]
        assert type(loss_ig) is np.dtype(dtype).type
        np.testing.assert_allclose(loss_neg, base, rtol=4 * np.finfo(dtype).eps)
        t = np.eye(C, dtype=label_dtype)[labels]
        loss, grad = xent.categorical_cross_entropy(t, x, **kw)
        assert type(loss) is np.dtype(dtype).type
        assert grad.dtype == dtype


# ------------------------------------------------------------------ input handling


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
def test_inputs_unchanged_and_read_only_accepted(rng, kind, from_logits):
    shape, axis = LAYOUTS["3d-mid"]
    x = make_pred(rng, shape, axis, from_logits)
    b = batch_shape(shape, axis)
    y = (
        apply_ignore(rng, make_labels(rng, b, C), 1)
        if kind == "sparse"
        else make_targets(rng, shape, axis)
    )
    cw = rng.uniform(0.2, 2.0, C)
    s = rng.uniform(0.1, 2.0, b)
    fn = (
        xent.sparse_categorical_cross_entropy
        if kind == "sparse"
        else xent.categorical_cross_entropy
    )
    kw = {
        "from_logits": from_logits,
        "axis": axis,
        "class_weight": cw,
        "sample_weight": s,
        "label_smoothing": 0.1,
        "return_grad": True,
    }
    if kind == "sparse":
        kw["ignore_index"] = 1
    arrays = [y, x, cw, s]
    before = [a.copy() for a in arrays]
    want = {}
    for reduction in REDUCTIONS:
        want[reduction] = fn(y, x, reduction=reduction, **kw)
        for a, prev in zip(arrays, before, strict=False):
            np.testing.assert_array_equal(a, prev)
    for a in arrays:
        a.flags.writeable = False
    for reduction in REDUCTIONS:
        loss, grad = fn(y, x, reduction=reduction, **kw)
        np.testing.assert_array_equal(loss, want[reduction][0])
        np.testing.assert_array_equal(grad, want[reduction][1])


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
def test_non_contiguous_equal_contiguous(rng, kind, from_logits):
    big = make_pred(rng, (10, 12), -1, from_logits)
    for view, axis in ((np.s_[::2, ::3], -1), (np.s_[1::3, :], -1)):
        x = big[view]
        if not from_logits:
            x = x / x.sum(axis=-1, keepdims=True)
        for xv, ax in ((x, axis), (np.ascontiguousarray(x).T, 0)):
            n = xv.shape[ax]
            if kind == "sparse":
                y = make_labels(rng, batch_shape(xv.shape, ax), n)
                y_strided = np.repeat(y, 2)[::2]
                fn = xent.sparse_categorical_cross_entropy
            else:
                y = make_targets(rng, xv.shape, ax)
                y_strided = np.repeat(y, 2, axis=0)[::2]
                fn = xent.categorical_cross_entropy
            s = np.repeat(rng.uniform(0.1, 2.0, batch_shape(xv.shape, ax)), 2)[::2]
            kw = {"from_logits": from_logits, "axis": ax, "reduction": "none", "return_grad": True}
            got = fn(y_strided, xv, sample_weight=s, **kw)
            want = fn(
                np.ascontiguousarray(y),
                np.ascontiguousarray(xv),
                sample_weight=np.ascontiguousarray(s),
                **kw,
            )
            # same values; summation order along a strided axis may differ by an ulp
            np.testing.assert_allclose(got[0], want[0], rtol=4 * EPS64, atol=4 * EPS64)
            np.testing.assert_allclose(got[1], want[1], rtol=4 * EPS64, atol=4 * EPS64)


# ------------------------------------------------- large inputs: many blocks and threads

# Shapes that span several blocks of the engine, in each of its layouts: rows with few classes
# (transposed to class-major scratch), rows with many classes, class axis first (class-major),
# class axis in the middle with a long and with a short trailing batch dimension.
LARGE = {
    "rows-C7": ((30_000, 7), -1),
    "rows-C40": ((6_000, 40), -1),
    "classes-first": ((7, 30_000), 0),
    "middle-long-tail": ((2, 6, 12_000), 1),
    "middle-short-tail": ((300, 6, 2), 1),
}


@pytest.fixture
def restore_threads():
    yield
    xent.set_num_threads(None)


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("layout", list(LARGE))
def test_large_inputs_match_reference(rng, layout, kind, from_logits):
    shape, axis = LARGE[layout]
    x = make_pred(rng, shape, axis, from_logits)
    class_weight, sample_weight = option_values(rng, shape, axis, True, True)
    kw = {
        "from_logits": from_logits,
        "axis": axis,
        "class_weight": class_weight,
        "sample_weight": sample_weight,
        "label_smoothing": 0.1,
    }
    if kind == "sparse":
        y = apply_ignore(rng, make_labels(rng, batch_shape(shape, axis), shape[axis]), 1)
        kw_ref = {**kw, "ignore_index": 1}
        ref = sparse_reference
    else:
        y = make_targets(rng, shape, axis)
        kw_ref = kw
        ref = reference
    n_rows = x.size // shape[axis]
    for reduction in ("none", "mean"):
        loss, grad = loss_of(kind, y, x, reduction=reduction, return_grad=True, **kw_ref)
        want, want_grad = ref(y, x, reduction=reduction, **kw_ref)
        # a sum of n_rows positive terms in another order: at most n_rows eps apart
        k = 32 if reduction == "none" else 32 + n_rows
        np.testing.assert_allclose(loss, want, rtol=k * EPS64, atol=k * EPS64)
        np.testing.assert_allclose(
            grad, want_grad, rtol=64 * EPS64, atol=64 * EPS64 * np.max(np.abs(want_grad))
        )


EPS32 = np.finfo(np.float32).eps


@pytest.mark.parametrize("n_classes", [16, 17, 24, 33, 40, 48, 49, 64])
@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
def test_float32_rows_either_side_of_the_tile_threshold(rng, kind, n_classes):
    """Float32 rows of at most 48 classes go through class-major tiles, longer ones one row at
    a time (16 for float64 and the focal loss): on both sides of those thresholds the loss and
    gradient match the float64 formulas to float32's rounding, and the loss has the same bits
    with and without the gradient (one threshold for both)."""
    shape = (1_000, n_classes)
    x = make_logits(rng, shape).astype(np.float32)
    y = make_y(kind, rng, shape)
    class_weight, sample_weight = option_values(rng, shape, -1, True, True)
    kw = {
        "from_logits": True,
        "class_weight": class_weight,
        "sample_weight": sample_weight,
        "label_smoothing": 0.1,
    }
    ref = sparse_reference if kind == "sparse" else reference
    for reduction in ("none", "mean"):
        loss = loss_of(kind, y, x, reduction=reduction, **kw)
        loss_g, grad = loss_of(kind, y, x, reduction=reduction, return_grad=True, **kw)
        np.testing.assert_array_equal(loss, loss_g)
        want, want_grad = ref(y, x, reduction=reduction, **kw)
        np.testing.assert_allclose(loss, want, rtol=2 * EPS32)
        np.testing.assert_allclose(
            grad, want_grad, rtol=2 * EPS32, atol=2 * EPS32 * np.max(np.abs(want_grad))
        )
    for z in (0.0, 1e-3):  # the plain loss, and the z-loss option on the same path
        loss = loss_of(kind, y, x, reduction="none", z_loss=z, from_logits=True)
        loss_g, _ = loss_of(
            kind, y, x, reduction="none", z_loss=z, from_logits=True, return_grad=True
        )
        np.testing.assert_array_equal(loss, loss_g)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("layout", ["rows-C7", "classes-first", "middle-long-tail"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_results_do_not_depend_on_thread_count(rng, restore_threads, dtype, layout, kind):
    shape, axis = LARGE[layout]
    x = make_logits(rng, shape).astype(dtype)
    y = make_y(kind, rng, shape, axis)
    kw = {"from_logits": True, "axis": axis, "label_smoothing": 0.1, "return_grad": True}
    results = []
    for n in (1, 2, 3):
        xent.set_num_threads(n)
        results.append([loss_of(kind, y, x, reduction=red, **kw) for red in REDUCTIONS])
    for other in results[1:]:
        for (loss, grad), (loss1, grad1) in zip(other, results[0], strict=False):
            np.testing.assert_array_equal(loss, loss1)
            np.testing.assert_array_equal(grad, grad1)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("layout", ["rows-C7", "classes-first", "middle-long-tail"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_the_loss_is_the_same_with_and_without_the_gradient(
    rng, restore_threads, dtype, layout, kind
):
    """The mean's denominator (for soft targets: checked as the kernel reads them, or before it
    when a gradient needs it) and every loss bit do not depend on ``return_grad``."""
    shape, axis = LARGE[layout]
    x = make_logits(rng, shape).astype(dtype)
    y = make_y(kind, rng, shape, axis)
    n_classes = shape[axis]
    batch = tuple(n for i, n in enumerate(shape) if i != axis % len(shape))
    kw = {
        "from_logits": True,
        "axis": axis,
        "class_weight": rng.uniform(0.5, 2.0, n_classes),
        "sample_weight": rng.uniform(0.0, 2.0, batch),
    }
    for n in (1, 2):
        xent.set_num_threads(n)
        for reduction in REDUCTIONS:
            alone = loss_of(kind, y, x, reduction=reduction, **kw)
            loss, _ = loss_of(kind, y, x, reduction=reduction, return_grad=True, **kw)
            np.testing.assert_array_equal(alone, loss)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
def test_concurrent_calls_from_user_threads(rng, restore_threads, kind):
    """Calls from several user threads at once share the engine's pool and each gets exactly
    the result of a lone call."""
    xent.set_num_threads(2)
    shape, axis = LARGE["rows-C40"]
    x = make_logits(rng, shape)
    y = make_y(kind, rng, shape, axis)
    kw = {"from_logits": True, "axis": axis, "return_grad": True}
    want_loss, want_grad = loss_of(kind, y, x, **kw)

    def call(_: int) -> tuple[np.ndarray, np.ndarray]:
        return loss_of(kind, y, x, **kw)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(call, range(8)))
    for loss, grad in results:
        np.testing.assert_array_equal(loss, want_loss)
        np.testing.assert_array_equal(grad, want_grad)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
def test_large_strided_input_equals_contiguous(rng, kind):
    base = make_logits(rng, (40_000, 12))
    x = base[::2, ::2]  # (20_000, 6), strided in both axes
    y = make_y(kind, rng, x.shape)
    kw = {"from_logits": True, "reduction": "none", "return_grad": True}
    got = loss_of(kind, y, x, **kw)
    want = loss_of(kind, y, np.ascontiguousarray(x), **kw)
    np.testing.assert_allclose(got[0], want[0], rtol=4 * EPS64, atol=4 * EPS64)
    np.testing.assert_allclose(got[1], want[1], rtol=4 * EPS64, atol=4 * EPS64)
    y_t = y if kind == "sparse" else y.T  # class axis first, as the transposed logits
    got = loss_of(kind, y_t, np.ascontiguousarray(x).T, axis=0, **kw)
    np.testing.assert_allclose(got[0], want[0], rtol=4 * EPS64, atol=4 * EPS64)
    np.testing.assert_allclose(got[1], want[1].T, rtol=4 * EPS64, atol=4 * EPS64)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_batch(kind, reduction):
    x = np.zeros((0, 3), dtype=np.float32)
    y = np.zeros(0, dtype=int) if kind == "sparse" else np.zeros((0, 3))
    loss, grad = loss_of(kind, y, x, from_logits=True, reduction=reduction, return_grad=True)
    assert grad.shape == (0, 3)
    assert grad.dtype == np.float32
    if reduction == "none":
        assert loss.shape == (0,)
        assert loss.dtype == np.float32
    else:
        # an empty sum is 0 and a zero total weight gives a mean of 0
        assert type(loss) is np.float32
        assert loss == 0.0


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("s_shape", [(), (1,), (4,), (2, 1), (1, 4), (2, 4)], ids=lambda s: f"s{s}")
def test_sample_weight_broadcasts_to_batch_shape(rng, kind, s_shape):
    x = make_logits(rng, (2, C, 4))
    y = make_y(kind, rng, x.shape, 1)
    s = rng.uniform(0.1, 2.0, s_shape)
    kw = {
        "from_logits": True,
        "axis": 1,
        "class_weight": rng.uniform(0.5, 2.0, C),
        "label_smoothing": 0.1,
        "return_grad": True,
    }
    for reduction in REDUCTIONS:
        got = loss_of(kind, y, x, sample_weight=s, reduction=reduction, **kw)
        want = loss_of(
            kind, y, x, sample_weight=np.broadcast_to(s, (2, 4)).copy(), reduction=reduction, **kw
        )
        np.testing.assert_allclose(got[0], want[0], rtol=4 * EPS64, atol=4 * EPS64)
        np.testing.assert_allclose(got[1], want[1], rtol=4 * EPS64, atol=4 * EPS64)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["f16", "f32"])
def test_low_precision_large_logits(rng, kind, dtype):
    """Logits near 1e4 (float16: near 6e4) in low precision: no overflow, accurate loss."""
    offset = 6e4 if dtype == np.float16 else 1e4
    x = (offset + 4.0 * rng.standard_normal((50, C))).astype(dtype)
    y = make_y(kind, rng, x.shape)
    got, grad = loss_of(kind, y, x, from_logits=True, reduction="none", return_grad=True)
    ref = sparse_reference if kind == "sparse" else reference
    want, want_grad = ref(y, x.astype(np.float64), from_logits=True, reduction="none")
    assert got.dtype == dtype
    assert np.all(np.isfinite(got))
    # the shift x - max is exact (Sterbenz), so the error is relative to the loss, not 1e4
    k = 4 if dtype == np.float16 else 32
    np.testing.assert_allclose(
        got, want, rtol=k * np.finfo(dtype).eps, atol=k * np.finfo(dtype).eps
    )
    np.testing.assert_allclose(
        grad, want_grad, rtol=k * np.finfo(dtype).eps, atol=k * np.finfo(dtype).eps
    )


@pytest.mark.parametrize(
    "row",
    [
        [40.0, 0.0, 0.0],
        [0.0, -40.0, -745.0],
        [700.0, 0.0, 699.0],
        [-1e4, -1e4 - 30.0, -1e4 - 36.0],
        [1e-20, 0.0, -1e-20],
    ],
    ids=["confident", "tiny-others", "near-700", "offset-1e4", "near-uniform"],
)
def test_true_class_loss_matches_mpmath(row):
    """-log softmax(x)_0 = log(sum_c exp(x_c - x_0)) at 50 digits: small losses keep their
    relative accuracy (log1p of the rest, not log of a sum that rounds to 1)."""
    mpmath.mp.dps = 50
    x = [mpmath.mpf(v) for v in row]
    want = float(mpmath.log(mpmath.fsum(mpmath.exp(v - x[0]) for v in x)))
    got = xent.sparse_categorical_cross_entropy(np.array([0]), np.array([row]), from_logits=True)
    np.testing.assert_allclose(got, want, rtol=8 * EPS64, atol=0)
    t = np.array([[1.0, 0.0, 0.0]])
    got = xent.categorical_cross_entropy(t, np.array([row]), from_logits=True)
    np.testing.assert_allclose(got, want, rtol=8 * EPS64, atol=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
def test_single_row_gives_numpy_scalar(kind, reduction):
    """One row (1-D y_pred): the batch is 0-d, so every reduction returns a NumPy scalar
    (contract: "Scalars are NumPy scalars"; STYLE: 0-d results as ``out[()]``)."""
    p = np.array([0.2, 0.8], dtype=np.float32)
    y = np.int64(1) if kind == "sparse" else np.array([0.0, 1.0])
    loss, grad = loss_of(kind, y, p, reduction=reduction, return_grad=True)
    assert type(loss) is np.float32
    np.testing.assert_allclose(
        loss, -np.log(np.float64(np.float32(0.8))), rtol=4 * np.finfo(np.float32).eps
    )
    assert grad.shape == (2,)
    assert grad.dtype == np.float32


def test_sklearn_log_loss_multiclass(rng):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    p = make_probs(rng, (40, C), -1)
    labels = make_labels(rng, 40, C)
    labels[:C] = np.arange(C)  # every class present, as log_loss infers the classes from y
    w = rng.uniform(0.1, 2.0, 40)
    for sample_weight in (None, w):
        want = sklearn_metrics.log_loss(labels, p, sample_weight=sample_weight)
        got = xent.sparse_categorical_cross_entropy(labels, p, sample_weight=sample_weight)
        np.testing.assert_allclose(got, want, rtol=16 * EPS64)
        got = xent.categorical_cross_entropy(np.eye(C)[labels], p, sample_weight=sample_weight)
        np.testing.assert_allclose(got, want, rtol=16 * EPS64)


@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
@pytest.mark.parametrize(
    "view", ["reversed-batch", "reversed-classes", "fortran", "step-3", "broadcast"]
)
def test_unusual_memory_layouts_equal_contiguous(rng, kind, view):
    """Negative strides, Fortran order and zero strides (np.broadcast_to, read-only)."""
    base = make_logits(rng, (30, C, 40))
    x = {
        "reversed-batch": base[::-1],
        "reversed-classes": base[:, ::-1, :],
        "fortran": np.asfortranarray(base),
        "step-3": base[..., ::-3],
        "broadcast": np.broadcast_to(base[:1, :, :1], (30, C, 40)),
    }[view]
    y = make_y(kind, rng, x.shape, 1)
    kw = {"from_logits": True, "axis": 1, "reduction": "none", "return_grad": True}
    got = loss_of(kind, y, x, **kw)
    want = loss_of(kind, y, np.ascontiguousarray(x), **kw)
    np.testing.assert_allclose(got[0], want[0], rtol=4 * EPS64, atol=4 * EPS64)
    np.testing.assert_allclose(got[1], want[1], rtol=4 * EPS64, atol=4 * EPS64)


@pytest.mark.parametrize(
    "scale", [1e-300, 1e-310, 1e300], ids=["1e-300", "1e-310-subnormal", "1e300"]
)
@pytest.mark.parametrize("which", ["class_weight", "sample_weight"])
@pytest.mark.parametrize("kind", SPARSE_AND_CAT)
def test_mean_is_invariant_to_weight_scale(rng, kind, which, scale):
    """mean = sum s_i l_i / sum r_i does not change when every weight is multiplied by the same
    positive constant, and neither does its gradient, down to tiny (even subnormal) weights."""
    x = make_logits(rng, (6, C))
    y = make_y(kind, rng, x.shape)
    w = rng.uniform(0.5, 2.0, C if which == "class_weight" else 6)
    kw = {"from_logits": True, "label_smoothing": 0.1, "return_grad": True}
    want, want_grad = loss_of(kind, y, x, **{which: w}, **kw)
    got, grad = loss_of(kind, y, x, **{which: w * scale}, **kw)
    # weights near 1e-310 keep ~13 significant digits
    np.testing.assert_allclose(got, want, rtol=1e-11)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-11, atol=1e-11)


# ------------------------------------------------------- one-hot targets run as the sparse loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((300, 5), -1), ((40, 700), -1), ((6, 300), 0), ((300, 2), -1), ((2, 300), 0)],
    ids=["few", "many", "axis0", "two", "two-axis0"],
)
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"label_smoothing": 0.1, "class_weight": "cw", "reduction": "none"},
        {"z_loss": 1e-3, "sample_weight": "sw"},
        {"focal_gamma": 2.0, "reduction": "sum"},
        {"focal_gamma": 0.5, "z_loss": 1e-3},
    ],
    ids=["plain", "smoothing-cw", "z-sw", "focal", "focal-half-z"],
)
def test_one_hot_targets_give_the_sparse_loss_bit_for_bit(rng, dtype, shape, axis, kw):
    """One-hot targets from logits run as the sparse loss of their class ids (the same loss):
    the same bits, loss and gradient, for every option."""
    n = shape[axis]
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    batch = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
    labels = rng.integers(0, n, size=batch)
    onehot = np.moveaxis((labels[..., None] == np.arange(n)).astype(dtype), -1, axis)
    kw = dict(kw)
    if kw.get("class_weight") == "cw":
        kw["class_weight"] = rng.uniform(0.5, 2.0, n)
    if kw.get("sample_weight") == "sw":
        kw["sample_weight"] = rng.uniform(0.0, 2.0, batch)
    for return_grad in (False, True):
        want = xent.sparse_categorical_cross_entropy(
            labels, x, from_logits=True, axis=axis, return_grad=return_grad, **kw
        )
        got = xent.categorical_cross_entropy(
            onehot, x, from_logits=True, axis=axis, return_grad=return_grad, **kw
        )
        for g, w in zip(
            got if return_grad else [got], want if return_grad else [want], strict=True
        ):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("C", [49, 700, 1001])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample-weights"])
def test_one_hot_rows_found_by_the_exp_pass(rng, C, weighted):
    """Float32 rows of many classes whose block starts one-hot: the kernel looks for one-hot
    rows itself (xk_block.hot_scan), their pass the sparse loss's, until a row is not one-hot,
    after which the rows take the weighted sums' pass. Every row gets the bits it gets in a
    block of its own (the sparse loss's for a one-hot row, a -0 target the same as 0), and the
    mean is the one the gradient's path (the targets checked first) gives."""
    R = 40
    x = (4 * rng.standard_normal((R, C))).astype(np.float32)
    y = rng.integers(0, C, R)
    t = np.zeros((R, C), np.float32)
    t[np.arange(R), y] = 1.0
    x[3, y[3]] = -np.inf  # the class's logit -inf: loss inf
    x[4, y[4]] = np.inf  # a single +inf at the class: loss 0
    x[5, :] = -np.inf  # every logit -inf: NaN
    x[6, C // 2] = np.nan  # a NaN logit: NaN
    x[7, y[7]] = x[7].max() + 80.0  # a confident row
    t[8, (y[8] + 1) % C] = -0.0  # one-hot with a -0 target
    soft = rng.uniform(0.0, 1.0, C).astype(np.float32)
    t[20] = soft / soft.sum(dtype=np.float64)  # not one-hot: the rows after it not looked for
    t[20] /= t[20].sum(dtype=np.float64)
    sw = rng.uniform(0.0, 2.0, R) if weighted else None
    got = xent.categorical_cross_entropy(t, x, from_logits=True, reduction="none", sample_weight=sw)
    for r in range(R):
        alone = xent.categorical_cross_entropy(
            t[r : r + 1], x[r : r + 1], from_logits=True, reduction="none",
            sample_weight=None if sw is None else sw[r : r + 1],
        )  # fmt: skip
        np.testing.assert_array_equal(got[r : r + 1], alone, err_msg=f"row {r}")
    hot = np.array([r for r in range(R) if r != 20])
    sparse = xent.sparse_categorical_cross_entropy(
        y[hot], x[hot], from_logits=True, reduction="none",
        sample_weight=None if sw is None else sw[hot],
    )  # fmt: skip
    np.testing.assert_array_equal(got[hot], sparse)
    assert np.isinf(got[3])
    assert got[4] == 0.0
    assert np.isnan(got[5])
    assert np.isnan(got[6])
    assert 0.0 < got[7] < 1e-30
    keep = np.ones(R, bool)
    keep[[3, 5, 6]] = False  # a finite mean
    kw = {"sample_weight": None if sw is None else sw[keep]}
    mean = xent.categorical_cross_entropy(t[keep], x[keep], from_logits=True, **kw)
    with_grad, _ = xent.categorical_cross_entropy(
        t[keep], x[keep], from_logits=True, return_grad=True, **kw
    )
    assert mean == with_grad


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("two", r"row \(3,\) sums to 2\.0"),
        ("two-apart", r"row \(3,\) sums to 2\.0"),
        ("half", r"row \(3,\) sums to 0\.5\."),
        ("zero", r"row \(3,\) sums to 0\.0"),
        ("nan", r"NaN at index \(3, 10\)"),
        ("outside", r"outside \[0, 1\] \(first: 1\.5 at index \(3, 3\)\)"),
    ],
)
def test_one_hot_rows_found_by_the_exp_pass_check_the_others(bad, message):
    """A block that starts one-hot, whose fourth row is not a distribution: the pass that looks
    for one-hot rows checks it, and the message names it."""
    C = 700
    x = np.zeros((5, C), np.float32)
    t = np.zeros((5, C), np.float32)
    t[np.arange(5), np.arange(5)] = 1.0
    if bad == "two":
        t[3, 10] = 1.0
    elif bad == "two-apart":  # in another vector, another run of 64 entries
        t[3, 600] = 1.0
    elif bad == "zero":
        t[3] = 0.0
    elif bad == "half":  # a single nonzero entry, not 1
        t[3, 3] = 0.5
    elif bad == "nan":
        t[3, 10] = np.nan
    else:
        t[3, 3], t[3, 4] = 1.5, -0.5
    with pytest.raises(ValueError, match=message):
        xent.categorical_cross_entropy(t, x, from_logits=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("row", [100, 997, 1002], ids=["whole-group", "last-whole", "last-row"])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ((1.5, -0.5), r"outside \[0, 1\] \(first: 1\.5 at index \({row}, 0\)\)"),
        ((0.25, 1.25), r"outside \[0, 1\] \(first: 1\.25 at index \({row}, 1\)\)"),
        ((0.25, 0.25), r"row \({row},\) sums to 0\.5\."),
        ((0.5, 0.75), r"row \({row},\) sums to 1\.25\."),
        ((np.nan, 1.0), r"NaN at index \({row}, 0\)"),
    ],
    ids=["negative", "above-one", "sum-low", "sum-high", "nan"],
)
def test_two_class_pairs_check_every_row(dtype, row, bad, message):
    """Two-class targets in row-major pairs, checked by the loss's loop as it reads them
    (groups of eight rows, the last one partial): a bad row anywhere is named."""
    R = 1003  # (tiles of 256 rows: the last one 29 groups of eight and three rows)
    x = np.linspace(-3.0, 3.0, 2 * R).reshape(R, 2).astype(dtype)
    q = np.linspace(0.0, 1.0, R).astype(dtype)
    t = np.stack([1 - q, q], axis=1)
    t[row] = bad
    with pytest.raises(ValueError, match=message.format(row=row)):
        xent.categorical_cross_entropy(t, x, from_logits=True)


def test_nearly_one_hot_targets_keep_their_small_terms():
    # the confident row's loss is log1p(exp(-60)) = 8.75651e-27; the target 1e-30 on the other
    # class adds 1e-30 * 60: a row that is not exactly one-hot runs as the categorical loss
    x = np.array([[60.0, 0.0], [0.0, 1.0]])
    t = np.array([[1.0, 1e-30], [0.0, 1.0]])
    got = xent.categorical_cross_entropy(t, x, from_logits=True, reduction="none")
    tiny = np.exp(-60.0) - np.exp(-120.0) / 2
    assert got[0] == pytest.approx((1 - 1e-30) * tiny + 1e-30 * (60.0 + tiny), rel=1e-15)
    assert got[0] != xent.sparse_categorical_cross_entropy([0], x[:1], from_logits=True)


def test_stats_kernel_finds_one_hot_rows():
    from xent._kernels import _core

    rows = [
        [0, 1] + [0] * 18,
        [0] * 20,
        [1, 1] + [0] * 18,
        [0.5, 0.5] + [0] * 18,
        [np.nan, 1] + [0] * 18,
        [-0.0] * 19 + [1],
        [0] * 17 + [1, 0, 1e-30],
        [0] * 19 + [2],
    ]

    def hot_of(arr):
        hot = np.full(len(arr), -1, np.int64)
        _core.stats_block(arr, None, np.empty(len(arr)), None, hot)
        return hot

    def reference(row):  # the class of the only nonzero entry where it is 1, else negative
        nonzero = [c for c, v in enumerate(row) if v != 0]  # NaN != 0
        return nonzero[0] if len(nonzero) == 1 and row[nonzero[0]] == 1 else -1

    for dtype in (np.float32, np.float64):
        for row in rows:
            for n in (20, 5):  # the vector path and the scalar one
                arr = np.array([row[:n]], dtype)
                assert max(hot_of(arr)[0], -1) == reference(arr[0].tolist()), (row, n)
        # a block: one-hot rows found as such, row-major and class-major; a row that is not
        # makes the block not one-hot
        t = np.eye(20, dtype=dtype)[[3, 0, 19, 7]]
        for arr in (t, np.asfortranarray(t)):
            np.testing.assert_array_equal(hot_of(arr), [3, 0, 19, 7])
            bad = arr.copy()
            bad[2, 5] = 0.25
            assert hot_of(bad).min() < 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C", [1, 2, 3, 10, 16])
@pytest.mark.parametrize("R", [1, 15, 16, 17, 53, 1000])
def test_stats_kernel_one_hot_blocks_of_few_classes(rng, dtype, C, R):
    """A block of contiguous one-hot rows of at most 16 classes, read as one run of entries
    (body.h stats_one_hot): the same results as the stats pass that does not look for one-hot
    rows (hot None), bit for bit, with class and row weights; a 1 moved to the next row, a
    second 1, a NaN or a -0 leave the block to that pass, which says what it is."""
    from xent._kernels import _core

    def run(arr, hot):
        n = len(arr)
        sums, wsums = np.empty(n), np.empty(n)
        got = _core.stats_block(arr, cw, sums, wsums, hot, 1e-3, sw)
        return got, sums, wsums

    cw, sw = rng.uniform(0.5, 2.0, C), rng.uniform(0.0, 2.0, R)
    ids = rng.integers(0, C, R)
    t = np.eye(C, dtype=dtype)[ids]
    t[R // 2, (ids[R // 2] + 1) % C] = -0.0 if C > 1 else t[R // 2, 0]
    hot = np.full(R, -5, np.int64)
    got, sums, wsums = run(t, hot)
    want, want_sums, want_wsums = run(t, None)
    assert got[:5] == want[:5]
    assert got[5]  # every row one-hot
    np.testing.assert_array_equal(sums, want_sums)
    np.testing.assert_array_equal(wsums, want_wsums)
    np.testing.assert_array_equal(hot, ids)
    if R < 2:
        return
    for change in ("moved", "second", "nan") if C > 1 else ("moved", "nan"):
        bad = t.copy()
        r = R - 2
        if change == "moved":  # row r without its 1, row r + 1 with two
            bad[r] = 0.0
            bad[r + 1, 0] = 1.0 if ids[r + 1] != 0 else bad[r + 1, 0]
            if ids[r + 1] == 0:
                bad[r + 1, -1] = 1.0
        elif change == "second":
            bad[r, (ids[r] + 1) % C] = 1.0
        else:
            bad[r, 0] = np.nan
        got, sums, _ = run(bad, np.full(R, -5, np.int64))
        want, want_sums, _ = run(bad, None)
        assert not got[5], change
        assert got[:4] == want[:4] or change == "nan", change
        assert got[2] == want[2], change
        np.testing.assert_array_equal(sums, want_sums)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [2, 3, 10, 16, 31, 32, 33, 48, 50, 70, 100])
def test_stats_kernel_against_numpy(rng, dtype, n_classes):
    """Every output of the stats pass against NumPy on rows the vector loops cut differently
    (whole and partial steps of 32, 16 and 8 entries; rows of at most 16 classes sixteen at a
    time): least and greatest entry (NaN skipped), NaN flag, row sums and weighted sums, and
    each row's one-hot class, with the 1 (or a second nonzero entry, or a NaN) at every
    position."""
    from xent._kernels import _core

    C = n_classes
    rows = []
    for c in range(C):
        rows.append(np.eye(C)[c])  # one-hot at c
        two = np.eye(C)[c] * 0.5
        two[(c * 7 + 3) % C] += 0.5  # two nonzero entries (or one of 1.0 when they meet)
        rows.append(two)
        small = np.eye(C)[c]
        small[(c + 1) % C] = 1e-30  # a 1 and a tiny entry: not one-hot
        rows.append(small)
    rows.append(np.zeros(C))
    soft = rng.random((5, C))
    rows.extend(soft / soft.sum(axis=1, keepdims=True))
    rows = [rows[k] for k in rng.permutation(np.resize(np.arange(len(rows)), max(len(rows), 53)))]
    t = np.array(rows, dtype)
    cw = rng.random(C)

    def run(arr, weights):
        R = len(arr)
        sums, wsums, hot = np.empty(R), np.empty(R), np.full(R, -1, np.int64)
        got = _core.stats_block(arr, weights, sums, None if weights is None else wsums, hot, 1e-3)
        return got, sums, wsums, hot

    (lo, hi, nan, bad, _, _), sums, wsums, hot = run(t, cw)
    assert (lo, hi, nan) == (0.0, 1.0, False)
    assert bad  # the row of zeros
    exact = t.astype(np.float64)
    np.testing.assert_allclose(sums, exact.sum(axis=1), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(wsums, exact @ cw, rtol=1e-15, atol=1e-300)

    def one_hot_class(row):  # -1 without a nonzero entry, -2 with another
        nonzero = np.flatnonzero(row)
        if len(nonzero) == 0:
            return -1
        return nonzero[0] if len(nonzero) == 1 and row[nonzero[0]] == 1 else -2

    want = [one_hot_class(row) for row in exact]
    for r in range(len(t)):  # one row per block: each row's own one-hot class
        assert max(run(t[r : r + 1], None)[3][0], -1) == max(want[r], -1), (r, t[r])
    if C <= 16:  # groups of sixteen rows: every class up to the first row that is not
        # one-hot (and the rest of its group of eight), no more: the block is not one-hot
        done = len(t) - len(t) % 16
        first = next((r for r in range(done) if want[r] < 0), done)
        stop = min(done, (first // 8 + 1) * 8)
        np.testing.assert_array_equal(hot[:stop], want[:stop])
    ids = rng.integers(0, C, 53)  # a block of one-hot rows only: every class, and says so
    for arr in (np.eye(C, dtype=dtype)[ids], np.asfortranarray(np.eye(C, dtype=dtype)[ids])):
        got, _, _, hot = run(arr, None)
        assert got[5]
        np.testing.assert_array_equal(hot, ids)
        arr[40] = 1.0 / C  # one row that is not: the block is not one-hot, in either layout
        assert not run(arr, None)[0][5]
    for c in range(C):  # a NaN or a negative entry anywhere is seen; lo and hi skip NaN
        arr = np.full((1, C), 1.0 / C, dtype)
        arr[0, c] = np.nan
        assert run(arr, None)[0][:3] == (dtype(1.0 / C), dtype(1.0 / C), True)
        arr[0, c] = -2.0
        arr[0, (c + 5) % C] = 3.0
        assert run(arr, None)[0][:3] == (-2.0, 3.0, False)
        # the same inside a block of 37 rows (groups of sixteen and a tail), at rows 5 and 20
        arr = np.full((37, C), 1.0 / C, dtype)
        arr[5, c] = np.nan
        assert run(arr, None)[0][:3] == (dtype(1.0 / C), dtype(1.0 / C), True)
        arr[5, c], arr[20, c], arr[21, (c + 5) % C] = -2.0, -3.0, 4.0
        assert run(arr, None)[0][:3] == (-3.0, 4.0, False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [16, 31, 33, 100, 1000])
def test_stats_kernel_rows_of_zeros(dtype, n_classes):
    """Rows of zeros but one entry (1, 0.5, -2, 3, NaN) at every position: while a row may be
    one-hot the pass reads its vectors of zeros without adding them, and still gives every
    output as NumPy does: the zeros in the least and greatest entry, the entry's sign, range
    and NaN, the sums and the one-hot class."""
    from xent._kernels import _core

    C = n_classes
    positions = range(C) if C <= 100 else [0, 1, 15, 16, 31, 32, 500, 991, 992, 999]
    for value in (1.0, 0.5, -2.0, 3.0, np.nan):
        t = np.zeros((len(positions) + 1, C), dtype)  # the last row all zeros
        for r, c in enumerate(positions):
            t[r, c] = value
        exact = t.astype(np.float64)
        sums, hot = np.empty(len(t)), np.full(len(t), -9, np.int64)
        for arr in (t, t[::-1]):  # the row of zeros first, and last
            lo, hi, nan, _, _, _ = _core.stats_block(arr, None, sums, None, hot)
            finite = exact[np.isfinite(exact)]
            assert (lo, hi, nan) == (finite.min(), finite.max(), bool(np.isnan(value))), value
        _core.stats_block(t, None, sums, None, hot)
        np.testing.assert_array_equal(sums, exact.sum(axis=1))
        for r, c in enumerate(positions):  # one row per block: its own class and range
            got = np.full(1, -9, np.int64)
            lo, hi, nan, _, _, _ = _core.stats_block(t[r : r + 1], None, np.empty(1), None, got)
            assert got[0] == (c if value == 1.0 else -2), (value, c)
            want = (0.0, 0.0) if np.isnan(value) else (min(value, 0.0), max(value, 0.0))
            assert (lo, hi, nan) == (*want, bool(np.isnan(value))), (value, c)
        got = np.full(1, -9, np.int64)
        _core.stats_block(t[-1:], None, np.empty(1), None, got)
        assert got[0] == -1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [3, 20])
def test_stats_kernel_flags_row_sums(dtype, n_classes):
    """The stats pass flags a row whose sum is further than rtol from 1, in either layout; a
    NaN sum is not flagged (NaN targets are the NaN check's), nor are sums within rtol."""
    from xent._kernels import _core

    t = np.full((40, n_classes), 1.0 / n_classes, dtype)

    def flagged(arr, rtol):
        return _core.stats_block(arr, None, np.empty(len(arr)), None, None, rtol)[3]

    for layout in (lambda a: a, lambda a: np.asfortranarray(a)):
        assert not flagged(layout(t), 1e-5)
        bad = t.copy()
        bad[37, 0] += 1e-3
        assert flagged(layout(bad), 1e-5)
        assert not flagged(layout(bad), 1e-2)
        nan = t.copy()
        nan[5, 1] = np.nan
        assert not flagged(layout(nan), 1e-5)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("axis", [-1, 0])
def test_weighted_mean_denominator_fast_and_slow_paths_agree(rng, restore_threads, axis, threads):
    """The mean's denominator with row weights alone is their sum block by block, without a
    pass over the ids (the kernel checks them); with an ignore_index that no row holds, the
    pass over the ids gives the same sums: the same loss and gradient, bit for bit, and a bad
    id is named either way."""
    xent.set_num_threads(threads)
    R, C = 70_000, 10
    x = rng.standard_normal((R, C)).astype(np.float32)
    y = rng.integers(0, C, R)
    w = rng.uniform(0, 2, R)
    xa = np.ascontiguousarray(np.moveaxis(x, -1, axis))
    for grad in (False, True):
        kw = {"from_logits": True, "sample_weight": w, "axis": axis, "return_grad": grad}
        fast = xent.sparse_categorical_cross_entropy(y, xa, **kw)
        slow = xent.sparse_categorical_cross_entropy(y, xa, ignore_index=-100, **kw)
        assert as_bits(fast) == as_bits(slow)
    bad = y.copy()
    bad[54_321] = C
    msg = f"y_true holds class id {C} at index \\(54321,\\)"
    with pytest.raises(ValueError, match=msg):
        xent.sparse_categorical_cross_entropy(bad, xa, from_logits=True, sample_weight=w, axis=axis)


@pytest.mark.parametrize("C", [16, 17, 24, 31, 32, 33, 47, 48])
@pytest.mark.parametrize("R", [5, 32, 37, 300])
def test_tiles_of_16_to_48_classes_check_targets_as_the_stats_pass(rng, C, R):
    """Contiguous float32 rows of 16-48 classes: the tiles check the categorical loss's targets
    themselves (body.h tile_check), each row's sum and weighted sum added in the order the
    stats pass adds such a row (runs of sixteen entries into two vectors in turn; at sixteen
    classes, groups of sixteen rows in class order and the last R % 16 rows so), so that the
    block's total, the mean's denominator, has the bits the stats pass gives (the gradient's
    path), with and without class weights; a row that does not sum to 1 is named."""
    from xent._kernels import _core

    x = rng.standard_normal((R, C)).astype(np.float32)
    # about half the entries 2^-48 to 2^-56 of the others, so that a row's sum in double
    # rounds, and by how much depends on the order of the additions
    big = rng.random((R, C)) < 0.5
    t = rng.random((R, C)) * np.where(big, 1.0, np.exp2(rng.integers(-56, -48, (R, C))))
    t = (t / t.sum(axis=1, keepdims=True)).astype(np.float32)
    cw = rng.uniform(0.5, 2.0, C)
    weights = [(None, None), (None, rng.uniform(0.0, 2.0, R)), (cw, rng.uniform(0.0, 2.0, R))]
    # each row's own sum: row weights of 1 there and 0 elsewhere (a block's total rounds a row
    # sum's last bits away)
    weights += [(w, np.eye(R)[r]) for w in (None, cw) for r in range(R)]
    for cw, sw in weights:
        totals = {}
        for path in ("tiles", "stats"):
            total, hot = np.zeros(1), np.zeros(1, np.int8)
            check = (cw, 1e-3, False, True, total, hot)
            if path == "tiles":
                _core.softmax_block(
                    _core.CATEGORICAL, x, None, t, None, sw, cw, None, 0.0, 0.0, 1.0, None,
                    check=check,
                )  # fmt: skip
            else:
                _core.stats_span(t, 0, check, sw)
            assert hot[0] == 0
            totals[path] = total[0]
        assert totals["tiles"] == totals["stats"]
        kw = {"from_logits": True, "sample_weight": sw, "class_weight": cw}
        mean = xent.categorical_cross_entropy(t, x, **kw)
        with_grad, _ = xent.categorical_cross_entropy(t, x, return_grad=True, **kw)
        assert mean == with_grad
    t[R // 2] = 1.5 / C
    with pytest.raises(ValueError, match=rf"row \({R // 2},\) sums to 1\.(5|49999)"):
        xent.categorical_cross_entropy(t, x, from_logits=True)
