"""What a finished (or stopped) run leaves for a person: plots and the summary table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rljax.run.spec import RunSpec

CURVE_FILE = "curve.png"


def curve_files(algorithm: Any) -> dict[str, str]:
    """``{metric: file name}`` of the learning curves a run of ``algorithm`` draws."""
    files = {"episode_return": CURVE_FILE} if "episode_return" in algorithm.metric_names else {}
    files.update(algorithm.curves)
    return files


def point_labels(spec: RunSpec) -> list[str]:
    """``["lr=0.0001", ...]``: one label per sweep point."""
    return [" ".join(f"{k}={v:g}" for k, v in point.items()) for point in spec.points]


def plot_run(spec: RunSpec, run_dir: Path, rows: list[dict[str, Any]]) -> list[Path]:
    """Draws the run's learning curves and evaluation plot; returns the files written."""
    from rljax import plotting

    algorithm = spec.algorithm_spec
    title = f"{algorithm.run_title(spec.config)} on {spec.config.env_id} ({spec.seeds} seeds)"
    train_rows = [row for row in rows if row.get("kind", "train") == "train"]
    written = []
    if spec.steps_per_update is not None and train_rows:
        for metric, name in curve_files(algorithm).items():
            path = run_dir / name
            if spec.sweep:
                plotting.plot_sweep(train_rows, path, point_labels(spec), metric, title)
            else:
                plotting.plot_curve(train_rows, path, metric=metric, title=title)
            written.append(path)
    evaluation = algorithm.evaluation
    eval_rows = [row for row in rows if row.get("kind") == "eval"]
    if evaluation is not None and evaluation.plot is not None and eval_rows:
        path = run_dir / evaluation.plot_file
        evaluation.plot(eval_rows, path)
        written.append(path)
    return written


def summary(
    spec: RunSpec,
    run_dir: Path,
    rows: list[dict[str, Any]],
    *,
    update: int,
    start_update: int,
    train_seconds: float,
    eval_seconds: float,
    compile_s: float,
    run_s: float,
) -> str:
    """The end-of-run text: final figures per seed (and sweep point), times and speed."""
    import numpy as np

    from rljax import metrics

    algorithm = spec.algorithm_spec
    title = f"{algorithm.run_title(spec.config)} on {spec.config.env_id}: {run_dir}"
    train_rows = [row for row in rows if row.get("kind", "train") == "train"]
    lines = []
    steps = spec.steps_per_update
    if steps is not None and "episode_return" in algorithm.metric_names:
        labels = point_labels(spec) if spec.sweep else [""]
        for point, label in enumerate(labels):
            mine = [r for r in train_rows if r.get("point", 0) == point]
            lines.append(
                metrics.summary_table(
                    mine,
                    title=title + (f" [{label}]" if label else ""),
                    env_steps_per_seed=update * steps,
                    run_s=run_s,
                    compile_s=compile_s,
                    steps_run=(update - start_update) * steps * spec.seeds,
                )
            )
            for name in algorithm.summary_metrics:
                finals = metrics.final_returns(
                    [{**row, "episode_return": row.get(name)} for row in mine]
                )
                values = np.asarray(list(finals.values()), np.float64)
                mean = float(metrics.seed_mean(values)) if values.size else math.nan
                lines.append(
                    f"{name.split('_')[0]:>12}  {mean:.3f} mean over seeds of the {name} "
                    "over the last 10 updates"
                )
    else:
        lines.append(title)
        lines.append(f"{'compile s':>12}  {compile_s:.2f}")
    lines.append(
        f"{update} {algorithm.unit}s, {train_seconds / 60:.1f} min training"
        + (f" (+ {eval_seconds / 60:.1f} min evaluating)" if eval_seconds else "")
    )
    evaluation = algorithm.evaluation
    eval_rows = [row for row in rows if row.get("kind") == "eval" and row["update"] == update]
    if evaluation is not None and evaluation.summarize is not None and eval_rows:
        lines.append(evaluation.summarize(eval_rows))
    return "\n".join(lines)
