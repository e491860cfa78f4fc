"""Evaluation episodes of a trained policy, compiled once per static config.

The ``evaluate_policy`` and ``record_episode`` hooks of :class:`rljax.run.algorithm.Algorithm`,
written once for the algorithms that act through an episode policy (:mod:`rljax.train.ppo`,
:mod:`rljax.train.mappo`, :mod:`rljax.train.pqn`, :mod:`rljax.train.dqn`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from rljax.env import make
from rljax.learning.episodes import Policy, ProgramCache, play_episode, run_episodes


def record_episode(
    programs: ProgramCache,
    episode_policy: Callable[[Any, Any], Policy],
    config: Any,
    state: Any,
    key: jax.Array,
    max_steps: int,
) -> tuple[int, dict[str, Any]]:
    """``(length, trajectory)`` of one greedy episode from ``key`` (host arrays), the trajectory
    as :mod:`rljax.render` draws it (:func:`rljax.learning.episodes.play_episode`).

    ``episode_policy(config, state) -> policy`` is the algorithm's greedy policy of one seed's
    ``state``; the jitted program is kept in the algorithm's ``programs`` under
    ``("record", max_steps)``. ``config`` has ``env_id`` and ``env_kwargs``.
    """
    env, env_params = make(config.env_id, **dict(config.env_kwargs))

    def build():
        return jax.jit(
            lambda s, k: play_episode(
                env, env_params, episode_policy(config, s), k, max_steps, record=True
            )
        )

    result = jax.device_get(programs.get(config, ("record", max_steps), build)(state, key))
    return int(result["length"]), result["trajectory"]


def evaluate_policy(
    programs: ProgramCache,
    episode_policy: Callable[[Any, Any], Policy],
    config: Any,
    state: Any,
    episodes: int,
    key: jax.Array,
    max_steps: int,
    info_sums: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``{"returns": float64 [E], "lengths": int32 [E]}`` of ``episodes`` greedy episodes; with
    ``info_sums``, each named ``info`` entry's episode sums' mean as ``"mean_<name>"`` and the
    share of episodes where it was above 0 as ``"<name>_episode_rate"`` (floats).

    ``state`` is one seed's (no seed axis); episode ``i`` plays from ``jax.random.split(key,
    episodes)[i]`` for at most ``max_steps`` steps. Host arrays; the jitted program is kept in
    ``programs`` under ``("evaluate", episodes, max_steps)``, so hyperparameter leaves of
    ``config`` do not compile it again.
    """
    env, env_params = make(config.env_id, **dict(config.env_kwargs))

    def build():
        return jax.jit(
            lambda s, k: run_episodes(
                env, env_params, episode_policy(config, s), k, episodes, max_steps,
                info_sums=info_sums,
            )
        )  # fmt: skip

    result = jax.device_get(
        programs.get(config, ("evaluate", episodes, max_steps, info_sums), build)(state, key)
    )
    figures: dict[str, Any] = {
        "returns": np.asarray(result["return"], np.float64),
        "lengths": np.asarray(result["length"]),
    }
    for name in info_sums:
        sums = np.asarray(result[name], np.float64)
        figures[f"mean_{name}"] = float(sums.mean())
        figures[f"{name}_episode_rate"] = float((sums > 0).mean())
    return figures


class EpisodeHooks:
    """An algorithm's ``evaluate_policy`` and ``record_episode`` hooks from its greedy
    ``episode_policy(config, state) -> policy``, with their own cache of compiled programs::

        HOOKS = EpisodeHooks(episode_policy)
        evaluate_policy, record_episode = HOOKS.evaluate_policy, HOOKS.record_episode

    ``info_sums`` names ``info`` entries whose episode sums the evaluation reports too (a
    constrained MDP's ``"constraint_cost"``).
    """

    def __init__(
        self, episode_policy: Callable[[Any, Any], Policy], info_sums: tuple[str, ...] = ()
    ):
        self.episode_policy = episode_policy
        self.info_sums = info_sums
        self.programs = ProgramCache()

    def evaluate_policy(
        self, config: Any, state: Any, episodes: int, key: jax.Array, max_steps: int
    ) -> dict[str, Any]:
        """:func:`evaluate_policy` of this algorithm's greedy policy."""
        return evaluate_policy(
            self.programs, self.episode_policy, config, state, episodes, key, max_steps,
            self.info_sums,
        )  # fmt: skip

    def record_episode(
        self, config: Any, state: Any, key: jax.Array, max_steps: int
    ) -> tuple[int, dict[str, Any]]:
        """:func:`record_episode` of this algorithm's greedy policy."""
        return record_episode(self.programs, self.episode_policy, config, state, key, max_steps)
