"""Estimates, standard errors and log-likelihoods of the families without a closed-form MLE,
against an independent reference: the score equations written by hand (each checked against
central differences of scipy's logpdf), solved with scipy.optimize.root and polished by
Newton steps to a relative step below 1e-12; the observed information is the central
difference Jacobian of that score sum (as statsmodels' GenericLikelihoodModel does with the
log-likelihood), and the log-likelihood is the sum of scipy's logpdf at the reference."""

import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sp
import scipy.stats as st
from _scores import difference_scores, score_loglogistic, score_student_t

import jaxmle as jm


# -- per-observation scores (n, p) in jaxmle's natural parameters -------------------------
def _score_gamma(x, shape, scale):
    return np.column_stack(
        [np.log(x) - sp.digamma(shape) - np.log(scale), x / scale**2 - shape / scale]
    )


def _score_beta(x, a, b):
    return np.column_stack(
        [
            np.log(x) - sp.digamma(a) + sp.digamma(a + b),
            np.log1p(-x) - sp.digamma(b) + sp.digamma(a + b),
        ]
    )


def _score_logistic(x, loc, scale):
    z = (x - loc) / scale
    t = np.tanh(z / 2)
    return np.column_stack([t / scale, (z * t - 1) / scale])


def _score_gumbel(x, loc, scale):
    z = (x - loc) / scale
    e = -np.expm1(-z)  # 1 - exp(-z)
    return np.column_stack([e / scale, (z * e - 1) / scale])


# family -> (sampler(rng), scipy logpdf(x, *theta), score(x, *theta), parameter names,
#            starting point from scipy's .fit)
CASES = {
    "gamma": (
        lambda r: r.gamma(2.5, 2.0, 300),
        lambda x, k, s: st.gamma.logpdf(x, k, scale=s),
        _score_gamma,
        ("shape", "scale"),
        lambda x: (lambda e: (e[0], e[2]))(st.gamma.fit(x, floc=0)),
    ),
    "beta": (
        lambda r: r.beta(2.0, 5.0, 300),
        lambda x, a, b: st.beta.logpdf(x, a, b),
        _score_beta,
        ("a", "b"),
        lambda x: st.beta.fit(x, floc=0, fscale=1)[:2],
    ),
    "student_t": (
        lambda r: 1.0 + 2.0 * r.standard_t(2.5, 300),
        lambda x, loc, scale, df: st.t.logpdf(x, df, loc, scale),
        score_student_t,
        ("loc", "scale", "df"),
        lambda x: (lambda e: (e[1], e[2], e[0]))(st.t.fit(x)),
    ),
    "loglogistic": (
        lambda r: 2.0 * np.exp(r.logistic(0.0, 1 / 3.0, 300)),
        lambda x, c, s: st.fisk.logpdf(x, c, scale=s),
        score_loglogistic,
        ("shape", "scale"),
        lambda x: (lambda e: (e[0], e[2]))(st.fisk.fit(x, floc=0)),
    ),
    "logistic": (
        lambda r: r.logistic(1.0, 2.0, 300),
        lambda x, loc, scale: st.logistic.logpdf(x, loc, scale),
        _score_logistic,
        ("loc", "scale"),
        lambda x: st.logistic.fit(x),
    ),
    "gumbel": (
        lambda r: r.gumbel(1.0, 2.0, 300),
        lambda x, loc, scale: st.gumbel_r.logpdf(x, loc, scale),
        _score_gumbel,
        ("loc", "scale"),
        lambda x: st.gumbel_r.fit(x),
    ),
}


def _information(score, x, theta, rel=1e-6):
    """Observed information: minus the central-difference Jacobian of the score sum."""
    theta = np.asarray(theta, float)
    k = theta.size
    J = np.empty((k, k))
    for j in range(k):
        h = rel * max(abs(theta[j]), 1.0)
        e = np.zeros(k)
        e[j] = h
        J[:, j] = (score(x, *(theta + e)).sum(0) - score(x, *(theta - e)).sum(0)) / (2 * h)
    return -(J + J.T) / 2


def _solve_score(score, x, theta0):
    g = lambda t: score(x, *t).sum(0)  # noqa: E731
    theta = so.root(g, theta0, method="hybr", options={"xtol": 1e-12}).x
    for _ in range(5):  # Newton polish
        step = np.linalg.solve(_information(score, x, theta), g(theta))
        theta = theta + step
    assert np.all(np.abs(step) <= 1e-12 * np.abs(theta)), step
    return theta


# Measured (seed 1, 300 observations): the hand scores agree with scipy's central
# differences to 3.7e-10 relative; estimates to 1.1e-14, SEs to 3.0e-10, log-likelihoods to
# 4.4e-15 relative (scipy's own .fit of student_t and loglogistic is off by 1.1e-5).
SCORE_TOL = 1e-8  # 27x the worst measured: central differences (step 1e-5) of scipy's logpdf
EST_RTOL = 1e-12  # 90x the worst measured: two optimizers stopped at different roundings
SE_RTOL = 1e-8  # 33x the worst measured: the reference's difference Jacobian (step 1e-6)
LL_RTOL = 1e-13  # 22x the worst measured: sums of 300 terms in a different order


@pytest.mark.parametrize("family", list(CASES))
def test_estimates_and_se_match_independent_observed_information(family):
    sample, logpdf, score, names, start = CASES[family]
    x = sample(np.random.default_rng(1))
    theta = _solve_score(score, x, start(x))
    # the hand-written score is the derivative of scipy's log-density
    S = score(x, *theta)
    assert np.max(np.abs(S - difference_scores(logpdf, x, theta)) / (1 + np.abs(S))) < SCORE_TOL
    se = np.sqrt(np.diag(np.linalg.inv(_information(score, x, theta))))

    res = jm.fit_dist(family, x)
    assert int(res.status) == jm.Status.CONVERGED
    np.testing.assert_allclose([float(res.params[k]) for k in names], theta, rtol=EST_RTOL)
    np.testing.assert_allclose([float(res.se[k]) for k in names], se, rtol=SE_RTOL)
    np.testing.assert_allclose(float(res.loglik), np.sum(logpdf(x, *theta)), rtol=LL_RTOL)


def test_multinomial_se_and_rank():
    rng = np.random.default_rng(5)
    p = np.array([0.2, 0.3, 0.5])
    counts = rng.multinomial(8, p, size=150).astype(float)
    res = jm.fit_dist("multinomial", counts, k=3)
    total = counts.sum()
    phat = counts.sum(0) / total
    np.testing.assert_allclose(res.params["p"], phat, rtol=1e-10)
    # closed form: cov(p_hat) = (diag(p) - p p^T) / (number of trials), of rank k - 1
    np.testing.assert_allclose(res.cov, (np.diag(phat) - np.outer(phat, phat)) / total, atol=1e-12)
    assert np.linalg.matrix_rank(np.asarray(res.cov), tol=1e-10) == 2
    loglik = np.sum(st.multinomial.logpmf(counts, 8, phat))
    np.testing.assert_allclose(float(res.loglik), loglik, rtol=1e-10)
