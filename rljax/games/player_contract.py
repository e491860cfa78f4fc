"""The contract every baseline player keeps: the ``Player`` signature and the games it accepts.

A player is ``act(key, states) -> actions``: a key, a batch of
:class:`~rljax.envs.board_game.BoardGameState` ``[B]`` (``stones [B, 2, rows]``...), legal int32
moves ``[B]``. The baselines (:mod:`rljax.games.baselines`) take only k-in-a-row
:class:`~rljax.envs.board_game.BoardGame` environments, whose bitboards their kernels read.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from rljax.envs.board_game import BoardGame, BoardGameState

Player = Callable[[jax.Array, BoardGameState], jax.Array]
"""``act(key, states) -> actions``: a key, a batch of game states ``[B]``, int32 moves ``[B]``."""


def check_env(env: BoardGame) -> None:
    """Raises ``TypeError`` unless ``env`` is a k-in-a-row :class:`BoardGame`."""
    if not isinstance(env, BoardGame):
        raise TypeError(f"env must be a k-in-a-row BoardGame (TicTacToe, ConnectFour), got {env!r}")
