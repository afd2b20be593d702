"""Run every example in ``examples/`` with small settings and check its key claim.

The examples are scripts, not a package, so they are imported by path. Each
test skips cleanly when an optional dependency (scipy, scikit-learn,
matplotlib) is missing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str, *requires: str) -> ModuleType:
    """Import ``examples/<name>.py`` after skipping if a requirement is absent."""
    for module in requires:
        pytest.importorskip(module)
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"xent_example_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def test_quickstart(capsys: pytest.CaptureFixture[str]) -> None:
    ex = load_example("quickstart")
    out = ex.main()
    assert "why xent" in capsys.readouterr().out
    for loss in ("binary", "categorical", "sparse"):
        assert np.isclose(out[loss], out[f"{loss}_from_probs"], rtol=1e-12)
    assert out["sparse_grad_error"] < 1e-15
    # logits [800, 0, -5], label 1: -log p = 800 + log1p(e^-800 + e^-805) == 800.0 in float64
    assert out["xent_far"] == 800.0
    assert out["xent_small"] == 800.0
    assert not np.isfinite(out["naive_far"])
    assert not np.isfinite(out["naive_small"])


def test_softmax_regression_matches_sklearn() -> None:
    ex = load_example("softmax_regression", "scipy", "sklearn")
    out = ex.main(["--n-samples", "500", "--C", "0.5"])
    assert out["objective_rel_diff"] < ex.OBJ_RTOL
    assert out["coef_max_diff"] < ex.COEF_ATOL
    assert out["intercept_max_diff"] < ex.COEF_ATOL
    assert out["prediction_agreement"] >= 0.99
    assert out["test_accuracy"] > 0.85


def test_binary_classifier_pos_weight_raises_recall() -> None:
    ex = load_example("binary_classifier", "scipy", "sklearn")
    out = ex.main([])
    recall, precision = np.array(out["recall"]), np.array(out["precision"])
    assert np.all(np.diff(recall) >= 0), recall
    assert recall[-1] > recall[out["pos_weights"].index(1.0)] > recall[0]
    assert precision[-1] < precision[0]
    # No probability is clipped by sklearn here, so both log losses agree.
    assert out["n_clipped"] == 0
    assert np.isclose(out["log_loss_sklearn"], out["log_loss_xent"], rtol=1e-12)
    assert np.isclose(out["log_loss_xent"], out["log_loss_xent_logits"], rtol=1e-10)
    # Saturated sigmoid(40) == 1.0 for label 0: exact 40 from logits, inf from
    # probabilities, and sklearn's clipped -log(eps) = 36.04.
    sat = out["saturated"]
    assert sat["xent_logits"] == pytest.approx(40.0, rel=1e-15)
    assert sat["xent_probs"] == np.inf
    assert sat["sklearn"] == pytest.approx(-np.log(np.finfo(np.float64).eps), rel=1e-12)
    # logits -40 for label 1: softplus(40) = 40 + log1p(e^-40); log_loss clips at eps.
    bad = out["confident_mistake"]
    assert bad["xent_logits"] == pytest.approx(bad["xent_probs"], rel=1e-12)
    assert bad["sklearn"] < bad["xent_logits"]


def test_language_model_padding_matches_unpadded() -> None:
    ex = load_example("language_model_eval", "scipy")
    out = ex.main(
        [
            "--n-files",
            "40",
            "--vocab-size",
            "800",
            "--max-test-lines",
            "400",
            "--batch-lines",
            "16",
            "--test-every",
            "8",
        ]
    )
    assert np.isfinite(out["perplexity"])
    assert 1.0 < out["perplexity"] < 800
    assert out["padding_fraction"] > 0
    assert out["mean_loss"] == pytest.approx(out["mean_loss_unpadded"], rel=1e-12)
    assert out["mean_loss_unpadded_xent"] == pytest.approx(out["mean_loss_unpadded"], rel=1e-12)
    assert out["perplexity_float32"] == pytest.approx(out["perplexity"], rel=1e-5)
    assert out["perplexity_from_product"] == np.inf


def test_mlp_learning_curve_decreases(tmp_path: Path) -> None:
    ex = load_example("mlp", "sklearn")
    out = ex.main(["--epochs", "6", "--out", str(tmp_path), "--no-plot"])
    losses = np.array(out["train_loss"])
    assert losses[-1] < 0.4 * losses[0]
    assert np.all(np.diff(losses) < 0), losses
    assert losses[-1] > out["loss_floor"]
    assert out["test_accuracy"][-1] > 0.9


def test_mlp_saves_png(tmp_path: Path) -> None:
    ex = load_example("mlp", "sklearn", "matplotlib")
    out = ex.main(["--epochs", "1", "--out", str(tmp_path)])
    png = Path(out["png"])
    assert png.parent == tmp_path
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_mlp_backprop_matches_finite_differences(
    rng: np.random.Generator, label_smoothing: float
) -> None:
    ex = load_example("mlp", "sklearn")
    params = ex.init_params(rng, 5, 7, 4)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    X = rng.standard_normal((6, 5))
    y = rng.integers(0, 4, size=6)
    _, grads = ex.loss_and_grad(params, X, y, label_smoothing)
    h = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + h
            up, _ = ex.loss_and_grad(params, X, y, label_smoothing)
            value[idx] = old - h
            down, _ = ex.loss_and_grad(params, X, y, label_smoothing)
            value[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        # central differences: error O(h^2 * f''') + O(eps * f / h) ~ 1e-9
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)
