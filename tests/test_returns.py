"""GAE, TD(lambda) and n-step returns: by hand on three steps, and against plain-Python loops on
random rollouts with both kinds of episode end (termination: no future; truncation: bootstrap
from the final observation)."""

import jax.numpy as jnp
import numpy as np
import pytest

from rljax.learning import returns

GAMMA, LAMBDA = 0.9, 0.8


def _gae(terminated, truncated, final_value=(0.0, 0.0, 0.0)):
    reward = jnp.array([[1.0], [2.0], [3.0]])
    value = jnp.array([[0.5], [0.6], [0.7]])
    next_value = jnp.array([0.8])
    return returns.compute_gae(
        reward,
        value,
        next_value,
        jnp.array(final_value)[:, None],
        jnp.array(terminated)[:, None],
        jnp.array(truncated)[:, None],
        GAMMA,
        LAMBDA,
    )


def test_gae_without_episode_end_matches_hand_computation():
    adv, ret = _gae([False, False, False], [False, False, False])
    d2 = 3.0 + GAMMA * 0.8 - 0.7
    d1 = 2.0 + GAMMA * 0.7 - 0.6
    d0 = 1.0 + GAMMA * 0.6 - 0.5
    a2 = d2
    a1 = d1 + GAMMA * LAMBDA * a2
    a0 = d0 + GAMMA * LAMBDA * a1
    np.testing.assert_allclose(adv[:, 0], [a0, a1, a2], rtol=1e-6)
    np.testing.assert_allclose(ret[:, 0], [a0 + 0.5, a1 + 0.6, a2 + 0.7], rtol=1e-6)


def test_gae_does_not_bootstrap_through_termination():
    # Episode terminates at t=1; obs[2] (value 0.7) starts a new episode.
    adv, _ = _gae([False, True, False], [False, False, False], final_value=(0.0, 123.0, 0.0))
    a2 = 3.0 + GAMMA * 0.8 - 0.7
    a1 = 2.0 - 0.6  # no future value: neither V(obs[2]) nor the final observation's
    a0 = (1.0 + GAMMA * 0.6 - 0.5) + GAMMA * LAMBDA * a1
    np.testing.assert_allclose(adv[:, 0], [a0, a1, a2], rtol=1e-6)


def test_gae_bootstraps_truncation_from_the_final_observation():
    # Time limit at t=1: bootstrap from V(final_obs[1]) = 2.0, not V(obs[2]) of the new episode.
    adv, _ = _gae([False, False, False], [False, True, False], final_value=(0.0, 2.0, 0.0))
    a2 = 3.0 + GAMMA * 0.8 - 0.7
    a1 = 2.0 + GAMMA * 2.0 - 0.6
    a0 = (1.0 + GAMMA * 0.6 - 0.5) + GAMMA * LAMBDA * a1
    np.testing.assert_allclose(adv[:, 0], [a0, a1, a2], rtol=1e-6)
    # Terminated and truncated on the same step: termination wins (no bootstrap).
    adv_both, _ = returns.compute_gae(
        jnp.ones((1, 1)),
        jnp.zeros((1, 1)),
        jnp.zeros(1),
        jnp.full((1, 1), 5.0),
        jnp.ones((1, 1), bool),
        jnp.ones((1, 1), bool),
        GAMMA,
        LAMBDA,
    )
    np.testing.assert_allclose(adv_both, [[1.0]])


# --- random rollouts against reference loops ------------------------------------------------------

T, B = 12, 5


@pytest.fixture(params=[0, 1, 2])
def rollout(request):
    """Random rewards and values; about one step in six terminates and one in six truncates,
    some steps do both."""
    rng = np.random.default_rng(request.param)
    terminated = rng.random((T, B)) < 0.17
    truncated = rng.random((T, B)) < 0.17
    return {
        "reward": rng.normal(size=(T, B)).astype(np.float32),
        "value": rng.normal(size=(T, B)).astype(np.float32),
        "next_value": rng.normal(size=B).astype(np.float32),
        "final_value": rng.normal(size=(T, B)).astype(np.float32),
        "terminated": terminated,
        "truncated": truncated,
    }


def _value_next(r, t, b):
    return r["value"][t + 1, b] if t + 1 < T else r["next_value"][b]


def _ref_gae(r, gamma, lam):
    adv = np.zeros((T, B))
    for b in range(B):
        running = 0.0
        for t in reversed(range(T)):
            if r["terminated"][t, b]:
                delta, running = r["reward"][t, b] - r["value"][t, b], 0.0
            elif r["truncated"][t, b]:
                delta = r["reward"][t, b] + gamma * r["final_value"][t, b] - r["value"][t, b]
                running = 0.0
            else:
                delta = r["reward"][t, b] + gamma * _value_next(r, t, b) - r["value"][t, b]
            running = delta + gamma * lam * running
            adv[t, b] = running
    return adv


def _ref_lambda(r, gamma, lam):
    out = np.zeros((T, B))
    for b in range(B):
        later = r["next_value"][b]  # G[t + 1]
        for t in reversed(range(T)):
            if r["terminated"][t, b]:
                g = r["reward"][t, b]
            elif r["truncated"][t, b]:
                g = r["reward"][t, b] + gamma * r["final_value"][t, b]
            else:
                v = _value_next(r, t, b)
                g = r["reward"][t, b] + gamma * ((1 - lam) * v + lam * later)
            out[t, b] = later = g
    return out


def _ref_n_step(r, gamma, n):
    out = np.zeros((T, B))
    for b in range(B):
        for t in range(T):
            g, discount = 0.0, 1.0
            for k in range(n):
                i = t + k
                g += discount * r["reward"][i, b]
                if r["terminated"][i, b]:
                    break
                if r["truncated"][i, b]:
                    g += discount * gamma * r["final_value"][i, b]
                    break
                if k == n - 1 or i == T - 1:
                    g += discount * gamma * _value_next(r, i, b)
                    break
                discount *= gamma
            out[t, b] = g
    return out


def _call(fn, r, *args):
    keys = ("reward", "value", "next_value", "final_value", "terminated", "truncated")
    return np.asarray(fn(*(jnp.asarray(r[k]) for k in keys), *args))


def test_gae_matches_the_reference_loop(rollout):
    adv, ret = returns.compute_gae(*(jnp.asarray(v) for v in rollout.values()), GAMMA, LAMBDA)
    np.testing.assert_allclose(adv, _ref_gae(rollout, GAMMA, LAMBDA), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, np.asarray(adv) + rollout["value"], rtol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_lambda_returns_match_the_reference_loop_and_gae(rollout, lam):
    ours = _call(returns.lambda_returns, rollout, GAMMA, lam)
    np.testing.assert_allclose(ours, _ref_lambda(rollout, GAMMA, lam), rtol=1e-5, atol=1e-5)
    _, gae_returns = returns.compute_gae(*(jnp.asarray(v) for v in rollout.values()), GAMMA, lam)
    np.testing.assert_allclose(ours, gae_returns, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_n_step_returns_match_the_reference_loop(rollout, n):
    ours = _call(returns.n_step_returns, rollout, GAMMA, n)
    np.testing.assert_allclose(ours, _ref_n_step(rollout, GAMMA, n), rtol=1e-5, atol=1e-5)


def test_n_step_extremes_are_td0_and_monte_carlo(rollout):
    # n = 1 is the one-step TD target (lambda 0); n >= T runs to each episode's end or the
    # rollout's (lambda 1).
    one = _call(returns.n_step_returns, rollout, GAMMA, 1)
    np.testing.assert_allclose(one, _call(returns.lambda_returns, rollout, GAMMA, 0.0), rtol=1e-5)
    full = _call(returns.n_step_returns, rollout, GAMMA, T)
    monte_carlo = _call(returns.lambda_returns, rollout, GAMMA, 1.0)
    np.testing.assert_allclose(full, monte_carlo, rtol=1e-5, atol=1e-5)


def test_n_step_rejects_a_bad_n(rollout):
    with pytest.raises(ValueError, match="n=0"):
        _call(returns.n_step_returns, rollout, GAMMA, 0)
