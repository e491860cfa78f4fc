"""SAC's networks (:func:`make_networks`) and policies: the squashed Gaussian in ``[-1, 1]^A``
(Box actions) or the categorical of SAC-Discrete (:func:`sample_action`, :func:`greedy_action`,
:func:`categorical_terms`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax.learning import distributions
from rljax.learning.actor_critic import GaussianActor, TwinCritic, TwinDiscreteCritic
from rljax.networks import Actor
from rljax.train.sac.config import Config

# The policy's box: actions are learned in [-1, 1] and rescaled to the env's bounds on the way
# out, so the squash's Jacobian is that of tanh alone.
LOW, HIGH = jnp.float32(-1.0), jnp.float32(1.0)


def make_networks(
    config: Config, action_dim: int, discrete: bool = False
) -> tuple[GaussianActor | Actor, TwinCritic | TwinDiscreteCritic]:
    """The actor and the twin critics of ``config``: ``GaussianActor`` and ``TwinCritic`` for
    Box actions, a categorical ``Actor`` and ``TwinDiscreteCritic`` for ``discrete`` ones."""
    if discrete:
        actor = Actor(action_dim, False, config.hidden_sizes, config.activation)
        return actor, TwinDiscreteCritic(action_dim, config.hidden_sizes, config.activation)
    actor = GaussianActor(action_dim, config.hidden_sizes, config.activation)
    return actor, TwinCritic(config.hidden_sizes, config.activation)


def sample_action(actor: Any, params: Any, obs: jax.Array, noise: jax.Array):
    """``(action, log_prob [B] in nats)`` of the policy at ``obs [B, D]``: from standard normal
    ``noise [B, A]`` an action ``[B, A]`` in ``[-1, 1]`` (log-density with the tanh correction),
    or with a categorical ``actor`` from Gumbel ``noise [B, A]`` an int32 action ``[B]``."""
    if isinstance(actor, Actor):
        logits, _ = actor.apply(params, obs)
        action = distributions.categorical_sample(logits, noise)
        return action, distributions.categorical_log_prob(logits, action)
    mean, log_std = actor.apply(params, obs)
    action, pre_tanh = distributions.tanh_gaussian_sample(mean, log_std, noise, LOW, HIGH)
    return action, distributions.tanh_gaussian_log_prob(mean, log_std, pre_tanh, LOW, HIGH)


def greedy_action(actor: Any, params: Any, obs: jax.Array) -> jax.Array:
    """The deterministic action: the squashed mean ``[B, A]`` in ``[-1, 1]``, or the most likely
    Discrete action ``[B]``."""
    if isinstance(actor, Actor):
        return distributions.categorical_mode(actor.apply(params, obs)[0])
    mean, _ = actor.apply(params, obs)
    return distributions.tanh_gaussian_mode(mean, LOW, HIGH)


def categorical_terms(actor: Actor, params: Any, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(probs, log_probs)``, both ``[B, A]``: SAC-Discrete's policy at ``obs [B, D]``, whose
    expectations replace the sampled ones of the continuous case."""
    log_p = jax.nn.log_softmax(actor.apply(params, obs)[0])
    return jnp.exp(log_p), log_p
