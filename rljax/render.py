"""Drawing recorded episodes: a GIF per episode with matplotlib, or a text replay.

:func:`render_episode` takes the trajectory ``rljax eval`` records (host arrays) and writes
``<stem>.gif`` for environments with a renderer in :data:`RENDERERS` (CartPole, Pendulum,
MountainCarContinuous, GridWorld, EnergyManagement, TreasureHunt, Tag) and ``<stem>.txt`` (step,
observation, action, reward, return per line) for the others. Frames are drawn by updating a few
artists on one Agg figure, at most ``max_frames`` of them (longer episodes are subsampled evenly).

A renderer is a class ``R(fig, env, params, states, actions, returns)`` with ``draw(t)``;
``states`` is the episode's state pytree with a leading ``[L + 1]`` axis (the reset state, then the
state after each step), ``actions [L, ...]`` and ``returns [L + 1]`` (return so far; ``[L + 1, N]``
for multi-agent environments, whose rewards are ``[N]``).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def _leaf(x: Any) -> np.ndarray:
    return np.asarray(x)


class CartPoleRenderer:
    def __init__(self, fig, env, params, states, actions, returns):
        from matplotlib.patches import Rectangle

        self.states = states
        limit = float(_leaf(params.x_threshold))
        self.pole = 2.0 * float(_leaf(params.length))
        self.ax = ax = fig.add_subplot()
        ax.set_xlim(-limit - 0.5, limit + 0.5)
        ax.set_ylim(-0.3, self.pole + 0.6)
        ax.set_aspect("equal")
        ax.set_yticks([])
        ax.axhline(0.0, color="0.3", linewidth=1)
        for side in (-limit, limit):
            ax.axvline(side, color="0.7", linestyle=":", linewidth=1)
        self.w, self.h = 0.5, 0.3
        self.cart = Rectangle((0, 0), self.w, self.h, color="C0")
        ax.add_patch(self.cart)
        (self.rod,) = ax.plot([], [], color="C1", linewidth=4, solid_capstyle="round")
        self.artists = [self.cart, self.rod]

    def draw(self, t: int) -> None:
        x = float(self.states.x[t])
        theta = float(self.states.theta[t])
        self.cart.set_xy((x - self.w / 2, 0.0))
        top = self.h
        self.rod.set_data(
            [x, x + self.pole * math.sin(theta)], [top, top + self.pole * math.cos(theta)]
        )


class PendulumRenderer:
    def __init__(self, fig, env, params, states, actions, returns):
        self.states, self.actions = states, actions
        self.length = float(_leaf(params.l))
        self.max_torque = float(_leaf(params.max_torque))
        self.ax = ax = fig.add_subplot()
        r = 1.3 * self.length
        ax.set_xlim(-r, r)
        ax.set_ylim(-r, r)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        (self.rod,) = ax.plot([], [], color="C3", linewidth=6, solid_capstyle="round")
        ax.plot([0], [0], "ko", markersize=5)
        self.text = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=8)
        self.artists = [self.rod, self.text]

    def draw(self, t: int) -> None:
        theta = float(self.states.theta[t])  # from upright, counter-clockwise
        self.rod.set_data([0, -self.length * math.sin(theta)], [0, self.length * math.cos(theta)])
        if t > 0:
            torque = float(
                np.clip(np.ravel(self.actions[t - 1])[0], -self.max_torque, self.max_torque)
            )
            self.text.set_text(f"torque {torque:+.2f}")


class MountainCarRenderer:
    def __init__(self, fig, env, params, states, actions, returns):
        self.states = states
        lo, hi = float(_leaf(params.min_position)), float(_leaf(params.max_position))
        self.ax = ax = fig.add_subplot()
        xs = np.linspace(lo, hi, 200)
        ax.plot(xs, self._height(xs), color="0.3")
        goal = float(_leaf(params.goal_position))
        ax.plot([goal, goal], [self._height(goal), self._height(goal) + 0.15], color="g")
        ax.plot([goal], [self._height(goal) + 0.15], "g>", markersize=8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(0.0, 1.2)
        ax.set_yticks([])
        ax.set_xlabel("position")
        (self.car,) = ax.plot([], [], "o", color="C0", markersize=12)
        self.artists = [self.car]

    @staticmethod
    def _height(x):
        return np.sin(3 * np.asarray(x)) * 0.45 + 0.55

    def draw(self, t: int) -> None:
        x = float(self.states.position[t])
        self.car.set_data([x], [self._height(x) + 0.03])


class GridWorldRenderer:
    def __init__(self, fig, env, params, states, actions, returns):
        from matplotlib.patches import Rectangle

        self.states = states
        walls = np.asarray(params.walls, bool)
        rows, cols = walls.shape
        self.ax = ax = fig.add_subplot()
        ax.imshow(walls, cmap="Greys", vmin=0, vmax=1.4, origin="upper")
        ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
        ax.grid(which="minor", color="0.6", linewidth=1)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        goal = np.asarray(params.goal)
        ax.add_patch(Rectangle((goal[1] - 0.5, goal[0] - 0.5), 1, 1, color="tab:green", alpha=0.6))
        (self.trail,) = ax.plot([], [], "-", color="C3", alpha=0.4, linewidth=2)
        (self.agent,) = ax.plot([], [], "o", color="C3", markersize=max(4, 60 // max(rows, cols)))
        self.artists = [self.trail, self.agent]

    def draw(self, t: int) -> None:
        pos = np.asarray(self.states.pos[: t + 1])
        self.trail.set_data(pos[:, 1], pos[:, 0])
        self.agent.set_data([pos[-1, 1]], [pos[-1, 0]])


class EnergyManagementRenderer:
    def __init__(self, fig, env, params, states, actions, returns):
        from rljax.envs.energy_management import hourly_profile

        self.states, self.returns = states, returns
        hours = int(_leaf(params.max_steps_in_episode))
        self.hours = hours
        demand, solar, _ = hourly_profile(np.arange(hours) % 24, params)
        self.demand, self.solar = np.asarray(demand), np.asarray(solar)
        self.level = np.asarray(states.level, np.float64)  # [L + 1], after each hour
        self.ax = ax = fig.add_subplot()
        x = np.arange(hours)
        width = 0.28
        zeros = np.zeros(hours)
        self.bars = {
            "battery level [kWh]": ax.bar(x - width, zeros, width, color="C0"),
            "demand [kW]": ax.bar(x, zeros, width, color="C3"),
            "solar [kW]": ax.bar(x + width, zeros, width, color="C1"),
        }
        top = max(float(_leaf(params.capacity)), float(self.demand.max()), 1.0)
        ax.set_ylim(0, 1.05 * top)
        ax.set_xlim(-1, hours)
        ax.set_xlabel("hour")
        ax.legend([b[0] for b in self.bars.values()], list(self.bars), fontsize=7, loc="upper left")
        self.artists = [rect for bars in self.bars.values() for rect in bars]

    def draw(self, t: int) -> None:
        done = min(t, self.hours)  # hours played so far
        values = {
            "battery level [kWh]": self.level[1 : self.hours + 1],
            "demand [kW]": self.demand,
            "solar [kW]": self.solar,
        }
        for name, bars in self.bars.items():
            v = values[name]
            for h, rect in enumerate(bars):
                rect.set_height(float(v[h]) if h < done and h < len(v) else 0.0)


class TreasureHuntRenderer:
    """The notebook classic: the grid, agents as numbered discs, remaining treasures as stars and
    ``treasures collected c/T`` under the grid."""

    def __init__(self, fig, env, params, states, actions, returns):
        self.states = states
        size = int(env.size)
        self.total = int(np.shape(states.collected)[-1])
        self.ax = ax = _grid_axes(fig, size)
        marker = max(5, 110 // size)
        self.treasures = ax.scatter(
            [], [], s=(1.3 * marker) ** 2, marker="*", color="gold", edgecolors="darkgoldenrod"
        )
        colors = [f"C{i % 10}" for i in range(int(env.num_agents))]
        start = np.asarray(states.agent_pos[0])  # one offset per agent (and per color) from now on
        self.agents = ax.scatter(
            start[:, 1], start[:, 0], s=marker**2, c=colors, edgecolors="k", zorder=3
        )
        self.labels = [
            ax.text(0, 0, str(i), ha="center", va="center", fontsize=max(5, marker // 2), zorder=4)
            for i in range(int(env.num_agents))
        ]
        self.title = ax.text(0.5, -0.02, "", transform=ax.transAxes, ha="center", va="top")
        self.artists = [self.treasures, self.agents, *self.labels, self.title]

    def draw(self, t: int) -> None:
        collected = np.asarray(self.states.collected[t], bool)
        treasures = np.asarray(self.states.treasure_pos[t])[~collected]
        self.treasures.set_offsets(treasures[:, ::-1].reshape(-1, 2))
        agents = np.asarray(self.states.agent_pos[t])
        self.agents.set_offsets(agents[:, ::-1])
        for label, (row, col) in zip(self.labels, agents, strict=True):
            label.set_position((col, row))
        self.title.set_text(f"treasures collected {int(collected.sum())}/{self.total}")


class TagRenderer:
    """Chasers (red, numbered) and evaders (blue) on the grid, with their recent trails."""

    def __init__(self, fig, env, params, states, actions, returns):
        self.states = states
        size = int(env.size)
        self.team = np.asarray(env.team_of_agent)
        self.ax = ax = _grid_axes(fig, size)
        marker = max(5, 110 // size)
        self.trails = [
            ax.plot([], [], "-", color="C3" if team == 0 else "C0", alpha=0.35, linewidth=2)[0]
            for team in self.team
        ]
        colors = ["C3" if team == 0 else "C0" for team in self.team]
        start = np.asarray(states.pos[0])
        self.agents = ax.scatter(
            start[:, 1], start[:, 0], s=marker**2, c=colors, edgecolors="k", zorder=3
        )
        self.labels = [
            ax.text(0, 0, str(i), ha="center", va="center", fontsize=max(5, marker // 2), zorder=4)
            for i in range(len(self.team))
        ]
        self.title = ax.text(0.5, -0.02, "", transform=ax.transAxes, ha="center", va="top")
        self.artists = [*self.trails, self.agents, *self.labels, self.title]

    def draw(self, t: int) -> None:
        pos = np.asarray(self.states.pos[max(0, t - 8) : t + 1])  # the last few steps
        for i, trail in enumerate(self.trails):
            trail.set_data(pos[:, i, 1], pos[:, i, 0])
        self.agents.set_offsets(pos[-1][:, ::-1])
        for label, (row, col) in zip(self.labels, pos[-1], strict=True):
            label.set_position((col, row))
        caught = bool(np.any(self.states.caught[t]))
        chasers, evaders = int(np.sum(self.team == 0)), int(np.sum(self.team == 1))
        status = "caught!" if caught else "running"
        self.title.set_text(f"{chasers} chasers (red) vs {evaders} evaders (blue): {status}")


def _grid_axes(fig, size: int):
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


RENDERERS: dict[str, type] = {
    "CartPole-v1": CartPoleRenderer,
    "Pendulum-v1": PendulumRenderer,
    "MountainCarContinuous-v0": MountainCarRenderer,
    "GridWorld-v0": GridWorldRenderer,
    "EnergyManagement-v0": EnergyManagementRenderer,
    "TreasureHunt-v0": TreasureHuntRenderer,
    "Tag-v0": TagRenderer,
}


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
    renderer_cls = RENDERERS.get(env_id)
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
