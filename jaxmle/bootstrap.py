"""The bootstrap as one more batch axis: every replicate is one more dataset of a batch fit.

* ``kind="nonparametric"``: each replicate resamples the observations with
  replacement, as multinomial counts used as frequency weights (``weights=``
  of the fit), so the data itself is never copied for a single dataset.
  Observations with frequency weights are resampled as that many units;
  masked observations are never drawn.
* ``kind="parametric"``: each replicate is a new dataset drawn from the fitted
  model with the model's ``simulate(key, params, data)`` (the family models
  have one; give your own to :class:`jaxmle.Model`).

Each replicate is refitted from the original estimate. Intervals:

* percentile: the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of the
  replicate estimates;
* BCa (bias-corrected and accelerated, Efron 1987): the percentile interval at
  the adjusted levels ``Phi(z0 + (z0 + z_a) / (1 - a (z0 + z_a)))``, with
  ``z0 = Phi^-1(share of replicates below the estimate)`` and the acceleration
  ``a = sum U_i^3 / (6 (sum U_i^2)^{3/2})`` from the empirical influence values
  ``U_i`` of the observations, computed exactly at the estimate (infinitesimal
  jackknife: ``U_i = J I^-1 s_i``, ``s_i`` the score of observation ``i``, ``I``
  the observed information, ``J`` the Jacobian of the natural parameters) rather
  than by ``n`` leave-one-out refits.

Replicates whose fit did not converge (status other than ``CONVERGED`` and
``BOUNDARY``) are left out of the quantiles and counted in ``n_failed``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from statistics import NormalDist
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._compile import tuned_jit
from ._problem import problem_of
from .fit import fit, fit_batch
from .inference import z_value
from .model import Model
from .results import FitResult, Status

__all__ = ["BootstrapResult", "bootstrap"]

KINDS = ("nonparametric", "parametric")


class BootstrapResult(NamedTuple):
    """Bootstrap replicates and intervals (arrays with a leading batch axis for a batch).

    Attributes:
        estimate: dict name -> the original estimate.
        replicates: dict name -> replicate estimates, shape ``(n_boot, ...)``
            (``(B, n_boot, ...)`` for a batch); NaN for failed replicates.
        se: dict name -> bootstrap standard error (SD of the replicates).
        percentile: dict name -> ``(low, high)`` percentile interval.
        bca: dict name -> ``(low, high)`` BCa interval.
        n_failed: replicates whose fit failed (per dataset).
        level: confidence level.
        kind: ``"nonparametric"`` or ``"parametric"``.
        fit: the original :class:`~jaxmle.FitResult`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit(jm.families.Exponential(), {"x": jnp.array([2.1, 0.4, 3.3, 1.2, 0.7])})
        >>> b = jm.bootstrap(res, key=jax.random.key(1), n_boot=50)
        >>> b.kind, b.replicates["rate"].shape
        ('nonparametric', (50,))
    """

    estimate: dict
    replicates: dict
    se: dict
    percentile: dict
    bca: dict
    n_failed: Any
    level: float
    kind: str
    fit: Any


def _broadcast_data(data, n_boot, batch):
    """Every leaf with a leading replicate axis (after the batch axis, then merged)."""

    def rep(x):
        x = np.asarray(x) if not isinstance(x, jax.Array) else np.asarray(jax.device_get(x))
        if batch:
            return np.repeat(x, n_boot, axis=0)
        return np.broadcast_to(x, (n_boot,) + x.shape)

    return jax.tree_util.tree_map(rep, data)


@tuned_jit(static_argnames=("n_boot", "n", "units"))
def _counts(key, probs, *, n_boot, n, units):
    """Multinomial counts of ``units`` draws over ``n`` observations, ``n_boot`` times
    (inverse-CDF draws: O(units log n) each)."""
    cdf = jnp.cumsum(probs)
    u = jax.random.uniform(key, (n_boot, units), probs.dtype) * cdf[-1]
    idx = jnp.clip(jnp.searchsorted(cdf, u, side="right"), 0, n - 1)
    return jax.vmap(lambda i: jnp.bincount(i, length=n))(idx)


@tuned_jit(static_argnames=("n_boot", "n", "units"))
def _counts_batch(keys, probs, *, n_boot, n, units):
    return jax.vmap(lambda k, p: _counts(k, p, n_boot=n_boot, n=n, units=units))(keys, probs)


@tuned_jit(static_argnames=("model", "n_boot"))
def _simulate(key, params, data, *, model, n_boot):
    keys = jax.random.split(key, n_boot)
    return jax.vmap(lambda k: model.simulate(k, params, data))(keys)


def _influence_one(u, data, weights, mask, *, problem):
    """Empirical influence values of each observation on each natural-space component."""
    model = problem.model
    data, weights, mask = problem.prepare(data, weights, mask)

    def terms(v):
        return problem.terms_free(v, data, mask)

    scores = jax.jacfwd(terms)(u)  # (n, p)
    info = -jax.hessian(lambda v: jnp.sum(terms(v) * weights))(u)
    jac = jax.jacfwd(lambda v: model.flatten(model.to_constrained(v)))(u)  # (m, p)
    infl = scores @ jnp.linalg.solve(info, jac.T)  # (n, m)
    w = jnp.where(mask, weights, 0.0)[:, None]
    s2 = jnp.sum(w * infl**2, axis=0)
    s3 = jnp.sum(w * infl**3, axis=0)
    return s3 / (6.0 * s2**1.5)


@tuned_jit(static_argnames=("problem", "batched"))
def _acceleration(u, data, weights, mask, *, problem, batched):
    fn = functools.partial(_influence_one, problem=problem)
    return jax.vmap(fn)(u, data, weights, mask) if batched else fn(u, data, weights, mask)


def _index(tree, i):
    return jax.tree_util.tree_map(lambda v: v[i], tree)


def _quantiles(reps, qs):
    """Per-component quantiles over the replicate axis (-2), levels ``qs`` (..., m) arrays."""
    # reps (..., n_boot, m); qs (..., m) -> (..., m)
    srt = np.sort(reps, axis=-2)  # NaN last
    valid = np.sum(~np.isnan(reps), axis=-2)  # (..., m)
    pos = qs * (valid - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, None)
    hi = np.clip(np.ceil(pos).astype(int), 0, None)
    frac = pos - np.floor(pos)
    take_lo = np.take_along_axis(srt, lo[..., None, :], axis=-2)[..., 0, :]
    take_hi = np.take_along_axis(srt, hi[..., None, :], axis=-2)[..., 0, :]
    out = take_lo + frac * (take_hi - take_lo)
    return np.where(valid > 0, out, np.nan)


def bootstrap(
    model_or_result: Model | FitResult,
    data: Any = None,
    key: jax.Array | None = None,
    *,
    n_boot: int = 1000,
    kind: str = "nonparametric",
    level: float = 0.95,
    init: dict | None = None,
    weights: Any = None,
    mask: Any = None,
    batch: bool | None = None,
    max_iter: int | None = None,
    chunk_size: int | None = None,
) -> BootstrapResult:
    """Bootstrap a maximum-likelihood fit: percentile and BCa intervals, replicate estimates.

    All replicates (of all datasets) are fitted as one batch with
    :func:`jaxmle.fit_batch`. Reproducible: the same ``key`` gives the same
    replicates.

    Args:
        model_or_result: a :class:`~jaxmle.Model` (then ``data`` is fitted
            first), or a :class:`~jaxmle.FitResult` with its data (single or
            batch).
        data: the data (with a model; ignored with a result unless given).
        key: a ``jax.random`` key (required).
        n_boot: replicates per dataset.
        kind: ``"nonparametric"`` (resample observations) or ``"parametric"``
            (simulate from the fit with the model's ``simulate``).
        level: confidence level of the intervals.
        init, weights, mask, max_iter, chunk_size: as in :func:`jaxmle.fit`
            (with a model).
        batch: with a model, whether ``data`` is a batch (leading axis of
            datasets); by default a single dataset.

    Returns:
        A :class:`BootstrapResult`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = {"x": jnp.array([2.1, 0.4, 3.3, 1.2, 0.7, 2.8, 1.9, 0.2])}
        >>> b = jm.bootstrap(jm.families.Exponential(), x, jax.random.key(0), n_boot=200)
        >>> b.replicates["rate"].shape
        (200,)
        >>> lo, hi = b.percentile["rate"]
        >>> bool(lo < b.estimate["rate"] < hi)
        True
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if key is None:
        raise ValueError("bootstrap needs a jax.random key: key=jax.random.key(0)")
    n_boot = int(n_boot)
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    z_value(level)
    opts = {} if max_iter is None else {"max_iter": max_iter}
    if isinstance(model_or_result, FitResult):
        res = model_or_result
        if res.fixed:
            raise ValueError("bootstrap of a fit with fixed= is not supported; bootstrap the model")
        if data is not None:
            res = dataclasses.replace(res, data=data)
        if res.data is None:
            raise ValueError("this result has no data (res.data is None): pass data=")
    elif isinstance(model_or_result, Model):
        if data is None:
            raise ValueError("bootstrap of a model needs data")
        runner = fit_batch if batch else fit
        res = runner(model_or_result, data, init=init, weights=weights, mask=mask, **opts)
    else:
        raise TypeError(
            f"bootstrap takes a jm.Model or a jm.FitResult, got {type(model_or_result).__name__}"
        )
    model = res.model
    problem, data, weights, mask, _, _ = problem_of(res, "the bootstrap")
    batch_shape = res.batch_shape
    B = batch_shape[0] if batch_shape else None
    total = n_boot * (B or 1)
    est_flat = np.asarray(model.flatten_batched(res.params, batch_shape))  # (..., m)
    init_rep = {
        k: np.repeat(np.asarray(v), n_boot, axis=0) if B else np.asarray(v)
        for k, v in res.params.items()
    }

    if kind == "nonparametric":
        if problem.n is None:
            raise ValueError(
                "the nonparametric bootstrap resamples observations: loglik must return one "
                "value per observation"
            )
        n = problem.n
        w = np.ones(batch_shape + (n,)) if weights is None else np.asarray(weights, float)
        m = np.ones(batch_shape + (n,), bool) if mask is None else np.asarray(mask, bool)
        w = np.where(m, w, 0.0)
        units = np.rint(w.sum(axis=-1)).astype(int)
        if np.any(units < 1):
            raise ValueError("a dataset has no observations to resample")
        probs = w / w.sum(axis=-1, keepdims=True)
        if B and np.all(units == units[0]):
            keys = jax.random.split(key, B)
            counts = np.asarray(
                _counts_batch(keys, jnp.asarray(probs), n_boot=n_boot, n=n, units=int(units[0]))
            ).reshape(B * n_boot, n)
        elif B:
            keys = jax.random.split(key, B)
            counts = [
                np.asarray(
                    _counts(keys[i], jnp.asarray(probs[i]), n_boot=n_boot, n=n, units=int(units[i]))
                )  # fmt: skip
                for i in range(B)
            ]
            counts = np.concatenate(counts, axis=0)
        else:
            counts = np.asarray(
                _counts(key, jnp.asarray(probs), n_boot=n_boot, n=n, units=int(units))
            )
        rep_data = _broadcast_data(data, n_boot, bool(B))
        rep_mask = None if mask is None else _broadcast_data(mask, n_boot, bool(B))
        reps = fit_batch(
            model, rep_data, init=init_rep, weights=counts.astype(est_flat.dtype),
            mask=rep_mask, nan_policy="propagate", chunk_size=chunk_size, **opts,
        )  # fmt: skip
    else:
        if model.simulate is None:
            raise ValueError(
                f"the parametric bootstrap needs a simulator: {model.name} has none (pass "
                "simulate=(key, params, data) -> data to jm.Model; the family models have one)"
            )
        if B:
            keys = jax.random.split(key, B)
            sims = [
                _simulate(
                    keys[i], _index(res.params, i), _index(data, i), model=model, n_boot=n_boot
                )
                for i in range(B)
            ]
            rep_data = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *sims)
        else:
            rep_data = _simulate(key, res.params, data, model=model, n_boot=n_boot)
        rep_data = jax.device_get(rep_data)
        rep_w = None if weights is None else _broadcast_data(weights, n_boot, bool(B))
        rep_mask = None if mask is None else _broadcast_data(mask, n_boot, bool(B))
        reps = fit_batch(
            model, rep_data, init=init_rep, weights=rep_w, mask=rep_mask,
            nan_policy="propagate", chunk_size=chunk_size, **opts,
        )  # fmt: skip

    status = np.asarray(reps.status)
    ok = (status == Status.CONVERGED) | (status == Status.BOUNDARY)
    flat = np.asarray(model.flatten_batched(reps.params, (total,)))
    flat = np.where(ok[:, None], flat, np.nan)
    if B:
        flat = flat.reshape(B, n_boot, -1)
        ok = ok.reshape(B, n_boot)
    n_failed = np.sum(~ok, axis=-1)

    a_lo, a_hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    shape_m = est_flat.shape
    pct_lo = _quantiles(flat, np.full(shape_m, a_lo))
    pct_hi = _quantiles(flat, np.full(shape_m, a_hi))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.nanstd(flat, axis=-2, ddof=1)

    # BCa
    accel = np.asarray(
        _acceleration(res.unconstrained, data, weights, mask, problem=problem, batched=bool(B))
    ) if problem.n is not None else np.zeros(shape_m)  # fmt: skip
    valid = np.sum(~np.isnan(flat), axis=-2)
    below = np.sum(flat < est_flat[..., None, :], axis=-2) / np.maximum(valid, 1)
    nd = NormalDist()
    inv = np.vectorize(lambda p: nd.inv_cdf(p) if 0.0 < p < 1.0 else math.nan)
    cdf = np.vectorize(nd.cdf)
    z0 = inv(below)
    bca = []
    for alpha in (a_lo, a_hi):
        za = nd.inv_cdf(alpha)
        with np.errstate(invalid="ignore", divide="ignore"):
            adj = cdf(z0 + (z0 + za) / (1.0 - accel * (z0 + za)))
        adj = np.where(np.isfinite(adj), adj, np.nan)
        ends = _quantiles(flat, np.nan_to_num(adj, nan=0.5))
        bca.append(np.where(np.isnan(adj), np.nan, ends))

    def unflat(x):
        return {k: np.asarray(v) for k, v in model.unflatten(jnp.asarray(x)).items()}

    reps_dict = unflat(flat)
    pl, ph, bl, bh = unflat(pct_lo), unflat(pct_hi), unflat(bca[0]), unflat(bca[1])
    return BootstrapResult(
        estimate={k: np.asarray(v) for k, v in res.params.items()},
        replicates=reps_dict,
        se=unflat(sd),
        percentile={k: (pl[k], ph[k]) for k in model.spec},
        bca={k: (bl[k], bh[k]) for k in model.spec},
        n_failed=n_failed,
        level=float(level),
        kind=kind,
        fit=res,
    )
