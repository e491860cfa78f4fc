"""Tag-v0: pursuit on a grid. A team of chasers tries to catch one or more evaders.

Same grid and moves as :mod:`rljax.envs.treasure_hunt`: ``size x size`` cells (static, default
8 x 8), actions ``UP, DOWN, LEFT, RIGHT, STAY`` (``0 .. 4``, the module constants there, re-exported
here), simultaneous moves, a move off the grid stays put (no penalty here), agents never block each
other. Agents ``0 .. C-1`` are the chasers (``num_chasers``, default 2) and ``C .. N-1`` the
evaders (``num_evaders``, default 1); :attr:`Tag.team_of_agent` is int32 ``[N]`` (0 chaser,
1 evader). Every agent starts on its own random cell.

An evader is caught when, after the moves, a chaser stands on its cell, or when a chaser and the
evader swapped cells (they crossed on an edge). Any catch ends the episode (``terminated``); it is
truncated once ``time >= max_steps_in_episode`` (100), independently of ``terminated``.

Rewards are per agent, ``reward [N]``, team-signed and opposite between the teams: on every step a
chaser gets ``r`` and an evader ``-r``, with::

    r = catch_reward * (any evader caught this step) + step_reward

``catch_reward`` = +1 (the chasers' team reward for a catch; every evader loses it, the caught one
and its teammates alike) and ``step_reward`` = -0.01 (the chasers pay for time, the evaders earn
as much for surviving it; set it to 0 for a pure catch/no-catch game). With one chaser and one
evader the game is zero-sum; with several agents per team it is the mixed case: cooperation
within a team, competition between teams. Rewards and the step limit are params leaves; the grid
size, the team sizes and the observation mode are constructor settings.

Observations are float32 ``[N, obs_dim]``, one row per agent:

- ``obs_mode="position"`` (default, ``obs_dim = 3 + 2 N``): the agent's ``(row, col)``, its team
  (0.0 chaser, 1.0 evader), then the ``(row, col)`` of every agent in index order (chasers first).
  Coordinates are cell indices. The grid is small and fully observed, as in the classic pursuit
  tasks.
- ``obs_mode="egocentric"`` (``obs_dim = 3 + 2 N + 3 * view_size**2``): the numbers above, then a
  ``view_size x view_size`` window centred on the agent, row-major with three channels per cell
  (channels last): a teammate there, an opponent there, the cell is off the grid (0.0 or 1.0).

:meth:`Tag.global_state` gives float32 ``[G]``, ``G = 2 N + 1``: every agent's ``(row, col) /
(size - 1)`` and ``time / max_steps_in_episode``. ``step`` ignores its key (``stochastic_step =
False``); only ``reset`` draws. :meth:`Tag.greedy_actions` is a scripted baseline for both
teams. Stepping an environment that has already terminated is undefined.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.env import Environment, check_positive
from rljax.envs.treasure_hunt import (
    ACTION_NAMES,
    DOWN,
    LEFT,
    MOVES,
    NUM_ACTIONS,
    OBS_MODES,
    RIGHT,
    STAY,
    UP,
    check_finite,
    check_obs_settings,
    move_agents,
    nearest_points,
    sample_distinct_cells,
    step_toward,
    window_outside,
    window_presence,
)

__all__ = [
    "ACTION_NAMES",
    "CHASER",
    "DOWN",
    "EVADER",
    "LEFT",
    "MOVES",
    "NUM_ACTIONS",
    "OBS_MODES",
    "RIGHT",
    "STAY",
    "UP",
    "Tag",
    "TagParams",
    "TagState",
]

CHASER, EVADER = 0, 1  # values of Tag.team_of_agent


@struct.dataclass
class TagState:
    pos: jax.Array  # (row, col) of every agent, chasers first, int32 [N, 2]
    caught: jax.Array  # evader caught by the last step, bool [E]
    time: jax.Array  # steps taken this episode, int32 []


@struct.dataclass
class TagParams:
    catch_reward: float = 1.0  # to each chaser on a catch; each evader gets the negative
    step_reward: float = -0.01  # to each chaser every step; each evader gets the negative
    max_steps_in_episode: int = 100


class Tag(Environment[TagState, TagParams]):
    """Chasers against evaders. Actions ``MultiDiscrete([5] * N)``; observation ``[N, D]``.

    Args:
        size: side of the square grid (static; at least 2).
        num_chasers: chasers ``C`` (at least 1), agents ``0 .. C-1``.
        num_evaders: evaders ``E`` (at least 1), agents ``C .. N-1``; ``N = C + E <= size**2``.
        obs_mode: ``"position"`` (``D = 3 + 2 N``) or ``"egocentric"`` (``D = 3 + 2 N + 3 k**2``).
        view_size: side ``k`` of the egocentric window (odd; used by ``"egocentric"``).
    """

    stochastic_step = False
    # The action that leaves an agent in place: difference rewards replace an agent's action by it.
    noop_action = STAY

    def __init__(
        self,
        size: int = 8,
        num_chasers: int = 2,
        num_evaders: int = 1,
        obs_mode: str = "position",
        view_size: int = 5,
    ):
        size, num_chasers, num_evaders = int(size), int(num_chasers), int(num_evaders)
        view_size = int(view_size)
        if size < 2:
            raise ValueError(f"size={size} is invalid: the grid needs size >= 2")
        if num_chasers < 1:
            raise ValueError(f"num_chasers={num_chasers} is invalid: must be >= 1")
        if num_evaders < 1:
            raise ValueError(f"num_evaders={num_evaders} is invalid: must be >= 1")
        if num_chasers + num_evaders > size * size:
            raise ValueError(
                f"num_chasers + num_evaders = {num_chasers} + {num_evaders} is invalid: more than "
                f"the {size * size} cells of a {size} x {size} grid (each agent starts on its own)"
            )
        check_obs_settings(obs_mode, view_size)
        self.size = size
        self.num_chasers = num_chasers
        self.num_evaders = num_evaders
        self.num_agents = num_chasers + num_evaders
        self.obs_mode = obs_mode
        self.view_size = view_size

    @property
    def default_params(self) -> TagParams:
        return TagParams()

    @property
    def team_of_agent(self) -> np.ndarray:
        """int32 ``[N]``: ``CHASER`` (0) for agents ``0 .. C-1``, ``EVADER`` (1) for the rest."""
        return np.asarray([CHASER] * self.num_chasers + [EVADER] * self.num_evaders, np.int32)

    @property
    def obs_dim(self) -> int:
        """Length of one agent's observation row."""
        base = 3 + 2 * self.num_agents
        if self.obs_mode == "egocentric":
            return base + 3 * self.view_size**2
        return base

    def validate_params(self, params: TagParams) -> None:
        check_positive(params, "max_steps_in_episode")
        check_finite(params, "catch_reward", "step_reward")

    def reward_shape(self, params: TagParams) -> tuple[int, ...]:
        return (self.num_agents,)

    def reset_env(self, key: jax.Array, params: TagParams) -> tuple[jax.Array, TagState]:
        state = TagState(
            pos=sample_distinct_cells(key, self.size, self.num_agents),
            caught=jnp.zeros((self.num_evaders,), jnp.bool_),
            time=jnp.zeros((), jnp.int32),
        )
        return self.get_obs(state, params), state

    def step_env(self, key: jax.Array, state: TagState, action: jax.Array, params: TagParams):
        """``action`` int32 ``[N]``; returns ``(obs [N, D], state, reward [N], terminated [],
        truncated [], info)``. ``key`` is unused (the transition is deterministic).

        ``info["caught"]`` is bool ``[E]``: which evaders were caught on this step.
        """
        pos, _ = move_agents(state.pos, action, self.size)
        c = self.num_chasers
        old_chasers, old_evaders = state.pos[:c], state.pos[c:]
        chasers, evaders = pos[:c], pos[c:]
        caught = jnp.zeros((self.num_evaders,), jnp.bool_)
        for i in range(c):  # unrolled over the (few, static) chasers: elementwise over evaders
            same_cell = jnp.all(chasers[i] == evaders, axis=-1)
            swapped = jnp.all(chasers[i] == old_evaders, axis=-1) & jnp.all(
                evaders == old_chasers[i], axis=-1
            )
            caught |= same_cell | swapped
        terminated = jnp.any(caught)
        time = state.time + 1
        truncated = time >= params.max_steps_in_episode
        chaser_reward = terminated.astype(jnp.float32) * jnp.float32(
            params.catch_reward
        ) + jnp.float32(params.step_reward)
        sign = jnp.asarray(1 - 2 * self.team_of_agent, jnp.float32)  # +1 chaser, -1 evader
        reward = sign * chaser_reward
        new_state = TagState(pos=pos, caught=caught, time=time)
        info = {"caught": caught}
        return self.get_obs(new_state, params), new_state, reward, terminated, truncated, info

    def get_obs(self, state: TagState, params: TagParams) -> jax.Array:
        """float32 ``[N, obs_dim]`` (layout in the module docstring)."""
        n = self.num_agents
        team = jnp.asarray(self.team_of_agent, jnp.float32)
        everyone = jnp.broadcast_to(state.pos.reshape(1, 2 * n), (n, 2 * n))
        obs = jnp.concatenate(
            [state.pos.astype(jnp.float32), team[:, None], everyone.astype(jnp.float32)], axis=-1
        )
        if self.obs_mode == "position":
            return obs
        k = self.view_size
        team_i = self.team_of_agent
        same_team = jnp.asarray(team_i[:, None] == team_i[None, :]) & ~jnp.eye(n, dtype=jnp.bool_)
        opponent = jnp.asarray(team_i[:, None] != team_i[None, :])
        window = jnp.stack(
            [
                window_presence(state.pos, state.pos, same_team, k),
                window_presence(state.pos, state.pos, opponent, k),
                window_outside(state.pos, self.size, k),
            ],
            axis=-1,
        )  # [N, k, k, 3]
        return jnp.concatenate([obs, window.reshape(n, -1)], axis=-1)

    def global_state(self, state: TagState, params: TagParams) -> jax.Array:
        """float32 ``[G]``, ``G = 2 N + 1``: agent cells ``/ (size - 1)`` (agent-major, chasers
        first) and ``time / max_steps_in_episode``."""
        positions = state.pos.astype(jnp.float32).reshape(-1) / (self.size - 1)
        time = state.time.astype(jnp.float32) / jnp.float32(params.max_steps_in_episode)
        return jnp.concatenate([positions, time[None]])

    def global_state_size(self, params: TagParams | None = None) -> int:
        """``G = 2 N + 1``, the length of :meth:`global_state`."""
        return 2 * self.num_agents + 1

    def observation_space(self, params: TagParams) -> spaces.Box:
        top = float(self.size - 1)
        n = self.num_agents
        extra = self.obs_dim - (3 + 2 * n)
        low = np.zeros(self.obs_dim, np.float32)
        high = np.asarray([top, top, 1.0] + [top] * (2 * n) + [1.0] * extra, np.float32)
        return spaces.Box(low, high, (n, self.obs_dim), jnp.float32)

    def action_space(self, params: TagParams) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete([NUM_ACTIONS] * self.num_agents)

    def greedy_actions(self, state: TagState, params: TagParams | None = None) -> jax.Array:
        """Scripted baseline for both teams: int32 ``[N]``.

        Each chaser steps towards its nearest evader (Manhattan; ties to the lower index; along
        the axis with the larger distance, rows on a tie). Each evader takes the move (``STAY``
        included) that leaves it farthest from its nearest chaser's current cell, then from the
        sum of its distances to all chasers, then the first in action order; moves off the grid
        count as staying. Jittable; ``params`` is unused.
        """
        c, e = self.num_chasers, self.num_evaders
        chasers, evaders = state.pos[:c], state.pos[c:]
        target, found = nearest_points(chasers, evaders, jnp.ones((e,), jnp.bool_))
        chase = step_toward(chasers, target, found)

        best_score = jnp.full((e,), -1, jnp.int32)
        flee = jnp.full((e,), STAY, jnp.int32)
        for action in range(NUM_ACTIONS):
            moved, _ = move_agents(evaders, jnp.full((e,), action, jnp.int32), self.size)
            dist = jnp.abs(moved[:, None, :] - chasers[None, :, :]).sum(-1)  # [E, C]
            # Farthest from the nearest chaser first, then from all of them (lexicographic).
            score = jnp.min(dist, axis=1) * (2 * self.size * c) + jnp.sum(dist, axis=1)
            better = score > best_score
            best_score = jnp.where(better, score, best_score)
            flee = jnp.where(better, action, flee)
        return jnp.concatenate([chase, flee]).astype(jnp.int32)

    @property
    def name(self) -> str:
        return "Tag-v0"

    def _key(self) -> tuple:
        return (self.size, self.num_chasers, self.num_evaders, self.obs_mode, self.view_size)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash((type(self), self._key()))

    def __repr__(self) -> str:
        return (
            f"Tag(size={self.size}, num_chasers={self.num_chasers}, "
            f"num_evaders={self.num_evaders}, obs_mode={self.obs_mode!r}, "
            f"view_size={self.view_size})"
        )


# --- rendering (see rljax.render; matplotlib is imported on first use) -----------------------


class TagRenderer:
    """Chasers (red, numbered) and evaders (blue) on the grid, with their recent trails.

    See :mod:`rljax.render` for the arguments.
    """

    def __init__(self, fig, env, params, states, actions, returns):
        from rljax.render import GridAgents, caption_below, grid_axes

        self.states = states
        size = int(env.size)
        self.team = np.asarray(env.team_of_agent)
        self.ax = ax = grid_axes(fig, size)
        marker = max(5, 110 // size)
        self.trails = [
            ax.plot([], [], "-", color="C3" if team == 0 else "C0", alpha=0.35, linewidth=2)[0]
            for team in self.team
        ]
        colors = ["C3" if team == 0 else "C0" for team in self.team]
        self.agents = GridAgents(ax, states.pos[0], colors, marker)
        self.title = caption_below(ax)
        self.artists = [*self.trails, *self.agents.artists, self.title]

    def draw(self, t: int) -> None:
        pos = np.asarray(self.states.pos[max(0, t - 8) : t + 1])  # the last few steps
        for i, trail in enumerate(self.trails):
            trail.set_data(pos[:, i, 1], pos[:, i, 0])
        self.agents.move(pos[-1])
        caught = bool(np.any(self.states.caught[t]))
        chasers, evaders = int(np.sum(self.team == 0)), int(np.sum(self.team == 1))
        status = "caught!" if caught else "running"
        self.title.set_text(f"{chasers} chasers (red) vs {evaders} evaders (blue): {status}")
