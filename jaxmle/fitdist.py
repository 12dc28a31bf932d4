"""Fitting a distribution family by name: :func:`fit_dist` (one dataset or a batch) and
:func:`compare_families` (several families fitted to the same data, ranked).

The densities live in :mod:`jaxmle.distributions`, below the fit; fitting them by name
lives here, above it. Both names are re-exported where they were first defined:
``jm.fit_dist``, ``jaxmle.distributions.fit_dist`` and ``jaxmle.distributions.compare_families``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._compile import is_traced
from ._problem import NAN_POLICIES, fmt_idx
from .distributions.base import Distribution
from .distributions.discrete import CategoricalDist, MultinomialDist
from .distributions.families import model_for
from .distributions.gof import (
    CRITERIA,
    DEFAULT_FAMILIES,
    GOF_KEYS,
    censored_edf,
    continuous_only,
    family_label,
    gof_arrays,
)
from .distributions.registry import resolve
from .fit import fit, fit_batch
from .results import Status

__all__ = ["fit_dist", "compare_families"]


def _host(name, v):
    if v is None:
        return None
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(v)):
        raise TypeError(f"fit_dist needs concrete arrays; {name} is traced (use jm.fit instead)")
    arr = np.asarray(v)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; fit_dist needs numeric arrays")
    return arr


def _bad_message(bad, batch) -> str:
    if batch:
        ds = np.flatnonzero(bad.any(axis=1))
        obs = np.flatnonzero(bad[ds[0]])
        where = f"datasets {fmt_idx(ds)}; in dataset {int(ds[0])}, observations {fmt_idx(obs)}"
    else:
        where = f"observations {fmt_idx(np.flatnonzero(bad))}"
    return (
        f"data contains NaN or invalid infinite values in {where}. Pass nan_policy='omit' to "
        "drop those observations, or nan_policy='propagate' to fit anyway (status NONFINITE)"
    )


def fit_dist(
    family: str | Distribution,
    x: Any = None,
    *,
    event: Any = None,
    lower: Any = None,
    upper: Any = None,
    entry: Any = None,
    weights: Any = None,
    mask: Any = None,
    init: dict | None = None,
    nan_policy: str = "raise",
    cov_type: str = "observed",
    max_iter: int | None = None,
    tol: float | None = None,
    method: str = "trust",
    information: str = "observed",
    **family_options: Any,
):
    """Fit a distribution family by maximum likelihood: one dataset, or a batch of them.

    Args:
        family: a family name: ``bernoulli``, ``binomial``, ``categorical``,
            ``multinomial``, ``poisson``, ``negative_binomial``, ``geometric``,
            ``exponential``, ``normal``, ``lognormal``, ``gamma``, ``weibull``,
            ``beta``, ``student_t``, ``laplace``, ``logistic``,
            ``loglogistic``, ``gumbel`` (maximum; also ``gumbel_max``), ``gumbel_min``
            (minimum, the smallest extreme value), ``pareto``, ``weibull_3p`` and
            ``lognormal_3p`` (with a ``threshold``, the location below which no unit
            fails), ``weibull_mixture`` (two Weibull subpopulations) (or a
            :class:`~jaxmle.distributions.Distribution`).
        x: observations, shape ``(n,)`` for one dataset or ``(B, n)`` for
            ``B`` datasets fitted at once with :func:`jaxmle.fit_batch` (pad
            ragged datasets with NaN and pass ``nan_policy="omit"``). For the
            multinomial, counts ``(n, k)`` or ``(B, n, k)``.
        event: with ``x`` (continuous families): 1 observed, 0 right-censored.
        lower, upper: interval censoring instead of ``x`` (continuous
            families): ``lower == upper`` exact, ``upper = inf``
            right-censored, ``lower`` at the bottom of the support (``-inf``,
            or ``0`` for positive families) left-censored.
        entry: left-truncation times (delayed entry), same shape as the data
            (or a scalar).
        weights, mask, init, cov_type, max_iter, tol, method, information: as in
            :func:`jaxmle.fit`.
        nan_policy: ``"raise"``, ``"omit"`` or ``"propagate"`` for NaN values
            (and infinite ones, except infinite censoring bounds, which are
            valid here).
        **family_options: the family's fixed options: ``trials=`` (binomial,
            required), ``k=`` (categorical: default ``max(x) + 1``;
            multinomial: default ``x.shape[-1]``), ``scale=`` (pareto: default
            the smallest observation of each dataset).

    Returns:
        A :class:`~jaxmle.FitResult` (a batch one for batched data).

    Raises:
        ValueError: an unknown family (the message lists the known ones),
            censoring arguments for a discrete family, inconsistent shapes,
            ``lower > upper``, or non-finite data under ``nan_policy="raise"``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import fit_dist
        >>> res = fit_dist("poisson", jnp.array([[1, 2, 3], [0, 0, 3]]))  # two datasets
        >>> res.params["rate"].tolist()
        [2.0, 1.0]
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    x, event, lower, upper, entry = (
        _host(n, v) for n, v in
        [("x", x), ("event", event), ("lower", lower), ("upper", upper), ("entry", entry)]
    )  # fmt: skip
    options = dict(family_options)
    base = resolve(family)

    # which layout
    censor_args = [n for n, v in [("event", event), ("lower", lower), ("upper", upper),
                                  ("entry", entry)] if v is not None]  # fmt: skip
    if not base.continuous and censor_args:
        raise ValueError(
            f"{base.name} is discrete: censoring and truncation ({', '.join(censor_args)}) are "
            "supported for the continuous families only"
        )
    interval = lower is not None or upper is not None
    if interval:
        if lower is None or upper is None:
            raise ValueError("interval censoring needs both lower= and upper=")
        if x is not None or event is not None:
            raise ValueError("give either x= (with optional event=) or lower=/upper=, not both")
        main = lower.astype(float)
    else:
        if x is None:
            raise ValueError("fit_dist needs the observations x (or lower= and upper=)")
        main = x
    multi = isinstance(base, MultinomialDist)
    obs_ndim = main.ndim - (1 if multi else 0)
    if obs_ndim not in (1, 2):
        want = "(n, k) or (B, n, k)" if multi else "(n,) or (B, n)"
        raise ValueError(f"the data must have shape {want}, got {main.shape}")
    batch = obs_ndim == 2
    obs_shape = main.shape[:obs_ndim]

    # family options that default from the data
    if multi and options.get("k") is None:
        options["k"] = int(main.shape[-1])
    if isinstance(base, CategoricalDist) and options.get("k") is None:
        top = np.nanmax(np.where(np.isfinite(main), main, np.nan)) if main.size else 0
        options["k"] = max(int(top) + 1 if np.isfinite(top) else 2, 2)
    dist = base.with_options(**options)
    model = model_for(dist)

    # data dict, and observations to leave out
    def same_shape(name, v, allow_scalar=False):
        if allow_scalar and v.ndim == 0:
            return np.broadcast_to(v, obs_shape)
        if v.shape != obs_shape:
            raise ValueError(f"{name} has shape {v.shape}; expected {obs_shape}")
        return v

    def nan(v):
        return np.isnan(v) if v.dtype.kind == "f" else np.zeros(v.shape, bool)

    if interval:
        upper = same_shape("upper", upper).astype(float)
        lower = lower.astype(float)
        bad = nan(lower) | nan(upper) | (lower == np.inf) | (upper == -np.inf)
        wrong = ~bad & (lower > upper)
        if wrong.any():
            raise ValueError(
                f"lower > upper in observations {fmt_idx(np.flatnonzero(wrong.ravel()))}"
            )
        data = {"lower": lower, "upper": upper}
    else:
        if multi:
            bad = ~np.all(np.isfinite(x), axis=-1)
        else:
            bad = ~np.isfinite(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
        data = {"x": x}
        if event is not None:
            event = same_shape("event", event)
            bad = bad | nan(event)
            data["event"] = event
    if entry is not None:
        entry = same_shape("entry", entry, allow_scalar=True).astype(float)
        bad = bad | nan(entry) | (entry == np.inf)
        data["entry"] = np.array(entry)

    if bad.any():
        if nan_policy == "raise":
            raise ValueError(_bad_message(bad, batch))
        if nan_policy == "omit":
            keep = ~bad
            mask = keep if mask is None else (np.asarray(mask) != 0) & keep
    runner = fit_batch if batch else fit
    return runner(
        model, data, init=init, weights=weights, mask=mask, nan_policy="propagate",
        cov_type=cov_type, max_iter=max_iter, tol=tol, method=method, information=information,
    )  # fmt: skip


def compare_families(
    x: Any = None,
    families: Sequence[str | Distribution] = DEFAULT_FAMILIES,
    *,
    event: Any = None,
    lower: Any = None,
    upper: Any = None,
    criterion: str = "aicc",
    mask: Any = None,
    nan_policy: str = "raise",
    cov_type: str = "observed",
    max_iter: int = 100,
    tol: float | None = None,
) -> list[dict[str, Any]] | dict[str, Any]:
    """Fit several continuous families to the same data and rank them by AICc, AIC or BIC.

    Each family is fitted with :func:`~jaxmle.distributions.fit_dist`
    (``event``, ``lower``, ``upper``, ``mask``, ``nan_policy``, ``cov_type``,
    ``max_iter`` and ``tol`` are passed on; one compilation per family and data
    shape); for uncensored data the :func:`gof_statistics` are added, for
    censored data the same three statistics against the Kaplan-Meier or Turnbull
    estimate, over the range where it is determined
    (:func:`jaxmle.nonparametric.np_edf_statistics`: the largest distance ``ks``,
    and ``cvm``, ``ad`` the Cramer-von Mises and Anderson-Darling integrals; equal
    to the complete-data statistics when nothing is censored). The best family
    is the one with the smallest ``criterion`` among the
    fits with status ``CONVERGED`` (a fit that did not converge, or a family
    whose support excludes some observations, ``loglik = -inf``, never wins).
    AICc, ``AIC + 2k(k + 1) / (n - k - 1)`` with ``n`` the number of
    observations (censored ones included), is AIC corrected for small samples
    (and tends to it as ``n`` grows); the criteria compare non-nested families
    fitted to the same observations; the EDF statistics carry no p-values (see
    :func:`gof_statistics`).

    Args:
        x: observations, ``(n,)`` for one dataset or ``(B, n)`` for a
            batch (pad ragged datasets with NaN and pass
            ``nan_policy="omit"``); ``None`` with ``lower``/``upper``.
        lower, upper: interval censoring instead of ``x`` (as in
            :func:`~jaxmle.distributions.fit_dist`: ``lower == upper`` exact,
            ``upper = inf`` right-censored, ``lower = 0`` left-censored for a
            lifetime).
        criterion: ``"aicc"`` (default), ``"aic"`` or ``"bic"``.
        families: continuous family names or
            :class:`~jaxmle.distributions.Distribution` objects; by default
            :data:`DEFAULT_FAMILIES` (normal, lognormal, gamma, weibull,
            exponential, loglogistic).
        event: optional event indicators (1 observed, 0 right-censored),
            shape of ``x``.
        mask, nan_policy, cov_type, max_iter, tol: as in
            :func:`~jaxmle.distributions.fit_dist`.

    Returns:
        For one dataset, a list of rows (dicts), best first: converged fits
        by increasing ``criterion``, then the others. Each row has
        ``family``, ``n_params``, ``loglik``, ``aic``, ``aicc``, ``bic``,
        ``criterion`` (its name), ``status`` (the :class:`~jaxmle.Status`
        name), ``ks``, ``cvm``, ``ad`` (for censored data against the
        nonparametric estimate, as above), and ``result`` (the :class:`~jaxmle.FitResult`).

        For a batch, a dict of numpy arrays, one row per family in the order
        given: ``families`` (the names), ``criterion``, ``n_params`` ``(F,)``,
        ``loglik``, ``aic``, ``aicc``, ``bic``, ``status``, ``ks``, ``cvm``,
        ``ad`` ``(F, B)``,
        ``best`` ``(B,)`` (index into ``families`` of the smallest converged
        criterion, ``-1`` where no family converged), ``best_family``
        ``(B,)`` (its name, or ``None``), and ``results`` (dict name -> batch
        :class:`~jaxmle.FitResult`).

    Raises:
        ValueError: an empty or duplicated list of families, a discrete
            family, data of the wrong shape, or anything
            :func:`~jaxmle.distributions.fit_dist` rejects.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions.gof import compare_families
        >>> x = jnp.array([0.5, 1.2, 1.9, 2.3, 3.1, 4.0])
        >>> rows = compare_families(x, families=("normal", "exponential"), criterion="aic")
        >>> [(r["family"], r["n_params"], round(r["aic"], 3), r["status"]) for r in rows]
        [('normal', 2, 22.778, 'CONVERGED'), ('exponential', 1, 23.278, 'CONVERGED')]
        >>> round(rows[0]["ks"], 4)
        0.1316
        >>> rows = compare_families(x, families=("normal", "exponential"))  # by AICc: n = 6
        >>> [(r["family"], round(r["aicc"], 3)) for r in rows]
        [('exponential', 24.278), ('normal', 26.778)]
    """
    if isinstance(families, (str, Distribution)):
        families = (families,)
    families = tuple(families)
    if not families:
        raise ValueError("families is empty; give at least one family")
    dists = [continuous_only(resolve(f), "compare_families") for f in families]
    labels = [family_label(f, d) for f, d in zip(families, dists)]
    if len(set(labels)) != len(labels):
        raise ValueError(f"families has duplicates: {labels}")

    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if is_traced((x, event, mask, lower, upper)):
        raise TypeError("compare_families needs concrete arrays (it calls fit_dist)")
    interval = lower is not None or upper is not None
    if interval and (x is not None or event is not None):
        raise ValueError("give either x= (with optional event=) or lower=/upper=, not both")
    if interval and (lower is None or upper is None):
        raise ValueError("interval censoring needs both lower= and upper=")
    if x is None and not interval:
        raise ValueError("compare_families needs the observations x (or lower= and upper=)")
    xa = np.asarray(lower if interval else x)
    if xa.dtype.kind not in "biuf":
        raise TypeError(f"x has dtype {xa.dtype}; compare_families needs numeric arrays")
    xa = xa.astype(np.result_type(xa.dtype, np.float32))
    if xa.ndim not in (1, 2):
        raise ValueError(f"x must have shape (n,) or (B, n), got {xa.shape}")
    batch = xa.ndim == 2

    # which datasets are censored (their EDF statistics are against the nonparametric estimate)
    valid = np.isfinite(xa)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != xa.shape:
            raise ValueError(f"mask has shape {m.shape}; expected {xa.shape}")
        valid = valid & (m != 0)
    if interval:
        la, ua = xa, np.asarray(upper, float)
        if ua.shape != la.shape:
            raise ValueError(f"upper has shape {ua.shape}; expected {la.shape}")
        valid = valid | (np.isfinite(ua) & (mask is None or np.asarray(mask) != 0))
        censored = np.any(valid & (la != ua), axis=-1)
    elif event is None:
        censored = np.zeros(xa.shape[:-1], bool)
    else:
        ev = np.asarray(event)
        if ev.shape != xa.shape:
            raise ValueError(f"event has shape {ev.shape}; expected {xa.shape}")
        censored = np.any(valid & (ev == 0), axis=-1)
    valid_j = jnp.asarray(valid)
    x_j = jnp.asarray(xa)

    # the nonparametric estimate's data per dataset (censored datasets)
    if interval:
        bounds = (xa, np.asarray(upper, float))
    else:
        ev = np.ones(xa.shape, bool) if event is None else np.asarray(event) != 0
        bounds = (xa, np.where(ev, xa, np.inf))

    fits = {}
    for label, dist in zip(labels, dists):
        data = dict(lower=xa, upper=upper) if interval else dict(x=xa, event=event)
        res = fit_dist(
            dist, **data, mask=mask, nan_policy=nan_policy, cov_type=cov_type,
            max_iter=max_iter, tol=tol,
        )  # fmt: skip
        params = {k: res.params[k] for k in dist.param_names}
        if interval:  # (the EDF statistics of complete data: the exact values)
            x_j = jnp.asarray(np.where(xa == bounds[1], xa, np.nan))
        stats = gof_arrays(dist, params, x_j, valid_j & jnp.isfinite(x_j))
        cens = censored_edf(dist, params, bounds, valid, censored)
        stats = {k: np.where(censored, cens[k], np.asarray(v)) for k, v in stats.items()}
        fits[label] = (res, stats)

    if not batch:
        rows = []
        for label, (res, stats) in fits.items():
            row = {
                "family": label,
                "n_params": int(res.n_params),
                "loglik": float(res.loglik),
                "aic": float(res.aic),
                "aicc": float(res.aicc),
                "bic": float(res.bic),
                "criterion": criterion,
                "status": Status(int(res.status)).name,
            }
            row.update({k: float(stats[k]) for k in GOF_KEYS})
            row["result"] = res
            rows.append(row)

        def key(row):
            v = row[criterion]
            return (row["status"] != "CONVERGED", v if math.isfinite(v) else math.inf)

        return sorted(rows, key=key)

    out: dict[str, Any] = {"families": tuple(labels), "criterion": criterion}
    res_list = [fits[label][0] for label in labels]
    out["n_params"] = np.array([int(r.n_params) for r in res_list])
    for name in ("loglik", "aic", "aicc", "bic"):
        out[name] = np.stack([np.asarray(getattr(r, name), float) for r in res_list])
    out["status"] = np.stack([np.asarray(r.status) for r in res_list])
    for k in GOF_KEYS:
        out[k] = np.stack([fits[label][1][k] for label in labels])
    ok = (out["status"] == Status.CONVERGED) & np.isfinite(out[criterion])
    score = np.where(ok, out[criterion], np.inf)
    best = np.where(ok.any(axis=0), np.argmin(score, axis=0), -1)
    out["best"] = best
    names = np.array([*labels, None], dtype=object)
    out["best_family"] = names[best]  # -1 picks the trailing None
    out["results"] = {label: fits[label][0] for label in labels}
    return out
