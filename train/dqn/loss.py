"""DQN's learning targets and loss on a sampled batch, with each Rainbow part a switch.

A sample holds sequences of ``L = n_step`` consecutive transitions of one env (leaves ``[B, L,
...]``, :class:`rljax.train.dqn.state.Transition`); the transition learned from is step 0. Its
target is the n-step window of :func:`rljax.learning.q_learning.n_step_window` (cut at the
first episode end) bootstrapped from the window's last ``next_obs``, so a truncated episode
bootstraps from its final observation and a terminated one does not:

- scalar: ``y = G + discount * Q_target(s', a*)``, ``a* = argmax Q_target(s')`` or, with
  ``double_q``, ``argmax Q_online(s')``; loss Huber (or squared) of ``Q(s, a) - y``;
- ``distributional``: the target network's distribution at ``(s', a*)`` (``a*`` by expected
  value) shifted to ``G + discount * z`` and projected onto the support; loss the cross-entropy,
  and the priority the KL divergence (Rainbow's).

Prioritised replay weights each sample's loss by its importance-sampling weight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rljax.learning import q_learning
from rljax.train.dqn.config import Config, HParams
from rljax.train.dqn.policy import Setup, action_values, apply, support
from rljax.train.dqn.state import Transition


def bootstrap_obs(steps: Transition, last: jax.Array) -> jax.Array:
    """``steps.next_obs[b, last[b]]``: ``[B, *obs_shape]``, the observation a window ends on."""
    index = last.reshape(last.shape + (1,) * (steps.next_obs.ndim - 1))
    return jnp.take_along_axis(steps.next_obs, index, axis=1)[:, 0]


def make_targets(config: Config, setup: Setup) -> Callable[..., jax.Array]:
    """``targets(params, target_params, steps, hparams, key) -> y [B]`` (scalar Q) or target
    probabilities ``[B, K]`` (C51): the learning target of step 0 of each sequence (module
    docstring). ``params`` are the online network's (read only with ``double_q``); ``key`` draws
    the noisy nets' noise (one draw per network)."""
    network = setup.network

    def targets(params: Any, target_params: Any, steps: Transition, hparams: HParams, key):
        key_target, key_online = jax.random.split(key)
        window = q_learning.n_step_window(
            steps.reward, steps.terminated, steps.truncated, hparams.gamma
        )
        next_obs = bootstrap_obs(steps, window.last)
        atoms = support(config, hparams)
        out_target = apply(config, network, target_params, next_obs, key_target)
        q_target = action_values(config, out_target, atoms)
        q_online = None
        if config.double_q:
            q_online = action_values(
                config, apply(config, network, params, next_obs, key_online), atoms
            )
        action = q_learning.bootstrap_action(q_target, q_online)
        chosen = q_learning.take_action(out_target, action)  # [B] or [B, K] logits
        if atoms is None:
            return window.returns + window.discount * chosen
        shifted = window.returns[:, None] + window.discount[:, None] * atoms[None, :]
        return q_learning.categorical_projection(shifted, jax.nn.softmax(chosen, -1), atoms)

    return lambda *args: jax.lax.stop_gradient(targets(*args))


def make_loss(config: Config, setup: Setup) -> Callable[..., tuple[jax.Array, dict]]:
    """``loss(params, steps, target, weights [B], hparams, key) -> (loss, aux)``.

    ``target`` from :func:`make_targets`; ``aux`` holds ``priority [B]`` (``|td|`` or the KL
    divergence, for prioritised replay) and ``q [B]`` (``Q(s, a)``, the expected value for C51).
    """
    network = setup.network

    def loss(params: Any, steps: Transition, target: jax.Array, weights, hparams, key):
        obs, action = steps.obs[:, 0], steps.action[:, 0]
        out = q_learning.take_action(apply(config, network, params, obs, key), action)
        atoms = support(config, hparams)
        if atoms is None:
            td = out - target
            per_sample = optax.huber_loss(td) if config.loss == "huber" else 0.5 * td**2
            priority, q = jnp.abs(td), out
        else:
            per_sample = q_learning.categorical_cross_entropy(out, target)
            entropy = -jnp.sum(jnp.where(target > 0, target * jnp.log(target), 0.0), axis=-1)
            priority = jnp.maximum(per_sample - entropy, 0.0)  # KL(target || prediction)
            q = jnp.sum(jax.nn.softmax(out, -1) * atoms, axis=-1)
        aux = {"priority": jax.lax.stop_gradient(priority), "q": jax.lax.stop_gradient(q)}
        return jnp.mean(weights * per_sample), aux

    return loss
