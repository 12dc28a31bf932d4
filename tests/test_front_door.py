"""What a new user meets first: the README's first example prints what it says when run as a
script, `jaxmle fit --help` lists the families with their parameters, and the float32 warning
points at the user's line and quotes the README's precision. (Batch status names:
test_results.py.)"""

import pathlib
import re
import subprocess
import sys

from jaxmle._warnings import FLOAT32_MESSAGE
from jaxmle.cli import EXIT_OK, main
from jaxmle.distributions import DISTRIBUTIONS

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _run(code, tmp_path, *args):
    script = tmp_path / "script.py"
    script.write_text(code)
    env = {"PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, *args, str(script)], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def test_readme_first_example_prints_what_it_says(tmp_path):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    promised = re.findall(r"^# prints: (.*)$", code, re.M)
    assert len(promised) >= 3
    out = _run(code, tmp_path).stdout.splitlines()
    for line in promised:
        assert line in out, (line, out[-5:])
    assert any(line.startswith("mu ") and "12" in line for line in out)  # the summary's table


def test_fit_help_lists_families_and_parameters(capsys):
    assert main(["fit", "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and
             line.split() and line.split()[0] in DISTRIBUTIONS}  # fmt: skip
    assert "multinomial" not in lines  # (k count columns: not a command-line family)
    assert set(lines) == set(DISTRIBUTIONS) - {"multinomial"}
    assert lines["weibull"].split() == ["weibull", "shape,", "scale"]
    assert "--option trials=N" in lines["binomial"]
    for name in ("normal", "gamma", "student_t", "negative_binomial"):
        for param in DISTRIBUTIONS[name].spec():
            assert param in lines[name]


def test_float32_warning_points_at_the_callers_line(tmp_path):
    code = (
        "import warnings\n"
        "import jax.numpy as jnp\n"
        "import jaxmle as jm\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    jm.fit_dist('exponential', jnp.array([1.0, 2.0, 3.0], jnp.float32))  # line 7\n"
        "(w,) = [w for w in caught if w.category is jm.Float32Warning]\n"
        "print(w.filename, w.lineno)\n"
    )
    out = _run(code, tmp_path).stdout.split()
    assert out == [str(tmp_path / "script.py"), "7"]


def test_float32_warning_quotes_the_readmes_precision():
    m = re.search(r"in float32 \(JAX's default\) to about (\S+) relative, standard errors to "
                  r"about\s+(\S+)\.", README)  # fmt: skip
    est, se = m.groups()
    assert f"about {est} relative and standard errors to about {se}" in FLOAT32_MESSAGE
