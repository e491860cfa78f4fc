"""Action and observation spaces with jittable ``sample`` and ``contains``.

Spaces are plain Python objects (not pytrees): their sizes and shapes are static, while ``low`` and
``high`` may be arrays computed from (possibly traced) environment parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class Space:
    """Base class. ``shape`` and ``dtype`` describe one element of the space."""

    shape: tuple[int, ...]
    dtype: Any

    def sample(self, key: jax.Array) -> jax.Array:
        raise NotImplementedError

    def contains(self, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def sample_batch(self, key: jax.Array, batch_size: int) -> jax.Array:
        """``[batch_size, *shape]`` independent samples from one random call (cheaper than vmap)."""
        return jax.vmap(self.sample)(jax.random.split(key, batch_size))

    def check_action(self, action: Any) -> jax.Array:
        """Checks an action's shape and dtype at trace time; returns it as an array.

        Raises ``TypeError`` naming this space when the action cannot belong to it. Values are not
        checked (they may be traced); use ``contains`` for that.
        """
        action = jnp.asarray(action)
        if action.shape != self.shape or not _same_kind(action.dtype, self.dtype):
            raise TypeError(
                f"action of shape {action.shape} and dtype {action.dtype} does not fit {self!r}: "
                f"expected shape {self.shape} and a {np.dtype(self.dtype).kind!r}-kind dtype "
                f"({np.dtype(self.dtype).name}). Under vmap, pass one action per environment."
            )
        return action


def _same_kind(actual: Any, expected: Any) -> bool:
    kind_a, kind_e = np.dtype(actual).kind, np.dtype(expected).kind
    integer = {"i", "u"}
    if kind_e in integer:
        return kind_a in integer
    if kind_e == "f":
        return kind_a == "f"
    return kind_a == kind_e


class Discrete(Space):
    """Integers ``0 .. n-1``; one element has shape ``()`` and dtype int32."""

    def __init__(self, n: int):
        if int(n) < 1:
            raise ValueError(f"Discrete space needs n >= 1, got n={n}")
        self.n = int(n)
        self.shape = ()
        self.dtype = jnp.int32

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, self.n, dtype=jnp.int32)

    def sample_batch(self, key: jax.Array, batch_size: int) -> jax.Array:
        return jax.random.randint(key, (batch_size,), 0, self.n, dtype=jnp.int32)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != ():
            return jnp.asarray(False)
        return jnp.logical_and(x >= 0, x < self.n)

    def __repr__(self) -> str:
        return f"Discrete({self.n})"


class MultiDiscrete(Space):
    """A vector of independent integers, entry i in ``0 .. nvec[i]-1``, shape ``[len(nvec)]``."""

    def __init__(self, nvec: Sequence[int]):
        nvec = np.asarray(nvec, dtype=np.int32)
        if nvec.ndim != 1 or nvec.size == 0 or (nvec < 1).any():
            raise ValueError(f"MultiDiscrete needs a non-empty vector of sizes >= 1, got {nvec}")
        self.nvec = nvec
        self.shape = (int(nvec.size),)
        self.dtype = jnp.int32

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, jnp.asarray(self.nvec), dtype=jnp.int32)

    def sample_batch(self, key: jax.Array, batch_size: int) -> jax.Array:
        shape = (batch_size, *self.shape)
        return jax.random.randint(key, shape, 0, jnp.asarray(self.nvec), dtype=jnp.int32)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x >= 0) & (x < jnp.asarray(self.nvec)))

    def __repr__(self) -> str:
        return f"MultiDiscrete({self.nvec.tolist()})"


def _flush_subnormal(bound: jax.Array) -> jax.Array:
    """A float bound with subnormal entries set to zero, as XLA:CPU treats them in every
    computation: the box then means the same on the host and on the device. Traced bounds are
    left as they are."""
    if not jnp.issubdtype(bound.dtype, jnp.floating):
        return bound
    try:
        host = np.asarray(bound)
    except jax.errors.TracerArrayConversionError:
        return bound
    subnormal = (host != 0) & (np.abs(host) < np.finfo(host.dtype).tiny)
    return jnp.asarray(np.where(subnormal, np.zeros_like(host), host)) if subnormal.any() else bound


class Box(Space):
    """A box ``low <= x <= high`` of the given shape; bounds broadcast, float32 by default."""

    def __init__(self, low: Any, high: Any, shape: Sequence[int], dtype: Any = jnp.float32):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.low = _flush_subnormal(jnp.broadcast_to(jnp.asarray(low, dtype), self.shape))
        self.high = _flush_subnormal(jnp.broadcast_to(jnp.asarray(high, dtype), self.shape))
        try:  # bounds computed from traced params cannot be checked here
            empty = np.any(np.asarray(self.low) > np.asarray(self.high))
        except jax.errors.TracerArrayConversionError:
            empty = False
        if empty:
            raise ValueError(f"Box needs low <= high everywhere, got low={low} and high={high}")

    def sample(self, key: jax.Array) -> jax.Array:
        """A point of the box, drawn as Gymnasium does.

        Bounded coordinates are uniform; ``[low, inf)`` is ``low + Exponential(1)``, ``(-inf,
        high]`` is ``high - Exponential(1)`` and unbounded ones are standard normal.
        """
        return self._sample(key, self.shape)

    def sample_batch(self, key: jax.Array, batch_size: int) -> jax.Array:
        return self._sample(key, (batch_size, *self.shape))

    def _sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        if np.dtype(self.dtype).kind in {"i", "u"}:
            return jax.random.randint(key, shape, self.low, self.high + 1, dtype=self.dtype)
        # Uniform as mid + half * U(-1, 1): ``high - low`` overflows for bounds near float32 max.
        # The clip keeps rounding inside the box: for bounds near the smallest normal float the
        # halves are subnormal, which XLA:CPU flushes to zero.
        mid = self.low / 2 + self.high / 2
        half = self.high / 2 - self.low / 2
        if self._bounded():  # the common case: one random call
            uniform = mid + half * jax.random.uniform(key, shape, self.dtype, -1.0, 1.0)
            return jnp.clip(uniform, self.low, self.high)
        k_uniform, k_exp, k_normal = jax.random.split(key, 3)
        low_finite, high_finite = jnp.isfinite(self.low), jnp.isfinite(self.high)
        uniform = jnp.where(low_finite & high_finite, mid, 0.0) + jnp.where(
            low_finite & high_finite, half, 0.0
        ) * jax.random.uniform(k_uniform, shape, self.dtype, -1.0, 1.0)
        uniform = jnp.clip(uniform, self.low, self.high)
        exponential = jax.random.exponential(k_exp, shape, self.dtype)
        normal = jax.random.normal(k_normal, shape, self.dtype)
        return jnp.select(
            [low_finite & high_finite, low_finite, high_finite],
            [uniform, self.low + exponential, self.high - exponential],
            normal,
        ).astype(self.dtype)

    def _bounded(self) -> bool:
        """True if every bound is known (not traced) and finite."""
        try:
            return bool(
                np.all(np.isfinite(np.asarray(self.low)))
                and np.all(np.isfinite(np.asarray(self.high)))
            )
        except jax.errors.TracerArrayConversionError:
            return False

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x >= self.low) & (x <= self.high))

    def __repr__(self) -> str:
        return f"Box(shape={self.shape}, dtype={np.dtype(self.dtype).name})"
