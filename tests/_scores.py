"""Score functions (per-observation gradients of the log-density) written by hand, the
independent references of the family tests; each is checked against central differences of
scipy's logpdf where it is used."""

import numpy as np
import scipy.special as sp


def score_student_t(x, loc, scale, df):
    z = (x - loc) / scale
    w = (df + 1) / (df + z**2)
    d_df = 0.5 * (
        sp.digamma((df + 1) / 2)
        - sp.digamma(df / 2)
        - 1 / df
        - np.log1p(z**2 / df)
        + (df + 1) * z**2 / (df * (df + z**2))
    )
    return np.column_stack([w * z / scale, (w * z**2 - 1) / scale, d_df])


def score_loglogistic(x, shape, scale):
    t = np.tanh(shape * np.log(x / scale) / 2)  # ((x/scale)^c - 1) / ((x/scale)^c + 1)
    return np.column_stack([1 / shape - np.log(x / scale) * t, shape * t / scale])


def difference_scores(logpdf, x, theta, rel=1e-5):
    """Per-observation scores (n, p): central differences of a scipy logpdf."""
    theta = np.asarray(theta, float)
    cols = []
    for j in range(theta.size):
        e = np.zeros(theta.size)
        e[j] = rel * max(abs(theta[j]), 1.0)
        cols.append((logpdf(x, *(theta + e)) - logpdf(x, *(theta - e))) / (2 * e[j]))
    return np.column_stack(cols)
