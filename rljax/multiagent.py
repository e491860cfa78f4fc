"""Multi-agent glue: batch auto-reset with the global state, and whole-episode evaluation.

Multi-agent environments (``TreasureHunt-v0``, ``Tag-v0``) put agents on the leading axis:
``obs [N, D]``, ``action [N]``, ``reward [N]``, and expose ``env.global_state(state, params) ->
[G]``. :class:`rljax.vector.VecEnv` and :class:`rljax.wrappers.EpisodeStatistics` were written
for one reward per environment (their running returns are ``[B]``), and the terminal observation
they keep (``info["final_obs"]``) would lack the global state a centralised critic bootstraps
from at a time limit. :class:`MultiAgentView` adapts a multi-agent environment to them without
copying their logic:

- the observation becomes ``{"obs": [N, D], "global": [G]}``, so auto-reset swaps both, and
  ``info["final_obs"]`` holds the global state of the last step of the episode too;
- the reward becomes team 0's reward (agent 0's entry: the shared team reward of Treasure Hunt,
  the chasers' reward of Tag), which the episode statistics add up to the *team return*; the
  per-agent rewards ``[N]`` are passed on in ``info["agent_reward"]``.

``VecEnv(MultiAgentView(env), B)`` is then a batch of multi-agent environments with batch-level
auto-reset: ``obs {"obs": [B, N, D], "global": [B, G]}``, ``info["agent_reward"] [B, N]``. The
wrapper keeps the environment's own state, so ``vec_state.env_state`` can be stepped with
``env.step`` directly (counterfactual steps for difference rewards do that).

:func:`run_episodes` plays whole episodes of any policy (scripted, random or learned) under
``jit``/``vmap`` (through :func:`rljax.learning.episodes.run_episodes`, the one episode runner)
and returns per-episode team return, length and success (``terminated``: every treasure collected
in Treasure Hunt, a catch in Tag). :func:`noop_action` is the action that leaves an agent in
place, which each multi-agent environment declares.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rljax.env import Environment, StepResult
from rljax.learning import episodes
from rljax.learning.episodes import Policy
from rljax.wrappers import Wrapper


def is_multi_agent(env: Environment) -> bool:
    """Whether ``env`` follows the multi-agent contract (``num_agents`` and ``global_state``)."""
    return hasattr(env, "num_agents") and hasattr(env, "global_state")


class MultiAgentView(Wrapper):
    """Observation ``{"obs": [N, D], "global": [G]}``, team-0 reward, per-agent rewards in info.

    The state is the wrapped environment's own (no extra fields).
    """

    def __init__(self, env: Environment):
        if not is_multi_agent(env):
            raise ValueError(f"{env!r} is not a multi-agent environment (num_agents, global_state)")
        super().__init__(env)
        self.num_agents = int(env.num_agents)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        obs, state = self._env.reset(key, params)
        return self._view(obs, state, params), state

    def step_env(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        reward = jnp.asarray(reward, jnp.float32)
        info = {**info, "agent_reward": reward}
        return self._view(obs, state, params), state, reward[0], terminated, truncated, info

    def _view(self, obs: jax.Array, state: Any, params: Any) -> dict[str, jax.Array]:
        return {
            "obs": jnp.asarray(obs, jnp.float32),
            "global": jnp.asarray(self._env.global_state(state, params), jnp.float32),
        }


def noop_action(env: Environment) -> int:
    """The action that leaves an agent in place (``env.noop_action``; wrappers pass it through).

    Difference rewards replace one agent's action by it. ``ValueError`` if ``env`` declares none.
    """
    action = getattr(env.unwrapped, "noop_action", None)
    if action is None:
        raise ValueError(f"{env!r} declares no noop_action (the action that leaves an agent put)")
    return int(action)


def run_episodes(
    env: Environment,
    env_params: Any,
    policy: Policy,
    key: jax.Array,
    num_episodes: int,
    max_steps: int | None = None,
) -> dict[str, jax.Array]:
    """Plays ``num_episodes`` independent episodes of ``policy(key, env_state, obs [N, D]) ->
    action int32 [N]``; jittable.

    Each episode runs for ``max_steps`` scan steps (default: ``params.max_steps_in_episode``),
    frozen once it has ended (:func:`rljax.learning.episodes.run_episodes`). Returns
    ``{"team_return": float32 [E], "length": int32 [E], "success": bool [E]}``: the sum of agent
    0's rewards, the number of steps taken and whether the episode terminated (rather than
    hitting the time limit).
    """
    result = episodes.run_episodes(env, env_params, policy, key, num_episodes, max_steps)
    return {
        "team_return": result["return"],
        "length": result["length"],
        "success": result["terminated"],
    }


def episode_summary(result: dict[str, Any]) -> dict[str, float]:
    """Host-side figures of :func:`run_episodes`' output (any leading axes are pooled).

    ``success_rate``; ``mean_steps``: mean length of the successful episodes (how fast the task
    is finished; NaN if none succeeded), as ``benchmarks/multiagent.py`` measures the greedy
    heuristic; ``mean_length``: over all episodes (a failure counts the whole time limit);
    ``mean_return``/``std_return``: team return.
    """
    ret = np.asarray(result["team_return"], np.float64).ravel()
    length = np.asarray(result["length"], np.float64).ravel()
    success = np.asarray(result["success"], bool).ravel()
    return {
        "success_rate": float(success.mean()),
        "mean_steps": float(length[success].mean()) if success.any() else float("nan"),
        "mean_length": float(length.mean()),
        "mean_return": float(ret.mean()),
        "std_return": float(ret.std()),
    }
