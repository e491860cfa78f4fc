"""PQN's Q-network and exploration: what a config builds (:func:`make_setup`), the epsilon
schedule (:func:`epsilon_at`), pre-drawn exploration noise (:func:`exploration_noise`) and the
epsilon-greedy choice (:func:`rljax.learning.q_learning.epsilon_greedy`, shared with DQN).

The Q-network is :class:`rljax.networks.MLP` with LayerNorm before each hidden activation:
``obs [..., D] -> Q [..., A]`` (one value per discrete action, in scaled-reward units).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rljax import spaces
from rljax.env import make
from rljax.networks import MLP
from rljax.train.pqn.config import Config, HParams
from rljax.vector import VecEnv


class Setup(NamedTuple):
    """The static pieces of a run, built from its config by :func:`make_setup`."""

    venv: VecEnv
    env_params: Any
    network: MLP
    num_actions: int
    obs_shape: tuple[int, ...]


def make_setup(config: Config) -> Setup:
    """The environments and Q-network of ``config``."""
    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    with jax.ensure_compile_time_eval():  # concrete sizes even when built inside a trace
        action_space = env.action_space(env_params)
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"PQN needs Discrete actions; {config.env_id} has {action_space!r}")
    network = MLP(
        config.hidden_sizes, action_space.n, config.activation, layer_norm=config.layer_norm
    )
    obs_shape = env.observation_space(env_params).shape
    return Setup(VecEnv(env, config.num_envs), env_params, network, action_space.n, obs_shape)


def epsilon_at(hparams: HParams, update_step: jax.Array, num_updates: int) -> jax.Array:
    """Exploration epsilon of update ``update_step`` (int32, 0-based), float32 scalar.

    Linear from ``epsilon_start`` at update 0 to ``epsilon_finish`` at update ``epsilon_decay *
    num_updates``, constant after (PQN's schedule). A zero-length decay starts at the finish.
    """
    decay_updates = hparams.epsilon_decay * num_updates
    frac = jnp.where(
        decay_updates > 0, jnp.minimum(update_step / jnp.maximum(decay_updates, 1e-6), 1.0), 1.0
    )
    # A weighted sum, exactly epsilon_finish once the decay is over (start + frac * (finish -
    # start) rounds off it).
    return (1.0 - frac) * hparams.epsilon_start + frac * hparams.epsilon_finish


def exploration_noise(
    key: jax.Array, shape: tuple[int, ...], num_actions: int
) -> tuple[jax.Array, jax.Array]:
    """``(uniform float32 [*shape], random_action int32 [*shape])`` for a whole rollout, drawn
    before its step loop (random-number generation per step is expensive on a CPU)."""
    key_explore, key_action = jax.random.split(key)
    uniform = jax.random.uniform(key_explore, shape)
    random_action = jax.random.randint(key_action, shape, 0, num_actions, jnp.int32)
    return uniform, random_action
