"""Small calls: the sparse and categorical losses, logsumexp, log_softmax, softmax and the KL
divergence of two sets of logits run a call of one block without the block driver, all of
it in C (`_core.sparse_one_block`, `categorical_one_block`, `rows_one_block`,
`kl_one_block`), and the binary loss a call of one tile without the tile driver
(`_core.binary_one_tile`), when its inputs are plainly valid.
The spec: the same result as the general path, bit for bit, for every option that path takes;
anything it does not take, or input that fails a check, goes the general way with that path's
errors and messages.

The general path is reached with the same data through an ndarray subclass (which the small
path does not take, and which xent reads as the plain array it holds).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xent
from xent import _binary, _categorical, _engine, _kl, _primitives

bce = xent.binary_cross_entropy
scce = xent.sparse_categorical_cross_entropy
cce = xent.categorical_cross_entropy


class _Plain(np.ndarray):  # type: ignore[type-arg]
    """An ndarray subclass: the small path refuses it, so the call goes the general way."""


def _general(a: np.ndarray) -> np.ndarray:
    return a.view(_Plain)


def _same(small, general):
    """Equal bits, dtypes and types (a tuple: loss and gradient)."""
    if isinstance(small, tuple):
        assert isinstance(general, tuple)
        assert len(small) == len(general)
        for a, b in zip(small, general, strict=True):
            _same(a, b)
        return
    assert type(small) is type(general)
    a, b = np.asarray(small), np.asarray(general)
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes(), (a, b)


def _refuse(*args, **kwargs):
    raise AssertionError("the general path ran")


@pytest.fixture
def general_path_fails(monkeypatch):
    """Make every general path raise (a step each takes first, before its kernel): a call that
    returns went the small way. ``monkeypatch.undo()`` lets the general path run again."""
    monkeypatch.setattr(_categorical, "_prepare", _refuse)
    monkeypatch.setattr(_binary, "_pos_weight", _refuse)
    monkeypatch.setattr(_primitives, "_softmax_input", _refuse)
    monkeypatch.setattr(_kl, "_run", _refuse)


def _logits(rng, shape, dtype):
    x = rng.standard_normal(shape) * rng.choice([1.0, 8.0, 60.0])
    return x.astype(dtype)


def _soft(rng, shape, dtype, kind):
    R, C = shape
    if kind == "one-hot":
        t = np.zeros(shape, dtype)
        t[np.arange(R), rng.integers(0, C, R)] = 1
        return t
    t = rng.dirichlet(np.ones(C), R).astype(dtype)
    if kind == "mixed":  # one-hot rows among soft ones
        t[::2] = 0
        t[::2, 0] = 1
    return t


OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-3},
    {"focal_gamma": 2.0},
    {"focal_gamma": 1, "label_smoothing": 0.25, "z_loss": 0.5, "reduction": "sum"},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (64, 10), (5, 17), (40, 100), (9, 1000)])
@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("return_grad", [False, True])
def test_sparse_same_bits(dtype, shape, options, return_grad, general_path_fails, monkeypatch):
    rng = np.random.default_rng(sum(shape))
    x = _logits(rng, shape, dtype)
    y = rng.integers(0, shape[1], shape[0])
    small = scce(y, x, from_logits=True, return_grad=return_grad, **options)
    monkeypatch.undo()
    general = scce(y, _general(x), from_logits=True, return_grad=return_grad, **options)
    _same(small, general)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (64, 10), (5, 17), (40, 100), (9, 1000)])
@pytest.mark.parametrize("kind", ["soft", "one-hot", "mixed"])
@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("return_grad", [False, True])
def test_categorical_same_bits(
    dtype, shape, kind, options, return_grad, general_path_fails, monkeypatch
):
    rng = np.random.default_rng(sum(shape))
    x = _logits(rng, shape, dtype)
    t = _soft(rng, shape, dtype, kind)
    small = cce(t, x, from_logits=True, return_grad=return_grad, **options)
    monkeypatch.undo()
    general = cce(t, _general(x), from_logits=True, return_grad=return_grad, **options)
    _same(small, general)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 70),
    classes=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    f64=st.booleans(),
    reduction=st.sampled_from(["none", "sum", "mean"]),
    return_grad=st.booleans(),
    special=st.sampled_from(["none", "inf", "-inf", "nan", "huge"]),
)
def test_same_bits_on_special_logits(rows, classes, seed, f64, reduction, return_grad, special):
    """Masked, infinite, NaN and huge logits: whatever the loss is (inf, NaN), both ways agree."""
    rng = np.random.default_rng(seed)
    dtype = np.float64 if f64 else np.float32
    x = _logits(rng, (rows, classes), dtype)
    value = {"none": None, "inf": np.inf, "-inf": -np.inf, "nan": np.nan, "huge": 3e38}[special]
    if value is not None:
        x[rng.random(x.shape) < 0.2] = value
    y = rng.integers(0, classes, rows)
    t = _soft(rng, (rows, classes), dtype, "mixed")
    kw = {"from_logits": True, "reduction": reduction, "return_grad": return_grad}
    with np.errstate(all="ignore"):
        _same(scce(y, x, **kw), scce(y, _general(x), **kw))
        _same(cce(t, x, **kw), cce(t, _general(x), **kw))


def test_int32_labels_and_both_axes(general_path_fails, monkeypatch):
    rng = np.random.default_rng(1)
    x = _logits(rng, (30, 7), np.float32)
    y = rng.integers(0, 7, 30)
    small = [scce(y.astype(np.int32), x, from_logits=True, axis=a) for a in (-1, 1)]
    monkeypatch.undo()
    general = scce(y, _general(x), from_logits=True)
    for s in small:
        _same(s, general)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("return_grad", [False, True])
def test_sparse_batch_shapes_and_id_layouts(dtype, reduction, return_grad, general_path_fails,
                                            monkeypatch):  # fmt: skip
    """Logits of one row (0-d class id), of two batch axes, and class ids that are a strided
    view or big-endian (the latter the general way)."""
    rng = np.random.default_rng(9)
    kw = {"from_logits": True, "reduction": reduction, "return_grad": return_grad}
    one, batch = _logits(rng, (7,), dtype), _logits(rng, (4, 3, 6), dtype)
    y_one, y_batch = np.int64(3), rng.integers(0, 6, (4, 3))
    y_strided = rng.integers(0, 6, (4, 6))[:, ::2].astype(np.int32)
    small = [
        scce(np.asarray(y_one), one, **kw),
        scce(y_batch, batch, **kw),
        scce(y_strided, batch, **kw),
    ]
    with pytest.raises(AssertionError, match="general path ran"):
        scce(y_batch.astype(">i8"), batch, **kw)
    monkeypatch.undo()
    general = [
        scce(np.asarray(y_one), _general(one), **kw),
        scce(y_batch, _general(batch), **kw),
        scce(np.ascontiguousarray(y_strided), _general(batch), **kw),
    ]
    for a, b in zip(small, general, strict=True):
        _same(a, b)
    if reduction == "none":  # one row: a scalar of the logits' type
        loss = small[0][0] if return_grad else small[0]
        assert isinstance(loss, dtype)


def test_sparse_large_gradient_from_the_output_handler(general_path_fails, monkeypatch):
    """A block of few rows of many classes: its gradient of 1 MiB or more comes from the
    output handler, as the general path's does."""
    from xent import _outputs

    handler_name = __import__("numpy._core.multiarray", fromlist=["x"]).get_handler_name
    rng = np.random.default_rng(10)
    x = _logits(rng, (2, _outputs.MIN_BYTES // 8 + 16), np.float32)
    y = rng.integers(0, x.shape[1], 2)
    small = scce(y, x, from_logits=True, return_grad=True)
    assert handler_name(small[1]) == "xent_output_reuse"
    assert small[1].flags.owndata
    monkeypatch.undo()
    _same(small, scce(y, _general(x), from_logits=True, return_grad=True))
    assert handler_name(xent.log_softmax(x, axis=-1)) == "xent_output_reuse"


@pytest.mark.parametrize(
    "make",
    [
        lambda x, y: ({"y_true": y, "y_pred": x, "sample_weight": np.ones(len(y))}),
        lambda x, y: ({"y_true": y, "y_pred": x, "class_weight": np.ones(x.shape[1])}),
        lambda x, y: ({"y_true": y, "y_pred": x, "ignore_index": -100}),
        lambda x, y: ({"y_true": y, "y_pred": np.asfortranarray(x)}),
        lambda x, y: ({"y_true": y, "y_pred": x.astype(">f4")}),
        lambda x, y: ({"y_true": y, "y_pred": x.astype(np.float16)}),
        lambda x, y: ({"y_true": y.astype(np.uint8), "y_pred": x}),
        lambda x, y: ({"y_true": y.astype(np.float64), "y_pred": x}),
        lambda x, y: ({"y_true": list(y), "y_pred": x}),
        lambda x, y: ({"y_true": y[:, None], "y_pred": x[:, :, None], "axis": 1}),
        lambda x, y: ({"y_true": y, "y_pred": x, "label_smoothing": np.float64(0.1)}),
        lambda x, y: ({"y_true": y, "y_pred": x, "reduction": np.str_("sum")}),
    ],
)
def test_other_calls_go_the_general_way(make, general_path_fails):
    rng = np.random.default_rng(2)
    x = _logits(rng, (12, 5), np.float32)
    y = rng.integers(0, 5, 12)
    with pytest.raises(AssertionError, match="general path ran"):
        scce(from_logits=True, **make(x, y))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_more_than_one_block_as_one_job(threads, dtype, general_path_fails, monkeypatch):
    """Calls of several blocks (of 16 rows here), with int64 class ids for the sparse loss:
    jobs in C (`_core._plain_job`, `_core._categorical_job`), the general path's bits on every
    thread count, the options and reductions too, soft, one-hot and mixed targets."""
    rng = np.random.default_rng(3)
    x = _logits(rng, (70, 10), dtype)
    y = rng.integers(0, 10, 70)
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 10 * 16 * np.dtype(dtype).itemsize)
    previous = xent.get_num_threads()
    xent.set_num_threads(threads)
    try:
        cases = [{**o, "return_grad": g} for o in OPTIONS for g in (False, True)]
        small = [scce(y, x, from_logits=True, **kw) for kw in cases]
        calls = [lambda a: xent.logsumexp(a, axis=-1), lambda a: xent.log_softmax(a, axis=-1),
                 lambda a: xent.softmax(a, axis=-1),
                 lambda a: xent.logsumexp(a, axis=1, keepdims=True)]  # fmt: skip
        small_rows = [call(x) for call in calls]
        targets = [_soft(rng, (70, 10), dtype, kind) for kind in ("soft", "one-hot", "mixed")]
        small_cat = [cce(t, x, from_logits=True, **kw) for t in targets for kw in cases]
        with pytest.raises(AssertionError, match="general path ran"):
            scce(y.astype(np.int32), x, from_logits=True)  # ids copied block by block
    finally:
        xent.set_num_threads(previous)
    monkeypatch.undo()
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 10 * 16 * np.dtype(dtype).itemsize)
    for kw, got in zip(cases, small, strict=True):
        _same(got, scce(y, _general(x), from_logits=True, **kw))
    for call, got in zip(calls, small_rows, strict=True):
        _same(got, call(_general(x)))
    general_cat = [cce(t, _general(x), from_logits=True, **kw) for t in targets for kw in cases]
    for got, want in zip(small_cat, general_cat, strict=True):
        _same(got, want)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_more_than_one_block_of_sequences(reduction, general_path_fails, monkeypatch):
    """Batches of sequences (two batch axes) as one job: per-row values and gradients of the
    batch's shapes, the general path's bits."""
    rng = np.random.default_rng(8)
    x = _logits(rng, (5, 14, 10), np.float32)
    y = rng.integers(0, 10, (5, 14))
    t = _soft(rng, (70, 10), np.float32, "mixed").reshape(5, 14, 10)
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 10 * 16 * 4)
    kw = {"from_logits": True, "reduction": reduction, "return_grad": True}
    small = [scce(y, x, **kw), cce(t, x, **kw), xent.logsumexp(x, axis=2, keepdims=True)]
    monkeypatch.undo()
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 10 * 16 * 4)
    general = [scce(y, _general(x), **kw), cce(t, _general(x), **kw),
               xent.logsumexp(_general(x), axis=2, keepdims=True)]  # fmt: skip
    for a, b in zip(small, general, strict=True):
        _same(a, b)
    assert small[2].shape == (5, 14, 1)


def test_more_than_one_block_outputs_from_the_output_handler(general_path_fails):
    """A job's outputs of 1 MiB or more (per-row values too) come from the output handler, as
    the general path's do."""
    from xent import _outputs

    handler_name = __import__("numpy._core.multiarray", fromlist=["x"]).get_handler_name
    rng = np.random.default_rng(6)
    x = _logits(rng, (_outputs.MIN_BYTES // 4 + 16, 2), np.float32)
    y = rng.integers(0, 2, x.shape[0])
    outputs = [
        xent.logsumexp(x, axis=-1),
        xent.softmax(x, axis=-1),
        scce(y, x, from_logits=True, reduction="none"),
        scce(y, x, from_logits=True, return_grad=True)[1],
    ]
    for out in outputs:
        assert handler_name(out) == "xent_output_reuse"


@pytest.mark.parametrize("return_grad", [False, True])
@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda t: t.__setitem__((57, 3), 2.0), "outside"),
        (lambda t: t.__setitem__((57, 3), np.nan), "NaN"),
        (lambda t: t.__setitem__(57, t[57] * 0.5), "sum to 1"),
    ],
)
def test_more_than_one_block_bad_target_gets_the_general_message(spoil, message, return_grad,
                                                                 monkeypatch):  # fmt: skip
    """Targets that fail the job's check in a later block: the general path's error."""
    rng = np.random.default_rng(7)
    x = _logits(rng, (70, 10), np.float32)
    t = _soft(rng, (70, 10), np.float32, "mixed")
    spoil(t)
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 10 * 16 * 4)
    with pytest.raises(ValueError, match=message):
        cce(t, x, from_logits=True, return_grad=return_grad)


@pytest.mark.parametrize("bad", [10, -1, 2**40])
def test_more_than_one_block_bad_id_gets_the_general_message(bad, monkeypatch):
    """An id out of range in any block of a job: the general path's error, which says where."""
    rng = np.random.default_rng(5)
    x = _logits(rng, (70, 10), np.float32)
    y = rng.integers(0, 10, 70)
    y[57] = bad
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 10 * 16 * 4)
    with pytest.raises(ValueError, match=r"class id -?\d+ at index \(?57"):
        scce(y, x, from_logits=True, return_grad=True)


_OUTSIDE = r"class id -?\d+ at index .* outside \[0, 5\)"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x, y, t: scce(y + 5, x, from_logits=True), ValueError, _OUTSIDE),
        (lambda x, y, t: scce(y - 1, x, from_logits=True), ValueError, _OUTSIDE),
        (lambda x, y, t: scce(y, x, from_logits=True, axis=True), TypeError, "axis must be"),
        (lambda x, y, t: scce(y, x, from_logits=True, reduction="avg"), ValueError, "reduction"),
        (
            lambda x, y, t: scce(y, x, from_logits=True, label_smoothing=True),
            TypeError,
            "label_smoothing must be a real",
        ),
        (
            lambda x, y, t: scce(y, x, from_logits=True, label_smoothing=1.5),
            ValueError,
            "label_smoothing must be in",
        ),
        (
            lambda x, y, t: scce(y, x, from_logits=True, z_loss=10**400),
            ValueError,
            "z_loss must be finite",
        ),
        (
            lambda x, y, t: scce(y, x, from_logits=True, focal_gamma=float("nan")),
            ValueError,
            "focal_gamma must be finite",
        ),
        (lambda x, y, t: scce(y[:-1], x, from_logits=True), ValueError, "shape"),
        (lambda x, y, t: cce(t * 2, x, from_logits=True), ValueError, "outside"),
        (lambda x, y, t: cce(t * 0.5, x, from_logits=True), ValueError, "sum to 1"),
        (
            lambda x, y, t: cce(t * 0.5, x, from_logits=True, return_grad=True),
            ValueError,
            "sum to 1",
        ),
        (lambda x, y, t: cce(t - 0.5, x, from_logits=True), ValueError, "outside"),
        (lambda x, y, t: cce(t[:-1], x, from_logits=True), ValueError, "shape"),
    ],
)
def test_bad_input_gets_the_general_message(call, error, message):
    rng = np.random.default_rng(4)
    x = _logits(rng, (12, 5), np.float32)
    y = rng.integers(0, 5, 12)
    t = _soft(rng, (12, 5), np.float32, "soft")
    with pytest.raises(error, match=message):
        call(x, y, t)


def test_nan_target_gets_the_general_message():
    rng = np.random.default_rng(5)
    x = _logits(rng, (12, 5), np.float64)
    t = _soft(rng, (12, 5), np.float64, "soft")
    t[3, 2] = np.nan
    for return_grad in (False, True):
        with pytest.raises(ValueError, match="NaN"):
            cce(t, x, from_logits=True, return_grad=return_grad)


def test_inputs_untouched_and_outputs_fresh():
    rng = np.random.default_rng(6)
    x = _logits(rng, (20, 6), np.float32)
    y = rng.integers(0, 6, 20)
    t = _soft(rng, (20, 6), np.float32, "soft")
    before = [a.copy() for a in (x, y, t)]
    for red, eps in itertools.product(["none", "mean"], [0.0, 0.2]):
        _, g1 = scce(y, x, from_logits=True, return_grad=True, reduction=red, label_smoothing=eps)
        _, g2 = cce(t, x, from_logits=True, return_grad=True, reduction=red, label_smoothing=eps)
        assert not np.shares_memory(g1, x)
        assert not np.shares_memory(g2, x)
    for a, b in zip((x, y, t), before, strict=True):
        np.testing.assert_array_equal(a, b)


BINARY_OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.1},
    {"focal_gamma": 2.0},
    {"focal_gamma": 0.5, "focal_alpha": 0.25},
    {"focal_alpha": 1, "label_smoothing": 1, "reduction": "sum"},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (1,), (1000,), (7, 3), (2, 3, 5)])
@pytest.mark.parametrize("options", BINARY_OPTIONS, ids=str)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("return_grad", [False, True])
def test_binary_same_bits(
    dtype, label_dtype, shape, options, from_logits, return_grad, general_path_fails,
    monkeypatch,
):  # fmt: skip
    rng = np.random.default_rng(7)
    x = np.asarray(_logits(rng, shape, dtype) if from_logits else rng.random(shape), dtype)
    y = np.asarray(rng.random(shape), label_dtype)
    y[y < 0.3] = 0
    kw = {"from_logits": from_logits, "return_grad": return_grad, **options}
    with np.errstate(divide="ignore"):
        small = bce(y, x, **kw)
        monkeypatch.undo()
        general = bce(y, _general(np.asarray(x)), **kw)
    _same(small, general)


@pytest.mark.parametrize(
    "make",
    [
        lambda x, y: {"y_true": y, "y_pred": x, "sample_weight": np.ones(len(y))},
        lambda x, y: {"y_true": y, "y_pred": x, "pos_weight": 2.0},
        lambda x, y: {"y_true": y.astype(np.float16), "y_pred": x},
        lambda x, y: {"y_true": y.astype(np.int64), "y_pred": x},
        lambda x, y: {"y_true": y, "y_pred": x[::-1]},
        lambda x, y: {"y_true": list(y), "y_pred": x},
        lambda x, y: {"y_true": y, "y_pred": x, "focal_alpha": np.float64(0.5)},
    ],
)
def test_binary_other_calls_go_the_general_way(make, general_path_fails):
    rng = np.random.default_rng(8)
    x = _logits(rng, (12,), np.float32)
    y = rng.integers(0, 2, 12).astype(np.float32)
    with pytest.raises(AssertionError, match="general path ran"):
        bce(from_logits=True, **make(x, y))


def test_binary_more_than_one_tile_goes_the_general_way(general_path_fails, monkeypatch):
    x = np.zeros(100, np.float32)
    bce(x, x, from_logits=True)
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 64)  # tiles of 32 elements
    with pytest.raises(AssertionError, match="general path ran"):
        bce(x, x, from_logits=True)
    # rows of 8: four rows are one tile, five are two; a row of 40 is two
    bce(x[:32].reshape(4, 8), x[:32].reshape(4, 8), from_logits=True)
    for shape in ((5, 8), (1, 40)):
        with pytest.raises(AssertionError, match="general path ran"):
            bce(x[:40].reshape(shape), x[:40].reshape(shape), from_logits=True)


@pytest.mark.parametrize(
    ("y", "p", "from_logits", "message"),
    [
        ([0.0, 2.0], [0.5, 0.5], False, "y_true"),
        ([0.0, np.nan], [0.5, 0.5], True, "y_true"),
        ([0.0, 1.0], [0.5, 1.5], False, r"y_pred .*from_logits=True"),
        ([0.0, 1.0], [-0.5, 0.5], False, "y_pred"),
    ],
)
def test_binary_bad_input_gets_the_general_message(y, p, from_logits, message):
    for dtype in (np.float32, np.float64):
        with pytest.raises(ValueError, match=message):
            bce(np.array(y, dtype), np.array(p, dtype), from_logits=from_logits)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 4, 10), (2, 3, 100), (1, 1, 1)])
@pytest.mark.parametrize("return_grad", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_losses_of_batches_of_sequences(
    dtype, shape, return_grad, reduction, general_path_fails, monkeypatch
):
    """Logits of three axes (batch, position, class) and ids or targets of their shape."""
    rng = np.random.default_rng(9)
    x = _logits(rng, shape, dtype)
    y = rng.integers(0, shape[-1], shape[:-1])
    t = _soft(rng, (x.size // shape[-1], shape[-1]), dtype, "mixed").reshape(shape)
    kw = {"from_logits": True, "return_grad": return_grad, "reduction": reduction}
    small = scce(y, x, **kw), cce(t, x, **kw), scce(y[..., None], x[..., None, :], **kw)
    monkeypatch.undo()
    _same(small[0], scce(y, _general(x), **kw))
    _same(small[1], cce(t, _general(x), **kw))
    _same(small[2], scce(y[..., None], _general(x[..., None, :]), **kw))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7,), (64, 10), (3, 5, 17), (9, 1000), (2, 1, 1)])
@pytest.mark.parametrize("special", ["none", "inf", "-inf", "nan", "huge"])
def test_primitives_same_bits(dtype, shape, special, general_path_fails, monkeypatch):
    rng = np.random.default_rng(10)
    x = np.asarray(_logits(rng, shape, dtype))
    value = {"none": None, "inf": np.inf, "-inf": -np.inf, "nan": np.nan, "huge": 3e38}[special]
    if value is not None:
        x[rng.random(shape) < 0.3] = value
    calls = [
        lambda a, ax: xent.logsumexp(a, axis=ax),
        lambda a, ax: xent.logsumexp(a, axis=ax, keepdims=True),
        lambda a, ax: xent.log_softmax(a, axis=ax),
        lambda a, ax: xent.softmax(a, axis=ax),
    ]
    with np.errstate(all="ignore"):
        small = [call(x, ax) for call in calls for ax in (-1, len(shape) - 1)]
        monkeypatch.undo()
        general = [call(_general(x), ax) for call in calls for ax in (-1, len(shape) - 1)]
    for a, b in zip(small, general, strict=True):
        _same(a, b)


@pytest.mark.parametrize(
    ("a", "axis"),
    [
        (np.zeros((4, 3), np.float16), -1),
        (np.zeros((4, 3), ">f8"), -1),
        (np.zeros((4, 3), np.int64), -1),
        (np.zeros((3, 4), np.float32).T, -1),
        (np.zeros((4, 3), np.float32), 0),
        (np.zeros((4, 3), np.float32), np.int64(-1)),
        (np.zeros((4, 0), np.float32), -1),
        (np.zeros((0, 3), np.float32), -1),
        (np.float32(1.0), -1),
        ([[0.0, 1.0]], -1),
    ],
)
def test_primitives_other_calls_go_the_general_way(a, axis, general_path_fails):
    for f in (xent.logsumexp, xent.log_softmax, xent.softmax):
        with pytest.raises(AssertionError, match="general path ran"):
            f(a, axis=axis)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (64, 10), (3, 5, 17), (9, 1000)])
@pytest.mark.parametrize("temperature", [1.0, 2, 0.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("return_grad", [False, True])
def test_kl_same_bits(
    dtype, shape, temperature, reduction, return_grad, general_path_fails, monkeypatch
):
    rng = np.random.default_rng(11)
    s = np.asarray(_logits(rng, shape, dtype))
    t = (s + rng.standard_normal(shape)).astype(dtype)
    t[..., 0] = -np.inf  # masked on the teacher's side
    kw = {
        "from_logits": True, "target_from_logits": True, "temperature": temperature,
        "reduction": reduction, "return_grad": return_grad,
    }  # fmt: skip
    small = xent.kl_divergence(t, s, **kw)
    monkeypatch.undo()
    _same(small, xent.kl_divergence(t, _general(s), **kw))


@pytest.mark.parametrize(
    "kw",
    [
        {"from_logits": False, "target_from_logits": True},
        {"sample_weight": np.ones(4)},
        {"temperature": np.float64(2.0)},
        {"temperature": 0.0},
        {"axis": 0},
    ],
    ids=str,
)
def test_kl_other_calls_go_the_general_way(kw, general_path_fails):
    x = np.full((4, 3), 1 / 3)
    kw = {"from_logits": True, "target_from_logits": True, **kw}
    with pytest.raises((AssertionError, ValueError), match=r"general path ran|temperature"):
        xent.kl_divergence(x, x, **kw)


def test_kl_nan_target_logit_gets_the_general_message():
    t = np.zeros((4, 3), np.float32)
    t[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        xent.kl_divergence(
            t, np.zeros((4, 3), np.float32), from_logits=True, target_from_logits=True
        )
