"""Fleets: jaxmle's group-by fit in memory, on Dask and on Spark, against the usual recipes.

    python bench/fleet.py [--rows 1e5,1e6,1e7] [--big 1e8] [--out bench/RESULTS-fleet.md]
                          [--plot docs/img/fleet.png] [--data /tmp/jaxmle-fleet]

A synthetic fleet: right-censored Weibull lifetimes, 100 readings per sensor,
each sensor with its own shape (1 to 3) and scale (50 to 150), censored at
the time that leaves 30% of its readings censored in expectation. Written as
Parquet, sorted by sensor, in files that each hold whole sensors (a dataset
partitioned by sensor: 8 files, or files of 10,000 sensors when that makes
more). Every method runs in a fresh process, and reads the data itself:

* **jm.fit_groups (in memory)**: ``pyarrow.parquet.read_table`` of the folder,
  then one ``jm.fit_groups`` call.
* **jaxmle.dask (2 workers)**: a ``distributed.LocalCluster`` of 2 worker
  processes of 1 thread, ``dd.read_parquet`` (a file a partition) and
  ``jaxmle.dask.fit_groups(partitioned=True)``, computed to pandas.
* **jaxmle.spark (local[2])**: ``spark.read.parquet`` and
  ``jaxmle.spark.fit_groups(partitioned=True)`` (each Spark partition holds
  whole files), collected with ``toPandas``.
* **jaxmle fit --engine dask** (``--big`` only): the command line on the folder,
  ``--workers 2 --partitioned``, writing the results CSV.
* **pandas groupby().apply() + lifelines WeibullFitter** and **Spark
  groupBy().applyInPandas() + scipy** (one ``scipy.optimize.minimize`` per
  sensor, standard errors from the inverse Hessian): timed on two subsets of
  the sensors, a line ``a + b * sensors`` through the two, extrapolated to the
  whole fleet (marked *extrapolated*; the reading of the whole table is
  measured and added for the pandas recipe).

Columns: wall time including reading (cluster or Spark start-up excluded, and
given apart; the command line's includes everything), rows per second, peak
resident memory sampled every 0.1 s over the process tree (the driver; each
worker process: dask workers, Spark's JVM and its Python workers; and the
total of the tree at its highest sample), and the compile time (JAX tracing,
lowering and XLA compilation, summed over the driver and the dask workers;
Spark's Python workers are not instrumented). Every jaxmle process uses a
persistent compilation cache that starts empty, so the compile time is paid in
full; the *warm cache* rows run the same method again in a new process on the
cache its first run filled (a second run of the same fit, as a user's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
READINGS = 100  # per sensor
FILE_SENSORS = 10_000  # most sensors a file
CENSORED = 0.3  # expected fraction of censored readings
METHODS = {
    "memory": "jm.fit_groups (in memory)",
    "memory-warm": "jm.fit_groups (in memory), warm cache",
    "dask": "jaxmle.dask (2 workers)",
    "dask-warm": "jaxmle.dask (2 workers), warm cache",
    "spark": "jaxmle.spark (local[2])",
    "spark-warm": "jaxmle.spark (local[2]), warm cache",
    "spark-floor": "Spark floor: the same job, no fit (local[2])",
    "cli-dask": "jaxmle fit --engine dask (2 workers)",
    "lifelines": "pandas groupby + lifelines WeibullFitter",
    "spark-scipy": "Spark applyInPandas + scipy",
}
COMPILE_EVENTS = (
    "/jax/core/compile/backend_compile_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/jaxpr_trace_duration",
)


# --------------------------------------------------------------------------
# the data
# --------------------------------------------------------------------------
def write_fleet(folder: str, rows: int, seed: int = 0) -> dict:
    """The fleet of ``rows`` readings as Parquet files of whole sensors (sorted by sensor)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    sensors = rows // READINGS
    per_file = max(1, min(FILE_SENSORS, sensors // 8))
    done = os.path.join(folder, "_done.json")
    if os.path.exists(done):
        with open(done) as f:
            return json.load(f)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    censored = 0
    for k, first in enumerate(range(0, sensors, per_file)):
        ids = np.arange(first, min(first + per_file, sensors))
        shape = rng.uniform(1.0, 3.0, ids.size)
        scale = rng.uniform(50.0, 150.0, ids.size)
        cut = scale * (-np.log(CENSORED)) ** (1.0 / shape)  # P(T > cut) = CENSORED
        life = np.repeat(scale, READINGS) * rng.weibull(np.repeat(shape, READINGS))
        cutoff = np.repeat(cut, READINGS)
        failed = life <= cutoff
        censored += int((~failed).sum())
        table = pa.table({
            "sensor": np.repeat(ids, READINGS).astype(np.int64),
            "hours": np.minimum(life, cutoff),
            "failed": failed.astype(np.float64),
        })  # fmt: skip
        pq.write_table(table, os.path.join(folder, f"part-{k:05d}.parquet"))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    info = {
        "rows": sensors * READINGS,
        "sensors": sensors,
        "files": k + 1,
        "censored": censored / (sensors * READINGS),
        "bytes": size,
    }
    with open(done, "w") as f:
        json.dump(info, f)
    return info


# --------------------------------------------------------------------------
# the children: one method, one process; a JSON line on stdout
# --------------------------------------------------------------------------
def _compile_clock():
    import jax

    total = [0.0]

    def listen(event, duration, **_):
        if event in COMPILE_EVENTS:
            total[0] += duration

    jax.monitoring.register_event_duration_secs_listener(listen)
    return total


def _worker_clock():  # run on each dask worker
    import jax

    import jaxmle  # noqa: F401  (imported before the first task, as the task would)

    if not hasattr(jax, "_fleet_clock"):
        jax._fleet_clock = _compile_clock()
    return 0


def _worker_compile():
    import jax

    return jax._fleet_clock[0]


def _jax_setup():
    """float64, and the persistent compilation cache in $JAXMLE_CACHE_DIR (as the command line
    sets it; the dask and Spark workers follow the driver's)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", os.environ["JAXMLE_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def _statuses(table) -> dict:
    return {str(k): int(v) for k, v in table["status"].value_counts().items()}


KW = dict(value="hours", event="failed")


def child_memory(folder):
    _jax_setup()
    clock = _compile_clock()
    import pyarrow.parquet as pq

    import jaxmle as jm

    t0 = time.perf_counter()
    table = pq.read_table(folder, columns=["sensor", "hours", "failed"])
    t_read = time.perf_counter() - t0
    out = jm.fit_groups(table, "weibull", by="sensor", **KW)
    wall = time.perf_counter() - t0
    return {"wall": wall, "read": t_read, "compile": clock[0], "groups": len(out),
            "status": _statuses(out)}  # fmt: skip


def child_dask(folder):
    _jax_setup()
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import jaxmle.dask

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=0)  # fmt: skip
    client = Client(cluster)
    client.run(_worker_clock)
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    ddf = dd.read_parquet(folder, columns=["sensor", "hours", "failed"], split_row_groups=False)
    lazy = jaxmle.dask.fit_groups(ddf, "weibull", by="sensor", partitioned=True, **KW)
    out = client.compute(lazy).result()
    wall = time.perf_counter() - t0
    compile_s = sum(client.run(_worker_compile).values())
    parts = ddf.npartitions
    client.close()
    cluster.close()
    return {"wall": wall, "startup": start, "compile": compile_s, "groups": len(out),
            "status": _statuses(out), "partitions": parts}  # fmt: skip


def _spark(cores: int = 2):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("jaxmle fleet bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", str(2 * cores))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def child_spark(folder):
    _jax_setup()
    import jaxmle.spark

    t0 = time.perf_counter()
    spark = _spark()
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    sdf = spark.read.parquet(folder)
    lazy = jaxmle.spark.fit_groups(sdf, "weibull", by="sensor", partitioned=True, **KW)
    out = lazy.toPandas()
    wall = time.perf_counter() - t0
    parts = sdf.rdd.getNumPartitions()
    spark.stop()
    return {"wall": wall, "startup": start, "compile": None, "groups": len(out),
            "status": _statuses(out), "partitions": parts}  # fmt: skip


def _no_fit(batches):
    """The Spark floor's partition function: the rows come to Python as jaxmle.spark's do, and
    one row per sensor goes back with the columns of its result, without a fit."""
    import numpy as np
    import pandas as pd

    frames = [b for b in batches if len(b)]
    if not frames:
        return
    part = pd.concat(frames, ignore_index=True)
    sensors = part["sensor"].to_numpy()
    first = np.concatenate([[True], sensors[1:] != sensors[:-1]])
    out = pd.DataFrame({"sensor": sensors[first]})
    for name in FLOOR_COLUMNS:
        out[name] = 0.0
    out["nobs"] = np.diff(np.append(np.flatnonzero(first), sensors.size))
    out["status"] = "CONVERGED"
    yield out


#: the float columns of jaxmle's Weibull result (the floor returns them, as zeros)
FLOOR_COLUMNS = [f"{p}{s}" for p in ("shape", "scale") for s in ("", "_se", "_lo", "_hi")]
FLOOR_COLUMNS += ["loglik"]


def child_spark_floor(folder):
    """Spark's own cost of jaxmle.spark's job: read the Parquet folder, carry every partition
    (already whole sensors) to a Python worker through Arrow, return one row per sensor with
    the result's schema, and collect it; no fit (and no jax in the workers)."""
    t0 = time.perf_counter()
    spark = _spark()
    start = time.perf_counter() - t0
    schema = "sensor bigint, " + ", ".join(f"{c} double" for c in FLOOR_COLUMNS)
    schema += ", nobs bigint, status string"
    t0 = time.perf_counter()
    sdf = spark.read.parquet(folder)
    out = sdf.mapInPandas(_no_fit, schema).toPandas()
    wall = time.perf_counter() - t0
    parts = sdf.rdd.getNumPartitions()
    spark.stop()
    return {"wall": wall, "startup": start, "compile": None, "groups": len(out),
            "partitions": parts}  # fmt: skip


def child_cli_dask(folder):
    from jaxmle.cli import main

    out = os.path.join(tempfile.mkdtemp(), "results.csv")
    argv = ["fit", folder, "--family", "weibull", "--value", "hours", "--event", "failed",
            "--by", "sensor", "--engine", "dask", "--workers", "2", "--partitioned",
            "--out", out, "-q"]  # fmt: skip
    t0 = time.perf_counter()
    code = main(argv)
    wall = time.perf_counter() - t0
    import pandas as pd

    status = pd.read_csv(out, usecols=["status"])
    return {"wall": wall, "compile": None, "groups": len(status), "exit": code,
            "status": _statuses(status)}  # fmt: skip


def _subset_line(times: dict) -> tuple[float, float]:
    (k1, t1), (k2, t2) = sorted(times.items())
    b = (t2 - t1) / (k2 - k1)
    return t1 - b * k1, b


def child_lifelines(folder, subsets):
    import warnings

    import numpy as np
    import pyarrow.parquet as pq
    from lifelines import WeibullFitter

    t0 = time.perf_counter()
    df = pq.read_table(folder, columns=["sensor", "hours", "failed"]).to_pandas()
    t_read = time.perf_counter() - t0
    sensors = int(df["sensor"].nunique())

    def fit_one(g):
        w = WeibullFitter().fit(g["hours"], g["failed"])
        se = np.sqrt(np.diag(w.variance_matrix_))  # (lambda_, rho_)
        return {"lambda": w.lambda_, "rho": w.rho_, "lambda_se": se[0], "rho_se": se[1],
                "loglik": w.log_likelihood_}  # fmt: skip

    times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df[df["sensor"] < 10].groupby("sensor")[["hours", "failed"]].apply(fit_one)  # warm-up
        for k in subsets:
            sub = df[df["sensor"] < k]
            t0 = time.perf_counter()
            sub.groupby("sensor")[["hours", "failed"]].apply(fit_one)
            times[k] = time.perf_counter() - t0
    a, b = _subset_line(times)
    whole = max(times) >= sensors  # the larger subset is the whole fleet: measured
    fit = times[max(times)] if whole else a + b * sensors
    return {"wall": t_read + fit, "read": t_read, "subsets": times, "per_group": b,
            "compile": None, "extrapolated": not whole}  # fmt: skip


def _scipy_fit(pdf):
    """One sensor: the censored Weibull by scipy.optimize.minimize (BFGS on log shape and log
    scale), standard errors from the delta method on the inverse Hessian."""
    import numpy as np
    import pandas as pd
    from scipy.optimize import minimize

    t, e = pdf["hours"].to_numpy(), pdf["failed"].to_numpy()

    def nll(z):
        k, lam = np.exp(z)
        u = t / lam
        return -np.sum(e * (np.log(k / lam) + (k - 1) * np.log(u)) - u**k)

    r = minimize(nll, np.array([0.0, np.log(t.mean())]), method="BFGS")
    k, lam = np.exp(r.x)
    se = np.sqrt(np.diag(r.hess_inv)) * np.exp(r.x)
    return pd.DataFrame({"sensor": [pdf["sensor"].iloc[0]], "shape": [k], "scale": [lam],
                         "shape_se": [se[0]], "scale_se": [se[1]], "loglik": [-r.fun]})  # fmt: skip


def child_spark_scipy(folder, subsets):
    t0 = time.perf_counter()
    spark = _spark()
    start = time.perf_counter() - t0
    sdf = spark.read.parquet(folder)
    sensors = sdf.select("sensor").distinct().count()
    schema = ("sensor long, shape double, scale double, shape_se double, scale_se double, "
              "loglik double")  # fmt: skip
    times = {}
    warm = sdf.filter(sdf.sensor < 10).groupBy("sensor").applyInPandas(_scipy_fit, schema)
    warm.toPandas()  # Python workers started, scipy imported
    for k in subsets:
        t0 = time.perf_counter()
        sub = sdf.filter(sdf.sensor < k)
        sub.groupBy("sensor").applyInPandas(_scipy_fit, schema).toPandas()
        times[k] = time.perf_counter() - t0
    spark.stop()
    a, b = _subset_line(times)
    whole = max(times) >= sensors  # the larger subset is the whole fleet: measured
    return {"wall": times[max(times)] if whole else a + b * sensors, "startup": start,
            "subsets": times, "per_group": b, "compile": None,
            "extrapolated": not whole}  # fmt: skip


def run_child(args):
    if args.child in ("memory", "memory-warm"):
        out = child_memory(args.folder)
    elif args.child in ("dask", "dask-warm"):
        out = child_dask(args.folder)
    elif args.child in ("spark", "spark-warm"):
        out = child_spark(args.folder)
    elif args.child == "spark-floor":
        out = child_spark_floor(args.folder)
    elif args.child == "cli-dask":
        out = child_cli_dask(args.folder)
    elif args.child == "lifelines":
        out = child_lifelines(args.folder, args.subsets)
    else:
        out = child_spark_scipy(args.folder, args.subsets)
    print("RESULT " + json.dumps(out), flush=True)


# --------------------------------------------------------------------------
# the parent: each method in a fresh process, its process tree's memory sampled
# --------------------------------------------------------------------------
def _kind(proc, root_pid) -> str:
    if proc.pid == root_pid:
        return "driver"
    try:
        name = proc.name()
        cmd = " ".join(proc.cmdline())
    except Exception:
        return "other"
    if name.startswith("java"):
        return "spark JVM"
    if not name.startswith("python"):
        return "other"
    if "pyspark" in cmd:
        return "spark python"
    if "multiprocessing" in cmd or "distributed" in cmd:
        return "dask worker"
    return "other"


def measure(cmd: list[str], env: dict, timeout: float) -> dict:
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)  # fmt: skip
    root = psutil.Process(proc.pid)
    peaks: dict[int, tuple[str, int]] = {}
    total = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            now = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                now += rss
                kind = peaks.get(p.pid, ("other", 0))[0]
                if kind == "other":  # (a process may exec into another: bash into java)
                    kind = _kind(p, proc.pid)
                peaks[p.pid] = (kind, max(rss, peaks.get(p.pid, (kind, 0))[1]))
            total[0] = max(total[0], now)
            stop.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for p in root.children(recursive=True):
            p.kill()
        proc.kill()
        out, err = proc.communicate()
        stop.set()
        return {"error": f"timed out after {timeout:.0f} s"}
    stop.set()
    thread.join()
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        return {"error": (err or out)[-2000:]}
    res = json.loads(line[-1][len("RESULT ") :])
    mib = 2**20
    res["peak_driver"] = max((v for k, v in peaks.values() if k == "driver"), default=0) / mib
    res["peak_workers"] = sorted(
        ((k, v / mib) for k, v in peaks.values() if k not in ("driver", "other") and v > 50 * mib),
        key=lambda kv: kv[0],
    )
    res["peak_total"] = total[0] / mib
    return res


def _env(cache: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["JAXMLE_CACHE_DIR"] = cache  # empty at the start: compilation is paid in full
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    return env


_CACHES: dict = {}  # (rows, method) -> the compilation cache its warm run reuses


def run_method(method, rows, folder, subsets, timeout):
    """``method`` in a fresh process; a ``-warm`` method reuses the compilation cache that its
    cold run (just before it) filled, every other one starts with an empty cache."""
    base = method.removesuffix("-warm")
    if method.endswith("-warm") and (rows, base) in _CACHES:
        cache = _CACHES.pop((rows, base))
    else:
        cache = tempfile.mkdtemp(prefix="jaxmle-fleet-cache-")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", method, "--folder", folder,
           "--subsets", ",".join(map(str, subsets))]  # fmt: skip
    try:
        return measure(cmd, _env(cache), timeout)
    finally:
        if method == base and f"{base}-warm" in METHODS:
            _CACHES[(rows, base)] = cache
        else:
            shutil.rmtree(cache, ignore_errors=True)


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------
def _versions() -> str:
    out = []
    for name in ("jax", "numpy", "pandas", "pyarrow", "dask", "distributed", "pyspark",
                 "lifelines", "scipy"):  # fmt: skip
        try:
            mod = __import__(name)
            out.append(f"{name} {mod.__version__}")
        except ImportError:
            pass
    return ", ".join(out)


def _fmt_s(x) -> str:
    return "—" if x is None else f"{x:,.1f}" if x >= 10 else f"{x:.2f}"


def _workers(res) -> str:
    ws = res.get("peak_workers") or []
    if not ws:
        return "—"
    return "; ".join(f"{k} {v:,.0f}" for k, v in ws)


def report(results, infos, args, total) -> str:
    lines = [
        "# Fleets: jaxmle on Dask and Spark against the per-group recipes",
        "",
        f"Command: `python bench/fleet.py {' '.join(args.argv)}`; total wall time {total:,.0f} s  ",
        f"Machine: {platform.platform()}; {os.cpu_count()} logical CPUs; "
        f"{_mem_total()} GiB memory; Python {platform.python_version()}  ",
        f"Versions: {_versions()}; float64  ",
        f"Load average (1 min) at the start {args.load[0]:.1f}, now {os.getloadavg()[0]:.1f}: "
        "the machine is shared, and other work ran beside this benchmark when it is above "
        "zero",
        "",
        "Synthetic fleet: right-censored Weibull lifetimes, 100 readings per sensor, per-sensor "
        "shape U(1, 3) and scale U(50, 150), censored at the time that leaves 30% censored in "
        "expectation; Parquet files of whole sensors, sorted (partitioned by sensor). Each "
        "method ran in a fresh process with an empty compilation cache (the *warm cache* rows: "
        "again, in a new process, on the cache the first run filled). *Wall* includes "
        "reading the Parquet data (not the start of a cluster or of Spark, given under "
        "*notes*). Peak memory (MiB) is sampled every 0.1 s: the driver, each worker process, "
        "and the whole process tree at its highest sample. *Compile* is JAX tracing, lowering "
        "and compilation summed over the driver and the dask workers (Spark's Python workers "
        "are not instrumented: —). Rows marked *extrapolated* were timed on two subsets of "
        "the sensors (see *notes*) and extended by a straight line to the whole fleet.",
        "",
    ]
    for rows in sorted(results):
        info = infos[rows]
        lines += [
            f"## {rows:,} rows ({info['sensors']:,} sensors, {info['files']} files, "
            f"{info['bytes'] / 2**20:,.0f} MiB of Parquet, {100 * info['censored']:.1f}% "
            "censored)",
            "",
            "| method | wall (s) | rows/s | peak driver | peak workers | peak total | "
            "compile (s) | notes |",
            "|---|---:|---:|---:|---|---:|---:|---|",
        ]
        for method, res in results[rows].items():
            name = METHODS[method]
            if "error" in res:
                first = res["error"].strip().splitlines()[-1][:200] if res["error"] else "?"
                lines.append(f"| {name} | failed | | | | | | {first} |")
                continue
            notes = []
            if res.get("subsets"):
                name += " *(extrapolated)*" if res.get("extrapolated") else ""
                subs = ", ".join(f"{int(k):,} sensors {v:.2f} s" for k, v in res["subsets"].items())
                notes.append(f"timed: {subs}; {1e3 * res['per_group']:.1f} ms a sensor")
            if res.get("startup") is not None:
                notes.append(f"start-up {res['startup']:.1f} s (not in wall)")
            if res.get("read") is not None:
                notes.append(f"reading {res['read']:.2f} s")
            if res.get("partitions"):
                notes.append(f"{res['partitions']} partitions")
            if res.get("status"):
                notes.append(", ".join(f"{v:,} {k}" for k, v in res["status"].items()))
            if res.get("exit") is not None:
                notes.append(f"exit code {res['exit']}")
            rate = rows / res["wall"]
            lines.append(
                f"| {name} | {_fmt_s(res['wall'])} | {rate:,.0f} | "
                f"{res['peak_driver']:,.0f} | {_workers(res)} | {res['peak_total']:,.0f} | "
                f"{_fmt_s(res.get('compile'))} | {'; '.join(notes)} |"
            )
        lines += _ratios(results[rows])
        lines.append("")
    return "\n".join(lines) + "\n"


def _ratios(res) -> list[str]:
    ok = {m: r for m, r in res.items() if "error" not in r}
    out = []
    for fast, slow in (("dask", "memory"), ("dask-warm", "memory-warm")):
        if fast in ok and slow in ok:
            ratio = ok[fast]["wall"] / ok[slow]["wall"]
            out.append(f"- {METHODS[fast]} / {METHODS[slow]}: {ratio:.2f}x the wall time")
    for slow in ("lifelines", "spark-scipy"):
        for fast in ("memory", "memory-warm", "dask", "dask-warm", "spark", "spark-warm",
                     "spark-floor", "cli-dask"):  # fmt: skip
            if slow in ok and fast in ok:
                ratio = ok[slow]["wall"] / ok[fast]["wall"]
                mark = " (extrapolated)" if ok[slow].get("extrapolated") else ""
                out.append(f"- {METHODS[slow]}{mark} / {METHODS[fast]}: "
                           f"{ratio:,.3g}x the wall time")  # fmt: skip
    return [""] + out if out else []


def _mem_total() -> str:
    try:
        import psutil

        return f"{psutil.virtual_memory().total / 2**30:.0f}"
    except ImportError:
        return "?"


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.subplots()
    for method in METHODS:
        pts = sorted((rows, r[method]["wall"]) for rows, r in results.items()
                     if method in r and "error" not in r[method])  # fmt: skip
        if not pts:
            continue
        style = "--" if method in ("lifelines", "spark-scipy") else "-"
        label = METHODS[method] + (" (extrapolated)" if style == "--" else "")
        ax.plot(*zip(*pts), style, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows (100 readings per sensor)")
    ax.set_ylabel("wall time including reading (s)")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="1e5,1e6,1e7")
    p.add_argument("--big", default=None, help="rows of the --engine dask run (e.g. 1e8)")
    p.add_argument("--methods", default=",".join(m for m in METHODS if m != "cli-dask"))
    p.add_argument("--subsets", default="100,400", help="sensors of lifelines' two timings")
    p.add_argument("--spark-subsets", default="200,1000", help="the same for Spark + scipy")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS-fleet.md"))
    p.add_argument("--plot", default=None, help="save the time-vs-rows figure here")
    p.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "jaxmle-fleet"))
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--child", default=None)
    p.add_argument("--folder", default=None)
    args = p.parse_args()
    args.subsets = [int(float(s)) for s in args.subsets.split(",")]
    args.spark_subsets = [int(float(s)) for s in args.spark_subsets.split(",")]
    if args.child:
        run_child(args)
        return
    args.argv = sys.argv[1:]
    args.load = os.getloadavg()
    t_all = time.perf_counter()
    sizes = [int(float(s)) for s in args.rows.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    plan = [(n, m) for n in sizes for m in methods]
    if args.big:  # after the first size's methods (the sizes run in the order given)
        plan.insert(len(methods), (int(float(args.big)), "cli-dask"))
    results: dict[int, dict] = {}
    infos = {}
    for rows, method in plan:
        if rows not in infos:
            t0 = time.perf_counter()
            infos[rows] = write_fleet(os.path.join(args.data, f"rows-{rows}"), rows)
            print(f"data {rows:,} rows: {time.perf_counter() - t0:.1f} s", flush=True)
        folder = os.path.join(args.data, f"rows-{rows}")
        subsets = args.spark_subsets if method == "spark-scipy" else args.subsets
        res = run_method(method, rows, folder, subsets, args.timeout)
        results.setdefault(rows, {})[method] = res
        short = {k: v for k, v in res.items() if k != "error"}
        print(f"{rows:,} {method}: {res.get('error', '')[-300:]} {json.dumps(short)[:400]}",
              flush=True)  # fmt: skip
        text = report(results, infos, args, time.perf_counter() - t_all)
        with open(args.out, "w") as f:  # written after each method: a partial run keeps its rows
            f.write(text)
        if args.plot:
            plot(results, args.plot)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
