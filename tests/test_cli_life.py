"""`jaxmle fit` with life columns (--b-life, --reliability-at, --mean-life) and interval
methods (--ci): the columns equal the Python API's, and the default bounds of positive
quantities are positive."""

import numpy as np
import pytest
from helpers import read_csv as _read_csv
from helpers import write_csv as _write

import jaxmle as jm
from jaxmle.cli import EXIT_OK, EXIT_USAGE, main


@pytest.fixture(autouse=True)
def _no_persistent_cache(monkeypatch):
    monkeypatch.setenv("JAXMLE_CACHE_DIR", "off")


# three pumps: two with many failures, one with three failures among ten seals
PUMPS = {
    "P1": (np.array([310.0, 520, 740, 900, 1300, 1500, 1500, 660, 480, 1100]), [1] * 6 + [0, 0]
           + [1, 1]),
    "P2": (np.array([2100.0, 3400, 5200] + [6000.0] * 7), [1, 1, 1] + [0] * 7),
    "P3": (np.array([150.0, 900, 1200, 400, 2500, 800, 1700, 640, 330, 2000]), [1] * 10),
}  # fmt: skip


@pytest.fixture(scope="module")
def pumps_csv(tmp_path_factory):
    rows = [
        (name, float(t), int(e))
        for name, (x, ev) in PUMPS.items()
        for t, e in zip(x, ev, strict=True)
    ]
    path = tmp_path_factory.mktemp("life") / "pumps.csv"
    return _write(path, ["pump", "hours", "failed"], rows)


def _args(path, *extra):
    return ["fit", path, "--family", "weibull", "--value", "hours", "--event", "failed", *extra]


LIFE = ["--b-life", "10", "--b-life", "1", "--reliability-at", "1000", "--mean-life"]


@pytest.mark.parametrize("ci", ["wald_transformed", "profile"])
def test_life_columns_equal_the_api(pumps_csv, tmp_path, capsys, ci):
    out = str(tmp_path / "res.csv")
    extra = [] if ci == "wald_transformed" else ["--ci", ci]
    assert main(_args(pumps_csv, "--by", "pump", "--out", out, *LIFE, *extra)) == EXIT_OK
    rows = {r["pump"]: r for r in _read_csv(out)}
    assert list(rows["P1"])[-16:] == [
        f"{n}{s}" for n in ("B10", "B1", "R_1000", "mean_life") for s in ("", "_se", "_lo", "_hi")
    ]
    for name, (x, ev) in PUMPS.items():
        res = jm.fit_dist("weibull", x, event=np.array(ev))
        b = jm.b_life(res, np.array([10.0, 1.0]), method=ci)
        r = jm.reliability(res, 1000.0, method=ci)
        m = jm.mean_life(res, method=ci)
        ci_scale = res.conf_int(method=ci)["scale"]
        row = {k: float(v) for k, v in rows[name].items() if k not in ("pump", "status")}
        for col, der, i in (
            ("B10", b, 0),
            ("B1", b, 1),
            ("R_1000", r, None),
            ("mean_life", m, None),
        ):
            for s, v in (("", der.estimate), ("_se", der.se), ("_lo", der.low), ("_hi", der.high)):
                want = float(np.asarray(v) if i is None else np.asarray(v)[i])
                assert np.isclose(row[col + s], want, rtol=1e-6), (name, col + s)
        assert np.allclose([row["scale_lo"], row["scale_hi"]], ci_scale, rtol=1e-6)
        # positive quantities keep positive bounds
        assert min(row["B1_lo"], row["B10_lo"], row["mean_life_lo"], row["scale_lo"]) > 0
        assert 0 < row["R_1000_lo"] < row["R_1000_hi"] < 1


def test_wald_is_asked_for(pumps_csv, tmp_path):
    out = str(tmp_path / "res.csv")
    assert (
        main(_args(pumps_csv, "--by", "pump", "--out", out, "--b-life", "1", "--ci", "wald")) == 0
    )
    rows = {r["pump"]: r for r in _read_csv(out)}
    # three failures among ten: the natural-scale Wald interval of the B1 life is negative
    assert float(rows["P2"]["B1_lo"]) < 0


def test_single_fit_prints_the_life_quantities(tmp_path, capsys):
    x, ev = PUMPS["P1"]
    path = _write(tmp_path / "one.csv", ["hours", "failed"], list(zip(x, ev, strict=True)))
    assert main(_args(path, "--b-life", "10", "--mean-life")) == EXIT_OK
    text = capsys.readouterr().out
    res = jm.fit_dist("weibull", x, event=np.array(ev))
    b10 = jm.b_life(res, 10)
    line = next(s for s in text.splitlines() if s.startswith("B10 "))
    assert np.allclose([float(v) for v in line.split()[1:]],
                       [b10.estimate, b10.se, b10.low, b10.high], rtol=1e-5)  # fmt: skip
    assert any(s.startswith("mean_life ") for s in text.splitlines())


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--b-life", "100"], "--b-life 100: the percentage must lie strictly between 0 and 100"),
        (["--reliability-at", "-1"], "--reliability-at -1: the time must be finite and >= 0"),
        (["--ci", "bootstrap"], "argument --ci: invalid choice"),
    ],
)
def test_life_mistakes(pumps_csv, capsys, extra, message):
    assert main(_args(pumps_csv, *extra)) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_life_columns_need_a_lifetime_family(pumps_csv, capsys):
    args = ["fit", pumps_csv, "--family", "normal", "--value", "hours", "--mean-life"]
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--mean-life need a lifetime family" in err and "not normal" in err


@pytest.mark.parametrize("kind", ["probability", "hazard", "survival"])
def test_plot_kinds(tmp_path, kind):
    x, ev = PUMPS["P1"]
    path = _write(tmp_path / "one.csv", ["hours", "failed"], list(zip(x, ev, strict=True)))
    png = tmp_path / f"{kind}.png"
    assert main(_args(path, "--plot", str(png), "--plot-kind", kind, "-q")) == EXIT_OK
    assert png.stat().st_size > 10_000


def test_plot_kind_mistakes(pumps_csv, tmp_path, capsys):
    png = str(tmp_path / "p.png")
    args = _args(pumps_csv, "--by", "pump", "--plot", png, "--plot-kind", "probability")
    assert main(args) == EXIT_USAGE
    assert "--plot-kind probability draws one group: leave out --by" in capsys.readouterr().err
    args = ["fit", pumps_csv, "--family", "normal", "--value", "hours", "--plot", png,
            "--plot-kind", "hazard"]  # fmt: skip
    assert main(args) == EXIT_USAGE
    assert "--plot-kind hazard need a lifetime family" in capsys.readouterr().err
