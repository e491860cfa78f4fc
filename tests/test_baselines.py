"""Baseline players (random, UCT, minimax) and the arena: legality, tactics, exact values, strength.

Minimax values are checked against a plain NumPy negamax with its own window count; the solved
Tic-Tac-Toe table against the JAX minimax searched to the end of the game. Strength: UCT (200
simulations) and depth-4 minimax against random play over 64 Connect Four games, perfect
Tic-Tac-Toe against random play from both sides and against itself.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.envs.connect_four import ConnectFour
from rljax.envs.tic_tac_toe import TicTacToe
from rljax.games import baselines, lean_board
from rljax.games.arena import match, play_games, score_outcomes, wilson_interval

C4 = ConnectFour()
TTT = TicTacToe()


_PLAY = {}


def play(env, state, move):
    """One move of one game, compiled once per env."""
    if env not in _PLAY:
        _PLAY[env] = jax.jit(env.play)
    return _PLAY[env](state, jnp.int32(move))


def position(env, moves):
    state = env.init()
    for m in moves:
        state, illegal = play(env, state, m)
        assert not illegal
    return state


def stack(states):
    return jax.tree.map(lambda *a: jnp.stack(a), *states)


def take(states, i):
    return jax.tree.map(lambda a: a[i], states)


def random_positions(env, rng, count, min_plies, max_plies):
    """Positions reached by uniformly random legal moves, none finished."""
    out = []
    while len(out) < count:
        state = env.init()
        for _ in range(rng.integers(min_plies, max_plies + 1)):
            legal = np.flatnonzero(np.asarray(state.legal_action_mask))
            nxt, _ = play(env, state, int(rng.choice(legal)))
            if bool(nxt.terminated):
                break
            state = nxt
        else:
            out.append(state)
    return stack(out)


# Connect Four tactics (columns 0..6; player 0 = X moves first).
WIN_NOW = [0, 0, 1, 1, 2, 2]  # X: bottom of 0, 1, 2; X to move wins at 3
BLOCK = [6, 0, 6, 1, 5, 2]  # O: bottom of 0, 1, 2; X to move must block at 3
BLOCK_VERTICAL = [0, 3, 1, 3, 0, 3]  # O: three up column 3; X to move must block at 3
WIN_VERTICAL = [0, 3, 1, 3, 0, 3, 6]  # the same after X's 6; O to move wins at 3
WIN_IN_2 = [2, 6, 3, 6]  # X: bottom of 2, 3; X at 1 or 4 makes an open three, a win at ply 3


def test_tactical_positions():
    assert np.asarray(C4.board(position(C4, WIN_NOW)))[5].tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert np.asarray(C4.board(position(C4, BLOCK)))[5].tolist() == [-1, -1, -1, 0, 0, 1, 1]
    state = position(C4, WIN_VERTICAL)
    assert int(state.current_player) == 1
    assert np.asarray(C4.board(state))[:, 3].tolist() == [0, 0, 0, -1, -1, -1]


# --- random ---------------------------------------------------------------------------------------
def test_random_player_is_legal_and_covers_every_legal_move():
    rng = np.random.default_rng(0)
    states = random_positions(C4, rng, 8, 20, 34)
    act = jax.jit(jax.vmap(baselines.random_player(C4), in_axes=(0, None)))
    moves = np.asarray(act(jax.random.split(jax.random.key(0), 400), states))  # [400, 8]
    legal = np.asarray(states.legal_action_mask)
    for g in range(8):
        assert legal[g, moves[:, g]].all()
        assert set(moves[:, g]) == set(np.flatnonzero(legal[g]))


# --- UCT ------------------------------------------------------------------------------------------
def test_uct_finds_wins_blocks_and_stays_legal():
    rng = np.random.default_rng(1)
    tactics = [WIN_NOW, BLOCK, BLOCK_VERTICAL, WIN_VERTICAL]
    late = random_positions(C4, rng, 12, 28, 38)  # some columns full
    states = stack([position(C4, m) for m in tactics] + [take(late, i) for i in range(12)])
    legal = np.asarray(states.legal_action_mask)
    assert not legal.all()
    stats = jax.jit(baselines.uct_player(C4, num_simulations=200).root_stats)
    for seed in range(3):
        seeds = jnp.arange(16, dtype=jnp.uint32) + 100 * seed
        visits, values = stats(seeds, states)
        moves = np.asarray(baselines.most_visited(visits, values, states.legal_action_mask))
        visits, values = np.asarray(visits), np.asarray(values)
        assert (visits.sum(-1) == 200).all()  # every simulation passes through the root
        assert (visits[~legal] == 0).all() and (np.abs(values) <= visits).all()
        assert moves[: len(tactics)].tolist() == [3, 3, 3, 3]
        assert legal[np.arange(len(moves)), moves].all()


def test_uct_chunks_and_playout_compaction_leave_results_unchanged():
    states = random_positions(TTT, np.random.default_rng(2), 10, 0, 4)
    seeds = jnp.arange(10, dtype=jnp.uint32)
    whole = baselines.uct_player(TTT, num_simulations=30).root_stats
    chunked = baselines.uct_player(TTT, num_simulations=30, chunk=4).root_stats  # 3 chunks, padded
    for a, b in zip(jax.jit(whole)(seeds, states), jax.jit(chunked)(seeds, states), strict=True):
        np.testing.assert_array_equal(a, b)

    board = baselines.LeanBoard(C4)
    n = 4 * lean_board.COMPACT_MIN
    x = [jnp.zeros(n, board.dtype) for _ in range(C4.rows)]
    zero = jnp.zeros(n, jnp.int32)
    first = jnp.full(n, 1 << 3, board.dtype)  # everyone opens in the centre

    def run(compact):
        seed = jnp.arange(n, dtype=jnp.uint32) * 7919
        return board.playout(x, zero, zero, first, seed, compact=compact)

    full, compacted = jax.jit(lambda: (run(False), run(True)))()
    np.testing.assert_array_equal(full, compacted)
    assert set(np.asarray(full).tolist()) <= {1, 2, 3} and len(set(np.asarray(full).tolist())) >= 2


def test_uct_rejects_bad_options():
    with pytest.raises(ValueError, match="num_simulations"):
        baselines.uct_player(C4, num_simulations=0)
    with pytest.raises(ValueError, match="num_simulations"):
        baselines.uct_player(C4, num_simulations=10**6)


# --- minimax ------------------------------------------------------------------------------------
def np_windows(rows, cols, k):
    """Flat cell indices ``[W, k]`` of every line of ``k`` cells on the board."""
    out = []
    for r, c, (dr, dc) in itertools.product(
        range(rows), range(cols), [(0, 1), (1, 0), (1, 1), (1, -1)]
    ):
        cells = [(r + i * dr, c + i * dc) for i in range(k)]
        if all(0 <= y < rows and 0 <= x < cols for y, x in cells):
            out.append([y * cols + x for y, x in cells])
    return np.array(out)


WINDOWS = {(6, 7, 4): np_windows(6, 7, 4), (3, 3, 3): np_windows(3, 3, 3)}


def np_heuristic(board, k, mover):
    """Window count from the mover's view on an int8 board (+1 player 0, -1 player 1)."""
    rows, cols = board.shape
    cells = board.reshape(-1)[WINDOWS[rows, cols, k]]
    n0, n1 = (cells == 1).sum(1), (cells == -1).sum(1)
    weights = np.array(baselines.WINDOW_WEIGHTS)
    score = int(weights[n0][n1 == 0].sum() - weights[n1][n0 == 0].sum())
    if cols % 2 == 1:
        score += baselines.CENTER_WEIGHT * int(board[:, cols // 2].sum())
    return score if mover == 0 else -score


def np_won(board, k, player):
    rows, cols = board.shape
    cells = board.reshape(-1)[WINDOWS[rows, cols, k]]
    return bool((cells == (1 if player == 0 else -1)).all(1).any())


def np_moves(board, gravity):
    rows, cols = board.shape
    if gravity:
        return [
            (max(r for r in range(rows) if board[r, c] == 0), c)
            for c in range(cols)
            if board[0, c] == 0
        ]
    return [(r, c) for r in range(rows) for c in range(cols) if board[r, c] == 0]


def np_negamax(board, k, gravity, mover, dist, remaining):
    if np_won(board, k, 1 - mover):
        return -(baselines.WIN_SCORE - dist)
    moves = np_moves(board, gravity)
    if not moves:
        return 0
    if remaining == 0:
        return np_heuristic(board, k, mover)
    best = None
    for r, c in moves:
        child = board.copy()
        child[r, c] = 1 if mover == 0 else -1
        v = -np_negamax(child, k, gravity, 1 - mover, dist + 1, remaining - 1)
        best = v if best is None else max(best, v)
    return best


def np_root_values(env, board, mover, depth):
    gravity = env.num_actions == env.cols
    out = np.full(env.num_actions, baselines.NEG_INF, np.int64)
    for r, c in np_moves(board, gravity):
        child = board.copy()
        child[r, c] = 1 if mover == 0 else -1
        out[c if gravity else r * env.cols + c] = -np_negamax(
            child, env.k, gravity, 1 - mover, 1, depth - 1
        )
    return out


@pytest.mark.parametrize("env_name,depth", [("c4", 3), ("ttt", 3)])
def test_minimax_values_match_numpy_negamax(env_name, depth):
    env = C4 if env_name == "c4" else TTT
    rng = np.random.default_rng(depth)
    hi = 30 if env is C4 else 5
    states = random_positions(env, rng, 5, 0, hi)
    ours = np.asarray(jax.jit(baselines.minimax_values(env, depth))(states))
    boards = np.asarray(env.board(states))
    for g in range(5):
        ref = np_root_values(env, boards[g], int(states.current_player[g]), depth)
        np.testing.assert_array_equal(ours[g], ref)


def test_alphabeta_finds_wins_in_one_and_two_blocks_and_breaks_ties():
    act, values_fn = baselines.alphabeta_player(C4, depth=4), baselines.minimax_values(C4, 4)
    run = jax.jit(jax.vmap(lambda key, states: (act(key, states), values_fn(states)), (0, None)))
    symmetric = [3, 3, 3, 3, 3, 3]  # centre column full: mirror moves have equal values
    tactics = (WIN_NOW, BLOCK, WIN_VERTICAL, WIN_IN_2, symmetric)
    moves, values = run(
        jax.random.split(jax.random.key(0), 64), stack([position(C4, m) for m in tactics])
    )
    values, moves = np.asarray(values[0]), np.asarray(moves)
    assert values[0, 3] == baselines.WIN_SCORE - 1
    assert values[3, 1] == values[3, 4] == baselines.WIN_SCORE - 3  # double threat, win at ply 3
    assert (values[1, [0, 1, 2, 4, 5, 6]] == -(baselines.WIN_SCORE - 2)).all()  # lose unless 3
    assert (moves[:, :3] == 3).all()
    assert set(moves[:, 3]) == {1, 4}
    np.testing.assert_array_equal(values[4], values[4, ::-1])
    best = set(np.flatnonzero(values[4] == values[4].max()))
    assert len(best) >= 2 and set(moves[:, 4]) == best  # every best move, and only those


def test_alphabeta_rejects_full_depth_connect_four():
    with pytest.raises(ValueError, match="depth=None"):
        baselines.alphabeta_player(C4, depth=None)


# --- Tic-Tac-Toe solved ---------------------------------------------------------------------------
def test_solved_tictactoe_values():
    values = baselines.solve_tictactoe()
    key = baselines.tictactoe_key
    assert values[key(np.zeros((3, 3)))] == 0  # the game is a draw
    assert values[key(np.array([0, -1, 0, 0, 1, 0, 0, 0, 0]))] == 1  # O met X's centre on an
    assert values[key(np.array([-1, 0, 0, 0, 1, 0, 0, 0, 0]))] == 0  # edge and loses; a corner
    assert values[key(np.array([1, 1, 1, -1, -1, 0, 0, 0, 0]))] == -1  # X has won; O to move
    assert values.shape == (3**9,)


def test_solved_tictactoe_agrees_with_full_depth_minimax():
    rng = np.random.default_rng(3)
    states = random_positions(TTT, rng, 8, 4, 4)  # 5 empty cells: minimax to the end
    values = baselines.solve_tictactoe()
    boards = np.asarray(TTT.board(states)).reshape(-1, 9)
    full = np.asarray(jax.jit(baselines.minimax_values(TTT, 5))(states))
    assert (np.abs(full[full > baselines.NEG_INF]) != 0).any()  # some games are decided
    for g in range(8):
        ours = full[g]
        mover = 1 if (boards[g] != 0).sum() % 2 == 0 else -1
        for m in np.flatnonzero(boards[g] == 0):
            child = boards[g].copy()
            child[m] = mover
            assert np.sign(ours[m]) == -values[baselines.tictactoe_key(child)]


def test_perfect_tictactoe_never_loses_and_draws_itself():
    perfect = baselines.alphabeta_player(TTT, depth=None)
    result = match(TTT, perfect, baselines.random_player(TTT), jax.random.key(0), 256)
    assert result["losses"] == 0
    assert result["wins"] >= 192  # random play loses most games
    outcomes = play_games(TTT, perfect, perfect, jax.random.key(1), 64)
    assert (np.asarray(outcomes) == 0).all()


# --- strength (Connect Four, 64 games, colours alternated) ---------------------------------------
def test_uct_beats_random():
    result = match(
        C4, baselines.uct_player(C4, 200), baselines.random_player(C4), jax.random.key(0), 64
    )
    assert result["wins"] >= 0.9 * 64, result


def test_alphabeta_beats_random():
    result = match(
        C4, baselines.alphabeta_player(C4, 4), baselines.random_player(C4), jax.random.key(0), 64
    )
    assert result["wins"] >= 0.95 * 64, result


# --- arena ----------------------------------------------------------------------------------------
def test_match_alternates_colours_and_tallies():
    def first_cell(key, states):
        return jnp.argmax(states.legal_action_mask, -1).astype(jnp.int32)

    # first-free-cell against itself: X takes 0, 2, 4, 6 and wins on the diagonal every game
    result = match(TTT, first_cell, first_cell, jax.random.key(0), 7)
    assert result["outcomes"].tolist() == [1, 1, 1, 1, -1, -1, -1]
    assert (result["wins"], result["draws"], result["losses"], result["games"]) == (4, 0, 3, 7)
    assert result["first"]["wins"] == 4 and result["second"]["losses"] == 3
    assert result["score"] == pytest.approx(4 / 7)
    lo, hi = result["ci95"]
    assert lo <= result["score"] <= hi


def test_wilson_interval():
    lo, hi = wilson_interval(0.5, 100)
    assert lo == pytest.approx(0.404, abs=1e-3) and hi == pytest.approx(0.596, abs=1e-3)
    assert (
        wilson_interval(1.0, 200)[1] == pytest.approx(1.0) and wilson_interval(1.0, 200)[0] > 0.98
    )


def test_score_outcomes_tallies_and_agrees_with_match():
    outcomes = np.array([1, 1, 0, -1, 1, 0, -1, -1, -1, 1], np.int32)
    result = score_outcomes(outcomes)
    assert (result["games"], result["wins"], result["draws"], result["losses"]) == (10, 4, 2, 4)
    assert result["score"] == pytest.approx(0.5)
    assert (result["ci_low"], result["ci_high"]) == wilson_interval(0.5, 10)

    def first_cell(key, states):
        return jnp.argmax(states.legal_action_mask, -1).astype(jnp.int32)

    played = match(TTT, first_cell, first_cell, jax.random.key(0), 7)
    scored = score_outcomes(played["outcomes"])
    assert scored["score"] == played["score"]
    assert (scored["ci_low"], scored["ci_high"]) == played["ci95"]
