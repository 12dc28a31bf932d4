"""Covariance conventions applied after the fit: the expected information, HC1-HC3, the
cluster-robust covariance and its small-sample corrections, and the degrees of freedom of
the Gaussian linear model.

The fit's kernel computes the observed information (and from it ``"robust"``, HC0, and
``"opg"``); every other convention is one more pass over the data at the estimate, only
for the fits that ask for it:

* ``information="expected"``: the bread is the expected (Fisher) information of the model
  in closed form (:attr:`jaxmle.Model.expected_info`: the families' and the regression
  models'), what R's ``glm`` and ``glm.nb`` report;
* ``cov_type="HC1"``: HC0 times ``n / (n - k)``; ``"HC2"`` and ``"HC3"`` weight each
  observation's score by ``1 / (1 - h_i)`` and ``1 / (1 - h_i)^2``, ``h_i`` its leverage
  (:attr:`jaxmle.Model.leverage`, regression models): R's ``sandwich::vcovHC``;
* ``cov_type="cluster"``: the cluster-robust covariance with ``small_sample="CRV1"``
  (``G/(G-1) (N-1)/(N-K)``: statsmodels, Stata's ``regress``), ``"G"`` (``G/(G-1)``: R's
  ``sandwich::vcovCL`` for a ``glm``) or ``"none"``; the result carries ``df_resid = G - 1``
  for t and F reference distributions;
* ``df_correction=True`` (Gaussian linear model): the coefficients' covariance with the
  unbiased ``s^2 = RSS / (n - p)``, and ``df_resid = n - p`` (``statsmodels.OLS``).

Example:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> jax.config.update("jax_enable_x64", True)
    >>> X = jnp.stack([jnp.ones(6), jnp.arange(6.0)], axis=1)
    >>> data = {"X": X, "y": jnp.array([0.0, 1, 0, 1, 1, 1])}
    >>> hc0 = jm.fit(jm.models.LogisticRegression(2), data, cov_type="robust")
    >>> hc1 = jm.fit(jm.models.LogisticRegression(2), data, cov_type="HC1")
    >>> bool(jnp.allclose(hc1.cov, hc0.cov * 6 / (6 - 2)))
    True
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._compile import tuned_jit
from ._problem import problem_of
from .inference import COV_TYPES, delta_method, scaled_cholesky_inverse

__all__ = [
    "ALL_COV_TYPES",
    "INFORMATION",
    "SMALL_SAMPLE",
    "check_options",
    "needs_adjustment",
    "adjust_covariance",
    "expected_information_free",
]

HC_TYPES = ("HC0", "HC1", "HC2", "HC3")
#: every ``cov_type`` of :func:`jaxmle.fit` (``"HC0"`` is ``"robust"``)
ALL_COV_TYPES = COV_TYPES + ("cluster",) + HC_TYPES
INFORMATION = ("observed", "expected")
#: small-sample corrections of the cluster-robust covariance
SMALL_SAMPLE = ("CRV1", "G", "none")


def check_options(model, cov_type, information, small_sample, df_correction, groups) -> None:
    """Validate the covariance options of a fit (host side)."""
    if cov_type not in ALL_COV_TYPES:
        raise ValueError(f"cov_type must be one of {ALL_COV_TYPES}, got {cov_type!r}")
    if information not in INFORMATION:
        raise ValueError(f"information must be one of {INFORMATION}, got {information!r}")
    if small_sample not in SMALL_SAMPLE:
        raise ValueError(f"small_sample must be one of {SMALL_SAMPLE}, got {small_sample!r}")
    if small_sample != "CRV1" and cov_type != "cluster":
        raise ValueError(f"small_sample= goes with cov_type='cluster', got {cov_type!r}")
    if cov_type == "cluster" and groups is None:
        raise ValueError("cov_type='cluster' needs groups=: one cluster label per observation")
    if groups is not None and cov_type != "cluster":
        raise ValueError(f"groups= goes with cov_type='cluster', got cov_type={cov_type!r}")
    if information == "expected" and getattr(model, "expected_info", None) is None:
        raise ValueError(
            f"information='expected': the model {getattr(model, 'name', model)!r} has no "
            "expected information in closed form (the families and the regression models "
            "have); use information='observed'"
        )
    if cov_type in ("HC2", "HC3") and getattr(model, "leverage", None) is None:
        raise ValueError(
            f"cov_type={cov_type!r} needs the leverages of the observations, which only the "
            "regression models (jm.models.*) define; use 'HC0' / 'robust' or 'HC1'"
        )
    if df_correction:
        if getattr(model, "linear_coef", None) is None:
            raise ValueError(
                "df_correction=True is for the Gaussian linear model "
                "(jm.models.LinearRegression, without fixed coefficients)"
            )
        if cov_type != "observed":
            raise ValueError(
                f"df_correction=True goes with cov_type='observed', got {cov_type!r} (HC1 is "
                "the degrees-of-freedom correction of the robust covariance)"
            )


def needs_adjustment(cov_type, information, small_sample, df_correction) -> bool:
    """Whether a fit's options are checked and its covariance computed here rather than in
    the fit's kernel."""
    return (
        cov_type not in COV_TYPES
        or information != "observed"
        or small_sample != "CRV1"
        or bool(df_correction)
    )


def expected_information_free(model, u, data, weights):
    """The expected information in the unconstrained coordinates at ``u``: ``J' F J``, ``F``
    the model's over the flattened parameters and ``J`` their Jacobian in ``u`` (at the
    maximum, the observed information transforms the same way)."""
    jac = jax.jacfwd(lambda v: model.flatten(model.to_constrained(v)))(u)
    F = model.expected_info(model.to_constrained(u), data, weights)
    return jac.T @ F @ jac


def _adjust_one(u, cov_free, cov, at_limit, nobs, data, weights, mask, ids, *, problem,
                cov_type, information, small_sample, df_correction, k):  # fmt: skip
    model = problem.model
    data, weights, mask = problem.prepare(data, weights, mask)
    w = jnp.where(mask, weights, 0.0)
    dtype = u.dtype
    p = u.size
    fixed2 = at_limit[:, None] | at_limit[None, :]
    eye = jnp.eye(p, dtype=dtype)
    ok = jnp.ones((), bool)
    if information == "expected":
        info = expected_information_free(model, u, data, w)
        bread, ok = scaled_cholesky_inverse(jnp.where(fixed2, eye, info))
    else:
        bread = cov_free
    bread = jnp.where(fixed2, 0.0, bread)
    df = None
    if cov_type == "observed":
        new_free = bread
    elif cov_type == "opg":
        scores = jnp.where(at_limit[None, :], 0.0, _scores(problem, u, data, mask))
        opg = (scores * w[:, None]).T @ scores
        new_free, opg_ok = scaled_cholesky_inverse(jnp.where(fixed2, eye, opg))
        ok = ok & opg_ok
    elif cov_type == "cluster":
        scores = jnp.where(at_limit[None, :], 0.0, _scores(problem, u, data, mask))
        n = problem.n
        sums = jax.ops.segment_sum(scores * w[:, None], ids, num_segments=n)
        used = jax.ops.segment_sum((w > 0).astype(dtype), ids, num_segments=n) > 0
        G = jnp.sum(used).astype(dtype)
        factor = {
            "CRV1": G / (G - 1.0) * (nobs - 1.0) / (nobs - k),
            "G": G / (G - 1.0),
            "none": jnp.ones((), dtype),
        }[small_sample]
        new_free = bread @ (sums.T @ sums) @ bread * factor
        df = G - 1.0
    else:  # robust, HC0-HC3
        scores = jnp.where(at_limit[None, :], 0.0, _scores(problem, u, data, mask))
        omega, factor = w, jnp.ones((), dtype)
        if cov_type == "HC1":
            # k: the columns of the design (the trace of the hat matrix) for a regression
            # model, as R's vcovHC; else the free parameters
            if model.leverage is not None:
                k_hc = jnp.round(jnp.sum(w * model.leverage(model.to_constrained(u), data, w)))
            else:
                k_hc = jnp.asarray(k, dtype)
            factor = nobs / (nobs - k_hc)
        elif cov_type in ("HC2", "HC3"):
            h = model.leverage(model.to_constrained(u), data, w)
            omega = w / (1.0 - h) ** (1.0 if cov_type == "HC2" else 2.0)
        new_free = bread @ ((scores * omega[:, None]).T @ scores) @ bread * factor
    if df_correction:
        # the coefficients' rows: sigma^2 = RSS / n becomes RSS / (n - p) (the information
        # is block diagonal at the maximum: sigma's row is left as it is)
        # (a name, or the names of the coefficients as scalars: a formula's model)
        coefs = model.linear_coef if isinstance(model.linear_coef, tuple) else (model.linear_coef,)
        start, stop = model._free_slices[coefs[0]][0], model._free_slices[coefs[-1]][1]
        n_coef = stop - start
        coef = (jnp.arange(p) >= start) & (jnp.arange(p) < stop)
        scale = jnp.where(coef, jnp.sqrt(nobs / (nobs - n_coef)), 1.0)
        new_free = new_free * scale[:, None] * scale[None, :]
        df = nobs - n_coef
    new_free = jnp.where(fixed2, 0.0, new_free)
    jac = jax.jacfwd(lambda v: model.flatten(model.to_constrained(v)))(u)
    new = delta_method(jac, new_free)
    new = jnp.where(jnp.isnan(cov) | ~ok, jnp.nan, new)
    new_free = jnp.where(fixed2 | ~ok, jnp.nan, new_free)
    return new_free, new, ok, df


def _scores(problem, u, data, mask):
    """``(n, p)`` unweighted per-observation scores in the unconstrained coordinates."""
    return jax.jacfwd(lambda v: problem.terms_free(v, data, mask))(u)


_STATIC = ("problem", "cov_type", "information", "small_sample", "df_correction", "k", "batched")


@tuned_jit(static_argnames=_STATIC)
def _adjust_jit(u, cov_free, cov, at_limit, nobs, data, weights, mask, ids, *, batched,
                **static):  # fmt: skip
    fn = functools.partial(_adjust_one, **static)
    if batched:
        axes = (0, 0, 0, 0, 0, 0, None if weights is None else 0, None if mask is None else 0,
                None if ids is None else 0)  # fmt: skip
        return jax.vmap(fn, in_axes=axes)(u, cov_free, cov, at_limit, nobs, data, weights,
                                          mask, ids)  # fmt: skip
    return fn(u, cov_free, cov, at_limit, nobs, data, weights, mask, ids)


def _encode_groups(groups, shape):
    g = np.asarray(groups)
    if g.shape != shape:
        raise ValueError(
            f"groups has shape {g.shape}; expected {shape} (one label per observation)"
        )
    if g.ndim == 1:
        return np.unique(g, return_inverse=True)[1].reshape(shape).astype(np.int32)
    out = np.empty(shape, np.int32)
    for i in range(shape[0]):
        out[i] = np.unique(g[i], return_inverse=True)[1].reshape(shape[1:])
    return out


def adjust_covariance(res, *, cov_type="observed", information="observed", groups=None,
                      small_sample="CRV1", df_correction=False):  # fmt: skip
    """The result of an ``observed`` fit with the covariance of the conventions asked for.

    Args:
        res: a fit with ``cov_type="observed"`` and its data (single or batch, no ``fixed=``:
            a fit with fixed components adjusts its reduced fit).
        cov_type, information, groups, small_sample, df_correction: as in
            :func:`jaxmle.fit`.

    Returns:
        The :class:`~jaxmle.FitResult` with ``cov``, ``cov_free``, ``se`` replaced, its
        ``cov_type`` and ``information`` set, and ``df_resid`` for the cluster-robust
        covariance (``G - 1``) and the degrees-of-freedom correction (``n - p``).
    """
    what = f"cov_type={cov_type!r}" if cov_type != "observed" else f"information={information!r}"
    problem, data, weights, mask, _, _ = problem_of(res, what)
    if problem.n is None and (cov_type != "observed" or df_correction):
        raise ValueError(
            f"{what} needs per-observation scores: make loglik return one value per observation"
        )
    batch = res.batch_shape
    ids = None if groups is None else _encode_groups(groups, batch + (problem.n,))
    kind = "robust" if cov_type == "HC0" else cov_type
    new_free, new, ok, df = _adjust_jit(
        res.unconstrained, res.cov_free, res.cov, res.at_limit, res.nobs, data, weights,
        mask, ids, problem=problem, cov_type=kind, information=information,
        small_sample=small_sample, df_correction=bool(df_correction), k=float(res.n_params),
        batched=bool(batch),
    )  # fmt: skip
    se = res.model.unflatten(jnp.sqrt(jnp.diagonal(new, axis1=-2, axis2=-1)))
    return dataclasses.replace(
        res, cov_free=new_free, cov=new, se=se, cov_type=cov_type, information=information,
        info_ok=res.info_ok & ok, df_resid=df,
    )  # fmt: skip
