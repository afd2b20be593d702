"""xent at scale: Dask on a LocalCluster against the in-memory call, and a larger-than-memory run.

    python -m benchmarks.dask_scale                  # both parts (several minutes on two cores)
    python -m benchmarks.dask_scale --big-gib 0      # throughput only
    python -m benchmarks.dask_scale --rows 65536 --classes 1000 --chunk-rows 8192

1. Throughput: sparse cross-entropy (mean, float32 logits) over ``rows x classes``, persisted
   on a LocalCluster (``--workers`` processes, one thread each), timed as
   ``xent.dask.sparse_categorical_cross_entropy(...).compute()``; against the in-memory
   ``xent.sparse_categorical_cross_entropy`` on the same data with 1 and with ``--workers``
   threads. Medians of ``--repeats`` rounds, in rows per second; the two results must agree.
2. Larger than memory: ``--big-gib`` GiB of float32 logits drawn lazily by
   ``dask.array.random`` (fixed seed) in chunks of ``--chunk-rows`` rows, labels likewise, the
   sparse mean computed on fresh workers; reports the time, the rate and every worker's peak
   resident memory (``getrusage`` maximum RSS) against the chunk size.

Needs the ``dask`` extra (``pip install -e ".[dask]"``); prints a note and returns otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20261129
GIB = 1 << 30
MIB = 1 << 20


def _status_bytes(field: str) -> int | None:
    """A memory field of /proc/self/status (Linux) in bytes, or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0; run on each worker).

    A worker process starts with its parent's peak (``fork`` copies it, ``execve`` keeps it),
    so without the reset the peak says more about the parent than about the worker.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss() -> int:
    """This process's resident memory in bytes now (0 where unknown)."""
    return _status_bytes("VmRSS") or 0


def peak_rss() -> int:
    """This process's peak resident memory in bytes since the last reset."""
    hwm = _status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.dask_scale", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes, one thread each (2)")
    p.add_argument("--rows", type=int, default=131072, help="rows of the throughput run")
    p.add_argument("--classes", type=int, default=1000, help="classes of the throughput run")
    p.add_argument("--chunk-rows", type=int, default=8192, help="rows per chunk (8192)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds, median reported (5)")
    p.add_argument(
        "--big-gib",
        type=float,
        default=None,
        help="GiB of logits of the larger-than-memory run (default: 32, or 1.25x the RAM if "
        "larger); 0 skips it",
    )
    p.add_argument("--big-classes", type=int, default=1024, help="classes of that run (1024)")
    p.add_argument("--big-chunk-rows", type=int, default=16384, help="its rows per chunk")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return p.parse_args(argv)


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def throughput(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    import dask.array as da

    import xent
    import xent.dask

    rng = da.random.default_rng(SEED)
    shape = (args.rows, args.classes)
    x = rng.standard_normal(shape, chunks=(args.chunk_rows, args.classes), dtype=np.float32)
    y = rng.integers(0, args.classes, size=args.rows, chunks=args.chunk_rows)
    x, y = client.persist([x, y])
    x_np, y_np = client.compute([x, y], sync=True)

    lazy = xent.dask.sparse_categorical_cross_entropy(y, x, from_logits=True)
    lazy.compute(scheduler=client)  # warm the workers (imports, first allocations)
    t_dask = _median_time(lambda: lazy.compute(scheduler=client), args.repeats)
    got = float(lazy.compute(scheduler=client))

    def in_memory() -> float:
        return float(xent.sparse_categorical_cross_entropy(y_np, x_np, from_logits=True))

    times = {}
    try:
        for n in (1, args.workers):
            xent.set_num_threads(n)
            in_memory()
            times[n] = _median_time(in_memory, args.repeats)
        want = in_memory()
    finally:
        xent.set_num_threads(None)
    if not np.isclose(got, want, rtol=1e-6, atol=0):
        raise AssertionError(f"Dask and in-memory results differ: {got!r} != {want!r}")
    return {
        "rows": args.rows,
        "classes": args.classes,
        "chunk_rows": args.chunk_rows,
        "logits_mib": x_np.nbytes / MIB,
        "dask_seconds": t_dask,
        "dask_rows_per_s": args.rows / t_dask,
        "in_memory_seconds": {str(n): t for n, t in times.items()},
        "in_memory_rows_per_s": {str(n): args.rows / t for n, t in times.items()},
        "loss_dask": got,
        "loss_in_memory": want,
    }


def larger_than_memory(args: argparse.Namespace, client: Any, gib: float) -> dict[str, Any]:
    import dask.array as da

    import xent.dask

    C, chunk_rows = args.big_classes, args.big_chunk_rows
    rows = int(gib * GIB) // (4 * C) // chunk_rows * chunk_rows
    rng = da.random.default_rng(SEED)
    x = rng.standard_normal((rows, C), chunks=(chunk_rows, C), dtype=np.float32)
    y = rng.integers(0, C, size=rows, chunks=chunk_rows)
    loss = xent.dask.sparse_categorical_cross_entropy(y, x, from_logits=True)
    client.restart()  # fresh worker processes
    reset = client.run(reset_peak_rss)
    before = client.run(rss)
    t0 = time.perf_counter()
    value = float(loss.compute(scheduler=client))
    seconds = time.perf_counter() - t0
    after = client.run(peak_rss)
    chunk_bytes = chunk_rows * C * 4
    return {
        "rows": rows,
        "classes": C,
        "logits_gib": x.nbytes / GIB,
        "chunk_rows": chunk_rows,
        "chunk_mib": chunk_bytes / MIB,
        "chunks": x.numblocks[0],
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "loss": value,
        "peak_reset": all(reset.values()),
        "rss_mib_before": {w: b / MIB for w, b in before.items()},
        "peak_rss_mib": {w: a / MIB for w, a in after.items()},
        "peak_rss_growth_chunks": {w: (after[w] - before[w]) / chunk_bytes for w in after},
    }


def report(meta: dict[str, Any], tp: dict[str, Any] | None, big: dict[str, Any] | None) -> str:
    lines = [
        f"## xent on Dask ({meta['cpu']}, {meta['cores']} usable cores, "
        f"{meta['ram_gib']:.1f} GiB RAM; LocalCluster of {meta['workers']} worker processes "
        "x 1 thread)",
        "",
    ]
    if tp is not None:
        lines += [
            f"Throughput: sparse CE mean, float32 logits {tp['rows']:,} x {tp['classes']:,} "
            f"({tp['logits_mib']:.0f} MiB), chunks of {tp['chunk_rows']:,} rows:",
            "",
            "| run | seconds | rows/s |",
            "|---|---|---|",
        ]
        for n, t in tp["in_memory_seconds"].items():
            lines.append(
                f"| in memory, {n} thread{'s' if n != '1' else ''} | {t:.3f} | "
                f"{tp['in_memory_rows_per_s'][n]:,.0f} |"
            )
        lines.append(
            f"| xent.dask, LocalCluster (data persisted) | {tp['dask_seconds']:.3f} | "
            f"{tp['dask_rows_per_s']:,.0f} |"
        )
        lines += ["", f"loss: Dask {tp['loss_dask']!r}, in memory {tp['loss_in_memory']!r}", ""]
    if big is not None:
        peaks = ", ".join(f"{v:.0f}" for v in big["peak_rss_mib"].values())
        growth = ", ".join(f"{v:.1f}" for v in big["peak_rss_growth_chunks"].values())
        start = ", ".join(f"{v:.0f}" for v in big["rss_mib_before"].values())
        lines += [
            f"Larger than memory: {big['logits_gib']:.3g} GiB of float32 logits "
            f"({big['rows']:,} x {big['classes']:,}) drawn lazily by dask.array.random, "
            f"{big['chunks']} chunks of {big['chunk_mib']:.0f} MiB; sparse CE mean "
            f"= {big['loss']:.6f}",
            f"in {big['seconds']:.1f} s ({big['rows_per_s']:,.0f} rows/s); peak RSS per "
            f"worker {peaks} MiB, from {start} MiB before the run: {growth} chunks more"
            + ("" if big["peak_reset"] else " (peak not reset: an upper bound)"),
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import distributed
    except ImportError:
        print("xent.dask benchmark skipped: install the dask extra (pip install -e '.[dask]').")
        return 0
    ram = machine_memory()
    gib = args.big_gib
    if gib is None:
        gib = max(32.0, float(np.ceil(1.25 * ram / GIB)))
    meta = {
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "ram_gib": ram / GIB,
        "workers": args.workers,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "dask": distributed.__version__,
    }
    with (
        distributed.LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        tp = throughput(args, client) if args.rows > 0 else None
        big = larger_than_memory(args, client, gib) if gib > 0 else None
    print(report(meta, tp, big))
    if args.json is not None:
        args.json.write_text(json.dumps({"meta": meta, "throughput": tp, "big": big}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
