"""No default output shows a negative bound for a positive parameter: a Weibull with three
failures, whose natural-scale Wald intervals reach below zero, through conf_int, summary,
to_dict, to_dataframe, derived(method="wald_log"), fit_batch and the command line."""

import re

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import read_csv, write_csv

import jaxmle as jm
from jaxmle.cli import EXIT_OK, main
from jaxmle.inference import z_value

# three failures, two units still running at 5000 h
HOURS = np.array([50.0, 900.0, 4000.0, 5000.0, 5000.0])
FAILED = np.array([1, 1, 1, 0, 0])
Z = z_value(0.95)


@pytest.fixture(scope="module")
def three():
    return jm.fit_dist("weibull", HOURS, event=FAILED)


def test_plain_wald_goes_negative_here(three):
    # the test is not vacuous: the natural-scale interval of both parameters leaves (0, inf)
    wald = three.conf_int(0.95, method="wald")
    assert wald["shape"][0] < 0 and wald["scale"][0] < 0
    assert three.to_dict(method="wald")["scale_lo"] < 0


def test_conf_int_default_is_on_the_log_scale(three):
    ci = three.conf_int(0.95)
    for key in ("shape", "scale"):
        est, se = float(three.params[key]), float(three.se[key])
        lo, hi = (float(v) for v in ci[key])
        assert 0 < lo < est < hi
        assert np.isclose(lo, est * np.exp(-Z * se / est), rtol=1e-12)
        assert np.isclose(hi, est * np.exp(Z * se / est), rtol=1e-12)
    same = three.conf_int(0.95, method="wald_transformed")
    assert all(np.array_equal(ci[k], same[k]) for k in ci)


def test_summary_and_columns_are_positive(three):
    table = three.summary()
    for key in ("shape", "scale"):
        (row,) = [ln for ln in table.splitlines() if ln.startswith(key + " ")]
        lo, hi = (float(v) for v in row.split()[-2:])
        assert 0 < lo < hi
    assert "log / logit scale" in table
    assert re.search(r"^scale .* -6937", three.summary(method="wald"), re.M)
    cols = three.to_dict()
    assert cols["shape_lo"] > 0 and cols["scale_lo"] > 0
    pd = pytest.importorskip("pandas")
    df = three.to_dataframe()
    assert isinstance(df, pd.DataFrame) and (df[["shape_lo", "scale_lo"]] > 0).all().all()
    assert float(three.to_dataframe(method="wald")["scale_lo"].iloc[0]) < 0


def test_real_parameters_keep_the_plain_interval():
    x = jnp.array([0.3, -1.2, 0.8, 2.1, 0.4])
    res = jm.fit_dist("normal", x)
    mu = float(res.params["loc"])
    lo, hi = res.conf_int()["loc"]
    assert np.allclose([lo, hi], mu + np.array([-Z, Z]) * float(res.se["loc"]), rtol=1e-12)


def test_derived_wald_log(three):
    def b10(p):
        return p["scale"] * (-jnp.log(0.9)) ** (1 / p["shape"])

    wald = three.derived(b10)
    logw = three.derived(b10, method="wald_log")
    assert float(wald.low) < 0 < float(logw.low)
    est, se = float(logw.estimate), float(logw.se)
    assert np.isclose(float(logw.low), est * np.exp(-Z * se / est), rtol=1e-12)
    assert np.isclose(float(logw.high), est * np.exp(Z * se / est), rtol=1e-12)
    assert logw.method == "wald_log"
    # the life quantity of the same number: its default is this interval
    b = jm.b_life(three, 10)
    assert np.isclose(float(b.low), float(logw.low), rtol=1e-10)
    # a quantity that is not positive gets no log interval
    neg = three.derived(lambda p: -p["scale"], method="wald_log")
    assert np.isnan(float(neg.low)) and np.isnan(float(neg.high))
    with pytest.raises(ValueError, match="wald_log"):
        three.derived(b10, method="log")


def test_fit_batch_defaults_are_positive(three):
    rng = np.random.default_rng(3)
    life = 3000.0 * rng.weibull(0.7, size=(6, 5))
    x, ev = np.minimum(life, 5000.0), (life <= 5000.0).astype(int)
    x[0], ev[0] = HOURS, FAILED
    batch = jm.fit_batch(jm.families.Weibull(), {"x": jnp.asarray(x), "event": jnp.asarray(ev)})
    ok = np.asarray(batch.converged)
    assert ok[0]
    ci = batch.conf_int()
    cols = batch.to_dict()
    for key in ("shape", "scale"):
        lo = np.asarray(ci[key][0])[ok]
        assert (lo > 0).all()
        assert (cols[f"{key}_lo"][ok] > 0).all()
    assert np.asarray(batch.conf_int(method="wald")["scale"][0])[0] < 0
    np.testing.assert_allclose(cols["scale_lo"][0], three.to_dict()["scale_lo"], rtol=1e-8)


def test_cli_default_is_positive(tmp_path, capsys, three):
    rows = [("A", float(t), int(e)) for t, e in zip(HOURS, FAILED, strict=True)]
    path = write_csv(tmp_path / "three.csv", ["unit", "hours", "failed"], rows)
    out = str(tmp_path / "res.csv")
    args = ["fit", path, "--family", "weibull", "--value", "hours", "--event", "failed"]
    assert main([*args, "--by", "unit", "--out", out]) == EXIT_OK
    (row,) = read_csv(out)
    assert float(row["shape_lo"]) > 0 and float(row["scale_lo"]) > 0
    assert np.isclose(float(row["scale_lo"]), float(three.conf_int()["scale"][0]), rtol=1e-8)
    # the printed summary of one group
    capsys.readouterr()
    assert main(args) == EXIT_OK
    text = capsys.readouterr().out
    (line,) = [ln for ln in text.splitlines() if ln.startswith("scale ")]
    assert float(line.split()[-2]) > 0
    assert main([*args, "--by", "unit", "--out", out, "--ci", "wald"]) == EXIT_OK
    assert float(read_csv(out)[0]["scale_lo"]) < 0


def test_fixed_component_keeps_its_value():
    x = jnp.array([0.8, 1.1, 2.3, 0.4, 1.7, 3.0, 0.9])
    res = jm.fit(jm.families.Weibull(), x, fixed={"shape": 1.5})
    lo, hi = res.conf_int()["shape"]
    assert float(lo) == float(hi) == 1.5
