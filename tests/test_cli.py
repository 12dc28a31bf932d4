"""`jaxmle fit`: CSV in, one row per group out, equal to the library's fits; every user
mistake is one line on stderr with exit code 2; the compilation cache works across runs."""

import builtins
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import read_csv as _read_csv
from helpers import write_csv as _write

import jaxmle as jm
from jaxmle.cli import EXIT_NOT_CONVERGED, EXIT_OK, EXIT_USAGE, main


@pytest.fixture(autouse=True)
def _no_persistent_cache(monkeypatch):
    # in-process runs must not write to the user's cache folder
    monkeypatch.setenv("JAXMLE_CACHE_DIR", "off")


# three sensors of different sizes, Weibull lifetimes right-censored at 1,500 hours,
# rows interleaved as a logger would write them
SIZES = {"S10": 30, "S2": 25, "S7": 40}


def _sensor_rows(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for k, (name, n) in enumerate(SIZES.items()):
        life = (800.0 + 300 * k) * rng.weibull(1.3 + 0.4 * k, size=n)
        for t in life:
            rows.append((name, round(float(min(t, 1500.0)), 3), int(t <= 1500.0), "north"))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


@pytest.fixture(scope="module")
def sensors_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "sensors.csv"
    return _write(path, ["sensor_id", "hours", "failed", "site"], _sensor_rows())


def _fit_args(path, *extra):
    return ["fit", path, "--family", "weibull", "--value", "hours", "--event", "failed", *extra]


def test_fit_csv_equals_fit_batch(sensors_csv, tmp_path, capsys):
    out = str(tmp_path / "res.csv")
    assert main(_fit_args(sensors_csv, "--by", "sensor_id", "--out", out)) == EXIT_OK
    printed = capsys.readouterr().out
    assert "3 groups by sensor_id (25 to 40 rows each)" in printed
    assert "status: 3 converged" in printed

    rows = _read_csv(out)
    # one row per group, in sorted order (these names are not integers: string order)
    assert [r["sensor_id"] for r in rows] == ["S10", "S2", "S7"]
    names = ["shape", "scale"]
    cols = [f"{n}{s}" for n in names for s in ("", "_se", "_lo", "_hi")]
    assert list(rows[0]) == ["sensor_id", *cols, "loglik", "nobs", "status"]

    # the library on the same data, padded with NaN (its documented ragged layout)
    data = np.array(_sensor_rows(), dtype=object)
    L = max(SIZES.values())
    X, E = np.full((3, L), np.nan), np.full((3, L), np.nan)
    for g, name in enumerate(["S10", "S2", "S7"]):
        sel = data[:, 0] == name
        X[g, : sel.sum()] = data[sel, 1].astype(float)
        E[g, : sel.sum()] = data[sel, 2].astype(float)
    fits = jm.fit_dist("weibull", X, event=E, nan_policy="omit")
    ref = fits.to_dict(0.95, method="wald_transformed")
    for c in [*cols, "loglik", "nobs"]:
        got = np.array([float(r[c]) for r in rows])
        np.testing.assert_allclose(got, ref[c], rtol=1e-12, err_msg=c)
    # both parameters are positive: the interval is est * exp(-/+ z se / est) (the Wald
    # interval of log(est), whose standard error is se / est), inside (0, inf)
    for n in names:
        est, se = (np.array([float(r[c]) for r in rows]) for c in (n, f"{n}_se"))
        for c, sign in ((f"{n}_lo", -1), (f"{n}_hi", 1)):
            want = est * np.exp(sign * 1.959963984540054 * se / est)
            np.testing.assert_allclose([float(r[c]) for r in rows], want, rtol=1e-12)
    assert [r["status"] for r in rows] == list(ref["status"])
    assert [float(r["nobs"]) for r in rows] == [30.0, 25.0, 40.0]

    # padding does not change a fit: group S2 alone, unpadded
    sel = data[:, 0] == "S2"
    one = jm.fit_dist("weibull", data[sel, 1].astype(float), event=data[sel, 2].astype(float))
    np.testing.assert_allclose(float(rows[1]["shape"]), float(one.params["shape"]), rtol=1e-9)
    np.testing.assert_allclose(float(rows[1]["scale_se"]), float(one.se["scale"]), rtol=1e-7)


def test_fit_jsonl_level_plot_and_progress(sensors_csv, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    fit_module = sys.modules["jaxmle.tables"]  # the command fits through fit_groups' batches
    calls = []
    real = fit_module.fit_batch

    def spy(*a, **k):
        calls.append(k["progress"])
        return real(*a, **k)

    monkeypatch.setattr(fit_module, "fit_batch", spy)
    out, png = str(tmp_path / "res.jsonl"), str(tmp_path / "cat.png")
    args = _fit_args(sensors_csv, "--by", "sensor_id", "--out", out, "--plot", png)
    assert main([*args, "--level", "0.9", "--progress"]) == EXIT_OK
    assert f"figure saved to {png}" in capsys.readouterr().out
    with open(out) as f:
        rows = [json.loads(line) for line in f]
    assert [r["sensor_id"] for r in rows] == ["S10", "S2", "S7"]
    r = rows[2]
    # a 90% Wald interval on the log scale: estimate * exp(-/+ 1.6449 se / estimate)
    z = 1.6448536269514722
    assert np.isclose(r["shape_hi"], r["shape"] * np.exp(z * r["shape_se"] / r["shape"]), rtol=1e-9)
    assert np.isclose(
        r["shape_lo"], r["shape"] * np.exp(-z * r["shape_se"] / r["shape"]), rtol=1e-9
    )
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # stderr is not a terminal here: no bar by default
    assert main(_fit_args(sensors_csv, "--by", "sensor_id", "--quiet")) == EXIT_OK
    assert capsys.readouterr().out == ""
    # one batch (padding the 25 to 40 rows to 40 costs less than twice the rows), and its
    # progress reported to the one display of the command
    assert [callable(c) for c in calls] == [True, False]


# exponential lifetimes: the MLE of the rate is events / total time, a closed form
EXPO_ROWS = [  # unit, hours, failed
    (10, 2.0, 1), (9, 4.0, 1), (10, 5.0, 0), (9, 1.0, 1), (10, 3.0, 1), (9, "NA", 1),
    (9, 6.0, 0), (10, 1.5, 1), (9, 2.5, 1),
]  # fmt: skip


def test_omit_missing_and_closed_form(tmp_path, capsys):
    path = _write(tmp_path / "expo.csv", ["unit", "hours", "failed"], EXPO_ROWS)
    out = str(tmp_path / "r.csv")
    args = ["fit", path, "--family", "exponential", "--value", "hours", "--event", "failed",
            "--by", "unit", "--out", out]  # fmt: skip
    assert main(args) == EXIT_USAGE  # the NA: stop, and say where
    err = capsys.readouterr().err
    assert err == (
        f"jaxmle: error: {path}: column 'hours' has a missing value on line 7; pass "
        "--omit-missing to leave such rows out\n"
    )
    assert main([*args, "--omit-missing"]) == EXIT_OK
    assert "8 rows (1 with missing values left out)" in capsys.readouterr().out
    rows = _read_csv(out)
    assert [r["unit"] for r in rows] == ["9", "10"]  # integer names: numeric order
    # unit 9: 3 events in 4 + 1 + 6 + 2.5 hours; unit 10: 3 events in 2 + 5 + 3 + 1.5 hours
    for r, events, total in zip(rows, [3, 3], [13.5, 11.5]):
        assert np.isclose(float(r["rate"]), events / total, rtol=1e-12)
        assert np.isclose(float(r["rate_se"]), np.sqrt(events) / total, rtol=1e-8)
        assert float(r["nobs"]) == 4.0


def test_interval_censoring_inf_bound(tmp_path, capsys, monkeypatch):
    import jax

    # exact times (lower == upper) and right-censored ones (upper = inf): again
    # events / total time
    rows = [(2.0, 2.0), (4.0, 4.0), (5.0, "inf"), (1.0, 1.0), (3.0, "Infinity")]
    path = _write(tmp_path / "iv.csv", ["lo", "hi"], rows)
    out = str(tmp_path / "r.jsonl")
    args = ["fit", path, "--family", "exponential", "--lower", "lo", "--upper", "hi", "--out", out]
    monkeypatch.setenv("JAXMLE_CACHE_DIR", str(tmp_path / "cache"))
    before = jax.config.values["jax_compilation_cache_dir"]
    assert main(args) == EXIT_OK
    # the command's settings do not outlive it (the cache folder was used, then let go);
    # a cache the process already uses (the test suite's own) is left as it is
    if before is None:
        assert os.listdir(tmp_path / "cache")
    else:
        assert not os.path.exists(tmp_path / "cache")
    assert jax.config.values["jax_compilation_cache_dir"] == before and jax.config.jax_enable_x64
    printed = capsys.readouterr().out
    assert "jaxmle fit: Exponential" in printed and "health:" in printed  # the full summary
    with open(out) as f:
        (row,) = [json.loads(line) for line in f]
    assert list(row) == ["rate", "rate_se", "rate_lo", "rate_hi", "loglik", "nobs", "status"]
    assert np.isclose(row["rate"], 3 / 15, rtol=1e-12)
    assert row["status"] == "CONVERGED"


def test_no_group_converged_exit_1_single_group_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    # every lifetime censored: the rate's MLE is 0, on the edge of its constraint
    path = _write(tmp_path / "alive.csv", ["hours", "failed"], [(1.0, 0), (2.0, 0), (4.0, 0)])
    png = str(tmp_path / "surv.png")
    args = ["fit", path, "--family", "exponential", "--value", "hours", "--event", "failed"]
    assert main([*args, "--plot", png]) == EXIT_NOT_CONVERGED
    cap = capsys.readouterr()
    assert "status: BOUNDARY" in cap.out
    assert cap.err == "jaxmle: no group converged (1 boundary); see docs/statuses.md\n"
    assert os.path.getsize(png) > 1000


# -- user mistakes: one line on stderr, exit code 2 ------------------------------------------
@pytest.fixture
def bad_inputs(tmp_path):
    files = {
        "ok": _write(tmp_path / "ok.csv", ["g", "x", "e", "lo", "hi"],
                     [("a", 1.0, 1, 1.0, 2.0), ("a", 2.0, 0, 2.0, 2.0), ("b", 3.0, 1, 0.5, 9.0)]),
        "text": _write(tmp_path / "text.csv", ["g", "x"], [("a", 1.0), ("a", "12,5"), ("b", "x")]),
        "header_only": _write(tmp_path / "header.csv", ["g", "x"], []),
        "allna": _write(tmp_path / "allna.csv", ["g", "x"], [("a", 1.0), ("b", "NA"), ("b", "")]),
        "event2": _write(tmp_path / "ev.csv", ["x", "e"], [(1.0, 1), (2.0, 2)]),
        "reversed": _write(tmp_path / "rev.csv", ["lo", "hi"], [(1.0, 2.0), (3.0, 2.5)]),
        "ragged": _write(tmp_path / "rag.csv", ["g", "x"], [("a", 1.0), ("b", 2.0, 7)]),
        "nogroup": _write(tmp_path / "nog.csv", ["g", "x"], [("a", 1.0), ("", 2.0)]),
        "nothing": _write(tmp_path / "nothing.csv", ["g", "x"], [("a", "NA")]),
        "clash": _write(tmp_path / "clash.csv", ["status", "x"], [("a", 1.0), ("b", 2.0)]),
    }  # fmt: skip
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    files["empty"] = str(empty)
    files["missing"] = str(tmp_path / "nope.csv")
    files["parquet"] = str(tmp_path / "d.parquet")
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    return files


ERROR_CASES = [
    ("missing", ["--value", "x"], "{missing}: no such file"),
    ("ok", ["--value", "hours"], "{ok}: no column 'hours'; the columns are: g, x, e, lo, hi"),
    ("ok", ["--value", "x", "--by", "unit"], "no column 'unit'; the columns are: g, x, e"),
    ("text", ["--value", "x"], "{text}: column 'x' has a non-numeric value '12,5' on line 3"),
    ("ok", ["--value", "x", "--family", "weibul"], "unknown family 'weibul'; the known families are: bernoulli,"),
    ("empty", ["--value", "x"], "{empty}: the file is empty (no header line)"),
    ("header_only", ["--value", "x"], "{header_only}: the file has a header but no data rows"),
    ("allna", ["--value", "x", "--by", "g", "--omit-missing"], "group g = b has no usable rows"),
    ("nothing", ["--value", "x", "--omit-missing"], "every row has a missing value; nothing to fit"),
    ("ok", ["--value", "x", "--event", "e", "--lower", "lo", "--upper", "hi"],
     "--event (right censoring) and --lower/--upper (interval censoring) exclude each other"),
    ("ok", ["--lower", "lo"], "interval censoring needs both --lower and --upper"),
    ("ok", [], "give --value COLUMN"),
    ("ok", ["--value", "x", "--level", "95"], "--level must be between 0 and 1, e.g. 0.95; got 95 (did you mean 0.95?)"),
    ("ok", ["--value", "x", "--level", "high"], "--level must be a number between 0 and 1, got 'high'"),
    ("ok", ["--value", "x", "--level", "0"], "--level must be between 0 and 1"),
    ("event2", ["--value", "x", "--event", "e"], "weibull: event must be 0 (censored) or 1 (observed) in column 'e': 2 on line 3"),
    ("reversed", ["--lower", "lo", "--upper", "hi"], "in columns 'lo' and 'hi': [3, 2.5] on line 3"),
    ("ragged", ["--value", "x"], "{ragged}: line 3 has 3 cells; the header has 2"),
    ("nogroup", ["--value", "x", "--by", "g"], "column 'g' (the groups) is empty on line 3"),
    ("ok", ["--value", "x", "--event", "e", "--family", "poisson"], "poisson is discrete: censoring (--event)"),
    ("ok", ["--value", "x", "--family", "binomial"], "needs its number of trials: --option trials=N"),
    ("ok", ["--value", "x", "--family", "poisson", "--option", "k=3"], "poisson: unknown option(s) ['k']"),
    ("ok", ["--value", "x", "--option", "trials"], "--option takes NAME=VALUE"),
    ("ok", ["--value", "x", "--plot", "fig.xyz"], "--plot fig.xyz: unknown image format 'xyz'"),
    ("ok", ["--value", "x", "--max-iter", "0"], "--max-iter must be a positive integer"),
    ("ok", ["--value", "x", "--out", "{ok}"], "--out {ok} is the input file"),
    ("clash", ["--value", "x", "--by", "status"], "--by status: the results have a column of that name"),
    ("ok", ["--value", "x", "--out", "/no/such/dir/r.csv"], "--out /no/such/dir/r.csv: no such folder /no/such/dir"),
]  # fmt: skip


@pytest.mark.parametrize("key, extra, message", ERROR_CASES)
def test_user_mistake_one_line_exit_2(bad_inputs, capsys, key, extra, message):
    if "--plot" in extra:
        pytest.importorskip("matplotlib")
    family = [] if "--family" in extra else ["--family", "weibull"]
    extra = [a.format(**bad_inputs) for a in extra]
    code = main(["fit", bad_inputs[key], *family, *extra])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert err.startswith("jaxmle: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, err
    assert message.format(**bad_inputs) in err, err


def test_parquet_without_pyarrow_names_the_extra(bad_inputs, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    code = main(["fit", bad_inputs["parquet"], "--family", "weibull", "--value", "x"])
    assert code == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"jaxmle: error: {bad_inputs['parquet']}: reading Parquet needs pyarrow: "
        'pip install "jaxmle[parquet]"\n'
    )


def test_parquet_read(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from jaxmle._io import numeric_column, read_table

    path = str(tmp_path / "d.parquet")
    pq.write_table(pa.table({"g": ["a", "b"], "x": [1.5, None]}), path)
    t = read_table(path, ["g", "x"])
    x, miss = numeric_column(t, "x", missing="omit")
    assert t.columns == ["g", "x"] and x[0] == 1.5 and miss.tolist() == [False, True]


def test_progress_without_tqdm_names_the_extra(bad_inputs, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    code = main(["fit", bad_inputs["ok"], "--family", "weibull", "--value", "x", "--progress"])
    assert code == EXIT_USAGE
    assert 'pip install "jaxmle[progress]"' in capsys.readouterr().err


def test_argparse_errors_are_one_line(capsys):
    assert main(["fit", "data.csv", "--value", "x"]) == EXIT_USAGE  # no --family
    err = capsys.readouterr().err
    assert err == "jaxmle: error: the following arguments are required: --family\n"
    assert main(["fit", "data.csv", "--family", "weibull", "--max-iter", "ten"]) == EXIT_USAGE
    assert "invalid int value: 'ten'" in capsys.readouterr().err


def test_cache_dir_setting(monkeypatch, tmp_path):
    from jaxmle.cli import cache_dir

    monkeypatch.setenv("JAXMLE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == str(tmp_path / "c")
    for off in ("off", "0", "", "none"):
        monkeypatch.setenv("JAXMLE_CACHE_DIR", off)
        assert cache_dir() is None
    monkeypatch.delenv("JAXMLE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == str(tmp_path / "xdg" / "jaxmle")


def test_console_script_second_run_hits_the_cache(tmp_path):
    """The installed `jaxmle` script, twice: the second run loads the compiled kernel from the
    persistent cache (jax logs the hit) instead of compiling it."""
    exe = shutil.which("jaxmle", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "jaxmle"]
    path = _write(tmp_path / "d.csv", ["hours", "failed"], [(2.0, 1), (4.0, 1), (5.0, 0)])
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "JAXMLE_CACHE_DIR": str(cache),
        "JAX_DEBUG_LOG_MODULES": "jax._src.compiler",  # logs each cache miss and hit
        "JAX_LOGGING_LEVEL": "WARNING",  # (the debug handler stays silent without a level)
    }
    args = ["fit", path, "--family", "exponential", "--value", "hours", "--event", "failed",
            "--out", str(tmp_path / "r.csv"), "--float32"]  # fmt: skip
    runs = [
        subprocess.run(cmd + args, capture_output=True, text=True, timeout=300, env=env)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
        assert "float32" in run.stdout and "Traceback" not in run.stderr
    assert any(name.startswith("jit__kernel_chunk") for name in os.listdir(cache))
    assert "PERSISTENT COMPILATION CACHE MISS for 'jit__kernel_chunk'" in runs[0].stderr
    assert "Persistent compilation cache hit for 'jit__kernel_chunk'" in runs[1].stderr
    # float32: the exponential MLE 2/11 to float32 precision
    (row,) = _read_csv(tmp_path / "r.csv")
    assert np.isclose(float(row["rate"]), 2 / 11, rtol=1e-6)


# -- more paths: each with its exact behaviour ------------------------------------------------
def _expo_reference(x, level=0.95):
    """The exponential MLE in closed form: rate = n / sum(x), se = rate / sqrt(n), the Wald
    interval of log(rate) (se / rate = 1 / sqrt(n)) mapped back, rate * exp(-/+ z / sqrt(n)),
    log-likelihood n log(rate) - n."""
    from scipy import stats

    x = np.asarray(x, float)
    n = x.size
    rate = n / x.sum()
    se = rate / np.sqrt(n)
    z = stats.norm.ppf(0.5 + level / 2)
    return {"rate": rate, "rate_se": se, "rate_lo": rate * np.exp(-z / np.sqrt(n)),
            "rate_hi": rate * np.exp(z / np.sqrt(n)), "loglik": n * np.log(rate) - n,
            "nobs": float(n)}  # fmt: skip


GROUPED = {"a": [1.5, 2.5], "b": [4.0, 1.0, 0.5]}


def _check_expo_rows(rows):
    assert [r["g"] for r in rows] == ["a", "b"]
    for r in rows:
        ref = _expo_reference(GROUPED[r["g"]])
        for k, v in ref.items():
            assert np.isclose(float(r[k]), v, rtol=1e-12, atol=0), (r["g"], k, r[k], v)
        assert r["status"] == "CONVERGED"


def _grouped_lines(sep):
    return [f"g{sep}x"] + [f"{g}{sep}{v}" for g, xs in GROUPED.items() for v in xs]


@pytest.mark.parametrize("name", ["d.tsv", "d.csv.gz", "d.tsv.gz"])
def test_tsv_and_gzip_input(tmp_path, capsys, name):
    import gzip

    text = "\n".join(_grouped_lines("\t" if ".tsv" in name else ",")) + "\n"
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    out = str(tmp_path / "r.csv")
    args = ["fit", str(path), "--family", "exponential", "--value", "x", "--by", "g"]
    assert main([*args, "--out", out]) == EXIT_OK
    assert "5 rows, 2 groups by g (2 to 3 rows each)" in capsys.readouterr().out
    _check_expo_rows(_read_csv(out))


def test_parquet_input(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = str(tmp_path / "d.parquet")
    g = [k for k, xs in GROUPED.items() for _ in xs]
    x = [v for xs in GROUPED.values() for v in xs]
    pq.write_table(pa.table({"g": g, "x": x}), path)
    out = str(tmp_path / "r.csv")
    args = ["fit", path, "--family", "exponential", "--value", "x", "--by", "g", "--out", out]
    assert main(args) == EXIT_OK
    _check_expo_rows(_read_csv(out))
    # typed Parquet values: an infinite one is refused as in a CSV, by row number
    pq.write_table(pa.table({"x": [1.0, float("inf")]}), path)
    assert main(["fit", path, "--family", "exponential", "--value", "x"]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"jaxmle: error: {path}: column 'x' has an infinite value on row 2\n"
    )


@pytest.mark.parametrize("cov_type", ["observed", "robust", "opg"])
def test_cov_type(tmp_path, cov_type):
    """The exponential's standard errors in closed form (score 1/rate - x_i, Hessian
    -n/rate^2 at the MLE rate = 1/mean): observed rate/sqrt(n), sandwich
    rate^2 sqrt(var(x)/n), outer product of the scores 1/sqrt(n var(x)); var with
    divisor n."""
    x = np.array([1.5, 2.5, 4.0, 1.0, 0.5])
    path = _write(tmp_path / "d.csv", ["x"], [(v,) for v in x])
    out = str(tmp_path / "r.csv")
    args = ["fit", path, "--family", "exponential", "--value", "x", "--out", out]
    assert main([*args, "--cov-type", cov_type, "--quiet"]) == EXIT_OK
    (row,) = _read_csv(out)
    n, rate, var = x.size, 1 / x.mean(), x.var()
    se = {
        "observed": rate / np.sqrt(n),
        "robust": rate**2 * np.sqrt(var / n),
        "opg": 1 / np.sqrt(n * var),
    }[cov_type]
    assert np.isclose(float(row["rate"]), rate, rtol=1e-12)
    assert np.isclose(float(row["rate_se"]), se, rtol=1e-10)
    # the interval on the log scale: rate * exp(z se / rate)
    assert np.isclose(
        float(row["rate_hi"]), rate * np.exp(1.959963984540054 * se / rate), rtol=1e-10
    )


def test_no_cache(tmp_path, monkeypatch, capsys):
    """--no-cache leaves the cache folder alone; the same run without it fills the folder."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    cache = tmp_path / "cache"
    monkeypatch.setenv("JAXMLE_CACHE_DIR", str(cache))
    path = _write(tmp_path / "d.csv", ["x"], [(1.5,), (2.5,), (4.0,)])
    out = str(tmp_path / "r.csv")
    args = ["fit", path, "--family", "exponential", "--value", "x", "--out", out, "--quiet"]
    before = jax.config.values["jax_compilation_cache_dir"]
    # the command leaves a cache the process already uses (the test suite's) as it is:
    # turn that off for this test
    jax.config.update("jax_compilation_cache_dir", None)
    compilation_cache.reset_cache()
    try:
        jax.clear_caches()  # compile again, not from the in-memory cache
        assert main([*args, "--no-cache"]) == EXIT_OK
        assert not cache.exists()
        (row,) = _read_csv(out)
        assert np.isclose(float(row["rate"]), 3 / 8, rtol=1e-12)
        jax.clear_caches()
        assert main(args) == EXIT_OK
        assert os.listdir(cache)
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
        compilation_cache.reset_cache()
    assert capsys.readouterr().out == ""


def test_plot_without_matplotlib_names_the_extra(bad_inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    png, out = tmp_path / "f.png", tmp_path / "r.csv"
    args = ["fit", bad_inputs["ok"], "--family", "weibull", "--value", "x"]
    assert main([*args, "--plot", str(png), "--out", str(out)]) == EXIT_USAGE
    cap = capsys.readouterr()
    assert cap.err == 'jaxmle: error: --plot needs matplotlib: pip install "jaxmle[plot]"\n'
    assert cap.out == "" and not png.exists() and not out.exists()  # stopped before fitting


@pytest.fixture
def more_bad_inputs(tmp_path):
    import gzip

    files = {
        "inf": _write(tmp_path / "inf.csv", ["x", "e"], [(1.0, 1), ("inf", 1), (2.0, 0)]),
        "ninf": _write(tmp_path / "ninf.csv", ["x", "e"], [(1.0, 1), (2.0, 1), ("-Infinity", 1)]),
        "inf_event": _write(tmp_path / "infe.csv", ["x", "e"], [(1.0, 1), (2.0, "inf")]),
    }  # fmt: skip
    (tmp_path / "adir").mkdir()
    files["dir"] = str(tmp_path / "adir")
    (tmp_path / "latin1.csv").write_bytes(b"x\n1\n\xff2\n")  # not UTF-8
    files["latin1"] = str(tmp_path / "latin1.csv")
    (tmp_path / "plain.csv.gz").write_bytes(b"x\n1\n2\n")  # .gz, but not gzip
    files["notgz"] = str(tmp_path / "plain.csv.gz")
    with gzip.open(tmp_path / "cut.csv.gz", "wb") as f:
        f.write(b"x\n" + b"1.5\n" * 1000)
    data = (tmp_path / "cut.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])  # truncated
    files["cut"] = str(tmp_path / "cut.csv.gz")
    return files


EXACT_ERROR_CASES = [
    # the multinomial needs several count columns per row
    ("ok", ["--family", "multinomial", "--value", "x"],
     "the multinomial needs k count columns per row; the command line fits one value column "
     "(use jm.fit_dist in Python, or the categorical family for one code per row)"),
    ("ok", ["--family", "multinomial", "--option", "k=3", "--value", "x"],
     "the multinomial needs k count columns per row; the command line fits one value column "
     "(use jm.fit_dist in Python, or the categorical family for one code per row)"),
    ("ok", ["--value", "x", "--lower", "lo", "--upper", "hi"],
     "give either --value (with optional --event) or --lower and --upper"),
    ("ok", ["--family", "binomial", "--value", "x", "--option", "trials=ten"],
     "--option trials: 'ten' is not a number"),
    ("ok", ["--family", "binomial", "--value", "x", "--option", "trials=inf"],
     "--option trials: 'inf' is not a finite number"),
    ("ok", ["--family", "binomial", "--value", "x", "--option", "trials=nan"],
     "--option trials: 'nan' is not a finite number"),
    ("ok", ["--family", "binomial", "--value", "x", "--option", "trials=-5"],
     "--option trials must be a positive integer, got -5"),
    ("ok", ["--family", "binomial", "--value", "x", "--option", "trials=2.5"],
     "--option trials must be a positive integer, got 2.5"),
    ("ok", ["--family", "categorical", "--value", "x", "--option", "k=0"],
     "--option k must be a positive integer, got 0"),
    ("ok", ["--family", "pareto", "--value", "x", "--option", "scale=-1"],
     "--option scale must be positive, got -1"),
    ("dir", ["--value", "x"], "{dir}: no .parquet, .pq, .csv or .tsv files in it"),
    ("latin1", ["--value", "x"],
     "{latin1}: cannot read it as CSV: 'utf-8' codec can't decode byte 0xff in position 4: "
     "invalid start byte"),
    ("notgz", ["--value", "x"], "{notgz}: cannot read it as CSV: Not a gzipped file (b'x\\n')"),
    ("cut", ["--value", "x"],
     "{cut}: cannot read it as CSV: Compressed file ended before the end-of-stream marker was "
     "reached"),
    ("inf", ["--value", "x"], "{inf}: column 'x' has an infinite value on line 3"),
    ("ninf", ["--family", "normal", "--value", "x"], "{ninf}: column 'x' has an infinite value on line 4"),
    # an infinite value is not a missing one
    ("inf", ["--value", "x", "--omit-missing"], "{inf}: column 'x' has an infinite value on line 3"),
    ("inf_event", ["--value", "x", "--event", "e"], "{inf_event}: column 'e' has an infinite value on line 3"),
]  # fmt: skip


@pytest.mark.parametrize("key, extra, message", EXACT_ERROR_CASES)
def test_user_mistake_exact_message(bad_inputs, more_bad_inputs, capsys, key, extra, message):
    files = {**bad_inputs, **more_bad_inputs}
    family = [] if "--family" in extra else ["--family", "exponential"]
    code = main(["fit", files[key], *family, *extra])
    cap = capsys.readouterr()
    assert code == EXIT_USAGE, cap.err
    assert cap.err == f"jaxmle: error: {message.format(**files)}\n"
    assert cap.out == ""


def test_option_the_family_refuses(bad_inputs, capsys):
    # one category: the family's own check, reported as a usage error
    args = ["fit", bad_inputs["ok"], "--family", "categorical", "--value", "x"]
    assert main([*args, "--option", "k=1"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("jaxmle: error: categorical: ") and "k >= 2" in err
    assert err.count("\n") == 1


def test_options_fit_closed_forms(tmp_path):
    """--option values reach the family: the binomial's p = successes / (n trials) with
    se sqrt(p (1 - p) / (n trials)); the Pareto's shape = n / sum log(x / scale) with se
    shape / sqrt(n)."""
    x = np.array([1.0, 3.0, 2.0, 4.0, 2.0, 0.0])
    path = _write(tmp_path / "d.csv", ["x"], [(v,) for v in x])
    out = str(tmp_path / "r.csv")
    base = ["fit", path, "--value", "x", "--out", out, "--quiet"]
    assert main([*base, "--family", "binomial", "--option", "trials=4"]) == EXIT_OK
    (row,) = _read_csv(out)
    n, p = x.size, x.sum() / (4 * x.size)
    assert np.isclose(float(row["p"]), p, rtol=1e-12)
    assert np.isclose(float(row["p_se"]), np.sqrt(p * (1 - p) / (4 * n)), rtol=1e-10)

    y = x + 1.0  # above the scale 0.5
    path = _write(tmp_path / "d.csv", ["x"], [(v,) for v in y])
    assert main([*base, "--family", "pareto", "--option", "scale=0.5"]) == EXIT_OK
    (row,) = _read_csv(out)
    alpha = n / np.log(y / 0.5).sum()
    assert np.isclose(float(row["shape"]), alpha, rtol=1e-12)
    assert np.isclose(float(row["shape_se"]), alpha / np.sqrt(n), rtol=1e-10)


def test_unreadable_file(bad_inputs, capsys, monkeypatch):
    # (file permissions do not stop root, so the refusal is simulated where the file is opened)
    path = bad_inputs["ok"]
    real_open = builtins.open

    def denied(file, *args, **kwargs):
        if str(file) == path:
            raise PermissionError(13, "Permission denied", path)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    assert main(["fit", path, "--family", "weibull", "--value", "x"]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"jaxmle: error: {path}: cannot read it as CSV: [Errno 13] Permission denied: '{path}'\n"
    )


def test_cov_type_choices(bad_inputs, capsys):
    args = ["fit", bad_inputs["ok"], "--family", "weibull", "--value", "x"]
    assert main([*args, "--cov-type", "cluster"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("jaxmle: error: argument --cov-type: invalid choice: 'cluster'")
    assert err.count("\n") == 1


def test_version(capsys):
    import re

    assert main(["--version"]) == EXIT_OK
    cap = capsys.readouterr()
    assert cap.out == f"jaxmle {jm.__version__}\n" and cap.err == ""
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", jm.__version__)


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == EXIT_USAGE
    cap = capsys.readouterr()
    assert cap.err == "jaxmle: error: give a command, fit or demo (jaxmle --help)\n"
    assert cap.out == ""


def test_demo_sensors_must_be_positive(capsys):
    assert main(["demo", "--sensors", "0"]) == EXIT_USAGE
    assert capsys.readouterr().err == "jaxmle: error: --sensors must be a positive integer, got 0\n"


# -- data outside the family's support: one line naming the rows, exit 2, nothing fitted -------
@pytest.fixture
def support_inputs(tmp_path):
    files = {
        # lines 3, 5, 6 and 7 are below the Weibull's support (0, inf): -5, 0, -1, -0.25
        "negative": _write(tmp_path / "neg.csv", ["g", "hours", "failed"],
                           [("a", 1.0, 1), ("a", -5, 1), ("b", 2.0, 0), ("b", 0, 1),
                            ("a", -1.0, 0), ("b", -0.25, 1)]),
        # an exact 0 is outside the gamma's support; a censored 0 (event 0) would not be
        "zero": _write(tmp_path / "zero.csv", ["x"], [(1.5,), (0,), (2.0,)]),
        # the missing value on line 3 is left out with --omit-missing: the lines stay the file's
        "bern": _write(tmp_path / "bern.csv", ["x"], [(1,), ("NA",), (0,), (1.5,)]),
        "poisson": _write(tmp_path / "pois.csv", ["x"], [(2,), (3,), (-1,), (2.5,)]),
        "event": _write(tmp_path / "ev.csv", ["x", "e"], [(1.0, 1), (2.0, 0), (3.0, -1), (4.0, 0.5)]),
        "interval": _write(tmp_path / "iv.csv", ["lo", "hi"],
                           [(1.0, 2.0), (0.5, "inf"), (4.0, 3.0), (-2.0, -2.0)]),
        "noend": _write(tmp_path / "noend.csv", ["lo", "hi"], [(1.0, 2.0), ("inf", "inf")]),
        "beta": _write(tmp_path / "beta.csv", ["x"], [(0.2,), (0.5,), (1.0,)]),
    }  # fmt: skip
    return files


SUPPORT_CASES = [
    ("negative", ["--family", "weibull", "--value", "hours", "--event", "failed", "--by", "g"],
     "{negative}: weibull: data outside the support (0, inf) in column 'hours': -5 on line 3, "
     "0 on line 5, -1 on line 6 (4 rows in all)"),
    ("zero", ["--family", "gamma", "--value", "x"],
     "{zero}: gamma: data outside the support (0, inf) in column 'x': 0 on line 3"),
    ("bern", ["--family", "bernoulli", "--value", "x", "--omit-missing"],
     "{bern}: bernoulli: data outside the support (whole numbers from 0 to 1) in column 'x': "
     "1.5 on line 5"),
    ("poisson", ["--family", "poisson", "--value", "x"],
     "{poisson}: poisson: data outside the support (whole numbers from 0) in column 'x': "
     "-1 on line 4, 2.5 on line 5"),
    ("event", ["--family", "exponential", "--value", "x", "--event", "e"],
     "{event}: exponential: event must be 0 (censored) or 1 (observed) in column 'e': "
     "-1 on line 4, 0.5 on line 5"),
    ("interval", ["--family", "lognormal", "--lower", "lo", "--upper", "hi"],
     "{interval}: lognormal: intervals with lower > upper, or outside the support (0, inf) "
     "(exact values outside it, or intervals that miss it) in columns 'lo' and 'hi': "
     "[4, 3] on line 4, [-2, -2] on line 5"),
    ("noend", ["--family", "normal", "--lower", "lo", "--upper", "hi"],
     "{noend}: the interval in columns 'lo' and 'hi' is [inf, inf] on line 3; it needs a "
     "finite end"),
    ("beta", ["--family", "beta", "--value", "x"],
     "{beta}: beta: data outside the support (0, 1) in column 'x': 1 on line 4"),
]  # fmt: skip


@pytest.mark.parametrize("key, extra, message", SUPPORT_CASES)
def test_data_outside_the_support(
    support_inputs, tmp_path, capsys, monkeypatch, key, extra, message
):
    fit_module = sys.modules["jaxmle.tables"]

    def no_fit(*a, **k):  # the check comes before any fitting
        raise AssertionError("fit_batch called")

    monkeypatch.setattr(fit_module, "fit_batch", no_fit)
    out = tmp_path / "r.csv"
    code = main(["fit", support_inputs[key], *extra, "--out", str(out)])
    cap = capsys.readouterr()
    assert code == EXIT_USAGE, cap.err
    assert cap.err == f"jaxmle: error: {message.format(**support_inputs)}\n"
    assert cap.out == "" and not out.exists()


def test_data_outside_the_support_parquet_rows(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = str(tmp_path / "d.parquet")
    pq.write_table(pa.table({"x": [1.5, 2.0, -0.125, 3.0]}), path)
    assert main(["fit", path, "--family", "weibull", "--value", "x"]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"jaxmle: error: {path}: weibull: data outside the support (0, inf) in column 'x': "
        "-0.125 on row 3\n"
    )


# -- groups with fewer observations than parameters: INVALID_DATA, named in one line ---------
NORMAL_GROUPS = {"1": [4.0], "2": [1.0, 2.0, 6.0], "3": [7.5], "4": [2.0, 5.0]}


def test_groups_smaller_than_the_parameters(tmp_path, capsys):
    """Normal groups of one row cannot identify loc and scale: status INVALID_DATA with NaN
    numbers; the others are the closed forms: loc the mean, scale the standard deviation
    with divisor n, se(loc) = scale / sqrt(n), se(scale) = scale / sqrt(2 n); the interval of
    loc is loc -/+ z se, that of scale scale * exp(-/+ z / sqrt(2 n))."""
    from scipy import stats

    rows = [(g, v) for g, xs in NORMAL_GROUPS.items() for v in xs]
    path = _write(tmp_path / "d.csv", ["unit", "x"], rows)
    out = str(tmp_path / "r.csv")
    args = ["fit", path, "--family", "normal", "--value", "x", "--by", "unit", "--out", out]
    assert main(args) == EXIT_OK  # two groups converged
    printed = capsys.readouterr().out.splitlines()
    assert printed[1:3] == [
        "  status: 2 converged, 2 invalid data",
        "  2 groups have fewer observations than the 2 parameters (loc, scale), "
        "status INVALID_DATA: 1, 3",
    ]
    assert [line.split()[-1] for line in printed[5:9]] == [
        "INVALID_DATA", "CONVERGED", "INVALID_DATA", "CONVERGED",
    ]  # fmt: skip
    z = stats.norm.ppf(0.975)
    res = {r["unit"]: r for r in _read_csv(out)}
    for g, xs in NORMAL_GROUPS.items():
        r = res[g]
        numbers = [k for k in r if k not in ("unit", "nobs", "status")]
        if len(xs) == 1:
            assert r["status"] == "INVALID_DATA"
            assert all(np.isnan(float(r[k])) for k in numbers), r
            continue
        x = np.array(xs)
        n, mu, sd = x.size, x.mean(), x.std()
        want = {
            "loc": mu, "loc_se": sd / np.sqrt(n), "loc_lo": mu - z * sd / np.sqrt(n),
            "loc_hi": mu + z * sd / np.sqrt(n), "scale": sd, "scale_se": sd / np.sqrt(2 * n),
            "scale_lo": sd * np.exp(-z / np.sqrt(2 * n)),
            "scale_hi": sd * np.exp(z / np.sqrt(2 * n)),
            "loglik": stats.norm.logpdf(x, mu, sd).sum(), "nobs": n,
        }  # fmt: skip
        assert r["status"] == "CONVERGED"
        for k, v in want.items():
            assert np.isclose(float(r[k]), v, rtol=1e-9, atol=0), (g, k, r[k], v)


def test_single_dataset_too_small_exit_1(tmp_path, capsys):
    path = _write(tmp_path / "d.csv", ["hours"], [(3.0,)])
    out = str(tmp_path / "r.csv")
    args = ["fit", path, "--family", "gamma", "--value", "hours", "--out", out]
    assert main(args) == EXIT_NOT_CONVERGED
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert (
        lines[1]
        == "  1 observation, fewer than the 2 parameters (shape, scale): status INVALID_DATA"
    )
    assert "  status: INVALID_DATA" in lines[3]
    assert cap.err == "jaxmle: no group converged (1 invalid data); see docs/statuses.md\n"
    (row,) = _read_csv(out)
    assert row["status"] == "INVALID_DATA"
    assert all(np.isnan(float(row[k])) for k in row if k not in ("nobs", "status"))


# -- intervals of positive and bounded parameters stay inside the support --------------------
def test_intervals_stay_inside_the_support(tmp_path, capsys):
    """Two exponential lifetimes: the natural-scale Wald interval rate -/+ z rate / sqrt(2)
    starts below 0; the command writes and prints rate * exp(-/+ z / sqrt(2)). One success in
    five Bernoulli trials: p = 0.2 -/+ z 0.179 starts below 0 too; the command's interval is
    expit(logit(p) -/+ z / sqrt(n p (1 - p)))."""
    from scipy import special, stats

    z = stats.norm.ppf(0.975)
    path = _write(tmp_path / "e.csv", ["x"], [(1.0,), (3.0,)])
    out = str(tmp_path / "r.csv")
    assert main(["fit", path, "--family", "exponential", "--value", "x", "--out", out]) == EXIT_OK
    (row,) = _read_csv(out)
    rate = 0.5
    assert rate - z * rate / np.sqrt(2) < 0  # (what a natural-scale interval would say)
    lo, hi = rate * np.exp(-z / np.sqrt(2)), rate * np.exp(z / np.sqrt(2))
    assert np.isclose(float(row["rate_lo"]), lo, rtol=1e-12)
    assert np.isclose(float(row["rate_hi"]), hi, rtol=1e-12)
    table = capsys.readouterr().out.splitlines()
    (line,) = [s for s in table if s.startswith("rate ")]
    assert line.split()[-2:] == [f"{lo:.6g}", f"{hi:.6g}"]

    path = _write(tmp_path / "b.csv", ["x"], [(0,), (1,), (0,), (0,), (0,)])
    assert main(["fit", path, "--family", "bernoulli", "--value", "x", "--out", out]) == EXIT_OK
    (row,) = _read_csv(out)
    n, p = 5, 0.2
    assert p - z * np.sqrt(p * (1 - p) / n) < 0
    half = z / np.sqrt(n * p * (1 - p))
    assert np.isclose(float(row["p_lo"]), special.expit(special.logit(p) - half), rtol=1e-12)
    assert np.isclose(float(row["p_hi"]), special.expit(special.logit(p) + half), rtol=1e-12)
    assert 0 < float(row["p_lo"]) < p < float(row["p_hi"]) < 1


# -- every status reaches the output and the counts ------------------------------------------
def _with_statuses(monkeypatch, statuses):
    """Make the command's fit_batch return these statuses (one per group)."""
    import dataclasses

    import jax.numpy as jnp

    fit_module = sys.modules["jaxmle.tables"]  # (the groups here are all of one size bucket)
    real = fit_module.fit_batch

    def fake(*a, **k):
        res = real(*a, **k)
        return dataclasses.replace(res, status=jnp.asarray(statuses, res.status.dtype))

    monkeypatch.setattr(fit_module, "fit_batch", fake)


def test_every_status_in_output_and_counts(tmp_path, capsys, monkeypatch):
    statuses = [int(s) for s in jm.Status]
    names = [s.name for s in jm.Status]
    assert "STALLED" in names and "INVALID_DATA" in names
    rows = [(g, v) for g in range(len(statuses)) for v in (1.0, 2.0)]
    path = _write(tmp_path / "d.csv", ["g", "x"], rows)
    out = str(tmp_path / "r.jsonl")
    args = ["fit", path, "--family", "exponential", "--value", "x", "--by", "g", "--out", out]
    _with_statuses(monkeypatch, statuses)
    assert main(args) == EXIT_OK  # group 0 converged
    printed = capsys.readouterr().out.splitlines()
    assert printed[1] == (
        "  status: 1 converged, 1 max iter, 1 nonfinite, 1 boundary, 1 singular, 1 stalled, "
        "1 invalid data"
    )
    assert [line.split()[-1] for line in printed[4 : 4 + len(names)]] == names
    with open(out) as f:
        assert [json.loads(line)["status"] for line in f] == names

    _with_statuses(monkeypatch, [int(jm.Status.STALLED)] * 2 + [int(jm.Status.MAX_ITER)] * 5)
    assert main(args) == EXIT_NOT_CONVERGED
    cap = capsys.readouterr()
    assert "  status: 5 max iter, 2 stalled" in cap.out.splitlines()
    assert cap.err == "jaxmle: no group converged (5 max iter, 2 stalled); see docs/statuses.md\n"
