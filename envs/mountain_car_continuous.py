"""MountainCarContinuous-v0: Gymnasium's continuous mountain car, transition for transition.

An underpowered car in a valley (height ``0.45 * sin(3 * position) + 0.55``) must rock back and
forth to reach the flag on the right hill. Dynamics, the velocity and position clipping, the
inelastic left wall (velocity reset to 0 when the car sits at ``min_position`` moving left),
termination at the goal (``position >= goal_position and velocity >= goal_velocity``, rewarded
+100), the control cost and the 999-step time limit follow Gymnasium 1.x's
``Continuous_MountainCarEnv`` with its ``TimeLimit`` wrapper.

The force is **clipped** to ``[min_action, max_action]`` before it drives the car, as Gymnasium
specifies, but the control cost ``action_cost * action**2`` is charged on the action as given,
*before* clipping, again exactly as Gymnasium does: an out-of-range action pushes no harder than
the bound yet costs more. Arithmetic is float32 (Gymnasium starts an episode in float64 and stores
float32 after each step); a transition from the same state agrees to float32 precision. Stepping
an environment that has already terminated is undefined, as in Gymnasium.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.env import Environment, check_positive


@struct.dataclass
class MountainCarContinuousState:
    position: jax.Array  # [m, in the task's units], float32 scalar
    velocity: jax.Array  # [position units per step]
    time: jax.Array  # steps taken this episode, int32


@struct.dataclass
class MountainCarContinuousParams:
    min_action: float = -1.0
    max_action: float = 1.0
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.45
    goal_velocity: float = 0.0
    power: float = 0.0015  # velocity gained per step per unit of force
    gravity: float = 0.0025  # velocity lost per step per unit of cos(3 * position)
    goal_reward: float = 100.0
    action_cost: float = 0.1  # reward -= action_cost * action**2 (unclipped action)
    reset_low: float = -0.6  # initial position ~ U(reset_low, reset_high), velocity 0
    reset_high: float = -0.4
    max_steps_in_episode: int = 999


def _check_order(params, low: str, high: str) -> None:
    """Raises ``ValueError`` naming ``low`` if the (concrete) bound ``low`` exceeds ``high``."""
    lo, hi = np.asarray(getattr(params, low)), np.asarray(getattr(params, high))
    if not np.all(lo <= hi):
        raise ValueError(
            f"parameter {low}={lo.tolist()} is invalid: must be <= {high}={hi.tolist()}"
        )


class MountainCarContinuous(Environment[MountainCarContinuousState, MountainCarContinuousParams]):
    """Drive the car up the right hill. Action ``[1]`` force, observation ``[2]`` float32
    ``(position, velocity)``."""

    stochastic_step = False

    @property
    def default_params(self) -> MountainCarContinuousParams:
        return MountainCarContinuousParams()

    def validate_params(self, params: MountainCarContinuousParams) -> None:
        check_positive(params, "max_speed", "power", "max_steps_in_episode")
        check_positive(params, "gravity", "goal_reward", "action_cost", allow_zero=True)
        _check_order(params, "min_action", "max_action")
        _check_order(params, "min_position", "max_position")
        _check_order(params, "reset_low", "reset_high")

    def reset_env(
        self, key: jax.Array, params: MountainCarContinuousParams
    ) -> tuple[jax.Array, MountainCarContinuousState]:
        position = jax.random.uniform(key, (), jnp.float32, params.reset_low, params.reset_high)
        state = MountainCarContinuousState(
            position=position,
            velocity=jnp.zeros((), jnp.float32),
            time=jnp.zeros((), jnp.int32),
        )
        return self._obs(state), state

    def step_env(
        self,
        key,
        state: MountainCarContinuousState,
        action: jax.Array,
        params: MountainCarContinuousParams,
    ):
        a = action.astype(jnp.float32)[0]
        force = jnp.clip(a, params.min_action, params.max_action)

        velocity = state.velocity + (
            force * params.power - params.gravity * jnp.cos(3 * state.position)
        )
        velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
        position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
        # The left wall is inelastic: a car pinned against it stops instead of pushing through.
        velocity = jnp.where((position == params.min_position) & (velocity < 0), 0.0, velocity)
        new_state = MountainCarContinuousState(
            position=position.astype(jnp.float32),
            velocity=velocity.astype(jnp.float32),
            time=state.time + 1,
        )

        terminated = (position >= params.goal_position) & (velocity >= params.goal_velocity)
        reward = jnp.where(terminated, params.goal_reward, 0.0) - a**2 * params.action_cost
        truncated = new_state.time >= params.max_steps_in_episode
        return (
            self._obs(new_state),
            new_state,
            reward.astype(jnp.float32),
            terminated,
            truncated,
            {},
        )

    @staticmethod
    def _obs(state: MountainCarContinuousState) -> jax.Array:
        return jnp.stack([state.position, state.velocity]).astype(jnp.float32)

    def observation_space(self, params: MountainCarContinuousParams) -> spaces.Box:
        low = jnp.array([params.min_position, -params.max_speed], jnp.float32)
        high = jnp.array([params.max_position, params.max_speed], jnp.float32)
        return spaces.Box(low, high, (2,), jnp.float32)

    def action_space(self, params: MountainCarContinuousParams) -> spaces.Box:
        return spaces.Box(params.min_action, params.max_action, (1,), jnp.float32)

    @property
    def name(self) -> str:
        return "MountainCarContinuous-v0"


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class MountainCarRenderer:
    """The car on the hill, the flag at the goal position.

    See :mod:`rljax.render` for the arguments.
    """

    def __init__(self, fig, env, params, states, actions, returns):
        self.states = states
        lo, hi = float(np.asarray(params.min_position)), float(np.asarray(params.max_position))
        self.ax = ax = fig.add_subplot()
        xs = np.linspace(lo, hi, 200)
        ax.plot(xs, self._height(xs), color="0.3")
        goal = float(np.asarray(params.goal_position))
        ax.plot([goal, goal], [self._height(goal), self._height(goal) + 0.15], color="g")
        ax.plot([goal], [self._height(goal) + 0.15], "g>", markersize=8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(0.0, 1.2)
        ax.set_yticks([])
        ax.set_xlabel("position")
        (self.car,) = ax.plot([], [], "o", color="C0", markersize=12)
        self.artists = [self.car]

    @staticmethod
    def _height(x):
        return np.sin(3 * np.asarray(x)) * 0.45 + 0.55

    def draw(self, t: int) -> None:
        x = float(self.states.position[t])
        self.car.set_data([x], [self._height(x) + 0.03])
