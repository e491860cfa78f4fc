"""Two-player board games: search glue, baselines, players, arena and perfect-play checks.

- :mod:`rljax.games.search`: the game as mctx's model (``GameModel``).
- :mod:`rljax.games.baselines`: random, UCT and alpha-beta players by name (``make_player``),
  built from :mod:`~rljax.games.lean_board` (packed bitboards, playouts, the heuristic),
  :mod:`~rljax.games.uct`, :mod:`~rljax.games.minimax` and :mod:`~rljax.games.tictactoe_solver`
  (the solved game); :mod:`~rljax.games.player_contract` is the ``Player`` type.
- :mod:`rljax.games.players`: players by name or run directory, one ``act(key, states)`` signature.
- :mod:`rljax.games.arena`: batched matches, Wilson intervals, ``score_outcomes``.
- :mod:`rljax.games.perfect_play`: an exhaustive never-loses check for small games.

Which environments are games comes from the registry, not from a list here: :func:`game_ids` are
the registered environments built on :class:`rljax.envs.board_game.BoardGame` (the bitboard
contract every tool in this package relies on: ``init``, ``play``, ``observe``, ``rows``,
``cols``, ``k``, ``num_actions``), and :func:`check_game` rejects any other id with a message
that lists them.
"""

from __future__ import annotations


def is_game(env_id: str) -> bool:
    """Whether the registered environment ``env_id`` is a two-player board game.

    A factory that is a class is tested without building it (nothing is instantiated); any other
    factory is called through ``make`` with its defaults and the environment tested.
    ``ValueError`` for an unknown id.
    """
    from rljax.env import factory, make
    from rljax.envs.board_game import BoardGame

    build = factory(env_id)
    if isinstance(build, type):
        return issubclass(build, BoardGame)
    env, _ = make(env_id)
    return isinstance(env, BoardGame)


def game_ids() -> list[str]:
    """The registered two-player board games, sorted (``["ConnectFour-v0", "TicTacToe-v0"]``)."""
    from rljax.env import registered_ids

    return [env_id for env_id in registered_ids() if is_game(env_id)]


def check_game(env_id: str, name: str = "env_id") -> None:
    """Raises ``ValueError`` unless ``env_id`` is a registered two-player board game.

    The message names ``name`` (the field or flag that held the id) and lists the games:
    ``"--env='CartPole-v1' is invalid: must be a two-player board game: one of ConnectFour-v0,
    TicTacToe-v0"``.
    """
    games = game_ids()
    if env_id not in games:
        raise ValueError(
            f"{name}={env_id!r} is invalid: must be a two-player board game: "
            f"one of {', '.join(games)}"
        )
