"""Peak extra memory of one call, run in a fresh process.

    python -m benchmarks._memory OP SHAPE DTYPE IMPL THREADS

prints one JSON line with the peak in bytes above the level just before the call, the returned
value (the gradient, the log_softmax array) included since it is alive at the peak.  Two
measurements are taken together: tracemalloc (NumPy reports its buffers to it, so it sees every
array the NumPy-based implementations allocate and nothing else) and the resident-set high-water
mark (VmHWM, reset through /proc/self/clear_refs; ru_maxrss where that is unavailable), which also
sees PyTorch's allocator.  ``peak`` is the tracemalloc figure for NumPy-based implementations and
the resident-set figure for PyTorch.
"""

from __future__ import annotations

import json
import resource
import sys
import tracemalloc
from pathlib import Path

from ._data import Case, make_data, parse_shape
from ._impls import find_impl

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_rss_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def measure(op: str, shape: str, dtype: str, key: str, threads: int) -> dict[str, object]:
    case = Case(op, parse_shape(shape), dtype, "random")
    data = make_data(case.family, case.shape, dtype, "random")
    impl = find_impl(key, threads)
    try:
        fn = impl.build(op, data, slice(None))
    except NotImplementedError as exc:
        return {"nbytes": data.nbytes, "note": f"n/a ({exc})"}
    impl.set_threads()

    hwm_reset = _reset_rss_peak()
    rss_before = _status_kib("VmRSS") if hwm_reset else None
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    result = fn()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = _status_kib("VmHWM") if hwm_reset else None
    if rss_before is not None and hwm is not None:
        rss_peak, rss_method = (hwm - rss_before) * 1024, "rss (VmHWM)"
    else:
        maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_peak, rss_method = (maxrss_after - maxrss_before) * 1024, "rss (ru_maxrss)"
    del result
    torch_based = impl.library == "torch"
    return {
        "nbytes": data.nbytes,
        "peak": rss_peak if torch_based else traced_peak,
        "method": rss_method if torch_based else "tracemalloc",
        "tracemalloc_peak": traced_peak,
        "rss_peak": rss_peak,
    }


def main(argv: list[str]) -> int:
    op, shape, dtype, key, threads = argv
    print(json.dumps(measure(op, shape, dtype, key, int(threads))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
