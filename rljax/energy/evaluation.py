"""What a utility engineer asks of a trained battery policy, for ``rljax eval``: its cost on the
held-out days against the perfect-foresight optimum and the controllers one would deploy
instead, its contract-cap violations, and one day drawn beside the optimum's schedule.

Reports are keyed by environment id (:func:`report_for`); the CLI looks one up for the run's
environment and, where there is one and the algorithm declares its greedy ``episode_policy``
(:class:`rljax.run.algorithm.Algorithm`), plays the policy through :meth:`Report.play` instead
of the algorithm's own ``evaluate_policy``. Nothing in the CLI names an environment.

EnergyManagement-v1 (:data:`V1`): the ``E`` episodes are the first ``E`` held-out days
(:func:`rljax.energy.profiles.evaluation_keys`, the same for every run and seed), played by the
agent, an idle battery, the installer's rule and MPC over the observed forecast
(:mod:`rljax.energy.baselines`), and solved exactly with perfect foresight
(:func:`rljax.energy.optimum.solve`). Per controller: the mean cost per day, its gap to the
optimum ($ and relative to the optimum's cost), the share of the achievable saving it gets,
``(idle - cost) / (idle - optimum)`` (the comparable figure: the optimum's cost is close to zero
on sunny days, so relative gaps read large), and against the contracted import cap
``contract_cap``: violation hours per day (hours whose import passed the cap), the share of days
with any, the kWh imported past the cap, unmet demand and the largest hourly import. The
optimum does not know the contracted cap (it is a cost signal, not a price), so its violations
show how much the cap binds the cheapest schedule. Episodes of ``H`` hours other than 24 (a
week, 168) are reported per day (``24 / H`` of an episode's figures); the shares stay per
episode.

EnergyManagement-v0 (:data:`V0`): one deterministic day, so the agent's cost, the optimum's
(:func:`rljax.energy.days.problem_from_params`) and the idle battery's; no forecast, so no rule
or MPC, and no contracted cap.

:func:`draw_day` draws a recorded episode to a PNG with the environment's own renderer (the
episode's last frame): the agent's day above, the perfect-foresight schedule of the same day
below, the contracted cap as a dashed line where it is finite.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rljax.energy import baselines, days, optimum, profiles
from rljax.env import renderer_for
from rljax.envs.energy_management_v1 import CAP_TOLERANCE
from rljax.learning.episodes import Policy, run_episodes

MPC_HOURS = 12  # MPC's planning window (at most the environment's forecast_hours)
# One episode's exact optimum, compiled once per horizon for the report and the drawing.
solve_one = jax.jit(optimum.solve)
# Controllers in the order the table prints them.
V1_CONTROLLERS = ("perfect_foresight", "agent", "idle", "rule", "mpc")


@dataclasses.dataclass(frozen=True)
class Report:
    """An environment's figures for ``rljax eval``.

    Attributes:
        play: ``(env, params, policy, episodes) -> {"returns": float64 [E], "lengths": int [E],
            "energy": {...}}``: the policy's episodes (their returns, for the CLI's return line)
            and the report's figures (module docstring), host values.
        problem: ``(params, states) -> optimum.Problem``: the perfect-foresight problem of a
            recorded episode (``states`` with a leading ``[L + 1]`` axis, as
            :func:`rljax.render.episode_arrays` gives them), for :func:`draw_day`.
    """

    play: Callable[[Any, Any, Policy, int], dict[str, Any]]
    problem: Callable[[Any, Any], optimum.Problem]

    def lines(self, figures: dict[str, Any]) -> list[str]:
        """``play``'s figures as lines for the terminal (:func:`describe`)."""
        return describe(figures["energy"])

    def draw(
        self,
        env_id: str,
        env: Any,
        params: Any,
        states: Any,
        actions: np.ndarray,
        returns: np.ndarray,
        path: str | Path,
        title: str = "",
    ) -> Path:
        """:func:`draw_day` of a recorded episode with this report's optimum."""
        return draw_day(env_id, env, params, self, states, actions, returns, path, title)


def controller_figures(
    cost: np.ndarray,
    best: np.ndarray,
    idle: np.ndarray,
    per_day: float,
    played: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """One controller's figures from its costs ``cost [E]``, the optimum's ``best [E]`` and the
    idle battery's ``idle [E]`` ($ per episode) and, where the environment reports them, its
    per-episode ``violations``, ``cap_excess_kwh``, ``unmet_kwh`` and ``peak_import`` ``[E]``
    (:func:`rljax.energy.baselines.episode_costs`). ``per_day`` is ``24 / hours`` of an episode.
    Ratios without a meaning (no saving to be had, an optimum of exactly zero) are NaN."""
    mean, best_mean, idle_mean = float(cost.mean()), float(best.mean()), float(idle.mean())
    achievable = idle_mean - best_mean
    figures = {
        "cost_per_day": mean * per_day,
        "gap_per_day": (mean - best_mean) * per_day,
        "relative_gap": (mean - best_mean) / abs(best_mean) if best_mean != 0 else math.nan,
        # Below a cent per episode of possible saving the share is noise over a rounding error.
        "saving_share": (idle_mean - mean) / achievable if achievable > 1e-2 else math.nan,
    }
    if played is not None:
        violations = played["violations"]
        figures |= {
            "violation_hours_per_day": float(violations.mean()) * per_day,
            "violating_share": float((violations > 0).mean()),
            "cap_excess_kwh_per_day": float(played["cap_excess_kwh"].mean()) * per_day,
            "unmet_kwh_per_day": float(played["unmet_kwh"].mean()) * per_day,
            "peak_import": float(played["peak_import"].max()),
        }
    return figures


def play_v1(env: Any, params: Any, policy: Policy, episodes: int) -> dict[str, Any]:
    """:attr:`Report.play` of EnergyManagement-v1: the first ``episodes`` held-out days."""
    keys = profiles.evaluation_keys(episodes)
    hours = int(params.max_steps_in_episode)
    mpc_hours = min(MPC_HOURS, env.forecast_hours)
    policies = {
        "agent": policy,
        "idle": baselines.controller_policy(baselines.idle, params),
        "rule": baselines.controller_policy(baselines.rule, params),
        "mpc": baselines.controller_policy(baselines.make_mpc(mpc_hours, env), params),
    }
    played = {}
    for name, played_policy in policies.items():
        run = jax.jit(lambda k, p=played_policy: baselines.episode_costs(p, k, params, env))
        played[name] = jax.tree.map(lambda x: np.asarray(x, np.float64), run(keys))

    solve = jax.jit(jax.vmap(lambda k: optimum.solve(days.problem_from_episode(k, params))))
    solution = jax.device_get(solve(keys))
    # The optimum's import after the physical cap, against the contracted one it ignores.
    imported = np.minimum(np.asarray(solution.grid, np.float64), float(params.import_cap))
    excess = np.maximum(imported - float(params.contract_cap), 0.0)
    best = np.asarray(solution.cost, np.float64)
    played["perfect_foresight"] = {
        "cost": best,
        "violations": (excess > CAP_TOLERANCE).sum(axis=-1).astype(np.float64),
        "cap_excess_kwh": excess.sum(axis=-1),
        "unmet_kwh": np.maximum(np.asarray(solution.grid) - float(params.import_cap), 0).sum(-1),
        "peak_import": imported.max(axis=-1),
    }

    per_day = 24.0 / hours
    idle = played["idle"]["cost"]
    controllers = {
        name: controller_figures(played[name]["cost"], best, idle, per_day, played[name])
        for name in V1_CONTROLLERS
    }
    agent = played["agent"]["cost"]
    return {
        "returns": -agent,
        "lengths": np.full(episodes, hours, np.int32),
        "energy": {
            "episodes": int(episodes),
            "held_out": True,
            "hours": hours,
            "contract_cap": float(params.contract_cap),
            "mpc_hours": mpc_hours,
            "controllers": controllers,
            # Per held-out day ($ per episode): the agent's and the optimum's, for checks.
            "agent_costs": [float(c) for c in agent],
            "optimum_costs": [float(c) for c in best],
        },
    }


def play_v0(env: Any, params: Any, policy: Policy, episodes: int) -> dict[str, Any]:
    """:attr:`Report.play` of EnergyManagement-v0: its one deterministic day, ``episodes``
    times (every reset is the same day)."""
    hours = int(params.max_steps_in_episode)
    key = jax.random.key(0)
    idle_policy = lambda key, state, obs: jnp.zeros(1, jnp.float32)
    result = {}
    for name, played_policy in (("agent", policy), ("idle", idle_policy)):
        run = jax.jit(lambda k, p=played_policy: run_episodes(env, params, p, k, episodes, hours))
        result[name] = jax.device_get(run(key))
    cost = -np.asarray(result["agent"]["return"], np.float64)
    idle = -np.asarray(result["idle"]["return"], np.float64)
    best_cost = float(solve_one(days.problem_from_params(params)).cost)
    best = np.full(episodes, best_cost)
    per_day = 24.0 / hours
    return {
        "returns": -cost,
        "lengths": np.asarray(result["agent"]["length"]),
        "energy": {
            "episodes": int(episodes),
            "held_out": False,  # the environment's one day, the one it trains on
            "hours": hours,
            "contract_cap": None,
            "controllers": {
                "perfect_foresight": controller_figures(best, best, idle, per_day),
                "agent": controller_figures(cost, best, idle, per_day),
                "idle": controller_figures(idle, best, idle, per_day),
            },
            "agent_costs": [float(c) for c in cost],
            "optimum_costs": [float(c) for c in best],
        },
    }


def v1_problem(params: Any, states: Any) -> optimum.Problem:
    """:attr:`Report.problem` of EnergyManagement-v1: the recorded day's, from its key."""
    key = jax.random.wrap_key_data(np.asarray(states.episode_key_data)[0])
    return days.problem_from_episode(key, params, int(np.asarray(states.level).shape[0]) - 1)


V1 = Report(play=play_v1, problem=v1_problem)
V0 = Report(play=play_v0, problem=lambda params, states: days.problem_from_params(params))
REPORTS: dict[str, Report] = {"EnergyManagement-v1": V1, "EnergyManagement-v0": V0}


def report_for(env_id: str) -> Report | None:
    """The :class:`Report` of ``env_id``, or ``None`` where it has none."""
    return REPORTS.get(env_id)


def draw_day(
    env_id: str,
    env: Any,
    params: Any,
    report: Report,
    states: Any,
    actions: np.ndarray,
    returns: np.ndarray,
    path: str | Path,
    title: str = "",
) -> Path:
    """Draws a recorded episode (``states [L + 1]``, ``actions [L, 1]``, ``returns [L + 1]``, as
    :func:`rljax.render.episode_arrays` gives them) to the PNG ``path``: the agent's hours above
    and the perfect-foresight schedule of the same episode below, each with ``env_id``'s
    renderer at its last frame; returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    renderer_cls = renderer_for(env_id)
    if renderer_cls is None:
        raise ValueError(f"{env_id} has no renderer to draw a day with")
    hours = int(np.asarray(states.level).shape[0]) - 1
    best = jax.device_get(solve_one(report.problem(params, states)))
    best_returns = np.concatenate([[0.0], -np.cumsum(np.asarray(best.hourly_cost, np.float64))])
    panels = (
        (f"{title}\nagent: ${-float(returns[-1]):.2f}".strip(), states, actions, returns),
        (
            f"perfect foresight: ${float(best.cost):.2f}",
            # The same hours with the optimum's levels: the renderers draw from the levels.
            states.replace(level=np.asarray(best.levels, np.float64)),
            (np.asarray(best.charges) / float(params.max_power))[:, None],
            best_returns,
        ),
    )
    fig = Figure(figsize=(6.4, 7.2), dpi=100)
    FigureCanvasAgg(fig)
    cap = float(getattr(params, "contract_cap", math.inf))
    for subfig, (label, panel_states, panel_actions, panel_returns) in zip(
        fig.subfigures(2, 1), panels, strict=True
    ):
        renderer = renderer_cls(subfig, env, params, panel_states, panel_actions, panel_returns)
        renderer.draw(hours)
        subfig.subplots_adjust(left=0.1, right=0.88, bottom=0.12, top=0.88)
        renderer.ax.set_title(label, fontsize=9)
        if math.isfinite(cap):
            renderer.ax.axhline(cap, color="C2", ls="--", lw=1)
            renderer.ax.annotate(
                "contract cap", (0, cap), xytext=(2, 2), textcoords="offset points",
                color="C2", fontsize=7,
            )  # fmt: skip
    path = Path(path)
    fig.savefig(path)
    return path


def describe(energy: dict[str, Any]) -> list[str]:
    """The report's figures (``play``'s ``"energy"``) as lines of a table for the terminal."""
    unit = "day" if energy["hours"] == 24 else f"{energy['hours']}-hour episode"
    cap = energy.get("contract_cap")
    capped = cap is not None and math.isfinite(cap)
    count, kind = energy["episodes"], "held-out " if energy["held_out"] else ""
    head = f"{count} {kind}{unit}" + ("s" if count > 1 else "")
    lines = [head + (f", contract cap {cap:g} kW" if capped else "")]
    columns = f"{'':<18}{'$/day':>8}{'gap $/day':>11}{'gap':>8}{'saving':>8}"
    if capped:
        columns += f"{'violation h/day':>17}{'days with any' if unit == 'day' else 'with any':>15}"
    lines.append(columns)
    names = {"perfect_foresight": "perfect foresight", "mpc": f"MPC {energy.get('mpc_hours')} h"}
    pct = lambda x: "n/a" if not math.isfinite(x) else f"{100 * x:.0f}%"
    for name, row in energy["controllers"].items():
        line = (
            f"{names.get(name, name):<18}{row['cost_per_day']:>8.3f}{row['gap_per_day']:>11.3f}"
            f"{pct(row['relative_gap']):>8}{pct(row['saving_share']):>8}"
        )
        if capped:
            line += f"{row['violation_hours_per_day']:>17.2f}{pct(row['violating_share']):>15}"
        lines.append(line)
    return lines
