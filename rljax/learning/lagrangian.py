"""The Lagrange multiplier of a constrained MDP, updated from measured episode costs.

A constrained MDP asks for the best return whose expected episode cost ``J_c`` (the sum of a
step's ``info["constraint_cost"]``) stays within a budget ``d``. The Lagrangian relaxation trains
on ``reward - lambda * cost`` and moves ``lambda >= 0`` to enforce the budget:

- ``"dual"``: plain dual ascent, ``lambda <- max(0, lambda + ki * (J_c - d))``. It is an integral
  controller alone, so it lags the cost and overshoots: the multiplier and the cost oscillate
  around the budget (Stooke, Achiam & Abbeel 2020, "Responsive Safety in Reinforcement Learning
  by PID Lagrangian Methods", Fig. 1).
- ``"pid"``: their PID Lagrangian (Algorithm 2): the integral term above, plus ``kp`` times the
  (smoothed) violation ``J_c - d``, plus ``kd`` times the smoothed cost's rise since the last
  update (rises only: a falling cost must not pull lambda down faster than the integral lets it),
  ``lambda = max(0, kp * P + I + kd * D)``. The proportional term reacts at once, the derivative
  term damps the overshoot, so lambda need not wind up to stop a violation.
- ``"fixed"``: ``lambda`` stays at its initial value: a fixed penalty, the baseline the budget
  is compared against.

All of it is float32 scalars, so one state per seed vmaps with the run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

MULTIPLIER_KINDS = ("pid", "dual", "fixed")


@struct.dataclass
class MultiplierState:
    """The controller's memory (float32 scalars; ``[S]`` under vmap)."""

    value: jax.Array  # lambda, the multiplier now
    integral: jax.Array  # I, the accumulated violation (starts at the initial lambda)
    smoothed_violation: jax.Array  # P's input: EMA of J_c - d
    smoothed_cost: jax.Array  # D's input: EMA of J_c
    updates: jax.Array  # int32, cost measurements taken (the first sets the EMAs)


class MultiplierGains(struct.PyTreeNode):
    """The controller's settings (float32 scalars, leaves of a run's hyperparameters)."""

    budget: jax.Array  # d: the expected episode cost allowed
    initial: jax.Array  # lambda before any measurement
    kp: jax.Array
    ki: jax.Array
    kd: jax.Array
    ema: jax.Array  # in (0, 1]: the weight of the newest measurement in the EMAs (1: none)


def init_multiplier(initial: jax.Array) -> MultiplierState:
    """The state before any measurement: ``lambda = integral = initial``."""
    initial = jnp.asarray(initial, jnp.float32)
    zero = jnp.zeros((), jnp.float32)
    return MultiplierState(initial, initial, zero, zero, jnp.zeros((), jnp.int32))


def update_multiplier(
    kind: str, state: MultiplierState, episode_cost: jax.Array, gains: MultiplierGains
) -> MultiplierState:
    """The state after measuring the mean episode cost ``episode_cost`` (a float32 scalar; NaN
    when no episode finished, which leaves the state as it was). ``kind`` is one of
    :data:`MULTIPLIER_KINDS` (static)."""
    if kind not in MULTIPLIER_KINDS:
        raise ValueError(f"multiplier kind {kind!r} is invalid: must be one of {MULTIPLIER_KINDS}")
    if kind == "fixed":
        return state
    measured = jnp.isfinite(episode_cost)
    cost = jnp.where(measured, episode_cost, 0.0)
    violation = cost - gains.budget
    integral = jnp.maximum(0.0, state.integral + gains.ki * violation)
    if kind == "dual":
        value = integral
        smoothed_violation, smoothed_cost = state.smoothed_violation, state.smoothed_cost
    else:
        first = state.updates == 0
        weight = jnp.where(first, 1.0, gains.ema)
        smoothed_violation = (1 - weight) * state.smoothed_violation + weight * violation
        smoothed_cost = (1 - weight) * state.smoothed_cost + weight * cost
        rise = jnp.where(first, 0.0, jnp.maximum(0.0, smoothed_cost - state.smoothed_cost))
        value = jnp.maximum(0.0, gains.kp * smoothed_violation + integral + gains.kd * rise)
    new = MultiplierState(
        value=value.astype(jnp.float32),
        integral=integral.astype(jnp.float32),
        smoothed_violation=smoothed_violation.astype(jnp.float32),
        smoothed_cost=smoothed_cost.astype(jnp.float32),
        updates=state.updates + 1,
    )
    return jax.tree.map(lambda a, b: jnp.where(measured, a, b), new, state)
