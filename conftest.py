"""Test configuration: the main suite runs in float64 (float32 is checked in a subprocess).

Compiled kernels are shared through JAX's persistent compilation cache, in a
temporary directory made for this test run and removed at its end (all
pytest-xdist workers of the run share it): a kernel compiled by one worker, or
by an earlier test module, is loaded instead of compiled again. Set
JAXMLE_TEST_CACHE=0 to turn this off.

XLA compiles the test run's programs without its LLVM optimizations
(``--xla_backend_optimization_level=0``, appended to ``XLA_FLAGS``): most of
the suite's time is the compilation of hundreds of small fit kernels, each run
a few times on small data, and this halves it. The semantics of the programs
are the same; only the machine code is less optimized. Set
JAXMLE_TEST_OPTIMIZE=1 to compile as users do.
"""

import os
import shutil
import tempfile
from pathlib import Path

if os.environ.get("JAXMLE_TEST_OPTIMIZE", "0") != "1":
    _flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in _flags:
        os.environ["XLA_FLAGS"] = (_flags + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

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


_EXTENDED = Path(__file__).parent / "tests" / "extended.txt"
_COLLECTED = pytest.StashKey[frozenset]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the tests listed in ``tests/extended.txt`` ``extended`` (before ``-m`` selects),
    and keep the node ids of every collected test (``collected_node_ids``)."""
    config.stash[_COLLECTED] = frozenset(item.nodeid for item in items)
    lines = _EXTENDED.read_text().splitlines()
    listed = {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}
    for item in items:
        if item.nodeid in listed:
            item.add_marker(pytest.mark.extended)


@pytest.fixture
def collected_node_ids(request):
    """The node ids of the tests this run collected, before ``-m`` or ``-k`` deselected any
    (tests/test_tiers.py checks tests/extended.txt against them)."""
    return request.config.stash[_COLLECTED]


def pytest_unconfigure(config):
    if getattr(config, "_jaxmle_cache_owner", False):
        shutil.rmtree(os.environ.pop(_ENV), ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_kernels():
    """Free compiled executables after each test module: hundreds of distinct kernels in
    one process otherwise exhaust the memory-map limit of the XLA CPU runtime."""
    yield
    jax.clear_caches()
