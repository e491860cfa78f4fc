"""``rljax eval`` on energy runs: the held-out days against the perfect-foresight optimum and the
baselines, contract-cap violations, and the day drawn beside the optimum's schedule.

One tiny PPO run on EnergyManagement-v1 under a contracted import cap (trained for two updates:
the figures are checked for what they must be for any policy, not for a good one), evaluated
once; the figures are then checked against what the held-out days and the optimum say.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_harness import run_cli

from rljax import render
from rljax.energy import evaluation, profiles
from rljax.env import make
from rljax.learning.episodes import play_episode

CAP = 1.5  # kW: below the evening peaks of many held-out days, so the cap binds
DAYS = 3
TINY_PPO = [
    "--env-id", "EnergyManagement-v1", "--env-kwargs", f"contract_cap={CAP}",
    "--total-timesteps", "96", "--num-envs", "2", "--num-steps", "24",
    "--num-minibatches", "1", "--update-epochs", "1", "--hidden-sizes", "16",
    "--seeds", "1", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """``(run_dir, the eval's JSON object)`` of a tiny PPO run on capped days."""
    run_dir = tmp_path_factory.mktemp("energy") / "run"
    code, _, err = run_cli(["train", "ppo", *TINY_PPO, "--run-dir", run_dir])
    assert code == 0, err
    code, out, err = run_cli(["eval", run_dir, "--episodes", DAYS, "--json"])
    assert code == 0, err
    return run_dir, json.loads(out)


def test_eval_reports_the_held_out_days_against_the_optimum(evaluated):
    _, result = evaluated
    energy = result["energy"]
    assert (energy["episodes"], energy["hours"], energy["contract_cap"]) == (DAYS, 24, CAP)
    agent, best = np.asarray(energy["agent_costs"]), np.asarray(energy["optimum_costs"])
    assert agent.shape == best.shape == (DAYS,)
    # No policy beats perfect foresight on any day (float32 rounding aside).
    assert np.all(agent >= best - 1e-4), (agent, best)
    # The returns are the same days' (minus their cost), not episodes of another key.
    np.testing.assert_allclose(result["returns"], -agent)
    assert result["episodes"] == DAYS and result["mean_length"] == 24
    rows = energy["controllers"]
    assert list(rows) == ["perfect_foresight", "agent", "idle", "rule", "mpc"]
    row = rows["agent"]
    np.testing.assert_allclose(row["cost_per_day"], agent.mean())
    np.testing.assert_allclose(row["gap_per_day"], (agent - best).mean(), atol=1e-9)
    np.testing.assert_allclose(
        row["relative_gap"], (agent.mean() - best.mean()) / abs(best.mean()), rtol=1e-9
    )
    idle = rows["idle"]["cost_per_day"]
    np.testing.assert_allclose(
        row["saving_share"], (idle - agent.mean()) / (idle - best.mean()), rtol=1e-9
    )
    assert rows["perfect_foresight"]["gap_per_day"] == 0.0
    assert rows["perfect_foresight"]["saving_share"] == pytest.approx(1.0)
    assert rows["idle"]["saving_share"] == 0.0
    for name, figures in rows.items():
        # Every controller plays the same days, and none of them does better than the optimum.
        assert figures["gap_per_day"] >= -1e-4, name
        assert 0.0 <= figures["violating_share"] <= 1.0
        assert figures["violation_hours_per_day"] <= 24
    # MPC over a noisy forecast is close to the optimum, far closer than the rule.
    assert rows["mpc"]["gap_per_day"] < rows["rule"]["gap_per_day"]


def test_violations_are_the_hours_whose_import_passed_the_contract_cap(evaluated):
    _, result = evaluated
    rows = result["energy"]["controllers"]
    # An idle battery imports the net load itself: count its hours above the cap directly.
    _, params = make("EnergyManagement-v1", contract_cap=CAP)
    hours = jax.jit(jax.vmap(lambda key: profiles.hourly_values(key, 24, params)))(
        profiles.evaluation_keys(DAYS)
    )
    net_load = np.asarray(hours.demand - hours.solar, np.float64)
    over = (net_load - CAP > 1e-4).sum(axis=1)
    assert over.sum() > 0, "the test's cap should bind on these days"
    np.testing.assert_allclose(rows["idle"]["violation_hours_per_day"], over.mean())
    np.testing.assert_allclose(rows["idle"]["violating_share"], (over > 0).mean())
    excess = np.maximum(net_load - CAP, 0).sum(axis=1).mean()
    np.testing.assert_allclose(rows["idle"]["cap_excess_kwh_per_day"], excess, rtol=1e-5)
    # The rule charges at full power (5 kW) before dawn: past a 1.5 kW cap on every day.
    assert rows["rule"]["violating_share"] == 1.0
    assert rows["rule"]["peak_import"] > CAP


def test_eval_draws_the_day_to_a_png_and_prints_a_table(evaluated):
    run_dir, result = evaluated
    png = run_dir / "day.png"
    assert result["figure"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run_dir / "episode.gif").exists()
    lines = evaluation.describe(result["energy"])
    assert lines[0] == f"{DAYS} held-out days, contract cap {CAP:g} kW"
    table = "\n".join(lines)
    for label in ("perfect foresight", "agent", "idle", "rule", "MPC 12 h", "violation h/day"):
        assert label in table
    code, out, _ = run_cli(["eval", "--help"])
    assert code == 0 and "held-out days" in out and "day.png" in out


def test_v0_report_and_drawing(tmp_path):
    # EnergyManagement-v0's one day, played by an idle battery: the optimum is $57.33 and the
    # idle battery's $82.33 (benchmarks/RESULTS.md), so the idle "agent" gets none of the saving.
    env, params = make("EnergyManagement-v0")
    idle = lambda key, state, obs: jnp.zeros(1, jnp.float32)
    report = evaluation.report_for("EnergyManagement-v0")
    figures = report.play(env, params, idle, 2)
    rows = figures["energy"]["controllers"]
    assert rows["perfect_foresight"]["cost_per_day"] == pytest.approx(57.33, abs=0.01)
    assert rows["agent"]["cost_per_day"] == pytest.approx(82.33, abs=0.01)
    assert rows["agent"]["saving_share"] == 0.0
    np.testing.assert_allclose(figures["returns"], [-82.33, -82.33], atol=0.01)
    assert evaluation.describe(figures["energy"])[0] == "2 days"  # not held out, and no cap
    play = jax.jit(lambda key: play_episode(env, params, idle, key, 24, record=True))
    recorded = play(jax.random.key(0))
    states, _, actions, returns = render.episode_arrays(jax.device_get(recorded["trajectory"]), 24)
    path = evaluation.draw_day(
        "EnergyManagement-v0", env, params, report, states, actions, returns, tmp_path / "d.png"
    )
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert evaluation.report_for("CartPole-v1") is None
