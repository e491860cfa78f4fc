"""PPO's training programs: :func:`make_init` (networks, optimiser, environments),
:func:`make_update_chunk` (updates scanned into one program) and :func:`make_train` (a whole run).

One update (:func:`make_update`): a rollout of ``num_steps`` steps of ``num_envs`` environments
with noise drawn ahead, one batched critic call for the values (also of the final observations of
truncated episodes), GAE, then :func:`rljax.learning.ppo_update.optimise`'s epochs of shuffled
minibatches on :func:`rljax.learning.ppo_update.ppo_loss`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rljax.learning import optim, ppo_update, returns, updates
from rljax.learning.running_stats import RunningMeanStd
from rljax.train.ppo.config import Config, HParams
from rljax.train.ppo.policy import (
    Setup,
    log_prob_entropy,
    make_setup,
    normalize_for_policy,
    sample,
    sample_noise,
)
from rljax.train.ppo.state import METRIC_NAMES, TrainResult, TrainState, Transition


def fresh_state_fields(
    config: Config, setup: Setup, params: Any, key: jax.Array, key_env: jax.Array, hparams: HParams
) -> dict[str, Any]:
    """The fields of a fresh :class:`TrainState` around the networks' ``params``: the optimiser
    over all of them, the environments reset with ``key_env``, empty statistics; ``key`` is the
    run's key from now on. Subclassed states add their own fields to it."""
    obs, env_state = setup.venv.reset(key_env, setup.env_params)
    flat_params, _ = ravel_pytree(params)
    return dict(
        params=params,
        opt_state=optim.make_optimizer(hparams.max_grad_norm, config.adam_eps).init(flat_params),
        env_state=env_state,
        obs=obs.astype(jnp.float32),
        key=key,
        update_step=jnp.int32(0),
        obs_stats=RunningMeanStd.create(setup.obs_shape),
        return_stats=RunningMeanStd.create(()),
        discounted_return=jnp.zeros((config.num_envs,), jnp.float32),
    )


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: networks, optimiser and environments."""
    setup = make_setup(config)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_actor, key_critic, key_env = jax.random.split(key, 4)
        dummy = jnp.zeros(setup.obs_shape, jnp.float32)
        params = {
            "actor": setup.actor.init(key_actor, dummy),
            "critic": setup.critic.init(key_critic, dummy),
        }
        return TrainState(**fresh_state_fields(config, setup, params, key, key_env, hparams))

    return init


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` PPO updates.

    ``metrics`` maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array.
    """
    return updates.make_chunk(config, make_update(config, make_setup(config)), num_updates)


def make_train(config: Config) -> Callable[..., TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    init = make_init(config)
    return updates.make_run(init, make_update_chunk(config, config.num_updates), TrainResult)


class Collected(NamedTuple):
    """What one update learns from: a rollout and its GAE advantages and value targets.

    ``batch`` is the rollout (leaves ``[T, B, ...]``); ``value``, ``advantages`` and ``targets``
    are ``[T, B]``; ``env_state``, ``next_obs`` (``[B, *obs]``) and ``discounted_return`` (``[B]``)
    continue the environments; ``return_stats`` are the reward-scaling statistics after it.
    """

    batch: Transition
    value: jax.Array
    advantages: jax.Array
    targets: jax.Array
    env_state: Any
    next_obs: jax.Array
    discounted_return: jax.Array
    return_stats: RunningMeanStd


def make_rollout(
    config: Config, setup: Setup, info_keys: tuple[str, ...] = ()
) -> Callable[..., tuple[tuple[Any, jax.Array, jax.Array], Transition, jax.Array, dict]]:
    """``rollout(state, hparams, key) -> ((env_state, next_obs, discounted_return), batch,
    discounted, infos)``: ``num_steps`` steps of the actor with noise drawn ahead. ``batch`` is a
    :class:`Transition` (leaves ``[T, B, ...]``), ``discounted [T, B]`` the running discounted
    returns (for reward scaling) and ``infos`` maps each of ``info_keys`` to that ``info`` entry
    of every step as float32 ``[T, B]`` (a constrained MDP's ``"constraint_cost"``, say)."""
    venv, env_params, actor = setup.venv, setup.env_params, setup.actor
    continuous = setup.continuous

    def rollout(state: TrainState, hparams: HParams, key: jax.Array):
        T, B = config.num_steps, config.num_envs
        key_noise, key_env = jax.random.split(key)
        noise = sample_noise(key_noise, (T, B, actor.action_dim), continuous)
        env_keys = jax.random.split(key_env, T)

        def step(carry, inputs):
            env_state, obs, discounted_return = carry
            noise_t, key_t = inputs
            out = actor.apply(state.params["actor"], normalize_for_policy(config, state, obs))
            action, log_prob = sample(noise_t, out, continuous)
            if continuous:  # the policy's own sample is learned from; the env gets it clipped
                env_action = jnp.clip(action, setup.action_low, setup.action_high)
            else:
                env_action = action
            next_obs, env_state, reward, terminated, truncated, info = venv.step(
                key_t, env_state, env_action, env_params
            )
            reward = reward.astype(jnp.float32)
            done = terminated | truncated
            discounted_return = discounted_return * hparams.gamma + reward
            transition = Transition(
                obs=obs,
                action=action,
                log_prob=log_prob,
                reward=reward,
                terminated=terminated,
                truncated=truncated,
                final_obs=info["final_obs"].astype(jnp.float32),
                episode_return=info["episode_return"],
                episode_length=info["episode_length"],
                episode_done=info["episode_done"],
            )
            infos = {name: info[name].astype(jnp.float32) for name in info_keys}
            next_obs = next_obs.astype(jnp.float32)
            carry = (env_state, next_obs, jnp.where(done, 0.0, discounted_return))
            return carry, (transition, discounted_return, infos)

        carry = (state.env_state, state.obs, state.discounted_return)
        carry, (batch, discounted, infos) = jax.lax.scan(step, carry, (noise, env_keys))
        return carry, batch, discounted, infos

    return rollout


def value_inputs(
    config: Config, setup: Setup, state: TrainState, batch: Transition, next_obs: jax.Array
) -> jax.Array:
    """The observations one batched critic call values, normalised for the policy:
    ``[2 * T * B + B, *obs]`` (the rollout's, the next ones, the episodes' final ones); split the
    values with :func:`split_values`."""
    T, B = config.num_steps, config.num_envs
    stacked = jnp.concatenate(
        [
            batch.obs.reshape(T * B, -1),
            next_obs.reshape(B, -1),
            batch.final_obs.reshape(T * B, -1),
        ]
    ).reshape(2 * T * B + B, *setup.obs_shape)
    return normalize_for_policy(config, state, stacked)


def split_values(config: Config, values: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A critic's values of :func:`value_inputs` as ``(value [T, B], next_value [B],
    final_value [T, B])``."""
    T, B = config.num_steps, config.num_envs
    return (
        values[: T * B].reshape(T, B),
        values[T * B : T * B + B],
        values[T * B + B :].reshape(T, B),
    )


def make_collect(config: Config, setup: Setup) -> Callable[..., Collected]:
    """``collect(state, hparams, key) -> Collected``: the rollout of one update, one batched critic
    call for the values (also of the final observations of truncated episodes) and GAE.

    A truncated step's target bootstraps from ``V(final_obs)``, a terminated step's does not.
    """
    rollout = make_rollout(config, setup)

    def collect(state: TrainState, hparams: HParams, key: jax.Array) -> Collected:
        (env_state, next_obs, discounted_return), batch, discounted, _ = rollout(
            state, hparams, key
        )

        reward = batch.reward
        return_stats = state.return_stats
        if config.normalize_reward:
            return_stats = return_stats.update(discounted.reshape(-1))
            reward = state.return_stats.scale(reward)

        # One critic call over the whole rollout: values of obs[0..T-1], of the next obs and of the
        # final observations of episodes ended in the rollout.
        inputs = value_inputs(config, setup, state, batch, next_obs)
        values = setup.critic.apply(state.params["critic"], inputs)
        value, next_value, final_value = split_values(config, values)
        advantages, targets = returns.compute_gae(
            reward,
            value,
            next_value,
            final_value,
            batch.terminated,
            batch.truncated,
            hparams.gamma,
            hparams.gae_lambda,
        )

        return Collected(
            batch, value, advantages, targets, env_state, next_obs, discounted_return, return_stats
        )

    return collect


def make_update(config: Config, setup: Setup) -> Callable[..., tuple[TrainState, dict]]:
    """``update(state, hparams) -> (state, metrics)``: one PPO update (module docstring); the
    metrics are scalars, one per :data:`METRIC_NAMES`."""
    actor, critic, continuous = setup.actor, setup.critic, setup.continuous
    collect = make_collect(config, setup)

    def loss_fn(params, minibatch, hparams: HParams):
        obs, action, old_log_prob, old_value, advantage, target = minibatch
        out = actor.apply(params["actor"], obs)
        log_prob, entropy = log_prob_entropy(out, action, continuous)
        value = critic.apply(params["critic"], obs)

        return ppo_update.ppo_loss(
            log_prob,
            old_log_prob,
            entropy,
            value,
            old_value,
            advantage,
            target,
            hparams,
            config.clip_value_loss,
        )

    def update(state: TrainState, hparams: HParams):
        key, key_rollout = jax.random.split(state.key)
        collected = collect(state, hparams, key_rollout)
        batch, value, advantages, targets = collected[:4]
        env_state, next_obs, discounted_return, return_stats = collected[4:]
        T, B = config.num_steps, config.num_envs

        flat = (
            normalize_for_policy(config, state, batch.obs).reshape(T * B, *setup.obs_shape),
            batch.action.reshape(T * B, *batch.action.shape[2:]),
            batch.log_prob.reshape(-1),
            value.reshape(-1),
            advantages.reshape(-1),
            targets.reshape(-1),
        )
        params, opt_state, key, aux, lr = ppo_update.optimise(
            config, loss_fn, hparams, state.params, state.opt_state, state.update_step, key, flat
        )

        obs_stats = state.obs_stats
        if config.normalize_obs:
            obs_stats = obs_stats.update(batch.obs.reshape(T * B, *setup.obs_shape))

        metrics = updates.update_metrics(
            config,
            aux,
            lr,
            state.update_step,
            batch.episode_done,
            episode_return=batch.episode_return,
            episode_length=batch.episode_length.astype(jnp.float32),
        )
        new_state = TrainState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=next_obs,
            key=key,
            update_step=state.update_step + 1,
            obs_stats=obs_stats,
            return_stats=return_stats,
            discounted_return=discounted_return,
        )
        return new_state, {name: metrics[name] for name in METRIC_NAMES}

    return update
