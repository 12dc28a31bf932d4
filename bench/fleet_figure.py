"""Draw docs/img/fleet_shrinkage.png, the scales of 2,000 sensors fitted alone and pooled
by a random effect (the fleet of docs/random-effects.md): python bench/fleet_figure.py

Needs matplotlib (the ``plot`` extra). Not part of the test suite.
"""

import os
import pathlib
import sys

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_effects import FLEET, fleet_data  # noqa: E402

import jaxmle as jm  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "img" / "fleet_shrinkage.png"
SENSORS = 2_000  # as in docs/random-effects.md


def main():
    fd = fleet_data(SENSORS)  # the docs' draw: numpy.random.default_rng(0)
    data = {k: jnp.asarray(fd[k]) for k in ("t", "e", "m")}
    init = {"k": 1.0, "eta": float(np.median(fd["t"][fd["m"] > 0])), "s": 0.5}
    res = jm.fit(FLEET, data, init=init)
    eta = float(res.params["eta"])
    pooled = eta * np.exp(np.asarray(jm.random_effects(res)["mode"]["u"]).ravel())
    alone = jm.fit_batch(jm.families.Weibull(), {"x": data["t"], "event": data["e"]},
                         mask=data["m"])  # fmt: skip
    ok = np.asarray(alone.converged)
    own = np.asarray(alone.params["scale"])
    n = fd["n"]

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    sc = a1.scatter(
        own[ok], pooled[ok], c=n[ok], s=8, cmap="viridis", norm=matplotlib.colors.LogNorm()
    )
    lim = np.array([min(own[ok].min(), pooled.min()), max(own[ok].max(), pooled.max())])
    a1.plot(lim, lim, "k--", lw=0.8, label="no pooling")
    a1.axhline(eta, color="tab:red", lw=0.8, label=f"fleet scale {eta:.1f}")
    a1.set(xscale="log", yscale="log", xlabel="scale, sensor fitted alone",
           ylabel="scale, pooled (eta exp(u mode))",
           title="Small sensors are pulled to the fleet")  # fmt: skip
    a1.legend(loc="upper left", fontsize=8)
    fig.colorbar(sc, ax=a1, label="readings per sensor")

    a2.scatter(n[ok], own[ok] / fd["scale"][ok], s=6, color="0.6", label="fitted alone")
    a2.scatter(n, pooled / fd["scale"], s=4, color="tab:blue", alpha=0.6, label="pooled")
    a2.axhline(1.0, color="k", lw=0.8)
    a2.set(xscale="log", yscale="log", xlabel="readings per sensor",
           ylabel="estimated / true scale", title="Error of each sensor's scale")  # fmt: skip
    a2.legend(loc="upper right", fontsize=8)
    for ax, ticks in ((a1, ([30, 50, 100, 200, 400], [30, 50, 100, 200, 400])),
                      (a2, (None, [0.4, 0.5, 0.7, 1.0, 1.4, 2.0]))):  # fmt: skip
        for axis, t in zip((ax.xaxis, ax.yaxis), ticks):
            if t is not None:
                axis.set_major_locator(matplotlib.ticker.FixedLocator(t))
                axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
                axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT}; {int(ok.sum())} of {SENSORS} sensors converged alone")


if __name__ == "__main__":
    main()
