"""Goodness of fit of a fitted continuous family, and comparison of families.

:func:`gof_statistics` computes, from the fitted CDF at the sorted
observations ``x_(1) <= ... <= x_(n)`` (``F_i = F(x_(i))``), the three
classical EDF statistics that R's ``fitdistrplus::gofstat`` reports:

* Kolmogorov-Smirnov ``D = max_i max(i/n - F_i, F_i - (i-1)/n)``;
* Cramer-von Mises ``W^2 = 1/(12n) + sum_i ((2i-1)/(2n) - F_i)^2``;
* Anderson-Darling
  ``A^2 = -n - (1/n) sum_i (2i-1) (log F_i + log(1 - F_(n+1-i)))``,
  with ``log F`` and ``log(1 - F)`` from the family's ``logcdf`` and
  ``logsf``, so it stays finite far in the tails.

They are the statistics of ``scipy.stats.kstest`` and
``scipy.stats.cramervonmises`` with the fitted distribution's CDF.

**No p-values.** The standard tables and asymptotic distributions of these
statistics assume that the hypothesized distribution is fully specified in
advance. When its parameters were estimated from the same data (as here),
the statistics are stochastically smaller and those p-values are far too
large (conservative); as ``fitdistrplus`` says, they do not apply. The
statistics are useful to compare fits of several families to the same data
(smaller is better), or as input to a parametric bootstrap.

:func:`compare_families` fits several families to the same data (complete,
right-, left- or interval-censored) with :func:`~jaxmle.distributions.fit_dist`
and ranks them by AICc (the default), AIC or BIC, like ``fitdistrplus::gofstat``
on a list of fits, lifelines' ``find_best_parametric_model``, surpyval's
``fit_best`` or ``reliability``'s ``Fit_Everything``; :func:`format_table`
prints its rows. For censored data the EDF statistics it reports compare the
fitted CDF with the nonparametric (Kaplan-Meier or Turnbull) estimate over the
range where that estimate is determined
(:func:`jaxmle.nonparametric.np_edf_statistics`: the largest distance, and the
Cramer-von Mises and Anderson-Darling integrals ``n int (F_np - F)^2 dF`` and
``n int (F_np - F)^2 / (F (1 - F)) dF``), which are the three statistics above
for complete data.

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmle.distributions import fit_dist
    >>> from jaxmle.distributions.gof import gof_statistics
    >>> x = jnp.array([0.5, 1.2, 1.9, 2.3, 3.1, 4.0])
    >>> stats = gof_statistics("normal", fit_dist("normal", x), x)
    >>> sorted(stats)
    ['ad', 'cvm', 'ks']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._compile import is_traced, tuned_jit
from .._format import fmt_value
from ..nonparametric import np_edf_statistics
from .base import Distribution
from .continuous import ParetoDist
from .registry import resolve

__all__ = [
    "gof_statistics",
    "format_table",
    "DEFAULT_FAMILIES",
    "CRITERIA",
]

#: the families :func:`compare_families` tries by default
DEFAULT_FAMILIES = ("normal", "lognormal", "gamma", "weibull", "exponential", "loglogistic")
"""The continuous families that :func:`compare_families` fits when none are given.

Example:
    >>> from jaxmle.distributions import DEFAULT_FAMILIES
    >>> DEFAULT_FAMILIES
    ('normal', 'lognormal', 'gamma', 'weibull', 'exponential', 'loglogistic')
"""

GOF_KEYS = ("ks", "cvm", "ad")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def continuous_only(dist: Distribution, what: str) -> Distribution:
    if not dist.continuous:
        raise ValueError(
            f"{what} is for continuous families; {dist.name!r} is discrete (its CDF is a step "
            "function, so the EDF statistics' definitions do not apply)"
        )
    return dist


def family_label(family: Any, dist: Distribution) -> str:
    if isinstance(family, str):
        return dist.name
    if all(v is None for v in dist.options.values()):
        return dist.name
    return repr(dist)


# --------------------------------------------------------------------------
# the statistics: one dataset, pure jax.numpy (vmapped for a batch)
# --------------------------------------------------------------------------
def _gof_one(dist: Distribution, params: Mapping[str, Any], x, valid):
    """KS, CvM and AD of one dataset ``x`` (shape ``(N,)``), counting ``valid`` ones only."""
    size = x.shape[0]
    n = jnp.sum(valid).astype(x.dtype)
    if isinstance(dist, ParetoDist) and "scale" not in params and dist.scale is None:
        # the scale the Pareto model used: the smallest (unmasked) positive observation
        pos = valid & (x > 0)
        params = {**params, "scale": jnp.min(jnp.where(pos, x, jnp.inf))}
    xs = jnp.sort(jnp.where(valid, x, jnp.inf))  # missing values pushed to the end
    used = jnp.arange(size) < n
    xs = jnp.where(used, xs, xs[0])  # a harmless stand-in where not used
    lc, ls = dist.logcdf_logsf(xs, params)
    cdf = jnp.exp(lc)
    i = jnp.arange(1, size + 1, dtype=x.dtype)
    nn = jnp.maximum(n, 1.0)

    d_plus = jnp.where(used, i / nn - cdf, -jnp.inf)
    d_minus = jnp.where(used, cdf - (i - 1.0) / nn, -jnp.inf)
    ks = jnp.maximum(jnp.max(d_plus), jnp.max(d_minus))

    cvm = 1.0 / (12.0 * nn) + jnp.sum(jnp.where(used, ((2.0 * i - 1.0) / (2.0 * nn) - cdf) ** 2, 0))

    # sum_i (2i-1) log(1 - F_(n+1-i)) = sum_k (2n+1-2k) log(1 - F_(k)): no reversal needed
    terms = (2.0 * i - 1.0) * lc + (2.0 * nn + 1.0 - 2.0 * i) * ls
    ad = -nn - jnp.sum(jnp.where(used, terms, 0.0)) / nn

    nan = jnp.asarray(jnp.nan, x.dtype)
    return {k: jnp.where(n > 0, v, nan) for k, v in (("ks", ks), ("cvm", cvm), ("ad", ad))}


@tuned_jit(static_argnums=0)
def gof_arrays(dist, params, x, valid):
    """The statistics of one dataset or a batch; compiled once per family and shape."""
    if x.ndim == 1:
        return _gof_one(dist, params, x, valid)
    return jax.vmap(lambda p, xi, vi: _gof_one(dist, p, xi, vi))(params, x, valid)


def gof_statistics(
    family: str | Distribution,
    result: Any,
    x: Any,
    *,
    mask: Any = None,
    event: Any = None,
) -> dict[str, jax.Array]:
    """Kolmogorov-Smirnov, Cramer-von Mises and Anderson-Darling statistics of a fit.

    The statistics compare the fitted CDF with the empirical one at the
    sorted observations (see :mod:`jaxmle.distributions.gof` for the
    formulas). They equal ``scipy.stats.kstest(x, cdf).statistic`` and
    ``scipy.stats.cramervonmises(x, cdf).statistic`` with the fitted
    parameters. Missing values (NaN, or ``mask`` false) are sorted to the end
    and left out of ``n``, so a ragged batch can be NaN-padded.

    P-values are deliberately not returned: the standard tables assume a
    distribution specified in advance and do not apply when its parameters
    were estimated from the same data (``fitdistrplus`` makes the same
    point). Use the statistics to compare families (smaller is better) or in
    a parametric bootstrap.

    The computation is pure ``jax.numpy`` (``jit``/``vmap`` compatible in
    ``x``, ``mask`` and the parameters).

    Args:
        family: a continuous family's name (``"weibull"``) or a
            :class:`~jaxmle.distributions.Distribution`.
        result: its :class:`~jaxmle.FitResult` from
            :func:`~jaxmle.distributions.fit_dist` (or :func:`jaxmle.fit`
            with the family's model): a single fit for ``x`` of shape
            ``(n,)``, a batch fit for ``(B, n)``. For the Pareto family with
            no fixed ``scale`` option, the scale is the smallest valid
            observation of each dataset, as in the fit; then
            ``F(x_(1)) = 0``, so ``ad`` is ``inf`` (use ``ks`` and ``cvm``).
        x: the observations, ``(n,)`` or ``(B, n)``; NaN means missing.
        mask: optional booleans of ``x``'s shape; false leaves an
            observation out (pass the mask of the fit).
        event: optional event indicators (1 observed, 0 right-censored);
            accepted only when every used observation is an event.

    Returns:
        dict ``{"ks": D, "cvm": W2, "ad": A2}`` of arrays of shape ``()`` or
        ``(B,)``; NaN for a dataset with no observations. ``ad`` is ``inf``
        when an observation lies outside (or on the edge of) the fitted
        support.

    Raises:
        ValueError: censored or truncated data (the statistics here are for
            complete samples), a discrete family, a result whose parameters
            do not match the family, or inconsistent shapes.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import fit_dist
        >>> from jaxmle.distributions.gof import gof_statistics
        >>> x = jnp.array([0.5, 1.2, 1.9, 2.3, 3.1, 4.0])
        >>> res = fit_dist("normal", x)
        >>> stats = gof_statistics("normal", res, x)
        >>> {k: round(float(v), 4) for k, v in stats.items()}
        {'ks': 0.1316, 'cvm': 0.0201, 'ad': 0.1552}

        A NaN-padded batch of two datasets:

        >>> xb = jnp.array([[0.5, 1.2, 1.9, 2.3, 3.1, 4.0],
        ...                 [2.0, 0.7, 1.1, 5.0, jnp.nan, jnp.nan]])
        >>> resb = fit_dist("normal", xb, nan_policy="omit")
        >>> gof_statistics("normal", resb, xb)["ks"].round(4).tolist()
        [0.1316, 0.2973]
    """
    dist = continuous_only(resolve(family), "gof_statistics")
    if isinstance(x, Mapping):
        extra = sorted(set(x) - {"x", "event"})
        if extra:
            raise ValueError(
                f"gof_statistics needs complete (uncensored, untruncated) data; got {extra} "
                "(interval censoring or truncation is not supported)"
            )
        if event is not None and "event" in x:
            raise ValueError("event given twice: in the data dict and as event=")
        event = x.get("event", event)
        x = x["x"]
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (n,) or (B, n), got {x.shape}")
    lead = x.shape[:-1]

    params = getattr(result, "params", None)
    if not isinstance(params, Mapping):
        raise TypeError(f"result must be a FitResult (with .params), got {type(result).__name__}")
    missing = [k for k in dist.param_names if k not in params]
    if missing:
        raise ValueError(
            f"the result's parameters {sorted(params)} do not match the {dist.name} family's "
            f"{list(dist.param_names)}"
        )
    params = {k: jnp.asarray(params[k]) for k in dist.param_names}
    for k, v in params.items():
        if v.shape != lead:
            want = "a batch fit with shape " + str(lead) if lead else "a single fit (scalars)"
            raise ValueError(
                f"x has shape {x.shape}, so the result must be {want}; parameter {k!r} has "
                f"shape {v.shape}"
            )

    valid = jnp.isfinite(x)
    if mask is not None:
        mask = jnp.asarray(mask)
        if mask.shape != x.shape:
            raise ValueError(f"mask has shape {mask.shape}; expected {x.shape}")
        valid = valid & (mask != 0)
    if event is not None:
        if is_traced(event):
            raise TypeError("event must be a concrete array (it is only checked, not used)")
        ev = np.broadcast_to(np.asarray(event), x.shape)
        if is_traced(valid):
            censored = int(np.sum(ev == 0))
        else:
            censored = int(np.sum((ev == 0) & np.asarray(valid)))
        if censored:
            raise ValueError(
                f"gof_statistics needs uncensored data, but {censored} observation(s) are "
                "right-censored (event == 0); the KS, CvM and AD statistics here are for "
                "complete samples (compare_families gives them for censored data, against the "
                "Kaplan-Meier estimate: jaxmle.nonparametric.np_edf_statistics)"
            )
    out = gof_arrays(dist, params, x, valid)
    return {k: out[k] for k in GOF_KEYS}  # jit returns dict keys sorted


# --------------------------------------------------------------------------
# comparing families
# --------------------------------------------------------------------------
#: the ranking criteria of :func:`compare_families`
CRITERIA = ("aicc", "aic", "bic")


def censored_edf(dist, params, bounds, valid, censored) -> dict[str, np.ndarray]:
    """:func:`~jaxmle.nonparametric.np_edf_statistics` of each censored dataset (NaN for the
    others), on the host."""
    lo, hi = (np.asarray(b, float) for b in bounds)
    out = {k: np.full(censored.shape, np.nan) for k in GOF_KEYS}
    cdf_jit = _cdf_fn(dist)
    for idx in zip(*np.nonzero(np.atleast_1d(censored))):
        ix = idx if censored.ndim else ()
        p = {k: np.asarray(v)[ix] for k, v in params.items()}
        keep = np.atleast_1d(valid)[ix] if censored.ndim else valid
        if not keep.any() or not all(np.all(np.isfinite(v)) for v in p.values()):
            continue
        a, b = (lo[ix] if censored.ndim else lo)[keep], (hi[ix] if censored.ndim else hi)[keep]

        def cdf(t, p=p):
            return np.exp(np.asarray(cdf_jit(jnp.asarray(t, float), p), float))

        for k, v in np_edf_statistics(cdf, a, b).items():
            out[k][ix] = v
    return out


def _cdf_fn(dist):
    return jax.jit(lambda t, p: dist.logcdf(t, p))


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of the rows of :func:`compare_families` (one dataset).

    Columns: family, number of free parameters ``k``, log-likelihood, AIC,
    AICc, BIC, the difference of the ranking criterion to the first row's
    (``dAICc``, ``dAIC`` or ``dBIC``), the KS, CvM and AD statistics (for
    censored data against the nonparametric estimate; ``-`` where absent), and
    status.

    Args:
        rows: the list returned by :func:`compare_families` for one dataset
            (any sequence of dicts with those keys).

    Returns:
        The table as a string, one line per row under a header.

    Raises:
        TypeError: ``rows`` is a batch result (a dict) rather than a list
            of rows.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions.gof import compare_families, format_table
        >>> x = jnp.array([0.5, 1.2, 1.9, 2.3, 3.1, 4.0])
        >>> print(format_table(compare_families(x, families=("normal", "gamma"))))
        family  k   loglik      AIC     AICc      BIC  dAICc      KS     CvM      AD  status
        ------  -  -------  -------  -------  -------  -----  ------  ------  ------  ---------
        gamma   2  -9.3246  22.6493  26.6493  22.2328   0.00  0.1633  0.0255  0.1932  CONVERGED
        normal  2  -9.3892  22.7783  26.7783  22.3618   0.13  0.1316  0.0201  0.1552  CONVERGED
    """
    if isinstance(rows, Mapping):
        raise TypeError(
            "format_table takes the list of rows that compare_families returns for one "
            "dataset; for a batch, index its arrays (e.g. result['aic'][:, i])"
        )
    rows = list(rows)
    crit = rows[0].get("criterion", "aic") if rows else "aic"
    best = rows[0][crit] if rows else None
    names = {"aic": "AIC", "aicc": "AICc", "bic": "BIC"}
    header = ["family", "k", "loglik", "AIC", "AICc", "BIC", f"d{names[crit]}", "KS", "CvM",
              "AD", "status"]  # fmt: skip
    body = []
    for r in rows:
        delta = None if best is None or not math.isfinite(best) else r[crit] - best
        body.append(
            [
                str(r["family"]),
                str(r["n_params"]),
                fmt_value(r["loglik"], ".4f"),
                fmt_value(r["aic"], ".4f"),
                fmt_value(r.get("aicc"), ".4f"),
                fmt_value(r["bic"], ".4f"),
                fmt_value(delta, ".2f"),
                *(fmt_value(r.get(k), ".4f") for k in GOF_KEYS),
                str(r["status"]),
            ]
        )
    cols = list(zip(header, *body)) if body else [(h,) for h in header]
    widths = [max(len(c) for c in col) for col in cols]
    left = {0, len(header) - 1}

    def line(cells):
        out = [
            c.ljust(w) if j in left else c.rjust(w) for j, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(out).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)]
    lines += [line(cells) for cells in body]
    return "\n".join(lines)
