"""Goodness of fit (jaxmle.distributions.gof): KS / CvM / AD statistics against scipy and the
textbook formulas, batches against per-dataset loops, and compare_families' AIC ranking.

Compilation dominates the runtime: the single-dataset fits share one shape (n = 2000, one
compilation per family, reused by the reference fit_dist calls), the batch fits another; the
statistics themselves are plain jax.numpy (no fit needed for the edge cases, which use a
stand-in result with the fitted parameters).
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import jaxmle as jm
from jaxmle.distributions import fit_dist
from jaxmle.distributions.gof import compare_families, format_table, gof_statistics

N = 2000
SINGLE_FAMILIES = ("normal", "gamma", "weibull")
BATCH_FAMILIES = ("normal", "lognormal")
LENGTHS = (200, 150, 120, 200, 90, 170, 200, 0)  # ragged batch, NaN-padded to 200


def _scipy_dist(family, p):
    """The scipy.stats frozen distribution of a jaxmle family (table in jaxmle.distributions)."""
    p = {k: float(v) for k, v in p.items()}
    return {
        "normal": lambda: st.norm(p["loc"], p["scale"]),
        "lognormal": lambda: st.lognorm(p["sigma"], scale=np.exp(p["mu"])),
        "gamma": lambda: st.gamma(p["shape"], scale=p["scale"]),
        "weibull": lambda: st.weibull_min(p["shape"], scale=p["scale"]),
        "exponential": lambda: st.expon(scale=1.0 / p["rate"]),
        "pareto": lambda: st.pareto(p["shape"], scale=p["scale"]),
    }[family]()


def _ad_formula(x, dist, use_logs=False):
    """Textbook A^2 = -n - mean((2i-1)(log F(x_i) + log(1 - F(x_{n+1-i})))), in numpy."""
    xs = np.sort(np.asarray(x, float))
    n = len(xs)
    i = np.arange(1, n + 1)
    if use_logs:  # scipy's own logcdf / logsf, accurate in the tails
        lf, ls = dist.logcdf(xs), dist.logsf(xs)
    else:
        f = dist.cdf(xs)
        with np.errstate(divide="ignore"):  # F = 0 or 1: log 0 = -inf, A^2 = inf
            lf, ls = np.log(f), np.log1p(-f)
    return -n - np.mean((2 * i - 1) * (lf + ls[::-1]))


def _refs(x, dist):
    return {
        "ks": st.kstest(x, dist.cdf).statistic,
        "cvm": st.cramervonmises(x, dist.cdf).statistic,
        "ad": _ad_formula(x, dist),
    }


def _stand_in(params):
    """Something with .params, all gof_statistics reads from a FitResult."""
    return types.SimpleNamespace(params={k: jnp.asarray(v) for k, v in params.items()})


@pytest.fixture(scope="module")
def gamma_x():
    return np.random.default_rng(20240601).gamma(2.5, 1.5, size=N)


@pytest.fixture(scope="module")
def rows(gamma_x):
    return compare_families(gamma_x, families=SINGLE_FAMILIES)


@pytest.fixture(scope="module")
def batch_x():
    rng = np.random.default_rng(7)
    xb = np.full((len(LENGTHS), max(LENGTHS)), np.nan)
    for b, n in enumerate(LENGTHS):
        # datasets 0-2 log-normal (strongly skewed), 3-6 normal far from zero, 7 empty
        xb[b, :n] = rng.lognormal(0.0, 0.8, n) if b < 3 else rng.normal(10.0, 2.0, n)
    xb[1, 10], xb[1, 149] = xb[1, 149], np.nan  # a gap inside a dataset, not just at the end
    xb[6, 5] = -1.0  # outside the log-normal's support: its loglik is -inf (status NONFINITE)
    return xb


@pytest.fixture(scope="module")
def batch_table(batch_x):
    return compare_families(batch_x, families=BATCH_FAMILIES, nan_policy="omit")


# -- single dataset: the statistics against scipy ----------------------------------------------
@pytest.mark.parametrize("family", SINGLE_FAMILIES)
def test_statistics_match_scipy(family, rows, gamma_x):
    row = next(r for r in rows if r["family"] == family)
    res = row["result"]
    assert row["status"] == "CONVERGED"
    got = gof_statistics(family, res, gamma_x)
    assert set(got) == {"ks", "cvm", "ad"}
    assert all(jnp.shape(v) == () for v in got.values())
    ref = _refs(gamma_x, _scipy_dist(family, res.params))
    # scipy.stats.kstest / cramervonmises with the fitted CDF; AD by the textbook formula
    assert abs(float(got["ks"]) - ref["ks"]) < 1e-10
    assert float(got["cvm"]) == pytest.approx(ref["cvm"], rel=1e-9, abs=1e-12)
    assert float(got["ad"]) == pytest.approx(ref["ad"], rel=1e-9, abs=1e-10)
    # compare_families' rows carry the same statistics
    for k in ("ks", "cvm", "ad"):
        assert row[k] == pytest.approx(float(got[k]), rel=1e-12, abs=1e-15)
    # a distribution object works as the family, and a Mapping as the data
    got2 = gof_statistics(jm.distributions.get_distribution(family), res, {"x": gamma_x})
    assert float(got2["ad"]) == pytest.approx(float(got["ad"]), rel=1e-12)


def test_statistics_rank_the_true_family_first(rows):
    # gamma data: the gamma fit is much closer than the normal fit on every statistic
    by = {r["family"]: r for r in rows}
    for k in ("ks", "cvm", "ad"):
        assert by["gamma"][k] < by["normal"][k]
    assert by["normal"]["ad"] > 10 * by["gamma"]["ad"]


def test_ad_stays_finite_in_the_far_tail(gamma_x):
    # One observation ~30 fitted scales above the mean: F rounds to 1 in float64, so the naive
    # formula is inf, while logsf keeps A^2 finite; the reference uses scipy's norm.logsf.
    x = np.array(gamma_x)
    x[0] = x.mean() + 60 * x.std()
    res = fit_dist("normal", x)  # same shape and family as the rows fixture: no new compilation
    dist = _scipy_dist("normal", res.params)
    assert dist.cdf(x[0]) == 1.0
    assert np.isinf(_ad_formula(x, dist))
    got = gof_statistics("normal", res, x)
    ref = _ad_formula(x, dist, use_logs=True)
    assert np.isfinite(ref) and ref > 100
    assert float(got["ad"]) == pytest.approx(ref, rel=1e-9)
    assert abs(float(got["ks"]) - st.kstest(x, dist.cdf).statistic) < 1e-10


def test_mask_nan_and_event_all_observed(gamma_x):
    p = {"shape": 2.4, "scale": 1.6}
    res = _stand_in(p)
    dist = _scipy_dist("gamma", p)
    x = gamma_x[:300].copy()
    mask = np.ones(300, bool)
    mask[::7] = False
    ref = _refs(x[mask], dist)
    masked = gof_statistics("gamma", res, x, mask=mask)
    x_nan = np.where(mask, x, np.nan)
    as_nan = gof_statistics("gamma", res, x_nan, event=np.ones(300))  # all events: complete
    for k in ("ks", "cvm", "ad"):
        assert float(masked[k]) == pytest.approx(ref[k], rel=1e-10)
        assert float(as_nan[k]) == pytest.approx(ref[k], rel=1e-10)
    # censored observations that are masked out do not count
    event = np.where(mask, 1, 0)
    out = gof_statistics("gamma", res, x, mask=mask, event=event)
    assert float(out["ks"]) == pytest.approx(ref["ks"], rel=1e-10)


def _refs_pareto(x, shape):
    # the fitted scale is min(x), so F(x_(1)) = 0 and A^2 = inf (log 0 in the textbook formula)
    dist = _scipy_dist("pareto", {"shape": shape, "scale": x.min()})
    return {
        "ks": st.kstest(x, dist.cdf).statistic,
        "cvm": st.cramervonmises(x, dist.cdf).statistic,
    }


def test_pareto_uses_the_smallest_observation_as_scale():
    x = np.array([3.2, 1.5, 8.0, 2.2, 1.9, 4.4, np.nan, 2.7])
    xb = np.stack([x, x * 2.0])
    mask = np.ones_like(xb, bool)
    mask[0, 1] = False  # the first dataset's minimum is masked out
    got = gof_statistics("pareto", _stand_in({"shape": [1.7, 1.2]}), xb, mask=mask)
    for b, shape in enumerate((1.7, 1.2)):
        keep = mask[b] & np.isfinite(xb[b])
        ref = _refs_pareto(xb[b][keep], shape)
        assert float(got["ks"][b]) == pytest.approx(ref["ks"], rel=1e-10)
        assert float(got["cvm"][b]) == pytest.approx(ref["cvm"], rel=1e-10)
        assert float(got["ad"][b]) == np.inf


def test_empty_dataset_gives_nan_and_jit_works():
    res = _stand_in({"loc": [0.0, 0.5], "scale": [1.0, 2.0]})
    xb = np.array([[np.nan, np.nan, np.nan], [0.1, -1.0, 2.0]])
    out = gof_statistics("normal", res, xb)
    assert all(np.isnan(float(v[0])) for v in out.values())
    ref = _refs(xb[1], st.norm(0.5, 2.0))
    assert float(out["cvm"][1]) == pytest.approx(ref["cvm"], rel=1e-10)
    jitted = jax.jit(lambda x, m: gof_statistics("normal", res, x, mask=m))(
        jnp.asarray(xb), jnp.ones(xb.shape, bool)
    )
    for k in ("ks", "cvm", "ad"):
        np.testing.assert_allclose(jitted[k], out[k], rtol=1e-12)


# -- batches --------------------------------------------------------------------------------
@pytest.mark.parametrize("family", BATCH_FAMILIES)
def test_batch_equals_per_dataset_loop(family, batch_table, batch_x):
    res = batch_table["results"][family]
    got = gof_statistics(family, res, batch_x)
    assert got["ks"].shape == (len(LENGTHS),)
    i = batch_table["families"].index(family)
    for b, n in enumerate(LENGTHS[:-1]):
        xb = batch_x[b][np.isfinite(batch_x[b])]
        assert len(xb) == n - (1 if b == 1 else 0)
        # the single-dataset path on dataset b alone (kept NaN-padded: one compilation)
        one = gof_statistics(family, res[b], batch_x[b])
        if (family, b) == ("lognormal", 6):
            # a negative observation: the dataset is INVALID_DATA, with no estimates and no
            # statistics
            assert int(res[b].status) == jm.Status.INVALID_DATA
            assert all(np.isnan(float(got[k][b])) for k in ("ks", "cvm", "ad"))
            continue
        ref = _refs(xb, _scipy_dist(family, res[b].params))
        for k in ("ks", "cvm", "ad"):
            assert batch_table[k][i, b] == pytest.approx(float(got[k][b]), rel=1e-12)
            assert float(got[k][b]) == pytest.approx(float(one[k]), rel=1e-12, abs=1e-15)
            assert float(got[k][b]) == pytest.approx(ref[k], rel=1e-9, abs=1e-12)
    assert all(np.isnan(float(v[-1])) for v in got.values())  # the empty dataset


def test_compare_families_batch(batch_table, batch_x):
    t = batch_table
    nb = len(LENGTHS)
    assert t["families"] == BATCH_FAMILIES
    assert t["aic"].shape == t["loglik"].shape == t["status"].shape == t["ks"].shape == (2, nb)
    status = np.full((2, nb), int(jm.Status.CONVERGED))
    status[1, 6] = jm.Status.INVALID_DATA  # log-normal with a negative observation
    status[:, 7] = jm.Status.INVALID_DATA  # no observations
    np.testing.assert_array_equal(t["status"], status)
    # the family each dataset was drawn from wins by AIC; a non-converged fit never wins, and
    # with no converged fit there is no best family
    assert t["best"].tolist() == [1, 1, 1, 0, 0, 0, 0, -1]
    assert t["best_family"].tolist() == ["lognormal"] * 3 + ["normal"] * 4 + [None]
    np.testing.assert_array_equal(t["best"][:6], np.argmin(t["aic"][:, :6], axis=0))
    assert np.isnan(t["aic"][1, 6]) and np.isnan(t["ad"][1, 6])  # INVALID_DATA: no fit
    # per-family arrays are those of fit_dist's batch fits (same shape: compiled kernel reused)
    for i, family in enumerate(BATCH_FAMILIES):
        ref = fit_dist(family, batch_x, nan_policy="omit")
        k = t["n_params"][i]
        assert k == 2 == ref.n_params
        np.testing.assert_allclose(t["loglik"][i], ref.loglik, rtol=1e-10)
        np.testing.assert_allclose(t["aic"][i], 2 * k - 2 * np.asarray(ref.loglik), rtol=1e-10)
        np.testing.assert_allclose(t["bic"][i, :7], np.asarray(ref.bic)[:7], rtol=1e-10)


# -- compare_families on one dataset --------------------------------------------------------
def test_compare_families_picks_gamma(rows, gamma_x):
    assert [r["family"] for r in rows][0] in ("gamma", "weibull")
    assert sorted(r["family"] for r in rows) == sorted(SINGLE_FAMILIES)
    aics = [r["aic"] for r in rows]
    assert aics == sorted(aics)
    by = {r["family"]: r for r in rows}
    assert by["gamma"]["loglik"] == max(by["gamma"]["loglik"], by["normal"]["loglik"])
    assert by["gamma"]["aic"] < by["normal"]["aic"] - 100
    for family in SINGLE_FAMILIES:
        ref = fit_dist(family, gamma_x)  # same shape as compare_families' fits: no recompilation
        row = by[family]
        k = row["n_params"]
        assert k == 2 == ref.n_params
        assert row["loglik"] == pytest.approx(float(ref.loglik), rel=1e-10)
        assert row["aic"] == pytest.approx(2 * k - 2 * float(ref.loglik), rel=1e-10)
        assert row["bic"] == pytest.approx(k * np.log(N) - 2 * float(ref.loglik), rel=1e-10)
        assert row["status"] == jm.Status(int(ref.status)).name
        for name, v in ref.params.items():
            assert float(row["result"].params[name]) == pytest.approx(float(v), rel=1e-8)


def test_format_table(rows):
    text = format_table(rows)
    lines = text.splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[0].split() == [
        "family", "k", "loglik", "AIC", "AICc", "BIC", "dAICc", "KS", "CvM", "AD", "status"
    ]  # fmt: skip
    assert set(lines[1]) == {"-", " "}
    first = lines[2].split()
    assert first[0] == rows[0]["family"] and first[6] == "0.00" and first[-1] == "CONVERGED"
    # (the table prints AIC and KS rounded to a few decimals)
    assert float(first[3]) == pytest.approx(rows[0]["aic"], abs=1e-4)
    assert float(first[4]) == pytest.approx(rows[0]["aicc"], abs=1e-4)
    assert float(first[7]) == pytest.approx(rows[0]["ks"], abs=1e-4)
    with pytest.raises(TypeError, match="list of rows"):
        format_table({"families": ("normal",)})


# -- censored data and errors ---------------------------------------------------------------
def _kaplan_meier(t, event):
    """Rows (event time, S just before it, S at it), by the product-limit formula."""
    out, s = [], 1.0
    for u in np.unique(t[event == 1]):
        n_at_risk = np.sum(t >= u)
        d = np.sum((t == u) & (event == 1))
        out.append((u, s, s * (1 - d / n_at_risk)))
        s *= 1 - d / n_at_risk
    return np.array(out)


def test_compare_families_on_interval_censored_data_ranks_by_aicc():
    # inspections every 250 h: each unit's life is known to lie between two visits
    rng = np.random.default_rng(12)
    life = 1000.0 * rng.weibull(1.8, size=40)
    visits = np.arange(0.0, 2001.0, 250.0)
    k = np.searchsorted(visits, life)
    lower = visits[k - 1]
    upper = np.where(k < visits.size, visits[np.minimum(k, visits.size - 1)], np.inf)
    fams = ("weibull", "lognormal", "exponential", "gamma")
    rows = compare_families(None, fams, lower=lower, upper=upper)
    assert [r["criterion"] for r in rows] == ["aicc"] * 4
    aicc = [r["aicc"] for r in rows]
    assert aicc == sorted(aicc)
    n = 40
    for r in rows:
        ref = fit_dist(r["family"], lower=lower, upper=upper)
        kk = r["n_params"]
        assert r["loglik"] == pytest.approx(float(ref.loglik), rel=1e-10)
        assert r["aicc"] == pytest.approx(
            2 * kk - 2 * float(ref.loglik) + 2 * kk * (kk + 1) / (n - kk - 1), rel=1e-10
        )
        assert np.isfinite(r["ks"]) and np.isfinite(r["cvm"]) and np.isfinite(r["ad"])
    by_aic = compare_families(None, fams, lower=lower, upper=upper, criterion="aic")
    assert [r["aic"] for r in by_aic] == sorted(r["aic"] for r in by_aic)
    # a batch of the same data: the same numbers per dataset, best by AICc
    table = compare_families(
        None, fams, lower=np.stack([lower, lower]), upper=np.stack([upper, upper])
    )
    assert table["criterion"] == "aicc" and table["aicc"].shape == (4, 2)
    assert table["best_family"].tolist() == [rows[0]["family"]] * 2
    for i, f in enumerate(fams):
        row = next(r for r in rows if r["family"] == f)
        np.testing.assert_allclose(table["aicc"][i], row["aicc"], rtol=1e-9)
        for k in ("ks", "cvm", "ad"):
            np.testing.assert_allclose(table[k][i], row[k], rtol=1e-9)
    with pytest.raises(ValueError, match="criterion must be one of"):
        compare_families(None, fams, lower=lower, upper=upper, criterion="waic")
    with pytest.raises(ValueError, match="not both"):
        compare_families(lower, fams, lower=lower, upper=upper)


def test_censored_data():
    rng = np.random.default_rng(3)
    t = rng.weibull(1.5, 80) * 2.0
    event = (rng.uniform(size=80) < 0.7).astype(int)
    res = _stand_in({"shape": 1.5, "scale": 2.0})
    with pytest.raises(ValueError, match="right-censored"):
        gof_statistics("weibull", res, t, event=event)
    with pytest.raises(ValueError, match="right-censored"):
        gof_statistics("weibull", res, {"x": t, "event": event})
    with pytest.raises(ValueError, match="complete"):
        gof_statistics("weibull", res, {"lower": t, "upper": t + 1})
    rows = compare_families(t, families=("exponential",), event=event)
    ref = fit_dist("exponential", t, event=event)
    assert rows[0]["aic"] == pytest.approx(2 - 2 * float(ref.loglik), rel=1e-10)
    # for censored data, ks is the largest distance to the Kaplan-Meier estimate
    rate = float(ref.params["rate"])
    km = _kaplan_meier(t, event)
    F = 1 - np.exp(-rate * km[:, 0])
    want = max(np.max(np.abs(F - (1 - km[:, 1]))), np.max(np.abs(F - (1 - km[:, 2]))))
    assert rows[0]["ks"] == pytest.approx(want, rel=1e-10)
    line = format_table(rows).splitlines()[2].split()
    assert float(line[8]) == pytest.approx(rows[0]["cvm"], abs=1e-4)
    # the Cramer-von Mises and Anderson-Darling integrals against the Kaplan-Meier estimate,
    # by numerical quadrature of the step function (scipy.integrate), up to the last time
    from scipy import integrate

    # (the estimate is determined up to the largest time, and beyond it if that is a failure)
    n = t.size
    last = np.inf if event[np.argmax(t)] == 1 else t.max()

    def f_np(u):
        j = np.searchsorted(km[:, 0], u, side="right") - 1
        return 0.0 if j < 0 else 1 - km[j, 2]

    def pieces(weight):
        knots = np.concatenate([[0.0], km[:, 0], [last]])  # (F_np constant between knots)
        total = 0.0
        for a, b in zip(knots[:-1], knots[1:]):
            if b > a:
                c = f_np(a)
                g = lambda s, c=c: (c - (1 - np.exp(-rate * s))) ** 2 * weight(s)
                total += integrate.quad(g, a, b, epsabs=1e-13, epsrel=1e-11)[0]
        return n * total

    dens = lambda s: rate * np.exp(-rate * s)
    cvm = pieces(dens)
    ad = pieces(lambda s: rate / -np.expm1(-rate * s))  # f / (F (1 - F)) of the exponential
    assert rows[0]["cvm"] == pytest.approx(cvm, rel=1e-7)
    assert rows[0]["ad"] == pytest.approx(ad, rel=1e-6)


def test_errors(rows, gamma_x):
    res = next(r for r in rows if r["family"] == "gamma")["result"]
    with pytest.raises(ValueError, match="discrete"):
        gof_statistics("poisson", _stand_in({"rate": 1.0}), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="do not match"):
        gof_statistics("normal", res, gamma_x)
    with pytest.raises(ValueError, match="batch fit"):
        gof_statistics("gamma", res, np.stack([gamma_x, gamma_x]))
    with pytest.raises(ValueError, match="shape"):
        gof_statistics("gamma", res, gamma_x, mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="unknown family"):
        gof_statistics("nope", res, gamma_x)
    with pytest.raises(ValueError, match="empty"):
        compare_families(gamma_x, families=())
    with pytest.raises(ValueError, match="discrete"):
        compare_families(gamma_x, families=("normal", "poisson"))
    with pytest.raises(ValueError, match="duplicates"):
        compare_families(gamma_x, families=("gamma", "Gamma"))
    with pytest.raises(ValueError, match="NaN"):  # fit_dist's nan_policy="raise" default
        compare_families(np.array([1.0, np.nan, 2.0]), families=("normal",))


def test_np_edf_statistics_of_complete_data_are_the_usual_ones():
    from jaxmle.nonparametric import np_edf_statistics

    x = np.random.default_rng(0).weibull(1.5, 30) * 2.0
    res = fit_dist("weibull", x)
    k, lam = float(res.params["shape"]), float(res.params["scale"])

    def cdf(t):
        return st.weibull_min.cdf(t, k, scale=lam)

    got = np_edf_statistics(cdf, x, x)
    want = gof_statistics("weibull", res, x)
    for key in ("ks", "cvm", "ad"):
        assert got[key] == pytest.approx(float(want[key]), rel=1e-10)
    assert got["cvm"] == pytest.approx(st.cramervonmises(x, cdf).statistic, rel=1e-10)
