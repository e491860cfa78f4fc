"""rljax.energy.baselines on held-out EnergyManagement-v1 days: no controller beats perfect
foresight, MPC with a perfect forecast of the whole day is the optimum, and the controllers rank
as an engineer expects (MPC below the rule, the rule below idling)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rljax.energy import baselines, profiles
from rljax.env import make

NUM_DAYS = 16


@pytest.fixture(scope="module")
def days_and_optimum():
    env, params = make("EnergyManagement-v1")
    keys = profiles.evaluation_keys(NUM_DAYS)
    optimum = jax.jit(lambda k: baselines.perfect_foresight_costs(k, params))(keys)
    return env, params, keys, np.asarray(optimum)


def costs_of(controller, env, params, keys):
    policy = baselines.controller_policy(controller, params)
    return jax.tree.map(
        np.asarray, jax.jit(lambda k: baselines.episode_costs(policy, k, params, env))(keys)
    )


def test_mpc_with_a_perfect_forecast_of_the_whole_day_is_the_optimum(days_and_optimum):
    *_, keys, optimum = days_and_optimum
    env, params = make("EnergyManagement-v1", forecast_hours=24, forecast_error=0.0)
    mpc = baselines.make_mpc(horizon=24, env=env)
    costs = costs_of(mpc, env, params, keys)["cost"]
    np.testing.assert_allclose(costs, optimum, rtol=1e-4, atol=2e-4)


def test_controllers_rank_above_the_optimum_and_below_idling(days_and_optimum):
    env, params, keys, optimum = days_and_optimum
    means = {}
    for name, policy in (
        ("idle", baselines.idle),
        ("rule", baselines.rule),
        ("mpc", baselines.make_mpc(12, env)),
    ):
        result = costs_of(policy, env, params, keys)
        assert np.all(result["cost"] >= optimum - 1e-4), name
        assert np.all(result["unmet_kwh"] == 0), name  # no cap by default
        means[name] = result["cost"].mean()
    assert means["mpc"] < means["rule"] < means["idle"]
    # MPC over a noisy 12-hour forecast gets most of what perfect foresight saves over idling.
    assert (means["idle"] - means["mpc"]) > 0.8 * (means["idle"] - optimum.mean())


def test_mpc_horizon_beyond_the_forecast_is_refused():
    with pytest.raises(ValueError, match="horizon=13"):
        baselines.make_mpc(horizon=13)
