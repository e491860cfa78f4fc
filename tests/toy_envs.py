"""Toy time-limited environments for checking bootstrapping exactly.

``ToyTimeLimit-v0`` (two discrete actions) and ``ToyTimeLimitContinuous-v0`` (one action in
``[-1, 1]``) count steps: the observation after ``t`` steps is ``[t / max_steps, 1 - t /
max_steps]`` (float32 ``[2]``), the reward of step ``t`` (counted from 0) is ``1 + 0.1 t`` whatever
the action, and the episode is truncated after ``max_steps`` steps (the parameter
``max_steps_in_episode``, named as in the other environments). With ``terminal_step > 0`` it
terminates instead at that step (a true end: no bootstrap). Every observation is distinct within
an episode, and the final observation of a truncated episode (``t = max_steps``) is never a reset
observation (``t = 0``), so a learner that bootstraps a truncation from the reset observation, or
not at all, gives targets that differ from ``r + gamma * V(final_obs)``.

``ToyConstrained-v0`` is a constrained MDP on the same clock (10 steps): action 1 earns reward
1.0 and costs ``info["constraint_cost"] = 1.0``, action 0 earns and costs nothing. Under a
budget ``d`` the best policy takes action 1 on ``d`` of the 10 steps (return ``d``); without the
constraint it takes it always (return and cost 10).

Importing this module registers the ids (tests import it for that side effect).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from rljax import spaces
from rljax.env import Environment, register


@struct.dataclass
class ToyState:
    time: jax.Array  # steps taken this episode, int32 scalar


@struct.dataclass
class ToyParams:
    max_steps_in_episode: int = 5
    terminal_step: int = 0  # > 0: terminate (not truncate) at this step


def toy_obs(time: jax.Array, max_steps: int) -> jax.Array:
    """The observation after ``time`` steps: ``[2]`` float32."""
    frac = time.astype(jnp.float32) / max_steps
    return jnp.stack([frac, 1.0 - frac])


def toy_reward(time: jax.Array) -> jax.Array:
    """The reward of the step taken at ``time`` (0-based): ``1 + 0.1 time``."""
    return 1.0 + 0.1 * time.astype(jnp.float32)


class ToyTimeLimit(Environment[ToyState, ToyParams]):
    """Counts steps to a time limit; see the module docstring."""

    stochastic_step = False
    continuous = False

    @property
    def default_params(self) -> ToyParams:
        return ToyParams()

    def reset_env(self, key: jax.Array, params: ToyParams) -> tuple[jax.Array, ToyState]:
        time = jnp.zeros((), jnp.int32)
        return toy_obs(time, params.max_steps_in_episode), ToyState(time=time)

    def step_env(self, key, state: ToyState, action, params: ToyParams):
        reward = toy_reward(state.time)
        time = state.time + 1
        terminated = (params.terminal_step > 0) & (time >= params.terminal_step)
        truncated = (time >= params.max_steps_in_episode) & ~terminated
        obs = toy_obs(time, params.max_steps_in_episode)
        return obs, ToyState(time=time), reward, terminated, truncated, {}

    def observation_space(self, params: ToyParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)

    def action_space(self, params: ToyParams) -> spaces.Space:
        if self.continuous:
            return spaces.Box(-1.0, 1.0, (1,), jnp.float32)
        return spaces.Discrete(2)

    @property
    def name(self) -> str:
        return "ToyTimeLimitContinuous-v0" if self.continuous else "ToyTimeLimit-v0"


class ToyTimeLimitContinuous(ToyTimeLimit):
    continuous = True


class ToyConstrained(ToyTimeLimit):
    """Reward and constraint cost both equal the action (0 or 1); see the module docstring."""

    @property
    def default_params(self) -> ToyParams:
        return ToyParams(max_steps_in_episode=10)

    def step_env(self, key, state: ToyState, action, params: ToyParams):
        obs, state, _, terminated, truncated, _ = super().step_env(key, state, action, params)
        risky = (action == 1).astype(jnp.float32)
        return obs, state, risky, terminated, truncated, {"constraint_cost": risky}

    @property
    def name(self) -> str:
        return "ToyConstrained-v0"


register("ToyTimeLimit-v0", ToyTimeLimit)
register("ToyConstrained-v0", ToyConstrained)
register("ToyTimeLimitContinuous-v0", ToyTimeLimitContinuous)
