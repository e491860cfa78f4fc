"""Lagrangian PPO: PPO on a constrained MDP, with a cost critic and a PID-controlled multiplier.

A constrained environment's step emits ``info["constraint_cost"]`` (EnergyManagement-v1 with a
``contract_cap``: an hour whose import passed it; HazardGridWorld-v0: a step on a hazard); the
run keeps the expected episode cost within ``cost_budget`` by training on ``A_r - lambda * A_c``
(:mod:`.training`) while :mod:`rljax.learning.lagrangian` moves ``lambda`` from the measured
episode costs: ``--multiplier pid`` (Stooke et al. 2020; the default), ``dual`` (plain dual
ascent, which oscillates) or ``fixed`` (a fixed penalty ``multiplier_init``: the baseline).

Modules: :mod:`.config` (settings, leaves, presets), :mod:`.state` (train state, metrics),
:mod:`.training` (init, update, chunks, whole runs), :mod:`.evaluation` (PPO's greedy episodes
with their constraint costs). Networks and policy are PPO's;
the multiplier's curve is drawn to ``RUN_DIR/multiplier.png`` and the episode cost's to
``cost.png``.
"""

from __future__ import annotations

from rljax.run.algorithm import Algorithm
from rljax.train import ppo
from rljax.train.ppo_lagrangian.config import COST_KEY, PRESETS, Config, HParams, emitted_info
from rljax.train.ppo_lagrangian.evaluation import evaluate_policy, record_episode
from rljax.train.ppo_lagrangian.state import METRIC_NAMES, TrainState
from rljax.train.ppo_lagrangian.training import (
    finished_episode_costs,
    make_init,
    make_train,
    make_update,
    make_update_chunk,
)

__all__ = [
    "ALGORITHM",
    "COST_KEY",
    "METRIC_NAMES",
    "PRESETS",
    "Config",
    "HParams",
    "TrainState",
    "emitted_info",
    "finished_episode_costs",
    "make_init",
    "make_train",
    "make_update",
    "make_update_chunk",
]

ALGORITHM = Algorithm(
    name="ppo_lagrangian",
    title="Lagrangian PPO",
    summary="PPO under a constraint: cost critic and PID Lagrange multiplier",
    description="Train PPO on a constrained MDP (an environment whose step emits "
    "info['constraint_cost']), keeping the expected episode cost within --cost-budget by a "
    "Lagrange multiplier moved by a PID controller (--multiplier pid), plain dual ascent (dual) "
    "or held fixed (fixed: a fixed penalty). Writes RUN_DIR/config.json, metrics.jsonl, "
    "checkpoints/, curve.png, cost.png, multiplier.png.",
    examples=(
        "rljax train ppo_lagrangian --preset hazards",
        "rljax train ppo_lagrangian --preset energy --cost-budget 0.5",
        "rljax train ppo_lagrangian --preset energy --multiplier fixed --multiplier-init 0.2",
    ),
    config_cls=Config,
    presets=PRESETS,
    metric_names=METRIC_NAMES,
    make_init=make_init,
    make_update_chunk=make_update_chunk,
    episode_policy=ppo.episode_policy,
    evaluate_policy=evaluate_policy,
    record_episode=record_episode,
    summary_metrics=("episode_cost", "lagrange_multiplier"),
    curves={"episode_cost": "cost.png", "lagrange_multiplier": "multiplier.png"},
)
