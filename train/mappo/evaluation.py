"""MAPPO's acting and evaluation: one seed's trained policy (:func:`make_policy`,
:func:`episode_policy`), whole evaluation episodes (:func:`make_evaluate`), and the evaluation
hooks of ``rljax eval`` and the run driver (:func:`evaluate_policy`, :func:`record_episode`).

``N`` agents with observations ``[D]``; actions int32 ``[N]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from rljax.env import make
from rljax.learning import distributions, recording
from rljax.learning.episodes import Policy, ProgramCache
from rljax.multiagent import episode_summary, run_episodes
from rljax.train.mappo.config import Config
from rljax.train.mappo.groups import actor_inputs, group_logits, make_setup, normalize
from rljax.train.mappo.state import TrainState


def normalize_for_policy(config: Config, state: TrainState, obs: jax.Array) -> jax.Array:
    """``obs [..., N, D]`` as the policy saw it in training (normalised if ``normalize_obs``)."""
    return normalize(config, state.obs_stats, obs)


def make_policy(config: Config) -> Callable[[Any, jax.Array, jax.Array, bool], jax.Array]:
    """``act(params, obs [..., N, D], key, deterministic) -> action int32 [..., N]``.

    ``obs`` must already be normalised if the config normalises observations (see
    :func:`normalize_for_policy`). ``deterministic`` takes each agent's most likely action.
    """
    setup = make_setup(config)

    def act(params, obs, key, deterministic: bool = True):
        logits = group_logits(setup, params["actor"], actor_inputs(config, obs))
        if deterministic:
            return distributions.categorical_mode(logits)
        return distributions.categorical_sample(
            logits, distributions.gumbel_noise(key, logits.shape)
        )

    return act


def episode_policy(config: Config, state: TrainState, deterministic: bool = True) -> Policy:
    """One environment's ``policy(key, env_state, obs [N, D]) -> action int32 [N]`` of a trained
    ``state`` (one seed), for :mod:`rljax.learning.episodes`: greedy or sampled."""
    act = make_policy(config)

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        return act(state.params, normalize_for_policy(config, state, obs), key, deterministic)

    return policy


def make_evaluate(
    config: Config, num_episodes: int, deterministic: bool = True, max_steps: int | None = None
) -> Callable[[TrainState, jax.Array], dict[str, jax.Array]]:
    """``evaluate(train_state, key) -> {"team_return", "length", "success"}`` (each ``[E]``).

    Plays ``num_episodes`` fresh episodes with one seed's trained policy (greedy with
    ``deterministic``, else sampled); see :func:`rljax.multiagent.run_episodes`. Vmappable over
    seeds; :func:`rljax.multiagent.episode_summary` turns the result into figures.
    """
    env, env_params = make(config.env_id, **dict(config.env_kwargs))

    def evaluate(train_state: TrainState, key: jax.Array) -> dict[str, jax.Array]:
        policy = episode_policy(config, train_state, deterministic)
        return run_episodes(env, env_params, policy, key, num_episodes, max_steps)

    return evaluate


# --- evaluation hooks (rljax eval) -------------------------------------------------------------

# Jitted evaluation programs, one per static config and settings (rljax eval calls repeatedly).
_PROGRAMS = ProgramCache()


def evaluate_policy(
    config: Config, state: TrainState, episodes: int, key: jax.Array, max_steps: int
) -> dict[str, Any]:
    """Figures of ``episodes`` episodes of one seed's ``state``, greedy and sampled (host values).

    ``{"returns": float64 [E], "lengths": int32 [E]}`` (team return and length of the greedy
    episodes), ``"success_rate"`` and ``"mean_steps"`` of the greedy ones, and ``"sampled"``: the
    sampled policy's :func:`rljax.multiagent.episode_summary`. Both play from the same ``key``
    (:func:`make_evaluate`); compiled once per static config.
    """

    def build():
        greedy = make_evaluate(config, episodes, True, max_steps)
        sampled = make_evaluate(config, episodes, False, max_steps)
        return jax.jit(lambda s, k: {"greedy": greedy(s, k), "sampled": sampled(s, k)})

    evaluate = _PROGRAMS.get(config, ("evaluate", episodes, max_steps), build)
    figures = jax.device_get(evaluate(state, key))
    greedy = episode_summary(figures["greedy"])
    return {
        "returns": np.asarray(figures["greedy"]["team_return"], np.float64),
        "lengths": np.asarray(figures["greedy"]["length"]),
        "success_rate": greedy["success_rate"],
        "mean_steps": greedy["mean_steps"],
        "sampled": episode_summary(figures["sampled"]),
    }


def record_episode(
    config: Config, state: TrainState, key: jax.Array, max_steps: int
) -> tuple[int, dict[str, Any]]:
    """``(length, trajectory)`` of one greedy episode from ``key`` (host arrays): actions and
    rewards ``[T, N]``, the trajectory as :mod:`rljax.render` draws it."""
    return recording.record_episode(_PROGRAMS, episode_policy, config, state, key, max_steps)
