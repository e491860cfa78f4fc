"""Return and advantage estimates over a rollout, with termination and truncation kept apart.

Every function takes a rollout of ``T`` steps of ``B`` environments laid out as
:class:`rljax.vector.VecEnv` produces it (auto-reset: ``obs[t + 1]`` is the next episode's first
observation when step ``t`` ended one):

- ``reward``, ``terminated``, ``truncated``: ``[T, B]``;
- ``value``: ``[T, B]``, ``V(obs[t])``;
- ``next_value``: ``[B]``, ``V`` of the observation after the last step;
- ``final_value``: ``[T, B]``, ``V(final_obs[t])``, read only where ``truncated[t]``.

A terminated step has no future: its return is its reward. A truncated step (a time limit) cut a
future that exists: its return bootstraps from ``gamma * V(final_obs)``. In both cases nothing
runs on into the next episode. Where a step is both, termination wins. ``gamma`` and the
``lambda`` factors may be traced scalars (vmapped hyperparameters).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _one_step_terms(
    value: jax.Array,
    next_value: jax.Array,
    final_value: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(done, bootstrap, value_next)`` ``[T, B]``: whether step ``t`` ended an episode, the
    ``gamma V(final_obs)`` a truncated step adds, and ``V(obs[t + 1])``."""
    done = terminated | truncated
    bootstrap = jnp.where(truncated & ~terminated, gamma * final_value, 0.0)
    value_next = jnp.concatenate([value[1:], next_value[None]], axis=0)
    return done, bootstrap, value_next


def compute_gae(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    final_value: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array,
    gae_lambda: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation: ``(advantages [T, B], returns [T, B])``.

    ``delta[t] = r[t] + bootstrap[t] + gamma V(obs[t + 1]) (1 - done[t]) - V(obs[t])`` and
    ``A[t] = delta[t] + gamma lambda (1 - done[t]) A[t + 1]`` (``A[T] = 0``); ``returns = A +
    value`` (the lambda-return, PPO's value target). Inputs as the module docstring says.
    """
    done, bootstrap, value_next = _one_step_terms(
        value, next_value, final_value, terminated, truncated, gamma
    )
    delta = reward + bootstrap + gamma * value_next * (1.0 - done) - value
    decay = gamma * gae_lambda * (1.0 - done)

    # A sequential reverse scan: measured both faster to run and to compile here than an
    # associative scan over (decay, delta) pairs, whose log2(T) levels unroll into many ops.
    def backward(carry, inputs):
        delta_t, decay_t = inputs
        advantage = delta_t + decay_t * carry
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(next_value), (delta, decay), reverse=True)
    return advantages, advantages + value


def lambda_returns(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    final_value: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array,
    lam: jax.Array,
) -> jax.Array:
    """TD(lambda) returns ``[T, B]``: ``G[t] = r[t] + bootstrap[t] + gamma (1 - done[t])
    ((1 - lam) V(obs[t + 1]) + lam G[t + 1])``, with ``G[T] = next_value``.

    ``lam = 0`` is the one-step TD target, ``lam = 1`` the Monte Carlo return (bootstrapped at the
    end of the rollout and at truncations). Mathematically the same as ``compute_gae(...)[1]``,
    computed directly (no ``A + V`` round trip). ``value[0]`` is not used.
    """
    done, bootstrap, value_next = _one_step_terms(
        value, next_value, final_value, terminated, truncated, gamma
    )
    base = reward + bootstrap
    discount = gamma * (1.0 - done)

    def backward(carry, inputs):
        base_t, discount_t, value_next_t = inputs
        ret = base_t + discount_t * ((1.0 - lam) * value_next_t + lam * carry)
        return ret, ret

    _, returns = jax.lax.scan(backward, next_value, (base, discount, value_next), reverse=True)
    return returns


def n_step_returns(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    final_value: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array,
    n: int,
) -> jax.Array:
    """``n``-step returns ``[T, B]``: up to ``n`` discounted rewards, then a bootstrap.

    ``G[t] = sum_{k < m} gamma^k r[t + k] + gamma^(m-1) b`` where the window stops after ``m <=
    n`` steps at the first of: a terminated step (``b = 0``), a truncated step (``b = gamma
    V(final_obs)``), the ``n``-th step or the rollout's last step (``b = gamma V(obs[t + m])``, the
    ``next_value`` past the end). ``n`` is static (a Python int >= 1): the windows unroll into
    ``n`` shifted passes over the rollout, cheap for the small ``n`` used in practice.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n_step_returns: n={n!r} is invalid: must be an integer >= 1")
    done, bootstrap, value_next = _one_step_terms(
        value, next_value, final_value, terminated, truncated, gamma
    )
    horizon = reward.shape[0]
    last = jnp.arange(horizon) == horizon - 1
    # The end-of-window bootstrap where the window is cut by n or by the rollout, not by an end.
    tail = jnp.where(done, bootstrap, gamma * value_next)

    def shifted(x: jax.Array, k: int) -> jax.Array:
        """``x[t + k]`` (zeros past the end)."""
        if k == 0:
            return x
        return jnp.concatenate([x[k:], jnp.zeros_like(x[:k])], axis=0)

    returns = jnp.zeros_like(reward)
    alive = jnp.ones(reward.shape, jnp.bool_)
    discount = jnp.ones_like(reward)
    for k in range(n):
        step_done = shifted(done, k)
        stop = step_done | shifted(jnp.broadcast_to(last[:, None], done.shape), k) | (k == n - 1)
        end_value = jnp.where(stop, shifted(tail, k), 0.0)
        returns = returns + jnp.where(alive, discount * (shifted(reward, k) + end_value), 0.0)
        alive = alive & ~stop
        discount = discount * gamma
    return returns
