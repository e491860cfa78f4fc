"""Soft Actor-Critic for continuous actions, compiled end to end.

``train = jax.jit(sac.make_train(config)); result = train(jax.random.key(0))`` runs a whole
training run (acting in vmapped environments, replay, gradient steps, target updates) as one XLA
program; the replay buffer lives in the train state, so it is vmapped over seeds with the rest
and saved in every checkpoint. ``hparams`` (learning rate, gamma, tau, gradient-norm clip, the
initial temperature and the target-entropy scale) are pytree leaves, so a sweep is a ``vmap``.

SAC as in Haarnoja et al. 2018 and SB3: a tanh-squashed Gaussian policy with the log-det
correction, twin Q critics with Polyak-averaged targets, the entropy temperature learned towards
the target entropy ``-A``, uniformly random actions for the first ``learning_starts`` steps, and
actions rescaled from ``[-1, 1]`` to the environment's Box. Termination and truncation are kept
apart: a transition stores the episode's own final observation (``info["final_obs"]``) and
bootstraps unless ``terminated``.

On a Discrete action space the same config runs SAC-Discrete (Christodoulou 2019): a categorical
policy, critics with one output per action, the targets and the actor's and temperature's
losses as expectations over the policy's whole distribution, and the target entropy a fraction
(``discrete_target_entropy``) of ``log(A)``. Measured on CartPole-v1 (2 seeds, 40 k steps,
target 0.5 log 2): training returns 200-370 from 15 k steps, greedy 137 and 213 at the end: it
learns, but no preset claims a target.

Modules: :mod:`.config` (settings, leaves, presets), :mod:`.policy` (networks, the squashed
policy), :mod:`.training` (targets, gradient step, init, chunks, whole runs),
:mod:`.evaluation` (the evaluation hooks). What SAC shares with :mod:`rljax.train.td3` (common
settings, setup, train state, the collect-add-learn update) is :mod:`rljax.learning.off_policy`.
"""

from __future__ import annotations

from rljax.learning.off_policy import OffPolicyConfig, Setup, TrainState, Transition, make_setup
from rljax.run.algorithm import Algorithm
from rljax.train.sac.config import PRESETS, Config, HParams
from rljax.train.sac.evaluation import episode_policy, evaluate_policy, record_episode
from rljax.train.sac.policy import greedy_action, make_networks, sample_action
from rljax.train.sac.training import (
    METRIC_NAMES,
    TrainResult,
    make_explore,
    make_gradient_step,
    make_init,
    make_targets,
    make_train,
    make_update_chunk,
)

__all__ = [
    "ALGORITHM",
    "METRIC_NAMES",
    "PRESETS",
    "Config",
    "HParams",
    "OffPolicyConfig",
    "Setup",
    "TrainResult",
    "TrainState",
    "Transition",
    "episode_policy",
    "evaluate_policy",
    "greedy_action",
    "make_explore",
    "make_gradient_step",
    "make_init",
    "make_networks",
    "make_setup",
    "make_targets",
    "make_train",
    "make_update_chunk",
    "record_episode",
    "sample_action",
]


ALGORITHM = Algorithm(
    name="sac",
    title="SAC",
    summary="Soft Actor-Critic (continuous actions; SAC-Discrete on Discrete ones)",
    description="Train SAC (squashed Gaussian policy, twin critics, learned entropy temperature) "
    "on several seeds at once (one vmapped XLA program, the replay buffer in the state), in "
    "compiled chunks with progress, metrics, checkpoints and resume. Writes RUN_DIR/config.json, "
    "metrics.jsonl, checkpoints/, curve.png.",
    examples=(
        "rljax train sac --preset pendulum --seeds 8",
        "rljax train sac --preset mountaincar --seeds 4",
        "rljax train sac --env-id Pendulum-v1 --sweep lr=3e-4,1e-3",
        "rljax train sac --env-id CartPole-v1 --learning-starts 1000 --num-envs 4",
        "rljax eval runs/Pendulum-v1-sac-20250101-120000 --episodes 10",
    ),
    config_cls=Config,
    presets=PRESETS,
    metric_names=METRIC_NAMES,
    make_init=make_init,
    make_update_chunk=make_update_chunk,
    evaluate_policy=evaluate_policy,
    record_episode=record_episode,
    episode_policy=episode_policy,
    steps_per_update=lambda config: config.steps_per_update,
)
