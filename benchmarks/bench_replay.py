"""What replay costs inside a DQN training step on this machine, flashbax's buffers as anchors.

The issue's rule: replace a part of flashbax only where a profile shows it costs more than a
tenth of a training step. A learner pays for replay inside one compiled program, so that is what
is timed: a jitted ``lax.scan`` of ``--updates`` DQN updates (MLP 64x64 ReLU, CartPole-sized
observations ``[4]``, 2 actions, batch 128, importance-weighted Huber TD loss against a target
network, Adam), each update structured as ``train/dqn`` does it: add 4 envs x 1 step, then under
a ``lax.cond`` on ``can_sample`` sample 128, take the gradient step and set the priorities from
its TD errors; capacity 100 000, the buffer full. The baseline is the same scan without replay:
the gradient step on 128 rows gathered at random indices from a fixed pool of the buffer's size,
under the same cond, so the arithmetic is the same. The figure per replay is its marginal cost,
``with - without`` microseconds per update, and ``ratio = (with - without) / without`` (wall;
``ratio_cpu`` from the process CPU time). The carry (network, optimiser, buffer, key, a checksum
of every loss) is donated and fed back, so nothing can be hoisted or dropped and the buffer is
not copied per call. All programs are compiled first and their calls interleaved, medians over
``--repeats``, so that load from other processes falls on all alike. The machines are shared:
quote the ratios.

``--capacities`` times the two prioritised layouts (``sampler="wide"`` and ``"binary"``) the same
way at capacity 10 000, 100 000 and 1 000 000. ``--accuracy`` computes how far float32 moves each
layout's sampling probabilities from float64 by hand. ``--probe`` reproduces the float32 drift of
flashbax's sum tree that this module's own trees avoid: priorities set to 1e6, then 1e3, then
1e-3 in a nearly empty buffer; it prints the share of draws that land on items of priority 0, for
flashbax and for ours.

Prints one JSON line per measurement::

    python benchmarks/bench_replay.py               # 200 updates per program, 9 repeats
    python benchmarks/bench_replay.py --capacities
    python benchmarks/bench_replay.py --accuracy
    python benchmarks/bench_replay.py --probe
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import flashbax as fbx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rljax.benchmarking import emit
from rljax.learning.replay import SAMPLERS, Replay, make_replay
from rljax.learning.sum_trees import BRANCH, row_prefix, row_sums, wide_levels
from rljax.networks import MLP

CAPACITY, NUM_ENVS, BATCH, OBS, ACTIONS = 100_000, 4, 128, 4, 2
TRANSITION = {
    "obs": jnp.zeros(OBS, jnp.float32),
    "action": jnp.int32(0),
    "reward": jnp.float32(0),
    "terminated": jnp.float32(0),
    "next_obs": jnp.zeros(OBS, jnp.float32),
}


def env_steps(key: jax.Array, num_steps: int) -> dict:
    """Random CartPole-shaped transitions, leaves ``[NUM_ENVS, num_steps, ...]``."""
    k_obs, k_act, k_rew = jax.random.split(key, 3)
    shape = (NUM_ENVS, num_steps)
    return {
        "obs": jax.random.normal(k_obs, (*shape, OBS)),
        "action": jax.random.randint(k_act, shape, 0, ACTIONS),
        "reward": jax.random.uniform(k_rew, shape),
        "terminated": jnp.zeros(shape, jnp.float32),
        "next_obs": jax.random.normal(k_obs, (*shape, OBS)) + 0.1,
    }


def one_step(steps: Any, i: jax.Array) -> Any:
    """Step ``i`` of every env: leaves ``[NUM_ENVS, 1, ...]``."""
    return jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, i, 1, axis=1), steps)


def full_buffer(replay: Replay, key: jax.Array) -> Any:
    """``replay``'s buffer filled with random transitions (every slot of every env written)."""
    state = replay.init(TRANSITION)
    return jax.jit(replay.add)(state, env_steps(key, replay.slots))


NET = MLP(hidden_sizes=(64, 64), out=ACTIONS, activation="relu")
OPTIMIZER = optax.adam(2.5e-4)


def td_errors(params: Any, target: Any, batch: dict) -> jax.Array:
    """DQN's TD errors ``[B]`` for one-step transitions (leaves ``[B, ...]``)."""
    q = jnp.take_along_axis(NET.apply(params, batch["obs"]), batch["action"][:, None], -1)[:, 0]
    q_next = jnp.max(NET.apply(target, batch["next_obs"]), axis=-1)
    y = batch["reward"] + 0.99 * (1.0 - batch["terminated"]) * q_next
    return q - jax.lax.stop_gradient(y)


def loss_fn(
    params: Any, target: Any, batch: dict, weights: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Importance-weighted Huber loss and, as aux, the TD errors ``[B]``."""
    td = td_errors(params, target, batch)
    return jnp.mean(weights * optax.huber_loss(td)), td


def learner_program(
    source: Replay | str, num_updates: int, capacity: int = CAPACITY
) -> tuple[Any, tuple]:
    """``carry -> carry``: a ``lax.scan`` of ``num_updates`` DQN updates, the carry donated.

    ``source`` a :class:`Replay`: each update adds ``NUM_ENVS`` transitions, samples ``BATCH``,
    takes an Adam step on the weighted Huber loss and sets the priorities from its TD errors.
    ``"none"``: the same gradient step on ``BATCH`` rows gathered at random indices from a fixed
    pool of the same shape (no replay). ``"flashbax_uniform"`` / ``"flashbax_per"``: the replay
    step through flashbax's own buffers. Returns ``(run, carry)``, ``carry = (params, target,
    opt_state, buffer, key, checksum)``; every output feeds the next call, so nothing is dropped.
    """
    new = env_steps(jax.random.key(1), num_updates)  # drawn once, outside the timed loop
    if isinstance(source, Replay):
        buffer = full_buffer(source, jax.random.key(0))
    elif source == "none":
        pool = env_steps(jax.random.key(0), capacity // NUM_ENVS)
        buffer = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), pool)
    else:
        fb = flashbax_buffer(source == "flashbax_per")
        buffer = fb.init(TRANSITION)
        buffer = jax.jit(fb.add)(buffer, env_steps(jax.random.key(0), CAPACITY // NUM_ENVS))

    def draw(buffer, key):  # -> (buffer, batch [B, ...], weights [B], set(buffer, td) -> buffer)
        if isinstance(source, Replay):
            sample = source.sample(buffer, key, 0.4)
            batch = jax.tree.map(lambda x: x[:, 0], sample.steps)
            return (
                batch,
                sample.weights,
                lambda b, td: source.set_priorities(b, sample.indices, td, 0.6),
            )
        if source == "none":
            size = jax.tree.leaves(buffer)[0].shape[0]
            rows = jax.random.randint(key, (BATCH,), 0, size)
            return jax.tree.map(lambda x: x[rows], buffer), jnp.ones(BATCH), lambda b, td: b
        sample = fb.sample(buffer, key)
        batch = jax.tree.map(lambda x: x[:, 0], sample.experience)
        if source == "flashbax_per":
            return (
                batch,
                jnp.ones(BATCH),
                lambda b, td: fb.set_priorities(b, sample.indices, (jnp.abs(td) + 1e-6) ** 0.6),
            )
        return batch, jnp.ones(BATCH), lambda b, td: b

    def learn(params, target, opt_state, buffer, key):  # one gradient step
        batch, weights, set_priorities = draw(buffer, key)
        (loss, td), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, target, batch, weights
        )
        updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, target, opt_state, set_priorities(buffer, td), loss

    def skip(params, target, opt_state, buffer, key):
        return params, target, opt_state, buffer, jnp.float32(0)

    def body(carry, i):  # as train/dqn: add, then learn under a cond on can_sample
        params, target, opt_state, buffer, key, checksum = carry
        key, k_sample = jax.random.split(key)
        if isinstance(source, Replay):
            buffer = source.add(buffer, one_step(new, i))
            ready = source.can_sample(buffer)
        elif source == "none":
            ready = i >= 0  # always, but traced like can_sample
        else:
            buffer = fb.add(buffer, one_step(new, i))
            ready = fb.can_sample(buffer)
        params, target, opt_state, buffer, loss = jax.lax.cond(
            ready, learn, skip, params, target, opt_state, buffer, k_sample
        )
        return (params, target, opt_state, buffer, key, checksum + loss), None

    def run(carry):
        return jax.lax.scan(body, carry, jnp.arange(num_updates))[0]

    # every leaf its own buffer (the carry is donated): the target a copy, a fresh key
    params = NET.init(jax.random.key(3), jnp.zeros((1, OBS)))
    target = jax.tree.map(jnp.copy, params)
    carry = (params, target, OPTIMIZER.init(params), buffer, jax.random.key(4), jnp.float32(0))
    return run, carry


def flashbax_buffer(prioritised: bool) -> Any:
    """flashbax 0.1.3's own trajectory buffer, prioritised (exponent 1) or not."""
    kwargs = dict(
        add_batch_size=NUM_ENVS,
        sample_batch_size=BATCH,
        sample_sequence_length=1,
        period=1,
        min_length_time_axis=1,
        max_length_time_axis=CAPACITY // NUM_ENVS,
    )
    if prioritised:
        return fbx.make_prioritised_trajectory_buffer(**kwargs, priority_exponent=1.0)
    return fbx.make_trajectory_buffer(**kwargs)


def interleaved(programs: dict[str, tuple], repeats: int, num_updates: int) -> dict[str, dict]:
    """Per program: compile seconds, and the median wall and process-CPU microseconds per update.

    Every program is compiled (its carry donated) and warmed up first; then each repeat runs all
    of them in turn, each continuing from its own last carry, so that load from other processes
    falls on all alike (the CPU time is what it inflates least).
    """
    compiled, carries, results = {}, {}, {}
    for name, (fn, carry) in programs.items():
        start = time.perf_counter()
        compiled[name] = jax.jit(fn, donate_argnums=0).lower(carry).compile()
        results[name] = {"compile_s": time.perf_counter() - start, "wall": [], "cpu": []}
        carries[name] = jax.block_until_ready(compiled[name](carry))  # warm-up
    for _ in range(repeats):
        for name in programs:
            wall, cpu = time.perf_counter(), time.process_time()
            carries[name] = jax.block_until_ready(compiled[name](carries[name]))
            results[name]["wall"].append(time.perf_counter() - wall)
            results[name]["cpu"].append(time.process_time() - cpu)
    for name, carry in carries.items():  # the checksum: every update's loss
        results[name]["checksum"] = float(carry[-1])
        if not np.isfinite(results[name]["checksum"]):
            raise RuntimeError(f"{name}: the losses are not finite")
    return {
        name: {
            "us": 1e6 * statistics.median(r["wall"]) / num_updates,
            "cpu_us": 1e6 * statistics.median(r["cpu"]) / num_updates,
            "compile_s": r["compile_s"],
        }
        for name, r in results.items()
    }


def marginal(bench: str, ours: dict, base: dict, **extra: Any) -> None:
    """One JSON line: the replay's marginal cost per update and its share of a gradient step,
    ``ratio = (with replay - without) / without`` (wall; ``ratio_cpu`` for CPU time)."""
    emit(
        bench,
        ours["us"] - base["us"],
        base["us"],
        "us/update",
        ratio_cpu=(ours["cpu_us"] - base["cpu_us"]) / base["cpu_us"],
        with_replay_us=ours["us"],
        without_us=base["us"],
        with_replay_cpu_us=ours["cpu_us"],
        without_cpu_us=base["cpu_us"],
        compile_s=ours["compile_s"],
        **extra,
    )


def per_replay(capacity: int, sampler: str) -> Replay:
    """The benchmark's prioritised replay (4 envs, batch 128) at ``capacity`` with ``sampler``."""
    return make_replay(
        capacity=capacity,
        num_envs=NUM_ENVS,
        batch_size=BATCH,
        min_size=BATCH,
        prioritised=True,
        sampler=sampler,
    )


def measure(args: argparse.Namespace) -> None:
    n = args.updates
    uniform = make_replay(capacity=CAPACITY, num_envs=NUM_ENVS, batch_size=BATCH, min_size=BATCH)
    programs = {
        "none": learner_program("none", n),
        "uniform": learner_program(uniform, n),
        "flashbax_uniform": learner_program("flashbax_uniform", n),
        "flashbax_per": learner_program("flashbax_per", n),
    }
    for sampler in SAMPLERS:
        programs[f"per_{sampler}"] = learner_program(per_replay(CAPACITY, sampler), n)
    times = interleaved(programs, args.repeats, n)
    base = times["none"]
    emit(
        "dqn_update_no_replay_mlp64x64_b128",
        base["us"],
        None,
        "us/update",
        ours_cpu_us=base["cpu_us"],
        compile_s=base["compile_s"],
    )
    for name, ours in times.items():
        if name != "none":
            marginal(f"replay_{name}_marginal_in_dqn_update", ours, base, capacity=CAPACITY)


def capacities(args: argparse.Namespace) -> None:
    """The prioritised samplers' marginal cost at capacity 10 000, 100 000 and 1 000 000."""
    n = args.updates
    for capacity in (10_000, 100_000, 1_000_000):
        programs = {"none": learner_program("none", n, capacity)}
        for sampler in SAMPLERS:
            programs[sampler] = learner_program(per_replay(capacity, sampler), n)
        times = interleaved(programs, args.repeats, n)
        for sampler in SAMPLERS:
            marginal(
                f"replay_per_{sampler}_marginal_in_dqn_update",
                times[sampler],
                times["none"],
                capacity=capacity,
            )


def leaf_of(tree) -> jax.Array:
    """The leaves of a flashbax-layout sum tree (after its 2**depth - 1 inner nodes)."""
    return tree.nodes[2**tree.tree_depth - 1 :]


def probe() -> None:
    """Share of draws on items of priority 0 after priorities fall 1e6 -> 1e3 -> 1e-3."""
    slots, num_envs, seq, batch, draws = 1024, 4, 3, 256, 2000
    buffer = fbx.make_prioritised_trajectory_buffer(
        add_batch_size=num_envs,
        sample_batch_size=batch,
        sample_sequence_length=seq,
        period=1,
        min_length_time_axis=seq,
        max_length_time_axis=slots,
        priority_exponent=1.0,
    )
    replay = make_replay(
        capacity=slots * num_envs,
        num_envs=num_envs,
        batch_size=batch,
        min_size=1,
        sequence_length=seq,
        prioritised=True,
    )
    example = {"t": jnp.int32(0)}
    fb_state, state = buffer.init(example), replay.init(example)
    for i in range(10):  # 8 valid sequences per env of 1024 slots
        step = {"t": jnp.full((num_envs, 1), i, jnp.int32)}
        fb_state, state = buffer.add(fb_state, step), replay.add(state, step)
    valid = jnp.flatnonzero(leaf_of(fb_state.sum_tree_state) > 0)
    for value in (1e6, 1e3, 1e-3):
        priorities = jnp.full(valid.shape, value, jnp.float32)
        fb_state = buffer.set_priorities(fb_state, valid, priorities)
        state = replay.set_priorities(state, valid, priorities - replay.priority_eps, 1.0)
    keys = jax.random.split(jax.random.key(0), draws)
    for name, sample, s in (
        ("flashbax", buffer.sample, fb_state),
        ("rljax", replay.sample, state),
    ):
        indices = np.asarray(jax.jit(jax.vmap(sample, (None, 0)))(s, keys).indices).ravel()
        if name == "flashbax":
            root, leaves = s.sum_tree_state.nodes[0], leaf_of(s.sum_tree_state)
        else:  # the default "wide" tree: the root is the sum of its first level
            levels = wide_levels(s.sums, replay.capacity)
            root, leaves = jnp.sum(levels[0]), levels[-1]
        zero = float(np.mean(np.asarray(leaves)[indices] == 0))
        emit(
            f"replay_probe_priority0_draws_{name}",
            zero,
            None,
            "share of draws",
            root=float(root),
            sum_of_leaves=float(np.asarray(leaves, np.float64).sum()),
            draws=int(indices.size),
        )


def shares_wide(children: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Each child's share ``[P, BRANCH]`` of its parent's queries for the "wide" tree, queries
    uniform in ``[0, width [P])`` (real arithmetic), chosen as :func:`pick_child` does."""
    through = np.asarray(jax.jit(row_prefix)(jnp.asarray(children, jnp.float32)), np.float64)
    before = np.pad(through, ((0, 0), (1, 0)))[:, :-1]
    positive = children > 0
    total = np.max(np.where(positive, through, 0.0), axis=1)
    top = np.minimum(total, width)[:, None]
    share = np.where(positive, np.minimum(through, top) - np.minimum(before, top), 0.0)
    last = np.argmax(np.where(positive, through, -1.0), axis=1)  # takes the clamped queries
    share[np.arange(len(last)), last] += np.maximum(width - total, 0.0)
    return share / np.where(width > 0, width, 1.0)[:, None]


def probabilities_wide(sums: tuple) -> np.ndarray:
    """The probability of each leaf of a "wide" tree, level by level (see :func:`accuracy`)."""
    top = np.asarray(sums[0], np.float64)[None]
    width = np.asarray(jax.jit(row_sums)(jnp.asarray(sums[0])[None]), np.float64)
    prob = shares_wide(top, width)[0]
    for parents, level in zip(sums[:-1], sums[1:], strict=True):
        rows = np.asarray(level, np.float64).reshape(-1, BRANCH)
        through = np.asarray(
            jax.jit(row_prefix)(jnp.asarray(parents).reshape(-1, BRANCH)), np.float64
        )
        width = np.diff(np.pad(through, ((0, 0), (1, 0))), axis=1).ravel()[: rows.shape[0]]
        prob = (prob[: rows.shape[0], None] * shares_wide(rows, width)).ravel()
    return prob


def probabilities_binary(nodes: np.ndarray, depth: int) -> np.ndarray:
    """The probability of each leaf of a binary tree in flashbax's layout, queries in real
    arithmetic, descending as :func:`rljax.learning.sum_trees.sample_leaves` does."""
    nodes = np.asarray(nodes, np.float64)
    prob, width = np.ones(1), nodes[:1]
    for level in range(depth):
        first = 2 ** (level + 1) - 1
        left, right = nodes[first : 2 * first + 1 : 2], nodes[first + 1 : 2 * first + 2 : 2]
        to_left = np.where(right > 0, np.minimum(left, width), width)
        safe = np.where(width > 0, width, 1.0)
        prob = np.stack([prob * to_left / safe, prob * (width - to_left) / safe], 1).ravel()
        width = np.stack([to_left, width - to_left], 1).ravel()
    return prob


def accuracy() -> None:
    """How far float32 moves each prioritised sampler's probabilities from ``p_i / sum(p)``.

    Priorities ``(|td| + 1e-6)^0.6`` with ``|td|`` log-uniform over 6 decades and a tenth of the
    items 0, written into the tree in float32; each item's probability is computed from
    the stored float32 sums, the descent's choices made as the sampler makes them but with a
    query in real arithmetic (the float32 query's own rounding, about ``2^-24`` of the total, is
    common to both), against float64 by hand. Prints the total variation distance, the largest
    relative error over the items with ``p_i / sum(p)`` above ``1 / (10 capacity)``, and the
    probability left on items of priority 0 (must be 0).
    """
    for capacity in (10_000, 100_000, 1_000_000):
        rng = np.random.default_rng(0)
        td = (10.0 ** rng.uniform(-4, 2, capacity)).astype(np.float32)
        zero = rng.random(capacity) < 0.1
        want = (td.astype(np.float64) + 1e-6) ** 0.6
        want[zero] = 0.0
        want /= want.sum()
        for sampler in SAMPLERS:
            replay = per_replay(capacity, sampler)
            state = full_buffer(replay, jax.random.key(0))
            # every item at once (set_priorities compares a batch's items pairwise)
            priorities = jnp.asarray(np.where(zero, 0.0, (td + np.float32(1e-6)) ** 0.6))
            everything = jnp.arange(capacity, dtype=jnp.int32)
            write = jax.jit(replay.write_priorities)
            state = write(state, everything, priorities, jnp.ones(capacity, bool))
            if sampler == "wide":
                got = probabilities_wide(wide_levels(state.sums, capacity))[:capacity]
            else:
                tree = state.sum_tree_state
                got = probabilities_binary(tree.nodes, tree.tree_depth)[:capacity]
            big = want > 0.1 / capacity
            emit(
                f"replay_per_{sampler}_float32_probability_error",
                float(0.5 * np.abs(got - want).sum()),
                None,
                "total variation",
                capacity=capacity,
                max_relative_error=float(np.max(np.abs(got[big] / want[big] - 1))),
                mass_on_priority0=float(got[want == 0].sum()),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200, help="DQN updates per program")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--probe", action="store_true", help="flashbax's sum-tree drift instead")
    parser.add_argument(
        "--capacities", action="store_true", help="the samplers at capacity 1e4, 1e5, 1e6 instead"
    )
    parser.add_argument(
        "--accuracy", action="store_true", help="the float32 samplers' probabilities vs float64"
    )
    args = parser.parse_args()
    if args.probe:
        probe()
    elif args.capacities:
        capacities(args)
    elif args.accuracy:
        accuracy()
    else:
        measure(args)


if __name__ == "__main__":
    main()
