"""Multi-agent PPO: reuse of PPO's GAE and loss, difference rewards by hand, critic inputs,
parameter groups, chunked == one-shot bitwise, and learning at small cost.

Compiling a training program takes tens of seconds on a loaded 2-core CPU, so the module compiles
few: structural checks trace with ``jax.eval_shape`` (no compilation), and one small learning run
is shared by the learning and chunking tests.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_returns import hand_gae

import rljax
from rljax import configs, train
from rljax.envs.treasure_hunt import DOWN, LEFT, RIGHT, STAY, UP, TreasureHuntState
from rljax.learning import ppo_update
from rljax.multiagent import MultiAgentView, episode_summary, noop_action, run_episodes
from rljax.train import mappo, ppo
from rljax.train.mappo.groups import group_values
from rljax.train.mappo.training import critic_value_inputs, make_collect

KEY = jax.random.key(0)
SMALL = {"size": 5, "num_agents": 2, "num_treasures": 2}


def _state(agents, treasures, collected=None, time=0) -> TreasureHuntState:
    treasures = np.asarray(treasures, np.int32).reshape(-1, 2)
    collected = np.zeros(len(treasures), bool) if collected is None else collected
    return TreasureHuntState(
        agent_pos=jnp.asarray(agents, jnp.int32).reshape(-1, 2),
        treasure_pos=jnp.asarray(treasures),
        collected=jnp.asarray(collected, jnp.bool_),
        time=jnp.int32(time),
    )


# --- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("critic", "central", "Config.critic"),
        ("credit", "counterfactual", "Config.credit"),
        ("env_id", "CartPole-v1", "Config.env_id"),
        ("lr", 0.0, "Config.lr"),
        ("num_minibatches", 3, "Config.num_minibatches"),
        ("reward_scale", -1.0, "Config.reward_scale"),
        ("env_kwargs", {"num_agents": 0}, "num_agents"),
    ],
)
def test_invalid_config_names_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        mappo.Config(**{field: value})


def test_config_shares_ppo_rules_and_help():
    for field, value in (("lr", 0.0), ("gamma", 2.0), ("activation", "gelu")):
        with pytest.raises(ValueError) as ours:
            mappo.Config(**{field: value})
        with pytest.raises(ValueError) as theirs:
            ppo.Config(**{field: value})
        assert str(ours.value) == str(theirs.value)
    helps = configs.field_help(mappo.Config)
    assert "global state" in helps["critic"] and "STAY" in helps["credit"]
    assert all(text != name.replace("_", " ") for name, text in helps.items())
    assert configs.leaf_names(mappo.Config) == configs.leaf_names(ppo.Config)
    with pytest.raises(ValueError, match="Config.num_envs"):
        mappo.Config(num_envs=2.0)


def test_environments_declare_their_noop_action():
    for env_id in ("TreasureHunt-v0", "Tag-v0"):
        env, _ = rljax.make(env_id)
        assert noop_action(env) == STAY
        assert noop_action(MultiAgentView(env)) == STAY  # read through wrappers
    with pytest.raises(ValueError, match="noop_action"):
        noop_action(rljax.make("CartPole-v1")[0])


def test_declaration():
    algorithm = train.get("mappo")
    assert algorithm is mappo.ALGORITHM
    assert (algorithm.name, algorithm.title, algorithm.config_cls) == (
        "mappo",
        "MAPPO",
        mappo.Config,
    )
    assert algorithm.run_title(mappo.Config()) == "MAPPO"
    assert algorithm.run_title(mappo.Config(critic="independent")) == "IPPO"
    assert algorithm.summary_metrics == ("success_rate",)
    assert "success_rate" in algorithm.metric_names
    assert set(algorithm.presets) == set(mappo.PRESETS)


def test_config_round_trips_and_hparams_are_ppo_leaves():
    config = mappo.Config(env_kwargs={"size": 5}, hidden_sizes=[32, 32], critic="independent")
    assert mappo.Config.from_dict(config.to_dict()) == config
    assert isinstance(config.hparams(), ppo.HParams)
    with pytest.raises(ValueError, match="unknown Config field"):
        mappo.Config.from_dict({"nope": 1})


# --- difference rewards by hand ----------------------------------------------------------------


@pytest.fixture(scope="module")
def small_env():
    """``difference(state, action) -> D [N]`` on the small task, compiled once for the module."""
    env, params = rljax.make("TreasureHunt-v0", **SMALL)
    return jax.jit(lambda state, action: mappo.difference_rewards(env, params, KEY, state, action))


def _difference(difference, state, action):
    return np.asarray(difference(state, jnp.asarray(action, jnp.int32)))


def test_difference_reward_credits_the_collector_only(small_env):
    # Agent 0 at (0, 0) steps RIGHT onto the treasure at (0, 1); agent 1 walks in open space.
    # G = 10 - 0.1; with agent 0 staying G = -0.1 (D_0 = +10); with agent 1 staying G is the
    # same (D_1 = 0). The step cost cancels.
    state = _state([[0, 0], [3, 3]], [[0, 1], [4, 0]])
    np.testing.assert_allclose(_difference(small_env, state, [RIGHT, UP]), [10.0, 0.0], atol=1e-5)


def test_difference_reward_charges_the_bumper_only(small_env):
    # Agent 1 at (4, 4) moves DOWN off the grid: -1 for it alone; agent 0 moves freely.
    state = _state([[2, 2], [4, 4]], [[0, 0], [0, 4]])
    np.testing.assert_allclose(_difference(small_env, state, [LEFT, DOWN]), [0.0, -1.0], atol=1e-5)
    # Both bump, and agent 0 of them from a corner: each is charged its own bump.
    state = _state([[0, 0], [4, 4]], [[2, 2], [0, 4]])
    np.testing.assert_allclose(_difference(small_env, state, [UP, RIGHT]), [-1.0, -1.0], atol=1e-5)


def test_difference_reward_of_redundant_and_idle_agents(small_env):
    # Both agents step onto the same treasure: it is collected once, and either alone would have
    # collected it, so neither is decisive (D = 0 for both).
    state = _state([[1, 0], [1, 2]], [[1, 1], [4, 4]])
    np.testing.assert_allclose(_difference(small_env, state, [RIGHT, LEFT]), [0.0, 0.0], atol=1e-5)
    # An agent that stays anyway changes nothing: D = 0; its partner collects (+10).
    state = _state([[3, 3], [0, 3]], [[0, 4], [4, 0]])
    np.testing.assert_allclose(_difference(small_env, state, [STAY, RIGHT]), [0.0, 10.0], atol=1e-5)
    # Two treasures collected by two agents on one step: each is credited with its own.
    state = _state([[0, 0], [4, 4]], [[0, 1], [4, 3]])
    np.testing.assert_allclose(
        _difference(small_env, state, [RIGHT, LEFT]), [10.0, 10.0], atol=1e-5
    )


def test_counterfactual_actions_replace_one_agent_each():
    rows = np.asarray(mappo.counterfactual_actions(jnp.asarray([UP, RIGHT, DOWN]), STAY))
    np.testing.assert_array_equal(rows, [[STAY, RIGHT, DOWN], [UP, STAY, DOWN], [UP, RIGHT, STAY]])


# --- reuse of PPO's pieces ---------------------------------------------------------------------


def test_update_targets_bootstrap_truncation_from_the_final_observation():
    """MAPPO's targets, checked by a plain GAE loop: each agent's value of the final observation
    at a time limit, nothing after an episode that ended in success (a true end)."""
    config = mappo.Config(
        num_envs=4,
        num_steps=12,
        total_timesteps=48,
        num_minibatches=2,
        gamma=0.9,
        gae_lambda=0.8,
        env_kwargs={**SMALL, "max_steps_in_episode": 5},
    )
    setup = mappo.make_setup(config)
    state = mappo.make_init(config)(KEY)
    got = jax.jit(make_collect(config, setup))(state, config.hparams(), jax.random.key(5))
    batch = jax.tree.map(np.asarray, got.batch)
    T, B, n = 12, 4, setup.num_agents

    def values(obs, global_state):  # [M, N, D], [M, G] -> [M * N]
        inputs = critic_value_inputs(config, state, obs, global_state)
        return np.asarray(group_values(setup, state.params["critic"], inputs), np.float64)

    value = values(batch.obs.reshape(T * B, n, -1), batch.global_state.reshape(T * B, -1))
    final = values(batch.final_obs.reshape(T * B, n, -1), batch.final_global.reshape(T * B, -1))
    following = values(np.asarray(got.next_obs["obs"]), np.asarray(got.next_obs["global"]))
    per_agent = lambda x: np.repeat(x[..., None], n, axis=-1).reshape(T, B * n)
    assert batch.truncated.any() and batch.terminated.any()  # both kinds of end are in the rollout
    _, targets = hand_gae(
        batch.reward.reshape(T, B * n) * config.reward_scale,
        value.reshape(T, B * n),
        following.reshape(B * n),
        final.reshape(T, B * n),
        per_agent(batch.terminated),
        per_agent(batch.truncated),
        0.9,
        0.8,
    )
    np.testing.assert_allclose(np.asarray(got.targets), targets, rtol=1e-5, atol=1e-5)


def test_one_ppo_loss_per_parameter_group(monkeypatch):
    calls = []
    real = ppo_update.ppo_loss
    monkeypatch.setattr(ppo_update, "ppo_loss", lambda *a, **k: calls.append(1) or real(*a, **k))
    config = mappo.Config(
        env_id="Tag-v0", num_envs=2, num_steps=4, total_timesteps=8, num_minibatches=1
    )
    state = jax.eval_shape(mappo.make_init(config), KEY)
    jax.eval_shape(mappo.make_update_chunk(config, 1), state)  # traces, compiles nothing
    assert len(calls) == 2  # Tag's chasers and evaders


# --- critic inputs and parameter groups --------------------------------------------------------


def _first_kernel_rows(params):
    return params["params"]["MLP_0"]["Dense_0"]["kernel"].shape[0]


@pytest.mark.parametrize("critic", mappo.CRITICS)
def test_critic_input_is_the_global_state_when_centralised(critic):
    config = mappo.Config(critic=critic, env_kwargs=SMALL)
    env, params = rljax.make("TreasureHunt-v0", **SMALL)
    obs = jnp.arange(2 * 4, dtype=jnp.float32).reshape(2, 4)
    global_state = -jnp.arange(env.global_state_size(params), dtype=jnp.float32)
    x = np.asarray(mappo.critic_inputs(config, obs, global_state))
    n = env.num_agents
    assert x.shape[0] == n
    np.testing.assert_array_equal(x[:, -n:], np.eye(n))  # the one-hot agent id
    if critic == "centralised":
        np.testing.assert_array_equal(
            x[:, :-n], np.broadcast_to(global_state, (n, len(global_state)))
        )
    else:
        np.testing.assert_array_equal(x[:, :-n], obs)
    state = jax.eval_shape(mappo.make_init(config), KEY)
    (critic_params,) = state.params["critic"]
    (actor_params,) = state.params["actor"]
    width = env.global_state_size(params) if critic == "centralised" else env.obs_dim
    assert _first_kernel_rows(critic_params) == width + n
    assert _first_kernel_rows(actor_params) == env.obs_dim + n  # actors see their own obs


def test_per_agent_parameters_and_per_team_policies():
    shared = jax.eval_shape(mappo.make_init(mappo.Config(env_kwargs=SMALL)), KEY)
    assert len(shared.params["actor"]) == len(shared.params["critic"]) == 1
    own = jax.eval_shape(
        mappo.make_init(mappo.Config(share_parameters=False, env_kwargs=SMALL)), KEY
    )
    assert len(own.params["actor"]) == len(own.params["critic"]) == 2
    assert _first_kernel_rows(own.params["actor"][0]) == 4  # no agent id without sharing

    tag_config = mappo.Config(env_id="Tag-v0", env_kwargs={"num_chasers": 2, "num_evaders": 2})
    groups = mappo.parameter_groups(
        tag_config, rljax.make("Tag-v0", num_chasers=2, num_evaders=2)[0]
    )
    assert [g.tolist() for g in groups] == [[0, 1], [2, 3]]  # one policy per team
    tag = jax.eval_shape(mappo.make_init(tag_config), KEY)
    assert len(tag.params["actor"]) == 2


def test_groups_route_each_agent_to_its_own_parameters():
    class Mixed:
        num_agents = 3
        team_of_agent = np.asarray([1, 0, 1])

    config = mappo.Config(env_kwargs=SMALL)
    groups = mappo.parameter_groups(config, Mixed())
    assert [g.tolist() for g in groups] == [[1], [0, 2]]
    setup = mappo.Setup(*([None] * 7), groups, np.argsort(np.concatenate(groups)), None, None)
    x = jnp.arange(2 * 3 * 1, dtype=jnp.float32).reshape(2, 3, 1)
    out = mappo.per_group(setup, lambda p, xi: xi[..., 0] * p, (10.0, 100.0), x, -1)
    np.testing.assert_array_equal(out, x[..., 0] * jnp.asarray([100.0, 10.0, 100.0]))


def test_multi_agent_view_keeps_the_global_state_across_auto_reset():
    env, params = rljax.make("TreasureHunt-v0", **SMALL)
    venv = rljax.VecEnv(MultiAgentView(env), 3)
    # Truncate every episode after one step: the final observation is the pre-reset one.
    short = params.replace(max_steps_in_episode=1)
    action = jnp.full((3, 2), STAY, jnp.int32)

    @jax.jit
    def run(key):
        obs, state = venv.reset(key, params)
        stepped = jax.vmap(
            lambda s: env.global_state(env.step(KEY, s, action[0], short)[1], short)
        )(state.env_state)
        return obs, stepped, venv.step(KEY, state, action, short)

    obs, stepped, (next_obs, next_state, reward, _, truncated, info) = run(KEY)
    assert obs["obs"].shape == (3, 2, 4) and obs["global"].shape == (3, env.global_state_size())
    assert bool(truncated.all())
    np.testing.assert_array_equal(info["final_obs"]["global"], stepped)
    np.testing.assert_array_equal(info["agent_reward"], np.full((3, 2), -0.1, np.float32))
    np.testing.assert_array_equal(reward, info["agent_reward"][:, 0])
    assert int(next_state.env_state.time[0]) == 0  # reset


def test_run_episodes_with_the_greedy_heuristic():
    env, params = rljax.make("TreasureHunt-v0", **SMALL)
    from rljax.envs.treasure_hunt import greedy_actions

    result = jax.jit(
        lambda key: run_episodes(env, params, lambda k, s, o: greedy_actions(s, params), key, 64)
    )(KEY)
    summary = episode_summary(result)
    assert summary["success_rate"] == 1.0
    assert 1.0 <= summary["mean_steps"] < 10.0
    # The team return is the episode's reward sum: 2 treasures, no bumps, a step cost per step.
    np.testing.assert_allclose(
        result["team_return"], 20.0 - 0.1 * np.asarray(result["length"]), rtol=1e-5
    )


# --- training: learning, determinism, chunking ---------------------------------------------------

# 2 agents, 5 x 5, 2 treasures: solved within 64 k steps by MAPPO with shared credit.
LEARN = mappo.Config(
    num_envs=32,
    num_steps=16,
    total_timesteps=32 * 16 * 120,
    num_minibatches=2,
    env_kwargs=SMALL,
)


@pytest.fixture(scope="module")
def learned():
    """``(result,)`` of one seed of :data:`LEARN`. (Its wall time is a benchmark's business:
    ``benchmarks/multiagent_learning.py`` reports it, compile time apart.)"""
    return (jax.jit(mappo.make_train(LEARN))(jax.random.key(3)),)


def test_learns_small_treasure_hunt(learned):
    """Greedy evaluation of the trained policy: every episode solved, fast.

    The untrained policy (the same seed's initial parameters) scores success 0.18 and a mean
    length over all episodes of 82.7 steps (a failure lasts the 100-step limit); trained, 1.0 and
    3.8. (The training-time ``success_rate`` is no test: finished episodes are mostly successes
    even for an untrained policy, 0.91, because failures take the whole limit to finish.)
    """
    (result,) = learned
    metrics = {k: np.asarray(v) for k, v in result.metrics.items()}
    assert set(metrics) == set(mappo.METRIC_NAMES)
    assert all(v.shape == (LEARN.num_updates,) for v in metrics.values())
    np.testing.assert_array_equal(metrics["env_steps"], np.arange(1, 121) * 512)
    figures = episode_summary(
        jax.jit(mappo.make_evaluate(LEARN, 256))(result.state, jax.random.key(9))
    )
    assert figures["success_rate"] >= 0.95, figures
    assert figures["mean_length"] < 8.0, figures  # over all episodes, failures included
    assert np.nanmean(metrics["episode_length"][-10:]) < 8.0


def test_evaluation_hooks(learned):
    state = learned[0].state
    key = jax.random.key(9)
    figures = mappo.evaluate_policy(LEARN, state, 64, key, 50)
    assert figures["returns"].dtype == np.float64 and figures["returns"].shape == (64,)
    assert figures["lengths"].shape == (64,)
    # The same figures as make_evaluate's greedy and sampled episodes from the same key.
    greedy = episode_summary(jax.jit(mappo.make_evaluate(LEARN, 64, True, 50))(state, key))
    sampled = episode_summary(jax.jit(mappo.make_evaluate(LEARN, 64, False, 50))(state, key))
    assert figures["success_rate"] == greedy["success_rate"] >= 0.9
    assert figures["mean_steps"] == greedy["mean_steps"]
    np.testing.assert_allclose(figures["returns"].mean(), greedy["mean_return"], rtol=1e-6)
    assert figures["sampled"] == sampled
    length, trajectory = mappo.record_episode(LEARN, state, jax.random.split(key, 64)[0], 50)
    assert length == figures["lengths"][0]
    assert trajectory["actions"].shape == trajectory["rewards"].shape == (50, 2)
    np.testing.assert_array_equal(trajectory["active"], np.arange(50) < length)


@pytest.fixture(scope="module")
def initial_state():
    return jax.jit(mappo.make_init(LEARN))(jax.random.key(3))


def test_chunked_equals_one_shot_bitwise(learned, initial_state):
    one_shot = learned[0]
    chunk = jax.jit(mappo.make_update_chunk(LEARN, LEARN.num_updates // 2))
    state, metrics = initial_state, []
    for _ in range(2):
        state, m = chunk(state)
        metrics.append(m)
    for x, y in zip(jax.tree.leaves(one_shot.state), jax.tree.leaves(state), strict=True):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(x, y)
    for name in mappo.METRIC_NAMES:
        joined = np.concatenate([m[name] for m in metrics])
        np.testing.assert_array_equal(joined, one_shot.metrics[name])


def test_rollout_learns_from_difference_rewards(initial_state):
    """The rewards a difference-credit rollout stores are difference_rewards of its steps."""
    config = dataclasses.replace(LEARN, credit="difference")  # same init as LEARN
    env, params = rljax.make("TreasureHunt-v0", **SMALL)

    @jax.jit
    def run(state):
        (_, _), batch = mappo.make_rollout(config)(state, jax.random.key(1))
        states, action = state.env_state.env_state, batch.action[0]  # the first step
        expected = jax.vmap(lambda s, a: mappo.difference_rewards(env, params, KEY, s, a))(
            states, action
        )
        shared = jax.vmap(lambda s, a: env.step(KEY, s, a, params)[2])(states, action)
        return batch.reward[0], expected, shared

    stored, expected, shared = run(initial_state)
    np.testing.assert_allclose(stored, expected, atol=1e-6)
    assert not np.allclose(stored, shared)  # some agent bumped or stepped idle
