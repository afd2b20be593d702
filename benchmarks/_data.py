"""Benchmark cases, seeded inputs and float64 reference results.

The reference never uses xent: it is the textbook formula evaluated in float64 on a float64 copy of
the inputs, with ``scipy.special.logsumexp`` (stable: it subtracts the row maximum) for the
normaliser.
"""

from __future__ import annotations

from collections.abc import Callable
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
    "softmax",
    "sparse_zloss",
    "sparse_focal",
    "categorical_focal",
    "binary_focal",
    "kl",
)
#: The loss variants (options of a plain loss), each timed against the plain loss.
VARIANT_OF = {
    "sparse_zloss": "sparse",
    "sparse_focal": "sparse",
    "categorical_focal": "categorical",
    "binary_focal": "binary",
    "kl": "categorical",
}
#: The implementation key of the plain loss timed in a loss variant's own rounds.
XENT_PLAIN = "xent-plain"
Z_LOSS = 1e-4
KL_TEMPERATURE = 2.0
FOCAL_GAMMA = 2.0
OP_TITLES = {
    "sparse": "sparse categorical CE from logits, mean, forward",
    "sparse_grad": "sparse categorical CE from logits, mean, with return_grad",
    "categorical": "categorical CE from logits, mean, forward",
    "categorical_grad": "categorical CE from logits, mean, with return_grad",
    "binary": "binary CE from logits, mean, forward",
    "binary_grad": "binary CE from logits, mean, with return_grad",
    "logsumexp": "logsumexp along the last axis",
    "log_softmax": "log_softmax along the last axis",
    "softmax": "softmax along the last axis",
    "sparse_zloss": f"sparse categorical CE from logits with z-loss {Z_LOSS:g}, mean, forward",
    "sparse_focal": f"sparse categorical focal loss, gamma {FOCAL_GAMMA:g}, mean, forward",
    "categorical_focal": (
        f"categorical focal loss, soft targets, gamma {FOCAL_GAMMA:g}, mean, forward"
    ),
    "binary_focal": f"binary focal loss from logits, gamma {FOCAL_GAMMA:g}, mean, forward",
    "kl": f"KL divergence, teacher and student logits, T = {KL_TEMPERATURE:g}, mean, forward",
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
        if self.op == "kl":
            return "kl"
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


CHUNK_ELEMENTS = 1 << 20
CHECK_ELEMENTS = 1 << 21


@dataclass
class Data:
    """Inputs for one (family, shape, dtype, dist), built once and shared by its cases.

    ``x`` logits; ``y`` int64 class ids (matrix) or 0/1 targets in x's dtype (binary);
    ``t`` target distributions (categorical) or a teacher's logits (kl).  Reference results are
    cached here.
    """

    key: tuple[str, Shape, str, str]
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def nbytes(self) -> int:
        return int(self.x.nbytes)

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def chunks(self) -> list[slice]:
        """Row blocks of about CHUNK_ELEMENTS numbers, so float64 copies stay small."""
        step = max(1, CHUNK_ELEMENTS // (self.x.size // self.rows))
        return [slice(i, min(i + step, self.rows)) for i in range(0, self.rows, step)]

    def lse64(self) -> np.ndarray:
        """scipy.special.logsumexp of every row of the float64 copy of x, computed once."""

        def compute() -> np.ndarray:
            return np.concatenate(
                [scipy.special.logsumexp(_f64(self.x[c]), axis=-1) for c in self.chunks()]
            )

        return np.asarray(self.cached("lse64", compute))


def _f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64, copy=False)


def make_data(family: str, shape: Shape, dtype: str, dist: str, seed: int = 0) -> Data:
    """Seeded inputs: logits are standard normal * 3; "trained" adds 12 to the true class on 90%.

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
    if family == "kl":  # a teacher's logits: the student's moved by N(0, 1) per entry
        t = x + rng.standard_normal(shape, dtype=np.dtype(dtype).type)
    if family == "categorical":
        if dist == "trained":
            t = np.zeros(shape, dtype=dtype)
            t[np.arange(n), y] = 1
        else:
            t = rng.random(shape, dtype=np.dtype(dtype).type)
            t /= t.sum(axis=-1, keepdims=True)
    return Data(key, x, y, t)


def check_rows(n: int, per_row: int) -> np.ndarray:
    """Rows on which array results are compared: all of them up to CHECK_ELEMENTS numbers, else
    evenly spaced rows including the first and the last (every block of a blocked engine)."""
    k = max(2, CHECK_ELEMENTS // per_row)
    if k >= n:
        return np.arange(n)
    # k < n, so the step is at least 1 and the rounded-down indices are distinct
    return np.linspace(0, n - 1, k).astype(np.int64)


def reference_loss(op: str, data: Data, part: slice) -> float:
    """Float64 mean loss over the rows ``part`` (cached per op family and part)."""
    family = op.removesuffix("_grad")
    return float(data.cached((family, part.start, part.stop), lambda: _loss(family, data, part)))


def _loss(family: str, data: Data, part: slice) -> float:
    lo, hi, _ = part.indices(data.rows)
    if family.startswith("binary"):
        x, y = _f64(data.x[part]), _f64(data.y[part])
        # l = log(1 + e^x) - y*x, stable through logaddexp
        ce = np.logaddexp(0.0, x) - y * x
        if family == "binary_focal":  # torchvision's formula: ce (1 - p_t)^gamma
            p = scipy.special.expit(x)
            ce = ce * (y * (1 - p) + (1 - y) * p) ** FOCAL_GAMMA
        return float(np.mean(ce))
    if family == "kl":
        assert data.t is not None
        tt = KL_TEMPERATURE
        total = 0.0
        for chunk in data.chunks():
            a, b, _ = chunk.indices(data.rows)
            rows = slice(max(a, lo), min(b, hi))
            if rows.start >= rows.stop:
                continue
            log_p = scipy.special.log_softmax(_f64(data.t[rows]) / tt, axis=-1)
            log_q = scipy.special.log_softmax(_f64(data.x[rows]) / tt, axis=-1)
            total += float(np.sum(np.exp(log_p) * (log_p - log_q)))
        return tt**2 * total / (hi - lo)
    lse = data.lse64()
    if family.startswith("sparse"):
        ids = np.arange(lo, hi)
        logp = _f64(data.x[ids, data.y[lo:hi]]) - lse[lo:hi]
        if family == "sparse_zloss":
            return float(np.mean(Z_LOSS * lse[lo:hi] ** 2 - logp))
        if family == "sparse_focal":
            return float(np.mean(-((-np.expm1(logp)) ** FOCAL_GAMMA) * logp))
        return float(np.mean(-logp))
    assert data.t is not None
    total, weight = 0.0, 0.0
    for chunk in data.chunks():
        a, b, _ = chunk.indices(data.rows)
        rows = slice(max(a, lo), min(b, hi))
        if rows.start >= rows.stop:
            continue
        t = _f64(data.t[rows])
        # l_i = -sum_c t_ic log p_ic; mean over rows weighted by sum_c t_ic
        logp = _f64(data.x[rows]) - lse[rows, None]
        if family == "categorical_focal":  # -sum_c t_c (1 - p_c)^gamma log p_c
            t = t * (-np.expm1(logp)) ** FOCAL_GAMMA
        total -= float(np.sum(t * logp))
        weight += float(_f64(data.t[rows]).sum())
    return total / weight


def reference_rows(
    op: str, data: Data, part: slice, rows: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Float64 (array value, gradient) on ``rows`` (indices within ``part``); None where the op
    has no such output."""
    lo, hi, _ = part.indices(data.rows)
    n = hi - lo
    idx = rows + lo
    x = _f64(data.x[idx])
    if op.startswith("binary"):
        grad = (scipy.special.expit(x) - _f64(data.y[idx])) / n if op.endswith("_grad") else None
        return None, grad
    lse = data.lse64()[idx]
    if op == "logsumexp":
        return lse, None
    log_p = x - lse[:, None]
    if op == "log_softmax":
        return log_p, None
    if op == "softmax":
        return np.exp(log_p), None
    if not op.endswith("_grad"):
        return None, None
    if op.startswith("sparse"):
        grad = np.exp(log_p)
        grad[np.arange(len(idx)), data.y[idx]] -= 1.0
        return None, grad / n
    targets = data.t
    assert targets is not None
    t = _f64(targets[idx])
    total_weight = data.cached(("weight", lo, hi), lambda: float(_f64(targets[lo:hi]).sum()))
    return None, (np.exp(log_p) * t.sum(axis=-1, keepdims=True) - t) / total_weight
