"""Shared by the classic-control tests: one compiled, padded, vmapped step for checking many
(state, action) rows against a reference."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def padded_batch_step(env, make_batch: Callable, state_dim: int, pad: int) -> Callable:
    """``run(states [N, state_dim], actions [N], params, time [N] or None) -> host outputs [N]``,
    ``N <= pad``: every call is padded to ``pad`` rows so the module compiles the vmapped step
    once. ``make_batch(states [pad, state_dim], time [pad])`` builds the env's batched state."""
    step = jax.jit(jax.vmap(env.step, in_axes=(None, 0, 0, None)))

    def run(states, actions, params, time=None):
        n = len(states)
        assert n <= pad
        time = np.zeros(n, np.int32) if time is None else np.asarray(time, np.int32)
        padded = np.zeros((pad, state_dim), np.float32)
        padded[:n] = states
        batch = make_batch(padded, np.pad(time, (0, pad - n)))
        acts = jnp.asarray(np.pad(np.asarray(actions, np.int32), (0, pad - n)))
        out = jax.device_get(step(jax.random.key(0), batch, acts, params))
        return jax.tree.map(lambda x: x[:n], out)

    return run
