"""HazardGridWorld-v0: transitions, the hazard cost signal, and the exact optima with and without
the constraint, from a checker written here from the documented rules (not from the env's code).

The checker builds the tabular model (``P [S, A, S]``, rewards and costs of the cell reached) in
numpy and solves it over the 100-step horizon: the unconstrained problem by backward induction,
the constrained one (expected hazard steps per episode <= a budget) by Lagrangian duality
(bisection on the multiplier, closed by the dual bound), cross-checked on a short horizon by the
linear program over occupancy measures (scipy's HiGHS). The env is checked against that model step
by step (every cell and action: exactly without slipping, in distribution with it) and episode by
episode (the optimal policies, played in the env, earn what the checker says).
"""

from __future__ import annotations

import collections
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.grid_world import GridWorldState
from rljax.envs.hazard_grid_world import HazardGridWorld, band_hazards

ROWS = COLS = 7  # the default layout
# The default layout and the 5 x 5 one (rows=5, cols=5) that Lagrangian PPO is demonstrated on.
SIZES = (7, 5)
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left, as documented
DRAWS = 2000  # env steps from every (cell, action) pair in the transition checks

# The figures in the module docstring, which the checker below must reproduce (to their 4
# decimals), for the size x size default layout: (size, slip_prob) -> the unconstrained
# optimum's return and least hazard steps; (size, slip_prob, budget) -> the constrained
# optimum's return and multiplier; (size, slip_prob, penalty) -> the return and hazard steps of
# the optimum of reward - penalty * cost; size -> the fewest moves to the goal, through the
# hazards and round them.
UNCONSTRAINED = {(7, 0.0): (0.95, 1.0), (7, 0.1): (0.9419, 1.1111), (5, 0.1): (0.9647, 1.1106)}
CONSTRAINED = {
    (7, 0.0, 0.0): (0.83, 0.12),
    (7, 0.0, 0.1): (0.842, 0.12),
    (7, 0.0, 0.5): (0.89, 0.12),
    (7, 0.1, 0.1): (0.8199, 0.1221),
    (7, 0.1, 0.25): (0.8383, 0.1221),
    (7, 0.1, 0.5): (0.8688, 0.1221),
    (5, 0.1, 0.1): (0.8829, 0.082),
    (5, 0.1, 0.25): (0.8952, 0.082),
    (5, 0.1, 0.5): (0.9157, 0.082),
}
PENALISED = {(7, 0.1, 1.0): (0.8105, 0.0305), (5, 0.1, 1.0): (0.876, 0.0352)}
SHORTEST = {7: (6, 18), 5: (4, 12)}


# --- the checker: a tabular model of the documented rules ---------------------------------------


class Optimum(NamedTuple):
    """A constrained optimum: its expected return and hazard steps, the optimal multiplier, and
    the two deterministic policies (int ``[H, S]``) it plays, ``policy_a`` with probability ``q``
    (drawn once per episode)."""

    ret: float
    cost: float
    multiplier: float
    policy_a: np.ndarray
    policy_b: np.ndarray
    q: float


class Model:
    """The MDP of a layout: ``P [S, A, S]`` (cells row-major), ``reward [S]`` and ``cost [S]`` of
    the cell a step ends on, the ``start`` and ``goal`` cell indices, and the ``horizon`` (the
    step limit)."""

    def __init__(self, params, slip: float):
        walls = np.asarray(params.walls)
        hazards = np.asarray(params.hazards)
        rows, cols = walls.shape
        n = rows * cols
        self.start = int(params.start[0]) * cols + int(params.start[1])
        self.goal = int(params.goal[0]) * cols + int(params.goal[1])
        # The cell each move leads to: off the grid or into a wall, the agent stays.
        self.next_cell = np.zeros((n, 4), int)
        for row in range(rows):
            for col in range(cols):
                for move, (d_row, d_col) in enumerate(MOVES):
                    r, c = row + d_row, col + d_col
                    if not (0 <= r < rows and 0 <= c < cols) or walls[r, c]:
                        r, c = row, col
                    self.next_cell[row * cols + col, move] = r * cols + c
        # Chosen action a: the move a with probability 1 - slip, a uniform move with slip.
        move_prob = (1 - slip) * np.eye(4) + slip / 4
        self.P = np.zeros((n, 4, n))
        for s in range(n):
            for a in range(4):
                for move in range(4):
                    self.P[s, a, self.next_cell[s, move]] += move_prob[a, move]
        self.reward = np.full(n, float(params.step_reward))
        self.reward[self.goal] = float(params.goal_reward)
        self.cost = hazards.reshape(-1).astype(float)
        self.n = n
        self.horizon = int(params.max_steps_in_episode)
        # penalty -> backward_induction's answer. The bisections of budgets that fall between the
        # same two routes' costs visit the same multipliers, so all but the first are look-ups.
        self.solved: dict[float, tuple[float, float, np.ndarray]] = {}

    def backward_induction(self, penalty: float = 0.0) -> tuple[float, float, np.ndarray]:
        """The optimum of reward - ``penalty`` * cost over the horizon, the goal absorbing.

        Returns ``(return, cost, policy [H, S])`` from the start: the expected return and hazard
        steps of ``policy``, optimal for the penalised reward and, among the optimal ones, the
        one with the least hazard steps. Memoised on ``penalty`` (the policy is shared: do not
        write to it).
        """
        if penalty not in self.solved:
            self.solved[penalty] = self.solve(penalty)
        return self.solved[penalty]

    def solve(self, penalty: float) -> tuple[float, float, np.ndarray]:
        """:meth:`backward_induction` without the memo."""
        value, cost = np.zeros(self.n), np.zeros(self.n)  # penalised value, hazard steps
        policy = np.zeros((self.horizon, self.n), int)
        go_on = np.arange(self.n) != self.goal  # reaching the goal ends the episode
        for t in reversed(range(self.horizon)):
            q = self.P @ (self.reward - penalty * self.cost + go_on * value)  # [S, A]
            q_cost = self.P @ (self.cost + go_on * cost)
            # Among the (numerically) best actions, the one with the least cost.
            best = q >= q.max(axis=1, keepdims=True) - 1e-12
            action = np.where(best, q_cost, np.inf).argmin(axis=1)
            policy[t] = action
            value = np.take_along_axis(q, action[:, None], 1)[:, 0]
            cost = np.take_along_axis(q_cost, action[:, None], 1)[:, 0]
        s = self.start
        return float(value[s] + penalty * cost[s]), float(cost[s]), policy

    def evaluate(self, policy: np.ndarray) -> tuple[float, float]:
        """The expected return and hazard steps from the start of a deterministic time-dependent
        ``policy`` (int ``[H, S]``)."""
        value, cost = np.zeros(self.n), np.zeros(self.n)
        go_on = np.arange(self.n) != self.goal
        for t in reversed(range(self.horizon)):
            P = self.P[np.arange(self.n), policy[t]]  # [S, S]
            value = P @ (self.reward + go_on * value)
            cost = P @ (self.cost + go_on * cost)
        return value[self.start], cost[self.start]

    def constrained_optimum(self, budget: float) -> Optimum:
        """The best expected return with expected hazard steps <= ``budget``, over all policies
        (randomised, time-dependent), by Lagrangian duality: bisection on the multiplier to the
        kink ``lam*`` of the dual, where two deterministic policies are optimal for
        reward - lam* * cost, one over budget (``a``) and one within (``b``); playing ``a`` with
        probability ``q`` spends exactly the budget. Asserts that the dual bound closes the gap.
        """
        ret, cost, policy = self.backward_induction()
        if cost <= budget:  # the constraint does not bind
            return Optimum(ret, cost, 0.0, policy, policy, 1.0)
        lo, hi = 0.0, 1.0
        while self.backward_induction(hi)[1] > budget:
            hi *= 2
            assert hi < 1e9, f"no policy keeps to the budget {budget}"
        for _ in range(200):
            mid = (lo + hi) / 2
            if not lo < mid < hi:
                break
            lo, hi = (mid, hi) if self.backward_induction(mid)[1] > budget else (lo, mid)
        ret_a, cost_a, policy_a = self.backward_induction(lo)
        ret_b, cost_b, policy_b = self.backward_induction(hi)
        q = (budget - cost_b) / (cost_a - cost_b)
        ret = q * ret_a + (1 - q) * ret_b
        # Weak duality: every policy within budget returns at most the dual function at hi.
        dual_bound = ret_b - hi * (cost_b - budget)
        assert -1e-9 <= dual_bound - ret <= 1e-8, (dual_bound, ret)
        return Optimum(ret, budget, hi, policy_a, policy_b, q)

    def linear_program(self, budget: float) -> float:
        """The same optimum as :meth:`constrained_optimum`, as the linear program over occupancy
        measures ``x [H, S, A]`` (scipy's HiGHS; slow past short horizons, a cross-check)."""
        optimize = pytest.importorskip("scipy.optimize")
        sparse = pytest.importorskip("scipy.sparse")
        n, h = self.n, self.horizon
        index = np.arange(h * n * 4).reshape(h, n, 4)
        rows, cols, vals = [], [], []
        # Flow: the occupancy of s at t is the inflow from t - 1 (the start at t = 0), for every
        # s but the goal, where the episode ends (its occupancy is held at 0 by the bounds).
        for t in range(h):
            for s in range(n):
                rows += [t * n + s] * 4
                cols += list(index[t, s])
                vals += [1.0] * 4
                if t > 0:
                    src_s, src_a = np.nonzero(self.P[:, :, s])
                    rows += [t * n + s] * len(src_s)
                    cols += list(index[t - 1, src_s, src_a])
                    vals += list(-self.P[src_s, src_a, s])
        a_eq = sparse.csr_array((vals, (rows, cols)), shape=(h * n, h * n * 4))
        b_eq = np.zeros(h * n)
        b_eq[self.start] = 1.0
        keep = np.arange(h * n) % n != self.goal
        step_reward = np.broadcast_to(self.P @ self.reward, (h, n, 4)).reshape(-1)
        step_cost = np.broadcast_to(self.P @ self.cost, (h, n, 4)).reshape(-1)
        upper = np.where(np.arange(h * n * 4) // 4 % n == self.goal, 0.0, np.inf)
        result = optimize.linprog(
            -step_reward,
            A_ub=step_cost[None],
            b_ub=[budget],
            A_eq=a_eq[keep],
            b_eq=b_eq[keep],
            bounds=np.stack([np.zeros_like(upper), upper], axis=1),
            method="highs",
        )
        assert result.status == 0, result.message
        return float(step_reward @ result.x)


def shortest_moves(params, avoid_hazards: bool) -> int:
    """Breadth-first search: the fewest moves from start to goal (optionally never on a hazard)."""
    walls, hazards = np.asarray(params.walls), np.asarray(params.hazards)
    rows, cols = walls.shape
    blocked = walls | hazards if avoid_hazards else walls
    start, goal = tuple(np.asarray(params.start)), tuple(np.asarray(params.goal))
    dist = {start: 0}
    queue = collections.deque([start])
    while queue:
        cell = queue.popleft()
        for d_row, d_col in MOVES:
            nxt = (cell[0] + d_row, cell[1] + d_col)
            if 0 <= nxt[0] < rows and 0 <= nxt[1] < cols and not blocked[nxt] and nxt not in dist:
                dist[nxt] = dist[cell] + 1
                queue.append(nxt)
    return dist[goal]


@pytest.fixture(scope="module")
def layouts():
    """size -> ``(env, params)`` of the default size x size layout, as ``rljax.make`` builds it."""
    return {size: rljax.make("HazardGridWorld-v0", rows=size, cols=size) for size in SIZES}


@pytest.fixture(scope="module")
def env_params(layouts):
    return layouts[ROWS]


@pytest.fixture(scope="module")
def models(layouts):
    """``(size, slip)`` -> the checker's model of that layout at that slip probability."""
    return {
        (size, slip): Model(params, slip)
        for size, (_, params) in layouts.items()
        for slip in (0.0, 0.1)
    }


def all_cells_and_actions(rows: int = ROWS, cols: int = COLS):
    """Every (cell, action) pair: ``pos [4 * rows * cols, 2]`` int32, ``action [4 * rows * cols]``
    int32."""
    cells = np.array([(r, c) for r in range(rows) for c in range(cols)], np.int32)
    pos = np.repeat(cells, 4, axis=0)
    action = np.tile(np.arange(4, dtype=np.int32), len(cells))
    return pos, action


@pytest.fixture(scope="module")
def steps(layouts):
    """``steps(size, slip)``: one env step from every (cell, action) pair of the size x size
    layout, ``DRAWS`` times each with fresh keys: ``pos [N, 2]``, ``action [N]`` (``N = DRAWS *
    4 * size**2``, the pairs tiled) and env.step's outputs from them (the observations only of the
    first ``4 * size**2``). Cached; one compiled program per layout, whatever the slip (a params
    leaf), since compiling is most of these tests' time."""
    compiled = {
        size: jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
        for size, (env, _) in layouts.items()
    }

    @functools.cache
    def run(size: int, slip: float):
        _, params = layouts[size]
        pos, action = all_cells_and_actions(size, size)
        pos, action = np.tile(pos, (DRAWS, 1)), np.tile(action, DRAWS)
        state = GridWorldState(pos=jnp.asarray(pos), time=jnp.zeros(len(pos), jnp.int32))
        keys = jax.random.split(jax.random.key(2), len(pos))
        out = compiled[size](keys, state, jnp.asarray(action), params.replace(slip_prob=slip))
        obs, *rest = jax.device_get(out)
        return pos, action, obs[: 4 * size**2], *rest

    return run


# --- layout, spaces, observation ----------------------------------------------------------------


def test_default_layout_and_spaces(env_params):
    env, params = env_params
    expected = np.zeros((ROWS, COLS), bool)
    expected[3, :6] = True
    np.testing.assert_array_equal(params.hazards, expected)
    np.testing.assert_array_equal(band_hazards(ROWS, COLS), expected)
    assert params.hazards.dtype == jnp.bool_ and not np.asarray(params.walls).any()
    assert params.start.tolist() == [0, 0] and params.goal.tolist() == [6, 0]
    assert params.slip_prob == 0.1 and env.stochastic_step is True
    assert env.action_space(params).n == 4
    space = env.observation_space(params)
    assert space.shape == (ROWS * COLS + 4,) and space.dtype == jnp.float32
    assert env == HazardGridWorld() and env != rljax.make("GridWorld-v0", rows=7, cols=7)[0]


@pytest.mark.parametrize("size", SIZES)
def test_the_short_path_crosses_the_hazards_and_the_safe_one_is_longer(layouts, size):
    _, params = layouts[size]
    assert shortest_moves(params, avoid_hazards=False) == SHORTEST[size][0]
    assert shortest_moves(params, avoid_hazards=True) == SHORTEST[size][1]


def test_five_by_five_layout(layouts):
    env, params = layouts[5]
    np.testing.assert_array_equal(
        params.hazards, [[0] * 5, [0] * 5, [1, 1, 1, 1, 0], *[[0] * 5] * 2]
    )
    assert params.start.tolist() == [0, 0] and params.goal.tolist() == [4, 0]
    assert params.slip_prob == 0.1 and params.max_steps_in_episode == 100
    assert env.observation_space(params).shape == (5 * 5 + 4,)


def test_observation_is_the_one_hot_cell_and_the_neighbouring_hazards(env_params, steps):
    env, params = env_params
    obs, state = env.reset(jax.random.key(3), params)
    assert obs.dtype == jnp.float32 and state.pos.tolist() == [0, 0]
    np.testing.assert_array_equal(obs[: ROWS * COLS], np.eye(ROWS * COLS)[0])
    np.testing.assert_array_equal(obs[ROWS * COLS :], [0, 0, 0, 0])
    _, _, obs, state, *_ = steps(ROWS, 0.0)
    hazards = np.pad(np.asarray(params.hazards), 1)
    for o, (row, col) in zip(obs, state.pos[: len(obs)], strict=True):
        assert o[: ROWS * COLS].argmax() == row * COLS + col and o[: ROWS * COLS].sum() == 1
        near = [hazards[row + 1 + dr, col + 1 + dc] for dr, dc in MOVES]
        np.testing.assert_array_equal(o[ROWS * COLS :], near)


# --- transitions against the checker ------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_without_slipping_every_step_is_the_checkers(models, steps, size):
    model = models[size, 0.0]
    pos, action, _, state, reward, terminated, truncated, info = steps(size, 0.0)
    cell = pos[:, 0] * size + pos[:, 1]
    expected = model.next_cell[cell, action]
    np.testing.assert_array_equal(state.pos[:, 0] * size + state.pos[:, 1], expected)
    np.testing.assert_array_equal(reward, model.reward[expected].astype(np.float32))
    np.testing.assert_array_equal(info["constraint_cost"], model.cost[expected])
    np.testing.assert_array_equal(terminated, expected == model.goal)
    assert not truncated.any() and (state.time == 1).all()


@pytest.mark.parametrize(("size", "slip"), [(7, 0.1), (7, 1.0), (5, 0.1)])
def test_slipping_moves_follow_the_checkers_distribution(layouts, steps, size, slip):
    _, params = layouts[size]
    model = Model(params, slip)
    pos, action, _, state, *_ = steps(size, slip)
    pairs = len(pos) // DRAWS
    reached = state.pos.reshape(DRAWS, pairs, 2)
    counts = np.zeros((pairs, model.n))
    np.add.at(counts, (np.arange(pairs)[None], reached[..., 0] * size + reached[..., 1]), 1)
    expected = model.P[pos[:pairs, 0] * size + pos[:pairs, 1], action[:pairs]]
    # Five binomial standard deviations (and nothing where the model puts no mass).
    tolerance = 5 * np.sqrt(expected * (1 - expected) / DRAWS) + 1e-9
    assert (np.abs(counts / DRAWS - expected) <= tolerance).all()


def test_cost_marks_hazard_cells_only_and_never_enters_the_reward(env_params):
    env, params = env_params
    safe = params.replace(hazards=jnp.zeros((ROWS, COLS), bool))

    @jax.jit
    def play(params, key):
        # The same keys and actions on both layouts: the same moves (hazards change no move).
        def body(state, key):
            key_act, key_step = jax.random.split(key)
            action = jax.random.randint(key_act, (), 0, 4)
            _, state, reward, terminated, _, info = env.step(key_step, state, action, params)
            return state, (state.pos, reward, terminated, info["constraint_cost"])

        _, state = env.reset(key, params)
        return jax.lax.scan(body, state, jax.random.split(key, 60))[1]

    keys = jax.random.split(jax.random.key(4), 32)
    pos, reward, terminated, cost = jax.device_get(jax.vmap(play, (None, 0))(params, keys))
    safe_pos, safe_reward, _, safe_cost = jax.device_get(jax.vmap(play, (None, 0))(safe, keys))
    np.testing.assert_array_equal(pos, safe_pos)
    np.testing.assert_array_equal(reward, safe_reward)
    assert cost.dtype == np.float32 and cost.shape == reward.shape
    np.testing.assert_array_equal(cost, np.asarray(params.hazards)[pos[..., 0], pos[..., 1]])
    assert (safe_cost == 0).all() and cost.sum() > 0  # the random walks did meet the band
    np.testing.assert_array_equal(reward, np.where(terminated, 1.0, -0.01).astype(np.float32))


# --- the exact optima ---------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "slip"), sorted(UNCONSTRAINED))
def test_unconstrained_optimum_walks_through_the_hazards(models, size, slip):
    ret, cost, _ = models[size, slip].backward_induction()
    expected_return, expected_cost = UNCONSTRAINED[size, slip]
    assert ret == pytest.approx(expected_return, abs=5e-5)
    assert cost == pytest.approx(expected_cost, abs=5e-5)
    if slip == 0.0:  # the BFS path, the last move onto the goal, through one hazard
        assert ret == pytest.approx(1 - 0.01 * (SHORTEST[size][0] - 1)) and cost == 1.0


@pytest.mark.parametrize(("size", "slip", "budget"), sorted(CONSTRAINED))
def test_constrained_optimum(models, size, slip, budget):
    optimum = models[size, slip].constrained_optimum(budget)
    expected_return, expected_multiplier = CONSTRAINED[size, slip, budget]
    assert optimum.ret == pytest.approx(expected_return, abs=5e-5)
    assert optimum.multiplier == pytest.approx(expected_multiplier, abs=5e-5)
    assert optimum.cost == budget  # the constraint binds
    if (slip, budget) == (0.0, 0.0):  # the BFS path round the band
        assert optimum.ret == pytest.approx(1 - 0.01 * (SHORTEST[size][1] - 1))


@pytest.mark.parametrize(("size", "slip", "penalty"), sorted(PENALISED))
def test_a_fixed_penalty_above_the_multiplier_goes_round(models, size, slip, penalty):
    model = models[size, slip]
    ret, cost, _ = model.backward_induction(penalty)
    assert (ret, cost) == pytest.approx(PENALISED[size, slip, penalty], abs=5e-5)
    # The premise of the name: this penalty is above lam*, where the short path stops paying.
    assert penalty > model.constrained_optimum(0.25).multiplier


@pytest.mark.parametrize("size", SIZES)
def test_with_slipping_no_policy_is_free_of_hazards(models, size):
    # Under a penalty this large the least hazard steps come first (returns lie in [-1, 1]): the
    # least possible hazard steps are within 2e-6 of this policy's.
    _, cost, _ = models[size, 0.1].backward_induction(1e6)
    assert cost > 1e-4


@pytest.mark.parametrize(("size", "slip"), [(7, 0.0), (7, 0.1), (5, 0.1)])
def test_the_dual_optimum_equals_the_linear_programs(layouts, size, slip):
    """The bisection on the multiplier against the occupancy-measure LP (a 20-step horizon, so
    the LP stays small)."""
    _, params = layouts[size]
    model = Model(params.replace(max_steps_in_episode=20), slip)
    for budget in (0.1, 0.5):
        ret = model.constrained_optimum(budget).ret
        assert ret == pytest.approx(model.linear_program(budget), abs=1e-7)


def test_optimal_policies_earn_their_value_in_the_env(env_params, models):
    """The checker's policies played in the env at the default slip (Monte Carlo, 2000 episodes
    each): the unconstrained optimum and the two deterministic policies the budget-0.5 optimum
    mixes earn the return and hazard steps the checker says."""
    env, params = env_params
    model = models[ROWS, 0.1]
    ret, cost, greedy = model.backward_induction()
    optimum = model.constrained_optimum(0.5)
    expected = [(ret, cost), model.evaluate(optimum.policy_a), model.evaluate(optimum.policy_b)]
    policies = np.stack([greedy, optimum.policy_a, optimum.policy_b])  # [3, H, S]
    policies = jnp.asarray(policies, jnp.int32)
    episodes, horizon = 2000, model.horizon

    def episode(policy, key):
        def body(carry, key):
            state, done, ret, hazard = carry
            action = policy[state.time, state.pos[0] * COLS + state.pos[1]]
            _, nxt, reward, terminated, truncated, info = env.step(key, state, action, params)
            live = ~done  # a finished episode stays as it ended
            state = jax.tree.map(lambda a, b: jnp.where(live, a, b), nxt, state)
            ret = ret + jnp.where(live, reward, 0.0)
            hazard = hazard + jnp.where(live, info["constraint_cost"], 0.0)
            return (state, done | terminated | truncated, ret, hazard), None

        _, state = env.reset(key, params)
        init = (state, jnp.bool_(False), jnp.float32(0), jnp.float32(0))
        (_, done, ret, hazard), _ = jax.lax.scan(body, init, jax.random.split(key, horizon))
        return done, ret, hazard

    keys = jax.random.split(jax.random.key(5), episodes)
    run = jax.jit(jax.vmap(jax.vmap(episode, (None, 0)), (0, None)))
    done, ret, hazard = jax.device_get(run(policies, keys))
    assert done.all()  # every episode ended within the step limit
    for i, (expected_return, expected_cost) in enumerate(expected):
        # Within five standard errors of the mean.
        se_return, se_cost = ret[i].std() / np.sqrt(episodes), hazard[i].std() / np.sqrt(episodes)
        assert abs(ret[i].mean() - expected_return) <= 5 * se_return + 1e-6, i
        assert abs(hazard[i].mean() - expected_cost) <= 5 * se_cost + 1e-6, i


# --- parameters ---------------------------------------------------------------------------------


def test_hazards_and_slip_are_params_leaves_vmapped(env_params):
    env, params = env_params
    masks = jnp.stack([jnp.asarray(band_hazards(ROWS, COLS)), jnp.zeros((ROWS, COLS), bool)])
    batch = params.replace(hazards=masks, slip_prob=jnp.zeros(2))
    axes = jax.tree.map(lambda _: None, params).replace(hazards=0, slip_prob=0)

    def down(params):
        _, state = env.reset(jax.random.key(0), params)
        for _ in range(3):
            _, state, _, _, _, info = env.step(jax.random.key(1), state, 2, params)
        return state.pos, info["constraint_cost"]

    pos, cost = jax.jit(jax.vmap(down, in_axes=(axes,)))(batch)
    assert pos.tolist() == [[3, 0], [3, 0]] and cost.tolist() == [1.0, 0.0]


def test_make_accepts_overrides_and_rejects_bad_params():
    hazards = np.zeros((5, 4), int)
    hazards[2, :3] = 1
    env, params = rljax.make("HazardGridWorld-v0", rows=5, cols=4, hazards=hazards.tolist())
    assert params.hazards.dtype == jnp.bool_ and params.goal.tolist() == [4, 0]
    np.testing.assert_array_equal(params.hazards, band_hazards(5, 4))
    with pytest.raises(ValueError, match="hazards"):
        rljax.make("HazardGridWorld-v0", hazards=np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="hazards"):
        rljax.make("HazardGridWorld-v0", hazards=np.full((7, 7), 0.5))
    with pytest.raises(ValueError, match="slip_prob"):
        rljax.make("HazardGridWorld-v0", slip_prob=1.5)
    walls = np.zeros((7, 7), bool)
    walls[3] = True
    with pytest.raises(ValueError, match="unreachable"):  # GridWorld's own checks still apply
        rljax.make("HazardGridWorld-v0", walls=walls)
    with pytest.raises(ValueError, match="rows >= 3"):
        HazardGridWorld(rows=2, cols=5)
