"""What a Lagrangian PPO run carries (:class:`TrainState`: PPO's, the multiplier's controller and
each environment's running episode cost) and reports per update (:data:`METRIC_NAMES`)."""

from __future__ import annotations

import jax
from flax import struct

from rljax.learning.lagrangian import MultiplierState
from rljax.train import ppo


@struct.dataclass
class TrainState(ppo.TrainState):
    """PPO's state (``params`` adds ``"cost_critic"``) and the constraint's."""

    multiplier: MultiplierState
    episode_cost: jax.Array  # [num_envs] float32, the cost of each running episode so far


METRIC_NAMES = (
    *ppo.METRIC_NAMES,
    "episode_cost",  # mean cost of the episodes finished in the update (NaN if none)
    "cost_value_loss",
    "lagrange_multiplier",  # after the update's measurement: the one its gradient steps used
)
