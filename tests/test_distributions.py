"""Policy distributions: closed forms, sampling frequencies, and the tanh-Gaussian's change of
variables checked against jax.jacobian and a numerical integral."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.learning import distributions as D


def test_categorical_log_prob_entropy_and_mode_match_closed_forms():
    logits = jnp.array([[1.0, 2.0, 0.5]])
    p = np.exp(np.asarray(logits[0])) / np.exp(np.asarray(logits[0])).sum()
    log_prob, entropy = D.categorical_log_prob_entropy(logits, jnp.array([1]))
    np.testing.assert_allclose(log_prob, [np.log(p[1])], rtol=1e-6)
    np.testing.assert_allclose(entropy, [-(p * np.log(p)).sum()], rtol=1e-6)
    np.testing.assert_array_equal(D.categorical_log_prob(logits, jnp.array([1])), log_prob)
    np.testing.assert_array_equal(D.categorical_entropy(logits), entropy)
    assert D.categorical_mode(logits).tolist() == [1]
    assert D.categorical_mode(logits).dtype == jnp.int32


def test_gumbel_argmax_sampling_follows_the_probabilities():
    probs = np.array([0.2, 0.5, 0.3])
    logits = jnp.broadcast_to(jnp.log(jnp.asarray(probs)), (20_000, 3))
    actions = D.categorical_sample(logits, D.gumbel_noise(jax.random.key(0), (20_000, 3)))
    assert actions.dtype == jnp.int32
    freq = np.bincount(np.asarray(actions), minlength=3) / 20_000
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_gaussian_log_prob_entropy_and_mode_match_closed_forms():
    mean, log_std = jnp.array([[0.5, -1.0]]), jnp.array([0.1, -0.3])
    action = jnp.array([[1.0, 0.0]])
    std = np.exp(np.asarray(log_std))
    expected = sum(
        -0.5 * ((a - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        for a, m, s in zip([1.0, 0.0], [0.5, -1.0], std, strict=True)
    )
    np.testing.assert_allclose(D.gaussian_log_prob(mean, log_std, action), [expected], rtol=1e-5)
    entropy = D.gaussian_entropy(mean, log_std)
    assert entropy.shape == (1,)  # the batch shape of mean, with a state-independent log_std
    np.testing.assert_allclose(
        entropy, [np.sum(np.log(std) + 0.5 * (1 + math.log(2 * math.pi)))], rtol=1e-6
    )
    np.testing.assert_array_equal(D.gaussian_mode(mean), mean)


def test_gaussian_samples_have_the_mean_and_std():
    mean, log_std = jnp.array([1.0, -2.0]), jnp.log(jnp.array([0.5, 3.0]))
    noise = D.normal_noise(jax.random.key(1), (50_000, 2))
    x = np.asarray(D.gaussian_sample(mean, log_std, noise))
    np.testing.assert_allclose(x.mean(0), [1.0, -2.0], atol=0.04)
    np.testing.assert_allclose(x.std(0), [0.5, 3.0], rtol=0.02)


LOW, HIGH = jnp.array([-2.0, 0.0]), jnp.array([2.0, 1.0])


def test_tanh_gaussian_log_prob_is_the_change_of_variables():
    mean, log_std = jnp.array([0.3, -0.7]), jnp.array([-0.2, 0.4])
    for u in (jnp.array([0.1, -0.4]), jnp.array([2.5, 1.7]), jnp.array([-3.0, 0.0])):
        jacobian = jax.jacobian(lambda v: D.squash(v, LOW, HIGH))(u)
        _, log_det = jnp.linalg.slogdet(jacobian)
        expected = D.gaussian_log_prob(mean, log_std, u) - log_det
        np.testing.assert_allclose(
            D.tanh_gaussian_log_prob(mean, log_std, u, LOW, HIGH), expected, rtol=1e-5
        )


def test_tanh_gaussian_samples_stay_in_the_box_and_mode_is_the_squashed_mean():
    mean, log_std = jnp.array([0.0, 1.0]), jnp.array([1.0, 1.0])
    noise = D.normal_noise(jax.random.key(2), (10_000, 2))
    action, pre_tanh = D.tanh_gaussian_sample(mean, log_std, noise, LOW, HIGH)
    np.testing.assert_array_equal(pre_tanh, D.gaussian_sample(mean, log_std, noise))
    np.testing.assert_allclose(action, D.squash(pre_tanh, LOW, HIGH), rtol=1e-6)
    assert bool(jnp.all((action >= LOW) & (action <= HIGH)))
    mode = D.tanh_gaussian_mode(mean, LOW, HIGH)
    np.testing.assert_allclose(mode, [0.0, 0.5 * (np.tanh(1.0) + 1.0)], rtol=1e-6)


@pytest.mark.parametrize("u", [9.0, 20.0, -20.0, 60.0])
def test_squash_log_det_is_stable_where_the_direct_form_fails(u):
    low, high = jnp.array([-1.0]), jnp.array([1.0])
    ours = float(D.squash_log_det_jacobian(jnp.array([u], jnp.float32), low, high))
    # log(1 - tanh(u)^2) = -2 log cosh(u), in float64 without cancellation.
    exact = -2.0 * (abs(u) + math.log1p(math.exp(-2 * abs(u))) - math.log(2.0))
    assert math.isfinite(ours)
    np.testing.assert_allclose(ours, exact, rtol=1e-5)
    if abs(u) >= 20:  # what the direct form gives in float32
        direct = jnp.log(1.0 - jnp.tanh(jnp.float32(u)) ** 2)
        assert not bool(jnp.isfinite(direct))


def test_tanh_gaussian_density_integrates_to_one_and_entropy_estimate_matches():
    # One dimension on [-2, 1]: p(a) from the log-probability at u = atanh((a - c) / h).
    low, high = jnp.array([-2.0]), jnp.array([1.0])
    mean, log_std = jnp.array([0.4]), jnp.array([-0.3])
    center, half = -0.5, 1.5
    a = np.linspace(-2.0, 1.0, 400_001)[1:-1]
    u = np.arctanh((a - center) / half)
    log_p = np.asarray(
        jax.vmap(lambda v: D.tanh_gaussian_log_prob(mean, log_std, v[None], low, high))(
            jnp.asarray(u, jnp.float32)
        ),
        np.float64,
    )
    p = np.exp(log_p)
    np.testing.assert_allclose(np.trapezoid(p, a), 1.0, atol=2e-3)
    entropy = -np.trapezoid(p * log_p, a)
    noise = D.normal_noise(jax.random.key(3), (200_000, 1))
    _, pre_tanh = D.tanh_gaussian_sample(mean, log_std, noise, low, high)
    estimate = D.tanh_gaussian_entropy(mean, log_std, pre_tanh, low, high)
    np.testing.assert_allclose(float(estimate.mean()), entropy, atol=5e-3)
