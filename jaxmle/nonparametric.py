"""Nonparametric estimates of a lifetime distribution (numpy, no model): the Turnbull
estimate of interval-censored data, plotting positions of right-censored data, and the
largest distance between a fitted distribution function and the nonparametric estimate
(a Kolmogorov-Smirnov statistic for censored data), with the Cramer-von Mises and
Anderson-Darling statistics of censored data against the same estimate. :mod:`jaxmle.life`,
the probability plots and :func:`jaxmle.distributions.compare_families` use them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Turnbull", "turnbull", "plotting_positions", "np_cdf_distance", "np_edf_statistics"]


class Turnbull(NamedTuple):
    """The Turnbull estimate (:func:`turnbull`): probability masses on the innermost
    intervals of interval-censored data.

    Attributes:
        left, right: the innermost intervals ``(left, right]`` (``left == right``: the
            mass sits at an exactly observed time), sorted.
        mass: the probability of each interval (summing to 1).
        survival: ``S`` after each interval, ``1 - cumsum(mass)``; inside an interval
            the estimate does not say how the mass is spread.
        n_iter: self-consistency iterations.
        converged: whether the largest change of a mass fell below the tolerance.

    Example:
        >>> from jaxmle.nonparametric import turnbull
        >>> tb = turnbull([0.0, 2.0, 4.0], [3.0, 5.0, float("inf")])
        >>> tb.left.tolist(), tb.right.tolist(), tb.mass.round(4).tolist()
        ([2.0, 4.0], [3.0, 5.0], [0.5, 0.5])
    """

    left: np.ndarray
    right: np.ndarray
    mass: np.ndarray
    survival: np.ndarray
    n_iter: int
    converged: bool


def turnbull(lower, upper, weights=None, *, tol: float = 1e-10, max_iter: int = 100_000):
    """The nonparametric maximum-likelihood estimate of a lifetime distribution from
    interval-censored observations (Turnbull 1976), by the self-consistency (EM) iteration.

    Observation ``i`` is the interval ``(lower_i, upper_i]``: ``lower == upper`` an exact
    time, ``upper = inf`` right-censored, ``lower = 0`` left-censored. The estimate puts
    all its mass on the innermost intervals (a left end followed by a right end with no
    other end between them); with exact and right-censored observations only it is the
    Kaplan-Meier estimate.

    Args:
        lower, upper: the bounds, shape ``(n,)``.
        weights: frequency weights (default 1).
        tol: stop when no mass changes by more than this.
        max_iter: iteration limit.

    Returns:
        A :class:`Turnbull`.

    Example:
        >>> import numpy as np
        >>> from jaxmle.nonparametric import turnbull
        >>> tb = turnbull([1.0, 2.0, 3.0], [1.0, np.inf, 3.0])   # 1, 2+, 3: Kaplan-Meier
        >>> tb.left.tolist(), tb.survival.round(4).tolist()
        ([1.0, 3.0], [0.6667, 0.0])
    """
    lo = np.asarray(lower, float).ravel()
    hi = np.asarray(upper, float).ravel()
    w = np.ones(lo.shape) if weights is None else np.asarray(weights, float).ravel()
    if lo.shape != hi.shape or w.shape != lo.shape:
        raise ValueError(f"lower, upper and weights differ in shape: {lo.shape}, {hi.shape}")
    keep = ~(np.isnan(lo) | np.isnan(hi)) & (w > 0)
    lo, hi, w = lo[keep], hi[keep], w[keep]
    if lo.size == 0:
        raise ValueError("turnbull: no observations")
    if np.any(lo > hi):
        raise ValueError("turnbull: an interval with lower > upper")
    exact = lo == hi
    # the ends as sortable keys (value, rank): an exact time t covers (t - 0, t], its left
    # end sorts before every right end at t (rank 0); a censored interval's left end is
    # excluded, after the right ends at its value (rank 2); right ends rank 1
    l_rank = np.where(exact, 0, 2)
    ends = np.concatenate([lo, hi])
    ranks = np.concatenate([l_rank, np.ones(hi.shape, int)])
    is_left = np.concatenate([np.ones(lo.shape, bool), np.zeros(hi.shape, bool)])
    order = np.lexsort((ranks, ends))
    e, r, left = ends[order], ranks[order], is_left[order]
    pair = np.flatnonzero(left[:-1] & ~left[1:])  # a left end followed by a right end
    j_lo, j_lo_rank = e[pair], r[pair]
    j_hi = e[pair + 1]
    # observation i holds interval j when its left key <= j's left key and j's right end
    # <= its right end
    key_i = lo[:, None] + 0.0
    holds_left = (key_i < j_lo[None, :]) | (
        (key_i == j_lo[None, :]) & (l_rank[:, None] <= j_lo_rank[None, :])
    )
    alpha = holds_left & (j_hi[None, :] <= hi[:, None])
    mass = np.full(pair.size, 1.0 / pair.size)
    total = w.sum()
    n_iter, converged = 0, False
    while n_iter < max_iter and not converged:
        new = mass * ((w / (alpha @ mass)) @ alpha) / total
        converged = float(np.max(np.abs(new - mass))) < tol
        mass, n_iter = new, n_iter + 1
    survival = np.clip(1.0 - np.cumsum(mass), 0.0, 1.0)
    return Turnbull(j_lo, j_hi, mass, survival, n_iter, converged)


def plotting_positions(time, event=None, *, a: float = 0.3):
    """Plotting positions of the failures of right-censored data: Johnson's adjusted ranks
    with the median-rank approximation ``F = (rank - a) / (n + 1 - 2a)`` (Bernard's for
    ``a = 0.3``), as the ``reliability`` package computes them.

    Sorted by time (a failure before a censored time equal to it), each failure's adjusted
    rank is the previous one plus ``(n + 1 - previous) / (1 + units at or after it)``, so
    that a unit removed unfailed shares its rank among the later ones.

    Args:
        time: the times, shape ``(n,)``.
        event: 1 failure, 0 right-censored (default: all failures).
        a: the median-rank constant.

    Returns:
        ``(t, F)``: the failure times, sorted, and their plotting positions.

    Example:
        >>> from jaxmle.nonparametric import plotting_positions
        >>> t, F = plotting_positions([10.0, 20.0, 30.0, 40.0], [1, 0, 1, 1])
        >>> t.tolist(), F.round(4).tolist()
        ([10.0, 30.0, 40.0], [0.1591, 0.4621, 0.7652])
    """
    t = np.asarray(time, float).ravel()
    e = np.ones(t.shape, bool) if event is None else np.asarray(event).ravel() != 0
    if e.shape != t.shape:
        raise ValueError(f"event has shape {e.shape}; time has {t.shape}")
    ok = np.isfinite(t)
    t, e = t[ok], e[ok]
    order = np.lexsort((~e, t))
    t, e = t[order], e[order]
    n = t.size
    at_or_after = n - np.arange(n)
    ranks, prev = np.zeros(n), 0.0
    for i in np.flatnonzero(e):
        prev = prev + (n + 1 - prev) / (1 + at_or_after[i])
        ranks[i] = prev
    return t[e], (ranks[e] - a) / (n + 1 - 2 * a)


def np_cdf_distance(cdf, lower, upper) -> float:
    """The largest distance ``sup |F(t) - F_np(t)|`` between a fitted distribution function
    ``cdf`` (a vectorized callable) and the nonparametric estimate ``F_np`` of the data
    ``(lower, upper]`` (the Turnbull estimate; with exact and right-censored observations
    Kaplan-Meier's, with exact ones only the empirical distribution function).

    ``F_np`` is compared where it is defined: at the ends of each innermost interval (just
    before its mass and just after). With complete data this is the Kolmogorov-Smirnov
    statistic ``D``. Like ``D`` it has no p-value when the parameters were estimated from
    the same data; it ranks fits of several families (smaller is better).

    Example:
        >>> import numpy as np
        >>> from jaxmle.nonparametric import np_cdf_distance
        >>> x = np.array([0.5, 1.0, 2.0])
        >>> cdf = lambda t: 1 - np.exp(-t)
        >>> round(np_cdf_distance(cdf, x, x), 6)   # the KS statistic: max(i/n - F, F - (i-1)/n)
        0.393469
    """
    tb = turnbull(lower, upper)
    before = np.concatenate([[0.0], 1.0 - tb.survival[:-1]])
    after = 1.0 - tb.survival
    f_left = np.asarray(cdf(tb.left), float)
    finite = np.isfinite(tb.right)
    f_right = np.where(finite, np.asarray(cdf(np.where(finite, tb.right, tb.left)), float), 1.0)
    return float(max(np.max(np.abs(f_left - before)), np.max(np.abs(f_right - after))))


def np_edf_statistics(cdf, lower, upper) -> dict[str, float]:
    """Kolmogorov-Smirnov, Cramer-von Mises and Anderson-Darling statistics of censored data:
    the distance between a fitted distribution function ``F`` (``cdf``, a vectorized
    callable) and the nonparametric estimate ``F_np`` of the data ``(lower, upper]``
    (Kaplan-Meier's for exact and right-censored observations, Turnbull's with intervals).

    With ``n`` observations, over the range where ``F_np`` is determined (between the
    innermost intervals, not inside them; up to the largest time, not beyond a last
    right-censored one):

    * ``ks = sup |F_np - F|`` (:func:`np_cdf_distance`);
    * ``cvm = n int (F_np - F)^2 dF`` (Koziol and Green's censored-data Cramer-von Mises);
    * ``ad = n int (F_np - F)^2 / (F (1 - F)) dF``, the Anderson-Darling weight on the same
      integral.

    ``F_np`` is a constant ``c`` on each piece, so each piece ``F = a .. b`` adds, in closed
    form, ``((b - c)^3 - (a - c)^3) / 3`` and ``c^2 log(b / a) - (1 - c)^2 log((1 - b) / (1
    - a)) - (b - a)``. With complete data these are exactly the usual ``D``, ``W^2`` and
    ``A^2`` (the tests check it against :func:`~jaxmle.distributions.gof_statistics` and
    scipy); with censored data they measure the misfit where the data say something, so
    they rank fits of several families to the same data (smaller is better). As for
    complete data with estimated parameters, no p-values.

    Example:
        >>> import numpy as np
        >>> from jaxmle.nonparametric import np_edf_statistics
        >>> t = np.array([0.3, 0.8, 1.1, 1.9, 2.5])
        >>> upper = np.array([0.3, 0.8, np.inf, 1.9, np.inf])   # two right-censored
        >>> s = np_edf_statistics(lambda v: 1 - np.exp(-v / 1.5), t, upper)
        >>> sorted(s), bool(s["ad"] > 0 and s["cvm"] > 0)
        (['ad', 'cvm', 'ks'], True)
    """
    lo = np.asarray(lower, float).ravel()
    hi = np.asarray(upper, float).ravel()
    n = int(np.sum(np.isfinite(lo) | np.isfinite(hi)))
    tb = turnbull(lo, hi)
    k = tb.left.size
    c_before = np.concatenate([[0.0], 1.0 - tb.survival])  # F_np before interval j, and after all
    prev_right = np.concatenate([[-np.inf], tb.right])  # where each piece starts
    next_left = np.concatenate([tb.left, [np.inf]])  # where it ends
    ends = np.concatenate([prev_right, next_left])
    finite = np.isfinite(ends)
    f = np.where(finite, np.asarray(cdf(np.where(finite, ends, 0.0)), float), 0.0)
    f = np.where(ends == np.inf, 1.0, f)
    a, b = np.clip(f[: k + 1], 0.0, 1.0), np.clip(f[k + 1 :], 0.0, 1.0)
    c = np.clip(c_before, 0.0, 1.0)
    c = np.where(c > 1.0 - 1e-12, 1.0, np.where(c < 1e-12, 0.0, c))  # (1 - cumsum: rounding)
    use = (prev_right < np.inf) & (b > a)
    a, b, c = a[use], b[use], c[use]
    cvm = n * np.sum(((b - c) ** 3 - (a - c) ** 3) / 3.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        low_part = np.where(c > 0, c**2 * (np.log(b) - np.log(a)), 0.0)
        high_part = np.where(c < 1, (1 - c) ** 2 * (np.log1p(-b) - np.log1p(-a)), 0.0)
    ad = n * np.sum(low_part - high_part - (b - a))
    return {"ks": np_cdf_distance(cdf, lo, hi), "cvm": float(cvm), "ad": float(ad)}
