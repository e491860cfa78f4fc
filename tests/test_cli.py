"""The command line end to end, in process (``rljax.cli.main``) on a tiny PPO configuration.

All runs share one configuration, so the compiled programs (cached per process in
``rljax.run.programs``) are built once for the module; the SIGKILL test's child process reuses
them through JAX's persistent compilation cache.
"""

import dataclasses
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from cli_harness import run_cli

from rljax import checkpoint, cli
from rljax import train as registry
from rljax.cli.train import config_from_args
from rljax.run import programs
from rljax.run.restore import load_run
from rljax.train import ppo

TINY = [
    "--total-timesteps", "4096", "--num-envs", "4", "--num-steps", "32",
    "--seeds", "2", "--checkpoint-every", "4", "--chunk-updates", "3", "--no-progress",
]  # fmt: skip
NUM_UPDATES = 32  # 4096 // (4 * 32): 10 chunks of 3, then one of 2
CHECKPOINTS = [6, 9, 12, 18, 21, 24, 30, 32]  # first chunk ends at or after multiples of 4, end


@pytest.fixture(scope="module")
def xla_cache(tmp_path_factory):
    """A persistent XLA cache shared with child processes, for this module only."""
    from jax.experimental.compilation_cache import compilation_cache as cc

    path = tmp_path_factory.mktemp("xla_cache")
    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    saved = {name: getattr(jax.config, name) for name in names}
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    cc.reset_cache()
    yield path
    for name, value in saved.items():
        jax.config.update(name, value)
    cc.reset_cache()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, xla_cache):
    """An uninterrupted run: ``(run_dir, exit code, stdout, stderr)``."""
    run_dir = tmp_path_factory.mktemp("full") / "run"
    # tensorboardX is in the test extra, so the TensorBoard writer runs here (not skipped).
    code, out, err = run_cli(["train", "ppo", *TINY, "--run-dir", run_dir, "--tensorboard"])
    return run_dir, code, out, err


def _final_state(run_dir):
    raw = checkpoint.restore(run_dir)
    assert int(raw["update"]) == NUM_UPDATES
    return raw["state"]


def _assert_same_bits(a, b):
    a_leaves, b_leaves = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(a_leaves) == len(b_leaves)
    for x, y in zip(a_leaves, b_leaves, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def tensorboard_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` read back from a TensorBoard event file (TFRecords: a
    length, its CRC, an ``Event`` protobuf, its CRC), without TensorBoard itself."""
    from tensorboardX.proto import event_pb2

    data, at, scalars = path.read_bytes(), 0, {}
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at : at + 8])
        event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
        at += 12 + length + 4
        for value in event.summary.value:
            scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def _rows(run_dir, drop=("wall_time", "train_seconds")):
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    return [{k: v for k, v in row.items() if k not in drop} for row in rows]


def _assert_same_run(run_dir, reference_dir):
    _assert_same_bits(_final_state(run_dir), _final_state(reference_dir))
    assert _rows(run_dir) == _rows(reference_dir)


# --- a whole run -------------------------------------------------------------------------------


def test_train_writes_the_run_directory(full_run):
    run_dir, code, out, err = full_run
    assert code == 0, err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algorithm"] == "ppo"
    assert config["config"] == ppo.Config(total_timesteps=4096, num_envs=4, num_steps=32).to_dict()
    assert (config["seeds"], config["seed"]) == (2, 0)
    assert (config["chunk_updates"], config["checkpoint_every"]) == (3, 4)
    assert config["num_updates"] == NUM_UPDATES

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == NUM_UPDATES * 2
    assert set(rows[0]) == {
        "kind",
        "update",
        "seed",
        "wall_time",
        "train_seconds",
        *ppo.METRIC_NAMES,
    }
    assert [(r["update"], r["seed"]) for r in rows] == [
        (u, s) for u in range(1, NUM_UPDATES + 1) for s in (0, 1)
    ]
    assert all(r["env_steps"] == r["update"] * 128 for r in rows)
    assert all(isinstance(r["value_loss"], float) for r in rows)

    assert (run_dir / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert checkpoint.updates(run_dir) == CHECKPOINTS[-3:]  # the newest 3 are kept
    leftovers = [
        p.name for p in checkpoint.checkpoint_dir(run_dir).iterdir() if not p.name.isdigit()
    ]
    assert leftovers == ["config.json"]  # the config the checkpoints were written with
    events = [p for p in (run_dir / "tensorboard").iterdir() if p.name.startswith("events.out")]
    assert len(events) == 1 and events[0].stat().st_size > 0
    # Every update's seed mean, stepped by env steps (the writer skips non-finite means).
    written = tensorboard_scalars(events[0])["train/value_loss"]
    means = [(r["env_steps"], r["value_loss"]) for r in rows if r["seed"] == 0]
    expected = [
        (steps, np.mean([r["value_loss"] for r in rows if r["env_steps"] == steps]))
        for steps, _ in means
    ]
    assert [step for step, _ in written] == [step for step, _ in expected]
    np.testing.assert_allclose([v for _, v in written], [v for _, v in expected], rtol=1e-6)

    assert "compiled in" in out
    for text in (
        "final return",
        "mean ± std",
        "env steps",
        "4,096 per seed",
        "compile s",
        "steps/s",
    ):
        assert text in out


def test_chunked_run_equals_one_shot_make_train(full_run):
    run_dir, code, _, err = full_run
    assert code == 0, err
    config = ppo.Config(total_timesteps=4096, num_envs=4, num_steps=32)
    # What jax.vmap(ppo.make_train(config)) computes: init, then one chunk of all the updates,
    # vmapped over the seeds. The init is mapped over the seeds instead (bitwise the same state):
    # a vmapped orthogonal initialiser's batched QR can deadlock jaxlib 0.10 on a 2-core CPU.
    init = ppo.make_init(config)
    one_shot = jax.vmap(ppo.make_update_chunk(config, config.num_updates))
    keys = programs.seed_keys(0, 2)
    final, metrics = jax.jit(lambda keys: one_shot(jax.lax.map(init, keys)))(keys)
    state = _final_state(run_dir)
    _assert_same_bits(state["params"], final.params)
    _assert_same_bits(state["opt_state"], final.opt_state)
    np.testing.assert_array_equal(state["key"], jax.random.key_data(final.key))
    np.testing.assert_array_equal(state["update_step"], [NUM_UPDATES] * 2)
    # The metric rows are the one-shot metrics (NaN written as null). Parameters are bitwise the
    # same; the diagnostic means (losses, KL) are reductions that XLA:CPU may order differently in
    # a 3-update program than in a 32-update one (seen here: 2e-4 relative on values of 1e-3), so
    # those are compared to float32 rounding, everything else bit for bit.
    rows = _rows(run_dir)
    for name in ppo.METRIC_NAMES:
        logged = np.asarray(
            [
                [np.nan if r[name] is None else r[name] for r in rows if r["seed"] == s]
                for s in (0, 1)
            ]
        )
        expected = np.asarray(metrics[name], np.float64)
        if name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "grad_norm"):
            np.testing.assert_allclose(logged, expected, rtol=1e-3, atol=1e-7)
        else:
            np.testing.assert_array_equal(logged, expected)


def test_seed_groups_run_side_by_side_with_the_same_bits(full_run, tmp_path):
    """Four seeds as two groups of two (one thread each): seeds 0 and 1 are the group that the
    two-seed reference run computes in one program, so their states and rows match it bit for
    bit; the split is recorded for --resume."""
    reference = full_run[0]
    assert json.loads((reference / "config.json").read_text())["seed_groups"] == 1  # 2 seeds
    run_dir = tmp_path / "grouped"
    argv = [a if a != "2" else "4" for a in TINY]  # --seeds 4 (the only "2" in TINY)
    code, out, err = run_cli(["train", "ppo", *argv, "--seed-groups", "2", "--run-dir", run_dir])
    assert code == 0, err
    assert "2 seed groups side by side" in out
    assert json.loads((run_dir / "config.json").read_text())["seed_groups"] == 2
    grouped, single = _final_state(run_dir), _final_state(reference)
    _assert_same_bits(jax.tree.map(lambda x: x[:2], grouped), single)
    rows = _rows(run_dir)
    assert sorted({r["seed"] for r in rows}) == [0, 1, 2, 3]
    assert [r for r in rows if r["seed"] < 2] == _rows(reference)
    kernel = np.asarray(jax.tree.leaves(grouped["params"])[-1])  # [4, ...]: seeds differ
    assert not np.array_equal(kernel[0], kernel[2])

    bad = ["train", "ppo", *argv, "--seed-groups", "3", "--run-dir", tmp_path / "x"]
    code, _, err = run_cli(bad)
    assert code == 2 and "--seed-groups=3 is invalid" in err


# --- resume ------------------------------------------------------------------------------------


def test_resume_after_a_stop_is_bitwise_identical(full_run, tmp_path):
    reference = full_run[0]
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        ["train", "ppo", *TINY, "--run-dir", run_dir, "--stop-after-updates", 14]
    )
    assert code == 0, err
    assert "stopped after 15 updates" in out
    assert checkpoint.latest_update(run_dir) == 12  # rows 13..15 are written but not saved
    assert max(r["update"] for r in _rows(run_dir)) == 15
    assert not (run_dir / "curve.png").exists()

    code, out, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err
    assert "resuming from checkpoint of update 12" in out
    _assert_same_run(run_dir, reference)
    assert (run_dir / "curve.png").exists()

    # Resuming a finished run recomputes nothing.
    code, out, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress", "--lr", "1"])
    assert code == 0, err
    assert "--lr ignored" in err
    _assert_same_run(run_dir, reference)


def test_resume_without_checkpoint_restarts(full_run, tmp_path):
    reference = full_run[0]
    run_dir = tmp_path / "run"
    code, _, err = run_cli(["train", "ppo", *TINY, "--run-dir", run_dir, "--stop-after-updates", 1])
    assert code == 0, err
    assert checkpoint.latest_update(run_dir) is None
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"update": 4, "seed": 0, "env_st')  # a row torn by a kill
    code, out, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err
    _assert_same_run(run_dir, reference)


def kill_after_first_checkpoint(argv, run_dir, xla_cache, cwd) -> int:
    """Runs ``rljax *argv`` in a child process, SIGKILLs it once a checkpoint is on disk, and
    returns the update of the newest checkpoint it left."""
    env = {  # the child runs on this process's platform (conftest's default: cpu), as it must to
        **os.environ,  # end bitwise where this process's uninterrupted reference run ends
        "JAX_COMPILATION_CACHE_DIR": str(xla_cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "rljax.cli", *map(str, argv), "--chunk-sleep", "0.1"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while checkpoint.latest_update(run_dir) is None and child.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        output = child.communicate(timeout=30)[0].decode()
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, output
    killed_at = checkpoint.latest_update(run_dir)
    assert killed_at is not None
    return killed_at


def test_resume_after_sigkill_is_bitwise_identical(full_run, xla_cache, tmp_path):
    reference = full_run[0]
    run_dir = tmp_path / "run"
    argv = ["train", "ppo", *TINY, "--run-dir", run_dir]
    assert kill_after_first_checkpoint(argv, run_dir, xla_cache, tmp_path) < NUM_UPDATES

    code, out, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err
    _assert_same_run(run_dir, reference)


# The Pendulum preset (continuous actions, observation and reward normalisation) at a tiny size.
PENDULUM = [
    "--preset", "pendulum", "--total-timesteps", "2048", "--num-envs", "4", "--num-steps", "32",
    "--num-minibatches", "2", "--update-epochs", "2", "--seeds", "2", "--checkpoint-every", "4",
    "--chunk-updates", "2", "--no-progress",
]  # fmt: skip


def test_pendulum_preset_resumes_after_sigkill_with_its_statistics_then_evaluates(
    xla_cache, tmp_path
):
    """train -> SIGKILL -> resume ends bitwise on the clean run, the running observation and
    return statistics included; ``rljax eval`` then scores the policy on normalised observations."""
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    code, _, err = run_cli(["train", "ppo", *PENDULUM, "--run-dir", reference])
    assert code == 0, err
    assert (
        kill_after_first_checkpoint(
            ["train", "ppo", *PENDULUM, "--run-dir", run_dir], run_dir, xla_cache, tmp_path
        )
        < 16
    )
    code, _, err = run_cli(["train", "ppo", "--resume", run_dir, "--no-progress"])
    assert code == 0, err

    final = {d: checkpoint.restore(d) for d in (reference, run_dir)}
    assert int(final[run_dir]["update"]) == 16
    _assert_same_bits(final[run_dir]["state"], final[reference]["state"])
    assert _rows(run_dir) == _rows(reference)
    spec, state, _ = load_run(run_dir)
    assert spec.config.normalize_obs and spec.config.normalize_reward
    assert (np.asarray(state.obs_stats.count) > 2000).all()  # 16 updates x 128 observations
    assert (np.asarray(state.return_stats.var) != 1.0).all()

    code, out, err = run_cli(["eval", run_dir, "--episodes", 2, "--json", "--no-render"])
    assert code == 0, err
    seed0 = jax.tree.map(lambda x: x[0], state)
    expected = ppo.evaluate_policy(spec.config, seed0, 2, jax.random.key(0), 200)["returns"]
    np.testing.assert_array_equal(json.loads(out)["returns"], expected)
    raw = dataclasses.replace(spec.config, normalize_obs=False)  # the same policy, unnormalised
    unnormalised = ppo.evaluate_policy(raw, seed0, 2, jax.random.key(0), 200)["returns"]
    assert not np.array_equal(unnormalised, expected)


# --- divergence --------------------------------------------------------------------------------


def wrap_chunks(monkeypatch, after):
    """Every compiled chunk's output passes through ``after(state, metrics, finite)`` (to poison
    or slow a run as a real failure would)."""
    real_chunk = programs.SeedPrograms.chunk

    def wrapped_chunk(self, n):
        compiled = real_chunk(self, n)
        return lambda state, hparams: after(*compiled(state, hparams))

    monkeypatch.setattr(programs.SeedPrograms, "chunk", wrapped_chunk)


def test_divergence_stops_with_the_first_bad_update(full_run, tmp_path, monkeypatch):
    # Poison update 8 (the middle of the third chunk, updates 7..9) of seed 1.
    def poison(state, metrics, finite):
        if int(np.asarray(state.update_step)[0]) == 9:
            loss = np.array(metrics["value_loss"])
            loss[1, 1] = np.nan
            metrics = {**metrics, "value_loss": loss}
        return state, metrics, finite

    wrap_chunks(monkeypatch, poison)
    run_dir = tmp_path / "run"
    code, _, err = run_cli(["train", "ppo", *TINY, "--run-dir", run_dir])
    assert code == 1
    assert "update 8" in err and "value_loss" in err and "update 6" in err
    assert err.count("\n") == 1
    assert checkpoint.latest_update(run_dir) == 6  # the last good checkpoint is kept
    rows, reference = _rows(run_dir), _rows(full_run[0])
    assert max(r["update"] for r in rows) == 8
    assert rows[:-2] == reference[: len(rows) - 2]  # updates 1..7 as in the clean run
    # Update 8: seed 0's row is the clean run's; seed 1's poisoned value is written as null.
    clean = next(r for r in reference if (r["update"], r["seed"]) == (8, 0))
    assert rows[-2] == clean
    assert (rows[-1]["seed"], rows[-1]["value_loss"]) == (1, None)


def test_non_finite_parameters_stop_a_run_whose_metrics_are_finite(full_run, tmp_path, monkeypatch):
    """The chunk's parameter check (not a metric) catches seed 1's parameters going NaN in the
    chunk of updates 7..9: the run stops there and keeps the checkpoint of update 6."""
    wrap_chunks(
        monkeypatch,
        lambda state, metrics, finite: (
            (state, metrics, finite)
            if int(np.asarray(state.update_step)[0]) != 9
            else (state, metrics, np.array([True, False]))
        ),
    )
    run_dir = tmp_path / "run"
    code, _, err = run_cli(["train", "ppo", *TINY, "--run-dir", run_dir])
    assert code == 1
    assert "update 9: non-finite parameters (seed index 1)" in err and "update 6" in err
    assert checkpoint.latest_update(run_dir) == 6


def test_a_time_budget_stops_the_run_with_a_checkpoint(full_run, tmp_path, monkeypatch):
    """--minutes: the chunk that spends the budget is the last; its state is checkpointed and
    equals the uninterrupted run's rows so far."""

    def slow(*outputs):  # counted as training time: the third chunk spends a 2.4 s budget
        time.sleep(1.0)
        return outputs

    wrap_chunks(monkeypatch, slow)
    run_dir = tmp_path / "run"
    code, _, err = run_cli(["train", "ppo", *TINY, "--run-dir", run_dir, "--minutes", 0.04])
    assert code == 0, err
    assert checkpoint.latest_update(run_dir) == 9  # three chunks of 3 updates
    rows = _rows(run_dir)
    assert rows == _rows(full_run[0])[: len(rows)] and max(r["update"] for r in rows) == 9


# --- errors and help ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, field",
    [
        (["--lr", "-1"], "lr"),
        (["--num-minibatches", "3"], "num_minibatches"),
        (["--env-id", "Nope-v0"], "env_id"),
        (["--hidden-sizes", "64", "0"], "hidden_sizes"),
        (["--env-kwargs", "nope=1"], "nope"),
        (["--seeds", "0"], "--seeds"),
        (["--chunk-updates", "0"], "--chunk-updates"),
        (["--preset", "nope"], "preset"),
    ],
)
def test_invalid_config_exits_2_before_compiling(flags, field, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(programs, "programs_for", lambda *a, **k: pytest.fail("compiled"))
    code, out, err = run_cli(["train", "ppo", "--total-timesteps", "4096", *flags])
    assert code == 2
    assert err.startswith("rljax train ppo: error: ") and err.count("\n") == 1
    assert field in err
    assert not (tmp_path / "runs").exists()


def test_existing_run_dir_is_not_overwritten(full_run):
    code, _, err = run_cli(["train", "ppo", *TINY, "--run-dir", full_run[0]])
    assert code == 2 and "--resume" in err


def test_config_flags_presets_and_env_kwargs(monkeypatch):
    parser = cli.build_parser()
    args = parser.parse_args(
        ["train", "ppo", "--hidden-sizes", "32", "16", "--no-anneal-lr", "--total-timesteps", "1e5",
         "--env-kwargs", "gravity=9.81", "max_steps_in_episode=200"]
    )  # fmt: skip
    config, _ = config_from_args(args, registry.get("ppo"))
    assert config.hidden_sizes == (32, 16) and config.anneal_lr is False
    assert config.total_timesteps == 100_000
    assert dict(config.env_kwargs) == {"gravity": 9.81, "max_steps_in_episode": 200}
    # A preset supplies the defaults; flags given override it.
    preset = ppo.Config(env_id="Pendulum-v1", num_envs=8, lr=1e-3)
    monkeypatch.setitem(ppo.PRESETS, "pendulum-test", preset)
    args = parser.parse_args(["train", "ppo", "--preset", "pendulum-test", "--lr", "3e-4"])
    config, _ = config_from_args(args, registry.get("ppo"))
    assert (config.env_id, config.num_envs, config.lr) == ("Pendulum-v1", 8, 3e-4)


def test_help_is_grouped_with_defaults():
    code, out, _ = run_cli(["train", "ppo", "--help"])
    assert code == 0
    assert "PPO config" in out and "run:" in out
    assert "--num-envs N" in out and "(default: 4)" in out
    assert "--anneal-lr, --no-anneal-lr" in out
    assert "--hidden-sizes N [N ...]" in out
    assert "--stop-after-updates" not in out  # test hooks stay hidden
    for argv in (["--help"], ["eval", "--help"], ["bench", "envs", "--help"]):
        code, out, _ = run_cli(argv)
        assert code == 0 and "usage: rljax" in out


def test_bench_envs_still_runs():
    code, out, err = run_cli(
        ["bench", "envs", "--quick", "--envs", "GridWorld-v0", "--batch-sizes", "8"]
    )
    assert code == 0, err
    assert "GridWorld-v0" in out


# --- eval --------------------------------------------------------------------------------------


def test_eval_json_and_gif(full_run):
    run_dir, code, _, err = full_run
    assert code == 0, err
    code, out, err = run_cli(["eval", run_dir, "--episodes", 3, "--json"])
    assert code == 0, err
    result = json.loads(out)
    assert result["episodes"] == 3 and len(result["returns"]) == 3
    assert result["update"] == NUM_UPDATES
    assert result["min_return"] <= result["mean_return"] <= result["max_return"]
    # The figures are the checkpointed seed-0 policy's, evaluated with --seed 0's key; an untrained
    # policy's differ.
    spec, state, _ = load_run(run_dir)
    seed0 = jax.tree.map(lambda x: x[0], state)
    expected = ppo.evaluate_policy(spec.config, seed0, 3, jax.random.key(0), 500)["returns"]
    np.testing.assert_array_equal(result["returns"], expected)
    untrained = ppo.make_init(spec.config)(jax.random.key(0))
    before = ppo.evaluate_policy(spec.config, untrained, 3, jax.random.key(0), 500)["returns"]
    assert not np.array_equal(before, expected)
    gif = run_dir / "episode.gif"
    assert result["render"] == str(gif)
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")

    from PIL import Image

    with Image.open(gif) as image:
        assert 2 <= image.n_frames <= 301

    code, out, err = run_cli(["eval", run_dir, "--episodes", 2, "--seed-index", 1, "--no-render"])
    assert code == 0, err
    assert "return" in out and "mean" in out
    code, _, err = run_cli(["eval", run_dir, "--seed-index", 2])
    assert code == 2 and "--seed-index" in err
