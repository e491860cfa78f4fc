"""What a PQN run carries between updates (:class:`TrainState`), returns (:class:`TrainResult`),
collects in a rollout (:class:`Transition`) and reports per update (:data:`METRIC_NAMES`).

No replay buffer and no target network: the state is the Q-network, its optimiser and the
environments, which is all a checkpoint needs to continue bitwise.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
from flax import struct

from rljax.vector import VecEnvState


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: a checkpoint saves this whole pytree."""

    params: Any  # the Q-network's
    opt_state: Any  # over the flat parameter vector (rljax.learning.optim)
    env_state: VecEnvState
    obs: jax.Array  # [num_envs, *obs_shape] float32, the observation the next rollout starts from
    key: jax.Array  # typed PRNG key
    update_step: jax.Array  # int32, updates done so far


class TrainResult(NamedTuple):
    params: Any
    metrics: dict[str, jax.Array]  # each [num_updates] (or [S, num_updates] under vmap)
    state: TrainState


class Transition(NamedTuple):
    """One rollout of ``T`` steps of ``B`` environments, laid out as
    :mod:`rljax.learning.returns` takes it."""

    obs: jax.Array  # [T, B, *obs_shape] float32, the observation acted on
    action: jax.Array  # [T, B] int32
    reward: jax.Array  # [T, B] float32, unscaled
    terminated: jax.Array  # [T, B] bool
    truncated: jax.Array  # [T, B] bool
    # [T, B, *obs_shape]: the observation after step t before any auto-reset, i.e. obs[t + 1]
    # where step t did not end an episode and the episode's last observation where it did.
    final_obs: jax.Array
    episode_return: jax.Array  # [T, B] return of the episode finished at this step
    episode_length: jax.Array  # [T, B]
    episode_done: jax.Array  # [T, B] bool


METRIC_NAMES = (
    "episode_return",
    "episode_length",
    "episodes_finished",
    "td_loss",
    "q_mean",
    "grad_norm",
    "epsilon",
    "lr",
    "env_steps",
)
