"""The PPO update shared by the PPO family (:mod:`rljax.train.ppo`, :mod:`rljax.train.mappo`).

- :func:`ppo_loss`: the clipped surrogate, the (optionally clipped) value loss and the entropy
  bonus of one minibatch, with its diagnostics;
- :func:`critic_loss`: the (optionally clipped) value loss alone, for a second critic;
- :func:`optimise`: one update's epochs of shuffled minibatches at the annealed learning rate.

The scan of updates into chunks and whole runs, and one update's metrics, serve every algorithm
and live in :mod:`rljax.learning.updates`.

``config`` is a :class:`rljax.train.ppo.CommonConfig` (or anything with its fields and
``batch_size``, ``num_updates``, ``hparams()``); ``hparams`` a :class:`rljax.train.ppo.HParams`
(float32 scalar leaves ``lr``, ``clip_eps``, ``ent_coef``, ``vf_coef``, ``max_grad_norm``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rljax.learning import optim


def ppo_loss(
    log_prob: jax.Array,
    old_log_prob: jax.Array,
    entropy: jax.Array,
    value: jax.Array,
    old_value: jax.Array,
    advantage: jax.Array,
    target: jax.Array,
    hparams: Any,
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
    value_loss = critic_loss(value, old_value, target, hparams.clip_eps, clip_value_loss)
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


def critic_loss(
    value: jax.Array,
    old_value: jax.Array,
    target: jax.Array,
    clip_eps: jax.Array,
    clip_value_loss: bool,
) -> jax.Array:
    """Half the mean squared error of ``value [N]`` to ``target [N]``; with
    ``clip_value_loss``, per sample the larger of that and the error of a prediction kept
    within ``clip_eps`` of ``old_value [N]`` (PPO's value clipping)."""
    value_error = jnp.square(value - target)
    if clip_value_loss:
        value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        value_error = jnp.maximum(value_error, jnp.square(value_clipped - target))
    return 0.5 * jnp.mean(value_error)


def optimise(
    config: Any,
    loss_fn: Callable[..., tuple[jax.Array, dict[str, jax.Array]]],
    hparams: Any,
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
