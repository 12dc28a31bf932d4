"""Every result pickles and unpickles to an equal, working result: fit, fit_batch, fit_dist (the
families' functions are module-level), bootstrap; a model whose function cannot be pickled is an
error that names the function."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NORMAL, normal_loglik

import jaxmle as jm

RNG = np.random.default_rng(0)
X = RNG.weibull(1.5, size=30) * 2.0


def scaled_loglik(p, x, h):
    return h * jax.scipy.stats.norm.logpdf(x, p["mu"], 1.0)


def _round_trip(res):
    back = pickle.loads(pickle.dumps(res))
    leaves, tree = jax.tree_util.tree_flatten(res)
    back_leaves, back_tree = jax.tree_util.tree_flatten(back)
    assert back_tree == tree or str(back_tree) == str(tree)
    for a, b in zip(leaves, back_leaves):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    return back


def _regression_data(n=40):
    Xd = np.column_stack([np.ones(n), RNG.normal(size=n)])
    return {"X": Xd, "y": (RNG.uniform(size=n) < 0.5).astype(float)}


CASES = {
    "fit_dist weibull": lambda: jm.fit_dist("weibull", X),
    "fit_dist censored batch": lambda: jm.fit_dist(
        "weibull", np.stack([X, X[::-1]]), event=np.ones((2, 30))
    ),
    "fit_dist interval": lambda: jm.fit_dist("lognormal", None, lower=X, upper=X + 1.0),
    "fit_dist pareto": lambda: jm.fit_dist("pareto", X + 1.0),
    "fit_dist categorical": lambda: jm.fit_dist("categorical", np.array([0, 1, 2, 1, 1])),
    "fit_dist multinomial": lambda: jm.fit_dist("multinomial", np.array([[3, 4, 5], [1, 2, 2]])),
    "fit family model": lambda: jm.fit(jm.families.Gamma(), X),
    "fit user model": lambda: jm.fit(NORMAL, X),
    "fit_batch user model": lambda: jm.fit_batch(NORMAL, np.stack([X, X * 2])),
    "fit args": lambda: jm.fit(
        jm.Model(scaled_loglik, {"mu": jm.Real()}), jnp.asarray(X), args=2.0
    ),
    "fit fixed": lambda: jm.fit(NORMAL, X, fixed={"sigma": 1.0}),
    "fit regression": lambda: jm.fit(jm.models.LogisticRegression(2), _regression_data()),
    "fit cluster": lambda: jm.fit(
        jm.models.LogisticRegression(2),
        _regression_data(),
        cov_type="cluster",
        groups=np.repeat(np.arange(8), 5),
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", list(CASES))
def test_fit_results_round_trip(name):
    res = CASES[name]()
    back = _round_trip(res)
    assert back.param_names == res.param_names
    assert back.summary() == res.summary()
    if not back.batch_shape:
        for k, (lo, hi) in res.conf_int(0.9).items():
            np.testing.assert_array_equal(back.conf_int(0.9)[k][0], lo)
            np.testing.assert_array_equal(back.conf_int(0.9)[k][1], hi)


def test_family_functions_are_module_level():
    """The family model itself pickles by its attributes too (its functions by reference),
    and unpickles (through its factory) to the cached model: no new compilation."""
    model = jm.families.Weibull()
    for fn in (model.loglik, model.init_fn, model.simulate, model.data_check):
        pickle.loads(pickle.dumps(fn))
    assert pickle.loads(pickle.dumps(model)) is model
    res = jm.fit_dist("weibull", X)
    assert pickle.loads(pickle.dumps(res)).model is res.model


def test_unpickled_result_refits():
    """Profile intervals refit the model from the result's data: they work after the trip."""
    res = jm.fit_dist("weibull", X)
    back = pickle.loads(pickle.dumps(res))
    a = res.conf_int(method="profile")["shape"]
    b = back.conf_int(method="profile")["shape"]
    np.testing.assert_allclose(b, a, rtol=1e-10)


@pytest.mark.parametrize("kind", ["nonparametric", "parametric"])
def test_bootstrap_round_trip(kind):
    res = jm.fit(jm.families.Exponential(), X)
    boot = jm.bootstrap(res, n_boot=20, key=jax.random.PRNGKey(1), kind=kind)
    back = pickle.loads(pickle.dumps(boot))
    assert type(back) is type(boot) and back.kind == kind
    for field in ("estimate", "replicates", "se"):
        np.testing.assert_array_equal(getattr(back, field)["rate"], getattr(boot, field)["rate"])
    np.testing.assert_array_equal(back.bca["rate"], boot.bca["rate"])
    assert back.fit.summary() == boot.fit.summary()


def test_unpicklable_function_is_named():
    model = jm.Model(lambda p, x: normal_loglik(p, x), NORMAL.spec, name="normal")
    res = jm.fit(model, X)
    with pytest.raises(pickle.PicklingError, match=r"its loglik .*<lambda>.*test_pickle"):
        pickle.dumps(res)

    def nested(p, x):
        return normal_loglik(p, x)

    with pytest.raises(
        pickle.PicklingError, match=r"test_unpicklable_function_is_named.<locals>.nested"
    ):
        pickle.dumps(jm.Model(nested, NORMAL.spec))
