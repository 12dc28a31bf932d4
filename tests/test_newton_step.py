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
from jaxmle.optimize import DampedNewton, damped_step, newton


@pytest.fixture
def rng():
    """Each test's own generator: the same data in every run and every subset of the tests."""
    return np.random.default_rng(7)


def _spd(rng, p, cond=10.0):
    q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    return q @ np.diag(np.geomspace(1.0, cond, p)) @ q.T


@pytest.mark.parametrize("p", [1, 2, 4, 8, 9])
def test_small_linear_algebra_matches_numpy(rng, p):
    A = _spd(rng, p)
    b = rng.normal(size=p)
    B = rng.normal(size=(p, 3))
    x, piv = cholesky_solve(jnp.asarray(A), jnp.asarray(b))
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-12)
    np.testing.assert_allclose(piv, np.diag(np.linalg.cholesky(A)), rtol=1e-13)
    X, _ = cholesky_solve(jnp.asarray(A), jnp.asarray(B))  # columns solved together
    np.testing.assert_allclose(X, np.linalg.solve(A, B), rtol=1e-12)
    # products: within p eps |A| |b|, twice the rigorous rounding bound of a dot product of
    # length p (gamma_p |A| |b|, gamma_p ~ p eps / 2); a relative tolerance fails on entries
    # that cancel. Measured at most 0.4 of it.
    bound = lambda M: p * np.finfo(float).eps * (np.abs(A) @ np.abs(M))
    assert np.all(np.abs(np.asarray(matmul(jnp.asarray(A), jnp.asarray(B))) - A @ B) <= bound(B))
    assert np.all(np.abs(np.asarray(matvec(jnp.asarray(A), jnp.asarray(b))) - A @ b) <= bound(b))
    np.testing.assert_array_equal(diag(jnp.asarray(A)), np.diag(A))


def test_cholesky_of_an_indefinite_matrix_has_a_nan_pivot():
    _, piv = cholesky_solve(jnp.array([[1.0, 2.0], [2.0, 1.0]]), jnp.ones(2))
    assert np.isnan(np.asarray(piv)).any()


def _reference_step(g, H, lam):
    d = np.sqrt(np.abs(np.diag(H)))
    S = H / np.outer(d, d)
    return np.linalg.solve(S + lam * np.eye(len(g)), -g / d) / d


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_step_on_a_positive_definite_hessian(rng, lam):
    H, g = _spd(rng, 4), rng.normal(size=4)
    p, lam_used, ok, newton, pd = jax.jit(damped_step)(jnp.asarray(g), jnp.asarray(H), lam)
    assert bool(ok) and bool(pd) and float(lam_used) == lam
    np.testing.assert_allclose(p, _reference_step(g, H, lam), rtol=1e-12)
    np.testing.assert_allclose(newton, np.linalg.solve(H, -g), rtol=1e-12)


def test_indefinite_hessian_without_damping_takes_the_gershgorin_step():
    H = np.array([[2.0, 3.0, 0.0], [3.0, 2.0, 0.5], [0.0, 0.5, 1.0]])  # eigenvalues -1.1, ...
    g = np.array([1.0, -2.0, 0.5])
    p, lam_used, ok, newton, pd = jax.jit(damped_step)(jnp.asarray(g), jnp.asarray(H), 0.0)
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
    p, lam_used, ok, newton, pd = jax.jit(damped_step)(jnp.asarray(g), jnp.asarray(H), 0.1)
    assert bool(ok) and not bool(pd)
    lam_safe = float(lam_used)
    # the scale: sqrt(max(|H_ii|, |g_i| / max(|x_i|, 1))) at x = 0, i.e. sqrt([1, 2]); S is H
    # scaled by it, and the safe damping at least S's Gershgorin bound max_i(sum_j!=i |S_ij|
    # - S_ii) = 3 / sqrt(2) - 1/2
    d = np.sqrt(np.maximum(np.abs(np.diag(H)), np.abs(g)))
    S = H / np.outer(d, d)
    gershgorin = np.max(np.sum(np.abs(S), axis=1) - 2 * np.diag(S))
    assert lam_safe > gershgorin > 1.6
    np.testing.assert_allclose(p, -g / d / (1.0 + lam_safe) / d, rtol=1e-14)
    assert float(g @ np.asarray(p)) < 0


@pytest.mark.parametrize("lam", [0.0, 0.1])
@pytest.mark.parametrize("want_newton", [False, True])
@pytest.mark.parametrize("kind", ["definite", "indefinite"])
def test_second_factorization_is_skipped_only_where_nothing_reads_it(rng, lam, want_newton, kind):
    """Through the protocol: ``plan`` says whether the step needs ``extra`` (the second
    factorization); where it does not, the step taken with ``no_extra`` is the full one."""
    indefinite = np.array([[1.0, 3.0, 0.0], [3.0, 1.0, 0.2], [0.0, 0.2, 2.0]])
    H = _spd(rng, 3) if kind == "definite" else indefinite
    g = rng.normal(size=3)
    full = jax.jit(damped_step)(jnp.asarray(g), jnp.asarray(H), lam)
    solver = DampedNewton()
    f = lambda x: jnp.sum(x**2)  # noqa: E731  (only the step is compared)
    state = solver.init(f, (), jnp.zeros(3))._replace(
        g=jnp.asarray(g), H=jnp.asarray(H), damping=jnp.asarray(lam), fresh=jnp.asarray(False),
        start_ok=jnp.asarray(True), rejected=jnp.asarray(want_newton),
    )  # fmt: skip
    plan, need = solver.plan(state)
    # the second solve is needed for the safe step (lam = 0, H indefinite) and for the
    # undamped step where it is wanted (lam > 0, H positive definite: after a rejection)
    expected = (lam == 0.0 and kind == "indefinite") or (
        lam > 0 and kind == "definite" and want_newton
    )
    assert bool(need) == expected
    stepped = solver.step(f, (), state, plan, solver.extra(plan))
    np.testing.assert_allclose(stepped.step, full[0], rtol=1e-14)  # (jit against eager)
    if need:
        return
    skipped = solver.step(f, (), state, plan, solver.no_extra(plan))
    np.testing.assert_array_equal(skipped.step, stepped.step)
    np.testing.assert_array_equal(skipped.damping, stepped.damping)


def _true_hessian_or_nan(f, r):
    """The Hessian the solver returns is the true one at its x, or not finite where that is
    not: never one made up from a point nearby, nor one with its non-finite entries
    replaced."""
    true = np.asarray(jax.hessian(f)(r.x))
    if np.all(np.isfinite(true)):
        np.testing.assert_allclose(r.hess, true, rtol=1e-14, atol=1e-14)
    else:
        assert not np.all(np.isfinite(np.asarray(r.hess))), r.hess
    return true


def test_non_finite_hessian_entries_at_the_start():
    # f = (x0 - 1)^2 / 2 + (x1 + 2)^2 / 2 + |x0|^1.5: at the start x0 = 0, f and g are finite
    # but d2f/dx0^2 is infinite (and jax.hessian gives NaN beside it). Honest outcomes: stop
    # at once with a non-finite start, or step through to the minimum, x0 = 1/4 (sqrt(x0) =
    # (-1.5 + 2.5) / 2), with the Hessian there 1 + 0.75 / sqrt(x0) = 2.5 (measured exact to
    # 2.2e-16); never CONVERGED elsewhere.
    f = lambda x: 0.5 * (x[0] - 1) ** 2 + 0.5 * (x[1] + 2) ** 2 + jnp.abs(x[0]) ** 1.5
    assert not np.all(np.isfinite(np.asarray(jax.hessian(f)(jnp.zeros(2)))))
    r = newton(f, jnp.zeros(2))
    if bool(r.nonfinite):
        assert not bool(r.converged)
        np.testing.assert_array_equal(r.x, [0.0, 0.0])
    else:
        assert bool(r.converged) and not bool(r.stalled)
        np.testing.assert_allclose(r.x, [0.25, -2.0], rtol=1e-14)
        np.testing.assert_allclose(r.hess, [[2.5, 0.0], [0.0, 1.0]], rtol=1e-14, atol=1e-14)
    _true_hessian_or_nan(f, r)


def test_non_finite_hessian_at_the_minimum_is_never_returned():
    # f = (x1 + 2)^2 / 2 + |x0|^1.5: the minimum x0 = 0 has an infinite curvature. The
    # solver ends there with a NaN Hessian, or short of it with the true Hessian at its
    # point: no standard error is made up from a point where the curvature is not finite
    f = lambda x: 0.5 * (x[1] + 2) ** 2 + jnp.abs(x[0]) ** 1.5
    r = newton(f, jnp.array([0.3, 0.0]))
    np.testing.assert_allclose(float(r.x[1]), -2.0, rtol=1e-14)
    true = _true_hessian_or_nan(f, r)
    if not np.all(np.isfinite(true)):
        assert float(r.x[0]) == 0.0


def test_newton_converges_on_a_convex_function_whose_steps_overshoot():
    # convex, minimum where 1.5 sqrt(-x) = 0.1: x = -(0.1 / 1.5)^2
    r = newton(lambda x: jnp.abs(x[0]) ** 1.5 + 0.1 * x[0], jnp.array([2.0]))
    assert bool(r.converged)
    np.testing.assert_allclose(float(r.x[0]), -((0.1 / 1.5) ** 2), rtol=1e-10)
