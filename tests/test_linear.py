"""xent.linear_cross_entropy: the sparse loss of ``hidden @ weight.T + bias``, chunk by chunk.

Oracles: `sparse_categorical_cross_entropy` on the materialized logits (the identity the
function promises; with small integer inputs the products are exact, so the loss and the
logits' gradient must agree bit for bit), the chain rule through its gradient, 4th-order
central differences in float64, and PyTorch's ``F.linear`` + ``F.cross_entropy`` with autograd
when it is installed.
"""

from __future__ import annotations

import importlib.util
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xent
from xent import _linear

REDUCTIONS = ["mean", "sum", "none"]
OPTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "ignore": {"ignore_index": -100},
    "class_weight": {"class_weight": "cw"},
    "sample_weight": {"sample_weight": "sw"},
    "smoothing": {"label_smoothing": 0.2},
    "z_loss": {"z_loss": 1e-3},
    "all": {
        "ignore_index": 3,
        "class_weight": "cw",
        "sample_weight": "sw",
        "label_smoothing": 0.1,
        "z_loss": 1e-4,
    },
}


def make(
    rng: np.random.Generator,
    N: int,
    D: int,
    V: int,
    dtype: Any = np.float64,
    integral: bool = False,
    bias: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Labels, hidden, weight, bias. ``integral``: multiples of 1/4 in [-2, 2], whose products
    and sums over D <= 64 are exact in float32 and float64."""

    def draw(shape: tuple[int, ...], scale: float) -> np.ndarray:
        if integral:
            return (rng.integers(-8, 9, size=shape) / 4).astype(dtype)
        return (scale * rng.standard_normal(shape)).astype(dtype)

    y = rng.integers(0, V, size=N)
    return y, draw((N, D), 1.0), draw((V, D), 1.0 / np.sqrt(D)), draw((V,), 0.5) if bias else None


def options(name: str, rng: np.random.Generator, y: np.ndarray, V: int) -> dict[str, Any]:
    """The keyword arguments of an OPTIONS entry, with drawn weights; marks ignored rows."""
    kw = dict(OPTIONS[name])
    if kw.get("class_weight") == "cw":
        kw["class_weight"] = rng.uniform(0.2, 2.0, size=V)
    if kw.get("sample_weight") == "sw":
        kw["sample_weight"] = rng.uniform(0.0, 3.0, size=y.shape)
    if "ignore_index" in kw:
        y[::4] = kw["ignore_index"]
    return kw


def n_chunks(N: int, V: int, itemsize: int, chunk_bytes: int | None, grad: bool) -> int:
    """How many chunks a call makes (the kernel's blocks of rows hold ~256 KiB, so a chunk of
    few rows needs thousands of classes)."""
    budget = _linear.CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    layout = xent._engine.Layout((N, V), 1)
    rows = _linear._chunk_rows(N, layout, itemsize, budget // 2 if grad else budget)
    return -(-N // rows)


def logits(h: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    z: np.ndarray = h @ w.T
    return z if b is None else z + b


def reference(
    y: np.ndarray, h: np.ndarray, w: np.ndarray, b: np.ndarray | None, **kw: Any
) -> tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]:
    """Sparse loss of the materialized logits and the gradients by the chain rule."""
    loss, G = xent.sparse_categorical_cross_entropy(
        y, logits(h, w, b), from_logits=True, return_grad=True, **kw
    )
    G2 = G.reshape(-1, w.shape[0])
    h2 = h.reshape(-1, w.shape[1])
    grads = ((G2 @ w).reshape(h.shape), G2.T @ h2, None if b is None else G2.sum(axis=0))
    return loss, grads, G


def assert_grads_close(got: xent.LinearGrads, want: tuple[Any, ...], rtol: float) -> None:
    for name, g, r in zip(("hidden", "weight", "bias"), got, want, strict=True):
        if r is None:
            assert g is None, name
            continue
        scale = float(np.max(np.abs(r), initial=0.0))
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale, err_msg=name)


# --- the identity with the sparse loss -------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opt", list(OPTIONS))
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
def test_exact_products_give_the_sparse_loss_bit_for_bit(
    rng: np.random.Generator, reduction: str, opt: str, with_bias: bool
) -> None:
    N, V = 45, 2049
    y, h, w, b = make(rng, N, 12, V, integral=True, bias=with_bias)
    kw = options(opt, rng, y, V)
    want, want_grads, _ = reference(y, h, w, b, reduction=reduction, **kw)
    # the smallest budget: chunks of one kernel block (15 rows), then one chunk
    assert n_chunks(N, V, 8, 1, True) == n_chunks(N, V, 8, 1, False) == 3
    for chunk in (1, None):
        got = xent.linear_cross_entropy(y, h, w, b, reduction=reduction, chunk_bytes=chunk, **kw)
        np.testing.assert_array_equal(got, want)
        loss, grads = xent.linear_cross_entropy(
            y, h, w, b, reduction=reduction, return_grad=True, chunk_bytes=chunk, **kw
        )
        np.testing.assert_array_equal(loss, want)
        assert_grads_close(grads, want_grads, 1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opt", list(OPTIONS))
def test_random_products_match_the_sparse_loss(
    rng: np.random.Generator, reduction: str, opt: str
) -> None:
    N, V = 70, 1250
    y, h, w, b = make(rng, N, 24, V)
    kw = options(opt, rng, y, V)
    want, want_grads, _ = reference(y, h, w, b, reduction=reduction, **kw)
    assert n_chunks(N, V, 8, 1, True) == 3
    loss, grads = xent.linear_cross_entropy(
        y, h, w, b, reduction=reduction, return_grad=True, chunk_bytes=1, **kw
    )
    np.testing.assert_allclose(loss, want, rtol=1e-13, atol=1e-15)
    assert_grads_close(grads, want_grads, 1e-12)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    N=st.integers(0, 40),
    D=st.integers(1, 8),
    V=st.sampled_from([1, 2, 7, 3000]),
    reduction=st.sampled_from(REDUCTIONS),
    smoothing=st.sampled_from([0.0, 0.3]),
    weighted=st.booleans(),
    ignored=st.booleans(),
    chunk_bytes=st.sampled_from([1, 50_000, None]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_equals_the_sparse_loss_where_products_are_exact(
    N: int,
    D: int,
    V: int,
    reduction: str,
    smoothing: float,
    weighted: bool,
    ignored: bool,
    chunk_bytes: int | None,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    y, h, w, b = make(rng, N, D, V, integral=True)
    kw: dict[str, Any] = {"reduction": reduction, "label_smoothing": smoothing}
    if weighted:
        kw["class_weight"] = rng.uniform(0.0, 2.0, size=V)
        kw["sample_weight"] = rng.uniform(0.0, 2.0, size=N)
    if ignored:
        kw["ignore_index"] = 0
    want, want_grads, _ = reference(y, h, w, b, **kw)
    loss, grads = xent.linear_cross_entropy(
        y, h, w, b, return_grad=True, chunk_bytes=chunk_bytes, **kw
    )
    np.testing.assert_array_equal(loss, want)
    assert_grads_close(grads, want_grads, 1e-13)


def test_weight_gradient_without_scipy(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SciPy, dW is accumulated by NumPy's products in slices: the same gradients."""
    y, h, w, b = make(rng, 45, 12, 4099, bias=True)
    want, want_grads = xent.linear_cross_entropy(y, h, w, b, return_grad=True, chunk_bytes=1)
    real_import = __builtins__["__import__"] if isinstance(__builtins__, dict) else __import__

    def no_scipy(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", no_scipy)
    loss, grads = xent.linear_cross_entropy(y, h, w, b, return_grad=True, chunk_bytes=1)
    np.testing.assert_array_equal(loss, want)
    assert_grads_close(grads, want_grads, 1e-14)


def test_batch_shape_of_hidden(rng: np.random.Generator) -> None:
    y, h, w, b = make(rng, 24, 6, 11)
    y3, h3 = y.reshape(2, 3, 4), h.reshape(2, 3, 4, 6)
    loss, grads = xent.linear_cross_entropy(y3, h3, w, b, reduction="none", return_grad=True)
    want, want_grads, _ = reference(y, h, w, b, reduction="none")
    assert loss.shape == (2, 3, 4)
    np.testing.assert_allclose(loss.reshape(-1), want, rtol=1e-14)
    assert grads.hidden.shape == h3.shape
    np.testing.assert_allclose(grads.hidden.reshape(h.shape), want_grads[0], rtol=1e-13)
    one = xent.linear_cross_entropy(y[0], h[0], w, b, reduction="none")
    assert isinstance(one, np.float64)
    np.testing.assert_allclose(one, want[0], rtol=1e-14)


def test_empty_batch(rng: np.random.Generator) -> None:
    _, _, w, b = make(rng, 1, 5, 7)
    h = np.empty((0, 5))
    y = np.empty(0, dtype=np.int64)
    assert xent.linear_cross_entropy(y, h, w, b) == 0.0
    loss, grads = xent.linear_cross_entropy(y, h, w, b, reduction="none", return_grad=True)
    assert loss.shape == (0,)
    assert grads.hidden.shape == (0, 5)
    assert not grads.weight.any()
    assert grads.bias is not None
    assert not grads.bias.any()


def test_all_rows_ignored(rng: np.random.Generator) -> None:
    y, h, w, b = make(rng, 10, 4, 6)
    y[:] = -1
    loss, grads = xent.linear_cross_entropy(y, h, w, b, ignore_index=-1, return_grad=True)
    assert loss == 0.0
    for g in grads:
        assert g is not None
        assert not g.any()


def test_ignored_rows_have_zero_loss_and_gradient(rng: np.random.Generator) -> None:
    y, h, w, b = make(rng, 16, 4, 9)
    y[[1, 5, 6]] = 9  # == V: out of range unless ignored
    loss, grads = xent.linear_cross_entropy(
        y, h, w, b, ignore_index=9, reduction="none", return_grad=True
    )
    assert np.all(loss[[1, 5, 6]] == 0)
    assert np.all(loss[[0, 2, 3]] > 0)
    assert not grads.hidden[[1, 5, 6]].any()
    keep = y != 9
    _, sub = xent.linear_cross_entropy(y[keep], h[keep], w, b, reduction="sum", return_grad=True)
    np.testing.assert_allclose(grads.weight, sub.weight, rtol=1e-13, atol=1e-15)
    assert grads.bias is not None
    assert sub.bias is not None
    np.testing.assert_allclose(grads.bias, sub.bias, rtol=1e-13, atol=1e-15)


def test_confident_row_keeps_its_tiny_loss() -> None:
    # z = (40, 0): loss log1p(exp(-40)) = 4.248354255291589e-18 (exp(-40) - exp(-80)/2)
    h, w = np.array([[40.0]]), np.array([[1.0], [0.0]])
    got = xent.linear_cross_entropy([0], h, w, reduction="sum")
    assert got == pytest.approx(np.exp(-40.0) - np.exp(-80.0) / 2, rel=1e-15)
    assert got == xent.sparse_categorical_cross_entropy([0], h @ w.T, from_logits=True)


# --- the forward pass by chunks of the vocabulary --------------------------------------------


@pytest.fixture
def narrow_vocab_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Vocabulary chunks of 40 classes or more, so that small shapes take that path."""
    monkeypatch.setattr(_linear, "MIN_VOCAB_CHUNK", 40)
    return 40


def vocab_plan(N: int, V: int, itemsize: int, chunk_bytes: int) -> tuple[int, int] | None:
    return _linear._vocab_plan(N, xent._engine.Layout((N, V), 1), itemsize, chunk_bytes)


@pytest.mark.usefixtures("narrow_vocab_chunks")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opt", list(OPTIONS))
def test_vocabulary_chunks_give_the_sparse_loss(
    rng: np.random.Generator, dtype: type[np.floating], reduction: str, opt: str
) -> None:
    # exact products: the logits are those of the sparse loss; only the merging of the chunks'
    # sums rounds differently (a few ulp of float64)
    N, V, size = 600, 500, np.dtype(dtype).itemsize
    y, h, w, b = make(rng, N, 12, V, dtype=dtype, integral=True)
    kw = options(opt, rng, y, V)
    # groups of one kernel block of rows (several groups), chunks of 45 classes or so
    block = xent._engine.Layout((N, V), 1).block_rows(size)
    budget = block * 45 * size
    assert vocab_plan(N, V, size, budget) == (block, 12)
    assert block < N
    want = xent.sparse_categorical_cross_entropy(
        y, logits(h, w, b), from_logits=True, reduction=reduction, **kw
    )
    got = xent.linear_cross_entropy(y, h, w, b, reduction=reduction, chunk_bytes=budget, **kw)
    assert np.asarray(got).dtype == dtype
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps if dtype == np.float32
                               else 1e-15, atol=0)  # fmt: skip


@pytest.mark.usefixtures("narrow_vocab_chunks")
def test_vocabulary_chunks_merge_edge_rows_as_one_pass() -> None:
    # each row's logits given as the bias of a zero product; chunks of 40 classes (V = 200)
    V = 200
    z = np.zeros((9, V))
    z[0, :] = -np.inf  # every entry -inf: NaN (the sparse loss's rule)
    z[1, :120] = -np.inf  # whole chunks masked, the rest 0
    z[2, 150] = np.inf  # +inf in the fourth chunk only
    z[3, 10] = np.nan  # NaN in the first chunk
    z[4, [5, 45, 85]] = 3.0  # a tie of the maximum across three chunks
    z[5, 0], z[5, 1:] = 60.0, -np.inf  # confident: the label's chunk has the only finite entry
    z[6, 0], z[6, 199] = 45.0, 0.0  # confident, the other entries in other chunks
    z[6, 1:199] = -1e4
    z[7, :] = np.linspace(-700.0, 700.0, V)  # exp(m2 - m1) underflows between chunks
    z[8, :] = np.linspace(-3.0, 3.0, V)[::-1]
    y = np.array([0, 130, 150, 0, 45, 0, 0, 199, 0])
    h, w, budget = np.zeros((1, 1)), np.zeros((V, 1)), 50 * 8
    assert vocab_plan(1, V, 8, budget) == (1, 4)
    for kw in ({}, {"label_smoothing": 0.1}, {"z_loss": 1e-3}):
        want = xent.sparse_categorical_cross_entropy(y, z, from_logits=True, reduction="none", **kw)
        got = [
            xent.linear_cross_entropy(y[i : i + 1], h, w, z[i], chunk_bytes=budget, **kw)
            for i in range(len(y))
        ]
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0, err_msg=str(kw))
        if not kw:  # the tiny losses: 0 (exp(-inf)) and log1p(exp(-45) + 198 exp(-10045))
            assert got[5] == 0.0
            assert got[6] == pytest.approx(np.exp(-45.0) - np.exp(-90.0) / 2, rel=1e-15)


@pytest.mark.usefixtures("narrow_vocab_chunks")
def test_vocabulary_chunks_give_the_same_bits_for_every_thread_count(
    rng: np.random.Generator,
) -> None:
    y, h, w, b = make(rng, 200, 8, 400)
    budget = 60 * 50 * 8
    assert vocab_plan(200, 400, 8, budget) is not None
    results = []
    for n in (1, 2, 3):
        xent.set_num_threads(n)
        try:
            results.append(
                xent.linear_cross_entropy(y, h, w, b, reduction="none", chunk_bytes=budget)
            )
        finally:
            xent.set_num_threads(None)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_state_mode_takes_rows_of_more_than_16_contiguous_classes() -> None:
    from xent._kernels import _core

    scratch = np.empty(_core.scratch_len(40))
    state = np.empty((3, _core.STATE_LEN))
    args = (None, None, None, None, None, None, 0.0, 0.0, 1.0, None, scratch)
    for x in (np.zeros((3, 16)), np.zeros((40, 3)).T):
        with pytest.raises(ValueError, match="mode STATE takes logits with unit class stride"):
            _core.softmax_block(_core.STATE, x, *args, state=state)
    with pytest.raises(TypeError, match=r"states are contiguous float64 of shape \(R, 5\)"):
        _core.softmax_block(_core.STATE, np.zeros((3, 40)), *args, state=state[:2])


def test_vocabulary_plan() -> None:
    V = 131072
    layout = xent._engine.Layout((8192, V), 1)
    # the logits fit the budget, or the vocabulary is too small to cut: chunks of rows
    assert _linear._vocab_plan(8192, layout, 4, 8192 * V * 4) is None
    assert _linear._vocab_plan(8192, xent._engine.Layout((8192, 8000), 1), 4, 1 << 20) is None
    # 8,192 rows of float32 in 192 MiB: all rows at once, 22 chunks of 5,957 or 5,958 classes
    assert _linear._vocab_plan(8192, layout, 4, 192 << 20) == (8192, 22)
    # a million rows: groups as tall as chunks of MIN_VOCAB_CHUNK classes allow, and chunks
    # of at least half as many classes
    big = xent._engine.Layout((1 << 20, V), 1)
    group, chunks = _linear._vocab_plan(1 << 20, big, 4, 192 << 20) or (0, 0)
    assert group * _linear.MIN_VOCAB_CHUNK * 4 <= 192 << 20
    assert group % big.block_rows(4) == 0
    assert V // chunks >= _linear.MIN_VOCAB_CHUNK // 2


# --- dtypes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtypes(rng: np.random.Generator, dtype: type[np.floating]) -> None:
    y, h, w, b = make(rng, 40, 16, 50, dtype=dtype)
    assert b is not None
    loss, grads = xent.linear_cross_entropy(y, h, w, b, return_grad=True, chunk_bytes=8 * 50 * 4)
    assert loss.dtype == dtype
    for g in grads:
        assert g is not None
        assert g.dtype == dtype
    # the float64 loss of the same (rounded) inputs; float16 computed in float32 chunks
    h64, w64, b64 = h.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    want, want_grads, _ = reference(y, h64, w64, b64)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(loss, want, rtol=8 * eps)
    assert_grads_close(grads, want_grads, 64 * eps)


def test_float16_equals_float32_computation_rounded(rng: np.random.Generator) -> None:
    y, h, w, b = make(rng, 30, 8, 20, dtype=np.float16)
    assert b is not None
    loss, grads = xent.linear_cross_entropy(y, h, w, b, return_grad=True)
    loss32, grads32 = xent.linear_cross_entropy(
        y, h.astype(np.float32), w.astype(np.float32), b.astype(np.float32), return_grad=True
    )
    assert loss == loss32.astype(np.float16)
    for g, g32 in zip(grads, grads32, strict=True):
        assert g is not None
        np.testing.assert_array_equal(g, np.asarray(g32).astype(np.float16))


def test_mixed_and_integer_inputs(rng: np.random.Generator) -> None:
    y, h, w, b = make(rng, 12, 4, 7)
    loss, grads = xent.linear_cross_entropy(y, h.astype(np.float32), w, b, return_grad=True)
    assert loss.dtype == np.float64
    assert grads.hidden.dtype == np.float32
    assert grads.weight.dtype == np.float64
    hi = rng.integers(-3, 4, size=h.shape)
    loss, grads = xent.linear_cross_entropy(y, hi, w, return_grad=True)
    assert loss.dtype == np.float64
    assert grads.hidden.dtype == np.float64
    np.testing.assert_allclose(loss, reference(y, hi.astype(float), w, None)[0], rtol=1e-14)


# --- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize("opt", ["plain", "all"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradients_match_finite_differences(
    rng: np.random.Generator, fd: Callable[..., np.ndarray], opt: str, reduction: str
) -> None:
    y, h, w, b = make(rng, 9, 3, 5)
    assert b is not None
    kw = options(opt, rng, y, 5)
    kw["reduction"] = reduction

    def total(loss: Any) -> float:
        return float(np.sum(loss))

    _, grads = xent.linear_cross_entropy(y, h, w, b, return_grad=True, chunk_bytes=1, **kw)
    numeric = (
        fd(lambda x: total(xent.linear_cross_entropy(y, x, w, b, **kw)), h, 1e-3),
        fd(lambda x: total(xent.linear_cross_entropy(y, h, x, b, **kw)), w, 1e-3),
        fd(lambda x: total(xent.linear_cross_entropy(y, h, w, x, **kw)), b, 1e-3),
    )
    # 4th-order differences: truncation ~ h^4 * f^(5) ~ 1e-12, rounding ~ eps * f / h ~ 1e-13
    assert_grads_close(grads, numeric, 1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opt", ["plain", "ignore", "class_weight", "smoothing"])
def test_matches_torch_linear_and_cross_entropy(
    rng: np.random.Generator, reduction: str, opt: str
) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    y, h, w, b = make(rng, 33, 10, 40)
    kw = options(opt, rng, y, 40)
    ht, wt, bt = (torch.tensor(a, requires_grad=True) for a in (h, w, b))
    zt = F.linear(ht, wt, bt)
    cw = kw.get("class_weight")
    lt = F.cross_entropy(
        zt,
        torch.tensor(y),
        weight=None if cw is None else torch.tensor(cw),
        ignore_index=kw.get("ignore_index", -100),
        label_smoothing=kw.get("label_smoothing", 0.0),
        reduction=reduction,
    )
    lt.sum().backward()
    loss, grads = xent.linear_cross_entropy(
        y, h, w, b, reduction=reduction, return_grad=True, chunk_bytes=8 * 40 * 8, **kw
    )
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-12, atol=1e-15)
    assert ht.grad is not None
    assert wt.grad is not None
    assert bt.grad is not None
    want = (ht.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())
    assert_grads_close(grads, want, 1e-11)


# --- chunks, threads, inputs ----------------------------------------------------------------


def test_chunk_budget_does_not_change_results(rng: np.random.Generator) -> None:
    N, V = 100, 1500
    y, h, w, b = make(rng, N, 20, V, integral=True)
    budgets = (1, 2 * 21 * V * 8 * 2, 3 * 21 * V * 8 * 2, None)
    assert [n_chunks(N, V, 8, c, True) for c in budgets] == [5, 3, 2, 1]
    runs = [
        xent.linear_cross_entropy(y, h, w, b, return_grad=True, reduction="none", chunk_bytes=c)
        for c in budgets
    ]
    for loss, grads in runs[1:]:
        np.testing.assert_array_equal(loss, runs[0][0])
        # dW and db are sums over chunks, so grouped differently: equal up to their rounding
        assert_grads_close(grads, runs[0][1], 1e-14)
    # random (inexact) products: the BLAS rounding of a product may depend on its rows
    y, h, w, b = make(rng, N, 20, V)
    a = xent.linear_cross_entropy(y, h, w, b, chunk_bytes=1)
    c = xent.linear_cross_entropy(y, h, w, b)
    np.testing.assert_allclose(a, c, rtol=1e-14)


def test_chunk_rows_are_whole_kernel_blocks() -> None:
    layout = xent._engine.Layout((1000, 300), 1)
    block = layout.block_rows(4)
    for budget in (1, 10**4, 10**6, 10**7):
        rows = _linear._chunk_rows(1000, layout, 4, budget)
        assert rows == 1000 or rows % block == 0
        assert rows * 300 * 4 <= max(budget, block * 300 * 4)
    assert _linear._chunk_rows(3, layout, 4, 1) == 3


def test_thread_counts_give_the_same_bits(rng: np.random.Generator) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    y, h, w, b = make(rng, 64, 16, 300, integral=True)
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()]
    results = []
    for n in (1, 2, 3):
        xent.set_num_threads(n)
        try:
            results.append(xent.linear_cross_entropy(y, h, w, b, return_grad=True))
        finally:
            xent.set_num_threads(None)
    for loss, grads in results[1:]:
        assert loss == results[0][0]
        assert_grads_close(grads, results[0][1], 1e-14)
    # BLAS's own setting is restored after each call
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info()][: len(before)] == before


def test_inputs_are_never_written_and_read_only_inputs_work(rng: np.random.Generator) -> None:
    y, h, w, b = make(rng, 20, 6, 15, dtype=np.float32)
    kw = options("all", rng, y, 15)
    arrays = [y, h, w, b, kw["class_weight"], kw["sample_weight"]]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.setflags(write=False)
    xent.linear_cross_entropy(y, h, w, b, return_grad=True, chunk_bytes=1, **kw)
    xent.linear_cross_entropy(y, h, w, b, reduction="none", **kw)
    for a, c in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_non_contiguous_inputs(rng: np.random.Generator) -> None:
    y, h, w, b = make(rng, 30, 8, 20)
    hf, wf = np.asfortranarray(h), np.asfortranarray(w)
    hs = np.repeat(h, 2, axis=1)[:, ::2]
    want = xent.linear_cross_entropy(y, h, w, b, return_grad=True)
    for hh, ww in ((hf, wf), (hs, w), (h[::-1][::-1], w[:, ::-1][:, ::-1])):
        loss, grads = xent.linear_cross_entropy(y, hh, ww, b, return_grad=True, chunk_bytes=1)
        np.testing.assert_allclose(loss, want[0], rtol=1e-14)
        assert_grads_close(grads, want[1], 1e-13)


def test_memory_stays_within_the_chunks(rng: np.random.Generator) -> None:
    # N x V logits would be 24 MiB; the chunks are 20 rows (469 KiB, two of 10 with gradients)
    N, D, V = 1024, 4, 3000
    y, h, w, b = make(rng, N, D, V)
    chunk = 20 * V * 8
    assert (n_chunks(N, V, 8, chunk, False), n_chunks(N, V, 8, chunk, True)) == (52, 103)
    outputs = (N * D + V * D + V) * 8
    xent.linear_cross_entropy(y[:8], h[:8], w, b, return_grad=True)  # warm up the imports
    for return_grad in (False, True):
        tracemalloc.start()
        result = xent.linear_cross_entropy(y, h, w, b, return_grad=return_grad, chunk_bytes=chunk)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del result
        # + the kernel's scratch (about 130 KiB a thread) and per-row values
        allowed = chunk + (outputs if return_grad else 0) + 2**19
        assert peak <= allowed, (return_grad, peak, allowed)
    # one row at a time when there is one row: a row of the vocabulary, not a block of 8
    tracemalloc.start()
    xent.linear_cross_entropy(y[:1], h[:1], w, b, chunk_bytes=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= V * 8 + 2**19


# --- errors ---------------------------------------------------------------------------------

Y, H, W, B = np.array([0, 2]), np.ones((2, 3)), np.ones((4, 3)), np.ones(4)
ERRORS: list[tuple[Callable[[], Any], type[Exception], str]] = [
    (
        lambda: xent.linear_cross_entropy(Y, np.ones((2, 5)), W),
        ValueError,
        r"hidden has shape \(2, 5\) but weight of shape \(4, 3\) needs \(\.\.\., D\) with D = 3",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, np.float64(1.0), W),
        ValueError,
        r"hidden has shape \(\) but weight of shape \(4, 3\) needs \(\.\.\., D\) with D = 3",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, np.ones(3)),
        ValueError,
        r"weight must have shape \(V, D\); got 1 dimensions \(3,\)",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, np.ones((0, 3))),
        ValueError,
        r"weight has no classes: its shape \(0, 3\) has V = 0",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, np.ones(5)),
        ValueError,
        r"bias must have shape \(V,\) = \(4,\); got \(5,\)",
    ),
    (
        lambda: xent.linear_cross_entropy([0, 1, 2], H, W),
        ValueError,
        r"y_true has shape \(3,\) but hidden of shape \(2, 3\) needs \(2,\)",
    ),
    (
        lambda: xent.linear_cross_entropy([0, 4], H, W),
        ValueError,
        r"y_true holds class id 4 at index \(1,\), outside \[0, 4\) for weight's V = 4 "
        r"classes\.$",
    ),
    (
        lambda: xent.linear_cross_entropy([0, 1.5], H, W),
        ValueError,
        r"y_true holds non-integral class id 1.5 at index \(1,\)",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, chunk_bytes=0),
        ValueError,
        r"chunk_bytes must be a positive integer or None; got 0",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, chunk_bytes=1.5),  # type: ignore[call-overload]
        TypeError,
        r"chunk_bytes must be a positive integer or None; got 1.5",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, reduction="avg"),  # type: ignore[call-overload]
        ValueError,
        r"reduction must be one of 'none', 'sum', 'mean'; got 'avg'",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, label_smoothing=1.5),
        ValueError,
        r"label_smoothing must be in \[0, 1\]; got 1.5",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, class_weight=[1.0, 2.0]),
        ValueError,
        r"class_weight must have shape \(C,\) = \(4,\); got \(2,\)",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, sample_weight=[1.0, -1.0]),
        ValueError,
        r"sample_weight must be finite and non-negative; got -1.0 at index \(1,\)",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, ignore_index=0.5),  # type: ignore[arg-type]
        TypeError,
        r"ignore_index must be an integer or None; got 0.5",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, return_grad=1),  # type: ignore[call-overload]
        TypeError,
        r"return_grad must be a bool \(True or False\); got 1",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H.astype(complex), W),
        TypeError,
        r"hidden must be a real numeric array; got dtype complex128",
    ),
    (
        lambda: xent.linear_cross_entropy(Y, H, W, np.array(["a"] * 4)),
        TypeError,
        r"bias must be a real numeric array; got dtype <U1",
    ),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors(call: Callable[[], Any], exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        call()


def test_errors_are_the_sparse_losss_for_its_own_checks() -> None:
    for kw in ({"sample_weight": [1.0, np.nan]}, {"class_weight": [1.0, 2.0]}):
        name = next(iter(kw))
        with pytest.raises(ValueError, match=name) as mine:
            xent.linear_cross_entropy(Y, H, W, **kw)
        with pytest.raises(ValueError, match=name) as sparse:
            xent.sparse_categorical_cross_entropy(Y, H @ W.T, from_logits=True, **kw)
        assert str(mine.value) == str(sparse.value)


ARRAY_ARGS: dict[str, Callable[[Any], Any]] = {
    "y_true": lambda a: xent.linear_cross_entropy(a, H, W),
    "hidden": lambda a: xent.linear_cross_entropy(Y, a, W),
    "weight": lambda a: xent.linear_cross_entropy(Y, H, a),
    "bias": lambda a: xent.linear_cross_entropy(Y, H, W, a),
    "class_weight": lambda a: xent.linear_cross_entropy(Y, H, W, class_weight=a),
    "sample_weight": lambda a: xent.linear_cross_entropy(Y, H, W, sample_weight=a),
}


@pytest.mark.parametrize("name", list(ARRAY_ARGS))
def test_ragged_and_masked_arrays_name_the_argument(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a rectangular array"):
        ARRAY_ARGS[name]([[0.5, 0.5], [1.0]])
    masked = np.ma.masked_array([1.0, 0.0], mask=[False, True])
    with pytest.raises(TypeError, match=rf"^{name} is a masked array"):
        ARRAY_ARGS[name](masked)


@pytest.mark.parametrize("bad", ["False", 0, 1.0, None, np.array([True])], ids=repr)
def test_return_grad_takes_bools_only(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"^return_grad must be a bool"):
        xent.linear_cross_entropy(Y, H, W, return_grad=bad)


# --- the example and the benchmark section ----------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_output_layer_example_trains_within_its_chunks() -> None:
    spec = importlib.util.spec_from_file_location(
        "xent_example_output_layer", ROOT / "examples" / "output_layer.py"
    )
    assert spec is not None
    assert spec.loader is not None
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    out = ex.main(
        ["--vocab", "2000", "--dim", "16", "--batch", "256", "--steps", "40", "--test", "512",
         "--chunk-mib", "0.25"]
    )  # fmt: skip
    losses = np.array(out["train_loss"])
    # zero weights start at the uniform guess, log V
    assert losses[0] == pytest.approx(out["uniform_loss"], rel=1e-6)
    assert losses[-10:].mean() < 0.8 * losses[0]
    assert out["teacher_loss"] < out["test_loss"] < 0.8 * out["uniform_loss"]
    assert out["max_diff_vs_materialized"] < 1e-5
    # two chunk buffers, the gradients and small change; far below the logits and their gradient
    assert out["peak_bytes"] < 2 * out["chunk_bytes"] + 2 * out["grads_bytes"] + 2**20
    assert out["peak_bytes"] < out["logits_bytes"]


def test_benchmark_section_runs_and_checks_its_targets() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks import linear

    record = linear.run(64, 16, 512, repeats=1, check_rows=32, with_torch=False)
    names = [t["name"] for t in record["targets"]]
    assert any("forward" in n and "1.15x" in n for n in names)
    assert any("memory, with gradients" in n for n in names)
    statuses = {t["name"]: t["status"] for t in record["targets"]}
    assert all(s in ("PASS", "MISS") for s in statuses.values()), statuses
    assert statuses[next(n for n in names if "accuracy" in n)] == "PASS"
    mem = record["memory"]["xent with gradients"]
    assert mem["tracemalloc_peak"] >= record["grads_bytes"]
    assert "xent with gradients" in linear.render(record)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1, "z_loss": 1e-3}])
def test_the_kernel_writes_the_gradient_over_the_logits_bit_for_bit(rng, dtype, options):
    """With more than 16 classes the chunks' gradient overwrites their logits: the sparse
    kernel then gives the same bits as with a separate output (x[y] is read before the pass)."""
    from xent._categorical import _call
    from xent._engine import Layout
    from xent._softmax import SPARSE, RowSource

    R, C = 300, 37
    x = (rng.standard_normal((R, C)) * 8).astype(dtype)
    x[::7, 3] = -np.inf
    y = rng.integers(0, C, R)
    layout = Layout((R, C), 1)
    eps, z = options.get("label_smoothing", 0.0), options.get("z_loss", 0.0)
    call = _call(SPARSE, layout, np.dtype(dtype), True, None, eps, "sum", 0.0, True, z, 0.0)
    ids = RowSource(layout, y, np.int64)
    apart = np.empty_like(x)
    want = call.run(x, out=apart, labels=ids)
    over = x.copy()
    got = call.run(over, out=over, labels=ids)
    assert got == want
    np.testing.assert_array_equal(over, apart)
