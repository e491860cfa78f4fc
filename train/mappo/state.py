"""What a MAPPO run carries between updates (:class:`TrainState`), returns (:class:`TrainResult`),
collects in a rollout (:class:`Transition`) and reports per update (:data:`METRIC_NAMES`).

Shapes: ``N`` agents with observations ``[D]``, global state ``[G]``; ``T`` steps of ``B``
environments per rollout.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
from flax import struct

from rljax.learning.running_stats import RunningMeanStd
from rljax.vector import VecEnvState


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: a checkpoint saves this whole pytree."""

    params: Any  # {"actor": (group params, ...), "critic": (group params, ...)}
    opt_state: Any
    env_state: VecEnvState  # of VecEnv(MultiAgentView(env)); env_state.env_state is env's own
    obs: Any  # {"obs": [B, N, D], "global": [B, G]}, where the next rollout starts
    key: jax.Array
    update_step: jax.Array  # int32
    obs_stats: RunningMeanStd  # of one agent's observation [D]
    global_stats: RunningMeanStd  # of the global state [G]


class TrainResult(NamedTuple):
    params: Any
    metrics: dict[str, jax.Array]  # each [num_updates] (or [S, num_updates] under vmap)
    state: TrainState


METRIC_NAMES = (
    "episode_return",
    "episode_length",
    "success_rate",
    "episodes_finished",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_frac",
    "grad_norm",
    "lr",
    "env_steps",
)


class Transition(NamedTuple):
    obs: jax.Array  # [T, B, N, D] raw
    global_state: jax.Array  # [T, B, G] raw
    action: jax.Array  # [T, B, N]
    log_prob: jax.Array  # [T, B, N]
    reward: jax.Array  # [T, B, N], the learning reward (shared or difference), unscaled
    terminated: jax.Array  # [T, B]
    truncated: jax.Array  # [T, B]
    final_obs: jax.Array  # [T, B, N, D]
    final_global: jax.Array  # [T, B, G]
    episode_return: jax.Array  # [T, B] team return of the episode finished at this step
    episode_length: jax.Array  # [T, B]
    episode_done: jax.Array  # [T, B]
