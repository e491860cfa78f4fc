"""PPO: loss terms, config fields and validation, the declaration and its evaluation hooks,
determinism, and learning at small cost. (GAE, distributions and the optimiser loop are tested
with rljax.learning's modules.)"""

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import toy_envs  # noqa: F401  (registers ToyTimeLimit-v0)
from reference_returns import hand_gae

from rljax import checkpoint, configs, train
from rljax.learning import recording
from rljax.learning.running_stats import RunningMeanStd
from rljax.train import ppo
from rljax.train.ppo.training import make_collect


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("lr", -1.0, "Config.lr"),
        ("num_minibatches", 3, "Config.num_minibatches"),
        ("env_id", "Nope-v0", "Config.env_id"),
        ("gamma", 1.5, "Config.gamma"),
        ("activation", "gelu", "Config.activation"),
        ("total_timesteps", 10, "Config.total_timesteps"),
        ("env_kwargs", {"masspole": -1.0}, "masspole"),
    ],
)
def test_invalid_config_names_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        ppo.Config(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"), [("num_envs", True), ("total_timesteps", 513.5), ("hidden_sizes", "64")]
)
def test_config_types_are_strict(field, value):
    with pytest.raises(ValueError, match=f"Config.{field}"):
        ppo.Config(**{field: value})


def test_config_fields_carry_help_and_the_leaves_are_hparams():
    helps = configs.field_help(ppo.Config)
    assert helps["lr"] == "Adam learning rate"
    generic = [name for name, text in helps.items() if text == name.replace("_", " ")]
    assert not generic, generic  # every field has its own help text
    leaves = configs.leaf_names(ppo.Config)
    assert leaves == tuple(f.name for f in dataclasses.fields(ppo.HParams))
    hp = ppo.Config(lr=1e-3, gamma=0.5).hparams()
    assert float(hp.lr) == np.float32(1e-3) and float(hp.gamma) == 0.5
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(hp))


def test_config_round_trips_through_a_dict():
    config = ppo.Config(hidden_sizes=[32], env_kwargs={"gravity": 9.0}, lr=1)
    assert config.hidden_sizes == (32,) and config.lr == 1.0
    assert ppo.Config.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown Config field"):
        ppo.Config.from_dict({"nope": 1})


def test_declaration():
    algorithm = train.get("ppo")
    assert algorithm is ppo.ALGORITHM
    assert (algorithm.name, algorithm.title, algorithm.config_cls) == ("ppo", "PPO", ppo.Config)
    assert algorithm.metric_names == ppo.METRIC_NAMES and "env_steps" in algorithm.metric_names
    assert algorithm.presets is ppo.PRESETS
    assert all(line.startswith("rljax ") for line in algorithm.examples)
    assert algorithm.run_title(ppo.Config()) == "PPO"


TINY = ppo.Config(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 6, update_epochs=2)


@pytest.fixture(scope="module")
def tiny_train():
    return jax.jit(ppo.make_train(TINY))


def state_digest(tree) -> str:
    """sha256 over every leaf's dtype, shape and bytes (PRNG keys as their key data)."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(checkpoint.keys_to_data(tree)):
        leaf = np.asarray(leaf)
        digest.update(f"{leaf.dtype}{leaf.shape}".encode())
        digest.update(leaf.tobytes())
    return digest.hexdigest()


FRESH_PROCESS = """
import jax, sys
sys.path.insert(0, {tests!r})
from test_ppo import TINY, state_digest
from rljax.train import ppo
print(state_digest(jax.jit(ppo.make_train(TINY))(jax.random.key(3))))
"""


def test_same_seed_same_result_in_a_fresh_process_and_metrics_shape(tiny_train):
    """A second process traces and compiles the run afresh (its own hash seed, no shared cache)
    and must end on the same bits: the whole final state and every metric."""
    a = tiny_train(jax.random.key(3))
    code = FRESH_PROCESS.format(tests=str(Path(__file__).parent))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == state_digest(a)
    assert set(a.metrics) == set(ppo.METRIC_NAMES)
    assert all(v.shape == (TINY.num_updates,) for v in a.metrics.values())
    np.testing.assert_array_equal(a.metrics["env_steps"], np.arange(1, 7) * 64)
    # Linear annealing: lr falls from lr to lr / num_updates.
    np.testing.assert_allclose(a.metrics["lr"], TINY.lr * (1 - np.arange(6) / 6), rtol=1e-6)
    assert state_digest(tiny_train(jax.random.key(4))) != state_digest(a)


def test_chunked_equals_one_shot_bitwise(tiny_train):
    one_shot = tiny_train(jax.random.key(5))
    state = jax.jit(ppo.make_init(TINY))(jax.random.key(5))
    chunk = jax.jit(ppo.make_update_chunk(TINY, 2))
    rows = []
    for _ in range(3):
        state, metrics = chunk(state)
        rows.append(metrics)
    # The whole state: parameters, optimiser, environments, key, counters, statistics.
    assert state_digest(state) == state_digest(one_shot.state)
    for name, values in one_shot.metrics.items():
        np.testing.assert_array_equal(np.concatenate([row[name] for row in rows]), values)


def test_evaluation_hooks(tiny_train, monkeypatch):
    state = tiny_train(jax.random.key(3)).state
    traces = []
    real = recording.run_episodes
    monkeypatch.setattr(
        recording, "run_episodes", lambda *a, **k: traces.append(1) or real(*a, **k)
    )
    key = jax.random.key(11)
    figures = ppo.evaluate_policy(TINY, state, 5, key, 60)
    assert figures["returns"].dtype == np.float64 and figures["returns"].shape == (5,)
    np.testing.assert_array_equal(figures["returns"], figures["lengths"])  # CartPole pays 1 a step
    assert (figures["lengths"] >= 1).all() and (figures["lengths"] <= 60).all()
    # Hyperparameter leaves do not change the evaluation program: no second trace.
    again = ppo.evaluate_policy(dataclasses.replace(TINY, lr=1e-3), state, 5, key, 60)
    np.testing.assert_array_equal(again["returns"], figures["returns"])
    assert len(traces) == 1
    # The recorded episode of episode 0's key is episode 0.
    length, trajectory = ppo.record_episode(TINY, state, jax.random.split(key, 5)[0], 60)
    assert length == figures["lengths"][0]
    assert isinstance(trajectory["actions"], np.ndarray) and trajectory["actions"].shape == (60,)
    np.testing.assert_array_equal(trajectory["active"], np.arange(60) < length)
    assert trajectory["initial_obs"].shape == (4,) and trajectory["obs"].shape == (60, 4)


@pytest.mark.parametrize("terminal_step", [0, 3], ids=["truncates", "terminates"])
def test_update_targets_bootstrap_truncation_from_the_final_observation(terminal_step):
    """The targets PPO learns from: r + gamma V(final_obs) at a time limit, r at a true end."""
    config = ppo.Config(
        env_id="ToyTimeLimit-v0",
        num_envs=2,
        num_steps=12,
        total_timesteps=24,
        num_minibatches=2,
        gamma=0.9,
        gae_lambda=0.8,
        env_kwargs=(("max_steps_in_episode", 5), ("terminal_step", terminal_step)),
    )
    setup = ppo.make_setup(config)
    state = ppo.make_init(config)(jax.random.key(0))
    got = jax.jit(make_collect(config, setup))(state, config.hparams(), jax.random.key(1))
    batch = jax.tree.map(np.asarray, got.batch)
    critic = lambda obs: np.asarray(setup.critic.apply(state.params["critic"], obs), np.float64)
    value, final_value = critic(batch.obs), critic(batch.final_obs)
    next_value = critic(np.asarray(got.next_obs))
    np.testing.assert_allclose(np.asarray(got.value), value, rtol=1e-6)
    assert (batch.truncated.any(), batch.terminated.any()) == (
        not terminal_step,
        bool(terminal_step),
    )

    ended = batch.truncated | batch.terminated
    bootstrap = np.where(batch.truncated, 0.9 * final_value, 0.0)
    np.testing.assert_allclose(
        np.asarray(got.targets)[ended], (batch.reward + bootstrap)[ended], rtol=1e-5
    )
    advantages, targets = hand_gae(
        batch.reward, value, next_value, final_value, batch.terminated, batch.truncated, 0.9, 0.8
    )
    np.testing.assert_allclose(np.asarray(got.advantages), advantages, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got.targets), targets, rtol=1e-5, atol=1e-6)


def test_reward_scaling_and_observation_normalisation_in_the_targets():
    """With normalize_reward, the targets are GAE of reward / std(discounted return) under the
    statistics before the update, and the statistics fold in this rollout's discounted returns;
    with normalize_obs the critic sees normalised observations."""
    config = ppo.Config(
        env_id="ToyTimeLimit-v0",
        num_envs=2,
        num_steps=8,
        total_timesteps=16,
        num_minibatches=2,
        gamma=0.9,
        gae_lambda=0.8,
        normalize_obs=True,
        normalize_reward=True,
        env_kwargs=(("max_steps_in_episode", 5),),
    )
    setup = ppo.make_setup(config)
    state = ppo.make_init(config)(jax.random.key(0))
    stats = RunningMeanStd(jnp.float32(0.5), jnp.float32(4.0), jnp.float32(10.0))
    obs_stats = RunningMeanStd(jnp.array([0.2, 0.7]), jnp.array([0.05, 0.02]), jnp.float32(9.0))
    state = state.replace(
        return_stats=stats, obs_stats=obs_stats, discounted_return=jnp.array([1.0, 2.0])
    )
    got = jax.jit(make_collect(config, setup))(state, config.hparams(), jax.random.key(1))
    batch = jax.tree.map(np.asarray, got.batch)

    def critic(obs):
        normalised = np.clip((obs - [0.2, 0.7]) / np.sqrt(np.array([0.05, 0.02]) + 1e-8), -10, 10)
        params = state.params["critic"]
        return np.asarray(setup.critic.apply(params, normalised.astype(np.float32)), np.float64)

    scaled = batch.reward / np.sqrt(4.0 + 1e-8)
    _, targets = hand_gae(
        scaled,
        critic(batch.obs),
        critic(np.asarray(got.next_obs)),
        critic(batch.final_obs),
        batch.terminated,
        batch.truncated,
        0.9,
        0.8,
    )
    np.testing.assert_allclose(np.asarray(got.targets), targets, rtol=1e-5, atol=1e-6)

    # Discounted returns, restarted after every episode end, folded in by Chan et al.'s formula.
    running, discounted = np.array([1.0, 2.0]), []
    for t in range(8):
        running = running * 0.9 + batch.reward[t]
        discounted.append(running.copy())
        running = np.where(batch.truncated[t] | batch.terminated[t], 0.0, running)
    discounted = np.concatenate(discounted)
    n, total = len(discounted), 10.0 + len(discounted)
    delta = discounted.mean() - 0.5
    mean = 0.5 + delta * n / total
    var = (4.0 * 10.0 + discounted.var() * n + delta**2 * 10.0 * n / total) / total
    np.testing.assert_allclose(
        [got.return_stats.mean, got.return_stats.var, got.return_stats.count],
        [mean, var, total],
        rtol=1e-5,
    )
    np.testing.assert_allclose(np.asarray(got.discounted_return), running, rtol=1e-6)


def test_vmap_over_seeds_and_hyperparameters():
    train = ppo.make_train(TINY)
    keys = jax.random.split(jax.random.key(0), 2)
    hp = TINY.hparams()
    hp = hp.replace(lr=jnp.array([1e-4, 1e-2]), clip_eps=jnp.array([0.1, 0.3]))
    hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (2,)), hp)
    # Full float32 products: a GPU's default (TF32) rounds batched and unbatched products apart.
    with jax.default_matmul_precision("highest"):
        result = jax.jit(jax.vmap(train))(keys, hp)
        alone = jax.jit(train)(keys[1], jax.tree.map(lambda x: x[1], hp))
    assert result.metrics["lr"].shape == (2, TINY.num_updates)
    np.testing.assert_allclose(result.metrics["lr"][:, 0], [1e-4, 1e-2], rtol=1e-6)
    # Each vmapped run equals the same run alone.
    for x, y in zip(jax.tree.leaves(alone.params), jax.tree.leaves(result.params), strict=True):
        np.testing.assert_allclose(x, y[1], rtol=1e-5, atol=1e-6)


def test_continuous_actions_and_normalisation_run():
    config = ppo.Config(
        env_id="Pendulum-v1",
        num_envs=4,
        num_steps=16,
        total_timesteps=4 * 16 * 3,
        normalize_obs=True,
        normalize_reward=True,
        clip_value_loss=True,
    )
    result = jax.jit(ppo.make_train(config))(jax.random.key(0))
    assert np.all(np.isfinite(result.metrics["policy_loss"]))
    assert result.state.obs_stats.count > 100  # the statistics were updated
    log_std = result.params["actor"]["params"]["log_std"]
    assert log_std.shape == (1,)
    # The evaluation hooks build the policy inside their jitted programs: Box bounds stay concrete.
    figures = ppo.evaluate_policy(config, result.state, 2, jax.random.key(1), 20)
    np.testing.assert_array_equal(figures["lengths"], [20, 20])
    length, trajectory = ppo.record_episode(config, result.state, jax.random.key(1), 20)
    assert length == 20 and trajectory["actions"].shape == (20, 1)
    assert np.all(np.abs(trajectory["actions"]) <= 2.0)  # clipped to Pendulum's torque bounds


def test_cartpole_learns():
    """CartPole-v1 reaches a mean return >= 475 over 4 seeds at 500 k steps (reference config)."""
    config = ppo.Config()
    keys = jax.random.split(jax.random.key(42), 4)
    result = jax.jit(jax.vmap(ppo.make_train(config)))(keys)
    final = np.nanmean(np.asarray(result.metrics["episode_return"])[:, -10:], axis=1)
    assert final.mean() >= 475, final


def test_pendulum_preset_learns():
    """The Pendulum-v1 preset passes -400 mean return over 2 seeds within 200 k steps.

    (Its full 1 M-step run reaches >= -300 over 8 seeds: benchmarks/RESULTS.md.)
    """
    config = dataclasses.replace(ppo.PRESETS["pendulum"], total_timesteps=200_000)
    keys = jax.random.split(jax.random.key(7), 2)
    result = jax.jit(jax.vmap(ppo.make_train(config)))(keys)
    final = np.nanmean(np.asarray(result.metrics["episode_return"])[:, -10:], axis=1)
    assert final.mean() >= -400, final


def test_ppo_loss_terms_by_hand():
    hp = ppo.Config(clip_eps=0.2, vf_coef=0.5, ent_coef=0.01).hparams()
    old_log_prob = jnp.log(jnp.array([0.5, 0.5]))
    # Ratios 1.5 and 0.5, both outside [0.8, 1.2]: the pessimistic minimum picks the clipped
    # terms 1.2 * (+1) and 0.8 * (-1).
    log_prob = jnp.log(jnp.array([0.75, 0.25]))
    advantage = jnp.array([1.0, -1.0])  # already zero-mean; std 1 -> normalised unchanged
    value, old_value, target = jnp.array([1.0, 3.0]), jnp.array([0.5, 2.0]), jnp.array([2.0, 2.0])
    entropy = jnp.array([0.6, 0.4])
    args = (log_prob, old_log_prob, entropy, value, old_value, advantage, target, hp)
    total, aux = ppo.ppo_loss(*args, False)
    adv = np.array([1.0, -1.0]) / (1.0 + 1e-8)
    surrogate = [min(1.5 * adv[0], 1.2 * adv[0]), min(0.5 * adv[1], 0.8 * adv[1])]
    policy_loss = -np.mean(surrogate)
    value_loss = 0.5 * np.mean([(1.0 - 2.0) ** 2, (3.0 - 2.0) ** 2])
    np.testing.assert_allclose(aux["policy_loss"], policy_loss, rtol=1e-5)
    np.testing.assert_allclose(aux["value_loss"], value_loss, rtol=1e-6)
    np.testing.assert_allclose(aux["clip_frac"], 1.0)
    np.testing.assert_allclose(total, policy_loss + 0.5 * value_loss - 0.01 * 0.5, rtol=1e-5)
    # Value clipping: predictions kept within 0.2 of the old ones (0.7 and 2.2) are further
    # from the target for the first sample, so its error counts instead.
    _, aux_clipped = ppo.ppo_loss(*args, True)
    clipped = 0.5 * np.mean([max(1.0, (0.7 - 2.0) ** 2), max(1.0, (2.2 - 2.0) ** 2)])
    np.testing.assert_allclose(aux_clipped["value_loss"], clipped, rtol=1e-6)


@pytest.mark.parametrize("env_id", ["ConnectFour-v0", "TreasureHunt-v0"])
def test_config_refuses_environments_with_a_reward_per_agent(env_id):
    with pytest.raises(ValueError, match="env_id.*single-agent"):
        ppo.Config(env_id=env_id)
