"""Slow, obviously-correct reference values for xent's accuracy tests and benchmark.

Every function here reads its float inputs EXACTLY (``mpmath.mpf(float(x))`` is exact for
float16/32/64), evaluates the textbook formula in mpmath at ``DPS`` significant decimal digits,
and returns a NumPy object array of ``mpmath.mpf`` values.  Nothing is rounded to a float until
:func:`ulp_error` compares an implementation against the exact value.

The formulas are the definitions rearranged only where rearranging removes cancellation, so a
working precision of 40 digits is exact to far more than float64 needs, for every input:

- ``logsumexp(x) = m + log1p(S)`` with ``m = max x`` and ``S = sum_{j != argmax} exp(x_j - m)``;
  ``x_j - m`` is exact in mpmath and ``S`` is a sum of positive terms.
- ``log_softmax(x)_j = (x_j - m) - log1p(S)``: both terms are <= 0, so no cancellation even when
  the answer is -1e-300 next to logits of 1e4.
- ``softmax(x)_j = exp(x_j - m) / (1 + S)`` and ``1 - softmax(x)_argmax = S / (1 + S)``.
- ``softplus(x) = log1p(exp(x))``, ``log_sigmoid(x) = -log1p(exp(-x))``; mpf has an unbounded
  exponent, so ``exp(1e4)`` and ``exp(-1e4)`` are ordinary numbers.
- Softmax gradients ``p_c * T - t_c`` (``t`` the weighted targets, ``T = sum t``) are formed as
  ``(T - t_c) - (1 - p_c) * T`` with ``T - t_c`` and ``1 - p_c`` sums of non-negative terms, so a
  hard-label true-class entry (``-T * sum_{j != y} p_j``) is exact however confident the row.

:func:`naive_log_softmax` evaluates the plain definition ``x - log(sum(exp(x)))`` at a precision
chosen from the data, to cross-check the rearranged forms (see tests/test_accuracy.py).

Accuracy is reported in units in the last place (:func:`ulp_error`).  :func:`families` builds the
seeded adversarial inputs shared by tests/test_accuracy.py and benchmarks/accuracy.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from mpmath import libmp, mp, mpf

DPS = 40
"""Working precision (decimal digits); the rearranged formulas above never cancel."""

_NAN = mpf("nan")
_INF = mpf("inf")
_ZERO = mpf(0)
_ONE = mpf(1)

Obj = np.ndarray  # an object array of mpmath.mpf


# --------------------------------------------------------------------------------------------
# Exact conversion
# --------------------------------------------------------------------------------------------


def to_mp(a: Any) -> Obj:
    """Object array of the exact values of the float (or integer) array ``a``."""
    arr = np.asarray(a)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)  # exact for float16 / float32
    out = np.empty(arr.shape, dtype=object)
    flat = out.reshape(-1)
    for i, v in enumerate(arr.reshape(-1).tolist()):
        flat[i] = mpf(v)
    return out


def _mp_map(fn: Callable[[Any], Any], a: Obj) -> Obj:
    out = np.empty(a.shape, dtype=object)
    flat_out = out.reshape(-1)
    for i, v in enumerate(a.reshape(-1)):
        flat_out[i] = fn(v)
    return out


# --------------------------------------------------------------------------------------------
# Softmax family, one row at a time (cached: the losses reuse the same rows)
# --------------------------------------------------------------------------------------------


class _Row:
    """Exact pieces of one row of logits; ``lsm``, ``p`` and ``q_max`` built on first use."""

    def __init__(self, xs: list[float]) -> None:
        n = len(xs)
        self._n = n
        self._special: tuple[Any, Any, Any] | None = None  # (lse, lsm, p) for non-finite rows
        n_pinf = sum(1 for v in xs if v == math.inf)
        finite = [v for v in xs if math.isfinite(v)]
        if any(math.isnan(v) for v in xs) or n_pinf > 1:
            lse = _NAN if n_pinf <= 1 or any(math.isnan(v) for v in xs) else _INF
            self._special = (lse, [_NAN] * n, [_NAN] * n)
        elif n_pinf == 1:  # the limit: a one-hot softmax
            lsm = [_ZERO if v == math.inf else -_INF for v in xs]
            self._special = (_INF, lsm, [_ONE if v == math.inf else _ZERO for v in xs])
        elif not finite:  # every logit is -inf
            self._special = (-_INF, [_NAN] * n, [_NAN] * n)
        if self._special is not None:
            self.lse = self._special[0]
            self.jmax = max(range(n), key=lambda j: self._special[2][j]) if n else 0
            return
        m = max(finite)
        self.jmax = xs.index(m)
        self._d = [mpf(v) - m for v in xs]  # exact: a difference of two floats at DPS digits
        self._e = [mp.exp(v) for v in self._d]  # exp(-inf) = 0
        self._s = mp.fsum(self._e[j] for j in range(n) if j != self.jmax)
        self._log1p_s = mp.log1p(self._s)
        self.lse = m + self._log1p_s

    @functools.cached_property
    def lsm(self) -> list[Any]:
        if self._special is not None:
            return list(self._special[1])
        with mp.workdps(DPS):
            return [dj - self._log1p_s for dj in self._d]

    @functools.cached_property
    def p(self) -> list[Any]:
        if self._special is not None:
            return list(self._special[2])
        with mp.workdps(DPS):
            z = 1 + self._s
            return [ej / z for ej in self._e]

    @functools.cached_property
    def q_max(self) -> Any:
        """``1 - p`` at the argmax, as ``S / (1 + S)``: exact even when p rounds to 1."""
        if self._special is not None:
            return _ONE - self._special[2][self.jmax]
        with mp.workdps(DPS):
            return self._s / (1 + self._s)


_ROW_CACHE: dict[tuple[bytes, int], _Row] = {}


def _rows(a: Any, axis: int) -> tuple[list[_Row], tuple[int, ...]]:
    """The exact pieces of every row of ``a`` along ``axis`` (moved last), plus the batch shape."""
    x = np.moveaxis(np.asarray(a), axis, -1)
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    flat = x64.reshape(-1, x64.shape[-1]) if x64.shape[-1] else x64.reshape(0, 0)
    rows = []
    with mp.workdps(DPS):
        for r in flat:
            key = (r.tobytes(), DPS)
            row = _ROW_CACHE.get(key)
            if row is None:
                if len(_ROW_CACHE) > 200_000:
                    _ROW_CACHE.clear()
                row = _ROW_CACHE[key] = _Row(r.tolist())
            rows.append(row)
    return rows, x.shape[:-1]


def _stack(values: list[list[Any]], batch: tuple[int, ...], axis: int) -> Obj:
    c = len(values[0]) if values else 0
    out = np.empty((len(values), c), dtype=object)
    for i, v in enumerate(values):
        out[i, :] = v
    return np.moveaxis(out.reshape((*batch, c)), -1, axis)


def logsumexp(a: Any, axis: int = -1) -> Obj:
    """Exact ``log(sum(exp(a)))`` along ``axis``."""
    rows, batch = _rows(a, axis)
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r.lse
    return out.reshape(batch)


def log_softmax(a: Any, axis: int = -1) -> Obj:
    """Exact ``a - logsumexp(a)`` along ``axis``."""
    rows, batch = _rows(a, axis)
    return _stack([r.lsm for r in rows], batch, axis)


def softmax(a: Any, axis: int = -1) -> Obj:
    """Exact ``exp(a) / sum(exp(a))`` along ``axis``."""
    rows, batch = _rows(a, axis)
    return _stack([r.p for r in rows], batch, axis)


def softplus(a: Any) -> Obj:
    """Exact ``log(1 + exp(a))``, elementwise."""
    with mp.workdps(DPS):
        return _mp_map(lambda v: v if mp.isnan(v) else mp.log1p(mp.exp(v)), to_mp(a))


def log_sigmoid(a: Any) -> Obj:
    """Exact ``-log(1 + exp(-a))``, elementwise."""
    with mp.workdps(DPS):
        return _mp_map(lambda v: v if mp.isnan(v) else -mp.log1p(mp.exp(-v)), to_mp(a))


def naive_log_softmax(x: Any) -> Obj:
    """``x - log(sum(exp(x)))`` for a 1-D finite ``x``, at a precision that survives the
    cancellation (digits for ``exp(-spread)`` next to 1, plus ``DPS``). Cross-check only."""
    xs = np.asarray(x, dtype=np.float64).tolist()
    spread = max(xs) - min(xs)
    digits = DPS + int(spread / math.log(10)) + int(math.log10(max(1.0, max(map(abs, xs))))) + 10
    with mp.workdps(digits):
        lse = mp.log(mp.fsum(mp.exp(mpf(v)) for v in xs))
        out = [mpf(v) - lse for v in xs]
    with mp.workdps(DPS):
        return np.array([+v for v in out], dtype=object)


# --------------------------------------------------------------------------------------------
# Losses: per-row (reduction="none") values and the gradient of their sum
# --------------------------------------------------------------------------------------------


def _mul_xlogy(t: Any, logp: Any) -> Any:
    """``t * logp`` with the convention ``0 * log 0 = 0``."""
    return _ZERO if t == 0 else t * logp


def _softmax_targets_loss(
    t_rows: list[list[Any]],
    y_pred: Any,
    from_logits: bool,
    sample_weight: Any,
    return_grad: bool,
) -> tuple[Obj, Obj, Obj] | Obj:
    """Loss ``-sum_c t_c log p_c`` per row (last axis) from exact weighted targets ``t``."""
    x = np.asarray(y_pred)
    n, c = x.reshape(-1, x.shape[-1]).shape
    sw = (
        [_ONE] * n
        if sample_weight is None
        else list(to_mp(np.broadcast_to(sample_weight, x.shape[:-1])).reshape(-1))
    )
    loss = np.empty(n, dtype=object)
    grad = np.empty((n, c), dtype=object)
    scale = np.empty((n, c), dtype=object)
    if from_logits:
        rows, _ = _rows(x, -1)
    else:
        probs = to_mp(x).reshape(n, c)
    with mp.workdps(DPS):
        for i in range(n):
            t = t_rows[i]
            s = sw[i]
            if from_logits:
                r = rows[i]
                loss[i] = s * -mp.fsum(_mul_xlogy(tc, lc) for tc, lc in zip(t, r.lsm, strict=True))
                if not return_grad:
                    continue
                if any(mp.isnan(v) for v in r.p):
                    grad[i, :] = _NAN
                    scale[i, :] = _ZERO
                    continue
                tsum = mp.fsum(t)
                for j, (pj, tj) in enumerate(zip(r.p, t, strict=True)):
                    pt = pj * tsum
                    grad[i, j] = s * (pt - tj)  # off the argmax p_j <= 1/2: no hidden cancellation
                    scale[i, j] = s * (pt if pt >= tj else tj)
                j = r.jmax
                # at the argmax p_j T - t_j = (T - t_j) - (1 - p_j) T, both sums of terms >= 0
                rest, qt = mp.fsum(t[k] for k in range(c) if k != j), r.q_max * tsum
                grad[i, j] = s * (rest - qt)
                scale[i, j] = s * max(rest, qt)  # so a hard label's entry is measured relatively
            else:
                p = probs[i]
                loss[i] = s * -mp.fsum(
                    _mul_xlogy(tc, mp.log(pc)) for tc, pc in zip(t, p, strict=True)
                )
                if not return_grad:
                    continue
                for j in range(c):
                    g = _ZERO if t[j] == 0 else -t[j] / p[j] if p[j] != 0 else -_INF
                    grad[i, j] = s * g
                    scale[i, j] = abs(grad[i, j])
    batch = x.shape[:-1]
    if not return_grad:
        return loss.reshape(batch)
    return loss.reshape(batch), grad.reshape(x.shape), scale.reshape(x.shape)


def sparse_categorical_cross_entropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    return_grad: bool = False,
) -> Any:
    """Exact per-row loss ``(1-e) cw[y] (-log p_y) + (e/C) sum_c cw_c (-log p_c)``, times s.

    Class axis last.  With ``return_grad`` returns ``(loss, grad, grad_scale)``: the exact
    gradient of ``loss.sum()`` with respect to ``y_pred`` and, per entry, the size of the larger
    of the two exact terms it is the difference of, the scale to which a difference is
    conditioned: ``p_c T`` and ``t_c`` off the softmax argmax, ``T - t_c`` and ``(1 - p_c) T``
    at it (``T = sum_c t_c``).  For hard targets the scale is the entry itself, so the
    true-class entry ``-T sum_{j != y} p_j`` is measured relatively.
    """
    x = np.asarray(y_pred)
    c = x.shape[-1]
    labels = np.asarray(y_true).reshape(-1).tolist()
    with mp.workdps(DPS):
        cw = [_ONE] * c if class_weight is None else list(to_mp(class_weight))
        e = mpf(float(label_smoothing))
        t_rows = []
        for y in labels:
            t = [e / c * cw[k] for k in range(c)]
            t[int(y)] += (1 - e) * cw[int(y)]
            t_rows.append(t)
    return _softmax_targets_loss(t_rows, x, from_logits, sample_weight, return_grad)


def categorical_cross_entropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    return_grad: bool = False,
) -> Any:
    """Exact per-row loss ``-sum_c cw_c ((1-e) y_c + e/C) log p_c``, times s (class axis last).

    ``return_grad`` as in :func:`sparse_categorical_cross_entropy`.
    """
    x = np.asarray(y_pred)
    c = x.shape[-1]
    yt = to_mp(y_true).reshape(-1, c)
    with mp.workdps(DPS):
        cw = [_ONE] * c if class_weight is None else list(to_mp(class_weight))
        e = mpf(float(label_smoothing))
        t_rows = [[cw[k] * ((1 - e) * row[k] + e / c) for k in range(c)] for row in yt]
    return _softmax_targets_loss(t_rows, x, from_logits, sample_weight, return_grad)


def binary_cross_entropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    pos_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    return_grad: bool = False,
) -> Any:
    """Exact elementwise ``-(pw y log p + (1-y) log(1-p))``, times s; ``y -> y(1-e) + e/2``.

    ``log p = log_sigmoid(x)`` and ``log(1-p) = log_sigmoid(-x)`` from logits; ``log1p(-p)``
    from probabilities.  ``return_grad`` returns ``(loss, grad, grad_scale)`` as in
    :func:`sparse_categorical_cross_entropy`; the two terms are ``pw y dlogp`` and
    ``(1-y) dlog(1-p)``.
    """
    x = np.asarray(y_pred)
    shape = x.shape
    xs = to_mp(x).reshape(-1)
    ys = to_mp(np.broadcast_to(y_true, shape)).reshape(-1)
    pw = to_mp(np.broadcast_to(1.0 if pos_weight is None else pos_weight, shape)).reshape(-1)
    sw = to_mp(np.broadcast_to(1.0 if sample_weight is None else sample_weight, shape)).reshape(-1)
    n = xs.size
    loss = np.empty(n, dtype=object)
    grad = np.empty(n, dtype=object)
    scale = np.empty(n, dtype=object)
    with mp.workdps(DPS):
        e = mpf(float(label_smoothing))
        for i in range(n):
            v, y, w, s = xs[i], ys[i] * (1 - e) + e / 2, pw[i], sw[i]
            a, b = w * y, 1 - y  # weights of the log p and log(1 - p) terms
            if mp.isnan(v):
                loss[i] = grad[i] = _NAN
                scale[i] = _ZERO
                continue
            if from_logits:
                logp, log1mp = -mp.log1p(mp.exp(-v)), -mp.log1p(mp.exp(v))
                dp, d1mp = 1 / (1 + mp.exp(v)), 1 / (1 + mp.exp(-v))  # sigmoid(-x), sigmoid(x)
            else:
                logp, log1mp = mp.log(v), mp.log1p(-v)
                dp = _INF if v == 0 else 1 / v
                d1mp = _INF if v == 1 else 1 / (1 - v)
            loss[i] = s * -(_mul_xlogy(a, logp) + _mul_xlogy(b, log1mp))
            ga = _ZERO if a == 0 else a * dp
            gb = _ZERO if b == 0 else b * d1mp
            grad[i] = s * (gb - ga)
            scale[i] = abs(s) * max(ga, gb)
    if not return_grad:
        return loss.reshape(shape)
    return loss.reshape(shape), grad.reshape(shape), scale.reshape(shape)


def softmax_family_loss(
    t_rows: list[list[Any]],
    y_pred: Any,
    *,
    sample_weight: Any = None,
    z_loss: float = 0.0,
    gamma: float = 0.0,
    return_grad: bool = False,
) -> tuple[Obj, Obj, Obj] | Obj:
    """Exact focal loss with z-loss from logits (class axis last), per row:

    ``s (sum_c t_c (1 - p_c)^gamma (-log p_c) + z lse^2)`` for exact weighted targets ``t``
    (Lin et al. 2017 in Keras's categorical form; PaLM's z-loss). ``gamma = z = 0`` is
    :func:`_softmax_targets_loss`. The gradient of the sum is ``g_k = p_k (sum_c D_c + 2 z lse)
    - D_k`` with ``D_c = t_c (1 - p_c)^gamma (1 + gamma p_c (-log p_c) / (1 - p_c))`` (the
    derivative of the row loss with respect to ``log p_c``, negated), formed at the argmax as
    ``(sum_{c != j} D_c) - (1 - p_j) sum_c D_c + 2 z lse p_j`` with ``1 - p_j = S / (1 + S)``;
    the scale is the sum of the absolute values of those terms.
    """
    x = np.asarray(y_pred)
    n, c = x.reshape(-1, x.shape[-1]).shape
    sw = (
        [_ONE] * n
        if sample_weight is None
        else list(to_mp(np.broadcast_to(sample_weight, x.shape[:-1])).reshape(-1))
    )
    rows, _ = _rows(x, -1)
    loss = np.empty(n, dtype=object)
    grad = np.empty((n, c), dtype=object)
    scale = np.empty((n, c), dtype=object)
    with mp.workdps(DPS):
        g = mpf(float(gamma))
        z = mpf(float(z_loss))
        for i in range(n):
            r, t, s = rows[i], t_rows[i], sw[i]
            if any(mp.isnan(v) for v in r.p) or mp.isinf(r.lse):  # not covered: no finite max
                loss[i] = grad[i, :] = _NAN
                scale[i, :] = _ZERO
                continue
            q = [r.q_max if j == r.jmax else 1 - pj for j, pj in enumerate(r.p)]
            nll = [-v for v in r.lsm]
            f = [_ONE if g == 0 else (_ZERO if qj == 0 else qj**g) for qj in q]
            lz = z * r.lse**2
            terms = [_ZERO if t[j] * f[j] == 0 else t[j] * f[j] * nll[j] for j in range(c)]
            loss[i] = s * (mp.fsum(terms) + lz)
            if not return_grad:
                continue
            D = []
            for j in range(c):
                if t[j] == 0 or f[j] == 0:
                    D.append(_ZERO)
                elif g == 0:
                    D.append(t[j])
                else:
                    D.append(t[j] * f[j] * (1 + g * r.p[j] * nll[j] / q[j]))
            total = mp.fsum(D)
            zl = 2 * z * r.lse
            for j in range(c):
                a, b = r.p[j] * total, D[j]
                grad[i, j] = s * (a - b + zl * r.p[j])
                scale[i, j] = s * (abs(a) + abs(b) + abs(zl * r.p[j]))
            j = r.jmax
            rest = mp.fsum(D[k] for k in range(c) if k != j)
            qt, zp = q[j] * total, zl * r.p[j]
            grad[i, j] = s * (rest - qt + zp)
            scale[i, j] = s * (abs(rest) + abs(qt) + abs(zp))
    batch = x.shape[:-1]
    if not return_grad:
        return loss.reshape(batch)
    return loss.reshape(batch), grad.reshape(x.shape), scale.reshape(x.shape)


def binary_focal_loss(
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float,
    alpha: float | None = None,
    from_logits: bool = False,
    return_grad: bool = False,
) -> Any:
    """Exact binary focal loss ``alpha_t (1 - p_t)^gamma bce`` elementwise (torchvision's
    definition), ``p_t = y p + (1 - y)(1 - p)``, ``alpha_t = alpha y + (1 - alpha)(1 - y)``.

    ``1 - p`` is ``sigmoid(-x)`` from logits, so nothing cancels. With ``return_grad``:
    ``(loss, grad, scale)``, the derivative ``F (bce' + gamma bce u' / u)`` (``F = alpha_t
    u^gamma``, ``u = 1 - p_t``) and the sum of the absolute values of its terms.
    """
    x = np.asarray(y_pred)
    shape = x.shape
    xs = to_mp(x).reshape(-1)
    ys = to_mp(np.broadcast_to(y_true, shape)).reshape(-1)
    n = xs.size
    loss = np.empty(n, dtype=object)
    grad = np.empty(n, dtype=object)
    scale = np.empty(n, dtype=object)
    with mp.workdps(DPS):
        g = mpf(float(gamma))
        for i in range(n):
            v, y = xs[i], ys[i]
            at = _ONE if alpha is None else alpha * y + (1 - mpf(float(alpha))) * (1 - y)
            if from_logits:
                p, q = 1 / (1 + mp.exp(-v)), 1 / (1 + mp.exp(v))
                lp, lq = -mp.log1p(mp.exp(-v)), -mp.log1p(mp.exp(v))
                dp = p * q  # d p / d x
            else:
                p, q = v, 1 - v
                lp = mp.log(p) if p else -_INF
                lq = mp.log(q) if q else -_INF
                dp = _ONE
            bce = -_mul_xlogy(y, lp) - _mul_xlogy(1 - y, lq)
            u = y * q + (1 - y) * p
            f = at * (_ONE if g == 0 else (_ZERO if u == 0 else u**g))
            loss[i] = _ZERO if f == 0 else f * bce
            # bce' = -y dp / p + (1 - y) dp / q; u' = (1 - 2 y) dp
            ga = _ZERO if y == 0 else y * dp / p
            gb = _ZERO if y == 1 else (1 - y) * dp / q
            gm = _ZERO if f == 0 or bce == 0 or g == 0 else g * bce * (1 - 2 * y) * dp / u
            grad[i] = _ZERO if f == 0 else f * (gb - ga + gm)
            scale[i] = _ZERO if f == 0 else f * (ga + gb + abs(gm))
    if not return_grad:
        return loss.reshape(shape)
    return loss.reshape(shape), grad.reshape(shape), scale.reshape(shape)


KL_DPS = 100
"""Precision of the KL references: the divergence of nearly equal distributions is the small
difference of log-probabilities of size 1, so it needs digits beyond ``DPS``."""


def _kl_side(row: list[float], logits: bool, temperature: Any) -> tuple[list[Any], list[Any]]:
    """Exact (probabilities, log-probabilities) of one row: the softmax of ``row /
    temperature`` (NaN for a row without one: a NaN, every entry -inf, several +inf), or the
    probabilities as given."""
    n = len(row)
    if not logits:
        return [mpf(v) for v in row], [mp.log(mpf(v)) if v > 0 else -_INF for v in row]
    n_pinf = sum(1 for v in row if v == math.inf)
    if any(math.isnan(v) for v in row) or n_pinf > 1 or all(v == -math.inf for v in row):
        return [_NAN] * n, [_NAN] * n
    if n_pinf == 1:
        return [_ONE if v == math.inf else _ZERO for v in row], [
            _ZERO if v == math.inf else -_INF for v in row
        ]
    a = [mpf(v) / temperature if v > -math.inf else None for v in row]
    m = max(x for x in a if x is not None)
    top = a.index(m)
    # log1p of the sum without the maximum: a confident row's 1 + 1e-190 is not 1
    log_z = mp.log1p(mp.fsum(mp.exp(x - m) for j, x in enumerate(a) if x is not None and j != top))
    lp = [(x - m) - log_z if x is not None else -_INF for x in a]
    return [mp.exp(v) if v > -_INF else _ZERO for v in lp], lp


def kl_divergence(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool,
    target_from_logits: bool,
    temperature: float = 1.0,
    sample_weight: Any = None,
) -> tuple[Obj, Obj, Obj, Obj]:
    """``T**2 sum_c p_c (log p_c - log q_c)`` per row of (N, C) arrays, times the sample
    weight, at ``KL_DPS`` digits; with it the gradient of the sum with respect to ``y_pred``
    (``T (P q - p)`` from logits, ``P = sum p``; ``-T**2 p / q`` from probabilities), the
    gradient's scale (the larger of its two terms) and ``T**2 sum_c p_c |log p_c - log q_c|``
    plus the rows' deviations from summing to 1 (probabilities given as floats; times the
    weight), the scale of the loss's error bound."""
    t_rows = np.asarray(y_true, dtype=np.float64)
    s_rows = np.asarray(y_pred, dtype=np.float64)
    n, c = s_rows.shape
    w = np.ones(n) if sample_weight is None else np.broadcast_to(sample_weight, (n,))
    loss, bound = np.empty(n, dtype=object), np.empty(n, dtype=object)
    grad, scale = np.empty((n, c), dtype=object), np.empty((n, c), dtype=object)
    with mp.workdps(KL_DPS):
        temp = mpf(float(temperature))
        t2 = temp * temp
        for i in range(n):
            wi = mpf(float(w[i]))
            p, lp = _kl_side(t_rows[i].tolist(), target_from_logits, temp)
            q, lq = _kl_side(s_rows[i].tolist(), from_logits, temp)
            terms = [p[j] * (lp[j] - lq[j]) for j in range(c) if p[j] != 0]
            total = mp.fsum(terms)
            absolute = mp.fsum(abs(v) for v in terms)
            big_p = mp.fsum(p)
            # probabilities given as floats need not sum to 1 exactly: their own deviation
            # (terms like P log P) joins the scale of the error bound
            unnormalized = abs(mp.fsum([*p, -_ONE])) + abs(mp.fsum([*q, -_ONE]))
            loss[i] = _ZERO if wi == 0 else wi * t2 * total
            bound[i] = _ZERO if wi == 0 else wi * t2 * (absolute + unnormalized)
            for j in range(c):
                if wi == 0:
                    grad[i, j] = scale[i, j] = _ZERO
                elif from_logits:
                    grad[i, j] = wi * temp * (big_p * q[j] - p[j])
                    scale[i, j] = wi * temp * max(abs(big_p * q[j]), abs(p[j]))
                else:
                    g = _ZERO if p[j] == 0 else -wi * t2 * p[j] / q[j] if q[j] != 0 else -_INF
                    grad[i, j] = scale[i, j] = g
    return loss, grad, scale, bound


def target_rows(
    y_true: Any, n_classes: int, *, sparse: bool, class_weight: Any = None, eps: float = 0.0
) -> list[list[Any]]:
    """Exact weighted targets ``cw_c ((1 - e) t_c + e / C)`` per row (one-hot for ``sparse``)."""
    c = n_classes
    with mp.workdps(DPS):
        cw = [_ONE] * c if class_weight is None else list(to_mp(class_weight))
        e = mpf(float(eps))
        if sparse:
            out = []
            for y in np.asarray(y_true).reshape(-1).tolist():
                t = [e / c * cw[k] for k in range(c)]
                t[int(y)] += (1 - e) * cw[int(y)]
                out.append(t)
            return out
        yt = to_mp(y_true).reshape(-1, c)
        return [[cw[k] * ((1 - e) * row[k] + e / c) for k in range(c)] for row in yt]


# --------------------------------------------------------------------------------------------
# Units in the last place
# --------------------------------------------------------------------------------------------


def to_double_double(exact: Any) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) float64 arrays with hi = round(exact) and lo = round(exact - hi).

    :func:`ulp_error` accepts the pair in place of ``exact``: convert once, compare many.
    """
    if isinstance(exact, tuple):
        return exact
    ex = np.asarray(exact)
    if ex.dtype != object:
        hi = ex.astype(np.float64)
        return hi, np.zeros_like(hi)
    hi = np.empty(ex.shape, dtype=np.float64)
    lo = np.zeros(ex.shape, dtype=np.float64)
    hf, lf = hi.reshape(-1), lo.reshape(-1)
    for i, v in enumerate(ex.reshape(-1)):
        t = v._mpf_ if isinstance(v, mpf) else mpf(v)._mpf_
        h = libmp.to_float(t, rnd=libmp.round_nearest)
        hf[i] = h
        if math.isfinite(h) and h != 0.0:
            lf[i] = libmp.to_float(
                libmp.mpf_sub(t, libmp.from_float(h), 64, libmp.round_nearest),
                rnd=libmp.round_nearest,
            )
        elif h == 0.0:
            lf[i] = 0.0  # |exact| < half the smallest subnormal: far below any ulp
    return hi, lo


def to_float(exact: Any) -> np.ndarray:
    """``exact`` rounded to float64 (inf beyond the range, 0 below half the smallest subnormal)."""
    return to_double_double(exact)[0]


def ulp(magnitude_hi: np.ndarray, magnitude_lo: np.ndarray, dtype: Any) -> np.ndarray:
    """One unit in the last place of ``dtype`` at the exact magnitude ``hi + lo`` (hi >= 0).

    The smallest subnormal for zero and subnormal magnitudes; ``inf`` for magnitudes that
    round to infinity in ``dtype``.
    """
    fi = np.finfo(dtype)
    tiny = math.ldexp(1.0, int(fi.minexp) - int(fi.nmant))  # smallest subnormal
    with np.errstate(over="ignore"):
        r = np.abs(magnitude_hi.astype(dtype)).astype(np.float64)
    m, ex = np.frexp(r)  # r = m 2**ex, m in [0.5, 1)
    # a magnitude just below a power of two that rounds up to it has the finer spacing below
    below = (m == 0.5) & ((magnitude_hi < r) | ((magnitude_hi == r) & (magnitude_lo < 0)))
    ex = ex - below
    out = np.ldexp(1.0, ex - 1 - int(fi.nmant))
    out = np.where(r < float(fi.smallest_normal), tiny, out)
    return np.where(np.isinf(r), np.inf, out)


def ulp_error(got: Any, exact: Any, dtype: Any = None, scale: Any = None) -> np.ndarray:
    """``|got - exact| / ulp(exact)`` elementwise, in units of ``dtype`` (default got's dtype).

    ``exact`` is an object array of mpf, a float array taken as exact, or the pair from
    :func:`to_double_double`.  ``ulp`` of zero
    or a subnormal is the smallest subnormal of ``dtype``.  Exact values that overflow
    ``dtype`` count as the matching infinity.  Equal infinities, and NaN against NaN, are 0
    error; a finite value against inf/NaN (either way) is ``inf`` error.  ``scale`` (>= 0,
    same shape) replaces ``|exact|`` in the ulp when larger: the error of a difference
    measured against the size of its terms.
    """
    g = np.asarray(got)
    dtype = np.dtype(g.dtype if dtype is None else dtype)
    g64 = g.astype(np.float64)
    hi, lo = to_double_double(exact)
    hi, lo = np.broadcast_to(hi, g64.shape), np.broadcast_to(lo, g64.shape)
    with np.errstate(over="ignore"):
        ex_d = hi.astype(dtype).astype(np.float64)  # the exact value rounded to dtype
    mag_hi, mag_lo = np.abs(hi), np.where(hi < 0, -lo, lo)
    if scale is not None:
        s_hi, s_lo = to_double_double(scale)
        s_hi = np.broadcast_to(np.abs(s_hi), g64.shape)
        bigger = s_hi > mag_hi
        mag_hi = np.where(bigger, s_hi, mag_hi)
        mag_lo = np.where(bigger, np.broadcast_to(s_lo, g64.shape), mag_lo)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs((g64 - hi) - lo) / ulp(mag_hi, mag_lo, dtype)
    fin_ex, fin_got = np.isfinite(ex_d), np.isfinite(g64)
    same_special = (~fin_ex) & ((g64 == ex_d) | (np.isnan(g64) & np.isnan(ex_d)))
    err = np.where(fin_ex & fin_got, err, np.inf)
    err = np.where(same_special, 0.0, err)
    return np.asarray(err, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Adversarial input families
# --------------------------------------------------------------------------------------------


@dataclass
class Family:
    """Seeded inputs for one adversarial family in one dtype.

    kind "softmax": ``logits`` (N, C), ``labels`` (N,), ``soft`` (N, C) targets (zero where a
    logit is -inf), ``probs`` (N, C) valid probability rows.  kind "binary": ``logits`` (N,),
    ``labels`` (N,) in {0, 1}, ``soft`` (N,) in [0, 1], ``probs`` (N,) in [0, 1].
    """

    name: str
    kind: str
    dtype: np.dtype
    logits: np.ndarray
    labels: np.ndarray
    soft: np.ndarray
    probs: np.ndarray
    note: str = ""


def _float_probs(logits: np.ndarray, dtype: Any) -> np.ndarray:
    """Probability rows in ``dtype`` (exact softmax rounded), renormalized in float64."""
    with np.errstate(under="ignore"):
        x = logits.astype(np.float64)
        z = np.exp(x - x.max(axis=-1, keepdims=True))
        p = z / z.sum(axis=-1, keepdims=True)
    return p.astype(dtype)


def _soft_targets(rng: np.random.Generator, logits: np.ndarray, dtype: Any) -> np.ndarray:
    w = rng.random(logits.shape) ** 3
    w[np.isneginf(logits)] = 0.0
    t = (w / w.sum(axis=-1, keepdims=True)).astype(dtype)
    return t


def _softmax_family(
    name: str, rng: np.random.Generator, dtype: Any, x: np.ndarray, labels: Any = None, note=""
) -> Family:
    dtype = np.dtype(dtype)
    x = x.astype(dtype)
    if labels is None:
        labels = rng.integers(0, x.shape[-1], size=x.shape[0])
    labels = np.asarray(labels, dtype=np.int64)
    return Family(
        name,
        "softmax",
        dtype,
        x,
        labels,
        _soft_targets(rng, x, dtype),
        _float_probs(x, dtype),
        note,
    )


def _lead_family(rng: np.random.Generator, dtype: Any, n: int, c: int) -> Family:
    """True class leads the rest by 16 .. 700 (float64) / 16 .. 100 (float32: loss down to
    subnormals) / 6 .. 16 (float16)."""
    hi = {np.dtype(np.float64): 700.0, np.dtype(np.float32): 100.0}.get(np.dtype(dtype), 16.0)
    lo = 16.0 if hi > 16.0 else 6.0
    lead = np.geomspace(lo, hi, n)
    x = rng.standard_normal((n, c))
    y = rng.integers(0, c, size=n)
    rows = np.arange(n)
    x[rows, y] = -np.inf
    x[rows, y] = x.max(axis=1) + lead
    return _softmax_family(
        "lead", rng, dtype, x, y, note=f"true class leads by {lo:g}..{hi:g}: loss ~ exp(-lead)"
    )


def _masked_family(rng: np.random.Generator, dtype: Any, n: int, c: int) -> Family:
    x = 3.0 * rng.standard_normal((n, c))
    y = rng.integers(0, c, size=n)
    mask = rng.random((n, c)) < 0.4
    mask[np.arange(n), y] = False
    x[mask] = -np.inf
    return _softmax_family("masked", rng, dtype, x, y, note="40% -inf logits, never the label")


def _binary_family(
    name: str, rng: np.random.Generator, dtype: Any, x: np.ndarray, p: np.ndarray, note: str
) -> Family:
    dtype = np.dtype(dtype)
    n = x.size
    labels = rng.integers(0, 2, size=n).astype(dtype)
    soft = rng.random(n).astype(dtype)
    return Family(name, "binary", dtype, x.astype(dtype), labels, soft, p.astype(dtype), note)


def _binary_logits(rng: np.random.Generator, dtype: Any, n: int) -> Family:
    big = {np.dtype(np.float16): 4.0}.get(np.dtype(dtype), 4.0)
    mag = 10.0 ** rng.uniform(-3.0, big, n)
    x = np.where(rng.random(n) < 0.5, -mag, mag)
    x[:4] = [1e4, -1e4, 0.0, -0.0]
    with np.errstate(over="ignore"):
        p = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    return _binary_family("binary_logits", rng, dtype, x, p, "logits +-1e-3 .. +-1e4")


def _binary_extreme_probs(rng: np.random.Generator, dtype: Any, n: int) -> Family:
    """Probabilities within 1e-12 (float64) / 1e-6 (float32) / 1e-2 (float16) of 0 and 1."""
    fi = np.finfo(dtype)
    near = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}.get(np.dtype(dtype), 1e-2)
    # distance to 0 down to the smallest normal; distance to 1 down to one ulp below 1
    d0 = np.exp(rng.uniform(math.log(float(fi.tiny)), math.log(near), n // 2))
    d1 = np.exp(rng.uniform(math.log(float(fi.epsneg)), math.log(near), n - n // 2))
    p = np.concatenate([d0.astype(dtype), (1.0 - d1.astype(dtype)).astype(dtype)])
    x = np.log(p.astype(np.float64)) - np.log1p(-p.astype(np.float64))  # logit, for reference
    return _binary_family("binary_probs", rng, dtype, x, p, f"p within {near:g} of 0 and 1")


def masked_leading_logits(
    rng: np.random.Generator,
    n: int,
    c: int,
    dtype: Any,
    *,
    lead_from: float,
    lead: bool = True,
    mask: bool = True,
    scale: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random logits (scale x N(0, 1)) and labels: 20 % of the entries -inf (never a label)
    with ``mask``; with ``lead``, every 3rd row's label leads its row by ``lead_from`` up to 600
    (80 in float32), so that its loss is down to exp(-600)."""
    x = scale * rng.standard_normal((n, c))
    y = rng.integers(0, c, n)
    if mask:
        masked = rng.random((n, c)) < 0.2
        masked[np.arange(n), y] = False
        x[masked] = -np.inf
    if lead:
        top = 600.0 if dtype == np.float64 else 80.0
        rows = np.arange(n) % 3 == 0
        x[rows, y[rows]] = np.max(x[rows], axis=1) + np.geomspace(lead_from, top, n)[rows]
    return x.astype(dtype), y


def soft_targets(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Random target distributions over the rows of x, none of the mass on a -inf logit."""
    w = rng.random(x.shape) ** 2
    w[np.isneginf(x)] = 0.0
    return w / w.sum(axis=1, keepdims=True)


def families(dtype: Any, quick: bool = False, big_rows: int = 1) -> list[Family]:
    """The adversarial families for ``dtype``, seeded (the same arrays on every call).

    ``quick`` halves the rows; ``big_rows`` rows of 50,000 classes (each costs seconds).
    """
    dtype = np.dtype(dtype)
    n = 24 if quick else 48
    c = 10
    big_c = 50_000
    out = []

    def rng(i: int) -> np.random.Generator:
        return np.random.default_rng([20240917, i, dtype.itemsize])

    for i, scale in enumerate([1.0, 30.0, 1e3, 1e4]):
        if dtype == np.float16 and scale > 1e3:
            continue  # 1e4 * N(0, 1) overflows float16
        r = rng(i)
        out.append(_softmax_family(f"scale_{scale:g}", r, dtype, scale * r.standard_normal((n, c))))
    r = rng(10)
    if dtype != np.float16:
        out.append(
            _softmax_family(
                "offset_1e4", r, dtype, 1e4 + r.standard_normal((n, c)), note="1e4 + N(0, 1)"
            )
        )
    else:
        out.append(_softmax_family("offset_1e3", r, dtype, 1e3 + 10 * r.standard_normal((n, c))))
    if dtype != np.float16:
        r = rng(11)
        out.append(
            _softmax_family(
                "classes_50k",
                r,
                dtype,
                5.0 * r.standard_normal((big_rows, big_c)),
                note=f"{big_rows} row(s), 5 N(0, 1)",
            )
        )
    out.append(_lead_family(rng(12), dtype, n, c))
    out.append(_masked_family(rng(13), dtype, n, c))
    out.append(_binary_logits(rng(14), dtype, 2 * n))
    out.append(_binary_extreme_probs(rng(15), dtype, 2 * n))
    return out


def as_bits(result: Any) -> list[tuple[str, tuple[int, ...], bytes]]:
    """Dtype, shape and bytes of every array of a result (a value or a (loss, grad) pair): two
    results are the same bits where these are equal."""
    parts = result if isinstance(result, tuple) else (result,)
    return [(str(np.asarray(p).dtype), np.shape(p), np.asarray(p).tobytes()) for p in parts]


def max_ulp(err: np.ndarray) -> float:
    """Largest entry (0 for an empty array)."""
    return float(np.max(err)) if err.size else 0.0


__all__ = [
    "DPS",
    "Family",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "families",
    "kl_divergence",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "max_ulp",
    "naive_log_softmax",
    "softmax",
    "softplus",
    "sparse_categorical_cross_entropy",
    "to_double_double",
    "to_float",
    "to_mp",
    "ulp",
    "ulp_error",
]
