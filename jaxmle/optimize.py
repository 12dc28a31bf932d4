"""The solvers: Newton's method with exact derivatives, as a pure ``lax.while_loop``.

Nothing statistical lives here: :func:`newton` minimizes a scalar function of one
flat vector and says why it stopped. A solver is an implementation of the
:class:`Solver` protocol (``init``, ``plan``/``extra``, ``step``, ``terminate``,
``postprocess``); :func:`newton` and :func:`newton_batch` drive any of them.

- :class:`TrustRegion` (the default, ``method="trust"``): per iteration, scale the
  coordinates by ``D = sqrt|diag H|`` (Marquardt's scaling: the step is invariant to
  the units of each coordinate, which lets a Longley-like design whose ``X'X`` has
  condition number 1e19 converge) and minimize the quadratic model over
  ``|D p| <= radius`` exactly (:func:`trust_region_step`, an eigendecomposition;
  :func:`steihaug_step` above :data:`EXACT_MAX` parameters). Negative curvature is
  followed to the boundary of the region.
- :class:`DampedNewton` (``method="newton"``): solve ``(S + lam I) q = -D^-1 g`` by
  Cholesky, ``lam`` a Levenberg-Marquardt damping raised at once to the Gershgorin
  bound where ``S + lam I`` is not positive definite.
- :class:`LBFGS` (``method="lbfgs"``): ``optax.lbfgs``, for many parameters.

The Newton solvers share the rest: a step is accepted when it decreases ``f`` (ratio
of actual to predicted decrease above 1e-4, or both below the rounding level of
``f``) and the new value, gradient and Hessian are finite. Convergence is the Newton
decrement ``g^T H^-1 g / 2 <= tol`` with ``H`` positive definite (or below the
rounding level ``4 eps (|f| + 1)`` of ``f``): it is invariant to affine changes of
the coordinates and is measured in units of the objective (log-likelihood units),
so one tolerance per dtype serves every model. The last Newton step is still taken
(when it does not worsen ``f`` beyond rounding), which squares the remaining error.
The solver stops as stalled after 8 iterations without measurable progress, when no
step changes ``x`` any more, or after a run of linear steps (a limit).

Under ``vmap`` each member carries its own ``done`` flag and stops moving once
converged; the loop runs until the slowest member is done.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from ._linalg import cholesky_solve, diag, matvec

__all__ = [
    "NewtonResult",
    "Solver",
    "TrustRegion",
    "DampedNewton",
    "LBFGS",
    "SOLVERS",
    "make_solver",
    "trust_region_step",
    "steihaug_step",
    "damped_step",
    "newton",
    "newton_batch",
    "default_tol",
    "minimize_implicit",
    "minimize_implicit_batch",
    "gate_derivatives",
    "ON_FAILURE_GRAD",
    "check_on_failure_grad",
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
#: accepted steps in a row below the rounding of x, held back after the model failed,
#: after which the solver stops (:meth:`_NewtonSolver.step`)
_CREEP_LIMIT = 2
#: accepted steps per window of the valley test, and windows alike in a row that stop the
#: solver (:meth:`_NewtonSolver.step`)
_WINDOW = 10
_VALLEY_WINDOWS = 3


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


def _scale(g, H, x):
    """Marquardt's scaling ``D = sqrt|diag H|`` of both Newton solvers (the scaled Hessian
    has a unit diagonal: steps invariant to the units of each coordinate, and eigenvalues
    that resolve a curvature vanishing on the way to a limit as well as a large one). A
    coordinate with (nearly) no curvature but a slope, as a block of the Hessian that is
    exactly zero at the start, takes its scale from the gradient over the coordinate's size
    (both in the units of a curvature), so that a step moves it by about its size (or one
    unit) at most, rather than by ``g / (eps max|H_ii|)``; one with neither (below ``eps``
    of the largest), ``1 / size^2``: it moves about its size per unit of the radius (Beale's
    ``x1`` at ``x2 = 1``, whose first step was 1.9e7 with a floor relative to the others)."""
    eps = jnp.finfo(g.dtype).eps
    size = jnp.maximum(jnp.abs(x), 1.0)
    d2 = jnp.maximum(jnp.abs(diag(H)), jnp.abs(g) / size)
    dmax = jnp.max(d2)
    d2 = jnp.where(d2 > eps * dmax, d2, jnp.maximum(d2, 1.0 / size**2))
    return jnp.sqrt(d2)


def _first_solve(g, H, lam, x=None) -> _Solve:
    """Scale ``H`` by its diagonal and solve ``(S + lam I) q = -D^-1 g`` (``x``: the point,
    whose size scales a coordinate without curvature; zero by default)."""
    x = jnp.zeros_like(g) if x is None else x
    dtype = g.dtype
    d = _scale(g, H, x)
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


def damped_step(g, H, lam, x=None):
    """:class:`DampedNewton`'s step: solve ``(S + lam I) q = -D^-1 g`` with Marquardt's scaling
    (``S = D^-1 H D^-1``, ``D`` from ``|diag H|``, or from the gradient over the size of
    ``x`` where a coordinate has no curvature), falling back to a safe ``lam`` (Gershgorin)
    where ``S + lam I`` is not positive definite.

    Returns ``(p, lam_used, ok, newton_step, pd)``: the step (``D^-1 q``), the damping it
    used, whether it exists, the undamped Newton step (the step itself where ``H`` is not
    positive definite) and whether ``H`` is. Both factorizations are computed here; the
    solver skips the second where no member reads it.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import damped_step
        >>> p, lam, ok, newton, pd = damped_step(jnp.array([2.0, 0.0]), jnp.eye(2) * 2.0, 0.0)
        >>> p.tolist(), bool(pd)
        ([-1.0, 0.0], True)
    """
    st = _first_solve(g, H, lam, x)
    return _combine(st, *_second_solve(st))


class _State(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    H: jax.Array
    damping: jax.Array  # lam (DampedNewton) or the trust radius (TrustRegion)
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
    H_known: jax.Array  # (p, p): the entries of the Hessian at x that are finite (H holds
    # zeros for the rest)
    linear: jax.Array  # accepted steps in a row along which f was linear
    x_lin: jax.Array  # x where that run began
    creep: jax.Array  # accepted steps in a row shorter than the rounding of x, held back
    # by the damping (or region) after the model failed
    w_x: jax.Array  # x at the start of the current window of accepted steps ...
    w_f: jax.Array  # ... and f there
    w_n: jax.Array  # accepted steps in the current window
    w_k: jax.Array  # (p,) the coordinate that moved most in the last window, as a mask ...
    w_rate: jax.Array  # ... the change of f per unit of it there
    w_hits: jax.Array  # windows in a row that repeated the one before (a valley to a limit)
    frozen: jax.Array  # (p,): coordinates found running to a limit, held where they are


class _Proposal(NamedTuple):
    """A solver's step at the current point, as the shared iteration reads it."""

    p: jax.Array  #: the step (damped, or within the trust region)
    ok: jax.Array  #: the step exists
    newton: jax.Array  #: the undamped Newton step where H is positive definite (else ``p``)
    pd: jax.Array  #: H is positive definite
    conv_dec: jax.Array  #: the decrement the convergence test reads
    conv_ok: jax.Array  #: whether that test may declare convergence
    used: jax.Array  #: the damping (or radius) the step used
    size: jax.Array  #: the step's length in the scaled coordinates


class Solver:
    """The solver protocol: what :func:`newton` and :func:`newton_batch` drive.

    A solver minimizes a scalar ``fun(x, *args)`` of one flat vector. Its state is a
    pytree of arrays; one iteration is a pure function of it, so that a batch runs
    every member's iteration under ``vmap`` in one loop:

    - ``init(fun, args, x0, iter0)``: the state at the start (``iter0`` iterations
      already taken, when resuming);
    - ``plan(state)``: ``(plan, need)``, the first half of an iteration and whether
      it needs ``extra(plan)``, a second piece of work that a batch skips (by one
      branch for the whole batch) when no member needs it; ``no_extra(plan)``
      stands for it then;
    - ``step(fun, args, state, plan, extra)``: the state after the iteration;
    - ``terminate(state)``: whether the member is finished (converged, stalled, its
      start not finite, or out of iterations);
    - ``repair(fun, args, state)``: the state with what the step could not compute filled
      in by other means (the Newton methods: Hessian entries that are not finite where the
      gradient is, from differences of the gradient), run only where
      ``repair_needed(state)`` and, in a batch, only in iterations where some member needs
      it (``has_repair`` says whether a solver has one);
    - ``review(fun, args, state)``: the state after a look back over the iterations (the
      Newton methods: every few accepted steps, whether a coordinate runs down a valley to
      a limit, which is then held where it is), run like ``repair``, only where
      ``review_needed(state)`` (``has_review``);
    - ``postprocess(fun, args, state)``: the :class:`NewtonResult`.

    The implementations are :class:`TrustRegion` (the default), :class:`DampedNewton`
    and :class:`LBFGS`; :data:`SOLVERS` maps the names ``method=`` takes to them.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import TrustRegion
        >>> s = TrustRegion(max_iter=50)
        >>> f = lambda x: jnp.sum((x - 3.0) ** 2) + jnp.exp(x[0])
        >>> state = s.init(f, (), jnp.zeros(2))
        >>> while not bool(s.terminate(state)):
        ...     plan, need = s.plan(state)
        ...     state = s.step(f, (), state, plan, s.extra(plan) if need else s.no_extra(plan))
        >>> r = s.postprocess(f, (), state)
        >>> bool(r.converged), round(float(r.x[1]), 6)
        (True, 3.0)
    """

    #: whether ``plan`` may ask for ``extra`` work (drivers skip the branch otherwise)
    has_extra: bool = False
    #: whether ``repair`` may be needed (drivers skip the branch otherwise)
    has_repair: bool = False
    #: whether ``review`` may be needed (drivers skip the branch otherwise)
    has_review: bool = False
    #: iteration limit (accepted plus rejected steps)
    max_iter: int
    #: tolerance of the convergence test (``None``: the solver's default for the dtype)
    tol: float | None

    def __init__(self, max_iter: int = 300, tol: float | None = None):
        self.max_iter = int(max_iter)
        self.tol = tol

    def __repr__(self):
        return f"{type(self).__name__}(max_iter={self.max_iter}, tol={self.tol})"

    # solvers are static configuration: equal when their settings are
    def _key(self):
        return (type(self), self.max_iter, self.tol)

    def __eq__(self, other):
        return isinstance(other, Solver) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def init(self, fun, args, x0, iter0=0):
        raise NotImplementedError

    def plan(self, state):
        return None, jnp.zeros((), bool)

    def extra(self, plan):
        return ()

    def no_extra(self, plan):
        return ()

    def step(self, fun, args, state, plan, extra):
        raise NotImplementedError

    def terminate(self, state):
        raise NotImplementedError

    def repair_needed(self, state):
        return jnp.zeros((), bool)

    def repair(self, fun, args, state):
        return state

    def review_needed(self, state):
        return jnp.zeros((), bool)

    def review(self, fun, args, state):
        return state

    def postprocess(self, fun, args, state) -> NewtonResult:
        raise NotImplementedError


def _evaluate(fun, x, args, mirror=True):
    """``(f, g, H, known)``: one forward-over-reverse pass gives the Hessian, the gradient
    and f. Non-finite second derivatives where f and g are finite (0 * inf at an isolated
    point, such as d2/drho2 of 0 ** rho at rho = 1) carry no curvature information: they are
    zero in ``H`` (the scaling handles a zero diagonal), so that the step is taken on the
    rest; ``known`` (p x p) says which entries are finite. With ``mirror``, an entry is taken
    from its mirror where that is finite (:func:`_mirror`); a solver with a repair hook leaves
    that to the repair, which runs only where some entry is not finite (the transposes here
    would run at every member's every evaluation)."""

    def grad_aux(x):
        f, g = jax.value_and_grad(fun)(x, *args)
        return g, (f, g)

    H, (f, g) = jax.jacfwd(grad_aux, has_aux=True)(x)
    finite = jnp.isfinite(H)
    if mirror:
        H, known = _mirror(jnp.where(finite, H, 0.0), finite)
        return f, g, H, known
    return f, g, jnp.where(finite, H, 0.0), finite


def _mirror(H, known):
    """``(H, known)`` with each unknown entry taken from its mirror where that is known:
    forward-over-reverse rows can fail where columns do not (the negative binomial's at
    alpha -> 0)."""
    return jnp.where(known, H, jnp.where(known.T, H.T, 0.0)), known | known.T


def _complete_hessian(fun, x, args, H, known):
    """``(H, known)`` with the unknown entries of ``H`` (``~known``) from central differences
    of the exact gradient, symmetrized, where those are a derivative: the differences with
    steps ``h = eps ** (1/3)`` of each coordinate's size (an error of about ``eps ** (2/3)``
    relative, 4e-11 in float64) and ``2 h`` agree to 1e-5. Where second derivatives are
    ``0 * inf`` at every point while the gradient is finite (``(lo / lam) ** rho`` with
    ``lo = 0`` and ``rho < 2``: the derivative of ``0 ** (rho - 2)``), the Newton step and the
    information still have the curvature they need; where the curvature itself is infinite
    (``|x| ** 1.5`` at 0) the differences grow as the step shrinks, and the entry stays
    unknown."""
    eps = jnp.finfo(x.dtype).eps
    h = eps ** (1 / 3) * jnp.maximum(jnp.abs(x), 1.0)
    grad = jax.grad(fun)
    cols = jnp.any(~known, axis=0)

    # the gradient at x +- h e_j and x +- 2h e_j for every column j, in one vmapped call
    # (one copy of the gradient in the compiled program)
    e = jnp.diag(jnp.where(cols, h, 0.0))
    steps = jnp.concatenate([e, -e, 2 * e, -2 * e])
    G = jax.vmap(lambda z: grad(z, *args))(x + steps).reshape(4, x.shape[0], x.shape[0])
    F = (G[0] - G[1]) / (2 * h[:, None])  # F[j, i]: d g_i / d x_j
    F2 = (G[2] - G[3]) / (4 * h[:, None])

    def sym(F):  # (an entry has both halves where both columns were differenced)
        both = cols[:, None] & cols[None, :]
        return jnp.where(both, 0.5 * (F + F.T), jnp.where(cols[None, :], F.T, F))

    Fs, F2s = sym(F), sym(F2)
    filled = jnp.where(known, H, Fs)
    d = jnp.sqrt(jnp.abs(diag(filled)))
    agree = jnp.abs(Fs - F2s) <= 1e-5 * (jnp.abs(Fs) + d[:, None] * d[None, :])
    ok = known | (jnp.isfinite(filled) & jnp.isfinite(F2s) & agree)
    return jnp.where(ok, filled, 0.0), ok


def _hold(frozen, g, H):
    """``(g, H)`` with the coordinates in ``frozen`` taken out of the problem: no slope, a
    unit curvature of their own and none shared, so that every step leaves them where they
    are."""
    both = frozen[:, None] | frozen[None, :]
    eye = jnp.eye(g.shape[0], dtype=H.dtype)
    return jnp.where(frozen, 0.0, g), jnp.where(both, eye, H)


class _NewtonSolver(Solver):
    """What the two Newton methods share: evaluation (f, g and the exact H at every
    accepted point), acceptance, convergence on the Newton decrement, the polish step, stall
    and limit detection. The subclasses differ in the step they propose and in how its
    damping (or radius) adapts."""

    def _tol(self, dtype):
        return default_tol(dtype) if self.tol is None else self.tol

    def init(self, fun, args, x0, iter0=0):
        # The loop body holds the only evaluation of f, g and H (its first pass
        # evaluates the start): one copy of the Hessian in the compiled program.
        dtype, size = x0.dtype, x0.shape[0]
        zero = jnp.zeros((), dtype)
        false = jnp.zeros((), bool)
        return _State(
            x=x0, f=zero, g=jnp.zeros((size,), dtype), H=jnp.zeros((size, size), dtype),
            damping=self._damping0(dtype), step=jnp.zeros((size,), dtype),
            decrement=jnp.asarray(jnp.inf, dtype), n_iter=jnp.asarray(iter0, jnp.int32),
            converged=false, stalled=false, flat=jnp.zeros((), jnp.int32), done=false,
            fresh=jnp.ones((), bool), start_ok=false, rejected=false, c0=zero, c1=zero,
            H_known=jnp.ones((size, size), bool), linear=jnp.zeros((), jnp.int32), x_lin=x0,
            creep=jnp.zeros((), jnp.int32), w_x=x0, w_f=zero, w_n=jnp.zeros((), jnp.int32),
            w_k=jnp.zeros((size,), bool), w_rate=zero, w_hits=jnp.zeros((), jnp.int32),
            frozen=jnp.zeros((size,), bool),
        )  # fmt: skip

    def terminate(self, s):
        return ~(s.fresh | ((~s.done) & (s.n_iter < self.max_iter)))

    has_repair = True

    def repair_needed(self, s):
        # (a point whose value and gradient are finite, whose Hessian is not everywhere)
        return ~jnp.all(s.H_known) & jnp.isfinite(s.f) & jnp.all(jnp.isfinite(s.g)) & ~s.fresh

    def repair(self, fun, args, s):
        H, known = _complete_hessian(fun, s.x, args, *_mirror(s.H, s.H_known))
        # (the curvature along the last step at its end, where it was accepted: with the
        # completed Hessian there)
        c1 = jnp.where(s.rejected, s.c1, jnp.dot(s.step, matvec(H, s.step)))
        return s._replace(H=H, H_known=known, c1=jnp.where(jnp.all(known), c1, jnp.nan))

    def _levels(self, s):
        """``(noise, small)``: the rounding level of f, and the decrement that counts as
        converged. Below the rounding level of f, no gain the quadratic model predicts can
        be measured: that is convergence too."""
        eps = jnp.finfo(s.f.dtype).eps
        noise = 4 * eps * (jnp.abs(s.f) + 1)
        return noise, jnp.maximum(self._tol(s.f.dtype), noise)

    def _newton_converges(self, s, pd, half_dec):
        """Whether the Newton step (``H`` positive definite, half its decrement
        ``half_dec``) ends the iterations: the decrement below the tolerance, or after a step
        rejected for no measurable gain, below it with a margin (near the optimum a gradient
        computed through special functions is only accurate to some rounding, and damping
        grown by such rejections must not hide convergence)."""
        noise, small = self._levels(s)
        margin = jnp.maximum(self._tol(s.x.dtype), 64 * noise)
        return pd & ((half_dec <= small) | (s.rejected & (half_dec <= margin)))

    def step(self, fun, args, s, plan, extra):
        dtype = s.x.dtype
        prop = self._propose(s, plan, extra)
        noise, small = self._levels(s)
        dec = -jnp.dot(s.g, prop.p)
        newton_done = self._newton_converges(s, prop.pd, -0.5 * jnp.dot(s.g, prop.newton))
        converged = newton_done | (prop.conv_ok & (0.5 * prop.conv_dec <= small))
        converged = ~s.fresh & (converged | jnp.all(s.g == 0))

        # the polishing step after convergence is the undamped Newton step
        p = jnp.where(converged, prop.newton, prop.p)
        p = jnp.where(s.fresh, jnp.zeros_like(p), p)
        ok = prop.ok
        x_new = s.x + p
        f_new, g_new, H_new, H_known = _evaluate(fun, x_new, args, mirror=not self.has_repair)
        H_finite = jnp.all(H_known)
        c0 = jnp.dot(p, matvec(s.H, p))  # the curvature along the step at its start
        pred = -(jnp.dot(s.g, p) + 0.5 * c0)
        actual = s.f - f_new
        good = (actual > 1e-4 * pred) | ((pred <= noise) & (actual >= -noise))
        # On convergence, still take the last Newton step when it does not worsen f beyond
        # rounding: it squares the remaining error for free (or when f's rounding hides
        # the gain but the scaled gradient shrank).
        d = jnp.sqrt(jnp.maximum(jnp.abs(diag(s.H)), jnp.finfo(dtype).tiny))
        shrank = jnp.sum((g_new / d) ** 2) <= jnp.sum((s.g / d) ** 2)
        # the curvature along the step at its end, sum_ij p_i p_j H_ij (H_new holds zeros
        # for its non-finite entries; H_finite says whether there were any)
        c1 = jnp.dot(p, matvec(H_new, p))
        finite = _all_finite(f_new, g_new, c1)
        polish = converged & ok & finite & ((actual >= -noise) | (shrank & (actual >= -64 * noise)))
        accept = (ok & ~converged & finite & good) | polish | s.fresh
        ratio = actual / jnp.where(pred > 0, pred, 1.0)
        # after a rejected step, the fraction t of it at the minimum of the quadratic
        # through f, the slope and the rejected value, in [0.1, 0.5]
        slope = jnp.dot(s.g, p)
        excess = f_new - s.f - slope
        t = -slope / jnp.where(excess > 0, 2 * excess, 1.0)
        t = jnp.where(jnp.isfinite(f_new) & (excess > 0), jnp.clip(t, 0.1, 0.5), 0.1)
        # (where the model predicts a gain below the rounding level of f, the ratio is noise)
        damping = self._adapt(s, prop, accept, ratio, t, pred <= noise)

        # No measurable progress for several iterations (steps rejected, or accepted with a
        # change of f below its rounding level, as when creeping towards a wall where the
        # loglik stops being finite), or a step too small to change x: stop. The caller
        # decides whether that is a limit of the support or a failure. (A rejected trial
        # whose value is finite but worse only says the quadratic model was off: the
        # damping grows until the step is short enough; it is not counted, and the
        # step-underflow test bounds it.)
        progress = accept & (actual > noise)
        misjudged = ~accept & ~converged & finite
        flat = jnp.where(progress | s.fresh, 0, s.flat + jnp.where(misjudged, 0, 1))
        flat = flat.astype(jnp.int32)
        # A coordinate along which f is linear, step after accepted step (no curvature, a
        # slope of the same sign: a scale running to 0 on identical observations, where the
        # loglik is n log(1/scale)), has no maximum that way: after a run of such steps the
        # solver stops, the coordinate flagged as running to a limit (the kink of a Laplace
        # location has no curvature either, but its slope changes sign). (linear: the
        # gradient is the same at both ends of the step, to 1e-6, whatever the Hessian
        # says, which may not be finite there)
        lin = jnp.all(jnp.abs(g_new - s.g) <= 1e-6 * jnp.abs(s.g))
        linear = jnp.where(progress, jnp.where(lin, s.linear + 1, 0), s.linear)
        linear = jnp.where(s.fresh, 0, linear).astype(jnp.int32)
        x_lin = jnp.where(linear <= 1, s.x, s.x_lin)
        # (and that has taken some coordinate beyond its own size: a linear stretch of a
        # quadratic far from its minimum, crossed by short steps, is not a limit)
        far = jnp.any(jnp.abs(x_new - x_lin) >= jnp.maximum(jnp.abs(x_lin), 1.0))
        runaway = (linear >= _LINEAR_LIMIT) & far
        # Accepted steps that change x by less than the rounding of its size, held back by
        # the damping (not the Newton step) after the model overestimated the gain: the
        # model is fitting the rounding of the gradient (a residual at its floor divided by
        # a scale near 0), and the remaining gains are a geometric series below it. Two in
        # a row stop the solver at the next iteration (after its convergence test).
        eps = jnp.finfo(dtype).eps
        tiny = jnp.all(jnp.abs(p) <= jnp.sqrt(eps) * jnp.maximum(jnp.abs(s.x), 1.0))
        held = (~prop.pd | jnp.any(p != prop.newton)) & (ratio < 0.25)
        creep = jnp.where(accept & tiny & held & ~converged, s.creep + 1, 0)
        creep = jnp.where(s.fresh, 0, creep).astype(jnp.int32)
        # (the windows of accepted steps that :meth:`review` looks back over)
        counted = accept & ~s.fresh & ~converged
        w_n = s.w_n + counted.astype(jnp.int32)
        stalled = ~converged & (
            (flat >= _FLAT_LIMIT)
            | (~accept & jnp.all(s.x + p == s.x))
            | runaway
            | (s.creep >= _CREEP_LIMIT)
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
            damping=jnp.where(converged | s.fresh, s.damping, damping).astype(dtype),
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
            c0=jnp.where(jnp.all(s.H_known), c0, jnp.nan),
            # (the boundary test reads the curvature at the end of a step only where the
            # Hessian there is known)
            c1=jnp.where(H_finite, c1, jnp.nan),
            H_known=pick(H_known, s.H_known),
            linear=linear,
            x_lin=x_lin,
            creep=creep,
            w_x=jnp.where(s.fresh, x_new, s.w_x),
            w_f=jnp.where(s.fresh, f_new, s.w_f),
            w_n=jnp.where(s.fresh, 0, w_n).astype(jnp.int32),
            w_k=s.w_k, w_rate=s.w_rate, w_hits=s.w_hits, frozen=s.frozen,
        )  # fmt: skip

    has_review = True

    def review_needed(self, s):
        # (a window of accepted steps is complete, or some coordinate is held)
        return (s.w_n >= _WINDOW) | jnp.any(s.frozen)

    def review(self, fun, args, s):
        # A valley to a limit: window after window of accepted steps, the same coordinate
        # moves the same way by at least 1 (an e-fold of a positive parameter) and f falls
        # at the same rate per unit of it, as the log-likelihood of a scale running to 0
        # along a curved valley of the others (a Gaussian with a free sigma on data the mean
        # can fit exactly: f = m log(sigma) + const along sigma^2 = S(x) / m, no maximum).
        # After _VALLEY_WINDOWS such windows that coordinate is held where it is (reported
        # as running to a limit) and the others converge on their own: their limit as it
        # goes to its end (the x of a zero residual, which Newton's method on the others
        # reaches quadratically, where the valley crawled).
        full = s.w_n >= _WINDOW
        dx = s.x - s.w_x
        # (the coordinate as a mask, without argmax and a gather: elementwise work only)
        k = jnp.abs(dx) == jnp.max(jnp.abs(dx))
        k = k & (jnp.cumsum(k) == 1)
        moved = jnp.sum(jnp.where(k, dx, 0.0))
        rate = (s.f - s.w_f) / jnp.where(moved != 0, moved, 1.0)
        repeat = (
            jnp.all(k == s.w_k)
            & (jnp.abs(moved) >= jnp.maximum(0.05 * jnp.abs(jnp.sum(jnp.where(k, s.w_x, 0))), 1.0))
            & (s.f < s.w_f) & (jnp.sign(rate) == jnp.sign(s.w_rate))
            & (jnp.abs(rate - s.w_rate) <= 0.25 * jnp.abs(s.w_rate))
        )  # fmt: skip
        w_hits = jnp.where(full, jnp.where(repeat, s.w_hits + 1, 0), s.w_hits)
        valley = w_hits >= _VALLEY_WINDOWS - 1
        frozen = s.frozen | (valley & k)
        g, H = _hold(frozen, s.g, s.H)
        return s._replace(
            g=g, H=H, frozen=frozen,
            w_x=jnp.where(full, s.x, s.w_x),
            w_f=jnp.where(full, s.f, s.w_f),
            w_n=jnp.where(full, 0, s.w_n).astype(jnp.int32),
            w_k=jnp.where(full, k, s.w_k),
            w_rate=jnp.where(full, rate, s.w_rate).astype(s.f.dtype),
            w_hits=jnp.where(valley, 0, w_hits).astype(jnp.int32),
        )  # fmt: skip

    def postprocess(self, fun, args, s) -> NewtonResult:
        start_ok = s.start_ok
        # Where the decrement vanished only because the curvature vanishes along the step
        # (the optimum lies at a limit of the coordinates: a probability -> 1, a coefficient
        # -> infinity under separation), the curvature along the last step has dropped from
        # its start to its end (by e^-1 for a logistic or exponential tail; by 0.5 after
        # rounding when the user's loglik takes log(p) of a p that rounds towards 1). At an
        # interior optimum the last step is tiny and the curvature does not change. The
        # coordinates that carry the step are the ones at a limit, where they moved beyond
        # the rounding of their size (a coefficient that moves by 1e-12 beside a dispersion
        # running to 0 carries no step, however well it is determined).
        p_final = s.step
        size = jnp.maximum(jnp.abs(s.x), 1.0)
        moved = jnp.abs(p_final) > jnp.sqrt(jnp.finfo(s.x.dtype).eps) * size
        weight = jnp.where(moved, jnp.abs(p_final) * jnp.sqrt(jnp.abs(diag(s.H))), 0.0)
        # (after a run of linear steps: the coordinates that moved)
        moving = s.step != 0
        runaway = (s.linear >= _LINEAR_LIMIT) & s.stalled
        divergent = _at_limit(s.c0, s.c1, weight, start_ok) | (runaway & moving) | s.frozen
        hess = jnp.where(s.H_known, s.H, jnp.nan)  # (NaN only where an entry is unknown)
        return NewtonResult(
            x=s.x, value=s.f, grad=s.g, hess=hess, step=p_final, n_iter=s.n_iter,
            converged=s.converged & start_ok, nonfinite=~start_ok, stalled=s.stalled,
            decrement=s.decrement, divergent=divergent,
        )  # fmt: skip


class DampedNewton(_NewtonSolver):
    """Newton's method with Levenberg-Marquardt damping and Marquardt's scaling.

    Per iteration: scale the Hessian to a unit diagonal (``S = D^-1 H D^-1``), solve
    ``(S + lam I) q = -D^-1 g`` by Cholesky and step ``D^-1 q``; ``lam`` shrinks after a
    step whose decrease matches the quadratic model and grows after a rejected one; where
    ``S + lam I`` is not positive definite, ``lam`` is raised at once to the Gershgorin
    bound that makes it so (negative curvature is damped away). The cheapest step per
    iteration (Cholesky factorizations only); :class:`TrustRegion` is more robust where
    the Hessian is indefinite.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import DampedNewton, newton
        >>> f = lambda x: jnp.sum((x - 3.0) ** 2) + jnp.exp(x[0])
        >>> r = newton(f, jnp.zeros(2), solver=DampedNewton())
        >>> bool(r.converged), round(float(r.x[1]), 6)
        (True, 3.0)
    """

    has_extra = True

    def _damping0(self, dtype):
        return jnp.zeros((), dtype)

    def plan(self, s):
        """The first solve of an iteration and whether the second is needed."""
        st = _first_solve(s.g, s.H, s.damping, s.x)
        # The undamped step is read after a rejection and on convergence (the polish step):
        # where the first solve succeeds, `step`'s convergence test is this one.
        near = (st.lam <= 1.0) & (-0.5 * jnp.dot(s.g, st.q0 / st.d) <= self._levels(s)[1])
        need = _needs_second_solve(st, s.rejected | near) & ~s.fresh
        return st, need

    def extra(self, plan):
        return _second_solve(plan)

    def no_extra(self, plan):
        return _no_second_solve(plan)

    def _propose(self, s, st, second):
        p, lam_used, ok, p_newton, pd = _combine(st, *second)
        dec = -jnp.dot(s.g, p)
        return _Proposal(
            p=p, ok=ok, newton=p_newton, pd=pd, conv_dec=dec, conv_ok=ok & (lam_used <= 1.0),
            used=lam_used, size=jnp.linalg.norm(p * st.d),
        )  # fmt: skip

    def _adapt(self, s, prop, accept, ratio, t, quiet):
        lam_used = prop.used
        lam_next = jnp.where(
            ratio > 0.75,
            lam_used * 0.25,
            # (from no damping at all, a poor step starts it: doubling 0 would leave an
            # undamped Newton method swinging across a kink)
            jnp.where(ratio < 0.25, jnp.maximum(lam_used * 2.0, 1e-3), lam_used),
        )
        # After a rejected step the damping grows to shorten the step to about the minimum
        # of the quadratic through f, the slope and the rejected value (lam ~ 1/t - 1 on the
        # unit-diagonal scale), and at least eightfold.
        lam_up = jnp.maximum(jnp.maximum(lam_used * 8.0, 1e-3), (1.0 + lam_used) / t - 1.0)
        return jnp.where(accept, lam_next, lam_up)


#: largest number of parameters whose trust-region subproblem is solved exactly (by an
#: eigendecomposition); above it, by Steihaug's truncated conjugate gradients
EXACT_MAX = 64


#: Newton iterations on the secular equation (from the left of the root, where it is concave:
#: monotone, and quadratic near the root; the step need only reach the boundary to a few
#: digits)
_SECULAR_ITER = 12


def _eigh(S):
    """``(lam, V)``, the eigenvalues of a symmetric ``S`` in ascending order and the
    eigenvectors as columns; for ``2 x 2`` in closed form (a rotation by
    ``atan2(2 s12, s11 - s22) / 2``), which XLA fuses under ``vmap`` where a batch of LAPACK
    calls would be one call per matrix."""
    if S.shape[-1] != 2:
        return jnp.linalg.eigh(S)
    a, b, c = S[0, 0], 0.5 * (S[0, 1] + S[1, 0]), S[1, 1]
    theta = 0.5 * jnp.arctan2(2.0 * b, a - c)
    cs, sn = jnp.cos(theta), jnp.sin(theta)
    big = a * cs * cs + 2.0 * b * sn * cs + c * sn * sn
    small = a * sn * sn - 2.0 * b * sn * cs + c * cs * cs
    return jnp.stack([small, big]), jnp.array([[-sn, cs], [cs, sn]])


def trust_region_step(S, b, radius):
    """The exact minimizer of ``b'q + q'Sq/2`` subject to ``|q| <= radius``.

    By the eigendecomposition ``S = V diag(lam) V'``: the Newton step ``-S^-1 b`` where ``S``
    is positive definite and the step fits; otherwise ``q(mu) = -(S + mu I)^-1 b`` on the
    boundary, with ``mu >= max(0, -lam_min)`` the root of the secular equation
    ``1/|q(mu)| = 1/radius`` (Newton's method from the left, which converges monotonically:
    Moré and Sorensen 1983); in the *hard case*, where ``b`` has no component along the
    eigenvector of ``lam_min < 0``, ``q(-lam_min)`` completed to the boundary along that
    eigenvector (negative curvature used, not damped away).

    Returns ``(q, mu, newton, pd)``: the step, its multiplier, the Newton step (NaN where
    ``S`` is not positive definite) and whether ``S`` is.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import trust_region_step
        >>> S = jnp.array([[1.0, 0.0], [0.0, -1.0]])
        >>> q, mu, _, pd = trust_region_step(S, jnp.array([1.0, 0.0]), 2.0)
        >>> round(float(jnp.linalg.norm(q)), 6), bool(pd)    # the hard case: on the boundary
        (2.0, False)
    """
    dtype = b.dtype
    eps = jnp.finfo(dtype).eps
    lam, V = _eigh(S)
    c = V.T @ b
    # (components of b at its rounding level are not resolved: zero, not amplified by a
    # small lam + mu along a direction b does not have)
    c = jnp.where(jnp.abs(c) <= 10 * eps * jnp.linalg.norm(b), 0.0, c)
    c2 = c * c
    lmin = lam[0]
    top = jnp.maximum(jnp.max(jnp.abs(lam)), jnp.finfo(dtype).tiny)
    pd = lmin > 100 * eps * top
    newton = jnp.where(pd, -(V @ (c / lam)), jnp.nan)
    interior = pd & (jnp.linalg.norm(jnp.where(pd, newton, 0.0)) <= radius)
    # the secular equation from the left of its root
    mu_lo = jnp.maximum(-lmin, 0.0)
    mu0 = mu_lo + 100 * eps * (top + mu_lo)

    def phi(mu):
        den = lam + mu
        return jnp.sqrt(jnp.sum(c2 / den**2)), jnp.sum(c2 / den**3)

    def newton_iter(_, mu):
        ph, s3 = phi(mu)
        nxt = mu + ph**2 * (ph / radius - 1.0) / jnp.where(s3 > 0, s3, 1.0)
        nxt = jnp.where(jnp.isfinite(nxt) & (s3 > 0), nxt, mu)
        return jnp.maximum(nxt, mu0)

    mu = lax.fori_loop(0, _SECULAR_ITER, newton_iter, mu0)
    q = -(V @ (c / (lam + mu)))
    qn2 = jnp.sum(q * q)
    # the hard case: even at mu0 the step falls short of the boundary
    short = qn2 < (0.99 * radius) ** 2
    v = V[:, 0]
    tau = jnp.sqrt(jnp.maximum(radius**2 - qn2, 0.0))
    sign = jnp.where(jnp.dot(b, v) > 0, -1.0, 1.0)
    # (only along negative curvature: along a zero eigenvalue, a direction the model does not
    # see, as a parameter identified only through a sum, the step stays the shortest one)
    negative = lmin < -100 * eps * top
    q = jnp.where(short & negative, q + sign * tau * v, q)
    q = jnp.where(interior, newton, q)
    mu = jnp.where(interior, 0.0, mu)
    return q, mu, newton, pd


def steihaug_step(S, b, radius):
    """Steihaug's truncated conjugate gradients for ``min b'q + q'Sq/2``, ``|q| <= radius``:
    CG from 0 until it converges, meets negative curvature (then the boundary along that
    direction) or leaves the region (then the boundary along the last direction). For many
    parameters: matrix-vector products only. Returns what :func:`trust_region_step` does
    (the Newton step by CG where ``S`` is positive definite along every direction met).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import steihaug_step
        >>> q, *_ = steihaug_step(jnp.eye(3) * 2.0, jnp.array([2.0, 0.0, 0.0]), 10.0)
        >>> q.tolist()
        [-1.0, 0.0, 0.0]
    """
    dtype = b.dtype
    eps = jnp.finfo(dtype).eps
    n = b.shape[0]
    bnorm = jnp.linalg.norm(b)
    tol = jnp.minimum(0.5, jnp.sqrt(bnorm)) * bnorm + eps

    def to_boundary(z, d):
        # tau >= 0 with |z + tau d| = radius
        dd, zd, zz = jnp.dot(d, d), jnp.dot(z, d), jnp.dot(z, z)
        dd = jnp.where(dd > 0, dd, 1.0)
        return (-zd + jnp.sqrt(jnp.maximum(zd**2 + dd * (radius**2 - zz), 0.0))) / dd

    def cond(c):
        _, _, _, k, done, _ = c
        return (~done) & (k < n + 1)

    def body(c):
        z, r, d, k, done, curved = c
        Sd = S @ d
        dSd = jnp.dot(d, Sd)
        rr = jnp.dot(r, r)
        alpha = rr / jnp.where(dSd > 0, dSd, 1.0)
        z_next = z + alpha * d
        negative = dSd <= 0
        outside = jnp.linalg.norm(z_next) >= radius
        edge = z + to_boundary(z, d) * d
        r_next = r + alpha * Sd
        small = jnp.linalg.norm(r_next) <= tol
        beta = jnp.dot(r_next, r_next) / jnp.where(rr > 0, rr, 1.0)
        stop = negative | outside
        z_out = jnp.where(stop, edge, z_next)
        return (
            z_out, r_next, -r_next + beta * d, k + 1, stop | small, curved & ~negative,
        )  # fmt: skip

    z0 = jnp.zeros_like(b)
    start = (z0, b, -b, jnp.zeros((), jnp.int32), bnorm == 0, jnp.ones((), bool))
    q, _, _, _, _, curved = lax.while_loop(cond, body, start)
    inside = jnp.linalg.norm(q) < radius * (1 - 1e-6)
    pd = curved & inside
    mu = jnp.where(inside, 0.0, jnp.nan).astype(dtype)
    return q, mu, jnp.where(pd, q, jnp.nan), pd


class _TrustPlan(NamedTuple):
    d: jax.Array  #: the scaling
    S: jax.Array  #: the Hessian scaled to a unit diagonal
    b: jax.Array  #: the scaled gradient
    qn: jax.Array  #: the scaled Newton step (NaN where S is not positive definite)
    pd: jax.Array  #: S is positive definite
    radius: jax.Array  #: the radius of this step
    newton_only: jax.Array  #: the Newton step is the answer (inside the region, or converging)


class TrustRegion(_NewtonSolver):
    """Newton's method in a trust region, the subproblem solved exactly (the default).

    Per iteration: scale the coordinates by ``D`` (from the Hessian's diagonal, or the
    gradient where a coordinate has no curvature), and minimize the quadratic model over the
    region ``|D p| <= radius`` (:func:`trust_region_step`: exact, negative curvature
    followed to the boundary; :func:`steihaug_step` above :data:`EXACT_MAX` parameters).
    The Newton step comes from a Cholesky factorization; the exact subproblem is solved
    only where it is not the answer (in a batch: in iterations where some member needs
    it). The radius doubles after a step whose decrease matches the model, and shrinks to
    the minimum of the quadratic through the rejected value after a poor step. The first
    radius admits the full Newton step where the Hessian is positive definite: on a
    well-behaved likelihood the iterations are Newton's.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import TrustRegion, newton
        >>> f = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2   # Rosenbrock
        >>> r = newton(f, jnp.array([-1.2, 1.0]), solver=TrustRegion())
        >>> bool(r.converged), [round(float(v), 6) for v in r.x]
        (True, [1.0, 1.0])
    """

    def _damping0(self, dtype):
        # no radius yet: the first step sets it
        return jnp.asarray(jnp.inf, dtype)

    has_extra = True

    def plan(self, s):
        """The scaled model, its Newton step by Cholesky, and the radius; the exact
        subproblem (the extra work) is needed only where that step is not the answer (the
        Hessian not positive definite, or the step outside the region)."""
        dtype = s.x.dtype
        d = _scale(s.g, s.H, s.x)
        S = s.H / (d[:, None] * d[None, :])
        b = s.g / d
        qn, pd = _spd_solve(S, -b)
        nsize = jnp.linalg.norm(jnp.where(pd, qn, 0.0))
        # the first radius: the Newton step where H is positive definite, otherwise the
        # Cauchy step (the minimum of the model along the gradient; the gradient's length
        # where the curvature along it is not positive), at least 1 in the scaled coordinates
        bb, bSb = jnp.dot(b, b), jnp.dot(b, matvec(S, b))
        cauchy = jnp.where(bSb > 0, bb * jnp.sqrt(bb) / jnp.where(bSb > 0, bSb, 1.0), jnp.sqrt(bb))
        start = jnp.maximum(jnp.where(jnp.isfinite(cauchy), cauchy, 1.0), 1.0)
        radius = jnp.where(jnp.isfinite(s.damping), s.damping, jnp.where(pd, nsize, start))
        interior = pd & (nsize <= radius)
        # The Newton step is the answer inside the region, and where `step` declares
        # convergence (after a step rejected near the optimum for the rounding of f, the
        # region is smaller than the Newton step, which is then taken as the polish).
        converging = self._newton_converges(s, pd, -0.5 * jnp.dot(b, jnp.where(pd, qn, 0.0)))
        newton_only = interior | converging
        qn = jnp.where(pd, qn, jnp.nan)
        plan = _TrustPlan(d, S, b, qn, pd, radius.astype(dtype), newton_only)
        return plan, ~newton_only & ~s.fresh

    def extra(self, plan):
        solve = steihaug_step if plan.b.shape[0] > EXACT_MAX else trust_region_step
        q, mu, *_ = solve(plan.S, plan.b, plan.radius)
        return q, mu

    def no_extra(self, plan):
        return jnp.full_like(plan.b, jnp.nan), jnp.full_like(plan.radius, jnp.nan)

    def _propose(self, s, plan, exact):
        dtype = s.x.dtype
        d, pd = plan.d, plan.pd
        q_exact, mu = exact
        q = jnp.where(plan.newton_only, plan.qn, q_exact)
        ok = jnp.all(jnp.isfinite(q))
        p = jnp.where(ok, q / d, jnp.zeros_like(q))
        newton = jnp.where(pd, plan.qn / d, p)
        # the decrement of the Newton step; where H is only semidefinite (a parameter
        # identified through a sum), that of the step, when it is hardly damped
        conv_dec = -jnp.dot(s.g, newton)
        conv_ok = pd | (ok & (mu <= 1.0))
        return _Proposal(
            p=p, ok=ok, newton=newton, pd=pd, conv_dec=conv_dec, conv_ok=conv_ok,
            used=plan.radius, size=jnp.linalg.norm(jnp.where(ok, q, 0.0)).astype(dtype),
        )  # fmt: skip

    def _adapt(self, s, prop, accept, ratio, t, quiet):
        radius, size = prop.used, prop.size
        # (an accepted step whose gain is below the rounding level of f says nothing against
        # the model: the region keeps growing, so that a coordinate running to a limit keeps
        # taking its Newton steps and the limit test sees the curvature vanish along them)
        grow = accept & ((ratio > 0.75) | quiet)
        up = jnp.maximum(radius, 2.0 * size)
        down = jnp.where(accept, 0.25 * size, t * size)
        return jnp.where(grow, up, jnp.where(accept & (ratio >= 0.25), radius, down))


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
    start_ok: jax.Array


class LBFGS(Solver):
    """L-BFGS (``optax.lbfgs``, zoom line search), for models with many parameters.

    Where one Hessian (``p`` gradient evaluations) per iteration costs more than the many
    cheap L-BFGS iterations. Convergence is on the gradient: ``max_i |g_i| <= tol *
    max(1, |f|)`` (default :func:`lbfgs_default_tol`), a test relative to the size of the
    objective (the gradient of a sum over ``n`` observations grows with ``n`` as ``f``
    does). A step that the line search cannot make without increasing ``f`` (or that gives
    non-finite values), or ``25`` iterations without decrease of ``f`` or a new smallest
    gradient, stop the loop as stalled.

    With ``hessian=True`` the Hessian is computed once, at the end (for standard errors),
    and the limit test of the Newton solvers is applied: where the curvature along the
    final Newton step drops one step further, the coordinates carrying that step are
    flagged ``divergent`` (a coefficient running to infinity); and a stalled run whose
    Newton decrement ``g^T H^-1 g / 2`` is below :func:`default_tol` (or the rounding level
    of ``f``) counts as converged. With ``hessian=False`` nothing of size ``p x p`` is
    formed: ``hess`` and ``decrement`` are NaN, and the limit test runs along the last
    L-BFGS step instead, with two Hessian-vector products.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import LBFGS, newton
        >>> f = lambda x: jnp.sum((x - 3.0) ** 2) + jnp.exp(x[0])
        >>> r = newton(f, jnp.zeros(2), solver=LBFGS())
        >>> bool(r.converged), round(float(r.x[1]), 5)
        (True, 3.0)
    """

    def __init__(
        self, max_iter: int = 1000, tol: float | None = None, memory_size: int = 10,
        hessian: bool = True,
    ):  # fmt: skip
        super().__init__(max_iter, tol)
        self.memory_size = int(memory_size)
        self.hessian = bool(hessian)

    def _key(self):
        return (*super()._key(), self.memory_size, self.hessian)

    def _opt(self):
        return optax.lbfgs(memory_size=self.memory_size)

    def _tol(self, dtype):
        return lbfgs_default_tol(dtype) if self.tol is None else self.tol

    def _small(self, f, g):
        return jnp.max(jnp.abs(g)) <= self._tol(g.dtype) * jnp.maximum(1.0, jnp.abs(f))

    def init(self, fun, args, x0, iter0=0):
        dtype = x0.dtype
        opt0 = self._opt().init(x0)
        # The start's value and gradient (the state holds none yet). Inside the loop they
        # come from the line search's state: a value_and_grad_from_state call there would
        # be a lax.cond, which vmap turns into computing both branches.
        f0, g0 = optax.value_and_grad_from_state(lambda x: fun(x, *args))(x0, state=opt0)
        f0, g0 = jnp.asarray(f0, dtype), jnp.asarray(g0, dtype)
        start_ok = _all_finite(f0, g0)
        conv0 = start_ok & self._small(f0, g0)
        return _LbfgsState(
            x=x0, f=f0, g=g0, opt=opt0, step=jnp.zeros_like(x0),
            n_iter=jnp.asarray(iter0, jnp.int32), best=jnp.max(jnp.abs(g0)),
            flat=jnp.zeros((), jnp.int32), converged=conv0, stalled=jnp.zeros((), bool),
            done=conv0 | ~start_ok, start_ok=start_ok,
        )  # fmt: skip

    def terminate(self, s):
        return s.done | (s.n_iter >= self.max_iter)

    def step(self, fun, args, s, plan, extra):
        dtype = s.x.dtype
        eps = jnp.finfo(dtype).eps
        fn = lambda x: fun(x, *args)  # noqa: E731
        upd, opt_new = self._opt().update(s.g, s.opt, s.x, value=s.f, grad=s.g, value_fn=fn)
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
        converged = accept & self._small(f, g)
        # a rejected step would be proposed again from the same state: stop
        stalled = ~converged & (~accept | (flat >= _LBFGS_FLAT_LIMIT))
        return _LbfgsState(
            x=x, f=f, g=g, opt=opt_state, step=jnp.where(accept, upd, s.step),
            n_iter=s.n_iter + 1, best=jnp.where(accept, jnp.minimum(s.best, gmax), s.best),
            flat=flat, converged=converged, stalled=stalled, done=converged | stalled,
            start_ok=s.start_ok,
        )  # fmt: skip

    def postprocess(self, fun, args, s) -> NewtonResult:
        dtype = s.x.dtype
        eps = jnp.finfo(dtype).eps
        fn = lambda x: fun(x, *args)  # noqa: E731
        p = s.x.shape[0]
        start_ok = s.start_ok
        if self.hessian:
            H = jax.hessian(fn)(s.x)
            # the Newton step at the end, and the limit test of the Newton solvers
            step = -_scaled_solve(H, s.g)
            solved = jnp.all(jnp.isfinite(step))  # H positive definite
            step = jnp.where(solved, step, jnp.zeros_like(step))
            decrement = -jnp.dot(s.g, step)
            _, hvp_next = jax.jvp(jax.grad(fn), (s.x + step,), (step,))
            c0 = jnp.dot(step, matvec(H, step))
            weight = jnp.abs(step) * jnp.sqrt(jnp.abs(diag(H)))
            divergent = _at_limit(c0, jnp.dot(step, hvp_next), weight, start_ok)
            noise = 4 * eps * (jnp.abs(s.f) + 1)
            flat_optimum = solved & (c0 > 0)
            flat_optimum = flat_optimum & (
                0.5 * decrement <= jnp.maximum(default_tol(dtype), noise)
            )
            converged = s.converged | (s.stalled & flat_optimum)
        else:
            # the same limit test along the last quasi-Newton step, by two Hessian-vector
            # products
            H = jnp.full((p, p), jnp.nan, dtype)
            step, decrement = s.step, jnp.asarray(jnp.nan, dtype)
            _, hvp_here = jax.jvp(jax.grad(fn), (s.x,), (step,))
            _, hvp_next = jax.jvp(jax.grad(fn), (s.x + step,), (step,))
            c0, c1 = jnp.dot(step, hvp_here), jnp.dot(step, hvp_next)
            divergent = _at_limit(c0, c1, jnp.abs(step), start_ok)
            converged = s.converged
        return NewtonResult(
            x=s.x, value=s.f, grad=s.g, hess=H, step=step, n_iter=s.n_iter,
            converged=converged & start_ok, nonfinite=~start_ok, stalled=s.stalled & ~converged,
            decrement=decrement, divergent=divergent,
        )  # fmt: skip


#: the solvers ``method=`` names
SOLVERS = {"trust": TrustRegion, "newton": DampedNewton, "lbfgs": LBFGS}


def make_solver(solver=None, max_iter: int | None = None, tol: float | None = None) -> Solver:
    """A :class:`Solver` from a name in :data:`SOLVERS` (``None``: ``"trust"``) with its
    settings, or a solver given as is (its settings its own).

    Example:
        >>> from jaxmle.optimize import make_solver
        >>> make_solver("newton", max_iter=50)
        DampedNewton(max_iter=50, tol=None)
    """
    if isinstance(solver, Solver):
        if max_iter is not None or tol is not None:
            raise ValueError("give max_iter and tol to the solver object, not beside it")
        return solver
    name = "trust" if solver is None else solver
    if name not in SOLVERS:
        raise ValueError(f"solver must be one of {tuple(SOLVERS)} or a Solver, got {name!r}")
    kwargs = {} if max_iter is None else {"max_iter": max_iter}
    return SOLVERS[name](tol=tol, **kwargs)


def _iterate(solver, fun, args, state):
    plan, need = solver.plan(state)
    if solver.has_extra:
        extra = lax.cond(need, solver.extra, solver.no_extra, plan)
    else:
        extra = solver.no_extra(plan)
    state = solver.step(fun, args, state, plan, extra)
    for needed, fix in _fixes(solver):
        state = lax.cond(needed(state), lambda s, fix=fix: fix(fun, args, s), lambda s: s, state)
    return state


def newton(
    fun: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    *,
    solver: Solver | str | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
    iter0: jax.Array | int = 0,
) -> NewtonResult:
    """Minimize ``fun`` from ``x0``: drive a :class:`Solver` (by default :class:`TrustRegion`,
    Newton's method with the exact gradient and Hessian) in one ``lax.while_loop``.

    Args:
        fun: scalar function of a flat vector, pure and traceable.
        x0: starting point, shape ``(p,)``.
        solver: a :class:`Solver`, or its name in :data:`SOLVERS` (default ``"trust"``).
        max_iter: iteration limit (accepted plus rejected steps) of a named solver
            (default: the solver's, 300 for the Newton methods).
        tol: tolerance of a named solver's convergence test; default by dtype
            (:func:`default_tol`: half the Newton decrement).
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
    solver = make_solver(solver, max_iter, tol)
    x0 = jnp.asarray(x0)
    # (the protocol's fun(x, *args) with args = ())
    state = solver.init(fun, (), x0, iter0)
    state = lax.while_loop(
        lambda s: ~solver.terminate(s), lambda s: _iterate(solver, fun, (), s), state
    )
    return solver.postprocess(fun, (), state)


def _where_needed(work, skip, tree, need, few, aux=()):
    """``work(tree, aux)`` for the members of a batch that ``need`` it, ``skip(tree)`` for the
    others (both map a batch to a batch; ``aux``: per-member inputs of ``work`` that it does
    not return): skipped where none does; where at most ``few`` do, computed on those
    gathered into a batch of ``few`` (a handful of hard members then costs a handful of
    solves, not a batch of them); otherwise on the whole batch. ``few = 0``: no gathered
    branch (each branch is a copy of ``work`` in the compiled program: where ``work`` is
    cheap or rarely needed, the copy costs more compile time than it saves)."""
    B = need.shape[0]
    count = jnp.sum(need)

    def gathered(tree):
        idx = jnp.nonzero(need, size=few, fill_value=0)[0]
        sub = work(*jax.tree_util.tree_map(lambda a: a[idx], (tree, aux)))
        full = skip(tree)
        # (padding indices repeat member 0, which is written last, with its own value)
        real = jnp.arange(few) < count
        return jax.tree_util.tree_map(
            lambda f, s_: f.at[jnp.where(real, idx, B)].set(s_, mode="drop"), full, sub
        )

    def every(tree):
        return jax.tree_util.tree_map(
            lambda w, s_: jnp.where(jnp.reshape(need, (B,) + (1,) * (w.ndim - 1)), w, s_),
            work(tree, aux), skip(tree),
        )  # fmt: skip

    if few == 0:
        return lax.cond(count == 0, skip, every, tree)
    branch = jnp.where(count == 0, 0, jnp.where(count <= few, 1, 2))
    return lax.switch(branch, [skip, gathered, every], tree)


def _written(fix, fun, state, args) -> tuple[int, ...]:
    """The positions of the leaves of a batch's ``state`` that ``fix(fun, args_i, state_i)``
    may change: every leaf but those it returns as given (in its jaxpr, an output that is
    the input itself)."""
    one = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(jnp.shape(a)[1:], jnp.result_type(a)), (state, args)
    )
    jaxpr = jax.make_jaxpr(lambda s, a: fix(fun, a, s))(*one).jaxpr
    given = jaxpr.invars[: len(jax.tree_util.tree_leaves(state))]
    return tuple(i for i, (out, v) in enumerate(zip(jaxpr.outvars, given)) if out is not v)


def _fixes(solver):
    """The solver's work after a step, as ``(needed(state), fix(fun, args, state))`` pairs:
    its repair and its review, where it has them."""
    return [
        (needed, fix)
        for has, needed, fix in (
            (solver.has_repair, solver.repair_needed, solver.repair),
            (solver.has_review, solver.review_needed, solver.review),
        )
        if has
    ]


def newton_batch(
    fun: Callable[..., jax.Array],
    x0: jax.Array,
    args: tuple,
    *,
    solver: Solver | str | None = None,
    max_iter: int | None = None,
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
    hard datasets would multiply the cost of the batch. A solver's ``extra`` work
    (:class:`Solver`) runs only in iterations where some member needs it.

    Args:
        fun: ``fun(x, *a)``, scalar, for one member.
        x0: starting points, shape ``(B, p)``.
        args: per-member arguments, each with a leading axis ``B``.
        solver, max_iter, tol: as for :func:`newton`.
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
    solver = make_solver(solver, max_iter, tol)
    x0 = jnp.asarray(x0)
    B = x0.shape[0]
    iter0 = jnp.broadcast_to(jnp.asarray(iter0, jnp.int32), (B,))
    state = jax.vmap(lambda x, a, i: solver.init(fun, a, x, i))(x0, args, iter0)

    def active(s):
        return ~jax.vmap(solver.terminate)(s)

    def outer_cond(c):
        s, _, waited = c
        return jnp.any(active(s)) & (waited < patience)

    def outer_body(c):
        s, count, waited = c
        on = active(s)
        plan, need = jax.vmap(solver.plan)(s)
        # the extra work only where some member needs it (a batch-level branch): none, a
        # few members gathered into a small batch of their own, or the whole batch
        few = max(B // 32, 1)
        if solver.has_extra:
            extra = _where_needed(
                lambda pl, _: jax.vmap(solver.extra)(pl), jax.vmap(solver.no_extra), plan,
                on & need, few,
            )  # fmt: skip
        else:
            extra = solver.no_extra(plan)
        new = jax.vmap(lambda s_, a, pl, ex: solver.step(fun, a, s_, pl, ex), (0, 0, 0, 0))(
            s, args, plan, extra
        )
        s = jax.tree_util.tree_map(
            lambda n, o: jnp.where(jnp.reshape(on, (B,) + (1,) * (n.ndim - 1)), n, o), new, s
        )
        for needed, fix in _fixes(solver):
            # (only the leaves the fix writes pass through the branch: a leaf it returns as
            # given would be copied where no member needs it, every iteration)
            leaves, tree = jax.tree_util.tree_flatten(s)
            written = _written(fix, fun, s, args)

            def work(_, aux, fix=fix, written=written):
                out = jax.tree_util.tree_leaves(jax.vmap(lambda s_, a: fix(fun, a, s_))(*aux))
                return tuple(out[i] for i in written)

            # (the fixes run where a Hessian entry is not finite, or once per window of
            # steps: without a gathered branch of their own)
            part = _where_needed(
                work, lambda p: p, tuple(leaves[i] for i in written),
                on & jax.vmap(needed)(s), 0, (s, args),
            )  # fmt: skip
            for i, leaf in zip(written, part):
                leaves[i] = leaf
            s = jax.tree_util.tree_unflatten(tree, leaves)
        left = jnp.sum(active(s), dtype=jnp.int32)
        # a few members left, none of which finished in this iteration: stragglers
        stuck = (left <= allowed) & (left >= count)
        return s, left, jnp.where(stuck, waited + 1, 0).astype(jnp.int32)

    start = (state, jnp.asarray(B, jnp.int32), jnp.zeros((), jnp.int32))
    state, _, _ = lax.while_loop(outer_cond, outer_body, start)
    return jax.vmap(lambda s, a: solver.postprocess(fun, a, s))(state, args)


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
    """Minimize ``fun`` from ``x0`` by :class:`LBFGS` (shorthand for :func:`newton` with
    that solver).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.optimize import lbfgs
        >>> r = lbfgs(lambda x: jnp.sum((x - 3.0) ** 2) + jnp.exp(x[0]), jnp.zeros(2))
        >>> bool(r.converged), round(float(r.x[1]), 5)
        (True, 3.0)
    """
    solver = LBFGS(max_iter=max_iter, tol=tol, memory_size=memory_size, hessian=hessian)
    return newton(fun, x0, solver=solver, iter0=iter0)


#: what a derivative through a fit that did not converge is: ``"nan"`` (the default: it cannot
#: be mistaken for a derivative) or ``"zero"`` (masking the fit out keeps a gradient finite)
ON_FAILURE_GRAD = ("nan", "zero")


def minimize_implicit(objective, x0, args, *, solver=None, on_failure_grad="nan", **solver_options):
    """Minimize ``objective(x, *args)`` by :func:`newton` with ``solver`` (a :class:`Solver`
    or its name; ``solver_options`` go to :func:`newton`), differentiable through the
    optimum.

    The solver runs on stopped gradients (its iterations are never
    differentiated); the minimizer it returns gets derivatives with respect to
    ``args``, and to anything ``objective`` closes over, by the implicit
    function theorem: ``dx*/da = -H^-1 d(grad_x objective)/da`` with ``H`` the
    Hessian at ``x*``. Forward and reverse mode, to any order: the rule is
    itself written in differentiable operations of ``x*`` and ``args``, with
    ``x*`` carrying its own dependence on ``args``, so that differentiating it
    again gives exact second and higher derivatives. The cost of a first
    derivative is one Hessian and one linear solve, whatever the number of
    iterations.

    Where the solver did not converge the derivatives are NaN
    (``on_failure_grad="nan"``), or zero (``"zero"``): then ``args`` are
    returned with their derivatives stopped for that fit as well, so that
    nothing computed from them contributes a NaN to a gradient where the fit is
    masked out (``jnp.where(converged, value, 0)``).

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
        >>> g = lambda a: jnp.sum(minimize_implicit(obj, jnp.zeros(1), (a,))[0] ** 3)
        >>> jax.hessian(g)(jnp.array([2.0])).tolist()  # d^2 a^3 / da^2 = 6 a
        [[12.0]]
    """
    check_on_failure_grad(on_failure_grad)
    x0 = jnp.asarray(x0)
    closed, consts = jax.closure_convert(lambda x, *a: objective(x, *a), x0, *args)
    all_args = (*args, *consts)
    frozen = lax.stop_gradient(all_args)
    sol = newton(
        lambda x: closed(x, *frozen), lax.stop_gradient(x0), solver=solver, **solver_options
    )
    if on_failure_grad == "zero":
        all_args = gate_derivatives(sol.converged, all_args)
    x_star = _implicit(closed, on_failure_grad, sol.x, sol.converged, *all_args)
    return x_star, sol, closed, all_args


def minimize_implicit_batch(
    objective, x0, args, shared=(), *, solver=None, on_failure_grad="nan", **solver_options
):
    """:func:`minimize_implicit` for a batch of independent problems: minimize
    ``objective(x[i], *args_i, *shared)`` for every member ``i`` in one loop
    (:func:`newton_batch`), each minimizer differentiable with respect to its own ``args_i``
    and to ``shared`` (and to anything ``objective`` closes over) by the implicit function
    theorem, to any order.

    Args:
        objective: scalar ``objective(x, *a, *shared)`` of one member.
        x0: starting points, shape ``(B, p)``.
        args: per-member arguments, each with a leading axis ``B``.
        shared: arguments common to every member (no batch axis).
        solver, on_failure_grad, solver_options: as for :func:`minimize_implicit` (the
            options go to :func:`newton_batch`).

    Returns:
        ``(x_star, result, closed, all_args)``: the minimizers ``(B, p)``, the batch's
        :class:`NewtonResult`, the objective as ``closed(x, *a, *shared, *consts)`` with what
        it closed over made explicit, and ``(args, shared + consts)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmle.optimize import minimize_implicit_batch
        >>> obj = lambda x, a, s: jnp.sum((x - s * a) ** 2)
        >>> f = lambda s: minimize_implicit_batch(obj, jnp.zeros((3, 1)), (jnp.arange(3.0),),
        ...                                       (s,))[0].sum()
        >>> float(jax.grad(f)(2.0))   # d/ds of s * (0 + 1 + 2)
        3.0
    """
    check_on_failure_grad(on_failure_grad)
    x0, args, shared = jnp.asarray(x0), tuple(args), tuple(shared)
    one = jax.tree_util.tree_map(lambda a: a[0], args)
    closed, consts = jax.closure_convert(lambda x, *a: objective(x, *a), x0[0], *one, *shared)
    common = (*shared, *consts)
    frozen, frozen_common = lax.stop_gradient(args), lax.stop_gradient(common)
    sol = newton_batch(
        lambda x, *a: closed(x, *a, *frozen_common), lax.stop_gradient(x0), frozen,
        solver=solver, **solver_options,
    )  # fmt: skip
    n = len(args)

    def member(x, ok, *a):
        a, c = a[:n], a[n:]
        if on_failure_grad == "zero":
            a, c = gate_derivatives(ok, (a, c))
        return _implicit(closed, on_failure_grad, x, ok, *a, *c)

    axes = (0, 0) + (0,) * n + (None,) * len(common)
    x_star = jax.vmap(member, in_axes=axes)(sol.x, sol.converged, *args, *common)
    return x_star, sol, closed, (args, common)


def check_on_failure_grad(on_failure_grad) -> None:
    """Raise a ``ValueError`` unless ``on_failure_grad`` is one of :data:`ON_FAILURE_GRAD`.

    Example:
        >>> from jaxmle.optimize import check_on_failure_grad
        >>> check_on_failure_grad("zero")
    """
    if on_failure_grad not in ON_FAILURE_GRAD:
        raise ValueError(
            f"on_failure_grad must be one of {ON_FAILURE_GRAD}, got {on_failure_grad!r}"
        )


def gate_derivatives(ok, tree):
    """``tree`` unchanged, its derivatives (of any order) kept where ``ok`` and zero
    elsewhere. Where they are zero, a NaN coefficient between this point and the end of a
    reverse-mode pass is not multiplied into the gradient: ``jnp.where`` selects, it does not
    multiply.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmle.optimize import gate_derivatives
        >>> f = lambda x, ok: jnp.where(ok, jnp.log(gate_derivatives(ok, x)), 0.0)
        >>> float(jax.grad(f)(-1.0, False)), float(jax.grad(f)(2.0, True))
        (0.0, 0.5)
    """

    def gate(x):
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            return x
        return jnp.where(ok, x, lax.stop_gradient(x))

    return jax.tree_util.tree_map(gate, tree)


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
    # (the value as the same function again: differentiated once more, it has the derivative
    # of ``fn``, not that of a constant)
    return _precomputed(fn, value, x, *args), out_dot


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _implicit(closed, on_failure_grad, x_star, ok, *all_args):
    """The minimizer ``x_star`` as a function of ``all_args`` (for its derivatives)."""
    return x_star


@_implicit.defjvp
def _implicit_jvp(closed, on_failure_grad, primals, tangents):
    x_star, ok, *all_args = primals
    _, _, *all_dots = tangents
    # The optimum again, as the same function of the arguments: where this rule is itself
    # differentiated (second and higher derivatives), the optimum moves with the arguments
    # by this rule, instead of standing still as a constant input would.
    x = _implicit(closed, on_failure_grad, x_star, ok, *all_args)

    def grad_x(*a):
        return jax.grad(closed)(x, *a)

    _, mixed = jax.jvp(grad_x, tuple(all_args), tuple(all_dots))
    x_dot = -_scaled_solve(jax.hessian(closed)(x, *all_args), mixed)
    fill = jnp.nan if on_failure_grad == "nan" else 0.0
    return x, jnp.where(ok, x_dot, fill)
