"""Running mean and variance of a stream of batches, for observation and reward normalisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

# The count a fresh statistic starts from: a tiny pseudo-count keeps the first update's division
# finite and makes the first batch's mean and variance almost exactly the statistic's.
INITIAL_COUNT = 1e-4


@struct.dataclass
class RunningMeanStd:
    """Mean and (population) variance ``[*shape]`` over everything folded in, and its count.

    Float32 throughout. Starts at mean 0, variance 1 and count :data:`INITIAL_COUNT`; a pytree,
    so it lives in a training state (and under ``vmap`` each run keeps its own).
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> RunningMeanStd:
        return cls(
            jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.float32(INITIAL_COUNT)
        )

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Folds in ``batch [N, *shape]`` (Chan et al.'s parallel update)."""
        batch_mean = jnp.mean(batch, axis=0)
        batch_var = jnp.var(batch, axis=0)
        n = jnp.float32(batch.shape[0])
        total = self.count + n
        delta = batch_mean - self.mean
        mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + jnp.square(delta) * self.count * n / total
        return RunningMeanStd(mean, m2 / total, total)

    def normalize(
        self, x: jax.Array, clip: float | None = 10.0, epsilon: float = 1e-8
    ) -> jax.Array:
        """``(x - mean) / sqrt(var + epsilon)``, clipped to ``[-clip, clip]`` unless ``None``."""
        out = (x - self.mean) / jnp.sqrt(self.var + epsilon)
        return out if clip is None else jnp.clip(out, -clip, clip)

    def scale(self, x: jax.Array, epsilon: float = 1e-8) -> jax.Array:
        """``x / sqrt(var + epsilon)``: divided by the running std, not centred (for rewards,
        whose sign must survive, scaled by the std of the discounted return)."""
        return x / jnp.sqrt(self.var + epsilon)
