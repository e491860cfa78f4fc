"""Policy distributions as plain functions of the network's outputs.

Three families, each with noise drawing, sampling from pre-drawn noise, log-probability, entropy
and mode:

- **categorical** over ``A`` actions, from ``logits [..., A]``; sampled as ``argmax(logits +
  Gumbel noise)``, an exact categorical sample;
- **diagonal Gaussian** over ``A`` dimensions, from ``mean [..., A]`` and ``log_std [..., A]``
  (or ``[A]``, a state-independent parameter, broadcast);
- **tanh-squashed Gaussian** scaled to a box ``[low, high]`` (SAC's policy): ``u ~ N(mean, std)``,
  ``action = center + half_width * tanh(u)``. Its log-probability takes the pre-squash sample
  ``u`` (which :func:`tanh_gaussian_sample` returns) because inverting ``tanh`` near the bounds
  loses all precision.

Noise is drawn apart from sampling so that a rollout can draw the noise of all its steps in one
call before its step loop: random-number generation is expensive on a CPU, and one call for
``[T, B, A]`` values costs far less than ``T`` calls inside a scan. Log-probabilities and
entropies are in nats and sum over the action dimensions.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

# Constants of the normal density and entropy, each folded to one float (as PPO always added it).
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_GAUSSIAN_ENTROPY = 0.5 * (1.0 + math.log(2 * math.pi))
_LOG2 = math.log(2.0)

# --- noise ---------------------------------------------------------------------------------------


def gumbel_noise(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Standard Gumbel noise ``[*shape]`` for :func:`categorical_sample` (``shape`` ends in A)."""
    return jax.random.gumbel(key, shape)


def normal_noise(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Standard normal noise ``[*shape]`` for the Gaussian and tanh-Gaussian samplers."""
    return jax.random.normal(key, shape)


# --- categorical ---------------------------------------------------------------------------------


def categorical_sample(logits: jax.Array, noise: jax.Array) -> jax.Array:
    """int32 ``[...]``: ``argmax(logits + noise)`` with ``noise`` from :func:`gumbel_noise`."""
    return jnp.argmax(logits + noise, axis=-1).astype(jnp.int32)


def categorical_log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    """``log p(action)`` ``[...]`` of int ``action [...]`` under ``softmax(logits [..., A])``."""
    return categorical_log_prob_entropy(logits, action)[0]


def categorical_entropy(logits: jax.Array) -> jax.Array:
    """Entropy ``[...]`` of ``softmax(logits [..., A])``."""
    return _entropy_of_log_probs(jax.nn.log_softmax(logits))


def _entropy_of_log_probs(log_p: jax.Array) -> jax.Array:
    return -jnp.sum(jnp.exp(log_p) * log_p, -1)


def categorical_log_prob_entropy(
    logits: jax.Array, action: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(categorical_log_prob, categorical_entropy)`` from one ``log_softmax`` (for losses).

    One shared ``log_softmax`` is cheaper than two, and its gradient is the one PPO's results
    were measured with: two separate ones sum their gradients in another order, which moves
    trained parameters by rounding.
    """
    log_p = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_p, action[..., None], -1)[..., 0]
    return log_prob, _entropy_of_log_probs(log_p)


def categorical_mode(logits: jax.Array) -> jax.Array:
    """int32 ``[...]``: the most likely action (the greedy policy)."""
    return jnp.argmax(logits, -1).astype(jnp.int32)


# --- diagonal Gaussian ---------------------------------------------------------------------------


def gaussian_sample(mean: jax.Array, log_std: jax.Array, noise: jax.Array) -> jax.Array:
    """``mean + std * noise`` ``[..., A]`` with ``noise`` from :func:`normal_noise`."""
    return mean + jnp.exp(log_std) * noise


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """``log N(action; mean, diag(std^2))`` ``[...]``, summed over the last axis ``A``."""
    z = (action - mean) / jnp.exp(log_std)
    return jnp.sum(-0.5 * jnp.square(z) - log_std - _HALF_LOG_2PI, -1)


def gaussian_entropy(mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Entropy ``[...]`` (the batch shape of ``mean [..., A]``): ``sum(log_std + (1 + log 2pi)/2)``.

    ``mean`` gives only the shape: the entropy of a Gaussian does not depend on its mean.
    """
    entropy = jnp.sum(log_std + _GAUSSIAN_ENTROPY, -1)
    return jnp.broadcast_to(entropy, mean.shape[:-1])


def gaussian_mode(mean: jax.Array) -> jax.Array:
    """The most likely action ``[..., A]``: the mean."""
    return mean


# --- tanh-squashed Gaussian on a box -------------------------------------------------------------


def squash(pre_tanh: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """``center + half_width * tanh(pre_tanh)``: ``[..., A]`` into the box ``[low, high]``."""
    half_width = 0.5 * (high - low)
    return low + half_width * (jnp.tanh(pre_tanh) + 1.0)


def squash_log_det_jacobian(pre_tanh: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """``sum log |d squash / d u|`` ``[...]`` at ``u = pre_tanh [..., A]``.

    ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``: the direct form rounds
    ``tanh(u)^2`` to 1 once ``|u|`` passes about 9 (float32) and returns ``-inf``; this one stays
    finite and accurate for every ``u``.
    """
    half_width = 0.5 * (high - low)
    log_dtanh = 2.0 * (_LOG2 - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))
    return jnp.sum(jnp.log(half_width) + log_dtanh, -1)


def tanh_gaussian_sample(
    mean: jax.Array, log_std: jax.Array, noise: jax.Array, low: jax.Array, high: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(action, pre_tanh)``, both ``[..., A]``: ``pre_tanh ~ N(mean, std)`` from ``noise``.

    Keep ``pre_tanh`` for :func:`tanh_gaussian_log_prob`.
    """
    pre_tanh = gaussian_sample(mean, log_std, noise)
    return squash(pre_tanh, low, high), pre_tanh


def tanh_gaussian_log_prob(
    mean: jax.Array, log_std: jax.Array, pre_tanh: jax.Array, low: jax.Array, high: jax.Array
) -> jax.Array:
    """``log p(action)`` ``[...]`` of ``action = squash(pre_tanh)``: the change of variables
    ``log N(pre_tanh; mean, std) - log |det d action / d pre_tanh|`` (a density over the box)."""
    return gaussian_log_prob(mean, log_std, pre_tanh) - squash_log_det_jacobian(pre_tanh, low, high)


def tanh_gaussian_entropy(
    mean: jax.Array, log_std: jax.Array, pre_tanh: jax.Array, low: jax.Array, high: jax.Array
) -> jax.Array:
    """A one-sample estimate ``[...]`` of the entropy, from ``pre_tanh`` drawn from the policy.

    The squashed distribution has no closed-form entropy; ``H(action) = H(u) + E[log |det d
    action / d u|]``, so the Gaussian's entropy plus the log-Jacobian at a sample is unbiased
    (equal to ``-tanh_gaussian_log_prob`` in expectation, with less variance).
    """
    return gaussian_entropy(mean, log_std) + squash_log_det_jacobian(pre_tanh, low, high)


def tanh_gaussian_mode(mean: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """The deterministic action ``[..., A]``: the squashed mean (what SAC evaluates with).

    (It is the image of the Gaussian's mode; the squashed density's own mode can differ slightly
    when ``std`` is large.)
    """
    return squash(mean, low, high)
