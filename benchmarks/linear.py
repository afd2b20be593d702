"""Fused linear cross-entropy (`xent.linear_cross_entropy`) against the bare matrix products.

    python -m benchmarks.linear                            # N=8192, D=1024, V=131072, float32
    python -m benchmarks.linear --rows 512 --dim 128 --vocab 8192 --repeats 3

1. Time (medians of ``--repeats`` interleaved rounds, every library on ``--threads`` threads,
   BLAS included): the loss against the bare product ``hidden @ weight.T`` written into a
   preallocated ``N x V`` array, and the loss with gradients against the three bare products
   (``Z = hidden @ weight.T``, ``Z @ weight``, ``Z.T @ hidden``); PyTorch's ``F.linear`` +
   ``F.cross_entropy`` (and ``backward()``) beside them when it is installed.
2. Peak extra memory, each call in a fresh process (``python -m benchmarks.linear --child``):
   the resident-set high-water mark above the level just before the call (VmHWM reset through
   /proc/self/clear_refs), after one 8-row call has loaded the libraries and BLAS's buffers;
   tracemalloc's peak (NumPy's arrays only) beside it. Outputs alive at the peak are counted.
3. Accuracy: on the first ``--check-rows`` rows, the loss and each gradient against
   `sparse_categorical_cross_entropy` of the materialized logits (the gradients by the chain
   rule through its gradient), as normwise relative errors in units of the dtype's eps.

Targets: time <= 1.15x the bare product(s); memory <= 0.05x the ``N x V`` logits + 64 MiB
forward, <= the gradients + that with them; errors <= 1000 eps. PyTorch runs at the same shape
when the machine has the memory for it (about 5x the logits), else at fewer rows, said so.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from ._targets import MIB, Point, Target, fmt_bytes, fmt_ratio, verdict

SEED = 20261130
TIME_LIMIT = 1.15
MEMORY_FACTOR, MEMORY_OFFSET = 0.05, 64 * MIB
ERROR_EPS = 1000
TORCH_MEMORY_FACTOR = 5  # PyTorch's peak with backward, in logits (logits, log-softmax, grads)
FULL = (8192, 1024, 131072)
QUICK = (512, 128, 8192)


def make_inputs(
    rows: int, dim: int, vocab: int, dtype: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, hidden (N, D) ~ N(0, 1) and weight (V, D) ~ N(0, 1/D): logits of spread ~1."""
    rng = np.random.default_rng(SEED)
    y = rng.integers(0, vocab, size=rows)
    h = rng.standard_normal((rows, dim), dtype=np.float32).astype(dtype, copy=False)
    w = rng.standard_normal((vocab, dim), dtype=np.float32)
    w *= np.float32(1 / np.sqrt(dim))
    return y, h, w.astype(dtype, copy=False)


def blas_threads(n: int) -> AbstractContextManager[Any]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def available_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def torch_rows(rows: int, vocab: int, itemsize: int) -> int:
    """Rows PyTorch can run with backward in half the memory available now (all if it fits)."""
    room = available_memory() // 2
    per_row = TORCH_MEMORY_FACTOR * vocab * itemsize
    if room <= 0 or rows * per_row <= room:
        return rows
    return max(8, int(room // per_row) // 8 * 8)


# --- the calls -------------------------------------------------------------------------------


def xent_call(y: np.ndarray, h: np.ndarray, w: np.ndarray, grad: bool) -> Callable[[], Any]:
    import xent

    return lambda: xent.linear_cross_entropy(y, h, w, return_grad=grad)


def torch_call(y: np.ndarray, h: np.ndarray, w: np.ndarray, grad: bool) -> Callable[[], Any]:
    import torch

    F = torch.nn.functional
    ht, wt, yt = torch.from_numpy(h), torch.from_numpy(w), torch.from_numpy(y)

    def forward() -> Any:
        with torch.no_grad():
            return F.cross_entropy(F.linear(ht, wt), yt)

    def backward() -> Any:
        hg, wg = ht.detach().requires_grad_(True), wt.detach().requires_grad_(True)
        loss = F.cross_entropy(F.linear(hg, wg), yt)
        loss.backward()
        return loss.detach(), hg.grad, wg.grad

    return backward if grad else forward


# --- memory, in a fresh process --------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def child(
    impl: str, grad: bool, rows: int, dim: int, vocab: int, dtype: str, threads: int
) -> dict[str, Any]:
    """One call's peak extra memory (run by ``--child`` in a fresh process)."""
    import tracemalloc

    import xent

    y, h, w = make_inputs(rows, dim, vocab, dtype)
    xent.set_num_threads(threads)
    make = xent_call if impl == "xent" else torch_call
    if impl == "torch":
        import torch

        torch.set_num_threads(threads)
    make(y[:8], h[:8], w, grad)()  # load the libraries and BLAS's buffers
    fn = make(y, h, w, grad)
    gc.collect()
    with blas_threads(threads):
        reset = _reset_rss_peak()
        before = _status_kib("VmRSS") if reset else None
        tracemalloc.start()
        result = fn()
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        hwm = _status_kib("VmHWM") if reset else None
    del result
    rss = None if before is None or hwm is None else (hwm - before) * 1024
    return {"rss_peak": rss, "tracemalloc_peak": traced}


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_memory(
    impl: str, grad: bool, rows: int, dim: int, vocab: int, dtype: str, threads: int
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.linear", "--child", impl, "--grad", str(int(grad))]
    cmd += ["--rows", str(rows), "--dim", str(dim), "--vocab", str(vocab), "--dtype", dtype]
    cmd += ["--threads", str(threads)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1]
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        note = (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]
        return {"rss_peak": None, "tracemalloc_peak": None, "note": note}
    out: dict[str, Any] = json.loads(lines[-1])
    return out


# --- accuracy --------------------------------------------------------------------------------


def accuracy(y: np.ndarray, h: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Normwise relative errors (in eps of the dtype) against the sparse loss of the logits."""
    import xent

    loss, grads = xent.linear_cross_entropy(y, h, w, return_grad=True)
    # the forward pass by chunks of the vocabulary, as the whole batch takes it: a budget of a
    # quarter of these rows' logits
    budget = max(y.size * w.shape[0] * h.dtype.itemsize // 4, 1)
    rows = xent.linear_cross_entropy(y, h, w, reduction="none", chunk_bytes=budget)
    z = h @ w.T
    ref, G = xent.sparse_categorical_cross_entropy(y, z, from_logits=True, return_grad=True)
    ref_rows = xent.sparse_categorical_cross_entropy(y, z, from_logits=True, reduction="none")
    eps = float(np.finfo(h.dtype).eps)

    def err(a: Any, b: Any) -> float:
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return float(np.max(np.abs(a64 - b64)) / max(np.max(np.abs(b64)), 1e-300) / eps)

    G64, h64, w64 = G.astype(np.float64), h.astype(np.float64), w.astype(np.float64)
    return {
        "loss": err(loss, ref),
        "loss by vocabulary chunks (per row)": err(rows, ref_rows),
        "hidden": err(grads.hidden, G64 @ w64),
        "weight": err(grads.weight, G64.T @ h64),
    }


# --- the run ---------------------------------------------------------------------------------


def _time_rounds(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, rounds interleaved so that load hits all alike."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            result = fn()
            samples[key].append(time.perf_counter() - t0)
            del result
    return {k: statistics.median(v) for k, v in samples.items()}


def run(
    rows: int,
    dim: int,
    vocab: int,
    dtype: str = "float32",
    threads: int | None = None,
    repeats: int = 3,
    check_rows: int = 256,
    memory: bool = True,
    with_torch: bool = True,
    torch_memory: bool = True,
) -> dict[str, Any]:
    import xent

    threads = threads or xent.get_num_threads()
    itemsize = np.dtype(dtype).itemsize
    y, h, w = make_inputs(rows, dim, vocab, dtype)
    logits_bytes = rows * vocab * itemsize
    grads_bytes = (rows * dim + vocab * dim) * itemsize
    record: dict[str, Any] = {
        "shape": {"rows": rows, "dim": dim, "vocab": vocab, "dtype": dtype},
        "threads": threads,
        "logits_bytes": logits_bytes,
        "grads_bytes": grads_bytes,
        "chunk_bytes": xent._linear.CHUNK_BYTES,
    }
    xent.set_num_threads(threads)
    try:
        record["accuracy"] = accuracy(y[:check_rows], h[:check_rows], w)
        # preallocated outputs of the bare products, freed before PyTorch and memory runs
        buf = {
            "z": np.empty((rows, vocab), dtype),
            "dh": np.empty((rows, dim), dtype),
            "dw": np.empty((vocab, dim), dtype),
        }

        def bare1() -> None:
            np.matmul(h, w.T, out=buf["z"])

        def bare3() -> None:
            np.matmul(h, w.T, out=buf["z"])
            np.matmul(buf["z"], w, out=buf["dh"])
            np.matmul(buf["z"].T, h, out=buf["dw"])

        fns: dict[str, Callable[[], Any]] = {
            "bare product": bare1,
            "xent forward": xent_call(y, h, w, False),
            "bare 3 products": bare3,
            "xent with gradients": xent_call(y, h, w, True),
        }
        with blas_threads(threads):
            bare1()  # touch the pages of z once
            record["seconds"] = _time_rounds(fns, repeats)
        buf.clear()
        gc.collect()
        if with_torch and torch_available():
            record["torch"] = torch_side(y, h, w, threads, repeats)
    finally:
        xent.set_num_threads(None)
    if memory:
        mems = {}
        impls = ["xent", "torch"] if "torch" in record and torch_memory else ["xent"]
        for impl in impls:
            n = rows if impl == "xent" else record["torch"]["rows"]
            for grad in (False, True):
                key = f"{impl} {'with gradients' if grad else 'forward'}"
                mems[key] = measure_memory(impl, grad, n, dim, vocab, dtype, threads)
                mems[key]["rows"] = n
        record["memory"] = mems
    record["targets"] = [t.__dict__ for t in targets(record)]
    return record


def torch_side(
    y: np.ndarray, h: np.ndarray, w: np.ndarray, threads: int, repeats: int
) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    n = torch_rows(len(y), w.shape[0], h.dtype.itemsize)
    fns = {
        "torch forward": torch_call(y[:n], h[:n], w, False),
        "torch with gradients": torch_call(y[:n], h[:n], w, True),
    }
    for fn in fns.values():
        fn()
    return {"rows": n, "seconds": _time_rounds(fns, repeats)}


def targets(record: dict[str, Any]) -> list[Target]:
    s = record["seconds"]
    shape = record["shape"]
    where = f"{shape['rows']}x{shape['dim']}x{shape['vocab']} {shape['dtype']}"
    out = [
        verdict(
            "linear CE forward: xent <= 1.15x the bare product hidden @ weight.T",
            [Point(s["xent forward"] / s["bare product"], TIME_LIMIT, where)],
        ),
        verdict(
            "linear CE with gradients: xent <= 1.15x the three bare products",
            [Point(s["xent with gradients"] / s["bare 3 products"], TIME_LIMIT, where)],
        ),
    ]
    mem = record.get("memory", {})
    allowance = MEMORY_FACTOR * record["logits_bytes"] + MEMORY_OFFSET
    for key, extra, text in (
        ("xent forward", 0, "<= 0.05x logits + 64 MiB"),
        ("xent with gradients", record["grads_bytes"], "<= gradients + 0.05x logits + 64 MiB"),
    ):
        m = mem.get(key)
        name = f"linear CE memory, {key.removeprefix('xent ')}: {text}"
        if m is None or m.get("rss_peak") is None:
            note = "not measured" if m is None else m.get("note", "no RSS figure")
            out.append(Target("SKIP", name, note))
            continue
        out.append(verdict(name, [Point(m["rss_peak"], extra + allowance, where)], unit=fmt_bytes))
    acc = record["accuracy"]
    out.append(
        verdict(
            "linear CE accuracy: loss and gradients within 1000 eps of the sparse loss's",
            [Point(v, ERROR_EPS, f"{k}, {where}") for k, v in acc.items()],
            unit=lambda e: f"{e:.3g} eps",
        )
    )
    return out


def render(record: dict[str, Any]) -> str:
    """The section's text: shape, times, memory, accuracy."""
    sh, s = record["shape"], record["seconds"]
    logits = record["logits_bytes"]
    lines = [
        f"N={sh['rows']:,} rows, D={sh['dim']:,}, V={sh['vocab']:,}, {sh['dtype']}: logits "
        f"{fmt_bytes(logits)}, gradients {fmt_bytes(record['grads_bytes'])}; "
        f"{record['threads']} threads (BLAS too); chunk budget {fmt_bytes(record['chunk_bytes'])}",
        "",
        f"{'call':34} {'time':>9} {'vs bare':>8} {'peak RSS':>12} {'tracemalloc':>12}",
    ]
    mem = record.get("memory", {})
    bare = {"forward": s["bare product"], "with gradients": s["bare 3 products"]}
    torch = record.get("torch")
    for impl in ("bare", "xent", "torch"):
        for kind in ("forward", "with gradients"):
            if impl == "bare":
                key = "bare product" if kind == "forward" else "bare 3 products"
                t, label = s[key], key
            elif impl == "xent":
                key = label = f"xent {kind}"
                t = s[key]
            else:
                if torch is None:
                    continue
                key = f"torch {kind}"
                t = torch["seconds"][key]
                label = key + ("" if torch["rows"] == sh["rows"] else f" ({torch['rows']} rows)")
            scale = 1.0 if impl != "torch" or torch is None else sh["rows"] / torch["rows"]
            ratio = fmt_ratio(t * scale / bare[kind])
            m = mem.get(key, {})
            rss = "-" if m.get("rss_peak") is None else fmt_bytes(m["rss_peak"])
            tm = "-" if m.get("tracemalloc_peak") is None else fmt_bytes(m["tracemalloc_peak"])
            lines.append(f"{label:34} {t:8.3g}s {ratio:>8} {rss:>12} {tm:>12}")
    if torch is not None and torch["rows"] != sh["rows"]:
        lines.append(
            f"(PyTorch at {torch['rows']:,} rows: the full shape needs about "
            f"{TORCH_MEMORY_FACTOR}x the logits; its 'vs bare' is scaled to {sh['rows']:,} rows)"
        )
    acc = record["accuracy"]
    lines.append(
        "errors against the sparse loss of the materialized logits: "
        + ", ".join(f"{k} {v:.3g} eps" for k, v in acc.items())
    )
    return "\n".join(lines)


def section(quick: bool, threads: int | None = None) -> tuple[tuple[str, str, Any], list[Target]]:
    """The (title, text, record) section and targets for ``python -m benchmarks``."""
    rows, dim, vocab = QUICK if quick else FULL
    # --quick (CI) skips PyTorch's memory, as the main suite does: two imports of torch
    record = run(
        rows, dim, vocab, threads=threads, repeats=2 if quick else 3, torch_memory=not quick
    )
    title = f"fused linear cross-entropy ({rows}x{dim}x{vocab})"
    return (title, render(record), record), targets(record)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.linear", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--rows", type=int, default=FULL[0], help=f"N ({FULL[0]})")
    p.add_argument("--dim", type=int, default=FULL[1], help=f"D ({FULL[1]})")
    p.add_argument("--vocab", type=int, default=FULL[2], help=f"V ({FULL[2]})")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--threads", type=int, help="threads of xent, BLAS and PyTorch (all cores)")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds, median reported (3)")
    p.add_argument("--check-rows", type=int, default=256, help="rows of the accuracy check")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--json", type=Path, help="also write the record to this JSON file")
    p.add_argument("--child", choices=("xent", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--grad", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        threads = args.threads or len(os.sched_getaffinity(0))
        out = child(
            args.child, bool(args.grad), args.rows, args.dim, args.vocab, args.dtype, threads
        )
        print(json.dumps(out))
        return 0
    record = run(
        args.rows,
        args.dim,
        args.vocab,
        args.dtype,
        args.threads,
        args.repeats,
        args.check_rows,
        memory=not args.no_memory,
        with_torch=not args.no_torch,
    )
    print(render(record))
    print()
    for t in targets(record):
        print(t.line())
    if args.json:
        args.json.write_text(json.dumps(record, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
