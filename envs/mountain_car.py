"""MountainCar-v0: Gymnasium's discrete mountain car, transition for transition.

An underpowered car in a valley (height ``0.45 * sin(3 * position) + 0.55``) must rock back and
forth to reach the flag on the right hill, pushing left (action 0), not at all (1) or right (2)
with a force of 0.001 against gravity 0.0025. Dynamics, the velocity and position clipping, the
inelastic left wall (velocity reset to 0 when the car sits at ``min_position`` moving left),
termination at the goal (``position >= goal_position and velocity >= goal_velocity``), the reward
of -1 on every step (the terminating one included) and the 200-step time limit follow Gymnasium
1.x's ``MountainCarEnv`` with its ``TimeLimit`` wrapper.

Arithmetic is float32 (Gymnasium starts an episode in float64 and keeps the state in float64);
a transition from the same state agrees to float32 precision. Stepping an environment that has
already terminated is undefined, as in Gymnasium. The drawing is
:class:`rljax.envs.mountain_car_continuous.MountainCarRenderer`'s, with the push named.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.env import Environment, check_positive
from rljax.envs.mountain_car_continuous import MountainCarRenderer


@struct.dataclass
class MountainCarState:
    position: jax.Array  # [in the task's units], float32 scalar
    velocity: jax.Array  # [position units per step]
    time: jax.Array  # steps taken this episode, int32


@struct.dataclass
class MountainCarParams:
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    goal_velocity: float = 0.0
    force: float = 0.001  # velocity gained per step from a push (action 0: -force, 2: +force)
    gravity: float = 0.0025  # velocity lost per step per unit of cos(3 * position)
    reset_low: float = -0.6  # initial position ~ U(reset_low, reset_high), velocity 0
    reset_high: float = -0.4
    max_steps_in_episode: int = 200


def _check_order(params, low: str, high: str) -> None:
    """Raises ``ValueError`` naming ``low`` if the (concrete) bound ``low`` exceeds ``high``."""
    lo, hi = np.asarray(getattr(params, low)), np.asarray(getattr(params, high))
    if not np.all(lo <= hi):
        raise ValueError(
            f"parameter {low}={lo.tolist()} is invalid: must be <= {high}={hi.tolist()}"
        )


class MountainCar(Environment[MountainCarState, MountainCarParams]):
    """Drive the car up the right hill. Actions ``Discrete(3)`` (push left, none, right),
    observation ``[2]`` float32 ``(position, velocity)``."""

    stochastic_step = False

    @property
    def default_params(self) -> MountainCarParams:
        return MountainCarParams()

    def validate_params(self, params: MountainCarParams) -> None:
        check_positive(params, "max_speed", "force", "max_steps_in_episode")
        check_positive(params, "gravity", allow_zero=True)
        _check_order(params, "min_position", "max_position")
        _check_order(params, "reset_low", "reset_high")

    def reset_env(
        self, key: jax.Array, params: MountainCarParams
    ) -> tuple[jax.Array, MountainCarState]:
        position = jax.random.uniform(key, (), jnp.float32, params.reset_low, params.reset_high)
        state = MountainCarState(
            position=position,
            velocity=jnp.zeros((), jnp.float32),
            time=jnp.zeros((), jnp.int32),
        )
        return self._obs(state), state

    def step_env(self, key, state: MountainCarState, action: jax.Array, params: MountainCarParams):
        push = (action - 1).astype(jnp.float32)
        # Gymnasium's order: the whole change is summed first, then added to the velocity.
        velocity = state.velocity + (
            push * params.force + jnp.cos(3 * state.position) * (-params.gravity)
        )
        velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
        position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
        # The left wall is inelastic: a car pinned against it stops instead of pushing through.
        velocity = jnp.where((position == params.min_position) & (velocity < 0), 0.0, velocity)
        new_state = MountainCarState(
            position=position.astype(jnp.float32),
            velocity=velocity.astype(jnp.float32),
            time=state.time + 1,
        )
        terminated = (position >= params.goal_position) & (velocity >= params.goal_velocity)
        truncated = new_state.time >= params.max_steps_in_episode
        reward = jnp.full((), -1.0, jnp.float32)
        return self._obs(new_state), new_state, reward, terminated, truncated, {}

    @staticmethod
    def _obs(state: MountainCarState) -> jax.Array:
        return jnp.stack([state.position, state.velocity]).astype(jnp.float32)

    def observation_space(self, params: MountainCarParams) -> spaces.Box:
        low = jnp.array([params.min_position, -params.max_speed], jnp.float32)
        high = jnp.array([params.max_position, params.max_speed], jnp.float32)
        return spaces.Box(low, high, (2,), jnp.float32)

    def action_space(self, params: MountainCarParams) -> spaces.Discrete:
        return spaces.Discrete(3)

    @property
    def name(self) -> str:
        return "MountainCar-v0"


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class DiscreteMountainCarRenderer(MountainCarRenderer):
    """The continuous car's picture (hill, flag, car), with the last push written under it.

    See :mod:`rljax.render` for the arguments.
    """

    PUSHES = ("push left", "no push", "push right")

    def __init__(self, fig, env, params, states, actions, returns):
        super().__init__(fig, env, params, states, actions, returns)
        self.actions = actions
        self.text = self.ax.text(0.02, 0.02, "", transform=self.ax.transAxes, fontsize=8)
        self.artists = [*self.artists, self.text]

    def draw(self, t: int) -> None:
        super().draw(t)
        if t > 0:
            self.text.set_text(self.PUSHES[int(np.ravel(self.actions[t - 1])[0])])
