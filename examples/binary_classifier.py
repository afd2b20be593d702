"""Binary logistic regression with ``pos_weight``, and xent vs ``sklearn.metrics.log_loss``.

Shows
-----
* ``xent.binary_cross_entropy(..., from_logits=True, pos_weight=w, return_grad=True)``
  as the loss and gradient of an L2-regularized logistic regression on
  scikit-learn's bundled breast-cancer data (no download), trained with
  ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``. The positive class
  is *malignant* (the minority, about 37 %).
* what ``pos_weight`` does: each positive's loss term is multiplied by ``w``,
  so ``w > 1`` makes missing a positive more expensive. The table lists
  held-out recall and precision for several ``w``; recall rises with ``w``
  while precision falls.
* that ``sklearn.metrics.log_loss`` and ``xent.binary_cross_entropy`` agree on
  the predicted probabilities as long as scikit-learn's clipping of ``p`` to
  ``[eps, 1 - eps]`` does not bite; when a probability is exactly 0 or 1 for
  the wrong class, log_loss reports a finite clipped value, xent reports the
  true ``inf`` from probabilities, and the exact finite value from logits.

Run ``python examples/binary_classifier.py [--C 0.05]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import log_loss, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import xent

POS_WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def objective(
    theta: np.ndarray, X: np.ndarray, y: np.ndarray, pos_weight: float, l2: float
) -> tuple[float, np.ndarray]:
    """Mean weighted binary cross-entropy + ``l2 / 2 * ||w||^2`` and its gradient."""
    w, b = theta[:-1], theta[-1]
    loss, g = xent.binary_cross_entropy(
        y, X @ w + b, from_logits=True, pos_weight=pos_weight, return_grad=True
    )
    value = float(loss) + 0.5 * l2 * float(w @ w)
    return value, np.concatenate([X.T @ g + l2 * w, [g.sum()]])


def fit(X: np.ndarray, y: np.ndarray, pos_weight: float, C: float) -> np.ndarray:
    """Return ``theta = [w, b]`` minimizing :func:`objective`."""
    l2 = 1.0 / (C * X.shape[0])
    res = minimize(
        objective,
        np.zeros(X.shape[1] + 1),
        args=(X, y, pos_weight, l2),
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": 5_000, "gtol": 1e-9},
    )
    return np.asarray(res.x)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow, via ``exp(log_sigmoid(z))``."""
    return np.exp(xent.log_sigmoid(z))


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Train one model per ``pos_weight``, print the tables, return the key numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=0.05, help="inverse L2 strength")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, target = load_breast_cancer(return_X_y=True)
    y = (target == 0).astype(np.float64)  # 1 = malignant
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=args.seed, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(
        f"breast cancer: {len(y_train)} train / {len(y_test)} test, "
        f"{y_test.mean():.0%} malignant in test, C = {args.C}"
    )

    print(
        f"{'pos_weight':>10}  {'recall':>7}  {'precision':>9}  {'FN':>3}  {'FP':>3}  "
        f"{'test BCE (w=1)':>14}"
    )
    recalls, precisions = [], []
    theta_1 = None
    for pw in POS_WEIGHTS:
        theta = fit(X_train, y_train, pw, args.C)
        z = X_test @ theta[:-1] + theta[-1]
        pred = (z > 0).astype(np.float64)
        rec = float(recall_score(y_test, pred))
        prec = float(precision_score(y_test, pred, zero_division=0.0))
        fn = int(np.sum((pred == 0) & (y_test == 1)))
        fp = int(np.sum((pred == 1) & (y_test == 0)))
        test_bce = xent.binary_cross_entropy(y_test, z, from_logits=True)
        print(f"{pw:>10g}  {rec:>7.3f}  {prec:>9.3f}  {fn:>3d}  {fp:>3d}  {test_bce:>14.4f}")
        recalls.append(rec)
        precisions.append(prec)
        if pw == 1.0:
            theta_1 = theta
    assert theta_1 is not None

    # xent vs sklearn.metrics.log_loss on the predicted probabilities (pos_weight = 1).
    z = X_test @ theta_1[:-1] + theta_1[-1]
    p = sigmoid(z)
    eps = np.finfo(p.dtype).eps  # sklearn's log_loss clips p to [eps, 1 - eps]
    n_clipped = int(np.sum((p < eps) | (p > 1 - eps)))
    ll_sk = float(log_loss(y_test, p))
    ll_xent = float(xent.binary_cross_entropy(y_test, p))
    ll_logits = float(xent.binary_cross_entropy(y_test, z, from_logits=True))
    ll_diff = abs(ll_sk - ll_xent)
    print("log loss of the pos_weight = 1 model on the test set:")
    print(f"  sklearn.metrics.log_loss(y, p)           = {ll_sk:.15f}")
    print(f"  xent.binary_cross_entropy(y, p)          = {ll_xent:.15f}")
    print(f"  xent.binary_cross_entropy(y, z, logits)  = {ll_logits:.15f}")
    print(f"  |difference| = {ll_diff:.1e}  ({n_clipped} probabilities clipped by sklearn)")
    assert n_clipped > 0 or ll_diff < 1e-12 * ll_sk, ll_diff

    # A confident mistake: the model says "benign" with logit -40 for a malignant
    # tumour. In float64 sigmoid(-40) = 4.2e-18 < eps, so log_loss clips it.
    z_bad = np.array([-40.0, 3.0])
    y_bad = np.array([1.0, 0.0])
    p_bad = sigmoid(z_bad)
    bad_sk = float(log_loss(y_bad, p_bad, labels=[0.0, 1.0]))
    bad_xent_p = float(xent.binary_cross_entropy(y_bad, p_bad))
    bad_xent_z = float(xent.binary_cross_entropy(y_bad, z_bad, from_logits=True))
    print("a confident mistake, logits [-40, 3] for labels [1, 0]:")
    print(f"  sklearn log_loss (clipped at eps) = {bad_sk:.6f}")
    print(f"  xent from probabilities           = {bad_xent_p:.6f}")
    print(f"  xent from logits (exact)          = {bad_xent_z:.6f}")
    # A logit of +40 for a negative: sigmoid rounds to exactly 1.0, so from
    # probabilities the loss is inf (log(1 - 1)); log_loss clips it; logits are exact.
    z_one = np.array([40.0])
    p_one = sigmoid(z_one)
    one_sk = float(log_loss([0.0], p_one, labels=[0.0, 1.0]))
    one_xent_p = float(xent.binary_cross_entropy([0.0], p_one))
    one_xent_z = float(xent.binary_cross_entropy([0.0], z_one, from_logits=True))
    print(f"logit 40 for label 0: sigmoid(40) == 1.0 is {bool(p_one[0] == 1.0)}")
    print(f"  sklearn log_loss (clipped)  = {one_sk:.6f}")
    print(f"  xent from probabilities     = {one_xent_p}")
    print(f"  xent from logits (exact)    = {one_xent_z:.6f}")

    return {
        "pos_weights": list(POS_WEIGHTS),
        "recall": recalls,
        "precision": precisions,
        "log_loss_sklearn": ll_sk,
        "log_loss_xent": ll_xent,
        "log_loss_xent_logits": ll_logits,
        "n_clipped": n_clipped,
        "confident_mistake": {
            "sklearn": bad_sk,
            "xent_probs": bad_xent_p,
            "xent_logits": bad_xent_z,
        },
        "saturated": {"sklearn": one_sk, "xent_probs": one_xent_p, "xent_logits": one_xent_z},
    }


if __name__ == "__main__":
    main()
