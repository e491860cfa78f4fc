"""Wrappers: AutoReset, EpisodeStatistics, NormalizeObservation, DomainRandomization, Flatten.

Trajectories are compared with hand-driven Python loops of the bare environment. Params are
passed to jitted functions as arguments (not closed over) wherever results are compared bitwise:
closed-over params become constants that XLA folds, which can change the last float32 bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import rljax
from rljax import spaces
from rljax.env import Environment
from rljax.wrappers import (
    AutoReset,
    DomainRandomization,
    EpisodeStatistics,
    FlattenObservation,
    NormalizeObservation,
)

T = 120  # steps of the single-environment trajectories


# --- toy environments -------------------------------------------------------------------------


@struct.dataclass
class WalkState:
    pos: jax.Array
    time: jax.Array


@struct.dataclass
class WalkParams:
    noise: float = 0.5
    max_steps_in_episode: int = 10


class NoisyWalk(Environment):
    """A random walk whose step consumes its key (``stochastic_step = True``).

    Terminates when ``|pos| > 1.5``, truncates after ``max_steps_in_episode`` steps.
    """

    stochastic_step = True

    @property
    def default_params(self):
        return WalkParams()

    def reset_env(self, key, params):
        pos = jax.random.uniform(key, (), jnp.float32, -1.0, 1.0)
        state = WalkState(pos, jnp.zeros((), jnp.int32))
        return self._obs(state), state

    def step_env(self, key, state, action, params):
        move = jnp.where(action == 1, 0.1, -0.1) + params.noise * jax.random.normal(key)
        state = WalkState(state.pos + move, state.time + 1)
        terminated = jnp.abs(state.pos) > 1.5
        truncated = state.time >= params.max_steps_in_episode
        reward = (1.0 - jnp.abs(state.pos)).astype(jnp.float32)
        return self._obs(state), state, reward, terminated, truncated, {"pos": state.pos}

    def _obs(self, state):
        return jnp.stack([state.pos, state.time.astype(jnp.float32)])

    def observation_space(self, params):
        return spaces.Box(-jnp.inf, jnp.inf, (2,))

    def action_space(self, params):
        return spaces.Discrete(2)


@struct.dataclass
class GaussParams:
    offset: float = 100.0
    scale: float = 3.0


class GaussianObs(Environment):
    """Never ends; observations ``offset + scale * N(0, 1)``, shape ``[2, 3]``."""

    stochastic_step = True

    @property
    def default_params(self):
        return GaussParams()

    def _draw(self, key, params):
        return params.offset + params.scale * jax.random.normal(key, (2, 3), jnp.float32)

    def reset_env(self, key, params):
        return self._draw(key, params), jnp.zeros((), jnp.int32)

    def step_env(self, key, state, action, params):
        false = jnp.zeros((), jnp.bool_)
        return self._draw(key, params), state + 1, jnp.float32(0.0), false, false, {}

    def observation_space(self, params):
        low = jnp.arange(6, dtype=jnp.float32).reshape(2, 3) - 10.0
        return spaces.Box(low, jnp.inf, (2, 3))

    def action_space(self, params):
        return spaces.Discrete(2)


def _env_keys_actions(seed: int, num_steps: int = T, num_actions: int = 2):
    key_reset, key_steps, key_actions = jax.random.split(jax.random.key(seed), 3)
    keys = jax.random.split(key_steps, num_steps)
    actions = jax.random.randint(key_actions, (num_steps,), 0, num_actions, jnp.int32)
    return key_reset, keys, actions


def _scan(env):
    """Jitted ``(key_reset, keys [T], actions [T], params) -> (obs0, state0, outputs, states)``."""

    @jax.jit
    def run(key_reset, keys, actions, params):
        obs0, state0 = env.reset(key_reset, params)

        def body(state, inputs):
            key, action = inputs
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            return state, ((obs, reward, terminated, truncated, info), state)

        _, (out, states) = jax.lax.scan(body, state0, (keys, actions))
        return obs0, state0, out, states

    return run


def _bare_loop(env, params, key_reset, keys, actions):
    """Hand-driven auto-reset with the bare env; mirrors AutoReset's key handling."""
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    obs, state = reset(key_reset, params)
    rows = []
    actions = np.asarray(actions)
    for t in range(len(actions)):
        key, action = keys[t], jnp.int32(actions[t])
        if env.stochastic_step:
            key_step, key_reset_t = jax.random.split(key)
        else:
            key_step = key_reset_t = key
        obs, state, reward, terminated, truncated, info = step(key_step, state, action, params)
        final_obs = obs
        done = bool(terminated) or bool(truncated)
        if done:
            obs, state = reset(key_reset_t, params)
        rows.append((np.asarray(obs), np.asarray(final_obs), reward, terminated, truncated, done))
    return rows


# --- AutoReset --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_factory",
    [
        lambda: rljax.make("CartPole-v1", max_steps_in_episode=20),
        lambda: (NoisyWalk(), WalkParams()),
    ],
    ids=["CartPole-deterministic-step", "NoisyWalk-stochastic-step"],
)
def test_autoreset_matches_hand_driven_loop(env_factory):
    env, params = env_factory()
    key_reset, keys, actions = _env_keys_actions(1, 80)
    obs0, _, out, _ = _scan(AutoReset(env))(key_reset, keys, actions, params)
    obs, reward, terminated, truncated, info = jax.tree.map(np.asarray, out)

    bare_obs0, _ = env.reset(key_reset, params)
    np.testing.assert_array_equal(obs0, bare_obs0)
    expected = _bare_loop(env, params, key_reset, keys, actions)
    num_terminated = num_truncated = 0
    for t, (e_obs, e_final, e_reward, e_term, e_trunc, e_done) in enumerate(expected):
        np.testing.assert_array_equal(obs[t], e_obs, err_msg=f"obs at step {t}")
        np.testing.assert_array_equal(info["final_obs"][t], e_final, err_msg=f"final_obs {t}")
        assert reward[t] == e_reward and terminated[t] == e_term and truncated[t] == e_trunc
        if not e_done:
            np.testing.assert_array_equal(info["final_obs"][t], obs[t])
        num_terminated += bool(e_term)
        num_truncated += bool(e_trunc)
    # The trajectory exercised both kinds of ending.
    assert num_terminated >= 1 and num_truncated >= 1
    # The wrapped env's own info entries pass through.
    if isinstance(env, NoisyWalk):
        assert set(info) == {"pos", "final_obs"}
        np.testing.assert_array_equal(info["pos"], info["final_obs"][:, 0])


def test_autoreset_ending_step_returns_fresh_reset():
    # Force a truncation on the first step and inspect it directly.
    env, params = rljax.make("CartPole-v1", max_steps_in_episode=1)
    wrapped = AutoReset(env)
    key = jax.random.key(7)
    _, state = wrapped.reset(jax.random.key(0), params)
    obs, new_state, reward, terminated, truncated, info = jax.jit(wrapped.step)(
        key, state, jnp.int32(1), params
    )
    bare_obs, bare_state, *_ = env.step(key, state, jnp.int32(1), params)
    reset_obs, reset_state = env.reset(key, params)
    assert bool(truncated) and not bool(terminated) and float(reward) == 1.0
    np.testing.assert_array_equal(info["final_obs"], bare_obs)
    np.testing.assert_array_equal(obs, reset_obs)
    assert int(new_state.time) == 0 and int(bare_state.time) == 1
    jax.tree.map(np.testing.assert_array_equal, new_state, reset_state)
    assert not np.array_equal(obs, bare_obs)


# --- EpisodeStatistics ------------------------------------------------------------------------


def _python_episode_stats(reward, done):
    """Per step: (episode_return, episode_length) of the last finished episode, float32 sums."""
    ret, length = np.float32(0.0), 0
    last_ret, last_len = np.float32(0.0), 0
    rows = []
    for r, d in zip(reward, done, strict=True):
        ret = np.float32(ret + np.float32(r))
        length += 1
        if d:
            last_ret, last_len = ret, length
            ret, length = np.float32(0.0), 0
        rows.append((last_ret, last_len))
    return np.array([r for r, _ in rows], np.float32), np.array([n for _, n in rows], np.int32)


@pytest.mark.parametrize(
    "env_factory",
    [
        lambda: rljax.make("CartPole-v1", max_steps_in_episode=30),
        lambda: (NoisyWalk(), WalkParams()),
        lambda: rljax.make("Pendulum-v1", max_steps_in_episode=17),
    ],
    ids=["CartPole", "NoisyWalk", "Pendulum"],
)
def test_episode_statistics_match_python_loop(env_factory):
    env, params = env_factory()
    num_actions = 2
    wrapped = EpisodeStatistics(AutoReset(env))
    key_reset, keys, actions = _env_keys_actions(3, num_actions=num_actions)
    if isinstance(env.action_space(params), spaces.Box):
        actions = jax.random.uniform(jax.random.key(4), (T, 1), jnp.float32, -2.0, 2.0)
    _, state0, out, _ = _scan(wrapped)(key_reset, keys, actions, params)
    _, reward, terminated, truncated, info = jax.tree.map(np.asarray, out)
    done = terminated | truncated
    assert float(state0.returned_episode_return) == 0.0
    assert int(state0.returned_episode_length) == 0

    expected_ret, expected_len = _python_episode_stats(reward, done)
    np.testing.assert_array_equal(info["episode_done"], done)
    np.testing.assert_array_equal(info["episode_length"], expected_len)
    np.testing.assert_allclose(info["episode_return"], expected_ret, rtol=1e-6, atol=0)
    assert done.sum() >= 3
    if env.name == "CartPole-v1":
        # +1 per step: a finished episode's return is its length.
        np.testing.assert_array_equal(info["episode_return"][done], info["episode_length"][done])


# --- NormalizeObservation ---------------------------------------------------------------------


def _expected_running_stats(observations, prior_count=1e-4):
    """Mean / population variance of ``observations`` pooled with a prior (mean 0, var 1)."""
    x = np.asarray(observations, np.float64)
    n = x.shape[0]
    total = n + prior_count
    mean = x.sum(axis=0) / total
    data_mean = x.mean(axis=0)
    m2 = prior_count * 1.0 + ((x - data_mean) ** 2).sum(axis=0)
    m2 += prior_count * n / total * data_mean**2
    return mean, m2 / total


def test_normalize_observation_running_stats_match_numpy():
    env, params = rljax.make("CartPole-v1", max_steps_in_episode=30)
    inner = AutoReset(env)
    wrapped = NormalizeObservation(inner, clip=None)
    key_reset, keys, actions = _env_keys_actions(5)
    obs0, _, out, states = _scan(wrapped)(key_reset, keys, actions, params)
    raw_obs0, _, raw_out, _ = _scan(inner)(key_reset, keys, actions, params)
    raw_obs = np.asarray(raw_out[0])
    raw_final = np.asarray(raw_out[4]["final_obs"])
    seen = np.concatenate([np.asarray(raw_obs0)[None], raw_obs])  # the reset obs counts too

    for t in (9, T - 1):
        mean, var = _expected_running_stats(seen[: t + 2])
        np.testing.assert_allclose(states.stats.mean[t], mean, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(states.stats.var[t], var, rtol=1e-4)
        np.testing.assert_allclose(states.stats.count[t], t + 2 + 1e-4, rtol=1e-6)
    # With many observations the prior no longer matters: plain numpy mean / var.
    np.testing.assert_allclose(states.stats.mean[-1], seen.mean(axis=0), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(states.stats.var[-1], seen.var(axis=0), rtol=1e-3)

    # Each returned obs (and final_obs) is normalised with the statistics that include it.
    obs, _, _, _, info = jax.tree.map(np.asarray, out)
    scale = np.sqrt(np.asarray(states.stats.var) + wrapped.epsilon)
    np.testing.assert_allclose(obs, (raw_obs - states.stats.mean) / scale, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        info["final_obs"], (raw_final - states.stats.mean) / scale, rtol=1e-5, atol=1e-5
    )
    done = np.asarray(out[2]) | np.asarray(out[3])
    assert done.any()
    assert not np.allclose(info["final_obs"][done], obs[done])
    assert obs.dtype == np.float32 and np.asarray(obs0).dtype == np.float32


@pytest.fixture(scope="module")
def gaussian_rollout():
    """Jitted ``(params, clip) -> normalised obs [T, 2, 3]`` of GaussianObs, 400 steps."""

    def make(clip):
        wrapped = NormalizeObservation(GaussianObs(), clip=clip)
        run = _scan(wrapped)

        def call(params):
            key_reset, keys, actions = _env_keys_actions(6, num_steps=400)
            _, _, out, _ = run(key_reset, keys, actions, params)
            return np.asarray(out[0]), wrapped

        return call

    return make


def test_normalize_observation_standardises_offset_stream(gaussian_rollout):
    obs, wrapped = gaussian_rollout(None)(GaussParams(offset=50.0, scale=0.5))
    late = obs[100:]
    assert np.abs(late.mean(axis=0)).max() < 0.2
    assert np.abs(late.var(axis=0) - 1.0).max() < 0.25
    assert wrapped.observation_space(GaussParams()).shape == (2, 3)
    assert np.isinf(np.asarray(wrapped.observation_space(GaussParams()).high)).all()


def test_normalize_observation_clip(gaussian_rollout):
    obs, wrapped = gaussian_rollout(0.5)(GaussParams())
    assert np.abs(obs).max() == np.float32(0.5)
    assert (np.abs(obs) == 0.5).mean() > 0.2  # clipping is active, not a fluke
    space = wrapped.observation_space(GaussParams())
    np.testing.assert_array_equal(space.low, np.full((2, 3), -0.5, np.float32))
    np.testing.assert_array_equal(space.high, np.full((2, 3), 0.5, np.float32))
    assert bool(jnp.all(jax.vmap(space.contains)(obs)))


def test_normalize_observation_reset_obs_normalised():
    env, params = rljax.make("CartPole-v1")
    wrapped = NormalizeObservation(env)
    obs, state = wrapped.reset(jax.random.key(0), params)
    raw, _ = env.reset(jax.random.key(0), params)
    np.testing.assert_allclose(state.stats.mean, np.asarray(raw) / (1 + 1e-4), rtol=1e-5)
    assert float(state.stats.count) == pytest.approx(1.0 + 1e-4)
    expected = (np.asarray(raw) - state.stats.mean) / np.sqrt(state.stats.var + wrapped.epsilon)
    np.testing.assert_allclose(obs, expected, rtol=1e-5, atol=1e-7)


# --- DomainRandomization ----------------------------------------------------------------------

RANGES = {"force_mag": (5.0, 15.0), "masspole": (0.05, 0.5), "max_steps_in_episode": (10, 20)}


@pytest.fixture(scope="module")
def randomized():
    env, params = rljax.make("CartPole-v1")
    wrapped = DomainRandomization(env, RANGES)

    @jax.jit
    def run(keys, params):
        _, states = jax.vmap(wrapped.reset, (0, None))(keys, params)
        # Every env starts from the same physical state, with its own drawn parameters.
        common = jax.tree.map(lambda x: jnp.broadcast_to(x[0], x.shape), states.env_state)
        states = states.replace(env_state=common)
        action = jnp.ones((keys.shape[0],), jnp.int32)
        step_keys = jax.random.split(jax.random.key(1), keys.shape[0])
        out = jax.vmap(wrapped.step, (0, 0, 0, None))(step_keys, states, action, params)
        bare = jax.vmap(env.step)(step_keys, common, action, states.params)
        return states, out, bare

    keys = jax.random.split(jax.random.key(0), 64)
    return env, params, wrapped, run(keys, params)


def test_domain_randomization_draws_in_ranges_and_differs(randomized):
    env, params, _, (states, _, _) = randomized
    drawn = states.params
    for name, (low, high) in RANGES.items():
        values = np.asarray(getattr(drawn, name))
        assert values.shape == (64,)
        assert (values >= low).all() and (values <= high).all(), name
        assert len(np.unique(values)) > (8 if name == "max_steps_in_episode" else 60), name
    assert np.asarray(drawn.max_steps_in_episode).dtype == np.int32
    # Fields that are not randomised keep the given params.
    np.testing.assert_array_equal(drawn.gravity, np.full(64, params.gravity, np.float32))


def test_domain_randomization_params_drive_dynamics(randomized):
    _, _, _, (states, out, bare) = randomized
    next_obs = np.asarray(out[0])
    # Same state and action, different force / mass: different next velocities.
    assert len(np.unique(next_obs[:, 1])) > 60
    # Exactly the bare transition under the drawn params.
    jax.tree.map(np.testing.assert_array_equal, out[0], bare[0])
    jax.tree.map(np.testing.assert_array_equal, out[1].env_state, bare[1])
    jax.tree.map(np.testing.assert_array_equal, out[1].params, states.params)


def test_domain_randomization_redraws_at_each_reset():
    env, params = rljax.make("CartPole-v1", max_steps_in_episode=5)
    wrapped = AutoReset(DomainRandomization(env, {"force_mag": (5.0, 15.0)}))
    _, state0, _, states = _scan(wrapped)(*_env_keys_actions(8, 15), params)
    force = np.concatenate([[state0.params.force_mag], np.asarray(states.params.force_mag)])
    # Episodes of 5 steps (unless the pole falls first): constant within, new at each reset.
    time = np.concatenate([[0], np.asarray(states.env_state.time)])
    starts = np.flatnonzero(time == 0)
    assert len(starts) >= 3
    for a, b in zip(starts, np.append(starts[1:], len(time)), strict=True):
        assert len(np.unique(force[a:b])) == 1
    assert len(np.unique(force[starts])) == len(starts)


def test_domain_randomization_errors():
    env, _ = rljax.make("CartPole-v1")
    with pytest.raises(ValueError) as excinfo:
        DomainRandomization(env, {"gravityy": (1.0, 2.0)})
    message = str(excinfo.value)
    assert "'gravityy'" in message and "Allowed" in message
    for field in ("gravity", "masspole", "force_mag"):
        assert field in message
    with pytest.raises(ValueError, match="low <= high"):
        DomainRandomization(env, {"gravity": (2.0, 1.0)})
    with pytest.raises(ValueError):
        DomainRandomization(env, {})


# --- FlattenObservation -----------------------------------------------------------------------


def test_flatten_observation():
    env, params = GaussianObs(), GaussParams()
    wrapped = FlattenObservation(AutoReset(env))
    key_reset, keys, actions = _env_keys_actions(9, 3)
    obs0, _, out, _ = _scan(wrapped)(key_reset, keys, actions, params)
    assert obs0.shape == (6,)
    assert out[0].shape == (3, 6) and out[4]["final_obs"].shape == (3, 6)
    np.testing.assert_array_equal(obs0, np.ravel(env.reset(key_reset, params)[0]))
    # GaussianObs draws its observation from the step key (AutoReset splits it: stochastic step).
    raw = env._draw(jax.random.split(keys[0])[0], params)
    np.testing.assert_array_equal(out[0][0], np.ravel(raw))
    np.testing.assert_array_equal(out[4]["final_obs"][0], np.ravel(raw))
    space = wrapped.observation_space(params)
    assert isinstance(space, spaces.Box) and space.shape == (6,)
    np.testing.assert_array_equal(space.low, np.arange(6, dtype=np.float32) - 10.0)
    assert bool(space.contains(obs0))

    with pytest.raises(TypeError, match="Box"):
        FlattenObservation(_DiscreteObs()).observation_space(None)


class _DiscreteObs(GaussianObs):
    def observation_space(self, params):
        return spaces.Discrete(3)


# --- the full stack under vmap ----------------------------------------------------------------


def test_vmapped_stack_equals_python_loop_bitwise():
    env, params = rljax.make("CartPole-v1", max_steps_in_episode=20)
    wrapped = EpisodeStatistics(AutoReset(env))
    num_envs, num_steps = 4, 60

    @jax.jit
    def run(key, params):
        key_reset, key_actions, key_steps = jax.random.split(key, 3)
        obs0, state = jax.vmap(wrapped.reset, (0, None))(
            jax.random.split(key_reset, num_envs), params
        )
        actions = jax.random.randint(key_actions, (num_steps, num_envs), 0, 2)
        keys = jax.random.split(key_steps, (num_steps, num_envs))

        def body(state, inputs):
            key, action = inputs
            out = jax.vmap(wrapped.step, (0, 0, 0, None))(key, state, action, params)
            return out[1], (out[0], *out[2:])

        return obs0, actions, keys, jax.lax.scan(body, state, (keys, actions))[1]

    key = jax.random.key(10)
    obs0, actions, keys, (obs, reward, terminated, truncated, info) = run(key, params)
    reset_keys = jax.random.split(jax.random.split(key, 3)[0], num_envs)
    reset, step = jax.jit(wrapped.reset), jax.jit(wrapped.step)
    actions = np.asarray(actions)
    for b in range(num_envs):
        o, state = reset(reset_keys[b], params)
        np.testing.assert_array_equal(o, obs0[b])
        for t in range(num_steps):
            o, state, r, te, tr, inf = step(keys[t, b], state, jnp.int32(actions[t, b]), params)
            np.testing.assert_array_equal(o, obs[t, b], err_msg=f"env {b} step {t}")
            assert r == reward[t, b] and te == terminated[t, b] and tr == truncated[t, b]
            for name in ("final_obs", "episode_return", "episode_length", "episode_done"):
                np.testing.assert_array_equal(inf[name], info[name][t, b], err_msg=name)
    assert np.asarray(info["episode_done"]).sum() >= num_envs
