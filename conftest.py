"""Test configuration: the main suite runs in float64 (float32 is checked in a subprocess).

Compiled kernels are shared through JAX's persistent compilation cache, in a
temporary directory made for this test run and removed at its end (all
pytest-xdist workers of the run share it): a kernel compiled by one worker, or
by an earlier test module, is loaded instead of compiled again. Set
JAXMLE_TEST_CACHE=0 to turn this off.
"""

import os
import shutil
import tempfile

import jax

jax.config.update("jax_enable_x64", True)


import pytest  # noqa: E402

_ENV = "JAXMLE_TEST_CACHE_DIR"


def pytest_configure(config):
    if os.environ.get("JAXMLE_TEST_CACHE", "1") == "0":
        return
    if not hasattr(config, "workerinput") and _ENV not in os.environ:
        # the controlling process (or a run without workers) makes the directory;
        # workers inherit it through the environment
        os.environ[_ENV] = tempfile.mkdtemp(prefix="jaxmle-test-cache-")
        config._jaxmle_cache_owner = True
    jax.config.update("jax_compilation_cache_dir", os.environ[_ENV])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
    if getattr(config, "_jaxmle_cache_owner", False):
        shutil.rmtree(os.environ.pop(_ENV), ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_kernels():
    """Free compiled executables after each test module: hundreds of distinct kernels in
    one process otherwise exhaust the memory-map limit of the XLA CPU runtime."""
    yield
    jax.clear_caches()
