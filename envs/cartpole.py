"""CartPole-v1: Gymnasium's cart-pole balancing task, transition for transition.

Dynamics (explicit Euler, tau = 0.02 s), reward (+1 on every step, the terminating one included),
termination (|x| > 2.4 or |theta| > 12 degrees) and the 500-step time limit follow Gymnasium 1.x's
``CartPoleEnv`` with its ``TimeLimit`` wrapper. Arithmetic is float32 (Gymnasium keeps the state in
float64); a transition from the same state agrees to float32 precision. Stepping an environment
that has already terminated is undefined, as in Gymnasium.
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
class CartPoleState:
    x: jax.Array  # cart position [m], float32 scalar
    x_dot: jax.Array  # cart velocity [m/s]
    theta: jax.Array  # pole angle from upright [rad]
    theta_dot: jax.Array  # pole angular velocity [rad/s]
    time: jax.Array  # steps taken this episode, int32


@struct.dataclass
class CartPoleParams:
    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length [m]
    force_mag: float = 10.0
    tau: float = 0.02
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    reset_bound: float = 0.05  # initial state ~ U(-reset_bound, reset_bound)^4
    max_steps_in_episode: int = 500


class CartPole(Environment[CartPoleState, CartPoleParams]):
    """Push a cart left (0) or right (1) to keep the pole upright. Observation ``[4]`` float32."""

    stochastic_step = False

    @property
    def default_params(self) -> CartPoleParams:
        return CartPoleParams()

    def validate_params(self, params: CartPoleParams) -> None:
        check_positive(
            params,
            "gravity",
            "masscart",
            "masspole",
            "length",
            "force_mag",
            "tau",
            "theta_threshold_radians",
            "x_threshold",
            "max_steps_in_episode",
        )
        check_positive(params, "reset_bound", allow_zero=True)

    def reset_env(self, key: jax.Array, params: CartPoleParams) -> tuple[jax.Array, CartPoleState]:
        init = jax.random.uniform(key, (4,), jnp.float32, -params.reset_bound, params.reset_bound)
        state = CartPoleState(
            x=init[0],
            x_dot=init[1],
            theta=init[2],
            theta_dot=init[3],
            time=jnp.zeros((), jnp.int32),
        )
        return init, state

    def step_env(self, key, state: CartPoleState, action: jax.Array, params: CartPoleParams):
        force = jnp.where(action == 1, params.force_mag, -params.force_mag)
        costheta = jnp.cos(state.theta)
        sintheta = jnp.sin(state.theta)
        total_mass = params.masspole + params.masscart
        polemass_length = params.masspole * params.length
        temp = (force + polemass_length * jnp.square(state.theta_dot) * sintheta) / total_mass
        thetaacc = (params.gravity * sintheta - costheta * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * jnp.square(costheta) / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass

        x = state.x + params.tau * state.x_dot
        x_dot = state.x_dot + params.tau * xacc
        theta = state.theta + params.tau * state.theta_dot
        theta_dot = state.theta_dot + params.tau * thetaacc
        time = state.time + 1
        new_state = CartPoleState(x=x, x_dot=x_dot, theta=theta, theta_dot=theta_dot, time=time)

        terminated = (
            (x < -params.x_threshold)
            | (x > params.x_threshold)
            | (theta < -params.theta_threshold_radians)
            | (theta > params.theta_threshold_radians)
        )
        truncated = time >= params.max_steps_in_episode
        obs = jnp.stack([x, x_dot, theta, theta_dot])
        reward = jnp.ones((), jnp.float32)
        return obs, new_state, reward, terminated, truncated, {}

    def observation_space(self, params: CartPoleParams) -> spaces.Box:
        high = jnp.array(
            [
                params.x_threshold * 2,
                jnp.finfo(jnp.float32).max,
                params.theta_threshold_radians * 2,
                jnp.finfo(jnp.float32).max,
            ],
            jnp.float32,
        )
        return spaces.Box(-high, high, (4,), jnp.float32)

    def action_space(self, params: CartPoleParams) -> spaces.Discrete:
        return spaces.Discrete(2)

    @property
    def name(self) -> str:
        return "CartPole-v1"


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class CartPoleRenderer:
    """The cart on its track between the position limits and the pole on it.

    See :mod:`rljax.render` for the arguments.
    """

    def __init__(self, fig, env, params, states, actions, returns):
        from matplotlib.patches import Rectangle

        self.states = states
        limit = float(np.asarray(params.x_threshold))
        self.pole = 2.0 * float(np.asarray(params.length))
        self.ax = ax = fig.add_subplot()
        ax.set_xlim(-limit - 0.5, limit + 0.5)
        ax.set_ylim(-0.3, self.pole + 0.6)
        ax.set_aspect("equal")
        ax.set_yticks([])
        ax.axhline(0.0, color="0.3", linewidth=1)
        for side in (-limit, limit):
            ax.axvline(side, color="0.7", linestyle=":", linewidth=1)
        self.w, self.h = 0.5, 0.3
        self.cart = Rectangle((0, 0), self.w, self.h, color="C0")
        ax.add_patch(self.cart)
        (self.rod,) = ax.plot([], [], color="C1", linewidth=4, solid_capstyle="round")
        self.artists = [self.cart, self.rod]

    def draw(self, t: int) -> None:
        x = float(self.states.x[t])
        theta = float(self.states.theta[t])
        self.cart.set_xy((x - self.w / 2, 0.0))
        top = self.h
        self.rod.set_data(
            [x, x + self.pole * math.sin(theta)], [top, top + self.pole * math.cos(theta)]
        )
