"""Timing helpers shared by ``rljax bench`` and the scripts in ``benchmarks/``.

Compile time is measured apart from run time; run time is the median of several repeats, since the
machines are shared and noisy.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rljax.vector import make_vec


def time_compiled(fn: Callable[..., Any], *args: Any, repeats: int = 5) -> tuple[float, float]:
    """Compiles ``jax.jit(fn)`` for ``args`` and runs it ``repeats`` times.

    Returns ``(compile_seconds, median_run_seconds)``.
    """
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))  # warm-up: first-run allocations
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return compile_s, statistics.median(runs)


def random_rollout(env_id: str, num_envs: int, num_steps: int) -> Callable[[jax.Array], jax.Array]:
    """A function ``key -> checksum`` that runs ``num_steps`` batch steps of a random policy.

    Actions come from one random call per batch step; auto-reset is on (``VecEnv``). The checksum
    depends on every observation and reward so that XLA cannot drop any of the work.
    """
    venv, params = make_vec(env_id, num_envs)
    action_space = venv.action_space(params)

    def run(key: jax.Array) -> jax.Array:
        key, key_reset = jax.random.split(key)
        _, state = venv.reset(key_reset, params)

        def body(carry, _):
            state, key = carry
            key, key_action, key_step = jax.random.split(key, 3)
            action = action_space.sample_batch(key_action, num_envs)
            obs, state, reward, *_ = venv.step(key_step, state, action, params)
            return (state, key), jnp.sum(obs) + jnp.sum(reward)

        _, checksums = jax.lax.scan(body, (state, key), None, num_steps)
        return jnp.sum(checksums)

    return run


def env_throughput(env_id: str, num_envs: int, num_steps: int, repeats: int = 5) -> dict[str, Any]:
    """Random-policy steps per second of ``env_id`` at batch ``num_envs`` (median of repeats)."""
    run = random_rollout(env_id, num_envs, num_steps)
    compile_s, run_s = time_compiled(run, jax.random.key(0), repeats=repeats)
    return {
        "env": env_id,
        "num_envs": num_envs,
        "steps_per_s": num_envs * num_steps / run_s,
        "compile_s": compile_s,
        "run_s": run_s,
    }


def emit(bench: str, ours: float, anchor: float | None, unit: str, **extra: Any) -> dict[str, Any]:
    """Prints one benchmark JSON line in the project's format and returns it."""
    row = {
        "bench": bench,
        "ours": ours,
        "anchor": anchor,
        "ratio": (ours / anchor) if anchor else None,
        "unit": unit,
        **extra,
    }
    print(json.dumps(row), flush=True)
    return row
