"""PQN's evaluation hooks (``rljax eval``, the run driver): one seed's greedy policy as an episode
policy (:func:`episode_policy`), greedy episodes' returns and lengths (:func:`evaluate_policy`)
and one recorded episode (:func:`record_episode`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax.learning import recording
from rljax.learning.episodes import Policy, ProgramCache
from rljax.train.pqn.config import Config
from rljax.train.pqn.policy import make_setup
from rljax.train.pqn.state import TrainState

# Jitted evaluation programs, one per static config and settings (rljax eval calls repeatedly).
_PROGRAMS = ProgramCache()


def episode_policy(config: Config, state: TrainState) -> Policy:
    """One environment's ``policy(key, env_state, obs) -> action int32`` of a trained ``state``
    (one seed): the greedy action, argmax of Q (no exploration)."""
    network = make_setup(config).network

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        q = network.apply(state.params, obs.astype(jnp.float32))
        return jnp.argmax(q, axis=-1).astype(jnp.int32)

    return policy


def evaluate_policy(
    config: Config, state: TrainState, episodes: int, key: jax.Array, max_steps: int
) -> dict[str, Any]:
    """``{"returns": float64 [E], "lengths": int32 [E]}`` of ``episodes`` greedy episodes.

    ``state`` is one seed's (no seed axis); episode ``i`` plays from ``jax.random.split(key,
    episodes)[i]`` for at most ``max_steps`` steps. Host arrays; compiled once per static config.
    """
    return recording.evaluate_policy(
        _PROGRAMS, episode_policy, config, state, episodes, key, max_steps
    )


def record_episode(
    config: Config, state: TrainState, key: jax.Array, max_steps: int
) -> tuple[int, dict[str, Any]]:
    """``(length, trajectory)`` of one greedy episode from ``key`` (host arrays), the trajectory
    as :mod:`rljax.render` draws it (:func:`rljax.learning.recording.record_episode`)."""
    return recording.record_episode(_PROGRAMS, episode_policy, config, state, key, max_steps)
