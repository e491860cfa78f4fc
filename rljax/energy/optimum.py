"""The exact optimum of a home battery's schedule with perfect foresight, by dynamic programming
over the battery level, vmapped over many days.

The problem (:class:`Problem`; one horizon of ``T`` one-hour steps, energy in kWh, money in $):

- the battery level ``s_t`` stays in ``[0, capacity]``, from ``s_0 = initial_level``;
- the decision is the battery-side change ``c_t = s_{t+1} - s_t`` in ``[-max_power, b_t]``, where
  ``b_t = min(max_power, charge_efficiency * max(import_cap - net_load_t, 0))``: charging may not
  draw beyond the import cap (EnergyManagement-v0's rule);
- the grid sees ``x_t = net_load_t + c_t / charge_efficiency`` when charging and
  ``net_load_t + c_t * discharge_efficiency`` when discharging (``net_load = demand - solar``);
- the hour costs ``import_price_t * clip(x_t, 0, import_cap) - export_price_t * max(-x_t, 0)
  + unmet_penalty * max(x_t - import_cap, 0) + degradation_cost * |c_t|``, and what is left at
  the end is worth ``final_level_value`` $/kWh.

With ``0 <= export_price <= import_price <= unmet_penalty`` and efficiencies in ``(0, 1]`` (the
rules :func:`check_problem` enforces) every hour's cost is a convex piecewise-linear function of
``c_t`` with at most four pieces, so the cost-to-go ``V_t(s)`` is convex piecewise linear in the
level, and the Bellman step ``V_t(s) = min_c g_t(c) + V_{t+1}(s + c)`` is an infimal convolution:
its pieces are those of ``V_{t+1}`` and of ``g_t`` (mirrored) merged by slope. So the dynamic
programme needs no level grid and is exact up to float32 rounding (a grid of levels would be
off by about half a grid step's cost at every kink of the optimum); ``V_t`` has at most
``1 + 4 (T - t)`` pieces. The schedule is then read forward: the merge that built ``V_t``
also says, for any level, how much of the way was walked on ``V_{t+1}``'s pieces, which is the
optimal next level (:func:`next_level`), in ``O(T)`` per hour. :func:`solve` returns the schedule
and its cost, replayed through the same cost function, so the cost is that of a real schedule;
the dynamic programme's own value is returned beside it (they agree to float32 rounding).

Measured (``benchmarks/energy_optimum.py``): equal to scipy's HiGHS linear programme to about
1e-6 relative on random days (efficiencies, degradation, export prices, import caps).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

# Pieces of one hour's cost as a function of the battery change: its breakpoints are the two
# ends, 0 (efficiency and degradation change there), where the grid exchange is 0 and where it
# reaches the import cap.
STAGE_PIECES = 4


@struct.dataclass
class Problem:
    """One horizon of ``T`` hours: battery scalars (float32; ``[D]`` when batched over days) and
    hourly arrays ``[T]`` (``[D, T]`` batched)."""

    net_load: jax.Array  # [T] demand - solar [kWh]; negative: a surplus
    import_price: jax.Array  # [T] [$ / kWh]
    export_price: jax.Array  # [T] [$ / kWh], paid for exports, <= import_price
    capacity: jax.Array  # [kWh]
    max_power: jax.Array  # largest battery-side change in an hour [kWh]
    initial_level: jax.Array  # [kWh]
    charge_efficiency: jax.Array = 1.0  # stored / drawn, in (0, 1]
    discharge_efficiency: jax.Array = 1.0  # delivered / taken, in (0, 1]
    degradation_cost: jax.Array = 0.0  # [$ / kWh] charged or discharged
    import_cap: jax.Array = jnp.inf  # largest grid import [kWh]
    unmet_penalty: jax.Array = 1.0  # [$ / kWh] of demand the capped grid cannot serve
    final_level_value: jax.Array = 0.0  # [$ / kWh] left in the battery at the end


class PiecewiseLinear(NamedTuple):
    """A convex piecewise-linear function on ``[0, sum(lengths)]``: its value at 0 and its pieces,
    left to right, ``lengths [L]`` (>= 0; pieces of length 0 are padding) and ``slopes [L]``."""

    value_at_zero: jax.Array
    lengths: jax.Array
    slopes: jax.Array


class Solution(NamedTuple):
    """The optimum of a :class:`Problem` (add a leading ``[D]`` when batched)."""

    cost: jax.Array  # the schedule's total cost [$], scalar
    value: jax.Array  # the dynamic programme's V_0(initial_level), equal to cost up to rounding
    levels: jax.Array  # [T + 1] battery level [kWh], levels[0] = initial_level
    charges: jax.Array  # [T] battery-side change [kWh]
    grid: jax.Array  # [T] grid exchange x_t [kWh] before the cap (negative: export)
    hourly_cost: jax.Array  # [T] [$]


def check_problem(problem: Problem) -> None:
    """Raises ``ValueError`` naming the value when the problem is outside what the exact solver
    covers (host-side; arrays of any batch shape)."""

    def values(name):
        return np.asarray(getattr(problem, name), np.float64)

    for name in ("capacity", "max_power"):
        if not np.all(values(name) > 0):
            raise ValueError(f"Problem.{name}={values(name).tolist()} must be > 0")
    level, capacity = values("initial_level"), values("capacity")
    if not np.all((level >= 0) & (level <= capacity)):
        raise ValueError(
            f"Problem.initial_level={level.tolist()} must lie in [0, capacity={capacity.tolist()}]"
        )
    for name in ("charge_efficiency", "discharge_efficiency"):
        if not np.all((values(name) > 0) & (values(name) <= 1)):
            raise ValueError(f"Problem.{name}={values(name).tolist()} must be in (0, 1]")
    for name in ("degradation_cost", "final_level_value"):
        if not np.all(values(name) >= 0):
            raise ValueError(f"Problem.{name}={values(name).tolist()} must be >= 0")
    if not np.all(values("import_cap") >= 0):
        raise ValueError(f"Problem.import_cap={values('import_cap').tolist()} must be >= 0")
    export, price = values("export_price"), values("import_price")
    # The cost is convex in the battery change only when exporting earns no more than importing
    # costs and unmet demand costs no less: otherwise buying to sell (or leaving demand unmet)
    # would pay, and the problem is no longer a convex one.
    if not np.all((export >= 0) & (export <= price)):
        raise ValueError(
            f"Problem.export_price={export.tolist()} must lie in [0, import_price="
            f"{price.tolist()}] hour by hour (the exact solver needs a convex cost)"
        )
    penalty = values("unmet_penalty")
    if not np.all(penalty[..., None] >= price if penalty.ndim < price.ndim else penalty >= price):
        raise ValueError(
            f"Problem.unmet_penalty={penalty.tolist()} must be >= every import_price "
            f"(max {price.max()}): unmet demand may not be cheaper than served demand"
        )


def grid_exchange(problem: Problem, net_load: jax.Array, charge: jax.Array) -> jax.Array:
    """The grid exchange ``x`` [kWh] (before the cap; negative: export) of a battery-side change
    ``charge`` in an hour of net load ``net_load`` (same shapes)."""
    drawn = jnp.where(
        charge > 0, charge / problem.charge_efficiency, charge * problem.discharge_efficiency
    )
    return net_load + drawn


def hour_cost(
    problem: Problem,
    net_load: jax.Array,
    import_price: jax.Array,
    export_price: jax.Array,
    charge: jax.Array,
) -> jax.Array:
    """The cost [$] of one hour in which the battery changes by ``charge`` [kWh]."""
    x = grid_exchange(problem, net_load, charge)
    return (
        import_price * jnp.clip(x, 0.0, problem.import_cap)
        - export_price * jnp.maximum(-x, 0.0)
        + problem.unmet_penalty * jnp.maximum(x - problem.import_cap, 0.0)
        + problem.degradation_cost * jnp.abs(charge)
    )


def charge_limits(problem: Problem, net_load: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The battery-side change's bounds ``(lowest, highest)`` in an hour of net load
    ``net_load`` (the battery's level bounds apart): charging may not draw past the cap."""
    headroom = jnp.maximum(problem.import_cap - net_load, 0.0)
    return -problem.max_power, jnp.minimum(problem.max_power, problem.charge_efficiency * headroom)


def stage_pieces(
    problem: Problem, net_load: jax.Array, import_price: jax.Array, export_price: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """One hour's cost as a convex piecewise-linear function of the change ``c``:
    ``(lowest c, cost there, lengths [4], slopes [4])``, pieces left to right.

    The slopes are the derivative at each piece's midpoint, computed from the prices and
    efficiencies rather than from differences of costs (which would lose digits in float32).
    """
    low, high = charge_limits(problem, net_load)
    eta_c, eta_d = problem.charge_efficiency, problem.discharge_efficiency
    # Where the exchange is 0: discharging to cover a load, or charging from a surplus.
    zero_exchange = jnp.where(net_load >= 0, -net_load / eta_d, -net_load * eta_c)
    # Where it reaches the cap: discharging to bring an excess load down to it (else past high).
    at_cap = jnp.where(
        net_load > problem.import_cap,
        -(net_load - problem.import_cap) / eta_d,
        (problem.import_cap - net_load) * eta_c,
    )
    inner = jnp.clip(jnp.stack([jnp.zeros_like(net_load), zero_exchange, at_cap]), low, high)
    points = jnp.sort(jnp.concatenate([jnp.stack([low, high]), inner]))
    lengths = jnp.diff(points)
    middle = 0.5 * (points[:-1] + points[1:])
    x = grid_exchange(problem, net_load, middle)
    price_slope = jnp.where(
        x < 0, export_price, jnp.where(x < problem.import_cap, import_price, problem.unmet_penalty)
    )
    drawn_slope = jnp.where(middle > 0, 1.0 / eta_c, eta_d)
    slopes = drawn_slope * price_slope + problem.degradation_cost * jnp.sign(middle)
    return low, hour_cost(problem, net_load, import_price, export_price, low), lengths, slopes


def evaluate(function: PiecewiseLinear, x: jax.Array) -> jax.Array:
    """``function`` at ``x`` (any shape, within its domain): its value at 0 plus each piece's
    slope times the part of the piece left of ``x``."""
    starts = jnp.cumsum(function.lengths) - function.lengths
    covered = jnp.clip(x[..., None] - starts, 0.0, function.lengths)
    return function.value_at_zero + jnp.sum(covered * function.slopes, axis=-1)


class Split(NamedTuple):
    """How :func:`bellman` reaches each level: the merged pieces (sorted by slope), each from
    the cost-to-go after the hour (``from_next``) or from the hour's cost. Walking them from
    level ``starts[0]`` to ``s`` spends, on the cost-to-go's pieces, exactly the optimal next
    level ``y*(s)`` (the rest is the change ``-c``)."""

    starts: jax.Array  # [L] level where each merged piece starts
    lengths: jax.Array  # [L]
    from_next: jax.Array  # [L] bool


def merge_by_slope(
    lengths: jax.Array, slopes: jax.Array, new_lengths: jax.Array, new_slopes: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The pieces of positive length of both sets in one sequence sorted by slope, in arrays as
    long as ``lengths [L]``: ``(lengths [L], slopes [L], from_first [L] bool)``, the unused tail
    of length 0.

    ``lengths, slopes [L]`` are already in slope order among their positive-length pieces (a
    merge's output, cut), ``new_* [K]`` are a handful; the positive-length pieces of both together
    must fit in ``L``. Each piece's place is its rank (O(L K) comparisons, no sort of the long
    array): ties put the first set's piece first.
    """
    size = lengths.shape[0]
    new_key = jnp.where(new_lengths > 0, new_slopes, jnp.inf)
    _, new_lengths, new_slopes = jax.lax.sort((new_key, new_lengths, new_slopes), num_keys=1)
    kept, new_kept = lengths > 0, new_lengths > 0
    order = jnp.cumsum(kept) - 1  # place among the first set's kept pieces
    new_order = jnp.cumsum(new_kept) - 1
    new_below = (new_kept[None, :] & (new_slopes[None, :] < slopes[:, None])).sum(axis=1)
    first_not_above = (kept[None, :] & (slopes[None, :] <= new_slopes[:, None])).sum(axis=1)
    place = jnp.where(kept, order + new_below, size)  # size: out of range, dropped
    new_place = jnp.where(new_kept, new_order + first_not_above, size)
    out_lengths = jnp.zeros(size).at[place].set(lengths, mode="drop")
    out_lengths = out_lengths.at[new_place].set(new_lengths, mode="drop")
    out_slopes = jnp.zeros(size).at[place].set(slopes, mode="drop")
    out_slopes = out_slopes.at[new_place].set(new_slopes, mode="drop")
    from_first = jnp.zeros(size, jnp.bool_).at[place].set(True, mode="drop")
    return out_lengths, out_slopes, from_first


def bellman(
    next_value: PiecewiseLinear,
    problem: Problem,
    net_load: jax.Array,
    import_price: jax.Array,
    export_price: jax.Array,
) -> tuple[PiecewiseLinear, Split]:
    """``V_t(s) = min_c g_t(c) + V_{t+1}(s + c)`` on ``[0, capacity]``, exactly, with as many
    pieces as ``next_value`` (the caller sizes them for the horizon), and the :class:`Split`
    that gives the minimising change at any level (:func:`next_level`).

    ``V_t`` is the infimal convolution of ``V_{t+1}`` and the mirrored stage cost
    ``z -> g_t(-z)``: the pieces of both sorted by slope, starting from both functions' left ends
    (level ``-high``, value ``V_{t+1}(0) + g_t(high)``), then cut to ``[0, capacity]``.
    """
    low, cost_low, lengths, slopes = stage_pieces(problem, net_load, import_price, export_price)
    high = low + jnp.sum(lengths)
    cost_high = cost_low + jnp.sum(lengths * slopes)
    merged_lengths, merged_slopes, from_next = merge_by_slope(
        next_value.lengths, next_value.slopes, lengths[::-1], -slopes[::-1]
    )
    ends = -high + jnp.cumsum(merged_lengths)
    starts = ends - merged_lengths
    left_of_zero = jnp.minimum(ends, 0.0) - jnp.minimum(starts, 0.0)
    value_at_zero = next_value.value_at_zero + cost_high + jnp.sum(left_of_zero * merged_slopes)
    capacity = problem.capacity
    kept = jnp.clip(ends, 0.0, capacity) - jnp.clip(starts, 0.0, capacity)
    split = Split(starts, merged_lengths, from_next)
    return PiecewiseLinear(value_at_zero, kept, merged_slopes), split


def next_level(split: Split, level: jax.Array) -> jax.Array:
    """The optimal level after the hour from ``level`` (scalar): the length of the cost-to-go's
    pieces walked from the split's start up to ``level``."""
    walked = jnp.clip(level - split.starts, 0.0, split.lengths)
    return jnp.sum(jnp.where(split.from_next, walked, 0.0))


def solve(problem: Problem) -> Solution:
    """The optimal schedule of one :class:`Problem` (``jit`` and ``vmap`` it over days; call
    :func:`check_problem` first on the host). Pieces: ``1 + 4 T`` per cost-to-go."""
    horizon = problem.net_load.shape[-1]
    size = 1 + STAGE_PIECES * horizon
    lengths = jnp.zeros(size).at[0].set(problem.capacity)
    slopes = jnp.zeros(size).at[0].set(-problem.final_level_value)
    final = PiecewiseLinear(jnp.zeros(()), lengths, slopes)
    hours = (problem.net_load, problem.import_price, problem.export_price)
    first_value, splits = jax.lax.scan(
        lambda next_value, hour: bellman(next_value, problem, *hour), final, hours, reverse=True
    )

    start = jnp.asarray(problem.initial_level, jnp.float32)

    def step(level, inputs):
        split, net_load = inputs
        low, high = charge_limits(problem, net_load)
        charge = jnp.clip(next_level(split, level) - level, low, high)
        new_level = jnp.clip(level + charge, 0.0, problem.capacity)
        return new_level, (new_level, new_level - level)

    end, (levels, charges) = jax.lax.scan(step, start, (splits, problem.net_load))
    hourly = hour_cost(problem, *hours, charges)
    return Solution(
        cost=jnp.sum(hourly) - problem.final_level_value * end,
        value=evaluate(first_value, start),
        levels=jnp.concatenate([start[None], levels]),
        charges=charges,
        grid=grid_exchange(problem, problem.net_load, charges),
        hourly_cost=hourly,
    )
