"""Censored fits against scipy's CensoredData (right, left and interval censoring).

scipy maximizes the censored likelihood numerically (Nelder-Mead through
``rv_continuous.fit``), so the estimates are compared at 1e-3 relative, and
jaxmle's log-likelihood must be at least scipy's (it is the maximum).
"""

import numpy as np
import pytest
import scipy.stats as st

import jaxmle as jm

RNG = np.random.default_rng(7)


def _right(n=150):
    t = st.weibull_min.rvs(1.7, scale=3.0, size=n, random_state=RNG)
    c = st.uniform.rvs(0, 8.0, size=n, random_state=RNG)
    return np.minimum(t, c), (t <= c).astype(float)


def _scipy_loglik(dist, params, lower, upper):
    # log-likelihood of interval-coded data under scipy's distribution, all constants included
    exact = lower == upper
    ll = np.where(exact, dist.logpdf(np.where(exact, lower, 1.0), *params), 0.0)
    cens = ~exact
    ll = ll + np.where(
        cens,
        np.log(np.where(cens, dist.cdf(upper, *params) - dist.cdf(lower, *params), 1.0)),
        0.0,
    )
    return float(ll.sum())


CASES = {
    "weibull": (st.weibull_min, lambda r: (r.params["shape"], 0.0, r.params["scale"])),
    "lognormal": (st.lognorm, lambda r: (r.params["sigma"], 0.0, np.exp(r.params["mu"]))),
    "gamma": (st.gamma, lambda r: (r.params["shape"], 0.0, r.params["scale"])),
}


@pytest.mark.parametrize("family", list(CASES))
def test_right_censored_matches_scipy_censored_data(family):
    x, event = _right()
    dist, ours = CASES[family]
    data = st.CensoredData(uncensored=x[event == 1], right=x[event == 0])
    ref = dist.fit(data, floc=0)
    res = jm.fit_dist(family, x, event=event)
    assert bool(res.converged)
    got = np.array([float(v) for v in ours(res)])
    np.testing.assert_allclose(got, np.asarray(ref), rtol=1e-3, atol=1e-12)
    lower = x
    upper = np.where(event == 1, x, np.inf)
    assert float(res.loglik) >= _scipy_loglik(dist, ref, lower, upper) - 1e-9
    np.testing.assert_allclose(
        float(res.loglik), _scipy_loglik(dist, got, lower, upper), rtol=1e-10
    )


def test_interval_and_left_censored_weibull_matches_scipy():
    t = st.weibull_min.rvs(1.3, scale=2.0, size=200, random_state=RNG)
    lower = np.floor(t)  # inspected once a year: failure between two inspections
    upper = lower + 1.0
    lower[lower == 0] = 0.0  # failed before the first inspection: left-censored at 1
    exact = RNG.uniform(size=t.size) < 0.3
    lower[exact] = upper[exact] = t[exact]
    left = (lower == 0) & ~exact
    interval = ~exact & ~left
    data = st.CensoredData(
        uncensored=t[exact],
        left=upper[left],
        interval=np.column_stack([lower[interval], upper[interval]]),
    )
    ref = st.weibull_min.fit(data, floc=0)
    res = jm.fit_dist("weibull", None, lower=lower, upper=upper)
    assert bool(res.converged)
    got = (float(res.params["shape"]), 0.0, float(res.params["scale"]))
    np.testing.assert_allclose(got, np.asarray(ref), rtol=1e-3, atol=1e-12)
    assert float(res.loglik) >= _scipy_loglik(st.weibull_min, ref, lower, upper) - 1e-9
    np.testing.assert_allclose(
        float(res.loglik), _scipy_loglik(st.weibull_min, got, lower, upper), rtol=1e-10
    )
