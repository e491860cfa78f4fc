"""TD3: the critic targets on the toy time-limited environment against a hand computation
(clipped double-Q with the smoothed target action, bootstrapping through truncation from the
final observation, not through termination), the delayed actor updates, config validation and
the declaration."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import toy_envs  # noqa: F401  (registers ToyTimeLimitContinuous-v0)

from rljax import configs, train
from rljax.learning.off_policy import make_setup
from rljax.train import td3

GAMMA = 0.9
MAX_STEPS = 5


def toy_config(**overrides):
    base = dict(
        env_id="ToyTimeLimitContinuous-v0", num_envs=2, train_freq=16, buffer_size=64,
        batch_size=64, learning_starts=0, total_timesteps=64, hidden_sizes=(8,), gamma=GAMMA,
        target_policy_noise=0.4, target_noise_clip=0.3,
        env_kwargs={"max_steps_in_episode": MAX_STEPS},
    )  # fmt: skip
    return td3.Config(**{**base, **overrides})


def collected(config):
    """A state after one update of ``config`` (32 toy steps in the buffer), a batch of 64 of its
    transitions, the target networks used, and the targets TD3 trains on with noise ``[64, 1]``."""
    init, chunk = td3.make_init(config), td3.make_update_chunk(config, 1)
    state, _ = jax.jit(lambda key: chunk(init(key)))(jax.random.key(0))  # one program, not two
    setup = make_setup(config)
    replay = setup.replay
    batch = jax.tree.map(lambda x: x[:, 0], replay.sample(state.replay, jax.random.key(1)).steps)
    noise = jax.random.normal(jax.random.key(2), (64, 1))
    # target networks unlike the online ones, so the test sees which are used
    target = jax.tree.map(lambda p: p + 0.1, state.params)
    targets = jax.jit(td3.make_targets(config, setup))(target, batch, noise, config.hparams())
    return state, batch, noise, target, np.asarray(targets)


@pytest.fixture(scope="module")
def truncating():
    return toy_config(), *collected(toy_config())


@pytest.fixture(scope="module")
def terminating():
    config = toy_config(env_kwargs={"max_steps_in_episode": MAX_STEPS, "terminal_step": 3})
    return config, *collected(config)


def hand_targets(config, batch, noise, target, terminal_step=0):
    """The target of each transition from the toy env's rules alone: reward ``1 + 0.1 t`` at
    time ``t``; no future after a true end at ``terminal_step``; otherwise ``gamma * min_i
    Q_target_i(s', a')`` with ``s' = toy_obs(t + 1)`` (the final observation at the time
    limit) and ``a' = clip(pi_target(s') + clip(0.4 noise, -0.3, 0.3), -1, 1)``."""
    actor, critic = td3.make_networks(config, 1)
    t = np.rint(np.asarray(batch.obs[:, 0]) * MAX_STEPS).astype(int)
    reward = 1.0 + 0.1 * t
    next_obs = jnp.asarray(np.stack([(t + 1) / MAX_STEPS, 1 - (t + 1) / MAX_STEPS], 1), jnp.float32)
    smoothing = np.clip(0.4 * np.asarray(noise), -0.3, 0.3)
    action = np.clip(np.asarray(actor.apply(target["actor"], next_obs)) + smoothing, -1.0, 1.0)
    q = np.asarray(critic.apply(target["critic"], next_obs, jnp.asarray(action, jnp.float32)))
    terminated = (t + 1 == terminal_step) if terminal_step else np.zeros_like(t, bool)
    kinds = np.where(terminated, "terminated",
                     np.where(t + 1 == MAX_STEPS, "truncated", "mid-episode"))  # fmt: skip
    clipped = np.abs(np.asarray(noise)[:, 0]) * 0.4 > 0.3
    return reward + np.where(terminated, 0.0, GAMMA * q.min(axis=0)), set(kinds), clipped


def test_truncation_bootstraps_from_the_final_observation(truncating):
    config, state, batch, noise, target, targets = truncating
    want, kinds, clipped = hand_targets(config, batch, noise, target)
    assert kinds == {"truncated", "mid-episode"} and clipped.any() and not clipped.all()
    np.testing.assert_allclose(targets, want, rtol=1e-5, atol=1e-5)
    last = np.isclose(np.asarray(batch.obs[:, 0]), (MAX_STEPS - 1) / MAX_STEPS)
    assert last.any() and not np.asarray(batch.terminated).any()
    np.testing.assert_allclose(batch.next_obs[last], [[1.0, 0.0]] * last.sum())


def test_termination_does_not_bootstrap(terminating):
    config, state, batch, noise, target, targets = terminating
    want, kinds, _ = hand_targets(config, batch, noise, target, terminal_step=3)
    assert "terminated" in kinds and "mid-episode" in kinds
    np.testing.assert_allclose(targets, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets[np.asarray(batch.terminated)], 1.0 + 0.1 * 2)


def moved(a, b):
    leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return not all(np.array_equal(x, y) for x, y in leaves)


def test_actor_and_targets_move_only_every_policy_delay_steps(truncating):
    config, state, batch, *_ = truncating
    step = jax.jit(td3.make_gradient_step(config, make_setup(config)))
    learner = (state.params, state.target_params, state.opt_state, state.grad_step)
    changed = []
    for i in range(4):
        new, _ = step(learner, batch, config.hparams(), jax.random.key(i))
        changed.append((moved(new[0]["actor"], learner[0]["actor"]),
                        moved(new[0]["critic"], learner[0]["critic"]),
                        moved(new[1], learner[1])))  # fmt: skip
        learner = new
    # policy_delay=2: the critic every step; the actor and the targets on steps 2 and 4
    assert changed == [(False, True, False), (True, True, True)] * 2


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"buffer_size": 32, "batch_size": 64}, "Config.buffer_size=32.*one batch"),
        ({"env_id": "CartPole-v1"}, "Box action space"),
        ({"policy_delay": 0}, "Config.policy_delay"),
        ({"exploration_noise": -0.1}, "Config.exploration_noise"),
        ({"learning_starts": 30_000}, "Config.learning_starts"),
        ({"tau": 1.5}, "Config.tau"),
    ],
)
def test_bad_settings_raise_errors_naming_them(overrides, match):
    with pytest.raises(ValueError, match=match):
        td3.Config(**overrides)


def test_config_fields_carry_help_and_the_leaves_are_hparams():
    helps = configs.field_help(td3.Config)
    generic = [name for name, text in helps.items() if text == name.replace("_", " ")]
    assert not generic, generic
    leaves = configs.leaf_names(td3.Config)
    assert leaves == tuple(f.name for f in dataclasses.fields(td3.HParams))
    assert {"lr", "gamma", "tau", "exploration_noise", "target_policy_noise"} <= set(leaves)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(td3.Config().hparams()))


def test_declaration_and_presets():
    algorithm = train.get("td3")
    assert algorithm is td3.ALGORITHM
    assert {"env_steps", "episode_return"} <= set(algorithm.metric_names)
    assert algorithm.preset("pendulum").env_id == "Pendulum-v1"
