"""How jaxmle's own computations are compiled: ``jax.jit`` with measured XLA options.

Two options of XLA's CPU backend, measured on the chunk kernels of the four
benchmark workloads (bench/run.py), compiled both ways and run interleaved:

* ``xla_cpu_experimental_ynn_fusion_type=""``: no "YNN" fusions. For the shapes
  of a batched fit (thousands of datasets, a handful of parameters: arrays like
  ``(chunk, 4, 5)`` reduced over a short last axis) those loops ran 1.3 to 1.5
  times slower than XLA's own (W1, W2, W4; W3 unchanged).
* ``xla_cpu_use_fusion_emitters=False``: the older loop emitter, which compiles
  a fit kernel in 35 to 45% less time (W1 2.2 s to 1.35 s) at the same speed
  (within 3%).

In float64 one more (:data:`XLA_OPTIONS_F64`): XLA's CPU "tree reduction"
rewrite is off. It splits every sum over more than 32 numbers into blocks of
32 (a ``reduce-window``) and, in doing so, keeps the sum from fusing with what
it sums: the derivatives of a per-observation log-likelihood are several sums
over the observations, and each of their summands was written to memory and
read back. Without it the derivatives of a Gaussian loglik over (262, 1000)
datasets took 0.20 ms instead of 0.54 ms, as fast as their closed form. The
sums are then accumulated in XLA's vectorized loop instead of blocks of 32: in
float64 the difference is at the rounding level (1.8e-13 relative on that
Hessian); in float32, where it would not be, the rewrite stays on.

The options are per computation (``jax.jit(compiler_options=...)``): nothing
global is changed, and the user's own ``jit`` code is compiled as usual.

``compiler_options`` are only allowed on a top-level ``jit``: inside a user's
``jit``, ``vmap`` or ``grad`` the plain function is used (it is inlined into the
user's computation anyway), and an XLA that does not know an option (older or
newer jaxlib) gets the plain function too.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "XLA_OPTIONS",
    "XLA_OPTIONS_F64",
    "compiler_options",
    "tuned_jit",
    "under_transformation",
]

#: compile options of jaxmle's kernels (see the module docstring)
XLA_OPTIONS: dict = {
    "xla_cpu_experimental_ynn_fusion_type": "",
    "xla_cpu_use_fusion_emitters": False,
}
#: the same where every floating-point input is float64: sums fused with their summands
XLA_OPTIONS_F64: dict = {**XLA_OPTIONS, "xla_disable_hlo_passes": "tree_reduction_rewriter"}


def compiler_options(dtype="float64") -> dict:
    """The XLA options jaxmle compiles its own fits with, for your own ``jax.jit`` of a
    program that contains fits: ``jax.jit(step, compiler_options=jm.compiler_options())``.

    Inside your ``jit`` a fit is part of your program and compiled with your options; XLA's
    default CPU emitters take about 25 ms per fused loop, and a fit with its solver, its
    statuses and its standard errors has a hundred or more. With these options a jitted
    logistic-regression fit compiled in 2.6 s instead of 5.5 s, and a gradient through it in
    4.1 s instead of 7.4 s (medians of 5, one loaded 2-core machine; bench/embedding.py).
    The options apply to the whole program: they suit small arrays and many loops (XLA's
    older loop emitter, no "YNN" fusions); time your own code with and without them.
    ``dtype``: the floating dtype of the program; for float64, sums are also fused with
    their summands (XLA's tree-reduction rewrite off), which changes float64 sums at the
    rounding level only. On GPU and TPU the CPU options do nothing.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> f = jax.jit(lambda x: jnp.sum(x**2), compiler_options=jm.compiler_options("float32"))
        >>> float(f(jnp.arange(3.0)))
        5.0
    """
    if jnp.dtype(dtype) == jnp.float64:
        return dict(XLA_OPTIONS_F64)
    return dict(XLA_OPTIONS)


def is_traced(tree) -> bool:
    """Whether any leaf of ``tree`` is a tracer (inside ``jit``, ``vmap``, ``grad``)."""
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


def under_transformation() -> bool:
    """Whether this call runs inside a JAX transformation (jit, vmap, grad, ...).

    Example:
        >>> import jax
        >>> from jaxmle._compile import under_transformation
        >>> under_transformation()
        False
        >>> jax.jit(lambda x: x + under_transformation())(1).item()
        2
    """
    try:
        from jax._src import core
    except ImportError:  # pragma: no cover
        return False
    clean = getattr(core, "trace_state_clean", None)
    return clean is not None and not clean()


def _all_float64(tree) -> bool:
    """Whether every floating-point array, NumPy scalar or dtype (a kernel's static ``dtype``:
    a float64 fit of integer data) in ``tree`` is float64, and there is at least one."""
    kinds = set()
    for x in jax.tree_util.tree_leaves(tree):
        if isinstance(x, (jax.Array, np.ndarray, np.generic)):
            x = x.dtype
        if isinstance(x, np.dtype) and jnp.issubdtype(x, jnp.floating):
            kinds.add(str(x))
    return kinds == {"float64"}


class _Tuned:
    """A function jitted three times: with :data:`XLA_OPTIONS_F64` (called at top level on
    float64 inputs), :data:`XLA_OPTIONS` (other top-level calls) and plain."""

    def __init__(self, fun, jit_kwargs):
        self.plain = jax.jit(fun, **jit_kwargs)
        self.tuned = jax.jit(fun, compiler_options=XLA_OPTIONS, **jit_kwargs)
        self.tuned64 = jax.jit(fun, compiler_options=XLA_OPTIONS_F64, **jit_kwargs)
        self.options_known = True  # this XLA accepts the options (set False on the first refusal)
        functools.update_wrapper(self, fun)

    def _pick(self, args, kwargs):
        if not self.options_known:
            return self.plain
        return self.tuned64 if _all_float64((args, kwargs)) else self.tuned

    def __call__(self, *args, **kwargs):
        if not self.options_known or under_transformation():
            return self.plain(*args, **kwargs)
        try:
            return self._pick(args, kwargs)(*args, **kwargs)
        except RuntimeError as err:  # jax's JaxRuntimeError (XlaRuntimeError before)
            if "compile option" not in str(err):
                raise
            self.options_known = False
            return self.plain(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._pick(args, kwargs).lower(*args, **kwargs)

    def _cache_size(self) -> int:
        return sum(f._cache_size() for f in (self.plain, self.tuned, self.tuned64))

    def clear_cache(self) -> None:
        for f in (self.plain, self.tuned, self.tuned64):
            f.clear_cache()


def tuned_jit(fun=None, **jit_kwargs):
    """``jax.jit(fun, **jit_kwargs)``, compiled with :data:`XLA_OPTIONS` when called at top level
    (:data:`XLA_OPTIONS_F64` when every floating input is float64).

    Usable as a decorator, with or without arguments.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle._compile import tuned_jit
        >>> @tuned_jit(static_argnames=("k",))
        ... def power(x, k):
        ...     return x**k
        >>> power(jnp.arange(3.0), k=2).tolist()
        [0.0, 1.0, 4.0]
    """
    if fun is None:
        return functools.partial(tuned_jit, **jit_kwargs)
    return _Tuned(fun, jit_kwargs)
