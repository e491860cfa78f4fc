"""Players for two-player games: trained agents and the classic baselines, one call signature.

Every player is ``act(key, states) -> actions``: a batch of game states (leading axis ``[B]``)
in, one legal move per game (int32 ``[B]``) out, pure and jittable. So an arena, a test or a
person at the terminal can pit any two of them::

    agent = rljax.games.players.load("runs/ConnectFour-v0-alphazero-...", num_simulations=64)
    uct = rljax.games.players.make("uct", "ConnectFour-v0", num_simulations=1000)
    rljax.games.arena.match(env, agent, uct, key, num_games=200)

Baselines (``make``): ``"random"`` (uniform over legal moves), ``"uct"`` (Monte Carlo tree search
with random playouts; ``num_simulations``), ``"alphabeta"`` (depth-limited minimax with
alpha-beta pruning and a window-count heuristic; ``depth``). :func:`parse` reads the short forms
the command line uses: ``random``, ``uct:1000``, ``alphabeta:4`` or a run directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

Player = Callable[[jax.Array, Any], jax.Array]

BASELINES = ("random", "uct", "alphabeta")
_DEFAULT_ARGUMENT = {"uct": "num_simulations", "alphabeta": "depth"}


def make(name: str, env_id: str, **kwargs: Any) -> Player:
    """A baseline player of game ``env_id`` by name: ``make("uct", "ConnectFour-v0",
    num_simulations=1000)``, ``make("random", "TicTacToe-v0")``."""
    from rljax.env import make as make_env
    from rljax.games import baselines

    if name not in BASELINES:
        raise ValueError(f"unknown player {name!r}: allowed {', '.join(BASELINES)}")
    env, _ = make_env(env_id)
    return baselines.make_player(name, env, **kwargs)


def run_config(run_dir: str | Path) -> Any:
    """The ``Config`` recorded in ``RUN_DIR/config.json`` of a game-playing run."""
    from rljax.run.spec import RunSpec

    spec = RunSpec.load(Path(run_dir))
    if spec.algorithm_spec.make_player is None:
        raise ValueError(f"{run_dir} is a {spec.algorithm} run, which plays no board game")
    return spec.config


def load(run_dir: str | Path, num_simulations: int = 64, gumbel_scale: float = 0.0) -> Player:
    """The trained agent of a game-playing run directory (its newest intact checkpoint).

    ``gumbel_scale=0`` (default) plays deterministically, the usual choice in evaluation.
    """
    from rljax.run.restore import load_run

    run_config(run_dir)  # a clear error for a run that plays no game
    spec, state, _ = load_run(run_dir)
    return spec.algorithm_spec.make_player(spec.config, state, num_simulations, gumbel_scale)


def parse(spec: str, env_id: str, num_simulations: int = 64) -> tuple[str, Player]:
    """A player from a command-line word: ``random``, ``uct:1000``, ``alphabeta:4`` or a run dir.

    Returns ``(label, act)``. Agents search with ``num_simulations``.
    """
    name, _, argument = spec.partition(":")
    if name in BASELINES:
        kwargs: dict[str, Any] = {}
        if argument:
            if name not in _DEFAULT_ARGUMENT:
                raise ValueError(f"player {spec!r}: {name} takes no ':' setting")
            try:
                kwargs[_DEFAULT_ARGUMENT[name]] = int(argument)
            except ValueError:
                raise ValueError(
                    f"player {spec!r}: {argument!r} is not an integer ({_DEFAULT_ARGUMENT[name]})"
                ) from None
        return spec, make(name, env_id, **kwargs)
    path = Path(spec)
    if path.is_dir():
        config = run_config(path)
        if config.env_id != env_id:
            raise ValueError(f"{spec} was trained on {config.env_id}, not {env_id}")
        return path.name, load(path, num_simulations)
    raise ValueError(
        f"unknown player {spec!r}: use random, uct[:SIMULATIONS], alphabeta[:DEPTH] "
        "or an AlphaZero run directory"
    )
