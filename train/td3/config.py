"""TD3's settings (:class:`Config`), the per-run hyperparameter leaves (:class:`HParams`) and the
named configurations (:data:`PRESETS`: ``pendulum`` and ``mountaincar``)."""

from __future__ import annotations

import dataclasses

import jax
from flax import struct

from rljax.configs import field
from rljax.learning.off_policy import (
    MOUNTAINCAR_SCHEDULE,
    OffPolicyConfig,
    OffPolicyHParams,
    validate_off_policy,
)


@dataclasses.dataclass(frozen=True)
class Config(OffPolicyConfig):
    """TD3 settings (Fujimoto et al. 2018, as in SB3), SB3's defaults but for a
    shorter random warm-up.

    Noise scales are in the policy's action units, ``[-1, 1]`` (the env gets actions rescaled to
    its bounds). Numeric fields declared ``leaf=True`` become :class:`HParams` leaves that may
    differ between vmapped runs.
    """

    learning_starts: int = field(
        1_000, "environment steps of uniformly random actions before learning begins"
    )
    gamma: float = field(0.98, "discount factor", leaf=True)
    policy_delay: int = field(2, "critic gradient steps per actor (and target) update")
    exploration_noise: float = field(
        0.1, "std of the Gaussian noise added to the policy's actions when acting", leaf=True
    )
    target_policy_noise: float = field(0.2, "std of the target policy smoothing noise", leaf=True)
    target_noise_clip: float = field(0.5, "the smoothing noise is clipped to +- this", leaf=True)

    def validate(self) -> None:
        validate_off_policy(self)
        if self.policy_delay < 1:
            self.fail("policy_delay", "must be an integer >= 1")
        for name in ("exploration_noise", "target_policy_noise", "target_noise_clip"):
            if not getattr(self, name) >= 0:
                self.fail(name, "must be >= 0")


@struct.dataclass
class HParams(OffPolicyHParams):
    """Hyperparameters that may differ between vmapped runs: float32 scalars, [S] under vmap
    (:class:`OffPolicyHParams`' then TD3's own)."""

    exploration_noise: jax.Array
    target_policy_noise: jax.Array
    target_noise_clip: jax.Array


Config.hparams_cls = HParams

# ``rljax train td3 --preset pendulum``: 64 x 64 networks, as SAC's presets (cheaper on a CPU).
# Through rljax.run.train on the shared 2-core CPU, 8 seeds, 20 k steps: final return (each
# seed's last episode) -190 +- 73 (min -327), greedy -152 (min -157, 10 episodes a seed); 10 s
# to compile, 112 s to train.
# ``mountaincar``: SAC's MountainCarContinuous preset (32 env steps then 32 gradient steps, the
# exploration noise held for the 32 steps, gamma 0.9999) with TD3's noise at 0.7 of the action
# range. Same box under load ~9, 4 seeds, 50 k steps: greedy (10 episodes a seed) 87.3, 93.4,
# 91.6 and 93.3, every seed at the goal; 46 s to compile, 13.4 min to train. With noise 0.5 one
# seed of the four learned to push one way for ever (greedy -99.9), the others 93.4.
PRESETS: dict[str, Config] = {
    "pendulum": Config(hidden_sizes=(64, 64)),
    "mountaincar": Config(**MOUNTAINCAR_SCHEDULE, exploration_noise=0.7),
}
