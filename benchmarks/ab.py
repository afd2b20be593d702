"""Two builds of xent timed against each other in one process, calls alternated.

    git worktree add ../xent-before HEAD~1
    (cd ../xent-before && python setup.py -q build_ext --inplace)   # builds A in place
    python -m benchmarks.ab ../xent-before .                        # the few-class cases
    python -m benchmarks.ab ../xent-before . --cases rows --calls 40

Each tree's ``xent`` package (built in place: its compiled modules beside the sources) is
copied into a temporary directory under another name (``xent_a``, ``xent_b``; the package
imports itself only relatively) and both are imported into this process. Every case then
calls A and B in turn, the order alternating (A B B A ...), ``--calls`` times each, on one
thread, and prints the minimum, the median and the median of the paired ratios B / A.

Why one process: on the shared virtual machines this project runs on, the same code timed in
two processes came out 4-18 % apart (a path neither build had changed read 1.04-1.18x), which
hid changes of 5-10 %; in one process such paths read 0.99-1.02x.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

Case = tuple[str, Callable[[ModuleType], object]]

#: the rows of each case's logits (in total: rows x classes = ENTRIES)
ENTRIES = 655_360


def _with_grad(name: str, loss: Callable[..., object]) -> Iterator[Case]:
    """A loss call, ``loss(m, **more)``, forward and with its gradient (``name+grad``)."""
    yield name, lambda m: loss(m)
    yield f"{name}+grad", lambda m: loss(m, return_grad=True)


def _sparse(name: str, x: np.ndarray, y: np.ndarray, opt: str = "", **kw: float) -> Iterator[Case]:
    """The sparse loss of logits x and labels y (options kw, named opt), forward and with its
    gradient."""
    yield from _with_grad(
        f"{name} sparse{opt}",
        lambda m, **more: m.sparse_categorical_cross_entropy(y, x, from_logits=True, **kw, **more),
    )


def _few(rng: np.random.Generator) -> Iterator[Case]:
    """Rows of few classes (the tiles): softmax family and the losses."""
    for dtype, classes in ((np.float32, (3, 6, 8, 10, 16, 32)), (np.float64, (4, 8, 10, 16))):
        for c in classes:
            x = rng.standard_normal((ENTRIES // c, c)).astype(dtype)
            y = rng.integers(0, c, x.shape[0])
            name = f"{c} {np.dtype(dtype).name}"
            yield f"{name} logsumexp", lambda m, x=x: m.logsumexp(x, axis=-1)
            yield f"{name} softmax", lambda m, x=x: m.softmax(x, axis=-1)
            yield f"{name} log_softmax", lambda m, x=x: m.log_softmax(x, axis=-1)
            yield from _sparse(name, x, y)


def _rows(rng: np.random.Generator) -> Iterator[Case]:
    """Rows of many classes (one row at a time), four times the entries of `_few`."""
    for dtype in (np.float32, np.float64):
        for c in (100, 1000, 32_000):
            x = rng.standard_normal((4 * ENTRIES // c, c)).astype(dtype)
            y = rng.integers(0, c, x.shape[0])
            name = f"{c} {np.dtype(dtype).name}"
            yield from _sparse(name, x, y)
            yield f"{name} log_softmax", lambda m, x=x: m.log_softmax(x, axis=-1)


def _large(rng: np.random.Generator) -> Iterator[Case]:
    """The benchmark suite's 8,192 x 1,000 rows (32 and 64 MiB of logits, beyond the caches):
    outputs written to memory, the targets of the categorical loss (soft, one-hot, the focal
    loss of the soft ones) and the KL divergence (probabilities, teacher logits) read from it;
    and its binary loss of 10,000,000 float32 entries (two streams of 38 MiB) and its
    categorical loss of 256 x 128,000 float32 soft targets (rows of 500 KiB)."""
    x = (3.0 * rng.standard_normal(10_000_000)).astype(np.float32)
    y = (rng.random(x.size) < 0.5).astype(np.float32)
    yield from _with_grad(
        "10,000,000 float32 binary",
        lambda m, x=x, y=y, **more: m.binary_cross_entropy(y, x, from_logits=True, **more),
    )
    x = rng.standard_normal((256, 128_000)).astype(np.float32)
    t = rng.random(x.shape).astype(np.float32)
    t /= t.sum(axis=1, keepdims=True)
    yield from _sparse("128000 float32", x, rng.integers(0, 128_000, x.shape[0]))
    yield (
        "128000 float32 categorical",
        lambda m, x=x, t=t: m.categorical_cross_entropy(t, x, from_logits=True),
    )
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((8192, 1000)).astype(dtype)
        t = rng.random(x.shape).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
        s = (3 * rng.standard_normal(x.shape)).astype(dtype)
        name = f"1000 {np.dtype(dtype).name}"
        yield from _sparse(name, x, rng.integers(0, 1000, x.shape[0]))
        yield from _with_grad(
            f"{name} categorical",
            lambda m, x=x, t=t, **more: m.categorical_cross_entropy(t, x, from_logits=True, **more),
        )
        yield (
            f"{name} categorical focal",
            lambda m, x=x, t=t: m.categorical_cross_entropy(
                t, x, from_logits=True, focal_gamma=2.0
            ),
        )
        hot = np.eye(1000, dtype=dtype)[rng.integers(0, 1000, x.shape[0])]
        yield (
            f"{name} categorical one-hot",
            lambda m, x=x, t=hot: m.categorical_cross_entropy(t, x, from_logits=True),
        )
        yield f"{name} log_softmax", lambda m, x=x: m.log_softmax(x, axis=-1)
        yield f"{name} softmax", lambda m, x=x: m.softmax(x, axis=-1)
        yield (
            f"{name} kl probabilities",
            lambda m, x=x, t=t: m.kl_divergence(t, x, from_logits=True),
        )
        yield (
            f"{name} kl logits T2",
            lambda m, x=x, s=s: m.kl_divergence(
                s, x, from_logits=True, target_from_logits=True, temperature=2.0
            ),
        )


def _mid(rng: np.random.Generator) -> Iterator[Case]:
    """Rows of 24 to 128 classes, around the threshold between the tiles and the row passes,
    twice the entries of `_few`."""
    for dtype, classes in ((np.float32, (24, 33, 48, 64, 65, 100)), (np.float64, (17, 33, 100))):
        for c in classes:
            x = rng.standard_normal((2 * ENTRIES // c, c)).astype(dtype)
            y = rng.integers(0, c, x.shape[0])
            name = f"{c} {np.dtype(dtype).name}"
            yield from _sparse(name, x, y)
            yield f"{name} softmax", lambda m, x=x: m.softmax(x, axis=-1)


def _elementwise(rng: np.random.Generator) -> Iterator[Case]:
    """Binary cross-entropy (hard and soft labels, with its gradient, with weights, the focal
    loss), softplus,
    and rows of two classes (the binary loss of the logits' difference), four times the entries
    of `_few`."""
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        x = (3.0 * rng.standard_normal(4 * ENTRIES)).astype(dtype)
        hard = (rng.random(x.size) < 0.5).astype(dtype)
        soft = rng.random(x.size).astype(dtype)
        w = rng.random(x.size)
        for labels, y in (("hard", hard), ("soft", soft)):
            yield (
                f"{name} binary {labels}",
                lambda m, y=y, x=x: m.binary_cross_entropy(y, x, from_logits=True),
            )
        yield (
            f"{name} binary+grad",
            lambda m, x=x, y=hard: m.binary_cross_entropy(y, x, from_logits=True, return_grad=True),
        )
        yield (
            f"{name} binary weighted",
            lambda m, x=x, y=hard, w=w: m.binary_cross_entropy(
                y, x, from_logits=True, sample_weight=w
            ),
        )
        yield (
            f"{name} binary focal",
            lambda m, x=x, y=hard: m.binary_cross_entropy(y, x, from_logits=True, focal_gamma=2.0),
        )
        yield f"{name} softplus", lambda m, x=x: m.softplus(x)
        x2 = x.reshape(-1, 2)
        yield from _sparse(f"2 {name}", x2, rng.integers(0, 2, x2.shape[0]))


def _options(rng: np.random.Generator) -> Iterator[Case]:
    """The sparse loss's focal factor and z-loss (2, 10 and 1,000 classes), with the plain loss
    beside them."""
    for dtype in (np.float32, np.float64):
        for c in (2, 10, 1000):
            x = rng.standard_normal((ENTRIES // c, c)).astype(dtype)
            y = rng.integers(0, c, x.shape[0])
            for opt, kw in (("", {}), (" z", {"z_loss": 1e-4}), (" focal", {"focal_gamma": 2.0})):
                yield from _sparse(f"{c} {np.dtype(dtype).name}", x, y, opt, **kw)


def _categorical(rng: np.random.Generator) -> Iterator[Case]:
    """The categorical loss of soft and one-hot targets (2, 10 and 1,000 classes), and the focal
    loss (gamma 2) of the soft ones, forward and with its gradient, with the sparse loss beside
    them."""
    for dtype in (np.float32, np.float64):
        for c in (2, 10, 1000):
            x = rng.standard_normal((ENTRIES // c, c)).astype(dtype)
            y = rng.integers(0, c, x.shape[0])
            soft = rng.random(x.shape).astype(dtype)
            soft /= soft.sum(axis=1, keepdims=True)
            name = f"{c} {np.dtype(dtype).name}"
            yield from _sparse(name, x, y)
            onehot = np.eye(c, dtype=dtype)[y]
            for kind, t, kw in (
                ("soft", soft, {}),
                ("one-hot", onehot, {}),
                ("soft focal", soft, {"focal_gamma": 2.0}),
            ):
                yield from _with_grad(
                    f"{name} categorical {kind}",
                    lambda m, x=x, t=t, kw=kw, **more: m.categorical_cross_entropy(
                        t, x, from_logits=True, **kw, **more
                    ),
                )


def _categorical_rows(rng: np.random.Generator) -> Iterator[Case]:
    """The categorical loss of soft float32 targets in rows of many classes (64 to 1,000: the
    rows path, whose weighted sums' pass checks the targets), with the sparse loss beside it."""
    for c in (64, 100, 257, 1000):
        x = rng.standard_normal((ENTRIES // c, c)).astype(np.float32)
        soft = rng.random(x.shape).astype(np.float32)
        soft /= soft.sum(axis=1, keepdims=True)
        name = f"{c} float32"
        yield from _sparse(name, x, rng.integers(0, c, x.shape[0]))
        yield from _with_grad(
            f"{name} categorical soft",
            lambda m, x=x, t=soft, **more: m.categorical_cross_entropy(
                t, x, from_logits=True, **more
            ),
        )
        yield (
            f"{name} categorical soft sum+grad",
            lambda m, x=x, t=soft: m.categorical_cross_entropy(
                t, x, from_logits=True, reduction="sum", return_grad=True
            ),
        )


def _kl(rng: np.random.Generator) -> Iterator[Case]:
    """The KL divergence of teacher and student logits at temperature 2, and of probabilities
    against logits (2, 10 and 1,000 classes), forward and with its gradient, with the sparse
    loss beside them."""
    for dtype in (np.float32, np.float64):
        for c in (2, 10, 1000):
            s = (3 * rng.standard_normal((ENTRIES // c, c))).astype(dtype)
            t = (3 * rng.standard_normal(s.shape)).astype(dtype)
            p = np.exp(t - t.max(axis=1, keepdims=True))
            p = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
            name = f"{c} {np.dtype(dtype).name}"
            yield from _sparse(name, s, rng.integers(0, c, s.shape[0]))
            for kind, y, kw in (
                ("logits T2", t, {"target_from_logits": True, "temperature": 2.0}),
                ("probs", p, {}),
            ):
                yield from _with_grad(
                    f"{name} kl {kind}",
                    lambda m, y=y, s=s, kw=kw, **more: m.kl_divergence(
                        y, s, from_logits=True, **kw, **more
                    ),
                )


CASES = {
    "few": _few,
    "mid": _mid,
    "rows": _rows,
    "large": _large,
    "elementwise": _elementwise,
    "options": _options,
    "categorical": _categorical,
    "catrows": _categorical_rows,
    "kl": _kl,
}


def _load(tree: Path, name: str, into: Path) -> ModuleType:
    """Tree's xent package, imported as `name` from a copy in `into`."""
    src = tree / "xent"
    if not any((src / "_kernels").glob("_core*.so")) and not any(
        (src / "_kernels").glob("_core*.pyd")
    ):
        raise SystemExit(
            f"{src}: no compiled _core module (run `python setup.py build_ext --inplace` there)"
        )
    shutil.copytree(src, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]  # a copy imported by an earlier call
    module = importlib.import_module(name)
    module.set_num_threads(1)
    return module


def _time(
    call: Callable[[ModuleType], object], a: ModuleType, b: ModuleType, calls: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of each of `calls` calls of A and of B, in the order A B B A A B ..."""
    ta: list[float] = []
    tb: list[float] = []
    call(a)  # untimed: the first call of each loads its caches
    call(b)
    for i in range(calls):
        order = ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta))
        for module, times in order:
            t0 = time.perf_counter()
            call(module)
            times.append(time.perf_counter() - t0)
    return np.array(ta), np.array(tb)


def _run(args: argparse.Namespace, a: ModuleType, b: ModuleType) -> None:
    """Time and print the cases of ``args.cases`` (those matching ``args.filter``)."""
    print(f"A: {args.a}  B: {args.b}  ({args.calls} calls each, alternated, one thread)")
    print(f"{'case':24s} {'A min':>9s} {'B min':>9s}  B/A: min  median  paired")
    for name, call in CASES[args.cases](np.random.default_rng(0)):
        if args.filter not in name:
            continue
        ta, tb = _time(call, a, b, args.calls)
        print(
            f"{name:24s} {ta.min() * 1e3:7.3f}ms {tb.min() * 1e3:7.3f}ms"
            f"  {tb.min() / ta.min():8.3f} {np.median(tb) / np.median(ta):7.3f}"
            f" {np.median(tb / ta):7.3f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="the source tree of build A (the reference)")
    p.add_argument("b", type=Path, help="the source tree of build B")
    p.add_argument("--cases", choices=sorted(CASES), default="few")
    p.add_argument("--calls", type=int, default=30, help="timed calls of each build per case")
    p.add_argument("--filter", default="", help="only the cases whose name contains this")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        try:
            _run(
                args,
                _load(args.a.resolve(), "xent_a", Path(tmp)),
                _load(args.b.resolve(), "xent_b", Path(tmp)),
            )
        finally:
            sys.path.remove(tmp)


if __name__ == "__main__":
    main()
