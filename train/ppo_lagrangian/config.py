"""Lagrangian PPO's settings: PPO's (:class:`rljax.train.ppo.Config`) plus the constraint's budget
and the multiplier's controller (:mod:`rljax.learning.lagrangian`), the hyperparameter leaves
(:class:`HParams`) and the named configurations (:data:`PRESETS`)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from rljax.configs import field
from rljax.env import make
from rljax.learning.lagrangian import MULTIPLIER_KINDS, MultiplierGains
from rljax.train import ppo

COST_KEY = "constraint_cost"  # the info entry a constrained environment's step emits


@dataclasses.dataclass(frozen=True)
class Config(ppo.Config):
    """Lagrangian PPO settings: PPO's, and the episode-cost budget the run must keep within."""

    env_id: str = field("HazardGridWorld-v0", "registered environment id (a constrained MDP)")
    cost_budget: float = field(
        0.0, "expected episode cost allowed (the sum of info['constraint_cost'])", leaf=True
    )
    multiplier: str = field(
        "pid", f"how the Lagrange multiplier moves: {', '.join(MULTIPLIER_KINDS)} (a fixed penalty)"
    )
    multiplier_init: float = field(0.0, "the multiplier before any measurement", leaf=True)
    pid_kp: float = field(0.1, "proportional gain (pid)", leaf=True)
    pid_ki: float = field(0.01, "integral gain (pid; the dual step size of dual)", leaf=True)
    pid_kd: float = field(0.1, "derivative gain on the cost's rise (pid)", leaf=True)
    pid_ema: float = field(
        0.5, "weight of the newest episode cost in the smoothed P and D inputs (pid)", leaf=True
    )

    def validate(self) -> None:
        super().validate()
        if self.multiplier not in MULTIPLIER_KINDS:
            self.fail("multiplier", f"must be one of {', '.join(MULTIPLIER_KINDS)}")
        for name in ("cost_budget", "multiplier_init", "pid_kp", "pid_ki", "pid_kd"):
            if not getattr(self, name) >= 0:
                self.fail(name, "must be >= 0")
        if not 0 < self.pid_ema <= 1:
            self.fail("pid_ema", "must be in (0, 1]")
        env, params = make(self.env_id, **dict(self.env_kwargs))
        if COST_KEY not in emitted_info(env, params):
            self.fail(
                "env_id",
                f"Lagrangian PPO needs a constrained environment whose step emits "
                f"info[{COST_KEY!r}]; {self.env_id} does not",
            )

    def hparams(self) -> HParams:
        return self.leaves_as(HParams)


def emitted_info(env, params) -> tuple[str, ...]:
    """The ``info`` keys of ``env``'s step (traced abstractly: nothing is compiled or run)."""

    def one_step(key):
        obs, state = env.reset(key, params)
        action = env.action_space(params).sample(key)
        return env.step(key, state, action, params)[5]

    return tuple(jax.eval_shape(one_step, jax.random.key(0)))


@struct.dataclass
class HParams(ppo.HParams):
    """PPO's leaves and the constraint's (float32 scalars, [S] under vmap)."""

    cost_budget: jax.Array
    multiplier_init: jax.Array
    pid_kp: jax.Array
    pid_ki: jax.Array
    pid_kd: jax.Array
    pid_ema: jax.Array

    def gains(self) -> MultiplierGains:
        """The multiplier controller's settings."""
        return MultiplierGains(
            budget=self.cost_budget, initial=self.multiplier_init, kp=self.pid_kp,
            ki=self.pid_ki, kd=self.pid_kd, ema=jnp.asarray(self.pid_ema),
        )  # fmt: skip


# Named configurations (``rljax train ppo_lagrangian --preset NAME``; figures in
# benchmarks/RESULTS.md, "Safe RL"). energy: a 4 kW contracted import cap on EnergyManagement-v1
# (a 5 kW battery charging at full power passes it), at most 0.25 violating hours a day.
# hazards: HazardGridWorld-v0 at 5 x 5 (PPO's exploration does not find the 7 x 7 band's far
# gap), at most 0.25 expected hazard steps an episode; gentle gains, since the random policy's
# first episodes step on hazards five times and a multiplier driven up by them would teach the
# agent to shun the goal before it has found it.
PRESETS: dict[str, Config] = {
    "hazards": Config(
        env_id="HazardGridWorld-v0",
        env_kwargs={"rows": 5, "cols": 5},
        cost_budget=0.25,
        num_envs=16,
        num_steps=64,
        total_timesteps=16 * 64 * 200,
        lr=1e-3,
        ent_coef=0.02,
        num_minibatches=4,
        pid_kp=0.05,
        pid_ki=0.01,
        pid_kd=0.0,
    ),
    "energy": Config(
        env_id="EnergyManagement-v1",
        env_kwargs={"contract_cap": 4.0},
        cost_budget=0.25,
        num_envs=16,
        num_steps=96,
        total_timesteps=1_000_000,
        gamma=1.0,
        lr=1e-3,
        ent_coef=0.0,
        num_minibatches=8,
        normalize_obs=True,
        normalize_reward=True,
    ),
}
