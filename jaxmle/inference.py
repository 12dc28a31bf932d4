"""Inference at the optimum: information, covariance, delta method, intervals, criteria.

All functions are pure and traceable; they work on one dataset and batch with
``vmap``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import jax
import jax.numpy as jnp

from ._linalg import cholesky_solve, diag, matmul

__all__ = [
    "COV_TYPES",
    "scaled_cholesky_inverse",
    "delta_method",
    "sandwich",
    "z_value",
    "two_sided_p",
    "two_sided_p_t",
    "t_value",
    "f_sf",
]

#: the covariances the fit's kernel computes; :mod:`jaxmle.covariance` adds the others
COV_TYPES = ("observed", "robust", "opg")


def singular_threshold(dtype) -> float:
    """Smallest squared Cholesky pivot of a unit-diagonal matrix taken as non-singular."""
    return 1e3 * float(jnp.finfo(dtype).eps)


def scaled_cholesky_inverse(A: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Invert a symmetric positive definite matrix through its diagonally scaled Cholesky.

    ``A = D S D`` with ``D = sqrt(diag A)``; ``S`` (unit diagonal) is factored,
    which makes the result independent of the units of each coordinate. A
    matrix that is not positive definite, or whose scaled form has a pivot
    below the dtype's threshold (numerically singular), gives NaN and
    ``ok=False``.

    Returns:
        ``(inverse, ok)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.inference import scaled_cholesky_inverse
        >>> inv, ok = scaled_cholesky_inverse(jnp.array([[4.0, 0.0], [0.0, 1e-6]]))
        >>> bool(ok), float(inv[1, 1])
        (True, 1000000.0)
    """
    dtype = A.dtype
    a_ii = diag(A)
    pos = a_ii > 0
    d = jnp.sqrt(jnp.where(pos, a_ii, 1.0))
    S = A / (d[:, None] * d[None, :])
    Sinv, piv = cholesky_solve(S, jnp.eye(A.shape[0], dtype=dtype))
    # (a NaN pivot, where S is not positive definite, fails the comparison)
    ok = jnp.all(pos) & jnp.all(jnp.isfinite(Sinv)) & jnp.all(piv**2 > singular_threshold(dtype))
    inv = Sinv / (d[:, None] * d[None, :])
    inv = jnp.where(ok, inv, jnp.nan)
    return inv, ok


def sandwich(bread_inv: jax.Array, scores: jax.Array, weights: jax.Array) -> jax.Array:
    """Robust (HC0) covariance ``I^-1 (sum_i w_i s_i s_i^T) I^-1`` from per-observation scores."""
    meat = (scores * weights[:, None]).T @ scores
    return matmul(matmul(bread_inv, meat), bread_inv)


def delta_method(jac: jax.Array, cov_free: jax.Array) -> jax.Array:
    """Covariance of ``g(u)`` from that of ``u``: ``J cov J^T``."""
    return matmul(matmul(jac, cov_free), jac.T)


def z_value(level: float) -> float:
    """Two-sided standard-normal critical value (a host float), e.g. 1.959964 for 0.95.

    Example:
        >>> from jaxmle.inference import z_value
        >>> round(z_value(0.95), 6)
        1.959964
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def two_sided_p(z):
    """Two-sided p-value of a standard-normal statistic."""
    return jax.scipy.special.erfc(jnp.abs(z) / math.sqrt(2.0))


def _finite_df(df):
    df = jnp.asarray(df, float)
    finite = jnp.isfinite(df) & (df > 0)
    return finite, jnp.where(finite, df, 1.0)


def two_sided_p_t(t, df):
    """Two-sided p-value of a Student-t statistic with ``df`` degrees of freedom (an
    array; ``inf`` or ``None`` is the normal).

    Example:
        >>> from jaxmle.inference import two_sided_p_t
        >>> round(float(two_sided_p_t(2.2281388519649385, 10.0)), 6)
        0.05
    """
    if df is None:
        return two_sided_p(t)
    t = jnp.asarray(t)
    finite, d = _finite_df(df)
    x = d / (d + jnp.where(jnp.isfinite(t), t, 0.0) ** 2)
    p_t = jnp.where(jnp.isfinite(t), jax.scipy.special.betainc(0.5 * d, 0.5, x), 0.0)
    return jnp.where(finite, p_t, two_sided_p(t))


def t_value(level: float, df):
    """Two-sided Student-t critical value for ``level`` (``df`` an array; ``inf`` or
    ``None``: the normal's :func:`z_value`), by bisection on :func:`two_sided_p_t`.

    Example:
        >>> from jaxmle.inference import t_value
        >>> round(float(t_value(0.95, 10.0)), 6)
        2.228139
    """
    z = z_value(level)
    if df is None:
        return z
    finite, d = _finite_df(df)
    alpha = 1.0 - level

    def step(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = two_sided_p_t(jnp.exp(mid), d) > alpha  # the quantile is larger than exp(mid)
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo = jnp.full(jnp.shape(d), math.log(z), d.dtype)  # t's quantile is above the normal's
    hi = jnp.full(jnp.shape(d), math.log(1e8), d.dtype)
    lo, hi = jax.lax.fori_loop(0, 100, step, (lo, hi))
    return jnp.where(finite, jnp.exp(0.5 * (lo + hi)), z)


def f_sf(x, d1: int, d2):
    """Upper tail ``P(F_{d1, d2} > x)`` of Fisher's F (``d2`` an array; ``inf`` or ``None``:
    ``chi2_{d1} / d1``).

    Example:
        >>> from jaxmle.inference import f_sf
        >>> round(float(f_sf(4.9646027437307145, 1, 10.0)), 6)
        0.05
    """
    x = jnp.maximum(jnp.asarray(x), 0.0)
    chi2 = jax.scipy.special.gammaincc(d1 / 2.0, d1 * x / 2.0)
    if d2 is None:
        return chi2
    finite, d = _finite_df(d2)
    p_f = jax.scipy.special.betainc(0.5 * d, 0.5 * d1, d / (d + d1 * x))
    return jnp.where(finite, p_f, chi2)
