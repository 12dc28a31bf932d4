"""Tests between models and of hypotheses on the parameters; information criteria.

* :func:`lr_test`: likelihood-ratio test of nested models,
  ``2 (l_alt - l_null) ~ chi2_df``; for one parameter whose null value is on
  the edge of the parameter space (a variance, an overdispersion, a mixing
  weight at 0: detected from the null's fixed values, or ``boundary=True``) the
  reference is the 50:50 mixture ``chi2_{df-1} / chi2_df`` (chi-bar-squared;
  Self and Liang 1987).
* :func:`wald_test`: ``(R theta - r)' (R cov R')^-1 (R theta - r) ~ chi2_q``
  for linear hypotheses on the (natural-space) parameters, with the fit's
  covariance (so ``cov_type="robust"`` / ``"cluster"`` give robust tests).
* :func:`score_test` (Rao / Lagrange multiplier): from a null fit with
  ``fixed=`` only, ``g' I^-1 g`` with the gradient ``g`` and the expected
  information ``I`` of the full model at the null estimate (the observed or
  the OPG where there is no expected one; NaN where it is not positive
  definite), on the natural scale of the parameters.
* :func:`compare`: log-likelihood, parameters, AIC, AICc, BIC, their
  differences and Akaike weights of several fits to the same data.

All of them work on batch results elementwise (one statistic per dataset).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._compile import tuned_jit
from ._problem import problem_of
from ._warnings import InferenceWarning
from .constraints import Simplex
from .fixed import on_edge, structure
from .inference import f_sf, scaled_cholesky_inverse
from .model import NoExpectedInformation

__all__ = [
    "HypothesisTest",
    "Comparison",
    "lr_test",
    "wald_test",
    "score_test",
    "compare",
    "chi2_sf",
]


class HypothesisTest(NamedTuple):
    """A test statistic, its degrees of freedom and p-value (arrays with the batch axis).

    Example:
        >>> from jaxmle.hypothesis import HypothesisTest, chi2_sf
        >>> t = HypothesisTest(3.841458820694124, 1, chi2_sf(3.841458820694124, 1))
        >>> t.df, round(float(t.pvalue), 4)
        (1, 0.05)"""

    statistic: jax.Array
    df: int
    pvalue: jax.Array
    #: whether the information matrix of the statistic was positive definite (score and
    #: Wald tests; None where nothing was checked)
    info_ok: Any = None
    #: the denominator degrees of freedom of an F reference distribution (a Wald test on a
    #: fit with ``df_resid``: cluster-robust, or the linear model's df correction), or None
    df_denom: Any = None
    #: how the p-value was obtained, where it is not the plain chi2 (a boundary mixture)
    note: str = ""


def chi2_sf(x, df):
    """Upper tail ``P(chi2_df > x)``; ``df = 0`` is a point mass at 0.

    Example:
        >>> from jaxmle.hypothesis import chi2_sf
        >>> round(float(chi2_sf(3.841458820694124, 1)), 6)
        0.05
    """
    x = jnp.asarray(x)
    if df == 0:
        return jnp.where(x > 0, 0.0, 1.0).astype(x.dtype)
    return jax.scipy.special.gammaincc(df / 2.0, jnp.maximum(x, 0.0) / 2.0)


def _check_pair(a, b, what):
    if a.batch_shape != b.batch_shape:
        raise ValueError(f"{what}: batch shapes differ ({a.batch_shape} vs {b.batch_shape})")
    na, nb = np.asarray(a.nobs), np.asarray(b.nobs)
    both = np.isfinite(na) & np.isfinite(nb)
    if np.any(both & ~np.isclose(na, nb)):
        raise ValueError(f"{what}: the fits use different numbers of observations ({na} vs {nb})")


def _boundary_nulls(res) -> list[tuple[str, int, int]]:
    """The fixed components of a null fit on a finite end of their support:
    ``(name, flat index, +1 at a lower end / -1 at an upper end)``, the same in every
    dataset of a batch."""
    if not res.fixed or res.fixed_values is None:
        return []
    model = res.model
    names = res.param_names
    starts = {key: sl.start for key, sl, _ in model.param_blocks()}
    out = []
    for key, idx in structure(model, res.fixed):
        values = res.fixed_values[key]
        if isinstance(values, jax.core.Tracer):
            return []
        values = np.asarray(values, dtype=float)[..., 0, :]
        c = model.spec[key]
        for i, j in enumerate(idx):
            edge = on_edge(c, values[..., i])
            if not np.any(edge):
                continue
            if not np.all(edge):
                raise ValueError(
                    f"the null value of {names[starts[key] + j]!r} is on the boundary in some "
                    "datasets of the batch and inside the support in others; test them apart"
                )
            low = bool(np.all(values[..., i] == c.low))
            out.append((names[starts[key] + j], starts[key] + j, 1 if low else -1))
    return out


def _mixture_p(stat, df):
    """``0.5 P(chi2_{df-1} > x) + 0.5 P(chi2_df > x)``: one parameter on the boundary."""
    return 0.5 * chi2_sf(stat, df - 1) + 0.5 * chi2_sf(stat, df)


def _boundary_note(edges, df) -> str:
    where = ", ".join(edges)
    return (
        f"null on the boundary of the parameter space ({where}): p from the 50:50 mixture of "
        f"chi2_{df - 1} and chi2_{df} (Self and Liang 1987)"
    )


def _several_note(edges) -> str:
    return (
        f"{len(edges)} parameters on the boundary under the null ({', '.join(edges)}): the "
        "reference is a chi-bar-squared mixture whose weights depend on the information "
        "matrix; no p-value is given (simulate it with jm.bootstrap of the null, or pass "
        "boundary=False for the conservative chi2)"
    )


def lr_test(
    null_res, alt_res, *, df: int | None = None, boundary: bool | None = None
) -> HypothesisTest:
    """Likelihood-ratio test of a null model nested in an alternative.

    ``LR = 2 (loglik_alt - loglik_null)`` is ``chi2_df`` under the null with
    ``df = alt.n_params - null.n_params`` (the free parameters each fit has;
    a null fitted with ``fixed=`` counts only its free ones).

    A null on the boundary of the parameter space (a null fitted with a
    component fixed on the finite end of its support: an overdispersion or a
    variance of 0, a probability of 0 or 1) is found from the null fit: for one
    such component the p-value is ``0.5 P(chi2_{df-1} > LR) + 0.5 P(chi2_df > LR)``
    (for ``df = 1``: half the ``chi2_1`` p-value; Self and Liang 1987), and the
    test's ``note`` says so. This mixture holds for *one* parameter on the
    boundary; for more, the weights depend on the information matrix, and the
    p-value is NaN with a note and an :class:`~jaxmle.InferenceWarning`.
    A null that is a different model (a Poisson against a negative binomial)
    cannot be recognized: pass ``boundary=True``.

    ``LR`` is never negative: a rounding below 0 (identical fits) is 0, and an
    alternative fit below the null (a failed fit of the larger model) gives NaN
    with an :class:`~jaxmle.InferenceWarning`, as does a fit whose log-likelihood is
    not finite.

    Args:
        null_res, alt_res: fits of the two models to the same data (single
            or batch).
        df: degrees of freedom, when the parameter counts do not give them.
        boundary: ``None`` (default): detect a null on the boundary from the
            null fit's fixed values; ``True``: one restricted parameter is on the
            boundary (the 50:50 mixture); ``False``: the plain ``chi2_df``.

    Returns:
        A :class:`HypothesisTest`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"]),
        ...                  {"mu": jm.Real(), "sigma": jm.Positive()})
        >>> x = jnp.array([0.3, 1.9, 0.8, 1.4, 2.2])
        >>> t = jm.lr_test(jm.fit(model, x, fixed={"mu": 0.0}), jm.fit(model, x))
        >>> t.df, round(float(t.statistic), 4)                 # n log(1 + mean^2 / var)
        (1, 7.6174)
    """
    _check_pair(null_res, alt_res, "lr_test")
    if df is None:
        df = alt_res.n_params - null_res.n_params
        if df <= 0:
            raise ValueError(
                f"lr_test: the alternative has {alt_res.n_params} free parameters and the null "
                f"{null_res.n_params}; the null must have fewer (or pass df=)"
            )
    df = int(df)
    l0, l1 = jnp.asarray(null_res.loglik), jnp.asarray(alt_res.loglik)
    raw = 2.0 * (l1 - l0)
    # rounding: identical maxima can differ by a few ulps of the log-likelihood
    tol = 2.0 * math.sqrt(float(jnp.finfo(raw.dtype).eps)) * (1.0 + jnp.abs(l0))
    stat = jnp.where(raw >= 0, raw, jnp.where(raw > -tol, 0.0, jnp.nan))
    if not isinstance(stat, jax.core.Tracer) and np.any(
        np.isnan(np.asarray(stat)) & ~np.isnan(np.asarray(raw))
    ):
        warnings.warn(
            "lr_test: the alternative's log-likelihood is below the null's (the larger model's "
            "fit did not reach its maximum); the statistic is NaN there",
            InferenceWarning,
            stacklevel=2,
        )
    if not isinstance(raw, jax.core.Tracer):
        for which, ll in (("null", l0), ("alternative", l1)):
            if np.any(~np.isfinite(np.asarray(ll))):
                warnings.warn(
                    f"lr_test: the {which} fit's log-likelihood is not finite (its fit failed: "
                    "see its status); the statistic is NaN there. A null with a variance "
                    "component fixed at 0, whose density is then not finite, is fitted as the "
                    "model without that random effect (its loglik summed per group, so that both "
                    "fits count the groups as their observations), with boundary=True",
                    InferenceWarning,
                    stacklevel=2,
                )
    note = ""
    if boundary is None:
        edges = [name for name, _, _ in _boundary_nulls(null_res)]
        if len(edges) == 1:
            boundary, note = True, _boundary_note(edges, df)
        elif len(edges) > 1:
            note = _several_note(edges)
            warnings.warn(f"lr_test: {note}", InferenceWarning, stacklevel=2)
            return HypothesisTest(stat, df, jnp.full(jnp.shape(stat), jnp.nan), note=note)
    if boundary:
        note = note or _boundary_note(["boundary=True"], df)
        return HypothesisTest(stat, df, _mixture_p(stat, df), note=note)
    return HypothesisTest(stat, df, chi2_sf(stat, df))


def _restriction(res, R, r):
    names = res.param_names
    m = len(names)
    if isinstance(R, str):
        R = [R]
    if isinstance(R, dict):
        R = [R]
    if isinstance(R, (list, tuple)) and R and all(isinstance(x, (str, dict)) for x in R):
        rows = []
        for item in R:
            row = np.zeros(m)
            terms = {item: 1.0} if isinstance(item, str) else item
            for name, coef in terms.items():
                if name not in names:
                    raise ValueError(
                        f"unknown parameter {name!r}; the components are {list(names)}"
                    )
                row[names.index(name)] = coef
            rows.append(row)
        R = np.array(rows)
    R = np.atleast_2d(np.asarray(R, dtype=float))
    if R.shape[-1] != m:
        raise ValueError(f"R has {R.shape[-1]} columns; the model has {m} components {names}")
    q = R.shape[0]
    r = np.zeros(q) if r is None else np.broadcast_to(np.asarray(r, dtype=float), (q,))
    return R, r


def _boundary_rows(res, R, r) -> list[str]:
    """The rows of ``R theta = r`` that set one component to a finite end of its support."""
    names = res.param_names
    constraint = {}
    for key, sl, _ in res.model.param_blocks():
        for j in range(sl.start, sl.stop):
            constraint[j] = res.model.spec[key]
    out = []
    for row, value in zip(R, r):
        nz = np.flatnonzero(row)
        if len(nz) == 1 and bool(on_edge(constraint[nz[0]], value / row[nz[0]])):
            out.append(f"{names[nz[0]]} = {value / row[nz[0]]:g}")
    return out


def wald_test(res, R, r=None) -> HypothesisTest:
    """Wald test of the linear hypothesis ``R theta = r`` on the flattened parameters.

    ``W = (R theta - r)' (R cov R')^-1 (R theta - r) ~ chi2_q``, ``q`` the rows
    of ``R``, ``theta`` and ``cov`` the fit's (in :attr:`~jaxmle.FitResult.param_names`
    order, natural space). For a fit with
    :attr:`~jaxmle.FitResult.df_resid` (cluster-robust: ``G - 1``; the linear
    model with ``df_correction=True``: ``n - p``) the p-value is
    ``P(F_{q, df_resid} > W / q)`` (for ``q = 1`` the two-sided t test), as
    statsmodels with ``use_t`` and Stata report it; ``df_denom`` says so.

    A row that sets one component to a finite end of its support (``"alpha"``
    of a negative binomial at 0) is a null on the boundary: the p-value is the
    50:50 mixture of ``chi2_{q-1}`` and ``chi2_q`` (half the ``chi2_1`` p-value
    for one row), with a note; for more than one such row it is NaN (see
    :func:`lr_test`, which is more accurate there).

    Args:
        res: a fit (single or batch).
        R: a ``(q, m)`` array (or one row of ``m``); a parameter name (that
            component ``= r``); a list of names (each ``= 0``, or ``= r``); or a
            dict / list of dicts ``{name: coefficient}`` for contrasts such as
            ``{"beta[1]": 1, "beta[2]": -1}``.
        r: right-hand side, length ``q`` (default 0).

    Returns:
        A :class:`HypothesisTest` (NaN where the covariance is not available).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"]),
        ...                  {"mu": jm.Real(), "sigma": jm.Positive()})
        >>> res = jm.fit(model, jnp.array([0.3, 1.9, 0.8, 1.4, 2.2]))
        >>> t = jm.wald_test(res, "mu")                      # (mu / se)^2
        >>> bool(jnp.isclose(t.statistic, (res.params["mu"] / res.se["mu"]) ** 2))
        True
    """
    R, r = _restriction(res, R, r)
    batch = res.batch_shape
    theta = res.model.flatten_batched(res.params, batch)
    Rj = jnp.asarray(R, theta.dtype)
    diff = theta @ Rj.T - jnp.asarray(r, theta.dtype)
    V = Rj @ res.cov @ Rj.T
    stat = jnp.einsum("...i,...i->...", diff, jnp.linalg.solve(V, diff[..., None])[..., 0])
    q = R.shape[0]
    edges = _boundary_rows(res, R, r)
    if len(edges) > 1:
        note = _several_note(edges)
        warnings.warn(f"wald_test: {note}", InferenceWarning, stacklevel=2)
        return HypothesisTest(stat, q, jnp.full(jnp.shape(stat), jnp.nan), note=note)
    if edges:
        return HypothesisTest(stat, q, _mixture_p(stat, q), note=_boundary_note(edges, q))
    if res.df_resid is None:
        return HypothesisTest(stat, q, chi2_sf(stat, q))
    # t (q = 1) and F references: W / q ~ F(q, df_resid)
    note = f"F({q}, df_resid) reference: W / {q} ~ F"
    return HypothesisTest(stat, q, f_sf(stat / q, q, res.df_resid), df_denom=res.df_resid,
                          note=note)  # fmt: skip


def _natural_free(model, params):
    """The free coordinates on the natural scale: each value, a simplex without its last."""
    parts = []
    for key, c in model.spec.items():
        v = jnp.reshape(params[key], (-1,))
        parts.append(v[:-1] if isinstance(c, Simplex) else v)
    return jnp.concatenate(parts)


def _from_natural(model, v):
    out, start = {}, 0
    for key, c in model.spec.items():
        if isinstance(c, Simplex):
            head = v[start : start + c.k - 1]
            out[key] = jnp.concatenate([head, 1.0 - jnp.sum(head, keepdims=True)])
            start += c.k - 1
        else:
            out[key] = jnp.reshape(v[start : start + c.size], c.shape)
            start += c.size
    return out


def _natural_index(model, flat: int) -> int:
    """The position of flattened component ``flat`` among the natural free coordinates."""
    pos = 0
    for key, sl, _ in model.param_blocks():
        c = model.spec[key]
        if sl.start <= flat < sl.stop:
            return pos + flat - sl.start
        pos += c.size - 1 if isinstance(c, Simplex) else c.size
    raise IndexError(flat)


def _score_one(params, data, weights, mask, *, problem, information, edge=None):
    data, weights, mask = problem.prepare(data, weights, mask)
    model = problem.model

    def full(v):
        return _from_natural(model, v)

    def ll(v):
        return problem.loglik(full(v), data, weights, mask)

    v = _natural_free(model, params)
    g = jax.grad(ll)(v)
    if information == "expected":
        w = jnp.where(mask, weights, 0.0) if problem.n is not None else weights
        J = jax.jacfwd(lambda t: model.flatten(full(t)))(v)
        info = J.T @ model.expected_info(full(v), data, w) @ J
    elif information == "opg":
        scores = jax.jacfwd(lambda t: problem.terms(full(t), data, mask))(v)
        info = (scores * weights[:, None]).T @ scores
    else:
        info = -jax.hessian(ll)(v)
    inv, ok = scaled_cholesky_inverse(info)
    stat = jnp.maximum(g @ inv @ g, 0.0)  # (a rounding below 0 of a positive form)
    if edge is not None:
        # one component on the boundary (index b, +1 at a lower end): the quadratic model of
        # the log-likelihood is maximized over the side of the boundary inside the support.
        # Where its unconstrained maximum I^-1 g points out, the maximum is on the face
        # theta_b = null, and the statistic is the other components' (b held at its null).
        # (with b the only component tested, the others' score is 0 at the null estimate,
        # and so is the statistic on the face)
        b, sign, alone = edge
        inward = sign * (inv @ g)[b] >= 0
        if alone:
            face = jnp.zeros_like(stat)
        else:
            keep = jnp.arange(v.size) != b
            eye = jnp.eye(v.size, dtype=v.dtype)
            inv_r, ok_r = scaled_cholesky_inverse(
                jnp.where(keep[:, None] & keep[None, :], info, eye)
            )
            g_r = jnp.where(keep, g, 0.0)
            face = jnp.maximum(g_r @ inv_r @ g_r, 0.0)
            ok = ok & ok_r
        stat = jnp.where(inward, stat, face)
    return jnp.where(ok, stat, jnp.nan), ok


@tuned_jit(static_argnames=("problem", "information", "edge", "batched"))
def _score_jit(u, data, weights, mask, *, problem, information, edge, batched):
    fn = functools.partial(_score_one, problem=problem, information=information, edge=edge)
    return jax.vmap(fn)(u, data, weights, mask) if batched else fn(u, data, weights, mask)


#: the information matrices of :func:`score_test`
SCORE_INFORMATION = ("auto", "expected", "observed", "opg")


def score_test(null_res, *, information: str = "auto") -> HypothesisTest:
    """Score (Rao, Lagrange-multiplier) test of the restriction of a null fit with ``fixed=``.

    The full model (all parameters free) is evaluated at the null estimate:
    ``S = g' I^-1 g`` with ``g`` its score and ``I`` an information matrix
    there, both on the natural scale of the parameters (the values
    themselves; a ``Simplex(k)`` by its first ``k - 1`` components);
    ``S ~ chi2_df`` with ``df`` the number of free coordinates fixed. Only
    the null model is fitted.

    Which information (``information=``):

    * ``"auto"`` (default): the expected (Fisher) information where the
      model has it in closed form (the families, uncensored, and the
      regression models: Rao's test as R's ``anova(..., test="Rao")`` computes
      it for a GLM), else the observed information;
    * ``"expected"``, ``"observed"``: that one;
    * ``"opg"``: the outer product of the per-observation scores (always
      positive semi-definite; the LM test's OPG form).

    The observed information of the full model at the null estimate need not be
    positive definite (far from the alternative's maximum it is often
    indefinite). A test whose information matrix is not positive definite is
    NaN, never negative, with ``info_ok`` False and an
    :class:`~jaxmle.InferenceWarning`.

    A null on the boundary (one component fixed on a finite end of its support,
    ``fixed={"alpha": 0.0}`` for a negative binomial: the Poisson) gives the
    one-sided score test: the score's quadratic model is maximized on the side of
    the boundary inside the support (0 where the score points out, for ``df = 1``),
    with the p-value of the 50:50 mixture of ``chi2_{df-1}`` and ``chi2_df``
    (see :func:`lr_test`). For ``alpha`` of the NB2 regression this is the
    Cameron-Trivedi test of overdispersion with the expected information of
    the coefficients.

    Args:
        null_res: a fit with ``fixed=`` (single or batch), with its data.
        information: ``"auto"``, ``"expected"``, ``"observed"`` or ``"opg"``.

    Returns:
        A :class:`HypothesisTest` (``info_ok``: whether the information was
        positive definite).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
        ...                  {"rate": jm.Positive()})
        >>> x = jnp.array([2.0, 4.0, 6.0])
        >>> t = jm.score_test(jm.fit(model, x, fixed={"rate": 0.5}))   # n (1 - rate * mean)^2
        >>> t.df, round(float(t.statistic), 6)
        (1, 3.0)
        >>> x = jnp.array([0.3, 1.9, 0.8, 1.4, 2.2, 1.1])   # normal, mu = 0: n mean^2 / mean(x^2)
        >>> t = jm.score_test(jm.fit(jm.families.Normal(), x, fixed={"loc": 0.0}))
        >>> round(float(t.statistic), 4), bool(t.info_ok)
        (4.8008, True)
    """
    if not null_res.fixed:
        raise ValueError(
            "score_test needs a null fit with fixed= (e.g. jm.fit(model, data, "
            "fixed={'beta[2]': 0.0})): the restriction is what is tested"
        )
    if information not in SCORE_INFORMATION:
        raise ValueError(f"information must be one of {SCORE_INFORMATION}, got {information!r}")
    model = null_res.model
    df = model.free_size - null_res.n_params
    stripped = dataclasses.replace(null_res, fixed=(), fixed_values=None)
    problem, data, weights, mask, _, _ = problem_of(stripped, "score_test")
    if information == "expected" and model.expected_info is None:
        raise ValueError(
            f"score_test: the model {model.name!r} has no expected information in closed form; "
            "use information='observed' or 'opg'"
        )
    if information == "opg" and problem.n is None:
        raise ValueError("information='opg' needs per-observation log-likelihood terms")

    edges = _boundary_nulls(null_res)
    if len(edges) > 1:
        note = _several_note([name for name, _, _ in edges])
        warnings.warn(f"score_test: {note}", InferenceWarning, stacklevel=2)
    edge = None
    if len(edges) == 1:
        _, flat, sign = edges[0]
        edge = (_natural_index(model, flat), sign, df == 1)

    def run(kind):
        return _score_jit(
            null_res.params, data, weights, mask, problem=problem, information=kind,
            edge=edge, batched=bool(null_res.batch_shape),
        )  # fmt: skip

    if information == "auto":
        try:
            stat, ok = run("expected" if model.expected_info is not None else "observed")
        except NoExpectedInformation:  # (censored data: the observed information)
            stat, ok = run("observed")
    else:
        stat, ok = run(information)
    if not isinstance(ok, jax.core.Tracer) and not np.all(np.asarray(ok)):
        warnings.warn(
            "score_test: the information matrix at the null estimate is not positive "
            "definite, and the statistic is NaN (where info_ok is False); use "
            "information='opg', the expected information of a family model, or lr_test",
            InferenceWarning,
            stacklevel=2,
        )
    if len(edges) > 1:
        return HypothesisTest(stat, df, jnp.full(jnp.shape(stat), jnp.nan), info_ok=ok,
                              note=note)  # fmt: skip
    if edge is not None:
        note = _boundary_note([edges[0][0]], df)
        return HypothesisTest(stat, df, _mixture_p(stat, df), info_ok=ok, note=note)
    return HypothesisTest(stat, df, chi2_sf(stat, df), info_ok=ok)


class Comparison(NamedTuple):
    """Information criteria of several fits (rows: models; a batch axis follows).

    Attributes:
        names: model labels.
        loglik, n_params, nobs, aic, aicc, bic: per model (arrays ``(M,)`` or
            ``(M, B)``).
        delta_aic, delta_bic: differences to the smallest value (per dataset).
        aic_weight: Akaike weights ``exp(-delta/2) / sum exp(-delta/2)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = {"x": jnp.array([0.5, 1.2, 2.0, 3.1, 4.4, 7.0])}
        >>> c = jm.compare(jm.fit(jm.families.Exponential(), x), jm.fit(jm.families.Gamma(), x))
        >>> round(float(c.aic_weight.sum()), 12)
        1.0
    """

    names: tuple
    loglik: np.ndarray
    n_params: np.ndarray
    nobs: np.ndarray
    aic: np.ndarray
    aicc: np.ndarray
    bic: np.ndarray
    delta_aic: np.ndarray
    delta_bic: np.ndarray
    aic_weight: np.ndarray

    def table(self) -> str:
        """A text table (for a batch: how many datasets each model wins by AIC and BIC)."""
        if self.aic.ndim > 1:
            best = np.argmin(np.where(np.isnan(self.aic), np.inf, self.aic), axis=0)
            w = max(8, max(len(n) for n in self.names) + 1)
            lines = [f"{'model':<{w}}{'k':>4}{'best AIC':>10}{'best BIC':>10}"]
            best_b = np.argmin(np.where(np.isnan(self.bic), np.inf, self.bic), axis=0)
            for i, n in enumerate(self.names):
                lines.append(
                    f"{n:<{w}}{int(self.n_params[i]):>4}{int(np.sum(best == i)):>10}"
                    f"{int(np.sum(best_b == i)):>10}"
                )
            return "\n".join(lines)
        w = max(8, max(len(n) for n in self.names) + 1)
        head = ["loglik", "k", "AIC", "AICc", "BIC", "dAIC", "dBIC", "weight"]
        lines = [f"{'model':<{w}}" + "".join(f"{h:>11}" for h in head)]
        for i, n in enumerate(self.names):
            vals = [
                self.loglik[i], self.n_params[i], self.aic[i], self.aicc[i], self.bic[i],
                self.delta_aic[i], self.delta_bic[i], self.aic_weight[i],
            ]  # fmt: skip
            lines.append(f"{n:<{w}}" + "".join(f"{v:>11.4g}" for v in vals))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def compare(*results, names: Sequence[str] | None = None) -> Comparison:
    """Compare fits to the same data by AIC, AICc and BIC.

    Args:
        *results: fits (all single, or all batch of the same size).
        names: labels (default: each model's name).

    Returns:
        A :class:`Comparison`; ``print`` it for a table.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = {"x": jnp.array([0.5, 1.2, 2.0, 3.1, 4.4, 7.0])}
        >>> c = jm.compare(jm.fit(jm.families.Exponential(), x), jm.fit(jm.families.Weibull(), x))
        >>> c.names, c.n_params.tolist()
        (('Exponential', 'Weibull'), [1, 2])
    """
    if len(results) == 1 and isinstance(results[0], (list, tuple)):
        results = tuple(results[0])
    if not results:
        raise ValueError("compare needs at least one fit")
    for r in results[1:]:
        _check_pair(results[0], r, "compare")
    if names is None:
        names = tuple(r.model.name for r in results)
    names = tuple(names)
    if len(names) != len(results):
        raise ValueError(f"{len(names)} names for {len(results)} fits")

    def col(fn) -> np.ndarray:
        return np.stack([np.asarray(fn(r), dtype=float) for r in results])

    aic, bic = col(lambda r: r.aic), col(lambda r: r.bic)
    d_aic = aic - np.nanmin(aic, axis=0)
    d_bic = bic - np.nanmin(bic, axis=0)
    wts = np.exp(-0.5 * d_aic)
    wts = wts / np.nansum(wts, axis=0)
    return Comparison(
        names=names,
        loglik=col(lambda r: r.loglik),
        n_params=np.array([r.n_params for r in results]),
        nobs=col(lambda r: r.nobs),
        aic=aic,
        aicc=col(lambda r: r.aicc),
        bic=bic,
        delta_aic=d_aic,
        delta_bic=d_bic,
        aic_weight=wts,
    )
