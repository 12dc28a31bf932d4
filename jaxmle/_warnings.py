"""Warnings that jaxmle emits."""

from __future__ import annotations

import os
import sys
import warnings
import weakref

import jax
import numpy as np

__all__ = ["Float32Warning", "InferenceWarning", "warn_float32", "RecompileWarning", "note_compile"]


class Float32Warning(UserWarning):
    """A fit runs in float32 (JAX's default), whose precision is limited.

    Emitted through :func:`warnings.warn` on the first float32 fit of a process
    (the default warning filter shows it once). Silence it with
    ``warnings.filterwarnings("ignore", category=jm.Float32Warning)``, or enable
    float64 before any array is created:
    ``jax.config.update("jax_enable_x64", True)``.

    Example:
        >>> import jaxmle as jm
        >>> issubclass(jm.Float32Warning, UserWarning)
        True
    """


class InferenceWarning(UserWarning):
    """A test or a covariance could not be computed as asked, and its value is NaN.

    For example a score test whose information matrix is not positive definite
    at the null estimate (the observed information of a misspecified or
    far-off null can be indefinite): the statistic is NaN, never negative.

    Example:
        >>> import jaxmle as jm
        >>> issubclass(jm.InferenceWarning, UserWarning)
        True
    """


FLOAT32_MESSAGE = (
    "jaxmle is fitting in float32 (JAX's default dtype): estimates are then accurate to about "
    "1e-5 relative and standard errors to about 1e-4 (worse for ill-conditioned models), "
    "against about 1e-12 in float64. For float64, run "
    'jax.config.update("jax_enable_x64", True) at the start of the program, before any '
    "array is created. (Shown once per process.)"
)


def caller_stacklevel() -> int:
    """The ``stacklevel`` of a warning raised in jaxmle that points at the first frame outside
    the package: the line of the user's code that called jaxmle (through any depth of
    jaxmle's own calls).

    Example:
        >>> from jaxmle._warnings import caller_stacklevel
        >>> caller_stacklevel() >= 1
        True
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1  # (the frame that calls warnings.warn)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


#: set once the float32 warning has been emitted in this process
_EMITTED: list = []


def warn_float32() -> None:
    """Emit :class:`Float32Warning`, once per process.

    Python's default filter shows a warning once per location, but forgets
    which it has shown whenever any code changes the warning filters (many
    imports do): a flag here keeps the promise of the message.

    Example:
        >>> import warnings
        >>> from jaxmle._warnings import Float32Warning, warn_float32
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_float32()
        ...     warn_float32()
        >>> len([w for w in caught if w.category is Float32Warning]) <= 1
        True
    """
    if _EMITTED:
        return
    _EMITTED.append(True)
    # (pointing at the user's line that started the fit)
    warnings.warn(FLOAT32_MESSAGE, Float32Warning, stacklevel=caller_stacklevel())


class RecompileWarning(UserWarning):
    """The same log-likelihood code has been compiled for many models that differ only in the
    numbers it closes over.

    A fit is compiled once per :class:`~jaxmle.Model` object: a new model made for each value
    of a hyperparameter (``jm.Model(lambda p, x: loglik(p, x, tau), ...)`` in a loop) compiles
    again each time. Pass the value as ``jm.fit(model, data, args=tau)`` (``loglik(params,
    data, args)``), an input of one compiled fit, instead. Emitted once per log-likelihood code
    after :data:`RECOMPILE_LIMIT` such models.

    Example:
        >>> import jaxmle as jm
        >>> issubclass(jm.RecompileWarning, UserWarning)
        True
    """


#: models with the same log-likelihood code and different closed-over numbers compiled before
#: :class:`RecompileWarning` is emitted
RECOMPILE_LIMIT = 5

#: loglik code object -> the models compiled for it (weakly held); the codes already warned of
_COMPILED: dict = {}
_WARNED: set = set()


def _closes_over_numbers(fn) -> bool:
    """Whether ``fn`` is a closure over a number or an array (a hyperparameter)."""
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, (bool, jax.core.Tracer)):
            continue
        if isinstance(value, (int, float, complex, np.ndarray, np.generic, jax.Array)):
            return True
    return False


def note_compile(model) -> None:
    """Record that a fit was compiled for ``model``; emit :class:`RecompileWarning` when more
    than :data:`RECOMPILE_LIMIT` models with the same loglik code and closed-over numbers
    have been.

    Example:
        >>> import warnings
        >>> import jaxmle as jm
        >>> from jaxmle._warnings import RECOMPILE_LIMIT, RecompileWarning, note_compile
        >>> def make(h):
        ...     return jm.Model(lambda p, x: -h * (x - p["mu"]) ** 2, {"mu": jm.Real()})
        >>> models = [make(float(h)) for h in range(RECOMPILE_LIMIT + 1)]
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     for m in models:
        ...         note_compile(m)
        >>> [w.category for w in caught] == [RecompileWarning]
        True
    """
    fn = model.loglik
    code = getattr(fn, "__code__", None)
    if code is None or not _closes_over_numbers(fn):
        return
    models = _COMPILED.setdefault(code, weakref.WeakSet())
    models.add(model)
    if len(models) > RECOMPILE_LIMIT and code not in _WARNED:
        _WARNED.add(code)
        warnings.warn(
            f"jaxmle has compiled a fit for {len(models)} models whose loglik "
            f"({code.co_name}, {code.co_filename}:{code.co_firstlineno}) is the same code "
            "closing over different numbers: each new Model compiles again. Pass the varying "
            "value as jm.fit(model, data, args=value), with loglik(params, data, args), to "
            "compile once.",
            RecompileWarning,
            stacklevel=3,
        )
