"""Benchmark suite for xent: time, correctness and peak memory against the usual alternatives.

Run ``python -m benchmarks`` from the repository root (``python -m benchmarks --help`` lists the
options).  Every implementation is checked against a float64 SciPy reference before it is timed,
timed in interleaved rounds against one ``np.exp`` pass over the same logits (the "exp floor")
and one pass that only reads them (the "read floor"), and measured for peak extra memory in a
fresh process.  The targets of the project are checked on those figures (PASS/MISS).

Modules
-------
_data      seeded inputs and the float64 reference results
_impls     the implementations compared (naive loop, textbook NumPy, SciPy, PyTorch, xent)
_harness   correctness check, interleaved timing, memory measurement in a subprocess
_memory    the subprocess entry point of the memory measurement
_machine   the header: CPU, cores, SIMD levels of NumPy and of xent's kernel, floors per element
_targets   the speed and memory targets (one table each) and the PASS/MISS checker
_report    tables, JSON, Markdown and the plot
__main__   command line
"""
