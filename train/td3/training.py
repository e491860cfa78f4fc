"""TD3's training programs: :func:`make_init` (networks, optimisers, empty replay buffer,
environments), :func:`make_update_chunk` (updates scanned into one program) and
:func:`make_train` (a whole run).

One gradient step (:func:`make_gradient_step`, as in SB3):

1. the critics regress on ``y = r + gamma (1 - terminated) min_i Q_target_i(s', a')`` with the
   smoothed target action ``a' = clip(pi_target(s') + clip(eps, -c, c), -1, 1)``, ``eps ~ N(0,
   target_policy_noise^2)`` (:func:`make_targets`), loss ``sum_i mean (Q_i - y)^2``;
2. every ``policy_delay``-th step, the actor maximises ``Q_1(s, pi(s))`` through the just-updated
   first critic, and the target actor and critics move towards theirs (Polyak, ``tau``).

Acting adds ``N(0, exploration_noise^2)`` to the policy's action, clipped to ``[-1, 1]``. The
update around it (collect, add, learn after ``learning_starts``) is
:func:`rljax.learning.off_policy.make_update`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rljax.learning import off_policy, q_learning, updates
from rljax.learning.actor_critic import DeterministicActor, TwinCritic, bootstrap_target
from rljax.learning.off_policy import (
    Setup,
    TrainResult,
    TrainState,
    Transition,
    adam_step,
    init_state,
    make_setup,
)
from rljax.train.td3.config import Config, HParams

AUX_NAMES = ("critic_loss", "actor_loss", "q_mean")
METRIC_NAMES = (
    "episode_return",  # mean over envs of their last finished episode's return (NaN before one)
    "episode_length",  # the same for the lengths
    "episodes_finished",  # episodes that ended in this update, all envs together
    "critic_loss",  # mean over the update's gradient steps; 0 before learning starts
    "actor_loss",  # -Q_1(s, pi(s)) of the batches (computed every step, applied every delay-th)
    "q_mean",  # mean Q(obs, action) of the sampled batches
    "learning",  # 1.0 once the update took gradient steps
    "env_steps",  # environment steps so far, per seed
)


def make_networks(config: Config, action_dim: int) -> tuple[DeterministicActor, TwinCritic]:
    """The actor and the twin critics of ``config``."""
    actor = DeterministicActor(action_dim, config.hidden_sizes, config.activation)
    return actor, TwinCritic(config.hidden_sizes, config.activation)


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: actor and critics with equal targets,
    optimisers, an empty replay buffer and reset environments."""
    setup = make_setup(config)
    actor, critic = make_networks(config, setup.action_dim)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_actor, key_critic = jax.random.split(key, 3)
        obs = jnp.zeros(setup.obs_shape, jnp.float32)
        action = jnp.zeros((setup.action_dim,), jnp.float32)
        params = {
            "actor": actor.init(key_actor, obs),
            "critic": critic.init(key_critic, obs, action),
        }
        return init_state(config, setup, key, hparams, params, params)

    return init


def make_targets(config: Config, setup: Setup) -> Callable[..., jax.Array]:
    """``targets(target_params, batch, noise, hparams) -> y [B]``: the critics' target of
    ``batch`` (a :class:`Transition`, leaves ``[B, ...]``) with the smoothing noise drawn from
    standard normal ``noise [B, A]`` (scaled by ``target_policy_noise``, then clipped). No
    gradient."""
    actor, critic = make_networks(config, setup.action_dim)

    def targets(target_params: Any, batch: Transition, noise: jax.Array, hparams: HParams):
        clip = hparams.target_noise_clip
        smoothing = jnp.clip(hparams.target_policy_noise * noise, -clip, clip)
        next_action = actor.apply(target_params["actor"], batch.next_obs) + smoothing
        next_action = jnp.clip(next_action, -1.0, 1.0)
        q_next = critic.apply(target_params["critic"], batch.next_obs, next_action)
        y = bootstrap_target(batch.reward, batch.terminated, hparams.gamma, q_next.min(axis=0))
        return jax.lax.stop_gradient(y)

    return targets


def make_gradient_step(config: Config, setup: Setup) -> Callable[..., tuple]:
    """``gradient_step(learner, batch, hparams, key) -> (learner, aux)``: one TD3 gradient step
    (module docstring) on ``batch`` (leaves ``[B, ...]``); ``learner = (params, target_params,
    opt_state, grad_step)``; ``aux`` has one scalar per :data:`AUX_NAMES`."""
    actor, critic = make_networks(config, setup.action_dim)
    targets = make_targets(config, setup)

    def gradient_step(learner, batch: Transition, hparams: HParams, key: jax.Array):
        params, target_params, opt_state, grad_step = learner
        noise = jax.random.normal(key, (batch.reward.shape[0], setup.action_dim))
        y = targets(target_params, batch, noise, hparams)

        def critic_loss(critic_params):
            q = critic.apply(critic_params, batch.obs, batch.action)  # [2, B]
            return jnp.sum(jnp.mean(jnp.square(q - y), axis=1)), q

        (loss_q, q), grads = jax.value_and_grad(critic_loss, has_aux=True)(params["critic"])
        critic_params, critic_opt = adam_step(
            config, hparams, grads, opt_state["critic"], params["critic"]
        )

        def actor_loss(actor_params):
            action = actor.apply(actor_params, batch.obs)
            return -jnp.mean(critic.apply(critic_params, batch.obs, action)[0])

        loss_pi, grads = jax.value_and_grad(actor_loss)(params["actor"])
        actor_params, actor_opt = adam_step(
            config, hparams, grads, opt_state["actor"], params["actor"]
        )
        # the delayed parts: under vmap a lax.cond would run both branches anyway, so compute
        # the actor's step every time and keep it (and move the targets) on every delay-th step
        due = (grad_step + 1) % config.policy_delay == 0
        actor_params, actor_opt = q_learning.hard_update(
            (actor_params, actor_opt), (params["actor"], opt_state["actor"]), due
        )
        new_params = {"actor": actor_params, "critic": critic_params}
        moved = q_learning.polyak_update(new_params, target_params, hparams.tau)
        new_target = q_learning.hard_update(moved, target_params, due)
        new_opt = {"actor": actor_opt, "critic": critic_opt}
        aux = {"critic_loss": loss_q, "actor_loss": loss_pi, "q_mean": jnp.mean(q)}
        return (new_params, new_target, new_opt, grad_step + 1), aux

    return gradient_step


def make_explore(config: Config, setup: Setup) -> Callable[..., jax.Array]:
    """``explore(params, obs [N, D], noise [N, A], hparams) -> action [N, A]``: the policy's
    action plus ``exploration_noise * noise``, clipped to ``[-1, 1]``."""
    actor, _ = make_networks(config, setup.action_dim)

    def explore(params: Any, obs: jax.Array, noise: jax.Array, hparams: HParams) -> jax.Array:
        action = actor.apply(params["actor"], obs) + hparams.exploration_noise * noise
        return jnp.clip(action, -1.0, 1.0)

    return explore


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` TD3 updates.

    ``metrics`` maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array.
    """
    parts = (make_explore, make_gradient_step, AUX_NAMES, METRIC_NAMES)
    return off_policy.make_chunk(config, num_updates, *parts)


def make_train(config: Config) -> Callable[..., TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    chunk = make_update_chunk(config, config.num_updates)
    return updates.make_run(make_init(config), chunk, TrainResult)
