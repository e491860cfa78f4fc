"""Value-based (Q-learning) math shared by DQN and its Rainbow variants.

- :func:`categorical_support`, :func:`categorical_projection`, :func:`categorical_cross_entropy`,
  :func:`expected_q`: C51's distributional pieces (Bellemare et al. 2017);
- :func:`bootstrap_action`, :func:`take_action`: the greedy next action of the target network or,
  with double Q-learning (van Hasselt et al. 2016), of the online network;
- :func:`epsilon_greedy`: exploration with noise drawn ahead;
- :func:`n_step_window`: the discounted reward sum and bootstrap discount of a sampled sequence
  of transitions, cut at the first episode end;
- :func:`polyak_update`, :func:`hard_update`: target-network updates.

Transitions store ``next_obs`` (the ``final_obs`` of an episode that ended on that step) and keep
``terminated`` (a true end: no future) apart from ``truncated`` (a time limit: the future exists
and is bootstrapped from ``next_obs``). ``gamma``, ``v_min``, ``v_max`` and ``tau`` may be traced
scalars (vmapped hyperparameters); sizes (atoms, sequence length) are static.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


def categorical_support(num_atoms: int, v_min: jax.Array, v_max: jax.Array) -> jax.Array:
    """The ``num_atoms`` evenly spaced return values ``z [K]`` from ``v_min`` to ``v_max``.

    ``num_atoms`` is static and >= 2; ``v_min < v_max`` (checked by the caller's config, since
    they may be traced here).
    """
    if not isinstance(num_atoms, int) or num_atoms < 2:
        raise ValueError(f"categorical_support: num_atoms={num_atoms!r} must be an integer >= 2")
    delta = (v_max - v_min) / (num_atoms - 1)
    return v_min + delta * jnp.arange(num_atoms, dtype=jnp.float32)


def categorical_projection(atoms: jax.Array, probs: jax.Array, support: jax.Array) -> jax.Array:
    """C51's projection of the distribution ``probs`` at positions ``atoms`` onto ``support``.

    Args:
        atoms: ``[B, K]`` where each source atom lies (e.g. ``r + discount * z``); positions
            outside ``[z_0, z_{K-1}]`` are clipped to the nearest end.
        probs: ``[B, K]`` the probability of each source atom (rows sum to 1).
        support: ``[K]`` evenly spaced target atoms (:func:`categorical_support`).
    Returns ``[B, K]``: each source atom's probability split between its two neighbouring support
    points in proportion to closeness (all of it to a point it falls exactly on).

    Written as a ``[B, K, K]`` "hat" weight ``max(0, 1 - |Tz_i - z_j| / dz)`` rather than the
    floor/ceil scatter of the paper: the same numbers, no scatter, and no special case for an atom
    on a support point (where floor = ceil and the scatter form drops its mass unless patched).
    """
    delta = support[1] - support[0]
    clipped = jnp.clip(atoms, support[0], support[-1])
    distance = jnp.abs(clipped[..., :, None] - support[None, None, :])  # [B, K_src, K_dst]
    weight = jnp.clip(1.0 - distance / delta, 0.0, 1.0)
    return jnp.einsum("bi,bij->bj", probs, weight)


def categorical_cross_entropy(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """``-sum_j target_j log softmax(logits)_j`` ``[B]`` of ``logits, target_probs [B, K]``
    (the target is a constant: gradients flow through ``logits`` only)."""
    target_probs = jax.lax.stop_gradient(target_probs)
    return -jnp.sum(target_probs * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def expected_q(logits: jax.Array, support: jax.Array) -> jax.Array:
    """Mean return ``[..., A]`` of per-action atom logits ``[..., A, K]`` over ``support [K]``."""
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * support, axis=-1)


def bootstrap_action(q_next_target: jax.Array, q_next_online: jax.Array | None = None) -> jax.Array:
    """int32 ``[B]``: the action whose value the target bootstraps from at the next observation.

    ``q_next_target [B, A]`` alone: its argmax (DQN's ``max_a Q_target``). With the online
    network's ``q_next_online [B, A]``: the online argmax, to be evaluated by the target network
    (double Q-learning, which removes the max operator's overestimation bias).
    """
    chooser = q_next_target if q_next_online is None else q_next_online
    return jnp.argmax(chooser, axis=-1).astype(jnp.int32)


def take_action(values: jax.Array, action: jax.Array) -> jax.Array:
    """``values[b, action[b]]``: ``[B, ...]`` from ``values [B, A, ...]`` and ``action [B]``."""
    index = action.reshape(action.shape + (1,) * (values.ndim - 1)).astype(jnp.int32)
    return jnp.take_along_axis(values, index, axis=1)[:, 0]


def epsilon_greedy(
    q: jax.Array, epsilon: jax.Array, uniform: jax.Array, random_action: jax.Array
) -> jax.Array:
    """int32 ``[B]``: ``random_action [B]`` where ``uniform [B] < epsilon``, else the argmax of
    ``q [B, A]`` (the lowest index among ties).

    ``uniform`` (in ``[0, 1)``) and ``random_action`` are drawn ahead for a whole rollout:
    random-number generation per step is expensive on a CPU.
    """
    greedy = jnp.argmax(q, axis=-1).astype(jnp.int32)
    return jnp.where(uniform < epsilon, random_action, greedy)


class NStepWindow(NamedTuple):
    """The parts of an n-step target ``returns + discount * V(next_obs[b, last[b]])``."""

    returns: jax.Array  # [B] float32: sum_{k <= last} gamma^k r_k
    discount: jax.Array  # [B] float32: gamma^(last + 1), or 0 where step `last` terminated
    last: jax.Array  # [B] int32: index of the window's last step (bootstrap from its next_obs)


def n_step_window(
    reward: jax.Array, terminated: jax.Array, truncated: jax.Array, gamma: jax.Array
) -> NStepWindow:
    """The n-step return of sampled sequences of ``n = L`` consecutive transitions of one env.

    ``reward``, ``terminated``, ``truncated``: ``[B, L]``; step 0 is the transition being
    learned. The window runs to the first step that ended an episode (terminated or truncated:
    the steps after it belong to the next episode) or to step ``L - 1``. It bootstraps from that
    last step's ``next_obs`` with ``gamma^m`` (``m`` steps taken), unless that step terminated;
    a truncated last step bootstraps (its ``next_obs`` is the episode's final observation).
    ``L = 1`` is the one-step target ``r + gamma (1 - terminated) V(next_obs)``.
    """
    done = (terminated | truncated).astype(jnp.int32)
    length = reward.shape[1]
    # ended_before[b, k]: an episode ended at some step < k, so step k is past the window.
    ended_before = jnp.cumsum(done, axis=1) - done > 0
    inside = ~ended_before
    powers = gamma ** jnp.arange(length, dtype=jnp.float32)  # [L]
    returns = jnp.sum(jnp.where(inside, powers * reward, 0.0), axis=1)
    last = jnp.sum(inside, axis=1).astype(jnp.int32) - 1
    terminated_last = jnp.take_along_axis(terminated, last[:, None], axis=1)[:, 0]
    discount = jnp.where(terminated_last, 0.0, gamma ** (last + 1).astype(jnp.float32))
    return NStepWindow(returns.astype(jnp.float32), discount.astype(jnp.float32), last)


def polyak_update(online: Any, target: Any, tau: jax.Array) -> Any:
    """``tau * online + (1 - tau) * target`` leaf by leaf (soft target update; ``tau`` in
    ``(0, 1]``, 1 copies)."""
    return optax.incremental_update(online, target, tau)


def hard_update(online: Any, target: Any, due: jax.Array) -> Any:
    """``online`` where ``due`` (a bool scalar, e.g. ``step % period == 0``), else ``target``."""
    return jax.tree.map(lambda new, old: jnp.where(due, new, old), online, target)
