"""Mutation check of the solver and covariance tests: inject faults, show that the suite fails.

Each mutant is one textual change to a module of ``jaxmle`` (a wrong sign in the Hessian,
a dropped convergence condition, standard errors off by ``sqrt(n/(n-1))``, two statuses
swapped, ...). For each, the package is copied to a temporary folder, the change applied,
and the solver and covariance tests run against the copy (stopping at the first failure).
A mutant is *caught* when some test fails; the report lists which.

    python bench/mutation.py            # all mutants, table printed and written
    python bench/mutation.py --list     # the mutants, without running anything

The report goes to ``bench/RESULTS-mutation.md``. A mutant whose text is not found in the
source (the code changed since it was written) is reported as ``not applied``, never as
caught.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the tests run against each mutant: the solver, statuses, covariances and references
TESTS = [
    "tests/test_newton_step.py",
    "tests/test_status.py",
    "tests/test_adversarial.py",
    "tests/test_reference.py",
    "tests/test_family_se.py",
    "tests/test_independent_refs.py",
    "tests/test_glm_reference.py",
    "tests/test_lbfgs.py",
    "tests/test_solver_cases.py",
    "tests/test_batch_and_tracing.py",
]


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    path: str  #: file under the repository root
    old: str  #: exact text to replace (must occur once)
    new: str


MUTANTS = [
    Mutant(
        "Hessian with the wrong sign (solver)",
        "jaxmle/optimize.py",
        "        return f, g, Hs, jnp.all(finite)",
        "        return f, g, -Hs, jnp.all(finite)",
    ),
    Mutant(
        "convergence without the decrement test",
        "jaxmle/optimize.py",
        "converged = stuck | (ok & (lam_used <= 1.0) & (0.5 * dec <= small))",
        "converged = stuck | (ok & (lam_used <= 1.0))",
    ),
    Mutant(
        "step acceptance without the sufficient-decrease test",
        "jaxmle/optimize.py",
        "good = (actual > 1e-4 * pred) | ((pred <= noise) & (actual >= -noise))",
        "good = jnp.ones((), bool)",
    ),
    Mutant(
        "standard errors off by sqrt(n/(n-1))",
        "jaxmle/fit.py",
        "    se = model.unflatten(jnp.sqrt(diag(cov)))\n",
        "    _n = jnp.sum(jnp.where(mask, weights, 0.0)) if per_obs else 2.0\n"
        "    se = model.unflatten(jnp.sqrt(diag(cov) * _n / (_n - 1.0)))\n",
    ),
    Mutant(
        "status SINGULAR where BOUNDARY is due",
        "jaxmle/fit.py",
        "            boundary,\n            Status.BOUNDARY,",
        "            boundary,\n            Status.SINGULAR,",
    ),
    Mutant(
        "statuses STALLED and MAX_ITER swapped",
        "jaxmle/fit.py",
        "jnp.where(sol.stalled, Status.STALLED, Status.MAX_ITER)",
        "jnp.where(sol.stalled, Status.MAX_ITER, Status.STALLED)",
    ),
    Mutant(
        "robust covariance without the weights in the meat",
        "jaxmle/inference.py",
        "    meat = (scores * weights[:, None]).T @ scores",
        "    meat = scores.T @ scores",
    ),
    Mutant(
        "delta method with the Jacobian transposed",
        "jaxmle/inference.py",
        "    return matmul(matmul(jac, cov_free), jac.T)",
        "    return matmul(matmul(jac.T, cov_free), jac)",
    ),
    Mutant(
        "limit probe switched off",
        "jaxmle/fit.py",
        "        return jnp.zeros(u.shape, bool)\n    idx = np.flatnonzero(probed)\n",
        "        return jnp.zeros(u.shape, bool)\n    return jnp.zeros(u.shape, bool)\n"
        "    idx = np.flatnonzero(probed)\n",
    ),
]


def _copy_project(dest: Path) -> None:
    """The package, the tests and their configuration, so that nothing of the checkout is on
    the test run's path (pytest puts its root folder first)."""
    shutil.copytree(ROOT / "jaxmle", dest / "jaxmle")
    shutil.copytree(ROOT / "tests", dest / "tests")
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy(ROOT / name, dest / name)


def _apply(copy_root: Path, m: Mutant) -> bool:
    if not m.old:  # the baseline: no change
        return True
    path = copy_root / m.path
    text = path.read_text()
    if text.count(m.old) != 1:
        return False
    path.write_text(text.replace(m.old, m.new))
    return True


def _run(m: Mutant, python: str, timeout: float) -> tuple[str, str, float]:
    """``(outcome, first failing test, seconds)`` for one mutant."""
    with tempfile.TemporaryDirectory(prefix="jaxmle-mutant-") as tmp:
        copy_root = Path(tmp)
        _copy_project(copy_root)
        if not _apply(copy_root, m):
            return "not applied", "", 0.0
        # run from the copy: Python puts the working folder first on its path, so the copy's
        # jaxmle is the one imported (checked by _check_copy_is_used)
        env = dict(os.environ, PYTHONPATH=str(copy_root), JAXMLE_CACHE_DIR="off")
        cmd = [python, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider",
               *TESTS]  # fmt: skip
        t0 = time.perf_counter()
        try:
            out = subprocess.run(
                cmd, cwd=copy_root, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return "timeout", "", time.perf_counter() - t0
        secs = time.perf_counter() - t0
        failed = re.findall(r"^FAILED (\S+)", out.stdout, flags=re.M)
        if out.returncode == 0:
            return "survived", "", secs
        if failed:
            return "caught", failed[0], secs
        return "error", out.stdout[-300:].replace("\n", " "), secs


def _check_copy_is_used(python: str) -> None:
    """The tests must import the mutated copy: a copy that raises on import must fail them."""
    with tempfile.TemporaryDirectory(prefix="jaxmle-mutant-") as tmp:
        _copy_project(Path(tmp))
        init = Path(tmp) / "jaxmle" / "__init__.py"
        init.write_text("raise ImportError('mutated copy imported')\n" + init.read_text())
        env = dict(os.environ, PYTHONPATH=tmp)
        out = subprocess.run(
            [python, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", TESTS[0]],
            cwd=tmp, env=env, capture_output=True, text=True,
        )  # fmt: skip
        if "mutated copy imported" not in out.stdout + out.stderr:
            raise SystemExit(
                "the mutated copy is not the jaxmle that python imports (an installed jaxmle "
                "shadows PYTHONPATH?): the check would be meaningless"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-mutation.md"))
    opts = ap.parse_args()
    if opts.list:
        for m in MUTANTS:
            print(f"{m.name}  ({m.path})")
        return
    python = sys.executable
    _check_copy_is_used(python)
    # the tests must pass on the copy without a fault, or "caught" would mean nothing
    baseline = Mutant("no fault (baseline)", "jaxmle/__init__.py", "", "")
    outcome, test, base_secs = _run(baseline, python, opts.timeout)
    print(f"{outcome:>11}  {base_secs:6.0f} s  {baseline.name}  {test}", flush=True)
    if outcome != "survived":
        raise SystemExit(f"the tests fail without a fault ({test}): fix them first")
    rows = []
    for m in MUTANTS:
        outcome, test, secs = _run(m, python, opts.timeout)
        print(f"{outcome:>11}  {secs:6.0f} s  {m.name}  {test}", flush=True)
        rows.append((m, outcome, test, secs))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "jaxmle", "tests"], cwd=ROOT, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    lines = [
        "# Mutation check of the solver and covariance tests",
        "",
        f"Run {datetime.date.today()} on {platform.platform()} ({os.cpu_count()} CPUs), "
        f"commit {commit}{' with uncommitted changes' if dirty else ''}, by "
        "`python bench/mutation.py`.",
        "",
        "Each fault is injected into a copy of the package; the tests "
        f"{', '.join(f'`{t}`' for t in TESTS)} run against it and stop at the first failure.",
        "",
        f"Without a fault the tests pass on the copy (baseline, {base_secs:.0f} s).",
        "",
        "| fault | file | outcome | first failing test | seconds |",
        "|---|---|---|---|---:|",
    ]
    for m, outcome, test, secs in rows:
        lines.append(f"| {m.name} | `{m.path}` | {outcome} | `{test}` | {secs:.0f} |")
    caught = sum(o == "caught" for _, o, _, _ in rows)
    lines += ["", f"{caught} of {len(rows)} faults caught."]
    Path(opts.out).write_text("\n".join(lines) + "\n")
    print(f"{caught} of {len(rows)} caught; report in {opts.out}")
    if caught != len(rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
