"""VecEnv / make_vec: batch auto-reset against a vmap reference, statistics, chunked resets, vmap.

Params are passed to jitted functions as arguments (not closed over) wherever results are compared
bitwise: closed-over params become constants that XLA folds, which can change the last float bit.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import rljax
from rljax import spaces
from rljax.env import Environment
from rljax.vector import FinishedIndex, VecEnv, make_vec

# --- helpers ----------------------------------------------------------------------------------


@struct.dataclass
class WalkState:
    pos: jax.Array
    time: jax.Array


@struct.dataclass
class WalkParams:
    noise: float = 0.5
    max_steps_in_episode: int = 15


class NoisyWalk(Environment):
    """A random walk whose step consumes its key (exercises VecEnv's per-env step keys)."""

    stochastic_step = True

    @property
    def default_params(self):
        return WalkParams()

    def reset_env(self, key, params):
        state = WalkState(jax.random.uniform(key, (), jnp.float32, -1.0, 1.0), jnp.int32(0))
        return jnp.stack([state.pos, 0.0]), state

    def step_env(self, key, state, action, params):
        move = jnp.where(action == 1, 0.1, -0.1) + params.noise * jax.random.normal(key)
        state = WalkState(state.pos + move, state.time + 1)
        terminated = jnp.abs(state.pos) > 1.5
        truncated = state.time >= params.max_steps_in_episode
        reward = (1.0 - jnp.abs(state.pos)).astype(jnp.float32)
        obs = jnp.stack([state.pos, state.time.astype(jnp.float32)])
        return obs, state, reward, terminated, truncated, {}

    def observation_space(self, params):
        return spaces.Box(-jnp.inf, jnp.inf, (2,))

    def action_space(self, params):
        return spaces.Discrete(2)


def rollout_fn(venv: VecEnv, num_steps: int):
    """``(key, params) -> (obs0, state0, per-step (state_before, action, outputs))``, unjitted."""

    def run(key, params):
        key_reset, key_actions, key_steps = jax.random.split(key, 3)
        obs0, state0 = venv.reset(key_reset, params)
        space = venv.action_space(params)
        actions = jax.vmap(lambda k: space.sample_batch(k, venv.num_envs))(
            jax.random.split(key_actions, num_steps)
        )
        keys = jax.random.split(key_steps, num_steps)

        def body(state, inputs):
            key, action = inputs
            out = venv.step(key, state, action, params)
            return out[1], (state, action, out)

        _, per_step = jax.lax.scan(body, state0, (keys, actions))
        return obs0, state0, per_step

    return run


def cartpole_obs_of(state):
    return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot], axis=-1)


def assert_rows_distinct(rows, what=""):
    rows = np.asarray(rows)
    assert len(np.unique(rows, axis=0)) == len(rows), f"reset states not distinct {what}"


def assert_valid_cartpole_resets(obs, state, bound=0.05):
    obs = np.asarray(obs)
    assert (np.abs(obs) <= bound).all()
    assert (np.asarray(state.time) == 0).all()
    np.testing.assert_array_equal(obs, cartpole_obs_of(state))


def python_episode_stats(reward, done):
    """Per step and env: (return, length) of the last finished episode; float32 running sums."""
    num_steps, num_envs = reward.shape
    ret = np.zeros(num_envs, np.float32)
    length = np.zeros(num_envs, np.int32)
    last_ret = np.zeros(num_envs, np.float32)
    last_len = np.zeros(num_envs, np.int32)
    out_ret, out_len = [], []
    for t in range(num_steps):
        ret = (ret + reward[t]).astype(np.float32)
        length = length + 1
        last_ret = np.where(done[t], ret, last_ret)
        last_len = np.where(done[t], length, last_len)
        ret = np.where(done[t], np.float32(0.0), ret)
        length = np.where(done[t], 0, length)
        out_ret.append(last_ret)
        out_len.append(last_len)
    return np.stack(out_ret), np.stack(out_len), ret, length


# --- (a) step against a vmap reference ---------------------------------------------------------

A_STEPS = 50


@functools.cache
def cartpole_run(reset_chunk: int):
    """CartPole (12-step limit) in a VecEnv of 16: ``(env, params, venv, jitted rollout)``."""
    env, params = rljax.make("CartPole-v1", max_steps_in_episode=12)
    venv = VecEnv(env, 16, reset_chunk=reset_chunk)
    return env, params, venv, jax.jit(rollout_fn(venv, A_STEPS))


@pytest.fixture(scope="module", params=[16, 4], ids=["one-chunk", "four-chunks"])
def cartpole_trajectory(request):
    env, params, venv, run = cartpole_run(request.param)
    obs0, state0, per_step = run(jax.random.key(0), params)
    return env, params, venv, obs0, state0, per_step


def test_vecenv_reset(cartpole_trajectory):
    _, _, venv, obs0, state0, _ = cartpole_trajectory
    assert obs0.shape == (16, 4) and obs0.dtype == jnp.float32
    assert_valid_cartpole_resets(obs0, state0.env_state)
    assert_rows_distinct(obs0)
    for leaf in (state0.episode_return, state0.returned_episode_return):
        np.testing.assert_array_equal(leaf, np.zeros(16, np.float32))
    for leaf in (state0.episode_length, state0.returned_episode_length):
        np.testing.assert_array_equal(leaf, np.zeros(16, np.int32))


def test_vecenv_step_matches_vmap_reference(cartpole_trajectory):
    env, params, _, _, _, (state_before, action, out) = cartpole_trajectory
    obs, state, reward, terminated, truncated, info = out

    # Reference: the plain vmapped transition of every env, from the same states.
    ref_step = jax.jit(
        jax.vmap(jax.vmap(env.step, in_axes=(None, 0, 0, None)), in_axes=(None, 0, 0, None))
    )
    ref_obs, ref_state, ref_reward, ref_term, ref_trunc, _ = ref_step(
        jax.random.key(0), state_before.env_state, action, params
    )
    np.testing.assert_array_equal(reward, ref_reward)
    np.testing.assert_array_equal(terminated, ref_term)
    np.testing.assert_array_equal(truncated, ref_trunc)
    np.testing.assert_array_equal(info["final_obs"], ref_obs)
    done = np.asarray(ref_term | ref_trunc)
    np.testing.assert_array_equal(info["episode_done"], done)

    obs = np.asarray(obs)
    for t in range(A_STEPS):
        live = ~done[t]
        np.testing.assert_array_equal(obs[t][live], np.asarray(ref_obs[t])[live])
        for new, ref in zip(
            jax.tree.leaves(state.env_state), jax.tree.leaves(ref_state), strict=True
        ):
            np.testing.assert_array_equal(np.asarray(new[t])[live], np.asarray(ref[t])[live])
        if done[t].any():
            fresh = jax.tree.map(lambda x, t=t: np.asarray(x[t])[done[t]], state.env_state)
            assert_valid_cartpole_resets(obs[t][done[t]], fresh)
            assert_rows_distinct(obs[t][done[t]], f"at step {t}")
            # A reset is not the terminal observation.
            assert not np.array_equal(obs[t][done[t]], np.asarray(ref_obs[t])[done[t]])
    # Episode statistics follow the reward / done stream.
    expected_ret, expected_len, _, _ = python_episode_stats(np.asarray(reward), done)
    np.testing.assert_array_equal(info["episode_length"], expected_len)
    np.testing.assert_array_equal(info["episode_return"], expected_ret)
    np.testing.assert_array_equal(info["episode_return"], info["episode_length"])  # +1 per step
    # The trajectory had terminations, truncations and steps where several envs ended at once.
    assert np.asarray(ref_term).any() and np.asarray(ref_trunc).any()
    assert done.sum(axis=1).max() >= 4


def test_vecenv_reset_states_distinct_across_steps(cartpole_trajectory):
    _, _, _, obs0, _, (_, _, out) = cartpole_trajectory
    done = np.asarray(out[5]["episode_done"])
    fresh = np.concatenate([np.asarray(obs0), np.asarray(out[0])[done]])
    assert len(fresh) > 30
    assert_rows_distinct(fresh)


# --- (b) episode statistics against numpy, (d) determinism ------------------------------------

B_STEPS = 300


@pytest.fixture(scope="module")
def long_rollout():
    """A stochastic-step env with float rewards, 8 envs in chunks of 3, 300 steps."""
    env, params = NoisyWalk(), WalkParams()
    venv = VecEnv(env, 8, reset_chunk=3)
    run = jax.jit(rollout_fn(venv, B_STEPS))
    return run, params, run(jax.random.key(1), params)


def test_vecenv_episode_statistics_match_numpy(long_rollout):
    _, _, (_, _, (_, _, out)) = long_rollout
    _, state, reward, terminated, truncated, info = jax.tree.map(np.asarray, out)
    done = terminated | truncated
    expected_ret, expected_len, running_ret, running_len = python_episode_stats(reward, done)
    np.testing.assert_array_equal(info["episode_done"], done)
    np.testing.assert_array_equal(info["episode_length"], expected_len)
    np.testing.assert_allclose(info["episode_return"], expected_ret, rtol=1e-6)
    np.testing.assert_allclose(state.episode_return[-1], running_ret, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(state.episode_length[-1], running_len)
    assert (done.sum(axis=0) >= 5).all()  # every env finished several episodes


def test_vecenv_is_deterministic(long_rollout, fresh_compilation):
    run, params, first = long_rollout
    # Built, traced and compiled afresh (not the same executable run twice).
    rebuilt = jax.jit(rollout_fn(VecEnv(NoisyWalk(), 8, reset_chunk=3), B_STEPS))
    again = rebuilt(jax.random.key(1), params)
    jax.tree.map(np.testing.assert_array_equal, first, again)
    other = run(jax.random.key(2), params)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[2][2][0], other[2][2][0])


# --- dense resets (the accelerator path) --------------------------------------------------------


@pytest.mark.parametrize("env_id", ["CartPole-v1", "NoisyWalk"])
def test_vecenv_dense_resets_draw_from_per_env_keys(env_id):
    """The accelerator path: env j's reset state comes from ``split(key_reset, B)[j]``, every
    other row is the plain transition, and the statistics match the compact path's."""
    if env_id == "NoisyWalk":
        env, params = NoisyWalk(), WalkParams()
    else:
        env, params = rljax.make(env_id, max_steps_in_episode=12)
    num_envs, num_steps, key = 8, 60, jax.random.key(6)
    assert VecEnv(env, num_envs).resets_densely() == (jax.default_backend() != "cpu")
    venv = VecEnv(env, num_envs, reset_mode="dense")
    assert venv.resets_densely() and not VecEnv(env, 4, reset_mode="compact").resets_densely()
    _, _, (_, _, out) = jax.jit(rollout_fn(venv, num_steps))(key, params)
    obs, state, reward, terminated, truncated, info = jax.tree.map(np.asarray, out)
    done = terminated | truncated
    assert done.sum() > 2 * num_envs and done.sum(axis=1).max() >= 2  # resets, some together

    # The keys rollout_fn hands each step, and the reset key VecEnv derives from each.
    step_keys = jax.random.split(jax.random.split(key, 3)[2], num_steps)
    if env.stochastic_step:
        step_keys = jax.vmap(lambda k: jax.random.split(k)[1])(step_keys)
    draws = jax.vmap(
        lambda k: jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k, num_envs), params)
    )(step_keys)
    expected_obs = np.where(done[..., None], np.asarray(draws[0]), info["final_obs"])
    np.testing.assert_array_equal(obs, expected_obs)
    for new, fresh in zip(jax.tree.leaves(state.env_state), jax.tree.leaves(draws[1]), strict=True):
        np.testing.assert_array_equal(new[done], np.asarray(fresh)[done])
    expected_ret, expected_len, _, _ = python_episode_stats(reward, done)
    np.testing.assert_array_equal(info["episode_length"], expected_len)
    np.testing.assert_allclose(info["episode_return"], expected_ret, rtol=1e-6)


# --- (c) many envs ending in the same step ----------------------------------------------------


@pytest.fixture(
    scope="module",
    params=[(300, 64, "compact"), (40, 64, "compact"), (300, 64, "dense")],
    ids=["while-loop", "cond", "dense"],
)
def mass_ending(request):
    num_envs, reset_chunk, reset_mode = request.param
    env, params = rljax.make("CartPole-v1", max_steps_in_episode=50)
    venv = VecEnv(env, num_envs, reset_chunk=reset_chunk, reset_mode=reset_mode)

    @jax.jit
    def run(key, ending, params):
        """Envs where ``ending`` are one step from the time limit; one step; vmap reference."""
        _, state = venv.reset(jax.random.key(0), params)
        time = jnp.where(ending, params.max_steps_in_episode - 1, 0).astype(jnp.int32)
        state = state.replace(env_state=state.env_state.replace(time=time))
        action = jnp.zeros((num_envs,), jnp.int32)
        out = venv.step(key, state, action, params)
        ref = jax.vmap(env.step, in_axes=(None, 0, 0, None))(key, state.env_state, action, params)
        return out, ref

    return venv, params, run


@pytest.mark.parametrize("pattern", ["all", "first-128", "every-third", "one", "none"])
def test_vecenv_many_envs_end_in_one_step(mass_ending, pattern):
    venv, params, run = mass_ending
    n = venv.num_envs
    index = np.arange(n)
    ending = {
        "all": np.ones(n, bool),
        "first-128": index < 128,
        "every-third": index % 3 == 0,
        "one": index == n - 1,
        "none": np.zeros(n, bool),
    }[pattern]
    (obs, state, _, terminated, truncated, info), ref = run(jax.random.key(3), ending, params)
    done = np.asarray(terminated | truncated)
    # Starting near the upright, no pole falls in one step: exactly the chosen envs end.
    np.testing.assert_array_equal(done, ending)
    np.testing.assert_array_equal(info["final_obs"], ref[0])
    obs = np.asarray(obs)
    np.testing.assert_array_equal(obs[~done], np.asarray(ref[0])[~done])
    for new, old in zip(jax.tree.leaves(state.env_state), jax.tree.leaves(ref[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(new)[~done], np.asarray(old)[~done])
    if done.any():
        fresh = jax.tree.map(lambda x: np.asarray(x)[done], state.env_state)
        assert_valid_cartpole_resets(obs[done], fresh)
        assert_rows_distinct(obs[done])
        # Fresh states, not leftovers of the pool or the terminal observations.
        assert not (obs[done] == 0).all(axis=1).any()
        np.testing.assert_array_equal(state.returned_episode_length[done], 1)


@pytest.mark.parametrize(
    ("env_id", "num_envs", "overrides"),
    [
        ("EnergyManagement-v0", 300, {}),  # make_vec: 128-env chunks, several per step
        ("GridWorld-v0", 40, {"max_steps_in_episode": 5}),  # one chunk
    ],
)
def test_vecenv_deterministic_resets_all_truncate_together(env_id, num_envs, overrides):
    venv, params = make_vec(env_id, num_envs, **overrides)
    assert venv.reset_chunk == min(128, num_envs)
    env = venv.env
    horizon = int(params.max_steps_in_episode)
    obs0, state0, (_, _, out) = jax.jit(rollout_fn(venv, horizon + 2))(jax.random.key(4), params)
    obs, state, reward, terminated, truncated, info = jax.tree.map(np.asarray, out)
    done = terminated | truncated
    assert not done[: horizon - 1].any()
    assert truncated[horizon - 1].all() and not terminated.any()

    reset_obs, reset_state = jax.jit(env.reset)(jax.random.key(0), params)
    expected_obs = np.broadcast_to(np.asarray(reset_obs), obs[horizon - 1].shape)
    np.testing.assert_array_equal(obs0, expected_obs)
    np.testing.assert_array_equal(obs[horizon - 1], expected_obs)
    for new, ref in zip(
        jax.tree.leaves(state.env_state), jax.tree.leaves(reset_state), strict=True
    ):
        np.testing.assert_array_equal(new[horizon - 1], np.broadcast_to(ref, new.shape[1:]))
    # The terminal observations are the last step's, not the reset.
    assert not np.array_equal(info["final_obs"][horizon - 1], expected_obs)
    np.testing.assert_array_equal(info["final_obs"][: horizon - 1], obs[: horizon - 1])
    np.testing.assert_array_equal(info["episode_length"][horizon - 1], horizon)
    np.testing.assert_allclose(
        info["episode_return"][horizon - 1], reward[:horizon].sum(axis=0), rtol=1e-5
    )
    # The new episodes run on: lengths restart from the reset.
    np.testing.assert_array_equal(state.episode_length[horizon + 1], 2)


# --- (e) errors -------------------------------------------------------------------------------


def test_vecenv_rejects_wrong_action_batch():
    venv, params = make_vec("CartPole-v1", 4)
    _, state = venv.reset(jax.random.key(0), params)
    key = jax.random.key(1)
    for bad in (jnp.zeros((3,), jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((5, 4), jnp.int32)):
        with pytest.raises(TypeError) as excinfo:
            venv.step(key, state, bad, params)
        message = str(excinfo.value)
        assert "VecEnv of 4 envs" in message
        assert f"got shape {tuple(bad.shape)}" in message
        assert "Discrete(2)" in message
    # Right batch size, wrong per-env shape: the env's own check names the space.
    with pytest.raises(TypeError, match=r"Discrete\(2\)"):
        venv.step(key, state, jnp.zeros((4, 2), jnp.int32), params)
    with pytest.raises(TypeError, match=r"Discrete\(2\)"):
        venv.step(key, state, jnp.zeros((4,), jnp.float32), params)


@pytest.mark.parametrize(
    ("env_id", "expected"), [("CartPole-v1", "(4,)"), ("Pendulum-v1", "(4, 1)")]
)
def test_vecenv_action_error_names_expected_shape(env_id, expected):
    venv, params = make_vec(env_id, 4)
    _, state = venv.reset(jax.random.key(0), params)
    bad = jnp.zeros((3, *venv.action_space(params).shape), venv.action_space(params).dtype)
    with pytest.raises(TypeError) as excinfo:
        venv.step(jax.random.key(1), state, bad, params)
    assert f"actions of shape {expected}" in str(excinfo.value)


def test_vecenv_rejects_wrong_box_action_batch():
    venv, params = make_vec("EnergyManagement-v0", 3)
    _, state = venv.reset(jax.random.key(0), params)
    with pytest.raises(TypeError, match=r"3 envs"):
        venv.step(jax.random.key(1), state, jnp.zeros((2, 1), jnp.float32), params)
    with pytest.raises(TypeError, match=r"Box"):
        venv.step(jax.random.key(1), state, jnp.zeros((3,), jnp.float32), params)


def test_vecenv_constructor_errors():
    env, _ = rljax.make("CartPole-v1")
    with pytest.raises(ValueError, match="num_envs"):
        VecEnv(env, 0)
    with pytest.raises(ValueError, match="num_envs"):
        make_vec("CartPole-v1", 0)
    with pytest.raises(ValueError, match="reset_chunk"):
        VecEnv(env, 4, reset_chunk=0)
    with pytest.raises(ValueError, match=r"reset_mode='sparse' is not one of"):
        VecEnv(env, 4, reset_mode="sparse")
    with pytest.raises(ValueError, match="Did you mean"):
        make_vec("CartPole-v0", 4)
    venv, params = make_vec("CartPole-v1", 4, gravity=5.0)
    assert params.gravity == 5.0 and venv.num_envs == 4
    assert VecEnv(env, 10, reset_chunk=64).reset_chunk == 10


def test_vecenv_default_params():
    venv, params = make_vec("CartPole-v1", 3)
    key = jax.random.key(0)
    obs_a, state_a = venv.reset(key)
    obs_b, _ = venv.reset(key, params)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert obs_a.shape == (3, 4)
    assert venv.default_params == params
    assert venv.observation_space(params).shape == (4,)
    assert venv.action_space(params).shape == ()


# --- (f) vmap over seeds ----------------------------------------------------------------------


def test_vecenv_under_vmap_over_seeds():
    # Chunks of 4 for 16 envs: under vmap the reset while-loop gets a batched predicate.
    _, params, _, single = cartpole_run(4)
    run = rollout_fn(cartpole_run(4)[2], A_STEPS)
    keys = jax.random.split(jax.random.key(5), 3)
    batched = jax.jit(jax.vmap(run, in_axes=(0, None)))(keys, params)
    done = np.asarray(batched[2][2][5]["episode_done"])
    # Seeds finish different numbers of episodes per step (exercising batched control flow).
    assert done.sum(axis=(1, 2)).min() > 20
    assert not np.array_equal(done[0], done[1])
    for i in range(len(keys)):
        expected = single(keys[i], params)
        jax.tree.map(
            lambda b, s, i=i: np.testing.assert_array_equal(np.asarray(b)[i], s),
            batched,
            expected,
        )


# --- (g) finding the finished envs by rank ----------------------------------------------------


@pytest.mark.parametrize("num_envs", [1, 63, 64, 65, 300, 4096, 5000])
def test_finished_index_finds_envs_by_rank(num_envs):
    # Sizes around the 64-env block and past 64 blocks (the block ends are counted recursively).
    rng = np.random.default_rng(num_envs)
    for rate in (0.0, 0.02, 0.5, 1.0):
        done = rng.random(num_envs) < rate
        finished = FinishedIndex(jnp.asarray(done))
        expected_rows = np.flatnonzero(done)
        assert int(finished.count) == len(expected_rows)
        for first, count in ((0, 7), (3, 128), (max(len(expected_rows) - 2, 0), 5)):
            expected = np.full(count, num_envs)  # past the last finished env: num_envs (dropped)
            wanted = expected_rows[first : first + count]
            expected[: len(wanted)] = wanted
            got = np.asarray(finished.lookup(first, count))
            np.testing.assert_array_equal(got, expected, err_msg=f"rate {rate}, first {first}")


# --- multi-agent environments and two-player games through make_vec ---------------------------


@pytest.mark.parametrize("env_id", ["TreasureHunt-v0", "Tag-v0"])
@pytest.mark.parametrize("reset_mode", ["compact", "dense"])
def test_make_vec_multi_agent(env_id, reset_mode):
    """Per-agent rewards [B, N]; the statistics add up team 0's reward; time-limit resets."""
    num_envs, steps, limit = 3, 14, 4
    venv, params = make_vec(env_id, num_envs, max_steps_in_episode=limit)
    venv.reset_mode = reset_mode
    num_agents = venv.env.num_agents
    obs, state = venv.reset(jax.random.key(0), params)
    assert obs.shape[:2] == (num_envs, num_agents)
    space = venv.action_space(params)

    @jax.jit
    def rollout(key, state, params):
        def body(state, key):
            key_act, key_step = jax.random.split(key)
            action = space.sample_batch(key_act, num_envs)
            obs, state, reward, terminated, truncated, info = venv.step(
                key_step, state, action, params
            )
            return state, (obs, reward, terminated, truncated, info)

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1]

    obs, reward, terminated, truncated, info = jax.device_get(
        rollout(jax.random.key(1), state, params)
    )
    assert obs.shape[:3] == (steps, num_envs, num_agents)
    assert reward.shape == (steps, num_envs, num_agents) and reward.dtype == np.float32
    assert terminated.shape == truncated.shape == (steps, num_envs)
    assert info["episode_return"].shape == (steps, num_envs)
    done = terminated | truncated
    np.testing.assert_array_equal(info["episode_done"], done)
    # Every episode is cut at the time limit at the latest, and then starts again.
    assert done.any(axis=0).all()
    running, length = np.zeros(num_envs, np.float32), np.zeros(num_envs, np.int32)
    for t in range(steps):
        running += reward[t, :, 0]
        length += 1
        assert (length <= limit).all()
        for b in np.flatnonzero(done[t]):
            assert info["episode_return"][t, b] == pytest.approx(running[b])
            assert info["episode_length"][t, b] == length[b]
            running[b], length[b] = 0.0, 0
    np.testing.assert_array_equal(truncated, truncated & (info["episode_length"] == limit))


def test_make_vec_board_game_counts_player_0():
    venv, params = make_vec("TicTacToe-v0", 4)
    _, state = venv.reset(jax.random.key(0), params)
    step = jax.jit(venv.step)
    # Player 0 plays cells 0, 1, 2 (top row) while player 1 plays 3, 4: player 0 wins on ply 5.
    for ply, cell in enumerate([0, 3, 1, 4, 2]):
        action = jnp.full((4,), cell, jnp.int32)
        _, state, reward, terminated, _, info = step(jax.random.key(ply), state, action, params)
    assert reward.shape == (4, 2)
    np.testing.assert_array_equal(reward, np.tile([1.0, -1.0], (4, 1)))
    assert terminated.all()
    np.testing.assert_array_equal(info["episode_return"], np.ones(4))
    np.testing.assert_array_equal(info["episode_length"], np.full(4, 5))
