"""rljax.learning.updates: one update's metrics, and updates scanned into chunks and whole runs
(shared by every algorithm)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rljax.learning import updates
from rljax.train import ppo


def test_ppo_reexports_the_shared_metrics():
    assert ppo.update_metrics is updates.update_metrics


def test_update_metrics_average_over_finished_episodes_only():
    config = ppo.Config(num_envs=2, num_steps=3, total_timesteps=6, num_minibatches=1)
    done = jnp.asarray([[False, True], [False, False], [True, False]])
    returns = jnp.asarray([[9.0, 4.0], [9.0, 9.0], [2.0, 9.0]])
    aux = {"policy_loss": jnp.asarray([[1.0, 3.0]])}
    metrics = updates.update_metrics(config, aux, 0.5, jnp.int32(2), done, episode_return=returns)
    assert metrics["episode_return"] == 3.0 and metrics["episodes_finished"] == 2.0
    assert metrics["policy_loss"] == 2.0 and metrics["env_steps"] == 3 * 6
    none = updates.update_metrics(config, aux, 0.5, jnp.int32(0), done & False, x=returns)
    assert np.isnan(none["x"]) and none["episodes_finished"] == 0.0


def test_make_chunk_scans_updates_and_make_run_returns_the_result():
    config = ppo.Config()
    update = lambda state, hparams: (state + hparams.lr, {"step": state})
    chunk = updates.make_chunk(config, update, 3)
    state, metrics = chunk(jnp.float32(0.0))
    np.testing.assert_allclose(metrics["step"], [0.0, config.lr, 2 * config.lr], rtol=1e-6)

    class State(tuple):
        params = property(lambda self: self[0])

    train = updates.make_run(
        lambda key, hparams: State((jnp.float32(1.0),)),
        lambda state, hparams: (State((state.params * 2,)), {"m": jnp.ones(1)}),
        ppo.TrainResult,
    )
    result = train(jax.random.key(0))
    assert isinstance(result, ppo.TrainResult) and result.params == 2.0
