"""Profile-likelihood intervals and curves: closed forms, iminuit MINOS, batching, simplexes,
derived quantities."""

import dataclasses
import math

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import COIN, EXPO
from scipy import optimize, stats

import jaxmle as jm
import jaxmle.profile as P

Q95 = stats.chi2.ppf(0.95, 1)


WEIBULL = jm.families.Weibull()
CATEGORICAL = jm.families.Categorical(k=3)
NORMAL = jm.families.Normal()


@pytest.fixture(scope="module")
def weib_x():
    # 1000 Weibull datasets of 30, the same in every run and every subset of the tests
    # (read-only: shared by the MINOS, batch and better-optimum tests)
    return 3.0 * np.random.default_rng(20240611).weibull(1.7, size=(1000, 30))


def _wilks(loglik, mle, lo, hi):
    """Both roots of 2 (l(mle) - l(t)) = chi2_1(0.95) by brentq (the reference)."""
    f = lambda t: 2 * (loglik(mle) - loglik(t)) - Q95
    return (
        optimize.brentq(f, lo, mle, xtol=1e-15, rtol=1e-15),
        optimize.brentq(f, mle, hi, xtol=1e-15, rtol=1e-15),
    )


def test_exponential_rate_matches_closed_form():
    x = np.array([0.8, 2.9, 1.1, 0.2, 4.5, 1.7, 0.6, 2.2, 3.1, 0.9])
    res = jm.fit(EXPO, jnp.asarray(x))
    n, s = len(x), x.sum()
    ref = _wilks(lambda r: n * np.log(r) - r * s, n / s, 1e-6, 10.0)
    lo, hi = res.conf_int(0.95, method="profile")["rate"]
    np.testing.assert_allclose([float(lo), float(hi)], ref, rtol=1e-8)
    # asymmetric about the estimate, unlike the Wald interval
    assert float(hi) - n / s > n / s - float(lo)


def test_binomial_wilks_interval_and_boundary():
    data = np.zeros((2, 10))
    data[0, :7] = 1.0  # 7 heads of 10
    data[1, :] = 1.0  # 10 heads of 10: the MLE is on the edge
    batch = jm.fit_batch(COIN, data)
    assert int(batch.status[1]) == jm.Status.BOUNDARY
    pi = jm.profile_intervals(batch, 0.95)
    lo, hi = np.asarray(pi.low["theta"]), np.asarray(pi.high["theta"])
    ref = _wilks(lambda p: 7 * np.log(p) + 3 * np.log1p(-p), 0.7, 1e-12, 1 - 1e-12)
    np.testing.assert_allclose([lo[0], hi[0]], ref, rtol=1e-8)
    # all heads: l(p) = n log p, so the interval is [exp(-chi2 / 2n), 1], not zero width
    np.testing.assert_allclose(lo[1], math.exp(-Q95 / 20), rtol=1e-8)
    assert hi[1] == 1.0
    assert pi.status["theta"].tolist() == [jm.ProfileStatus.OK, jm.ProfileStatus.OPEN]
    # the same through conf_int, one dataset at a time
    lo1, hi1 = batch[1].conf_int(method="profile")["theta"]
    np.testing.assert_allclose([float(lo1), float(hi1)], [lo[1], 1.0], rtol=1e-12)
    # its profile curve: the grid approaches the edge but stays inside the support
    prof = batch[1].profile("theta", points=11)
    g = np.asarray(prof.grid)
    assert g[0] < lo[1] and 0.99 < g[-1] < 1.0 and float(prof.interval[1]) == 1.0
    np.testing.assert_allclose(np.asarray(prof.loglik), 10 * np.log(g), rtol=1e-10)


def _weibull_nll(shape, scale, x):
    return -np.sum(stats.weibull_min.logpdf(x, shape, scale=scale))


def test_weibull_matches_iminuit_minos(weib_x):
    iminuit = pytest.importorskip("iminuit")
    x = weib_x[0]
    res = jm.fit(WEIBULL, {"x": x})
    m = iminuit.Minuit(lambda a, b: _weibull_nll(a, b, x), a=1.5, b=3.0)
    m.errordef = iminuit.Minuit.LIKELIHOOD  # 0.5: one-sigma = a change of 1/2 in -loglik
    m.limits = [(1e-3, None), (1e-3, None)]
    m.strategy = 2
    m.tol = 1e-9  # migrad's EDM target; the intervals below move < 1e-10 from 1e-6 to 0
    m.migrad()
    m.minos(cl=0.95)
    ci = res.conf_int(0.95, method="profile")
    for name, par in [("shape", "a"), ("scale", "b")]:
        me = m.merrors[par]
        ref = (m.values[par] + me.lower, m.values[par] + me.upper)
        # MINOS finds the crossings to its own tolerance: measured 6.1e-9 on this dataset
        # (6.2e-8 at worst on the first 20), whatever migrad's tol; 10x the worst
        np.testing.assert_allclose([float(ci[name][0]), float(ci[name][1])], ref, rtol=6e-7)


def test_batched_profile_is_one_call_and_equals_one_at_a_time(weib_x):
    batch = jm.fit_batch(WEIBULL, {"x": weib_x})
    before = P._intervals_jit._cache_size()
    ci = batch.conf_int(0.95, method="profile")
    assert P._intervals_jit._cache_size() == before + 1  # one compiled computation
    assert ci["shape"][0].shape == (1000,) and ci["scale"][1].shape == (1000,)
    for i in (0, 17, 999):
        one = jm.fit(WEIBULL, {"x": weib_x[i]}).conf_int(0.95, method="profile")
        for name in ("shape", "scale"):
            np.testing.assert_allclose(float(ci[name][0][i]), float(one[name][0]), rtol=1e-8)
            np.testing.assert_allclose(float(ci[name][1][i]), float(one[name][1]), rtol=1e-8)
    lo, hi = np.asarray(ci["shape"][0]), np.asarray(ci["shape"][1])
    est = np.asarray(batch.params["shape"])
    assert np.all((lo < est) & (est < hi))

    # the profile curve of a batch (the contract of res.profile)
    prof = batch.profile("shape", points=21)
    assert isinstance(prof, jm.Profile) and prof.param == "shape"
    assert prof.grid.shape == (1000, 21) and prof.loglik.shape == (1000, 21)
    assert prof.estimate.shape == (1000,) and prof.loglik_max.shape == (1000,)
    assert np.all(np.diff(np.asarray(prof.grid), axis=1) > 0)
    assert np.all(np.asarray(prof.deviance) >= 0)
    assert prof.threshold == pytest.approx(Q95) and prof.level == 0.95
    plo, phi = (np.asarray(v) for v in prof.interval)
    np.testing.assert_array_equal(plo, lo)
    g = np.asarray(prof.grid)
    assert np.all((g[:, 0] < lo) & (hi < g[:, -1]) & (g[:, 0] > 0))
    # the deviance crosses the threshold at the interval's ends, and is 0 at the estimate
    for i in range(3):
        dev = np.asarray(prof.deviance[i])
        # (linear interpolation on a 41-point grid: the deviance is curved between points)
        assert np.interp(lo[i], g[i], dev) == pytest.approx(Q95, rel=0.05)
        assert np.interp(hi[i], g[i], dev) == pytest.approx(Q95, rel=0.05)
        assert np.interp(est[i], g[i], dev) < 0.05


def test_simplex_component_profile_is_the_binomial_one():
    # the profile of p_j of a categorical is the binomial likelihood of n_j in n
    x = np.array([0, 0, 1, 2, 2, 2, 1, 0, 2, 2, 2, 1, 2, 0, 2.0])
    counts = np.bincount(x.astype(int), minlength=3)
    res = jm.fit(CATEGORICAL, {"x": x})
    pi = jm.profile_intervals(res)
    n = counts.sum()
    for j in range(3):
        k = counts[j]
        ref = _wilks(lambda p, k=k: k * np.log(p) + (n - k) * np.log1p(-p), k / n, 1e-9, 1 - 1e-9)
        got = [float(pi.low["p"][j]), float(pi.high["p"][j])]
        np.testing.assert_allclose(got, ref, rtol=1e-8)
    assert np.all(pi.status["p"] == jm.ProfileStatus.OK)


def test_better_optimum_is_reported_not_hidden(weib_x):
    x = weib_x[5]
    res = jm.fit(WEIBULL, {"x": x}, init={"shape": 5.0, "scale": 1.0}, max_iter=2)
    assert int(res.status) == jm.Status.MAX_ITER
    pi = jm.profile_intervals(res)
    assert int(pi.status["shape"]) == jm.ProfileStatus.BETTER_OPTIMUM
    with pytest.warns(jm.ProfileWarning, match="better optimum"):
        ci = res.conf_int(method="profile")
    assert math.isnan(float(ci["shape"][0]))


def test_profile_needs_the_data():
    res = dataclasses.replace(jm.fit(EXPO, jnp.array([1.0, 2.0])), data=None)
    with pytest.raises(ValueError, match="needs the data"):
        res.conf_int(method="profile")
    with pytest.raises(ValueError, match="unknown parameter"):
        jm.fit(EXPO, jnp.array([1.0, 2.0])).profile("lam")


def test_derived_mean_lifetime_of_the_drives():
    # the note's drives: failures at 2 and 4 years, one still running at 5
    res = jm.fit_dist("exponential", np.array([2.0, 4.0, 5.0]), event=np.array([1, 1, 0]))
    rate, se_rate = float(res.params["rate"]), float(res.se["rate"])
    wald = res.derived(lambda p: 1.0 / p["rate"])
    assert float(wald.estimate) == pytest.approx(5.5, rel=1e-12)
    assert float(wald.se) == pytest.approx(se_rate / rate**2, rel=1e-10)  # delta method
    z = stats.norm.ppf(0.975)
    assert float(wald.high) == pytest.approx(5.5 + z * se_rate / rate**2, rel=1e-10)
    prof = res.derived(lambda p: 1.0 / p["rate"], method="profile")
    # reference: l(rate) = 2 log(rate) - 11 rate; invariance: the profile interval of the
    # mean lifetime is the reciprocal of the rate's
    lo, hi = _wilks(lambda r: 2 * np.log(r) - 11 * r, 2 / 11, 1e-9, 10.0)
    np.testing.assert_allclose([float(prof.low), float(prof.high)], [1 / hi, 1 / lo], rtol=1e-7)
    assert int(prof.status) == jm.ProfileStatus.OK


def test_derived_quantile_matches_brute_force():
    # the 95% quantile q = loc + z scale of a normal: the profile maximizes over scale with
    # loc = q - z scale; the reference does it with scipy
    z = stats.norm.ppf(0.95)
    x = np.random.default_rng(20240612).normal(10.0, 2.0, size=25)
    res = jm.fit(NORMAL, {"x": x})
    d = res.derived(lambda p: p["loc"] + z * p["scale"], method="profile")

    def profile_ll(q):
        f = lambda ls: -np.sum(stats.norm.logpdf(x, q - z * np.exp(ls), np.exp(ls)))
        return -optimize.minimize_scalar(f, bracket=(0.0, 1.5), tol=1e-12).fun

    q_hat = x.mean() + z * x.std()
    ref = _wilks(profile_ll, q_hat, q_hat - 5, q_hat + 5)
    np.testing.assert_allclose([float(d.low), float(d.high)], ref, rtol=1e-6)
    assert float(d.estimate) == pytest.approx(q_hat, rel=1e-10)
    # the delta-method SE: sigma^2/n + z^2 sigma^2 / (2n)
    s = x.std()
    assert float(d.se) == pytest.approx(np.sqrt(s**2 / 25 * (1 + z**2 / 2)), rel=1e-6)
