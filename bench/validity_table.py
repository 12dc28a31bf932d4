#!/usr/bin/env python
"""Statistical validity of jaxmle's estimates, standard errors and Wald intervals.

    python bench/validity_table.py [--out docs/validity.md] [--small 20] [--reps 2000]
                                   [--profile 200] [--only normal,weibull]

For every distribution family and every regression model: simulate ``B``
datasets from known parameters (numpy, fixed seed), fit them all in ONE
``jm.fit_batch`` call, and report per parameter

* the pull mean and variance, ``pull = (estimate - true) / se`` (0 and 1 when the
  estimator is unbiased and the observed-information SE is right),
* the coverage of the 95% Wald interval ``estimate -/+ 1.96 se`` (and of the
  profile-likelihood interval, where ``conf_int(method="profile")`` exists),

at the case's main sample size ``n`` and at a small one (``--small``). The
same case table drives ``tests/test_validity.py``: the test runs the main ``n``
and checks the tolerances; this script writes the table printed in
``docs/validity.md`` (between the ``<!-- validity-table -->`` markers).

Float64 is enabled before anything else.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time
from collections.abc import Callable

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import jaxmle as jm  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEED = 20240611
LEVEL = 0.95
Z95 = 1.959963984540054


# --------------------------------------------------------------------------
# the case table: a model, true parameters, and a simulator of (B, n) datasets
# --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    """One validity case.

    ``simulate(rng, B, n)`` returns the batched data pytree (leading axis B,
    observation axis n). ``truth`` maps each parameter name of the model to
    its true value. ``n`` is the main sample size of the checks. ``singular``
    marks a model whose observed information is singular by construction
    (the Laplace location): only consistency is checked there. ``bias`` is
    the allowance ``c`` for the pull mean's first-order shift ``c / sqrt(n)``:
    an MLE's bias is O(1/n) and its SE O(1/sqrt(n)), so pulls of dispersion
    parameters are shifted by O(1/sqrt(n)) (``sqrt(RSS / n)`` for the linear
    regression's sigma: about ``-(p + 1.5) / sqrt(2 n)`` with ``p`` coefficients).
    """

    name: str
    model: Callable[[], jm.Model]
    truth: dict
    simulate: Callable
    n: int = 200
    singular: bool = False
    bias: float = 1.5


def _fam(name, **options):
    return lambda: jm.distributions.families.model_for(
        jm.distributions.get_distribution(name, **options)
    )


def _x(draw):
    return lambda rng, B, n: {"x": draw(rng, (B, n))}


def _censored(draw, censor_rate):
    """Right-censoring by independent exponential censoring times (random censoring)."""

    def simulate(rng, B, n):
        t = draw(rng, (B, n))
        c = rng.exponential(1.0 / censor_rate, size=(B, n))
        return {"x": np.minimum(t, c), "event": (t <= c).astype(np.float64)}

    return simulate


def _design(rng, B, n, p):
    X = np.concatenate([np.ones((B, n, 1)), rng.normal(size=(B, n, p - 1))], axis=2)
    return X


def _regression(kind, beta, **extra):
    beta = np.asarray(beta, float)

    def simulate(rng, B, n):
        X = _design(rng, B, n, beta.size)
        eta = X @ beta
        if kind == "linear":
            y = eta + extra["sigma"] * rng.normal(size=(B, n))
        elif kind == "logistic":
            y = (rng.uniform(size=(B, n)) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
        elif kind == "probit":
            y = (rng.normal(size=(B, n)) < eta).astype(float)
        elif kind == "poisson":
            y = rng.poisson(np.exp(eta)).astype(float)
        elif kind == "negbin":
            a, mu = extra["alpha"], np.exp(eta)
            y = rng.negative_binomial(1.0 / a, 1.0 / (1.0 + a * mu)).astype(float)
        else:  # weibull AFT, random right-censoring
            k = extra["shape"]
            t = np.exp(eta) * rng.weibull(k, size=(B, n))
            c = rng.exponential(3.0 * np.exp(beta[0]), size=(B, n))
            return {"X": X, "t": np.minimum(t, c), "event": (t <= c).astype(float)}
        return {"X": X, "y": y}

    return simulate


P3 = (0.2, 0.3, 0.5)
CASES: tuple[Case, ...] = (
    # discrete families
    Case("bernoulli", _fam("bernoulli"), {"p": 0.3},
         _x(lambda r, s: (r.uniform(size=s) < 0.3).astype(float))),
    Case("binomial", _fam("binomial", trials=10), {"p": 0.3},
         _x(lambda r, s: r.binomial(10, 0.3, size=s).astype(float))),
    Case("categorical", _fam("categorical", k=3), {"p": np.array(P3)},
         _x(lambda r, s: r.choice(3, size=s, p=P3).astype(float))),
    Case("multinomial", _fam("multinomial", k=3), {"p": np.array(P3)},
         _x(lambda r, s: r.multinomial(5, P3, size=s).astype(float)), n=50),
    Case("poisson", _fam("poisson"), {"rate": 3.5},
         _x(lambda r, s: r.poisson(3.5, size=s).astype(float))),
    Case("negative_binomial", _fam("negative_binomial"), {"mean": 4.0, "alpha": 0.5},
         _x(lambda r, s: r.negative_binomial(2.0, 1.0 / 3.0, size=s).astype(float)), n=400),
    Case("geometric", _fam("geometric"), {"p": 0.3},
         _x(lambda r, s: (r.geometric(0.3, size=s) - 1).astype(float))),
    # continuous families (two of them right-censored)
    Case("exponential", _fam("exponential"), {"rate": 2.0},
         _censored(lambda r, s: r.exponential(0.5, size=s), censor_rate=0.5)),
    Case("normal", _fam("normal"), {"loc": 1.0, "scale": 2.0},
         _x(lambda r, s: 1.0 + 2.0 * r.normal(size=s))),
    Case("lognormal", _fam("lognormal"), {"mu": 0.5, "sigma": 0.8},
         _x(lambda r, s: np.exp(0.5 + 0.8 * r.normal(size=s)))),
    Case("gamma", _fam("gamma"), {"shape": 2.5, "scale": 1.5},
         _x(lambda r, s: r.gamma(2.5, 1.5, size=s)), n=400),
    Case("weibull", _fam("weibull"), {"shape": 1.7, "scale": 3.0},
         _censored(lambda r, s: 3.0 * r.weibull(1.7, size=s), censor_rate=0.1), n=400),
    Case("beta", _fam("beta"), {"a": 2.0, "b": 5.0},
         _x(lambda r, s: r.beta(2.0, 5.0, size=s)), n=400),
    Case("student_t", _fam("student_t"), {"loc": 0.0, "scale": 1.0, "df": 5.0},
         _x(lambda r, s: r.standard_t(5.0, size=s)), n=1000),
    Case("laplace", _fam("laplace"), {"loc": 0.0, "scale": 1.0},
         _x(lambda r, s: r.laplace(0.0, 1.0, size=s)), singular=True),
    Case("logistic", _fam("logistic"), {"loc": 0.0, "scale": 1.5},
         _x(lambda r, s: r.logistic(0.0, 1.5, size=s))),
    Case("loglogistic", _fam("loglogistic"), {"shape": 3.0, "scale": 2.0},
         _x(lambda r, s: 2.0 * (lambda u: (u / (1.0 - u)) ** (1.0 / 3.0))(r.uniform(size=s)))),
    Case("gumbel", _fam("gumbel"), {"loc": 1.0, "scale": 2.0},
         _x(lambda r, s: r.gumbel(1.0, 2.0, size=s)), n=400),
    Case("pareto", _fam("pareto", scale=1.0), {"shape": 2.5},
         _x(lambda r, s: 1.0 + r.pareto(2.5, size=s))),
    # regression models
    Case("LinearRegression", lambda: jm.models.LinearRegression(3),
         {"beta": np.array([0.5, -1.0, 2.0]), "sigma": 1.5},
         _regression("linear", [0.5, -1.0, 2.0], sigma=1.5), bias=3.5),
    Case("LogisticRegression", lambda: jm.models.LogisticRegression(3),
         {"beta": np.array([-0.5, 1.0, -0.8])},
         _regression("logistic", [-0.5, 1.0, -0.8]), n=400),
    Case("ProbitRegression", lambda: jm.models.ProbitRegression(3),
         {"beta": np.array([0.2, 0.7, -0.5])},
         _regression("probit", [0.2, 0.7, -0.5]), n=400),
    Case("PoissonRegression", lambda: jm.models.PoissonRegression(3),
         {"beta": np.array([0.5, 0.3, -0.4])},
         _regression("poisson", [0.5, 0.3, -0.4])),
    Case("NegativeBinomialRegression", lambda: jm.models.NegativeBinomialRegression(3),
         {"beta": np.array([1.0, 0.3, -0.4]), "alpha": 0.5},
         _regression("negbin", [1.0, 0.3, -0.4], alpha=0.5), n=400, bias=5.0),
    Case("WeibullAFT", lambda: jm.models.WeibullAFT(3),
         {"beta": np.array([1.0, 0.5, -0.3]), "shape": 1.5},
         _regression("aft", [1.0, 0.5, -0.3], shape=1.5), n=400, bias=3.5),
)  # fmt: skip
CASE_BY_NAME = {c.name: c for c in CASES}


# --------------------------------------------------------------------------
# running a case
# --------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """Everything measured on one fitted batch, per flattened parameter."""

    case: str
    n: int
    B: int
    converged: float  # fraction of datasets with status CONVERGED
    status: np.ndarray  # (B,)
    names: tuple
    truth: np.ndarray  # (p,)
    est: np.ndarray  # (B, p)
    se: np.ndarray  # (B, p)
    wald: np.ndarray  # (B, p) booleans: the Wald interval covers the truth
    profile: np.ndarray | None  # (profile_B, p) booleans, or None when not computed
    seconds: float

    def ok(self) -> np.ndarray:
        return self.status == int(jm.Status.CONVERGED)

    def pulls(self) -> np.ndarray:
        return (self.est[self.ok()] - self.truth) / self.se[self.ok()]

    def coverage(self, which: str = "wald") -> np.ndarray:
        if which == "wald":
            return self.wald[self.ok()].mean(axis=0)
        return self.profile[self.ok()[: len(self.profile)]].mean(axis=0)

    def mae(self, rows: str = "ok") -> np.ndarray:
        """Median absolute error over converged datasets (``rows="all"``: every one): the
        consistency measure, robust to the rare fit that runs off (a Student t's ``df``
        towards infinity when a small sample shows no heavy tail)."""
        est = self.est[self.ok()] if rows == "ok" else self.est
        return np.median(np.abs(est - self.truth), axis=0)


def simulate(case: Case, B: int, n: int, seed: int = SEED):
    """The (B, n) datasets of a case, reproducible from ``seed`` and the case's name."""
    rng = np.random.default_rng([seed, sum(map(ord, case.name)), n])
    return case.simulate(rng, B, n)


def flatten(model: jm.Model, values: dict, B: int | None = None) -> np.ndarray:
    """Host-side flattening in ``model.param_names`` order: ``(p,)``, or ``(B, p)`` given B."""
    lead = () if B is None else (B,)
    return np.concatenate(
        [
            np.reshape(np.asarray(values[k], float), lead + (-1,))
            for k, _, _ in model.param_blocks()
        ],
        axis=-1,
    )


def evaluate(case: Case, res: jm.FitResult, n: int, seconds: float, profile_B: int = 0) -> Outcome:
    """Measure pulls and Wald coverage on a fitted batch, and the profile-interval
    coverage on its first ``profile_B`` datasets (profiling costs more than the fit)."""
    model = res.model
    B = len(res)
    est = flatten(model, res.params, B)
    se = flatten(model, res.se, B)
    truth = flatten(model, case.truth)
    wald = np.abs(est - truth) <= Z95 * se
    profile = None
    if profile_B:
        sub = res[:profile_B]
        ci = sub.conf_int(LEVEL, method="profile")
        lo = flatten(model, {k: v[0] for k, v in ci.items()}, profile_B)
        hi = flatten(model, {k: v[1] for k, v in ci.items()}, profile_B)
        profile = (lo <= truth) & (truth <= hi)
    status = np.asarray(res.status)
    return Outcome(
        case=case.name, n=n, B=B, converged=float(np.mean(status == 0)), status=status,
        names=model.param_names, truth=truth, est=est, se=se, wald=wald, profile=profile,
        seconds=seconds,
    )  # fmt: skip


def run_case(
    case: Case,
    B: int,
    n: int | None = None,
    small: int | None = None,
    small_B: int | None = None,
    profile_B: int = 0,
    seed: int = SEED,
):
    """Fit ``B`` datasets of size ``n`` (default ``case.n``) and, given ``small``,
    ``small_B`` (default ``B``) more that use only their first ``small`` observations
    (through ``mask=``), all in one ``fit_batch`` call (one compiled shape); profile
    intervals on the first ``profile_B`` datasets of each. Returns ``(main, small)``."""
    n = case.n if n is None else n
    model = case.model()
    small_B = B if small_B is None else small_B
    total = B if small is None else B + small_B
    data = simulate(case, total, n, seed)
    mask = np.ones((total, n), bool)
    if small is not None:
        mask[B:, small:] = False
    t0 = time.perf_counter()
    res = jm.fit_batch(model, data, mask=mask)
    res.status.block_until_ready()
    seconds = time.perf_counter() - t0
    main = evaluate(case, res[:B], n, seconds, profile_B)
    low = None if small is None else evaluate(case, res[B:], small, seconds, profile_B)
    return main, low


# --------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------
def _fmt_rows(out: Outcome, profile: bool) -> list[str]:
    if out is None:
        return []
    rows = []
    cov = out.coverage("wald")
    pcov = out.coverage("profile") if profile and out.profile is not None else None
    pulls = out.pulls()
    for j, name in enumerate(out.names):
        pj = pulls[:, j]
        pj = pj[np.isfinite(pj)]
        if pj.size:
            stats = f"{100 * cov[j]:.1f}% | {pj.mean():+.3f} | {pj.var():.3f}"
        else:
            stats = "n/a (SE NaN) | n/a | n/a"
        prof = "" if not profile else (" n/a |" if pcov is None else f" {100 * pcov[j]:.1f}% |")
        rows.append(
            f"| {out.case} | {name} | {out.n} | {out.B} | {100 * out.converged:.1f}% | {stats} |"
            + prof
        )
    return rows


def table(outcomes, profile: bool) -> str:
    head = "| model | parameter | n | B | converged | Wald 95% coverage | pull mean | pull var |"
    rule = "|---|---|---:|---:|---:|---:|---:|---:|"
    if profile:
        head += " profile 95% coverage |"
        rule += "---:|"
    lines = [head, rule]
    for main, low in outcomes:
        lines += _fmt_rows(main, profile) + _fmt_rows(low, profile)
    return "\n".join(lines)


# --------------------------------------------------------------------------
# float32 precision, measured against float64 on the same (float32) data
# --------------------------------------------------------------------------
_F32_CHILD = r"""
import json, sys, warnings
import numpy as np
import jax
import jaxmle as jm
sys.path.insert(0, sys.argv[1])
import validity_table as vt
warnings.simplefilter("ignore", jm.Float32Warning)
data = np.load(sys.argv[2], allow_pickle=True).item()
out = {}
for name, d in data.items():
    res = jm.fit_batch(vt.CASE_BY_NAME[name].model(), d)
    out[name] = {
        "est": vt.flatten(res.model, res.params, len(res)).tolist(),
        "se": vt.flatten(res.model, res.se, len(res)).tolist(),
        "status": np.asarray(res.status).tolist(),
    }
print(json.dumps(out))
"""


def float32_precision(B: int = 20, seed: int = SEED) -> str:
    """Relative error of float32 estimates and SEs against float64, per case (a table).

    Data are simulated in float64, rounded to float32, and fitted in a float32
    subprocess (``JAX_ENABLE_X64=0``) and here in float64; the errors are over
    the ``B`` datasets (main ``n``) that converged in both.
    """
    import json
    import os
    import subprocess
    import tempfile

    data = {}
    for case in CASES:
        d = simulate(case, B, case.n, seed)
        data[case.name] = jax.tree_util.tree_map(lambda v: np.asarray(v, np.float32), d)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.npy")
        np.save(path, np.array(data, dtype=object), allow_pickle=True)
        env = dict(os.environ, JAX_ENABLE_X64="0")
        proc = subprocess.run(
            [sys.executable, "-c", _F32_CHILD, str(ROOT / "bench"), path],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
    f32 = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = [
        "| model | max rel. error, estimates | median | max rel. error, SEs | median |",
        "|---|---:|---:|---:|---:|",
    ]
    for case in CASES:
        d64 = jax.tree_util.tree_map(lambda v: np.asarray(v, np.float64), data[case.name])
        res = jm.fit_batch(case.model(), d64)
        est = flatten(res.model, res.params, B)
        se = flatten(res.model, res.se, B)
        got = f32[case.name]
        ok = (np.asarray(res.status) == 0) & (np.asarray(got["status"]) == 0)
        if not ok.any():
            lines.append(f"| {case.name} | n/a (no converged fit) | | | |")
            continue
        e_est = np.abs(np.asarray(got["est"])[ok] - est[ok]) / np.abs(est[ok])
        e_se = np.abs(np.asarray(got["se"])[ok] - se[ok]) / np.abs(se[ok])
        lines.append(
            f"| {case.name} | {e_est.max():.1e} | {np.median(e_est):.1e} | {e_se.max():.1e} "
            f"| {np.median(e_se):.1e} |"
        )
    return "\n".join(lines)


def _replace_between(page: str, tag: str, text: str) -> str:
    start, end = f"<!-- {tag} -->", f"<!-- /{tag} -->"
    if start not in page or end not in page:
        raise SystemExit(f"the page has no {start} ... {end} markers")
    before, rest = page.split(start, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{start}\n{text}\n{end}{after}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out", default=str(ROOT / "docs" / "validity.md"), help="the page to update; - prints"
    )
    ap.add_argument("--reps", type=int, default=2000, help="datasets per sample size")
    ap.add_argument("--small", type=int, default=20, help="the small sample size")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument(
        "--profile", type=int, default=200, help="datasets per size with profile intervals"
    )
    ap.add_argument("--no-float32", action="store_true", help="skip the float32 table")
    args = ap.parse_args(argv)
    names = [s for s in args.only.split(",") if s]
    cases = [CASE_BY_NAME[s] for s in names] if names else list(CASES)
    profile = args.profile > 0
    outcomes = []
    for case in cases:
        main_out, low = run_case(case, args.reps, small=args.small, profile_B=args.profile)
        outcomes.append((main_out, low))
        cov = ", ".join(f"{c:.3f}" for c in main_out.coverage())
        print(f"{case.name:28s} {main_out.seconds:6.1f} s  coverage {cov}", file=sys.stderr)
    text = table(outcomes, profile)
    f32 = None if args.no_float32 else float32_precision()
    out = pathlib.Path(args.out)
    if args.out == "-" or not out.is_file():  # print the tables instead
        print(text if f32 is None else f"{text}\n\n{f32}")
        return 0
    page = _replace_between(out.read_text(), "validity-table", text)
    if f32 is not None:
        page = _replace_between(page, "float32-table", f32)
    out.write_text(page)
    print(f"tables written into {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
