"""Exact float32 sum trees for prioritised replay (:mod:`rljax.learning.replay`).

Two layouts over ``capacity`` leaf priorities: flashbax's binary tree (``SumTreeState``), written
and read here so that every parent is recomputed from its children (:func:`set_leaves`,
:func:`sample_leaves`), and a "wide" tree of :data:`BRANCH` children per node stored in one flat
array (:func:`set_wide`, :func:`sample_wide`). In both, a descent never enters a child whose sum
is 0, so an item of priority 0 cannot be drawn whatever the float32 rounding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flashbax.buffers import sum_tree

# Children per node of the "wide" sum tree: 4 levels for 100 000 items instead of a binary tree's
# 17, and each level one gather of [K, BRANCH] (XLA:CPU pays per operation, not per element).
BRANCH_BITS = 5
BRANCH = 2**BRANCH_BITS


def child_pairs(nodes: jax.Array, left: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(nodes[left], nodes[left + 1])``, each ``[K]``, read as one slice of 2 per index (on the
    CPU a third faster than two gathers of single elements)."""
    pairs = jax.vmap(lambda i: jax.lax.dynamic_slice_in_dim(nodes, i, 2))(left)
    return pairs[:, 0], pairs[:, 1]


def set_leaves(
    tree: sum_tree.SumTreeState, items: jax.Array, values: jax.Array, keep: jax.Array
) -> sum_tree.SumTreeState:
    """Sets leaves ``items [K]`` (int32) to ``values [K]`` (float32 >= 0) where ``keep [K]``.

    Items repeated among the kept ones must carry one value (:meth:`Replay.set_priorities`
    ensures it): a scatter with duplicate indices leaves the choice to the backend. Every
    ancestor of a written leaf is then recomputed, level by level, as the float32 sum of its two
    children: unlike flashbax's incremental update, nothing drifts, and a subtree's sum is 0
    exactly when all its leaves are. ``max_recorded_priority`` is left alone. O(K depth).
    """
    depth, nodes = tree.tree_depth, tree.nodes
    dropped = nodes.shape[0]  # an out-of-range index: the scatter drops it
    items = jnp.where(keep, items, 0)
    nodes = nodes.at[jnp.where(keep, 2**depth - 1 + items, dropped)].set(
        values.astype(nodes.dtype), mode="drop"
    )

    def parents(i, nodes):  # level depth - 1 - i, from the leaves' parents up to the root
        shift = i + 1
        first = jnp.left_shift(1, depth - shift) - 1  # the level's first node
        pos = items >> shift
        left, right = child_pairs(nodes, 2 * first + 1 + 2 * pos)
        # duplicates of a parent write the same sum, so their order does not matter
        return nodes.at[jnp.where(keep, first + pos, dropped)].set(left + right, mode="drop")

    if depth:  # a one-leaf tree is its own root
        nodes = jax.lax.fori_loop(0, depth, parents, nodes)
    return tree.replace(nodes=nodes)


def last_occurrences(items: jax.Array, keep: jax.Array) -> jax.Array:
    """``keep [K]`` narrowed to the last kept occurrence of each item (``[K, K]`` comparisons:
    for batch-sized K, cheaper on the CPU than sorting)."""
    k = jnp.arange(items.shape[0])
    later = (items[None, :] == items[:, None]) & keep[None, :] & (k[None, :] > k[:, None])
    return keep & ~later.any(axis=1)


def sample_leaves(tree: sum_tree.SumTreeState, u: jax.Array) -> jax.Array:
    """Items ``[B]`` (int32) drawn by descending the tree with ``u [B]`` in ``[0, 1)``.

    Item ``i`` is reached for ``u`` in a stretch of width ``p_i / total``. The descent goes right
    only into a child of positive sum, and a node of positive sum always has one, so when the
    root is positive an item of priority 0 is never returned, even where rounding leaves the
    running query past the end of its subtree (it then stays in the last non-empty child).
    """
    nodes = tree.nodes

    def descend(level, carry):
        query, pos = carry
        left, right = child_pairs(nodes, jnp.left_shift(1, level) - 1 + 2 * pos)
        # left == 0 implies query >= left and (for a positive node) right > 0
        go_right = (query >= left) & (right > 0)
        return jnp.where(go_right, query - left, query), 2 * pos + go_right.astype(jnp.int32)

    start = (u * nodes[0], jnp.zeros(u.shape, jnp.int32))
    if not tree.tree_depth:  # a one-leaf tree: that leaf
        return start[1]
    return jax.lax.fori_loop(1, tree.tree_depth + 1, descend, start)[1]


def level_sizes(capacity: int) -> tuple[int, ...]:
    """The lengths of the "wide" tree's levels for ``capacity`` leaves, the root's children first:
    each a multiple of :data:`BRANCH`, the first exactly :data:`BRANCH`."""
    sizes = [-(-capacity // BRANCH) * BRANCH]
    while sizes[0] > BRANCH:
        sizes.insert(0, -(-(sizes[0] // BRANCH) // BRANCH) * BRANCH)
    return tuple(sizes)


def level_starts(capacity: int) -> tuple[int, ...]:
    """Where each level of the "wide" tree starts in its flat array (:func:`level_sizes`)."""
    return tuple(int(x) for x in np.cumsum((0,) + level_sizes(capacity))[:-1])


def wide_levels(sums: jax.Array, capacity: int) -> tuple[jax.Array, ...]:
    """The "wide" tree's flat array ``sums`` split into its levels, the leaves last (for
    inspection; the tree's own functions index the flat array)."""
    return tuple(
        sums[start : start + size]
        for start, size in zip(level_starts(capacity), level_sizes(capacity), strict=True)
    )


def children_of(sums: jax.Array, first: jax.Array) -> jax.Array:
    """``[K, BRANCH]``: the :data:`BRANCH` nodes of ``sums`` from each ``first [K]`` on."""
    return jax.vmap(lambda j: jax.lax.dynamic_slice_in_dim(sums, j, BRANCH))(first)


def set_wide(
    sums: jax.Array, capacity: int, items: jax.Array, values: jax.Array, keep: jax.Array
) -> jax.Array:
    """The "wide" tree ``sums`` with leaves ``items [K]`` set to ``values [K]`` (float32) where
    ``keep [K]``; items repeated among the kept ones must carry one value. Each ancestor of a
    written leaf is then recomputed, level by level up, as the float32 sum of its children, so it
    is 0 exactly when they all are.
    """
    starts, dropped = level_starts(capacity), sums.shape[0]  # dropped: out of range, not written
    sums = sums.at[jnp.where(keep, starts[-1] + items, dropped)].set(values, mode="drop")
    first = jnp.asarray(starts, jnp.int32)

    def parents(i, sums):  # level len(starts) - 2 - i, from the leaves' parents up
        level = len(starts) - 2 - i
        nodes = jnp.right_shift(items, BRANCH_BITS * (i + 1))
        total = row_sums(children_of(sums, first[level + 1] + nodes * BRANCH))
        # duplicates of a parent write the same sum, so their order does not matter
        return sums.at[jnp.where(keep, first[level] + nodes, dropped)].set(total, mode="drop")

    return jax.lax.fori_loop(0, len(starts) - 1, parents, sums)


def row_sums(children: jax.Array) -> jax.Array:
    """``[K, BRANCH] -> [K]``: each row's sum, added pairwise by elementwise adds, so the same
    bits under jit, vmap or any backend (a reduction's order is the compiler's choice)."""
    while children.shape[1] > 1:
        children = children[:, 0::2] + children[:, 1::2]
    return children[:, 0]


def row_prefix(children: jax.Array) -> jax.Array:
    """``[K, BRANCH] -> [K, BRANCH]``: inclusive prefix sums along each row by log2(BRANCH)
    shifted elementwise adds (Hillis-Steele): few operations, and the same bits everywhere."""
    shift = 1
    while shift < children.shape[1]:
        children = children + jnp.pad(children, ((0, 0), (shift, 0)))[:, :-shift]
        shift *= 2
    return children


def pick_child(children: jax.Array, query: jax.Array) -> tuple[jax.Array, jax.Array]:
    """For ``children [K, BRANCH]`` (float32 >= 0, each row with a positive one) and ``query [K]``
    in ``[0, row total)``: the child ``[K]`` (int32) whose stretch of the row's prefix sums holds
    the query, and the query within that child.

    Child ``j``'s stretch is ``[c_{j-1}, c_j)``, ``c`` the rows' prefix sums (:func:`row_prefix`).
    What keeps a child of value 0 from being drawn is the rule itself, not the rounding: the first
    child of positive value whose ``c_j`` exceeds the query, the query clamped strictly below the
    largest such ``c_j``. One always exists; rounding can only move the stretches' ends.
    """
    through = row_prefix(children)
    before = jnp.pad(through, ((0, 0), (1, 0)))[:, :-1]
    positive = children > 0
    total = jnp.max(jnp.where(positive, through, 0.0), axis=1)
    query = jnp.clip(query, 0.0, jnp.nextafter(total, jnp.float32(0)))
    order = jnp.arange(BRANCH, dtype=jnp.int32)  # the first index: a min, cheaper than argmax
    child = jnp.min(jnp.where(positive & (through > query[:, None]), order, BRANCH - 1), axis=1)
    start = jnp.take_along_axis(before, child[:, None], axis=1)[:, 0]
    return child, query - start


def sample_wide(sums: jax.Array, capacity: int, u: jax.Array) -> jax.Array:
    """Items ``[B]`` (int32) drawn from the "wide" tree ``sums`` with ``u [B]`` in ``[0, 1)``:
    item ``i`` with probability ``p_i / sum(p)`` up to float32 rounding, never an item of priority
    0 while any is positive (:func:`pick_child`). When all are 0 (a buffer that cannot be sampled
    yet) the items are arbitrary, in ``[0, capacity)``."""
    starts = level_starts(capacity)
    top = jnp.broadcast_to(sums[:BRANCH], (u.shape[0], BRANCH))  # the root's children
    nodes, query = pick_child(top, u * row_sums(sums[None, :BRANCH])[0])
    for start in starts[1:]:
        child, query = pick_child(children_of(sums, start + nodes * BRANCH), query)
        nodes = nodes * BRANCH + child
    return jnp.minimum(nodes, capacity - 1)
