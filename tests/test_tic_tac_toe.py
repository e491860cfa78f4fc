"""TicTacToe-v0 against pgx's tic_tac_toe, move by move, over 10 000 random games."""

import jax
import jax.numpy as jnp
import numpy as np
import pgx
import pytest
from board_game_harness import assert_same_as_pgx, game_endings, lockstep, play_moves
from jax.experimental import checkify

import rljax
from rljax.envs.tic_tac_toe import TicTacToe

NUM_GAMES = 10_000
NUM_PLIES = 11  # a full board is 9 moves; two more step finished games
EPS_ILLEGAL = 0.1  # in half the games, a move is drawn over all cells with this probability


@pytest.fixture(scope="module")
def env():
    return TicTacToe()


@pytest.fixture(scope="module")
def play(env):
    return jax.jit(env.play)


@pytest.fixture(scope="module")
def lockstep_results(env):
    run = jax.jit(lockstep(env, pgx.make("tic_tac_toe"), NUM_GAMES, NUM_PLIES, EPS_ILLEGAL))
    checks, events = run(jax.random.key(0))
    return jax.tree.map(np.asarray, checks), jax.tree.map(np.asarray, events)


def test_matches_pgx_move_by_move(lockstep_results):
    assert_same_as_pgx(lockstep_results[0])


def test_random_games_cover_every_ending(lockstep_results):
    final, illegal = game_endings(lockstep_results[1])  # [B, 2], [B]
    assert NUM_GAMES >= 10_000
    assert np.sum(illegal) >= 500
    assert not illegal[: NUM_GAMES // 2].any()
    legal_end = ~illegal
    assert np.sum(legal_end & (final[:, 0] == 1)) >= 1000  # first player wins
    assert np.sum(legal_end & (final[:, 1] == 1)) >= 500  # second player wins
    assert np.sum(legal_end & (final == 0).all(-1)) >= 500  # draws


@pytest.mark.parametrize(
    "moves, winner",
    [
        ([0, 3, 1, 4, 2], 0),  # top row
        ([1, 0, 4, 2, 7], 0),  # middle column
        ([0, 1, 4, 2, 8], 0),  # diagonal
        ([2, 0, 4, 1, 6], 0),  # anti-diagonal
        ([0, 6, 1, 7, 5, 8], 1),  # the second player, bottom row
        ([0, 2, 1, 4, 8, 6], 1),  # the second player, anti-diagonal
    ],
)
def test_wins(env, play, moves, winner):
    states = play_moves(play, env, moves)
    assert not any(bool(s.terminated) for s in states[:-1])
    final = states[-1]
    assert bool(final.terminated)
    expected = np.array([1.0, -1.0] if winner == 0 else [-1.0, 1.0], np.float32)
    np.testing.assert_array_equal(final.rewards, expected)
    assert bool(final.legal_action_mask.all())


def test_full_board_is_a_draw(env, play):
    states = play_moves(play, env, [0, 1, 2, 4, 3, 5, 7, 6, 8])
    assert not any(bool(s.terminated) for s in states[:-1])
    final = states[-1]
    assert bool(final.terminated)
    np.testing.assert_array_equal(final.rewards, np.zeros(2, np.float32))
    np.testing.assert_array_equal(
        env.board(final), np.array([[1, -1, 1], [1, -1, -1], [-1, 1, 1]], np.int8)
    )


def test_observation_is_from_the_side_to_move(env, play):
    state = play_moves(play, env, [4, 0, 8])[-1]  # X: 4, 8; O: 0; O to move
    obs = np.asarray(env.observe(state))
    assert obs.dtype == np.float32 and obs.shape == (3, 3, 2)
    np.testing.assert_array_equal(obs[..., 0].reshape(-1), np.arange(9) == 0)
    np.testing.assert_array_equal(obs[..., 1].reshape(-1), np.isin(np.arange(9), [4, 8]))
    np.testing.assert_array_equal(state.legal_action_mask, ~np.isin(np.arange(9), [0, 4, 8]))


def test_illegal_move_loses_and_is_reported(env):
    step = jax.jit(env.step)
    _, state = env.reset(jax.random.key(0))
    for action in (4, 0):
        _, state, *_ = step(jax.random.key(0), state, jnp.int32(action))
    before = state
    _, state, reward, terminated, truncated, info = step(jax.random.key(0), state, jnp.int32(4))
    assert bool(info["illegal_action"]) and bool(terminated) and not bool(truncated)
    np.testing.assert_array_equal(reward, np.array([-1.0, 1.0], np.float32))  # player 0 moved
    np.testing.assert_array_equal(state.stones, before.stones)
    assert bool(state.legal_action_mask.all())
    # A finished game no longer moves: no rewards, no illegal flag, nothing changes.
    for action in range(9):
        _, after, reward, terminated, _, info = step(jax.random.key(0), state, jnp.int32(action))
        assert bool(terminated) and not bool(info["illegal_action"])
        np.testing.assert_array_equal(reward, np.zeros(2, np.float32))
        np.testing.assert_array_equal(after.stones, state.stones)
        assert int(after.current_player) == int(state.current_player)


def test_stepping_a_finished_game_changes_nothing(env, play):
    won = play_moves(play, env, [0, 3, 1, 4, 2])[-1]
    after, illegal = play(won, jnp.int32(8))
    assert not bool(illegal)
    np.testing.assert_array_equal(after.rewards, np.zeros(2, np.float32))
    for field in ("stones", "current_player", "legal_action_mask", "terminated", "step_count"):
        np.testing.assert_array_equal(getattr(after, field), getattr(won, field))


def test_error_mode_raises_through_checkify():
    env, _ = rljax.make("TicTacToe-v0", illegal_action="error")
    play = jax.jit(checkify.checkify(env.play))
    err, (state, _) = play(env.init(), jnp.int32(4))
    err.throw()  # legal: no error
    err, _ = play(state, jnp.int32(4))
    with pytest.raises(Exception, match="illegal action 4"):
        err.throw()


def test_bad_illegal_action_mode_is_a_value_error():
    with pytest.raises(ValueError, match="illegal_action"):
        rljax.make("TicTacToe-v0", illegal_action="bogus")


def test_render_ansi(env, play):
    state = play_moves(play, env, [4, 0, 8])[-1]
    assert env.render_ansi(state, color=False) == "O 1 2\n3 X 5\n6 7 X"
    assert "\033[" in env.render_ansi(state)
