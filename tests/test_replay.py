"""rljax.learning.replay: sequences are real consecutive steps of one env, sampling frequencies
(uniform and prioritised) match their targets, importance weights by hand, priorities that change
what is drawn, an item of priority 0 never drawn (adversarial layouts), vmap over seeds, a
bitwise checkpoint round trip and the validation errors."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import checkpoint
from rljax.learning.replay import ReplaySample, linear_schedule, make_replay
from rljax.learning.sum_trees import BRANCH, level_sizes, sample_wide, set_wide, wide_levels

EXAMPLE = {"env": jnp.int32(0), "t": jnp.int32(0), "obs": jnp.zeros(4, jnp.float32)}


def steps(num_envs: int, first: int, num_steps: int) -> dict:
    """Env steps ``first .. first + num_steps - 1`` of every env: ``t`` counts from 1 (0 means an
    unwritten slot), ``obs`` is a function of (env, t) so gathers of it can be checked too."""
    t = jnp.broadcast_to(
        jnp.arange(first, first + num_steps, dtype=jnp.int32) + 1, (num_envs, num_steps)
    )
    env = jnp.broadcast_to(jnp.arange(num_envs, dtype=jnp.int32)[:, None], t.shape)
    obs = (100 * env + t).astype(jnp.float32)[..., None] * jnp.arange(1, 5, dtype=jnp.float32)
    return {"env": env, "t": t, "obs": obs}


NUM_BATCHES = 500  # batches per draw: frequencies over NUM_BATCHES * batch_size items


class Compiled:
    """A replay and its jitted functions, compiled once per configuration (module-scoped)."""

    def __init__(self, replay):
        self.replay = replay
        self.init = jax.jit(lambda: replay.init(EXAMPLE))
        self.add = jax.jit(replay.add)
        self.set = jax.jit(replay.set_priorities)
        # NUM_BATCHES batches at once (leaves [NUM_BATCHES, batch_size, ...]); one compilation
        # serves the single-batch checks too (batch [0])
        self.draw = jax.jit(
            lambda state, key, beta=1.0: jax.vmap(replay.sample, (None, 0, None))(
                state, jax.random.split(key, NUM_BATCHES), beta
            )
        )

    def sample(self, state, key, beta=1.0) -> ReplaySample:
        return jax.tree.map(lambda x: x[0], self.draw(state, key, beta))

    def items(self, state, key) -> np.ndarray:
        return np.asarray(self.draw(state, key).indices).ravel()

    def filled(self, num_steps: int, chunk: int = 1):
        state, added = self.init(), 0
        while added < num_steps:
            t = min(chunk, num_steps - added)
            state = self.add(state, steps(self.replay.num_envs, added, t))
            added += t
        return state


def compiled(**kwargs) -> Compiled:
    """The compiled functions of ``make_replay(**kwargs)``, once per distinct replay."""
    return compiled_replay(make_replay(**kwargs))


@functools.cache
def compiled_replay(replay) -> Compiled:
    return Compiled(replay)


UNIFORM = dict(capacity=16, num_envs=2, batch_size=16, min_size=4, sequence_length=2)
PER = dict(capacity=16, num_envs=2, batch_size=16, min_size=4, sequence_length=1, prioritised=True)
# 128 slots per env: nearly empty at first, and 500 batches of 64 draw 32 000 items per call
PER_SEQ3 = dict(
    capacity=256, num_envs=2, batch_size=64, min_size=2, sequence_length=3, prioritised=True
)
PER_SEQ3_BINARY = {**PER_SEQ3, "sampler": "binary"}
CONFIGS = pytest.mark.parametrize(
    "config",
    [UNIFORM, PER, PER_SEQ3, PER_SEQ3_BINARY],
    ids=["uniform-seq2", "per-seq1", "per-seq3", "per-seq3-binary"],
)
# the prioritised checks, for both samplers: the 32-ary sum tree (default) and the binary one
SAMPLERS = pytest.mark.parametrize("sampler", ["wide", "binary"])


def leaves(state) -> np.ndarray:
    """The stored priorities ``[capacity]``, of either sampler's layout."""
    if hasattr(state, "sums"):  # the wide tree's leaves, zero-padded to a multiple of 32
        capacity = state.experience["t"].size
        return np.asarray(wide_levels(state.sums, capacity)[-1][:capacity])
    tree = state.sum_tree_state
    return np.asarray(tree.nodes[2**tree.tree_depth - 1 :])


def valid_items(replay, state) -> np.ndarray:
    """By hand from the stored counters: item (env, slot) may be drawn iff its slot is written and
    the next sequence_length - 1 slots (cyclically) hold that env's following steps."""
    t = np.asarray(state.experience["t"])  # [E, L]
    slots = replay.slots
    ok = np.zeros(replay.num_envs * slots, bool)
    for e in range(replay.num_envs):
        for p in range(slots):
            seq = t[e, (p + np.arange(replay.sequence_length)) % slots]
            ok[e * slots + p] = seq[0] > 0 and (np.diff(seq) == 1).all()
    return ok


def chi_square(counts: np.ndarray, expected: np.ndarray) -> float:
    return float(((counts - expected) ** 2 / expected).sum())


def chi_square_bound(df: int) -> float:
    # about 6 standard deviations above the mean of a chi-square with df degrees of freedom
    return df + 6 * np.sqrt(2 * df)


@CONFIGS
def test_shapes_and_dtypes(config):
    c = compiled(**config)
    seq, batch_size = config["sequence_length"], config["batch_size"]
    state = c.filled(6, chunk=3)  # T = 3, twice
    assert int(c.replay.size(state)) == 12 and bool(c.replay.can_sample(state))
    batch = c.sample(state, jax.random.key(0))
    assert isinstance(batch, ReplaySample)
    assert batch.steps["obs"].shape == (batch_size, seq, 4)
    assert batch.steps["obs"].dtype == jnp.float32
    assert batch.steps["t"].shape == (batch_size, seq) and batch.steps["t"].dtype == jnp.int32
    assert batch.indices.shape == (batch_size,) and batch.indices.dtype == jnp.int32
    assert batch.weights.shape == (batch_size,) and batch.weights.dtype == jnp.float32
    state = c.set(state, batch.indices, jnp.ones(batch_size), 0.6)
    assert jax.tree.structure(state) == jax.tree.structure(c.init())


def test_size_and_can_sample_count_transitions():
    c = compiled(**PER_SEQ3)  # 2 envs x 128 slots, min_size 2 but 3 steps per env needed
    state = c.init()
    sizes, ready = [], []
    for i in range(130):
        state = c.add(state, steps(2, i, 1))
        sizes.append(int(c.replay.size(state)))
        ready.append(bool(c.replay.can_sample(state)))
    assert sizes == [2 * min(i + 1, 128) for i in range(130)]
    assert ready == [i + 1 >= 3 for i in range(130)]
    assert c.replay.size(state).dtype == jnp.int32
    u = compiled(**UNIFORM)  # min_size 4 over 2 envs: 2 steps each
    assert [bool(u.replay.can_sample(u.filled(n))) for n in (1, 2)] == [False, True]


@CONFIGS
@pytest.mark.parametrize("num_steps,chunk", [(5, 1), (135, 3)], ids=["filling", "wrapped"])
def test_samples_are_consecutive_steps_of_one_env(config, num_steps, chunk):
    c = compiled(**config)
    replay = c.replay
    state = c.filled(num_steps, chunk)
    batch = c.draw(state, jax.random.key(1))
    env, t, obs = (np.asarray(batch.steps[k]) for k in ("env", "t", "obs"))
    items = np.asarray(batch.indices)
    assert (env == (items // replay.slots)[..., None]).all()  # one env, the item's
    assert (np.diff(t, axis=-1) == 1).all()  # consecutive steps
    assert (t[..., 0] > max(num_steps - replay.slots, 0)).all()  # not overwritten
    assert (t[..., -1] <= num_steps).all()  # already written
    assert (obs == (100 * env + t)[..., None] * np.arange(1, 5)).all()
    # every item that may be drawn is drawn, and only those
    ok = valid_items(replay, state)
    assert (np.unique(items) == np.flatnonzero(ok)).all()
    if replay.prioritised:
        tree_ok = leaves(state) > 0
        assert (tree_ok[: ok.size] == ok).all() and not tree_ok[ok.size :].any()


def test_uniform_frequencies():
    c = compiled(**UNIFORM)
    state = c.filled(11)  # wrapped: 8 slots per env, 7 starts each
    ok = valid_items(c.replay, state)
    counts = np.bincount(c.items(state, jax.random.key(3)), minlength=16)
    expected = ok / ok.sum() * counts.sum()
    assert counts[~ok].sum() == 0
    assert chi_square(counts[ok], expected[ok]) < chi_square_bound(ok.sum() - 1)


def per_state(c, num_steps: int, alpha: float, seed: int = 0):
    """A filled prioritised buffer whose items have TD errors over 3 decades, and the priorities
    they should have, by hand in float64."""
    state = c.filled(num_steps)
    items = np.flatnonzero(valid_items(c.replay, state))
    td = np.asarray(np.random.default_rng(seed).uniform(-3, 3, items.size) ** 3, np.float32)
    state = c.set(state, jnp.asarray(items, jnp.int32), jnp.asarray(td), alpha)
    priorities = np.zeros(c.replay.capacity)
    priorities[items] = (np.abs(td).astype(np.float64) + c.replay.priority_eps) ** alpha
    return state, priorities


@SAMPLERS
def test_prioritised_frequencies_follow_the_priorities(sampler):
    c = compiled(**PER, sampler=sampler)
    state, p = per_state(c, 11, alpha=0.7)
    counts = np.bincount(c.items(state, jax.random.key(4)), minlength=16)
    ok = p > 0
    assert ok.sum() == 16 and counts[~ok].sum() == 0
    bound = chi_square_bound(ok.sum() - 1)
    assert chi_square(counts, p / p.sum() * counts.sum()) < bound
    # the test has power: the draws are far from uniform and from alpha = 1
    assert chi_square(counts, np.full(16, counts.sum() / 16)) > 10 * bound
    _, p1 = per_state(c, 11, alpha=1.0)
    assert chi_square(counts, p1 / p1.sum() * counts.sum()) > bound


@SAMPLERS
def test_importance_weights_by_hand(sampler):
    c = compiled(**PER, sampler=sampler)
    state, p = per_state(c, 11, alpha=0.6)
    for beta in (0.4, 1.0):
        batch = c.sample(state, jax.random.key(5), beta)
        pi = p[np.asarray(batch.indices)]
        want = (pi / pi.min()) ** -beta  # (N P(i))^-beta over the batch's max: N cancels
        np.testing.assert_allclose(np.asarray(batch.weights), want, rtol=2e-5)
        assert np.asarray(batch.weights).max() == 1.0
    uniform = compiled(**UNIFORM)
    batch = uniform.sample(uniform.filled(11), jax.random.key(5), 0.4)
    assert (np.asarray(batch.weights) == 1.0).all()


def test_set_priorities_changes_what_is_drawn_and_new_items_get_the_max():
    c = compiled(**PER_SEQ3)
    state = c.filled(20)
    items = jnp.asarray(np.flatnonzero(valid_items(c.replay, state)), jnp.int32)
    td = jnp.where(items == items[3], 1000.0, 0.0)  # one item 1e9 times as likely as the rest
    state = c.set(state, items, td, 1.0)
    assert (c.items(state, jax.random.key(6)) == int(items[3])).mean() > 0.99
    top = np.float32(1000.0)  # (1000 + 1e-6)^1 in float32
    assert leaves(state).max() == top
    # the next step makes one sequence per env complete: it starts at the max priority
    before, after = leaves(state), leaves(c.add(state, steps(2, 20, 1)))
    assert sorted(after[before != after]) == [top, top]
    # the uniform buffer ignores priorities
    u = compiled(**UNIFORM)
    ustate = u.filled(11)
    assert jax.tree.all(jax.tree.map(np.array_equal, u.set(ustate, items, td, 1.0), ustate))


@SAMPLERS
def test_an_item_given_twice_takes_its_last_value(sampler):
    c = compiled(**PER, sampler=sampler)
    state = c.filled(4)
    state = c.set(state, jnp.asarray([3, 3, 9], jnp.int32), jnp.asarray([9.0, 5.0, 3.0]), 1.0)
    assert leaves(state)[3] == np.float32(5.0 + 1e-6) and leaves(state)[9] == np.float32(3.0 + 1e-6)
    assert float(c.replay.max_priority(state)) == np.float32(5.0 + 1e-6)
    assert_tree_is_exact(state)


def test_alpha_zero_is_uniform():
    c = compiled(**PER)
    state, p = per_state(c, 11, alpha=0.0)
    assert (leaves(state) == 1.0).all()
    counts = np.bincount(c.items(state, jax.random.key(7)), minlength=16)
    assert chi_square(counts, np.full(16, counts.sum() / 16)) < chi_square_bound(15)


def set_priority_values(c, state, items, values):
    """Leaves ``items`` at ``values`` (alpha 1; eps is negligible at these scales)."""
    return c.set(state, jnp.asarray(items, jnp.int32), jnp.asarray(values, jnp.float32), 1.0)


def assert_tree_is_exact(state):
    """Every inner node is the float32 sum of its children (no drift): bit for bit for the
    binary tree; for the wide one (32 children summed in XLA's order) 0 exactly when they all
    are, and within float32 rounding of their sum."""
    if hasattr(state, "sums"):
        levels = wide_levels(state.sums, state.experience["t"].size)
        for parents, children in zip(levels[:-1], levels[1:], strict=True):
            children = np.asarray(children, np.float64).reshape(-1, BRANCH)
            parents = np.asarray(parents)[: children.shape[0]]
            assert ((parents == 0) == (children == 0).all(axis=1)).all()
            np.testing.assert_allclose(parents, children.sum(axis=1), rtol=1e-5)
        return
    nodes = np.asarray(state.sum_tree_state.nodes)
    inner = np.arange(2**state.sum_tree_state.tree_depth - 1)
    assert (nodes[inner] == nodes[2 * inner + 1] + nodes[2 * inner + 2]).all()


@SAMPLERS
@pytest.mark.parametrize("layout", ["nearly-empty", "just-wrapped", "huge-then-tiny"])
def test_items_of_priority_zero_are_never_drawn(layout, sampler):
    if layout == "nearly-empty":  # 4 of 256 items may be drawn, 1e60 apart
        c = compiled(**PER_SEQ3, sampler=sampler)
        state = c.filled(4)
        items = np.flatnonzero(valid_items(c.replay, state))
        state = set_priority_values(c, state, items, [1e-30, 1e30, 1e-30, 1e-30])
    elif layout == "just-wrapped":  # sequences across the write head between huge priorities
        c = compiled(**PER_SEQ3, sampler=sampler)
        state = c.filled(129, chunk=3)
        items = np.flatnonzero(valid_items(c.replay, state))
        state = set_priority_values(c, state, items, np.where(items % 2, 1e30, 1e-30))
    else:  # priorities fall 9 decades: flashbax's incremental tree drifts far from its leaves
        c = compiled(**PER_SEQ3, sampler=sampler)
        state = c.filled(201, chunk=3)
        items = np.flatnonzero(valid_items(c.replay, state))
        for value in (1e6, 1e3, 1e-3):
            state = set_priority_values(c, state, items, np.full(items.size, value))
        state = set_priority_values(c, state, items[::3], np.full(items[::3].size, 1e6))
        state = set_priority_values(c, state, items[::3], np.full(items[::3].size, 1e-3))
    assert_tree_is_exact(state)
    ok = valid_items(c.replay, state)
    drawn = np.concatenate([c.items(state, jax.random.key(k)) for k in range(4)])
    assert drawn.size >= 128_000
    assert ok[drawn].all() and (leaves(state)[drawn] > 0).all()


def test_wide_tree_never_draws_priority_zero_between_huge_priorities():
    # 100 000 items, a third 0 and the rest over 60 decades: XLA's unordered prefix sums round
    # differently at neighbouring children, which the running max must not let through
    rng = np.random.default_rng(11)
    p = np.float32(10.0) ** rng.uniform(-30, 30, 100_000).astype(np.float32)
    p[rng.random(p.size) < 1 / 3] = 0
    zeros = jnp.zeros(sum(level_sizes(p.size)), jnp.float32)
    items = jnp.arange(p.size, dtype=jnp.int32)
    sums = jax.jit(set_wide, static_argnums=1)(
        zeros, p.size, items, jnp.asarray(p), jnp.ones(p.size, bool)
    )
    draw = jax.jit(lambda sums, u: sample_wide(sums, p.size, u))
    u = jax.random.uniform(jax.random.key(12), (4, 65_536), jnp.float32)
    drawn = np.concatenate([np.asarray(draw(sums, x)) for x in u])
    assert (p[drawn] > 0).all()
    # the largest 1 % of the items get their share of the draws (most of them)
    top = np.argsort(p)[-1000:]
    share = np.isin(drawn, top).mean()
    want = p[top].astype(np.float64).sum() / p.astype(np.float64).sum()
    assert abs(share - want) < 0.005 and want > 0.5
    # a buffer with no positive priority (cannot be sampled yet) stays in range
    assert (np.asarray(draw(zeros, u[0])) < p.size).all()


@SAMPLERS
def test_vmap_over_seeds_matches_each_seed_alone(sampler):
    c = compiled(**PER_SEQ3, sampler=sampler)
    replay = c.replay

    def chunk(seed, i):  # env steps 3i .. 3i + 2, the observations offset by the seed
        batch = steps(2, 0, 3)
        return {**batch, "t": batch["t"] + 3 * i, "obs": batch["obs"] + seed}

    def key(seed):
        return jax.random.fold_in(jax.random.key(9), seed)

    def run(seed):
        def add(state, i):
            return replay.add(state, chunk(seed, i)), None

        state, _ = jax.lax.scan(add, replay.init(EXAMPLE), jnp.arange(45))
        # the key Compiled.sample uses for its first batch
        sample_key = jax.random.split(key(seed), NUM_BATCHES)[0]
        sample = replay.sample(state, sample_key, 0.5)
        state = replay.set_priorities(state, sample.indices, sample.steps["obs"][:, 0, 0], 0.6)
        return state, replay.sample(state, sample_key, 0.5)

    seeds = jnp.arange(3, dtype=jnp.int32)
    vmapped = jax.jit(jax.vmap(run))(seeds)
    for s in range(3):  # each seed alone, through the separately compiled functions
        state = c.init()
        for i in range(45):
            state = c.add(state, chunk(seeds[s], i))
        sample = c.sample(state, key(seeds[s]), 0.5)
        state = c.set(state, sample.indices, sample.steps["obs"][:, 0, 0], 0.6)
        alone = (state, c.sample(state, key(seeds[s]), 0.5))
        one = jax.tree.map(lambda x, s=s: x[s], vmapped)
        assert jax.tree.all(jax.tree.map(np.array_equal, one, alone))
    assert not np.array_equal(vmapped[1].indices[0], vmapped[1].indices[1])


@SAMPLERS
def test_checkpoint_round_trip_is_bitwise_and_samples_alike(tmp_path, sampler):
    c = compiled(**PER_SEQ3, sampler=sampler)
    state, _ = per_state(c, 131, alpha=0.6)
    checkpoint.save(tmp_path, 1, {"replay": state})
    restored = checkpoint.restore(tmp_path, target={"replay": c.init()})["replay"]
    assert type(restored) is type(state)
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        assert a.dtype == b.dtype and np.asarray(a).tobytes() == np.asarray(b).tobytes()
    key = jax.random.key(10)
    before, after = c.draw(state, key, 0.4), c.draw(restored, key, 0.4)
    assert jax.tree.all(jax.tree.map(np.array_equal, before, after))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(capacity=0), "capacity=0 must be an integer >= 1"),
        (dict(num_envs=-1), "num_envs=-1"),
        (dict(batch_size=2.0), "batch_size=2.0 must be an integer"),
        (dict(min_size=0), "min_size=0"),
        (dict(sequence_length=0), "sequence_length=0"),
        (dict(capacity=10, num_envs=4), "capacity=10 must be a multiple of num_envs=4"),
        (dict(batch_size=17), "batch_size=17 must be <= capacity=16"),
        (dict(min_size=17), "min_size=17 must be <= capacity=16"),
        (dict(sequence_length=9), "sequence_length=9 must be <= capacity // num_envs = 8"),
        (dict(priority_eps=0.0), "priority_eps=0.0 must be a number > 0"),
        (dict(priority_eps=-1e-6), "priority_eps=-1e-06"),
        (dict(prioritised=1), "prioritised=1 must be a bool"),
        (dict(sampler="heap"), "sampler='heap' must be one of ('wide', 'binary')"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_replay(**{**UNIFORM, **kwargs})


def test_bad_steps_are_named():
    c = compiled(**UNIFORM)
    state = c.init()
    good = steps(2, 0, 1)
    with pytest.raises(ValueError, match="structure"):
        c.replay.add(state, {"env": good["env"], "t": good["t"]})
    with pytest.raises(ValueError, match=re.escape("must be (2, 'T', 4)")):
        c.replay.add(state, {**good, "obs": jnp.zeros((3, 1, 4))})
    with pytest.raises(ValueError, match=re.escape("must be float32[2, 'T', 4]")):
        c.replay.add(state, {**good, "obs": jnp.zeros((2, 1, 4), jnp.int32)})
    with pytest.raises(ValueError, match="different T"):
        c.replay.add(state, {**good, "obs": jnp.zeros((2, 2, 4))})
    with pytest.raises(ValueError, match=re.escape("T=9 steps per env must be in [1, capacity")):
        c.replay.add(state, steps(2, 0, 9))


def test_a_replay_is_static_and_hashable():
    assert make_replay(**PER) == make_replay(**PER) and hash(make_replay(**PER)) == hash(
        make_replay(**PER)
    )
    size = jax.jit(lambda r, s: r.size(s), static_argnums=0)
    c = compiled(**PER)
    assert int(size(c.replay, c.filled(3))) == 6


def test_linear_schedule():
    values = [float(linear_schedule(0.4, 1.0, s, 10)) for s in (0, 5, 10, 20)]
    np.testing.assert_allclose(values, [0.4, 0.7, 1.0, 1.0], rtol=1e-6)
    assert float(linear_schedule(0.4, 1.0, 3, 0)) == 1.0
    traced = jax.jit(lambda s, a: linear_schedule(a, 0.0, s, 4))(jnp.int32(1), jnp.float32(0.8))
    assert traced.dtype == jnp.float32 and np.isclose(float(traced), 0.6)
    with pytest.raises(ValueError, match="num_steps=-1 must be an integer >= 0"):
        linear_schedule(0.0, 1.0, 0, -1)
