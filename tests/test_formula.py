"""`jm.fit_formula` against statsmodels' formula API (smf.logit, smf.poisson, smf.ols) on a model
with a categorical term and an interaction: the same coefficient names, estimates, standard
errors and log-likelihood."""

import pickle

import numpy as np
import pytest

import jaxmle as jm

pd = pytest.importorskip("pandas")
pytest.importorskip("formulaic")
smf = pytest.importorskip("statsmodels.formula.api")

FORMULA = "y ~ C(g) + x1 + x1:x2"
NAMES = ["Intercept", "C(g)[T.b]", "C(g)[T.c]", "x1", "x1:x2"]


def _table(kind, n=300, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], size=n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    eta = 0.3 + 0.4 * (g == "b") - 0.5 * (g == "c") + 0.7 * x1 - 0.3 * x1 * x2
    if kind == "logistic":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    elif kind == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = eta + rng.normal(size=n)
    return pd.DataFrame({"y": y, "g": g, "x1": x1, "x2": x2})


def _compare(res, ref, se_scale=1.0):
    assert list(res.param_names[: len(NAMES)]) == NAMES == list(ref.params.index)
    for name in NAMES:
        np.testing.assert_allclose(float(res.params[name]), ref.params[name], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(float(res.se[name]), ref.bse[name] * se_scale, rtol=1e-5)
    np.testing.assert_allclose(float(res.loglik), ref.llf, rtol=1e-9)


def test_logistic_equals_smf_logit():
    df = _table("logistic")
    res = jm.fit_formula(FORMULA, df, "logistic")
    ref = smf.logit(FORMULA, df).fit(disp=0, tol=1e-12)
    _compare(res, ref)
    # the names everywhere: summary, intervals, the data frame, the covariance's rows
    assert "C(g)[T.b]" in res.summary() and "x1:x2" in res.summary()
    lo, hi = res.conf_int(0.95)["x1:x2"]
    np.testing.assert_allclose([lo, hi], ref.conf_int().loc["x1:x2"], rtol=1e-5)
    frame = res.to_dataframe()
    assert {"Intercept", "C(g)[T.b]_se", "x1:x2_lo"} <= set(frame.columns)
    cov = pd.DataFrame(np.asarray(res.cov), index=res.param_names, columns=res.param_names)
    np.testing.assert_allclose(cov.loc[NAMES, NAMES], ref.cov_params().loc[NAMES, NAMES], rtol=1e-5)
    back = pickle.loads(pickle.dumps(res))  # the named model pickles too
    assert back.param_names == res.param_names and back.summary() == res.summary()


def test_poisson_equals_smf_poisson():
    df = _table("poisson")
    res = jm.fit_formula(FORMULA, df, "poisson")
    _compare(res, smf.poisson(FORMULA, df).fit(disp=0, tol=1e-12))


def test_linear_equals_smf_ols():
    """OLS divides the RSS by n - p: with df_correction=True the SEs are OLS's; the MLE's are
    smaller by sqrt((n - p) / n) (docs/conventions.md)."""
    df = _table("linear", n=60)
    ref = smf.ols(FORMULA, df).fit()
    n, p = 60, len(NAMES)
    ols = jm.fit_formula(FORMULA, df, "linear", df_correction=True)
    _compare(ols, ref)
    mle = jm.fit_formula(FORMULA, df, "linear")
    _compare(mle, ref, se_scale=np.sqrt((n - p) / n))
    assert float(ols.df_resid) == n - p


def test_by_groups_and_weibull_aft():
    df = _table("logistic", n=400)
    df["site"] = np.repeat(["n", "s"], 200)
    out = jm.fit_formula("y ~ x1 + C(g)", df, "logistic", by="site")
    assert out["site"].tolist() == ["n", "s"]
    for site, row in zip(["n", "s"], out.itertuples(index=False)):
        alone = jm.fit_formula("y ~ x1 + C(g)", df[df["site"] == site], "logistic")
        np.testing.assert_allclose(row.x1, float(alone.params["x1"]), rtol=1e-8)
    assert "C(g)[T.c]_se" in out.columns

    rng = np.random.default_rng(4)
    life = pd.DataFrame({"x": rng.normal(size=80)})
    t = np.exp(1.0 + 0.5 * life["x"]) * rng.weibull(1.5, size=80)
    life["t"], life["failed"] = np.minimum(t, 4.0), (t <= 4.0).astype(int)
    res = jm.fit_formula("t ~ x", life, "weibull_aft", event="failed")
    X = np.column_stack([np.ones(80), life["x"]])
    ref = jm.fit(jm.models.WeibullAFT(2), {"X": X, "t": life["t"].to_numpy(),
                                           "event": life["failed"].to_numpy()})  # fmt: skip
    np.testing.assert_allclose(float(res.params["x"]), float(ref.params["beta"][1]), rtol=1e-8)
    np.testing.assert_allclose(float(res.se["shape"]), float(ref.se["shape"]), rtol=1e-8)


def test_formula_mistakes():
    df = _table("logistic", n=30)
    with pytest.raises(ValueError, match="unknown model 'logit'.*logistic"):
        jm.fit_formula(FORMULA, df, "logit")
    with pytest.raises(ValueError, match="needs a response"):
        jm.fit_formula("C(g) + x1", df, "logistic")
    with pytest.raises(ValueError, match="must be one numeric column"):
        jm.fit_formula("g ~ x1", df, "logistic")


@pytest.mark.parametrize("kind", ["probit", "negative_binomial"])
def test_named_coefficients_equal_the_vector_model(kind):
    """The formula's model is the regression model with its coefficients named: the same fit
    as jm.models' on the same design (here with weights, and a frame with a repeated index)."""
    df = _table("poisson", n=120)
    if kind == "probit":
        df["y"] = (df["y"] > 1).astype(float)
    df["w"] = np.random.default_rng(5).integers(1, 3, size=120)
    df.index = np.repeat(np.arange(60), 2)
    res = jm.fit_formula("y ~ C(g) + x1", df, kind, weights="w")
    X = np.column_stack([np.ones(120), df.g == "b", df.g == "c", df.x1]).astype(float)
    base = {
        "probit": jm.models.ProbitRegression,
        "negative_binomial": jm.models.NegativeBinomialRegression,
    }
    ref = jm.fit(base[kind](4), {"X": X, "y": df["y"].to_numpy()}, weights=df["w"].to_numpy())
    names = ["Intercept", "C(g)[T.b]", "C(g)[T.c]", "x1"]
    np.testing.assert_allclose([float(res.params[n]) for n in names], ref.params["beta"], rtol=1e-8)
    np.testing.assert_allclose([float(res.se[n]) for n in names], ref.se["beta"], rtol=1e-7)
    np.testing.assert_allclose(np.asarray(res.cov), np.asarray(ref.cov), rtol=1e-7, atol=1e-12)
    if kind == "negative_binomial":
        np.testing.assert_allclose(
            float(res.params["alpha"]), float(ref.params["alpha"]), rtol=1e-8
        )
