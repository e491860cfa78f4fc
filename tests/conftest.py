"""Shared test settings: keep JAX on the CPU and its compilation cache warm across tests.

Several tests build the same program afresh (a CLI run and its resume, a player rebuilt from a
checkpoint). A persistent compilation cache in a fresh temporary directory lets the second build
reuse the first one's executable within this session; nothing is kept between sessions.
"""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="rljax-jax-cache-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
