"""Random effects by the Laplace approximation (jaxmle.laplace): against the exact marginal
likelihood of a linear mixed model (where the Laplace approximation is exact), statsmodels'
MixedLM by maximum likelihood, finite differences of the Laplace objective, and an inner
problem that cannot converge."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.scipy.stats as st
import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as sst
from helpers import difference_hessian

import jaxmle as jm

G, N = 12, 5


def _joint(p, y):
    """One group of a random-intercept model: y_ij = mu + u_i + e_ij."""
    return st.norm.logpdf(y, p["mu"] + p["u"], p["sigma"]).sum() + st.norm.logpdf(
        p["u"], 0.0, p["tau"]
    )


SPEC = {"mu": jm.Real(), "sigma": jm.Positive(), "tau": jm.Positive(), "u": jm.Real()}
GROUPED = jm.Model(_joint, SPEC, random=["u"], grouped=True)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return 1.0 + rng.normal(0, 0.7, size=(G, 1)) + rng.normal(0, 1.2, size=(G, N))


def _exact_nll(v, y):
    """Minus the exact marginal loglik: each group ~ N(mu 1, sigma^2 I + tau^2 J)."""
    mu, log_s, log_t = v
    n = y.shape[1]
    C = np.exp(2 * log_s) * np.eye(n) + np.exp(2 * log_t) * np.ones((n, n))
    return -sum(sst.multivariate_normal.logpdf(row, mu * np.ones(n), C) for row in y)


@pytest.fixture(scope="module")
def lmm():
    y = _data()
    return y, jm.fit(GROUPED, jnp.asarray(y))


def test_linear_mixed_model_equals_the_exact_marginal_likelihood(lmm):
    y, res = lmm
    ref = so.minimize(
        _exact_nll, [0.0, 0.0, 0.0], args=(y,), method="BFGS", options={"gtol": 1e-10}
    )
    assert res.status == jm.Status.CONVERGED
    got = [float(res.params["mu"]), float(res.params["sigma"]), float(res.params["tau"])]
    want = [ref.x[0], np.exp(ref.x[1]), np.exp(ref.x[2])]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(float(res.loglik), -ref.fun, rtol=1e-10)
    # the standard errors: the inverse Hessian of the exact marginal likelihood (central
    # differences in the natural parameters)
    theta = np.array(want)

    def nll_nat(t):
        return _exact_nll([t[0], np.log(t[1]), np.log(t[2])], y)

    H = difference_hessian(nll_nat, theta)
    se_ref = np.sqrt(np.diag(np.linalg.inv(H)))
    se = [float(res.se[k]) for k in ("mu", "sigma", "tau")]
    np.testing.assert_allclose(se, se_ref, rtol=1e-4)


def test_linear_mixed_model_equals_statsmodels_mixedlm_by_ml(lmm):
    sm = pytest.importorskip("statsmodels.formula.api")
    pd = pytest.importorskip("pandas")
    y, res = lmm
    frame = pd.DataFrame({"y": y.ravel(), "g": np.repeat(np.arange(G), N)})
    ref = sm.mixedlm("y ~ 1", frame, groups=frame["g"]).fit(reml=False, method="bfgs", gtol=1e-10)
    np.testing.assert_allclose(float(res.params["mu"]), ref.fe_params.iloc[0], rtol=1e-6)
    np.testing.assert_allclose(float(res.params["sigma"]) ** 2, ref.scale, rtol=1e-5)
    np.testing.assert_allclose(float(res.params["tau"]) ** 2, ref.cov_re.iloc[0, 0], rtol=1e-5)
    np.testing.assert_allclose(float(res.loglik), ref.llf, rtol=1e-9)
    np.testing.assert_allclose(float(res.se["mu"]), ref.bse_fe.iloc[0], rtol=1e-4)


def test_conditional_modes_are_the_best_linear_unbiased_predictions(lmm):
    y, res = lmm
    mu, s, t = (float(res.params[k]) for k in ("mu", "sigma", "tau"))
    re = jm.random_effects(res)
    # the BLUP of a random intercept: shrink the group mean's residual by t^2 / (t^2 + s^2/N)
    shrink = t**2 / (t**2 + s**2 / N)
    np.testing.assert_allclose(re["mode"]["u"], shrink * (y.mean(axis=1) - mu), rtol=1e-8)
    # the conditional SD: 1 / sqrt(N / s^2 + 1 / t^2), the same for every group
    np.testing.assert_allclose(re["sd"]["u"], 1 / np.sqrt(N / s**2 + 1 / t**2), rtol=1e-8)
    # the prediction SE adds the uncertainty of the estimate: at least the conditional SD
    assert np.all(re["se"]["u"] > re["sd"]["u"])


def test_gradient_of_the_laplace_objective_matches_finite_differences():
    y = jnp.asarray(_data(1))
    lap = jm.laplace_model(GROUPED)

    def L(v):
        return jnp.sum(lap.loglik(lap.to_constrained(v), y))

    v = jnp.array([0.8, 0.1, -0.4])
    g = jax.grad(L)(v)
    h = 1e-5
    fd = [(L(v + h * e) - L(v - h * e)) / (2 * h) for e in jnp.eye(3)]
    np.testing.assert_allclose(np.asarray(g), np.asarray(fd), rtol=1e-6, atol=1e-8)


def test_dense_form_and_quadrature_agree_with_the_grouped_laplace_fit(lmm):
    y, res = lmm

    def joint_all(p, y):
        return (
            st.norm.logpdf(y, p["mu"] + p["u"][:, None], p["sigma"]).sum()
            + st.norm.logpdf(p["u"], 0.0, p["tau"]).sum()
        )

    dense = jm.Model(joint_all, {**SPEC, "u": jm.Real(shape=(G,))}, random=["u"])
    quad = jm.Model(_joint, SPEC, random=["u"], grouped=True, n_quad=7)
    for model in (dense, quad):
        other = jm.fit(model, jnp.asarray(y))
        assert other.status == jm.Status.CONVERGED
        for k in ("mu", "sigma", "tau"):
            np.testing.assert_allclose(float(other.params[k]), float(res.params[k]), rtol=1e-7)
        # (Gauss-Hermite is exact for the Gaussian integrand of a linear mixed model)
        np.testing.assert_allclose(float(other.loglik), float(res.loglik), rtol=1e-10)


def test_an_inner_problem_that_cannot_converge_fails_the_fit_visibly():
    # a random slope with no density of its own: on the second group the covariate separates
    # the successes from the failures, and that group's slope runs to infinity
    def joint(p, d):
        return st.bernoulli.logpmf(d["y"], jax.nn.sigmoid(p["a"] + p["u"] * d["x"])).sum()

    model = jm.Model(joint, {"a": jm.Real(), "u": jm.Real()}, random=["u"], grouped=True)
    x = jnp.asarray([[-1.0, 0.5, 1.0, -0.5], [-1.0, -0.5, 0.5, 1.0], [1.0, -1.0, 0.5, -0.5]])
    y = jnp.asarray([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
    res = jm.fit(model, {"x": x, "y": y})
    assert res.status != jm.Status.CONVERGED
    assert not bool(res.converged)
    assert not np.isfinite(float(res.loglik))
    # without the separated group, the same model fits
    ok = jm.fit(model, {"x": x[::2], "y": y[::2]})
    assert ok.status == jm.Status.CONVERGED


def test_bad_random_effect_declarations_are_named():
    with pytest.raises(ValueError, match="'v'"):
        jm.Model(_joint, SPEC, random=["v"])
    with pytest.raises(ValueError, match="must be jm.Real"):
        jm.laplace_model(jm.Model(_joint, SPEC, random=["tau"], grouped=True))
    with pytest.raises(ValueError, match="at most 500"):
        jm.laplace_model(jm.Model(_joint, {**SPEC, "u": jm.Real(shape=(501,))}, random=["u"]))
    with pytest.raises(ValueError, match="one random effect per group"):
        jm.laplace_model(
            jm.Model(_joint, {**SPEC, "u": jm.Real(shape=(2,))}, random=["u"], n_quad=5)
        )


# ---------------------------------------------------------------------------------------
# against lme4 and glmmTMB (tests/references/random_effects.R wrote the JSON)
# ---------------------------------------------------------------------------------------
REFS = json.loads((Path(__file__).parent / "references" / "random_effects.json").read_text())


def _grouped(case, **extra):
    d = REFS[case]["data"]
    rows = {"y": np.asarray(d["y"], float), "X": np.asarray(d["X"], float), **extra}
    if "trials" in d:
        rows["trials"] = np.asarray(d["trials"], float)
    data = jm.pad_groups(rows, np.asarray(d["group"]), n_groups=d["n_groups"])
    return {k: jnp.asarray(v) for k, v in data.items()}


def _intercept_model(response, n_beta, n_quad=1):
    """A GLMM with a random intercept per group: ``response(y, eta, d)`` the log-density."""

    def joint(p, d):
        eta = d["X"] @ p["beta"] + p["u"]
        return jnp.sum(d["mask"] * response(d["y"], eta, d)) + st.norm.logpdf(p["u"], 0.0, p["sd"])

    spec = {"beta": jm.Real(shape=(n_beta,)), "sd": jm.Positive(), "u": jm.Real()}
    return jm.Model(joint, spec, random=["u"], grouped=True, n_quad=n_quad)


def _binomial(y, eta, d):
    return st.binom.logpmf(y, d["trials"], jax.nn.sigmoid(eta))


def _poisson(y, eta, d):
    return st.poisson.logpmf(y, jnp.exp(eta))


def _check_intercept_fit(res, ref, rtol=1e-4, se=True):
    assert res.status == jm.Status.CONVERGED
    np.testing.assert_allclose(np.asarray(res.params["beta"]), ref["fixef"], rtol=rtol)
    np.testing.assert_allclose(float(res.params["sd"]), ref["re_sd"][0], rtol=rtol)
    if se:
        # glmmTMB's full covariance: the fixed effects and theta = log(sd)
        want = np.sqrt(np.diag(np.asarray(ref["vcov_full"])))
        got = [*np.asarray(res.se["beta"]), float(res.se["sd"] / res.params["sd"])]
        np.testing.assert_allclose(got, want, rtol=rtol)


def test_binomial_glmm_laplace_equals_glmmtmb():
    ref = REFS["binomial_laplace"]["glmmTMB"]
    res = jm.fit(_intercept_model(_binomial, 4), _grouped("binomial_laplace"))
    _check_intercept_fit(res, ref, rtol=1e-5)
    np.testing.assert_allclose(float(res.loglik), ref["loglik"], rtol=1e-10)
    # the conditional modes, TMB's prediction standard errors (sdreport) and the conditional
    # SDs at the estimate
    re = jm.random_effects(res)
    np.testing.assert_allclose(re["mode"]["u"], np.ravel(ref["ranef"]), rtol=1e-5)
    np.testing.assert_allclose(re["se"]["u"], ref["sdr_random_se"], rtol=1e-5)
    np.testing.assert_allclose(re["sd"]["u"], np.ravel(ref["cond_sd_given_par"]), rtol=1e-5)


def test_binomial_glmm_quadrature_equals_lme4_nagq25():
    ref = REFS["binomial_agq25"]["lme4"]
    res = jm.fit(_intercept_model(_binomial, 4, n_quad=25), _grouped("binomial_agq25"))
    _check_intercept_fit(res, ref, rtol=1e-6, se=False)
    np.testing.assert_allclose(np.asarray(res.se["beta"]), ref["fixef_se"], rtol=1e-5)
    # lme4's nAGQ > 1 loglik leaves out the saturated loglik; the JSON adds it back
    np.testing.assert_allclose(float(res.loglik), ref["loglik_with_constants"], rtol=1e-7)


def test_poisson_glmm_laplace_equals_glmmtmb():
    ref = REFS["poisson_laplace"]["glmmTMB"]
    res = jm.fit(_intercept_model(_poisson, 4), _grouped("poisson_laplace"))
    _check_intercept_fit(res, ref, rtol=1e-5)
    np.testing.assert_allclose(float(res.loglik), ref["loglik"], rtol=1e-10)


def test_random_slope_lmm_equals_lme4_and_glmmtmb():
    lme4, tmb = REFS["lmm_slope"]["lme4"], REFS["lmm_slope"]["glmmTMB"]

    def joint(p, d):
        u = p["u"]  # (intercept, slope) of one subject
        mean = d["X"] @ (p["beta"] + u)  # (Z = X: the intercept and Days columns)
        sd, rho = p["sd"], p["rho"]
        cov = jnp.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
        return jnp.sum(d["mask"] * st.norm.logpdf(d["y"], mean, p["sigma"])) + (
            st.multivariate_normal.logpdf(u, jnp.zeros(2), cov)
        )

    spec = {
        "beta": jm.Real(shape=(2,)),
        "sigma": jm.Positive(),
        "sd": jm.Positive(shape=(2,)),
        "rho": jm.Bounded(-1.0, 1.0),
        "u": jm.Real(shape=(2,)),
    }
    model = jm.Model(joint, spec, random=["u"], grouped=True)
    res = jm.fit(model, _grouped("lmm_slope"), init={"beta": [250.0, 10.0], "sigma": 30.0,
                                                     "sd": [20.0, 5.0]})  # fmt: skip
    assert res.status == jm.Status.CONVERGED
    # (lme4's optimizer is run to 1e-10 here, glmmTMB's to its defaults: their own difference
    # is about 1e-6)
    for ref, rtol in ((lme4, 1e-6), (tmb, 1e-5)):
        np.testing.assert_allclose(np.asarray(res.params["beta"]), ref["fixef"], rtol=rtol)
        np.testing.assert_allclose(np.asarray(res.params["sd"]), ref["re_sd"], rtol=rtol)
        np.testing.assert_allclose(float(res.params["sigma"]), ref["sigma"], rtol=rtol)
        # (a correlation of 0.08: relative to it, 10 times the others' tolerance)
        np.testing.assert_allclose(float(res.params["rho"]), ref["re_corr"][0][1], rtol=10 * rtol)
        np.testing.assert_allclose(float(res.loglik), ref["loglik"], rtol=1e-12)
    # the standard errors of the fixed effects (lme4's) and of the log SDs (glmmTMB's full
    # covariance: the Laplace approximation is exact here), and lme4's conditional modes
    np.testing.assert_allclose(np.asarray(res.se["beta"]), lme4["fixef_se"], rtol=1e-6)
    want = np.sqrt(np.diag(np.asarray(tmb["vcov_full"])))
    got = np.asarray(res.se["sd"] / res.params["sd"])
    np.testing.assert_allclose(got, want[3:5], rtol=1e-5)
    modes = jm.random_effects(res)["mode"]["u"]
    np.testing.assert_allclose(np.asarray(modes), np.asarray(lme4["ranef"]), rtol=1e-5)


def test_a_variance_component_at_zero_is_a_boundary_with_the_pooled_estimates():
    # between-group variation below what the within-group noise explains: the marginal
    # likelihood is largest at tau = 0 (lme4's "singular fit")
    y = np.random.default_rng(2).normal(0, 1.0, size=(G, N))
    res = jm.fit(GROUPED, jnp.asarray(y))
    assert res.status == jm.Status.BOUNDARY
    assert bool(res.at_limit[2]) and not bool(res.at_limit[0])
    assert float(res.params["tau"]) < 1e-4
    # at tau = 0 the model is one normal sample: the pooled mean and ML standard deviation
    np.testing.assert_allclose(float(res.params["mu"]), y.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(res.params["sigma"]), y.std(), rtol=1e-6)


def test_fit_batch_of_mixed_models_equals_one_fit_each():
    rng = np.random.default_rng(3)
    ys = 1.0 + rng.normal(0, 0.7, size=(3, G, 1)) + rng.normal(0, 1.2, size=(3, G, N))
    batch = jm.fit_batch(GROUPED, jnp.asarray(ys))
    for i in range(3):
        one = jm.fit(GROUPED, jnp.asarray(ys[i]))
        assert int(batch.status[i]) == int(one.status) == jm.Status.CONVERGED
        for k in ("mu", "sigma", "tau"):
            np.testing.assert_allclose(float(batch.params[k][i]), float(one.params[k]), rtol=1e-9)
        np.testing.assert_allclose(float(batch.loglik[i]), float(one.loglik), rtol=1e-12)


def test_likelihood_ratio_test_on_the_fixed_parameters_equals_the_exact_one(lmm):
    y, res = lmm
    restricted = jm.fit(GROUPED, jnp.asarray(y), fixed={"mu": 0.0})
    test = jm.lr_test(restricted, res)
    full = so.minimize(
        _exact_nll, [0.0, 0.0, 0.0], args=(y,), method="BFGS", options={"gtol": 1e-10}
    )
    null = so.minimize(
        lambda v: _exact_nll([0.0, *v], y), [0.0, 0.0], method="BFGS", options={"gtol": 1e-10}
    )
    np.testing.assert_allclose(float(test.statistic), 2 * (null.fun - full.fun), rtol=1e-6)
    assert test.df == 1
    # a function of the variance components (the intraclass correlation), by the delta method
    icc = jm.derived(res, lambda p: p["tau"] ** 2 / (p["tau"] ** 2 + p["sigma"] ** 2))
    t, s = float(res.params["tau"]), float(res.params["sigma"])
    np.testing.assert_allclose(float(icc.estimate), t**2 / (t**2 + s**2), rtol=1e-12)
    assert 0 < float(icc.low) < float(icc.estimate) < float(icc.high) < 1


def _pooled(p, y):
    """The null of a variance-component test: the model without the random intercept."""
    return st.norm.logpdf(y, p["mu"], p["sigma"]).sum()


def test_lr_test_of_a_variance_component_with_the_model_without_it_as_the_null(lmm):
    y, alt = lmm
    null = jm.fit(jm.Model(_pooled, {"mu": jm.Real(), "sigma": jm.Positive()}), jnp.asarray(y))
    assert null.status == jm.Status.CONVERGED
    # the null is one normal sample: the pooled mean and ML standard deviation
    pooled = sst.norm.logpdf(y, y.mean(), y.std()).sum()
    np.testing.assert_allclose(float(null.loglik), pooled, rtol=1e-10)
    test = jm.lr_test(null, alt, boundary=True)
    lr = 2 * (float(alt.loglik) - pooled)
    assert test.df == 1
    np.testing.assert_allclose(float(test.statistic), lr, rtol=1e-8)
    # the 50:50 mixture of chi2_0 and chi2_1: half the chi2_1 p-value
    np.testing.assert_allclose(float(test.pvalue), 0.5 * sst.chi2.sf(lr, 1), rtol=1e-8)
    assert "boundary" in test.note


@pytest.mark.xfail(
    strict=True,
    reason="the null of a variance-component test, the model fitted with its SD fixed at 0 "
    "(fixed={'tau': 0.0}, as docs/intervals.md says to fit a variance of 0), ends NONFINITE: "
    "the density of the random effect at SD 0 is not finite, so the Laplace marginal "
    "likelihood is not either, and jm.lr_test of the variance component is NaN",
)
def test_lr_test_of_a_variance_component_against_its_null_at_zero(lmm):
    y, alt = lmm
    null = jm.fit(GROUPED, jnp.asarray(y), fixed={"tau": 0.0})
    # at tau = 0 the model is one normal sample: the pooled mean and ML standard deviation
    pooled = sst.norm.logpdf(y, y.mean(), y.std()).sum()
    assert null.status in (jm.Status.CONVERGED, jm.Status.BOUNDARY)
    np.testing.assert_allclose(float(null.loglik), pooled, rtol=1e-8)
    test = jm.lr_test(null, alt)
    np.testing.assert_allclose(float(test.statistic), 2 * (float(alt.loglik) - pooled), rtol=1e-6)
    assert "boundary" in test.note
