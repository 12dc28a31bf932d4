"""Family fits: fit_dist against scipy / statsmodels / closed forms, censored fits against
lifelines, and fit_batch (with a ragged, NaN-padded batch) against one-at-a-time fits.

Compilation dominates the runtime, so each family compiles twice (the single
and the batch kernel): every one-at-a-time fit goes through the same masked
single kernel, and the reference comparisons reuse those fits.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as st
from _scores import score_loglogistic, score_student_t
from helpers import P3

import jaxmle as jm
from jaxmle.distributions import DISTRIBUTIONS, families, fit_dist

B, N, N_RAGGED = 8, 60, 45  # batch size, padded length, length of the ragged last dataset


def _mean(x):
    return float(np.mean(x))


# -- references: dataset (1-D, or (n, k) counts) -> parameters ---------------------------
# Closed forms are the textbook MLEs; the others are scipy's .fit (location fixed at 0 for the
# positive families; for gamma and beta it solves the score equations), statsmodels for the
# negative binomial, and for the families that scipy fits with a general-purpose optimizer
# (weibull, student_t, loglogistic) the score equations written by hand and solved tightly.
def _nb2_statsmodels(x):
    import statsmodels.api as sm

    res = sm.NegativeBinomial(x, np.ones((len(x), 1)), loglike_method="nb2").fit(
        disp=0, method="newton", maxiter=200, tol=1e-14
    )
    return {"mean": math.exp(res.params[0]), "alpha": float(res.params[1])}


def _scipy(dist, names, **fixed):
    def ref(x):
        est = dist.fit(x, **fixed)
        return {k: f(est) for k, f in names.items()}

    return ref


# -- hand-written score equations (per observation, (n, p), natural parameters) -----------
def _score_weibull(x, shape, scale):
    y = np.log(x / scale)
    u = np.exp(shape * y)
    return np.column_stack([1 / shape + y - u * y, shape * (u - 1) / scale])


# family -> (score, parameter names, scipy logpdf(x, *theta), start from scipy's .fit)
SCORE_FAMILIES = {
    "weibull": (
        _score_weibull,
        ("shape", "scale"),
        lambda x, k, s: st.weibull_min.logpdf(x, k, scale=s),
        lambda x: (lambda e: (e[0], e[2]))(st.weibull_min.fit(x, floc=0)),
    ),
    "student_t": (
        score_student_t,
        ("loc", "scale", "df"),
        lambda x, loc, scale, df: st.t.logpdf(x, df, loc, scale),
        lambda x: (lambda e: (e[1], e[2], e[0]))(st.t.fit(x)),
    ),
    "loglogistic": (
        score_loglogistic,
        ("shape", "scale"),
        lambda x, c, s: st.fisk.logpdf(x, c, scale=s),
        lambda x: (lambda e: (e[0], e[2]))(st.fisk.fit(x, floc=0)),
    ),
}


def _score_information(score, x, theta, rel=1e-6):
    """Minus the central-difference Jacobian of the score sum (the observed information)."""
    k = theta.size
    J = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = rel * max(abs(theta[j]), 1.0)
        J[:, j] = (score(x, *(theta + e)).sum(0) - score(x, *(theta - e)).sum(0)) / (2 * e[j])
    return -(J + J.T) / 2


def _score_reference(name, x):
    """(parameters, SEs): the root of the hand-written score equations (scipy.optimize.root
    from scipy's .fit, then Newton steps to a relative step below 1e-12), SEs from the
    inverse of its difference-Jacobian information. The hand score is checked against
    central differences of scipy's logpdf there."""
    score, names, logpdf, start = SCORE_FAMILIES[name]
    g = lambda t: score(x, *t).sum(0)  # noqa: E731
    theta = so.root(g, np.asarray(start(x), float), method="hybr", options={"xtol": 1e-12}).x
    for _ in range(5):
        step = np.linalg.solve(_score_information(score, x, theta), g(theta))
        theta = theta + step
    assert np.all(np.abs(step) <= 1e-12 * np.abs(theta)), step
    S = score(x, *theta)
    for j in range(theta.size):
        e = np.zeros(theta.size)
        e[j] = 1e-5 * max(abs(theta[j]), 1.0)
        diff = (logpdf(x, *(theta + e)) - logpdf(x, *(theta - e))) / (2 * e[j])
        # central differences with step 1e-5: accurate to ~1e-9 (worst measured 4e-10)
        np.testing.assert_allclose(S[:, j], diff, rtol=1e-7, atol=1e-7)
    se = np.sqrt(np.diag(np.linalg.inv(_score_information(score, x, theta))))
    return dict(zip(names, theta)), dict(zip(names, se))


REFERENCES = {
    "bernoulli": lambda x: {"p": _mean(x)},
    "binomial": lambda x: {"p": _mean(x) / 10},
    "categorical": lambda x: {"p": np.bincount(x.astype(int), minlength=3) / len(x)},
    "multinomial": lambda x: {"p": x.sum(axis=0) / x.sum()},
    "poisson": lambda x: {"rate": _mean(x)},
    "negative_binomial": _nb2_statsmodels,
    "geometric": lambda x: {"p": 1 / (1 + _mean(x))},
    "exponential": _scipy(st.expon, {"rate": lambda e: 1 / e[1]}, floc=0),
    "normal": _scipy(st.norm, {"loc": lambda e: e[0], "scale": lambda e: e[1]}),
    "lognormal": _scipy(
        st.lognorm, {"mu": lambda e: math.log(e[2]), "sigma": lambda e: e[0]}, floc=0
    ),
    "gamma": _scipy(st.gamma, {"shape": lambda e: e[0], "scale": lambda e: e[2]}, floc=0),
    "beta": _scipy(st.beta, {"a": lambda e: e[0], "b": lambda e: e[1]}, floc=0, fscale=1),
    "laplace": lambda x: {
        "loc": float(np.median(x)),
        "scale": float(np.mean(np.abs(x - np.median(x)))),
    },
    "logistic": _scipy(st.logistic, {"loc": lambda e: e[0], "scale": lambda e: e[1]}),
    "gumbel": _scipy(st.gumbel_r, {"loc": lambda e: e[0], "scale": lambda e: e[1]}),
    "gumbel_min": _scipy(st.gumbel_l, {"loc": lambda e: e[0], "scale": lambda e: e[1]}),
    # scipy's pareto fit with floc=0 is the closed form: scale = min x, b = n / sum log(x/scale)
    "pareto": _scipy(st.pareto, {"shape": lambda e: e[0]}, floc=0),
}


# standard errors from the observed information in closed form (textbook):
SE_REFERENCES = {
    "bernoulli": lambda p, n: {"p": math.sqrt(p["p"] * (1 - p["p"]) / n)},
    "binomial": lambda p, n: {"p": math.sqrt(p["p"] * (1 - p["p"]) / (10 * n))},
    "categorical": lambda p, n: {"p": np.sqrt(p["p"] * (1 - p["p"]) / n)},  # multinomial cov
    "poisson": lambda p, n: {"rate": math.sqrt(p["rate"] / n)},
    "geometric": lambda p, n: {"p": p["p"] * math.sqrt((1 - p["p"]) / n)},
    "exponential": lambda p, n: {"rate": p["rate"] / math.sqrt(n)},
    "normal": lambda p, n: {
        "loc": p["scale"] / math.sqrt(n),
        "scale": p["scale"] / math.sqrt(2 * n),
    },
    "lognormal": lambda p, n: {
        "mu": p["sigma"] / math.sqrt(n),
        "sigma": p["sigma"] / math.sqrt(2 * n),
    },
    "pareto": lambda p, n: {"shape": p["shape"] / math.sqrt(n)},
}

# Measured against the score-equation references (datasets 0 and 7 of each family's batch):
# estimates within 5.1e-15 relative, SEs within 1.6e-10, log-likelihoods within 4.4e-16
# (scipy's optimizer-based .fit, the previous reference, is off by ~1e-5).
SCORE_EST_RTOL = 1e-12  # 200x the worst measured: a flatter dataset moves the rounding more
SCORE_SE_RTOL = 2e-9  # 12x the worst measured: the reference's difference Jacobian
SCORE_LL_RTOL = 1e-14  # 22x the worst measured: the same sum in another order

SAMPLERS = {
    "bernoulli": lambda r, s: (r.random(s) < 0.3).astype(float),
    "binomial": lambda r, s: r.binomial(10, 0.3, s).astype(float),
    "categorical": lambda r, s: r.choice(3, size=s, p=P3).astype(float),
    "multinomial": lambda r, s: r.multinomial(5, P3, size=s).astype(float),  # s + (3,)
    "poisson": lambda r, s: r.poisson(3.0, s).astype(float),
    "negative_binomial": lambda r, s: r.negative_binomial(2.0, 0.4, s).astype(float),
    "geometric": lambda r, s: r.geometric(0.3, s) - 1.0,
    "exponential": lambda r, s: r.exponential(2.0, s),
    "normal": lambda r, s: r.normal(1.0, 2.0, s),
    "lognormal": lambda r, s: np.exp(r.normal(0.5, 0.7, s)),
    "gamma": lambda r, s: r.gamma(2.5, 2.0, s),
    "weibull": lambda r, s: 2.0 * r.weibull(1.7, s),
    "beta": lambda r, s: r.beta(2.0, 5.0, s),
    "student_t": lambda r, s: 1.0 + 2.0 * r.standard_t(2.5, s),
    "laplace": lambda r, s: r.laplace(1.0, 2.0, s),
    "logistic": lambda r, s: r.logistic(1.0, 2.0, s),
    "loglogistic": lambda r, s: 2.0 * np.exp(r.logistic(0.0, 1 / 3.0, s)),
    "gumbel": lambda r, s: r.gumbel(1.0, 2.0, s),
    "gumbel_min": lambda r, s: -r.gumbel(-1.0, 2.0, s),
    "pareto": lambda r, s: 1.5 * (1.0 + r.pareto(2.5, s)),
}
OPTIONS = {"binomial": {"trials": 10}, "categorical": {"k": 3}}


def _loglik_at(name, x, params):
    """The log-likelihood of reference parameters, by jaxmle's own formulas (checked against
    scipy in test_distributions.py)."""
    dist = DISTRIBUTIONS[name].with_options(**OPTIONS.get(name, {}))
    if name == "pareto":
        params = {**params, "scale": float(np.min(x))}
    return float(np.sum(dist.logpdf(x, {k: np.asarray(v) for k, v in params.items()})))


# (the three-parameter families, whose likelihood can run to the smallest observation, and the
# Weibull mixture have their own references and batch checks in test_threshold.py and
# test_mixture_competing.py)
@pytest.mark.parametrize(
    "name", sorted(set(DISTRIBUTIONS) - {"weibull_3p", "lognormal_3p", "weibull_mixture"})
)
def test_fit_matches_reference_and_batch_matches_single_fits(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    opts = OPTIONS.get(name, {})
    X = SAMPLERS[name](rng, (B, N))
    X[B - 1, N_RAGGED:] = np.nan  # the ragged dataset: 45 observations padded to 60

    batch = fit_dist(name, X, nan_policy="omit", **opts)
    ones = np.ones(N, bool)
    singles = [fit_dist(name, X[i], mask=ones, nan_policy="omit", **opts) for i in range(B)]

    laplace = name == "laplace"  # piecewise linear in loc: no curvature, NaN SEs (documented)
    for i, single in enumerate(singles):
        one = batch[i]
        if laplace:
            # no curvature in loc: never CONVERGED; which non-answer (the steps across the
            # kinks stop making progress, or the information is singular where they stop)
            # depends on the rounding path, which a batch and a single fit need not share
            no_answer = {jm.Status.STALLED, jm.Status.SINGULAR, jm.Status.BOUNDARY}
            assert {int(one.status), int(single.status)} <= no_answer
        else:
            assert int(one.status) == int(single.status)
        if not laplace:
            assert int(single.status) == jm.Status.CONVERGED, (i, jm.Status(int(single.status)))
        assert float(one.nobs) == float(single.nobs) == (N_RAGGED if i == B - 1 else N)
        np.testing.assert_allclose(float(one.loglik), float(single.loglik), rtol=1e-12)
        for key in single.params:
            a, b = np.asarray(one.params[key]), np.asarray(single.params[key])
            if laplace and key == "loc":
                # the Laplace loglik is flat in loc between the middle order statistics
                # (an even count): any point there is a maximum
                x = np.sort(X[i, : (N_RAGGED if i == B - 1 else N)])
                m = x.size // 2
                assert (
                    x[m - 1] - 1e-12 <= a <= x[m] + 1e-12 and x[m - 1] - 1e-12 <= b <= x[m] + 1e-12
                )
                continue
            # both converged (Newton decrement 1e-15) by different rounding paths: they agree
            # to 1e-6 of a standard error (a flat direction, like a large df, moves the most)
            se = 1.0 if laplace else np.asarray(single.se[key])
            assert np.all(np.abs(a - b) <= 1e-8 * np.abs(b) + 1e-6 * se), (key, a, b, se)
            if not laplace:
                # same data, same kernel code: measured at most 7.4e-11 (student_t's df), 1e-9
                np.testing.assert_allclose(one.se[key], single.se[key], rtol=1e-9)

    # the first dataset and the ragged one against the references
    for i in (0, B - 1):
        x = X[i, :N_RAGGED] if i == B - 1 else X[i]
        res = singles[i]
        got = {k: np.asarray(v) for k, v in res.params.items()}
        if name in SCORE_FAMILIES:
            want, want_se = _score_reference(name, x)
            for key in want:
                np.testing.assert_allclose(got[key], want[key], rtol=SCORE_EST_RTOL)
                np.testing.assert_allclose(res.se[key], want_se[key], rtol=SCORE_SE_RTOL)
            logpdf = SCORE_FAMILIES[name][2]
            ll = np.sum(logpdf(x, *(want[k] for k in SCORE_FAMILIES[name][1])))
            np.testing.assert_allclose(float(res.loglik), ll, rtol=SCORE_LL_RTOL)
        else:
            want = REFERENCES[name](x)
            for key in want:
                np.testing.assert_allclose(got[key], want[key], rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(float(res.loglik), _loglik_at(name, x, got), rtol=1e-12)
        if name in SE_REFERENCES:
            n = len(x)
            for key, se in SE_REFERENCES[name](got, n).items():
                np.testing.assert_allclose(res.se[key], se, rtol=1e-7)
        if laplace:
            # no curvature in loc: never CONVERGED; the steps across the kink at the median
            # either end flat (SINGULAR, BOUNDARY) or stop making progress (STALLED)
            assert jm.Status(int(res.status)).name in ("SINGULAR", "BOUNDARY", "STALLED")


def test_negative_binomial_standard_errors_match_statsmodels():
    import statsmodels.api as sm

    rng = np.random.default_rng(7)
    x = rng.negative_binomial(2.0, 0.4, N).astype(float)
    ones = np.ones(N, bool)
    res = fit_dist("negative_binomial", x, mask=ones, nan_policy="omit")  # the compiled kernel
    ref = sm.NegativeBinomial(x, np.ones((N, 1)), loglike_method="nb2").fit(
        disp=0, method="newton", maxiter=200, tol=1e-14
    )
    mean = math.exp(ref.params[0])
    np.testing.assert_allclose(res.params["mean"], mean, rtol=1e-8)
    np.testing.assert_allclose(res.params["alpha"], ref.params[1], rtol=1e-7)
    # statsmodels' SEs: analytic Hessian in (log mean, alpha); se(mean) = mean se(log mean)
    np.testing.assert_allclose(res.se["mean"], mean * ref.bse[0], rtol=1e-6)
    np.testing.assert_allclose(res.se["alpha"], ref.bse[1], rtol=1e-6)
    np.testing.assert_allclose(float(res.loglik), ref.llf, rtol=1e-10)


# -- censoring against lifelines ---------------------------------------------------------
def _lifelines(fitter_cls, method="fit", **kwargs):
    # lifelines maximizes with scipy's L-BFGS-B; tightened tolerances put its optimum within
    # ~1e-7 of the exact one, and its SEs are the inverse autograd Hessian there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = fitter_cls()
        getattr(fitter, method)(**kwargs, fit_options={"gtol": 1e-12, "ftol": 1e-15})
    return fitter


def _se(fitter, name):
    return float(fitter.summary.loc[name, "se(coef)"])


@pytest.fixture(scope="module")
def survival():
    rng = np.random.default_rng(20240611)
    t = 3.0 * rng.weibull(1.6, 200)
    c = rng.uniform(0.5, 6.0, 200)
    return np.minimum(t, c), (t <= c).astype(float)


def test_right_censored_weibull_exponential_lognormal_match_lifelines(survival):
    from lifelines import ExponentialFitter, LogNormalFitter, WeibullFitter

    T, E = survival
    # lifelines (tightened L-BFGS-B, inverse autograd Hessian); its SEs are of the same
    # parameters (the delta method from our log coordinates is exact at the optimum)
    wf = _lifelines(WeibullFitter, durations=T, event_observed=E)
    res = fit_dist("weibull", T, event=E)
    assert int(res.status) == jm.Status.CONVERGED
    np.testing.assert_allclose(res.params["shape"], wf.rho_, rtol=1e-7)
    np.testing.assert_allclose(res.params["scale"], wf.lambda_, rtol=1e-7)
    np.testing.assert_allclose(res.se["shape"], _se(wf, "rho_"), rtol=1e-7)
    np.testing.assert_allclose(res.se["scale"], _se(wf, "lambda_"), rtol=1e-7)
    np.testing.assert_allclose(float(res.loglik), wf.log_likelihood_, rtol=1e-10)

    ef = _lifelines(ExponentialFitter, durations=T, event_observed=E)
    res = fit_dist("exponential", T, event=E)
    rate = E.sum() / T.sum()  # closed form
    np.testing.assert_allclose(res.params["rate"], rate, rtol=1e-12)
    np.testing.assert_allclose(res.params["rate"], 1 / ef.lambda_, rtol=1e-7)
    np.testing.assert_allclose(res.se["rate"], _se(ef, "lambda_") / ef.lambda_**2, rtol=1e-7)
    np.testing.assert_allclose(res.se["rate"], rate / math.sqrt(E.sum()), rtol=1e-10)
    np.testing.assert_allclose(float(res.loglik), ef.log_likelihood_, rtol=1e-10)

    lf = _lifelines(LogNormalFitter, durations=T, event_observed=E)
    res = fit_dist("lognormal", T, event=E)
    np.testing.assert_allclose(res.params["mu"], lf.mu_, rtol=1e-7)
    np.testing.assert_allclose(res.params["sigma"], lf.sigma_, rtol=1e-7)
    np.testing.assert_allclose(res.se["mu"], _se(lf, "mu_"), rtol=1e-7)
    np.testing.assert_allclose(res.se["sigma"], _se(lf, "sigma_"), rtol=1e-7)
    np.testing.assert_allclose(float(res.loglik), lf.log_likelihood_, rtol=1e-10)


def test_left_and_interval_censored_weibull_match_lifelines(survival):
    from lifelines import WeibullFitter

    T, E = survival
    rng = np.random.default_rng(20240612)  # this test's own draws (any subset sees the same)
    # left censoring: an event at T, or "before T" (lower bound 0)
    wf = _lifelines(WeibullFitter, "fit_left_censoring", durations=T, event_observed=E)
    res = fit_dist("weibull", lower=np.where(E == 1, T, 0.0), upper=T)
    assert int(res.status) == jm.Status.CONVERGED
    np.testing.assert_allclose(res.params["shape"], wf.rho_, rtol=1e-7)
    np.testing.assert_allclose(res.params["scale"], wf.lambda_, rtol=1e-7)
    np.testing.assert_allclose(res.se["shape"], _se(wf, "rho_"), rtol=1e-7)
    np.testing.assert_allclose(res.se["scale"], _se(wf, "lambda_"), rtol=1e-7)
    np.testing.assert_allclose(float(res.loglik), wf.log_likelihood_, rtol=1e-10)

    # interval censoring, mixing exact, right-, left- and interval-censored observations
    kind = rng.integers(0, 4, len(T))
    lower = np.select([kind == 0, kind == 1, kind == 2], [T, T, 0.0], np.floor(T))
    upper = np.select([kind == 0, kind == 1, kind == 2], [T, np.inf, T], np.floor(T) + 1.0)
    wf = _lifelines(WeibullFitter, "fit_interval_censoring", lower_bound=lower, upper_bound=upper)
    res = fit_dist("weibull", lower=lower, upper=upper)  # same kernel as the left-censored fit
    assert int(res.status) == jm.Status.CONVERGED
    np.testing.assert_allclose(res.params["shape"], wf.rho_, rtol=1e-7)
    np.testing.assert_allclose(res.params["scale"], wf.lambda_, rtol=1e-7)
    np.testing.assert_allclose(res.se["shape"], _se(wf, "rho_"), rtol=1e-7)
    np.testing.assert_allclose(res.se["scale"], _se(wf, "lambda_"), rtol=1e-7)
    np.testing.assert_allclose(float(res.loglik), wf.log_likelihood_, rtol=1e-10)


def test_left_truncated_weibull_matches_lifelines(survival):
    from lifelines import WeibullFitter

    T, E = survival
    rng = np.random.default_rng(20240613)  # this test's own draws (any subset sees the same)
    entry = np.minimum(rng.uniform(0.0, 1.0, len(T)), 0.9 * T)  # delayed entry before T
    wf = _lifelines(WeibullFitter, durations=T, event_observed=E, entry=entry)
    res = fit_dist("weibull", T, event=E, entry=entry)
    assert int(res.status) == jm.Status.CONVERGED
    np.testing.assert_allclose(res.params["shape"], wf.rho_, rtol=1e-7)
    np.testing.assert_allclose(res.params["scale"], wf.lambda_, rtol=1e-7)
    np.testing.assert_allclose(res.se["shape"], _se(wf, "rho_"), rtol=1e-7)
    np.testing.assert_allclose(float(res.loglik), wf.log_likelihood_, rtol=1e-10)


# -- the API around fit_dist ---------------------------------------------------------------
def test_fit_dist_errors_and_factories():
    with pytest.raises(ValueError, match="known families are: bernoulli, binomial"):
        fit_dist("weibul", np.ones(3))
    with pytest.raises(ValueError, match="discrete"):
        fit_dist("poisson", np.ones(3), event=np.ones(3))
    with pytest.raises(ValueError, match="trials"):
        fit_dist("binomial", np.ones(3))
    with pytest.raises(ValueError, match=r"observations \[1\]"):
        fit_dist("normal", np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="lower > upper"):
        fit_dist("weibull", lower=np.array([2.0, 1.0]), upper=np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="unknown option"):
        fit_dist("normal", np.ones(3), trials=3)
    # one factory per family, cached (same object: one compilation per family and options)
    assert families.Weibull() is families.Weibull()
    assert families.Binomial(trials=10) is not families.Binomial(trials=5)
    assert families.StudentT().param_names == ("loc", "scale", "df")
    assert families.Categorical(k=3).spec["p"] == jm.Simplex(3)


CATEGORICAL_DATA = ([2.0, 0.0, 3.0, 3.0, 1.0], [0.0], [-1.0, 0.5, 4.0])  # last: off the support
MULTINOMIAL_DATA = (
    [[3.0, 0.0, 5.0, 2.0], [0.0, 0.0, 1.0, 0.0], [1.0, 2.0, 3.0, 4.0]],
    [[0.0, 0.0, 0.0, 0.0]],
    [[1.0, -1.0, 2.0, 0.0], [0.5, 1.0, 1.0, 0.0]],  # negative, non-integer: off the support
)


@pytest.mark.parametrize(
    "name, datasets",
    [("categorical", CATEGORICAL_DATA), ("multinomial", MULTINOMIAL_DATA)],
)
def test_simplex_family_objective_from_logits_equals_the_loglik_of_p(name, datasets):
    """The fit's objective of a family on the simplex is written in the unconstrained vector
    (from log_softmax of the logits): it is the loglik at p = softmax(logits), with the same
    gradient and Hessian, and -inf off the support."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    dist = DISTRIBUTIONS[name].with_options(k=4)
    model = families.model_for(dist)
    assert model.free_loglik is not None
    rng = np.random.default_rng(3)
    for u in [jnp.zeros(3), jnp.asarray(rng.normal(size=3) * 2.0)]:
        for values in datasets:
            data = {"x": jnp.asarray(values)}
            fast = model.free_loglik(u, data)
            generic = model.loglik(model.to_constrained(u), data)
            np.testing.assert_allclose(fast, generic, rtol=1e-13)
            if not np.all(np.isfinite(np.asarray(generic))):
                assert np.all(np.asarray(fast) == np.asarray(generic))
                continue

            def total(f, data=data):
                return lambda v: jnp.sum(f(v, data))

            plain = total(lambda v, d: model.loglik(model.to_constrained(v), d))
            free = total(model.free_loglik)
            np.testing.assert_allclose(jax.grad(free)(u), jax.grad(plain)(u), rtol=1e-12)
            np.testing.assert_allclose(
                jax.hessian(free)(u), jax.hessian(plain)(u), rtol=1e-12, atol=1e-13
            )
    logits = jnp.array([0.3, -1.0, 2.0, 0.0])
    x = jnp.asarray(datasets[0])
    np.testing.assert_allclose(
        dist.logpdf_logits(x, logits), dist.logpdf(x, {"p": jax.nn.softmax(logits)}), rtol=1e-13
    )
