"""Proximal Policy Optimisation, compiled end to end.

``train = jax.jit(ppo.make_train(config)); result = train(jax.random.key(0))`` runs a whole
training run (rollouts, GAE, epochs of shuffled minibatches, Adam) as one XLA program.
``jax.vmap(ppo.make_train(config))(keys)`` trains many seeds at once, and ``hparams`` (learning
rate, clip, entropy and value coefficients, GAE lambda, gamma, gradient-norm clip) are pytree
leaves, so a hyperparameter sweep is a ``vmap`` too.

For long runs with progress, checkpoints and resume, use the pieces: ``init(config)(key) -> state``
and ``make_update_chunk(config, n)(state) -> (state, metrics)``; running the chunks back to back
gives bitwise the same parameters as one ``train`` call.

Where the time goes, and what this implementation does about it (CPU, 4 envs x 128 steps):
the rollout runs only the actor; values of all observations (and of the final observations of
truncated episodes) are computed in one batched critic call after the rollout; environments are
stepped through :class:`rljax.vector.VecEnv`, which draws reset states only for finished episodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.flatten_util import ravel_pytree

from rljax import spaces
from rljax.configs import ConfigBase, field, leaf_names
from rljax.env import make, registered_ids
from rljax.learning import distributions, optim, returns
from rljax.learning.episodes import Policy, ProgramCache, play_episode, run_episodes
from rljax.learning.running_stats import RunningMeanStd
from rljax.networks import ACTIVATIONS, Actor, Critic
from rljax.run.algorithm import Algorithm
from rljax.vector import VecEnv, VecEnvState


@dataclasses.dataclass(frozen=True)
class CommonConfig(ConfigBase):
    """The fields, rules and derived sizes PPO and MAPPO share, with PPO's defaults.

    Field names follow the common PPO implementations so that scripts carry over. Shape-changing
    fields are static; the numeric ones declared ``leaf=True`` become :class:`HParams` leaves that
    may differ between vmapped runs. :class:`rljax.train.mappo.Config` derives from it and
    re-declares the fields whose default or meaning differs.
    """

    env_id: str = field("CartPole-v1", "registered environment id")
    num_envs: int = field(4, "parallel environments per seed")
    num_steps: int = field(128, "rollout length per update, per environment")
    total_timesteps: int = field(
        500_000, "environment steps per seed (updates = this // (num_envs * num_steps))"
    )
    update_epochs: int = field(4, "passes over each rollout batch")
    num_minibatches: int = field(4, "minibatches per epoch (must divide num_envs * num_steps)")
    lr: float = field(2.5e-4, "Adam learning rate", leaf=True)
    gamma: float = field(0.99, "discount factor", leaf=True)
    gae_lambda: float = field(0.95, "GAE lambda", leaf=True)
    clip_eps: float = field(
        0.2, "PPO ratio clip (and value clip with --clip-value-loss)", leaf=True
    )
    ent_coef: float = field(0.01, "entropy bonus coefficient", leaf=True)
    vf_coef: float = field(0.5, "value loss coefficient", leaf=True)
    max_grad_norm: float = field(0.5, "global gradient-norm clip", leaf=True)
    anneal_lr: bool = field(True, "anneal the learning rate linearly to 0")
    activation: str = field("tanh", "hidden activation")
    hidden_sizes: tuple[int, ...] = field((64, 64), "hidden layer sizes of actor and critic")
    # PureJaxRL clips the value loss too; without it CartPole stalls.
    clip_value_loss: bool = field(True, "clip the value loss like the policy ratio")
    normalize_obs: bool = field(False, "normalise observations with running statistics")
    adam_eps: float = field(1e-5, "Adam epsilon")
    env_kwargs: tuple[tuple[str, Any], ...] = field(
        (), "environment parameter overrides, values parsed as JSON (e.g. gravity=9.81)"
    )

    def validate(self) -> None:
        validate_common(self)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    def hparams(self) -> HParams:
        """This config's numeric hyperparameters (its ``leaf=True`` fields) as float32 leaves."""
        return HParams(
            **{name: jnp.float32(getattr(self, name)) for name in leaf_names(type(self))}
        )


@dataclasses.dataclass(frozen=True)
class Config(CommonConfig):
    """PPO settings. Defaults are PureJaxRL's CartPole configuration (solves it in 500 k steps)."""

    normalize_reward: bool = field(
        False, "scale rewards by the running std of the discounted return"
    )

    def validate(self) -> None:
        validate_common(self)
        env, params = make(self.env_id, **dict(self.env_kwargs))
        if env.reward_shape(params) != ():
            self.fail(
                "env_id",
                "PPO trains single-agent environments, and this one gives a reward per agent or "
                f"player (shape {env.reward_shape(params)})",
            )
        space = env.action_space(params)
        if not isinstance(space, spaces.Discrete) and not (
            isinstance(space, spaces.Box) and len(space.shape) == 1
        ):
            self.fail("env_id", f"PPO supports Discrete and 1-D Box action spaces, not {space!r}")


def validate_common(config: CommonConfig) -> None:
    """The rules of the fields PPO and MAPPO share (same names, same messages).

    A bad value raises ``ValueError`` through ``config.fail``; types were checked before
    (``ConfigBase.__post_init__``). A subclass's ``validate`` calls it before its own rules.
    """
    if config.env_id not in registered_ids():
        config.fail("env_id", f"must be one of {', '.join(registered_ids())}")
    for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches"):
        if getattr(config, name) < 1:
            config.fail(name, "must be an integer >= 1")
    if config.total_timesteps < config.num_envs * config.num_steps:
        config.fail("total_timesteps", f"must be >= num_envs * num_steps = {config.batch_size}")
    if config.batch_size % config.num_minibatches:
        config.fail(
            "num_minibatches",
            f"must divide the batch num_envs * num_steps = {config.batch_size}",
        )
    if not config.lr > 0:
        config.fail("lr", "must be > 0")
    for name in ("gamma", "gae_lambda"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            config.fail(name, "must be in [0, 1]")
    if not config.clip_eps > 0:
        config.fail("clip_eps", "must be > 0")
    for name in ("ent_coef", "vf_coef"):
        if not getattr(config, name) >= 0:
            config.fail(name, "must be >= 0")
    if not config.max_grad_norm > 0:
        config.fail("max_grad_norm", "must be > 0")
    if not config.adam_eps > 0:
        config.fail("adam_eps", "must be > 0")
    if config.activation not in ACTIVATIONS:
        config.fail("activation", f"must be one of {', '.join(ACTIVATIONS)}")
    if not config.hidden_sizes or any(h < 1 for h in config.hidden_sizes):
        config.fail("hidden_sizes", "must be a non-empty sequence of sizes >= 1")
    try:
        make(config.env_id, **dict(config.env_kwargs))
    except ValueError as error:
        raise ValueError(f"Config.env_kwargs={dict(config.env_kwargs)!r}: {error}") from None


@struct.dataclass
class HParams:
    """Hyperparameters that may differ between vmapped runs: float32 scalars, [S] under vmap."""

    lr: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    clip_eps: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array
    max_grad_norm: jax.Array


# Named configurations that reach the targets in benchmarks/RESULTS.md (``rljax train ppo
# --preset NAME``). Pendulum needs a shorter horizon (gamma 0.95), larger batches, a higher
# learning rate, no entropy bonus and normalised observations and rewards.
PRESETS: dict[str, Config] = {
    "cartpole": Config(),
    "pendulum": Config(
        env_id="Pendulum-v1",
        num_envs=16,
        num_steps=128,
        total_timesteps=1_000_000,
        gamma=0.95,
        lr=1e-3,
        update_epochs=4,
        num_minibatches=8,
        ent_coef=0.0,
        normalize_obs=True,
        normalize_reward=True,
    ),
}


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: a checkpoint saves this whole pytree."""

    params: Any  # {"actor": ..., "critic": ...}
    opt_state: Any
    env_state: VecEnvState
    obs: jax.Array  # [num_envs, *obs_shape], the observation the next rollout starts from
    key: jax.Array  # typed PRNG key
    update_step: jax.Array  # int32, updates done so far
    obs_stats: RunningMeanStd
    return_stats: RunningMeanStd  # of the discounted return, for reward normalisation
    discounted_return: jax.Array  # [num_envs]


class TrainResult(NamedTuple):
    params: Any
    metrics: dict[str, jax.Array]  # each [num_updates] (or [S, num_updates] under vmap)
    state: TrainState


class Transition(NamedTuple):
    obs: jax.Array  # [T, B, *obs_shape] raw observations
    action: jax.Array  # [T, B] or [T, B, A]
    log_prob: jax.Array  # [T, B]
    reward: jax.Array  # [T, B] (normalised if normalize_reward)
    terminated: jax.Array  # [T, B] bool
    truncated: jax.Array  # [T, B] bool
    final_obs: jax.Array  # [T, B, *obs_shape] last obs of the episode on the step that ended it
    episode_return: jax.Array  # [T, B] return of the episode finished at this step
    episode_length: jax.Array  # [T, B]
    episode_done: jax.Array  # [T, B] bool


METRIC_NAMES = (
    "episode_return",
    "episode_length",
    "episodes_finished",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_frac",
    "grad_norm",
    "lr",
    "env_steps",
)


# --- policy distribution ----------------------------------------------------------------------


def _log_prob_entropy(
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


def _sample_noise(key: jax.Array, shape: tuple[int, ...], continuous: bool) -> jax.Array:
    """The noise that turns actor outputs into actions: standard normal or Gumbel ``[*shape]``."""
    if continuous:
        return distributions.normal_noise(key, shape)
    return distributions.gumbel_noise(key, shape)


def _sample(noise: jax.Array, out: tuple[jax.Array, jax.Array | None], continuous: bool):
    """``(action, log_prob)`` from pre-drawn ``noise [B, A]`` (drawn for the whole rollout before
    its step loop: random-number generation per step is expensive on a CPU)."""
    if continuous:
        mean, log_std = out
        action = distributions.gaussian_sample(mean, log_std, noise)
    else:
        action = distributions.categorical_sample(out[0], noise)
    log_prob, _ = _log_prob_entropy(out, action, continuous)
    return action, log_prob


def ppo_loss(
    log_prob: jax.Array,
    old_log_prob: jax.Array,
    entropy: jax.Array,
    value: jax.Array,
    old_value: jax.Array,
    advantage: jax.Array,
    target: jax.Array,
    hparams: HParams,
    clip_value_loss: bool,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO's minibatch loss; every argument but ``hparams`` is ``[N]``.

    ``policy_loss`` is the negated clipped surrogate on advantages normalised over the minibatch;
    ``value_loss`` is half the mean squared error to ``target`` (with ``clip_value_loss``, the
    larger of that and the error of a prediction kept within ``clip_eps`` of ``old_value``);
    the total subtracts ``ent_coef`` times the mean entropy. Returns ``(total, diagnostics)``.
    """
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    clipped_ratio = jnp.clip(ratio, 1.0 - hparams.clip_eps, 1.0 + hparams.clip_eps)
    policy_loss = -jnp.mean(jnp.minimum(ratio * advantage, clipped_ratio * advantage))
    value_error = jnp.square(value - target)
    if clip_value_loss:
        value_clipped = old_value + jnp.clip(value - old_value, -hparams.clip_eps, hparams.clip_eps)
        value_error = jnp.maximum(value_error, jnp.square(value_clipped - target))
    value_loss = 0.5 * jnp.mean(value_error)
    entropy = jnp.mean(entropy)
    total = policy_loss + hparams.vf_coef * value_loss - hparams.ent_coef * entropy
    diagnostics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_frac": jnp.mean((jnp.abs(ratio - 1.0) > hparams.clip_eps).astype(jnp.float32)),
    }
    return total, diagnostics


# --- training ----------------------------------------------------------------------------------


class _Setup(NamedTuple):
    venv: VecEnv
    env_params: Any
    actor: Actor
    critic: Critic
    continuous: bool
    action_low: Any
    action_high: Any
    obs_shape: tuple[int, ...]


def _setup(config: Config) -> _Setup:
    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    venv = VecEnv(env, config.num_envs)
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
    return _Setup(venv, env_params, actor, critic, continuous, low, high, obs_shape)


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: networks, optimiser and environments."""
    setup = _setup(config)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_actor, key_critic, key_env = jax.random.split(key, 4)
        dummy = jnp.zeros(setup.obs_shape, jnp.float32)
        params = {
            "actor": setup.actor.init(key_actor, dummy),
            "critic": setup.critic.init(key_critic, dummy),
        }
        obs, env_state = setup.venv.reset(key_env, setup.env_params)
        flat_params, _ = ravel_pytree(params)
        return TrainState(
            params=params,
            opt_state=optim.make_optimizer(hparams.max_grad_norm, config.adam_eps).init(
                flat_params
            ),
            env_state=env_state,
            obs=obs.astype(jnp.float32),
            key=key,
            update_step=jnp.int32(0),
            obs_stats=RunningMeanStd.create(setup.obs_shape),
            return_stats=RunningMeanStd.create(()),
            discounted_return=jnp.zeros((config.num_envs,), jnp.float32),
        )

    return init


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` PPO updates.

    ``metrics`` maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array.
    """
    setup = _setup(config)
    update = _make_update(config, setup)

    def chunk(state: TrainState, hparams: HParams | None = None):
        hparams = config.hparams() if hparams is None else hparams
        return jax.lax.scan(lambda s, _: update(s, hparams), state, None, num_updates)

    return chunk


def make_train(config: Config) -> Callable[..., TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    init = make_init(config)
    chunk = make_update_chunk(config, config.num_updates)

    def train(key: jax.Array, hparams: HParams | None = None) -> TrainResult:
        state = init(key, hparams)
        state, metrics = chunk(state, hparams)
        return TrainResult(state.params, metrics, state)

    return train


def _make_update(config: Config, setup: _Setup):
    venv, env_params, actor, critic = setup.venv, setup.env_params, setup.actor, setup.critic
    continuous = setup.continuous

    def normalize_obs(stats: RunningMeanStd, obs: jax.Array) -> jax.Array:
        return stats.normalize(obs) if config.normalize_obs else obs

    def rollout(state: TrainState, hparams: HParams, key: jax.Array):
        T, B = config.num_steps, config.num_envs
        key_noise, key_env = jax.random.split(key)
        noise = _sample_noise(key_noise, (T, B, actor.action_dim), continuous)
        env_keys = jax.random.split(key_env, T)

        def step(carry, inputs):
            env_state, obs, discounted_return = carry
            noise_t, key_t = inputs
            out = actor.apply(state.params["actor"], normalize_obs(state.obs_stats, obs))
            action, log_prob = _sample(noise_t, out, continuous)
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
            next_obs = next_obs.astype(jnp.float32)
            carry = (env_state, next_obs, jnp.where(done, 0.0, discounted_return))
            return carry, (transition, discounted_return)

        carry = (state.env_state, state.obs, state.discounted_return)
        carry, (batch, discounted) = jax.lax.scan(step, carry, (noise, env_keys))
        return carry, batch, discounted

    def loss_fn(params, minibatch, hparams: HParams):
        obs, action, old_log_prob, old_value, advantage, target = minibatch
        out = actor.apply(params["actor"], obs)
        log_prob, entropy = _log_prob_entropy(out, action, continuous)
        value = critic.apply(params["critic"], obs)

        return ppo_loss(
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
        (env_state, next_obs, discounted_return), batch, discounted = rollout(
            state, hparams, key_rollout
        )

        reward = batch.reward
        return_stats = state.return_stats
        if config.normalize_reward:
            return_stats = return_stats.update(discounted.reshape(-1))
            reward = state.return_stats.scale(reward)

        # One critic call over the whole rollout: values of obs[0..T-1], of the next obs and of the
        # final observations of episodes ended in the rollout.
        T, B = config.num_steps, config.num_envs
        stacked = jnp.concatenate(
            [
                batch.obs.reshape(T * B, -1),
                next_obs.reshape(B, -1),
                batch.final_obs.reshape(T * B, -1),
            ]
        ).reshape(2 * T * B + B, *setup.obs_shape)
        values = critic.apply(state.params["critic"], normalize_obs(state.obs_stats, stacked))
        value = values[: T * B].reshape(T, B)
        next_value = values[T * B : T * B + B]
        final_value = values[T * B + B :].reshape(T, B)
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

        flat = (
            normalize_obs(state.obs_stats, batch.obs).reshape(T * B, *setup.obs_shape),
            batch.action.reshape(T * B, *batch.action.shape[2:]),
            batch.log_prob.reshape(-1),
            value.reshape(-1),
            advantages.reshape(-1),
            targets.reshape(-1),
        )
        params, opt_state, key, aux, lr = optimise(
            config, loss_fn, hparams, state.params, state.opt_state, state.update_step, key, flat
        )

        obs_stats = state.obs_stats
        if config.normalize_obs:
            obs_stats = obs_stats.update(batch.obs.reshape(T * B, *setup.obs_shape))

        metrics = update_metrics(
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


def optimise(
    config: CommonConfig,
    loss_fn: Callable[..., tuple[jax.Array, dict[str, jax.Array]]],
    hparams: HParams,
    params: Any,
    opt_state: Any,
    update_step: jax.Array,
    key: jax.Array,
    batch: Any,
) -> tuple[Any, Any, jax.Array, dict[str, jax.Array], jax.Array]:
    """One update's epochs of minibatches (:func:`rljax.learning.optim.run_epochs`) at the
    annealed learning rate: ``(params, opt_state, key, aux, lr)``.

    ``loss_fn(params, minibatch, hparams) -> (loss, aux)``; ``batch`` leaves ``[N, ...]``.
    """
    lr = optim.annealed_lr(hparams.lr, update_step, config.num_updates, config.anneal_lr)
    params, opt_state, key, aux = optim.run_epochs(
        lambda params, minibatch: loss_fn(params, minibatch, hparams),
        optim.make_optimizer(hparams.max_grad_norm, config.adam_eps),
        lr,
        params,
        opt_state,
        key,
        batch,
        update_epochs=config.update_epochs,
        num_minibatches=config.num_minibatches,
    )
    return params, opt_state, key, aux, lr


def update_metrics(
    config: CommonConfig,
    aux: dict[str, jax.Array],
    lr: jax.Array,
    update_step: jax.Array,
    episode_done: jax.Array,
    **per_step: jax.Array,
) -> dict[str, jax.Array]:
    """One update's metrics: the means of ``aux`` (loss diagnostics ``[epochs, minibatches]``),
    ``episodes_finished``, ``lr``, ``env_steps``, and for each ``per_step`` array ``[T, B]`` its
    mean over the steps that finished an episode (``episode_done [T, B]``; NaN if none did)."""
    finished = episode_done.astype(jnp.float32)
    num_finished = finished.sum()
    mean_over_finished = lambda x: jnp.where(
        num_finished > 0, (x * finished).sum() / jnp.maximum(num_finished, 1.0), jnp.nan
    )
    metrics = {name: jnp.mean(value) for name, value in aux.items()}
    metrics.update({name: mean_over_finished(x) for name, x in per_step.items()})
    metrics.update(
        episodes_finished=num_finished,
        lr=jnp.asarray(lr, jnp.float32),
        env_steps=(update_step + 1) * config.batch_size,
    )
    return metrics


def make_policy(config: Config) -> Callable[[Any, jax.Array, jax.Array, bool], jax.Array]:
    """``act(params, obs [B, ...], key, deterministic) -> env action [B, ...]`` for evaluation.

    ``obs`` must already be normalised if the config normalises observations (see
    :func:`normalize_for_policy`).
    """
    setup = _setup(config)

    def act(params, obs, key, deterministic: bool = True):
        out = setup.actor.apply(params["actor"], obs)
        if deterministic:
            mode = (
                distributions.gaussian_mode if setup.continuous else distributions.categorical_mode
            )
            action = mode(out[0])
        else:
            noise = _sample_noise(key, out[0].shape, setup.continuous)
            action, _ = _sample(noise, out, setup.continuous)
        if setup.continuous:
            action = jnp.clip(action, setup.action_low, setup.action_high)
        return action

    return act


def normalize_for_policy(config: Config, state: TrainState, obs: jax.Array) -> jax.Array:
    """The observation as the policy saw it in training (normalised if ``normalize_obs``)."""
    return state.obs_stats.normalize(obs) if config.normalize_obs else obs


# --- evaluation hooks (rljax eval) -------------------------------------------------------------

# Jitted evaluation programs, one per static config and settings (rljax eval calls repeatedly).
_PROGRAMS = ProgramCache()


def episode_policy(config: Config, state: TrainState, deterministic: bool = True) -> Policy:
    """One environment's ``policy(key, env_state, obs) -> action`` of a trained ``state`` (one
    seed), for :mod:`rljax.learning.episodes`: greedy (the mode) or sampled."""
    act = make_policy(config)

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        obs = normalize_for_policy(config, state, obs[None].astype(jnp.float32))
        return act(state.params, obs, key, deterministic)[0]

    return policy


def evaluate_policy(
    config: Config, state: TrainState, episodes: int, key: jax.Array, max_steps: int
) -> dict[str, Any]:
    """``{"returns": float64 [E], "lengths": int32 [E]}`` of ``episodes`` greedy episodes.

    ``state`` is one seed's (no seed axis); episode ``i`` plays from ``jax.random.split(key,
    episodes)[i]`` for at most ``max_steps`` steps. Host arrays; compiled once per static config.
    """
    env, env_params = make(config.env_id, **dict(config.env_kwargs))

    def build():
        return jax.jit(
            lambda s, k: run_episodes(
                env, env_params, episode_policy(config, s), k, episodes, max_steps
            )
        )

    result = jax.device_get(
        _PROGRAMS.get(config, ("evaluate", episodes, max_steps), build)(state, key)
    )
    return {
        "returns": np.asarray(result["return"], np.float64),
        "lengths": np.asarray(result["length"]),
    }


def record_episode(
    config: Config, state: TrainState, key: jax.Array, max_steps: int
) -> tuple[int, dict[str, Any]]:
    """``(length, trajectory)`` of one greedy episode from ``key`` (host arrays), the trajectory
    as :mod:`rljax.render` draws it (:func:`rljax.learning.episodes.play_episode`)."""
    env, env_params = make(config.env_id, **dict(config.env_kwargs))

    def build():
        return jax.jit(
            lambda s, k: play_episode(
                env, env_params, episode_policy(config, s), k, max_steps, record=True
            )
        )

    result = jax.device_get(_PROGRAMS.get(config, ("record", max_steps), build)(state, key))
    return int(result["length"]), result["trajectory"]


ALGORITHM = Algorithm(
    name="ppo",
    title="PPO",
    summary="Proximal Policy Optimisation",
    description="Train PPO on several seeds at once (one vmapped XLA program), in compiled chunks "
    "with progress, metrics, checkpoints and resume. Writes RUN_DIR/config.json, metrics.jsonl, "
    "checkpoints/, curve.png.",
    examples=(
        "rljax train ppo --total-timesteps 100000",
        "rljax train ppo --env-id Pendulum-v1 --lr 3e-4 --hidden-sizes 64 64 --seeds 4",
        "rljax train ppo --preset pendulum --total-timesteps 200000",
        "rljax train ppo --resume runs/CartPole-v1-ppo-20250101-120000",
        "rljax eval runs/CartPole-v1-ppo-20250101-120000 --episodes 10",
    ),
    config_cls=Config,
    presets=PRESETS,
    metric_names=METRIC_NAMES,
    make_init=make_init,
    make_update_chunk=make_update_chunk,
    evaluate_policy=evaluate_policy,
    record_episode=record_episode,
)
