"""jm.Model: construction and its errors, the names and layout of its parameters, the maps
between the constrained parameters and the free vector (against the bijectors written out
with numpy), starting values, and the loglik the fit evaluates."""

import math
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NORMAL, normal_loglik, unit_normal_loglik
from scipy import special, stats

import jaxmle as jm


# --------------------------------------------------------------------------
# construction and its errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["real", 3.0, None, jm.Simplex])
def test_unknown_constraint_in_spec_lists_known_ones(bad):
    with pytest.raises(TypeError, match=r"'mu'.*unknown constraint") as exc:
        jm.Model(unit_normal_loglik, {"mu": bad})
    for name in ("Real", "Positive", "Bounded", "UnitInterval", "Simplex"):
        assert name in str(exc.value)


def test_constraint_class_is_instantiated_with_defaults():
    model = jm.Model(unit_normal_loglik, {"mu": jm.Real, "sigma": jm.Positive})
    assert model.spec == {"mu": jm.Real(), "sigma": jm.Positive()}


def test_construction_errors_say_what_is_expected():
    with pytest.raises(TypeError, match=r"callable loglik\(params, data\)"):
        jm.Model({"mu": jm.Real()}, {"mu": jm.Real()})
    for spec in ({}, None, [("mu", jm.Real())]):
        with pytest.raises(TypeError, match="non-empty dict spec"):
            jm.Model(unit_normal_loglik, spec)
    with pytest.raises(TypeError, match="parameter names must be strings, got 0"):
        jm.Model(unit_normal_loglik, {0: jm.Real()})
    with pytest.raises(TypeError, match=r"simulate must be a function \(key, params, data\)"):
        jm.Model(unit_normal_loglik, {"mu": jm.Real()}, simulate=3)


def test_name_and_repr():
    # the name labels summaries: given, else the loglik function's name
    assert NORMAL.name == "normal"
    assert jm.Model(normal_loglik, NORMAL.spec).name == "normal_loglik"
    assert jm.Model(lambda p, x: x, NORMAL.spec).name == "<lambda>"
    assert repr(NORMAL) == "Model(normal, {'mu': Real(), 'sigma': Positive()})"
    assert repr(_model()) == (
        "Model(<lambda>, {'beta': Real(shape=(2,)), 'sigma': Positive(), 'w': Simplex(3), "
        "'r': Bounded(-1, 1, shape=(2, 2)), 'q': UnitInterval()})"
    )


# --------------------------------------------------------------------------
# names and layout, and the maps to and from the free vector
# --------------------------------------------------------------------------
def _model():
    return jm.Model(
        lambda p, x: jnp.zeros_like(x),
        {
            "beta": jm.Real(shape=(2,)),
            "sigma": jm.Positive(),
            "w": jm.Simplex(3),
            "r": jm.Bounded(-1.0, 1.0, shape=(2, 2)),
            "q": jm.UnitInterval(),
        },
    )


def test_param_names():
    model = _model()
    assert model.names == ("beta", "sigma", "w", "r", "q")
    assert model.param_names == (
        "beta[0]", "beta[1]", "sigma", "w[0]", "w[1]", "w[2]",
        "r[0,0]", "r[0,1]", "r[1,0]", "r[1,1]", "q",
    )  # fmt: skip
    # free coordinates: 2 + 1 + (3 - 1) + 4 + 1; constrained elements: 2 + 1 + 3 + 4 + 1
    assert model.free_size == 10
    assert model.constrained_size == 11
    simple = jm.Model(unit_normal_loglik, {"beta": jm.Real(shape=(2,)), "sigma": jm.Positive()})
    assert simple.param_names == ("beta[0]", "beta[1]", "sigma")


def _params():
    return {
        "beta": jnp.array([-1.5, 2.0]),
        "sigma": jnp.asarray(0.7),
        "w": jnp.array([0.2, 0.5, 0.3]),
        "r": jnp.array([[-0.9, 0.1], [0.4, 0.99]]),
        "q": jnp.asarray(0.05),
    }


def test_to_unconstrained_to_constrained_round_trip():
    model, params = _model(), _params()
    u = model.to_unconstrained(params)
    assert u.shape == (model.free_size,)
    back = model.to_constrained(u)
    assert set(back) == set(params)
    for key, val in params.items():
        assert back[key].shape == val.shape
        np.testing.assert_allclose(np.asarray(back[key]), np.asarray(val), rtol=1e-13, atol=1e-15)
    # and the other way: from random free coordinates
    u2 = jnp.asarray(np.random.default_rng(5).standard_normal(model.free_size))
    np.testing.assert_allclose(
        np.asarray(model.to_unconstrained(model.to_constrained(u2))),
        np.asarray(u2),
        rtol=1e-12,
        atol=1e-12,
    )
    # the model's log-det is the sum of the blocks' log-dets (Simplex: of its first k-1 parts)
    ld = sum(
        float(model.spec[key].forward_log_det_jacobian(u2[free]))
        for key, _, free in model.param_blocks()
    )
    assert math.isclose(float(model.log_det_jacobian(u2)), ld, rel_tol=1e-13)


def test_flatten_unflatten_round_trip():
    model, params = _model(), _params()
    flat = model.flatten(params)
    assert flat.shape == (model.constrained_size,)
    # the flat order is the param_names order
    by_name = dict(zip(model.param_names, np.asarray(flat).tolist()))
    assert by_name["beta[1]"] == 2.0
    assert by_name["w[2]"] == 0.3
    assert by_name["r[1,0]"] == 0.4
    assert by_name["q"] == 0.05
    back = model.unflatten(flat)
    for key, val in params.items():
        assert back[key].shape == val.shape
        np.testing.assert_array_equal(np.asarray(back[key]), np.asarray(val))
    # with a leading batch axis
    stacked = {k: jnp.stack([v, v]) for k, v in params.items()}
    flat_b = model.flatten_batched(stacked, (2,))
    assert flat_b.shape == (2, model.constrained_size)
    back_b = model.unflatten(flat_b)
    for key, val in params.items():
        assert back_b[key].shape == (2,) + val.shape
        np.testing.assert_array_equal(np.asarray(back_b[key][1]), np.asarray(val))


def _numpy_forward(u):
    """The constrained parameters of :func:`_model` at the free vector ``u``, by hand: the
    identity, exp, softmax of the logits with the last one 0, ``-1 + 2 expit`` and expit."""
    u = np.asarray(u)
    logits = np.array([u[3], u[4], 0.0])
    return {
        "beta": u[0:2],
        "sigma": np.exp(u[2]),
        "w": np.exp(logits) / np.exp(logits).sum(),
        "r": (-1.0 + 2.0 * special.expit(u[5:9])).reshape(2, 2),
        "q": special.expit(u[9]),
    }


def test_the_maps_are_the_bijectors_written_out():
    model = _model()
    u = np.random.default_rng(12).normal(size=model.free_size)
    got = model.to_constrained(jnp.asarray(u))
    want = _numpy_forward(u)
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), want[key], rtol=1e-14, atol=1e-15)
    # log|det J|, term by term: exp -> u; a + (b - a) expit(u) -> log(b - a) + log expit(u)
    # + log expit(-u); softmax with a fixed last logit -> the log of the product of all k
    # probabilities (det(diag(w') - w'w'^T) = prod(w') (1 - sum(w')), w' the first k - 1)
    w, bounded, q = want["w"], u[5:9], u[9]
    log_det = (
        u[2]
        + np.sum(np.log(w))
        + np.sum(np.log(2.0) + np.log(special.expit(bounded)) + np.log(special.expit(-bounded)))
        + np.log(special.expit(q)) + np.log(special.expit(-q))
    )  # fmt: skip
    assert math.isclose(float(model.log_det_jacobian(jnp.asarray(u))), log_det, rel_tol=1e-13)

    # the same log-det from the Jacobian itself (forward-mode, of the free coordinates'
    # images: the simplex's first k - 1 parts)
    def image(v):
        p = model.to_constrained(v)
        return jnp.concatenate([p["beta"], p["sigma"][None], p["w"][:2], p["r"].ravel(),
                                p["q"][None]])  # fmt: skip

    _, logabs = np.linalg.slogdet(np.asarray(jax.jacfwd(image)(jnp.asarray(u))))
    assert math.isclose(float(logabs), log_det, rel_tol=1e-12)


def test_param_blocks_slice_the_flat_and_the_free_vectors():
    model = _model()
    blocks = model.param_blocks()
    assert [b[0] for b in blocks] == ["beta", "sigma", "w", "r", "q"]
    # the constrained slices cover 0..11 in order; the free ones 0..10 (the simplex has 2)
    assert [(b[1].start, b[1].stop) for b in blocks] == [(0, 2), (2, 3), (3, 6), (6, 10), (10, 11)]
    assert [(b[2].start, b[2].stop) for b in blocks] == [(0, 2), (2, 3), (3, 5), (5, 9), (9, 10)]
    flat = np.asarray(model.flatten(_params()))
    for key, flat_slice, _ in blocks:
        np.testing.assert_array_equal(flat[flat_slice], np.ravel(_params()[key]))


# --------------------------------------------------------------------------
# starting values
# --------------------------------------------------------------------------
def test_default_init_is_each_constraints_centre():
    model = jm.Model(
        lambda p, x: x,
        {
            "b": jm.Real(shape=(2,)),
            "s": jm.Positive(),
            "lo": jm.Bounded(1.0, math.inf),
            "hi": jm.Bounded(-math.inf, 3.0),
            "ab": jm.Bounded(-2.0, 5.0),
            "w": jm.Simplex(4),
            "q": jm.UnitInterval(shape=(2,)),
        },
    )
    init = model.default_init(None, jnp.float64)
    want = {"b": [0.0, 0.0], "s": 1.0, "lo": 2.0, "hi": 2.0, "ab": 1.5, "w": [0.25] * 4,
            "q": [0.5, 0.5]}  # fmt: skip
    assert set(init) == set(want)
    for key, val in want.items():
        np.testing.assert_array_equal(np.asarray(init[key]), val)
        assert init[key].dtype == jnp.float64


def test_an_init_rule_is_used_where_its_values_are_inside_the_support():
    # the rule gives the sample mean and a negative (unusable) sigma: sigma falls back to the
    # constraint's default, 1
    model = jm.Model(
        normal_loglik,
        NORMAL.spec,
        init=lambda x: {"mu": jnp.mean(x), "sigma": -1.0},
    )
    x = jnp.array([1.0, 2.5, 3.0, 4.5, 7.0])
    init = model.default_init(x, jnp.float64)
    assert float(init["mu"]) == pytest.approx(3.6, rel=1e-15)
    assert float(init["sigma"]) == 1.0
    # and a fit from there ends at the closed form (mean, root mean squared deviation)
    res = jm.fit(model, x)
    assert bool(res.converged)
    np.testing.assert_allclose(float(res.params["mu"]), 3.6, rtol=1e-12)
    np.testing.assert_allclose(float(res.params["sigma"]), np.std(np.asarray(x)), rtol=1e-10)


def test_check_init_broadcasts_scalars_and_per_dataset_values():
    model = _model()
    # per dataset of a batch of 3: a scalar for every dataset, one value per dataset (q),
    # one per dataset broadcast over the parameter's own axis (beta)
    got = model.check_init(
        {"sigma": 2.0, "q": jnp.array([0.1, 0.2, 0.3]), "beta": jnp.array([[1.0], [2.0], [3.0]])},
        jnp.float64,
        (3,),
    )
    assert set(got) == {"sigma", "q", "beta"}  # what is not given stays to the default
    np.testing.assert_array_equal(np.asarray(got["sigma"]), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(np.asarray(got["q"]), [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(np.asarray(got["beta"]), [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    # one fit: a scalar broadcasts to the parameter's shape
    np.testing.assert_array_equal(
        np.asarray(model.check_init({"beta": 0.5}, jnp.float64)["beta"]), [0.5, 0.5]
    )
    with pytest.raises(TypeError, match="init must be a dict"):
        model.check_init([1.0], jnp.float64)
    with pytest.raises(ValueError, match=r"init for parameter 'beta' has shape \(3,\)"):
        model.check_init({"beta": jnp.zeros(3)}, jnp.float64)
    with pytest.raises(ValueError, match=r"'w' is outside its constraint"):
        model.check_init({"w": jnp.array([0.5, 0.6, -0.1])}, jnp.float64)


# --------------------------------------------------------------------------
# the loglik the fit evaluates
# --------------------------------------------------------------------------
def test_compiled_loglik_equals_scipy_and_rewrite_false_is_the_loglik_as_written():
    x = np.random.default_rng(4).normal(1.0, 2.0, size=25)
    p = {"mu": jnp.asarray(0.7), "sigma": jnp.asarray(1.9)}
    want = stats.norm.logpdf(x, 0.7, 1.9)
    np.testing.assert_allclose(np.asarray(NORMAL.compiled_loglik(p, jnp.asarray(x))), want,
                               rtol=1e-13)  # fmt: skip
    plain = jm.Model(normal_loglik, NORMAL.spec, rewrite=False)
    assert plain.compiled_loglik is normal_loglik and not plain.rewrite
    # the pickled model makes its compiled loglik again, and it is equal
    back = pickle.loads(pickle.dumps(NORMAL))
    assert back.param_names == NORMAL.param_names and back.name == "normal"
    np.testing.assert_allclose(np.asarray(back.compiled_loglik(p, jnp.asarray(x))), want,
                               rtol=1e-13)  # fmt: skip
