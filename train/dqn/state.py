"""What a DQN run carries between updates (:class:`TrainState`, replay buffer included), stores
per environment step (:class:`Transition`), returns (:class:`TrainResult`) and reports per update
(:data:`METRIC_NAMES`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
from flax import struct

from rljax.learning.replay import ReplayState
from rljax.vector import VecEnvState


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: a checkpoint saves this whole pytree, the
    replay buffer with it, so a resumed run samples what the uninterrupted one would."""

    params: Any  # online Q-network
    target_params: Any  # target Q-network
    opt_state: Any
    replay: ReplayState
    env_state: VecEnvState
    obs: jax.Array  # [num_envs, *obs_shape] float32, the observation the next update acts on
    key: jax.Array  # typed PRNG key
    update_step: jax.Array  # int32, updates done so far
    grad_step: jax.Array  # int32, gradient steps taken so far (target updates count these)


class Transition(NamedTuple):
    """One environment step as the replay buffer stores it (leaves without batch axes there).

    ``next_obs`` is the observation the step led to in its own episode: the episode's final
    observation (``info["final_obs"]``) when the step ended one, not the next episode's first.
    ``terminated`` is the bootstrap mask (a true end); ``truncated`` only cuts n-step windows.
    """

    obs: jax.Array  # [*obs_shape] float32
    action: jax.Array  # [] int32
    reward: jax.Array  # [] float32
    terminated: jax.Array  # [] bool
    truncated: jax.Array  # [] bool
    next_obs: jax.Array  # [*obs_shape] float32


class TrainResult(NamedTuple):
    params: Any
    metrics: dict[str, jax.Array]  # each [num_updates] (or [S, num_updates] under vmap)
    state: TrainState


METRIC_NAMES = (
    "episode_return",  # mean over envs of their last finished episode's return (NaN before one)
    "episode_length",  # the same for the lengths
    "episodes_finished",  # episodes that ended in this update, all envs together
    "loss",  # mean TD loss (or C51 cross-entropy) of the update's gradient steps; 0 before any
    "q_mean",  # mean Q(obs, action) of the sampled batches; 0 before learning starts
    "epsilon",  # exploration epsilon at the update's first step (0 with noisy nets)
    "learning",  # 1.0 once the update took gradient steps
    "env_steps",  # environment steps so far, per seed
)
