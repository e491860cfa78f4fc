"""``rljax eval RUN_DIR``: score the newest checkpoint's policy and draw one episode; for an
environment with a report of its own (:func:`rljax.energy.evaluation.report_for`: energy runs),
its figures on held-out episodes and a still of the drawn one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rljax.cli.common import CliError, HelpFormatter, fail, json_safe, parse_int


def add_eval(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="evaluate the greedy policy of a run's newest checkpoint",
        description=(
            "Run N episodes with the greedy policy of RUN_DIR's newest intact checkpoint and "
            "report the return; draw one episode to RUN_DIR/episode.gif (episode.txt for "
            "environments without a renderer). Algorithms add their own figures (multi-agent "
            "runs: the team return, success_rate, mean_steps, and the same for a sampled policy; "
            "Lagrangian PPO runs: the mean episode constraint cost and the share of episodes "
            "with any)."
        ),
        epilog=(
            "EnergyManagement-v1 runs (of algorithms that declare their greedy episode policy: "
            "PPO, SAC, TD3, ...) are scored on the first N held-out days "
            "(rljax.energy.profiles.evaluation_keys: the same days for every run and --seed; "
            "the return is minus the cost) against the perfect-foresight optimum, an idle "
            "battery, the rule-based controller and MPC over the observed forecast: per "
            "controller the mean cost per day, the gap to the optimum ($ per day and relative), "
            "the share of the achievable saving (idle - cost) / (idle - optimum) it gets, and "
            "against the run's contract_cap (--env-kwargs contract_cap=KW at training) the "
            "violation hours per day (hours whose grid import passed the cap), the share of "
            "days with any, kWh past the cap, unmet demand and the largest hourly import; the "
            "agent's and the optimum's cost of every day in --json (key \"energy\"). The "
            "episode drawn to the GIF (a day from --seed's key) also goes to RUN_DIR/day.png: "
            "battery level, grid import, demand and solar bars and the price line, the agent's "
            "hours above the optimum's schedule of the same day. EnergyManagement-v0 runs (one "
            "fixed day): the cost, the optimum's and the idle battery's."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by rljax train")
    parser.add_argument(
        "--episodes", type=parse_int, default=10, metavar="N",
        help="episodes (held-out days of energy runs; default: 10)",
    )  # fmt: skip
    parser.add_argument(
        "--seed-index", type=parse_int, default=0, metavar="I",
        help="which of the run's seeds (runs, for a sweep) to evaluate (default: 0)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=parse_int, default=0, metavar="S", help="evaluation seed (default: 0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-render", action="store_true", help="draw no episode (nor day.png)")
    parser.add_argument(
        "--max-frames", type=parse_int, default=300, metavar="F",
        help="frames in the GIF at most; longer episodes are subsampled (default: 300)",
    )  # fmt: skip
    parser.set_defaults(handler=eval_command, prog_name="rljax eval")


def eval_command(args: argparse.Namespace) -> int:
    from rljax.run.spec import RunError

    try:
        return evaluate(args, Path(args.run_dir))
    except (RunError, ValueError) as error:
        return fail(args.prog_name, error)


def evaluate(args: argparse.Namespace, run_dir: Path) -> int:
    import time

    import jax
    import numpy as np

    from rljax import render
    from rljax.energy.evaluation import report_for
    from rljax.env import make
    from rljax.learning.episodes import time_limit
    from rljax.run.restore import load_run
    from rljax.run.spec import RunSpec

    spec = RunSpec.load(run_dir)
    algorithm = spec.algorithm_spec
    if algorithm.evaluate_policy is None:
        raise CliError(f"{algorithm.name} runs are scored with rljax arena, not rljax eval")
    if args.episodes < 1:
        raise CliError(f"--episodes={args.episodes} is invalid: must be >= 1")
    if not 0 <= args.seed_index < spec.num_runs:
        raise CliError(
            f"--seed-index={args.seed_index} is invalid: the run has runs 0..{spec.num_runs - 1}"
        )
    spec, state, update = load_run(run_dir, log=lambda text: print(text, flush=True))
    state = jax.tree.map(lambda x: x[args.seed_index], state)
    config = spec.config
    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    max_steps = time_limit(env_params)
    key = jax.random.key(args.seed)
    # An environment with a report of its own (energy: held-out days against the optimum and
    # the baselines) plays the algorithm's greedy episode policy itself, instead of the
    # algorithm's evaluate_policy: its episodes are the report's, so the policy is compiled
    # into one evaluation program, not two.
    report = report_for(config.env_id) if algorithm.episode_policy is not None else None
    if not args.json:
        what = "held-out episodes" if report else "evaluation episodes"
        also = " (the agent, the baselines and the optimum)" if report else ""
        print(f"compiling {args.episodes} {what} of {config.env_id}{also}", flush=True)
    began = time.perf_counter()
    if report is not None:
        policy = algorithm.episode_policy(config, state)
        figures = report.play(env, env_params, policy, args.episodes)
    else:
        figures = algorithm.evaluate_policy(config, state, args.episodes, key, max_steps)
    returns = np.asarray(figures.pop("returns"), np.float64)
    lengths = np.asarray(figures.pop("lengths"))
    render_path = figure_path = None
    if not args.no_render and algorithm.record_episode is not None:
        keys = jax.random.split(key, args.episodes)
        length0, traj = algorithm.record_episode(config, state, keys[0], max_steps)
        title = f"{algorithm.run_title(config)} {config.env_id}, update {update}"
        render_path = render.render_episode(
            config.env_id, env, env_params, traj, int(length0), run_dir / "episode",
            max_frames=args.max_frames, title=title,
        )  # fmt: skip
        if report is not None:
            states, _, actions, returns_so_far = render.episode_arrays(traj, int(length0))
            figure_path = report.draw(
                config.env_id, env, env_params, states, actions, returns_so_far,
                run_dir / "day.png", title=title,
            )  # fmt: skip
    result = {
        "run_dir": str(run_dir),
        "env_id": config.env_id,
        "update": update,
        "seed_index": args.seed_index,
        "episodes": int(args.episodes),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "min_return": float(returns.min()),
        "max_return": float(returns.max()),
        "mean_length": float(np.mean(lengths)),
        **figures,
        "returns": [float(r) for r in returns],
        "render": None if render_path is None else str(render_path),
        "figure": None if figure_path is None else str(figure_path),
        "seconds": round(time.perf_counter() - began, 3),
    }
    if args.json:
        print(json.dumps(json_safe(result), allow_nan=False))
        return 0
    print(
        f"{config.env_id}, checkpoint of update {update}, seed index {args.seed_index}: "
        f"{args.episodes} greedy {'held-out ' if report else ''}episodes"
    )
    print(
        f"return  mean {result['mean_return']:.2f}  std {result['std_return']:.2f}  "
        f"min {result['min_return']:.2f}  max {result['max_return']:.2f}  "
        f"(mean length {result['mean_length']:.1f})"
    )
    if "success_rate" in figures:
        for mode, shown in (("greedy", result), ("sampled", result.get("sampled", {}))):
            if "success_rate" in shown:
                print(
                    f"{mode:<8}success rate {shown['success_rate']:.3f}  mean steps "
                    f"{shown['mean_steps']:.2f} (successful episodes)"
                )
    if "mean_constraint_cost" in figures:  # a constrained MDP (Lagrangian PPO's runs)
        print(
            f"constraint cost  mean {figures['mean_constraint_cost']:.3f} per episode  "
            f"episodes with any {figures['constraint_cost_episode_rate']:.3f}"
        )
    if report is not None:
        for line in report.lines(figures):
            print(line)
    if render_path is not None:
        print(f"episode drawn to {render_path}")
    if figure_path is not None:
        print(f"its day beside the optimum's schedule drawn to {figure_path}")
    return 0
