"""Baseline search speed on Connect Four: batched UCT simulations/s and minimax moves/s.

UCT (:func:`rljax.games.baselines.uct_player`, random rollouts) searches a batch of games in
lockstep; the figure is the aggregate rate, ``batch * num_simulations / run time``, from the
opening position (the longest rollouts, so the slowest case) and from random early-middle-game
positions (8 to 16 plies in). The anchor is OpenSpiel's Python ``MCTSBot`` (random-rollout
evaluator) at about 8 000 simulations/s on Connect Four, a quoted figure (OpenSpiel is not
installed here), so it is printed with ``"anchor_source": "quoted"``; the issue's target is a
ratio of at least 100.

Minimax (:func:`rljax.games.baselines.alphabeta_player`, depth 4, the full-width expansion) is
timed in moves/s over a batch of random positions (0 to 20 plies in); it has no anchor.

Compile time is timed apart (``jit(f).lower(...).compile()``); run time is the median of
``--repeats`` calls after a warm-up call. The machines are shared: quote ratios and medians, not
single times. Each line also gives the rate per second of this process's CPU time
(``ours_per_cpu_s``), which load from other processes inflates less than wall time (the
programs run on one thread, so on an idle machine the two agree). Prints one JSON line per
measurement::

    python benchmarks/uct.py                 # batches 256 and 1024, 200 simulations
    python benchmarks/uct.py --simulations 1000 --batches 64 256 1024
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from rljax.benchmarking import emit
from rljax.envs.connect_four import ConnectFour
from rljax.games.baselines import alphabeta_player, uct_player

OPENSPIEL_MCTS_SIMS_PER_S = 8_000.0  # OpenSpiel's Python MCTSBot, Connect Four (quoted)


def random_positions(env: ConnectFour, batch: int, min_plies: int, max_plies: int, seed: int):
    """A batch of unfinished positions after ``min_plies..max_plies`` uniformly random moves."""
    rng = np.random.default_rng(seed)
    targets = jnp.asarray(rng.integers(min_plies, max_plies + 1, 4 * batch))
    play = jax.vmap(env.play)

    @jax.jit
    def run(key):
        states = jax.vmap(lambda _: env.init())(jnp.arange(4 * batch))

        def body(i, carry):
            states, key = carry
            key, sub = jax.random.split(key)
            noise = jax.random.uniform(sub, states.legal_action_mask.shape)
            action = jnp.argmax(jnp.where(states.legal_action_mask, noise, -1.0), -1)
            moved, _ = play(states, action.astype(jnp.int32))
            keep = (i >= targets) | states.terminated
            states = jax.tree.map(lambda a, b: jnp.where(_expand(keep, a), a, b), states, moved)
            return states, key

        return jax.lax.fori_loop(0, max_plies, body, (states, key))[0]

    states = run(jax.random.key(seed))
    alive = np.flatnonzero(~np.asarray(states.terminated))[:batch]
    if len(alive) < batch:
        raise RuntimeError("too few unfinished positions; lower max_plies")
    return jax.tree.map(lambda a: a[alive], states)


def time_compiled(fn, *args, repeats: int) -> tuple[float, float, float]:
    """``(compile_s, median wall s, median process CPU s)`` of ``jit(fn)`` on ``args``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(compiled(*args))
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return compile_s, statistics.median(wall), statistics.median(cpu)


def _expand(mask: jax.Array, like: jax.Array) -> jax.Array:
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--minimax-batch", type=int, default=256)
    parser.add_argument("--minimax-depth", type=int, default=4)
    args = parser.parse_args()
    env = ConnectFour()
    key = jax.random.key(0)

    for batch in args.batches:
        for start, states in (
            ("opening", jax.vmap(lambda _: env.init())(jnp.arange(batch))),
            ("plies_8_16", random_positions(env, batch, 8, 16, seed=batch)),
        ):
            act = uct_player(env, num_simulations=args.simulations)  # fresh: no cached compile
            compile_s, run_s, cpu_s = time_compiled(act, key, states, repeats=args.repeats)
            emit(
                f"uct_connect_four_{start}_b{batch}_s{args.simulations}",
                batch * args.simulations / run_s,
                OPENSPIEL_MCTS_SIMS_PER_S,
                "simulations/s",
                anchor_source="quoted",
                anchor_name="OpenSpiel MCTSBot (Python, random rollouts)",
                batch=batch,
                num_simulations=args.simulations,
                compile_s=round(compile_s, 2),
                run_s=round(run_s, 4),
                ours_per_cpu_s=round(batch * args.simulations / cpu_s),
                moves_per_s=round(batch / run_s, 1),
            )

    batch, depth = args.minimax_batch, args.minimax_depth
    states = random_positions(env, batch, 0, 20, seed=1)
    act = alphabeta_player(env, depth)
    compile_s, run_s, cpu_s = time_compiled(act, key, states, repeats=args.repeats)
    emit(
        f"minimax_connect_four_d{depth}_b{batch}",
        batch / run_s,
        None,
        "moves/s",
        batch=batch,
        depth=depth,
        ours_per_cpu_s=round(batch / cpu_s, 1),
        leaves_per_s=round(batch * env.num_actions**depth / run_s),
        compile_s=round(compile_s, 2),
        run_s=round(run_s, 4),
    )


if __name__ == "__main__":
    main()
