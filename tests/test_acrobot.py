"""Acrobot-v1 against Gymnasium: identical states in, identical transitions out.

Gymnasium integrates in float64, we in float32, so two checks split the question. With float64
arithmetic (``jax.enable_x64``) our step must equal Gymnasium's to float32 output rounding: that
pins the equations, RK4, wrap, bound, reward and termination term for term. In float32, the
difference is whatever one RK4 step over 0.2 s makes of float32 rounding: at the speeds an
episode reaches it is below 1e-5, but near the velocity bounds the map is sensitive enough that
rounding the *input* state to float32 alone moves Gymnasium's own output velocity by up to ~2e-3
(measured on the whole-state-space sample below), so that sample gets a tolerance of that size.
Trajectories are stepped in lockstep with Gymnasium continuing from our float32 copy of its state,
so differences do not compound.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from classic_control_harness import padded_batch_step

import rljax
from rljax.envs.acrobot import Acrobot, AcrobotState, wrap

gym = pytest.importorskip("gymnasium")
from gymnasium.envs.classic_control import acrobot as gym_acrobot  # noqa: E402

ENV_ID = "Acrobot-v1"
BOUNDS = np.array([math.pi, math.pi, 4 * math.pi, 9 * math.pi])  # the state space's half-widths


@pytest.fixture(scope="module")
def env_params():
    return rljax.make(ENV_ID)


PAD = 4096  # every batched float32 call is padded to this size: one compilation for the module


@pytest.fixture(scope="module")
def batch_step(env_params):
    """``(states [N, 4], actions [N], params, time [N] or None) -> host outputs [N]``, N <= PAD,
    through one compiled vmapped step."""
    return padded_batch_step(env_params[0], _batch, 4, PAD)


def _batch(states: np.ndarray, time=None) -> AcrobotState:
    """``states [N, 4]`` (theta1, theta2, dtheta1, dtheta2) as a batched state, in their dtype."""
    n = len(states)
    time = np.zeros(n, np.int32) if time is None else np.asarray(time, np.int32)
    columns = [jnp.asarray(states[:, i]) for i in range(4)]
    return AcrobotState(*columns, time=jnp.asarray(time))


def _gym_steps(states: np.ndarray, actions: np.ndarray, gym_env=None):
    """Gymnasium's ``(obs [N, 6], next state [N, 4], reward [N], terminated [N])`` from each of
    ``states [N, 4]`` (float64) under ``actions [N]``, on the bare ``AcrobotEnv``."""
    gym_env = gym_env or gym_acrobot.AcrobotEnv()
    gym_env.reset(seed=0)
    rows = []
    for state, action in zip(states, actions, strict=True):
        gym_env.state = np.array(state, np.float64)
        obs, reward, terminated, _, _ = gym_env.step(int(action))
        rows.append((obs, np.array(gym_env.state), reward, terminated))
    return tuple(np.array([row[i] for row in rows]) for i in range(4))


def _our_state(state: AcrobotState) -> np.ndarray:
    return np.stack([state.theta1, state.theta2, state.dtheta1, state.dtheta2], -1)


def _angle_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Wrapped angles on either side of +-pi are the same angle.
    return np.abs((a - b + np.pi) % (2 * np.pi) - np.pi)


@pytest.fixture(scope="module")
def whole_space_sample():
    """2000 float32 states uniform over the whole state space, random actions, Gymnasium's
    transitions: every branch of wrap and bound, and terminations, in one batch."""
    rng = np.random.default_rng(1)
    states = rng.uniform(-BOUNDS, BOUNDS, (2000, 4)).astype(np.float32)
    actions = rng.integers(0, 3, 2000).astype(np.int32)
    return states, actions, _gym_steps(states.astype(np.float64), actions)


def test_equations_match_gymnasium_in_float64(env_params, whole_space_sample):
    # In float64 the only difference left is rounding our outputs to float32: one ulp or so.
    env, params = env_params
    states, actions, (g_obs, g_state, g_reward, g_terminated) = whole_space_sample
    with jax.enable_x64(True):
        step = jax.jit(jax.vmap(env.step, in_axes=(None, 0, 0, None)))
        obs, state, reward, terminated, *_ = step(
            jax.random.key(0), _batch(states.astype(np.float64)), jnp.asarray(actions), params
        )
    ours = _our_state(state)
    assert ours.dtype == np.float32 and obs.dtype == np.float32
    np.testing.assert_allclose(_angle_error(ours[:, :2], g_state[:, :2]), 0, atol=1e-6)
    np.testing.assert_allclose(ours[:, 2:], g_state[:, 2:], rtol=2e-7, atol=1e-7)
    np.testing.assert_allclose(obs, g_obs, rtol=2e-7, atol=5e-7)
    np.testing.assert_array_equal(reward, g_reward.astype(np.float32))
    np.testing.assert_array_equal(terminated, g_terminated)


def test_whole_state_space_matches_gymnasium_in_float32(env_params, batch_step, whole_space_sample):
    _, params = env_params
    states, actions, (g_obs, g_state, g_reward, g_terminated) = whole_space_sample
    obs, state, reward, terminated, truncated, _ = batch_step(states, actions, params)
    ours = _our_state(state)
    assert np.all(np.abs(ours[:, :2]) <= np.float32(np.pi))  # wrapped
    # Most transitions agree to float32 precision; the tail is the sensitivity the module
    # docstring measures (velocities near the bounds, where the one-step map is steep).
    velocity_error = np.abs(ours[:, 2:] - g_state[:, 2:])
    assert np.median(velocity_error) < 1e-6
    np.testing.assert_allclose(velocity_error, 0, atol=5e-3)
    np.testing.assert_allclose(_angle_error(ours[:, :2], g_state[:, :2]), 0, atol=5e-5)
    np.testing.assert_allclose(obs[:, :4], g_obs[:, :4], atol=5e-5)
    np.testing.assert_allclose(obs[:, 4:], g_obs[:, 4:], atol=5e-3)
    np.testing.assert_array_equal(reward, g_reward.astype(np.float32))
    np.testing.assert_array_equal(terminated, g_terminated)
    assert not truncated.any()
    # The sample exercises both velocity bounds and the goal, on some transitions but not all.
    for hit in (np.abs(g_state[:, 2]) == 4 * np.pi, np.abs(g_state[:, 3]) == 9 * np.pi):
        assert 50 < hit.sum() < 1500
    assert 50 < terminated.sum() < 1500


def _pump(rng, s):
    # Torque along the second joint's velocity pumps energy in: the goal in ~100 steps.
    if rng.random() < 0.15:
        return int(rng.integers(3))
    return int(np.sign(s[3]) + 1)


def _random(rng, s):
    return int(rng.integers(3))  # almost never reaches the goal in 500 steps


@pytest.fixture(scope="module")
def gymnasium_episodes():
    """Full Gymnasium episodes (TimeLimit included): per step the float32 state stepped from,
    the elapsed steps, the action, and what Gymnasium returned."""
    gym_env = gym.make(ENV_ID)
    rng = np.random.default_rng(0)
    rows = []
    for episode, policy in enumerate([_random, _random] + [_pump] * 20):
        gym_env.reset(seed=episode)
        done, elapsed = False, 0
        while not done:
            # Identical inputs: Gymnasium continues from our float32 copy of its state.
            state32 = np.asarray(gym_env.unwrapped.state, np.float64).astype(np.float32)
            gym_env.unwrapped.state = state32.astype(np.float64)
            action = policy(rng, state32)
            obs, reward, terminated, truncated, _ = gym_env.step(action)
            next_state = np.array(gym_env.unwrapped.state)
            rows.append((state32, elapsed, action, obs, next_state, reward, terminated, truncated))
            done = terminated or truncated
            elapsed += 1
    return rows


def test_episodes_match_gymnasium_transition_by_transition(
    env_params, batch_step, gymnasium_episodes
):
    _, params = env_params
    rows = gymnasium_episodes
    column = lambda i, dtype=None: np.array([row[i] for row in rows], dtype)  # noqa: E731
    obs, state, reward, terminated, truncated, _ = batch_step(
        np.stack(column(0)), column(2), params, column(1)
    )
    g_state = np.stack(column(4))
    np.testing.assert_allclose(obs, np.stack(column(3)), rtol=1e-5, atol=1e-5)
    ours = _our_state(state)
    np.testing.assert_allclose(_angle_error(ours[:, :2], g_state[:, :2]), 0, atol=1e-5)
    np.testing.assert_allclose(ours[:, 2:], g_state[:, 2:], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(reward, column(5, np.float32))
    np.testing.assert_array_equal(terminated, column(6, bool))
    np.testing.assert_array_equal(truncated, column(7, bool))
    np.testing.assert_array_equal(state.time, column(1) + 1)
    # Both ways an episode ends: the two random episodes hit the time limit, the pumped ones
    # the goal (reward 0 on exactly those steps).
    assert truncated.sum() == 2 and terminated.sum() == 20
    np.testing.assert_array_equal(reward == 0, terminated)


def test_link_and_torque_overrides_match_gymnasium(env_params, batch_step):
    # Same compiled step (parameters are pytree leaves); Gymnasium's class constants overridden.
    _, params = rljax.make(ENV_ID, link_mass_2=2.0, link_com_pos_1=0.3, max_torque=2.0)
    gym_env = gym_acrobot.AcrobotEnv()
    gym_env.LINK_MASS_2, gym_env.LINK_COM_POS_1 = 2.0, 0.3
    gym_env.AVAIL_TORQUE = [-2.0, 0.0, 2.0]
    rng = np.random.default_rng(4)
    states = rng.uniform(-BOUNDS / 4, BOUNDS / 4, (200, 4)).astype(np.float32)
    actions = rng.integers(0, 3, 200).astype(np.int32)
    g_obs, g_state, _, g_terminated = _gym_steps(states.astype(np.float64), actions, gym_env)
    obs, _, _, terminated, *_ = batch_step(states, actions, params)
    np.testing.assert_allclose(obs, g_obs, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(terminated, g_terminated)
    default_obs, *_ = batch_step(states, actions, env_params[1])
    assert np.abs(np.asarray(default_obs) - np.asarray(obs)).max() > 0.1


def test_wrap_matches_gymnasium():
    xs = np.linspace(-4 * np.pi, 4 * np.pi, 401, dtype=np.float32)
    xs = np.concatenate([xs, np.float32([-np.pi, np.pi, 0.0])])
    ours = np.asarray(jax.jit(wrap, static_argnums=(1, 2))(jnp.asarray(xs), -np.pi, np.pi))
    theirs = np.array([gym_acrobot.wrap(float(x), -np.pi, np.pi) for x in xs])
    assert np.all(ours >= np.float32(-np.pi)) and np.all(ours <= np.float32(np.pi))
    # Equal as angles; at exactly +-pi float32 and float64 may land on opposite ends.
    np.testing.assert_allclose(_angle_error(ours, theirs), 0, atol=2e-6)
    inside = np.abs(np.abs(theirs) - np.pi) > 1e-5
    np.testing.assert_allclose(ours[inside], theirs[inside], atol=2e-6)


def test_goal_height_uses_both_links(env_params, batch_step):
    env, params = env_params
    tip_height = jax.jit(env.tip_height)
    upright = AcrobotState(*map(jnp.float32, (np.pi, 0.0, 0.0, 0.0)), time=jnp.int32(0))
    np.testing.assert_allclose(tip_height(upright, params), 2.0, rtol=1e-6)
    _, short = rljax.make(ENV_ID, link_length_2=0.5, goal_height=1.6)
    np.testing.assert_allclose(tip_height(upright, short), 1.5, rtol=1e-6)
    # Lying flat to one side: the tip is level with the pivot, below the default goal.
    flat = upright.replace(theta1=jnp.float32(np.pi / 2))
    assert abs(float(tip_height(flat, params))) < 1e-6
    # Held upright (nothing moves much in 0.2 s): the goal with the defaults, not with the short
    # second link below the raised target.
    at_rest = np.float32([[np.pi, 0.0, 0.0, 0.0]])
    for p, goal in ((params, True), (short, False)):
        _, _, reward, terminated, *_ = batch_step(at_rest, np.int32([1]), p)
        assert bool(terminated[0]) is goal and float(reward[0]) == (0.0 if goal else -1.0)


def test_vmap_equals_loop(env_params, batch_step):
    # Not bitwise, unlike the simpler environments: XLA:CPU contracts a * b + c * d into a fused
    # multiply-add and may pick the other product in the unbatched program than in the batched
    # one (a last-bit difference in about a quarter of the rows here, up to ~6e-6 after one
    # step). Flags, rewards and times must agree exactly; a row reading another row's data would
    # be off by O(1).
    env, params = env_params
    n = 32
    rng = np.random.default_rng(2)
    states = rng.uniform(-BOUNDS, BOUNDS, (n, 4)).astype(np.float32)
    states[: n // 2, :2] = rng.uniform(2.8, 3.4, (n // 2, 2)) * [1, 0]  # near upright: goal
    time = rng.integers(495, 500, n)
    actions = rng.integers(0, 3, n).astype(np.int32)
    obs, state, reward, terminated, truncated, _ = batch_step(states, actions, params, time)
    single = jax.jit(env.step)
    batch = _batch(states, time)
    rows = []
    for i in range(n):
        state_i = jax.tree.map(lambda x, i=i: x[i], batch)
        rows.append(jax.device_get(single(jax.random.key(0), state_i, actions[i], params)))
    loop = jax.tree.map(lambda *xs: np.stack(xs), *rows)
    np.testing.assert_allclose(obs, loop[0], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(_our_state(state), _our_state(loop[1]), rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(state.time, loop[1].time)
    for ours, theirs in zip((reward, terminated, truncated), loop[2:5], strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for flag in (terminated, truncated):  # goal and time limit each hit by some, not all
        assert flag.any() and not flag.all()


def test_reset_distribution(env_params):
    env, params = env_params
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(3), 4000), params
    )
    s = _our_state(jax.device_get(state))
    assert obs.shape == (4000, 6) and obs.dtype == jnp.float32 and s.dtype == np.float32
    assert np.all(np.abs(s) <= np.float32(0.1))
    assert np.all(s.min(0) < -0.099) and np.all(s.max(0) > 0.099)
    assert np.all(np.abs(s.mean(0)) < 0.005)
    assert abs(np.corrcoef(s[:, 0], s[:, 1])[0, 1]) < 0.1  # independent dimensions
    np.testing.assert_array_equal(state.time, 0)
    expected = np.stack(
        [np.cos(s[:, 0]), np.sin(s[:, 0]), np.cos(s[:, 1]), np.sin(s[:, 1]), s[:, 2], s[:, 3]], -1
    )
    np.testing.assert_allclose(obs, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "field, value",
    [
        ("dt", 0.0),
        ("link_mass_2", -1.0),
        ("link_moi", 0.0),
        ("max_vel_2", 0.0),
        ("gravity", -9.8),
        ("max_torque", -1.0),
        ("max_steps_in_episode", 0),
        ("reset_low", 0.2),
    ],
)
def test_bad_params_raise(field, value):
    with pytest.raises(ValueError, match=f"parameter {field}="):
        rljax.make(ENV_ID, **{field: value})


def test_name_and_type():
    env, _ = rljax.make(ENV_ID)
    assert isinstance(env, Acrobot) and env.name == ENV_ID and not env.stochastic_step


@pytest.mark.parametrize(
    "action, match",
    [
        (jnp.float32(1.0), "Discrete\\(3\\)"),
        (jnp.array([0, 1], jnp.int32), "expected shape \\(\\)"),
    ],
)
def test_wrong_action_raises_at_trace_time(env_params, action, match):
    env, params = env_params
    state = _batch(np.zeros((1, 4), np.float32))
    state = jax.tree.map(lambda x: x[0], state)
    with pytest.raises(TypeError, match=match):
        jax.jit(env.step)(jax.random.key(0), state, action, params)


def test_spaces_match_gymnasium(env_params):
    env, params = env_params
    gym_env = gym_acrobot.AcrobotEnv()
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert obs_space.shape == gym_env.observation_space.shape
    np.testing.assert_array_equal(obs_space.low, gym_env.observation_space.low)
    np.testing.assert_array_equal(obs_space.high, gym_env.observation_space.high)
    assert act_space.n == gym_env.action_space.n
