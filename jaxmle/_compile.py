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

import contextlib
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "XLA_OPTIONS",
    "XLA_OPTIONS_F64",
    "compiler_options",
    "tuned_jit",
    "under_transformation",
    "cache_dir",
    "worker_settings",
    "worker_context",
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
    default CPU emitters take several milliseconds per fused loop, and a fit with its
    solver, its statuses and its standard errors has over a hundred. With these options a
    jitted logistic-regression fit traced and compiled in 0.8 s instead of 1.5 s, and a
    gradient through it in 1.4 s instead of 2.3 s (``bench/RESULTS-embedding.md`` (d),
    medians of 3 compiles on a 2-core machine, beside optimistix with both settings).
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


# --------------------------------------------------------------------------
# the persistent compilation cache, and the settings a worker process follows
# --------------------------------------------------------------------------
#: values of ``JAXMLE_CACHE_DIR`` that turn the persistent compilation cache off
CACHE_OFF = ("", "0", "off", "false", "no", "none")
#: compilations shorter than this are not written to the persistent cache
CACHE_MIN_COMPILE_SECS = 0.2


def cache_dir() -> str | None:
    """The persistent compilation cache folder the command line uses, or ``None`` when off.

    ``$JAXMLE_CACHE_DIR`` when set (``off``, ``0``, ``none`` or empty: no
    cache), else ``$XDG_CACHE_HOME/jaxmle``, else ``~/.cache/jaxmle``.

    Example:
        >>> import os
        >>> from jaxmle.cli import cache_dir
        >>> os.environ["JAXMLE_CACHE_DIR"] = "off"
        >>> cache_dir() is None
        True
        >>> del os.environ["JAXMLE_CACHE_DIR"]
    """
    env = os.environ.get("JAXMLE_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in CACHE_OFF else os.path.expanduser(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxmle")


def worker_settings(cache: str | bool | None = None) -> dict:
    """What a worker process of a distributed fit follows from the driver: float64 or not, and
    the persistent compilation cache folder.

    ``cache``: a folder (shared storage: every worker reads what one compiled),
    ``False`` (no persistent cache), or ``None``: the driver's
    ``jax_compilation_cache_dir`` when it has one, else each worker's own
    :func:`cache_dir` (``$JAXMLE_CACHE_DIR`` or ``~/.cache/jaxmle`` where the
    worker runs: one cache per machine).

    Example:
        >>> from jaxmle._compile import worker_settings
        >>> worker_settings("/shared/jaxmle-cache")["cache"]
        '/shared/jaxmle-cache'
        >>> worker_settings(False)["cache"] is False
        True
    """
    if cache is None:
        cache = jax.config.jax_compilation_cache_dir
    if cache is True:
        cache = None
    return {"x64": bool(jax.config.jax_enable_x64), "cache": cache}


_WORKER_CACHE: list = []  # the folder this process set up (once)


def _use_cache(cache) -> None:
    if cache is False or _WORKER_CACHE:
        return
    _WORKER_CACHE.append(cache)
    if jax.config.jax_compilation_cache_dir is not None:  # the worker's own setting wins
        return
    path = cache_dir() if cache is None else cache
    if path is None:
        return
    if "://" not in path:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            return  # an unwritable folder: compile without the cache
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECS)
    compilation_cache.reset_cache()


@contextlib.contextmanager
def worker_context(settings: dict):
    """Run a part of a distributed fit as the driver would: its float64 setting (for this
    thread only) and, set once per process, its persistent compilation cache.

    Example:
        >>> import jax
        >>> from jaxmle._compile import worker_context, worker_settings
        >>> with worker_context({**worker_settings(False), "x64": True}):
        ...     print(jax.numpy.zeros(1).dtype)
        float64
    """
    _use_cache(settings.get("cache"))
    with jax.enable_x64(settings["x64"]):
        yield
