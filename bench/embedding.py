#!/usr/bin/env python
"""Benchmark: derivatives through a fit, and Newton against L-BFGS.

    python bench/embedding.py [--out bench/RESULTS-embedding.md] [--repeats 3] [--quick]

(a) The cost of a gradient through the optimum (implicit function theorem) as a
    multiple of the fit itself, for fits that need more and more solver
    iterations (started farther away). The gradient's extra cost is one
    Hessian and one linear solve: it does not grow with the iteration count.
(b) method="newton" against method="lbfgs" on logistic regressions with
    p = 10, 100, 1000 features (n = 5,000): time to fit (with and without
    standard errors), iterations, and the largest difference between the
    estimates.
(c) The same two methods on 1,000 small logistic regressions at once
    (jit of fit_batch: one vmapped kernel).

Times are medians of --repeats steady-state runs of a compiled function;
compile time (first call minus a steady-state run) is reported separately.
float64 throughout.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import jaxmle as jm  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(fn, *args, repeats: int):
    """(median steady-state seconds, compile seconds, output) of a jitted function."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return med, max(first - med, 0.0), out


def logistic_data(n: int, p: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * (2.0 / np.sqrt(p))
    X[:, 0] = 1.0
    beta = np.zeros(p)
    k = max(1, p // 10)  # sparse-ish truth
    beta[:k] = 2.0 * rng.standard_normal(k)
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(float)
    return {"X": jnp.asarray(X), "y": jnp.asarray(y)}


# ----------------------------------------------------------------------------
# (a) gradient through the fit vs the fit, as the iteration count grows
# ----------------------------------------------------------------------------
def bench_gradient(repeats: int, quick: bool):
    p = 20
    data = logistic_data(20_000, p, seed=1)
    repeats = max(repeats, 15)  # millisecond timings: more runs
    model = jm.models.LogisticRegression(p)
    rows = []
    for method, starts in (("newton", (0.0, 2.0, 5.0, 10.0)), ("lbfgs", (0.0, 2.0, 5.0, 10.0))):
        if quick:
            starts = starts[:2]
        max_iter = 200 if method == "newton" else 2_000

        def fit_fn(b0, method=method, max_iter=max_iter):
            r = jm.fit(model, data, init={"beta": b0}, method=method, max_iter=max_iter)
            return r.params["beta"], r.n_iter, r.status

        def loss(b0, d, method=method, max_iter=max_iter):
            r = jm.fit(model, d, init={"beta": b0}, method=method, max_iter=max_iter)
            return jnp.sum(r.params["beta"] ** 2)

        fit_jit = jax.jit(fit_fn)
        # gradient with respect to the data (X and y), through the optimum
        grad_jit = jax.jit(jax.grad(loss, argnums=1))
        for c in starts:
            # a start of size c on every coefficient, alternating signs
            b0 = jnp.asarray(c * (-1.0) ** np.arange(p))
            # compile both, then alternate the timed runs so that a change of the
            # machine's load hits both alike
            _, c_fit, (beta, n_iter, status) = timed(fit_jit, b0, repeats=1)
            _, c_grad, g = timed(grad_jit, b0, data, repeats=1)
            fits, grads = [], []
            for _ in range(repeats):
                fits.append(timed(fit_jit, b0, repeats=1)[0])
                grads.append(timed(grad_jit, b0, data, repeats=1)[0])
            t_fit, t_grad = float(np.median(fits)), float(np.median(grads))
            finite = bool(np.all(np.isfinite(np.asarray(g["X"]))))
            rows.append(
                dict(
                    method=method, start=c, n_iter=int(n_iter),
                    status=jm.Status(int(status)).name, fit=t_fit, grad=t_grad,
                    ratio=t_grad / t_fit, extra=t_grad - t_fit, compile_fit=c_fit,
                    compile_grad=c_grad, finite=finite,
                )
            )  # fmt: skip
            log(f"(a) {rows[-1]}")
    return rows


# ----------------------------------------------------------------------------
# (b) Newton vs L-BFGS as p grows
# ----------------------------------------------------------------------------
def bench_methods(repeats: int, quick: bool):
    rows = []
    sizes = (10, 100) if quick else (10, 100, 1000)
    n = 5_000
    for p in sizes:
        data = logistic_data(n, p, seed=2)
        model = jm.models.LogisticRegression(p)
        results = {}
        combos = [("newton", True), ("lbfgs", True), ("newton", False), ("lbfgs", False)]
        if p >= 1000:  # Newton's time is its Hessians either way: one row is enough
            combos.remove(("newton", False))
        for method, se in combos:
            fn = jax.jit(
                lambda d, model=model, method=method, se=se: jm.fit(model, d, method=method, se=se)
            )  # fmt: skip
            reps = repeats
            t, c, res = timed(fn, data, repeats=reps)
            results[(method, se)] = res
            rows.append(
                dict(
                    p=p, n=n, method=method, se=se, time=t, compile=c, n_iter=int(res.n_iter),
                    status=jm.Status(int(res.status)).name,
                )
            )  # fmt: skip
            log(f"(b) {rows[-1]}")
        b_n = np.asarray(results[("newton", True)].params["beta"])
        b_l = np.asarray(results[("lbfgs", True)].params["beta"])
        se_n = np.asarray(results[("newton", True)].se["beta"])
        se_l = np.asarray(results[("lbfgs", True)].se["beta"])
        sm = statsmodels_logit(data)
        for r in rows[-len(combos) :]:
            r["max_rel_diff"] = float(np.max(np.abs(b_l - b_n)) / np.max(np.abs(b_n)))
            r["se_rel_diff"] = float(np.max(np.abs(se_l / se_n - 1)))
            if sm is not None:
                b_sm, se_sm, t_sm = sm
                b_m = b_l if r["method"] == "lbfgs" else b_n
                r["sm_rel_diff"] = float(np.max(np.abs(b_m - b_sm)) / np.max(np.abs(b_sm)))
                r["sm_time"] = t_sm
    return rows


def statsmodels_logit(data):
    """statsmodels' Logit (Newton, analytic Hessian) on the same data: (beta, se, seconds)."""
    try:
        import statsmodels.api as sm
    except ImportError:
        return None
    X, y = np.asarray(data["X"]), np.asarray(data["y"])
    t0 = time.perf_counter()
    r = sm.Logit(y, X).fit(disp=0, method="newton", maxiter=100, tol=1e-12)
    return np.asarray(r.params), np.asarray(r.bse), time.perf_counter() - t0


# ----------------------------------------------------------------------------
# (c) many small fits at once: where Newton's few iterations win
# ----------------------------------------------------------------------------
def bench_batch(repeats: int, quick: bool):
    B, n, p = (200 if quick else 1_000), 200, 5
    parts = [logistic_data(n, p, seed=100 + b) for b in range(B)]
    data = {k: jnp.stack([d[k] for d in parts]) for k in ("X", "y")}
    model = jm.models.LogisticRegression(p)
    rows, est, conv = [], {}, {}
    for method in ("newton", "lbfgs"):
        fn = jax.jit(lambda d, method=method: jm.fit_batch(model, d, method=method))
        t, c, res = timed(fn, data, repeats=repeats)
        est[method] = np.asarray(res.params["beta"])
        conv[method] = np.asarray(res.status) == jm.Status.CONVERGED
        ok = int(np.sum(conv[method]))
        names = [jm.Status(int(v)).name for v in np.asarray(res.status)]
        counts = ", ".join(f"{names.count(k)} {k}" for k in sorted(set(names)))
        rows.append(
            dict(
                B=B, n=n, p=p, method=method, time=t, compile=c,
                max_iter=int(np.max(np.asarray(res.n_iter))), converged=ok, statuses=counts,
            )
        )  # fmt: skip
        log(f"(c) {rows[-1]}")
    both = conv["newton"] & conv["lbfgs"]  # the others are separated samples (BOUNDARY)
    diff = float(
        np.max(np.abs(est["lbfgs"][both] - est["newton"][both]))
        / np.max(np.abs(est["newton"][both]))
    )
    for r in rows:
        r["max_rel_diff"] = diff
    return rows


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------
def write_report(path, grad_rows, method_rows, batch_rows, args, wall):
    lines = [
        "# jaxmle benchmark: embedding (gradients through fits, Newton vs L-BFGS)",
        "",
        f"Command: `python bench/embedding.py --out {args.out} --repeats {args.repeats}"
        + (" --quick" if args.quick else "")
        + "`  ",
        f"Times: median of {args.repeats} steady-state runs of a compiled function ("
        "15 in (a), fit and grad runs alternated); compile = first call minus a steady-state "
        f"run. Total wall time {wall:.0f} s.",
        "",
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- Machine: {platform.platform()}; {os.cpu_count()} logical CPUs",
        f"- Python {platform.python_version()}; jax {jax.__version__}; jaxmle {jm.__version__}",
        f"- JAX backend: {jax.default_backend()} ({jax.devices()[0]}); float64",
        "",
        "## (a) A gradient through the fit costs about the same whatever the iterations",
        "",
        "Logistic regression, p = 20, n = 20,000. `fit` is `jit(fit)`; `grad` is",
        "`jit(grad(loss))` with `loss = sum(beta_hat ** 2)` differentiated with respect to",
        "the data (X and y), which runs the fit and then the implicit-function-theorem",
        "derivative (one Hessian and one linear solve). Starts farther away need more",
        "iterations; the gradient's extra cost (`grad - fit`) stays flat, so the ratio",
        "falls towards 1 as the fit itself gets longer.",
        "",
        "| method | start | iterations | status | fit (ms) | grad (ms) | grad / fit "
        "| grad - fit (ms) | compile fit (s) | compile grad (s) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in grad_rows:
        lines.append(
            f"| {r['method']} | {r['start']:g} | {r['n_iter']} | {r['status']} | "
            f"{1e3 * r['fit']:.2f} | {1e3 * r['grad']:.2f} | {r['ratio']:.2f} | "
            f"{1e3 * r['extra']:.2f} | {r['compile_fit']:.2f} | {r['compile_grad']:.2f} |"
        )
    lines += [
        "",
        "## (b) Newton vs L-BFGS on logistic regression (n = 5,000)",
        "",
        "`se=True`: estimates and standard errors (L-BFGS forms the Hessian once, at the "
        "end); `se=False`: estimates only (L-BFGS forms no p x p matrix; Newton still uses "
        "its Hessian to iterate, and its se=False row is omitted at p = 1000). *rel. diff* "
        "is max|beta_lbfgs - beta_newton| / max|beta_newton|; *SE diff* is "
        "max|se_lbfgs / se_newton - 1|; *vs statsmodels* is max|beta - beta_sm| / "
        "max|beta_sm| against statsmodels' `Logit` on the same data (its time in the last "
        "column).",
        "",
        "| p | method | se | time (s) | compile (s) | iterations | status | rel. diff | SE diff "
        "| vs statsmodels | statsmodels (s) |",
        "|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in method_rows:
        lines.append(
            f"| {r['p']} | {r['method']} | {r['se']} | {r['time']:.4f} | {r['compile']:.2f} | "
            f"{r['n_iter']} | {r['status']} | {r['max_rel_diff']:.1e} | {r['se_rel_diff']:.1e} | "
            f"{r.get('sm_rel_diff', float('nan')):.1e} | {r.get('sm_time', float('nan')):.2f} |"
        )
    lines += ["", "### When each is faster", ""]
    by_p = {}
    for r in method_rows:
        by_p.setdefault(r["p"], {})[(r["method"], r["se"])] = r["time"]
    for p, t in by_p.items():
        for se in (True, False):
            tl = t[("lbfgs", se)]
            tn = t.get(("newton", se), t[("newton", True)])
            faster = "L-BFGS" if tl < tn else "Newton"
            lines.append(
                f"- p = {p}, se={se}: {faster} faster "
                f"(Newton {tn:.4f} s, L-BFGS {tl:.4f} s, Newton / L-BFGS {tn / tl:.2f})"
            )
    lines += [
        "",
        "## (c) Many small fits at once (`jit(fit_batch)`, one vmapped kernel)",
        "",
        "Under `vmap` every member of the batch runs until the slowest has converged, and",
        "L-BFGS's line search is itself a loop: Newton's few exact steps win here.",
        "",
        "*rel. diff* over the datasets both methods converged on; the others are separated",
        "samples, whose coefficients run to infinity (their statuses are counted).",
        "",
        "| B | n | p | method | time (s) | compile (s) | max iterations | statuses | rel. diff |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in batch_rows:
        lines.append(
            f"| {r['B']} | {r['n']} | {r['p']} | {r['method']} | {r['time']:.4f} | "
            f"{r['compile']:.2f} | {r['max_iter']} | {r['statuses']} | "
            f"{r['max_rel_diff']:.1e} |"
        )
    lines.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("bench", "RESULTS-embedding.md"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    t0 = time.perf_counter()
    grad_rows = bench_gradient(args.repeats, args.quick)
    batch_rows = bench_batch(args.repeats, args.quick)
    method_rows = bench_methods(args.repeats, args.quick)
    write_report(args.out, grad_rows, method_rows, batch_rows, args, time.perf_counter() - t0)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
