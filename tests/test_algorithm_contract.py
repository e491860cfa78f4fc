"""Contract tests over the algorithm registry, in the style of pgx's api_test.

Every registered algorithm must: round-trip its config through JSON, list every field with its
default and help in ``rljax train NAME --help``, return the metrics it declares, give bitwise the
same state whether its updates run in chunks of 2 or in one chunk, and resume a stopped run
bitwise. A new algorithm gets these tests by adding one tiny config to ``TINY`` below (a test
fails until it does).

The tiny configs are the ones tests/test_cli*.py and tests/test_run_driver.py run, so the
compiled programs are shared with them within a session.
"""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest
from cli_harness import run_cli

from rljax import checkpoint
from rljax import train as registry
from rljax.configs import field_help
from rljax.run import driver


def _ppo():
    from rljax.train import ppo

    return ppo.Config(total_timesteps=512, num_envs=4, num_steps=32), {"seeds": 2}


def _mappo():
    from rljax.train import mappo

    config = mappo.Config(
        env_id="TreasureHunt-v0", critic="centralised", credit="difference",
        env_kwargs={"size": 5, "num_treasures": 2}, total_timesteps=512, num_envs=8,
        num_steps=16, num_minibatches=2, hidden_sizes=(32, 32),
    )  # fmt: skip
    return config, {"seeds": 2}


def _alphazero():
    from rljax.train import alphazero

    config = dataclasses.replace(
        alphazero.PRESETS["tictactoe"], hidden_sizes=(16,), selfplay_games=16, num_simulations=4,
        replay_size=144, random_opening_plies=2, batch_size=16, train_steps=2, gate_every=2,
        gate_games=4, gate_simulations=2, num_iterations=4,
    )  # fmt: skip
    settings = alphazero.evaluation.EvalSettings(4, ("random",), 4)
    return config, {"seeds": 1, "evaluation": settings}


def _pqn():
    from rljax.train import pqn

    config = pqn.Config(total_timesteps=512, num_envs=4, num_steps=32, num_minibatches=2)
    return config, {"seeds": 2}


def _dqn():
    from rljax.train import dqn

    config = dqn.Config(
        total_timesteps=128, num_envs=4, train_freq=8, gradient_steps=2, buffer_size=256,
        batch_size=32, learning_starts=64, hidden_sizes=(32,), double_q=True,
        prioritised=True, n_step=2, target_update_every=4,
    )  # fmt: skip
    return config, {"seeds": 2}


def _sac():
    from rljax.train import sac

    config = sac.Config(
        total_timesteps=256, num_envs=2, train_freq=32, buffer_size=256, batch_size=32,
        learning_starts=64, hidden_sizes=(16, 16),
    )  # fmt: skip
    return config, {"seeds": 2}


def _td3():
    from rljax.train import td3

    config = td3.Config(
        total_timesteps=256, num_envs=2, train_freq=32, buffer_size=256, batch_size=32,
        learning_starts=64, hidden_sizes=(16, 16),
    )  # fmt: skip
    return config, {"seeds": 2}


def _ppo_lagrangian():
    from rljax.train import ppo_lagrangian

    config = ppo_lagrangian.Config(
        env_kwargs={"rows": 4, "cols": 4}, cost_budget=0.5, total_timesteps=512,
        num_envs=4, num_steps=32, hidden_sizes=(16, 16),
    )  # fmt: skip
    return config, {"seeds": 2}


TINY = {
    "ppo": _ppo, "mappo": _mappo, "alphazero": _alphazero, "pqn": _pqn, "dqn": _dqn,
    "sac": _sac, "td3": _td3, "ppo_lagrangian": _ppo_lagrangian,
}  # fmt: skip
ALGORITHMS = registry.names()


def test_every_registered_algorithm_has_a_tiny_contract_config():
    assert sorted(TINY) == sorted(ALGORITHMS)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_declaration_is_complete(name):
    algorithm = registry.get(name)
    assert algorithm.name == name
    assert algorithm.title and algorithm.summary and algorithm.description
    config, _ = TINY[name]()
    assert registry.of_config(config) is algorithm
    for preset in algorithm.presets.values():
        assert isinstance(preset, algorithm.config_cls)
    assert len(set(algorithm.metric_names)) == len(algorithm.metric_names)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_config_round_trips_through_json(name):
    config, _ = TINY[name]()
    cls = registry.get(name).config_cls
    assert cls.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert cls.from_dict(json.loads(json.dumps(cls().to_dict()))) == cls()
    with pytest.raises(ValueError, match="unknown Config field"):
        cls.from_dict({**config.to_dict(), "no_such_field": 1})


@pytest.mark.parametrize("name", ALGORITHMS)
def test_help_lists_every_field_with_its_default_and_help(name):
    code, out, _ = run_cli(["train", name, "--help"])
    assert code == 0
    cls = registry.get(name).config_cls
    squeezed = "".join(out.split())  # help wraps lines, at hyphens too
    for field in dataclasses.fields(cls):
        assert "--" + field.name.replace("_", "-") in out
        assert "".join(field_help(cls)[field.name].split()) in squeezed
    assert out.count("(default:") >= len(dataclasses.fields(cls))


@pytest.mark.parametrize("name", [n for n in ALGORITHMS if registry.get(n).make_init])
def test_chunks_return_the_declared_metrics(name):
    algorithm = registry.get(name)
    config, _ = TINY[name]()
    hparams = config.hparams() if hasattr(config, "hparams") else None
    state = jax.eval_shape(algorithm.make_init(config), jax.random.key(0), hparams)
    _, metrics = jax.eval_shape(algorithm.make_update_chunk(config, 2), state, hparams)
    assert set(metrics) == set(algorithm.metric_names)  # (a pytree dict comes back sorted)
    assert all(m.shape == (2,) for m in metrics.values())


def _state_bytes(run_dir):
    _, state, update = driver.load_run(run_dir)
    leaves = jax.tree.leaves(checkpoint.keys_to_data(state))
    return update, [np.asarray(x).tobytes() for x in leaves]


@pytest.mark.parametrize("name", ALGORITHMS)
def test_chunked_equals_one_chunk_and_resume_is_bitwise(name, tmp_path):
    config, run_options = TINY[name]()
    algorithm = registry.get(name)
    total = algorithm.num_updates(config)
    assert total == 4
    quiet = {"progress": False, "log": lambda text: None}
    options = {"checkpoint_every": 2, **run_options, **quiet}
    chunked = driver.train(config, tmp_path / "chunked", chunk_updates=2, **options)
    whole = driver.train(config, tmp_path / "whole", chunk_updates=4, **options)
    assert chunked.status == whole.status == 0
    assert _state_bytes(tmp_path / "chunked") == _state_bytes(tmp_path / "whole")

    spec = driver.make_spec(config, chunk_updates=2, checkpoint_every=2, **run_options)
    stopped = driver.run(spec, tmp_path / "stopped", resume=False, stop_after_updates=2, **quiet)
    assert stopped.update == 2 and checkpoint.latest_update(tmp_path / "stopped") == 2
    resumed = driver.resume(tmp_path / "stopped", **quiet)
    assert resumed.status == 0 and resumed.update == total
    assert _state_bytes(tmp_path / "stopped") == _state_bytes(tmp_path / "chunked")
