"""EnergyManagement-v0: hand-computed hours, battery bounds, the import cap, a day in numpy."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.energy_management import EnergyManagementState

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def env_params():
    return rljax.make("EnergyManagement-v0")


@pytest.fixture(scope="module")
def step(env_params):
    env, _ = env_params
    return jax.jit(env.step)


@pytest.fixture(scope="module")
def rollout(env_params):
    """``rollout(params, actions [T, 1]) -> (obs, reward, terminated, truncated, info, level)``."""
    env, _ = env_params

    def run(params, actions):
        _, state = env.reset(KEY, params)

        def body(state, action):
            obs, state, reward, terminated, truncated, info = env.step(KEY, state, action, params)
            return state, (obs, reward, terminated, truncated, info, state.level)

        return jax.lax.scan(body, state, actions)[1]

    return jax.jit(run)


def at(level, hour):
    return EnergyManagementState(level=jnp.float32(level), time=jnp.int32(hour))


def act(value):
    return jnp.array([value], jnp.float32)


def numpy_profile(hour):
    """The documented default demand, solar and tariff [kW, kW, $/kWh], in float64."""
    s = np.sin((hour - 6) * np.pi / 12)
    demand = np.maximum(5.0, 20 + 15 * s)
    solar = np.where((hour >= 6) & (hour <= 18), 15 * s, 0.0)
    price = np.where((hour >= 9) & (hour < 21), 0.30, 0.10)
    return demand, solar, price


def test_spaces_and_reset(env_params):
    env, params = env_params
    space = env.action_space(params)
    assert space.shape == (1,) and space.dtype == jnp.float32
    assert space.low.tolist() == [-1.0] and space.high.tolist() == [1.0]
    obs, state = env.reset(jax.random.key(7), params)
    assert obs.dtype == jnp.float32 and obs.shape == (5,)
    # 00:00: level 50/100, demand 5 kW, no sun, off-peak 0.10 $/kWh.
    np.testing.assert_allclose(obs, [0.5, 0.0, 5 / 50, 0.0, 0.10 / 0.30], rtol=1e-6)
    assert float(state.level) == 50.0 and int(state.time) == 0
    assert bool(env.observation_space(params).contains(obs))
    assert env.stochastic_step is False


def test_charge_in_first_hour(env_params, step):
    env, params = env_params
    _, state = env.reset(KEY, params)
    obs, state, reward, terminated, truncated, info = step(KEY, state, act(1.0), params)
    # 5 kW demand + 10 kWh into the battery, all imported at 0.10 $/kWh.
    assert float(state.level) == 60.0 and int(state.time) == 1
    assert float(info["grid_import"]) == pytest.approx(15.0)
    assert float(info["cost"]) == pytest.approx(1.5)
    assert float(reward) == pytest.approx(-1.5)
    assert float(info["unmet_kwh"]) == 0.0
    assert not bool(terminated) and not bool(truncated)
    assert all(v.dtype == jnp.float32 and v.shape == () for v in info.values())
    assert reward.dtype == jnp.float32
    demand_1, _, _ = numpy_profile(1.0)
    np.testing.assert_allclose(obs, [0.6, 1 / 24, demand_1 / 50, 0.0, 1 / 3], rtol=1e-6)


def test_discharge_exports_earn_nothing_by_default(env_params, step):
    _, params = env_params
    _, state, reward, _, _, info = step(KEY, at(50, 0), act(-1.0), params)
    # 5 kW demand - 10 kW discharge = 5 kWh exported, paid 0 by default.
    assert float(state.level) == 40.0
    assert float(info["grid_import"]) == pytest.approx(-5.0)
    assert float(info["cost"]) == 0.0 and float(reward) == 0.0
    _, _, reward, _, _, info = step(KEY, at(50, 0), act(-1.0), params.replace(feed_in_tariff=0.05))
    assert float(info["cost"]) == pytest.approx(-0.25)
    assert float(reward) == pytest.approx(0.25)


def test_noon_peak_hour(env_params, step):
    _, params = env_params
    # 12:00: demand 35 kW, solar 15 kW, peak 0.30 $/kWh.
    for action, level, grid, cost in [(-1.0, 40, 10, 3.0), (0.0, 50, 20, 6.0), (1.0, 60, 30, 9.0)]:
        obs, state, reward, _, _, info = step(KEY, at(50, 12), act(action), params)
        assert float(state.level) == level
        assert float(info["grid_import"]) == pytest.approx(grid, rel=1e-6)
        assert float(info["cost"]) == pytest.approx(cost, rel=1e-6)
        assert float(reward) == pytest.approx(-cost, rel=1e-6)
    demand_13, solar_13, _ = numpy_profile(13.0)
    np.testing.assert_allclose(obs, [0.6, 13 / 24, demand_13 / 50, solar_13 / 20, 1.0], rtol=1e-6)


def test_action_is_clipped_and_scaled(env_params, step):
    _, params = env_params
    levels = [float(step(KEY, at(50, 0), act(a), params)[1].level) for a in (0.5, 2.0, -7.0)]
    assert levels == [55.0, 60.0, 40.0]


def test_battery_bounds_limit_the_actual_charge(env_params, step):
    _, params = env_params
    _, state, _, _, _, info = step(KEY, at(95, 0), act(1.0), params)
    assert float(state.level) == 100.0  # only 5 kWh fit
    assert float(info["grid_import"]) == pytest.approx(10.0)
    assert float(info["cost"]) == pytest.approx(1.0)
    _, state, _, _, _, info = step(KEY, at(3, 0), act(-1.0), params)
    assert float(state.level) == 0.0  # only 3 kWh stored
    assert float(info["grid_import"]) == pytest.approx(2.0)
    assert float(info["cost"]) == pytest.approx(0.2)


def test_level_stays_in_bounds_and_energy_balances(env_params, rollout):
    _, params = env_params
    actions = jax.random.uniform(jax.random.key(1), (24, 1), jnp.float32, -1.5, 1.5)
    _, _, _, _, info, level = rollout(params, actions)
    level = np.asarray(level)
    assert np.all((level >= 0) & (level <= 100))
    charge = np.diff(np.concatenate([[50.0], level]))
    demand, solar, price = numpy_profile(np.arange(24.0))
    np.testing.assert_allclose(info["grid_import"], demand - solar + charge, atol=1e-4)
    cost = price * np.maximum(demand - solar + charge, 0)
    np.testing.assert_allclose(info["cost"], cost, atol=1e-5)


def test_day_ends_by_truncation_at_24(env_params, rollout):
    _, params = env_params
    obs, _, terminated, truncated, _, _ = rollout(params, jnp.zeros((24, 1), jnp.float32))
    assert truncated.tolist() == [False] * 23 + [True]
    assert not terminated.any()
    # The last observation shows 00:00 of the next day.
    np.testing.assert_allclose(obs[-1], [0.5, 0.0, 0.1, 0.0, 1 / 3], rtol=1e-6)


def test_do_nothing_daily_cost_matches_numpy(env_params, rollout):
    _, params = env_params
    _, reward, _, _, info, level = rollout(params, jnp.zeros((24, 1), jnp.float32))
    demand, solar, price = numpy_profile(np.arange(24.0))
    expected = float(np.sum(price * np.maximum(demand - solar, 0.0)))
    assert float(np.sum(info["cost"])) == pytest.approx(expected, rel=1e-5)
    assert float(-np.sum(reward)) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_array_equal(level, 50.0)
    assert not np.any(info["unmet_kwh"])


def test_do_nothing_with_import_cap_matches_numpy(env_params, rollout):
    _, params = env_params
    capped = params.replace(import_cap=18.0, unmet_demand_penalty=2.0)
    _, reward, _, _, info, _ = rollout(capped, jnp.zeros((24, 1), jnp.float32))
    demand, solar, price = numpy_profile(np.arange(24.0))
    net = np.maximum(demand - solar, 0.0)
    unmet = np.maximum(net - 18.0, 0.0)
    assert unmet.sum() > 0
    np.testing.assert_allclose(info["unmet_kwh"], unmet, atol=1e-5)
    np.testing.assert_allclose(info["grid_import"], np.minimum(net, 18.0), atol=1e-5)
    expected = float(np.sum(price * np.minimum(net, 18.0) + 2.0 * unmet))
    assert float(-np.sum(reward)) == pytest.approx(expected, rel=1e-5)


def test_import_cap_produces_unmet_demand_penalty(env_params, step):
    _, params = env_params
    capped = params.replace(import_cap=15.0)
    # 12:00, net load 20 kW against a 15 kW cap: 5 kWh unmet at 1 $/kWh on top of 15 * 0.30.
    _, state, reward, _, _, info = step(KEY, at(50, 12), act(0.0), capped)
    assert float(info["grid_import"]) == pytest.approx(15.0)
    assert float(info["unmet_kwh"]) == pytest.approx(5.0)
    assert float(info["cost"]) == pytest.approx(9.5)
    assert float(reward) == pytest.approx(-9.5)
    # A charge request cannot draw beyond the cap: it is cut to zero, the same demand goes unmet.
    _, state, _, _, _, info = step(KEY, at(50, 12), act(1.0), capped)
    assert float(state.level) == 50.0
    assert float(info["unmet_kwh"]) == pytest.approx(5.0)
    assert float(info["cost"]) == pytest.approx(9.5)
    # Discharging brings the import under the cap.
    _, state, _, _, _, info = step(KEY, at(50, 12), act(-1.0), capped)
    assert float(state.level) == 40.0
    assert float(info["unmet_kwh"]) == 0.0 and float(info["cost"]) == pytest.approx(3.0)
    # 00:00 with a 10 kW cap: 5 kW demand leaves room for only 5 of the 10 kWh requested.
    _, state, _, _, _, info = step(KEY, at(50, 0), act(1.0), params.replace(import_cap=10.0))
    assert float(state.level) == 55.0
    assert float(info["grid_import"]) == pytest.approx(10.0)
    assert float(info["unmet_kwh"]) == 0.0 and float(info["cost"]) == pytest.approx(1.0)
    # The penalty is a parameter.
    _, _, _, _, _, info = step(KEY, at(50, 12), act(0.0), capped.replace(unmet_demand_penalty=2.0))
    assert float(info["cost"]) == pytest.approx(14.5)


def test_vmapped_equals_looped_bitwise(env_params, step):
    env, params = env_params
    num_envs, num_steps = 5, 24
    actions = jax.random.uniform(
        jax.random.key(2), (num_steps, num_envs, 1), jnp.float32, -1.5, 1.5
    )
    vstep = jax.jit(jax.vmap(env.step, in_axes=(None, 0, 0, None)))
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(KEY, num_envs), params)
    batched = []
    for t in range(num_steps):
        obs, state, reward, terminated, truncated, info = vstep(KEY, state, actions[t], params)
        batched.append((obs, state.level, reward, terminated, truncated, info))
    for i in range(num_envs):
        _, s = env.reset(KEY, params)
        for t in range(num_steps):
            obs, s, reward, terminated, truncated, info = step(KEY, s, actions[t, i], params)
            single = (obs, s.level, reward, terminated, truncated, info)
            for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched[t]), strict=True):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[i])


def test_vmap_over_params(env_params):
    env, params = env_params
    batch = params.replace(
        peak_price=jnp.array([0.30, 0.60, 0.30], jnp.float32),
        import_cap=jnp.array([math.inf, math.inf, 15.0], jnp.float32),
    )
    axes = jax.tree.map(lambda _: None, params).replace(peak_price=0, import_cap=0)
    vstep = jax.jit(jax.vmap(env.step, in_axes=(None, None, None, axes)))
    _, _, reward, _, _, info = vstep(KEY, at(50, 12), act(0.0), batch)
    np.testing.assert_allclose(info["cost"], [6.0, 12.0, 9.5], rtol=1e-6)
    np.testing.assert_allclose(info["unmet_kwh"], [0.0, 0.0, 5.0], atol=1e-6)
    np.testing.assert_allclose(reward, [-6.0, -12.0, -9.5], rtol=1e-6)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capacity", 0.0),
        ("max_power", -1.0),
        ("initial_level", 150.0),
        ("initial_level", -1.0),
        ("import_cap", 0.0),
        ("unmet_demand_penalty", -0.5),
        ("max_steps_in_episode", 0),
    ],
)
def test_bad_params_raise(field, value):
    with pytest.raises(ValueError, match=field):
        rljax.make("EnergyManagement-v0", **{field: value})


def test_overrides_reach_params():
    _, params = rljax.make("EnergyManagement-v0", import_cap=12.0, peak_price=0.4)
    assert params.import_cap == 12.0 and params.peak_price == 0.4


@pytest.mark.parametrize(
    "action",
    [jnp.float32(0.5), jnp.array([1], jnp.int32), jnp.array([0.5, 0.5], jnp.float32)],
)
def test_wrong_action_raises_type_error_at_trace_time(env_params, step, action):
    env, params = env_params
    _, state = env.reset(KEY, params)
    with pytest.raises(TypeError, match="Box"):
        step(KEY, state, action, params)
