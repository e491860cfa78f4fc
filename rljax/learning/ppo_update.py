"""The PPO update shared by the PPO family (:mod:`rljax.train.ppo`, :mod:`rljax.train.mappo`).

- :func:`ppo_loss`: the clipped surrogate, the (optionally clipped) value loss and the entropy
  bonus of one minibatch, with its diagnostics;
- :func:`optimise`: one update's epochs of shuffled minibatches at the annealed learning rate;
- :func:`update_metrics`: one update's metrics (loss diagnostics, episodes finished, episode
  means, learning rate, environment steps);
- :func:`make_chunk` and :func:`make_run`: updates scanned into a chunk, and init plus one chunk
  into a whole run.

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


def update_metrics(
    config: Any,
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


def make_chunk(
    config: Any, update: Callable[[Any, Any], tuple[Any, dict]], num_updates: int
) -> Callable[..., tuple[Any, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` calls of
    ``update(state, hparams) -> (state, metrics)`` in one ``lax.scan``, each metric stacked to
    ``[num_updates]``; ``hparams`` defaults to ``config.hparams()``."""

    def chunk(state: Any, hparams: Any = None):
        hparams = config.hparams() if hparams is None else hparams
        return jax.lax.scan(lambda s, _: update(s, hparams), state, None, num_updates)

    return chunk


def make_run(
    init: Callable[..., Any], chunk: Callable[..., tuple[Any, dict]], result: Callable[..., Any]
) -> Callable[..., Any]:
    """``train(key, hparams=None) -> result(params, metrics, state)``: ``init`` then one ``chunk``
    of every update (a whole run, ready for ``jit`` and ``vmap``)."""

    def train(key: jax.Array, hparams: Any = None) -> Any:
        state = init(key, hparams)
        state, metrics = chunk(state, hparams)
        return result(state.params, metrics, state)

    return train
