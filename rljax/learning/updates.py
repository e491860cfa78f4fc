"""Pieces every compiled learner shares: updates scanned into a chunk, a whole run as init plus
one chunk, and one update's metrics.

- :func:`make_chunk`: ``num_updates`` updates in one ``lax.scan`` (what the run driver compiles
  and calls once per chunk);
- :func:`make_run`: init then one chunk of every update, a whole run ready for ``jit``/``vmap``;
- :func:`update_metrics`: one update's metrics (loss diagnostics, episodes finished, episode
  means over the steps that finished one, learning rate, environment steps).

``config`` is an algorithm's settings: anything with ``hparams()`` (the per-run leaves) and, for
:func:`update_metrics`, ``batch_size`` (environment steps per update).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def mean_over_finished(per_step: jax.Array, episode_done: jax.Array) -> jax.Array:
    """The mean of ``per_step [T, B]`` over the steps that finished an episode
    (``episode_done [T, B]``): an episode figure such as its return; NaN if none finished."""
    finished = episode_done.astype(jnp.float32)
    num_finished = finished.sum()
    return jnp.where(
        num_finished > 0, (per_step * finished).sum() / jnp.maximum(num_finished, 1.0), jnp.nan
    )


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
    num_finished = episode_done.astype(jnp.float32).sum()
    metrics = {name: jnp.mean(value) for name, value in aux.items()}
    metrics.update({name: mean_over_finished(x, episode_done) for name, x in per_step.items()})
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
