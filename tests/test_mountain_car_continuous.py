"""MountainCarContinuous-v0 against Gymnasium: identical states in, identical transitions out."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.mountain_car_continuous import (
    MountainCarContinuous,
    MountainCarContinuousState,
)

gym = pytest.importorskip("gymnasium")

ENV_ID = "MountainCarContinuous-v0"
TOL = {"rtol": 1e-5, "atol": 1e-6}  # positions are O(1), velocities O(0.01)


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


def _state(position, velocity, time=0) -> MountainCarContinuousState:
    return MountainCarContinuousState(
        position=jnp.float32(position), velocity=jnp.float32(velocity), time=jnp.int32(time)
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


def _random_policy(rng, position, velocity, time):
    # A fifth of the actions lie outside [-1, 1]: clipped force, unclipped control cost.
    return rng.uniform(-1.25, 1.25)


def _pump_policy(rng, position, velocity, time):
    # Push along the velocity (energy pumping) with noisy strength: reaches the goal in ~100 steps.
    if time < 5:
        return rng.uniform(-1.5, -0.5)
    return np.sign(velocity) * rng.uniform(0.3, 1.5)


def _wall_policy(rng, position, velocity, time):
    # Pumps on the left slope only, so the car gains enough energy to hit the left wall before
    # momentum carries it to the goal.
    if position > 0.0 and velocity > 0:
        return -1.0
    return _pump_policy(rng, position, velocity, time)


def _rollout_against_gym(step, params, gym_env, policies, seed):
    """Steps both in lockstep from Gymnasium's reset states, syncing Gymnasium to our state."""
    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)
    ours, theirs = [], []
    for episode, policy in enumerate(policies):
        gym_env.reset(seed=seed * 1000 + episode)
        state = _state(*gym_env.unwrapped.state)
        done = False
        t = 0
        while not done:
            position, velocity = jax.device_get((state.position, state.velocity))
            action = np.array([policy(rng, position, velocity, t)], np.float32)
            gym_env.unwrapped.state = np.array([position, velocity], dtype=np.float64)
            g_obs, g_rew, g_term, g_trunc, _ = _gym_step(gym_env, action)
            obs, state, rew, term, trunc, _ = step(key, state, jnp.asarray(action), params)
            row = jax.device_get((obs, (state.position, state.velocity), rew, term, trunc))
            ours.append(row)
            theirs.append((g_obs, gym_env.unwrapped.state, g_rew, g_term, g_trunc))
            done = g_term or g_trunc
            t += 1
    return ours, theirs


def _column(rows, i, dtype=None):
    return np.array([row[i] for row in rows], dtype=dtype)


def _assert_same(ours, theirs):
    assert _column(ours, 0).dtype == np.float32
    assert _column(ours, 2).dtype == np.float32
    np.testing.assert_allclose(_column(ours, 0), _column(theirs, 0, np.float32), **TOL)
    np.testing.assert_allclose(_column(ours, 1, np.float64), _column(theirs, 1, np.float64), **TOL)
    np.testing.assert_allclose(_column(ours, 2, np.float64), _column(theirs, 2, np.float64), **TOL)
    np.testing.assert_array_equal(_column(ours, 3, bool), _column(theirs, 3, bool))
    np.testing.assert_array_equal(_column(ours, 4, bool), _column(theirs, 4, bool))


def test_transitions_match_gymnasium(env_params, step):
    _, params = env_params
    policies = [_random_policy] + [_pump_policy, _wall_policy] * 10
    ours, theirs = _rollout_against_gym(step, params, _make_gym(), policies, seed=0)
    _assert_same(ours, theirs)
    terminated, truncated = _column(ours, 3, bool), _column(ours, 4, bool)
    position, velocity = _column(ours, 1).T
    # The run covers every branch: time limit, goal, both walls' clipping and speed clipping.
    assert len(ours) > 2500
    assert truncated.sum() == 1 and terminated.sum() == 20
    assert np.sum((position == np.float32(-1.2)) & (velocity == 0)) > 0
    assert np.sum(np.abs(velocity) == np.float32(0.07)) > 0


def test_goal_velocity_override_matches_gymnasium(env_params, step):
    # Same compiled step: goal_velocity is a pytree leaf, not a constant.
    _, params = rljax.make(ENV_ID, goal_velocity=0.02)
    gym_env = _make_gym(goal_velocity=0.02)
    ours, theirs = _rollout_against_gym(step, params, gym_env, [_pump_policy] * 3, seed=1)
    _assert_same(ours, theirs)


def test_right_wall_keeps_velocity(env_params, step):
    # Gymnasium clips the position at max_position but, unlike the left wall, keeps the velocity.
    _, params = env_params
    obs, state, _, terminated, *_ = step(
        jax.random.key(0), _state(0.59, 0.06), jnp.float32([1.0]), params
    )
    assert float(state.position) == np.float32(0.6) and float(state.velocity) > 0.05
    assert bool(terminated)


@pytest.mark.parametrize("force", [-1e3, -3.0, -1.0, 1.0, 1.5, 1e3])
def test_out_of_range_force_is_clipped_like_gymnasium(env_params, step, force):
    _, params = env_params
    gym_env = _make_gym()
    gym_env.reset(seed=0)
    gym_env.unwrapped.state = np.array([-0.3, 0.01])
    action = np.array([force], np.float32)
    g_obs, g_rew, *_ = _gym_step(gym_env, action)
    state = _state(-0.3, 0.01)
    obs, _, rew, *_ = step(jax.random.key(0), state, jnp.asarray(action), params)
    np.testing.assert_allclose(obs, g_obs, **TOL)
    np.testing.assert_allclose(rew, g_rew, rtol=1e-6)
    # The force is clipped, so the motion equals the bound's; the cost is on the raw action.
    bound = np.float32(np.sign(force))
    obs_b, *_ = step(jax.random.key(0), state, jnp.float32([bound]), params)
    np.testing.assert_array_equal(obs, obs_b)
    np.testing.assert_allclose(rew, -0.1 * force**2, rtol=1e-6)


def test_vmap_equals_loop_bitwise(env_params, step, batch_step):
    _, params = env_params
    n = 64
    rng = np.random.default_rng(2)
    keys = jax.random.split(jax.random.key(2), n)
    states = MountainCarContinuousState(
        # Half start near the goal so that some steps terminate.
        position=jnp.asarray(rng.uniform([-1.2, 0.4], 0.6, (n // 2, 2)).T.ravel(), jnp.float32),
        velocity=jnp.asarray(rng.uniform(-0.07, 0.07, n), jnp.float32),
        time=jnp.asarray(rng.integers(990, 999, n), jnp.int32),
    )
    actions = jnp.asarray(rng.uniform(-1.5, 1.5, (n, 1)), jnp.float32)
    batched = jax.device_get(batch_step(keys, states, actions, params))
    for i in range(n):
        state_i = jax.tree.map(lambda x, i=i: x[i], states)
        single = jax.device_get(step(keys[i], state_i, actions[i], params))
        for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_array_equal(b[i], s)
    for flag in (batched[3], batched[4]):  # goal and time limit each hit by some, not all
        assert flag.any() and not flag.all()


def test_reset_distribution(env_params):
    env, params = env_params
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(3), 4000), params
    )
    position = np.asarray(state.position)
    assert obs.shape == (4000, 2) and obs.dtype == jnp.float32
    assert state.position.dtype == jnp.float32 and state.time.dtype == jnp.int32
    assert np.all(position >= np.float32(-0.6)) and np.all(position <= np.float32(-0.4))
    assert position.min() < -0.595 and position.max() > -0.405 and abs(position.mean() + 0.5) < 0.01
    np.testing.assert_array_equal(state.velocity, 0.0)
    np.testing.assert_array_equal(state.time, 0)
    np.testing.assert_array_equal(obs, np.stack([position, np.zeros_like(position)], -1))


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_speed", 0.0),
        ("power", -0.001),
        ("gravity", -0.0025),
        ("action_cost", -0.1),
        ("max_steps_in_episode", 0),
        ("min_action", 2.0),
        ("min_position", 1.0),
        ("reset_low", -0.3),
    ],
)
def test_bad_params_raise(field, value):
    with pytest.raises(ValueError, match=f"parameter {field}="):
        rljax.make(ENV_ID, **{field: value})


def test_name_and_type():
    env, _ = rljax.make(ENV_ID)
    assert isinstance(env, MountainCarContinuous) and env.name == ENV_ID


@pytest.mark.parametrize(
    "action", [jnp.float32(1.0), jnp.zeros((2,), jnp.float32), jnp.zeros((1, 1), jnp.float32)]
)
def test_wrong_action_shape_raises_at_trace_time(env_params, step, action):
    _, params = env_params
    with pytest.raises(TypeError, match="does not fit"):
        step(jax.random.key(0), _state(-0.5, 0.0), action, params)


def test_integer_action_raises(env_params, step):
    _, params = env_params
    with pytest.raises(TypeError, match="does not fit"):
        step(jax.random.key(0), _state(-0.5, 0.0), jnp.array([1], jnp.int32), params)


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
