"""Experience replay for the off-policy learners: a uniform buffer and a prioritised one (PER).

Both are built on flashbax's trajectory buffer and live in the training carry: the state is a
pytree of arrays, so it is jitted, vmapped over seeds and checkpointed with the rest of the state::

    replay = make_replay(capacity=100_000, num_envs=4, batch_size=128, min_size=1_000,
                         prioritised=True)
    buffer = replay.init(transition)                 # ONE transition, no batch axes
    buffer = replay.add(buffer, steps)               # leaves [num_envs, T, ...]
    batch = replay.sample(buffer, key, beta)         # batch.steps: [batch_size, seq_len, ...]
    buffer = replay.set_priorities(buffer, batch.indices, td_errors, alpha)

Storage is flashbax's: each env owns a row of ``capacity // num_envs`` time slots written as a
ring, so a sample of ``sequence_length`` consecutive slots of one row is a real stretch of one
env's experience (for n-step returns); sequences that would cross the write head are never drawn.
An *item* is a sequence's start, ``env * (capacity // num_envs) + slot``: what ``sample`` returns
as ``indices`` and ``set_priorities`` takes.

Prioritised replay is proportional PER (Schaul et al. 2016): item ``i`` is drawn with probability
``P(i) = p_i / sum_k p_k``, stratified over the batch, where ``p_i = (|td_i| + eps)^alpha`` and a
new item gets the largest priority stored so far. The priorities live in a sum tree that this
module writes and reads itself, because flashbax's own tree cannot be trusted in float32: it
updates every ancestor by adding the change of a leaf, so the ancestors drift away from the sum
of their leaves (and the leaves from their values). After priorities fall from 1e6 to 1e-3 (TD
errors shrinking as a value function is learnt) in a nearly empty buffer, flashbax 0.1.3's root
held 16.0 for leaves summing to 0.031, and 99.8 % of 512 000 draws were items of priority 0:
unwritten slots and sequences crossing the write head (``python benchmarks/bench_replay.py
--probe``). Here every ancestor of a written leaf is recomputed as the float32 sum of its
children, so a subtree sums to 0 exactly when all its leaves are 0, and the descent never enters
a child whose sum is 0: an item of priority 0 cannot be drawn, whatever the rounding.

Two layouts (``make_replay(sampler=...)``), both exact in that sense:

- ``"wide"`` (the default): :data:`BRANCH` = 32 children per node (:class:`PrioritisedReplayState`),
  so 100 000 items take 4 levels, each read as one gather of ``[K, 32]`` and searched with a
  prefix sum of 5 elementwise steps. XLA:CPU pays per operation far more than per element, and
  the descent and the updates are chains of small operations, one link per level.
- ``"binary"``: flashbax's ``SumTreeState`` layout, 17 levels for 100 000 items, walked by
  ``fori_loop`` loops.

A flat priority array sampled through ``cumsum`` + ``searchsorted`` was tried and dropped: at
100 000 items it added 1.5 to 3 ms per update, XLA:CPU's prefix sums (``reduce_window`` or
``associative_scan``) being that slow, and its float32 prefix sums erred by 7e-4 in total
variation (``"wide"``: 1e-6).

What replay costs inside a training step (``python benchmarks/bench_replay.py`` and
``--capacities``; 2026-12-03, the 2-core CPU box shared with other agents, load average 5 to 7):
the marginal microseconds per DQN update (MLP 64x64, batch 128, Adam; add 4 transitions, sample
128, set 128 priorities, under the learner's ``lax.cond``, all in one scanned program) over the
same update without replay (about 250 to 300 us), medians of 9 interleaved repeats, wall time
(the CPU-time ratios within 8 points of these; uniform 7 %); the two tables are separate runs::

    capacity 100 000           marginal   of a step
    uniform (this module)          6 us        2 %
    uniform (flashbax 0.1.3)      74 us       25 %
    PER "wide"                   201 us       68 %
    PER "binary"                 418 us      143 %
    PER (flashbax 0.1.3)         260 us       89 %   (and it can draw priority-0 items)

    PER by capacity          10 000    100 000    1 000 000
    "wide"                    156 us     220 us      347 us
    "binary"                   92 us     324 us      434 us

So the uniform buffer is under the issue's tenth of a step; the prioritised one is not, with
either layout: "wide" (the default) is the faster from 100 000 items up, "binary" at 10 000. The
float32 error of both is small (``--accuracy``, priorities over 6 decades, a tenth of them 0):
total variation from float64 by hand about 1e-6 ("wide") and 1e-7 ("binary") at every capacity,
the largest relative error of an item's probability 1e-3 ("wide") and up to 1.5e-2 ("binary",
at 1e6), no mass on priority-0 items.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flashbax.buffers import trajectory_buffer as fbx
from flashbax.buffers.prioritised_trajectory_buffer import (
    PrioritisedTrajectoryBufferState,
    prioritised_init,
)
from flashbax.buffers.trajectory_buffer import TrajectoryBufferState
from flax import struct

from rljax.learning.sum_trees import (
    last_occurrences,
    level_sizes,
    level_starts,
    sample_leaves,
    sample_wide,
    set_leaves,
    set_wide,
)


@chex.dataclass(frozen=True)
class PrioritisedReplayState(TrajectoryBufferState):
    """The prioritised buffer's state with ``sampler="wide"``: flashbax's storage and counters
    (``experience``, ``current_index``, ``is_full``) and the priorities in a sum tree of
    :data:`BRANCH` children per node.

    sums: ``[sum(level_sizes(capacity))]`` float32, the tree's levels one after another, the
        root's children first and the leaves last (:func:`wide_levels` splits them); each level a
        multiple of :data:`BRANCH` long (zero-padded), node ``j`` of a level having children
        ``j * BRANCH ... j * BRANCH + BRANCH - 1`` in the next. One array, so that the updates
        run as one ``fori_loop`` over it in place (as separate arrays, XLA:CPU copied the leaves
        twice per update inside a ``lax.cond``, which at capacity 1e6 cost more than the rest
        of a DQN update). The leaves are the
        priorities, item ``env * (capacity // num_envs) + slot``; 0 marks an item that must not
        be drawn (unwritten, or a sequence crossing the write head). Every inner node is the
        float32 sum of its children, recomputed (never updated by differences) when one changes.
    max_recorded_priority: float32 scalar, the largest priority set so far (1 at first): what new
        items get.
    running_index: int32 scalar, the env steps added per env, never wrapped.
    """

    sums: jax.Array
    max_recorded_priority: jax.Array
    running_index: jax.Array


# flashbax's states: experience [num_envs, capacity // num_envs, ...], current_index (int32, the
# next slot), is_full (bool); the prioritised ones add the priorities (the "wide" sum tree, or one
# in flashbax's layout for sampler="binary") and running_index (int32, the steps added per env,
# never wrapped).
ReplayState = TrajectoryBufferState | PrioritisedReplayState | PrioritisedTrajectoryBufferState

SAMPLERS = ("wide", "binary")

# Stored priorities are at least the smallest normal float32, so that an item that may be drawn
# never has priority 0 (which marks the items that must not be: unwritten or broken sequences)
# even when (|td| + eps)^alpha underflows.
MIN_PRIORITY = float(np.finfo(np.float32).tiny)


@struct.dataclass
class ReplaySample:
    """A batch from :meth:`Replay.sample`.

    steps: the stored transition pytree, leaves ``[batch_size, sequence_length, ...]``: consecutive
        env steps of one env, oldest first.
    indices: ``[batch_size]`` int32 items (sequence starts), what :meth:`Replay.set_priorities`
        takes.
    weights: ``[batch_size]`` float32 importance-sampling weights in ``(0, 1]``; all 1 for the
        uniform buffer.
    """

    steps: Any
    indices: jax.Array
    weights: jax.Array


def linear_schedule(
    start: jax.Array | float, end: jax.Array | float, step: jax.Array | int, num_steps: int
) -> jax.Array:
    """``start`` at ``step`` 0, linear to ``end`` at ``num_steps``, then ``end`` (float32 scalar).

    For PER's beta (annealed towards 1) and alpha; ``start``, ``end`` and ``step`` may be traced.
    ``num_steps`` 0 gives ``end`` from the start.
    """
    if not isinstance(num_steps, int | np.integer) or isinstance(num_steps, bool) or num_steps < 0:
        raise ValueError(f"linear_schedule: num_steps={num_steps!r} must be an integer >= 0")
    start = jnp.asarray(start, jnp.float32)
    end = jnp.asarray(end, jnp.float32)
    if num_steps == 0:
        return end + 0.0 * start
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / num_steps, 0.0, 1.0)
    return start + frac * (end - start)


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is an integer >= 1, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"make_replay: {name}={value!r} must be an integer >= 1")
    return int(value)


@dataclasses.dataclass(frozen=True)
class Replay:
    """A replay buffer's static settings and its pure functions (hashable: closes over in jit).

    Build it with :func:`make_replay`, which documents the fields; they are checked on
    construction.
    """

    capacity: int
    num_envs: int
    batch_size: int
    min_size: int
    sequence_length: int = 1
    prioritised: bool = False
    priority_eps: float = 1e-6
    sampler: str = "wide"

    def __post_init__(self) -> None:
        for name in ("capacity", "num_envs", "batch_size", "min_size", "sequence_length"):
            positive_int(name, getattr(self, name))
        if self.capacity % self.num_envs:
            raise ValueError(
                f"make_replay: capacity={self.capacity} must be a multiple of "
                f"num_envs={self.num_envs} (each env owns capacity // num_envs slots)"
            )
        if self.batch_size > self.capacity:
            raise ValueError(
                f"make_replay: batch_size={self.batch_size} must be <= capacity={self.capacity}"
            )
        if self.min_size > self.capacity:
            raise ValueError(
                f"make_replay: min_size={self.min_size} must be <= capacity={self.capacity}"
            )
        if self.sequence_length > self.slots:
            raise ValueError(
                f"make_replay: sequence_length={self.sequence_length} must be <= capacity // "
                f"num_envs = {self.slots} (the steps each env keeps)"
            )
        if not isinstance(self.prioritised, bool):
            raise ValueError(f"make_replay: prioritised={self.prioritised!r} must be a bool")
        eps = self.priority_eps
        if isinstance(eps, bool) or not isinstance(eps, float | int) or not 0 < eps < math.inf:
            raise ValueError(f"make_replay: priority_eps={eps!r} must be a number > 0")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"make_replay: sampler={self.sampler!r} must be one of {SAMPLERS}")

    @property
    def slots(self) -> int:
        """Time slots per env: ``capacity // num_envs``."""
        return self.capacity // self.num_envs

    def init(self, example_step: Any) -> ReplayState:
        """An empty buffer for transitions like ``example_step`` (one step, no batch axes)."""
        example = jax.tree.map(
            lambda x: jnp.zeros(jnp.shape(x), jnp.asarray(x).dtype), example_step
        )
        if not self.prioritised:
            return fbx.init(example, self.num_envs, self.slots)
        if self.sampler == "binary":
            return prioritised_init(example, self.num_envs, self.slots, period=1)
        storage = fbx.init(example, self.num_envs, self.slots)
        return PrioritisedReplayState(
            experience=storage.experience,
            current_index=storage.current_index,
            is_full=storage.is_full,
            sums=jnp.zeros(sum(level_sizes(self.capacity)), jnp.float32),
            max_recorded_priority=jnp.float32(1.0),
            running_index=jnp.int32(0),
        )

    def priorities_of(self, state: ReplayState, items: jax.Array) -> jax.Array:
        """The stored priorities ``[K]`` (float32) of ``items [K]`` (prioritised only)."""
        if self.sampler == "binary":
            tree = state.sum_tree_state
            return tree.nodes[2**tree.tree_depth - 1 + items]
        return state.sums[level_starts(self.capacity)[-1] + items]

    def max_priority(self, state: ReplayState) -> jax.Array:
        """The largest priority set so far (float32 scalar; prioritised only)."""
        if self.sampler == "binary":
            return state.sum_tree_state.max_recorded_priority
        return state.max_recorded_priority

    def write_priorities(
        self, state: ReplayState, items: jax.Array, values: jax.Array, keep: jax.Array
    ) -> ReplayState:
        """Sets the priorities of ``items [K]`` to ``values [K]`` where ``keep [K]``; items
        repeated among the kept ones must carry one value."""
        if self.sampler == "binary":
            tree = set_leaves(state.sum_tree_state, items, values, keep)
            return state.replace(sum_tree_state=tree)
        values = values.astype(jnp.float32)
        return state.replace(sums=set_wide(state.sums, self.capacity, items, values, keep))

    def with_max_priority(self, state: ReplayState, value: jax.Array) -> ReplayState:
        """``state`` with the largest priority so far raised to ``value`` if below."""
        if self.sampler == "binary":
            tree = state.sum_tree_state
            highest = jnp.maximum(tree.max_recorded_priority, value)
            return state.replace(sum_tree_state=tree.replace(max_recorded_priority=highest))
        return state.replace(max_recorded_priority=jnp.maximum(state.max_recorded_priority, value))

    def add(self, state: ReplayState, steps: Any) -> ReplayState:
        """Appends ``steps`` (leaves ``[num_envs, T, ...]``, T >= 1 env steps, T <= capacity //
        num_envs), overwriting each env's oldest; new items get the largest priority so far."""
        num_steps = self.check_steps(state, steps)
        new = fbx.add(state, steps)
        if not self.prioritised:
            return new
        written, complete = self.new_items(state.running_index, num_steps)
        items = jnp.concatenate([written[0], complete[0]], axis=1).reshape(-1)
        values = jnp.concatenate([written[1], complete[1]], axis=1).reshape(-1)
        keep = jnp.concatenate([written[2], complete[2]], axis=1).reshape(-1)
        values = values * self.max_priority(state)
        new = self.write_priorities(new, items, values, keep)
        return new.replace(running_index=state.running_index + num_steps)

    def new_items(
        self, running_index: jax.Array, num_steps: int
    ) -> tuple[tuple[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
        """The items whose validity an add of ``num_steps`` per env changes, as two windows of
        ``(items [E, n], valid [E, n] float32 (1 = max priority, 0 = never draw), keep [E, n])``.

        With ``r`` steps per env added before and ``r' = r + num_steps`` after, the item in a slot
        is the newest sequence starting there, and it may be drawn when all its steps are written
        (start + sequence_length <= r'). An add changes two sets: the slots it writes (their
        sequences start anew, valid only if they also end within this add) and the sequences that
        started before it and end within it (unless this add overwrote their start).
        """
        seq, slots = self.sequence_length, self.slots
        rows = jnp.arange(self.num_envs, dtype=jnp.int32)[:, None] * slots
        j = jnp.arange(num_steps, dtype=jnp.int32)
        written_valid = (j + seq <= num_steps).astype(jnp.float32)
        written = (
            rows + (running_index + j) % slots,
            jnp.broadcast_to(written_valid, (self.num_envs, num_steps)),
            jnp.ones((self.num_envs, num_steps), bool),
        )
        k = jnp.arange(min(num_steps, seq - 1), dtype=jnp.int32)
        start = running_index - (seq - 1) + k  # < running_index: these began before this add
        alive = (start >= 0) & (start >= running_index + num_steps - slots)
        complete = (
            rows + start % slots,
            jnp.ones((self.num_envs, k.size), jnp.float32),
            jnp.broadcast_to(alive, (self.num_envs, k.size)),
        )
        return written, complete

    def check_steps(self, state: ReplayState, steps: Any) -> int:
        """``T``, the env steps per env in ``steps``, after checking it matches the buffer."""
        stored = state.experience
        if jax.tree.structure(steps) != jax.tree.structure(stored):
            raise ValueError(
                f"Replay.add: steps has structure {jax.tree.structure(steps)}, the buffer stores "
                f"{jax.tree.structure(stored)} (the example_step given to init)"
            )
        lengths = set()
        for leaf, buf in zip(jax.tree.leaves(steps), jax.tree.leaves(stored), strict=True):
            want = (self.num_envs, "T", *buf.shape[2:])
            if jnp.ndim(leaf) != buf.ndim or leaf.shape[0] != self.num_envs:
                raise ValueError(f"Replay.add: a leaf of shape {jnp.shape(leaf)} must be {want}")
            if leaf.shape[2:] != buf.shape[2:] or leaf.dtype != buf.dtype:
                raise ValueError(
                    f"Replay.add: a leaf {leaf.dtype}{list(leaf.shape)} must be "
                    f"{buf.dtype}{list(want)}"
                )
            lengths.add(leaf.shape[1])
        if len(lengths) != 1:
            raise ValueError(f"Replay.add: the leaves have different T: {sorted(lengths)}")
        (num_steps,) = lengths
        if not 1 <= num_steps <= self.slots:
            raise ValueError(
                f"Replay.add: T={num_steps} steps per env must be in [1, capacity // num_envs = "
                f"{self.slots}]"
            )
        return num_steps

    def size(self, state: ReplayState) -> jax.Array:
        """Transitions stored (int32 scalar), at most ``capacity``."""
        per_env = jnp.where(state.is_full, self.slots, state.current_index)
        return (per_env * self.num_envs).astype(jnp.int32)

    def can_sample(self, state: ReplayState) -> jax.Array:
        """Bool scalar: at least ``min_size`` transitions and ``sequence_length`` steps per env."""
        per_env = max(self.sequence_length, -(-self.min_size // self.num_envs))
        return fbx.can_sample(state, per_env)

    def sample(
        self, state: ReplayState, key: jax.Array, beta: jax.Array | float = 1.0
    ) -> ReplaySample:
        """``batch_size`` sequences, drawn with replacement (only when :meth:`can_sample`).

        Uniform: each item that may be drawn equally likely, independently. Prioritised: one draw
        in each of ``batch_size`` equal strata of the priority mass (Schaul et al.'s stratified
        sampling), with importance-sampling weights ``w_i = (N P(i))^-beta / max_j w_j``, the max
        over this batch's items (so ``w_i = (p_min / p_i)^beta`` and N cancels). The batch max
        rather than the buffer-wide one (Schaul et al.'s) costs nothing, bounds the weights by 1
        without a min-tree, and keeps one stale tiny priority elsewhere in the buffer from
        shrinking every update. ``beta`` (float32, may be traced) is ignored when uniform.
        """
        if self.prioritised:
            u = jax.random.uniform(key, (self.batch_size,), jnp.float32)
            u = (jnp.arange(self.batch_size, dtype=jnp.float32) + u) / self.batch_size
            if self.sampler == "binary":
                items = sample_leaves(state.sum_tree_state, u)
            else:
                items = sample_wide(state.sums, self.capacity, u)
            p = self.priorities_of(state, items)
            # p is 0 only for a buffer that cannot be sampled yet: weights 1 keep it finite
            weights = jnp.where(p > 0, jnp.min(p) / p, 1.0) ** jnp.asarray(beta, jnp.float32)
        else:
            written = jnp.where(state.is_full, self.slots, state.current_index)
            oldest = jnp.where(state.is_full, state.current_index, 0)
            num_starts = jnp.maximum(written - self.sequence_length + 1, 1)
            # one draw over (env, start) pairs: one randint compiles in half the time of two
            pair = jax.random.randint(key, (self.batch_size,), 0, self.num_envs * num_starts)
            env, start = pair // num_starts, pair % num_starts
            items = env * self.slots + (oldest + start) % self.slots
            weights = jnp.ones((self.batch_size,), jnp.float32)
        items = items.astype(jnp.int32)
        return ReplaySample(self.gather(state, items), items, weights)

    def gather(self, state: ReplayState, items: jax.Array) -> Any:
        """The sequences starting at ``items [B]``: leaves ``[B, sequence_length, ...]``."""
        env = items // self.slots
        times = (items[:, None] % self.slots + jnp.arange(self.sequence_length)) % self.slots
        return jax.tree.map(lambda x: x[env[:, None], times], state.experience)

    def set_priorities(
        self,
        state: ReplayState,
        indices: jax.Array,
        td_errors: jax.Array,
        alpha: jax.Array | float,
    ) -> ReplayState:
        """Sets the sampled items' priorities to ``(|td_errors| + priority_eps)^alpha``.

        ``indices [B]`` from :attr:`ReplaySample.indices`, ``td_errors [B]``; ``alpha`` (float32,
        may be traced and annealed) in ``[0, 1]``, 0 being uniform. An item that may no longer
        be drawn (overwritten, or now crossing the write head, since it was sampled) stays so.
        A NaN or infinite TD error would make the sums NaN: divergence must be caught before.
        A no-op for the uniform buffer.
        """
        if not self.prioritised:
            return state
        indices = jnp.asarray(indices, jnp.int32)
        priorities = (jnp.abs(td_errors).astype(jnp.float32) + self.priority_eps) ** jnp.asarray(
            alpha, jnp.float32
        )
        priorities = jnp.maximum(priorities, MIN_PRIORITY)
        keep = self.priorities_of(state, indices) > 0
        keep = last_occurrences(indices, keep)  # of an item drawn twice, the last value counts
        state = self.write_priorities(state, indices, priorities, keep)
        return self.with_max_priority(state, jnp.max(jnp.where(keep, priorities, 0.0)))


def make_replay(
    *,
    capacity: int,
    num_envs: int,
    batch_size: int,
    min_size: int,
    sequence_length: int = 1,
    prioritised: bool = False,
    priority_eps: float = 1e-6,
    sampler: str = "wide",
) -> Replay:
    """A uniform or prioritised replay buffer (see the module docstring).

    capacity: transitions kept in total, over all envs (a multiple of ``num_envs``).
    num_envs: envs added per env step (the leading axis of what :meth:`Replay.add` takes).
    batch_size: sequences per :meth:`Replay.sample` (at most ``capacity``).
    min_size: transitions stored before :meth:`Replay.can_sample` is true (at most ``capacity``).
    sequence_length: consecutive steps of one env per sample: 1 for one-step DQN/SAC, n + 1 for
        n-step returns (the learner computes them from the sequence); at most
        ``capacity // num_envs``.
    prioritised: proportional PER instead of uniform sampling.
    priority_eps: added to ``|td|`` before the exponent, so no item's priority vanishes (> 0).
    sampler: how the prioritised buffer keeps and draws its priorities: ``"wide"`` a sum tree of
        :data:`BRANCH` children per node (the faster from 100 000 items up), ``"binary"`` a binary
        one in flashbax's layout (the faster at 10 000); both exact, never drawing an item of
        priority 0 (see the module docstring for the measurements).

    Raises ValueError naming the offending value.
    """
    return Replay(
        capacity=capacity,
        num_envs=num_envs,
        batch_size=batch_size,
        min_size=min_size,
        sequence_length=sequence_length,
        prioritised=prioritised,
        priority_eps=priority_eps,
        sampler=sampler,
    )
