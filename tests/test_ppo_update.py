"""rljax.learning.ppo_update: the PPO loss and epochs shared by PPO and MAPPO."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from rljax.learning import ppo_update
from rljax.train import mappo, ppo


def test_the_algorithms_reexport_the_shared_pieces():
    assert ppo.ppo_loss is ppo_update.ppo_loss
    assert ppo.optimise is ppo_update.optimise
    assert mappo.HParams is ppo.HParams


def test_ppo_loss_at_the_old_policy_is_the_value_and_entropy_terms():
    hparams = ppo.Config(vf_coef=0.5, ent_coef=0.1).hparams()
    n = 8
    log_prob = jnp.linspace(-2.0, -0.5, n)
    value, target = jnp.zeros(n), jnp.arange(n, dtype=jnp.float32)
    total, diag = ppo_update.ppo_loss(
        log_prob, log_prob, jnp.ones(n), value, value, jnp.arange(n, dtype=jnp.float32), target,
        hparams, clip_value_loss=True,
    )  # fmt: skip
    # Ratio 1: the surrogate is minus the mean of the normalised advantages (0), nothing clipped.
    np.testing.assert_allclose(diag["policy_loss"], 0.0, atol=1e-6)
    assert diag["approx_kl"] == 0.0 and diag["clip_frac"] == 0.0
    # The clipped value loss is the larger error: the prediction may move only clip_eps from 0.
    expected_value_loss = 0.5 * np.mean((np.arange(n) - 0.0) ** 2)
    np.testing.assert_allclose(diag["value_loss"], expected_value_loss, rtol=1e-6)
    np.testing.assert_allclose(total, 0.5 * expected_value_loss - 0.1, rtol=1e-5, atol=1e-6)
