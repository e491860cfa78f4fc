"""Learning curves with matplotlib (Agg canvas, no pyplot and no global backend change)."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def curve_arrays(
    rows: Sequence[dict[str, Any]], metric: str = "episode_return", fill: bool = True
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``(env_steps [U], values [S, U], seeds)`` from metric rows (one per update per seed).

    With ``fill``, each seed's NaN entries (updates in which no episode finished) carry the last
    finite value forward, so a curve of rare episode ends stays a line.
    """
    seeds = sorted({int(row["seed"]) for row in rows})
    updates = sorted({int(row["update"]) for row in rows})
    col = {u: j for j, u in enumerate(updates)}
    idx = {s: i for i, s in enumerate(seeds)}
    values = np.full((len(seeds), len(updates)), np.nan)
    steps = np.zeros(len(updates), np.int64)
    for row in rows:
        j = col[int(row["update"])]
        value = row.get(metric)
        values[idx[int(row["seed"])], j] = math.nan if value is None else float(value)
        steps[j] = int(row["env_steps"])
    if fill:
        for i in range(values.shape[0]):
            last = math.nan
            for j in range(values.shape[1]):
                if math.isnan(values[i, j]):
                    values[i, j] = last
                else:
                    last = values[i, j]
    return steps, values, seeds


def seed_mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``nanmean`` and ``nanstd`` over seeds of ``values [S, U]``; all-NaN columns (no episode
    finished yet) stay NaN, without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=0), np.nanstd(values, axis=0)


def save_steps_figure(fig: Any, ax: Any, path: str | os.PathLike, metric: str, title: str | None):
    """Labels a curve-against-env-steps axis, saves the figure to ``path`` and returns it."""
    ax.set_xlabel("environment steps (per seed)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def plot_curve(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike,
    metric: str = "episode_return",
    title: str | None = None,
) -> Path:
    """Saves mean ± std over seeds of ``metric`` against environment steps as an image at ``path``.

    Thin lines show the individual seeds. Returns ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps, values, seeds = curve_arrays(rows, metric)
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if values.size:
        mean, std = seed_mean_std(values)
        for i in range(values.shape[0]):
            ax.plot(steps, values[i], color="C0", alpha=0.15, linewidth=0.8)
        ax.plot(steps, mean, color="C0", linewidth=2, label=f"mean over {len(seeds)} seeds")
        ax.fill_between(steps, mean - std, mean + std, color="C0", alpha=0.25, label="± std")
        ax.legend(loc="best")
    return save_steps_figure(fig, ax, path, metric, title)


def plot_scores(
    rows: Sequence[dict[str, Any]], path: str | os.PathLike, title: str | None = None
) -> Path:
    """Score against each opponent over training time, with its 95 % interval as a band.

    ``rows`` are evaluation rows (``opponent``, ``score``, ``ci_low``, ``ci_high``,
    ``train_seconds``), e.g. the ``"eval"`` rows of an AlphaZero run's ``metrics.jsonl``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    opponents = list(dict.fromkeys(row["opponent"] for row in rows))
    for i, opponent in enumerate(opponents):
        mine = sorted((r for r in rows if r["opponent"] == opponent), key=lambda r: r["update"])
        minutes = np.array([r["train_seconds"] / 60.0 for r in mine])
        score = np.array([r["score"] for r in mine])
        low = np.array([r["ci_low"] for r in mine])
        high = np.array([r["ci_high"] for r in mine])
        color = f"C{i}"
        ax.plot(minutes, score, marker="o", markersize=3, color=color, label=f"vs {opponent}")
        ax.fill_between(minutes, low, high, color=color, alpha=0.15)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("score (win 1, draw 1/2)")
    ax.grid(alpha=0.3)
    if opponents:
        ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def plot_sweep(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike,
    labels: Sequence[str],
    metric: str = "episode_return",
    title: str | None = None,
) -> Path:
    """One curve per sweep point (rows carry ``"point"``), each the mean over its seeds with a
    ± std band, against environment steps. ``labels[p]`` names point ``p`` in the legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for point, label in enumerate(labels):
        mine = [row for row in rows if row.get("point") == point]
        if not mine:
            continue
        steps, values, seeds = curve_arrays(mine, metric)
        mean, std = seed_mean_std(values)
        color = f"C{point % 10}"
        ax.plot(steps, mean, color=color, linewidth=2, label=f"{label} ({len(seeds)} seeds)")
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2)
    ax.legend(loc="best")
    return save_steps_figure(fig, ax, path, metric, title)
