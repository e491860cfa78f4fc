"""Tag-v0: hand-worked catches (same cell, swap, near misses), rewards, termination vs truncation,
observations, a plain-Python reference on random trajectories, bad input and rendering."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.tag import CHASER, DOWN, EVADER, LEFT, MOVES, RIGHT, STAY, UP, Tag, TagState

KEY = jax.random.key(0)


def make_state(pos, num_evaders=1, time=0) -> TagState:
    return TagState(
        pos=jnp.asarray(pos, jnp.int32).reshape(-1, 2),
        caught=jnp.zeros((num_evaders,), jnp.bool_),
        time=jnp.int32(time),
    )


@pytest.fixture(scope="module")
def env_params():
    return rljax.make("Tag-v0")


@pytest.fixture(scope="module")
def step(env_params):
    env, _ = env_params
    return jax.jit(env.step)


def do(step, params, state, action):
    return jax.device_get(step(KEY, state, jnp.asarray(action, jnp.int32), params))


def test_defaults_and_spaces(env_params):
    env, params = env_params
    assert isinstance(env, Tag)
    assert (env.size, env.num_chasers, env.num_evaders, env.num_agents) == (8, 2, 1, 3)
    assert env.team_of_agent.tolist() == [CHASER, CHASER, EVADER] == [0, 0, 1]
    assert env.team_of_agent.dtype == np.int32
    assert (params.catch_reward, params.step_reward, params.max_steps_in_episode) == (
        1.0,
        -0.01,
        100,
    )
    assert env.stochastic_step is False
    assert env.reward_shape(params) == (3,)
    assert env.action_space(params).nvec.tolist() == [5, 5, 5]
    assert env.observation_space(params).shape == (3, 3 + 2 * 3)
    assert env.global_state_size(params) == 7
    assert env == Tag() and hash(env) == hash(Tag())


def test_make_routes_settings():
    env, params = rljax.make("Tag-v0", size=5, num_chasers=3, num_evaders=2, step_reward=0.0)
    assert (env.size, env.num_agents) == (5, 5) and params.step_reward == 0.0
    assert env.team_of_agent.tolist() == [0, 0, 0, 1, 1]
    assert env.observation_space(params).shape == (5, 13)
    assert env.action_space(params).shape == (5,)


def test_chaser_moving_onto_the_evader_catches_it(env_params, step):
    _, params = env_params
    state = make_state([[3, 3], [7, 7], [3, 4]])
    obs, new, reward, terminated, truncated, info = do(step, params, state, [RIGHT, STAY, STAY])
    assert terminated and not truncated and info["caught"].tolist() == [True]
    np.testing.assert_allclose(reward, [0.99, 0.99, -0.99], rtol=1e-6)
    assert new.pos.tolist() == [[3, 4], [7, 7], [3, 4]]
    assert new.caught.tolist() == [True]


def test_evader_walking_into_a_chaser_is_caught(env_params, step):
    _, params = env_params
    state = make_state([[3, 3], [7, 7], [3, 4]])
    *_, terminated, _, info = do(step, params, state, [STAY, STAY, LEFT])
    assert terminated and info["caught"].tolist() == [True]


def test_swapping_cells_is_a_catch(env_params, step):
    _, params = env_params
    state = make_state([[3, 3], [7, 7], [3, 4]])
    _, new, reward, terminated, *_ = do(step, params, state, [RIGHT, STAY, LEFT])
    assert new.pos.tolist() == [[3, 4], [7, 7], [3, 3]]  # they crossed on the edge
    assert terminated
    np.testing.assert_allclose(reward, [0.99, 0.99, -0.99], rtol=1e-6)


@pytest.mark.parametrize(
    ("action", "why"),
    [
        ([RIGHT, STAY, RIGHT], "the chaser takes the cell the evader leaves"),
        ([DOWN, STAY, UP], "diagonal neighbours end side by side"),
        ([STAY, STAY, STAY], "adjacent, nobody moves"),
    ],
)
def test_near_misses_are_not_catches(env_params, step, action, why):
    _, params = env_params
    state = make_state([[3, 3], [7, 7], [3, 4]])
    if why.startswith("diagonal"):
        state = make_state([[3, 3], [7, 7], [4, 4]])
    _, _, reward, terminated, truncated, info = do(step, params, state, action)
    assert not terminated and not truncated, why
    assert info["caught"].tolist() == [False]
    np.testing.assert_allclose(reward, [-0.01, -0.01, 0.01], rtol=1e-6)


def test_second_chaser_swapping_also_catches(env_params, step):
    _, params = env_params
    state = make_state([[0, 0], [5, 5], [5, 6]])
    *_, terminated, _, _ = do(step, params, state, [STAY, RIGHT, LEFT])
    assert terminated


def test_one_of_two_evaders_caught_ends_the_episode_for_everyone():
    env, params = rljax.make("Tag-v0", num_evaders=2)
    state = make_state([[0, 0], [5, 5], [5, 6], [1, 1]], num_evaders=2)
    out = jax.device_get(
        jax.jit(env.step)(KEY, state, jnp.array([STAY, RIGHT, STAY, STAY], jnp.int32), params)
    )
    _, new, reward, terminated, _, info = out
    assert terminated and info["caught"].tolist() == [True, False]
    np.testing.assert_allclose(reward, [0.99, 0.99, -0.99, -0.99], rtol=1e-6)


def test_edges_keep_agents_on_the_grid_without_penalty(env_params, step):
    _, params = env_params
    state = make_state([[0, 0], [7, 7], [0, 7]])
    _, new, reward, terminated, *_ = do(step, params, state, [UP, DOWN, RIGHT])
    assert new.pos.tolist() == [[0, 0], [7, 7], [0, 7]] and not terminated
    np.testing.assert_allclose(reward, [-0.01, -0.01, 0.01], rtol=1e-6)


def test_truncation_after_100_steps_and_opposite_returns(env_params):
    env, params = env_params

    @jax.jit
    def run(params):
        state = make_state([[0, 0], [0, 2], [7, 7]])

        def body(state, _):
            _, state, reward, terminated, truncated, _ = env.step(
                KEY, state, jnp.full((3,), STAY, jnp.int32), params
            )
            return state, (reward, terminated, truncated)

        return jax.lax.scan(body, state, None, 100)[1]

    reward, terminated, truncated = jax.device_get(run(params))
    assert truncated.tolist() == [False] * 99 + [True] and not terminated.any()
    np.testing.assert_allclose(reward.sum(axis=0), [-1.0, -1.0, 1.0], rtol=1e-5)
    _, _, truncated = jax.device_get(run(params.replace(max_steps_in_episode=9)))
    assert truncated.tolist().index(True) == 8


def test_step_ignores_the_key(env_params, step):
    _, params = env_params
    state = make_state([[3, 3], [7, 7], [3, 5]])
    action = jnp.array([RIGHT, UP, LEFT], jnp.int32)
    a = step(jax.random.key(1), state, action, params)
    b = step(jax.random.key(2), state, action, params)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_observation_and_global_state_layout(env_params, step):
    env, params = env_params
    state = make_state([[1, 2], [3, 4], [7, 0]], time=49)
    obs, new, *_ = do(step, params, state, [STAY, STAY, STAY])
    assert obs.dtype == np.float32
    everyone = [1, 2, 3, 4, 7, 0]
    assert obs.tolist() == [[1, 2, 0, *everyone], [3, 4, 0, *everyone], [7, 0, 1, *everyone]]
    g = np.asarray(jax.jit(env.global_state)(new, params))
    np.testing.assert_allclose(g, [1 / 7, 2 / 7, 3 / 7, 4 / 7, 1, 0, 0.5], rtol=1e-6)


def test_egocentric_window_by_hand():
    env, params = rljax.make("Tag-v0", num_chasers=2, num_evaders=2, obs_mode="egocentric")
    k = env.view_size
    assert env.observation_space(params).shape == (4, 3 + 8 + 3 * k * k)
    state = make_state([[0, 0], [1, 1], [0, 2], [7, 7]], num_evaders=2)
    obs = np.asarray(jax.jit(env.get_obs)(state, params))
    window = obs[:, 11:].reshape(4, k, k, 3)
    # Chaser 0 at (0, 0) sees its teammate at (1, 1) and an evader at (0, 2); the centre is (2, 2).
    teammate, opponent, outside = (window[0, ..., c] for c in range(3))
    assert np.argwhere(teammate).tolist() == [[3, 3]]
    assert np.argwhere(opponent).tolist() == [[2, 4]]
    assert outside[:2].all() and outside[:, :2].all() and not outside[2:, 2:].any()
    # Evader 2 at (0, 2) sees both chasers as opponents and no teammate (evader 3 is far).
    assert np.argwhere(window[2, ..., 1]).tolist() == [[2, 0], [3, 1]]
    assert not window[2, ..., 0].any()


# --- a plain-Python reference on random trajectories ---------------------------------------------


def reference_step(pos, action, num_chasers, size, catch_reward=1.0, step_reward=-0.01):
    """The rules of Tag-v0, one agent at a time: ``(new_pos, reward list, terminated)``."""
    new = []
    for (row, col), a in zip(pos, action, strict=True):
        d_row, d_col = MOVES[a]
        if 0 <= row + d_row < size and 0 <= col + d_col < size:
            row, col = row + d_row, col + d_col
        new.append((row, col))
    caught = False
    for i in range(num_chasers):
        for e in range(num_chasers, len(pos)):
            swapped = new[i] == tuple(pos[e]) and new[e] == tuple(pos[i])
            caught |= new[i] == new[e] or swapped
    r = catch_reward * caught + step_reward
    rewards = [r if i < num_chasers else -r for i in range(len(pos))]
    return new, rewards, caught


@pytest.mark.parametrize(("size", "chasers", "evaders"), [(4, 2, 1), (3, 3, 2)])
def test_matches_python_reference_on_random_trajectories(size, chasers, evaders):
    env, params = rljax.make("Tag-v0", size=size, num_chasers=chasers, num_evaders=evaders)
    step = jax.jit(lambda state, action: (*env.step(KEY, state, action, params)[:5],))
    rng = np.random.default_rng(0)
    n = chasers + evaders

    def random_start():
        cells = rng.choice(size * size, n, replace=False)
        return [tuple(divmod(int(c), size)) for c in cells]

    pos = random_start()
    state = make_state(pos, num_evaders=evaders)
    catches = 0
    for t in range(150):
        action = rng.integers(0, 5, size=n).tolist()
        obs, state, reward, terminated, truncated = jax.device_get(
            step(state, jnp.asarray(action, jnp.int32))
        )
        pos, r_reward, r_terminated = reference_step(pos, action, chasers, size)
        assert [tuple(p) for p in state.pos.tolist()] == pos, t
        np.testing.assert_allclose(reward, r_reward, rtol=1e-6)
        assert bool(terminated) == r_terminated and not truncated
        assert obs[:, :2].tolist() == [list(p) for p in pos]
        if r_terminated:
            catches += 1
            pos = random_start()
            state = make_state(pos, num_evaders=evaders)
    assert catches >= 3


# --- scripted baseline, reset, bad input, rendering -----------------------------------------------


def test_reset_and_greedy_chasers_always_catch_a_standing_evader(env_params):
    env, params = env_params
    num_episodes = 100

    @jax.jit
    def run(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key, num_episodes), params
        )
        start = state

        def body(carry, _):
            state, done = carry
            action = jax.vmap(env.greedy_actions, in_axes=(0, None))(state, params)
            action = action.at[:, 2].set(STAY)
            _, state, _, terminated, _, _ = jax.vmap(env.step, in_axes=(None, 0, 0, None))(
                KEY, state, action, params
            )
            return (state, done | terminated), None

        (_, done), _ = jax.lax.scan(body, (state, jnp.zeros(num_episodes, bool)), None, 20)
        return start, done

    start, done = jax.device_get(run(KEY))
    flat = start.pos[..., 0] * 8 + start.pos[..., 1]
    assert (np.sort(flat, axis=1)[:, 1:] != np.sort(flat, axis=1)[:, :-1]).all()  # distinct
    assert not start.caught.any() and (start.time == 0).all()
    assert done.all()  # within 2 * (8 - 1) + 6 steps


def test_greedy_evader_runs_away(env_params):
    env, params = env_params
    greedy = jax.jit(env.greedy_actions)
    # Chasers step towards the evader. The evader at (3, 4) next to chaser 0: UP, DOWN and RIGHT
    # all leave it 2 from chaser 0; UP and RIGHT leave it 9 from chaser 1 (DOWN 7): UP comes first.
    state = make_state([[3, 3], [7, 0], [3, 4]])
    assert greedy(state, params).tolist() == [RIGHT, UP, UP]
    # Cornered at (0, 7) with a chaser below: it runs left along the edge.
    state = make_state([[1, 7], [7, 0], [0, 7]])
    assert greedy(state, params).tolist()[2] == LEFT


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"num_chasers": 0}, "num_chasers"),
        ({"num_evaders": 0}, "num_evaders"),
        ({"size": 2, "num_chasers": 3, "num_evaders": 2}, "num_chasers \\+ num_evaders"),
        ({"size": 1}, "size"),
        ({"obs_mode": "image"}, "obs_mode"),
        ({"max_steps_in_episode": 0}, "max_steps_in_episode"),
        ({"catch_reward": float("nan")}, "catch_reward"),
    ],
)
def test_bad_settings_raise_value_error_at_make(overrides, match):
    with pytest.raises(ValueError, match=match):
        rljax.make("Tag-v0", **overrides)


@pytest.mark.parametrize(
    "action",
    [np.array([1, 2], np.int32), np.array([[1, 2, 3]], np.int32), np.zeros(3, np.float32)],
    ids=["too-few", "row", "float"],
)
def test_wrong_action_shape_fails_at_trace_time(env_params, step, action):
    _, params = env_params
    state = make_state([[0, 0], [1, 1], [2, 2]])
    with pytest.raises(TypeError, match=r"MultiDiscrete\(\[5, 5, 5\]\).*expected shape \(3,\)"):
        step(KEY, state, action, params)


def test_render_episode_writes_a_gif(env_params, step, tmp_path):
    from PIL import Image

    from rljax import render

    env, params = env_params
    state = make_state([[0, 0], [7, 7], [4, 4]])
    traj = {"initial_state": state, "initial_obs": np.zeros((3, 9), np.float32)}
    record = {"states": [], "obs": [], "actions": [], "rewards": []}
    greedy = jax.jit(env.greedy_actions)
    for _ in range(5):
        action = greedy(state, params)
        obs, state, reward, *_ = step(KEY, state, action, params)
        for name, value in zip(record, (state, obs, action, reward), strict=True):
            record[name].append(value)
    traj |= {name: jax.tree.map(lambda *xs: np.stack(xs), *v) for name, v in record.items()}
    path = render.render_episode("Tag-v0", env, params, traj, 5, tmp_path / "tag", max_frames=4)
    with Image.open(path) as image:
        assert image.n_frames == 4
