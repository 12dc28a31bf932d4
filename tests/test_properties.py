"""Property-based tests (hypothesis) over random data, sample sizes and constraints.

* ``jax.jit(fit)`` equals ``fit``; ``fit_batch`` equals a loop of ``fit``;
* the MLE is invariant under reparameterization (``sigma`` as ``Positive`` or
  ``log_sigma`` as ``Real``: the same ``sigma_hat``, SEs related by the delta method);
* every bijector round-trips, and stays finite and inside its support, at extreme inputs.

Every fit uses ONE data shape (``N_MAX`` observations, the sample size set by a
mask), so a handful of kernels compile whatever hypothesis draws. Profiles: ``ci``
(the default, small) and ``thorough``; pick one with the environment variable
``HYPOTHESIS_PROFILE`` (see docs/validity.md).
"""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NORMAL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxmle as jm

settings.register_profile(
    "ci", max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

N_MAX = 8  # every dataset is padded to this many observations (a mask says how many count)
B = 3


def _normal_log_ll(p, x):
    return jax.scipy.stats.norm.logpdf(x, p["mu"], jnp.exp(p["log_sigma"]))


NORMAL_LOG = jm.Model(_normal_log_ll, {"mu": jm.Real(), "log_sigma": jm.Real()}, name="normal_log")


@jax.jit
def _fit_jit(x, mask):
    res = jm.fit(NORMAL, x, mask=mask)
    return res.params, res.se, res.status


def _dataset(seed, n, loc, scale):
    """N_MAX values (loc + scale * standard normal draws), of which the first n count."""
    x = loc + scale * np.random.default_rng(seed).normal(size=N_MAX)
    return x, np.arange(N_MAX) < n


datasets = st.tuples(
    st.integers(0, 2**32 - 1),
    st.integers(3, N_MAX),
    st.floats(-1e4, 1e4),
    st.floats(1e-3, 1e3),
)


def _closed_form(x, mask):
    v = x[mask]
    return v.mean(), v.std()


@PROFILE
@given(datasets)
def test_jit_equals_no_jit(ds):
    x, mask = _dataset(*ds)
    res = jm.fit(NORMAL, x, mask=mask)
    params, se, status = _fit_jit(jnp.asarray(x), jnp.asarray(mask))
    assert int(res.status) == int(status) == jm.Status.CONVERGED
    for k in ("mu", "sigma"):
        np.testing.assert_allclose(float(params[k]), float(res.params[k]), rtol=1e-10)
        np.testing.assert_allclose(float(se[k]), float(res.se[k]), rtol=1e-8)
    mu, sigma = _closed_form(x, mask)
    np.testing.assert_allclose(float(res.params["mu"]), mu, rtol=1e-9, atol=1e-9 * abs(sigma))
    np.testing.assert_allclose(float(res.params["sigma"]), sigma, rtol=1e-9)


@PROFILE
@given(st.lists(datasets, min_size=B, max_size=B))
def test_fit_batch_equals_a_loop_of_fit(dss):
    xs, masks = zip(*(_dataset(*ds) for ds in dss))
    X, M = np.stack(xs), np.stack(masks)
    batch = jm.fit_batch(NORMAL, X, mask=M)
    for i in range(B):
        one = jm.fit(NORMAL, X[i], mask=M[i])
        assert int(batch.status[i]) == int(one.status)
        for k in ("mu", "sigma"):
            np.testing.assert_allclose(float(batch.params[k][i]), float(one.params[k]), rtol=1e-10)
            np.testing.assert_allclose(float(batch.se[k][i]), float(one.se[k]), rtol=1e-8)
        np.testing.assert_allclose(float(batch.loglik[i]), float(one.loglik), rtol=1e-12)
        assert float(batch.nobs[i]) == M[i].sum()


@PROFILE
@given(datasets)
def test_mle_is_invariant_under_reparameterization(ds):
    x, mask = _dataset(*ds)
    a = jm.fit(NORMAL, x, mask=mask)
    b = jm.fit(NORMAL_LOG, x, mask=mask)
    assert int(a.status) == int(b.status) == jm.Status.CONVERGED
    sigma = float(a.params["sigma"])
    np.testing.assert_allclose(math.exp(float(b.params["log_sigma"])), sigma, rtol=1e-9)
    np.testing.assert_allclose(
        float(b.params["mu"]), float(a.params["mu"]), rtol=1e-9, atol=1e-9 * sigma
    )
    np.testing.assert_allclose(float(b.loglik), float(a.loglik), rtol=1e-12, atol=1e-9)
    # delta method: se(sigma) = sigma * se(log sigma); se(mu) unchanged
    np.testing.assert_allclose(float(a.se["sigma"]), sigma * float(b.se["log_sigma"]), rtol=1e-7)
    np.testing.assert_allclose(float(a.se["mu"]), float(b.se["mu"]), rtol=1e-7)


# --------------------------------------------------------------------------
# bijectors at extreme inputs
# --------------------------------------------------------------------------
CONSTRAINTS = {
    "Real": jm.Real(shape=(3,)),
    "Positive": jm.Positive(shape=(3,)),
    "UnitInterval": jm.UnitInterval(shape=(3,)),
    "Bounded(-2, 5)": jm.Bounded(-2.0, 5.0, shape=(3,)),
    "Bounded(1, inf)": jm.Bounded(1.0, math.inf, shape=(3,)),
    "Bounded(-inf, 3)": jm.Bounded(-math.inf, 3.0, shape=(3,)),
    "Simplex(4)": jm.Simplex(4),
}


def _support(name, c, v):
    if name == "Simplex(4)":
        return bool(np.all(v >= 0) and np.all(v <= 1) and abs(v.sum() - 1) < 1e-12)
    low = getattr(c, "low", -math.inf)
    high = getattr(c, "high", math.inf)
    return bool(np.all((v >= low) & (v <= high)))


@pytest.mark.parametrize("name", list(CONSTRAINTS))
@PROFILE
@given(u=st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3))
def test_bijector_stays_finite_and_in_support(name, u):
    # any finite unconstrained input: a finite value in the (closed) support, never NaN
    c = CONSTRAINTS[name]
    v = np.asarray(c.forward(jnp.asarray(u)))
    assert not np.any(np.isnan(v))
    assert _support(name, c, v), (u, v)
    if name in ("Real", "Bounded(-2, 5)", "UnitInterval", "Simplex(4)"):
        assert np.all(np.isfinite(v))


@pytest.mark.parametrize("name", list(CONSTRAINTS))
@PROFILE
@given(u=st.lists(st.floats(-30.0, 30.0), min_size=3, max_size=3))
def test_bijector_round_trip(name, u):
    # inverse(forward(u)) == u before saturation (|u| <= 30; a sigmoid saturates at 37).
    # Near a bound the value carries about eps / e^-|u| relative error, so the round trip
    # loses about eps * e^|u| absolutely: the documented saturation, not a bug.
    c = CONSTRAINTS[name]
    u = np.asarray(u)
    back = np.asarray(c.inverse(c.forward(jnp.asarray(u))))
    tol = 1e-12 + 4 * np.finfo(float).eps * np.exp(np.abs(u))
    if name == "Simplex(4)":
        tol = tol + 4 * np.finfo(float).eps * np.exp(np.max(np.abs(u)))
    assert np.all(np.abs(back - u) <= tol), (u, back)


@PROFILE
@given(st.floats(-300.0, 300.0))
def test_positive_round_trip_at_extreme_values(log10v):
    # values from 1e-300 to 1e300: forward(inverse(v)) == v to a few ulps
    c = jm.Positive()
    v = jnp.asarray(10.0**log10v)
    np.testing.assert_allclose(float(c.forward(c.inverse(v))[()]), float(v), rtol=1e-13)


@PROFILE
@given(st.floats(-300.0, -1.0))
def test_unit_interval_and_simplex_round_trip_near_the_edges(log10e):
    # probabilities a tiny e away from 0 (down to 1e-300): the log-ratio maps keep them
    e = 10.0**log10e
    c = jm.UnitInterval()
    np.testing.assert_allclose(float(c.forward(c.inverse(jnp.asarray(e)))[()]), e, rtol=1e-12)
    s = jm.Simplex(3)
    p = jnp.asarray([e, 0.5 * (1 - e), 0.5 * (1 - e)])
    np.testing.assert_allclose(np.asarray(s.forward(s.inverse(p))), np.asarray(p), rtol=1e-12)
