"""PQN's evaluation hooks (``rljax eval``, the run driver): one seed's greedy policy as an episode
policy (:func:`episode_policy`), greedy episodes' returns and lengths (:func:`evaluate_policy`)
and one recorded episode (:func:`record_episode`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax.learning import recording
from rljax.learning.episodes import Policy
from rljax.train.pqn.config import Config
from rljax.train.pqn.policy import make_setup
from rljax.train.pqn.state import TrainState


def episode_policy(config: Config, state: TrainState) -> Policy:
    """One environment's ``policy(key, env_state, obs) -> action int32`` of a trained ``state``
    (one seed): the greedy action, argmax of Q (no exploration)."""
    network = make_setup(config).network

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        q = network.apply(state.params, obs.astype(jnp.float32))
        return jnp.argmax(q, axis=-1).astype(jnp.int32)

    return policy


# ``evaluate_policy(config, state, episodes, key, max_steps) -> {"returns": float64 [E],
# "lengths": int32 [E]}`` of greedy episodes, and ``record_episode(config, state, key, max_steps)
# -> (length, trajectory)`` (rljax.learning.recording), each compiled once per static config.
HOOKS = recording.EpisodeHooks(episode_policy)
evaluate_policy = HOOKS.evaluate_policy
record_episode = HOOKS.record_episode
