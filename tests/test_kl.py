"""kl_divergence: values and gradients against mpmath, PyTorch, finite differences and
identities; special values, options, dtypes and every error message.

Oracle: tests/_reference.py's ``kl_divergence`` at 100 digits from the exact float inputs.
Bounds: the loss within ``VALUE_ULP`` ulp of ``sum_c p_c |log p_c - log q_c|`` (times
``T**2`` and the weight; the issue's bound, which for nearly equal distributions is far
tighter than the textbook formula's), gradient entries within ``GRAD_ULP`` ulp of the larger
of their two terms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xent
from tests import _reference as ref
from xent._kernels import _core

VALUE_ULP = 4.0
GRAD_ULP = 8.0

# (target_from_logits, from_logits)
MODES = {
    "logits-logits": (True, True),
    "probs-logits": (False, True),
    "logits-probs": (True, False),
    "probs-probs": (False, False),
}


def _probs(logits: np.ndarray, dtype: Any) -> np.ndarray:
    """Rows of probabilities in ``dtype``: the float64 softmax rounded (sums 1 within rounding)."""
    with np.errstate(under="ignore"):
        x = logits.astype(np.float64)
        z = np.exp(x - x.max(axis=-1, keepdims=True))
        return (z / z.sum(axis=-1, keepdims=True)).astype(dtype)


def pairs(rng: np.random.Generator, dtype: Any, n: int = 24, c: int = 10) -> dict[str, Any]:
    """Teacher and student logits: independent, nearly equal (to 1e-6 and to the last bit),
    shifted by a constant, masked on both sides, confident (leads up to 600)."""
    dtype = np.dtype(dtype)
    t = 3.0 * rng.standard_normal((n, c))
    out = {"independent": (t, 3.0 * rng.standard_normal((n, c)))}
    out["near"] = (t, t + 1e-6 * rng.standard_normal((n, c)))
    td = t.astype(dtype)
    last_bit = np.where(rng.random((n, c)) < 0.5, np.nextafter(td, np.inf), td)
    out["last_bit"] = (td, last_bit)
    out["shifted"] = (t, t + 100.0 + 1e-3 * rng.standard_normal((n, c)))
    xm, _ = ref.masked_leading_logits(rng, n, c, dtype, lead_from=16.0, lead=False)
    sm = xm + 0.5 * rng.standard_normal((n, c))
    out["masked"] = (xm, sm)
    xl, _ = ref.masked_leading_logits(rng, n, c, dtype, lead_from=16.0, mask=False)
    out["confident"] = (xl, xl + 0.01 * rng.standard_normal((n, c)))
    return {k: (a.astype(dtype), b.astype(dtype)) for k, (a, b) in out.items()}


def _inputs(t: np.ndarray, s: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    target_logits, pred_logits = MODES[mode]
    y_true = t if target_logits else _probs(t, t.dtype)
    y_pred = s if pred_logits else _probs(s, s.dtype)
    return y_true, y_pred


def _check(
    got, exact, grad, exact_grad, grad_scale, bound, what: str, value_ulp: float = VALUE_ULP
) -> None:
    err = ref.ulp_error(got, exact, scale=bound)
    assert ref.max_ulp(err) <= value_ulp, f"{what}: value {ref.max_ulp(err):.3g} ulp"
    gerr = ref.ulp_error(grad, exact_grad, scale=grad_scale)
    assert ref.max_ulp(gerr) <= GRAD_ULP, f"{what}: grad {ref.max_ulp(gerr):.3g} ulp"


# rows of at most 128 classes go eight rows at a time, longer rows one at a time (kl.h); float
# rows of two classes of logits on both sides, or of probability targets and student logits,
# take closed forms of their own (kl_two_logits_v, kl_two_probs_v)
CLASSES = [10, 40, 150]


@pytest.mark.parametrize("classes", [2, *CLASSES])
@pytest.mark.parametrize("temperature", [1.0, 2.5, 0.3])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_matches_mpmath(rng, dtype, mode, temperature, classes):
    if temperature != 1.0 and mode == "probs-probs":
        return  # a temperature needs logits: see test_errors
    for name, (t, s) in pairs(rng, dtype, n=24 if classes < 20 else 9, c=classes).items():
        y_true, y_pred = _inputs(t, s, mode)
        target_logits, pred_logits = MODES[mode]
        w = rng.uniform(0.0, 2.0, t.shape[0]).astype(dtype)
        got, grad = xent.kl_divergence(
            y_true, y_pred, from_logits=pred_logits, target_from_logits=target_logits,
            temperature=temperature, sample_weight=w, reduction="none", return_grad=True,
        )  # fmt: skip
        assert got.dtype == dtype
        assert grad.dtype == dtype
        exact = ref.kl_divergence(
            y_true, y_pred, from_logits=pred_logits, target_from_logits=target_logits,
            temperature=temperature, sample_weight=w,
        )  # fmt: skip
        # float64 rows of two classes with probability targets, equal to the last bit: the
        # few roundings of 2^-53 of the scale in sum p x and log1p(Y) have only two terms to
        # average over, 7.5 ulp of the scale measured (the same in the general path at 10
        # classes stays below 4)
        few = classes == 2 and dtype == np.float64 and not target_logits
        _check(got, exact[0], grad, exact[1], exact[2], exact[3], f"{name} {mode}",
               value_ulp=10.0 if few else VALUE_ULP)  # fmt: skip


@pytest.mark.parametrize("classes", [2, *CLASSES, 300])
@pytest.mark.parametrize("mode", list(MODES))
def test_float32_rows_either_side_of_the_direct_forms_threshold(rng, mode, classes):
    """float32 results take the direct form sum p u - log SF + log SG where the divergence or
    its scale sum p |r| is at least 2^-7 (kl.h), the expm1 form elsewhere: rows whose scale
    runs from 2^-12 to 2^2 (student = teacher + noise), mixed in one call, each within half
    an ulp of the scale (plus the margin the bound allows) against mpmath, and each row's bits
    the same alone as among the others (a row's form is its own)."""
    target_logits, pred_logits = MODES[mode]
    temperature = 2.0 if target_logits and pred_logits else 1.0
    noise = np.repeat(2.0 ** np.arange(-9, 4, 1.0), 2)
    rng.shuffle(noise)
    t = (3.0 * rng.standard_normal((noise.size, classes))).astype(np.float32)
    s = (t + noise[:, None] * rng.standard_normal(t.shape)).astype(np.float32)
    y_true, y_pred = _inputs(t, s, mode)
    kw = {"from_logits": pred_logits, "target_from_logits": target_logits}
    got = xent.kl_divergence(y_true, y_pred, temperature=temperature, reduction="none", **kw)
    exact = ref.kl_divergence(y_true, y_pred, temperature=temperature, **kw)
    assert ref.max_ulp(ref.ulp_error(got, exact[0], scale=exact[3])) <= 0.55
    scale = ref.to_float(exact[3]) / temperature**2
    assert scale.min() < 2.0**-9  # both forms are taken
    assert scale.max() > 2.0**-5
    for i in (0, 5, noise.size - 1):
        one = xent.kl_divergence(
            y_true[i : i + 1], y_pred[i : i + 1], temperature=temperature, reduction="none", **kw
        )
        assert one[0] == got[i]


@pytest.mark.parametrize("classes", [2, *CLASSES])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_float32_gradient_entries_keep_their_digits(rng, temperature, classes):
    """The gradient q_c - p_c of student logits where a third of the entries agree with the
    teacher's to about 1e-6 (rows far enough apart for the direct form of the loss): each
    entry within an ulp of itself, not of p_c (q_c - p_c from two rounded probabilities, or
    from weights with relative errors of 2^-38, keeps few of its digits there)."""
    t = (3.0 * rng.standard_normal((16, classes))).astype(np.float32)
    s = (t + 0.3 * rng.standard_normal(t.shape)).astype(np.float32)
    close = t * (1.0 + 1e-6 * rng.standard_normal(t.shape))
    s = np.where(rng.random(t.shape) < 0.3, close, s).astype(np.float32)
    kw = {"from_logits": True, "target_from_logits": True, "temperature": temperature}
    _, grad = xent.kl_divergence(t, s, reduction="sum", return_grad=True, **kw)
    exact = ref.kl_divergence(t, s, **kw)
    assert ref.max_ulp(ref.ulp_error(grad, exact[1])) <= 1.0


@pytest.mark.parametrize("classes", [3, *CLASSES])
def test_float32_gradient_digits_at_a_temperature_that_rounds(rng, classes):
    """At temperature 7 (1/7 rounds, unlike 1/2) with a class 140 below the others and student
    logits a last bit away from the teacher's in a third of the entries: log p_c - log q_c
    is formed from the logits' differences before the division (kl.h kl_weights), not as the
    difference of two rounded quotients of size 20 (which kept 13-21 bits of it, 5.3 ulp
    measured on the gradient), so each gradient entry is within an ulp of itself."""
    temperature = 7.0
    t = (3.0 * rng.standard_normal((16, classes))).astype(np.float32)
    t[:, 0] -= 140.0
    s = np.where(rng.random(t.shape) < 0.3, np.nextafter(t, np.inf), t).astype(np.float32)
    kw = {"from_logits": True, "target_from_logits": True, "temperature": temperature}
    _, grad = xent.kl_divergence(t, s, reduction="sum", return_grad=True, **kw)
    exact = ref.kl_divergence(t, s, **kw)
    assert ref.max_ulp(ref.ulp_error(grad, exact[1])) <= 1.0


def _two_class_rows(y_true, y_pred, kw, finite, special, grad_of_itself: bool) -> None:
    """The checks of float32 rows of two classes (kl.h kl_two): against mpmath on the rows
    ``finite`` (the value within half an ulp of the scale, plus the margin the bound allows;
    the gradient within an ulp of itself, or ``GRAD_ULP`` of its terms' scale), float64's
    values on the rows ``special`` (those the general path takes: infinities and NaN), and each
    row's bits the same alone as in the batch, and with the classes along the first axis (read
    by gathers instead of contiguous loads)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        got, grad = xent.kl_divergence(y_true, y_pred, reduction="none", return_grad=True, **kw)
        wide, wide_grad = xent.kl_divergence(
            y_true.astype(np.float64), y_pred.astype(np.float64), reduction="none",
            return_grad=True, **kw,
        )  # fmt: skip
        rows_t, grad_t = xent.kl_divergence(
            y_true.T.copy(), y_pred.T.copy(), axis=0, reduction="none", return_grad=True, **kw
        )
        alone = [
            xent.kl_divergence(y_true[i : i + 1], y_pred[i : i + 1], reduction="none", **kw)[0]
            for i in range(y_true.shape[0])
        ]
    exact = ref.kl_divergence(y_true[finite], y_pred[finite], **kw)
    assert ref.max_ulp(ref.ulp_error(got[finite], exact[0], scale=exact[3])) <= 0.55
    if grad_of_itself:
        assert ref.max_ulp(ref.ulp_error(grad[finite], exact[1])) <= 1.0
    else:
        assert ref.max_ulp(ref.ulp_error(grad[finite], exact[1], scale=exact[2])) <= GRAD_ULP
    np.testing.assert_array_equal(got[special], wide[special].astype(np.float32))
    np.testing.assert_array_equal(grad[special], wide_grad[special].astype(np.float32))
    np.testing.assert_array_equal(got, np.array(alone, np.float32))
    np.testing.assert_array_equal(rows_t, got)
    np.testing.assert_array_equal(grad_t.T, grad)


def test_float32_two_class_rows_of_logits(rng):
    """float32 rows of two classes with logits on both sides take a closed form of their own
    (kl.h kl_two): against mpmath for independent, nearly equal (to the last bit; at an
    offset of 1e4), confident and lopsided rows, and rows with a near 20 whose student logit
    is a last bit away from the teacher's (the gradient q1 - p1 = sigmoid(a) sigmoid(-b)
    expm1(d) needs d = b - a to an ulp of itself; b - a of the two quotients keeps 21 bits
    there); logit differences either side of 700 times the temperature, infinities and NaN
    (rows the general path takes) mixed in (_two_class_rows)."""
    temp, n = 7.0, 48
    t = 3.0 * rng.standard_normal((n, 2))
    s = t + 0.3 * rng.standard_normal((n, 2))
    t[8:16] += 1e4
    s[8:16] = t[8:16] * (1.0 + 1e-7 * rng.standard_normal((8, 2)))
    t[16:20] = [0.0, 60.0 * temp]
    s[16:20] = t[16:20] + rng.standard_normal((4, 2))
    t[20:24, 0] = -20.0 * temp - rng.random(4)  # a near 20, the student a last bit away
    t[20:24, 1] = 0.25 + 0.1 * rng.random(4)
    t[24:28] = [0.0, 690.0 * temp]
    s[24:28] = [[0.0, 699.0 * temp], [0.0, 701.0 * temp], [5.0, -700.5 * temp], [0.0, 1.0]]
    t32, s32 = t.astype(np.float32), s.astype(np.float32)
    s32[:8] = np.where(rng.random((8, 2)) < 0.5, np.nextafter(t32[:8], np.inf), t32[:8])
    s32[20:24] = t32[20:24]
    s32[20:24, 1] = np.nextafter(t32[20:24, 1], np.inf)
    finite = np.arange(28)
    t32[28:] = [[-np.inf, 1.0], [0.0, np.inf], [1.0, 2.0], [-np.inf, 0.0], [3.0, 4.0], [0.0, 0.0],
                *[[1.0, 2.0]] * 14]  # fmt: skip
    s32[28:] = [[0.0, 1.0], [0.0, 5.0], [-np.inf, 2.0], [-np.inf, 1.0], [np.nan, 4.0],
                [np.inf, np.inf], *[[1.0, 0.0]] * 14]  # fmt: skip
    kw = {"from_logits": True, "target_from_logits": True, "temperature": temp}
    _two_class_rows(t32, s32, kw, finite, np.arange(28, n), grad_of_itself=True)


def test_float32_two_class_probability_targets(rng):
    """float32 rows of two classes with probability targets and student logits take a closed
    form of their own (kl.h kl_two_probs_v), nearly equal rows (where it would lose digits) and
    rows of extreme or special logits kl_tiles: against mpmath for independent, confident,
    lopsided and nearly equal rows, targets with a 0 or exactly 1, at a temperature (the
    gradient, T (P q - p), within a few ulp of its terms' scale, as the general path's); logit
    differences either side of 700 times the temperature, infinities and NaN mixed in
    (_two_class_rows)."""
    temp, n = 1.5, 48
    # targets whose two entries sum to 1 exactly (multiples of 2^-24), some tiny, 0 or 1
    p1 = np.round(rng.uniform(0.02, 0.98, n) * 2.0**24) / 2.0**24
    p1[8:12] = [0.0, 1.0, 2.0**-24, 1.0 - 2.0**-24]
    p1[12:16] = rng.integers(17, 1700, 4) / 2.0**24
    t = np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
    s = 3.0 * rng.standard_normal((n, 2))
    # nearly equal rows: the student's logits are the targets' logs (to float), a last bit away
    logs = np.log(t[16:24].astype(np.float64)) * temp
    s[16:24] = logs + 1e-7 * rng.standard_normal((8, 2))
    s[24:28] = [[0.0, 690.0 * temp], [0.0, 699.0 * temp], [0.0, 701.0 * temp], [5.0, -700.5 * temp]]
    s32 = s.astype(np.float32)
    s32[28:34] = [[-np.inf, 1.0], [0.0, np.inf], [np.nan, 2.0], [np.inf, np.inf],
                  [-np.inf, -np.inf], [1.0, 2.0]]  # fmt: skip
    kw = {"from_logits": True, "target_from_logits": False, "temperature": temp}
    finite = np.r_[0:28, 34:n]
    _two_class_rows(t, s32, kw, finite, np.arange(28, 34), grad_of_itself=False)


@pytest.mark.parametrize("classes", [2, *CLASSES, 300])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_the_loss_is_the_same_with_and_without_the_gradient(rng, dtype, mode, classes):
    """The gradient takes the expm1 pass (and for float32 writes itself in it); the loss keeps
    its form and its bits, in rows of every kind (far apart, near, equal, masked)."""
    target_logits, pred_logits = MODES[mode]
    t = (3.0 * rng.standard_normal((400, classes))).astype(dtype)
    noise = np.repeat([1.0, 0.05, 1e-5, 0.0], 100)[:, None]
    s = (t + noise * rng.standard_normal(t.shape)).astype(dtype)
    t[3, : min(2, classes - 1)] = s[3, : min(2, classes - 1)] = -np.inf
    y_true, y_pred = _inputs(t, s, mode)
    kw = {"from_logits": pred_logits, "target_from_logits": target_logits, "reduction": "none"}
    kw["temperature"] = 2.0 if target_logits and pred_logits else 1.0
    rows = xent.kl_divergence(y_true, y_pred, **kw)
    rows_g, _ = xent.kl_divergence(y_true, y_pred, return_grad=True, **kw)
    np.testing.assert_array_equal(rows_g, rows)


@pytest.mark.parametrize("copies", [1, 5])
def test_nearly_equal_distributions_keep_their_divergence(copies):
    """KL of distributions a 1e-9 nudge apart is ~1e-19 (second order); the difference of
    two log_softmax gives noise of 1e-17 and often the wrong sign."""
    t = np.tile([[2.0, 0.5, -1.0, 0.0, 3.0]], copies)
    s = t + np.tile([[0.0, 1e-9, -2e-9, 0.0, 5e-10]], copies)
    kw = {"from_logits": True, "target_from_logits": True}
    got = xent.kl_divergence(t, s, reduction="none", **kw)
    exact, _, _, bound = ref.kl_divergence(t, s, **kw)
    assert ref.max_ulp(ref.ulp_error(got, exact, scale=bound)) <= VALUE_ULP
    np.testing.assert_allclose(got, ref.to_float(exact), rtol=1e-5)
    p, lp, lq = xent.softmax(t), xent.log_softmax(t), xent.log_softmax(s)
    naive = np.sum(p * (lp - lq))
    assert abs(naive - got[0]) > 100 * got[0]


# ----------------------------------------------------------------------------- peers


def test_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    t = 2.0 * rng.standard_normal((16, 7))
    s = 2.0 * rng.standard_normal((16, 7))
    for temp in (1.0, 4.0):
        st_ = torch.tensor(s, requires_grad=True)
        tt = torch.tensor(t)
        kd = f.kl_div(
            f.log_softmax(st_ / temp, -1), f.log_softmax(tt / temp, -1), log_target=True,
            reduction="batchmean",
        ) * temp**2  # fmt: skip
        kd.backward()
        loss, grad = xent.kl_divergence(
            t, s, from_logits=True, target_from_logits=True, temperature=temp, return_grad=True
        )
        np.testing.assert_allclose(loss, kd.item(), rtol=1e-12)
        np.testing.assert_allclose(grad, st_.grad.numpy(), rtol=1e-10, atol=1e-15)
    # probabilities as targets, student logits: F.kl_div(log_softmax(s), p)
    p = _probs(t, np.float64)
    st_ = torch.tensor(s, requires_grad=True)
    kd = f.kl_div(f.log_softmax(st_, -1), torch.tensor(p), reduction="sum")
    kd.backward()
    loss, grad = xent.kl_divergence(p, s, from_logits=True, reduction="sum", return_grad=True)
    np.testing.assert_allclose(loss, kd.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, st_.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_matches_keras_and_optax_formulas_where_they_do_not_clip(rng):
    """Keras: sum(y_true * log(y_true / y_pred)) after clipping to [1e-7, 1], mean over rows;
    Optax: sum(targets * (log targets - log_predictions)). On probabilities above 1e-7 and
    finite logs they are the textbook formula, which xent matches."""
    p = _probs(rng.standard_normal((10, 5)), np.float64)
    q = _probs(rng.standard_normal((10, 5)), np.float64)
    keras_like = np.mean(np.sum(np.clip(p, 1e-7, 1) * np.log(p / np.clip(q, 1e-7, 1)), axis=-1))
    optax_like = np.sum(p * (np.log(p) - np.log(q)), axis=-1)
    np.testing.assert_allclose(xent.kl_divergence(p, q), keras_like, rtol=1e-12)
    np.testing.assert_allclose(xent.kl_divergence(p, q, reduction="none"), optax_like, rtol=1e-12)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("mode", list(MODES))
def test_gradient_matches_finite_differences(rng, fd, mode):
    target_logits, pred_logits = MODES[mode]
    t = rng.standard_normal((3, 4))
    s = rng.standard_normal((3, 4))
    y_true, y_pred = _inputs(t, s, mode)
    temp = 1.7 if (target_logits or pred_logits) else 1.0
    kw = {"from_logits": pred_logits, "target_from_logits": target_logits, "temperature": temp}
    w = np.array([0.5, 1.0, 2.0])
    _, grad = xent.kl_divergence(y_true, y_pred, sample_weight=w, return_grad=True, **kw)
    # probabilities must keep summing to 1 (rtol 1.5e-8): steps of 1e-9 there
    h = 1e-4 if pred_logits else 1e-9
    num = fd(lambda x: xent.kl_divergence(y_true, x, sample_weight=w, **kw), y_pred, h)
    np.testing.assert_allclose(grad, num, rtol=1e-7 if pred_logits else 1e-5, atol=1e-9)


# ----------------------------------------------------------------------------- identities


def test_equals_cross_entropy_minus_entropy(rng):
    """KL(p || q) = H(p, q) - H(p) where both are well conditioned (KL not tiny)."""
    t = rng.standard_normal((20, 6))
    s = rng.standard_normal((20, 6))
    p = _probs(t, np.float64)
    ce = xent.categorical_cross_entropy(p, s, from_logits=True, reduction="none")
    entropy = -np.sum(p * np.log(p), axis=-1)
    kl = xent.kl_divergence(p, s, from_logits=True, reduction="none")
    np.testing.assert_allclose(kl, ce - entropy, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_divergence_of_a_distribution_from_itself_is_zero(rng, dtype):
    t = (3.0 * rng.standard_normal((8, 5))).astype(dtype)
    t[0, 1] = -np.inf
    for mode in ("logits-logits", "probs-probs"):
        y_true, y_pred = _inputs(t, t, mode)
        target_logits, pred_logits = MODES[mode]
        loss, grad = xent.kl_divergence(
            y_true, y_pred, from_logits=pred_logits, target_from_logits=target_logits,
            temperature=3.0 if pred_logits else 1.0, reduction="none", return_grad=True,
        )  # fmt: skip
        assert loss.dtype == dtype
        assert np.all(loss == 0.0), mode
        if pred_logits:
            assert np.all(grad == 0.0), mode


def test_temperature_scales_logits_and_multiplies_by_its_square(rng):
    """T a power of two: t / T is exact, so KL_T(t, s) = T**2 KL_1(t / T, s / T) bit for bit."""
    t = rng.standard_normal((6, 5))
    s = rng.standard_normal((6, 5))
    kw = {"from_logits": True, "target_from_logits": True, "reduction": "none"}
    for temp in (0.5, 4.0):
        got = xent.kl_divergence(t, s, temperature=temp, **kw)
        np.testing.assert_array_equal(got, temp**2 * xent.kl_divergence(t / temp, s / temp, **kw))


def test_shift_invariance(rng):
    t = rng.standard_normal((6, 5))
    s = rng.standard_normal((6, 5))
    kw = {"from_logits": True, "target_from_logits": True, "reduction": "none"}
    base = xent.kl_divergence(t, s, **kw)
    np.testing.assert_allclose(xent.kl_divergence(t + 37.0, s - 12.0, **kw), base, rtol=1e-13)


@pytest.mark.parametrize(
    ("dtype", "big"),
    [(np.float16, 1e4)] + [(d, b) for d in (np.float32, np.float64) for b in (1e4, 1e20, 1e30)],
)
@pytest.mark.parametrize("classes", [2, 3, 40, 150])  # two classes, the tiles, the rows
def test_huge_logits_on_one_side_keep_the_others_differences(dtype, big, classes):
    """A logit of 1e20 on one side, ordinary ones on the other: each side's logits are taken
    from its own maximum before the two are compared. Float logits once formed the two
    sides' differences first, (t - s) - (max t - max s), in which a teacher's 1e20 swallowed
    the student's logits (p = (1/2, 1/2, 0, ...) against any student: a loss of 0), and a
    student's 1e30 halved a gradient entry."""
    ordinary = np.linspace(1.0, 3.0, classes)
    ties = np.zeros(classes)
    ties[:2] = big
    for t, s in ((ties, ordinary), (ordinary, ties)):
        t64, s64 = t.astype(dtype).astype(np.float64), s.astype(dtype).astype(np.float64)
        lp, lq = (v - v.max() - np.log(np.sum(np.exp(v - v.max()))) for v in (t64, s64))
        p, q = np.exp(lp), np.exp(lq)
        want = np.sum(np.where(p > 0, p * (lp - lq), 0.0))
        value, grad = xent.kl_divergence(
            t.astype(dtype)[None], s.astype(dtype)[None], from_logits=True,
            target_from_logits=True, reduction="sum", return_grad=True,
        )  # fmt: skip
        eps = float(np.finfo(dtype).eps)
        np.testing.assert_allclose(float(value), want, rtol=8 * eps)
        np.testing.assert_allclose(grad[0].astype(np.float64), q - p, rtol=8 * eps, atol=eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [3, 17, 40, 150, 1000])  # tiles, eight rows, rows
@pytest.mark.parametrize("grad", [False, True])
def test_teacher_mass_that_underflows_against_a_zero_probability_is_inf(dtype, classes, grad):
    """A teacher logit 800 below its maximum has p_c = exp(-800) > 0, which underflows even in
    double, and a student's probability 0 there makes the divergence inf (as the README's
    rule says: q_c = 0 where p_c > 0). Float results once left the term out where p_c had
    underflowed: a finite divergence beside a gradient of -inf at that class."""
    t = np.zeros((4, classes))
    t[:, 0], t[:, 2] = 800.0, 799.0
    q = np.full((4, classes), 1.0 / (classes - 1))
    q[:, 1] = 0.0
    got = xent.kl_divergence(
        t.astype(dtype), q.astype(dtype), target_from_logits=True, reduction="none",
        return_grad=grad,
    )  # fmt: skip
    value = got[0] if grad else got
    assert np.all(value == np.inf)
    if grad:
        assert np.all(got[1][:, 1] == -np.inf)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, (3, 4), elements=st.floats(-30, 30)),
    hnp.arrays(np.float64, (3, 4), elements=st.floats(-30, 30)),
    st.floats(0.25, 8.0),
)
def test_property_non_negative_and_consistent(t, s, temp):
    kw = {"from_logits": True, "target_from_logits": True, "temperature": temp}
    rows, grad = xent.kl_divergence(t, s, reduction="none", return_grad=True, **kw)
    assert np.all(rows >= 0.0)
    assert np.all(np.isfinite(rows))
    assert xent.kl_divergence(t, s, reduction="sum", **kw) == pytest.approx(rows.sum(), rel=1e-12)
    # the gradient of a row along the all-ones direction is 0 (softmax's shift invariance)
    np.testing.assert_allclose(grad.sum(axis=-1), 0.0, atol=1e-12 * temp)


# ----------------------------------------------------------------------------- special values


@pytest.mark.parametrize("pad", [0, 20], ids=["few", "many"])
def test_masks_and_zeros(pad):
    """Each case also with 20 more classes of no mass on both sides (rows of many classes take
    the other way through the kernel): the same results."""
    inf = np.inf

    def w(a, value=-inf):
        a = np.asarray(a, dtype=np.float64)
        return np.concatenate([a, np.full((a.shape[0], pad), value)], axis=1)

    kw = {"from_logits": True, "target_from_logits": True, "reduction": "none"}
    # -inf on both sides contributes 0
    t = np.array([[1.0, -inf, 0.0]])
    s = np.array([[0.5, -inf, 0.0]])
    want = xent.kl_divergence(t[:, [0, 2]], s[:, [0, 2]], **kw)
    loss, grad = xent.kl_divergence(w(t), w(s), return_grad=True, **kw)
    np.testing.assert_allclose(loss, want, rtol=1e-15)
    assert grad[0, 1] == 0.0
    assert np.all(grad[0, 3:] == 0.0)
    # p = 0 contributes 0 whatever q; q = 0 where p > 0 is inf
    np.testing.assert_allclose(
        xent.kl_divergence(w([[1.0, 0.0]], 0.0), w([[0.5, 0.5]], 0.0), reduction="none"),
        [np.log(2.0)],
        rtol=1e-15,
    )
    assert (
        xent.kl_divergence(w([[0.5, 0.5]], 0.0), w([[1.0, 0.0]], 0.0), reduction="none")[0] == inf
    )
    loss, grad = xent.kl_divergence(w([[0.0, 0.0]]), w([[0.0, -inf]]), return_grad=True, **kw)
    assert loss[0] == inf
    assert np.all(np.isfinite(grad))
    # a single +inf logit is a one-hot distribution
    got = xent.kl_divergence(w([[inf, 0.0]]), w([[0.0, 0.0]]), **kw)
    np.testing.assert_allclose(got, [np.log(2.0)], rtol=1e-15)
    # rows with no distribution are NaN: every entry -inf, several +inf, a NaN in y_pred
    for bad in ([[-inf, -inf]], [[inf, inf]], [[np.nan, 0.0]]):
        assert np.isnan(xent.kl_divergence(w([[0.0, 0.0]]), w(bad), **kw)[0])


def test_zero_weight_rows_contribute_nothing():
    t = np.array([[0.0, 1.0], [0.0, 0.0]])
    s = np.array([[0.0, 0.0], [np.nan, 0.0]])
    kw = {"from_logits": True, "target_from_logits": True}
    loss, grad = xent.kl_divergence(t, s, sample_weight=[1.0, 0.0], return_grad=True, **kw)
    want = xent.kl_divergence(t[:1], s[:1], reduction="sum", **kw)
    assert loss == want
    np.testing.assert_array_equal(grad[1], [0.0, 0.0])


# ----------------------------------------------------------------------------- options


def test_reductions_and_weights(rng):
    t = rng.standard_normal((7, 4))
    s = rng.standard_normal((7, 4))
    w = rng.uniform(0.0, 2.0, 7)
    kw = {"from_logits": True, "target_from_logits": True}
    rows = xent.kl_divergence(t, s, reduction="none", **kw)
    wrows = xent.kl_divergence(t, s, sample_weight=w, reduction="none", **kw)
    np.testing.assert_allclose(wrows, w * rows, rtol=1e-15)
    assert xent.kl_divergence(t, s, reduction="sum", **kw) == pytest.approx(rows.sum(), rel=1e-14)
    assert xent.kl_divergence(t, s, **kw) == pytest.approx(rows.mean(), rel=1e-14)
    mean_w = xent.kl_divergence(t, s, sample_weight=w, **kw)
    assert mean_w == pytest.approx(np.sum(w * rows) / np.sum(w), rel=1e-14)
    _, g_mean = xent.kl_divergence(t, s, sample_weight=w, return_grad=True, **kw)
    _, g_sum = xent.kl_divergence(t, s, sample_weight=w, reduction="sum", return_grad=True, **kw)
    np.testing.assert_allclose(g_mean, g_sum / np.sum(w), rtol=1e-14)
    assert xent.kl_divergence(t, s, sample_weight=np.zeros(7), **kw) == 0.0


def test_axis(rng):
    t = rng.standard_normal((3, 5, 4))
    s = rng.standard_normal((3, 5, 4))
    kw = {"from_logits": True, "target_from_logits": True, "temperature": 2.0}
    loss, grad = xent.kl_divergence(t, s, axis=1, reduction="none", return_grad=True, **kw)
    moved = xent.kl_divergence(
        np.moveaxis(t, 1, -1), np.moveaxis(s, 1, -1), reduction="none", return_grad=True, **kw
    )
    np.testing.assert_array_equal(loss, moved[0])
    np.testing.assert_array_equal(grad, np.moveaxis(moved[1], -1, 1))


def test_dtypes(rng):
    t = rng.standard_normal((5, 4))
    s = rng.standard_normal((5, 4))
    kw = {"from_logits": True, "target_from_logits": True, "return_grad": True}
    ref64 = xent.kl_divergence(t, s, **kw)
    for dtype in (np.float16, np.float32):
        loss, grad = xent.kl_divergence(t.astype(dtype), s.astype(dtype), **kw)
        assert loss.dtype == dtype
        assert grad.dtype == dtype
        assert isinstance(loss, np.floating)
        np.testing.assert_allclose(loss, ref64[0], rtol=10 * float(np.finfo(dtype).eps))
    # integer logits give float64; float64 targets keep their precision with float32 logits
    assert (
        xent.kl_divergence([[1, 2]], [[2, 1]], from_logits=True, target_from_logits=True).dtype
        == np.float64
    )
    mixed = xent.kl_divergence(_probs(t, np.float64), s.astype(np.float32), from_logits=True)
    assert mixed.dtype == np.float32


def test_inputs_are_not_written_and_read_only_inputs_work(rng):
    t = rng.standard_normal((6, 3))
    s = rng.standard_normal((6, 3))[:, ::-1]
    t.flags.writeable = False
    keep_t, keep_s = t.copy(), s.copy()
    xent.kl_divergence(t, s, from_logits=True, target_from_logits=True, return_grad=True)
    np.testing.assert_array_equal(t, keep_t)
    np.testing.assert_array_equal(s, keep_s)


def test_kernel_expm1_against_mpmath():
    x = np.concatenate(
        [
            np.linspace(-45.0, 45.0, 1501),
            np.geomspace(1e-300, 1.0, 200),
            -np.geomspace(1e-300, 1, 200),
        ]
    )
    want = [ref.mp.expm1(ref.mpf(float(v))) for v in x]
    for name, ok in _core.variants():
        if ok:
            got = _core.expm1(x, name)
            assert ref.max_ulp(ref.ulp_error(got, np.array(want))) <= 1.0
            # the vector path (eight lanes, xvec.h) gives the scalar path's bits
            np.testing.assert_array_equal(_core.expm1(x, name, vector=True), got)
    special = np.array([np.inf, -np.inf, np.nan, 800.0, 40.5, -40.5, 39.9, 0.0])
    for vector in (False, True):
        got = _core.expm1(special, vector=vector)
        np.testing.assert_array_equal(got[[0, 1, 3, 7]], [np.inf, -1.0, np.inf, 0.0])
        assert np.isnan(got[2])
        np.testing.assert_allclose(got[4:7], np.expm1(special[4:7]), rtol=1e-15)


# ----------------------------------------------------------------------------- errors

_P = np.array([[0.5, 0.5]])
ERRORS = [
    ({"temperature": "2"}, TypeError, "temperature must be a real number; got '2'"),
    ({"temperature": 0.0, "from_logits": True}, ValueError, "finite and positive; got 0.0"),
    ({"temperature": np.inf, "from_logits": True}, ValueError, "finite and positive; got inf"),
    ({"temperature": 2.0}, ValueError, "temperature divides logits; got temperature=2.0"),
    ({"target_from_logits": 1}, TypeError, "target_from_logits must be a bool"),
    ({"from_logits": "yes"}, TypeError, "from_logits must be a bool"),
    ({"return_grad": None}, TypeError, "return_grad must be a bool"),
    ({"reduction": "batchmean"}, ValueError, "reduction must be one of"),
    ({"axis": 2}, ValueError, "axis 2 is out of range for y_pred with 2 dimensions"),
    ({"sample_weight": [-1.0]}, ValueError, "sample_weight must be finite and non-negative"),
    ({"y_true": [[0.5, 0.5, 0.0]]}, ValueError, r"y_true has shape \(1, 3\) but y_pred"),
    ({"y_true": [[np.nan, 1.0]]}, ValueError, r"y_true holds NaN at index \(0, 0\)"),
    ({"y_true": [[1.5, -0.5]]}, ValueError, "pass target_from_logits=True if these are logits"),
    ({"y_pred": [[1.5, -0.5]]}, ValueError, "pass from_logits=True if these are logits"),
    ({"y_true": [[0.5, 0.25]]}, ValueError, "y_true rows must sum to 1 along axis -1"),
    ({"y_pred": [[0.5, 0.25]]}, ValueError, "y_pred rows must sum to 1 along axis -1"),
    ({"temperature": 10**400, "from_logits": True}, ValueError, "finite and positive; got 1000"),
    ({"y_pred": np.zeros((1, 0)), "y_true": np.zeros((1, 0))}, ValueError, "has no classes"),
    ({"y_pred": [["a", "b"]]}, TypeError, "y_pred must be a real numeric array"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("classes", CLASSES)
@pytest.mark.parametrize("axis", [-1, 0])
def test_nan_teacher_logits_are_an_error_in_every_row(rng, dtype, classes, axis):
    """The kernel finds a NaN teacher logit while it takes each row's maximum (no pass of its
    own): in a row of weight 0 too, with the classes along any axis; the message names the
    NaN's index in y_true."""
    t = rng.standard_normal((11, classes)).astype(dtype)
    s = rng.standard_normal((11, classes)).astype(dtype)
    t[7, 3] = np.nan
    w = np.ones(11)
    w[7] = 0.0
    if axis == 0:
        t, s = t.T.copy(), s.T.copy()
    where = r"\(7, 3\)" if axis == -1 else r"\(3, 7\)"
    kw = {"from_logits": True, "target_from_logits": True, "axis": axis, "temperature": 2.0}
    for options in ({}, {"sample_weight": w}, {"return_grad": True, "reduction": "none"}):
        with pytest.raises(ValueError, match=rf"y_true holds NaN at index {where}; targets must"):
            xent.kl_divergence(t, s, **kw, **options)
    t_ok = np.where(np.isnan(t), 0.0, t).astype(dtype)
    assert np.isfinite(xent.kl_divergence(t_ok, s, **kw))


@pytest.mark.parametrize(("options", "error", "message"), ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors(options, error, message):
    kw = dict(options)
    y_true = kw.pop("y_true", _P)
    y_pred = kw.pop("y_pred", _P)
    with pytest.raises(error, match=message):
        xent.kl_divergence(y_true, y_pred, **kw)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"return_grad": True, "temperature": 2.0},
        {"reduction": "none"},
        {"reduction": "sum", "sample_weight": "rows", "return_grad": True},
        {"target_from_logits": False, "reduction": "none", "return_grad": True},
    ],
    ids=["mean", "grad-T2", "none", "weighted-grad", "probs-none"],
)
def test_whole_arrays_run_as_one_job(rng, monkeypatch, dtype, threads, kw):
    """Row-major arrays used whole run their blocks as one job in C (`_core.SharedKL`): the
    bits of the call block by block, for every thread count (float32 per-row values rounded
    from each block's doubles in the job)."""
    from xent import _engine, _kl

    monkeypatch.setattr(_engine, "BLOCK_BYTES", 4096)
    q = rng.normal(0, 3, (2001, 9)).astype(dtype)
    p = (q + rng.normal(0, 1, q.shape)).astype(dtype)
    kw = dict(kw)
    if kw.get("sample_weight") == "rows":
        kw["sample_weight"] = rng.uniform(0, 2, len(q))
    target_logits = kw.pop("target_from_logits", True)
    if not target_logits:
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    jobs: list[int] = []
    real_job = _core.SharedKL

    def job_spy(p_, q_, *args):
        jobs.append(q_.shape[0])
        return real_job(p_, q_, *args)

    def call():
        return xent.kl_divergence(p, q, from_logits=True, target_from_logits=target_logits, **kw)

    try:
        xent.set_num_threads(threads)
        monkeypatch.setattr(_core, "SharedKL", job_spy)
        got = call()
        assert jobs == [2001]
        monkeypatch.setattr(_kl, "whole_call", lambda *a: None)
        want = call()
    finally:
        xent.set_num_threads(None)
    assert ref.as_bits(got) == ref.as_bits(want)


def test_shared_kl_refuses_what_it_cannot_run():
    q = np.zeros((6, 3), np.float32)
    args = (None, None, None, 1.0, 1.0, True, True, 4)
    with pytest.raises(TypeError, match="p and q must be \\(R, C\\) arrays of one dtype"):
        _core.SharedKL(q.astype(np.float64), q, *args)
    with pytest.raises(TypeError, match="p and q must be \\(R, C\\) arrays of one dtype"):
        _core.SharedKL(q[:5], q, *args)
    with pytest.raises(ValueError, match="SharedKL takes block_rows > 0"):
        _core.SharedKL(q, q, None, None, None, 1.0, 1.0, True, True, 0)
    with pytest.raises(TypeError, match="grad must be \\(R, C\\) with q's dtype"):
        _core.SharedKL(q, q, np.zeros((6, 3)), None, None, 1.0, 1.0, True, True, 4)
    with pytest.raises(TypeError, match="p, q and grad must have unit class stride"):
        _core.SharedKL(np.zeros((6, 6), np.float32)[:, ::2], q, *args)
    msg = "float32 per-row values are contiguous, one per row of q"
    with pytest.raises(TypeError, match=msg):
        _core.SharedKL(q, q, None, None, np.zeros(5, np.float32), 1.0, 1.0, True, True, 4)
    rows = np.full(6, np.nan, np.float32)
    job = _core.SharedKL(q, q, None, None, rows, 1.0, 1.0, True, True, 4)
    job.run(True)
    assert not job.failed()
    assert not job.target_nan()
    np.testing.assert_array_equal(rows, 0.0)
    assert [s for s, _ in job.results()] == [0.0, 0.0]


def test_scratch_is_what_the_rows_take():
    """Rows of at most 128 classes go eight at a time (ten arrays of eight rows' classes), longer
    ones one at a time (twelve arrays of a row's classes): 80 C doubles at every C had been
    82 MB a thread at 128,000 classes. A kernel call with less scratch is refused."""
    assert [_core.kl_scratch_len(c) for c in (2, 16, 128)] == [160, 1280, 10_240]
    assert [_core.kl_scratch_len(c) for c in (129, 1000, 128_000)] == [1632, 12_000, 1_536_000]
    for C, need in ((129, 1632), (128, 10_240)):
        q = np.zeros((3, C))
        with pytest.raises(ValueError, match="scratch is too small"):
            _core.kl_block(q, q, None, None, None, 1.0, 1.0, True, True, np.zeros(need - 1))
        total, _, nan = _core.kl_block(q, q, None, None, None, 1.0, 1.0, True, True, np.zeros(need))
        assert (total, nan) == (0.0, False)
