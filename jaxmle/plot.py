"""Plots of fits, with matplotlib (``pip install "jaxmle[plot]"``).

* :func:`plot_profile`: the profile deviance of one parameter, its chi-square
  threshold and the profile interval;
* :func:`plot_fit`: the fitted density (or mass function) over the histogram;
* :func:`plot_qq`, :func:`plot_pp`: quantile-quantile and probability-probability plots;
* :func:`plot_survival`: the fitted survival curve over the Kaplan-Meier
  estimate (:func:`kaplan_meier`) and its Greenwood band, for censored lifetimes;
* :func:`plot_probability`: the probability plot of a lifetime fit (Weibull,
  lognormal, exponential paper) with censoring-aware plotting positions, the
  fitted line and its confidence band;
* :func:`plot_hazard`: the fitted hazard function and its confidence band;
* :func:`plot_caterpillar`: a batch's estimates with their intervals, sorted;
* :func:`plot_status`: a batch's status counts.

Each function draws on ``ax`` (a new figure when ``ax`` is ``None``) and
returns the ``matplotlib.axes.Axes``; ``ax.figure`` is its figure. The
density, Q-Q, P-P and survival plots are for the distribution families
(models from :mod:`jaxmle.families` or :func:`jaxmle.fit_dist`); the family
is recognised from the model, or given as ``family=``. Importing
:mod:`jaxmle` does not import matplotlib; this module imports it when a plot
is drawn.

Example:
    >>> import jax, numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import jaxmle as jm
    >>> from jaxmle.plot import plot_fit
    >>> jax.config.update("jax_enable_x64", True)
    >>> x = np.random.default_rng(0).gamma(2.0, 3.0, size=200)
    >>> res = jm.fit_dist("gamma", x)
    >>> ax = plot_fit(res, x)
    >>> ax.get_xlabel()
    'x'
    >>> matplotlib.pyplot.close("all")
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np

from .distributions.continuous import ParetoDist
from .distributions.registry import resolve
from .life import hazard, life_family, plotting_positions, reliability, turnbull
from .results import FitResult, Status

__all__ = [
    "plot_profile",
    "plot_fit",
    "plot_qq",
    "plot_pp",
    "plot_survival",
    "plot_probability",
    "plot_hazard",
    "plot_caterpillar",
    "plot_status",
    "kaplan_meier",
    "KaplanMeier",
]

_INSTALL = 'jaxmle.plot needs matplotlib: pip install "jaxmle[plot]"'


def _axes(ax):
    """``ax``, or the axes of a new pyplot figure."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ImportError(_INSTALL) from err
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def _single(res, what: str) -> FitResult:
    if not isinstance(res, FitResult):
        raise TypeError(f"{what} takes a jm.FitResult, got {type(res).__name__}")
    if res.batch_shape:
        raise ValueError(
            f"{what} draws one fit; this is a batch of {res.batch_shape[0]}: pass batch[i]"
        )
    return res


def _batch(res, what: str) -> FitResult:
    if not isinstance(res, FitResult):
        raise TypeError(f"{what} takes a jm.FitResult, got {type(res).__name__}")
    if not res.batch_shape:  # one fit: a batch of one
        import jax

        res = jax.tree_util.tree_map(lambda v: np.asarray(v)[None], res)
    return res


# --------------------------------------------------------------------------
# profile likelihood
# --------------------------------------------------------------------------
def _is_profile(obj) -> bool:
    return all(hasattr(obj, k) for k in ("grid", "deviance", "interval", "threshold", "estimate"))


def plot_profile(
    res: Any, param: str | None = None, *, ax=None, points: int = 41, level: float = 0.95
):
    """Profile deviance of one parameter, with the chi-square threshold and the interval.

    Draws ``2 (loglik_max - profile loglik)`` over a grid of the parameter
    (the other parameters re-optimized at each point, from
    ``res.profile(param, points=points, level=level)``), the line at the
    ``chi2_1`` quantile of ``level``, the profile interval where the deviance
    stays below it, and, for comparison, the Wald quadratic
    ``((value - estimate) / se)^2``: the two agree when the log-likelihood is
    quadratic in the parameter.

    Args:
        res: a single :class:`~jaxmle.FitResult`, or a ``jm.Profile`` already computed.
        param: a flattened parameter name (``"sigma"``, ``"beta[2]"``); with
            a profile, ignored.
        ax: matplotlib axes to draw on (a new figure when ``None``).
        points, level: passed to ``res.profile``.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_profile
        >>> grid = np.linspace(0.5, 2.0, 31)     # exponential rate, 10 events, total time 10
        >>> ll = 10 * np.log(grid) - 10 * grid
        >>> prof = jm.Profile("rate", grid, ll, 2 * (-10 - ll), 1.0, -10.0, (0.53, 1.73),
        ...                   3.841, 0.95)
        >>> ax = plot_profile(prof)
        >>> ax.get_xlabel()
        'rate'
        >>> matplotlib.pyplot.close("all")
    """
    fit = None
    if _is_profile(res):
        prof = res
    else:
        fit = _single(res, "plot_profile")
        if param is None:
            raise ValueError(f"plot_profile needs param=, one of {list(fit.param_names)}")
        if param not in fit.param_names:
            raise ValueError(
                f"unknown parameter {param!r}; the parameters are {list(fit.param_names)}"
            )
        prof = fit.profile(param, points=points, level=level)
    ax = _axes(ax)
    grid = np.asarray(prof.grid, float)
    dev = np.asarray(prof.deviance, float)
    if grid.ndim != 1:
        raise ValueError("plot_profile draws one fit's profile; index the batch first")
    est = float(np.asarray(prof.estimate))
    lo, hi = (float(np.asarray(v)) for v in prof.interval)
    thr = float(prof.threshold)
    lvl = float(prof.level)

    ax.plot(grid, dev, color="C0", lw=2, label="profile deviance")
    if fit is not None:
        j = fit.param_names.index(prof.param)
        se = float(np.asarray(fit.model.flatten(fit.se))[j])
        if math.isfinite(se) and se > 0:
            ax.plot(grid, ((grid - est) / se) ** 2, color="0.5", ls="--", lw=1, label="Wald")
    ax.axhline(thr, color="C3", ls=":", lw=1.2, label=f"$\\chi^2_1$ {lvl:.0%} quantile {thr:.3g}")
    if math.isfinite(lo) and math.isfinite(hi):
        ax.axvspan(lo, hi, color="C0", alpha=0.12, label=f"{lvl:.0%} interval [{lo:.4g}, {hi:.4g}]")
    ax.axvline(est, color="k", lw=0.8, label=f"estimate {est:.4g}")
    finite = dev[np.isfinite(dev)]
    top = max(2.0 * thr, float(finite.max()) if finite.size else 2.0 * thr)
    ax.set_ylim(0.0, min(top, 4.0 * thr) * 1.05)
    ax.set_xlim(grid.min(), grid.max())
    ax.set_xlabel(prof.param)
    ax.set_ylabel("deviance  2 (max loglik - profile loglik)")
    ax.set_title(f"profile likelihood of {prof.param}")
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------
# families: which distribution a result came from, and its functions
# --------------------------------------------------------------------------
def _family(res: FitResult, family):
    if family is not None:
        return resolve(family)
    if res.model.family is not None:
        return res.model.family
    raise ValueError(
        f"cannot tell the family of model {res.model.name!r}: these plots are for the "
        "distribution families (jm.families, jm.fit_dist); for a family with options pass it, "
        "e.g. family=jm.distributions.get_distribution('binomial', trials=10)"
    )


def _params(res: FitResult, dist, x) -> dict:
    params = {k: np.asarray(v, float) for k, v in res.params.items()}
    if isinstance(dist, ParetoDist):  # the scale is fixed: given, or the smallest observation
        params["scale"] = float(dist.scale if dist.scale is not None else np.min(x))
    return params


def _uncensored_fit(res, data, family, ax, what: str):
    """``(family, x, params, ax)`` for a plot of one fit against uncensored data ``x``."""
    res = _single(res, what)
    dist = _family(res, family)
    x, _, _, _ = _data(data, what)
    return dist, x, _params(res, dist, x), _axes(ax)


def _data(data, what: str, allow_censored: bool = False):
    """(x, event, lower, upper) as float numpy arrays (unused ones None)."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"x", "event", "lower", "upper"})
        if unknown:
            raise ValueError(f"{what}: unknown data key(s) {unknown}")
        if "lower" in data or "upper" in data:
            if not allow_censored:
                raise ValueError(
                    f"{what}: interval-censored data has no histogram or empirical quantiles; "
                    "use plot_survival"
                )
            lower = np.asarray(data["lower"], float).ravel()
            upper = np.asarray(data["upper"], float).ravel()
            return None, None, lower, upper
        x = np.asarray(data["x"], float)
        event = data.get("event")
    else:
        x, event = np.asarray(data, float), None
    if x.ndim != 1:
        raise ValueError(f"{what} draws one dataset, shape (n,); got shape {x.shape}")
    keep = np.isfinite(x)
    if event is not None:
        event = np.asarray(event, float).ravel()
        if event.shape != x.shape:
            raise ValueError(f"{what}: event has shape {event.shape}; x has {x.shape}")
        keep &= np.isfinite(event)
        event = event[keep] != 0
        if not allow_censored and not event.all():
            raise ValueError(
                f"{what}: {int((~event).sum())} observations are censored (event == 0); a "
                "histogram or empirical quantiles of censored data mislead: use plot_survival"
            )
    x = x[keep]
    if x.size == 0:
        raise ValueError(f"{what}: no finite observations")
    return x, event, None, None


@functools.cache
def _compiled(dist, method: str):
    """``dist.<method>(x, params)`` under ``jax.jit``, one per family and method: the
    bisection of :func:`_ppf` calls it many times with one shape."""
    import jax

    return jax.jit(lambda x, params: getattr(dist, method)(x, params))


def _eval(dist, method: str, x, params) -> np.ndarray:
    """``exp(dist.<method>(x, params))`` as a float numpy array."""
    x = np.asarray(x, float)
    return np.exp(np.asarray(_compiled(dist, method)(x, params), float))


def _cdf(dist, x, params) -> np.ndarray:
    return _eval(dist, "logcdf", x, params)


def _ppf(dist, p, params, x) -> np.ndarray:
    """Quantiles at probabilities ``p`` by bisection on the CDF (vectorized)."""
    lo_s, hi_s = (float(np.asarray(v)) for v in dist.support(params))
    span = max(float(np.ptp(x)), 1e-3 * max(1.0, float(np.abs(x).max())), 1e-12)
    a = np.full(p.shape, float(np.min(x)) - 0.5 * span)
    b = np.full(p.shape, float(np.max(x)) + 0.5 * span)
    a = np.maximum(a, lo_s) if math.isfinite(lo_s) else a
    b = np.minimum(b, hi_s) if math.isfinite(hi_s) else b
    for _ in range(200):  # widen the bracket: F(a) < p <= F(b)
        low = (_cdf(dist, a, params) >= p) & (a > lo_s)
        high = (_cdf(dist, b, params) < p) & (b < hi_s)
        if not (low.any() or high.any()):
            break
        a = np.where(low, np.maximum(a - 2 * (b - a), lo_s), a)
        b = np.where(high, np.minimum(b + 2 * (b - a), hi_s), b)
    for _ in range(80):
        m = 0.5 * (a + b)
        below = _cdf(dist, m, params) < p
        a, b = np.where(below, m, a), np.where(below, b, m)
    return b if dist.continuous else np.floor(b + 1e-9)


def _param_text(res) -> str:
    parts = []
    for k, v in res.params.items():
        v = np.asarray(v)
        parts.append(f"{k}={v:.4g}" if v.ndim == 0 else f"{k}=[{', '.join(f'{u:.3g}' for u in v)}]")
    return ", ".join(parts)


# --------------------------------------------------------------------------
# density, Q-Q, P-P
# --------------------------------------------------------------------------
def plot_fit(res: FitResult, data: Any, *, family=None, ax=None, bins: Any = "auto"):
    """The fitted density (continuous) or mass function (discrete) over the data's histogram.

    Args:
        res: a single fit of a distribution family.
        data: the observations, an array ``(n,)`` or a dict ``{"x": ...}``
            (censored data: use :func:`plot_survival`).
        family: the family (a name or a ``Distribution``) when it cannot be
            recognised from the model (families with options, e.g. the binomial).
        ax: matplotlib axes (a new figure when ``None``).
        bins: histogram bins (continuous families), as in ``numpy.histogram``.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_fit
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = np.random.default_rng(0).gamma(2.0, 3.0, size=200)
        >>> ax = plot_fit(jm.fit_dist("gamma", x), x, bins=20)
        >>> ax.get_ylabel(), len(ax.patches)          # the density over 20 histogram bars
        ('density', 20)
        >>> matplotlib.pyplot.close("all")
    """
    dist, x, params, ax = _uncensored_fit(res, data, family, ax, "plot_fit")
    label = f"fitted {dist.name} ({_param_text(res)})"
    if dist.continuous:
        ax.hist(x, bins=bins, density=True, color="C0", alpha=0.35, label=f"data (n={x.size:,})")
        lo_s, hi_s = (float(np.asarray(v)) for v in dist.support(params))
        span = float(np.ptp(x)) or 1.0
        grid = np.linspace(
            max(float(x.min()) - 0.05 * span, lo_s), min(float(x.max()) + 0.05 * span, hi_s), 400
        )
        pdf = _eval(dist, "logpdf", grid, params)
        ax.plot(grid, pdf, color="C3", lw=2, label=label)
        ax.set_ylabel("density")
    else:
        k = np.arange(int(np.floor(x.min())), int(np.ceil(x.max())) + 1)
        freq = np.array([np.mean(x == v) for v in k])
        ax.bar(k, freq, width=0.8, color="C0", alpha=0.35, label=f"data (n={x.size:,})")
        pmf = _eval(dist, "logpdf", k, params)
        ax.plot(k, pmf, "o-", color="C3", lw=1.5, label=label)
        ax.set_ylabel("probability")
    ax.set_xlabel("x")
    ax.set_title(f"{dist.name} fit")
    ax.legend(fontsize="small")
    return ax


def _positions(n: int) -> np.ndarray:
    return (np.arange(1, n + 1) - 0.5) / n  # Hazen plotting positions


def plot_qq(res: FitResult, data: Any, *, family=None, ax=None):
    """Quantile-quantile plot: the sorted data against the fitted quantiles.

    The ``i``-th smallest of ``n`` observations is plotted against the fitted
    quantile at ``(i - 1/2) / n``; points on the diagonal mean the family fits.
    Quantiles come from the fitted CDF by bisection.

    Args:
        res, data, family, ax: as in :func:`plot_fit`.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_qq
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = np.random.default_rng(0).gamma(2.0, 3.0, size=200)
        >>> ax = plot_qq(jm.fit_dist("gamma", x), x)
        >>> ax.get_xlabel()
        'fitted gamma quantiles'
        >>> matplotlib.pyplot.close("all")
    """
    dist, x, params, ax = _uncensored_fit(res, data, family, ax, "plot_qq")
    xs = np.sort(x)
    q = _ppf(dist, _positions(xs.size), params, xs)
    ax.plot(q, xs, "o", ms=3, color="C0", alpha=0.7, label=f"data (n={xs.size:,})")
    both = np.concatenate([q[np.isfinite(q)], xs])
    ax.plot([both.min(), both.max()], [both.min(), both.max()], color="C3", lw=1, label="y = x")
    ax.set_xlabel(f"fitted {dist.name} quantiles")
    ax.set_ylabel("data quantiles")
    ax.set_title(f"Q-Q plot, {dist.name}")
    ax.legend(fontsize="small")
    return ax


def plot_pp(res: FitResult, data: Any, *, family=None, ax=None):
    """Probability-probability plot: fitted CDF at each observation against its empirical rank.

    Args:
        res, data, family, ax: as in :func:`plot_fit`.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_pp
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = np.random.default_rng(0).gamma(2.0, 3.0, size=200)
        >>> ax = plot_pp(jm.fit_dist("gamma", x), x)
        >>> ax.get_ylabel()
        'fitted gamma CDF'
        >>> matplotlib.pyplot.close("all")
    """
    dist, x, params, ax = _uncensored_fit(res, data, family, ax, "plot_pp")
    xs = np.sort(x)
    ax.plot(_positions(xs.size), _cdf(dist, xs, params), "o", ms=3, color="C0", alpha=0.7,
            label=f"data (n={xs.size:,})")  # fmt: skip
    ax.plot([0, 1], [0, 1], color="C3", lw=1, label="y = x")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("empirical probability (i - 1/2) / n")
    ax.set_ylabel(f"fitted {dist.name} CDF")
    ax.set_title(f"P-P plot, {dist.name}")
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------
# survival
# --------------------------------------------------------------------------
class KaplanMeier(NamedTuple):
    """The Kaplan-Meier estimate as step values at each distinct time (the first row is time 0).

    Attributes:
        time: ``0`` and the distinct observation times, sorted.
        survival: the estimate ``S(t)``, right-continuous: its value from
            ``time[i]`` until ``time[i + 1]``.
        lower, upper: the pointwise confidence band.
        at_risk: units at risk just before each time.
        events: events at each time.

    Example:
        >>> from jaxmle.plot import kaplan_meier
        >>> km = kaplan_meier([1.0, 2.0, 2.0, 3.0], [1, 1, 0, 1])
        >>> km.at_risk.tolist(), km.events.tolist()
        ([4.0, 4.0, 3.0, 1.0], [0.0, 1.0, 1.0, 1.0])
    """

    time: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray


def kaplan_meier(time: Any, event: Any = None, level: float = 0.95) -> KaplanMeier:
    """Kaplan-Meier estimate of the survival function, with Greenwood's pointwise band.

    ``S(t) = prod_{t_j <= t} (1 - d_j / n_j)`` over the distinct event times
    ``t_j``, with ``d_j`` events among the ``n_j`` units at risk. The band is
    the one lifelines reports: Greenwood's variance
    ``V = sum d_j / (n_j (n_j - d_j))`` on the ``log(-log S)`` scale,
    ``S^exp(+/- z sqrt(V) / log S)``, which stays inside ``[0, 1]``.

    Args:
        time: observed times, shape ``(n,)``.
        event: 1 for an event, 0 for a right-censored time (default: all events).
        level: confidence level of the band.

    Returns:
        A :class:`KaplanMeier`.

    Example:
        >>> import numpy as np
        >>> from jaxmle.plot import kaplan_meier
        >>> km = kaplan_meier([2.0, 4.0, 5.0], [1, 1, 0])
        >>> km.time.tolist(), km.survival.round(4).tolist()
        ([0.0, 2.0, 4.0, 5.0], [1.0, 0.6667, 0.3333, 0.3333])
    """
    from statistics import NormalDist

    t = np.asarray(time, float).ravel()
    e = np.ones(t.shape, bool) if event is None else (np.asarray(event).ravel() != 0)
    if e.shape != t.shape:
        raise ValueError(f"event has shape {e.shape}; time has {t.shape}")
    ok = np.isfinite(t)
    t, e = t[ok], e[ok]
    if t.size == 0:
        raise ValueError("kaplan_meier: no finite times")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    times, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e, minlength=times.size)
    removed = np.bincount(inv, minlength=times.size)
    n = t.size - np.concatenate([[0], np.cumsum(removed)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.cumprod(1.0 - d / n)
        greenwood = np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0))
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        log_s = np.log(s)
        half = z * np.sqrt(greenwood) / np.abs(log_s)
        lower = np.exp(-np.exp(np.log(-log_s) + half))
        upper = np.exp(-np.exp(np.log(-log_s) - half))
    one = s == 1.0  # before the first event: no uncertainty
    lower, upper = np.where(one, 1.0, lower), np.where(one, 1.0, upper)
    zero = s == 0.0  # after the last unit failed
    lower, upper = np.where(zero, 0.0, lower), np.where(zero, 0.0, upper)
    start = bool(times[0] > 0)  # the curve starts at S(0) = 1
    pre = (lambda a, v: np.concatenate([[v], a])) if start else (lambda a, v: a)
    return KaplanMeier(
        time=pre(times, 0.0),
        survival=pre(s, 1.0),
        lower=pre(lower, 1.0),
        upper=pre(upper, 1.0),
        at_risk=pre(n.astype(float), float(t.size)),
        events=pre(d, 0.0),
    )


def plot_survival(
    res: FitResult,
    data: Any,
    *,
    family=None,
    ax=None,
    level: float = 0.95,
    method: str = "wald_transformed",
    xlabel: str = "time",
):
    """The fitted survival function over the nonparametric estimate from the data.

    For right-censored data (``{"x": times, "event": 1/0}``, or plain
    times): the Kaplan-Meier estimate with its Greenwood band
    (:func:`kaplan_meier`), censored times marked ``+``. For interval-censored
    data (``{"lower": ..., "upper": ...}``): the Turnbull estimate
    (:func:`jaxmle.life.turnbull`), drawn as its steps with a line across each
    innermost interval (where the estimate does not say how the mass is spread).
    For a lifetime family fitted with its covariance, the fitted curve has its
    pointwise band from :func:`jaxmle.reliability` (``method``; the default stays
    inside ``(0, 1)``).

    Args:
        res: a single fit of a continuous distribution family.
        data: the dataset the model was fitted to.
        family: the family, when it cannot be recognised from the model.
        ax: matplotlib axes (a new figure when ``None``).
        level: confidence level of the bands.
        method: interval method of the fitted curve's band (``"wald_transformed"``,
            ``"profile"``, ``"wald"``), or ``None`` for no band.
        xlabel: the label of the time axis (the data's column name and unit).

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_survival
        >>> jax.config.update("jax_enable_x64", True)
        >>> rng = np.random.default_rng(4)
        >>> life = 1000 * rng.weibull(1.5, size=80)
        >>> hours, failed = np.minimum(life, 1200.0), life <= 1200.0
        >>> res = jm.fit_dist("weibull", hours, event=failed)
        >>> ax = plot_survival(res, {"x": hours, "event": failed})
        >>> ax.get_ylabel()
        'survival probability'
        >>> matplotlib.pyplot.close("all")
    """
    res = _single(res, "plot_survival")
    dist = _family(res, family)
    if not dist.continuous:
        raise ValueError(f"plot_survival is for lifetimes; {dist.name} is discrete")
    x, event, lower, upper = _data(data, "plot_survival", allow_censored=True)
    ax = _axes(ax)
    if x is not None:
        event = np.ones(x.shape, bool) if event is None else event
        km = kaplan_meier(x, event, level)
        ax.step(km.time, km.survival, where="post", color="C0", lw=1.5,
                label=f"Kaplan-Meier (n={x.size:,}, {int((~event).sum()):,} censored)")  # fmt: skip
        ax.fill_between(km.time, km.lower, km.upper, step="post", color="C0", alpha=0.2,
                        label=f"{level:.0%} Greenwood band")  # fmt: skip
        cens = x[~event]
        if cens.size:
            idx = np.searchsorted(km.time, cens, side="right") - 1
            ax.plot(cens, km.survival[idx], "+", color="C0", ms=6, label="censored")
        params = _params(res, dist, x)
        top = float(x.max())
    else:
        finite_hi = np.isfinite(upper)
        top = float(max(np.max(lower[np.isfinite(lower)], initial=0.0),
                        np.max(upper[finite_hi], initial=0.0)))  # fmt: skip
        tb = turnbull(lower, upper)
        before = np.concatenate([[1.0], tb.survival[:-1]])
        right = np.where(np.isfinite(tb.right), tb.right, top * 1.05)
        xs = np.column_stack([tb.left, right]).ravel()
        ys = np.column_stack([before, tb.survival]).ravel()
        start = min(0.0, float(tb.left[0]))
        ax.plot(np.concatenate([[start], xs]), np.concatenate([[1.0], ys]), color="C0", lw=1.5,
                label=f"Turnbull estimate (n={lower.size:,} intervals)")  # fmt: skip
        params = _params(res, dist, lower[np.isfinite(lower)])
    lo_s, _ = (float(np.asarray(v)) for v in dist.support(params))
    start = lo_s if math.isfinite(lo_s) else float(np.min(x if x is not None else lower))
    grid = np.linspace(start, top * 1.05 if top > 0 else top + 1.0, 400)
    sf = _eval(dist, "logsf", grid, params)
    ax.plot(grid, sf, color="C3", lw=2, label=f"fitted {dist.name} ({_param_text(res)})")
    if method is not None and _has_life(res) and res.se_computed:
        pos = grid[grid > 0][:: max(1, grid.size // 200)]
        band = reliability(res, pos, level=level, method=method)
        ax.fill_between(pos, np.asarray(band.low), np.asarray(band.high), color="C3", alpha=0.15,
                        label=f"{level:.0%} band of the fit ({method})")  # fmt: skip
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("survival probability")
    ax.set_title(f"survival, {dist.name} fit")
    ax.legend(fontsize="small")
    return ax


def _has_life(res) -> bool:
    """Whether ``res`` is a fit of a lifetime family (life quantities and their bands)."""
    try:
        life_family(res)
    except ValueError:
        return False
    return True


#: the probability papers: y = g(F) on which the family's CDF is a straight line, and
#: whether the time axis is logarithmic
def _paper(dist):
    from statistics import NormalDist

    nd = NormalDist()
    if dist.name in ("lognormal", "lognormal_3p"):
        return (np.vectorize(nd.inv_cdf), True, "lognormal")
    if dist.name == "loglogistic":
        return (lambda F: np.log(F) - np.log1p(-F), True, "log-logistic")
    if dist.name == "exponential":
        return (lambda F: -np.log1p(-F), False, "exponential")
    return (lambda F: np.log(-np.log1p(-F)), True, "Weibull")


def plot_probability(
    res: FitResult,
    data: Any,
    *,
    ax=None,
    level: float = 0.95,
    method: str | None = "wald_transformed",
    xlabel: str = "time",
):
    """Probability plot of a lifetime fit: the data's plotting positions, the fitted CDF as a
    line, and its confidence band, on the family's probability paper.

    The paper is the one on which the family's CDF is a straight line: Weibull
    (``log(-log(1 - F))`` against log time; also used for a gamma fit, which draws a
    curve), lognormal (``Phi^-1(F)`` against log time), log-logistic (``logit F``
    against log time), exponential (``-log(1 - F)`` against time). The y axis is
    labelled in percent failing.

    Plotting positions: for exact and right-censored data, Johnson's adjusted ranks with
    Bernard's median rank ``(rank - 0.3) / (n + 0.4)``
    (:func:`jaxmle.life.plotting_positions`), at the failure times; for
    interval-censored data (``{"lower", "upper"}``), the Turnbull estimate
    (:func:`jaxmle.life.turnbull`) of ``F`` at the right end of each innermost
    interval (the last, where ``F = 1``, is not drawn). The band is the pointwise
    interval of ``F(t) = 1 - R(t)`` from :func:`jaxmle.reliability` (``method``;
    ``None``: no band).

    Args:
        res: a single fit of a lifetime family (``weibull``, ``lognormal``,
            ``exponential``, ``loglogistic``, ``gamma``).
        data: the dataset it was fitted to: times, ``{"x", "event"}`` or
            ``{"lower", "upper"}``.
        ax: matplotlib axes (a new figure when ``None``).
        level: level of the band.
        method: the band's interval method.
        xlabel: the label of the time axis (the data's column name and unit).

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_probability
        >>> jax.config.update("jax_enable_x64", True)
        >>> life = 1000 * np.random.default_rng(4).weibull(1.5, size=50)
        >>> hours, failed = np.minimum(life, 1200.0), life <= 1200.0
        >>> res = jm.fit_dist("weibull", hours, event=failed)
        >>> ax = plot_probability(res, {"x": hours, "event": failed}, xlabel="hours")
        >>> ax.get_xlabel(), ax.get_title()
        ('hours', 'Weibull probability plot')
        >>> matplotlib.pyplot.close("all")
    """
    res = _single(res, "plot_probability")
    dist = life_family(res)
    x, event, lower, upper = _data(data, "plot_probability", allow_censored=True)
    g, log_t, paper = _paper(dist)
    ax = _axes(ax)
    if x is not None:
        t, F = plotting_positions(x, event)
        what = f"data (n={x.size:,}, {int(x.size - t.size):,} censored; Johnson's ranks)"
        span = x[np.isfinite(x) & (x > 0)]
    else:
        tb = turnbull(lower, upper)
        F = 1.0 - tb.survival
        t = tb.right
        keep = np.isfinite(t) & (F < 1.0 - 1e-12) & (F > 0) & (t > 0)
        t, F = t[keep], F[keep]
        what = f"Turnbull estimate (n={lower.size:,} intervals)"
        finite = np.concatenate([lower, upper])
        span = finite[np.isfinite(finite) & (finite > 0)]
    ax.plot(t, g(F), "o", ms=4, color="C0", label=what)
    lo_t, hi_t = float(np.min(span)), float(np.max(span))
    if log_t:
        from matplotlib.ticker import LogFormatter

        grid = np.geomspace(lo_t / 2.0, hi_t * 2.0, 200)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
    else:
        grid = np.linspace(0.0, hi_t * 1.5, 200)[1:]
    params = _params(res, dist, span)
    F_fit = -np.expm1(np.asarray(dist.logsf(grid, params), float))
    ok = (F_fit > 0) & (F_fit < 1)
    ax.plot(grid[ok], g(F_fit[ok]), color="C3", lw=2,
            label=f"fitted {dist.name} ({_param_text(res)})")  # fmt: skip
    if method is not None and res.se_computed:
        band = reliability(res, grid, level=level, method=method)
        f_lo, f_hi = 1.0 - np.asarray(band.high), 1.0 - np.asarray(band.low)
        ok = (f_lo > 0) & (f_hi < 1) & np.isfinite(f_lo) & np.isfinite(f_hi)
        ax.fill_between(grid[ok], g(f_lo[ok]), g(f_hi[ok]), color="C3", alpha=0.15,
                        label=f"{level:.0%} band ({method})")  # fmt: skip
    ticks = np.array([0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999])
    y_all = np.concatenate([g(F), g(F_fit[(F_fit > 0) & (F_fit < 1)])])
    y_lo, y_hi = float(np.min(y_all)), float(np.max(y_all))
    shown = ticks[(g(ticks) >= y_lo - 0.5) & (g(ticks) <= y_hi + 0.5)]
    ax.set_yticks(g(shown))
    ax.set_yticklabels([f"{100 * v:g}" for v in shown])
    ax.set_ylim(y_lo - 0.3, y_hi + 0.3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("percent failing")
    ax.set_title(f"{paper} probability plot")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_hazard(
    res: FitResult,
    data: Any = None,
    *,
    t: Any = None,
    ax=None,
    level: float = 0.95,
    method: str | None = "wald_transformed",
    xlabel: str = "time",
):
    """The fitted hazard function ``h(t) = f(t) / R(t)`` of a lifetime fit, with its
    pointwise confidence band (:func:`jaxmle.hazard`, by default on the log scale: it
    stays above 0).

    Args:
        res: a single fit of a lifetime family.
        data: the dataset (sets the time range), or ``None``.
        t: the times to draw at (default: 200 points over the data, or from the fit's 0.1%
            to its 99% quantile).
        ax: matplotlib axes (a new figure when ``None``).
        level: level of the band.
        method: the band's interval method, or ``None`` for no band.
        xlabel: the label of the time axis.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_hazard
        >>> jax.config.update("jax_enable_x64", True)
        >>> hours = 1000 * np.random.default_rng(4).weibull(2.0, size=50)
        >>> ax = plot_hazard(jm.fit_dist("weibull", hours), hours, xlabel="hours")
        >>> ax.get_ylabel()
        'hazard (failures per unit time)'
        >>> matplotlib.pyplot.close("all")
    """
    res = _single(res, "plot_hazard")
    dist = life_family(res)
    if t is not None:
        grid = np.asarray(t, float).ravel()
    elif data is not None:
        x, _, lower, upper = _data(data, "plot_hazard", allow_censored=True)
        vals = x if x is not None else np.concatenate([lower, upper])
        top = float(np.max(vals[np.isfinite(vals)]))
        grid = np.linspace(top / 200.0, top, 200)
    else:
        q = _ppf(dist, np.array([0.001, 0.99]), _params(res, dist, None), np.array([1.0]))
        grid = np.linspace(q[0], q[1], 200)
    h = hazard(res, grid, level=level, method=method or "wald_transformed")
    ax = _axes(ax)
    ax.plot(grid, np.asarray(h.estimate), color="C3", lw=2,
            label=f"fitted {dist.name} ({_param_text(res)})")  # fmt: skip
    if method is not None and res.se_computed:
        ax.fill_between(grid, np.asarray(h.low), np.asarray(h.high), color="C3", alpha=0.15,
                        label=f"{level:.0%} band ({method})")  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel("hazard (failures per unit time)")
    ax.set_title(f"hazard, {dist.name} fit")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------
def plot_caterpillar(
    batch: FitResult,
    param: str,
    *,
    ax=None,
    level: float = 0.95,
    labels: Any = None,
    max_labels: int = 40,
    method: str = "wald_transformed",
):
    """Every dataset's estimate of one parameter with its interval, sorted by the estimate.

    Only converged datasets are drawn (the title says how many were left
    out). With at most ``max_labels`` datasets, each row is labelled (by
    ``labels``, or by its index in the batch).

    Args:
        batch: a batch :class:`~jaxmle.FitResult` (a single fit counts as a batch of one).
        param: a flattened parameter name (``"shape"``, ``"beta[1]"``).
        ax: matplotlib axes (a new figure when ``None``).
        level: level of the intervals.
        labels: one label per dataset (e.g. the group names).
        max_labels: label the rows when there are at most this many.
        method: the intervals of :meth:`~jaxmle.FitResult.conf_int`: ``"wald_transformed"``
            (default: inside the support), ``"profile"`` or ``"wald"``.

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_caterpillar
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = np.random.default_rng(5).normal(0.0, 1.0, size=(30, 20))
        >>> ax = plot_caterpillar(jm.fit_dist("normal", x), "loc")
        >>> ax.get_xlabel()
        'loc'
        >>> matplotlib.pyplot.close("all")
    """
    batch = _batch(batch, "plot_caterpillar")
    if param not in batch.param_names:
        raise ValueError(
            f"unknown parameter {param!r}; the parameters are {list(batch.param_names)}"
        )
    n = batch.batch_shape[0]
    if labels is not None:
        labels = [str(s) for s in labels]
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries; the batch has {n} datasets")
    cols = batch.to_dict(level, method=method)
    est = np.asarray(cols[param], float)
    lo, hi = np.asarray(cols[f"{param}_lo"], float), np.asarray(cols[f"{param}_hi"], float)
    ok = (np.asarray(batch.status) == Status.CONVERGED) & np.isfinite(est)
    ax = _axes(ax)
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(est[idx], kind="stable")]
    y = np.arange(idx.size)
    ax.hlines(y, lo[idx], hi[idx], color="C0", lw=1.0 if idx.size <= 200 else 0.3,
              alpha=1.0 if idx.size <= 200 else 0.5, label=f"{level:.0%} interval")  # fmt: skip
    ax.plot(est[idx], y, "o" if idx.size <= 200 else ",", ms=3, color="k", label="estimate")
    if idx.size:
        ax.axvline(float(np.median(est[idx])), color="C3", lw=0.8, ls="--", label="median")
    if 0 < idx.size <= max_labels:
        ax.set_yticks(y)
        ax.set_yticklabels([labels[i] if labels else str(i) for i in idx], fontsize="small")
    else:
        ax.set_ylabel("datasets, sorted by estimate")
    ax.set_ylim(-1, max(idx.size, 1))
    ax.set_xlabel(param)
    left_out = n - idx.size
    title = f"{param}: {idx.size:,} datasets"
    if left_out:
        title += f" ({left_out:,} not converged, left out)"
    ax.set_title(title)
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_status(batch: FitResult, *, ax=None):
    """Bar chart of a batch's status counts (every :class:`~jaxmle.Status`, zeros included).

    Args:
        batch: a batch :class:`~jaxmle.FitResult` (a single fit counts as a batch of one).
        ax: matplotlib axes (a new figure when ``None``).

    Returns:
        The matplotlib ``Axes``.

    Example:
        >>> import jax, numpy as np
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jaxmle as jm
        >>> from jaxmle.plot import plot_status
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = np.random.default_rng(5).normal(0.0, 1.0, size=(30, 20))
        >>> ax = plot_status(jm.fit_dist("normal", x))
        >>> [t.get_text() for t in ax.get_xticklabels()][:2], float(ax.patches[0].get_height())
        (['CONVERGED', 'MAX_ITER'], 30.0)
        >>> matplotlib.pyplot.close("all")
    """
    batch = _batch(batch, "plot_status")
    status = np.asarray(batch.status).ravel()
    names = [s.name for s in Status]
    counts = np.array([float(np.sum(status == s)) for s in Status])
    ax = _axes(ax)
    colors = ["C2" if s == Status.CONVERGED else "C3" for s in Status]
    x = np.arange(len(names))
    ax.bar(x, counts, color=colors)
    for xi, c in zip(x, counts):
        ax.annotate(f"{int(c):,}", (xi, c), ha="center", va="bottom", fontsize="small",
                    xytext=(0, 2), textcoords="offset points")  # fmt: skip
    ax.set_xticks(x)
    ax.set_xticklabels(names, fontsize="small")
    ax.set_ylabel("datasets")
    ax.set_ylim(0, max(int(counts.max()), 1) * 1.12)
    ax.set_title(f"status of {status.size:,} fits")
    return ax
