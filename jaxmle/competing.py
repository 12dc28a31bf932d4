"""Competing risks: independent causes of failure, each with its own lifetime family.

A unit fails at ``T = min(T_1, ..., T_K)``, the first of ``K`` independent
latent failure times, and the data say which cause ended it (or that the unit
was still running: censored). With ``f_j``, ``S_j`` the density and survival
function of cause ``j``, an observation at ``t`` contributes

* ``log f_j(t) + sum_{i != j} log S_i(t)`` when it failed of cause ``j``;
* ``sum_i log S_i(t)`` when it was censored at ``t``,

so the log-likelihood is the sum over causes of a censored fit of each cause
in which the failures of the other causes count as censored at their time
(the MLE of each cause's parameters is that fit's), and the unit's
reliability is ``R(t) = prod_j S_j(t)``.

Data: ``{"x": times, "cause": codes}``, the code ``0`` for a censored unit
and ``j = 1..K`` for the ``j``-th cause in the order given (with an optional
``"entry"`` for left truncation).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .distributions.base import Distribution
from .distributions.censoring import censored_loglik
from .distributions.continuous import PositiveSupport
from .distributions.registry import get_distribution
from .fit import fit, fit_batch
from .model import Model
from .profile import Derived, derived
from .results import FitResult

__all__ = ["competing_risks", "fit_competing", "cause_params", "competing_reliability"]


def _dist(family) -> Distribution:
    return family if isinstance(family, Distribution) else get_distribution(family)


def _freeze(causes: Mapping[str, Any]) -> tuple[tuple[str, Distribution], ...]:
    if not isinstance(causes, Mapping) or not causes:
        raise ValueError(
            "causes must be a non-empty dict from cause name to family, e.g. "
            "{'wear': 'weibull', 'shock': 'exponential'}"
        )
    out = []
    for name, family in causes.items():
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"cause names must be non-empty strings without '.', got {name!r}")
        dist = _dist(family)
        if not dist.continuous:
            raise ValueError(
                f"cause {name!r}: {dist.name} is discrete; a lifetime family is needed"
            )
        out.append((name, dist))
    return tuple(out)


def competing_risks(causes: Mapping[str, Any]) -> Model:
    """The :class:`~jaxmle.Model` of independent competing risks.

    Args:
        causes: cause name -> family (a name such as ``"weibull"`` or a
            :class:`~jaxmle.distributions.Distribution`), in the order of the codes
            ``1..K`` of the data's ``"cause"``.

    Returns:
        A model whose parameters are ``"CAUSE.PARAM"`` (``"wear.shape"``, ``"shock.rate"``)
        and whose data is ``{"x": times, "cause": codes}`` (``0`` censored); the same
        causes give the same model object (one compilation).

    Example:
        >>> import jax, numpy as np
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = jm.competing_risks({"wear": "weibull", "shock": "exponential"})
        >>> model.param_names
        ('wear.shape', 'wear.scale', 'shock.rate')
        >>> t = np.array([2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
        >>> cause = np.array([2, 1, 2, 1, 0, 1])
        >>> res = jm.fit(model, {"x": t, "cause": cause})
        >>> round(float(res.params["shock.rate"]), 6)       # 2 shocks in 27 hours
        0.074074
    """
    return _model(_freeze(causes))


@functools.cache
def _model(causes: tuple[tuple[str, Distribution], ...]) -> Model:
    spec = {}
    for name, dist in causes:
        for key, c in dist.spec().items():
            spec[f"{name}.{key}"] = c

    def split(params):
        return [{key: params[f"{name}.{key}"] for key in dist.spec()} for name, dist in causes]

    def loglik(params, data):
        t, code = data["x"], jnp.asarray(data["cause"])
        total = 0.0
        for j, ((_, dist), p) in enumerate(zip(causes, split(params), strict=True)):
            part = {"x": t, "event": code == j + 1}
            if "entry" in data:
                part["entry"] = data["entry"]
            total = total + censored_loglik(dist, p, part)
        return total

    def init(data):
        t = data["x"]
        out = {}
        for name, dist in causes:
            for key, v in dist.init({"x": t}).items():
                out[f"{name}.{key}"] = v
        return out

    names = "+".join(name for name, _ in causes)
    loglik.__name__ = f"CompetingRisks({names})"
    return Model(
        loglik,
        spec,
        init=init,
        name=f"CompetingRisks({names})",
        data_check=functools.partial(_check, causes),
    )


def _check(causes, data) -> tuple[np.ndarray, str] | None:
    if not isinstance(data, Mapping) or "x" not in data or "cause" not in data:
        raise ValueError("competing risks: the data is {'x': times, 'cause': codes}")
    extra = sorted(set(data) - {"x", "cause", "entry"})
    if extra:
        raise ValueError(f"competing risks: unknown data key(s) {extra}")
    x = np.asarray(data["x"], float)
    code = np.asarray(data["cause"], float)
    k = len(causes)
    bad_code = ~np.isnan(code) & ((code != np.floor(code)) | (code < 0) | (code > k))
    if bad_code.any():
        return bad_code, f"cause must be 0 (censored) or a cause code 1..{k}"
    if any(isinstance(d, PositiveSupport) for _, d in causes):
        bad = ~np.isnan(x) & (x <= 0) & (code > 0)
        if bad.any():
            return bad, "failure times must be positive (the support of the causes' families)"
    return None


def fit_competing(
    x: Any,
    cause: Any,
    causes: Mapping[str, Any],
    *,
    entry: Any = None,
    **fit_options: Any,
) -> FitResult:
    """Fit independent competing risks: one dataset, or a batch of them.

    Args:
        x: times, ``(n,)`` for one dataset or ``(B, n)`` for a batch.
        cause: codes like ``x``: ``0`` censored, ``j`` the ``j``-th cause of ``causes``.
        causes: cause name -> family, as in :func:`competing_risks`.
        entry: optional left-truncation times.
        **fit_options: passed to :func:`jaxmle.fit` / :func:`jaxmle.fit_batch`
            (``nan_policy``, ``mask``, ``weights``, ``cov_type``, ...).

    Returns:
        A :class:`~jaxmle.FitResult` with parameters ``"CAUSE.PARAM"``.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> t = np.array([2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
        >>> cause = np.array([2, 1, 2, 1, 0, 1])
        >>> res = jm.fit_competing(t, cause, {"wear": "weibull", "shock": "exponential"})
        >>> sorted(jm.cause_params(res))
        ['shock', 'wear']
        >>> # each cause alone: a censored fit in which the other causes are censored
        >>> wear = jm.fit_dist("weibull", t, event=(cause == 1).astype(int))
        >>> bool(np.isclose(res.params["wear.shape"], wear.params["shape"]))
        True
    """
    model = competing_risks(causes)
    data = {"x": np.asarray(x), "cause": np.asarray(cause)}
    if entry is not None:
        data["entry"] = np.broadcast_to(np.asarray(entry, float), data["x"].shape)
    if data["cause"].shape != data["x"].shape:
        raise ValueError(f"cause has shape {data['cause'].shape}; expected {data['x'].shape}")
    if data["x"].ndim == 2:
        return fit_batch(model, data, **fit_options)
    if data["x"].ndim != 1:
        raise ValueError(f"x must have shape (n,) or (B, n), got {data['x'].shape}")
    return fit(model, data, **fit_options)


def cause_params(res: FitResult) -> dict[str, dict[str, jax.Array]]:
    """The estimates of a competing-risks fit per cause: ``{cause: {param: value}}``.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_competing(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 2, 1, 2]),
        ...                        {"a": "exponential", "b": "exponential"})
        >>> {k: round(float(v["rate"]), 6) for k, v in jm.cause_params(res).items()}
        {'a': 0.2, 'b': 0.2}
    """
    out: dict[str, dict[str, jax.Array]] = {}
    for key, value in res.params.items():
        name, _, param = key.partition(".")
        out.setdefault(name, {})[param] = value
    return out


def competing_reliability(
    res: FitResult, t: Any, causes: Mapping[str, Any], *, level: float = 0.95
) -> Derived:
    """The reliability ``R(t) = prod_j S_j(t)`` of a competing-risks fit at a time ``t``
    (a scalar), with its interval on the ``log(-log R)`` scale (inside ``(0, 1)``).

    Example:
        >>> import jax, numpy as np
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> causes = {"a": "exponential", "b": "exponential"}
        >>> res = jm.fit_competing(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 2, 1, 2]), causes)
        >>> r = jm.competing_reliability(res, 1.0, causes)      # exp(-(0.2 + 0.2) * 1)
        >>> round(float(r.estimate), 6), bool(0 < r.low < r.estimate < r.high < 1)
        (0.67032, True)
    """
    frozen = _freeze(causes)
    tt = float(t)

    def cum_hazard(p):
        h = 0.0
        for name, dist in frozen:
            h = h - dist.logsf(tt, {key: p[f"{name}.{key}"] for key in dist.spec()})
        return h

    d = derived(res, cum_hazard, level=level, method="wald_log")
    est = jnp.exp(-d.estimate)
    se = est * d.se
    return Derived(
        est, se, jnp.exp(-d.high), jnp.exp(-d.low), None, float(level), "wald_transformed"
    )
