"""A two-layer network trained by hand-written backprop, with the loss gradient from xent.

Shows
-----
* the one call a NumPy training loop needs at the top of the backward pass:
  ``loss, dlogits = xent.sparse_categorical_cross_entropy(y, logits,
  from_logits=True, label_smoothing=0.1, return_grad=True)``; ``dlogits`` is
  ``d mean_loss / d logits`` and the rest of backprop is two matrix products
  and a ReLU mask;
* a 64-64-10 ReLU network on scikit-learn's bundled digits data (no download),
  trained with mini-batch SGD with momentum; the learning curve (training loss
  and test accuracy per epoch) is printed and, when matplotlib is installed,
  saved as a PNG under ``--out`` (default: a fresh temporary directory).

The test suite checks :func:`loss_and_grad` against central finite differences.

Run ``python examples/mlp.py [--epochs 30] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import xent

Params = dict[str, np.ndarray]


def init_params(rng: np.random.Generator, n_in: int, n_hidden: int, n_out: int) -> Params:
    """He-initialized weights, zero biases."""
    return {
        "W1": rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0.0, np.sqrt(2.0 / n_hidden), (n_hidden, n_out)),
        "b2": np.zeros(n_out),
    }


def logits_of(params: Params, X: np.ndarray) -> np.ndarray:
    """Forward pass: ``relu(X W1 + b1) W2 + b2``."""
    return np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]


def loss_and_grad(
    params: Params, X: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, Params]:
    """Mean smoothed cross-entropy and its gradient with respect to every parameter."""
    pre = X @ params["W1"] + params["b1"]
    h = np.maximum(pre, 0.0)
    logits = h @ params["W2"] + params["b2"]
    loss, d_logits = xent.sparse_categorical_cross_entropy(
        y, logits, from_logits=True, label_smoothing=label_smoothing, return_grad=True
    )
    d_h = d_logits @ params["W2"].T
    d_pre = d_h * (pre > 0)
    grads = {
        "W2": h.T @ d_logits,
        "b2": d_logits.sum(axis=0),
        "W1": X.T @ d_pre,
        "b1": d_pre.sum(axis=0),
    }
    return float(loss), grads


def save_curve(losses: list[float], accs: list[float], out_dir: Path) -> Path | None:
    """Save the learning curve as a PNG; ``None`` when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(7, 3))
    ax1, ax2 = fig.subplots(1, 2)
    epochs = np.arange(len(losses))
    ax1.plot(epochs, losses, marker="o", ms=3)
    ax1.set(xlabel="epoch", ylabel="training loss (smoothed CE)", yscale="log")
    ax2.plot(epochs, accs, marker="o", ms=3, color="C1")
    ax2.set(xlabel="epoch", ylabel="test accuracy")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "mlp_learning_curve.png"
    fig.savefig(path, dpi=100)
    return path


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Train the network, print the learning curve and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for the PNG (default: a new temporary directory)",
    )
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=args.seed, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    params = init_params(rng, X.shape[1], args.hidden, 10)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    e = args.label_smoothing

    def train_loss() -> float:
        return float(
            xent.sparse_categorical_cross_entropy(
                y_train, logits_of(params, X_train), from_logits=True, label_smoothing=e
            )
        )

    def test_acc() -> float:
        return float(np.mean(np.argmax(logits_of(params, X_test), axis=1) == y_test))

    losses, accs = [train_loss()], [test_acc()]
    print(
        f"digits MLP {X.shape[1]}-{args.hidden}-10, label_smoothing={e}, "
        f"{len(y_train)} train / {len(y_test)} test"
    )
    print(f"epoch {0:3d}  train loss {losses[0]:.4f}  test accuracy {accs[0]:.4f}")
    t0 = time.perf_counter()
    n = len(y_train)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(n)
        for start in range(0, n, args.batch_size):
            idx = order[start : start + args.batch_size]
            _, grads = loss_and_grad(params, X_train[idx], y_train[idx], e)
            for k in params:
                velocity[k] = args.momentum * velocity[k] - args.lr * grads[k]
                params[k] += velocity[k]
        losses.append(train_loss())
        accs.append(test_acc())
        print(f"epoch {epoch:3d}  train loss {losses[-1]:.4f}  test accuracy {accs[-1]:.4f}")
    elapsed = time.perf_counter() - t0
    # With smoothing e the loss cannot go below the entropy of the smoothed target.
    floor = (
        -((1 - e + e / 10) * np.log(1 - e + e / 10) + 9 * (e / 10) * np.log(e / 10))
        if e > 0
        else 0.0
    )
    print(
        f"trained {args.epochs} epochs in {elapsed:.1f} s; loss floor for "
        f"label_smoothing={e}: {floor:.4f}"
    )

    png = None
    if not args.no_plot:
        out_dir = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="xent_mlp_"))
        png = save_curve(losses, accs, out_dir)
        print(f"learning curve saved to {png}" if png else "matplotlib not installed; no plot")
    return {
        "train_loss": losses,
        "test_accuracy": accs,
        "loss_floor": float(floor),
        "png": str(png) if png else None,
    }


if __name__ == "__main__":
    main()
