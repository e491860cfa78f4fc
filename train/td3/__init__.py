"""Twin Delayed DDPG (TD3) for continuous actions, compiled end to end.

``train = jax.jit(td3.make_train(config)); result = train(jax.random.key(0))`` runs a whole
training run as one XLA program, the replay buffer in the train state (vmapped over seeds,
saved in every checkpoint). ``hparams`` (learning rate, gamma, tau, gradient-norm clip, the
exploration and smoothing noise scales and the noise clip) are pytree leaves, so a sweep is a
``vmap``.

TD3 as in Fujimoto et al. 2018 and SB3: a deterministic ``tanh`` policy, twin critics with
clipped double-Q targets, delayed actor and target updates (``policy_delay``), target policy
smoothing (clipped Gaussian noise), Gaussian exploration noise and uniformly random actions for
the first ``learning_starts`` steps; actions are rescaled from ``[-1, 1]`` to the environment's
Box. A transition stores the episode's own final observation and bootstraps unless
``terminated``.

Modules: :mod:`.config` (settings, leaves, presets), :mod:`.training` (networks, targets,
gradient step, init, chunks, whole runs), :mod:`.evaluation` (the evaluation hooks). The
settings, setup, train state and collect-add-learn update it shares with SAC are
:mod:`rljax.learning.off_policy`'s, the networks :mod:`rljax.learning.actor_critic`'s.
"""

from __future__ import annotations

from rljax.run.algorithm import Algorithm
from rljax.train.td3.config import PRESETS, Config, HParams
from rljax.train.td3.evaluation import episode_policy, evaluate_policy, record_episode
from rljax.train.td3.training import (
    METRIC_NAMES,
    TrainResult,
    make_explore,
    make_gradient_step,
    make_init,
    make_networks,
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
    "TrainResult",
    "episode_policy",
    "evaluate_policy",
    "make_explore",
    "make_gradient_step",
    "make_init",
    "make_networks",
    "make_targets",
    "make_train",
    "make_update_chunk",
    "record_episode",
]


ALGORITHM = Algorithm(
    name="td3",
    title="TD3",
    summary="Twin Delayed DDPG for continuous actions",
    description="Train TD3 (deterministic policy, twin critics, delayed actor updates, target "
    "policy smoothing) on several seeds at once (one vmapped XLA program, the replay buffer in "
    "the state), in compiled chunks with progress, metrics, checkpoints and resume. Writes "
    "RUN_DIR/config.json, metrics.jsonl, checkpoints/, curve.png.",
    examples=(
        "rljax train td3 --preset pendulum --seeds 8",
        "rljax train td3 --preset mountaincar --seeds 4",
        "rljax train td3 --env-id Pendulum-v1 --sweep exploration_noise=0.1,0.3",
        "rljax eval runs/Pendulum-v1-td3-20250101-120000 --episodes 10",
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
