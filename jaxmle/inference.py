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
]

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
