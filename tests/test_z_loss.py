"""z-loss (PaLM, Chowdhery et al. 2022): ``z * logsumexp(x_i)**2`` added to each row.

Oracles: the exact mpmath values of tests/_reference.py (``softmax_family_loss``), values and
gradients in ulps; PyTorch's ``cross_entropy`` plus the z-loss term, by autograd (skipped
without PyTorch); 4th-order central differences; identities (``z = 0`` is the plain loss bit
for bit, sparse equals one-hot categorical, ``axis`` moves, a row weight multiplies).
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


def logits(rng, n, c, dtype, *, lead=True, mask=True, scale=3.0):
    """Random logits; every 3rd row confident (its label leads by 20 to 600), 20 % -inf."""
    return ref.masked_leading_logits(
        rng, n, c, dtype, lead_from=20.0, lead=lead, mask=mask, scale=scale
    )


soft_targets = ref.soft_targets


# ------------------------------------------------------------------ exact values and gradients

CASES = list(
    itertools.product(
        [np.float64, np.float32],
        ["sparse", "categorical"],
        [1e-4, 0.5],
        ["plain", "cw-sw", "ls", "scale-1e4", "negative"],
    )
)


@pytest.mark.parametrize(
    ("dtype", "kind", "z", "option"),
    CASES,
    ids=[f"{np.dtype(d).name}-{k}-z{z}-{o}" for d, k, z, o in CASES],
)
@pytest.mark.parametrize("c", [7, 2])  # 2: the two-class path
def test_values_and_gradients_match_mpmath(rng, dtype, kind, z, option, c):
    n = 30
    x, y = logits(rng, n, c, dtype, scale=1e4 if option == "scale-1e4" else 3.0)
    if option == "negative":  # logsumexp < 0: the z-loss gradient points the other way
        x = (x.astype(np.float64) - 40.0).astype(dtype)
    kw = {}
    if option == "cw-sw":
        kw["class_weight"] = rng.uniform(0.5, 2.0, c).astype(dtype).astype(np.float64)
        kw["sample_weight"] = rng.uniform(0.0, 3.0, n).astype(dtype).astype(np.float64)
    if option == "ls":
        kw["label_smoothing"] = 0.1
    t = y if kind == "sparse" else soft_targets(rng, x.astype(np.float64)).astype(dtype)
    rows = ref.target_rows(
        t,
        c,
        sparse=kind == "sparse",
        class_weight=kw.get("class_weight"),
        eps=kw.get("label_smoothing", 0.0),
    )
    want, want_g, scale = ref.softmax_family_loss(
        rows, x, sample_weight=kw.get("sample_weight"), z_loss=z, return_grad=True
    )
    fn = scce if kind == "sparse" else cce
    got, grad = fn(
        t, x, from_logits=True, z_loss=z, reduction="none", return_grad=True, **kw
    )  # fmt: skip
    assert got.dtype == dtype
    assert grad.dtype == dtype
    assert ref.max_ulp(ref.ulp_error(got, want)) <= VALUE_ULP
    assert ref.max_ulp(ref.ulp_error(grad, want_g, scale=scale)) <= GRAD_ULP


def test_confident_row_keeps_its_gradient():
    """A confident row at logsumexp 0 has a z-loss of 0 and the plain tiny gradient; one at
    logsumexp 50 gets 2 z lse p, dominant over the plain -sum_{j != y} p_j."""
    x = np.array([[0.0, -40.0, -45.0], [50.0, 10.0, 5.0]])
    got, grad = scce([0, 0], x, from_logits=True, z_loss=1e-3, reduction="none", return_grad=True)
    rows = ref.target_rows([0, 0], 3, sparse=True)
    want, want_g, scale = ref.softmax_family_loss(rows, x, z_loss=1e-3, return_grad=True)
    assert ref.max_ulp(ref.ulp_error(got, want)) <= VALUE_ULP
    assert ref.max_ulp(ref.ulp_error(grad, want_g, scale=scale)) <= GRAD_ULP
    assert 0 < got[0] < 1e-17


# ------------------------------------------------------------------ identities


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c", [3, 40], ids=["tiles", "rows"])
def test_zero_is_the_plain_loss_bit_for_bit(rng, dtype, c):
    x, y = logits(rng, 50, c, dtype)
    t = soft_targets(rng, x.astype(np.float64)).astype(dtype)
    kw = {"class_weight": rng.uniform(0, 2, c), "label_smoothing": 0.1, "return_grad": True}
    for red in REDUCTIONS:
        for fn, target in ((scce, y), (cce, t)):
            a = fn(target, x, from_logits=True, reduction=red, **kw)
            b = fn(target, x, from_logits=True, reduction=red, z_loss=0.0, **kw)
            for u, w in zip(a, b, strict=True):
                assert np.asarray(u).tobytes() == np.asarray(w).tobytes()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("c", [3, 40], ids=["tiles", "rows"])
def test_sparse_equals_one_hot_categorical(rng, reduction, c):
    x, y = logits(rng, 40, c, np.float64)
    kw = {
        "from_logits": True,
        "z_loss": 0.01,
        "class_weight": rng.uniform(0.1, 2, c),
        "sample_weight": rng.uniform(0, 2, 40),
        "label_smoothing": 0.2,
        "reduction": reduction,
        "return_grad": True,
    }
    a, ga = scce(y, x, **kw)
    b, gb = cce(np.eye(c)[y], x, **kw)
    np.testing.assert_allclose(a, b, rtol=8 * np.finfo(float).eps)
    np.testing.assert_allclose(ga, gb, rtol=8 * np.finfo(float).eps, atol=1e-300)


def test_weights_ignored_rows_and_the_mean(rng):
    """Sample weights multiply the z-loss, class weights do not; ignored rows add nothing;
    the mean divides by the plain loss's denominator."""
    n, c, z = 12, 5, 0.05
    x, y = logits(rng, n, c, np.float64, lead=False, mask=False)
    cw = rng.uniform(0.5, 2.0, c)
    sw = rng.uniform(0.5, 2.0, n)
    y_ign = y.copy()
    y_ign[::4] = -100
    lse = special.logsumexp(x, axis=1)
    nll = lse - x[np.arange(n), y]
    keep = y_ign != -100
    per_row = np.where(keep, sw * (cw[y] * nll + z * lse**2), 0.0)
    kw = {"from_logits": True, "z_loss": z, "class_weight": cw, "sample_weight": sw}
    got = scce(y_ign, x, ignore_index=-100, reduction="none", **kw)
    np.testing.assert_allclose(got, per_row, rtol=1e-14)
    got = scce(y_ign, x, ignore_index=-100, reduction="mean", **kw)
    np.testing.assert_allclose(got, per_row.sum() / np.sum((sw * cw[y])[keep]), rtol=1e-14)


@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_class_axis_anywhere(rng, kind):
    x, y = logits(rng, 24, 6, np.float64)
    t = soft_targets(rng, x)
    target = y.reshape(4, 6) if kind == "sparse" else np.moveaxis(t.reshape(4, 6, 6), 2, 0)
    x3 = np.moveaxis(x.reshape(4, 6, 6), 2, 0)  # (6 classes, 4, 6): the class axis first
    fn = scce if kind == "sparse" else cce
    kw = {"from_logits": True, "z_loss": 0.02, "reduction": "none", "return_grad": True}
    got, grad = fn(target, x3, axis=0, **kw)
    want, want_g = fn(y if kind == "sparse" else t, x, **kw)
    np.testing.assert_array_equal(got, want.reshape(4, 6))
    np.testing.assert_array_equal(grad, np.moveaxis(want_g.reshape(4, 6, 6), 2, 0))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_gradient_finite_differences(rng, fd, kind, reduction):
    x, y = logits(rng, 4, 5, np.float64, lead=False, mask=False)
    t = y if kind == "sparse" else soft_targets(rng, x)
    fn = scce if kind == "sparse" else cce
    kw = {
        "from_logits": True,
        "z_loss": 0.3,
        "class_weight": rng.uniform(0.5, 2, 5),
        "sample_weight": rng.uniform(0.5, 2, 4),
        "label_smoothing": 0.1,
        "reduction": reduction,
    }
    _, grad = fn(t, x, return_grad=True, **kw)
    want = fd(lambda v: np.sum(fn(t, v, **kw)), x, 1e-3)
    np.testing.assert_allclose(grad, want, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------ PyTorch


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", [False, True], ids=["plain", "cw-sw"])
def test_matches_torch_cross_entropy_plus_z_loss(rng, reduction, weights):
    torch = pytest.importorskip("torch")
    n, c, z = 16, 9, 1e-2
    x, y = logits(rng, n, c, np.float64, lead=False)
    cw = rng.uniform(0.5, 2.0, c) if weights else None
    sw = rng.uniform(0.0, 2.0, n) if weights else np.ones(n)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y)
    cwt = None if cw is None else torch.tensor(cw)
    ce = torch.nn.functional.cross_entropy(xt, yt, weight=cwt, reduction="none")
    rows = torch.tensor(sw) * (ce + z * torch.logsumexp(xt, dim=1) ** 2)
    den = float(np.sum(sw * (np.ones(c) if cw is None else cw)[y]))
    total = {"none": rows, "sum": rows.sum(), "mean": rows.sum() / den}[reduction]
    total.sum().backward()
    got, grad = scce(
        y,
        x,
        from_logits=True,
        z_loss=z,
        class_weight=cw,
        sample_weight=sw if weights else None,
        reduction=reduction,
        return_grad=True,
    )
    np.testing.assert_allclose(got, total.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("value", "exc", "pattern"),
    [
        (-0.1, ValueError, r"^z_loss must be finite and non-negative; got -0\.1\.$"),
        (np.nan, ValueError, r"^z_loss must be finite and non-negative; got nan\.$"),
        (np.inf, ValueError, r"^z_loss must be finite and non-negative; got inf\.$"),
        (10**400, ValueError, r"^z_loss must be finite and non-negative; got 1000"),
        ("0.1", TypeError, r"^z_loss must be a real number; got '0\.1'\.$"),
        (True, TypeError, r"^z_loss must be a real number; got True\.$"),
        (np.ones(2), TypeError, r"^z_loss must be a real number; got array"),
    ],
    ids=["negative", "nan", "inf", "huge-int", "string", "bool", "array"],
)
@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_bad_z_loss(kind, value, exc, pattern):
    x = np.zeros((2, 3))
    call = (
        (lambda: scce([0, 1], x, from_logits=True, z_loss=value))
        if kind == "sparse"
        else (lambda: cce(np.eye(3)[[0, 1]], x, from_logits=True, z_loss=value))
    )
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_z_loss_needs_logits(kind):
    p = np.full((2, 3), 1 / 3)
    msg = (
        r"^z_loss needs logits \(it is z_loss \* logsumexp\(y_pred\)\*\*2\); "
        r"got z_loss=0\.1 with from_logits=False\.$"
    )
    if kind == "sparse":
        with pytest.raises(ValueError, match=msg):
            scce([0, 1], p, z_loss=0.1)
    else:
        with pytest.raises(ValueError, match=msg):
            cce(np.eye(3)[[0, 1]], p, z_loss=0.1)
    # zero is the plain loss, from probabilities too
    assert scce([0, 1], p, z_loss=0.0) == scce([0, 1], p)
