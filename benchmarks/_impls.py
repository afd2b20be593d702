"""The implementations compared, one builder per library.

A builder takes ``(op, data, part)`` and returns a zero-argument callable: everything that is not
the computation (converting to Python lists, ``torch.from_numpy``, preallocating the floor's
buffer) happens in the builder, outside the timed region.  ``part`` selects the rows the naive loop
runs on; every other implementation gets all rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.special

from ._data import FOCAL_GAMMA, KL_TEMPERATURE, VARIANT_OF, XENT_PLAIN, Z_LOSS, Data

Fn = Callable[[], Any]
Builder = Callable[[str, Data, slice], Fn]

NAIVE_ELEMENTS = 20_000


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_torch() -> ModuleType | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def load_xent() -> ModuleType | None:
    """xent if it imports (functions it lacks yet are reported per case), else None."""
    try:
        import xent
    except Exception:
        return None
    return xent if hasattr(xent, "set_num_threads") else None


def _plain_only(op: str) -> None:
    """The loss variants (z-loss, focal) are timed for xent and PyTorch only."""
    if op in VARIANT_OF:
        raise NotImplementedError(f"no {op} here: timed for xent and PyTorch")


# --- floors ----------------------------------------------------------------------------------


def build_floor(op: str, data: Data, part: slice) -> Fn:
    """The exp floor: one single-threaded ``np.exp`` pass into a preallocated buffer."""
    x = data.x
    buf = np.empty_like(x)
    return lambda: np.exp(x, out=buf)


def read_floor(x: np.ndarray) -> Any:
    """One pass that only reads ``x``: the memory-bandwidth limit of any implementation.

    The maximum over the flattened array: NumPy's SIMD maximum reduction was the fastest honest
    single-threaded read measured here (at or below ``np.sum``, whose pairwise summation does
    more work per element; ``x @ x`` is faster but runs in BLAS, with its own threads).
    """
    return np.maximum.reduce(x, axis=None)


def build_read_floor(op: str, data: Data, part: slice) -> Fn:
    x = data.x
    return lambda: read_floor(x)


# --- naive pure-Python loop ------------------------------------------------------------------


def _lse(row: list[float]) -> float:
    m = max(row)
    s = 0.0
    for v in row:
        s += math.exp(v - m)
    return m + math.log(s)


def _sigmoid(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def build_naive(op: str, data: Data, part: slice) -> Fn:
    """Per-row Python loops with math.exp/math.log on lists (the lists are made before timing)."""
    _plain_only(op)
    xs: list[Any] = data.x[part].tolist()
    n = len(xs)
    if op.startswith("binary"):
        ts: list[float] = data.y[part].tolist()

        def binary() -> Any:
            total = 0.0
            for v, t in zip(xs, ts, strict=True):
                total += max(v, 0.0) - v * t + math.log1p(math.exp(-abs(v)))
            if op == "binary":
                return total / n
            return total / n, [(_sigmoid(v) - t) / n for v, t in zip(xs, ts, strict=True)]

        return binary
    if op == "logsumexp":
        return lambda: [_lse(row) for row in xs]
    if op == "log_softmax":
        return lambda: [[v - lse for v in row] for row in xs for lse in (_lse(row),)]
    if op == "softmax":
        return lambda: [[math.exp(v - lse) for v in row] for row in xs for lse in (_lse(row),)]
    if op.startswith("sparse"):
        ids: list[int] = data.y[part].tolist()

        def sparse() -> Any:
            total = 0.0
            grads = []
            for row, k in zip(xs, ids, strict=True):
                lse = _lse(row)
                total += lse - row[k]
                if op == "sparse_grad":
                    g = [math.exp(v - lse) / n for v in row]
                    g[k] -= 1.0 / n
                    grads.append(g)
            return total / n if op == "sparse" else (total / n, grads)

        return sparse
    assert data.t is not None
    tss: list[list[float]] = data.t[part].tolist()

    def categorical() -> Any:
        total = 0.0
        grads = []
        for row, trow in zip(xs, tss, strict=True):
            lse = _lse(row)
            total += sum(t * (lse - v) for v, t in zip(row, trow, strict=True))
            if op == "categorical_grad":
                grads.append([(math.exp(v - lse) - t) / n for v, t in zip(row, trow, strict=True)])
        return total / n if op == "categorical" else (total / n, grads)

    return categorical


def naive_part(data: Data) -> slice:
    """The leading rows (or elements) the naive loop is timed on: about NAIVE_ELEMENTS numbers."""
    per_row = data.x.size // data.rows
    return slice(0, max(1, min(data.rows, NAIVE_ELEMENTS // per_row)))


# --- textbook NumPy --------------------------------------------------------------------------


def build_textbook(op: str, data: Data, part: slice) -> Fn:
    """Whole-array NumPy as written in tutorials: subtract the max, exp, sum, log."""
    _plain_only(op)
    x, y = data.x, data.y
    if op.startswith("binary"):

        def binary() -> Any:
            loss = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
            if op == "binary":
                return loss
            return loss, (1 / (1 + np.exp(-x)) - y) / x.size

        return binary
    n = x.shape[0]
    rows = np.arange(n)

    def log_softmax() -> np.ndarray:
        z = x - x.max(axis=-1, keepdims=True)
        out: np.ndarray = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        return out

    if op == "logsumexp":

        def lse() -> np.ndarray:
            m = x.max(axis=-1, keepdims=True)
            out: np.ndarray = np.log(np.exp(x - m).sum(axis=-1)) + m[:, 0]
            return out

        return lse
    if op == "log_softmax":
        return log_softmax
    if op == "softmax":

        def softmax() -> np.ndarray:
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
            return out

        return softmax
    if op.startswith("sparse"):

        def sparse() -> Any:
            ls = log_softmax()
            loss = -np.mean(ls[rows, y])
            if op == "sparse":
                return loss
            p = np.exp(ls)
            p[rows, y] -= 1
            return loss, p / n

        return sparse
    t = data.t

    def categorical() -> Any:
        ls = log_softmax()
        loss = -np.mean(np.sum(t * ls, axis=-1))
        if op == "categorical":
            return loss
        return loss, (np.exp(ls) - t) / n

    return categorical


# --- SciPy -----------------------------------------------------------------------------------


def build_scipy(op: str, data: Data, part: slice) -> Fn:
    """scipy.special.logsumexp / log_softmax / softmax / log_expit plus the obvious NumPy glue."""
    _plain_only(op)
    sp = scipy.special
    x, y = data.x, data.y
    if op.startswith("binary"):

        def binary() -> Any:
            loss = -np.mean(y * sp.log_expit(x) + (1 - y) * sp.log_expit(-x))
            return loss if op == "binary" else (loss, (sp.expit(x) - y) / x.size)

        return binary
    if op == "logsumexp":
        return lambda: sp.logsumexp(x, axis=-1)
    if op == "log_softmax":
        return lambda: sp.log_softmax(x, axis=-1)
    if op == "softmax":
        return lambda: sp.softmax(x, axis=-1)
    n = x.shape[0]
    rows = np.arange(n)
    if op.startswith("sparse"):

        def sparse() -> Any:
            loss = np.mean(sp.logsumexp(x, axis=-1) - x[rows, y])
            if op == "sparse":
                return loss
            p = sp.softmax(x, axis=-1)
            p[rows, y] -= 1
            return loss, p / n

        return sparse
    t = data.t
    assert t is not None

    def categorical() -> Any:
        loss = np.mean(sp.logsumexp(x, axis=-1) * t.sum(axis=-1) - np.sum(t * x, axis=-1))
        return loss if op == "categorical" else (loss, (sp.softmax(x, axis=-1) - t) / n)

    return categorical


# --- PyTorch ---------------------------------------------------------------------------------


def build_torch(op: str, data: Data, part: slice) -> Fn:
    """torch.nn.functional on torch.from_numpy views (no copies); autograd for the gradient."""
    torch = load_torch()
    if torch is None:
        raise ImportError("torch is not installed")
    f = torch.nn.functional
    x = torch.from_numpy(data.x)
    grad = op.endswith("_grad")
    if grad:
        x.requires_grad_(True)
    if op == "logsumexp":
        return lambda: torch.logsumexp(x, dim=-1)
    if op == "log_softmax":
        return lambda: torch.log_softmax(x, dim=-1)
    if op == "softmax":
        return lambda: torch.softmax(x, dim=-1)
    if op == "binary_focal":  # torchvision.ops.sigmoid_focal_loss without alpha, mean
        target = torch.from_numpy(data.y)

        def loss_fn() -> Any:
            p = torch.sigmoid(x)
            ce = f.binary_cross_entropy_with_logits(x, target, reduction="none")
            p_t = p * target + (1 - p) * (1 - target)
            return (ce * (1 - p_t) ** FOCAL_GAMMA).mean()
    elif op.startswith("binary"):
        target = torch.from_numpy(data.y)

        def loss_fn() -> Any:
            return f.binary_cross_entropy_with_logits(x, target)
    elif op == "sparse_zloss":  # cross_entropy plus z lse^2 (PaLM's z-loss)
        target = torch.from_numpy(data.y)

        def loss_fn() -> Any:
            return f.cross_entropy(x, target) + Z_LOSS * (torch.logsumexp(x, -1) ** 2).mean()
    elif op == "kl":  # distillation: F.kl_div of the log-softmaxes at T, times T^2
        teacher = torch.from_numpy(data.t)
        tt = KL_TEMPERATURE

        def loss_fn() -> Any:
            log_q = torch.log_softmax(x / tt, -1)
            log_p = torch.log_softmax(teacher / tt, -1)
            return f.kl_div(log_q, log_p, log_target=True, reduction="batchmean") * tt**2
    elif op == "categorical_focal":  # -sum_c t_c (1 - p_c)^gamma log p_c from log_softmax
        soft = torch.from_numpy(data.t)

        def loss_fn() -> Any:
            logp = torch.log_softmax(x, -1)
            return (-(soft * (1 - logp.exp()) ** FOCAL_GAMMA * logp).sum(-1)).mean()
    elif op == "sparse_focal":  # -(1 - p_y)^gamma log p_y from log_softmax
        target = torch.from_numpy(data.y)

        def loss_fn() -> Any:
            logp = torch.log_softmax(x, -1).gather(-1, target[:, None])[:, 0]
            return (-((1 - logp.exp()) ** FOCAL_GAMMA) * logp).mean()
    else:
        target = torch.from_numpy(data.y if data.t is None else data.t)

        def loss_fn() -> Any:
            return f.cross_entropy(x, target)

    if not grad:
        return loss_fn

    def with_grad() -> Any:
        loss = loss_fn()
        (g,) = torch.autograd.grad(loss, x)
        return loss.detach(), g

    return with_grad


# --- xent ------------------------------------------------------------------------------------


XENT_FUNCTIONS = {
    "sparse": "sparse_categorical_cross_entropy",
    "categorical": "categorical_cross_entropy",
    "binary": "binary_cross_entropy",
    "logsumexp": "logsumexp",
    "log_softmax": "log_softmax",
    "softmax": "softmax",
}


def build_xent(op: str, data: Data, part: slice) -> Fn:
    xent = load_xent()
    if xent is None:
        raise ImportError("xent does not import")
    name = XENT_FUNCTIONS[VARIANT_OF.get(op, op).removesuffix("_grad")]
    if not hasattr(xent, name):
        raise NotImplementedError(f"xent has no {name}")
    x, y = data.x, data.y
    grad = op.endswith("_grad")
    if op == "logsumexp":
        return lambda: xent.logsumexp(x, axis=-1)
    if op == "log_softmax":
        return lambda: xent.log_softmax(x, axis=-1)
    if op == "softmax":
        return lambda: xent.softmax(x, axis=-1)
    if op == "binary_focal":
        return lambda: xent.binary_cross_entropy(y, x, from_logits=True, focal_gamma=FOCAL_GAMMA)
    if op == "sparse_zloss":
        return lambda: xent.sparse_categorical_cross_entropy(y, x, from_logits=True, z_loss=Z_LOSS)
    if op == "kl":
        if not hasattr(xent, "kl_divergence"):
            raise NotImplementedError("xent has no kl_divergence")
        teacher = data.t
        return lambda: xent.kl_divergence(
            teacher, x, from_logits=True, target_from_logits=True, temperature=KL_TEMPERATURE
        )
    if op == "sparse_focal":
        return lambda: xent.sparse_categorical_cross_entropy(
            y, x, from_logits=True, focal_gamma=FOCAL_GAMMA
        )
    if op == "categorical_focal":
        soft = data.t
        return lambda: xent.categorical_cross_entropy(
            soft, x, from_logits=True, focal_gamma=FOCAL_GAMMA
        )
    if op.startswith("binary"):
        return lambda: xent.binary_cross_entropy(y, x, from_logits=True, return_grad=grad)
    if op.startswith("sparse"):
        return lambda: xent.sparse_categorical_cross_entropy(
            y, x, from_logits=True, return_grad=grad
        )
    t = data.t
    return lambda: xent.categorical_cross_entropy(t, x, from_logits=True, return_grad=grad)


def build_xent_plain(op: str, data: Data, part: slice) -> Fn:
    """xent's plain loss on a loss variant's inputs (the sparse, categorical or binary loss;
    for the KL divergence, the categorical loss of the teacher's probabilities at the
    temperature against the student's logits), timed in the variant's interleaved rounds, so
    that the variant's ratio to it does not carry the machine's drift between two cases. It is
    checked against the reference in its own case, not here (the variant's reference is not
    its)."""
    if op not in VARIANT_OF:
        raise NotImplementedError("timed for the loss variants only")
    xent = load_xent()
    if xent is None:
        raise ImportError("xent does not import")
    x, y = data.x, data.y
    plain = VARIANT_OF[op]
    if plain == "sparse":
        return lambda: xent.sparse_categorical_cross_entropy(y, x, from_logits=True)
    if plain == "binary":
        return lambda: xent.binary_cross_entropy(y, x, from_logits=True)
    assert data.t is not None
    t = data.t if op != "kl" else xent.softmax(data.t / KL_TEMPERATURE, axis=-1)
    return lambda: xent.categorical_cross_entropy(t, x, from_logits=True)


# --- registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Impl:
    """An implementation in one configuration (library and thread count)."""

    key: str
    label: str
    library: str
    build: Builder
    threads: int | None = None
    #: False for a timing baseline that computes another function than the case's (checked
    #: in its own case)
    checked: bool = True

    @property
    def partial(self) -> bool:
        """True for the naive loop, which is timed on a subset of rows and extrapolated."""
        return self.library == "naive"

    def part(self, data: Data) -> slice:
        return naive_part(data) if self.partial else slice(None)

    def available(self) -> bool:
        if self.library == "torch":
            return load_torch() is not None
        if self.library == "xent":
            return load_xent() is not None
        return True

    def set_threads(self) -> bool:
        """Pin the library's thread count before a sample; True if it changed."""
        if self.threads is None:
            return False
        lib = load_torch() if self.library == "torch" else load_xent()
        if lib is None:
            return False
        if lib.get_num_threads() == self.threads:
            return False
        lib.set_num_threads(self.threads)
        return True


FLOOR = Impl("floor", "exp floor", "numpy", build_floor)
READ_FLOOR = Impl("read", "read floor", "numpy", build_read_floor)


def implementations(threads: int) -> list[Impl]:
    """All compared implementations; the N-thread variants only when N > 1."""
    impls = [
        Impl("naive", "naive loop*", "naive", build_naive),
        Impl("numpy", "textbook NumPy", "numpy", build_textbook),
        Impl("scipy", "SciPy", "scipy", build_scipy),
        Impl("torch-1", "torch 1T", "torch", build_torch, 1),
    ]
    if threads > 1:
        impls.append(Impl("torch-N", f"torch {threads}T", "torch", build_torch, threads))
    impls.append(Impl("xent-1", "xent 1T", "xent", build_xent, 1))
    impls.append(Impl(XENT_PLAIN, "xent plain 1T", "xent", build_xent_plain, 1, checked=False))
    if threads > 1:
        impls.append(Impl("xent-N", f"xent {threads}T", "xent", build_xent, threads))
    return impls


def find_impl(key: str, threads: int) -> Impl:
    for impl in [FLOOR, READ_FLOOR, *implementations(max(threads, 2))]:
        if impl.key == key:
            return impl
    raise KeyError(f"unknown implementation {key!r}")
