"""The optimiser chain, learning-rate annealing and epochs of shuffled minibatches.

The optimiser works on one flat parameter vector (``jax.flatten_util.ravel_pytree``): a handful
of large operations per minibatch instead of a handful per weight matrix, which is what limits
speed at the network sizes on-policy methods use. The learning rate is not part of the chain:
:func:`run_epochs` applies it by hand, so it can be a traced value (a vmapped hyperparameter,
annealed from an update counter kept in the training state) without rebuilding the optimiser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from rljax.shuffling import permutation

# loss_fn(params, minibatch) -> (loss, aux): aux is a dict of scalar diagnostics.
LossFn = Callable[[Any, Any], tuple[jax.Array, dict[str, jax.Array]]]


def make_optimizer(
    max_grad_norm: jax.Array | float, adam_eps: float
) -> optax.GradientTransformation:
    """Global-norm gradient clipping then Adam's scaling, without the learning rate.

    ``max_grad_norm`` may be traced (a hyperparameter leaf); ``adam_eps`` is static. Apply the
    updates as ``params - lr * updates`` (:func:`run_epochs` does).
    """
    return optax.chain(
        optax.clip_by_global_norm(max_grad_norm),
        optax.scale_by_adam(eps=adam_eps),
    )


def annealed_lr(lr: jax.Array, update_step: jax.Array, num_updates: int, anneal: bool) -> jax.Array:
    """The learning rate of update ``update_step`` (int32, 0-based) of ``num_updates``.

    With ``anneal``, linear from ``lr`` at the first update to ``lr / num_updates`` at the last
    (it would reach 0 one update after the run ends); otherwise ``lr``.
    """
    if not anneal:
        return lr
    frac = 1.0 - update_step.astype(jnp.float32) / num_updates
    return lr * frac


def run_epochs(
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    lr: jax.Array,
    params: Any,
    opt_state: Any,
    key: jax.Array,
    batch: Any,
    *,
    update_epochs: int,
    num_minibatches: int,
) -> tuple[Any, Any, jax.Array, dict[str, jax.Array]]:
    """``update_epochs`` passes of ``num_minibatches`` shuffled minibatches over ``batch``.

    Args:
        loss_fn: ``(params, minibatch) -> (loss, aux)``; ``minibatch`` has ``batch``'s structure
            with leaves ``[N / num_minibatches, ...]``.
        optimizer: from :func:`make_optimizer`; its state ``opt_state`` is over the flat
            parameter vector of ``params``.
        lr: the learning rate (may be traced).
        key: the shuffling key; one split per epoch, a fresh permutation each.
        batch: a pytree with leaves ``[N, ...]``; ``num_minibatches`` must divide ``N``.
    Returns ``(params, opt_state, key, aux)``: ``aux`` holds ``loss_fn``'s diagnostics and
    ``grad_norm`` (before clipping), each ``[update_epochs, num_minibatches]``.
    """
    flat_params, unravel = ravel_pytree(params)
    grad_fn = jax.value_and_grad(
        lambda flat, minibatch: loss_fn(unravel(flat), minibatch), has_aux=True
    )
    n = jax.tree.leaves(batch)[0].shape[0]

    def minibatch_step(carry, minibatch):
        flat_params, opt_state = carry
        (_, aux), grads = grad_fn(flat_params, minibatch)
        updates, opt_state = optimizer.update(grads, opt_state, flat_params)
        flat_params = flat_params - lr * updates
        aux["grad_norm"] = optax.tree.norm(grads)
        return (flat_params, opt_state), aux

    def epoch(carry, _):
        flat_params, opt_state, key = carry
        key, key_perm = jax.random.split(key)
        perm = permutation(key_perm, n)  # a packed-key sort: 4x cheaper on XLA:CPU
        shuffled = jax.tree.map(lambda x: x[perm].reshape(num_minibatches, -1, *x.shape[1:]), batch)
        (flat_params, opt_state), aux = jax.lax.scan(
            minibatch_step, (flat_params, opt_state), shuffled
        )
        return (flat_params, opt_state, key), aux

    (flat_params, opt_state, key), aux = jax.lax.scan(
        epoch, (flat_params, opt_state, key), None, update_epochs
    )
    return unravel(flat_params), opt_state, key, aux
