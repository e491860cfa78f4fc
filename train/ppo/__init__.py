"""Proximal Policy Optimisation, compiled end to end.

``train = jax.jit(ppo.make_train(config)); result = train(jax.random.key(0))`` runs a whole
training run (rollouts, GAE, epochs of shuffled minibatches, Adam) as one XLA program.
``jax.vmap(ppo.make_train(config))(keys)`` trains many seeds at once, and ``hparams`` (learning
rate, clip, entropy and value coefficients, GAE lambda, gamma, gradient-norm clip) are pytree
leaves, so a hyperparameter sweep is a ``vmap`` too.

For long runs with progress, checkpoints and resume, use the pieces: ``init(config)(key) -> state``
and ``make_update_chunk(config, n)(state) -> (state, metrics)``; running the chunks back to back
gives bitwise the same parameters as one ``train`` call.

Where the time goes, and what this implementation does about it (CPU, 4 envs x 128 steps):
the rollout runs only the actor; values of all observations (and of the final observations of
truncated episodes) are computed in one batched critic call after the rollout; environments are
stepped through :class:`rljax.vector.VecEnv`, which draws reset states only for finished episodes.

Modules: :mod:`.config` (settings, hyperparameter leaves, presets), :mod:`.state` (train state,
rollout transitions, metric names), :mod:`.policy` (networks and the policy distribution),
:mod:`.training` (init, update, chunks, whole runs), :mod:`.evaluation` (the evaluation hooks).
The loss and the epochs PPO shares with MAPPO are :mod:`rljax.learning.ppo_update`'s; the
per-update metrics and the scan into chunks, which every algorithm shares, are
:mod:`rljax.learning.updates`'.
"""

from __future__ import annotations

from rljax.learning.ppo_update import optimise, ppo_loss
from rljax.learning.updates import update_metrics
from rljax.run.algorithm import Algorithm
from rljax.train.ppo.config import PRESETS, CommonConfig, Config, HParams, validate_common
from rljax.train.ppo.evaluation import episode_policy, evaluate_policy, record_episode
from rljax.train.ppo.policy import (
    Setup,
    log_prob_entropy,
    make_policy,
    make_setup,
    normalize_for_policy,
    sample,
    sample_noise,
)
from rljax.train.ppo.state import METRIC_NAMES, TrainResult, TrainState, Transition
from rljax.train.ppo.training import (
    fresh_state_fields,
    make_init,
    make_rollout,
    make_train,
    make_update,
    make_update_chunk,
    split_values,
    value_inputs,
)

__all__ = [
    "ALGORITHM",
    "METRIC_NAMES",
    "PRESETS",
    "CommonConfig",
    "Config",
    "HParams",
    "Setup",
    "TrainResult",
    "TrainState",
    "Transition",
    "episode_policy",
    "evaluate_policy",
    "fresh_state_fields",
    "log_prob_entropy",
    "make_init",
    "make_policy",
    "make_rollout",
    "make_setup",
    "make_train",
    "make_update",
    "make_update_chunk",
    "normalize_for_policy",
    "optimise",
    "ppo_loss",
    "record_episode",
    "sample",
    "sample_noise",
    "split_values",
    "update_metrics",
    "validate_common",
    "value_inputs",
]


ALGORITHM = Algorithm(
    name="ppo",
    title="PPO",
    summary="Proximal Policy Optimisation",
    description="Train PPO on several seeds at once (one vmapped XLA program), in compiled chunks "
    "with progress, metrics, checkpoints and resume. Writes RUN_DIR/config.json, metrics.jsonl, "
    "checkpoints/, curve.png.",
    examples=(
        "rljax train ppo --total-timesteps 100000",
        "rljax train ppo --env-id Pendulum-v1 --lr 3e-4 --hidden-sizes 64 64 --seeds 4",
        "rljax train ppo --preset pendulum --total-timesteps 200000",
        "rljax train ppo --resume runs/CartPole-v1-ppo-20250101-120000",
        "rljax eval runs/CartPole-v1-ppo-20250101-120000 --episodes 10",
    ),
    config_cls=Config,
    presets=PRESETS,
    metric_names=METRIC_NAMES,
    make_init=make_init,
    make_update_chunk=make_update_chunk,
    evaluate_policy=evaluate_policy,
    record_episode=record_episode,
    episode_policy=episode_policy,
)
