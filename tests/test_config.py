"""xent.show_config: what the build runs on."""

from __future__ import annotations

import os
import platform
import shutil
import types

import pytest

import xent
from xent._kernels import _core


def test_dicts_name_the_variant_in_use():
    config = xent.show_config(mode="dicts")
    assert config["kernel"] == "compiled"
    assert config["simd"] == _core.get_variant()
    assert config["simd"] in config["simd_supported"]
    assert set(config["simd_supported"]) <= set(config["simd_compiled"])
    assert config["simd_compiled"][-1] == "baseline"
    assert config["threads"] == xent.get_num_threads()
    # POSIX builds have the kernel's helper threads (pool.h)
    want = "kernel (C)" if hasattr(os, "fork") else "Python"
    assert (
        config["thread_helpers"] == want == ("kernel (C)" if _core.pool_supported() else "Python")
    )
    assert config["simd_fma"] is _core.fused()
    assert config["simd_registers"] is _core.in_registers()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 variants")
def test_the_x86_variants_that_fuse_multiply_adds():
    # AVX2 and AVX-512 imply the FMA instruction; the baseline is for CPUs without it, where
    # C's fma() would be software (hundreds of ns a call), so it rounds a b + c in two steps
    assert [_core.fused(name) for name, _ in _core.variants()] == [True, True, False]
    assert _core.fused() is _core.fused(_core.get_variant())


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or shutil.which("g++") is None,
    reason="x86-64 variants, the AVX2 one compiled as C++",
)
def test_the_x86_variants_that_keep_their_vectors_in_registers():
    # 64-byte vectors: one zmm register with AVX-512, two ymm as C++'s structs of halves in
    # the AVX2 variant (in memory if it was compiled as C); the SSE2 baseline keeps them in
    # memory
    assert [_core.in_registers(name) for name, _ in _core.variants()] == [True, True, False]
    assert _core.in_registers() is _core.in_registers(_core.get_variant())


def test_stdout_prints_every_key(capsys):
    assert xent.show_config() is None
    printed = capsys.readouterr().out
    for key in xent.show_config(mode="dicts"):
        assert f"{key}: " in printed


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match=r"mode must be 'stdout' or 'dicts'; got 'json'\."):
        xent.show_config(mode="json")  # type: ignore[call-overload]


def test_the_namespace_holds_the_public_api_only():
    # names a module brought in for itself (importlib's helpers, say) are not xent's API
    public = {
        name
        for name, value in vars(xent).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(xent.__all__) - {"__version__"}
    assert isinstance(xent.__version__, str)
    assert xent.__version__
