"""The worked examples of the maximum-likelihood note, fitted with jaxmle.

Each example returns rows ``(quantity, jaxmle estimate, closed form)`` so that
the demo prints them side by side and the tests check them.

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

import jax
import jax.numpy as jnp
import numpy as np

from .constraints import Positive, Real, Simplex, UnitInterval
from .fit import fit
from .model import Model
from .models import LinearRegression, LogisticRegression

__all__ = ["EXAMPLES", "run", "coin", "call_centre", "sensor", "drives", "abc_test", "bridge"]

Row = tuple[str, float, float]


def _f(x) -> float:
    return float(np.asarray(x))


def coin() -> list[Row]:
    """Example 1: five flips H, H, T, H, T (Bernoulli): theta = 3/5."""
    x = jnp.array([1.0, 1.0, 0.0, 1.0, 0.0])

    def loglik(p, x):
        return x * jnp.log(p["theta"]) + (1 - x) * jnp.log1p(-p["theta"])

    res = fit(Model(loglik, {"theta": UnitInterval()}, name="coin"), x)
    theta, n = 0.6, 5
    return [
        ("theta", _f(res.params["theta"]), theta),
        ("se(theta)", _f(res.se["theta"]), math.sqrt(theta * (1 - theta) / n)),
    ]


def call_centre() -> list[Row]:
    """Example 2: waits of 2, 4, 6 minutes (exponential): lambda = 3/12."""
    x = jnp.array([2.0, 4.0, 6.0])

    def loglik(p, x):
        return jnp.log(p["rate"]) - p["rate"] * x

    res = fit(Model(loglik, {"rate": Positive()}, name="call centre"), x)
    lam, n = 0.25, 3
    return [
        ("lambda", _f(res.params["rate"]), lam),
        ("se(lambda)", _f(res.se["rate"]), lam / math.sqrt(n)),
        ("mean wait 1/lambda", 1.0 / _f(res.params["rate"]), 4.0),
    ]


def sensor() -> list[Row]:
    """Example 3: readings 10, 12, 14 (Gaussian, unknown mean and variance)."""
    x = jnp.array([10.0, 12.0, 14.0])

    def loglik(p, x):
        return jax.scipy.stats.norm.logpdf(x, p["mu"], jnp.sqrt(p["var"]))

    res = fit(Model(loglik, {"mu": Real(), "var": Positive()}, name="sensor"), x)
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

    def loglik(p, d):
        # density for a failure, survival function for a censored drive
        return d["event"] * jnp.log(p["rate"]) - p["rate"] * d["t"]

    res = fit(Model(loglik, {"rate": Positive()}, name="drives"), data)
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

    def loglik(p, k):
        return jnp.log(p["p"][k])

    res = fit(Model(loglik, {"p": Simplex(3)}, name="A/B/C test"), outcome, weights=counts)
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
    lin = fit(LinearRegression(2), {"X": jnp.asarray(X), "y": jnp.asarray(y)})
    beta_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    rss = float(np.sum((y - X @ beta_ls) ** 2))

    yb = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X @ np.array([-0.5, 1.5]))))).astype(float)
    logit = fit(LogisticRegression(2), {"X": jnp.asarray(X), "y": jnp.asarray(yb)})
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


EXAMPLES = {
    "Example 1, biased coin (Bernoulli)": coin,
    "Example 2, call-centre waits (exponential)": call_centre,
    "Example 3, sensor calibration (Gaussian)": sensor,
    "Example 4, hard-drive failures (right-censored exponential)": drives,
    "Example 5, A/B/C test (multinomial)": abc_test,
    "MSE / cross-entropy bridge": bridge,
}


def run(print_fn=print) -> bool:
    """Fit every example and print jaxmle's numbers beside the closed forms.

    Returns ``True`` when every number agrees with its closed form.
    """
    all_ok = True
    dtype = jnp.result_type(float)
    rtol = 1e-9 if jnp.finfo(dtype).bits == 64 else 2e-4
    print_fn(f"jaxmle demo: the note's worked examples ({jnp.dtype(dtype).name})")
    for title, example in EXAMPLES.items():
        print_fn("")
        print_fn(title)
        print_fn(f"  {'quantity':<32}{'jaxmle':>14}{'closed form':>14}")
        for name, got, want in example():
            ok = math.isclose(got, want, rel_tol=rtol, abs_tol=rtol)
            all_ok &= ok
            print_fn(f"  {name:<32}{got:>14.6f}{want:>14.6f}  {'ok' if ok else 'MISMATCH'}")
    print_fn("")
    print_fn("all examples agree with the note" if all_ok else "SOME EXAMPLES DISAGREE")
    return all_ok
