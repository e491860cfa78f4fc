"""ConnectFour-v0 against pgx's connect_four, move by move, over 10 000 random games."""

import jax
import jax.numpy as jnp
import numpy as np
import pgx
import pytest
from board_game_harness import assert_same_as_pgx, game_endings, lockstep, play_moves
from jax.experimental import checkify

import rljax
from rljax.envs.connect_four import ConnectFour

NUM_GAMES = 10_000
NUM_PLIES = 44  # a full board is 42 moves; two more step finished games
EPS_ILLEGAL = 0.3  # in half the games, a move is drawn over all columns with this probability

# A drawn game (found by random play): 42 moves, no four in a row.
DRAW = [5, 5, 5, 0, 5, 4, 4, 6, 6, 3, 5, 1, 3, 5, 2, 1, 2, 3, 0, 4, 1]
DRAW += [4, 3, 0, 2, 2, 2, 1, 0, 0, 0, 2, 1, 6, 1, 3, 4, 4, 3, 6, 6, 6]


@pytest.fixture(scope="module")
def env():
    return ConnectFour()


@pytest.fixture(scope="module")
def play(env):
    return jax.jit(env.play)


@pytest.fixture(scope="module")
def lockstep_results(env):
    run = jax.jit(lockstep(env, pgx.make("connect_four"), NUM_GAMES, NUM_PLIES, EPS_ILLEGAL))
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
    assert np.sum(legal_end & (final[:, 1] == 1)) >= 1000  # second player wins
    assert np.sum(legal_end & (final == 0).all(-1)) >= 1  # draws


@pytest.mark.parametrize(
    "moves, winner",
    [
        ([0, 1, 0, 1, 0, 1, 0], 0),  # vertical
        ([0, 0, 1, 1, 2, 2, 3], 0),  # horizontal, bottom row
        ([0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3], 0),  # diagonal rising to the right
        ([6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3], 0),  # diagonal rising to the left
        ([0, 1, 2, 1, 2, 1, 3, 1], 1),  # the second player, vertical
        ([0, 3, 2, 2, 1, 0, 1, 1, 0, 6, 6, 0], 1),  # the second player, diagonal
    ],
)
def test_wins_in_every_direction(env, play, moves, winner):
    states = play_moves(play, env, moves)
    assert not any(bool(s.terminated) for s in states[:-1])
    final = states[-1]
    assert bool(final.terminated)
    expected = np.array([1.0, -1.0] if winner == 0 else [-1.0, 1.0], np.float32)
    np.testing.assert_array_equal(final.rewards, expected)
    assert bool(final.legal_action_mask.all())
    for s in states[:-1]:
        np.testing.assert_array_equal(s.rewards, np.zeros(2, np.float32))


def test_full_board_is_a_draw(env, play):
    states = play_moves(play, env, DRAW)
    assert not any(bool(s.terminated) for s in states[:-1])
    final = states[-1]
    assert bool(final.terminated)
    np.testing.assert_array_equal(final.rewards, np.zeros(2, np.float32))
    assert int(final.step_count) == 42
    assert (np.asarray(env.board(final)) != 0).all()
    # Before the last move only the last column had room.
    np.testing.assert_array_equal(states[-2].legal_action_mask, np.arange(7) == DRAW[-1])


def test_stones_drop_to_the_lowest_empty_cell(env, play):
    state = play_moves(play, env, [3, 3, 4])[-1]
    board = np.zeros((6, 7), np.int8)
    board[5, 3], board[4, 3], board[5, 4] = 1, -1, 1
    np.testing.assert_array_equal(env.board(state), board)
    # Player 1 to move: its stones first.
    obs = np.asarray(env.observe(state))
    np.testing.assert_array_equal(obs[..., 0], board == -1)
    np.testing.assert_array_equal(obs[..., 1], board == 1)
    assert obs.dtype == np.float32 and obs.shape == (6, 7, 2)


def test_illegal_move_loses_and_is_reported(env):
    env_, params = rljax.make("ConnectFour-v0")
    assert env_ == env
    step = jax.jit(env.step)
    _, state = env.reset(jax.random.key(0), params)
    for _ in range(6):  # fill column 0
        _, state, reward, terminated, _, info = step(jax.random.key(0), state, jnp.int32(0))
        assert not info["illegal_action"] and not terminated
    assert not bool(state.legal_action_mask[0])
    mover = int(state.current_player)
    before = state
    obs, state, reward, terminated, truncated, info = step(jax.random.key(0), state, jnp.int32(0))
    assert bool(info["illegal_action"]) and bool(terminated) and not bool(truncated)
    assert float(reward[mover]) == -1.0 and float(reward[1 - mover]) == 1.0
    np.testing.assert_array_equal(state.stones, before.stones)  # nothing was played
    assert bool(state.legal_action_mask.all())
    # A finished game no longer moves: no rewards, no illegal flag, nothing changes.
    for action in range(7):
        _, after, reward, terminated, _, info = step(jax.random.key(0), state, jnp.int32(action))
        assert bool(terminated) and not bool(info["illegal_action"])
        np.testing.assert_array_equal(reward, np.zeros(2, np.float32))
        np.testing.assert_array_equal(after.stones, state.stones)
        assert int(after.current_player) == int(state.current_player)
        assert int(after.step_count) == int(state.step_count)


def test_stepping_a_won_game_changes_nothing(env, play):
    won = play_moves(play, env, [0, 1, 0, 1, 0, 1, 0])[-1]
    after, illegal = play(won, jnp.int32(1))
    assert not bool(illegal)
    np.testing.assert_array_equal(after.rewards, np.zeros(2, np.float32))
    for field in ("stones", "current_player", "legal_action_mask", "terminated", "step_count"):
        np.testing.assert_array_equal(getattr(after, field), getattr(won, field))


def test_error_mode_raises_through_checkify():
    env, _ = rljax.make("ConnectFour-v0", illegal_action="error")
    play = jax.jit(checkify.checkify(env.play))
    state = env.init()
    for _ in range(6):
        err, (state, _) = play(state, jnp.int32(2))
        err.throw()  # legal: no error
    err, _ = play(state, jnp.int32(2))
    with pytest.raises(Exception, match="illegal action 2"):
        err.throw()
    err, _ = play(state, jnp.int32(9))  # outside the board
    with pytest.raises(Exception, match="illegal action 9"):
        err.throw()


def test_bad_illegal_action_mode_is_a_value_error():
    with pytest.raises(ValueError, match="bogus"):
        rljax.make("ConnectFour-v0", illegal_action="bogus")


def test_render_ansi(env, play):
    state = play_moves(play, env, [3, 3, 4])[-1]
    text = env.render_ansi(state, color=False)
    assert text.splitlines() == [
        ". . . . . . .",
        ". . . . . . .",
        ". . . . . . .",
        ". . . . . . .",
        ". . . O . . .",
        ". . . X X . .",
        "0 1 2 3 4 5 6",
    ]
    assert "\033[" in env.render_ansi(state)


def test_spaces_and_mirror(env):
    params = env.default_params
    assert env.observation_space(params).shape == (6, 7, 2)
    assert env.action_space(params).n == 7
    board = np.arange(42).reshape(6, 7)
    np.testing.assert_array_equal(env.mirror(jnp.asarray(board), axis=1), board[:, ::-1])
