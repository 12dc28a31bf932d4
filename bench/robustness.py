#!/usr/bin/env python
"""Robustness benchmark: jaxmle's solver beside its peers, on hard problems, in one run.

    python bench/robustness.py [--quick] [--out bench/RESULTS-robustness.md]

Two parts:

1. The Moré–Garbow–Hillstrom (1981) least-squares test problems with a documented
   minimum, each from the standard start x0, 10*x0 and 100*x0. jaxmle fits each as a
   Gaussian log-likelihood with a free sigma; the peers minimize the sum of squares
   (scipy trust-exact and BFGS with JAX derivatives, scipy least_squares with the JAX
   Jacobian, lmfit leastsq = MINPACK LM with finite differences, iminuit Migrad).
2. Statistical cases where the maximum is hard to reach or does not exist (beta
   regression from zeros, identical observations, negative binomial on Poisson data,
   huge offsets, extreme scales, interval-censored Weibull with a zero lower bound,
   separation in logistic regression): jaxmle against scipy, iminuit and statsmodels.

Every run is judged solved / not solved, and whether the tool reported success for a
wrong answer. See bench/README.md and the report for the rules.

The problem definitions are importable (``mgh_problems()``, ``start_points()``,
``stat_cases()``); this script enables float64 in JAX before anything else.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)  # float64 everywhere (said in the report)

import jax.numpy as jnp  # noqa: E402
from jax.scipy.stats import norm  # noqa: E402

# run from a checkout without installing: import the jaxmle next to bench/
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import jaxmle as jm  # noqa: E402
from jaxmle.distributions import DISTRIBUTIONS  # noqa: E402
from jaxmle.distributions.families import model_for  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ============================================================================
# Part 1: the Moré–Garbow–Hillstrom problems
# ============================================================================
@dataclass(frozen=True)
class MGHProblem:
    """One least-squares test problem: minimize ``sum(residual(x)**2)``.

    ``number`` is the problem's number in Moré, Garbow & Hillstrom (1981),
    "Testing unconstrained optimization software", ACM TOMS 7(1), 17-41.
    ``fstar`` is the documented minimum of the sum of squares, ``xstar`` a
    documented minimizer (None where the paper gives none, or several).
    ``other_minima``: values of the sum of squares at other documented local
    minima (a run ending there found a local, not the global, minimum)."""

    name: str
    number: int
    n: int
    m: int
    residual: Callable[[jax.Array], jax.Array]
    x0: np.ndarray
    fstar: float
    xstar: np.ndarray | None = None
    other_minima: tuple[float, ...] = ()
    note: str = ""

    def sumsq(self, x) -> float:
        r = np.asarray(self.residual(jnp.asarray(x, jnp.float64)))
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(r * r))


def _idx(k: int) -> jax.Array:
    """1, 2, ..., k as float64 (the paper's index i)."""
    return jnp.arange(1, k + 1, dtype=jnp.float64)


def _rosenbrock(x):
    return jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def _freudenstein_roth(x):
    return jnp.stack(
        [
            -13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1],
            -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1],
        ]
    )


def _powell_badly_scaled(x):
    return jnp.stack([1e4 * x[0] * x[1] - 1.0, jnp.exp(-x[0]) + jnp.exp(-x[1]) - 1.0001])


def _brown_badly_scaled(x):
    return jnp.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])


_BEALE_Y = jnp.array([1.5, 2.25, 2.625])


def _beale(x):
    i = _idx(3)
    return _BEALE_Y - x[0] * (1.0 - x[1] ** i)


def _jennrich_sampson(x, m=10):
    i = _idx(m)
    return 2.0 + 2.0 * i - (jnp.exp(i * x[0]) + jnp.exp(i * x[1]))


def _helical_valley(x):
    # theta = atan(x2/x1)/(2 pi) (+ 1/2 when x1 < 0); at x1 = 0, +-1/4 as in MINPACK
    x1 = jnp.where(x[0] == 0.0, 1.0, x[0])
    at = jnp.arctan(x[1] / x1) / (2.0 * jnp.pi)
    theta = jnp.where(
        x[0] > 0.0, at, jnp.where(x[0] < 0.0, at + 0.5, 0.25 * jnp.where(x[1] < 0, -1.0, 1.0))
    )
    return jnp.stack(
        [10.0 * (x[2] - 10.0 * theta), 10.0 * (jnp.sqrt(x[0] ** 2 + x[1] ** 2) - 1.0), x[2]]
    )


_BARD_Y = jnp.array(
    [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]
)


def _bard(x):
    u = _idx(15)
    v = 16.0 - u
    w = jnp.minimum(u, v)
    return _BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))


_GAUSSIAN_Y = jnp.array(
    [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989]
    + [0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009]
)


def _gaussian(x):
    t = (8.0 - _idx(15)) / 2.0
    return x[0] * jnp.exp(-x[1] * (t - x[2]) ** 2 / 2.0) - _GAUSSIAN_Y


_MEYER_Y = jnp.array(
    [34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0]
    + [8261.0, 7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0]
)


def _meyer(x):
    t = 45.0 + 5.0 * _idx(16)
    return x[0] * jnp.exp(x[1] / (t + x[2])) - _MEYER_Y


def _gulf(x, m=99):
    # the paper prints |y_i m i x_2|; the minus sign is what makes (50, 25, 1.5) a zero
    t = _idx(m) / 100.0
    y = 25.0 + (-50.0 * jnp.log(t)) ** (2.0 / 3.0)
    return jnp.exp(-(jnp.abs(y - x[1]) ** x[2]) / x[0]) - t


def _box3d(x, m=10):
    t = 0.1 * _idx(m)
    return jnp.exp(-t * x[0]) - jnp.exp(-t * x[1]) - x[2] * (jnp.exp(-t) - jnp.exp(-10.0 * t))


def _powell_singular(x):
    return jnp.stack(
        [
            x[0] + 10.0 * x[1],
            math.sqrt(5.0) * (x[2] - x[3]),
            (x[1] - 2.0 * x[2]) ** 2,
            math.sqrt(10.0) * (x[0] - x[3]) ** 2,
        ]
    )


def _wood(x):
    return jnp.stack(
        [
            10.0 * (x[1] - x[0] ** 2),
            1.0 - x[0],
            math.sqrt(90.0) * (x[3] - x[2] ** 2),
            1.0 - x[2],
            math.sqrt(10.0) * (x[1] + x[3] - 2.0),
            (x[1] - x[3]) / math.sqrt(10.0),
        ]
    )


_KOWALIK_Y = jnp.array(
    [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
)
_KOWALIK_U = jnp.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


def _kowalik_osborne(x):
    u = _KOWALIK_U
    return _KOWALIK_Y - x[0] * (u**2 + u * x[1]) / (u**2 + u * x[2] + x[3])


def _brown_dennis(x, m=20):
    t = _idx(m) / 5.0
    return (x[0] + t * x[1] - jnp.exp(t)) ** 2 + (x[2] + x[3] * jnp.sin(t) - jnp.cos(t)) ** 2


_OSBORNE1_Y = jnp.array(
    [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751]
    + [0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490]
    + [0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]
)


def _osborne1(x):
    t = 10.0 * (_idx(33) - 1.0)
    return _OSBORNE1_Y - (x[0] + x[1] * jnp.exp(-t * x[3]) + x[2] * jnp.exp(-t * x[4]))


def _biggs_exp6(x, m=13):
    t = 0.1 * _idx(m)
    y = jnp.exp(-t) - 5.0 * jnp.exp(-10.0 * t) + 3.0 * jnp.exp(-4.0 * t)
    return x[2] * jnp.exp(-t * x[0]) - x[3] * jnp.exp(-t * x[1]) + x[5] * jnp.exp(-t * x[4]) - y


_OSBORNE2_Y = jnp.array(
    [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746]
    + [0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649]
    + [0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395]
    + [0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653]
    + [0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739]
    + [0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054]
)


def _osborne2(x):
    t = (_idx(65) - 1.0) / 10.0
    model = (
        x[0] * jnp.exp(-t * x[4])
        + x[1] * jnp.exp(-((t - x[8]) ** 2) * x[5])
        + x[2] * jnp.exp(-((t - x[9]) ** 2) * x[6])
        + x[3] * jnp.exp(-((t - x[10]) ** 2) * x[7])
    )
    return _OSBORNE2_Y - model


def _watson(x):
    n = x.shape[0]
    t = _idx(29) / 29.0
    j = jnp.arange(n, dtype=jnp.float64)  # j - 1 for j = 1..n
    powers = t[:, None] ** j[None, :]  # t^(j-1)
    s1 = (powers[:, :-1] * (j[1:] * x[1:])[None, :]).sum(axis=1)  # sum_{j>=2} (j-1) x_j t^(j-2)
    s2 = powers @ x
    return jnp.concatenate([s1 - s2**2 - 1.0, jnp.stack([x[0], x[1] - x[0] ** 2 - 1.0])])


def _ext_rosenbrock(x):
    odd, even = x[0::2], x[1::2]
    return jnp.stack([10.0 * (even - odd**2), 1.0 - odd], axis=1).reshape(-1)


def _ext_powell(x):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return jnp.stack(
        [
            a + 10.0 * b,
            math.sqrt(5.0) * (c - d),
            (b - 2.0 * c) ** 2,
            math.sqrt(10.0) * (a - d) ** 2,
        ],
        axis=1,
    ).reshape(-1)


def _penalty1(x):
    a = 1e-5
    return jnp.concatenate([math.sqrt(a) * (x - 1.0), jnp.stack([jnp.sum(x**2) - 0.25])])


def _penalty2(x):
    n = x.shape[0]
    a = 1e-5
    i = _idx(n)
    y = jnp.exp(i / 10.0) + jnp.exp((i - 1.0) / 10.0)
    e = jnp.exp(x / 10.0)
    return jnp.concatenate(
        [
            jnp.stack([x[0] - 0.2]),
            math.sqrt(a) * (e[1:] + e[:-1] - y[1:]),
            math.sqrt(a) * (e[1:] - math.exp(-0.1)),
            jnp.stack([jnp.sum((n - i + 1.0) * x**2) - 1.0]),
        ]
    )


def _variably_dimensioned(x):
    n = x.shape[0]
    s = jnp.sum(_idx(n) * (x - 1.0))
    return jnp.concatenate([x - 1.0, jnp.stack([s, s**2])])


def _trigonometric(x):
    n = x.shape[0]
    return n - jnp.sum(jnp.cos(x)) + _idx(n) * (1.0 - jnp.cos(x)) - jnp.sin(x)


def _brown_almost_linear(x):
    n = x.shape[0]
    return jnp.concatenate([x[:-1] + jnp.sum(x) - (n + 1.0), jnp.stack([jnp.prod(x) - 1.0])])


def _dbv_grid(n):
    h = 1.0 / (n + 1.0)
    return h, _idx(n) * h


def _discrete_boundary_value(x):
    n = x.shape[0]
    h, t = _dbv_grid(n)
    xp = jnp.concatenate([jnp.zeros(1), x, jnp.zeros(1)])
    return 2.0 * x - xp[:-2] - xp[2:] + h**2 * (x + t + 1.0) ** 3 / 2.0


def _discrete_integral_equation(x):
    n = x.shape[0]
    h, t = _dbv_grid(n)
    c = (x + t + 1.0) ** 3
    lower = jnp.cumsum(t * c)  # sum_{j<=i} t_j c_j
    upper = jnp.sum((1.0 - t) * c) - jnp.cumsum((1.0 - t) * c)  # sum_{j>i} (1-t_j) c_j
    return x + h * ((1.0 - t) * lower + t * upper) / 2.0


def _broyden_tridiagonal(x):
    xp = jnp.concatenate([jnp.zeros(1), x, jnp.zeros(1)])
    return (3.0 - 2.0 * x) * x - xp[:-2] - 2.0 * xp[2:] + 1.0


def _broyden_banded(x, ml=5, mu=1):
    n = x.shape[0]
    i = np.arange(n)
    band = (np.abs(i[:, None] - i[None, :]) > 0) & (i[None, :] >= i[:, None] - ml)
    band &= i[None, :] <= i[:, None] + mu
    return x * (2.0 + 5.0 * x**2) + 1.0 - jnp.asarray(band, jnp.float64) @ (x * (1.0 + x))


def _linear_full_rank(x, m=10):
    n = x.shape[0]
    s = 2.0 / m * jnp.sum(x)
    return jnp.concatenate([x - s - 1.0, jnp.full(m - n, -s - 1.0)])


def _chebyquad(x):
    n = x.shape[0]
    m = n
    y = 2.0 * x - 1.0
    t_prev, t_cur = jnp.ones_like(x), y
    out = []
    for i in range(1, m + 1):  # shifted Chebyshev polynomials by their recurrence
        integral = 0.0 if i % 2 else -1.0 / (i * i - 1.0)
        out.append(jnp.mean(t_cur) - integral)
        t_prev, t_cur = t_cur, 2.0 * y * t_cur - t_prev
    return jnp.stack(out)


def mgh_problems() -> list[MGHProblem]:
    """The Moré–Garbow–Hillstrom problems used here: those with a documented minimum.

    Problem sizes where the paper leaves them free: Jennrich–Sampson m=10, Gulf
    m=99 (m=100 puts a zero of |y_i - x_2| at the minimizer, where the derivative of
    |.|^x3 in x3 is 0*log 0), Box 3-D m=10, Brown–Dennis m=20, Biggs EXP6 m=13,
    Watson n=6 and 9, extended Rosenbrock n=10, extended Powell n=12, Penalty I and II
    n=4 and 10, the n-dimensional problems 25-31 n=10, linear full rank n=5 m=10,
    Chebyquad n=8 and 10."""
    P = MGHProblem
    ones = np.ones
    probs = [
        P("Rosenbrock", 1, 2, 2, _rosenbrock, np.array([-1.2, 1.0]), 0.0, ones(2)),
        P("Freudenstein–Roth", 2, 2, 2, _freudenstein_roth, np.array([0.5, -2.0]), 0.0,
          np.array([5.0, 4.0]), (48.9842,)),
        P("Powell badly scaled", 3, 2, 2, _powell_badly_scaled, np.array([0.0, 1.0]), 0.0,
          np.array([1.098159e-5, 9.106146])),
        P("Brown badly scaled", 4, 2, 3, _brown_badly_scaled, np.array([1.0, 1.0]), 0.0,
          np.array([1e6, 2e-6])),
        P("Beale", 5, 2, 3, _beale, np.array([1.0, 1.0]), 0.0, np.array([3.0, 0.5])),
        P("Jennrich–Sampson", 6, 2, 10, _jennrich_sampson, np.array([0.3, 0.4]), 124.362,
          np.array([0.2578, 0.2578])),
        P("Helical valley", 7, 3, 3, _helical_valley, np.array([-1.0, 0.0, 0.0]), 0.0,
          np.array([1.0, 0.0, 0.0])),
        P("Bard", 8, 3, 15, _bard, np.array([1.0, 1.0, 1.0]), 8.21487e-3, None, (17.4286,)),
        P("Gaussian", 9, 3, 15, _gaussian, np.array([0.4, 1.0, 0.0]), 1.12793e-8),
        P("Meyer", 10, 3, 16, _meyer, np.array([0.02, 4000.0, 250.0]), 87.9458),
        P("Gulf research", 11, 3, 99, _gulf, np.array([5.0, 2.5, 0.15]), 0.0,
          np.array([50.0, 25.0, 1.5])),
        P("Box 3-D", 12, 3, 10, _box3d, np.array([0.0, 10.0, 20.0]), 0.0, None,
          note="zero at (1,10,1), (10,1,-1) and x1=x2, x3=0"),
        P("Powell singular", 13, 4, 4, _powell_singular, np.array([3.0, -1.0, 0.0, 1.0]), 0.0,
          np.zeros(4)),
        P("Wood", 14, 4, 6, _wood, np.array([-3.0, -1.0, -3.0, -1.0]), 0.0, ones(4)),
        P("Kowalik–Osborne", 15, 4, 11, _kowalik_osborne, np.array([0.25, 0.39, 0.415, 0.39]),
          3.07505e-4, None, (1.02734e-3,)),
        P("Brown–Dennis", 16, 4, 20, _brown_dennis, np.array([25.0, 5.0, -5.0, -1.0]), 85822.2),
        P("Osborne 1", 17, 5, 33, _osborne1, np.array([0.5, 1.5, -1.0, 0.01, 0.02]), 5.46489e-5),
        P("Biggs EXP6", 18, 6, 13, _biggs_exp6, np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0]), 0.0,
          None, (5.65565e-3,), note="zero at (1,10,1,5,4,3) and (4,10,3,5,1,1)"),
        P("Osborne 2", 19, 11, 65, _osborne2,
          np.array([1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5]), 4.01377e-2),
        P("Watson n=6", 20, 6, 31, _watson, np.zeros(6), 2.28767e-3),
        P("Watson n=9", 20, 9, 31, _watson, np.zeros(9), 1.39976e-6),
        P("Extended Rosenbrock n=10", 21, 10, 10, _ext_rosenbrock, np.tile([-1.2, 1.0], 5), 0.0,
          ones(10)),
        P("Extended Powell n=12", 22, 12, 12, _ext_powell, np.tile([3.0, -1.0, 0.0, 1.0], 3),
          0.0, np.zeros(12)),
        P("Penalty I n=4", 23, 4, 5, _penalty1, np.arange(1.0, 5.0), 2.24997e-5),
        P("Penalty I n=10", 23, 10, 11, _penalty1, np.arange(1.0, 11.0), 7.08765e-5),
        P("Penalty II n=4", 24, 4, 8, _penalty2, np.full(4, 0.5), 9.37629e-6),
        P("Penalty II n=10", 24, 10, 20, _penalty2, np.full(10, 0.5), 2.93660e-4),
        P("Variably dimensioned n=10", 25, 10, 12, _variably_dimensioned,
          1.0 - np.arange(1.0, 11.0) / 10.0, 0.0, ones(10)),
        P("Trigonometric n=10", 26, 10, 10, _trigonometric, np.full(10, 0.1), 0.0, None,
          (2.79506e-5,)),
        P("Brown almost-linear n=10", 27, 10, 10, _brown_almost_linear, np.full(10, 0.5), 0.0,
          None, (1.0,), note="zero at (1,...,1) and at (a,...,a,a^(1-n)) for the other root a"),
        P("Discrete boundary value n=10", 28, 10, 10, _discrete_boundary_value,
          (np.arange(1.0, 11.0) / 11.0) * (np.arange(1.0, 11.0) / 11.0 - 1.0), 0.0),
        P("Discrete integral equation n=10", 29, 10, 10, _discrete_integral_equation,
          (np.arange(1.0, 11.0) / 11.0) * (np.arange(1.0, 11.0) / 11.0 - 1.0), 0.0),
        P("Broyden tridiagonal n=10", 30, 10, 10, _broyden_tridiagonal, np.full(10, -1.0), 0.0),
        P("Broyden banded n=10", 31, 10, 10, _broyden_banded, np.full(10, -1.0), 0.0),
        P("Linear full rank n=5 m=10", 32, 5, 10, _linear_full_rank, np.ones(5), 5.0,
          np.full(5, -1.0)),
        P("Chebyquad n=8", 35, 8, 8, _chebyquad, np.arange(1.0, 9.0) / 9.0, 3.51687e-3),
        P("Chebyquad n=10", 35, 10, 10, _chebyquad, np.arange(1.0, 11.0) / 11.0, 6.50395e-3),
    ]  # fmt: skip
    return probs


def start_points(prob: MGHProblem) -> list[tuple[str, np.ndarray]]:
    """x0, 10*x0 and 100*x0; where x0 = 0 (Watson), 10 and 100 times a vector of ones,
    as MINPACK's test driver does."""
    out = [("x0", prob.x0.copy())]
    for k in (10.0, 100.0):
        x = k * prob.x0 if np.any(prob.x0 != 0) else np.full(prob.n, k)
        out.append((f"{k:g}x0", x))
    return out


#: the sum of squares counts as zero at or below this (problems with f* = 0)
ZERO_SUMSQ = 1e-10
#: relative agreement of the sum of squares with f* > 0 (4 significant digits)
FSTAR_RTOL = 1e-4
#: a documented minimizer counts as reached within this, relative to max(1, |x*_j|)
XSTAR_RTOL = 1e-4


def judge_mgh(prob: MGHProblem, x) -> tuple[bool, str]:
    """Is ``x`` a solution of ``prob`` (status ignored), and a short description of where it
    ended: ``("f*", ...)``, ``("local", ...)`` or ``("far", ...)``."""
    x = np.asarray(x, float)
    if x.shape != (prob.n,) or not np.all(np.isfinite(x)):
        return False, "x not finite"
    S = prob.sumsq(x)
    if not np.isfinite(S):
        return False, "f not finite"
    if prob.fstar == 0.0:
        ok = S <= ZERO_SUMSQ
        if not ok and prob.xstar is not None:
            ok = bool(np.all(np.abs(x - prob.xstar) <= XSTAR_RTOL * np.maximum(1, prob.xstar)))
    else:
        # at f*, or below it: Chebyquad n=10 has a minimum 4.77271e-3 below the paper's f*
        ok = S <= prob.fstar * (1.0 + FSTAR_RTOL)
        if S < prob.fstar * (1.0 - FSTAR_RTOL):
            return True, f"f={S:.6g} (below the documented f*)"
    if ok:
        return True, f"f={S:.3g}"
    for fl in prob.other_minima:
        if abs(S - fl) <= 1e-3 * fl:
            return False, f"local min f={S:.4g}"
    if _is_local_min(prob, x, S):
        return False, f"local min f={S:.4g} (checked)"
    return False, f"f={S:.3g}"


#: a point counts as a local minimum of S that the paper does not list where the gradient of S
#: is below this, relative to max(1, S), and its Hessian is positive definite
LOCAL_GRAD_RTOL = 1e-6


def _is_local_min(prob: MGHProblem, x, S) -> bool:
    """Whether ``x`` is a strict local minimizer of the sum of squares (from the exact
    gradient and Hessian of S in float64): a minimum the paper does not document, which every
    local method may end at, depending on its path."""

    def sumsq(z):
        return jnp.sum(prob.residual(z) ** 2)

    z = jnp.asarray(x, jnp.float64)
    g = np.asarray(jax.grad(sumsq)(z))
    H = np.asarray(jax.hessian(sumsq)(z))
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        return False
    eig = np.linalg.eigvalsh(0.5 * (H + H.T))
    return bool(
        np.linalg.norm(g) <= LOCAL_GRAD_RTOL * max(1.0, S)
        and eig[0] > 1e-8 * max(abs(eig[-1]), 1.0)
    )


# ============================================================================
# outcomes
# ============================================================================
TOOLS = [
    "jaxmle trust",
    "jaxmle newton",
    "jaxmle lbfgs",
    "scipy trust-exact",
    "scipy BFGS",
    "scipy least_squares",
    "lmfit leastsq",
    "iminuit",
    "statsmodels",
]


@dataclass
class Outcome:
    tool: str
    case: str  # problem or statistical case
    start: str
    solved: bool
    claimed: bool  # the tool reported success
    iters: float  # iterations (or evaluations; see ITER_UNITS)
    seconds: float
    label: str  # short description for the per-problem table
    local: bool = False  # ended at another local minimum (documented, or checked)

    @property
    def wrong_claim(self) -> bool:
        return self.claimed and not self.solved


#: what each tool's iteration column counts
ITER_UNITS = {
    "jaxmle trust": "trust-region Newton iterations (`n_iter`)",
    "jaxmle newton": "damped Newton iterations (`n_iter`)",
    "jaxmle lbfgs": "L-BFGS iterations (`n_iter`)",
    "scipy trust-exact": "iterations (`nit`)",
    "scipy BFGS": "iterations (`nit`)",
    "scipy least_squares": "Jacobian evaluations (`njev`; about one per iteration)",
    "lmfit leastsq": "residual evaluations (`nfev`, finite-difference Jacobian included)",
    "iminuit": "function calls (`nfcn`, numerical derivatives included)",
    "statsmodels": "iterations (`mle_retvals['iterations']`)",
}


def _status_name(res) -> str:
    return jm.Status(int(res.status)).name


def _short_err(err: BaseException) -> str:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"error {type(err).__name__}: {msg[:60]}"


# ============================================================================
# Part 1 runners
# ============================================================================
def mgh_model(prob: MGHProblem) -> jm.Model:
    """The Gaussian log-likelihood of the residuals with a free sigma."""

    def loglik(p, _):
        return norm.logpdf(prob.residual(p["x"]), 0.0, p["sigma"])

    model = jm.Model(
        loglik, {"x": jm.Real(shape=(prob.n,)), "sigma": jm.Positive()}, name=prob.name
    )
    # m = n residuals: n + 1 free parameters from n "observations"; jaxmle refuses such a
    # dataset by default (it cannot identify them in general), but here sigma -> 0 is the
    # point of the exercise, so allow it.
    if prob.m < prob.n + 1:
        model.min_nobs = 1
    return model


def _sigma0(prob: MGHProblem, x) -> float:
    r = np.asarray(prob.residual(jnp.asarray(x)))
    with np.errstate(all="ignore"):
        s = float(np.sqrt(np.mean(r * r)))
    return s if np.isfinite(s) and s > 0 else 1.0


def run_mgh_jaxmle(prob: MGHProblem, starts, method: str) -> tuple[list[Outcome], float]:
    """jaxmle on one problem from every start; returns the outcomes and the compile time
    (the first call minus a second call from the same start)."""
    tool = f"jaxmle {method}"
    model = mgh_model(prob)
    data = jnp.zeros(prob.m)

    def call(x):
        res = jm.fit(model, data, init={"x": x, "sigma": _sigma0(prob, x)}, method=method)
        return jax.block_until_ready(res)

    out, compile_s = [], float("nan")
    for k, (slabel, x) in enumerate(starts):
        try:
            if k == 0:  # compile
                t0 = time.perf_counter()
                call(x)
                first = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = call(x)
            secs = time.perf_counter() - t0
            if k == 0:
                compile_s = max(first - secs, 0.0)
        except Exception as err:  # noqa: BLE001
            out.append(Outcome(tool, prob.name, slabel, False, False, np.nan, 0.0, _short_err(err)))
            continue
        status = _status_name(res)
        ok_x, where = judge_mgh(prob, res.params["x"])
        sigma = float(res.params["sigma"])
        claimed = status == "CONVERGED"
        if prob.fstar == 0.0:
            # no maximum exists (sigma -> 0): CONVERGED is a false claim even at the right x
            solved = ok_x and not claimed
            if ok_x and claimed:
                where += f", sigma={sigma:.2g} (no maximum exists)"
        else:
            solved = ok_x
        out.append(
            Outcome(
                tool, prob.name, slabel, solved, claimed, int(res.n_iter), secs,
                f"{status} {where}", local=where.startswith("local"),
            )
        )  # fmt: skip
    return out, compile_s


@dataclass
class _JaxFns:
    """The JAX functions the peers use for one problem (jitted, compiled before timing)."""

    r: Callable
    jac: Callable
    f: Callable
    g: Callable
    h: Callable
    compile_s: float


def mgh_jax_fns(prob: MGHProblem) -> _JaxFns:
    r = jax.jit(prob.residual)
    jac = jax.jit(jax.jacfwd(prob.residual))

    def S(x):
        res = prob.residual(x)
        return jnp.sum(res * res)

    f, g, h = jax.jit(S), jax.jit(jax.grad(S)), jax.jit(jax.hessian(S))
    t0 = time.perf_counter()
    x = jnp.asarray(prob.x0, jnp.float64)
    for fn in (r, jac, f, g, h):
        jax.block_until_ready(fn(x))
    return _JaxFns(r, jac, f, g, h, time.perf_counter() - t0)


def _np(fn):
    def wrapped(x):
        return np.asarray(fn(jnp.asarray(x, jnp.float64)))

    return wrapped


def _sc(fn):
    def wrapped(x):
        return float(fn(jnp.asarray(x, jnp.float64)))

    return wrapped


def _mgh_outcome(tool, prob, slabel, x, claimed, iters, secs, extra="") -> Outcome:
    ok, where = judge_mgh(prob, x)
    flag = "success" if claimed else "no success"
    return Outcome(
        tool, prob.name, slabel, ok, bool(claimed), iters, secs,
        f"{flag}{extra} {where}", local=where.startswith("local"),
    )  # fmt: skip


def run_mgh_peer(tool: str, prob: MGHProblem, fns: _JaxFns, slabel: str, x0) -> Outcome:
    import scipy.optimize as so

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if tool in ("scipy trust-exact", "scipy BFGS"):
                method = tool.split()[1]
                kw = {"hess": _np(fns.h)} if method == "trust-exact" else {}
                res = so.minimize(_sc(fns.f), x0, jac=_np(fns.g), method=method, **kw)
                secs = time.perf_counter() - t0
                return _mgh_outcome(tool, prob, slabel, res.x, res.success, res.nit, secs)
            if tool == "scipy least_squares":
                res = so.least_squares(_np(fns.r), x0, jac=_np(fns.jac))
                secs = time.perf_counter() - t0
                return _mgh_outcome(tool, prob, slabel, res.x, res.success, res.njev, secs)
            if tool == "lmfit leastsq":
                import lmfit

                params = lmfit.Parameters()
                for j, v in enumerate(x0):
                    params.add(f"x{j}", value=float(v))
                rfun = _np(fns.r)

                def resid(p):
                    return rfun(np.array([p[f"x{j}"].value for j in range(prob.n)]))

                res = lmfit.minimize(resid, params, method="leastsq")
                secs = time.perf_counter() - t0
                x = np.array([res.params[f"x{j}"].value for j in range(prob.n)])
                return _mgh_outcome(tool, prob, slabel, x, res.success, res.nfev, secs)
            if tool == "iminuit":
                from iminuit import Minuit

                fsc = _sc(fns.f)
                m = Minuit(fsc, np.asarray(x0, float))
                m.errordef = Minuit.LEAST_SQUARES
                m.migrad()
                secs = time.perf_counter() - t0
                return _mgh_outcome(
                    tool, prob, slabel, np.array(m.values), m.fmin.is_valid, m.fmin.nfcn, secs
                )
    except Exception as err:  # noqa: BLE001
        return Outcome(
            tool, prob.name, slabel, False, False, np.nan, time.perf_counter() - t0,
            _short_err(err),
        )  # fmt: skip
    raise ValueError(tool)


MGH_PEERS = ["scipy trust-exact", "scipy BFGS", "scipy least_squares", "lmfit leastsq", "iminuit"]


def run_mgh(problems, starts_of, available: set) -> tuple[list[Outcome], dict]:
    outcomes: list[Outcome] = []
    compile_s = {t: 0.0 for t in TOOLS}
    for prob in problems:
        t0 = time.perf_counter()
        starts = starts_of(prob)
        for method in ("trust", "newton", "lbfgs"):
            outs, comp = run_mgh_jaxmle(prob, starts, method)
            outcomes += outs
            compile_s[f"jaxmle {method}"] += comp
        peers = [t for t in MGH_PEERS if t in available]
        if peers:
            fns = mgh_jax_fns(prob)
            for tool in peers:
                if tool.startswith("scipy"):  # the JAX functions' compile, shared by the peers
                    compile_s[tool] += fns.compile_s
                for slabel, x0 in starts:
                    outcomes.append(run_mgh_peer(tool, prob, fns, slabel, x0))
        mine = [o for o in outcomes if o.case == prob.name]
        summary = " ".join(
            f"{t.split()[-1]}:{sum(o.solved for o in mine if o.tool == t)}"
            for t in TOOLS
            if any(o.tool == t for o in mine)
        )
        log(f"  #{prob.number:<2} {prob.name:<32} {time.perf_counter() - t0:5.1f} s  {summary}")
    return outcomes, compile_s


# ============================================================================
# Part 2: statistical cases
# ============================================================================
@dataclass
class Verdict:
    solved: bool
    label: str


@dataclass
class StatCase:
    """One dataset and model, the same start for every tool, and the rule for a correct
    result: ``judge(params, loglik, claimed, status)`` (``status``: jaxmle's status name, or
    None for a peer, whose ``claimed`` is its success flag)."""

    group: str
    name: str
    model: jm.Model
    data: Any
    init: dict  # constrained starting values, every parameter
    judge: Callable[[dict, float, bool, str | None], Verdict]
    rule: str  # the rule, one line, for the report
    jm_call: Callable[..., Any] | None = None  # jaxmle call (method=...) if not jm.fit(model, ...)
    statsmodels: Callable[[], tuple[dict, float, bool, float]] | None = None
    fit_kwargs: dict = field(default_factory=dict)


#: a result with a log-likelihood this close to the maximum is right (about 0.0045 standard
#: errors along any direction: a gap of d^2/2 for an error of d standard errors)
LL_GAP = 1e-5


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _params_np(params: dict) -> dict:
    return {k: np.asarray(v, float) for k, v in params.items()}


def _flat(params: dict, names) -> np.ndarray:
    return np.concatenate([np.ravel(params[k]) for k in names])


# ------------------------------------------------------------- beta regression
def _beta_case(seed: int, n: int = 100) -> StatCase:
    rng = np.random.default_rng([20240611, seed])
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(-1, 1, size=n)])
    b_true, phi_true = np.array([0.3, -1.2, 0.8]), [5.0, 20.0, 60.0][seed % 3]
    mu = 1.0 / (1.0 + np.exp(-X @ b_true))
    y = rng.beta(mu * phi_true, (1.0 - mu) * phi_true)
    y = np.clip(y, 1e-6, 1 - 1e-6)

    def loglik(p, d):
        m = jax.nn.sigmoid(d["X"] @ p["b"])
        phi = jnp.exp(p["log_phi"])
        return jax.scipy.stats.beta.logpdf(d["y"], m * phi, (1.0 - m) * phi)

    model = jm.Model(loglik, {"b": jm.Real(shape=(3,)), "log_phi": jm.Real()}, name="beta reg")
    data = {"X": X, "y": y}
    init = {"b": np.zeros(3), "log_phi": 0.0}
    ref = _reference_fit(model, data, _sm_beta_start(y, X))

    def judge(params, ll, claimed, status):
        ok = bool(np.isfinite(ll)) and ll >= ref["ll"] - LL_GAP
        return Verdict(ok, f"ll-max={ll - ref['ll']:+.1e}")

    def sm():
        from statsmodels.othermod.betareg import BetaModel

        mod = BetaModel(y, X)
        r = mod.fit(start_params=np.zeros(4), disp=0)
        theta = np.asarray(r.params)
        params = {"b": theta[:3], "log_phi": theta[3]}
        return params, float(r.llf), bool(r.mle_retvals.get("converged", False)), _sm_iters(r)

    return StatCase(
        "beta regression from zeros", f"seed {seed} (phi={phi_true:g})", model, data, init,
        judge, f"loglik within {LL_GAP:g} of the maximum (reference: statsmodels BetaModel's "
        "estimate polished by trust-exact, gtol 1e-10)",
        statsmodels=sm,
    )  # fmt: skip


def _sm_beta_start(y, X):
    """statsmodels BetaModel's own estimate: the start of the reference polish."""
    from statsmodels.othermod.betareg import BetaModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = BetaModel(y, X).fit(disp=0)
    th = np.asarray(r.params)
    return {"b": th[:3], "log_phi": th[3]}


def _sm_iters(r) -> float:
    it = r.mle_retvals.get("iterations", np.nan)
    return float(it) if it is not None else np.nan


def _jax_objective(model: jm.Model):
    """negll(u, data), its gradient and Hessian in the model's unconstrained coordinates
    (jitted; one compile per model and data shape)."""
    cache = getattr(model, "_bench_objective", None)
    if cache is not None:
        return cache

    def negll(u, data):
        return -jnp.sum(model.loglik(model.to_constrained(u), data))

    fns = (jax.jit(negll), jax.jit(jax.grad(negll)), jax.jit(jax.hessian(negll)))
    model._bench_objective = fns
    return fns


def _reference_fit(model, data, start: dict) -> dict:
    """Polish ``start`` by scipy trust-exact with tight tolerance: the reference maximum."""
    import scipy.optimize as so

    f, g, h = _jax_objective(model)
    jd = jax.tree_util.tree_map(jnp.asarray, data)
    u0 = np.asarray(model.to_unconstrained(start))
    res = so.minimize(
        lambda u: float(f(u, jd)), u0, jac=lambda u: np.asarray(g(u, jd)),
        hess=lambda u: np.asarray(h(u, jd)), method="trust-exact", options={"gtol": 1e-10},
    )  # fmt: skip
    params = _params_np(model.to_constrained(jnp.asarray(res.x)))
    return {
        "params": params,
        "theta": _flat(params, model.spec),
        "ll": -float(res.fun),
    }


# ----------------------------------------------------- identical observations
def _identical_case() -> StatCase:
    x = np.full(20, 3.0)
    model = model_for(DISTRIBUTIONS["normal"])

    def judge(params, ll, claimed, status):
        if status is not None:
            ok = status != "CONVERGED"
        else:
            ok = not claimed
        return Verdict(ok, f"loc={float(params['loc']):.6g} scale={float(params['scale']):.2g}")

    return StatCase(
        "identical observations", "normal, x = full(20, 3.0)", model, {"x": x},
        {"loc": 3.0, "scale": 1.0}, judge,
        "no maximum exists (scale -> 0): jaxmle not CONVERGED, a peer not reporting "
        "success",
        jm_call=lambda **m: jm.fit_dist("normal", x, **m),
    )  # fmt: skip


# --------------------------------------------------------- NB near Poisson
def _nb_case(seed: int, n: int = 50) -> StatCase:
    import scipy.optimize as so
    import scipy.stats as st

    rng = np.random.default_rng([20240612, seed])
    y = rng.poisson(3.0, size=n).astype(float)
    ybar = y.mean()
    ll_pois = float(np.sum(st.poisson.logpmf(y, ybar)))
    over = y.var() > ybar  # the NB2 maximum is interior iff the sample is overdispersed
    model = model_for(DISTRIBUTIONS["negative_binomial"])
    init = _params_np(model.default_init({"x": jnp.asarray(y)}, jnp.float64))

    def nb_ll(alpha):
        r = 1.0 / alpha
        return float(np.sum(st.nbinom.logpmf(y, r, r / (r + ybar))))

    if over:  # the mean's MLE is ybar for every alpha: one-dimensional in log alpha
        opt = so.minimize_scalar(
            lambda la: -nb_ll(math.exp(la)), bounds=(-25, 5), method="bounded",
            options={"xatol": 1e-12},
        )  # fmt: skip
        a_ref, ll_ref = math.exp(opt.x), -opt.fun
    else:
        a_ref, ll_ref = 0.0, ll_pois

    def judge(params, ll, claimed, status):
        a = float(params["alpha"])
        lab = f"alpha={a:.3g} ll-llPois={ll - ll_pois:+.2g}"
        if not np.isfinite(ll):
            return Verdict(False, lab)
        if over:
            ok = ll >= ll_ref - LL_GAP
            if status is not None:
                ok = ok and status == "CONVERGED"
        else:
            ok = a < 1e-4 and ll_pois - 1e-3 <= ll <= ll_pois + 1e-9
            if status is not None:
                ok = ok and status in ("BOUNDARY", "CONVERGED")
        return Verdict(ok, lab)

    def sm():
        from statsmodels.discrete.discrete_model import NegativeBinomial

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = NegativeBinomial(y, np.ones((n, 1)), loglike_method="nb2")
            start = np.array([math.log(float(init["mean"])), float(init["alpha"])])
            r = mod.fit(start_params=start, disp=0)
        th = np.asarray(r.params)
        params = {"mean": math.exp(th[0]), "alpha": th[1]}
        return params, float(r.llf), bool(r.mle_retvals.get("converged", False)), _sm_iters(r)

    kind = f"overdispersed, alpha^={a_ref:.3g}" if over else "underdispersed: alpha^ = 0"
    return StatCase(
        "negative binomial on Poisson(3) data", f"seed {seed} ({kind})", model, {"x": y},
        init, judge,
        "underdispersed sample (variance < mean): the supremum is the Poisson fit (alpha -> 0); "
        "alpha tiny (< 1e-4) and loglik within [Poisson max - 1e-3, Poisson max + "
        "1e-9] (jaxmle: status BOUNDARY or CONVERGED), success flag or not; overdispersed: "
        "loglik within "
        f"{LL_GAP:g} of the maximum (a one-dimensional search in log alpha, the mean's MLE "
        "being ybar; jaxmle: CONVERGED)",
        jm_call=lambda **m: jm.fit_dist("negative_binomial", y, **m),
        statsmodels=sm,
    )  # fmt: skip


# ------------------------------------------------------------- huge offsets
def _offset_case(loc: float, scale: float, start: str, n: int = 100) -> StatCase:
    rng = np.random.default_rng([20240613, int(abs(math.log10(abs(loc))))])
    x = loc + rng.normal(0.0, scale, size=n)
    m_ref, s_ref = float(np.mean(x)), float(np.std(x))
    model = model_for(DISTRIBUTIONS["normal"])
    if start == "default":
        init = _params_np(model.default_init({"x": jnp.asarray(x)}, jnp.float64))
    else:
        init = {"loc": 0.0, "scale": 1.0}

    def judge(params, ll, claimed, status):
        lo, sc = float(params["loc"]), float(params["scale"])
        ok = (
            abs(lo - m_ref) <= 1e-6 * abs(m_ref)
            and abs(lo - m_ref) <= 1e-2 * s_ref
            and abs(sc - s_ref) <= 1e-6 * s_ref
            and claimed
        )
        return Verdict(ok, f"loc-mean={lo - m_ref:.2g} scale/std-1={sc / s_ref - 1:.2g}")

    kw = {} if start == "default" else {"init": init}
    return StatCase(
        "huge offsets (normal)", f"{loc:g} + N(0, {scale:g}), start {start}", model, {"x": x},
        init, judge,
        "success claimed (CONVERGED), loc = numpy mean to 1e-6 relative and to 0.01 std, "
        "scale = numpy std (ddof 0) to 1e-6 relative",
        jm_call=lambda **m: jm.fit_dist("normal", x, **kw, **m),
    )  # fmt: skip


# ------------------------------------------------------------- extreme scales
_SCALE_PARAMS = {"loc": 1, "scale": 1, "mean": 1, "rate": -1, "shape": 0}


def _scale_base(n: int = 100) -> np.ndarray:
    rng = np.random.default_rng(20240614)
    return rng.gamma(2.0, 1.0, size=n)


def _scale_case(family: str, k: int, base: np.ndarray, refs: dict) -> StatCase:
    s = 10.0**k
    x = base * s
    model = model_for(DISTRIBUTIONS[family])
    ref = refs[family]  # the unscaled fit
    want = {key: v * s ** _SCALE_PARAMS[key] for key, v in ref.items()}
    init = _params_np(model.default_init({"x": jnp.asarray(x)}, jnp.float64))

    def judge(params, ll, claimed, status):
        errs = [_rel(params[key], want[key]) for key in want]
        worst = max(errs) if all(np.isfinite(errs)) else np.inf
        return Verdict(claimed and worst <= 1e-6, f"max rel err {worst:.1g}")

    return StatCase(
        "extreme scales (gamma sample x 10^k)", f"{family}, k={k:+d}", model, {"x": x}, init,
        judge,
        "success claimed (CONVERGED) and every estimate = the unscaled fit's (jaxmle, "
        "checked against trust-exact) times the scale, to 1e-6 relative",
        jm_call=lambda **m: jm.fit_dist(family, x, **m),
    )  # fmt: skip


def _scale_refs(base: np.ndarray, families) -> dict:
    refs = {}
    for fam in families:
        r = jm.fit_dist(fam, base)
        if _status_name(r) != "CONVERGED":
            raise RuntimeError(f"unscaled {fam} fit did not converge: {_status_name(r)}")
        params = _params_np(r.params)
        model = model_for(DISTRIBUTIONS[fam])
        check = _reference_fit(model, {"x": base}, params)
        if _rel(_flat(params, model.spec), check["theta"]) > 1e-8:
            raise RuntimeError(f"unscaled {fam} fit disagrees with trust-exact: {check}")
        refs[fam] = params
    return refs


# ------------------------------------------------- interval-censored Weibull
def _interval_case(n: int = 100) -> StatCase:
    rng = np.random.default_rng(20240615)
    t = 10.0 * rng.weibull(1.5, size=n)
    width = 4.0
    lo = np.floor(t / width) * width  # lo = 0 for the first inspection interval
    hi = lo + width

    def loglik(p, d):
        rho, lam = p["rho"], p["lam"]
        return jnp.log(jnp.exp(-((d["lo"] / lam) ** rho)) - jnp.exp(-((d["hi"] / lam) ** rho)))

    model = jm.Model(loglik, {"rho": jm.Positive(), "lam": jm.Positive()}, name="ic weibull")
    data = {"lo": lo, "hi": hi}
    built_in = jm.fit_dist("weibull", lower=lo, upper=hi)
    start = {"rho": float(built_in.params["shape"]), "lam": float(built_in.params["scale"])}
    ref = _reference_fit_safe_weibull(lo, hi, start)
    init = {"rho": 1.0, "lam": float(np.median(hi))}

    def judge(params, ll, claimed, status):
        theta = np.array([float(params["rho"]), float(params["lam"])])
        ok = bool(np.isfinite(ll)) and ll >= ref["ll"] - LL_GAP
        return Verdict(ok, f"rho={theta[0]:.5g} lam={theta[1]:.5g}")

    return StatCase(
        "interval-censored Weibull, lo = 0 in a user model", f"n={n}, intervals of {width:g}",
        model, data, init, judge,
        f"loglik within {LL_GAP:g} of the maximum (reference: "
        "jm.fit_dist('weibull', lower=, upper=) polished by trust-exact on a form safe at lo = 0)"
        ". At lo = 0 the user's (lo/lam)**rho has a finite gradient (JAX guards the "
        "derivative of 0**rho in rho) but a NaN Hessian (its lam row) for rho < 2",
    )  # fmt: skip


def _reference_fit_safe_weibull(lo, hi, start) -> dict:
    import scipy.optimize as so

    pos = lo > 0
    lo_s = np.where(pos, lo, 1.0)

    def negll(u):
        rho, lam = jnp.exp(u[0]), jnp.exp(u[1])
        a = jnp.where(pos, jnp.exp(rho * (jnp.log(lo_s) - jnp.log(lam))), 0.0)
        b = jnp.exp(rho * (jnp.log(hi) - jnp.log(lam)))
        return -jnp.sum(jnp.log(jnp.exp(-a) - jnp.exp(-b)))

    f, g, h = jax.jit(negll), jax.jit(jax.grad(negll)), jax.jit(jax.hessian(negll))
    u0 = np.log([start["rho"], start["lam"]])
    res = so.minimize(
        lambda u: float(f(u)), u0, jac=lambda u: np.asarray(g(u)),
        hess=lambda u: np.asarray(h(u)), method="trust-exact", options={"gtol": 1e-10},
    )  # fmt: skip
    return {"theta": np.exp(res.x), "ll": -float(res.fun)}


# ------------------------------------------------------------- separation
def _separation_case(kind: str, n: int = 40) -> StatCase:
    rng = np.random.default_rng(20240616)
    z = rng.normal(size=n)
    X = np.column_stack([np.ones(n), z, rng.normal(size=n)])
    y = (z > 0).astype(float)
    if kind == "quasi-complete":  # ties at the threshold: both outcomes at z = 0
        X[:4, 1] = 0.0
        y[:4] = [0.0, 1.0, 0.0, 1.0]
    model = jm.models.LogisticRegression(3)
    data = {"X": X, "y": y}

    def judge(params, ll, claimed, status):
        b = np.asarray(params["beta"], float)
        lab = f"b_z={b[1]:.3g} ll={ll:.2g}"
        if status is not None:
            return Verdict(status == "BOUNDARY", lab)
        return Verdict(not claimed, lab)

    def sm():
        from statsmodels.discrete.discrete_model import Logit

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = Logit(y, X).fit(start_params=np.zeros(3), disp=0)
        return (
            {"beta": np.asarray(r.params)}, float(r.llf),
            bool(r.mle_retvals.get("converged", False)), _sm_iters(r),
        )  # fmt: skip

    return StatCase(
        "separation in logistic regression", f"{kind} separation, n={n}", model, data,
        {"beta": np.zeros(3)}, judge,
        "no maximum exists (a coefficient runs to infinity): jaxmle status BOUNDARY, a "
        "peer not reporting success",
        statsmodels=sm,
    )  # fmt: skip


SCALE_FAMILIES = ("normal", "gamma", "exponential", "weibull")


def stat_cases(quick: bool = False) -> list[StatCase]:
    """Every statistical case (a few of each in ``quick`` mode)."""
    cases = []
    seeds = range(1) if quick else range(3)
    cases += [_beta_case(s) for s in seeds]
    cases.append(_identical_case())
    cases += [_nb_case(s) for s in (range(2) if quick else range(6))]
    offsets = [(1e9, 1e-3)] if quick else [(1e9, 1e-3), (1e12, 1.0), (1e6, 1e-6)]
    for loc, scale in offsets:
        for start in ("default", "(0, 1)"):
            cases.append(_offset_case(loc, scale, start))
    base = _scale_base()
    fams = SCALE_FAMILIES[:2] if quick else SCALE_FAMILIES
    refs = _scale_refs(base, fams)
    ks = (-300, 300) if quick else (-300, -150, 150, 300)
    for fam in fams:
        for k in ks:
            cases.append(_scale_case(fam, k, base, refs))
    cases.append(_interval_case())
    cases += [_separation_case(k) for k in ("complete", "quasi-complete")]
    return cases


STAT_PEERS = ["scipy trust-exact", "scipy BFGS", "iminuit", "statsmodels"]


def run_stat_jaxmle(case: StatCase, method: str) -> tuple[Outcome, float]:
    tool = f"jaxmle {method}"
    jd = jax.tree_util.tree_map(jnp.asarray, case.data)

    def call():
        if method != "lbfgs" and case.jm_call is not None:
            return jax.block_until_ready(case.jm_call(method=method))
        init = case.init
        return jax.block_until_ready(
            jm.fit(case.model, jd, init=init, method=method, nan_policy="propagate")
        )

    try:
        t0 = time.perf_counter()
        call()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = call()
        secs = time.perf_counter() - t0
    except Exception as err:  # noqa: BLE001
        return Outcome(tool, case.group, case.name, False, False, np.nan, 0.0, _short_err(err)), 0.0
    status = _status_name(res)
    v = case.judge(_params_np(res.params), float(res.loglik), status == "CONVERGED", status)
    return (
        Outcome(tool, case.group, case.name, v.solved, status == "CONVERGED", int(res.n_iter),
                secs, f"{status} {v.label}"),
        max(first - secs, 0.0),
    )  # fmt: skip


def run_stat_peer(tool: str, case: StatCase) -> Outcome | None:
    import scipy.optimize as so

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if tool == "statsmodels":
                if case.statsmodels is None:
                    return None
                params, _, claimed, iters = case.statsmodels()
                secs = time.perf_counter() - t0
                ll = _loglik_of(case, params)
                v = case.judge(_params_np(params), ll, claimed, None)
                return Outcome(tool, case.group, case.name, v.solved, claimed, iters, secs,
                               f"{'success' if claimed else 'no success'} {v.label}")  # fmt: skip
            f, g, h = _jax_objective(case.model)
            jd = jax.tree_util.tree_map(jnp.asarray, case.data)
            u0 = np.asarray(case.model.to_unconstrained(case.init), float)
            if not np.all(np.isfinite(u0)):
                return Outcome(tool, case.group, case.name, False, False, np.nan, 0.0,
                               "start not finite")  # fmt: skip

            def fv(u):
                return float(f(jnp.asarray(u), jd))

            def gv(u):
                return np.asarray(g(jnp.asarray(u), jd))

            def hv(u):
                return np.asarray(h(jnp.asarray(u), jd))

            if tool in ("scipy trust-exact", "scipy BFGS"):
                method = tool.split()[1]
                kw = {"hess": hv} if method == "trust-exact" else {}
                res = so.minimize(fv, u0, jac=gv, method=method, **kw)
                u, claimed, iters, fval = res.x, bool(res.success), res.nit, res.fun
            elif tool == "iminuit":
                from iminuit import Minuit

                m = Minuit(fv, u0)
                m.errordef = Minuit.LIKELIHOOD
                m.migrad()
                u, claimed, iters = np.array(m.values), bool(m.fmin.is_valid), m.fmin.nfcn
                fval = m.fval
            else:
                return None
            secs = time.perf_counter() - t0
            params = _params_np(case.model.to_constrained(jnp.asarray(u)))
            v = case.judge(params, -float(fval), claimed, None)
            return Outcome(tool, case.group, case.name, v.solved, claimed, iters, secs,
                           f"{'success' if claimed else 'no success'} {v.label}")  # fmt: skip
    except Exception as err:  # noqa: BLE001
        return Outcome(tool, case.group, case.name, False, False, np.nan,
                       time.perf_counter() - t0, _short_err(err))  # fmt: skip


def _loglik_of(case: StatCase, params: dict) -> float:
    """The case's log-likelihood at ``params`` (every tool's estimate is judged by the same
    function: statsmodels' own ``llf`` differed from it by up to 1e-5 for BetaModel)."""
    p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
    jd = jax.tree_util.tree_map(jnp.asarray, case.data)
    return float(jnp.sum(case.model.loglik(p, jd)))


def _warm_objective(case: StatCase) -> float:
    """Compile the peers' JAX objective for this case (untimed for the peers; reported)."""
    f, g, h = _jax_objective(case.model)
    jd = jax.tree_util.tree_map(jnp.asarray, case.data)
    u0 = jnp.asarray(case.model.to_unconstrained(case.init))
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        for fn in (f, g, h):
            jax.block_until_ready(fn(u0, jd))
    return time.perf_counter() - t0


def run_stats(cases, available: set) -> tuple[list[Outcome], dict]:
    outcomes: list[Outcome] = []
    compile_s = {t: 0.0 for t in TOOLS}
    for case in cases:
        t0 = time.perf_counter()
        for method in ("trust", "newton", "lbfgs"):
            o, comp = run_stat_jaxmle(case, method)
            outcomes.append(o)
            compile_s[o.tool] += comp
        comp = _warm_objective(case)
        for tool in STAT_PEERS:
            if tool not in available:
                continue
            if tool.startswith("scipy"):
                compile_s[tool] += comp
            o = run_stat_peer(tool, case)
            if o is not None:
                outcomes.append(o)
        mine = [o for o in outcomes if o.case == case.group and o.start == case.name]
        summary = " ".join(f"{o.tool.split()[-1]}:{'ok' if o.solved else '-'}" for o in mine)
        log(f"  {case.group[:34]:<34} {case.name[:40]:<40} {time.perf_counter() - t0:5.1f} s  "
            f"{summary}")  # fmt: skip
    return outcomes, compile_s


# ============================================================================
# report
# ============================================================================
def _versions() -> list[str]:
    import jaxlib

    out = [f"jax {jax.__version__}", f"jaxlib {jaxlib.__version__}", f"jaxmle {jm.__version__}"]
    out.append(f"numpy {np.__version__}")
    for mod in ("scipy", "statsmodels", "lmfit", "iminuit", "optax"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            out.append(f"{mod} (not installed)")
    return out


def _git_state() -> str:
    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=_REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "jaxmle")
    return f"`{head}`" + (" with uncommitted changes in jaxmle/" if dirty else "")


def machine_info() -> list[str]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return [
        f"- Code: git commit {_git_state()}",
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- Machine: {platform.platform()}; CPU: {cpu or 'unknown'}; "
        f"{os.cpu_count()} logical CPUs, {usable} usable by this process",
        f"- Python {platform.python_version()}; {', '.join(_versions())}",
        f"- JAX backend: {jax.default_backend()}; float64 (`jax_enable_x64=True`) for every tool",
    ]


def _median(xs) -> float:
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.median(xs)) if xs else float("nan")


def summary_rows(outcomes: list[Outcome], compile_s: dict, tools) -> list[str]:
    L = [
        "| Tool | Solved | Reported success but wrong | (of which at another local minimum: "
        "documented, or checked) | Median iterations (solved) | Time (s) | Compile (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool in tools:
        mine = [o for o in outcomes if o.tool == tool]
        if not mine:
            continue
        solved = sum(o.solved for o in mine)
        wrong = sum(o.wrong_claim for o in mine)
        local = sum(o.wrong_claim and o.local for o in mine)
        it = _median([o.iters for o in mine if o.solved])
        secs = sum(o.seconds for o in mine)
        comp = compile_s.get(tool, 0.0)
        L.append(
            f"| {tool} | {solved}/{len(mine)} | {wrong} | {local} | "
            f"{'—' if not np.isfinite(it) else f'{it:g}'} | {secs:.2f} | "
            f"{f'{comp:.1f}' if comp else '—'} |"
        )
    return L


def _cell(o: Outcome | None) -> str:
    if o is None:
        return "—"
    it = "" if not np.isfinite(o.iters) else f" [{o.iters:g}]"
    text = f"{o.label}{it}".replace("|", "/")
    if o.solved:
        return f"ok: {text}"
    if o.wrong_claim:
        return f"**WRONG**: {text}"
    return f"no: {text}"


def per_problem_table(outcomes, keys, tools, head=("Problem", "Start")) -> list[str]:
    tools = [t for t in tools if any(o.tool == t for o in outcomes)]
    L = [f"| {head[0]} | {head[1]} | " + " | ".join(tools) + " |"]
    L.append("|---|---|" + "---|" * len(tools))
    index = {(o.tool, o.case, o.start): o for o in outcomes}
    for case, start in keys:
        cells = [_cell(index.get((t, case, start))) for t in tools]
        L.append(f"| {case} | {start} | " + " | ".join(cells) + " |")
    return L


def report(mgh_out, mgh_comp, stat_out, stat_comp, problems, cases, args, skipped, total) -> str:
    L = ["# Robustness benchmark: jaxmle beside its peers", ""]
    mode = "quick subset" if args.quick else "full run"
    flag = " --quick" if args.quick else ""
    L.append(f"Command: `python bench/robustness.py{flag}`; {mode}, total wall time {total:.0f} s")
    L.append("")
    L += machine_info()
    if skipped:
        L.append(f"- Peers skipped (not installed): {', '.join(skipped)}")
    L.append("")
    L.append(
        "Every tool runs with its default settings (tolerances, iteration limits) from the "
        "same start. **Solved**: the answer is right by the rules below. **Reported success "
        "but wrong**: the tool said it succeeded (jaxmle: status `CONVERGED`; scipy: "
        "`res.success`; lmfit: `success`; iminuit: `fmin.is_valid`; statsmodels: "
        "`mle_retvals['converged']`) and the answer is not right. A run that fails without "
        "claiming success is neither. **Median iterations**: over the solved runs, in each "
        "tool's own unit (below). **Time**: the sum over the runs, compilation excluded; "
        "**Compile**: JAX compilation (jaxmle: its first call on each problem minus a second "
        "call from the same start; scipy rows: compiling the JAX objective, gradient, Hessian "
        "and Jacobian the scipy peers share, counted once per scipy row). lmfit and iminuit "
        "call the same jitted JAX functions as scipy (compiled beforehand)."
    )
    L.append("")

    # ---------------------------------------------------------------- part 1
    n_runs = len({(o.case, o.start) for o in mgh_out})
    L.append(f"## 1. Moré–Garbow–Hillstrom problems ({len(problems)} problems, {n_runs} runs)")
    L.append("")
    L += summary_rows(mgh_out, mgh_comp, TOOLS)
    L.append("")
    zero = {p.name for p in problems if p.fstar == 0.0}
    L.append("Solved, by kind of problem and by start:")
    L.append("")
    starts = []
    for o in mgh_out:
        if o.start not in starts:
            starts.append(o.start)
    L.append("| Tool | f\\* = 0 | f\\* > 0 | " + " | ".join(f"from {s}" for s in starts) + " |")
    L.append("|---|---:|---:|" + "---:|" * len(starts))
    for tool in TOOLS:
        mine = [o for o in mgh_out if o.tool == tool]
        if not mine:
            continue

        def frac(sel):
            return f"{sum(o.solved for o in sel)}/{len(sel)}"

        cells = [
            frac([o for o in mine if o.case in zero]),
            frac([o for o in mine if o.case not in zero]),
        ] + [frac([o for o in mine if o.start == s]) for s in starts]
        L.append(f"| {tool} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("### Rules")
    L.append("")
    L.append(
        "- Problems (Moré, Garbow & Hillstrom 1981, ACM TOMS 7(1), 17-41): those whose "
        "minimum value is documented, residuals written in `jax.numpy` from the paper's "
        "definitions, each run from x0, 10·x0 and 100·x0 (where x0 = 0, Watson: 10 and 100 "
        "times a vector of ones, as in MINPACK's test driver). Sizes: "
        + "; ".join(f"#{p.number} {p.name} (n={p.n}, m={p.m})" for p in problems)
        + "."
    )
    L.append(
        "- **jaxmle** fits the residuals as a Gaussian log-likelihood with a free sigma: "
        "`loglik(p, _) = norm.logpdf(r(p['x']), 0, p['sigma'])`, "
        "`jm.Model(loglik, {'x': jm.Real(shape=(n,)), 'sigma': jm.Positive()})`, "
        "`jm.fit(model, jnp.zeros(m), init={'x': x0, 'sigma': s0})` with "
        "s0 = sqrt(mean r(x0)^2) (1 where that is 0 or not finite). Where m < n + 1 the model "
        "allows fewer observations than free parameters (`model.min_nobs = 1`; jaxmle refuses "
        "such a dataset by default). The peers minimize the sum of squares S(x) = sum r(x)^2: "
        "scipy `minimize(method='trust-exact')` with the JAX gradient and Hessian of S, "
        "`minimize(method='BFGS')` with the JAX gradient, `least_squares` (trf) with the JAX "
        "Jacobian, lmfit `minimize(method='leastsq')` (MINPACK's lmdif, finite-difference "
        "Jacobian), iminuit `Migrad` on S (`errordef = 1`, numerical derivatives)."
    )
    L.append(
        f"- **f\\* > 0**: solved when S(x) matches f\\* to relative {FSTAR_RTOL:g} (4 significant "
        "digits), or is below it (Chebyquad n=10 has a minimum S = 4.77271e-3, x in [0, 1], "
        "below the paper's 6.50395e-3; runs ending there are marked *below the documented "
        "f\\**). The maximum likelihood exists there (sigma^2 = f\\*/m), so jaxmle's status is "
        "not part of the rule. A run ending at another documented local minimum (Bard 17.4286, "
        "Kowalik–Osborne 1.02734e-3, Freudenstein–Roth 48.9842, Biggs EXP6 5.65565e-3, "
        "Trigonometric 2.79506e-5, Brown almost-linear 1), or at a local minimum the paper does "
        "not list (*checked*: the exact gradient of S below "
        f"{LOCAL_GRAD_RTOL:g}·max(1, S) and its exact Hessian positive definite, the same check "
        "for every tool), is not solved; with a success claim it counts as reported success but "
        "wrong, in the *of which* column: a local method ends at such a minimum or not "
        "depending on its path, and a success claim there is true of a local maximum of the "
        "likelihood."
    )
    L.append(
        "- Gulf research's 10·x0 = (50, 25, 1.5) is its minimizer: every tool starts at the "
        "answer there (S = 7.8e-31, rounding)."
    )
    L.append(
        f"- **f\\* = 0**: x is right when S(x) <= {ZERO_SUMSQ:g}, or x is within relative "
        f"{XSTAR_RTOL:g} of the documented minimizer. For the peers that is the rule. For "
        "jaxmle the Gaussian likelihood has no maximum there: as x approaches the minimizer, "
        "sigma -> 0 and the log-likelihood -> +infinity. The correct jaxmle outcome is x "
        "right and a status that does not claim a maximum (`BOUNDARY` for sigma at the edge "
        "of its constraint, or `MAX_ITER`/`STALLED` with the residuals at ~0). jaxmle is "
        "solved when x is right **and** the status is not `CONVERGED`; `CONVERGED` there "
        "(x right or not) counts as reported success but wrong, because it claims an interior "
        "maximum with finite standard errors where none exists."
    )
    L.append(
        "- Stopping rules are each tool's defaults. iminuit's Migrad stops when its estimated "
        "distance to the minimum EDM < 0.002 · tol · errordef = 2e-4 in units of S "
        "(errordef = 1, tol = 0.1): a rule for a chi-square resolved to a fraction of one "
        "unit, which does not aim at S <= 1e-10 nor at four digits of a small f\\*. scipy "
        "trust-exact stops at a gradient norm below 1e-8 and BFGS below 1e-5, least_squares "
        "and lmfit on relative changes of about 1e-8 (ftol, xtol; least_squares' gtol 1e-8, "
        "lmfit's 0)."
    )
    limits = {m: jm.optimize.make_solver(m).max_iter for m in ("trust", "newton", "lbfgs")}
    L.append(
        "- jaxmle's runs on f\\* = 0 problems that end `MAX_ITER` count the iteration limit "
        f"({limits['trust']} for trust, {limits['newton']} for newton, {limits['lbfgs']} for "
        "lbfgs: the defaults), which weighs on its median: the "
        "log-likelihood keeps growing as sigma -> 0, so the solver has no stationary point to "
        "stop at."
    )
    L.append(
        "- Iteration units: "
        + "; ".join(f"{t}: {u}" for t, u in ITER_UNITS.items() if t != "statsmodels")
        + "."
    )
    L.append("")
    fails = [o for o in mgh_out if o.tool == "jaxmle trust" and not o.solved]
    L.append("### Where jaxmle's default method (trust) is not solved")
    L.append("")
    if fails:
        L.append("| Problem | Start | Outcome [iterations] |")
        L.append("|---|---|---|")
        for o in fails:
            L.append(f"| {o.case} | {o.start} | {_cell(o)} |")
    else:
        L.append("None.")
    L.append("")
    L += _boundary_note(mgh_out, "run", "runs")
    L.append("### Per problem")
    L.append("")
    L.append(
        "Each cell: ok / no / **WRONG** (reported success but wrong), jaxmle's status or the "
        "peer's success flag, where it ended (S(x), or the local minimum), [iterations]."
    )
    L.append("")
    keys = []
    for o in mgh_out:
        if (o.case, o.start) not in keys:
            keys.append((o.case, o.start))
    L += per_problem_table(mgh_out, keys, [t for t in TOOLS if t != "statsmodels"])
    L.append("")

    # ---------------------------------------------------------------- part 2
    n_stat = len({(o.case, o.start) for o in stat_out})
    L.append(f"## 2. Statistical cases ({n_stat} datasets)")
    L.append("")
    L += summary_rows(stat_out, stat_comp, [t for t in TOOLS if t not in MGH_ONLY])
    L.append("")
    L.append("### Cases and rules")
    L.append("")
    L.append(
        "Every tool starts from the same point (the case's `init`, on the model's "
        "unconstrained scale for the peers). jaxmle trust and newton run `jm.fit_dist` where "
        "the case is a family (as a user would), else `jm.fit(model, data, init=...)`; jaxmle "
        "lbfgs runs `jm.fit(model, data, init=..., method='lbfgs')` on the same model. The scipy "
        "rows minimize the negative log-likelihood of the same jaxmle model in its "
        "unconstrained coordinates (log of a positive parameter) with the JAX gradient "
        "(and Hessian for trust-exact); iminuit runs Migrad on it (`errordef = 0.5`). "
        "statsmodels runs where it has the model: `BetaModel` (start zeros), "
        "`NegativeBinomial` (nb2, from the same start), `Logit` (start zeros). "
        "least_squares and lmfit need residuals and are not run here. Migrad (errordef = 0.5) "
        "stops at EDM < 1e-4 log-likelihood units, so it may stop short of the "
        f"{LL_GAP:g} the rules below ask. The scipy peers' derivatives are JAX's derivatives "
        "of the model's log-density: for data scaled by 10^±150 or more, the Hessian in the "
        "log of a scale parameter (and sometimes the gradient) overflows to inf or NaN at "
        "the start (trust-exact then stops with a `ValueError`)."
    )
    L.append("")
    seen = []
    for c in cases:
        if c.group in seen:
            continue
        seen.append(c.group)
        names = ", ".join(x.name for x in cases if x.group == c.group)
        L.append(f"- **{c.group}** ({names}). Right: {c.rule}.")
    L.append("")
    fails = [o for o in stat_out if o.tool == "jaxmle trust" and not o.solved]
    L.append("### Where jaxmle's default method (trust) is not right")
    L.append("")
    if fails:
        L.append("| Case | Dataset | Outcome [iterations] |")
        L.append("|---|---|---|")
        for o in fails:
            L.append(f"| {o.case} | {o.start} | {_cell(o)} |")
    else:
        L.append("None.")
    L.append("")
    L += _boundary_note(
        [o for o in stat_out if o.case not in NO_MAXIMUM_GROUPS],
        "dataset that has a maximum",
        "datasets that have a maximum",
    )
    L.append("### Per case")
    L.append("")
    keys = []
    for o in stat_out:
        if (o.case, o.start) not in keys:
            keys.append((o.case, o.start))
    L += per_problem_table(
        stat_out, keys, [t for t in TOOLS if t not in MGH_ONLY], ("Case", "Dataset")
    )
    L.append("")
    return "\n".join(L)


MGH_ONLY = ("scipy least_squares", "lmfit leastsq")
#: statistical cases where no maximum exists (BOUNDARY is the right status there)
NO_MAXIMUM_GROUPS = ("identical observations", "separation in logistic regression")


def _boundary_note(outcomes, one: str, many: str) -> list[str]:
    """jaxmle runs that ended BOUNDARY without being right: a status that says the maximum
    lies on the edge of a constraint, where it does not (not counted as a success claim)."""
    L = []
    for tool in ("jaxmle trust", "jaxmle newton", "jaxmle lbfgs"):
        bad = [
            o for o in outcomes
            if o.tool == tool and not o.solved and o.label.startswith("BOUNDARY")
        ]  # fmt: skip
        if bad:
            runs = "; ".join(f"{o.case} ({o.start})" for o in bad)
            noun = many if len(bad) > 1 else one
            L.append(
                f"- {tool} ended `BOUNDARY` without the right answer on {len(bad)} {noun} "
                f"(a status claiming the maximum is on the edge of a constraint; not counted as "
                f"a success claim): {runs}."
            )
    if L:
        L.append("")
    return L


def available_peers() -> tuple[set, list[str]]:
    avail, skipped = set(TOOLS[:2]), []
    for tool, mod in [
        ("scipy trust-exact", "scipy"),
        ("scipy BFGS", "scipy"),
        ("scipy least_squares", "scipy"),
        ("lmfit leastsq", "lmfit"),
        ("iminuit", "iminuit"),
        ("statsmodels", "statsmodels"),
    ]:
        try:
            __import__(mod)
            avail.add(tool)
        except ImportError:
            skipped.append(f"{tool} (no {mod})")
    return avail, skipped


QUICK_PROBLEMS = ("Rosenbrock", "Freudenstein–Roth", "Bard", "Meyer", "Powell singular")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a small subset (smoke test)")
    ap.add_argument(
        "--out",
        default=os.path.join(_REPO, "bench", "RESULTS-robustness.md"),
        help="markdown file to write (default bench/RESULTS-robustness.md)",
    )
    args = ap.parse_args(argv)
    avail, skipped = available_peers()
    if skipped:
        log("skipping peers that are not installed: " + ", ".join(skipped))
    t_start = time.perf_counter()
    problems = mgh_problems()
    if args.quick:
        problems = [p for p in problems if p.name in QUICK_PROBLEMS]

    def starts_of(p):
        s = start_points(p)
        return s[:2] if args.quick else s

    log(f"== Part 1: {len(problems)} MGH problems")
    mgh_out, mgh_comp = run_mgh(problems, starts_of, avail)
    log("== Part 2: statistical cases")
    cases = stat_cases(args.quick)
    stat_out, stat_comp = run_stats(cases, avail)
    total = time.perf_counter() - t_start
    md = report(mgh_out, mgh_comp, stat_out, stat_comp, problems, cases, args, skipped, total)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(md + "\n")
    log(f"\nwrote {args.out} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        traceback.print_exc()
        sys.exit(130)
