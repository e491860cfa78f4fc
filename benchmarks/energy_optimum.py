"""The exact battery optimum (:mod:`rljax.energy.optimum`) on many random days: its speed, and
its agreement with scipy's HiGHS linear programme on every one of them.

Days come from :func:`rljax.energy.reference.random_problem` (surpluses and loads, export prices
below import prices, lossy batteries that wear, an import cap on about half). The dynamic
programme solves all of them in one ``jit(vmap(solve))`` call (compiled first; median of
``--repeats`` calls); the anchor is HiGHS solving the same days one by one in this process.
Prints one JSON line per measurement (``ratio`` = ours / anchor seconds)::

    python benchmarks/energy_optimum.py                 # 1000 days of 24 h, 100 weeks
    python benchmarks/energy_optimum.py --days 100 --weeks 10
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from rljax.benchmarking import emit, time_compiled
from rljax.energy import optimum
from rljax.energy.reference import lp_optimum, random_problem


def batch(fields: list[dict]) -> optimum.Problem:
    return optimum.Problem(
        **{k: jnp.asarray(np.stack([f[k] for f in fields]), jnp.float32) for k in fields[0]}
    )


def measure(num: int, horizon: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    fields = [random_problem(rng, horizon) for _ in range(num)]
    problems = batch(fields)
    optimum.check_problem(problems)
    solve = jax.vmap(optimum.solve)
    compile_s, run_s = time_compiled(solve, problems, repeats=repeats)
    costs = np.asarray(jax.jit(solve)(problems).cost, np.float64)
    start = time.perf_counter()
    # The LP gets the float32-rounded inputs the dynamic programme saw.
    references = np.array(
        [lp_optimum(jax.tree.map(lambda x, i=i: np.asarray(x[i]), problems)) for i in range(num)]
    )
    lp_s = time.perf_counter() - start
    relative = np.abs(costs - references) / np.maximum(np.abs(references), 1e-9)
    emit(
        f"energy_optimum_{horizon}h",
        run_s,
        lp_s,
        "s",
        problems=num,
        horizon_hours=horizon,
        compile_s=round(compile_s, 2),
        max_relative_gap_to_lp=float(relative.max()),
        median_relative_gap_to_lp=float(np.median(relative)),
        days_per_second=num / run_s,
        backend=jax.default_backend(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=1000, help="random 24-hour days")
    parser.add_argument("--weeks", type=int, default=100, help="random 168-hour weeks")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    measure(args.days, 24, args.repeats)
    if args.weeks:
        measure(args.weeks, 168, args.repeats)


if __name__ == "__main__":
    main()
