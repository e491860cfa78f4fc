"""AlphaZero-style self-play with Gumbel MuZero search (mctx), compiled end to end.

One iteration, as one XLA program:

1. **Self-play.** ``selfplay_games`` games are played in lockstep from the opening by the current
   *best* network (AlphaGo Zero's data generator), each move chosen by
   ``mctx.gumbel_muzero_policy`` with the game itself as the model (:mod:`rljax.games.search`).
   The loop stops as soon as every game has ended. With ``random_opening_plies = K`` each game
   first plays a random number (0..K) of uniformly random moves, which are not learned from:
   self-play alone rarely visits the positions a weak or odd opponent creates, and an agent that
   must answer *every* reply (the Tic-Tac-Toe target) has to have seen them. Each position keeps
   the search's ``action_weights`` (policy target) and, once its game is over, the final outcome
   from the mover's view (value target). Whole games are played inside one iteration, so every
   stored position has its true outcome and nothing is cut off at a window's edge.
2. **Replay.** Positions go into a ring buffer of the most recent ``replay_size``; finished-game
   slots are compacted first so no space is spent on padding.
3. **Learning.** ``train_steps`` Adam(W) steps on uniform minibatches from the replay: softmax cross
   entropy to the search policy plus squared error to the outcome. With ``mirror`` each sample is
   reflected left-right with probability 1/2 (both games are symmetric under it), which doubles
   the data for free.
4. **Gate** (every ``gate_every`` iterations): the trained *candidate* plays the *best* network,
   both searching with ``gate_simulations``, half the games with each colour; the candidate
   replaces the best only if it scores at least ``gate_threshold`` (AlphaGo Zero's 55 %).

``train = jax.jit(alphazero.make_train(config)); result = train(key)`` runs a whole training run;
``make_init`` and ``make_iterations(config, n)`` give the same run in chunks (bitwise the same)
for the run driver (:mod:`rljax.run`), which adds progress, checkpoints, the time budget and the
evaluation against the baselines between chunks. On a multi-core CPU the driver runs
:class:`ParallelIterations` instead: the same iterations, bitwise, as separate programs, with the
``selfplay_groups`` self-play groups and the gate's two halves each running side by side on their
own cores.

Modules: :mod:`.config` (settings), :mod:`.learner` (state, network, replay, learning step),
:mod:`.selfplay` (self-play, search player, gate), :mod:`.iterations` (whole iterations and the
driver's programs), :mod:`.evaluation` (scores against the baselines during training).
"""

from __future__ import annotations

from rljax.run.algorithm import Algorithm, Evaluation
from rljax.train.alphazero import evaluation
from rljax.train.alphazero.config import NETWORKS, Config
from rljax.train.alphazero.iterations import (
    METRIC_NAMES,
    AlphaZeroPrograms,
    ParallelIterations,
    finish_iteration,
    make_iterations,
    make_learn_stage,
    make_programs,
    make_train,
)
from rljax.train.alphazero.learner import (
    AZState,
    Replay,
    Setup,
    TrainResult,
    add_to_replay,
    az_loss,
    batched_init,
    learning_rate,
    make_init,
    make_learn,
    make_network,
    make_optimizer,
    mirror_policy,
    setup,
)
from rljax.train.alphazero.selfplay import (
    gate_score,
    group_keys,
    iteration_keys,
    make_gate,
    make_gate_games,
    make_search_player,
    make_selfplay,
    make_selfplay_group,
    merge_groups,
)

__all__ = [
    "ALGORITHM",
    "METRIC_NAMES",
    "NETWORKS",
    "PRESETS",
    "AZState",
    "AlphaZeroPrograms",
    "Config",
    "ParallelIterations",
    "Replay",
    "Setup",
    "TrainResult",
    "add_to_replay",
    "az_loss",
    "batched_init",
    "finish_iteration",
    "gate_score",
    "group_keys",
    "iteration_keys",
    "learning_rate",
    "make_gate",
    "make_gate_games",
    "make_init",
    "make_iterations",
    "make_learn",
    "make_learn_stage",
    "make_network",
    "make_optimizer",
    "make_programs",
    "make_search_player",
    "make_selfplay",
    "make_selfplay_group",
    "make_train",
    "merge_groups",
    "mirror_policy",
    "setup",
]

# Named configurations. The Connect Four one is Config's defaults (the measured 20-minute runs);
# the Tic-Tac-Toe one is the settings that reach perfect play (never loses against any line,
# checked exhaustively) in about a minute on a 2-core CPU. Naming the game picks its preset.
PRESETS: dict[str, Config] = {
    "connect_four": Config(),
    "tictactoe": Config(
        env_id="TicTacToe-v0",
        num_iterations=60,
        hidden_sizes=(128, 128),
        num_simulations=32,
        batch_size=256,
        random_opening_plies=3,
        gate_threshold=0.5,
    ),
}
PRESET_OF_GAME = {config.env_id: name for name, config in PRESETS.items()}

ALGORITHM = Algorithm(
    name="alphazero",
    title="AlphaZero",
    summary="AlphaZero self-play with Gumbel MuZero search",
    description=(
        "Train a policy-value network by self-play with mctx's Gumbel MuZero search, with "
        "AlphaGo Zero's arena gate and periodic evaluation against random, alpha-beta and UCT "
        "players. Naming a game (--env) starts from its preset unless --preset says otherwise. "
        "Writes RUN_DIR/config.json, metrics.jsonl (train and eval rows), checkpoints/, "
        "scores.png."
    ),
    examples=(
        "rljax train alphazero --env ConnectFour-v0 --minutes 20",
        "rljax train alphazero --env TicTacToe-v0 --minutes 2",
        "rljax train alphazero --resume runs/ConnectFour-v0-alphazero-20261122-101500",
    ),
    config_cls=Config,
    presets=PRESETS,
    metric_names=METRIC_NAMES,
    make_programs=make_programs,
    preset_for_env=PRESET_OF_GAME.get,
    evaluation=Evaluation(
        settings_cls=evaluation.EvalSettings,
        make=evaluation.make_evaluator,
        check=evaluation.check_settings,
        plot_file="scores.png",
        plot=evaluation.plot,
        summarize=evaluation.summarize,
        progress=lambda row: (row["opponent"], row["score"]),
    ),
    make_player=evaluation.make_player,
    open_ended=True,
    # Chunks of 5 iterations, a checkpoint (the replay buffer is most of it) and an evaluation
    # every 4 chunks: the cadence of the measured 20-minute Connect Four runs.
    run_defaults={"chunk_updates": 5, "checkpoint_chunks": 4, "eval_chunks": 4},
    unit="iteration",
    max_seeds=1,
    num_updates=lambda config: config.num_iterations,
    steps_per_update=None,
)
