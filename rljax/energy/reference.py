"""An independent reference for :mod:`rljax.energy.optimum`: the same battery schedule as a
linear programme, solved by scipy's HiGHS (float64; scipy comes with the ``test`` and ``bench``
extras), and random problems to compare them on.

Variables per hour ``t`` (``T`` hours each): charge ``c+``, discharge ``c-`` (battery side),
import, export, unmet demand, and the level after the hour ``s``. The exchange balance
``import - export + unmet = net_load + c+/eta_c - eta_d c-`` and the level recursion are
equalities; charging is bounded by the import headroom as in the environment. Charging and
discharging in one hour is allowed here (the LP may split a change in two); with the convex costs
the solver requires it never pays, so the optimum is the same problem's.
"""

from __future__ import annotations

import numpy as np

from rljax.energy.optimum import Problem


def lp_optimum(problem: Problem) -> float:
    """The optimal cost [$] of one (unbatched) :class:`Problem`."""
    from scipy.optimize import linprog  # an optional dependency, needed here only

    p = {name: np.asarray(value, np.float64) for name, value in vars(problem).items()}
    net_load = p["net_load"]
    horizon = net_load.shape[0]
    charge, discharge, imported, exported, unmet, level = (
        np.arange(horizon) + k * horizon for k in range(6)
    )
    objective = np.zeros(6 * horizon)
    objective[charge] = objective[discharge] = p["degradation_cost"]
    objective[imported] = p["import_price"]
    objective[exported] = -p["export_price"]
    objective[unmet] = p["unmet_penalty"]
    objective[level[-1]] -= p["final_level_value"]
    rows, rhs = [], []
    for t in range(horizon):
        recursion = np.zeros(6 * horizon)
        recursion[[level[t], charge[t], discharge[t]]] = [1.0, -1.0, 1.0]
        if t:
            recursion[level[t - 1]] = -1.0
        rows.append(recursion)
        rhs.append(p["initial_level"] if t == 0 else 0.0)
        balance = np.zeros(6 * horizon)
        balance[[imported[t], exported[t], unmet[t], charge[t], discharge[t]]] = [
            1.0, -1.0, 1.0, -1.0 / p["charge_efficiency"], p["discharge_efficiency"],
        ]  # fmt: skip
        rows.append(balance)
        rhs.append(net_load[t])
    cap = float(p["import_cap"])
    headroom = p["charge_efficiency"] * np.maximum(cap - net_load, 0.0)
    power = float(p["max_power"])
    bounds = (
        [(0.0, min(power, h)) for h in headroom]
        + [(0.0, power)] * horizon
        + [(0.0, cap if np.isfinite(cap) else None)] * horizon
        + [(0.0, None)] * (2 * horizon)
        + [(0.0, float(p["capacity"]))] * horizon
    )
    result = linprog(objective, A_eq=np.array(rows), b_eq=np.array(rhs), bounds=bounds)
    if result.status != 0:
        raise RuntimeError(f"HiGHS did not solve the problem: {result.message}")
    return float(result.fun)


def random_problem(rng: np.random.Generator, horizon: int = 24) -> dict[str, np.ndarray]:
    """Fields of a random :class:`Problem` (float64 numpy; batch with ``np.stack``): surpluses and
    loads, prices with exports below imports, lossy batteries that wear, and a finite import cap
    on about half of them."""
    price = rng.uniform(0.05, 0.5, horizon)
    capacity = rng.uniform(5.0, 100.0)
    return dict(
        net_load=rng.uniform(-10.0, 30.0, horizon),
        import_price=price,
        export_price=price * rng.uniform(0.0, 1.0, horizon),
        capacity=capacity,
        max_power=rng.uniform(1.0, 20.0),
        initial_level=rng.uniform(0.0, capacity),
        charge_efficiency=rng.uniform(0.8, 1.0),
        discharge_efficiency=rng.uniform(0.8, 1.0),
        degradation_cost=rng.uniform(0.0, 0.05),
        import_cap=np.inf if rng.uniform() < 0.5 else rng.uniform(5.0, 40.0),
        unmet_penalty=rng.uniform(0.5, 2.0),
        final_level_value=rng.uniform(0.0, 0.1),
    )
