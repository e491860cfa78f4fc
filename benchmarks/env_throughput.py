"""Random-policy environment throughput: rljax against gymnax and Gymnasium, in one process.

Every measurement uses the same harness: a ``lax.scan`` of batch steps, actions drawn with one
random call per batch step, auto-reset on. rljax runs through its public ``VecEnv``; gymnax through
its documented idiom (``vmap`` of ``env.step`` with one key per environment, its built-in
auto-reset); Gymnasium through ``SyncVectorEnv`` (same-step auto-reset) in Python. Run times are
medians of repeats; compile time is reported apart. Prints one JSON line per measurement::

    python benchmarks/env_throughput.py            # full table
    python benchmarks/env_throughput.py --quick    # CartPole only, fewer steps
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from rljax.benchmarking import emit, env_throughput, time_compiled

BATCH_SIZES = (1, 64, 1024, 4096)
ENV_IDS = ("CartPole-v1", "Pendulum-v1", "MountainCarContinuous-v0")


def num_batch_steps(num_envs: int, quick: bool) -> int:
    """Enough batch steps for a run to last ~0.1-0.5 s at every batch size."""
    budget = 1_000_000 if quick else 4_000_000
    return int(np.clip(budget // num_envs, 500, 20_000))


def gymnax_throughput(env_id: str, num_envs: int, num_steps: int, repeats: int) -> float:
    import gymnax

    env, params = gymnax.make(env_id)
    space = env.action_space(params)
    discrete = hasattr(space, "n")

    def run(key):
        key, key_reset = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, num_envs), params
        )

        def body(carry, _):
            state, key = carry
            key, key_action, key_step = jax.random.split(key, 3)
            if discrete:
                action = jax.random.randint(key_action, (num_envs,), 0, space.n)
            else:
                action = jax.random.uniform(
                    key_action, (num_envs, *space.shape), jnp.float32, space.low, space.high
                )
            obs, state, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_step, num_envs), state, action, params
            )
            return (state, key), jnp.sum(obs) + jnp.sum(reward)

        _, checksums = jax.lax.scan(body, (state, key), None, num_steps)
        return jnp.sum(checksums)

    _, run_s = time_compiled(run, jax.random.key(0), repeats=repeats)
    return num_envs * num_steps / run_s


def gymnasium_throughput(env_id: str, num_envs: int, num_steps: int, repeats: int) -> float:
    """Steps/s of Gymnasium's SyncVectorEnv (``num_envs`` > 0) in plain Python."""
    import gymnasium as gym

    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.action_space.seed(0)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    single = envs.single_action_space
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(num_steps):
            if hasattr(single, "n"):
                action = rng.integers(0, single.n, size=num_envs)
            else:
                action = rng.uniform(single.low, single.high, size=(num_envs, *single.shape))
                action = action.astype(np.float32)
            envs.step(action)
        times.append(time.perf_counter() - start)
    envs.close()
    return num_envs * num_steps / statistics.median(times)


def gymnasium_single_throughput(env_id: str, num_steps: int, repeats: int) -> float:
    """Steps/s of one plain Gymnasium environment stepped in a Python loop."""
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(num_steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        times.append(time.perf_counter() - start)
    return num_steps / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CartPole only, fewer steps")
    parser.add_argument("--envs", nargs="*", default=None, help=f"env ids (default {ENV_IDS})")
    parser.add_argument("--batch-sizes", nargs="*", type=int, default=list(BATCH_SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-gymnasium", action="store_true", help="skip the Python anchors")
    args = parser.parse_args()
    env_ids = args.envs or (("CartPole-v1",) if args.quick else ENV_IDS)
    print(
        f"# device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}"
    )

    for env_id in env_ids:
        ours_by_batch = {}
        for num_envs in args.batch_sizes:
            steps = num_batch_steps(num_envs, args.quick)
            ours = env_throughput(env_id, num_envs, steps, repeats=args.repeats)
            ours_by_batch[num_envs] = ours["steps_per_s"]
            anchor = gymnax_throughput(env_id, num_envs, steps, args.repeats)
            emit(
                f"env_throughput/{env_id}/B={num_envs}/vs_gymnax",
                ours["steps_per_s"],
                anchor,
                "steps/s",
                compile_s=round(ours["compile_s"], 3),
            )
            if not args.no_gymnasium and num_envs <= 64:
                gym_steps = max(200, 20_000 // num_envs)
                anchor = gymnasium_throughput(env_id, num_envs, gym_steps, 3)
                emit(
                    f"env_throughput/{env_id}/B={num_envs}/vs_gymnasium_sync_vector",
                    ours["steps_per_s"],
                    anchor,
                    "steps/s",
                )
        if not args.no_gymnasium and 1 in ours_by_batch:
            anchor = gymnasium_single_throughput(env_id, 20_000, 3)
            emit(
                f"env_throughput/{env_id}/B=1/vs_gymnasium_single",
                ours_by_batch[1],
                anchor,
                "steps/s",
            )


if __name__ == "__main__":
    main()
