"""AlphaZero's settings: :class:`Config`, validated on construction."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from rljax.configs import ConfigBase, field
from rljax.env import make
from rljax.games import game_ids

NETWORKS = ("mlp", "resnet")


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    """AlphaZero settings. Defaults are sized for a 2-core CPU and Connect Four.

    They are the settings of the measured 20-minute Connect Four runs in benchmarks/RESULTS.md
    (0.96–1.00 against depth-4 minimax and 0.91–0.97 against UCT-1000 in two seeds, searching 64
    simulations a move, with the self-play groups side by side on the 2 cores).
    """

    # Runs saved before the field existed played self-play as one group.
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {"selfplay_groups": 1}

    env_id: str = field("ConnectFour-v0", "two-player game (also --env)")
    network: str = field("mlp", "policy-value network: mlp (CPU) or resnet (GPU/TPU)")
    hidden_sizes: tuple[int, ...] = field((256, 256, 256), "MLP hidden layer sizes")
    channels: int = field(64, "resnet channels")
    num_blocks: int = field(4, "resnet residual blocks")
    selfplay_games: int = field(512, "games played in parallel per iteration")
    # The split is part of the result (each group has its own random stream). One program vmaps
    # over the groups; on a CPU the CLI plays each on its own core (see ParallelIterations).
    selfplay_groups: int = field(
        2,
        "self-play games split into this many groups, each with its own random stream; on a "
        "multi-core CPU the groups play side by side, one per core",
    )
    num_simulations: int = field(16, "search simulations per self-play move")
    max_num_considered_actions: int = field(16, "Gumbel MuZero root actions considered")
    gumbel_scale: float = field(1.0, "root Gumbel noise in self-play")
    # Self-play then sees positions its own play would never reach, which opponents do reach.
    random_opening_plies: int = field(
        6, "each self-play game opens with 0..N uniformly random moves (not learned from)"
    )
    replay_size: int = field(200_000, "positions kept in the replay buffer")
    batch_size: int = field(512, "training minibatch size")
    train_steps: int = field(96, "gradient steps per iteration")
    lr: float = field(1e-3, "AdamW learning rate (the peak, with --lr-decay-iterations)")
    # Measured on Connect Four (20 minutes, decay over 360 of 410 iterations): 0.877 against
    # UCT-1000, no better than constant (0.892).
    lr_decay_iterations: int = field(0, "iterations of cosine learning-rate decay (0: constant)")
    lr_final_fraction: float = field(
        0.1, "learning rate at the end of the decay, as a fraction of --lr"
    )
    weight_decay: float = field(1e-4, "AdamW weight decay")
    max_grad_norm: float = field(1.0, "global gradient-norm clip")
    mirror: bool = field(True, "reflect sampled positions left-right (symmetry augmentation)")
    num_iterations: int = field(100, "iterations to run (without --minutes)")
    gate_every: int = field(5, "iterations between arena gates")
    # 64 games passed weak candidates.
    gate_games: int = field(128, "games per gate (half with each colour)")
    gate_simulations: int = field(32, "search simulations per move in the gate")
    gate_threshold: float = field(0.55, "score the candidate needs to replace the best network")

    def validate(self) -> None:
        fail = self.fail
        if self.env_id not in game_ids():
            fail("env_id", f"must be a two-player board game: one of {', '.join(game_ids())}")
        if self.network not in NETWORKS:
            fail("network", f"must be one of {', '.join(NETWORKS)}")
        positive = (
            "channels",
            "num_blocks",
            "selfplay_games",
            "selfplay_groups",
            "num_simulations",
            "max_num_considered_actions",
            "batch_size",
            "train_steps",
            "num_iterations",
            "gate_every",
            "gate_simulations",
        )
        for name in positive:
            if getattr(self, name) < 1:
                fail(name, "must be an integer >= 1")
        if self.selfplay_games % self.selfplay_groups:
            fail("selfplay_groups", f"must divide selfplay_games={self.selfplay_games}")
        if self.gate_games < 2 or self.gate_games % 2:
            fail("gate_games", "must be an even integer >= 2 (half the games with each colour)")
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            fail("hidden_sizes", "must be a non-empty sequence of sizes >= 1")
        if self.random_opening_plies < 0:
            fail("random_opening_plies", "must be an integer >= 0")
        if self.lr_decay_iterations < 0:
            fail("lr_decay_iterations", "must be an integer >= 0 (0: constant learning rate)")
        if not 0.0 <= self.lr_final_fraction <= 1.0:
            fail("lr_final_fraction", "must be in [0, 1]")
        if self.replay_size < self.positions_per_iteration:
            fail(
                "replay_size",
                f"must hold one iteration: >= selfplay_games * max plies = "
                f"{self.positions_per_iteration}",
            )
        if not self.lr > 0:
            fail("lr", "must be > 0")
        for name in ("weight_decay", "gumbel_scale"):
            if not getattr(self, name) >= 0:
                fail(name, "must be >= 0")
        if not self.max_grad_norm > 0:
            fail("max_grad_norm", "must be > 0")
        if not 0.0 <= self.gate_threshold <= 1.0:
            fail("gate_threshold", "must be in [0, 1]")

    @property
    def max_plies(self) -> int:
        env, _ = make(self.env_id)
        return env.rows * env.cols

    @property
    def positions_per_iteration(self) -> int:
        return self.selfplay_games * self.max_plies
