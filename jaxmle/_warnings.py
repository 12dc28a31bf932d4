"""Warnings that jaxmle emits."""

from __future__ import annotations

import warnings

__all__ = ["Float32Warning", "InferenceWarning", "warn_float32"]


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
    "jaxmle is fitting in float32 (JAX's default dtype): estimates and standard errors "
    "are then accurate to about 1e-6 relative, 1e-4 at worst for the families with special "
    "functions and worse for ill-conditioned models, against about 1e-12 in float64. For "
    "float64, run "
    'jax.config.update("jax_enable_x64", True) at the start of the program, before any '
    "array is created. (Shown once per process.)"
)


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
    warnings.warn(FLOAT32_MESSAGE, Float32Warning, stacklevel=1)
