"""float32 fits, checked in a fresh subprocess so the suite's float64 setting is never flipped.

The parent (float64, from conftest.py) computes the reference answers on the very same
float32-representable data, independently of jaxmle (closed forms, scipy, statsmodels); the
child (JAX_ENABLE_X64=0) fits in float32 and prints JSON.
"""

import json
import math
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, special, stats

import jaxmle as jm

ROOT = pathlib.Path(__file__).resolve().parents[1]
# float32 against the float64 closed forms and statsmodels (the checks through _check);
# measured at most 6.7e-7 (estimates) and 1.4e-6 (SEs, the batch's sigma): ~15x margin
EST_RTOL = 1e-5
SE_RTOL = 2e-5


def _env(x64):
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    if x64 is not None:
        env["JAX_ENABLE_X64"] = x64
    env["JAX_PLATFORMS"] = "cpu"
    env["JAXMLE_CACHE_DIR"] = "off"  # the demo command must not write to the user's cache
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(script, stdin="", x64="0"):
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=_env(x64),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


CHILD = r"""
import contextlib, io, json, os, sys, warnings
import jax, jax.numpy as jnp, numpy as np
import jaxmle as jm

if os.environ.get("JAXMLE_TEST_CACHE_DIR"):  # the test run's compilation cache (conftest.py)
    jax.config.update("jax_compilation_cache_dir", os.environ["JAXMLE_TEST_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

shown = []  # warnings that reach the user under the default filter (shown once per location)
warnings.showwarning = lambda message, category, *args, **kwargs: shown.append(category.__name__)

assert not jax.config.jax_enable_x64
inp = json.load(sys.stdin)
f32 = lambda v: jnp.asarray(np.asarray(v, dtype=np.float32))
out = {}

def record(name, res, keys):
    out[name] = {
        "params": {k: np.asarray(res.params[k]).tolist() for k in keys},
        "se": {k: np.asarray(res.se[k]).tolist() for k in keys},
        "dtypes": sorted({str(res.params[k].dtype) for k in keys} | {str(res.se[k].dtype) for k in keys}
                         | {str(res.loglik.dtype)}),
        "status": np.asarray(res.status).tolist(),
    }

sensor = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], jnp.sqrt(p["var"])),
                  {"mu": jm.Real(), "var": jm.Positive()})
record("sensor", jm.fit(sensor, f32([10.0, 12.0, 14.0])), ["mu", "var"])

expo = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x, {"rate": jm.Positive()})
record("waits", jm.fit(expo, f32([2.0, 4.0, 6.0])), ["rate"])

coin = jm.Model(lambda p, x: x * jnp.log(p["theta"]) + (1 - x) * jnp.log1p(-p["theta"]),
                {"theta": jm.UnitInterval()})
record("coin", jm.fit(coin, f32([1.0, 1.0, 0.0, 1.0, 0.0])), ["theta"])

logit = jm.fit(jm.models.LogisticRegression(3), {"X": f32(inp["logit_X"]), "y": f32(inp["logit_y"])})
record("logit", logit, ["beta"])

normal = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"]),
                  {"mu": jm.Real(), "sigma": jm.Positive()})
record("batch", jm.fit_batch(normal, f32(inp["batch"])), ["mu", "sigma"])

for name, data in inp["families"].items():
    res = jm.fit_batch(jm.distributions.families.model_for(jm.distributions.get_distribution(name)),
                       {"x": f32(data)})
    keys = list(res.params)
    record("family_" + name, res, keys)

out["warnings"] = list(shown)
out["x64_after"] = bool(jax.config.jax_enable_x64)
out["default_float"] = str(jnp.result_type(float))

# `jaxmle demo --float32` in this fresh float32 process, after the checks above (its
# coin, waits and sensor kernels are those of the fits above, loaded from the cache)
from jaxmle.cli import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    out["demo_code"] = main(["demo", "--float32"])
out["demo_stdout"] = buf.getvalue()
out["warnings_after_demo"] = list(shown)
print(json.dumps(out))
"""


def _normal_mle(X):
    """Closed-form Gaussian MLE per row (float64): mean, sqrt(mean sq. dev.), and the
    inverse-observed-information SEs sigma/sqrt(n), sigma/sqrt(2n)."""
    n = X.shape[1]
    mu = X.mean(axis=1)
    s = np.sqrt(np.mean((X - mu[:, None]) ** 2, axis=1))
    return mu, s, s / np.sqrt(n), s / np.sqrt(2 * n)


@pytest.fixture(scope="module")
def float32_run():
    assert jax.config.jax_enable_x64  # the parent stays float64 throughout
    rng = np.random.default_rng(2024)
    n = 500
    # data rounded to float32 first, so the float64 references see exactly the child's data
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(-1, 1, size=n)]).astype(
        np.float32
    )
    eta = X.astype(float) @ np.array([-0.5, 1.2, 0.8])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(np.float32)
    batch = (
        rng.uniform(2, 8, size=(100, 1))
        + rng.uniform(0.5, 2, size=(100, 1)) * rng.normal(size=(100, 30))
    ).astype(np.float32)

    families = {k: draw(rng, (8, 200)).astype(np.float32) for k, draw in FAMILY_DATA.items()}
    inp = {
        "logit_X": X.tolist(),
        "logit_y": y.tolist(),
        "batch": batch.tolist(),
        "families": {k: v.tolist() for k, v in families.items()},
    }
    out = json.loads(_run(CHILD, stdin=json.dumps(inp)).strip().splitlines()[-1])
    return out, (X.astype(np.float64), y.astype(np.float64)), batch.astype(np.float64), families


def _check(entry, est_ref, se_ref):
    assert entry["dtypes"] == ["float32"], entry["dtypes"]
    assert np.all(np.asarray(entry["status"]) == int(jm.Status.CONVERGED)), entry["status"]
    for k, want in est_ref.items():
        np.testing.assert_allclose(np.asarray(entry["params"][k]), want, rtol=EST_RTOL, err_msg=k)
    for k, want in se_ref.items():
        np.testing.assert_allclose(
            np.asarray(entry["se"][k]), want, rtol=SE_RTOL, err_msg=f"se {k}"
        )


def test_float32_sensor(float32_run):
    out, _, _, _ = float32_run
    v = 8.0 / 3.0  # closed form (the note's example 3): mu = 12, var = 8/3
    _check(
        out["sensor"],
        {"mu": 12.0, "var": v},
        {"mu": math.sqrt(v / 3), "var": math.sqrt(2 * v * v / 3)},
    )


def test_float32_exponential_waits(float32_run):
    out, _, _, _ = float32_run
    # closed form (example 2): rate = 3/12, se = rate/sqrt(n)
    _check(out["waits"], {"rate": 0.25}, {"rate": 0.25 / math.sqrt(3)})


def test_float32_coin(float32_run):
    out, _, _, _ = float32_run
    # closed form (example 1): theta = 3/5, se = sqrt(theta(1-theta)/n)
    _check(out["coin"], {"theta": 0.6}, {"theta": math.sqrt(0.24 / 5)})


def test_float32_logistic_regression_matches_statsmodels(float32_run):
    sm = pytest.importorskip("statsmodels.api")
    out, (X, y), _, _ = float32_run
    ref = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-14, maxiter=100)  # float64
    assert ref.mle_retvals["converged"]
    _check(out["logit"], {"beta": np.asarray(ref.params)}, {"beta": np.asarray(ref.bse)})


def test_float32_batch_of_normal_datasets(float32_run):
    out, _, batch, _ = float32_run
    mu, s, se_mu, se_s = _normal_mle(batch)  # float64 closed form on the same data
    assert len(out["batch"]["status"]) == 100
    _check(out["batch"], {"mu": mu, "sigma": s}, {"mu": se_mu, "sigma": se_s})


def test_float32_fit_does_not_flip_x64(float32_run):
    out, _, _, _ = float32_run
    assert out["x64_after"] is False
    assert out["default_float"] == "float32"


def test_float32_warning_shown_once(float32_run):
    # every fit of the child ran in float32; the default filter shows the warning once
    out = float32_run[0]
    assert out["warnings"] == ["Float32Warning"]


def test_demo_command_in_float32(float32_run):
    # float32 is JAX's default; the demo must hold there too (tolerances follow the dtype).
    # (`python -m jaxmle` itself is run by test_demo.py and test_cli.py)
    out = float32_run[0]
    assert out["demo_code"] == 0, out["demo_stdout"]
    # the demo's imports change the warning filters; the warning is still shown only once
    assert out["warnings_after_demo"] == ["Float32Warning"]
    assert "(float32)" in out["demo_stdout"]
    assert "all examples agree with the note" in out["demo_stdout"]


def test_no_float32_warning_in_float64():
    # the suite runs with filterwarnings=error: a float64 fit warning would raise here
    res = jm.fit(jm.families.Exponential(), {"x": jnp.array([1.0, 2.0])})
    assert res.params["rate"].dtype == jnp.float64
    assert issubclass(jm.Float32Warning, UserWarning)


# Families of varied difficulty: closed form (normal), special functions (gamma:
# digamma; student_t: df through digamma and lgamma; beta), NB2 (two parameters of very
# different scale). 8 datasets of 200 each. docs/validity.md has every model's table.
FAMILY_DATA = {
    "normal": lambda rng, s: 3.0 + 2.0 * rng.normal(size=s),
    "gamma": lambda rng, s: rng.gamma(2.5, 1.5, size=s),
    "student_t": lambda rng, s: rng.standard_t(5.0, size=s),
    "beta": lambda rng, s: rng.beta(2.0, 5.0, size=s),
    "negative_binomial": lambda rng, s: rng.negative_binomial(2.0, 1 / 3, size=s),
}


# -- independent float64 references: closed forms, or scipy root finding on the score ------
# Each returns (estimates, observed information) of one dataset; the SEs are the square
# roots of the diagonal of the inverse information.
def _ref_normal(x):
    n, m = len(x), x.mean()
    s = np.sqrt(np.mean((x - m) ** 2))
    return {"loc": m, "scale": s}, n * np.diag([1 / s**2, 2 / s**2])


def _ref_gamma(x):
    # shape a solves log a - digamma(a) = log mean - mean log; scale = mean / a
    n, m, c = len(x), x.mean(), np.log(x.mean()) - np.log(x).mean()
    a = optimize.brentq(lambda a: np.log(a) - special.digamma(a) - c, 1e-3, 1e3, xtol=1e-15)
    s = m / a
    info = n * np.array([[special.polygamma(1, a), 1 / s], [1 / s, a / s**2]])
    return {"shape": a, "scale": s}, info


def _ref_beta(x):
    # the score equations digamma(a) - digamma(a + b) = mean log x (and 1 - x for b)
    n, la, lb = len(x), np.log(x).mean(), np.log1p(-x).mean()

    def score(v):
        a, b = np.exp(v)
        return [
            special.digamma(a) - special.digamma(a + b) - la,
            special.digamma(b) - special.digamma(a + b) - lb,
        ]

    sol = optimize.root(score, np.zeros(2), method="hybr", tol=1e-13)
    a, b = np.exp(sol.x)
    t1, ta, tb = (special.polygamma(1, v) for v in (a + b, a, b))
    info = n * np.array([[ta - t1, -t1], [-t1, tb - t1]])
    g = n * np.asarray(score(np.log([a, b])))
    assert g @ np.linalg.solve(info, g) < 1e-20, g  # converged: the loglik to gain < 1e-20
    return {"a": a, "b": b}, info


def _ref_negative_binomial(x):
    # NB2: the mean's MLE is the sample mean; r = 1/alpha solves the profile score
    n, m = len(x), x.mean()
    f = lambda r: np.sum(special.digamma(x + r)) - n * special.digamma(r) + n * np.log(r / (r + m))
    r = optimize.brentq(f, 1e-2, 1e4, xtol=1e-14, rtol=1e-15)
    # observed information in (mean, r), then to alpha = 1/r (the score is 0 there)
    h_mm = np.sum(x / m**2 - (x + r) / (r + m) ** 2)
    h_mr = -np.sum((x - m) / (r + m) ** 2)
    h_rr = -np.sum(
        special.polygamma(1, x + r)
        - special.polygamma(1, r)
        + 1 / r
        - 1 / (r + m)
        - (m - x) / (r + m) ** 2
    )
    jac = np.diag([1.0, -(r**2)])  # d(mean, r) / d(mean, alpha)
    return {"mean": m, "alpha": 1 / r}, jac.T @ np.array([[h_mm, h_mr], [h_mr, h_rr]]) @ jac


def _t_score(v, x):
    """Score of Student's t in (loc, scale, df), summed over x."""
    mu, s, nu = v
    z = (x - mu) / s
    q = nu + z**2
    return np.array(
        [
            np.sum((nu + 1) * z / (s * q)),
            np.sum(-1 / s + (nu + 1) * z**2 / (s * q)),
            np.sum(
                0.5 * (special.digamma((nu + 1) / 2) - special.digamma(nu / 2))
                - 0.5 / nu
                - 0.5 * np.log1p(z**2 / nu)
                + (nu + 1) * z**2 / (2 * nu * q)
            ),
        ]
    )


def _ref_student_t(x):
    # scipy's fit as the start, its score solved to rounding, the information by central
    # differences of the analytic score (step 1e-5 relative: error ~1e-10 relative)
    df, loc, scale = stats.t.fit(x)
    sol = optimize.root(_t_score, [loc, scale, df], args=(x,), method="hybr", tol=1e-13)
    v = sol.x
    info = np.empty((3, 3))
    for j in range(3):
        h = 1e-5 * max(abs(v[j]), 1.0)
        e = np.zeros(3)
        e[j] = h
        info[:, j] = -(_t_score(v + e, x) - _t_score(v - e, x)) / (2 * h)
    info = (info + info.T) / 2
    g = _t_score(v, x)
    assert g @ np.linalg.solve(info, g) < 1e-20, g  # converged: the loglik to gain < 1e-20
    return {"loc": v[0], "scale": v[1], "df": v[2]}, info


FAMILY_REF = {
    "normal": _ref_normal,
    "gamma": _ref_gamma,
    "student_t": _ref_student_t,
    "beta": _ref_beta,
    "negative_binomial": _ref_negative_binomial,
}


def _family_reference(name, X):
    """Estimates and SEs of every dataset (row of X), in float64."""
    est, se = {}, {}
    for x in X.astype(np.float64):
        e, info = FAMILY_REF[name](x)
        sd = np.sqrt(np.diag(np.linalg.inv(info)))
        for i, k in enumerate(e):
            est.setdefault(k, []).append(e[k])
            se.setdefault(k, []).append(sd[i])
    return {k: np.array(v) for k, v in est.items()}, {k: np.array(v) for k, v in se.items()}


# float32 against the float64 references, per family: 10x the worst relative error measured
# on these 8 datasets (estimates, SEs). The special functions (digamma, lgamma) and flat
# directions (the t's df) lose the most; docs/validity.md has the table on 20 datasets.
FAMILY_RTOL = {
    "normal": (1e-6, 3e-6),  # measured 7.6e-8, 2.9e-7
    "gamma": (2e-5, 4e-5),  # measured 1.5e-6, 3.5e-6
    "student_t": (5e-4, 1.5e-3),  # measured 5.1e-5 (df), 1.3e-4 (df's SE)
    "beta": (6e-5, 8e-5),  # measured 5.8e-6, 7.1e-6
    "negative_binomial": (2e-4, 1.2e-4),  # measured 1.7e-5 (alpha), 1.2e-5
}


@pytest.mark.parametrize("name", sorted(FAMILY_DATA))
def test_float32_family_precision(float32_run, name):
    out, _, _, families = float32_run
    entry = out[f"family_{name}"]
    assert entry["dtypes"] == ["float32"], entry["dtypes"]
    # every dataset converges, in float32 and in the references
    assert entry["status"] == [int(jm.Status.CONVERGED)] * len(families[name]), entry["status"]
    est, se = _family_reference(name, families[name])
    assert set(entry["params"]) == set(est)
    est_rtol, se_rtol = FAMILY_RTOL[name]
    for k in est:
        np.testing.assert_allclose(np.asarray(entry["params"][k]), est[k], rtol=est_rtol, err_msg=k)
        np.testing.assert_allclose(
            np.asarray(entry["se"][k]), se[k], rtol=se_rtol, err_msg=f"se {k}"
        )


@pytest.mark.parametrize("x64", [None, "0"], ids=["unset", "JAX_ENABLE_X64=0"])
def test_import_does_not_flip_x64(x64):
    stdout = _run(
        "import jax, jaxmle, jaxmle.models, jaxmle.demo, jaxmle.cli; print(jax.config.jax_enable_x64)",
        x64=x64,
    )
    assert stdout.strip() == "False"
