"""Bad inputs raise errors that name the problem. (What nan_policy='omit', mask= and frequency
weights do: test_fit.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NORMAL, normal_loglik

import jaxmle as jm

X5 = jnp.array([1.0, 2.5, 3.0, 4.5, 7.0])


# --------------------------------------------------------------------------
# init
# --------------------------------------------------------------------------
def test_init_outside_constraint_names_parameter():
    with pytest.raises(ValueError, match=r"'sigma'.*outside its constraint.*strictly positive.*-1"):
        jm.fit(NORMAL, X5, init={"sigma": -1.0})


def test_init_unknown_key():
    with pytest.raises(ValueError, match=r"unknown parameter.*'tau'.*\['mu', 'sigma'\]"):
        jm.fit(NORMAL, X5, init={"tau": 1.0})


def test_init_wrong_shape():
    model = jm.models.LinearRegression(2)
    data = {"X": jnp.ones((4, 2)), "y": jnp.arange(4.0)}
    with pytest.raises(ValueError, match=r"'beta' has shape \(3,\); expected \(2,\)"):
        jm.fit(model, data, init={"beta": jnp.zeros(3)})


# --------------------------------------------------------------------------
# non-finite data, options
# --------------------------------------------------------------------------
def test_nan_data_default_policy_names_observations():
    x = jnp.array([1.0, 2.0, jnp.nan, 4.0, 5.0, jnp.inf, 0.5])
    with pytest.raises(ValueError, match=r"observations \[2, 5\] \(2 in all\).*nan_policy='omit'"):
        jm.fit(NORMAL, x)


def test_nan_data_in_batch_names_dataset():
    data = np.tile(np.asarray(X5), (3, 1))
    data[1, 3] = np.nan
    with pytest.raises(
        ValueError, match=r"datasets \[1\] \(1 in all\); in dataset 1, observations \[3\]"
    ):
        jm.fit_batch(NORMAL, jnp.asarray(data))


def test_unknown_nan_policy():
    with pytest.raises(ValueError, match=r"nan_policy must be one of .*'drop'"):
        jm.fit(NORMAL, X5, nan_policy="drop")


def test_unknown_cov_type():
    with pytest.raises(ValueError, match=r"cov_type must be one of .*'sandwich'"):
        jm.fit(NORMAL, X5, cov_type="sandwich")


# --------------------------------------------------------------------------
# the loglik's output
# --------------------------------------------------------------------------
def test_loglik_wrong_shape_from_broadcasting():
    def ll(p, d):  # (n, 1) - (n,) broadcasts to (n, n)
        return jax.scipy.stats.norm.logpdf(d["x"][:, None] - d["y"], p["mu"], 1.0)

    data = {"x": X5, "y": X5 + 1.0}
    with pytest.raises(ValueError, match=r"shape \(5, 5\)"):
        jm.fit(jm.Model(ll, {"mu": jm.Real()}), data)


def test_loglik_length_matches_no_data_leaf():
    model = jm.Model(
        lambda p, x: normal_loglik(p, x[:4]), {"mu": jm.Real(), "sigma": jm.Positive()}
    )
    with pytest.raises(ValueError, match=r"returned 4 values.*no data leaf has 4.*\[5\]"):
        jm.fit(model, X5)


def test_loglik_returning_ints():
    model = jm.Model(lambda p, x: jnp.round(x).astype(jnp.int32), {"mu": jm.Real()})
    with pytest.raises(TypeError, match=r"floating.*int32"):
        jm.fit(model, X5)


def test_loglik_keyerror_propagates_with_note():
    model = jm.Model(
        lambda p, x: normal_loglik({"mu": p["mu"], "sigma": p["scale"]}, x), {"mu": jm.Real()}
    )
    with pytest.raises(KeyError, match="scale") as exc:
        jm.fit(model, X5)
    notes = " ".join(getattr(exc.value, "__notes__", []))
    assert "loglik" in notes
    assert "mu" in notes  # the names it was given


# --------------------------------------------------------------------------
# weights and mask
# --------------------------------------------------------------------------
def test_weights_wrong_shape():
    with pytest.raises(ValueError, match=r"weights has shape \(4,\); expected \(5,\)"):
        jm.fit(NORMAL, X5, weights=jnp.ones(4))


def test_negative_weights():
    with pytest.raises(ValueError, match=r"non-negative"):
        jm.fit(NORMAL, X5, weights=jnp.array([1.0, 1.0, -1.0, 1.0, 1.0]))


def test_mask_wrong_shape():
    with pytest.raises(ValueError, match=r"mask has shape \(5, 1\); expected \(5,\)"):
        jm.fit(NORMAL, X5, mask=jnp.ones((5, 1), bool))


def test_weights_with_scalar_total_loglik():
    model = jm.Model(
        lambda p, x: jnp.sum(normal_loglik(p, x)), {"mu": jm.Real(), "sigma": jm.Positive()}
    )
    with pytest.raises(
        ValueError, match=r"weights= and mask= need a loglik that returns per-observation"
    ):
        jm.fit(model, X5, weights=jnp.ones(5))


# --------------------------------------------------------------------------
# fit_batch's leading axis, argument types, intervals
# --------------------------------------------------------------------------
def test_fit_batch_leaves_disagree_on_batch_size():
    model = jm.models.LinearRegression(2)
    data = {"X": jnp.ones((3, 4, 2)), "y": jnp.ones((2, 4))}
    with pytest.raises(ValueError, match=r"disagree on the number of datasets.*3.*2"):
        jm.fit_batch(model, data)


def test_fit_batch_scalar_leaf():
    model = jm.Model(
        lambda p, d: normal_loglik({"mu": p["mu"], "sigma": d["s"]}, d["x"]), {"mu": jm.Real()}
    )
    with pytest.raises(ValueError, match=r"data\['s'\] is a scalar"):
        jm.fit_batch(model, {"x": jnp.ones((2, 5)), "s": jnp.asarray(1.0)})


def test_first_argument_not_a_model():
    with pytest.raises(TypeError, match=r"expected a jm.Model.*function"):
        jm.fit(normal_loglik, X5)
    with pytest.raises(TypeError, match=r"expected a jm.Model"):
        jm.fit_batch({"mu": jm.Real()}, X5[None])


def test_string_data():
    with pytest.raises(TypeError, match=r"dtype <U.*numeric"):
        jm.fit(NORMAL, np.array(["1.0", "2.0", "3.0"]))


@pytest.fixture(scope="module")
def good_fit():
    return jm.fit(NORMAL, X5)


@pytest.mark.parametrize("level", [1.5, 0.0, 1.0, -0.2])
def test_conf_int_bad_level(good_fit, level):
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        good_fit.conf_int(level)


def test_conf_int_unknown_method(good_fit):
    with pytest.raises(ValueError, match=r"unknown interval method 'likelihood'"):
        good_fit.conf_int(0.95, method="likelihood")
