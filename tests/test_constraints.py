"""Constraints as bijectors (round trip, shapes, log-det, support, saturation, jit/vmap),
and their construction errors (a Model's parameter layout: test_model.py)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmle as jm

inf = math.inf

# The single list every bijector property below runs over.
CONSTRAINTS = [
    jm.Real(),
    jm.Real(shape=(3,)),
    jm.Positive(),
    jm.Positive(shape=(2,)),
    jm.Bounded(-2.0, 5.0),
    jm.Bounded(1.0, inf),
    jm.Bounded(-inf, 3.0),
    jm.UnitInterval(),
    jm.UnitInterval(shape=(4,)),
    jm.Simplex(2),
    jm.Simplex(5),
]

N_DRAWS = 6
EXTREMES = (-700.0, -30.0, 30.0, 700.0)


def _draws(c, seed):
    """N_DRAWS random unconstrained vectors: standard normal draws scaled by 3."""
    rng = np.random.default_rng(seed)
    return jnp.asarray(3.0 * rng.standard_normal((N_DRAWS, c.free_size)))


def _extreme_inputs(c):
    """Constant vectors at +-30 and +-700, plus alternating-sign ones at 30 and 700."""
    out = [jnp.full((c.free_size,), a) for a in EXTREMES]
    sign = np.where(np.arange(c.free_size) % 2 == 0, 1.0, -1.0)
    out += [jnp.asarray(a * sign) for a in (30.0, 700.0)]
    return out


def _finite_edges(c):
    """The finite edges of the closed support, for values elementwise."""
    if isinstance(c, jm.Simplex):
        return (0.0, 1.0)
    if isinstance(c, jm.Bounded):  # Positive and UnitInterval are Bounded
        return tuple(e for e in (c.low, c.high) if math.isfinite(e))
    return ()


def _in_closed_support(c, v):
    v = np.asarray(v)
    if isinstance(c, jm.Simplex):
        return bool(np.all((v >= 0) & (v <= 1)) and abs(v.sum() - 1.0) <= 1e-12)
    if isinstance(c, jm.Bounded):
        return bool(np.all((v >= c.low) & (v <= c.high)))
    return bool(np.all(np.isfinite(v)))


def _ids(c):
    return repr(c)


@pytest.mark.parametrize("c", CONSTRAINTS, ids=_ids)
class TestBijector:
    def test_round_trip(self, c):
        for u in _draws(c, 0):
            back = c.inverse(c.forward(u))
            # exact map up to rounding: worst case is a sigmoid at |u| ~ 10, where
            # high - value loses ~4 digits to cancellation (~1e-12 in u)
            np.testing.assert_allclose(np.asarray(back), np.asarray(u), rtol=1e-10, atol=1e-10)

    def test_shapes(self, c):
        u = _draws(c, 1)[0]
        v = c.forward(u)
        assert v.shape == c.shape
        assert c.inverse(v).shape == (c.free_size,)
        assert c.forward_log_det_jacobian(u).shape == ()
        expected_free = c.k - 1 if isinstance(c, jm.Simplex) else math.prod(c.shape)
        assert c.free_size == expected_free

    def test_log_det_matches_autodiff_jacobian(self, c):
        m = c.free_size

        def first_free(u):  # for Simplex: the first k-1 components, else all of them
            return jnp.reshape(c.forward(u), (-1,))[:m]

        for u in _draws(c, 2):
            J = jax.jacfwd(first_free)(u)
            assert J.shape == (m, m)
            sign, logabsdet = jnp.linalg.slogdet(J)
            assert float(sign) != 0.0
            got = float(c.forward_log_det_jacobian(u))
            # reference: log|det| of the autodiff Jacobian, computed independently by LU
            assert math.isclose(got, float(logabsdet), rel_tol=1e-10, abs_tol=1e-10), (u, got)

    def test_forward_lands_in_constraint(self, c):
        for u in _draws(c, 3):
            inside = c.check(np.asarray(c.forward(u)))
            assert np.all(inside), (u, c.forward(u))
        # and its own default starting value is inside, and survives the round trip
        d = c.default_init(jnp.float64)
        assert np.all(c.check(np.asarray(d)))
        np.testing.assert_allclose(np.asarray(c.forward(c.inverse(d))), np.asarray(d), rtol=1e-12)

    def test_extreme_inputs_stay_finite_and_in_support(self, c):
        edges = _finite_edges(c)
        for u in _extreme_inputs(c):
            v = np.asarray(c.forward(u))
            assert np.all(np.isfinite(v)), (u, v)
            assert _in_closed_support(c, v), (u, v)
            saturated = any(np.any(v == e) for e in edges)
            ld = float(c.forward_log_det_jacobian(u))
            if not saturated:
                assert math.isfinite(ld), (u, v, ld)
            assert not math.isnan(ld), (u, v, ld)

    def test_jit_and_vmap_match_eager(self, c):
        U = _draws(c, 4)
        fwd_jit = jax.jit(c.forward)
        ld_jit = jax.jit(c.forward_log_det_jacobian)
        fwd_vmap = jax.vmap(c.forward)(U)
        ld_vmap = jax.vmap(c.forward_log_det_jacobian)(U)
        inv_vmap = jax.vmap(c.inverse)(fwd_vmap)
        assert fwd_vmap.shape == (N_DRAWS,) + c.shape
        assert ld_vmap.shape == (N_DRAWS,)
        for i, u in enumerate(U):
            v = c.forward(u)
            ld = c.forward_log_det_jacobian(u)
            # same arithmetic; XLA may fuse differently, so allow a few ulps
            np.testing.assert_allclose(np.asarray(fwd_jit(u)), np.asarray(v), rtol=1e-14, atol=0)
            np.testing.assert_allclose(np.asarray(fwd_vmap[i]), np.asarray(v), rtol=1e-14, atol=0)
            np.testing.assert_allclose(float(ld_jit(u)), float(ld), rtol=1e-14, atol=1e-14)
            np.testing.assert_allclose(float(ld_vmap[i]), float(ld), rtol=1e-14, atol=1e-14)
            np.testing.assert_allclose(
                np.asarray(inv_vmap[i]), np.asarray(c.inverse(v)), rtol=1e-14, atol=1e-14
            )


# --------------------------------------------------------------------------
# construction errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize("low, high", [(5.0, 1.0), (2.0, 2.0), (math.nan, 1.0), (inf, inf)])
def test_bounded_needs_low_below_high(low, high):
    with pytest.raises(ValueError, match=r"low < high"):
        jm.Bounded(low, high)


@pytest.mark.parametrize("k", [1, 0, -3])
def test_simplex_needs_two_categories(k):
    with pytest.raises(ValueError, match=r"k >= 2"):
        jm.Simplex(k)
