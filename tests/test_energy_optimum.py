"""rljax.energy.optimum: the exact perfect-foresight schedule against an independent linear
programme (scipy HiGHS, rljax.energy.reference), replayed through EnergyManagement-v0, and its
input checks."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.energy import days, optimum
from rljax.energy.reference import lp_optimum, random_problem
from rljax.env import make

NUM_DAYS = 24


def as_problem(fields: dict) -> optimum.Problem:
    return optimum.Problem(**{k: jnp.asarray(v, jnp.float32) for k, v in fields.items()})


@pytest.fixture(scope="module")
def solve_days():
    return jax.jit(jax.vmap(optimum.solve))


@pytest.fixture(scope="module")
def random_days(solve_days):
    rng = np.random.default_rng(0)
    fields = [random_problem(rng) for _ in range(NUM_DAYS)]
    batch = as_problem({k: np.stack([f[k] for f in fields]) for k in fields[0]})
    optimum.check_problem(batch)
    return fields, solve_days(batch)


def test_equals_the_linear_programme_on_random_days(random_days):
    fields, solutions = random_days
    # The LP sees the float32-rounded inputs the solver saw, so only the solvers differ.
    references = [lp_optimum(jax.tree.map(np.asarray, as_problem(f))) for f in fields]
    np.testing.assert_allclose(solutions.cost, references, rtol=1e-4, atol=1e-4)
    capped = np.isfinite([f["import_cap"] for f in fields])
    assert 0 < capped.sum() < NUM_DAYS  # both kinds of day were checked


def test_schedule_is_feasible_and_its_cost_is_the_programmes_value(random_days):
    fields, solutions = random_days
    capacity = np.array([f["capacity"] for f in fields])[:, None]
    power = np.array([f["max_power"] for f in fields])[:, None]
    levels, charges = np.asarray(solutions.levels), np.asarray(solutions.charges)
    np.testing.assert_allclose(levels[:, 0], [f["initial_level"] for f in fields], rtol=1e-6)
    assert np.all(levels >= 0) and np.all(levels <= capacity * (1 + 1e-6))
    assert np.all(np.abs(charges) <= power * (1 + 1e-6))
    np.testing.assert_allclose(np.diff(levels, axis=1), charges, atol=1e-4)
    np.testing.assert_allclose(solutions.cost, solutions.value, rtol=1e-5, atol=1e-4)


def test_a_week_equals_the_linear_programme():
    fields = random_problem(np.random.default_rng(7), horizon=168)
    solution = jax.jit(optimum.solve)(as_problem(fields))
    reference = lp_optimum(jax.tree.map(np.asarray, as_problem(fields)))
    np.testing.assert_allclose(solution.cost, reference, rtol=1e-4)


def test_the_environments_day_replayed_through_the_environment_costs_the_optimum():
    env, params = make("EnergyManagement-v0", import_cap=15.0, feed_in_tariff=0.05)
    problem = days.problem_from_params(params)
    solution = jax.jit(optimum.solve)(problem)
    step = jax.jit(env.step)
    _, state = env.reset(jax.random.key(0), params)
    costs, imports = [], []
    for charge in np.asarray(solution.charges):
        action = jnp.asarray([charge / params.max_power], jnp.float32)
        _, state, reward, _, _, info = step(jax.random.key(1), state, action, params)
        costs.append(-float(reward))
        imports.append(float(info["grid_import"]))
    np.testing.assert_allclose(costs, solution.hourly_cost, rtol=1e-5, atol=1e-5)
    reference = lp_optimum(jax.tree.map(np.asarray, problem))
    np.testing.assert_allclose(sum(costs), reference, rtol=1e-4)
    # The cap binds on this day (the net load peaks near 28 kW), and the optimum beats idling.
    assert max(imports) == pytest.approx(params.import_cap, rel=1e-5)
    idle = jax.jit(optimum.hour_cost)(
        problem,
        problem.net_load,
        problem.import_price,
        problem.export_price,
        0.0 * problem.net_load,
    )
    assert sum(costs) < float(idle.sum()) - 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("export_price", 0.9, "export_price"),
        ("charge_efficiency", 0.0, "charge_efficiency"),
        ("initial_level", 500.0, "initial_level"),
        ("unmet_penalty", 0.01, "unmet_penalty"),
        ("capacity", -1.0, "capacity"),
    ],
)
def test_bad_problems_name_the_field(field, value, message):
    fields = random_problem(np.random.default_rng(1))
    fields[field] = np.full_like(np.asarray(fields[field]), value)
    with pytest.raises(ValueError, match=message):
        optimum.check_problem(as_problem(fields))


def test_problem_from_params_batches_over_params():
    _, params = make("EnergyManagement-v0")
    batched = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x), jnp.asarray(x)]), params)
    batched = dataclasses.replace(batched, peak_price=jnp.asarray([0.3, 0.6]))
    problems = jax.vmap(days.problem_from_params, in_axes=(0, None))(batched, 24)
    assert problems.net_load.shape == (2, 24)
    assert float(problems.import_price[1].max()) == pytest.approx(0.6)
