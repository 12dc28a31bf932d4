"""Three-parameter Weibull and log-normal (a threshold below which no unit fails): estimates
against scipy (uncensored data, from a start near the maximum) and against the censored
log-likelihood written independently with numpy and maximized by scipy.optimize; batches
equal single fits; a threshold that runs to the smallest failure ends BOUNDARY."""

import numpy as np
import pytest
from scipy import optimize, stats

import jaxmle as jm
from jaxmle.distributions import DISTRIBUTIONS
from jaxmle.distributions.families import threshold_limit


def _weibull3(seed, n=50, shape=2.0):
    return 100.0 + 500.0 * np.random.default_rng(seed).weibull(shape, size=n)


def _lognormal3(seed, n=60):
    return 50.0 + np.exp(5.0 + 0.5 * np.random.default_rng(seed).normal(size=n))


# -- the censored log-likelihoods, written apart from jaxmle ------------------------------
def _nll_weibull3(theta, x, event):
    k, lam = np.exp(theta[0]), np.exp(theta[1])
    gap = np.exp(theta[2])  # threshold = min(failures) - gap
    g = x[event == 1].min() - gap
    z = np.maximum(x - g, 0.0) / lam
    with np.errstate(divide="ignore"):
        logf = np.log(k / lam) + (k - 1) * np.log(z) - z**k
    return -np.sum(np.where(event == 1, logf, -(z**k)))


def _nll_lognormal3(theta, x, event):
    mu, s = theta[0], np.exp(theta[1])
    g = x[event == 1].min() - np.exp(theta[2])
    lz = np.log(np.maximum(x - g, 1e-300))
    logf = stats.norm.logpdf(lz, mu, s) - lz
    return -np.sum(np.where(event == 1, logf, stats.norm.logsf(lz, mu, s)))


def _reference(nll, start, x, event):
    best = None
    for jitter in (0.0, 0.3, -0.3):
        t0 = np.asarray(start, float) + jitter
        r = optimize.minimize(
            nll, t0, args=(x, event), method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000},
        )  # fmt: skip
        if best is None or r.fun < best.fun:
            best = r
    return best


def test_weibull3_uncensored_against_scipy():
    x = _weibull3(1)
    res = jm.fit_dist("weibull_3p", x)
    assert jm.Status(int(res.status)) is jm.Status.CONVERGED
    # scipy's own start runs past the smallest observation here (-inf log-likelihood); from a
    # start near the maximum its fit is a proper maximum
    c, loc, scale = stats.weibull_min.fit(x, 1.5, loc=150.0, scale=450.0)
    np.testing.assert_allclose(
        [res.params["shape"], res.params["threshold"], res.params["scale"]],
        [c, loc, scale],
        rtol=2e-6,
    )
    ll = stats.weibull_min.logpdf(x, c, loc, scale).sum()
    assert float(res.loglik) >= ll - 1e-9
    assert np.isclose(float(res.loglik), ll, rtol=1e-10)
    # the standard errors: the inverse Hessian of scipy's log-likelihood, by differences
    theta = np.array([c, scale, loc])

    def ll_at(t):
        return stats.weibull_min.logpdf(x, t[0], t[2], t[1]).sum()

    h = 1e-4 * np.abs(theta)
    hess = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            ei, ej = np.eye(3)[i] * h[i], np.eye(3)[j] * h[j]
            hess[i, j] = (
                ll_at(theta + ei + ej) - ll_at(theta + ei - ej) - ll_at(theta - ei + ej)
                + ll_at(theta - ei - ej)
            ) / (4 * h[i] * h[j])  # fmt: skip
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    got = [float(res.se[k]) for k in ("shape", "scale", "threshold")]
    np.testing.assert_allclose(got, se, rtol=1e-3)


def test_lognormal3_uncensored_against_scipy():
    x = _lognormal3(2)
    res = jm.fit_dist("lognormal_3p", x)
    assert jm.Status(int(res.status)) is jm.Status.CONVERGED
    s, loc, scale = stats.lognorm.fit(x, 0.5, loc=40.0, scale=150.0)
    np.testing.assert_allclose(
        [res.params["sigma"], res.params["threshold"], res.params["mu"]],
        [s, loc, np.log(scale)],
        rtol=2e-5,
    )
    assert float(res.loglik) >= stats.lognorm.logpdf(x, s, loc, scale).sum() - 1e-8


@pytest.mark.parametrize("family", ["weibull_3p", "lognormal_3p"])
def test_censored_against_numpy_loglik(family):
    if family == "weibull_3p":
        life, nll = _weibull3(4, n=60), _nll_weibull3
    else:
        life, nll = _lognormal3(5, n=60), _nll_lognormal3
    stop = np.quantile(life, 0.8)
    x, event = np.minimum(life, stop), (life <= stop).astype(int)
    res = jm.fit_dist(family, x, event=event)
    assert jm.Status(int(res.status)) is jm.Status.CONVERGED
    p = {k: float(v) for k, v in res.params.items()}
    gap = x[event == 1].min() - p["threshold"]
    assert gap > 0
    if family == "weibull_3p":
        start = [np.log(p["shape"]), np.log(p["scale"]), np.log(gap)]
        est = [p["shape"], p["scale"], p["threshold"]]
    else:
        start = [p["mu"], np.log(p["sigma"]), np.log(gap)]
        est = [p["mu"], p["sigma"], p["threshold"]]
    ref = _reference(nll, start, x, event)
    th = ref.x
    g = x[event == 1].min() - np.exp(th[2])
    want = (
        [np.exp(th[0]), np.exp(th[1]), g] if family == "weibull_3p" else [th[0], np.exp(th[1]), g]
    )
    np.testing.assert_allclose(est, want, rtol=1e-5)
    assert np.isclose(float(res.loglik), -ref.fun, rtol=1e-9)
    # and jaxmle's log-likelihood at its estimate is the numpy one
    assert np.isclose(float(res.loglik), -nll(start, x, event), rtol=1e-10)


@pytest.mark.parametrize("family", ["weibull_3p", "lognormal_3p"])
def test_batch_equals_single_fits(family):
    make = _weibull3 if family == "weibull_3p" else _lognormal3
    life = np.stack([make(s, n=40) for s in (11, 12, 13)])
    stop = 0.9 * life.max(axis=1, keepdims=True)
    x, event = np.minimum(life, stop), (life <= stop).astype(int)
    batch = jm.fit_dist(family, x, event=event)
    for i in range(3):
        one = jm.fit_dist(family, x[i], event=event[i])
        assert int(batch.status[i]) == int(one.status)
        for k in one.params:
            np.testing.assert_allclose(batch.params[k][i], one.params[k], rtol=1e-7)
            np.testing.assert_allclose(batch.se[k][i], one.se[k], rtol=1e-5)


def test_threshold_running_to_the_smallest_failure_is_boundary():
    # exponential-like lives: the likelihood rises all the way to the smallest failure
    x = 100.0 + 500.0 * np.random.default_rng(0).weibull(0.7, size=30)
    res = jm.fit_dist("weibull_3p", x)
    assert jm.Status(int(res.status)) is jm.Status.BOUNDARY
    gap = x.min() - float(res.params["threshold"])
    assert 0 <= gap < 1e-6 * x.min()
    assert np.isnan(float(res.se["threshold"]))
    # the others keep standard errors (given the threshold), and the shape is below 1
    assert np.isfinite(float(res.se["shape"])) and float(res.params["shape"]) < 1
    assert "threshold" in res.summary()
    # the profile log-likelihood, by scipy's two-parameter fits, rises towards the edge
    ll = []
    for g in (50.0, 5.0, 0.5):
        c, _, s = stats.weibull_min.fit(x - (x.min() - g), floc=0)
        ll.append(stats.weibull_min.logpdf(x - (x.min() - g), c, 0, s).sum())
    assert ll[0] < ll[1] < ll[2] < float(res.loglik)
    # with the shape fixed (below 1), the threshold still runs there, and says so
    fixed = jm.fit(jm.families.Weibull3P(), x, fixed={"shape": 0.6})
    assert jm.Status(int(fixed.status)) is jm.Status.BOUNDARY
    assert np.isnan(float(fixed.se["threshold"])) and np.isfinite(float(fixed.se["scale"]))
    # in a batch: that dataset alone
    batch = jm.fit_dist("weibull_3p", np.stack([x, _weibull3(1, n=30)]))
    assert [jm.Status(int(s)).name for s in batch.status] == ["BOUNDARY", "CONVERGED"]


def test_threshold_limit_and_support():
    data = {"x": np.array([5.0, 3.0, 9.0]), "event": np.array([1, 0, 1])}
    assert float(threshold_limit(data)) == 5.0
    assert (
        float(threshold_limit({"lower": np.array([2.0, 4.0]), "upper": np.array([3.0, 8.0])}))
        == 3.0
    )
    w3 = DISTRIBUTIONS["weibull_3p"]
    p = {"shape": 1.5, "scale": 2.0, "threshold": 10.0}
    xs = np.array([9.0, 10.0, 10.5, 13.0])
    want = stats.weibull_min.logpdf(xs, 1.5, 10.0, 2.0)
    np.testing.assert_allclose(np.asarray(w3.logpdf(xs, p))[2:], want[2:], rtol=1e-12)
    assert np.all(np.isneginf(np.asarray(w3.logpdf(xs, p))[:2]))
    np.testing.assert_allclose(
        w3.logsf(xs, p), stats.weibull_min.logsf(xs, 1.5, 10.0, 2.0), rtol=1e-12
    )
    l3 = DISTRIBUTIONS["lognormal_3p"]
    q = {"mu": 0.5, "sigma": 0.8, "threshold": -2.0}
    ys = np.array([-1.5, 0.0, 3.0])
    np.testing.assert_allclose(
        l3.logcdf(ys, q), stats.lognorm.logcdf(ys, 0.8, -2.0, np.exp(0.5)), rtol=1e-12
    )
    # interval-censored data
    lower = np.floor(_weibull3(7, n=80) / 25.0) * 25.0
    res = jm.fit_dist("weibull_3p", lower=lower, upper=lower + 25.0)
    assert jm.Status(int(res.status)) in (jm.Status.CONVERGED, jm.Status.BOUNDARY)
    assert float(res.params["threshold"]) < (lower + 25.0).min()


def test_life_quantities_of_the_three_parameter_families():
    life = 1500.0 + 4000.0 * np.random.default_rng(11).weibull(1.8, size=40)
    hours, failed = np.minimum(life, 6000.0), (life <= 6000.0).astype(int)
    res = jm.fit_dist("weibull_3p", hours, event=failed)
    k, lam, g = (float(res.params[n]) for n in ("shape", "scale", "threshold"))
    b = jm.b_life(res, np.array([1.0, 10.0]))
    want = stats.weibull_min.ppf([0.01, 0.10], k, loc=g, scale=lam)
    np.testing.assert_allclose(b.estimate, want, rtol=1e-10)
    # (the threshold is uncertain too: a B1 bound may lie below its estimate, never below 0)
    assert np.all((0 < b.low) & (b.low < b.estimate) & (b.estimate < b.high))
    # the transformed interval is on log t_q: exp(log t -/+ z se / t)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(b.low, b.estimate * np.exp(-z * b.se / b.estimate), rtol=1e-10)
    # the profile of a three-parameter fit may climb to the unbounded edge (a threshold at the
    # first failure with a shape below 1): it says so, with a status, rather than an interval
    with pytest.warns(jm.ProfileWarning):
        prof = jm.b_life(res, 10, method="profile")
    assert jm.ProfileStatus(int(prof.status)).name in ("BETTER_OPTIMUM", "FAILED")
    r = jm.reliability(res, 3000.0)
    assert np.isclose(r.estimate, stats.weibull_min.sf(3000.0, k, loc=g, scale=lam), rtol=1e-10)
    assert 0 < r.low < r.estimate < r.high < 1
    m = jm.mean_life(res)
    assert np.isclose(m.estimate, stats.weibull_min.mean(k, loc=g, scale=lam), rtol=1e-10)
    h = jm.hazard(res, 3000.0)
    want_h = stats.weibull_min.pdf(3000.0, k, g, lam) / stats.weibull_min.sf(3000.0, k, g, lam)
    assert np.isclose(h.estimate, want_h, rtol=1e-10)
    ln = jm.fit_dist("lognormal_3p", hours, event=failed)
    mu, s, gl = (float(ln.params[n]) for n in ("mu", "sigma", "threshold"))
    rl = jm.reliability(ln, 3000.0)
    assert np.isclose(rl.estimate, stats.lognorm.sf(3000.0, s, gl, np.exp(mu)), rtol=1e-10)
    assert np.isclose(
        jm.b_life(ln, 10).estimate, stats.lognorm.ppf(0.1, s, gl, np.exp(mu)), rtol=1e-10
    )


def test_probability_plot_of_a_three_parameter_fit():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxmle import plot

    life = 1500.0 + 4000.0 * np.random.default_rng(11).weibull(1.8, size=40)
    hours, failed = np.minimum(life, 6000.0), (life <= 6000.0).astype(int)
    for family, paper in (("weibull_3p", "Weibull"), ("lognormal_3p", "lognormal")):
        res = jm.fit_dist(family, hours, event=failed)
        ax = plot.plot_probability(res, {"x": hours, "event": failed})
        assert ax.get_title().startswith(paper)
        assert any(ln.get_label().startswith(f"fitted {family}") for ln in ax.get_lines())
        plt.close(ax.figure)


def test_command_line_fits_the_three_parameter_weibull(tmp_path, monkeypatch):
    from helpers import read_csv, write_csv

    from jaxmle.cli import EXIT_OK, main

    monkeypatch.setenv("JAXMLE_CACHE_DIR", "off")
    life = 1500.0 + 4000.0 * np.random.default_rng(11).weibull(1.8, size=40)
    hours, failed = np.minimum(life, 6000.0), (life <= 6000.0).astype(int)
    rows = [("A", float(t), int(e)) for t, e in zip(hours, failed, strict=True)]
    path = write_csv(tmp_path / "b.csv", ["unit", "hours", "failed"], rows)
    out = str(tmp_path / "out.csv")
    args = ["fit", path, "--family", "weibull_3p", "--value", "hours", "--event", "failed"]
    assert main([*args, "--by", "unit", "--b-life", "10", "--out", out]) == EXIT_OK
    (row,) = read_csv(out)
    res = jm.fit_dist("weibull_3p", hours, event=failed)
    assert np.isclose(float(row["threshold"]), float(res.params["threshold"]), rtol=1e-8)
    assert np.isclose(float(row["B10"]), float(jm.b_life(res, 10).estimate), rtol=1e-8)
    assert float(row["shape_lo"]) > 0 and float(row["B10_lo"]) > 0
