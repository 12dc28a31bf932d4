"""The solver: a safeguarded Newton method as a pure ``lax.while_loop``.

Nothing statistical lives here: :func:`newton` minimizes a scalar function of
one flat vector with its exact gradient and Hessian and says why it stopped.

The method, per iteration:

1. Scale the Hessian by its diagonal, ``S = D^-1 H D^-1`` with
   ``D = sqrt(|diag H|)`` (Marquardt's scaling): the step is then invariant to
   the units of each coordinate, which is what lets a Longley-like design whose
   ``X'X`` has condition number 1e19 converge.
2. Solve ``(S + lam I) q = -D^-1 g`` by Cholesky. ``lam`` is a
   Levenberg-Marquardt damping that adapts like a trust region: it shrinks after
   a step whose actual decrease matches the quadratic model and grows after a
   rejected step. When ``S + lam I`` is not positive definite, ``lam`` is raised
   at once to the Gershgorin bound that makes it so.
3. Accept the step when it decreases ``f`` (ratio of actual to predicted
   decrease above 1e-4, or both below the rounding level of ``f``) and the new
   value, gradient and Hessian are finite; otherwise stay and raise ``lam``.

Convergence is the Newton decrement ``g^T (H + lam D^2)^-1 g / 2 <= tol`` with
little damping (or below the rounding level ``4 eps (|f| + 1)`` of ``f``): it
is invariant to affine changes of the coordinates and is measured in units of
the objective (log-likelihood units), so one tolerance per dtype serves every
model. The last Newton step is still taken (when it
does not worsen ``f`` beyond rounding), which squares the remaining error.

Under ``vmap`` each member carries its own ``done`` flag and stops moving once
converged; the loop runs until the slowest member is done.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._linalg import cholesky_solve, diag, matvec

__all__ = [
    "NewtonResult",
    "newton",
    "newton_batch",
    "default_tol",
    "minimize_implicit",
    "reuse_at_optimum",
    "lbfgs",
    "lbfgs_default_tol",
]


class NewtonResult(NamedTuple):
    """What the solver found; every field is an array."""

    x: jax.Array  #: final point
    value: jax.Array  #: f at x
    grad: jax.Array  #: gradient at x
    hess: jax.Array  #: Hessian at x
    step: jax.Array  #: the (damped) Newton step at x, zero at an exact stationary point
    n_iter: jax.Array  #: iterations taken (accepted and rejected)
    converged: jax.Array  #: decrement below tolerance
    nonfinite: jax.Array  #: f, its gradient or Hessian was not finite at the start
    stalled: jax.Array  #: stopped because no step could change x any more
    decrement: jax.Array  #: the last Newton decrement, g^T (H + lam D^2)^-1 g
    divergent: jax.Array  #: per coordinate: curvature vanishing along the step (a limit)


#: iterations without measurable progress after which the solver stops
_FLAT_LIMIT = 8
#: accepted steps in a row along which a coordinate is linear (no curvature, the same slope)
#: after which it is taken to run to a limit
_LINEAR_LIMIT = 10


def default_tol(dtype) -> float:
    """Tolerance on half the Newton decrement (log-likelihood units) for a dtype."""
    return 1e-15 if jnp.finfo(dtype).bits >= 64 else 1e-6


def _all_finite(*xs):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in xs]))


def _at_limit(c0, c1, weight, start_ok):
    """Coordinates at a limit: the curvature along the last step dropped from ``c0`` at
    its start to ``c1`` at its end (to 60% or less), and the coordinate carries the
    step (``weight``, its share of the step in curvature units, at least a tenth of the
    largest)."""
    along = (c0 > 0) & jnp.isfinite(c1) & (c1 <= 0.6 * c0) & start_ok
    return along & (weight > 0) & (weight >= 0.1 * jnp.max(weight))


def _scaled_solve(H, b):
    """``H^-1 b`` through the Cholesky factor of ``H`` scaled to a unit diagonal (NaN where
    ``H`` is not positive definite)."""
    h = diag(H)
    d = jnp.sqrt(jnp.where(h > 0, h, 1.0))
    return cholesky_solve(H / (d[:, None] * d[None, :]), b / d)[0] / d


class _Solve(NamedTuple):
    """The first half of a damped step: the scaled system and its solve at ``lam``."""

    d: jax.Array  #: Marquardt scale, sqrt|diag H|
    S: jax.Array  #: H scaled to a unit diagonal
    rhs: jax.Array  #: -D^-1 g
    lam: jax.Array  #: damping of the first solve
    lam_safe: jax.Array  #: damping that makes S + lam I positive definite (Gershgorin)
    q0: jax.Array  #: solution at lam (NaN where S + lam I is not positive definite)
    ok0: jax.Array  #: the solve at lam succeeded


def _spd_solve(A, b):
    """``A^-1 b`` by Cholesky and whether it succeeded (``A`` positive definite, not nearly
    singular, the solution finite)."""
    eps = jnp.finfo(b.dtype).eps
    q, piv = cholesky_solve(A, b)
    # (a NaN pivot, where A is not positive definite, fails the comparison)
    return q, jnp.all(jnp.isfinite(q)) & jnp.all(piv**2 > 100 * eps)


def _first_solve(g, H, lam, x=None) -> _Solve:
    """Scale ``H`` by its diagonal and solve ``(S + lam I) q = -D^-1 g`` (``x``: the point,
    whose size scales a coordinate without curvature; zero by default)."""
    x = jnp.zeros_like(g) if x is None else x
    dtype = g.dtype
    eps = jnp.finfo(dtype).eps
    d2 = jnp.abs(diag(H))
    # A coordinate with (nearly) no curvature but a slope, as a block of the Hessian that is
    # exactly zero at the start: its scale from the gradient over the coordinate's size
    # (both in the units of a curvature), so that a damped step moves it by about its size
    # (or one unit) at most, rather than by g / (eps max|H_ii|).
    d2 = jnp.maximum(d2, jnp.abs(g) / jnp.maximum(jnp.abs(x), 1.0))
    # (a coordinate with neither: a floor relative to the others)
    dmax = jnp.max(d2)
    d2 = jnp.where(d2 > 0, d2, jnp.where(dmax > 0, eps * dmax, 1.0))
    d = jnp.sqrt(d2)
    S = H / (d[:, None] * d[None, :])
    rhs = -g / d
    # Gershgorin: S + lam I is positive definite once lam > max_i (sum_j!=i |S_ij| - S_ii).
    off = jnp.sum(jnp.abs(S), axis=1) - jnp.abs(diag(S))
    lam_safe = jnp.maximum(lam, jnp.max(off - diag(S)) + 1e-3 + 1e-3 * lam)
    q0, ok0 = _spd_solve(S + lam * jnp.eye(g.shape[0], dtype=dtype), rhs)
    return _Solve(d, S, rhs, lam, lam_safe, q0, ok0)


def _second_solve(st: _Solve):
    """The other factorization a step may need: with ``lam = 0`` the safe step (at
    ``lam_safe``), where the undamped solve failed; with ``lam > 0`` the undamped one."""
    lam2 = jnp.where(st.lam <= 0, st.lam_safe, 0.0)
    return _spd_solve(st.S + lam2 * jnp.eye(st.rhs.shape[0], dtype=st.rhs.dtype), st.rhs)


def _no_second_solve(st: _Solve):
    """What stands for :func:`_second_solve` where no member needs it."""
    return jnp.full_like(st.rhs, jnp.nan), jnp.zeros((), bool)


def _needs_second_solve(st: _Solve, want_newton):
    """Whether :func:`_combine` reads the second solve: with ``lam = 0``, where the undamped
    solve failed (the safe step); with ``lam > 0``, where the damped solve succeeded and the
    undamped step is wanted (``want_newton``: to test convergence or polish). Where a damped
    solve fails, the undamped one fails too (adding ``lam I`` only raises the pivots)."""
    return jnp.where(st.lam <= 0, ~st.ok0, st.ok0 & want_newton)


def _combine(st: _Solve, qb, okb):
    """The steps from both solves: ``(p, lam_used, ok, newton_step, pd)``."""
    # Three steps may be needed: damped (lam), undamped (0) and safe (lam_safe, where the
    # damped one fails). Two factorizations give them: with lam = 0 the damped step is the
    # undamped one and the second solve is the safe one; with lam > 0 the second solve is
    # the undamped one, and where the damped one fails S is not positive definite either,
    # so the safe step is taken on the diagonal alone (S has a unit diagonal): a scaled
    # gradient step.
    lam, lam_safe, q0, ok0, d = st.lam, st.lam_safe, st.q0, st.ok0, st.d
    undamped = lam <= 0
    qn, okn = jnp.where(undamped, q0, qb), jnp.where(undamped, ok0, okb)
    q1 = jnp.where(undamped, qb, st.rhs / (1.0 + lam_safe))
    ok1 = jnp.where(undamped, okb, jnp.all(jnp.isfinite(q1)))
    q = jnp.where(ok0, q0, q1)
    lam_used = jnp.where(ok0, lam, lam_safe)
    ok = ok0 | ok1
    p = jnp.where(ok, q / d, jnp.zeros_like(q))
    newton_step = jnp.where(okn, qn / d, p)  # undamped, where H is positive definite
    return p, lam_used, ok, newton_step, okn


def _damped_step(g, H, lam, x=None):
    """Solve (S + lam I) q = -D^-1 g with Marquardt scaling; fall back to a safe lam.

    Returns ``(p, lam_used, ok, newton_step, pd)``: the step (``D^-1 q``), the damping it
    used, whether it exists, the undamped Newton step (the step itself where ``H`` is not
    positive definite) and whether ``H`` is. Both factorizations are computed; the solver
    skips the second where no member reads it.
    """
    st = _first_solve(g, H, lam, x)
    return _combine(st, *_second_solve(st))


class _State(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    H: jax.Array
    lam: jax.Array
    step: jax.Array
    decrement: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    stalled: jax.Array
    flat: jax.Array
    done: jax.Array
    fresh: jax.Array  # x not evaluated yet (the first pass of the loop evaluates it)
    start_ok: jax.Array  # f, g and H were finite at the start
    rejected: jax.Array  # the last trial point was not accepted
    c0: jax.Array  # curvature along the last step, at its start ...
    c1: jax.Array  # ... and at its end (the boundary probe)
    hess_ok: jax.Array  # every entry of the Hessian at x is finite (H holds zeros for the rest)
    linear: jax.Array  # accepted steps in a row along which f was linear


def newton(
    fun: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    *,
    max_iter: int = 100,
    tol: float | None = None,
    iter0: jax.Array | int = 0,
) -> NewtonResult:
    """Minimize ``fun`` from ``x0`` by damped Newton with exact derivatives.

    Args:
        fun: scalar function of a flat vector, pure and traceable.
        x0: starting point, shape ``(p,)``.
        max_iter: iteration limit (accepted plus rejected steps).
        tol: tolerance on half the Newton decrement; default by dtype
            (:func:`default_tol`).
        iter0: iterations already taken (when resuming from ``x0``): they count
            towards ``max_iter`` and ``n_iter``.

    Returns:
        A :class:`NewtonResult`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import newton
        >>> r = newton(lambda x: jnp.sum((x - 3.0) ** 2) + jnp.exp(x[0]), jnp.zeros(2))
        >>> bool(r.converged), round(float(r.x[1]), 6)
        (True, 3.0)
    """
    x0 = jnp.asarray(x0)
    init, cond, first, body, finish = _newton_parts(x0.shape[0], x0.dtype, max_iter, tol)

    def step(s):
        st, need = first(s)
        return body(s, fun, (), st, lax.cond(need, _second_solve, _no_second_solve, st))

    state = lax.while_loop(cond, step, init(x0, iter0))
    return finish(state)


def newton_batch(
    fun: Callable[..., jax.Array],
    x0: jax.Array,
    args: tuple,
    *,
    max_iter: int = 100,
    tol: float | None = None,
    iter0: jax.Array | int = 0,
    allowed: jax.Array | int = 0,
    patience: int = 1,
) -> NewtonResult:
    """:func:`newton` on a batch: ``fun(x[i], *args_i)`` for each member ``i``, one loop.

    The same iterations as ``vmap(newton)``, member by member, with one
    difference: the loop may stop early, while a few members are unfinished.
    Once at most ``allowed`` members are still iterating, and none of them has
    finished for ``patience`` iterations in a row, the loop ends; those members come back
    neither converged nor stalled (the caller resumes them from ``x``, with
    ``iter0`` set to their ``n_iter``). Under ``vmap`` a loop runs until its
    slowest member is done and every member pays for every iteration: a few
    hard datasets would multiply the cost of the batch.

    Args:
        fun: ``fun(x, *a)``, scalar, for one member.
        x0: starting points, shape ``(B, p)``.
        args: per-member arguments, each with a leading axis ``B``.
        max_iter, tol: as for :func:`newton`.
        iter0: iterations already taken, per member (or one for all).
        allowed: how many unfinished members may be left behind (``0``: none).
        patience: iterations without a member finishing, once at most ``allowed`` remain.

    Returns:
        A :class:`NewtonResult` with a leading batch axis on every field.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import newton_batch
        >>> f = lambda x, a: jnp.sum((x - a) ** 2) + jnp.exp(x[0])
        >>> r = newton_batch(f, jnp.zeros((3, 2)), (jnp.array([1.0, 2.0, 3.0]),))
        >>> r.converged.tolist(), r.x[:, 1].round(6).tolist()
        ([True, True, True], [1.0, 2.0, 3.0])
    """
    x0 = jnp.asarray(x0)
    B, p = x0.shape
    init, cond, first, body, finish = _newton_parts(p, x0.dtype, max_iter, tol)
    iter0 = jnp.broadcast_to(jnp.asarray(iter0, jnp.int32), (B,))
    state = jax.vmap(init)(x0, iter0)

    def active(s):
        return jax.vmap(cond)(s)

    def outer_cond(c):
        s, _, waited = c
        return jnp.any(active(s)) & (waited < patience)

    def outer_body(c):
        s, count, waited = c
        on = active(s)
        st, need = jax.vmap(first)(s)
        # the second factorization only where some member reads it (a batch-level branch)
        second = lax.cond(
            jnp.any(on & need), jax.vmap(_second_solve), jax.vmap(_no_second_solve), st
        )
        new = jax.vmap(lambda s_, a, st_, sec: body(s_, fun, a, st_, sec))(s, args, st, second)
        s = jax.tree_util.tree_map(
            lambda n, o: jnp.where(jnp.reshape(on, (B,) + (1,) * (n.ndim - 1)), n, o), new, s
        )
        left = jnp.sum(active(s), dtype=jnp.int32)
        # a few members left, none of which finished in this iteration: stragglers
        stuck = (left <= allowed) & (left >= count)
        return s, left, jnp.where(stuck, waited + 1, 0).astype(jnp.int32)

    start = (state, jnp.asarray(B, jnp.int32), jnp.zeros((), jnp.int32))
    state, _, _ = lax.while_loop(outer_cond, outer_body, start)
    return jax.vmap(finish)(state)


def _newton_parts(size, dtype, max_iter, tol):
    """The pieces of :func:`newton`: ``init(x0, iter0)``, ``cond(state)``,
    ``first(state)`` (the first solve of an iteration and whether the second is needed),
    ``body(state, fun, args, first_solve, second_solve)`` and ``finish(state)``, for one
    member, with ``fun(x, *args)``."""
    eps = jnp.finfo(dtype).eps
    tol = default_tol(dtype) if tol is None else tol

    def evaluate(fun, x, args):
        # one forward-over-reverse pass gives the Hessian, the gradient and f
        def grad_aux(x):
            f, g = jax.value_and_grad(fun)(x, *args)
            return g, (f, g)

        H, (f, g) = jax.jacfwd(grad_aux, has_aux=True)(x)
        # Non-finite second derivatives where f and g are finite (0 * inf at an isolated
        # point, such as d2/drho2 of 0 ** rho at rho = 1) carry no curvature information:
        # zero, so that the step is taken on the rest (the scaling below handles a zero
        # diagonal). The Hessian returned at the end is the true one.
        finite = jnp.isfinite(H)
        # (an entry is taken from its mirror where that is finite: forward-over-reverse
        # rows can fail where columns do not)
        Hs = jnp.where(finite, H, jnp.where(finite.T, H.T, 0.0))
        return f, g, Hs, jnp.all(finite)

    def init(x0, iter0=0):
        # The loop body holds the only evaluation of f, g and H (its first pass
        # evaluates the start): one copy of the Hessian in the compiled program.
        zero = jnp.zeros((), dtype)
        false = jnp.zeros((), bool)
        return _State(
            x=x0.astype(dtype), f=zero, g=jnp.zeros((size,), dtype),
            H=jnp.zeros((size, size), dtype), lam=zero, step=jnp.zeros((size,), dtype),
            decrement=jnp.asarray(jnp.inf, dtype),
            n_iter=jnp.asarray(iter0, jnp.int32), converged=false, stalled=false,
            flat=jnp.zeros((), jnp.int32), done=false, fresh=jnp.ones((), bool), start_ok=false,
            rejected=false, c0=zero, c1=zero, hess_ok=jnp.ones((), bool),
            linear=jnp.zeros((), jnp.int32),
        )  # fmt: skip

    def cond(s):
        return s.fresh | ((~s.done) & (s.n_iter < max_iter))

    def levels(s):
        """``(noise, small)``: the rounding level of f, and the decrement that counts as
        converged. Below the rounding level of f, no gain the quadratic model predicts can be
        measured: that is convergence too."""
        noise = 4 * eps * (jnp.abs(s.f) + 1)
        return noise, jnp.maximum(tol, noise)

    def first(s):
        """The first solve of an iteration and whether the second is needed."""
        st = _first_solve(s.g, s.H, s.lam, s.x)
        # The undamped step is read after a rejection and on convergence (the polish step):
        # where the first solve succeeds, `body`'s convergence test is this one.
        near = (st.lam <= 1.0) & (-0.5 * jnp.dot(s.g, st.q0 / st.d) <= levels(s)[1])
        need = _needs_second_solve(st, s.rejected | near) & ~s.fresh
        return st, need

    def body(s, fun, args, st, second):
        p_fresh, lam_used, ok, p_newton, pd = _combine(st, *second)
        dec = -jnp.dot(s.g, p_fresh)
        noise, small = levels(s)
        # After a step rejected for no measurable gain, the undamped decrement
        # where H is positive definite, with a margin: near the optimum a
        # gradient computed through special functions is only accurate to some
        # rounding, and damping grown by such rejections must not hide
        # convergence. Otherwise the damped decrement, with little damping.
        dec_newton = -jnp.dot(s.g, p_newton)
        stuck = s.rejected & pd & (0.5 * dec_newton <= jnp.maximum(tol, 64 * noise))
        converged = stuck | (ok & (lam_used <= 1.0) & (0.5 * dec <= small))
        converged = ~s.fresh & (converged | jnp.all(s.g == 0))

        # the polishing step after convergence is the undamped Newton step
        p = jnp.where(converged, p_newton, p_fresh)
        p = jnp.where(s.fresh, jnp.zeros_like(p), p)
        x_new = s.x + p
        f_new, g_new, H_new, H_finite = evaluate(fun, x_new, args)
        c0 = jnp.dot(p, matvec(s.H, p))  # the curvature along the step at its start
        pred = -(jnp.dot(s.g, p) + 0.5 * c0)
        actual = s.f - f_new
        good = (actual > 1e-4 * pred) | ((pred <= noise) & (actual >= -noise))
        # On convergence, still take the last Newton step when it does not
        # worsen f beyond rounding: it squares the remaining error for free.
        # (or when f's rounding hides the gain but the scaled gradient shrank)
        d = jnp.sqrt(jnp.maximum(jnp.abs(diag(s.H)), jnp.finfo(dtype).tiny))
        shrank = jnp.sum((g_new / d) ** 2) <= jnp.sum((s.g / d) ** 2)
        # the curvature along the step at its end, sum_ij p_i p_j H_ij (H_new holds zeros for
        # its non-finite entries; H_finite says whether there were any)
        c1 = jnp.dot(p, matvec(H_new, p))
        finite = _all_finite(f_new, g_new, c1)
        polish = converged & ok & finite & ((actual >= -noise) | (shrank & (actual >= -64 * noise)))
        accept = (ok & ~converged & finite & good) | polish | s.fresh
        ratio = actual / jnp.where(pred > 0, pred, 1.0)
        lam_next = jnp.where(
            accept,
            jnp.where(
                ratio > 0.75,
                lam_used * 0.25,
                # (from no damping at all, a poor step starts it: doubling 0 would leave an
                # undamped Newton method swinging across a kink)
                jnp.where(ratio < 0.25, jnp.maximum(lam_used * 2.0, 1e-3), lam_used),
            ),
            jnp.maximum(lam_used * 8.0, 1e-3),
        )
        # After a rejected step the damping grows to shorten the step to about the
        # minimum of the quadratic through f, the slope and the rejected value
        # (t in [0.1, 0.5] of the step; lam ~ 1/t - 1 on the unit-diagonal scale),
        # and at least eightfold.
        slope = jnp.dot(s.g, p)
        excess = f_new - s.f - slope
        t = -slope / jnp.where(excess > 0, 2 * excess, 1.0)
        t = jnp.where(jnp.isfinite(f_new) & (excess > 0), jnp.clip(t, 0.1, 0.5), 0.1)
        lam_up = jnp.maximum(jnp.maximum(lam_used * 8.0, 1e-3), (1.0 + lam_used) / t - 1.0)
        lam_next = jnp.where(accept, lam_next, lam_up)

        # No measurable progress for several iterations (steps rejected, or
        # accepted with a change of f below its rounding level, as when
        # creeping towards a wall where the loglik stops being finite), or a
        # step too small to change x: stop. The caller decides whether that is
        # a limit of the support or a failure.
        # (A rejected trial whose value is finite but worse only says the quadratic
        # model was off: the damping grows until the step is short enough; it is
        # not counted, and the step-underflow test below bounds it.)
        progress = accept & (actual > noise)
        misjudged = ~accept & ~converged & finite
        flat = jnp.where(progress | s.fresh, 0, s.flat + jnp.where(misjudged, 0, 1))
        flat = flat.astype(jnp.int32)
        # A coordinate along which f is linear, step after accepted step (no curvature, a
        # slope of the same sign: a scale running to 0 on identical observations, where the
        # loglik is n log(1/scale)), has no maximum that way: after a run of such steps the
        # solver stops, the coordinate flagged as running to a limit (the kink of a Laplace
        # location has no curvature either, but its slope changes sign).
        # (linear: the gradient is the same at both ends of the step, to 1e-6, whatever the
        # Hessian says, which may not be finite there)
        lin = jnp.all(jnp.abs(g_new - s.g) <= 1e-6 * jnp.abs(s.g))
        linear = jnp.where(progress, jnp.where(lin, s.linear + 1, 0), s.linear)
        linear = jnp.where(s.fresh, 0, linear).astype(jnp.int32)
        runaway = linear >= _LINEAR_LIMIT
        stalled = ~converged & (
            (flat >= _FLAT_LIMIT) | (~accept & jnp.all(s.x + p == s.x)) | runaway
        )
        stalled = stalled & ~s.fresh
        start_ok = jnp.where(s.fresh, finite, s.start_ok)

        def pick(new, old):
            return jnp.where(accept, new, old)

        return _State(
            x=pick(x_new, s.x),
            f=pick(f_new, s.f),
            g=pick(g_new, s.g),
            H=pick(H_new, s.H),
            lam=jnp.where(converged | s.fresh, s.lam, lam_next).astype(dtype),
            step=p,
            decrement=jnp.where(s.fresh, s.decrement, dec),
            n_iter=s.n_iter + jnp.where(converged | s.fresh, 0, 1).astype(jnp.int32),
            converged=converged,
            stalled=stalled,
            flat=flat,
            done=converged | stalled | ~start_ok,
            fresh=jnp.zeros((), bool),
            start_ok=start_ok,
            rejected=~accept & ~s.fresh,
            c0=jnp.where(s.hess_ok, c0, jnp.nan),
            # (the boundary test reads the curvature at the end of a step only where the
            # Hessian there is known)
            c1=jnp.where(H_finite, c1, jnp.nan),
            hess_ok=pick(H_finite, s.hess_ok),
            linear=linear,
        )

    def finish(s):
        start_ok = s.start_ok

        # Where the decrement vanished only because the curvature vanishes along the
        # step (the optimum lies at a limit of the coordinates: a probability -> 1,
        # a coefficient -> infinity under separation), the curvature along the last
        # step has dropped from its start to its end (by e^-1 for a logistic or
        # exponential tail; by 0.5 after rounding when the user's loglik takes
        # log(p) of a p that rounds towards 1).  At an interior optimum the last
        # step is tiny and the curvature does not change.  The coordinates that
        # carry the step are the ones at a limit.
        p_final = s.step
        weight = jnp.abs(p_final) * jnp.sqrt(jnp.abs(diag(s.H)))
        # (after a run of linear steps: the coordinates that moved)
        moving = s.step != 0
        divergent = _at_limit(s.c0, s.c1, weight, start_ok) | ((s.linear >= _LINEAR_LIMIT) & moving)

        hess = jnp.where(s.hess_ok, s.H, jnp.nan)
        return NewtonResult(
            x=s.x, value=s.f, grad=s.g, hess=hess, step=p_final, n_iter=s.n_iter,
            converged=s.converged & start_ok, nonfinite=~start_ok, stalled=s.stalled,
            decrement=s.decrement,
            divergent=divergent,
        )  # fmt: skip

    return init, cond, first, body, finish


def minimize_implicit(objective, x0, args, *, solver=None, **solver_options):
    """Minimize ``objective(x, *args)`` by :func:`newton` (or ``solver``, e.g.
    :func:`lbfgs`), differentiable through the optimum.

    The solver runs on stopped gradients (its iterations are never
    differentiated); the minimizer it returns gets derivatives with respect to
    ``args``, and to anything ``objective`` closes over, by the implicit
    function theorem: ``dx*/da = -H^-1 d(grad_x objective)/da`` with ``H`` the
    Hessian at ``x*``. Forward and reverse mode; the cost is one Hessian and
    one linear solve, whatever the number of iterations. Where the solver did
    not converge the derivatives are NaN.

    Returns:
        ``(x_star, result, closed, all_args)``: the differentiable minimizer,
        the :class:`NewtonResult` (not differentiable), and the objective as
        ``closed(x, *all_args)`` with anything it closed over made explicit
        (for further derivatives at ``x_star``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmle.optimize import minimize_implicit
        >>> obj = lambda x, a: jnp.sum((x - a) ** 2)
        >>> f = lambda a: minimize_implicit(obj, jnp.zeros(2), (a,))[0].sum()
        >>> jax.grad(f)(jnp.array([1.0, 2.0])).tolist()
        [1.0, 1.0]
    """
    x0 = jnp.asarray(x0)
    closed, consts = jax.closure_convert(lambda x, *a: objective(x, *a), x0, *args)
    all_args = (*args, *consts)
    frozen = lax.stop_gradient(all_args)
    solver = newton if solver is None else solver
    sol = solver(lambda x: closed(x, *frozen), lax.stop_gradient(x0), **solver_options)
    x_star = _implicit(closed, sol.x, sol.converged, *all_args)
    return x_star, sol, closed, all_args


def reuse_at_optimum(fn, value, x_star, args):
    """``fn(x_star, *args)`` without computing it again: ``value`` is the same
    quantity already computed by the solver (on stopped gradients). Its
    derivatives, when asked for, are those of ``fn`` (through ``x_star`` and
    ``args``); without differentiation nothing is recomputed.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmle.optimize import reuse_at_optimum
        >>> f = lambda x, a: jnp.sum(a * x**2)
        >>> g = lambda x: reuse_at_optimum(f, jnp.float32(4.0), x, (jnp.float32(1.0),))
        >>> float(g(jnp.float32(2.0))), float(jax.grad(g)(jnp.float32(2.0)))
        (4.0, 4.0)
    """
    return _precomputed(fn, lax.stop_gradient(value), x_star, *args)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _precomputed(fn, value, x, *args):
    return value


@_precomputed.defjvp
def _precomputed_jvp(fn, primals, tangents):
    value, x, *args = primals
    _, x_dot, *args_dot = tangents
    _, out_dot = jax.jvp(fn, (x, *args), (x_dot, *args_dot))
    return value, out_dot


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _implicit(closed, x_star, ok, *all_args):
    return x_star


@_implicit.defjvp
def _implicit_jvp(closed, primals, tangents):
    x_star, ok, *all_args = primals
    _, _, *all_dots = tangents

    def grad_x(*a):
        return jax.grad(closed)(x_star, *a)

    _, mixed = jax.jvp(grad_x, tuple(all_args), tuple(all_dots))
    x_dot = -_scaled_solve(jax.hessian(closed)(x_star, *all_args), mixed)
    x_dot = jnp.where(ok, x_dot, jnp.nan)
    return x_star, x_dot


# --------------------------------------------------------------------------
# L-BFGS for models with many parameters
# --------------------------------------------------------------------------
def lbfgs_default_tol(dtype) -> float:
    """Tolerance of :func:`lbfgs` on ``max|g| / max(1, |f|)`` for a dtype: ``eps ** (2/3)``
    (about 3.7e-11 in float64, 2.4e-5 in float32).

    Example:
        >>> from jaxmle.optimize import lbfgs_default_tol
        >>> f"{lbfgs_default_tol('float64'):.1e}"
        '3.7e-11'
    """
    return float(jnp.finfo(dtype).eps) ** (2.0 / 3.0)


#: iterations without progress after which L-BFGS stops (near the optimum f is flat to
#: rounding and the gradient decreases only on average, not at every iteration)
_LBFGS_FLAT_LIMIT = 25


class _LbfgsState(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    opt: tuple
    step: jax.Array
    n_iter: jax.Array
    best: jax.Array
    flat: jax.Array
    converged: jax.Array
    stalled: jax.Array
    done: jax.Array


def lbfgs(
    fun: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    *,
    max_iter: int = 1000,
    tol: float | None = None,
    memory_size: int = 10,
    hessian: bool = True,
    iter0: jax.Array | int = 0,
) -> NewtonResult:
    """Minimize ``fun`` from ``x0`` by L-BFGS (``optax.lbfgs``, zoom line search).

    For models with many parameters, where one Hessian (``p`` gradient
    evaluations) per iteration costs more than the many cheap L-BFGS
    iterations. A pure ``lax.while_loop``; under ``vmap`` converged members
    stop moving.

    Convergence is on the gradient: ``max_i |g_i| <= tol * max(1, |f|)``, a
    test relative to the size of the objective (the gradient of a sum over
    ``n`` observations grows with ``n`` as ``f`` does). A step that the line
    search cannot make without increasing ``f`` (or that gives non-finite
    values), or ``25`` iterations without decrease of ``f`` or a new smallest
    gradient, stop the loop as stalled.

    With ``hessian=True`` the Hessian is computed once, at the end (for
    standard errors), and the limit test of :func:`newton` is applied: where
    the curvature along the final Newton step drops one step further, the
    coordinates carrying that step are flagged ``divergent`` (a coefficient
    running to infinity); and a stalled run whose Newton decrement
    ``g^T H^-1 g / 2`` is below :func:`default_tol` (or the rounding level of
    ``f``) counts as converged, as in :func:`newton`. With ``hessian=False``
    nothing of size ``p x p`` is formed: ``hess`` and ``decrement`` are NaN,
    and the limit test runs along the last L-BFGS step instead, with two
    Hessian-vector products.

    Args:
        fun: scalar function of a flat vector, pure and traceable.
        x0: starting point, shape ``(p,)``.
        max_iter: iteration limit (each iteration runs one line search).
        tol: relative gradient tolerance; default by dtype
            (:func:`lbfgs_default_tol`).
        memory_size: number of curvature pairs L-BFGS keeps.
        hessian: compute the Hessian at the end.
        iter0: iterations already taken (resuming), as for :func:`newton`.

    Returns:
        A :class:`NewtonResult` with the same fields as :func:`newton`'s.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import lbfgs
        >>> r = lbfgs(lambda x: jnp.sum((x - 3.0) ** 2) + jnp.exp(x[0]), jnp.zeros(2))
        >>> bool(r.converged), round(float(r.x[1]), 5)
        (True, 3.0)
    """
    import optax

    x0 = jnp.asarray(x0)
    dtype = x0.dtype
    eps = jnp.finfo(dtype).eps
    tol = lbfgs_default_tol(dtype) if tol is None else tol
    opt = optax.lbfgs(memory_size=memory_size)
    opt0 = opt.init(x0)
    # The start's value and gradient (the state holds none yet). Inside the loop
    # they come from the line search's state: a value_and_grad_from_state call
    # there would be a lax.cond, which vmap turns into computing both branches.
    f0, g0 = optax.value_and_grad_from_state(fun)(x0, state=opt0)
    f0, g0 = jnp.asarray(f0, dtype), jnp.asarray(g0, dtype)
    start_ok = _all_finite(f0, g0)

    def small(f, g):
        return jnp.max(jnp.abs(g)) <= tol * jnp.maximum(1.0, jnp.abs(f))

    conv0 = start_ok & small(f0, g0)
    state = _LbfgsState(
        x=x0, f=f0, g=g0, opt=opt0, step=jnp.zeros_like(x0), n_iter=jnp.asarray(iter0, jnp.int32),
        best=jnp.max(jnp.abs(g0)), flat=jnp.zeros((), jnp.int32), converged=conv0,
        stalled=jnp.zeros((), bool), done=conv0 | ~start_ok,
    )  # fmt: skip

    def cond(s):
        return (~s.done) & (s.n_iter < max_iter)

    def body(s):
        upd, opt_new = opt.update(s.g, s.opt, s.x, value=s.f, grad=s.g, value_fn=fun)
        x_new = s.x + upd
        f_new = jnp.asarray(optax.tree.get(opt_new, "value"), dtype)
        g_new = jnp.asarray(optax.tree.get(opt_new, "grad"), dtype)
        noise = 4 * eps * (jnp.abs(s.f) + 1)
        accept = _all_finite(f_new, g_new) & (f_new <= s.f + noise)
        gmax = jnp.max(jnp.abs(g_new))
        progress = accept & ((f_new < s.f - noise) | (gmax < 0.9 * s.best))
        flat = jnp.where(progress, 0, s.flat + 1).astype(jnp.int32)

        def pick(new, old):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), new, old)

        x, f, g, opt_state = pick((x_new, f_new, g_new, opt_new), (s.x, s.f, s.g, s.opt))
        converged = accept & small(f, g)
        # a rejected step would be proposed again from the same state: stop
        stalled = ~converged & (~accept | (flat >= _LBFGS_FLAT_LIMIT))
        return _LbfgsState(
            x=x, f=f, g=g, opt=opt_state, step=jnp.where(accept, upd, s.step),
            n_iter=s.n_iter + 1, best=jnp.where(accept, jnp.minimum(s.best, gmax), s.best),
            flat=flat, converged=converged, stalled=stalled, done=converged | stalled,
        )  # fmt: skip

    s = lax.while_loop(cond, body, state)

    p = x0.shape[0]
    if hessian:
        H = jax.hessian(fun)(s.x)
        # the Newton step at the end, and the limit test of `newton`
        step = -_scaled_solve(H, s.g)
        solved = jnp.all(jnp.isfinite(step))  # H positive definite
        step = jnp.where(solved, step, jnp.zeros_like(step))
        decrement = -jnp.dot(s.g, step)
        _, hvp_next = jax.jvp(jax.grad(fun), (s.x + step,), (step,))
        c0 = jnp.dot(step, matvec(H, step))
        weight = jnp.abs(step) * jnp.sqrt(jnp.abs(diag(H)))
        divergent = _at_limit(c0, jnp.dot(step, hvp_next), weight, start_ok)
        noise = 4 * eps * (jnp.abs(s.f) + 1)
        flat_optimum = solved & (c0 > 0)
        flat_optimum = flat_optimum & (0.5 * decrement <= jnp.maximum(default_tol(dtype), noise))
        converged = s.converged | (s.stalled & flat_optimum)
    else:
        # the same limit test along the last quasi-Newton step, by two
        # Hessian-vector products
        H = jnp.full((p, p), jnp.nan, dtype)
        step, decrement = s.step, jnp.asarray(jnp.nan, dtype)
        _, hvp_here = jax.jvp(jax.grad(fun), (s.x,), (step,))
        _, hvp_next = jax.jvp(jax.grad(fun), (s.x + step,), (step,))
        c0, c1 = jnp.dot(step, hvp_here), jnp.dot(step, hvp_next)
        divergent = _at_limit(c0, c1, jnp.abs(step), start_ok)
        converged = s.converged

    return NewtonResult(
        x=s.x, value=s.f, grad=s.g, hess=H, step=step, n_iter=s.n_iter,
        converged=converged & start_ok, nonfinite=~start_ok, stalled=s.stalled & ~converged,
        decrement=decrement, divergent=divergent,
    )  # fmt: skip
