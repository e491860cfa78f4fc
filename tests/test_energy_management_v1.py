"""EnergyManagement-v1: realistic days drawn per episode (rljax.energy.profiles), the battery's
step against the exact optimum's cost model, and its settings' checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.energy import days, optimum, profiles
from rljax.env import make

NUM_DAYS = 2000

# One compiled program per horizon for the whole module (op-by-op dispatch compiles every op).
hourly_values = jax.jit(profiles.hourly_values, static_argnums=1)


@pytest.fixture(scope="module")
def env_params():
    return make("EnergyManagement-v1")


@pytest.fixture(scope="module")
def drawn(env_params):
    """Every hour of NUM_DAYS held-out days, and each day's draws."""
    _, params = env_params
    keys = profiles.evaluation_keys(NUM_DAYS)
    hours = jax.jit(jax.vmap(lambda k: profiles.hourly_values(k, 24, params)))(keys)
    day = jax.jit(jax.vmap(lambda k: profiles.draw_day(jax.random.fold_in(k, 0), params)))(keys)
    return jax.tree.map(np.asarray, hours), jax.tree.map(np.asarray, day)


@pytest.fixture(scope="module")
def rollouts(env_params):
    """``run(keys [8], actions [8, 24, 1]) -> (costs, terminated, truncated, info costs)``, each
    ``[8, 24]``: eight days stepped from ``reset(key)``, compiled once for the module."""
    env, params = env_params

    def one(key, actions):
        _, state = env.reset(key, params)

        def body(state, action):
            _, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            return state, (-reward, terminated, truncated, info["cost"])

        return jax.lax.scan(body, state, actions)[1]

    return jax.jit(jax.vmap(one))


def test_the_optimum_replayed_through_the_environment_costs_what_it_says(env_params, rollouts):
    _, params = env_params
    keys = profiles.evaluation_keys(8)
    solutions = jax.jit(jax.vmap(lambda k: optimum.solve(days.problem_from_episode(k, params))))(
        keys
    )
    actions = solutions.charges[..., None] / params.max_power
    costs, terminated, truncated, info_cost = rollouts(keys, actions)
    np.testing.assert_allclose(costs.sum(axis=1), solutions.cost, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(costs, info_cost, rtol=1e-6)
    assert not terminated.any() and truncated[:, -1].all() and not truncated[:, :-1].any()

    # No schedule beats the optimum: random ones on the first day, and the optimum's own with
    # each hour's change perturbed.
    random_actions = jax.random.uniform(jax.random.key(3), (8, 24, 1), minval=-1.2, maxval=1.2)
    perturbed = actions[0] + jax.random.normal(jax.random.key(4), (8, 24, 1)) * 0.05
    first_day = jnp.broadcast_to(keys[0], (8,) + keys.shape[1:])
    for schedule in (random_actions, perturbed):
        others = rollouts(first_day, schedule)[0].sum(axis=1)
        assert float(others.min()) >= float(solutions.cost[0]) - 1e-4
    assert (
        float(rollouts(first_day, random_actions)[0].sum(axis=1).min())
        > float(solutions.cost[0]) + 0.05
    )  # random play is visibly worse


def test_days_follow_the_drawn_weather_season_and_tariff(drawn, env_params):
    _, params = env_params
    hours, day = drawn
    shares = np.bincount(day.weather, minlength=3) / NUM_DAYS
    np.testing.assert_allclose(shares, [0.45, 0.25, 0.30], atol=0.04)
    assert abs(np.mean(day.tariff == profiles.TARIFF_REAL_TIME) - 0.5) < 0.04
    solar = hours.solar.sum(axis=1)
    clear, cloudy = day.weather == profiles.WEATHER_CLEAR, day.weather == profiles.WEATHER_CLOUDY
    assert solar[clear].mean() > 2.5 * solar[cloudy].mean()
    summer = np.abs(day.day_of_year - 172) < 45
    winter = (day.day_of_year < 45) | (day.day_of_year > 310)
    assert solar[clear & summer].mean() > 2.0 * solar[clear & winter].mean()
    assert np.all(hours.solar[:, :4] == 0) and np.all(hours.demand > 0)
    time_of_use = hours.import_price[day.tariff == profiles.TARIFF_TIME_OF_USE]
    np.testing.assert_allclose(np.unique(time_of_use), [0.15, 0.4], rtol=1e-6)
    real_time = hours.import_price[day.tariff == profiles.TARIFF_REAL_TIME]
    assert real_time.max() > 1.0 and real_time.max() <= params.price_cap  # spikes, capped
    assert np.all(hours.export_price <= hours.import_price)


def test_same_key_same_day_and_evaluation_keys_are_fixed(env_params):
    _, params = env_params
    first = hourly_values(profiles.evaluation_keys(3)[2], 24, params)
    again = hourly_values(profiles.evaluation_keys(5)[2], 24, params)
    other = hourly_values(profiles.evaluation_keys(5)[3], 24, params)
    np.testing.assert_array_equal(first.demand, again.demand)
    assert not np.array_equal(first.demand, other.demand)


def test_forecasts_are_exact_now_and_worse_further_ahead(env_params):
    _, params = env_params

    @jax.jit
    def forecast_and_truth(keys):
        net_load, _ = jax.vmap(lambda k: profiles.forecast(k, 3, 12, params))(keys)
        truth = jax.vmap(lambda k: profiles.hourly_values(k, 15, params))(keys)
        return net_load, (truth.demand - truth.solar)[:, 3:15]

    net_load, true_net = forecast_and_truth(profiles.evaluation_keys(400))
    np.testing.assert_allclose(net_load[:, 0], true_net[:, 0], rtol=1e-6)
    error = np.abs(np.asarray(net_load - true_net))
    assert error[:, 9].mean() > 2.0 * error[:, 1].mean() > 0


def test_a_week_is_seven_different_days_and_ends_after_168_hours():
    env, params = make("EnergyManagement-v1", max_steps_in_episode=168)
    key = profiles.evaluation_keys(1)[0]
    _, state = env.reset(key, params)
    step = jax.jit(lambda state: env.step(key, state, jnp.zeros(1), params)[4])
    assert not step(state.replace(time=jnp.int32(166)))
    assert step(state.replace(time=jnp.int32(167)))
    demand = np.asarray(hourly_values(key, 168, params).demand).reshape(7, 24)
    assert len({tuple(np.round(d, 5)) for d in demand}) == 7


def test_the_contracted_cap_is_a_cost_signal_and_the_shield_keeps_within_it():
    """Import past ``contract_cap`` is a violation (``constraint_cost`` 1.0), not a charge; the
    shield clips random play to zero violations (no held-out day here has a net load past 4 kW)
    and leaves play that was already within the cap as it was."""
    env, free = make("EnergyManagement-v1", contract_cap=4.0)
    shielded = free.replace(shield=True)
    keys = profiles.evaluation_keys(64)
    actions = jax.random.uniform(jax.random.key(5), (64, 24, 1), minval=-1.0, maxval=1.0)

    def one(key, actions, params):
        _, state = env.reset(key, params)

        def body(state, action):
            _, state, reward, _, _, info = env.step(key, state, action, params)
            return state, (reward, info["constraint_cost"], info["grid_import"])

        return jax.lax.scan(body, state, actions)[1]

    run = jax.jit(jax.vmap(one, in_axes=(0, 0, None)))
    reward, violation, imported = (np.asarray(x) for x in run(keys, actions, free))
    np.testing.assert_array_equal(violation, (imported > 4.0 + 1e-4).astype(np.float32))
    assert 0.02 < violation.mean() < 0.5  # random full-power charging does pass the cap
    shield_reward, shield_violation, shield_import = (
        np.asarray(x) for x in run(keys, actions, shielded)
    )
    assert shield_violation.sum() == 0 and shield_import.max() <= 4.0 + 1e-4
    within = violation.sum(axis=1) == 0  # days random play kept within the cap anyway
    assert within.any()
    np.testing.assert_array_equal(shield_reward[within], reward[within])
    # The cap never enters the reward: the free run's reward is the uncapped environment's.
    uncapped = np.asarray(run(keys, actions, make("EnergyManagement-v1")[1])[0])
    np.testing.assert_array_equal(reward, uncapped)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"charge_efficiency": 1.2}, "charge_efficiency"),
        ({"p_clear": 0.8, "p_cloudy": 0.4}, "p_clear"),
        ({"unmet_penalty": 1.0}, "unmet_penalty"),
        ({"initial_level": 20.0}, "initial_level"),
        ({"scale_min": 2.0}, "scale_min"),
        ({"forecast_hours": 0}, "forecast_hours"),
        ({"contract_cap": 0.0}, "contract_cap"),
    ],
)
def test_bad_settings_name_the_field(override, field):
    with pytest.raises(ValueError, match=field):
        make("EnergyManagement-v1", **override)
