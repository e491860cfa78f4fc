"""Lagrangian PPO's training programs: :func:`make_init`, :func:`make_update_chunk` and
:func:`make_train`, as PPO's (:mod:`rljax.train.ppo.training`).

One update: PPO's rollout (:func:`rljax.train.ppo.make_rollout`), which also records every step's
``info["constraint_cost"]``; the episode costs of the episodes it finished move the multiplier
(:func:`rljax.learning.lagrangian.update_multiplier`); one batched call of each critic (reward and
cost) and GAE for each; then PPO's epochs on the clipped surrogate of the Lagrangian advantage
``A_r - lambda * A_c`` with both critics' value losses. The surrogate normalises its advantages
per minibatch, so the usual ``1 / (1 + lambda)`` rescaling would change nothing and is left out.
With ``normalize_reward`` the costs are scaled by the reward's running scale too, so ``lambda``
keeps its units: reward per unit of cost.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from rljax.learning import lagrangian, ppo_update, returns, updates
from rljax.train import ppo
from rljax.train.ppo_lagrangian.config import COST_KEY, Config, HParams
from rljax.train.ppo_lagrangian.state import METRIC_NAMES, TrainState


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: PPO's networks, a cost critic, the optimiser,
    the environments and the multiplier at ``multiplier_init``."""
    setup = ppo.make_setup(config)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_actor, key_critic, key_cost, key_env = jax.random.split(key, 5)
        dummy = jnp.zeros(setup.obs_shape, jnp.float32)
        params = {
            "actor": setup.actor.init(key_actor, dummy),
            "critic": setup.critic.init(key_critic, dummy),
            "cost_critic": setup.critic.init(key_cost, dummy),
        }
        return TrainState(
            **ppo.fresh_state_fields(config, setup, params, key, key_env, hparams),
            multiplier=lagrangian.init_multiplier(hparams.multiplier_init),
            episode_cost=jnp.zeros((config.num_envs,), jnp.float32),
        )

    return init


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` updates; ``metrics``
    maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array."""
    return updates.make_chunk(config, make_update(config, ppo.make_setup(config)), num_updates)


def make_train(config: Config) -> Callable[..., ppo.TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    return updates.make_run(
        make_init(config), make_update_chunk(config, config.num_updates), ppo.TrainResult
    )


def finished_episode_costs(
    cost: jax.Array, done: jax.Array, running: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(ended [T, B], running [B])``: the cost of the episode each step ended (0 where none
    did) from the per-step ``cost [T, B]``, episode ends ``done [T, B]`` and the running episodes'
    costs before the rollout ``running [B]``; ``running`` after it."""

    def step(running, inputs):
        cost_t, done_t = inputs
        total = running + cost_t
        return jnp.where(done_t, 0.0, total), jnp.where(done_t, total, 0.0)

    running, ended = jax.lax.scan(step, running, (cost, done))
    return ended, running


def make_update(config: Config, setup: ppo.Setup) -> Callable[..., tuple[TrainState, dict]]:
    """``update(state, hparams) -> (state, metrics)``: one Lagrangian PPO update (module
    docstring); the metrics are scalars, one per :data:`METRIC_NAMES`."""
    actor, critic, continuous = setup.actor, setup.critic, setup.continuous
    rollout = ppo.make_rollout(config, setup, info_keys=(COST_KEY,))

    def loss_fn(params, minibatch, hparams: HParams):
        obs, action, old_log_prob, old_value, old_cost_value, advantage, target, cost_target = (
            minibatch
        )
        out = actor.apply(params["actor"], obs)
        log_prob, entropy = ppo.log_prob_entropy(out, action, continuous)
        value = critic.apply(params["critic"], obs)
        total, diagnostics = ppo.ppo_loss(
            log_prob, old_log_prob, entropy, value, old_value, advantage, target, hparams,
            config.clip_value_loss,
        )  # fmt: skip
        cost_value = critic.apply(params["cost_critic"], obs)
        cost_value_loss = ppo_update.critic_loss(
            cost_value, old_cost_value, cost_target, hparams.clip_eps, config.clip_value_loss
        )
        diagnostics = {**diagnostics, "cost_value_loss": cost_value_loss}
        return total + hparams.vf_coef * cost_value_loss, diagnostics

    def update(state: TrainState, hparams: HParams):
        key, key_rollout = jax.random.split(state.key)
        (env_state, next_obs, discounted_return), batch, discounted, infos = rollout(
            state, hparams, key_rollout
        )
        cost = infos[COST_KEY]
        done = batch.terminated | batch.truncated
        ended_cost, running_cost = finished_episode_costs(cost, done, state.episode_cost)
        mean_cost = updates.mean_over_finished(ended_cost, batch.episode_done)
        multiplier = lagrangian.update_multiplier(
            config.multiplier, state.multiplier, mean_cost, hparams.gains()
        )

        reward = batch.reward
        return_stats = state.return_stats
        if config.normalize_reward:
            return_stats = return_stats.update(discounted.reshape(-1))
            reward = state.return_stats.scale(reward)
            cost = state.return_stats.scale(cost)

        inputs = ppo.value_inputs(config, setup, state, batch, next_obs)
        gae = lambda signal, values: returns.compute_gae(
            signal, *ppo.split_values(config, values), batch.terminated, batch.truncated,
            hparams.gamma, hparams.gae_lambda,
        )  # fmt: skip
        values = critic.apply(state.params["critic"], inputs)
        cost_values = critic.apply(state.params["cost_critic"], inputs)
        advantages, targets = gae(reward, values)
        cost_advantages, cost_targets = gae(cost, cost_values)
        lagrangian_advantages = advantages - multiplier.value * cost_advantages

        T, B = config.num_steps, config.num_envs
        flat = (
            ppo.normalize_for_policy(config, state, batch.obs).reshape(T * B, *setup.obs_shape),
            batch.action.reshape(T * B, *batch.action.shape[2:]),
            batch.log_prob.reshape(-1),
            values[: T * B],
            cost_values[: T * B],
            lagrangian_advantages.reshape(-1),
            targets.reshape(-1),
            cost_targets.reshape(-1),
        )
        params, opt_state, key, aux, lr = ppo_update.optimise(
            config, loss_fn, hparams, state.params, state.opt_state, state.update_step, key, flat
        )

        obs_stats = state.obs_stats
        if config.normalize_obs:
            obs_stats = obs_stats.update(batch.obs.reshape(T * B, *setup.obs_shape))

        metrics = updates.update_metrics(
            config, aux, lr, state.update_step, batch.episode_done,
            episode_return=batch.episode_return,
            episode_length=batch.episode_length.astype(jnp.float32),
            episode_cost=ended_cost,
        )  # fmt: skip
        metrics["lagrange_multiplier"] = multiplier.value
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
            multiplier=multiplier,
            episode_cost=running_cost,
        )
        return new_state, {name: metrics[name] for name in METRIC_NAMES}

    return update
