"""rljax.networks: the Dense layers' custom kernel gradient equals plain autodiff."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.networks import dense_dot_general


def _dense(x, kernel, dot_general):
    return dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))


@pytest.mark.parametrize("x_shape", [(128, 4), (7, 5, 16), (3,)], ids=["2d", "3d", "1d"])
def test_dense_dot_general_gradients_match_autodiff(x_shape):
    key_x, key_k, key_g = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(key_x, x_shape)
    kernel = jax.random.normal(key_k, (x_shape[-1], 6))
    cotangent = jax.random.normal(key_g, (*x_shape[:-1], 6))

    def vjp(dot_general):
        out, pull = jax.vjp(lambda x, k: _dense(x, k, dot_general), x, kernel)
        return (out, *pull(cotangent))

    ours, reference = vjp(dense_dot_general), vjp(jax.lax.dot_general)
    for a, b in zip(ours, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_dense_dot_general_under_vmap_and_other_contractions():
    x = jax.random.normal(jax.random.key(1), (4, 32, 8))  # 4 seeds of a [32, 8] batch
    kernel = jax.random.normal(jax.random.key(2), (4, 8, 3))

    def loss(dot_general, x, kernel):
        return jnp.sum(jnp.tanh(_dense(x, kernel, dot_general)) ** 2)

    grads = jax.vmap(jax.grad(lambda x, k: loss(dense_dot_general, x, k), argnums=(0, 1)))(
        x, kernel
    )
    expected = jax.vmap(jax.grad(lambda x, k: loss(jax.lax.dot_general, x, k), argnums=(0, 1)))(
        x, kernel
    )
    for a, b in zip(grads, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # Any other contraction is passed through to lax.dot_general unchanged.
    a, b = jnp.ones((3, 4)), jnp.ones((5, 4))
    dims = (((1,), (1,)), ((), ()))
    np.testing.assert_array_equal(dense_dot_general(a, b, dims), jax.lax.dot_general(a, b, dims))
