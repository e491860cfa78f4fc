"""``rljax train alphazero``, ``rljax arena`` and ``rljax play`` end to end, in temp dirs."""

import argparse
import json
import shutil

import jax
import numpy as np
import pytest

import rljax
from rljax import checkpoint, cli
from rljax.cli.games import play_command
from rljax.games import players
from rljax.games.arena import match
from rljax.metrics import read_jsonl
from rljax.run.restore import load_run
from rljax.train import alphazero as az

# The same settings as tests/test_alphazero.py's TINY, so the compiled iteration is shared through
# the persistent compilation cache (tests/conftest.py).
TINY_FLAGS = [
    "--env", "TicTacToe-v0",
    "--hidden-sizes", "16",
    "--selfplay-games", "16",
    "--num-simulations", "4",
    "--replay-size", "144",
    "--random-opening-plies", "2",
    "--batch-size", "16",
    "--train-steps", "2",
    "--gate-every", "2",
    "--gate-games", "4",
    "--gate-simulations", "2",
    "--num-iterations", "4",
    "--chunk-iterations", "2",
    "--checkpoint-every", "2",
    "--eval-every", "2",
    "--eval-games", "4",
    "--eval-opponents", "random",
    "--eval-simulations", "4",
    "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("az") / "run"
    assert cli.main(["train", "alphazero", *TINY_FLAGS, "--run-dir", str(run_dir)]) == 0
    return run_dir


def metric_rows(run_dir):
    """metrics.jsonl's rows without the wall-clock fields, which differ between runs."""
    clock = ("wall_time", "train_seconds")
    return [
        {k: v for k, v in row.items() if k not in clock}
        for row in read_jsonl(run_dir / "metrics.jsonl")
    ]


def test_train_writes_the_run_directory(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["algorithm"] == "alphazero"
    assert config["config"]["env_id"] == "TicTacToe-v0"
    rows = read_jsonl(tiny_run / "metrics.jsonl")
    train = [r for r in rows if r["kind"] == "train"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["update"] for r in train] == [1, 2, 3, 4]
    assert all(np.isfinite(r["policy_loss"]) for r in train)
    assert [r["update"] for r in evals] == [2, 4]
    assert all(r["wins"] + r["draws"] + r["losses"] == 4 for r in evals)
    assert all(0.0 <= r["ci_low"] <= r["score"] <= r["ci_high"] + 1e-9 <= 1.0 + 1e-9 for r in evals)
    assert (tiny_run / "scores.png").stat().st_size > 0
    assert checkpoint.updates(tiny_run) == [2, 4]


def test_resume_after_a_lost_checkpoint_ends_bitwise_the_same(tiny_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    shutil.rmtree(copy / "checkpoints" / "4")  # as if killed before the last checkpoint
    assert cli.main(["train", "alphazero", "--resume", str(copy), "--no-progress"]) == 0
    original, resumed = load_run(tiny_run)[1], load_run(copy)[1]
    as_data = checkpoint.keys_to_data  # the whole state, PRNG key included
    jax.tree.map(np.testing.assert_array_equal, as_data(original), as_data(resumed))
    # Every row, train and eval, with its figures (losses, scores, games): none duplicated.
    assert metric_rows(copy) == metric_rows(tiny_run)
    assert [r["update"] for r in metric_rows(copy) if r["kind"] == "train"] == [1, 2, 3, 4]


def test_a_run_from_the_old_game_loop_resumes(tiny_run, tmp_path):
    """rljax 0.1's AlphaZero loop wrote its own config.json settings and checkpoints
    {"state", "iteration", "train_seconds"}: such a run continues, bitwise."""
    old = tmp_path / "old"
    old.mkdir()
    config = json.loads((tiny_run / "config.json").read_text())["config"]
    settings = {
        "algorithm": "alphazero", "config": config, "seed": 0, "minutes": None,
        "chunk_iterations": 2, "checkpoint_every": 2, "eval_every": 2, "eval_games": 4,
        "eval_opponents": ["random"], "eval_simulations": 4,
    }  # fmt: skip
    (old / "config.json").write_text(json.dumps(settings))
    saved = checkpoint.restore(tiny_run, 2)
    layout = {"state": saved["state"], "iteration": np.int32(2)}
    checkpoint.save(old, 2, {**layout, "train_seconds": saved["train_seconds"]})
    assert cli.main(["train", "alphazero", "--resume", str(old), "--no-progress"]) == 0
    as_data = checkpoint.keys_to_data
    original, resumed = load_run(tiny_run)[1], load_run(old)[1]
    jax.tree.map(np.testing.assert_array_equal, as_data(original), as_data(resumed))
    resumed_rows = [r for r in metric_rows(old) if r["update"] > 2]
    assert resumed_rows == [r for r in metric_rows(tiny_run) if r["update"] > 2]


def test_restore_gives_the_state_to_library_users(tiny_run):
    spec, state, update = load_run(tiny_run)
    assert update == 4 and int(state.iteration) == 4
    assert isinstance(state, az.AZState) and spec.config == players.run_config(tiny_run)
    saved = checkpoint.restore(tiny_run)  # without a target: plain arrays, for any tool
    assert int(saved["update"]) == 4


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--gate-games", "3"], "Config.gate_games=3"),
        (["--eval-opponents", "minimax"], "unknown baseline 'minimax'"),
        (["--env", "CartPole-v1"], "two-player board game"),
        (["--minutes", "0"], "minutes=0.0 is invalid"),
    ],
)
def test_bad_flags_fail_before_compiling(flags, message, tmp_path, capsys):
    code = cli.main(["train", "alphazero", *TINY_FLAGS, *flags, "--run-dir", str(tmp_path / "r")])
    assert code == 2
    assert message in capsys.readouterr().err


def test_arena_between_a_run_and_a_baseline_prints_json(tiny_run, capsys):
    code = cli.main(
        [
            "arena", str(tiny_run), "random", "--env", "TicTacToe-v0",
            "--games", "4", "--simulations", "4", "--json",
        ]
    )  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["a"], result["b"], result["games"]) == ("run", "random", 4)
    # The same games through the library: the run's newest checkpoint against random play.
    env, _ = rljax.make("TicTacToe-v0")
    agent, baseline = players.load(tiny_run, 4), players.make("random", "TicTacToe-v0")
    expected = match(env, agent, baseline, jax.random.key(0), 4)
    assert [result[k] for k in ("wins", "draws", "losses")] == [
        expected[k] for k in ("wins", "draws", "losses")
    ]


def test_arena_takes_the_game_from_the_run_directory(tiny_run, capsys):
    code = cli.main(["arena", "random", str(tiny_run), "--games", "2", "--simulations", "2"])
    assert code == 0
    assert "on TicTacToe-v0" in capsys.readouterr().out


def test_arena_rejects_an_odd_number_of_games(capsys):
    assert cli.main(["arena", "random", "random", "--games", "3"]) == 2
    assert "--games=3" in capsys.readouterr().err


def _play(script, opponent="random", second=False, env="TicTacToe-v0"):
    answers = iter(script)
    printed = []
    args = argparse.Namespace(
        env=env,
        opponent=opponent,
        human_first=not second,
        simulations=4,
        seed=0,
        no_color=True,
        prog_name="rljax play",
    )
    code = play_command(args, input_fn=lambda prompt: next(answers), print_fn=printed.append)
    return code, "\n".join(printed)


def test_play_re_asks_bad_moves_with_the_reason_and_finishes_the_game():
    # Bad inputs first, then every cell in order: whatever random does, some move is legal.
    script = ["x", "12", "0", "0", *[str(a) for a in range(1, 9)] * 2]
    code, text = _play(script)
    assert code == 0
    assert text.index("compiled in") < text.index("You play")  # no silent wait before the board
    assert "'x' is not a number" in text
    assert "12 is off the board" in text
    assert "0 is taken" in text
    assert any(end in text for end in ("You win!", "You lose.", "Draw."))


def test_play_quits_cleanly_on_q_and_end_of_input():
    code, text = _play(["q"])
    assert code == 0 and text.endswith("bye")

    def eof(prompt):
        raise EOFError

    args = argparse.Namespace(
        env="ConnectFour-v0", opponent="random", human_first=True, simulations=4, seed=0,
        no_color=True, prog_name="rljax play",
    )  # fmt: skip
    assert play_command(args, input_fn=eof, print_fn=lambda *a: None) == 0


def test_play_rejects_an_unknown_game_or_opponent(capsys):
    code, _ = _play([], env="Chess-v0")
    assert code == 2
    code, _ = _play([], opponent="nobody")
    assert code == 2
    assert "unknown player 'nobody'" in capsys.readouterr().err
