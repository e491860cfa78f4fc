"""The engineer's controllers on EnergyManagement-v1's held-out days, against the exact
perfect-foresight optimum: cost per day, gap to the optimum, and the share of the optimum's
saving over an idle battery that each one gets.

Held-out days: :func:`rljax.energy.profiles.evaluation_keys` (the same on every machine). The
relative gap ``(cost - optimum) / optimum`` is printed too, but read it with care: on these
household days the optimum is close to zero (solar covers much of the demand and exports earn
little), so a few cents look like tens of percent; the saving share is the figure to compare.
Prints one JSON line per controller (``ours`` its mean cost, ``anchor`` the optimum's)::

    python benchmarks/energy_baselines.py              # 1000 days
    python benchmarks/energy_baselines.py --days 200 --horizon 168   # 200 weeks
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from rljax.benchmarking import emit
from rljax.energy import baselines, profiles
from rljax.env import make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=1000, help="held-out episodes")
    parser.add_argument("--horizon", type=int, default=24, help="hours per episode (24 or 168)")
    parser.add_argument("--mpc-hours", type=int, default=12, help="MPC's planning window")
    args = parser.parse_args()
    env, params = make("EnergyManagement-v1", max_steps_in_episode=args.horizon)
    keys = profiles.evaluation_keys(args.days)
    start = time.perf_counter()
    optimum = np.asarray(jax.jit(lambda k: baselines.perfect_foresight_costs(k, params))(keys))
    optimum_s = time.perf_counter() - start
    idle_mean = None
    controllers = (
        ("idle", baselines.idle),
        ("rule", baselines.rule),
        (f"mpc_{args.mpc_hours}h", baselines.make_mpc(args.mpc_hours, env)),
    )
    for name, controller in controllers:
        policy = baselines.controller_policy(controller, params)
        start = time.perf_counter()
        run = jax.jit(lambda k, policy=policy: baselines.episode_costs(policy, k, params, env))
        result = jax.tree.map(np.asarray, run(keys))
        seconds = time.perf_counter() - start
        cost = result["cost"]
        idle_mean = cost.mean() if name == "idle" else idle_mean
        saving_share = (idle_mean - cost.mean()) / (idle_mean - optimum.mean())
        emit(
            f"energy_{name}",
            float(cost.mean()),
            float(optimum.mean()),
            "$/episode",
            episodes=args.days,
            horizon_hours=args.horizon,
            gap_per_episode=float((cost - optimum).mean()),
            relative_gap=float((cost.mean() - optimum.mean()) / abs(optimum.mean())),
            saving_share_of_optimum=float(saving_share),
            never_below_optimum=bool(np.all(cost >= optimum - 1e-4)),
            seconds_incl_compile=round(seconds, 1),
            optimum_seconds_incl_compile=round(optimum_s, 1),
        )


if __name__ == "__main__":
    main()
