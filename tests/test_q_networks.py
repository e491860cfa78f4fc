"""rljax.q_networks: output shapes of every head, the dueling combination, and the noisy layer's
factorised noise (recovered from the layer's outputs and checked against f(x) = sign(x) sqrt|x|)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.q_networks import NoisyDense, QNetwork

OBS = jnp.linspace(-1.0, 1.0, 4 * 3).reshape(4, 3)


def init(net, obs=OBS):
    return net.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, obs)


@pytest.mark.parametrize(
    ("dueling", "noisy", "num_atoms"), list(itertools.product([False, True], [False, True], [0, 7]))
)
def test_output_shapes_of_every_switch_combination(dueling, noisy, num_atoms):
    net = QNetwork(5, (16, 8), dueling=dueling, noisy=noisy, num_atoms=num_atoms)
    # shapes only: traced, not run (eval_shape), which keeps the 8 combinations cheap
    params = jax.eval_shape(lambda: init(net))
    rngs = {"noise": jax.random.key(2)}
    shape = lambda obs, **kw: jax.eval_shape(lambda p, o: net.apply(p, o, **kw), params, obs)
    want = (4, 5, 7) if num_atoms else (4, 5)
    assert shape(OBS, rngs=rngs).shape == want
    assert shape(OBS, deterministic=True).shape == want
    assert shape(OBS, rngs=rngs).dtype == jnp.float32
    # one observation without a batch axis, and a [T, B] batch
    assert shape(OBS[0], rngs=rngs).shape == want[1:]
    assert shape(jnp.stack([OBS, OBS]), rngs=rngs).shape == (2, *want)


@pytest.mark.parametrize("num_atoms", [0, 3])
def test_dueling_head_is_value_plus_mean_subtracted_advantage(num_atoms):
    net = QNetwork(4, (6,), activation="tanh", dueling=True, num_atoms=num_atoms)
    params = init(net)["params"]
    p = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in params.items()}
    h = np.tanh(np.asarray(OBS, np.float64) @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    k = max(num_atoms, 1)
    adv = (h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]).reshape(4, 4, k)
    value = (h @ p["Dense_2"]["kernel"] + p["Dense_2"]["bias"]).reshape(4, 1, k)
    want = value + adv - adv.mean(axis=1, keepdims=True)
    got = np.asarray(net.apply({"params": params}, OBS))
    np.testing.assert_allclose(got, want if num_atoms else want[..., 0], atol=1e-5)
    # the advantages average to zero over actions, so the mean over actions is the value
    np.testing.assert_allclose(got.mean(axis=1), value[:, 0] if num_atoms else value[:, 0, 0],
                               atol=1e-5)  # fmt: skip


def noise_of(layer, params, keys, fan_in):
    """The layer's noise for each of ``keys [N]``, recovered from its outputs at 0 and at unit
    vectors: ``(eps_kernel [N, in, out], eps_bias [N, out])``."""
    p = {name: np.asarray(v, np.float64) for name, v in params["params"].items()}
    probes = jnp.concatenate([jnp.zeros((1, fan_in)), jnp.eye(fan_in)])
    y = jax.jit(jax.vmap(lambda k: layer.apply(params, probes, rngs={"noise": k})))(keys)
    y = np.asarray(y, np.float64)  # [N, 1 + in, out]
    eps_bias = (y[:, 0] - p["mu_bias"]) / p["sigma_bias"]
    eps_kernel = (y[:, 1:] - y[:, :1] - p["mu_kernel"]) / p["sigma_kernel"]
    return eps_kernel, eps_bias


def test_noisy_layer_noise_is_factorised_with_f_sign_sqrt_abs():
    fan_in, out = 6, 4
    layer = NoisyDense(out, sigma0=0.5)
    params = layer.init({"params": jax.random.key(0), "noise": jax.random.key(1)},
                        jnp.zeros((1, fan_in)))  # fmt: skip
    p = params["params"]
    np.testing.assert_allclose(p["sigma_kernel"], 0.5 / np.sqrt(fan_in), rtol=1e-6)
    assert np.all(np.abs(p["mu_kernel"]) <= 1 / np.sqrt(fan_in))
    eps_kernel, eps_bias = noise_of(layer, params, jax.random.split(jax.random.key(9), 500), 6)
    # factorised: the kernel's noise is the outer product f(eps_in) f(eps_out)^T, whose column
    # factor f(eps_out) is the bias's noise
    eps_in = eps_kernel[:, :, 0] / eps_bias[:, :1]
    np.testing.assert_allclose(eps_kernel, eps_in[:, :, None] * eps_bias[:, None, :], atol=2e-3)
    squares = np.concatenate([eps_in, eps_bias], axis=1) ** 2
    # f(x)^2 = |x| for x ~ N(0, 1): mean sqrt(2 / pi) = 0.798 (plain Gaussian noise would give 1)
    assert np.mean(squares) == pytest.approx(np.sqrt(2 / np.pi), abs=0.03)


def test_noise_changes_with_the_key_and_is_zero_mean():
    net = QNetwork(3, (32,), noisy=True)
    params = init(net)
    apply = jax.jit(lambda key: net.apply(params, OBS, rngs={"noise": key}))
    a, b = apply(jax.random.key(5)), apply(jax.random.key(6))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, apply(jax.random.key(5)))  # same key, same noise
    # a noisy layer's output averages to its mean-weights output (the noise is zero-mean)
    head = NoisyDense(3)
    head_params = head.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, OBS)
    draws = jax.jit(jax.vmap(lambda k: head.apply(head_params, OBS, rngs={"noise": k})))(
        jax.random.split(jax.random.key(8), 4000)
    )
    draws = np.asarray(draws, np.float64)
    standard_error = draws.std(axis=0) / np.sqrt(len(draws))
    error = np.abs(draws.mean(axis=0) - np.asarray(head.apply(head_params, OBS, True)))
    assert np.all(error < 4 * standard_error)
    assert np.all(draws.std(axis=0) > 0.05)  # and it is there


def test_noisy_network_needs_a_noise_stream_unless_deterministic():
    net = QNetwork(2, (4,), noisy=True)
    params = init(net)
    with pytest.raises(Exception, match="noise"):
        net.apply(params, OBS)
