"""Generates life_references.json: life quantities and their 95% bounds from surpyval and
from the ``reliability`` package, on small censored datasets written into the JSON.

Neither package is a dependency of jaxmle or of its tests; to regenerate, install them
(``pip install surpyval==0.25 reliability==0.9.0``) and run this script from the repository
root: ``python tests/references/make_life_references.py``.
"""

import importlib.metadata as md
import json
import pathlib
import warnings

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import surpyval as sp  # noqa: E402
from reliability import Fitters  # noqa: E402
from reliability.Probability_plotting import plotting_positions  # noqa: E402

OUT = pathlib.Path(__file__).with_name("life_references.json")
QS = [0.01, 0.1, 0.5]
rng = np.random.default_rng(20261206)


def right_censored(x, limit):
    return np.minimum(x, limit).round(1), (x <= limit).astype(int)


def datasets():
    x, e = right_censored(1000.0 * rng.weibull(1.5, size=30), 1200.0)
    yield "weibull_30_right", "weibull", x, e, [200.0, 500.0, 1000.0]
    # a unit with three failures among ten (the scale's Wald interval reaches below zero)
    x = np.array([2100.0, 3400.0, 5200.0] + [6000.0] * 7)
    e = np.array([1, 1, 1] + [0] * 7)
    yield "weibull_3_failures", "weibull", x, e, [1000.0, 3000.0]
    x, e = right_censored(np.exp(rng.normal(6.0, 0.8, size=25)), 900.0)
    yield "lognormal_25_right", "lognormal", x, e, [200.0, 500.0]
    x, e = right_censored(rng.exponential(500.0, size=20), 700.0)
    yield "exponential_20_right", "exponential", x, e, [100.0, 400.0]


SURPYVAL = {"weibull": sp.Weibull, "lognormal": sp.LogNormal, "exponential": sp.Exponential}
RELIABILITY = {
    "weibull": Fitters.Fit_Weibull_2P,
    "lognormal": Fitters.Fit_Lognormal_2P,
    "exponential": Fitters.Fit_Exponential_1P,
}


def fitted(family, x, e, ci_type):
    """reliability's fitted distribution, its bounds on time or on reliability."""
    kw = {} if family == "exponential" else {"CI_type": ci_type}
    return RELIABILITY[family](
        failures=x[e == 1],
        right_censored=x[e == 0],
        show_probability_plot=False,
        print_results=False,
        CI=0.95,
        **kw,
    ).distribution


def pairs(a):
    return np.asarray(a, float).reshape(-1, 2).tolist()


def main():
    out = {
        "versions": {p: md.version(p) for p in ("surpyval", "reliability", "numpy", "scipy")},
        "level": 0.95,
        "quantile_q": QS,
        "datasets": {},
    }
    for name, family, x, e, ts in datasets():
        c = 1 - e
        m = SURPYVAL[family].fit(x=x, c=c)
        rec = {
            "family": family,
            "x": x.tolist(),
            "event": e.tolist(),
            "t": ts,
            "surpyval": {
                "params": np.asarray(m.params, float).tolist(),
                "quantile": np.asarray(m.qf(QS), float).tolist(),
                "quantile_wald": pairs(m.quantile_cb(QS, method="wald")),
                "quantile_lr": pairs(m.quantile_cb(QS, method="lr")),
                "sf": np.asarray(m.sf(ts), float).tolist(),
                "sf_wald": pairs(m.cb(ts, on="sf", method="wald")),
                "sf_lr": pairs(m.cb(ts, on="sf", method="lr")),
                "hf": np.asarray(m.hf(ts), float).tolist(),
                "hf_wald": pairs(m.cb(ts, on="hf", method="wald")),
                "mean": float(m.mean()),
                "mean_wald": pairs(m.mean_cb(method="wald"))[0],
                "mean_lr": pairs(m.mean_cb(method="lr"))[0],
            },
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dist_time = fitted(family, x, e, "time")
            lo_q, est_q, hi_q = dist_time.CDF(CI_y=QS, show_plot=False)
            lo_r, est_r, hi_r = fitted(family, x, e, "reliability").SF(CI_x=ts, show_plot=False)
        rec["reliability"] = {
            "params": np.asarray(dist_time.parameters, float).tolist(),
            "quantile": np.asarray(est_q, float).tolist(),
            "quantile_bounds": np.stack([lo_q, hi_q], -1).tolist(),
            "sf": np.asarray(est_r, float).tolist(),
            "sf_bounds": np.sort(np.stack([lo_r, hi_r], -1), -1).tolist(),
        }
        pt, pf = plotting_positions(failures=x[e == 1], right_censored=x[e == 0], sort=True)
        rec["reliability"]["plotting_positions"] = [
            np.asarray(pt, float).tolist(),
            np.asarray(pf, float).tolist(),
        ]
        out["datasets"][name] = rec
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
