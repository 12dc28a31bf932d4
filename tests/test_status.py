"""Every fit status, on a model that produces it; the summary's health block; and
per-dataset statuses inside one batch."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NORMAL

import jaxmle as jm

S = jm.Status


def _check(res, expected):
    assert int(res.status) == expected, S(int(res.status)).name
    assert bool(res.converged) == (int(res.status) == S.CONVERGED)
    return res


def _bernoulli_ll(p, x):
    return x * jnp.log(p["theta"]) + (1 - x) * jnp.log1p(-p["theta"])


BERNOULLI = jm.Model(_bernoulli_ll, {"theta": jm.UnitInterval()}, name="bernoulli")


# --------------------------------------------------------------------------
# CONVERGED
# --------------------------------------------------------------------------
def test_converged_normal_fit_and_health_block():
    x = np.array([1.0, 2.5, 3.0, 4.5, 7.0, 2.0])
    res = _check(jm.fit(NORMAL, jnp.asarray(x)), S.CONVERGED)
    n = len(x)
    # closed form MLE: mean and the root of the mean squared deviation (divisor n)
    mu, sigma = x.mean(), x.std()
    assert math.isclose(float(res.params["mu"]), mu, rel_tol=1e-9)
    assert math.isclose(float(res.params["sigma"]), sigma, rel_tol=1e-9)
    # closed form observed information at the MLE: se(mu)=sigma/sqrt(n), se(sigma)=sigma/sqrt(2n)
    assert math.isclose(float(res.se["mu"]), sigma / math.sqrt(n), rel_tol=1e-8)
    assert math.isclose(float(res.se["sigma"]), sigma / math.sqrt(2 * n), rel_tol=1e-8)
    # maximized loglik: -n/2 (log(2 pi sigma^2) + 1)
    assert math.isclose(
        float(res.loglik), -n / 2 * (math.log(2 * math.pi * sigma**2) + 1), rel_tol=1e-12
    )
    assert bool(res.info_ok)
    assert not np.any(np.asarray(res.at_limit))
    assert float(res.nobs) == n

    text = res.summary()
    assert re.search(r"status: CONVERGED", text)
    assert re.search(r"valid maximum:\s+yes", text)
    assert re.search(r"information positive definite:\s+yes", text)
    assert re.search(r"parameters at a limit:\s+none", text)
    assert re.search(r"below the iteration limit:\s+yes", text)
    assert re.search(r"finite log-likelihood:\s+yes", text)


# --------------------------------------------------------------------------
# MAX_ITER
# --------------------------------------------------------------------------
def test_max_iter_far_start():
    x = jnp.array([1.0, 2.5, 3.0, 4.5, 7.0, 2.0])
    res = _check(jm.fit(NORMAL, x, init={"mu": 1e6, "sigma": 0.5}, max_iter=2), S.MAX_ITER)
    assert int(res.n_iter) == 2
    assert abs(float(res.params["mu"]) - 3.333) > 1.0  # nowhere near the mean yet
    assert re.search(r"below the iteration limit:\s+NO", res.summary())
    assert re.search(r"valid maximum:\s+NO", res.summary())


# --------------------------------------------------------------------------
# NONFINITE
# --------------------------------------------------------------------------
def test_nonfinite_loglik_returns_nan():
    model = jm.Model(lambda p, x: jnp.log(-jnp.abs(p["mu"]) - 1.0) + 0.0 * x, {"mu": jm.Real()})
    res = _check(jm.fit(model, jnp.array([1.0, 2.0, 3.0])), S.NONFINITE)
    assert math.isnan(float(res.loglik))
    assert math.isnan(float(res.se["mu"]))
    assert np.all(np.isnan(np.asarray(res.cov)))
    assert re.search(r"finite log-likelihood:\s+NO", res.summary())


def test_nonfinite_data_with_propagate():
    x = jnp.array([1.0, 2.5, jnp.nan, 4.5])
    res = _check(jm.fit(NORMAL, x, nan_policy="propagate"), S.NONFINITE)
    assert math.isnan(float(res.loglik))
    assert math.isnan(float(res.se["mu"])) and math.isnan(float(res.se["sigma"]))


# --------------------------------------------------------------------------
# BOUNDARY
# --------------------------------------------------------------------------
def test_boundary_three_heads():
    res = _check(jm.fit(BERNOULLI, jnp.array([1.0, 1.0, 1.0])), S.BOUNDARY)
    # the MLE is 3/3 = 1, on the edge of (0, 1)
    assert abs(float(res.params["theta"]) - 1.0) < 1e-8
    assert math.isnan(float(res.se["theta"]))
    assert np.asarray(res.at_limit).tolist() == [True]
    assert abs(float(res.loglik)) < 1e-8  # log(1) * 3
    text = res.summary()
    assert re.search(r"status: BOUNDARY", text)
    assert re.search(r"parameters at a limit:\s+theta\b", text)
    assert re.search(r"valid maximum:\s+NO", text)


def test_boundary_logistic_complete_separation():
    x = np.arange(8.0)
    X = jnp.asarray(np.stack([np.ones(8), x], axis=1))
    y = jnp.asarray((x >= 4).astype(float))  # y = 1 exactly when x > 3.5
    res = _check(jm.fit(jm.models.LogisticRegression(2), {"X": X, "y": y}), S.BOUNDARY)
    assert np.all(np.isnan(np.asarray(res.se["beta"])))
    assert np.any(np.asarray(res.at_limit))
    beta = np.asarray(res.params["beta"])
    # the coefficients run off along the separating direction: the slope is large and
    # the fitted boundary -beta0/beta1 sits between 3 and 4
    assert beta[1] > 5
    assert 3.0 < -beta[0] / beta[1] < 4.0
    assert abs(float(res.loglik)) < 1e-6  # the supremum is 0


def test_boundary_multinomial_zero_category():
    model = jm.Model(lambda p, x: jnp.log(p["p"])[x], {"p": jm.Simplex(3)}, name="multinomial")
    counts = jnp.array([50.0, 30.0, 0.0])
    res = _check(jm.fit(model, jnp.array([0, 1, 2]), weights=counts), S.BOUNDARY)
    # MLE: counts / total = (0.625, 0.375, 0), the last on the simplex's edge
    np.testing.assert_allclose(
        np.asarray(res.params["p"]), [0.625, 0.375, 0.0], rtol=1e-8, atol=1e-8
    )
    assert np.all(np.isnan(np.asarray(res.se["p"])))
    assert float(res.nobs) == 80.0
    assert "p" in re.search(r"parameters at a limit:\s+(.*)", res.summary()).group(1)


def test_poisson_all_zero_counts_is_not_a_confident_convergence():
    model = jm.Model(
        lambda p, x: x * jnp.log(p["rate"]) - p["rate"] - jax.scipy.special.gammaln(x + 1),
        {"rate": jm.Positive()},
    )
    res = jm.fit(model, jnp.zeros(6))
    # the MLE is rate = 0 (mean of the counts), outside the open support
    assert float(res.params["rate"]) < 1e-8
    confident = int(res.status) == S.CONVERGED and math.isfinite(float(res.se["rate"]))
    assert not confident
    _check(res, S.BOUNDARY)
    assert math.isnan(float(res.se["rate"]))


# --------------------------------------------------------------------------
# SINGULAR
# --------------------------------------------------------------------------
def test_singular_parameters_only_through_their_sum():
    model = jm.Model(
        lambda p, x: jax.scipy.stats.norm.logpdf(x, p["a"] + p["b"], 1.0),
        {"a": jm.Real(), "b": jm.Real()},
    )
    x = np.array([1.0, 2.0, 3.5, 0.5])
    res = _check(jm.fit(model, jnp.asarray(x)), S.SINGULAR)
    # a + b is identified: it is the sample mean
    assert math.isclose(float(res.params["a"] + res.params["b"]), x.mean(), rel_tol=1e-9)
    assert math.isnan(float(res.se["a"])) and math.isnan(float(res.se["b"]))
    assert res.cov.shape == (2, 2)
    assert np.all(np.isnan(np.asarray(res.cov)))
    assert not bool(res.info_ok)
    assert re.search(r"information positive definite:\s+NO", res.summary())


# --------------------------------------------------------------------------
# a batch with one good, one boundary and one NaN dataset
# --------------------------------------------------------------------------
def test_batch_statuses_are_per_dataset_and_good_one_matches_single_fit():
    good = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    boundary = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    with_nan = [1.0, 0.0, math.nan, 1.0, 0.0, 1.0]
    data = jnp.array([good, boundary, with_nan])
    batch = jm.fit_batch(BERNOULLI, data, nan_policy="propagate")
    assert np.asarray(batch.status).tolist() == [S.CONVERGED, S.BOUNDARY, S.NONFINITE]
    assert np.asarray(batch.converged).tolist() == [True, False, False]
    assert len(batch) == 3

    single = jm.fit(BERNOULLI, jnp.array(good))
    _check(single, S.CONVERGED)
    # closed form: theta = 4/6, se = sqrt(theta (1-theta) / n)
    assert math.isclose(float(single.params["theta"]), 4 / 6, rel_tol=1e-9)
    assert math.isclose(float(single.se["theta"]), math.sqrt(4 / 6 * 2 / 6 / 6), rel_tol=1e-8)
    b0 = batch[0]
    for a, b in zip(jax.tree_util.tree_leaves(b0), jax.tree_util.tree_leaves(single)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    b1 = batch[1]
    assert abs(float(b1.params["theta"]) - 1.0) < 1e-8
    assert math.isnan(float(b1.se["theta"]))
    assert bool(np.asarray(b1.at_limit)[0])
    assert math.isnan(float(batch[2].loglik))

    text = batch.summary()
    assert "1 converged, 1 nonfinite, 1 boundary" in text


@pytest.mark.parametrize("status", list(S))
def test_status_enum_values(status):
    # the integer codes are part of the API (stored in results, batched)
    assert (
        status.value
        == {
            "CONVERGED": 0,
            "MAX_ITER": 1,
            "NONFINITE": 2,
            "BOUNDARY": 3,
            "SINGULAR": 4,
            "STALLED": 5,
            "INVALID_DATA": 6,
        }[status.name]
    )
