"""FitResult: a pytree of arrays, its indexing, intervals and summary tables."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .constraints import Bounded, Real
from .fixed import fixed_free_size
from .inference import t_value, two_sided_p_t, z_value

__all__ = ["Status", "FitResult"]


class Status(enum.IntEnum):
    """Why a fit stopped. Stored in results as an integer array, so it batches and traces.

    Attributes:
        CONVERGED: the Newton decrement fell below the tolerance at an interior
            maximum with a positive definite information matrix.
        MAX_ITER: the iteration limit was reached first (``n_iter == max_iter``).
        NONFINITE: the log-likelihood, its gradient or Hessian (or the data)
            were not finite at the start.
        BOUNDARY: the maximum lies on the edge of a constraint (a probability of
            1, a coefficient running to infinity under separation); the
            affected standard errors are NaN.
        SINGULAR: the information matrix is singular (a parameter is not
            identified); standard errors are NaN.
        STALLED: the solver stopped before the iteration limit because no
            acceptable step could be found (no measurable progress for several
            iterations, or a step too small to change the estimate), and the
            point is not a verified maximum; standard errors are computed at the
            last point but are not to be trusted.
        INVALID_DATA: (batches only) the dataset is invalid for the model: data
            outside the family's support, an ``event`` that is not 0/1, or fewer
            observations than free parameters. Estimates and standard errors are
            NaN; a single fit raises a ``ValueError`` instead.

    Example:
        >>> import jaxmle as jm
        >>> jm.Status(0).name
        'CONVERGED'
    """

    CONVERGED = 0
    MAX_ITER = 1
    NONFINITE = 2
    BOUNDARY = 3
    SINGULAR = 4
    STALLED = 5
    INVALID_DATA = 6


_CI_METHODS = ("wald", "wald_transformed", "profile")

#: The functions behind the methods of :class:`FitResult` that solve again
#: (``conf_int(method="profile")``, ``profile``, ``derived``). They live in
#: :mod:`jaxmle.profile`, a layer above the fit, which this module (data, below the fit)
#: does not import: ``jaxmle/__init__.py`` registers them once every module is imported.
_REFITS: dict[str, Callable[..., Any]] = {}


def register_refits(**functions: Callable[..., Any]) -> None:
    """Register the implementations of the methods that solve again, by name
    (``conf_int_profile``, ``profile``, ``derived``); ``jaxmle/__init__.py`` does it."""
    _REFITS.update(functions)


def _refit(name: str) -> Callable[..., Any]:
    try:
        return _REFITS[name]
    except KeyError:  # (only if jaxmle/__init__.py did not run: it always does on import)
        raise RuntimeError(f"FitResult.{name} is registered by jaxmle/__init__.py") from None


@dataclasses.dataclass(frozen=True)
class FitResult:
    """The result of :func:`jaxmle.fit` or :func:`jaxmle.fit_batch`.

    A pytree whose leaves are arrays, so it passes through ``jit`` and ``vmap``;
    a batch result has a leading axis of datasets on every field, and
    ``batch[i]`` is the result of dataset ``i``. A result pickles (its model
    as the family or regression model's factory call, or with its functions by
    reference); unpickling runs code, so unpickle only files you trust.

    Attributes:
        params: dict name -> estimate, in the constrained (natural) space.
        se: dict name -> standard error (delta method); NaN where the
            information cannot give one.
        cov: covariance of the flattened constrained parameters, rows in
            :attr:`param_names` order.
        cov_free: covariance of the unconstrained coordinates.
        loglik: the maximized log-likelihood, with all constants.
        status: a :class:`Status` code as an integer array.
        n_iter: solver iterations.
        grad_norm: max-norm of the gradient in the unconstrained coordinates.
        nobs: number of observations used (sum of frequency weights of the
            unmasked observations); NaN for a scalar log-likelihood.
        unconstrained: the estimate in the unconstrained coordinates.
        at_limit: per free coordinate, whether it ran to a limit of its
            constraint.
        info_ok: whether the information matrix is positive definite.
        model: the :class:`jaxmle.Model` (static).
        cov_type: ``"observed"``, ``"robust"`` (= ``"HC0"``), ``"HC1"``,
            ``"HC2"``, ``"HC3"``, ``"opg"`` or ``"cluster"`` (static).
        data: the data of the fit (as given; the observations of a batch keep
            their leading axis), or ``None``. :meth:`conf_int` with
            ``method="profile"``, :meth:`profile`, the tests and the bootstrap
            refit from it.
        weights: the frequency weights of the fit, or ``None``.
        mask: the mask of the fit (with the observations left out by
            ``nan_policy="omit"``), or ``None``.
        fixed_values: dict parameter key -> values of its fixed components
            (``fixed=``), or ``None``.
        fixed: the flattened names of the fixed components (static); their
            standard errors are 0.
        se_computed: ``False`` for a fit with ``se=False``: no information
            matrix was formed, ``se``/``cov``/``cov_free`` are NaN and
            ``info_ok`` was not checked (static).
        df_resid: degrees of freedom of the reference distribution of the
            Wald statistics and intervals: ``G - 1`` for ``cov_type="cluster"``
            (``G`` clusters), ``n - p`` for the Gaussian linear model with
            ``df_correction=True``; ``None`` for the normal (an array per
            dataset of a batch).
        information: ``"observed"`` or ``"expected"``: the information
            matrix of the covariance (static).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"]),
        ...                  {"mu": jm.Real(), "sigma": jm.Positive()})
        >>> res = jm.fit(model, jnp.array([10.0, 12.0, 14.0]))
        >>> float(res.params["mu"]), round(float(res.params["sigma"]) ** 2, 4)
        (12.0, 2.6667)
        >>> bool(res.converged)
        True
    """

    params: dict
    se: dict
    cov: jax.Array
    cov_free: jax.Array
    loglik: jax.Array
    status: jax.Array
    n_iter: jax.Array
    grad_norm: jax.Array
    nobs: jax.Array
    unconstrained: jax.Array
    at_limit: jax.Array
    info_ok: jax.Array
    model: Any = dataclasses.field(metadata={"static": True})
    cov_type: str = dataclasses.field(default="observed", metadata={"static": True})
    # the data of the fit (profile intervals, tests and the bootstrap refit it); None when a
    # result is built by hand
    data: Any = None
    weights: Any = None
    mask: Any = None
    fixed_values: Any = None
    fixed: tuple = dataclasses.field(default=(), metadata={"static": True})
    se_computed: bool = dataclasses.field(default=True, metadata={"static": True})
    # degrees of freedom of the t (and F) reference distribution of the Wald statistics and
    # intervals, or None for the normal (and chi2)
    df_resid: Any = None
    information: str = dataclasses.field(default="observed", metadata={"static": True})

    # -- derived fields ---------------------------------------------------
    @property
    def converged(self) -> jax.Array:
        """``status == Status.CONVERGED`` (a boolean array)."""
        return self.status == Status.CONVERGED

    @property
    def status_names(self):
        """The status as names: ``"CONVERGED"`` for one fit, a numpy array of names for a
        batch (``batch.status_names[:3]``), where :attr:`status` holds the integer codes
        (an array that batches and traces).

        Example:
            >>> import jax, jax.numpy as jnp
            >>> import jaxmle as jm
            >>> jax.config.update("jax_enable_x64", True)
            >>> model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
            ...                  {"rate": jm.Positive()})
            >>> batch = jm.fit_batch(model, jnp.array([[2.0, 4.0], [1.0, 3.0], [0.0, 0.0]]))
            >>> batch.status[:3]
            Array([0, 0, 3], dtype=int32)
            >>> batch.status_names[:3]
            array(['CONVERGED', 'CONVERGED', 'BOUNDARY'], dtype='<U12')
        """
        names = np.array([s.name for s in Status])[np.asarray(self.status)]
        return str(names) if names.ndim == 0 else names

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the rows of :attr:`cov`: ``mu``, ``beta[0]``, ..."""
        return self.model.param_names

    @property
    def n_params(self) -> int:
        """Number of free parameters (the unconstrained dimension, less the fixed
        coordinates), used by AIC, BIC and the tests."""
        if not self.fixed:
            return self.model.free_size
        return fixed_free_size(self.model, self.fixed)

    @property
    def aic(self) -> jax.Array:
        """Akaike information criterion ``2k - 2 loglik``."""
        return 2.0 * self.n_params - 2.0 * self.loglik

    @property
    def bic(self) -> jax.Array:
        """Bayesian information criterion ``k log(nobs) - 2 loglik``."""
        return self.n_params * jnp.log(self.nobs) - 2.0 * self.loglik

    @property
    def aicc(self) -> jax.Array:
        """Small-sample AIC ``AIC + 2k(k+1) / (nobs - k - 1)`` (NaN when ``nobs <= k + 1``)."""
        k = self.n_params
        denom = self.nobs - k - 1.0
        return jnp.where(denom > 0, self.aic + 2.0 * k * (k + 1.0) / denom, jnp.nan)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """``()`` for one fit, ``(B,)`` for a batch."""
        return tuple(jnp.shape(self.status))

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("len() of a single FitResult; only batch results have a length")
        return self.batch_shape[0]

    def __getitem__(self, i) -> FitResult:
        if not self.batch_shape:
            raise TypeError("a single FitResult cannot be indexed; index a batch result")
        return jax.tree_util.tree_map(lambda x: x[i], self)

    # -- intervals -----------------------------------------------------------
    def conf_int(self, level: float = 0.95, method: str = "wald_transformed") -> dict:
        """Confidence intervals per parameter.

        Args:
            level: confidence level.
            method: ``"wald_transformed"`` (default): the Wald interval built on
                each element's link scale and mapped back: ``log x`` for a
                positive component, ``log((x - a) / (b - x))`` for one bounded
                in ``(a, b)`` (the logit for ``(0, 1)``), the logit of each
                simplex component; the identity for an unbounded parameter,
                whose interval is the plain Wald one. With ``eta = link(x)``,
                ``link^-1(eta -/+ z * se * |d eta / dx|)``: it always stays
                inside the support (a positive parameter never gets a negative
                lower bound).
                ``"wald"``: ``estimate -/+ z * se`` on the natural scale, as
                statsmodels and iminuit's HESSE report it (it can leave the
                support).
                For both, ``z`` is the t quantile with :attr:`df_resid` degrees
                of freedom where the fit has them (cluster-robust, or the linear
                model with ``df_correction=True``), else the normal's.
                ``"profile"``: the profile-likelihood interval,
                ``2 (l_hat - l_profile) <= chi2_1(level)`` with the other
                parameters re-optimized (see :mod:`jaxmle.profile`): asymmetric,
                inside the support, one-sided for an estimate on the edge. Needs
                the data (attached by ``fit`` / ``fit_batch``). Components where
                profiling found a better optimum than the fit (or failed) are
                NaN, with a :class:`~jaxmle.ProfileWarning`; see
                :func:`jaxmle.profile_intervals` for the status per component.
                Profile intervals come from the likelihood alone: they do not
                depend on ``cov_type`` or ``information``.

        Returns:
            dict name -> ``(low, high)``, arrays shaped like the parameter (with
            the batch axis for a batch result).

        Example:
            >>> import jax, jax.numpy as jnp
            >>> import jaxmle as jm
            >>> jax.config.update("jax_enable_x64", True)
            >>> def loglik(p, x):
            ...     return x * jnp.log(p["theta"]) + (1 - x) * jnp.log1p(-p["theta"])
            >>> m = jm.Model(loglik, {"theta": jm.UnitInterval()})
            >>> res = jm.fit(m, jnp.array([1.0, 1, 0, 1, 0]))
            >>> lo, hi = res.conf_int(0.95)["theta"]            # on the logit scale
            >>> round(float(lo), 4), round(float(hi), 4)
            (0.2004, 0.8998)
            >>> lo, hi = res.conf_int(0.95, method="wald")["theta"]
            >>> round(float(lo), 4), round(float(hi), 4)
            (0.1706, 1.0294)
        """
        if method not in _CI_METHODS:
            raise ValueError(f"unknown interval method {method!r}; use one of {_CI_METHODS}")
        if method == "profile":
            z_value(level)  # validates the level
            return _refit("conf_int_profile")(self, level)
        crit = self._critical(level)
        out = {}
        for key, c in self.model.spec.items():
            est, se = self.params[key], self.se[key]
            # (with df_resid: one value per dataset of a batch)
            z = (
                crit
                if self.df_resid is None
                else jnp.reshape(crit, jnp.shape(crit) + (1,) * len(c.shape))
            )
            if method == "wald":
                out[key] = (est - z * se, est + z * se)
            else:
                eta, deta = c.link(est)
                half = z * se * jnp.abs(deta)
                # a fixed component (se 0) keeps its value exactly
                exact = se == 0
                out[key] = (
                    jnp.where(exact, est, c.link_inverse(eta - half)),
                    jnp.where(exact, est, c.link_inverse(eta + half)),
                )
        return out

    def _critical(self, level: float):
        """The two-sided critical value of the Wald intervals: the normal's, or t's with
        :attr:`df_resid` degrees of freedom."""
        if self.df_resid is None:
            return z_value(level)
        return t_value(level, self.df_resid)

    def profile(self, param: str, *, points: int = 41, level: float = 0.95):
        """The profile log-likelihood of one flattened parameter on a grid: a
        :class:`~jaxmle.Profile` (see :func:`jaxmle.profile`).

        Example:
            >>> import jax, jax.numpy as jnp
            >>> import jaxmle as jm
            >>> jax.config.update("jax_enable_x64", True)
            >>> m = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
            ...              {"rate": jm.Positive()})
            >>> prof = jm.fit(m, jnp.array([2.0, 4.0, 6.0])).profile("rate", points=5)
            >>> prof.param, prof.grid.shape
            ('rate', (5,))
        """
        return _refit("profile")(self, param, points=points, level=level)

    def derived(self, fn, level: float = 0.95, method: str = "wald"):
        """Estimate, delta-method SE and interval of a scalar ``fn(params)``: a
        :class:`~jaxmle.Derived` (see :func:`jaxmle.derived`; ``method="wald"``,
        ``"wald_log"`` for a positive quantity (the interval on its log scale, never
        negative) or ``"profile"``).

        Example:
            >>> import jax, jax.numpy as jnp
            >>> import jaxmle as jm
            >>> jax.config.update("jax_enable_x64", True)
            >>> m = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
            ...              {"rate": jm.Positive()})
            >>> d = jm.fit(m, jnp.array([2.0, 4.0, 6.0])).derived(lambda p: 1 / p["rate"])
            >>> float(d.estimate)
            4.0
        """
        return _refit("derived")(self, fn, level=level, method=method)

    # -- presentation -------------------------------------------------------
    def to_dict(
        self, level: float = 0.95, method: str = "wald_transformed"
    ) -> dict[str, np.ndarray]:
        """Plain numpy columns: per flattened parameter ``NAME``, ``NAME_se``, ``NAME_lo``,
        ``NAME_hi``, then ``loglik``, ``nobs``, ``status`` (as names).

        ``NAME_lo`` and ``NAME_hi`` are the interval of :meth:`conf_int` with this
        ``level`` and ``method`` (the default ``"wald_transformed"`` keeps a positive or
        bounded parameter's interval inside its support; ``"wald"`` is the plain one).

        Example:
            >>> import jax, jax.numpy as jnp
            >>> import jaxmle as jm
            >>> jax.config.update("jax_enable_x64", True)
            >>> m = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
            ...              {"rate": jm.Positive()})
            >>> res = jm.fit(m, jnp.array([1.0, 3.0]))
            >>> round(float(res.to_dict()["rate_lo"]), 4)
            0.125
            >>> round(float(res.to_dict(method="wald")["rate_lo"]), 4)    # natural scale
            -0.193
        """
        ci = self.conf_int(level, method)
        batch = self.batch_shape
        cols: dict[str, np.ndarray] = {}
        lo = self.model.flatten_batched({k: v[0] for k, v in ci.items()}, batch)
        hi = self.model.flatten_batched({k: v[1] for k, v in ci.items()}, batch)
        est = self.model.flatten_batched(self.params, batch)
        se = self.model.flatten_batched(self.se, batch)
        for j, name in enumerate(self.param_names):
            cols[name] = np.asarray(est[..., j])
            cols[f"{name}_se"] = np.asarray(se[..., j])
            cols[f"{name}_lo"] = np.asarray(lo[..., j])
            cols[f"{name}_hi"] = np.asarray(hi[..., j])
        cols["loglik"] = np.asarray(self.loglik)
        cols["nobs"] = np.asarray(self.nobs)
        cols["status"] = np.asarray(self.status_names)
        return cols

    def to_dataframe(self, level: float = 0.95, method: str = "wald_transformed"):
        """The columns of :meth:`to_dict` (with this ``level`` and interval ``method``) as a
        pandas DataFrame (one row per dataset).

        pandas is optional: it is imported here, with a clear message when missing.

        Example:
            >>> import jax, jax.numpy as jnp
            >>> import jaxmle as jm
            >>> jax.config.update("jax_enable_x64", True)
            >>> model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], 1.0),
            ...                  {"mu": jm.Real()})
            >>> batch = jm.fit_batch(model, jnp.array([[1.0, 3.0], [2.0, 6.0]]))
            >>> df = batch.to_dataframe()
            >>> df["mu"].tolist(), df["status"].tolist()
            ([2.0, 4.0], ['CONVERGED', 'CONVERGED'])
        """
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_dataframe needs pandas: pip install pandas (or use to_dict())"
            ) from e
        cols = self.to_dict(level, method)
        if not self.batch_shape:
            cols = {k: np.reshape(v, (1,)) for k, v in cols.items()}
        return pd.DataFrame(cols)

    def summary(
        self, level: float = 0.95, method: str = "wald_transformed", null: dict | None = None
    ) -> str:
        """A text table: estimate, SE, z, p and interval per parameter, then fit health.

        The intervals are those of :meth:`conf_int` with this ``level`` and ``method``
        (by default on each parameter's link scale: inside its support).
        The z (or t) and p columns are the Wald test of each parameter against its null
        value, and only where that value is inside the parameter's support:

        * an unbounded parameter (``Real``) against 0, or its ``null=`` value;
        * a positive, bounded or simplex parameter only against a ``null=`` value
          (e.g. ``{"shape": 1.0}``: the Weibull's exponential), on its log / logit
          scale (marked ``*``; for ``log(shape) = 0`` this is ``survreg``'s test of
          ``Log(scale)``); without one its z and p are blank (0 would be outside or
          on the edge of its support: for an overdispersion of 0 fit the null and
          use :func:`jaxmle.lr_test`);
        * a fixed component is marked ``fixed``, with no SE, z or p.

        With :attr:`df_resid` (cluster-robust covariance, the linear model's
        ``df_correction=True``) the column is t with those degrees of freedom. A
        footer says which test each column is.
        For a batch result: counts per status and quantiles of each estimate.

        Example:
            >>> import jax, jax.numpy as jnp
            >>> import jaxmle as jm
            >>> jax.config.update("jax_enable_x64", True)
            >>> x = jnp.array([0.8, 1.1, 2.3, 0.4, 1.7, 3.0, 0.9])
            >>> table = jm.fit(jm.families.Weibull(), x).summary(null={"shape": 1.0})
            >>> "H0: shape = 1" in table and "no test for scale" in table
            True
        """
        if self.batch_shape:
            return _batch_summary(self, level)
        return _single_summary(self, level, method, null)

    def __repr__(self) -> str:
        if self.batch_shape:
            counts = _status_counts(np.asarray(self.status))
            return f"FitResult(batch of {self.batch_shape[0]}: {counts})"
        est = {k: np.asarray(v).round(6).tolist() for k, v in self.params.items()}
        return f"FitResult(status={Status(int(self.status)).name}, params={est})"


jax.tree_util.register_dataclass(FitResult)


def _fmt(x: float, width: int = 11) -> str:
    if not np.isfinite(x):
        return f"{'nan' if np.isnan(x) else ('inf' if x > 0 else '-inf'):>{width}}"
    ax = abs(x)
    if ax != 0 and (ax >= 1e6 or ax < 1e-4):
        return f"{x:>{width}.4e}"
    return f"{x:>{width}.6g}"


def _status_counts(status: np.ndarray) -> str:
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


def _null_values(res: FitResult, null) -> dict[str, float]:
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


def _row_tests(res: FitResult, est, se, null: dict):
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


def _single_summary(res: FitResult, level: float, method: str, null=None) -> str:
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
            lines.append(f"{name:<{w}}{_fmt(est[j])}{'fixed':>11}")
            continue
        if kind[j] is None:
            zs = ps = f"{'':>9}"
        else:
            mark = "*" if kind[j] == "link" else ""
            zs = f"{f'{z[j]:.3f}{mark}':>9}" if np.isfinite(z[j]) else f"{'nan':>9}"
            ps = f"{p[j]:>9.3g}" if np.isfinite(p[j]) else f"{'nan':>9}"
        lines.append(
            f"{name:<{w}}{_fmt(est[j])}{_fmt(se[j])}{zs}{ps}{_fmt(lo[j], 12)}{_fmt(hi[j], 12)}"
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


def _interval_note(res: FitResult, method: str) -> str:
    """What the interval columns are."""
    if method == "profile":
        return "intervals: profile likelihood"
    if method == "wald" or all(_unconstrained(c) for c in res.model.spec.values()):
        return "intervals: Wald, estimate -/+ critical value * SE"
    return (
        "intervals: Wald on the log / logit scale of positive / bounded parameters, mapped "
        "back (method='wald' for the natural scale)"
    )


def _se_note(res: FitResult) -> list[str]:
    if res.se_computed:
        return []
    return [
        "  standard errors: not computed (fitted with se=False); refit with se=True "
        "for standard errors and intervals"
    ]


def _params_at_limit(res: FitResult) -> list[str]:
    at = np.asarray(res.at_limit)
    return [key for key, _, free in res.model.param_blocks() if np.any(at[free])]


def _batch_summary(res: FitResult, level: float) -> str:
    status = np.asarray(res.status)
    n = status.shape[0]
    lines = [
        f"jaxmle batch fit: {res.model.name}, {n:,} datasets",
        f"  status: {_status_counts(status)}",
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
        lines.append(f"{name:<{w}}" + "".join(_fmt(v, 12) for v in vals) + _fmt(mse, 12))
    return "\n".join(lines)
