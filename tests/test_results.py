"""FitResult: its fields against closed forms and scipy, the status properties, the
information criteria, the intervals, the columns (``to_dict``, ``to_dataframe``), the summary
table's numbers, indexing a batch, and the result as a pytree. (Pickling: test_pickle.py.)

The normal model's maximum-likelihood estimate is in closed form: the mean and the root mean
squared deviation (divisor n), with standard errors ``sigma / sqrt(n)`` and
``sigma / sqrt(2 n)`` and no correlation (the observed information at the estimate)."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import EXPO, NORMAL, UNIT_NORMAL, normal_data
from scipy import stats

import jaxmle as jm

X = normal_data(40, seed=3)
XB = normal_data(10, seed=1, batch=3)
Z95 = stats.norm.ppf(0.975)


def _closed_form(x):
    n = x.shape[-1]
    mu = x.mean(axis=-1)
    sigma = x.std(axis=-1)
    return {
        "mu": mu,
        "sigma": sigma,
        "se_mu": sigma / np.sqrt(n),
        "se_sigma": sigma / np.sqrt(2 * n),
        "loglik": stats.norm.logpdf(x, mu[..., None], sigma[..., None]).sum(axis=-1),
    }


@pytest.fixture(scope="module")
def res():
    return jm.fit(NORMAL, jnp.asarray(X))


@pytest.fixture(scope="module")
def batch():
    return jm.fit_batch(NORMAL, jnp.asarray(XB))


# --------------------------------------------------------------------------
# fields and status properties
# --------------------------------------------------------------------------
def test_fields_of_a_fit_against_the_closed_form(res):
    want = _closed_form(X)
    assert res.batch_shape == () and res.param_names == ("mu", "sigma")
    assert bool(res.converged) and res.status_names == "CONVERGED"
    assert int(res.status) == jm.Status.CONVERGED
    np.testing.assert_allclose(float(res.params["mu"]), want["mu"], rtol=1e-12)
    np.testing.assert_allclose(float(res.params["sigma"]), want["sigma"], rtol=1e-10)
    np.testing.assert_allclose(float(res.se["mu"]), want["se_mu"], rtol=1e-9)
    np.testing.assert_allclose(float(res.se["sigma"]), want["se_sigma"], rtol=1e-9)
    # cov: rows in param_names order, the variances on the diagonal, no correlation
    cov = np.asarray(res.cov)
    np.testing.assert_allclose(np.diag(cov), [want["se_mu"] ** 2, want["se_sigma"] ** 2],
                               rtol=1e-9)  # fmt: skip
    assert abs(cov[0, 1]) < 1e-10 * want["se_mu"] * want["se_sigma"] and cov[0, 1] == cov[1, 0]
    np.testing.assert_allclose(float(res.loglik), want["loglik"], rtol=1e-13)
    assert float(res.nobs) == 40.0 and res.n_params == 2
    # the free coordinates: mu and log sigma
    np.testing.assert_allclose(np.asarray(res.unconstrained),
                               [want["mu"], np.log(want["sigma"])], rtol=1e-10)  # fmt: skip
    assert not np.any(np.asarray(res.at_limit)) and bool(res.info_ok)
    assert res.se_computed and res.cov_type == "observed" and res.information == "observed"


def test_batch_fields_and_indexing(batch):
    want = _closed_form(XB)
    assert batch.batch_shape == (3,) and len(batch) == 3
    assert batch.status_names.tolist() == ["CONVERGED"] * 3
    assert np.asarray(batch.converged).tolist() == [True] * 3
    np.testing.assert_allclose(np.asarray(batch.params["mu"]), want["mu"], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(batch.params["sigma"]), want["sigma"], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(batch.se["sigma"]), want["se_sigma"], rtol=1e-9)
    np.testing.assert_allclose(np.asarray(batch.loglik), want["loglik"], rtol=1e-13)
    # batch[i]: every field of dataset i, as a single result
    one = batch[1]
    assert one.batch_shape == () and one.status_names == "CONVERGED"
    for a, b in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(batch)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[1])
    assert one.model is batch.model


def test_a_single_result_has_no_length_and_no_index(res):
    with pytest.raises(TypeError, match="len\\(\\) of a single FitResult"):
        len(res)
    with pytest.raises(TypeError, match="cannot be indexed"):
        res[0]


def test_batch_status_names():
    model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x, {"rate": jm.Positive()})
    batch = jm.fit_batch(model, jnp.array([[2.0, 4.0], [1.0, 3.0], [0.0, 0.0]]))
    assert batch.status_names[:3].tolist() == ["CONVERGED", "CONVERGED", "BOUNDARY"]
    assert batch[2].status_names == "BOUNDARY"
    assert np.asarray(batch.status).tolist() == [0, 0, int(jm.Status.BOUNDARY)]


def test_fit_result_is_a_pytree_of_arrays():
    model = UNIT_NORMAL
    res = jm.fit(model, jax.numpy.array([1.0, 2.0]))
    leaves = jax.tree_util.tree_leaves(res)
    assert leaves and all(isinstance(x, jax.Array) for x in leaves)


def test_repr(res, batch):
    want = _closed_form(X)
    assert repr(res) == (
        f"FitResult(status=CONVERGED, params={{'mu': {round(want['mu'], 6)}, "
        f"'sigma': {round(want['sigma'], 6)}}})"
    )
    assert repr(batch) == "FitResult(batch of 3: 3 converged)"


# --------------------------------------------------------------------------
# information criteria
# --------------------------------------------------------------------------
def test_information_criteria_against_their_definitions(res, batch):
    ll = _closed_form(X)["loglik"]
    k, n = 2, 40
    np.testing.assert_allclose(float(res.aic), 2 * k - 2 * ll, rtol=1e-13)
    np.testing.assert_allclose(float(res.bic), k * math.log(n) - 2 * ll, rtol=1e-13)
    np.testing.assert_allclose(float(res.aicc), 2 * k - 2 * ll + 2 * k * (k + 1) / (n - k - 1),
                               rtol=1e-13)  # fmt: skip
    llb = _closed_form(XB)["loglik"]
    np.testing.assert_allclose(np.asarray(batch.bic), k * math.log(10) - 2 * llb, rtol=1e-13)
    # AICc needs nobs > k + 1: three waits and one rate (k = 1) have it, two do not
    three = jm.fit(EXPO, jnp.array([1.0, 2.0, 3.0]))
    ll3 = stats.expon.logpdf([1.0, 2.0, 3.0], scale=2.0).sum()
    np.testing.assert_allclose(float(three.aicc), 2 - 2 * ll3 + 4 / 1, rtol=1e-12)
    two = jm.fit(EXPO, jnp.array([1.0, 3.0]))
    assert math.isnan(float(two.aicc)) and math.isfinite(float(two.aic))


# --------------------------------------------------------------------------
# intervals
# --------------------------------------------------------------------------
@pytest.mark.parametrize("level", [0.95, 0.8])
def test_conf_int_against_the_closed_form(res, level):
    w = _closed_form(X)
    z = stats.norm.ppf(0.5 + level / 2)
    wald = res.conf_int(level, method="wald")
    np.testing.assert_allclose(np.asarray(wald["mu"]), [w["mu"] - z * w["se_mu"],
                                                        w["mu"] + z * w["se_mu"]], rtol=1e-10)  # fmt: skip
    np.testing.assert_allclose(
        np.asarray(wald["sigma"]),
        [w["sigma"] - z * w["se_sigma"], w["sigma"] + z * w["se_sigma"]],
        rtol=1e-10,
    )
    # on the link scale: the identity for mu (the Wald interval), log for sigma, whose
    # standard error there is se / sigma = 1 / sqrt(2 n)
    tr = res.conf_int(level)
    np.testing.assert_allclose(np.asarray(tr["mu"]), np.asarray(wald["mu"]), rtol=1e-14)
    half = z / math.sqrt(2 * 40)
    np.testing.assert_allclose(
        np.asarray(tr["sigma"]),
        [w["sigma"] * math.exp(-half), w["sigma"] * math.exp(half)],
        rtol=1e-9,
    )


def test_batch_conf_int_is_each_datasets(batch):
    ci = batch.conf_int(0.9)
    for i in range(3):
        one = batch[i].conf_int(0.9)
        for key in ("mu", "sigma"):
            np.testing.assert_allclose(np.asarray(ci[key])[:, i], np.asarray(one[key]),
                                       rtol=1e-14)  # fmt: skip


# --------------------------------------------------------------------------
# columns and the summary table
# --------------------------------------------------------------------------
def test_to_dict_columns(res, batch):
    cols = res.to_dict(level=0.9, method="wald")
    assert list(cols) == ["mu", "mu_se", "mu_lo", "mu_hi", "sigma", "sigma_se", "sigma_lo",
                          "sigma_hi", "loglik", "nobs", "status"]  # fmt: skip
    w = _closed_form(X)
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(cols["mu"], w["mu"], rtol=1e-12)
    np.testing.assert_allclose(cols["sigma_se"], w["se_sigma"], rtol=1e-9)
    np.testing.assert_allclose(cols["sigma_lo"], w["sigma"] - z * w["se_sigma"], rtol=1e-9)
    np.testing.assert_allclose(cols["mu_hi"], w["mu"] + z * w["se_mu"], rtol=1e-10)
    np.testing.assert_allclose(cols["loglik"], w["loglik"], rtol=1e-13)
    assert cols["nobs"] == 40.0 and cols["status"] == "CONVERGED"
    assert all(isinstance(v, np.ndarray) for v in cols.values())
    # the default: the intervals of conf_int(0.95), on the link scale
    ci = res.conf_int()["sigma"]
    default = res.to_dict()
    assert (default["sigma_lo"], default["sigma_hi"]) == (float(ci[0]), float(ci[1]))
    # a batch: one entry per dataset in every column
    bcols = batch.to_dict()
    assert all(v.shape == (3,) for v in bcols.values())
    np.testing.assert_allclose(bcols["mu"], _closed_form(XB)["mu"], rtol=1e-12)
    assert bcols["status"].tolist() == ["CONVERGED"] * 3


def test_to_dataframe_is_to_dict_as_rows(res, batch):
    pytest.importorskip("pandas")
    one = res.to_dataframe(level=0.9, method="wald")
    cols = res.to_dict(level=0.9, method="wald")
    assert list(one.columns) == list(cols) and len(one) == 1
    for key, val in cols.items():
        assert one[key].tolist() == [val.item()]
    rows = batch.to_dataframe()
    assert len(rows) == 3
    for key, val in batch.to_dict().items():
        assert rows[key].tolist() == val.tolist()


def _row(table, name):
    """The numbers of the summary table's row of ``name`` (a trailing ``*`` dropped)."""
    (line,) = [ln for ln in table.splitlines() if re.match(rf"{name}\s", ln)]
    return [float(tok.rstrip("*")) for tok in line.split()[1:]]


def test_summary_numbers_against_scipy(res):
    w = _closed_form(X)
    # printed to 6 significant digits (estimates, intervals), 4 (z) and 3 (p)
    est, se, z, p, lo, hi = _row(res.summary(), "mu")
    assert est == pytest.approx(w["mu"], rel=1e-5) and se == pytest.approx(w["se_mu"], rel=1e-5)
    assert z == pytest.approx(w["mu"] / w["se_mu"], rel=1e-3)
    assert p == pytest.approx(2 * stats.norm.sf(w["mu"] / w["se_mu"]), rel=5e-3)
    assert lo == pytest.approx(w["mu"] - Z95 * w["se_mu"], rel=1e-5)
    assert hi == pytest.approx(w["mu"] + Z95 * w["se_mu"], rel=1e-5)
    # sigma: no null inside its support, so no z or p
    assert len(_row(res.summary(), "sigma")) == 4
    # with nulls: mu against 2 on its own scale, sigma against 1.5 on the log scale
    table = res.summary(null={"mu": 2.0, "sigma": 1.5})
    z_mu, p_mu = _row(table, "mu")[2:4]
    assert z_mu == pytest.approx((w["mu"] - 2.0) / w["se_mu"], rel=1e-3)
    assert p_mu == pytest.approx(2 * stats.norm.sf(abs(z_mu)), rel=5e-3)
    z_log = (math.log(w["sigma"]) - math.log(1.5)) / (w["se_sigma"] / w["sigma"])
    z_s, p_s = _row(table, "sigma")[2:4]
    assert z_s == pytest.approx(z_log, rel=1e-3)
    assert p_s == pytest.approx(2 * stats.norm.sf(abs(z_log)), rel=5e-3)
    assert "H0: sigma = 1.5" in table


def test_summary_of_a_batch_counts_and_quantiles(batch):
    table = batch.summary()
    assert table.splitlines()[0] == "jaxmle batch fit: normal, 3 datasets"
    assert "status: 3 converged" in table
    q0, q05, q5, q95, q1, median_se = _row(table, "mu")
    mus = _closed_form(XB)["mu"]
    np.testing.assert_allclose([q0, q5, q1], [mus.min(), np.median(mus), mus.max()], rtol=1e-5)
    np.testing.assert_allclose(q05, np.quantile(mus, 0.05), rtol=1e-5)
    np.testing.assert_allclose(median_se, np.median(_closed_form(XB)["se_mu"]), rtol=1e-5)


def test_a_fit_without_standard_errors_says_so():
    res = jm.fit(NORMAL, jnp.asarray(X), se=False)
    assert res.se_computed is False
    np.testing.assert_allclose(float(res.params["mu"]), _closed_form(X)["mu"], rtol=1e-12)
    assert np.all(np.isnan(np.asarray(res.cov))) and math.isnan(float(res.se["sigma"]))
    assert re.search(r"information positive definite:\s+not computed", res.summary())
