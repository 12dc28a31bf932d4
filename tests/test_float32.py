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
import json, sys
import jax, jax.numpy as jnp, numpy as np
import jaxmle as jm

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

out["x64_after"] = bool(jax.config.jax_enable_x64)
out["default_float"] = str(jnp.result_type(float))
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

    inp = {"logit_X": X.tolist(), "logit_y": y.tolist(), "batch": batch.tolist()}
    out = json.loads(_run(CHILD, stdin=json.dumps(inp)).strip().splitlines()[-1])

    # float64 reference of the logistic regression: jaxmle itself in this (float64) process
    ref = jm.fit(
        jm.models.LogisticRegression(3),
        {"X": jnp.asarray(X, jnp.float64), "y": jnp.asarray(y, jnp.float64)},
    )
    assert ref.params["beta"].dtype == jnp.float64
    assert int(ref.status) == jm.Status.CONVERGED
    return out, ref, batch.astype(np.float64)


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
    out, _, _ = float32_run
    v = 8.0 / 3.0  # closed form (the note's example 3): mu = 12, var = 8/3
    _check(
        out["sensor"],
        {"mu": 12.0, "var": v},
        {"mu": math.sqrt(v / 3), "var": math.sqrt(2 * v * v / 3)},
    )


def test_float32_exponential_waits(float32_run):
    out, _, _ = float32_run
    # closed form (example 2): rate = 3/12, se = rate/sqrt(n)
    _check(out["waits"], {"rate": 0.25}, {"rate": 0.25 / math.sqrt(3)})


def test_float32_coin(float32_run):
    out, _, _ = float32_run
    # closed form (example 1): theta = 3/5, se = sqrt(theta(1-theta)/n)
    _check(out["coin"], {"theta": 0.6}, {"theta": math.sqrt(0.24 / 5)})


def test_float32_logistic_regression_matches_float64(float32_run):
    out, ref, _ = float32_run
    _check(
        out["logit"], {"beta": np.asarray(ref.params["beta"])}, {"beta": np.asarray(ref.se["beta"])}
    )


def test_float32_batch_of_normal_datasets(float32_run):
    out, _, batch = float32_run
    mu, s, se_mu, se_s = _normal_mle(batch)  # float64 closed form on the same data
    assert len(out["batch"]["status"]) == 100
    _check(out["batch"], {"mu": mu, "sigma": s}, {"mu": se_mu, "sigma": se_s})


def test_float32_fit_does_not_flip_x64(float32_run):
    out, _, _ = float32_run
    assert out["x64_after"] is False
    assert out["default_float"] == "float32"


@pytest.mark.parametrize("x64", [None, "0"], ids=["unset", "JAX_ENABLE_X64=0"])
def test_import_does_not_flip_x64(x64):
    stdout = _run(
        "import jax, jaxmle, jaxmle.models, jaxmle.demo, jaxmle.cli; print(jax.config.jax_enable_x64)",
        x64=x64,
    )
    assert stdout.strip() == "False"
