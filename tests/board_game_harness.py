"""Shared harness of the board-game tests: our game and pgx's stepped in lockstep.

Imported by tests/test_tic_tac_toe.py and tests/test_connect_four.py (pytest puts this folder on
``sys.path``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def sample_legal(key: jax.Array, legal: jax.Array) -> jax.Array:
    """A uniform legal action per row of ``legal [B, A]``."""
    count = legal.sum(axis=-1)
    pick = jax.random.randint(key, count.shape, 0, jnp.maximum(count, 1))
    return jnp.argmax(jnp.cumsum(legal, axis=-1) > pick[:, None], axis=-1).astype(jnp.int32)


def lockstep(env, pgx_env, num_games: int, num_plies: int, eps_illegal: float):
    """``key -> (checks, events)`` playing our game and pgx's on the same random moves.

    Our player 0 is pgx's first mover (the player id of pgx's initial ``current_player``), so
    rewards and the player to move are compared through that mapping. ``checks`` holds per-ply
    booleans ``[T + 1, B]`` (ply 0 is the initial state) that must all be ``True``.
    """

    def compare(ours, theirs, first, after_illegal):
        pgx_rewards = jnp.where(first[:, None] == 1, theirs.rewards[:, ::-1], theirs.rewards)
        obs = jax.vmap(env.observe)(ours)
        same_obs = (obs == theirs.observation.astype(jnp.float32)).all(axis=(1, 2, 3))
        same_player = ours.current_player == (theirs.current_player ^ first)
        # pgx plays an illegal move onto the board and passes the turn before ending the game;
        # we leave the board as it was, so position and mover are compared up to that move.
        return {
            "legal_action_mask": (ours.legal_action_mask == theirs.legal_action_mask).all(-1),
            "terminated": ours.terminated == theirs.terminated,
            "rewards": (ours.rewards == pgx_rewards).all(-1),
            "observation": same_obs | after_illegal,
            "current_player": same_player | after_illegal,
        }

    def run(key):
        key_init, key_play = jax.random.split(key)
        ours = jax.vmap(lambda _: env.init())(jnp.arange(num_games))
        theirs = jax.vmap(pgx_env.init)(jax.random.split(key_init, num_games))
        first = theirs.current_player
        eps = jnp.where(jnp.arange(num_games) < num_games // 2, 0.0, eps_illegal)
        no_illegal = jnp.zeros(num_games, bool)

        def body(carry, key):
            ours, theirs, after_illegal = carry
            key_legal, key_any, key_which = jax.random.split(key, 3)
            action = jnp.where(
                jax.random.uniform(key_which, (num_games,)) < eps,
                jax.random.randint(key_any, (num_games,), 0, env.num_actions),
                sample_legal(key_legal, ours.legal_action_mask),
            )
            was_done = ours.terminated
            ours, illegal = jax.vmap(env.play)(ours, action)
            theirs = jax.vmap(pgx_env.step)(theirs, action)
            after_illegal = after_illegal | illegal
            events = {
                "illegal": illegal,
                "ended": ours.terminated & ~was_done,
                "rewards": ours.rewards,
            }
            return (ours, theirs, after_illegal), (
                compare(ours, theirs, first, after_illegal),
                events,
            )

        checks0 = compare(ours, theirs, first, no_illegal)
        _, (checks, events) = jax.lax.scan(
            body, (ours, theirs, no_illegal), jax.random.split(key_play, num_plies)
        )
        checks = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), checks0, checks)
        return checks, events

    return run


def play_moves(play, env, moves):
    state = env.init()
    states = [state]
    for move in moves:
        state, illegal = play(state, jnp.int32(move))
        assert not illegal
        states.append(state)
    return states


def assert_same_as_pgx(checks: dict) -> None:
    """Fails naming the first field, ply and game where ``lockstep``'s checks found a mismatch."""
    for field, ok in checks.items():
        if not ok.all():
            ply, game = np.argwhere(~ok)[0]
            pytest.fail(
                f"{field} differs from pgx in {np.sum(~ok)} places, first ply {ply} game {game}"
            )


def game_endings(events: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(final rewards [B, 2], ended on an illegal move [B])``; checks each game ends once."""
    ended = events["ended"]
    assert ended.any(axis=0).all(), "every game ends within the plies played"
    assert (ended.sum(axis=0) == 1).all()
    final = (events["rewards"] * ended[..., None]).sum(axis=0)
    illegal = events["illegal"].any(axis=0)
    assert (final.sum(axis=-1) == 0).all()  # zero-sum
    assert (np.abs(final[illegal]).sum(-1) == 2).all()  # illegal: mover -1, other +1
    return final, illegal
