"""AlphaZero's state, network, replay buffer and learning step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax.env import make
from rljax.games.search import GameModel
from rljax.networks import PolicyValueMLP, PolicyValueResNet
from rljax.train.alphazero.config import Config


@struct.dataclass
class Replay:
    obs: jax.Array  # float32 [R, rows, cols, 2]
    policy: jax.Array  # float32 [R, A]: search action weights
    value: jax.Array  # float32 [R]: final outcome from the mover's view
    valid: jax.Array  # bool [R]: slot holds a position
    pointer: jax.Array  # int32 []: next slot to write


@struct.dataclass
class AZState:
    params: Any  # the candidate, trained every iteration
    best_params: Any  # plays self-play; replaced when the candidate wins the gate
    opt_state: Any
    replay: Replay
    key: jax.Array
    iteration: jax.Array  # int32 []: iterations done


class TrainResult(NamedTuple):
    params: Any  # the best network at the end
    metrics: dict[str, jax.Array]  # [num_iterations] each
    state: AZState


class Setup(NamedTuple):
    env: Any
    network: Any
    model: GameModel


def make_network(config: Config, num_actions: int) -> Any:
    if config.network == "mlp":
        return PolicyValueMLP(num_actions, config.hidden_sizes)
    return PolicyValueResNet(num_actions, config.channels, config.num_blocks)


def setup(config: Config) -> Setup:
    env, _ = make(config.env_id)
    network = make_network(config, env.num_actions)
    return Setup(env, network, GameModel.for_env(env, network.apply))


def learning_rate(config: Config) -> float | optax.Schedule:
    """``config.lr``, or its cosine decay over ``lr_decay_iterations`` iterations' gradient steps.

    The schedule counts optimiser steps, which the optimiser state keeps: a resumed run continues
    the decay where it stopped.
    """
    if config.lr_decay_iterations == 0:
        return config.lr
    return optax.cosine_decay_schedule(
        config.lr,
        config.lr_decay_iterations * config.train_steps,
        alpha=config.lr_final_fraction,
    )


def make_optimizer(config: Config) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adamw(learning_rate(config), weight_decay=config.weight_decay),
    )


def batched_init(env: Any, batch: int) -> Any:
    """``batch`` fresh games (every leaf with a leading ``[batch]`` axis)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (batch, *x.shape)), env.init())


def make_init(config: Config) -> Callable[[jax.Array], AZState]:
    env, network, _ = setup(config)
    rows, cols, actions = env.rows, env.cols, env.num_actions

    def init(key: jax.Array) -> AZState:
        key, key_params = jax.random.split(key)
        params = network.init(key_params, jnp.zeros((1, rows, cols, 2), jnp.float32))
        R = config.replay_size
        replay = Replay(
            obs=jnp.zeros((R, rows, cols, 2), jnp.float32),
            policy=jnp.zeros((R, actions), jnp.float32),
            value=jnp.zeros((R,), jnp.float32),
            valid=jnp.zeros((R,), bool),
            pointer=jnp.int32(0),
        )
        return AZState(
            params=params,
            best_params=params,
            opt_state=make_optimizer(config).init(params),
            replay=replay,
            key=key,
            iteration=jnp.int32(0),
        )

    return init


def mirror_policy(env: Any, policy: jax.Array) -> jax.Array:
    """Reflects action-indexed arrays ``[..., A]`` left-right (columns, or cells row by row)."""
    if env.num_actions == env.cols:
        return jnp.flip(policy, -1)
    shape = policy.shape[:-1]
    return jnp.flip(policy.reshape(*shape, env.rows, env.cols), -1).reshape(*shape, -1)


def add_to_replay(replay: Replay, positions: tuple[jax.Array, ...]) -> Replay:
    """Writes the valid positions at the ring pointer (compacted first) and advances it."""
    obs, policy, value, valid = positions
    order = jnp.argsort(~valid, stable=True)  # valid rows first, in play order
    n = valid.sum(dtype=jnp.int32)
    size = replay.valid.shape[0]
    slots = (replay.pointer + jnp.arange(valid.shape[0], dtype=jnp.int32)) % size
    # Padding rows are written too (as invalid) and are overwritten by the next write.
    return Replay(
        obs=replay.obs.at[slots].set(obs[order]),
        policy=replay.policy.at[slots].set(policy[order]),
        value=replay.value.at[slots].set(value[order]),
        valid=replay.valid.at[slots].set(valid[order]),
        pointer=(replay.pointer + n) % size,
    )


def az_loss(network: Any, params: Any, obs, policy, value, weight):
    """Cross entropy to the search policy + squared error to the outcome, ``weight``-averaged."""
    logits, predicted = network.apply(params, obs)
    policy_loss = optax.softmax_cross_entropy(logits, policy)
    value_loss = jnp.square(predicted - value)
    norm = jnp.maximum(weight.sum(), 1.0)
    policy_loss = (policy_loss * weight).sum() / norm
    value_loss = (value_loss * weight).sum() / norm
    return policy_loss + value_loss, (policy_loss, value_loss)


def make_learn(config: Config, network: Any, env: Any):
    optimizer = make_optimizer(config)
    grad_fn = jax.grad(lambda p, *batch: az_loss(network, p, *batch), has_aux=True)

    def learn(params, opt_state, replay: Replay, key: jax.Array):
        def step(carry, key):
            params, opt_state = carry
            key_idx, key_flip = jax.random.split(key)
            idx = jax.random.randint(key_idx, (config.batch_size,), 0, replay.valid.shape[0])
            obs, policy = replay.obs[idx], replay.policy[idx]
            if config.mirror:
                flip = jax.random.bernoulli(key_flip, 0.5, (config.batch_size,))
                obs = jnp.where(flip[:, None, None, None], jnp.flip(obs, 2), obs)
                policy = jnp.where(flip[:, None], mirror_policy(env, policy), policy)
            weight = replay.valid[idx].astype(jnp.float32)
            grads, (policy_loss, value_loss) = grad_fn(
                params, obs, policy, replay.value[idx], weight
            )
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), (policy_loss, value_loss)

        keys = jax.random.split(key, config.train_steps)
        (params, opt_state), (policy_loss, value_loss) = jax.lax.scan(
            step, (params, opt_state), keys
        )
        return (
            params,
            opt_state,
            {"policy_loss": policy_loss.mean(), "value_loss": value_loss.mean()},
        )

    return learn
