"""The two-player, zero-sum, k-in-a-row board games (Tic-Tac-Toe, Connect Four) on one base.

Both games share the two-player contract of ``ARCHITECTURE.md`` and pgx's conventions, so a
program written against pgx's ``tic_tac_toe``/``connect_four`` carries over:

- ``state.current_player`` (int32, 0 or 1) is the player id to move. Player 0 always moves first
  (plays the "X"/first colour); an arena swaps colours by swapping which agent plays id 0.
- ``state.legal_action_mask`` (bool ``[A]``) marks the legal moves. At a terminal state every entry
  is ``True`` (as in pgx), so a masked softmax over it never divides by zero; moves there change
  nothing.
- ``reward`` (float32 ``[2]``, indexed by player id) is ``+1`` for the winner and ``-1`` for the
  loser on the move that ends the game, ``0`` otherwise (draws and non-final moves).
- The observation (float32 ``[rows, cols, 2]``) is from the side to move: channel 0 holds the
  mover's stones, channel 1 the opponent's.
- ``terminated`` is a win, a full board or an illegal move; ``truncated`` is always ``False``.

Illegal moves are never a silent pass. By default (``illegal_action="lose"``) a move outside
``legal_action_mask`` ends the game at once, the mover scores ``-1`` and the other player ``+1``
(pgx's rule), and ``info["illegal_action"]`` is ``True`` for that step. With
``illegal_action="error"`` the step instead raises through :mod:`jax.experimental.checkify`: run
``checkify.checkify(env.step)`` (under ``jit`` if you like) and ``err.throw()`` reports the
offending move. Stepping a terminated game returns it unchanged with zero rewards. (After an
illegal move the stones stay as they were and ``current_player`` stays the mover; pgx instead
writes the stone onto its board and passes the turn. Both states are terminal, with the same mask
and rewards.)

The position is kept as bitboards: ``state.stones`` (int32 ``[2, rows]``) has bit ``c`` of
``stones[p, r]`` set when player ``p`` has a stone on row ``r`` (row 0 is the top), column ``c``.
A win is then a handful of shifts and ANDs on ``rows`` integers (across: ``m & m >> 1 & ...``;
down: ``m[r] & m[r + 1] & ...``; diagonals: the same with shifted rows), which is several times
faster under ``vmap`` than scanning a cell array or gathering its 69 windows (pgx's way).
:meth:`BoardGame.board` unpacks the familiar int8 ``[rows, cols]`` board (``+1`` player 0's stone,
``-1`` player 1's, ``0`` empty) for display and tests.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.experimental import checkify

from rljax import spaces
from rljax.env import Environment

ILLEGAL_ACTION_MODES = ("lose", "error")


@struct.dataclass
class BoardGameState:
    stones: jax.Array  # int32 [2, rows]: bit c of stones[p, r] = player p's stone at (r, c)
    current_player: jax.Array  # int32 []: player id to move (0 or 1)
    legal_action_mask: jax.Array  # bool [A]; all True once terminated
    terminated: jax.Array  # bool []
    rewards: jax.Array  # float32 [2]: reward of the last move, by player id
    step_count: jax.Array  # int32 []: moves played


@struct.dataclass
class BoardGameParams:
    """The games have no numeric parameters; the empty pytree keeps the env contract uniform."""


def k_in_a_row(rows: jax.Array, k: int) -> jax.Array:
    """Whether one player's stones (int32 ``[R]`` row bitmasks) hold ``k`` in a row anywhere."""
    across = rows
    for i in range(1, k):
        across = across & (rows >> i)
    found = (across != 0).any()
    span = rows.shape[0] - k + 1
    if span > 0:
        down = diag = anti = rows[0:span]
        for i in range(1, k):
            shifted = rows[i : i + span]
            down = down & shifted
            diag = diag & (shifted >> i)  # the stone one row down sits one column right
            anti = anti & (shifted << i)  # ... or one column left
        found = found | ((down | diag | anti) != 0).any()
    return found


@functools.cache
def _row_planes(cols: int) -> np.ndarray:
    """float32 ``[2 ** (2 * cols), 2 * cols]``: row ``(m << cols) | o`` holds, for each column
    ``c``, bit ``c`` of ``m`` then bit ``c`` of ``o`` (a board row of :meth:`BoardGame.observe`).
    For Connect Four that is 16 384 rows of 14 floats (0.9 MB)."""
    masks = np.arange(1 << cols)
    bits = ((masks[:, None] >> np.arange(cols)) & 1).astype(np.float32)  # [2**cols, cols]
    pair = np.stack(np.broadcast_arrays(bits[:, None, :], bits[None, :, :]), axis=-1)
    return pair.reshape(1 << (2 * cols), 2 * cols)


def unpack_rows(rows: jax.Array, cols: int) -> jax.Array:
    """Row bitmasks int32 ``[..., R]`` to a bool cell array ``[..., R, cols]``."""
    return ((rows[..., None] >> jnp.arange(cols, dtype=jnp.int32)) & 1).astype(bool)


class BoardGame(Environment[BoardGameState, BoardGameParams]):
    """Base of the k-in-a-row games; subclasses set the sizes and where a move lands.

    Subclasses define ``rows``, ``cols``, ``k`` (stones in a row to win), ``num_actions``,
    :meth:`landing_cell` and :meth:`legal_actions`.
    """

    stochastic_step = False
    rows: int
    cols: int
    k: int
    num_actions: int
    num_players: int = 2
    # observe() by a lookup table of board rows instead of bit arithmetic: faster for wide boards
    # (Connect Four), slower for narrow ones (Tic-Tac-Toe). See _row_planes.
    observe_by_table: bool = False

    def __init__(self, illegal_action: str = "lose"):
        if illegal_action not in ILLEGAL_ACTION_MODES:
            raise ValueError(
                f"illegal_action={illegal_action!r} is invalid: allowed {ILLEGAL_ACTION_MODES}"
            )
        self.illegal_action = illegal_action

    # --- game-specific ----------------------------------------------------------------------
    def landing_cell(self, occupied: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(row, col)`` (int32 scalars) where a legal ``action`` puts the mover's stone.

        ``occupied`` is the int32 ``[rows]`` bitmask of all stones.
        """
        raise NotImplementedError

    def legal_actions(self, occupied: jax.Array) -> jax.Array:
        """bool ``[A]``: the legal moves given all stones (ignoring whether the game is over)."""
        raise NotImplementedError

    def closed_actions(self, played: jax.Array, row: jax.Array) -> jax.Array:
        """bool ``[A]``: the moves that become illegal when a stone lands on ``row``.

        ``played`` (bool ``[A]``) is the one-hot of the move just played. Updating the mask from
        this is much cheaper under ``vmap`` on a CPU than recomputing :meth:`legal_actions`.
        """
        raise NotImplementedError

    # --- contract ---------------------------------------------------------------------------
    @property
    def default_params(self) -> BoardGameParams:
        return BoardGameParams()

    def observation_space(self, params: BoardGameParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.rows, self.cols, 2), jnp.float32)

    def action_space(self, params: BoardGameParams) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def reward_shape(self, params: BoardGameParams) -> tuple[int, ...]:
        return (2,)

    def init(self) -> BoardGameState:
        """The empty board, player 0 to move (no key needed: the games start the same way)."""
        empty = jnp.zeros(self.rows, jnp.int32)
        return BoardGameState(
            stones=jnp.zeros((2, self.rows), jnp.int32),
            current_player=jnp.int32(0),
            legal_action_mask=self.legal_actions(empty),
            terminated=jnp.bool_(False),
            rewards=jnp.zeros(2, jnp.float32),
            step_count=jnp.int32(0),
        )

    def reset_env(self, key: jax.Array, params: BoardGameParams) -> tuple[jax.Array, Any]:
        state = self.init()
        return self.observe(state), state

    def observe(self, state: BoardGameState) -> jax.Array:
        """float32 ``[rows, cols, 2]``: the mover's stones, then the opponent's."""
        first = state.current_player == 0
        mover = jnp.where(first, state.stones[0], state.stones[1])  # [rows] bitmasks
        other = jnp.where(first, state.stones[1], state.stones[0])
        if self.observe_by_table:
            # One table row per board row: the row's (mover, opponent) masks index its 2 * cols
            # floats, already in the [cols, 2] layout; under vmap, one gather of contiguous rows.
            table = jnp.asarray(_row_planes(self.cols))
            return table[(mover << self.cols) | other].reshape(self.rows, self.cols, 2)
        # Built directly in the [rows, cols, 2] layout from broadcasts: a stack and a transpose
        # here became a strided copy that XLA:CPU does not vectorise (half of a batched step).
        planes = jnp.where(jnp.arange(2) == 0, mover[:, None, None], other[:, None, None])
        shifts = jnp.arange(self.cols, dtype=jnp.int32)[:, None]  # [cols, 1]
        return ((planes >> shifts) & 1).astype(jnp.float32)

    def board(self, state: BoardGameState) -> jax.Array:
        """int8 ``[..., rows, cols]``: ``+1`` player 0's stone, ``-1`` player 1's, ``0`` empty."""
        cells = unpack_rows(state.stones, self.cols).astype(jnp.int8)  # [..., 2, rows, cols]
        return cells[..., 0, :, :] - cells[..., 1, :, :]

    def step_env(self, key: jax.Array, state: BoardGameState, action: jax.Array, params: Any):
        state, illegal = self.play(state, action)
        info = {"illegal_action": illegal}
        return (
            self.observe(state),
            state,
            state.rewards,
            state.terminated,
            jnp.bool_(False),
            info,
        )

    def play(self, state: BoardGameState, action: jax.Array) -> tuple[BoardGameState, jax.Array]:
        """The move ``action`` (int32 scalar) by the side to move: ``(next_state, illegal)``.

        ``illegal`` (bool) is ``True`` when the move was outside ``legal_action_mask`` of a game
        still in play. The mover then loses (or, in ``"error"`` mode, a checkify error is raised).
        The mask is updated from the move (:meth:`closed_actions`), not recomputed from the stones,
        so a state built by hand needs a mask that matches its stones.
        """
        action = jnp.asarray(action, jnp.int32)
        done = state.terminated
        in_range = (action >= 0) & (action < self.num_actions)
        safe_action = jnp.clip(action, 0, self.num_actions - 1)
        played = jnp.arange(self.num_actions) == safe_action
        illegal = ~done & ~(in_range & state.legal_action_mask[safe_action])
        if self.illegal_action == "error":
            checkify.check(
                ~illegal,
                "illegal action {action} for player {player}: legal moves are {mask}",
                action=action,
                player=state.current_player,
                mask=state.legal_action_mask,
            )

        mover = state.current_player
        occupied = state.stones[0] | state.stones[1]
        row, col = self.landing_cell(occupied, safe_action)
        moves = ~done & ~illegal
        # One elementwise select instead of a scatter: the new stone's bit on (mover, row).
        target = (jnp.arange(2)[:, None] == mover) & (jnp.arange(self.rows)[None, :] == row)
        stones = state.stones | jnp.where(target & moves, jnp.left_shift(1, col), 0)
        won = moves & k_in_a_row(jnp.where(mover == 0, stones[0], stones[1]), self.k)
        step_count = state.step_count + moves.astype(jnp.int32)
        full = step_count == self.rows * self.cols
        ends = won | illegal | (moves & full)

        # +1 to the winner; an illegal move hands the win to the other player.
        mover_reward = jnp.where(won, 1.0, jnp.where(illegal, -1.0, 0.0))
        rewards = jnp.where(mover == 0, 1.0, -1.0) * jnp.stack([mover_reward, -mover_reward])
        terminated = done | ends
        legal = (state.legal_action_mask & ~(moves & self.closed_actions(played, row))) | terminated
        next_state = BoardGameState(
            stones=stones,
            current_player=jnp.where(moves, 1 - mover, mover).astype(jnp.int32),
            legal_action_mask=legal,
            terminated=terminated,
            rewards=rewards.astype(jnp.float32),
            step_count=step_count,
        )
        return next_state, illegal

    # --- display ----------------------------------------------------------------------------
    def render_ansi(self, state: BoardGameState, color: bool = True) -> str:
        """The board as text (one state, host or device arrays), column numbers underneath."""
        import numpy as np

        board = np.asarray(self.board(state))
        marks = {1: "X", -1: "O", 0: "."}
        paint = {"X": "\033[1;31mX\033[0m", "O": "\033[1;33mO\033[0m"} if color else {}
        lines = []
        for r in range(self.rows):
            cells = [marks[int(v)] for v in board[r]]
            lines.append(" ".join(paint.get(c, c) for c in cells))
        lines.append(" ".join(str(i) for i in self.column_labels()))
        return "\n".join(lines)

    def column_labels(self) -> list[str]:
        return [str(c) for c in range(self.cols)]

    def __repr__(self) -> str:
        return f"{self.name}(illegal_action={self.illegal_action!r})"

    def __hash__(self) -> int:
        return hash((type(self), self.illegal_action))

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.illegal_action == other.illegal_action
