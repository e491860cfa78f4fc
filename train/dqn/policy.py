"""DQN's static pieces (:func:`make_setup`: environments, Q-network, replay buffer) and how a
Q-network's output becomes action values (:func:`apply`, :func:`action_values`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from rljax.env import make
from rljax.learning import q_learning
from rljax.learning.replay import Replay, make_replay
from rljax.q_networks import NOISE, QNetwork
from rljax.train.dqn.config import Config, HParams
from rljax.vector import VecEnv


class Setup(NamedTuple):
    """The static pieces of a run, built from its config by :func:`make_setup`."""

    venv: VecEnv
    env_params: Any
    network: QNetwork
    replay: Replay
    obs_shape: tuple[int, ...]
    num_actions: int


def make_setup(config: Config) -> Setup:
    """The environments, Q-network and replay buffer of ``config``."""
    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    num_actions = int(env.action_space(env_params).n)
    network = QNetwork(
        num_actions=num_actions,
        hidden_sizes=config.hidden_sizes,
        activation=config.activation,
        dueling=config.dueling,
        noisy=config.noisy,
        sigma0=config.sigma0,
        num_atoms=config.num_atoms if config.distributional else 0,
    )
    replay = make_replay(
        capacity=config.buffer_size,
        num_envs=config.num_envs,
        batch_size=config.batch_size,
        min_size=max(config.batch_size, config.learning_starts),
        sequence_length=config.n_step,
        prioritised=config.prioritised,
    )
    obs_shape = tuple(env.observation_space(env_params).shape)
    return Setup(VecEnv(env, config.num_envs), env_params, network, replay, obs_shape, num_actions)


def support(config: Config, hparams: HParams) -> jax.Array | None:
    """The C51 atoms ``[K]`` (``None`` unless ``distributional``)."""
    if not config.distributional:
        return None
    return q_learning.categorical_support(config.num_atoms, hparams.v_min, hparams.v_max)


def apply(
    config: Config, network: QNetwork, params: Any, obs: jax.Array, key: jax.Array | None
) -> jax.Array:
    """The network's raw output on ``obs [B, ...]``: ``q [B, A]`` or atom logits ``[B, A, K]``.

    Noisy nets draw their noise from ``key``; ``key=None`` uses the mean weights (greedy
    evaluation). Other networks ignore ``key``.
    """
    if not config.noisy:
        return network.apply(params, obs)
    if key is None:
        return network.apply(params, obs, deterministic=True)
    return network.apply(params, obs, rngs={NOISE: key})


def action_values(config: Config, out: jax.Array, atoms: jax.Array | None) -> jax.Array:
    """``q [B, A]`` from :func:`apply`'s output (the mean return over ``atoms`` for C51)."""
    return out if atoms is None else q_learning.expected_q(out, atoms)
