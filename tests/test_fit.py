"""jm.fit and jm.fit_batch: what a fit returns for the models users write, checked against
references from outside jaxmle (closed forms, scipy's root finding, statsmodels): each solver
method, the options that change which observations count (nan_policy='omit', mask=, frequency
weights), the start and the iteration limit, a scalar log-likelihood, and the sandwich and
outer-product covariances. (Input errors: test_errors.py; fit_batch against a loop of fit,
under jit and vmap: test_batch_and_tracing.py.)"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    LOGIT3,
    NORMAL,
    WEIBULL,
    censored_weibull_data,
    logistic_data,
    logistic_model,
    normal_data,
    normal_loglik,
)
from scipy import optimize, stats

import jaxmle as jm

METHODS = ("trust", "newton", "lbfgs")


def _normal_closed_form(x):
    mu, sigma = float(np.mean(x)), float(np.std(x))
    return mu, sigma


# --------------------------------------------------------------------------
# every method, against the Weibull's profile equation
# --------------------------------------------------------------------------
def _weibull_reference(t, d):
    """The right-censored Weibull MLE: the shape solves the profile equation
    ``sum(t^k log t) / sum(t^k) - 1/k - sum(d log t) / r = 0`` (``r`` failures), the scale is
    ``(sum(t^k) / r)^(1/k)``; the standard errors are the inverse of the observed
    information, differentiated by hand."""
    t, d = np.asarray(t, float), np.asarray(d, float)
    r, lt = d.sum(), np.log(t)

    def profile(k):
        tk = t**k
        return np.sum(tk * lt) / np.sum(tk) - 1 / k - np.sum(d * lt) / r

    k = optimize.brentq(profile, 0.05, 20.0, xtol=1e-15, rtol=1e-15)
    lam = (np.sum(t**k) / r) ** (1 / k)
    z = t / lam
    zk, L = z**k, np.log(z)
    h_kk = np.sum(-d / k**2 - zk * L**2)
    h_kl = np.sum(-d + zk + k * zk * L) / lam
    h_ll = np.sum(d * k - k * zk - k**2 * zk) / lam**2
    cov = np.linalg.inv(-np.array([[h_kk, h_kl], [h_kl, h_ll]]))
    return {"shape": k, "scale": lam}, {
        "shape": math.sqrt(cov[0, 0]),
        "scale": math.sqrt(cov[1, 1]),
    }


@pytest.fixture(scope="module")
def weibull_data():
    return censored_weibull_data(60, seed=9)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reaches_the_weibull_profile_solution(weibull_data, method):
    res = jm.fit(WEIBULL, weibull_data, method=method)
    assert res.status_names == "CONVERGED"
    est, se = _weibull_reference(weibull_data["t"], weibull_data["event"])
    for key in ("shape", "scale"):
        np.testing.assert_allclose(float(res.params[key]), est[key], rtol=1e-8)
        np.testing.assert_allclose(float(res.se[key]), se[key], rtol=1e-7)
    t, d = weibull_data["t"], weibull_data["event"]
    ll = np.sum(
        d * stats.weibull_min.logpdf(t, est["shape"], scale=est["scale"])
        + (1 - d) * stats.weibull_min.logsf(t, est["shape"], scale=est["scale"])
    )
    np.testing.assert_allclose(float(res.loglik), ll, rtol=1e-12)
    assert float(res.nobs) == 60.0


# --------------------------------------------------------------------------
# a regression written by hand, one fit and a batch, against statsmodels
# --------------------------------------------------------------------------
def _statsmodels_logit(data):
    sm = pytest.importorskip("statsmodels.api")
    ref = sm.Logit(data["y"], data["X"]).fit(method="newton", tol=1e-14, maxiter=100, disp=0)
    return np.asarray(ref.params), np.asarray(ref.bse), float(ref.llf)


def test_a_logistic_regression_written_by_hand_equals_statsmodels():
    data = logistic_data(300, [0.5, -1.0, 0.8], seed=5)
    params, bse, llf = _statsmodels_logit(data)
    res = jm.fit(logistic_model(3), {k: jnp.asarray(v) for k, v in data.items()})
    assert res.status_names == "CONVERGED"
    np.testing.assert_allclose(np.asarray(res.params["beta"]), params, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(res.se["beta"]), bse, rtol=1e-7)
    np.testing.assert_allclose(float(res.loglik), llf, rtol=1e-12)
    # the package's own logistic regression: the same fit
    own = jm.fit(LOGIT3, {k: jnp.asarray(v) for k, v in data.items()})
    np.testing.assert_allclose(np.asarray(own.params["beta"]), params, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(own.se["beta"]), bse, rtol=1e-7)


def test_fit_batch_of_logistic_regressions_equals_statsmodels_per_dataset():
    sets = [logistic_data(80, [0.2, 1.0, -0.5], seed=s) for s in (21, 22, 23, 24)]
    stacked = {k: jnp.asarray(np.stack([s[k] for s in sets])) for k in ("X", "y")}
    batch = jm.fit_batch(logistic_model(3), stacked)
    assert batch.status_names.tolist() == ["CONVERGED"] * 4
    for i, data in enumerate(sets):
        params, bse, llf = _statsmodels_logit(data)
        np.testing.assert_allclose(np.asarray(batch.params["beta"][i]), params, rtol=1e-8)
        np.testing.assert_allclose(np.asarray(batch.se["beta"][i]), bse, rtol=1e-7)
        np.testing.assert_allclose(float(batch.loglik[i]), llf, rtol=1e-12)
        assert float(batch.nobs[i]) == 80.0


# --------------------------------------------------------------------------
# the start and the iteration limit
# --------------------------------------------------------------------------
def test_max_iter_zero_returns_the_start_and_its_loglik():
    x = normal_data(30, seed=2)
    res = jm.fit(NORMAL, jnp.asarray(x), init={"mu": 1.0, "sigma": 2.0}, max_iter=0)
    assert res.status_names == "MAX_ITER" and int(res.n_iter) == 0
    assert (float(res.params["mu"]), float(res.params["sigma"])) == (1.0, 2.0)
    np.testing.assert_allclose(float(res.loglik), stats.norm.logpdf(x, 1.0, 2.0).sum(),
                               rtol=1e-13)  # fmt: skip


def test_a_far_start_reaches_the_closed_form():
    x = normal_data(30, seed=2)
    mu, sigma = _normal_closed_form(x)
    for init in ({"mu": 100.0, "sigma": 0.05}, {"mu": -40.0, "sigma": 300.0}):
        res = jm.fit(NORMAL, jnp.asarray(x), init=init)
        assert res.status_names == "CONVERGED", init
        np.testing.assert_allclose(float(res.params["mu"]), mu, rtol=1e-10)
        np.testing.assert_allclose(float(res.params["sigma"]), sigma, rtol=1e-10)
        np.testing.assert_allclose(float(res.se["mu"]), sigma / math.sqrt(30), rtol=1e-9)


def test_a_scalar_loglik_fits_like_the_per_observation_one():
    # the total instead of the terms: the same estimate and information, no observation count
    x = jnp.asarray(normal_data(30, seed=2))
    total = jm.Model(lambda p, x: jnp.sum(normal_loglik(p, x)), NORMAL.spec, name="total")
    res = jm.fit(total, x)
    mu, sigma = _normal_closed_form(x)
    assert res.status_names == "CONVERGED"
    np.testing.assert_allclose(float(res.params["mu"]), mu, rtol=1e-10)
    np.testing.assert_allclose(float(res.params["sigma"]), sigma, rtol=1e-10)
    np.testing.assert_allclose(float(res.se["sigma"]), sigma / math.sqrt(60), rtol=1e-9)
    np.testing.assert_allclose(float(res.loglik), stats.norm.logpdf(x, mu, sigma).sum(),
                               rtol=1e-13)  # fmt: skip
    assert math.isnan(float(res.nobs))


# --------------------------------------------------------------------------
# the sandwich and the outer product of the scores, in closed form
# --------------------------------------------------------------------------
def test_robust_and_opg_covariances_of_the_normal_in_closed_form():
    x = normal_data(50, seed=8) ** 3 / 4.0  # skewed and heavy-tailed: not normal
    n = x.size
    mu, sigma = _normal_closed_form(x)
    e = x - mu
    # per-observation scores in (mu, sigma) and the Hessian at the estimate
    scores = np.column_stack([e / sigma**2, (e**2 - sigma**2) / sigma**3])
    hessian = np.diag([-n / sigma**2, -2 * n / sigma**2])
    meat = scores.T @ scores
    bread = np.linalg.inv(-hessian)
    want = {"robust": bread @ meat @ bread, "opg": np.linalg.inv(meat)}
    for cov_type, cov in want.items():
        res = jm.fit(NORMAL, jnp.asarray(x), cov_type=cov_type)
        assert res.cov_type == cov_type
        np.testing.assert_allclose(np.asarray(res.cov), cov, rtol=1e-8,
                                   atol=1e-12 * np.abs(cov).max())  # fmt: skip
        np.testing.assert_allclose(float(res.se["sigma"]), math.sqrt(cov[1, 1]), rtol=1e-8)
    # the sandwich's off-diagonal is the third central moment: sum(e^3) / (2 n^2 sigma)
    np.testing.assert_allclose(want["robust"][0, 1], np.sum(e**3) / (2 * n**2 * sigma),
                               rtol=1e-12)  # fmt: skip


# --------------------------------------------------------------------------
# which observations count: nan_policy='omit', mask=, frequency weights
# --------------------------------------------------------------------------
def _lognormal_ll(p, x):
    # log-normal density: log x enters, so x = 0 gives a non-finite term
    lx = jnp.log(x)
    return jax.scipy.stats.norm.logpdf(lx, p["mu"], p["sigma"]) - lx


LOGNORMAL = jm.Model(_lognormal_ll, {"mu": jm.Real(), "sigma": jm.Positive()}, name="lognormal")


def _assert_same_fit(a, b, *, nobs):
    # both are the same optimum, solved to the float64 Newton tolerance
    for key in ("mu", "sigma"):
        np.testing.assert_allclose(float(a.params[key]), float(b.params[key]), rtol=1e-9)
        np.testing.assert_allclose(float(a.se[key]), float(b.se[key]), rtol=1e-8)
    np.testing.assert_allclose(float(a.loglik), float(b.loglik), rtol=1e-12)
    assert float(a.nobs) == float(b.nobs) == nobs
    assert int(a.status) == int(b.status) == jm.Status.CONVERGED


def _lognormal_closed_form(x, w=None):
    """MLE of the log-normal: weighted mean and (divisor sum w) std of log x."""
    lx = np.log(x)
    w = np.ones_like(lx) if w is None else w
    mu = np.sum(w * lx) / np.sum(w)
    sigma = math.sqrt(np.sum(w * (lx - mu) ** 2) / np.sum(w))
    return mu, sigma


def test_nan_policy_omit_equals_dropping():
    x = np.array([1.2, 0.4, np.nan, 3.1, 2.2, np.inf, 0.9, 5.0])
    keep = np.isfinite(x)
    omit = jm.fit(LOGNORMAL, jnp.asarray(x), nan_policy="omit")
    dropped = jm.fit(LOGNORMAL, jnp.asarray(x[keep]))
    _assert_same_fit(omit, dropped, nobs=6.0)
    mu, sigma = _lognormal_closed_form(x[keep])
    assert math.isclose(float(omit.params["mu"]), mu, rel_tol=1e-9)
    assert math.isclose(float(omit.params["sigma"]), sigma, rel_tol=1e-9)


def test_mask_equals_dropping_even_where_loglik_is_not_finite():
    x = np.array([1.2, 0.4, 0.0, 3.1, 2.2, -1.0, 0.9, 5.0])  # 0 and -1: log-density -inf / nan
    mask = x > 0
    unmasked = jm.fit(LOGNORMAL, jnp.asarray(x))
    assert int(unmasked.status) == jm.Status.NONFINITE  # the bad terms do matter unmasked
    masked = jm.fit(LOGNORMAL, jnp.asarray(x), mask=jnp.asarray(mask))
    dropped = jm.fit(LOGNORMAL, jnp.asarray(x[mask]))
    _assert_same_fit(masked, dropped, nobs=6.0)
    # an integer 0/1 mask means the same
    masked_int = jm.fit(LOGNORMAL, jnp.asarray(x), mask=jnp.asarray(mask.astype(int)))
    _assert_same_fit(masked_int, dropped, nobs=6.0)
    # mask in a batch too: each row its own mask
    batch = jm.fit_batch(
        LOGNORMAL, jnp.asarray(np.stack([x, x])), mask=jnp.asarray(np.stack([mask, mask]))
    )
    _assert_same_fit(batch[1], dropped, nobs=6.0)


def test_integer_weights_equal_repeated_observations():
    x = np.array([1.2, 0.4, 3.1, 2.2, 0.9, 5.0])
    w = np.array([1, 3, 0, 2, 1, 4])
    weighted = jm.fit(LOGNORMAL, jnp.asarray(x), weights=jnp.asarray(w))
    repeated = jm.fit(LOGNORMAL, jnp.asarray(np.repeat(x, w)))
    _assert_same_fit(weighted, repeated, nobs=float(w.sum()))
    mu, sigma = _lognormal_closed_form(x, w.astype(float))
    assert math.isclose(float(weighted.params["mu"]), mu, rel_tol=1e-9)
    assert math.isclose(float(weighted.params["sigma"]), sigma, rel_tol=1e-9)
    # BIC uses nobs = sum of weights
    assert math.isclose(float(weighted.bic), float(repeated.bic), rel_tol=1e-12)
