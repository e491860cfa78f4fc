"""DQN: the update's targets against a hand computation on the toy time-limited environment
(bootstrap through truncation, not through termination, n-step sums cut at episode ends),
config validation, the declaration, and learning CartPole at small cost. (The C51, double-Q,
n-step and target-update math is tested in test_q_learning.py, the network in
test_q_networks.py.)"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import toy_envs  # noqa: F401  (registers ToyTimeLimit-v0)

from rljax import configs, train
from rljax.train import dqn

GAMMA = 0.9
MAX_STEPS = 5


def toy_config(**overrides):
    base = dict(
        env_id="ToyTimeLimit-v0", num_envs=2, train_freq=16, gradient_steps=1, buffer_size=64,
        batch_size=64, learning_starts=0, total_timesteps=64, hidden_sizes=(8,), gamma=GAMMA,
        n_step=3, env_kwargs={"max_steps_in_episode": MAX_STEPS},
    )  # fmt: skip
    return dqn.Config(**{**base, **overrides})


def collected(config):
    """A state after one update of ``config`` (32 toy steps in the buffer) and a sample of 64
    sequences from its buffer."""
    state = dqn.make_init(config)(jax.random.key(0))
    state, _ = jax.jit(dqn.make_update_chunk(config, 1))(state)
    setup = dqn.make_setup(config)
    sample = setup.replay.sample(state.replay, jax.random.key(1), 1.0)
    return state, sample


@pytest.fixture(scope="module")
def truncating():
    return toy_config(), *collected(toy_config())


@pytest.fixture(scope="module")
def terminating():
    config = toy_config(env_kwargs={"max_steps_in_episode": MAX_STEPS, "terminal_step": 3})
    return config, *collected(config)


def hand_targets(config, state, sample, n, terminal_step=0):
    """The n-step target of each sampled sequence's first step, from the toy env's rules alone:
    reward ``1 + 0.1 t`` at time ``t``, a true end at ``terminal_step`` (if > 0), else a time
    limit at ``MAX_STEPS`` whose final observation is ``toy_obs(MAX_STEPS)``; ``max_a
    Q_target`` of the observation a window ends on, unless the episode terminated."""
    network = dqn.make_setup(config).network
    t0 = np.rint(np.asarray(sample.steps.obs[:, 0, 0]) * MAX_STEPS).astype(int)
    end = terminal_step if terminal_step else MAX_STEPS
    steps = np.minimum(n, end - t0)  # the window stops at the episode's end
    rewards = [
        sum(GAMMA**k * (1.0 + 0.1 * (t + k)) for k in range(m))
        for t, m in zip(t0, steps, strict=True)
    ]
    final = toy_envs.toy_obs(jnp.asarray(t0 + steps), MAX_STEPS).T  # [B, 2]
    q_final = np.asarray(network.apply(state.target_params, final)).max(axis=1)
    terminated = t0 + steps == terminal_step
    kinds = np.where(terminated, "terminated",
                     np.where(t0 + steps == MAX_STEPS, "truncated", "full window"))  # fmt: skip
    bootstrap = np.where(terminated, 0.0, GAMMA**steps * q_final)
    return np.array(rewards) + bootstrap, list(kinds)


def targets_of(config, state, sample, n):
    """The targets the update trains on, for windows of ``n`` steps of the sampled sequences."""
    config = dataclasses.replace(config, n_step=n)
    steps = jax.tree.map(lambda x: x[:, :n], sample.steps)
    targets = jax.jit(dqn.make_targets(config, dqn.make_setup(config)))
    key = jax.random.key(2)
    return np.asarray(targets(state.params, state.target_params, steps, config.hparams(), key))


@pytest.mark.parametrize("n", [1, 3])
def test_truncation_bootstraps_from_the_final_observation(truncating, n):
    config, state, sample = truncating
    want, kinds = hand_targets(config, state, sample, n)
    assert "truncated" in kinds and "full window" in kinds  # both cases are in the sample
    np.testing.assert_allclose(targets_of(config, state, sample, n), want, rtol=1e-5)
    # the stored next_obs of a time-limited step is the final observation, not a reset one
    last = np.asarray(sample.steps.truncated[:, 0])
    np.testing.assert_allclose(sample.steps.next_obs[last, 0], [[1.0, 0.0]] * last.sum())


@pytest.mark.parametrize("n", [1, 3])
def test_termination_does_not_bootstrap(terminating, n):
    config, state, sample = terminating
    want, kinds = hand_targets(config, state, sample, n, terminal_step=3)
    assert "terminated" in kinds
    np.testing.assert_allclose(targets_of(config, state, sample, n), want, rtol=1e-5)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"buffer_size": 32, "batch_size": 64}, "Config.buffer_size=32"),
        ({"buffer_size": 1001}, "multiple of num_envs"),
        ({"n_step": 501}, "episode limit of CartPole-v1"),
        ({"v_min": 5.0, "v_max": 5.0}, "Config.v_min=5.0"),
        ({"num_atoms": 1}, "Config.num_atoms=1"),
        ({"target_update": "soft"}, "hard, polyak"),
        ({"env_id": "Pendulum-v1"}, "Discrete"),
        ({"env_id": "Nope-v0"}, "Config.env_id"),
        ({"learning_starts": 200_000}, "Config.learning_starts"),
        ({"gamma": 1.5}, "Config.gamma"),
        ({"tau": 0.0}, "Config.tau"),
        ({"loss": "l1"}, "huber, mse"),
        ({"num_envs": 0}, "Config.num_envs"),
    ],
)
def test_bad_settings_raise_errors_naming_them(overrides, match):
    with pytest.raises(ValueError, match=match):
        dqn.Config(**overrides)


def test_config_fields_carry_help_and_the_leaves_are_hparams():
    helps = configs.field_help(dqn.Config)
    generic = [name for name, text in helps.items() if text == name.replace("_", " ")]
    assert not generic, generic
    leaves = configs.leaf_names(dqn.Config)
    assert leaves == tuple(f.name for f in dataclasses.fields(dqn.HParams))
    assert {"lr", "gamma", "tau", "epsilon_start", "priority_alpha", "beta0"} <= set(leaves)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(dqn.Config().hparams()))


def test_declaration_and_presets():
    algorithm = train.get("dqn")
    assert algorithm is dqn.ALGORITHM
    assert {"env_steps", "episode_return"} <= set(algorithm.metric_names)
    assert algorithm.steps_per_update(dqn.Config()) == 4 * 4
    rainbow = algorithm.preset("rainbow")
    switches = ("double_q", "dueling", "prioritised", "distributional", "noisy")
    assert all(getattr(rainbow, name) for name in switches) and rainbow.n_step > 1
    plain = algorithm.preset("cartpole")
    assert not any(getattr(plain, name) for name in switches) and plain.n_step == 1


def test_epsilon_decays_linearly_then_stays():
    config = dqn.Config(total_timesteps=1000, epsilon_decay=0.5, learning_starts=0)
    eps = [float(dqn.epsilon_at(config, config.hparams(), jnp.int32(s))) for s in (0, 250, 600)]
    np.testing.assert_allclose(eps, [1.0, 0.51, 0.02], rtol=1e-6)
    noisy = dataclasses.replace(config, noisy=True)
    assert float(dqn.epsilon_at(noisy, noisy.hparams(), jnp.int32(0))) == 0.0


def test_learns_cartpole_at_small_cost():
    config = dataclasses.replace(dqn.PRESETS["cartpole"], total_timesteps=20_000)
    result = jax.jit(dqn.make_train(config))(jax.random.key(0))
    state = result.state
    assert int(result.metrics["env_steps"][-1]) == 20_000
    assert bool(result.metrics["learning"][-1]) and not bool(result.metrics["learning"][0])
    evaluation = dqn.evaluate_policy(config, state, 8, jax.random.key(1), 500)
    # a random policy lasts ~22 steps, a constant one ~9: 80 is out of reach of both
    assert evaluation["returns"].mean() >= 80, evaluation["returns"]  # 138 when written
    length, trajectory = dqn.record_episode(config, state, jax.random.key(2), 50)
    assert length == min(50, int(trajectory["active"].sum()))
