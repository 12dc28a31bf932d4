"""The stored random-effects references (tests/references/random_effects.R and .json, and
random_effects_sim.json) against independent computations: exact Gaussian marginal
likelihoods and best linear unbiased predictions of the linear mixed models, Laplace
approximations and adaptive Gauss-Hermite quadrature of the GLMMs in numpy, and statsmodels'
MixedLM."""

import json
import pathlib
import warnings

import numpy as np
import pytest
from scipy.special import expit, gammaln, log_expit, xlogy
from statsmodels.regression.mixed_linear_model import MixedLM

REFS = pathlib.Path(__file__).parent / "references"
REF = json.loads((REFS / "random_effects.json").read_text())
SIM_PATH = REFS / "random_effects_sim.json"


def _data(case):
    d = REF[case]["data"]
    return (
        np.asarray(d["y"], float),
        np.asarray(d["X"], float),
        np.asarray(d["group"]),
        d["n_groups"],
    )


def _re_cov(block):
    sd = np.asarray(block["re_sd"], float)
    return np.asarray(block["re_corr"], float) * np.outer(sd, sd)


def _lmm_design(case):
    y, X, g, G = _data(case)
    days = X[:, 1]
    Z = (
        np.ones((len(y), 1))
        if case == "lmm_intercept"
        else np.column_stack([np.ones_like(days), days])
    )
    return y, X, Z, g, G


def _lmm_exact(case, block):
    """Exact marginal log-likelihood, conditional modes and conditional covariances."""
    y, X, Z, g, G = _lmm_design(case)
    beta = np.asarray(block["fixef"], float)
    D = _re_cov(block)
    s2 = block["sigma"] ** 2
    loglik, modes, condvar = 0.0, [], []
    for j in range(G):
        rows = g == j
        Zj, rj = Z[rows], y[rows] - X[rows] @ beta
        V = s2 * np.eye(rows.sum()) + Zj @ D @ Zj.T
        _, logdet = np.linalg.slogdet(V)
        loglik -= 0.5 * (rows.sum() * np.log(2 * np.pi) + logdet + rj @ np.linalg.solve(V, rj))
        modes.append(D @ Zj.T @ np.linalg.solve(V, rj))
        condvar.append(np.linalg.inv(Zj.T @ Zj / s2 + np.linalg.inv(D)))
    return loglik, np.array(modes), np.array(condvar)


@pytest.mark.parametrize("case", ["lmm_intercept", "lmm_slope"])
@pytest.mark.parametrize("tool", ["lme4", "glmmTMB"])
def test_lmm_exact_likelihood_and_modes(case, tool):
    block = REF[case][tool]
    loglik, modes, condvar = _lmm_exact(case, block)
    assert loglik == pytest.approx(block["loglik"], rel=1e-9)
    assert block["minus2loglik"] == pytest.approx(-2 * block["loglik"], rel=1e-14)
    np.testing.assert_allclose(block["ranef"], modes, rtol=1e-7, atol=1e-7)
    condsd = np.sqrt(np.diagonal(condvar, axis1=1, axis2=2))
    key = "ranef_condsd" if tool == "lme4" else "cond_sd_given_par"
    np.testing.assert_allclose(block[key], condsd, rtol=1e-7)
    if tool == "lme4":
        assert block["deviance"] == pytest.approx(-2 * block["loglik"], rel=1e-12)
        if case == "lmm_slope":
            np.testing.assert_allclose(block["ranef_condvar"], condvar, rtol=1e-7, atol=1e-9)
    else:
        # sdreport's prediction SEs add the parameter uncertainty, so they are larger
        assert np.all(np.asarray(block["ranef_condsd"]) > condsd)
        np.testing.assert_allclose(
            np.asarray(block["sdr_random_se"]).reshape(condsd.shape), block["ranef_condsd"]
        )


def test_lme4_and_glmmtmb_agree_on_the_linear_mixed_models():
    for case in ("lmm_intercept", "lmm_slope"):
        a, b = REF[case]["lme4"], REF[case]["glmmTMB"]
        assert a["loglik"] == pytest.approx(b["loglik"], rel=1e-11)
        np.testing.assert_allclose(a["fixef"], b["fixef"], rtol=1e-5)
        np.testing.assert_allclose(a["re_sd"], b["re_sd"], rtol=1e-5)


def test_glmmtmb_internal_parameterization():
    b = REF["lmm_slope"]["glmmTMB"]
    par = dict(zip(b["vcov_full_names"], b["par"]))
    assert par["d~(Intercept)"] == pytest.approx(np.log(b["sigma"] ** 2), rel=1e-12)
    assert b["log_sigma2_check"] == pytest.approx(par["d~(Intercept)"], rel=1e-12)
    log_sd = [par["theta_Days|Subject.1"], par["theta_Days|Subject.2"]]
    np.testing.assert_allclose(np.exp(log_sd), b["re_sd"], rtol=1e-12)
    t = par["theta_Days|Subject.3"]
    assert t / np.sqrt(1 + t * t) == pytest.approx(b["re_corr"][0][1], rel=1e-10)
    V = np.asarray(b["vcov_full"])
    assert V.shape == (6, 6) and np.allclose(V, V.T) and np.all(np.linalg.eigvalsh(V) > 0)
    np.testing.assert_allclose(np.sqrt(np.diag(V))[:2], b["fixef_se"], rtol=1e-10)


def _statsmodels_fit(case):
    y, X, Z, g, _ = _lmm_design(case)
    model = MixedLM(y, X, groups=g, exog_re=Z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=False, method=["lbfgs"], gtol=1e-10)


@pytest.mark.parametrize("case", ["lmm_intercept", "lmm_slope"])
def test_statsmodels_mixedlm_matches_lme4(case):
    block = REF[case]["lme4"]
    fit = _statsmodels_fit(case)
    np.testing.assert_allclose(fit.fe_params, block["fixef"], rtol=1e-5)
    assert fit.llf == pytest.approx(block["loglik"], rel=1e-6)
    assert np.sqrt(fit.scale) == pytest.approx(block["sigma"], rel=1e-4)
    np.testing.assert_allclose(np.asarray(fit.cov_re), _re_cov(block), rtol=1e-3)


# -- GLMMs: scalar random intercepts, a Newton solve per group ---------------------------------
def _family(case):
    d = REF[case]["data"]
    y = np.asarray(d["y"], float)
    if "trials" in d:
        n = np.asarray(d["trials"], float)
        const = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)

        def loglik(eta):
            return y * log_expit(eta) + (n - y) * log_expit(-eta) + const

        def score_info(eta):
            p = expit(eta)
            return y - n * p, n * p * (1 - p)

    else:
        const = -gammaln(y + 1)

        def loglik(eta):
            return y * eta - np.exp(eta) + const

        def score_info(eta):
            mu = np.exp(eta)
            return y - mu, mu

    return loglik, score_info


def _joint(loglik, eta_fixed, g, G, u, s):
    return (
        np.bincount(g, loglik(eta_fixed + u[g]), G)
        - 0.5 * (u / s) ** 2
        - 0.5 * np.log(2 * np.pi * s * s)
    )


def _modes(score_info, eta_fixed, g, G, s):
    u = np.zeros(G)
    for _ in range(60):
        sc, info = score_info(eta_fixed + u[g])
        h = np.bincount(g, info, G) + 1 / s**2
        step = (np.bincount(g, sc, G) - u / s**2) / h
        u += step
        if np.max(np.abs(step)) < 1e-13:
            break
    sc, info = score_info(eta_fixed + u[g])
    return u, np.bincount(g, info, G) + 1 / s**2


def _glmm(case, block, nodes=0, loglik=None, score_info=None, X=None, g=None, G=None):
    """Laplace (nodes = 0) or adaptive Gauss-Hermite log marginal likelihood, with the modes
    and conditional SDs."""
    if loglik is None:
        loglik, score_info = _family(case)
        _, X, g, G = _data(case)
    eta_fixed = X @ np.asarray(block["fixef"], float)
    s = block["re_sd"][0] if isinstance(block["re_sd"], list) else block["re_sd"]
    u, h = _modes(score_info, eta_fixed, g, G, s)
    sd = 1 / np.sqrt(h)
    if nodes == 0:
        total = np.sum(_joint(loglik, eta_fixed, g, G, u, s) + 0.5 * np.log(2 * np.pi * sd * sd))
        return total, u, sd
    z, w = np.polynomial.hermite_e.hermegauss(nodes)  # weight exp(-z^2 / 2)
    terms = np.array(
        [
            _joint(loglik, eta_fixed, g, G, u + sd * zk, s) + np.log(wk * sd) + zk * zk / 2
            for zk, wk in zip(z, w, strict=True)
        ]
    )
    top = terms.max(axis=0)
    return np.sum(top + np.log(np.exp(terms - top).sum(axis=0))), u, sd


@pytest.mark.parametrize("case", ["binomial_laplace", "poisson_laplace"])
def test_glmm_laplace(case):
    tmb, lme4 = REF[case]["glmmTMB"], REF[case]["lme4"]
    value, u, sd = _glmm(case, tmb)
    assert value == pytest.approx(tmb["loglik"], rel=1e-10)
    np.testing.assert_allclose(np.asarray(tmb["ranef"])[:, 0], u, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(np.asarray(tmb["cond_sd_given_par"])[:, 0], sd, rtol=1e-8)
    assert np.all(np.asarray(tmb["ranef_condsd"])[:, 0] > sd)
    # glmer: the same modes, and a logLik and conditional SDs close to (not at) a fresh
    # Laplace evaluation at its estimates
    value, u, sd = _glmm(case, lme4)
    assert value == pytest.approx(lme4["loglik"], rel=1e-5)
    np.testing.assert_allclose(np.asarray(lme4["ranef"])[:, 0], u, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(lme4["ranef_condsd"])[:, 0], sd, rtol=1e-4)
    # glmer's deviance(): the squared deviance residuals at the modes
    loglik, _ = _family(case)
    y, X, g, _ = _data(case)
    eta = X @ np.asarray(lme4["fixef"]) + np.asarray(lme4["ranef"])[g, 0]
    if "trials" in REF[case]["data"]:
        n = np.asarray(REF[case]["data"]["trials"], float)
        saturated = loglik(np.log(np.clip(y, 1e-300, None) / np.clip(n - y, 1e-300, None)))
    else:
        saturated = loglik(np.log(np.clip(y, 1e-300, None)))
    assert lme4["deviance"] == pytest.approx(2 * np.sum(saturated - loglik(eta)), rel=1e-8)
    # the two tools' Laplace maxima
    assert tmb["loglik"] >= lme4["loglik"] - 1e-8
    np.testing.assert_allclose(tmb["fixef"], lme4["fixef"], rtol=2e-3, atol=1e-4)


def test_binomial_agq25():
    block = REF["binomial_agq25"]["lme4"]
    value25, _, _ = _glmm("binomial_agq25", block, nodes=25)
    value60, _, _ = _glmm("binomial_agq25", block, nodes=60)
    assert value25 == pytest.approx(value60, rel=1e-12)
    # lme4's logLik with nAGQ > 1 leaves out the saturated model's log-likelihood
    assert block["loglik_with_constants"] == pytest.approx(value25, rel=1e-9)
    y, _, _, _ = _data("binomial_agq25")
    n = np.asarray(REF["binomial_agq25"]["data"]["trials"], float)
    lchoose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
    saturated = np.sum(lchoose + xlogy(y, y / n) + xlogy(n - y, 1 - y / n))
    assert block["saturated_loglik"] == pytest.approx(saturated, rel=1e-12)
    # and it is close to the Laplace value at the same estimates
    laplace, _, _ = _glmm("binomial_agq25", block)
    assert abs(laplace - value25) < 0.1


@pytest.mark.skipif(not SIM_PATH.exists(), reason="random_effects_sim.json not written")
@pytest.mark.parametrize("size", ["groups_100", "groups_1000"])
def test_simulated_sets_laplace(size):
    case = json.loads(SIM_PATH.read_text())["cases"][size]
    d = case["data"]
    y, x, g = np.asarray(d["y"], float), np.asarray(d["x"], float), np.asarray(d["group"])
    G = case["n_groups"]
    assert len(y) == case["n_obs"] == 20 * G and np.bincount(g).tolist() == [20] * G

    def loglik(eta):
        return y * log_expit(eta) + (1 - y) * log_expit(-eta)

    def score_info(eta):
        p = expit(eta)
        return y - p, p * (1 - p)

    X = np.column_stack([np.ones_like(x), x])
    value, _, _ = _glmm(None, case["glmmTMB"], 0, loglik, score_info, X, g, G)
    assert value == pytest.approx(case["glmmTMB"]["loglik"], rel=1e-9)
    value, _, _ = _glmm(None, case["lme4"], 0, loglik, score_info, X, g, G)
    assert value == pytest.approx(case["lme4"]["loglik"], rel=1e-5)
