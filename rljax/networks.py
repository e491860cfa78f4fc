"""Flax policy and value networks.

Actor and critic are separate MLPs (no shared trunk), which PPO on small control tasks prefers, and
which lets the training loop run the actor alone while collecting experience and the critic once
over the whole rollout batch afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


def _dense(features: int, scale: float) -> nn.Dense:
    return nn.Dense(
        features, kernel_init=nn.initializers.orthogonal(scale), bias_init=nn.initializers.zeros
    )


class MLP(nn.Module):
    """Hidden layers with orthogonal init (gain sqrt 2), then a linear head of ``out`` units."""

    hidden_sizes: Sequence[int]
    out: int
    activation: str = "tanh"
    head_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(_dense(size, np.sqrt(2.0))(x))
        return _dense(self.out, self.head_scale)(x)


class Actor(nn.Module):
    """Policy head. ``obs [..., D] -> logits [..., A]`` (discrete) or ``mean [..., A]``.

    For continuous actions, a state-independent ``log_std [A]`` parameter is returned with the mean.
    """

    action_dim: int
    continuous: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        out = MLP(self.hidden_sizes, self.action_dim, self.activation, head_scale=0.01)(obs)
        if not self.continuous:
            return out, None
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return out, log_std


class Critic(nn.Module):
    """State value. ``obs [..., D] -> value [...]``."""

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return jnp.squeeze(MLP(self.hidden_sizes, 1, self.activation, head_scale=1.0)(obs), -1)
