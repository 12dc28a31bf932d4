"""Samplers of the families, and the bootstrap (nonparametric and parametric): BCa against its
formula, reproducibility, and the coverage of the percentile interval."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import UNIT_NORMAL
from scipy import stats

import jaxmle as jm
from jaxmle.distributions import DISTRIBUTIONS

# family, options, params, scipy frozen distribution (reference)
CONTINUOUS = [
    ("normal", {}, {"loc": 1.0, "scale": 2.0}, stats.norm(1.0, 2.0)),
    ("student_t", {}, {"loc": 1.0, "scale": 2.0, "df": 4.0}, stats.t(4.0, 1.0, 2.0)),
    ("laplace", {}, {"loc": 1.0, "scale": 2.0}, stats.laplace(1.0, 2.0)),
    ("logistic", {}, {"loc": 1.0, "scale": 2.0}, stats.logistic(1.0, 2.0)),
    ("gumbel", {}, {"loc": 1.0, "scale": 2.0}, stats.gumbel_r(1.0, 2.0)),
    ("exponential", {}, {"rate": 2.0}, stats.expon(scale=0.5)),
    ("lognormal", {}, {"mu": 0.5, "sigma": 0.7}, stats.lognorm(0.7, scale=np.exp(0.5))),
    ("gamma", {}, {"shape": 2.5, "scale": 1.5}, stats.gamma(2.5, scale=1.5)),
    ("weibull", {}, {"shape": 1.7, "scale": 3.0}, stats.weibull_min(1.7, scale=3.0)),
    ("loglogistic", {}, {"shape": 3.0, "scale": 2.0}, stats.fisk(3.0, scale=2.0)),
    ("pareto", {"scale": 1.5}, {"shape": 2.5}, stats.pareto(2.5, scale=1.5)),
    ("beta", {}, {"a": 2.0, "b": 3.0}, stats.beta(2.0, 3.0)),
]
DISCRETE = [
    ("bernoulli", {}, {"p": 0.3}, stats.bernoulli(0.3)),
    ("binomial", {"trials": 10}, {"p": 0.3}, stats.binom(10, 0.3)),
    (
        "categorical",
        {"k": 3},
        {"p": jnp.array([0.2, 0.3, 0.5])},
        stats.rv_discrete(values=([0, 1, 2], [0.2, 0.3, 0.5])),
    ),
    ("poisson", {}, {"rate": 3.5}, stats.poisson(3.5)),
    ("negative_binomial", {}, {"mean": 3.0, "alpha": 0.5}, stats.nbinom(2.0, 2.0 / 5.0)),
    ("geometric", {}, {"p": 0.3}, stats.geom(0.3, loc=-1)),
]
M = 4000


@pytest.mark.parametrize("name, opts, params, ref", CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
def test_continuous_samplers(name, opts, params, ref):
    dist = DISTRIBUTIONS[name].with_options(**opts)
    x = np.asarray(dist.sample(jax.random.key(1), params, (M,)))
    assert x.shape == (M,) and x.dtype == np.float64
    assert stats.kstest(x, ref.cdf).pvalue > 1e-3


@pytest.mark.parametrize("name, opts, params, ref", DISCRETE, ids=[c[0] for c in DISCRETE])
def test_discrete_samplers(name, opts, params, ref):
    dist = DISTRIBUTIONS[name].with_options(**opts)
    x = np.asarray(dist.sample(jax.random.key(2), params, (M,)))
    assert x.shape == (M,) and np.all(x == np.floor(x))
    # mean and variance within 5 standard errors (the variance's SE from the 4th moment)
    m, v = ref.mean(), ref.var()
    assert abs(x.mean() - m) < 5 * np.sqrt(v / M)
    kurt = ref.stats(moments="k") + 3.0
    assert abs(x.var() - v) < 5 * v * np.sqrt((kurt - 1) / M)


def test_multinomial_sampler():
    d = DISTRIBUTIONS["multinomial"].with_options(k=3)
    x = np.asarray(d.sample(jax.random.key(3), {"p": jnp.array([0.2, 0.3, 0.5])}, (M,), trials=5))
    assert x.shape == (M, 3) and np.all(x.sum(axis=1) == 5)
    # (Monte Carlo: 0.08 is over 4 standard errors of each mean, sqrt(5 p (1 - p) / M))
    np.testing.assert_allclose(x.mean(axis=0), [1.0, 1.5, 2.5], atol=0.08)


GAUSS = jm.families.Normal()
X1 = np.array([4.1, 5.3, 3.9, 6.2, 5.0, 4.4, 7.1, 5.5, 4.8, 6.0, 3.3, 5.9, 4.6, 5.2, 8.0])


def test_bca_of_a_mean_follows_its_formula_and_is_reproducible():
    key = jax.random.key(11)
    b = jm.bootstrap(GAUSS, {"x": X1}, key, n_boot=400, level=0.9)
    reps = b.replicates["loc"]
    assert reps.shape == (400,) and int(b.n_failed) == 0
    # each replicate is the mean of a resample: a weighted mean of the data
    assert np.all((reps > X1.min()) & (reps < X1.max()))
    # percentile: the quantiles of the replicates
    np.testing.assert_allclose(b.percentile["loc"], np.quantile(reps, [0.05, 0.95]), rtol=1e-12)
    # BCa by hand: z0 from the share below the estimate; for a mean the influence values are
    # x_i - mean, so a = sum d^3 / (6 (sum d^2)^1.5)
    est = float(b.estimate["loc"])  # the mean, to rounding
    assert est == pytest.approx(X1.mean(), rel=1e-13)
    z0 = stats.norm.ppf(np.mean(reps < est))
    d = X1 - est
    a = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    za = stats.norm.ppf([0.05, 0.95])
    adj = stats.norm.cdf(z0 + (z0 + za) / (1 - a * (z0 + za)))
    np.testing.assert_allclose(b.bca["loc"], np.quantile(reps, adj), rtol=1e-10)
    assert float(b.se["loc"]) == pytest.approx(np.std(reps, ddof=1))
    # reproducible with the same key; another key gives other replicates
    again = jm.bootstrap(GAUSS, {"x": X1}, key, n_boot=400, level=0.9)
    np.testing.assert_array_equal(again.replicates["loc"], reps)
    other = jm.bootstrap(GAUSS, {"x": X1}, jax.random.key(12), n_boot=400, level=0.9)
    assert not np.array_equal(other.replicates["loc"], reps)


def test_parametric_bootstrap_and_errors():
    res = jm.fit(GAUSS, {"x": X1})
    b = jm.bootstrap(res, key=jax.random.key(5), n_boot=400, kind="parametric")
    # replicates of the mean are N(mean, sigma^2 / n): their SD is sigma_hat / sqrt(n)
    sd = float(res.params["scale"]) / np.sqrt(len(X1))
    assert float(b.se["loc"]) == pytest.approx(sd, rel=0.15)
    lo, hi = b.percentile["loc"]
    assert lo < X1.mean() < hi
    no_sim = UNIT_NORMAL  # (no simulate function)
    with pytest.raises(ValueError, match="simulator"):
        jm.bootstrap(no_sim, jnp.asarray(X1), jax.random.key(0), kind="parametric", n_boot=10)
    with pytest.raises(ValueError, match="key"):
        jm.bootstrap(GAUSS, {"x": X1}, None)
    with pytest.raises(ValueError, match="uncensored"):
        cens = jm.fit(jm.families.Exponential(), {"x": X1, "event": np.ones(15)})
        jm.bootstrap(cens, key=jax.random.key(0), kind="parametric", n_boot=10)


@pytest.mark.slow
def test_percentile_interval_of_a_gaussian_mean_covers():
    # 400 datasets x 500 resamples, one batch fit of 200,000 replicates
    B, n, n_boot = 400, 30, 500
    x = np.random.default_rng(0).normal(5.0, 2.0, size=(B, n))
    b = jm.bootstrap(GAUSS, {"x": x}, jax.random.key(0), n_boot=n_boot, batch=True)
    assert b.replicates["loc"].shape == (B, n_boot)
    lo, hi = b.percentile["loc"]
    cover = np.mean((lo < 5.0) & (5.0 < hi))
    # nominal 0.95; the percentile interval of a mean runs ~1% short at n = 30 (its width is
    # the ddof=0 SD's); 3 binomial SE (1.1% each) around 0.94
    assert abs(cover - 0.94) < 3 * np.sqrt(0.95 * 0.05 / B)
    # the batch result equals the one-dataset bootstrap of its first dataset
    one = jm.bootstrap(GAUSS, {"x": x[0]}, jax.random.split(jax.random.key(0), B)[0], n_boot=n_boot)
    np.testing.assert_allclose(one.replicates["loc"], b.replicates["loc"][0], rtol=1e-10)
