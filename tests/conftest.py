"""Shared test settings: keep JAX on the CPU and its compilation cache warm across tests.

Several tests build the same program afresh (a CLI run and its resume, a player rebuilt from a
checkpoint). A persistent compilation cache in a fresh temporary directory lets the second build
reuse the first one's executable within this session; nothing is kept between sessions. Under
pytest-xdist (pyproject's addopts) each worker process makes its own directory: its files run
there whole (``--dist loadfile``), and no worker reads an entry another one is still writing.
"""

import os
import tempfile

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run by default, so CI is reproducible; the
# "explore" profile draws new ones each run, more of them (HYPOTHESIS_PROFILE=explore pytest):
# run it as its own job to keep hunting for bugs.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=200, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="rljax-jax-cache-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@pytest.fixture
def clean_registry():
    """Restores the environment registry after a test that registers, replaces or removes ids."""
    from rljax import env

    saved = {env_id: env.registration(env_id) for env_id in env.registered_ids()}
    yield
    for env_id in env.registered_ids():
        if env_id not in saved:
            env.unregister(env_id)
    for env_id, registration in saved.items():
        env.register(
            env_id, registration.entry_point, renderer=registration.renderer, overwrite=True
        )


@pytest.fixture
def fresh_compilation():
    """Turns the persistent compilation cache off for one test, so that a program jitted again is
    compiled again (a determinism check that reran one executable could not fail)."""
    from jax.experimental.compilation_cache import compilation_cache as cc

    jax.config.update("jax_enable_compilation_cache", False)
    cc.reset_cache()
    yield
    jax.config.update("jax_enable_compilation_cache", True)
    cc.reset_cache()
