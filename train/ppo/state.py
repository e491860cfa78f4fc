"""What a PPO run carries between updates (:class:`TrainState`), returns (:class:`TrainResult`),
collects in a rollout (:class:`Transition`) and reports per update (:data:`METRIC_NAMES`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
from flax import struct

from rljax.learning.running_stats import RunningMeanStd
from rljax.vector import VecEnvState


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: a checkpoint saves this whole pytree."""

    params: Any  # {"actor": ..., "critic": ...}
    opt_state: Any
    env_state: VecEnvState
    obs: jax.Array  # [num_envs, *obs_shape], the observation the next rollout starts from
    key: jax.Array  # typed PRNG key
    update_step: jax.Array  # int32, updates done so far
    obs_stats: RunningMeanStd
    return_stats: RunningMeanStd  # of the discounted return, for reward normalisation
    discounted_return: jax.Array  # [num_envs]


class TrainResult(NamedTuple):
    params: Any
    metrics: dict[str, jax.Array]  # each [num_updates] (or [S, num_updates] under vmap)
    state: TrainState


class Transition(NamedTuple):
    obs: jax.Array  # [T, B, *obs_shape] raw observations
    action: jax.Array  # [T, B] or [T, B, A]
    log_prob: jax.Array  # [T, B]
    reward: jax.Array  # [T, B] (normalised if normalize_reward)
    terminated: jax.Array  # [T, B] bool
    truncated: jax.Array  # [T, B] bool
    final_obs: jax.Array  # [T, B, *obs_shape] last obs of the episode on the step that ended it
    episode_return: jax.Array  # [T, B] return of the episode finished at this step
    episode_length: jax.Array  # [T, B]
    episode_done: jax.Array  # [T, B] bool


METRIC_NAMES = (
    "episode_return",
    "episode_length",
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
