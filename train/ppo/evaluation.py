"""PPO's evaluation hooks (``rljax eval``, the run driver): one seed's trained policy as an
episode policy (:func:`episode_policy`), greedy episodes' returns and lengths
(:func:`evaluate_policy`) and one recorded episode (:func:`record_episode`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax.learning import recording
from rljax.learning.episodes import Policy
from rljax.train.ppo.config import Config
from rljax.train.ppo.policy import make_policy, normalize_for_policy
from rljax.train.ppo.state import TrainState


def episode_policy(config: Config, state: TrainState, deterministic: bool = True) -> Policy:
    """One environment's ``policy(key, env_state, obs) -> action`` of a trained ``state`` (one
    seed), for :mod:`rljax.learning.episodes`: greedy (the mode) or sampled."""
    act = make_policy(config)

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        obs = normalize_for_policy(config, state, obs[None].astype(jnp.float32))
        return act(state.params, obs, key, deterministic)[0]

    return policy


# ``evaluate_policy(config, state, episodes, key, max_steps) -> {"returns": float64 [E],
# "lengths": int32 [E]}`` of greedy episodes, and ``record_episode(config, state, key, max_steps)
# -> (length, trajectory)`` (rljax.learning.recording), each compiled once per static config.
HOOKS = recording.EpisodeHooks(episode_policy)
evaluate_policy = HOOKS.evaluate_policy
record_episode = HOOKS.record_episode
