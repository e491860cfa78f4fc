"""Episodes of EnergyManagement-v0 and -v1 as optimisation problems
(:class:`rljax.energy.optimum.Problem`), for their perfect-foresight optimum."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rljax.energy import profiles
from rljax.energy.optimum import Problem
from rljax.envs.energy_management import EnergyManagementParams, hourly_profile
from rljax.envs.energy_management_v1 import battery_problem


def problem_from_params(params: EnergyManagementParams, horizon: int | None = None) -> Problem:
    """The environment's episode under ``params`` as a :class:`Problem` of ``horizon`` hours
    (default ``params.max_steps_in_episode``), step ``t`` at hour ``t mod 24``. The environment's
    battery is lossless and wears nothing, and exports earn ``feed_in_tariff``; ``jax.vmap`` over
    batched params gives a batch of problems."""
    horizon = int(params.max_steps_in_episode) if horizon is None else horizon
    hours = jnp.arange(horizon) % 24
    demand, solar, price = jax.vmap(lambda h: hourly_profile(h, params))(hours)
    as_f32 = lambda x: jnp.asarray(x, jnp.float32)
    return Problem(
        net_load=demand - solar,
        import_price=price,
        export_price=jnp.broadcast_to(as_f32(params.feed_in_tariff), price.shape),
        capacity=as_f32(params.capacity),
        max_power=as_f32(params.max_power),
        initial_level=as_f32(params.initial_level),
        import_cap=as_f32(params.import_cap),
        unmet_penalty=as_f32(params.unmet_demand_penalty),
    )


def problem_from_episode(episode_key: jax.Array, params, hours: int | None = None) -> Problem:
    """The EnergyManagement-v1 episode reset with ``episode_key`` under ``params`` (an
    ``EnergyManagementV1Params``) as a :class:`Problem` of ``hours`` hours (default
    ``params.max_steps_in_episode``): the true values of every hour, as perfect foresight sees
    them. ``jax.vmap`` over keys gives a batch of days."""
    horizon = int(params.max_steps_in_episode) if hours is None else hours
    return battery_problem(params, profiles.hourly_values(episode_key, horizon, params))
