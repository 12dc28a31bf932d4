"""Draw docs/img/profile.png, profile deviances of a Weibull fit: python bench/profile_figure.py

Needs matplotlib (the ``plot`` extra). Not part of the test suite.
"""

import pathlib

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxmle as jm  # noqa: E402

jax.config.update("jax_enable_x64", True)

OUT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "img" / "profile.png"


def main():
    hours = np.array([120.0, 340.0, 560.0, 800.0, 1100.0, 1500.0, 95.0, 410.0, 2300.0, 650.0])
    failed = np.array([1, 1, 1, 0, 1, 0, 1, 1, 0, 1])
    res = jm.fit_dist("weibull", hours, event=failed)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    try:
        from jaxmle.plot import plot_profile

        for ax, name in zip(axes, ("shape", "scale")):
            plot_profile(res, name, ax=ax, points=81)
    except ImportError:  # pragma: no cover - the plot module is optional
        for ax, name in zip(axes, ("shape", "scale")):
            prof = res.profile(name, points=81)
            ax.plot(prof.grid, prof.deviance, label="profile deviance")
            ax.axhline(prof.threshold, ls="--", color="grey", label="chi2_1(0.95)")
            ax.set_xlabel(name)
            ax.legend()
    fig.suptitle("Weibull fit of 10 lifetimes, 3 censored: profile vs Wald")
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
