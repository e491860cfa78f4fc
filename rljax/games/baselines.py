"""Baseline players for the k-in-a-row board games (Tic-Tac-Toe, Connect Four).

Three classic opponents, written as batched, jittable JAX functions with the agent's signature::

    act = uct_player(env, num_simulations=1000)
    actions = act(key, states)          # states: BoardGameState with batch [B]; int32 [B]

- :func:`random_player`: uniform over the legal moves.
- :func:`uct_player`: UCT, the classic Monte Carlo tree search with random rollouts (UCB1
  selection, expansion of one untried move, a uniformly random playout to the end of the game,
  backup), one tree per game, all games searched in lockstep.
- :func:`alphabeta_player`: depth-limited minimax (negamax) with a window-count heuristic; exact
  perfect play for Tic-Tac-Toe through a solved table (:func:`solve_tictactoe`).

Every player takes ``(key, states)`` with ``states`` a batch of
:class:`~rljax.envs.board_game.BoardGameState` (``stones [B, 2, rows]``...) and returns legal
int32 actions ``[B]``. Finished games in the batch are allowed (an arena steps all games at once);
their action is some legal-by-convention move that the game ignores. :func:`make_player` builds
one by name.

The searches run on :class:`LeanBoard`, bitboard kernels that never build an observation: both
players' stones of a row share one int16, a move is a one-hot bitmask, and a win check is a
handful of shifts and ANDs over the rows of the whole batch.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rljax.envs.board_game import BoardGame, BoardGameState

Player = Callable[[jax.Array, BoardGameState], jax.Array]
"""``act(key, states) -> actions``: a key, a batch of game states ``[B]``, int32 moves ``[B]``."""

_GOLDEN = 0x9E3779B9
WIN_SCORE = 1_000_000  # minimax value of a win, less the plies it takes (faster wins score more)
NEG_INF = -(2**30)  # minimax value of an illegal move
WINDOW_WEIGHTS = (0, 1, 10, 100)  # heuristic weight of a window holding n of one player's stones
CENTER_WEIGHT = 3  # heuristic bonus per stone in the centre column
MAX_UCT_SIMULATIONS = 32_766  # visit counts and node ids are int16 in the UCT tree
_COMPACT_MIN = 128  # playout batches from this size on finish their longest games compacted


def _mix(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash (``lowbias32``): uint32 in, well-mixed uint32 out."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _ply_random(seed: jax.Array, ply: jax.Array) -> jax.Array:
    """uint32 random bits for one ply of one game: a hash of (per-game seed, ply)."""
    return _mix(seed + ply.astype(jnp.uint32) * jnp.uint32(_GOLDEN))


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
        ``seed`` (uint32 ``[B]``) each game's random stream (:func:`_ply_random`).
        Each iteration draws the move of the next ply and carries it, and judges the position it
        was handed (one ply late), so that XLA computes the draw and the win check once, from
        carried arrays, instead of fusing them into every row's update. With ``compact`` and a
        batch of at least ``_COMPACT_MIN``, the games still going once only a quarter remain
        are gathered into a quarter-size batch and finished there (results are unchanged).
        """

        def body(c):
            xs, ply, status, bit, seed = c
            x = [xs[r] for r in range(self.rows)]
            status = jnp.where(status != 0, status, self.status(self.wins(x), ply - 1))
            x = self.place(x, self.occupancy(x), bit, ply)
            ply = ply + 1
            # finished games keep "playing" (no legal move means no stone); their status stays
            bit = self.pick(self.legal(self.occupancy(x)), _ply_random(seed, ply))
            return jnp.stack(x), ply, status, bit, seed

        c = (jnp.stack(x), ply, status, first, seed)
        size = status.shape[0]
        if not compact or size < _COMPACT_MIN:
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


def _root(board: LeanBoard, states: BoardGameState):
    """Packed rows, ply and status (1 if already over, else 0) of a batch of env states."""
    x = board.pack(states.stones)
    status = jnp.where(states.terminated, 1, 0).astype(jnp.int32)
    return x, states.step_count.astype(jnp.int32), status


def _check_env(env: BoardGame) -> None:
    if not isinstance(env, BoardGame):
        raise TypeError(f"env must be a k-in-a-row BoardGame (TicTacToe, ConnectFour), got {env!r}")


# --- random ------------------------------------------------------------------------------------
def random_player(env: BoardGame) -> Player:
    """A player that moves uniformly at random among the legal moves.

    ``act(key, states) -> int32 [B]``: the argmax of i.i.d. uniforms over the legal entries of
    ``states.legal_action_mask [B, A]``, which is a uniform legal move.
    """
    _check_env(env)

    def act(key: jax.Array, states: BoardGameState) -> jax.Array:
        noise = jax.random.uniform(key, states.legal_action_mask.shape)
        return jnp.argmax(jnp.where(states.legal_action_mask, noise, -1.0), -1).astype(jnp.int32)

    return act


# --- UCT ---------------------------------------------------------------------------------------
def uct_player(
    env: BoardGame,
    num_simulations: int = 1000,
    exploration: float = math.sqrt(2.0),
    max_nodes: int | None = None,
    chunk: int = 256,
) -> Player:
    """UCT: Monte Carlo tree search with UCB1 selection and uniformly random rollouts.

    Per game, ``num_simulations`` simulations of the classic algorithm, each:

    1. **Selection** from the root by UCB1, ``argmax_a  Q(s, a) + c * sqrt(ln N(s) / N(s, a))``,
       while the node is not terminal and all its legal moves are expanded. ``Q`` is the mean
       result in ``[-1, 1]`` from the view of the player choosing at ``s``; ``N(s)`` is the
       node's visit count (1 + the visits of its edges); ties go to the lowest action.
    2. **Expansion** of one untried legal move, drawn uniformly (a new node).
    3. **Simulation**: uniformly random moves from the new node to the end of the game
       (win +1, draw 0, loss -1).
    4. **Backup**: every edge on the path gets a visit and the result, from its chooser's view.

    The move played is the most visited root move. A terminal node reached by selection is
    scored by its result without a playout, so an immediate win is found within the first
    ``A`` simulations and then dominates the visits.

    Args:
        env: a k-in-a-row :class:`BoardGame`.
        num_simulations: simulations per move (at most ``MAX_UCT_SIMULATIONS``).
        exploration: ``c`` of UCB1. The default ``sqrt(2)`` is Kocsis and Szepesvari's constant
            for rewards in ``[0, 1]``; on this ``[-1, 1]`` scale it explores half as much
            (OpenSpiel's MCTS example runs its ``MCTSBot`` with ``c = 2`` on the ``[-1, 1]``
            scale).
        max_nodes: tree capacity per game, default ``num_simulations + 1`` (never exhausted).
            With fewer, a simulation that would expand beyond it plays out from its leaf.
        chunk: games searched at once. Larger batches are split into chunks of this size,
            searched one after another (``lax.map``) so that a chunk's trees stay in cache;
            the moves do not depend on it (each game has its own random stream).

    Returns:
        ``act(key, states) -> int32 [B]``; ``act.root_stats(seeds, states)`` gives the root's
        ``(visits, value sums) int32 [B, A]`` for ``uint32 [B]`` seeds.

    Implementation: all games run the simulations in lockstep, written directly on batch
    arrays (not ``vmap``). One tree per game lives in a preallocated int16 table, a 64-byte row
    per node ``[children A | (visits, value sum) per action | status]``. Positions are not
    stored but replayed from the root during selection (a few bit operations per level; storing
    each node's rows in the row's spare columns instead measured no faster). The playout is
    :meth:`LeanBoard.playout`. The loops over tree levels and playout plies run until the
    deepest game of the chunk is done; the playout gathers its last quarter of unfinished games
    into a quarter-size batch, so that the longest rollouts do not hold up the whole chunk.
    """
    _check_env(env)
    if not 1 <= num_simulations <= MAX_UCT_SIMULATIONS:
        raise ValueError(
            f"num_simulations={num_simulations} is invalid: allowed 1..{MAX_UCT_SIMULATIONS}"
        )
    if not exploration >= 0:
        raise ValueError(f"exploration={exploration} is invalid: allowed >= 0")
    if chunk < 1:
        raise ValueError(f"chunk={chunk} is invalid: allowed >= 1")
    n_nodes = num_simulations + 1 if max_nodes is None else max_nodes
    if not 1 <= n_nodes <= MAX_UCT_SIMULATIONS + 1:
        raise ValueError(f"max_nodes={max_nodes} is invalid: allowed 1..{MAX_UCT_SIMULATIONS + 1}")
    board = LeanBoard(env)
    a_n = board.num_actions
    depth_cap = max(1, min(board.cells, n_nodes - 1))  # the deepest a selection can go
    width = -(-(3 * a_n + 1) // 32) * 32  # node row: int16, padded to a multiple of 64 bytes
    col_stats, col_status = a_n, 3 * a_n
    template = np.zeros(width, np.int16)
    template[:a_n] = -1  # no children yet

    def search(seeds: jax.Array, states: BoardGameState) -> tuple[jax.Array, jax.Array]:
        arange_a = jnp.arange(a_n, dtype=jnp.int32)
        x0, ply0, root_status = _root(board, states)
        b = ply0.shape[0]
        base = jnp.arange(b, dtype=jnp.int32) * n_nodes  # row of each game's root
        size = b * n_nodes * width  # flat index past the end: dropped by scatters
        tree = jnp.broadcast_to(jnp.asarray(template), (b * n_nodes, width))
        tree = tree.at[base, col_status].set(root_status.astype(jnp.int16)).reshape(-1)

        def simulate(i, carry):
            tree, num = carry
            sim_seed = _mix(seeds ^ _mix(jnp.uint32(i) * jnp.uint32(_GOLDEN) + jnp.uint32(1)))
            rows = tree.reshape(b * n_nodes, width)

            # selection: UCB1 down the tree; the games still descending are all at depth t
            def sel_body(c):
                t, node, xs, path, active = c
                x = [xs[r] for r in range(board.rows)]
                rec = rows[base + node].astype(jnp.int32)
                children = rec[:, :a_n]
                stats = rec[:, col_stats : col_stats + 2 * a_n].reshape(b, a_n, 2)
                occ = board.occupancy(x)
                legal = ((board.legal(occ)[:, None] >> arange_a) & 1) == 1
                stop = (rec[:, col_status] != 0) | (legal & (children < 0)).any(-1)
                visits = stats[..., 0].astype(jnp.float32)
                n = jnp.maximum(visits, 1.0)  # only unvisited illegal moves have 0
                q = stats[..., 1].astype(jnp.float32) / n
                log_parent = jnp.log(jnp.sum(visits, -1, keepdims=True) + 1.0)
                ucb = q + exploration * jnp.sqrt(log_parent / n)
                a = jnp.argmax(jnp.where(legal, ucb, -jnp.inf), -1).astype(jnp.int32)
                go = active & ~stop
                nx = board.place(x, occ, board.one_hot(a), ply0 + t)
                edge = (base + node) * width + col_stats + 2 * a
                path = jax.lax.dynamic_update_index_in_dim(path, jnp.where(go, edge, size), t, 0)
                child = jnp.take_along_axis(children, a[:, None], -1)[:, 0]
                node = jnp.where(go, child, node)
                xs = jnp.where(go, jnp.stack(nx), xs)
                return t + 1, node, xs, path, go

            zero = jnp.zeros(b, jnp.int32)
            path = jnp.full((depth_cap + 1, b), size, jnp.int32)  # [depth, B] flat edge index
            c = (jnp.int32(0), zero, jnp.stack(x0), path, jnp.ones(b, bool))
            levels, node, xs, path, _ = jax.lax.while_loop(lambda c: c[4].any(), sel_body, c)
            x = [xs[r] for r in range(board.rows)]
            flat = base + node
            rec = rows[flat].astype(jnp.int32)
            depth = jnp.sum(path[:-1] < size, 0)
            ply = ply0 + depth

            # expansion: a random untried move of the selected node (the playout's first move)
            node_status = rec[:, col_status]
            expand = (node_status == 0) & (num < n_nodes)
            tried = jnp.sum(jnp.where(rec[:, :a_n] >= 0, jnp.left_shift(1, arange_a), 0), -1)
            occ = board.occupancy(x)
            untried = board.legal(occ) & ~jnp.where(expand, tried, 0).astype(board.dtype)
            first = board.pick(untried, _mix(sim_seed ^ jnp.uint32(0x5BD1E995)))
            first = jnp.where(node_status == 0, first, 0)

            # simulation: a random playout; z is the result from player 0's view
            final = board.playout(x, ply, node_status, first, sim_seed)
            z = jnp.where(final == 2, 1, jnp.where(final == 3, -1, 0))

            a = board.index(first)
            child_status = board.status(board.wins(board.place(x, occ, first, ply)), ply)
            index = jnp.concatenate([flat * width + a, (base + num) * width + col_status])
            update = jnp.concatenate([num, child_status]).astype(jnp.int16)
            tree = tree.at[jnp.where(jnp.concatenate([expand, expand]), index, size)].set(
                update, mode="drop"
            )
            num = num + expand.astype(jnp.int32)

            # backup: each edge on the path gets a visit and z from its chooser's view
            def backup(d, tree, e):
                z_mover = jnp.where((ply0 + d) & 1 == 0, z, -z)
                index = jnp.concatenate([e, e + 1])
                update = jnp.concatenate([jnp.ones_like(z), z_mover]).astype(jnp.int16)
                return tree.at[index].add(update, mode="drop")

            leaf_edge = jnp.where(expand, flat * width + col_stats + 2 * a, size)
            tree = backup(depth, tree, leaf_edge)
            tree = jax.lax.fori_loop(0, levels, lambda d, tree: backup(d, tree, path[d]), tree)
            return tree, num

        tree, _ = jax.lax.fori_loop(0, num_simulations, simulate, (tree, jnp.ones(b, jnp.int32)))
        root = tree.reshape(b * n_nodes, width)[base, col_stats : col_stats + 2 * a_n]
        root = root.reshape(b, a_n, 2).astype(jnp.int32)
        return root[..., 0], root[..., 1]

    def root_stats(seeds: jax.Array, states: BoardGameState) -> tuple[jax.Array, jax.Array]:
        b = seeds.shape[0]
        if b <= chunk:
            return search(seeds, states)
        # Large batches are searched in chunks, one after another, so that a chunk's trees stay
        # in cache; every game keeps its own seed, so the result does not depend on the chunking.
        n = -(-b // chunk)
        pad = n * chunk - b

        def split(a):
            if pad:
                a = jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)])
            return a.reshape(n, chunk, *a.shape[1:])

        parts = jax.tree.map(split, (seeds, states))
        if pad:  # padding games are finished games: their search stops at once
            done = (jnp.arange(n * chunk) >= b).reshape(n, chunk)
            parts = (parts[0], parts[1].replace(terminated=parts[1].terminated | done))
        visits, values = jax.lax.map(lambda p: search(*p), parts)
        return visits.reshape(n * chunk, a_n)[:b], values.reshape(n * chunk, a_n)[:b]

    def act(key: jax.Array, states: BoardGameState) -> jax.Array:
        b = states.step_count.shape[0]
        seeds = jax.random.bits(key, (b,), jnp.uint32)
        visits, values = root_stats(seeds, states)
        return most_visited(visits, values, states.legal_action_mask)

    act.root_stats = root_stats
    return act


def most_visited(visits: jax.Array, values: jax.Array, legal: jax.Array) -> jax.Array:
    """UCT's final move: the legal root move with the most visits (int32 ``[B]``).

    ``visits``, ``values`` (value sums) and ``legal`` are ``[B, A]``; among equal visit counts
    the better mean value wins (a term worth less than one visit), then the lowest action.
    """
    q = values.astype(jnp.float32) / jnp.maximum(visits, 1).astype(jnp.float32)
    score = jnp.where(legal, visits.astype(jnp.float32) + 0.25 * q, -jnp.inf)
    return jnp.argmax(score, -1).astype(jnp.int32)


# --- minimax -----------------------------------------------------------------------------------
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
    _check_env(env)
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
        x, ply, status = _root(board, states)
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


def _tictactoe_env(env: BoardGame) -> bool:
    return (env.rows, env.cols, env.k, env.num_actions) == (3, 3, 3, 9)


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
    minimax (:func:`solve_tictactoe`) and looked up in JAX; among the value-best moves it
    prefers the fastest win (or slowest loss), ties broken at random.
    """
    _check_env(env)
    if depth is None or (_tictactoe_env(env) and depth >= 9):
        if not _tictactoe_env(env):
            raise ValueError(
                f"depth=None (full depth) is only available for TicTacToe, not {env!r}"
            )
        return _tictactoe_perfect_player(env)
    values_fn = minimax_values(env, depth)

    def act(key: jax.Array, states: BoardGameState) -> jax.Array:
        values = values_fn(states)
        best = values == jnp.max(values, -1, keepdims=True)
        noise = jax.random.uniform(key, values.shape)
        choice = jnp.where(best & states.legal_action_mask, noise, -1.0)
        return jnp.argmax(choice, -1).astype(jnp.int32)

    return act


# --- Tic-Tac-Toe, solved -----------------------------------------------------------------------
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


def _tictactoe_perfect_player(env: BoardGame) -> Player:
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


# --- registry ----------------------------------------------------------------------------------
BASELINES: dict[str, Callable[..., Player]] = {
    "random": random_player,
    "uct": uct_player,
    "alphabeta": alphabeta_player,
}


def make_player(name: str, env: BoardGame, **kwargs) -> Player:
    """A baseline by name (``"random"``, ``"uct"``, ``"alphabeta"``) with its keyword options."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}: allowed {sorted(BASELINES)}")
    return BASELINES[name](env, **kwargs)
