"""Lagrangian PPO's evaluation hooks: PPO's greedy policy, its episodes' returns and lengths, and
their constraint costs (``rljax eval`` reports ``mean_constraint_cost`` and
``constraint_cost_episode_rate``, the share of episodes with any cost)."""

from __future__ import annotations

from rljax.learning import recording
from rljax.train import ppo
from rljax.train.ppo_lagrangian.config import COST_KEY

HOOKS = recording.EpisodeHooks(ppo.episode_policy, info_sums=(COST_KEY,))
evaluate_policy = HOOKS.evaluate_policy
record_episode = HOOKS.record_episode
