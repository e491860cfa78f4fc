"""TicTacToe-v0: three in a row on a 3 x 3 board.

Action ``a`` (0..8) marks cell ``(a // 3, a % 3)``; an occupied cell is illegal. Player 0 plays
"X" and moves first. Rules, rewards, observation layout and terminal conventions match pgx's
``tic_tac_toe`` (checked move by move by the tests); the shared conventions are in
:mod:`rljax.envs.board_game`.
"""

from __future__ import annotations

import jax

from rljax.envs.board_game import BoardGame, unpack_rows


class TicTacToe(BoardGame):
    rows = 3
    cols = 3
    k = 3
    num_actions = 9

    def landing_cell(self, occupied: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        return action // self.cols, action % self.cols

    def legal_actions(self, occupied: jax.Array) -> jax.Array:
        return ~unpack_rows(occupied, self.cols).reshape(-1)

    def closed_actions(self, played: jax.Array, row: jax.Array) -> jax.Array:
        return played  # the cell just taken

    def column_labels(self) -> list[str]:
        return []

    def render_ansi(self, state, color: bool = True) -> str:
        """The board with empty cells numbered by the action that takes them."""
        import numpy as np

        board = np.asarray(self.board(state)).reshape(-1)
        paint = {"X": "\033[1;31mX\033[0m", "O": "\033[1;33mO\033[0m"} if color else {}
        cells = []
        for a, v in enumerate(board):
            mark = {1: "X", -1: "O"}.get(int(v), str(a))
            cells.append(paint.get(mark, mark))
        return "\n".join(" ".join(cells[r * 3 : r * 3 + 3]) for r in range(3))
