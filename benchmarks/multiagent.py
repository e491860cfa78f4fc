"""Multi-agent grid environments: throughput against the notebook-style NumPy Treasure Hunt.

Env steps per second of a uniform random policy with auto-reset, at batch 1, 1024 and 4096 (one
"env step" is one joint step of one environment, all its agents moving). Ours runs
``TreasureHunt-v0`` through :class:`rljax.vector.VecEnv` (the public batched path: ``jax.vmap`` of
``env.step``, batch-level auto-reset that draws reset states only for finished environments, and
episode statistics; a small wrapper sums the team's rewards, since ``VecEnv`` keeps one return per
environment) in a ``lax.scan`` under ``jax.jit``. The anchor is
``benchmarks/numpy_treasure_hunt.py``: same rules, one environment at a time in Python, reset on
episode end. Both consume pre-drawn random actions (drawn before the clock starts), so the timings
are of the environments, not of the random number generators that choose the actions. Run times
are medians of repeats, compile time is reported apart, and the anchor is timed again next to
every measurement of ours (shared machines: the load moves). The anchor steps one environment at
a time whatever the batch.

The full run adds, at the largest batch, the hard task (12 x 12, 4 agents, 6 treasures) against
the anchor on the same task, and Tag-v0 (no anchor).

It also runs the greedy heuristic (:func:`rljax.envs.treasure_hunt.greedy_actions`: every agent
walks to its nearest remaining treasure) on many episodes of the default task (8 x 8, 2 agents,
3 treasures) and the harder one (12 x 12, 4 agents, 6 treasures), and reports its success rate
and mean episode length next to the NumPy reference's greedy agent on the same rules. Prints one
JSON line per measurement::

    python benchmarks/multiagent.py            # full table
    python benchmarks/multiagent.py --quick    # fewer steps and episodes
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import jax
import jax.numpy as jnp
import numpy as np

import rljax
from rljax.benchmarking import emit, time_compiled
from rljax.envs.treasure_hunt import greedy_actions
from rljax.vector import VecEnv
from rljax.wrappers import Wrapper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_treasure_hunt import (  # noqa: E402
    NumpyTreasureHunt,
    greedy_episodes,
    random_policy_steps_per_s,
)

BATCH_SIZES = (1, 1024, 4096)
# Envs per reset draw: with a random policy ~1.5 % of 4096 episodes end per step, so one chunk of
# 64 nearly always covers them (measured a little faster than 32 or 128).
RESET_CHUNK = 64
# The NumPy anchor's speed swings by up to 1.6x within a minute on these shared machines (90 k to
# 160 k steps/s measured back to back): a median of 5 repeats.
ANCHOR_REPEATS = 5
HARD = {"size": 12, "num_agents": 4, "num_treasures": 6}


class TeamReturn(Wrapper):
    """Sums the per-agent rewards ``[N]`` to one number, which ``VecEnv``'s episode statistics
    expect (they are per environment, ``[B]``)."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        return obs, state, jnp.sum(reward), terminated, truncated, info


def num_batch_steps(num_envs: int, quick: bool) -> int:
    """Enough batch steps for a run to last ~0.1-0.5 s at every batch size."""
    budget = 1_000_000 if quick else 3_000_000
    return int(np.clip(budget // num_envs, 200, 20_000))


def ours_throughput(
    env_id: str, num_envs: int, num_steps: int, repeats: int, **overrides
) -> tuple[float, float]:
    """``(steps/s, compile s)`` of ``env_id`` at batch ``num_envs`` through ``VecEnv``.

    Actions and the per-step keys are drawn before the clock starts (one key per batch step is
    what ``VecEnv.step`` takes; resets draw their own randomness inside the timed step).
    """
    env, params = rljax.make(env_id, **overrides)
    venv = VecEnv(TeamReturn(env), num_envs, reset_chunk=RESET_CHUNK)
    # uint8 keeps the pre-drawn actions small ([steps, B, N]); the cast fuses into the step.
    actions = jax.random.randint(
        jax.random.key(1), (num_steps, num_envs, env.num_agents), 0, 5, jnp.int32
    ).astype(jnp.uint8)
    step_keys = jax.random.split(jax.random.key(2), num_steps)

    def run(key, step_keys, actions):
        _, state = venv.reset(key, params)

        def body(state, key_and_action):
            key, action = key_and_action
            obs, state, reward, terminated, truncated, _ = venv.step(
                key, state, action.astype(jnp.int32), params
            )
            # The checksum depends on every observation, reward and ending: XLA cannot drop work.
            return state, jnp.sum(obs) + jnp.sum(reward) + jnp.sum(terminated | truncated)

        _, checksums = jax.lax.scan(body, state, (step_keys, actions))
        return jnp.sum(checksums)

    compile_s, run_s = time_compiled(run, jax.random.key(0), step_keys, actions, repeats=repeats)
    return num_envs * num_steps / run_s, compile_s


def anchor_throughput(num_steps: int, repeats: int, **settings) -> float:
    runs = [
        random_policy_steps_per_s(NumpyTreasureHunt(seed=i, **settings), num_steps, seed=i)
        for i in range(repeats)
    ]
    return statistics.median(runs)


def greedy_stats(num_episodes: int, **overrides) -> tuple[float, float]:
    """``(success rate, mean length of the successful episodes)`` of :func:`greedy_actions`."""
    env, params = rljax.make("TreasureHunt-v0", **overrides)
    max_steps = int(params.max_steps_in_episode)

    @jax.jit
    def run(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key, num_episodes), params
        )

        def body(carry, _):
            state, done, length, success = carry
            action = jax.vmap(greedy_actions, in_axes=(0, None))(state, params)
            _, next_state, _, terminated, truncated, _ = jax.vmap(
                env.step, in_axes=(None, 0, 0, None)
            )(key, state, action, params)
            # Finished episodes stay frozen (stepping past the end is undefined).
            state = jax.tree.map(
                lambda new, old: jnp.where(done.reshape((-1,) + (1,) * (new.ndim - 1)), old, new),
                next_state,
                state,
            )
            length = length + (~done).astype(jnp.int32)
            success = success | (~done & terminated)
            done = done | terminated | truncated
            return (state, done, length, success), None

        zeros = jnp.zeros((num_episodes,), jnp.bool_)
        init = (state, zeros, jnp.zeros((num_episodes,), jnp.int32), zeros)
        (_, _, length, success), _ = jax.lax.scan(body, init, None, max_steps)
        return length, success

    length, success = jax.tree.map(np.asarray, run(jax.random.key(0)))
    mean_length = float(length[success].mean()) if success.any() else float("nan")
    return float(success.mean()), mean_length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and episodes")
    parser.add_argument("--batch-sizes", nargs="*", type=int, default=list(BATCH_SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"# device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}"
    )

    # The anchor is timed next to every measurement of ours (the machines are shared: load
    # changes between measurements); it steps one environment at a time whatever the batch.
    anchor_steps = 10_000 if args.quick else 30_000
    for num_envs in args.batch_sizes:
        steps = num_batch_steps(num_envs, args.quick)
        anchor = anchor_throughput(anchor_steps, ANCHOR_REPEATS)
        ours, compile_s = ours_throughput("TreasureHunt-v0", num_envs, steps, args.repeats)
        emit(
            f"multiagent/TreasureHunt-v0/B={num_envs}/vs_numpy",
            ours,
            anchor,
            "steps/s",
            compile_s=round(compile_s, 3),
        )
    if not args.quick:
        num_envs = max(args.batch_sizes)
        steps = num_batch_steps(num_envs, args.quick)
        anchor = anchor_throughput(anchor_steps, ANCHOR_REPEATS, **HARD)
        ours, compile_s = ours_throughput("TreasureHunt-v0", num_envs, steps, args.repeats, **HARD)
        emit(
            f"multiagent/TreasureHunt-v0-hard/B={num_envs}/vs_numpy",
            ours,
            anchor,
            "steps/s",
            compile_s=round(compile_s, 3),
        )
        ours, compile_s = ours_throughput("Tag-v0", num_envs, steps, args.repeats)
        emit(
            f"multiagent/Tag-v0/B={num_envs}", ours, None, "steps/s", compile_s=round(compile_s, 3)
        )

    num_episodes = 1000 if args.quick else 10_000
    anchor_episodes = 500 if args.quick else 2000
    for name, overrides in (("default", {}), ("hard", HARD)):
        success, length = greedy_stats(num_episodes, **overrides)
        np_env = NumpyTreasureHunt(seed=0, **overrides)
        np_success, np_length = greedy_episodes(np_env, anchor_episodes)
        emit(f"multiagent/TreasureHunt-v0/greedy/{name}/success_rate", success, np_success, "")
        emit(f"multiagent/TreasureHunt-v0/greedy/{name}/mean_steps", length, np_length, "steps")


if __name__ == "__main__":
    main()
