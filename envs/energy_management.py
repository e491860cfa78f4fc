"""EnergyManagement-v0: run a home battery for one day to keep the electricity bill low.

Time advances in one-hour steps; step ``t`` covers the hour ``h = t mod 24`` (``h`` o'clock to
``h + 1``), so power in kW and energy in kWh over a step are the same number. With
``s(h) = sin((h - phase_hour) * pi / 12)`` (``phase_hour`` = 6):

- demand ``max(demand_min, demand_base + demand_amplitude * s(h))`` = ``max(5, 20 + 15 s(h))`` kW;
- solar ``solar_peak * max(s(h), 0)`` = ``15 s(h)`` kW between 06:00 and 18:00, 0 otherwise;
- tariff ``peak_price`` (0.30 $/kWh) for ``peak_start_hour <= h < peak_end_hour`` (09:00 to
  21:00), ``offpeak_price`` (0.10 $/kWh) otherwise.

The action is ``Box(-1, 1, (1,))`` float32: the requested battery power as a fraction of
``max_power`` (10 kW); positive charges, negative discharges. Actions outside ``[-1, 1]`` are
clipped to it (as a real inverter saturates), so ``2.0`` means the same as ``1.0``. The battery
(``capacity`` 100 kWh, starting at ``initial_level`` 50 kWh, lossless) then takes what fits:
charging is limited by the free capacity, discharging by the stored energy, so the level stays in
``[0, capacity]``.

Grid exchange is ``grid_import = demand - solar + charge`` kWh (discharging reduces it; negative
values are exports). Imports cost the hour's tariff; exports earn ``feed_in_tariff`` $/kWh, which
is 0 by default (export earns nothing). The reward is ``-cost``.

Import cap (``import_cap`` kW, default ``inf`` = unlimited): charging may not draw beyond the cap,
so a charge request is first cut to ``max(import_cap - (demand - solar), 0)`` (it never turns into a
discharge). If the import still exceeds the cap, that excess is true household demand the grid
cannot serve: the import is capped and each unmet kWh costs ``unmet_demand_penalty`` $ (1.0) on
top of the bill. ``info`` holds float32 scalars ``cost`` ($), ``grid_import`` (kWh, signed, after
the cap) and ``unmet_kwh``.

The day ends by the clock, not by a terminal event: after ``max_steps_in_episode`` (24) steps
``truncated`` is ``True`` and ``terminated`` is always ``False`` (the battery's state has value
beyond midnight, so learners should bootstrap). The observation is float32 ``[5]``:
``(level / capacity, h / 24, demand / 50, solar / 20, price / 0.30)`` for the hour about to be
played (the last observation of a day shows 00:00 of the next). Every number above is a params
leaf, so ``jax.vmap`` over params gives tariff or demand sweeps in one program.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.env import Environment, check_positive

# Fixed observation scales (a normalisation of the observation, not part of the dynamics).
_DEMAND_SCALE = 50.0  # kW
_SOLAR_SCALE = 20.0  # kW
_PRICE_SCALE = 0.30  # $ / kWh


@struct.dataclass
class EnergyManagementState:
    level: jax.Array  # stored energy [kWh], float32 scalar
    time: jax.Array  # hours (steps) taken this episode, int32


@struct.dataclass
class EnergyManagementParams:
    capacity: float = 100.0  # battery capacity [kWh]
    max_power: float = 10.0  # largest charge or discharge per hour [kW]
    initial_level: float = 50.0  # stored energy at reset [kWh]
    demand_base: float = 20.0  # [kW]
    demand_amplitude: float = 15.0  # [kW]
    demand_min: float = 5.0  # [kW]
    solar_peak: float = 15.0  # [kW]
    phase_hour: float = 6.0  # s(h) = sin((h - phase_hour) * pi / 12)
    peak_price: float = 0.30  # [$ / kWh]
    offpeak_price: float = 0.10  # [$ / kWh]
    peak_start_hour: float = 9.0  # peak tariff for peak_start_hour <= h < peak_end_hour
    peak_end_hour: float = 21.0
    feed_in_tariff: float = 0.0  # paid per exported kWh [$ / kWh]
    import_cap: float = math.inf  # largest grid import [kW]
    unmet_demand_penalty: float = 1.0  # [$ / kWh of demand the capped grid cannot serve]
    max_steps_in_episode: int = 24  # hours


def hourly_profile(
    hour: jax.Array, params: EnergyManagementParams
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Demand [kW], solar [kW] and tariff [$/kWh] at hour of day ``hour`` (float32 scalars)."""
    hour = jnp.asarray(hour, jnp.float32)
    s = jnp.sin((hour - params.phase_hour) * (jnp.pi / 12))
    demand = jnp.maximum(params.demand_min, params.demand_base + params.demand_amplitude * s)
    solar = params.solar_peak * jnp.maximum(s, 0.0)
    peak = (hour >= params.peak_start_hour) & (hour < params.peak_end_hour)
    price = jnp.where(peak, params.peak_price, params.offpeak_price)
    return (
        demand.astype(jnp.float32),
        solar.astype(jnp.float32),
        price.astype(jnp.float32),
    )


class EnergyManagement(Environment[EnergyManagementState, EnergyManagementParams]):
    """Charge (action > 0) or discharge a home battery hour by hour. Observation ``[5]`` float32."""

    stochastic_step = False

    @property
    def default_params(self) -> EnergyManagementParams:
        return EnergyManagementParams()

    def validate_params(self, params: EnergyManagementParams) -> None:
        check_positive(params, "capacity", "max_power", "import_cap", "max_steps_in_episode")
        check_positive(
            params,
            "unmet_demand_penalty",
            "demand_min",
            "solar_peak",
            "peak_price",
            "offpeak_price",
            "feed_in_tariff",
            allow_zero=True,
        )
        level = np.asarray(params.initial_level)
        capacity = np.asarray(params.capacity)
        if not np.all((level >= 0) & (level <= capacity)):
            raise ValueError(
                f"parameter initial_level={level.tolist()} is invalid: must lie in "
                f"[0, capacity={capacity.tolist()}]"
            )

    def reset_env(
        self, key: jax.Array, params: EnergyManagementParams
    ) -> tuple[jax.Array, EnergyManagementState]:
        state = EnergyManagementState(
            level=jnp.asarray(params.initial_level, jnp.float32),
            time=jnp.zeros((), jnp.int32),
        )
        return self._observe(state, params), state

    def step_env(
        self,
        key,
        state: EnergyManagementState,
        action: jax.Array,
        params: EnergyManagementParams,
    ):
        demand, solar, price = hourly_profile(state.time % 24, params)
        requested = jnp.clip(action[0].astype(jnp.float32), -1.0, 1.0) * params.max_power
        charge = jnp.clip(requested, -state.level, params.capacity - state.level)
        net_load = demand - solar
        # Charging may not draw beyond the cap; only true demand can go unmet.
        headroom = jnp.maximum(params.import_cap - net_load, 0.0)
        charge = jnp.where(charge > 0, jnp.minimum(charge, headroom), charge)
        wanted = net_load + charge
        # inf - finite = inf, so with no cap unmet is exactly 0 and nothing turns into NaN.
        unmet = jnp.maximum(wanted - params.import_cap, 0.0)
        grid_import = wanted - unmet
        cost = (
            price * jnp.maximum(grid_import, 0.0)
            - params.feed_in_tariff * jnp.maximum(-grid_import, 0.0)
            + params.unmet_demand_penalty * unmet
        )
        level = jnp.clip(state.level + charge, 0.0, params.capacity).astype(jnp.float32)
        new_state = EnergyManagementState(level=level, time=state.time + 1)

        reward = (-cost).astype(jnp.float32)
        terminated = jnp.zeros((), jnp.bool_)
        truncated = new_state.time >= params.max_steps_in_episode
        info = {
            "cost": cost.astype(jnp.float32),
            "grid_import": grid_import.astype(jnp.float32),
            "unmet_kwh": unmet.astype(jnp.float32),
        }
        return self._observe(new_state, params), new_state, reward, terminated, truncated, info

    def _observe(self, state: EnergyManagementState, params: EnergyManagementParams) -> jax.Array:
        hour = (state.time % 24).astype(jnp.float32)
        demand, solar, price = hourly_profile(hour, params)
        return jnp.stack(
            [
                state.level / params.capacity,
                hour / 24,
                demand / _DEMAND_SCALE,
                solar / _SOLAR_SCALE,
                price / _PRICE_SCALE,
            ]
        ).astype(jnp.float32)

    def observation_space(self, params: EnergyManagementParams) -> spaces.Box:
        low = jnp.zeros((5,), jnp.float32)
        high = jnp.asarray([1.0, 1.0, jnp.inf, jnp.inf, jnp.inf], jnp.float32)
        return spaces.Box(low, high, (5,), jnp.float32)

    def action_space(self, params: EnergyManagementParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    @property
    def name(self) -> str:
        return "EnergyManagement-v0"


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class EnergyManagementRenderer:
    """Bars per hour: the battery level after it, the demand and the solar output so far.

    See :mod:`rljax.render` for the arguments.
    """

    def __init__(self, fig, env, params, states, actions, returns):
        self.states, self.returns = states, returns
        hours = int(np.asarray(params.max_steps_in_episode))
        self.hours = hours
        demand, solar, _ = hourly_profile(np.arange(hours) % 24, params)
        self.demand, self.solar = np.asarray(demand), np.asarray(solar)
        self.level = np.asarray(states.level, np.float64)  # [L + 1], after each hour
        self.ax = ax = fig.add_subplot()
        x = np.arange(hours)
        width = 0.28
        zeros = np.zeros(hours)
        self.bars = {
            "battery level [kWh]": ax.bar(x - width, zeros, width, color="C0"),
            "demand [kW]": ax.bar(x, zeros, width, color="C3"),
            "solar [kW]": ax.bar(x + width, zeros, width, color="C1"),
        }
        top = max(float(np.asarray(params.capacity)), float(self.demand.max()), 1.0)
        ax.set_ylim(0, 1.05 * top)
        ax.set_xlim(-1, hours)
        ax.set_xlabel("hour")
        ax.legend([b[0] for b in self.bars.values()], list(self.bars), fontsize=7, loc="upper left")
        self.artists = [rect for bars in self.bars.values() for rect in bars]

    def draw(self, t: int) -> None:
        done = min(t, self.hours)  # hours played so far
        values = {
            "battery level [kWh]": self.level[1 : self.hours + 1],
            "demand [kW]": self.demand,
            "solar [kW]": self.solar,
        }
        for name, bars in self.bars.items():
            v = values[name]
            for h, rect in enumerate(bars):
                rect.set_height(float(v[h]) if h < done and h < len(v) else 0.0)
