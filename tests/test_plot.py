"""jaxmle.plot draws what it says: the curves it plots equal scipy's densities, quantiles and
survival functions at the fitted parameters, its Kaplan-Meier estimate equals lifelines', and
its batch plots count and sort the datasets. Headless (Agg)."""

import subprocess
import sys

import jax
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from helpers import plot_line as _line  # noqa: E402
from scipy import stats  # noqa: E402

import jaxmle as jm  # noqa: E402
from jaxmle import plot  # noqa: E402


def _module_data():
    """The module's shared (read-only) data, drawn once at import from its own generator:
    the same in every run and every subset of the tests."""
    rng = np.random.default_rng(11)
    gamma_x = rng.gamma(2.5, 1.5, size=150)
    life = 900.0 * rng.weibull(1.6, size=120)
    batch_x = rng.normal(3.0, 1.0, size=(12, 25))
    batch_x[4, :] = 7.0  # constant readings: scale -> 0, not converged
    return gamma_x, life, batch_x


GAMMA_X, LIFE, BATCH_X = _module_data()
GAMMA_FIT = jm.fit_dist("gamma", GAMMA_X)
HOURS, FAILED = np.minimum(LIFE, 1100.0), (LIFE <= 1100.0).astype(float)
WEIBULL_FIT = jm.fit_dist("weibull", HOURS, event=FAILED)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _gamma_scipy():
    return stats.gamma(float(GAMMA_FIT.params["shape"]), scale=float(GAMMA_FIT.params["scale"]))


def test_plot_fit_density_equals_scipy():
    ax = plot.plot_fit(GAMMA_FIT, GAMMA_X, bins=15)
    x, y = _line(ax, "fitted gamma")
    np.testing.assert_allclose(y, _gamma_scipy().pdf(x), rtol=1e-10)
    heights = np.array([p.get_height() for p in ax.patches])
    assert heights.size == 15
    widths = np.array([p.get_width() for p in ax.patches])
    assert np.isclose(np.sum(heights * widths), 1.0)  # a density histogram


def test_plot_fit_discrete_pmf():
    counts = np.random.default_rng(13).poisson(3.0, size=200)
    res = jm.fit_dist("poisson", counts)
    ax = plot.plot_fit(res, {"x": counts})
    k, pmf = _line(ax, "fitted poisson")
    np.testing.assert_array_equal(k, np.arange(counts.min(), counts.max() + 1))
    np.testing.assert_allclose(pmf, stats.poisson(counts.mean()).pmf(k), rtol=1e-10)
    # its Q-Q plot: the fitted quantiles are scipy's (integers)
    ax = plot.plot_qq(res, counts)
    q, _ = _line(ax, "data")
    p = (np.arange(1, counts.size + 1) - 0.5) / counts.size
    np.testing.assert_array_equal(q, stats.poisson(counts.mean()).ppf(p))


def test_plot_qq_and_pp_equal_scipy():
    xs = np.sort(GAMMA_X)
    p = (np.arange(1, xs.size + 1) - 0.5) / xs.size
    q, y = _line(plot.plot_qq(GAMMA_FIT, GAMMA_X), "data")
    np.testing.assert_allclose(q, _gamma_scipy().ppf(p), rtol=1e-9)
    np.testing.assert_array_equal(y, xs)
    u, f = _line(plot.plot_pp(GAMMA_FIT, GAMMA_X), "data")
    np.testing.assert_allclose(u, p)
    np.testing.assert_allclose(f, _gamma_scipy().cdf(xs), rtol=1e-10)


def test_kaplan_meier_equals_lifelines():
    lifelines = pytest.importorskip("lifelines")
    t = np.round(HOURS, -1)  # ties
    km = plot.kaplan_meier(t, FAILED, level=0.9)
    ref = lifelines.KaplanMeierFitter(alpha=0.1).fit(t, FAILED)
    np.testing.assert_allclose(km.time, ref.survival_function_.index.to_numpy())
    np.testing.assert_allclose(km.survival, ref.survival_function_.iloc[:, 0], rtol=1e-12)
    ci = ref.confidence_interval_.to_numpy()
    np.testing.assert_allclose(km.lower, ci[:, 0], rtol=1e-10)
    np.testing.assert_allclose(km.upper, ci[:, 1], rtol=1e-10)
    np.testing.assert_array_equal(km.at_risk, ref.event_table["at_risk"])


def test_kaplan_meier_closed_form_and_errors():
    km = plot.kaplan_meier([2.0, 4.0, 5.0], [1, 1, 0])  # the note's drives
    np.testing.assert_allclose(km.survival, [1.0, 2 / 3, 1 / 3, 1 / 3])
    # Greenwood at t=2: var(log S) = 1 / (3 * 2)
    z = stats.norm.ppf(0.975)
    s, v = 2 / 3, 1 / 6
    assert np.isclose(km.lower[1], s ** np.exp(z * np.sqrt(v) / abs(np.log(s))))
    assert np.isclose(km.upper[1], s ** np.exp(-z * np.sqrt(v) / abs(np.log(s))))
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        plot.kaplan_meier([1.0], level=95)


def test_plot_survival_right_censored():
    ax = plot.plot_survival(WEIBULL_FIT, {"x": HOURS, "event": FAILED})
    t, sf = _line(ax, "fitted weibull")
    ref = stats.weibull_min(
        float(WEIBULL_FIT.params["shape"]), scale=float(WEIBULL_FIT.params["scale"])
    )
    np.testing.assert_allclose(sf, ref.sf(t), rtol=1e-9, atol=1e-300)
    steps_t, steps_s = _line(ax, "Kaplan-Meier")
    km = plot.kaplan_meier(HOURS, FAILED)
    np.testing.assert_array_equal(steps_t, km.time)
    np.testing.assert_array_equal(steps_s, km.survival)
    n_cens = int((FAILED == 0).sum())
    assert _line(ax, "censored")[0].size == n_cens


# interval censoring: exact times (lower == upper) and right-censored ones (upper = inf)
LOWER = np.array([2.0, 4.0, 5.0, 1.0, 3.0])
UPPER = np.array([2.0, 4.0, np.inf, 1.0, np.inf])
INTERVAL_FIT = jm.fit_dist("exponential", None, lower=LOWER, upper=UPPER)


def test_plot_survival_interval_censored_turnbull():
    ax = plot.plot_survival(INTERVAL_FIT, {"lower": LOWER, "upper": UPPER})
    t, sf = _line(ax, "fitted exponential")
    np.testing.assert_allclose(sf, np.exp(-0.2 * t), rtol=1e-12)  # rate 3 events / 15
    # exact and right-censored intervals: the Turnbull estimate is Kaplan-Meier's
    tt, ts = _line(ax, "Turnbull estimate (n=5")
    km = plot.kaplan_meier(np.where(np.isfinite(UPPER), UPPER, LOWER), np.isfinite(UPPER))
    for time, surv in zip(km.time[1:], km.survival[1:], strict=True):
        if km.events[list(km.time).index(time)] > 0:
            assert np.isclose(ts[np.flatnonzero(tt == time)[-1]], surv)
    # the fitted curve's band (transformed Wald) holds the curve and stays inside (0, 1)
    (band,) = [c for c in ax.collections if c.get_label().startswith("95% band of the fit")]
    v = band.get_paths()[0].vertices
    assert v[:, 1].min() > 0 and v[:, 1].max() < 1
    assert ax.get_xlabel() == "time"


def test_plot_profile_from_result_and_from_profile():
    res = INTERVAL_FIT
    prof = res.profile("rate", points=21)
    ax = plot.plot_profile(res, "rate", points=21)
    x, dev = _line(ax, "profile deviance")
    np.testing.assert_allclose(x, prof.grid)
    # one parameter: the profile deviance is the deviance, 2 (d log(r/r') - T (r - r')),
    # with d = 3 events in T = 15 time units
    r_hat = 3 / 15
    np.testing.assert_allclose(
        dev, 2 * (3 * np.log(r_hat / x) - 15 * (r_hat - x)), rtol=1e-8, atol=1e-10
    )
    _, thr = _line(ax, "$\\chi^2_1$")
    assert np.allclose(thr, stats.chi2.ppf(0.95, 1))
    (span,) = [p for p in ax.patches if p.get_label().startswith("95% interval")]
    lo, hi = (float(v) for v in prof.interval)
    assert np.isclose(span.get_x(), lo) and np.isclose(span.get_x() + span.get_width(), hi)
    # a Profile object is drawn as is
    ax2 = plot.plot_profile(prof)
    np.testing.assert_allclose(_line(ax2, "profile deviance")[1], dev)
    with pytest.raises(ValueError, match="unknown parameter 'scale'; the parameters are"):
        plot.plot_profile(res, "scale")


def test_caterpillar_sorted_and_status_counts():
    batch = jm.fit_dist("normal", BATCH_X)
    ok = np.asarray(batch.converged)
    assert ok.sum() == 11
    labels = [f"S{i}" for i in range(12)]
    ax = plot.plot_caterpillar(batch, "loc", labels=labels)
    est, y = _line(ax, "estimate")
    assert np.all(np.diff(est) >= 0) and est.size == 11
    np.testing.assert_allclose(np.sort(est), np.sort(BATCH_X[ok].mean(axis=1)), rtol=1e-10)
    (segments,) = [c for c in ax.collections if c.get_label() == "95% interval"]
    assert len(segments.get_segments()) == 11
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert shown[0] == labels[int(np.argmin(np.where(ok, BATCH_X.mean(axis=1), np.inf)))]
    assert "(1 not converged, left out)" in ax.get_title()

    ax = plot.plot_status(batch)
    heights = [p.get_height() for p in ax.patches]
    status = np.asarray(batch.status)
    assert heights == [float(np.sum(status == s)) for s in jm.Status]
    _, axes = plt.subplots(1, 2)
    assert plot.plot_status(batch[0], ax=axes[1]) is axes[1]  # a single fit: a batch of one


def test_plot_errors():
    with pytest.raises(ValueError, match="use plot_survival"):
        plot.plot_fit(WEIBULL_FIT, {"x": HOURS, "event": FAILED})
    batch = jm.fit_dist("normal", BATCH_X)
    with pytest.raises(ValueError, match=r"pass batch\[i\]"):
        plot.plot_qq(batch, BATCH_X[0])
    custom = jm.Model(
        lambda p, x: jax.scipy.stats.poisson.logpmf(x, p["rate"]), {"rate": jm.Positive()},
        name="custom",
    )  # fmt: skip
    res = jm.fit(custom, np.array([1.0, 2.0, 4.0]))
    with pytest.raises(ValueError, match="cannot tell the family of model 'custom'"):
        plot.plot_pp(res, np.array([1.0, 2.0, 4.0]))
    # ... unless it is given
    ax = plot.plot_pp(
        res, np.array([1.0, 2.0, 4.0]), family=jm.distributions.get_distribution("poisson")
    )
    assert ax.get_ylabel() == "fitted poisson CDF"
    with pytest.raises(ValueError, match="unknown parameter 'mu'"):
        plot.plot_caterpillar(batch, "mu")


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "jaxmle\[plot\]"'):
        plot.plot_status(jm.fit_dist("normal", BATCH_X))


def test_import_jaxmle_does_not_import_matplotlib():
    code = "import sys, jaxmle, jaxmle.plot, jaxmle.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
