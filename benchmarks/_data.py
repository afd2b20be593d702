"""Benchmark cases, seeded inputs and float64 reference results.

The reference never uses xent: it is the textbook formula evaluated in float64 on a float64 copy of
the inputs, with ``scipy.special.logsumexp`` (stable: it subtracts the row maximum) for the
normaliser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.special

OPS = (
    "sparse",
    "sparse_grad",
    "categorical",
    "categorical_grad",
    "binary",
    "binary_grad",
    "logsumexp",
    "log_softmax",
)
OP_TITLES = {
    "sparse": "sparse categorical CE from logits, mean, forward",
    "sparse_grad": "sparse categorical CE from logits, mean, with return_grad",
    "categorical": "categorical CE from logits, mean, forward",
    "categorical_grad": "categorical CE from logits, mean, with return_grad",
    "binary": "binary CE from logits, mean, forward",
    "binary_grad": "binary CE from logits, mean, with return_grad",
    "logsumexp": "logsumexp along the last axis",
    "log_softmax": "log_softmax along the last axis",
}
DISTS = ("random", "trained")
TRAINED_MARGIN = 12.0
TRAINED_FRACTION = 0.9
LOGIT_SCALE = 3.0

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Case:
    """One row of a result table: an operation on one shape, dtype and input distribution."""

    op: str
    shape: Shape
    dtype: str
    dist: str

    @property
    def grad(self) -> bool:
        return self.op.endswith("_grad")

    @property
    def family(self) -> str:
        """Which inputs the op needs: ``binary``, ``categorical`` or ``matrix`` (logits + ids)."""
        if self.op.startswith("binary"):
            return "binary"
        if self.op.startswith("categorical"):
            return "categorical"
        return "matrix"

    @property
    def data_key(self) -> tuple[str, Shape, str, str]:
        return (self.family, self.shape, self.dtype, self.dist)

    @property
    def targets(self) -> str:
        """How the targets look, for the tables."""
        if self.family == "categorical":
            return "one-hot" if self.dist == "trained" else "soft"
        return ""


def parse_shape(text: str) -> Shape:
    """``"2048x32000"`` or ``"2,048x32,000"`` -> ``(2048, 32000)``."""
    parts = text.lower().replace(",", "").replace("_", "").split("x")
    shape = tuple(int(p) for p in parts if p)
    if not shape or any(n < 1 for n in shape):
        raise ValueError(f"bad shape {text!r}; write it like 2048x32000")
    return shape


def format_shape(shape: Shape) -> str:
    return "x".join(f"{n:,}" for n in shape)


@dataclass
class Data:
    """Inputs for one (family, shape, dtype, dist), built once and shared by its cases.

    ``x`` logits; ``y`` int64 class ids (matrix) or 0/1 targets in x's dtype (binary);
    ``t`` target distributions (categorical).
    """

    key: tuple[str, Shape, str, str]
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray | None = None
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def nbytes(self) -> int:
        return int(self.x.nbytes)

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])

    def lse64(self) -> np.ndarray:
        """Float64 logsumexp of every row, computed once."""
        if "lse64" not in self._cache:
            x64 = self.x.astype(np.float64)
            self._cache["lse64"] = np.asarray(scipy.special.logsumexp(x64, axis=-1))
        return self._cache["lse64"]


def make_data(family: str, shape: Shape, dtype: str, dist: str, seed: int = 0) -> Data:
    """Seeded inputs: standard normal * 3 logits; "trained" adds 12 to the true class on 90% of rows.

    For binary CE the "trained" logits carry the sign of the target (+-12) on 90% of elements.
    Categorical targets are soft (uniform random rows, normalised) for "random" logits and one-hot
    for "trained" ones.
    """
    if dist not in DISTS:
        raise ValueError(f"dist must be one of {DISTS}; got {dist!r}")
    key = (family, shape, dtype, dist)
    rng = np.random.default_rng([seed, *shape, len(dtype), DISTS.index(dist)])
    x = rng.standard_normal(shape, dtype=np.dtype(dtype).type)
    x *= LOGIT_SCALE
    if family == "binary":
        yb = (rng.random(shape) < 0.5).astype(dtype)
        if dist == "trained":
            confident = rng.random(shape) < TRAINED_FRACTION
            x += (confident * TRAINED_MARGIN * (2 * yb - 1)).astype(dtype)
        return Data(key, x, yb)
    if len(shape) != 2:
        raise ValueError(f"{family} benchmarks need a 2-D shape (rows x classes); got {shape}")
    n, c = shape
    y = rng.integers(0, c, size=n, dtype=np.int64)
    if dist == "trained":
        rows = np.flatnonzero(rng.random(n) < TRAINED_FRACTION)
        x[rows, y[rows]] += TRAINED_MARGIN
    t = None
    if family == "categorical":
        if dist == "trained":
            t = np.zeros(shape, dtype=dtype)
            t[np.arange(n), y] = 1
        else:
            t = rng.random(shape, dtype=np.dtype(dtype).type)
            t /= t.sum(axis=-1, keepdims=True)
    return Data(key, x, y, t)


def reference(op: str, data: Data, part: slice = slice(None)) -> tuple[Any, np.ndarray | None]:
    """Float64 (value, grad) of ``op`` on the rows ``part`` of ``data`` (mean over those rows)."""
    x = data.x[part].astype(np.float64)
    if op.startswith("binary"):
        y = data.y[part].astype(np.float64)
        # l = log(1 + e^x) - y*x, stable through logaddexp; dl/dx = sigmoid(x) - y
        loss = np.mean(np.logaddexp(0.0, x) - y * x)
        grad = (scipy.special.expit(x) - y) / x.size if op.endswith("_grad") else None
        return loss, grad
    lse = data.lse64()[part]
    if op == "logsumexp":
        return lse, None
    log_p = x - lse[:, None]
    if op == "log_softmax":
        return log_p, None
    n = x.shape[0]
    if op.startswith("sparse"):
        rows = np.arange(n)
        ids = data.y[part]
        loss = np.mean(lse - x[rows, ids])
        grad = None
        if op.endswith("_grad"):
            grad = np.exp(log_p)
            grad[rows, ids] -= 1.0
            grad /= n
        return loss, grad
    assert data.t is not None
    t = data.t[part].astype(np.float64)
    weight = t.sum(axis=-1)
    # l_i = -sum_c t_ic log p_ic; mean over rows with weight sum_c t_ic
    loss = -np.sum(t * log_p) / weight.sum()
    grad = None
    if op.endswith("_grad"):
        grad = (np.exp(log_p) * weight[:, None] - t) / weight.sum()
    return loss, grad
