"""Replay cost against a DQN gradient step on this machine, and flashbax's PER as an anchor.

The issue's rule: replace a part of flashbax only where a profile shows it costs more than a
tenth of a training step. So the figure is the ratio of one replay step of
:mod:`rljax.learning.replay` (add 4 envs x 1 step, sample 128, set the priorities) to one DQN
gradient step (MLP 64x64 ReLU, CartPole-sized observations ``[4]``, 2 actions, batch 128, Huber
TD loss against a target network, Adam), both jitted; uniform and prioritised, capacity 100 000,
the buffer full. Each part (add, sample, set_priorities) is also timed alone, and the whole step
against flashbax 0.1.3's own buffers doing the same (``make_trajectory_buffer`` and
``make_prioritised_trajectory_buffer``, priority exponent 1, sum-tree updates by its CPU path).

Every timed program is a ``lax.scan`` of ``--steps`` iterations whose carry is the buffer (or
the network and optimiser state), so per-call dispatch is amortised and nothing can be hoisted or
dropped; the figure is the median over ``--repeats`` calls divided by ``--steps``, in
microseconds, compile time apart, with the process CPU time per step beside it (``*_cpu_us``,
``ratio_cpu``). All programs are compiled first and their calls interleaved, so that load from
other processes falls on all alike. The machines are shared: quote the ratios.

``--probe`` instead reproduces the float32 drift of flashbax's sum tree that this module's own
tree avoids: priorities set to 1e6, then 1e3, then 1e-3 in a nearly empty buffer; it prints the
share of draws that land on items of priority 0, for flashbax and for ours.

Prints one JSON line per measurement::

    python benchmarks/bench_replay.py               # 200 steps per program, 9 repeats
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
from rljax.learning.replay import Replay, make_replay
from rljax.networks import MLP

KEY = jax.random.key(4)

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


def td_of(steps: Any) -> jax.Array:
    """A stand-in TD error ``[B]`` that depends on every sampled leaf (nothing can be dropped)."""
    return sum(jnp.sum(x.reshape(x.shape[0], -1), axis=-1) for x in jax.tree.leaves(steps))


def full_buffer(replay: Replay, key: jax.Array) -> Any:
    state = replay.init(TRANSITION)
    return jax.jit(replay.add)(state, env_steps(key, replay.slots))


def replay_program(replay: Replay, num_steps: int, parts: str):
    """``(state, key) -> state`` doing ``num_steps`` times the ``parts`` of a replay step:
    ``a`` add (4 envs x 1 step), ``s`` sample (batch 128, beta 0.4), ``p`` set_priorities."""
    new = env_steps(jax.random.key(1), num_steps)  # drawn once, outside the timed loop

    def body(carry, i):
        state, key, acc = carry
        key, k_sample = jax.random.split(key)
        if "a" in parts:
            state = replay.add(state, one_step(new, i))
        if "s" in parts:
            batch = replay.sample(state, k_sample, 0.4)
            indices, td = batch.indices, td_of(batch.steps) * batch.weights
            acc = acc + jnp.sum(td)
        elif "p" in parts:  # set_priorities alone: indices and errors without sampling
            indices = jax.random.randint(k_sample, (BATCH,), 0, replay.capacity)
            td = jax.random.normal(k_sample, (BATCH,))
        if "p" in parts:
            state = replay.set_priorities(state, indices, td, 0.6)
        return (state, key, acc), None

    def run(state, key):
        return jax.lax.scan(body, (state, key, jnp.float32(0)), jnp.arange(num_steps))[0]

    return run


def flashbax_program(prioritised: bool, num_steps: int):
    """The same add + sample (+ set_priorities) step through flashbax's own buffers."""
    kwargs = dict(
        add_batch_size=NUM_ENVS,
        sample_batch_size=BATCH,
        sample_sequence_length=1,
        period=1,
        min_length_time_axis=1,
        max_length_time_axis=CAPACITY // NUM_ENVS,
    )
    if prioritised:
        buffer = fbx.make_prioritised_trajectory_buffer(**kwargs, priority_exponent=1.0)
    else:
        buffer = fbx.make_trajectory_buffer(**kwargs)
    new = env_steps(jax.random.key(1), num_steps)

    def body(carry, i):
        state, key, acc = carry
        key, k_sample = jax.random.split(key)
        state = buffer.add(state, one_step(new, i))
        batch = buffer.sample(state, k_sample)
        td = td_of(batch.experience)
        if prioritised:
            state = buffer.set_priorities(state, batch.indices, (jnp.abs(td) + 1e-6) ** 0.6)
        return (state, key, acc + jnp.sum(td)), None

    def run(state, key):
        return jax.lax.scan(body, (state, key, jnp.float32(0)), jnp.arange(num_steps))[0]

    state = buffer.init(TRANSITION)
    state = jax.jit(buffer.add)(state, env_steps(jax.random.key(0), CAPACITY // NUM_ENVS))
    return run, state


def dqn_program(num_steps: int):
    """``(params, target, opt_state, key) -> ...``: ``num_steps`` DQN gradient steps."""
    net = MLP(hidden_sizes=(64, 64), out=ACTIONS, activation="relu")
    optimizer = optax.adam(2.5e-4)
    batches = jax.tree.map(lambda x: x[0, :BATCH], env_steps(jax.random.key(2), BATCH))

    def loss(params, target, batch):
        q = jnp.take_along_axis(net.apply(params, batch["obs"]), batch["action"][:, None], -1)
        q_next = jnp.max(net.apply(target, batch["next_obs"]), axis=-1)
        y = batch["reward"] + 0.99 * (1.0 - batch["terminated"]) * q_next
        return jnp.mean(optax.huber_loss(q[:, 0], jax.lax.stop_gradient(y)))

    def body(carry, i):
        params, target, opt_state = carry
        # a different batch each step, from a fixed pool (sampling is timed apart)
        batch = jax.tree.map(lambda x: jnp.roll(x, i, axis=0), batches)
        grads = jax.grad(loss)(params, target, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), target, opt_state), None

    def run(params, target, opt_state):
        return jax.lax.scan(body, (params, target, opt_state), jnp.arange(num_steps))[0]

    params = net.init(jax.random.key(3), jnp.zeros((1, OBS)))
    return run, (params, params, optimizer.init(params))


def interleaved(programs: dict[str, tuple], repeats: int, num_steps: int) -> dict[str, dict]:
    """Per program: compile seconds, and the median wall and process-CPU microseconds per step.

    Every program is compiled and warmed up first; then each repeat runs all of them in turn, so
    that load from other processes falls on all alike (the CPU time is what it inflates least).
    """
    compiled, results = {}, {}
    for name, (fn, args) in programs.items():
        start = time.perf_counter()
        compiled[name] = jax.jit(fn).lower(*args).compile()
        results[name] = {"compile_s": time.perf_counter() - start, "wall": [], "cpu": []}
        jax.block_until_ready(compiled[name](*args))  # warm-up
    for _ in range(repeats):
        for name, (_, args) in programs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(compiled[name](*args))
            results[name]["wall"].append(time.perf_counter() - wall)
            results[name]["cpu"].append(time.process_time() - cpu)
    return {
        name: {
            "us": 1e6 * statistics.median(r["wall"]) / num_steps,
            "cpu_us": 1e6 * statistics.median(r["cpu"]) / num_steps,
            "compile_s": r["compile_s"],
        }
        for name, r in results.items()
    }


def compare(bench: str, ours: dict, anchor: dict) -> None:
    """One JSON line: wall time as ours/anchor, the CPU-time ratio beside it."""
    emit(
        bench,
        ours["us"],
        anchor["us"],
        "us/step",
        ours_cpu_us=ours["cpu_us"],
        anchor_cpu_us=anchor["cpu_us"],
        ratio_cpu=ours["cpu_us"] / anchor["cpu_us"],
        compile_s=ours["compile_s"],
        anchor_compile_s=anchor["compile_s"],
    )


PART_NAMES = {
    "asp": "add+sample+set",
    "as": "add+sample",
    "a": "add",
    "s": "sample",
    "p": "set_priorities",
}


def measure(args: argparse.Namespace) -> None:
    n = args.steps
    programs = {"dqn": dqn_program(n)}
    for prioritised in (False, True):
        kind = "per" if prioritised else "uniform"
        replay = make_replay(
            capacity=CAPACITY,
            num_envs=NUM_ENVS,
            batch_size=BATCH,
            min_size=BATCH,
            prioritised=prioritised,
        )
        state = full_buffer(replay, jax.random.key(0))
        for part in ("asp", "a", "s", "p") if prioritised else ("as", "a", "s"):
            programs[f"{kind}_{part}"] = (replay_program(replay, n, part), (state, KEY))
        fb_run, fb_state = flashbax_program(prioritised, n)
        programs[f"flashbax_{kind}"] = (fb_run, (fb_state, KEY))
    times = interleaved(programs, args.repeats, n)
    dqn = times.pop("dqn")
    emit(
        "dqn_grad_step_mlp64x64_b128",
        dqn["us"],
        None,
        "us/step",
        ours_cpu_us=dqn["cpu_us"],
        compile_s=dqn["compile_s"],
    )
    for name, ours in times.items():
        if name.startswith("flashbax"):
            continue
        kind, part = name.split("_")
        # against a DQN step: the 10 % rule
        compare(f"replay_{kind}_{PART_NAMES[part]}_vs_dqn_step", ours, dqn)
        if len(part) > 1:  # the whole step against flashbax's own buffer doing it
            compare(
                f"replay_{kind}_{PART_NAMES[part]}_vs_flashbax", ours, times[f"flashbax_{kind}"]
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
        tree = s.sum_tree_state
        zero = float(np.mean(np.asarray(leaf_of(tree))[indices] == 0))
        emit(
            f"replay_probe_priority0_draws_{name}",
            zero,
            None,
            "share of draws",
            root=float(tree.nodes[0]),
            sum_of_leaves=float(np.asarray(leaf_of(tree), np.float64).sum()),
            draws=int(indices.size),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="replay or DQN steps per program")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--probe", action="store_true", help="flashbax's sum-tree drift instead")
    args = parser.parse_args()
    probe() if args.probe else measure(args)


if __name__ == "__main__":
    main()
