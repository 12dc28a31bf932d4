"""fit_batch equals a loop of fit; masks, init, pytree data; FitResult under jit/vmap;
no recompilation; robust/OPG covariances; transformed intervals stay in the support.

Runs in float64 (repo-root conftest.py). Each distinct (model, shape) compiles once,
so the module reuses a few models and shapes.
"""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import CENSORED_EXPO, COIN, EXPO, NORMAL, normal_loglik

import jaxmle as jm
from jaxmle.inference import z_value

# ``jaxmle.fit`` is the function (re-exported by the package); the module holds the kernels.
fit_module = sys.modules["jaxmle.fit"]

B, N = 64, 20
RTOL = 1e-10


def _normal_closed_form(x):
    """Closed-form Gaussian MLE of one dataset: mu = mean, sigma^2 = mean squared deviation,
    se(mu) = sigma/sqrt(n), se(sigma) = sigma/sqrt(2n) (inverse observed information),
    loglik = -n/2 (log(2 pi sigma^2) + 1)."""
    x = np.asarray(x, float)
    n = x.size
    mu = x.mean()
    s = math.sqrt(np.mean((x - mu) ** 2))
    return {
        "mu": mu,
        "sigma": s,
        "se_mu": s / math.sqrt(n),
        "se_sigma": s / math.sqrt(2 * n),
        "loglik": -0.5 * n * (math.log(2 * math.pi * s * s) + 1.0),
    }


@pytest.fixture(scope="module")
def normal_data():
    rng = np.random.default_rng(20240611)
    mus = rng.uniform(-5, 5, size=(B, 1))
    sigmas = rng.uniform(0.5, 3.0, size=(B, 1))
    return jnp.asarray(mus + sigmas * rng.standard_normal((B, N)))


@pytest.fixture(scope="module")
def normal_batch(normal_data):
    return jm.fit_batch(NORMAL, normal_data)


@pytest.fixture(scope="module")
def normal_loop(normal_data):
    return [jm.fit(NORMAL, normal_data[i]) for i in range(B)]


def _assert_same_fit(a, b, rtol=RTOL):
    for k in ("mu", "sigma"):
        np.testing.assert_allclose(np.asarray(a.params[k]), np.asarray(b.params[k]), rtol=rtol)
        np.testing.assert_allclose(np.asarray(a.se[k]), np.asarray(b.se[k]), rtol=rtol)
    np.testing.assert_allclose(np.asarray(a.loglik), np.asarray(b.loglik), rtol=rtol)
    np.testing.assert_array_equal(np.asarray(a.status), np.asarray(b.status))


# (a) ------------------------------------------------------------------------
def test_fit_batch_equals_loop_of_fit(normal_batch, normal_loop, normal_data):
    loop_mu = np.array([float(r.params["mu"]) for r in normal_loop])
    loop_sigma = np.array([float(r.params["sigma"]) for r in normal_loop])
    loop_se_mu = np.array([float(r.se["mu"]) for r in normal_loop])
    loop_se_sigma = np.array([float(r.se["sigma"]) for r in normal_loop])
    loop_ll = np.array([float(r.loglik) for r in normal_loop])
    loop_status = np.array([int(r.status) for r in normal_loop])

    np.testing.assert_allclose(np.asarray(normal_batch.params["mu"]), loop_mu, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(normal_batch.params["sigma"]), loop_sigma, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(normal_batch.se["mu"]), loop_se_mu, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(normal_batch.se["sigma"]), loop_se_sigma, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(normal_batch.loglik), loop_ll, rtol=RTOL)
    np.testing.assert_array_equal(np.asarray(normal_batch.status), loop_status)
    assert np.all(loop_status == jm.Status.CONVERGED)

    # and both equal the closed form (reference: _normal_closed_form)
    for i in (0, 17, B - 1):
        cf = _normal_closed_form(normal_data[i])
        assert math.isclose(loop_mu[i], cf["mu"], rel_tol=1e-10, abs_tol=1e-12)
        assert math.isclose(loop_sigma[i], cf["sigma"], rel_tol=1e-10)
        assert math.isclose(loop_se_mu[i], cf["se_mu"], rel_tol=1e-8)
        assert math.isclose(loop_se_sigma[i], cf["se_sigma"], rel_tol=1e-8)
        assert math.isclose(loop_ll[i], cf["loglik"], rel_tol=1e-10)


# (b) ------------------------------------------------------------------------
def test_init_scalar_broadcast_and_per_dataset(normal_data, normal_batch):
    # scalars broadcast to every dataset
    res_scalar = jm.fit_batch(NORMAL, normal_data, init={"mu": 0.0, "sigma": 1.0})
    # per-dataset arrays (B,): start each dataset somewhere different
    data = np.asarray(normal_data)
    init_mu = data[:, 0]  # the first reading of each dataset
    init_sigma = np.linspace(0.3, 5.0, B)
    res_arr = jm.fit_batch(NORMAL, normal_data, init={"mu": init_mu, "sigma": init_sigma})
    for res in (res_scalar, res_arr):
        assert np.all(np.asarray(res.status) == jm.Status.CONVERGED)
        # different starting points, same optimum (to the solver's tolerance, 1e-15 in loglik)
        np.testing.assert_allclose(
            np.asarray(res.params["mu"]),
            np.asarray(normal_batch.params["mu"]),
            rtol=1e-9,
            atol=1e-12,
        )
        np.testing.assert_allclose(
            np.asarray(res.params["sigma"]), np.asarray(normal_batch.params["sigma"]), rtol=1e-9
        )
        np.testing.assert_allclose(
            np.asarray(res.se["sigma"]), np.asarray(normal_batch.se["sigma"]), rtol=1e-8
        )
        np.testing.assert_allclose(
            np.asarray(res.loglik), np.asarray(normal_batch.loglik), rtol=1e-12
        )

    # the per-dataset init is really per dataset: with max_iter=0 the result is the start
    res0 = jm.fit_batch(NORMAL, normal_data, init={"mu": init_mu, "sigma": init_sigma}, max_iter=0)
    np.testing.assert_allclose(np.asarray(res0.params["mu"]), init_mu, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(res0.params["sigma"]), init_sigma, rtol=1e-14)
    assert np.all(np.asarray(res0.status) == jm.Status.MAX_ITER)


@pytest.mark.parametrize("bad", [np.zeros(B + 1), np.zeros(B - 1), np.zeros((2, B))])
def test_init_wrong_batch_length_raises(normal_data, bad):
    with pytest.raises(ValueError, match="mu"):
        jm.fit_batch(NORMAL, normal_data, init={"mu": bad})


# (c) ------------------------------------------------------------------------
def test_ragged_datasets_through_mask():
    rng = np.random.default_rng(7)
    nmax, b = 30, 12
    lengths = np.array([3, 5, 7, 9, 12, 15, 18, 21, 24, 27, 29, 30])
    X = 4.0 + 1.5 * rng.standard_normal((b, nmax))
    mask = np.arange(nmax)[None, :] < lengths[:, None]
    X_pad = np.where(mask, X, 1e4)  # garbage in the padding: it must not matter
    res = jm.fit_batch(NORMAL, jnp.asarray(X_pad), mask=jnp.asarray(mask))
    assert np.all(np.asarray(res.status) == jm.Status.CONVERGED)
    np.testing.assert_array_equal(np.asarray(res.nobs), lengths)
    got = {
        "mu": np.asarray(res.params["mu"]),
        "sigma": np.asarray(res.params["sigma"]),
        "se_mu": np.asarray(res.se["mu"]),
        "se_sigma": np.asarray(res.se["sigma"]),
        "loglik": np.asarray(res.loglik),
    }
    for i, n_i in enumerate(lengths):
        cf = _normal_closed_form(X[i, :n_i])  # reference: closed form of the trimmed data
        for k, rtol in (
            ("mu", 1e-10),
            ("sigma", 1e-10),
            ("se_mu", 1e-8),
            ("se_sigma", 1e-8),
            ("loglik", 1e-10),
        ):
            assert math.isclose(got[k][i], cf[k], rel_tol=rtol), (i, k, got[k][i], cf[k])
    # and equals jm.fit of the trimmed data itself (one length: each length compiles once;
    # test_fit_batch_equals_loop_of_fit shows jm.fit equals the closed form)
    single = jm.fit(NORMAL, jnp.asarray(X[4, : lengths[4]]))
    _assert_same_fit(res[4], single, rtol=1e-9)
    assert float(single.nobs) == lengths[4]


# (d) ------------------------------------------------------------------------
def test_batch_indexing_len_and_summary(normal_batch, normal_loop):
    assert len(normal_batch) == B
    assert normal_batch.batch_shape == (B,)
    for i in (0, 1, 31, B - 1):
        one = normal_batch[i]
        assert isinstance(one, jm.FitResult)
        assert one.batch_shape == ()
        assert one.model is NORMAL
        _assert_same_fit(one, normal_loop[i])
        np.testing.assert_allclose(
            np.asarray(one.cov), np.asarray(normal_loop[i].cov), rtol=RTOL, atol=1e-15
        )
        assert float(one.nobs) == N
    assert normal_batch[-1].params["mu"] == normal_batch.params["mu"][B - 1]
    text = normal_batch.summary()
    assert "64 converged" in text
    assert "64 datasets" in text
    with pytest.raises(TypeError):
        len(normal_loop[0])


# (e) ------------------------------------------------------------------------
def test_result_is_a_pytree(normal_loop):
    res = normal_loop[3]
    doubled = jax.tree_util.tree_map(lambda x: 2 * x, res)
    assert isinstance(doubled, jm.FitResult)
    assert doubled.model is NORMAL and doubled.cov_type == "observed"
    assert float(doubled.params["mu"]) == 2 * float(res.params["mu"])
    assert float(doubled.loglik) == 2 * float(res.loglik)
    leaves, treedef = jax.tree_util.tree_flatten(res)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    _assert_same_fit(rebuilt, res, rtol=0)
    # the model and cov_type are static: no leaf is a Model or a str
    assert all(isinstance(x, jax.Array) for x in leaves)


def test_fit_inside_user_jit_and_vmap(normal_data, normal_batch, normal_loop):
    x = normal_data[5]
    mu_jit = jax.jit(lambda x: jm.fit(NORMAL, x).params["mu"])(x)
    assert math.isclose(float(mu_jit), float(normal_loop[5].params["mu"]), rel_tol=RTOL)
    assert math.isclose(float(mu_jit), float(np.mean(np.asarray(x))), rel_tol=1e-10)

    mu_vmap = jax.vmap(lambda x: jm.fit(NORMAL, x).params["mu"])(normal_data)
    np.testing.assert_allclose(
        np.asarray(mu_vmap), np.asarray(normal_batch.params["mu"]), rtol=RTOL
    )


# (f) ------------------------------------------------------------------------
class _CompileCounter:
    """Counts XLA backend compilations through jax.monitoring (jax 0.10.2 records the
    duration event '/jax/core/compile/backend_compile_duration' once per compilation)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0

    def _listener(self, name, duration, **kwargs):
        if name == self.EVENT:
            self.count += 1

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self._listener)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self._listener)


def test_no_recompilation_on_second_call_same_shapes():
    model = jm.Model(normal_loglik, {"mu": jm.Real(), "sigma": jm.Positive()}, name="fresh")
    rng = np.random.default_rng(3)
    # all inputs made up front (creating device arrays can itself compile small ops)
    x1, x2 = (jnp.asarray(rng.normal(size=17)) for _ in range(2))
    X1_host = rng.normal(size=(8, 17))
    # the second batch holds the same datasets in another order: same shapes and the same
    # per-dataset solver path (fit_batch may re-run slow datasets in a smaller compiled
    # batch whose size depends on how many there are)
    X1, X2 = jnp.asarray(X1_host), jnp.asarray(X1_host[::-1])

    # the jitted kernels' own caches: every one of them exists (a renamed kernel fails here,
    # rather than leaving nothing to compare)
    kernels = [getattr(fit_module, k) for k in ("_kernel_jit", "_kernel_batch", "_kernel_chunk")]
    assert all(callable(getattr(k, "_cache_size", None)) for k in kernels)

    def cache_sizes():
        return [k._cache_size() for k in kernels]

    # (the test suite's persistent compilation cache would load these kernels instead)
    cache_on = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        with _CompileCounter() as first:
            jm.fit(model, x1).loglik.block_until_ready()
            jm.fit_batch(model, X1).loglik.block_until_ready()
    finally:
        jax.config.update("jax_enable_compilation_cache", cache_on)
    assert first.count >= 2  # the counter sees compilations: a new model compiles both kernels
    sizes = cache_sizes()
    assert len(sizes) == 3 and sum(sizes) > 0  # the kernels that fitted are in their caches

    with _CompileCounter() as second:
        r1 = jm.fit(model, x2)
        r2 = jm.fit_batch(model, X2)
        r1.loglik.block_until_ready()
        r2.loglik.block_until_ready()
    assert second.count == 0
    assert cache_sizes() == sizes
    assert math.isclose(float(r1.params["mu"]), float(np.mean(np.asarray(x2))), rel_tol=1e-10)
    np.testing.assert_allclose(np.asarray(r2.params["mu"]), X1_host[::-1].mean(axis=1), rtol=1e-10)


# (g) ------------------------------------------------------------------------
@pytest.mark.parametrize("cov_type", ["robust", "opg"])
def test_robust_and_opg_with_frequency_weights_equal_replicated_rows(cov_type):
    # a property of two jaxmle paths: integer frequency weights are replicated observations,
    # for the scores' outer products as for the estimate (the replicated fits are checked
    # against statsmodels' HC0 and an independent OPG elsewhere)
    x = np.random.default_rng(12).gamma(3.0, 2.0, size=40)
    w = np.random.default_rng(13).integers(1, 4, size=40).astype(float)
    weighted = jm.fit(NORMAL, jnp.asarray(x), weights=jnp.asarray(w), cov_type=cov_type)
    replicated = jm.fit(NORMAL, jnp.asarray(np.repeat(x, w.astype(int))), cov_type=cov_type)
    for k in ("mu", "sigma"):
        np.testing.assert_allclose(float(weighted.params[k]), float(replicated.params[k]), 1e-12)
        np.testing.assert_allclose(float(weighted.se[k]), float(replicated.se[k]), rtol=1e-10)


def test_robust_close_to_observed_for_correct_model_large_n():
    rng = np.random.default_rng(11)
    x = jnp.asarray(2.0 + 3.0 * rng.standard_normal(50_000))
    cf = _normal_closed_form(x)  # the observed-information fit (checked against jm.fit in (a))
    rob = jm.fit(NORMAL, x, cov_type="robust")
    opg = jm.fit(NORMAL, x, cov_type="opg")
    assert rob.cov_type == "robust" and opg.cov_type == "opg"
    for r in (rob, opg):
        assert int(r.status) == jm.Status.CONVERGED
        assert math.isclose(float(r.params["mu"]), cf["mu"], rel_tol=1e-10)
        assert math.isclose(float(r.params["sigma"]), cf["sigma"], rel_tol=1e-10)
        # Correctly specified: robust/OPG and observed estimate the same variance. The
        # sampling error of the sigma entry is ~sqrt(56/n)/2/2 = 0.8% of the SE (from the
        # 8th normal moment), of the mu entry ~ sqrt(2/n)/2 = 0.3%; 4% is > 4 sd.
        for k in ("mu", "sigma"):
            assert np.isfinite(float(r.se[k]))
            np.testing.assert_allclose(float(r.se[k]), cf["se_" + k], rtol=0.04)


def test_robust_equals_statsmodels_hc0_for_linear_regression():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(5)
    n, p = 300, 3
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    # heteroskedastic errors, so HC0 differs clearly from the classical SEs
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=n) * (0.5 + np.abs(X[:, 1]))
    data = {"X": jnp.asarray(X), "y": jnp.asarray(y)}
    model = jm.models.LinearRegression(p)
    rob = jm.fit(model, data, cov_type="robust")
    assert int(rob.status) == jm.Status.CONVERGED
    ref = sm.OLS(y, X).fit(cov_type="HC0")  # reference: statsmodels OLS with HC0 bse
    np.testing.assert_allclose(np.asarray(rob.params["beta"]), ref.params, rtol=1e-9)
    # No factor between the two: at the MLE the (beta, log sigma) cross terms of the
    # Hessian are -2 X'e / sigma^3 = 0 (normal equations), so the bread is block
    # diagonal and the beta block of the sandwich is
    #   sigma^2 (X'X)^-1 [sum x_i x_i' e_i^2 / sigma^4] sigma^2 (X'X)^-1,
    # exactly statsmodels' HC0 (X'X)^-1 X' diag(e^2) X (X'X)^-1, whatever sigma is.
    np.testing.assert_allclose(np.asarray(rob.se["beta"]), ref.bse, rtol=1e-6)
    # not vacuous: with these heteroskedastic errors HC0 is far from the classical SEs
    # (statsmodels' nonrobust bse, rescaled to the MLE sigma^2 = RSS/n)
    classical = sm.OLS(y, X).fit().bse * math.sqrt((n - p) / n)
    assert not np.allclose(np.asarray(rob.se["beta"]), classical, rtol=0.05)


# (h) ------------------------------------------------------------------------


def test_pytree_dataset_fit_and_fit_batch():
    d = {"t": jnp.array([2.0, 4.0, 5.0]), "event": jnp.array([1.0, 1.0, 0.0])}
    res = jm.fit(CENSORED_EXPO, d)
    # closed form: rate = events / total time = 2/11, se = rate / sqrt(events)
    assert math.isclose(float(res.params["rate"]), 2 / 11, rel_tol=1e-12)
    assert math.isclose(float(res.se["rate"]), 2 / 11 / math.sqrt(2), rel_tol=1e-10)
    assert float(res.nobs) == 3

    T = np.array([[2.0, 4.0, 5.0], [1.0, 1.0, 1.0], [3.0, 0.5, 7.0], [10.0, 2.0, 2.0]])
    E = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    batch = jm.fit_batch(CENSORED_EXPO, {"t": jnp.asarray(T), "event": jnp.asarray(E)})
    assert len(batch) == 4
    assert np.all(np.asarray(batch.status) == jm.Status.CONVERGED)
    rate = E.sum(1) / T.sum(1)
    np.testing.assert_allclose(np.asarray(batch.params["rate"]), rate, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(batch.se["rate"]), rate / np.sqrt(E.sum(1)), rtol=1e-10)
    _assert_rate_equal(batch[0], res)


def _assert_rate_equal(a, b):
    assert math.isclose(float(a.params["rate"]), float(b.params["rate"]), rel_tol=RTOL)
    assert math.isclose(float(a.se["rate"]), float(b.se["rate"]), rel_tol=RTOL)
    assert math.isclose(float(a.loglik), float(b.loglik), rel_tol=RTOL)


# (i) ------------------------------------------------------------------------
def _check_intervals(res, key, low, high, level=0.95):
    """Among converged fits: wald_transformed inside (low, high) and containing the estimate;
    wald symmetric, estimate -/+ z se. Returns how many wald intervals leave the support."""
    ok = np.asarray(res.status) == jm.Status.CONVERGED
    assert ok.sum() >= 10
    z = z_value(level)
    est = np.asarray(res.params[key])[ok]
    se = np.asarray(res.se[key])[ok]
    lo_t, hi_t = (np.asarray(v)[ok] for v in res.conf_int(level, method="wald_transformed")[key])
    lo_w, hi_w = (np.asarray(v)[ok] for v in res.conf_int(level, method="wald")[key])
    assert np.all(np.isfinite(lo_t)) and np.all(np.isfinite(hi_t))
    assert np.all(lo_t > low) and np.all(hi_t < high)
    assert np.all(lo_t < est) and np.all(est < hi_t)
    np.testing.assert_allclose(hi_w - est, est - lo_w, rtol=1e-12)
    np.testing.assert_allclose(hi_w - est, z * se, rtol=1e-12)
    return int(np.sum((lo_w <= low) | (hi_w >= high)))


def _unit_case(rng):
    # UnitInterval: Bernoulli, n=8, theta near the edges
    theta = rng.uniform(0.05, 0.95, size=(200, 1))
    flips = (rng.uniform(size=(200, 8)) < theta).astype(float)
    return COIN, jnp.asarray(flips), "theta", 1.0


def _positive_case(rng):
    # Positive: exponential rate from 3 waits (se ~ rate/sqrt(3), so Wald goes below 0)
    waits = rng.exponential(size=(200, 3))
    waits[0] = [1.0, 2.0, 3.0]  # rate 0.5, se 0.5/sqrt(3): checked exactly below
    return EXPO, jnp.asarray(waits), "rate", np.inf


def _simplex_case(rng):
    # Simplex: categorical outcomes, n=12, with one rare category
    cat = jm.Model(lambda p, k: jnp.log(p["p"][k]), {"p": jm.Simplex(3)})
    return cat, jnp.asarray(rng.choice(3, p=[0.6, 0.3, 0.1], size=(200, 12))), "p", 1.0


@pytest.mark.parametrize(
    "case", [_unit_case, _positive_case, _simplex_case], ids=["UnitInterval", "Positive", "Simplex"]
)
def test_wald_transformed_inside_support_wald_symmetric_batch(case):
    model, data, key, high = case(np.random.default_rng(99))
    res = jm.fit_batch(model, data)
    out = _check_intervals(res, key, 0.0, high)
    # the test is not vacuous: plain Wald intervals do leave the support here
    assert out > 0
    if key == "rate":
        # reference: exp(log(0.5) -/+ z * se / 0.5) with se = 0.5 / sqrt(3)
        lo_t, hi_t = res.conf_int(0.95, method="wald_transformed")["rate"]
        half = z_value(0.95) / math.sqrt(3)
        assert math.isclose(float(lo_t[0]), 0.5 * math.exp(-half), rel_tol=1e-9)
        assert math.isclose(float(hi_t[0]), 0.5 * math.exp(half), rel_tol=1e-9)


def test_wald_transformed_single_fit():
    # the note's coin with 4 heads in 5: the Wald upper bound is > 1
    one = jm.fit(COIN, jnp.array([1.0, 1.0, 1.0, 1.0, 0.0]))
    lo, hi = one.conf_int(0.95, method="wald")["theta"]
    assert float(hi) > 1.0
    lo_t, hi_t = one.conf_int(0.95, method="wald_transformed")["theta"]
    assert 0.0 < float(lo_t) < 0.8 < float(hi_t) < 1.0
    # reference: logit(0.8) -/+ z * se / (0.8 * 0.2), se = sqrt(0.8 * 0.2 / 5), mapped back
    half = z_value(0.95) * math.sqrt(0.16 / 5) / 0.16
    expit = lambda t: 1 / (1 + math.exp(-t))
    assert math.isclose(float(lo_t), expit(math.log(4) - half), rel_tol=1e-9)
    assert math.isclose(float(hi_t), expit(math.log(4) + half), rel_tol=1e-9)


# (g) ------------------------------------------------------------------------
def _every_field_equal(a, b, rtol=1e-9):
    """Every array field of two FitResults agrees (NaN where the other has NaN)."""
    for path, x in jax.tree_util.tree_flatten_with_path(a)[0]:
        y = _at(b, path)
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind in "biu":
            np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))
        else:
            np.testing.assert_allclose(
                x, y, rtol=rtol, atol=1e-12, equal_nan=True, err_msg=jax.tree_util.keystr(path)
            )


def _at(tree, path):
    for k in path:
        tree = getattr(tree, k.name) if hasattr(k, "name") else tree[k.key]
    return tree


@pytest.mark.parametrize("nan_policy", ["omit", "propagate"])
def test_fit_batch_equals_loop_weighted_ragged_partly_nan(nan_policy):
    """Every field of batch[i] equals fit(dataset i) with the same weights, mask and policy,
    on a batch mixing ragged lengths, frequency weights and NaN readings."""
    rng = np.random.default_rng(11)
    b, nmax = 6, N
    X = 2.0 + rng.standard_normal((b, nmax))
    lengths = np.array([N, 15, N, 9, N, 12])
    mask = np.arange(nmax)[None, :] < lengths[:, None]
    W = rng.integers(1, 4, size=(b, nmax)).astype(float)
    X[1, 3] = np.nan  # one NaN reading in a ragged dataset
    X[2, [0, 5]] = np.nan  # two in a full one
    X[3, 12] = np.nan  # in the padding: masked out, never counted as bad
    batch = jm.fit_batch(NORMAL, X, weights=W, mask=mask, nan_policy=nan_policy, chunk_size=4)
    for i in range(b):
        one = jm.fit(NORMAL, X[i], weights=W[i], mask=mask[i], nan_policy=nan_policy)
        _every_field_equal(batch[i], one)
    status = np.asarray(batch.status)
    if nan_policy == "omit":
        assert np.all(status == jm.Status.CONVERGED)
        # the omitted readings are not counted
        assert float(batch.nobs[2]) == W[2].sum() - W[2, [0, 5]].sum()
        kept = ~np.isnan(X[2])
        cf = np.average(X[2][kept], weights=W[2][kept])
        assert math.isclose(float(batch.params["mu"][2]), cf, rel_tol=1e-10)
    else:
        assert list(status[[1, 2]]) == [jm.Status.NONFINITE] * 2
        others = [0, 3, 4, 5]
        assert np.all(status[others] == jm.Status.CONVERGED)
        assert np.all(np.isnan(np.asarray(batch.se["mu"])[[1, 2]]))


def test_batch_export_numpy_columns_and_dataframe(normal_batch):
    cols = normal_batch.to_dict()
    assert list(cols)[:4] == ["mu", "mu_se", "mu_lo", "mu_hi"]
    assert cols["status"].tolist() == ["CONVERGED"] * B
    np.testing.assert_array_equal(cols["mu"], np.asarray(normal_batch.params["mu"]))
    pd = pytest.importorskip("pandas")
    df = normal_batch.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert df.shape == (B, len(cols))
    np.testing.assert_array_equal(df["sigma_se"].to_numpy(), cols["sigma_se"])
    one = normal_batch[0].to_dataframe()
    assert one.shape == (1, len(cols))
