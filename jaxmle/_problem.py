"""The objective of a fit, rebuilt from a result: what profiles, tests and refits evaluate.

A :class:`Problem` holds the static part (model, observation count, dtype); the
arrays (data, weights, mask) travel beside it, so that one compilation serves
every dataset of a batch. With fixed parameters the problem is the reduced
model's (the fixed values ride in its data), as in the fit.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._compile import tuned_jit
from .inference import delta_method
from .model import Model

__all__ = ["Problem", "problem_of", "cluster_adjust"]


def _fill_masked(data, mask, n, value=None):
    """Replace masked observations by the first unmasked one, so that the
    log-likelihood and its derivatives stay finite there (the masked terms are
    then zeroed: the double-``where`` pattern); or, given ``value``, set the
    masked observations of floating leaves to it."""
    first = jnp.argmax(mask)

    def fill(x):
        if jnp.ndim(x) >= 1 and x.shape[0] == n:
            m = jnp.reshape(mask, (n,) + (1,) * (x.ndim - 1))
            if value is None:
                return jnp.where(m, x, x[first])
            if jnp.issubdtype(x.dtype, jnp.floating):
                return jnp.where(m, x, jnp.asarray(value, x.dtype))
        return x

    return jax.tree_util.tree_map(fill, data)


@dataclasses.dataclass(frozen=True)
class Problem:
    """Static description of a fit's objective: its model, ``n`` (None: scalar loglik), dtype."""

    model: Model
    n: int | None
    dtype: Any

    def prepare(self, data, weights, mask):
        """Defaults for weights and mask, masked observations filled (inside jit, one dataset)."""
        if self.n is None:
            return data, None, None
        w = jnp.ones((self.n,), self.dtype) if weights is None else jnp.asarray(weights, self.dtype)
        if mask is None:
            return data, w, jnp.ones((self.n,), bool)
        return _fill_masked(data, mask, self.n), w, mask

    def terms(self, params, data, mask):
        """Per-observation log-likelihood (masked terms 0), or the scalar total."""
        return self._masked(self.model.loglik(params, data), mask)

    def terms_free(self, u, data, mask):
        """:meth:`terms` at the unconstrained vector ``u`` (through the model's own form in
        ``u`` where it has one)."""
        free = self.model._free_loglik
        if free is None:
            return self.terms(self.model.to_constrained(u), data, mask)
        return self._masked(free(u, data), mask)

    def _masked(self, ll, mask):
        ll = jnp.asarray(ll, self.dtype)
        if self.n is None:
            return ll
        return jnp.where(mask, ll, 0.0)

    def loglik(self, params, data, weights, mask):
        """The weighted total log-likelihood at constrained ``params``."""
        return self._total(self.terms(params, data, mask), weights)

    def loglik_free(self, u, data, weights, mask):
        """The weighted total log-likelihood at the unconstrained vector ``u``."""
        return self._total(self.terms_free(u, data, mask), weights)

    def _total(self, t, weights):
        return t if self.n is None else jnp.sum(t * weights)


def _require_data(res, what: str):
    if res.data is None:
        raise ValueError(
            f"{what} needs the data of the fit, and this result has none (res.data is None): "
            "use a result returned by jm.fit / jm.fit_batch, or attach it with "
            "dataclasses.replace(res, data=..., weights=..., mask=...)"
        )


def problem_of(res, what: str = "this method"):
    """``(problem, data, weights, mask, reduction, fixed_values)`` of a result.

    With fixed parameters, the problem is the reduced model's; ``reduction``
    maps its components back (else ``None``).
    """
    _require_data(res, what)
    model, data = res.model, res.data
    red = None
    values = res.fixed_values
    if res.fixed:
        from .fixed import _structure, reduction

        red = reduction(model, _structure(model, res.fixed))
        model = red.model
        data = {"data": data, "fixed": values}
    dtype = jnp.result_type(res.loglik)
    lead = len(res.batch_shape)
    one = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x)[lead:], jnp.result_type(x)), data
    )
    from .fit import _observation_count

    n = _observation_count(model, one, dtype)
    return Problem(model, n, dtype), data, res.weights, res.mask, red, values


# --------------------------------------------------------------------------
# cluster-robust covariance (applied after the kernel)
# --------------------------------------------------------------------------
def _encode_groups(groups, shape):
    g = np.asarray(groups)
    if g.shape != shape:
        raise ValueError(
            f"groups has shape {g.shape}; expected {shape} (one label per observation)"
        )
    if g.ndim == 1:
        return np.unique(g, return_inverse=True)[1].reshape(shape).astype(np.int32)
    out = np.empty(shape, np.int32)
    for i in range(shape[0]):
        out[i] = np.unique(g[i], return_inverse=True)[1].reshape(shape[1:])
    return out


def _cluster_one(u, cov_free, cov, nobs, data, weights, mask, ids, *, problem, k):
    model = problem.model
    data, weights, mask = problem.prepare(data, weights, mask)
    n = problem.n
    scores = jax.jacfwd(lambda v: problem.terms_free(v, data, mask))(u)
    wsc = scores * weights[:, None]
    sums = jax.ops.segment_sum(wsc, ids, num_segments=n)
    used = jax.ops.segment_sum((mask & (weights > 0)).astype(u.dtype), ids, num_segments=n) > 0
    G = jnp.sum(used).astype(u.dtype)
    meat = sums.T @ sums
    corr = G / (G - 1.0) * (nobs - 1.0) / (nobs - k)
    new_free = cov_free @ meat @ cov_free * corr
    jac = jax.jacfwd(lambda v: model.flatten(model.to_constrained(v)))(u)
    new = delta_method(jac, new_free)
    new = jnp.where(jnp.isnan(cov), jnp.nan, new)
    return new_free, new


@tuned_jit(static_argnames=("problem", "k", "batched"))
def _cluster_jit(u, cov_free, cov, nobs, data, weights, mask, ids, *, problem, k, batched):
    fn = functools.partial(_cluster_one, problem=problem, k=k)
    if batched:
        axes = (0, 0, 0, 0, 0, None if weights is None else 0, None if mask is None else 0, 0)
        return jax.vmap(fn, in_axes=axes)(u, cov_free, cov, nobs, data, weights, mask, ids)
    return fn(u, cov_free, cov, nobs, data, weights, mask, ids)


def cluster_adjust(res, groups):
    """Replace the covariance of an ``observed`` fit by the cluster-robust one (CRV1).

    ``V = c H^-1 (sum_g s_g s_g^T) H^-1``, ``s_g`` the summed (weighted)
    scores of cluster ``g``, with statsmodels' small-sample factor
    ``c = G/(G-1) * (N-1)/(N-K)`` (``G`` clusters with an observation in
    the fit, ``N = nobs``, ``K`` free parameters).
    """
    problem, data, weights, mask, _, _ = problem_of(res, "cov_type='cluster'")
    if problem.n is None:
        raise ValueError(
            "cov_type='cluster' needs per-observation scores: make loglik return one value per "
            "observation"
        )
    batch = res.batch_shape
    ids = _encode_groups(groups, batch + (problem.n,))
    new_free, new = _cluster_jit(
        res.unconstrained, res.cov_free, res.cov, res.nobs, data, weights, mask, ids,
        problem=problem, k=float(res.n_params), batched=bool(batch),
    )  # fmt: skip
    se = res.model.unflatten(jnp.sqrt(jnp.diagonal(new, axis1=-2, axis2=-1)))
    return dataclasses.replace(res, cov_free=new_free, cov=new, se=se, cov_type="cluster")
