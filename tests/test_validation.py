"""Every bad-input rule of the contract: one table of (call, exception, message).

The messages are the ones ``xent/_validation.py`` builds: each names the
argument, the rule and the offending value or position.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import xent

bce = xent.binary_cross_entropy
cce = xent.categorical_cross_entropy
scce = xent.sparse_categorical_cross_entropy

P3 = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]])  # (4, 3)
Z3 = np.zeros((4, 3))
Z5 = np.zeros((4, 5))
LABELS = np.array([0, 1, 2, 1])
T3 = np.eye(3)[LABELS]
Y01 = np.array([1.0, 0.0, 1.0, 0.0])
P01 = np.array([0.9, 0.2, 0.7, 0.4])


def lit(text: str) -> str:
    """The exact message, as a regex."""
    return "^" + re.escape(text) + "$"


def with_row(p, row, values):
    p = p.copy()
    p[row] = values
    return p


def with_entry(a, index, value):
    a = np.array(a, dtype=np.result_type(a, type(value)))
    a[index] = value
    return a


def big_probs(shape=(50_000, 3), axis=-1, bad=()):
    """Valid probabilities spanning many engine blocks, with rows ``bad`` scaled by 1.5."""
    p = np.full(shape, 1.0 / shape[axis])
    p = np.moveaxis(p, axis, -1)
    for index in bad:
        p[index] *= 1.5
    return np.moveaxis(p, -1, axis)


def big_labels(n=50_000, bad=()):
    labels = np.arange(n) % 3
    for index, value in bad:
        labels[index] = value
    return labels


REDUCTION_MSG = lit("reduction must be one of 'none', 'sum', 'mean'; got 'avg'.")

CASES = [
    # ------------------------------------------------------------------ reduction
    pytest.param(
        lambda: bce(Y01, P01, reduction="avg"), ValueError, REDUCTION_MSG, id="binary-reduction"
    ),
    pytest.param(
        lambda: cce(T3, P3, reduction="avg"), ValueError, REDUCTION_MSG, id="categorical-reduction"
    ),
    pytest.param(
        lambda: scce(LABELS, P3, reduction="avg"), ValueError, REDUCTION_MSG, id="sparse-reduction"
    ),
    pytest.param(
        lambda: scce(LABELS, P3, reduction=None),
        ValueError,
        lit("reduction must be one of 'none', 'sum', 'mean'; got None."),
        id="sparse-reduction-none-object",
    ),
    pytest.param(
        lambda: bce(Y01, P01, reduction="MEAN"),
        ValueError,
        lit("reduction must be one of 'none', 'sum', 'mean'; got 'MEAN'."),
        id="binary-reduction-case-sensitive",
    ),
    # ------------------------------------------------------------------ shapes
    pytest.param(
        lambda: scce(np.array([0, 1, 2]), Z5, from_logits=True),
        ValueError,
        lit("y_true has shape (3,) but y_pred of shape (4, 5) with class axis -1 needs (4,)."),
        id="sparse-y_true-shape",
    ),
    pytest.param(
        lambda: scce(np.zeros(4, int), Z5, from_logits=True, axis=0),
        ValueError,
        lit("y_true has shape (4,) but y_pred of shape (4, 5) with class axis 0 needs (5,)."),
        id="sparse-y_true-shape-axis0",
    ),
    pytest.param(
        lambda: scce(np.zeros((4, 1), int), Z5, from_logits=True),
        ValueError,
        lit("y_true has shape (4, 1) but y_pred of shape (4, 5) with class axis -1 needs (4,)."),
        id="sparse-y_true-keepdims-shape",
    ),
    pytest.param(
        lambda: cce(np.eye(5)[:3], Z5, from_logits=True),
        ValueError,
        lit("y_true has shape (3, 5) but y_pred has shape (4, 5); they must match."),
        id="categorical-y_true-shape",
    ),
    pytest.param(
        lambda: bce(Y01[:3], P01),
        ValueError,
        lit("y_true has shape (3,) but y_pred has shape (4,); they must match."),
        id="binary-y_true-shape",
    ),
    pytest.param(
        lambda: bce(Y01[:, None], P01),
        ValueError,
        lit("y_true has shape (4, 1) but y_pred has shape (4,); they must match."),
        id="binary-y_true-no-broadcast",
    ),
    # ------------------------------------------------------------------ axis
    pytest.param(
        lambda: scce(LABELS, Z3, from_logits=True, axis=2),
        ValueError,
        lit("axis 2 is out of range for y_pred with 2 dimensions."),
        id="sparse-axis",
    ),
    pytest.param(
        lambda: cce(T3, Z3, from_logits=True, axis=-3),
        ValueError,
        lit("axis -3 is out of range for y_pred with 2 dimensions."),
        id="categorical-axis-negative",
    ),
    pytest.param(
        lambda: scce(LABELS, Z3, from_logits=True, axis=1.0),
        TypeError,
        lit("axis must be an integer; got 1.0."),
        id="sparse-axis-float",
    ),
    pytest.param(
        lambda: xent.logsumexp(Z3, axis=2),
        ValueError,
        lit("axis 2 is out of range for a with 2 dimensions."),
        id="logsumexp-axis",
    ),
    pytest.param(
        lambda: xent.log_softmax(Z3, axis=-3),
        ValueError,
        lit("axis -3 is out of range for a with 2 dimensions."),
        id="log_softmax-axis",
    ),
    pytest.param(
        lambda: xent.softmax(Z3, axis=5),
        ValueError,
        lit("axis 5 is out of range for a with 2 dimensions."),
        id="softmax-axis",
    ),
    # ------------------------------------------------------------------ class ids
    pytest.param(
        lambda: scce(np.array([0, 1, 7, 1]), P3),
        ValueError,
        lit(
            "y_true holds class id 7 at index (2,), outside [0, 3) for y_pred's axis -1 of size 3."
        ),
        id="sparse-class-id-too-large",
    ),
    pytest.param(
        lambda: scce(np.array([0, 3, 0, 0]), P3),
        ValueError,
        lit(
            "y_true holds class id 3 at index (1,), outside [0, 3) for y_pred's axis -1 of size 3."
        ),
        id="sparse-class-id-equal-C",
    ),
    pytest.param(
        lambda: scce(np.array([0, 1, 2, -1]), P3),
        ValueError,
        lit(
            "y_true holds class id -1 at index (3,), outside [0, 3) for y_pred's axis -1 of size 3."
        ),
        id="sparse-class-id-negative",
    ),
    pytest.param(
        lambda: scce(np.array([-100, 1, 2, -1]), P3, ignore_index=-100),
        ValueError,
        lit(
            "y_true holds class id -1 at index (3,), outside [0, 3) for y_pred's axis -1 of size 3."
        ),
        id="sparse-class-id-negative-not-ignore_index",
    ),
    pytest.param(
        lambda: scce(np.array([[0, 1], [4, 0]]), np.zeros((2, 3, 2)), axis=1, from_logits=True),
        ValueError,
        lit(
            "y_true holds class id 4 at index (1, 0), outside [0, 3) for y_pred's axis 1 of size 3."
        ),
        id="sparse-class-id-axis1",
    ),
    pytest.param(
        lambda: scce(np.array([0, 1, 2**63 + 5, 1], dtype=np.uint64), P3, ignore_index=-100),
        ValueError,
        lit(
            "y_true holds class id 9223372036854775813 at index (2,), outside [0, 3) "
            "for y_pred's axis -1 of size 3."
        ),
        id="sparse-class-id-huge-uint64",
    ),
    pytest.param(
        lambda: scce(np.array([0.0, 1.0, 1e20, 1.0]), P3),
        ValueError,
        lit(
            "y_true holds class id 1e+20 at index (2,), outside [0, 3) for y_pred's "
            "axis -1 of size 3."
        ),
        id="sparse-class-id-huge-float",
    ),
    pytest.param(
        lambda: scce(np.array([1.5, 0.0, 1.0, 2.0]), P3),
        ValueError,
        lit("y_true holds non-integral class id 1.5 at index (0,)."),
        id="sparse-class-id-fractional",
    ),
    pytest.param(
        lambda: scce(np.array([0.0, np.nan, 1.0, 2.0]), P3),
        ValueError,
        lit("y_true holds non-integral class id nan at index (1,)."),
        id="sparse-class-id-nan",
    ),
    pytest.param(
        lambda: scce(np.array([True, False, True, True]), P3),
        TypeError,
        lit("y_true must hold integer class ids; got dtype bool."),
        id="sparse-class-id-bool",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, ignore_index=1.0),
        TypeError,
        lit("ignore_index must be an integer or None; got 1.0."),
        id="sparse-ignore_index-float",
    ),
    # ------------------------------------------------------------------ probabilities
    pytest.param(
        lambda: bce(Y01.reshape(2, 2), np.array([[0.5, 0.5], [0.5, 1.7]])),
        ValueError,
        lit(
            "y_pred has values outside [0, 1] (first: 1.7 at index (1, 1)); pass "
            "from_logits=True if these are logits."
        ),
        id="binary-y_pred-above-1",
    ),
    pytest.param(
        lambda: bce(Y01, np.array([0.5, -0.25, 0.5, 2.0])),
        ValueError,
        lit(
            "y_pred has values outside [0, 1] (first: -0.25 at index (1,)); pass "
            "from_logits=True if these are logits."
        ),
        id="binary-y_pred-negative",
    ),
    pytest.param(
        lambda: cce(T3, with_entry(P3, (0, 2), 1.7)),
        ValueError,
        lit(
            "y_pred has values outside [0, 1] (first: 1.7 at index (0, 2)); pass "
            "from_logits=True if these are logits."
        ),
        id="categorical-y_pred-above-1",
    ),
    pytest.param(
        lambda: scce(LABELS, with_row(P3, 1, [1.5, -0.25, -0.25])),
        ValueError,
        lit(
            "y_pred has values outside [0, 1] (first: 1.5 at index (1, 0)); pass "
            "from_logits=True if these are logits."
        ),
        id="sparse-y_pred-outside",
    ),
    pytest.param(
        lambda: scce(LABELS, with_row(P3, 1, [0.5, 0.5, 0.2])),
        ValueError,
        lit("y_pred rows must sum to 1 along axis -1 (rtol 1.49e-08); row (1,) sums to 1.2."),
        id="sparse-y_pred-row-sum",
    ),
    pytest.param(
        lambda: cce(T3, with_row(P3, 2, [0.1, 0.1, 0.1])),
        ValueError,
        r"^y_pred rows must sum to 1 along axis -1 \(rtol 1\.49e-08\); row \(2,\) "
        r"sums to 0\.3000000000000000\d*\.$",
        id="categorical-y_pred-row-sum",
    ),
    pytest.param(
        lambda: scce(LABELS, with_row(P3, 1, [0.5, 0.5, 0.2]).astype(np.float32)),
        ValueError,
        r"^y_pred rows must sum to 1 along axis -1 \(rtol 0\.000345\); row \(1,\) "
        r"sums to 1\.2\d*\.$",
        id="sparse-y_pred-row-sum-float32",
    ),
    pytest.param(
        lambda: scce(np.array([[0, 1], [2, 0]]), np.full((2, 3, 2), 0.5), axis=1),
        ValueError,
        r"^y_pred rows must sum to 1 along axis 1 \(rtol 1\.49e-08\); row \(0, 0\) "
        r"sums to 1\.5\.$",
        id="sparse-y_pred-row-sum-axis1",
    ),
    pytest.param(
        lambda: scce(big_labels(), big_probs(bad=[45_000])),
        ValueError,
        r"^y_pred rows must sum to 1 along axis -1 \(rtol 1\.49e-08\); row \(45000,\) "
        r"sums to 1\.5\d*\.$",
        id="sparse-y_pred-row-sum-late-block",
    ),
    pytest.param(
        lambda: scce(big_labels(), big_probs(bad=[45_000, 20_000, 49_999])),
        ValueError,
        r"; row \(20000,\) sums to 1\.5\d*\.$",
        id="sparse-y_pred-row-sum-first-bad-row",
    ),
    pytest.param(
        lambda: cce(
            big_probs((2, 3, 30_000), 1), big_probs((2, 3, 30_000), 1, bad=[(1, 29_999)]), axis=1
        ),
        ValueError,
        r"^y_pred rows must sum to 1 along axis 1 \(rtol 1\.49e-08\); row "
        r"\(1, 29999\) sums to 1\.5\d*\.$",
        id="categorical-y_pred-row-sum-class-major-late-block",
    ),
    pytest.param(
        lambda: scce(big_labels(bad=[(45_000, 3), (47_000, -2)]), big_probs()),
        ValueError,
        lit(
            "y_true holds class id 3 at index (45000,), outside [0, 3) for y_pred's "
            "axis -1 of size 3."
        ),
        id="sparse-class-id-late-block",
    ),
    pytest.param(
        lambda: bce(np.zeros(200_000), with_entry(np.full(200_000, 0.5), 150_000, 2.5)),
        ValueError,
        lit(
            "y_pred has values outside [0, 1] (first: 2.5 at index (150000,)); pass "
            "from_logits=True if these are logits."
        ),
        id="binary-y_pred-outside-late-block",
    ),
    pytest.param(
        lambda: cce(T3, P3, reduction="mean", label_smoothing=True),
        TypeError,
        lit("label_smoothing must be a real number; got True."),
        id="categorical-smoothing-bool",
    ),
    pytest.param(
        lambda: cce(with_row(T3, 3, [0.5, 0.25, 0.0]), P3),
        ValueError,
        r"^y_true rows must sum to 1 along axis -1 \(rtol [0-9.e-]+\); row \(3,\) "
        r"sums to 0\.75\.$",
        id="categorical-y_true-row-sum",
    ),
    pytest.param(
        lambda: cce(with_row(T3, 3, [1.5, -0.5, 0.0]), P3),
        ValueError,
        lit("y_true has values outside [0, 1] (first: 1.5 at index (3, 0))."),
        id="categorical-y_true-outside",
    ),
    pytest.param(
        lambda: bce(np.array([1.0, 0.0, 0.0, 2.0]), P01),
        ValueError,
        lit("y_true has values outside [0, 1] (first: 2.0 at index (3,))."),
        id="binary-y_true-outside",
    ),
    pytest.param(
        lambda: bce(np.array([1.0, -0.5, 0.0, 1.0]), np.zeros(4), from_logits=True),
        ValueError,
        lit("y_true has values outside [0, 1] (first: -0.5 at index (1,))."),
        id="binary-from-logits-y_true-outside",
    ),
    # ------------------------------------------------------------------ weights
    pytest.param(
        lambda: scce(LABELS, P3, sample_weight=np.array([1.0, 1.0, -1.0, 1.0])),
        ValueError,
        lit("sample_weight must be finite and non-negative; got -1.0 at index (2,)."),
        id="sparse-sample_weight-negative",
    ),
    pytest.param(
        lambda: cce(T3, P3, sample_weight=np.array([1.0, np.nan, 1.0, 1.0])),
        ValueError,
        lit("sample_weight must be finite and non-negative; got nan at index (1,)."),
        id="categorical-sample_weight-nan",
    ),
    pytest.param(
        lambda: bce(Y01, P01, sample_weight=np.array([1.0, 1.0, 1.0, np.inf])),
        ValueError,
        lit("sample_weight must be finite and non-negative; got inf at index (3,)."),
        id="binary-sample_weight-inf",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, class_weight=np.array([1.0, -2.0, 1.0])),
        ValueError,
        lit("class_weight must be finite and non-negative; got -2.0 at index (1,)."),
        id="sparse-class_weight-negative",
    ),
    pytest.param(
        lambda: cce(T3, P3, class_weight=np.array([1.0, 1.0, np.inf])),
        ValueError,
        lit("class_weight must be finite and non-negative; got inf at index (2,)."),
        id="categorical-class_weight-inf",
    ),
    pytest.param(
        lambda: bce(Y01, P01, pos_weight=-1.0),
        ValueError,
        lit("pos_weight must be finite and non-negative; got -1.0 at index ()."),
        id="binary-pos_weight-negative-scalar",
    ),
    pytest.param(
        lambda: bce(Y01.reshape(2, 2), P01.reshape(2, 2), pos_weight=np.array([1.0, np.nan])),
        ValueError,
        lit("pos_weight must be finite and non-negative; got nan at index (1,)."),
        id="binary-pos_weight-nan",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, class_weight=np.ones(4)),
        ValueError,
        lit("class_weight must have shape (C,) = (3,); got (4,)."),
        id="sparse-class_weight-shape",
    ),
    pytest.param(
        lambda: cce(T3, P3, class_weight=np.ones((1, 3))),
        ValueError,
        lit("class_weight must have shape (C,) = (3,); got (1, 3)."),
        id="categorical-class_weight-2d",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, class_weight=2.0),
        ValueError,
        lit("class_weight must have shape (C,) = (3,); got ()."),
        id="sparse-class_weight-scalar",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, sample_weight=np.ones(5)),
        ValueError,
        lit("sample_weight of shape (5,) does not broadcast to the batch shape (4,)."),
        id="sparse-sample_weight-shape",
    ),
    pytest.param(
        lambda: cce(T3, P3, sample_weight=np.ones((2, 4))),
        ValueError,
        lit("sample_weight of shape (2, 4) does not broadcast to the batch shape (4,)."),
        id="categorical-sample_weight-grows-batch",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, sample_weight=np.ones((4, 3))),
        ValueError,
        lit("sample_weight of shape (4, 3) does not broadcast to the batch shape (4,)."),
        id="sparse-sample_weight-per-class",
    ),
    pytest.param(
        lambda: bce(Y01, P01, sample_weight=np.ones(3)),
        ValueError,
        lit("sample_weight of shape (3,) does not broadcast to y_pred's shape (4,)."),
        id="binary-sample_weight-shape",
    ),
    pytest.param(
        lambda: bce(Y01.reshape(2, 2), P01.reshape(2, 2), pos_weight=np.ones(3)),
        ValueError,
        lit("pos_weight of shape (3,) does not broadcast to y_pred's shape (2, 2)."),
        id="binary-pos_weight-shape",
    ),
    pytest.param(
        lambda: bce(Y01.reshape(2, 2), P01.reshape(2, 2), pos_weight=np.ones((3, 1))),
        ValueError,
        lit("pos_weight of shape (3, 1) does not broadcast to y_pred's shape (2, 2)."),
        id="binary-pos_weight-column-shape",
    ),
    pytest.param(
        lambda: bce(Y01, P01, pos_weight=np.ones((2, 4))),
        ValueError,
        lit("pos_weight of shape (2, 4) does not broadcast to y_pred's shape (4,)."),
        id="binary-pos_weight-grows-shape",
    ),
    pytest.param(
        lambda: bce(0.0, 0.5, pos_weight=[2.0]),
        ValueError,
        lit("pos_weight of shape (1,) does not broadcast to y_pred's shape ()."),
        id="binary-pos_weight-grows-0d",
    ),
    pytest.param(
        lambda: bce(Y01, P01, sample_weight=np.ones((2, 4))),
        ValueError,
        lit("sample_weight of shape (2, 4) does not broadcast to y_pred's shape (4,)."),
        id="binary-sample_weight-grows-shape",
    ),
    pytest.param(
        lambda: scce(np.zeros(4, int), np.zeros((4, 0)), from_logits=True),
        ValueError,
        lit("y_pred has no classes: its axis -1 has size 0."),
        id="sparse-no-classes",
    ),
    pytest.param(
        lambda: cce(np.zeros((0, 2)), np.zeros((0, 2)), from_logits=True, axis=0),
        ValueError,
        lit("y_pred has no classes: its axis 0 has size 0."),
        id="categorical-no-classes",
    ),
    # ------------------------------------------------------------------ label smoothing
    pytest.param(
        lambda: bce(Y01, P01, label_smoothing=1.5),
        ValueError,
        lit("label_smoothing must be in [0, 1]; got 1.5."),
        id="binary-smoothing",
    ),
    pytest.param(
        lambda: cce(T3, P3, label_smoothing=-0.1),
        ValueError,
        lit("label_smoothing must be in [0, 1]; got -0.1."),
        id="categorical-smoothing-negative",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, label_smoothing=float("nan")),
        ValueError,
        lit("label_smoothing must be in [0, 1]; got nan."),
        id="sparse-smoothing-nan",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, label_smoothing="0.1"),
        TypeError,
        lit("label_smoothing must be a real number; got '0.1'."),
        id="sparse-smoothing-str",
    ),
    # ------------------------------------------------------------------ dtypes
    pytest.param(
        lambda: bce(Y01, P01.astype(np.complex128)),
        TypeError,
        lit("y_pred must be a real numeric array; got dtype complex128."),
        id="binary-y_pred-complex",
    ),
    pytest.param(
        lambda: bce(Y01.astype(np.complex64), P01),
        TypeError,
        lit("y_true must be a real numeric array; got dtype complex64."),
        id="binary-y_true-complex",
    ),
    pytest.param(
        lambda: cce(T3, P3.astype(np.complex128)),
        TypeError,
        lit("y_pred must be a real numeric array; got dtype complex128."),
        id="categorical-y_pred-complex",
    ),
    pytest.param(
        lambda: cce(T3.astype(np.complex128), P3),
        TypeError,
        lit("y_true must be a real numeric array; got dtype complex128."),
        id="categorical-y_true-complex",
    ),
    pytest.param(
        lambda: scce(LABELS, P3.astype(np.complex128)),
        TypeError,
        lit("y_pred must be a real numeric array; got dtype complex128."),
        id="sparse-y_pred-complex",
    ),
    pytest.param(
        lambda: scce(LABELS.astype(np.complex128), P3),
        TypeError,
        lit("y_true must be a real numeric array; got dtype complex128."),
        id="sparse-y_true-complex",
    ),
    pytest.param(
        lambda: scce(np.array(["0", "1", "2", "1"]), P3),
        TypeError,
        r"^y_true must be a real numeric array; got dtype <U1\.$",
        id="sparse-y_true-str",
    ),
    pytest.param(
        lambda: bce(Y01, np.array([0.5, None, 0.5, 0.5], dtype=object)),
        TypeError,
        lit("y_pred must be a real numeric array; got dtype object."),
        id="binary-y_pred-object",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, sample_weight=np.ones(4, np.complex128)),
        TypeError,
        lit("sample_weight must be a real numeric array; got dtype complex128."),
        id="sparse-sample_weight-complex",
    ),
    pytest.param(
        lambda: xent.logsumexp(np.ones(3, np.complex128)),
        TypeError,
        lit("a must be a real numeric array; got dtype complex128."),
        id="logsumexp-complex",
    ),
    pytest.param(
        lambda: xent.softmax(np.ones(3, np.complex128)),
        TypeError,
        lit("a must be a real numeric array; got dtype complex128."),
        id="softmax-complex",
    ),
    pytest.param(
        lambda: xent.log_softmax(np.ones(3, np.complex128)),
        TypeError,
        lit("a must be a real numeric array; got dtype complex128."),
        id="log_softmax-complex",
    ),
    pytest.param(
        lambda: xent.softplus(np.ones(3, np.complex128)),
        TypeError,
        lit("a must be a real numeric array; got dtype complex128."),
        id="softplus-complex",
    ),
    pytest.param(
        lambda: xent.log_sigmoid(np.ones(3, np.complex128)),
        TypeError,
        lit("a must be a real numeric array; got dtype complex128."),
        id="log_sigmoid-complex",
    ),
    # ------------------------------------------------------------------ option types
    pytest.param(
        lambda: bce(1.0, 0.9, from_logits="False"),
        TypeError,
        lit("from_logits must be a bool (True or False); got 'False'."),
        id="binary-from_logits-string",
    ),
    pytest.param(
        lambda: cce(T3, P3, from_logits=[False]),
        TypeError,
        lit("from_logits must be a bool (True or False); got [False]."),
        id="categorical-from_logits-list",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, return_grad="no"),
        TypeError,
        lit("return_grad must be a bool (True or False); got 'no'."),
        id="sparse-return_grad-string",
    ),
    pytest.param(
        lambda: bce(Y01, P01, return_grad=np.array([True, False])),
        TypeError,
        lit("return_grad must be a bool (True or False); got array([ True, False])."),
        id="binary-return_grad-array",
    ),
    pytest.param(
        lambda: xent.logsumexp(P3, keepdims="False"),
        TypeError,
        lit("keepdims must be a bool (True or False); got 'False'."),
        id="logsumexp-keepdims-string",
    ),
    pytest.param(
        lambda: bce(Y01, P01, label_smoothing=10**400),
        ValueError,
        r"^label_smoothing must be in \[0, 1\]; got 1000+\.\.\.\.$",
        id="binary-label_smoothing-huge-int",
    ),
    # ------------------------------------------------------------------ array conversion
    pytest.param(
        lambda: bce([[1.0, 0.0], [1.0]], P01),
        ValueError,
        r"^y_true must be a rectangular array of real numbers; NumPy could not convert it: ",
        id="binary-y_true-ragged",
    ),
    pytest.param(
        lambda: scce(LABELS, P3, class_weight=[1.0, [2.0, 3.0], 1.0]),
        ValueError,
        r"^class_weight must be a rectangular array of real numbers; NumPy could not convert",
        id="sparse-class_weight-ragged",
    ),
    pytest.param(
        lambda: xent.softmax(np.ma.masked_array(P3, mask=P3 > 0.5)),
        TypeError,
        lit(
            "a is a masked array, whose mask xent would ignore; pass its data with the masked "
            "entries filled (a.filled(...)) and give them zero weight (sample_weight=~mask for "
            "the batch)."
        ),
        id="softmax-masked",
    ),
    pytest.param(
        lambda: cce(T3, P3, sample_weight=np.ma.masked_array([1.0, 1, 1, 1], mask=[0, 1, 0, 0])),
        TypeError,
        r"^sample_weight is a masked array, whose mask xent would ignore",
        id="categorical-sample_weight-masked",
    ),
    # ------------------------------------------------------------------ NaN labels, float ids
    pytest.param(
        lambda: bce([np.nan, 1.0, 0.0, 1.0], P01),
        ValueError,
        lit("y_true holds NaN at index (0,); labels must be numbers."),
        id="binary-y_true-nan",
    ),
    pytest.param(
        lambda: cce(with_entry(T3, (2, 1), np.nan), P3),
        ValueError,
        lit("y_true holds NaN at index (2, 1); target probabilities must be numbers."),
        id="categorical-y_true-nan",
    ),
    pytest.param(
        lambda: scce([0.0, 1.0, 2.0, 2.0**53], P3, ignore_index=2**53 + 1),
        ValueError,
        lit(
            "y_true holds class id 9007199254740992.0 at index (3,), outside [0, 3) for "
            "y_pred's axis -1 of size 3."
        ),
        id="sparse-float-id-beyond-precision",
    ),
    # ------------------------------------------------------------------ threads
    pytest.param(
        lambda: xent.set_num_threads(0),
        ValueError,
        lit("n must be a positive integer or None; got 0."),
        id="set_num_threads-0",
    ),
    pytest.param(
        lambda: xent.set_num_threads(-2),
        ValueError,
        lit("n must be a positive integer or None; got -2."),
        id="set_num_threads-negative",
    ),
    pytest.param(
        lambda: xent.set_num_threads(1.5),
        ValueError,
        lit("n must be a positive integer or None; got 1.5."),
        id="set_num_threads-float",
    ),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), CASES)
def test_bad_input_raises_with_named_argument(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_keyword_only_arguments():
    with pytest.raises(TypeError):
        bce(Y01, P01, True)  # from_logits is keyword-only
    with pytest.raises(TypeError):
        scce(LABELS, P3, False, -1)


@pytest.mark.parametrize("fn", [bce, cce, scce], ids=["binary", "categorical", "sparse"])
def test_row_sum_tolerance_accepts_rounding(fn):
    """Rows that sum to 1 up to float rounding are valid (rtol = sqrt(eps) of the dtype)."""
    p = np.full((4, 3), 1.0 / 3.0)
    y = LABELS if fn is scce else (T3 if fn is cce else np.full((4, 3), 0.5))
    assert np.isfinite(fn(y, p))
    assert np.isfinite(fn(y, (p * (1 + 1e-9))))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 16, 23, 1000])
def test_id_range_every_variant_matches_numpy(n):
    """id_range (eight ids at a time, then the rest one by one) under every SIMD variant equals
    NumPy's min, max and count of the ids that are not skipped."""
    from xent._kernels import _core

    rng = np.random.default_rng(n)
    before = _core.get_variant()
    try:
        for name in [name for name, ok in _core.variants() if ok]:
            _core.set_variant(name)
            for dtype in (np.int64, np.int32):
                y = rng.integers(-5, 50, n).astype(dtype)
                for skip in (None, 3, -5, 1000):
                    kept = y if skip is None else y[y != skip]
                    want = (
                        (int(kept.min()), int(kept.max()), kept.size)
                        if kept.size
                        else (2**63 - 1, -(2**63), 0)
                    )
                    assert _core.id_range(y, skip) == want, (name, dtype, skip)
    finally:
        _core.set_variant(before)


def test_id_range_kernel():
    """The one-pass range of class ids behind check_class_ids (int64 and int32)."""
    from xent._kernels import _core

    for dtype in (np.int64, np.int32):
        y = np.array([3, -100, 0, 7, -100], dtype)
        assert _core.id_range(y) == (-100, 7, 5)
        assert _core.id_range(y, -100) == (0, 7, 3)
        assert _core.id_range(np.full(4, -100, dtype), -100)[2] == 0
        assert _core.id_range(y[::2]) is None  # not contiguous: NumPy does it
    assert _core.id_range(np.array([1, 2], np.uint8)) is None
    extremes = np.array([2**62, -(2**63), 2**63 - 1, 5, 6, 7, 8, 9, 10])
    assert _core.id_range(extremes) == (-(2**63), 2**63 - 1, 9)
    assert _core.id_range(extremes, 2**63 - 1) == (-(2**63), 2**62, 8)
    with pytest.raises(ValueError, match=r"class id 7 at index \(3,\), outside \[0, 5\)"):
        xent.sparse_categorical_cross_entropy(
            np.array([3, -100, 0, 7], np.int32), np.full((4, 5), 0.2), ignore_index=-100
        )


@pytest.mark.parametrize("threads", [1, 2])
def test_id_range_in_pieces(monkeypatch, threads):
    """Class ids are checked piece by piece on the engine's threads (here pieces of 4 ids):
    the same range and count as one pass, pieces of ignored ids only, the first bad id named
    whichever piece holds it."""
    from xent import _validation
    from xent._kernels import _core

    monkeypatch.setattr(_validation, "ID_PIECE", 4)
    y = np.array([3, -100, 0, 7, -100, -100, -100, -100, 2, 9, 1], np.int64)
    xent.set_num_threads(threads)
    try:
        for skip in (None, -100, 9):
            assert _validation._id_range(y, skip) == _core.id_range(y, skip)
        assert _validation._id_range(np.full(9, -100), -100)[2] == 0
        assert _validation._id_range(y[::2], None) is None
        x = np.zeros((11, 10))
        xent.sparse_categorical_cross_entropy(y, x, ignore_index=-100, from_logits=True)
        bad = y.copy()
        bad[9] = 10
        with pytest.raises(ValueError, match=r"class id 10 at index \(9,\), outside \[0, 10\)"):
            xent.sparse_categorical_cross_entropy(bad, x, ignore_index=-100, from_logits=True)
    finally:
        xent.set_num_threads(None)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    ("dtype", "bad", "ignore"),
    [
        (np.int64, 5, None),
        (np.int64, -1, None),
        (np.int64, -1, -100),
        (np.int32, 9, -100),
        (np.uint8, 200, None),
        (np.uint64, 2**64 - 1, None),
    ],
)
def test_many_class_ids_are_checked_block_by_block_with_the_same_message(
    threads: int, dtype: type, bad: int, ignore: int | None
) -> None:
    # more ids than one piece of the check: each block's are checked just before the kernel
    # reads them, and a bad one anywhere gives the message of the first in the batch
    n, C = 300_000, 4
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, n).astype(dtype)
    logits = rng.standard_normal((n, C)).astype(np.float32)
    if ignore is not None:
        y[::7] = ignore
    y[250_001] = y[123_457] = dtype(bad)
    want = (
        f"y_true holds class id {bad} at index (123457,), outside [0, {C}) for y_pred's axis -1 "
        f"of size {C}."
    )
    xent.set_num_threads(threads)
    try:
        weighted = {"sample_weight": np.full(n, 0.5)}  # the mean's denominator reads the ids
        for kw in (
            {},
            {"return_grad": True},
            {"reduction": "none"},
            {"label_smoothing": 0.1},
            weighted,
        ):
            with pytest.raises(ValueError, match=re.escape(want)):
                xent.sparse_categorical_cross_entropy(
                    y, logits, from_logits=True, ignore_index=ignore, **kw
                )
    finally:
        xent.set_num_threads(None)
    y[250_001] = y[123_457] = 0  # valid again: the loss of the same ids as int64
    got = xent.sparse_categorical_cross_entropy(y, logits, from_logits=True, ignore_index=ignore)
    ref = xent.sparse_categorical_cross_entropy(
        y.astype(np.int64), logits, from_logits=True, ignore_index=ignore
    )
    assert got == ref


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((1_000, 2), -1), ((1_000, 4), -1), ((300, 300), -1), ((7, 4, 150), 1), ((3,), 0)],
)
def test_the_kernel_checks_class_ids_wherever_they_are(
    shape: tuple[int, ...], axis: int, from_logits: bool
) -> None:
    # the kernel checks each tile's ids (rows of two, of few and of many classes, class-major
    # blocks, probabilities): a bad id in the first row, the last or a tile's tail is named
    rng = np.random.default_rng(1)
    logits = rng.standard_normal(shape)
    pred = logits if from_logits else xent.softmax(logits, axis=axis)
    C = shape[axis]
    batch = tuple(d for k, d in enumerate(shape) if k != axis % len(shape))
    n = math.prod(batch)
    for where in sorted({0, n - 1, min(257, n - 1)}):
        for bad in (C, -1):
            y = rng.integers(0, C, batch)
            y.flat[where] = bad
            index = np.unravel_index(where, batch)
            want = f"class id {bad} at index {tuple(int(i) for i in index)}, outside [0, {C})"
            for kw in ({}, {"return_grad": True}, {"ignore_index": -5}, {"reduction": "none"}):
                with pytest.raises(ValueError, match=re.escape(want)):
                    xent.sparse_categorical_cross_entropy(
                        y, pred, axis=axis, from_logits=from_logits, **kw
                    )


def test_uint64_ids_ignore_an_index_beyond_int64() -> None:
    # an ignore_index only uint64 ids can hold: those rows are ignored (not read as id -1)
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((6, 3))
    y = np.array([0, 2, 2**64 - 1, 1, 2**64 - 1, 0], np.uint64)
    keep = y != 2**64 - 1
    for kw in ({}, {"sample_weight": np.arange(1.0, 7.0)}, {"reduction": "sum"}):
        loss, grad = xent.sparse_categorical_cross_entropy(
            y, logits, from_logits=True, ignore_index=2**64 - 1, return_grad=True, **kw
        )
        sub = {k: v[keep] for k, v in kw.items() if k == "sample_weight"}
        ref, ref_grad = xent.sparse_categorical_cross_entropy(
            y[keep].astype(np.int64), logits[keep], from_logits=True, return_grad=True,
            **{**kw, **sub},
        )  # fmt: skip
        assert loss == ref
        np.testing.assert_array_equal(grad[keep], ref_grad)
        np.testing.assert_array_equal(grad[~keep], 0.0)
