"""FitResult: a pytree of arrays, its indexing and intervals (its tables: :mod:`jaxmle._format`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._format import batch_summary, single_summary, status_counts
from ._status import Status
from .fixed import fixed_free_size
from .inference import t_value, z_value

__all__ = ["Status", "FitResult"]


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
        _check_ci_method(method)
        if method == "profile":
            z_value(level)  # validates the level
            return _refit("conf_int_profile")(self, level)
        return _wald_intervals(
            tuple(self.model.spec.items()), dict(self.params), dict(self.se),
            self._critical(level), method,
        )  # fmt: skip

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
        batch = self.batch_shape
        if method == "profile":
            ci = self.conf_int(level, method)
            lo = self.model.flatten_batched({k: v[0] for k, v in ci.items()}, batch)
            hi = self.model.flatten_batched({k: v[1] for k, v in ci.items()}, batch)
            est = self.model.flatten_batched(self.params, batch)
            se = self.model.flatten_batched(self.se, batch)
        else:  # (one compiled computation, not an eager operation per column)
            _check_ci_method(method)
            est, se, lo, hi = _flat_columns(
                tuple(self.model.spec.items()), dict(self.params), dict(self.se),
                self._critical(level), method, len(batch),
            )  # fmt: skip
        cols: dict[str, np.ndarray] = {}
        est, se, lo, hi = (np.asarray(a) for a in (est, se, lo, hi))
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
            return batch_summary(self, level)
        return single_summary(self, level, method, null)

    def __repr__(self) -> str:
        if self.batch_shape:
            counts = status_counts(np.asarray(self.status))
            return f"FitResult(batch of {self.batch_shape[0]}: {counts})"
        est = {k: np.asarray(v).round(6).tolist() for k, v in self.params.items()}
        return f"FitResult(status={Status(int(self.status)).name}, params={est})"


jax.tree_util.register_dataclass(FitResult)


def _check_ci_method(method: str) -> None:
    if method not in _CI_METHODS:
        raise ValueError(f"unknown interval method {method!r}; use one of {_CI_METHODS}")


# (keyed by the constraints, which compare by value, not by the model: every fit with
# ``args=`` or ``fixed=`` has a model object of its own)
@functools.partial(jax.jit, static_argnames=("spec", "method"))
def _wald_intervals(spec, params, se, crit, method):
    """The Wald intervals of :meth:`FitResult.conf_int` (``method`` ``"wald"`` or
    ``"wald_transformed"``; ``spec``: the model's ``(name, constraint)`` pairs), every
    parameter in one compiled computation (op by op, each of a batch's columns compiled an
    operation of its own: 0.5 s for 100,000 fits)."""
    out = {}
    for key, c in spec:
        est, s = params[key], se[key]
        # (with df_resid: one critical value per dataset of a batch)
        z = jnp.reshape(crit, jnp.shape(crit) + (1,) * len(c.shape))
        if method == "wald":
            out[key] = (est - z * s, est + z * s)
        else:
            eta, deta = c.link(est)
            half = z * s * jnp.abs(deta)
            # a fixed component (se 0) keeps its value exactly
            exact = s == 0
            out[key] = (
                jnp.where(exact, est, c.link_inverse(eta - half)),
                jnp.where(exact, est, c.link_inverse(eta + half)),
            )
    return out


@functools.partial(jax.jit, static_argnames=("spec", "method", "batch_ndim"))
def _flat_columns(spec, params, se, crit, method, batch_ndim):
    """``(estimate, se, low, high)`` of :meth:`FitResult.to_dict`, each flattened as
    :meth:`~jaxmle.Model.flatten_batched` does (``batch + (m,)``), in one compiled
    computation."""
    batch = jnp.shape(jax.tree_util.tree_leaves(params)[0])[:batch_ndim]
    ci = _wald_intervals(spec, params, se, crit, method)

    def flat(values):  # (Model.flatten_batched, from the spec: results does not import model)
        return jnp.concatenate([jnp.reshape(values[k], batch + (-1,)) for k, _ in spec], axis=-1)

    return (
        flat(params), flat(se), flat({k: v[0] for k, v in ci.items()}),
        flat({k: v[1] for k, v in ci.items()}),
    )  # fmt: skip
