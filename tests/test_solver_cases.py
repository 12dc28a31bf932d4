"""Hard cases for the solver and the statuses: each ends with the right estimate and
``CONVERGED``, or with the status (or input error) that says why not.

References come from outside jaxmle: statsmodels, exact rational arithmetic (``fractions``),
``mpmath`` at 50 digits, scipy, closed forms.
"""

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from helpers import NORMAL
from jax.scipy.stats import beta as jbeta
from jax.scipy.stats import norm
from scipy import stats

import jaxmle as jm

S = jm.Status


def _status(res):
    return S(int(res.status))


# --------------------------------------------------------------------------
# a Hessian block that is exactly zero at the start
# --------------------------------------------------------------------------
def test_beta_regression_from_zeros_matches_statsmodels():
    # at b = 0 the Hessian's b block is exactly zero while the gradient is ~570: the solver
    # must still move (it used to stay at the start, MAX_ITER)
    from statsmodels.othermod.betareg import BetaModel

    rng = np.random.default_rng(1)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    mu = 1 / (1 + np.exp(-(X @ np.array([0.5, -1.0, 0.3]))))
    y = rng.beta(mu * 20.0, (1 - mu) * 20.0)

    def loglik(p, d):
        X, y = d
        m = jax.nn.sigmoid(X @ p["b"])
        phi = jnp.exp(p["log_phi"])
        return jbeta.logpdf(y, m * phi, (1 - m) * phi)

    model = jm.Model(loglik, {"b": jm.Real(shape=(3,)), "log_phi": jm.Real()})
    res = jm.fit(model, (X, y))  # default start: b = 0, log_phi = 0
    assert _status(res) is S.CONVERGED
    m = BetaModel(y, X)
    start = m.fit(method="bfgs", gtol=1e-12, maxiter=2000, disp=0).params
    ref = m.fit(method="newton", maxiter=100, tol=1e-14, disp=0, start_params=start)
    est = np.append(np.asarray(res.params["b"]), float(res.params["log_phi"]))
    se = np.append(np.asarray(res.se["b"]), float(res.se["log_phi"]))
    # jax.scipy.stats.beta.logpdf differs from scipy's (statsmodels') by ~1.4e-7 per
    # observation (2.8e-5 in the total here), which moves the maximum by 3e-7 relative
    # (measured): the tolerances are set from that, not from either optimizer
    np.testing.assert_allclose(est, ref.params, rtol=3e-6)
    np.testing.assert_allclose(se, ref.bse, rtol=3e-6)
    np.testing.assert_allclose(float(res.loglik), ref.llf, rtol=1e-6)
    # and on its own likelihood the estimate is the maximum: statsmodels' likelihood, moved
    # to our estimate, changes by less than the gap between the two log-densities
    assert abs(m.loglike(est) - ref.llf) < 1e-9


# --------------------------------------------------------------------------
# Hessians that are not finite where f and g are
# --------------------------------------------------------------------------
def test_nonfinite_hessian_at_the_start_is_not_the_end():
    # interval-censored Weibull written with (lo / lam) ** rho and lo = 0: the second
    # derivatives in lam are 0 * inf = NaN for rho < 2 at every point, the value and gradient
    # finite. Those entries come from differences of the exact gradient: the fit reaches the
    # family's maximum, with its SEs, in a handful of Newton iterations.
    rng = np.random.default_rng(0)
    t = 10 * rng.weibull(1.5, size=40)
    lo = np.floor(t / 4) * 4
    hi = lo + 4
    assert (lo == 0).sum() > 0

    def loglik(p, d):
        lo, hi = d
        return jnp.log(
            jnp.exp(-((lo / p["lam"]) ** p["rho"])) - jnp.exp(-((hi / p["lam"]) ** p["rho"]))
        )

    # (as written: the rewrite step, on by default, gives pow derivatives that are finite at
    # 0, checked below; the case is the user's function as JAX differentiates it)
    model = jm.Model(loglik, {"lam": jm.Positive(), "rho": jm.Positive()}, rewrite=False)
    H = jax.hessian(lambda r: jnp.sum(loglik({"lam": 5.0, "rho": r}, (lo, hi))))(1.0)
    assert np.isfinite(H)
    H_lam = jax.hessian(lambda lam: jnp.sum(loglik({"lam": lam, "rho": 1.5}, (lo, hi))))(5.0)
    assert not np.isfinite(H_lam)  # (the case: the lam entries are not finite)
    family = jm.fit_dist("weibull", None, lower=lo, upper=hi)
    assert _status(family) is S.CONVERGED
    # (the damped Newton method, not the default, stops where it starts: its steps are
    # pulled towards the gradient's direction, into rho < 1, where the user's gradient is
    # 0 ** (rho - 1) * 0 = NaN; it says so)
    damped = jm.fit(model, (lo, hi), init={"lam": 5.0, "rho": 1.0}, method="newton")
    assert _status(damped) is S.STALLED
    for method in ("trust",):
        res = jm.fit(model, (lo, hi), init={"lam": 5.0, "rho": 1.0}, method=method)
        assert _status(res) is S.CONVERGED, method
        assert int(res.n_iter) <= 15
        np.testing.assert_allclose(float(res.params["rho"]), float(family.params["shape"]), 1e-8)
        np.testing.assert_allclose(float(res.params["lam"]), float(family.params["scale"]), 1e-8)
        np.testing.assert_allclose(float(res.loglik), float(family.loglik), rtol=1e-12)
        # (differences of the exact gradient: 1e-6 is far above their error)
        np.testing.assert_allclose(float(res.se["rho"]), float(family.se["shape"]), 1e-6)
        np.testing.assert_allclose(float(res.se["lam"]), float(family.se["scale"]), 1e-6)
    batch = jm.fit_batch(
        model, (np.stack([lo, lo]), np.stack([hi, hi + 1])), init={"lam": 5.0, "rho": 1.0}
    )
    rewritten = jm.Model(loglik, {"lam": jm.Positive(), "rho": jm.Positive()})
    for method in ("trust", "newton"):
        again = jm.fit(rewritten, (lo, hi), init={"lam": 5.0, "rho": 1.0}, method=method)
        assert _status(again) is S.CONVERGED, method
        np.testing.assert_allclose(float(again.params["rho"]), float(res.params["rho"]), 1e-8)
        np.testing.assert_allclose(float(again.se["rho"]), float(res.se["rho"]), 1e-6)
    assert [jm.Status(int(v)) for v in batch.status] == [S.CONVERGED] * 2
    np.testing.assert_allclose(float(batch.params["rho"][0]), float(res.params["rho"]), 1e-10)


# --------------------------------------------------------------------------
# no maximum: BOUNDARY, not CONVERGED garbage
# --------------------------------------------------------------------------
def test_identical_observations():
    x = np.full(20, 3.0)
    fam = jm.fit_dist("normal", x)
    assert _status(fam) is S.BOUNDARY
    assert float(fam.params["loc"]) == 3.0
    assert math.isnan(float(fam.se["scale"])) and math.isnan(float(fam.se["loc"]))
    for method in ("trust", "newton", "lbfgs"):
        user = jm.fit(NORMAL, jnp.asarray(x), method=method)
        # (it used to be CONVERGED with sigma = 1e-15): sigma runs to 0, held where the
        # solver saw it running there, a billionth of the data's size or less
        assert _status(user) is S.BOUNDARY, method
        assert float(user.params["mu"]) == 3.0 and float(user.params["sigma"]) < 1e-8
        assert math.isnan(float(user.se["sigma"]))


def _helical(x):
    theta = jnp.arctan(x[1] / x[0]) / (2 * jnp.pi) + jnp.where(x[0] < 0, 0.5, 0.0)
    return jnp.array([10 * (x[2] - 10 * theta), 10 * (jnp.hypot(x[0], x[1]) - 1), x[2]])


def _rosenbrock(x):
    return jnp.array([10 * (x[1] - x[0] ** 2), 1 - x[0]])


@pytest.mark.parametrize(
    "residuals, x0, x_star",
    [(_rosenbrock, [-1.2, 1.0], [1.0, 1.0]), (_helical, [-1.0, 0.0, 0.0], [1.0, 0.0, 0.0])],
)
@pytest.mark.parametrize("method", ["trust", "newton"])
def test_a_scale_running_to_zero_along_a_valley(residuals, x0, x_star, method):
    # A Gaussian with a free sigma on residuals the mean can make exactly 0: no maximum
    # (sigma -> 0 along sigma^2 = S(x) / m, where the log-likelihood is -m log(sigma)). The
    # solver crawled along that valley (Helical valley: MAX_ITER after 300 iterations, x
    # right only through the crawl); sigma is now held once it is seen running to 0 and x
    # converges on its own to the zero residual.
    def loglik(p, _):
        return norm.logpdf(residuals(p["x"]), 0.0, p["sigma"])

    n = len(x0)
    model = jm.Model(loglik, {"x": jm.Real(shape=(n,)), "sigma": jm.Positive()})
    model.min_nobs = 1
    m = residuals(jnp.asarray(x0)).shape[0]
    res = jm.fit(model, jnp.zeros(m), init={"x": jnp.asarray(x0), "sigma": 1.0}, method=method)
    assert _status(res) is S.BOUNDARY
    np.testing.assert_allclose(res.params["x"], x_star, atol=1e-10)
    assert float(jnp.sum(residuals(res.params["x"]) ** 2)) <= 1e-20
    assert int(res.n_iter) < 100
    assert math.isnan(float(res.se["sigma"]))
    assert np.all(np.isfinite(np.asarray(res.se["x"])))


def test_a_local_maximum_is_reported_as_what_it_is():
    # Freudenstein-Roth from its standard start (0.5, -2): every local
    # method (jaxmle's three, scipy's, MINPACK's, iminuit) ends at the documented local
    # minimum of the sum of squares, S = 48.9842. CONVERGED there is a true statement: the
    # gradient is 0 to rounding and the information positive definite, a local maximum of
    # the likelihood; no test at the point can tell it from the global one (S = 0 at (5, 4)).
    def residuals(x):
        return jnp.array([
            -13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1],
            -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1],
        ])  # fmt: skip

    def loglik(p, _):
        return norm.logpdf(residuals(p["x"]), 0.0, p["sigma"])

    model = jm.Model(loglik, {"x": jm.Real(shape=(2,)), "sigma": jm.Positive()})
    model.min_nobs = 1
    res = jm.fit(model, jnp.zeros(2), init={"x": jnp.array([0.5, -2.0]), "sigma": 10.0})
    assert _status(res) is S.CONVERGED
    x = res.params["x"]
    sumsq = lambda x: jnp.sum(residuals(x) ** 2)  # noqa: E731
    np.testing.assert_allclose(float(sumsq(x)), 48.98425367924, rtol=1e-10)
    assert float(jnp.max(jnp.abs(jax.grad(sumsq)(x)))) < 1e-9
    assert float(jnp.linalg.eigvalsh(jax.hessian(sumsq)(x)).min()) > 0
    assert np.all(np.isfinite(np.asarray(res.se["x"])))


@pytest.mark.parametrize("seed", range(6))
def test_negative_binomial_near_poisson(seed):
    # variance/mean < 1: the NB likelihood increases towards alpha = 0 (the Poisson), where
    # its maximum is; it never exceeds the Poisson maximum
    y = np.random.default_rng(seed).poisson(3.0, 200).astype(float)
    res = jm.fit_dist("negative_binomial", y)
    poisson_max = float(np.sum(stats.poisson.logpmf(y, y.mean())))
    if y.var() < y.mean():
        assert float(res.loglik) <= poisson_max + 1e-9  # (rounding of a sum of 200 terms)
        assert _status(res) is S.BOUNDARY
        assert float(res.params["alpha"]) < 1e-6 and math.isnan(float(res.se["alpha"]))
        # the mean keeps its SE: the Poisson's, sqrt(mean / n)
        np.testing.assert_allclose(float(res.params["mean"]), y.mean(), rtol=1e-6)
        np.testing.assert_allclose(float(res.se["mean"]), math.sqrt(y.mean() / 200), rtol=1e-4)
    else:  # over-dispersed draw: an interior maximum
        assert _status(res) is S.CONVERGED


def test_negative_binomial_regression_on_under_dispersed_counts_is_the_poisson():
    # binomial counts (variance below the mean): the NB2 regression's maximum is at alpha = 0,
    # the Poisson regression (statsmodels' GLM, the reference), whatever rounding level the
    # solver leaves alpha at (1e-38 and 1e-137 were once CONVERGED and SINGULAR)
    import statsmodels.api as sm

    for seed in range(8):
        rng = np.random.default_rng(seed)
        X = np.column_stack([np.ones(200), rng.normal(size=(200, 2))])
        mean = np.exp(X @ np.array([0.7, 0.4, -0.5]))
        y = rng.binomial(20, np.minimum(mean / 20, 0.99)).astype(float)
        res = jm.fit(jm.models.NegativeBinomialRegression(3), {"X": X, "y": y})
        ref = sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-12)
        assert _status(res) is S.BOUNDARY, seed
        assert float(res.params["alpha"]) < 1e-6 and math.isnan(float(res.se["alpha"]))
        np.testing.assert_allclose(res.params["beta"], ref.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(res.se["beta"], ref.bse, rtol=1e-4)
        assert float(res.loglik) <= ref.llf + 1e-9


def test_negative_binomial_loglik_tends_to_the_poisson():
    from jaxmle.distributions import NegativeBinomialDist

    d = NegativeBinomialDist()
    k = np.arange(60.0)
    for mu in (0.5, 3.0, 50.0):
        pois = stats.poisson.logpmf(k, mu)
        for alpha in (1e-9, 1e-12, 1e-15):
            got = np.asarray(d.logpmf(k, {"mean": mu, "alpha": alpha}))
            # NB - Poisson = alpha (k (k - 1) / 2 - k mu + mu^2 / 2) + O(alpha^2)
            first = alpha * (k * (k - 1) / 2 - k * mu + mu**2 / 2)
            # (atol: the rounding of log-masses of size up to ~200, a few ulps)
            np.testing.assert_allclose(got - pois, first, rtol=1e-4, atol=2e-13)


# --------------------------------------------------------------------------
# invariance to the data's location and scale
# --------------------------------------------------------------------------
@pytest.mark.parametrize("offset, spread", [(1e9, 1e-3), (1e12, 1e-2), (1e15, 1.0)])
def test_normal_with_a_huge_offset_is_exact(offset, spread):
    x = offset + spread * np.random.default_rng(2).normal(size=50)
    exact = [Fraction(v) for v in x]
    mean = sum(exact) / len(exact)
    sd = math.sqrt(sum((v - mean) ** 2 for v in exact) / len(exact))
    res = jm.fit_dist("normal", x)
    assert _status(res) is S.CONVERGED
    # exact to rounding (measured: 0 and 4.4e-16 relative)
    assert abs(float(res.params["loc"]) - float(mean)) <= 4 * np.spacing(abs(float(mean)))
    np.testing.assert_allclose(float(res.params["scale"]), sd, rtol=4e-15)
    np.testing.assert_allclose(float(res.se["loc"]), sd / math.sqrt(50), rtol=4e-15)


@pytest.mark.parametrize("power", [150, 300, -150, -300])
@pytest.mark.parametrize("family", ["normal", "gamma", "exponential", "weibull"])
def test_extreme_scales_fit_like_unit_scale(family, power):
    x = np.random.default_rng(3).gamma(2.0, size=30)
    unit = jm.fit_dist(family, x)
    res = jm.fit_dist(family, x * 10.0**power)
    assert _status(unit) is S.CONVERGED and _status(res) is S.CONVERGED
    units = {"loc": 10.0**power, "scale": 10.0**power, "rate": 10.0**-power}
    for key, value in unit.params.items():
        u = units.get(key, 1.0)
        # (the scaled data are rounded: measured 1.3e-15 relative)
        np.testing.assert_allclose(float(res.params[key]), float(value) * u, rtol=1e-13)
        np.testing.assert_allclose(float(res.se[key]), float(unit.se[key]) * u, rtol=1e-11)
    n_exact = 30
    np.testing.assert_allclose(
        float(res.loglik), float(unit.loglik) - n_exact * power * math.log(10), rtol=1e-13
    )


def test_gamma_with_a_tiny_spread_matches_mpmath():
    # 5 + 1e-4 z: the shape is 2e9 and the plain gamma log-density cancels to nothing
    x = 5 + 1e-4 * np.random.default_rng(4).normal(size=30)
    res = jm.fit_dist("gamma", x)
    assert _status(res) is S.CONVERGED
    mpmath.mp.dps = 50
    xs = [mpmath.mpf(float(v)) for v in x]
    rhs = mpmath.log(sum(xs) / len(xs)) - sum(mpmath.log(v) for v in xs) / len(xs)
    shape = mpmath.findroot(lambda k: mpmath.log(k) - mpmath.digamma(k) - rhs, 1 / (2 * rhs))
    # (the data's own rounding bounds the shape's accuracy: measured 1e-10 relative)
    np.testing.assert_allclose(float(res.params["shape"]), float(shape), rtol=1e-8)


# --------------------------------------------------------------------------
# statuses that do not mislead
# --------------------------------------------------------------------------
def test_max_iter_only_at_the_limit():
    x = jnp.array([1.0, 2.0, 4.0, 7.0])
    few = jm.fit(NORMAL, x, init={"mu": 100.0, "sigma": 0.5}, max_iter=3)
    assert _status(few) is S.MAX_ITER and int(few.n_iter) == 3
    fits = [
        jm.fit(NORMAL, jnp.full(20, 3.0)),
        jm.fit_dist("negative_binomial", np.random.default_rng(0).poisson(3.0, 200)),
    ]
    for method in ("trust", "newton", "lbfgs"):
        res = jm.fit(NORMAL, x, init={"mu": 100.0, "sigma": 0.5}, max_iter=3, method=method)
        assert _status(res) is S.MAX_ITER and int(res.n_iter) == 3
    for res in fits:
        # MAX_ITER only at the limit; a run stopped earlier has another name
        if _status(res) is S.MAX_ITER:
            assert int(res.n_iter) == 100
        if int(res.n_iter) < 100:
            assert _status(res) is not S.MAX_ITER
    # identical observations: the likelihood grows without bound as sigma -> 0 (a user
    # model: no claim of a maximum, NaN SEs)
    assert _status(fits[0]) is not S.CONVERGED and np.isnan(float(fits[0].se["sigma"]))


def test_quasi_separation_keeps_the_intercept_se():
    # the slope runs to infinity; the intercept's SE is that of the information of the
    # free coordinates (statsmodels, which does not flag the separation, gives the same)
    import statsmodels.api as sm

    X = np.column_stack([np.ones(8), [-3.0, -2, -1, 0, 0, 1, 2, 3]])
    y = np.array([0.0, 0, 0, 0, 1, 1, 1, 1])
    res = jm.fit(jm.models.LogisticRegression(2), {"X": X, "y": y})
    assert _status(res) is S.BOUNDARY
    se = np.asarray(res.se["beta"])
    assert math.isnan(se[1]) and bool(np.asarray(res.at_limit)[1])
    with np.errstate(all="ignore"):
        ref = sm.Logit(y, X).fit(disp=0, maxiter=200, warn_convergence=False)
    np.testing.assert_allclose(se[0], ref.bse[0], rtol=1e-6)  # sqrt(2): two points at x = 0
    np.testing.assert_allclose(se[0], math.sqrt(2.0), rtol=1e-6)


@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_separation_is_boundary_for_every_method(method):
    X = np.column_stack([np.ones(6), [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]])
    y = np.array([0.0, 0, 0, 1, 1, 1])
    res = jm.fit(jm.models.LogisticRegression(2), {"X": X, "y": y}, method=method)
    assert _status(res) is S.BOUNDARY


# --------------------------------------------------------------------------
# input errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "family, x, message",
    [
        (
            "weibull",
            [1.0, -2.0, 3.0, 4.0],
            r"data outside the support \(0, inf\) in observations \[1\]",
        ),
        (
            "gamma",
            [1.0, 0.0, 3.0, 4.0],
            r"data outside the support \(0, inf\) in observations \[1\]",
        ),
        ("bernoulli", [1.0, 0.0, 1.5], r"whole numbers from 0 to 1\) in observations \[2\]"),
        ("poisson", [1.0, -1.0, 2.0], r"whole numbers from 0\) in observations \[1\]"),
        ("beta", [0.5, 1.0], r"support \(0, 1\) in observations \[1\]"),
    ],
)
def test_data_outside_the_support_is_an_error(family, x, message):
    with pytest.raises(ValueError, match=message):
        jm.fit_dist(family, np.array(x))


def test_event_must_be_zero_or_one():
    for event in ([1, -1, 0, 1], [1, 0.5, 0, 1], [1, 2, 0, 1]):
        with pytest.raises(ValueError, match=r"event must be 0 \(censored\) or 1.*\[1\]"):
            jm.fit_dist("weibull", np.array([1.0, 2.0, 3.0, 4.0]), event=np.array(event))


def test_lower_above_upper_is_an_error_for_the_family_model():
    data = {"lower": np.array([1.0, 3.0, 2.0]), "upper": np.array([2.0, 2.5, 4.0])}
    with pytest.raises(ValueError, match=r"lower > upper.*observations \[1\]"):
        jm.fit(jm.families.Weibull(), data)


def test_fewer_observations_than_parameters():
    def weibull(p, x):
        k, lam = p["k"], p["lam"]
        return jnp.log(k / lam) + (k - 1) * jnp.log(x / lam) - (x / lam) ** k

    model = jm.Model(weibull, {"k": jm.Positive(), "lam": jm.Positive()})
    with pytest.raises(ValueError, match="fewer observations than free parameters"):
        jm.fit(model, jnp.array([2.0]))
    with pytest.raises(ValueError, match="fewer observations"):
        jm.fit(model, jnp.zeros(0), init={"k": 1.0, "lam": 1.0})
    with pytest.raises(ValueError, match="fewer observations"):
        jm.fit(jm.families.Normal(), np.zeros(0))
    # in a batch: those datasets INVALID_DATA, the others fitted as alone
    x = np.full((40, 3), np.nan)
    x[:, 0] = np.random.default_rng(5).weibull(2.0, 40) + 0.5
    x[0] = [1.0, 2.0, 3.0]
    res = jm.fit_batch(model, x, nan_policy="omit")
    status = [S(int(s)) for s in np.asarray(res.status)]
    assert status[0] is S.CONVERGED and set(status[1:]) == {S.INVALID_DATA}
    assert np.isnan(np.asarray(res.params["k"])[1:]).all()
    lone = jm.fit(model, x[0])
    np.testing.assert_allclose(float(res.params["k"][0]), float(lone.params["k"]), rtol=1e-12)


def test_invalid_dataset_in_a_batch_spoils_nothing_else():
    x = np.array([[1.0, 2.0, 3.0, 5.0], [1.0, -2.0, 3.0, 5.0], [2.0, 2.5, 4.0, 8.0]])
    res = jm.fit_dist("weibull", x)
    assert [S(int(s)) for s in np.asarray(res.status)] == [S.CONVERGED, S.INVALID_DATA, S.CONVERGED]
    for i in (0, 2):
        # the Weibull MLE: the shape solves sum x^k log x / sum x^k - 1/k = mean(log x)
        lx = np.log(x[i])

        def score(k, lx=lx):
            w = np.exp(k * (lx - lx.max()))
            return np.sum(w * lx) / np.sum(w) - 1 / k - lx.mean()

        from scipy.optimize import brentq

        c = brentq(score, 0.05, 50.0, xtol=1e-15, rtol=1e-15)
        scale = np.mean(x[i] ** c) ** (1 / c)
        np.testing.assert_allclose(float(res.params["shape"][i]), c, rtol=1e-12)
        np.testing.assert_allclose(float(res.params["scale"][i]), scale, rtol=1e-12)


@pytest.mark.parametrize(
    "bad", [{"max_iter": -1}, {"max_iter": 2.5}, {"tol": -1.0}, {"tol": np.nan}]
)
def test_solver_options_are_validated(bad):
    with pytest.raises((ValueError, TypeError), match="max_iter|tol"):
        jm.fit_dist("normal", np.array([1.0, 2.0, 4.0]), **bad)
