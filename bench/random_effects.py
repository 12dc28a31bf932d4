#!/usr/bin/env python
"""Benchmark: random effects by the Laplace approximation, against lme4 and glmmTMB.

    python bench/random_effects.py [--out bench/RESULTS-random-effects.md] [--quick]

(a) A binomial random-intercept GLMM (20 Bernoulli observations per group, one
    covariate x ~ N(0, 1), intercept -0.5, slope 1, random-intercept SD 0.8) at
    100, 1,000 and 10,000 groups. The data are drawn in Python with a fixed seed and
    written to a CSV in a temporary directory; every tool fits that file. jaxmle:
    `jm.fit` of the joint model with `random=["u"], grouped=True` (compile = first
    call minus a steady-state call; run = median of 3 calls after it). R (when
    `Rscript` with lme4, glmmTMB and jsonlite is found): `glmer(y ~ x + (1|g),
    family = binomial, nAGQ = 1)` and `glmmTMB(y ~ x + (1|g), family = binomial)`,
    timed inside R by `system.time` around the fit alone (median of 3 fits at 100
    and 1,000 groups, one at 10,000); the R script is written to the temporary
    directory and run by subprocess, its results come back as JSON.
(b) A fleet of 10,000 sensors, each with 3 to 100 right-censored Weibull lifetimes
    and a log-normal random scale per sensor (padded to 100 with a mask): jaxmle's
    pooled fit of the marginal likelihood (compile, run, estimates with SEs, the
    profile interval of the SD of the log-scale by `res.conf_int(method="profile")`
    and its time), against `jm.fit_batch` of `jm.families.Weibull()` fitted to each
    sensor alone.

float64 throughout. `uptime` is recorded at the start and the end (the machine's
load). --quick: 100 and 1,000 groups, 1,000 sensors, one R fit each (a smoke test).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.scipy.stats as st  # noqa: E402

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import jaxmle as jm  # noqa: E402

N_PER_GROUP = 20
TRUTH = {"intercept": -0.5, "slope": 1.0, "sd": 0.8}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime not available"


def timed_calls(fn, repeats: int = 3):
    """(median steady-state seconds, compile seconds, output, all run times): the first
    call, then ``repeats`` calls; compile = first call minus the median."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        runs.append(time.perf_counter() - t0)
    med = float(np.median(runs))
    return med, max(first - med, 0.0), out, runs


# ----------------------------------------------------------------------------
# (a) binomial GLMM against lme4 and glmmTMB
# ----------------------------------------------------------------------------
def binomial_csv(G: int, path: str, seed: int = 1):
    """Draw the data of G groups and write them to ``path`` (columns g, x, y)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(G, N_PER_GROUP))
    u = rng.normal(0.0, TRUTH["sd"], size=(G, 1))
    eta = TRUTH["intercept"] + TRUTH["slope"] * x + u
    y = (rng.uniform(size=(G, N_PER_GROUP)) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    g = np.repeat(np.arange(1, G + 1), N_PER_GROUP)
    # 17 significant digits: every tool reads back the same float64 values
    np.savetxt(path, np.column_stack([g, x.ravel(), y.ravel()]), delimiter=",",
               fmt=["%d", "%.17g", "%d"], header="g,x,y", comments="")  # fmt: skip


def read_groups(path: str):
    """The CSV back as arrays of shape (G, 20) (every group has 20 rows, in order)."""
    tab = np.loadtxt(path, delimiter=",", skiprows=1)
    g = tab[:, 0].astype(int)
    order = np.argsort(g, kind="stable")
    G = int(g.max())
    x = tab[order, 1].reshape(G, N_PER_GROUP)
    y = tab[order, 2].reshape(G, N_PER_GROUP)
    return {"x": jnp.asarray(x), "y": jnp.asarray(y)}


def _binomial_joint(p, d):
    """One group: 20 Bernoulli draws with logit intercept + slope x + u, and u ~ N(0, sd)."""
    eta = p["b"][0] + p["b"][1] * d["x"] + p["u"]
    return jnp.sum(d["y"] * eta - jnp.logaddexp(0.0, eta)) + st.norm.logpdf(p["u"], 0.0, p["sd"])


BINOMIAL = jm.Model(
    _binomial_joint,
    {"b": jm.Real(shape=(2,)), "sd": jm.Positive(), "u": jm.Real()},
    random=["u"],
    grouped=True,
)


def jaxmle_binomial(path: str):
    data = read_groups(path)
    run, comp, res, runs = timed_calls(lambda: jm.fit(BINOMIAL, data))
    b = np.asarray(res.params["b"])
    return dict(
        tool="jaxmle", time=run, compile=comp, runs=runs, status=jm.Status(int(res.status)).name,
        intercept=float(b[0]), slope=float(b[1]), sd=float(res.params["sd"]),
        loglik=float(res.loglik), n_iter=int(res.n_iter),
    )  # fmt: skip


R_SCRIPT = r"""
suppressMessages({library(lme4); library(glmmTMB); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2])
d$g <- factor(d$g)
timed <- function(f) {
  t <- numeric(reps); w <- character(0)
  for (i in seq_len(reps)) {
    t[i] <- system.time(m <- withCallingHandlers(f(), warning = function(e) {
      w <<- c(w, conditionMessage(e)); invokeRestart("muffleWarning")
    }))[["elapsed"]]
  }
  list(m = m, t = t, w = unique(w))
}
a <- timed(function() glmer(y ~ x + (1 | g), data = d, family = binomial, nAGQ = 1))
b <- timed(function() glmmTMB(y ~ x + (1 | g), data = d, family = binomial))
out <- list(
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  glmmTMB = as.character(packageVersion("glmmTMB"))),
  glmer = list(times = a$t, fixef = unname(fixef(a$m)),
               sd = attr(VarCorr(a$m)$g, "stddev")[[1]],
               loglik = as.numeric(logLik(a$m)), warnings = a$w),
  glmmTMB = list(times = b$t, fixef = unname(fixef(b$m)$cond),
                 sd = attr(VarCorr(b$m)$cond$g, "stddev")[[1]],
                 loglik = as.numeric(logLik(b$m)), warnings = b$w,
                 convergence = b$m$fit$convergence, pdHess = b$m$sdr$pdHess,
                 threads = glmmTMBControl()$parallel)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), args[3])
"""


def r_available() -> str | None:
    """Why R cannot be used, or None when Rscript with lme4, glmmTMB and jsonlite runs."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    probe = subprocess.run(
        ["Rscript", "-e", "suppressMessages({library(lme4); library(glmmTMB); library(jsonlite)})"],
        capture_output=True, text=True,
    )  # fmt: skip
    if probe.returncode != 0:
        return "lme4, glmmTMB or jsonlite not installed: " + probe.stderr.strip()[-200:]
    return None


def r_binomial(tmp: str, csv: str, reps: int):
    script = os.path.join(tmp, "fit.R")
    with open(script, "w") as f:
        f.write(R_SCRIPT)
    out = os.path.join(tmp, "r_out.json")
    proc = subprocess.run(["Rscript", script, csv, str(reps), out], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Rscript failed: {proc.stderr[-2000:]}")
    with open(out) as f:
        js = json.load(f)
    rows = []
    for tool in ("glmer", "glmmTMB"):
        r = js[tool]
        times = np.atleast_1d(np.asarray(r["times"], float))
        fe = np.asarray(r["fixef"], float)
        rows.append(
            dict(
                tool=tool, time=float(np.median(times)), runs=times.tolist(), intercept=fe[0],
                slope=fe[1], sd=float(r["sd"]), loglik=float(r["loglik"]),
                warnings=list(np.atleast_1d(r.get("warnings", []))),
                extra={k: r[k] for k in ("convergence", "pdHess", "threads") if k in r},
            )
        )  # fmt: skip
    return rows, js["versions"]


def bench_binomial(quick: bool):
    sizes = (100, 1_000) if quick else (100, 1_000, 10_000)
    why_no_r = r_available()
    if why_no_r:
        log(f"(a) R skipped: {why_no_r}")
    rows, versions = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for G in sizes:
            csv = os.path.join(tmp, f"binomial_{G}.csv")
            binomial_csv(G, csv)
            jr = jaxmle_binomial(csv)
            jr["groups"] = G
            rows.append(jr)
            log(f"(a) {jr}")
            if why_no_r is None:
                reps = 1 if (quick or G >= 10_000) else 3
                rr, versions = r_binomial(tmp, csv, reps)
                for r in rr:
                    r["groups"] = G
                    r["ratio_run"] = r["time"] / jr["time"]
                    r["ratio_total"] = r["time"] / (jr["compile"] + jr["time"])
                    rows.append(r)
                    log(f"(a) {r}")
    # agreement with glmmTMB: max relative difference over (intercept, slope, sd)
    keys = ("intercept", "slope", "sd")
    for r in rows:
        ref = next((q for q in rows if q["groups"] == r["groups"] and q["tool"] == "glmmTMB"), None)
        if ref is not None:
            r["rel_diff"] = max(abs(r[k] / ref[k] - 1.0) for k in keys)
            r["loglik_diff"] = r["loglik"] - ref["loglik"]
    return dict(rows=rows, versions=versions, why_no_r=why_no_r)


# ----------------------------------------------------------------------------
# (b) the fleet: pooled (random scale per sensor) against each sensor alone
# ----------------------------------------------------------------------------
FLEET_TRUTH = {"k": 1.8, "eta": 100.0, "s": 0.4}
NMAX = 100


def fleet_data(G: int, seed: int = 0):
    """G sensors with 3 to 100 lifetimes each, right-censored at a uniform fraction
    (0.3 to 2.5) of the sensor's scale, padded to 100 (padded times 1.0, mask 0)."""
    rng = np.random.default_rng(seed)
    n = rng.integers(3, NMAX + 1, size=G)
    u = rng.normal(0.0, FLEET_TRUTH["s"], size=G)
    scale = FLEET_TRUTH["eta"] * np.exp(u)
    t = scale[:, None] * rng.weibull(FLEET_TRUTH["k"], size=(G, NMAX))
    c = rng.uniform(0.3, 2.5, size=(G, NMAX)) * scale[:, None]
    event = (t <= c).astype(float)
    mask = (np.arange(NMAX)[None, :] < n[:, None]).astype(float)
    time_ = np.where(mask > 0, np.minimum(t, c), 1.0)
    return dict(t=time_, e=event * mask, m=mask, n=n, scale=scale)


def _fleet_joint(p, d):
    """One sensor: censored Weibull lifetimes with scale eta * exp(u), u ~ N(0, s)."""
    lam = p["eta"] * jnp.exp(p["u"])
    z = d["t"] / lam
    k = p["k"]
    ll = d["e"] * (jnp.log(k) - jnp.log(lam) + (k - 1) * jnp.log(z)) - z**k
    return jnp.sum(d["m"] * ll) + st.norm.logpdf(p["u"], 0.0, p["s"])


FLEET = jm.Model(
    _fleet_joint,
    {"k": jm.Positive(), "eta": jm.Positive(), "s": jm.Positive(), "u": jm.Real()},
    random=["u"],
    grouped=True,
)


def bench_fleet(quick: bool):
    G = 1_000 if quick else 10_000
    fd = fleet_data(G)
    data = {k: jnp.asarray(fd[k]) for k in ("t", "e", "m")}
    init = {"k": 1.0, "eta": float(np.median(fd["t"][fd["m"] > 0])), "s": 0.5}
    out = dict(G=G, censored=float(1 - fd["e"][fd["m"] > 0].mean()), n_obs=int(fd["n"].sum()))
    run, comp, res, runs = timed_calls(lambda: jm.fit(FLEET, data, init=init))
    out.update(
        pooled_time=run, pooled_compile=comp, pooled_runs=runs,
        status=jm.Status(int(res.status)).name, n_iter=int(res.n_iter),
        params={k: float(v) for k, v in res.params.items()},
        se={k: float(v) for k, v in res.se.items()}, loglik=float(res.loglik),
    )  # fmt: skip
    log(f"(b) pooled {out}")
    wald = res.conf_int()
    out["wald_s"] = tuple(float(v) for v in wald["s"])
    out["profile"], out["profile_error"], out["profile_time"] = None, "not run", None
    # the conditional modes: each sensor's scale from the pooled fit
    t0 = time.perf_counter()
    re = jm.random_effects(res)
    out["modes_time"] = time.perf_counter() - t0
    pooled_scale = float(res.params["eta"]) * np.exp(np.asarray(re["mode"]["u"]).ravel())

    # each sensor alone: the built-in censored Weibull family, padded rows masked out
    weib = jm.families.Weibull()
    wdata = {"x": data["t"], "event": data["e"]}

    def per_sensor():
        return jm.fit_batch(weib, wdata, mask=data["m"])

    brun, bcomp, batch, bruns = timed_calls(per_sensor)
    status = np.asarray(batch.status)
    names = [jm.Status(int(v)).name for v in status]
    counts = {k: names.count(k) for k in sorted(set(names))}
    conv = status == jm.Status.CONVERGED
    alone_scale = np.asarray(batch.params["scale"])
    out.update(batch_time=brun, batch_compile=bcomp, batch_runs=bruns, batch_counts=counts,
               batch_converged=int(conv.sum()))  # fmt: skip
    # what the pooling buys: error of log(scale) against the true scale, by sensor size,
    # over the sensors whose own fit converged
    bins = ((3, 9), (10, 29), (30, 100))
    shrink = []
    for lo, hi in bins:
        sel = (fd["n"] >= lo) & (fd["n"] <= hi)
        ok = sel & conv
        err_alone = np.log(alone_scale[ok] / fd["scale"][ok])
        err_pooled = np.log(pooled_scale[ok] / fd["scale"][ok])
        shrink.append(
            dict(
                lo=lo, hi=hi, sensors=int(sel.sum()), converged=int(ok.sum()),
                rmse_alone=float(np.sqrt(np.mean(err_alone**2))),
                rmse_pooled=float(np.sqrt(np.mean(err_pooled**2))),
                rmse_pooled_all=float(np.sqrt(np.mean(
                    np.log(pooled_scale[sel] / fd["scale"][sel]) ** 2))),
            )
        )  # fmt: skip
    out["shrink"] = shrink
    log(f"(b) per-sensor {brun:.2f} s, compile {bcomp:.2f} s, {counts}; {shrink}")
    return out, res


def fleet_profile(out, res):
    """The profile intervals of the pooled fit (last: the longest step), timed."""
    t0 = time.perf_counter()
    try:
        ci = res.conf_int(method="profile")
        out["profile"] = {k: tuple(float(v) for v in ci[k]) for k in ci}
        out["profile_error"] = None
    except Exception as err:  # reported in the RESULTS file, never hidden
        out["profile"] = None
        out["profile_error"] = f"{type(err).__name__}: {err}"
    out["profile_time"] = time.perf_counter() - t0
    log(f"(b) profile {out['profile']} {out['profile_error']} {out['profile_time']:.1f} s")


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------
def _f(v, fmt):
    return "" if v is None else format(v, fmt)


def write_report(path, a, b, args, wall, up0, up1):
    cmd = "python bench/random_effects.py" + (f" --out {args.out}" if args.out else "")
    cmd += " --quick" if args.quick else ""
    lines = [
        "# jaxmle benchmark: random effects (Laplace) against lme4 and glmmTMB",
        "",
        f"Command: `{cmd}`  ",
        "Times: jaxmle: run = median of 3 steady-state calls of `jm.fit`, compile = first call",
        'minus that median; R: `system.time(...)["elapsed"]` around the fit alone, inside R',
        f"(reading the CSV and loading the packages not counted). Total wall time {wall:.0f} s.",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- Machine: {platform.platform()}; {os.cpu_count()} logical CPUs",
        f"- Python {platform.python_version()}; jax {jax.__version__}; jaxmle {jm.__version__}",
        f"- JAX backend: {jax.default_backend()} ({jax.devices()[0]}); float64",
    ]
    if a["versions"]:
        v = a["versions"]
        lines.append(f"- {v['R']}; lme4 {v['lme4']}; glmmTMB {v['glmmTMB']}")
    lines += [
        f"- Load at the start: `{up0}`",
        f"- Load at the end: `{up1}`",
        "",
        "The times are wall-clock times of one run at the load shown (the load averages",
        "include the run itself: XLA uses both cores; the machine may run other work too).",
        "",
        "## (a) Binomial random-intercept GLMM",
        "",
        f"{N_PER_GROUP} Bernoulli observations per group, x ~ N(0, 1),",
        "logit P(y = 1) = -0.5 + x + u, u ~ N(0, 0.8^2) per group; the same CSV for every",
        "tool (drawn with `numpy.random.default_rng(1)`). jaxmle: the joint log-density of",
        "a group written by hand (`y * eta - logaddexp(0, eta)` plus",
        '`norm.logpdf(u, 0, sd)`), `random=["u"], grouped=True`, the Laplace approximation.',
        "R: `glmer(y ~ x + (1|g), family = binomial, nAGQ = 1)` (lme4) and",
        "`glmmTMB(y ~ x + (1|g), family = binomial)`, both the Laplace approximation,",
        "default settings (glmmTMB's `parallel` as reported below).",
        "",
        "Columns: *time*: seconds per fit (jaxmle: the steady-state median; R: the median of",
        "3 fits at 100 and 1,000 groups, one fit at 10,000); *compile*: jaxmle's first call",
        "minus its run time; *SD*: the random-intercept SD; *loglik*: the log-likelihood",
        "(the Laplace approximation of the marginal likelihood); *R / jaxmle run*: the R",
        "tool's time over jaxmle's run time; *R / jaxmle total*: over jaxmle's compile +",
        "run (a single fit in a new process); *rel. diff*: the largest relative difference",
        "of (intercept, slope, SD) from glmmTMB's; *Δ loglik*: loglik minus glmmTMB's.",
        "",
        "| tool | groups | time (s) | compile (s) | intercept | slope | SD | loglik "
        "| R / jaxmle run | R / jaxmle total | rel. diff | Δ loglik |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in a["rows"]:
        lines.append(
            f"| {r['tool']} | {r['groups']:,} | {r['time']:.3f} | {_f(r.get('compile'), '.2f')} "
            f"| {r['intercept']:.6f} | {r['slope']:.6f} | {r['sd']:.6f} | {r['loglik']:.4f} "
            f"| {_f(r.get('ratio_run'), '.1f')} | {_f(r.get('ratio_total'), '.2f')} "
            f"| {_f(r.get('rel_diff'), '.1e')} | {_f(r.get('loglik_diff'), '.1e')} |"
        )
    if a["why_no_r"]:
        lines += ["", f"R was not run: {a['why_no_r']}."]
    lines += ["", "Run times of every call (s), statuses and messages:", ""]
    for r in a["rows"]:
        runs = ", ".join(f"{t:.3f}" for t in r["runs"])
        note = f"- {r['tool']}, {r['groups']:,} groups: runs {runs}"
        if r["tool"] == "jaxmle":
            note += f"; status {r['status']}, {r['n_iter']} iterations"
        else:
            if r.get("extra"):
                note += "; " + ", ".join(f"{k} {v}" for k, v in r["extra"].items())
            note += "; warnings: " + ("; ".join(r["warnings"]) if r["warnings"] else "none")
        lines.append(note)

    p, se = b["params"], b["se"]
    lines += [
        "",
        f"## (b) A fleet of {b['G']:,} sensors: pooled against each sensor alone",
        "",
        f"{b['G']:,} sensors with 3 to 100 lifetimes each ({b['n_obs']:,} in all), Weibull with",
        "shape 1.8 and scale 100 exp(u), u ~ N(0, 0.4^2) per sensor, right-censored at a",
        "uniform fraction (0.3 to 2.5) of the sensor's scale "
        f"({100 * b['censored']:.1f}% censored), padded to",
        "100 readings with a mask (`numpy.random.default_rng(0)`). *Pooled*: `jm.fit` of the",
        "joint model (a common shape `k`, a fleet scale `eta`, the SD `s` of the log-scale,",
        "the random `u` integrated out by the Laplace approximation). *Each sensor alone*:",
        '`jm.fit_batch(jm.families.Weibull(), {"x": t, "event": e}, mask=m)`, a shape and a',
        "scale per sensor. Times as in (a).",
        "",
        "| fit | time (s) | compile (s) | result |",
        "|---|---:|---:|---|",
        f"| pooled (`jm.fit`) | {b['pooled_time']:.2f} | {b['pooled_compile']:.2f} | "
        f"{b['status']}, {b['n_iter']} iterations |",
        f"| each sensor alone (`jm.fit_batch`) | {b['batch_time']:.2f} | "
        f"{b['batch_compile']:.2f} | {b['batch_converged']:,} of {b['G']:,} CONVERGED"
        + "".join(f", {v:,} {k}" for k, v in b["batch_counts"].items() if k != "CONVERGED")
        + " |",
        "",
        "Pooled estimates (standard errors from the Hessian of the marginal likelihood):",
        "",
        "| parameter | truth | estimate | SE |",
        "|---|---:|---:|---:|",
    ]
    for k in ("k", "eta", "s"):
        lines.append(f"| {k} | {FLEET_TRUTH[k]:g} | {p[k]:.5f} | {se[k]:.5f} |")
    lines += [
        "",
        f"- log-likelihood (Laplace): {b['loglik']:.4f}",
        "- 95% intervals of s, the SD of the log-scale:",
        f"  - `res.conf_int()` (Wald on the log scale): ({b['wald_s'][0]:.5f}, "
        f"{b['wald_s'][1]:.5f})",
    ]
    if b["profile"] is not None:
        lo, hi = b["profile"]["s"]
        lines.append(
            f'  - `res.conf_int(method="profile")`: ({lo:.5f}, {hi:.5f}); the call (the '
            f"intervals of all three parameters, its compilation included) took "
            f"{b['profile_time']:.1f} s"
        )
        others = "; ".join(
            f"{k}: ({b['profile'][k][0]:.5f}, {b['profile'][k][1]:.5f})" for k in ("k", "eta")
        )
        lines.append(f"- profile intervals of the other parameters: {others}")
    elif b["profile_time"] is None:
        lines.append('  - `res.conf_int(method="profile")`: not run yet')
    else:
        lines.append(
            f'  - `res.conf_int(method="profile")` failed after {b["profile_time"]:.1f} s: '
            f"`{b['profile_error']}`"
        )
    lines += [
        f"- `jm.random_effects(res)` (the conditional modes of u) took {b['modes_time']:.1f} s",
        "",
        "What the pooling buys: the root-mean-square error of log(scale) against the true",
        "scale of each sensor, by the number of readings, over the sensors whose own fit",
        "converged (*alone*: the per-sensor MLE; *pooled*: eta exp(u mode)); the last column",
        "is the pooled error over all the sensors of the row, converged alone or not.",
        "",
        "| readings | sensors | converged alone | RMSE alone | RMSE pooled | RMSE pooled, all |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in b["shrink"]:
        lines.append(
            f"| {r['lo']}-{r['hi']} | {r['sensors']:,} | {r['converged']:,} | "
            f"{r['rmse_alone']:.4f} | {r['rmse_pooled']:.4f} | {r['rmse_pooled_all']:.4f} |"
        )
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("bench", "RESULTS-random-effects.md"))
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    args = ap.parse_args(argv)
    up0 = uptime()
    log(f"start: {up0}")
    t0 = time.perf_counter()
    a = bench_binomial(args.quick)
    b, res = bench_fleet(args.quick)
    # a report before the profile intervals (the longest step), then the full one
    write_report(args.out, a, b, args, time.perf_counter() - t0, up0, uptime())
    fleet_profile(b, res)
    wall = time.perf_counter() - t0
    up1 = uptime()
    log(f"end: {up1}")
    write_report(args.out, a, b, args, wall, up0, up1)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
