"""The run driver's promises, through ``rljax train`` as a user meets them.

One writer per run directory; corrupt checkpoints fall back to the newest intact one; an edited
config names its differing fields; no host work grows with the run length; every bad input is one
``error:`` line with exit 2 and leaves nothing behind; sweeps are one vmapped program whose runs
equal the same seeds trained alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from cli_harness import run_cli

from rljax import checkpoint
from rljax.run import driver, programs, spec

# The same tiny run as tests/test_cli.py (shared compiled programs), shorter.
TINY = [
    "--total-timesteps", "1024", "--num-envs", "4", "--num-steps", "32",
    "--seeds", "2", "--checkpoint-every", "2", "--chunk-updates", "2", "--no-progress",
]  # fmt: skip
NUM_UPDATES = 8


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("driver") / "run"
    code, out, err = run_cli(["train", "ppo", *TINY, "--run-dir", run_dir])
    assert code == 0, err
    return run_dir


def _final_params(run_dir):
    return checkpoint.restore(run_dir)["state"]["params"]


# --- bad input: one error line, exit 2, nothing left behind ----------------------------------


BAD_TRAIN = [
    (["--env-kwargs", "gravity=abc"], "gravity"),
    (["--env-kwargs", "max_steps_in_episode=8.9"], "max_steps_in_episode"),
    (["--env", "ConnectFour-v0"], "env_id"),
    (["--env", "CartPole-v1", "--env-id", "Pendulum-v1"], "disagree"),
    (["--hidden-sizes", "6.5"], "hidden-sizes"),
    (["--total-timesteps", "513.5"], "total-timesteps"),
    (["--total-timesteps", "1e15"], "too long"),
    (["--seeds", "0"], "--seeds"),
    (["--seed-groups", "3"], "--seed-groups=3"),
    (["--sweep", "lr"], "--sweep"),
    (["--sweep", "num_envs=4,8"], "cannot be swept"),
    (["--sweep", "lr=1e-3,abc"], "numbers"),
    (["--minutes", "0"], "minutes"),
    (["--preset", "nope"], "preset"),
]


@pytest.mark.parametrize(("flags", "needle"), BAD_TRAIN)
def test_bad_train_input_is_one_error_line_and_leaves_nothing(flags, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(programs, "programs_for", lambda *a, **k: pytest.fail("compiled"))
    started = time.perf_counter()
    code, _, err = run_cli(["train", "ppo", "--total-timesteps", "4096", *flags])
    assert time.perf_counter() - started < 30  # no host work proportional to the run length
    assert code == 2, err
    assert err.startswith("rljax train ppo: error: ") and err.count("\n") == 1, err
    assert needle in err
    assert not (tmp_path / "runs").exists()


def test_a_run_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    code, _, err = run_cli(["train", "ppo", *TINY, "--run-dir", path])
    assert code == 2 and "is a file" in err and err.count("\n") == 1


def test_resume_of_a_broken_config_json_is_one_line(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{not json")
    code, _, err = run_cli(["train", "ppo", "--resume", run_dir])
    assert code == 2 and "config.json" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "envs", "--batch-sizes", "0"],
        ["arena", "random", "random", "--simulations", "0"],
        ["arena", "random", "random", "--env", "CartPole-v1"],
        ["arena", "random", "random"],
        ["eval", "no-such-dir"],
        ["train", "nope"],
    ],
)
def test_bad_input_to_other_commands_is_one_error_line(argv):
    code, _, err = run_cli(argv)
    assert code == 2, err
    assert "error:" in err and err.count("\n") == 1, err


def test_an_unwritable_run_dir_is_one_error_line(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spec, "write_json_atomic", full_disk)
    monkeypatch.setattr(spec.RunSpec, "save", lambda self, run_dir: full_disk())
    code, _, err = run_cli(["train", "ppo", *TINY, "--run-dir", tmp_path / "r"])
    assert code == 2 and "No space left" in err and err.count("\n") == 1


def test_huge_runs_schedule_without_host_loops():
    started = time.perf_counter()
    assert spec.default_chunk_updates(10**12) == 2 * 10**10
    assert spec.chunk_sizes(3, 10**12, 7) == tuple(sorted({7, (10**12 - 3) % 7}))
    assert time.perf_counter() - started < 1.0


# --- one writer per run directory -------------------------------------------------------------


def test_a_second_writer_gets_an_error_naming_the_holder(finished, tmp_path):
    from rljax.run.lock import RunLock

    run_dir = tmp_path / "copy"
    shutil.copytree(finished, run_dir)
    with RunLock(run_dir):
        code, _, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 2 and "in use by pid" in err and err.count("\n") == 1
    code, _, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err


def test_two_processes_resuming_at_once_write_no_duplicate_rows(finished, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished, run_dir)
    shutil.rmtree(checkpoint.checkpoint_dir(run_dir) / str(NUM_UPDATES))  # work left to do
    argv = [sys.executable, "-m", "rljax.cli", "train", "ppo", "--resume", str(run_dir)]
    argv += ["--no-progress", "--chunk-sleep", "0.5"]
    # The children load the programs this process compiled from its persistent cache (conftest).
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": jax.config.jax_compilation_cache_dir}
    spawn = lambda: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    children = [spawn()]
    time.sleep(0.2)
    children.append(spawn())
    results = [(c.wait(timeout=300), c.stderr.read().decode()) for c in children]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    assert any("in use by pid" in err for _, err in results)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    keys = [(r["update"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == NUM_UPDATES * 2


def test_ctrl_c_stops_with_a_resume_hint_and_frees_the_run_dir(finished, tmp_path, monkeypatch):
    real_chunk = programs.SeedPrograms.chunk
    calls = []

    def interrupted(self, n):
        compiled = real_chunk(self, n)

        def run(state, hparams):
            calls.append(n)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return compiled(state, hparams)

        return run

    monkeypatch.setattr(programs.SeedPrograms, "chunk", interrupted)
    run_dir = tmp_path / "run"
    code, _, err = run_cli(["train", "ppo", *TINY, "--run-dir", run_dir])
    assert code == 130
    assert f"continue with: rljax train ppo --resume {run_dir}" in err
    assert checkpoint.latest_update(run_dir) == 4  # the chunks before the interrupt are kept
    monkeypatch.setattr(programs.SeedPrograms, "chunk", real_chunk)
    code, _, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err  # the lock went with the interrupted run
    jax.tree.map(np.testing.assert_array_equal, _final_params(run_dir), _final_params(finished))


# --- corrupt checkpoints and edited configs ---------------------------------------------------


def _corrupt_newest(run_dir: Path) -> int:
    newest = checkpoint.latest_update(run_dir)
    files = sorted(
        (p for p in (checkpoint.checkpoint_dir(run_dir) / str(newest)).rglob("*") if p.is_file()),
        key=lambda p: p.stat().st_size,
    )
    data = bytearray(files[-1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[-1].write_bytes(bytes(data))
    return newest


def test_a_corrupt_newest_checkpoint_falls_back_with_a_note(finished, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished, run_dir)
    bad = _corrupt_newest(run_dir)
    code, out, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err
    assert f"checkpoint {bad}" in out + err
    jax.tree.map(np.testing.assert_array_equal, _final_params(run_dir), _final_params(finished))


def test_no_intact_checkpoint_is_a_clear_error(finished, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished, run_dir)
    for update in checkpoint.updates(run_dir):
        path = checkpoint.checkpoint_dir(run_dir) / str(update)
        for file in path.rglob("*"):
            if file.is_file() and file.stat().st_size > 100:
                file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    code, _, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 2 and err.count("\n") == 1 and "checkpoint" in err


def test_an_edited_config_names_the_fields_that_differ(finished, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished, run_dir)
    path = run_dir / "config.json"
    data = json.loads(path.read_text())
    data["config"]["num_envs"] = 8
    data["config"]["total_timesteps"] = 2048
    path.write_text(json.dumps(data))
    code, _, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 2 and err.count("\n") == 1
    assert "num_envs: 4 -> 8" in err


def test_a_run_directory_in_the_old_layout_resumes(finished, tmp_path):
    """rljax 0.1 wrote checkpoints {"state", "update"}, without train_seconds or the trained
    config beside them: such a run continues, and ends where the new layout's run ends."""
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    shutil.copy(finished / "config.json", run_dir / "config.json")
    saved = checkpoint.restore(finished, 4)
    old = {"state": saved["state"], "update": saved["update"]}
    checkpoint.save(run_dir, 4, old)
    code, out, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err
    assert "resuming from checkpoint of update 4" in out
    jax.tree.map(np.testing.assert_array_equal, _final_params(run_dir), _final_params(finished))


# --- sweeps -----------------------------------------------------------------------------------


def test_a_sweep_is_one_program_and_each_point_equals_its_own_run(finished, tmp_path):
    run_dir = tmp_path / "sweep"
    code, out, err = run_cli(
        ["train", "ppo", *TINY, "--sweep", "lr=2.5e-4,1e-3", "--run-dir", run_dir]
    )
    assert code == 0, err
    assert "2 sweep points x 2 seeds" in out
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {(r["point"], r["sweep"]["lr"], r["seed"]) for r in rows if r["update"] == 1} == {
        (0, 2.5e-4, 0),
        (0, 2.5e-4, 1),
        (1, 1e-3, 0),
        (1, 1e-3, 1),
    }
    assert len(rows) == NUM_UPDATES * 4
    # Point 0 is the config's own lr (2.5e-4): its two runs are the two seeds of the plain run.
    swept = checkpoint.restore(run_dir)["state"]["params"]
    plain = _final_params(finished)
    close = jax.tree.map(lambda a, b: np.allclose(a[:2], b, rtol=1e-5, atol=1e-6), swept, plain)
    assert all(jax.tree.leaves(close))
    differ = jax.tree.map(lambda a: not np.allclose(a[:2], a[2:]), swept)
    assert any(jax.tree.leaves(differ))
    assert (run_dir / "curve.png").stat().st_size > 0

    code, out, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err


def test_python_api_trains_and_resumes(tmp_path):
    from rljax.train import ppo

    config = ppo.Config(total_timesteps=1024, num_envs=4, num_steps=32)
    lines: list[str] = []
    result = driver.train(
        config, tmp_path / "api", seeds=2, chunk_updates=2, checkpoint_every=2, progress=False,
        log=lines.append,
    )  # fmt: skip
    assert result.status == 0 and result.update == NUM_UPDATES
    assert any("compiled in" in line for line in lines)
    again = driver.resume(tmp_path / "api", progress=False, log=lines.append)
    assert again.status == 0 and again.update == NUM_UPDATES
