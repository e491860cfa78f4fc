"""The episode runner: whole episodes against a step-by-step loop, frozen after the end, both kinds
of ending, team-0 returns of multi-agent environments, and the recorded layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.treasure_hunt import greedy_actions
from rljax.learning.episodes import play_episode, run_episodes, time_limit

KEY = jax.random.key(0)
LEFT = lambda key, state, obs: jnp.int32(0)  # CartPole: always push left, falls within ~10 steps


def _reference(env, params, policy, key, max_steps):
    """The episode played step by step on the host, with the runner's keys."""
    key_reset, key_run = jax.random.split(key)
    obs, state = env.reset(key_reset, params)
    total, length, terminated = 0.0, 0, False
    for key_t in jax.random.split(key_run, max_steps):
        key_act, key_step = jax.random.split(key_t)
        action = policy(key_act, state, obs)
        obs, state, reward, term, trunc, _ = env.step(key_step, state, action, params)
        total += float(np.asarray(reward).reshape(-1)[0])
        length += 1
        if bool(term) or bool(trunc):
            terminated = bool(term)
            break
    return total, length, terminated


@pytest.fixture(scope="module")
def cartpole():
    return rljax.make("CartPole-v1")


def test_single_agent_episode_matches_the_step_loop_and_freezes(cartpole):
    env, params = cartpole
    play = jax.jit(lambda k: play_episode(env, params, LEFT, k, 40, record=True))
    out = play(KEY)
    total, length, terminated = _reference(env, params, LEFT, KEY, 40)
    assert int(out["length"]) == length < 40 and bool(out["terminated"]) is terminated is True
    np.testing.assert_allclose(out["return"], total, rtol=1e-6)
    traj = out["trajectory"]
    assert traj["actions"].shape == traj["rewards"].shape == traj["active"].shape == (40,)
    np.testing.assert_array_equal(traj["active"], np.arange(40) < length)
    np.testing.assert_array_equal(
        traj["initial_obs"], env.reset(jax.random.split(KEY)[0], params)[0]
    )
    # After the end nothing moves: every later state and observation is the last one.
    for leaf in jax.tree.leaves((traj["states"], traj["obs"])):
        np.testing.assert_array_equal(
            leaf[length:], np.broadcast_to(leaf[length - 1], leaf[length:].shape)
        )


def test_truncation_and_the_step_budget_are_not_termination(cartpole):
    env, params = cartpole
    alternate = lambda key, state, obs: (obs[2] > 0).astype(jnp.int32)  # push towards the lean
    short = params.replace(max_steps_in_episode=5)
    out = jax.jit(lambda k: play_episode(env, short, alternate, k, 20))(KEY)
    assert int(out["length"]) == 5 and not bool(out["terminated"])
    np.testing.assert_allclose(out["return"], 5.0)
    cut = jax.jit(lambda k: play_episode(env, params, alternate, k, 3))(KEY)  # budget < limit
    assert int(cut["length"]) == 3 and not bool(cut["terminated"])


def test_run_episodes_plays_one_key_each_up_to_the_time_limit(cartpole):
    env, params = cartpole
    params = params.replace(max_steps_in_episode=30)
    assert time_limit(params) == 30 and time_limit(object(), default=7) == 7
    policy = lambda key, state, obs: jax.random.bernoulli(key).astype(jnp.int32)
    batch = jax.jit(lambda k: run_episodes(env, params, policy, k, 4))(KEY)
    assert batch["return"].shape == batch["length"].shape == batch["terminated"].shape == (4,)
    for i, key in enumerate(jax.random.split(KEY, 4)):
        total, length, terminated = _reference(env, params, policy, key, 30)
        assert int(batch["length"][i]) == length and bool(batch["terminated"][i]) is terminated
        np.testing.assert_allclose(batch["return"][i], total, rtol=1e-6)
    assert len(set(np.asarray(batch["length"]).tolist())) > 1  # the episodes differ


def test_multi_agent_episode_counts_team_zeros_reward():
    env, params = rljax.make("TreasureHunt-v0", size=5, num_agents=2, num_treasures=2)
    greedy = lambda key, state, obs: greedy_actions(state, params)
    out = jax.jit(lambda k: play_episode(env, params, greedy, k, 30, record=True))(KEY)
    traj = out["trajectory"]
    assert traj["actions"].shape == traj["rewards"].shape == (30, 2)
    active = np.asarray(traj["active"])
    np.testing.assert_allclose(
        out["return"], np.asarray(traj["rewards"])[active, 0].sum(), rtol=1e-6
    )
    assert bool(out["terminated"])  # the heuristic collects every treasure
    total, length, terminated = _reference(env, params, greedy, KEY, 30)
    assert int(out["length"]) == length and terminated
    np.testing.assert_allclose(out["return"], total, rtol=1e-6)
