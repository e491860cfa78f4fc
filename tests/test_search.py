"""The mctx glue: signs, rewards, terminal nodes and illegal moves, at the root and below it."""

import functools

import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest

from rljax.envs.connect_four import ConnectFour
from rljax.envs.tic_tac_toe import TicTacToe
from rljax.games.search import GameModel

LOWEST = np.finfo(np.float32).min
NUM_SIMULATIONS = 128
FAST_COMPILE = {"xla_backend_optimization_level": 0}
HUGE = 50.0  # an illegal move's logit: unmasked, it would take all the prior mass (e^50)


def illegal_cells(env, obs):
    """bool ``[B, A]``: the moves a position (observation ``[B, rows, cols, 2]``) forbids."""
    taken = obs.sum(-1) > 0
    if isinstance(env, TicTacToe):
        return taken.reshape(obs.shape[0], -1)
    return taken[:, 0, :]  # Connect Four: a full column has a stone in its top row


def param_net(env):
    """A network whose behaviour is its parameters, so one compiled search serves every case.

    Logits: ``params["illegal"]`` on each move the position forbids, ``params["slope"] * a`` on a
    legal move ``a``; value: ``params["value"]`` everywhere (from the side to move).
    """

    def apply(params, obs):
        legal_logits = params["slope"] * jnp.arange(env.num_actions, dtype=jnp.float32)
        logits = jnp.where(illegal_cells(env, obs), params["illegal"], legal_logits)
        return logits, jnp.full(obs.shape[0], params["value"])

    return apply


def net_params(illegal=0.0, slope=0.0, value=0.0):
    return {k: jnp.float32(v) for k, v in dict(illegal=illegal, slope=slope, value=value).items()}


UNIFORM = net_params()  # the dummy network: uniform logits, zero value
ILLEGAL_LOVING = net_params(illegal=HUGE, slope=0.1, value=0.25)


@functools.cache
def compiled_play(env):
    return jax.jit(env.play)


def position(env, moves):
    state = env.init()
    for move in moves:
        state, illegal = compiled_play(env)(state, jnp.int32(move))
        assert not illegal
    return state


def stack(*states):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


@functools.cache
def compiled_batch_play(env):
    def play(states, actions, keep):
        new, _ = jax.vmap(env.play)(states, actions)
        keep = keep | new.terminated  # stop short of the end of a game
        return jax.tree.map(
            lambda o, n: jnp.where(keep.reshape(-1, *(1,) * (n.ndim - 1)), o, n), states, new
        )

    return jax.jit(play)


def random_positions(env, seed, num, max_moves):
    """``num`` positions in play, 0..``max_moves`` uniform random legal moves into a game."""
    rng = np.random.default_rng(seed)
    states = stack(*[env.init()] * num)
    num_moves = rng.integers(0, max_moves + 1, num)
    for t in range(max_moves):
        legal = np.asarray(states.legal_action_mask)
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in legal], np.int32)
        states = compiled_batch_play(env)(states, actions, t >= num_moves)
    return states


# Positions with one winning move, and with one move that stops the opponent's immediate win.
# Tic-Tac-Toe: X (0, 1) against O (3, 4), X to move, wins at 2.
#              X (0, 8) against O (4, 2), X to move, must take 6 (O threatens 2-4-6).
# Connect Four: X has 0, 1, 2 on the bottom row, O above them: X wins at 3.
#               O has 0, 1, 2 on the bottom row, X has two in column 6 and one in 5: X blocks 3.
TACTICS = {
    "TicTacToe": (TicTacToe, [([0, 3, 1, 4], 2), ([0, 4, 8, 2], 6)]),
    "ConnectFour": (ConnectFour, [([0, 0, 1, 1, 2, 2], 3), ([6, 0, 6, 1, 5, 2], 3)]),
}


NETS = {"uniform": UNIFORM, "illegal_loving": ILLEGAL_LOVING}


@pytest.fixture(scope="module", params=list(TACTICS))
def game(request):
    """A game, its tactical positions (then random ones) and a search from them with each net."""
    cls, tactics = TACTICS[request.param]
    env = cls()
    rows = [position(env, moves) for moves, _ in tactics]
    randoms = random_positions(env, 0, 30, max_moves=2 * env.rows * env.cols // 3)
    states = jax.tree.map(lambda *xs: jnp.concatenate([jnp.stack(xs[:-1]), xs[-1]]), *rows, randoms)
    assert not bool(states.terminated.any())
    model = GameModel.for_env(env, param_net(env))
    search = jax.jit(lambda params, key, s: model.search(params, key, s, NUM_SIMULATIONS))
    # Runs twice on 32 positions: XLA's backend optimisations would cost more than they save.
    search = search.lower(UNIFORM, jax.random.key(1), states).compile(FAST_COMPILE)
    outputs = {name: search(params, jax.random.key(1), states) for name, params in NETS.items()}
    return {
        "env": env,
        "states": states,
        "best": np.array([best for _, best in tactics]),
        "outputs": outputs,
    }


@pytest.fixture(scope="module")
def ttt():
    return TicTacToe()


@pytest.fixture(scope="module")
def ttt_expand(ttt):
    model = GameModel.for_env(ttt, param_net(ttt))
    return jax.jit(model.recurrent_fn)


def test_recurrent_fn_credits_the_mover_and_stops_at_the_end(ttt, ttt_expand):
    x_can_win = position(ttt, [0, 3, 1, 4])  # X: 0 1 _ / O: 3 4 _
    o_can_win = position(ttt, [0, 3, 1, 4, 8])
    last_move = position(ttt, [0, 1, 2, 4, 3, 5, 7, 6])  # 8 fills the board: a draw
    states = stack(x_can_win, x_can_win, x_can_win, o_can_win, last_move)
    actions = jnp.array([2, 8, 0, 5, 8], jnp.int32)  # X wins, X plays on, illegal, O wins, draw
    for params in (UNIFORM, ILLEGAL_LOVING):
        out, children = ttt_expand(params, jax.random.key(0), actions, states)
        # Rewards belong to the mover: +1 for either player's winning move, -1 for an illegal one.
        np.testing.assert_array_equal(out.reward, [1.0, 0.0, -1.0, 1.0, 0.0])
        np.testing.assert_array_equal(children.terminated, [True, False, True, True, True])
        # Play goes on: discount -1 (the child's value is the other player's), the net's value.
        # A finished game: discount 0 and value 0, whatever the network says.
        np.testing.assert_array_equal(out.discount, [0.0, -1.0, 0.0, 0.0, 0.0])
        value = float(params["value"])
        np.testing.assert_array_equal(out.value, [0.0, value, 0.0, 0.0, 0.0])
        # Below the root, too, illegal moves sit at the lowest logit, whatever the network says.
        child_illegal = np.isin(np.arange(9), [0, 1, 3, 4, 8])
        logits = np.asarray(out.prior_logits[1])
        assert (logits[child_illegal] == LOWEST).all()
        assert (logits[~child_illegal] > -1e6).all()
        np.testing.assert_array_equal(children.legal_action_mask[1], ~child_illegal)


def test_recurrent_fn_connect_four_columns_close_below_the_root():
    env = ConnectFour()
    expand = jax.jit(GameModel.for_env(env, param_net(env)).recurrent_fn)
    five_in_column_0 = position(env, [0, 0, 0, 0, 0])  # O to move; 0 has one cell left
    x_can_win = position(env, [0, 4, 1, 4, 2, 4])  # X: 0 1 2 on the bottom row; O: three in 4
    o_can_win = position(env, [0, 4, 1, 4, 2, 4, 6])  # ... X looked away; O wins in column 4
    full_0 = position(env, [0, 0, 0, 0, 0, 0])
    states = stack(five_in_column_0, x_can_win, o_can_win, full_0)
    actions = jnp.array([0, 3, 4, 0], jnp.int32)
    out, _ = expand(ILLEGAL_LOVING, jax.random.key(0), actions, states)
    np.testing.assert_array_equal(out.reward, [0.0, 1.0, 1.0, -1.0])
    np.testing.assert_array_equal(out.discount, [-1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(out.value, [0.25, 0.0, 0.0, 0.0])
    # Column 0 filled up on the way down: masked at the new node, the other columns are not.
    logits = np.asarray(out.prior_logits[0])
    assert logits[0] == LOWEST and (logits[1:] > -1e6).all()


def test_root_masks_illegal_moves(ttt):
    model = GameModel.for_env(ttt, param_net(ttt))
    states = stack(position(ttt, [0, 3, 1, 4]), ttt.init())
    root = model.root(ILLEGAL_LOVING, states)
    illegal = ~np.asarray(states.legal_action_mask)
    logits = np.asarray(root.prior_logits)
    assert (logits[illegal] == LOWEST).all() and (logits[~illegal] > -1e6).all()
    np.testing.assert_array_equal(root.value, [0.25, 0.25])


def test_masking_keeps_the_legal_logits_apart_whatever_the_illegal_ones(ttt):
    model = GameModel.for_env(ttt, param_net(ttt))
    states = stack(position(ttt, [0, 3, 1, 4]))
    root = model.root(net_params(illegal=1e9, slope=0.1), states)
    legal = np.asarray(states.legal_action_mask[0])
    logits = np.asarray(root.prior_logits[0])
    expected = 0.1 * np.arange(9, dtype=np.float32)
    np.testing.assert_allclose(
        logits[legal] - logits[legal].max(), expected[legal] - expected[legal].max(), atol=1e-5
    )


@pytest.mark.parametrize("net", list(NETS))
def test_search_wins_and_blocks(game, net):
    out = game["outputs"][net]
    num = len(game["best"])
    np.testing.assert_array_equal(out.action[:num], game["best"])
    tree = out.search_tree
    # The winning move: reward +1 on the edge, nothing bootstrapped past it.
    root, win = mctx.Tree.ROOT_INDEX, game["best"][0]
    assert float(tree.children_rewards[0, root, win]) == 1.0
    assert float(tree.children_discounts[0, root, win]) == 0.0
    assert float(tree.qvalues(jnp.zeros(out.action.shape, jnp.int32))[0, win]) == 1.0


@pytest.mark.parametrize("net", list(NETS))
def test_search_never_visits_an_illegal_move(game, net):
    out = game["outputs"][net]
    assert_no_illegal_visits(out)
    legal = np.asarray(game["states"].legal_action_mask)
    assert legal[np.arange(len(legal)), np.asarray(out.action)].all()
    assert (np.asarray(out.action_weights)[~legal] == 0).all()


def assert_no_illegal_visits(out):
    """No edge of an illegal move is visited or expanded, at any node of a game still in play."""
    tree = out.search_tree
    expanded = np.asarray(tree.node_visits) > 0  # [B, N]
    in_play = ~np.asarray(tree.embeddings.terminated)  # a finished game's moves are all "legal"
    illegal = ~np.asarray(tree.embeddings.legal_action_mask)  # [B, N, A]
    checked = (expanded & in_play)[..., None] & illegal
    # The check has something to check: illegal moves at interior nodes, not only at the root.
    assert checked[:, 1:].sum() > 100
    # Masked where the tree keeps them, at every node: the network wanted these moves most.
    assert (np.asarray(tree.children_prior_logits)[checked] == LOWEST).all()
    visits = np.asarray(tree.children_visits)[checked]
    children = np.asarray(tree.children_index)[checked]
    assert (visits == 0).all(), f"{np.sum(visits > 0)} illegal edges visited"
    assert (children == mctx.Tree.UNVISITED).all()
