"""Metric sinks of a training run: JSONL rows, TensorBoard scalars, a console progress bar.

A compiled chunk of ``n`` updates over ``S`` vmapped seeds returns metrics as ``{name: [S, n]}``
arrays; :func:`chunk_rows` turns them into one JSON row per update per seed::

    {"update": 7, "seed": 0, "env_steps": 3584, "episode_return": 21.5, ..., "wall_time": 1.7e9}

``update`` counts from 1 (the row of the update that brought the run to ``update`` updates),
``env_steps`` is per seed, ``wall_time`` is the Unix time the chunk finished, and non-finite
numbers are written as ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Metrics whose non-finite value means the run has diverged (episode_return is NaN by design when
# no episode finished during an update).
# PPO/MAPPO's policy and value losses, DQN's TD (or C51) loss, PQN's TD loss, and the actor-critic
# learners' critic and actor losses.
LOSS_METRICS = (
    "policy_loss", "value_loss", "entropy", "loss", "td_loss", "critic_loss", "actor_loss",
)  # fmt: skip


def json_value(x: Any) -> Any:
    """``x`` as a JSON-safe Python value: numpy scalars unwrapped, NaN and inf as ``None``."""
    if isinstance(x, np.ndarray | np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def chunk_rows(
    metrics: dict[str, np.ndarray],
    first_update: int,
    seeds: Sequence[int],
    wall_time: float,
    num_updates: int | None = None,
    names: Sequence[str] | None = None,
    extra: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Rows of a chunk, ordered by update then run.

    Args:
        metrics: ``{name: [R, n]}`` host arrays (``env_steps`` among them where the algorithm
            steps environments).
        first_update: the update number of column 0 (1-based).
        seeds: the seed value of each of the ``R`` runs, in the order of the leading axis.
        wall_time: Unix time written to every row.
        num_updates: keep only the first ``num_updates`` columns (default: all).
        names: column order of the metrics in a row (default: ``metrics``' own order).
        extra: per run, fields written into each of its rows (a sweep point's values).
    """
    names = [name for name in (metrics if names is None else names) if name != "env_steps"]
    n = next(iter(metrics.values())).shape[1] if num_updates is None else num_updates
    steps = metrics.get("env_steps")
    rows = []
    for j in range(n):
        for i, seed in enumerate(seeds):
            row: dict[str, Any] = {"update": first_update + j, "seed": int(seed)}
            if extra is not None:
                row.update(extra[i])
            if steps is not None:
                row["env_steps"] = int(steps[i, j])
            row.update({name: json_value(metrics[name][i, j]) for name in names})
            row["wall_time"] = round(wall_time, 3)
            rows.append(row)
    return rows


class JsonlWriter:
    """Appends rows to a JSON-lines file (one object per line, flushed per call)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file; a torn or invalid line (a write cut short) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def truncate_jsonl(path: str | os.PathLike, max_update: int) -> int:
    """Keeps the rows with ``update <= max_update`` (and drops torn lines), atomically.

    Used on resume: rows written after the checkpoint being resumed from are recomputed.
    Returns the number of rows kept.
    """
    path = Path(path)
    rows = [row for row in read_jsonl(path) if int(row.get("update", 0)) <= max_update]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(row, allow_nan=False) + "\n" for row in rows))
    os.replace(tmp, path)
    return len(rows)


def seed_mean(values: np.ndarray) -> np.ndarray:
    """``nanmean`` over the leading (seed) axis, NaN where every seed is NaN, without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(values, np.float64), axis=0)


def first_divergence(
    metrics: dict[str, np.ndarray], params_finite: np.ndarray
) -> tuple[int, str] | None:
    """Where a chunk went bad: ``(column, reason)`` of the first non-finite loss, else ``None``.

    ``params_finite [S]`` says whether each seed's parameters after the chunk are all finite; if
    only those are bad, the chunk's last column is blamed.
    """
    first: tuple[int, str] | None = None
    for name in (name for name in LOSS_METRICS if name in metrics):
        bad = ~np.isfinite(np.asarray(metrics[name], np.float64))  # [S, n]
        if bad.any():
            seeds, cols = np.nonzero(bad)
            k = int(np.argmin(cols))
            if first is None or cols[k] < first[0]:
                first = (int(cols[k]), f"non-finite {name} (seed index {int(seeds[k])})")
    if first is None and not np.all(params_finite):
        n = next(iter(metrics.values())).shape[1]
        bad_seed = int(np.argmin(np.asarray(params_finite)))
        first = (n - 1, f"non-finite parameters (seed index {bad_seed})")
    return first


class TensorBoardWriter:
    """Per-update scalars (mean over seeds) under ``train/<metric>``, stepped by env steps."""

    def __init__(self, logdir: str | os.PathLike, purge_step: int | None = None):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as error:
            raise ImportError(
                "--tensorboard needs tensorboardX: pip install 'rljax[tensorboard]'"
            ) from error
        self._writer = SummaryWriter(str(logdir), purge_step=purge_step)

    def write(self, metrics: dict[str, np.ndarray], num_updates: int | None = None) -> None:
        """Writes the first ``num_updates`` columns of ``{name: [S, n]}`` (default: all)."""
        steps = np.asarray(metrics["env_steps"])[0]
        n = len(steps) if num_updates is None else num_updates
        means = {name: seed_mean(v) for name, v in metrics.items() if name != "env_steps"}
        for j in range(n):
            for name, mean in means.items():
                if np.isfinite(mean[j]):
                    self._writer.add_scalar(f"train/{name}", float(mean[j]), int(steps[j]))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class Progress:
    """A tqdm bar over environment steps (all seeds) or updates, with the latest figures.

    ``total=None`` draws an open-ended bar (a run bounded by time, not by updates).
    """

    def __init__(
        self,
        total: int | None,
        initial: int = 0,
        disable: bool = False,
        desc: str = "train",
        unit: str = "step",
    ):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total,
            initial=initial,
            unit=unit,
            unit_scale=unit == "step",
            dynamic_ncols=True,
            disable=disable,
            desc=desc,
            smoothing=0.3,
        )

    def update(self, steps: int, mean_return: float | None = None, **figures: float) -> None:
        """Advances by ``steps``; shows ``return=`` and each finite figure as ``name=value``."""
        shown = {"return": mean_return, **figures}
        parts = [
            f"{name}={value:.4g}"
            for name, value in shown.items()
            if value is not None and math.isfinite(value)
        ]
        if parts:
            self._bar.set_postfix_str(" ".join(parts), refresh=False)
        self._bar.update(steps)

    def close(self) -> None:
        self._bar.close()


def final_returns(rows: Sequence[dict[str, Any]], last: int = 10) -> dict[int, float]:
    """Per seed: ``nanmean`` of ``episode_return`` over its last ``last`` updates (NaN if none)."""
    by_seed: dict[int, list[tuple[int, float]]] = {}
    for row in rows:
        value = row.get("episode_return")
        by_seed.setdefault(int(row["seed"]), []).append(
            (int(row["update"]), math.nan if value is None else float(value))
        )
    out = {}
    for seed, pairs in sorted(by_seed.items()):
        pairs.sort()
        out[seed] = float(seed_mean(np.asarray([v for _, v in pairs[-last:]])))
    return out


def summary_table(
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    env_steps_per_seed: int,
    run_s: float,
    compile_s: float,
    steps_run: int,
    last: int = 10,
) -> str:
    """The end-of-run table: final return per seed, mean/std over seeds, steps, times, speed.

    ``steps_run`` is the env steps (all seeds) computed in this process, for steps/s.
    """
    finals = final_returns(rows, last)
    values = np.asarray(list(finals.values()), np.float64)
    fmt = lambda x: "n/a" if not math.isfinite(x) else f"{x:.2f}"
    lines = [title, f"{'seed':>12}  final return (mean of last {last} updates)"]
    lines += [f"{seed:>12}  {fmt(value)}" for seed, value in finals.items()]
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if finite.size else math.nan
    std = float(finite.std()) if finite.size else math.nan
    total = env_steps_per_seed * len(finals)
    lines += [
        "-" * 56,
        f"{'mean ± std':>12}  {fmt(mean)} ± {fmt(std)}  (over {len(finals)} seeds)",
        f"{'env steps':>12}  {env_steps_per_seed:,} per seed, {total:,} in all",
        f"{'run s':>12}  {run_s:.2f}",
        f"{'compile s':>12}  {compile_s:.2f}",
        f"{'steps/s':>12}  {steps_run / run_s if run_s > 0 else math.nan:,.0f} (all seeds)",
    ]
    return "\n".join(lines)
