"""Adversarial and extreme inputs: each either raises a clear error at call time or ends
with an honest per-dataset status. Never a crash, a hang, or a CONVERGED fit whose
numbers are wrong.

The expected behaviour of each case is written next to it. The one rule that every
case shares (:func:`_honest`): a fit that says CONVERGED has finite standard errors
and, where a closed form exists, matches it; anything else says so in its status.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NORMAL

import jaxmle as jm

S = jm.Status


NORMAL_FAM = jm.families.Normal()
EXPO_FAM = jm.families.Exponential()


def _status(res):
    return [S(int(s)) for s in np.atleast_1d(np.asarray(res.status))]


def _total_loglik(res):
    """The total log-likelihood of one fit's data as a function of the flat constrained
    parameters (``param_names`` order), written from the model, not from the solver."""
    model = res.model

    def total(flat):
        ll = model.loglik(model.unflatten(flat), res.data)
        if res.weights is not None:
            ll = ll * res.weights
        if res.mask is not None:
            ll = jnp.where(res.mask, ll, 0.0)
        return jnp.sum(ll)

    return total


#: a CONVERGED fit's remaining Newton decrement g' cov g / 2 (the log-likelihood a further
#: Newton step would gain): below the solver's stopping rule, 1e-15 in float64, which it
#: then follows with one more step (measured at most 7.7e-32 on this file's fits)
DECREMENT_TOL = 1e-15
#: its SEs against those of the inverse Hessian of the total log-likelihood by jax.hessian
#: at the estimate (natural parameters): measured at most 2.2e-16 (rounding of the two
#: inversions, one on the unconstrained scale); 1e-12 for information of condition ~1e3
SE_HESSIAN_RTOL = 1e-12


def _honest(res, closed_form=None, rtol=1e-6):
    """Every fit (each dataset of a batch) is honest about itself.

    CONVERGED: an interior maximum: information positive definite, finite positive SEs that
    are those of the Hessian at the estimate, the gradient zero (the Newton decrement, by
    jax.grad of the model's own loglik), and the closed form when given. Otherwise a status
    that says why, and the SEs it promises: NaN for NONFINITE, SINGULAR and INVALID_DATA,
    NaN for the parameters at the limit for BOUNDARY (MAX_ITER and STALLED: computed at the
    last point, not to be trusted, nothing promised).
    """
    if res.batch_shape:
        for i in range(len(res)):
            _honest(res[i], {k: np.asarray(v)[i] for k, v in (closed_form or {}).items()}, rtol)
        return
    status = S(int(res.status))  # a known status, or this raises
    model = res.model
    se = np.concatenate([np.ravel(np.asarray(res.se[k])) for k in model.spec])  # flat order
    simple = model.free_size == model.constrained_size  # no simplex: one SE per coordinate
    if status == S.CONVERGED:
        assert bool(res.info_ok), "CONVERGED with an information that is not positive definite"
        assert not np.any(np.asarray(res.at_limit)), res.at_limit
        assert np.all(np.isfinite(se)) and np.all(se > 0), res.se
        cov = np.asarray(res.cov)
        assert np.all(np.isfinite(cov)), cov
        np.testing.assert_allclose(cov, cov.T, rtol=1e-12, atol=0)
        if simple:
            assert np.all(np.linalg.eigvalsh(cov) > 0), cov
            flat = model.flatten(res.params)
            total = _total_loglik(res)
            g = np.asarray(jax.grad(total)(flat))
            assert g @ cov @ g / 2 < DECREMENT_TOL, (g, cov)
            info = -np.asarray(jax.hessian(total)(flat))
            assert np.all(np.linalg.eigvalsh(info) > 0), info
            np.testing.assert_allclose(
                se, np.sqrt(np.diag(np.linalg.inv(info))), rtol=SE_HESSIAN_RTOL
            )
        for k, want in (closed_form or {}).items():
            np.testing.assert_allclose(np.asarray(res.params[k]), want, rtol=rtol, err_msg=k)
    elif status in (S.NONFINITE, S.SINGULAR, S.INVALID_DATA):
        assert np.all(np.isnan(se)), (status, res.se)
    elif status == S.BOUNDARY:
        at_limit = np.asarray(res.at_limit)
        assert np.any(at_limit), "BOUNDARY with no coordinate at a limit"
        if simple:
            assert np.all(np.isnan(se[at_limit])), (res.se, at_limit)
        else:
            assert np.any(np.isnan(se)), res.se
    else:
        assert status in (S.MAX_ITER, S.STALLED), status


# --------------------------------------------------------------------------
# tiny samples, degenerate samples, unbounded likelihoods
# --------------------------------------------------------------------------
def test_one_observation_regular_model_converges():
    # exponential, n = 1: rate = 1/x, observed information n / rate^2
    res = jm.fit(EXPO_FAM, {"x": jnp.array([4.0])})
    assert _status(res) == [S.CONVERGED]
    _honest(res, {"rate": 0.25})
    assert math.isclose(float(res.se["rate"]), 0.25, rel_tol=1e-9)
    assert float(res.nobs) == 1.0


@pytest.mark.parametrize("model", [NORMAL, NORMAL_FAM], ids=["user", "family"])
def test_one_observation_location_scale_is_an_input_error(model):
    # a location-scale model on one point: the likelihood is unbounded (+inf as the scale
    # goes to 0 with the location on the point); one observation cannot identify two
    # parameters: a ValueError for one fit, status INVALID_DATA in a batch (the others fitted)
    data = jnp.array([2.0]) if model is NORMAL else {"x": jnp.array([2.0])}
    with pytest.raises(ValueError, match="fewer observations than free parameters"):
        jm.fit(model, data)
    rows = jnp.array([[2.0, np.nan, np.nan], [1.0, 2.0, 4.0]])
    batch_data = rows if model is NORMAL else {"x": rows}
    res = jm.fit_batch(model, batch_data, nan_policy="omit")
    assert _status(res) == [S.INVALID_DATA, S.CONVERGED]
    loc = "mu" if model is NORMAL else "loc"
    assert math.isnan(float(res.params[loc][0])) and math.isnan(float(res.se[loc][0]))
    np.testing.assert_allclose(float(res.params[loc][1]), 7.0 / 3.0, rtol=1e-12)  # the mean


def test_identical_observations_family_is_boundary():
    # all observations identical: sigma_hat = 0, on the edge of Positive: BOUNDARY, with
    # the scale's SE NaN (the loglik is linear in log(scale): the solver stops after a run of
    # such steps), and the location's (its SE would be below the rounding of its value)
    res = jm.fit(NORMAL_FAM, {"x": jnp.full(4, 2.0)})
    assert float(res.params["loc"]) == 2.0
    assert math.isnan(float(res.se["scale"]))
    assert _status(res) == [S.BOUNDARY]


def test_identical_observations_in_a_batch_spoil_nothing_else():
    # one degenerate dataset in a batch: its own non-converged status; the other dataset
    # is the closed-form MLE (mean, root mean squared deviation)
    x = np.array([[1.0, 2.0, 4.0, 5.0], [2.0, 2.0, 2.0, 2.0]])
    for model, data, loc, scale in [
        (NORMAL_FAM, {"x": x}, "loc", "scale"),
        (NORMAL, x, "mu", "sigma"),
    ]:
        res = jm.fit_batch(model, data)
        st = _status(res)
        assert st[0] == S.CONVERGED
        # the family reaches BOUNDARY; the user model with scipy's logpdf creeps towards
        # sigma = 0 until the iteration limit: both are honest, neither is CONVERGED
        assert st[1] in (S.BOUNDARY, S.MAX_ITER)
        assert math.isnan(float(res.se[scale][1]))
        np.testing.assert_allclose(float(res.params[loc][0]), 3.0, rtol=1e-12)
        np.testing.assert_allclose(float(res.params[scale][0]), math.sqrt(2.5), rtol=1e-10)
        _honest(res)


# --------------------------------------------------------------------------
# extreme magnitudes
# --------------------------------------------------------------------------
X3 = np.array([1.0, 2.0, 4.0])


def test_huge_values():
    # x ~ 1e299: in a loglik of the user's own, (x - mu)^2 overflows at the start: NONFINITE,
    # SEs NaN, no exception. The family standardizes its data: the closed form, scaled.
    x = X3 * 1.25e299
    res = jm.fit(NORMAL, jnp.asarray(x))
    assert _status(res) == [S.NONFINITE]
    assert np.all(np.isnan(np.asarray(res.se["mu"])))
    _honest(res)
    fam = jm.fit_dist("normal", x)
    assert _status(fam) == [S.CONVERGED]
    # (the mean and population SD of X3, times the scale; rounding of the scaled data)
    np.testing.assert_allclose(float(fam.params["loc"]), X3.mean() * 1.25e299, rtol=1e-14)
    np.testing.assert_allclose(float(fam.params["scale"]), X3.std() * 1.25e299, rtol=1e-14)
    np.testing.assert_allclose(
        float(fam.se["loc"]), X3.std() / math.sqrt(X3.size) * 1.25e299, rtol=1e-13
    )


@pytest.mark.parametrize("scale", [1e-300, 5e-321], ids=["tiny", "denormal"])
def test_tiny_and_denormal_values(scale):
    # x ~ 1e-300 or denormal: in the user's own Normal loglik the squares underflow to 0, so
    # it sees identical points (no maximum: never CONVERGED, the scale's SE NaN).
    x = X3 * scale
    user = jm.fit(NORMAL, jnp.asarray(x))
    assert _status(user)[0] in (S.STALLED, S.BOUNDARY, S.MAX_ITER)
    assert np.isnan(np.asarray(user.se["sigma"]))
    _honest(user)
    normal = jm.fit_dist("normal", x)
    expo = jm.fit_dist("exponential", x)
    if scale > np.finfo(float).tiny:
        # the families standardize their data by a power of two (exact): the closed forms.
        # (The variances, ~1e-600, underflow: the covariance matrix is 0, the SEs are not.)
        assert _status(normal) == [S.CONVERGED] and _status(expo) == [S.CONVERGED]
        np.testing.assert_allclose(float(normal.params["loc"]) / scale, X3.mean(), rtol=1e-13)
        # (1e-300 is not a power of two: the data, and the division back, are rounded)
        np.testing.assert_allclose(float(normal.params["scale"]) / scale, X3.std(), rtol=1e-13)
        se = X3.std() / math.sqrt(X3.size)
        np.testing.assert_allclose(float(normal.se["loc"]) / scale, se, rtol=1e-13)
        np.testing.assert_allclose(float(expo.params["rate"]) * scale, 1 / X3.mean(), rtol=1e-13)
    else:
        # denormals: XLA's arithmetic flushes them to zero, the families see identical
        # zeros: no maximum (the exponential's rate would not fit in float64 anyway)
        for res in (normal, expo):
            assert _status(res)[0] in (S.STALLED, S.BOUNDARY, S.MAX_ITER, S.NONFINITE)
            _honest(res)


# --------------------------------------------------------------------------
# limits of the parameter space
# --------------------------------------------------------------------------
def test_separation_in_logistic_regression_is_boundary():
    # perfectly separated: the slope runs to +inf. Expected BOUNDARY, slope SE NaN.
    X = np.column_stack([np.ones(6), [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]])
    y = np.array([0.0, 0, 0, 1, 1, 1])
    res = jm.fit(jm.models.LogisticRegression(2), {"X": X, "y": y})
    assert _status(res) == [S.BOUNDARY]
    assert float(res.params["beta"][1]) > 5.0
    assert np.isnan(np.asarray(res.se["beta"])[1])
    assert bool(np.asarray(res.at_limit)[1])
    _honest(res)


def test_all_observations_censored():
    # every lifetime right-censored: the likelihood increases towards rate = 0 (exponential)
    # or an infinite scale (Weibull). Expected: not CONVERGED, SEs NaN.
    t = np.array([1.0, 2.0, 3.0])
    expo = jm.fit_dist("exponential", t, event=np.zeros(3))
    assert _status(expo) == [S.BOUNDARY]
    assert float(expo.params["rate"]) < 1e-6
    weib = jm.fit_dist("weibull", t, event=np.zeros(3))
    assert _status(weib)[0] in (S.BOUNDARY, S.SINGULAR, S.MAX_ITER)
    _honest(expo)
    _honest(weib)


def test_empty_multinomial_category_is_boundary():
    # a category never observed: its probability's MLE is 0, on the simplex's edge
    res = jm.fit_dist("multinomial", np.array([[3, 0, 2], [1, 0, 4]]))
    assert _status(res) == [S.BOUNDARY]
    np.testing.assert_allclose(np.asarray(res.params["p"]), [0.4, 0.0, 0.6], atol=1e-6)
    assert np.all(np.isnan(np.asarray(res.se["p"])))
    _honest(res)


# --------------------------------------------------------------------------
# data types and shapes
# --------------------------------------------------------------------------
def test_integer_and_boolean_data():
    # integer counts and boolean outcomes are valid data; fits run in floating point
    pois = jm.fit_dist("poisson", np.array([1, 2, 3, 6], dtype=np.int32))
    assert _status(pois) == [S.CONVERGED]
    _honest(pois, {"rate": 3.0}, rtol=1e-12)
    bern = jm.fit_dist("bernoulli", np.array([True, False, True]))
    assert _status(bern) == [S.CONVERGED]
    _honest(bern, {"p": 2 / 3}, rtol=1e-12)
    user = jm.fit(NORMAL, np.array([1, 2, 4, 5]))
    assert _status(user) == [S.CONVERGED]
    _honest(user, {"mu": 3.0, "sigma": math.sqrt(2.5)}, rtol=1e-10)
    assert user.params["mu"].dtype == jnp.float64


@pytest.mark.parametrize(
    "data, match",
    [
        (np.array(["a", "b"]), "dtype <U1"),
        (np.array([1.0, None]), "dtype object"),
        ({"x": np.array([b"1", b"2"])}, "dtype"),
    ],
    ids=["strings", "objects", "bytes"],
)
def test_wrong_dtype_is_a_clear_error(data, match):
    with pytest.raises(TypeError, match=match):
        jm.fit(NORMAL, data)


def test_wrong_shapes_are_clear_errors():
    with pytest.raises(ValueError, match=r"loglik returned shape \(3, 2\)"):
        jm.fit(NORMAL, np.ones((3, 2)))
    with pytest.raises(ValueError, match="disagree on the number of datasets"):
        jm.fit_batch(
            jm.models.LogisticRegression(2), {"X": np.ones((3, 4, 2)), "y": np.ones((2, 4))}
        )
    with pytest.raises(ValueError, match="mask has shape"):
        jm.fit(NORMAL, np.ones(4), mask=np.ones(3, bool))


def test_loglik_of_the_wrong_shape():
    def two_values(p, x):  # ignores the data's length
        return jnp.zeros(2) + p["mu"]

    model = jm.Model(two_values, {"mu": jm.Real()}, name="two_values")
    with pytest.raises(ValueError, match="loglik returned 2 values"):
        jm.fit(model, np.ones(3))

    def matrix(p, x):
        return jnp.zeros((3, 3)) + p["mu"]

    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        jm.fit(jm.Model(matrix, {"mu": jm.Real()}), np.ones(3))


# --------------------------------------------------------------------------
# empty data, masks, init
# --------------------------------------------------------------------------
def test_empty_dataset_in_a_batch_via_mask():
    # dataset 1 has no observation left (fewer than the 2 parameters): INVALID_DATA, nobs 0,
    # NaN estimates and SEs; the other dataset equals its lone fit
    x = np.array([[1.0, 2.0, 4.0, 5.0], [4.0, 5.0, 7.0, 9.0]])
    mask = np.array([[True, True, True, True], [False, False, False, False]])
    res = jm.fit_batch(NORMAL, x, mask=mask)
    assert _status(res) == [S.CONVERGED, S.INVALID_DATA]
    assert np.asarray(res.nobs).tolist() == [4.0, 0.0]
    assert math.isnan(float(res.se["mu"][1])) and math.isnan(float(res.se["sigma"][1]))
    assert math.isnan(float(res.params["mu"][1])) and math.isnan(float(res.loglik[1]))
    lone = jm.fit(NORMAL, x[0])
    np.testing.assert_allclose(float(res.params["sigma"][0]), float(lone.params["sigma"]), 1e-12)
    _honest(res)
    _honest(lone)


def test_mask_that_removes_everything():
    # no observation left: an input error that says so, before any fitting
    with pytest.raises(ValueError, match="fewer observations than free parameters.*0 valid"):
        jm.fit(NORMAL, np.array([1.0, 2.0, 4.0, 5.0]), mask=np.zeros(4, bool))


def test_fewer_observations_than_parameters_counts_weights_and_mask():
    # two parameters: one observation (or one left by the mask) cannot identify them; a
    # frequency weight of 2 on one value is two observations (identical ones: BOUNDARY)
    x = np.array([1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="1 valid observation"):
        jm.fit(NORMAL, x, mask=np.array([True, False, False]))
    with pytest.raises(ValueError, match="1 valid observation"):
        jm.fit(NORMAL, x, weights=np.array([1.0, 0.0, 0.0]))
    res = jm.fit_dist("normal", x, weights=np.array([2.0, 0.0, 0.0]))
    assert _status(res)[0] is not S.CONVERGED and math.isnan(float(res.se["scale"]))
    _honest(res)


def test_nan_in_init_is_a_clear_error():
    with pytest.raises(ValueError, match="'mu'"):
        jm.fit(NORMAL, np.array([1.0, 2.0, 4.0]), init={"mu": np.nan})
    with pytest.raises(ValueError, match="'sigma'"):
        jm.fit(NORMAL, np.array([1.0, 2.0, 4.0]), init={"sigma": -1.0})


# --------------------------------------------------------------------------
# failing models and failing batches
# --------------------------------------------------------------------------
def test_loglik_that_raises_names_the_model():
    def exploding(p, x):
        raise RuntimeError("boom")

    model = jm.Model(exploding, {"mu": jm.Real()}, name="exploding_model")
    with pytest.raises(RuntimeError, match="boom") as info:
        jm.fit(model, np.array([1.0, 2.0]))
    assert any("exploding_model" in note for note in getattr(info.value, "__notes__", []))


def test_batch_where_every_dataset_fails():
    x = np.array([[1.0, np.nan, 3.0], [np.inf, 2.0, 3.0]])
    # the default policy: an error before fitting, naming the datasets
    with pytest.raises(ValueError, match=r"datasets \[0, 1\]"):
        jm.fit_batch(NORMAL, x)
    # propagate: every dataset gets NONFINITE and NaN SEs; nothing raises
    res = jm.fit_batch(NORMAL, x, nan_policy="propagate")
    assert _status(res) == [S.NONFINITE, S.NONFINITE]
    assert np.all(np.isnan(np.asarray(res.se["mu"])))
    assert "2 nonfinite" in res.summary()
    _honest(res)


# --------------------------------------------------------------------------
# infinite censoring bounds given to jm.fit
# --------------------------------------------------------------------------
def test_fit_takes_infinite_censoring_bounds_for_family_models():
    # lower = -inf: left-censored at upper; upper = inf: right-censored at lower. jm.fit
    # with a family model gives what jm.fit_dist gives (both are valid data, not NaN)
    lower = np.array([1.0, 2.0, -np.inf, 3.0, 0.5])
    upper = np.array([1.0, np.inf, 0.5, 3.0, 0.5])
    res = jm.fit(NORMAL_FAM, {"lower": lower, "upper": upper})
    ref = jm.fit_dist("normal", lower=lower, upper=upper)
    assert _status(res) == [S.CONVERGED]
    _honest(res)
    for k in ("loc", "scale"):
        np.testing.assert_allclose(float(res.params[k]), float(ref.params[k]), rtol=1e-12)
        np.testing.assert_allclose(float(res.se[k]), float(ref.se[k]), rtol=1e-10)
    # a NaN is still bad data, and an infinite bound on the wrong side too
    with pytest.raises(ValueError, match="NaN or infinite"):
        jm.fit(NORMAL_FAM, {"lower": np.array([np.nan, 1.0]), "upper": np.array([1.0, 1.0])})
    with pytest.raises(ValueError, match="NaN or infinite"):
        jm.fit(NORMAL_FAM, {"lower": np.array([np.inf, 1.0]), "upper": np.array([np.inf, 1.0])})
