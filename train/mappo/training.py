"""MAPPO's training programs: :func:`make_init` (one network pair per parameter group, optimiser,
environments), :func:`make_update_chunk` (updates scanned into one program) and
:func:`make_train` (a whole run).

One update (:func:`make_update`): a rollout (:mod:`rljax.train.mappo.rollout`), one critic call
for the values, per-agent GAE on scaled rewards (``[T, B * N]``), then
:func:`rljax.learning.ppo_update.optimise`'s epochs on the sum of the groups' PPO losses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rljax.learning import distributions, optim, ppo_update, returns, updates
from rljax.learning.running_stats import RunningMeanStd
from rljax.train.mappo.config import Config
from rljax.train.mappo.groups import (
    Setup,
    actor_inputs,
    critic_inputs,
    group_logits,
    group_values,
    make_setup,
    normalize,
)
from rljax.train.mappo.rollout import build_rollout, policy_inputs
from rljax.train.mappo.state import METRIC_NAMES, TrainResult, TrainState
from rljax.train.ppo.config import HParams


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: networks, optimiser and environments."""
    setup = make_setup(config)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_actor, key_critic, key_env = jax.random.split(key, 4)
        n = setup.num_agents
        actor_in = actor_inputs(config, jnp.zeros((n, setup.obs_dim), jnp.float32))
        critic_in = critic_inputs(
            config,
            jnp.zeros((n, setup.obs_dim), jnp.float32),
            jnp.zeros((setup.global_dim,), jnp.float32),
        )
        num_groups = len(setup.groups)
        params = {
            "actor": tuple(
                setup.actor.init(k, actor_in[0]) for k in jax.random.split(key_actor, num_groups)
            ),
            "critic": tuple(
                setup.critic.init(k, critic_in[0]) for k in jax.random.split(key_critic, num_groups)
            ),
        }
        obs, env_state = setup.venv.reset(key_env, setup.env_params)
        flat_params, _ = ravel_pytree(params)
        return TrainState(
            params=params,
            opt_state=optim.make_optimizer(hparams.max_grad_norm, config.adam_eps).init(
                flat_params
            ),
            env_state=env_state,
            obs=obs,
            key=key,
            update_step=jnp.int32(0),
            obs_stats=RunningMeanStd.create((setup.obs_dim,)),
            global_stats=RunningMeanStd.create((setup.global_dim,)),
        )

    return init


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` updates.

    ``metrics`` maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array.
    """
    return updates.make_chunk(config, make_update(config, make_setup(config)), num_updates)


def make_train(config: Config) -> Callable[..., TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    init = make_init(config)
    return updates.make_run(init, make_update_chunk(config, config.num_updates), TrainResult)


def critic_value_inputs(
    config: Config, state: TrainState, obs: jax.Array, global_state: jax.Array
) -> jax.Array:
    """The critic's input for ``obs [M, N, D]`` and ``global_state [M, G]`` (normalised when
    ``normalize_obs``; the global state or each agent's own view, as ``config.critic`` says)."""
    return critic_inputs(
        config,
        normalize(config, state.obs_stats, obs),
        normalize(config, state.global_stats, global_state),
    )


class Collected(NamedTuple):
    """What one MAPPO update learns from: the rollout (leaves ``[T, B, ...]``), the values,
    GAE advantages and targets (``[T, B * N]``, agent-major within an env) and the environments'
    continuation (``vec_state``, ``next_obs``)."""

    batch: Any
    value: jax.Array
    advantages: jax.Array
    targets: jax.Array
    vec_state: Any
    next_obs: Any


def make_collect(config: Config, setup: Setup) -> Callable[..., Collected]:
    """``collect(state, hparams, key) -> Collected``: one update's rollout, one critic call and
    GAE, bootstrapping truncated episodes from the critic's value of their final observation."""
    n = setup.num_agents
    T, B = config.num_steps, config.num_envs
    rollout = build_rollout(config, setup)

    def collect(state: TrainState, hparams: HParams, key: jax.Array) -> Collected:
        (vec_state, next_obs), batch = rollout(state, key)

        # One critic call over the rollout: obs[0..T-1], the next obs, and the final obs of
        # episodes that ended in the rollout (bootstrapped where truncated).
        stacked_obs = jnp.concatenate(
            [
                batch.obs.reshape(T * B, n, -1),
                next_obs["obs"],
                batch.final_obs.reshape(T * B, n, -1),
            ]
        )
        stacked_global = jnp.concatenate(
            [
                batch.global_state.reshape(T * B, -1),
                next_obs["global"],
                batch.final_global.reshape(T * B, -1),
            ]
        )
        inputs = critic_value_inputs(config, state, stacked_obs, stacked_global)
        values = group_values(setup, state.params["critic"], inputs)  # [2TB + B, N]
        value = values[: T * B].reshape(T, B * n)
        next_value = values[T * B : T * B + B].reshape(B * n)
        final_value = values[T * B + B :].reshape(T, B * n)
        per_agent = lambda x: jnp.broadcast_to(x[..., None], (T, B, n)).reshape(T, B * n)
        advantages, targets = returns.compute_gae(
            batch.reward.reshape(T, B * n) * config.reward_scale,
            value,
            next_value,
            final_value,
            per_agent(batch.terminated),
            per_agent(batch.truncated),
            hparams.gamma,
            hparams.gae_lambda,
        )

        return Collected(batch, value, advantages, targets, vec_state, next_obs)

    return collect


def make_update(config: Config, setup: Setup) -> Callable[..., tuple[TrainState, dict]]:
    """``update(state, hparams) -> (state, metrics)``: one update (module docstring); the metrics
    are scalars, one per :data:`METRIC_NAMES`."""
    n = setup.num_agents
    T, B = config.num_steps, config.num_envs
    collect = make_collect(config, setup)

    def policy_obs(state: TrainState, obs: jax.Array) -> jax.Array:
        return policy_inputs(config, state, obs)

    def value_inputs(state: TrainState, obs: jax.Array, global_state: jax.Array) -> jax.Array:
        return critic_value_inputs(config, state, obs, global_state)

    def loss_fn(params, minibatch, hparams: HParams):
        actor_x, critic_x, action, old_log_prob, old_value, advantage, target = minibatch
        logits = group_logits(setup, params["actor"], actor_x)  # [M, N, A]
        log_prob, entropy = distributions.categorical_log_prob_entropy(logits, action)  # [M, N]
        value = group_values(setup, params["critic"], critic_x)  # [M, N]
        total = jnp.float32(0.0)
        diagnostics = []
        for idx in setup.groups:  # one PPO loss per parameter group (its own advantage scale)
            pick = lambda x, idx=idx: x[:, idx].reshape(-1)
            group_total, group_diag = ppo_update.ppo_loss(
                pick(log_prob),
                pick(old_log_prob),
                pick(entropy),
                pick(value),
                pick(old_value),
                pick(advantage),
                pick(target),
                hparams,
                config.clip_value_loss,
            )
            total = total + group_total
            diagnostics.append((len(idx) / n, group_diag))
        aux = {
            name: sum(w * d[name] for w, d in diagnostics) for name in diagnostics[0][1]
        }  # agent-weighted mean over groups
        return total, aux

    def update(state: TrainState, hparams: HParams):
        key, key_rollout = jax.random.split(state.key)
        batch, value, advantages, targets, vec_state, next_obs = collect(
            state, hparams, key_rollout
        )

        flat = (
            policy_obs(state, batch.obs.reshape(T * B, n, -1)),
            value_inputs(
                state, batch.obs.reshape(T * B, n, -1), batch.global_state.reshape(T * B, -1)
            ),
            batch.action.reshape(T * B, n),
            batch.log_prob.reshape(T * B, n),
            value.reshape(T * B, n),
            advantages.reshape(T * B, n),
            targets.reshape(T * B, n),
        )
        params, opt_state, key, aux, lr = ppo_update.optimise(
            config, loss_fn, hparams, state.params, state.opt_state, state.update_step, key, flat
        )

        obs_stats, global_stats = state.obs_stats, state.global_stats
        if config.normalize_obs:
            obs_stats = obs_stats.update(batch.obs.reshape(T * B * n, -1))
            global_stats = global_stats.update(batch.global_state.reshape(T * B, -1))

        metrics = updates.update_metrics(
            config,
            aux,
            lr,
            state.update_step,
            batch.episode_done,
            episode_return=batch.episode_return,
            episode_length=batch.episode_length.astype(jnp.float32),
            success_rate=batch.terminated.astype(jnp.float32),  # of the finished episodes
        )
        new_state = TrainState(
            params=params,
            opt_state=opt_state,
            env_state=vec_state,
            obs=next_obs,
            key=key,
            update_step=state.update_step + 1,
            obs_stats=obs_stats,
            global_stats=global_stats,
        )
        return new_state, {name: metrics[name] for name in METRIC_NAMES}

    return update
