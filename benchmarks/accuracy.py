"""Accuracy benchmark: ulp errors of xent and its peers on adversarial inputs.

Run from the repository root::

    python -m benchmarks.accuracy                 # float64 and float32, Markdown on stdout
    python -m benchmarks.accuracy --quick --dtype float32 --json acc.json --markdown acc.md

For every adversarial family of ``tests._reference.families`` (scales 1 .. 1e4, a common offset of
1e4, 50,000 classes, a true class leading by 16 .. 700, -inf masks, binary logits up to +-1e4,
probabilities next to 0 and 1) and every function, the table gives the maximum and median error in
units in the last place of the dtype, against exact mpmath values (``tests/_reference.py``), and
counts the NaN / inf results where the exact answer is finite (and finite ones where it is inf).
Peers: SciPy, PyTorch (float32 / float64), scikit-learn ``log_loss`` (probabilities; it clips to
``[eps, 1 - eps]``) and "textbook NumPy" (``log(sum(exp(x)))``, ``log(softmax)``,
``-log(sigmoid)``); a peer that is not installed is left out. The KL divergence (from the family's
logits to a student's nearby logits) is measured in ulp of ``sum_c p_c |log p_c - log q_c|``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import xent

try:
    from tests import _reference as ref
except ModuleNotFoundError:  # not run from the repository root: tests/ lives beside benchmarks/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests import _reference as ref

try:
    import scipy.special as sps
except ImportError:  # pragma: no cover - optional peer
    sps = None
try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - optional peer
    torch = None
try:
    from sklearn.metrics import log_loss
except ImportError:  # pragma: no cover - optional peer
    log_loss = None

IMPLS = ("xent", "SciPy", "PyTorch", "scikit-learn", "textbook NumPy")

Fn = Callable[[ref.Family], Any]


# --------------------------------------------------------------------------------------------
# Textbook NumPy: the formulas as written on the board
# --------------------------------------------------------------------------------------------


def _tb_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _tb_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


FOCAL_GAMMA = 2.0
Z_LOSS = 1e-3


def _tb_focal(p: np.ndarray) -> np.ndarray:
    return -((1 - p) ** FOCAL_GAMMA) * np.log(p)


def _tb_binary_focal(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """torchvision's sigmoid_focal_loss without alpha, on p = sigmoid(x)."""
    ce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return ce * (1 - (p * y + (1 - p) * (1 - y))) ** FOCAL_GAMMA


def _student(f: ref.Family) -> np.ndarray:
    """A student's logits near the family's (the teacher's), as in tests/test_accuracy.py."""
    c = f.logits.shape[-1]
    s = f.logits.astype(np.float64) * (1 + 2**-10) + 2**-8 * np.cos(np.arange(c))
    return s.astype(f.dtype)


def _rows(f: ref.Family) -> np.ndarray:
    return np.arange(f.labels.shape[0])


def _onehot(f: ref.Family) -> np.ndarray:
    return (f.labels[:, None] == np.arange(f.logits.shape[-1])).astype(f.dtype)


TEXTBOOK: dict[str, Fn] = {
    "logsumexp": lambda f: np.log(np.sum(np.exp(f.logits), axis=-1)),
    "log_softmax": lambda f: np.log(_tb_softmax(f.logits)),
    "softmax": lambda f: _tb_softmax(f.logits),
    "sparse CE (logits)": lambda f: -np.log(_tb_softmax(f.logits))[_rows(f), f.labels],
    "sparse CE grad": lambda f: _tb_softmax(f.logits) - _onehot(f),
    "soft CE (logits)": lambda f: -np.sum(f.soft * np.log(_tb_softmax(f.logits)), axis=-1),
    "sparse CE (probs)": lambda f: -np.log(f.probs[_rows(f), f.labels]),
    "binary (logits, hard)": lambda f: (
        -(
            f.labels * np.log(_tb_sigmoid(f.logits))
            + (1 - f.labels) * np.log(1 - _tb_sigmoid(f.logits))
        )
    ),
    "binary (logits, soft)": lambda f: (
        -(f.soft * np.log(_tb_sigmoid(f.logits)) + (1 - f.soft) * np.log(1 - _tb_sigmoid(f.logits)))
    ),
    "binary grad (logits)": lambda f: _tb_sigmoid(f.logits) - f.labels,
    "binary (probs, hard)": lambda f: (
        -(f.labels * np.log(f.probs) + (1 - f.labels) * np.log(1 - f.probs))
    ),
    "softplus": lambda f: np.log(1 + np.exp(f.logits)),
    "log_sigmoid": lambda f: np.log(_tb_sigmoid(f.logits)),
    "sparse focal (logits)": lambda f: _tb_focal(_tb_softmax(f.logits)[_rows(f), f.labels]),
    "sparse z-loss (logits)": lambda f: (
        -np.log(_tb_softmax(f.logits))[_rows(f), f.labels]
        + Z_LOSS * np.log(np.sum(np.exp(f.logits), axis=-1)) ** 2
    ),
    "binary focal (logits, hard)": lambda f: _tb_binary_focal(_tb_sigmoid(f.logits), f.labels),
    "KL (logits)": lambda f: np.sum(
        np.where(
            _tb_softmax(f.logits) > 0,
            _tb_softmax(f.logits)
            * (np.log(_tb_softmax(f.logits)) - np.log(_tb_softmax(_student(f)))),
            0.0,
        ),
        axis=-1,
    ),
}


# --------------------------------------------------------------------------------------------
# xent and the peers
# --------------------------------------------------------------------------------------------


def _xent_loss(name: str, target: str, from_logits: bool, grad: bool = False) -> Fn:
    def run(f: ref.Family) -> Any:
        y_true = {"labels": f.labels, "soft": f.soft}[target]
        out = getattr(xent, name)(
            y_true,
            f.logits if from_logits else f.probs,
            from_logits=from_logits,
            reduction="none",
            return_grad=grad,
        )
        return out[1] if grad else out

    return run


XENT: dict[str, Fn] = {
    "logsumexp": lambda f: xent.logsumexp(f.logits),
    "log_softmax": lambda f: xent.log_softmax(f.logits),
    "softmax": lambda f: xent.softmax(f.logits),
    "sparse CE (logits)": _xent_loss("sparse_categorical_cross_entropy", "labels", True),
    "sparse CE grad": _xent_loss("sparse_categorical_cross_entropy", "labels", True, grad=True),
    "soft CE (logits)": _xent_loss("categorical_cross_entropy", "soft", True),
    "sparse CE (probs)": _xent_loss("sparse_categorical_cross_entropy", "labels", False),
    "binary (logits, hard)": _xent_loss("binary_cross_entropy", "labels", True),
    "binary (logits, soft)": _xent_loss("binary_cross_entropy", "soft", True),
    "binary grad (logits)": _xent_loss("binary_cross_entropy", "labels", True, grad=True),
    "binary (probs, hard)": _xent_loss("binary_cross_entropy", "labels", False),
    "softplus": lambda f: xent.softplus(f.logits),
    "log_sigmoid": lambda f: xent.log_sigmoid(f.logits),
    "sparse focal (logits)": lambda f: xent.sparse_categorical_cross_entropy(
        f.labels, f.logits, from_logits=True, focal_gamma=FOCAL_GAMMA, reduction="none"
    ),
    "sparse z-loss (logits)": lambda f: xent.sparse_categorical_cross_entropy(
        f.labels, f.logits, from_logits=True, z_loss=Z_LOSS, reduction="none"
    ),
    "binary focal (logits, hard)": lambda f: xent.binary_cross_entropy(
        f.labels, f.logits, from_logits=True, focal_gamma=FOCAL_GAMMA, reduction="none"
    ),
    "KL (logits)": lambda f: xent.kl_divergence(
        f.logits, _student(f), from_logits=True, target_from_logits=True, reduction="none"
    ),
}

SCIPY: dict[str, Fn] = (
    {}
    if sps is None
    else {
        "logsumexp": lambda f: sps.logsumexp(f.logits, axis=-1),
        "log_softmax": lambda f: sps.log_softmax(f.logits, axis=-1),
        "softmax": lambda f: sps.softmax(f.logits, axis=-1),
        "softplus": lambda f: sps.softplus(f.logits),
        "log_sigmoid": lambda f: sps.log_expit(f.logits),
    }
)


def _t(a: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(a))


def _torch_ce_grad(f: ref.Family) -> np.ndarray:
    x = _t(f.logits).clone().requires_grad_(True)
    F.cross_entropy(x, _t(f.labels), reduction="sum").backward()
    return x.grad.numpy()


def _torch_bce_grad(f: ref.Family) -> np.ndarray:
    x = _t(f.logits).clone().requires_grad_(True)
    F.binary_cross_entropy_with_logits(x, _t(f.labels), reduction="sum").backward()
    return x.grad.numpy()


TORCH: dict[str, Fn] = (
    {}
    if torch is None
    else {
        "logsumexp": lambda f: torch.logsumexp(_t(f.logits), dim=-1).numpy(),
        "log_softmax": lambda f: torch.log_softmax(_t(f.logits), dim=-1).numpy(),
        "softmax": lambda f: torch.softmax(_t(f.logits), dim=-1).numpy(),
        "sparse CE (logits)": lambda f: F.cross_entropy(
            _t(f.logits), _t(f.labels), reduction="none"
        ).numpy(),
        "sparse CE grad": _torch_ce_grad,
        "soft CE (logits)": lambda f: F.cross_entropy(
            _t(f.logits), _t(f.soft), reduction="none"
        ).numpy(),
        "sparse CE (probs)": lambda f: F.nll_loss(
            torch.log(_t(f.probs)), _t(f.labels), reduction="none"
        ).numpy(),
        "binary (logits, hard)": lambda f: F.binary_cross_entropy_with_logits(
            _t(f.logits), _t(f.labels), reduction="none"
        ).numpy(),
        "binary (logits, soft)": lambda f: F.binary_cross_entropy_with_logits(
            _t(f.logits), _t(f.soft), reduction="none"
        ).numpy(),
        "binary grad (logits)": _torch_bce_grad,
        "binary (probs, hard)": lambda f: F.binary_cross_entropy(
            _t(f.probs), _t(f.labels), reduction="none"
        ).numpy(),
        "softplus": lambda f: F.softplus(_t(f.logits)).numpy(),
        "log_sigmoid": lambda f: F.logsigmoid(_t(f.logits)).numpy(),
        "sparse focal (logits)": lambda f: _tb_focal(
            torch.softmax(_t(f.logits), dim=-1).numpy()[_rows(f), f.labels]
        ),
        "sparse z-loss (logits)": lambda f: (
            F.cross_entropy(_t(f.logits), _t(f.labels), reduction="none")
            + Z_LOSS * torch.logsumexp(_t(f.logits), dim=-1) ** 2
        ).numpy(),
        "binary focal (logits, hard)": lambda f: _tb_binary_focal(
            torch.sigmoid(_t(f.logits)).numpy(), f.labels
        ),
        "KL (logits)": lambda f: (
            F.kl_div(
                torch.log_softmax(_t(_student(f)), dim=-1),
                torch.log_softmax(_t(f.logits), dim=-1),
                log_target=True,
                reduction="none",
            )
            .sum(dim=-1)
            .numpy()
        ),
    }
)


def _sklearn_rows(f: ref.Family) -> np.ndarray:
    """log_loss of each row alone (it only returns means); it clips to [eps, 1 - eps]."""
    labels = list(range(f.probs.shape[-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred values do not sum to one" for float32 rows
        return np.array(
            [
                log_loss([y], p[None, :], labels=labels)
                for y, p in zip(f.labels, f.probs, strict=True)
            ],
            dtype=f.dtype,
        )


def _sklearn_binary(f: ref.Family) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array(
            [log_loss([y], [p], labels=[0, 1]) for y, p in zip(f.labels, f.probs, strict=True)],
            dtype=f.dtype,
        )


SKLEARN: dict[str, Fn] = (
    {}
    if log_loss is None
    else {"sparse CE (probs)": _sklearn_rows, "binary (probs, hard)": _sklearn_binary}
)

PEERS: dict[str, dict[str, Fn]] = {
    "xent": XENT,
    "SciPy": SCIPY,
    "PyTorch": TORCH,
    "scikit-learn": SKLEARN,
    "textbook NumPy": TEXTBOOK,
}


# --------------------------------------------------------------------------------------------
# Exact values
# --------------------------------------------------------------------------------------------


def _exact(function: str, f: ref.Family) -> Any:
    x, p, y, t = f.logits, f.probs, f.labels, f.soft
    return {
        "logsumexp": lambda: ref.logsumexp(x),
        "log_softmax": lambda: ref.log_softmax(x),
        "softmax": lambda: ref.softmax(x),
        "sparse CE (logits)": lambda: ref.sparse_categorical_cross_entropy(y, x, from_logits=True),
        "sparse CE grad": lambda: ref.sparse_categorical_cross_entropy(
            y, x, from_logits=True, return_grad=True
        )[1],
        "soft CE (logits)": lambda: ref.categorical_cross_entropy(t, x, from_logits=True),
        "sparse CE (probs)": lambda: ref.sparse_categorical_cross_entropy(y, p),
        "binary (logits, hard)": lambda: ref.binary_cross_entropy(y, x, from_logits=True),
        "binary (logits, soft)": lambda: ref.binary_cross_entropy(t, x, from_logits=True),
        "binary grad (logits)": lambda: ref.binary_cross_entropy(
            y, x, from_logits=True, return_grad=True
        )[1],
        "binary (probs, hard)": lambda: ref.binary_cross_entropy(y, p),
        "softplus": lambda: ref.softplus(x),
        "log_sigmoid": lambda: ref.log_sigmoid(x),
        "sparse focal (logits)": lambda: ref.softmax_family_loss(
            ref.target_rows(y, x.shape[-1], sparse=True), x, gamma=FOCAL_GAMMA
        ),
        "sparse z-loss (logits)": lambda: ref.softmax_family_loss(
            ref.target_rows(y, x.shape[-1], sparse=True), x, z_loss=Z_LOSS
        ),
        "binary focal (logits, hard)": lambda: ref.binary_focal_loss(
            y, x, gamma=FOCAL_GAMMA, from_logits=True
        ),
        "KL (logits)": lambda: ref.kl_divergence(
            x, _student(f), from_logits=True, target_from_logits=True
        )[0],
    }[function]()


def _scale(function: str, f: ref.Family) -> Any:
    """What an error is measured against where it is not the exact value itself: for the KL
    divergence, sum_c p_c |log p_c - log q_c| (the bound of tests/test_accuracy.py)."""
    if function != "KL (logits)":
        return None
    return ref.kl_divergence(f.logits, _student(f), from_logits=True, target_from_logits=True)[3]


SOFTMAX_FUNCTIONS = (
    "logsumexp",
    "log_softmax",
    "softmax",
    "sparse CE (logits)",
    "sparse CE grad",
    "soft CE (logits)",
    "sparse CE (probs)",
    "sparse focal (logits)",
    "sparse z-loss (logits)",
    "KL (logits)",
)
BINARY_FUNCTIONS = (
    "binary focal (logits, hard)",
    "binary (logits, hard)",
    "binary (logits, soft)",
    "binary grad (logits)",
    "binary (probs, hard)",
    "softplus",
    "log_sigmoid",
)


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One implementation on one family and function."""

    dtype: str
    family: str
    function: str
    impl: str
    max_ulp: float  # over entries where the exact answer and the result are both finite
    median_ulp: float  # over all entries (a NaN where the answer is finite counts as inf)
    n: int
    nan: int  # NaN results where the exact answer is not NaN
    inf: int  # +-inf results where the exact answer is finite
    finite_for_inf: int  # finite results where the exact answer is +-inf (clipping)


def _measure(
    dtype: np.dtype,
    f: ref.Family,
    function: str,
    impl: str,
    fn: Fn,
    exact: tuple[Any, Any],
    scale: Any = None,
) -> Cell:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = np.asarray(fn(f)).astype(dtype)  # PyTorch / scikit-learn may return another dtype
    err = ref.ulp_error(got, exact, dtype=dtype, scale=scale)
    hi = exact[0]
    with np.errstate(over="ignore"):
        ex = hi.astype(dtype)
    both = np.isfinite(ex) & np.isfinite(got)
    return Cell(
        dtype=dtype.name,
        family=f.name,
        function=function,
        impl=impl,
        max_ulp=float(np.max(err[both])) if both.any() else 0.0,
        median_ulp=float(np.median(err)),
        n=int(err.size),
        nan=int(np.sum(np.isnan(got) & ~np.isnan(ex))),
        inf=int(np.sum(np.isinf(got) & np.isfinite(ex))),
        finite_for_inf=int(np.sum(np.isfinite(got) & np.isinf(ex))),
    )


def measure(
    dtypes: list[str], quick: bool, big_rows: int, log: Callable[[str], None]
) -> list[Cell]:
    cells = []
    for name in dtypes:
        dtype = np.dtype(name)
        for f in ref.families(dtype, quick=quick, big_rows=big_rows):
            functions = SOFTMAX_FUNCTIONS if f.kind == "softmax" else BINARY_FUNCTIONS
            for function in functions:
                t0 = time.perf_counter()
                exact = ref.to_double_double(_exact(function, f))  # convert once for all peers
                scale = _scale(function, f)
                for impl in IMPLS:
                    fn = PEERS[impl].get(function)
                    if fn is None or (impl in ("PyTorch", "scikit-learn") and name == "float16"):
                        continue
                    cells.append(_measure(dtype, f, function, impl, fn, exact, scale))
                log(f"{name} {f.name} {function}: {time.perf_counter() - t0:.1f} s")
    return cells


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "inf"
    if v < 0.005:
        return "0" if v == 0 else "<0.01"
    if v >= 1e4:
        return f"{v:.1e}".replace("e+0", "e").replace("e+", "e")
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.2g}" if v < 10 else f"{v:.1f}"


def _cell_text(c: Cell) -> str:
    text = f"{_fmt(c.max_ulp)} / {_fmt(c.median_ulp)}"
    bad = [
        f"{k} {label}"
        for k, label in ((c.nan, "NaN"), (c.inf, "inf"), (c.finite_for_inf, "finite-for-inf"))
        if k
    ]
    return text + (f" ({', '.join(bad)})" if bad else "")


def markdown(cells: list[Cell], families_notes: dict[tuple[str, str], str]) -> str:
    lines = [
        "# Accuracy: max / median error in ulp (units in the last place of the dtype)",
        "",
        "Exact values: mpmath from the exact float inputs (tests/_reference.py). The max is over",
        "entries where the exact answer and the result are both finite; in parentheses, NaN",
        "results, inf results where the answer is finite, and finite results where it is inf.",
        "Empty: the library has no such function.",
        "",
    ]
    impls = [i for i in IMPLS if any(c.impl == i for c in cells)]
    for dtype in dict.fromkeys(c.dtype for c in cells):
        lines += [f"## {dtype}", ""]
        lines.append("| family | function | " + " | ".join(impls) + " |")
        lines.append("|---|---|" + "---|" * len(impls))
        index = {(c.family, c.function, c.impl): c for c in cells if c.dtype == dtype}
        keys = dict.fromkeys((c.family, c.function) for c in cells if c.dtype == dtype)
        for family, function in keys:
            row = [
                _cell_text(index[(family, function, i)]) if (family, function, i) in index else ""
                for i in impls
            ]
            lines.append(f"| {family} | {function} | " + " | ".join(row) + " |")
        lines.append("")
        notes = [(k[1], v) for k, v in families_notes.items() if k[0] == dtype and v]
        if notes:
            lines.append("Families: " + "; ".join(f"{n}: {v}" for n, v in notes) + ".")
            lines.append("")
    return "\n".join(lines)


def _json_safe(v: Any) -> Any:
    return "inf" if isinstance(v, float) and math.isinf(v) else v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dtype",
        action="append",
        choices=["float64", "float32", "float16"],
        help="repeatable; default: float64 and float32",
    )
    parser.add_argument("--quick", action="store_true", help="half the rows")
    parser.add_argument(
        "--big-rows", type=int, default=1, help="rows of 50,000 classes (~15 s each); default 1"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every cell as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table to a file")
    parser.add_argument("--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    dtypes = args.dtype or ["float64", "float32"]
    start = time.perf_counter()

    def log(msg: str) -> None:
        if args.verbose:
            print(msg, file=sys.stderr)

    cells = measure(dtypes, args.quick, args.big_rows, log)
    notes = {
        (d, f.name): f.note for d in dtypes for f in ref.families(np.dtype(d), quick=args.quick)
    }
    table = markdown(cells, notes)
    print(table)
    print(f"\n({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    if args.json:
        records = [{k: _json_safe(v) for k, v in vars(c).items()} for c in cells]
        Path(args.json).write_text(json.dumps(records, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
