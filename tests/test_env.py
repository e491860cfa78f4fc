"""The registry (``make`` / ``register`` / ``registered_ids``) and the contract of every env."""

from __future__ import annotations

import re
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax import env as env_module
from rljax import spaces
from rljax.envs.cartpole import CartPole, CartPoleParams
from rljax.envs.grid_world import GridWorld

BUILTIN_IDS = [
    "CartPole-v1",
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "GridWorld-v0",
    "EnergyManagement-v0",
]


# --- make -------------------------------------------------------------------------------------


def test_registered_ids_contains_builtins():
    ids = rljax.registered_ids()
    assert set(BUILTIN_IDS) <= set(ids)
    assert ids == sorted(ids)


def test_make_unknown_id_suggests_closest_and_lists_registered():
    with pytest.raises(ValueError) as excinfo:
        rljax.make("CartPole-v2")
    message = str(excinfo.value)
    assert "'CartPole-v2'" in message
    assert "Did you mean 'CartPole-v1'?" in message
    for env_id in BUILTIN_IDS:
        assert env_id in message


def test_make_unknown_id_without_close_match_still_lists_registered():
    with pytest.raises(ValueError) as excinfo:
        rljax.make("zzzzzzzzzzzz")
    message = str(excinfo.value)
    assert "Did you mean" not in message
    assert all(env_id in message for env_id in BUILTIN_IDS)


def test_make_unknown_override_lists_allowed_names():
    with pytest.raises(ValueError) as excinfo:
        rljax.make("CartPole-v1", gravityy=9.81)
    message = str(excinfo.value)
    assert "'gravityy'" in message
    for field in ("gravity", "masscart", "force_mag", "max_steps_in_episode"):
        assert field in message


def test_make_unknown_override_lists_factory_settings_too():
    with pytest.raises(ValueError) as excinfo:
        rljax.make("GridWorld-v0", row=3)
    message = str(excinfo.value)
    assert "'row'" in message
    for name in ("rows", "cols", "walls", "goal", "max_steps_in_episode"):
        assert name in message


def test_make_param_override():
    env, params = rljax.make("CartPole-v1", gravity=3.5, max_steps_in_episode=7)
    assert isinstance(env, CartPole)
    assert params.gravity == 3.5
    assert params.max_steps_in_episode == 7
    assert params.masscart == CartPoleParams().masscart
    # The default params are untouched by an override.
    assert env.default_params.gravity == CartPoleParams().gravity


def test_make_routes_constructor_settings_to_factory():
    env, params = rljax.make("GridWorld-v0", rows=3, cols=4, max_steps_in_episode=9)
    assert isinstance(env, GridWorld)
    assert (env.rows, env.cols) == (3, 4)
    assert params.walls.shape == (3, 4)
    np.testing.assert_array_equal(params.goal, [2, 3])
    assert params.max_steps_in_episode == 9
    assert env.observation_space(params).shape == (2,)
    np.testing.assert_array_equal(env.observation_space(params).high, [2.0, 3.0])
    # Settings are not smuggled into params.
    assert not hasattr(params, "rows")


def test_make_validates_params():
    with pytest.raises(ValueError, match="masspole"):
        rljax.make("CartPole-v1", masspole=-1.0)


# --- register ---------------------------------------------------------------------------------


def test_register_duplicate_raises_and_overwrite_replaces(clean_registry):
    rljax.register("TestCartPole-v0", CartPole)
    with pytest.raises(ValueError, match="TestCartPole-v0"):
        rljax.register("TestCartPole-v0", GridWorld)
    env, _ = rljax.make("TestCartPole-v0")
    assert isinstance(env, CartPole)

    rljax.register("TestCartPole-v0", GridWorld, overwrite=True)
    env, params = rljax.make("TestCartPole-v0", rows=2, cols=3)
    assert isinstance(env, GridWorld) and (env.rows, env.cols) == (2, 3)
    assert "TestCartPole-v0" in rljax.registered_ids()


def test_register_builtin_duplicate_raises(clean_registry):
    with pytest.raises(ValueError, match="already registered"):
        rljax.register("CartPole-v1", CartPole)


def test_register_factory_function(clean_registry):
    def factory(size: int = 2):
        return GridWorld(rows=size, cols=size)

    rljax.register("TestSquareGrid-v0", factory)
    env, params = rljax.make("TestSquareGrid-v0", size=4, step_reward=-0.5)
    assert (env.rows, env.cols) == (4, 4)
    assert params.step_reward == -0.5


def test_register_lazy_string_entry_point(clean_registry, tmp_path, monkeypatch):
    module_name = "rljax_test_lazy_env_module"
    (tmp_path / f"{module_name}.py").write_text(
        textwrap.dedent(
            """
            from rljax.envs.cartpole import CartPole

            class LazyCartPole(CartPole):
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module_name, raising=False)

    rljax.register("TestLazy-v0", f"{module_name}:LazyCartPole")
    # Registering a string imports nothing.
    assert module_name not in sys.modules
    env, params = rljax.make("TestLazy-v0", force_mag=3.0)
    assert module_name in sys.modules
    assert type(env).__name__ == "LazyCartPole"
    assert params.force_mag == 3.0
    monkeypatch.delitem(sys.modules, module_name)


def test_builtin_entry_points_are_lazy_strings():
    # The built-ins are registered as "module:Attr" strings that resolve to the env classes.
    entry = env_module.registration("GridWorld-v0").entry_point
    assert isinstance(entry, str)
    assert env_module.resolve(entry) is GridWorld
    assert env_module.factory("GridWorld-v0") is GridWorld


def test_register_same_entry_again_is_a_no_op(clean_registry):
    rljax.register("TestCartPole-v0", CartPole, renderer="some.module:Renderer")
    rljax.register("TestCartPole-v0", CartPole, renderer="some.module:Renderer")
    # A different renderer is a different registration.
    with pytest.raises(ValueError, match="already registered"):
        rljax.register("TestCartPole-v0", CartPole)
    assert env_module.registration("TestCartPole-v0").renderer == "some.module:Renderer"


def test_unregister_removes_an_id_and_rejects_unknown_ones(clean_registry):
    rljax.register("TestCartPole-v0", CartPole)
    env_module.unregister("TestCartPole-v0")
    assert "TestCartPole-v0" not in rljax.registered_ids()
    with pytest.raises(ValueError, match="unknown environment id 'TestCartPole-v0'"):
        env_module.unregister("TestCartPole-v0")
    with pytest.raises(ValueError, match="unknown environment id"):
        rljax.make("TestCartPole-v0")


# --- every registered environment -------------------------------------------------------------

NUM_STEPS = 12


@pytest.mark.parametrize("env_id", rljax.registered_ids())
def test_env_contract_under_jit(env_id):
    env, params = rljax.make(env_id)
    obs_space = env.observation_space(params)
    act_space = env.action_space(params)
    assert isinstance(obs_space, spaces.Space) and isinstance(act_space, spaces.Space)

    @jax.jit
    def run(key):
        key_reset, key_actions, key_steps = jax.random.split(key, 3)
        obs0, state = env.reset(key_reset, params)
        actions = act_space.sample_batch(key_actions, NUM_STEPS)
        keys = jax.random.split(key_steps, NUM_STEPS)

        def body(state, inputs):
            key, action = inputs
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            return state, (obs, obs_space.contains(obs), reward, terminated, truncated, info)

        _, out = jax.lax.scan(body, state, (keys, actions))
        return obs0, obs_space.contains(obs0), actions, out

    obs0, obs0_in, actions, out = jax.tree.map(np.asarray, run(jax.random.key(0)))
    obs, obs_in, reward, terminated, truncated, info = out

    assert obs0.dtype == np.float32 and obs0.shape == obs_space.shape
    assert obs0_in
    assert actions.shape == (NUM_STEPS, *act_space.shape)
    assert obs.dtype == np.float32 and obs.shape == (NUM_STEPS, *obs_space.shape)
    reward_shape = (NUM_STEPS, *env.reward_shape(params))
    assert reward.dtype == np.float32 and reward.shape == reward_shape
    assert terminated.dtype == np.bool_ and terminated.shape == (NUM_STEPS,)
    assert truncated.dtype == np.bool_ and truncated.shape == (NUM_STEPS,)
    assert np.isfinite(reward).all() and np.isfinite(obs).all()
    assert isinstance(info, dict)
    # Stepping past the end of an episode is undefined: check observations up to the first end.
    done = terminated | truncated
    valid = np.concatenate([[True], ~np.cumsum(done)[:-1].astype(bool)])
    assert obs_in[valid].all()


def test_env_reset_depends_on_key_and_is_deterministic():
    env, params = rljax.make("CartPole-v1")
    reset = jax.jit(env.reset)
    a, _ = reset(jax.random.key(1), params)
    b, _ = reset(jax.random.key(1), params)
    c, _ = reset(jax.random.key(2), params)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (np.abs(np.asarray(a)) <= params.reset_bound).all()


def test_env_reset_and_step_use_default_params_when_omitted():
    env, params = rljax.make("CartPole-v1")
    key = jax.random.key(3)
    obs_a, state_a = env.reset(key)
    obs_b, state_b = env.reset(key, params)
    np.testing.assert_array_equal(obs_a, obs_b)
    out_a = env.step(key, state_a, jnp.int32(1))
    out_b = env.step(key, state_b, jnp.int32(1), params)
    jax.tree.map(np.testing.assert_array_equal, out_a, out_b)


@pytest.mark.parametrize(
    ("env_id", "overrides", "needle"),
    [
        ("CartPole-v1", {"gravity": "abc"}, "gravity='abc' is invalid: must be a number"),
        ("CartPole-v1", {"max_steps_in_episode": 8.9}, "must be an integer"),
        ("CartPole-v1", {"max_steps_in_episode": True}, "must be an integer"),
        ("TreasureHunt-v0", {"size": 8.9}, "size=8.9 is invalid: must be an integer"),
        ("GridWorld-v0", {"walls": "none"}, "must be an array of numbers"),
    ],
)
def test_overrides_of_the_wrong_kind_are_refused_not_coerced(env_id, overrides, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        rljax.make(env_id, **overrides)


def test_overrides_of_the_right_kind_are_taken():
    _, params = rljax.make("CartPole-v1", gravity=9, max_steps_in_episode=200)
    assert float(params.gravity) == 9.0 and int(params.max_steps_in_episode) == 200


def test_make_inside_a_jitted_program_gives_concrete_params():
    """Evaluation programs build their environment inside ``jit``; array-valued params (a grid
    world's walls) must still validate there."""
    walls = jax.jit(lambda: rljax.make("GridWorld-v0")[1].walls.sum())()
    assert int(walls) == int(np.asarray(rljax.make("GridWorld-v0")[1].walls).sum()) == 4
