"""PQN, parallel Q-learning (Gallici et al. 2024, "Simplifying Deep Temporal Difference
Learning"), compiled end to end.

Many vmapped environments and no replay buffer or target network: each update collects an
epsilon-greedy rollout of ``num_steps x num_envs`` steps with the current Q-network (LayerNorm
before each hidden activation keeps TD learning stable without a target network), computes
Q(lambda) targets backwards over it (lambda-returns bootstrapped with ``max_a Q`` at every next
step), and runs epochs of shuffled minibatches of the squared TD error (Adam, gradient-norm clip).
A time limit bootstraps from ``max_a Q(final_obs)``; a true end does not bootstrap.

``train = jax.jit(pqn.make_train(config)); result = train(jax.random.key(0))`` runs a whole
training run as one XLA program; ``hparams`` (learning rate, gamma, lambda, the epsilon schedule,
gradient-norm clip, reward scale) are pytree leaves, so seeds and sweeps are one ``vmap``. For
long runs use ``make_init`` and ``make_update_chunk`` (chunks give bitwise the same state as one
call) or the run driver, ``rljax train pqn``.

Modules: :mod:`.config` (settings, hyperparameter leaves, presets), :mod:`.state` (train state,
rollout transitions, metric names), :mod:`.policy` (Q-network, epsilon schedule and choice),
:mod:`.training` (init, rollout, targets, update, chunks, whole runs), :mod:`.evaluation` (the
evaluation hooks).
"""

from __future__ import annotations

from rljax.learning.q_learning import epsilon_greedy
from rljax.run.algorithm import Algorithm
from rljax.train.pqn.config import PRESETS, Config, HParams
from rljax.train.pqn.evaluation import episode_policy, evaluate_policy, record_episode
from rljax.train.pqn.policy import (
    Setup,
    epsilon_at,
    exploration_noise,
    make_setup,
)
from rljax.train.pqn.state import METRIC_NAMES, TrainResult, TrainState, Transition
from rljax.train.pqn.training import (
    make_init,
    make_rollout,
    make_train,
    make_update,
    make_update_chunk,
    network_max_q,
    q_lambda_targets,
)

__all__ = [
    "ALGORITHM",
    "METRIC_NAMES",
    "PRESETS",
    "Config",
    "HParams",
    "Setup",
    "TrainResult",
    "TrainState",
    "Transition",
    "episode_policy",
    "epsilon_at",
    "epsilon_greedy",
    "evaluate_policy",
    "exploration_noise",
    "make_init",
    "make_rollout",
    "make_setup",
    "make_train",
    "make_update",
    "make_update_chunk",
    "network_max_q",
    "q_lambda_targets",
    "record_episode",
]


ALGORITHM = Algorithm(
    name="pqn",
    title="PQN",
    summary="Parallel Q-learning: vectorised Q(lambda), no replay buffer, no target network",
    description="Train PQN on several seeds at once (one vmapped XLA program), in compiled "
    "chunks with progress, metrics, checkpoints and resume. Discrete-action environments. Writes "
    "RUN_DIR/config.json, metrics.jsonl, checkpoints/, curve.png.",
    examples=(
        "rljax train pqn --preset cartpole --seeds 8",
        "rljax train pqn --preset acrobot --seeds 8",
        "rljax train pqn --total-timesteps 200000 --sweep lr=3e-4,1e-3",
        "rljax train pqn --resume runs/CartPole-v1-pqn-20250101-120000",
        "rljax eval runs/CartPole-v1-pqn-20250101-120000 --episodes 10",
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
