"""MAPPO's settings (:class:`Config`: :class:`rljax.train.ppo.CommonConfig`'s fields and the
multi-agent ones), the named configurations (:data:`PRESETS`) and a run's title."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rljax import spaces
from rljax.configs import field
from rljax.env import make
from rljax.multiagent import is_multi_agent, noop_action
from rljax.train.ppo.config import CommonConfig, validate_common

CRITICS = ("independent", "centralised")
CREDITS = ("shared", "difference")


@dataclasses.dataclass(frozen=True)
class Config(CommonConfig):
    """Multi-agent PPO settings: :class:`ppo.CommonConfig`'s fields (same names and meanings,
    some other defaults) and the multi-agent ones.

    ``total_timesteps`` counts joint environment steps (one step moves every agent).
    """

    env_id: str = field(
        "TreasureHunt-v0", "multi-agent environment id: TreasureHunt-v0 or Tag-v0 (also --env)"
    )
    num_envs: int = field(32, "parallel environments per seed")
    num_steps: int = field(32, "rollout length per update, per environment")
    total_timesteps: int = field(
        500_000, "joint environment steps per seed (updates = this // (num_envs * num_steps))"
    )
    lr: float = field(1e-3, "Adam learning rate", leaf=True)
    clip_value_loss: bool = field(False, "clip the value loss like the policy ratio")
    normalize_obs: bool = field(
        True, "normalise observations and the global state with running statistics"
    )
    env_kwargs: tuple[tuple[str, Any], ...] = field(
        (),
        "environment settings and parameters, values parsed as JSON (e.g. size=12 "
        "num_agents=4 num_treasures=6 obs_mode=egocentric view_size=23)",
    )
    critic: str = field(
        "centralised",
        "independent (IPPO: each agent's critic sees its observation) or centralised "
        "(MAPPO: the critic sees the global state)",
    )
    credit: str = field(
        "shared",
        "shared (each agent learns from its reward) or difference (D_i = G - G with agent "
        "i's action replaced by STAY)",
    )
    share_parameters: bool = field(
        True, "one network per team with a one-hot agent id (--no-share-parameters: one per agent)"
    )
    # Treasure Hunt pays +10 per treasure; unit-scale returns suit the critic.
    reward_scale: float = field(0.1, "multiplies the rewards the critic learns")

    def validate(self) -> None:
        validate_common(self)  # the fields shared with PPO: same rules, same messages
        if self.critic not in CRITICS:
            self.fail("critic", f"must be one of {', '.join(CRITICS)}")
        if self.credit not in CREDITS:
            self.fail("credit", f"must be one of {', '.join(CREDITS)}")
        if not self.reward_scale > 0:
            self.fail("reward_scale", "must be a finite number > 0")
        env, params = make(self.env_id, **dict(self.env_kwargs))
        if not is_multi_agent(env):
            self.fail("env_id", "mappo needs a multi-agent environment (TreasureHunt-v0, Tag-v0)")
        try:
            noop = noop_action(env)
        except ValueError as error:
            self.fail("env_id", str(error))
        space = env.action_space(params)
        if not isinstance(space, spaces.MultiDiscrete) or int(np.min(space.nvec)) <= noop:
            self.fail(
                "env_id", f"mappo needs MultiDiscrete actions with a no-op {noop}; got {space!r}"
            )


# The observation that lets agents coordinate: the egocentric window (other agents and treasures
# around the agent), 9 x 9. The position observation (own cell and nearest treasure) learns the
# greedy heuristic and no better; measurements in benchmarks/multiagent_learning.py.
EGOCENTRIC = {"obs_mode": "egocentric", "view_size": 9}
HARD = {"size": 12, "num_agents": 4, "num_treasures": 6}

# Named configurations (``rljax train mappo --preset NAME``); see benchmarks/multiagent_learning.py.
PRESETS: dict[str, Config] = {
    "treasure_hunt": Config(
        env_id="TreasureHunt-v0",
        num_envs=64,
        num_steps=32,
        total_timesteps=1_000_000,
        env_kwargs=EGOCENTRIC,
    ),
    "treasure_hunt_hard": Config(
        env_id="TreasureHunt-v0",
        num_envs=64,
        num_steps=32,
        total_timesteps=1_000_000,
        env_kwargs={**HARD, **EGOCENTRIC},
    ),
    "tag": Config(env_id="Tag-v0", num_envs=64, num_steps=32, total_timesteps=1_000_000),
}


def run_title(config: Config) -> str:
    """``"IPPO"`` with independent critics, else ``"MAPPO"``."""
    return "IPPO" if config.critic == "independent" else "MAPPO"
