"""Fixed parameters (fixed=): closed forms, statsmodels on the reduced design, simplexes,
batches, errors, no recompilation, and their profiles."""

import math
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from helpers import NORMAL
from scipy import stats

import jaxmle as jm
import jaxmle.fit  # noqa: F401  (the module, for its compiled kernel)

LINEAR = jm.models.LinearRegression(3)
CATEGORICAL = jm.families.Categorical(k=3)
X = np.array([1.2, 0.4, 2.9, 1.7, 0.8, 2.2, 1.1, 3.0])


def test_fixed_sigma_known_variance_closed_form():
    res = jm.fit(NORMAL, jnp.asarray(X), fixed={"sigma": 2.0})
    n = len(X)
    assert float(res.params["mu"]) == pytest.approx(X.mean(), rel=1e-12)
    assert float(res.params["sigma"]) == 2.0
    assert float(res.se["mu"]) == pytest.approx(2.0 / math.sqrt(n), rel=1e-10)
    assert float(res.se["sigma"]) == 0.0  # iminuit's convention for a fixed parameter
    assert res.n_params == 1 and res.fixed == ("sigma",)
    assert float(res.aic) == pytest.approx(2 - 2 * float(res.loglik))
    np.testing.assert_allclose(np.asarray(res.cov), [[4.0 / n, 0.0], [0.0, 0.0]], rtol=1e-10)
    # the profile interval of mu with sigma known is exactly mean -/+ z sigma / sqrt(n)
    z = stats.norm.ppf(0.975)
    lo, hi = res.conf_int(method="profile")["mu"]
    np.testing.assert_allclose(
        [float(lo), float(hi)],
        [X.mean() - z * 2 / math.sqrt(n), X.mean() + z * 2 / math.sqrt(n)],
        rtol=1e-8,
    )
    slo, shi = res.conf_int(method="profile")["sigma"]
    assert float(slo) == float(shi) == 2.0


def test_fixed_component_of_a_vector_matches_statsmodels_on_the_reduced_design():
    rng = np.random.default_rng(3)
    Xd = np.column_stack([np.ones(40), rng.normal(size=(40, 2))])
    y = Xd @ np.array([1.0, 2.0, 0.5]) + rng.normal(size=40)
    res = jm.fit(LINEAR, {"X": Xd, "y": y}, fixed={"beta[2]": 0.5})
    ref = sm.OLS(y - 0.5 * Xd[:, 2], Xd[:, :2]).fit()  # the offset model
    np.testing.assert_allclose(np.asarray(res.params["beta"])[:2], ref.params, rtol=1e-10)
    assert float(res.params["beta"][2]) == 0.5 and float(res.se["beta"][2]) == 0.0
    # MLE standard errors: statsmodels' scaled by sqrt((n - k) / n)
    np.testing.assert_allclose(
        np.asarray(res.se["beta"])[:2], ref.bse * math.sqrt(38 / 40), rtol=1e-7
    )
    assert res.n_params == 3  # two coefficients and sigma


def test_fixed_simplex_component():
    x = np.array([0, 0, 1, 2, 2, 2, 1, 0, 2, 2.0])  # counts 3, 2, 5
    res = jm.fit(CATEGORICAL, {"x": x}, fixed={"p[0]": 0.2})
    # the other two share 0.8 in the ratio of their counts
    np.testing.assert_allclose(np.asarray(res.params["p"]), [0.2, 0.8 * 2 / 7, 0.8 * 5 / 7])
    q = 2 / 7
    se = 0.8 * math.sqrt(q * (1 - q) / 7)
    np.testing.assert_allclose(np.asarray(res.se["p"]), [0.0, se, se], rtol=1e-8)
    assert res.n_params == 1
    # its profile: 0.8 times the binomial profile of 2 in 7
    lo, hi = res.conf_int(method="profile")["p"]
    f = lambda t: 2 * (2 * np.log(q) + 5 * np.log(1 - q) - 2 * np.log(t) - 5 * np.log(1 - t))
    from scipy.optimize import brentq

    q95 = stats.chi2.ppf(0.95, 1)
    ref_lo = brentq(lambda t: f(t) - q95, 1e-9, q, xtol=1e-15)
    ref_hi = brentq(lambda t: f(t) - q95, q, 1 - 1e-9, xtol=1e-15)
    np.testing.assert_allclose(
        [float(lo[1]), float(hi[1])], [0.8 * ref_lo, 0.8 * ref_hi], rtol=1e-7
    )
    assert float(lo[0]) == float(hi[0]) == 0.2


def test_fixed_in_a_batch_and_no_recompilation():
    data = np.stack([X, X + 1.0, X * 2.0])
    batch = jm.fit_batch(NORMAL, data, fixed={"sigma": np.array([1.0, 2.0, 3.0])})
    for i in range(3):
        one = jm.fit(NORMAL, jnp.asarray(data[i]), fixed={"sigma": [1.0, 2.0, 3.0][i]})
        assert float(batch.params["mu"][i]) == pytest.approx(float(one.params["mu"]), rel=1e-12)
        assert float(batch.se["mu"][i]) == pytest.approx(float(one.se["mu"]), rel=1e-12)
        assert float(batch[i].params["sigma"]) == [1.0, 2.0, 3.0][i]
    assert batch.n_params == 1
    size = sys.modules["jaxmle.fit"]._kernel_jit._cache_size()
    again = jm.fit(NORMAL, jnp.asarray(X), fixed={"sigma": 5.0})  # a new value: no recompile
    assert sys.modules["jaxmle.fit"]._kernel_jit._cache_size() == size
    assert float(again.se["mu"]) == pytest.approx(5.0 / math.sqrt(len(X)), rel=1e-10)


def test_everything_fixed_is_one_evaluation():
    res = jm.fit(NORMAL, jnp.asarray(X), fixed={"mu": 1.0, "sigma": 2.0})
    assert float(res.loglik) == pytest.approx(np.sum(stats.norm.logpdf(X, 1.0, 2.0)), rel=1e-12)
    assert res.n_params == 0 and int(res.status) == jm.Status.CONVERGED


def test_fixed_errors():
    with pytest.raises(ValueError, match="unknown parameter 'tau'"):
        jm.fit(NORMAL, jnp.asarray(X), fixed={"tau": 1.0})
    with pytest.raises(ValueError, match="outside its constraint"):
        jm.fit(NORMAL, jnp.asarray(X), fixed={"sigma": -1.0})
    with pytest.raises(ValueError, match="sum to less than"):
        jm.fit(CATEGORICAL, {"x": np.array([0, 1, 2.0])}, fixed={"p[0]": 0.6, "p[1]": 0.5})
    with pytest.raises(ValueError, match="fixed twice"):
        jm.fit(LINEAR, {"X": np.ones((3, 3)), "y": np.ones(3)},
               fixed={"beta": [0.0, 0.0, 0.0], "beta[1]": 1.0})  # fmt: skip
    with pytest.raises(ValueError, match="shape"):
        jm.fit(NORMAL, jnp.asarray(X), fixed={"sigma": [1.0, 2.0]})


def test_lr_test_with_a_fixed_null():
    null = jm.fit(NORMAL, jnp.asarray(X), fixed={"mu": 0.0})
    alt = jm.fit(NORMAL, jnp.asarray(X))
    t = jm.lr_test(null, alt)
    n = len(X)
    # hand computation: n log(sigma0^2 / sigma^2), sigma0^2 = mean(x^2)
    stat = n * math.log(np.mean(X**2) / np.var(X))
    assert t.df == 1 and float(t.statistic) == pytest.approx(stat, rel=1e-10)
    assert float(t.pvalue) == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-8)


def test_fixed_with_se_false_says_the_information_was_not_computed():
    # a reduced fit mapped back keeps every field of the fit but the parameters and their
    # covariance: with se=False, no information matrix was formed
    res = jm.fit(NORMAL, jnp.asarray(X), fixed={"sigma": 2.0}, se=False)
    assert res.se_computed is False
    assert float(res.params["mu"]) == pytest.approx(X.mean(), rel=1e-12)
    table = res.summary()
    assert "information positive definite:    not computed" in table
    assert "not computed (fitted with se=False)" in table
    batch = jm.fit_batch(NORMAL, jnp.asarray(np.stack([X, X + 1.0])), fixed={"sigma": 2.0},
                         se=False)  # fmt: skip
    assert batch.se_computed is False and batch[1].se_computed is False
