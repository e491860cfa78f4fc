"""Acrobot-v1: Gymnasium's two-link swing-up task, transition for transition.

Two links hang from a fixed pivot; only the joint between them is driven, with a torque of -1, 0
or +1 (actions 0, 1, 2). The episode terminates once the free end rises above the target height
(``-l1 cos(theta1) - l2 cos(theta1 + theta2) > goal_height``; with Gymnasium's unit links and
height 1 this is its ``-cos(s0) - cos(s1 + s0) > 1.0``). The reward is -1 on every step and 0 on
the terminating one; the time limit is 500 steps.

Dynamics follow Gymnasium 1.x's ``AcrobotEnv`` with its default ``book_or_nips = "book"``
equations (Sutton and Barto's, which keep the ``dtheta1**2 sin(theta2)`` term the NIPS paper
dropped), integrated by one classical Runge-Kutta 4 step over ``dt = 0.2`` s; the angles are then
wrapped to ``[-pi, pi]`` and the angular velocities clipped to ``+-max_vel_1`` (4 pi) and
``+-max_vel_2`` (9 pi), in that order, as Gymnasium's ``wrap`` and ``bound`` do. Gymnasium's
``torque_noise_max`` is 0 and is not modelled, so a step ignores its key. Expressions keep
Gymnasium's order of operations so that float32 rounding is the only difference (Gymnasium
integrates in float64): a transition from the same state agrees to 1e-5 at the speeds episodes
reach, and to ~2e-3 in the velocities near their bounds, where one step is sensitive enough that
rounding the input state to float32 alone moves Gymnasium's own result that far (see
``tests/test_acrobot.py``). Stepping an environment that has already terminated is undefined, as
in Gymnasium.

Unlike the simpler classic-control environments, the unbatched step and a row of the vmapped
step can differ in the last bits (up to ~6e-6 after one step, flags and rewards equal): XLA:CPU
fuses ``a * b + c * d`` into one multiply-add and may round the other product in the scalar
program than in the vectorised one. Each compiled program is deterministic.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.env import Environment, check_positive


@struct.dataclass
class AcrobotState:
    theta1: jax.Array  # angle of link 1 from hanging straight down [rad], float32, in [-pi, pi]
    theta2: jax.Array  # angle of link 2 relative to link 1 [rad], in [-pi, pi]
    dtheta1: jax.Array  # angular velocity of joint 1 [rad/s], in [-max_vel_1, max_vel_1]
    dtheta2: jax.Array  # angular velocity of joint 2 [rad/s], in [-max_vel_2, max_vel_2]
    time: jax.Array  # steps taken this episode, int32


@struct.dataclass
class AcrobotParams:
    dt: float = 0.2  # [s], one RK4 step per environment step
    link_length_1: float = 1.0  # [m]
    link_length_2: float = 1.0  # [m]; only the goal test and the drawing use it, as in Gymnasium
    link_mass_1: float = 1.0  # [kg]
    link_mass_2: float = 1.0  # [kg]
    link_com_pos_1: float = 0.5  # [m] from joint 1 to link 1's centre of mass
    link_com_pos_2: float = 0.5  # [m] from joint 2 to link 2's centre of mass
    link_moi: float = 1.0  # moment of inertia of each link [kg m^2]
    gravity: float = 9.8  # [m/s^2]
    max_vel_1: float = 4 * math.pi  # [rad/s]
    max_vel_2: float = 9 * math.pi  # [rad/s]
    max_torque: float = 1.0  # action a applies torque (a - 1) * max_torque [N m]
    goal_height: float = 1.0  # [m] above the pivot that the free end must exceed
    reset_low: float = -0.1  # initial state ~ U(reset_low, reset_high)^4, as Gymnasium's
    reset_high: float = 0.1  # reset options low/high
    max_steps_in_episode: int = 500


def wrap(x: jax.Array, low: float, high: float) -> jax.Array:
    """Gymnasium's ``wrap``: shifts ``x`` by whole periods ``high - low`` into ``[low, high]``.

    Gymnasium subtracts (or adds) one period at a time while ``x`` is outside; here the count is
    computed at once (``ceil``), which is the same arithmetic for the single period one step can
    move an angle by.
    """
    period = high - low
    x = jnp.where(x > high, x - period * jnp.ceil((x - high) / period), x)
    return jnp.where(x < low, x + period * jnp.ceil((low - x) / period), x)


def _check_order(params, low: str, high: str) -> None:
    """Raises ``ValueError`` naming ``low`` if the (concrete) bound ``low`` exceeds ``high``."""
    lo, hi = np.asarray(getattr(params, low)), np.asarray(getattr(params, high))
    if not np.all(lo <= hi):
        raise ValueError(
            f"parameter {low}={lo.tolist()} is invalid: must be <= {high}={hi.tolist()}"
        )


def _derivatives(s: tuple, torque: jax.Array, params: AcrobotParams) -> tuple:
    """``d/dt (theta1, theta2, dtheta1, dtheta2)`` at ``s`` (four scalars) under ``torque``:
    Gymnasium's ``_dsdt`` with the book equations, term for term (the constant torque is not
    integrated)."""
    m1, m2 = params.link_mass_1, params.link_mass_2
    l1 = params.link_length_1
    lc1, lc2 = params.link_com_pos_1, params.link_com_pos_2
    i1 = i2 = params.link_moi
    g = params.gravity
    theta1, theta2, dtheta1, dtheta2 = s
    cos2, sin2 = jnp.cos(theta2), jnp.sin(theta2)
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + i2
    phi2 = m2 * lc2 * g * jnp.cos(theta1 + theta2 - jnp.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * sin2
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
        + (m1 * lc1 + m2 * l1) * g * jnp.cos(theta1 - jnp.pi / 2)
        + phi2
    )
    ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin2 - phi2) / (
        m2 * lc2**2 + i2 - d2**2 / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


def rk4_step(s: tuple, torque: jax.Array, params: AcrobotParams) -> tuple:
    """One classical Runge-Kutta 4 step of length ``params.dt`` from ``s`` (four scalars), as
    Gymnasium's ``rk4`` with ``t = [0, dt]``.

    The state stays four separate scalars rather than one ``[4]`` array: then every operation is
    elementwise over the environment batch, and XLA:CPU compiles the batched and the single step
    alike (with a stacked ``[4]`` vector the two differed in the last bit).
    """
    dt = params.dt
    dt2 = dt / 2.0

    def shifted(h, k):
        return tuple(x + h * dx for x, dx in zip(s, k, strict=True))

    k1 = _derivatives(s, torque, params)
    k2 = _derivatives(shifted(dt2, k1), torque, params)
    k3 = _derivatives(shifted(dt2, k2), torque, params)
    k4 = _derivatives(shifted(dt, k3), torque, params)
    return tuple(
        x + dt / 6.0 * (a + 2 * b + 2 * c + d)
        for x, a, b, c, d in zip(s, k1, k2, k3, k4, strict=True)
    )


class Acrobot(Environment[AcrobotState, AcrobotParams]):
    """Swing the free end above the target height. Actions ``Discrete(3)`` (torque -1, 0, +1),
    observation ``[6]`` float32 ``(cos theta1, sin theta1, cos theta2, sin theta2, dtheta1,
    dtheta2)``."""

    stochastic_step = False

    @property
    def default_params(self) -> AcrobotParams:
        return AcrobotParams()

    def validate_params(self, params: AcrobotParams) -> None:
        check_positive(
            params,
            "dt",
            "link_length_1",
            "link_length_2",
            "link_mass_1",
            "link_mass_2",
            "link_com_pos_1",
            "link_com_pos_2",
            "link_moi",
            "max_vel_1",
            "max_vel_2",
            "max_steps_in_episode",
        )
        check_positive(params, "gravity", "max_torque", allow_zero=True)
        _check_order(params, "reset_low", "reset_high")

    def reset_env(self, key: jax.Array, params: AcrobotParams) -> tuple[jax.Array, AcrobotState]:
        init = jax.random.uniform(key, (4,), jnp.float32, params.reset_low, params.reset_high)
        state = AcrobotState(
            theta1=init[0],
            theta2=init[1],
            dtheta1=init[2],
            dtheta2=init[3],
            time=jnp.zeros((), jnp.int32),
        )
        return self._obs(state), state

    def step_env(self, key, state: AcrobotState, action: jax.Array, params: AcrobotParams):
        torque = (action - 1).astype(jnp.float32) * params.max_torque
        s = (state.theta1, state.theta2, state.dtheta1, state.dtheta2)
        ns = rk4_step(s, torque, params)

        new_state = AcrobotState(
            theta1=wrap(ns[0], -jnp.pi, jnp.pi).astype(jnp.float32),
            theta2=wrap(ns[1], -jnp.pi, jnp.pi).astype(jnp.float32),
            dtheta1=jnp.clip(ns[2], -params.max_vel_1, params.max_vel_1).astype(jnp.float32),
            dtheta2=jnp.clip(ns[3], -params.max_vel_2, params.max_vel_2).astype(jnp.float32),
            time=state.time + 1,
        )
        terminated = self.tip_height(new_state, params) > params.goal_height
        reward = jnp.where(terminated, 0.0, -1.0).astype(jnp.float32)
        truncated = new_state.time >= params.max_steps_in_episode
        return self._obs(new_state), new_state, reward, terminated, truncated, {}

    @staticmethod
    def tip_height(state: AcrobotState, params: AcrobotParams) -> jax.Array:
        """Height of the free end above the pivot [m] (negative below it), float32 scalar."""
        return -params.link_length_1 * jnp.cos(state.theta1) - params.link_length_2 * jnp.cos(
            state.theta2 + state.theta1
        )

    @staticmethod
    def _obs(state: AcrobotState) -> jax.Array:
        return jnp.stack(
            [
                jnp.cos(state.theta1),
                jnp.sin(state.theta1),
                jnp.cos(state.theta2),
                jnp.sin(state.theta2),
                state.dtheta1,
                state.dtheta2,
            ]
        ).astype(jnp.float32)

    def observation_space(self, params: AcrobotParams) -> spaces.Box:
        high = jnp.array([1.0, 1.0, 1.0, 1.0, params.max_vel_1, params.max_vel_2], jnp.float32)
        return spaces.Box(-high, high, (6,), jnp.float32)

    def action_space(self, params: AcrobotParams) -> spaces.Discrete:
        return spaces.Discrete(3)

    @property
    def name(self) -> str:
        return "Acrobot-v1"


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class AcrobotRenderer:
    """The two links hanging from the pivot, the target height, and the torque last applied.

    See :mod:`rljax.render` for the arguments.
    """

    def __init__(self, fig, env, params, states, actions, returns):
        self.states, self.actions = states, actions
        self.l1 = float(np.asarray(params.link_length_1))
        self.l2 = float(np.asarray(params.link_length_2))
        self.max_torque = float(np.asarray(params.max_torque))
        self.ax = ax = fig.add_subplot()
        r = self.l1 + self.l2 + 0.2
        ax.set_xlim(-r, r)
        ax.set_ylim(-r, r)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axhline(float(np.asarray(params.goal_height)), color="0.3", linewidth=1)
        # The links as one polyline through pivot, middle joint and free end; joints as dots.
        (self.links,) = ax.plot(
            [],
            [],
            color="C0",
            linewidth=6,
            solid_capstyle="round",
            marker="o",
            markersize=7,
            markerfacecolor="C8",
            markeredgecolor="C8",
        )
        self.text = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=8)
        self.artists = [self.links, self.text]

    def draw(self, t: int) -> None:
        theta1 = float(self.states.theta1[t])  # 0: link 1 hangs straight down
        theta12 = theta1 + float(self.states.theta2[t])
        x1, y1 = self.l1 * math.sin(theta1), -self.l1 * math.cos(theta1)
        x2, y2 = x1 + self.l2 * math.sin(theta12), y1 - self.l2 * math.cos(theta12)
        self.links.set_data([0.0, x1, x2], [0.0, y1, y2])
        if t > 0:
            torque = (int(np.ravel(self.actions[t - 1])[0]) - 1) * self.max_torque
            self.text.set_text(f"torque {torque:+g}")
