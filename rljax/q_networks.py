"""The Q-network of DQN and its Rainbow variants (flax linen).

:class:`QNetwork` is an MLP torso with one of four heads: plain Q-values ``[..., A]``, a dueling
head (``V + A - mean_a A``, Wang et al. 2016), and either of those per return atom (C51 logits
``[..., A, K]``). With ``noisy`` every layer is a :class:`NoisyDense` (factorised Gaussian noise,
Fortunato et al. 2018) and exploration comes from the weights instead of epsilon: applying it
then takes a ``"noise"`` PRNG stream, ``net.apply(params, obs, rngs={"noise": key})``, one noise
draw shared by the whole batch, or ``deterministic=True`` for the mean weights (greedy
evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rljax.networks import ACTIVATIONS, dense_dot_general, orthogonal

NOISE = "noise"  # the PRNG stream a noisy network draws from


def scaled_noise(key: jax.Array, size: int) -> jax.Array:
    """``f(x) = sign(x) sqrt(|x|)`` of ``size`` standard normals: float32 ``[size]``."""
    x = jax.random.normal(key, (size,), jnp.float32)
    return jnp.sign(x) * jnp.sqrt(jnp.abs(x))


class NoisyDense(nn.Module):
    """``y = x (mu_W + sigma_W * eps_W) + mu_b + sigma_b * eps_b`` with factorised noise.

    ``eps_W = f(eps_in) f(eps_out)^T`` ``[in, out]`` and ``eps_b = f(eps_out)`` from ``in + out``
    normals (:func:`scaled_noise`), so a noise draw costs two small vectors, not a matrix of
    them. Initialisation as in the paper: ``mu ~ U(-1/sqrt(in), 1/sqrt(in))``, ``sigma =
    sigma0 / sqrt(in)``. ``deterministic=True`` uses ``mu`` alone.
    """

    features: int
    sigma0: float = 0.5

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = False) -> jax.Array:
        fan_in = x.shape[-1]
        bound = 1.0 / np.sqrt(fan_in)
        uniform = lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -bound, bound)
        constant = lambda key, shape: jnp.full(shape, self.sigma0 / np.sqrt(fan_in), jnp.float32)
        mu_w = self.param("mu_kernel", uniform, (fan_in, self.features))
        mu_b = self.param("mu_bias", uniform, (self.features,))
        sigma_w = self.param("sigma_kernel", constant, (fan_in, self.features))
        sigma_b = self.param("sigma_bias", constant, (self.features,))
        if deterministic:
            return dense_dot_general(x, mu_w, (((x.ndim - 1,), (0,)), ((), ()))) + mu_b
        key_in, key_out = jax.random.split(self.make_rng(NOISE))
        eps_in = scaled_noise(key_in, fan_in)
        eps_out = scaled_noise(key_out, self.features)
        kernel = mu_w + sigma_w * jnp.outer(eps_in, eps_out)
        bias = mu_b + sigma_b * eps_out
        return dense_dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ()))) + bias


class QNetwork(nn.Module):
    """``obs [..., D] -> q [..., A]``, or atom logits ``[..., A, K]`` when ``num_atoms`` > 0.

    Attributes:
        num_actions: ``A``.
        hidden_sizes: the torso's layer sizes (each followed by ``activation``).
        dueling: split the head into a state value ``[..., 1(, K)]`` and advantages ``[..., A(,
            K)]`` combined as ``V + A - mean_a A`` (per atom, on the logits, as in Rainbow).
        noisy: every layer a :class:`NoisyDense` of ``sigma0``.
        num_atoms: ``K`` return atoms (C51); 0 for scalar Q-values.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "relu"
    dueling: bool = False
    noisy: bool = False
    sigma0: float = 0.5
    num_atoms: int = 0

    def layer(self, features: int, scale: float):
        """One layer ``x -> y``: noisy, or dense with orthogonal init of gain ``scale``."""
        if self.noisy:
            noisy = NoisyDense(features, self.sigma0)
            return lambda x, deterministic: noisy(x, deterministic)
        dense = nn.Dense(
            features,
            kernel_init=orthogonal(scale),
            bias_init=nn.initializers.zeros,
            dot_general=dense_dot_general,
        )
        return lambda x, deterministic: dense(x)

    @nn.compact
    def __call__(self, obs: jax.Array, deterministic: bool = False) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        x = obs.astype(jnp.float32)
        for size in self.hidden_sizes:
            x = act(self.layer(size, np.sqrt(2.0))(x, deterministic))
        atoms = max(self.num_atoms, 1)
        lead = x.shape[:-1]
        advantage = self.layer(self.num_actions * atoms, 1.0)(x, deterministic)
        advantage = advantage.reshape(*lead, self.num_actions, atoms)
        if self.dueling:
            value = self.layer(atoms, 1.0)(x, deterministic).reshape(*lead, 1, atoms)
            out = value + advantage - advantage.mean(axis=-2, keepdims=True)
        else:
            out = advantage
        return out if self.num_atoms else out[..., 0]
