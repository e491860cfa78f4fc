"""SAC's evaluation hooks (``rljax eval``, the run driver): one seed's deterministic policy (the
squashed mean, rescaled to the env's bounds) as an episode policy (:func:`episode_policy`),
its episodes' returns and lengths (:func:`evaluate_policy`) and one recorded episode
(:func:`record_episode`)."""

from __future__ import annotations

from typing import Any

import jax

from rljax.learning import recording
from rljax.learning.episodes import Policy, ProgramCache
from rljax.train.sac.config import Config
from rljax.train.sac.off_policy import TrainState, box_policy, make_setup
from rljax.train.sac.policy import greedy_action, make_networks

# Jitted evaluation programs, one per static config and settings (rljax eval calls repeatedly).
_PROGRAMS = ProgramCache()


def episode_policy(config: Config, state: TrainState) -> Policy:
    """One environment's deterministic ``policy(key, env_state, obs) -> action [A]`` of a
    trained ``state`` (one seed), for :mod:`rljax.learning.episodes`: the squashed mean."""
    actor, _ = make_networks(config, make_setup(config).action_dim)
    return box_policy(config, state, lambda params, obs: greedy_action(actor, params, obs))


def evaluate_policy(
    config: Config, state: TrainState, episodes: int, key: jax.Array, max_steps: int
) -> dict[str, Any]:
    """``{"returns": float64 [E], "lengths": int32 [E]}`` of ``episodes`` deterministic episodes.

    ``state`` is one seed's (no seed axis); episode ``i`` plays from ``jax.random.split(key,
    episodes)[i]`` for at most ``max_steps`` steps. Host arrays; compiled once per static config.
    """
    return recording.evaluate_policy(
        _PROGRAMS, episode_policy, config, state, episodes, key, max_steps
    )


def record_episode(
    config: Config, state: TrainState, key: jax.Array, max_steps: int
) -> tuple[int, dict[str, Any]]:
    """``(length, trajectory)`` of one deterministic episode from ``key`` (host arrays), the
    trajectory as :mod:`rljax.render` draws it (:func:`rljax.learning.recording.record_episode`)."""
    return recording.record_episode(_PROGRAMS, episode_policy, config, state, key, max_steps)
