"""The fit kernels' compile options: used at top level, never inside a user's transformation,
and dropped (not failing) where this XLA does not know them."""

import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxmle as jm
from jaxmle._compile import XLA_OPTIONS_F64, tuned_jit

FIT = sys.modules["jaxmle.fit"]


def test_unknown_option_falls_back_to_plain_jit():
    f = tuned_jit(lambda x: 2 * x)
    f.tuned = f.tuned64 = jax.jit(lambda x: 2 * x, compiler_options={"xla_cpu_no_such_option": ""})
    assert f(jnp.arange(3.0)).tolist() == [0.0, 2.0, 4.0]
    assert not f.options_known
    assert f(jnp.ones(2)).tolist() == [2.0, 2.0]  # later calls go straight to the plain jit


def test_other_runtime_errors_are_not_swallowed():
    f = tuned_jit(lambda x: x)

    def fail(*a, **k):
        raise RuntimeError("INTERNAL: something else")

    f.tuned = f.tuned64 = fail
    try:
        f(1.0)
    except RuntimeError as err:
        assert "something else" in str(err)
    else:  # pragma: no cover
        raise AssertionError("the error was swallowed")
    assert f.options_known


def test_kernels_are_tuned_and_work_inside_a_users_jit():
    kernels = (FIT._kernel_batch, FIT._kernel_jit, FIT._kernel_chunk)
    assert all(isinstance(k, type(tuned_jit(abs))) for k in kernels)  # made by tuned_jit
    chunk = FIT._kernel_chunk
    model = jm.families.Normal()
    x = np.random.default_rng(0).normal(1.0, 2.0, size=(3, 41))  # a shape no other test fits
    sizes = [f._cache_size() for f in (chunk.tuned64, chunk.tuned, chunk.plain)]
    top = jm.fit_batch(model, {"x": x})  # top level, float64: the float64 options
    inner = jax.jit(lambda d: jm.fit_batch(model, {"x": d}).params["loc"])(x)  # nested: plain
    assert chunk.tuned64._cache_size() == sizes[0] + 1
    assert [chunk.tuned._cache_size(), chunk.plain._cache_size()] == sizes[1:]
    np.testing.assert_allclose(np.asarray(inner), np.asarray(top.params["loc"]), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(top.params["loc"]), x.mean(axis=1), rtol=1e-12)


def test_float64_fit_of_integer_data_gets_the_float64_options():
    """The kernel's static dtype counts: integer counts fitted in float64 compile with
    XLA_OPTIONS_F64, like float64 data."""
    chunk = FIT._kernel_chunk
    counts = np.random.default_rng(1).poisson(3.0, size=(4, 37))
    before = chunk.tuned64._cache_size(), chunk.tuned._cache_size()
    res = jm.fit_batch(jm.families.Poisson(), {"x": counts})
    assert (chunk.tuned64._cache_size(), chunk.tuned._cache_size()) == (before[0] + 1, before[1])
    np.testing.assert_allclose(np.asarray(res.params["rate"]), counts.mean(axis=1), rtol=1e-12)


def test_float64_sums_fuse_with_their_summands_and_float32_keeps_the_tree_reduction():
    """In float64 the tree-reduction rewrite is off (a sum over 1,000 numbers is one fused
    loop, not blocks of 32 written to memory); float32 inputs keep it, for accuracy."""
    assert XLA_OPTIONS_F64["xla_disable_hlo_passes"] == "tree_reduction_rewriter"
    f = tuned_jit(lambda x: jnp.sum(jnp.exp(x) * x, axis=-1))
    x64 = np.linspace(0.0, 1.0, 4000).reshape(4, 1000)
    x32 = x64.astype(np.float32)
    assert "reduce-window" not in f.lower(jnp.asarray(x64)).compile().as_text()
    assert "reduce-window" in f.lower(jnp.asarray(x32)).compile().as_text()
    want = np.sum(np.exp(x64) * x64, axis=-1)
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(x64))), want, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(x32))), want, rtol=1e-6)
    assert f.tuned64._cache_size() == 1 and f.tuned._cache_size() == 1
