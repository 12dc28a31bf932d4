"""What several test modules share: the models they fit, the data they fit them to, and small
helpers for command-line CSV files and plotted lines.

This is the one place for it, a plain module imported by name (``from helpers import
NORMAL``; pytest puts ``tests/`` on ``sys.path``) rather than conftest fixtures:

- a module-level constant can be used where fixtures cannot: in ``parametrize`` lists, in a
  module's own constants, and in the helper functions of a test module;
- each test process builds each model once: the compiled fit kernels are keyed by the model
  object, so the tests of a module that fit ``NORMAL`` to data of one shape compile its kernel
  once (conftest.py frees the compiled kernels after each module);
- a test reads its data by name, and the values stay exactly what they were when each module
  wrote them out itself.

Change nothing here in place: every definition is used by several modules, whose tolerances
were set for these exact models and values. Add a new one instead. The hand-written score
functions of the family tests, references rather than fixtures, stay in ``_scores.py``.
"""

import contextlib
import csv

import jax
import jax.numpy as jnp
import numpy as np

import jaxmle as jm

# --------------------------------------------------------------------------
# models written by hand, as a user writes them (per-observation log-likelihoods)
# --------------------------------------------------------------------------


def normal_loglik(p, x):  # module level: a model of it pickles by reference
    """The normal log-density of each observation."""
    return jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"])


#: the normal model: mean ``mu`` and standard deviation ``sigma``
NORMAL = jm.Model(normal_loglik, {"mu": jm.Real(), "sigma": jm.Positive()}, name="normal")


def unit_normal_loglik(p, x):
    """The normal log-density of each observation, with standard deviation 1."""
    return jax.scipy.stats.norm.logpdf(x, p["mu"], 1.0)


#: the normal model with a known standard deviation of 1: the mean ``mu`` alone
UNIT_NORMAL = jm.Model(unit_normal_loglik, {"mu": jm.Real()}, name="unit normal")


def expo_loglik(p, x):
    """The exponential log-density (``rate``) of each observation."""
    return jnp.log(p["rate"]) - p["rate"] * x


#: the exponential model, by its rate
EXPO = jm.Model(expo_loglik, {"rate": jm.Positive()}, name="exponential")


def censored_expo_loglik(p, d):
    """Right-censored exponential: the log-density of a failure (``d["event"]`` 1), the log
    survival of a censored unit (0), at the times ``d["t"]``."""
    return d["event"] * jnp.log(p["rate"]) - p["rate"] * d["t"]


#: the right-censored exponential model; data ``{"t": times, "event": 0 or 1}``
CENSORED_EXPO = jm.Model(censored_expo_loglik, {"rate": jm.Positive()}, name="censored exponential")


def coin_loglik(p, x):
    """The Bernoulli log-probability (``theta``) of each 0/1 observation."""
    return x * jnp.log(p["theta"]) + (1 - x) * jnp.log1p(-p["theta"])


#: a coin: the Bernoulli model of 0/1 flips
COIN = jm.Model(coin_loglik, {"theta": jm.UnitInterval()}, name="coin")


def weibull_loglik(p, data):
    """Right-censored Weibull (``shape`` k, ``scale`` lam): the log-density of a failure
    (``data["event"]`` 1), the log survival ``-(t/lam)^k`` of a censored unit (0)."""
    t, d = data["t"], data["event"]
    k, lam = p["shape"], p["scale"]
    z = t / lam
    return d * (jnp.log(k) - jnp.log(lam) + (k - 1) * jnp.log(z)) - z**k


#: the right-censored Weibull model; data ``{"t": times, "event": 0 or 1}``
WEIBULL = jm.Model(weibull_loglik, {"shape": jm.Positive(), "scale": jm.Positive()}, name="weibull")


def logistic_loglik(p, d):
    """Logistic regression: the Bernoulli log-probability of each ``d["y"]`` with log-odds
    ``d["X"] @ beta``."""
    eta = d["X"] @ p["beta"]
    return d["y"] * jax.nn.log_sigmoid(eta) + (1 - d["y"]) * jax.nn.log_sigmoid(-eta)


def logistic_model(k):
    """A logistic regression of ``k`` coefficients (intercept included in ``X``), written by
    hand; :data:`LOGIT3` is the package's own."""
    return jm.Model(logistic_loglik, {"beta": jm.Real(shape=(k,))}, name="logistic")


#: the package's logistic regression with three coefficients; data ``{"X": (n, 3), "y"}``
LOGIT3 = jm.models.LogisticRegression(3)

# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

#: five observations: the small sample of the derivative tests
SMALL = jnp.array([1.0, 2.0, 4.0, 7.0, 3.5])
#: eight right-censored times and their event indicators (1 failure, 0 censored)
CENSORED_T = jnp.array([0.8, 1.9, 2.4, 3.1, 3.3, 4.0, 5.2, 6.5])
CENSORED_EVENT = jnp.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
#: category probabilities of three categories
P3 = np.array([0.2, 0.3, 0.5])


def normal_data(n, seed=0, mu=2.0, sigma=1.5, batch=None):
    """``n`` normal draws (``batch`` rows of them, when given) from ``default_rng(seed)``."""
    size = n if batch is None else (batch, n)
    return np.random.default_rng(seed).normal(mu, sigma, size=size)


def censored_weibull_data(n, seed=0, shape=1.5, scale=2.0, censor_mean=5.0):
    """``{"t", "event"}``: ``n`` Weibull lifetimes right-censored by exponential censoring
    times (mean ``censor_mean``), from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    t = scale * rng.weibull(shape, n)
    c = rng.exponential(censor_mean, n)
    return {"t": np.minimum(t, c), "event": (t <= c).astype(float)}


def logistic_data(n, beta, seed=0):
    """``{"X", "y"}``: an intercept column and ``len(beta) - 1`` standard normal covariates,
    and 0/1 outcomes of log-odds ``X @ beta``, from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    beta = np.asarray(beta, float)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, beta.size - 1))])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X @ beta)))).astype(float)
    return {"X": X, "y": y}


# --------------------------------------------------------------------------
# compilations
# --------------------------------------------------------------------------

#: what JAX records (``jax.monitoring``) each time it lowers a program to compile it: on every
#: miss of a jit's own cache, before any persistent compilation cache is looked at
LOWERING_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"


def difference_hessian(f, theta, rel=2e-3):
    """Hessian of a scalar function: four-point central differences at steps h and h/2,
    Richardson-extrapolated (truncation error O(h^4), rounding error ~eps |f| / h^2)."""
    theta = np.asarray(theta, float)
    k = theta.size

    def at(h):
        H = np.empty((k, k))
        for i in range(k):
            for j in range(k):
                ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
                H[i, j] = (
                    f(theta + ei + ej)
                    - f(theta + ei - ej)
                    - f(theta - ei + ej)
                    + f(theta - ei - ej)
                ) / (4 * h[i] * h[j])
        return H

    h = rel * np.maximum(np.abs(theta), 1.0)
    return (4 * at(h / 2) - at(h)) / 3


@contextlib.contextmanager
def programs_compiled():
    """The names of the programs JAX lowers to compile them inside the block, as a list that
    fills as they come: empty when every call ran a program already compiled.

    It checks first that it sees the lowering of a new program (so that an empty list means
    what it says with this version of JAX)."""
    names = []

    def listen(event, duration, **kwargs):
        if event == LOWERING_EVENT:
            names.append(kwargs.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        jax.jit(lambda v: v * 3.0)(1.0)  # a new program: one lowering
        if not names:
            raise RuntimeError(f"jax.monitoring reports no {LOWERING_EVENT!r} event")
        names.clear()
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


# --------------------------------------------------------------------------
# command-line CSV files and plotted lines
# --------------------------------------------------------------------------


def write_csv(path, header, rows):
    """Write ``rows`` under ``header`` to the CSV file ``path``; returns the path as text."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def read_csv(path):
    """The rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_line(ax, label_start):
    """``(x, y)`` of the one line of ``ax`` whose label starts with ``label_start``."""
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith(label_start)]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
