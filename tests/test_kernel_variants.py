"""Every SIMD variant of the compiled kernels that fuses its multiply-adds, and every thread
count, gives the same bits.

The kernels are compiled once per instruction set (xent/_kernels/kernels_*.c) with
-ffp-contract=off and no -ffast-math, so each variant performs the same IEEE operations in
the same order, the multiply-adds written out rounded once (AVX2, AVX-512: CPUs with the FMA
instruction) or, in the x86-64 baseline for CPUs without it, twice; the engine sums block
results in block order whatever the number of threads. These tests run each public function of
xent under every variant this CPU supports, over layouts that take each path of the kernel
(rows of many classes; rows of <= 16 classes transposed into class-major tiles; class axis not
last), and compare the results bit for bit among the variants of a kind, and within a few ulp
across kinds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import xent
from tests._reference import as_bits
from xent._kernels import _core

SUPPORTED = [name for name, ok in _core.variants() if ok]
needs_two = pytest.mark.skipif(len(SUPPORTED) < 2, reason="this CPU runs one SIMD variant only")


def assert_same_bits(results: dict[Any, Any]) -> None:
    """All results equal to the first, bit for bit (NaNs included)."""
    (k0, r0), *rest = results.items()
    want = as_bits(r0)
    for k, r in rest:
        got = as_bits(r)
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            if a == b:
                continue
            x, y = (np.asarray(p[i] if isinstance(p, tuple) else p) for p in (r0, r))
            assert a[:2] == b[:2], f"{k} vs {k0}: part {i} is {b[:2]}, not {a[:2]}"
            diff = np.flatnonzero(
                x.view(np.uint8).reshape(x.size, -1) != y.view(np.uint8).reshape(y.size, -1)
            ).tolist()
            raise AssertionError(f"{k} vs {k0}: part {i} differs at flat indices {diff[:5]}")


def assert_variants_agree(results: dict[str, Any]) -> None:
    """Results per variant: the same bits among the variants that fuse their multiply-adds and
    among those that do not; across the two kinds, within a few ulp of each array's largest
    finite value (both are within a few ulp of the exact values, normwise for gradients, whose
    entries may cancel), NaN where the other has NaN."""
    kinds: dict[bool, dict[str, Any]] = {}
    for name, r in results.items():
        kinds.setdefault(_core.fused(name), {})[name] = r
    for kind in kinds.values():
        assert_same_bits(kind)
    if len(kinds) < 2:
        return
    (k0, r0), (k1, r1) = (next(iter(kind.items())) for kind in kinds.values())
    parts0, parts1 = (r if isinstance(r, tuple) else (r,) for r in (r0, r1))
    for i, (a, b) in enumerate(zip(parts0, parts1, strict=True)):
        a, b = np.asarray(a), np.asarray(b)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{k1} vs {k0}: part {i}"
        info = np.finfo(a.dtype)
        finite = np.abs(a[np.isfinite(a)])
        scale = float(finite.max()) if finite.size else 0.0
        atol = 16 * (float(info.eps) * scale + float(info.smallest_subnormal))
        np.testing.assert_allclose(
            b, a, rtol=16 * float(info.eps), atol=atol, err_msg=f"{k1} vs {k0}: part {i}"
        )


def test_assert_same_bits_sees_one_ulp_and_nan_signs():
    a = np.array([1.0, np.nan, 3.0])
    assert_same_bits({"a": (a, a.copy()), "b": (a.copy(), a.copy())})
    for changed in (np.array([1.0, np.nan, np.nextafter(3.0, 4.0)]), np.array([1.0, -np.nan, 3.0])):
        with pytest.raises(AssertionError, match="part 1 differs"):
            assert_same_bits({"a": (a, a), "b": (a, changed)})
    with pytest.raises(AssertionError, match="float32"):
        assert_same_bits({"a": a, "b": a.astype(np.float32)})


@pytest.mark.skipif(
    [n for n, _ in _core.variants()] != ["avx512", "avx2", "baseline"], reason="x86-64 build"
)
def test_assert_variants_agree_is_exact_within_a_kind_only():
    a = np.array([1.0, np.nan, 3.0])
    near = np.nextafter(a, 4.0)
    assert_variants_agree({"avx512": a, "baseline": near})  # the two kinds: a few ulp apart
    with pytest.raises(AssertionError, match="part 0 differs"):
        assert_variants_agree({"avx512": a, "avx2": near})  # both fuse: bit for bit
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_variants_agree({"avx512": a, "baseline": a * (1 + 2.0**-40)})
    small = np.array([3.0, 1e-12])  # a small entry: held to a few ulp of the largest
    assert_variants_agree({"avx512": small, "baseline": small + np.array([0.0, 1e-15])})


@pytest.fixture
def each_variant() -> Iterator[Callable[[Callable[[], Any]], dict[str, Any]]]:
    """Run a call under every supported variant; the variant in use is restored afterwards."""
    before = _core.get_variant()

    def run(call: Callable[[], Any]) -> dict[str, Any]:
        out = {}
        for name in SUPPORTED:
            _core.set_variant(name)
            assert _core.get_variant() == name
            out[name] = call()
        return out

    try:
        yield run
    finally:
        _core.set_variant(before)


@pytest.fixture
def each_thread_count() -> Iterator[Callable[[Callable[[], Any]], dict[int, Any]]]:
    """Run a call with 1, 2 and 3 threads; the default thread count is restored afterwards."""

    def run(call: Callable[[], Any]) -> dict[int, Any]:
        out = {}
        for n in (1, 2, 3):
            xent.set_num_threads(n)
            out[n] = call()
        return out

    try:
        yield run
    finally:
        xent.set_num_threads(None)


# ----------------------------------------------------------------------------- inputs


def softmax_inputs(
    rng: np.random.Generator, dtype: Any, n_classes: int, axis_last: bool
) -> dict[str, Any]:
    """Logits with -inf masks and confident rows, labels, soft targets and probabilities.

    Classes last: (rows, C), rows not a multiple of 8 nor of the 256-row tile. Otherwise
    (3, C, tail): class-major blocks.
    """
    rows = 601 if n_classes <= 16 else 37
    x = 3.0 * rng.standard_normal((rows, n_classes))
    labels = rng.integers(0, n_classes, rows)
    masked = rng.random((rows, n_classes)) < 0.2
    masked[np.arange(rows), labels] = False
    x[masked] = -np.inf
    # every 3rd row confident: its label leads the rest by 20 to 600 (float64 losses < 1e-8)
    lead = np.geomspace(20.0, 600.0 if dtype == np.float64 else 80.0, rows)
    confident = np.arange(rows) % 3 == 0
    x[confident, labels[confident]] = x[confident].max(axis=1) + lead[confident]
    w = rng.random((rows, n_classes)) ** 3
    w[masked] = 0.0
    soft = w / w.sum(axis=1, keepdims=True)
    z = np.exp(x - x.max(axis=1, keepdims=True))
    probs = z / z.sum(axis=1, keepdims=True)
    out = {
        "x": x.astype(dtype),
        "labels": labels,
        "soft": soft.astype(dtype),
        "probs": probs.astype(dtype),
        "class_weight": rng.uniform(0.0, 2.0, n_classes),
        "sample_weight": rng.uniform(0.0, 2.0, rows),
    }
    out["class_weight"][0] = 0.0
    if axis_last:
        return {**out, "axis": -1}
    # rows -> (3, tail): (3, C, tail) with the class axis 1
    tail = rows // 3
    keep = 3 * tail
    moved = {}
    for key in ("x", "soft", "probs"):
        moved[key] = np.ascontiguousarray(
            out[key][:keep].reshape(3, tail, n_classes).swapaxes(1, 2)
        )
    for key in ("labels", "sample_weight"):
        moved[key] = out[key][:keep].reshape(3, tail)
    return {**out, **moved, "axis": 1}


DTYPES = [np.float32, np.float64]
N_CLASSES = [2, 10, 24, 1000]  # 24: float32 rows in tiles, float64 rows one at a time
LAYOUTS = [
    pytest.param((dtype, c, last), id=f"{np.dtype(dtype).name}-C{c}-{'last' if last else 'axis1'}")
    for dtype in DTYPES
    for c in N_CLASSES
    for last in (True, False)
]


@pytest.fixture(params=LAYOUTS)
def data(request, rng) -> dict[str, Any]:
    return softmax_inputs(rng, *request.param)


# ----------------------------------------------------------------------------- the softmax family


@needs_two
@pytest.mark.parametrize("fn", ["logsumexp", "log_softmax", "softmax"])
def test_softmax_family_bit_identical(each_variant, data, fn):
    f = getattr(xent, fn)
    results = each_variant(lambda: f(data["x"], axis=data["axis"]))
    assert_variants_agree(results)


@pytest.mark.parametrize("fn", ["log_softmax", "softmax"])
@pytest.mark.parametrize("n_classes", [3, 10, 24])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family_strided_rows_bit_identical(each_variant, rng, dtype, n_classes, fn):
    """Rows apart in memory (row stride 2 C) give the bits of the same rows one after another,
    under every variant: the tiles read rows of either kind, and log_softmax writes contiguous
    rows eight at a time, the others row by row."""
    x = softmax_inputs(rng, dtype, n_classes, axis_last=True)["x"]
    wide = np.zeros((x.shape[0], 2 * n_classes), dtype)
    wide[:, :n_classes] = x
    f = getattr(xent, fn)
    strided = each_variant(lambda: f(wide[:, :n_classes], axis=-1))
    contiguous = each_variant(lambda: f(x, axis=-1))
    for name in SUPPORTED:
        assert_same_bits({"contiguous": contiguous[name], "strided": strided[name]})
    assert_variants_agree(contiguous)


SPARSE_OPTIONS = {
    "plain": {},
    "weights": {"class_weight": True, "sample_weight": True},
    "smoothing": {"label_smoothing": 0.1},
    "ignore_index": {"ignore_index": -100},
    "all": {
        "class_weight": True,
        "sample_weight": True,
        "label_smoothing": 0.2,
        "ignore_index": -100,
    },
}
CATEGORICAL_OPTIONS = {k: v for k, v in SPARSE_OPTIONS.items() if "ignore_index" not in v}


def loss_kwargs(
    data: dict[str, Any], options: dict[str, Any], from_logits: bool, grad: bool
) -> dict:
    """Keyword arguments of a loss call: weights from ``data``; with a gradient, the mean."""
    kw: dict[str, Any] = {"from_logits": from_logits, "axis": data["axis"], "return_grad": grad}
    kw["reduction"] = "mean" if grad else "none"
    for key, value in options.items():
        kw[key] = data[key] if value is True else value
    return kw


def sparse_labels(data: dict[str, Any], options: dict[str, Any]) -> np.ndarray:
    labels = data["labels"].copy()
    if "ignore_index" in options:
        labels.reshape(-1)[::7] = options["ignore_index"]
    return labels


@needs_two
@pytest.mark.parametrize("grad", [False, True], ids=["loss", "grad"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("option", list(SPARSE_OPTIONS))
def test_sparse_bit_identical(each_variant, data, option, from_logits, grad):
    options = SPARSE_OPTIONS[option]
    y = sparse_labels(data, options)
    x = data["x"] if from_logits else data["probs"]
    kw = loss_kwargs(data, options, from_logits, grad)
    results = each_variant(lambda: xent.sparse_categorical_cross_entropy(y, x, **kw))
    assert_variants_agree(results)


@needs_two
@pytest.mark.parametrize("grad", [False, True], ids=["loss", "grad"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("option", list(CATEGORICAL_OPTIONS))
def test_categorical_bit_identical(each_variant, data, option, from_logits, grad):
    x = data["x"] if from_logits else data["probs"]
    kw = loss_kwargs(data, CATEGORICAL_OPTIONS[option], from_logits, grad)
    results = each_variant(lambda: xent.categorical_cross_entropy(data["soft"], x, **kw))
    assert_variants_agree(results)


FAMILY_OPTIONS = {
    "z_loss": {"z_loss": 1e-3},
    "z_loss-all": {"z_loss": 0.5, "class_weight": True, "sample_weight": True,
                   "label_smoothing": 0.2},
    "focal": {"focal_gamma": 2.0},
    "focal-half": {"focal_gamma": 0.5, "sample_weight": True},
    "focal-all": {"focal_gamma": 1.5, "z_loss": 1e-3, "class_weight": True,
                  "sample_weight": True, "label_smoothing": 0.2},
}  # fmt: skip


@needs_two
@pytest.mark.parametrize("grad", [False, True], ids=["loss", "grad"])
@pytest.mark.parametrize("option", list(FAMILY_OPTIONS))
@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_family_options_bit_identical(each_variant, data, kind, option, grad):
    """The z-loss and focal options of the softmax losses, from logits (and from
    probabilities where they are defined)."""
    options = FAMILY_OPTIONS[option]
    kw = loss_kwargs(data, options, True, grad)
    x = data["x"]
    if kind == "sparse":
        y = sparse_labels(data, {"ignore_index": -100})
        results = each_variant(
            lambda: xent.sparse_categorical_cross_entropy(y, x, ignore_index=-100, **kw)
        )
    else:
        results = each_variant(lambda: xent.categorical_cross_entropy(data["soft"], x, **kw))
    assert_variants_agree(results)


# ----------------------------------------------------------------------------- elementwise


def binary_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Any]:
    """Logits from +-1e-3 to +-1e4 (and zeros), probabilities down to 1e-300 from 0 and 1."""
    n = 5003
    mag = 10.0 ** rng.uniform(-3.0, 4.0, n)
    x = np.where(rng.random(n) < 0.5, -mag, mag)
    x[:4] = [0.0, -0.0, 1e4, -1e4]
    tiny = 10.0 ** rng.uniform(-300.0 if dtype == np.float64 else -30.0, -1.0, n)
    p = np.where(rng.random(n) < 0.5, tiny, 1.0 - tiny)
    p[:4] = [0.0, 1.0, 0.5, 0.25]
    y = rng.random(n)
    y[::5] = np.round(y[::5])
    return {
        "x": x.astype(dtype),
        "probs": p.astype(dtype),
        "y": y,
        "pos_weight": rng.uniform(0.5, 3.0, n),
        "sample_weight": rng.uniform(0.0, 2.0, n),
    }


BINARY_OPTIONS = {
    "plain": {},
    "weights": {"pos_weight": True, "sample_weight": True},
    "smoothing": {"label_smoothing": 0.1},
    "focal": {"focal_gamma": 2.0},
    "focal-alpha": {"focal_gamma": 0.5, "focal_alpha": 0.25, "sample_weight": True},
    "focal-all": {"focal_gamma": 1.5, "focal_alpha": 0.75, "pos_weight": True,
                  "sample_weight": True, "label_smoothing": 0.1},
}  # fmt: skip


@needs_two
@pytest.mark.parametrize("grad", [False, True], ids=["loss", "grad"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("option", list(BINARY_OPTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_binary_bit_identical(each_variant, rng, dtype, option, from_logits, grad):
    data = binary_inputs(rng, dtype)
    x = data["x"] if from_logits else data["probs"]
    kw: dict[str, Any] = {"from_logits": from_logits, "return_grad": grad}
    kw["reduction"] = "mean" if grad else "none"
    for key, value in BINARY_OPTIONS[option].items():
        kw[key] = data[key] if value is True else value
    results = each_variant(lambda: xent.binary_cross_entropy(data["y"], x, **kw))
    assert_variants_agree(results)


@needs_two
@pytest.mark.parametrize("fn", ["softplus", "log_sigmoid"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_softplus_bit_identical(each_variant, rng, dtype, fn):
    x = binary_inputs(rng, dtype)["x"]
    x[4:8] = [np.inf, -np.inf, np.nan, 40.0]
    results = each_variant(lambda: getattr(xent, fn)(x))
    assert_variants_agree(results)


KL_MODES = {
    "logits-logits": (True, True),
    "probs-logits": (False, True),
    "logits-probs": (True, False),
    "probs-probs": (False, False),
}


@needs_two
@pytest.mark.parametrize("grad", [False, True], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("mode", "temperature"),
    [(m, t) for m in KL_MODES for t in (1.0, 2.5) if t == 1.0 or any(KL_MODES[m])],
)
def test_kl_bit_identical(each_variant, data, mode, temperature, grad):
    target_logits, pred_logits = KL_MODES[mode]
    student = data["x"] + np.asarray(0.1, data["x"].dtype) * np.sign(data["x"])
    y_true = data["x"] if target_logits else data["soft"]
    y_pred = student if pred_logits else data["probs"]
    results = each_variant(
        lambda: xent.kl_divergence(
            y_true,
            y_pred,
            from_logits=pred_logits,
            target_from_logits=target_logits,
            temperature=temperature,
            axis=data["axis"],
            sample_weight=data["sample_weight"],
            reduction="none",
            return_grad=grad,
        )
    )
    assert_variants_agree(results)


# ----------------------------------------------------------------------------- threads


def thread_cases(rng: np.random.Generator) -> dict[str, Callable[[], Any]]:
    """Calls of several blocks each (a block holds about 512 KiB of one input)."""
    many = softmax_inputs(rng, np.float64, 10, True)
    many_x = np.tile(many["x"], (20, 1))  # 12020 rows of 10: two blocks
    many_y = np.tile(many["labels"], 20)
    wide = softmax_inputs(rng, np.float32, 1000, True)
    wide_x = np.tile(wide["x"], (8, 1))  # 296 rows of 1000: three blocks
    wide_y = np.tile(wide["labels"], 8)
    cm = softmax_inputs(rng, np.float64, 10, False)
    cm_x = np.tile(cm["x"], (40, 1, 1))  # 120 outer rows of (10, 200): several blocks
    cm_soft = np.tile(cm["soft"], (40, 1, 1))
    b = binary_inputs(rng, np.float64)
    # (120, 5003): tiles of 52 rows; softplus: 1-D tiles of 65536 elements
    bx, by = np.tile(b["x"], (120, 1)), np.tile(b["y"], (120, 1))
    opts = {"from_logits": True, "label_smoothing": 0.1}
    return {
        "logsumexp": lambda: xent.logsumexp(many_x),
        "softmax axis=1": lambda: xent.softmax(cm_x, axis=1),
        "sparse grad C=10": lambda: xent.sparse_categorical_cross_entropy(
            many_y, many_x, return_grad=True, **opts
        ),
        "sparse grad C=1000": lambda: xent.sparse_categorical_cross_entropy(
            wide_y, wide_x, return_grad=True, reduction="sum", **opts
        ),
        "categorical grad axis=1": lambda: xent.categorical_cross_entropy(
            cm_soft, cm_x, axis=1, return_grad=True, **opts
        ),
        "binary grad": lambda: xent.binary_cross_entropy(
            by, bx, from_logits=True, return_grad=True
        ),
        "softplus": lambda: xent.softplus(bx),
        "kl grad C=1000": lambda: xent.kl_divergence(
            wide_x,
            wide_x[::-1],
            from_logits=True,
            target_from_logits=True,
            temperature=2.0,
            return_grad=True,
        ),
    }


THREAD_CASES = [
    "logsumexp",
    "softmax axis=1",
    "sparse grad C=10",
    "sparse grad C=1000",
    "categorical grad axis=1",
    "binary grad",
    "softplus",
    "kl grad C=1000",
]


@pytest.mark.parametrize("case", THREAD_CASES)
def test_thread_counts_bit_identical(each_thread_count, rng, case):
    cases = thread_cases(rng)
    assert list(cases) == THREAD_CASES
    call = cases[case]
    assert_same_bits(each_thread_count(call))


# ----------------------------------------------------------------------------- selection


def variant_in_subprocess(simd: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XENT_SIMD"}
    if simd is not None:
        env["XENT_SIMD"] = simd
    code = "import xent._kernels._core as k; print(k.get_variant())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_env_var_selects_baseline():
    proc = variant_in_subprocess("baseline")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "baseline"


def test_default_is_the_best_supported_variant():
    proc = variant_in_subprocess(None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == SUPPORTED[0]


def test_env_var_with_an_unknown_name_fails_the_import():
    proc = variant_in_subprocess("sse9")
    assert proc.returncode != 0
    assert "ValueError: SIMD variant must be one of" in proc.stderr
    assert "got 'sse9'" in proc.stderr


def test_unknown_variant_raises_naming_the_choices(each_variant):
    names = [name for name, _ in _core.variants()]
    before = _core.get_variant()
    with pytest.raises(
        ValueError, match=re.escape(f"SIMD variant must be one of {names}; got 'sse9'.")
    ):
        _core.set_variant("sse9")
    assert _core.get_variant() == before


def test_set_variant_none_selects_the_best(each_variant):
    _core.set_variant("baseline")
    assert _core.get_variant() == "baseline"
    _core.set_variant(None)
    assert _core.get_variant() == SUPPORTED[0]
