"""Covariance types, derived quantities, bootstrap, profile intervals, Wald tests and family
comparison by value against references computed without jaxmle: closed forms, scipy.stats
log-densities differentiated by central differences, scipy root-finders, statsmodels.

Every test draws its data from its own seeded generator.
"""

import math

import jax
import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sp
import scipy.stats as st
from _scores import difference_scores
from helpers import difference_hessian

import jaxmle as jm


# -- references ---------------------------------------------------------------------------
def _gamma_mle(x):
    """Gamma (shape, scale) MLE: the root of log k - digamma(k) = log mean(x) - mean(log x)
    (brentq to 1e-15 relative), scale = mean(x) / k."""
    c = math.log(np.mean(x)) - np.mean(np.log(x))
    k = so.brentq(lambda k: math.log(k) - sp.digamma(k) - c, 1e-3, 1e4, xtol=1e-300, rtol=1e-15)
    return np.array([k, np.mean(x) / k])


def _weibull_mle(x):
    """Weibull (shape, scale) MLE: the root in k of the profile score
    sum(x^k log x) / sum(x^k) - 1/k - mean(log x), scale = mean(x^k)^(1/k)."""
    lx = np.log(x)

    def g(k):
        w = np.exp(k * (lx - lx.max()))  # x^k up to a constant factor
        return np.sum(w * lx) / np.sum(w) - 1 / k - np.mean(lx)

    k = so.brentq(g, 1e-2, 1e2, xtol=1e-300, rtol=1e-15)
    return np.array([k, np.mean(x**k) ** (1 / k)])


def _loglogistic_mle(x):
    """Log-logistic (shape, scale) MLE: the root of its score equations
    sum tanh(c y / 2) = 0 and n / c = sum y tanh(c y / 2), y = log(x / scale)."""

    def g(t):
        c, s = t
        y = np.log(x / s)
        th = np.tanh(c * y / 2)
        return [np.mean(th), 1 / c - np.mean(y * th)]

    start = st.fisk.fit(x, floc=0)
    sol = so.root(g, [start[0], start[2]], method="hybr", options={"xtol": 1e-14})
    assert np.max(np.abs(g(sol.x))) < 1e-13
    return sol.x


GAMMA_LOGPDF = lambda x, k, s: st.gamma.logpdf(x, k, scale=s)  # noqa: E731
WEIBULL_LOGPDF = lambda x, k, s: st.weibull_min.logpdf(x, k, scale=s)  # noqa: E731


# -- 4. cov_type="opg" and "robust" -------------------------------------------------------
COV_CASES = {
    "gamma": (lambda r: r.gamma(2.5, 2.0, 250), _gamma_mle, GAMMA_LOGPDF),
    "weibull": (lambda r: 2.0 * r.weibull(1.7, 250), _weibull_mle, WEIBULL_LOGPDF),
}
# Measured (seed 3), entrywise: OPG within 3.5e-10, robust within 3.6e-9 relative (the
# difference Hessian alone is within 1.7e-9 of the observed-information covariance).
OPG_RTOL = 4e-9  # 11x the worst measured: central-difference scores (step 1e-5)
ROBUST_RTOL = 4e-8  # 11x the worst measured: scores and the extrapolated difference Hessian


@pytest.mark.parametrize("family", list(COV_CASES))
def test_opg_and_robust_covariance_match_difference_scores(family):
    sample, mle, logpdf = COV_CASES[family]
    x = sample(np.random.default_rng(3))
    theta = mle(x)
    S = difference_scores(logpdf, x, theta)
    meat = S.T @ S
    H = difference_hessian(lambda t: np.sum(logpdf(x, *t)), theta)
    bread = np.linalg.inv(-H)
    opg = jm.fit_dist(family, x, cov_type="opg")
    rob = jm.fit_dist(family, x, cov_type="robust")
    for res in (opg, rob):
        assert int(res.status) == jm.Status.CONVERGED
        np.testing.assert_allclose([res.params["shape"], res.params["scale"]], theta, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(opg.cov), np.linalg.inv(meat), rtol=OPG_RTOL)
    np.testing.assert_allclose(np.asarray(rob.cov), bread @ meat @ bread, rtol=ROBUST_RTOL)
    # not vacuous: both differ from the inverse observed information at this n
    assert not np.allclose(np.asarray(opg.cov), bread, rtol=1e-2)
    assert not np.allclose(np.asarray(rob.cov), bread, rtol=1e-2)


# -- 5. res.derived on a batch --------------------------------------------------------------
def test_derived_on_a_batch_matches_per_dataset_delta_method():
    rng = np.random.default_rng(4)
    X = rng.gamma(2.0, 1.5, size=(4, 80))
    batch = jm.fit_batch(jm.families.Gamma(), {"x": X})
    assert np.all(np.asarray(batch.status) == jm.Status.CONVERGED)
    for level in (0.95, 0.90):
        z = st.norm.ppf((1 + level) / 2)
        mean = batch.derived(lambda p: p["shape"] * p["scale"], level=level)
        var = batch.derived(lambda p: p["shape"] * p["scale"] ** 2, level=level)
        for i, x in enumerate(X):
            # each dataset's own fit, its observed information by differences of scipy's
            # logpdf, and the gradients of k s and k s^2 by hand
            k, s = _gamma_mle(x)
            H = difference_hessian(lambda t, x=x: np.sum(GAMMA_LOGPDF(x, *t)), [k, s])
            cov = np.linalg.inv(-H)
            for d, est, g in (
                (mean, k * s, np.array([s, k])),
                (var, k * s**2, np.array([s**2, 2 * k * s])),
            ):
                se = math.sqrt(g @ cov @ g)
                np.testing.assert_allclose(float(d.estimate[i]), est, rtol=1e-12)
                # measured 5.6e-10 (SE) and 4.1e-10 (ends): the reference's difference
                # Hessian; about 10x margin
                np.testing.assert_allclose(float(d.se[i]), se, rtol=6e-9)
                np.testing.assert_allclose(
                    [float(d.low[i]), float(d.high[i])], [est - z * se, est + z * se], rtol=5e-9
                )


def test_derived_on_a_batch_matches_closed_form_exponential_mean():
    # exponential: the MLE of the mean 1/rate is mean(x), its delta-method SE mean(x)/sqrt(n)
    rng = np.random.default_rng(6)
    X = rng.exponential(2.0, size=(5, 40))
    batch = jm.fit_batch(jm.families.Exponential(), {"x": X})
    d = batch.derived(lambda p: 1.0 / p["rate"], level=0.99)
    xbar = X.mean(axis=1)
    z = st.norm.ppf(0.995)
    np.testing.assert_allclose(np.asarray(d.estimate), xbar, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(d.se), xbar / math.sqrt(40), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(d.low), xbar * (1 - z / math.sqrt(40)), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(d.high), xbar * (1 + z / math.sqrt(40)), rtol=1e-12)


# -- 6. bootstrap with mask= and weights= ----------------------------------------------------
# Properties of two jaxmle paths, compared by value: (a) observations left out with mask=
# are never drawn (their resampling weight is zero wherever they sit), so with the same key
# the bootstrap equals the bootstrap of the dataset with those observations deleted (order
# kept); (b) integer frequency weights are resampled as that many units, so a weighted
# dataset bootstraps like the dataset with each observation repeated weight times. The
# percentile interval and the SE are then checked against numpy's quantile (linear
# interpolation) and standard deviation of the replicates, and the estimates against the
# closed form 1 / (weighted mean). Measured: replicates equal to the last bit (mask) and
# within 5.6e-16 (weights); intervals and SEs equal to the last bit.
def _check_bootstrap_summaries(b, level):
    reps = np.asarray(b.replicates["rate"])
    assert np.all(np.isfinite(reps)) and int(b.n_failed) == 0
    q = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    np.testing.assert_allclose([b.percentile["rate"][0], b.percentile["rate"][1]], q, rtol=1e-14)
    np.testing.assert_allclose(b.se["rate"], np.std(reps, ddof=1), rtol=1e-12)


def test_bootstrap_mask_equals_bootstrap_of_the_shorter_dataset():
    rng = np.random.default_rng(8)
    x = rng.exponential(2.0, 37)
    mask = np.ones(37, bool)
    mask[rng.choice(37, 7, replace=False)] = False
    x[~mask] = rng.exponential(50.0, 7)  # far off: any draw of them would move the estimates
    key = jax.random.key(11)
    model = jm.families.Exponential()
    masked = jm.bootstrap(model, {"x": x}, key, n_boot=300, level=0.9, mask=mask)
    short = jm.bootstrap(model, {"x": x[mask]}, key, n_boot=300, level=0.9)
    np.testing.assert_allclose(masked.estimate["rate"], 1 / np.mean(x[mask]), rtol=1e-13)
    np.testing.assert_allclose(masked.replicates["rate"], short.replicates["rate"], rtol=1e-13)
    for b in (short, masked):
        _check_bootstrap_summaries(b, 0.9)


def test_bootstrap_integer_weights_equal_replicated_observations():
    rng = np.random.default_rng(9)
    x = rng.exponential(2.0, 25)
    w = rng.integers(1, 4, 25)
    key = jax.random.key(12)
    model = jm.families.Exponential()
    weighted = jm.bootstrap(model, {"x": x}, key, n_boot=300, weights=w.astype(float))
    repeated = jm.bootstrap(model, {"x": np.repeat(x, w)}, key, n_boot=300)
    np.testing.assert_allclose(weighted.estimate["rate"], np.sum(w) / np.sum(w * x), rtol=1e-13)
    # the cumulative sums of w/W and of W copies of 1/W round differently: a draw on a
    # boundary could land in a neighbour (never seen); the replicates are otherwise equal
    np.testing.assert_allclose(weighted.replicates["rate"], repeated.replicates["rate"], rtol=1e-12)
    for b in (weighted, repeated):
        _check_bootstrap_summaries(b, 0.95)


# -- 7. profile intervals at levels other than 0.95 ------------------------------------------
def _roots(f, mle, lo, hi):
    """Where f crosses zero below and above the MLE (brentq to ~1e-15 relative)."""
    kw = {"xtol": 1e-300, "rtol": 4 * np.finfo(float).eps}
    return np.array([so.brentq(f, lo, mle, **kw), so.brentq(f, mle, hi, **kw)])


def _exponential_rate_interval(x, level):
    # l(rate) = n log(rate) - rate sum(x), in closed form
    n, c = x.size, st.chi2.ppf(level, 1)
    rate = n / x.sum()
    ll = lambda r: n * math.log(r) - r * x.sum()  # noqa: E731
    return _roots(lambda r: 2 * (ll(rate) - ll(r)) - c, rate, rate * 1e-3, rate * 1e3)


def _normal_loc_interval(y, level):
    # 2 (l_hat - l_p(mu)) = m log(1 + (ybar - mu)^2 / s2), s2 = mean((y - ybar)^2): the ends
    # are ybar -/+ sqrt(s2 (exp(c / m) - 1))
    half = math.sqrt(np.var(y) * math.expm1(st.chi2.ppf(level, 1) / y.size))
    return np.array([y.mean() - half, y.mean() + half])


def _normal_scale_interval(y, level):
    # the profile over loc (at ybar): -m log(sigma) - m s2 / (2 sigma^2)
    m, s2, c = y.size, np.var(y), st.chi2.ppf(level, 1)
    lp = lambda s: -m * math.log(s) - m * s2 / (2 * s * s)  # noqa: E731
    sh = math.sqrt(s2)
    return _roots(lambda s: 2 * (lp(sh) - lp(s)) - c, sh, sh / 10, sh * 10)


def _gamma_intervals(x, level):
    """Profile intervals of the gamma shape and scale from scipy's logpdf: for a given shape
    the best scale is mean(x) / shape; for a given scale the best shape solves
    digamma(shape) = mean(log x) - log(scale) (brentq)."""
    c = st.chi2.ppf(level, 1)
    k_hat, s_hat = _gamma_mle(x)
    ll_hat = np.sum(GAMMA_LOGPDF(x, k_hat, s_hat))
    mlx = np.mean(np.log(x))

    def profile_shape(k):
        return np.sum(GAMMA_LOGPDF(x, k, np.mean(x) / k))

    def profile_scale(s):
        k = so.brentq(lambda k: sp.digamma(k) - mlx + math.log(s), 1e-8, 1e8, rtol=1e-15)
        return np.sum(GAMMA_LOGPDF(x, k, s))

    return {
        "shape": _roots(lambda k: 2 * (ll_hat - profile_shape(k)) - c, k_hat, 1e-2, 1e2),
        "scale": _roots(lambda s: 2 * (ll_hat - profile_scale(s)) - c, s_hat, 1e-2, 1e2),
    }


LEVELS = (0.90, 0.99)


def _ends(interval):
    return np.array([float(interval[0]), float(interval[1])])


def test_profile_intervals_exponential_and_normal_at_other_levels():
    rng = np.random.default_rng(10)
    x = rng.exponential(2.0, 50)
    y = rng.normal(1.0, 2.0, 40)
    exp_res = jm.fit_dist("exponential", x)
    norm_res = jm.fit_dist("normal", y)
    for level in LEVELS:
        got = _ends(exp_res.conf_int(level, method="profile")["rate"])
        np.testing.assert_allclose(got, _exponential_rate_interval(x, level), rtol=PROFILE_RTOL)
        got = norm_res.conf_int(level, method="profile")
        want = _normal_loc_interval(y, level)
        np.testing.assert_allclose(_ends(got["loc"]), want, rtol=PROFILE_RTOL)
        want = _normal_scale_interval(y, level)
        np.testing.assert_allclose(_ends(got["scale"]), want, rtol=PROFILE_RTOL)


def test_profile_intervals_gamma_at_other_levels_match_scipy_root_finding():
    rng = np.random.default_rng(13)
    x = rng.gamma(2.0, 1.5, 60)
    res = jm.fit_dist("gamma", x)
    for level in LEVELS:
        got = res.conf_int(level, method="profile")
        want = _gamma_intervals(x, level)
        for k in ("shape", "scale"):
            np.testing.assert_allclose(_ends(got[k]), want[k], rtol=PROFILE_RTOL)


# Measured: the interval ends within 2.0e-10 relative of the references (normal loc at 0.99;
# the others within 1.4e-10), the references being brentq roots to ~1e-15.
PROFILE_RTOL = 2e-9  # 10x the worst measured: jaxmle's profile root-finding tolerance


# -- 8. Wald tests with a robust covariance ----------------------------------------------------
def test_wald_test_with_robust_covariance_matches_statsmodels_hc0():
    import statsmodels.api as sm

    rng = np.random.default_rng(14)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    # misspecified on purpose (quadratic and interaction terms left out, heteroskedastic
    # noise) so that the HC0 covariance differs from the observed information
    eta = X @ [0.2, 1.0, -0.5] + 1.5 * (X[:, 1] ** 2 - 1 + X[:, 1] * X[:, 2])
    y_logit = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    y_ols = X @ [1.0, -2.0, 0.5] + rng.normal(size=n) * (0.5 + np.abs(X[:, 1]))
    contrast = {"beta[1]": 1.0, "beta[2]": -1.0}
    cases = [(jm.models.LogisticRegression(3), y_logit, sm.Logit(y_logit, X), {"disp": 0})]
    cases += [(jm.models.LinearRegression(3), y_ols, sm.OLS(y_ols, X), {})]
    for model, y, sm_model, kw in cases:
        ref = sm_model.fit(cov_type="HC0", **kw)
        naive = sm_model.fit(**kw)
        res = jm.fit(model, {"X": X, "y": y}, cov_type="robust")
        assert int(res.status) == jm.Status.CONVERGED
        for R, r, R_sm in (
            (contrast, None, (np.array([[0.0, 1.0, -1.0]]), [0.0])),
            (["beta[1]", "beta[2]"], [-1.5, 0.4], (np.eye(3)[1:], [-1.5, 0.4])),
        ):
            t = jm.wald_test(res, R, r)
            want = ref.wald_test(R_sm, scalar=True, use_f=False)
            # measured: statistics within 2.9e-15, p-values (down to 1e-96) within 1.1e-13
            # relative; 100x margin, the two fits being separate Newton solvers
            assert t.df == R_sm[0].shape[0]
            np.testing.assert_allclose(float(t.statistic), float(want.statistic), rtol=3e-13)
            np.testing.assert_allclose(float(t.pvalue), float(want.pvalue), rtol=1e-11)
            # not vacuous: statsmodels' test with the classical covariance differs (measured:
            # by 4.4% to 73%)
            classical = naive.wald_test(R_sm, scalar=True, use_f=False).statistic
            assert abs(float(classical) / float(t.statistic) - 1) > 0.02


# -- 9. compare_families with its defaults -------------------------------------------------------
def test_compare_families_defaults_match_scipy_fits_and_akaike_weights():
    rng = np.random.default_rng(15)
    x = rng.gamma(3.0, 1.2, 120)
    n = x.size
    lx = np.log(x)
    k_g, s_g = _gamma_mle(x)
    k_w, s_w = _weibull_mle(x)
    c_l, s_l = _loglogistic_mle(x)
    # family -> (log-likelihood at the independent MLE, number of parameters)
    ref = {
        "normal": (np.sum(st.norm.logpdf(x, x.mean(), x.std())), 2),
        "lognormal": (np.sum(st.lognorm.logpdf(x, lx.std(), scale=np.exp(lx.mean()))), 2),
        "gamma": (np.sum(GAMMA_LOGPDF(x, k_g, s_g)), 2),
        "weibull": (np.sum(WEIBULL_LOGPDF(x, k_w, s_w)), 2),
        "exponential": (np.sum(st.expon.logpdf(x, scale=x.mean())), 1),
        "loglogistic": (np.sum(st.fisk.logpdf(x, c_l, scale=s_l)), 2),
    }
    aic = {f: 2 * k - 2 * ll for f, (ll, k) in ref.items()}
    bic = {f: k * math.log(n) - 2 * ll for f, (ll, k) in ref.items()}

    rows = jm.distributions.compare_families(x)
    assert {r["family"] for r in rows} == set(ref)
    assert [r["family"] for r in rows] == sorted(ref, key=aic.get)  # best first, by AIC
    for row in rows:
        f = row["family"]
        assert row["status"] == "CONVERGED" and row["n_params"] == ref[f][1]
        np.testing.assert_allclose(row["loglik"], ref[f][0], rtol=CF_RTOL)
        np.testing.assert_allclose(row["aic"], aic[f], rtol=CF_RTOL)
        np.testing.assert_allclose(row["bic"], bic[f], rtol=CF_RTOL)

    # jm.compare of those fits: differences to the best AIC and Akaike weights by formula
    comp = jm.compare(*[r["result"] for r in rows], names=[r["family"] for r in rows])
    a = np.array([aic[f] for f in comp.names])
    delta = a - a.min()
    weight = np.exp(-delta / 2) / np.sum(np.exp(-delta / 2))
    np.testing.assert_allclose(comp.aic, a, rtol=CF_RTOL)
    np.testing.assert_allclose(comp.delta_aic, delta, rtol=0, atol=CF_ATOL)
    np.testing.assert_allclose(comp.aic_weight, weight, rtol=CF_WEIGHT_RTOL)
    b = np.array([bic[f] for f in comp.names])
    np.testing.assert_allclose(comp.delta_bic, b - b.min(), rtol=0, atol=CF_ATOL)


# Measured: log-likelihoods, AIC and BIC within 3.3e-16 relative, AIC differences within
# 2.8e-13 absolute, Akaike weights within 1.2e-13 relative.
CF_RTOL = 1e-14  # 30x the worst measured: sums of 120 terms in another order
CF_ATOL = 3e-12  # 10x the worst measured: differences of AICs of ~500
CF_WEIGHT_RTOL = 1e-12  # 8x the worst measured: exp of those differences
