"""The optimiser chain, learning-rate annealing and epochs of shuffled minibatches."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from rljax.learning import optim


def test_annealed_lr_is_linear_to_lr_over_num_updates():
    steps = jnp.arange(4, dtype=jnp.int32)
    lr = jax.vmap(lambda s: optim.annealed_lr(jnp.float32(0.1), s, 4, True))(steps)
    np.testing.assert_allclose(lr, [0.1, 0.075, 0.05, 0.025], rtol=1e-6)
    assert float(optim.annealed_lr(jnp.float32(0.1), jnp.int32(3), 4, False)) == np.float32(0.1)


def test_optimizer_clips_the_global_norm_before_adam():
    opt = optim.make_optimizer(1.0, 1e-8)
    grads = jnp.array([30.0, -40.0])  # norm 50, clipped to norm 1
    state = opt.init(jnp.zeros(2))
    updates, state = opt.update(grads, state)
    # Adam's first step is g / |g| (elementwise, bias-corrected) whatever the scale of g.
    np.testing.assert_allclose(updates, [1.0, -1.0], rtol=1e-5)
    # The second moment saw the clipped gradients (norm 1), not the raw ones.
    nu = optax.tree_utils.tree_get(state, "nu")
    np.testing.assert_allclose(nu, 0.001 * np.array([0.6, 0.8]) ** 2, rtol=1e-5)


N, EPOCHS, MINIBATCHES = 12, 3, 4


def _problem():
    """Least squares ``y = X w`` with ``w = (2, -1)`` and a bias 0.5."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 2)).astype(np.float32)
    y = x @ np.array([2.0, -1.0], np.float32) + 0.5
    params = {"w": jnp.zeros(2), "b": jnp.zeros(())}
    batch = {"x": jnp.asarray(x), "y": jnp.asarray(y), "id": jnp.arange(N)}
    return params, batch


def _loss(params, minibatch):
    error = minibatch["x"] @ params["w"] + params["b"] - minibatch["y"]
    return jnp.mean(error**2), {"loss": jnp.mean(error**2), "ids": minibatch["id"]}


def _run(lr, epochs=EPOCHS):
    params, batch = _problem()
    opt = optim.make_optimizer(100.0, 1e-8)
    opt_state = opt.init(ravel_pytree(params)[0])
    return optim.run_epochs(
        _loss,
        opt,
        jnp.float32(lr),
        params,
        opt_state,
        jax.random.key(0),
        batch,
        update_epochs=epochs,
        num_minibatches=MINIBATCHES,
    )


def test_each_epoch_visits_every_sample_once_in_a_fresh_order():
    _, _, key, aux = _run(0.01)
    ids = np.asarray(aux["ids"])
    assert ids.shape == (EPOCHS, MINIBATCHES, N // MINIBATCHES)
    for epoch in ids:
        np.testing.assert_array_equal(np.sort(epoch.ravel()), np.arange(N))
    assert not np.array_equal(ids[0], ids[1])
    assert aux["loss"].shape == aux["grad_norm"].shape == (EPOCHS, MINIBATCHES)
    assert not np.array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(0)))


def test_grad_norm_is_the_first_minibatchs_gradient_norm():
    params, batch = _problem()
    _, _, _, aux = _run(0.01)
    first = np.asarray(aux["ids"])[0, 0]
    minibatch = jax.tree.map(lambda x: x[first], batch)
    grads = jax.grad(lambda p: _loss(p, minibatch)[0])(params)
    np.testing.assert_allclose(aux["grad_norm"][0, 0], optax.tree.norm(grads), rtol=1e-5)


def test_lr_scales_the_steps_and_training_fits_the_problem():
    params, _ = _problem()
    frozen, *_ = _run(0.0)
    for a, b in zip(jax.tree.leaves(frozen), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
    fitted, _, _, aux = _run(0.05, epochs=150)
    np.testing.assert_allclose(fitted["w"], [2.0, -1.0], atol=0.05)
    np.testing.assert_allclose(fitted["b"], 0.5, atol=0.05)
    assert float(aux["loss"][-1].mean()) < 1e-2 < float(aux["loss"][0].mean())
