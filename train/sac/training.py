"""SAC's training programs: :func:`make_init` (networks, optimisers, empty replay buffer,
environments), :func:`make_update_chunk` (updates scanned into one program) and
:func:`make_train` (a whole run).

One gradient step (:func:`make_gradient_step`, in SB3's order):

1. the critics regress on ``y = r + gamma (1 - terminated) (min_i Q_target_i(s', a') - alpha
   log pi(a' | s'))`` with ``a' ~ pi(s')`` (:func:`make_targets`), loss ``0.5 sum_i mean (Q_i -
   y)^2``;
2. the actor minimises ``mean(alpha log pi(a | s) - min_i Q_i(s, a))``, ``a ~ pi(s)``
   reparameterised, through the just-updated critics;
3. with ``autotune_alpha``, ``log alpha`` minimises ``-log alpha * mean(log pi(a | s) +
   target_entropy)`` (the temperature rises while the entropy is below its target);
4. the target critics move towards the critics by Polyak averaging (``tau``).

The update around it (collect, add, learn after ``learning_starts``) is
:func:`rljax.learning.off_policy.make_update`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from rljax.learning import off_policy, q_learning, updates
from rljax.learning.actor_critic import bootstrap_target
from rljax.learning.off_policy import (
    Setup,
    TrainResult,
    TrainState,
    Transition,
    adam_step,
    example_action,
    init_state,
    make_setup,
)
from rljax.train.sac.config import Config, HParams
from rljax.train.sac.policy import categorical_terms, make_networks, sample_action

AUX_NAMES = ("critic_loss", "actor_loss", "alpha", "entropy", "q_mean")
METRIC_NAMES = (
    "episode_return",  # mean over envs of their last finished episode's return (NaN before one)
    "episode_length",  # the same for the lengths
    "episodes_finished",  # episodes that ended in this update, all envs together
    "critic_loss",  # mean over the update's gradient steps; 0 before learning starts
    "actor_loss",
    "alpha",  # entropy temperature used by the gradient steps
    "entropy",  # -log pi of the actor's samples on the batch (nats, one-sample estimate)
    "q_mean",  # mean Q(obs, action) of the sampled batches
    "learning",  # 1.0 once the update took gradient steps
    "env_steps",  # environment steps so far, per seed
)


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: actor, critics (targets = critics), ``log
    alpha = log alpha_init``, optimisers, an empty replay buffer and reset environments."""
    setup = make_setup(config)
    actor, critic = make_networks(config, setup.action_dim, setup.discrete)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_actor, key_critic = jax.random.split(key, 3)
        obs = jnp.zeros(setup.obs_shape, jnp.float32)
        critic_inputs = (obs,) if setup.discrete else (obs, example_action(setup))
        params = {
            "actor": actor.init(key_actor, obs),
            "critic": critic.init(key_critic, *critic_inputs),
            "log_alpha": jnp.log(jnp.asarray(hparams.alpha_init, jnp.float32)),
        }
        return init_state(config, setup, key, hparams, params, {"critic": params["critic"]})

    return init


def make_targets(config: Config, setup: Setup) -> Callable[..., jax.Array]:
    """``targets(actor_params, target_critic_params, log_alpha, batch, noise, gamma) -> y [B]``:
    the critics' soft Bellman target of ``batch`` (a :class:`Transition`, leaves ``[B, ...]``),
    with ``a' ~ pi(next_obs)`` drawn from standard normal ``noise [B, A]`` (Box actions) or, for
    SAC-Discrete, the expectation over the policy's whole distribution (``noise`` unused). No
    gradient."""
    actor, critic = make_networks(config, setup.action_dim, setup.discrete)

    def targets(actor_params, target_critic_params, log_alpha, batch: Transition, noise, gamma):
        alpha = jnp.exp(log_alpha)
        if setup.discrete:
            probs, log_probs = categorical_terms(actor, actor_params, batch.next_obs)
            q_next = jnp.min(critic.apply(target_critic_params, batch.next_obs), axis=0)
            next_value = jnp.sum(probs * (q_next - alpha * log_probs), axis=-1)
        else:
            next_action, next_log_prob = sample_action(actor, actor_params, batch.next_obs, noise)
            q_next = critic.apply(target_critic_params, batch.next_obs, next_action)
            next_value = jnp.min(q_next, axis=0) - alpha * next_log_prob
        y = bootstrap_target(batch.reward, batch.terminated, gamma, next_value)
        return jax.lax.stop_gradient(y)

    return targets


def make_gradient_step(config: Config, setup: Setup) -> Callable[..., tuple]:
    """``gradient_step(learner, batch, hparams, key) -> (learner, aux)``: one SAC gradient step
    (module docstring) on ``batch`` (leaves ``[B, ...]``); ``learner = (params, target_params,
    opt_state, grad_step)``; ``aux`` has one scalar per :data:`AUX_NAMES`."""
    actor, critic = make_networks(config, setup.action_dim, setup.discrete)
    targets = make_targets(config, setup)
    A = setup.action_dim

    def q_taken(critic_params, obs, action):  # Q_i(obs, action) [2, B]
        if setup.discrete:
            return jnp.take_along_axis(critic.apply(critic_params, obs), action[None, :, None], -1)[
                ..., 0
            ]
        return critic.apply(critic_params, obs, action)

    def policy_objective(actor_params, critic_params, obs, noise, alpha):
        """``(mean(alpha log pi - min Q), entropy [B])``: of a reparameterised sample (Box),
        or exactly over the distribution (Discrete)."""
        if setup.discrete:
            probs, log_probs = categorical_terms(actor, actor_params, obs)
            q = jnp.min(critic.apply(critic_params, obs), axis=0)
            loss = jnp.sum(probs * (alpha * log_probs - q), axis=-1)
            return jnp.mean(loss), -jnp.sum(probs * log_probs, axis=-1)
        action, log_prob = sample_action(actor, actor_params, obs, noise)
        q = jnp.min(critic.apply(critic_params, obs, action), axis=0)
        return jnp.mean(alpha * log_prob - q), -log_prob

    if setup.discrete:  # a fraction of the uniform policy's entropy log(A) (Christodoulou 2019)
        target_entropy = lambda hparams: hparams.discrete_target_entropy * math.log(A)
    else:  # -A, SB3's
        target_entropy = lambda hparams: -hparams.target_entropy_scale * A

    def gradient_step(learner, batch: Transition, hparams: HParams, key: jax.Array):
        params, target_params, opt_state, grad_step = learner
        key_next, key_pi = jax.random.split(key)
        shape = (batch.reward.shape[0], A)
        log_alpha = params["log_alpha"]
        alpha = jnp.exp(log_alpha)
        y = targets(
            params["actor"],
            target_params["critic"],
            log_alpha,
            batch,
            jax.random.normal(key_next, shape),
            hparams.gamma,
        )

        def critic_loss(critic_params):
            q = q_taken(critic_params, batch.obs, batch.action)  # [2, B]
            return 0.5 * jnp.sum(jnp.mean(jnp.square(q - y), axis=1)), q

        (loss_q, q), grads = jax.value_and_grad(critic_loss, has_aux=True)(params["critic"])
        critic_params, critic_opt = adam_step(
            config, hparams, grads, opt_state["critic"], params["critic"]
        )
        noise_pi = jax.random.normal(key_pi, shape)

        (loss_pi, entropy), grads = jax.value_and_grad(policy_objective, has_aux=True)(
            params["actor"], critic_params, batch.obs, noise_pi, alpha
        )
        actor_params, actor_opt = adam_step(
            config, hparams, grads, opt_state["actor"], params["actor"]
        )
        alpha_opt = opt_state["log_alpha"]
        if config.autotune_alpha:
            # d/d log_alpha of log_alpha * mean(entropy - target_entropy): alpha falls while the
            # entropy is above its target, rises while below (SB3's loss, written as entropy)
            grad_alpha = jnp.mean(jax.lax.stop_gradient(entropy)) - target_entropy(hparams)
            log_alpha, alpha_opt = adam_step(config, hparams, grad_alpha, alpha_opt, log_alpha)
        new_params = {"actor": actor_params, "critic": critic_params, "log_alpha": log_alpha}
        new_target = {
            "critic": q_learning.polyak_update(critic_params, target_params["critic"], hparams.tau)
        }
        new_opt = {"actor": actor_opt, "critic": critic_opt, "log_alpha": alpha_opt}
        aux = {
            "critic_loss": loss_q,
            "actor_loss": loss_pi,
            "alpha": alpha,
            "entropy": jnp.mean(entropy),
            "q_mean": jnp.mean(q),
        }
        return (new_params, new_target, new_opt, grad_step + 1), aux

    return gradient_step


def make_explore(config: Config, setup: Setup) -> Callable[..., jax.Array]:
    """``explore(params, obs [N, D], noise [N, A], hparams) -> action``: a policy sample
    (``[N, A]`` from normal noise, or ``[N]`` int32 from Gumbel noise for Discrete actions)."""
    actor, _ = make_networks(config, setup.action_dim, setup.discrete)
    return lambda params, obs, noise, hparams: sample_action(actor, params["actor"], obs, noise)[0]


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` SAC updates.

    ``metrics`` maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array.
    """
    parts = (make_explore, make_gradient_step, AUX_NAMES, METRIC_NAMES)
    return off_policy.make_chunk(config, num_updates, *parts)


def make_train(config: Config) -> Callable[..., TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    chunk = make_update_chunk(config, config.num_updates)
    return updates.make_run(make_init(config), chunk, TrainResult)
