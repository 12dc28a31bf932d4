"""Likelihood-ratio, Wald and score tests, information criteria, and robust / cluster-robust
covariances against statsmodels and hand computations."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from helpers import LOGIT3 as LOGIT
from helpers import NORMAL
from scipy import optimize, stats

import jaxmle as jm

N = 200
POISSON = jm.models.PoissonRegression(3)


@pytest.fixture(scope="module")
def reg():
    """Design, groups and responses (logistic, Poisson) of the regression tests: the same
    in every run and every subset of the tests (read-only)."""
    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, 2))])
    groups = rng.integers(0, 20, size=N)
    # cluster effects, so that the cluster-robust covariance differs from HC0
    u = rng.normal(size=20)[groups]
    y_logit = (rng.uniform(size=N) < 1 / (1 + np.exp(-(X @ [0.3, 1.0, -0.5] + u)))).astype(float)
    y_pois = rng.poisson(np.exp(X @ [0.5, 0.3, 0.0] + 0.5 * u)).astype(float)
    return {"X": X, "groups": groups, "logit": y_logit, "poisson": y_pois}


EXPO, WEIBULL, LOGNORMAL = jm.families.Exponential(), jm.families.Weibull(), jm.families.LogNormal()


@pytest.mark.parametrize(
    "model, kind, ref_model",
    [(LOGIT, "logit", sm.Logit), (POISSON, "poisson", sm.Poisson)],
    ids=["logit", "poisson"],
)
def test_robust_and_cluster_equal_statsmodels(reg, model, kind, ref_model):
    XD, GROUPS, y = reg["X"], reg["groups"], reg[kind]
    data = {"X": XD, "y": y}
    rob = jm.fit(model, data, cov_type="robust")
    ref = ref_model(y, XD).fit(disp=0, cov_type="HC0")
    np.testing.assert_allclose(np.asarray(rob.params["beta"]), ref.params, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(rob.se["beta"]), ref.bse, rtol=1e-6)
    # cluster-robust (CRV1 with statsmodels' factor G/(G-1) (N-1)/(N-K))
    clu = jm.fit(model, data, cov_type="cluster", groups=GROUPS)
    ref_c = ref_model(y, XD).fit(disp=0, cov_type="cluster", cov_kwds={"groups": GROUPS})
    assert clu.cov_type == "cluster"
    np.testing.assert_allclose(np.asarray(clu.se["beta"]), ref_c.bse, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(clu.cov), ref_c.cov_params(), rtol=1e-6, atol=1e-12)
    # (not a tolerance: the cluster effects make the two covariances differ by more than 5%)
    assert not np.allclose(np.asarray(clu.se["beta"]), np.asarray(rob.se["beta"]), rtol=0.05)


def test_cluster_in_a_batch_and_errors(reg):
    XD, GROUPS, Y_LOGIT = reg["X"], reg["groups"], reg["logit"]
    data = {"X": np.stack([XD, XD]), "y": np.stack([Y_LOGIT, Y_LOGIT[::-1]])}
    groups = np.stack([GROUPS, GROUPS])
    batch = jm.fit_batch(LOGIT, data, cov_type="cluster", groups=groups)
    one = jm.fit(LOGIT, {"X": XD, "y": Y_LOGIT[::-1]}, cov_type="cluster", groups=GROUPS)
    np.testing.assert_allclose(np.asarray(batch.se["beta"][1]), np.asarray(one.se["beta"]))
    with pytest.raises(ValueError, match="needs groups"):
        jm.fit(LOGIT, {"X": XD, "y": Y_LOGIT}, cov_type="cluster")
    with pytest.raises(ValueError, match="groups has shape"):
        jm.fit(LOGIT, {"X": XD, "y": Y_LOGIT}, cov_type="cluster", groups=GROUPS[:10])
    with pytest.raises(ValueError, match="cov_type='cluster'"):
        jm.fit(LOGIT, {"X": XD, "y": Y_LOGIT}, groups=GROUPS)


def test_wald_test_equals_statsmodels(reg):
    XD, Y_LOGIT = reg["X"], reg["logit"]
    res = jm.fit(LOGIT, {"X": XD, "y": Y_LOGIT})
    ref = sm.Logit(Y_LOGIT, XD).fit(disp=0)
    # a contrast, and a joint hypothesis
    t = jm.wald_test(res, {"beta[1]": 1.0, "beta[2]": -1.0})
    r = ref.wald_test(np.array([[0.0, 1.0, -1.0]]), scalar=True, use_f=False)
    assert t.df == 1
    assert float(t.statistic) == pytest.approx(float(r.statistic), rel=1e-6)
    # (statsmodels' Logit stops at its own tolerance: its statistic is good to ~1e-7)
    assert float(t.pvalue) == pytest.approx(float(r.pvalue), rel=1e-5)
    t2 = jm.wald_test(res, ["beta[1]", "beta[2]"], r=[1.0, -0.5])
    r2 = ref.wald_test((np.eye(3)[1:], [1.0, -0.5]), scalar=True, use_f=False)
    assert t2.df == 2 and float(t2.statistic) == pytest.approx(float(r2.statistic), rel=1e-6)
    with pytest.raises(ValueError, match="unknown parameter"):
        jm.wald_test(res, "gamma")


def test_score_test_equals_hand_computation(reg):
    XD, Y_POIS = reg["X"], reg["poisson"]
    # Poisson regression, H0: beta[2] = 0. Score X'(y - mu) and information X' diag(mu) X at
    # the null fit (the canonical link: observed = expected information)
    null = jm.fit(POISSON, {"X": XD, "y": Y_POIS}, fixed={"beta[2]": 0.0})
    mu = np.exp(XD @ np.asarray(null.params["beta"]))
    g = XD.T @ (Y_POIS - mu)
    info = XD.T @ (mu[:, None] * XD)
    stat = g @ np.linalg.solve(info, g)
    t = jm.score_test(null)
    assert t.df == 1
    assert float(t.statistic) == pytest.approx(stat, rel=1e-8)
    assert float(t.pvalue) == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-7)
    with pytest.raises(ValueError, match="fixed="):
        jm.score_test(jm.fit(POISSON, {"X": XD, "y": Y_POIS}))


def test_lr_test_batched_and_boundary_mixture():
    x = np.random.default_rng(8).normal(0.3, 1.0, size=(5, 12))
    null = jm.fit_batch(NORMAL, x, fixed={"mu": 0.0})
    alt = jm.fit_batch(NORMAL, x)
    t = jm.lr_test(null, alt)
    stat = 12 * np.log(np.mean(x**2, axis=1) / np.var(x, axis=1))  # by hand
    np.testing.assert_allclose(np.asarray(t.statistic), stat, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(t.pvalue), stats.chi2.sf(stat, 1), rtol=1e-7)
    tb = jm.lr_test(null, alt, boundary=True)  # 0.5 chi2_0 + 0.5 chi2_1
    np.testing.assert_allclose(np.asarray(tb.pvalue), 0.5 * stats.chi2.sf(stat, 1), rtol=1e-7)
    t2 = jm.lr_test(null, alt, df=2, boundary=True)
    np.testing.assert_allclose(
        np.asarray(t2.pvalue),
        0.5 * stats.chi2.sf(stat, 1) + 0.5 * stats.chi2.sf(stat, 2),
        rtol=1e-7,
    )
    with pytest.raises(ValueError, match="fewer"):
        jm.lr_test(alt, null)


def _weibull_mle_loglik(x):
    """The Weibull log-likelihood at its MLE: the shape k solves the profile score equation
    sum x^k log x / sum x^k - 1/k = mean log x (brentq), scale = mean(x^k)^(1/k)."""
    lx = np.log(x)
    f = lambda k: np.sum(x**k * lx) / np.sum(x**k) - 1 / k - lx.mean()
    k = optimize.brentq(f, 0.05, 50.0, xtol=1e-15, rtol=1e-15)
    return np.sum(stats.weibull_min.logpdf(x, k, scale=np.mean(x**k) ** (1 / k)))


def test_compare_information_criteria():
    x = np.array([0.5, 1.2, 2.0, 3.1, 4.4, 7.0, 0.9, 2.6])
    fits = [jm.fit(m, {"x": x}) for m in (EXPO, WEIBULL, LOGNORMAL)]
    c = jm.compare(*fits, names=["exp", "weibull", "lognormal"])
    n = len(x)
    # the log-likelihoods at the MLEs, independently: closed forms (exponential: rate =
    # 1/mean; log-normal: mean and sd of log x) and the Weibull's score equation, by scipy
    ll = np.array(
        [
            np.sum(stats.expon.logpdf(x, scale=x.mean())),
            _weibull_mle_loglik(x),
            np.sum(stats.lognorm.logpdf(x, np.log(x).std(), scale=np.exp(np.log(x).mean()))),
        ]
    )
    k = np.array([1, 2, 2])
    aic = 2 * k - 2 * ll
    delta = aic - aic.min()
    weight = np.exp(-delta / 2) / np.sum(np.exp(-delta / 2))
    bic = k * math.log(n) - 2 * ll
    # measured: AIC, BIC, AICc within 2.2e-16 relative, deltas 7.1e-15 absolute, weights
    # equal; the tolerances are rounding level (~50 ulps, and ~14x the deltas' error)
    np.testing.assert_allclose(c.aic, aic, rtol=1e-14)
    np.testing.assert_allclose(c.bic, bic, rtol=1e-14)
    np.testing.assert_allclose(c.aicc, aic + 2 * k * (k + 1) / (n - k - 1), rtol=1e-14)
    np.testing.assert_allclose(c.delta_aic, delta, rtol=0, atol=1e-13)
    np.testing.assert_allclose(c.delta_bic, bic - bic.min(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(c.aic_weight, weight, rtol=1e-13)
    assert 0.05 < weight.min() and weight.max() < 0.9  # no weight trivially 0 or 1
    assert "weibull" in str(c) and "AICc" in c.table()
    assert float(fits[1].aicc) == pytest.approx(c.aicc[1])


def test_lr_test_warns_when_a_fit_failed():
    # a null whose log-likelihood is not finite (the scale fixed at 0): its fit fails, and the
    # test says so instead of returning a quiet NaN
    x = np.asarray([0.3, 1.9, 0.8, 1.4, 2.2])
    alt = jm.fit(NORMAL, x)
    null = jm.fit(NORMAL, x, fixed={"sigma": 0.0})
    assert not np.isfinite(float(null.loglik))
    with pytest.warns(jm.InferenceWarning, match="null fit's log-likelihood is not finite"):
        test = jm.lr_test(null, alt)
    assert np.isnan(float(test.statistic))
