"""TreasureHunt-v0: hand-worked rules, the NumPy reference on random trajectories, the greedy
baseline, global state, egocentric view, bad input and rendering."""

from __future__ import annotations

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.treasure_hunt import (
    DOWN,
    LEFT,
    RIGHT,
    STAY,
    UP,
    TreasureHunt,
    TreasureHuntState,
    greedy_actions,
    sample_distinct_cells,
)

KEY = jax.random.key(0)
HARD = {"size": 12, "num_agents": 4, "num_treasures": 6}


def _load_reference():
    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "numpy_treasure_hunt.py"
    spec = importlib.util.spec_from_file_location("numpy_treasure_hunt", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load_reference()


def make_state(agents, treasures, collected=None, time=0) -> TreasureHuntState:
    treasures = np.asarray(treasures, np.int32).reshape(-1, 2)
    if collected is None:
        collected = np.zeros(len(treasures), bool)
    return TreasureHuntState(
        agent_pos=jnp.asarray(agents, jnp.int32).reshape(-1, 2),
        treasure_pos=jnp.asarray(treasures),
        collected=jnp.asarray(collected, jnp.bool_),
        time=jnp.int32(time),
    )


@pytest.fixture(scope="module")
def env_params():
    return rljax.make("TreasureHunt-v0")


@pytest.fixture(scope="module")
def step(env_params):
    env, _ = env_params
    return jax.jit(env.step)


@pytest.fixture(scope="module")
def get_obs(env_params):
    env, _ = env_params
    return jax.jit(env.get_obs)


def do(step, params, state, action):
    """One jitted step; returns ``(obs, state, reward, terminated, truncated, info)`` on host."""
    out = step(KEY, state, jnp.asarray(action, jnp.int32), params)
    return jax.device_get(out)


# --- defaults and spaces ----------------------------------------------------------------------


def test_defaults_and_spaces(env_params):
    env, params = env_params
    assert isinstance(env, TreasureHunt)
    assert (env.size, env.num_agents, env.num_treasures) == (8, 2, 3)
    assert (UP, DOWN, LEFT, RIGHT, STAY) == (0, 1, 2, 3, 4)
    assert (params.treasure_reward, params.bump_reward, params.step_reward) == (10.0, -1.0, -0.1)
    assert params.max_steps_in_episode == 100
    assert env.stochastic_step is False
    assert env.reward_shape(params) == (2,)
    assert env.action_space(params).nvec.tolist() == [5, 5]
    assert env.action_space(params).shape == (2,)
    assert env.observation_space(params).shape == (2, 4)
    assert env.global_state_size(params) == 2 * 2 + 64 + 1
    assert env.team_of_agent.tolist() == [0, 0]
    assert env == TreasureHunt() and hash(env) == hash(TreasureHunt())


def test_make_routes_settings_to_constructor_and_rewards_to_params():
    env, params = rljax.make("TreasureHunt-v0", treasure_reward=5.0, max_steps_in_episode=7, **HARD)
    assert (env.size, env.num_agents, env.num_treasures) == (12, 4, 6)
    assert params.treasure_reward == 5.0 and params.max_steps_in_episode == 7
    assert env.observation_space(params).shape == (4, 4)
    assert env.action_space(params).shape == (4,) and env.reward_shape(params) == (4,)
    assert env.global_state_size(params) == 4 * 2 + 144 + 1
    assert env != TreasureHunt() and env == TreasureHunt(**HARD)


def test_reset_draws_distinct_cells_uniformly():
    # 1 agent and 2 treasures on a 2 x 2 grid: 4 * 3 * 2 = 24 equally likely ordered layouts.
    env, params = rljax.make("TreasureHunt-v0", size=2, num_agents=1, num_treasures=2)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    obs, state = jax.device_get(reset(jax.random.split(KEY, 24_000), params))
    cells = np.concatenate([state.agent_pos, state.treasure_pos], axis=1)  # [B, 3, 2]
    flat = cells[..., 0] * 2 + cells[..., 1]
    layouts, counts = np.unique(flat, axis=0, return_counts=True)
    assert len(layouts) == 24 and (layouts[:, :, None] != layouts[:, None, :]).sum() == 24 * 6
    assert counts.min() > 800 and counts.max() < 1200  # ~1000 each
    assert not state.collected.any() and (state.time == 0).all()
    np.testing.assert_array_equal(obs[:, :, :2], state.agent_pos)


def test_sample_distinct_cells_on_a_full_grid():
    # 9 draws from a 3 x 3 grid: a permutation of the cells, every time.
    draw = jax.jit(jax.vmap(lambda k: sample_distinct_cells(k, 3, 9)))
    cells = np.asarray(draw(jax.random.split(KEY, 2000)))
    flat = cells[..., 0] * 3 + cells[..., 1]
    assert (np.sort(flat, axis=1) == np.arange(9)).all()
    for j in (0, 4, 8):  # every cell about equally often at every draw position
        assert np.bincount(flat[:, j], minlength=9).min() > 2000 / 9 * 0.7


# --- hand-worked rules --------------------------------------------------------------------------


def test_moves_follow_documented_directions(env_params, step):
    _, params = env_params
    state = make_state([[3, 3], [5, 5]], [[0, 0], [7, 7], [0, 7]])
    for action, cell in [(UP, [2, 3]), (DOWN, [4, 3]), (LEFT, [3, 2]), (RIGHT, [3, 4])]:
        obs, new, reward, *_ = do(step, params, state, [action, STAY])
        assert new.agent_pos.tolist() == [cell, [5, 5]]
        assert obs[0, :2].tolist() == cell
        assert reward.tolist() == [np.float32(-0.1)] * 2
    _, new, *_ = do(step, params, state, [STAY, STAY])
    assert new.agent_pos.tolist() == [[3, 3], [5, 5]] and int(new.time) == 1


def test_wall_bumps_stay_put_and_cost_one_each(env_params, step):
    _, params = env_params
    state = make_state([[0, 0], [7, 7]], [[3, 3], [4, 4], [5, 5]])
    _, new, reward, terminated, truncated, info = do(step, params, state, [UP, RIGHT])
    # Agent 0 bumps the top edge, agent 1 the right edge: -1 each, -0.1 for the step.
    assert new.agent_pos.tolist() == [[0, 0], [7, 7]]
    np.testing.assert_allclose(reward, [-2.1, -2.1], rtol=1e-6)
    assert int(info["bumps"]) == 2 and not terminated and not truncated
    _, new, reward, *_ = do(step, params, state, [LEFT, DOWN])
    np.testing.assert_allclose(reward, [-2.1, -2.1], rtol=1e-6)
    _, new, reward, *_ = do(step, params, state, [DOWN, UP])  # moving away from the edges
    assert new.agent_pos.tolist() == [[1, 0], [6, 7]]
    np.testing.assert_allclose(reward, [-0.1, -0.1], rtol=1e-6)


def test_collecting_a_treasure(env_params, step):
    _, params = env_params
    state = make_state([[2, 2], [6, 6]], [[2, 3], [0, 0], [7, 7]])
    obs, new, reward, terminated, _, info = do(step, params, state, [RIGHT, STAY])
    assert new.collected.tolist() == [True, False, False] and int(info["collected"]) == 1
    np.testing.assert_allclose(reward, [9.9, 9.9], rtol=1e-6)  # shared by both agents
    assert not terminated
    # Agent 0's nearest remaining treasure is now (0, 0); agent 1 still sees (7, 7).
    assert obs.tolist() == [[2, 3, 0, 0], [6, 6, 7, 7]]
    # Standing on (or coming back to) a collected treasure pays nothing more.
    _, _, reward, *_ = do(step, params, new, [STAY, STAY])
    np.testing.assert_allclose(reward, [-0.1, -0.1], rtol=1e-6)


def test_two_agents_reaching_one_treasure_on_the_same_step_collect_it_once(env_params, step):
    _, params = env_params
    state = make_state([[2, 1], [2, 3]], [[2, 2], [0, 0], [7, 7]])
    _, new, reward, terminated, _, info = do(step, params, state, [RIGHT, LEFT])
    assert new.agent_pos.tolist() == [[2, 2], [2, 2]]  # agents may share a cell
    assert new.collected.tolist() == [True, False, False]
    np.testing.assert_allclose(reward, [9.9, 9.9], rtol=1e-6)  # +10 once, not twice
    assert int(info["collected"]) == 1 and not terminated


def test_two_treasures_and_a_bump_on_one_step(env_params, step):
    _, params = env_params
    state = make_state([[0, 1], [4, 4]], [[0, 0], [4, 5], [7, 7]])
    _, _, reward, *_ = do(step, params, state, [LEFT, RIGHT])
    np.testing.assert_allclose(reward, [19.9, 19.9], rtol=1e-6)
    state = make_state([[0, 1], [0, 4]], [[0, 0], [4, 5], [7, 7]])
    _, _, reward, *_ = do(step, params, state, [LEFT, UP])  # +10 - 1 - 0.1
    np.testing.assert_allclose(reward, [8.9, 8.9], rtol=1e-6)


def test_custom_reward_params(env_params, step):
    env, _ = env_params
    params = env.default_params.replace(treasure_reward=3.0, bump_reward=-0.5, step_reward=0.25)
    state = make_state([[0, 1], [0, 4]], [[0, 0], [4, 5], [7, 7]])
    _, _, reward, *_ = do(step, params, state, [LEFT, UP])
    np.testing.assert_allclose(reward, [2.75, 2.75], rtol=1e-6)


def test_termination_when_the_last_treasure_is_collected(env_params, step):
    _, params = env_params
    state = make_state([[5, 5], [1, 1]], [[5, 6], [0, 0], [7, 7]], [False, True, True], time=41)
    obs, new, reward, terminated, truncated, _ = do(step, params, state, [RIGHT, UP])
    assert terminated and not truncated and int(new.time) == 42
    np.testing.assert_allclose(reward, [9.9, 9.9], rtol=1e-6)
    assert obs[:, 2:].tolist() == [[-1, -1], [-1, -1]]  # no treasure left to point at


def test_truncation_after_100_steps_not_termination(env_params):
    env, params = env_params

    @jax.jit
    def run(params):
        state = make_state([[0, 0], [0, 1]], [[5, 5], [6, 6], [7, 7]])

        def body(state, _):
            _, state, reward, terminated, truncated, _ = env.step(
                KEY, state, jnp.array([STAY, STAY], jnp.int32), params
            )
            return state, (reward, terminated, truncated)

        return jax.lax.scan(body, state, None, 100)[1]

    reward, terminated, truncated = jax.device_get(run(params))
    assert truncated.tolist() == [False] * 99 + [True]
    assert not terminated.any()
    np.testing.assert_allclose(reward.sum(axis=0), [-10.0, -10.0], rtol=1e-5)
    _, _, truncated = jax.device_get(run(params.replace(max_steps_in_episode=7)))
    assert truncated.tolist().index(True) == 6


def test_last_step_may_both_terminate_and_truncate(env_params, step):
    _, params = env_params
    state = make_state([[5, 5], [1, 1]], [[5, 6], [0, 0], [7, 7]], [False, True, True], time=99)
    *_, terminated, truncated, _ = do(step, params, state, [RIGHT, STAY])
    assert terminated and truncated  # independent flags, as in every rljax environment


def test_nearest_treasure_uses_manhattan_distance_and_lower_index_on_ties(env_params, get_obs):
    _, params = env_params
    state = make_state([[4, 4], [0, 0]], [[2, 4], [4, 2], [7, 0]])
    obs = np.asarray(get_obs(state, params))
    assert obs[0].tolist() == [4, 4, 2, 4]  # (2, 4) and (4, 2) both 2 away: the lower index wins
    assert obs[1].tolist() == [0, 0, 2, 4]  # 6 away, (4, 2) also 6 away
    state = state.replace(collected=jnp.array([True, False, False]))
    assert np.asarray(get_obs(state, params))[0].tolist() == [4, 4, 4, 2]


def test_step_is_deterministic_and_ignores_the_key(env_params, step):
    _, params = env_params
    state = make_state([[3, 3], [0, 5]], [[3, 4], [1, 1], [6, 6]])
    action = jnp.array([RIGHT, UP], jnp.int32)
    a = step(jax.random.key(1), state, action, params)
    b = step(jax.random.key(2), state, action, params)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    # A difference reward: agent 0's move is worth +10 over STAY.
    stay = step(KEY, state, action.at[0].set(STAY), params)
    assert float(a[2][0] - stay[2][0]) == pytest.approx(10.0)


# --- observations and global state --------------------------------------------------------------


def test_global_state_layout(env_params):
    env, params = env_params
    state = make_state([[0, 7], [7, 0]], [[1, 2], [3, 4], [5, 6]], [False, True, False], time=25)
    g = np.asarray(jax.jit(env.global_state)(state, params))
    assert g.dtype == np.float32 and g.shape == (69,)
    np.testing.assert_allclose(g[:4], [0, 1, 1, 0])
    treasure_map = g[4:68].reshape(8, 8)
    assert treasure_map.sum() == 2 and treasure_map[1, 2] == 1 and treasure_map[5, 6] == 1
    assert g[68] == pytest.approx(0.25)


def test_egocentric_window_by_hand():
    env, params = rljax.make("TreasureHunt-v0", obs_mode="egocentric", view_size=3)
    assert env.observation_space(params).shape == (2, 4 + 27)
    state = make_state([[0, 0], [1, 1]], [[0, 1], [2, 2], [7, 7]], [False, False, True])
    obs = np.asarray(jax.jit(env.get_obs)(state, params))
    assert obs.shape == (2, 31)
    window = obs[:, 4:].reshape(2, 3, 3, 3)  # [agent, row, col, channel]
    treasure, other, outside = window[0, ..., 0], window[0, ..., 1], window[0, ..., 2]
    # Agent 0 at the top-left corner: the top row and left column of its window are off grid.
    np.testing.assert_array_equal(outside, [[1, 1, 1], [1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(treasure, [[0, 0, 0], [0, 0, 1], [0, 0, 0]])  # (0, 1)
    np.testing.assert_array_equal(other, [[0, 0, 0], [0, 0, 0], [0, 0, 1]])  # agent 1 at (1, 1)
    # Agent 1 in the open sees both near treasures (the collected one at (7, 7) is far anyway).
    np.testing.assert_array_equal(window[1, ..., 0], [[0, 1, 0], [0, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(window[1, ..., 1], [[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert not window[1, ..., 2].any()


# --- the NumPy reference on random trajectories ---------------------------------------------------


def state_of(ref) -> TreasureHuntState:
    """The JAX state equal to the NumPy reference's current state."""
    return make_state(ref.agents, ref.treasures, ref.collected, ref.t)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"size": 4, "num_agents": 3, "num_treasures": 5, "obs_mode": "egocentric", "view_size": 3},
        {**HARD, "max_steps_in_episode": 30},
    ],
    ids=["default", "small-egocentric", "hard"],
)
def test_matches_numpy_reference_on_random_trajectories(settings):
    """Random actions from random starts (drawn by the reference), stepped side by side."""
    env, params = rljax.make("TreasureHunt-v0", **settings)
    step = jax.jit(lambda state, action: (*env.step(KEY, state, action, params)[:5],))
    global_state = jax.jit(env.global_state)
    ref = reference.NumpyTreasureHunt(
        size=env.size,
        num_agents=env.num_agents,
        num_treasures=env.num_treasures,
        max_steps=int(params.max_steps_in_episode),
        obs_mode=env.obs_mode,
        view_size=env.view_size,
        seed=0,
    )
    rng = np.random.default_rng(1)
    state = state_of(ref)
    episodes = terminations = collected = 0
    for t in range(250):
        action = rng.integers(0, 5, size=env.num_agents)
        obs, state, reward, terminated, truncated = jax.device_get(
            step(state, jnp.asarray(action, jnp.int32))
        )
        r_obs, r_reward, r_terminated, r_truncated, _ = ref.step(action.tolist())
        np.testing.assert_array_equal(obs, r_obs, err_msg=f"obs at step {t}")
        np.testing.assert_allclose(reward, [r_reward] * env.num_agents, rtol=1e-5, atol=1e-5)
        assert (bool(terminated), bool(truncated)) == (r_terminated, r_truncated), t
        np.testing.assert_allclose(global_state(state, params), ref.global_state(), rtol=1e-6)
        collected += int(r_reward > 0)
        if r_terminated or r_truncated:
            episodes += 1
            terminations += r_terminated
            ref.reset()
            state = state_of(ref)
    assert episodes >= 2 and collected >= 3  # the trajectories did exercise the rules
    if env.size == 4:
        assert terminations >= 2


# --- greedy baseline ------------------------------------------------------------------------------


def reference_starts(settings: dict, count: int) -> TreasureHuntState:
    """``count`` reset states drawn by the NumPy reference, stacked into one batched state."""
    ref = reference.NumpyTreasureHunt(seed=3, **settings)
    states = []
    for _ in range(count):
        ref.reset()
        states.append(state_of(ref))
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


@pytest.mark.parametrize("settings", [{}, HARD], ids=["default", "hard"])
def test_greedy_heuristic_collects_everything(settings):
    env, params = rljax.make("TreasureHunt-v0", **settings)
    starts = reference_starts(settings, 200)

    @jax.jit
    def run(state):
        first = jax.vmap(greedy_actions, in_axes=(0, None))(state, params)

        def body(carry, _):
            state, done, length = carry
            action = jax.vmap(greedy_actions, in_axes=(0, None))(state, params)
            _, state, _, terminated, truncated, _ = jax.vmap(env.step, in_axes=(None, 0, 0, None))(
                KEY, state, action, params
            )
            length = length + (~done).astype(jnp.int32)
            return (state, done | terminated, length), truncated & ~done

        init = (state, jnp.zeros(len(first), bool), jnp.zeros(len(first), jnp.int32))
        (_, done, length), truncated = jax.lax.scan(body, init, None, 100)
        return done, length, truncated.any(), first

    done, length, truncated, first = jax.device_get(run(starts))
    assert done.all() and not truncated  # 100 % success
    assert length.max() <= env.num_treasures * 2 * (env.size - 1)
    assert 5 < length.mean() < (11 if not settings else 16)
    # The first actions are those of the reference's greedy agent.
    ref = reference.NumpyTreasureHunt(**settings)
    starts = jax.device_get(starts)
    for i in range(50):
        ref.set_state(starts.agent_pos[i], starts.treasure_pos[i], starts.collected[i], 0)
        assert first[i].tolist() == ref.greedy_actions()


def test_greedy_method_equals_module_function(env_params):
    env, params = env_params
    state = make_state([[4, 4], [0, 0]], [[2, 4], [4, 2], [7, 0]], [False, False, True])
    # Agent 0: (2, 4) and (4, 2) tie at 2, the lower index wins, 2 rows up. Agent 1: (2, 4) and
    # (4, 2) tie at 6; (2, 4) is 2 rows down and 4 columns right: the longer axis first.
    greedy = jax.jit(env.greedy_actions)
    assert greedy(state, params).tolist() == [UP, RIGHT]
    assert greedy_actions(state, params).tolist() == [UP, RIGHT]
    done = state.replace(collected=jnp.array([True, True, True]))
    assert greedy_actions(done, params).tolist() == [STAY, STAY]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"num_agents": 0}, "num_agents"),
        ({"num_treasures": 0}, "num_treasures"),
        ({"size": 2, "num_agents": 2, "num_treasures": 3}, "num_agents \\+ num_treasures"),
        ({"size": 8, "num_agents": 40, "num_treasures": 25}, "64 cells"),
        ({"size": 1}, "size"),
        ({"obs_mode": "pixels"}, "obs_mode"),
        ({"view_size": 4}, "view_size"),
        ({"max_steps_in_episode": 0}, "max_steps_in_episode"),
        ({"step_reward": float("nan")}, "step_reward"),
        ({"treasure_reward": float("inf")}, "treasure_reward"),
        ({"num_agent": 3}, "num_agents"),  # a typo lists the allowed names
    ],
)
def test_bad_settings_raise_value_error_at_make(overrides, match):
    with pytest.raises(ValueError, match=match):
        rljax.make("TreasureHunt-v0", **overrides)


@pytest.mark.parametrize(
    "action",
    [
        np.array([1, 2, 3], np.int32),  # three agents' actions for two agents
        np.int32(1),
        np.array([[1], [2]], np.int32),
        np.array([1.0, 2.0], np.float32),
    ],
    ids=["too-many", "scalar", "column", "float"],
)
def test_wrong_action_shape_fails_at_trace_time(env_params, step, action):
    _, params = env_params
    state = make_state([[0, 0], [1, 1]], [[2, 2], [3, 3], [4, 4]])
    with pytest.raises(TypeError, match=r"MultiDiscrete\(\[5, 5\]\).*expected shape \(2,\)"):
        step(KEY, state, action, params)


def test_wrong_action_shape_under_vmap_fails_with_a_clear_message(env_params):
    env, params = env_params
    one = make_state([[0, 0], [1, 1]], [[2, 2], [3, 3], [4, 4]])
    state = jax.tree.map(lambda x: jnp.stack([x] * 4), one)
    vstep = jax.jit(jax.vmap(env.step, in_axes=(None, 0, 0, None)))
    with pytest.raises(TypeError, match=r"expected shape \(2,\)"):
        vstep(KEY, state, jnp.zeros((4, 3), jnp.int32), params)


# --- rendering --------------------------------------------------------------------------------


def test_render_episode_writes_a_gif(env_params, step, get_obs, tmp_path):
    from PIL import Image

    from rljax import render

    env, params = env_params
    state = make_state([[0, 0], [7, 7]], [[0, 3], [6, 6], [3, 3]])
    initial_obs = get_obs(state, params)
    traj = {"initial_state": state, "initial_obs": initial_obs}
    record = {"states": [], "obs": [], "actions": [], "rewards": []}
    greedy = jax.jit(greedy_actions)
    for _ in range(6):
        action = greedy(state, params)
        obs, state, reward, *_ = step(KEY, state, action, params)
        for name, value in zip(record, (state, obs, action, reward), strict=True):
            record[name].append(value)
    traj |= {name: jax.tree.map(lambda *xs: np.stack(xs), *v) for name, v in record.items()}
    path = render.render_episode("TreasureHunt-v0", env, params, traj, 6, tmp_path / "ep")
    assert path == tmp_path / "ep.gif"
    with Image.open(path) as image:
        assert image.n_frames == 7
    _, _, _, returns = render.episode_arrays(traj, 6)
    assert returns.shape == (7, 2)  # per-agent returns
