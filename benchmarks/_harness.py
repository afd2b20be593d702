"""Correctness check, interleaved timing and peak-memory measurement."""

from __future__ import annotations

import gc
import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._data import Case, Data, check_rows, format_shape, reference_loss, reference_rows
from ._impls import FLOOR, READ_FLOOR, Fn, Impl

# A result is "wrong" when its error exceeds TOL_EPS * eps(dtype), relative to the largest
# reference magnitude (normwise); float32: 1.2e-4, float64: 2.2e-13.
TOL_EPS = 1000
MIN_SAMPLE_SECONDS = 0.005
MAX_NUMBER = 1000
# After a change of thread count or a pause, calls shorter than this get untimed calls first:
# the first call after torch.set_num_threads pays milliseconds of thread-pool start-up, the
# first after a pause the wake-up of idle cores (TORCH_SETTLE_SECONDS).
PRIME_BELOW_SECONDS = 0.05
# Those untimed calls last at least this long (one call at least): after PyTorch's samples one
# call was not enough. On an Intel Xeon VM (AVX-512), xent's categorical focal loss at
# 1,048,576 x 2 float32 took 3.2 ms in a loop of its own; after two PyTorch calls and the pause,
# 5.4 ms as the first call, 4.2 ms as the second and 3.3 ms from the fourth on (5.9 ms as the
# second after a pause of 200 ms). The sample of xent at one thread, which follows PyTorch's in
# every round, was timed in that transient: the focal loss read 1.6x the plain loss, timed
# after it, where the two alone took 1.2x. Ten milliseconds were not enough either (the same
# VM, benchmarks with torch-N, xent-1 and xent-plain alone, medians of the suite's rounds): the
# focal loss 5.76 ms and the plain loss 3.88 ms with 10 ms of untimed calls, 3.58 and 2.99 ms
# with 30 ms (as in a loop of their own), the same with 50 ms.
PRIME_SECONDS = 0.03
# After a sample of PyTorch, this pause before the next sample: PyTorch's OpenMP workers
# (GNU libgomp) busy-wait for a while after each parallel region, on the cores the next
# implementation needs. Measured on an Intel Xeon VM: xent at 2 threads on 8,192 x 1,000
# float32 took 6.8 ms right after a PyTorch call at 2 threads, 5.5 ms 5 ms after it and
# 4.8-5.1 ms from 10 ms on. The pause leaves the cores idle, and the first call after an idle
# spell is slow in its turn (a virtual CPU woken from idle: on an AMD EPYC VM, xent's gradient
# at 8,192 x 1,000 float32, 2 threads, took 9-10.5 ms after 50 ms of sleep against 6.0-6.4 ms
# with one untimed call between), so the sample after a pause starts with an untimed call.
TORCH_SETTLE_SECONDS = 0.02
# Baselines (naive loop, textbook NumPy, SciPy) whose calls take longer than this are sampled in
# the first round only: they are far from every target's threshold and dominate the run time.
SLOW_BASELINE_SECONDS = 0.2
# Rounds continue past the budget, up to NOISY_BUDGET_FACTOR times it, while xent's samples of
# a case spread by more than NOISY_SPREAD of their median: on a shared machine a case's samples
# moved by 30-50 % within three rounds (AMD EPYC VM, 8,192 x 1,000 float32 at one thread:
# 6.75 to 10.1 ms), so that the median of three decided a target by chance.
NOISY_SPREAD = 0.25
NOISY_BUDGET_FACTOR = 3.0
BASELINES = ("naive", "numpy", "scipy")


@dataclass
class Timing:
    """One implementation on one case."""

    key: str
    label: str
    status: str  # "ok", "wrong", "error", "n/a"
    seconds: float | None = None  # median per call, extrapolated to all rows for the naive loop
    samples: list[float] = field(default_factory=list)
    number: int = 1
    error: float | None = None  # normwise relative error against the float64 reference
    note: str = ""


@dataclass
class CaseResult:
    case: Case
    nbytes: int
    floor: Timing  # the exp floor: one np.exp pass
    read: Timing  # the read floor: one pass that only reads the logits
    timings: list[Timing]
    rounds: int
    elapsed: float = 0.0  # seconds spent on the case: checks and rounds

    def get(self, key: str) -> Timing | None:
        for t in (self.floor, self.read, *self.timings):
            if t.key == key:
                return t
        return None

    def seconds(self, key: str) -> float | None:
        t = self.get(key)
        return None if t is None else t.seconds

    def relative(self, key: str, base: str) -> float | None:
        """Median time of ``key`` over that of ``base``; None if either was not timed."""
        a, b = self.seconds(key), self.seconds(base)
        return None if a is None or b is None else a / b

    def ratio(self, key: str) -> float | None:
        """Multiple of the exp floor."""
        return self.relative(key, FLOOR.key)


def unpack(result: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(value, grad) as NumPy arrays, without copies, from any implementation's return value."""
    if isinstance(result, tuple):
        value, grad = result
        return unpack(value)[0], unpack(grad)[0]
    if hasattr(result, "detach"):
        result = result.detach().numpy()
    return np.asarray(result), None


def tolerance(dtype: str) -> float:
    return TOL_EPS * float(np.finfo(np.dtype(dtype)).eps)


def relative_error(got: Any, want: Any) -> float:
    """max |got - want| / max |want|; inf for a shape mismatch or a non-finite result."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.all(np.isfinite(got)):
        return math.inf
    scale = max(float(np.max(np.abs(want), initial=0.0)), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(got - want), initial=0.0)) / scale


def check(case: Case, data: Data, part: slice, result: Any) -> float:
    """Largest normwise relative error against the float64 reference.

    Scalar losses are compared in full; array results (gradient, logsumexp, log_softmax) must
    have the full shape and are compared on ``check_rows`` (all rows for small arrays).
    """
    value, grad = unpack(result)
    n = len(range(*part.indices(data.rows)))
    full = (n, *data.x.shape[1:])
    rows = check_rows(n, data.x.size // data.rows)
    want_value, want_grad = reference_rows(case.op, data, part, rows)
    if want_value is None:
        err = relative_error(value, reference_loss(case.op, data, part))
    elif value.shape != full[: want_value.ndim]:
        return math.inf
    else:
        err = relative_error(value[rows], want_value)
    if case.grad:
        if grad is None or grad.shape != full:
            return math.inf
        err = max(err, relative_error(grad[rows], want_grad))
    return err


def _sample(impl: Impl, fn: Fn, number: int, prime: bool, after_pause: bool = False) -> float:
    """Seconds per call of ``number`` calls; a short call (``prime``) gets untimed calls for
    PRIME_SECONDS first after a change of thread count or a pause."""
    changed = impl.set_threads()
    if prime and (changed or after_pause):
        until = time.perf_counter() + PRIME_SECONDS
        fn()
        while time.perf_counter() < until:
            fn()
    start = time.perf_counter()
    for _ in range(number):
        fn()
    seconds = (time.perf_counter() - start) / number
    if _pauses_after(impl):
        time.sleep(TORCH_SETTLE_SECONDS)
    return seconds


def _pauses_after(impl: Impl) -> bool:
    """Whether a sample of ``impl`` is followed by the pause TORCH_SETTLE_SECONDS."""
    return impl.library == "torch"


def noisy(samples: list[float]) -> bool:
    """Whether samples spread by more than NOISY_SPREAD of their median."""
    if len(samples) < 2:
        return False
    return (max(samples) - min(samples)) > NOISY_SPREAD * statistics.median(samples)


def run_case(
    case: Case,
    data: Data,
    impls: list[Impl],
    *,
    min_rounds: int = 3,
    max_rounds: int = 7,
    budget: float = 2.0,
) -> CaseResult:
    """Check every implementation once (that call is also its warm-up), then time the correct ones.

    Timing is interleaved: each round takes one sample of every implementation, starting at a
    different one each round, so drifts of clock speed or cache state hit all of them alike.
    Rounds continue up to ``max_rounds`` while the case has used less than ``budget`` seconds
    (NOISY_BUDGET_FACTOR times it while xent's samples are `noisy`), and never stop before
    ``min_rounds``; slow baselines sit out all rounds but the first.
    A sample repeats the call ``number`` times so that it lasts at least MIN_SAMPLE_SECONDS,
    ``number`` taken from the quicker of a short call's first two calls: a first call can pay
    a one-off cost (in four runs of the whole suite, xent's first call of the 64 x 10 sparse
    gradient at one thread took 2.5 ms or more, so that its samples were of one or two calls
    and read 5-13 us, against 2 us in a loop). The garbage collector is off for the whole case,
    its checks too (collections of 40-70 ms ran within them), after one collection at its start;
    one of PyTorch is followed by a pause (TORCH_SETTLE_SECONDS, outside the sample) so that
    its spinning threads do not slow the next one, and the next sample of a short call starts
    with untimed calls (PRIME_SECONDS), which wake the cores the pause left idle.
    """
    case_start = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        return _run_case(case, data, impls, min_rounds, max_rounds, budget, case_start)
    finally:
        if gc_was_enabled:
            gc.enable()


def _run_case(
    case: Case,
    data: Data,
    impls: list[Impl],
    min_rounds: int,
    max_rounds: int,
    budget: float,
    case_start: float,
) -> CaseResult:
    """run_case with the garbage collector off."""
    tol = tolerance(case.dtype)
    timed: list[tuple[Impl, Fn, Timing, float]] = []
    floors = []
    for impl in (FLOOR, READ_FLOOR):
        fn = impl.build(case.op, data, slice(None))
        timing = Timing(impl.key, impl.label, "ok")
        floors.append(timing)
        timed.append((impl, fn, timing, _sample(impl, fn, 1, prime=False)))
    results = []
    for impl in impls:
        timing = Timing(impl.key, impl.label, "n/a")
        results.append(timing)
        if not impl.available():
            timing.note = "not installed"
            continue
        part = impl.part(data)
        try:
            fn = impl.build(case.op, data, part)
            impl.set_threads()
            start = time.perf_counter()
            out = fn()
            first = time.perf_counter() - start
            timing.error = check(case, data, part, out) if impl.checked else None
            del out
        except NotImplementedError as exc:
            timing.note = str(exc)
            continue
        except Exception as exc:
            timing.status = "error"
            timing.note = f"{type(exc).__name__}: {exc}"[:200]
            continue
        if timing.error is not None and not timing.error <= tol:
            timing.status = "wrong"
            timing.note = f"error {timing.error:.3g} > tolerance {tol:.3g}"
            continue
        timing.status = "ok"
        if impl.partial:
            timing.note = f"{part.stop:,} of {data.rows:,} {'rows' if data.x.ndim > 1 else 'elems'}"
        if not impl.checked:
            timing.note = "timing baseline, checked in its own case"
        if first < PRIME_BELOW_SECONDS:  # a first call's one-off cost does not set `number`
            start = time.perf_counter()
            fn()
            first = min(first, time.perf_counter() - start)
        timed.append((impl, fn, timing, first))

    for _, _, timing, first in timed:
        timing.number = max(1, min(MAX_NUMBER, math.ceil(MIN_SAMPLE_SECONDS / max(first, 1e-9))))

    def more() -> bool:
        """Another round: within the budget, or within its multiple while xent's are noisy."""
        used = time.perf_counter() - start
        if used < budget:
            return True
        xent_samples = [t.samples for i, _, t, _ in timed if i.library == "xent"]
        return used < NOISY_BUDGET_FACTOR * budget and any(map(noisy, xent_samples))

    start = time.perf_counter()
    rounds = 0
    paused = False  # the last sample was PyTorch's, followed by the pause
    while rounds < max_rounds and (rounds < min_rounds or more()):
        shift = rounds % len(timed)
        for impl, fn, timing, first in timed[shift:] + timed[:shift]:
            if rounds and impl.key in BASELINES and first > SLOW_BASELINE_SECONDS:
                continue
            prime = first < PRIME_BELOW_SECONDS
            timing.samples.append(_sample(impl, fn, timing.number, prime, paused))
            paused = _pauses_after(impl)
        rounds += 1
    for impl, _, timing, _ in timed:
        timing.seconds = statistics.median(timing.samples)
        if impl.partial:
            timing.seconds *= data.rows / impl.part(data).stop
    elapsed = time.perf_counter() - case_start
    return CaseResult(case, data.nbytes, floors[0], floors[1], results, rounds, elapsed)


# --- memory ----------------------------------------------------------------------------------


@dataclass
class Memory:
    """Peak extra memory of one call in a fresh process, returned arrays included."""

    op: str
    shape: str
    dtype: str
    key: str
    label: str
    nbytes: int  # size of the logits
    peak: int | None = None  # bytes above the level just before the call
    method: str = ""
    tracemalloc_peak: int | None = None
    rss_peak: int | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.peak is None else self.peak / self.nbytes


def measure_memory(case: Case, impl: Impl, timeout: float = 300.0) -> Memory:
    """Run ``python -m benchmarks._memory`` for one call and parse its JSON line."""
    shape = "x".join(str(n) for n in case.shape)
    threads = str(impl.threads or 1)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks._memory",
        case.op,
        shape,
        case.dtype,
        impl.key,
        threads,
    ]
    mem = Memory(case.op, format_shape(case.shape), case.dtype, impl.key, impl.label, 0)
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=Path(__file__).resolve().parent.parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        mem.note = "timeout"
        return mem
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        mem.note = (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]
        return mem
    for name, value in json.loads(lines[-1]).items():
        setattr(mem, name, value)
    return mem


def memory_dict(mem: Memory) -> dict[str, Any]:
    out = asdict(mem)
    out["ratio"] = mem.ratio
    return out
