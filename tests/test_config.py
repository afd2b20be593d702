"""xent.show_config: what the build runs on."""

from __future__ import annotations

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


def test_stdout_prints_every_key(capsys):
    assert xent.show_config() is None
    printed = capsys.readouterr().out
    for key in xent.show_config(mode="dicts"):
        assert f"{key}: " in printed


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match=r"mode must be 'stdout' or 'dicts'; got 'json'\."):
        xent.show_config(mode="json")  # type: ignore[call-overload]
