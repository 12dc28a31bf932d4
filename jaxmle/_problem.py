"""The objective of a fit, rebuilt from a result: what profiles, tests and refits evaluate.

A :class:`Problem` holds the static part (model, observation count, dtype); the
arrays (data, weights, mask) travel beside it, so that one compilation serves
every dataset of a batch. With fixed parameters the problem is the reduced
model's (the fixed values ride in its data), as in the fit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .model import Model

__all__ = ["Problem", "problem_of"]


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
        return self._masked(self.model.compiled_loglik(params, data), mask)

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
