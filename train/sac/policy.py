"""SAC's networks (:func:`make_networks`) and its squashed-Gaussian policy in ``[-1, 1]^A``
(:func:`sample_action`, :func:`greedy_action`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax.learning import distributions
from rljax.learning.actor_critic import GaussianActor, TwinCritic
from rljax.train.sac.config import Config

# The policy's box: actions are learned in [-1, 1] and rescaled to the env's bounds on the way
# out, so the squash's Jacobian is that of tanh alone.
LOW, HIGH = jnp.float32(-1.0), jnp.float32(1.0)


def make_networks(config: Config, action_dim: int) -> tuple[GaussianActor, TwinCritic]:
    """The actor and the twin critics of ``config``."""
    actor = GaussianActor(action_dim, config.hidden_sizes, config.activation)
    return actor, TwinCritic(config.hidden_sizes, config.activation)


def sample_action(
    actor: GaussianActor, params: Any, obs: jax.Array, noise: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(action [B, A] in [-1, 1], log_prob [B] in nats)`` of the policy at ``obs [B, D]``,
    drawn from standard normal ``noise [B, A]`` (log-density with the tanh correction)."""
    mean, log_std = actor.apply(params, obs)
    action, pre_tanh = distributions.tanh_gaussian_sample(mean, log_std, noise, LOW, HIGH)
    return action, distributions.tanh_gaussian_log_prob(mean, log_std, pre_tanh, LOW, HIGH)


def greedy_action(actor: GaussianActor, params: Any, obs: jax.Array) -> jax.Array:
    """The deterministic action ``[B, A]`` in ``[-1, 1]``: the squashed mean."""
    mean, _ = actor.apply(params, obs)
    return distributions.tanh_gaussian_mode(mean, LOW, HIGH)
