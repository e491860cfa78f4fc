"""DQN's training programs: :func:`make_init` (networks, optimiser, empty replay buffer,
environments), :func:`make_update_chunk` (updates scanned into one program) and
:func:`make_train` (a whole run).

One update (:func:`make_update`): ``train_freq`` steps of the ``num_envs`` environments,
epsilon-greedy (exploration noise drawn ahead for the whole update; the noisy nets' weights
instead when ``noisy``), their transitions added to the replay buffer, then ``gradient_steps``
gradient steps on sampled batches (:mod:`rljax.train.dqn.loss`), each followed by the target
network's update and, with prioritised replay, the sampled items' new priorities. Until the
buffer holds ``learning_starts`` transitions the gradient steps are skipped by a ``lax.cond``
(a select under ``vmap``), so every update compiles to the same program.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from rljax.learning import optim, q_learning, updates
from rljax.learning.replay import linear_schedule
from rljax.q_networks import NOISE
from rljax.train.dqn.config import Config, HParams
from rljax.train.dqn.loss import make_loss, make_targets
from rljax.train.dqn.policy import Setup, action_values, apply, make_setup, support
from rljax.train.dqn.state import METRIC_NAMES, TrainResult, TrainState, Transition


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: networks (target = online), optimiser, an empty
    replay buffer and freshly reset environments."""
    setup = make_setup(config)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_net, key_noise, key_env = jax.random.split(key, 4)
        dummy = jnp.zeros(setup.obs_shape, jnp.float32)
        params = setup.network.init({"params": key_net, NOISE: key_noise}, dummy)
        obs, env_state = setup.venv.reset(key_env, setup.env_params)
        example = Transition(
            obs=dummy,
            action=jnp.int32(0),
            reward=jnp.float32(0.0),
            terminated=jnp.bool_(False),
            truncated=jnp.bool_(False),
            next_obs=dummy,
        )
        optimizer = optim.make_optimizer(hparams.max_grad_norm, config.adam_eps)
        return TrainState(
            params=params,
            target_params=params,
            opt_state=optimizer.init(params),
            replay=setup.replay.init(example),
            env_state=env_state,
            obs=obs.astype(jnp.float32),
            key=key,
            update_step=jnp.int32(0),
            grad_step=jnp.int32(0),
        )

    return init


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` DQN updates.

    ``metrics`` maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array.
    """
    return updates.make_chunk(config, make_update(config, make_setup(config)), num_updates)


def make_train(config: Config) -> Callable[..., TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    init = make_init(config)
    return updates.make_run(init, make_update_chunk(config, config.num_updates), TrainResult)


def epsilon_at(config: Config, hparams: HParams, env_steps: jax.Array) -> jax.Array:
    """Exploration epsilon after ``env_steps`` steps: linear from ``epsilon_start`` to
    ``epsilon_finish`` over ``epsilon_decay * total_timesteps`` steps; 0 with noisy nets."""
    if config.noisy:
        return jnp.float32(0.0)
    # linear_schedule takes a static length: the traced decay fraction rescales the step instead
    step = env_steps.astype(jnp.float32) / hparams.epsilon_decay
    return linear_schedule(
        hparams.epsilon_start, hparams.epsilon_finish, step, config.total_timesteps
    )


def make_collect(config: Config, setup: Setup) -> Callable[..., tuple]:
    """``collect(state, hparams, key) -> (env_state, obs, transitions, episodes_finished,
    epsilon)``: ``train_freq`` epsilon-greedy steps of every env; transitions ``[N, T, ...]``."""
    venv, env_params, network = setup.venv, setup.env_params, setup.network
    T, N = config.train_freq, config.num_envs

    def collect(state: TrainState, hparams: HParams, key: jax.Array):
        key_uniform, key_action, key_noise, key_env = jax.random.split(key, 4)
        env_steps = state.update_step * T * N + jnp.arange(T) * N  # [T] before each step
        epsilon = jax.vmap(lambda s: epsilon_at(config, hparams, s))(env_steps)
        uniform = jax.random.uniform(key_uniform, (T, N))
        random_action = jax.random.randint(key_action, (T, N), 0, setup.num_actions, jnp.int32)
        atoms = support(config, hparams)

        def step(carry, inputs):
            env_state, obs = carry
            key_noise_t, key_env_t, uniform_t, random_t, epsilon_t = inputs
            q = action_values(config, apply(config, network, state.params, obs, key_noise_t), atoms)
            action = q_learning.epsilon_greedy(q, epsilon_t, uniform_t, random_t)
            next_obs, env_state, reward, terminated, truncated, info = venv.step(
                key_env_t, env_state, action, env_params
            )
            transition = Transition(
                obs=obs,
                action=action,
                reward=reward.astype(jnp.float32),
                terminated=terminated,
                truncated=truncated,
                next_obs=info["final_obs"].astype(jnp.float32),  # pre-reset: the same episode's
            )
            return (env_state, next_obs.astype(jnp.float32)), (transition, info["episode_done"])

        inputs = (jax.random.split(key_noise, T), jax.random.split(key_env, T), uniform,
                  random_action, epsilon)  # fmt: skip
        (env_state, obs), (transitions, done) = jax.lax.scan(
            step, (state.env_state, state.obs), inputs
        )
        transitions = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), transitions)
        return env_state, obs, transitions, done.sum(dtype=jnp.float32), epsilon[0]

    return collect


def make_learn(config: Config, setup: Setup) -> Callable[..., tuple]:
    """``learn(params, target_params, opt_state, replay, grad_step, hparams, beta, key) ->
    (params, target_params, opt_state, replay, grad_step, loss, q_mean)``: ``gradient_steps``
    gradient steps, each with its target update and (prioritised) priority update."""
    replay_fns, targets_fn, loss_fn = (
        setup.replay,
        make_targets(config, setup),
        make_loss(config, setup),
    )
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def gradient_step(carry, key):
        params, target_params, opt_state, replay, grad_step, hparams, beta = carry
        key_sample, key_target, key_online = jax.random.split(key, 3)
        sample = replay_fns.sample(replay, key_sample, beta)
        target = targets_fn(params, target_params, sample.steps, hparams, key_target)
        (loss, aux), grads = grad_fn(
            params, sample.steps, target, sample.weights, hparams, key_online
        )
        optimizer = optim.make_optimizer(hparams.max_grad_norm, config.adam_eps)
        param_updates, opt_state = optimizer.update(grads, opt_state, params)
        params = jax.tree.map(lambda p, u: p - hparams.lr * u, params, param_updates)
        grad_step = grad_step + 1
        if config.target_update == "polyak":
            target_params = q_learning.polyak_update(params, target_params, hparams.tau)
        else:
            due = grad_step % config.target_update_every == 0
            target_params = q_learning.hard_update(params, target_params, due)
        replay = replay_fns.set_priorities(
            replay, sample.indices, aux["priority"], hparams.priority_alpha
        )
        carry = (params, target_params, opt_state, replay, grad_step, hparams, beta)
        return carry, (loss, jnp.mean(aux["q"]))

    def learn(params, target_params, opt_state, replay, grad_step, hparams, beta, key):
        carry = (params, target_params, opt_state, replay, grad_step, hparams, beta)
        keys = jax.random.split(key, config.gradient_steps)
        carry, (loss, q_mean) = jax.lax.scan(gradient_step, carry, keys)
        return (*carry[:5], jnp.mean(loss), jnp.mean(q_mean))

    return learn


def make_update(config: Config, setup: Setup) -> Callable[..., tuple[TrainState, dict]]:
    """``update(state, hparams) -> (state, metrics)``: one DQN update (module docstring); the
    metrics are scalars, one per :data:`METRIC_NAMES`."""
    collect, learn = make_collect(config, setup), make_learn(config, setup)

    def update(state: TrainState, hparams: HParams):
        key, key_collect, key_learn = jax.random.split(state.key, 3)
        env_state, obs, transitions, finished, epsilon = collect(state, hparams, key_collect)
        replay = setup.replay.add(state.replay, transitions)
        env_steps = (state.update_step + 1) * config.steps_per_update
        ready = setup.replay.can_sample(replay) & (env_steps >= config.learning_starts)
        beta = linear_schedule(hparams.beta0, 1.0, env_steps, config.total_timesteps)
        learned = (state.params, state.target_params, state.opt_state, replay, state.grad_step)

        def skip(*args):
            return (*learned, jnp.float32(0.0), jnp.float32(0.0))

        params, target_params, opt_state, replay, grad_step, loss, q_mean = jax.lax.cond(
            ready, learn, skip, *learned, hparams, beta, key_learn
        )
        # each env's last finished episode (0 before one): the mean over envs that finished one
        has_episode = env_state.returned_episode_length > 0
        count = has_episode.sum()
        mean_over_finished = lambda x: jnp.where(
            count > 0, jnp.sum(jnp.where(has_episode, x, 0.0)) / jnp.maximum(count, 1), jnp.nan
        )
        metrics = {
            "episode_return": mean_over_finished(env_state.returned_episode_return),
            "episode_length": mean_over_finished(
                env_state.returned_episode_length.astype(jnp.float32)
            ),
            "episodes_finished": finished,
            "loss": loss,
            "q_mean": q_mean,
            "epsilon": epsilon,
            "learning": ready.astype(jnp.float32),
            "env_steps": env_steps,
        }
        new_state = TrainState(
            params=params,
            target_params=target_params,
            opt_state=opt_state,
            replay=replay,
            env_state=env_state,
            obs=obs,
            key=key,
            update_step=state.update_step + 1,
            grad_step=grad_step,
        )
        return new_state, {name: metrics[name] for name in METRIC_NAMES}

    return update
