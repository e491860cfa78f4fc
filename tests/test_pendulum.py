"""Pendulum-v1 against Gymnasium: identical states in, identical transitions out."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.pendulum import Pendulum, PendulumState, angle_normalize

gym = pytest.importorskip("gymnasium")

ENV_ID = "Pendulum-v1"
TOL = {"rtol": 1e-5, "atol": 1e-5}


def test_angle_normalize_matches_floored_mod():
    """The floor-based wrap against Gymnasium's ``((x + pi) % (2 pi)) - pi`` in float64."""
    edges = np.pi * np.arange(-31, 32, dtype=np.float64)  # odd and even multiples of pi
    angles = np.concatenate([np.linspace(-100, 100, 20_001), edges, edges + 1e-4, edges - 1e-4])
    angles = angles.astype(np.float32)
    ours = np.asarray(jax.jit(angle_normalize)(angles), np.float64)
    theirs = ((angles.astype(np.float64) + np.pi) % (2 * np.pi)) - np.pi
    # Either end of the period is the same angle: compare on the circle, then check the range.
    gap = np.abs((ours - theirs + np.pi) % (2 * np.pi) - np.pi)
    assert gap.max() < 2e-5, angles[np.argmax(gap)]
    assert ours.min() >= -np.pi - 1e-5 and ours.max() <= np.pi + 1e-5


@pytest.fixture(scope="module")
def env_params():
    return rljax.make(ENV_ID)


@pytest.fixture(scope="module")
def step(env_params):
    env, _ = env_params
    return jax.jit(env.step)


@pytest.fixture(scope="module")
def batch_step(env_params):
    env, _ = env_params
    return jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))


def _state(theta, theta_dot, time=0) -> PendulumState:
    return PendulumState(
        theta=jnp.float32(theta), theta_dot=jnp.float32(theta_dot), time=jnp.int32(time)
    )


def _make_gym(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(ENV_ID, **kwargs)


def _gym_step(gym_env, action):
    with warnings.catch_warnings():
        # The passive env checker warns about out-of-bounds actions; clipping them is the point.
        warnings.simplefilter("ignore")
        return gym_env.step(action)


def _rollout_against_gym(step, params, gym_env, episodes, seed):
    """Steps both in lockstep from Gymnasium's reset states, syncing Gymnasium to our state."""
    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)
    ours, theirs = [], []
    for episode in range(episodes):
        gym_env.reset(seed=seed * 1000 + episode)
        state = _state(*gym_env.unwrapped.state)
        done = False
        while not done:
            # A quarter of the actions lie outside [-2, 2] and exercise the clipping.
            action = rng.uniform(-3.0, 3.0, size=(1,)).astype(np.float32)
            th, thdot = jax.device_get((state.theta, state.theta_dot))
            gym_env.unwrapped.state = np.array([th, thdot], dtype=np.float64)
            g_obs, g_rew, g_term, g_trunc, _ = _gym_step(gym_env, action)
            obs, state, rew, term, trunc, _ = step(key, state, jnp.asarray(action), params)
            obs, th, thdot, rew, term, trunc = jax.device_get(
                (obs, state.theta, state.theta_dot, rew, term, trunc)
            )
            ours.append((obs, (th, thdot), rew, term, trunc))
            theirs.append((g_obs, gym_env.unwrapped.state, g_rew, g_term, g_trunc))
            done = g_term or g_trunc
    return ours, theirs


def _assert_same(ours, theirs):
    def column(rows, i, dtype):
        return np.array([row[i] for row in rows], dtype=dtype)

    assert column(ours, 0, None).dtype == np.float32
    assert column(ours, 2, None).dtype == np.float32
    np.testing.assert_allclose(column(ours, 0, None), column(theirs, 0, np.float32), **TOL)
    np.testing.assert_allclose(column(ours, 1, np.float64), column(theirs, 1, np.float64), **TOL)
    np.testing.assert_allclose(column(ours, 2, np.float64), column(theirs, 2, np.float64), **TOL)
    np.testing.assert_array_equal(column(ours, 3, bool), column(theirs, 3, bool))
    np.testing.assert_array_equal(column(ours, 4, bool), column(theirs, 4, bool))


def test_transitions_match_gymnasium(env_params, step):
    _, params = env_params
    ours, theirs = _rollout_against_gym(step, params, _make_gym(), episodes=14, seed=0)
    assert len(ours) == 14 * 200
    _assert_same(ours, theirs)
    truncated = np.array([row[4] for row in ours])
    assert truncated.sum() == 14 and not any(row[3] for row in ours)


def test_gravity_override_matches_gymnasium(env_params, step):
    # Same compiled step: g is a pytree leaf, not a constant.
    env, _ = env_params
    _, params = rljax.make(ENV_ID, g=9.81)
    ours, theirs = _rollout_against_gym(step, params, _make_gym(g=9.81), episodes=1, seed=1)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("torque", [-1e6, -7.5, -2.0, 2.0, 2.5, 1e6])
def test_out_of_range_torque_is_clipped_like_gymnasium(env_params, step, torque):
    _, params = env_params
    gym_env = _make_gym()
    gym_env.reset(seed=0)
    gym_env.unwrapped.state = np.array([0.7, -1.3])
    action = np.array([torque], np.float32)
    g_obs, g_rew, *_ = _gym_step(gym_env, action)
    state = _state(0.7, -1.3)
    obs, _, rew, *_ = step(jax.random.key(0), state, jnp.asarray(action), params)
    np.testing.assert_allclose(obs, g_obs, **TOL)
    np.testing.assert_allclose(rew, g_rew, **TOL)
    # Clipped means indistinguishable from the bound, the reward's torque cost included.
    bound = np.sign(torque) * min(abs(torque), 2.0)
    obs_b, _, rew_b, *_ = step(jax.random.key(0), state, jnp.float32([bound]), params)
    np.testing.assert_array_equal(obs, obs_b)
    np.testing.assert_array_equal(rew, rew_b)


def test_vmap_equals_loop_bitwise(env_params, step, batch_step):
    _, params = env_params
    n = 64
    rng = np.random.default_rng(2)
    keys = jax.random.split(jax.random.key(2), n)
    states = PendulumState(
        theta=jnp.asarray(rng.uniform(-20, 20, n), jnp.float32),
        theta_dot=jnp.asarray(rng.uniform(-8, 8, n), jnp.float32),
        time=jnp.asarray(rng.integers(180, 200, n), jnp.int32),
    )
    actions = jnp.asarray(rng.uniform(-3, 3, (n, 1)), jnp.float32)
    batched = jax.device_get(batch_step(keys, states, actions, params))
    for i in range(n):
        state_i = jax.tree.map(lambda x, i=i: x[i], states)
        single = jax.device_get(step(keys[i], state_i, actions[i], params))
        for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_array_equal(b[i], s)
    assert batched[4].any() and not batched[4].all()  # time limit hit by some, not all


def test_reset_distribution(env_params):
    env, params = env_params
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(3), 4000), params
    )
    theta, theta_dot = np.asarray(state.theta), np.asarray(state.theta_dot)
    assert obs.shape == (4000, 3) and obs.dtype == jnp.float32
    assert state.theta.dtype == jnp.float32 and state.time.dtype == jnp.int32
    assert np.all(np.abs(theta) <= np.float32(np.pi)) and np.all(np.abs(theta_dot) <= 1.0)
    # Uniform over the whole box, not a corner of it.
    assert theta.min() < -3.0 and theta.max() > 3.0 and abs(theta.mean()) < 0.15
    assert theta_dot.min() < -0.95 and theta_dot.max() > 0.95 and abs(theta_dot.mean()) < 0.05
    np.testing.assert_array_equal(state.time, 0)
    np.testing.assert_allclose(obs, np.stack([np.cos(theta), np.sin(theta), theta_dot], -1), **TOL)
    space = env.observation_space(params)
    assert bool(jax.vmap(space.contains)(obs).all())


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_speed", 0.0),
        ("max_torque", -1.0),
        ("dt", 0.0),
        ("g", -9.8),
        ("m", -1.0),
        ("l", 0.0),
        ("max_steps_in_episode", 0),
    ],
)
def test_bad_params_raise(field, value):
    with pytest.raises(ValueError, match=f"parameter {field}="):
        rljax.make(ENV_ID, **{field: value})


def test_zero_gravity_is_allowed():
    env, params = rljax.make(ENV_ID, g=0.0)
    assert isinstance(env, Pendulum) and params.g == 0.0 and env.name == ENV_ID


@pytest.mark.parametrize(
    "action", [jnp.float32(1.0), jnp.zeros((2,), jnp.float32), jnp.zeros((1, 1), jnp.float32)]
)
def test_wrong_action_shape_raises_at_trace_time(env_params, step, action):
    _, params = env_params
    with pytest.raises(TypeError, match="does not fit"):
        step(jax.random.key(0), _state(0.0, 0.0), action, params)


def test_integer_action_raises(env_params, step):
    _, params = env_params
    with pytest.raises(TypeError, match="does not fit"):
        step(jax.random.key(0), _state(0.0, 0.0), jnp.array([1], jnp.int32), params)


def test_spaces_match_gymnasium(env_params):
    env, params = env_params
    gym_env = _make_gym()
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert obs_space.shape == gym_env.observation_space.shape
    assert act_space.shape == gym_env.action_space.shape
    np.testing.assert_array_equal(obs_space.low, gym_env.observation_space.low)
    np.testing.assert_array_equal(obs_space.high, gym_env.observation_space.high)
    np.testing.assert_array_equal(act_space.low, gym_env.action_space.low)
    np.testing.assert_array_equal(act_space.high, gym_env.action_space.high)
