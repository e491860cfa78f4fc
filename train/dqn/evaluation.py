"""DQN's evaluation hooks (``rljax eval``, the run driver): one seed's greedy policy as an
episode policy (:func:`episode_policy`), greedy episodes' returns and lengths
(:func:`evaluate_policy`) and one recorded episode (:func:`record_episode`).

Greedy means ``argmax_a Q(obs, a)`` (the expected value for C51) with no epsilon and, for noisy
nets, the mean weights.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax.learning import recording
from rljax.learning.episodes import Policy
from rljax.train.dqn.config import Config
from rljax.train.dqn.policy import action_values, apply, make_setup, support
from rljax.train.dqn.state import TrainState


def episode_policy(config: Config, state: TrainState) -> Policy:
    """One environment's greedy ``policy(key, env_state, obs) -> action`` of a trained ``state``
    (one seed), for :mod:`rljax.learning.episodes`."""
    network = make_setup(config).network
    atoms = support(config, config.hparams())

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        out = apply(config, network, state.params, obs[None].astype(jnp.float32), None)
        return jnp.argmax(action_values(config, out, atoms)[0]).astype(jnp.int32)

    return policy


# ``evaluate_policy(config, state, episodes, key, max_steps) -> {"returns": float64 [E],
# "lengths": int32 [E]}`` of greedy episodes, and ``record_episode(config, state, key, max_steps)
# -> (length, trajectory)`` (rljax.learning.recording), each compiled once per static config.
HOOKS = recording.EpisodeHooks(episode_policy)
evaluate_policy = HOOKS.evaluate_policy
record_episode = HOOKS.record_episode
