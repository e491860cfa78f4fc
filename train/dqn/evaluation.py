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
from rljax.learning.episodes import Policy, ProgramCache
from rljax.train.dqn.config import Config
from rljax.train.dqn.policy import action_values, apply, make_setup, support
from rljax.train.dqn.state import TrainState

# Jitted evaluation programs, one per static config and settings (rljax eval calls repeatedly).
_PROGRAMS = ProgramCache()


def episode_policy(config: Config, state: TrainState) -> Policy:
    """One environment's greedy ``policy(key, env_state, obs) -> action`` of a trained ``state``
    (one seed), for :mod:`rljax.learning.episodes`."""
    network = make_setup(config).network
    atoms = support(config, config.hparams())

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        out = apply(config, network, state.params, obs[None].astype(jnp.float32), None)
        return jnp.argmax(action_values(config, out, atoms)[0]).astype(jnp.int32)

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
