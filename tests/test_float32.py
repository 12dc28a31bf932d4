"""float32 fits, checked in a fresh subprocess so the suite's float64 setting is never flipped.

The parent (float64, from conftest.py) computes the reference answers on the very same
float32-representable data; the child (JAX_ENABLE_X64=0) fits in float32 and prints JSON.
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

import jaxmle as jm

ROOT = pathlib.Path(__file__).resolve().parents[1]
EST_RTOL = 1e-5
SE_RTOL = 1e-4


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

    # float64 reference of the logistic regression: jaxmle itself in this (float64) process
    ref = jm.fit(
        jm.models.LogisticRegression(3),
        {"X": jnp.asarray(X, jnp.float64), "y": jnp.asarray(y, jnp.float64)},
    )
    assert ref.params["beta"].dtype == jnp.float64
    assert int(ref.status) == jm.Status.CONVERGED
    return out, ref, batch.astype(np.float64), families


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


def test_float32_logistic_regression_matches_float64(float32_run):
    out, ref, _, _ = float32_run
    _check(
        out["logit"], {"beta": np.asarray(ref.params["beta"])}, {"beta": np.asarray(ref.se["beta"])}
    )


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
#: documented float32 precision against float64 on the same data (docs/validity.md)
FAMILY_EST_RTOL = 2e-4
FAMILY_SE_RTOL = 2e-3


@pytest.mark.parametrize("name", sorted(FAMILY_DATA))
def test_float32_family_precision(float32_run, name):
    out, _, _, families = float32_run
    entry = out[f"family_{name}"]
    assert entry["dtypes"] == ["float32"], entry["dtypes"]
    model = jm.distributions.families.model_for(jm.distributions.get_distribution(name))
    ref = jm.fit_batch(model, {"x": jnp.asarray(families[name], jnp.float64)})
    # the beta family's float32 solver sometimes stops at the iteration limit (an honest
    # MAX_ITER): compare the fits that converged in both dtypes, most of them
    ok = (np.asarray(entry["status"]) == 0) & (np.asarray(ref.status) == 0)
    assert ok.sum() >= 6, entry["status"]
    for k in entry["params"]:
        np.testing.assert_allclose(
            np.asarray(entry["params"][k])[ok],
            np.asarray(ref.params[k])[ok],
            rtol=FAMILY_EST_RTOL,
            err_msg=k,
        )
        np.testing.assert_allclose(
            np.asarray(entry["se"][k])[ok],
            np.asarray(ref.se[k])[ok],
            rtol=FAMILY_SE_RTOL,
            err_msg=f"se {k}",
        )


@pytest.mark.parametrize("x64", [None, "0"], ids=["unset", "JAX_ENABLE_X64=0"])
def test_import_does_not_flip_x64(x64):
    stdout = _run(
        "import jax, jaxmle, jaxmle.models, jaxmle.demo, jaxmle.cli; print(jax.config.jax_enable_x64)",
        x64=x64,
    )
    assert stdout.strip() == "False"
