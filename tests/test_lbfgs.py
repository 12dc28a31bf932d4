"""method="lbfgs": the same estimates as Newton and statsmodels, statuses, se=False, batches
and derivatives through the optimum.

Runs in float64 (repo-root conftest.py).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import COIN, LOGIT3, NORMAL

import jaxmle as jm

X = jnp.array([1.0, 2.0, 4.0, 7.0, 3.5, -0.5, 2.2, 5.1])


# --------------------------------------------------------------------------
# a logistic regression with many features: L-BFGS == Newton == statsmodels
# --------------------------------------------------------------------------
# 100 features: a 100 x 100 Hessian per Newton step against L-BFGS's many cheap steps (5000 x
# 300 took ~15 s, mostly statsmodels' own Newton fit, for the same comparison)
N_OBS, N_FEAT = 2000, 100


@pytest.fixture(scope="module")
def logistic():
    rng = np.random.default_rng(314)
    X = rng.standard_normal((N_OBS, N_FEAT)) * (2.0 / math.sqrt(N_FEAT))
    X[:, 0] = 1.0
    beta = np.zeros(N_FEAT)  # sparse-ish truth: a tenth of the coefficients non-zero
    beta[: N_FEAT // 10] = 2.0 * rng.standard_normal(N_FEAT // 10)
    y = (rng.uniform(size=N_OBS) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(float)
    model = jm.models.LogisticRegression(N_FEAT)
    data = {"X": X, "y": y}
    return model, data


def test_lbfgs_logistic_regression_matches_newton_and_statsmodels(logistic):
    import statsmodels.api as sm

    model, data = logistic
    res_l = jm.fit(model, data, method="lbfgs")
    res_n = jm.fit(model, data)  # method="newton"
    ref = sm.Logit(data["y"], data["X"]).fit(disp=0, method="newton", tol=1e-12, maxiter=100)

    assert int(res_l.status) == jm.Status.CONVERGED
    assert int(res_n.status) == jm.Status.CONVERGED
    b_l = np.asarray(res_l.params["beta"])
    b_n = np.asarray(res_n.params["beta"])
    # every coefficient to 1e-6 of its size (or of the coefficient scale, 1e-6 * max|beta|,
    # for coefficients near zero)
    scale = np.maximum(np.abs(ref.params), np.max(np.abs(ref.params)))
    np.testing.assert_allclose(b_l, ref.params, rtol=1e-6, atol=1e-6 * scale.min())
    np.testing.assert_allclose(b_l, b_n, rtol=1e-6, atol=1e-6 * scale.min())
    np.testing.assert_allclose(b_n, ref.params, rtol=1e-9, atol=1e-9 * scale.min())
    # the standard errors come from the Hessian formed once at the end
    np.testing.assert_allclose(np.asarray(res_l.se["beta"]), ref.bse, rtol=1e-6)
    np.testing.assert_allclose(float(res_l.loglik), ref.llf, rtol=1e-12)
    np.testing.assert_allclose(float(res_n.loglik), ref.llf, rtol=1e-12)
    # many cheap iterations instead of a few with a 100 x 100 Hessian each
    assert int(res_l.n_iter) > int(res_n.n_iter)


# --------------------------------------------------------------------------
# statuses, se=False
# --------------------------------------------------------------------------
def test_gaussian_closed_form_and_se_false():
    n = X.size
    s = float(jnp.std(X))
    res = jm.fit(NORMAL, X, method="lbfgs")
    assert int(res.status) == jm.Status.CONVERGED
    np.testing.assert_allclose(float(res.params["mu"]), float(X.mean()), rtol=1e-10)
    np.testing.assert_allclose(float(res.params["sigma"]), s, rtol=1e-10)
    np.testing.assert_allclose(float(res.se["mu"]), s / math.sqrt(n), rtol=1e-8)
    np.testing.assert_allclose(float(res.se["sigma"]), s / math.sqrt(2 * n), rtol=1e-8)

    r = jm.fit(NORMAL, X, method="lbfgs", se=False)
    assert int(r.status) == jm.Status.CONVERGED
    np.testing.assert_allclose(float(r.params["sigma"]), s, rtol=1e-10)
    assert np.isnan(float(r.se["mu"])) and np.isnan(float(r.se["sigma"]))
    assert np.all(np.isnan(np.asarray(r.cov))) and np.all(np.isnan(np.asarray(r.cov_free)))
    assert r.cov.shape == (2, 2) and not r.se_computed
    text = r.summary()
    assert "standard errors: not computed (fitted with se=False)" in text
    assert "information positive definite:    not computed" in text
    assert "not computed" not in res.summary()


def test_statuses_nonfinite_boundary_singular():
    r = jm.fit(NORMAL, X.at[2].set(jnp.nan), method="lbfgs", nan_policy="propagate")
    assert int(r.status) == jm.Status.NONFINITE
    # three heads out of three: the MLE is theta = 1, on the edge of the constraint
    r = jm.fit(COIN, jnp.ones(3), method="lbfgs", se=False)
    assert int(r.status) == jm.Status.BOUNDARY
    assert float(r.params["theta"]) > 0.999 and np.isnan(float(r.se["theta"]))
    # a duplicated column: the information is singular (found from the final Hessian)
    z = np.array([-1.3, -0.4, 0.2, 0.9, -0.8, 1.7, 0.1, -2.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    r = jm.fit(LOGIT3, {"X": np.column_stack([np.ones(8), z, z]), "y": y}, method="lbfgs")
    assert int(r.status) == jm.Status.SINGULAR
    assert np.all(np.isnan(np.asarray(r.se["beta"])))
    # complete separation: the slope runs to +infinity (the curvature test on the final
    # Hessian, as in Newton)
    x = np.array([-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0])
    design = np.column_stack([np.ones(8), x, np.cos(x)])
    r = jm.fit(LOGIT3, {"X": design, "y": (x > 0).astype(float)}, method="lbfgs")
    assert int(r.status) == jm.Status.BOUNDARY
    assert bool(np.asarray(r.at_limit).any())


def test_bad_method_and_se_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        jm.fit(NORMAL, X, method="bfgs")
    with pytest.raises(ValueError, match="method must be one of"):
        jm.fit_batch(NORMAL, X[None], method="adam")
    with pytest.raises(TypeError, match="se must be True or False"):
        jm.fit(NORMAL, X, se="no")


# --------------------------------------------------------------------------
# batches and derivatives
# --------------------------------------------------------------------------
def test_fit_batch_lbfgs_equals_loop_and_closed_form():
    rng = np.random.default_rng(11)
    data = rng.normal(3.0, 2.0, size=(6, X.size))
    batch = jm.fit_batch(NORMAL, data, method="lbfgs", se=False)
    assert np.all(np.asarray(batch.status) == jm.Status.CONVERGED)
    for i in (0, 5):
        one = jm.fit(NORMAL, data[i], method="lbfgs", se=False)
        for k in ("mu", "sigma"):
            np.testing.assert_allclose(batch.params[k][i], one.params[k], rtol=1e-12)
        assert int(batch.n_iter[i]) == int(one.n_iter)
    # the closed forms: mean and root mean squared deviation
    np.testing.assert_allclose(batch.params["mu"], data.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(batch.params["sigma"], data.std(axis=1), rtol=1e-10)
    assert np.all(np.isnan(np.asarray(batch.se["mu"])))
    assert "standard errors: not computed" in batch.summary()


def test_gradients_through_an_lbfgs_fit():
    # the implicit function theorem needs only the optimum: the Gaussian closed forms
    # d mu / d x_i = 1/n and d sigma / d x_i = (x_i - mean) / (n sigma)
    def est(x):
        r = jm.fit(NORMAL, x, method="lbfgs")
        return jnp.stack([r.params["mu"], r.params["sigma"]])

    n = X.size
    want = np.stack(
        [np.full(n, 1.0 / n), (np.asarray(X) - float(X.mean())) / (n * float(jnp.std(X)))]
    )
    np.testing.assert_allclose(jax.jacrev(est)(X), want, rtol=1e-9, atol=1e-13)

    # not converged (status MAX_ITER): NaN derivatives, as for Newton
    def mu_status(x):
        r = jm.fit(NORMAL, x, method="lbfgs", max_iter=1)
        return r.params["mu"], r.status

    g, status = jax.grad(mu_status, has_aux=True)(X)
    assert int(status) == jm.Status.MAX_ITER
    assert np.all(np.isnan(g))
