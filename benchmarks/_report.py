"""Tables, PASS/MISS targets, JSON, Markdown and the plot."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ._data import OP_TITLES, OPS, format_shape
from ._harness import CaseResult, Memory, Timing, memory_dict

MIB = 2**20
FORWARD_MEMORY = (0.05, 8 * MIB)  # forward: peak <= 0.05 x logits + 8 MiB
OUTPUT_MEMORY = (1.05, 0)  # gradient or log_softmax returned: <= 1.05 x logits, output included
ARRAY_OUTPUT_OPS = ("sparse_grad", "categorical_grad", "binary_grad", "log_softmax")

Table = tuple[list[str], list[list[str]]]


def fmt_time(seconds: float) -> str:
    if seconds < 0.9995e-3:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 0.9995:
        return f"{seconds * 1e3:.3g}ms"
    return f"{seconds:.3g}s"


def fmt_bytes(n: float) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n / 1024:.0f} KiB"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.3g}x" if ratio < 100 else f"{ratio:,.0f}x"


def cell(result: CaseResult, t: Timing) -> str:
    if t.status != "ok" or t.seconds is None:
        return t.status
    ratio = result.ratio(t.key)
    return f"{fmt_time(t.seconds)} {fmt_ratio(ratio)}" if ratio is not None else fmt_time(t.seconds)


# --- timing tables ---------------------------------------------------------------------------


def timing_tables(results: Sequence[CaseResult]) -> list[tuple[str, Table]]:
    """One (title, (header, rows)) per operation; a cell is "time ratio-to-floor"."""
    tables = []
    for op in OPS:
        rows_of_op = [r for r in results if r.case.op == op]
        if not rows_of_op:
            continue
        labels = [t.label for t in rows_of_op[0].timings]
        header = ["shape", "dtype", "input", "exp floor", *labels]
        rows = []
        for r in rows_of_op:
            dist = r.case.dist + (f"/{r.case.targets}" if r.case.targets else "")
            floor = fmt_time(r.floor.seconds) if r.floor.seconds is not None else "-"
            rows.append(
                [format_shape(r.case.shape), r.case.dtype, dist, floor]
                + [cell(r, t) for t in r.timings]
            )
        tables.append((OP_TITLES[op], (header, rows)))
    return tables


def naive_footnote(results: Sequence[CaseResult]) -> str:
    notes = sorted({t.note for r in results for t in r.timings if t.key == "naive" and t.note})
    if not notes:
        return ""
    return (
        "* naive loop: pure-Python rows on lists, timed on a leading subset "
        f"({'; '.join(notes[:3])}{'; ...' if len(notes) > 3 else ''}) and scaled to all rows."
    )


def render_text(table: Table) -> str:
    header, rows = table
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def render_markdown(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --- memory ----------------------------------------------------------------------------------


def memory_limit(op: str, nbytes: int) -> float:
    factor, offset = OUTPUT_MEMORY if op in ARRAY_OUTPUT_OPS else FORWARD_MEMORY
    return factor * nbytes + offset


def memory_target_text(op: str) -> str:
    if op in ARRAY_OUTPUT_OPS:
        return f"<= {OUTPUT_MEMORY[0]}x"
    return f"<= {FORWARD_MEMORY[0]}x + {FORWARD_MEMORY[1] // MIB} MiB"


def memory_table(memories: Sequence[Memory]) -> Table:
    keys: list[tuple[str, str]] = []
    for m in memories:
        if (m.key, m.label) not in keys:
            keys.append((m.key, m.label))
    header = ["op", "shape", "dtype", "logits", "target", *(label for _, label in keys)]
    rows = []
    seen: list[tuple[str, str, str]] = []
    for m in memories:
        if (m.op, m.shape, m.dtype) not in seen:
            seen.append((m.op, m.shape, m.dtype))
    for op, shape, dtype in seen:
        group = {m.key: m for m in memories if (m.op, m.shape, m.dtype) == (op, shape, dtype)}
        nbytes = max(m.nbytes for m in group.values())
        row = [op, shape, dtype, fmt_bytes(nbytes), memory_target_text(op)]
        for key, _ in keys:
            found = group.get(key)
            if found is None:
                row.append("-")
            elif found.peak is None:
                row.append(found.note or "failed")
            else:
                row.append(f"{fmt_bytes(found.peak)} {found.peak / found.nbytes:.2f}x")
        rows.append(row)
    return header, rows


MEMORY_NOTE = (
    "Peak extra memory of one call in a fresh process, above the level just before the call, "
    "returned arrays included (the gradient counts; a scalar loss is negligible). "
    "NumPy-based implementations: tracemalloc; PyTorch: resident-set high-water mark."
)


# --- targets ---------------------------------------------------------------------------------


@dataclass
class Target:
    status: str  # PASS, MISS or SKIP
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:4}  {self.name}: {self.detail}"


def _where(r: CaseResult) -> str:
    return f"{format_shape(r.case.shape)} {r.case.dtype} {r.case.dist}"


def _check_all(
    name: str,
    results: Sequence[CaseResult],
    measure: Callable[[CaseResult], float | None],
    limit: float,
    *,
    at_least: bool = False,
    key: str = "xent-1",
) -> Target:
    """PASS if ``measure`` is within ``limit`` on every case; the detail names the worst case."""
    if not results:
        return Target("SKIP", name, "no cases run")
    values = []
    for r in results:
        t = r.get(key)
        if t is None or t.status == "n/a":
            return Target("SKIP", name, "xent not available" if t is not None else f"no {key}")
        if t.status != "ok":
            return Target("MISS", name, f"xent {t.status} at {_where(r)} ({t.note})")
        v = measure(r)
        if v is None:
            return Target("SKIP", name, f"no baseline at {_where(r)}")
        values.append((v, r))
    worst, where = min(values, key=lambda p: p[0]) if at_least else max(values, key=lambda p: p[0])
    ok = worst >= limit if at_least else worst <= limit
    misses = sum((v < limit) if at_least else (v > limit) for v, _ in values)
    detail = f"worst {fmt_ratio(worst)} at {_where(where)}"
    detail += f"; {len(values) - misses}/{len(values)} cases within"
    return Target("PASS" if ok else "MISS", name, detail)


def _speedup_over(base: str, key: str) -> Callable[[CaseResult], float | None]:
    def measure(r: CaseResult) -> float | None:
        b, t = r.get(base), r.get(key)
        if b is None or t is None or b.seconds is None or t.seconds is None:
            return None
        return b.seconds / t.seconds

    return measure


def timing_targets(results: Sequence[CaseResult], threads: int) -> list[Target]:
    def of(*ops: str) -> list[CaseResult]:
        return [r for r in results if r.case.op in ops]

    def floor_ratio(key: str) -> Callable[[CaseResult], float | None]:
        return lambda r: r.ratio(key)

    targets = []
    for op in ("sparse", "categorical"):
        targets.append(
            _check_all(
                f"{op} CE forward, xent 1T <= 2.5x exp floor", of(op), floor_ratio("xent-1"), 2.5
            )
        )
        if threads > 1:
            targets.append(
                _check_all(
                    f"{op} CE forward, xent {threads}T <= 1.5x exp floor",
                    of(op),
                    floor_ratio("xent-N"),
                    1.5,
                    key="xent-N",
                )
            )
        targets.append(
            _check_all(
                f"{op} CE with return_grad, xent 1T <= 3.5x exp floor",
                of(f"{op}_grad"),
                floor_ratio("xent-1"),
                3.5,
            )
        )
    targets.append(
        _check_all(
            "binary CE forward, xent 1T <= 2x exp floor", of("binary"), floor_ratio("xent-1"), 2.0
        )
    )
    for op in ("logsumexp", "log_softmax"):
        targets.append(
            _check_all(
                f"{op}, xent 1T >= 4x faster than scipy.special",
                of(op),
                _speedup_over("scipy", "xent-1"),
                4.0,
                at_least=True,
            )
        )
    targets.append(
        _check_all(
            "every case, xent 1T >= 100x faster than the naive loop",
            results,
            _speedup_over("naive", "xent-1"),
            100.0,
            at_least=True,
        )
    )
    return targets


def memory_targets(memories: Sequence[Memory]) -> list[Target]:
    targets = []
    for key in ("xent-1", "xent-N"):
        mems = [m for m in memories if m.key == key]
        if not mems:
            continue
        label = mems[0].label
        for kind, array_output in (("forward", False), ("gradient / array output", True)):
            group = [m for m in mems if (m.op in ARRAY_OUTPUT_OPS) == array_output]
            if not group:
                continue
            name = f"memory {kind}, {label} " + (
                "<= 1.05x logits (output counted)"
                if kind.startswith("gradient")
                else "<= 0.05x logits + 8 MiB"
            )
            failed = [m for m in group if m.peak is None]
            if failed:
                targets.append(Target("SKIP", name, f"{failed[0].op}: {failed[0].note}"))
                continue
            over = [
                m for m in group if m.peak is not None and m.peak > memory_limit(m.op, m.nbytes)
            ]
            worst = max(group, key=lambda m: (m.peak or 0) / memory_limit(m.op, m.nbytes))
            detail = f"worst {worst.op} {fmt_bytes(worst.peak or 0)} = {worst.ratio:.3f}x logits"
            detail += f"; {len(group) - len(over)}/{len(group)} ops within"
            targets.append(Target("MISS" if over else "PASS", name, detail))
    return targets


# --- output files ----------------------------------------------------------------------------


def case_dict(r: CaseResult) -> dict[str, Any]:
    return {
        "op": r.case.op,
        "shape": list(r.case.shape),
        "dtype": r.case.dtype,
        "dist": r.case.dist,
        "targets": r.case.targets,
        "logits_bytes": r.nbytes,
        "rounds": r.rounds,
        "elapsed_seconds": r.elapsed,
        "floor_seconds": r.floor.seconds,
        "implementations": [{**asdict(t), "ratio_to_floor": r.ratio(t.key)} for t in r.timings],
    }


def to_json(
    meta: dict[str, Any],
    results: Sequence[CaseResult],
    memories: Sequence[Memory],
    targets: Sequence[Target],
) -> str:
    doc = {
        "meta": meta,
        "cases": [case_dict(r) for r in results],
        "memory": [memory_dict(m) for m in memories],
        "targets": [asdict(t) for t in targets],
    }
    return json.dumps(doc, indent=1, default=str)


def render_all(
    meta: dict[str, Any],
    results: Sequence[CaseResult],
    memories: Sequence[Memory],
    targets: Sequence[Target],
    *,
    markdown: bool,
) -> str:
    render = render_markdown if markdown else render_text
    out = []
    head = "# " if markdown else ""
    out.append(f"{head}xent benchmarks, {meta['timestamp']}")
    out.append(
        f"{meta['machine']}; usable cores {meta['usable_cores']}, N = {meta['threads']}; "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    )
    out.append(
        "Cells: median time per call over interleaved rounds, and its ratio to the exp floor "
        "(one single-threaded np.exp(x, out=buf) pass over the same logits). "
        "'wrong' = failed the float64 reference check, not timed."
    )
    for title, table in timing_tables(results):
        out.append(f"\n{'## ' if markdown else '== '}{title}\n")
        out.append(render(table))
    footnote = naive_footnote(results)
    if footnote:
        out.append("\n" + footnote)
    if memories:
        out.append(f"\n{'## ' if markdown else '== '}peak extra memory\n")
        out.append(render(memory_table(memories)))
        out.append("\n" + MEMORY_NOTE)
    out.append(f"\n{'## ' if markdown else '== '}targets\n")
    lines = [t.line() for t in targets]
    out.append("\n".join(f"- `{line}`" for line in lines) if markdown else "\n".join(lines))
    out.append(f"\nruntime {meta.get('runtime_seconds', 0):.0f} s")
    return "\n".join(out) + "\n"


def _seconds_of(key: str) -> Callable[[CaseResult], float | None]:
    def get(r: CaseResult) -> float | None:
        t = r.get(key)
        return None if t is None else t.seconds

    return get


def plot(results: Sequence[CaseResult], path: Path) -> bool:
    """Time and time per logit vs number of classes, sparse CE forward float32 random logits."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = sorted(
        (
            r
            for r in results
            if (r.case.op, r.case.dtype, r.case.dist) == ("sparse", "float32", "random")
        ),
        key=lambda r: r.case.shape[-1],
    )
    if len(rows) < 2:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    series: list[tuple[str, Callable[[CaseResult], float | None]]] = [
        ("exp floor", lambda r: r.floor.seconds)
    ]
    for t in rows[0].timings:
        series.append((t.label, _seconds_of(t.key)))
    for label, get in series:
        pts = [
            (r.case.shape[-1], s, r.case.shape[0] * r.case.shape[-1])
            for r in rows
            if (s := get(r)) is not None
        ]
        if not pts:
            continue
        style = "k--" if label == "exp floor" else "o-"
        axes[0].plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
        axes[1].plot([p[0] for p in pts], [p[1] / p[2] * 1e9 for p in pts], style, label=label)
    for ax, ylabel in zip(axes, ("seconds per call", "ns per logit"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of classes C")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title("sparse CE forward, float32, random logits")
    axes[1].set_title("time per logit (rows x C differs between points)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
