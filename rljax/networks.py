"""Flax policy and value networks.

Actor and critic are separate MLPs (no shared trunk), which PPO on small control tasks prefers, and
which lets the training loop run the actor alone while collecting experience and the critic once
over the whole rollout batch afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


def orthogonal(scale: float) -> nn.initializers.Initializer:
    """Flax's orthogonal initialiser, made safe to ``vmap`` (over seeds) on the CPU.

    Under ``vmap`` the QR decomposition behind it becomes a batched LAPACK call, which jaxlib 0.10
    runs on XLA's CPU thread pool while blocking a pool thread; two of them at once (actor and
    critic) can deadlock a 2-core machine. ``sequential_vmap`` turns the batch into a loop of
    unbatched QRs, with bitwise the same values.
    """
    base = nn.initializers.orthogonal(scale)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.custom_batching.sequential_vmap(lambda k: base(k, shape, dtype))(key)

    return init


@jax.custom_vjp
def _matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))


def _matmul_fwd(x: jax.Array, kernel: jax.Array):
    return _matmul(x, kernel), (x, kernel)


def _matmul_bwd(residuals, grad: jax.Array):
    x, kernel = residuals
    grad_x = jax.lax.dot_general(grad, kernel, (((grad.ndim - 1,), (1,)), ((), ())))
    # The kernel's gradient contracts the batch axis, the leading one of both x and grad. XLA:CPU
    # runs that layout (lhs contracting dim 0) on a generic kernel 2x slower than its fast
    # matrix-product path; transposing x first, behind a barrier so that XLA does not fold the
    # transpose back into the product, puts it on the fast path for the cost of one small copy.
    x_t = jax.lax.optimization_barrier(x.reshape(-1, x.shape[-1]).T)  # [in, batch]
    grad_kernel = x_t @ grad.reshape(-1, grad.shape[-1])
    return grad_x, grad_kernel


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


def dense_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """``lax.dot_general`` for ``nn.Dense(dot_general=...)`` with a faster kernel gradient on CPU.

    Dense's own contraction (``inputs [..., in] @ kernel [in, out]``) goes through :func:`_matmul`,
    whose backward pass computes the kernel gradient as ``transpose(x) @ grad``; anything else
    (other contractions, a precision or output type) is plain ``lax.dot_general``. Same values up
    to float summation order; about 15 % less time per PPO minibatch step on a 2-core CPU.
    """
    (lhs_contract, rhs_contract), batch = dimension_numbers
    is_dense = (
        tuple(lhs_contract) == (lhs.ndim - 1,)
        and tuple(rhs_contract) == (0,)
        and rhs.ndim == 2
        and batch == ((), ())
        and precision is None
        and preferred_element_type is None
    )
    if not is_dense:
        return jax.lax.dot_general(
            lhs,
            rhs,
            dimension_numbers,
            precision=precision,
            preferred_element_type=preferred_element_type,
        )
    return _matmul(lhs, rhs)


def _dense(features: int, scale: float) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=orthogonal(scale),
        bias_init=nn.initializers.zeros,
        dot_general=dense_dot_general,
    )


class MLP(nn.Module):
    """Hidden layers with orthogonal init (gain sqrt 2), then a linear head of ``out`` units.

    With ``layer_norm`` each hidden layer normalises its pre-activations (``nn.LayerNorm``, with
    learned scale and bias) before the activation: PQN's Q-network, where the normalisation is
    what keeps TD learning stable without a target network.
    """

    hidden_sizes: Sequence[int]
    out: int
    activation: str = "tanh"
    head_scale: float = 1.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = _dense(size, np.sqrt(2.0))(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = act(x)
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


class PolicyValueMLP(nn.Module):
    """AlphaZero's network as an MLP: ``obs [B, ...] -> (logits [B, A], value [B] in [-1, 1])``.

    The CPU default: on a 2-core machine a small conv net costs several times more per search than
    a few wide dense layers, and the network's cost decides how many games self-play can afford.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (256, 256, 256)

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = obs.reshape(obs.shape[0], -1)
        for size in self.hidden_sizes:
            x = nn.relu(nn.Dense(size)(x))
        logits = nn.Dense(self.num_actions)(x)
        value = jnp.tanh(nn.Dense(1)(x))[:, 0]
        return logits, value


class ResidualBlock(nn.Module):
    channels: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = nn.relu(nn.LayerNorm()(nn.Conv(self.channels, (3, 3))(x)))
        y = nn.LayerNorm()(nn.Conv(self.channels, (3, 3))(y))
        return nn.relu(x + y)


class PolicyValueResNet(nn.Module):
    """AlphaZero's residual conv tower (LayerNorm instead of BatchNorm: no running statistics).

    ``obs [B, rows, cols, C] -> (logits [B, A], value [B] in [-1, 1])``. Meant for GPUs and TPUs.
    """

    num_actions: int
    channels: int = 64
    num_blocks: int = 4

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = nn.relu(nn.LayerNorm()(nn.Conv(self.channels, (3, 3))(obs)))
        for _ in range(self.num_blocks):
            x = ResidualBlock(self.channels)(x)
        policy = nn.relu(nn.Conv(2, (1, 1))(x)).reshape(x.shape[0], -1)
        logits = nn.Dense(self.num_actions)(policy)
        value = nn.relu(nn.Conv(1, (1, 1))(x)).reshape(x.shape[0], -1)
        value = jnp.tanh(nn.Dense(1)(nn.relu(nn.Dense(self.channels)(value))))[:, 0]
        return logits, value
