"""Smoke test of the benchmark harness (benchmarks/): tiny shapes, a few seconds."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks._data import Case, Data, make_data, parse_shape, reference_loss, reference_rows  # noqa: E402
from benchmarks._harness import measure_memory, relative_error, run_case  # noqa: E402
from benchmarks._impls import Impl, build_textbook, find_impl, implementations  # noqa: E402

TINY = [
    "--ops",
    "sparse,sparse_grad,categorical,binary_grad,logsumexp,log_softmax",
    "--shapes",
    "512x2,64x100",
    "--dtypes",
    "float32",
    "--dists",
    "random",
    "--binary-size",
    "2000",
    "--repeats",
    "2",
    "--min-repeats",
    "1",
    "--budget",
    "0",
    "--no-memory",
    "--no-progress",
]


def test_main_writes_json_markdown_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*TINY, "--output-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "exp floor" in printed
    assert "targets" in printed

    doc = json.loads((tmp_path / "latest.json").read_text())
    assert {"meta", "cases", "memory", "targets"} <= doc.keys()
    # 5 matrix ops x 2 shapes + binary_grad
    assert len(doc["cases"]) == 5 * 2 + 1
    for case in doc["cases"]:
        assert case["floor_seconds"] > 0
        impls = {i["key"]: i for i in case["implementations"]}
        for key in ("naive", "numpy", "scipy"):
            assert impls[key]["status"] == "ok", (case["op"], impls[key])
            assert impls[key]["seconds"] > 0
            assert impls[key]["error"] <= 1000 * np.finfo(np.float32).eps
        assert "of" in impls["naive"]["note"]  # "<k> of <n> rows": timed on a subset

    markdown = (tmp_path / "latest.md").read_text()
    assert "| shape | dtype | input | exp floor |" in markdown
    assert list(tmp_path.glob("bench-*.json"))
    assert list(tmp_path.glob("bench-*.md"))
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "latest.png").exists()


def test_wrong_answer_is_reported_and_not_timed() -> None:
    def off_by_one_percent(op: str, data: Data, part: slice) -> Callable[[], Any]:
        right = build_textbook(op, data, part)
        return lambda: right() * 1.01

    case = Case("logsumexp", (32, 10), "float64", "random")
    data = make_data(case.family, case.shape, case.dtype, case.dist)
    impls = [find_impl("numpy", 1), Impl("bad", "bad", "numpy", off_by_one_percent)]
    result = run_case(case, data, impls, min_rounds=1, max_rounds=1, budget=0)
    good, bad = result.timings
    assert good.status == "ok"
    assert good.seconds is not None
    assert bad.status == "wrong"
    assert bad.seconds is None
    assert bad.samples == []


def test_reference_is_float64_and_independent_of_xent() -> None:
    data = make_data("matrix", (4, 3), "float32", "random")
    loss = reference_loss("sparse_grad", data, slice(None))
    _, grad = reference_rows("sparse_grad", data, slice(None), np.arange(4))
    x = data.x.astype(np.float64)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    want = -np.mean(np.log(p[np.arange(4), data.y]))
    assert relative_error(loss, want) < 1e-14
    assert grad is not None
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)


def test_trained_logits_favour_the_true_class() -> None:
    data = make_data("matrix", (1000, 10), "float32", "trained")
    hit = np.mean(data.x.argmax(axis=1) == data.y)
    assert 0.85 < hit < 0.97


def test_memory_is_measured_in_a_fresh_process() -> None:
    case = Case("sparse_grad", (256, 1000), "float32", "random")
    mem = measure_memory(case, find_impl("numpy", 1), timeout=60)
    assert mem.note == ""
    assert mem.method == "tracemalloc"
    assert mem.ratio is not None
    # the textbook gradient allocates at least the gradient itself
    assert mem.ratio >= 1.0


def test_implementations_and_shapes() -> None:
    assert parse_shape("2,048x32,000") == (2048, 32000)
    with pytest.raises(ValueError, match="bad shape"):
        parse_shape("x")
    keys = [i.key for i in implementations(4)]
    assert keys == ["naive", "numpy", "scipy", "torch-1", "torch-N", "xent-1", "xent-N"]
    assert "torch-N" not in [i.key for i in implementations(1)]
