"""The note's worked examples give exactly its numbers, and the demo command runs."""

import math
import subprocess
import sys

import pytest

from jaxmle import demo
from jaxmle.cli import main


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
    assert "all examples agree with the note" in out


def test_demo_float32_in_fresh_process():
    # float32 is JAX's default; the demo must hold there too (tolerances follow the dtype)
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmle", "demo", "--float32"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(float32)" in proc.stdout
    assert "all examples agree with the note" in proc.stdout


def test_cli_bad_arguments_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmle", "nonsense"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
