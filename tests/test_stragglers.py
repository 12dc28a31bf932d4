"""Stragglers: a chunk's first pass ends once only a few datasets are unfinished, and those few
are resumed (from where they were, counting their iterations) in a smaller compiled bucket; the
results equal one-at-a-time fits."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NORMAL

import jaxmle as jm
from jaxmle.optimize import LBFGS, DampedNewton, TrustRegion, newton, newton_batch

FIT = sys.modules["jaxmle.fit"]


def test_newton_batch_leaves_few_members_behind_and_equals_newton():
    f = lambda x, a: jnp.sum(jnp.cosh(x - a))  # noqa: E731
    a = jnp.array([0.5, 1.0, -0.5, 1.5, 40.0, 0.0, 2.0, -1.0])  # member 4 starts far away
    x0 = jnp.zeros((8, 1))
    full = newton_batch(f, x0, (a,))
    early = newton_batch(f, x0, (a,), allowed=1, patience=2)
    one = [newton(lambda x, ai=ai: f(x, ai), x0[0]) for ai in a]
    assert bool(jnp.all(full.converged))
    for i, r in enumerate(one):
        assert int(full.n_iter[i]) == int(r.n_iter)
        np.testing.assert_allclose(full.x[i], r.x, rtol=1e-14)
    # the far member is left unfinished, the others are exactly as before
    assert not bool(early.converged[4]) and not bool(early.stalled[4])
    assert int(early.n_iter[4]) < int(full.n_iter[4])
    others = np.arange(8) != 4
    np.testing.assert_array_equal(np.asarray(early.x)[others], np.asarray(full.x)[others])
    # resumed from there, counting its iterations, it ends where the full run ended
    more = newton(lambda x: f(x, a[4]), early.x[4], iter0=early.n_iter[4])
    assert bool(more.converged)
    np.testing.assert_allclose(more.x, full.x[4], rtol=1e-12)


def test_fit_batch_resumes_stragglers_and_equals_fit(monkeypatch):
    rng = np.random.default_rng(7)
    X = rng.normal(1.0, 2.0, size=(128, 20))
    hard = [5, 77]
    X[hard] = 3e4 + 0.01 * rng.standard_normal((2, 20))
    # the others start at their moments (a few iterations), these two far away (many)
    init = {"mu": X.mean(axis=1), "sigma": X.std(axis=1)}
    init["mu"][hard], init["sigma"][hard] = 0.0, 1.0

    passes = []
    real = FIT._kernel_chunk

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        passes.append((int(args[-1]), np.asarray(out.status), np.asarray(out.n_iter)))
        return out

    monkeypatch.setattr(FIT, "_kernel_chunk", spy)
    batch = jm.fit_batch(NORMAL, X, chunk_size=128, init=init)
    # first pass: two datasets allowed behind; they left it unfinished, before its cap
    (allowed, status, n_iter), (_, resumed_status, _) = passes
    assert allowed == 2
    assert set(np.flatnonzero(status == jm.Status.MAX_ITER)) == set(hard)
    assert np.all(n_iter[hard] < FIT.STRAGGLER_ITER)
    assert np.all(resumed_status[:2] == jm.Status.CONVERGED)

    for i in [*hard, 0, 1, 64]:
        one = jm.fit(NORMAL, X[i], init={k: v[i] for k, v in init.items()})
        assert int(batch.status[i]) == int(one.status) == jm.Status.CONVERGED
        for k in ("mu", "sigma"):
            np.testing.assert_allclose(batch.params[k][i], one.params[k], rtol=1e-9)
            np.testing.assert_allclose(batch.se[k][i], one.se[k], rtol=1e-7)
        np.testing.assert_allclose(batch.loglik[i], one.loglik, rtol=1e-12)
    # the iteration counts add up over the two passes
    assert np.all(np.asarray(batch.n_iter)[hard] > n_iter[hard])


def test_default_chunks_are_even_and_few_sizes():
    """The default chunk evens the batch out (no mostly-padding last chunk), never exceeds the
    largest chunk, and takes at most 16 sizes (compilations) per data shape, whatever B."""
    from jaxmle.fit import MAX_CHUNK, default_chunk_size

    def chunk(B, per_dataset, n_dev=1):
        return default_chunk_size(jax.ShapeDtypeStruct((B, per_dataset), jnp.float64), n_dev)

    assert chunk(2000, 400) == 1053 and chunk(100, 400) == 100
    assert chunk(10_000, 5) == 10_000 and chunk(20_000, 5) == 10_240  # 2 x, grain 1,024
    assert chunk(40_000, 5) <= MAX_CHUNK
    largest = chunk(10**6, 400)
    sizes = set()
    for B in range(largest + 1, 20 * largest, 37):
        c = chunk(B, 400)
        n_chunks = -(-B // c)
        assert c <= largest and n_chunks == -(-B // largest)  # no more chunks than needed
        assert n_chunks * c - B < n_chunks * (largest // 16 + 1)  # padding: under a grain each
        sizes.add(c)
    assert len(sizes) <= 16
    assert chunk(1001, 400, n_dev=4) % 4 == 0


class _AlwaysExtra(DampedNewton):
    """The damped Newton solver asking for its extra work (the second factorization) at every
    iteration, through the protocol's ``plan``."""

    def plan(self, state):
        plan, _ = super().plan(state)
        return plan, jnp.ones((), bool)


def _rosenbrocks():
    def f(x, a):  # Rosenbrock valleys of several steepnesses, and a convex member
        return (1.0 - x[0]) ** 2 + a * (x[1] - x[0] ** 2) ** 2 + 0.1 * jnp.cosh(x[1])

    a = jnp.array([1.0, 10.0, 100.0, 0.0])
    x0 = jnp.array([[-1.2, 1.0], [-1.2, 1.0], [0.5, -2.0], [3.0, 3.0]])
    return f, a, x0


def _batch_and_singles(solver):
    f, a, x0 = _rosenbrocks()
    batch = newton_batch(f, x0, (a,), solver=solver)
    return batch, [newton(lambda x, ai=a[i]: f(x, ai), x0[i], solver=solver) for i in range(4)]


def test_newton_batch_equals_newton_where_members_need_damping():
    """Members whose steps are damped, rejected or taken on an indefinite Hessian need the
    second factorization, which the damped solver computes only where it is read (the batch:
    in iterations where some member reads it). Each member takes exactly the steps it takes
    with the second factorization computed every time, alone or in the batch."""
    batch, one = _batch_and_singles(DampedNewton())
    always, always_one = _batch_and_singles(_AlwaysExtra())
    for i in range(4):
        assert bool(one[i].converged) and bool(batch.converged[i])
        assert int(batch.n_iter[i]) == int(one[i].n_iter) == int(always.n_iter[i])
        np.testing.assert_array_equal(batch.x[i], one[i].x)
        np.testing.assert_array_equal(batch.x[i], always.x[i])
        np.testing.assert_array_equal(one[i].x, always_one[i].x)


@pytest.mark.parametrize("solver", [TrustRegion(), LBFGS()], ids=repr)
def test_newton_batch_equals_newton_for_every_solver(solver):
    """The batch driver takes each member through the same iterations as the single one."""
    batch, one = _batch_and_singles(solver)
    f, a, _ = _rosenbrocks()
    for i in range(4):
        assert bool(one[i].converged) and bool(batch.converged[i])
        assert int(batch.n_iter[i]) == int(one[i].n_iter)
        np.testing.assert_allclose(batch.x[i], one[i].x, rtol=1e-13, atol=1e-13)
        # a stationary point (the gradient from jax.grad, independent of the solver's)
        assert float(jnp.max(jnp.abs(jax.grad(f)(one[i].x, a[i])))) < 1e-6


@pytest.mark.parametrize("solver", [TrustRegion(), DampedNewton()], ids=repr)
def test_extra_work_for_a_few_members_gathered_equals_the_singles(solver):
    """In a batch of 96 where a few members start at an indefinite Hessian (the exact
    subproblem, or the second factorization, computed for those few only, gathered into a
    small batch) and the rest are convex, every member takes the steps it takes alone."""
    f, a4, x04 = _rosenbrocks()
    reps = 24
    a = jnp.tile(a4, reps)
    x0 = jnp.tile(x04, (reps, 1))
    # most members start at the convex member's start: few need the extra work at a time
    hard = jnp.arange(4 * reps) % 16 < 3  # 18 of 96: the whole batch at first, then a few
    x0 = jnp.where(hard[:, None], x0, jnp.array([3.0, 3.0]))
    a = jnp.where(hard, a, 0.0)
    batch = newton_batch(f, x0, (a,), solver=solver)
    for i in sorted({*np.flatnonzero(np.asarray(hard)).tolist(), 5, 50, 95}):
        one = newton(lambda x, ai=a[i]: f(x, ai), x0[i], solver=solver)
        assert bool(one.converged) and bool(batch.converged[i])
        assert int(batch.n_iter[i]) == int(one.n_iter)
        np.testing.assert_allclose(batch.x[i], one.x, rtol=1e-13, atol=1e-13)
