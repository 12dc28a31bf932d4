"""Probability plots, hazard plots and the Turnbull estimate: the plotting positions equal
the ``reliability`` package's (stored reference), the Turnbull estimate satisfies the
conditions that characterize the NPMLE and reduces to closed forms and to lifelines'
Kaplan-Meier estimate, and the drawn lines and bands are the fit's. Headless (Agg)."""

import json
import pathlib

import numpy as np
import pytest
from scipy import stats

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from helpers import plot_line as _line  # noqa: E402

import jaxmle as jm  # noqa: E402
from jaxmle import plot  # noqa: E402
from jaxmle.life import plotting_positions, turnbull  # noqa: E402

REF = json.loads(
    (pathlib.Path(__file__).parent / "references" / "life_references.json").read_text()
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _inspections(seed, n=150):
    """Interval-censored lives: each unit inspected at its own random times until 1800 h."""
    rng = np.random.default_rng(seed)
    life = 1000.0 * rng.weibull(1.5, size=n)
    lo, hi = np.zeros(n), np.zeros(n)
    for i, t in enumerate(life):
        visits = np.concatenate([[0.0], np.cumsum(rng.uniform(100, 400, size=20))]).round(1)
        lo[i] = visits[visits < t].max()
        after = visits[visits >= t]
        hi[i] = after.min() if after.size and after.min() < 1800 else np.inf
    return lo, hi


# -- plotting positions and the Turnbull estimate -------------------------------------
@pytest.mark.parametrize("name", sorted(REF["datasets"]))
def test_plotting_positions_equal_reliability(name):
    d = REF["datasets"][name]
    t, F = plotting_positions(np.array(d["x"]), np.array(d["event"]))
    ref_t, ref_F = d["reliability"]["plotting_positions"]
    np.testing.assert_array_equal(t, ref_t)
    np.testing.assert_allclose(F, ref_F, rtol=1e-12)


def test_plotting_positions_without_censoring_are_benard():
    t, F = plotting_positions(np.array([3.0, 1.0, 2.0]))
    np.testing.assert_array_equal(t, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(F, (np.arange(1, 4) - 0.3) / 3.4, rtol=1e-14)


def test_turnbull_is_the_npmle():
    lo, hi = _inspections(0)
    tb = turnbull(lo, hi)
    assert tb.converged and np.isclose(tb.mass.sum(), 1.0, rtol=1e-12)
    # each innermost interval lies inside the observations that hold it, and is not cut by
    # any observation's end
    holds = (tb.left[None, :] >= lo[:, None]) & (tb.right[None, :] <= hi[:, None])
    assert holds.any(axis=0).all()
    # Kuhn-Tucker conditions of the NPMLE: d_j = (1/n) sum_i holds_ij / P_i <= 1 for every
    # interval, with equality where the mass is positive
    d = (holds / (holds @ tb.mass)[:, None]).sum(axis=0) / lo.size
    assert d.max() < 1 + 1e-7
    assert np.all(np.abs(d[tb.mass > 1e-8] - 1) < 1e-7)


def test_turnbull_closed_forms():
    # one inspection schedule for every unit: the masses are the interval counts / n
    rng = np.random.default_rng(1)
    life = 1000.0 * rng.weibull(1.5, size=200)
    visits = np.arange(0.0, 3001.0, 250.0)
    idx = np.searchsorted(visits, life)
    lo, hi = visits[idx - 1], np.where(idx < visits.size, visits[np.minimum(idx, 12)], np.inf)
    tb = turnbull(lo, hi)
    counts = {}
    for a in lo:
        counts[a] = counts.get(a, 0) + 1
    np.testing.assert_allclose(tb.mass, [counts[a] / 200 for a in tb.left], rtol=1e-9)
    # exact and right-censored times: Kaplan-Meier (lifelines)
    from lifelines import KaplanMeierFitter

    t = np.minimum(life, 1100.0).round(1)
    e = life <= 1100.0
    tb = turnbull(t, np.where(e, t, np.inf))
    kmf = KaplanMeierFitter().fit(t, e)
    ref = kmf.survival_function_at_times(tb.right[np.isfinite(tb.right)]).to_numpy()
    np.testing.assert_allclose(tb.survival[np.isfinite(tb.right)], ref, rtol=1e-9)


# -- probability, hazard and survival plots --------------------------------------------
def test_weibull_probability_plot():
    d = REF["datasets"]["weibull_30_right"]
    x, e = np.array(d["x"]), np.array(d["event"])
    res = jm.fit_dist("weibull", x, event=e)
    ax = plot.plot_probability(res, {"x": x, "event": e}, xlabel="seal life (h)")
    assert ax.get_xlabel() == "seal life (h)" and ax.get_xscale() == "log"
    assert ax.get_title() == "Weibull probability plot"
    pt, py = _line(ax, "data (n=30")
    ref_t, ref_F = d["reliability"]["plotting_positions"]
    np.testing.assert_array_equal(pt, ref_t)
    np.testing.assert_allclose(py, np.log(-np.log1p(-np.array(ref_F))), rtol=1e-12)
    # the fitted line is straight on Weibull paper: y = shape (log t - log scale)
    gt, gy = _line(ax, "fitted weibull")
    k, lam = float(res.params["shape"]), float(res.params["scale"])
    np.testing.assert_allclose(gy, k * (np.log(gt) - np.log(lam)), rtol=1e-9, atol=1e-12)
    # the band: the reliability's interval at each time, on the same scale
    (band,) = [c for c in ax.collections if c.get_label().startswith("95% band")]
    v = band.get_paths()[0].vertices
    r = jm.reliability(res, np.array([500.0]))
    y_lo, y_hi = np.log(-np.log(np.asarray(r.high))), np.log(-np.log(np.asarray(r.low)))
    near = np.isclose(v[:, 0], 500.0, rtol=2e-2)
    assert near.any() and np.all((v[near, 1] > y_lo - 0.05) & (v[near, 1] < y_hi + 0.05))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "10" in labels and "50" in labels


def test_lognormal_and_exponential_paper():
    d = REF["datasets"]["lognormal_25_right"]
    x, e = np.array(d["x"]), np.array(d["event"])
    res = jm.fit_dist("lognormal", x, event=e)
    ax = plot.plot_probability(res, {"x": x, "event": e})
    gt, gy = _line(ax, "fitted lognormal")
    mu, s = float(res.params["mu"]), float(res.params["sigma"])
    np.testing.assert_allclose(gy, (np.log(gt) - mu) / s, rtol=1e-8, atol=1e-10)
    _, py = _line(ax, "data (n=25")
    np.testing.assert_allclose(py, stats.norm.ppf(plotting_positions(x, e)[1]), rtol=1e-12)
    d = REF["datasets"]["exponential_20_right"]
    x, e = np.array(d["x"]), np.array(d["event"])
    res = jm.fit_dist("exponential", x, event=e)
    ax = plot.plot_probability(res, {"x": x, "event": e})
    gt, gy = _line(ax, "fitted exponential")
    assert ax.get_xscale() == "linear"
    np.testing.assert_allclose(gy, float(res.params["rate"]) * gt, rtol=1e-9)


def test_probability_plot_of_interval_data_draws_turnbull():
    lo, hi = _inspections(2, n=80)
    res = jm.fit_dist("weibull", lower=lo, upper=hi)
    ax = plot.plot_probability(res, {"lower": lo, "upper": hi})
    pt, py = _line(ax, "Turnbull estimate (n=80")
    tb = turnbull(lo, hi)
    F = 1 - tb.survival
    keep = np.isfinite(tb.right) & (F < 1 - 1e-12) & (F > 0)
    np.testing.assert_array_equal(pt, tb.right[keep])
    np.testing.assert_allclose(py, np.log(-np.log1p(-F[keep])), rtol=1e-12)


def test_hazard_plot():
    x = 1000 * np.random.default_rng(4).weibull(2.0, size=12)
    res = jm.fit_dist("weibull", x)
    ax = plot.plot_hazard(res, x, xlabel="hours")
    t, h = _line(ax, "fitted weibull")
    k, lam = float(res.params["shape"]), float(res.params["scale"])
    np.testing.assert_allclose(h, k / lam * (t / lam) ** (k - 1), rtol=1e-9)
    (band,) = ax.collections
    v = band.get_paths()[0].vertices
    assert v[:, 1].min() > 0  # the log-scale band of a positive rate
    assert ax.get_xlabel() == "hours"


def test_survival_band_and_label():
    d = REF["datasets"]["weibull_3_failures"]
    x, e = np.array(d["x"]), np.array(d["event"])
    res = jm.fit_dist("weibull", x, event=e)
    ax = plot.plot_survival(res, {"x": x, "event": e}, xlabel="hours")
    (band,) = [c for c in ax.collections if c.get_label().startswith("95% band of the fit")]
    v = band.get_paths()[0].vertices
    # three failures among ten: the natural-scale Wald band would leave (0, 1)
    assert v[:, 1].min() > 0 and v[:, 1].max() < 1
    assert ax.get_xlabel() == "hours"


def test_probability_plot_needs_a_lifetime_fit():
    res = jm.fit_dist("normal", np.array([1.0, 2.0, 4.0]))
    with pytest.raises(ValueError, match="lifetime family"):
        plot.plot_probability(res, np.array([1.0, 2.0, 4.0]))
