"""TreasureHunt-v0: a team of agents collects the treasures scattered over a grid.

The grid has ``size x size`` cells (static, default 8 x 8); cell ``(row, col)`` has row 0 at the
top. ``num_agents`` agents (2) and ``num_treasures`` treasures (3) start on distinct random cells
(no agent shares a cell with another agent or with a treasure, no two treasures share a cell).
Every step each agent picks one of :data:`NUM_ACTIONS` actions, ``UP`` (row - 1), ``DOWN``
(row + 1), ``LEFT`` (col - 1), ``RIGHT`` (col + 1) or ``STAY`` (module constants ``0 .. 4``); the
moves are simultaneous. A move off the grid leaves the agent where it is and costs ``bump_reward``
(-1) for that agent. Agents do not block each other: several may share a cell.

After the moves, every remaining treasure with at least one agent on its cell is collected, once
(two agents reaching one treasure on the same step collect it once, for ``treasure_reward``).
The team reward of a step is::

    treasure_reward * (treasures collected) + bump_reward * (agents that bumped) + step_reward

with defaults ``+10``, ``-1`` and ``-0.1`` (the step reward is paid on every step, the last one
included). It is shared: ``reward [N]`` holds the same value for every agent. The episode
terminates when every treasure is collected and is truncated once ``time >= max_steps_in_episode``
(100); like the other rljax environments the two flags are independent, so the last step may set
both. The rewards and the step limit are params leaves; the grid size, the counts and the
observation mode are constructor settings (``rljax.make("TreasureHunt-v0", size=12, num_agents=4,
num_treasures=6)``).

Observations are float32 ``[N, obs_dim]``, one row per agent:

- ``obs_mode="position"`` (default, ``obs_dim = 4``): ``(row, col)`` of the agent and ``(row,
  col)`` of its nearest remaining treasure (Manhattan distance; ties go to the lower treasure
  index), ``(-1, -1)`` when none remains. Coordinates are cell indices, not normalised.
- ``obs_mode="egocentric"`` (``obs_dim = 4 + 3 * view_size**2``): the four numbers above, then a
  ``view_size x view_size`` window centred on the agent (``view_size`` odd, default 5), flattened
  row-major with three channels per cell (channels last): a remaining treasure there, another agent
  there, the cell is off the grid (each 0.0 or 1.0).

For a centralised critic, :meth:`TreasureHunt.global_state` gives float32 ``[G]`` with
``G = 2 N + size**2 + 1``: every agent's ``(row, col) / (size - 1)``, the remaining-treasure map
(``size x size``, row-major, 1.0 where a treasure remains) and ``time / max_steps_in_episode``.

Determinism: ``step`` ignores its key (``stochastic_step = False``); the transition is a function of
``(state, action, params)`` alone, so stepping one state with two joint actions (difference rewards,
counterfactual baselines) compares like with like. Only ``reset`` uses its key (to draw the start
cells). Actions outside ``0 .. 4`` are not checked at run time (values may be traced); their effect
is unspecified. Stepping an environment that has already terminated is undefined.

:func:`greedy_actions` is a jittable scripted baseline: every agent walks towards its nearest
remaining treasure.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.env import Environment, check_positive

# Actions. The order is part of the API (difference rewards replace an agent's action by STAY).
UP, DOWN, LEFT, RIGHT, STAY = 0, 1, 2, 3, 4
NUM_ACTIONS = 5
ACTION_NAMES = ("UP", "DOWN", "LEFT", "RIGHT", "STAY")
# (d_row, d_col) of each action, in action order.
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1), (0, 0))
OBS_MODES = ("position", "egocentric")

# Larger than any Manhattan distance on a grid we can build (masks removed treasures).
_FAR = 1 << 20


@struct.dataclass
class TreasureHuntState:
    agent_pos: jax.Array  # (row, col) of every agent, int32 [N, 2]
    treasure_pos: jax.Array  # (row, col) of every treasure, int32 [T, 2]
    collected: jax.Array  # treasure already collected, bool [T]
    time: jax.Array  # steps taken this episode, int32 []


@struct.dataclass
class TreasureHuntParams:
    treasure_reward: float = 10.0  # team reward per treasure collected
    bump_reward: float = -1.0  # team reward per agent whose move left the grid (it stays put)
    step_reward: float = -0.1  # team reward of every step
    max_steps_in_episode: int = 100


# --- helpers shared with Tag-v0 -----------------------------------------------------------------


def move_agents(pos: jax.Array, action: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    """Simultaneous moves on a ``size x size`` grid without obstacles.

    Args:
        pos: int32 ``[N, 2]`` cells before the move.
        action: int ``[N]`` in ``UP, DOWN, LEFT, RIGHT, STAY``.

    Returns:
        ``(new_pos int32 [N, 2], bumped bool [N])``: an agent whose move would leave the grid stays
        put and is marked bumped.
    """
    # Arithmetic instead of a table lookup: elementwise work vectorises better than a gather.
    row = pos[:, 0] + (action == DOWN).astype(jnp.int32) - (action == UP).astype(jnp.int32)
    col = pos[:, 1] + (action == RIGHT).astype(jnp.int32) - (action == LEFT).astype(jnp.int32)
    inside = (row >= 0) & (row < size) & (col >= 0) & (col < size)
    new_pos = jnp.stack([jnp.where(inside, row, pos[:, 0]), jnp.where(inside, col, pos[:, 1])], -1)
    return new_pos, ~inside


def sample_distinct_cells(key: jax.Array, size: int, count: int) -> jax.Array:
    """``count`` distinct cells of a ``size x size`` grid, a uniformly random ordered draw.

    Returns int32 ``[count, 2]`` ``(row, col)`` pairs. Draw ``j`` picks a uniform rank ``r_j`` in
    ``[0, size**2 - j)`` and takes the ``r_j``-th cell not picked yet (sampling without
    replacement): with the earlier picks sorted, ``s_0 < s_1 < ...``, that cell is
    ``r_j + #{i : s_i - i <= r_j}`` (``s_i - i`` cells are free below ``s_i``). It costs ``count``
    random words and ``O(count**2)`` comparisons, with no shuffle of the whole grid, which
    matters when thousands of environments reset in one batch.
    """
    num_cells = size * size
    if not 1 <= count <= num_cells:
        raise ValueError(f"cannot draw {count} distinct cells from a {size} x {size} grid")
    # One random word per rank: floor(u * m) for a float32 u in [0, 1) (23 random bits) is
    # uniform on 0 .. m-1 up to m / 2**23 (2e-5 on a 12 x 12 grid); randint spends two words per
    # value and costs three times as much under vmap.
    sizes = num_cells - jnp.arange(count, dtype=jnp.int32)
    scaled = jax.random.uniform(key, (count,), jnp.float32) * sizes.astype(jnp.float32)
    ranks = jnp.minimum(scaled.astype(jnp.int32), sizes - 1)
    index = jnp.arange(count, dtype=jnp.int32)
    unused = jnp.int32(2 * num_cells + count)  # pads the sorted picks; never counted below
    sorted_picks = jnp.full((count,), unused)
    picks = []
    for j in range(count):
        cell = ranks[j] + jnp.sum(sorted_picks - index <= ranks[j], dtype=jnp.int32)
        picks.append(cell)
        # Insert the new cell into the sorted picks (the padding stays at the end).
        slot = jnp.sum(sorted_picks < cell, dtype=jnp.int32)
        shifted = jnp.concatenate([sorted_picks[:1], sorted_picks[:-1]])
        sorted_picks = jnp.where(
            index < slot, sorted_picks, jnp.where(index == slot, cell, shifted)
        )
    cells = jnp.stack(picks)
    return jnp.stack([cells // size, cells % size], axis=-1)


def nearest_points(
    pos: jax.Array, points: jax.Array, valid: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Each agent's nearest valid point by Manhattan distance (ties: lowest point index).

    Args:
        pos: int32 ``[N, 2]``; points: int32 ``[P, 2]``; valid: bool ``[N, P]`` or ``[P]``.

    Returns:
        ``(nearest int32 [N, 2], found bool [N])``; ``nearest`` is ``(-1, -1)`` where no point is
        valid.
    """
    num_points = points.shape[0]
    valid = jnp.broadcast_to(valid, (pos.shape[0], num_points))
    # A running minimum unrolled over the (few, static) points: elementwise selects on [N] fuse
    # into one loop under vmap, where argmin and a gather would not.
    best = jnp.full(pos.shape[:1], _FAR, jnp.int32)
    nearest_row = jnp.full(pos.shape[:1], -1, jnp.int32)
    nearest_col = nearest_row
    for p in range(num_points):
        dist = jnp.abs(pos[:, 0] - points[p, 0]) + jnp.abs(pos[:, 1] - points[p, 1])
        closer = valid[:, p] & (dist < best)  # strict: a tie keeps the lower index
        best = jnp.where(closer, dist, best)
        nearest_row = jnp.where(closer, points[p, 0], nearest_row)
        nearest_col = jnp.where(closer, points[p, 1], nearest_col)
    return jnp.stack([nearest_row, nearest_col], -1), best < _FAR


def window_presence(
    pos: jax.Array, points: jax.Array, valid: jax.Array, view_size: int
) -> jax.Array:
    """float32 ``[N, k, k]``: 1.0 where agent ``i``'s window holds a valid point.

    The ``k x k`` window (``k = view_size``, odd) is centred on the agent: entry ``[a, b]`` is the
    cell ``(row - k // 2 + a, col - k // 2 + b)``. ``valid`` is bool ``[N, P]`` or ``[P]``.
    """
    offsets = jnp.arange(view_size, dtype=jnp.int32) - view_size // 2
    rel = points[None, :, :] - pos[:, None, :]  # [N, P, 2]
    row_hit = rel[..., 0, None] == offsets  # [N, P, k]
    col_hit = rel[..., 1, None] == offsets
    valid = jnp.broadcast_to(valid, rel.shape[:2])
    hit = valid[..., None, None] & row_hit[..., :, None] & col_hit[..., None, :]  # [N, P, k, k]
    return jnp.any(hit, axis=1).astype(jnp.float32)


def window_outside(pos: jax.Array, size: int, view_size: int) -> jax.Array:
    """float32 ``[N, k, k]``: 1.0 where the window cell lies off the grid."""
    offsets = jnp.arange(view_size, dtype=jnp.int32) - view_size // 2
    cells = pos[:, :, None] + offsets  # [N, 2, k]
    off = (cells < 0) | (cells >= size)
    return (off[:, 0, :, None] | off[:, 1, None, :]).astype(jnp.float32)


def check_obs_settings(obs_mode: str, view_size: int) -> None:
    if obs_mode not in OBS_MODES:
        raise ValueError(f"obs_mode={obs_mode!r} is invalid: must be one of {OBS_MODES}")
    if view_size < 1 or view_size % 2 == 0:
        raise ValueError(f"view_size={view_size} is invalid: must be an odd integer >= 1")


def check_finite(params, *fields: str) -> None:
    for field in fields:
        value = np.asarray(getattr(params, field))
        if not np.all(np.isfinite(value)):
            raise ValueError(f"parameter {field}={value.tolist()} is invalid: must be finite")


def step_toward(pos: jax.Array, target: jax.Array, found: jax.Array) -> jax.Array:
    """int32 ``[N]``: one move from ``pos`` towards ``target`` (both ``[N, 2]``).

    Moves along the axis with the larger remaining distance (rows on a tie); ``STAY`` where not
    ``found`` or already there.
    """
    d_row = target[:, 0] - pos[:, 0]
    d_col = target[:, 1] - pos[:, 1]
    vertical = jnp.where(d_row < 0, UP, DOWN)
    horizontal = jnp.where(d_col < 0, LEFT, RIGHT)
    action = jnp.where(
        (jnp.abs(d_row) >= jnp.abs(d_col)) & (d_row != 0),
        vertical,
        jnp.where(d_col != 0, horizontal, STAY),
    )
    return jnp.where(found, action, STAY).astype(jnp.int32)


# --- the environment ------------------------------------------------------------------------------


class TreasureHunt(Environment[TreasureHuntState, TreasureHuntParams]):
    """Cooperative treasure collection. Actions ``MultiDiscrete([5] * N)``; observation ``[N, D]``.

    Args:
        size: side of the square grid (static; at least 2).
        num_agents: number of agents ``N`` (at least 1).
        num_treasures: number of treasures ``T`` (at least 1); ``N + T <= size**2``.
        obs_mode: ``"position"`` (``D = 4``) or ``"egocentric"`` (``D = 4 + 3 * view_size**2``).
        view_size: side ``k`` of the egocentric window (odd; used by ``"egocentric"``).
    """

    stochastic_step = False
    # The action that leaves an agent in place: difference rewards replace an agent's action by it.
    noop_action = STAY

    def __init__(
        self,
        size: int = 8,
        num_agents: int = 2,
        num_treasures: int = 3,
        obs_mode: str = "position",
        view_size: int = 5,
    ):
        size, num_agents, num_treasures = int(size), int(num_agents), int(num_treasures)
        view_size = int(view_size)
        if size < 2:
            raise ValueError(f"size={size} is invalid: the grid needs size >= 2")
        if num_agents < 1:
            raise ValueError(f"num_agents={num_agents} is invalid: must be >= 1")
        if num_treasures < 1:
            raise ValueError(f"num_treasures={num_treasures} is invalid: must be >= 1")
        if num_agents + num_treasures > size * size:
            raise ValueError(
                f"num_agents + num_treasures = {num_agents} + {num_treasures} is invalid: more "
                f"than the {size * size} cells of a {size} x {size} grid (each needs its own cell)"
            )
        check_obs_settings(obs_mode, view_size)
        self.size = size
        self.num_agents = num_agents
        self.num_treasures = num_treasures
        self.obs_mode = obs_mode
        self.view_size = view_size

    @property
    def default_params(self) -> TreasureHuntParams:
        return TreasureHuntParams()

    @property
    def team_of_agent(self) -> np.ndarray:
        """int32 ``[N]``: every agent is on team 0 (one cooperative team)."""
        return np.zeros(self.num_agents, np.int32)

    @property
    def obs_dim(self) -> int:
        """Length of one agent's observation row."""
        if self.obs_mode == "egocentric":
            return 4 + 3 * self.view_size**2
        return 4

    def validate_params(self, params: TreasureHuntParams) -> None:
        check_positive(params, "max_steps_in_episode")
        check_finite(params, "treasure_reward", "bump_reward", "step_reward")

    def reward_shape(self, params: TreasureHuntParams) -> tuple[int, ...]:
        return (self.num_agents,)

    def reset_env(
        self, key: jax.Array, params: TreasureHuntParams
    ) -> tuple[jax.Array, TreasureHuntState]:
        cells = sample_distinct_cells(key, self.size, self.num_agents + self.num_treasures)
        state = TreasureHuntState(
            agent_pos=cells[: self.num_agents],
            treasure_pos=cells[self.num_agents :],
            collected=jnp.zeros((self.num_treasures,), jnp.bool_),
            time=jnp.zeros((), jnp.int32),
        )
        return self.get_obs(state, params), state

    def step_env(
        self,
        key: jax.Array,
        state: TreasureHuntState,
        action: jax.Array,
        params: TreasureHuntParams,
    ):
        """``action`` int32 ``[N]``; returns ``(obs [N, D], state, reward [N], terminated [],
        truncated [], info)``. ``key`` is unused (the transition is deterministic).

        ``info`` holds ``collected`` (int32 [], treasures collected this step) and ``bumps``
        (int32 [], agents that bumped into the edge).
        """
        agent_pos, bumped = move_agents(state.agent_pos, action, self.size)
        # Unrolled over the (few, static) agents: bool [T], True where some agent stands. Rows
        # and columns are compared apart rather than reduced over the pair axis: under vmap a
        # reduction over a minor axis of 2 stops XLA:CPU from vectorising over the batch.
        treasure_row, treasure_col = state.treasure_pos[:, 0], state.treasure_pos[:, 1]
        occupied = jnp.zeros((self.num_treasures,), jnp.bool_)
        for i in range(self.num_agents):
            occupied |= (agent_pos[i, 0] == treasure_row) & (agent_pos[i, 1] == treasure_col)
        found = occupied & ~state.collected  # each treasure once, however many agents reach it
        collected = state.collected | found
        time = state.time + 1
        num_found = jnp.sum(found, dtype=jnp.int32)
        num_bumps = jnp.sum(bumped, dtype=jnp.int32)
        team_reward = (
            num_found.astype(jnp.float32) * jnp.float32(params.treasure_reward)
            + num_bumps.astype(jnp.float32) * jnp.float32(params.bump_reward)
            + jnp.float32(params.step_reward)
        )
        reward = jnp.full((self.num_agents,), team_reward, jnp.float32)
        terminated = jnp.all(collected)
        truncated = time >= params.max_steps_in_episode
        new_state = TreasureHuntState(
            agent_pos=agent_pos,
            treasure_pos=state.treasure_pos,
            collected=collected,
            time=time,
        )
        info = {"collected": num_found, "bumps": num_bumps}
        return self.get_obs(new_state, params), new_state, reward, terminated, truncated, info

    def get_obs(self, state: TreasureHuntState, params: TreasureHuntParams) -> jax.Array:
        """float32 ``[N, obs_dim]`` (layout in the module docstring)."""
        remaining = ~state.collected
        nearest, _ = nearest_points(state.agent_pos, state.treasure_pos, remaining)
        # A stack of four [N] columns rather than a concatenate of [N, 2] blocks: together with
        # the row/column compares in step_env, 1.3x faster batched steps on XLA:CPU.
        pos = state.agent_pos
        columns = (pos[:, 0], pos[:, 1], nearest[:, 0], nearest[:, 1])
        obs = jnp.stack(columns, axis=-1).astype(jnp.float32)
        if self.obs_mode == "position":
            return obs
        k = self.view_size
        others = ~jnp.eye(self.num_agents, dtype=jnp.bool_)  # [N, N]: j is not i
        window = jnp.stack(
            [
                window_presence(state.agent_pos, state.treasure_pos, remaining, k),
                window_presence(state.agent_pos, state.agent_pos, others, k),
                window_outside(state.agent_pos, self.size, k),
            ],
            axis=-1,
        )  # [N, k, k, 3]
        return jnp.concatenate([obs, window.reshape(self.num_agents, -1)], axis=-1)

    def treasure_map(self, state: TreasureHuntState) -> jax.Array:
        """bool ``[size, size]``: True on the cells of the remaining treasures."""
        rows = jnp.arange(self.size, dtype=jnp.int32)
        hit = (
            ~state.collected[:, None, None]
            & (state.treasure_pos[:, 0, None, None] == rows[:, None])
            & (state.treasure_pos[:, 1, None, None] == rows[None, :])
        )
        return jnp.any(hit, axis=0)

    def global_state(self, state: TreasureHuntState, params: TreasureHuntParams) -> jax.Array:
        """float32 ``[G]``, ``G = 2 N + size**2 + 1``: agent cells ``/ (size - 1)`` (agent-major),
        the remaining-treasure map (row-major) and ``time / max_steps_in_episode``."""
        positions = state.agent_pos.astype(jnp.float32).reshape(-1) / (self.size - 1)
        treasures = self.treasure_map(state).astype(jnp.float32).reshape(-1)
        time = state.time.astype(jnp.float32) / jnp.float32(params.max_steps_in_episode)
        return jnp.concatenate([positions, treasures, time[None]])

    def global_state_size(self, params: TreasureHuntParams | None = None) -> int:
        """``G = 2 N + size**2 + 1``, the length of :meth:`global_state`."""
        return 2 * self.num_agents + self.size**2 + 1

    def observation_space(self, params: TreasureHuntParams) -> spaces.Box:
        top = float(self.size - 1)
        low = [0.0, 0.0, -1.0, -1.0]
        high = [top] * 4
        extra = self.obs_dim - 4
        low = np.asarray(low + [0.0] * extra, np.float32)
        high = np.asarray(high + [1.0] * extra, np.float32)
        shape = (self.num_agents, self.obs_dim)
        return spaces.Box(low, high, shape, jnp.float32)

    def action_space(self, params: TreasureHuntParams) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete([NUM_ACTIONS] * self.num_agents)

    def greedy_actions(
        self, state: TreasureHuntState, params: TreasureHuntParams | None = None
    ) -> jax.Array:
        """int32 ``[N]``: the module's :func:`greedy_actions` (same call as ``Tag``'s method)."""
        return greedy_actions(state, params)

    @property
    def name(self) -> str:
        return "TreasureHunt-v0"

    def _key(self) -> tuple:
        return (self.size, self.num_agents, self.num_treasures, self.obs_mode, self.view_size)

    # Static configuration: equal settings give equal (and equally hashed) environments, so
    # ``jax.jit`` with the environment as a static argument does not recompile.
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash((type(self), self._key()))

    def __repr__(self) -> str:
        return (
            f"TreasureHunt(size={self.size}, num_agents={self.num_agents}, "
            f"num_treasures={self.num_treasures}, obs_mode={self.obs_mode!r}, "
            f"view_size={self.view_size})"
        )


def greedy_actions(state: TreasureHuntState, params: TreasureHuntParams | None = None) -> jax.Array:
    """Scripted baseline: int32 ``[N]``, each agent one step towards its nearest remaining treasure.

    Nearest is by Manhattan distance, ties to the lower treasure index (the treasure the
    observation shows); the agent moves along the axis with the larger remaining distance (rows on
    a tie) and stays when no treasure remains. It never leaves the grid and collects every treasure
    within ``T * 2 * (size - 1)`` steps, since each step shortens the distance to the nearest
    remaining treasure. Jittable and vmappable; ``params`` is unused.
    """
    target, found = nearest_points(state.agent_pos, state.treasure_pos, ~state.collected)
    return step_toward(state.agent_pos, target, found)


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class TreasureHuntRenderer:
    """The notebook classic: the grid, agents as numbered discs, remaining treasures as stars and
    ``treasures collected c/T`` under the grid.

    See :mod:`rljax.render` for the arguments.
    """

    def __init__(self, fig, env, params, states, actions, returns):
        from rljax.render import GridAgents, caption_below, grid_axes

        self.states = states
        size = int(env.size)
        self.total = int(np.shape(states.collected)[-1])
        self.ax = ax = grid_axes(fig, size)
        marker = max(5, 110 // size)
        self.treasures = ax.scatter(
            [], [], s=(1.3 * marker) ** 2, marker="*", color="gold", edgecolors="darkgoldenrod"
        )
        colors = [f"C{i % 10}" for i in range(int(env.num_agents))]
        self.agents = GridAgents(ax, states.agent_pos[0], colors, marker)
        self.title = caption_below(ax)
        self.artists = [self.treasures, *self.agents.artists, self.title]

    def draw(self, t: int) -> None:
        collected = np.asarray(self.states.collected[t], bool)
        treasures = np.asarray(self.states.treasure_pos[t])[~collected]
        self.treasures.set_offsets(treasures[:, ::-1].reshape(-1, 2))
        self.agents.move(self.states.agent_pos[t])
        self.title.set_text(f"treasures collected {int(collected.sum())}/{self.total}")
