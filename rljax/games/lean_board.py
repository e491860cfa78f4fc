"""Packed bitboards for batched search: positions, moves, win checks, random playouts, heuristic.

:class:`LeanBoard` runs the baselines' searches (:mod:`rljax.games.uct`,
:mod:`rljax.games.minimax`) without ever building an observation: both players' stones of a row
share one int16, a move is a one-hot bitmask, and a win check is a handful of shifts and ANDs
over the rows of the whole batch. Random playouts draw their moves from a counter-based hash
(:func:`ply_random`), so each game's stream depends only on its seed and ply, not on the batch.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from rljax.envs.board_game import BoardGame, BoardGameState

GOLDEN = 0x9E3779B9  # 2**32 / golden ratio: spreads consecutive counters before hashing
WINDOW_WEIGHTS = (0, 1, 10, 100)  # heuristic weight of a window holding n of one player's stones
CENTER_WEIGHT = 3  # heuristic bonus per stone in the centre column
COMPACT_MIN = 128  # playout batches from this size on finish their longest games compacted


def mix(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash (``lowbias32``): uint32 in, well-mixed uint32 out."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def ply_random(seed: jax.Array, ply: jax.Array) -> jax.Array:
    """uint32 random bits for one ply of one game: a hash of (per-game seed, ply)."""
    return mix(seed + ply.astype(jnp.uint32) * jnp.uint32(GOLDEN))


class LeanBoard:
    """Branch-free bitboard kernels for search over a batch of games.

    A position is a list of ``rows`` integer arrays ``[...]`` ("packed rows"): bit ``c`` of row
    ``r`` is player 0's stone at ``(r, c)``, bit ``cols + 1 + c`` player 1's. Both players' lines
    are checked at once: ``k`` consecutive bits that mixed the two halves would have to cross the
    always-empty bit between them. The mover is the parity of the ply count (player 0 moves at
    even plies). Moves are one-hot action bitmasks. Rows and masks are int16 when they fit
    (Connect Four's 15 bits do), which doubles the lanes of every vector instruction over int32.
    All methods are elementwise over the leading batch shape, so they broadcast.
    """

    def __init__(self, env: BoardGame):
        self.rows, self.cols, self.k = env.rows, env.cols, env.k
        self.num_actions = env.num_actions
        self.cells = env.rows * env.cols
        if env.num_actions == env.cols:
            self.gravity = True  # a move names a column; the stone drops to its lowest empty cell
        elif env.num_actions == self.cells:
            self.gravity = False  # a move names a cell
        else:
            raise ValueError(f"{env!r}: moves must name a column or a cell")
        self.shift = self.cols + 1
        action_bits = self.cols if self.gravity else self.cells
        if 2 * self.cols + 1 <= 15 and action_bits <= 15:
            self.dtype = jnp.int16
        elif 2 * self.cols + 1 <= 31 and action_bits <= 31:
            self.dtype = jnp.int32
        else:
            raise ValueError(f"{env!r}: board too large for the packed bitboards")
        self.full_row = (1 << self.cols) - 1

    # --- positions ---------------------------------------------------------------------------
    def pack(self, stones: jax.Array) -> list[jax.Array]:
        """``stones`` int32 ``[..., 2, rows]`` (the env's bitboards) to packed rows."""
        rows = [stones[..., 0, r] | (stones[..., 1, r] << self.shift) for r in range(self.rows)]
        return [r.astype(self.dtype) for r in rows]

    def occupancy(self, x: list[jax.Array]) -> list[jax.Array]:
        """Per row, the bitmask (bits ``0..cols-1``) of occupied cells."""
        return [(r | (r >> self.shift)) & self.full_row for r in x]

    def legal(self, occ: list[jax.Array]) -> jax.Array:
        """Bitmask over actions of the open moves (ignores whether the game is over)."""
        if self.gravity:
            return ~occ[0] & self.full_row
        bits = occ[0]
        for r in range(1, self.rows):
            bits = bits | (occ[r] << (r * self.cols))
        return ~bits & ((1 << self.cells) - 1)

    def place(
        self, x: list[jax.Array], occ: list[jax.Array], bit: jax.Array, ply: jax.Array
    ) -> list[jax.Array]:
        """The rows after the mover at ``ply`` plays the one-hot action ``bit`` (0: no move)."""
        second = (ply & 1) == 1
        out = []
        for r in range(self.rows):
            if self.gravity:
                below = occ[r + 1] if r + 1 < self.rows else self.full_row
                stone = ~occ[r] & below & bit  # the open cell of this row that sits on a stone
            else:
                stone = (bit >> (r * self.cols)) & self.full_row
            out.append(x[r] | jnp.where(second, stone << self.shift, stone))
        return out

    def one_hot(self, action: jax.Array) -> jax.Array:
        """The one-hot mask of an int32 action."""
        return jnp.left_shift(jnp.ones_like(action), action).astype(self.dtype)

    @staticmethod
    def index(bit: jax.Array) -> jax.Array:
        """The int32 action of a one-hot mask."""
        return jax.lax.population_count(bit - 1).astype(jnp.int32)

    # --- lines ---------------------------------------------------------------------------------
    _DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))  # (rows, cols) step: across, down, diagonals

    @staticmethod
    def _shift(v: jax.Array, c: int) -> jax.Array:
        """Aligns the cell ``c`` columns to the right (left if ``c < 0``) onto this column."""
        return v >> c if c > 0 else (v << -c if c < 0 else v)

    def _lines(self, x: list[jax.Array], dr: int, dc: int) -> list[jax.Array]:
        """Per start row, the masks of cells that start ``k`` stones in a row along ``(dr, dc)``.

        Runs are doubled (1, 2, 4, ...) and joined, ``O(log k)`` ANDs per row.
        """

        def join(a, b, off):  # run a from a cell, then run b starting ``off`` cells further
            n = min(len(a), len(b) - off * dr)
            return [a[r] & self._shift(b[r + off * dr], off * dc) for r in range(n)]

        powers = {1: list(x)}
        p = 1
        while 2 * p <= self.k:
            powers[2 * p] = join(powers[p], powers[p], p)
            p *= 2
        result, length = None, 0
        while p >= 1:
            if self.k & p:
                result = powers[p] if result is None else join(result, powers[p], length)
                length += p
            p //= 2
        return result

    def wins(self, x: list[jax.Array]) -> jax.Array:
        """bool: whether either player has ``k`` in a row."""
        found = None
        for dr, dc in self._DIRECTIONS:
            for line in self._lines(x, dr, dc):
                found = line if found is None else found | line
        return found != 0

    def status(self, won: jax.Array, ply: jax.Array) -> jax.Array:
        """int32 game status after the move made at ``ply``: 0 on, 1 draw, ``2 + winner``."""
        return jnp.where(won, 2 + (ply & 1), jnp.where(ply + 1 >= self.cells, 1, 0))

    # --- random moves --------------------------------------------------------------------------
    def pick(self, bits: jax.Array, rand: jax.Array) -> jax.Array:
        """A uniformly random set bit of ``bits`` as a one-hot mask (0 if none).

        ``rand`` (uint32) picks the ``i``-th set bit, ``i = floor(count * rand_hi / 2^16)``
        (bias below ``count / 2^16``); the lowest set bit is cleared ``i`` times.
        """
        count = jax.lax.population_count(bits).astype(jnp.uint32)
        i = (((rand >> 16) * count) >> 16).astype(bits.dtype)
        m = bits
        for t in range(self.num_actions - 1):
            m = jnp.where(i > t, m & (m - 1), m)
        return m & -m

    def playout(
        self,
        x: list[jax.Array],
        ply: jax.Array,
        status: jax.Array,
        first: jax.Array,
        seed: jax.Array,
        compact: bool = True,
    ) -> jax.Array:
        """Uniformly random moves until every game is over; returns the final status ``[B]``.

        ``x`` (rows of ``[B]``) is a position after ``ply`` moves with ``status`` (games with a
        nonzero status are left as they are), ``first`` (one-hot ``[B]``) its first move and
        ``seed`` (uint32 ``[B]``) each game's random stream (:func:`ply_random`).
        Each iteration draws the move of the next ply and carries it, and judges the position it
        was handed (one ply late), so that XLA computes the draw and the win check once, from
        carried arrays, instead of fusing them into every row's update. With ``compact`` and a
        batch of at least ``COMPACT_MIN``, the games still going once only a quarter remain
        are gathered into a quarter-size batch and finished there (results are unchanged).
        """

        def body(c):
            xs, ply, status, bit, seed = c
            x = [xs[r] for r in range(self.rows)]
            status = jnp.where(status != 0, status, self.status(self.wins(x), ply - 1))
            x = self.place(x, self.occupancy(x), bit, ply)
            ply = ply + 1
            # finished games keep "playing" (no legal move means no stone); their status stays
            bit = self.pick(self.legal(self.occupancy(x)), ply_random(seed, ply))
            return jnp.stack(x), ply, status, bit, seed

        c = (jnp.stack(x), ply, status, first, seed)
        size = status.shape[0]
        if not compact or size < COMPACT_MIN:
            return jax.lax.while_loop(lambda c: (c[2] == 0).any(), body, c)[2]
        # Most playouts end well before the longest: once a quarter of the games are still
        # going, they are gathered into a quarter-size batch and finished there.
        small = size // 4
        c = jax.lax.while_loop(lambda c: (c[2] == 0).sum() > small, body, c)
        index = jnp.nonzero(c[2] == 0, size=small, fill_value=size)[0]
        part = jax.tree.map(lambda a: jnp.take(a, index, axis=a.ndim - 1, mode="clip"), c)
        part_status = jnp.where(index < size, part[2], 1)  # padding entries count as over
        xs, ply, _, bit, seed = part
        done = self.playout(list(xs), ply, part_status, bit, seed, compact=False)
        return c[2].at[index].set(done, mode="drop")

    # --- evaluation ----------------------------------------------------------------------------
    def heuristic(self, x: list[jax.Array], ply: jax.Array) -> jax.Array:
        """int32 window-count heuristic from the view of the side to move at ``ply``.

        ``sum_n WINDOW_WEIGHTS[n] * (mine_n - theirs_n)``, with ``mine_n`` the windows of ``k``
        cells in a line (any direction) holding ``n`` of the mover's stones and none of the
        opponent's, plus ``CENTER_WEIGHT`` per own stone in the centre column (odd widths) minus
        the opponent's.

        Counted with bit-sliced adders: for each (direction, start row) the ``k`` cells of every
        window are summed bitwise into count bit-planes, for both players (both halves of the
        packed rows) at once; the score is one elementwise expression, which XLA fuses into a
        single vectorised loop.
        """
        k, c = self.k, self.cols
        starts = {  # valid start columns of player 0's windows, per column step
            1: (1 << max(0, c - k + 1)) - 1,
            0: self.full_row,
            -1: self.full_row & ~((1 << (k - 1)) - 1),
        }
        weights = [WINDOW_WEIGHTS[min(n, len(WINDOW_WEIGHTS) - 1)] for n in range(k)]
        score = jnp.zeros(x[0].shape, jnp.int32)
        for dr, dc in self._DIRECTIONS:
            valid0 = starts[dc]
            if valid0 <= 0:
                continue
            for r in range(self.rows - (k - 1) * dr):
                planes: list[jax.Array] = []  # bit j of each window's count
                for i in range(k):  # ripple-carry add the i-th cell of every window
                    carry = self._shift(x[r + i * dr], i * dc)
                    for j, plane in enumerate(planes):
                        planes[j], carry = plane ^ carry, plane & carry
                    if len(planes) < (i + 1).bit_length():  # otherwise the carry is 0
                        planes.append(carry)
                nonempty = functools.reduce(jnp.bitwise_or, planes)
                only = (  # valid windows with no stone of the other player, by player
                    valid0 & ~(nonempty >> self.shift),
                    (valid0 << self.shift) & ~(nonempty << self.shift),
                )
                for n in range(1, k):
                    eq = None
                    for j, plane in enumerate(planes):
                        term = plane if (n >> j) & 1 else ~plane
                        eq = term if eq is None else eq & term
                    mine = jax.lax.population_count(eq & only[0]).astype(jnp.int32)
                    theirs = jax.lax.population_count(eq & only[1]).astype(jnp.int32)
                    score = score + weights[n] * (mine - theirs)
        if c % 2 == 1:
            mid = 1 << (c // 2)
            for row in x:
                score = score + CENTER_WEIGHT * (
                    ((row & mid) != 0).astype(jnp.int32)
                    - ((row & (mid << self.shift)) != 0).astype(jnp.int32)
                )
        return jnp.where((ply & 1) == 0, score, -score)


def root_position(
    board: LeanBoard, states: BoardGameState
) -> tuple[list[jax.Array], jax.Array, jax.Array]:
    """Packed rows, ply and status (1 if already over, else 0) of a batch of env states.

    ``states`` has batch ``[B]``; returns ``rows`` arrays ``[B]`` (``board.dtype``), int32 ply
    ``[B]`` and int32 status ``[B]``, the root of a search.
    """
    x = board.pack(states.stones)
    status = jnp.where(states.terminated, 1, 0).astype(jnp.int32)
    return x, states.step_count.astype(jnp.int32), status
