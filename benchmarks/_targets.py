"""The project's speed and memory targets, as one table each, and the one checker behind PASS/MISS.

A goal names the cases it covers (operations, number of classes, input size) and a measure of
xent on each case; the checker takes the (value, limit) of every covered case and says PASS when
all are within, MISS naming the worst case and by how much, SKIP when nothing was measured
(a peer not installed, a shape not in this run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._data import OPS, VARIANT_OF, XENT_PLAIN, format_shape
from ._harness import CaseResult, Memory

MIB = 2**20
XENT_1 = "xent-1"


@dataclass
class Target:
    status: str  # PASS, MISS or SKIP
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:4}  {self.name}: {self.detail}"


@dataclass(frozen=True)
class Point:
    """One covered case: its measured value and its limit."""

    value: float
    limit: float
    where: str


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.3g}x" if ratio < 100 else f"{ratio:,.0f}x"


def fmt_bytes(n: float) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n / 1024:.0f} KiB"


def verdict(
    name: str,
    points: Sequence[Point],
    *,
    at_least: bool = False,
    unit: Callable[[float], str] = fmt_ratio,
    skip: str = "no case measured",
) -> Target:
    """PASS if every value is within its limit (``<= limit``, or ``>= limit`` when ``at_least``).

    The detail names the worst case relative to its limit and, for a MISS, how far off it is.
    """
    if not points:
        return Target("SKIP", name, skip)

    def excess(p: Point) -> float:
        """Value over limit (limit over value for a speed-up): above 1 when the point misses."""
        if at_least:
            return p.limit / p.value if p.value > 0 else math.inf
        return p.value / p.limit if p.limit > 0 else math.inf

    worst = max(points, key=excess)
    within = sum(excess(p) <= 1 for p in points)
    detail = f"worst {unit(worst.value)} at {worst.where} (limit {unit(worst.limit)})"
    if within < len(points):
        factor = excess(worst)
        by = f"{factor - 1:.0%}" if factor < 2 else f"{factor:.3g}x"
        detail += f", missed by {by}"
    detail += f"; {within}/{len(points)} cases within"
    return Target("PASS" if within == len(points) else "MISS", name, detail)


# --- timing ----------------------------------------------------------------------------------


def _where(r: CaseResult) -> str:
    where = f"{r.case.op} {format_shape(r.case.shape)} {r.case.dtype} {r.case.dist}"
    return where + (f"/{r.case.targets}" if r.case.targets else "")


def _matching_sparse(r: CaseResult, results: Sequence[CaseResult]) -> CaseResult | None:
    """The sparse case with the same shape, dtype (and input distribution, if there is one)."""
    op = r.case.op.replace("categorical", "sparse")
    key = (op, r.case.shape, r.case.dtype)
    same = [s for s in results if (s.case.op, s.case.shape, s.case.dtype) == key]
    return next((s for s in same if s.case.dist == r.case.dist), same[0] if same else None)


def _vs_sparse(r: CaseResult, results: Sequence[CaseResult], threads: int) -> float | None:
    sparse = _matching_sparse(r, results)
    base = None if sparse is None else sparse.seconds(XENT_1)
    mine = r.seconds(XENT_1)
    return None if base is None or mine is None else mine / base


def _vs_plain(r: CaseResult, results: Sequence[CaseResult], threads: int) -> float | None:
    """xent's time of a loss variant (z-loss, focal, KL) over the plain loss's on the same
    inputs: timed in the variant's own interleaved rounds where it was (XENT_PLAIN), else the
    plain loss's own case at the same shape."""
    same_rounds = r.relative(XENT_1, XENT_PLAIN)
    if same_rounds is not None:
        return same_rounds
    key = (VARIANT_OF.get(r.case.op), r.case.shape, r.case.dtype, r.case.dist)
    plain = next((s for s in results if (s.case.op, *s.case.data_key[1:]) == key), None)
    base = None if plain is None else plain.seconds(XENT_1)
    mine = r.seconds(XENT_1)
    return None if base is None or mine is None else mine / base


Measure = Callable[[CaseResult, Sequence[CaseResult], int], float | None]
# name -> (measure of a case: (case, all cases, N) -> value, how a goal on it reads; {N}: threads)
MEASURES: dict[str, tuple[Measure, str]] = {
    "exp floor": (lambda r, _, __: r.ratio(XENT_1), "xent 1T <= {limit}x exp floor"),
    "torch 1T": (lambda r, _, __: r.relative(XENT_1, "torch-1"), "xent 1T <= {limit}x torch 1T"),
    "threads": (
        lambda r, _, n: r.relative(XENT_1, "xent-N") if n > 1 else None,
        "xent {N}T >= {limit}x faster than 1T",
    ),
    "scipy": (
        lambda r, _, __: r.relative("scipy", XENT_1),
        "xent 1T >= {limit}x faster than SciPy",
    ),
    "sparse": (_vs_sparse, "xent 1T <= {limit}x sparse CE at the same shape"),
    "plain": (_vs_plain, "xent 1T <= {limit}x the plain loss on the same inputs"),
}


def _title(op: str) -> str:
    """ "sparse_grad" -> "sparse CE with gradient"; "logsumexp" -> "logsumexp"."""
    if op.endswith("_grad"):
        return f"{op.removesuffix('_grad')} CE with gradient"
    if op == "kl":
        return "KL divergence forward"
    if op in VARIANT_OF:
        return op.replace("_zloss", " CE with z-loss").replace("_focal", " focal loss") + " forward"
    return f"{op} CE forward" if op in ("sparse", "categorical", "binary") else op


@dataclass(frozen=True)
class Goal:
    ops: tuple[str, ...]
    measure: str  # a key of MEASURES
    limit: float
    at_least: bool = False  # the value must be >= limit (a speed-up), else <= limit
    min_classes: int = 0
    max_classes: float = math.inf  # exclusive
    min_bytes: int = 0

    def covers(self, r: CaseResult) -> bool:
        classes = r.case.shape[-1] if len(r.case.shape) > 1 else 1
        return (
            r.case.op in self.ops
            and (len(r.case.shape) == 1 or self.min_classes <= classes < self.max_classes)
            and r.nbytes >= self.min_bytes
        )

    def name(self, threads: int) -> str:
        subject = _title(self.ops[0]) if len(self.ops) == 1 else "every op"
        text = MEASURES[self.measure][1].format(limit=f"{self.limit:g}", N=threads)
        if self.min_classes:
            text += f", {self.min_classes:,} classes or more"
        if self.max_classes < math.inf:
            text += f", fewer than {self.max_classes:,} classes"
        if self.min_bytes:
            text += f", inputs of {self.min_bytes // MIB} MiB or more"
        elif self.measure == "torch 1T":
            text += ", every size"
        return f"{subject}: {text}"


CE_OPS = OPS[:6]
MANY = 1000  # "many classes" from here up
# The goals on the speed of the kernel (ratios to the exp floor, categorical over sparse) are
# for batches of 1 MiB or more; below, the fixed cost of a call dominates, which the goals
# against PyTorch cover at every size (the benchmark's small batches among them).
BATCH = MIB
TIMING_GOALS: tuple[Goal, ...] = (
    Goal(("sparse",), "exp floor", 1.5, min_classes=MANY, min_bytes=BATCH),
    Goal(("sparse",), "exp floor", 3.0, max_classes=MANY, min_bytes=BATCH),
    Goal(("sparse_grad",), "exp floor", 2.5, min_classes=MANY, min_bytes=BATCH),
    Goal(("sparse_grad",), "exp floor", 5.0, max_classes=MANY, min_bytes=BATCH),
    *(Goal((op,), "torch 1T", 1.0) for op in CE_OPS),
    Goal(OPS, "threads", 1.7, at_least=True, min_bytes=8 * MIB),
    Goal(("categorical",), "sparse", 1.3, min_bytes=BATCH),
    Goal(("categorical_grad",), "sparse", 1.3, min_bytes=BATCH),
    Goal(("binary",), "exp floor", 2.0, min_bytes=BATCH),
    *(Goal((op,), "scipy", 4.0, at_least=True) for op in ("logsumexp", "log_softmax", "softmax")),
    *(Goal((op,), "plain", 1.3) for op in VARIANT_OF),
)


def timing_targets(
    results: Sequence[CaseResult], threads: int, goals: Sequence[Goal] = TIMING_GOALS
) -> list[Target]:
    targets = []
    for goal in goals:
        name = goal.name(threads)
        covered = [r for r in results if goal.covers(r)]
        failed = [
            (r, t)
            for r in covered
            if (t := r.get(XENT_1)) is not None and t.status in ("wrong", "error")
        ]
        if failed:
            r, t = failed[0]
            targets.append(Target("MISS", name, f"xent {t.status} at {_where(r)} ({t.note})"))
            continue
        points = []
        for r in covered:
            value = MEASURES[goal.measure][0](r, results, threads)
            if value is not None:
                points.append(Point(value, goal.limit, _where(r)))
        skip = "no case measured" if covered else "no such case in this run"
        if covered and not points:
            skip = f"not measured ({goal.measure} or xent not available)"
        targets.append(verdict(name, points, at_least=goal.at_least, skip=skip))
    return targets


# --- memory ----------------------------------------------------------------------------------

FORWARD_OPS = ("sparse", "categorical", "binary", "logsumexp")
ARRAY_OUTPUT_OPS = ("sparse_grad", "categorical_grad", "binary_grad", "log_softmax", "softmax")
# (name, ops, factor, offset): peak extra memory <= factor x logits + offset, outputs counted
MEMORY_GOALS: tuple[tuple[str, tuple[str, ...], float, int], ...] = (
    ("memory forward, {label} <= 0.05x logits + 8 MiB", FORWARD_OPS, 0.05, 8 * MIB),
    (
        "memory with gradient or array output, {label} <= 1.05x logits + 8 MiB (output counted)",
        ARRAY_OUTPUT_OPS,
        1.05,
        8 * MIB,
    ),
)


def memory_limit(op: str, nbytes: int) -> float:
    for _, ops, factor, offset in MEMORY_GOALS:
        if op in ops:
            return factor * nbytes + offset
    return math.inf


def memory_target_text(op: str) -> str:
    for _, ops, factor, offset in MEMORY_GOALS:
        if op in ops:
            return f"<= {factor}x + {offset // MIB} MiB"
    return "-"


def memory_targets(memories: Sequence[Memory]) -> list[Target]:
    targets = []
    for key in ("xent-1", "xent-N"):
        mems = [m for m in memories if m.key == key]
        for template, ops, _, _ in MEMORY_GOALS:
            group = [m for m in mems if m.op in ops]
            if not group:
                continue
            name = template.format(label=group[0].label)
            failed = [m for m in group if m.peak is None]
            if failed:
                targets.append(Target("SKIP", name, f"{failed[0].op}: {failed[0].note}"))
                continue
            points = [
                Point(float(m.peak or 0), memory_limit(m.op, m.nbytes), f"{m.op} {m.shape}")
                for m in group
            ]
            targets.append(verdict(name, points, unit=fmt_bytes))
    return targets
