"""Test configuration: the main suite runs in float64 (float32 is checked in a subprocess)."""

import jax

jax.config.update("jax_enable_x64", True)


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_kernels():
    """Free compiled executables after each test module: hundreds of distinct kernels in
    one process otherwise exhaust the memory-map limit of the XLA CPU runtime."""
    yield
    jax.clear_caches()
