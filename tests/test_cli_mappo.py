"""``rljax train mappo`` and ``rljax eval`` on a multi-agent run, end to end, in process.

Every run here shares one tiny configuration (6 updates in chunks of 3), so the compiled programs,
cached per process in ``rljax.run.programs``, are built once for the module.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from cli_harness import run_cli

from rljax import checkpoint, cli
from rljax import train as registry
from rljax.cli.train import config_from_args
from rljax.run import programs
from rljax.train import mappo

TINY = [
    "--env", "TreasureHunt-v0", "--critic", "centralised", "--credit", "difference",
    "--env-kwargs", "size=5", "num_treasures=2",
    "--total-timesteps", "768", "--num-envs", "8", "--num-steps", "16", "--num-minibatches", "2",
    "--hidden-sizes", "32", "32",
    "--seeds", "2", "--chunk-updates", "3", "--checkpoint-every", "3", "--no-progress",
]  # fmt: skip
NUM_UPDATES = 6  # 768 // (8 * 16): two chunks of 3


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("mappo") / "run"
    code, out, err = run_cli(["train", "mappo", *TINY, "--run-dir", run_dir])
    return run_dir, code, out, err


def _rows(run_dir):
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    dropped = ("wall_time", "train_seconds")
    return [{k: v for k, v in row.items() if k not in dropped} for row in rows]


def _assert_same_state(a_dir, b_dir):
    a, b = checkpoint.restore(a_dir), checkpoint.restore(b_dir)
    assert int(a["update"]) == int(b["update"]) == NUM_UPDATES
    a_leaves, b_leaves = jax.tree.leaves(a["state"]), jax.tree.leaves(b["state"])
    assert len(a_leaves) == len(b_leaves)
    for x, y in zip(a_leaves, b_leaves, strict=True):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def test_train_mappo_writes_the_run_directory(full_run):
    run_dir, code, out, err = full_run
    assert code == 0, err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algorithm"] == "mappo"
    expected = mappo.Config(
        critic="centralised",
        credit="difference",
        env_kwargs={"size": 5, "num_treasures": 2},
        total_timesteps=768,
        num_envs=8,
        num_steps=16,
        num_minibatches=2,
        hidden_sizes=(32, 32),
    )
    assert config["config"] == expected.to_dict()
    assert config["num_updates"] == NUM_UPDATES
    rows = _rows(run_dir)
    assert len(rows) == NUM_UPDATES * 2
    assert set(rows[0]) == {"kind", "update", "seed", *mappo.METRIC_NAMES}
    assert all(r["env_steps"] == r["update"] * 128 for r in rows)
    assert checkpoint.updates(run_dir) == [3, 6]
    for name in ("curve.png", "success.png"):
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rljax train mappo: TreasureHunt-v0" in out
    assert "MAPPO on TreasureHunt-v0" in out and "success" in out


def test_resume_is_bitwise_identical(full_run, tmp_path):
    reference = full_run[0]
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        ["train", "mappo", *TINY, "--run-dir", run_dir, "--stop-after-updates", 3]
    )
    assert code == 0, err
    assert checkpoint.latest_update(run_dir) == 3
    code, out, err = run_cli(["train", "mappo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err
    assert "resuming from checkpoint of update 3" in out
    _assert_same_state(run_dir, reference)
    assert _rows(run_dir) == _rows(reference)
    # A mappo run is not continued as a ppo one.
    code, _, err = run_cli(["train", "ppo", "--resume", run_dir])
    assert code == 2 and "rljax train mappo --resume" in err


def test_eval_json_has_success_rate_and_mean_steps(full_run):
    run_dir, code, _, err = full_run
    assert code == 0, err
    code, out, err = run_cli(["eval", run_dir, "--episodes", 5, "--json", "--max-frames", 4])
    assert code == 0, err
    result = json.loads(out)
    assert result["episodes"] == 5 and len(result["returns"]) == 5
    assert result["update"] == NUM_UPDATES
    assert 0.0 <= result["success_rate"] <= 1.0
    assert result["mean_steps"] is None or 1.0 <= result["mean_steps"] <= 100.0
    assert set(result["sampled"]) >= {"success_rate", "mean_steps", "mean_return"}
    assert Path(result["render"]).read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    code, out, err = run_cli(["eval", run_dir, "--episodes", 3, "--seed-index", 1, "--no-render"])
    assert code == 0, err
    assert "success rate" in out and "mean steps" in out


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--critic", "central"], "critic"),
        (["--credit", "nope"], "credit"),
        (["--env", "CartPole-v1"], "env_id"),
        (["--preset", "nope"], "preset"),
    ],
)
def test_invalid_mappo_config_exits_2_before_compiling(flags, field, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(programs, "programs_for", lambda *a, **k: pytest.fail("compiled"))
    code, _, err = run_cli(["train", "mappo", "--total-timesteps", "4096", *flags])
    assert code == 2
    assert err.startswith("rljax train mappo: error: ") and err.count("\n") == 1
    assert field in err
    assert not (tmp_path / "runs").exists()


def test_presets_and_help():
    parser = cli.build_parser()
    args = parser.parse_args(["train", "mappo", "--preset", "treasure_hunt", "--seeds", "2"])
    config, _ = config_from_args(args, registry.get("mappo"))
    assert config == mappo.PRESETS["treasure_hunt"]
    code, out, _ = run_cli(["train", "mappo", "--help"])
    assert code == 0 and "MAPPO config" in out and "--critic CRITIC" in out
