"""Drawing recorded episodes: a GIF per episode with matplotlib, or a text replay.

:func:`render_episode` takes the trajectory ``rljax eval`` records (host arrays) and writes
``<stem>.gif`` for environments registered with a renderer (``register(env_id, entry,
renderer="package.module:Renderer")``, looked up by :func:`rljax.env.renderer_for`) and
``<stem>.txt`` (step, observation, action, reward, return per line) for the others. Frames are
drawn by updating a few artists on one Agg figure, at most ``max_frames`` of them (longer episodes
are subsampled evenly). Nothing here names an environment: each renderer lives next to its
environment (the built-ins' in their modules under ``rljax.envs``).

A renderer is a class ``R(fig, env, params, states, actions, returns)`` with ``draw(t)`` and a
list ``artists`` of what ``draw`` changes (only those are redrawn per frame);
``states`` is the episode's state pytree with a leading ``[L + 1]`` axis (the reset state, then the
state after each step), ``actions [L, ...]`` and ``returns [L + 1]`` (return so far; ``[L + 1, N]``
for multi-agent environments, whose rewards are ``[N]``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from rljax.env import renderer_for


def grid_axes(fig, size: int):
    """Square axes with one unit per cell, row 0 at the top, and grid lines between cells."""
    ax = fig.add_subplot()
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(-0.5, size, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, size, 1), minor=True)
    ax.grid(which="minor", color="0.75", linewidth=1)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    return ax


def caption_below(ax):
    """An empty text centred under ``ax``, for a per-frame caption (``set_text`` in ``draw``)."""
    return ax.text(0.5, -0.02, "", transform=ax.transAxes, ha="center", va="top")


class GridAgents:
    """Agents as numbered discs on :func:`grid_axes`: one scatter of discs, one label per agent.

    ``start`` is int ``[N, 2]`` (row, column) of each agent; ``colors`` one matplotlib colour per
    agent (fixed from now on); ``marker`` the disc diameter in points. ``artists`` are the discs
    and labels, which :meth:`move` updates.
    """

    def __init__(self, ax, start: np.ndarray, colors: list[str], marker: int):
        start = np.asarray(start)
        self.discs = ax.scatter(
            start[:, 1], start[:, 0], s=marker**2, c=colors, edgecolors="k", zorder=3
        )
        self.labels = [
            ax.text(0, 0, str(i), ha="center", va="center", fontsize=max(5, marker // 2), zorder=4)
            for i in range(len(start))
        ]
        self.artists = [self.discs, *self.labels]

    def move(self, positions: np.ndarray) -> None:
        """Puts the agents at ``positions`` (int ``[N, 2]``, row and column)."""
        positions = np.asarray(positions)
        self.discs.set_offsets(positions[:, ::-1])
        for label, (row, col) in zip(self.labels, positions, strict=True):
            label.set_position((col, row))


def frame_indices(length: int, max_frames: int) -> np.ndarray:
    """Indices into the ``L + 1`` states to draw: all, or ``max_frames`` spread evenly."""
    count = max(2, min(length + 1, max_frames))
    return np.unique(np.linspace(0, length, count).round().astype(int))


def episode_arrays(traj: dict[str, Any], length: int):
    """``(states [L + 1], obs [L + 1], actions [L], returns [L + 1])`` from a recorded scan.

    ``traj`` holds ``initial_state``, ``initial_obs`` and the per-step ``states``, ``obs``,
    ``actions``, ``rewards`` of the scan (which runs past the episode's end, frozen).
    """
    import jax

    states = jax.tree.map(
        lambda first, rest: np.concatenate([np.asarray(first)[None], np.asarray(rest)[:length]]),
        traj["initial_state"],
        traj["states"],
    )
    obs = np.concatenate([np.asarray(traj["initial_obs"])[None], np.asarray(traj["obs"])[:length]])
    actions = np.asarray(traj["actions"])[:length]
    rewards = np.asarray(traj["rewards"], np.float64)[:length]
    # Per-agent rewards [L, N] give per-agent returns [L + 1, N].
    returns = np.concatenate([np.zeros((1, *rewards.shape[1:])), np.cumsum(rewards, axis=0)])
    return states, obs, actions, returns


def render_episode(
    env_id: str,
    env: Any,
    params: Any,
    traj: dict[str, Any],
    length: int,
    stem: str | os.PathLike,
    max_frames: int = 300,
    fps: int = 30,
    title: str = "",
) -> Path:
    """Draws an episode of ``length`` steps to ``<stem>.gif`` (or ``<stem>.txt``); returns it."""
    states, obs, actions, returns = episode_arrays(traj, length)
    stem = Path(stem)
    renderer_cls = renderer_for(env_id)
    if renderer_cls is None:
        rewards = np.asarray(traj["rewards"], np.float64)[:length]
        return write_text_replay(stem.with_suffix(".txt"), env_id, obs, actions, rewards)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 3.6), dpi=80)
    canvas = FigureCanvasAgg(fig)
    fig.subplots_adjust(top=0.84)
    renderer = renderer_cls(fig, env, params, states, actions, returns)
    fig.text(0.5, 0.98, title, ha="center", va="top", fontsize=9)
    heading = fig.text(0.5, 0.92, "", ha="center", va="top", fontsize=9)  # redrawn per frame
    dynamic = [*renderer.artists, heading]
    # Blitting: the static parts are drawn once; each frame redraws only the moving artists.
    for artist in dynamic:
        artist.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    path = stem.with_suffix(".gif")
    writer = _blit_pillow_writer()(fps=fps)
    with writer.saving(fig, str(path), dpi=fig.dpi):
        for t in frame_indices(length, max_frames):
            canvas.restore_region(background)
            renderer.draw(int(t))
            heading.set_text(f"step {t}/{length}   return {_format_return(returns[t])}")
            for artist in dynamic:
                fig.draw_artist(artist)
            writer.grab_frame()
    return path


def _format_return(ret: Any) -> str:
    """One return, or per-agent returns (one number when they are all equal: a shared reward)."""
    ret = np.asarray(ret, np.float64).ravel()
    if ret.size == 1 or np.all(ret == ret[0]):
        return f"{ret[0]:.2f}"
    return "[" + ", ".join(f"{x:.2f}" for x in ret) + "]"


@functools.cache
def _blit_pillow_writer() -> type:
    """A ``PillowWriter`` for blitted frames (built on first use: importing stays cheap)."""
    from matplotlib.animation import PillowWriter
    from PIL import Image

    class BlitPillowWriter(PillowWriter):
        """Takes each frame from the canvas as drawn (no full redraw per frame) and quantises
        all frames to one shared palette (per-frame adaptive palettes cost most of the time)."""

        def grab_frame(self, **savefig_kwargs):
            canvas = self.fig.canvas
            size = canvas.get_width_height()
            image = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
            self._frames.append(image.convert("RGB"))

        def finish(self):
            frames = self._frames
            picks = [frames[i] for i in sorted({0, len(frames) // 2, len(frames) - 1})]
            width, height = picks[0].size
            sample = Image.new("RGB", (width, height * len(picks)))
            for i, frame in enumerate(picks):
                sample.paste(frame, (0, i * height))
            palette = sample.quantize(colors=256)
            frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
            frames[0].save(
                self.outfile,
                save_all=True,
                append_images=frames[1:],
                duration=int(1000 / self.fps),
                loop=0,
            )

    return BlitPillowWriter


def write_text_replay(
    path: Path, env_id: str, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray
) -> Path:
    """A plain-text replay: one line per step with action, reward, return and observation.

    ``obs [L + 1, ...]`` (the reset observation first), ``actions [L, ...]``, ``rewards [L]``.
    """
    fmt = lambda x: np.array2string(np.asarray(x), precision=3, suppress_small=True, separator=",")
    returns = np.concatenate([[0.0], np.cumsum(rewards)])
    lines = [f"{env_id}: {len(actions)} steps, return {returns[-1]:.3f}", f"t=0 obs={fmt(obs[0])}"]
    for t in range(len(actions)):
        lines.append(
            f"t={t + 1} action={fmt(actions[t])} reward={rewards[t]:.3f} "
            f"return={returns[t + 1]:.3f} obs={fmt(obs[t + 1])}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
