"""Presentation of results, apart from the data: the summary tables, status counts and
number formats that :mod:`jaxmle.results`, the command line and the demo print. Formatting
happens outside ``jit``, from host values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from ._status import Status
from .constraints import Bounded, Real
from .inference import two_sided_p_t

__all__ = ["fmt", "fmt_value", "status_counts", "single_summary", "batch_summary"]


def fmt(x: float, width: int = 11) -> str:
    """A number right-aligned in ``width`` characters (6 significant digits, or exponent
    notation for very large or small magnitudes; ``nan``, ``inf`` spelled out)."""
    if not np.isfinite(x):
        return f"{'nan' if np.isnan(x) else ('inf' if x > 0 else '-inf'):>{width}}"
    ax = abs(x)
    if ax != 0 and (ax >= 1e6 or ax < 1e-4):
        return f"{x:>{width}.4e}"
    return f"{x:>{width}.6g}"


def status_counts(status: np.ndarray) -> str:
    """Counts per status of a batch: ``"9,963 converged, 30 max iter, 7 nonfinite"``."""
    parts = []
    for s in Status:
        n = int(np.sum(status == s))
        if n:
            parts.append(f"{n:,} {s.name.lower().replace('_', ' ')}")
    return ", ".join(parts) if parts else "empty"


def _unconstrained(c) -> bool:
    """Whether a constraint is the whole real line (a test against any value is inside)."""
    return isinstance(c, Real) or (
        isinstance(c, Bounded) and not (math.isfinite(c.low) or math.isfinite(c.high))
    )


def _null_values(res, null) -> dict[str, float]:
    """``null=`` of :meth:`FitResult.summary` per flattened name, checked against the support."""
    if null is None:
        return {}
    if not isinstance(null, Mapping):
        raise TypeError(f"null must be a dict from parameter name to value, got {null!r}")
    model = res.model
    names = res.param_names
    out: dict[str, float] = {}
    for key, value in null.items():
        if key in model.spec:
            c = model.spec[key]
            flat = np.broadcast_to(np.asarray(value, float), c.shape).reshape(-1)
            start = names.index(key if c.shape == () else f"{key}[{','.join('0' * len(c.shape))}]")
            comps = {names[start + j]: (c, float(flat[j])) for j in range(c.size)}
        elif key in names:
            c = next(model.spec[k] for k, sl, _ in model.param_blocks() if key in names[sl])
            comps = {key: (c, float(value))}
        else:
            raise ValueError(f"null has unknown parameter {key!r}; the components are {names}")
        for name, (c, v) in comps.items():
            if not (np.isfinite(v) and bool(np.all(c.check(np.asarray(v))))):
                raise ValueError(
                    f"null value {v} of {name!r} is not inside its support ({c.describe()}): a "
                    "Wald test there is not defined; for a null on the edge of the parameter "
                    "space (a variance or an overdispersion of 0) fit the null model and use "
                    "jm.lr_test, which takes the boundary into account"
                )
            out[name] = v
    return out


def _row_tests(res, est, se, null: dict):
    """Per flattened parameter: the Wald statistic of its null and how it was built
    (``"natural"``, ``"link"``: on the log / logit scale, ``"fixed"``, or ``None``: no test)."""
    model = res.model
    names = res.param_names
    z = np.full(len(names), np.nan)
    kind: list[str | None] = [None] * len(names)
    fixed = set(res.fixed)
    for key, sl, _ in model.param_blocks():
        c = model.spec[key]
        for j in range(sl.start, sl.stop):
            name = names[j]
            if name in fixed:
                kind[j] = "fixed"
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                if _unconstrained(c):
                    z[j] = (est[j] - null.get(name, 0.0)) / se[j]
                    kind[j] = "natural"
                elif name in null:
                    eta, deta = (np.asarray(t) for t in c.link(jnp.asarray(est[j])))
                    eta0, _ = c.link(jnp.asarray(null[name], jnp.asarray(est[j]).dtype))
                    z[j] = (eta - float(eta0)) / (se[j] * abs(deta))
                    kind[j] = "link"
    return z, kind


def single_summary(res, level: float, method: str, null=None) -> str:
    """The table of :meth:`jaxmle.FitResult.summary` for one fit."""
    model = res.model
    est = np.asarray(model.flatten(res.params))
    se = np.asarray(model.flatten(res.se))
    ci = res.conf_int(level, method)
    lo = np.asarray(model.flatten({k: v[0] for k, v in ci.items()}))
    hi = np.asarray(model.flatten({k: v[1] for k, v in ci.items()}))
    nulls = _null_values(res, null)
    z, kind = _row_tests(res, est, se, nulls)
    df = None if res.df_resid is None else float(res.df_resid)
    p = np.asarray(two_sided_p_t(jnp.asarray(z), df))
    stat = "z" if df is None else "t"
    a = (1 - level) / 2
    names = res.param_names
    w = max(10, max(len(n) for n in names) + 1)
    status = Status(int(res.status))
    nobs = float(res.nobs)
    cov = res.cov_type + (
        "" if res.information == "observed" else f" ({res.information} information)"
    )
    lines = [
        f"jaxmle fit: {model.name}",
        f"  status: {status.name}    iterations: {int(res.n_iter)}    "
        f"|grad|: {float(res.grad_norm):.2e}    cov_type: {cov}",
        f"  log-likelihood: {float(res.loglik):.6g}    AIC: {float(res.aic):.6g}    "
        f"BIC: {float(res.bic):.6g}",
        f"  observations: {nobs:g}    free parameters: {res.n_params}",
        *_se_note(res),
        "",
        f"{'':<{w}}{'estimate':>11}{'std err':>11}{stat:>9}{f'P>|{stat}|':>9}"
        f"{f'[{a:.3g}':>12}{f'{1 - a:.3g}]':>12}",
    ]
    for j, name in enumerate(names):
        if kind[j] == "fixed":
            lines.append(f"{name:<{w}}{fmt(est[j])}{'fixed':>11}")
            continue
        if kind[j] is None:
            zs = ps = f"{'':>9}"
        else:
            mark = "*" if kind[j] == "link" else ""
            zs = f"{f'{z[j]:.3f}{mark}':>9}" if np.isfinite(z[j]) else f"{'nan':>9}"
            ps = f"{p[j]:>9.3g}" if np.isfinite(p[j]) else f"{'nan':>9}"
        lines.append(
            f"{name:<{w}}{fmt(est[j])}{fmt(se[j])}{zs}{ps}{fmt(lo[j], 12)}{fmt(hi[j], 12)}"
        )
    lines += _test_footer(res, names, kind, nulls, stat, df)
    lines.append(_interval_note(res, method))
    at_limit = _params_at_limit(res)
    yes = {True: "yes", False: "NO"}
    lines += [
        "",
        "health:",
        f"  valid maximum:                    {yes[bool(status == Status.CONVERGED)]}",
        f"  information positive definite:    "
        f"{yes[bool(res.info_ok)] if res.se_computed else 'not computed'}",
        f"  parameters at a limit:            {', '.join(at_limit) if at_limit else 'none'}",
        f"  below the iteration limit:        {yes[status != Status.MAX_ITER]}",
        f"  finite log-likelihood:            {yes[status != Status.NONFINITE]}",
    ]
    return "\n".join(lines)


def _test_footer(res, names, kind, nulls, stat, df) -> list[str]:
    """What the z (or t) and p columns test."""
    ref = "the normal" if df is None else f"t({df:g})"
    natural = [n for n, k in zip(names, kind) if k == "natural"]
    against = sorted({nulls.get(n, 0.0) for n in natural})
    out = [""]
    if natural:
        value = f"= {against[0]:g}" if len(against) == 1 else "= its null= value"
        out.append(f"{stat}, P: Wald test of each unbounded parameter {value}, against {ref}")
    link = [n for n, k in zip(names, kind) if k == "link"]
    if link:
        tested = ", ".join(f"{n} = {nulls[n]:g}" for n in link)
        out.append(f"{stat}*: on the log / logit scale of the parameter, H0: {tested}")
    blank = [n for n, k in zip(names, kind) if k is None]
    if blank:
        out.append(
            f"no test for {', '.join(blank)}: positive, bounded or simplex, with no null inside "
            "its support (give one with summary(null={...}); for a null on the edge, such as "
            "an overdispersion of 0, use jm.lr_test)"
        )
    fixed = [n for n, k in zip(names, kind) if k == "fixed"]
    if fixed:
        out.append(f"fixed (not estimated): {', '.join(fixed)}")
    if res.df_resid is not None:
        why = "clusters - 1" if res.cov_type == "cluster" else "n - p, the unbiased variance"
        out.append(f"reference distribution: t({df:g}) ({why}), for the intervals too")
    return out


def _interval_note(res, method: str) -> str:
    """What the interval columns are."""
    if method == "profile":
        return "intervals: profile likelihood"
    if method == "wald" or all(_unconstrained(c) for c in res.model.spec.values()):
        return "intervals: Wald, estimate -/+ critical value * SE"
    return (
        "intervals: Wald on the log / logit scale of positive / bounded parameters, mapped "
        "back (method='wald' for the natural scale)"
    )


def _se_note(res) -> list[str]:
    if res.se_computed:
        return []
    return [
        "  standard errors: not computed (fitted with se=False); refit with se=True "
        "for standard errors and intervals"
    ]


def _params_at_limit(res) -> list[str]:
    at = np.asarray(res.at_limit)
    return [key for key, _, free in res.model.param_blocks() if np.any(at[free])]


def batch_summary(res, level: float) -> str:
    """The table of :meth:`jaxmle.FitResult.summary` for a batch: status counts, quantiles."""
    status = np.asarray(res.status)
    n = status.shape[0]
    lines = [
        f"jaxmle batch fit: {res.model.name}, {n:,} datasets",
        f"  status: {status_counts(status)}",
        *_se_note(res),
        "",
        "estimates over converged datasets (quantiles):",
    ]
    ok = status == Status.CONVERGED
    est = np.asarray(res.model.flatten_batched(res.params, res.batch_shape))
    se = np.asarray(res.model.flatten_batched(res.se, res.batch_shape))
    names = res.param_names
    w = max(10, max(len(x) for x in names) + 1)
    qs = (0.0, 0.05, 0.5, 0.95, 1.0)
    lines.append(f"{'':<{w}}" + "".join(f"{f'q{q:g}':>12}" for q in qs) + f"{'median se':>12}")
    for j, name in enumerate(names):
        if ok.any():
            vals = np.quantile(est[ok, j], qs)
            mse = float(np.nanmedian(se[ok, j])) if np.isfinite(se[ok, j]).any() else math.nan
        else:
            vals, mse = [math.nan] * len(qs), math.nan
        lines.append(f"{name:<{w}}" + "".join(fmt(v, 12) for v in vals) + fmt(mse, 12))
    return "\n".join(lines)


def fmt_value(v, spec: str) -> str:
    """``v`` formatted with ``spec``, or ``-`` for a missing value (``None``)."""
    if v is None:
        return "-"
    return format(float(v), spec)
