"""Networks and math of the off-policy actor-critics for continuous actions (SAC, TD3).

- :class:`TwinCritic`: two independent Q-networks ``Q_i(obs, action)`` in one module, so one
  ``apply`` gives both (clipped double Q-learning, Fujimoto et al. 2018), and
  :class:`TwinDiscreteCritic`, the same with one output per Discrete action;
- :class:`GaussianActor` (SAC's ``mean, log_std``) and :class:`DeterministicActor` (TD3's
  ``tanh`` action);
- :func:`to_box`: the learners act in ``[-1, 1]^A`` and the environment gets the action rescaled
  to its Box bounds (what SB3 does), so one set of hyperparameters (noise scales, target
  entropy) fits every action range;
- :func:`bootstrap_target`: ``r + gamma * (1 - terminated) * next_value``, the one-step target.
  ``terminated`` is the bootstrap mask: a truncated (time-limited) step bootstraps, from the
  episode's own final observation stored as ``next_obs``.

Polyak target updates are :func:`rljax.learning.q_learning.polyak_update`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from rljax.networks import MLP

# SB3's bounds of SAC's log standard deviation: wide enough never to bind in normal training,
# narrow enough that exp() stays finite and the squash's Jacobian does not vanish.
LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0


class TwinCritic(nn.Module):
    """``(obs [..., D], action [..., A]) -> q [2, ...]``: two Q-networks on the concatenation."""

    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        qs = [MLP(self.hidden_sizes, 1, self.activation, name=f"q{i}")(x)[..., 0] for i in (0, 1)]
        return jnp.stack(qs)


class TwinDiscreteCritic(nn.Module):
    """``obs [..., D] -> q [2, ..., A]``: two Q-networks with one output per Discrete action
    (SAC-Discrete's critics, Christodoulou 2019)."""

    num_actions: int
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        qs = [MLP(self.hidden_sizes, self.num_actions, self.activation, name=f"q{i}")(obs)
              for i in (0, 1)]  # fmt: skip
        return jnp.stack(qs)


class GaussianActor(nn.Module):
    """``obs [..., D] -> (mean [..., A], log_std [..., A])`` of the pre-squash Gaussian (SAC's
    policy; :func:`rljax.learning.distributions.tanh_gaussian_sample` squashes it). ``log_std``
    is clipped to ``[LOG_STD_MIN, LOG_STD_MAX]``."""

    action_dim: int
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = MLP(self.hidden_sizes, 2 * self.action_dim, self.activation, head_scale=0.01)(obs)
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


class DeterministicActor(nn.Module):
    """``obs [..., D] -> action [..., A]`` in ``[-1, 1]`` (TD3's policy, ``tanh`` of an MLP)."""

    action_dim: int
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return jnp.tanh(MLP(self.hidden_sizes, self.action_dim, self.activation)(obs))


def to_box(action: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """``action [..., A]`` in ``[-1, 1]`` mapped affinely onto the box ``[low, high]`` ``[A]``."""
    return low + 0.5 * (action + 1.0) * (high - low)


def bootstrap_target(
    reward: jax.Array, terminated: jax.Array, gamma: jax.Array, next_value: jax.Array
) -> jax.Array:
    """``r + gamma * (1 - terminated) * next_value`` ``[B]``: no future after a true end; a
    truncated step's ``next_value`` is of its own final observation and is kept."""
    return reward + gamma * jnp.where(terminated, 0.0, next_value)
