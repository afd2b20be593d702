"""Shared fixtures for the xent test suite.

Every random array in the suite comes from the ``rng`` fixture (a seeded
``np.random.default_rng``), so a failure reproduces bit for bit.  The helpers
below are handed out as fixtures rather than imported, so test modules never
import ``conftest``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

SEED = 20240611


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator per test, so tests do not depend on their order."""
    return np.random.default_rng(SEED)


def central_diff(f: Callable[[np.ndarray], float], x: np.ndarray, h: float) -> np.ndarray:
    """4th-order central differences of the scalar function ``f`` at ``x``, one entry at a time.

    ``f'(x) = (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / (12 h) + O(h^4)``
    (Fornberg, "Generation of finite difference formulas on arbitrarily spaced grids", 1988).
    """
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        values = []
        for step in (2.0, 1.0, -1.0, -2.0):
            xp = x.copy()
            xp[idx] += step * h
            values.append(float(f(xp)))
        grad[idx] = (-values[0] + 8.0 * values[1] - 8.0 * values[2] + values[3]) / (12.0 * h)
    return grad


def directional_diff(
    f: Callable[[np.ndarray], float], x: np.ndarray, d: np.ndarray, h: float
) -> float:
    """4th-order central difference of ``f`` at ``x`` along the direction ``d``."""
    x = np.asarray(x, dtype=np.float64)
    values = [float(f(x + step * h * d)) for step in (2.0, 1.0, -1.0, -2.0)]
    return (-values[0] + 8.0 * values[1] - 8.0 * values[2] + values[3]) / (12.0 * h)


@pytest.fixture
def fd() -> Callable[..., np.ndarray]:
    return central_diff


@pytest.fixture
def fd_dir() -> Callable[..., float]:
    return directional_diff
