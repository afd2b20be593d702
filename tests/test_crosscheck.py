"""Cross-checks against PyTorch for every option combination, values and gradients.

Oracle: ``torch.nn.functional`` in float64 on CPU, gradients by autograd.
Where PyTorch's definitions differ from xent's, the difference is asserted as
documented in the contract:

* soft-target ``cross_entropy(reduction="mean")`` divides by N, xent by
  ``sum_i s_i sum_c cw_c y_ic``;
* ``binary_cross_entropy[_with_logits](weight=w, reduction="mean")`` divides
  by the number of elements, xent by ``sum(w)``;
* an all-ignored ``cross_entropy`` mean is NaN in PyTorch and 0.0 in xent;
* ``F.binary_cross_entropy`` clamps ``log`` at -100, so it is compared on
  probabilities in [0.02, 0.98] only.

Sample weights have no PyTorch counterpart: they are applied to PyTorch's
``reduction="none"`` output.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import xent

torch = pytest.importorskip("torch")
F = torch.nn.functional

EPS64 = np.finfo(np.float64).eps
RTOL = 64 * EPS64
REDUCTIONS = ["none", "sum", "mean"]
C = 4


def t64(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def torch_value_and_grad(fn, x):
    """(value, d sum(value) / d x) of a torch expression, as NumPy."""
    xt = t64(x, grad=True)
    out = fn(xt)
    out.sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


def assert_close(got, want, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=rtol)


# ---------------------------------------------------------- sparse vs cross_entropy

# layout: (shape of logits, xent axis). PyTorch's class axis is 1.
SPARSE_LAYOUTS = {"NC": ((6, C), 1), "NCd": ((3, C, 4), 1), "NCdd": ((2, C, 3, 2), 1)}
SPARSE_GRID = list(
    itertools.product(
        ["NC", "NCdd"], [False, True], [None, -100, 2], [0.0, 0.2], REDUCTIONS, [False, True]
    )
)
SPARSE_IDS = [
    f"{lay}-{'cw' if cw else 'nocw'}-ig{ig}-ls{ls}-{red}-{'sw' if sw else 'nosw'}"
    for lay, cw, ig, ls, red, sw in SPARSE_GRID
]


def _sparse_inputs(rng, layout, ignore_index):
    shape, axis = SPARSE_LAYOUTS[layout]
    x = 3.0 * rng.standard_normal(shape)
    batch = shape[:1] + shape[2:]
    labels = rng.integers(0, C, batch)
    if ignore_index is not None:
        flat = labels.reshape(-1)
        flat[rng.permutation(flat.size)[: flat.size // 3]] = ignore_index
        flat[0] = 0 if ignore_index != 0 else 1  # never all ignored
    return x, labels, axis, batch


@pytest.mark.parametrize(
    ("layout", "cw", "ignore_index", "smoothing", "reduction", "sw"), SPARSE_GRID, ids=SPARSE_IDS
)
def test_sparse_matches_torch_cross_entropy(
    rng, layout, cw, ignore_index, smoothing, reduction, sw
):
    x, labels, axis, batch = _sparse_inputs(rng, layout, ignore_index)
    class_weight = rng.uniform(0.2, 3.0, C) if cw else None
    s = rng.uniform(0.0, 2.0, batch) if sw else None
    weight = None if class_weight is None else t64(class_weight)
    target = torch.tensor(labels, dtype=torch.long)
    torch_ignore = -100 if ignore_index is None else ignore_index

    if s is None:

        def fn(xt):
            return F.cross_entropy(
                xt,
                target,
                weight=weight,
                ignore_index=torch_ignore,
                label_smoothing=smoothing,
                reduction=reduction,
            )
    else:
        st = t64(s)
        counted = torch.tensor(labels != torch_ignore)
        cw_t = torch.ones(C, dtype=torch.float64) if weight is None else weight
        r = (st * cw_t[torch.where(counted, target, 0)] * counted).sum()

        def fn(xt):
            per_row = st * F.cross_entropy(
                xt,
                target,
                weight=weight,
                ignore_index=torch_ignore,
                label_smoothing=smoothing,
                reduction="none",
            )
            return {"none": per_row, "sum": per_row.sum(), "mean": per_row.sum() / r}[reduction]

    want, want_grad = torch_value_and_grad(fn, x)
    got, grad = xent.sparse_categorical_cross_entropy(
        labels,
        x,
        from_logits=True,
        axis=axis,
        ignore_index=ignore_index,
        class_weight=class_weight,
        sample_weight=s,
        label_smoothing=smoothing,
        reduction=reduction,
        return_grad=True,
    )
    assert np.shape(got) == np.shape(want)
    assert_close(got, want)
    assert_close(grad, want_grad)


@pytest.mark.parametrize(
    ("cw", "ignore_index", "smoothing", "reduction"),
    list(itertools.product([False, True], [None, -100, 2], [0.0, 0.2], REDUCTIONS)),
    ids=lambda v: str(v),
)
def test_sparse_from_probabilities_matches_torch(rng, cw, ignore_index, smoothing, reduction):
    """From probabilities: xent's loss is PyTorch's on log p (log_softmax(log p) = log p).

    The gradient w.r.t. p is the plain partial derivative, so it is compared
    with autograd of ``nll_loss(log p)`` plus the smoothing term written out.
    """
    x, labels, _, _ = _sparse_inputs(rng, "NC", ignore_index)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    class_weight = rng.uniform(0.2, 3.0, C) if cw else None
    weight = None if class_weight is None else t64(class_weight)
    target = torch.tensor(labels, dtype=torch.long)
    torch_ignore = -100 if ignore_index is None else ignore_index
    counted = torch.tensor(labels != torch_ignore, dtype=torch.float64)
    cw_t = torch.ones(C, dtype=torch.float64) if weight is None else weight

    def fn(pt):
        log_p = torch.log(pt)
        nll = F.nll_loss(log_p, target, weight=weight, ignore_index=torch_ignore, reduction="none")
        smooth = -(log_p * cw_t).sum(dim=1) * counted
        per_row = (1 - smoothing) * nll + smoothing / C * smooth
        r = (cw_t[torch.where(counted > 0, target, 0)] * counted).sum()
        return {"none": per_row, "sum": per_row.sum(), "mean": per_row.sum() / r}[reduction]

    want, want_grad = torch_value_and_grad(fn, p)
    value = F.cross_entropy(
        t64(np.log(p)),
        target,
        weight=weight,
        ignore_index=torch_ignore,
        label_smoothing=smoothing,
        reduction=reduction,
    ).numpy()
    assert_close(want, value, rtol=1e-13)
    got, grad = xent.sparse_categorical_cross_entropy(
        labels,
        p,
        ignore_index=ignore_index,
        class_weight=class_weight,
        label_smoothing=smoothing,
        reduction=reduction,
        return_grad=True,
    )
    assert_close(got, want)
    assert_close(grad, want_grad)


@pytest.mark.parametrize("cw", [False, True], ids=["nocw", "cw"])
def test_all_ignored_mean_is_nan_in_torch_and_zero_in_xent(rng, cw):
    x = rng.standard_normal((3, C))
    labels = np.full(3, -100)
    class_weight = rng.uniform(0.2, 3.0, C) if cw else None
    weight = None if class_weight is None else t64(class_weight)
    xt = t64(x, grad=True)
    out = F.cross_entropy(xt, torch.tensor(labels), weight=weight, ignore_index=-100)
    assert torch.isnan(out)
    got, grad = xent.sparse_categorical_cross_entropy(
        labels, x, from_logits=True, ignore_index=-100, class_weight=class_weight, return_grad=True
    )
    assert type(got) is np.float64
    assert got == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(x))


# ------------------------------------------------- categorical vs soft-target cross_entropy

CAT_GRID = list(
    itertools.product(["NC", "NCd"], [True, False], [False, True], [0.0, 0.2], REDUCTIONS)
)
CAT_IDS = [
    f"{lay}-{'logits' if fl else 'probs'}-{'cw' if cw else 'nocw'}-ls{ls}-{red}"
    for lay, fl, cw, ls, red in CAT_GRID
]


@pytest.mark.parametrize(
    ("layout", "from_logits", "cw", "smoothing", "reduction"), CAT_GRID, ids=CAT_IDS
)
def test_categorical_matches_torch_soft_targets(rng, layout, from_logits, cw, smoothing, reduction):
    shape, axis = SPARSE_LAYOUTS[layout]
    x = 3.0 * rng.standard_normal(shape)
    u = rng.uniform(0.0, 1.0, shape)
    y = u / u.sum(axis=1, keepdims=True)
    class_weight = rng.uniform(0.2, 3.0, C) if cw else None
    weight = None if class_weight is None else t64(class_weight)
    yt = t64(y)
    n_rows = x.size // C

    if from_logits:
        pred = x

        def fn(xt):
            return F.cross_entropy(
                xt, yt, weight=weight, label_smoothing=smoothing, reduction=reduction
            )
    else:
        pred = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
        cw_shape = [1] * len(shape)
        cw_shape[1] = C
        cw_t = (torch.ones(C, dtype=torch.float64) if weight is None else weight).reshape(cw_shape)

        def fn(pt):
            # plain formula: -sum_c cw_c ((1-e) y_c + e/C) log p_c, PyTorch's mean divides by N
            per_row = -(cw_t * ((1 - smoothing) * yt + smoothing / C) * torch.log(pt)).sum(dim=1)
            return {"none": per_row, "sum": per_row.sum(), "mean": per_row.mean()}[reduction]

    want, want_grad = torch_value_and_grad(fn, pred)
    got, grad = xent.categorical_cross_entropy(
        y,
        pred,
        from_logits=from_logits,
        axis=axis,
        class_weight=class_weight,
        label_smoothing=smoothing,
        reduction=reduction,
        return_grad=True,
    )
    if reduction == "mean" and cw:
        # documented difference: PyTorch divides by N, xent by sum_i sum_c cw_c y_ic
        r = float(np.sum(np.moveaxis(y, 1, -1) @ class_weight))
        assert not np.isclose(r, n_rows)
        assert_close(got * r / n_rows, want)
        assert_close(grad * r / n_rows, want_grad)
    else:
        assert_close(got, want)
        assert_close(grad, want_grad)


# ------------------------------------------------- binary vs binary_cross_entropy_with_logits

BCE_GRID = list(
    itertools.product(["none", "scalar", "per-column"], [False, True], [0.0, 0.1], REDUCTIONS)
)
BCE_IDS = [f"pw_{pw}-{'w' if w else 'now'}-ls{ls}-{red}" for pw, w, ls, red in BCE_GRID]


@pytest.mark.parametrize(("pw", "w", "smoothing", "reduction"), BCE_GRID, ids=BCE_IDS)
def test_binary_logits_match_torch(rng, pw, w, smoothing, reduction):
    shape = (2, 4, 3)  # pos_weight runs along the last axis, the weight broadcasts over it
    z = 4.0 * rng.standard_normal(shape)
    y = rng.uniform(0.0, 1.0, shape)
    pos_weight = {"none": None, "scalar": 2.5, "per-column": rng.uniform(0.3, 3.0, 3)}[pw]
    weight = rng.uniform(0.0, 2.0, (*shape[:-1], 1)) if w else None
    # PyTorch has no label smoothing: it gets the smoothed target y (1 - e) + e / 2
    target = t64(y * (1 - smoothing) + smoothing / 2)
    pw_t = None if pos_weight is None else t64(np.broadcast_to(pos_weight, (3,)))
    w_t = None if weight is None else t64(weight)

    def fn(zt):
        return F.binary_cross_entropy_with_logits(
            zt, target, weight=w_t, pos_weight=pw_t, reduction=reduction
        )

    want, want_grad = torch_value_and_grad(fn, z)
    got, grad = xent.binary_cross_entropy(
        y,
        z,
        from_logits=True,
        pos_weight=pos_weight,
        sample_weight=weight,
        label_smoothing=smoothing,
        reduction=reduction,
        return_grad=True,
    )
    if reduction == "mean" and w:
        # documented difference: PyTorch divides by the element count, xent by sum(w)
        factor = float(np.sum(np.broadcast_to(weight, shape))) / z.size
        assert_close(got * factor, want)
        assert_close(grad * factor, want_grad)
    else:
        assert_close(got, want)
        assert_close(grad, want_grad)


@pytest.mark.parametrize(
    ("shape", "pw_shape"),
    [((3, 1), (3, 1)), ((4, 3), (4, 1)), ((2, 4, 3), (2, 1, 3)), ((2, 4, 3), (2, 4, 3))],
    ids=["torch-own-test", "per-row", "rows-and-classes", "full"],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_pos_weight_broadcasts_like_torch(rng, shape, pw_shape, reduction):
    """Any pos_weight that broadcasts to the input's shape, as PyTorch accepts it."""
    z = 4.0 * rng.standard_normal(shape)
    y = rng.uniform(0.0, 1.0, shape)
    pos_weight = rng.uniform(0.3, 3.0, pw_shape)
    target, pw_t = t64(y), t64(pos_weight)

    def fn(zt):
        return F.binary_cross_entropy_with_logits(zt, target, pos_weight=pw_t, reduction=reduction)

    want, want_grad = torch_value_and_grad(fn, z)
    got, grad = xent.binary_cross_entropy(
        y, z, from_logits=True, pos_weight=pos_weight, reduction=reduction, return_grad=True
    )
    assert_close(got, want)
    assert_close(grad, want_grad)


@pytest.mark.parametrize(
    ("y", "z"),
    [(1.0, 800.0), (0.0, -800.0), (1.0, -800.0), (0.0, 800.0)],
    ids=["y1-800", "y0--800", "y1--800", "y0-800"],
)
def test_binary_large_logits_match_torch(y, z):
    want = F.binary_cross_entropy_with_logits(t64([z]), t64([y]), reduction="none").numpy()
    got = xent.binary_cross_entropy(
        np.array([y]), np.array([z]), from_logits=True, reduction="none"
    )
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("y", "z", "limit"),
    [(1.0, np.inf, 0.0), (0.0, -np.inf, 0.0), (1.0, -np.inf, np.inf)],
    ids=["y1-posinf", "y0-neginf", "y1-neginf"],
)
def test_binary_infinite_logits_exact_where_torch_is_nan(y, z, limit):
    """PyTorch evaluates (1 - y) z + softplus(-z), which is 0 * inf = NaN at z = +-inf."""
    want = F.binary_cross_entropy_with_logits(t64([z]), t64([y]), reduction="none").numpy()
    assert np.isnan(want[0])
    got = xent.binary_cross_entropy(
        np.array([y]), np.array([z]), from_logits=True, reduction="none"
    )
    assert got[0] == limit


# ---------------------------------------------------------- binary vs binary_cross_entropy

BP_GRID = list(itertools.product([False, True], [0.0, 0.1], REDUCTIONS))


@pytest.mark.parametrize(
    ("w", "smoothing", "reduction"),
    BP_GRID,
    ids=[f"{'w' if w else 'now'}-ls{ls}-{red}" for w, ls, red in BP_GRID],
)
def test_binary_probabilities_match_torch(rng, w, smoothing, reduction):
    shape = (6, 3)
    # PyTorch clamps log at -100: stay well inside (0, 1) where that never triggers
    p = rng.uniform(0.02, 0.98, shape)
    y = rng.integers(0, 2, shape).astype(np.float64)
    weight = rng.uniform(0.0, 2.0, shape) if w else None
    target = t64(y * (1 - smoothing) + smoothing / 2)
    w_t = None if weight is None else t64(weight)

    def fn(pt):
        return F.binary_cross_entropy(pt, target, weight=w_t, reduction=reduction)

    want, want_grad = torch_value_and_grad(fn, p)
    got, grad = xent.binary_cross_entropy(
        y, p, sample_weight=weight, label_smoothing=smoothing, reduction=reduction, return_grad=True
    )
    if reduction == "mean" and w:
        factor = float(np.sum(weight)) / p.size
        assert_close(got * factor, want)
        assert_close(grad * factor, want_grad)
    else:
        assert_close(got, want)
        assert_close(grad, want_grad)


@pytest.mark.parametrize("pw", [0.5, 3.0])
def test_binary_probabilities_pos_weight_match_torch_formula(rng, pw):
    """F.binary_cross_entropy has no pos_weight: autograd of the formula in torch is the oracle."""
    p = rng.uniform(0.02, 0.98, (6, 3))
    y = rng.uniform(0.0, 1.0, (6, 3))
    yt = t64(y)

    def fn(pt):
        return -(pw * yt * torch.log(pt) + (1 - yt) * torch.log1p(-pt)).mean()

    want, want_grad = torch_value_and_grad(fn, p)
    got, grad = xent.binary_cross_entropy(y, p, pos_weight=pw, return_grad=True)
    assert_close(got, want)
    assert_close(grad, want_grad)


def test_torch_clamps_where_xent_is_exact():
    """At p = 0 with y = 1 PyTorch returns 100 (log clamped at -100); xent returns inf."""
    want = F.binary_cross_entropy(t64([0.0]), t64([1.0]), reduction="none").numpy()
    assert want[0] == 100.0
    got = xent.binary_cross_entropy(np.array([1.0]), np.array([0.0]), reduction="none")
    assert got[0] == np.inf
