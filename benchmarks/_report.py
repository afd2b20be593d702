"""Tables, JSON, Markdown and the plot (the targets are in _targets)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._data import OP_TITLES, OPS, VARIANT_OF, XENT_PLAIN, format_shape
from ._harness import CaseResult, Memory, Timing, memory_dict
from ._machine import header_lines
from ._targets import Target, fmt_bytes, fmt_ratio, memory_target_text

TORCH_1 = "torch-1"
Table = tuple[list[str], list[list[str]]]
# An extra titled block of text in the report (and its record in the JSON), for suites that run
# after the main one: (title, text, record).
Section = tuple[str, str, Any]


def fmt_time(seconds: float) -> str:
    if seconds < 0.9995e-3:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 0.9995:
        return f"{seconds * 1e3:.3g}ms"
    return f"{seconds:.3g}s"


def cell(result: CaseResult, t: Timing) -> str:
    """Time, its multiple of the exp floor and, in brackets, its multiple of PyTorch 1T (for
    everything but the floors and PyTorch 1T itself, where PyTorch 1T was timed)."""
    if t.status != "ok" or t.seconds is None:
        return t.status
    text = fmt_time(t.seconds)
    ratio = result.ratio(t.key)
    if ratio is not None and t.key != "floor":
        text += f" {fmt_ratio(ratio)}"
    vs_torch = result.relative(t.key, TORCH_1)
    if vs_torch is not None and t.key not in (TORCH_1, "floor", "read"):
        text += f" [{fmt_ratio(vs_torch)}]"
    return text


# --- timing tables ---------------------------------------------------------------------------


def timing_tables(results: Sequence[CaseResult]) -> list[tuple[str, Table]]:
    """One (title, (header, rows)) per operation, one row per case, one cell per timing."""
    tables = []
    for op in OPS:
        rows_of_op = [r for r in results if r.case.op == op]
        if not rows_of_op:
            continue

        def shown(r: CaseResult, op: str = op) -> list[Timing]:
            """The timings of a case; the plain loss's only where it is a variant's baseline."""
            return [t for t in r.timings if t.key != XENT_PLAIN or op in VARIANT_OF]

        labels = [t.label for t in shown(rows_of_op[0])]
        header = ["shape", "dtype", "input", "exp floor", "read floor", *labels]
        rows = []
        for r in rows_of_op:
            dist = r.case.dist + (f"/{r.case.targets}" if r.case.targets else "")
            rows.append(
                [format_shape(r.case.shape), r.case.dtype, dist]
                + [cell(r, t) for t in (r.floor, r.read, *shown(r))]
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


CELLS_NOTE = (
    "Cells: median time per call over interleaved rounds; its multiple of the exp floor (one "
    "single-threaded np.exp(x, out=buf) pass over the same logits); in brackets, its multiple "
    "of PyTorch at one thread (where PyTorch is installed). The read floor (one single-threaded "
    "np.maximum.reduce over the logits, a pass that only reads them) is the memory-bandwidth "
    "limit every implementation is bound by. 'wrong' = failed the float64 reference check, "
    "not timed."
)
MEMORY_NOTE = (
    "Peak extra memory of one call in a fresh process, above the level just before the call, "
    "returned arrays included (the gradient counts; a scalar loss is negligible). "
    "NumPy-based implementations: tracemalloc; PyTorch: resident-set high-water mark."
)


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
        "read_floor_seconds": r.read.seconds,
        "implementations": [
            {
                **asdict(t),
                "ratio_to_floor": r.ratio(t.key),
                "ratio_to_torch_1t": r.relative(t.key, TORCH_1),
            }
            for t in (r.read, *r.timings)
        ],
    }


def to_json(
    meta: dict[str, Any],
    results: Sequence[CaseResult],
    memories: Sequence[Memory],
    targets: Sequence[Target],
    sections: Sequence[Section] = (),
) -> str:
    doc = {
        "meta": meta,
        "cases": [case_dict(r) for r in results],
        "memory": [memory_dict(m) for m in memories],
        "targets": [asdict(t) for t in targets],
        "sections": [{"title": title, "record": record} for title, _, record in sections],
    }
    return json.dumps(doc, indent=1, default=str)


def render_all(
    meta: dict[str, Any],
    results: Sequence[CaseResult],
    memories: Sequence[Memory],
    targets: Sequence[Target],
    *,
    markdown: bool,
    sections: Sequence[Section] = (),
) -> str:
    render = render_markdown if markdown else render_text
    sub = "## " if markdown else "== "
    out = []
    out.append(f"{'# ' if markdown else ''}xent benchmarks, {meta['timestamp']}\n")
    header = [*header_lines(meta["machine"]), f"N-thread variants: N = {meta['threads']}"]
    out.append("\n".join(f"- {line}" for line in header) if markdown else "\n".join(header))
    out.append("\n" + CELLS_NOTE)
    for title, table in timing_tables(results):
        out.append(f"\n{sub}{title}\n")
        out.append(render(table))
    footnote = naive_footnote(results)
    if footnote:
        out.append("\n" + footnote)
    if memories:
        out.append(f"\n{sub}peak extra memory\n")
        out.append(render(memory_table(memories)))
        out.append("\n" + MEMORY_NOTE)
    for title, text, _ in sections:
        out.append(f"\n{sub}{title}\n")
        out.append(text)
    out.append(f"\n{sub}targets\n")
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
        ("exp floor", lambda r: r.floor.seconds),
        ("read floor", lambda r: r.read.seconds),
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
        style = {"exp floor": "k--", "read floor": "k:"}.get(label, "o-")
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
