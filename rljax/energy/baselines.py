"""What an engineer would deploy on EnergyManagement-v1, to judge agents by: leave the battery
idle, a rule ("store surplus solar, charge off-peak before dawn, discharge when the price is
above off-peak"), and model-predictive
control (the exact optimum over a noisy forecast, re-planned every hour). Plus the
perfect-foresight optimum, the bound nobody beats.

A policy here is ``policy(state, params) -> action [1]`` on the environment's own state (the
controllers read the forecast the agent observes, from the state's episode key, and nothing
more). :func:`episode_costs` plays a policy through the environment on a batch of days.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from rljax.energy import days, optimum, profiles
from rljax.envs.energy_management_v1 import (
    EnergyManagementV1,
    EnergyManagementV1Params,
    EnergyManagementV1State,
    battery_problem,
)
from rljax.learning.episodes import Policy

Controller = Callable[[EnergyManagementV1State, EnergyManagementV1Params], jax.Array]


def idle(state: EnergyManagementV1State, params: EnergyManagementV1Params) -> jax.Array:
    """Never charges nor discharges."""
    return jnp.zeros(1, jnp.float32)


def rule(state: EnergyManagementV1State, params: EnergyManagementV1Params) -> jax.Array:
    """The installer's rule, on this hour's (known) net load and price: store a solar surplus;
    when the price is above the off-peak tariff, discharge to cover the load; at or below it
    before dawn (00:00-06:00), charge at full power (for the morning and the peak); otherwise
    stay idle. No forecast, no optimisation."""
    hour = profiles.hour_values(state.episode_key, state.time, params)
    net_load = hour.demand - hour.solar
    power = params.max_power
    surplus = jnp.clip(-net_load * params.charge_efficiency / power, 0.0, 1.0)
    cover = -jnp.clip(net_load / params.discharge_efficiency / power, 0.0, 1.0)
    night = (state.time % 24) < 6
    cheap = hour.import_price <= params.offpeak_price
    action = jnp.where(net_load < 0, surplus, jnp.where(cheap, jnp.where(night, 1.0, 0.0), cover))
    return jnp.reshape(action, (1,)).astype(jnp.float32)


def make_mpc(horizon: int = 12, env: EnergyManagementV1 | None = None) -> Controller:
    """Model-predictive control: every hour, the exact optimum (:func:`optimum.solve`) of the
    next ``horizon`` hours as forecast now (:func:`profiles.forecast`, the forecast the agent
    observes; ``horizon`` at most the environment's ``forecast_hours``), its first change
    applied. Energy left at the end of the window is valued at the window's lowest forecast
    price times the round-trip efficiency (what it could at least replace later), so the plan
    does not empty the battery at every window's end; the window never runs past the episode.
    """
    forecast_hours = (env or EnergyManagementV1()).forecast_hours
    if not 1 <= horizon <= forecast_hours:
        raise ValueError(f"horizon={horizon} must lie in [1, forecast_hours={forecast_hours}]")

    def policy(state: EnergyManagementV1State, params: EnergyManagementV1Params) -> jax.Array:
        net_load, price = profiles.forecast(state.episode_key, state.time, horizon, params)
        remaining = params.max_steps_in_episode - state.time
        inside = jnp.arange(horizon) < remaining
        # Hours past the episode's end cost nothing and move nothing: zero load and price.
        net_load, price = jnp.where(inside, net_load, 0.0), jnp.where(inside, price, 0.0)
        export = jnp.minimum(params.feed_in_price, price)
        hours = profiles.Hour(
            demand=net_load, solar=jnp.zeros_like(net_load), import_price=price,
            export_price=export, real_time=jnp.zeros(horizon, jnp.bool_),
        )  # fmt: skip
        problem = battery_problem(params, hours)
        round_trip = params.charge_efficiency * params.discharge_efficiency
        lowest = jnp.min(jnp.where(inside, price, jnp.inf))
        terminal = jnp.where(remaining > horizon, lowest * round_trip, 0.0)
        problem = problem.replace(initial_level=state.level, final_level_value=terminal)
        first = optimum.solve(problem).charges[0]
        return jnp.reshape(first / params.max_power, (1,)).astype(jnp.float32)

    return policy


def controller_policy(controller: Controller, params: EnergyManagementV1Params) -> Policy:
    """``controller`` as an episode policy ``policy(key, env_state, obs) -> action [1]``."""
    return lambda key, state, obs: controller(state, params)


def episode_costs(
    policy: Policy,
    keys: jax.Array,
    params: EnergyManagementV1Params,
    env: EnergyManagementV1 | None = None,
) -> dict[str, jax.Array]:
    """Plays the episode policy ``policy(key, env_state, obs) -> action [1]`` (a trained agent's,
    or :func:`controller_policy`'s) on the episodes reset with ``keys [N]``, all
    ``max_steps_in_episode`` hours: ``cost [N]`` ($ per episode), ``unmet_kwh [N]``,
    ``peak_import [N]`` (the largest hourly grid import, kWh), ``violations [N]`` (hours whose
    import passed ``contract_cap``: the sum of ``constraint_cost``) and ``cap_excess_kwh [N]``.
    Jit it with ``policy`` and ``params`` closed over (or static)."""
    env = env or EnergyManagementV1()
    hours = int(params.max_steps_in_episode)

    def one(key):
        obs, state = env.reset(key, params)

        def body(carry, step_key):
            obs, state = carry
            action = policy(step_key, state, obs)
            obs, state, reward, _, _, info = env.step(key, state, action, params)
            figures = (
                -reward, info["unmet_kwh"], info["grid_import"], info["constraint_cost"],
                info["cap_excess_kwh"],
            )  # fmt: skip
            return (obs, state), figures

        step_keys = jax.random.split(jax.random.fold_in(key, 1), hours)
        _, (cost, unmet, imported, violations, excess) = jax.lax.scan(body, (obs, state), step_keys)
        return {
            "cost": cost.sum(),
            "unmet_kwh": unmet.sum(),
            "peak_import": imported.max(),
            "violations": violations.sum(),
            "cap_excess_kwh": excess.sum(),
        }

    return jax.vmap(one)(keys)


def perfect_foresight_costs(keys: jax.Array, params: EnergyManagementV1Params) -> jax.Array:
    """The optimum's cost ``[N]`` of each episode (what no policy beats; jit it with ``params``
    closed over)."""
    return jax.vmap(lambda key: optimum.solve(days.problem_from_episode(key, params)).cost)(keys)
