"""The regression models ProbitRegression, NegativeBinomialRegression and WeibullAFT.

Each is fitted in float64 (the repo-root conftest enables x64) and compared with an
independent implementation, computed at test time on the same seeded data:

* ``ProbitRegression`` with ``statsmodels.discrete.discrete_model.Probit`` (Newton on
  statsmodels' analytic score and Hessian);
* ``NegativeBinomialRegression`` with ``statsmodels.discrete.discrete_model.NegativeBinomial``
  (``loglike_method="nb2"``, Newton on its analytic score and Hessian; alpha is listed last);
* ``WeibullAFT`` with ``lifelines.WeibullAFTFitter`` (SLSQP on autograd gradients, tightened
  to ``ftol=1e-14``; standard errors from autograd's exact Hessian; ``rho_``'s intercept is
  ``log(shape)``).

Then: complete separation in the probit ends ``BOUNDARY`` with NaN standard errors, and every
regression model in ``jm.fit_batch`` on a ragged, masked batch equals one-at-a-time fits on
the trimmed data.

Runtime: every compiled fit is keyed by (model object, data shapes), so the models are built
once (``_model``) and every single-dataset fit has one of two sizes, ``N_SHORT`` or ``N_LONG``.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp

import jaxmle as jm

sm = pytest.importorskip("statsmodels.api")
lifelines = pytest.importorskip("lifelines")
pd = pytest.importorskip("pandas")

S = jm.Status
N_SHORT, N_LONG = 80, 120
LENGTHS = [N_SHORT, N_LONG, N_SHORT, N_LONG, N_SHORT, N_LONG]  # a ragged batch, B = 6


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


# --------------------------------------------------------------------------
# seeded datasets (three columns: intercept and two covariates)
# --------------------------------------------------------------------------
def _design(rng, n):
    return np.column_stack([np.ones(n), rng.normal(size=n), rng.binomial(1, 0.4, size=n)])


def _logit_data(n, seed):
    rng = np.random.default_rng(seed)
    X = _design(rng, n)
    p = 1.0 / (1.0 + np.exp(-(X @ np.array([-0.2, 1.0, 0.5]))))
    return {"X": X, "y": (rng.uniform(size=n) < p).astype(float)}


def _probit_data(n, seed):
    rng = np.random.default_rng(seed)
    X = _design(rng, n)
    return {"X": X, "y": (X @ np.array([0.3, -0.8, 0.6]) + rng.normal(size=n) > 0).astype(float)}


def _poisson_data(n, seed):
    rng = np.random.default_rng(seed)
    X = _design(rng, n)
    return {"X": X, "y": rng.poisson(np.exp(X @ np.array([0.5, 0.3, -0.4]))).astype(float)}


def _nb_data(n, seed):
    rng = np.random.default_rng(seed)
    X = _design(rng, n)
    offset = np.log(rng.uniform(0.5, 2.0, size=n))  # log exposure
    mean = np.exp(X @ np.array([0.7, 0.4, -0.5]) + offset)
    alpha = 0.6  # NB2 as a gamma-Poisson mixture: Var = mean + alpha mean^2
    y = rng.poisson(mean * rng.gamma(1.0 / alpha, alpha, size=n)).astype(float)
    return {"X": X, "y": y, "offset": offset}


def _weibull_data(n, seed, censor=True):
    rng = np.random.default_rng(seed)
    X = _design(rng, n)
    t_true = np.exp(X @ np.array([1.0, 0.5, -0.7])) * rng.weibull(1.6, size=n)
    cens = rng.exponential(3.0 * np.median(t_true), size=n) if censor else np.inf
    return {"X": X, "t": np.minimum(t_true, cens), "event": (t_true <= cens).astype(float)}


CASES = {
    "logistic": (jm.models.LogisticRegression, _logit_data),
    "poisson": (jm.models.PoissonRegression, _poisson_data),
    "probit": (jm.models.ProbitRegression, _probit_data),
    "negative_binomial": (jm.models.NegativeBinomialRegression, _nb_data),
    "weibull_aft": (jm.models.WeibullAFT, _weibull_data),
}


@functools.cache
def _model(name):
    return CASES[name][0](3)


def _jnp(data):
    return {k: jnp.asarray(v) for k, v in data.items()}


# --------------------------------------------------------------------------
# 1. probit vs statsmodels Probit
# --------------------------------------------------------------------------
def test_probit_matches_statsmodels():
    data = _probit_data(N_LONG, 1)
    res = jm.fit(_model("probit"), data)
    assert int(res.status) == S.CONVERGED
    # reference: statsmodels 0.15 Probit, Newton on its analytic score and Hessian, tol 1e-12
    ref = sm.Probit(data["y"], data["X"]).fit(method="newton", tol=1e-12, maxiter=100, disp=0)
    assert ref.mle_retvals["converged"]
    assert _rel(res.params["beta"], ref.params) < 1e-6
    assert _rel(res.se["beta"], ref.bse) < 1e-6  # its bse: the inverse analytic Hessian
    assert _rel(res.loglik, ref.llf) < 1e-10
    assert float(res.nobs) == N_LONG


def test_probit_loglik_is_accurate_in_both_tails():
    # log Phi(eta) for y = 1 and log Phi(-eta) for y = 0, both by log_ndtr: no log(1 - Phi)
    X = jnp.ones((4, 1))
    y = jnp.array([1.0, 0.0, 1.0, 0.0])
    ll = _model_probit1().loglik({"beta": jnp.array([40.0])}, {"X": X, "y": y})
    ll_neg = _model_probit1().loglik({"beta": jnp.array([-40.0])}, {"X": X, "y": y})
    # reference: scipy.special.log_ndtr (Cephes): log_ndtr(-40) = -804.6084420137538
    expect = [sp.log_ndtr(40.0), sp.log_ndtr(-40.0)] * 2
    np.testing.assert_allclose(np.asarray(ll), expect, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ll_neg), expect[::-1], rtol=1e-13)


@functools.cache
def _model_probit1():
    return jm.models.ProbitRegression(1)


def test_probit_complete_separation_is_boundary():
    rng = np.random.default_rng(4)
    X = _design(rng, N_SHORT)
    y = (X[:, 1] > 0.1).astype(float)  # y = 1 exactly when x1 > 0.1: complete separation
    res = jm.fit(_model("probit"), {"X": X, "y": y})
    assert int(res.status) == S.BOUNDARY
    at = np.asarray(res.at_limit)
    se = np.asarray(res.se["beta"])
    assert np.any(at) and np.all(np.isnan(se[at]))  # the coefficients at the limit
    # the others: the information of the free coordinates, with the rest at their limit,
    # is all but gone (every probability is 0 or 1 there)
    assert np.all(np.isnan(se[~at]) | (se[~at] > 1e3))
    eta = X @ np.asarray(res.params["beta"])
    # every observation is on its own side of the fitted boundary, far out in the tail
    assert np.all((2 * y - 1) * eta > 2.0)
    assert abs(float(res.loglik)) < 1e-6  # the supremum is 0


# --------------------------------------------------------------------------
# 2. NB2 vs statsmodels NegativeBinomial
# --------------------------------------------------------------------------
def test_negative_binomial_matches_statsmodels():
    data = _nb_data(N_LONG, 2)
    res = jm.fit(_model("negative_binomial"), data)
    assert int(res.status) == S.CONVERGED
    # reference: statsmodels 0.15 NegativeBinomial(loglike_method="nb2", offset=log exposure),
    # Newton on its analytic score and Hessian, tol 1e-12; params = [beta..., alpha], bse of
    # alpha itself (it reparameterizes back from log alpha at the end)
    mod = sm.NegativeBinomial(data["y"], data["X"], loglike_method="nb2", offset=data["offset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its Poisson start may warn
        ref = mod.fit(method="newton", tol=1e-12, maxiter=200, disp=0)
    assert ref.mle_retvals["converged"]
    got = np.append(np.asarray(res.params["beta"]), float(res.params["alpha"]))
    got_se = np.append(np.asarray(res.se["beta"]), float(res.se["alpha"]))
    assert _rel(got, ref.params) < 1e-6
    assert _rel(got_se, ref.bse) < 1e-6  # its bse: the inverse analytic Hessian
    assert _rel(res.loglik, ref.llf) < 1e-10
    # the starting rule is finite and within a factor of 3 of the MLE of alpha
    init = _model("negative_binomial").init_fn(_jnp(data))
    assert np.all(np.isfinite(np.asarray(init["beta"])))
    assert 1 / 3 < float(init["alpha"]) / float(res.params["alpha"]) < 3


# --------------------------------------------------------------------------
# 3. Weibull AFT vs lifelines WeibullAFTFitter
# --------------------------------------------------------------------------
def test_weibull_aft_matches_lifelines():
    data = _weibull_data(N_LONG, 3)
    assert 0.1 < 1 - data["event"].mean() < 0.5  # some, not most, right-censored
    res = jm.fit(_model("weibull_aft"), data)
    assert int(res.status) == S.CONVERGED

    # reference: lifelines 0.30 WeibullAFTFitter, its SLSQP tightened from ftol=1e-10 to 1e-14
    # (at 1e-10 it stops ~3e-6 relative short); lambda_ = exp(X beta) (coefficients Intercept,
    # x1, x2), rho_ = exp(its intercept) = shape; se(coef) from autograd's exact Hessian
    df = pd.DataFrame({"x1": data["X"][:, 1], "x2": data["X"][:, 2]})
    df["t"], df["e"] = data["t"], data["event"]
    aft = lifelines.WeibullAFTFitter()
    aft.fit(df, duration_col="t", event_col="e", fit_options={"ftol": 1e-14})
    coef, se = aft.summary["coef"], aft.summary["se(coef)"]
    lam = [("lambda_", "Intercept"), ("lambda_", "x1"), ("lambda_", "x2")]
    rho = ("rho_", "Intercept")

    assert _rel(res.params["beta"], coef[lam].to_numpy()) < 1e-6
    assert _rel(np.log(float(res.params["shape"])), coef[rho]) < 1e-6
    assert _rel(res.se["beta"], se[lam].to_numpy()) < 1e-5
    # lifelines' se is that of log(shape); jaxmle's of shape: se(shape) = shape se(log shape)
    assert _rel(float(res.se["shape"]) / float(res.params["shape"]), se[rho]) < 1e-5
    assert _rel(res.loglik, aft.log_likelihood_) < 1e-10


def test_weibull_aft_loglik_and_starting_rule():
    model = _model("weibull_aft")
    data = _weibull_data(N_LONG, 5, censor=False)
    assert np.all(data["event"] == 1)
    p = {"beta": jnp.array([0.9, 0.4, -0.6]), "shape": jnp.asarray(1.4)}
    ll = np.asarray(model.loglik(p, _jnp(data)))
    # reference: scipy.stats.weibull_min.logpdf / logsf with scale exp(X beta)
    from scipy.stats import weibull_min

    scale = np.exp(data["X"] @ np.asarray(p["beta"]))
    np.testing.assert_allclose(ll, weibull_min.logpdf(data["t"], 1.4, scale=scale), rtol=1e-12)
    no_event = {"X": data["X"], "t": data["t"]}  # "event" left out: all observed
    np.testing.assert_allclose(np.asarray(model.loglik(p, _jnp(no_event))), ll, rtol=1e-14)
    censored = dict(data, event=np.zeros_like(data["t"]))
    np.testing.assert_allclose(
        np.asarray(model.loglik(p, _jnp(censored))),
        weibull_min.logsf(data["t"], 1.4, scale=scale),
        rtol=1e-12,
    )
    # without censoring the Gumbel-moment start lands near the MLE
    res = jm.fit(model, data)
    init = model.init_fn(_jnp(data))
    assert abs(float(init["shape"]) / float(res.params["shape"]) - 1) < 0.2
    # (a starting rule, not an estimator: near the MLE is all it promises)
    np.testing.assert_allclose(np.asarray(init["beta"]), np.asarray(res.params["beta"]), atol=0.2)


# --------------------------------------------------------------------------
# 4. ragged batches: fit_batch with a mask == one-at-a-time fits on trimmed data
# --------------------------------------------------------------------------
def _ragged(name):
    """B datasets of LENGTHS rows, padded to N_LONG with junk rows that mask= leaves out.

    The junk is finite and in the support (the data checks look at every row) but unlike the
    real data, so a fit that used it would differ.
    """
    make = CASES[name][1]
    rng = np.random.default_rng(99)
    trimmed = [make(n, 10 + i) for i, n in enumerate(LENGTHS)]
    padded = {k: [] for k in trimmed[0]}
    mask = np.zeros((len(LENGTHS), N_LONG), bool)
    for i, (d, n) in enumerate(zip(trimmed, LENGTHS)):
        mask[i, :n] = True
        junk = make(N_LONG - n, 1000 + i) if n < N_LONG else {k: v[:0] for k, v in d.items()}
        for k, v in d.items():
            pad = junk[k]
            if k == "X":
                pad = pad * 3.0
            elif k == "y" and name in ("logistic", "probit"):
                pad = 1.0 - pad
            elif k == "y":
                pad = pad + rng.integers(20, 40, size=pad.shape)
            elif k == "t":
                pad = pad * 50.0
            padded[k].append(np.concatenate([v, pad]))
    return trimmed, {k: np.stack(v) for k, v in padded.items()}, mask


@pytest.mark.parametrize("name", list(CASES))
def test_ragged_batch_equals_one_at_a_time(name):
    model = _model(name)
    trimmed, padded, mask = _ragged(name)
    batch = jm.fit_batch(model, padded, mask=mask)
    assert np.asarray(batch.status).tolist() == [S.CONVERGED] * len(LENGTHS)
    np.testing.assert_array_equal(np.asarray(batch.nobs), LENGTHS)
    for i, d in enumerate(trimmed):
        one = jm.fit(model, d)
        b = batch[i]
        assert int(one.status) == S.CONVERGED, (name, i)
        # the starting rule sees masked rows as NaN, so both runs start at the same point
        # and agree to rounding
        for key in model.spec:
            np.testing.assert_allclose(
                np.asarray(b.params[key]), np.asarray(one.params[key]), rtol=1e-9, atol=1e-12
            )
            np.testing.assert_allclose(
                np.asarray(b.se[key]), np.asarray(one.se[key]), rtol=1e-9, atol=1e-12
            )
        assert math.isclose(float(b.loglik), float(one.loglik), rel_tol=1e-12)
    # the padding matters: fitting it too (no mask) gives a different answer
    unmasked = jm.fit(model, {k: v[0] for k, v in padded.items()})
    assert not math.isclose(float(unmasked.loglik), float(batch[0].loglik), rel_tol=1e-3)


def test_logistic_outcomes_may_be_integers_or_booleans():
    """0/1 outcomes as floats, integers or booleans give the same fit (the logit-scale
    Bernoulli loglik casts them to the floating dtype before differentiating)."""
    rng = np.random.default_rng(3)
    X = np.stack([np.ones(40), rng.normal(size=40)], axis=1)
    y = (rng.uniform(size=40) < 0.5).astype(np.int64)
    model = jm.models.LogisticRegression(2)
    want = jm.fit(model, {"X": X, "y": y.astype(float)})
    assert jm.Status(int(want.status)) == jm.Status.CONVERGED
    for outcome in (y, jnp.asarray(y, jnp.int32), y.astype(bool)):
        got = jm.fit(model, {"X": X, "y": outcome})
        np.testing.assert_array_equal(np.asarray(got.params["beta"]), want.params["beta"])
        np.testing.assert_array_equal(np.asarray(got.se["beta"]), want.se["beta"])
