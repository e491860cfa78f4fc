"""Whole evaluation episodes of a policy, single- or multi-agent, optionally recorded.

:func:`play_episode` plays one episode from a fresh reset for ``max_steps`` steps of a scan; once
the episode has ended it is frozen (a finished episode is not stepped on: stepping one is
undefined). :func:`run_episodes` plays many, one key each, under ``vmap``. Both are jittable and
vmappable (over seeds' training states, for instance).

A multi-agent environment (rewards ``[N]``, agents on the leading axis) counts team 0's return:
agent 0's reward, the shared team reward of Treasure Hunt and the chasers' reward of Tag.

The recorded trajectory is the layout :mod:`rljax.render` draws: ``{"initial_state",
"initial_obs", "states" [T], "obs" [T], "actions" [T], "rewards" [T], "active" [T]}`` with the
post-step states and observations (frozen after the end) and ``active[t]``: step ``t`` was taken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rljax.env import Environment

# policy(key, env_state, obs) -> action: one environment's action from its observation (a learned
# policy ignores the state; scripted ones, such as Treasure Hunt's greedy heuristic, read it).
Policy = Callable[[jax.Array, Any, Any], jax.Array]


def time_limit(env_params: Any, default: int = 1000) -> int:
    """The environment's ``max_steps_in_episode`` (the largest, if vmapped), else ``default``."""
    limit = getattr(env_params, "max_steps_in_episode", None)
    return default if limit is None else int(np.max(np.asarray(limit)))


def play_episode(
    env: Environment,
    env_params: Any,
    policy: Policy,
    key: jax.Array,
    max_steps: int,
    record: bool = False,
    info_sums: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One episode: ``{"return": float32, "length": int32, "terminated": bool}`` (scalars), and
    for each name in ``info_sums`` that ``info`` entry summed over the episode's steps (float32;
    a constrained MDP's episode cost, ``"constraint_cost"``).

    ``return`` sums the rewards (team 0's for a multi-agent environment), ``length`` counts the
    steps taken (at most ``max_steps``), ``terminated`` says the episode reached a true end rather
    than its time limit or ``max_steps`` (Treasure Hunt: every treasure collected; Tag: a catch).
    With ``record``, ``"trajectory"`` holds the recorded episode (module docstring).
    """
    key_reset, key_run = jax.random.split(key)
    obs, env_state = env.reset(key_reset, env_params)

    def step(carry, key_t):
        env_state, obs, done, ret, length, terminated_any, sums = carry
        key_act, key_step = jax.random.split(key_t)
        action = policy(key_act, env_state, obs)
        next_obs, next_state, reward, terminated, truncated, info = env.step(
            key_step, env_state, action, env_params
        )
        active = ~done
        keep = lambda new, old: jnp.where(done, old, new)
        next_state = jax.tree.map(keep, next_state, env_state)
        next_obs = jax.tree.map(keep, next_obs, obs)
        team_reward = reward if jnp.ndim(reward) == 0 else reward[0]
        ret = ret + jnp.where(active, team_reward.astype(jnp.float32), 0.0)
        length = length + active.astype(jnp.int32)
        terminated_any = terminated_any | (active & terminated)
        sums = {
            name: sums[name] + jnp.where(active, info[name].astype(jnp.float32), 0.0)
            for name in info_sums
        }
        done = done | terminated | truncated
        out = None
        if record:
            out = {
                "states": next_state,
                "obs": next_obs,
                "actions": action,
                "rewards": reward,
                "active": active,
            }
        return (next_state, next_obs, done, ret, length, terminated_any, sums), out

    zero_sums = {name: jnp.float32(0.0) for name in info_sums}
    init = (
        env_state, obs, jnp.bool_(False), jnp.float32(0.0), jnp.int32(0), jnp.bool_(False),
        zero_sums,
    )  # fmt: skip
    (_, _, _, ret, length, terminated, sums), trajectory = jax.lax.scan(
        step, init, jax.random.split(key_run, max_steps)
    )
    result: dict[str, Any] = {"return": ret, "length": length, "terminated": terminated, **sums}
    if record:
        result["trajectory"] = {"initial_state": env_state, "initial_obs": obs, **trajectory}
    return result


def run_episodes(
    env: Environment,
    env_params: Any,
    policy: Policy,
    key: jax.Array,
    num_episodes: int,
    max_steps: int | None = None,
    record: bool = False,
    info_sums: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``num_episodes`` independent episodes, episode ``i`` from ``jax.random.split(key, E)[i]``.

    Returns :func:`play_episode`'s dict with a leading ``[E]`` axis on every leaf.
    ``max_steps`` defaults to the environment's time limit (:func:`time_limit`).
    """
    max_steps = time_limit(env_params) if max_steps is None else max_steps
    play = lambda k: play_episode(env, env_params, policy, k, max_steps, record, info_sums)
    return jax.vmap(play)(jax.random.split(key, num_episodes))


class ProgramCache:
    """Compiled evaluation programs of an algorithm module, one per static config and settings.

    ``cache.get(config, settings, build)`` returns the program ``build()`` made the first time
    this config's static fields (:meth:`rljax.configs.ConfigBase.static_dict`: hyperparameter
    leaves do not change an evaluation program) and ``settings`` (a hashable tuple, e.g. episodes
    and ``max_steps``) were asked for, so repeated evaluations of a run do not recompile.
    """

    def __init__(self) -> None:
        self._programs: dict[tuple[Any, ...], Callable[..., Any]] = {}

    def get(
        self, config: Any, settings: tuple[Any, ...], build: Callable[[], Callable[..., Any]]
    ) -> Callable[..., Any]:
        static = json.dumps(config.static_dict(), sort_keys=True, default=repr)
        key = (type(config).__module__, type(config).__qualname__, static, settings)
        if key not in self._programs:
            self._programs[key] = build()
        return self._programs[key]
