"""Test configuration: the main suite runs in float64 (float32 is checked in a subprocess)."""

import jax

jax.config.update("jax_enable_x64", True)
