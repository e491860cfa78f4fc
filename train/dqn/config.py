"""DQN's settings (:class:`Config`), the per-run hyperparameter leaves (:class:`HParams`) and the
named configurations (:data:`PRESETS`: ``cartpole``, plain DQN, ``rainbow``, every switch on,
and ``acrobot``, plain DQN on Acrobot-v1)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from flax import struct

from rljax import spaces
from rljax.configs import ConfigBase, field
from rljax.env import make, registered_ids
from rljax.learning.episodes import time_limit
from rljax.networks import ACTIVATIONS

TARGET_UPDATES = ("hard", "polyak")
LOSSES = ("huber", "mse")


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    """DQN settings; the Rainbow parts are switches (``double_q``, ``dueling``, ``prioritised``,
    ``n_step``, ``distributional``, ``noisy``). Defaults are the ``cartpole`` preset.

    One update steps every environment ``train_freq`` times, adds those transitions to the
    replay buffer, then (once ``learning_starts`` environment steps are in) takes
    ``gradient_steps`` gradient steps on sampled batches. Numeric fields declared ``leaf=True``
    become :class:`HParams` leaves that may differ between vmapped runs.
    """

    env_id: str = field("CartPole-v1", "registered environment id (Discrete actions)")
    num_envs: int = field(4, "parallel environments per seed")
    total_timesteps: int = field(
        100_000, "environment steps per seed (updates = this // (num_envs * train_freq))"
    )
    train_freq: int = field(4, "environment steps per env between rounds of gradient steps")
    gradient_steps: int = field(2, "gradient steps per update (each on one sampled batch)")
    buffer_size: int = field(50_000, "replay capacity in transitions (all envs together)")
    batch_size: int = field(64, "transitions per gradient step")
    learning_starts: int = field(1_000, "environment steps collected before learning begins")
    lr: float = field(5e-4, "Adam learning rate", leaf=True)
    gamma: float = field(0.99, "discount factor", leaf=True)
    max_grad_norm: float = field(10.0, "global gradient-norm clip", leaf=True)
    adam_eps: float = field(1e-5, "Adam epsilon")
    loss: str = field("huber", "TD loss of scalar Q-values: huber (delta 1) or mse")
    epsilon_start: float = field(1.0, "exploration epsilon at the first step", leaf=True)
    epsilon_finish: float = field(0.02, "exploration epsilon after the decay", leaf=True)
    epsilon_decay: float = field(
        0.1, "fraction of total_timesteps over which epsilon decays linearly", leaf=True
    )
    target_update: str = field(
        "hard", "hard (copy every target_update_every gradient steps) or polyak (every step)"
    )
    target_update_every: int = field(100, "gradient steps between hard target updates")
    tau: float = field(0.005, "Polyak coefficient of soft target updates", leaf=True)
    double_q: bool = field(False, "double Q-learning: the online net picks the next action")
    dueling: bool = field(False, "dueling head: V + A - mean A")
    prioritised: bool = field(False, "prioritised replay (proportional)")
    priority_alpha: float = field(0.6, "priority exponent alpha of prioritised replay", leaf=True)
    beta0: float = field(
        0.4, "initial importance-sampling exponent (annealed linearly to 1)", leaf=True
    )
    n_step: int = field(1, "steps of the bootstrapped return")
    distributional: bool = field(False, "C51 return distribution over num_atoms atoms")
    num_atoms: int = field(51, "atoms of the return distribution")
    v_min: float = field(0.0, "smallest return atom", leaf=True)
    v_max: float = field(100.0, "largest return atom", leaf=True)
    noisy: bool = field(False, "noisy linear layers (factorised Gaussian); epsilon then 0")
    sigma0: float = field(0.5, "initial noise scale of the noisy layers")
    hidden_sizes: tuple[int, ...] = field((128, 128), "hidden layer sizes of the Q-network")
    activation: str = field("relu", "hidden activation")
    env_kwargs: tuple[tuple[str, Any], ...] = field(
        (), "environment parameter overrides, values parsed as JSON (e.g. gravity=9.81)"
    )

    def validate(self) -> None:
        if self.env_id not in registered_ids():
            self.fail("env_id", f"must be one of {', '.join(registered_ids())}")
        positive = ("num_envs", "train_freq", "gradient_steps", "buffer_size", "batch_size")
        for name in (*positive, "n_step", "target_update_every"):
            if getattr(self, name) < 1:
                self.fail(name, "must be an integer >= 1")
        if self.total_timesteps < self.steps_per_update:
            self.fail(
                "total_timesteps", f"must be >= num_envs * train_freq = {self.steps_per_update}"
            )
        if self.buffer_size < self.batch_size:
            self.fail("buffer_size", f"must hold at least one batch (batch_size={self.batch_size})")
        if self.buffer_size % self.num_envs:
            self.fail("buffer_size", f"must be a multiple of num_envs={self.num_envs}")
        slots = self.buffer_size // self.num_envs
        if slots < max(self.train_freq, self.n_step):
            self.fail(
                "buffer_size",
                f"keeps {slots} steps per env, fewer than one update's train_freq="
                f"{self.train_freq} or one n_step={self.n_step} window",
            )
        if not 0 <= self.learning_starts < self.total_timesteps:
            self.fail("learning_starts", f"must be in [0, total_timesteps={self.total_timesteps})")
        if self.learning_starts > self.buffer_size:
            self.fail("learning_starts", f"must be <= buffer_size={self.buffer_size}")
        self.validate_numbers()
        self.validate_env()

    def validate_numbers(self) -> None:
        """The rules of the numeric and named fields (no environment needed)."""
        if not self.lr > 0:
            self.fail("lr", "must be > 0")
        for name in ("gamma", "epsilon_start", "epsilon_finish", "beta0"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                self.fail(name, "must be in [0, 1]")
        for name in ("epsilon_decay", "tau"):
            if not 0.0 < getattr(self, name) <= 1.0:
                self.fail(name, "must be in (0, 1]")
        for name in ("max_grad_norm", "adam_eps", "sigma0"):
            if not getattr(self, name) > 0:
                self.fail(name, "must be > 0")
        if not self.priority_alpha >= 0:
            self.fail("priority_alpha", "must be >= 0")
        if self.num_atoms < 2:
            self.fail("num_atoms", "must be an integer >= 2 (C51 needs at least two atoms)")
        if not self.v_min < self.v_max:
            self.fail("v_min", f"must be < v_max={self.v_max}")
        if self.target_update not in TARGET_UPDATES:
            self.fail("target_update", f"must be one of {', '.join(TARGET_UPDATES)}")
        if self.loss not in LOSSES:
            self.fail("loss", f"must be one of {', '.join(LOSSES)}")
        if self.activation not in ACTIVATIONS:
            self.fail("activation", f"must be one of {', '.join(ACTIVATIONS)}")
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            self.fail("hidden_sizes", "must be a non-empty sequence of sizes >= 1")

    def validate_env(self) -> None:
        """The rules that need the environment: Discrete actions, a scalar reward, and an
        n-step window no longer than an episode can be."""
        try:
            env, params = make(self.env_id, **dict(self.env_kwargs))
        except ValueError as error:
            raise ValueError(f"Config.env_kwargs={dict(self.env_kwargs)!r}: {error}") from None
        if env.reward_shape(params) != ():
            self.fail("env_id", "DQN trains single-agent environments (one scalar reward)")
        space = env.action_space(params)
        if not isinstance(space, spaces.Discrete):
            self.fail("env_id", f"DQN needs a Discrete action space, not {space!r}")
        limit = time_limit(params, default=0)
        if limit and self.n_step > limit:
            self.fail("n_step", f"must be <= the episode limit of {self.env_id} ({limit} steps)")

    @property
    def steps_per_update(self) -> int:
        """Environment steps of one update, all envs together."""
        return self.num_envs * self.train_freq

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    def hparams(self) -> HParams:
        """This config's numeric hyperparameters (its ``leaf=True`` fields) as float32 leaves."""
        return self.leaves_as(HParams)


@struct.dataclass
class HParams:
    """Hyperparameters that may differ between vmapped runs: float32 scalars, [S] under vmap."""

    lr: jax.Array
    gamma: jax.Array
    max_grad_norm: jax.Array
    epsilon_start: jax.Array
    epsilon_finish: jax.Array
    epsilon_decay: jax.Array
    tau: jax.Array
    priority_alpha: jax.Array
    beta0: jax.Array
    v_min: jax.Array
    v_max: jax.Array


# Named configurations (``rljax train dqn --preset NAME``), measured on CartPole-v1 over 8 seeds
# through rljax.run.train on the shared 2-core CPU (final return: the mean of the last 10
# updates; greedy: 20 evaluation episodes per seed):
# - ``cartpole`` (plain DQN, the defaults): final return 256 (min 20), greedy 261 (min 96) at
#   100 k env steps; 42 s to compile, 80 s to train. (A target copied every 250 gradient steps
#   and lr 1e-3 gave 112; lr 2.5e-4 with copies every 50 steps diverged, Q -> 7e5.)
# - ``rainbow``: final return 476 +- 62 (7 seeds at 500, one at 312), greedy 460 (min 288);
#   95 s to compile, 630 s to train under load. Four gradient steps per 16 env steps: with two,
#   the values (and the returns) stayed near 140 for the first 50 k steps, the Polyak target too
#   slow to propagate them.
# - ``acrobot`` (plain DQN on Acrobot-v1; C51's support [-100, 0] holds its discounted returns,
#   -1 a step), 4 seeds: final return -80 +- 9 (min -94), greedy -85 (min -95) at 100 k env
#   steps (RL Zoo's DQN: about -100); the mean of the last 10 updates first reaches -100 at 22 k
#   env steps for the median seed, at 34 k for the mean over seeds; 103 s to compile, 316 s to
#   train at load 10. The cartpole settings learned too slowly (-130 at 100 k for lr 2.5e-4,
#   5e-4 and 1e-3 alike, -200 at 50 k); hence four gradient steps of 128 per update instead of
#   two of 64 (lr 1e-3 with them: -96 +- 16).
PRESETS: dict[str, Config] = {
    "cartpole": Config(),
    "rainbow": Config(
        lr=1e-3,
        gradient_steps=4,
        double_q=True,
        dueling=True,
        prioritised=True,
        n_step=3,
        distributional=True,
        noisy=True,
        target_update="polyak",
    ),
    "acrobot": Config(
        env_id="Acrobot-v1",
        gradient_steps=4,
        batch_size=128,
        v_min=-100.0,
        v_max=0.0,
    ),
}
