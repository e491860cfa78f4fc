"""Safe RL under a budget: Lagrangian PPO (PID multiplier, and plain dual ascent) against fixed
penalties and a shield, on a constrained task's held-out episodes.

Tasks (``--task``), each a :data:`rljax.train.ppo_lagrangian.PRESETS` entry:

- ``energy``: EnergyManagement-v1 with a contracted import cap (``contract_cap``): the
  constraint cost is 1 in an hour whose grid import passed it; the budget is the expected
  violating hours per day. Scored on :func:`rljax.energy.profiles.evaluation_keys` days by
  :func:`rljax.energy.baselines.episode_costs` ($ per day and violations per day), beside the
  perfect-foresight optimum with the cap as a hard limit. The shield (``shield=True``: every
  action clipped to what the one-step model allows under the cap) runs unconstrained PPO.
- ``hazards``: HazardGridWorld-v0: the cost is 1 per step on a hazard cell; the budget is the
  expected hazard steps per episode. Scored on greedy episodes.

Every run trains ``--seeds`` seeds in one vmapped program; the fixed penalties are one program
too (a sweep of the ``multiplier_init`` leaf). A run *meets the budget* when its held-out mean
episode cost is at most the budget. The headline: the Lagrangian run's objective (cost per day
or return) against the best fixed penalty that meets the budget. Prints one JSON line per run
(``ours``: its objective; ``anchor``: the best feasible fixed penalty's) and draws the
multipliers' and episode costs' curves to ``docs/safe_rl_<task>.png``::

    python benchmarks/safe_rl.py --task energy            # 4 seeds
    python benchmarks/safe_rl.py --task hazards --seeds 8
    python benchmarks/safe_rl.py --task energy --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rljax.benchmarking import emit
from rljax.env import make
from rljax.learning.episodes import run_episodes
from rljax.train import ppo, ppo_lagrangian

# The fixed penalties swept per task (reward per unit of constraint cost), 0 = unconstrained.
PENALTIES = {
    "energy": (0.0, 0.05, 0.1, 0.2, 0.5, 1.0),
    "hazards": (0.0, 0.05, 0.1, 0.2, 0.5, 1.0),
}
DOCS = Path(__file__).resolve().parent.parent / "docs"


def train_runs(config: ppo_lagrangian.Config, keys: jax.Array, hparams) -> ppo.TrainResult:
    """``config`` trained once per key, with ``hparams`` leaves ``[R]`` (one program)."""
    return jax.jit(jax.vmap(ppo_lagrangian.make_train(config)))(keys, hparams)


def stacked_hparams(config: ppo_lagrangian.Config, count: int, **leaves) -> ppo_lagrangian.HParams:
    """``config``'s hyperparameters broadcast to ``[count]``, with ``leaves`` (``[count]``) set."""
    base = jax.tree.map(lambda x: jnp.full((count,), x), config.hparams())
    return base.replace(**{k: jnp.asarray(v, jnp.float32) for k, v in leaves.items()})


def score_energy(config, states, episodes: int) -> dict[str, np.ndarray]:
    """Held-out ``cost`` and ``violations`` per day ``[R, days]`` of each run's greedy policy."""
    from rljax.energy import baselines, profiles

    env, params = make(config.env_id, **dict(config.env_kwargs))
    keys = profiles.evaluation_keys(episodes)

    def one(state):
        policy = ppo.episode_policy(config, state)
        return baselines.episode_costs(policy, keys, params, env)

    result = jax.jit(jax.vmap(one))(states)
    return {
        "objective": -np.asarray(result["cost"]),
        "cost": np.asarray(result["violations"]),
    }


def score_episodes(config, states, episodes: int) -> dict[str, np.ndarray]:
    """Greedy episodes' ``objective`` (return) and constraint ``cost`` ``[R, episodes]``."""
    env, params = make(config.env_id, **dict(config.env_kwargs))
    key = jax.random.key(12345)

    def one(state):
        policy = ppo.episode_policy(config, state)
        return run_episodes(
            env, params, policy, key, episodes, info_sums=(ppo_lagrangian.COST_KEY,)
        )

    result = jax.jit(jax.vmap(one))(states)
    return {
        "objective": np.asarray(result["return"]),
        "cost": np.asarray(result[ppo_lagrangian.COST_KEY]),
    }


def energy_reference(config, episodes: int) -> dict[str, float]:
    """The perfect-foresight optimum's cost per day without the cap and with it as a hard limit."""
    from rljax.energy import days, optimum, profiles

    _, params = make(config.env_id, **dict(config.env_kwargs))
    keys = profiles.evaluation_keys(episodes)
    free = jax.vmap(lambda k: optimum.solve(days.problem_from_episode(k, params)).cost)
    capped = jax.vmap(
        lambda k: (
            optimum.solve(
                days.problem_from_episode(k, params).replace(
                    import_cap=jnp.float32(params.contract_cap)
                )
            ).cost
        )
    )
    return {
        "optimum_cost": float(jax.jit(free)(keys).mean()),
        "optimum_within_cap_cost": float(jax.jit(capped)(keys).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(PENALTIES), default="energy")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=1000, help="held-out episodes per run")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny budgets")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()

    base = ppo_lagrangian.PRESETS[args.task]
    if args.quick:
        base = dataclasses.replace(base, total_timesteps=base.batch_size * 4)
        args.seeds, args.episodes = 1, 16
    budget = base.cost_budget
    score = score_energy if args.task == "energy" else score_episodes
    seeds = jax.random.split(jax.random.key(0), args.seeds)
    penalties = PENALTIES[args.task]
    runs: dict[str, dict] = {}

    def run(name, config, keys, hparams, penalty=None):
        began = time.perf_counter()
        result = train_runs(config, keys, hparams)
        scores = score(config, result.state, args.episodes)
        seconds = time.perf_counter() - began
        metrics = {k: np.asarray(v) for k, v in result.metrics.items()}
        runs[name] = dict(config=config, scores=scores, metrics=metrics, penalty=penalty)
        return seconds

    # The fixed penalties, seeds inner: one program for every (penalty, seed) pair.
    fixed = dataclasses.replace(base, multiplier="fixed")
    pairs = [(p, s) for p in penalties for s in range(args.seeds)]
    sweep_keys = jnp.stack([seeds[s] for _, s in pairs])
    hp = stacked_hparams(fixed, len(pairs), multiplier_init=[p for p, _ in pairs])
    began = time.perf_counter()
    result = train_runs(fixed, sweep_keys, hp)
    scores = score(fixed, result.state, args.episodes)
    sweep_seconds = time.perf_counter() - began
    for i, penalty in enumerate(penalties):
        rows = slice(i * args.seeds, (i + 1) * args.seeds)
        runs[f"fixed_{penalty:g}"] = dict(
            config=fixed,
            scores={k: v[rows] for k, v in scores.items()},
            metrics={k: np.asarray(v)[rows] for k, v in result.metrics.items()},
            penalty=penalty,
        )
    timings = {"fixed_sweep": sweep_seconds}
    for kind in ("pid", "dual"):
        config = dataclasses.replace(base, multiplier=kind)
        timings[kind] = run(kind, config, seeds, stacked_hparams(config, args.seeds))
    if args.task == "energy":
        shielded = dataclasses.replace(
            base, multiplier="fixed", multiplier_init=0.0,
            env_kwargs=(*base.env_kwargs, ("shield", True)),
        )  # fmt: skip
        timings["shield"] = run("shield", shielded, seeds, stacked_hparams(shielded, args.seeds))

    reference = energy_reference(base, args.episodes) if args.task == "energy" else {}
    summary = {
        name: dict(
            objective=float(r["scores"]["objective"].mean()),
            cost=float(r["scores"]["cost"].mean()),
            seed_costs=[float(c) for c in r["scores"]["cost"].mean(axis=1)],
            seed_objectives=[float(o) for o in r["scores"]["objective"].mean(axis=1)],
            violation_episode_rate=float((r["scores"]["cost"] > 0).mean()),
        )
        for name, r in runs.items()
    }
    feasible = [
        name for name in runs if name.startswith("fixed_") and summary[name]["cost"] <= budget
    ]
    best_fixed = max(feasible, key=lambda n: summary[n]["objective"]) if feasible else None
    anchor = summary[best_fixed]["objective"] if best_fixed else None
    unit = "-$/day" if args.task == "energy" else "return"
    for name, figures in summary.items():
        emit(
            f"safe_rl_{args.task}_{name}",
            figures["objective"],
            anchor,
            unit,
            budget=budget,
            meets_budget=figures["cost"] <= budget,
            mean_episode_cost=figures["cost"],
            violation_episode_rate=figures["violation_episode_rate"],
            seed_costs=figures["seed_costs"],
            seed_objectives=figures["seed_objectives"],
            best_feasible_fixed=best_fixed,
            final_multiplier=float(runs[name]["metrics"]["lagrange_multiplier"][:, -1].mean()),
            seeds=args.seeds,
            episodes=args.episodes,
            env_steps_per_seed=base.total_timesteps,
            **reference,
        )
    emit(f"safe_rl_{args.task}_seconds", sum(timings.values()), None, "s", **timings)
    if not args.no_plot:
        plot(args.task, runs, budget, DOCS / f"safe_rl_{args.task}.png")


def plot(task: str, runs: dict, budget: float, path: Path) -> None:
    """The multiplier and the training episode cost per update: PID and dual ascent (every seed,
    thin) and the fixed penalties' costs (seed means)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_lambda, ax_cost) = plt.subplots(1, 2, figsize=(11, 4))
    for name, color in (("pid", "C0"), ("dual", "C3")):
        metrics = runs[name]["metrics"]
        for seed, (lam, cost) in enumerate(
            zip(metrics["lagrange_multiplier"], metrics["episode_cost"], strict=True)
        ):
            label = name if seed == 0 else None
            ax_lambda.plot(lam, color=color, lw=0.8, alpha=0.7, label=label)
            ax_cost.plot(cost, color=color, lw=0.8, alpha=0.7, label=label)
    for i, name in enumerate(n for n in runs if n.startswith("fixed_")):
        cost = np.nanmean(runs[name]["metrics"]["episode_cost"], axis=0)
        ax_cost.plot(cost, color=f"C{(i % 6) + 4}", lw=0.8, ls=":", label=name)
    ax_cost.axhline(budget, color="k", lw=1.0, ls="--", label="budget")
    ax_lambda.set(xlabel="update", ylabel="Lagrange multiplier", title=f"{task}: multiplier")
    ax_cost.set(xlabel="update", ylabel="episode cost (training)", title=f"{task}: episode cost")
    ax_lambda.legend(fontsize=7)
    ax_cost.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"curves drawn to {path}")


if __name__ == "__main__":
    main()
