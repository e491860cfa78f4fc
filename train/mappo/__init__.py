"""Multi-agent PPO (IPPO and MAPPO), compiled end to end.

``train = jax.jit(mappo.make_train(config)); result = train(jax.random.key(0))`` runs a whole
multi-agent training run (rollouts of ``num_envs`` joint environments, per-agent GAE, epochs of
shuffled minibatches, Adam) as one XLA program; ``jax.vmap`` over keys trains many seeds at once,
and the numeric hyperparameters are :class:`rljax.train.ppo.HParams` leaves, as in PPO. For long
runs, ``make_init(config)(key)`` and ``make_update_chunk(config, n)(state)``: chunks run back to
back give bitwise the parameters of one ``train`` call.

What it learns with, per agent ``i`` of ``N`` (``obs [N, D]``, ``action [N]``, ``reward [N]``):

- ``critic="independent"`` (IPPO): ``V_i`` sees agent ``i``'s observation only.
  ``critic="centralised"`` (MAPPO): ``V_i`` sees the environment's global state ``[G]``
  (``env.global_state``); the actors see their own observations either way (decentralised
  execution).
- ``share_parameters=True``: one actor and one critic per team, shared by its agents, whose inputs
  end in a one-hot agent id ``[N]``; ``False``: one network pair per agent (no id).
  Teams come from ``env.team_of_agent``: Treasure Hunt has one team, Tag two (chasers and
  evaders), which then learn as separate policies in one program (self-play of teams). Each
  parameter group's PPO loss (:func:`rljax.learning.ppo_update.ppo_loss`, its advantages
  normalised within the group) is summed.
- ``credit="shared"``: agent ``i`` learns from its own environment reward (Treasure Hunt: the team
  reward). ``credit="difference"``: from the difference reward ``D_i = r_i(s, a) - r_i(s, a with
  a_i := STAY)``, the counterfactual stepped from the same state in the same program (vmapped over
  ``i``, same key); see :func:`difference_rewards`. In Treasure Hunt the step cost cancels and
  an agent is credited with the treasures only it collected and charged for its own bumps.
- Advantages: :func:`rljax.learning.returns.compute_gae` per agent (``[T, B * N]``), on rewards
  multiplied by ``reward_scale`` (0.1: Treasure Hunt pays +10 per treasure, and unit-scale
  returns suit the critic); observations and the global state are normalised with running
  statistics (``normalize_obs``), updated after each update from its rollout.

Auto-reset and episode statistics come from :class:`rljax.vector.VecEnv` around
:class:`rljax.multiagent.MultiAgentView` (observation ``{"obs", "global"}``, team-0 reward for the
statistics, per-agent rewards in ``info``). Metrics per update: the team return, length and
success rate (terminated, e.g. every treasure collected) of the episodes finished in the update,
PPO's losses and diagnostics. :func:`make_evaluate` plays whole episodes with the trained policy
(greedy or sampled).

Modules: :mod:`.config` (settings, presets), :mod:`.state` (train state, rollout transitions,
metric names), :mod:`.credit` (difference rewards), :mod:`.groups` (parameter groups and the
networks over agents), :mod:`.rollout`, :mod:`.training` (init, update, chunks, whole runs),
:mod:`.evaluation` (acting, evaluation episodes and the evaluation hooks).
"""

from __future__ import annotations

from rljax.run.algorithm import Algorithm
from rljax.train.mappo.config import CREDITS, CRITICS, EGOCENTRIC, HARD, PRESETS, Config, run_title
from rljax.train.mappo.credit import (
    counterfactual_actions,
    counterfactual_rewards,
    difference_rewards,
)
from rljax.train.mappo.evaluation import (
    episode_policy,
    evaluate_policy,
    make_evaluate,
    make_policy,
    normalize_for_policy,
    record_episode,
)
from rljax.train.mappo.groups import (
    Setup,
    actor_inputs,
    critic_inputs,
    group_logits,
    group_values,
    make_setup,
    parameter_groups,
    per_group,
)
from rljax.train.mappo.rollout import make_rollout
from rljax.train.mappo.state import METRIC_NAMES, TrainResult, TrainState, Transition
from rljax.train.mappo.training import make_init, make_train, make_update, make_update_chunk
from rljax.train.ppo.config import HParams

__all__ = [
    "ALGORITHM",
    "CREDITS",
    "CRITICS",
    "EGOCENTRIC",
    "HARD",
    "METRIC_NAMES",
    "PRESETS",
    "Config",
    "HParams",
    "Setup",
    "TrainResult",
    "TrainState",
    "Transition",
    "actor_inputs",
    "counterfactual_actions",
    "counterfactual_rewards",
    "critic_inputs",
    "difference_rewards",
    "episode_policy",
    "evaluate_policy",
    "group_logits",
    "group_values",
    "make_evaluate",
    "make_init",
    "make_policy",
    "make_rollout",
    "make_setup",
    "make_train",
    "make_update",
    "make_update_chunk",
    "normalize_for_policy",
    "parameter_groups",
    "per_group",
    "record_episode",
    "run_title",
]

ALGORITHM = Algorithm(
    name="mappo",
    title="MAPPO",
    summary="multi-agent PPO: IPPO / MAPPO, shared or difference-reward credit",
    description="Train multi-agent PPO (IPPO with --critic independent, MAPPO with --critic "
    "centralised; shared or difference-reward credit) on several seeds at once (one vmapped XLA "
    "program), in compiled chunks with progress, metrics, checkpoints and resume. Writes "
    "RUN_DIR/config.json, metrics.jsonl, checkpoints/, curve.png (team return) and "
    "success.png (fraction of finished episodes that terminated: every treasure collected, "
    "a catch in Tag).",
    examples=(
        "rljax train mappo --env TreasureHunt-v0 --critic centralised",
        "rljax train mappo --env TreasureHunt-v0 --critic independent --credit difference",
        "rljax train mappo --preset treasure_hunt --seeds 8",
        "rljax train mappo --env Tag-v0 --total-timesteps 1e6",
        "rljax train mappo --resume runs/TreasureHunt-v0-mappo-20250101-120000",
        "rljax eval runs/TreasureHunt-v0-mappo-20250101-120000 --episodes 100 --json",
    ),
    config_cls=Config,
    presets=PRESETS,
    metric_names=METRIC_NAMES,
    make_init=make_init,
    make_update_chunk=make_update_chunk,
    title_of=run_title,
    evaluate_policy=evaluate_policy,
    record_episode=record_episode,
    episode_policy=episode_policy,
    summary_metrics=("success_rate",),
    curves={"success_rate": "success.png"},
)
