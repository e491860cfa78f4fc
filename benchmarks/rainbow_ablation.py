"""Each Rainbow part alone, and Rainbow minus each part: DQN ablations through the run driver.

For one task (``--task cartpole`` or ``acrobot``) this trains, on the same seeds and the same
env-step budget, with the task's plain-DQN preset's hyperparameters throughout:

- (a) ``plain``: the preset itself;
- (b) the preset plus one part: ``double``, ``dueling``, ``per`` (proportional prioritised
  replay, alpha 0.6, beta annealed 0.4 -> 1), ``n-step 3``, ``c51`` (51 atoms on the preset's
  ``[v_min, v_max]``), ``noisy`` (factorised Gaussian layers; epsilon-greedy off) and
  ``polyak`` (soft target updates, tau 0.005, in place of hard copies);
- (c) ``rainbow``: every part on (still the plain preset's lr and gradient steps, unlike the
  ``rainbow`` preset, so that the rows differ in the parts only);
- (d) ``rainbow - X``: Rainbow without one part (Hessel et al. 2018's own ablation);
- (e) ``rainbow preset`` (CartPole only): the tuned ``rainbow`` preset (lr 1e-3, 4 gradient
  steps per update), for reference.

Each configuration is one ``rljax.run.train`` call (its seeds vmapped in one program, split over
the CPU cores) into ``RUNS_DIR/<task>/<name>``, then greedy evaluation episodes per seed. Reported
per configuration: the final return (per seed the mean of ``episode_return`` over the last 10
updates, as the driver's summary; then mean ± std and min over seeds), the area under the curve
(per seed the mean of ``episode_return`` over all updates, i.e. mean return over training: it
rewards speed), the greedy return (per seed the mean of ``--eval-episodes`` greedy episodes;
mean and min over seeds), the env steps at which the seed-mean curve first reaches the task's
threshold (CartPole 475, Acrobot -100) and how many seeds' own curves ever reach it, and the
compile and train seconds the driver measured (absolute: the box is shared, see the load).

One JSON line per configuration is appended to ``--out`` as soon as it finishes; configurations
already there are skipped, so a stopped run continues where it was, and ``--table FILE`` prints
the markdown table from a results file without training::

    python benchmarks/rainbow_ablation.py --task cartpole --seeds 8
    python benchmarks/rainbow_ablation.py --task acrobot --seeds 4 --groups a b c
    python benchmarks/rainbow_ablation.py --quick            # 3 configs, 2 seeds, 4 k steps
    python benchmarks/rainbow_ablation.py --table /tmp/ablation_cartpole.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

LAST_UPDATES = 10  # the driver's "final return" window

# Per task: the plain preset, the env-step budget per seed and the return threshold.
TASKS: dict[str, dict[str, Any]] = {
    "cartpole": {"preset": "cartpole", "timesteps": 100_000, "threshold": 475.0},
    "acrobot": {"preset": "acrobot", "timesteps": 100_000, "threshold": -100.0},
}

# Each part as the config fields that switch it on. C51's support comes from the preset (CartPole
# [0, 100], Acrobot [-100, 0]: the discounted returns at gamma 0.99 stay inside either).
PARTS: dict[str, dict[str, Any]] = {
    "double": {"double_q": True},
    "dueling": {"dueling": True},
    "per": {"prioritised": True},
    "n-step 3": {"n_step": 3},
    "c51": {"distributional": True},
    "noisy": {"noisy": True},
    "polyak": {"target_update": "polyak"},
}
GROUPS = ("a", "b", "c", "d", "e")
QUICK_NAMES = ("plain", "+ per", "rainbow")


def variants(task: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``[(group, name, overrides of the plain preset)]`` in the order they are run: plain,
    Rainbow, each part alone, Rainbow minus each part, then the tuned preset."""
    everything: dict[str, Any] = {}
    for fields in PARTS.values():
        everything.update(fields)
    out = [("a", "plain", {}), ("c", "rainbow", everything)]
    out += [("b", f"+ {name}", fields) for name, fields in PARTS.items()]
    for name in PARTS:
        rest: dict[str, Any] = {}
        for other, fields in PARTS.items():
            if other != name:
                rest.update(fields)
        out.append(("d", f"rainbow - {name}", rest))
    if task == "cartpole":
        out.append(("e", "rainbow preset", {"__preset__": "rainbow"}))
    return out


def make_config(task: str, overrides: dict[str, Any], timesteps: int) -> Any:
    """The task's plain preset with ``overrides`` (or the named preset) at ``timesteps``."""
    from rljax.train import dqn

    overrides = dict(overrides)
    preset = overrides.pop("__preset__", TASKS[task]["preset"])
    return dataclasses.replace(dqn.PRESETS[preset], total_timesteps=timesteps, **overrides)


def load_average() -> str:
    """The 1-minute load average of the box (it is shared: absolute times depend on it)."""
    return f"{os.getloadavg()[0]:.2f}"


def curves(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(env_steps [U], episode_return [S, U])`` of a finished run (NaN before a first episode)."""
    from rljax import metrics

    rows = [r for r in metrics.read_jsonl(run_dir / "metrics.jsonl") if r.get("kind") == "train"]
    seeds = sorted({int(r["seed"]) for r in rows})
    updates = sorted({int(r["update"]) for r in rows})
    col = {u: i for i, u in enumerate(updates)}
    returns = np.full((len(seeds), len(updates)), np.nan)
    steps = np.zeros(len(updates))
    for r in rows:
        value = r.get("episode_return")
        i, j = seeds.index(int(r["seed"])), col[int(r["update"])]
        returns[i, j] = math.nan if value is None else float(value)
        steps[j] = float(r["env_steps"])
    return steps, returns


def trailing_mean(curve: np.ndarray, window: int = LAST_UPDATES) -> np.ndarray:
    """``[U]``: at each update the nanmean of ``curve`` [U] over the last ``window`` updates
    (fewer at the start): the "final return" the run would report had it stopped there."""
    values = np.asarray(curve, np.float64)
    finite = np.isfinite(values)
    sums = np.cumsum(np.where(finite, values, 0.0))
    counts = np.cumsum(finite)
    sums[window:] = sums[window:] - sums[:-window]
    counts[window:] = counts[window:] - counts[:-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def first_reach(steps: np.ndarray, curve: np.ndarray, threshold: float) -> float | None:
    """Env steps at the first update where the trailing mean (:func:`trailing_mean`) of
    ``curve`` [U] is >= ``threshold`` (None: never). Smoothed as the final return is, so that
    one lucky update does not count."""
    smooth = np.nan_to_num(trailing_mean(curve), nan=-np.inf)
    hits = np.flatnonzero(smooth >= threshold)
    return float(steps[hits[0]]) if hits.size else None


def summarise(
    steps: np.ndarray, returns: np.ndarray, greedy: np.ndarray, threshold: float
) -> dict[str, Any]:
    """The figures of one configuration from its curves (``returns`` [S, U]) and greedy
    returns (``greedy`` [S], each the mean of that seed's evaluation episodes)."""
    from rljax.metrics import seed_mean

    final = np.array([np.nanmean(r[-LAST_UPDATES:]) for r in returns])  # [S]
    auc = np.array([np.nanmean(r) for r in returns])  # [S]: mean return over training
    mean_curve = seed_mean(returns)  # [U]
    per_seed = [first_reach(steps, r, threshold) for r in returns]
    reached = [s for s in per_seed if s is not None]
    # Median over all seeds, a seed that never reaches the threshold counting as last.
    median = float(np.median([math.inf if s is None else s for s in per_seed]))
    return {
        "final_mean": float(np.mean(final)),
        "final_std": float(np.std(final)),
        "final_min": float(np.min(final)),
        "final_per_seed": [round(float(x), 2) for x in final],
        "auc_mean": float(np.mean(auc)),
        "greedy_mean": float(np.mean(greedy)),
        "greedy_min": float(np.min(greedy)),
        "greedy_per_seed": [round(float(x), 2) for x in greedy],
        "mean_curve_reaches_at": first_reach(steps, mean_curve, threshold),
        "seeds_reaching": len(reached),
        "median_seed_reaches_at": median if math.isfinite(median) else None,
        # Seed-mean curve thinned to <= 200 points, for plots without the run directories.
        "curve_steps": steps[:: max(1, len(steps) // 200)].tolist(),
        "curve_mean": [
            None if not np.isfinite(x) else round(float(x), 2)
            for x in mean_curve[:: max(1, len(steps) // 200)]
        ],
    }


def greedy_returns(config: Any, state: Any, num_seeds: int, episodes: int) -> np.ndarray:
    """``[S]``: per seed, the mean return of ``episodes`` greedy episodes (the evaluation key
    of seed index ``i`` is ``key(1000 + i)``)."""
    import jax

    from rljax.env import make
    from rljax.learning.episodes import time_limit
    from rljax.train import dqn

    _, env_params = make(config.env_id, **dict(config.env_kwargs))
    max_steps = time_limit(env_params)
    out = []
    for i in range(num_seeds):
        one = jax.tree.map(lambda x, i=i: x[i], state)
        figures = dqn.evaluate_policy(config, one, episodes, jax.random.key(1000 + i), max_steps)
        out.append(float(np.mean(np.asarray(figures["returns"], np.float64))))
    return np.asarray(out)


def run_one(
    task: str,
    group: str,
    name: str,
    overrides: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Trains and evaluates one configuration; returns its results record."""
    from rljax import run

    config = make_config(task, overrides, args.timesteps)
    run_dir = run_dir_of(args.runs_dir, task, name)
    if run_dir.exists():  # left by an interrupted call of this script: not in --out, so redo it
        shutil.rmtree(run_dir)
    load_before = load_average()
    lines: list[str] = []
    began = time.perf_counter()
    result = run.train(config, run_dir, seeds=args.seeds, progress=False, log=lines.append)
    if result.status != 0:
        raise RuntimeError(f"{name}: run ended with status {result.status}: {result.message}")
    eval_began = time.perf_counter()
    greedy = greedy_returns(config, result.state, args.seeds, args.eval_episodes)
    eval_s = time.perf_counter() - eval_began
    steps, returns = curves(run_dir)
    record = {
        "task": task,
        "group": group,
        "name": name,
        "overrides": dict(overrides),
        "run_dir": str(run_dir),
        "env_id": config.env_id,
        "seeds": args.seeds,
        "env_steps_per_seed": int(steps[-1]),
        "threshold": TASKS[task]["threshold"],
        "eval_episodes": args.eval_episodes,
        "compile_s": round(result.compile_seconds, 2),
        "train_s": round(result.train_seconds, 2),
        "eval_s": round(eval_s, 2),
        "wall_s": round(time.perf_counter() - began, 2),
        "load_before": load_before,
        "load_after": load_average(),
        "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        **summarise(steps, returns, greedy, TASKS[task]["threshold"]),
    }
    return record


def run_dir_of(runs_dir: str | Path, task: str, name: str) -> Path:
    return Path(runs_dir) / task / name.replace(" ", "_")


def rescore(path: Path, runs_dir: str) -> None:
    """Recomputes the curve figures of every record in ``path`` from its run directory (the
    greedy returns are kept), for a change of :func:`summarise` without retraining."""
    records = read_results(path)
    for record in records:
        run_dir = Path(
            record.get("run_dir") or run_dir_of(runs_dir, record["task"], record["name"])
        )
        steps, returns = curves(run_dir)
        greedy = np.asarray(record["greedy_per_seed"])
        record.update(summarise(steps, returns, greedy, record["threshold"]))
        record["run_dir"] = str(run_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    tmp.replace(path)


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fmt_steps(value: float | None) -> str:
    return "never" if value is None else f"{value / 1000:.0f} k"


def table(records: list[dict[str, Any]]) -> str:
    """The markdown table of ``records`` (one results line each), in the order given."""
    if not records:
        return "(no results)"
    threshold = records[0]["threshold"]
    head = (
        "| group | config | final ± std (min) | AUC | greedy (min) | "
        f"mean curve ≥ {threshold:g} at | seeds ≥ {threshold:g} (median at) | compile s | train s |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        seeds_col = f"{r['seeds_reaching']}/{r['seeds']}"
        if r["median_seed_reaches_at"] is not None:
            seeds_col += f" ({fmt_steps(r['median_seed_reaches_at'])})"
        lines.append(
            f"| {r['group']} | {r['name']} "
            f"| {r['final_mean']:.0f} ± {r['final_std']:.0f} ({r['final_min']:.0f}) "
            f"| {r['auc_mean']:.0f} "
            f"| {r['greedy_mean']:.0f} ({r['greedy_min']:.0f}) "
            f"| {fmt_steps(r['mean_curve_reaches_at'])} | {seeds_col} "
            f"| {r['compile_s']:.0f} | {r['train_s']:.0f} |"
        )
    return "\n".join(lines)


def plot(records: list[dict[str, Any]], path: Path) -> None:
    """Seed-mean return curves of ``records`` against env steps, groups a-c and a, d apart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    panels = [("a", "b", "c"), ("a", "c", "d", "e")]
    titles = ["each part alone", "Rainbow minus each part"]
    for k, (groups, title) in enumerate(zip(panels, titles, strict=True)):
        ax = fig.add_subplot(1, 2, k + 1)
        for r in records:
            if r["group"] in groups:
                values = [math.nan if v is None else v for v in r["curve_mean"]]
                style = "-" if r["group"] in ("a", "c", "e") else "--"
                ax.plot(r["curve_steps"], values, style, linewidth=1.2, label=r["name"])
        ax.set_title(f"{records[0]['env_id']}: {title} ({records[0]['seeds']} seeds)")
        ax.set_xlabel("env steps per seed")
        ax.set_ylabel("episode return (seed mean)")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="cartpole")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per config (default 8)")
    parser.add_argument("--timesteps", type=int, default=None, help="env steps per seed")
    parser.add_argument("--eval-episodes", type=int, default=None, help="greedy episodes/seed")
    parser.add_argument(
        "--groups", nargs="*", choices=GROUPS, default=list(GROUPS), help="which groups to run"
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="config names to run, in this order (+per)"
    )
    parser.add_argument("--out", default=None, help="results file (JSON lines; appended)")
    parser.add_argument("--runs-dir", default="/tmp/ablation_runs", help="run directories")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 configs, 2 seeds, 4 k")
    parser.add_argument("--table", default=None, help="print the table of a results file; exit")
    parser.add_argument(
        "--rescore", default=None, help="recompute a results file's figures from its run dirs"
    )
    parser.add_argument("--plot", default=None, help="also draw the curves to this PNG file")
    args = parser.parse_args()

    if args.rescore:
        rescore(Path(args.rescore), args.runs_dir)
        args.table = args.rescore
    if args.table:
        records = read_results(Path(args.table))
        print(table(records))
        if args.plot:
            plot(records, Path(args.plot))
        return
    args.seeds = args.seeds or (2 if args.quick else 8)
    args.timesteps = args.timesteps or (4_000 if args.quick else TASKS[args.task]["timesteps"])
    args.eval_episodes = args.eval_episodes or (4 if args.quick else 20)
    suffix = "_quick" if args.quick else ""
    out = Path(args.out or f"/tmp/ablation_{args.task}{suffix}.jsonl")
    if args.quick:
        args.runs_dir = str(Path(args.runs_dir) / "quick")
    chosen = args.only or (QUICK_NAMES if args.quick else None)
    todo = variants(args.task)
    if chosen is not None:  # in the order given: the most wanted first when time is short
        by_name = {name.replace(" ", ""): (g, name, o) for g, name, o in todo}
        unknown = [c for c in chosen if c.replace(" ", "") not in by_name]
        if unknown:
            parser.error(f"--only: unknown {unknown}; known: {[n for _, n, _ in todo]}")
        todo = [by_name[c.replace(" ", "")] for c in chosen]

    import jax

    print(
        f"# rainbow_ablation {args.task}: {args.seeds} seeds x {args.timesteps} env steps, "
        f"{jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}, "
        f"{os.cpu_count()} CPUs, load {load_average()}, results -> {out}",
        flush=True,
    )
    done = {r["name"] for r in read_results(out) if r["seeds"] == args.seeds}
    for group, name, overrides in todo:
        if group not in args.groups:
            continue
        if name in done:
            print(f"# {name}: already in {out}, skipped", flush=True)
            continue
        record = run_one(args.task, group, name, overrides, args)
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        brief = {k: v for k, v in record.items() if not k.startswith(("curve_", "overrides"))}
        print(json.dumps(brief), flush=True)
    records = [r for r in read_results(out) if r["seeds"] == args.seeds]
    print(table(records))
    if args.plot:
        plot(records, Path(args.plot))


if __name__ == "__main__":
    sys.exit(main())
