"""The note's worked examples give exactly its numbers, and the demo command runs."""

import math
import os
import subprocess
import sys

import pytest

from jaxmle import demo
from jaxmle.cli import main

# the demo's in-process and subprocess runs must not write to the user's cache folder
NO_CACHE = {**os.environ, "JAXMLE_CACHE_DIR": "off"}


@pytest.fixture(autouse=True)
def _no_persistent_cache(monkeypatch):
    monkeypatch.setenv("JAXMLE_CACHE_DIR", "off")


@pytest.mark.parametrize("name", list(demo.EXAMPLES))
def test_example_matches_closed_form(name):
    for quantity, got, want in demo.EXAMPLES[name]():
        assert math.isclose(got, want, rel_tol=1e-10, abs_tol=1e-12), (quantity, got, want)


def test_demo_command_prints_every_example(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for title in demo.EXAMPLES:
        assert title in out
    assert "MISMATCH" not in out
    # the simulated fleet: 10,000 sensors in one batch, intervals at their nominal coverage
    assert "Simulated fleet: 10,000 sensors x 50 lifetimes" in out
    assert "status: 10,000 converged" in out
    (line,) = [ln for ln in out.splitlines() if "intervals cover the true rate" in ln]
    coverage = float(line.split("for ")[1].split("%")[0]) / 100
    assert abs(coverage - 0.95) <= demo.COVERAGE_TOL and line.endswith("ok")
    assert "all examples agree with the note; interval coverage as nominal" in out


def test_sensor_coverage_check_catches_a_wrong_level():
    # the same fleet (and compiled kernel) at another level: 90% intervals cover about 90%,
    # which the 95% check rejects
    out = demo.sensors(level=0.90)
    assert abs(out["coverage"] - 0.90) < 0.015
    assert abs(out["coverage"] - 0.95) > demo.COVERAGE_TOL


# `jaxmle demo --float32` in a fresh process: test_float32.py (its float32 subprocess)


def test_cli_bad_arguments_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmle", "nonsense"],
        capture_output=True,
        text=True,
        timeout=120,
        env=NO_CACHE,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
