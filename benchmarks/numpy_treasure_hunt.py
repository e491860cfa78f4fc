"""Notebook-style NumPy Treasure Hunt: the baseline of ``benchmarks/multiagent.py``.

One environment at a time, stepped in plain Python, the way the classic multi-agent notebook
writes it: positions are small Python lists (cheaper to touch one at a time than NumPy scalars),
the random start cells come from NumPy's generator and observations are returned as NumPy arrays.
It follows the rules of ``rljax.envs.treasure_hunt`` exactly (the module docstring there is the
specification): actions ``UP, DOWN, LEFT, RIGHT, STAY`` = ``0 .. 4``, a move off the grid stays
put and costs ``bump_reward``, each remaining treasure with an agent on it after the moves is
collected once, one team reward per step, terminated when every treasure is collected, truncated
once ``t >= max_steps``. Observations are float32 ``[N, 4]`` (``"position"``) or
``[N, 4 + 3 k**2]`` (``"egocentric"``), laid out as in rljax.

:meth:`NumpyTreasureHunt.set_state` places the environment in a given state, so that tests can
step it side by side with the JAX environment and compare every observation, reward and flag.
"""

from __future__ import annotations

import time

import numpy as np

UP, DOWN, LEFT, RIGHT, STAY = 0, 1, 2, 3, 4
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1), (0, 0))


class NumpyTreasureHunt:
    def __init__(
        self,
        size: int = 8,
        num_agents: int = 2,
        num_treasures: int = 3,
        treasure_reward: float = 10.0,
        bump_reward: float = -1.0,
        step_reward: float = -0.1,
        max_steps: int = 100,
        obs_mode: str = "position",
        view_size: int = 5,
        seed: int | None = None,
    ):
        if num_agents < 1 or num_treasures < 1 or num_agents + num_treasures > size * size:
            raise ValueError("need 1 <= agents, 1 <= treasures and agents + treasures <= cells")
        self.size = size
        self.num_agents = num_agents
        self.num_treasures = num_treasures
        self.treasure_reward = treasure_reward
        self.bump_reward = bump_reward
        self.step_reward = step_reward
        self.max_steps = max_steps
        self.obs_mode = obs_mode
        self.view_size = view_size
        self.rng = np.random.default_rng(seed)
        self.reset()

    # --- state ------------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        n = self.num_agents
        cells = self.rng.choice(self.size * self.size, n + self.num_treasures, replace=False)
        cells = [divmod(int(c), self.size) for c in cells]
        self.agents = [list(c) for c in cells[:n]]  # [row, col] per agent
        self.treasures = cells[n:]  # (row, col) per treasure
        self.collected = [False] * self.num_treasures
        self.t = 0
        return self.observe()

    def set_state(self, agent_pos, treasure_pos, collected, t) -> np.ndarray:
        """Places the environment in a given state (arrays ``[N, 2]``, ``[T, 2]``, ``[T]``)."""
        self.agents = [[int(r), int(c)] for r, c in np.asarray(agent_pos).reshape(-1, 2)]
        self.treasures = [(int(r), int(c)) for r, c in np.asarray(treasure_pos).reshape(-1, 2)]
        self.collected = [bool(x) for x in np.asarray(collected).reshape(-1)]
        self.t = int(t)
        return self.observe()

    # --- dynamics ---------------------------------------------------------------------------
    def step(self, actions):
        size = self.size
        reward = self.step_reward
        for pos, a in zip(self.agents, actions, strict=True):
            d_row, d_col = MOVES[a]
            row, col = pos[0] + d_row, pos[1] + d_col
            if 0 <= row < size and 0 <= col < size:
                pos[0], pos[1] = row, col
            else:
                reward += self.bump_reward
        for k, (row, col) in enumerate(self.treasures):
            if not self.collected[k] and any(p[0] == row and p[1] == col for p in self.agents):
                self.collected[k] = True  # once, however many agents stand on it
                reward += self.treasure_reward
        self.t += 1
        terminated = all(self.collected)
        truncated = self.t >= self.max_steps
        return self.observe(), reward, terminated, truncated, {}

    def nearest_treasure(self, i: int):
        """The nearest remaining treasure of agent ``i`` (Manhattan; ties: lower index) or None."""
        row, col = self.agents[i]
        best, best_d = None, None
        for k, (t_row, t_col) in enumerate(self.treasures):
            if self.collected[k]:
                continue
            d = abs(t_row - row) + abs(t_col - col)
            if best_d is None or d < best_d:  # strict: ties keep the lower index
                best, best_d = (t_row, t_col), d
        return best

    # --- observations -----------------------------------------------------------------------
    def observe(self) -> np.ndarray:
        rows = []
        for i, pos in enumerate(self.agents):
            target = self.nearest_treasure(i) or (-1, -1)
            row = [pos[0], pos[1], target[0], target[1]]
            if self.obs_mode == "egocentric":
                row.extend(self.window(i).ravel().tolist())
            rows.append(row)
        return np.array(rows, dtype=np.float32)

    def window(self, i: int) -> np.ndarray:
        """float32 ``[k, k, 3]`` around agent ``i``: remaining treasure, another agent, off grid."""
        k, half = self.view_size, self.view_size // 2
        view = np.zeros((k, k, 3), np.float32)
        r0, c0 = self.agents[i][0] - half, self.agents[i][1] - half
        for a in range(k):
            for b in range(k):
                if not (0 <= r0 + a < self.size and 0 <= c0 + b < self.size):
                    view[a, b, 2] = 1.0
        for j, (r, c) in enumerate(self.treasures):
            if not self.collected[j] and 0 <= r - r0 < k and 0 <= c - c0 < k:
                view[r - r0, c - c0, 0] = 1.0
        for j, (r, c) in enumerate(self.agents):
            if j != i and 0 <= r - r0 < k and 0 <= c - c0 < k:
                view[r - r0, c - c0, 1] = 1.0
        return view

    def global_state(self) -> np.ndarray:
        """float32 ``[2 N + size**2 + 1]``, laid out as ``TreasureHunt.global_state``."""
        treasure_map = np.zeros((self.size, self.size), np.float32)
        for k, (r, c) in enumerate(self.treasures):
            if not self.collected[k]:
                treasure_map[r, c] = 1.0
        positions = np.array(self.agents, np.float32).ravel() / (self.size - 1)
        time_fraction = np.float32(self.t) / np.float32(self.max_steps)
        return np.concatenate([positions, treasure_map.ravel(), [time_fraction]]).astype(np.float32)

    # --- scripted policy --------------------------------------------------------------------
    def greedy_actions(self) -> list[int]:
        """Each agent one step towards its nearest remaining treasure (rows first on a tie)."""
        actions = []
        for i, (row, col) in enumerate(self.agents):
            target = self.nearest_treasure(i)
            if target is None:
                actions.append(STAY)
                continue
            d_row, d_col = target[0] - row, target[1] - col
            if d_row != 0 and abs(d_row) >= abs(d_col):
                actions.append(UP if d_row < 0 else DOWN)
            elif d_col != 0:
                actions.append(LEFT if d_col < 0 else RIGHT)
            else:
                actions.append(STAY)
        return actions


def random_policy_steps_per_s(env: NumpyTreasureHunt, num_steps: int, seed: int = 0) -> float:
    """Steps per second of a uniform random policy, resetting when an episode ends.

    The actions are drawn up front in one NumPy call (as ours draws one batch per step), so the
    loop times the environment, not ``Generator.integers``.
    """
    actions = np.random.default_rng(seed).integers(0, 5, size=(num_steps, env.num_agents))
    actions = actions.tolist()
    env.reset()
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return num_steps / (time.perf_counter() - start)


def greedy_episodes(env: NumpyTreasureHunt, num_episodes: int) -> tuple[float, float]:
    """``(success rate, mean length of the successful episodes)`` of the greedy heuristic."""
    successes, lengths = 0, []
    for _ in range(num_episodes):
        env.reset()
        while True:
            _, _, terminated, truncated, _ = env.step(env.greedy_actions())
            if terminated or truncated:
                break
        if terminated:
            successes += 1
            lengths.append(env.t)
    return successes / num_episodes, float(np.mean(lengths)) if lengths else float("nan")


if __name__ == "__main__":
    print(f"random policy: {random_policy_steps_per_s(NumpyTreasureHunt(seed=0), 50_000):.0f} /s")
    print("greedy 8x8, 2 agents, 3 treasures:", greedy_episodes(NumpyTreasureHunt(seed=0), 2000))
    hard = NumpyTreasureHunt(12, 4, 6, seed=0)
    print("greedy 12x12, 4 agents, 6 treasures:", greedy_episodes(hard, 2000))
