"""AlphaZero: config checks, replay, symmetry, self-play targets, and perfect Tic-Tac-Toe."""

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax import configs
from rljax.checkpoint import keys_to_data
from rljax.games.perfect_play import check_never_loses
from rljax.train import alphazero as az
from rljax.train.alphazero.learner import make_learn

# --- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("env_id", "CartPole-v1", "two-player board game"),
        ("network", "transformer", "mlp, resnet"),
        ("gate_games", 3, "even integer"),
        ("num_simulations", 0, ">= 1"),
        ("selfplay_groups", 3, "must divide selfplay_games=512"),
        ("selfplay_groups", 0, ">= 1"),
        ("replay_size", 100, "selfplay_games * max plies"),
        ("gate_threshold", 1.5, "[0, 1]"),
        ("lr", -1.0, "> 0"),
        ("lr_decay_iterations", -1, ">= 0"),
        ("lr_final_fraction", 1.5, "[0, 1]"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        az.Config(**{field: value})
    assert f"Config.{field}={value!r}" in str(error.value)


def test_config_round_trips_through_a_dict():
    config = az.Config(env_id="TicTacToe-v0", hidden_sizes=[32, 32], selfplay_games=8)
    assert az.Config.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown Config field"):
        az.Config.from_dict({**config.to_dict(), "bogus": 1})


def test_every_config_field_carries_its_help_and_none_is_a_leaf():
    helps = {f.name: f.metadata.get(configs.HELP) for f in dataclasses.fields(az.Config)}
    missing = [name for name, text in helps.items() if not text]
    assert not missing, missing
    assert configs.field_help(az.Config)["env_id"] == "two-player game (also --env)"
    assert configs.leaf_names(az.Config) == ()


def test_config_types_are_checked_before_the_rules():
    with pytest.raises(ValueError, match=re.escape("Config.num_simulations=1.5 is invalid")):
        az.Config(num_simulations=1.5)
    assert az.Config(hidden_sizes=[8, 8]).hidden_sizes == (8, 8)


def test_saved_configs_without_selfplay_groups_load_as_one_group():
    saved = az.Config(env_id="TicTacToe-v0", selfplay_games=8).to_dict()
    del saved["selfplay_groups"]  # written before the field existed
    assert az.Config.from_dict(saved).selfplay_groups == 1
    assert az.Config().selfplay_groups == 2
    assert az.Config.LEGACY_DEFAULTS == {"selfplay_groups": 1}


# --- replay and symmetry -----------------------------------------------------------------------


def _replay(size: int, rows: int = 3, cols: int = 3, actions: int = 9) -> az.Replay:
    return az.Replay(
        obs=jnp.zeros((size, rows, cols, 2)),
        policy=jnp.zeros((size, actions)),
        value=jnp.zeros(size),
        valid=jnp.zeros(size, bool),
        pointer=jnp.int32(0),
    )


def test_replay_compacts_valid_positions_and_wraps_around():
    replay = _replay(5)
    n = 4
    value = jnp.arange(1.0, n + 1)  # 1, 2, 3, 4
    valid = jnp.array([True, False, True, True])
    positions = (jnp.zeros((n, 3, 3, 2)), jnp.zeros((n, 9)), value, valid)
    replay = az.add_to_replay(replay, positions)
    # The three valid rows come first, in order; the pointer moves past them only.
    np.testing.assert_array_equal(replay.value[:3], [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(replay.valid[:3], [True, True, True])
    assert int(replay.pointer) == 3
    replay = az.add_to_replay(replay, (positions[0], positions[1], value + 10, valid))
    # Rows 3, 4 and then 0 (wrapped) hold the new valid positions; row 1 (padding) is invalid.
    np.testing.assert_array_equal(np.asarray(replay.value)[[3, 4, 0]], [11.0, 13.0, 14.0])
    assert int(replay.pointer) == 1
    assert not bool(replay.valid[1]) and bool(replay.valid[2])


def test_mirror_reflects_columns_of_both_games():
    c4, _ = rljax.make("ConnectFour-v0")
    ttt, _ = rljax.make("TicTacToe-v0")
    np.testing.assert_array_equal(az.mirror_policy(c4, jnp.arange(7.0)), jnp.arange(7.0)[::-1])
    np.testing.assert_array_equal(
        az.mirror_policy(ttt, jnp.arange(9.0)), [2, 1, 0, 5, 4, 3, 8, 7, 6]
    )


def test_learning_rate_decays_over_the_configured_iterations():
    config = az.Config(train_steps=10, lr=1e-3, lr_decay_iterations=20, lr_final_fraction=0.1)
    schedule = az.learning_rate(config)
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(100)) == pytest.approx(0.55e-3, rel=1e-5)  # half way: cosine midpoint
    assert float(schedule(200)) == pytest.approx(1e-4, rel=1e-5)
    assert float(schedule(10_000)) == pytest.approx(1e-4, rel=1e-5)  # held after the decay
    assert az.learning_rate(az.Config(lr_decay_iterations=0, lr=3e-4)) == 3e-4


# --- self-play ---------------------------------------------------------------------------------

TINY = az.Config(
    env_id="TicTacToe-v0",
    hidden_sizes=(16,),
    selfplay_games=16,
    num_simulations=4,
    replay_size=16 * 9,
    batch_size=16,
    train_steps=2,
    gate_every=2,
    gate_games=4,
    gate_simulations=2,
    num_iterations=2,
    random_opening_plies=2,
)


def test_selfplay_targets_are_game_outcomes_from_the_movers_view():
    env, network, model = az.setup(TINY)
    state = az.make_init(TINY)(jax.random.key(0))
    positions, stats = jax.jit(az.make_selfplay(TINY, model, env))(
        state.best_params, jax.random.key(1)
    )
    obs, policy, value, valid = (np.asarray(x).reshape(9, 16, *x.shape[1:]) for x in positions)
    openings = []
    for b in range(16):
        played = np.flatnonzero(valid[:, b])
        # Learned-from positions are one block after the random opening (0..2 random moves).
        assert played.size and (np.diff(played) == 1).all()
        openings.append(played[0])
        v = value[played, b]
        assert set(np.unique(v)) <= {-1.0, 0.0, 1.0}
        np.testing.assert_array_equal(v[1:], -v[:-1])  # zero-sum, movers alternate
        # Policy targets are distributions over the legal moves of that position.
        p = policy[played, b]
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
        occupied = obs[played, b].sum(-1).reshape(-1, 9) > 0
        assert (p[occupied] == 0).all()
        # The position count matches the board: stones on it = moves played before it.
        np.testing.assert_array_equal(obs[played, b].sum((1, 2, 3)), played)
    assert set(openings) == {0, 1, 2}  # every opening length occurs among 16 games
    assert 5 <= float(stats["game_length"]) <= 9  # a game takes 5 to 9 moves


@pytest.fixture(scope="module")
def tiny_iterations():
    """Two TINY iterations as one program: ``(state, metrics)``."""
    state = az.make_init(TINY)(jax.random.key(0))
    return jax.jit(az.make_iterations(TINY, 2))(state)


def test_iterations_run_and_report_finite_losses(tiny_iterations):
    state, metrics = tiny_iterations
    assert int(state.iteration) == 2
    assert np.isfinite(np.asarray(metrics["policy_loss"])).all()
    gate = np.asarray(metrics["gate_score"])
    assert np.isnan(gate[0]) and 0.0 <= gate[1] <= 1.0  # the gate runs every 2nd iteration


def test_az_loss_by_hand():
    """Weighted cross entropy to the search policy plus squared error to the outcome; positions
    of weight 0 (invalid replay slots) count for nothing."""
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [9.0, -9.0, 0.0]], np.float32)
    predicted = np.array([0.5, -0.2, 0.9], np.float32)
    network = type("Fixed", (), {"apply": staticmethod(lambda params, obs: (logits, predicted))})
    policy = np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0], [0.3, 0.3, 0.4]], np.float32)
    value = np.array([1.0, -1.0, 0.0], np.float32)
    weight = np.array([1.0, 1.0, 0.0], np.float32)
    total, (policy_loss, value_loss) = az.az_loss(network, None, None, policy, value, weight)
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    cross_entropy = -(policy * log_softmax).sum(-1)
    np.testing.assert_allclose(policy_loss, cross_entropy[:2].mean(), rtol=1e-6)
    np.testing.assert_allclose(value_loss, ((predicted - value) ** 2)[:2].mean(), rtol=1e-6)
    np.testing.assert_allclose(total, policy_loss + value_loss, rtol=1e-6)
    # No valid position at all: zero losses, not a division by zero.
    _, (empty_policy, empty_value) = az.az_loss(network, None, None, policy, value, 0 * weight)
    assert float(empty_policy) == float(empty_value) == 0.0


def test_the_resnet_network_trains_on_replayed_positions():
    """The resnet option (the GPU choice): policy logits ``[B, 9]`` and values ``[B]`` in
    ``[-1, 1]`` for boards ``[B, 3, 3, 2]``, and the learner's steps fit a batch of positions."""
    config = dataclasses.replace(
        TINY, network="resnet", channels=8, num_blocks=1, train_steps=200, batch_size=64, lr=3e-3
    )
    env, network, _ = az.setup(config)
    state = az.make_init(config)(jax.random.key(0))
    kernels = [x for x in jax.tree.leaves(state.params) if x.ndim == 4]  # [3, 3, in, out] convs
    assert kernels, "a resnet has convolution kernels"
    size = state.replay.valid.shape[0]
    rng = np.random.default_rng(0)
    obs = (rng.random((size, 3, 3, 2)) < 0.3).astype(np.float32)
    policy = rng.dirichlet(np.ones(9), size).astype(np.float32)
    replay = state.replay.replace(
        obs=jnp.asarray(obs),
        policy=jnp.asarray(policy),
        value=jnp.asarray(np.sign(obs[..., 0].sum((1, 2)) - obs[..., 1].sum((1, 2)))),
        valid=jnp.ones(size, bool),
    )
    logits, value = network.apply(state.params, replay.obs[:5])
    assert logits.shape == (5, 9) and value.shape == (5,)
    assert (np.abs(np.asarray(value)) <= 1.0).all()
    params, _, losses = jax.jit(make_learn(config, network, env))(
        state.params, state.opt_state, replay, jax.random.key(1)
    )
    assert np.isfinite(float(losses["policy_loss"])) and np.isfinite(float(losses["value_loss"]))
    whole = lambda p: az.az_loss(network, p, replay.obs, replay.policy, replay.value, replay.valid)
    before, after = float(whole(state.params)[1][1]), float(whole(params)[1][1])
    assert after < 0.8 * before, (before, after)  # the value head fits the replayed outcomes


def _bits(tree):
    return [np.asarray(x).tobytes() for x in jax.tree.leaves(keys_to_data(tree))]


def test_parallel_iterations_match_the_one_program_bit_for_bit(tiny_iterations):
    # The CLI on a multi-core CPU plays the self-play groups and gate halves side by side as
    # separate programs; a run must not depend on which path ran it (resume on another machine).
    state = az.make_init(TINY)(jax.random.key(0))
    run = az.ParallelIterations(TINY, 2)
    run.compile(state)
    ours, metrics = run(state)
    reference, reference_metrics = tiny_iterations
    assert _bits(ours) == _bits(reference)
    assert set(metrics) == set(reference_metrics)
    for name, value in metrics.items():
        np.testing.assert_array_equal(value, np.asarray(reference_metrics[name]), err_msg=name)
    assert np.isfinite(metrics["gate_score"][1])  # the gate ran, side by side
    with pytest.raises(ValueError, match="num_iterations=0"):
        az.ParallelIterations(TINY, 0)


def test_selfplay_groups_are_one_batch_of_games_in_play_order():
    env, _, model = az.setup(TINY)
    params = az.make_init(TINY)(jax.random.key(0)).best_params
    key = jax.random.key(4)
    positions, stats = az.make_selfplay(TINY, model, env)(params, key)
    group_keys = jax.random.split(key, TINY.selfplay_groups)
    play = az.make_selfplay_group(TINY, model, env)
    groups = [play(params, k) for k in group_keys]
    # Game g * 8 + j of the batch is game j of group g, ply-major like one group of 16 games.
    obs = np.asarray(positions[0]).reshape(9, 16, 3, 3, 2)
    for g, (group_positions, _) in enumerate(groups):
        np.testing.assert_array_equal(obs[:, g * 8 : (g + 1) * 8], group_positions[0])
    lengths = [float(s["game_length"]) for _, s in groups]
    np.testing.assert_allclose(float(stats["game_length"]), np.mean(lengths), rtol=1e-6)
    assert int(stats["selfplay_plies"]) == max(int(s["selfplay_plies"]) for _, s in groups)


# --- learning: perfect Tic-Tac-Toe -------------------------------------------------------------

TICTACTOE = az.Config(
    env_id="TicTacToe-v0",
    hidden_sizes=(128, 128),
    selfplay_games=256,
    num_simulations=32,
    replay_size=50_000,
    batch_size=256,
    train_steps=64,
    gate_every=5,
    gate_games=64,
    gate_simulations=16,
    gate_threshold=0.5,  # near-perfect players draw: at 0.55 a better candidate rarely passes
    random_opening_plies=3,  # see positions after odd replies, which perfect play must answer
    num_iterations=60,
)


@pytest.fixture(scope="module")
def tictactoe_agent():
    result = jax.jit(az.make_train(TICTACTOE))(jax.random.key(0))
    env, _, model = az.setup(TICTACTOE)
    return env, model, result


def test_tictactoe_agent_never_loses_against_any_line_of_play(tictactoe_agent):
    env, model, result = tictactoe_agent
    assert int(np.asarray(result.metrics["best_replaced"]).sum()) >= 1
    act = az.make_search_player(model, result.params, num_simulations=64)
    report = check_never_loses(env, act)
    assert report.games > 100  # every opponent reply was explored
    assert report.never_loses, f"lost lines (side, moves): {report.losses[:5]}"


def test_perfect_play_check_catches_a_player_that_can_lose():
    env, _ = rljax.make("TicTacToe-v0")

    def first_legal(key, states):  # takes the lowest free cell: easy to beat
        return jnp.argmax(states.legal_action_mask, axis=-1).astype(jnp.int32)

    report = check_never_loses(env, first_legal)
    assert not report.never_loses
    side, moves = report.losses[0]
    state = env.init()
    for move in moves:
        state, illegal = env.play(state, jnp.int32(move))
        assert not bool(illegal)
    assert bool(state.terminated) and float(state.rewards[side]) == -1.0


def test_config_is_a_frozen_dataclass():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TICTACTOE.lr = 1.0  # type: ignore[misc]
