"""rljax.learning.ppo_update: the PPO loss, metrics and chunking shared by PPO and MAPPO."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rljax.learning import ppo_update
from rljax.train import mappo, ppo


def test_the_algorithms_reexport_the_shared_pieces():
    assert ppo.ppo_loss is ppo_update.ppo_loss
    assert ppo.optimise is ppo_update.optimise
    assert ppo.update_metrics is ppo_update.update_metrics
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


def test_update_metrics_average_over_finished_episodes_only():
    config = ppo.Config(num_envs=2, num_steps=3, total_timesteps=6, num_minibatches=1)
    done = jnp.asarray([[False, True], [False, False], [True, False]])
    returns = jnp.asarray([[9.0, 4.0], [9.0, 9.0], [2.0, 9.0]])
    aux = {"policy_loss": jnp.asarray([[1.0, 3.0]])}
    metrics = ppo_update.update_metrics(
        config, aux, 0.5, jnp.int32(2), done, episode_return=returns
    )
    assert metrics["episode_return"] == 3.0 and metrics["episodes_finished"] == 2.0
    assert metrics["policy_loss"] == 2.0 and metrics["env_steps"] == 3 * 6
    none = ppo_update.update_metrics(config, aux, 0.5, jnp.int32(0), done & False, x=returns)
    assert np.isnan(none["x"]) and none["episodes_finished"] == 0.0


def test_make_chunk_scans_updates_and_make_run_returns_the_result():
    config = ppo.Config()
    update = lambda state, hparams: (state + hparams.lr, {"step": state})
    chunk = ppo_update.make_chunk(config, update, 3)
    state, metrics = chunk(jnp.float32(0.0))
    np.testing.assert_allclose(metrics["step"], [0.0, config.lr, 2 * config.lr], rtol=1e-6)

    class State(tuple):
        params = property(lambda self: self[0])

    train = ppo_update.make_run(
        lambda key, hparams: State((jnp.float32(1.0),)),
        lambda state, hparams: (State((state.params * 2,)), {"m": jnp.ones(1)}),
        ppo.TrainResult,
    )
    result = train(jax.random.key(0))
    assert isinstance(result, ppo.TrainResult) and result.params == 2.0
