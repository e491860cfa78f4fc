"""EnergyManagement-v1: a household battery on realistic days, each drawn per episode.

Every episode is a new day (or week): demand, solar, tariff and weather are drawn from the
reset key by :mod:`rljax.energy.profiles` (season, clear / cloudy / mixed weather, household
scale, a time-of-use or real-time tariff with price spikes, a feed-in price for exports); the
distribution's settings are this environment's params (:class:`EnergyManagementV1Params`
extends :class:`rljax.energy.profiles.DayParams` with the battery's), so ``vmap`` over params
sweeps distributions and a fixed list of reset keys is a fixed set of days
(:func:`rljax.energy.profiles.evaluation_keys`).

One step is one hour from midnight. The action is ``Box(-1, 1, (1,))``: the battery-side change
as a fraction of ``max_power`` (positive charges; clipped to ``[-1, 1]``, then to what the level
allows and, when charging, to ``charge_efficiency`` times the import headroom under
``import_cap``). The hour then costs :func:`rljax.energy.optimum.hour_cost` (import at the hour's
price, export at the feed-in price, unmet demand under the cap at ``unmet_penalty``, degradation
per kWh cycled, charging losses through the efficiencies), and the reward is ``-cost``. So the
perfect-foresight optimum of an episode (:func:`rljax.energy.days.problem_from_episode`, solved by
:func:`rljax.energy.optimum.solve`) is this environment's own best return.

Observation float32 ``[4 + 2 * forecast_hours]``: level / capacity, sin and cos of the hour of
day, the share of the episode played, then the forecast made now for the next
``forecast_hours`` hours (:func:`rljax.energy.profiles.forecast`: exact for this hour, noisier
further ahead) of net load / 3 kWh and import price / 0.4 $/kWh. ``info`` holds float32 scalars
``cost``, ``grid_import`` (after the cap; negative: export), ``unmet_kwh``, ``price``, and the
constrained MDP's signal: ``constraint_cost`` (1.0 in an hour whose import passed the contracted
cap ``contract_cap``, else 0.0) and ``cap_excess_kwh``.

Two caps: ``import_cap`` is physical (the fuse: demand past it goes unmet, at ``unmet_penalty``),
``contract_cap`` is contracted (import past it is possible, and counted as a violation in
``constraint_cost`` rather than charged in the reward; infinite by default). With ``shield=True``
each action is first clipped to :func:`shield_bounds`, the changes the one-step model allows
under ``contract_cap``; no action avoids a violation only in an hour whose net load alone passes
the cap with too little energy stored to cover it.
Episodes end by the clock (``truncated`` after ``max_steps_in_episode`` hours: 24 for a day,
168 for a week); ``terminated`` is always ``False``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.energy import profiles
from rljax.energy.optimum import Problem, charge_limits, grid_exchange, hour_cost
from rljax.env import Environment, check_positive

NET_LOAD_SCALE = 3.0  # kWh, observation scale
PRICE_SCALE = 0.4  # $ / kWh
CAP_TOLERANCE = 1e-4  # kWh past contract_cap that still counts as within it (float32 rounding)


@struct.dataclass
class EnergyManagementV1State:
    level: jax.Array  # stored energy [kWh], float32
    time: jax.Array  # hours played, int32
    # The raw data (uint32) of the key every hour's values are drawn from: a typed key would not
    # convert to numpy, which checkpoints and recorded episodes need.
    episode_key_data: jax.Array

    @property
    def episode_key(self) -> jax.Array:
        return jax.random.wrap_key_data(self.episode_key_data)


@struct.dataclass
class EnergyManagementV1Params(profiles.DayParams):
    capacity: float = 13.5  # [kWh] (a home battery of the Powerwall's size)
    max_power: float = 5.0  # [kW] largest battery-side change in an hour
    initial_level: float = 6.75  # [kWh]
    charge_efficiency: float = 0.95  # round trip 0.9
    discharge_efficiency: float = 0.95
    degradation_cost: float = 0.03  # [$ / kWh] charged or discharged
    import_cap: float = math.inf  # [kW] physical: the fuse; demand past it goes unmet
    unmet_penalty: float = 5.0  # [$ / kWh], above every price (price_cap 4)
    # Contracted: import past it is possible but a violation, the constrained MDP's cost signal
    # (info["constraint_cost"]), never a term of the reward.
    contract_cap: float = math.inf  # [kW]
    # The one-step shield: clip the action to the changes that keep this hour's import within
    # contract_cap (shield_bounds); a leaf, so shielded and free runs share one program.
    shield: bool = False
    max_steps_in_episode: int = 24


def battery_problem(params: EnergyManagementV1Params, hours: profiles.Hour) -> Problem:
    """The battery and the hours' values as a :class:`rljax.energy.optimum.Problem` (``hours``
    fields ``[H]``, or scalars for one hour)."""
    as_f32 = lambda x: jnp.asarray(x, jnp.float32)
    return Problem(
        net_load=hours.demand - hours.solar,
        import_price=hours.import_price,
        export_price=hours.export_price,
        capacity=as_f32(params.capacity),
        max_power=as_f32(params.max_power),
        initial_level=as_f32(params.initial_level),
        charge_efficiency=as_f32(params.charge_efficiency),
        discharge_efficiency=as_f32(params.discharge_efficiency),
        degradation_cost=as_f32(params.degradation_cost),
        import_cap=as_f32(params.import_cap),
        unmet_penalty=as_f32(params.unmet_penalty),
    )


def shield_bounds(
    state: EnergyManagementV1State, params: EnergyManagementV1Params, hour: profiles.Hour
) -> tuple[jax.Array, jax.Array]:
    """The battery-side changes ``(lowest, highest)`` [kWh] that the one-step model allows this
    hour: the level's bounds, the power, and import within ``contract_cap``: charging no more
    than ``charge_efficiency`` times the headroom under the cap, and, where the net load alone
    passes the cap, discharging at least enough to bring the import down to it. Where the battery
    holds too little for that, the set is empty and ``lowest = highest`` is the fullest discharge
    the level allows (the least violation left)."""
    problem = battery_problem(params, hour).replace(import_cap=params.contract_cap)
    net_load = problem.net_load
    lowest = jnp.maximum(-params.max_power, -state.level)
    highest = jnp.minimum(charge_limits(problem, net_load)[1], params.capacity - state.level)
    # Discharging ``d`` kWh from the battery brings ``d * discharge_efficiency`` to the house.
    needed = jnp.maximum(net_load - params.contract_cap, 0.0) / params.discharge_efficiency
    highest = jnp.where(needed > 0, jnp.minimum(highest, -needed), highest)
    highest = jnp.maximum(highest, lowest)  # the empty set: discharge all the level allows
    return lowest, highest


class EnergyManagementV1(Environment[EnergyManagementV1State, EnergyManagementV1Params]):
    """A household battery on a day (or week) drawn per episode. Observation
    ``[4 + 2 * forecast_hours]`` float32."""

    stochastic_step = False  # the day is drawn at reset; a step is deterministic

    def __init__(self, forecast_hours: int = 12):
        # A setting, not a param: it fixes the observation's shape.
        if not (isinstance(forecast_hours, int) and forecast_hours >= 1):
            raise ValueError(f"forecast_hours={forecast_hours!r} is invalid: must be an int >= 1")
        self.forecast_hours = forecast_hours

    @property
    def default_params(self) -> EnergyManagementV1Params:
        return EnergyManagementV1Params()

    def validate_params(self, params: EnergyManagementV1Params) -> None:
        check_positive(
            params, "capacity", "max_power", "import_cap", "contract_cap", "max_steps_in_episode"
        )
        check_positive(params, "pv_peak", "scale_min", "offpeak_price")
        check_positive(
            params, "degradation_cost", "feed_in_price", "forecast_error", "demand_noise",
            "price_noise", "spike_prob", allow_zero=True,
        )  # fmt: skip
        for name in ("charge_efficiency", "discharge_efficiency"):
            value = np.asarray(getattr(params, name))
            if not np.all((value > 0) & (value <= 1)):
                raise ValueError(f"parameter {name}={value.tolist()} is invalid: must be in (0, 1]")
        for name in ("p_clear", "p_cloudy", "p_realtime"):
            value = np.asarray(getattr(params, name))
            if not np.all((value >= 0) & (value <= 1)):
                raise ValueError(f"parameter {name}={value.tolist()} is invalid: must be in [0, 1]")
        if not np.all(np.asarray(params.p_clear) + np.asarray(params.p_cloudy) <= 1):
            raise ValueError(
                f"parameters p_clear={params.p_clear} and p_cloudy={params.p_cloudy} are "
                "invalid: their sum must be <= 1 (mixed days take the rest)"
            )
        if not np.all(np.asarray(params.scale_min) <= np.asarray(params.scale_max)):
            raise ValueError(
                f"parameter scale_min={params.scale_min} is invalid: must be <= "
                f"scale_max={params.scale_max}"
            )
        # The prices are capped at price_cap: unmet demand must cost more than any of them, and
        # exports earn no more than imports cost (what keeps the exact optimum exact).
        if not np.all(np.asarray(params.unmet_penalty) >= np.asarray(params.price_cap)):
            raise ValueError(
                f"parameter unmet_penalty={params.unmet_penalty} is invalid: must be >= "
                f"price_cap={params.price_cap}"
            )
        level, capacity = np.asarray(params.initial_level), np.asarray(params.capacity)
        if not np.all((level >= 0) & (level <= capacity)):
            raise ValueError(
                f"parameter initial_level={level.tolist()} is invalid: must lie in "
                f"[0, capacity={capacity.tolist()}]"
            )

    def reset_env(self, key, params):
        state = EnergyManagementV1State(
            level=jnp.asarray(params.initial_level, jnp.float32),
            time=jnp.zeros((), jnp.int32),
            episode_key_data=jax.random.key_data(key),
        )
        return self._observe(state, params), state

    def step_env(self, key, state, action, params):
        hour = profiles.hour_values(state.episode_key, state.time, params)
        problem = battery_problem(params, hour)
        low, high = charge_limits(problem, problem.net_load)
        requested = jnp.clip(action[0].astype(jnp.float32), -1.0, 1.0) * params.max_power
        safe_low, safe_high = shield_bounds(state, params, hour)
        shielded = jnp.clip(requested, safe_low, safe_high)
        requested = jnp.where(params.shield, shielded, requested)
        lowest = jnp.maximum(low, -state.level)
        charge = jnp.clip(requested, lowest, jnp.minimum(high, params.capacity - state.level))
        cost = hour_cost(
            problem, problem.net_load, problem.import_price, problem.export_price, charge
        )
        exchange = grid_exchange(problem, problem.net_load, charge)
        unmet = jnp.maximum(exchange - params.import_cap, 0.0)
        imported = exchange - unmet
        excess = jnp.maximum(imported - params.contract_cap, 0.0)
        level = jnp.clip(state.level + charge, 0.0, params.capacity).astype(jnp.float32)
        new_state = state.replace(level=level, time=state.time + 1)
        info = {
            "cost": cost.astype(jnp.float32),
            "grid_import": imported.astype(jnp.float32),
            "unmet_kwh": unmet.astype(jnp.float32),
            "price": problem.import_price.astype(jnp.float32),
            # 1.0 in an hour whose import passed the contracted cap (a tolerance of 1e-4 kWh
            # for float32 rounding at the cap); the excess itself, for reports.
            "constraint_cost": (excess > CAP_TOLERANCE).astype(jnp.float32),
            "cap_excess_kwh": excess.astype(jnp.float32),
        }
        truncated = new_state.time >= params.max_steps_in_episode
        return (
            self._observe(new_state, params),
            new_state,
            (-cost).astype(jnp.float32),
            jnp.zeros((), jnp.bool_),
            truncated,
            info,
        )

    def _observe(self, state, params) -> jax.Array:
        net_load, price = profiles.forecast(
            state.episode_key, state.time, self.forecast_hours, params
        )
        angle = 2 * jnp.pi * (state.time % 24).astype(jnp.float32) / 24
        head = jnp.stack(
            [
                state.level / params.capacity,
                jnp.sin(angle),
                jnp.cos(angle),
                state.time.astype(jnp.float32) / params.max_steps_in_episode,
            ]
        )
        return jnp.concatenate([head, net_load / NET_LOAD_SCALE, price / PRICE_SCALE]).astype(
            jnp.float32
        )

    def observation_space(self, params) -> spaces.Box:
        size = 4 + 2 * self.forecast_hours
        return spaces.Box(-jnp.inf, jnp.inf, (size,), jnp.float32)

    def action_space(self, params) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    @property
    def name(self) -> str:
        return "EnergyManagement-v1"

    # Static configuration: equal settings give equal (and equally hashed) environments, so
    # ``jax.jit`` with the environment as a static argument does not recompile.
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.forecast_hours == self.forecast_hours

    def __hash__(self) -> int:
        return hash((type(self), self.forecast_hours))

    def __repr__(self) -> str:
        return f"EnergyManagementV1(forecast_hours={self.forecast_hours})"


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class EnergyManagementV1Renderer:
    """The episode hour by hour: battery level, grid import, solar and demand (bars, kWh) and
    the import price (line, right axis), as the seed's energy plots draw a day."""

    def __init__(self, fig, env, params, states, actions, returns):
        hours = int(np.asarray(states.time).shape[0]) - 1
        self.hours = max(hours, 1)
        key = jax.random.wrap_key_data(np.asarray(states.episode_key_data)[0])
        values = profiles.hourly_values(key, self.hours, params)
        self.demand, self.solar = np.asarray(values.demand), np.asarray(values.solar)
        self.price = np.asarray(values.import_price)
        self.level = np.asarray(states.level, np.float64)  # [hours + 1]
        charge = np.diff(self.level)
        drawn = np.where(
            charge > 0,
            charge / float(params.charge_efficiency),
            charge * float(params.discharge_efficiency),
        )
        self.grid = self.demand - self.solar + drawn
        self.ax = ax = fig.add_subplot()
        x = np.arange(self.hours)
        width = 0.2
        zeros = np.zeros(self.hours)
        self.bars = {
            "battery level [kWh]": ax.bar(x - 1.5 * width, zeros, width, color="C0"),
            "grid import [kWh]": ax.bar(x - 0.5 * width, zeros, width, color="C2"),
            "demand [kWh]": ax.bar(x + 0.5 * width, zeros, width, color="C3"),
            "solar [kWh]": ax.bar(x + 1.5 * width, zeros, width, color="C1"),
        }
        top = max(float(params.capacity), float(self.demand.max()), float(self.solar.max()))
        low = min(float(self.grid.min()), 0.0)
        ax.set_ylim(1.05 * low, 1.05 * top)
        ax.set_xlim(-1, self.hours)
        ax.set_xlabel("hour")
        ax.legend([b[0] for b in self.bars.values()], list(self.bars), fontsize=7, loc="upper left")
        self.price_ax = ax.twinx()
        (self.price_line,) = self.price_ax.plot([], [], color="k", lw=1.2, label="price")
        self.price_ax.set_ylim(0, 1.1 * max(float(self.price.max()), 0.01))
        self.price_ax.set_ylabel("import price [$/kWh]")
        self.artists = [rect for bars in self.bars.values() for rect in bars] + [self.price_line]

    def draw(self, t: int) -> None:
        done = min(t, self.hours)
        values = {
            "battery level [kWh]": self.level[1:],
            "grid import [kWh]": self.grid,
            "demand [kWh]": self.demand,
            "solar [kWh]": self.solar,
        }
        for name, bars in self.bars.items():
            for h, rect in enumerate(bars):
                rect.set_height(float(values[name][h]) if h < done else 0.0)
        self.price_line.set_data(np.arange(done), self.price[:done])
