"""Smoke test of the benchmark harness (benchmarks/): tiny shapes, a few seconds."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import _machine, _targets  # noqa: E402
from benchmarks._data import Case, Data, make_data, parse_shape, reference_loss, reference_rows  # noqa: E402
from benchmarks._harness import CaseResult, Memory, Timing, measure_memory, relative_error, run_case  # noqa: E402
from benchmarks._impls import Impl, build_textbook, find_impl, implementations  # noqa: E402

TINY = [
    "--ops",
    "sparse,sparse_grad,categorical,binary_grad,logsumexp,log_softmax,softmax",
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
    "--small-batches",
    "none",
]


def test_main_writes_json_markdown_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*TINY, "--output-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "exp floor" in printed
    assert "read floor" in printed
    assert "NumPy SIMD:" in printed
    assert "targets" in printed

    doc = json.loads((tmp_path / "latest.json").read_text())
    assert {"meta", "cases", "memory", "targets"} <= doc.keys()
    # 6 matrix ops x 2 shapes + binary_grad
    assert len(doc["cases"]) == 6 * 2 + 1
    assert doc["meta"]["machine"]["floors_ns_per_element"]["float64"]["exp"] > 0
    for case in doc["cases"]:
        assert case["floor_seconds"] > 0
        assert case["read_floor_seconds"] > 0
        impls = {i["key"]: i for i in case["implementations"]}
        assert impls["read"]["ratio_to_floor"] > 0
        assert all("ratio_to_torch_1t" in i for i in impls.values())
        for key in ("naive", "numpy", "scipy"):
            assert impls[key]["status"] == "ok", (case["op"], impls[key])
            assert impls[key]["seconds"] > 0
            assert impls[key]["error"] <= 1000 * np.finfo(np.float32).eps
        assert "of" in impls["naive"]["note"]  # "<k> of <n> rows": timed on a subset

    markdown = (tmp_path / "latest.md").read_text()
    assert "| shape | dtype | input | exp floor | read floor |" in markdown
    assert list(tmp_path.glob("bench-*.json"))
    assert list(tmp_path.glob("bench-*.md"))
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "latest.png").exists()


def test_a_torch_sample_is_followed_by_a_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    # PyTorch's OpenMP threads spin after a call, on the cores the next sample needs
    from benchmarks import _harness

    pauses: list[float] = []
    monkeypatch.setattr(_harness.time, "sleep", pauses.append)
    calls: list[str] = []
    for library in ("numpy", "torch"):
        impl = Impl(library, library, library, build_textbook)
        seconds = _harness._sample(impl, lambda library=library: calls.append(library), 3, False)
        assert seconds >= 0
    assert calls == ["numpy"] * 3 + ["torch"] * 3
    assert pauses == [_harness.TORCH_SETTLE_SECONDS]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The harness's clock, advanced by hand (clock[0] seconds); its pauses take no time."""
    from benchmarks import _harness

    now = [0.0]
    monkeypatch.setattr(_harness.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(_harness.time, "perf_counter", lambda: now[0])
    return now


def test_a_short_sample_after_a_pause_starts_with_untimed_calls(clock: list[float]) -> None:
    # the first calls on cores woken from idle (or after PyTorch's) are slow: untimed calls
    # for PRIME_SECONDS, one at least, come first; a call longer than that is primed once
    from benchmarks import _harness

    calls: list[str] = []
    impl = Impl("numpy", "numpy", "numpy", build_textbook)
    step = _harness.PRIME_SECONDS / 4
    for seconds, prime, after_pause, expected in (
        (step, True, True, 2 + 4),
        (2 * _harness.PRIME_SECONDS, True, True, 2 + 1),
        (step, True, False, 2),
        (step, False, True, 2),
    ):

        def call(seconds: float = seconds) -> None:
            calls.append("numpy")
            clock[0] += seconds

        calls.clear()
        _harness._sample(impl, call, 2, prime, after_pause)
        assert len(calls) == expected, (seconds, prime, after_pause)


def test_a_sample_repeats_the_call_by_the_quicker_of_its_first_two_calls(
    clock: list[float],
) -> None:
    # a first call's one-off cost (a lazy start-up, say) made a 2 us call's samples single
    # calls; the garbage collector is off through the checks and the rounds
    import gc

    from benchmarks import _harness

    collector: list[bool] = []

    def slow_first(op: str, data: Data, part: slice) -> Callable[[], Any]:
        right = build_textbook(op, data, part)
        costs = iter([2.0**-7] + [2.0**-13] * 100_000)  # 7.8 ms, then 0.12 ms a call

        def call() -> Any:
            clock[0] += next(costs)
            collector.append(gc.isenabled())
            return right()

        return call

    case = Case("logsumexp", (32, 10), "float64", "random")
    data = make_data(case.family, case.shape, case.dtype, case.dist)
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        result = run_case(
            case, data, [Impl("slow", "slow", "numpy", slow_first)], min_rounds=2, max_rounds=2,
            budget=0,
        )  # fmt: skip
        assert gc.isenabled()
    finally:
        if not was_enabled:
            gc.disable()
    (timing,) = result.timings
    assert timing.number == math.ceil(_harness.MIN_SAMPLE_SECONDS / 2.0**-13)
    assert timing.seconds == 2.0**-13
    assert len(collector) == 2 + 2 * timing.number
    assert not any(collector)


def test_noisy_samples_are_told_apart() -> None:
    from benchmarks._harness import NOISY_SPREAD, noisy

    assert not noisy([])
    assert not noisy([1.0])
    assert not noisy([1.0, 1.0 + 0.9 * NOISY_SPREAD, 1.05])
    assert noisy([1.0, 1.0 + 1.1 * NOISY_SPREAD, 1.05])
    assert noisy([6.75, 10.08, 9.12])  # a case of a shared machine's run


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
    assert keys == [
        "naive",
        "numpy",
        "scipy",
        "torch-1",
        "torch-N",
        "xent-1",
        "xent-plain",
        "xent-N",
    ]
    assert "torch-N" not in [i.key for i in implementations(1)]


# --- header ----------------------------------------------------------------------------------


def _fake_xent(monkeypatch: pytest.MonkeyPatch, show_config: Any = None) -> None:
    fake = types.SimpleNamespace(set_num_threads=lambda n: None)
    if show_config is not None:
        fake.show_config = show_config
    monkeypatch.setattr(_machine, "load_xent", lambda: fake)


def test_header_without_a_compiled_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_xent(monkeypatch)
    machine = _machine.describe(measure_floors=False)
    text = "\n".join(_machine.header_lines(machine))
    assert "simd: n/a (no compiled kernel)" in text
    assert f"CPU: {_machine.cpu_model()}" in text
    assert f"NumPy SIMD: {machine['numpy_simd']['level']}" in text
    assert machine["usable_cores"] >= 1


def test_header_names_the_kernels_simd_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    def show_config(mode: str = "stdout") -> dict[str, Any] | None:
        assert mode == "dicts"
        return {"kernel": "compiled", "simd": "avx2"}

    _fake_xent(monkeypatch, show_config)
    machine = _machine.describe(measure_floors=False)
    assert machine["xent_kernel"] == {"kernel": "compiled", "simd": "avx2"}
    assert "xent kernel: compiled, simd: avx2;" in _machine.header_lines(machine)[1] + ";"
    machine["xent_kernel"]["simd_fma"] = True
    assert "simd: avx2 (multiply-adds fused)" in _machine.header_lines(machine)[1]
    machine["xent_kernel"]["simd_registers"] = False  # an AVX2 variant compiled as C
    header = _machine.header_lines(machine)[1]
    assert "avx2 (multiply-adds fused) (vectors in memory: slower)" in header


def test_numpy_simd_level_is_one_it_found_or_its_baseline() -> None:
    simd = _machine.numpy_simd()
    assert simd["level"].split(" ")[0] in [*simd["found"], *simd["baseline"], "unknown"]


def test_floors_per_element_are_measured_for_both_dtypes() -> None:
    floors = _machine.floors_ns(n=1 << 12)
    assert set(floors) == {"float32", "float64"}
    for f in floors.values():
        assert f["exp"] > 0
        assert f["read"] > 0


# --- targets ---------------------------------------------------------------------------------


def _result(
    op: str, shape: tuple[int, ...], dtype: str = "float32", **seconds: float
) -> CaseResult:
    """A case whose exp floor takes 1 s and whose implementations take ``seconds`` (by key, with
    "_" for "-": xent_1=1.2 is xent 1T at 1.2x the floor)."""
    timings = [
        Timing(key.replace("_", "-"), key, "ok", seconds=value) for key, value in seconds.items()
    ]
    floor = Timing("floor", "exp floor", "ok", seconds=1.0)
    read = Timing("read", "read floor", "ok", seconds=0.25)
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return CaseResult(Case(op, shape, dtype, "random"), nbytes, floor, read, timings, rounds=1)


def _by_name(targets: list[_targets.Target], *words: str) -> _targets.Target:
    (found,) = [t for t in targets if all(w in t.name for w in words)]
    return found


def test_exp_floor_targets_pass_and_miss_by_how_much() -> None:
    results = [
        _result("sparse", (8192, 1000), xent_1=1.4),
        _result("sparse", (8192, 1000), "float64", xent_1=1.5),
        _result("sparse", (65536, 10), xent_1=4.5),
    ]
    targets = _targets.timing_targets(results, threads=2)
    many = _by_name(targets, "sparse CE forward", "1.5x exp floor")
    assert many.status == "PASS"
    assert "2/2 cases within" in many.detail
    few = _by_name(targets, "sparse CE forward", "3x exp floor")
    assert few.status == "MISS"
    assert "worst 4.5x" in few.detail
    assert "missed by 50%" in few.detail
    assert _by_name(targets, "sparse CE with gradient", "2.5x").status == "SKIP"


def test_torch_threads_sparse_and_scipy_targets() -> None:
    big = (1 << 20, 2)  # 8 MiB of float32
    results = [
        _result("sparse", big, xent_1=2.0, xent_N=1.0, torch_1=2.5),
        _result("categorical", big, xent_1=2.8, xent_N=2.0),
        _result("logsumexp", (64, 100), xent_1=1.0, scipy=3.0),
    ]
    targets = _targets.timing_targets(results, threads=2)
    assert _by_name(targets, "sparse CE forward", "torch 1T").status == "PASS"
    assert _by_name(targets, "categorical CE forward", "torch 1T").status == "SKIP"
    threads = _by_name(targets, "2T >= 1.7x faster than 1T")
    assert threads.status == "MISS"
    assert "worst 1.4x at categorical" in threads.detail
    assert "missed by 21%" in threads.detail  # 1.7 / 1.4 = 1.21
    assert "1/2 cases within" in threads.detail
    vs_sparse = _by_name(targets, "categorical CE forward", "sparse CE at the same shape")
    assert vs_sparse.status == "MISS"
    assert "worst 1.4x" in vs_sparse.detail
    scipy = _by_name(targets, "logsumexp", "SciPy")
    assert scipy.status == "MISS"
    assert "missed by 33%" in scipy.detail
    assert _by_name(targets, "log_softmax", "SciPy").status == "SKIP"


def test_a_wrong_xent_result_misses_its_targets() -> None:
    r = _result("binary", (10**6,), torch_1=1.0)
    r.timings.append(Timing("xent-1", "xent 1T", "wrong", note="error 0.1 > tolerance"))
    target = _by_name(_targets.timing_targets([r], threads=1), "binary CE forward", "exp floor")
    assert target.status == "MISS"
    assert "xent wrong" in target.detail


def test_memory_targets_count_the_offset_and_the_output() -> None:
    mib = _targets.MIB

    def mem(op: str, peak: float) -> Memory:
        return Memory(op, "1,048,576x2", "float32", "xent-1", "xent 1T", 8 * mib, peak=int(peak))

    # forward: <= 0.05 x 8 MiB + 8 MiB = 8.4 MiB; with the gradient: <= 1.05 x 8 + 8 = 16.4 MiB
    ok = _targets.memory_targets([mem("sparse", 8.3 * mib), mem("sparse_grad", 16.3 * mib)])
    assert [t.status for t in ok] == ["PASS", "PASS"]
    bad = _targets.memory_targets([mem("sparse", 13.9 * mib), mem("sparse_grad", 16.3 * mib)])
    assert [t.status for t in bad] == ["MISS", "PASS"]
    assert "13.9 MiB" in bad[0].detail
    assert "missed by 65%" in bad[0].detail


def test_small_batches_are_planned_and_count_against_pytorch_only() -> None:
    """The default run times the losses at small batches too; there the goals against PyTorch
    hold (every size), the kernel's ratios to the exp floor do not apply (1 MiB or more)."""
    cases = cli.plan_cases(cli.parse_args([]))
    assert Case("sparse", (64, 10), "float32", "random") in cases
    assert Case("categorical_grad", (256, 100), "float32", "random") in cases
    assert Case("binary", (1000,), "float32", "random") in cases
    assert len(cases) == len(set(cases))
    assert not any(c.shape == (64, 10) for c in cli.plan_cases(cli.parse_args(["--quick"])))
    none = cli.plan_cases(cli.parse_args(["--small-batches", "none"]))
    assert not any(c.shape == (64, 10) for c in none)

    results = [
        _result("sparse", (64, 10), xent_1=40.0, torch_1=10.0),
        _result("sparse", (65536, 10), xent_1=2.0, torch_1=4.0),
    ]
    targets = _targets.timing_targets(results, threads=1)
    vs_torch = _by_name(targets, "sparse CE forward", "torch 1T", "every size")
    assert vs_torch.status == "MISS"
    assert "at sparse 64x10 float32" in vs_torch.detail
    floor = _by_name(targets, "sparse CE forward", "3x exp floor", "1 MiB or more")
    assert floor.status == "PASS"
    assert "1/1 cases within" in floor.detail


def test_verdict_with_nothing_measured_is_a_skip() -> None:
    assert _targets.verdict("x", [], skip="why").status == "SKIP"
    at_least = _targets.verdict("x", [_targets.Point(0.0, 4.0, "here")], at_least=True)
    assert at_least.status == "MISS"


def test_memory_plan_covers_the_two_class_shape() -> None:
    for argv, two_classes in (([], (1 << 20, 2)), (["--quick"], (16384, 2))):
        args = cli.parse_args(argv)
        jobs = cli.memory_jobs(args, implementations(args.threads))
        shapes = {(case.op, case.shape) for case, impl in jobs if impl.key == "xent-1"}
        assert ("sparse", two_classes) in shapes
        assert ("sparse_grad", two_classes) in shapes
    # sparse CE at every default shape; the other ops up to 10 million logits
    full = cli.parse_args([])
    full_shapes = {(c.op, c.shape) for c, _ in cli.memory_jobs(full, implementations(2))}
    assert ("sparse_grad", (2048, 32000)) in full_shapes
    assert ("categorical", (2048, 32000)) not in full_shapes
    assert ("categorical", (1 << 20, 2)) in full_shapes


@pytest.mark.parametrize(
    ("op", "shape"),
    [
        ("sparse_zloss", (64, 10)),
        ("sparse_focal", (64, 10)),
        ("categorical_focal", (64, 10)),
        ("binary_focal", (500,)),
        ("kl", (64, 10)),
    ],
)
def test_loss_variants_are_checked_and_timed(op: str, shape: tuple[int, ...]) -> None:
    """The z-loss, focal and KL rows: xent and PyTorch against the float64 formula; the other
    baselines report n/a rather than timing a different loss."""
    case = Case(op, shape, "float64", "random")
    data = make_data(case.family, case.shape, case.dtype, case.dist)
    impls = [find_impl(key, 1) for key in ("numpy", "torch-1", "xent-1")]
    result = run_case(case, data, impls, min_rounds=1, max_rounds=1, budget=0)
    numpy_t, torch_t, xent_t = result.timings
    assert numpy_t.status == "n/a"
    assert "timed for xent and PyTorch" in numpy_t.note
    assert xent_t.status == "ok", xent_t.note
    assert xent_t.error <= 1e-12
    if torch_t.note != "not installed":
        assert torch_t.status == "ok", torch_t.note


def test_loss_variants_are_measured_against_the_plain_loss() -> None:
    results = [
        _result("sparse", (8192, 1000), xent_1=2.0),
        _result("sparse_focal", (8192, 1000), xent_1=3.0),
        _result("sparse_zloss", (8192, 1000), xent_1=2.2),
    ]
    targets = _targets.timing_targets(results, threads=2)
    focal = _by_name(targets, "sparse focal loss forward", "plain loss")
    assert focal.status == "MISS"
    assert "worst 1.5x" in focal.detail
    assert _by_name(targets, "sparse CE with z-loss forward", "plain loss").status == "PASS"
    assert _by_name(targets, "binary focal loss forward", "plain loss").status == "SKIP"


def test_kl_is_measured_against_the_plain_categorical_loss() -> None:
    results = [
        _result("categorical", (8192, 1000), xent_1=2.0),
        _result("kl", (8192, 1000), xent_1=2.4),
    ]
    targets = _targets.timing_targets(results, threads=2)
    kl = _by_name(targets, "KL divergence forward", "plain loss")
    assert kl.status == "PASS"
    assert "1.2x" in kl.detail


def test_loss_variants_prefer_the_plain_loss_timed_in_their_own_rounds() -> None:
    """A plain loss timed in the variant's interleaved rounds (xent-plain) decides, not the
    plain loss's own case, which ran at another time."""
    results = [
        _result("binary", (1000,), xent_1=1.0),  # timed minutes apart: would give 1.6x
        _result("binary_focal", (1000,), xent_1=1.6, xent_plain=1.25),
    ]
    targets = _targets.timing_targets(results, threads=2)
    focal = _by_name(targets, "binary focal loss forward", "plain loss")
    assert focal.status == "PASS"
    assert "1.28x" in focal.detail


def test_the_plain_baseline_is_timed_for_variants_only_and_not_checked() -> None:
    """xent-plain builds the plain loss for a variant (timed, error None, a note), and
    nothing for other operations."""
    from benchmarks._impls import build_xent_plain

    case = Case("binary_focal", (1000,), "float32", "random")
    data = make_data(case.family, case.shape, case.dtype, case.dist)
    plain = find_impl("xent-plain", 2)
    assert not plain.checked
    result = run_case(case, data, [plain], min_rounds=1, max_rounds=1, budget=0)
    (t,) = result.timings
    assert t.status == "ok"
    assert t.error is None
    assert "own case" in t.note
    with pytest.raises(NotImplementedError, match="loss variants"):
        build_xent_plain("binary_grad", data, slice(None))


def test_header_times_every_variant_the_cpu_runs() -> None:
    core = pytest.importorskip("xent._kernels._core")
    before = core.get_variant()
    speeds = _machine.variant_speeds()
    assert core.get_variant() == before  # the variant in use is restored
    assert list(speeds) == [name for name, runs in core.variants() if runs]
    assert all(ns > 0 for ns in speeds.values())
    machine = _machine.describe(measure_floors=False)
    machine["xent_variants_ns_per_logit"] = {"avx512": 0.5, "avx2": 2.0}
    line = [s for s in _machine.header_lines(machine) if s.startswith("xent kernel variants")]
    assert line == [
        "xent kernel variants this CPU runs, sparse CE forward 1,024 x 1,000 float32, 1 thread, "
        "per logit: avx512 0.5 ns, avx2 2 ns (4x)"
    ]


def test_ab_times_two_trees_in_one_process(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import ab

    # the repository against itself (built in place by the editable install): one case
    ab.main([str(ROOT), str(ROOT), "--calls", "2", "--filter", "3 float32 logsumexp"])
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("3 float32 logsumexp")
    ratios = [float(v) for v in out[-1].split()[-3:]]
    assert all(r > 0 for r in ratios)


def test_ab_asks_for_a_built_tree(tmp_path: Path) -> None:
    from benchmarks import ab

    (tmp_path / "xent" / "_kernels").mkdir(parents=True)
    with pytest.raises(SystemExit, match="no compiled _core module"):
        ab.main([str(tmp_path), str(ROOT)])
