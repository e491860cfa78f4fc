"""Two-player commands: ``rljax train alphazero``, ``rljax play`` and ``rljax arena``.

``rljax train alphazero`` runs AlphaZero self-play (:mod:`rljax.train.alphazero`) in compiled
chunks of ``--chunk-iterations`` iterations, for ``--num-iterations`` iterations or, with
``--minutes M``, until M minutes of *training* (self-play, learning, gates) have passed; the
periodic evaluation against the baselines is timed separately and reported on its own. Between
chunks the host draws the progress bar, appends rows to ``metrics.jsonl``, evaluates and writes
Orbax checkpoints. ``--resume RUN_DIR`` continues from the newest complete checkpoint and ends
bitwise where the uninterrupted run would have (for a fixed number of iterations).

Run directory::

    config.json      algorithm "alphazero", the Config and the run settings (written first)
    metrics.jsonl    one row per iteration ("kind": "train") and per evaluation ("kind": "eval")
    checkpoints/     {"state": AZState, "iteration": int, "train_seconds": float}
    scores.png       score against each baseline over training time
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path
from typing import Any

from rljax.cli import (
    CONFIG_FILE,
    CliError,
    _add_config_flags,
    _fail,
    _HelpFormatter,
    _parse_int,
    _write_json_atomic,
)
from rljax.games import check_game
from rljax.games.arena import score_outcomes

METRICS_FILE = "metrics.jsonl"
SCORES_FILE = "scores.png"

_AZ_HELP = {
    "env_id": "two-player game (also --env)",
    "network": "policy-value network: mlp (CPU) or resnet (GPU/TPU)",
    "hidden_sizes": "MLP hidden layer sizes",
    "channels": "resnet channels",
    "num_blocks": "resnet residual blocks",
    "selfplay_games": "games played in parallel per iteration",
    "selfplay_groups": (
        "self-play games split into this many groups, each with its own random stream; on a "
        "multi-core CPU the groups play side by side, one per core"
    ),
    "num_simulations": "search simulations per self-play move",
    "max_num_considered_actions": "Gumbel MuZero root actions considered",
    "gumbel_scale": "root Gumbel noise in self-play",
    "replay_size": "positions kept in the replay buffer",
    "batch_size": "training minibatch size",
    "train_steps": "gradient steps per iteration",
    "lr": "AdamW learning rate (the peak, with --lr-decay-iterations)",
    "lr_decay_iterations": "iterations of cosine learning-rate decay (0: constant)",
    "lr_final_fraction": "learning rate at the end of the decay, as a fraction of --lr",
    "weight_decay": "AdamW weight decay",
    "max_grad_norm": "global gradient-norm clip",
    "mirror": "reflect sampled positions left-right (symmetry augmentation)",
    "num_iterations": "iterations to run (without --minutes)",
    "gate_every": "iterations between arena gates",
    "gate_games": "games per gate (half with each colour)",
    "gate_simulations": "search simulations per move in the gate",
    "gate_threshold": "score the candidate needs to replace the best network",
}


# --- rljax train alphazero ---------------------------------------------------------------------


def add_train_alphazero(algorithms: argparse._SubParsersAction) -> None:
    from rljax.train import alphazero

    parser = algorithms.add_parser(
        "alphazero",
        help="AlphaZero self-play with Gumbel MuZero search",
        description=(
            "Train a policy-value network by self-play with mctx's Gumbel MuZero search, with "
            "AlphaGo Zero's arena gate and periodic evaluation against random, alpha-beta and "
            "UCT players."
        ),
        formatter_class=_HelpFormatter,
        epilog=(
            "examples:\n"
            "  rljax train alphazero --env ConnectFour-v0 --minutes 20\n"
            "  rljax train alphazero --env TicTacToe-v0 --minutes 2 --hidden-sizes 128 128\n"
            "  rljax train alphazero --resume runs/ConnectFour-v0-alphazero-20261122-101500\n"
        ),
    )
    parser.add_argument("--env", dest="env_id", default=argparse.SUPPRESS, help="alias of --env-id")
    parser.add_argument("--minutes", type=float, metavar="M", help="training time budget")
    parser.add_argument("--seed", type=_parse_int, default=0, metavar="N")
    parser.add_argument(
        "--run-dir", type=Path, metavar="DIR", help="default runs/<env>-alphazero-<time>"
    )
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run")
    parser.add_argument("--chunk-iterations", type=_parse_int, default=5, metavar="N")
    parser.add_argument(
        "--checkpoint-every", type=_parse_int, metavar="N", help="iterations (default: 4 chunks)"
    )
    parser.add_argument(
        "--eval-every", type=_parse_int, metavar="N", help="iterations between evaluations"
    )
    parser.add_argument("--eval-games", type=_parse_int, default=32, metavar="N")
    parser.add_argument(
        "--eval-opponents",
        nargs="*",
        default=["random", "alphabeta:2", "uct:200"],
        metavar="PLAYER",
        help="baselines to score against (random, alphabeta:DEPTH, uct:SIMULATIONS)",
    )
    parser.add_argument("--eval-simulations", type=_parse_int, default=64, metavar="N")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_flags(
        parser,
        alphazero.Config,
        "AlphaZero config",
        "Every alphazero.Config field; defaults are sized for a 2-core CPU and Connect Four.",
        _AZ_HELP,
    )
    parser.set_defaults(handler=train_alphazero)


def _new_run_dir(env_id: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{env_id}-alphazero-{stamp}"


class _Run:
    """A run's settings (what ``config.json`` records besides the Config)."""

    SETTINGS = (
        "seed",
        "minutes",
        "chunk_iterations",
        "checkpoint_every",
        "eval_every",
        "eval_games",
        "eval_opponents",
        "eval_simulations",
    )

    def __init__(self, config: Any, **settings: Any):
        self.config = config
        for name in self.SETTINGS:
            setattr(self, name, settings[name])

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm": "alphazero",
            "config": self.config.to_dict(),
            **{name: getattr(self, name) for name in self.SETTINGS},
        }

    @classmethod
    def load(cls, run_dir: Path) -> _Run:
        from rljax.train import alphazero

        path = run_dir / CONFIG_FILE
        if not path.exists():
            raise CliError(f"{path} not found: not an rljax run directory")
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("algorithm") != "alphazero":
            raise CliError(f"{path}: a {data.get('algorithm', 'ppo')!r} run, not alphazero")
        try:
            return cls(
                alphazero.Config.from_dict(data["config"]),
                **{name: data[name] for name in cls.SETTINGS},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CliError(f"{path} is invalid: {error}") from None


def _run_from_args(args: argparse.Namespace) -> tuple[_Run, Path]:
    from rljax.train import alphazero

    fields = {f for f in alphazero.Config.__dataclass_fields__ if f in vars(args)}
    try:
        config = alphazero.Config(**{f: getattr(args, f) for f in fields})
    except ValueError as error:
        raise CliError(str(error)) from None
    for name in ("chunk_iterations", "eval_games", "eval_simulations"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= 1")
    if args.minutes is not None and not args.minutes > 0:
        raise CliError(f"--minutes={args.minutes} must be > 0")
    chunk = args.chunk_iterations
    run = _Run(
        config,
        seed=args.seed,
        minutes=args.minutes,
        chunk_iterations=chunk,
        checkpoint_every=args.checkpoint_every or 4 * chunk,
        eval_every=args.eval_every or 4 * chunk,
        eval_games=args.eval_games,
        eval_opponents=list(args.eval_opponents),
        eval_simulations=args.eval_simulations,
    )
    for name in ("checkpoint_every", "eval_every"):
        if getattr(run, name) < 1:
            raise CliError(f"--{name.replace('_', '-')}={getattr(run, name)} must be >= 1")
    _check_opponents(config.env_id, run.eval_opponents)
    run_dir = args.run_dir or _new_run_dir(config.env_id)
    if (run_dir / CONFIG_FILE).exists():
        raise CliError(f"{run_dir} already holds a run; use --resume {run_dir} to continue it")
    return run, run_dir


def _check_opponents(env_id: str, opponents: list[str]) -> None:
    from rljax.games import players

    for spec in opponents:
        name = spec.partition(":")[0]
        if name not in players.BASELINES:
            raise CliError(
                f"--eval-opponents: unknown baseline {spec!r}; allowed: random, "
                "alphabeta:DEPTH, uct:SIMULATIONS"
            )
        try:
            players.parse(spec, env_id)
        except ValueError as error:
            raise CliError(f"--eval-opponents: {error}") from None


class Evaluator:
    """Scores the best network against baselines; one compiled program per opponent."""

    def __init__(self, run: _Run):
        import jax

        from rljax.games import players
        from rljax.games.arena import play_colours
        from rljax.train import alphazero

        self.run = run
        env, _, model = alphazero.setup(run.config)
        half = max(1, run.eval_games // 2)
        self.programs = {}
        for spec in run.eval_opponents:
            _, opponent = players.parse(spec, run.config.env_id)

            def games(params, key, agent_first, opponent=opponent):
                agent = alphazero.make_search_player(model, params, run.eval_simulations)
                return play_colours(env, agent, opponent, key, agent_first)

            self.programs[spec] = jax.jit(games)
        self.num_games = 2 * half

    def evaluate(self, params: Any, iteration: int) -> dict[str, dict[str, Any]]:
        import jax

        from rljax.games.arena import play_both_colours

        results = {}
        for i, (spec, program) in enumerate(self.programs.items()):
            key = jax.random.fold_in(jax.random.key(self.run.seed + 7919), iteration * 64 + i)
            runner = functools.partial(program, params)
            results[spec] = score_outcomes(play_both_colours(runner, key, self.num_games))
        return results


def train_alphazero(args: argparse.Namespace) -> int:
    try:
        if args.resume is not None:
            run_dir = args.resume
            run = _Run.load(run_dir)
        else:
            run, run_dir = _run_from_args(args)
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_json_atomic(run_dir / CONFIG_FILE, run.to_json())
        return _train(run, run_dir, resume=args.resume is not None, progress=not args.no_progress)
    except CliError as error:
        return _fail("rljax train alphazero", str(error))


def _train(run: _Run, run_dir: Path, resume: bool, progress: bool) -> int:
    import jax
    import numpy as np

    from rljax import checkpoint, metrics, multicore
    from rljax.train import alphazero

    config = run.config
    init = jax.jit(alphazero.make_init(config))
    chunks: dict[int, Any] = {}
    # On a multi-core CPU the iteration runs as separate programs with the self-play groups and
    # gate halves side by side (bitwise the same as the one-program chunk, so resuming on another
    # machine is exact).
    side_by_side = multicore.default_workers() > 1

    def chunk_program(n: int):
        if n not in chunks:
            if side_by_side:
                chunks[n] = alphazero.ParallelIterations(config, n)
            else:
                chunks[n] = jax.jit(alphazero.make_iterations(config, n))
        return chunks[n]

    checkpointer = checkpoint.Checkpointer(run_dir, max_to_keep=3)
    metrics_path = run_dir / METRICS_FILE
    iteration, train_seconds, eval_seconds = 0, 0.0, 0.0
    compile_start = time.perf_counter()
    if resume and checkpoint.latest_update(run_dir) is not None:
        checkpoint.clean_incomplete(run_dir)
        saved = checkpointer.restore(target=alphazero.checkpoint_target(config))
        state = saved["state"]
        iteration, train_seconds = int(saved["iteration"]), float(saved["train_seconds"])
        metrics.truncate_jsonl(metrics_path, iteration)
        print(f"resuming {run_dir} at iteration {iteration} ({train_seconds / 60:.1f} min trained)")
    else:
        if resume:
            print(f"no checkpoint in {run_dir} yet: starting from iteration 0")
        metrics_path.unlink(missing_ok=True)
        state = init(jax.random.key(run.seed))
    program = chunk_program(run.chunk_iterations)
    if side_by_side:
        program.compile(state)
    else:
        chunks[run.chunk_iterations] = program.lower(state).compile()
    evaluator = Evaluator(run) if run.eval_opponents else None
    side = f"; {config.selfplay_groups} self-play groups side by side" if side_by_side else ""
    print(f"compiled in {time.perf_counter() - compile_start:.1f} s{side}; run directory {run_dir}")

    budget = None if run.minutes is None else run.minutes * 60.0
    total = config.num_iterations
    writer = metrics.JsonlWriter(metrics_path)
    bar = _progress(total if budget is None else None, iteration, progress)
    latest: dict[str, float] = {}
    status = 0
    try:
        while True:
            if budget is None and iteration >= total:
                break
            if budget is not None and train_seconds >= budget:
                break
            n = (
                run.chunk_iterations
                if budget is not None
                else min(run.chunk_iterations, total - iteration)
            )
            start = time.perf_counter()
            state, rows = chunk_program(n)(state)
            rows = jax.tree.map(np.asarray, rows)
            elapsed = time.perf_counter() - start
            train_seconds += elapsed
            if not (
                np.isfinite(rows["policy_loss"]).all() and np.isfinite(rows["value_loss"]).all()
            ):
                bad = (
                    iteration
                    + 1
                    + int(np.argmax(~np.isfinite(rows["policy_loss"] + rows["value_loss"])))
                )
                print(
                    f"\nloss is not finite at iteration {bad}: stopping; last good checkpoint kept"
                )
                status = 1
                break
            writer.write(_train_rows(rows, iteration, train_seconds, elapsed, config))
            iteration += n
            latest["games/s"] = n * config.selfplay_games / elapsed
            gates = rows["gate_score"][np.isfinite(rows["gate_score"])]
            if gates.size:
                latest["gate"] = float(gates[-1])
            if evaluator is not None and (iteration // run.eval_every) > (
                (iteration - n) // run.eval_every
            ):
                eval_seconds += _evaluate(
                    evaluator, state, iteration, train_seconds, writer, latest
                )
                _plot_scores(run_dir)
            if (iteration // run.checkpoint_every) > ((iteration - n) // run.checkpoint_every):
                _save(checkpointer, state, iteration, train_seconds)
            bar.update(n, train_seconds, latest)
    except KeyboardInterrupt:
        print("\ninterrupted: resume with --resume", run_dir)
        status = 130
    finally:
        bar.close()
    if status == 0:
        _save(checkpointer, state, iteration, train_seconds)
        if evaluator is not None:
            if not any(
                row.get("kind") == "eval" and row["iteration"] == iteration
                for row in metrics.read_jsonl(metrics_path)
            ):
                eval_seconds += _evaluate(
                    evaluator, state, iteration, train_seconds, writer, latest
                )
            _plot_scores(run_dir)
        _summary(run_dir, iteration, train_seconds, eval_seconds)
    checkpointer.close()
    return status


def _save(checkpointer: Any, state: Any, iteration: int, train_seconds: float) -> None:
    import numpy as np

    tree = {
        "state": state,
        "iteration": np.int32(iteration),
        "train_seconds": np.float32(train_seconds),
    }
    checkpointer.save(iteration, tree)


def _train_rows(rows: dict, start: int, train_seconds: float, elapsed: float, config: Any):
    import numpy as np

    from rljax.metrics import json_value

    n = len(rows["policy_loss"])
    out = []
    for i in range(n):
        row = {"kind": "train", "iteration": start + i + 1, "update": start + i + 1}
        row["train_seconds"] = train_seconds - elapsed * (n - 1 - i) / n
        row["games"] = (start + i + 1) * config.selfplay_games
        for name, values in rows.items():
            value = values[i]
            row[name] = (
                None if np.ndim(value) == 0 and not np.isfinite(value) else json_value(value)
            )
        out.append(row)
    return out


def _evaluate(
    evaluator: Evaluator, state: Any, iteration: int, train_seconds: float, writer, latest
) -> float:
    start = time.perf_counter()
    results = evaluator.evaluate(state.best_params, iteration)
    rows = []
    for spec, result in results.items():
        rows.append(
            {
                "kind": "eval",
                "iteration": iteration,
                "update": iteration,
                "train_seconds": train_seconds,
                "opponent": spec,
                **result,
            }
        )
        latest[spec] = result["score"]
    writer.write(rows)
    return time.perf_counter() - start


class _progress:
    def __init__(self, total: int | None, initial: int, enabled: bool):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total,
            initial=initial,
            unit="it",
            disable=not enabled,
            dynamic_ncols=True,
            desc="alphazero",
        )

    def update(self, n: int, train_seconds: float, latest: dict[str, float]) -> None:
        parts = [f"{train_seconds / 60:.1f}min"]
        for name, value in latest.items():
            parts.append(f"{name}={value:.3g}" if name != "games/s" else f"{value:.0f} games/s")
        self._bar.set_postfix_str(" ".join(parts), refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def _plot_scores(run_dir: Path) -> None:
    from rljax.metrics import read_jsonl
    from rljax.plotting import plot_scores

    rows = [r for r in read_jsonl(run_dir / METRICS_FILE) if r.get("kind") == "eval"]
    if rows:
        plot_scores(rows, run_dir / SCORES_FILE)


def _summary(run_dir: Path, iteration: int, train_seconds: float, eval_seconds: float) -> None:
    from rljax.metrics import read_jsonl

    rows = [r for r in read_jsonl(run_dir / METRICS_FILE) if r.get("kind") == "eval"]
    last = {r["opponent"]: r for r in rows if r["iteration"] == iteration}
    print(
        f"\n{iteration} iterations, {train_seconds / 60:.1f} min training "
        f"(+ {eval_seconds / 60:.1f} min evaluating); run directory {run_dir}"
    )
    if last:
        print(f"{'opponent':<16}{'score':>8}{'W':>6}{'D':>6}{'L':>6}   95% CI")
        for spec, r in last.items():
            print(
                f"{spec:<16}{r['score']:>8.3f}{r['wins']:>6}{r['draws']:>6}{r['losses']:>6}"
                f"   [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
            )


# --- rljax arena -------------------------------------------------------------------------------


def add_arena(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "arena",
        help="pit two players against each other",
        description=(
            "Play N games between two players (AlphaZero run directories or baselines: random, "
            "uct:SIMULATIONS, alphabeta:DEPTH), colours alternated, and print A's wins, draws and "
            "losses with a 95% confidence interval on its score."
        ),
        formatter_class=_HelpFormatter,
        epilog="examples:\n  rljax arena runs/ConnectFour-v0-alphazero-... uct:1000 --games 200\n",
    )
    parser.add_argument("player_a", metavar="A")
    parser.add_argument("player_b", metavar="B")
    parser.add_argument("--env", default="ConnectFour-v0", help="game id (default ConnectFour-v0)")
    parser.add_argument("--games", type=_parse_int, default=100, metavar="N")
    parser.add_argument(
        "--simulations", type=_parse_int, default=64, metavar="N", help="agent search"
    )
    parser.add_argument("--seed", type=_parse_int, default=0, metavar="N")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=arena)


def arena(args: argparse.Namespace) -> int:
    import jax

    from rljax.env import make
    from rljax.games import players
    from rljax.games.arena import match

    try:
        if args.games < 2 or args.games % 2:
            raise CliError(f"--games={args.games} must be an even number >= 2 (colours alternate)")
        check_game(args.env, "--env")
        label_a, act_a = players.parse(args.player_a, args.env, args.simulations)
        label_b, act_b = players.parse(args.player_b, args.env, args.simulations)
    except (CliError, ValueError, FileNotFoundError) as error:
        return _fail("rljax arena", str(error))
    env, _ = make(args.env)
    start = time.perf_counter()
    outcomes = match(env, act_a, act_b, jax.random.key(args.seed), args.games)["outcomes"]
    result = {"a": label_a, "b": label_b, "env": args.env, **score_outcomes(outcomes)}
    result["seconds"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(result))
    else:
        r = result
        print(
            f"{label_a} vs {label_b} on {args.env}, {args.games} games (colours alternated):\n"
            f"  {label_a}: {r['wins']} wins, {r['draws']} draws, {r['losses']} losses"
            f"  score {r['score']:.3f}  95% CI [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        )
    return 0


# --- rljax play --------------------------------------------------------------------------------


def add_play(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "play",
        help="play a game against an agent in the terminal",
        description="Play TicTacToe-v0 or ConnectFour-v0 against a trained agent or a baseline.",
        formatter_class=_HelpFormatter,
        epilog=(
            "examples:\n"
            "  rljax play ConnectFour-v0 runs/ConnectFour-v0-alphazero-20261122-101500\n"
            "  rljax play TicTacToe-v0 alphabeta:9 --second\n"
        ),
    )
    parser.add_argument("env", metavar="GAME")
    parser.add_argument("opponent", metavar="OPPONENT", help="run directory or baseline")
    side = parser.add_mutually_exclusive_group()
    side.add_argument(
        "--first",
        dest="human_first",
        action="store_true",
        default=None,
        help="you move first (default)",
    )
    side.add_argument(
        "--second", dest="human_first", action="store_false", help="the agent moves first"
    )
    parser.add_argument("--simulations", type=_parse_int, default=128, metavar="N")
    parser.add_argument("--seed", type=_parse_int, default=0, metavar="N")
    parser.add_argument("--no-color", action="store_true", help="plain text board")
    parser.set_defaults(handler=play)


def play(args: argparse.Namespace, input_fn=input, print_fn=print) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from rljax.env import make
    from rljax.games import players

    try:
        check_game(args.env, "GAME")
        label, act = players.parse(args.opponent, args.env, args.simulations)
    except (CliError, ValueError, FileNotFoundError) as error:
        return _fail("rljax play", str(error))
    env, _ = make(args.env)
    human = 0 if args.human_first in (None, True) else 1
    agent_act = jax.jit(act)
    step = jax.jit(lambda s, a: env.play(s, a)[0])
    state = env.init()
    key = jax.random.key(args.seed)
    color = not args.no_color
    marks = ("X", "O")
    print_fn(f"You play {marks[human]} against {label}. Enter a move number; q quits.")
    while not bool(state.terminated):
        print_fn("\n" + env.render_ansi(state, color=color))
        legal = np.flatnonzero(np.asarray(state.legal_action_mask))
        if int(state.current_player) == human:
            move = _ask_move(env, legal, input_fn, print_fn)
            if move is None:
                print_fn("bye")
                return 0
        else:
            key, sub = jax.random.split(key)
            batch = jax.tree.map(lambda x: jnp.asarray(x)[None], state)
            move = int(agent_act(sub, batch)[0])
            print_fn(f"{label} plays {move}")
        state = step(state, jnp.int32(move))
    print_fn("\n" + env.render_ansi(state, color=color))
    reward = float(state.rewards[human])
    print_fn("You win!" if reward > 0 else "You lose." if reward < 0 else "Draw.")
    return 0


def _ask_move(env: Any, legal: Any, input_fn, print_fn) -> int | None:
    allowed = ", ".join(str(a) for a in legal)
    while True:
        try:
            text = input_fn(f"your move ({allowed}): ").strip()
        except (EOFError, KeyboardInterrupt):
            return None
        if text.lower() in ("q", "quit", "exit"):
            return None
        try:
            move = int(text)
        except ValueError:
            print_fn(f"{text!r} is not a number: enter one of {allowed}")
            continue
        if not 0 <= move < env.num_actions:
            print_fn(f"{move} is off the board: enter one of {allowed}")
        elif move not in legal:
            print_fn(f"{move} is taken: enter one of {allowed}")
        else:
            return move
