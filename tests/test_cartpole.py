"""CartPole-v1 against Gymnasium, transition by transition, from identical states."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.cartpole import CartPoleState

gym = pytest.importorskip("gymnasium")


def _controller(obs: np.ndarray) -> int:
    # A simple balancing rule that survives the 500-step limit most of the time.
    return int(obs[2] + 0.5 * obs[3] > 0)


@pytest.fixture(scope="module")
def env_and_step():
    env, params = rljax.make("CartPole-v1")
    step = jax.jit(jax.vmap(env.step, in_axes=(None, 0, 0, None)))
    return env, params, step


@pytest.fixture(scope="module")
def gymnasium_transitions():
    """~4000 Gymnasium transitions: state, elapsed steps, action, and what Gymnasium returned."""
    gym_env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    rows = []
    for episode in range(30):
        obs, _ = gym_env.reset(seed=episode)
        mostly_balance = episode % 3 != 0  # some long episodes reach the time limit
        done = False
        while not done:
            state = np.array(gym_env.unwrapped.state, dtype=np.float64)
            # Identical inputs: Gymnasium continues from our float32 copy of its state.
            state32 = state.astype(np.float32)
            gym_env.unwrapped.state = state32.astype(np.float64)
            elapsed = _elapsed(gym_env)
            if mostly_balance and rng.random() < 0.9:
                action = _controller(obs)
            else:
                action = int(rng.integers(2))
            obs, reward, terminated, truncated, _ = gym_env.step(action)
            rows.append((state32, elapsed, action, obs, reward, terminated, truncated))
            done = terminated or truncated
    return rows


def _elapsed(gym_env) -> int:
    wrapper = gym_env
    while not isinstance(wrapper, gym.wrappers.TimeLimit):
        wrapper = wrapper.env
    return wrapper._elapsed_steps


def test_matches_gymnasium_transition_by_transition(env_and_step, gymnasium_transitions):
    env, params, step = env_and_step
    rows = gymnasium_transitions
    assert len(rows) > 3000
    states = np.stack([r[0] for r in rows])
    batch = CartPoleState(
        x=jnp.asarray(states[:, 0]),
        x_dot=jnp.asarray(states[:, 1]),
        theta=jnp.asarray(states[:, 2]),
        theta_dot=jnp.asarray(states[:, 3]),
        time=jnp.asarray([r[1] for r in rows], jnp.int32),
    )
    actions = jnp.asarray([r[2] for r in rows], jnp.int32)
    obs, _, reward, terminated, truncated, _ = step(jax.random.key(0), batch, actions, params)
    np.testing.assert_allclose(obs, np.stack([r[3] for r in rows]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(reward, np.array([r[4] for r in rows], np.float32))
    np.testing.assert_array_equal(terminated, np.array([r[5] for r in rows]))
    np.testing.assert_array_equal(truncated, np.array([r[6] for r in rows]))
    # The sample covers both ways an episode ends.
    assert np.sum(terminated) >= 5 and np.sum(truncated) >= 5


def test_reset_in_bounds_and_observation_is_state(env_and_step):
    env, params, _ = env_and_step
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(1), 512), params
    )
    assert obs.shape == (512, 4) and obs.dtype == jnp.float32
    assert np.all(np.abs(obs) <= 0.05)
    np.testing.assert_array_equal(obs[:, 2], state.theta)
    assert np.all(state.time == 0)
    # Independent draws: not all the same, roughly uniform.
    assert np.std(np.asarray(obs)) > 0.02


def test_vmap_and_loop_agree_bitwise(env_and_step):
    env, params, step = env_and_step
    keys = jax.random.split(jax.random.key(2), 16)
    _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    actions = jnp.arange(16, dtype=jnp.int32) % 2
    batched = step(jax.random.key(3), states, actions, params)
    single = jax.jit(env.step)
    for i in range(16):
        state_i = jax.tree.map(lambda x, i=i: x[i], states)
        out = single(jax.random.key(3), state_i, actions[i], params)
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(batched), strict=True):
            np.testing.assert_array_equal(a, b[i])


def test_parameters_change_the_dynamics_and_vmap_over_params(env_and_step):
    env, params, _ = env_and_step
    _, state = env.reset(jax.random.key(0), params)
    gravities = jnp.array([9.8, 20.0])
    batched_params = jax.tree.map(lambda x: jnp.broadcast_to(x, (2,)), params)
    batched_params = batched_params.replace(gravity=gravities)
    step = jax.vmap(env.step, in_axes=(None, None, None, 0))
    obs, *_ = step(jax.random.key(0), state, jnp.int32(1), batched_params)
    assert not np.allclose(obs[0], obs[1])


def test_bad_input_is_reported_clearly(env_and_step):
    env, params, _ = env_and_step
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(TypeError, match="Discrete\\(2\\)"):
        env.step(jax.random.key(0), state, jnp.float32(1.0), params)
    with pytest.raises(TypeError, match="expected shape \\(\\)"):
        env.step(jax.random.key(0), state, jnp.array([0, 1]), params)
    with pytest.raises(ValueError, match="masspole"):
        rljax.make("CartPole-v1", masspole=-0.1)
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        rljax.make("CartPole-v1", max_steps_in_episode=0)
