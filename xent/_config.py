"""What this build of xent runs on: its compiled kernel and the SIMD variant in use."""

from __future__ import annotations

import platform
from typing import Literal, overload

from ._engine import get_num_threads
from ._kernels import _core
from ._outputs import MIN_BYTES, get_output_cache, output_cache_stats


def _config() -> dict[str, object]:
    from . import __version__

    variants = _core.variants()
    return {
        "xent": __version__,
        "kernel": "compiled",
        "simd": _core.get_variant(),
        "simd_fma": _core.fused(),
        "simd_registers": _core.in_registers(),
        "simd_compiled": [name for name, _ in variants],
        "simd_supported": [name for name, ok in variants if ok],
        "machine": platform.machine(),
        "threads": get_num_threads(),
        "thread_helpers": "kernel (C)" if _core.pool_supported() else "Python",
        "output_cache": get_output_cache(),
        "output_cache_held": output_cache_stats()["bytes"],
        "output_cache_min": MIN_BYTES,
    }


@overload
def show_config(mode: Literal["stdout"] = ...) -> None: ...
@overload
def show_config(mode: Literal["dicts"]) -> dict[str, object]: ...
def show_config(mode: str = "stdout") -> dict[str, object] | None:
    """Show how xent was built and what it runs: its kernel's SIMD variant and its threads.

    The compiled kernels are built for AVX-512 (x86-64-v4), AVX2 + FMA (x86-64-v3) and the
    baseline of the build; the best one this CPU runs is chosen at import, or the one named by
    the ``XENT_SIMD`` environment variable. The variants that fuse their multiply-adds (those
    for CPUs with the FMA instruction) give the same bits; the x86-64 baseline, for CPUs
    without it, rounds them in two steps and may differ in the last place, within the same
    error bounds.

    Parameters
    ----------
    mode : {"stdout", "dicts"}, default "stdout"
        Print the configuration, or return it as a dict (as ``numpy.show_config`` does).

    Returns
    -------
    dict or None
        With ``mode="dicts"``: keys "xent" (version), "kernel", "simd" (the variant in use),
        "simd_fma" (whether it fuses its multiply-adds), "simd_registers" (whether it keeps its
        vectors in registers: False for the baseline, and for an AVX2 variant built without a
        C++ compiler, which is then 3-4x slower), "simd_compiled", "simd_supported", "machine",
        "threads", "thread_helpers" (what runs the blocks of a call beside its own thread:
        "kernel (C)", the kernel's helper threads, or "Python", the engine's pool where the
        build has none), "output_cache" (the bytes of freed output memory kept at most, see
        `set_output_cache`), "output_cache_held" (kept now) and "output_cache_min" (the
        smallest output it serves, in bytes).

    Raises
    ------
    ValueError
        If ``mode`` is not "stdout" or "dicts".

    Examples
    --------
    >>> import xent
    >>> config = xent.show_config(mode="dicts")
    >>> config["simd"] in config["simd_supported"]
    True
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts'; got {mode!r}.")
    config = _config()
    if mode == "dicts":
        return config
    for key, value in config.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
        print(f"{key}: {shown}")
    return None
