"""Multinomial logistic regression with xent, checked against scikit-learn.

Shows
-----
* ``xent.sparse_categorical_cross_entropy(..., from_logits=True, return_grad=True)``
  as the loss *and* gradient of a softmax-regression model: one call gives
  ``d mean_loss / d logits``, and the chain rule through ``logits = X @ W + b``
  is two matrix products;
* training with ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` on
  scikit-learn's bundled digits data (no download);
* that the result is the *same* model that
  ``sklearn.linear_model.LogisticRegression`` fits. For the multinomial lbfgs
  solver scikit-learn minimizes ``C * sum_i loss_i + ||W||^2 / 2`` with the
  intercept unpenalized; dividing by ``C * n`` gives the equivalent

      mean_i loss_i + ||W||^2 / (2 C n),

  which is what we minimize here. With the L2 term the coefficients ``W`` are
  unique. The intercepts are unpenalized and the softmax is invariant to
  adding one constant to all of them, so both are centred (mean over classes
  removed) before comparing.

The printed tolerances (relative objective difference, maximum coefficient and
intercept difference, prediction agreement) are asserted against the stated
``OBJ_RTOL`` and ``COEF_ATOL``.

Run ``python examples/softmax_regression.py [--C 1.0] [--n-samples N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import xent

# Both fits stop when the gradient is below ~1e-10; the objective is strongly
# convex with curvature at least 1/(C n), so these bounds leave a wide margin.
OBJ_RTOL = 1e-9
COEF_ATOL = 1e-4


def objective(
    theta: np.ndarray, X: np.ndarray, y: np.ndarray, n_classes: int, l2: float
) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy + ``l2 / 2 * ||W||^2`` and its gradient.

    ``theta`` is ``W.ravel()`` (shape ``(d, K)``) followed by ``b`` (shape ``(K,)``).
    """
    d = X.shape[1]
    W = theta[: d * n_classes].reshape(d, n_classes)
    b = theta[d * n_classes :]
    logits = X @ W + b
    loss, g_logits = xent.sparse_categorical_cross_entropy(
        y, logits, from_logits=True, return_grad=True
    )
    value = float(loss) + 0.5 * l2 * float(np.sum(W * W))
    grad_W = X.T @ g_logits + l2 * W
    grad_b = g_logits.sum(axis=0)
    return value, np.concatenate([grad_W.ravel(), grad_b])


def fit_xent(
    X: np.ndarray, y: np.ndarray, n_classes: int, C: float
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Fit with L-BFGS-B; returns ``(W, b, objective, iterations)``."""
    n, d = X.shape
    l2 = 1.0 / (C * n)
    theta0 = np.zeros(d * n_classes + n_classes)
    res = minimize(
        objective,
        theta0,
        args=(X, y, n_classes, l2),
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": 20_000, "maxls": 50, "gtol": 1e-11, "ftol": 1e-15},
    )
    W = res.x[: d * n_classes].reshape(d, n_classes)
    b = res.x[d * n_classes :]
    return W, b, float(res.fun), int(res.nit)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Fit both models, print the comparison and return the key numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 strength (sklearn's C)")
    parser.add_argument("--n-samples", type=int, default=None, help="use only the first N images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    if args.n_samples is not None:
        X, y = X[: args.n_samples], y[: args.n_samples]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=args.seed, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    n_classes = int(y.max()) + 1
    n = X_train.shape[0]
    l2 = 1.0 / (args.C * n)
    print(
        f"digits: {n} train / {X_test.shape[0]} test images, {X.shape[1]} features, "
        f"{n_classes} classes, C = {args.C}"
    )

    t0 = time.perf_counter()
    W, b, f_xent, nit = fit_xent(X_train, y_train, n_classes, args.C)
    t_xent = time.perf_counter() - t0

    t0 = time.perf_counter()
    sk = LogisticRegression(C=args.C, tol=1e-12, max_iter=20_000).fit(X_train, y_train)
    t_sk = time.perf_counter() - t0
    W_sk, b_sk = sk.coef_.T, sk.intercept_
    theta_sk = np.concatenate([W_sk.ravel(), b_sk])
    f_sk, _ = objective(theta_sk, X_train, y_train, n_classes, l2)

    def centred(v: np.ndarray) -> np.ndarray:
        return v - v.mean()

    obj_rdiff = abs(f_xent - f_sk) / abs(f_sk)
    coef_diff = float(np.max(np.abs(W - W_sk)))
    icpt_diff = float(np.max(np.abs(centred(b) - centred(b_sk))))
    pred = np.argmax(X_test @ W + b, axis=1)
    acc = float(np.mean(pred == y_test))
    acc_sk = float(sk.score(X_test, y_test))
    agree = float(np.mean(pred == sk.predict(X_test)))
    test_loss = xent.sparse_categorical_cross_entropy(y_test, X_test @ W + b, from_logits=True)

    print(f"xent + L-BFGS-B : objective {f_xent:.15f}  ({nit} iterations, {t_xent:.2f} s)")
    print(
        f"scikit-learn    : objective {f_sk:.15f}  ({int(sk.n_iter_[0])} iterations, {t_sk:.2f} s)"
    )
    print(f"objective relative difference : {obj_rdiff:.2e}   (asserted < {OBJ_RTOL:.0e})")
    print(
        f"max |W_xent - W_sklearn|      : {coef_diff:.2e}   (asserted < {COEF_ATOL:.0e}; "
        f"max |W| = {np.max(np.abs(W)):.3f})"
    )
    print(f"max |b_xent - b_sklearn| (centred): {icpt_diff:.2e}")
    print(
        f"test accuracy: xent {acc:.4f}, sklearn {acc_sk:.4f}, predictions agree on "
        f"{agree:.2%}; test mean cross-entropy {test_loss:.4f}"
    )
    assert obj_rdiff < OBJ_RTOL, obj_rdiff
    assert coef_diff < COEF_ATOL, coef_diff
    assert icpt_diff < COEF_ATOL, icpt_diff
    return {
        "objective": f_xent,
        "objective_sklearn": f_sk,
        "objective_rel_diff": obj_rdiff,
        "coef_max_diff": coef_diff,
        "intercept_max_diff": icpt_diff,
        "test_accuracy": acc,
        "test_accuracy_sklearn": acc_sk,
        "prediction_agreement": agree,
        "test_loss": float(test_loss),
    }


if __name__ == "__main__":
    main()
