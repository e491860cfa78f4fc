"""PPO's networks and policy distribution: what a config builds (:func:`make_setup`), the actor's
samples and log-probabilities (:func:`sample_noise`, :func:`sample`, :func:`log_prob_entropy`),
and the trained policy for evaluation (:func:`make_policy`, :func:`normalize_for_policy`).

The actor's output ``out`` is ``(mean [B, A], log_std [A])`` (diagonal Gaussian, 1-D Box actions)
or ``(logits [B, A], None)`` (categorical, Discrete actions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rljax import spaces
from rljax.env import make
from rljax.learning import distributions
from rljax.networks import Actor, Critic
from rljax.train.ppo.config import Config
from rljax.train.ppo.state import TrainState
from rljax.vector import VecEnv


class Setup(NamedTuple):
    """The static pieces of a run, built from its config by :func:`make_setup`."""

    venv: VecEnv
    env_params: Any
    actor: Actor
    critic: Critic
    continuous: bool
    action_low: Any  # [A] numpy bounds of a Box action space (None if Discrete)
    action_high: Any
    obs_shape: tuple[int, ...]


def make_setup(config: Config) -> Setup:
    """The environments, networks and action space of ``config``."""
    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    venv = VecEnv(env, config.num_envs)
    # Concrete bounds even when built inside a trace (the jitted evaluation programs build the
    # policy there; the space's bounds would otherwise be tracers, which numpy cannot hold).
    with jax.ensure_compile_time_eval():
        action_space = env.action_space(env_params)
    obs_shape = env.observation_space(env_params).shape
    if isinstance(action_space, spaces.Discrete):
        continuous, action_dim, low, high = False, action_space.n, None, None
    elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        continuous, action_dim = True, action_space.shape[0]
        low, high = np.asarray(action_space.low), np.asarray(action_space.high)
    else:
        raise ValueError(
            f"PPO supports Discrete and 1-D Box action spaces; {config.env_id} has {action_space!r}"
        )
    actor = Actor(action_dim, continuous, config.hidden_sizes, config.activation)
    critic = Critic(config.hidden_sizes, config.activation)
    return Setup(venv, env_params, actor, critic, continuous, low, high, obs_shape)


def log_prob_entropy(
    out: tuple[jax.Array, jax.Array | None], action: jax.Array, continuous: bool
) -> tuple[jax.Array, jax.Array]:
    """Log-probability of ``action`` and entropy ``[B]`` under the actor's output ``out``:
    ``(mean [B, A], log_std [A])`` (diagonal Gaussian) or ``(logits [B, A], None)``."""
    if continuous:
        mean, log_std = out
        return (
            distributions.gaussian_log_prob(mean, log_std, action),
            distributions.gaussian_entropy(mean, log_std),
        )
    return distributions.categorical_log_prob_entropy(out[0], action)


def sample_noise(key: jax.Array, shape: tuple[int, ...], continuous: bool) -> jax.Array:
    """The noise that turns actor outputs into actions: standard normal or Gumbel ``[*shape]``."""
    if continuous:
        return distributions.normal_noise(key, shape)
    return distributions.gumbel_noise(key, shape)


def sample(noise: jax.Array, out: tuple[jax.Array, jax.Array | None], continuous: bool):
    """``(action, log_prob)`` from pre-drawn ``noise [B, A]`` (drawn for the whole rollout before
    its step loop: random-number generation per step is expensive on a CPU)."""
    if continuous:
        mean, log_std = out
        action = distributions.gaussian_sample(mean, log_std, noise)
    else:
        action = distributions.categorical_sample(out[0], noise)
    log_prob, _ = log_prob_entropy(out, action, continuous)
    return action, log_prob


def make_policy(config: Config) -> Callable[[Any, jax.Array, jax.Array, bool], jax.Array]:
    """``act(params, obs [B, ...], key, deterministic) -> env action [B, ...]`` for evaluation.

    ``obs`` must already be normalised if the config normalises observations (see
    :func:`normalize_for_policy`).
    """
    setup = make_setup(config)

    def act(params, obs, key, deterministic: bool = True):
        out = setup.actor.apply(params["actor"], obs)
        if deterministic:
            mode = (
                distributions.gaussian_mode if setup.continuous else distributions.categorical_mode
            )
            action = mode(out[0])
        else:
            noise = sample_noise(key, out[0].shape, setup.continuous)
            action, _ = sample(noise, out, setup.continuous)
        if setup.continuous:
            action = jnp.clip(action, setup.action_low, setup.action_high)
        return action

    return act


def normalize_for_policy(config: Config, state: TrainState, obs: jax.Array) -> jax.Array:
    """The observation as the policy saw it in training (normalised if ``normalize_obs``)."""
    return state.obs_stats.normalize(obs) if config.normalize_obs else obs
