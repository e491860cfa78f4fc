"""PQN's training programs: :func:`make_init` (Q-network, optimiser, environments),
:func:`make_update_chunk` (updates scanned into one program) and :func:`make_train` (a whole run).

One update (:func:`make_update`): an epsilon-greedy rollout of ``num_steps`` steps of ``num_envs``
environments (:func:`make_rollout`), Q(lambda) targets over it from one batched Q-network call
(:func:`q_lambda_targets`), then epochs of shuffled minibatches of the squared TD error
(:func:`rljax.learning.optim.run_epochs`: Adam after a global gradient-norm clip). No replay
buffer and no target network: the targets come from the parameters that collected the rollout.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rljax.learning import optim, returns, updates
from rljax.learning.q_learning import epsilon_greedy
from rljax.train.pqn.config import Config, HParams
from rljax.train.pqn.policy import (
    Setup,
    epsilon_at,
    exploration_noise,
    make_setup,
)
from rljax.train.pqn.state import METRIC_NAMES, TrainResult, TrainState, Transition
from rljax.vector import VecEnvState

# rollout(state, hparams, key) -> (env_state, next_obs [B, ...], transitions [T, B], epsilon)
Rollout = Callable[
    [TrainState, HParams, jax.Array], tuple[VecEnvState, jax.Array, Transition, jax.Array]
]


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: Q-network, optimiser and environments."""
    setup = make_setup(config)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_net, key_env = jax.random.split(key, 3)
        params = setup.network.init(key_net, jnp.zeros(setup.obs_shape, jnp.float32))
        obs, env_state = setup.venv.reset(key_env, setup.env_params)
        flat_params, _ = ravel_pytree(params)
        optimizer = optim.make_optimizer(hparams.max_grad_norm, config.adam_eps)
        return TrainState(
            params=params,
            opt_state=optimizer.init(flat_params),
            env_state=env_state,
            obs=obs.astype(jnp.float32),
            key=key,
            update_step=jnp.int32(0),
        )

    return init


def make_rollout(config: Config, setup: Setup) -> Rollout:
    """``rollout(state, hparams, key)``: ``num_steps`` epsilon-greedy steps of every environment
    with ``state.params``, at the epsilon of ``state.update_step`` (:func:`epsilon_at`)."""
    venv, env_params, network = setup.venv, setup.env_params, setup.network
    T, B = config.num_steps, config.num_envs

    def rollout(state: TrainState, hparams: HParams, key: jax.Array):
        epsilon = epsilon_at(hparams, state.update_step, config.num_updates)
        key_noise, key_env = jax.random.split(key)
        uniform, random_action = exploration_noise(key_noise, (T, B), setup.num_actions)

        def step(carry, inputs):
            env_state, obs = carry
            uniform_t, random_action_t, key_t = inputs
            action = epsilon_greedy(network.apply(state.params, obs), epsilon, uniform_t,
                                    random_action_t)  # fmt: skip
            next_obs, env_state, reward, terminated, truncated, info = venv.step(
                key_t, env_state, action, env_params
            )
            transition = Transition(
                obs=obs,
                action=action,
                reward=reward.astype(jnp.float32),
                terminated=terminated,
                truncated=truncated,
                final_obs=info["final_obs"].astype(jnp.float32),
                episode_return=info["episode_return"],
                episode_length=info["episode_length"],
                episode_done=info["episode_done"],
            )
            return (env_state, next_obs.astype(jnp.float32)), transition

        inputs = (uniform, random_action, jax.random.split(key_env, T))
        (env_state, next_obs), batch = jax.lax.scan(step, (state.env_state, state.obs), inputs)
        return env_state, next_obs, batch, epsilon

    return rollout


def q_lambda_targets(setup: Setup, params: dict, batch: Transition, hparams: HParams) -> jax.Array:
    """Q(lambda) targets ``[T, B]`` (scaled-reward units) of a rollout, from ``params``.

    ``G[t] = s r[t] + gamma ((1 - lambda) max_a Q(s'[t], a) + lambda G[t + 1])`` with ``s`` the
    reward scale and ``s'[t]`` the observation after step ``t``; at the rollout's end ``G[T] =
    max_a Q(s'[T - 1], a)``. A terminated step's target is ``s r[t]``; a truncated one's ``s r[t] +
    gamma max_a Q(final_obs[t], a)``; neither runs on into the next episode
    (:func:`rljax.learning.returns.lambda_returns`).

    One Q-network call over ``final_obs`` gives every bootstrap: where step ``t`` did not end an
    episode ``final_obs[t]`` is ``obs[t + 1]`` (VecEnv resets only finished environments), where it
    was truncated it is the episode's last observation, and where it terminated it is not read.
    """
    q_next = network_max_q(setup, params, batch.final_obs)  # [T, B]
    # lambda_returns reads V(obs[t + 1]) as value[t + 1] and never value[0].
    value = jnp.concatenate([jnp.zeros_like(q_next[:1]), q_next[:-1]], axis=0)
    return returns.lambda_returns(
        batch.reward * hparams.reward_scale,
        value,
        q_next[-1],
        q_next,
        batch.terminated,
        batch.truncated,
        hparams.gamma,
        hparams.q_lambda,
    )


def network_max_q(setup: Setup, params: dict, obs: jax.Array) -> jax.Array:
    """``max_a Q(obs, a)`` ``[...]`` of observations ``[..., *obs_shape]``."""
    return jnp.max(setup.network.apply(params, obs), axis=-1)


def make_update(config: Config, setup: Setup) -> Callable[..., tuple[TrainState, dict]]:
    """``update(state, hparams) -> (state, metrics)``: one PQN update (module docstring); the
    metrics are scalars, one per :data:`METRIC_NAMES`."""
    rollout = make_rollout(config, setup)
    network, obs_shape = setup.network, setup.obs_shape

    def loss_fn(params, minibatch):
        obs, action, target = minibatch  # [N, *obs_shape], [N], [N]
        q = jnp.take_along_axis(network.apply(params, obs), action[:, None], axis=-1)[:, 0]
        td_loss = 0.5 * jnp.mean(jnp.square(q - target))
        return td_loss, {"td_loss": td_loss, "q_mean": jnp.mean(q)}

    def update(state: TrainState, hparams: HParams):
        key, key_rollout = jax.random.split(state.key)
        env_state, next_obs, batch, epsilon = rollout(state, hparams, key_rollout)
        targets = q_lambda_targets(setup, state.params, batch, hparams)

        flat = (
            batch.obs.reshape(-1, *obs_shape),
            batch.action.reshape(-1),
            targets.reshape(-1),
        )
        lr = optim.annealed_lr(hparams.lr, state.update_step, config.num_updates, config.anneal_lr)
        params, opt_state, key, aux = optim.run_epochs(
            loss_fn,
            optim.make_optimizer(hparams.max_grad_norm, config.adam_eps),
            lr,
            state.params,
            state.opt_state,
            key,
            flat,
            update_epochs=config.update_epochs,
            num_minibatches=config.num_minibatches,
        )
        metrics = updates.update_metrics(
            config,
            aux,
            lr,
            state.update_step,
            batch.episode_done,
            episode_return=batch.episode_return,
            episode_length=batch.episode_length.astype(jnp.float32),
        )
        metrics["epsilon"] = epsilon
        new_state = TrainState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=next_obs,
            key=key,
            update_step=state.update_step + 1,
        )
        return new_state, {name: metrics[name] for name in METRIC_NAMES}

    return update


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` PQN updates.

    ``metrics`` maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array.
    """
    return updates.make_chunk(config, make_update(config, make_setup(config)), num_updates)


def make_train(config: Config) -> Callable[..., TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    return updates.make_run(
        make_init(config), make_update_chunk(config, config.num_updates), TrainResult
    )
