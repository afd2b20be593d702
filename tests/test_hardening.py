"""Hostile and edge input: every defect class found by trying xent as a careless user would.

* long last axes (more than one engine tile) with every option;
* threads: the thread count raised while calls run; a forked child after a threaded call;
* NaN where a label, a target probability or a weight belongs;
* empty batches with the class axis anywhere, every reduction, with and without gradients;
* options of the wrong type, ragged lists, masked arrays and matrices, float class ids beyond
  float precision, results that overflow their dtype;
* the campaign: generated bad and edge calls to every public function, each of which must
  return a result that agrees with a float64 reference (on safe inputs) or raise a
  ValueError/TypeError naming an argument, without a warning and without touching its input;
* more than 2**31 elements (slow: ``XENT_SLOW_TESTS=1``).

``XENT_CAMPAIGN_EXAMPLES`` sets the campaign's number of examples (default 150) and, when set,
prints the outcome counts per function.
"""

from __future__ import annotations

import collections
import math
import multiprocessing
import os
import re
import tempfile
import threading
import time
import warnings

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xent
from tests._reference import as_bits
from xent import _categorical, _engine, _softmax

bce = xent.binary_cross_entropy
cce = xent.categorical_cross_entropy
scce = xent.sparse_categorical_cross_entropy

REDUCTIONS = ["none", "sum", "mean"]


@pytest.fixture
def restore_threads():
    yield
    xent.set_num_threads(None)


# ------------------------------------------------------------------ float64 references
def _log_p(x, from_logits):
    """log p along the last axis, float64, from logits or probabilities (moderate values)."""
    x = np.asarray(x, dtype=np.float64)
    if from_logits:
        return sp.log_softmax(x, axis=-1), sp.softmax(x, axis=-1)
    with np.errstate(divide="ignore"):
        return np.log(x), x


def _reduce(weighted, total, reduction):
    if reduction == "none":
        return weighted
    s = np.sum(weighted)
    if reduction == "sum":
        return s
    return s / total if total > 0 else 0.0


def ref_softmax_loss(w, x, from_logits, sample_weight, den_rows, reduction):
    """Loss and gradient of ``sum_c w_ic (-log p_ic)`` (class axis last), textbook float64.

    ``w`` are the per-class weights of -log p (targets, smoothing and class weights folded
    in); ``den_rows`` the per-row denominator weights of a mean (before sample weights).
    """
    logp, p = _log_p(x, from_logits)
    with np.errstate(invalid="ignore"):
        per_class = np.where(w == 0, 0.0, -w * logp)
    loss = per_class.sum(axis=-1)
    s = np.ones(loss.shape) if sample_weight is None else np.broadcast_to(sample_weight, loss.shape)
    weighted = np.where(s == 0, 0.0, s * loss)
    total = float(np.sum(s * den_rows))
    k = s if reduction != "mean" else (s / total if total > 0 else np.zeros_like(s))
    if from_logits:
        g = w.sum(axis=-1, keepdims=True) * p - w
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(w == 0, 0.0, -w / p)
    return _reduce(weighted, total, reduction), g * k[..., None]


def ref_sparse(y, x, *, from_logits, ignore_index, class_weight, sample_weight, eps, reduction):
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[-1]
    y = np.asarray(y)
    keep = np.ones(y.shape, bool) if ignore_index is None else y != ignore_index
    ids = np.where(keep, y, 0).astype(np.int64)
    cw = np.ones(C) if class_weight is None else np.asarray(class_weight, np.float64)
    onehot = (ids[..., None] == np.arange(C)) * keep[..., None]
    w = cw * ((1 - eps) * onehot + eps / C * keep[..., None])
    den = (onehot * cw).sum(axis=-1)
    return ref_softmax_loss(w, x, from_logits, sample_weight, den, reduction)


def ref_categorical(t, x, *, from_logits, class_weight, sample_weight, eps, reduction):
    t = np.asarray(t, dtype=np.float64)
    C = t.shape[-1]
    cw = np.ones(C) if class_weight is None else np.asarray(class_weight, np.float64)
    w = cw * ((1 - eps) * t + eps / C)
    den = (t * cw).sum(axis=-1)
    return ref_softmax_loss(w, x, from_logits, sample_weight, den, reduction)


def ref_binary(y, x, *, from_logits, pos_weight, sample_weight, eps, reduction):
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    q = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
    if x.ndim == 0:
        q = np.reshape(q, ())  # a one-element pos_weight of a 0-d y_pred
    a = q * (y * (1 - eps) + eps / 2)
    b = (1 - y) * (1 - eps) + eps / 2
    if from_logits:
        loss = a * np.logaddexp(0, -x) + b * np.logaddexp(0, x)
        g = -a * sp.expit(-x) + b * sp.expit(x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.where(a == 0, 0, -a * np.log(x)) + np.where(b == 0, 0, -b * np.log1p(-x))
            g = np.where(b == 0, 0, b / (1 - x)) - np.where(a == 0, 0, a / x)
    s = np.ones(x.shape) if sample_weight is None else np.broadcast_to(sample_weight, x.shape)
    weighted = np.where(s == 0, 0.0, s * loss)
    total = float(np.sum(s))
    k = s if reduction != "mean" else (s / total if total > 0 else np.zeros_like(s))
    return _reduce(weighted, total, reduction), g * k


def _tol(dtype):
    """A loose but real relative tolerance: many ulps of the dtype, not a blanket 1e-3."""
    return {np.float16: 2e-2, np.float32: 2e-4}.get(np.dtype(dtype).type, 1e-9)


def assert_close(got, want, dtype, what=""):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, what
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-300)
    tol = _tol(dtype)
    # a value below the dtype's smallest subnormal rounds to 0 there (a float16 gradient of
    # 1.5e-8, say): no result of that dtype can be closer
    floor = float(np.finfo(dtype).smallest_subnormal) if np.dtype(dtype).kind == "f" else 0.0
    atol = max(tol * scale, floor)
    np.testing.assert_allclose(got, want, rtol=tol, atol=atol, err_msg=what)


# ------------------------------------------------------------------ 1. long last axes
# Binary tiles hold BLOCK_BYTES / 2 elements (131,072): a last axis of two tiles and a piece.
LONG = 2 * 131_072 + 7

BINARY_OPTIONS = [
    {},
    {"pos_weight": 2.0},
    {"pos_weight": [0.5]},
    {"pos_weight": np.array(3.0)},
    {"pos_weight": "vector"},
    {"sample_weight": 0.5},
    {"sample_weight": "full"},
    {"sample_weight": "rows"},
    {"sample_weight": "last"},
    {"label_smoothing": 0.2, "pos_weight": 1.5, "sample_weight": "full"},
]


def _binary_options(opts, rng, shape):
    out = dict(opts)
    if out.get("pos_weight") == "vector":
        out["pos_weight"] = rng.uniform(0, 3, shape[-1])
    sw = out.get("sample_weight")
    if isinstance(sw, str):
        out["sample_weight"] = rng.uniform(
            0, 2, {"full": shape, "rows": (shape[0], 1)}.get(sw, shape[-1:])
        )
    return out


@pytest.mark.parametrize("opts", BINARY_OPTIONS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_long_last_axis_every_option(rng, opts, from_logits, dtype):
    shape = (2, LONG)
    x = rng.normal(0, 3, shape)
    if not from_logits:
        x = sp.expit(x)
    x = x.astype(dtype)
    y = rng.uniform(0, 1, shape)
    kw = _binary_options(opts, rng, shape)
    for reduction in REDUCTIONS:
        loss, grad = bce(y, x, from_logits=from_logits, reduction=reduction, return_grad=True, **kw)
        want, want_g = ref_binary(
            y,
            x,
            from_logits=from_logits,
            pos_weight=kw.get("pos_weight"),
            sample_weight=kw.get("sample_weight"),
            eps=kw.get("label_smoothing", 0.0),
            reduction=reduction,
        )
        assert np.asarray(loss).dtype == dtype
        assert_close(loss, want, dtype, reduction)
        assert_close(grad, want_g, dtype, reduction)


# Softmax blocks hold BLOCK_BYTES / itemsize entries: 32,768 float64 classes is one row.
@pytest.mark.parametrize("axis", [-1, 0], ids=["classes-last", "classes-first"])
@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_softmax_losses_long_class_axis(rng, axis, kind):
    C = 70_001
    x = rng.normal(0, 3, (3, C))
    labels = rng.integers(0, C, 3)
    t = sp.softmax(rng.normal(0, 1, (3, C)), axis=-1)
    cw = rng.uniform(0.5, 2, C)
    sw = np.array([1.0, 0.0, 2.0])
    for reduction in REDUCTIONS:
        kw = {
            "class_weight": cw,
            "sample_weight": sw,
            "label_smoothing": 0.1,
            "reduction": reduction,
        }
        if kind == "sparse":
            got = scce(
                labels,
                np.moveaxis(x, -1, axis),
                from_logits=True,
                axis=axis,
                return_grad=True,
                **kw,
            )
            want = ref_sparse(
                labels,
                x,
                from_logits=True,
                ignore_index=None,
                class_weight=cw,
                sample_weight=sw,
                eps=0.1,
                reduction=reduction,
            )
        else:
            got = cce(
                np.moveaxis(t, -1, axis),
                np.moveaxis(x, -1, axis),
                from_logits=True,
                axis=axis,
                return_grad=True,
                **kw,
            )
            want = ref_categorical(
                t,
                x,
                from_logits=True,
                class_weight=cw,
                sample_weight=sw,
                eps=0.1,
                reduction=reduction,
            )
        assert_close(got[0], want[0], np.float64, reduction)
        assert_close(np.moveaxis(got[1], axis, -1), want[1], np.float64, reduction)


@pytest.mark.parametrize("axis", [-1, 0])
def test_primitives_long_axis(rng, axis):
    x = np.moveaxis(rng.normal(0, 10, (3, 70_001)), -1, axis)
    assert_close(xent.logsumexp(x, axis=axis), sp.logsumexp(x, axis=axis), np.float64)
    assert_close(xent.log_softmax(x, axis=axis), sp.log_softmax(x, axis=axis), np.float64)
    assert_close(xent.softmax(x, axis=axis), sp.softmax(x, axis=axis), np.float64)
    flat = x.reshape(-1)
    assert_close(xent.softplus(flat), np.logaddexp(0, flat), np.float64)
    assert_close(xent.log_sigmoid(flat), -np.logaddexp(0, -flat), np.float64)


# ------------------------------------------------------------------ 2. and 3. threads
def _drop_pool():
    """Shut the engine's pool down between rounds, so that the next round grows a new one."""
    with _engine._lock:
        pool, _engine._pool, _engine._pool_size = _engine._pool, None, 0
    if pool is not None:
        pool.shutdown(wait=True)


def test_thread_count_raised_while_calls_run(monkeypatch, restore_threads):
    """Callers hammer the engine while another thread keeps raising the thread count, which
    replaces the pool; no call may fail ("cannot schedule new futures after shutdown") or
    return anything but the lone call's result."""
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 256)  # 32-element tiles: many chunks per call
    x = np.linspace(-30, 30, 1024)
    xent.set_num_threads(1)
    want = xent.softplus(x)
    errors: list[BaseException] = []

    def caller(stop):
        try:
            while not stop.is_set():
                got = xent.softplus(x)
                if not np.array_equal(got, want):
                    errors.append(AssertionError("a concurrent call gave another result"))
        except BaseException as err:  # any failure of a call is the defect
            errors.append(err)

    for _ in range(30):
        _drop_pool()
        xent.set_num_threads(2)
        stop = threading.Event()
        callers = [threading.Thread(target=caller, args=(stop,)) for _ in range(4)]
        for t in callers:
            t.start()
        for n in range(3, 12):
            xent.set_num_threads(n)
            xent.softplus(x)  # grows the pool while the callers submit to it
        stop.set()
        for t in callers:
            t.join()
        assert not errors, repr(errors[0])


def test_run_chunks_slow_thread_leaves_its_share(restore_threads):
    """Pieces go to whichever thread is free: while one thread is held up on its first piece,
    the other takes every other piece; each item is handed out once, in contiguous pieces."""
    xent.set_num_threads(2)
    seen: list[tuple[str, list[int]]] = []
    release = threading.Event()

    def work(piece):
        name = threading.current_thread().name
        if not seen:  # the first piece started: hold its thread until the others are done
            seen.append((name, list(piece)))
            release.wait(10)
            return
        seen.append((name, list(piece)))
        if sum(len(p) for _, p in seen) == 64:
            release.set()

    _engine.run_chunks(range(64), work)
    assert release.is_set()
    assert sorted(i for _, p in seen for i in p) == list(range(64))
    assert all(p == list(range(p[0], p[-1] + 1)) for _, p in seen)
    assert len(seen) == 2 * _engine.PIECES_PER_THREAD
    assert {name for name, _ in seen[1:]} == {seen[1][0]} != {seen[0][0]}


def test_run_chunks_error_stops_the_other_pieces(restore_threads):
    """An error in one piece is raised to the caller, and no piece starts after it."""
    xent.set_num_threads(2)
    started: list[int] = []

    def work(piece):
        started.append(piece[0])
        if piece[0] == 0:
            raise KeyError("bad block")
        time.sleep(0.01)

    with pytest.raises(KeyError, match="bad block"):
        _engine.run_chunks(range(64), work)
    assert len(started) <= 3  # the failing piece and at most the one the other thread ran


def test_run_chunks_raises_the_first_pieces_error(restore_threads):
    """Where several pieces fail, the error raised is the first piece's in the items' order,
    not the first in time: here piece 1 fails after piece 2 has (a message naming the first bad
    row of an input had named a later one when its thread got there first)."""
    xent.set_num_threads(2)
    threads: set[str] = set()
    for _ in range(50):  # until piece 2 has run on the calling thread
        if threading.current_thread().name in threads:
            break
        one, two = threading.Event(), threading.Event()

        def work(piece, one=one, two=two):
            if piece[0] == 0:  # piece 1 to the other thread, piece 2 to this one
                one.wait(10)
            elif piece[0] == 1:
                one.set()
                two.wait(10)  # until piece 2 has failed
                raise ValueError("piece 1")
            elif piece[0] == 2:
                threads.add(threading.current_thread().name)
                two.set()
                raise ValueError("piece 2")

        with pytest.raises(ValueError, match="piece 1"):
            _engine.run_chunks(range(16), work)
    assert threading.current_thread().name in threads  # (whose error had been raised)


@pytest.mark.parametrize("threads", [1, 2])
def test_spans_give_the_blocks_results(rng, monkeypatch, restore_threads, threads):
    """Blocks run as spans (one kernel call for a run of blocks) give bit for bit what a call
    per block gives: losses, per-row values, gradients, with weights, ignored rows, class ids
    of another type, strided and float16 inputs (copied: no span), states of the vocabulary
    chunks, categorical targets (checked by the kernel in a span)."""
    from xent import _categorical, _softmax

    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)  # 40 blocks of 8 rows
    xent.set_num_threads(threads)
    x = rng.normal(0, 3, (320, 50))
    y = rng.integers(0, 50, 320)
    y[::7] = -100
    sw = rng.random(320)
    y0 = np.where(y < 0, 0, y)
    cw = rng.random(50) + 0.5
    # targets one-hot in some blocks of 8 rows (run as the sparse loss), soft in the others
    mixed = np.eye(50)[y0]
    soft = rng.random((320, 50))
    for r0 in (16, 24, 96, 200, 312):
        mixed[r0 : r0 + 8] = soft[r0 : r0 + 8] / soft[r0 : r0 + 8].sum(axis=1, keepdims=True)
    calls = {
        "mean": lambda: xent.sparse_categorical_cross_entropy(
            y, x, from_logits=True, ignore_index=-100
        ),
        "grad": lambda: xent.sparse_categorical_cross_entropy(
            y.astype(np.int32),
            x.astype(np.float32),
            from_logits=True,
            ignore_index=-100,
            sample_weight=sw,
            label_smoothing=0.1,
            return_grad=True,
        ),
        "none": lambda: xent.sparse_categorical_cross_entropy(
            y, x, from_logits=True, ignore_index=-100, reduction="none", z_loss=1e-3
        ),
        "focal": lambda: xent.sparse_categorical_cross_entropy(
            y, x[:, ::-1], from_logits=True, ignore_index=-100, focal_gamma=2.0
        ),
        "float16": lambda: xent.log_softmax(x.astype(np.float16)),
        "probabilities": lambda: xent.sparse_categorical_cross_entropy(
            y0, xent.softmax(x), reduction="sum"
        ),
        "logsumexp": lambda: xent.logsumexp(x[:, :20]),
        "linear": lambda: xent.linear_cross_entropy(
            y0, x, rng.normal(0, 0.1, (60_000, 50)), chunk_bytes=1 << 20
        ),
        "categorical": lambda: xent.categorical_cross_entropy(mixed, x, from_logits=True),
        "categorical grad": lambda: xent.categorical_cross_entropy(
            mixed.astype(np.float32),
            x.astype(np.float32),
            from_logits=True,
            class_weight=cw,
            sample_weight=sw,
            label_smoothing=0.1,
            return_grad=True,
        ),
        "categorical none": lambda: xent.categorical_cross_entropy(
            mixed, x, from_logits=True, reduction="none", focal_gamma=1.5
        ),
        "categorical probabilities": lambda: xent.categorical_cross_entropy(
            mixed, xent.softmax(x), sample_weight=sw
        ),
    }
    orig, shared = _softmax.run_blocks, _softmax.SoftmaxCall._run_shared

    def per_block(*args, **kwargs):
        return orig(*args, **{**kwargs, "spans": False})

    def results(call):
        got = call()
        return got if isinstance(got, tuple) else (got,)

    for name, call in calls.items():
        # arrays used whole: one kernel call per thread (SharedBlocks); else spans of blocks;
        # else one kernel call per block
        state = rng.bit_generator.state
        whole = results(call)
        rng.bit_generator.state = state
        monkeypatch.setattr(_softmax.SoftmaxCall, "_run_shared", lambda *a: None)
        with_spans = results(call)
        rng.bit_generator.state = state
        for module in (_softmax, _categorical):  # the losses' blocks and the targets' checks
            monkeypatch.setattr(module, "run_blocks", per_block)
        blocks = results(call)
        for module in (_softmax, _categorical):
            monkeypatch.setattr(module, "run_blocks", orig)
        monkeypatch.setattr(_softmax.SoftmaxCall, "_run_shared", shared)
        for a, b, c in zip(whole, with_spans, blocks, strict=True):
            np.testing.assert_array_equal(a, c, err_msg=name)
            np.testing.assert_array_equal(b, c, err_msg=name)


@pytest.mark.parametrize("bad", ["negative", "row sum", "nan"])
@pytest.mark.parametrize("return_grad", [False, True])
def test_a_spans_bad_target_block_is_named_as_without_spans(
    rng, monkeypatch, restore_threads, bad, return_grad
):
    """The kernel checks the targets of each block of a span (the loss's, or the check before
    a gradient); where one fails, the call raises what the checks of single blocks raise (the
    same message)."""
    from xent import _categorical, _softmax
    from xent._kernels import _core

    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)  # blocks of 10 rows, spans of 16
    xent.set_num_threads(1)
    checked_spans = []
    real = _core.softmax_block

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        if len(args) > 18 and args[18] is not None:  # a span whose kernel checks its targets
            checked_spans.append(len(result))
        return result

    monkeypatch.setattr(_core, "softmax_block", spy)
    real_stats = _core.stats_span
    stats_spans = []

    def stats_spy(*args, **kwargs):
        stats_spans.append(real_stats(*args, **kwargs))
        return stats_spans[-1]

    monkeypatch.setattr(_core, "stats_span", stats_spy)
    x = rng.normal(0, 3, (320, 50))
    t = np.eye(50)[rng.integers(0, 50, 320)]
    t[100:110] = 0.02
    if bad == "negative":
        t[203, 4], t[203, 5] = -0.25, t[203, 5] + 0.25
    elif bad == "row sum":
        t[203] *= 1.5
    else:
        t[203, 7] = np.nan
    orig = _softmax.run_blocks

    def call():
        return xent.categorical_cross_entropy(t, x, from_logits=True, return_grad=return_grad)

    with pytest.raises(ValueError, match="y_true") as spanned:
        call()
    # the forward pass checks in the loss's kernel, the gradient's before it: either way the
    # second span stops at its block of row 203
    assert (stats_spans, checked_spans) == (([16, 4], []) if return_grad else ([], [16, 4]))
    for module in (_softmax, _categorical):
        monkeypatch.setattr(module, "run_blocks", lambda *a, **k: orig(*a, **{**k, "spans": False}))
    with pytest.raises(ValueError, match="y_true") as single:
        call()
    assert str(spanned.value) == str(single.value)
    assert "203" in str(single.value)


def _at_once(caller, n: int = 4) -> None:
    """``caller(k)`` on ``n`` threads at once; the first failure of any, raised here."""
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            caller(k)
        except BaseException as e:  # (reported below, on the test's thread)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors


def test_callers_at_once_share_the_helper_threads(rng, monkeypatch, restore_threads):
    """Calls from several threads at once: one holds the kernel's helper threads (pool.h), the
    others share their blocks through the engine's threads meanwhile; every result is the one
    of a lone call, bit for bit, and a bad class id raises in its own call only."""
    from xent._kernels import _core

    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    x = rng.normal(0, 3, (20_000, 3)).astype(np.float32)
    y = rng.integers(0, 3, 20_000)
    bad = y.copy()
    bad[12_345] = 3
    xent.set_num_threads(1)
    want = xent.sparse_categorical_cross_entropy(y, x, from_logits=True, return_grad=True)
    xent.set_num_threads(2)
    # jobs run, and those of them run on the engine's threads (not by the kernel's helpers):
    # the small path's (in C) and the general path's alike
    shared: list[int] = []
    alongside: list[int] = []
    real_shared, real_alongside = _softmax.run_shared, _engine.run_alongside

    def shared_spy(job, n_blocks):
        shared.append(n_blocks)
        return real_shared(job, n_blocks)

    def alongside_spy(n, work):
        alongside.append(n)
        return real_alongside(n, work)

    monkeypatch.setattr(_softmax, "run_shared", shared_spy)
    monkeypatch.setattr(_categorical, "run_shared", shared_spy)
    monkeypatch.setattr(_engine, "run_alongside", alongside_spy)

    def caller(k: int) -> None:
        for i in range(20):
            if (k + i) % 5 == 0:
                with pytest.raises(ValueError, match="class id 3 at index \\(12345,\\)"):
                    xent.sparse_categorical_cross_entropy(bad, x, from_logits=True)
                continue
            got = xent.sparse_categorical_cross_entropy(y, x, from_logits=True, return_grad=True)
            assert got[0] == want[0]
            np.testing.assert_array_equal(got[1], want[1])

    _at_once(caller)
    # the helpers ran some of the calls
    assert (len(shared) > len(alongside)) == _core.pool_supported()


def test_jobs_of_every_kind_at_once(rng, monkeypatch, restore_threads):
    """The binary loss's, the KL divergence's and the softmax family's jobs in C from several
    threads at once: whichever holds the kernel's helper threads, the others share their blocks
    on the engine's threads; every result is the one of a lone call, bit for bit."""
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    x = rng.normal(0, 3, (6_000, 5)).astype(np.float32)
    t = (x + rng.normal(0, 1, x.shape)).astype(np.float32)
    y = rng.integers(0, 5, 6_000)
    b = (rng.random(x.shape) < 0.5).astype(np.float32)
    calls = [
        lambda: xent.binary_cross_entropy(b, x, from_logits=True, return_grad=True),
        lambda: xent.kl_divergence(t, x, from_logits=True, target_from_logits=True,
                                   reduction="none"),
        lambda: xent.sparse_categorical_cross_entropy(y, x, from_logits=True, reduction="none"),
        lambda: xent.logsumexp(x, axis=-1),
    ]  # fmt: skip
    xent.set_num_threads(1)
    want = [call() for call in calls]
    xent.set_num_threads(2)

    def caller(k: int) -> None:
        for i in range(30):
            j = (k + i) % len(calls)
            assert as_bits(calls[j]()) == as_bits(want[j]), j

    _at_once(caller)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("return_grad", [False, True])
def test_a_bad_target_block_of_a_whole_array_call_is_named(
    rng, monkeypatch, restore_threads, threads, return_grad
):
    """Targets used whole run as one kernel call per thread (SharedBlocks), which checks each
    block; where one fails, the call runs block by block, which raises the message the checks
    of single blocks raise."""
    from xent._kernels import _core

    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    xent.set_num_threads(threads)
    x = rng.normal(0, 3, (3000, 4))
    t = np.eye(4)[rng.integers(0, 4, 3000)]
    t[1000:1100] = t[2200:2210] = 0.25  # soft blocks among one-hot ones
    t[2203] *= 1.5
    calls: list[bool] = []
    real = _softmax.SoftmaxCall._run_shared

    def spy(*args):
        got = real(*args)
        calls.append(got is None)
        return got

    monkeypatch.setattr(_softmax.SoftmaxCall, "_run_shared", spy)
    # the general path's job (the small path's: tests/test_one_block.py)
    monkeypatch.setattr(_core, "categorical_one_block", lambda *args: None)
    with pytest.raises(ValueError, match=r"row \(2203,\) sums to") as whole:
        xent.categorical_cross_entropy(t, x, from_logits=True, return_grad=return_grad)
    assert calls == ([] if return_grad else [True])  # (a gradient checks them first)
    t[2203] /= 1.5
    calls.clear()
    xent.categorical_cross_entropy(t, x, from_logits=True, return_grad=return_grad)
    assert calls == [False]
    assert "1.5" in str(whole.value)  # (the row's sum)


@pytest.mark.parametrize(("C", "spanned"), [(2, 1), (50, 16)])
def test_spans_keep_per_row_buffers_to_a_block(rng, monkeypatch, restore_threads, C, spanned):
    """A span is at most 16 blocks and at most a block's bytes of per-row values: rows of few
    classes make blocks of many rows, which are not put together. (Labels with an
    ignore_index: blocks the kernel reads in place, in spans, but not whole.)"""
    from xent._kernels import _core

    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    xent.set_num_threads(1)
    seen: list[int] = []
    real = _core.softmax_block

    def spy(mode, x, *args, **kwargs):
        seen.append(x.shape[0])
        return real(mode, x, *args, **kwargs)

    monkeypatch.setattr(_core, "softmax_block", spy)
    x = rng.normal(0, 1, (4000, C)).astype(np.float32)
    y = rng.integers(0, C, 4000)
    xent.sparse_categorical_cross_entropy(y, x, from_logits=True, ignore_index=-1, reduction="none")
    rows = _engine.Layout(x.shape, 1).block_rows(4)
    assert max(seen) == spanned * rows
    assert sum(seen) == 4000


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: xent.logsumexp(x),
        lambda x, y: xent.softmax(x),
        lambda x, y: xent.sparse_categorical_cross_entropy(y, x, from_logits=True),
        lambda x, y: xent.sparse_categorical_cross_entropy(
            y,
            x,
            from_logits=True,
            return_grad=True,
            sample_weight=np.linspace(0, 2, len(y)),
            reduction="sum",
            z_loss=1e-3,
        ),
        lambda x, y: xent.sparse_categorical_cross_entropy(
            y, x, from_logits=True, reduction="none", focal_gamma=2.0
        ),
        lambda x, y: xent.categorical_cross_entropy(
            (0.5 * np.eye(7)[y] + 0.5 / 7).astype(x.dtype), x, from_logits=True, reduction="none"
        ),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_whole_arrays_run_by_one_kernel_call_per_thread(
    rng, monkeypatch, restore_threads, dtype, threads, call
):
    """Row-major arrays used whole (contiguous, the kernel's dtypes) run as one kernel call per
    thread, the threads taking the blocks from a shared counter: the bits of the call block by
    block, for every thread count (float32 per-row values too, rounded from each block's
    doubles in the job)."""
    from xent import _softmax
    from xent._kernels import _core

    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    x = rng.normal(0, 3, (3001, 7)).astype(dtype)
    y = rng.integers(0, 7, 3001)
    calls: list[int] = []
    jobs: list[int] = []
    real, real_job = _core.softmax_block, _core.SharedBlocks

    def spy(mode, xb, *args, **kwargs):
        calls.append(xb.shape[0])
        return real(mode, xb, *args, **kwargs)

    def job_spy(mode, xb, *args):
        jobs.append(xb.shape[0])
        return real_job(mode, xb, *args)

    monkeypatch.setattr(_core, "softmax_block", spy)
    monkeypatch.setattr(_core, "SharedBlocks", job_spy)
    # the job of the calls the small path takes (tests/test_one_block.py) is made in C, where
    # the spy does not see it: the general path's here
    monkeypatch.setattr(_core, "sparse_one_block", lambda *args: None)
    monkeypatch.setattr(_core, "rows_one_block", lambda *args: None)
    monkeypatch.setattr(_core, "categorical_one_block", lambda *args: None)
    xent.set_num_threads(threads)
    got = call(x, y)
    assert (calls, jobs) == ([], [3001])
    monkeypatch.setattr(_softmax.SoftmaxCall, "_run_shared", lambda *a: None)
    want = call(x, y)
    assert len(calls) > 1  # (block by block)
    for g, w in zip(
        got if isinstance(got, tuple) else (got,),
        want if isinstance(want, tuple) else (want,),
        strict=True,
    ):
        np.testing.assert_array_equal(g, w)


def test_shared_blocks_refuses_what_it_cannot_run():
    from xent._kernels import _core

    x = np.zeros((10, 3), np.float32)

    def job(mode=_core.LSE, block_rows=4, row_out=None, **kw):
        return _core.SharedBlocks(
            mode, x, None, None, None, None, None, 0.0, 0.0, 1.0, row_out, True, 0.0, 0.0,
            block_rows, 0, **kw,
        )  # fmt: skip

    msg = "SharedBlocks takes block_rows > 0, not mode STATE"
    for kw in ({"block_rows": 0}, {"mode": _core.STATE}):
        with pytest.raises(ValueError, match=re.escape(msg)):
            job(**kw)
    with pytest.raises(ValueError, match=re.escape("check takes the categorical loss's targets")):
        job(check=(None, 1e-3, False, True, np.zeros(3), np.zeros(3, np.int8)))
    with pytest.raises(ValueError, match=re.escape("stats_only takes a check")):
        job(stats_only=True)
    msg = "float32 per-row values are contiguous, one per row of x"
    for rows in (np.zeros(20, np.float32)[::2], np.zeros(9, np.float32)):
        with pytest.raises(TypeError, match=re.escape(msg)):
            job(row_out=rows)
    rows = np.full(10, np.nan, np.float32)
    job(row_out=rows).run(True)
    np.testing.assert_array_equal(rows, np.float32(np.log(3.0)))


def _child_call(n):
    x = np.linspace(-5.0, 5.0, n)
    return float(np.sum(xent.softplus(x))), xent.get_num_threads()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_after_threaded_call(monkeypatch, restore_threads):
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 256)  # inherited by the child: threaded there
    xent.set_num_threads(2)
    want = _child_call(4096)
    assert _engine._pool is not None  # the parent's pool exists, with live threads
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = [pool.apply_async(_child_call, (4096,)) for _ in range(4)]
        got = [r.get(timeout=60) for r in results]  # a hang fails here instead of blocking
    assert got == [want] * 4
    assert xent.softplus(np.zeros(4096)).shape == (4096,)  # the parent still works


# ------------------------------------------------------------------ 4. NaN labels and weights
NAN_CASES = [
    ("binary-y_true", lambda: bce([np.nan, 1.0], [0.5, 0.5], from_logits=True), "y_true", "(0,)"),
    ("binary-y_true-0d", lambda: bce(np.nan, 0.5), "y_true", "()"),
    (
        "binary-y_true-probs",
        lambda: bce([[1.0, 0.0], [0.0, np.nan]], [[0.5] * 2] * 2),
        "y_true",
        "(1, 1)",
    ),
    ("binary-y_true-float32", lambda: bce(np.float32([0, np.nan]), [0.5, 0.5]), "y_true", "(1,)"),
    ("categorical-y_true", lambda: cce([[np.nan, 1.0]], [[0.5, 0.5]]), "y_true", "(0, 0)"),
    (
        "categorical-y_true-axis0",
        lambda: cce([[1.0, 0.0], [0.0, np.nan]], [[0.5] * 2] * 2, axis=0, from_logits=True),
        "y_true",
        "(1, 1)",
    ),
    ("sparse-y_true", lambda: scce([0.0, np.nan], [[0.5] * 2] * 2), "y_true", "(1,)"),
    (
        "binary-sample_weight",
        lambda: bce([1.0, 0.0], [0.5, 0.5], sample_weight=[1, np.nan]),
        "sample_weight",
        "(1,)",
    ),
    (
        "categorical-sample_weight",
        lambda: cce([[1.0, 0.0]], [[0.5, 0.5]], sample_weight=[np.nan]),
        "sample_weight",
        "(0,)",
    ),
    (
        "sparse-sample_weight",
        lambda: scce([0], [[0.5, 0.5]], sample_weight=np.nan),
        "sample_weight",
        "()",
    ),
    (
        "categorical-class_weight",
        lambda: cce([[1.0, 0.0]], [[0.5, 0.5]], class_weight=[1, np.nan]),
        "class_weight",
        "(1,)",
    ),
    (
        "sparse-class_weight",
        lambda: scce([0], [[0.5, 0.5]], class_weight=[np.nan, 1]),
        "class_weight",
        "(0,)",
    ),
    ("binary-pos_weight", lambda: bce([1.0], [0.5], pos_weight=np.nan), "pos_weight", "()"),
    (
        "binary-pos_weight-vector",
        lambda: bce([[1.0, 0.0]], [[0.5, 0.5]], pos_weight=[1, np.nan]),
        "pos_weight",
        "(1,)",
    ),
]


@pytest.mark.parametrize(
    ("call", "name", "index"), [c[1:] for c in NAN_CASES], ids=[c[0] for c in NAN_CASES]
)
def test_nan_label_or_weight_is_an_error_naming_it(call, name, index):
    with pytest.raises(ValueError, match=rf"(?i)^{name}\b.*nan.*index {re.escape(index)}") as info:
        call()
    assert "nan" in str(info.value).lower()


def test_labels_without_nan_whose_sum_is_not_a_number():
    """inf - inf (or a float16 sum past 65504) is no NaN label: the right error, or none."""
    with pytest.raises(ValueError, match=r"^y_true has values outside \[0, 1\] \(first: inf at"):
        bce([np.inf, -np.inf], [0.5, 0.5])
    y = np.ones(70_000, np.float16)
    assert bce(y, np.full(70_000, 0.5, np.float16)) == np.float16(math.log(2))


def test_nan_in_y_pred_propagates():
    loss = bce([1.0, 0.0], [np.nan, 0.5], reduction="none")
    assert np.isnan(loss[0])
    assert np.isfinite(loss[1])
    loss = scce([0, 1], [[np.nan, 0.0], [0.0, 0.0]], from_logits=True, reduction="none")
    assert np.isnan(loss[0])
    assert np.isfinite(loss[1])
    assert np.isnan(xent.logsumexp([np.nan, 1.0]))


# ------------------------------------------------------------------ 5. empty batches
# (shape, axis): the class axis anywhere, the batch empty but the class axis not.
EMPTY = [((0, 3), -1), ((3, 0), 0), ((2, 0, 3), 0), ((2, 0, 3), 2), ((0, 2, 3), 1), ((4, 0), 0)]


def _batch_shape(shape, axis):
    return shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :]


@pytest.mark.parametrize(("shape", "axis"), EMPTY)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_empty_batch_primitives(shape, axis, dtype):
    a = np.zeros(shape, dtype)
    for keepdims in (False, True):
        got = xent.logsumexp(a, axis=axis, keepdims=keepdims)
        want = sp.logsumexp(a, axis=axis, keepdims=keepdims) if a.shape[axis] else None
        assert got.shape == np.sum(a, axis=axis, keepdims=keepdims).shape
        assert got.dtype == dtype
        if want is not None:
            assert np.array_equal(got, want)
    for fn in (xent.softmax, xent.log_softmax):
        got = fn(a, axis=axis)
        assert got.shape == shape
        assert got.dtype == dtype
    for fn in (xent.softplus, xent.log_sigmoid):
        assert fn(a).shape == shape


@pytest.mark.parametrize(("shape", "axis"), EMPTY)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("weights", [False, True])
def test_empty_batch_losses(shape, axis, reduction, from_logits, weights):
    x = np.zeros(shape, np.float32)
    batch = _batch_shape(shape, axis)
    C = shape[axis]
    cw = np.ones(C) if weights else None
    sw = np.ones(batch) if weights else None
    calls = {
        "binary": lambda **k: bce(
            np.zeros(shape),
            x,
            pos_weight=1.0 if weights else None,
            sample_weight=np.ones(shape) if weights else None,
            **k,
        ),
        "categorical": lambda **k: cce(
            np.zeros(shape), x, axis=axis, class_weight=cw, sample_weight=sw, **k
        ),
        "sparse": lambda **k: scce(
            np.zeros(batch, np.int64),
            x,
            axis=axis,
            class_weight=cw,
            sample_weight=sw,
            ignore_index=-1 if weights else None,
            **k,
        ),
    }
    for name, call in calls.items():
        out_shape = shape if name == "binary" else batch
        loss = call(from_logits=from_logits, reduction=reduction, label_smoothing=0.1)
        loss2, grad = call(from_logits=from_logits, reduction=reduction, return_grad=True)
        for value in (loss, loss2):
            assert value.dtype == np.float32, name
            if reduction == "none":
                assert value.shape == out_shape, name
            else:
                assert value.shape == (), name
                assert value == 0.0, name  # the zero-weight rule
        assert grad.shape == shape, name
        assert grad.dtype == np.float32, name


# ------------------------------------------------------------------ 6. and 7. options and arrays
P2 = np.array([[0.3, 0.7], [0.5, 0.5]])

# Every bool option of every public function.
FLAG_CALLS = {
    "binary-from_logits": lambda v: bce(P2, P2, from_logits=v),
    "binary-return_grad": lambda v: bce(P2, P2, return_grad=v),
    "categorical-from_logits": lambda v: cce(P2, P2, from_logits=v),
    "categorical-return_grad": lambda v: cce(P2, P2, return_grad=v),
    "sparse-from_logits": lambda v: scce([0, 1], P2, from_logits=v),
    "sparse-return_grad": lambda v: scce([0, 1], P2, return_grad=v),
    "logsumexp-keepdims": lambda v: xent.logsumexp(P2, keepdims=v),
}
BAD_FLAGS = [
    "False",
    "",
    0,
    1,
    1.0,
    None,
    [False],
    (True,),
    np.array([True]),
    np.array(False),
    np.int64(1),
]


@pytest.mark.parametrize("bad", BAD_FLAGS, ids=repr)
@pytest.mark.parametrize("call", FLAG_CALLS.values(), ids=FLAG_CALLS.keys())
def test_bool_options_take_bools_only(call, bad):
    name = next(k for k, v in FLAG_CALLS.items() if v is call).split("-")[1]
    with pytest.raises(TypeError, match=rf"^{name} must be a bool"):
        call(bad)
    for good in (True, False, np.True_, np.False_):
        call(good)


# Every array argument of every public function, given as a ragged list and as a masked array.
ARRAY_ARGS = {
    "binary-y_true": lambda v: bce(v, P2),
    "binary-y_pred": lambda v: bce(P2, v),
    "binary-pos_weight": lambda v: bce(P2, P2, pos_weight=v),
    "binary-sample_weight": lambda v: bce(P2, P2, sample_weight=v),
    "categorical-y_true": lambda v: cce(v, P2),
    "categorical-y_pred": lambda v: cce(P2, v),
    "categorical-class_weight": lambda v: cce(P2, P2, class_weight=v),
    "categorical-sample_weight": lambda v: cce(P2, P2, sample_weight=v),
    "sparse-y_true": lambda v: scce(v, P2),
    "sparse-y_pred": lambda v: scce([0, 1], v),
    "sparse-class_weight": lambda v: scce([0, 1], P2, class_weight=v),
    "sparse-sample_weight": lambda v: scce([0, 1], P2, sample_weight=v),
    "logsumexp-a": lambda v: xent.logsumexp(v),
    "log_softmax-a": lambda v: xent.log_softmax(v),
    "softmax-a": lambda v: xent.softmax(v),
    "softplus-a": lambda v: xent.softplus(v),
    "log_sigmoid-a": lambda v: xent.log_sigmoid(v),
}
_ARG_IDS = list(ARRAY_ARGS)


@pytest.mark.parametrize("key", _ARG_IDS)
def test_ragged_list_names_the_argument(key):
    name = key.split("-")[1]
    with pytest.raises(ValueError, match=rf"^{name} must be a rectangular array"):
        ARRAY_ARGS[key]([[0.5, 0.5], [1.0]])


@pytest.mark.parametrize("key", _ARG_IDS)
def test_masked_array_is_refused_with_the_way_to_pass_it(key):
    name = key.split("-")[1]
    masked = np.ma.masked_array(P2, mask=[[False, True], [False, False]])
    with pytest.raises(TypeError, match=rf"^{name} is a masked array.*filled.*sample_weight"):
        ARRAY_ARGS[key](masked)


@pytest.mark.parametrize("key", _ARG_IDS)
def test_matrix_is_read_as_its_array(key):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix itself warns
        m = np.matrix(P2)
    try:
        want = ARRAY_ARGS[key](P2)
    except ValueError as err:  # a 2-D weight where a vector belongs: the same error
        with pytest.raises(ValueError, match=re.escape(str(err))):
            ARRAY_ARGS[key](m)
        return
    got = ARRAY_ARGS[key](m)
    assert type(got) is type(want)
    assert np.array_equal(got, want)


# ------------------------------------------------------------------ 8. float class ids
@pytest.mark.parametrize(
    ("dtype", "top"),
    [(np.float64, 2**53), (np.float32, 2**24), (np.float16, 2**11)],
)
def test_float_ids_are_compared_with_ignore_index_exactly(dtype, top):
    x = np.zeros((2, 3))
    ids = np.array([top, 1], dtype=dtype)  # float(top + 1) rounds to top in this dtype
    with pytest.raises(ValueError, match=rf"^y_true holds class id {float(top)!r} at index \(0,\)"):
        scce(ids, x, from_logits=True, ignore_index=top + 1)
    # Equal exactly: ignored, as an integer id would be.
    got = scce(ids, x, from_logits=True, ignore_index=top, reduction="none")
    want = scce(np.array([top, 1]), x, from_logits=True, ignore_index=top, reduction="none")
    assert np.array_equal(got, want)
    assert got[0] == 0.0


def test_float_ids_beyond_int64_compare_exactly():
    x = np.zeros((2, 3))
    ids = np.array([2.0**70, 2.0], dtype=np.float64)
    got = scce(ids, x, from_logits=True, ignore_index=2**70, reduction="sum")
    assert got == pytest.approx(math.log(3))
    for ignore in (2**70 + 1, 10**400, -(2**70)):
        with pytest.raises(ValueError, match=r"^y_true holds class id 1\.18"):
            scce(ids, x, from_logits=True, ignore_index=ignore)


@pytest.mark.parametrize("base", [np.int64, np.int32])
@pytest.mark.parametrize("ignore_index", [None, -100])
def test_ids_in_the_other_byte_order(base, ignore_index):
    """Class ids in the non-native byte order give the loss of the same ids in native order, and
    an id out of range whose bytes read swapped would be in range is an error naming it (the
    kernel's range check read such ids swapped: the loss then read past its row)."""
    swapped = np.dtype(base).newbyteorder()
    x = np.random.default_rng(5).standard_normal((6, 4))
    ids = np.array([0, 3, 1, 2, 2, 0])
    kw = {"from_logits": True, "ignore_index": ignore_index, "return_grad": True}
    want, want_grad = scce(ids, x, **kw)
    got, got_grad = scce(ids.astype(swapped), x, **kw)
    assert got == want
    assert np.array_equal(got_grad, want_grad)
    for lin_kw in ({}, {"bias": np.zeros(4)}):  # the linear loss checks its ids the same way
        bad = np.zeros(6, swapped)  # 0 reads as 0 either way
        bad[2] = 1 << (8 * (bad.itemsize - 1))  # its bytes swapped read as 1
        match = rf"^y_true holds class id {int(bad[2])} at index \(2,\), outside \[0, 4\)"
        with pytest.raises(ValueError, match=match):
            scce(bad, x, from_logits=True, ignore_index=ignore_index)
        with pytest.raises(ValueError, match=match):
            xent.linear_cross_entropy(bad, x, np.eye(4), ignore_index=ignore_index, **lin_kw)


# ------------------------------------------------------------------ 16. overflow of the dtype
@pytest.mark.parametrize(("dtype", "big"), [(np.float16, 6e4), (np.float32, 3e38)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_beyond_the_dtype_is_inf_without_a_warning(dtype, big, reduction):
    """A value that does not fit the result dtype becomes inf, silently (warnings are errors
    in this suite, so a stray one fails the test)."""
    x = np.array([[big, -big], [big, -big]], dtype)
    t = np.array([[0.0, 1.0], [0.0, 1.0]])
    top = float(np.finfo(dtype).max)
    # float64 values from logits this large: softplus(z) = z, softplus(-z) = 0
    rows = np.array([2 * big, 2 * big])
    elements = np.array([[big, 4 * big], [big, 4 * big]])
    cases = [
        (cce(t, x, from_logits=True, reduction=reduction), rows),
        (scce([1, 1], x, from_logits=True, reduction=reduction), rows),
        (bce(t, x, from_logits=True, pos_weight=4.0, reduction=reduction), elements),
    ]
    for loss, per in cases:
        want = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
        assert loss.dtype == dtype
        assert np.array_equal(np.isposinf(loss), want > top)
        assert_close(np.where(want > top, 0, loss), np.where(want > top, 0, want), dtype)


# ------------------------------------------------------------------ more than 2**31 elements
@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("XENT_SLOW_TESTS"),
    reason="set XENT_SLOW_TESTS=1 to run (about 7 GiB of memory and a few minutes)",
)
def test_more_than_2_31_elements():
    """Flat indices past 2**31 (int8 logits, so 2 GiB per array): the sum counts every row
    and an error names an index that a 32-bit index would wrap."""
    C = 8
    rows = (2**31 + 24) // C
    x = np.zeros((rows, C), dtype=np.int8)
    x[:, 0] = 1
    x[-1, 0], x[-1, 5] = 0, 1
    labels = np.zeros(rows, dtype=np.int8)
    labels[-2], labels[-1] = 3, 5
    lead, other = math.log(math.e + 7) - 1, math.log(math.e + 7)  # -log p at 1, at 0 of [1, 0 x 7]
    got = scce(labels, x, from_logits=True, reduction="sum")
    assert got == pytest.approx((rows - 1) * lead + other, rel=1e-12)
    per_row = scce(labels, x, from_logits=True, reduction="none")
    assert per_row[-2] == pytest.approx(other, rel=1e-15)
    assert per_row[-1] == pytest.approx(lead, rel=1e-15)
    del per_row
    flat = x.reshape(-1)
    zeros = np.broadcast_to(np.int8(0), flat.shape)
    got = bce(zeros, flat, from_logits=True, reduction="sum")
    ones = rows  # one logit of 1 per row
    want = ones * math.log1p(math.e) + (flat.size - ones) * math.log(2)
    assert got == pytest.approx(want, rel=1e-12)
    flat[-3] = 2
    with pytest.raises(
        ValueError,
        match=rf"^y_pred has values outside \[0, 1\] \(first: 2 at index \({flat.size - 3},\)\)",
    ):
        bce(zeros, flat)


# ------------------------------------------------------------------ the campaign
CAMPAIGN_EXAMPLES = int(os.environ.get("XENT_CAMPAIGN_EXAMPLES", "0") or 0)
CAMPAIGN = settings(
    max_examples=CAMPAIGN_EXAMPLES or 150,
    deadline=None,
    database=None,
    derandomize=not CAMPAIGN_EXAMPLES,  # reproducible in CI; exploring when asked for more
    suppress_health_check=list(HealthCheck),
)
OUTCOMES: collections.Counter[tuple[str, str]] = collections.Counter()
ARG_NAMES = (
    "y_true", "y_pred", "a", "axis", "from_logits", "return_grad", "keepdims", "reduction",
    "label_smoothing", "pos_weight", "sample_weight", "class_weight", "ignore_index",
)  # fmt: skip
NAMES_AN_ARGUMENT = re.compile(r"^({})\b".format("|".join(ARG_NAMES)))
FUNCTIONS = {
    "logsumexp": xent.logsumexp,
    "log_softmax": xent.log_softmax,
    "softmax": xent.softmax,
    "softplus": xent.softplus,
    "log_sigmoid": xent.log_sigmoid,
    "binary": bce,
    "categorical": cce,
    "sparse": scce,
}
DTYPES = ["float64", "float64", "float32", "float16", "int64", "int8", "bool"]
WRAPS = ["array"] * 5 + [
    "list", "tuple", "masked", "matrix", "memmap", "readonly", "reversed", "byteswap",
]  # fmt: skip
SPECIALS = [None] * 6 + ["nan", "inf", "-inf", "max", "tiny"]
FLAG_GOOD = [True, False, np.True_, np.False_]
FLAG_BAD = ["False", 0, 1, None, [False], np.array([True])]


def _option(draw, good, bad):
    """Omitted (the default), a valid value or an invalid one."""
    how = draw(st.sampled_from(["omit"] * 3 + ["good"] * 4 + ["bad"]))
    if how == "omit":
        return "omit"
    pool = good if how == "good" else bad
    return pool[draw(st.integers(0, len(pool) - 1))] if pool else "omit"


def _omitted(value):
    return isinstance(value, str) and value == "omit"


def _weights(rng, shape, bad_kind):
    """Valid non-negative weights of ``shape``, or one of the ways a weight can be wrong."""
    w = rng.uniform(0.0, 2.0, shape)
    if bad_kind is None:
        return w
    if bad_kind == "ragged":
        return [[1.0], [1.0, 2.0]]
    if bad_kind == "shape":
        return np.ones(tuple(d + 1 for d in shape) or (2,))
    if bad_kind == "text":
        return "1.0"
    w = np.array(w, ndmin=1)
    w.flat[rng.integers(w.size) if w.size else 0 : None if w.size else 0] = {
        "nan": np.nan, "negative": -1.0, "inf": np.inf
    }[bad_kind]  # fmt: skip
    return w


WEIGHT_BAD = ["nan", "negative", "inf", "ragged", "shape", "text"]


@st.composite
def campaign_calls(draw):
    """(function name, raw arrays and options) for one generated call; arrays are wrapped in
    the test, where a memmap file can be made."""
    name = draw(st.sampled_from(list(FUNCTIONS)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    kw = {}
    softmax_like = name in ("logsumexp", "log_softmax", "softmax", "categorical", "sparse")
    axis = -1
    if softmax_like:
        axis = _option(draw, list(range(-ndim, ndim)), [ndim, -ndim - 1, 1.0, "0", None, True])
        if axis != "omit":
            kw["axis"] = axis
        axis = axis if isinstance(axis, int) and not isinstance(axis, bool) else -1
    valid_axis = ndim > 0 and -ndim <= axis < ndim
    if name == "logsumexp":
        kw["keepdims"] = _option(draw, FLAG_GOOD, FLAG_BAD)
    from_logits = True
    if name in ("binary", "categorical", "sparse"):
        for flag in ("from_logits", "return_grad"):
            kw[flag] = _option(draw, FLAG_GOOD, FLAG_BAD)
        kw["reduction"] = _option(draw, REDUCTIONS, ["avg", None, 1, "MEAN", ["mean"]])
        kw["label_smoothing"] = _option(
            draw,
            [0.0, 0.1, 1.0, np.float32(0.3), 0],
            [-0.1, 1.5, np.nan, np.inf, 10**400, "0.1", [0.1], None, True],
        )
        flag = kw["from_logits"]
        from_logits = isinstance(flag, (bool, np.bool_)) and bool(flag)
    # y_pred (or a): logits, or probabilities where the call reads probabilities
    x = rng.normal(0.0, 3.0, shape)
    if not from_logits:
        if name == "binary":
            x = sp.expit(x)
        elif valid_axis and x.size:
            x = sp.softmax(x, axis=axis)
    if dtype.kind == "b":
        x = x > 0.5
    elif dtype.kind in "iu":
        x = np.rint(x)
    x = np.asarray(x).astype(dtype)
    special = draw(st.sampled_from(SPECIALS))
    if special and x.size and dtype.kind == "f":
        info = np.finfo(dtype)
        value = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "max": info.max}.get(
            special, info.smallest_subnormal
        )
        x.flat[rng.integers(x.size)] = value
    arrays = {"y_pred" if name in ("binary", "categorical", "sparse") else "a": x}
    C = shape[axis] if valid_axis else 1
    batch = shape[: axis % ndim] + shape[axis % ndim + 1 :] if valid_axis else shape
    bad_target = draw(st.sampled_from([None] * 12 + ["nan", "range", "shape"]))
    if name == "binary":
        y = rng.uniform(0, 1, shape) if draw(st.booleans()) else (rng.uniform(0, 1, shape) > 0.5)
        pw = _option(draw, [2.0, [0.5], np.array(3.0)], ["vector", "negative", "nan", "2d"])
        if not _omitted(pw):
            last = shape[-1] if shape else 1
            kw["pos_weight"] = {
                "vector": rng.uniform(0, 3, (last + 1,)),
                "negative": -1.0,
                "nan": np.nan,
                "2d": np.ones((2, 2)),
            }.get(pw, pw) if isinstance(pw, str) else pw  # fmt: skip
            if draw(st.booleans()) and shape and not isinstance(pw, str):
                kw["pos_weight"] = rng.uniform(0, 3, (last,))
        sw_shape = shape
    elif name == "categorical":
        y = (
            sp.softmax(rng.normal(0, 1, shape), axis=axis)
            if valid_axis and x.size
            else rng.uniform(size=shape)
        )
        if draw(st.booleans()) and valid_axis and x.size:
            y = (y == y.max(axis=axis, keepdims=True)).astype(np.int64)
        sw_shape = batch
    elif name == "sparse":
        y = rng.integers(0, max(C, 1), batch)
        ids = draw(st.sampled_from(["int64", "int8", "uint64", "float64", "float32"]))
        y = y.astype(ids)
        if draw(st.integers(0, 4)) == 0 and y.size:
            odd = draw(st.sampled_from([-1, C, 2**62, 2**64 - 1, 2.0**53, 0.5, -(2**40)]))
            if not np.can_cast(np.min_scalar_type(odd), y.dtype) or float(odd) != int(odd):
                y = y.astype(np.float64 if float(odd) != int(odd) or odd < 0 else np.uint64)
            y.flat[rng.integers(y.size)] = odd
        ig = _option(draw, [None, -1, 0, 2**70, np.int64(1)], [1.5, "x", True, [0]])
        if ig != "omit":
            kw["ignore_index"] = ig
        sw_shape = batch
    else:
        y = None
    if y is not None:
        y = np.asarray(y)
        if bad_target == "nan" and y.size:
            y = y.astype(np.float64)
            y.flat[rng.integers(y.size)] = np.nan
        elif bad_target == "range" and y.size:
            y = y.astype(np.float64)
            y.flat[rng.integers(y.size)] = 1.5 if name != "sparse" else C + 0.0
        elif bad_target == "shape":
            y = np.resize(y, tuple(d + 1 for d in y.shape) or (1,))
        arrays["y_true"] = y
        sw = _option(draw, [None, 0.5, "good", "zeros"], WEIGHT_BAD)
        if sw in ("good", "zeros"):
            kw["sample_weight"] = (
                np.zeros(sw_shape) if sw == "zeros" else _weights(rng, sw_shape, None)
            )
        elif isinstance(sw, str) and sw != "omit":
            kw["sample_weight"] = _weights(rng, sw_shape, sw)
        elif sw != "omit":
            kw["sample_weight"] = sw
        if name in ("categorical", "sparse"):
            cw = _option(draw, ["good"], WEIGHT_BAD)
            if cw != "omit":
                kw["class_weight"] = _weights(rng, (C,), None if cw == "good" else cw)
    kw = {k: v for k, v in kw.items() if not _omitted(v)}
    wraps = {k: draw(st.sampled_from(WRAPS)) for k in arrays}
    return name, arrays, wraps, kw


@pytest.fixture(scope="module")
def campaign_dir():
    """Where memmapped inputs live; with ``XENT_CAMPAIGN_EXAMPLES``, the outcome counts are
    printed at the end (run with ``-s`` to see them)."""
    with tempfile.TemporaryDirectory(prefix="xent-campaign-") as path:
        yield path
    if CAMPAIGN_EXAMPLES:
        kinds = ("valid", "compared", "ValueError", "TypeError")
        print("\ncampaign outcomes (compared: valid calls checked against the reference)")
        print(f"  {'function':12s}" + "".join(f"{k:>11s}" for k in kinds))
        for name in FUNCTIONS:
            print(f"  {name:12s}" + "".join(f"{OUTCOMES[name, k]:11d}" for k in kinds))


def _wrap(arr, how, directory, key):
    """``arr`` as the user might hand it over."""
    if how == "list":
        return arr.tolist()
    if how == "tuple":
        return tuple(arr.tolist()) if arr.ndim else arr[()]
    if how == "masked":
        return np.ma.masked_array(arr, mask=np.zeros(arr.shape, bool))
    if how == "matrix" and arr.ndim == 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return np.matrix(arr)
    if how == "memmap" and arr.size:
        path = os.path.join(directory, f"{key}-{len(os.listdir(directory))}.dat")
        mm = np.memmap(path, dtype=arr.dtype, mode="w+", shape=arr.shape)
        mm[...] = arr
        mm.flush()
        return np.memmap(path, dtype=arr.dtype, mode="r", shape=arr.shape)
    if how == "readonly":
        ro = arr.copy()
        ro.flags.writeable = False
        return ro
    if how == "reversed" and arr.ndim:
        return np.flip(np.flip(arr).copy())  # the same values through negative strides
    if how == "byteswap":
        return arr.astype(arr.dtype.newbyteorder())
    return arr


def _unchanged(before, after):
    if isinstance(after, np.ma.MaskedArray):
        return np.array_equal(after.data, before, equal_nan=True) and not after.mask.any()
    got = np.asarray(after)
    return got.shape == before.shape and np.array_equal(
        got.astype(np.float64), before.astype(np.float64), equal_nan=True
    )


def _safe(arrays, kw, name, from_logits):
    """Inputs where a textbook float64 formula is itself accurate: finite, moderate values."""
    x = np.asarray(arrays.get("y_pred", arrays.get("a")), dtype=np.float64)
    if not np.all(np.isfinite(x)) or np.any(np.abs(x) > 30):
        return False
    if not from_logits and x.size and (x.min() < 1e-3 or (name == "binary" and x.max() > 1 - 1e-3)):
        return False
    return all(np.all(np.isfinite(np.asarray(v, dtype=np.float64))) for v in arrays.values())


def _reference(name, arrays, kw):
    """(value, gradient or None) in float64, the class axis where the call has it."""
    x = np.asarray(arrays.get("y_pred", arrays.get("a")), dtype=np.float64)
    axis = kw.get("axis", -1)
    if name == "logsumexp":
        return sp.logsumexp(x, axis=axis, keepdims=bool(kw.get("keepdims", False))), None
    if name in ("log_softmax", "softmax"):
        return getattr(sp, name)(x, axis=axis), None
    if name in ("softplus", "log_sigmoid"):
        return (np.logaddexp(0, x) if name == "softplus" else -np.logaddexp(0, -x)), None
    common = {
        "from_logits": bool(kw.get("from_logits", False)),
        "sample_weight": kw.get("sample_weight"),
        "eps": float(kw.get("label_smoothing", 0.0)),
        "reduction": kw.get("reduction", "mean"),
    }
    y = np.asarray(arrays["y_true"])
    if name == "binary":
        return ref_binary(y, x, pos_weight=kw.get("pos_weight"), **common)
    cw = kw.get("class_weight")
    if name == "sparse":
        value, grad = ref_sparse(y, np.moveaxis(x, axis, -1), ignore_index=kw.get("ignore_index"),
                                 class_weight=cw, **common)  # fmt: skip
    else:
        value, grad = ref_categorical(np.moveaxis(y, axis, -1), np.moveaxis(x, axis, -1),
                                      class_weight=cw, **common)  # fmt: skip
    return value, np.moveaxis(grad, -1, axis)


@CAMPAIGN
@given(call=campaign_calls())
def test_campaign_every_function_returns_or_names_an_argument(campaign_dir, call):
    name, arrays, wraps, kw = call
    fn = FUNCTIONS[name]
    wrapped = {k: _wrap(v, wraps[k], campaign_dir, k) for k, v in arrays.items()}
    # What the user handed over, as an array: to check it is unchanged, and for the reference.
    seen = {k: np.array(np.ma.getdata(w), copy=True) for k, w in wrapped.items()}
    args = [wrapped["y_true"], wrapped["y_pred"]] if "y_true" in wrapped else [wrapped["a"]]
    message = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kw)
            outcome = "valid"
        except (ValueError, TypeError) as err:
            outcome, message = type(err).__name__, str(err)
    OUTCOMES[name, outcome] += 1
    if outcome != "valid":
        assert NAMES_AN_ARGUMENT.match(message), f"{outcome} names no argument: {message}"
    assert not caught, [str(w.message) for w in caught]
    for k, v in seen.items():
        assert _unchanged(v, wrapped[k]), f"{k} was modified"
    if outcome != "valid":
        return
    x = np.asarray(wrapped.get("y_pred", wrapped.get("a")))  # a list of float32 is float64
    dtype = x.dtype.newbyteorder("=") if x.dtype.kind == "f" else np.dtype(np.float64)
    value, grad = out if kw.get("return_grad", False) else (out, None)
    assert isinstance(value, (np.ndarray, np.floating)), type(value)
    assert value.dtype == dtype
    if grad is not None:
        assert grad.shape == x.shape
        assert grad.dtype == dtype
    from_logits = name not in ("binary", "categorical", "sparse") or bool(kw.get("from_logits"))
    if x.size and _safe(seen, kw, name, from_logits):
        want, want_grad = _reference(name, seen, kw)
        OUTCOMES[name, "compared"] += 1
        assert_close(value, want, dtype, f"{name} value")
        if grad is not None:
            assert_close(grad, want_grad, dtype, f"{name} gradient")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_two_class_pairs_check_their_targets_in_the_loss_loop(
    rng, monkeypatch, restore_threads, dtype, threads
):
    """Rows of two classes in contiguous pairs are checked by the loss's own loop as it reads
    their targets (the other layouts: by a pass before it). The same losses, bit for bit: with
    the gradient (checked first), class-major (axis 0), and one-hot rows as the sparse loss,
    over many blocks and spans, a last group of fewer than eight rows included."""
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)  # blocks of 256-512 rows
    xent.set_num_threads(threads)
    n = 3001
    x = (4 * rng.standard_normal((n, 2))).astype(dtype)
    x[5] = [np.inf, 1.0]  # (its targets [1, 0]: loss 0)
    y = rng.integers(0, 2, n)
    y[5] = 0
    t = rng.random((n, 2)).astype(dtype)
    t /= t.sum(axis=1, keepdims=True)
    t[5] = [1, 0]
    onehot = np.eye(2, dtype=dtype)[y]
    finite = x.astype(np.float64)
    finite[5] = [1e4, 1.0]  # the same loss, 0
    mixed = onehot.copy()
    mixed[600:1400] = t[600:1400]  # soft rows in some blocks, one-hot ones in the others
    for targets in (t, mixed, onehot):
        kw = {"from_logits": True}
        loss = cce(targets, x, **kw)
        loss_g, grad = cce(targets, x, return_grad=True, **kw)
        np.testing.assert_array_equal(loss, loss_g)
        np.testing.assert_array_equal(cce(targets.T, x.T, axis=0, **kw), loss)
        ref = -(targets * sp.log_softmax(finite, axis=1)).sum(axis=1)
        np.testing.assert_allclose(loss, np.mean(ref), rtol=1e-6)
    sparse, sparse_grad = xent.sparse_categorical_cross_entropy(y, x, **kw, return_grad=True)
    np.testing.assert_array_equal(cce(onehot, x, **kw), sparse)
    np.testing.assert_array_equal(grad, sparse_grad)  # (grad: of the last targets, one-hot)


def _assert_one_total_every_way(x, targets_list, kw, cw, s, class_major):
    """The categorical loss of each targets on one and two threads: the same bits forward and
    with the gradient of the mean (its targets checked before its kernel), and as class-major
    rows (axis 0, with ``class_major``); a sum the same with and without its gradient (checked
    as the kernel reads them); the mean against a float64 reference (class weights ``cw``,
    sample weights ``s``)."""
    for threads in (1, 2):
        xent.set_num_threads(threads)
        for targets in targets_list:
            loss = cce(targets, x, **kw)
            loss_g, _ = cce(targets, x, return_grad=True, **kw)
            np.testing.assert_array_equal(loss, loss_g)
            if class_major:
                np.testing.assert_array_equal(cce(targets.T, x.T, axis=0, **kw), loss)
            total, total_g = (
                cce(targets, x, reduction="sum", return_grad=g, **kw) for g in (False, True)
            )
            np.testing.assert_array_equal(total, total_g[0])
            w = targets.astype(np.float64) * cw
            ref = -(w * sp.log_softmax(x.astype(np.float64), axis=1)).sum(axis=1)
            np.testing.assert_allclose(loss, (s * ref).sum() / (s * w.sum(axis=1)).sum(), 1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [2, 3, 8, 10, 15])
@pytest.mark.parametrize("weighted", [False, True])
def test_few_class_rows_check_their_targets_from_the_loss_tiles(
    rng, monkeypatch, restore_threads, dtype, classes, weighted
):
    """Row-major rows of fewer than 16 classes (but the unweighted two-class pairs) in a block
    whose first row is not one-hot are checked from the loss kernel's tiles (body.h
    tile_check); the gradient's targets, class-major ones and blocks that may be one-hot by a
    pass before it. The mean's denominator is the same sum either way, so the loss has the same
    bits: forward, with the gradient, class-major (axis 0), with class and sample weights,
    blocks of one-hot rows as the sparse loss, over many blocks and spans on one and two
    threads, a block's last rows (fewer than sixteen, which the pass adds in another order)
    included."""
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    n = 3001
    x = (4 * rng.standard_normal((n, classes))).astype(dtype)
    y = rng.integers(0, classes, n)
    t = rng.random((n, classes)).astype(dtype)
    t /= t.sum(axis=1, keepdims=True)
    onehot = np.eye(classes, dtype=dtype)[y]
    mixed = onehot.copy()
    mixed[600:1400] = t[600:1400]  # soft rows in some blocks, one-hot ones in the others
    kw: dict = {"from_logits": True}
    cw, s = np.ones(classes), np.ones(n)
    if weighted:
        cw, s = rng.random(classes) + 0.5, rng.random(n)
        kw |= {"class_weight": cw, "sample_weight": s}
    _assert_one_total_every_way(x, (t, mixed, onehot), kw, cw, s, class_major=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("row", "bad"),
    [(0, "negative"), (1297, "above one"), (1700, "row sum"), (2999, "nan"), (3000, "row sum")],
)
def test_few_class_rows_name_a_bad_target_as_a_check_pass_does(
    rng, monkeypatch, restore_threads, dtype, row, bad
):
    """A bad target row of ten classes, found in the loss kernel's tiles, raises the message of
    the check of its block alone: the same as with the gradient of the mean (whose targets are
    checked by a pass before it), as with the gradient of the sum (checked as the kernel reads
    them) and as class-major (axis 0)."""
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    xent.set_num_threads(1)
    x = rng.standard_normal((3001, 10)).astype(dtype)
    t = np.full((3001, 10), 0.1, dtype)
    if bad == "negative":
        t[row, :2] = [-0.1, 0.3]
    elif bad == "above one":
        t[row] = 0.0
        t[row, 3] = 1.5
    elif bad == "row sum":
        t[row, 0] = 0.5
    else:
        t[row, 1] = np.nan
    messages = []
    for targets, logits, axis, grad, red in [
        (t, x, -1, False, "mean"),
        (t, x, -1, True, "mean"),
        (t.T, x.T, 0, False, "mean"),
        (t, x, -1, True, "sum"),
    ]:
        with pytest.raises(ValueError, match="y_true") as err:
            cce(targets, logits, from_logits=True, axis=axis, return_grad=grad, reduction=red)
        messages.append(str(err.value))
    assert messages[0] == messages[1] == messages[3]
    assert str(row) in messages[0], messages
    assert str(row) in messages[2], messages


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "classes", [49, 63, 64, 65, 80, 95, 96, 97, 100, 111, 112, 113, 127, 128, 129, 257, 1030]
)
@pytest.mark.parametrize("weights", ["none", "sample", "class"])
def test_many_class_rows_check_their_targets_in_the_weighted_sums_pass(
    rng, monkeypatch, restore_threads, dtype, classes, weights
):
    """Float32 rows of more classes than tiles take (from logits, no class weights) are checked
    by the loss's weighted sums' pass (body.h wsum_pass_s's CHECK, kernels.h xk_row_check),
    which adds each row's targets in the order of the check pass before the gradient of a mean
    (`stats`): the mean's denominator, and so the loss, has the same bits either way, also
    against class-major float32 rows (axis 0, checked by that pass), on one and two threads,
    over many blocks whose rows end anywhere in a vector of sixteen (float64 rows and class
    weights take the pass before: the same property)."""
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 64 * classes)  # 16 float32 rows, 8 float64
    n = 301
    x = (4 * rng.standard_normal((n, classes))).astype(dtype)
    y = rng.integers(0, classes, n)
    t = rng.random((n, classes)).astype(dtype) ** 4
    t /= t.sum(axis=1, keepdims=True)
    onehot = np.eye(classes, dtype=dtype)[y]
    mixed = t.copy()
    mixed[::3] = onehot[::3]  # one-hot rows among soft ones, first rows of blocks too
    kw: dict = {"from_logits": True}
    cw, s = np.ones(classes), np.ones(n)
    if weights == "sample":
        s = rng.random(n)
        s[5] = 0.0
        kw["sample_weight"] = s
    elif weights == "class":
        cw = rng.random(classes) + 0.5
        kw["class_weight"] = cw
    # (float64 rows of 16 classes or more: `stats` adds a row-major row's targets in lanes, a
    # class-major one in class order, a last bit apart)
    _assert_one_total_every_way(x, (t, mixed, onehot), kw, cw, s, class_major=dtype == np.float32)


@pytest.mark.parametrize("classes", [100, 1030])
@pytest.mark.parametrize(
    ("row", "bad"),
    [
        (0, "negative"),
        (97, "above one"),
        (98, "above one, sum 1"),
        (170, "row sum"),
        (233, "nan"),
        (240, "inf"),
        (300, "negative zero"),
    ],
)
def test_many_class_rows_name_a_bad_target_as_a_check_pass_does(
    rng, monkeypatch, restore_threads, classes, row, bad
):
    """A bad target row of float32 rows of many classes, found by the loss's weighted sums'
    pass, raises the message of the check of its block alone: the same as with the gradient
    of the mean (its targets checked by a pass before it) and of the sum, and as class-major
    (axis 0). An entry above 1 in a row that sums to 1 within the tolerance is found too, and
    -0.0 is a valid target."""
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 8 * classes * 4)
    xent.set_num_threads(1)
    x = rng.standard_normal((301, classes)).astype(np.float32)
    t = np.full((301, classes), 1 / classes, np.float32)
    if bad == "negative":
        t[row, :2] = [-0.1 / classes, 2.1 / classes]
    elif bad.startswith("above one"):
        t[row] = 0.0
        t[row, 3] = 1.00001 if bad.endswith("sum 1") else 1.5
    elif bad == "row sum":
        t[row, 0] = 0.5
    elif bad == "inf":
        t[row, 7] = np.inf
    elif bad == "nan":
        t[row, 1] = np.nan
    else:
        t[row] = 0.0
        t[row, 1:] = -0.0
        t[row, 0] = 1.0
        for axis, (tt, xx) in ((-1, (t, x)), (0, (t.T, x.T))):
            forward = cce(tt, xx, from_logits=True, axis=axis)
            np.testing.assert_array_equal(
                forward, cce(tt, xx, from_logits=True, axis=axis, return_grad=True)[0]
            )
        return
    messages = []
    for targets, logits, axis, grad, red in [
        (t, x, -1, False, "mean"),
        (t, x, -1, True, "mean"),
        (t.T, x.T, 0, False, "mean"),
        (t, x, -1, True, "sum"),
        (t, x, -1, False, "none"),
    ]:
        with pytest.raises(ValueError, match="y_true") as err:
            cce(targets, logits, from_logits=True, axis=axis, return_grad=grad, reduction=red)
        messages.append(str(err.value))
    assert messages[0] == messages[1] == messages[3] == messages[4]
    assert str(row) in messages[0], messages
    assert str(row) in messages[2], messages


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("row", "bad"),
    [
        (0, "negative"),
        (1297, "above one"),
        (1700, "row sum"),
        (2999, "nan"),  # in the last group of fewer than eight rows
        (3000, "row sum"),
    ],
)
def test_two_class_pairs_name_a_bad_target_as_a_check_pass_does(
    rng, monkeypatch, restore_threads, dtype, row, bad
):
    """A bad target row of two classes in contiguous pairs, found by the loss's loop, raises
    the message of the check of its block alone: the same as with the gradient (whose targets
    are checked before its pass) and as class-major (axis 0, checked by the pass)."""
    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    xent.set_num_threads(1)
    x = rng.standard_normal((3001, 2)).astype(dtype)
    t = np.full((3001, 2), 0.5, dtype)
    if bad == "negative":
        t[row] = [-0.25, 1.25]
    elif bad == "above one":
        t[row] = [1.5, 0.0]
    elif bad == "row sum":
        t[row] = [0.75, 0.5]
    else:
        t[row, 1] = np.nan
    messages = []
    for targets, logits, axis, grad in [
        (t, x, -1, False),
        (t, x, -1, True),
        (t.T, x.T, 0, False),
    ]:
        with pytest.raises(ValueError, match="y_true") as err:
            cce(targets, logits, from_logits=True, axis=axis, return_grad=grad)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    col = 1 if bad == "nan" else 0
    index, transposed = (
        (str(row),) * 2 if bad == "row sum" else (f"({row}, {col})", f"({col}, {row})")
    )
    assert index in messages[0], messages
    assert transposed in messages[2], messages
