"""MAPPO's networks over agents: which agents share a parameter set (:func:`parameter_groups`),
what the actors and critics see (:func:`actor_inputs`, :func:`critic_inputs`), and the groups'
networks applied to all agents at once (:func:`group_logits`, :func:`group_values`).

``N`` agents, ``D`` observation features, ``G`` global-state features, ``A`` actions; inputs end
in a one-hot agent id ``[N]`` when parameters are shared.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rljax.env import make
from rljax.learning.running_stats import RunningMeanStd
from rljax.multiagent import MultiAgentView
from rljax.networks import Actor, Critic
from rljax.train.mappo.config import Config
from rljax.vector import VecEnv


class Setup(NamedTuple):
    """The static pieces of a run, built from its config by :func:`make_setup`."""

    env: Any
    env_params: Any
    venv: VecEnv
    num_agents: int
    obs_dim: int
    global_dim: int
    num_actions: int
    groups: tuple[np.ndarray, ...]  # agent indices of each parameter group
    inverse: np.ndarray | None  # agent order from the groups' concatenation (None: identity)
    actor: Actor
    critic: Critic


def parameter_groups(config: Config, env: Any) -> tuple[np.ndarray, ...]:
    """The agents of each parameter set: one per team with sharing, else one per agent."""
    n = int(env.num_agents)
    if not config.share_parameters:
        return tuple(np.asarray([i]) for i in range(n))
    teams = np.asarray(getattr(env, "team_of_agent", np.zeros(n, np.int32)))
    return tuple(np.flatnonzero(teams == t) for t in np.unique(teams))


def make_setup(config: Config) -> Setup:
    """The environments, agents, parameter groups and networks of ``config``."""
    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    obs_space = env.observation_space(env_params)
    n = int(env.num_agents)
    groups = parameter_groups(config, env)
    order = np.concatenate(groups)
    inverse = None if np.array_equal(order, np.arange(n)) else np.argsort(order)
    return Setup(
        env=env,
        env_params=env_params,
        venv=VecEnv(MultiAgentView(env), config.num_envs),
        num_agents=n,
        obs_dim=int(obs_space.shape[-1]),
        global_dim=int(env.global_state_size(env_params)),
        num_actions=int(np.max(env.action_space(env_params).nvec)),
        groups=groups,
        inverse=inverse,
        actor=Actor(
            int(np.max(env.action_space(env_params).nvec)),
            False,
            config.hidden_sizes,
            config.activation,
        ),
        critic=Critic(config.hidden_sizes, config.activation),
    )


def with_agent_id(config: Config, x: jax.Array) -> jax.Array:
    """``x [..., N, F]`` with a one-hot agent id appended when parameters are shared."""
    if not config.share_parameters:
        return x
    n = x.shape[-2]
    ids = jnp.broadcast_to(jnp.eye(n, dtype=x.dtype), (*x.shape[:-2], n, n))
    return jnp.concatenate([x, ids], axis=-1)


def actor_inputs(config: Config, obs: jax.Array) -> jax.Array:
    """``obs [..., N, D]`` (as the policy sees it) -> actor inputs ``[..., N, D (+ N)]``."""
    return with_agent_id(config, obs)


def critic_inputs(config: Config, obs: jax.Array, global_state: jax.Array) -> jax.Array:
    """Critic inputs ``[..., N, F]`` from ``obs [..., N, D]`` and ``global_state [..., G]``.

    Independent critic: agent ``i``'s observation; centralised: the global state (the same for
    every agent); then the one-hot agent id when parameters are shared.
    """
    if config.critic == "independent":
        x = obs
    else:
        x = jnp.broadcast_to(global_state[..., None, :], (*obs.shape[:-1], global_state.shape[-1]))
    return with_agent_id(config, x)


def per_group(setup: Setup, fn, params, x: jax.Array, axis: int) -> jax.Array:
    """``fn(params[g], x[..., agents of g, :])`` for every group, put back in agent order."""
    outs = [fn(p, x[..., idx, :]) for p, idx in zip(params, setup.groups, strict=True)]
    out = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=axis)
    if setup.inverse is not None:
        out = jnp.take(out, setup.inverse, axis=axis)
    return out


def group_logits(setup: Setup, actor_params, x: jax.Array) -> jax.Array:
    """``[..., N, F] -> logits [..., N, A]``."""
    return per_group(setup, lambda p, xi: setup.actor.apply(p, xi)[0], actor_params, x, -2)


def group_values(setup: Setup, critic_params, x: jax.Array) -> jax.Array:
    """``[..., N, F] -> values [..., N]``."""
    return per_group(setup, setup.critic.apply, critic_params, x, -1)


def normalize(config: Config, stats: RunningMeanStd, x: jax.Array) -> jax.Array:
    """``x`` normalised with running ``stats`` if ``config.normalize_obs``, else ``x``."""
    return stats.normalize(x) if config.normalize_obs else x
