"""Coverage of Wald and profile intervals: 2,000 simulated Weibull datasets fitted and profiled
in one batch each."""

import numpy as np
import pytest

import jaxmle as jm

WEIBULL = jm.families.Weibull()
TRUE = {"shape": 1.5, "scale": 2.0}
B = 2000


def _coverage(n, seed):
    # every sample sits in 50 slots, the unused ones masked out: one shape, one compilation
    # of the fit and of the profile for both sample sizes
    x = TRUE["scale"] * np.random.default_rng(seed).weibull(TRUE["shape"], size=(B, 50))
    mask = np.broadcast_to(np.arange(50) < n, (B, 50))
    batch = jm.fit_batch(WEIBULL, {"x": x}, mask=mask)
    assert np.all(np.asarray(batch.nobs) == n)
    assert bool(np.all(np.asarray(batch.converged)))
    out = {}
    for method in ("wald", "profile"):
        ci = batch.conf_int(0.95, method=method)
        out[method] = {
            k: float(np.mean((np.asarray(ci[k][0]) < v) & (v < np.asarray(ci[k][1]))))
            for k, v in TRUE.items()
        }
    return out


@pytest.mark.slow
def test_wald_and_profile_cover_at_n50_and_profile_is_better_at_n10():
    cov50 = _coverage(50, 1)
    for method in ("wald", "profile"):
        for name in TRUE:
            # 95% nominal; binomial SE with 2,000 datasets is 0.5%
            assert 0.93 <= cov50[method][name] <= 0.97, (method, name, cov50)
    cov10 = _coverage(10, 2)
    # with 10 observations the Wald interval of the scale is far too short (the likelihood is
    # skewed in it: 88-89% coverage); the profile interval follows the likelihood, and its
    # worst coverage over the two parameters is closer to the nominal 95%. The shape is the
    # exception (profile 92.6%, Wald 95.5% over 8,000 datasets): its estimate is biased upwards
    # at n = 10 (mean 1.76 for 1.5) and the profile interval, following the likelihood, misses
    # low; docs/intervals.md says so.
    assert cov10["profile"]["scale"] > cov10["wald"]["scale"] + 0.02, cov10
    worst = {m: max(abs(c - 0.95) for c in cov10[m].values()) for m in cov10}
    assert worst["profile"] < worst["wald"], cov10
    assert min(cov10["profile"].values()) > 0.91, cov10
