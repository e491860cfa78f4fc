"""MountainCar-v0 against Gymnasium: identical states in, identical transitions out.

Gymnasium keeps the state in float64, we in float32; every transition starts from the same
float32 state (Gymnasium continues from our copy of its state), so differences do not compound
and one step's float32 rounding is all that is left: positions are O(1), velocities O(0.01).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from classic_control_harness import padded_batch_step

import rljax
from rljax.envs.mountain_car import MountainCar, MountainCarState

gym = pytest.importorskip("gymnasium")
from gymnasium.envs.classic_control import mountain_car as gym_mountain_car  # noqa: E402

ENV_ID = "MountainCar-v0"
TOL = {"rtol": 1e-5, "atol": 1e-6}
PAD = 4096  # every batched call is padded to this size: one compilation for the module


@pytest.fixture(scope="module")
def env_params():
    return rljax.make(ENV_ID)


def _batch(states: np.ndarray, time=None) -> MountainCarState:
    """``states [N, 2]`` (position, velocity) float32 as a batched state."""
    time = np.zeros(len(states), np.int32) if time is None else np.asarray(time, np.int32)
    return MountainCarState(
        position=jnp.asarray(states[:, 0], jnp.float32),
        velocity=jnp.asarray(states[:, 1], jnp.float32),
        time=jnp.asarray(time),
    )


@pytest.fixture(scope="module")
def batch_step(env_params):
    """``(states [N, 2], actions [N], params, time [N] or None) -> host outputs [N]``, N <= PAD,
    through one compiled vmapped step."""
    return padded_batch_step(env_params[0], _batch, 2, PAD)


def _pump(rng, position, velocity, t):
    # Push along the velocity (energy pumping), sometimes at random: the goal in ~90-160 steps.
    if rng.random() < 0.1:
        return int(rng.integers(3))
    return int(np.sign(velocity) + 1)


def _wall(rng, position, velocity, t):
    # Brakes on the right slope so that the car swings back hard enough to hit the left wall.
    if position > -0.3 and velocity > 0 and t < 150:
        return 0
    return int(np.sign(velocity) + 1)


def _random(rng, position, velocity, t):
    return int(rng.integers(3))  # never reaches the goal in 200 steps


def _gym_episodes(policies, seed, **gym_kwargs):
    """Full Gymnasium episodes (TimeLimit included), one per policy: per step the float32 state
    stepped from, the elapsed steps, the action, and what Gymnasium returned."""
    gym_env = gym.make(ENV_ID, **gym_kwargs)
    rng = np.random.default_rng(seed)
    rows = []
    for episode, policy in enumerate(policies):
        gym_env.reset(seed=seed * 1000 + episode)
        done, elapsed = False, 0
        while not done:
            # Identical inputs: Gymnasium continues from our float32 copy of its state.
            state32 = np.asarray(gym_env.unwrapped.state, np.float64).astype(np.float32)
            gym_env.unwrapped.state = state32.astype(np.float64)
            action = policy(rng, *state32, elapsed)
            obs, reward, terminated, truncated, _ = gym_env.step(action)
            next_state = np.array(gym_env.unwrapped.state, np.float64)
            rows.append((state32, elapsed, action, obs, next_state, reward, terminated, truncated))
            done = terminated or truncated
            elapsed += 1
    return rows


def _check_episodes(batch_step, params, rows):
    """Our batched step on every recorded transition equals Gymnasium's; returns our outputs."""
    column = lambda i, dtype=None: np.array([row[i] for row in rows], dtype)  # noqa: E731
    out = batch_step(np.stack(column(0)), column(2), params, column(1))
    obs, state, reward, terminated, truncated, _ = out
    assert obs.dtype == np.float32 and reward.dtype == np.float32
    np.testing.assert_allclose(obs, np.stack(column(3)), **TOL)
    ours = np.stack([state.position, state.velocity], -1).astype(np.float64)
    np.testing.assert_allclose(ours, np.stack(column(4)), **TOL)
    np.testing.assert_array_equal(reward, column(5, np.float32))
    np.testing.assert_array_equal(terminated, column(6, bool))
    np.testing.assert_array_equal(truncated, column(7, bool))
    np.testing.assert_array_equal(state.time, column(1) + 1)
    return out


def test_episodes_match_gymnasium_transition_by_transition(env_params, batch_step):
    _, params = env_params
    rows = _gym_episodes([_random] * 2 + [_pump, _wall] * 8, seed=0)
    _, state, reward, terminated, truncated, _ = _check_episodes(batch_step, params, rows)
    # Both ways an episode ends, and the left wall's stop, all occur.
    assert truncated.sum() >= 4 and terminated.sum() >= 8
    assert np.sum((state.position == np.float32(-1.2)) & (state.velocity == 0)) >= 4
    np.testing.assert_array_equal(reward, -1.0)


def test_goal_velocity_override_matches_gymnasium(env_params, batch_step):
    # Same compiled step: goal_velocity is a pytree leaf, not a constant.
    _, params = rljax.make(ENV_ID, goal_velocity=0.02)
    rows = _gym_episodes([_pump] * 4, seed=1, goal_velocity=0.02)
    _, _, _, terminated, _, _ = _check_episodes(batch_step, params, rows)
    assert terminated.sum() >= 1


def test_whole_state_space_matches_gymnasium(env_params, batch_step):
    # Uniform over the whole state space: both speed bounds, both walls and the goal, which the
    # episodes above do not all reach (a pumped car tops out near 0.069).
    _, params = env_params
    rng = np.random.default_rng(2)
    n = 3000
    states = rng.uniform([-1.2, -0.07], [0.6, 0.07], (n, 2)).astype(np.float32)
    actions = rng.integers(0, 3, n).astype(np.int32)
    gym_env = gym_mountain_car.MountainCarEnv()
    gym_env.reset(seed=0)
    g_obs, g_state, g_terminated = [], [], []
    for state, action in zip(states, actions, strict=True):
        gym_env.state = state.astype(np.float64)
        obs, _, terminated, _, _ = gym_env.step(int(action))
        g_obs.append(obs)
        g_state.append(np.array(gym_env.state, np.float64))
        g_terminated.append(terminated)
    obs, state, _, terminated, truncated, _ = batch_step(states, actions, params)
    np.testing.assert_allclose(obs, np.stack(g_obs), **TOL)
    ours = np.stack([state.position, state.velocity], -1).astype(np.float64)
    np.testing.assert_allclose(ours, np.stack(g_state), **TOL)
    np.testing.assert_array_equal(terminated, g_terminated)
    assert not truncated.any()
    for hit in (
        state.velocity == np.float32(0.07),
        state.velocity == np.float32(-0.07),
        (state.position == np.float32(-1.2)) & (state.velocity == 0),
        state.position == np.float32(0.6),
        terminated,
    ):
        assert 5 < hit.sum() < n // 2


def test_vmap_equals_loop_bitwise(env_params, batch_step):
    env, params = env_params
    n = 32
    rng = np.random.default_rng(3)
    # Half start near the goal so that some steps terminate.
    states = rng.uniform([-1.2, -0.07], [0.6, 0.07], (n, 2)).astype(np.float32)
    states[: n // 2, 0] = rng.uniform(0.45, 0.6, n // 2)
    time = rng.integers(195, 200, n)
    actions = rng.integers(0, 3, n).astype(np.int32)
    batched = batch_step(states, actions, params, time)
    single = jax.jit(env.step)
    batch = _batch(states, time)
    for i in range(n):
        state_i = jax.tree.map(lambda x, i=i: x[i], batch)
        out = jax.device_get(single(jax.random.key(0), state_i, jnp.int32(actions[i]), params))
        for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(out), strict=True):
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
        ("force", -0.001),
        ("gravity", -0.0025),
        ("max_steps_in_episode", 0),
        ("min_position", 1.0),
        ("reset_low", -0.3),
    ],
)
def test_bad_params_raise(field, value):
    with pytest.raises(ValueError, match=f"parameter {field}="):
        rljax.make(ENV_ID, **{field: value})


def test_name_and_type():
    env, _ = rljax.make(ENV_ID)
    assert isinstance(env, MountainCar) and env.name == ENV_ID and not env.stochastic_step


@pytest.mark.parametrize(
    "action, match",
    [
        (jnp.float32(1.0), "Discrete\\(3\\)"),
        (jnp.array([0, 1], jnp.int32), "expected shape \\(\\)"),
    ],
)
def test_wrong_action_raises_at_trace_time(env_params, action, match):
    env, params = env_params
    state = jax.tree.map(lambda x: x[0], _batch(np.float32([[-0.5, 0.0]])))
    with pytest.raises(TypeError, match=match):
        jax.jit(env.step)(jax.random.key(0), state, action, params)


def test_spaces_match_gymnasium(env_params):
    env, params = env_params
    gym_env = gym_mountain_car.MountainCarEnv()
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert obs_space.shape == gym_env.observation_space.shape
    np.testing.assert_array_equal(obs_space.low, gym_env.observation_space.low)
    np.testing.assert_array_equal(obs_space.high, gym_env.observation_space.high)
    assert act_space.n == gym_env.action_space.n
