"""GridWorld-v0: walk from a start cell to a goal cell on a small grid with walls.

The grid has ``rows x cols`` cells (a static setting, default 5 x 5); cell ``(row, col)`` has row 0
at the top. Actions are ``0`` up (row - 1), ``1`` right (col + 1), ``2`` down (row + 1) and ``3``
left (col - 1). A move into a wall or off the grid leaves the agent where it is (the step still
counts and still costs). Reaching the goal gives ``goal_reward`` (+1.0) and terminates; every other
step gives ``step_reward`` (-0.01), so a path of ``n`` moves returns ``1 - 0.01 * (n - 1)``. The
episode is truncated once ``time >= max_steps_in_episode`` (100). The observation is the agent's
``(row, col)`` as float32 ``[2]``; reset is deterministic (the agent starts on ``start``).

Default layout (any grid size): start ``(0, 0)``, goal in the far corner ``(rows - 1, cols - 1)``,
and a wall ("pillar") on every cell whose row and column are both odd, except the start and goal
cells. On the default 5 x 5 grid that is four pillars, at ``(1, 1)``, ``(1, 3)``, ``(3, 1)`` and
``(3, 3)``::

    S . . . .
    . # . # .
    . . . . .
    . # . # .
    . . . . G

Pillars never disconnect the grid (every even row and every even column stays open), so the
default goal is reachable for every size, and the shortest path keeps its Manhattan length
``rows + cols - 2`` (along the edges). Override ``walls`` (a bool ``[rows, cols]`` mask; a nested
list or a numpy array is accepted), ``start`` and ``goal`` (``(row, col)`` pairs) to build other
mazes; ``rljax.make`` checks that the goal stays reachable. ``walls``, ``start``, ``goal``, the
rewards and the step limit are params leaves, so one program can ``jax.vmap`` over many mazes of
the same size. Actions outside ``0..3`` are not checked at run time (values may be traced); their
effect is unspecified. Stepping an environment that has already terminated is undefined.
"""

from __future__ import annotations

import collections
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.env import Environment, check_positive

# (d_row, d_col) of actions 0 up, 1 right, 2 down, 3 left.
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


@struct.dataclass
class GridWorldState:
    pos: jax.Array  # agent's (row, col), int32 [2]
    time: jax.Array  # steps taken this episode, int32


@struct.dataclass
class GridWorldParams:
    walls: jax.Array  # bool [rows, cols]; True marks a wall
    start: jax.Array  # (row, col) of the start cell, int32 [2]
    goal: jax.Array  # (row, col) of the goal cell, int32 [2]
    goal_reward: float = 1.0  # reward of the step that reaches the goal
    step_reward: float = -0.01  # reward of every other step (bumps included)
    max_steps_in_episode: int = 100

    # The array fields and their dtypes; a subclass with more array fields (a hazard mask, say)
    # extends this tuple, and __post_init__ converts them too.
    array_fields: ClassVar[tuple[tuple[str, Any], ...]] = (
        ("walls", np.bool_),
        ("start", np.int32),
        ("goal", np.int32),
    )

    def __post_init__(self):
        # A nested list given to ``make(..., walls=[[...]])`` would otherwise be a pytree of
        # rows * cols Python scalars; turn host values into one array leaf of the right dtype.
        # Anything else (jax arrays, tracers, vmap axis specs) is left untouched.
        for field, dtype in self.array_fields:
            value = getattr(self, field)
            if isinstance(value, (list, tuple, np.ndarray)):
                object.__setattr__(self, field, _host_leaf(value, dtype))


def _host_leaf(value: Any, dtype: Any) -> Any:
    host = (bool, int, float, np.ndarray, np.generic)
    if not all(isinstance(leaf, host) for leaf in jax.tree.leaves(value)):
        return value
    array = np.asarray(value)
    if dtype is np.bool_:
        # 0/1 integers are accepted as a mask; other values are left for validate_params to reject.
        lossless = array.dtype.kind == "b" or (
            array.dtype.kind in "iu" and np.isin(array, (0, 1)).all()
        )
    else:
        lossless = array.dtype.kind in "iu"
    return jnp.asarray(array.astype(dtype) if lossless else array)


def pillar_walls(rows: int, cols: int, keep_open: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    """The default wall mask, bool ``[rows, cols]``: a wall on every (odd row, odd column) cell.

    Cells listed in ``keep_open`` (the start and goal) are left open.
    """
    walls = np.zeros((rows, cols), np.bool_)
    walls[1::2, 1::2] = True
    for row, col in keep_open:
        walls[row, col] = False
    return walls


def _reachable(walls: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> bool:
    # Breadth-first search over open cells (host side, at make time).
    rows, cols = walls.shape
    seen = np.zeros_like(walls)
    seen[start] = True
    queue = collections.deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            return True
        for d_row, d_col in _MOVES:
            row, col = cell[0] + d_row, cell[1] + d_col
            if 0 <= row < rows and 0 <= col < cols and not walls[row, col] and not seen[row, col]:
                seen[row, col] = True
                queue.append((row, col))
    return False


class GridWorld(Environment[GridWorldState, GridWorldParams]):
    """Navigate a ``rows x cols`` grid to the goal. Actions ``Discrete(4)``; observation ``[2]``.

    Args:
        rows: number of grid rows (static; at least 1).
        cols: number of grid columns (static; at least 1, and at least two cells in all).
    """

    stochastic_step = False

    def __init__(self, rows: int = 5, cols: int = 5):
        rows, cols = int(rows), int(cols)
        if rows < 1 or cols < 1 or rows * cols < 2:
            raise ValueError(
                f"GridWorld needs rows >= 1, cols >= 1 and at least two cells, "
                f"got rows={rows}, cols={cols}"
            )
        self.rows = rows
        self.cols = cols

    @property
    def default_params(self) -> GridWorldParams:
        start = (0, 0)
        goal = (self.rows - 1, self.cols - 1)
        return GridWorldParams(
            walls=jnp.asarray(pillar_walls(self.rows, self.cols, keep_open=(start, goal))),
            start=jnp.asarray(start, jnp.int32),
            goal=jnp.asarray(goal, jnp.int32),
        )

    def validate_params(self, params: GridWorldParams) -> None:
        walls = np.asarray(params.walls)
        if walls.shape != (self.rows, self.cols):
            raise ValueError(
                f"parameter walls has shape {walls.shape}, expected (rows, cols) = "
                f"({self.rows}, {self.cols}); pass rows=..., cols=... to change the grid size"
            )
        if walls.dtype != np.bool_:
            raise ValueError(
                f"parameter walls has dtype {walls.dtype}: must be a boolean mask "
                "(True marks a wall; 0/1 integers are accepted in a list or numpy array)"
            )
        cells = {}
        for field in ("start", "goal"):
            value = np.asarray(getattr(params, field))
            if value.shape != (2,) or value.dtype.kind not in "iu":
                raise ValueError(
                    f"parameter {field}={value.tolist()} is invalid: must be an integer "
                    "(row, col) pair"
                )
            row, col = (int(v) for v in value)
            if not (0 <= row < self.rows and 0 <= col < self.cols):
                raise ValueError(
                    f"parameter {field}={[row, col]} is invalid: outside the "
                    f"{self.rows} x {self.cols} grid"
                )
            if walls[row, col]:
                raise ValueError(f"parameter {field}={[row, col]} is invalid: it is a wall cell")
            cells[field] = (row, col)
        if cells["start"] == cells["goal"]:
            raise ValueError(
                f"parameter goal={list(cells['goal'])} is invalid: equal to start "
                f"{list(cells['start'])}"
            )
        if not _reachable(walls, cells["start"], cells["goal"]):
            raise ValueError(
                f"parameter goal={list(cells['goal'])} is invalid: unreachable from start "
                f"{list(cells['start'])} through the walls"
            )
        check_positive(params, "max_steps_in_episode")
        for field in ("goal_reward", "step_reward"):
            value = np.asarray(getattr(params, field))
            if not np.all(np.isfinite(value)):
                raise ValueError(f"parameter {field}={value.tolist()} is invalid: must be finite")

    def reset_env(
        self, key: jax.Array, params: GridWorldParams
    ) -> tuple[jax.Array, GridWorldState]:
        pos = jnp.asarray(params.start, jnp.int32)
        state = GridWorldState(pos=pos, time=jnp.zeros((), jnp.int32))
        return pos.astype(jnp.float32), state

    def step_env(self, key, state: GridWorldState, action: jax.Array, params: GridWorldParams):
        delta = jnp.asarray(_MOVES, jnp.int32)[action]
        # Clipping turns a move off the grid into staying put (a move changes one coordinate by
        # one); the agent's own cell is never a wall, so a blocked move also stays put.
        limit = jnp.asarray([self.rows - 1, self.cols - 1], jnp.int32)
        target = jnp.clip(state.pos + delta, 0, limit)
        blocked = jnp.asarray(params.walls)[target[0], target[1]]
        pos = jnp.where(blocked, state.pos, target)
        time = state.time + 1

        terminated = jnp.all(pos == jnp.asarray(params.goal))
        truncated = time >= params.max_steps_in_episode
        reward = jnp.where(terminated, params.goal_reward, params.step_reward).astype(jnp.float32)
        obs = pos.astype(jnp.float32)
        return obs, GridWorldState(pos=pos, time=time), reward, terminated, truncated, {}

    def observation_space(self, params: GridWorldParams) -> spaces.Box:
        high = jnp.asarray([self.rows - 1, self.cols - 1], jnp.float32)
        return spaces.Box(0.0, high, (2,), jnp.float32)

    def action_space(self, params: GridWorldParams) -> spaces.Discrete:
        return spaces.Discrete(4)

    @property
    def name(self) -> str:
        return "GridWorld-v0"

    # The environment is static configuration: equal sizes give equal (and equally hashed)
    # environments, so ``jax.jit`` with the environment as a static argument does not recompile.
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (other.rows, other.cols) == (self.rows, self.cols)

    def __hash__(self) -> int:
        return hash((type(self), self.rows, self.cols))

    def __repr__(self) -> str:
        return f"GridWorld(rows={self.rows}, cols={self.cols})"


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class GridWorldRenderer:
    """The maze (walls dark, the goal green) and the agent with its trail.

    See :mod:`rljax.render` for the arguments.
    """

    def __init__(self, fig, env, params, states, actions, returns):
        from matplotlib.patches import Rectangle

        self.states = states
        walls = np.asarray(params.walls, bool)
        rows, cols = walls.shape
        self.ax = ax = fig.add_subplot()
        ax.imshow(walls, cmap="Greys", vmin=0, vmax=1.4, origin="upper")
        ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
        ax.grid(which="minor", color="0.6", linewidth=1)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        goal = np.asarray(params.goal)
        ax.add_patch(Rectangle((goal[1] - 0.5, goal[0] - 0.5), 1, 1, color="tab:green", alpha=0.6))
        (self.trail,) = ax.plot([], [], "-", color="C3", alpha=0.4, linewidth=2)
        (self.agent,) = ax.plot([], [], "o", color="C3", markersize=max(4, 60 // max(rows, cols)))
        self.artists = [self.trail, self.agent]

    def draw(self, t: int) -> None:
        pos = np.asarray(self.states.pos[: t + 1])
        self.trail.set_data(pos[:, 1], pos[:, 0])
        self.agent.set_data([pos[-1, 1]], [pos[-1, 0]])
