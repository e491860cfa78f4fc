"""The energy presets of SAC and PPO (EnergyManagement-v1's randomised days and -v0's one
deterministic day) validate, and a tiny PPO run on randomised days already beats leaving the
battery idle on held-out days (the full presets' figures: benchmarks/energy_agents.py)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from rljax.energy import baselines, profiles
from rljax.env import make
from rljax.train import ppo, sac

NUM_DAYS = 64


@pytest.mark.parametrize(
    ("module", "preset", "env_id"),
    [
        (sac, "energy", "EnergyManagement-v1"),
        (ppo, "energy", "EnergyManagement-v1"),
        (ppo, "energy_v0", "EnergyManagement-v0"),
    ],
)
def test_energy_presets_validate(module, preset, env_id):
    config = module.PRESETS[preset]
    assert config.env_id == env_id
    # replace() constructs the config again, so its validation runs again on these values
    assert dataclasses.replace(config) == config
    with pytest.raises(ValueError, match="total_timesteps"):
        dataclasses.replace(config, total_timesteps=0)


def test_a_tiny_ppo_run_beats_the_idle_battery_on_held_out_days():
    # The preset shrunk (150 updates of 8 x 48 steps, 32 x 32 networks), with gamma 0.99 and
    # GAE 0.95, steadier than the preset's 1.0 / 1.0 on so short a run.
    config = dataclasses.replace(
        ppo.PRESETS["energy"], num_envs=8, num_steps=48, total_timesteps=8 * 48 * 150,
        hidden_sizes=(32, 32), gamma=0.99, gae_lambda=0.95,
    )  # fmt: skip
    result = jax.jit(ppo.make_train(config))(jax.random.key(0))
    env, params = make("EnergyManagement-v1")
    keys = profiles.evaluation_keys(NUM_DAYS)
    trained = ppo.episode_policy(config, result.state)
    idle = baselines.controller_policy(baselines.idle, params)
    costs = jax.jit(
        lambda k: [baselines.episode_costs(p, k, params, env)["cost"] for p in (trained, idle)]
    )(keys)
    trained_cost, idle_cost = (float(np.mean(c)) for c in costs)
    # Measured when written, on these 64 days: idle $2.54 a day; this run $2.22 (seeds 1 and 2:
    # $2.38 each); the untrained policies of seeds 0-2 $2.58, $2.46 and $2.60, all failing this.
    assert trained_cost < 0.95 * idle_cost, (trained_cost, idle_cost)
