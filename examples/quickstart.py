"""Quickstart: the three xent losses, from logits and from probabilities, with gradients.

Shows
-----
* ``binary_cross_entropy``, ``categorical_cross_entropy`` and
  ``sparse_categorical_cross_entropy`` on a tiny batch, each from logits
  (``from_logits=True``) and from probabilities, and that both paths agree;
* ``return_grad=True``: the gradient with respect to the logits is
  ``(softmax(z) - onehot(y)) / n`` for the mean reduction;
* why xent exists: the naive ``-log(softmax(z)[y])`` rounds a tiny
  probability to 0 and returns ``inf``, while xent works in log space and
  returns the exact loss.

Run ``python examples/quickstart.py``; it finishes in well under a second.
"""

from __future__ import annotations

import numpy as np

import xent


def naive_sparse_ce(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Textbook ``-log(softmax(z)[y])`` computed in probability space."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        e = np.exp(logits)
        p = e / e.sum(axis=-1, keepdims=True)
        return -np.log(p[np.arange(len(labels)), labels])


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Print each loss and return the key numbers."""
    del argv  # no options
    out: dict[str, float] = {}

    # Binary: four independent yes/no predictions.
    y_bin = np.array([1.0, 0.0, 1.0, 0.0])
    z_bin = np.array([2.0, -1.0, 0.5, 3.0])  # logits
    p_bin = 1.0 / (1.0 + np.exp(-z_bin))  # the same predictions as probabilities
    bce_z, grad_bin = xent.binary_cross_entropy(y_bin, z_bin, from_logits=True, return_grad=True)
    bce_p = xent.binary_cross_entropy(y_bin, p_bin)
    print("binary cross-entropy")
    print(f"  from logits       : {bce_z:.6f}")
    print(f"  from probabilities: {bce_p:.6f}")
    print(f"  d loss / d logits : {np.array2string(grad_bin, precision=4)}")
    print(f"  (sigmoid(z) - y)/n: {np.array2string((p_bin - y_bin) / 4, precision=4)}")
    out["binary"] = float(bce_z)
    out["binary_from_probs"] = float(bce_p)

    # Categorical: three samples, four classes, soft (or one-hot) targets.
    z = np.array([[2.0, 1.0, 0.1, -1.0], [0.0, 0.0, 3.0, 0.5], [-2.0, 4.0, 1.0, 0.0]])
    y_soft = np.array([[0.7, 0.2, 0.1, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.5, 0.5, 0.0]])
    p = xent.softmax(z)
    cce_z, grad_cat = xent.categorical_cross_entropy(y_soft, z, from_logits=True, return_grad=True)
    cce_p = xent.categorical_cross_entropy(y_soft, p)
    print("categorical cross-entropy (soft targets)")
    print(f"  from logits       : {cce_z:.6f}")
    print(f"  from probabilities: {cce_p:.6f}")
    print(f"  gradient row 0    : {np.array2string(grad_cat[0], precision=4)}")
    out["categorical"] = float(cce_z)
    out["categorical_from_probs"] = float(cce_p)

    # Sparse: integer class ids instead of one-hot rows; equals one-hot categorical.
    labels = np.array([0, 2, 1])
    sce_z, grad_sp = xent.sparse_categorical_cross_entropy(
        labels, z, from_logits=True, return_grad=True
    )
    sce_p = xent.sparse_categorical_cross_entropy(labels, p)
    onehot = np.eye(4)[labels]
    cce_onehot = xent.categorical_cross_entropy(onehot, z, from_logits=True)
    print("sparse categorical cross-entropy")
    print(f"  from logits       : {sce_z:.6f}")
    print(f"  from probabilities: {sce_p:.6f}")
    print(f"  one-hot categorical: {cce_onehot:.6f}")
    grad_check = np.max(np.abs(grad_sp - (p - onehot) / len(labels)))
    print(f"  max |grad - (softmax(z) - onehot)/n| = {grad_check:.1e}")
    out["sparse"] = float(sce_z)
    out["sparse_from_probs"] = float(sce_p)
    out["sparse_grad_error"] = float(grad_check)

    # Why xent exists: a confident wrong prediction.
    z_far = np.array([[800.0, 0.0, -5.0]])  # large logits: exp(800) overflows float64
    y_far = np.array([1])  # the true class has log-probability -800
    naive = naive_sparse_ce(y_far, z_far)[0]
    exact = xent.sparse_categorical_cross_entropy(y_far, z_far, from_logits=True)
    print("why xent: true class far from the prediction, logits [800, 0, -5], label 1")
    print(f"  naive -log(softmax(z)[y]) = {naive}   (exp overflows -> nan/inf)")
    print(f"  xent                      = {exact}   (exact: 800 + log(1 + e^-800 + e^-805))")
    z_small = np.array([[0.0, -800.0]])
    naive_small = naive_sparse_ce(np.array([1]), z_small)[0]
    exact_small = xent.sparse_categorical_cross_entropy([1], z_small, from_logits=True)
    print("  logits [0, -800], label 1: softmax rounds p = e^-800 to 0")
    print(f"  naive = {naive_small}, xent = {exact_small}")
    out["naive_far"] = float(naive)
    out["xent_far"] = float(exact)
    out["naive_small"] = float(naive_small)
    out["xent_small"] = float(exact_small)
    return out


if __name__ == "__main__":
    main()
