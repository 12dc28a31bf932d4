"""The solver protocol and its implementations.

The trust-region subproblem is checked against its optimality conditions (Moré and Sorensen
1983: ``q`` is a global minimizer of ``b'q + q'Sq/2`` over ``|q| <= radius`` if and only if
``(S + mu I) q = -b`` with ``S + mu I`` positive semidefinite, ``mu >= 0`` and
``mu (|q| - radius) = 0``) and against a brute-force search over the disc; the solvers are
driven through the protocol by hand and must take the same iterations as the drivers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmle.optimize import (
    LBFGS,
    SOLVERS,
    DampedNewton,
    Solver,
    TrustRegion,
    make_solver,
    newton,
    newton_batch,
    steihaug_step,
    trust_region_step,
)


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def _sym(rng, p, lo, hi):
    q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    return q @ np.diag(np.linspace(lo, hi, p)) @ q.T


def _model(S, b, q):
    return float(b @ q + 0.5 * q @ S @ q)


def _check_optimality(S, b, radius, q, mu):
    q, mu = np.asarray(q), float(mu)
    p = len(b)
    assert mu >= 0
    assert np.linalg.norm(q) <= radius * (1 + 1e-10)
    np.testing.assert_allclose((S + mu * np.eye(p)) @ q, -b, atol=1e-9 * (1 + np.abs(b).max()))
    assert np.linalg.eigvalsh(S + mu * np.eye(p)).min() >= -1e-9
    assert mu * abs(np.linalg.norm(q) - radius) <= 1e-9 * radius * (1 + mu)


@pytest.mark.parametrize(
    "kind,radius",
    [("definite", 100.0), ("definite", 0.1), ("indefinite", 1.0), ("indefinite", 10.0)],
)
@pytest.mark.parametrize("p", [2, 3, 6])
def test_trust_region_step_is_the_global_minimizer(rng, kind, radius, p):
    S = _sym(rng, p, 0.5, 4.0) if kind == "definite" else _sym(rng, p, -2.0, 3.0)
    b = rng.normal(size=p)
    q, mu, newton_step, pd = jax.jit(trust_region_step)(
        jnp.asarray(S), jnp.asarray(b), jnp.asarray(radius)
    )
    assert bool(pd) == (kind == "definite")
    _check_optimality(S, b, radius, q, mu)
    if kind == "definite":
        np.testing.assert_allclose(newton_step, np.linalg.solve(S, -b), rtol=1e-10)
    if p == 2:  # brute force over the disc: no point does better
        t = np.linspace(0, 2 * np.pi, 2001)
        r = np.linspace(0, radius, 201)
        pts = (r[:, None, None] * np.stack([np.cos(t), np.sin(t)], -1)[None]).reshape(-1, 2)
        best = np.min(np.einsum("i,ni->n", b, pts) + 0.5 * np.einsum("ni,ij,nj->n", pts, S, pts))
        assert _model(S, b, np.asarray(q)) <= best + 1e-9


def test_trust_region_step_in_the_hard_case():
    # b has no component along the eigenvector of the negative eigenvalue: the step is
    # -(S + 2 I)^-1 b completed to the boundary along that eigenvector
    S = np.diag([-2.0, 1.0, 3.0])
    b = np.array([0.0, 1.0, 1.0])
    q, mu, _, pd = trust_region_step(jnp.asarray(S), jnp.asarray(b), 2.0)
    assert not bool(pd)
    np.testing.assert_allclose(float(mu), 2.0, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(q), 2.0, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(q)[1:], [-1.0 / 3.0, -1.0 / 5.0], rtol=1e-6)
    assert abs(float(q[0])) > 1.9  # negative curvature used, not damped away


def test_along_a_zero_eigenvalue_the_step_stays_the_shortest():
    # a parameter identified only through a sum: S singular, b orthogonal to its null
    # direction (1, -1); nothing is gained along that direction, so the step does not wander
    # along it to the boundary: it is the minimum-norm solution of S q = -b
    S = np.array([[1.0, 1.0], [1.0, 1.0]])
    b = np.array([1.0, 1.0])
    q, mu, _, pd = trust_region_step(jnp.asarray(S), jnp.asarray(b), 10.0)
    assert not bool(pd)
    np.testing.assert_allclose(q, [-0.5, -0.5], rtol=1e-10)
    assert float(mu) < 1e-10


def _plan_at(H, g, x):
    solver = TrustRegion()
    state = solver.init(lambda v: jnp.sum(v**2), (), jnp.asarray(x))._replace(
        g=jnp.asarray(g), H=jnp.asarray(H), fresh=jnp.asarray(False)
    )
    return solver.plan(state)


def test_first_radius(rng):
    # positive definite: the Newton step, in the scaled coordinates, is the first radius
    H = _sym(rng, 3, 1.0, 2.0)
    g = rng.normal(size=3) * 100
    # (x large: the scale is sqrt|H_ii|, the gradient over |x| being smaller)
    plan, need = _plan_at(H, g, np.full(3, 1e3))
    d = np.sqrt(np.diag(H))
    np.testing.assert_allclose(float(plan.radius), np.linalg.norm(d * np.linalg.solve(H, -g)))
    assert bool(plan.newton_only) and not bool(need)
    # indefinite: the Cauchy step (the minimum of the model along the gradient), at least 1
    H = np.array([[2.0, 3.0], [3.0, 2.0]])
    g = np.array([40.0, -10.0])
    plan, need = _plan_at(H, g, np.full(2, 1e3))
    b = g / np.sqrt(2.0)
    S = H / 2.0
    assert b @ S @ b > 0
    np.testing.assert_allclose(float(plan.radius), np.linalg.norm(b) ** 3 / (b @ S @ b))
    assert bool(need) and not bool(plan.pd)
    # no positive curvature along the gradient: the gradient's length
    g = np.array([10.0, -10.0])
    plan, _ = _plan_at(H, g, np.full(2, 1e3))
    assert (g / np.sqrt(2.0)) @ S @ (g / np.sqrt(2.0)) < 0
    np.testing.assert_allclose(float(plan.radius), np.linalg.norm(g / np.sqrt(2.0)))


def test_steihaug_step(rng):
    S = _sym(rng, 5, 0.5, 4.0)
    b = rng.normal(size=5)
    q, mu, newton_step, pd = steihaug_step(jnp.asarray(S), jnp.asarray(b), 100.0)
    assert bool(pd) and float(mu) == 0.0
    # inside: an inexact Newton step, to the forcing tolerance min(0.5, sqrt|b|) |b|
    nb = np.linalg.norm(b)
    assert np.linalg.norm(S @ np.asarray(q) + b) <= min(0.5, np.sqrt(nb)) * nb + 1e-12
    np.testing.assert_array_equal(newton_step, q)
    # a tiny gradient: the forcing tolerance is tight and the step Newton's
    q, *_ = steihaug_step(jnp.asarray(S), jnp.asarray(b * 1e-8), 100.0)
    np.testing.assert_allclose(q, np.linalg.solve(S, -b * 1e-8), rtol=1e-3)
    # a short radius: on the boundary, and at least the decrease of the Cauchy point
    q, *_ = steihaug_step(jnp.asarray(S), jnp.asarray(b), 0.05)
    np.testing.assert_allclose(np.linalg.norm(q), 0.05, rtol=1e-10)
    cauchy = -0.05 * b / np.linalg.norm(b)
    assert _model(S, b, np.asarray(q)) <= _model(S, b, cauchy) + 1e-15
    # negative curvature: to the boundary
    Sn = _sym(rng, 5, -2.0, 3.0)
    q, _, _, pd = steihaug_step(jnp.asarray(Sn), jnp.asarray(b), 2.0)
    np.testing.assert_allclose(np.linalg.norm(q), 2.0, rtol=1e-10)
    assert _model(Sn, b, np.asarray(q)) < 0


def _rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize("solver", [TrustRegion(), DampedNewton(), LBFGS()], ids=repr)
def test_the_protocol_by_hand_equals_the_driver(solver):
    """init, plan (extra where it asks), step, terminate, postprocess: the driver's loop."""
    x0 = jnp.array([-1.2, 1.0])
    state = solver.init(lambda x: _rosenbrock(x), (), x0)
    steps = 0
    while not bool(solver.terminate(state)):
        plan, need = solver.plan(state)
        extra = solver.extra(plan) if bool(need) else solver.no_extra(plan)
        state = solver.step(lambda x: _rosenbrock(x), (), state, plan, extra)
        steps += 1
    by_hand = solver.postprocess(lambda x: _rosenbrock(x), (), state)
    driven = newton(_rosenbrock, x0, solver=solver)
    assert isinstance(solver, Solver) and steps > 0
    assert bool(by_hand.converged) and bool(driven.converged)
    assert int(by_hand.n_iter) == int(driven.n_iter)
    np.testing.assert_allclose(by_hand.x, driven.x, rtol=1e-12)
    np.testing.assert_allclose(driven.x, [1.0, 1.0], rtol=1e-6)  # the known minimizer


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_every_named_solver_minimizes_a_batch(name):
    f = lambda x, a: jnp.sum((x - a) ** 2) + jnp.exp(x[0])  # noqa: E731
    a = jnp.array([1.0, 2.0, 3.0])
    r = newton_batch(f, jnp.zeros((3, 2)), (a,), solver=name)
    assert r.converged.tolist() == [True, True, True]
    # x0 solves 2 (x0 - a) + exp(x0) = 0; x1 = a
    x0 = np.asarray(r.x[:, 0])
    np.testing.assert_allclose(2 * (x0 - np.asarray(a)) + np.exp(x0), 0.0, atol=1e-8)
    np.testing.assert_allclose(r.x[:, 1], a, rtol=1e-8)


def test_make_solver():
    assert make_solver() == TrustRegion()
    assert make_solver("newton", max_iter=7) == DampedNewton(max_iter=7)
    assert make_solver("lbfgs").max_iter == 1000
    s = TrustRegion(max_iter=5)
    assert make_solver(s) is s
    with pytest.raises(ValueError, match="one of"):
        make_solver("bfgs")
    with pytest.raises(ValueError, match="solver object"):
        make_solver(s, max_iter=3)
    assert hash(TrustRegion(tol=1e-9)) == hash(TrustRegion(tol=1e-9))
    assert TrustRegion() != DampedNewton()


def test_trust_region_uses_negative_curvature_at_a_saddle():
    # start exactly at a saddle of f = x^2 - y^2 + y^4 / 4 with a zero gradient along y: the
    # trust region leaves along the negative curvature and finds a minimum (y = +-sqrt 2);
    # the gradient is not zero, x is not at its minimum, so the solver must move
    f = lambda v: (v[0] - 1.0) ** 2 - v[1] ** 2 + v[1] ** 4 / 4  # noqa: E731
    r = newton(f, jnp.array([0.0, 1e-8]))
    assert bool(r.converged)
    np.testing.assert_allclose(np.abs(np.asarray(r.x)), [1.0, np.sqrt(2.0)], rtol=1e-8)
