"""Small-matrix linear algebra written out: Cholesky solves, products, the diagonal.

A fit has a handful of parameters, and under ``vmap`` a batched LAPACK call or
matrix product on thousands of 2x2 or 5x5 matrices costs more than the
arithmetic: for ``p <= SMALL`` the factorization, the triangular solves and the
products are unrolled into elementwise operations, which XLA fuses across the
batch (the factor is never assembled into an array). Larger matrices use
``jnp.linalg`` and ``@``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["SMALL", "cholesky_solve", "diag", "matmul", "matvec"]

#: largest dimension whose factorization is unrolled
SMALL = 8


def _factor(A):
    """The lower Cholesky factor of a small ``A`` as nested lists of scalars (NaN where ``A``
    is not positive definite)."""
    p = A.shape[-1]
    L = [[None] * p for _ in range(p)]
    zero = jnp.zeros((), A.dtype)
    for j in range(p):
        s = A[j, j] - sum((L[j][k] ** 2 for k in range(j)), zero)
        d = jnp.sqrt(jnp.where(s > 0, s, jnp.nan))
        L[j][j] = d
        for i in range(j + 1, p):
            L[i][j] = (A[i, j] - sum((L[i][k] * L[j][k] for k in range(j)), zero)) / d
    return L


def _substitute(L, b):
    """Solve ``(L L^T) x = b`` with ``L`` as nested lists (``b`` a vector or columns)."""
    p = len(L)
    y = [None] * p
    for i in range(p):
        acc = b[i]
        for k in range(i):
            acc = acc - L[i][k] * y[k]
        y[i] = acc / L[i][i]
    x = [None] * p
    for i in reversed(range(p)):
        acc = y[i]
        for k in range(i + 1, p):
            acc = acc - L[k][i] * x[k]
        x[i] = acc / L[i][i]
    return jnp.stack(x)


def cholesky_solve(A: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Solve ``A x = b`` for a symmetric ``A`` by Cholesky: ``(x, pivots)``, the pivots the
    diagonal of the factor (NaN where ``A`` is not positive definite). For a small ``A`` the
    factor is never assembled into an array, which keeps the whole solve one fused loop.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle._linalg import cholesky_solve
        >>> x, piv = cholesky_solve(jnp.array([[4.0, 2.0], [2.0, 2.0]]), jnp.array([6.0, 4.0]))
        >>> x.tolist(), piv.tolist()
        ([1.0, 1.0], [2.0, 1.0])
    """
    p = A.shape[-1]
    if p > SMALL:
        L = jnp.linalg.cholesky(A)
        return jax.scipy.linalg.cho_solve((L, True), b), jnp.diagonal(L)
    L = _factor(A)
    return _substitute(L, b), jnp.stack([L[i][i] for i in range(p)])


def matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ b`` for 2-d ``a`` and ``b``; for small ones as a broadcast product and a sum, which
    XLA fuses with its neighbours under ``vmap`` (a batched dot of thousands of 4x4 matrices
    is a library call per matrix on CPU).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle._linalg import matmul
        >>> matmul(jnp.array([[1.0, 2.0]]), jnp.array([[3.0], [4.0]])).tolist()
        [[11.0]]
    """
    if max(a.shape + b.shape) > SMALL:
        return a @ b
    return jnp.sum(a[:, :, None] * b[None, :, :], axis=1)


def matvec(a: jax.Array, x: jax.Array) -> jax.Array:
    """``a @ x`` for a 2-d ``a`` and a vector ``x`` (a broadcast product and a sum when small).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle._linalg import matvec
        >>> matvec(jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([1.0, 1.0])).tolist()
        [3.0, 7.0]
    """
    if max(a.shape) > SMALL:
        return a @ x
    return jnp.sum(a * x[None, :], axis=1)


def diag(a: jax.Array) -> jax.Array:
    """The diagonal of a square matrix; for a small one from static slices (``jnp.diag`` is a
    gather, which XLA does not fuse with its neighbours under ``vmap``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle._linalg import diag
        >>> diag(jnp.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
        [1.0, 4.0]
    """
    p = a.shape[-1]
    if p > SMALL:
        return jnp.diagonal(a)
    return jnp.stack([a[i, i] for i in range(p)])
