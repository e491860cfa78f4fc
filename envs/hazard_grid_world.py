"""HazardGridWorld-v0: a constrained grid world, whose short way to the goal crosses hazard cells.

A :class:`~rljax.envs.grid_world.GridWorld` (same moves, walls, rewards and time limit: actions
``0`` up, ``1`` right, ``2`` down, ``3`` left; +1.0 on the step that reaches the goal, which
terminates, -0.01 on every other step; truncated at ``max_steps_in_episode`` = 100) with two
additions:

* **hazard cells** (``hazards``, a bool ``[rows, cols]`` mask): every step that ends on a hazard
  cell (moving onto one, or staying on one after a bump) has ``info["constraint_cost"] = 1.0``,
  every other step 0.0 (float32 scalars). The hazard is a constrained-MDP cost signal, never a
  term of the reward: an unconstrained agent walks straight through the hazards, and a
  constrained one (expected hazard steps per episode at most a budget) must go round.
* **slipping** (``slip_prob``, default 0.1): with that probability the move made is drawn
  uniformly from the four (the intended one included) instead of the one chosen, so a policy's
  hazard steps per episode are a genuine expectation even next to the hazards.

Default layout (7 x 7; for ``rows x cols``: start ``(0, 0)``, goal ``(rows - 1, 0)``, no walls, a
band of hazards ``x`` across row ``rows // 2`` with one gap, in the last column, far from both)::

    S . . . . . .
    . . . . . . .
    . . . . . . .
    x x x x x x .
    . . . . . . .
    . . . . . . .
    G . . . . . .

Without slipping the shortest path goes straight down (6 moves, 1 hazard step, return
``1 - 0.01 * 5 = 0.95``); the safe path goes through the gap (18 moves, 0 hazard steps, return
``0.83``). The 5 x 5 layout (``rljax.make("HazardGridWorld-v0", rows=5, cols=5)``, the one
Lagrangian PPO is demonstrated on: its exploration finds the gap there, not on the 7 x 7) is the
same pattern, the short path 4 moves (1 hazard step, ``0.97``) and the safe one 12 (``0.89``)::

    S . . . .
    . . . . .
    x x x x .
    . . . . .
    G . . . .

Exact optima of the expected episode return (undiscounted, over the 100-step limit, all
policies), computed by the independent checker in ``tests/test_hazard_grid_world.py`` (backward
induction; Lagrangian duality for the budget, cross-checked there by a linear program), its
transitions asserted there against the env's on both layouts:

====================  =============  ==========  =====================================  ==========
layout, slip_prob     unconstrained  its hazard  constrained: expected hazard steps     multiplier
                      optimum        steps       <= b                                   lam*
====================  =============  ==========  =====================================  ==========
7 x 7, 0.0            0.9500         1.0         b=0: 0.8300, 0.1: 0.8420, 0.5: 0.8900  0.12
7 x 7, 0.1 (default)  0.9419         1.1111      b=0.1: 0.8199, 0.25: 0.8383,           0.1221
                                                 0.5: 0.8688
5 x 5, 0.1 (default)  0.9647         1.1106      b=0.1: 0.8829, 0.25: 0.8952,           0.0820
                                                 0.5: 0.9157
====================  =============  ==========  =====================================  ==========

``lam*`` is the optimal Lagrange multiplier (hazard steps priced in reward units): a fixed penalty
below it keeps the short path, above it goes round; a budget between the two routes' costs is met
exactly only by randomising between them (as constrained-MDP optima do), with the multiplier at
``lam*``. With slipping no policy is free of risk (a slip can carry any policy into the band), so
budget 0 is infeasible; a fixed penalty of 1.0 per hazard step gives the deterministic route round
the band: 0.8105 at 0.0305 expected hazard steps on the 7 x 7, 0.8760 at 0.0352 on the 5 x 5.

The observation is float32 ``[rows * cols + 4]``: the one-hot agent cell (row-major), then whether
the neighbouring cell up, right, down and left is a hazard (0.0 off the grid), so a policy can
also see the hazards when they are randomised through params. ``hazards`` and ``slip_prob`` are
params leaves like GridWorld's; ``walls``, ``start`` and ``goal`` may be overridden as there.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.envs.grid_world import GridWorld, GridWorldParams, GridWorldState

# (d_row, d_col) of actions 0 up, 1 right, 2 down, 3 left: the neighbours the observation shows.
_NEIGHBOURS = ((-1, 0), (0, 1), (1, 0), (0, -1))


@struct.dataclass
class HazardGridWorldParams(GridWorldParams):
    # None only until default_params fills it in (a dataclass field after GridWorld's defaulted
    # fields needs a default); validate_params refuses None.
    hazards: Any = None  # bool [rows, cols]; True marks a hazard cell
    slip_prob: float = 0.1  # probability that the move made is uniform over the four

    array_fields: ClassVar[tuple[tuple[str, Any], ...]] = (
        *GridWorldParams.array_fields,
        ("hazards", np.bool_),
    )


def band_hazards(rows: int, cols: int) -> np.ndarray:
    """The default hazard mask, bool ``[rows, cols]``: row ``rows // 2`` but its last column."""
    hazards = np.zeros((rows, cols), np.bool_)
    hazards[rows // 2, : cols - 1] = True
    return hazards


class HazardGridWorld(GridWorld):
    """GridWorld with hazard cells (``info["constraint_cost"]``) and slipping moves.

    Actions ``Discrete(4)``; observation float32 ``[rows * cols + 4]``.

    Args:
        rows: number of grid rows (static; at least 3, so the band leaves a row on each side).
        cols: number of grid columns (static; at least 2, so the band has a gap).
    """

    stochastic_step = True

    def __init__(self, rows: int = 7, cols: int = 7):
        rows, cols = int(rows), int(cols)
        if rows < 3 or cols < 2:
            raise ValueError(
                f"HazardGridWorld needs rows >= 3 and cols >= 2, got rows={rows}, cols={cols}"
            )
        super().__init__(rows, cols)

    @property
    def default_params(self) -> HazardGridWorldParams:
        return HazardGridWorldParams(
            walls=jnp.zeros((self.rows, self.cols), jnp.bool_),
            start=jnp.asarray((0, 0), jnp.int32),
            goal=jnp.asarray((self.rows - 1, 0), jnp.int32),
            hazards=jnp.asarray(band_hazards(self.rows, self.cols)),
        )

    def validate_params(self, params: HazardGridWorldParams) -> None:
        super().validate_params(params)
        if params.hazards is None:
            raise ValueError("parameter hazards is missing: a bool [rows, cols] mask")
        hazards = np.asarray(params.hazards)
        if hazards.shape != (self.rows, self.cols) or hazards.dtype != np.bool_:
            raise ValueError(
                f"parameter hazards (shape {hazards.shape}, dtype {hazards.dtype}) is invalid: "
                f"must be a boolean ({self.rows}, {self.cols}) mask (0/1 integers are accepted "
                "in a list or numpy array)"
            )
        slip = np.asarray(params.slip_prob)
        if not np.all((slip >= 0.0) & (slip <= 1.0)):
            raise ValueError(f"parameter slip_prob={slip.tolist()} is invalid: must be in [0, 1]")

    def observe(self, pos: jax.Array, params: HazardGridWorldParams) -> jax.Array:
        """The observation of an agent on ``pos`` (int32 ``[2]``): float32 ``[rows * cols + 4]``."""
        one_hot = jax.nn.one_hot(pos[0] * self.cols + pos[1], self.rows * self.cols)
        # Padding by one non-hazard cell makes the off-grid neighbours read 0.
        padded = jnp.pad(jnp.asarray(params.hazards), 1)
        cells = pos + 1 + jnp.asarray(_NEIGHBOURS, jnp.int32)
        near = padded[cells[:, 0], cells[:, 1]]
        return jnp.concatenate([one_hot, near]).astype(jnp.float32)

    def reset_env(
        self, key: jax.Array, params: HazardGridWorldParams
    ) -> tuple[jax.Array, GridWorldState]:
        _, state = super().reset_env(key, params)
        return self.observe(state.pos, params), state

    def step_env(
        self,
        key: jax.Array,
        state: GridWorldState,
        action: jax.Array,
        params: HazardGridWorldParams,
    ):
        key_slip, key_move = jax.random.split(key)
        slipped = jax.random.uniform(key_slip) < params.slip_prob
        random_move = jax.random.randint(key_move, (), 0, 4, jnp.int32)
        move = jnp.where(slipped, random_move, jnp.asarray(action, jnp.int32))
        # GridWorld's step ignores its key and makes the move given: walls, goal, reward, limit.
        _, state, reward, terminated, truncated, _ = super().step_env(key, state, move, params)
        cost = jnp.asarray(params.hazards)[state.pos[0], state.pos[1]].astype(jnp.float32)
        info = {"constraint_cost": cost}
        return self.observe(state.pos, params), state, reward, terminated, truncated, info

    def observation_space(self, params: HazardGridWorldParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.rows * self.cols + 4,), jnp.float32)

    @property
    def name(self) -> str:
        return "HazardGridWorld-v0"

    def __repr__(self) -> str:
        return f"HazardGridWorld(rows={self.rows}, cols={self.cols})"
