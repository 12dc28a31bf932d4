"""Inference conventions against R (stored references, tests/references/inference_conventions.R
and .json) and statsmodels: Rao score tests, the expected information, HC0-HC3, the cluster
small-sample corrections with t(G - 1), the linear model's t inference."""

import json
import math
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from helpers import LOGIT3, NORMAL, UNIT_NORMAL
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import polygamma

import jaxmle as jm

REF = json.loads(
    (pathlib.Path(__file__).parent / "references" / "inference_conventions.json").read_text()
)
GLM = {
    "logit": LOGIT3,
    "probit": jm.models.ProbitRegression(3),
    "poisson": jm.models.PoissonRegression(3),
}
KINDS = ("logit", "probit", "poisson")


def _glm_data(kind):
    d = REF["glm_data"]
    X = np.column_stack([np.ones(len(d["x1"])), d["x1"], d["x2"]])
    key = {"poisson": "y_pois"}.get(kind, f"y_{kind}")
    return {"X": X, "y": np.asarray(d[key], float)}


def _groups():
    return np.asarray(REF["glm_data"]["groups"])


def test_reference_provenance():
    prov = REF["provenance"]
    assert prov["R"].startswith("R version 4.2")
    assert {"sandwich", "lmtest", "MASS"} <= set(prov)


@pytest.mark.parametrize("kind", KINDS)
def test_score_test_equals_r_rao(kind):
    """R: anova(glm(y ~ x1), glm(y ~ x1 + x2), test = "Rao")."""
    ref = REF[kind]
    null = jm.fit(GLM[kind], _glm_data(kind), fixed={"beta[2]": 0.0})
    t = jm.score_test(null)  # the expected information: R's Rao test
    assert t.df == 1 and bool(t.info_ok)
    assert float(t.statistic) == pytest.approx(ref["rao"], rel=1e-8)
    assert float(t.pvalue) == pytest.approx(ref["rao_p"], rel=1e-7)
    alt = jm.fit(GLM[kind], _glm_data(kind))
    assert float(jm.lr_test(null, alt).statistic) == pytest.approx(ref["lr"], rel=1e-8)
    observed = jm.score_test(null, information="observed")
    if kind == "probit":  # a non-canonical link: observed and expected information differ
        assert float(observed.statistic) == pytest.approx(10.076, abs=1e-3)
        assert ref["rao"] == pytest.approx(10.608, abs=1e-3)
    else:
        assert float(observed.statistic) == pytest.approx(ref["rao"], rel=1e-8)


@pytest.mark.parametrize("kind", KINDS)
def test_expected_information_equals_r_glm(kind):
    ref = REF[kind]
    res = jm.fit(GLM[kind], _glm_data(kind), information="expected")
    assert res.information == "expected"
    np.testing.assert_allclose(np.asarray(res.params["beta"]), ref["coef"], rtol=1e-8)
    # (R's glm computes its covariance with the weights of its last-but-one iteration: its
    # standard errors are good to about 1e-7)
    np.testing.assert_allclose(np.asarray(res.se["beta"]), ref["se"], rtol=1e-6)
    obs = jm.fit(GLM[kind], _glm_data(kind))
    if kind == "probit":  # observed information: not R's (the numbers of docs/conventions.md)
        assert float(obs.se["beta"][1]) == pytest.approx(0.26858, abs=1e-5)
        assert ref["se"][1] == pytest.approx(0.26541, abs=1e-5)
    else:
        np.testing.assert_allclose(np.asarray(obs.se["beta"]), ref["se"], rtol=1e-6)


def test_negative_binomial_expected_information_equals_glm_nb():
    ref = REF["nb"]
    X = np.column_stack([np.ones(len(ref["z1"])), ref["z1"]])
    data = {"X": X, "y": np.asarray(ref["y"], float)}
    model = jm.models.NegativeBinomialRegression(2)
    res = jm.fit(model, data, information="expected")
    np.testing.assert_allclose(np.asarray(res.params["beta"]), ref["coef"], rtol=1e-7)
    assert 1 / float(res.params["alpha"]) == pytest.approx(ref["theta"], rel=1e-7)
    assert float(res.loglik) == pytest.approx(ref["loglik"], rel=1e-10)
    np.testing.assert_allclose(np.asarray(res.se["beta"]), ref["se"], rtol=1e-6)
    # theta = 1 / alpha: glm.nb's SE of theta from the observed information of theta alone
    se_theta = float(res.se["alpha"]) / float(res.params["alpha"]) ** 2
    assert se_theta == pytest.approx(ref["se_theta"], rel=1e-5)
    # the observed information (the default) gives a larger slope SE here
    obs = jm.fit(model, data)
    assert float(obs.se["beta"][1]) == pytest.approx(0.16230, abs=1e-5)
    assert ref["se"][1] == pytest.approx(0.16093, abs=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hc", ["HC0", "HC1", "HC2", "HC3"])
def test_hc_covariances_equal_sandwich_vcovHC(kind, hc):
    res = jm.fit(GLM[kind], _glm_data(kind), cov_type=hc, information="expected")
    assert res.cov_type == hc
    np.testing.assert_allclose(np.asarray(res.cov), REF[kind][hc], rtol=1e-6, atol=1e-14)
    if kind == "logit":  # canonical link: the observed information gives the same
        obs = jm.fit(GLM[kind], _glm_data(kind), cov_type=hc)
        np.testing.assert_allclose(np.asarray(obs.cov), REF[kind][hc], rtol=1e-7, atol=1e-14)


def test_hc1_is_larger_than_hc0_where_statsmodels_returns_hc0():
    data = _glm_data("logit")
    hc0 = jm.fit(GLM["logit"], data, cov_type="robust")
    hc1 = jm.fit(GLM["logit"], data, cov_type="HC1")
    np.testing.assert_allclose(np.asarray(hc1.cov), np.asarray(hc0.cov) * 40 / 37, rtol=1e-12)
    ratio = float(hc1.se["beta"][1] / hc0.se["beta"][1])
    assert ratio == pytest.approx(math.sqrt(40 / 37)) and ratio > 1.039  # 4% larger
    sm_hc1 = sm.Logit(data["y"], data["X"]).fit(disp=0, cov_type="HC1")
    sm_hc0 = sm.Logit(data["y"], data["X"]).fit(disp=0, cov_type="HC0")
    # (what statsmodels does for a Logit: its "HC1" is its HC0)
    np.testing.assert_allclose(sm_hc1.bse, sm_hc0.bse, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_cluster_small_sample_choices_equal_vcovCL_and_statsmodels(kind):
    data, g = _glm_data(kind), _groups()
    crv1 = jm.fit(GLM[kind], data, cov_type="cluster", groups=g, information="expected")
    gg = jm.fit(GLM[kind], data, cov_type="cluster", groups=g, small_sample="G",
                information="expected")  # fmt: skip
    np.testing.assert_allclose(np.asarray(gg.cov), REF[kind]["cl_default"], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(crv1.cov), REF[kind]["cl_hc1"], rtol=1e-6)
    # CRV1 / R's vcovCL default for a glm: (N - 1) / (N - K), 2.6% here
    ratio = float(crv1.se["beta"][1] / gg.se["beta"][1])
    assert ratio == pytest.approx(math.sqrt(39 / 37), rel=1e-10)
    none = jm.fit(GLM[kind], data, cov_type="cluster", groups=g, small_sample="none",
                  information="expected")  # fmt: skip
    np.testing.assert_allclose(np.asarray(none.cov), np.asarray(gg.cov) * 7 / 8, rtol=1e-10)
    assert float(crv1.df_resid) == 7.0
    if kind != "probit":  # statsmodels' CRV1 (observed = expected information here)
        ref = {"logit": sm.Logit, "poisson": sm.Poisson}[kind](data["y"], data["X"])
        ref = ref.fit(disp=0, cov_type="cluster", cov_kwds={"groups": g})
        np.testing.assert_allclose(np.asarray(crv1.se["beta"]), ref.bse, rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_cluster_wald_uses_t_with_g_minus_1(kind):
    """R: coeftest(m, vcov = vcovCL(m, cluster = g), df = G - 1) for the t(G - 1) p-value."""
    data, g = _glm_data(kind), _groups()
    res = jm.fit(GLM[kind], data, cov_type="cluster", groups=g, small_sample="G",
                 information="expected")  # fmt: skip
    t = jm.wald_test(res, "beta[2]")
    assert t.df_denom == pytest.approx(7.0)
    assert float(t.pvalue) == pytest.approx(REF[kind]["p_t"], rel=1e-6)
    z = float(res.params["beta"][2] / res.se["beta"][2])
    assert float(t.statistic) == pytest.approx(z**2, rel=1e-12)
    # the normal's p-value, R's coeftest default for a glm, is smaller with 8 clusters
    assert 2 * stats.norm.sf(abs(z)) == pytest.approx(REF[kind]["p_z"], rel=1e-6)
    assert float(t.pvalue) > REF[kind]["p_z"]
    lo, hi = res.conf_int(0.95)["beta"]
    q = stats.t.ppf(0.975, 7)
    se = np.asarray(res.se["beta"])
    np.testing.assert_allclose(np.asarray(hi - lo), 2 * q * se, rtol=1e-10)


def test_ols_t_inference_equals_statsmodels():
    rng = np.random.default_rng(12)
    n = 12
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = X @ [1.0, 0.5, 0.0] + rng.normal(size=n)
    model = jm.models.LinearRegression(3)
    res = jm.fit(model, {"X": X, "y": y}, df_correction=True)
    ref = sm.OLS(y, X).fit()
    np.testing.assert_allclose(np.asarray(res.params["beta"]), ref.params, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(res.se["beta"]), ref.bse, rtol=1e-10)
    assert float(res.df_resid) == n - 3
    lo, hi = res.conf_int(0.95)["beta"]
    np.testing.assert_allclose(np.column_stack([lo, hi]), ref.conf_int(0.05), rtol=1e-10)
    for j in range(3):
        t = jm.wald_test(res, f"beta[{j}]")
        assert float(t.pvalue) == pytest.approx(ref.pvalues[j], rel=1e-9)
        assert float(t.statistic) == pytest.approx(ref.tvalues[j] ** 2, rel=1e-10)
    joint = jm.wald_test(res, ["beta[1]", "beta[2]"])
    f = ref.f_test(np.eye(3)[1:])
    assert float(joint.statistic) / 2 == pytest.approx(float(f.fvalue), rel=1e-9)
    assert float(joint.pvalue) == pytest.approx(float(f.pvalue), rel=1e-9)
    # the summary table: t with n - p df
    table = res.summary()
    assert "P>|t|" in table and f"t({n - 3})" in table
    # without the correction: z with sigma^2 = RSS / n (smaller SEs, smaller p-values)
    mle = jm.fit(model, {"X": X, "y": y})
    np.testing.assert_allclose(
        np.asarray(mle.se["beta"]), ref.bse * math.sqrt((n - 3) / n), rtol=1e-10
    )


def test_options_are_checked():
    data = _glm_data("logit")
    with pytest.raises(ValueError, match="cov_type must be one of"):
        jm.fit(GLM["logit"], data, cov_type="HC4")
    with pytest.raises(ValueError, match="information must be one of"):
        jm.fit(GLM["logit"], data, information="fisher")
    with pytest.raises(ValueError, match="small_sample= goes with"):
        jm.fit(GLM["logit"], data, small_sample="G")
    with pytest.raises(ValueError, match="df_correction=True is for"):
        jm.fit(GLM["logit"], data, df_correction=True)
    with pytest.raises(ValueError, match="leverages"):
        jm.fit(jm.families.Normal(), {"x": np.arange(5.0)}, cov_type="HC3")
    model = UNIT_NORMAL
    with pytest.raises(ValueError, match="no expected information"):
        jm.fit(model, np.arange(5.0), information="expected")
    with pytest.raises(ValueError, match="censor"):
        jm.fit(jm.families.Weibull(), {"x": np.arange(1.0, 6.0), "event": np.ones(5)},
               information="expected")  # fmt: skip


def test_expected_information_of_families_in_batches_and_with_fixed():
    x = np.random.default_rng(3).gamma(2.0, 1.5, size=(3, 30))
    batch = jm.fit_batch(jm.families.Gamma(), {"x": x}, information="expected")
    one = jm.fit(jm.families.Gamma(), {"x": x[1]}, information="expected")
    np.testing.assert_allclose(np.asarray(batch.cov[1]), np.asarray(one.cov), rtol=1e-10)
    k, th = float(one.params["shape"]), float(one.params["scale"])
    info = 30 * np.array([[polygamma(1, k), 1 / th], [1 / th, k / th**2]])
    np.testing.assert_allclose(np.asarray(one.cov), np.linalg.inv(info), rtol=1e-10)
    # a fixed shape: the scale's variance from its own information
    fx = jm.fit(jm.families.Gamma(), {"x": x[1]}, fixed={"shape": 2.0}, information="expected")
    th0 = float(fx.params["scale"])
    assert float(fx.se["scale"]) == pytest.approx(th0 / math.sqrt(30 * 2.0), rel=1e-10)


def test_score_test_never_negative_on_the_documented_example():
    x = jnp.array([0.3, 1.9, 0.8, 1.4, 2.2, 1.1])
    null = jm.fit(NORMAL, x, fixed={"mu": 0.0})
    # the observed information of the full model at the null is indefinite here: NaN, a
    # warning and info_ok False (it gave -7.998 and p = 1)
    with pytest.warns(jm.InferenceWarning, match="not positive definite"):
        t = jm.score_test(null)
    assert np.isnan(float(t.statistic)) and not bool(t.info_ok)
    # the family's expected information: Rao's n mean^2 / mean(x^2)
    fam = jm.score_test(jm.fit(jm.families.Normal(), x, fixed={"loc": 0.0}))
    xs = np.asarray(x)
    assert float(fam.statistic) == pytest.approx(6 * xs.mean() ** 2 / np.mean(xs**2), rel=1e-10)
    assert float(fam.statistic) == pytest.approx(4.8008, abs=1e-4)
    assert float(fam.pvalue) == pytest.approx(0.0284, abs=1e-4)
    # the OPG form: g' (sum s s')^-1 g >= 0
    opg = jm.score_test(null, information="opg")
    assert float(opg.statistic) > 0 and bool(opg.info_ok)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.sampled_from([5, 20]),  # (two shapes: two compilations)
    mu0=st.floats(-3.0, 3.0),
    info=st.sampled_from(["auto", "observed", "opg"]),
)
def test_score_and_lr_statistics_are_never_negative(seed, n, mu0, info):
    rng = np.random.default_rng(seed)
    x = rng.normal(rng.normal(), rng.uniform(0.2, 3.0), size=n)
    null = jm.fit(NORMAL, x, fixed={"mu": mu0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jm.InferenceWarning)
        t = jm.score_test(null, information=info)
    s = float(t.statistic)
    assert np.isnan(s) or s >= 0.0
    assert np.isnan(s) == (not bool(t.info_ok))
    lr = jm.lr_test(null, jm.fit(NORMAL, x))
    assert float(lr.statistic) >= 0.0
    fam = jm.score_test(jm.fit(jm.families.Normal(), x, fixed={"loc": mu0}))
    assert float(fam.statistic) >= 0.0 and bool(fam.info_ok)


# -- summary() rows ------------------------------------------------------------------------
def _row(table, name):
    (line,) = [s for s in table.splitlines() if s.startswith(name + " ")]
    return line.split()


def test_summary_weibull_shape_tested_on_the_log_scale_as_survreg():
    ref = REF["weibull_aft"]
    X = np.column_stack([np.ones(len(ref["x"])), ref["x"]])
    data = {"X": X, "t": np.asarray(ref["time"]), "event": np.asarray(ref["event"])}
    res = jm.fit(jm.models.WeibullAFT(2), data)
    np.testing.assert_allclose(np.asarray(res.params["beta"]), ref["coef"], rtol=1e-7)
    assert -math.log(float(res.params["shape"])) == pytest.approx(ref["log_scale"], rel=1e-7)
    table = res.summary(null={"shape": 1.0})
    # survreg's Log(scale) row: log(sigma) = -log(shape), the same |z| and p
    z = float(_row(table, "shape")[3].rstrip("*"))
    assert z == pytest.approx(-ref["z_log_scale"], abs=1e-3)
    assert float(_row(table, "shape")[4]) == pytest.approx(ref["p_log_scale"], rel=1e-2)
    assert "H0: shape = 1" in table
    # by default no test of the shape (0 is outside its support), the coefficients against 0
    plain = res.summary()
    assert len(_row(plain, "shape")) == 5  # name, estimate, se, interval
    assert "no test for shape" in plain
    assert len(_row(plain, "beta[1]")) == 7
    with pytest.raises(ValueError, match="not inside its support"):
        res.summary(null={"shape": 0.0})
    with pytest.raises(ValueError, match="unknown parameter"):
        res.summary(null={"rate": 1.0})


def test_summary_marks_fixed_parameters():
    x = jnp.array([0.3, 1.9, 0.8, 1.4, 2.2, 1.1])
    table = jm.fit(NORMAL, x, fixed={"sigma": 1.0}).summary()
    assert _row(table, "sigma") == ["sigma", "1", "fixed"]  # no SE, z, p or interval
    assert "fixed (not estimated): sigma" in table
    mu = _row(table, "mu")
    assert float(mu[3]) == pytest.approx(float(np.mean(x)) * math.sqrt(6), abs=1e-3)


def test_summary_never_tests_outside_the_support():
    rng = np.random.default_rng(4)
    fits = [
        jm.fit(jm.families.Gamma(), rng.gamma(2.0, size=30)),
        jm.fit(jm.families.Beta(), rng.beta(2.0, 3.0, size=30)),
        jm.fit(jm.families.Categorical(3), rng.integers(0, 3, size=40)),
        jm.fit(jm.families.Bernoulli(), rng.integers(0, 2, size=20).astype(float)),
    ]
    for res in fits:
        table = res.summary()
        for name in res.param_names:  # all positive, bounded or simplex: no z, no p
            assert len(_row(table, name)) == 5, table
        assert "no test for" in table


# -- boundary-aware tests ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def nb_data():
    rng = np.random.default_rng(5)
    n = 80
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    mu = np.exp(0.5 + 0.4 * X[:, 1])
    y = rng.negative_binomial(2, 2 / (2 + mu)).astype(float)
    return {"X": X, "y": y}


def test_overdispersion_zero_is_a_boundary_null(nb_data):
    model = jm.models.NegativeBinomialRegression(2)
    alt = jm.fit(model, nb_data)
    null = jm.fit(model, nb_data, fixed={"alpha": 0.0})  # the Poisson, on the boundary
    pois = jm.fit(jm.models.PoissonRegression(2), nb_data)
    assert float(null.loglik) == pytest.approx(float(pois.loglik), rel=1e-12)
    np.testing.assert_allclose(null.params["beta"], pois.params["beta"], rtol=1e-8)
    lr = jm.lr_test(null, alt)  # detected: half the chi2_1 p-value
    stat = 2 * (float(alt.loglik) - float(pois.loglik))
    assert float(lr.statistic) == pytest.approx(stat, rel=1e-10)
    assert float(lr.pvalue) == pytest.approx(0.5 * stats.chi2.sf(stat, 1), rel=1e-8)
    assert "boundary" in lr.note and "alpha" in lr.note
    # a Poisson fit as the null: not recognizable; boundary=True says it
    lr2 = jm.lr_test(pois, alt, boundary=True)
    assert float(lr2.pvalue) == pytest.approx(float(lr.pvalue), rel=1e-8)
    assert float(jm.lr_test(pois, alt).pvalue) == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-8)
    # the score test at alpha = 0: Cameron and Trivedi's, sum((y - mu)^2 - y) / 2 over
    # sqrt(sum(mu^2) / 2), one-sided
    mu = np.exp(nb_data["X"] @ np.asarray(pois.params["beta"]))
    num = np.sum((nb_data["y"] - mu) ** 2 - nb_data["y"]) / 2
    assert num > 0
    s = num**2 / np.sum(mu**2 / 2)
    sc = jm.score_test(null)
    assert float(sc.statistic) == pytest.approx(s, rel=1e-8)
    assert float(sc.pvalue) == pytest.approx(0.5 * stats.chi2.sf(s, 1), rel=1e-8)
    # the Wald test of alpha = 0: the same mixture
    w = jm.wald_test(alt, "alpha")
    z2 = float(alt.params["alpha"] / alt.se["alpha"]) ** 2
    assert float(w.pvalue) == pytest.approx(0.5 * stats.chi2.sf(z2, 1), rel=1e-10)
    assert "boundary" in w.note


def test_score_test_at_the_boundary_is_one_sided():
    # underdispersed counts: the score for alpha points out of the support, S = 0, p = 1
    X = np.ones((6, 1))
    y = np.array([2.0, 3, 2, 3, 2, 3])
    null = jm.fit(jm.models.NegativeBinomialRegression(1), {"X": X, "y": y}, fixed={"alpha": 0.0})
    t = jm.score_test(null)
    assert float(t.statistic) == 0.0 and float(t.pvalue) == 1.0


def test_two_boundary_nulls_give_no_silent_answer():
    model = jm.Model(
        lambda p, x: jax.scipy.stats.norm.logpdf(x, p["a"] + p["b"], 1.0),
        {"a": jm.Positive(), "b": jm.Positive()},
    )
    x = np.array([0.5, 1.5, 2.0, 1.0])
    null = jm.fit(model, x, fixed={"a": 0.0, "b": 0.0})
    alt = jm.fit(model, x, fixed={"b": 0.0})
    with pytest.warns(jm.InferenceWarning, match="2 parameters on the boundary"):
        t = jm.lr_test(null, alt, df=2)
    assert np.isnan(float(t.pvalue)) and "weights depend" in t.note


REGRESSIONS = {
    "logit": jm.models.LogisticRegression(2),
    "probit": jm.models.ProbitRegression(2),
    "poisson": jm.models.PoissonRegression(2),
    "nb": jm.models.NegativeBinomialRegression(2),
}


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(sorted(REGRESSIONS)),
    b0=st.floats(-2.0, 2.0),
    info=st.sampled_from(["auto", "observed", "opg"]),
)
def test_regression_score_and_lr_statistics_are_never_negative(seed, kind, b0, info):
    rng = np.random.default_rng(seed)
    n = 30
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    eta = X @ rng.normal(0.0, 0.7, size=2)
    if kind in ("logit", "probit"):
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(eta) * rng.gamma(2.0, 0.5, size=n)).astype(float)
    data, model = {"X": X, "y": y}, REGRESSIONS[kind]
    null = jm.fit(model, data, fixed={"beta[1]": b0})
    alt = jm.fit(model, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jm.InferenceWarning)
        t = jm.score_test(null, information=info)
        lr = jm.lr_test(null, alt)
    s = float(t.statistic)
    assert np.isnan(s) or s >= 0.0
    assert np.isnan(s) == (not bool(t.info_ok))
    if info == "auto":  # the expected information: positive definite
        assert bool(t.info_ok) or not bool(null.converged)
    assert np.isnan(float(lr.statistic)) or float(lr.statistic) >= 0.0


def test_negative_binomial_family_matches_the_intercept_only_regression():
    x = np.random.default_rng(3).negative_binomial(2, 0.4, size=50).astype(float)
    fam = jm.families.NegativeBinomial()
    reg = jm.models.NegativeBinomialRegression(1)
    data = {"X": np.ones((50, 1)), "y": x}
    e_fam = jm.fit(fam, x, information="expected")
    e_reg = jm.fit(reg, data, information="expected")
    # mean = exp(beta): se(mean) = mean se(beta); alpha's the same
    mean = float(e_fam.params["mean"])
    assert float(e_fam.se["mean"]) == pytest.approx(mean * float(e_reg.se["beta"][0]), rel=1e-8)
    assert float(e_fam.se["alpha"]) == pytest.approx(float(e_reg.se["alpha"]), rel=1e-8)
    # the overdispersion score test at alpha = 0: sum((x - mean)^2 - x) / 2 over sqrt(n mean^2 / 2)
    t_fam = jm.score_test(jm.fit(fam, x, fixed={"alpha": 0.0}))
    t_reg = jm.score_test(jm.fit(reg, data, fixed={"alpha": 0.0}))
    m = x.mean()
    s = (np.sum((x - m) ** 2 - x) / 2) ** 2 / (50 * m**2 / 2)
    assert float(t_fam.statistic) == pytest.approx(s, rel=1e-8)
    assert float(t_reg.statistic) == pytest.approx(s, rel=1e-8)


def test_fit_dist_passes_the_information():
    x = np.random.default_rng(0).gamma(2.0, size=30)
    a = jm.fit_dist("gamma", x, information="expected")
    b = jm.fit(jm.families.Gamma(), {"x": x}, information="expected")
    assert a.information == "expected"
    np.testing.assert_allclose(np.asarray(a.cov), np.asarray(b.cov), rtol=1e-10)
