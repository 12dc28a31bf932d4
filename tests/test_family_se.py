"""Standard errors of the families without a closed form, against the observed
information computed independently: central differences of scipy's log-density
sum at jaxmle's estimate (as statsmodels' GenericLikelihoodModel does)."""

import numpy as np
import pytest
import scipy.stats as st

import jaxmle as jm

RNG = np.random.default_rng(5)

# family -> (sample, scipy logpdf(x, *natural params), parameter order)
CASES = {
    "logistic": (
        RNG.logistic(1.0, 2.0, 300),
        lambda x, loc, scale: st.logistic.logpdf(x, loc, scale),
        ("loc", "scale"),
    ),
    "gumbel": (
        RNG.gumbel(1.0, 2.0, 300),
        lambda x, loc, scale: st.gumbel_r.logpdf(x, loc, scale),
        ("loc", "scale"),
    ),
    "loglogistic": (
        2.0 * np.exp(RNG.logistic(0.0, 1 / 3.0, 300)),
        lambda x, shape, scale: st.fisk.logpdf(x, shape, scale=scale),
        ("shape", "scale"),
    ),
}


def _observed_information(logpdf, x, theta, rel=1e-4):
    theta = np.asarray(theta, float)
    k = theta.size
    h = rel * np.maximum(np.abs(theta), 1.0)
    f = lambda t: float(np.sum(logpdf(x, *t)))  # noqa: E731
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            H[i, j] = (
                f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)
            ) / (4 * h[i] * h[j])
    return -H


@pytest.mark.parametrize("family", list(CASES))
def test_se_matches_numerical_observed_information(family):
    x, logpdf, names = CASES[family]
    res = jm.fit_dist(family, x)
    assert bool(res.converged)
    theta = [float(res.params[k]) for k in names]
    np.testing.assert_allclose(float(res.loglik), np.sum(logpdf(x, *theta)), rtol=1e-12)
    cov = np.linalg.inv(_observed_information(logpdf, x, theta))
    np.testing.assert_allclose([float(res.se[k]) for k in names], np.sqrt(np.diag(cov)), rtol=1e-4)


def test_multinomial_se_and_rank():
    p = np.array([0.2, 0.3, 0.5])
    counts = RNG.multinomial(8, p, size=150).astype(float)
    res = jm.fit_dist("multinomial", counts, k=3)
    total = counts.sum()
    phat = counts.sum(0) / total
    np.testing.assert_allclose(res.params["p"], phat, rtol=1e-10)
    # closed form: cov(p_hat) = (diag(p) - p p^T) / (number of trials), of rank k - 1
    np.testing.assert_allclose(res.cov, (np.diag(phat) - np.outer(phat, phat)) / total, atol=1e-12)
    assert np.linalg.matrix_rank(np.asarray(res.cov), tol=1e-10) == 2
    loglik = np.sum(st.multinomial.logpmf(counts, 8, phat))
    np.testing.assert_allclose(float(res.loglik), loglik, rtol=1e-10)
