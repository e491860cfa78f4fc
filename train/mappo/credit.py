"""Difference rewards: each agent's reward minus what it would have been had that agent taken the
environment's no-op (:func:`rljax.multiagent.noop_action`), stepped from the same state with the
same key (``N`` agents, ``action [N]`` int32, rewards float32 ``[N]``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax.multiagent import noop_action


def counterfactual_actions(action: jax.Array, default_action: int) -> jax.Array:
    """int32 ``[N, N]``: row ``i`` is the joint ``action [N]`` with agent ``i``'s replaced by
    ``default_action`` (the environment's no-op, :func:`rljax.multiagent.noop_action`)."""
    n = action.shape[-1]
    return jnp.where(jnp.eye(n, dtype=jnp.bool_), default_action, action[None, :]).astype(jnp.int32)


def counterfactual_rewards(
    env: Any, env_params: Any, key: jax.Array, state: Any, action: jax.Array
) -> jax.Array:
    """float32 ``[N]``: agent ``i``'s reward had it taken the no-op and the others ``action``.

    One environment (``state`` unbatched, ``action [N]``); the ``N`` counterfactual steps are one
    vmapped call from the same ``state`` with the same ``key``.
    """
    step = lambda a: env.step(key, state, a, env_params)[2]
    # [N (replaced agent), N]
    rewards = jax.vmap(step)(counterfactual_actions(action, noop_action(env)))
    return jnp.diagonal(rewards).astype(jnp.float32)


def difference_rewards(
    env: Any, env_params: Any, key: jax.Array, state: Any, action: jax.Array
) -> jax.Array:
    """float32 ``[N]``: ``D_i = r_i(state, action) - r_i(state, action with a_i := no-op)``.

    With a shared team reward ``G`` this is ``G(all) - G(all with agent i staying)``: in Treasure
    Hunt, +10 for a treasure only agent ``i`` reached this step, -1 for its own bump, 0 for the
    step cost and for what the others did.
    """
    reward = env.step(key, state, action, env_params)[2].astype(jnp.float32)
    return reward - counterfactual_rewards(env, env_params, key, state, action)
