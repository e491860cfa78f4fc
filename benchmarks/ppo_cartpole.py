"""PPO on CartPole-v1: rljax's ``ppo`` against PureJaxRL's PPO, in one process.

The anchor is ``benchmarks/purejaxrl_ppo.py``, a faithful copy of PureJaxRL's ``ppo.py``. Both run
the reference settings (4 envs x 128 steps, 500 k env steps, 4 epochs x 4 minibatches, 64x64 tanh)
as one jitted program per seed count: the plain ``train(key)`` for 1 seed, ``vmap(train)`` over the
keys otherwise. Each function returns what its ``train`` returns, in full. Over several seeds ours
runs the way ``rljax train ppo`` runs them, through :func:`rljax.multicore.vmap_seeds` (the seeds
split into one group per CPU core, each group one vmapped program in its own thread);
``--plain-vmap`` also times ours as one ``vmap`` like the anchor. Compile time is timed
apart (``jit(f).lower(keys).compile()``); run time is the median of ``--repeats`` calls after one
warm-up call (which counts as the first repeat when it lasts over 10 s, as at 64 seeds on a small
CPU), ours and the anchor's calls interleaved so that load from other processes hits both.

Final return: ours is the nanmean of ``metrics["episode_return"]`` over the last 10 updates (NaN
where no episode finished), the anchor's the mean of ``returned_episode_returns`` over the last 10
updates (every step of every env, PureJaxRL's own plotting metric); both then averaged over seeds.

XLA workaround: with jax/jaxlib 0.10.2 on CPU, the *vmapped* PureJaxRL program deadlocks at run
time, nondeterministically but on most calls (all threads idle, the caller blocked in
``block_until_ready``; seen at 2, 4 and 64 seeds, also with ``UPDATE_EPOCHS=0``; never seen for the
unvmapped program nor for ours). ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` avoids
it; it only takes effect through ``XLA_FLAGS`` (not as a per-compile option), so this script adds it
to ``XLA_FLAGS`` for the whole process, ours included, before JAX starts. ``--no-xla-workaround``
leaves ``XLA_FLAGS`` alone (expect the anchor to hang at seeds > 1).

Prints one JSON line per measurement::

    python benchmarks/ppo_cartpole.py            # seeds 1 and 64, 500 k steps, 3 repeats
    python benchmarks/ppo_cartpole.py --quick    # 100 k steps, 1 repeat
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

XLA_WORKAROUND = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
if "--no-xla-workaround" not in sys.argv:  # must precede JAX's backend start-up
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_WORKAROUND}".strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from rljax import multicore  # noqa: E402
from rljax.benchmarking import emit  # noqa: E402
from rljax.train import ppo  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import purejaxrl_ppo  # noqa: E402

LAST_UPDATES = 10
LONG_RUN_S = 10.0  # a warm-up call this long is timed as a repeat: its start-up cost is noise


def over_seeds(train: Callable[[jax.Array], Any], num_seeds: int) -> Callable[[jax.Array], Any]:
    """``f(keys [S]) -> outputs with a leading [S] axis``: plain ``train`` for S == 1, else vmap."""
    if num_seeds == 1:
        return lambda keys: jax.tree.map(lambda x: x[None], train(keys[0]))
    return jax.vmap(train)


def ours_final_return(result: ppo.TrainResult) -> np.ndarray:
    returns = np.asarray(result.metrics["episode_return"])[:, -LAST_UPDATES:]
    return np.nanmean(returns, axis=1)  # [S]


def anchor_final_return(out: dict) -> np.ndarray:
    returns = np.asarray(out["metrics"]["returned_episode_returns"])[:, -LAST_UPDATES:]
    return returns.reshape(returns.shape[0], -1).mean(axis=1)  # [S]


def compile_timed(fn: Callable, keys: jax.Array) -> tuple[Callable, float]:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(keys).compile()
    return compiled, time.perf_counter() - start


def run_timed(compiled: Callable, keys: jax.Array) -> tuple[Any, float]:
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    return out, time.perf_counter() - start


def compile_ours_multicore(config: ppo.Config, keys: jax.Array) -> tuple[Callable, float]:
    run = multicore.vmap_seeds(ppo.make_train(config), keys.shape[0])
    print(f"# ours over {keys.shape[0]} seeds: {run.groups} groups, one thread each", flush=True)
    return run, run.compile(keys)


def bench_seeds(num_seeds: int, total_timesteps: int, repeats: int, plain_vmap: bool) -> None:
    config = ppo.Config(total_timesteps=total_timesteps)
    anchor_config = {**purejaxrl_ppo.CONFIG, "TOTAL_TIMESTEPS": total_timesteps}
    env_steps = config.num_updates * config.batch_size  # the same for both: whole updates only
    anchor_updates = total_timesteps // anchor_config["NUM_STEPS"] // anchor_config["NUM_ENVS"]
    assert anchor_updates == config.num_updates
    keys = jax.random.split(jax.random.key(0), num_seeds)

    fns = {
        "ours": over_seeds(ppo.make_train(config), num_seeds),
        "anchor": over_seeds(purejaxrl_ppo.make_train(anchor_config), num_seeds),
    }
    if num_seeds > 1 and plain_vmap:
        fns["ours_vmap"] = fns["ours"]
    compiled, compile_s = {}, {}
    for name, fn in fns.items():
        if name == "ours" and num_seeds > 1:
            compiled[name], compile_s[name] = compile_ours_multicore(config, keys)
        else:
            compiled[name], compile_s[name] = compile_timed(fn, keys)
    outs, runs = {}, {name: [] for name in fns}
    for name in fns:  # warm-up (first-run allocations); a long one counts as a repeat
        outs[name], seconds = run_timed(compiled[name], keys)
        if seconds > LONG_RUN_S:
            runs[name].append(seconds)
    for _ in range(repeats - min(len(times) for times in runs.values())):
        for name in fns:
            if len(runs[name]) < repeats:
                outs[name], seconds = run_timed(compiled[name], keys)
                runs[name].append(seconds)
    run_s = {name: statistics.median(times) for name, times in runs.items()}
    final = {"ours": ours_final_return(outs["ours"]), "anchor": anchor_final_return(outs["anchor"])}
    if "ours_vmap" in fns:  # the same seeds' results, bit for bit, whichever way they ran
        same = jax.tree.map(
            lambda a, b: bool(np.array_equal(a, b)), outs["ours"].params, outs["ours_vmap"].params
        )
        vmap_steps = env_steps * num_seeds / statistics.median(runs["ours_vmap"])
        emit(
            f"ppo_cartpole/seeds={num_seeds}/plain_vmap_steps_per_s",
            vmap_steps,
            env_steps * num_seeds / statistics.median(runs["anchor"]),
            "steps/s",
            compile_s=compile_s["ours_vmap"],
            bitwise_same_as_multicore=all(jax.tree.leaves(same)),
        )

    prefix = f"ppo_cartpole/seeds={num_seeds}"
    extra = {"env_steps": env_steps * num_seeds, "repeats": repeats}
    emit(f"{prefix}/run_s", run_s["ours"], run_s["anchor"], "s", **extra)
    emit(f"{prefix}/compile_s", compile_s["ours"], compile_s["anchor"], "s")
    emit(
        f"{prefix}/steps_per_s",
        env_steps * num_seeds / run_s["ours"],
        env_steps * num_seeds / run_s["anchor"],
        "steps/s",
    )
    emit(
        f"{prefix}/final_return",
        float(np.mean(final["ours"])),
        float(np.mean(final["anchor"])),
        "return",
        ours_min=float(np.min(final["ours"])),
        anchor_min=float(np.min(final["anchor"])),
        ours_std=float(np.std(final["ours"])),
        anchor_std=float(np.std(final["anchor"])),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 64], help="seed counts")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default 3)")
    parser.add_argument("--timesteps", type=int, default=None, help="env steps per seed")
    parser.add_argument("--quick", action="store_true", help="100 k steps, one repeat")
    parser.add_argument(
        "--plain-vmap", action="store_true", help="also time ours as one vmap over all seeds"
    )
    parser.add_argument(
        "--no-xla-workaround", action="store_true", help=f"do not add {XLA_WORKAROUND} to XLA_FLAGS"
    )
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    timesteps = args.timesteps or (100_000 if args.quick else 500_000)
    device = f"{jax.devices()[0].device_kind} ({jax.default_backend()})"
    xla_flags = os.environ.get("XLA_FLAGS", "")
    print(f"# device: {device}, jax {jax.__version__}, XLA_FLAGS={xla_flags!r}")
    for num_seeds in args.seeds:
        bench_seeds(num_seeds, timesteps, repeats, args.plain_vmap)


if __name__ == "__main__":
    main()
