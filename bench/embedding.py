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
(d) jaxmle against optimistix (Newton root find of the gradient with its implicit
    adjoint; skipped when optimistix is not installed): compile and run time of a
    jitted fit and of a jitted gradient through it, a bilevel ridge problem trained
    with optax (time per outer step, compile), and the accuracy of second derivatives
    through the optimum against closed forms.
(e) A training loop in which 1% of the inner fits fail (MAX_ITER), masked out:
    the gradient with on_failure_grad="nan" (the default) and "zero".

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
from jaxmle.optimize import newton  # noqa: E402


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
# (d) against optimistix: compile, run, bilevel ridge, second derivatives
# ----------------------------------------------------------------------------
def _compile_and_run(fn, *args, repeats, options=None, compiles=1):
    """(trace + lower seconds, XLA compile seconds, median run seconds, output) of
    ``jax.jit(fn, compiler_options=options)``; the times of tracing and compiling are the
    medians of ``compiles`` from empty caches."""
    traces, xlas = [], []
    for _ in range(compiles):
        jax.clear_caches()
        t0 = time.perf_counter()
        lowered = jax.jit(fn, compiler_options=options).lower(*args)
        t1 = time.perf_counter()
        compiled = lowered.compile()
        t2 = time.perf_counter()
        traces.append(t1 - t0)
        xlas.append(t2 - t1)
    out = jax.block_until_ready(compiled(*args))
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - t)
    return float(np.median(traces)), float(np.median(xlas)), float(np.median(runs)), out


def _logistic_negll(b, X, y, w):
    eta = X @ b
    return -jnp.sum(w * (y * eta - jnp.logaddexp(0.0, eta)))


def bench_optimistix(repeats: int, quick: bool):
    try:
        import optimistix as optx
    except ImportError:
        log("(d) optimistix is not installed: skipped")
        return None
    repeats = max(repeats, 50)  # sub-millisecond timings
    rows = []
    # a single fit (estimates and standard errors) and a gradient through it: logistic
    # regression, n = 200, p = 3, differentiated with respect to the weights
    n, p = 200, 3
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X @ np.array([0.3, 1.0, -0.5]))))).astype(float)
    X, y = jnp.asarray(X), jnp.asarray(y)
    model = jm.models.LogisticRegression(p)

    def jm_fit(w):
        r = jm.fit(model, {"X": X, "y": y}, weights=w)
        return r.params["beta"], r.se["beta"]

    def ox_fit(w):
        sol = optx.root_find(
            lambda b, w: jax.grad(_logistic_negll)(b, X, y, w),
            optx.Newton(rtol=1e-10, atol=1e-10), jnp.zeros(p), w, throw=False, max_steps=100,
        )  # fmt: skip
        H = jax.hessian(_logistic_negll)(sol.value, X, y, w)
        return sol.value, jnp.sqrt(jnp.diag(jnp.linalg.inv(H)))

    def through(fit_fn):
        return jax.grad(lambda w: jnp.sum(sum(fit_fn(w))))

    w = jnp.ones(n)
    # where jaxmle's compile goes: the solver's loop alone, the fit (solver, statuses,
    # standard errors), and a gradient through the fit (the implicit derivative)
    breakdown = []
    parts = {
        "solver alone (trust)": lambda w: (
            newton(lambda b: _logistic_negll(b, X, y, w), jnp.zeros(p), solver="trust").x
        ),
        "solver alone (newton)": lambda w: (
            newton(lambda b: _logistic_negll(b, X, y, w), jnp.zeros(p), solver="newton").x
        ),
        "fit, method='trust'": lambda w: jm_fit(w),
        "fit, method='newton'": lambda w: jm.fit(
            model, {"X": X, "y": y}, weights=w, method="newton"
        ).params["beta"],
        "grad through fit, 'trust'": through(jm_fit),
    }
    for part, fn in parts.items():
        tr, cx, _, _ = _compile_and_run(fn, w, repeats=1)
        lines = jax.jit(fn).lower(w).compile().as_text().count("\n")
        breakdown.append(dict(part=part, trace=tr, xla=cx, hlo=lines))
        log(f"(d) {breakdown[-1]}")
    # each program compiled with XLA's default options and with jm.compiler_options() (for
    # both tools alike); the compile times are medians of 3 compiles from empty caches
    for kind, fns in (
        ("jit(fit)", (jm_fit, ox_fit)),
        ("jit(grad)", tuple(map(through, (jm_fit, ox_fit)))),
    ):
        for opts_name, opts in (
            ("default", None),
            ("jm.compiler_options()", jm.compiler_options()),
        ):
            (tj, cj, rj, oj), (to, co, ro, oo) = (
                _compile_and_run(f, w, repeats=repeats, options=opts, compiles=3) for f in fns
            )
            diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(
                jax.tree_util.tree_leaves(oj), jax.tree_util.tree_leaves(oo)))  # fmt: skip
            rows.append(dict(kind=kind, options=opts_name, jm_trace=tj, jm_xla=cj, jm_run=rj,
                             ox_trace=to, ox_xla=co, ox_run=ro, diff=diff))  # fmt: skip
            log(f"(d) {rows[-1]}")

    # a bilevel ridge problem: the inner fit is a ridge-penalized logistic regression on a
    # training half, the outer loss its validation log-loss, log(lambda) trained by Adam
    import optax

    n, p = 200, 10
    rng = np.random.default_rng(1)
    Xs = [jnp.asarray(rng.normal(size=(n, p))) for _ in range(2)]
    truth = rng.normal(size=p) * (np.arange(p) < 4)
    ys = [jnp.asarray((rng.uniform(size=n) < 1 / (1 + np.exp(-(np.asarray(x) @ truth))))
                      .astype(float)) for x in Xs]  # fmt: skip
    ones = jnp.ones(n)

    def inner_jm(log_lam):
        lam = jnp.exp(log_lam)
        m = jm.Model(
            lambda q, d: -_logistic_negll(q["b"], d[0], d[1], ones) - lam * jnp.sum(q["b"] ** 2),
            {"b": jm.Real(shape=(p,))},
        )
        return jm.fit(m, (Xs[0], ys[0]), se=False).params["b"]

    def inner_ox(log_lam):
        def g(b, lam):
            return jax.grad(lambda b: _logistic_negll(b, Xs[0], ys[0], ones) + lam * b @ b)(b)

        sol = optx.root_find(g, optx.Newton(rtol=1e-10, atol=1e-10), jnp.zeros(p),
                             jnp.exp(log_lam), throw=False, max_steps=100)  # fmt: skip
        return sol.value

    opt = optax.adam(0.1)
    steps = 20 if quick else 100
    ridge = {}
    for name, inner in (("jaxmle", inner_jm), ("optimistix", inner_ox)):

        def outer(log_lam, inner=inner):
            return _logistic_negll(inner(log_lam), Xs[1], ys[1], ones) / n

        def step(h, s, outer=outer):
            v, g = jax.value_and_grad(outer)(h)
            u, s = opt.update(g, s)
            return optax.apply_updates(h, u), s, v

        h = jnp.asarray(0.0)
        s = opt.init(h)
        tr, cx, _, _ = _compile_and_run(step, h, s, repeats=1)
        step_jit = jax.jit(step)
        jax.block_until_ready(step_jit(h, s))
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            h, s, v = jax.block_until_ready(step_jit(h, s))
            times.append(time.perf_counter() - t)
        d2 = float(jax.jit(jax.hessian(outer))(jnp.asarray(0.5)))
        ridge[name] = dict(compile=tr + cx, step=float(np.median(times)), log_lam=float(h),
                           loss=float(v), d2=d2)  # fmt: skip
        log(f"(d) ridge {name} {ridge[name]}")

    # second derivatives through the optimum against a closed form: the exponential rate
    # 1 / mean(x + s), d^2/ds^2 = 2 / m^3 (m = mean(x) + s)
    x = jnp.array([1.0, 2.0, 4.0, 7.0, 3.5])
    expon = jm.Model(lambda q, x: jnp.log(q["rate"]) - q["rate"] * x, {"rate": jm.Positive()})

    def rate_jm(s):
        return jm.fit(expon, x + s).params["rate"]

    def rate_ox(s):
        def g(u, s):  # the gradient of the negative loglik in u = log(rate)
            return jax.grad(lambda u: -jnp.sum(u - jnp.exp(u) * (x + s)))(u)

        sol = optx.root_find(g, optx.Newton(rtol=1e-12, atol=1e-12), jnp.asarray(0.0), s,
                             throw=False, max_steps=100)  # fmt: skip
        return jnp.exp(sol.value)

    s0 = 0.3
    m = float(x.mean()) + s0
    exact = {"d2": 2 / m**3, "d3": -6 / m**4}
    second = {}
    for name, f in (("jaxmle", rate_jm), ("optimistix", rate_ox)):
        d2 = float(jax.jit(jax.hessian(f))(s0))
        d3 = float(jax.jit(jax.jacfwd(jax.jacfwd(jax.jacrev(f))))(s0))
        second[name] = dict(d2=d2, d3=d3, err2=abs(d2 / exact["d2"] - 1),
                            err3=abs(d3 / exact["d3"] - 1))  # fmt: skip
        log(f"(d) second derivatives {name} {second[name]}")
    return dict(rows=rows, ridge=ridge, second=second, exact=exact, breakdown=breakdown)


# ----------------------------------------------------------------------------
# (e) a training loop with 1% failed inner fits, masked out
# ----------------------------------------------------------------------------
def bench_masked_failures(repeats: int, quick: bool):
    import optax

    B, n = 200, 6
    rng = np.random.default_rng(7)
    xs = rng.exponential(1.0, (B, n)) / rng.uniform(0.5, 1.5, (B, 1))
    held_out = jnp.asarray(rng.exponential(1.0, (B, n)) / rng.uniform(0.5, 1.5, (B, 1)))
    # two fits in two hundred (1%) fail: one started 1e12 times too high stops at the
    # iteration limit (MAX_ITER), one has a NaN reading (NONFINITE)
    failed = [37, 151]
    xs[151, 2] = np.nan
    xs = jnp.asarray(xs)
    init = {"rate": jnp.ones(B).at[37].set(1e12)}

    def loss(log_h, xs, held_out, init, mode):
        h = jnp.exp(log_h)
        model = jm.Model(lambda q, x: jnp.log(q["rate"]) - q["rate"] * h * x,
                         {"rate": jm.Positive()})  # fmt: skip
        r = jm.fit_batch(model, xs, init=init, max_iter=8, on_failure_grad=mode)
        ok = r.converged
        per = jnp.mean((held_out * r.params["rate"][:, None] - 1.0) ** 2, axis=1)
        return jnp.sum(jnp.where(ok, per, 0.0)) / jnp.sum(ok)

    opt = optax.adam(0.05)
    keep = np.setdiff1d(np.arange(B), failed)
    ref_args = (xs[keep], held_out[keep], {"rate": init["rate"][keep]}, "zero")
    rows = []
    for mode in ("nan", "zero"):
        grad = jax.jit(jax.value_and_grad(loss), static_argnums=4)
        hess = jax.jit(jax.hessian(loss), static_argnums=4)
        h, s = jnp.asarray(0.0), opt.init(jnp.asarray(0.0))
        t0 = time.perf_counter()
        jax.block_until_ready(grad(h, xs, held_out, init, mode))
        compile_s = time.perf_counter() - t0
        times, finite = [], 0
        steps = 20 if quick else 100
        for _ in range(steps):
            t = time.perf_counter()
            v, g = jax.block_until_ready(grad(h, xs, held_out, init, mode))
            times.append(time.perf_counter() - t)
            finite += bool(np.isfinite(g))
            if np.isfinite(g):
                u, s = opt.update(g, s)
                h = optax.apply_updates(h, u)
        # the gradient and second derivative against those of the converged fits alone
        _, g_ref = grad(h, *ref_args)
        _, g_here = grad(h, xs, held_out, init, mode)
        d2_ref, d2_here = hess(h, *ref_args), hess(h, xs, held_out, init, mode)
        rows.append(dict(
            mode=mode, steps=steps, finite=finite, step=float(np.median(times)),
            compile=compile_s, grad_diff=float(abs(g_here / g_ref - 1)),
            d2_diff=float(abs(d2_here / d2_ref - 1)), log_h=float(h),
        ))  # fmt: skip
        log(f"(e) {rows[-1]}")
    return rows


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------
def write_report(path, grad_rows, method_rows, batch_rows, args, wall, ox=None, masked=None):
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
        f"- Load average (1, 5, 15 min) at the start: {args.load_start}; at the end: {_load()}",
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
    lines += _report_optimistix(ox) + _report_masked(masked)
    lines.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))


def _report_optimistix(ox):
    if ox is None:
        return ["", "## (d) Against optimistix", "", "Skipped: optimistix is not installed."]
    lines = [
        "",
        "## (d) Against optimistix",
        "",
        "optimistix: `optx.root_find` of the gradient with `optx.Newton` (rtol = atol = 1e-10)",
        "and its implicit adjoint; standard errors from the inverse Hessian at its root.",
        "jaxmle: `jm.fit` (trust region, statuses, standard errors). Logistic regression,",
        "n = 200, p = 3; the gradient is that of `sum(beta) + sum(se)` in the weights. Both",
        "are compiled inside one `jax.jit`, both with XLA's default options and both with",
        "`jm.compiler_options()` (jaxmle's own, for a user's jit of a program with fits);",
        "trace and XLA times are medians of 3 compiles from empty caches. *diff*: the largest",
        "difference between the two outputs.",
        "",
        "| program | options | jaxmle trace (s) | jaxmle XLA (s) | optimistix trace (s) "
        "| optimistix XLA (s) | compile ratio | jaxmle run (ms) | optimistix run (ms) | diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ox["rows"]:
        ratio = (r["jm_trace"] + r["jm_xla"]) / (r["ox_trace"] + r["ox_xla"])
        lines.append(
            f"| {r['kind']} | {r.get('options', 'default')} | {r['jm_trace']:.2f} | "
            f"{r['jm_xla']:.2f} | {r['ox_trace']:.2f} | "
            f"{r['ox_xla']:.2f} | {ratio:.2f} | {1e3 * r['jm_run']:.3f} | "
            f"{1e3 * r['ox_run']:.3f} | {r['diff']:.1e} |"
        )
    lines += [
        "",
        "Where jaxmle's compile goes (the same logistic regression, each part compiled in a",
        "`jax.jit` of its own; *HLO lines*: the size of the optimized program):",
        "",
        "| part | trace (s) | XLA (s) | HLO lines |",
        "|---|---:|---:|---:|",
    ]
    for r in ox["breakdown"]:
        lines.append(f"| {r['part']} | {r['trace']:.2f} | {r['xla']:.2f} | {r['hlo']} |")
    rj, ro = ox["ridge"]["jaxmle"], ox["ridge"]["optimistix"]
    lines += [
        "",
        "Bilevel ridge: the inner fit is a ridge-penalized logistic regression (n = 200,",
        "p = 10, `se=False` for jaxmle), the outer loss its validation log-loss, `log(lambda)`",
        "trained by `optax.adam(0.1)` in a jitted step; *d2* is the second derivative of the",
        "outer loss at `log(lambda) = 0.5` (`jax.hessian` through the inner solve).",
        "",
        "| solver | compile (s) | time per outer step (ms) | final log(lambda) | final loss | d2 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("jaxmle", rj), ("optimistix", ro)):
        lines.append(
            f"| {name} | {r['compile']:.2f} | {1e3 * r['step']:.3f} | {r['log_lam']:.6f} | "
            f"{r['loss']:.6f} | {r['d2']:.10g} |"
        )
    lines += [
        "",
        f"Compile ratio jaxmle / optimistix: {rj['compile'] / ro['compile']:.2f}; relative "
        f"difference of the second derivatives: {abs(rj['d2'] / ro['d2'] - 1):.1e}.",
        "",
        "Second and third derivatives of the exponential MLE `1 / mean(x + s)` in `s`",
        f"(closed forms {ox['exact']['d2']:.10g} and {ox['exact']['d3']:.10g}):",
        "",
        "| solver | d2 | rel. error | d3 | rel. error |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in ox["second"].items():
        lines.append(
            f"| {name} | {r['d2']:.12g} | {r['err2']:.1e} | {r['d3']:.12g} | {r['err3']:.1e} |"
        )
    return lines


def _report_masked(rows):
    lines = [
        "",
        "## (e) A training loop with 1% failed inner fits",
        "",
        "`fit_batch` of 200 exponential datasets sharing a learned scale `h`; two fits (1%)",
        "fail: one started far away stops at `MAX_ITER`, one has a NaN reading (`NONFINITE`).",
        "The loss is the mean over the converged fits (`jnp.where(res.converged, ...)`),",
        "trained by `optax.adam`. *finite*: steps whose gradient was finite (a NaN gradient",
        "skips the update); *grad diff* and *d2 diff*: relative difference of the gradient and",
        "of the second derivative from those of the 198 converged fits alone, at the final `h`.",
        "",
        "| on_failure_grad | steps | finite | time per step (ms) | compile (s) | grad diff "
        "| d2 diff |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows or ():
        lines.append(
            f"| {r['mode']} | {r['steps']} | {r['finite']} | {1e3 * r['step']:.3f} | "
            f"{r['compile']:.2f} | {r['grad_diff']:.1e} | {r['d2_diff']:.1e} |"
        )
    return lines


def _load() -> str:
    """The machine's load averages (a busy machine slows compiles and runs alike)."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("bench", "RESULTS-embedding.md"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    args.load_start = _load()
    t0 = time.perf_counter()
    grad_rows = bench_gradient(args.repeats, args.quick)
    batch_rows = bench_batch(args.repeats, args.quick)
    method_rows = bench_methods(args.repeats, args.quick)
    ox = bench_optimistix(args.repeats, args.quick)
    masked = bench_masked_failures(args.repeats, args.quick)
    write_report(args.out, grad_rows, method_rows, batch_rows, args, time.perf_counter() - t0,
                 ox, masked)  # fmt: skip
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
