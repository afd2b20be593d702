"""Command line of the benchmark suite.

    python -m benchmarks                       # default suite, about 5 minutes on two cores,
                                               # then the linear section (40 on a busy machine)
    python -m benchmarks --quick               # CI smoke, about 30 seconds
    python -m benchmarks --ops sparse,sparse_grad --shapes 4096x1000 --dtypes float32
    python -m benchmarks --no-memory --threads 4 --repeats 11 --output-dir /tmp/bench
    python -m benchmarks --no-linear            # without the fused linear cross-entropy section

Prints a header (CPU, cores, the SIMD level of NumPy and of xent's kernel, the exp and read
floors per element), one table per operation, the peak-memory table and PASS/MISS lines for the
targets (benchmarks/_targets.py), then the fused linear cross-entropy section (benchmarks/linear.py:
N=8192, D=1024, V=131072 float32 in the default run, which takes most of its time; a small shape
with ``--quick``; skipped with ``--shapes`` or ``--no-linear``), and writes
``bench-<timestamp>.json/.md`` (plus ``latest.*`` copies and, with matplotlib, a PNG of time
against the number of classes) to ``--output-dir`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import _report
from ._data import DISTS, OPS, Case, Shape, make_data, parse_shape
from ._harness import CaseResult, Memory, measure_memory, run_case
from ._impls import Impl, implementations, load_xent, usable_cores
from ._machine import describe
from ._targets import memory_targets, timing_targets

DEFAULT_SHAPES = "1048576x2,65536x10,8192x1000,2048x32000,256x128000"
QUICK_SHAPES = "16384x2,4096x10,512x1000,8x32000"
BINARY_SIZE, QUICK_BINARY_SIZE = 10**7, 2 * 10**5
QUICK_MEMORY_SHAPES = "16384x2,256x1000"
# Small batches (a training step's loss, an evaluation batch): the losses in float32 at these
# shapes and binary sizes too, where the cost of a call is mostly its fixed part
SMALL_BATCHES = "64x10,256x100,1024x1000"
SMALL_BINARY_SIZES = (1_000, 100_000)
SMALL_BATCH_OPS = ("sparse", "sparse_grad", "categorical", "categorical_grad", "binary")
BASELINE_MEMORY_SHAPES = ((8192, 1000), (256, 1000))  # the first of these that memory runs at
F32, F64 = "float32", "float64"

ALL, MID, SMALL = math.inf, 40_000_000, 10_000_000
# (dtype, input distribution, largest number of logits) per op: with N = 2 the default run does
# ~50 cases and must stay near 5 minutes, so only sparse CE in float32 runs every default shape;
# the other rows skip 2048x32000 (MID) or also 256x128000 (SMALL).
PLAN: dict[str, tuple[tuple[str, str, float], ...]] = {
    "sparse": ((F32, "random", ALL), (F64, "random", SMALL), (F32, "trained", SMALL)),
    "sparse_grad": ((F32, "random", ALL), (F64, "random", SMALL)),
    "categorical": ((F32, "random", MID), (F32, "trained", SMALL)),
    "categorical_grad": ((F32, "random", SMALL),),
    "binary": ((F32, "random", ALL), (F32, "trained", ALL)),
    "binary_grad": ((F32, "random", ALL),),
    "logsumexp": ((F64, "random", SMALL),),
    "log_softmax": ((F64, "random", SMALL),),
    "softmax": ((F64, "random", SMALL),),
    "sparse_zloss": ((F32, "random", SMALL),),
    "sparse_focal": ((F32, "random", SMALL),),
    "categorical_focal": ((F32, "random", SMALL),),
    "binary_focal": ((F32, "random", ALL),),
    "kl": ((F32, "random", SMALL),),
}
QUICK_PLAN: dict[str, tuple[tuple[str, str, float], ...]] = {
    op: ((F32, "random", ALL), (F64, "random", ALL)) if op == "sparse" else ((F32, "random", ALL),)
    for op in OPS
}
# Memory (each measurement a fresh process of 1-3 s): xent 1T on every op, at every memory shape
# for sparse CE and up to SMALL logits for the others (the 2-class shape, where per-row
# temporaries would show, is among them); xent NT, whose per-thread scratch is the same for
# every softmax op, on sparse and binary CE; the baselines on sparse CE at one shape (their
# pattern is the same elsewhere).
MEMORY_IMPLS = ("numpy", "scipy", "torch-N", "torch-1", "xent-1", "xent-N")
MEMORY_BASELINE_OPS = ("sparse", "sparse_grad")
MEMORY_N_THREAD_OPS = ("sparse", "sparse_grad", "binary", "binary_grad")


class Progress(Protocol):
    def update(self, n: int = 1) -> Any: ...
    def set_description(self, desc: str) -> Any: ...
    def close(self) -> Any: ...


class TextProgress:
    """A one-line progress bar on stderr for when tqdm is not installed."""

    def __init__(self, total: int, disable: bool = False) -> None:
        self.total, self.n, self.desc, self.disable = total, 0, "", disable
        self.start = time.perf_counter()

    def _draw(self) -> None:
        if self.disable:
            return
        done = int(30 * self.n / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        bar = "#" * done + "." * (30 - done)
        sys.stderr.write(f"\r[{bar}] {self.n}/{self.total} {elapsed:5.0f}s {self.desc[:50]:50}")
        sys.stderr.flush()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._draw()

    def set_description(self, desc: str) -> None:
        self.desc = desc
        self._draw()

    def close(self) -> None:
        if not self.disable:
            sys.stderr.write("\n")


def progress(total: int, disable: bool) -> Progress:
    try:
        from tqdm import tqdm
    except ImportError:
        return TextProgress(total, disable)
    bar: Progress = tqdm(total=total, unit="case", file=sys.stderr, disable=disable, leave=False)
    return bar


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time xent against a naive loop, textbook NumPy, SciPy and PyTorch.",
    )
    p.add_argument("--quick", action="store_true", help="small shapes, float32 (CI smoke, < 30 s)")
    p.add_argument("--ops", help=f"comma list from {','.join(OPS)} (default: all)")
    p.add_argument("--shapes", help=f"rows x classes list (default: {DEFAULT_SHAPES})")
    p.add_argument(
        "--binary-size", type=int, help=f"binary CE elements (default {BINARY_SIZE:.0e})"
    )
    p.add_argument(
        "--small-batches",
        help=f"rows x classes list of small batches for {', '.join(SMALL_BATCH_OPS)} in "
        f"float32 (or --dtypes, --dists; 'none': skip them; default: {SMALL_BATCHES}, and "
        f"binary CE at {', '.join(f'{n:,}' for n in SMALL_BINARY_SIZES)} elements)",
    )
    p.add_argument("--dtypes", help="comma list of float32,float64 (default: a plan per op)")
    p.add_argument("--dists", help="comma list of random,trained (default: a plan per op)")
    p.add_argument(
        "--threads", type=int, help="N for the N-thread variants (default: usable cores)"
    )
    p.add_argument("--impls", help="comma list of implementation keys to run (default: all)")
    p.add_argument("--repeats", type=int, default=7, help="at most this many timed rounds (7)")
    p.add_argument("--min-repeats", type=int, default=3, help="at least this many rounds (3)")
    p.add_argument("--budget", type=float, default=0.75, help="seconds of rounds per case (0.75)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    p.add_argument(
        "--memory-shapes", help="rows x classes list for memory, float32 (default: --shapes)"
    )
    p.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    p.add_argument(
        "--no-linear",
        action="store_true",
        help="skip the fused linear cross-entropy section (8192x1024x131072 float32 by default, "
        "about 40 minutes on two busy cores; a small shape with --quick)",
    )
    args = p.parse_args(argv)
    args.threads = args.threads or usable_cores()
    args.ops = _choices(args.ops, OPS, "op") if args.ops else list(OPS)
    if args.dtypes:
        args.dtypes = _choices(args.dtypes, (F32, F64), "dtype")
    if args.dists:
        args.dists = _choices(args.dists, DISTS, "dist")
    args.explicit_shapes = bool(args.shapes)
    args.shapes = [parse_shape(s) for s in (args.shapes or _default_shapes(args)).split(",")]
    args.binary_size = args.binary_size or (QUICK_BINARY_SIZE if args.quick else BINARY_SIZE)
    small = args.small_batches or ("none" if args.quick else SMALL_BATCHES)
    args.small_batches = [] if small == "none" else [parse_shape(s) for s in small.split(",")]
    args.memory_shapes = (
        [parse_shape(s) for s in args.memory_shapes.split(",")]
        if args.memory_shapes
        else [parse_shape(s) for s in QUICK_MEMORY_SHAPES.split(",")]
        if args.quick
        else args.shapes
    )
    if args.quick:
        args.repeats = min(args.repeats, 3)
        args.min_repeats = min(args.min_repeats, 2)
        args.budget = min(args.budget, 0.2)
    return args


def _default_shapes(args: argparse.Namespace) -> str:
    return QUICK_SHAPES if args.quick else DEFAULT_SHAPES


def _choices(text: str, allowed: Iterable[str], what: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad:
        raise SystemExit(f"unknown {what} {bad[0]!r}; choose from {', '.join(allowed)}")
    return items


def plan_cases(args: argparse.Namespace) -> list[Case]:
    """Cases ordered so that those sharing inputs run back to back."""
    cases = []
    for op in args.ops:
        combos = (QUICK_PLAN if args.quick else PLAN)[op]
        if args.dtypes or args.dists:
            dtypes = args.dtypes or sorted({d for d, _, _ in combos})
            dists = args.dists or sorted({s for _, s, _ in combos})
            combos = tuple((d, s, ALL) for d in dtypes for s in dists)
        shapes: list[Shape] = [(args.binary_size,)] if op.startswith("binary") else args.shapes
        for dtype, dist, most in combos:
            cases += [
                Case(op, shape, dtype, dist)
                for shape in shapes
                if args.explicit_shapes or math.prod(shape) <= most
            ]
    for op in args.ops if args.small_batches else ():
        if op in SMALL_BATCH_OPS:
            small: list[Shape] = (
                [(n,) for n in SMALL_BINARY_SIZES] if op == "binary" else args.small_batches
            )
            cases += [
                Case(op, shape, dtype, dist)
                for dtype in args.dtypes or [F32]
                for dist in args.dists or ["random"]
                for shape in small
            ]
    cases = list(dict.fromkeys(cases))
    order = {key: i for i, key in enumerate(dict.fromkeys(c.data_key for c in cases))}
    return sorted(cases, key=lambda c: order[c.data_key])


def memory_jobs(args: argparse.Namespace, impls: Sequence[Impl]) -> list[tuple[Case, Impl]]:
    """(case, implementation) pairs whose peak memory is measured, each in a fresh process."""
    if args.no_memory:
        return []
    keys = set(MEMORY_IMPLS) - ({"torch-1"} if args.threads > 1 else set())
    mem_impls = [
        i
        for i in impls
        if i.key in keys and i.available() and not (args.quick and i.library == "torch")
    ]
    baseline_shape = next(
        (s for s in BASELINE_MEMORY_SHAPES if s in args.memory_shapes), args.memory_shapes[0]
    )
    jobs = []
    for op in args.ops:
        if args.quick and op not in MEMORY_BASELINE_OPS:
            continue
        if op.startswith("binary"):
            shapes: list[Shape] = [(args.binary_size,)]
        else:
            most = ALL if op in MEMORY_BASELINE_OPS or args.quick else SMALL
            shapes = [s for s in args.memory_shapes if math.prod(s) <= most]
        for shape in shapes:
            for impl in mem_impls:
                if impl.key == "xent-1":
                    wanted = True
                elif impl.key == "xent-N":
                    wanted = op in MEMORY_N_THREAD_OPS
                else:
                    wanted = op in MEMORY_BASELINE_OPS and shape == baseline_shape
                if wanted:
                    jobs.append((Case(op, shape, F32, "random"), impl))
    return jobs


def run(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    impls = implementations(args.threads)
    if args.impls:
        keep = set(_choices(args.impls, [i.key for i in impls], "implementation"))
        impls = [i for i in impls if i.key in keep]
    machine = describe()
    cases = plan_cases(args)
    mem_jobs = memory_jobs(args, impls)
    if load > 0.5:
        sys.stderr.write(
            f"warning: load average {load:.1f} before the run; other processes share the CPU "
            "and the multi-threaded timings will suffer.\n"
        )
    bar = progress(len(cases) + len(mem_jobs), args.no_progress)

    results: list[CaseResult] = []
    data = None
    with np.errstate(all="ignore"):
        for case in cases:
            bar.set_description(f"{case.op} {'x'.join(map(str, case.shape))} {case.dtype}")
            if data is None or data.key != case.data_key:
                data = None
                data = make_data(case.family, case.shape, case.dtype, case.dist)
            results.append(
                run_case(
                    case,
                    data,
                    impls,
                    min_rounds=args.min_repeats,
                    max_rounds=max(args.repeats, args.min_repeats),
                    budget=args.budget,
                )
            )
            bar.update()
    data = None
    for impl in impls:
        if impl.library == "xent" and impl.available():
            xent = load_xent()
            assert xent is not None
            xent.set_num_threads(None)
            break

    memories: list[Memory] = []
    if mem_jobs:
        bar.set_description("memory (fresh processes)")
        with ThreadPoolExecutor(max_workers=max(1, usable_cores())) as pool:
            for mem in pool.map(lambda job: measure_memory(*job), mem_jobs):
                memories.append(mem)
                bar.update()
    bar.close()

    # Suites in their own modules add (title, text, record) sections here, after the main run.
    sections: list[_report.Section] = []
    targets = timing_targets(results, args.threads) + memory_targets(memories)
    if not (args.no_linear or args.explicit_shapes):
        from . import linear

        sys.stderr.write("fused linear cross-entropy section...\n")
        linear_section, linear_targets = linear.section(args.quick, args.threads)
        sections.append(linear_section)
        targets += linear_targets

    now = dt.datetime.now()
    meta = {
        "timestamp": now.isoformat(timespec="seconds"),
        "machine": machine,
        "threads": args.threads,
        "load_average_before": load,
        "argv": sys.argv[1:],
        "options": {k: str(v) for k, v in vars(args).items()},
        "runtime_seconds": time.perf_counter() - start,
    }
    return {
        "meta": meta,
        "results": results,
        "memories": memories,
        "targets": targets,
        "sections": sections,
        "now": now,
    }


def write_outputs(out: dict[str, Any], out_dir: Path, with_plot: bool) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out["now"].strftime("%Y%m%d-%H%M%S")
    parts = (out["meta"], out["results"], out["memories"], out["targets"])
    files = {
        "json": _report.to_json(*parts, out["sections"]),
        "md": _report.render_all(*parts, markdown=True, sections=out["sections"]),
    }
    written = []
    for ext, text in files.items():
        for name in (f"bench-{stamp}.{ext}", f"latest.{ext}"):
            path = out_dir / name
            path.write_text(text)
            written.append(path)
    if with_plot:
        png = out_dir / f"bench-{stamp}.png"
        if _report.plot(out["results"], png):
            (out_dir / "latest.png").write_bytes(png.read_bytes())
            written += [png, out_dir / "latest.png"]
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = run(args)
    parts = (out["meta"], out["results"], out["memories"], out["targets"])
    print(_report.render_all(*parts, markdown=False, sections=out["sections"]))
    for path in write_outputs(out, args.output_dir, not args.no_plot):
        if not path.name.startswith("latest"):
            print(f"wrote {path}")
    if not (args.quick or args.explicit_shapes):  # the Dask section: full default runs only
        from . import dask_scale

        dask_scale.main(["--json", str(args.output_dir / "dask-latest.json")])
    missed = any(t.status == "MISS" for t in out["targets"])
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
