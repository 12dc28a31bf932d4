"""The damped Newton step and the small-matrix helpers it is built from, against numpy.

The step solves ``(S + lam I) q = -D^-1 g`` (``S`` the Hessian scaled to a unit diagonal by
``D``) with two factorizations: with ``lam = 0`` the damped step is the undamped one and the
second factorization gives the safe step (Gershgorin damping) where ``H`` is indefinite; with
``lam > 0`` the second gives the undamped step, and where the damped solve fails the safe step
is the scaled gradient step.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmle._linalg import cholesky_solve, diag, matmul, matvec
from jaxmle.optimize import _damped_step

RNG = np.random.default_rng(7)


def _spd(p, cond=10.0):
    q, _ = np.linalg.qr(RNG.normal(size=(p, p)))
    return q @ np.diag(np.geomspace(1.0, cond, p)) @ q.T


@pytest.mark.parametrize("p", [1, 2, 4, 8, 9])
def test_small_linear_algebra_matches_numpy(p):
    A = _spd(p)
    b = RNG.normal(size=p)
    B = RNG.normal(size=(p, 3))
    x, piv = cholesky_solve(jnp.asarray(A), jnp.asarray(b))
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-12)
    np.testing.assert_allclose(piv, np.diag(np.linalg.cholesky(A)), rtol=1e-13)
    X, _ = cholesky_solve(jnp.asarray(A), jnp.asarray(B))  # columns solved together
    np.testing.assert_allclose(X, np.linalg.solve(A, B), rtol=1e-12)
    np.testing.assert_allclose(matmul(jnp.asarray(A), jnp.asarray(B)), A @ B, rtol=1e-14)
    np.testing.assert_allclose(matvec(jnp.asarray(A), jnp.asarray(b)), A @ b, rtol=1e-14)
    np.testing.assert_array_equal(diag(jnp.asarray(A)), np.diag(A))


def test_cholesky_of_an_indefinite_matrix_has_a_nan_pivot():
    _, piv = cholesky_solve(jnp.array([[1.0, 2.0], [2.0, 1.0]]), jnp.ones(2))
    assert np.isnan(np.asarray(piv)).any()


def _reference_step(g, H, lam):
    d = np.sqrt(np.abs(np.diag(H)))
    S = H / np.outer(d, d)
    return np.linalg.solve(S + lam * np.eye(len(g)), -g / d) / d


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_step_on_a_positive_definite_hessian(lam):
    H, g = _spd(4), RNG.normal(size=4)
    p, lam_used, ok, newton, pd = jax.jit(_damped_step)(jnp.asarray(g), jnp.asarray(H), lam)
    assert bool(ok) and bool(pd) and float(lam_used) == lam
    np.testing.assert_allclose(p, _reference_step(g, H, lam), rtol=1e-12)
    np.testing.assert_allclose(newton, np.linalg.solve(H, -g), rtol=1e-12)


def test_indefinite_hessian_without_damping_takes_the_gershgorin_step():
    H = np.array([[2.0, 3.0, 0.0], [3.0, 2.0, 0.5], [0.0, 0.5, 1.0]])  # eigenvalues -1.1, ...
    g = np.array([1.0, -2.0, 0.5])
    p, lam_used, ok, newton, pd = jax.jit(_damped_step)(jnp.asarray(g), jnp.asarray(H), 0.0)
    assert bool(ok) and not bool(pd)
    lam_safe = float(lam_used)
    d = np.sqrt(np.diag(H))
    S = H / np.outer(d, d)
    assert np.all(np.linalg.eigvalsh(S + lam_safe * np.eye(3)) > 0)
    np.testing.assert_allclose(p, _reference_step(g, H, lam_safe), rtol=1e-12)
    assert float(g @ np.asarray(p)) < 0  # a descent direction
    np.testing.assert_array_equal(newton, p)  # no undamped step where H is indefinite


def test_indefinite_hessian_with_damping_takes_the_scaled_gradient_step():
    H = np.array([[1.0, 3.0], [3.0, 1.0]])  # S + 0.1 I is indefinite too
    g = np.array([1.0, 2.0])
    p, lam_used, ok, newton, pd = jax.jit(_damped_step)(jnp.asarray(g), jnp.asarray(H), 0.1)
    assert bool(ok) and not bool(pd)
    lam_safe = float(lam_used)
    assert lam_safe > 2.0  # at least the Gershgorin bound of S (off-diagonal 3, diagonal 1)
    d = np.sqrt(np.diag(H))
    np.testing.assert_allclose(p, -g / d / (1.0 + lam_safe) / d, rtol=1e-14)
    assert float(g @ np.asarray(p)) < 0


@pytest.mark.parametrize("lam", [0.0, 0.1])
@pytest.mark.parametrize("want_newton", [False, True])
@pytest.mark.parametrize("kind", ["definite", "indefinite"])
def test_second_factorization_is_skipped_only_where_nothing_reads_it(lam, want_newton, kind):
    from jaxmle.optimize import _combine, _first_solve, _needs_second_solve, _no_second_solve

    indefinite = np.array([[1.0, 3.0, 0.0], [3.0, 1.0, 0.2], [0.0, 0.2, 2.0]])
    H = _spd(3) if kind == "definite" else indefinite
    g = RNG.normal(size=3)
    full = jax.jit(_damped_step)(jnp.asarray(g), jnp.asarray(H), lam)
    st = _first_solve(jnp.asarray(g), jnp.asarray(H), jnp.asarray(lam))
    need = bool(_needs_second_solve(st, jnp.asarray(want_newton)))
    # the second solve is needed for the safe step (lam = 0, H indefinite) and for the
    # undamped step where it is wanted (lam > 0, H positive definite)
    expected = (lam == 0.0 and kind == "indefinite") or (
        lam > 0 and kind == "definite" and want_newton
    )
    assert need == expected
    if need:
        return
    p, lam_used, ok, newton, pd = _combine(st, *_no_second_solve(st))
    np.testing.assert_allclose(p, full[0], rtol=1e-14)  # (jit against eager: rounding)
    assert float(lam_used) == float(full[1]) and bool(ok) == bool(full[2])
    if want_newton or lam == 0.0:
        np.testing.assert_allclose(newton, full[3], rtol=1e-14)
        assert bool(pd) == bool(full[4])


def test_curvature_along_the_step_flags_a_non_finite_hessian():
    """The solver checks the new Hessian through p^T H p: non-finite wherever an entry of H is,
    even where p is zero there (0 * inf is NaN), under the solver's compile options."""
    from jaxmle._compile import XLA_OPTIONS_F64

    curv = jax.jit(lambda p, H: jnp.dot(p, matvec(H, p)), compiler_options=XLA_OPTIONS_F64)
    p = jnp.array([0.0, 1.0, 0.5])
    for bad in [np.inf, -np.inf, np.nan]:
        for i, j in [(0, 0), (0, 2), (1, 1)]:
            H = np.eye(3)
            H[i, j] = bad
            assert not np.isfinite(float(curv(p, jnp.asarray(H))))
    assert float(curv(p, jnp.eye(3))) == 1.25
