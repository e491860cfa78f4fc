"""TD3's evaluation hooks (``rljax eval``, the run driver): one seed's deterministic policy
(rescaled to the env's bounds) as an episode policy (:func:`episode_policy`), its episodes'
returns and lengths (:func:`evaluate_policy`) and one recorded episode (:func:`record_episode`)."""

from __future__ import annotations

from rljax.learning.episodes import Policy, ProgramCache
from rljax.learning.off_policy import (
    TrainState,
    deterministic_policy,
    evaluation_hooks,
    make_setup,
)
from rljax.train.td3.config import Config
from rljax.train.td3.training import make_networks

# Jitted evaluation programs, one per static config and settings (rljax eval calls repeatedly).
_PROGRAMS = ProgramCache()


def episode_policy(config: Config, state: TrainState) -> Policy:
    """One environment's deterministic ``policy(key, env_state, obs) -> action [A]`` of a
    trained ``state`` (one seed), for :mod:`rljax.learning.episodes`: no exploration noise."""
    actor, _ = make_networks(config, make_setup(config).action_dim)
    return deterministic_policy(config, state, actor.apply)


evaluate_policy, record_episode = evaluation_hooks(_PROGRAMS, episode_policy)
