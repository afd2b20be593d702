"""The edge cases the softmax kernel's design note promises (xent/_kernels/body.h), per variant.

- A row of -inf only: logsumexp -inf, softmax and log_softmax NaN, loss NaN.
- One +inf entry: the limit, a one-hot softmax (log_softmax 0 there, -inf elsewhere); two or
  more: NaN (logsumexp +inf).
- A NaN anywhere makes the whole row NaN.
- Entries tied with the maximum each count 1.
- A dominant true class: the sparse loss log1p(s) keeps its relative accuracy down to 1e-300,
  and the gradient's true-class entry -W (1 - p_y) too.

Each check runs under every SIMD variant this CPU supports and through each path of the
kernel: rows of <= 16 classes (transposed into class-major tiles), rows of more classes, and a
class axis that is not the last one (class-major blocks). Exact values come from
tests/_reference.py (mpmath).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import xent
from xent._kernels import _core

pytest.importorskip("mpmath")

from tests import _reference as ref

SUPPORTED = [name for name, ok in _core.variants() if ok]
VALUE_ULP = 4.0
GRAD_ULP = 8.0


@pytest.fixture(params=SUPPORTED)
def variant(request) -> Iterator[str]:
    """Run the test under one SIMD variant; the variant in use is restored afterwards."""
    before = _core.get_variant()
    _core.set_variant(request.param)
    try:
        yield request.param
    finally:
        _core.set_variant(before)


#: Row-major tiles (C <= 16), row-major rows (C > 16), and class-major blocks; 45 classes leave
#: a last partial vector in the row passes (8 double lanes, 16 float lanes).
# 150 classes: rows whose maximum's pass takes whole steps of 64 (float) or 32 (double)
# entries, a partial step and a scalar tail
PATHS = [(5, -1), (45, -1), (150, -1), (5, 0), (45, 0)]
PATH_IDS = ["C5-tiles", "C45-rows", "C150-rows", "C5-axis0", "C45-axis0"]


def call(fn: Any, x: np.ndarray, axis: int, *args: Any, **kwargs: Any) -> Any:
    """``fn`` on rows ``x`` (N, C) with the class axis at ``axis`` (0: x is passed as (C, N));
    results come back with the classes last."""
    if axis == -1:
        return fn(*args, x, axis=-1, **kwargs)
    out = fn(*args, np.ascontiguousarray(x.T), axis=0, **kwargs)
    if isinstance(out, tuple):
        return out[0], out[1].T
    return out.T if np.ndim(out) == 2 else out


def special_rows(rng: np.random.Generator, n_classes: int, dtype: Any) -> dict[str, np.ndarray]:
    """One row per case, with finite entries from N(0, 1) around the special ones."""
    inf, c = np.inf, n_classes

    def base() -> np.ndarray:
        return rng.standard_normal(c)

    rows = {"all -inf": np.full(c, -inf)}
    rows["one +inf"] = base()
    rows["one +inf"][c // 2] = inf
    rows["one +inf, rest -inf"] = np.full(c, -inf)
    rows["one +inf, rest -inf"][c - 1] = inf
    rows["two +inf"] = base()
    rows["two +inf"][[1, c - 1]] = inf
    rows["NaN"] = base()
    rows["NaN"][c - 2] = np.nan
    rows["NaN and +inf"] = base()
    rows["NaN and +inf"][[0, 3]] = [inf, np.nan]
    rows["NaN and -inf"] = np.full(c, -inf)
    rows["NaN and -inf"][2] = np.nan
    return {k: v.astype(dtype) for k, v in rows.items()}


def assert_all_nan(*parts: Any) -> None:
    for part in parts:
        assert np.isnan(part).all(), part


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("n_classes", "axis"), PATHS, ids=PATH_IDS)
def test_non_finite_rows(variant, rng, n_classes, axis, dtype):
    rows = special_rows(rng, n_classes, dtype)
    names = list(rows)
    x = np.stack([rows[k] for k in names])
    pos = {k: i for i, k in enumerate(names)}
    lse = call(xent.logsumexp, x, axis)
    sm = call(xent.softmax, x, axis)
    lsm = call(xent.log_softmax, x, axis)
    # labels: on the +inf entry where there is one, else class 0
    labels = np.array([int(np.argmax(np.where(np.isnan(r), -np.inf, r))) for r in x])
    loss, grad = call(
        xent.sparse_categorical_cross_entropy,
        x,
        axis,
        labels,
        from_logits=True,
        reduction="none",
        return_grad=True,
    )
    assert lse.dtype == sm.dtype == loss.dtype == grad.dtype == dtype

    i = pos["all -inf"]
    assert lse[i] == -np.inf
    assert_all_nan(sm[i], lsm[i], loss[i], grad[i])
    for k in ("one +inf", "one +inf, rest -inf"):
        i = pos[k]
        hot = np.isposinf(x[i])
        assert lse[i] == np.inf
        np.testing.assert_array_equal(sm[i], hot.astype(dtype))
        np.testing.assert_array_equal(lsm[i], np.where(hot, 0.0, -np.inf).astype(dtype))
        assert loss[i] == 0.0  # the label is on the +inf entry: p = 1 exactly
        np.testing.assert_array_equal(grad[i], np.zeros(n_classes, dtype))
    i = pos["two +inf"]
    assert lse[i] == np.inf
    assert_all_nan(sm[i], lsm[i], loss[i], grad[i])
    for k in ("NaN", "NaN and +inf", "NaN and -inf"):
        i = pos[k]
        assert_all_nan(lse[i], sm[i], lsm[i], loss[i], grad[i])


@pytest.mark.parametrize(("n_classes", "axis"), PATHS, ids=PATH_IDS)
def test_one_inf_off_the_label(variant, rng, n_classes, axis):
    """p_y = 0 in the limit: loss +inf, gradient +1 at the +inf entry and -1 at the label."""
    x = rng.standard_normal((3, n_classes))
    x[:, 2] = np.inf
    x[1, 4] = -np.inf
    labels = np.array([0, 4, n_classes - 1])
    loss, grad = call(
        xent.sparse_categorical_cross_entropy,
        x,
        axis,
        labels,
        from_logits=True,
        reduction="none",
        return_grad=True,
    )
    np.testing.assert_array_equal(loss, [np.inf] * 3)
    want = np.zeros_like(x)
    want[:, 2] = 1.0
    want[np.arange(3), labels] = -1.0
    np.testing.assert_array_equal(grad, want)
    exact_loss, exact_grad, _ = ref.sparse_categorical_cross_entropy(
        labels, x, from_logits=True, return_grad=True
    )
    np.testing.assert_array_equal(loss, ref.to_float(exact_loss))
    np.testing.assert_array_equal(grad, ref.to_float(exact_grad))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("n_classes", "axis"), PATHS, ids=PATH_IDS)
def test_ties_at_the_maximum(variant, rng, n_classes, axis, dtype):
    """Rows with 2, 3 and all entries equal to the maximum: each counts 1."""
    x = rng.standard_normal((4, n_classes)).astype(dtype)
    top = np.float64(3.5).astype(dtype)
    x[0, [0, n_classes - 1]] = top
    x[1, [1, 2, 3]] = top
    x[2, :] = top
    x[3, [0, 4]] = top
    x[3, 1] = -np.inf
    labels = np.array([n_classes - 1, 0, 1, 2])
    tied_sets = [[0, n_classes - 1], [1, 2, 3], list(range(n_classes)), [0, 4]]
    if n_classes > 100:  # a tie in every part of the passes: steps, partial step, tail
        x = np.concatenate([x, rng.standard_normal((1, n_classes)).astype(dtype)])
        x[4, [70, 130, 145, 149]] = top
        labels = np.append(labels, 130)
        tied_sets.append([70, 130, 145, 149])
    sm = call(xent.softmax, x, axis)
    for r, tied in enumerate(tied_sets):
        assert np.unique(sm[r, tied]).size == 1, f"row {r}: tied entries differ"
    checks = {
        "logsumexp": (call(xent.logsumexp, x, axis), ref.logsumexp(x)),
        "softmax": (sm, ref.softmax(x)),
        "log_softmax": (call(xent.log_softmax, x, axis), ref.log_softmax(x)),
    }
    loss, grad = call(
        xent.sparse_categorical_cross_entropy,
        x,
        axis,
        labels,
        from_logits=True,
        reduction="none",
        return_grad=True,
    )
    exact_loss, exact_grad, scale = ref.sparse_categorical_cross_entropy(
        labels, x, from_logits=True, return_grad=True
    )
    checks["loss"] = (loss, exact_loss)
    for name, (got, exact) in checks.items():
        err = ref.max_ulp(ref.ulp_error(got, exact))
        assert err <= VALUE_ULP, f"{name}: {err:.2f} ulp"
    err = ref.max_ulp(ref.ulp_error(grad, exact_grad, scale=scale))
    assert err <= GRAD_ULP, f"gradient: {err:.2f} ulp"


# ----------------------------------------------------------------------------- dominant class

N_DOMINANT = 24


def dominant_rows(rng: np.random.Generator, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 rows whose true class y leads so that the loss log1p(sum_{j != y} p_j / p_y)
    runs from 1e-10 down to 1e-300 (geometrically); some other entries are -inf."""
    x = rng.standard_normal((N_DOMINANT, n_classes))
    y = rng.integers(0, n_classes, N_DOMINANT)
    rows = np.arange(N_DOMINANT)
    x[rng.random(x.shape) < 0.1] = -np.inf
    x[rows, y] = -np.inf
    target = np.geomspace(1e-10, 1e-300, N_DOMINANT)
    # loss ~ sum_{j != y} exp(x_j - x_y) = exp(logsumexp(others) - x_y)
    x[rows, y] = np.logaddexp.reduce(x, axis=1) - np.log(target)
    return x, y


def assert_dominant(
    loss: np.ndarray, grad: np.ndarray, y: np.ndarray, exact_loss: Any, exact_grad: Any, scale: Any
) -> None:
    """Loss within VALUE_ULP of the exact one, gradient within GRAD_ULP of max(|exact|, the
    scale), naming the worst row or entry."""
    err = ref.ulp_error(loss, exact_loss)
    worst = int(np.argmax(err))
    assert err[worst] <= VALUE_ULP, (
        f"row {worst}: loss {loss[worst]!r}, exact {exact_loss[0][worst]!r}, {err[worst]:.2f} ulp"
    )
    gerr = ref.ulp_error(grad, exact_grad, scale=scale)
    r, c = np.unravel_index(int(np.argmax(gerr)), gerr.shape)
    assert gerr[r, c] <= GRAD_ULP, (
        f"grad[{r}, {c}] (label {y[r]}) = {grad[r, c]!r}, exact "
        f"{exact_grad[0][r, c]!r}: {gerr[r, c]:.2f} ulp"
    )


OPTIONS = {
    "plain": {},
    "weights": {"class_weight": True, "sample_weight": True},
    "smoothing": {"label_smoothing": 0.05},
}


@pytest.fixture(scope="module")
def dominant_cases() -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray, dict, tuple]]:
    """Inputs and their exact loss, gradient and gradient scale, computed once per module."""
    out = {}
    for i, n_classes in enumerate([5, 45, 150, 1000]):
        g = np.random.default_rng([5123, i])
        x, y = dominant_rows(g, n_classes)
        cw = g.uniform(0.5, 2.0, n_classes)
        sw = g.uniform(0.5, 2.0, N_DOMINANT)
        for name, opts in OPTIONS.items():
            kw: dict[str, Any] = {}
            if opts.get("class_weight"):
                kw["class_weight"], kw["sample_weight"] = cw, sw
            if "label_smoothing" in opts:
                kw["label_smoothing"] = opts["label_smoothing"]
            exact = ref.sparse_categorical_cross_entropy(
                y, x, from_logits=True, return_grad=True, **kw
            )
            # (hi, lo) pairs: converted once, compared under every variant and path
            out[(n_classes, name)] = (x, y, kw, tuple(ref.to_double_double(e) for e in exact))
    return out


def test_dominant_rows_reach_1e_300(dominant_cases):
    *_, (loss, _, _) = dominant_cases[(45, "plain")]
    exact = loss[0]
    assert 1e-10 / 2 < exact.max() < 2e-10
    assert 1e-300 / 2 < exact.min() < 2e-300


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize(("n_classes", "axis"), [*PATHS, (1000, -1)], ids=[*PATH_IDS, "C1000-rows"])
def test_dominant_true_class(variant, dominant_cases, n_classes, axis, option):
    """Loss within 4 ulp, gradient within 8 ulp of max(|exact|, |W p_c|, |w_c|)."""
    x, y, kw, (exact_loss, exact_grad, scale) = dominant_cases[(n_classes, option)]
    loss, grad = call(
        xent.sparse_categorical_cross_entropy,
        x,
        axis,
        y,
        from_logits=True,
        reduction="none",
        return_grad=True,
        **kw,
    )
    assert_dominant(loss, grad, y, exact_loss, exact_grad, scale)


N_DOMINANT32 = 40


@pytest.fixture(scope="module")
def dominant_cases32() -> dict[int, tuple[np.ndarray, np.ndarray, tuple]]:
    """float32 rows whose true class leads so that the loss runs from 1e-3 down to 1e-37 (the
    other entries' exp(x - m) down to float's subnormals and below, where the float lanes hand
    over to double), 40 rows (two groups of sixteen and a partial one), with their exact loss
    and gradient."""
    out = {}
    for i, n_classes in enumerate([2, 5, 16, 45]):
        g = np.random.default_rng([7321, i])
        x = g.standard_normal((N_DOMINANT32, n_classes))
        y = g.integers(0, n_classes, N_DOMINANT32)
        rows = np.arange(N_DOMINANT32)
        if n_classes > 2:
            x[g.random(x.shape) < 0.1] = -np.inf
        x[rows, y] = -np.inf
        target = np.geomspace(1e-3, 1e-37, N_DOMINANT32)
        x[rows, y] = np.logaddexp.reduce(x, axis=1) - np.log(target)
        x = x.astype(np.float32)
        exact = ref.sparse_categorical_cross_entropy(
            y, x.astype(np.float64), from_logits=True, return_grad=True
        )
        out[n_classes] = (x, y, tuple(ref.to_double_double(e) for e in exact))
    return out


@pytest.mark.parametrize(
    ("n_classes", "axis"),
    [(2, -1), (2, 0), (5, -1), (5, 0), (16, -1), (45, -1), (45, 0)],
    ids=["C2-tiles", "C2-axis0", "C5-tiles", "C5-axis0", "C16-tiles", "C45-rows", "C45-axis0"],
)
def test_dominant_true_class_float32(variant, dominant_cases32, n_classes, axis):
    """float32: loss within 4 ulp and gradient within 8 ulp (of max(|exact|, p_c, [c == y]))
    on every path, the float lanes included; the exact values in mpmath."""
    x, y, (exact_loss, exact_grad, scale) = dominant_cases32[n_classes]
    loss, grad = call(
        xent.sparse_categorical_cross_entropy,
        x,
        axis,
        y,
        from_logits=True,
        reduction="none",
        return_grad=True,
    )
    assert loss.dtype == grad.dtype == np.float32
    assert_dominant(loss, grad, y, exact_loss, exact_grad, scale)


def test_the_bounds_reject_the_naive_formula(dominant_cases):
    """logsumexp(x) - x_y, rounded as usual, loses every digit of these losses."""
    x, y, _, (exact_loss, _, _) = dominant_cases[(45, "plain")]
    naive = np.logaddexp.reduce(x, axis=1) - x[np.arange(x.shape[0]), y]
    assert ref.max_ulp(ref.ulp_error(naive, exact_loss)) > VALUE_ULP


# ----------------------------------------------------------------------------- two classes


def two_class_rows(dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows of two logits (N, 2) and labels: random, confident both ways (d = x_other - x_y
    down to -700, where the loss exp(d) is still a normal double: weighting a subnormal loss
    rounds it again; the float32 underflow at -87 and -104 included), ties, huge logits whose
    difference rounds, and a partial last vector of eight rows."""
    rng = np.random.default_rng([4242, 2])
    big = 1e300 if dtype == np.float64 else 1e30
    d = np.concatenate(
        [
            rng.normal(0.0, 3.0, 40),
            -rng.uniform(20.0, 700.0, 20) if dtype == np.float64 else -rng.uniform(20, 103, 20),
            rng.uniform(20.0, 80.0, 10),
            [0.0, -1e-9, 1e-9, -87.0, -104.0, -700.0 if dtype == np.float64 else -103.5],
        ]
    )
    base = rng.normal(0.0, 5.0, d.size)
    n = d.size
    y = rng.integers(0, 2, n)
    x = np.empty((n, 2), dtype)
    x[np.arange(n), y] = base
    x[np.arange(n), 1 - y] = base + d
    # huge logits: x_other - x_y is not exact in the dtype's arithmetic
    extra = np.array([[big, big * (1 - 1e-7)], [-big, big / 3], [1.0, 1.0 + 2**-40]], dtype)
    return np.concatenate([x, extra]), np.concatenate([y, [0, 1, 0]])


@pytest.mark.parametrize("targets", ["sparse", "soft"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0], ids=["tiles", "axis0"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weights"])
def test_two_classes(variant, dtype, axis, weighted, targets):
    """The two-class path (body.h tile2), sparse and soft targets: loss within 1 ulp of mpmath
    (one more with class and sample weights, one more with soft targets) and gradient within
    2 ulp (the bounds of the other paths are 4 and 8); the mean is that of the per-row
    losses."""
    x, y = two_class_rows(dtype)
    kw: dict[str, Any] = {}
    if weighted:
        kw = {"class_weight": np.array([0.25, 3.0]), "sample_weight": np.linspace(0.0, 2.0, y.size)}
    if targets == "sparse":
        fn, ref_fn, yt = (
            xent.sparse_categorical_cross_entropy,
            ref.sparse_categorical_cross_entropy,
            y,
        )
    else:  # soft rows, with one-hot rows among them (the block is not one-hot)
        fn, ref_fn = xent.categorical_cross_entropy, ref.categorical_cross_entropy
        q = np.random.default_rng([4242, 3]).uniform(0.0, 1.0, y.size).astype(dtype)
        q[::3] = y[::3]
        yt = np.stack([1 - q, q], axis=1)
    y_arg = np.ascontiguousarray(yt.T) if axis == 0 and yt.ndim == 2 else yt
    loss, grad = call(
        fn, x, axis, y_arg, from_logits=True, reduction="none", return_grad=True, **kw
    )
    exact_loss, exact_grad, scale = ref_fn(
        yt, x.astype(np.float64), from_logits=True, return_grad=True, **kw
    )
    err = ref.ulp_error(loss, exact_loss, dtype=dtype)
    worst = int(np.argmax(err))
    # each weight rounds the loss again (class and sample weights, soft targets' products)
    bound = 1.0 + weighted + (targets == "soft")
    assert err[worst] <= bound, f"row {worst}: {x[worst]}, y {y[worst]}: {err[worst]:.2f} ulp"
    gerr = ref.ulp_error(grad, exact_grad, dtype=dtype, scale=scale)
    assert ref.max_ulp(gerr) <= 2.0
    total = fn(yt, x, from_logits=True, **kw)
    # the mean divides by the weights of the rows' targets (PyTorch's rule)
    cw = kw["class_weight"] if weighted else np.ones(2)
    sw = kw["sample_weight"] if weighted else np.ones(y.size)
    tw = cw[y] if targets == "sparse" else yt.astype(np.float64) @ cw
    denominator = np.sum(sw * tw)
    mean = np.sum(loss.astype(np.float64)) / denominator
    assert float(total) == pytest.approx(mean, rel=4 * float(np.finfo(dtype).eps))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"z_loss": 1e-3},
        {"focal_gamma": 2.0},
        {"focal_gamma": 0.5},
        {"focal_gamma": 3.0, "z_loss": 0.1},
    ],
    ids=["plain", "z", "focal-2", "focal-0.5", "focal-3-z"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_classes_unweighted_loop_has_the_weighted_bits(variant, dtype, options):
    """Sparse two-class rows without weights or per-row output take a loop of their own
    (body.h tile2_plain, which reads and writes row-major pairs in place), with the focal
    factor and the z-loss too: its gradient is the weighted loop's (sample weights of 1) bit for
    bit, and its mean that of the per-row losses (infinite logits included)."""
    x, y = two_class_rows(dtype)
    x = np.concatenate([x, np.array([[np.inf, 1.0], [1.0, -np.inf], [-np.inf, 2.0]], dtype)])
    y = np.concatenate([y, [1, 0, 1]])
    # more than a tile of rows (256), the last vector of eight partial
    x, y = np.concatenate([x] * 4), np.concatenate([y] * 4)
    kw: dict[str, Any] = {"from_logits": True, **options}
    loss, grad = xent.sparse_categorical_cross_entropy(y, x, return_grad=True, **kw)
    loss_w, grad_w = xent.sparse_categorical_cross_entropy(
        y, x, return_grad=True, sample_weight=np.ones(y.size), **kw
    )
    np.testing.assert_array_equal(grad, grad_w)
    rows = xent.sparse_categorical_cross_entropy(y, x, reduction="none", **kw)
    mean = np.mean(rows.astype(np.float64))
    assert float(loss) == pytest.approx(mean, rel=2 * float(np.finfo(dtype).eps), nan_ok=True)
    assert float(loss_w) == pytest.approx(mean, rel=2 * float(np.finfo(dtype).eps), nan_ok=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_classes_non_finite(variant, dtype):
    """Infinite and NaN logits in two-class rows: what the softmax sums give."""
    inf, nan = np.inf, np.nan
    x = np.array(
        [
            [-inf, 1.0],
            [1.0, -inf],
            [inf, 1.0],
            [1.0, inf],
            [inf, inf],
            [-inf, -inf],
            [nan, 1.0],
            [1.0, nan],
            [-inf, inf],
        ],
        dtype,
    )
    y = np.zeros(len(x), np.int64)
    loss, grad = xent.sparse_categorical_cross_entropy(
        y, x, from_logits=True, reduction="none", return_grad=True
    )
    want = [inf, 0.0, 0.0, inf, nan, nan, nan, nan, inf]
    np.testing.assert_array_equal(loss, np.array(want, dtype))
    g_other = [1.0, 0.0, 0.0, 1.0, nan, nan, nan, nan, 1.0]
    np.testing.assert_array_equal(grad[:, 1], np.array(g_other, dtype))
    np.testing.assert_array_equal(grad[:, 0], -np.array(g_other, dtype))


@pytest.mark.parametrize("n_classes", [3, 10, 24, 100, 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"], ids=["rows", "class-major"])
def test_sparse_kernel_without_labels_reads_class_0(rng, n_classes, dtype, order):
    """The sparse kernel called without labels takes class 0 for every row, on every path
    (tiles, rows finished eight at a time, rows one at a time): its gradient, with the entry
    at the label set apart, is the one of labels all 0, and nothing is written elsewhere (the
    scratch holds garbage that a stale label index would read)."""
    R, C = 300, n_classes
    x = np.asarray(rng.standard_normal((R, C)), dtype=dtype, order=order)
    got = []
    for labels in (None, np.zeros(R, np.int64)):
        out, rows = np.full_like(x, np.nan), np.empty(R)
        scratch = np.full(_core.scratch_len(C), 7e300)
        _core.softmax_block(
            3, x, out, None, labels, None, None, None, float(C), 0.0, float(R), rows, scratch
        )
        got.append((out, rows))
    np.testing.assert_array_equal(got[0][0], got[1][0])
    np.testing.assert_array_equal(got[0][1], got[1][1])
    assert np.isfinite(got[0][0]).all()


@pytest.mark.parametrize("n_classes", [49, 64, 100, 256, 257])
def test_rows_in_pairs_have_the_bits_of_a_row_alone(variant, rng, n_classes):
    """Float32 rows of 49 to 256 classes whose pass is the plain clean one (the sparse loss,
    logsumexp, the categorical loss of targets the pass checks) run two at a time where both
    are clean (body.h pass_pair, AVX-512): each row's values have the bits of the row in a call
    of its own. Rows that are not clean (an entry 100 below the maximum, a -inf, NaN, +inf,
    every entry -inf) sit between clean ones, so that pairs start at odd and even rows; ties
    at the maximum count; 301 rows: a last tile of 45 rows and a last row without a partner.
    The categorical loss's first row is one-hot (the rows are looked at for one-hot ones until
    row 1), and so is row 30, within the pairs."""
    R = 301
    x = (3.0 * rng.standard_normal((R, n_classes))).astype(np.float32)
    y = rng.integers(0, n_classes, R)
    x[4, [0, n_classes - 1]] = 9.0  # two entries at the maximum (in different vectors)
    x[5, 3] = x[5].max() - 100.0  # not clean: below the maximum by more than 80
    x[8, 1] = -np.inf
    x[11, n_classes // 2] = np.nan
    x[13, y[13]] = np.inf
    x[17, :] = -np.inf
    x[20, :] = 2.5  # every entry at the maximum
    x[23, y[23]] = x[23].max() + 60.0  # confident, still clean: a loss near 1e-26
    t = rng.random((R, n_classes)) ** 3
    t = (t / t.sum(axis=1, keepdims=True)).astype(np.float32)
    t[[0, 30]] = 0.0
    t[[0, 30], y[[0, 30]]] = 1.0
    sw = rng.uniform(0.0, 2.0, R)

    def calls(r: slice) -> dict[str, Any]:
        kw = {"from_logits": True, "reduction": "none"}
        return {
            "sparse": xent.sparse_categorical_cross_entropy(y[r], x[r], **kw),
            "logsumexp": xent.logsumexp(x[r], axis=-1),
            "categorical": xent.categorical_cross_entropy(t[r], x[r], **kw),
            "weighted": xent.categorical_cross_entropy(t[r], x[r], sample_weight=sw[r], **kw),
        }

    got = calls(slice(None))
    for r in range(R):
        for name, alone in calls(slice(r, r + 1)).items():
            assert ref.as_bits(got[name][r : r + 1]) == ref.as_bits(alone), f"{name}, row {r}"
    loss = got["sparse"]
    assert 0.0 < loss[23] < 1e-20
    assert np.isnan(loss[[11, 17]]).all()
    assert loss[13] == 0.0
    np.testing.assert_allclose(loss[20], np.log(n_classes), rtol=2e-7)
    rest = np.exp(x[4, 1:-1].astype(np.float64) - 9.0).sum()
    np.testing.assert_allclose(got["logsumexp"][4], 9.0 + np.log1p(1.0 + rest), rtol=2e-7)


@pytest.mark.parametrize("bad_rows", [[41], [42], [41, 42]], ids=["first", "second", "both"])
def test_rows_in_pairs_check_their_targets(variant, rng, bad_rows):
    """The categorical loss's targets checked by a pass of two rows (pass_pair): a row that does
    not sum to 1 is named, the first one where both do not; so is an entry outside [0, 1] in a
    row that sums to 1."""
    x = rng.standard_normal((64, 100)).astype(np.float32)
    t = np.full((64, 100), 0.01, np.float32)
    t[bad_rows, 7] = 0.5
    with pytest.raises(ValueError, match=rf"row \({bad_rows[0]},\) sums to 1\.4899"):
        xent.categorical_cross_entropy(t, x, from_logits=True)
    t[bad_rows, 7] = 1.51
    t[bad_rows, 8] = -1.49  # the row still sums to 1
    where = rf"\({bad_rows[0]}, 7\)"
    with pytest.raises(
        ValueError, match=rf"outside \[0, 1\] \(first: 1\.50999\d* at index {where}\)"
    ):
        xent.categorical_cross_entropy(t, x, from_logits=True)
