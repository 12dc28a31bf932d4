"""Regression models against statsmodels GLM (Poisson with offset, Binomial/logit),
and design matrices from named columns."""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import jaxmle as jm
from jaxmle.models.design import design_matrix

N = 400
_rng = np.random.default_rng(11)  # the table's covariates only, drawn at import
TABLE = pd.DataFrame(
    {
        "age": _rng.normal(50, 10, N),
        "dose": _rng.uniform(0, 2, N),
        "exposure": _rng.uniform(0.5, 3.0, N),
    }
)
del _rng  # no generator shared by the tests: each draws its responses from its own
X, NAMES = design_matrix(TABLE, ["age", "dose"])
XS = (X - np.r_[0.0, X[:, 1:].mean(0)]) / np.r_[1.0, X[:, 1:].std(0)]  # standardized covariates


def test_design_matrix_from_named_columns():
    assert NAMES == ("intercept", "age", "dose")
    np.testing.assert_array_equal(X[:, 0], 1.0)
    np.testing.assert_array_equal(X[:, 2], TABLE["dose"].to_numpy())
    with pytest.raises(ValueError, match="not in the table"):
        design_matrix(TABLE, ["age", "weight"])


def test_poisson_regression_with_offset_matches_glm():
    offset = np.log(TABLE["exposure"].to_numpy())
    y = (
        np.random.default_rng(12)
        .poisson(np.exp(XS @ np.array([0.3, 0.4, -0.2]) + offset))
        .astype(float)
    )
    # reference: sm.GLM(y, XS, family=Poisson(), offset=log(exposure)).fit()
    ref = sm.GLM(y, XS, family=sm.families.Poisson(), offset=offset).fit(tol=1e-12)
    res = jm.fit(
        jm.models.PoissonRegression(3),
        {"X": jnp.asarray(XS), "y": jnp.asarray(y), "offset": jnp.asarray(offset)},
    )
    assert bool(res.converged)
    np.testing.assert_allclose(res.params["beta"], ref.params, rtol=1e-8)
    np.testing.assert_allclose(res.se["beta"], ref.bse, rtol=1e-6)
    np.testing.assert_allclose(float(res.loglik), ref.llf, rtol=1e-10)


def test_logistic_regression_matches_glm_binomial():
    p = 1 / (1 + np.exp(-(XS @ np.array([-0.2, 0.8, 0.5]))))
    y = (np.random.default_rng(13).uniform(size=N) < p).astype(float)
    # reference: sm.GLM(y, XS, family=Binomial()).fit()  (logit link)
    ref = sm.GLM(y, XS, family=sm.families.Binomial()).fit(tol=1e-12)
    res = jm.fit(jm.models.LogisticRegression(3), {"X": jnp.asarray(XS), "y": jnp.asarray(y)})
    assert bool(res.converged)
    np.testing.assert_allclose(res.params["beta"], ref.params, rtol=1e-8)
    np.testing.assert_allclose(res.se["beta"], ref.bse, rtol=1e-6)
    np.testing.assert_allclose(float(res.loglik), ref.llf, rtol=1e-10)
