"""Lagrangian PPO: the multiplier's controllers by hand, episode costs across rollouts, the
config's checks, and learning on a constrained MDP whose answer is known (ToyConstrained-v0:
under a budget of 3 the best return is 3, without it 10)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import toy_envs  # noqa: F401  (registers ToyConstrained-v0)

from rljax.learning import lagrangian
from rljax.train import ppo_lagrangian

GAINS = lagrangian.MultiplierGains(
    budget=jnp.float32(2.0), initial=jnp.float32(0.5), kp=jnp.float32(0.3),
    ki=jnp.float32(0.1), kd=jnp.float32(0.2), ema=jnp.float32(0.5),
)  # fmt: skip


def run_controller(kind, costs):
    state = lagrangian.init_multiplier(GAINS.initial)
    values = []
    for cost in costs:
        state = lagrangian.update_multiplier(kind, state, jnp.float32(cost), GAINS)
        values.append(float(state.value))
    return values


def test_dual_ascent_integrates_the_violation_and_stays_non_negative():
    # 0.5 + 0.1 * (4 - 2) = 0.7; 0.7 + 0.1 * (0 - 2) = 0.5; 0.5 - 0.1 * 8 -> clipped at 0.
    np.testing.assert_allclose(run_controller("dual", [4.0, 0.0, -6.0]), [0.7, 0.5, 0.0], atol=1e-6)


def test_pid_adds_the_smoothed_violation_and_the_rise_of_the_smoothed_cost():
    values = run_controller("pid", [4.0, 6.0, 2.0])
    # Step 1: I = 0.5 + 0.2 = 0.7, P = 2 (the first measurement sets the EMAs), no rise:
    # 0.3 * 2 + 0.7 = 1.3.
    # Step 2: I = 0.7 + 0.4 = 1.1, P = 0.5 * 2 + 0.5 * 4 = 3, cost EMA 4 -> 5 (rise 1):
    # 0.3 * 3 + 1.1 + 0.2 * 1 = 2.2.
    # Step 3: I = 1.1 + 0 = 1.1, P = 0.5 * 3 + 0.5 * 0 = 1.5, cost EMA 5 -> 3.5 (a fall: no D):
    # 0.3 * 1.5 + 1.1 = 1.55.
    np.testing.assert_allclose(values, [1.3, 2.2, 1.55], atol=1e-6)


def test_fixed_stays_and_a_missing_measurement_changes_nothing():
    assert run_controller("fixed", [9.0, 0.0]) == [0.5, 0.5]
    state = lagrangian.init_multiplier(GAINS.initial)
    state = lagrangian.update_multiplier("pid", state, jnp.float32(4.0), GAINS)
    same = lagrangian.update_multiplier("pid", state, jnp.float32(jnp.nan), GAINS)
    jax.tree.map(np.testing.assert_array_equal, same, state)
    with pytest.raises(ValueError, match="'pi'"):
        lagrangian.update_multiplier("pi", state, jnp.float32(1.0), GAINS)


def test_episode_costs_carry_across_rollouts():
    cost = jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    done = jnp.array([[False, True], [True, False], [False, True]])
    ended, running = ppo_lagrangian.finished_episode_costs(cost, done, jnp.array([5.0, 0.0]))
    # env 0: 5 carried + 1 + 1 ends at step 1, then 0 runs on; env 1: 0 ends at 0, 1 + 1 at 2.
    np.testing.assert_array_equal(ended, [[0.0, 0.0], [7.0, 0.0], [0.0, 2.0]])
    np.testing.assert_array_equal(running, [0.0, 0.0])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"env_id": "CartPole-v1"}, "constraint_cost"),
        ({"multiplier": "pi"}, "multiplier"),
        ({"cost_budget": -1.0}, "cost_budget"),
        ({"pid_ema": 0.0}, "pid_ema"),
    ],
)
def test_bad_settings_name_the_field(override, match):
    with pytest.raises(ValueError, match=match):
        ppo_lagrangian.Config(**{"env_id": "ToyConstrained-v0", **override}).validate()


TOY = ppo_lagrangian.Config(
    env_id="ToyConstrained-v0", num_envs=16, num_steps=20, total_timesteps=16 * 20 * 100,
    cost_budget=3.0, lr=3e-3, ent_coef=0.0, hidden_sizes=(32, 32),
)  # fmt: skip


@pytest.fixture(scope="module")
def toy_runs():
    """The episode costs ``[updates]`` of a PID and a dual-ascent run on ToyConstrained-v0."""
    costs = {}
    for kind in ("pid", "dual"):
        config = dataclasses.replace(TOY, multiplier=kind)
        result = jax.jit(ppo_lagrangian.make_train(config))(jax.random.key(0))
        costs[kind] = np.asarray(result.metrics["episode_cost"])
        returns = np.asarray(result.metrics["episode_return"])
        np.testing.assert_array_equal(returns, costs[kind])  # reward = cost = action here
    return costs


def test_pid_lagrangian_settles_near_the_budget_where_dual_ascent_swings(toy_runs):
    late = slice(75, None)  # the last quarter of the run
    pid, dual = toy_runs["pid"][late], toy_runs["dual"][late]
    # The unconstrained answer is cost 10, the all-safe one 0: PID holds the budget (3) within
    # one step of cost, on average and in every late update.
    assert 2.0 <= pid.mean() <= 3.6, pid
    assert np.all(np.abs(pid - 3.0) < 1.5), pid
    # Plain dual ascent lags the cost: it swings between the extremes instead.
    assert dual.max() - dual.min() > 3 * (pid.max() - pid.min()), (dual, pid)


def test_evaluation_reports_the_episode_cost():
    """The greedy evaluation's constraint cost is the episodes' sum: on ToyConstrained-v0 a
    policy's return and cost are the same number (reward = cost = action)."""
    config = dataclasses.replace(TOY, total_timesteps=16 * 20 * 2)
    state = jax.jit(ppo_lagrangian.make_init(config))(jax.random.key(1))
    figures = ppo_lagrangian.ALGORITHM.evaluate_policy(config, state, 8, jax.random.key(2), 10)
    np.testing.assert_allclose(figures["mean_constraint_cost"], figures["returns"].mean())
    rate = float((figures["returns"] > 0).mean())
    assert figures["constraint_cost_episode_rate"] == rate
