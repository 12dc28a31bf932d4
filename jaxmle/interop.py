"""Models from numpyro (or TensorFlow Probability on JAX) distributions and constraints.

A log-likelihood written with a probabilistic-programming library's
distributions is a pure JAX function, so jaxmle fits it as it is. This module
saves the bookkeeping:

- :func:`from_numpyro_constraint` maps a numpyro constraint (``real``,
  ``positive``, ``greater_than``, ``less_than``, ``interval``,
  ``unit_interval``, ``simplex``) to jaxmle's;
- :func:`distribution_model` builds a :class:`~jaxmle.Model` from a function
  ``(params, data) -> distribution``: any object with a ``log_prob`` method
  (numpyro, or TFP's ``tensorflow_probability.substrates.jax``);
- :func:`numpyro_family` builds one from a numpyro distribution class, with the
  parameter constraints read from its ``arg_constraints``.

numpyro is an optional dependency (``pip install 'jaxmle[interop]'``); the
functions that need it say so when it is missing.

Example:
    >>> import numpyro.distributions as dist
    >>> from numpyro.distributions import constraints
    >>> from jaxmle.interop import from_numpyro_constraint, numpyro_family
    >>> from_numpyro_constraint(constraints.positive)
    Positive()
    >>> numpyro_family(dist.Gamma).param_names  # a jm.Model, ready for jm.fit
    ('concentration', 'rate')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp

from .constraints import Bounded, Constraint, Positive, Real, Simplex, UnitInterval
from .model import Model

__all__ = ["from_numpyro_constraint", "distribution_model", "numpyro_family"]

_KNOWN_NUMPYRO = (
    "real, positive, greater_than(low), less_than(high), interval(low, high), "
    "unit_interval, simplex"
)


def _numpyro_constraints():
    try:
        from numpyro.distributions import constraints
    except ImportError as err:
        raise ImportError(
            "this needs numpyro: pip install 'jaxmle[interop]' (or pip install numpyro)"
        ) from err
    return constraints


def _is_numpyro_constraint(c: Any) -> bool:
    return any(
        k.__module__.startswith("numpyro.") and k.__name__ == "Constraint" for k in type(c).__mro__
    )


def _bound(x: Any, which: str, c: Any) -> float:
    try:
        return float(x)
    except TypeError as err:
        raise ValueError(
            f"{c!r}: jaxmle needs a single number as {which} bound, got an array of shape "
            f"{jnp.shape(x)}"
        ) from err


def from_numpyro_constraint(c: Any, shape: Any = ()) -> Constraint:
    """The jaxmle constraint matching a numpyro constraint.

    ============================== ======================================
    numpyro                        jaxmle
    ============================== ======================================
    ``constraints.real``           ``Real(shape)``
    ``constraints.positive``       ``Positive(shape)``
    ``constraints.greater_than(a)`` ``Bounded(a, inf, shape)``
    ``constraints.less_than(b)``   ``Bounded(-inf, b, shape)``
    ``constraints.interval(a, b)`` ``Bounded(a, b, shape)``
    ``constraints.unit_interval``  ``UnitInterval(shape)``
    ``constraints.simplex``        ``Simplex(k)`` with ``shape == (k,)``
    ============================== ======================================

    Args:
        c: a numpyro constraint (a jaxmle constraint is returned as it is).
        shape: the parameter's shape (for a simplex, ``(k,)``).

    Returns:
        A jaxmle :class:`~jaxmle.Constraint`.

    Raises:
        ImportError: numpyro is not installed.
        TypeError: a constraint without a jaxmle counterpart; the message lists
            the known ones.

    Example:
        >>> from numpyro.distributions import constraints
        >>> from jaxmle.interop import from_numpyro_constraint
        >>> from_numpyro_constraint(constraints.interval(0.0, 5.0))
        Bounded(0, 5)
        >>> from_numpyro_constraint(constraints.simplex, shape=(3,))
        Simplex(3)
    """
    if isinstance(c, Constraint):
        return c
    C = _numpyro_constraints()
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (() if shape is None else shape)
    # unit_interval and positive are special cases of interval and greater_than:
    # test them first
    if c is C.unit_interval or isinstance(c, type(C.unit_interval)):
        return UnitInterval(shape)
    if c is C.real or isinstance(c, type(C.real)):
        return Real(shape)
    if c is C.simplex or isinstance(c, type(C.simplex)):
        if not isinstance(shape, tuple) or len(shape) != 1:
            raise ValueError(
                "constraints.simplex needs shape=(k,) with k the number of categories, "
                f"got {shape!r}"
            )
        return Simplex(int(shape[0]))
    if isinstance(c, type(C.interval(0.0, 1.0))):
        lo, hi = _bound(c.lower_bound, "lower", c), _bound(c.upper_bound, "upper", c)
        return UnitInterval(shape) if (lo, hi) == (0.0, 1.0) else Bounded(lo, hi, shape)
    if isinstance(c, type(C.greater_than(0.0))):
        lo = _bound(c.lower_bound, "lower", c)
        return Positive(shape) if lo == 0.0 else Bounded(lo, math.inf, shape)
    if isinstance(c, type(C.less_than(0.0))):
        return Bounded(-math.inf, _bound(c.upper_bound, "upper", c), shape)
    raise TypeError(
        f"no jaxmle constraint for the numpyro constraint {c!r}; known: {_KNOWN_NUMPYRO}"
    )


def _spec_entry(name: str, entry: Any) -> Constraint:
    shape: Any = ()
    if isinstance(entry, tuple) and len(entry) == 2 and not isinstance(entry[0], (int, float)):
        entry, shape = entry
    if isinstance(entry, Constraint):
        return entry
    if _is_numpyro_constraint(entry):
        return from_numpyro_constraint(entry, shape)
    raise TypeError(
        f"parameter {name!r}: expected a jaxmle constraint (jm.Real(), jm.Positive(), ...), "
        f"a numpyro constraint, or a pair (numpyro constraint, shape); got {entry!r}"
    )


def distribution_model(
    dist_fn: Callable[[dict, Any], Any],
    spec: Mapping[str, Any],
    *,
    observed: Any = None,
    init: Callable[[Any], Mapping[str, Any]] | None = None,
    name: str | None = None,
) -> Model:
    """A :class:`~jaxmle.Model` whose log-likelihood is ``dist_fn(params, data).log_prob(y)``.

    ``dist_fn`` returns a distribution object with a ``log_prob`` method: a
    numpyro distribution, or one of TensorFlow Probability's JAX substrate
    (``tensorflow_probability.substrates.jax.distributions``). Its
    ``log_prob`` gives one value per observation, which is what jaxmle wants.

    Args:
        dist_fn: ``dist_fn(params, data) -> distribution``.
        spec: dict name -> constraint: a jaxmle constraint, a numpyro
            constraint (scalar parameter), or a pair ``(numpyro_constraint,
            shape)``.
        observed: where the observations are in ``data``: ``None`` (``data``
            is the observations), a key (``data[observed]``, e.g. ``"y"`` next
            to covariates ``"X"``), or a function ``data -> observations``.
        init: optional starting rule ``init(data) -> dict``, as in
            :class:`~jaxmle.Model`.
        name: a label used in summaries.

    Returns:
        A :class:`~jaxmle.Model`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import numpyro.distributions as dist
        >>> from numpyro.distributions import constraints
        >>> import jaxmle as jm
        >>> from jaxmle.interop import distribution_model
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = distribution_model(
        ...     lambda p, x: dist.Gamma(p["shape"], p["rate"]),
        ...     {"shape": constraints.positive, "rate": constraints.positive},
        ... )
        >>> res = jm.fit(model, jnp.array([1.2, 0.7, 2.9, 1.6, 0.4, 2.2]))
        >>> jm.Status(int(res.status)).name
        'CONVERGED'
    """
    if not callable(dist_fn):
        raise TypeError(
            f"dist_fn must be a function (params, data) -> distribution, got {dist_fn!r}"
        )
    if not isinstance(spec, Mapping) or not spec:
        raise TypeError(f"spec must be a non-empty dict name -> constraint, got {spec!r}")
    converted = {key: _spec_entry(key, entry) for key, entry in spec.items()}

    if observed is None:
        pick = _identity
    elif callable(observed):
        pick = observed
    else:
        key = observed

        def pick(data):
            return data[key]

    def loglik(params, data):
        d = dist_fn(params, data)
        if not hasattr(d, "log_prob"):
            raise TypeError(
                f"dist_fn must return a distribution with a log_prob method, got {type(d).__name__}"
            )
        return d.log_prob(pick(data))

    label = name or getattr(dist_fn, "__name__", "distribution")
    return Model(loglik, converted, init=init, name=label)


def _identity(data):
    return data


def numpyro_family(
    dist_cls: Any, params: tuple[str, ...] | None = None, *, name: str | None = None
) -> Model:
    """A :class:`~jaxmle.Model` for a numpyro distribution class, i.i.d. observations.

    The parameters and their constraints come from ``dist_cls.arg_constraints``
    (all scalar, passed to the class by keyword); ``params`` picks some of
    them, in the order given. Closed bounds (``nonnegative``) become open
    ones (``Positive``): an estimate on such a bound ends with status
    ``BOUNDARY``.

    Args:
        dist_cls: a numpyro distribution class, e.g. ``numpyro.distributions.Gamma``.
        params: names of the parameters to fit; by default all of
            ``arg_constraints``.
        name: a label used in summaries (default: the class name).

    Returns:
        A :class:`~jaxmle.Model` whose data is the array of observations.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import numpyro.distributions as dist
        >>> import jaxmle as jm
        >>> from jaxmle.interop import numpyro_family
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = numpyro_family(dist.Normal)
        >>> model.param_names
        ('loc', 'scale')
        >>> res = jm.fit(model, jnp.array([1.0, 2.0, 4.0, 5.0]))
        >>> float(res.params["loc"]), float(res.params["scale"]) ** 2
        (3.0, 2.5)
    """
    _numpyro_constraints()
    arg_constraints = getattr(dist_cls, "arg_constraints", None)
    if not isinstance(dist_cls, type) or not isinstance(arg_constraints, Mapping):
        raise TypeError(
            f"numpyro_family needs a numpyro distribution class (with arg_constraints), "
            f"got {dist_cls!r}"
        )
    names = tuple(arg_constraints) if params is None else tuple(params)
    unknown = [p for p in names if p not in arg_constraints]
    if unknown:
        raise ValueError(
            f"{dist_cls.__name__} has no parameter(s) {unknown}; its parameters are "
            f"{list(arg_constraints)}"
        )
    spec = {p: from_numpyro_constraint(arg_constraints[p]) for p in names}

    def dist_fn(p, x):
        return dist_cls(**p)

    return distribution_model(dist_fn, spec, name=name or dist_cls.__name__)
