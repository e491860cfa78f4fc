"""Depth-limited minimax (negamax) with a window-count heuristic, batched over games.

:func:`minimax_values` gives every root move's value by a full fixed-depth expansion on
:class:`~rljax.games.lean_board.LeanBoard`; :func:`alphabeta_player` plays one of the best,
ties broken at random, and plays Tic-Tac-Toe perfectly from the solved table
(:mod:`rljax.games.tictactoe_solver`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from rljax.envs.board_game import BoardGame, BoardGameState
from rljax.games.lean_board import LeanBoard, root_position
from rljax.games.player_contract import Player, check_env
from rljax.games.tictactoe_solver import is_tictactoe, tictactoe_perfect_player

WIN_SCORE = 1_000_000  # minimax value of a win, less the plies it takes (faster wins score more)
NEG_INF = -(2**30)  # minimax value of an illegal move


def minimax_values(env: BoardGame, depth: int) -> Callable[[BoardGameState], jax.Array]:
    """Depth-limited negamax values of every root move, as ``values(states) -> int32 [B, A]``.

    The value of a move is from the mover's view: ``WIN_SCORE - d`` for a win ``d`` plies after
    the root (faster wins score more, slower losses less), ``0`` for a draw, and the
    :meth:`LeanBoard.heuristic` of the position ``depth`` plies down otherwise; illegal moves
    get ``NEG_INF``.

    This is a full fixed-depth expansion: every line of ``depth`` moves is played out at once
    (``A**depth`` leaves per game, 2401 for Connect Four at depth 4) and the values are reduced
    level by level with ``max`` of the negated children. It gives exactly the values of
    alpha-beta search without the pruning; see :func:`alphabeta_player` for why.
    """
    check_env(env)
    if depth < 1:
        raise ValueError(f"depth={depth} is invalid: allowed >= 1")
    board = LeanBoard(env)
    a_n = board.num_actions

    def terminal_value(status, ply, d):
        winner = status - 2
        side = ply & 1  # side to move at the node
        win = WIN_SCORE - d
        return jnp.where(status == 1, 0, jnp.where(winner == side, win, -win))

    def values(states: BoardGameState) -> jax.Array:
        x, ply, status = root_position(board, states)
        bits = board.one_hot(jnp.arange(a_n, dtype=jnp.int32))  # [A]
        levels = []  # per depth d >= 1: (status, illegal, ply), flattened over [B * A**d]
        for _ in range(depth):
            occ = board.occupancy(x)
            legal = board.legal(occ)[:, None] & bits != 0  # [M, A]
            on = (status == 0)[:, None]
            child = board.place(
                [r[:, None] for r in x],
                [o[:, None] for o in occ],
                jnp.where(on, bits, 0),
                ply[:, None],
            )
            child_status = jnp.where(
                on, board.status(board.wins(child), ply[:, None]), status[:, None]
            )
            x = [r.reshape(-1) for r in child]
            status = child_status.reshape(-1)
            ply = jnp.broadcast_to(ply[:, None] + 1, legal.shape).reshape(-1)
            # materialise each level: else XLA fuses every level's moves into all its consumers
            x, status, ply = jax.lax.optimization_barrier((x, status, ply))
            levels.append((status, ~legal.reshape(-1), ply))
        status, illegal, ply = levels[-1]
        value = jnp.where(status == 0, board.heuristic(x, ply), terminal_value(status, ply, depth))
        for d in range(depth, 0, -1):
            status, illegal, ply = levels[d - 1]
            if d < depth:
                best = jnp.max(value.reshape(-1, a_n), -1)
                value = jnp.where(status == 0, best, terminal_value(status, ply, d))
            value = jnp.where(illegal, NEG_INF, -value)
        return value.reshape(-1, a_n)

    return values


def alphabeta_player(env: BoardGame, depth: int | None = 4) -> Player:
    """Depth-limited minimax with the window-count heuristic; exact for Tic-Tac-Toe.

    The move is one of the best by :func:`minimax_values` (values from the mover's view: wins
    ``WIN_SCORE`` less their distance, draws 0, the heuristic at the horizon), chosen uniformly
    among the exact ties with ``key``, so that games against it differ. The window heuristic
    (:meth:`LeanBoard.heuristic`) scores every line of ``k`` cells holding stones of only one
    player by ``WINDOW_WEIGHTS`` (1, 10, 100 for 1, 2, 3 stones), from the mover's view, plus
    ``CENTER_WEIGHT`` (3) per stone in the centre column.

    The search is a full fixed-depth expansion (:func:`minimax_values`), not alpha-beta with
    pruning: both give the same root values (alpha-beta prunes only lines that cannot change
    them; here every root move's value is exact, which the random tie-break needs). The batched
    expansion of all ``A**depth`` lines runs as a few wide vector kernels; a pruned search would
    walk each game's tree one node per ``while_loop`` iteration, the loop running until the
    largest tree of the batch is done. Which is faster on a given CPU has not been measured
    (no pruned version is implemented); depth 4 runs at thousands of moves/s either way
    (``benchmarks/uct.py``).

    Tic-Tac-Toe with ``depth=None`` (or ``depth >= 9``) is played perfectly: moves come from a
    table of exact move values over all 3**9 positions, solved once in NumPy by exhaustive
    minimax (:func:`~rljax.games.tictactoe_solver.solve_tictactoe`) and looked up in JAX; among
    the value-best moves it prefers the fastest win (or slowest loss), ties broken at random.
    """
    check_env(env)
    if depth is None or (is_tictactoe(env) and depth >= 9):
        if not is_tictactoe(env):
            raise ValueError(
                f"depth=None (full depth) is only available for TicTacToe, not {env!r}"
            )
        return tictactoe_perfect_player(env)
    values_fn = minimax_values(env, depth)

    def act(key: jax.Array, states: BoardGameState) -> jax.Array:
        values = values_fn(states)
        best = values == jnp.max(values, -1, keepdims=True)
        noise = jax.random.uniform(key, values.shape)
        choice = jnp.where(best & states.legal_action_mask, noise, -1.0)
        return jnp.argmax(choice, -1).astype(jnp.int32)

    return act
