"""UCT: Monte Carlo tree search with UCB1 selection and random rollouts, batched over games.

:func:`uct_player` searches one tree per game, all games in lockstep, on
:class:`~rljax.games.lean_board.LeanBoard`; :func:`most_visited` turns its root statistics
(visits and value sums ``[B, A]``) into the move played.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from rljax.envs.board_game import BoardGame, BoardGameState
from rljax.games.lean_board import GOLDEN, LeanBoard, mix, root_position
from rljax.games.player_contract import Player, check_env

MAX_UCT_SIMULATIONS = 32_766  # visit counts and node ids are int16 in the UCT tree


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
    check_env(env)
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
        x0, ply0, root_status = root_position(board, states)
        b = ply0.shape[0]
        base = jnp.arange(b, dtype=jnp.int32) * n_nodes  # row of each game's root
        size = b * n_nodes * width  # flat index past the end: dropped by scatters
        tree = jnp.broadcast_to(jnp.asarray(template), (b * n_nodes, width))
        tree = tree.at[base, col_status].set(root_status.astype(jnp.int16)).reshape(-1)

        def simulate(i, carry):
            tree, num = carry
            sim_seed = mix(seeds ^ mix(jnp.uint32(i) * jnp.uint32(GOLDEN) + jnp.uint32(1)))
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
            first = board.pick(untried, mix(sim_seed ^ jnp.uint32(0x5BD1E995)))
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
