"""Fixed parameters: hold parameters (or components of vector parameters) at given values.

``jm.fit(model, data, fixed={"sigma": 1.0})`` fits the other parameters only,
like iminuit's ``fixed`` or scipy's ``f0=``, without rewriting the model. A
key of ``fixed`` is a parameter name (the whole parameter, the value broadcast
to its shape) or a flattened name from :attr:`jaxmle.Model.param_names`
(``"beta[1]"``, ``"p[0]"``: one component).

How it works: a *reduced* model whose parameters are the free components is
built once per model and set of fixed names (and cached, so refits reuse one
compilation); the fixed values travel with the data, so changing them does not
recompile. Fixing components of an elementwise parameter (``Real``,
``Positive``, ``Bounded``, ``UnitInterval``) leaves the others as a vector of
the same constraint. Fixing ``m`` components of a ``Simplex(k)`` to values
``c`` leaves the other ``k - m`` as ``(1 - sum c)`` times a ``Simplex(k - m)``
(when one component is left, it is determined: ``1 - sum c``).

A fixed value must be inside the parameter's support or on a finite end of a
``Bounded`` one (``Positive`` at 0, ``UnitInterval`` at 0 or 1): a null on the
boundary of the parameter space, for :func:`jaxmle.lr_test` and
:func:`jaxmle.score_test` (the log-likelihood must be finite there, as the
negative binomial's at ``alpha = 0``, the Poisson).

The reduced fit is mapped back to the full parameters: fixed components report
their value with standard error 0 (iminuit's convention) and zero rows in
``cov``; :attr:`jaxmle.FitResult.n_params` counts the free coordinates only,
and :attr:`jaxmle.FitResult.fixed` names the fixed components.

Example:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> jax.config.update("jax_enable_x64", True)
    >>> model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"]),
    ...                  {"mu": jm.Real(), "sigma": jm.Positive()})
    >>> res = jm.fit(model, jnp.array([1.0, 2.0, 6.0]), fixed={"sigma": 1.0})
    >>> float(res.params["mu"]), float(res.params["sigma"]), float(res.se["sigma"])
    (3.0, 1.0, 0.0)
    >>> res.n_params, res.fixed
    (1, ('sigma',))
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._compile import tuned_jit
from .constraints import Bounded, Simplex
from .model import Model

__all__ = ["Reduction", "reduction", "normalize_fixed", "fixed_free_size", "on_edge"]


def _component_index(model: Model) -> dict[str, tuple[str, int]]:
    """Flattened name -> (parameter key, index into the flattened parameter)."""
    out = {}
    names = model.param_names
    start = 0
    for key, c in model.spec.items():
        for j in range(c.size):
            out[names[start + j]] = (key, j)
        start += c.size
    return out


@dataclasses.dataclass(frozen=True)
class _Block:
    key: str
    kind: str  # "free" | "fixed" | "partial" (elementwise) | "simplex" (partially fixed simplex)
    size: int
    fixed_idx: tuple[int, ...]
    free_idx: tuple[int, ...]


class Reduction:
    """The reduced model of a model with some components fixed, and the maps between them.

    Attributes:
        full: the original model.
        model: the reduced model; its data is ``{"data": data, "fixed": values}``
            where ``values`` maps each (partly) fixed parameter key to the flat
            vector of its fixed components (shape ``(1, m)``).
        names: the fixed flattened names.
    """

    def __init__(self, full: Model, fixed: tuple[tuple[str, tuple[int, ...]], ...]):
        self.full = full
        fixed_map = dict(fixed)
        blocks, spec = [], {}
        for key, c in full.spec.items():
            idx = tuple(sorted(fixed_map.get(key, ())))
            free = tuple(j for j in range(c.size) if j not in idx)
            if not idx:
                kind = "free"
                spec[key] = c
            elif isinstance(c, Simplex):
                kind = "simplex" if len(free) >= 2 else "fixed"
                if kind == "simplex":
                    spec[key] = Simplex(len(free))
            elif not free:
                kind = "fixed"
            else:
                kind = "partial"
                reduced = copy.copy(c)
                reduced.shape = (len(free),)
                spec[key] = reduced
            blocks.append(_Block(key, kind, c.size, idx, free))
        self.blocks = tuple(blocks)
        names = full.param_names
        comp = _component_index(full)
        self.names = tuple(n for n in names if comp[n][1] in fixed_map.get(comp[n][0], ()))
        edge = (
            bool(spec)
            and full.data_edge is not None
            and all(b.kind in ("free", "fixed") for b in self.blocks)
        )
        if edge:
            # (whole parameters free or fixed: the reduced free coordinates are the full ones
            # of the free parameters, in order)
            keep = np.concatenate(
                [
                    np.full(free.stop - free.start, self._is_free(key))
                    for key, _, free in full.param_blocks()
                ]
            )
            self._edge_keep = np.flatnonzero(keep)
        # None when every parameter is fixed (a fit is then one evaluation)
        self.model = (
            Model(
                self._loglik,
                spec,
                init=self._init if full.init_fn is not None else None,
                name=full.name,
                rewrite=False,  # (its loglik is the full model's compiled one)
                expected_info=self._expected_info if full.expected_info is not None else None,
                data_edge=self._data_edge if edge else None,
            )
            if spec
            else None
        )
        # full flat component -> (reduced flat index or -1, fixed slot or -1)
        red_start = {}
        start = 0
        for key, c in spec.items():
            red_start[key] = start
            start += c.size
        src, slot = [], []
        fixed_slot = 0
        for b in self.blocks:
            for j in range(b.size):
                if j in b.free_idx and b.kind != "fixed":
                    src.append(red_start[b.key] + b.free_idx.index(j))
                    slot.append(-1)
                else:
                    src.append(-1)
                    slot.append(fixed_slot)
                    fixed_slot += 1
        self.src = np.array(src)  # reduced index of each full component (-1: not free)
        self.slot = np.array(slot)

    # -- the reduced model ------------------------------------------------------
    def expand(self, red: Mapping[str, Any], fixed_values: Mapping[str, Any]) -> dict:
        """Full parameters from reduced ones and the fixed values (traceable)."""
        out = {}
        for b in self.blocks:
            c = self.full.spec[b.key]
            if b.kind == "free":
                out[b.key] = red[b.key]
                continue
            fv = jnp.reshape(jnp.asarray(fixed_values[b.key]), (-1,))
            dtype = fv.dtype
            flat = jnp.zeros((b.size,), dtype)
            if b.fixed_idx:
                flat = flat.at[np.array(b.fixed_idx)].set(fv)
            if b.kind == "partial":
                flat = flat.at[np.array(b.free_idx)].set(jnp.reshape(red[b.key], (-1,)))
            elif b.kind == "simplex":
                rest = 1.0 - jnp.sum(fv)
                flat = flat.at[np.array(b.free_idx)].set(rest * red[b.key])
            elif b.kind == "fixed" and isinstance(c, Simplex) and b.free_idx:
                flat = flat.at[np.array(b.free_idx)].set(1.0 - jnp.sum(fv))
            out[b.key] = jnp.reshape(flat, c.shape)
        return out

    def scale(self, fixed_values: Mapping[str, Any], dtype) -> jax.Array:
        """Per full component: the factor from its reduced component (0 where not free)."""
        parts = []
        for b in self.blocks:
            s = jnp.zeros((b.size,), dtype)
            if b.kind == "simplex":
                fv = jnp.reshape(jnp.asarray(fixed_values[b.key], dtype), (-1,))
                s = s.at[np.array(b.free_idx)].set(1.0 - jnp.sum(fv))
            elif b.kind in ("free", "partial"):
                s = s.at[np.array(b.free_idx, dtype=int)].set(1.0)
            parts.append(s)
        return jnp.concatenate(parts)

    def reduce_params(self, params: Mapping[str, Any]) -> dict:
        """Reduced parameters from full ones (drops fixed components; renormalizes simplexes)."""
        out = {}
        for b in self.blocks:
            if b.key not in params or b.kind == "fixed":
                continue
            v = jnp.asarray(params[b.key])
            if b.kind == "free":
                out[b.key] = v
                continue
            flat = jnp.reshape(v, v.shape[: v.ndim - len(self.full.spec[b.key].shape)] + (-1,))
            sel = flat[..., np.array(b.free_idx)]
            if b.kind == "simplex":
                sel = sel / jnp.sum(sel, axis=-1, keepdims=True)
            out[b.key] = sel
        return out

    def _loglik(self, red, data):
        return self.full.compiled_loglik(self.expand(red, flat_values(data["fixed"])), data["data"])

    def _expected_info(self, red, data, weights):
        """The reduced model's expected information: the full model's, through the
        Jacobian of the full parameters in the reduced ones."""
        values = flat_values(data["fixed"])
        flat = self.model.flatten(red)

        def full_flat(v):
            return self.full.flatten(self.expand(self.model.unflatten(v), values))

        J = jax.jacfwd(full_flat)(flat)
        F = self.full.expected_info(self.expand(red, values), data["data"], weights)
        return J.T @ F @ J

    def _is_free(self, key: str) -> bool:
        return next(b.kind for b in self.blocks if b.key == key) == "free"

    def _data_edge(self, red, data, mask):
        full = self.expand(red, flat_values(data["fixed"]))
        return self.full.data_edge(full, data["data"], mask)[self._edge_keep]

    def _init(self, data):
        given = self.full.init_fn(data["data"])
        return self.reduce_params({k: v for k, v in given.items() if k in self.full.spec})


def flat_values(values):
    """The fixed values of one dataset as flat vectors (the ``(1, m)`` rows squeezed)."""
    return {k: jnp.reshape(v, (-1,)) for k, v in values.items()}


@functools.lru_cache(maxsize=256)
def reduction(model: Model, fixed: tuple[tuple[str, tuple[int, ...]], ...]) -> Reduction:
    """The (cached) :class:`Reduction` of ``model`` with the given fixed components."""
    return Reduction(model, fixed)


def fixed_free_size(model: Model, names: tuple[str, ...]) -> int:
    """Number of free coordinates left when the flattened ``names`` are fixed."""
    if not names:
        return model.free_size
    red = reduction(model, structure(model, names)).model
    return 0 if red is None else red.free_size


def structure(model: Model, names) -> tuple[tuple[str, tuple[int, ...]], ...]:
    comp = _component_index(model)
    by_key: dict[str, list[int]] = {}
    for n in names:
        key, j = comp[n]
        by_key.setdefault(key, []).append(j)
    return tuple((k, tuple(sorted(by_key[k]))) for k in model.spec if k in by_key)


def normalize_fixed(model: Model, fixed: Mapping[str, Any], dtype, batch_shape=()):
    """Validate ``fixed=`` and return ``(reduction, values)``.

    ``values`` maps each (partly) fixed parameter key to an array of shape
    ``batch_shape + (1, m)``: the values of its ``m`` fixed components, in
    component order (host numpy arrays unless traced).
    """
    if not isinstance(fixed, Mapping):
        raise TypeError(f"fixed must be a dict from parameter name to value, got {fixed!r}")
    comp = _component_index(model)
    per_key: dict[str, dict[int, Any]] = {}
    lead = tuple(batch_shape)
    for name, value in fixed.items():
        if name in model.spec:
            c = model.spec[name]
            v = _as_values(value, dtype)
            ok = {c.shape, lead + c.shape, ()} | ({lead + (1,) * len(c.shape)} if lead else set())
            if v.shape not in ok:
                raise ValueError(
                    f"fixed value for parameter {name!r} has shape {v.shape}; expected {c.shape}"
                    + (f" or {lead + c.shape} (one per dataset)" if lead else "")
                )
            v = _broadcast(v, lead + c.shape)
            flat = v.reshape(lead + (-1,))
            for j in range(c.size):
                _set_component(per_key, name, j, flat[..., j])
        elif name in comp:
            key, j = comp[name]
            v = _as_values(value, dtype)
            if v.shape not in {(), lead}:
                raise ValueError(
                    f"fixed value for component {name!r} has shape {v.shape}; expected a scalar"
                    + (f" or {lead} (one per dataset)" if lead else "")
                )
            _set_component(per_key, key, j, _broadcast(v, lead))
        else:
            raise ValueError(
                f"fixed has unknown parameter {name!r}; the model's parameters are "
                f"{list(model.spec)} (components: {list(model.param_names)})"
            )
    values = {}
    structure = []
    for key, c in model.spec.items():
        if key not in per_key:
            continue
        idx = tuple(sorted(per_key[key]))
        vals = [per_key[key][j] for j in idx]
        stack = jnp.stack(vals, axis=-1) if _traced(vals) else np.stack(vals, axis=-1)
        _check_support(key, c, idx, stack)
        structure.append((key, idx))
        values[key] = stack[..., None, :]
    return reduction(model, tuple(structure)), values


def _traced(vals) -> bool:
    return any(isinstance(v, jax.core.Tracer) for v in vals)


def _as_values(value, dtype):
    if isinstance(value, jax.core.Tracer):
        return jnp.asarray(value, dtype)
    return np.asarray(value, dtype=dtype)


def _broadcast(v, shape):
    if isinstance(v, jax.core.Tracer):
        return jnp.broadcast_to(v, shape)
    return np.broadcast_to(v, shape)


def _set_component(per_key, key, j, v):
    d = per_key.setdefault(key, {})
    if j in d:
        raise ValueError(f"parameter {key!r}: component {j} is fixed twice in fixed=")
    d[j] = v


def _check_support(key, c, idx, stack):
    if isinstance(stack, jax.core.Tracer):
        return
    host = np.asarray(stack, dtype=float)
    if not np.all(np.isfinite(host)):
        raise ValueError(f"fixed value for parameter {key!r} is not finite")
    if isinstance(c, Simplex):
        if np.any((host <= 0) | (host >= 1)):
            raise ValueError(f"fixed components of {key!r} must lie in (0, 1), got {host.ravel()}")
        total = host.sum(axis=-1)
        if len(idx) == c.k:
            if not np.allclose(total, 1.0, rtol=0, atol=1e-6):
                raise ValueError(f"fixed value of {key!r} must sum to 1, got sums {total.ravel()}")
        elif np.any(total >= 1.0):
            raise ValueError(
                f"fixed components of {key!r} sum to {total.ravel()}; they must sum to less than "
                "1 so that the others can be positive"
            )
        return
    inside = np.broadcast_to(c.check(host), host.shape) | on_edge(c, host)
    if not np.all(inside):
        raise ValueError(
            f"fixed value for parameter {key!r} is outside its constraint: it must be "
            f"{c.describe()}, got {host[~inside].ravel()[:5].tolist()}"
        )


def on_edge(c, values) -> np.ndarray:
    """Elementwise: is a fixed value on a finite end of a ``Bounded`` constraint (a variance or
    an overdispersion of 0, a probability of 0 or 1)? Such a value is a null on the boundary of
    the parameter space, which :func:`jaxmle.lr_test` and :func:`jaxmle.score_test` take into
    account.

    Example:
        >>> import jaxmle as jm
        >>> from jaxmle.fixed import on_edge
        >>> on_edge(jm.Positive(), [0.0, 1.0]).tolist(), on_edge(jm.Real(), 0.0).tolist()
        ([True, False], False)
    """
    v = np.asarray(values, dtype=float)
    if not isinstance(c, Bounded):
        return np.zeros(v.shape, bool)
    return (np.isfinite(c.low) & (v == c.low)) | (np.isfinite(c.high) & (v == c.high))


def expand_result(red_res, values, red: Reduction):
    """The full-model result of a reduced fit (one dataset; vmap it for a batch): the
    reduced result with its parameters, covariance and limits mapped to the full model
    (every other field, such as the status and whether SEs were computed, kept)."""
    full = red.full
    vals = flat_values(values)
    params = red.expand(red_res.params, vals)
    scale = red.scale(vals, red_res.cov.dtype)
    src = red.src
    free = src >= 0
    idx = np.where(free, src, 0)
    cov = red_res.cov[idx][:, idx] * scale[:, None] * scale[None, :]
    both = free[:, None] & free[None, :]
    cov = jnp.where(both, cov, 0.0)
    se = full.unflatten(jnp.sqrt(jnp.diag(cov)))

    def to_full_u(u_red):
        return full.to_unconstrained(red.expand(red.model.to_constrained(u_red), vals))

    u = to_full_u(red_res.unconstrained)
    J = jax.jacfwd(to_full_u)(red_res.unconstrained)
    cov_free = J @ red_res.cov_free @ J.T
    parts = []
    red_free = {k: f for k, _, f in red.model.param_blocks()}  # reduced key -> free slice
    for b, (_, _, fslice) in zip(red.blocks, full.param_blocks()):
        width = fslice.stop - fslice.start
        if b.kind == "free":
            parts.append(red_res.at_limit[red_free[b.key]])
        elif b.kind == "partial":
            emb = jnp.zeros((width,), bool)
            parts.append(emb.at[np.array(b.free_idx)].set(red_res.at_limit[red_free[b.key]]))
        elif b.kind == "simplex":
            parts.append(jnp.broadcast_to(jnp.any(red_res.at_limit[red_free[b.key]]), (width,)))
        else:
            parts.append(jnp.zeros((width,), bool))
    at_limit = jnp.concatenate(parts)
    return dataclasses.replace(
        red_res, params=params, se=se, cov=cov, cov_free=cov_free, unconstrained=u,
        at_limit=at_limit, model=full,
    )  # fmt: skip


@tuned_jit(static_argnames=("red", "batched"))
def expand_results(red_res, values, red, batched):
    """:func:`expand_result` compiled, vmapped over the datasets of a batch when ``batched``."""
    fn = functools.partial(expand_result, red=red)
    if batched:
        return jax.vmap(fn)(red_res, values)
    return fn(red_res, values)
