"""Days of EnergyManagement-v0 as optimisation problems (:class:`rljax.energy.optimum.Problem`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rljax.energy.optimum import Problem
from rljax.envs.energy_management import EnergyManagementParams, hourly_profile


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
