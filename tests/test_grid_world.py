"""GridWorld-v0: hand-computed paths, bumps, the time limit, vmap and parameter validation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.grid_world import GridWorld, GridWorldState, pillar_walls

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def env_params():
    return rljax.make("GridWorld-v0")


@pytest.fixture(scope="module")
def step(env_params):
    env, _ = env_params
    return jax.jit(env.step)


@pytest.fixture(scope="module")
def rollout(env_params):
    """``rollout(params, actions [T])`` -> ``(obs [T, 2], reward, terminated, truncated [T])``."""
    env, _ = env_params

    def run(params, actions):
        _, state = env.reset(KEY, params)

        def body(state, action):
            obs, state, reward, terminated, truncated, _ = env.step(KEY, state, action, params)
            return state, (obs, reward, terminated, truncated)

        return jax.lax.scan(body, state, actions)[1]

    return jax.jit(run)


def play(env, step, params, actions):
    """Steps ``actions`` one by one from reset; returns lists of (obs, reward, terminated, ...)."""
    _, state = env.reset(KEY, params)
    out = []
    for action in actions:
        obs, state, reward, terminated, truncated, _ = step(KEY, state, jnp.int32(action), params)
        out.append((np.asarray(obs).tolist(), float(reward), bool(terminated), bool(truncated)))
    return out


def test_default_layout(env_params):
    env, params = env_params
    expected = np.zeros((5, 5), bool)
    expected[[1, 1, 3, 3], [1, 3, 1, 3]] = True
    np.testing.assert_array_equal(params.walls, expected)
    assert params.walls.dtype == jnp.bool_
    assert params.start.tolist() == [0, 0] and params.goal.tolist() == [4, 4]
    assert params.start.dtype == jnp.int32 and params.goal.dtype == jnp.int32
    assert env.action_space(params).n == 4
    assert env.observation_space(params).shape == (2,)
    assert env.stochastic_step is False


def test_reset_is_deterministic(env_params):
    env, params = env_params
    obs_a, state_a = env.reset(jax.random.key(1), params)
    obs_b, state_b = env.reset(jax.random.key(2), params)
    assert obs_a.dtype == jnp.float32 and obs_a.tolist() == [0.0, 0.0] == obs_b.tolist()
    assert state_a.pos.tolist() == state_b.pos.tolist() == [0, 0]
    assert int(state_a.time) == 0


def test_shortest_path_reaches_goal(env_params, step):
    env, params = env_params
    actions = [RIGHT] * 4 + [DOWN] * 4
    out = play(env, step, params, actions)
    cells = [obs for obs, *_ in out]
    assert cells == [[0, 1], [0, 2], [0, 3], [0, 4], [1, 4], [2, 4], [3, 4], [4, 4]]
    rewards = [r for _, r, _, _ in out]
    assert rewards[:-1] == [np.float32(-0.01)] * 7
    assert rewards[-1] == 1.0  # exactly +1 on the goal step
    assert [t for *_, t, _ in out] == [False] * 7 + [True]
    assert not any(tr for *_, tr in out)
    assert sum(rewards) == pytest.approx(1 - 0.01 * (len(actions) - 1), abs=1e-6)


def test_moves_follow_documented_directions(env_params, step):
    env, params = env_params
    # From (2, 2), an open cell in the middle: up, right, down, left.
    state = GridWorldState(pos=jnp.array([2, 2], jnp.int32), time=jnp.int32(0))
    for action, cell in [(UP, [1, 2]), (RIGHT, [2, 3]), (DOWN, [3, 2]), (LEFT, [2, 1])]:
        obs, new_state, *_ = step(KEY, state, jnp.int32(action), params)
        assert obs.tolist() == cell and new_state.pos.tolist() == cell
        assert int(new_state.time) == 1


def test_wall_and_edge_bumps_stay_put(env_params, step):
    env, params = env_params
    out = play(env, step, params, [UP, LEFT, RIGHT, DOWN, RIGHT, RIGHT, RIGHT, UP, RIGHT])
    cells = [obs for obs, *_ in out]
    # Up and left at (0, 0) hit the edge; down from (0, 1) hits the wall at (1, 1); up and right
    # at (0, 4) hit the edge.
    assert cells == [[0, 0], [0, 0], [0, 1], [0, 1], [0, 2], [0, 3], [0, 4], [0, 4], [0, 4]]
    assert all(r == np.float32(-0.01) for _, r, _, _ in out)
    assert not any(t or tr for *_, t, tr in out)


def test_truncation_at_100_steps(env_params, rollout):
    _, params = env_params
    obs, reward, terminated, truncated = rollout(params, jnp.full((100,), UP, jnp.int32))
    assert truncated.tolist() == [False] * 99 + [True]
    assert not terminated.any()
    assert np.all(np.asarray(obs) == 0.0)
    assert float(reward.sum()) == pytest.approx(-1.0, abs=1e-5)


def test_step_limit_is_a_param(env_params, rollout):
    env, params = env_params
    _, _, _, truncated = rollout(params.replace(max_steps_in_episode=7), jnp.zeros(100, jnp.int32))
    assert truncated.tolist().index(True) == 6


def test_larger_grid_adapts_defaults(step):
    env, params = rljax.make("GridWorld-v0", rows=7, cols=7)
    assert env == GridWorld(rows=7, cols=7) and hash(env) == hash(GridWorld(7, 7))
    assert params.goal.tolist() == [6, 6]
    assert params.walls.shape == (7, 7) and int(params.walls.sum()) == 9
    np.testing.assert_array_equal(params.walls, pillar_walls(7, 7))
    out = play(env, jax.jit(env.step), params, [RIGHT] * 6 + [DOWN] * 6)
    assert out[-1][0] == [6, 6] and out[-1][2]
    assert sum(r for _, r, _, _ in out) == pytest.approx(1 - 0.01 * 11, abs=1e-6)
    assert env.observation_space(params).high.tolist() == [6.0, 6.0]


def test_even_grid_keeps_goal_open():
    env, params = rljax.make("GridWorld-v0", rows=4, cols=6)
    assert params.goal.tolist() == [3, 5]
    assert not bool(params.walls[3, 5]) and bool(params.walls[3, 3])


DETOUR = [
    [0, 0, 1, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0],
]


@pytest.mark.parametrize("walls", [DETOUR, np.array(DETOUR, bool)], ids=["list", "numpy"])
def test_walls_override(walls, env_params, step):
    env, params = rljax.make("GridWorld-v0", walls=walls, goal=(0, 4))
    assert isinstance(params.walls, jax.Array) and params.walls.dtype == jnp.bool_
    assert params.walls.shape == (5, 5) and int(params.walls.sum()) == 4
    assert params.goal.dtype == jnp.int32
    assert jax.tree.structure(params) == jax.tree.structure(env_params[1])
    # The wall in column 2 forces a detour along the bottom row: 12 moves.
    actions = [DOWN] * 4 + [RIGHT] * 4 + [UP] * 4
    out = play(env, step, params, actions)
    assert out[-1][0] == [0, 4] and out[-1][2]
    assert sum(r for _, r, _, _ in out) == pytest.approx(1 - 0.01 * 11, abs=1e-6)
    # Straight right bumps into the wall at (0, 2).
    assert play(env, step, params, [RIGHT, RIGHT])[-1][0] == [0, 1]


def test_vmapped_equals_looped_bitwise(env_params, step):
    env, params = env_params
    num_envs, num_steps = 6, 30
    actions = jax.random.randint(jax.random.key(3), (num_steps, num_envs), 0, 4, jnp.int32)
    vstep = jax.jit(jax.vmap(env.step, in_axes=(None, 0, 0, None)))
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(KEY, num_envs), params)
    batched = []
    for t in range(num_steps):
        obs, state, reward, terminated, truncated, _ = vstep(KEY, state, actions[t], params)
        batched.append((obs, reward, terminated, truncated))
    for i in range(num_envs):
        _, s = env.reset(KEY, params)
        for t in range(num_steps):
            obs, s, reward, terminated, truncated, _ = step(KEY, s, actions[t, i], params)
            for a, b in zip((obs, reward, terminated, truncated), batched[t], strict=True):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[i])


def test_vmap_over_goals(env_params):
    env, params = env_params
    goals = jnp.array([[4, 4], [0, 4], [0, 2]], jnp.int32)
    batch = jax.vmap(lambda g: params.replace(goal=g))(goals)
    assert batch.walls.shape == (3, 5, 5)
    vstep = jax.jit(jax.vmap(env.step, in_axes=(None, 0, None, 0)))
    _, state = jax.vmap(env.reset, in_axes=(None, 0))(KEY, batch)
    done_at = [None] * 3
    for t in range(4):
        _, state, reward, terminated, _, _ = vstep(KEY, state, jnp.int32(RIGHT), batch)
        for i in range(3):
            if terminated[i] and done_at[i] is None:
                done_at[i] = t + 1
                assert float(reward[i]) == 1.0
    assert done_at == [None, 4, 2]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"walls": np.zeros((4, 4), bool)}, "walls"),
        ({"walls": np.full((5, 5), 0.5)}, "walls"),
        ({"start": (5, 0)}, "start"),
        ({"start": (0, -1)}, "start"),
        ({"start": (1, 1)}, "start"),  # a default wall
        ({"start": (0.0, 1.0)}, "start"),
        ({"goal": (3, 3)}, "goal"),  # a default wall
        ({"goal": (0, 0)}, "goal"),  # equal to start
        ({"goal": (0, 5)}, "goal"),
        ({"walls": np.eye(5, k=1, dtype=bool)[::-1] | np.eye(5, k=-1, dtype=bool)[::-1]}, "goal"),
        ({"max_steps_in_episode": 0}, "max_steps_in_episode"),
        ({"step_reward": float("nan")}, "step_reward"),
    ],
)
def test_bad_params_raise(overrides, field):
    with pytest.raises(ValueError, match=field):
        rljax.make("GridWorld-v0", **overrides)


def test_unreachable_goal_raises():
    walls = np.zeros((5, 5), bool)
    walls[3, 4] = walls[4, 3] = True
    with pytest.raises(ValueError, match="goal=.*unreachable"):
        rljax.make("GridWorld-v0", walls=walls)


@pytest.mark.parametrize(("rows", "cols"), [(0, 5), (5, 0), (1, 1)])
def test_bad_grid_size_raises(rows, cols):
    with pytest.raises(ValueError, match="rows"):
        GridWorld(rows=rows, cols=cols)


@pytest.mark.parametrize(
    "action", [jnp.float32(1.0), jnp.array([1], jnp.int32), jnp.array([1, 2], jnp.int32)]
)
def test_wrong_action_raises_type_error_at_trace_time(env_params, step, action):
    env, params = env_params
    _, state = env.reset(KEY, params)
    with pytest.raises(TypeError, match="Discrete"):
        step(KEY, state, action, params)
