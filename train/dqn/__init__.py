"""DQN with the Rainbow parts as switches, compiled end to end.

``train = jax.jit(dqn.make_train(config)); result = train(jax.random.key(0))`` runs a whole
training run (epsilon-greedy or noisy-net acting in vmapped environments, replay, gradient steps,
target updates) as one XLA program; the replay buffer lives in the train state, so it is vmapped
over seeds with the rest and saved in every checkpoint (a resumed run is bitwise the
uninterrupted one). ``hparams`` (learning rate, gamma, epsilon schedule, tau, PER's alpha and
beta0, the C51 support's ends, gradient-norm clip) are pytree leaves, so a sweep is a ``vmap``.

The switches (:class:`Config`): ``double_q`` (van Hasselt et al. 2016), ``dueling`` (Wang et
al. 2016), ``prioritised`` (Schaul et al. 2016; beta annealed to 1), ``n_step``,
``distributional`` (C51, Bellemare et al. 2017), ``noisy`` (factorised Gaussian, Fortunato et
al. 2018; epsilon then 0) and ``target_update`` (hard copies or Polyak averaging). The presets:
``cartpole`` (plain DQN) and ``rainbow`` (every switch on, Hessel et al. 2018).

Termination and truncation are kept apart: a transition stores the episode's own next
observation (``info["final_obs"]``), bootstraps unless ``terminated``, and n-step windows stop
at the first episode end, bootstrapping there when it was a time limit.

Modules: :mod:`.config` (settings, leaves, presets), :mod:`.state` (train state, transitions,
metric names), :mod:`.policy` (networks, replay, action values), :mod:`.loss` (targets and loss),
:mod:`.training` (init, update, chunks, whole runs), :mod:`.evaluation` (the evaluation hooks).
The math is :mod:`rljax.learning.q_learning`'s, the network :mod:`rljax.q_networks`'s and the
buffer :mod:`rljax.learning.replay`'s.
"""

from __future__ import annotations

from rljax.run.algorithm import Algorithm
from rljax.train.dqn.config import PRESETS, Config, HParams
from rljax.train.dqn.evaluation import episode_policy, evaluate_policy, record_episode
from rljax.train.dqn.loss import make_loss, make_targets
from rljax.train.dqn.policy import Setup, action_values, apply, make_setup
from rljax.train.dqn.state import METRIC_NAMES, TrainResult, TrainState, Transition
from rljax.train.dqn.training import (
    epsilon_at,
    make_collect,
    make_init,
    make_learn,
    make_train,
    make_update,
    make_update_chunk,
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
    "action_values",
    "apply",
    "episode_policy",
    "epsilon_at",
    "evaluate_policy",
    "make_collect",
    "make_init",
    "make_learn",
    "make_loss",
    "make_setup",
    "make_targets",
    "make_train",
    "make_update",
    "make_update_chunk",
    "record_episode",
]


ALGORITHM = Algorithm(
    name="dqn",
    title="DQN",
    summary="Deep Q-Networks with switchable Rainbow parts",
    description="Train DQN (double Q, dueling, prioritised replay, n-step, C51 and noisy nets as "
    "switches; --preset rainbow turns them all on) on several seeds at once (one vmapped XLA "
    "program, the replay buffer in the state), in compiled chunks with progress, metrics, "
    "checkpoints and resume. Writes RUN_DIR/config.json, metrics.jsonl, checkpoints/, curve.png.",
    examples=(
        "rljax train dqn --total-timesteps 100000",
        "rljax train dqn --preset rainbow --seeds 8",
        "rljax train dqn --double-q --dueling --n-step 3 --seeds 4",
        "rljax train dqn --resume runs/CartPole-v1-dqn-20250101-120000",
        "rljax eval runs/CartPole-v1-dqn-20250101-120000 --episodes 10",
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
