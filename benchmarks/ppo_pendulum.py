"""The Pendulum-v1 preset's learning check: mean final return over 8 seeds within 1 M steps.

The target is >= -300; there is no same-process peer to time against, so "anchor" is null. Final
return is the nanmean of ``metrics["episode_return"]`` over the last 10 updates, per seed::

    python benchmarks/ppo_pendulum.py                 # 8 seeds, the preset's 1 M steps
    python benchmarks/ppo_pendulum.py --seeds 2 --timesteps 200000
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np

from rljax.benchmarking import emit
from rljax.train import ppo

TARGET = -300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--timesteps", type=int, default=None, help="env steps per seed")
    args = parser.parse_args()
    config = ppo.PRESETS["pendulum"]
    if args.timesteps:
        config = dataclasses.replace(config, total_timesteps=args.timesteps)
    print(f"# device: {jax.devices()[0].device_kind}, jax {jax.__version__}")
    keys = jax.random.split(jax.random.key(0), args.seeds)
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(ppo.make_train(config))).lower(keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - start
    final = np.nanmean(np.asarray(result.metrics["episode_return"])[:, -10:], axis=1)
    steps = args.seeds * config.num_updates * config.batch_size
    emit(
        f"ppo_pendulum/seeds={args.seeds}/final_return",
        float(final.mean()),
        None,
        "return",
        target=TARGET,
        passed=bool(final.mean() >= TARGET),
        per_seed=[round(float(x), 1) for x in final],
        min=float(final.min()),
        env_steps_per_seed=config.num_updates * config.batch_size,
    )
    emit(f"ppo_pendulum/seeds={args.seeds}/run_s", run_s, None, "s", compile_s=compile_s)
    emit(f"ppo_pendulum/seeds={args.seeds}/steps_per_s", steps / run_s, None, "steps/s")


if __name__ == "__main__":
    main()
