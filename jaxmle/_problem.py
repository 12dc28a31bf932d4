"""The objective of a fit: the data as the fit sees it, and the problem a solver maximizes.

* :func:`prepare` validates and prepares the inputs of a fit on the host (data as arrays,
  weights, mask, ``nan_policy``, the observation count, datasets invalid for the model);
* a :class:`Problem` holds the static part of the objective (model, observation count,
  dtype); the arrays (data, weights, mask) travel beside it, so that one compilation serves
  every dataset of a batch;
* :func:`problem_of` rebuilds the problem of a result: what profiles, tests and refits
  evaluate. With fixed parameters the problem is the reduced model's (the fixed values ride
  in its data), as in the fit.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._compile import is_traced
from ._warnings import warn_float32
from .fixed import reduction, structure
from .inference import COV_TYPES
from .model import Model

__all__ = ["Problem", "problem_of", "prepare", "Prepared", "observation_count", "NAN_POLICIES"]

NAN_POLICIES = ("raise", "omit", "propagate")


def fill_masked(data, mask, n, value=None):
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
        return fill_masked(data, mask, self.n), w, mask

    def terms(self, params, data, mask):
        """Per-observation log-likelihood (masked terms 0), or the scalar total."""
        return self._masked(self.model.compiled_loglik(params, data), mask)

    def terms_free(self, u, data, mask):
        """:meth:`terms` at the unconstrained vector ``u`` (through the model's own form in
        ``u`` where it has one)."""
        free = self.model.free_loglik
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
        red = reduction(model, structure(model, res.fixed))
        model = red.model
        data = {"data": data, "fixed": values}
    dtype = jnp.result_type(res.loglik)
    lead = len(res.batch_shape)
    one = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x)[lead:], jnp.result_type(x)), data
    )
    n = observation_count(model, one, dtype)
    return Problem(model, n, dtype), data, res.weights, res.mask, red, values


# --------------------------------------------------------------------------
# input preparation and validation (host side, skipped for traced values)
# --------------------------------------------------------------------------
@dataclass
class Prepared:
    data: Any
    init: dict
    weights: Any
    mask: Any
    n: int | None
    dtype: Any
    #: (batches) datasets invalid for the model, boolean (B,), or None when all are valid
    invalid: Any = None
    #: the data as numpy arrays (one copy from the device), for the model's host-side hooks
    host: Any = None


def _leaf_name(path) -> str:
    name = jax.tree_util.keystr(path)
    return f"data{name}" if name else "data"


def as_array(path, x):
    if isinstance(x, jax.Array):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{_leaf_name(path)} has dtype {arr.dtype}; jaxmle needs numeric arrays "
            "(bool, int or float)"
        )
    # stays on the host: a batch moves to the device one chunk at a time
    return arr.astype(jax.dtypes.canonicalize_dtype(arr.dtype), copy=False)


def float_dtype(leaves):
    floats = [x.dtype for x in leaves if jnp.issubdtype(x.dtype, jnp.floating)]
    dt = jnp.result_type(*floats) if floats else jnp.result_type(float)
    return jax.dtypes.canonicalize_dtype(dt)


def fmt_idx(idx, limit=8) -> str:
    """Indices for a message: the first ``limit`` of them and how many in all."""
    idx = [int(i) for i in idx]
    s = ", ".join(str(i) for i in idx[:limit])
    return f"[{s}{', ...' if len(idx) > limit else ''}] ({len(idx)} in all)"


def prepare(model, data, init, weights, mask, nan_policy, cov_type, batch) -> Prepared:
    if not isinstance(model, Model):
        raise TypeError(f"expected a jm.Model as first argument, got {type(model).__name__}")
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if data is None:
        raise ValueError("data is None; pass the observations (an array or a pytree of arrays)")

    data = jax.tree_util.tree_map_with_path(as_array, data)
    paths_leaves = jax.tree_util.tree_flatten_with_path(data)[0]
    leaves = [x for _, x in paths_leaves]
    if not leaves:
        raise ValueError("data has no arrays")
    dtype = float_dtype(leaves)
    if dtype == jnp.float32:
        warn_float32()
    traced = is_traced(data)

    lead: tuple[int, ...] = ()
    if batch:
        sizes = {}
        for path, x in paths_leaves:
            if x.ndim == 0:
                raise ValueError(
                    f"fit_batch: {_leaf_name(path)} is a scalar; every data leaf needs a "
                    "leading axis of datasets"
                )
            sizes[_leaf_name(path)] = x.shape[0]
        if len(set(sizes.values())) != 1:
            raise ValueError(
                f"fit_batch: data leaves disagree on the number of datasets (leading axis): {sizes}"
            )
        lead = (leaves[0].shape[0],)
        if lead[0] == 0:
            raise ValueError("fit_batch: the batch is empty (leading axis of length 0)")

    one = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape[len(lead) :], x.dtype), data
    )
    n = observation_count(model, one, dtype)

    # weights and mask
    obs_shape = lead + ((n,) if n is not None else ())
    if (weights is not None or mask is not None) and n is None:
        raise ValueError(
            "weights= and mask= need a loglik that returns per-observation values "
            "(an array with a leading observation axis), not the scalar total"
        )
    if cov_type != "observed" and n is None:
        raise ValueError(
            f"cov_type={cov_type!r} needs per-observation scores: make loglik return one "
            "value per observation"
        )
    if weights is not None:
        weights = weights if isinstance(weights, jax.Array) else np.asarray(weights)
        if weights.shape != obs_shape:
            raise ValueError(f"weights has shape {weights.shape}; expected {obs_shape}")
        if not is_traced(weights):
            w = np.asarray(weights)
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError("weights must be finite and non-negative")
    if mask is not None:
        mask = mask if isinstance(mask, jax.Array) else np.asarray(mask)
        if mask.shape != obs_shape:
            raise ValueError(f"mask has shape {mask.shape}; expected {obs_shape}")
        if mask.dtype != bool:
            mask = mask != 0

    # non-finite data
    if not traced:
        bad = _nonfinite_observations(paths_leaves, lead, n, model.infinite_bounds_ok)
        if bad is not None and mask is not None and not is_traced(mask):
            bad = bad & np.asarray(mask)  # masked-out observations may hold anything
        if bad is not None and bad.any():
            if nan_policy == "raise":
                raise ValueError(_nonfinite_message(bad, lead, n))
            if nan_policy == "omit":
                if n is None:
                    raise ValueError(
                        "nan_policy='omit' needs a loglik that returns per-observation values; "
                        + _nonfinite_message(bad, lead, n)
                    )
                mask = ~bad if mask is None else np.asarray(mask) & ~bad

    invalid, host = None, None
    if not traced and not is_traced((weights, mask)) and n is not None:
        host = _host_copy(model, data)
        invalid, mask = _check_validity(model, host, weights, mask, lead, n)
    init = {} if init is None else model.check_init(init, dtype, lead)
    return Prepared(data, init, weights, mask, n, dtype, invalid, host)


def _host_copy(model, data):
    """The data on the host, once, where a host-side hook of the model reads it."""
    if model.data_check is None and model.standardize is None:
        return None
    return jax.tree_util.tree_map(np.asarray, data)


def _check_validity(model, data, weights, mask, lead, n):
    """Data outside the model's support (its ``data_check``) and datasets with fewer
    observations than free parameters: a ``ValueError`` for one dataset; for a batch, the
    invalid datasets ``(B,)`` (their observations then masked out, so that they cost nothing)
    and the new mask."""
    keep = True if mask is None else np.asarray(mask, bool)
    problems = []  # (bad observations or None, message)
    if model.data_check is not None:
        found = model.data_check(data)
        if found is not None:
            bad, why = found
            bad = np.broadcast_to(bad, lead + (n,)) & keep
            if bad.any():
                problems.append((bad, why))
    if weights is None and mask is None:
        nobs = np.full(lead, float(n)) if lead else float(n)
    else:
        w = keep if weights is None else np.where(keep, np.asarray(weights), 0.0)
        nobs = np.sum(np.broadcast_to(w, lead + (n,)), axis=-1)
    need = model.free_size if model.min_nobs is None else model.min_nobs
    few = nobs < need
    if np.any(few):
        problems.append(
            (None, f"fewer observations than free parameters ({model.free_size}: "
                   f"{', '.join(model.param_names)}) cannot identify them")
        )  # fmt: skip
    if not problems:
        return None, mask
    if not lead:
        bad, why = problems[0]
        where = "" if bad is None else f" in observations {fmt_idx(np.flatnonzero(bad))}"
        if bad is None:
            why = f"{why}: the dataset has {nobs:g} valid observation(s)"
        raise ValueError(f"{model.name}: {why}{where}")
    invalid = few.copy() if np.ndim(few) else np.full(lead, bool(few))
    for bad, _ in problems:
        if bad is not None:
            invalid |= bad.reshape(lead[0], -1).any(axis=1)
    mask = np.where(invalid[:, None], False, np.broadcast_to(keep, lead + (n,)))
    return invalid, mask


#: model -> {(data structure, shapes, dtype): observation count}, as long as the model lives
_COUNTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def observation_count(model, one, dtype) -> int | None:
    """Evaluate the loglik's output shape on one dataset; None for a scalar total.

    The answer depends only on the model and the data's structure and shapes; it is kept per
    model (tracing the loglik on every call cost a fifth of a small batch's fit). A model with
    ``args`` bound (a fit with ``args=``, a new model on every call) is kept under the model it
    was made of, with the structure and shapes of its ``args``."""
    model_of, args = getattr(model, "bound_args", (model, None))
    leaves, treedef = jax.tree_util.tree_flatten((one, args))
    shapes = tuple((jnp.shape(x), str(jnp.result_type(x))) for x in leaves)
    key = (treedef, shapes, str(jnp.dtype(dtype)))
    known = _COUNTS.setdefault(model_of, {})
    if key not in known:
        known[key] = _count_observations(model, one, dtype)
    return known[key]


def _count_observations(model, one, dtype) -> int | None:
    try:
        params0 = jax.eval_shape(lambda d: model.default_init(d, dtype), one)
        out = jax.eval_shape(model.loglik, params0, one)
    except Exception as err:  # the user's function failed: say where
        err.add_note(
            f"jaxmle: raised while evaluating {model.name}'s loglik(params, data) with params "
            f"{ {k: tuple(v.shape) for k, v in model.spec.items()} } (names and shapes)"
        )
        raise
    if not hasattr(out, "shape") or isinstance(out, (tuple, list, dict)):
        raise TypeError(f"loglik must return an array, got {type(out).__name__}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"loglik must return floating values, got dtype {out.dtype}")
    if out.ndim == 0:
        return None
    if out.ndim > 1:
        raise ValueError(
            f"loglik returned shape {out.shape}; it must return the scalar total or one value per "
            "observation, shape (n,) (an (n, 1) array broadcast against an (n,) one gives (n, n))"
        )
    n = out.shape[0]
    leads = {x.shape[0] for x in jax.tree_util.tree_leaves(one) if len(x.shape) >= 1}
    if leads and n not in leads:
        raise ValueError(
            f"loglik returned {n} values, but no data leaf has {n} observations on its leading "
            f"axis (leading sizes: {sorted(leads)})"
        )
    return n


#: censoring bounds that may be infinite (families' data dicts), and their legitimate sign
_INFINITE_OK = {"lower": -np.inf, "upper": np.inf, "entry": -np.inf}


def _nonfinite_observations(paths_leaves, lead, n, bounds_ok=False):
    """Boolean array of shape lead + (n,) (or lead) marking observations with NaN/inf; None
    when every value is finite.

    With ``bounds_ok`` (a family model), ``lower=-inf``, ``upper=inf`` and
    ``entry=-inf`` are censoring bounds, not bad values."""
    shape = lead + ((n,) if n is not None else ())
    bad = None
    for path, x in paths_leaves:
        if not jnp.issubdtype(x.dtype, jnp.floating):
            continue
        x = np.asarray(x)
        if np.isfinite(np.sum(x)):  # one pass, no temporary: the common, all-finite case
            continue
        fin = np.isfinite(x)
        key = getattr(path[0], "key", None) if len(path) == 1 else None
        if bounds_ok and key in _INFINITE_OK:
            fin = fin | (x == _INFINITE_OK[key])
        axes_keep = len(lead) + (
            1 if n is not None and x.ndim > len(lead) and x.shape[len(lead)] == n else 0
        )
        red = tuple(range(axes_keep, fin.ndim))
        row_bad = ~np.all(fin, axis=red) if red else ~fin
        if row_bad.shape != shape:  # a leaf without an observation axis: all of it is bad
            row_bad = np.broadcast_to(
                np.reshape(row_bad, row_bad.shape + (1,) * (len(shape) - row_bad.ndim)), shape
            )
        bad = row_bad if bad is None else bad | row_bad
    return bad


def _nonfinite_message(bad, lead, n) -> str:
    if lead:
        ds = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
        detail = f"datasets {fmt_idx(ds)}"
        if n is not None:
            obs = np.flatnonzero(bad[ds[0]])
            detail += f"; in dataset {int(ds[0])}, observations {fmt_idx(obs)}"
    else:
        detail = f"observations {fmt_idx(np.flatnonzero(bad))}" if n is not None else "the data"
    return (
        f"data contains NaN or infinite values in {detail}. Pass nan_policy='omit' to drop "
        "those observations, or nan_policy='propagate' to fit anyway (status NONFINITE). "
        "(Infinite censoring bounds, lower=-inf or upper=inf, are valid data for the "
        "families' models, jm.families.*, and jm.fit_dist; with a loglik of your own that "
        "handles them, pass nan_policy='propagate')"
    )
