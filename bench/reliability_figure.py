"""Draw docs/img/reliability_plots.png, the Weibull probability plot and hazard plot of the
seal lives of docs/reliability.md: python bench/reliability_figure.py

Needs matplotlib (the ``plot`` extra). Not part of the test suite.
"""

import pathlib

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxmle as jm  # noqa: E402
from jaxmle import plot  # noqa: E402

jax.config.update("jax_enable_x64", True)

OUT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "img" / "reliability_plots.png"


def main():
    rng = np.random.default_rng(24)
    life = 8000.0 * rng.weibull(1.6, size=40)
    hours, failed = np.minimum(life, 6000.0), (life <= 6000.0).astype(int)
    res = jm.fit_dist("weibull", hours, event=failed)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    plot.plot_probability(res, {"x": hours, "event": failed}, ax=a1, xlabel="seal life (h)")
    plot.plot_hazard(res, hours, ax=a2, xlabel="seal life (h)")
    fig.tight_layout()
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
