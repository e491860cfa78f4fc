"""PPO's settings: the fields PPO and MAPPO share (:class:`CommonConfig`, :func:`validate_common`),
PPO's own (:class:`Config`), the per-run hyperparameter leaves (:class:`HParams`) and the named
configurations (:data:`PRESETS`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from flax import struct

from rljax import spaces
from rljax.configs import ConfigBase, RolloutSizes, field
from rljax.env import make, registered_ids
from rljax.networks import ACTIVATIONS


@dataclasses.dataclass(frozen=True)
class CommonConfig(RolloutSizes, ConfigBase):
    """The fields, rules and derived sizes PPO and MAPPO share, with PPO's defaults.

    Field names follow the common PPO implementations so that scripts carry over. Shape-changing
    fields are static; the numeric ones declared ``leaf=True`` become :class:`HParams` leaves that
    may differ between vmapped runs. :class:`rljax.train.mappo.Config` derives from it and
    re-declares the fields whose default or meaning differs.
    """

    env_id: str = field("CartPole-v1", "registered environment id")
    num_envs: int = field(4, "parallel environments per seed")
    num_steps: int = field(128, "rollout length per update, per environment")
    total_timesteps: int = field(
        500_000, "environment steps per seed (updates = this // (num_envs * num_steps))"
    )
    update_epochs: int = field(4, "passes over each rollout batch")
    num_minibatches: int = field(4, "minibatches per epoch (must divide num_envs * num_steps)")
    lr: float = field(2.5e-4, "Adam learning rate", leaf=True)
    gamma: float = field(0.99, "discount factor", leaf=True)
    gae_lambda: float = field(0.95, "GAE lambda", leaf=True)
    clip_eps: float = field(
        0.2, "PPO ratio clip (and value clip with --clip-value-loss)", leaf=True
    )
    ent_coef: float = field(0.01, "entropy bonus coefficient", leaf=True)
    vf_coef: float = field(0.5, "value loss coefficient", leaf=True)
    max_grad_norm: float = field(0.5, "global gradient-norm clip", leaf=True)
    anneal_lr: bool = field(True, "anneal the learning rate linearly to 0")
    activation: str = field("tanh", "hidden activation")
    hidden_sizes: tuple[int, ...] = field((64, 64), "hidden layer sizes of actor and critic")
    # PureJaxRL clips the value loss too; without it CartPole stalls.
    clip_value_loss: bool = field(True, "clip the value loss like the policy ratio")
    normalize_obs: bool = field(False, "normalise observations with running statistics")
    adam_eps: float = field(1e-5, "Adam epsilon")
    env_kwargs: tuple[tuple[str, Any], ...] = field(
        (), "environment parameter overrides, values parsed as JSON (e.g. gravity=9.81)"
    )

    def validate(self) -> None:
        validate_common(self)

    def hparams(self) -> HParams:
        """This config's numeric hyperparameters (its ``leaf=True`` fields) as float32 leaves."""
        return self.leaves_as(HParams)


@dataclasses.dataclass(frozen=True)
class Config(CommonConfig):
    """PPO settings. Defaults are PureJaxRL's CartPole configuration (solves it in 500 k steps)."""

    normalize_reward: bool = field(
        False, "scale rewards by the running std of the discounted return"
    )

    def validate(self) -> None:
        validate_common(self)
        env, params = make(self.env_id, **dict(self.env_kwargs))
        if env.reward_shape(params) != ():
            self.fail(
                "env_id",
                "PPO trains single-agent environments, and this one gives a reward per agent or "
                f"player (shape {env.reward_shape(params)})",
            )
        space = env.action_space(params)
        if not isinstance(space, spaces.Discrete) and not (
            isinstance(space, spaces.Box) and len(space.shape) == 1
        ):
            self.fail("env_id", f"PPO supports Discrete and 1-D Box action spaces, not {space!r}")


def validate_common(config: CommonConfig) -> None:
    """The rules of the fields PPO and MAPPO share (same names, same messages).

    A bad value raises ``ValueError`` through ``config.fail``; types were checked before
    (``ConfigBase.__post_init__``). A subclass's ``validate`` calls it before its own rules.
    """
    if config.env_id not in registered_ids():
        config.fail("env_id", f"must be one of {', '.join(registered_ids())}")
    for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches"):
        if getattr(config, name) < 1:
            config.fail(name, "must be an integer >= 1")
    if config.total_timesteps < config.num_envs * config.num_steps:
        config.fail("total_timesteps", f"must be >= num_envs * num_steps = {config.batch_size}")
    if config.batch_size % config.num_minibatches:
        config.fail(
            "num_minibatches", f"must divide the batch num_envs * num_steps = {config.batch_size}"
        )
    if not config.lr > 0:
        config.fail("lr", "must be > 0")
    for name in ("gamma", "gae_lambda"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            config.fail(name, "must be in [0, 1]")
    if not config.clip_eps > 0:
        config.fail("clip_eps", "must be > 0")
    for name in ("ent_coef", "vf_coef"):
        if not getattr(config, name) >= 0:
            config.fail(name, "must be >= 0")
    if not config.max_grad_norm > 0:
        config.fail("max_grad_norm", "must be > 0")
    if not config.adam_eps > 0:
        config.fail("adam_eps", "must be > 0")
    if config.activation not in ACTIVATIONS:
        config.fail("activation", f"must be one of {', '.join(ACTIVATIONS)}")
    if not config.hidden_sizes or any(h < 1 for h in config.hidden_sizes):
        config.fail("hidden_sizes", "must be a non-empty sequence of sizes >= 1")
    try:
        make(config.env_id, **dict(config.env_kwargs))
    except ValueError as error:
        raise ValueError(f"Config.env_kwargs={dict(config.env_kwargs)!r}: {error}") from None


@struct.dataclass
class HParams:
    """Hyperparameters that may differ between vmapped runs: float32 scalars, [S] under vmap."""

    lr: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    clip_eps: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array
    max_grad_norm: jax.Array


# Named configurations that reach the targets in benchmarks/RESULTS.md (``rljax train ppo
# --preset NAME``). Pendulum needs a shorter horizon (gamma 0.95), larger batches, a higher
# learning rate, no entropy bonus and normalised observations and rewards.
PRESETS: dict[str, Config] = {
    "cartpole": Config(),
    "pendulum": Config(
        env_id="Pendulum-v1",
        num_envs=16,
        num_steps=128,
        total_timesteps=1_000_000,
        gamma=0.95,
        lr=1e-3,
        update_epochs=4,
        num_minibatches=8,
        ent_coef=0.0,
        normalize_obs=True,
        normalize_reward=True,
    ),
    # EnergyManagement-v1's randomised days (benchmarks/energy_agents.py, 8 seeds, 1000 held-out
    # days, loaded 2-core box): $1.95 a day against the optimum's $0.44 and idle's $2.44, 25 % of
    # the achievable saving (MPC-12h 93 %); seven seeds at $1.62-1.86 (30-41 %), seed 3 collapsed
    # to $3.41 (lr 3e-4 collapsed it too, and was worse overall). Gamma 1 and GAE lambda 1 (a
    # day is 24 steps) beat gamma 0.99 and lambda 0.95 on two seeds. 28 s compile, 104 s train.
    "energy": Config(
        env_id="EnergyManagement-v1",
        num_envs=16,
        num_steps=96,
        total_timesteps=1_000_000,
        gamma=1.0,
        gae_lambda=1.0,
        lr=1e-3,
        update_epochs=4,
        num_minibatches=8,
        ent_coef=0.0,
        normalize_obs=True,
        normalize_reward=True,
    ),
    # EnergyManagement-v0's one deterministic day: 8 seeds at $57.36 against the optimum's
    # $57.33 (0.06 %; seven seeds exactly at it, the worst 0.49 % above); 33 s to train.
    "energy_v0": Config(
        env_id="EnergyManagement-v0",
        num_envs=16,
        num_steps=96,
        total_timesteps=500_000,
        gamma=1.0,
        lr=1e-3,
        update_epochs=4,
        num_minibatches=8,
        ent_coef=0.0,
        normalize_obs=True,
        normalize_reward=True,
    ),
}
