"""A/B timing of ``fit_batch`` on the benchmark workloads: two versions of jaxmle, interleaved.

    python bench/ab.py --base 25bde18                 # base commit vs the working tree
    python bench/ab.py --base main --rounds 9 --only W1,W2

Each turn times a few fits and keeps the fastest (the machine's slow spells only make a fit
slower). Each version runs in a process of its own (the base from a ``git worktree`` of the given
commit, the other from this checkout), kept alive for the whole run, so each compiles once.
The two are timed in turn, round after round, on the same workloads built by ``bench/run.py``
(same seed, same data, same starting values): a slow spell of the machine falls on both
alike. Reported: the median time of each, their ratio, and each round's ratio. Only jaxmle
is timed here; ``bench/run.py`` compares it with the peers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import jaxmle as jm  # the version timed, imported before bench/run.py puts its own checkout first
sys.path.insert(0, {bench!r})
import run as bench  # bench/run.py of this checkout: the workloads
import jax, numpy as np
assert jm.__file__.startswith({root!r}), jm.__file__
rng_seed, quick = {seed}, {quick}
makers = {{"W1": (bench.make_w1, 10_000, 1_000), "W2": (bench.make_w2, 1_000, 200),
           "W3": (bench.make_w3, 1_000, 500), "W4": (bench.make_w4, 10_000, 100)}}
cache = {{}}
def prepared(key):
    if key not in cache:
        make, B, n = makers[key]
        B = B // 10 if quick else B
        wl = make(B, n, np.random.default_rng(rng_seed))
        data = jax.block_until_ready(wl.jm_data(wl.data))
        init = wl.jm_init(wl.data)
        fit = lambda: jax.block_until_ready(jm.fit_batch(wl.model, data, init=init))
        fit(); fit()  # compile (and the stragglers' buckets)
        cache[key] = fit
    return cache[key]
for line in sys.stdin:
    key = line.strip()
    fit = prepared(key)
    dts = []
    for _ in range({inner}):
        t0 = time.perf_counter(); res = fit(); dts.append(time.perf_counter() - t0)
    dt = min(dts)
    status = np.asarray(res.status)
    print(json.dumps({{"t": dt, "converged": int((status == 0).sum()), "B": int(status.size)}}),
          flush=True)
"""


class Child:
    def __init__(self, root: Path, seed: int, quick: bool, inner: int):
        code = CHILD.format(
            bench=str(ROOT / "bench"), root=str(root), seed=seed, quick=quick, inner=inner
        )
        env = dict(os.environ, PYTHONPATH=str(root))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=root, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def time(self, key: str) -> dict:
        self.proc.stdin.write(key + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the timing process ended (workload {key})")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="git commit (or ref) of the A version")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument(
        "--inner", type=int, default=3, help="fits per turn; the turn's time is their minimum"
    )
    ap.add_argument("--only", default="W1,W2,W3,W4")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--quick", action="store_true", help="B / 10")
    ap.add_argument("--out", default=None, help="also write the table to this markdown file")
    opts = ap.parse_args()
    keys = opts.only.split(",")
    base_rev = subprocess.run(
        ["git", "rev-parse", "--short", opts.base], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="jaxmle-ab-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), base_rev], cwd=ROOT, check=True,
            capture_output=True,
        )  # fmt: skip
        try:
            a = Child(tree, opts.seed, opts.quick, opts.inner)
            children = {
                "A (base)": a,
                "B (this tree)": Child(ROOT, opts.seed, opts.quick, opts.inner),
            }
            times = {k: {name: [] for name in children} for k in keys}
            t_start = time.perf_counter()
            for r in range(opts.rounds):
                for key in keys:
                    order = list(children) if r % 2 == 0 else list(children)[::-1]
                    for name in order:
                        out = children[name].time(key)
                        times[key][name].append(out["t"])
                        print(f"round {r} {key} {name}: {out['t']:.4f} s "
                              f"({out['converged']}/{out['B']} converged)", flush=True)  # fmt: skip
            for c in children.values():
                c.close()
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "jaxmle"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"A = {base_rev}, B = {head}{' with uncommitted changes' if dirty else ''}; "
        f"{opts.rounds} rounds, interleaved{'; B / 10' if opts.quick else ''}; "
        f"{time.perf_counter() - t_start:.0f} s in all.",
        "",
        f"Each turn's time is the fastest of {opts.inner} fits.",
        "",
        "| workload | A median (s) | B median (s) | B / A | median of the rounds' B / A "
        "(min, max) |",
        "|---|---:|---:|---:|---|",
    ]
    for key in keys:
        a, b = times[key]["A (base)"], times[key]["B (this tree)"]
        ratios = [y / x for x, y in zip(a, b)]
        lines.append(
            f"| {key} | {statistics.median(a):.4f} | {statistics.median(b):.4f} | "
            f"{statistics.median(b) / statistics.median(a):.3f} | "
            f"{statistics.median(ratios):.3f} ({min(ratios):.3f}, {max(ratios):.3f}) |"
        )
    text = "\n".join(lines)
    print("\n" + text)
    if opts.out:
        Path(opts.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
