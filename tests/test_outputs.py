"""The reuse of large outputs' memory (xent/_outputs.py, xent/_kernels/buffers.h): which
outputs take it, that a freed block comes back for the next output of its size, the limits, the
settings and their errors, and that results do not depend on it."""

from __future__ import annotations

import gc
import importlib
import threading

import numpy as np
import pytest

import xent
from xent import _outputs

_get_handler_name = importlib.import_module("numpy._core.multiarray").get_handler_name
HANDLER = "xent_output_reuse"
#: rows x classes of a float64 output of 32 MiB, the size glibc always maps fresh
BIG = (4200, 1000)


@pytest.fixture(autouse=True)
def _default_cache():
    """Each test starts with the default limit and nothing kept, and leaves them so."""
    xent.set_output_cache(0)
    xent.set_output_cache(None)
    yield
    xent.set_output_cache(0)
    xent.set_output_cache(None)


def _logits(shape=BIG, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_large_outputs_come_from_the_handler_small_ones_from_numpy():
    x = _logits()
    assert x.nbytes >= _outputs.MIN_BYTES
    y = np.zeros(x.shape[0], np.int64)
    _, g = xent.sparse_categorical_cross_entropy(y, x, from_logits=True, return_grad=True)
    assert _get_handler_name(g) == HANDLER
    assert g.flags.owndata
    assert _get_handler_name(xent.log_softmax(x, axis=-1)) == HANDLER
    assert _get_handler_name(xent.softmax(x, axis=0)) == HANDLER
    small = x[:100]
    assert _get_handler_name(xent.softmax(small, axis=-1)) != HANDLER
    # the threshold: an output of MIN_BYTES takes the handler, one entry less does not
    edge = _logits((_outputs.MIN_BYTES // 8 // 128, 128))
    assert _get_handler_name(xent.softmax(edge, axis=-1)) == HANDLER
    assert _get_handler_name(xent.softmax(edge[1:], axis=-1)) != HANDLER
    xent.set_output_cache(0)
    assert _get_handler_name(xent.softmax(x, axis=-1)) != HANDLER


def test_a_freed_output_is_given_to_the_next_of_its_size():
    x = _logits()
    first = xent.log_softmax(x, axis=-1)
    address = first.ctypes.data
    stats = _outputs.output_cache_stats()
    assert stats["blocks"] == 0
    del first
    gc.collect()
    stats = _outputs.output_cache_stats()
    assert stats == {**stats, "bytes": x.nbytes, "blocks": 1}
    second = xent.softmax(x, axis=-1)
    assert second.ctypes.data == address
    after = _outputs.output_cache_stats()
    assert after["reused"] == stats["reused"] + 1
    assert after["blocks"] == 0
    # the reused memory holds the new result, not the old one
    expected = xent.softmax(x[:100], axis=-1)
    np.testing.assert_array_equal(second[:100], expected)
    # another size does not take it: a fresh block
    del second
    other = xent.softmax(_logits((4300, 1000)), axis=-1)
    assert _outputs.output_cache_stats()["fresh"] == after["fresh"] + 1
    assert other.ctypes.data != address


def test_results_are_the_same_bits_with_and_without_reuse():
    x = _logits(dtype=np.float32)
    x[3, 5] = np.inf
    x[7] = -np.inf
    y = np.random.default_rng(1).integers(0, x.shape[1], x.shape[0])
    t = xent.softmax(_logits(seed=2), axis=-1)

    def outputs():
        got = [xent.log_softmax(x, axis=-1), xent.softmax(x, axis=0)]
        got += xent.sparse_categorical_cross_entropy(y, x, from_logits=True, return_grad=True)
        got += xent.categorical_cross_entropy(t, x, from_logits=True, return_grad=True)
        got += [xent.binary_cross_entropy(t, x, from_logits=True, reduction="none")]
        got += xent.kl_divergence(t, x, from_logits=True, return_grad=True)
        return [np.array(a, copy=True) for a in got]

    with_reuse = outputs()
    with_reuse_again = outputs()  # from the blocks the first call freed
    xent.set_output_cache(0)
    fresh = outputs()
    for a, b, c in zip(with_reuse, with_reuse_again, fresh, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


def test_the_limits_on_what_is_kept():
    x = _logits()
    xent.set_output_cache(x.nbytes - 1)  # below one block: nothing kept
    out = xent.softmax(x, axis=-1)
    del out
    assert _outputs.output_cache_stats()["blocks"] == 0
    # at most four blocks, the oldest freed first
    xent.set_output_cache(None)
    outs = [xent.softmax(_logits((4200 + 10 * k, 1000)), axis=-1) for k in range(6)]
    sizes = [o.nbytes for o in outs]
    while outs:  # freed first to last
        outs.pop(0)
    stats = _outputs.output_cache_stats()
    assert stats["blocks"] == 4
    assert stats["bytes"] == sum(sizes[2:])
    # lowering the limit frees what exceeds it, 0 all of it
    xent.set_output_cache(sizes[5])
    assert _outputs.output_cache_stats()["bytes"] == sizes[5]
    xent.set_output_cache(0)
    assert _outputs.output_cache_stats() == {**stats, "bytes": 0, "blocks": 0}


def test_a_reused_output_can_be_resized_in_place():
    # ndarray.resize goes through the handler's realloc, which keeps the data's offset
    x = _logits()
    out = xent.log_softmax(x, axis=-1)
    expected = out.copy()
    out.resize((x.shape[0] + 100, x.shape[1]), refcheck=False)
    np.testing.assert_array_equal(out[: x.shape[0]], expected)
    out.resize((10, x.shape[1]), refcheck=False)
    np.testing.assert_array_equal(out, expected[:10])
    del out
    gc.collect()
    assert _outputs.output_cache_stats()["blocks"] == 1


def test_outputs_freed_in_other_threads():
    x = _logits()
    outs = [xent.softmax(x, axis=-1) for _ in range(3)]
    threads = [threading.Thread(target=outs.pop) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    gc.collect()
    assert _outputs.output_cache_stats()["blocks"] == 3
    again = [xent.softmax(x, axis=-1) for _ in range(3)]
    assert _outputs.output_cache_stats()["blocks"] == 0
    np.testing.assert_array_equal(again[0], again[2])


def test_get_and_set():
    xent.set_output_cache(12345)
    assert xent.get_output_cache() == 12345
    assert xent.show_config(mode="dicts")["output_cache"] == 12345
    xent.set_output_cache(np.int64(0))
    assert xent.get_output_cache() == 0
    xent.set_output_cache(None)
    assert xent.get_output_cache() == 2**30


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True, [1]])
def test_a_bad_limit_is_named(bad):
    with pytest.raises(ValueError, match=r"nbytes must be a non-negative integer or None; got "):
        xent.set_output_cache(bad)
    assert xent.get_output_cache() == 2**30


def test_the_environment_variable(monkeypatch):
    monkeypatch.setenv("XENT_OUTPUT_CACHE", " 1000 ")
    xent.set_output_cache(None)
    assert xent.get_output_cache() == 1000
    monkeypatch.setenv("XENT_OUTPUT_CACHE", "1GB")
    with pytest.raises(
        ValueError,
        match=r"XENT_OUTPUT_CACHE must be a non-negative integer number of bytes; got '1GB'\.",
    ):
        xent.set_output_cache(None)
    # read when first needed: a bad value fails the first large output, not the import
    monkeypatch.setattr(_outputs, "_limit", None)
    with pytest.raises(ValueError, match="XENT_OUTPUT_CACHE"):
        xent.softmax(_logits(), axis=-1)
    monkeypatch.delenv("XENT_OUTPUT_CACHE")
    xent.set_output_cache(None)
    assert xent.get_output_cache() == 2**30
