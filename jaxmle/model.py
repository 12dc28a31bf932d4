"""Model: a log-likelihood plus a parameter spec, and the map to one unconstrained vector."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._rewrite import rewrite as _rewrite
from .constraints import Constraint, as_constraint

__all__ = ["Model", "NoExpectedInformation"]


class NoExpectedInformation(ValueError):
    """The model has no expected information for this data (censored observations, whose
    expected information depends on the censoring).

    Example:
        >>> from jaxmle.model import NoExpectedInformation
        >>> issubclass(NoExpectedInformation, ValueError)
        True
    """


class Model:
    """A statistical model: a pure log-likelihood and the constraints of its parameters.

    Args:
        loglik: ``loglik(params, data)`` where ``params`` is a dict from name to
            array and ``data`` is one dataset (any pytree). It returns either
            the per-observation log-likelihood contributions (an array whose
            leading axis is the observations; preferred, as it enables
            ``weights=``, ``mask=``, robust standard errors and ``nobs``) or
            the scalar total, with all normalizing constants.
        spec: dict from parameter name to a constraint (``jm.Real()``,
            ``jm.Positive()``, ``jm.Bounded(low, high)``, ``jm.UnitInterval()``,
            ``jm.Simplex(k)``). The order of the dict is the order of
            :attr:`param_names`.
        init: optional function ``init(data) -> dict`` giving starting values
            from the data (a family's own starting rule); used when ``fit`` is
            given no ``init``. It must be traceable.
        name: a label used in summaries.
        simulate: optional ``simulate(key, params, data) -> data``: a new
            dataset like ``data`` drawn from the model at ``params`` with the
            ``jax.random`` key (the parametric bootstrap uses it; the family
            models have one). Traceable.
        rewrite: whether the fit evaluates and differentiates ``loglik`` rewritten into
            equal, cheaper primitives (default ``True``): a power ``x ** y`` with a
            floating exponent becomes ``exp(y log|x|)`` with its rounding compensated, its
            special cases exact, and derivatives that reuse its value (equal to ``pow`` to
            a few ulps; see "Performance" in the documentation). ``False`` fits ``loglik``
            exactly as written.
        family: the :class:`~jaxmle.distributions.Distribution` the model was made from
            (a family's model: :func:`jaxmle.distributions.families.model_for`), or None;
            plots and the command line read it.
        free_loglik: ``free_loglik(u, data)``, the log-likelihood written in the
            unconstrained vector ``u`` where that is cheaper to differentiate (a family's,
            e.g. the multinomial's from its logits); the fit's objective uses it when given.
        infinite_bounds_ok: the data's ``lower=-inf``, ``upper=inf`` and ``entry=-inf``
            leaves are censoring bounds, valid data (the continuous families' models).
        data_check: host-side validation of the data (the families').
        min_nobs: the fewest observations that identify the parameters.
        standardize: host-side standardization of the data (location-scale families).
        data_edge: a limit of the parameter space that depends on the data.
        expected_info: the expected (Fisher) information in closed form.
        leverage: the leverages of a regression model (HC2, HC3).
        linear_coef: the coefficients of a Gaussian linear model (``df_correction``).
        factory: ``(factory, args)``: the model pickles as this call (families, regression
            models), rather than as its attributes.
        random: names of parameters that are random effects, integrated out of the
            likelihood (``loglik`` is then the joint log-density of the observations and the
            effects, their own density included, as TMB writes it): ``jm.fit`` maximizes the
            marginal likelihood of the other parameters by the Laplace approximation
            (:func:`jaxmle.laplace_model`). The random parameters must be ``jm.Real``.
        grouped: with ``random``, whether the effects are per group: every leaf of the data
            has a leading axis of groups, ``loglik(params, data_g)`` is the joint log-density
            of one group and the spec gives the shape of one group's effects (a block-diagonal
            inner problem: a batch of small solves). Otherwise (dense) the spec gives the
            shape of all the effects.
        n_quad: with ``random`` and ``grouped``, and one effect per group: the number of
            adaptive Gauss-Hermite nodes (``1``: the Laplace approximation; as
            ``glmer(nAGQ=)``).
        integrated: for the marginal model of a model with random effects (made by
            :func:`jaxmle.laplace_model`), what it integrates out; None otherwise.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> def loglik(p, x):
        ...     return jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"])
        >>> model = jm.Model(loglik, {"mu": jm.Real(), "sigma": jm.Positive()})
        >>> model.param_names
        ('mu', 'sigma')
        >>> model.free_size
        2
    """

    def __init__(
        self,
        loglik: Callable[[dict, Any], jax.Array],
        spec: Mapping[str, Constraint],
        *,
        init: Callable[[Any], Mapping[str, Any]] | None = None,
        name: str | None = None,
        simulate: Callable[[jax.Array, dict, Any], Any] | None = None,
        rewrite: bool = True,
        family: Any = None,
        free_loglik: Callable[[jax.Array, Any], jax.Array] | None = None,
        infinite_bounds_ok: bool = False,
        data_check: Callable[[Any], tuple[Any, str] | None] | None = None,
        min_nobs: int | None = None,
        standardize: Callable[..., Any] | None = None,
        data_edge: Callable[[dict, Any, Any], jax.Array] | None = None,
        expected_info: Callable[[dict, Any, jax.Array], jax.Array] | None = None,
        leverage: Callable[[dict, Any, jax.Array], jax.Array] | None = None,
        linear_coef: str | tuple[str, ...] | None = None,
        factory: tuple | None = None,
        random: Sequence[str] | None = None,
        grouped: bool = False,
        n_quad: int = 1,
        integrated: Any = None,
    ):
        if not callable(loglik):
            raise TypeError(f"Model needs a callable loglik(params, data), got {loglik!r}")
        if not isinstance(spec, Mapping) or not spec:
            raise TypeError(
                "Model needs a non-empty dict spec from parameter name to constraint, "
                f"e.g. {{'mu': jm.Real(), 'sigma': jm.Positive()}}; got {spec!r}"
            )
        self.loglik = loglik
        self.rewrite = bool(rewrite)
        # what the fit evaluates and differentiates: ``loglik`` through the rewrite step
        # (jaxmle/_rewrite.py), or as written with ``rewrite=False``
        self.compiled_loglik = _rewrite(loglik) if self.rewrite else loglik
        self.spec = {}
        for key, c in spec.items():
            if not isinstance(key, str):
                raise TypeError(f"parameter names must be strings, got {key!r}")
            self.spec[key] = as_constraint(key, c)
        self.init_fn = init
        self.name = name or getattr(loglik, "__name__", "model")
        if simulate is not None and not callable(simulate):
            raise TypeError(
                f"simulate must be a function (key, params, data) -> data, got {simulate!r}"
            )
        self.simulate = simulate
        # loglik(to_constrained(u), data) written in the unconstrained vector u, where that
        # is cheaper to differentiate (a family's, e.g. the multinomial's from its logits);
        # the fit's objective uses it when set
        self.free_loglik = free_loglik
        # Host-side validation of the data (the families set it): ``data_check(data)`` on numpy
        # leaves (with any leading batch axes) returns ``(bad, why)``, a boolean array over the
        # observations and what is wrong with them, or None when every value is valid.
        self.data_check = data_check
        # The fewest observations that can identify the free parameters (None: as many as
        # there are free parameters; 1 where one observation carries several, as a row of
        # multinomial counts).
        self.min_nobs = min_nobs
        # Host-side standardization of the data (the location-scale families set it):
        # ``standardize(data, weights, mask, lead)`` returns ``(data, a, b, offset)``, the data
        # moved to a standard location and scale, the map of each parameter's free coordinates
        # back (``u = a + b u'``, dicts of arrays of shape ``lead``) and the change of the
        # log-likelihood; or None.
        self.standardize = standardize
        # A limit of the parameter space that depends on the data (the threshold of a
        # three-parameter lifetime family, below the smallest failure): ``data_edge(params,
        # data, mask)`` returns, per free coordinate, whether the estimate is at that limit
        # (traceable, one dataset); the fit then ends BOUNDARY as at a constraint's edge.
        self.data_edge = data_edge
        # The expected (Fisher) information in closed form (the families and regression models
        # set it): ``expected_info(params, data, weights)`` is the ``(m, m)`` matrix over the
        # flattened constrained parameters, summed over the observations with ``weights`` (0 for
        # masked ones); or None (``information="expected"`` is then refused).
        self.expected_info = expected_info
        # The leverages of a regression model, ``leverage(params, data, weights) -> (n,)``: the
        # diagonal of the weighted hat matrix of its linear predictor (what HC2 and HC3 need).
        self.leverage = leverage
        # The name of the coefficients of a Gaussian linear model (``df_correction=True``
        # rescales their covariance to the unbiased variance), a tuple of the names of scalar
        # coefficients that follow each other in the spec, or None.
        self.linear_coef = linear_coef
        # How a pickled model is rebuilt: ``(factory, args)`` for a model a factory made (a
        # family, a regression model: unpickling calls the factory again), or None (its
        # attributes are pickled, its functions by reference).
        self._factory = factory

        # The distribution family the model was made from (plots and the command line read
        # it), and whether infinite censoring bounds in its data are valid values.
        self.family = family
        self.infinite_bounds_ok = bool(infinite_bounds_ok)
        # Random effects (integrated out by jm.fit: jaxmle.laplace), their form and quadrature.
        if isinstance(random, str):
            random = (random,)
        self.random = tuple(random) if random else ()
        unknown = [k for k in self.random if k not in self.spec]
        if unknown:
            raise ValueError(
                f"random effect(s) {unknown} are not parameters of the model; its parameters "
                f"are {list(self.spec)}"
            )
        self.grouped = bool(grouped)
        self.n_quad = int(n_quad)
        # the marginal models of the random effects (by quadrature), made once by
        # jaxmle.laplace_model, so that fitting the same model again compiles nothing new
        self.marginal_models: dict = {}
        self.integrated = integrated
        offsets, start = {}, 0
        for key, c in self.spec.items():
            offsets[key] = (start, start + c.free_size)
            start += c.free_size
        self._free_slices = offsets
        self.free_size = start

    # -- names ----------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """The parameter names, in spec order."""
        return tuple(self.spec)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the flattened constrained parameters: ``mu``, ``beta[0]``, ``p[2]``..."""
        out = []
        for key, c in self.spec.items():
            if c.shape == ():
                out.append(key)
            else:
                for idx in np.ndindex(*c.shape):
                    out.append(f"{key}[{','.join(str(i) for i in idx)}]")
        return tuple(out)

    @property
    def constrained_size(self) -> int:
        """Total number of elements of the constrained parameters."""
        return sum(c.size for c in self.spec.values())

    def param_blocks(self) -> list[tuple[str, slice, slice]]:
        """Per parameter: (name, its slice in the flat constrained vector, its free slice)."""
        out, start = [], 0
        for key, c in self.spec.items():
            lo, hi = self._free_slices[key]
            out.append((key, slice(start, start + c.size), slice(lo, hi)))
            start += c.size
        return out

    # -- flatten / unflatten ------------------------------------------------
    def to_constrained(self, u: jax.Array) -> dict[str, jax.Array]:
        """Map the unconstrained vector to the dict of constrained parameters."""
        return {key: c.forward(u[slice(*self._free_slices[key])]) for key, c in self.spec.items()}

    def to_unconstrained(self, params: Mapping[str, Any]) -> jax.Array:
        """Map a dict of constrained parameters to one unconstrained vector."""
        parts = [
            jnp.reshape(c.inverse(jnp.asarray(params[key])), (-1,)) for key, c in self.spec.items()
        ]
        return jnp.concatenate(parts)

    def flatten(self, params: Mapping[str, Any]) -> jax.Array:
        """Concatenate the constrained parameters into one flat vector (``param_names`` order)."""
        return self.flatten_batched(params, ())

    def flatten_batched(self, params: Mapping[str, Any], batch_shape=()) -> jax.Array:
        """Like :meth:`flatten`, keeping leading batch axes: shape ``batch_shape + (m,)``."""
        lead = tuple(batch_shape)
        return jnp.concatenate(
            [jnp.reshape(jnp.asarray(params[key]), lead + (-1,)) for key in self.spec], axis=-1
        )

    def unflatten(self, flat: jax.Array) -> dict[str, jax.Array]:
        """Inverse of :meth:`flatten` along the last axis (leading batch axes allowed)."""
        batch = flat.shape[:-1]
        out, start = {}, 0
        for key, c in self.spec.items():
            out[key] = jnp.reshape(flat[..., start : start + c.size], batch + c.shape)
            start += c.size
        return out

    def log_det_jacobian(self, u: jax.Array) -> jax.Array:
        """Sum of the bijectors' ``log|det J|`` at ``u``."""
        return sum(
            c.forward_log_det_jacobian(u[slice(*self._free_slices[key])])
            for key, c in self.spec.items()
        )

    # -- starting values ------------------------------------------------------
    def default_init(self, data: Any, dtype: Any) -> dict[str, jax.Array]:
        """The model's own starting rule if it has one, else each constraint's default.

        A value from the rule that is not finite on the unconstrained scale
        (outside the support, NaN) falls back to the constraint's default.
        """
        init = {key: c.default_init(dtype) for key, c in self.spec.items()}
        if self.init_fn is not None:
            given = self.init_fn(data)
            for key, val in given.items():
                if key in init:
                    c = self.spec[key]
                    val = jnp.broadcast_to(jnp.asarray(val, dtype), c.shape)
                    usable = jnp.all(jnp.isfinite(c.inverse(val)))
                    init[key] = jnp.where(usable, val, init[key])
        return init

    def check_init(self, init: Mapping[str, Any], dtype: Any, batch_shape=()) -> dict:
        """Validate a user ``init``: keys, shapes, and (when concrete) the support.

        Scalars broadcast to a parameter's shape; ``batch_shape`` adds leading
        axes (per-dataset starting values). Raises ``ValueError`` naming the
        parameter.
        """
        if not isinstance(init, Mapping):
            raise TypeError(f"init must be a dict from parameter name to value, got {init!r}")
        unknown = set(init) - set(self.spec)
        if unknown:
            raise ValueError(
                f"init has unknown parameter(s) {sorted(unknown)}; the model's parameters are "
                f"{list(self.spec)}"
            )
        out = {}
        for key, c in self.spec.items():
            if key not in init:
                continue
            val = jnp.asarray(init[key], dtype)
            target = tuple(batch_shape) + c.shape
            ok_shapes = {c.shape, target, ()}
            if batch_shape:
                ok_shapes.add(tuple(batch_shape) + (1,) * len(c.shape))
            if val.shape not in ok_shapes:
                raise ValueError(
                    f"init for parameter {key!r} has shape {val.shape}; expected {c.shape}"
                    + (f" or {target} (one per dataset)" if batch_shape else "")
                )
            val = jnp.broadcast_to(val, target) if val.shape != c.shape or batch_shape else val
            if not isinstance(val, jax.core.Tracer):
                host = np.asarray(val)
                inside = np.broadcast_to(c.check(host), host.shape)
                if not np.all(inside):
                    bad = host[~inside]
                    raise ValueError(
                        f"init for parameter {key!r} is outside its constraint: it must be "
                        f"{c.describe()}, got {np.asarray(bad).ravel()[:5].tolist()}"
                    )
            out[key] = val
        return out

    def __repr__(self) -> str:
        spec = ", ".join(f"{k!r}: {c!r}" for k, c in self.spec.items())
        return f"Model({self.name}, {{{spec}}})"

    # -- pickling ---------------------------------------------------------------
    def __copy__(self) -> Model:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._factory = None  # (a copy is changed after: it pickles by its attributes)
        return new

    def __reduce__(self):
        """A model pickles as its factory call (families, regression models), or as its
        attributes: its functions by reference, so a ``loglik`` defined with ``def`` at module
        level pickles and a lambda or a nested function does not (a ``PicklingError`` that
        names it). Unpickling runs code: unpickle only what you trust."""
        if self._factory is not None:
            return self._factory
        for attr, role in _FUNCTIONS.items():
            fn = self.__dict__.get(attr)
            if fn is None:
                continue
            try:
                pickle.dumps(fn)
            except Exception as err:
                what = getattr(fn, "__qualname__", None) or repr(fn)
                where = getattr(fn, "__module__", None)
                raise pickle.PicklingError(
                    f"the model {self.name!r} cannot be pickled: its {role} {what}"
                    f"{f' (in {where})' if where else ''} cannot be ({err}). Pickle stores a "
                    "function by its module and name: define it with def at the top level of "
                    "a module (not a lambda or a function inside a function), or save the "
                    "numbers instead (res.to_dict())"
                ) from None
        # (the rewritten loglik is made again from loglik on unpickling)
        state = {
            k: v
            for k, v in self.__dict__.items()
            if k not in ("compiled_loglik", "marginal_models")
        }
        return (_restore, (type(self), state))


#: the model's functions, and what the pickling error calls them
_FUNCTIONS = {
    "loglik": "loglik",
    "init_fn": "init function",
    "simulate": "simulate function",
    "free_loglik": "free-coordinate loglik",
    "data_check": "data check",
    "standardize": "standardization",
    "expected_info": "expected information",
    "leverage": "leverage function",
}


def _restore(cls, state):
    """A model from its pickled attributes."""
    model = object.__new__(cls)
    model.__dict__.update(state)
    model.__dict__.setdefault("marginal_models", {})
    if "compiled_loglik" not in state:
        model.compiled_loglik = _rewrite(model.loglik) if model.rewrite else model.loglik
    return model
