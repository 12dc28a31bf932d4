"""Constraints (where a parameter lives) and their bijectors (how to get there).

Every constraint maps a flat vector of ``free_size`` unconstrained reals onto a
value of ``shape`` inside its support, with the contract of distrax/TFP
bijectors: :meth:`Constraint.forward`, :meth:`Constraint.inverse` and
:meth:`Constraint.forward_log_det_jacobian`.

The maps, and where they saturate:

========================  ===============================  ===============================
constraint                forward (u -> value)             saturates (float64)
========================  ===============================  ===============================
``Real``                  identity                         never
``Positive``              ``exp(u)``                       ``u > 709`` overflows,
                                                           ``u < -745`` underflows to 0
``Bounded(low, high)``    ``low + (high-low)*sigmoid(u)``  ``|u| > 37``: value on a bound
``Bounded(low, inf)``     ``low + exp(u)``                 as ``Positive``
``UnitInterval``          ``sigmoid(u)``                   ``|u| > 37``
``Simplex(k)``            ``softmax([u, 0])``              a component ``< 1e-308``
========================  ===============================  ===============================

``Positive`` uses the log link rather than softplus: a maximum-likelihood fit
of a scale or rate parameter is then invariant to the units of the data, and
the log-likelihood of the common scale families is concave in ``log(scale)``,
which is what a Newton method wants.

Example:
    >>> import jax.numpy as jnp
    >>> import jaxmle as jm
    >>> c = jm.Bounded(0.0, 10.0)
    >>> u = c.inverse(jnp.asarray(2.5))
    >>> float(c.forward(u))
    2.5
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Constraint",
    "Real",
    "Positive",
    "Bounded",
    "UnitInterval",
    "Simplex",
    "as_constraint",
]


def _shape(shape: Any) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        return tuple(int(s) for s in shape)
    except TypeError as err:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from err


def _edge_tol(dtype) -> float:
    """Relative distance to an edge below which an estimate is on the edge: eps^(3/4)."""
    return float(jnp.finfo(dtype).eps) ** 0.75


class Constraint:
    """Base class: the support of a parameter and the bijector onto it.

    Subclasses define ``shape`` (of the constrained value), ``free_size`` (the
    number of unconstrained coordinates), and the three bijector methods.
    ``forward`` takes a flat vector of length ``free_size``; ``inverse`` returns
    one.

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxmle as jm
        >>> c = jm.Simplex(3)
        >>> isinstance(c, jm.Constraint), c.size, c.free_size
        (True, 3, 2)
        >>> [round(v, 6) for v in c.forward(jnp.zeros(2)).tolist()]
        [0.333333, 0.333333, 0.333333]
    """

    shape: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        """Number of elements of the constrained value."""
        return int(math.prod(self.shape))

    @property
    def free_size(self) -> int:
        """Number of unconstrained coordinates (the free parameters)."""
        return self.size

    # -- bijector -----------------------------------------------------------
    def forward(self, u: jax.Array) -> jax.Array:
        """Map unconstrained coordinates (flat, ``free_size``) to a value of ``shape``."""
        raise NotImplementedError

    def inverse(self, value: jax.Array) -> jax.Array:
        """Map a value inside the support to its flat unconstrained coordinates."""
        raise NotImplementedError

    def forward_log_det_jacobian(self, u: jax.Array) -> jax.Array:
        """``log|det d forward / d u|`` (for ``Simplex``, of the first k-1 components)."""
        raise NotImplementedError

    # -- support ------------------------------------------------------------
    def check(self, value: Any) -> np.ndarray:
        """Elementwise: is ``value`` strictly inside the support (host-side check)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short text of the support, used in error messages."""
        raise NotImplementedError

    def at_edge(self, value: jax.Array) -> jax.Array:
        """Whether the value sits on a finite edge of the support, to the dtype's precision.

        Only an edge with a natural scale counts (a bound of a finite interval,
        a simplex component near 0); the scale-free edge of ``Positive`` at 0
        is found by the solver's curvature test instead.
        """
        return jnp.zeros((), bool)

    def default_init(self, dtype: Any) -> jax.Array:
        """A starting value inside the support."""
        raise NotImplementedError

    def link(self, value: jax.Array) -> tuple[jax.Array, jax.Array]:
        """An elementwise map of the value onto the real line, and its derivative.

        Used for intervals built on the unconstrained scale and mapped back:
        they always stay inside the support.
        """
        raise NotImplementedError

    def link_inverse(self, eta: jax.Array) -> jax.Array:
        """Inverse of :meth:`link`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        shape = f"shape={self.shape}" if self.shape else ""
        return f"{type(self).__name__}({shape})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.__dict__.items()))))


class Real(Constraint):
    """Any real value: the identity bijector.

    Args:
        shape: shape of the parameter, ``()`` for a scalar, ``(p,)`` for a vector.

    Example:
        >>> import jaxmle as jm
        >>> jm.Real(shape=(3,)).free_size
        3
    """

    def __init__(self, shape: Any = ()):
        self.shape = _shape(shape)

    def forward(self, u):
        return jnp.reshape(u, self.shape)

    def inverse(self, value):
        return jnp.reshape(value, (-1,))

    def forward_log_det_jacobian(self, u):
        return jnp.zeros((), dtype=u.dtype)

    def check(self, value):
        return np.isfinite(np.asarray(value))

    def describe(self):
        return "a finite real number"

    def default_init(self, dtype):
        return jnp.zeros(self.shape, dtype)

    def link(self, value):
        return value, jnp.ones_like(value)

    def link_inverse(self, eta):
        return eta


class Bounded(Constraint):
    """A value in the open interval ``(low, high)``; either end may be infinite.

    ``low + (high - low) * sigmoid(u)`` for a finite interval, ``low + exp(u)``
    or ``high - exp(-u)`` for a half-line, the identity for the whole line.

    Args:
        low: lower bound (a Python number; ``-inf`` allowed).
        high: upper bound (a Python number; ``inf`` allowed).
        shape: shape of the parameter.

    Example:
        >>> import jaxmle as jm
        >>> float(jm.Bounded(-1.0, 1.0).forward(jm.Bounded(-1.0, 1.0).inverse(0.5)))
        0.5
    """

    def __init__(self, low: float = -math.inf, high: float = math.inf, shape: Any = ()):
        try:
            low, high = float(low), float(high)
        except TypeError as err:
            raise TypeError("Bounded(low, high) takes Python numbers as bounds") from err
        if math.isnan(low) or math.isnan(high) or not low < high:
            raise ValueError(f"Bounded needs low < high, got low={low}, high={high}")
        self.low, self.high = low, high
        self.shape = _shape(shape)

    @property
    def _kind(self) -> str:
        lo, hi = math.isfinite(self.low), math.isfinite(self.high)
        return {(True, True): "interval", (True, False): "lower", (False, True): "upper"}.get(
            (lo, hi), "real"
        )

    def forward(self, u):
        return self._map(jnp.reshape(u, self.shape))

    def _map(self, u):
        """The elementwise map from the real line, any shape."""
        kind = self._kind
        if kind == "interval":
            return self.low + (self.high - self.low) * jax.nn.sigmoid(u)
        if kind == "lower":
            return self.low + jnp.exp(u)
        if kind == "upper":
            return self.high - jnp.exp(-u)
        return u

    def inverse(self, value):
        v = jnp.reshape(jnp.asarray(value), (-1,))
        kind = self._kind
        if kind == "interval":
            return jnp.log(v - self.low) - jnp.log(self.high - v)
        if kind == "lower":
            return jnp.log(v - self.low)
        if kind == "upper":
            return -jnp.log(self.high - v)
        return v

    def forward_log_det_jacobian(self, u):
        kind = self._kind
        if kind == "interval":
            terms = math.log(self.high - self.low) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)
        elif kind == "lower":
            terms = u
        elif kind == "upper":
            terms = -u
        else:
            terms = jnp.zeros_like(u)
        return jnp.sum(terms)

    def check(self, value):
        v = np.asarray(value, dtype=float)
        return (v > self.low) & (v < self.high)

    def at_edge(self, value):
        if self._kind != "interval":
            return jnp.zeros((), bool)
        tiny = _edge_tol(value.dtype) * (self.high - self.low)
        return jnp.any((value - self.low <= tiny) | (self.high - value <= tiny))

    def describe(self):
        return f"in the open interval ({self.low:g}, {self.high:g})"

    def default_init(self, dtype):
        kind = self._kind
        if kind == "interval":
            mid = 0.5 * (self.low + self.high)
        elif kind == "lower":
            mid = self.low + 1.0
        elif kind == "upper":
            mid = self.high - 1.0
        else:
            mid = 0.0
        return jnp.full(self.shape, mid, dtype)

    def link(self, value):
        kind = self._kind
        if kind == "interval":
            a, b = value - self.low, self.high - value
            return jnp.log(a) - jnp.log(b), 1.0 / a + 1.0 / b
        if kind == "lower":
            a = value - self.low
            return jnp.log(a), 1.0 / a
        if kind == "upper":
            b = self.high - value
            return -jnp.log(b), 1.0 / b
        return value, jnp.ones_like(value)

    def link_inverse(self, eta):
        return self._map(eta)

    def __repr__(self):
        shape = f", shape={self.shape}" if self.shape else ""
        return f"Bounded({self.low:g}, {self.high:g}{shape})"


class Positive(Bounded):
    """A strictly positive value, ``exp(u)``.

    Example:
        >>> import jaxmle as jm
        >>> float(jm.Positive().forward(jm.Positive().inverse(4.0)))
        4.0
    """

    def __init__(self, shape: Any = ()):
        super().__init__(0.0, math.inf, shape)

    def describe(self):
        return "strictly positive"

    def __repr__(self):
        return Constraint.__repr__(self)


class UnitInterval(Bounded):
    """A probability in the open interval ``(0, 1)``, ``sigmoid(u)``.

    Example:
        >>> import jaxmle as jm
        >>> float(jm.UnitInterval().forward(jm.UnitInterval().inverse(0.25)))
        0.25
    """

    def __init__(self, shape: Any = ()):
        super().__init__(0.0, 1.0, shape)

    def _map(self, u):
        return jax.nn.sigmoid(u)

    def __repr__(self):
        return Constraint.__repr__(self)


class Simplex(Constraint):
    """A probability vector of ``k`` positive components summing to one.

    The map is ``softmax([u_1, ..., u_{k-1}, 0])`` (the additive log-ratio), so
    there are ``k - 1`` free coordinates: the covariance of the ``k``
    components has rank ``k - 1``.

    Args:
        k: number of categories (at least 2).

    Example:
        >>> import jaxmle as jm
        >>> jm.Simplex(3).free_size
        2
    """

    def __init__(self, k: int):
        k = int(k)
        if k < 2:
            raise ValueError(f"Simplex(k) needs k >= 2, got {k}")
        self.k = k
        self.shape = (k,)

    @property
    def free_size(self):
        return self.k - 1

    def logits(self, u):
        """The ``k`` logits ``[u_1, ..., u_{k-1}, 0]`` whose softmax is :meth:`forward`."""
        u = jnp.reshape(u, (self.k - 1,))
        return jnp.concatenate([u, jnp.zeros((1,), u.dtype)])

    def forward(self, u):
        return jax.nn.softmax(self.logits(u))

    def inverse(self, value):
        logp = jnp.log(jnp.asarray(value))
        return logp[:-1] - logp[-1]

    def forward_log_det_jacobian(self, u):
        # J = diag(p') - p'p'^T for the first k-1 components; det J = prod of all k p_i.
        return jnp.sum(jax.nn.log_softmax(self.logits(u)))

    def check(self, value):
        v = np.asarray(value, dtype=float)
        ok = (v > 0) & (v < 1)
        if v.ndim == 0 or v.shape[-1] != self.k:
            return np.zeros(v.shape, bool)
        return ok & np.isclose(v.sum(axis=-1, keepdims=True), 1.0, rtol=0, atol=1e-6)

    def describe(self):
        return f"a vector of {self.k} positive probabilities summing to 1"

    def at_edge(self, value):
        return jnp.any(value <= _edge_tol(value.dtype))

    def default_init(self, dtype):
        return jnp.full(self.shape, 1.0 / self.k, dtype)

    def link(self, value):
        return jnp.log(value) - jnp.log1p(-value), 1.0 / (value * (1.0 - value))

    def link_inverse(self, eta):
        return jax.nn.sigmoid(eta)

    def __repr__(self):
        return f"Simplex({self.k})"


_KNOWN = (Real, Positive, Bounded, UnitInterval, Simplex)


def as_constraint(name: str, c: Any) -> Constraint:
    """Check that ``c`` is a constraint instance; a class is instantiated with defaults."""
    if isinstance(c, type) and issubclass(c, Constraint) and c not in (Constraint, Simplex):
        c = c()
    if not isinstance(c, Constraint):
        known = ", ".join(k.__name__ for k in _KNOWN)
        raise TypeError(
            f"parameter {name!r}: unknown constraint {c!r}; use one of {known} "
            f"(for example jm.Positive() or jm.Real(shape=(3,)))"
        )
    return c
