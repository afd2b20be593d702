"""xent.dask: the in-memory functions over chunks of Dask arrays.

Oracle: the in-memory xent function on the same NumPy data. Per-row losses and the gradients
of "none" and "sum" must match it bit for bit; reduced scalars and the mean's gradient within
summation-order rounding (float64 partial sums added in another order, and for float32 input
the chunks' sums arrive rounded to float32). Every case runs on the threaded scheduler and on
a real ``distributed.LocalCluster`` with two worker processes.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

import xent  # noqa: E402
import xent.dask as xd  # noqa: E402

SEED = 20261129
REDUCTIONS = ("none", "sum", "mean")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each: started once for the module (a few seconds)."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
        ) as lc,
        distributed.Client(lc, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture
def scheduler(request):
    """What ``dask.compute`` runs on: the threaded scheduler, or the LocalCluster's client.

    Tasks cost milliseconds each on the cluster, so the full option matrices run on threads
    and one rich set of options per function (``ON_CLUSTER``) on the cluster too.
    """
    if request.param == "threads":
        return "threads"
    return request.getfixturevalue("cluster")


def on_both(name, values):
    """Parameters ``(option set, scheduler)``: every set on threads, one on the cluster."""
    cases = [pytest.param(v, "threads", id=f"threads-{k}") for k, v in values.items()]
    return [*cases, pytest.param(values[name], "cluster", id=f"cluster-{name}")]


BOTH = pytest.mark.parametrize("scheduler", ["threads", "cluster"], indirect=True)


def _rng(salt=0):
    return np.random.default_rng([SEED, salt])


def _tol(dtype):
    """Relative tolerance of a reduced value: float64 summation order; float32 partial sums
    rounded once each, plus the final rounding."""
    return 1e-13 if np.dtype(dtype) == np.float64 else 4 * float(np.finfo(np.float32).eps)


def _check(lazy_list, expected_list, kinds, scheduler):
    """Compute all lazy results in one graph and compare each with the in-memory result.

    ``kinds``: "exact" (bit for bit), "scalar" (a reduced value) or "grad" (the mean's
    gradient: in memory the kernel scales before rounding, here the gradient of the sum is
    divided afterwards; entries that are differences of larger terms carry an error relative
    to those terms, so 8 eps of the array's largest entry are allowed besides).
    """
    got = dask.compute(*lazy_list, scheduler=scheduler)
    for g, e, kind in zip(got, expected_list, kinds, strict=True):
        e = np.asarray(e)
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        assert g.shape == e.shape
        if kind == "exact":
            np.testing.assert_array_equal(g, e, strict=True)
        else:
            top = float(np.max(np.abs(e), initial=0.0)) if kind == "grad" else 0.0
            atol = 8 * float(np.finfo(e.dtype).eps) * top
            np.testing.assert_allclose(g, e, rtol=_tol(e.dtype), atol=atol)


def _kinds(reduction):
    """The comparison of (loss, grad) for a reduction."""
    return [
        "exact" if reduction == "none" else "scalar",
        "grad" if reduction == "mean" else "exact",
    ]


def _graphs(fn_mem, fn_lazy, args_mem, args_lazy, options, lazy_options=None):
    """Every reduction, with and without the gradient, of one set of options: the lazy
    results, the in-memory ones and how to compare them."""
    lazy_options = options if lazy_options is None else lazy_options
    lazies, expected, kinds = [], [], []
    for red in REDUCTIONS:
        loss, grad = fn_mem(*args_mem, reduction=red, return_grad=True, **options)
        lazy_loss, lazy_grad = fn_lazy(*args_lazy, reduction=red, return_grad=True, **lazy_options)
        only = fn_lazy(*args_lazy, reduction=red, **lazy_options)
        assert lazy_grad.chunks[0] == args_lazy[1].chunks[0]  # rows chunked like y_pred's
        assert lazy_loss.shape == np.shape(loss)
        lazies += [lazy_loss, lazy_grad, only]
        expected += [loss, grad, loss]
        kinds += [*_kinds(red), _kinds(red)[0]]
    return lazies, expected, kinds


VARIANTS = [(np.float64, True), (np.float32, True), (np.float64, False), (np.float32, False)]


def _run_variants(make, scheduler):
    """``make(dtype, from_logits)`` gives one ``_graphs`` triple; all run in one compute (two
    of the variants on the cluster: float32 logits and float64 probabilities)."""
    lazies, expected, kinds = [], [], []
    for dtype, from_logits in VARIANTS if scheduler == "threads" else VARIANTS[1:3]:
        lz, ex, kd = make(dtype, from_logits)
        lazies += lz
        expected += ex
        kinds += kd
    _check(lazies, expected, kinds, scheduler)


# ------------------------------------------------------------------ sparse


def _sparse_data(dtype, from_logits, salt, shape=(53, 7)):
    rng = _rng(salt)
    x = rng.normal(scale=4.0, size=shape).astype(dtype)
    if not from_logits:
        x = xent.softmax(x.astype(np.float64)).astype(dtype)
    y = rng.integers(0, shape[-1], size=shape[:-1])
    return x, y


SPARSE_OPTIONS = {
    "plain": {},
    "smoothing": {"label_smoothing": 0.15},
    "class-weight": {"class_weight": np.arange(1.0, 8.0)},
    "ignore": {"ignore_index": 3},
    "sample-weight": {"sample_weight": "dask"},
    "all": {
        "class_weight": np.linspace(0.5, 2.0, 7),
        "ignore_index": 0,
        "label_smoothing": 0.1,
        "sample_weight": "numpy",
    },
}


@pytest.mark.parametrize(
    ("opts", "scheduler"), on_both("all", SPARSE_OPTIONS), indirect=["scheduler"]
)
def test_sparse_matches_in_memory(opts, scheduler):
    def make(dtype, from_logits):
        x, y = _sparse_data(dtype, from_logits, 1)
        options = {"from_logits": from_logits, **opts}
        xl = da.from_array(x, chunks=((20, 1, 32), (7,)))  # uneven row chunks
        yl = da.from_array(y, chunks=17)  # chunked differently from x's rows
        lazy_options = options
        sw = options.get("sample_weight")
        if sw is not None:
            w = _rng(2).uniform(0, 3, size=y.shape)
            options["sample_weight"] = w
            lazy_w = da.from_array(w, chunks=9) if sw == "dask" else w
            lazy_options = {**options, "sample_weight": lazy_w}
        return _graphs(
            xent.sparse_categorical_cross_entropy,
            xd.sparse_categorical_cross_entropy,
            (y, x),
            (yl, xl),
            options,
            lazy_options,
        )

    _run_variants(make, scheduler)


@BOTH
def test_sparse_class_axis_not_last_and_split(scheduler):
    """Class axis in the middle, chunked over it (rechunked whole), rows chunked unevenly."""
    x = _rng(3).normal(scale=3.0, size=(5, 9, 6))
    y = _rng(4).integers(0, 9, size=(5, 6))
    xl = da.from_array(x, chunks=((2, 3), (4, 5), (1, 5)))
    options = {"from_logits": True, "axis": 1, "class_weight": np.arange(9.0)}
    lazies, expected, kinds = _graphs(
        xent.sparse_categorical_cross_entropy,
        xd.sparse_categorical_cross_entropy,
        (y, x),
        (y, xl),
        {**options, "label_smoothing": 0.2},
    )
    _check(lazies, expected, kinds, scheduler)
    _, grad = xd.sparse_categorical_cross_entropy(y, xl, return_grad=True, **options)
    assert grad.chunks == ((2, 3), (9,), (1, 5))


@pytest.mark.parametrize("scheduler", ["threads"], indirect=True)
def test_sparse_mean_over_zero_weight_is_zero(scheduler):
    x, y = _sparse_data(np.float64, True, 5, shape=(12, 4))
    y[:] = 2
    xl = da.from_array(x, chunks=5)
    loss, grad = xd.sparse_categorical_cross_entropy(
        y, xl, from_logits=True, ignore_index=2, return_grad=True
    )
    mem_loss, mem_grad = xent.sparse_categorical_cross_entropy(
        y, x, from_logits=True, ignore_index=2, return_grad=True
    )
    _check([loss, grad], [mem_loss, mem_grad], ["exact", "exact"], scheduler)
    assert float(mem_loss) == 0.0


# ------------------------------------------------------------------ categorical


CATEGORICAL_OPTIONS = {
    "plain": {},
    "smoothing": {"label_smoothing": 0.3},
    "class-weight": {"class_weight": np.array([0.0, 1.0, 2.0, 0.5, 3.0])},
    "sample-weight": {"sample_weight": np.linspace(0.0, 2.0, 41)},
    "all": {
        "label_smoothing": 0.1,
        "class_weight": np.array([0.0, 1.0, 2.0, 0.5, 3.0]),
        "sample_weight": np.linspace(0.0, 2.0, 41),
    },
}


@pytest.mark.parametrize(
    ("opts", "scheduler"), on_both("all", CATEGORICAL_OPTIONS), indirect=["scheduler"]
)
def test_categorical_matches_in_memory(opts, scheduler):
    def make(dtype, from_logits):
        rng = _rng(6)
        x = rng.normal(scale=3.0, size=(41, 5))
        t = xent.softmax(rng.normal(size=(41, 5)))  # soft targets, rows sum to 1
        t[::3] = np.eye(5)[rng.integers(0, 5, size=14)]  # and one-hot ones
        if not from_logits:
            x = xent.softmax(x)
        x = x.astype(dtype)
        xl = da.from_array(x, chunks=((10, 13, 18), (2, 3)))  # the class axis split too
        tl = da.from_array(t, chunks=7)
        return _graphs(
            xent.categorical_cross_entropy,
            xd.categorical_cross_entropy,
            (t, x),
            (tl, xl),
            {"from_logits": from_logits, **opts},
        )

    _run_variants(make, scheduler)


KL_OPTIONS = {
    "logits": {"from_logits": True, "target_from_logits": True, "temperature": 2.0},
    "probs-logits": {"from_logits": True},
    "logits-probs": {"target_from_logits": True},
    "probs": {},
    "sample-weight": {
        "from_logits": True,
        "target_from_logits": True,
        "sample_weight": np.linspace(0.0, 2.0, 41),
    },
}


@pytest.mark.parametrize(
    ("opts", "scheduler"), on_both("logits", KL_OPTIONS), indirect=["scheduler"]
)
def test_kl_matches_in_memory(opts, scheduler):
    def make(dtype, _):
        rng = _rng(8)
        t = rng.normal(scale=3.0, size=(41, 5))
        x = t + rng.normal(scale=0.5, size=(41, 5))
        if not opts.get("target_from_logits", False):
            t = xent.softmax(t)
        if not opts.get("from_logits", False):
            x = xent.softmax(x)
        t, x = t.astype(dtype), x.astype(dtype)
        xl = da.from_array(x, chunks=((10, 13, 18), (2, 3)))  # the class axis split too
        tl = da.from_array(t, chunks=7)
        return _graphs(xent.kl_divergence, xd.kl_divergence, (t, x), (tl, xl), opts)

    _run_variants(make, scheduler)


FAMILY_OPTIONS = {
    "z-loss": {"z_loss": 1e-2, "class_weight": np.linspace(0.5, 2.0, 7)},
    "focal": {"focal_gamma": 2.0, "sample_weight": "numpy"},
    "focal-smoothed": {"focal_gamma": 1.5, "label_smoothing": 0.1, "z_loss": 1e-3},
}


@pytest.mark.parametrize(
    ("opts", "scheduler"), on_both("focal", FAMILY_OPTIONS), indirect=["scheduler"]
)
def test_z_loss_and_focal_match_in_memory(opts, scheduler):
    """The options defined on logits, sparse and categorical (a mean's z-loss is scaled with
    the class weights, as in memory)."""
    lazies, expected, kinds = [], [], []
    for dtype in (np.float64, np.float32):
        x, y = _sparse_data(dtype, True, 5)
        xl = da.from_array(x, chunks=((20, 1, 32), (7,)))
        options = {"from_logits": True, **opts}
        if options.get("sample_weight") == "numpy":
            options["sample_weight"] = _rng(6).uniform(0, 3, size=y.shape)
        for fn_mem, fn_lazy, y_mem in (
            (xent.sparse_categorical_cross_entropy, xd.sparse_categorical_cross_entropy, y),
            (xent.categorical_cross_entropy, xd.categorical_cross_entropy, np.eye(7)[y]),
        ):
            yl = da.from_array(y_mem, chunks=17 if y_mem.ndim == 1 else (17, 7))
            lz, ex, kd = _graphs(fn_mem, fn_lazy, (y_mem, x), (yl, xl), options)
            lazies += lz
            expected += ex
            kinds += kd
    _check(lazies, expected, kinds, scheduler)


# ------------------------------------------------------------------ binary


BINARY_OPTIONS = {
    "plain": {},
    "smoothing": {"label_smoothing": 0.2},
    "pos-weight": {"pos_weight": np.array([0.5, 1.0, 2.0, 4.0, 1.5, 3.0])},
    "pos-weight-scalar": {"pos_weight": 2.5},
    "pos-weight-rows": {"pos_weight": np.linspace(0.5, 2.0, 29)[:, None]},
    "pos-weight-full": {"pos_weight": np.linspace(0.1, 3.0, 29 * 6).reshape(29, 6)},
    "focal": {"focal_gamma": 2.0, "focal_alpha": 0.25},
    "sample-weight-rows": {"sample_weight": np.linspace(0.0, 1.0, 29)[:, None]},
    "sample-weight-cols": {"sample_weight": np.arange(6.0)},
    "all": {
        "label_smoothing": 0.05,
        "pos_weight": np.array([0.5, 1.0, 2.0, 4.0, 1.5, 3.0]),
        "sample_weight": np.linspace(0.0, 1.0, 29)[:, None],
    },
}


@pytest.mark.parametrize(
    ("opts", "scheduler"), on_both("all", BINARY_OPTIONS), indirect=["scheduler"]
)
def test_binary_matches_in_memory(opts, scheduler):
    def make(dtype, from_logits):
        rng = _rng(7)
        x = rng.normal(scale=5.0, size=(29, 6))
        y = rng.uniform(size=(29, 6))
        y[::2] = np.round(y[::2])
        if not from_logits:
            x = 1.0 / (1.0 + np.exp(-x))
        x = x.astype(dtype)
        xl = da.from_array(x, chunks=((4, 20, 5), (1, 3, 2)))  # both axes chunked unevenly
        return _graphs(
            xent.binary_cross_entropy,
            xd.binary_cross_entropy,
            (y, x),
            (da.from_array(y, chunks=(8, 6)), xl),
            {"from_logits": from_logits, **opts},
        )

    _run_variants(make, scheduler)


def test_binary_scalar_input():
    loss = xd.binary_cross_entropy(1.0, da.from_array(np.float64(3.0)), from_logits=True)
    assert loss.shape == ()
    assert loss.compute() == xent.binary_cross_entropy(1.0, 3.0, from_logits=True)


# ------------------------------------------------------------------ primitives


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@BOTH
def test_primitives_match_in_memory_bit_for_bit(dtype, scheduler):
    a = _rng(8).normal(scale=20.0, size=(31, 6, 4)).astype(dtype)
    a[3, 2, 1] = -np.inf
    al = da.from_array(a, chunks=((9, 22), (4, 2), (3, 1)))  # every axis split
    cases = [
        (xd.logsumexp(al), xent.logsumexp(a)),
        (xd.logsumexp(al, axis=1, keepdims=True), xent.logsumexp(a, axis=1, keepdims=True)),
        (xd.logsumexp(al, axis=0), xent.logsumexp(a, axis=0)),
        (xd.log_softmax(al, axis=1), xent.log_softmax(a, axis=1)),
        (xd.softmax(al), xent.softmax(a)),
        (xd.softmax(al, axis=-3), xent.softmax(a, axis=-3)),
        (xd.softplus(al), xent.softplus(a)),
        (xd.log_sigmoid(al), xent.log_sigmoid(a)),
    ]
    lazies, expected = zip(*cases, strict=True)
    _check(list(lazies), list(expected), ["exact"] * len(cases), scheduler)
    assert cases[4][0].chunks == ((9, 22), (4, 2), (4,))
    assert cases[6][0].chunks == al.chunks


def test_integer_input_gives_float64():
    a = np.arange(12).reshape(3, 4)
    out = xd.log_softmax(da.from_array(a, chunks=2))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.compute(), xent.log_softmax(a), strict=True)


# ------------------------------------------------------------------ errors


def _message(call):
    with pytest.raises(ValueError, match=r".") as info:
        call()
    return str(info.value)


# (in-memory call, lazy call): a bad value in the third chunk; the messages must be equal.
_bad_ids = np.array([0, 1, 2, 1, 0, 2, 1, 9, 0, 1])
_probs = np.full((10, 3), 1 / 3)
_probs_bad = _probs.copy()
_probs_bad[6, 1] = 1.5
_rows_bad = _probs.copy()
_rows_bad[8] = [0.5, 0.2, 0.2]
_logits = _rng(9).normal(size=(10, 3))
_w_bad = np.ones(10)
_w_bad[5] = -2.0
_y_bin = np.zeros((10, 3))
_y_bin_bad = _y_bin.copy()
_y_bin_bad[4, 2] = -0.5


def _lz(a, rows=3):
    return da.from_array(a, chunks=(rows, *a.shape[1:]))


COMPUTE_ERRORS = {
    "class-id": (
        lambda: xent.sparse_categorical_cross_entropy(_bad_ids, _logits, from_logits=True),
        lambda: xd.sparse_categorical_cross_entropy(_lz(_bad_ids), _lz(_logits), from_logits=True),
    ),
    "class-id-middle-axis": (
        lambda: xent.sparse_categorical_cross_entropy(
            _bad_ids.reshape(2, 5),
            _logits.T.reshape(3, 2, 5).transpose(1, 0, 2),
            axis=1,
            from_logits=True,
        ),
        lambda: xd.sparse_categorical_cross_entropy(
            da.from_array(_bad_ids.reshape(2, 5), chunks=(1, 2)),
            da.from_array(_logits.T.reshape(3, 2, 5).transpose(1, 0, 2), chunks=(1, 3, 2)),
            axis=1,
            from_logits=True,
        ),
    ),
    "probability": (
        lambda: xent.sparse_categorical_cross_entropy(_bad_ids % 3, _probs_bad),
        lambda: xd.sparse_categorical_cross_entropy(_lz(_bad_ids % 3), _lz(_probs_bad)),
    ),
    "row-sum": (
        lambda: xent.categorical_cross_entropy(_probs, _rows_bad, reduction="none"),
        lambda: xd.categorical_cross_entropy(_lz(_probs), _lz(_rows_bad), reduction="none"),
    ),
    "sample-weight": (
        lambda: xent.sparse_categorical_cross_entropy(
            _bad_ids % 3, _logits, from_logits=True, sample_weight=_w_bad
        ),
        lambda: xd.sparse_categorical_cross_entropy(
            _lz(_bad_ids % 3), _lz(_logits), from_logits=True, sample_weight=_lz(_w_bad, 4)
        ),
    ),
    "binary-label": (
        lambda: xent.binary_cross_entropy(_y_bin_bad, _logits, from_logits=True, return_grad=True),
        lambda: xd.binary_cross_entropy(
            da.from_array(_y_bin_bad, chunks=(3, 2)),
            _lz(_logits),
            from_logits=True,
            return_grad=True,
        )[1],
    ),
}


@pytest.mark.parametrize(
    ("calls", "scheduler"), on_both("probability", COMPUTE_ERRORS), indirect=["scheduler"]
)
def test_compute_time_errors_name_the_global_index(calls, scheduler):
    in_memory, lazy = calls
    expected = _message(in_memory)
    graph = lazy()  # builds without error: the values are only read at compute time
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        dask.compute(graph, scheduler=scheduler)


_x2 = np.zeros((4, 3))
BUILD_ERRORS = {
    "reduction": (lambda m: m.sparse_categorical_cross_entropy([0, 1, 2, 0], _x2, reduction="avg")),
    "axis": lambda m: m.softmax(_x2, axis=2),
    "batch-shape": lambda m: m.sparse_categorical_cross_entropy([0, 1, 2], _x2),
    "same-shape": lambda m: m.categorical_cross_entropy(np.zeros((4, 2)), _x2),
    "class-weight": lambda m: m.categorical_cross_entropy(_x2, _x2, class_weight=[1.0, 2.0]),
    "class-weight-value": (
        lambda m: m.sparse_categorical_cross_entropy([0] * 4, _x2, class_weight=[1.0, -1, 0])
    ),
    "sample-weight-shape": (
        lambda m: m.sparse_categorical_cross_entropy([0] * 4, _x2, sample_weight=np.ones(3))
    ),
    "sample-weight-value": (
        lambda m: m.binary_cross_entropy(_x2, _x2, sample_weight=[1.0, np.nan, 1.0])
    ),
    "pos-weight": lambda m: m.binary_cross_entropy(_x2, _x2, pos_weight=[1.0, 2.0]),
    "smoothing": lambda m: m.binary_cross_entropy(_x2, _x2, label_smoothing=1.5),
    "no-classes": lambda m: m.sparse_categorical_cross_entropy([0] * 4, np.zeros((4, 0))),
    "kl-same-shape": lambda m: m.kl_divergence(np.zeros((4, 2)), _x2),
    "kl-temperature": lambda m: m.kl_divergence(_x2, _x2, temperature=2.0),
    "kl-sample-weight": lambda m: m.kl_divergence(_x2, _x2, sample_weight=np.ones(3)),
}


@pytest.mark.parametrize("call", BUILD_ERRORS.values(), ids=BUILD_ERRORS.keys())
def test_build_time_errors_match_in_memory(call):
    expected = _message(lambda: call(xent))
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        call(xd)


def test_type_errors_match_in_memory():
    bad = np.zeros((4, 3), dtype=complex)
    with pytest.raises(TypeError, match=r"^y_pred must be a real numeric array; got dtype"):
        xd.binary_cross_entropy(np.zeros((4, 3)), da.from_array(bad))
    with pytest.raises(TypeError, match=r"^a must be a real numeric array; got dtype"):
        xd.softmax(da.from_array(bad))
    with pytest.raises(TypeError, match=r"^y_true must hold integer class ids; got dtype bool"):
        xd.sparse_categorical_cross_entropy(da.zeros(4, dtype=bool), _x2)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_threads_must_be_positive(threads):
    with pytest.raises(ValueError, match=r"^threads must be a positive integer; got "):
        xd.softmax(_x2, threads=threads)


# ------------------------------------------------------------------ threads, imports, memory


@pytest.mark.parametrize(("threads", "expected"), [(None, 1), (2, 2)])
def test_each_chunk_uses_one_xent_thread_by_default(threads, expected, monkeypatch):
    seen = []

    def recording_softplus(a):
        seen.append(xent.get_num_threads())
        return xent.softplus(a)

    monkeypatch.setattr(xd, "_softplus", recording_softplus)
    xent.set_num_threads(4)
    try:
        kw = {} if threads is None else {"threads": threads}
        x = da.from_array(np.arange(10.0), chunks=3)
        xd.softplus(x, **kw).compute(scheduler="threads")
        assert xent.get_num_threads() == 4  # the limit is only inside the chunks
    finally:
        xent.set_num_threads(None)
    assert seen == [expected] * 4


def test_importing_xent_does_not_import_dask():
    code = "import sys, xent; print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak_rss():
    """Reset the worker's peak RSS to its current RSS (Linux >= 4.0): a worker process starts
    with its parent's peak, which says nothing of the worker's own."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_bytes("VmRSS")


def _peak_rss():
    return _status_bytes("VmHWM")


def test_worker_memory_stays_bounded(cluster):
    """192 MiB of lazily generated float32 logits in 4 MiB chunks: no worker's peak RSS grows
    by more than a handful of chunks."""
    rows, classes, chunk_rows = 48 << 10, 1024, 1024
    chunk_bytes = chunk_rows * classes * 4
    rng = da.random.default_rng(SEED)
    logits = rng.standard_normal((rows, classes), chunks=(chunk_rows, classes), dtype=np.float32)
    labels = rng.integers(0, classes, size=rows, chunks=chunk_rows)
    try:
        before = cluster.run(_reset_peak_rss)
    except OSError as err:  # no /proc/self/clear_refs: the peak cannot be isolated
        pytest.skip(f"cannot reset a worker's peak RSS: {err}")
    loss = xd.sparse_categorical_cross_entropy(labels, logits, from_logits=True)
    value = float(loss.compute(scheduler=cluster))
    after = cluster.run(_peak_rss)
    growth = {w: after[w] - before[w] for w in after}
    assert logits.nbytes == 48 * chunk_bytes
    print("peak RSS growth per worker (MiB):", {w: g / 2**20 for w, g in growth.items()})
    assert all(g < 8 * chunk_bytes for g in growth.values()), growth
    # Standard normal logits: E[logsumexp] - E[x_y] is about log C + 1/2.
    assert abs(value - (np.log(classes) + 0.5)) < 0.05
