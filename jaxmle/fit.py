"""fit / fit_batch: validation of the inputs, then one compiled solve-and-infer kernel."""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._compile import is_traced, tuned_jit, under_transformation
from ._linalg import diag
from ._problem import (
    NAN_POLICIES,
    Problem,
    as_array,
    fill_masked,
    float_dtype,
    prepare,
)
from ._warnings import note_compile
from .constraints import Bounded
from .covariance import adjust_covariance, check_options, needs_adjustment
from .fixed import expand_results, flat_values, normalize_fixed
from .inference import delta_method, sandwich, scaled_cholesky_inverse
from .laplace import laplace_model
from .model import Model
from .optimize import (
    LBFGS,
    check_on_failure_grad,
    gate_derivatives,
    make_solver,
    minimize_implicit,
    newton_batch,
    reuse_at_optimum,
)
from .results import FitResult, Status

__all__ = ["fit", "fit_batch", "NAN_POLICIES", "default_chunk_size"]

#: solvers (:data:`jaxmle.optimize.SOLVERS`): trust-region Newton (default), damped Newton and
#: L-BFGS (for models with many parameters)
METHODS = ("trust", "newton", "lbfgs")
#: default iteration limit per method: the solver's own
DEFAULT_MAX_ITER = {name: make_solver(name).max_iter for name in METHODS}


# --------------------------------------------------------------------------
# the kernel: one dataset, pure and traceable; vmapped for a batch
# --------------------------------------------------------------------------
def _kernel(
    data, init, x0, weights, mask, *, model, n, cov_type, max_iter, tol, dtype,
    method="trust", compute_se=True, on_failure_grad="nan", loglik_args=None,
) -> FitResult:  # fmt: skip
    """One dataset: start, solve (differentiably), infer. ``x0``, when given, is ``(u, n_iter)``
    of an earlier pass to resume from. ``loglik_args`` (traced, not static): the loglik's third
    argument, when given."""
    given = model
    if loglik_args is not None:
        model = with_args(model, loglik_args)
    problem = Problem(model, n, dtype)
    args, u0, iter0 = _setup(data, init, x0, weights, mask, problem)
    # The solver's iterations are not differentiated; the estimate is, by the
    # implicit function theorem (w.r.t. the data, weights and anything the
    # model's loglik closes over).
    u, sol, closed, args = minimize_implicit(
        _negll(problem), u0, args, solver=_solver(method, max_iter, tol, compute_se),
        on_failure_grad=on_failure_grad, iter0=iter0,
    )  # fmt: skip
    res = _infer(u, sol, closed, args, problem, cov_type, compute_se)
    if on_failure_grad == "zero":
        # the inputs of a fit that did not converge are already stopped; its outputs too, so
        # that a forward-mode derivative of one is zero rather than 0 x NaN
        fields = ("params", "se", "cov", "cov_free", "loglik", "unconstrained")
        gated = gate_derivatives(sol.converged, {f: getattr(res, f) for f in fields})
        res = dataclasses.replace(res, **gated)
    # (the static model of the compiled kernel: the one with ``args`` bound holds a tracer)
    return dataclasses.replace(res, model=given)


def with_args(model: Model, args) -> Model:
    """``model`` whose log-likelihood is ``model.loglik(params, data, args)``: the model of a
    fit with ``args=`` (a copy; ``model`` is unchanged).

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxmle as jm
        >>> from jaxmle.fit import with_args
        >>> m = jm.Model(lambda p, x, h: -h * (x - p["mu"]) ** 2, {"mu": jm.Real()})
        >>> float(with_args(m, 2.0).loglik({"mu": 1.0}, jnp.asarray(3.0)))
        -8.0
    """
    bound = copy.copy(model)
    bound.loglik = functools.partial(_with_args, model.loglik, args=args)
    bound.compiled_loglik = functools.partial(_with_args, model.compiled_loglik, args=args)
    bound.free_loglik = None  # (a family's own form in u takes no args)
    bound.bound_args = (model, args)  # (what it was made of: see observation_count)
    return bound


def _with_args(loglik, params, data, *, args):
    return loglik(params, data, args)


def _solver(method, max_iter, tol, compute_se):
    """The :class:`~jaxmle.optimize.Solver` that ``method`` names."""
    if method == "lbfgs":
        return LBFGS(max_iter=max_iter, tol=tol, hessian=compute_se)
    return make_solver(method, max_iter, tol)


def _negll(problem):
    def negll(u, data, weights, mask):
        return -problem.loglik_free(u, data, weights, mask)

    return negll


def _setup(data, init, x0, weights, mask, problem):
    """``((data, weights, mask), u0, iter0)`` of one dataset, defaults filled in."""
    model, n, dtype = problem.model, problem.n, problem.dtype
    init_data = data
    if n is not None and mask is not None:
        # the model's starting rule sees masked observations as NaN (starting
        # rules skip non-finite values); the loglik sees them replaced
        init_data = fill_masked(data, mask, n, jnp.nan)
    # defaults made per dataset here, never materialized for a whole batch
    data, weights, mask = problem.prepare(data, weights, mask)
    if x0 is None:
        params0 = model.default_init(init_data, dtype)
        params0.update(init)
        u0 = model.to_unconstrained(params0).astype(dtype)
        return (data, weights, mask), u0, jnp.zeros((), jnp.int32)
    u0, iter0 = x0  # resuming (straggler pass)
    return (data, weights, mask), u0.astype(dtype), jnp.asarray(iter0, jnp.int32)


#: how far (in unconstrained units) the limit probe looks towards each end of a bounded
#: parameter: e^30 ~ 1e13 times a positive parameter, a probability within 1e-13 of an end;
#: from a coordinate already further out than that, back to 0 on the inner side (a
#: dispersion at 1e-38 is probed at 1 and at 1e-51: the likelihood's flatness near the
#: limit, below the rounding of the loglik at 1e-38 times 1e13, is then not mistaken for an
#: interior maximum)
PROBE_DISTANCE = 30.0


def _probe_directions(model) -> np.ndarray | None:
    """The free coordinates of bounded parameters (``Positive``, ``Bounded``), whose
    unconstrained coordinate runs to a limit of the constraint at either infinity; None when
    the model has none."""
    probed = np.zeros(model.free_size, bool)
    for key, _, free in model.param_blocks():
        c = model.spec[key]
        if isinstance(c, Bounded) and (math.isfinite(c.low) or math.isfinite(c.high)):
            probed[free] = True
    return probed if probed.any() else None


def _limit_probe(closed, u, args, model):
    """Per free coordinate: whether the objective is no worse ``PROBE_DISTANCE`` towards one
    end of its constraint and worse towards the other (the maximum lies at that end, or
    beyond rounding of it: a dispersion tending to 0, a degrees-of-freedom to infinity)."""
    probed = _probe_directions(model)
    if probed is None:
        return jnp.zeros(u.shape, bool)
    idx = np.flatnonzero(probed)
    u, args = lax.stop_gradient(u), lax.stop_gradient(args)
    # (the last row evaluates u itself, by the same computation as the probes: the solver's
    # value comes from its derivative pass, whose rounding differs)
    # (towards 0 as far as the coordinate is from it; away from 0 the usual distance, where
    # a dispersion of 1e-38 times e^-76 may no longer be computable)
    ui = u[idx]
    up = jnp.where(ui < 0, jnp.maximum(PROBE_DISTANCE, -ui), PROBE_DISTANCE)
    down = jnp.where(ui > 0, jnp.maximum(PROBE_DISTANCE, ui), PROBE_DISTANCE)
    rows = np.arange(idx.size)
    steps = jnp.zeros((2 * idx.size + 1, u.size), u.dtype)
    steps = steps.at[rows, idx].set(up).at[idx.size + rows, idx].set(-down)
    f = jax.vmap(lambda v: closed(v, *args))(u + steps)
    f, f0 = f[:-1], f[-1]
    # (a sum over many observations is rounded to more than eps |f|)
    level = f0 + 64 * jnp.finfo(u.dtype).eps * (jnp.abs(f0) + 1)
    no_worse = jnp.isfinite(f) & (f <= level)
    up, down = no_worse[: idx.size], no_worse[idx.size :]
    one_way = up != down  # (flat both ways: not identified, which the information tells)
    return jnp.zeros(u.shape, bool).at[idx].set(one_way & jnp.isfinite(f0))


def _probe_needed(sol, model):
    """Whether the limit probe can change anything for this fit: it did not converge, or some
    bounded coordinate has little curvature (an SE above about 1 on its log or logit scale,
    whose maximum may be indistinguishable from the limit). A well-determined fit skips the
    probe's evaluations."""
    probed = _probe_directions(model)
    if probed is None:
        return jnp.zeros((), bool)
    h = diag(sol.hess)
    weak = ~(h >= 1.0)  # (NaN: no information)
    return ~sol.converged | jnp.any(jnp.asarray(probed) & weak)


def _probe_if_needed(closed, u, args, model, need):
    """:func:`_limit_probe` where ``need``, without its evaluations where not (one member)."""
    zeros = jnp.zeros(u.shape, bool)
    if _probe_directions(model) is None:
        return zeros
    return lax.cond(need, lambda: _limit_probe(closed, u, args, model), lambda: zeros)


def _infer(u, sol, closed, args, problem, cov_type, compute_se, probe=None) -> FitResult:
    """The result of one dataset from the solver's: SEs, status, the constrained estimate."""
    model, dtype = problem.model, problem.dtype
    per_obs = problem.n is not None
    data, weights, mask = args[:3]
    # f and its Hessian at the optimum come from the solver's last evaluation;
    # they are recomputed (for their derivatives) only under differentiation.
    loglik = -reuse_at_optimum(closed, sol.value, u, args)
    params = model.to_constrained(u)
    edge = jnp.concatenate(
        [
            jnp.broadcast_to(model.spec[key].at_edge(params[key]), (free.stop - free.start,))
            for key, _, free in model.param_blocks()
        ]
    )
    if model.data_edge is not None:
        edge = edge | model.data_edge(params, data, mask)
    if probe is None:  # (a batch passes the probes it computed for all its members at once)
        probe = _probe_if_needed(closed, u, args, model, _probe_needed(sol, model))
    limit = sol.divergent | edge | probe
    nonfinite = sol.nonfinite | ~jnp.isfinite(loglik)
    boundary = (sol.converged | sol.stalled) & jnp.any(limit)
    # Coordinates that ran to a limit: the information says nothing about them there. The
    # others get the covariance of the information of the free coordinates (as if those at
    # the limit were fixed, as statsmodels does for a fixed parameter).
    at_limit = limit & boundary
    fixed2 = at_limit[:, None] | at_limit[None, :]
    eye = jnp.eye(u.size, dtype=dtype)
    if compute_se:
        hess = reuse_at_optimum(jax.hessian(closed), sol.hess, u, args)
        cov_free, info_ok = scaled_cholesky_inverse(jnp.where(fixed2, eye, hess))
    else:  # no p x p information matrix: SEs NaN, positive definiteness not checked
        cov_free, info_ok = jnp.full((u.size, u.size), jnp.nan, dtype), jnp.ones((), bool)
    if compute_se and cov_type != "observed":
        # (n, p) unweighted per-observation scores
        scores = jax.jacfwd(lambda v: problem.terms_free(v, data, mask))(u)
        scores = jnp.where(at_limit[None, :], 0.0, scores)
        if cov_type == "robust":
            cov_free = sandwich(cov_free, scores, weights)
        else:  # "opg"
            opg = (scores * weights[:, None]).T @ scores
            cov_free, opg_ok = scaled_cholesky_inverse(jnp.where(fixed2, eye, opg))
            info_ok = info_ok & opg_ok
    cov_free = jnp.where(fixed2, 0.0, cov_free)
    status = jnp.where(
        nonfinite,
        Status.NONFINITE,
        jnp.where(
            boundary,
            Status.BOUNDARY,
            jnp.where(
                sol.converged & ~info_ok,
                Status.SINGULAR,
                jnp.where(
                    sol.converged,
                    Status.CONVERGED,
                    jnp.where(sol.stalled, Status.STALLED, Status.MAX_ITER),
                ),
            ),
        ),
    ).astype(jnp.int32)

    jac = jax.jacfwd(lambda v: model.flatten(model.to_constrained(v)))(u)
    if compute_se:
        cov = delta_method(jac, cov_free)
    else:
        cov = jnp.full((model.constrained_size,) * 2, jnp.nan, dtype)
    # constrained components that depend on a coordinate at the limit: NaN; and, at a
    # boundary, those whose conditional SE is below the rounding of their value (the
    # location of identical observations, as the scale goes to 0): no information either
    lost = jnp.any((jac != 0) & at_limit[None, :], axis=1) | nonfinite
    flat = model.flatten(params)
    tiny = jnp.sqrt(jnp.abs(diag(cov))) <= 16 * jnp.finfo(dtype).eps * jnp.abs(flat)
    lost = lost | (boundary & tiny)
    cov = jnp.where(lost[:, None] | lost[None, :], jnp.nan, cov)
    cov_free = jnp.where(fixed2 | nonfinite, jnp.nan, cov_free)
    se = model.unflatten(jnp.sqrt(diag(cov)))

    if per_obs:
        nobs = jnp.sum(jnp.where(mask, weights, 0.0)).astype(dtype)
    else:
        nobs = jnp.asarray(jnp.nan, dtype)

    return _result(
        params=params,
        se=se,
        cov=cov,
        cov_free=cov_free,
        loglik=loglik,
        status=status,
        n_iter=sol.n_iter,
        grad_norm=jnp.max(jnp.abs(sol.grad)),
        nobs=nobs,
        unconstrained=u,
        at_limit=at_limit,
        info_ok=info_ok,
        model=model,
        cov_type=cov_type,
        se_computed=compute_se,
    )


def _result(**fields) -> FitResult:
    """The one place a :class:`~jaxmle.FitResult` is built (the kernel's and the all-fixed
    evaluation's); every other result is one of these, changed with ``dataclasses.replace``."""
    return FitResult(**fields)


_STATIC = (
    "model", "n", "cov_type", "max_iter", "tol", "dtype", "method", "compute_se",
    "on_failure_grad",
)  # fmt: skip
_kernel_jit = tuned_jit(_kernel, static_argnames=_STATIC)


@tuned_jit(static_argnames=_STATIC)
def _kernel_batch(data, init, x0, weights, mask, **static):
    return jax.vmap(functools.partial(_kernel, **static))(data, init, x0, weights, mask)


@tuned_jit(static_argnames=_STATIC)
def _kernel_chunk(data, init, x0, weights, mask, allowed, **static):
    """A chunk of a batch, fitted at top level (nothing is differentiated): one Newton loop for
    the chunk (:func:`~jaxmle.optimize.newton_batch`), which may end with up to ``allowed``
    members unfinished (status MAX_ITER, resumed by the caller in a smaller bucket)."""
    if static["method"] == "lbfgs":
        return _kernel_batch.plain(data, init, x0, weights, mask, **static)
    given = model = static["model"]
    if static.get("loglik_args") is not None:
        model = with_args(model, static["loglik_args"])
    problem = Problem(model, static["n"], static["dtype"])
    setup = functools.partial(_setup, problem=problem)
    args, u0, iter0 = jax.vmap(setup)(data, init, x0, weights, mask)
    negll = _negll(problem)
    sol = newton_batch(
        negll, u0, args, solver=make_solver(static["method"], static["max_iter"], static["tol"]),
        iter0=iter0, allowed=allowed,
    )  # fmt: skip
    infer = functools.partial(
        _infer, closed=negll, problem=problem, cov_type=static["cov_type"],
        compute_se=static["compute_se"],
    )  # fmt: skip
    # the limit probe only in chunks where some member needs it (a batch-level branch)
    need = jax.vmap(lambda s: _probe_needed(s, model))(sol)
    zeros = jnp.zeros(sol.x.shape, bool)
    if _probe_directions(model) is None:
        probe = zeros
    else:
        probe = lax.cond(
            jnp.any(need),
            lambda: jax.vmap(lambda u, a: _limit_probe(negll, u, a, model))(sol.x, args),
            lambda: zeros,
        )
        probe = probe & need[:, None]
    res = jax.vmap(lambda u, sol, args, pr: infer(u, sol, args=args, probe=pr))(
        sol.x, sol, args, probe
    )
    return dataclasses.replace(res, model=given)


def _mark_invalid(res: FitResult, invalid) -> FitResult:
    """Datasets ``invalid`` (boolean ``(B,)``) get status ``INVALID_DATA`` and NaN numbers."""
    if invalid is None or not np.any(invalid):
        return res
    inv = jnp.asarray(invalid)

    def nan_rows(x):
        shape = (inv.shape[0],) + (1,) * (x.ndim - 1)
        return jnp.where(jnp.reshape(inv, shape), jnp.nan, x)

    numbers = (res.params, res.se, res.cov, res.cov_free, res.loglik, res.unconstrained)
    params, se, cov, cov_free, loglik, u = jax.tree_util.tree_map(nan_rows, numbers)
    status = jnp.where(inv, Status.INVALID_DATA, res.status).astype(res.status.dtype)
    return dataclasses.replace(
        res, params=params, se=se, cov=cov, cov_free=cov_free, loglik=loglik, unconstrained=u,
        status=status,
    )  # fmt: skip


# --------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------
def fit(
    model: Model,
    data: Any,
    *,
    init: dict | None = None,
    weights: Any = None,
    mask: Any = None,
    nan_policy: str = "raise",
    cov_type: str = "observed",
    max_iter: int | None = None,
    tol: float | None = None,
    method: str = "trust",
    se: bool = True,
    fixed: dict | None = None,
    groups: Any = None,
    information: str = "observed",
    small_sample: str = "CRV1",
    df_correction: bool = False,
    on_failure_grad: str = "nan",
    args: Any = None,
) -> FitResult:
    """Fit a model to one dataset by maximum likelihood.

    Maximizes ``sum_i w_i loglik_i`` over the unconstrained coordinates by
    Newton's method in a trust region with the exact gradient and Hessian (see
    :mod:`jaxmle.optimize`), then reports the
    estimates, standard errors from the observed information (delta method into
    the constrained space), and a :class:`~jaxmle.Status`.

    Args:
        model: a :class:`~jaxmle.Model`.
        data: one dataset: an array or any pytree of arrays, passed to
            ``loglik(params, data)``.
        init: starting values, dict name -> value (any subset; the rest from
            the model's starting rule or each constraint's default). A value
            outside its constraint is a ``ValueError`` naming the parameter.
        weights: per-observation frequency weights, shape ``(n,)``.
        mask: per-observation booleans, ``False`` leaves an observation out.
        nan_policy: ``"raise"`` (a ``ValueError`` naming the observations),
            ``"omit"`` (mask them out) or ``"propagate"`` (fit anyway; status
            ``NONFINITE``), as in scipy.
        cov_type: ``"observed"`` (inverse information), ``"robust"`` or
            ``"HC0"`` (sandwich, statsmodels' HC0), ``"HC1"`` (HC0 times
            ``n / (n - k)``), ``"HC2"`` and ``"HC3"`` (scores weighted by the
            leverages; regression models), as R's ``sandwich::vcovHC``;
            ``"opg"`` (outer product of scores) or ``"cluster"``
            (cluster-robust, with ``groups=`` and ``small_sample=``). See
            :mod:`jaxmle.covariance` and the conventions page of the docs.
        max_iter: iteration limit of the solver; by default 300 for
            ``"trust"`` and ``"newton"`` and 1000 for ``"lbfgs"``.
        tol: for ``"trust"`` and ``"newton"``, tolerance on half the Newton decrement, in
            log-likelihood units, by default 1e-15 in float64 and 1e-6 in
            float32; for ``"lbfgs"``, on ``max|gradient| / max(1, |loglik|)``,
            by default about 3.7e-11 in float64 and 2.4e-5 in float32.
        method: ``"trust"`` (default: Newton with the exact Hessian in a trust
            region whose subproblem is solved exactly, few iterations),
            ``"newton"`` (Levenberg-Marquardt damped Newton: negative curvature
            damped away, one Cholesky factorization per step) or ``"lbfgs"``
            (``optax.lbfgs`` with a zoom line search: no Hessian per iteration,
            for models with hundreds of parameters or more; the Hessian is
            formed once at the end for the standard errors).
        se: compute the information matrix and standard errors. With
            ``se=False`` no ``p x p`` matrix is formed; ``se``, ``cov`` and
            ``cov_free`` are NaN and the status cannot be ``SINGULAR``.
            ``BOUNDARY`` is still found at the edge of a constraint; a
            coefficient running to infinity (separation) is then found by
            ``"trust"`` and ``"newton"``, but by ``"lbfgs"`` only when its last step shows the
            curvature vanishing. Estimates stay differentiable.
        fixed: hold parameters at values, dict name -> value: a parameter
            name (the whole parameter) or a flattened component name such as
            ``"beta[1]"`` (see :mod:`jaxmle.fixed`). Fixed components report
            their value with standard error 0 and are not counted in
            ``n_params``.
        groups: cluster labels, one per observation, for
            ``cov_type="cluster"``.
        information: ``"observed"`` (default: the Hessian of the
            log-likelihood) or ``"expected"`` (the Fisher information in
            closed form, for the families and the regression models; what R's
            ``glm`` reports). The same for a canonical link (logistic,
            Poisson); they differ for probit and the negative binomial.
        small_sample: the factor of ``cov_type="cluster"``: ``"CRV1"``
            (default: ``G/(G-1) (N-1)/(N-K)``, statsmodels, Stata's ``regress``), ``"G"``
            (``G/(G-1)``, R's ``sandwich::vcovCL`` for a ``glm``) or
            ``"none"``. Cluster-robust Wald tests and intervals use t and F
            with ``G - 1`` degrees of freedom (``res.df_resid``).
        df_correction: for :func:`jaxmle.models.LinearRegression`: the
            coefficients' covariance with the unbiased ``RSS / (n - p)`` and
            t inference with ``n - p`` degrees of freedom, as
            ``statsmodels.OLS`` (the estimate of ``sigma`` stays the MLE).
        on_failure_grad: the derivatives through a fit that did not converge
            (under ``jax.grad``, ``jax.jvp`` and the like): ``"nan"`` (default:
            they cannot be mistaken for derivatives) or ``"zero"`` (every
            derivative of every result of that fit is zero, so that a fit
            masked out, ``jnp.where(res.converged, value, 0)``, leaves the rest
            of a gradient finite; see docs/embedding.md).
        args: when given (any pytree of arrays or numbers), the log-likelihood
            is called as ``loglik(params, data, args)``. ``args`` is an input of
            the compiled fit, not a constant in it: a hyperparameter varied
            from call to call (a sweep, a training loop outside ``jit``) reuses
            one compilation, where a new ``Model`` closing over each value
            compiles again. Derivatives with respect to ``args`` are those of
            the fit, as for the data. The result's ``model`` has ``args``
            bound (``loglik(params, data)``), for profiles and tests.

    Returns:
        A :class:`~jaxmle.FitResult` (with the data attached, for profile
        intervals, tests and the bootstrap).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> def loglik(p, x):  # exponential waiting times
        ...     return jnp.log(p["rate"]) - p["rate"] * x
        >>> res = jm.fit(jm.Model(loglik, {"rate": jm.Positive()}), jnp.array([2.0, 4.0, 6.0]))
        >>> float(res.params["rate"]), round(float(res.se["rate"]), 6)
        (0.25, 0.144338)
    """
    return _pipeline(
        model, data, batch=False, init=init, weights=weights, mask=mask, nan_policy=nan_policy,
        cov_type=cov_type, max_iter=max_iter, tol=tol, method=method, se=se, fixed=fixed,
        groups=groups, information=information, small_sample=small_sample,
        df_correction=df_correction, on_failure_grad=on_failure_grad, args=args,
    )  # fmt: skip


def _solve_one(model, data, init, args, *, weights, mask, nan_policy, cov_type, max_iter, tol,
               method, se, on_failure_grad, **_batch_options):  # fmt: skip
    """Solve one dataset: prepare, standardize, run the compiled kernel, map back."""
    args, bound = _bind_args(model, args)
    prep = prepare(bound, data, init, weights, mask, nan_policy, cov_type, batch=False)
    fit_data, fit_init, back = _standardized(bound, prep, ())
    compiled = _compiled(_kernel_jit)
    res = _kernel_jit(
        fit_data, fit_init, None, prep.weights, prep.mask, model=model, n=prep.n,
        cov_type=cov_type, max_iter=max_iter, tol=tol, dtype=prep.dtype,
        method=method, compute_se=bool(se), on_failure_grad=on_failure_grad,
        loglik_args=args,
    )  # fmt: skip
    if _compiled(_kernel_jit) > compiled and not under_transformation():  # (compiled now)
        note_compile(model)
    return _attach(dataclasses.replace(back(res), model=bound), prep, batch=False)


def _standardized(model, prep, lead):
    """``(data, init, back)``: for a model with a ``standardize`` rule (the location-scale
    families) and concrete data, the data and ``init`` moved to a standard location and
    scale, and ``back`` mapping the result of that fit to the original units; otherwise the
    inputs as they are and the identity."""
    std = None
    if model.standardize is not None and not is_traced((prep.data, prep.weights, prep.mask)):
        host = prep.host if prep.host is not None else jax.tree_util.tree_map(np.asarray, prep.data)
        std = model.standardize(host, prep.weights, prep.mask, lead)
    if std is None:
        return prep.data, prep.init, lambda res: res
    data, a, b, offset = std
    blocks = model.param_blocks()
    A = np.stack([np.asarray(a[key], float) for key, _, _ in blocks], axis=-1)
    Bs = np.stack([np.asarray(b[key], float) for key, _, _ in blocks], axis=-1)
    init = {}
    for key, value in prep.init.items():
        j = [k for k, _, _ in blocks].index(key)
        c = model.spec[key]
        if isinstance(c, Bounded) and c.low == 0.0 and c.high == math.inf:
            init[key] = value * np.exp(-A[..., j])  # a positive parameter: u = a + u'
        else:  # a real one: u = a + b u'
            init[key] = (value - A[..., j]) / Bs[..., j]
    data = jax.tree_util.tree_map(lambda v: v.astype(prep.dtype, copy=False), data)

    def back(res):
        return _from_standard(res, model, A.astype(prep.dtype), Bs.astype(prep.dtype),
                              np.asarray(offset, prep.dtype), lead)  # fmt: skip

    return data, init, back


def _from_standard(res: FitResult, model, A, B, offset, lead) -> FitResult:
    """A result fitted on standardized data, in the original units: ``u = A + B u'``."""
    u = jnp.asarray(A) + jnp.asarray(B) * res.unconstrained
    Bo = jnp.asarray(B)[..., :, None] * jnp.asarray(B)[..., None, :]
    cov_free = Bo * res.cov_free

    def natural(u1, b1, cf, cov_std):
        # the Jacobian of the constrained parameters in the standardized coordinates u'
        jac = jax.jacfwd(lambda v: model.flatten(model.to_constrained(v)))(u1) * b1[None, :]
        # rows of the Jacobian scaled to at most 1: standard errors near 1e300 stay finite
        # where the variances (and the covariance matrix) overflow
        r = jnp.max(jnp.abs(jac), axis=1)
        r = jnp.where(r > 0, r, 1.0)
        unit = delta_method(jac / r[:, None], jnp.where(jnp.isnan(cf), 0.0, cf))
        cov = jnp.where(jnp.isnan(cov_std), jnp.nan, unit * r[:, None] * r[None, :])
        se = jnp.where(jnp.isnan(diag(cov_std)), jnp.nan, r * jnp.sqrt(diag(unit)))
        return model.to_constrained(u1), cov, model.unflatten(se)

    fn = natural
    for _ in lead:
        fn = jax.vmap(fn)
    params, cov, se = fn(u, jnp.broadcast_to(jnp.asarray(B), u.shape), res.cov_free, res.cov)
    # an estimate that does not fit in the dtype's range in the original units
    flat = jax.vmap(model.flatten)(params) if lead else model.flatten(params)
    lost = ~jnp.all(jnp.isfinite(flat), axis=-1) & jnp.all(jnp.isfinite(res.unconstrained), axis=-1)
    status = jnp.where(lost, Status.NONFINITE, res.status).astype(res.status.dtype)
    return dataclasses.replace(
        res, params=params, se=se, cov=cov, cov_free=cov_free, unconstrained=u,
        loglik=res.loglik + jnp.asarray(offset), status=status,
    )  # fmt: skip


def _attach(res, prep, batch):
    """The result with its data (for profiles, tests and refits), as the fit saw it."""
    data, weights, mask = prep.data, prep.weights, prep.mask
    if not batch:  # one dataset: device arrays, like every other field
        data, weights, mask = jax.tree_util.tree_map(jnp.asarray, (data, weights, mask))
    return dataclasses.replace(res, data=data, weights=weights, mask=mask)


# --------------------------------------------------------------------------
# the pipeline: validate -> reduce (fixed=) -> solve -> covariance -> expand -> attach
# --------------------------------------------------------------------------
def _pipeline(model, data, *, batch, init, fixed, groups, cov_type, information, small_sample,
              df_correction, args, **solve):  # fmt: skip
    """Every fit, single or batch, goes through here.

    1. validate the options (and the covariance conventions, :mod:`jaxmle.covariance`);
    2. reduce: with ``fixed=``, the reduced model of the free components
       (:mod:`jaxmle.fixed`), the fixed values riding in its data; every parameter fixed is
       one evaluation of the log-likelihood;
    3. solve: the compiled kernel (:func:`_solve_one`, :func:`_solve_batch`), which computes
       the observed, robust or OPG covariance;
    4. covariance: the conventions the kernel does not compute, at the estimate
       (:func:`jaxmle.covariance.adjust_covariance`; of the reduced fit, with ``fixed=``);
    5. expand: a reduced fit mapped back to the full parameters;
    6. attach: the data (the kernel's results carry it; an expanded one gets the full data
       and the fixed values).
    """
    if isinstance(model, Model) and model.random:
        # random effects: the fit is of the marginal likelihood of the other parameters
        model = laplace_model(model)
        if isinstance(init, Mapping):
            init = {k: v for k, v in init.items() if k in model.spec}
    solve["max_iter"] = _check_method(solve["method"], solve["se"], solve["max_iter"])
    solve["tol"] = _check_tol(solve["tol"])
    check_on_failure_grad(solve["on_failure_grad"])
    covariance = dict(
        cov_type=cov_type, groups=groups, information=information, small_sample=small_sample,
        df_correction=df_correction,
    )  # fmt: skip
    if not _extended(fixed, groups, cov_type, information, small_sample, df_correction, args):
        return _solve(model, data, init, args, batch=batch, cov_type=cov_type, **solve)
    if not fixed:
        return _solve_adjusted(model, data, init, batch=batch, **covariance, **solve)
    # (the options that the full model must accept; df_correction is for the reduced one)
    check_options(model, cov_type, information, small_sample, False, groups)
    red, values, data, red_init = _reduce(model, data, fixed, init, batch)
    if red.model is None:
        return _fit_all_fixed(red, data, values, batch=batch, **solve)
    red_data = {"data": data, "fixed": values}
    red_res = _solve_adjusted(red.model, red_data, red_init, batch=batch, **covariance, **solve)
    res = expand_results(
        dataclasses.replace(red_res, data=None, weights=None, mask=None),
        values,
        red=red,
        batched=batch,
    )
    return dataclasses.replace(
        res,
        data=red_res.data["data"],
        weights=red_res.weights,
        mask=red_res.mask,
        fixed=red.names,
        fixed_values=_fixed_values(values, batch),
    )


def _solve(model, data, init, args, *, batch, **options) -> FitResult:
    return (_solve_batch if batch else _solve_one)(model, data, init, args, **options)


def _solve_adjusted(model, data, init, *, batch, cov_type, groups, information, small_sample,
                    df_correction, **solve) -> FitResult:  # fmt: skip
    """Solve, then compute the covariance conventions the kernel does not (if asked)."""
    if groups is None and not needs_adjustment(cov_type, information, small_sample,
                                               df_correction):  # fmt: skip
        return _solve(model, data, init, None, batch=batch, cov_type=cov_type, **solve)
    check_options(model, cov_type, information, small_sample, df_correction, groups)
    res = _solve(model, data, init, None, batch=batch, cov_type="observed", **solve)
    return adjust_covariance(
        res, cov_type=cov_type, information=information, groups=groups,
        small_sample=small_sample, df_correction=df_correction,
    )  # fmt: skip


def _reduce(model, data, fixed, init, batch):
    """``(reduction, fixed values, data as arrays, reduced init)`` of a fit with ``fixed=``."""
    if not isinstance(model, Model):
        raise TypeError(f"expected a jm.Model as first argument, got {type(model).__name__}")
    if data is None:
        raise ValueError("data is None; pass the observations (an array or a pytree of arrays)")
    data = jax.tree_util.tree_map_with_path(as_array, data)
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("data has no arrays")
    dtype = float_dtype(leaves)
    lead = ()
    if batch:
        if leaves[0].ndim == 0:
            raise ValueError("fit_batch: data leaves need a leading axis of datasets")
        lead = (leaves[0].shape[0],)
    red, values = normalize_fixed(model, fixed, dtype, lead)
    red_init = None
    if red.model is not None and init is not None:
        red_init = red.reduce_params(model.check_init(init, dtype, lead))
    return red, values, data, red_init


def _fixed_values(values, batch):
    return values if batch else jax.tree_util.tree_map(jnp.asarray, values)


def _all_fixed_one(data, weights, mask, values, *, problem, red):
    """Every parameter fixed (one dataset): the fit is one evaluation of the log-likelihood."""
    model = red.full
    data, weights, mask = problem.prepare(data, weights, mask)
    params = red.expand({}, flat_values(values))
    ll = problem.loglik(params, data, weights, mask)
    dtype = problem.dtype
    m = model.constrained_size
    p = model.free_size
    ok = jnp.isfinite(ll)
    nobs = jnp.sum(jnp.where(mask, weights, 0.0)) if problem.n is not None else jnp.nan
    return _result(
        params=params,
        se=model.unflatten(jnp.zeros((m,), dtype)),
        cov=jnp.zeros((m, m), dtype),
        cov_free=jnp.zeros((p, p), dtype),
        loglik=ll,
        status=jnp.where(ok, Status.CONVERGED, Status.NONFINITE).astype(jnp.int32),
        n_iter=jnp.zeros((), jnp.int32),
        grad_norm=jnp.zeros((), dtype),
        nobs=jnp.asarray(nobs, dtype),
        unconstrained=model.to_unconstrained(params).astype(dtype),
        at_limit=jnp.zeros((p,), bool),
        info_ok=jnp.ones((), bool),
        model=model,
    )


@tuned_jit(static_argnames=("problem", "red", "batched"))
def _all_fixed_jit(data, weights, mask, values, *, problem, red, batched):
    fn = functools.partial(_all_fixed_one, problem=problem, red=red)
    return jax.vmap(fn)(data, weights, mask, values) if batched else fn(data, weights, mask, values)


def _fit_all_fixed(red, data, values, *, batch, weights=None, mask=None, nan_policy="raise",
                   **_ignored):  # fmt: skip
    """Every parameter fixed: the fit is one evaluation of the log-likelihood."""
    prep = prepare(red.full, data, None, weights, mask, nan_policy, "observed", batch=batch)
    problem = Problem(red.full, prep.n, prep.dtype)
    res = _all_fixed_jit(
        prep.data, prep.weights, prep.mask, values, problem=problem, red=red, batched=batch
    )
    res = _attach(res, prep, batch)
    return dataclasses.replace(res, fixed=red.names, fixed_values=_fixed_values(values, batch))


def _extended(fixed, groups, cov_type, information, small_sample, df_correction, args) -> bool:
    """Whether a fit needs more than the kernel (fixed parameters, or a covariance the kernel
    does not compute); ``args=`` cannot be combined with those."""
    extended = bool(
        fixed
        or groups is not None
        or needs_adjustment(cov_type, information, small_sample, df_correction)
    )
    if args is not None and extended:
        raise ValueError(
            "args= cannot be combined with fixed=, groups=, cov_type='cluster' or the"
            " information, small_sample and df_correction options"
        )
    return extended


def _check_method(method, se, max_iter) -> int:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(se, (bool, np.bool_)):
        raise TypeError(f"se must be True or False, got {se!r}")
    if max_iter is None:
        return DEFAULT_MAX_ITER[method]
    if isinstance(max_iter, (bool, np.bool_)) or not isinstance(max_iter, (int, np.integer)):
        raise TypeError(f"max_iter must be an integer, got {max_iter!r}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be 0 or more, got {max_iter}")
    return int(max_iter)


def _bind_args(model, args):
    """``(args, model)``: ``args`` as arrays and the model with them bound (``with_args``);
    ``(None, model)`` without ``args``."""
    if args is None:
        return None, model
    if not isinstance(model, Model):
        raise TypeError(f"expected a jm.Model as first argument, got {type(model).__name__}")
    args = jax.tree_util.tree_map(jnp.asarray, args)
    return args, with_args(model, args)


def _compiled(kernel) -> int:
    """How many programs ``kernel`` has compiled (0 for a plain function)."""
    size = getattr(kernel, "_cache_size", None)
    return size() if size is not None else 0


def _check_tol(tol):
    if tol is None or isinstance(tol, jax.core.Tracer):
        return tol
    if not (
        isinstance(tol, (int, float, np.floating, np.integer)) and np.isfinite(tol) and tol > 0
    ):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    return float(tol)


def fit_batch(
    model: Model,
    data: Any,
    *,
    init: dict | None = None,
    weights: Any = None,
    mask: Any = None,
    nan_policy: str = "raise",
    cov_type: str = "observed",
    max_iter: int | None = None,
    tol: float | None = None,
    method: str = "trust",
    se: bool = True,
    chunk_size: int | None = None,
    progress: bool | Callable[[int, int], Any] = False,
    fixed: dict | None = None,
    groups: Any = None,
    information: str = "observed",
    small_sample: str = "CRV1",
    df_correction: bool = False,
    on_failure_grad: str = "nan",
    args: Any = None,
) -> FitResult:
    """Fit a model to B independent datasets at once (``vmap`` of :func:`fit`).

    Every data leaf carries a leading axis of B datasets; ``weights`` and
    ``mask`` are ``(B, n)``; ``init`` values are scalars (broadcast) or arrays
    with a leading axis of B. Each dataset gets its own status: one bad
    dataset never spoils the others.

    The batch streams through one compiled kernel in chunks of ``chunk_size``
    datasets (the last chunk padded, so nothing recompiles); with several
    local devices each chunk is split across them. Datasets still unconverged
    after the first :data:`STRAGGLER_ITER` iterations are gathered into a
    smaller bucket and finished there, so that a few slow datasets do not make
    the whole chunk iterate. Under an outer ``jit``/``vmap``/``grad`` the
    batch is one traced ``vmap``.

    Args:
        model, data, init, weights, mask, nan_policy, cov_type, max_iter, tol, method,
        se, fixed, groups, information, small_sample, df_correction, on_failure_grad, args:
            as in :func:`fit`, with the leading batch axis (a fixed value is a scalar, or
            one per dataset; ``args`` are shared by every dataset).
        chunk_size: datasets per compiled call; by default chosen from the
            size of one dataset (about 2^18 numbers per chunk).
        progress: ``True`` shows a progress bar over the chunks (needs
            ``tqdm``); a callable is called as ``progress(done, total)``
            (datasets finished, batch size) after each chunk.

    Returns:
        A batch :class:`~jaxmle.FitResult`: every field gains the leading axis,
        and ``batch[i]`` is dataset ``i``'s result.

    Raises:
        Whatever interrupts the chunks (``KeyboardInterrupt``, an exception
        raised by the ``progress`` callable) is re-raised with the finished
        chunks attached: ``err.partial`` is the batch FitResult of datasets
        ``err.partial_index`` (``None`` and an empty index when none had
        finished), and a note on the exception says which.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
        ...                  {"rate": jm.Positive()})
        >>> batch = jm.fit_batch(model, jnp.array([[2.0, 4.0, 6.0], [1.0, 1.0, 1.0]]))
        >>> batch.params["rate"].tolist()
        [0.25, 1.0]
        >>> float(batch[1].se["rate"]) == float(1.0 / jnp.sqrt(3.0))
        True
    """
    return _pipeline(
        model, data, batch=True, init=init, weights=weights, mask=mask, nan_policy=nan_policy,
        cov_type=cov_type, max_iter=max_iter, tol=tol, method=method, se=se, fixed=fixed,
        groups=groups, information=information, small_sample=small_sample,
        df_correction=df_correction, on_failure_grad=on_failure_grad, args=args,
        chunk_size=chunk_size, progress=progress,
    )  # fmt: skip


def _solve_batch(model, data, init, args, *, weights, mask, nan_policy, cov_type, max_iter, tol,
                 method, se, on_failure_grad, chunk_size=None, progress=False):  # fmt: skip
    """Solve a batch: prepare, then one vmapped kernel (traced) or the chunks (concrete)."""
    args, bound = _bind_args(model, args)
    prep = prepare(bound, data, init, weights, mask, nan_policy, cov_type, batch=True)
    static = dict(
        model=model, n=prep.n, cov_type=cov_type, tol=tol, dtype=prep.dtype,
        method=method, compute_se=bool(se), on_failure_grad=on_failure_grad, loglik_args=args,
    )  # fmt: skip
    inputs = (prep.data, prep.init, None, prep.weights, prep.mask)
    if is_traced(inputs) or under_transformation():
        # inside jit/vmap/grad (traced data, or a model closing over traced
        # values): one vmapped kernel, no host-side chunking
        res = _kernel_batch(*inputs, max_iter=max_iter, **static)
        return _attach(dataclasses.replace(res, model=bound), prep, batch=True)
    fit_data, fit_init, back = _standardized(bound, prep, (_batch_size(inputs),))
    inputs = (fit_data, fit_init, None, prep.weights, prep.mask)
    compiled = _compiled(_kernel_chunk)
    res = back(_run_chunks(inputs, static, max_iter, chunk_size, progress))
    if _compiled(_kernel_chunk) > compiled:
        note_compile(model)
    res = dataclasses.replace(_mark_invalid(res, prep.invalid), model=bound)
    return _attach(res, prep, batch=True)


#: iterations of the first, full-chunk pass; the unconverged rest are compacted
STRAGGLER_ITER = 12
#: the same for method="lbfgs" (many cheap iterations)
LBFGS_STRAGGLER_ITER = 200
#: numbers (elements of the data leaves) per chunk when chunk_size is not given (4 MiB of
#: float64: against 2 MiB, W1-W3 of bench/run.py ran 7-11% faster, interleaved A/B; against
#: 8 MiB, the 1% of slow datasets of bench/scale.py cost 1.33x instead of 1.49x)
CHUNK_ELEMENTS = 2**19
#: most datasets per chunk: for small datasets the solver's per-dataset work dominates, and its
#: cost per dataset is flat from 8,192 to 16,384 datasets a chunk (10% higher at 32,768)
MAX_CHUNK = 16384


def _batch_size(inputs) -> int:
    return jax.tree_util.tree_leaves(inputs[0])[0].shape[0]


def default_chunk_size(data, n_devices: int = 1) -> int:
    """The chunk ``fit_batch`` uses for ``data`` (leaves with a leading axis of B datasets) when
    ``chunk_size`` is not given.

    At most about :data:`CHUNK_ELEMENTS` numbers a chunk (and :data:`MAX_CHUNK` datasets), a
    multiple of the devices, and evened out over the batch: as many chunks as that largest
    size needs, of equal size, so that the padded last chunk wastes little (2,000 datasets of
    400 numbers run as 2 x 1,053, not 2 x 1,310). The size is rounded up to a sixteenth of the
    largest: at most 16 distinct sizes, hence compilations, per model and data shape,
    whatever B.

    Example:
        >>> import numpy as np
        >>> from jaxmle.fit import default_chunk_size
        >>> default_chunk_size(np.zeros((2000, 400))), default_chunk_size(np.zeros((100, 400)))
        (1053, 100)
    """
    leaves = jax.tree_util.tree_leaves(data)
    per_dataset = max(1, sum(int(np.prod(x.shape[1:])) for x in leaves))
    largest = int(np.clip(CHUNK_ELEMENTS // per_dataset, 16, MAX_CHUNK))
    largest = -(-largest // n_devices) * n_devices
    return _balanced_chunk(int(leaves[0].shape[0]), largest, n_devices)


def _balanced_chunk(B: int, largest: int, n_dev: int) -> int:
    if B <= largest:
        return -(-B // n_dev) * n_dev
    grain = -(-max(largest // 16, 1) // n_dev) * n_dev
    even = -(-B // -(-B // largest))
    return min(-(-even // grain) * grain, largest)


def _take(tree, idx):
    """Rows ``idx`` (indices, or a slice within the batch) of every leaf: on the host for numpy
    leaves; for JAX arrays in one compiled computation, a contiguous slice or a gather
    (indexing them eagerly compiles several small computations per chunk shape)."""
    if not any(isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(tree)):
        return jax.tree_util.tree_map(lambda x: x[idx], tree)
    if isinstance(idx, slice):
        return _slice_jit(tree, np.int32(idx.start), idx.stop - idx.start)
    return _take_jit(tree, np.asarray(idx, np.int32))


@jax.jit
def _take_jit(tree, idx):
    return jax.tree_util.tree_map(lambda x: jnp.take(x, idx, axis=0, mode="clip"), tree)


@functools.partial(jax.jit, static_argnums=2)
def _slice_jit(tree, start, size):
    return jax.tree_util.tree_map(
        lambda x: jax.lax.dynamic_slice_in_dim(x, start, size, axis=0), tree
    )


def _sharding(n_devices):
    if n_devices <= 1:
        return None
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.local_devices()), ("batch",))
    return NamedSharding(mesh, PartitionSpec("batch"))


def _put(tree, sharding):
    if sharding is None:
        return jax.tree_util.tree_map(jnp.asarray, tree)
    return jax.device_put(tree, sharding)


def _run_chunks(inputs, static, max_iter, chunk_size, progress) -> FitResult:
    B = _batch_size(inputs)
    n_dev = jax.local_device_count()
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        chunk = -(-int(chunk_size) // n_dev) * n_dev
        chunk = min(chunk, -(-B // n_dev) * n_dev)
    else:
        chunk = default_chunk_size(inputs[0], n_dev)
    sharding = _sharding(n_dev)
    starts = range(0, B, chunk)
    bar = progress_bar(progress, len(starts), B)
    first = min(LBFGS_STRAGGLER_ITER if static["method"] == "lbfgs" else STRAGGLER_ITER, max_iter)
    # The first pass of a chunk may leave a smallest bucket's worth of stragglers behind (none
    # in chunks under 64 datasets, where a bucket would save little).
    allowed = np.int32(chunk // 64 if first < max_iter else 0)
    out = []  # per chunk, on the host
    pending: list[np.ndarray] = []  # stragglers (global indices) not finished yet
    n_pending = 0
    finished = 0  # chunks whose stragglers are all finished

    def finish():
        nonlocal pending, n_pending, finished
        if n_pending:
            _finish_stragglers(
                inputs, out, np.concatenate(pending), chunk, static, max_iter, sharding
            )
        pending, n_pending, finished = [], 0, len(out)

    try:
        for start in starts:
            if start + chunk <= B:
                rows = slice(start, start + chunk)
            else:
                rows = np.arange(start, start + chunk)
                rows[rows >= B] = start  # pad the last chunk with one of its own datasets
            part = _put(_take(inputs, rows), sharding)
            res = _kernel_chunk(*part, allowed, max_iter=first, **static)
            stop = min(chunk, B - start)
            if len(starts) > 1 or stop < chunk:
                # assembled on the host: no compilation per batch size
                res = _take(jax.device_get(res), slice(0, stop))
            out.append(res)  # (a batch of one whole chunk stays where it was computed)
            if first < max_iter:
                late = np.flatnonzero(np.asarray(res.status) == Status.MAX_ITER)
                if late.size:
                    pending.append(start + late)
                    n_pending += late.size
            # Stragglers of several chunks are finished together, in one bucket.
            if n_pending >= max(chunk // 8, 1) or start + chunk >= B:
                finish()
            elif not n_pending:
                finished = len(out)
            if bar is not None:
                bar.update(stop)
    except BaseException as err:  # KeyboardInterrupt too: keep what is finished
        _keep_partial(err, out[:finished], B)
        raise
    finally:
        if bar is not None:
            bar.close()
    return _concat(out)


def _finish_stragglers(inputs, out, late, chunk, static, max_iter, sharding) -> None:
    """Resume the datasets ``late`` (global indices) from where the first pass left them, in
    buckets of a few fixed sizes, and write their results into the chunks ``out``."""
    for c in np.unique(late // chunk):  # writable host copies, to be indexed and written
        out[c] = jax.tree_util.tree_map(np.array, jax.device_get(out[c]))
    for s0 in range(0, late.size, chunk):
        piece = late[s0 : s0 + chunk]
        size = _bucket(piece.size, chunk, sharding)
        idx = np.concatenate([piece, np.full(size - piece.size, piece[0])])
        data, init, _, weights, mask = _take(inputs, idx)
        u0 = np.empty((size,) + out[idx[0] // chunk].unconstrained.shape[1:])
        iter0 = np.empty(size, np.int32)
        for c in np.unique(idx // chunk):
            sel = idx // chunk == c
            u0[sel] = out[c].unconstrained[idx[sel] % chunk]
            iter0[sel] = out[c].n_iter[idx[sel] % chunk]
        sub = _put((data, init, (u0, iter0), weights, mask), sharding)
        more = jax.device_get(_kernel_chunk(*sub, np.int32(0), max_iter=max_iter, **static))
        srcs = [x[: piece.size] for x in jax.tree_util.tree_leaves(more)]
        for c in np.unique(piece // chunk):
            sel = piece // chunk == c
            for dst, src in zip(jax.tree_util.tree_leaves(out[c]), srcs):
                dst[piece[sel] % chunk] = src[sel]


def _concat(out) -> FitResult:
    if len(out) == 1:  # one chunk: no copy (arrays already on the device stay there)
        return jax.tree_util.tree_map(jax.device_put, out[0])
    return jax.tree_util.tree_map(lambda *xs: jax.device_put(np.concatenate(xs)), *out)


def _keep_partial(err: BaseException, out, total: int) -> None:
    """Attach the finished chunks to an exception that interrupted a batch: ``err.partial``
    (a batch FitResult, or None) and ``err.partial_index`` (their dataset indices)."""
    if hasattr(err, "partial_index"):  # already attached by an inner batch
        return
    done = sum(len(r.status) for r in out)
    try:
        err.partial = _concat(out) if out else None
        err.partial_index = np.arange(done)
    except AttributeError:  # an exception type that takes no attributes
        return
    if done:
        what = (
            f"the results of datasets 0..{done - 1} are in this exception's .partial (a batch "
            "FitResult; dataset indices in .partial_index)"
        )
    else:
        what = "no dataset had finished: nothing was kept (.partial is None)"
    err.add_note(f"jaxmle.fit_batch interrupted after {done} of {total} datasets; {what}")


def _bucket(count: int, chunk: int, sharding) -> int:
    """Smallest of a few fixed bucket sizes (chunk/64, chunk/8, chunk) holding count."""
    n_dev = 1 if sharding is None else len(sharding.mesh.devices.flat)
    for size in (chunk // 64, chunk // 8, chunk):
        size = -(-max(size, 1) // n_dev) * n_dev
        if size >= count:
            return size
    return chunk


class _Callback:
    """``progress=callable``: called as ``progress(done, total)`` after each chunk."""

    def __init__(self, fn, total):
        self.fn, self.done, self.total = fn, 0, total

    def update(self, n):
        self.done += n
        self.fn(self.done, self.total)

    def close(self):
        pass


def progress_bar(progress, n_chunks: int, total: int):
    if callable(progress):
        return _Callback(progress, total)
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as err:
        raise ImportError(
            "progress=True needs tqdm: pip install 'jaxmle[progress]' (or pip install tqdm)"
        ) from err
    return tqdm(total=total, unit="fits", desc="jaxmle", disable=n_chunks <= 1 and total < 1000)
