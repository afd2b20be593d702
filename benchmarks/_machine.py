"""What the run ran on: CPU, cores, the SIMD level of NumPy and of xent's kernel, and the floors.

Every number of the suite is a multiple of the exp floor, and the exp floor depends on how wide a
SIMD unit NumPy's ``exp`` uses; the header of every report therefore names both SIMD levels and
the floors per element, so that two runs can be compared for what they are.
"""

from __future__ import annotations

import importlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ._impls import load_torch, load_xent, read_floor, usable_cores

NO_KERNEL = "n/a (no compiled kernel)"
# NumPy names the x86-64 psABI microarchitecture levels x86-64-v2/v3/v4 X86_V2/V3/V4
NUMPY_GROUPS = {"X86_V2": "SSE4.2", "X86_V3": "AVX2 + FMA3", "X86_V4": "AVX-512"}
FLOOR_ELEMENTS = 1 << 22
FLOOR_ROUNDS = 9
# the call the header times in every SIMD variant of xent's kernel the CPU runs (rows, classes)
VARIANT_SHAPE = (1024, 1000)


def cpu_model() -> str:
    """The model name from /proc/cpuinfo, else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; None where it does not say."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores = set()
    for block in text.split("\n\n"):
        fields = dict(
            (k.strip(), v.strip())
            for k, _, v in (line.partition(":") for line in block.splitlines())
        )
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def numpy_simd() -> dict[str, Any]:
    """NumPy's compiled-in baseline and the dispatch targets this CPU supports (the level its
    ufuncs such as ``exp`` run at is the last one found)."""
    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # NumPy 1.x
        umath = importlib.import_module("numpy.core._multiarray_umath")
    baseline = list(getattr(umath, "__cpu_baseline__", []))
    dispatch = list(getattr(umath, "__cpu_dispatch__", []))
    features = dict(getattr(umath, "__cpu_features__", {}))
    found = [f for f in dispatch if features.get(f)]
    level = found[-1] if found else (baseline[-1] if baseline else "unknown")
    if level in NUMPY_GROUPS:
        level += f" ({NUMPY_GROUPS[level]})"
    return {"baseline": baseline, "found": found, "level": level}


def xent_kernel() -> dict[str, Any]:
    """``xent.show_config(mode="dicts")`` where xent has it, else a record saying there is none."""
    xent = load_xent()
    show = getattr(xent, "show_config", None) if xent is not None else None
    if show is None:
        return {"kernel": "none", "simd": NO_KERNEL}
    try:
        config = show(mode="dicts")
    except Exception as exc:
        return {"kernel": "unknown", "simd": f"n/a (show_config failed: {type(exc).__name__})"}
    config = dict(config) if isinstance(config, dict) else {}
    config.setdefault("kernel", "unknown")
    config.setdefault("simd", "unknown")
    return config


def torch_simd() -> str | None:
    torch = load_torch()
    backend = getattr(getattr(torch, "backends", None), "cpu", None)
    get = getattr(backend, "get_cpu_capability", None)
    return str(get()) if get is not None else None


def _ns_per_element(fn: Callable[[], Any], n: int) -> float:
    fn()
    samples = []
    for _ in range(FLOOR_ROUNDS):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) / n * 1e9


def floors_ns(n: int = FLOOR_ELEMENTS) -> dict[str, dict[str, float]]:
    """Single-threaded exp floor and read floor in ns per element, float32 and float64, on ``n``
    seeded normal numbers (16 MiB of float32: out of cache, like the suite's large cases)."""
    out = {}
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        x = rng.standard_normal(n, dtype=np.dtype(dtype).type)
        buf = np.empty_like(x)
        out[dtype] = {
            "exp": _ns_per_element(partial(np.exp, x, out=buf), n),
            "read": _ns_per_element(partial(read_floor, x), n),
        }
    return out


def variant_speeds() -> dict[str, float]:
    """ns per logit of a sparse CE forward over VARIANT_SHAPE float32 logits at one thread
    (median of FLOOR_ROUNDS calls) in each SIMD variant of xent's kernel that this CPU runs, the
    best first; empty without a compiled kernel. A run then shows what a CPU without the best
    variant would get from the same code: the variants differ by more than their lanes (the
    AVX2 variant ran 17-25x the AVX-512 one's time until a compiler's lowering was found)."""
    xent = load_xent()
    try:
        core = importlib.import_module("xent._kernels._core")
    except ImportError:
        return {}
    if xent is None or not hasattr(core, "variants"):
        return {}
    rows, classes = VARIANT_SHAPE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, classes), dtype=np.float32)
    y = rng.integers(0, classes, rows)
    call = partial(xent.sparse_categorical_cross_entropy, y, x, from_logits=True)
    in_use, threads = core.get_variant(), xent.get_num_threads()
    out = {}
    try:
        xent.set_num_threads(1)
        for name, runs in core.variants():
            if runs:
                core.set_variant(name)
                out[name] = _ns_per_element(call, x.size)
    finally:
        core.set_variant(in_use)
        xent.set_num_threads(threads)
    return out


def versions() -> dict[str, str]:
    out = {"numpy": np.__version__}
    for name in ("scipy", "torch", "xent"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    torch = load_torch()
    if torch is not None:
        out["torch"] = torch.__version__
    if load_xent() is None:
        out["xent"] += " (does not import)"
    return out


def describe(measure_floors: bool = True) -> dict[str, Any]:
    """The header record of a run (JSON-ready)."""
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "usable_cores": usable_cores(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy_simd": numpy_simd(),
        "xent_kernel": xent_kernel(),
        "torch_cpu_capability": torch_simd(),
        "floors_ns_per_element": floors_ns() if measure_floors else {},
        "xent_variants_ns_per_logit": variant_speeds() if measure_floors else {},
        "versions": versions(),
    }


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.0f} MiB"


def header_lines(machine: dict[str, Any]) -> list[str]:
    """The header as lines of text, the same in the terminal, Markdown and the JSON's record."""
    cores = f"{machine['usable_cores']} usable of {machine['logical_cpus']} logical CPUs"
    if machine.get("physical_cores"):
        cores += f", {machine['physical_cores']} physical cores"
    simd = machine["numpy_simd"]
    kernel = machine["xent_kernel"]
    kernel_text = (
        f"xent kernel: {kernel['kernel']}, simd: {kernel['simd']}"
        + (" (multiply-adds fused)" if kernel.get("simd_fma") else "")
        + ("" if kernel.get("simd_registers", True) else " (vectors in memory: slower)")
        + (
            f", outputs of {_mib(kernel.get('output_cache_min', 32 << 20))} or more reuse freed"
            f" memory (up to {_mib(kernel['output_cache'])})"
            if kernel.get("output_cache")
            else ""
        )
        if kernel["simd"] != NO_KERNEL
        else f"xent simd: {NO_KERNEL}"
    )
    if machine.get("torch_cpu_capability"):
        kernel_text += f"; PyTorch CPU capability: {machine['torch_cpu_capability']}"
    lines = [
        f"CPU: {machine['cpu']} ({cores}); {machine['system']}, Python {machine['python']}",
        f"NumPy SIMD: {simd['level']} (baseline {' '.join(simd['baseline']) or '-'}; "
        f"found {' '.join(simd['found']) or '-'}); {kernel_text}",
    ]
    floors = machine.get("floors_ns_per_element") or {}
    if floors:
        parts = [
            f"{dtype} exp {f['exp']:.3g} ns, read {f['read']:.3g} ns" for dtype, f in floors.items()
        ]
        lines.append(
            f"floors per element, 1 thread, {FLOOR_ELEMENTS:,} elements: " + "; ".join(parts)
        )
    speeds = machine.get("xent_variants_ns_per_logit") or {}
    if speeds:
        best = min(speeds.values())
        parts = [
            f"{name} {ns:.3g} ns" + ("" if ns == best else f" ({ns / best:.3g}x)")
            for name, ns in speeds.items()
        ]
        rows, classes = VARIANT_SHAPE
        lines.append(
            f"xent kernel variants this CPU runs, sparse CE forward {rows:,} x {classes:,} "
            "float32, 1 thread, per logit: " + ", ".join(parts)
        )
    lines.append(", ".join(f"{k} {v}" for k, v in machine["versions"].items()))
    return lines
