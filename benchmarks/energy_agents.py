"""Trained agents on EnergyManagement-v1's held-out days, beside the engineer's controllers and
the exact perfect-foresight optimum: the ``energy`` presets of SAC and PPO, each trained on N
seeds at once (one vmapped program, ``rljax.multicore.vmap_seeds``), then every seed's greedy
policy played on the held-out days (:func:`rljax.energy.profiles.evaluation_keys`, through
:func:`rljax.energy.baselines.episode_costs`); idle, rule and MPC measured in the same process
on the same days. With ``--v0``, the ``energy_v0`` preset on EnergyManagement-v0's one
deterministic day, against that day's optimum.

One JSON line per agent and per controller (``rljax.benchmarking.emit``; ``ours`` the mean cost
per episode over seeds and days, ``anchor`` the optimum's): the mean cost of each seed, the gap
to the optimum (relative, and as the share of the achievable saving idle -> optimum that the
agent gets; read the relative gap with care, the optimum is close to zero on these days),
training and evaluation seconds::

    python benchmarks/energy_agents.py                     # SAC and PPO, 8 seeds, 1000 days
    python benchmarks/energy_agents.py --algos sac --v0     # and the deterministic day
    python benchmarks/energy_agents.py --quick              # a smoke run (2 seeds, tiny budgets)
    python benchmarks/energy_agents.py --algos ppo --set total_timesteps=2000000 --set lr=1e-3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any

import jax
import numpy as np

from rljax import multicore
from rljax.benchmarking import emit
from rljax.energy import baselines, days, optimum, profiles
from rljax.env import make
from rljax.train import ppo, sac

ALGORITHMS = {"sac": sac, "ppo": ppo}
# A smoke run's budgets: enough to compile and run every piece, not to learn much.
QUICK = {
    "sac": dict(total_timesteps=2_000, learning_starts=500, buffer_size=2_000),
    "ppo": dict(total_timesteps=16_384),
}


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lr=1e-3", "hidden_sizes=[64,64]"]`` -> ``{"lr": 0.001, "hidden_sizes": (64, 64)}``:
    values parsed as JSON (lists become tuples, as the configs' sequence fields are)."""
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected FIELD=VALUE")
        value = json.loads(text)
        overrides[name] = tuple(value) if isinstance(value, list) else value
    return overrides


def train_seeds(module: Any, config: Any, seeds: int) -> tuple[Any, dict[str, float]]:
    """``config`` trained on ``seeds`` seeds (keys ``0 .. seeds - 1``): the train states (leaves
    ``[S, ...]``) and the compile and run seconds."""
    run = multicore.vmap_seeds(module.make_train(config), seeds)
    keys = jax.vmap(jax.random.key)(np.arange(seeds))
    compile_s = run.compile(keys)
    start = time.perf_counter()
    result = jax.block_until_ready(run(keys))
    return result.state, {
        "compile_s": round(compile_s, 1),
        "train_s": round(time.perf_counter() - start, 1),
    }


def seed_costs(
    module: Any, config: Any, states: Any, keys: jax.Array, params: Any, env: Any
) -> np.ndarray:
    """Every seed's greedy policy played on the episodes reset with ``keys [N]``: cost
    ``[S, N]`` ($ per episode)."""

    def one(state):
        policy = module.episode_policy(config, state)
        return baselines.episode_costs(policy, keys, params, env)["cost"]

    return np.asarray(jax.jit(jax.vmap(one))(states))


def v0_costs(module: Any, config: Any, states: Any) -> tuple[np.ndarray, float]:
    """Every seed's greedy cost ``[S]`` on EnergyManagement-v0's deterministic day, and that
    day's optimum."""
    env, params = make(config.env_id, **dict(config.env_kwargs))
    hours = int(params.max_steps_in_episode)

    def one(state):
        policy = module.episode_policy(config, state)
        obs, env_state = env.reset(jax.random.key(0), params)

        def body(carry, key):
            obs, env_state = carry
            action = policy(key, env_state, obs)
            obs, env_state, reward, *_ = env.step(key, env_state, action, params)
            return (obs, env_state), -reward

        _, cost = jax.lax.scan(body, (obs, env_state), jax.random.split(jax.random.key(1), hours))
        return cost.sum()

    best = float(optimum.solve(days.problem_from_params(params)).cost)
    return np.asarray(jax.jit(jax.vmap(one))(states)), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", default="sac,ppo", help="comma-separated: sac, ppo")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--days", type=int, default=1000, help="held-out days")
    parser.add_argument("--preset", default="energy", help="the preset every algorithm trains")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a config field (JSON value); repeatable")  # fmt: skip
    parser.add_argument("--v0", action="store_true", help="also the energy_v0 preset(s)")
    parser.add_argument("--v0-only", action="store_true", help="only the energy_v0 preset(s)")
    parser.add_argument("--quick", action="store_true", help="2 seeds, tiny budgets, 100 days")
    parser.add_argument("--controllers", default="idle,rule,mpc_12h",
                        help="the controllers measured beside (idle always)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.days = 2, 100
    overrides = parse_overrides(args.set)
    names = [name for name in args.algos.split(",") if name]
    for name in names:
        if name not in ALGORITHMS:
            raise SystemExit(f"unknown algorithm {name!r}: one of {', '.join(ALGORITHMS)}")

    env, params = make("EnergyManagement-v1")
    keys = profiles.evaluation_keys(args.days)
    best = np.asarray(jax.jit(lambda k: baselines.perfect_foresight_costs(k, params))(keys))
    controllers = {}
    wanted = {"idle"} | set(args.controllers.split(","))
    mpc = baselines.make_mpc(12, env)
    for label, controller in (("idle", baselines.idle), ("rule", baselines.rule), ("mpc_12h", mpc)):
        if label not in wanted:
            continue
        policy = baselines.controller_policy(controller, params)
        run = jax.jit(lambda k, policy=policy: baselines.episode_costs(policy, k, params, env))
        controllers[label] = np.asarray(run(keys)["cost"])
    idle_mean = float(controllers["idle"].mean())
    achievable = idle_mean - float(best.mean())

    def report(bench: str, costs: np.ndarray, **extra: Any) -> None:
        """``costs [S, N]`` (or ``[N]`` for a controller) against the optimum ``[N]``."""
        per_seed = np.atleast_2d(costs).mean(axis=1)
        mean = float(per_seed.mean())
        emit(
            bench, mean, float(best.mean()), "$/day", days=args.days,
            relative_gap=(mean - float(best.mean())) / abs(float(best.mean())),
            saving_share_of_optimum=(idle_mean - mean) / achievable,
            seed_costs=[round(float(c), 4) for c in per_seed] if costs.ndim == 2 else None,
            worst_seed=float(per_seed.max()),
            below_mpc_12h=bool(mean < controllers["mpc_12h"].mean())
            if "mpc_12h" in controllers
            else None,
            **extra,
        )  # fmt: skip

    for label, costs in controllers.items():
        report(f"energy_agents_{label}", costs)

    for name in names:
        module = ALGORITHMS[name]
        presets = ([] if args.v0_only else [args.preset]) + (
            ["energy_v0"] if (args.v0 or args.v0_only) and "energy_v0" in module.PRESETS else []
        )
        for preset in presets:
            config = dataclasses.replace(module.PRESETS[preset], **overrides)
            if args.quick:
                config = dataclasses.replace(config, **QUICK[name])
            states, seconds = train_seeds(module, config, args.seeds)
            settings = dict(seeds=args.seeds, total_timesteps=config.total_timesteps, **seconds)
            start = time.perf_counter()
            if preset == "energy_v0":
                costs, day_best = v0_costs(module, config, states)
                emit(
                    f"energy_agents_{name}_{preset}", float(costs.mean()), day_best, "$/day",
                    relative_gap=float(costs.mean() / day_best - 1),
                    seed_costs=[round(float(c), 3) for c in costs],
                    worst_seed_relative_gap=float(costs.max() / day_best - 1),
                    eval_s=round(time.perf_counter() - start, 1), **settings,
                )  # fmt: skip
                continue
            costs = seed_costs(module, config, states, keys, params, env)
            report(
                f"energy_agents_{name}_{preset}", costs,
                eval_s=round(time.perf_counter() - start, 1), **settings,
            )  # fmt: skip


if __name__ == "__main__":
    main()
