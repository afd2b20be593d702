"""Benchmark suite for xent: time, correctness and peak memory against the usual alternatives.

Run ``python -m benchmarks`` from the repository root (``python -m benchmarks --help`` lists the
options).  Every implementation is checked against a float64 SciPy reference before it is timed,
timed in interleaved rounds against one ``np.exp`` pass over the same logits (the "exp floor"),
and measured for peak extra memory in a fresh process.

Modules
-------
_data      seeded inputs and the float64 reference results
_impls     the implementations compared (naive loop, textbook NumPy, SciPy, PyTorch, xent)
_harness   correctness check, interleaved timing, memory measurement in a subprocess
_memory    the subprocess entry point of the memory measurement
_report    tables, targets, JSON, Markdown and the plot
__main__   command line
"""
