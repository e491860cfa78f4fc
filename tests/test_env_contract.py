"""The environment contract, checked for every id in ``rljax.registered_ids()`` (after pgx's
api_test): what reset and step return fits the spaces, ``action_space.sample`` is accepted, jit and
vmap work, the flags are bool with truncation at the time limit, the same key gives the same
transition (and ``stochastic_step = False`` means the key is ignored), and ``make_vec``
auto-resets. Board games (two players, ``current_player`` and ``legal_action_mask`` in the state,
no time limit) are also played out on legal moves.

Kept cheap: a batch of 2, a time limit cut to 3 steps where there is one, and one compiled
program per environment and check, whose host results the tests share (``functools.cache``).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.board_game import BoardGame


def _is_test_fixture(env_id: str) -> bool:
    """Environments that test modules register (tests/toy_envs.py), not the library's or pgx's."""
    entry = rljax.env.registration(env_id).entry_point
    module = entry.split(":")[0] if isinstance(entry, str) else entry.__module__
    return module == "toy_envs" or module.startswith("test")


# Every registered id except the test fixtures (which module registers first depends on the
# order pytest collects test files in).
ENV_IDS = [env_id for env_id in rljax.registered_ids() if not _is_test_fixture(env_id)]
BATCH = 2
LIMIT = 3  # max_steps_in_episode, where the environment has one
STEPS = LIMIT + 1


def _limit(env_id: str) -> dict:
    """The ``make`` override that cuts the time limit to ``LIMIT``; ``{}`` if there is none."""
    _, params = rljax.make(env_id)
    fields = {f.name for f in dataclasses.fields(params)}
    return {"max_steps_in_episode": LIMIT} if "max_steps_in_episode" in fields else {}


def _env_rollout(env, params):
    """``(key, salt, params) -> outputs``: a vmapped rollout of ``STEPS`` random steps through
    ``env.reset``/``env.step``; ``salt`` changes the step keys only.

    Rows that ended are frozen (stepping a finished episode is undefined); ``alive [T, B]`` says
    which rows a step's outputs belong to.
    """
    obs_space, action_space = env.observation_space(params), env.action_space(params)
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout(key, salt, params):
        key_reset, key_run = jax.random.split(key)
        obs, state = reset(jax.random.split(key_reset, BATCH), params)

        def body(carry, key):
            obs, state, alive = carry
            key_act, key_step = jax.random.split(key)
            action = jax.vmap(action_space.sample)(jax.random.split(key_act, BATCH))
            step_keys = jax.random.split(jax.random.fold_in(key_step, salt), BATCH)
            next_obs, next_state, reward, terminated, truncated, info = step(
                step_keys, state, action, params
            )
            out = {
                "obs": next_obs,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "info": info,
                "action": action,
                "alive": alive,
                "obs_in_space": jax.vmap(obs_space.contains)(next_obs),
                "action_in_space": jax.vmap(action_space.contains)(action),
            }
            keep = lambda new, old: jnp.where(  # noqa: E731
                alive.reshape((-1,) + (1,) * (new.ndim - 1)), new, old
            )
            state = jax.tree.map(keep, next_state, state)
            obs = jax.tree.map(keep, next_obs, obs)
            return (obs, state, alive & ~(terminated | truncated)), out

        init = (obs, state, jnp.ones(BATCH, bool))
        _, outs = jax.lax.scan(body, init, jax.random.split(key_run, STEPS))
        return {"reset_obs": obs, "reset_obs_in_space": jax.vmap(obs_space.contains)(obs), **outs}

    return rollout


@functools.cache
def _probe(env_id: str) -> dict:
    """Host results of every check's rollout of ``env_id``, compiled as ONE program (compiling
    dominates) and run three times: twice with the same keys (``"first"``, ``"again"``), once with
    other step keys (``"other"``); ``"vec"`` and ``"board"`` (board games) from the first run."""
    limit = _limit(env_id)
    env, params = rljax.make(env_id, **limit)
    venv, vec_params = rljax.make_vec(env_id, BATCH, **limit)
    board = isinstance(env, BoardGame)
    env_rollout, vec_rollout = _env_rollout(env, params), _vec_rollout(venv)
    board_playout = _board_game_playout(env) if board else None

    def run(key, salt, params, vec_params):
        key_env, key_vec, key_board = jax.random.split(key, 3)
        out = {"env": env_rollout(key_env, salt, params), "vec": vec_rollout(key_vec, vec_params)}
        if board:
            out["board"] = board_playout(key_board, params)
        return out

    program = jax.jit(run)
    key = jax.random.key(7)
    first = jax.device_get(program(key, 0, params, vec_params))
    again = jax.device_get(program(key, 0, params, vec_params))
    other = jax.device_get(program(key, 1, params, vec_params))
    return {
        "env": env,
        "params": params,
        "has_limit": bool(limit),
        "first": first["env"],
        "again": again["env"],
        "other": other["env"],
        "vec": first["vec"],
        "board": first.get("board"),
    }


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_outputs_fit_the_spaces(env_id):
    probe = _probe(env_id)
    env, params, out = probe["env"], probe["params"], probe["first"]
    obs_space, action_space = env.observation_space(params), env.action_space(params)
    assert out["reset_obs"].shape == (BATCH, *obs_space.shape)
    assert out["reset_obs"].dtype == np.dtype(obs_space.dtype)
    assert out["reset_obs_in_space"].all()
    assert out["obs"].shape == (STEPS, BATCH, *obs_space.shape)
    assert out["obs"].dtype == np.dtype(obs_space.dtype)
    alive = out["alive"]
    assert (out["obs_in_space"] | ~alive).all(), "a step's observation left the space"
    assert out["action"].shape == (STEPS, BATCH, *action_space.shape)
    assert out["action"].dtype == np.dtype(action_space.dtype)
    assert out["action_in_space"].all(), "action_space.sample gave an action outside the space"
    reward = out["reward"]
    assert reward.shape == (STEPS, BATCH, *env.reward_shape(params))
    assert np.issubdtype(reward.dtype, np.floating)
    assert np.isfinite(reward[alive]).all()
    for name, leaf in jax.tree_util.tree_flatten_with_path(out["info"])[0]:
        assert leaf.shape[:2] == (STEPS, BATCH), f"info{jax.tree_util.keystr(name)}"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_flags_are_bool_and_truncation_is_at_the_time_limit(env_id):
    probe = _probe(env_id)
    out = probe["first"]
    terminated, truncated, alive = out["terminated"], out["truncated"], out["alive"]
    assert terminated.dtype == truncated.dtype == np.bool_
    assert terminated.shape == truncated.shape == (STEPS, BATCH)
    if not probe["has_limit"]:
        assert not truncated[alive].any(), "no time limit, yet truncated"
        return
    # Before the limit no row is truncated; at step LIMIT every row still going ends.
    assert not truncated[: LIMIT - 1][alive[: LIMIT - 1]].any()
    at_limit = alive[LIMIT - 1]
    assert truncated[LIMIT - 1][at_limit].all(), "not truncated at max_steps_in_episode"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_key_same_transition(env_id):
    probe = _probe(env_id)
    for a, b in zip(jax.tree.leaves(probe["first"]), jax.tree.leaves(probe["again"]), strict=True):
        np.testing.assert_array_equal(a, b)
    if not probe["env"].stochastic_step:
        # stochastic_step = False promises the step ignores its key: other keys, same steps.
        for a, b in zip(
            jax.tree.leaves(probe["first"]), jax.tree.leaves(probe["other"]), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_unbatched_jit_matches_the_vmapped_row():
    """jit without vmap, on one environment (the vmapped path is checked above for all)."""
    probe = _probe("CartPole-v1")
    env, params = probe["env"], probe["params"]
    key_env = jax.random.split(jax.random.key(7), 3)[0]
    key_reset = jax.random.split(key_env)[0]
    obs, _ = jax.jit(env.reset)(jax.random.split(key_reset, BATCH)[0], params)
    np.testing.assert_allclose(obs, probe["first"]["reset_obs"][0], rtol=1e-6)


def _vec_rollout(venv):
    """``(key, params) -> outputs``: the batch of ``make_vec`` stepped with random actions (a
    board game long enough for every game to end)."""
    env = venv.env
    steps = env.rows * env.cols + 1 if isinstance(env, BoardGame) else STEPS

    def rollout(key, params):
        obs_space, action_space = venv.observation_space(params), venv.action_space(params)
        key_reset, key_run = jax.random.split(key)
        _, state = venv.reset(key_reset, params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            action = action_space.sample_batch(key_act, BATCH)
            obs, state, _, terminated, truncated, info = venv.step(key_step, state, action, params)
            return state, {
                "obs_in_space": jax.vmap(obs_space.contains)(obs),
                "final_obs_in_space": jax.vmap(obs_space.contains)(info["final_obs"]),
                "done": terminated | truncated,
                "episode_done": info["episode_done"],
                "running_length": state.episode_length,
                "episode_length": info["episode_length"],
            }

        return jax.lax.scan(body, state, jax.random.split(key_run, steps))[1]

    return rollout


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_vec_auto_resets(env_id):
    probe = _probe(env_id)
    out = probe["vec"]
    done = out["done"]
    # Every episode ends within the rollout (time limit; a board game fills up or ends on an
    # illegal random move), and the finished envs start again at once.
    assert done.any(axis=0).all()
    np.testing.assert_array_equal(out["episode_done"], done)
    assert (out["running_length"][done] == 0).all()
    assert out["obs_in_space"].all() and out["final_obs_in_space"].all()
    if probe["has_limit"]:
        assert (out["episode_length"][done] <= LIMIT).all()
        assert (out["running_length"] < LIMIT).all()


def _board_game_playout(env):
    """``(key, params) -> outputs``: vmapped games of uniform legal moves through ``env.step``,
    to the end."""
    plies = env.rows * env.cols
    games = 4

    def play(key, params):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, games), params)

        def body(state, key):
            mask = state.legal_action_mask
            logits = jnp.where(mask, 0.0, -jnp.inf)
            action = jax.random.categorical(key, logits).astype(jnp.int32)
            before = state
            _, state, reward, terminated, truncated, info = jax.vmap(
                env.step, in_axes=(None, 0, 0, None)
            )(key, state, action, params)
            return state, {
                "mover": before.current_player,
                "next": state.current_player,
                "was_done": before.terminated,
                "mask": mask,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "illegal": info["illegal_action"],
            }

        return jax.lax.scan(body, state, jax.random.split(key, plies))[1]

    return play


@pytest.mark.parametrize("env_id", [e for e in ENV_IDS if isinstance(rljax.make(e)[0], BoardGame)])
def test_board_game_contract(env_id):
    out = _probe(env_id)["board"]
    playing = ~out["was_done"]
    assert out["mask"].dtype == np.bool_ and out["mover"].dtype == np.int32
    assert not out["illegal"].any(), "a move from legal_action_mask was called illegal"
    assert not out["truncated"].any(), "board games have no time limit"
    # Players alternate while the game goes on; it ends within rows * cols plies, once.
    ends = out["terminated"] & playing
    going = playing & ~ends
    np.testing.assert_array_equal(out["next"][going], 1 - out["mover"][going])
    assert (ends.sum(axis=0) == 1).all()
    assert set(np.unique(out["mover"])) <= {0, 1}
    # Rewards: by player id, zero-sum, only on the ending ply, +-1 or a draw.
    reward = out["reward"]
    assert reward.shape[-1] == 2
    np.testing.assert_array_equal(reward.sum(axis=-1), 0.0)
    assert (reward[~ends] == 0).all()
    assert set(np.unique(np.abs(reward[ends]))) <= {0.0, 1.0}
    # Once over, every action is legal (pgx's convention: the mask never goes empty).
    assert out["mask"][out["was_done"]].all()
