"""Tic-Tac-Toe solved: exact values of all 3**9 positions and a perfect player.

:func:`solve_tictactoe` solves the game once in NumPy by exhaustive minimax;
:func:`tictactoe_perfect_player` looks its move scores up in JAX, batched over games.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from rljax.envs.board_game import BoardGame, BoardGameState
from rljax.games.player_contract import Player


def is_tictactoe(env: BoardGame) -> bool:
    """Whether ``env`` is Tic-Tac-Toe (3x3, three in a row, a move names a cell)."""
    return (env.rows, env.cols, env.k, env.num_actions) == (3, 3, 3, 9)


_TTT_LINES = [
    (0, 1, 2),
    (3, 4, 5),
    (6, 7, 8),
    (0, 3, 6),
    (1, 4, 7),
    (2, 5, 8),
    (0, 4, 8),
    (2, 4, 6),
]
_POW3 = 3 ** np.arange(9)


def tictactoe_key(board: np.ndarray) -> np.ndarray:
    """Position index in ``[0, 3**9)`` of boards ``[..., 3, 3]`` or ``[..., 9]`` (NumPy).

    Cells are read row-major with ``+1`` = player 0's stone (X), ``-1`` = player 1's (O), ``0``
    empty (the layout of ``env.board(state)``); the index is ``sum_i digit_i * 3**i`` with digit
    1 for X and 2 for O.
    """
    cells = np.asarray(board)
    if cells.shape[-2:] == (3, 3):
        cells = cells.reshape(*cells.shape[:-2], 9)
    digits = np.where(cells == 1, 1, np.where(cells == -1, 2, 0))
    return (digits * _POW3).sum(-1)


@functools.lru_cache(maxsize=1)
def _solve_tictactoe_tables() -> tuple[np.ndarray, np.ndarray]:
    """(values int8 [3**9], move scores int8 [3**9, 9]); see :func:`solve_tictactoe`."""
    values = np.zeros(3**9, np.int8)
    scores = np.full((3**9, 9), -128, np.int8)

    def winner(cells):
        for a, b, c in _TTT_LINES:
            if cells[a] != 0 and cells[a] == cells[b] == cells[c]:
                return cells[a]
        return 0

    @functools.cache
    def score(cells: tuple[int, ...]) -> int:
        """Distance-aware value for the side to move: 10 - plies to the win, -(10 - ...) for a
        loss, 0 for a draw; its sign is the game-theoretic value."""
        key = int(sum(d * p for d, p in zip(cells, _POW3, strict=True)))
        if winner(cells) != 0:  # the previous mover has won
            result = -10
        elif all(cells):
            result = 0
        else:
            mover = 1 if cells.count(1) == cells.count(2) else 2
            best = -128
            for m in range(9):
                if cells[m] == 0:
                    child = score(cells[:m] + (mover,) + cells[m + 1 :])
                    s = -child - 1 if -child > 0 else (-child + 1 if -child < 0 else 0)
                    scores[key, m] = s
                    best = max(best, s)
            result = best
        values[key] = int(np.sign(result))
        return result

    for digits in itertools.product((0, 1, 2), repeat=9):
        if digits.count(1) - digits.count(2) in (0, 1) and not _both_win(digits):
            score(digits)
    values.setflags(write=False)
    scores.setflags(write=False)
    return values, scores


def _both_win(digits: tuple[int, ...]) -> bool:
    wins = {
        digits[a]
        for a, b, c in _TTT_LINES
        if digits[a] != 0 and digits[a] == digits[b] == digits[c]
    }
    return len(wins) > 1


def solve_tictactoe() -> np.ndarray:
    """Game-theoretic values of Tic-Tac-Toe positions, int8 ``[3**9]`` (NumPy, cached).

    ``values[tictactoe_key(board)]`` is ``+1`` if the side to move wins with perfect play,
    ``0`` for a draw and ``-1`` for a loss; at a finished position it is ``-1`` after a win
    (the side to move has lost) and ``0`` for a full board. The side to move is X when the
    counts of X and O are equal. Only positions that can arise in play are meaningful (others
    hold 0, or -1 if a line is complete). Solved once by exhaustive minimax (memoised recursion
    over every position with consistent counts) on first call, then cached.
    """
    return _solve_tictactoe_tables()[0]


def tictactoe_perfect_player(env: BoardGame) -> Player:
    """Perfect Tic-Tac-Toe: a value-best move of the solved table, the fastest win first.

    ``act(key, states) -> int32 [B]`` looks each position of ``states`` (batch ``[B]``) up in
    the move scores of :func:`solve_tictactoe` (distance-aware: the fastest win, or slowest
    loss, scores most) and picks uniformly with ``key`` among the best legal moves.
    """
    scores = jnp.asarray(_solve_tictactoe_tables()[1])  # int8 [3**9, 9]
    pow3 = jnp.asarray(_POW3.astype(np.int32))

    def act(key: jax.Array, states: BoardGameState) -> jax.Array:
        cells = ((states.stones[..., None] >> jnp.arange(3)) & 1).reshape(-1, 2, 9)
        index = jnp.sum((cells[:, 0] + 2 * cells[:, 1]) * pow3, -1)
        s = scores[index].astype(jnp.int32)  # [B, 9]; -128 where illegal
        s = jnp.where(states.legal_action_mask, s, -1000)
        best = s == jnp.max(s, -1, keepdims=True)
        noise = jax.random.uniform(key, s.shape)
        return jnp.argmax(jnp.where(best, noise, -1.0), -1).astype(jnp.int32)

    return act
