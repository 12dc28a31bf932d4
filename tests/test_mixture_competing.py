"""The two-Weibull mixture and independent competing risks: estimates against the
log-likelihoods written independently with numpy and maximized by scipy.optimize, and
against lifelines' separate fits of each cause; censoring; batches equal single fits."""

import warnings

import numpy as np
import pytest
from scipy import optimize, stats

import jaxmle as jm


def _mixture_sample(seed, n=200, p=0.3):
    rng = np.random.default_rng(seed)
    first = rng.uniform(size=n) < p
    return np.where(first, 100.0 * rng.weibull(1.2, n), 2000.0 * rng.weibull(3.0, n))


def _nll_mixture(theta, x, event):
    p = 1 / (1 + np.exp(-theta[0]))
    k1, l1, k2, l2 = np.exp(theta[1:])
    f1, f2 = stats.weibull_min.pdf(x, k1, scale=l1), stats.weibull_min.pdf(x, k2, scale=l2)
    s1, s2 = stats.weibull_min.sf(x, k1, scale=l1), stats.weibull_min.sf(x, k2, scale=l2)
    f, s = p * f1 + (1 - p) * f2, p * s1 + (1 - p) * s2
    return -np.sum(np.where(event == 1, np.log(f), np.log(s)))


def _minimize(nll, starts, *args):
    best = None
    for t0 in starts:
        r = optimize.minimize(
            nll, t0, args=args, method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 40000, "maxfev": 80000},
        )  # fmt: skip
        r = optimize.minimize(nll, r.x, args=args, method="BFGS", options={"gtol": 1e-9})
        if best is None or r.fun < best.fun:
            best = r
    return best


@pytest.mark.parametrize("censor", [False, True])
def test_weibull_mixture_against_numpy_loglik(censor):
    life = _mixture_sample(3)
    stop = 2500.0 if censor else np.inf
    x, event = np.minimum(life, stop), (life <= stop).astype(int)
    res = jm.fit_dist("weibull_mixture", x, event=event)
    assert jm.Status(int(res.status)) is jm.Status.CONVERGED
    got = [float(res.params[k]) for k in ("p", "shape1", "scale1", "shape2", "scale2")]
    # the reference starts from a guess of its own (not jaxmle's estimate) and one nearby
    starts = [
        np.array([0.0, 0.0, np.log(200.0), 1.0, np.log(1500.0)]),
        np.array([-1.0, 0.2, np.log(100.0), 1.2, np.log(2000.0)]),
    ]
    ref = _minimize(_nll_mixture, starts, x, event)
    want = [1 / (1 + np.exp(-ref.x[0])), *np.exp(ref.x[1:])]
    np.testing.assert_allclose(got, want, rtol=2e-4)
    assert np.isclose(float(res.loglik), -ref.fun, rtol=1e-9)
    assert float(res.loglik) >= -ref.fun - 1e-7
    # the early subpopulation is the first component
    assert got[2] < got[4] and 0.2 < got[0] < 0.4


def test_weibull_mixture_batch_equals_single_fits():
    life = np.stack([_mixture_sample(s, n=150) for s in (21, 22, 23)])
    x, event = np.minimum(life, 2500.0), (life <= 2500.0).astype(int)
    batch = jm.fit_dist("weibull_mixture", x, event=event)
    for i in range(3):
        one = jm.fit_dist("weibull_mixture", x[i], event=event[i])
        assert int(batch.status[i]) == int(one.status) == jm.Status.CONVERGED
        for k in one.params:
            np.testing.assert_allclose(batch.params[k][i], one.params[k], rtol=1e-7)


# -- competing risks -----------------------------------------------------------------------
def _competing_sample(seed, n=120):
    rng = np.random.default_rng(seed)
    wear = 1000.0 * rng.weibull(2.5, n)
    shock = rng.exponential(2500.0, n)
    stop = 1200.0
    t = np.minimum(np.minimum(wear, shock), stop)
    cause = np.where(t == stop, 0, np.where(wear < shock, 1, 2))
    return t, cause


CAUSES = {"wear": "weibull", "shock": "exponential"}


def test_each_cause_equals_lifelines_with_the_others_censored():
    lifelines = pytest.importorskip("lifelines")
    t, cause = _competing_sample(1)
    res = jm.fit_competing(t, cause, CAUSES)
    assert jm.Status(int(res.status)) is jm.Status.CONVERGED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wf = lifelines.WeibullFitter().fit(t, event_observed=cause == 1)
        ef = lifelines.ExponentialFitter().fit(t, event_observed=cause == 2)
    np.testing.assert_allclose(res.params["wear.shape"], wf.rho_, rtol=1e-5)
    np.testing.assert_allclose(res.params["wear.scale"], wf.lambda_, rtol=1e-5)
    np.testing.assert_allclose(res.params["shock.rate"], 1 / ef.lambda_, rtol=1e-6)
    # the joint log-likelihood is the sum of the two censored ones
    assert np.isclose(float(res.loglik), wf.log_likelihood_ + ef.log_likelihood_, rtol=1e-8)
    np.testing.assert_allclose(res.se["wear.shape"], wf.summary.loc["rho_", "se(coef)"], rtol=1e-4)
    # closed form of the exponential cause: failures of that cause over the total time
    np.testing.assert_allclose(res.params["shock.rate"], np.sum(cause == 2) / t.sum(), rtol=1e-10)
    per = jm.cause_params(res)
    assert set(per) == {"wear", "shock"} and set(per["wear"]) == {"shape", "scale"}


def _nll_competing(theta, t, cause):
    k, lam = np.exp(theta[0]), np.exp(theta[1])
    mu, s = theta[2], np.exp(theta[3])
    lw_f = stats.weibull_min.logpdf(t, k, scale=lam)
    lw_s = stats.weibull_min.logsf(t, k, scale=lam)
    ll_f = stats.lognorm.logpdf(t, s, scale=np.exp(mu))
    ll_s = stats.lognorm.logsf(t, s, scale=np.exp(mu))
    return -np.sum(np.where(cause == 1, lw_f, lw_s) + np.where(cause == 2, ll_f, ll_s))


def test_weibull_and_lognormal_causes_against_numpy_loglik():
    rng = np.random.default_rng(5)
    n = 150
    wear = 1000.0 * rng.weibull(2.5, n)
    crack = np.exp(rng.normal(7.2, 0.6, n))
    t = np.minimum(np.minimum(wear, crack), 1500.0)
    cause = np.where(t == 1500.0, 0, np.where(wear < crack, 1, 2))
    causes = {"wear": "weibull", "crack": "lognormal"}
    res = jm.fit_competing(t, cause, causes)
    assert jm.Status(int(res.status)) is jm.Status.CONVERGED
    ref = _minimize(_nll_competing, [np.array([0.5, np.log(800.0), 7.0, 0.0])], t, cause)
    want = [np.exp(ref.x[0]), np.exp(ref.x[1]), ref.x[2], np.exp(ref.x[3])]
    got = [float(res.params[k]) for k in ("wear.shape", "wear.scale", "crack.mu", "crack.sigma")]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.isclose(float(res.loglik), -ref.fun, rtol=1e-10)
    # the unit's reliability: the product of the causes' survival functions
    r = jm.competing_reliability(res, 800.0, causes)
    p = jm.cause_params(res)
    s_w = stats.weibull_min.sf(800.0, float(p["wear"]["shape"]), scale=float(p["wear"]["scale"]))
    s_c = stats.lognorm.sf(800.0, float(p["crack"]["sigma"]), scale=np.exp(float(p["crack"]["mu"])))
    assert np.isclose(float(r.estimate), s_w * s_c, rtol=1e-10)
    assert 0 < float(r.low) < float(r.estimate) < float(r.high) < 1


def test_competing_batch_and_errors():
    pairs = [_competing_sample(s, n=80) for s in (31, 32, 33)]
    T = np.stack([p[0] for p in pairs])
    C = np.stack([p[1] for p in pairs])
    batch = jm.fit_competing(T, C, CAUSES)
    assert batch.batch_shape == (3,)
    for i in range(3):
        one = jm.fit_competing(T[i], C[i], CAUSES)
        assert int(batch.status[i]) == int(one.status) == jm.Status.CONVERGED
        for k in one.params:
            np.testing.assert_allclose(batch.params[k][i], one.params[k], rtol=1e-7)
    with pytest.raises(ValueError, match="cause must be 0"):
        jm.fit_competing(T[0], np.where(C[0] == 2, 3, C[0]), CAUSES)
    with pytest.raises(ValueError, match="causes must be"):
        jm.competing_risks({})
    assert jm.competing_risks(CAUSES) is jm.competing_risks(dict(CAUSES))


def test_competing_risks_coverage_over_a_batch():
    # 400 simulated fleets in one call: the default 95% intervals (log scale) cover the truth
    # about 95% of the time for every parameter (binomial tolerance: 4 standard deviations)
    rng = np.random.default_rng(77)
    B, n = 400, 150
    wear = 1000.0 * rng.weibull(2.5, (B, n))
    shock = rng.exponential(2500.0, (B, n))
    t = np.minimum(np.minimum(wear, shock), 1200.0)
    cause = np.where(t == 1200.0, 0, np.where(wear < shock, 1, 2))
    batch = jm.fit_competing(t, cause, CAUSES)
    ok = np.asarray(batch.converged)
    assert ok.mean() == 1.0
    truth = {"wear.shape": 2.5, "wear.scale": 1000.0, "shock.rate": 1 / 2500.0}
    ci = batch.conf_int(0.95)
    for key, value in truth.items():
        lo, hi = (np.asarray(v) for v in ci[key])
        cover = np.mean((lo <= value) & (value <= hi))
        assert abs(cover - 0.95) < 4 * np.sqrt(0.95 * 0.05 / B), (key, cover)
        pull = (np.asarray(batch.params[key]) - value) / np.asarray(batch.se[key])
        assert abs(pull.mean()) < 0.25 and 0.75 < pull.std() < 1.3, (key, pull.mean(), pull.std())
