"""With several devices visible, fit_batch splits the batch across them: same results."""

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
import jaxmle as jm
model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"]),
                 {"mu": jm.Real(), "sigma": jm.Positive()})
X = np.random.default_rng(0).normal(5.0, 2.0, (1003, 40))
X[7, :5] = np.nan                      # a partly missing dataset
b = jm.fit_batch(model, X, chunk_size=256, nan_policy="omit")
print(json.dumps({
    "devices": jax.local_device_count(),
    "mu": np.asarray(b.params["mu"]).tolist(),
    "se": np.asarray(b.se["sigma"]).tolist(),
    "status": np.asarray(b.status).tolist(),
    "nobs": np.asarray(b.nobs).tolist(),
}))
"""


def _run(n_devices):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_devices}"
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_four_devices_equal_one():
    one, four = _run(1), _run(4)
    assert one["devices"] == 1 and four["devices"] == 4
    assert one["status"] == four["status"]
    assert one["nobs"] == four["nobs"] and one["nobs"][7] == 35
    for key in ("mu", "se"):
        diff = max(abs(a - b) for a, b in zip(one[key], four[key]))
        assert diff < 1e-12, (key, diff)
