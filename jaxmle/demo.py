"""The worked examples of the maximum-likelihood note, fitted with jaxmle, and a simulated fleet.

Each example returns rows ``(quantity, jaxmle estimate, closed form)`` so that
the demo prints them side by side and the tests check them. :func:`sensors`
fits 10,000 simulated sensors in one batch and measures how often the 95%
intervals contain the true values.

Example:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmle.demo import coin
    >>> rows = coin()
    >>> rows[0][0], round(rows[0][1], 12), rows[0][2]
    ('theta', 0.6, 0.6)
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from ._format import status_counts
from .constraints import Positive, Real, Simplex, UnitInterval
from .distributions import families
from .fit import fit, fit_batch
from .model import Model
from .models.regression import LinearRegression, LogisticRegression

__all__ = [
    "EXAMPLES",
    "run",
    "sensors",
    "coin",
    "call_centre",
    "sensor",
    "drives",
    "abc_test",
    "bridge",
]

Row = tuple[str, float, float]


def _f(x) -> float:
    return float(np.asarray(x))


# The models are built once, at import, so that running an example again reuses its
# compiled kernel.
def _coin_loglik(p, x):
    return x * jnp.log(p["theta"]) + (1 - x) * jnp.log1p(-p["theta"])


def _rate_loglik(p, x):
    return jnp.log(p["rate"]) - p["rate"] * x


def _sensor_loglik(p, x):
    return jax.scipy.stats.norm.logpdf(x, p["mu"], jnp.sqrt(p["var"]))


def _drives_loglik(p, d):
    # density for a failure, survival function for a censored drive
    return d["event"] * jnp.log(p["rate"]) - p["rate"] * d["t"]


def _abc_loglik(p, k):
    return jnp.log(p["p"][k])


_COIN = Model(_coin_loglik, {"theta": UnitInterval()}, name="coin")
_CALL_CENTRE = Model(_rate_loglik, {"rate": Positive()}, name="call centre")
_SENSOR = Model(_sensor_loglik, {"mu": Real(), "var": Positive()}, name="sensor")
_DRIVES = Model(_drives_loglik, {"rate": Positive()}, name="drives")
_ABC = Model(_abc_loglik, {"p": Simplex(3)}, name="A/B/C test")
_LINEAR = LinearRegression(2)
_LOGISTIC = LogisticRegression(2)


def coin() -> list[Row]:
    """Example 1: five flips H, H, T, H, T (Bernoulli): theta = 3/5."""
    x = jnp.array([1.0, 1.0, 0.0, 1.0, 0.0])
    res = fit(_COIN, x)
    theta, n = 0.6, 5
    return [
        ("theta", _f(res.params["theta"]), theta),
        ("se(theta)", _f(res.se["theta"]), math.sqrt(theta * (1 - theta) / n)),
    ]


def call_centre() -> list[Row]:
    """Example 2: waits of 2, 4, 6 minutes (exponential): lambda = 3/12."""
    x = jnp.array([2.0, 4.0, 6.0])
    res = fit(_CALL_CENTRE, x)
    lam, n = 0.25, 3
    return [
        ("lambda", _f(res.params["rate"]), lam),
        ("se(lambda)", _f(res.se["rate"]), lam / math.sqrt(n)),
        ("mean wait 1/lambda", 1.0 / _f(res.params["rate"]), 4.0),
    ]


def sensor() -> list[Row]:
    """Example 3: readings 10, 12, 14 (Gaussian, unknown mean and variance)."""
    x = jnp.array([10.0, 12.0, 14.0])
    res = fit(_SENSOR, x)
    v, n = 8.0 / 3.0, 3
    return [
        ("mu", _f(res.params["mu"]), 12.0),
        ("sigma^2", _f(res.params["var"]), v),
        ("se(mu)", _f(res.se["mu"]), math.sqrt(v / n)),
        ("se(sigma^2)", _f(res.se["var"]), math.sqrt(2 * v * v / n)),
    ]


def drives() -> list[Row]:
    """Example 4: drives failing at 2 and 4 years, one still running at 5 (right-censored)."""
    data = {"t": jnp.array([2.0, 4.0, 5.0]), "event": jnp.array([1.0, 1.0, 0.0])}
    res = fit(_DRIVES, data)
    lam = 2.0 / 11.0
    return [
        ("lambda", _f(res.params["rate"]), lam),
        ("se(lambda)", _f(res.se["rate"]), lam / math.sqrt(2)),
        ("mean lifetime 1/lambda", 1.0 / _f(res.params["rate"]), 5.5),
    ]


def abc_test() -> list[Row]:
    """Example 5: 50 clicks, 30 hovers, 20 ignores out of 100 (multinomial)."""
    outcome = jnp.array([0, 1, 2])
    counts = jnp.array([50.0, 30.0, 20.0])
    res = fit(_ABC, outcome, weights=counts)
    p = np.array([0.5, 0.3, 0.2])
    se = np.sqrt(p * (1 - p) / 100)
    est, ses = np.asarray(res.params["p"]), np.asarray(res.se["p"])
    rows = [(f"p{i + 1}", float(est[i]), float(p[i])) for i in range(3)]
    rows += [(f"se(p{i + 1})", float(ses[i]), float(se[i])) for i in range(3)]
    rank = int(np.linalg.matrix_rank(np.asarray(res.cov), tol=1e-10))
    rows.append(("rank of cov", float(rank), 2.0))
    return rows


def bridge() -> list[Row]:
    """The MSE and cross-entropy bridge: Gaussian MLE = least squares, Bernoulli MLE = min BCE."""
    rng = np.random.default_rng(0)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ np.array([1.0, 2.0]) + rng.normal(scale=0.5, size=n)
    lin = fit(_LINEAR, {"X": jnp.asarray(X), "y": jnp.asarray(y)})
    beta_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    rss = float(np.sum((y - X @ beta_ls) ** 2))

    yb = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X @ np.array([-0.5, 1.5]))))).astype(float)
    logit = fit(_LOGISTIC, {"X": jnp.asarray(X), "y": jnp.asarray(yb)})
    bce = -_f(logit.loglik) / n  # the minimized mean binary cross-entropy
    b = np.asarray(logit.params["beta"])
    p = 1 / (1 + np.exp(-(X @ b)))
    bce_direct = float(-np.mean(yb * np.log(p) + (1 - yb) * np.log(1 - p)))
    return [
        ("beta0 (MLE vs least squares)", _f(lin.params["beta"][0]), float(beta_ls[0])),
        ("beta1 (MLE vs least squares)", _f(lin.params["beta"][1]), float(beta_ls[1])),
        ("sigma^2 (MLE vs RSS/n)", _f(lin.params["sigma"]) ** 2, rss / n),
        ("mean BCE at the logistic MLE", bce, bce_direct),
    ]


def sensors(
    n_sensors: int = 10_000, readings: int = 50, level: float = 0.95, seed: int = 0
) -> dict:
    """A simulated fleet: fit every sensor's lifetimes at once and check interval coverage.

    Each sensor has its own failure rate (uniform between 0.5 and 2 per
    thousand hours); its ``readings`` lifetimes are exponential and
    right-censored at an inspection after 2,000 hours. One
    :func:`jaxmle.fit_batch` call fits every sensor; the ``level`` Wald
    intervals should contain the true rates for about ``level`` of the
    sensors.

    Returns:
        dict with ``n_sensors``, ``readings``, ``censored`` (fraction of
        censored lifetimes), ``first_s`` and ``second_s`` (seconds of the
        first call, compilation included, and of a second call), ``status``
        (counts per status, in words), ``coverage`` and ``level``.

    Example:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.demo import sensors
        >>> out = sensors(n_sensors=200)
        >>> out["status"], 0.85 < out["coverage"] <= 1.0
        ('200 converged', True)
    """
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.5, 2.0, n_sensors)  # failures per thousand hours
    life = rng.exponential(1.0 / rate[:, None], (n_sensors, readings))
    inspection = 2.0
    data = {"x": np.minimum(life, inspection), "event": life <= inspection}

    t0 = time.perf_counter()
    res = jax.block_until_ready(fit_batch(_SENSORS, data))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = jax.block_until_ready(fit_batch(_SENSORS, data))
    second = time.perf_counter() - t0

    lo, hi = (np.asarray(v) for v in res.conf_int(level)["rate"])
    covered = np.asarray(res.converged) & (lo <= rate) & (rate <= hi)
    return {
        "n_sensors": n_sensors,
        "readings": readings,
        "censored": float(1.0 - np.mean(data["event"])),
        "first_s": first,
        "second_s": second,
        "status": status_counts(np.asarray(res.status)),
        "coverage": float(np.mean(covered)),
        "level": level,
    }


_SENSORS = families.Exponential()

#: largest distance between the simulated coverage and the nominal level that passes
COVERAGE_TOL = 0.015


EXAMPLES = {
    "Example 1, biased coin (Bernoulli)": coin,
    "Example 2, call-centre waits (exponential)": call_centre,
    "Example 3, sensor calibration (Gaussian)": sensor,
    "Example 4, hard-drive failures (right-censored exponential)": drives,
    "Example 5, A/B/C test (multinomial)": abc_test,
    "MSE / cross-entropy bridge": bridge,
}


def run(print_fn=print, n_sensors: int = 10_000, examples=None) -> bool:
    """Fit the note's examples and print jaxmle's numbers beside the closed forms, then fit a
    simulated fleet of ``n_sensors`` sensors (see :func:`sensors`) and print its timing and the
    coverage of its 95% intervals.

    Args:
        print_fn: where the lines go.
        n_sensors: sensors in the simulated fleet.
        examples: titles of :data:`EXAMPLES` to run (default: all of them).

    Returns:
        ``True`` when every number agrees with its closed form and the coverage
        is within :data:`COVERAGE_TOL` of 95%.

    Example:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.demo import run
        >>> lines = []
        >>> run(lines.append, n_sensors=200, examples=["Example 1, biased coin (Bernoulli)"])
        True
        >>> lines[-1]
        'all examples agree with the note; interval coverage as nominal'
    """
    chosen = list(EXAMPLES) if examples is None else list(examples)
    unknown = [t for t in chosen if t not in EXAMPLES]
    if unknown:
        raise ValueError(f"unknown example(s) {unknown}; the examples are {list(EXAMPLES)}")
    all_ok = True
    dtype = jnp.result_type(float)
    rtol = 1e-9 if jnp.finfo(dtype).bits == 64 else 2e-4
    print_fn(f"jaxmle demo: the note's worked examples ({jnp.dtype(dtype).name})")
    for title in chosen:
        example = EXAMPLES[title]
        print_fn("")
        print_fn(title)
        print_fn(f"  {'quantity':<32}{'jaxmle':>14}{'closed form':>14}")
        for name, got, want in example():
            ok = math.isclose(got, want, rel_tol=rtol, abs_tol=rtol)
            all_ok &= ok
            print_fn(f"  {name:<32}{got:>14.6f}{want:>14.6f}  {'ok' if ok else 'MISMATCH'}")

    out = sensors(n_sensors=n_sensors)
    print_fn("")
    print_fn(
        f"Simulated fleet: {out['n_sensors']:,} sensors x {out['readings']} lifetimes "
        f"(exponential, {out['censored']:.0%} right-censored), one fit_batch call"
    )
    print_fn(
        f"  first call {out['first_s']:.2f} s (compilation included), "
        f"second call {out['second_s']:.3f} s"
    )
    print_fn(f"  status: {out['status']}")
    cover_ok = abs(out["coverage"] - out["level"]) <= COVERAGE_TOL
    print_fn(
        f"  the {out['level']:.0%} intervals cover the true rate for {out['coverage']:.1%} of "
        f"the sensors (nominal {out['level']:.0%})  {'ok' if cover_ok else 'OFF'}"
    )
    print_fn("")
    if all_ok and cover_ok:
        print_fn("all examples agree with the note; interval coverage as nominal")
    elif all_ok:
        print_fn("all examples agree with the note; INTERVAL COVERAGE OFF")
    else:
        print_fn("SOME EXAMPLES DISAGREE")
    return all_ok and cover_ok
