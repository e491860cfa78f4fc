"""``rljax play GAME OPPONENT`` and ``rljax arena A B``: two-player games in the terminal."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rljax.cli.common import CliError, HelpFormatter, fail, positive_int


def add_arena(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "arena",
        help="pit two players against each other",
        description=(
            "Play N games between two players (run directories of a game-playing algorithm or "
            "baselines: random, uct:SIMULATIONS, alphabeta:DEPTH), colours alternated, and print "
            "A's wins, draws and losses with a 95% confidence interval on its score."
        ),
        formatter_class=HelpFormatter,
        epilog="examples:\n  rljax arena runs/ConnectFour-v0-alphazero-... uct:1000 --games 200\n",
    )
    parser.add_argument("player_a", metavar="A")
    parser.add_argument("player_b", metavar="B")
    parser.add_argument(
        "--env",
        help="game id (default: the game of the run directory among A and B; needed when both "
        "are baselines)",
    )
    parser.add_argument("--games", type=positive_int, default=100, metavar="N")
    parser.add_argument(
        "--simulations", type=positive_int, default=64, metavar="N", help="agent search (>= 1)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=arena_command, prog_name="rljax arena")


def compiling(what: str, enabled: bool = True):
    """Prints ``compiling <what> ...`` and, on exit, how long it took (first calls compile)."""

    class Timer:
        def __enter__(self) -> Timer:
            self.start = time.perf_counter()
            if enabled:
                print(f"compiling {what} ...", flush=True)
            return self

        def __exit__(self, *exc: Any) -> None:
            if enabled and exc[0] is None:
                print(f"compiled in {time.perf_counter() - self.start:.1f} s", flush=True)

    return Timer()


def arena_command(args: argparse.Namespace) -> int:
    import jax

    from rljax.env import make
    from rljax.games import check_game, players
    from rljax.games.arena import match, score_outcomes

    try:
        if args.games < 2 or args.games % 2:
            raise CliError(f"--games={args.games} must be an even number >= 2 (colours alternate)")
        if args.env is None:
            args.env = game_of_players(args.player_a, args.player_b)
        check_game(args.env, "--env")
        label_a, act_a = players.parse(args.player_a, args.env, args.simulations)
        label_b, act_b = players.parse(args.player_b, args.env, args.simulations)
    except (CliError, ValueError, FileNotFoundError) as error:
        return fail(args.prog_name, error)
    env, _ = make(args.env)
    if not args.json:
        print(f"{label_a} vs {label_b} on {args.env}: compiling and playing {args.games} games")
    start = time.perf_counter()
    outcomes = match(env, act_a, act_b, jax.random.key(args.seed), args.games)["outcomes"]
    result = {"a": label_a, "b": label_b, "env": args.env, **score_outcomes(outcomes)}
    result["seconds"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(result))
    else:
        r = result
        print(
            f"{label_a} vs {label_b} on {args.env}, {args.games} games (colours alternated), "
            f"{r['seconds']:.1f} s with compilation:\n"
            f"  {label_a}: {r['wins']} wins, {r['draws']} draws, {r['losses']} losses"
            f"  score {r['score']:.3f}  95% CI [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        )
    return 0


def game_of_players(*specs: str) -> str:
    """The game the run directories among ``specs`` were trained on (``CliError`` if none is a
    run directory, or if they disagree)."""
    from pathlib import Path

    from rljax.games import game_ids, players

    games = {players.run_config(spec).env_id for spec in specs if Path(spec).is_dir()}
    if len(games) > 1:
        raise CliError(f"the run directories play different games ({', '.join(sorted(games))})")
    if not games:
        raise CliError(f"--env is needed when both players are baselines: one of {game_ids()}")
    return games.pop()


def add_play(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "play",
        help="play a game against an agent in the terminal",
        description="Play a two-player board game against a trained agent or a baseline.",
        formatter_class=HelpFormatter,
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
        "--first", dest="human_first", action="store_true", default=None,
        help="you move first (default)",
    )  # fmt: skip
    side.add_argument(
        "--second", dest="human_first", action="store_false", help="the agent moves first"
    )
    parser.add_argument("--simulations", type=positive_int, default=128, metavar="N")
    parser.add_argument("--seed", type=int, default=0, metavar="N")
    parser.add_argument("--no-color", action="store_true", help="plain text board")
    parser.set_defaults(handler=play_command, prog_name="rljax play")


def play_command(args: argparse.Namespace, input_fn=input, print_fn=print) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from rljax.env import make
    from rljax.games import check_game, players

    try:
        check_game(args.env, "GAME")
        label, act = players.parse(args.opponent, args.env, args.simulations)
    except (CliError, ValueError, FileNotFoundError) as error:
        return fail(args.prog_name, error)
    env, _ = make(args.env)
    human = 0 if args.human_first in (None, True) else 1
    state = env.init()
    batch = jax.tree.map(lambda x: jnp.asarray(x)[None], state)
    started = time.perf_counter()
    print_fn(f"compiling {label}'s move and the game rules ...")
    agent_act = jax.jit(act).lower(jax.random.key(0), batch).compile()
    step = jax.jit(lambda s, a: env.play(s, a)[0]).lower(state, jnp.int32(0)).compile()
    print_fn(f"compiled in {time.perf_counter() - started:.1f} s")
    key = jax.random.key(args.seed)
    color = not args.no_color
    marks = ("X", "O")
    print_fn(f"You play {marks[human]} against {label}. Enter a move number; q quits.")
    while not bool(state.terminated):
        print_fn("\n" + env.render_ansi(state, color=color))
        legal = np.flatnonzero(np.asarray(state.legal_action_mask))
        if int(state.current_player) == human:
            move = ask_move(env, legal, input_fn, print_fn)
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


def ask_move(env: Any, legal: Any, input_fn, print_fn) -> int | None:
    """Asks until a legal move (or ``None`` for q / end of input), saying why one is refused."""
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
