"""Batched matches between two players of a two-player board game.

A player is ``act(key, states) -> int32 [B]`` over a batch of game states (the agent's and the
baselines' signature, :mod:`rljax.games.baselines`). A batch of games runs in one compiled
``while_loop``: each ply, both players are called on the full batch and each game takes the move
of the player whose turn it is; finished games stand still. Players must therefore accept
finished states (the game ignores their move). A match plays each colour as its own batch, the two
side by side on a multi-core CPU.

    result = match(env, uct_player(env, 1000), random_player(env), jax.random.key(0), 200)
    result["score"], result["ci95"]

:func:`score_outcomes` tallies any outcomes ``[G]`` (wins, draws, losses, score, Wilson interval).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rljax.envs.board_game import BoardGame
from rljax.games.player_contract import Player


def play_colours(
    env: BoardGame, player_a: Player, player_b: Player, key: jax.Array, a_first: jax.Array
) -> jax.Array:
    """Outcomes from ``a``'s view, int32 ``[G]``, for games where ``a`` moves first iff
    ``a_first [G]``."""
    num_games = a_first.shape[0]
    states = jax.vmap(lambda _: env.init())(jnp.arange(num_games))
    play = jax.vmap(env.play)

    def body(carry):
        states, key, reward_first = carry
        key, key_a, key_b = jax.random.split(key, 3)
        move_a = player_a(key_a, states)
        move_b = player_b(key_b, states)
        a_to_move = (states.current_player == 0) == a_first
        action = jnp.where(a_to_move, move_a, move_b).astype(jnp.int32)
        after, _ = play(states, action)
        # the final move's reward, by player id: +1 to the winner (an illegal move loses);
        # finished games are stepped again with zero rewards, so it is kept when it comes
        ends = after.terminated & ~states.terminated
        reward_first = jnp.where(ends, after.rewards[:, 0], reward_first)
        return after, key, reward_first

    carry = (states, key, jnp.zeros(num_games, jnp.float32))
    _, _, reward_first = jax.lax.while_loop(lambda c: ~c[0].terminated.all(), body, carry)
    return jnp.where(a_first, reward_first, -reward_first).astype(jnp.int32)


@functools.lru_cache(maxsize=32)
def _runner(env: BoardGame, player_a: Player, player_b: Player):
    """The compiled match program for a pair of players (kept, so repeated matches between the
    same player objects compile once per number of games)."""
    return jax.jit(lambda key, a_first: play_colours(env, player_a, player_b, key, a_first))


def play_games(
    env: BoardGame, act_first: Player, act_second: Player, key: jax.Array, num_games: int
) -> jax.Array:
    """Plays ``num_games`` games, ``act_first`` always moving first (player 0).

    Returns int32 ``[num_games]``: ``+1`` where the first player won, ``0`` for a draw, ``-1``
    where it lost (an illegal move loses, by the game's rule).
    """
    if num_games < 1:
        raise ValueError(f"num_games={num_games} is invalid: allowed >= 1")
    return _runner(env, act_first, act_second)(key, jnp.ones(num_games, bool))


def wilson_interval(score: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion ``score`` observed over ``n`` trials."""
    if n == 0:
        return 0.0, 1.0
    denom = 1.0 + z * z / n
    centre = (score + z * z / (2 * n)) / denom
    half = z * math.sqrt(score * (1.0 - score) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def score_outcomes(outcomes: Any) -> dict[str, Any]:
    """Wins, draws, losses, score and its 95 % Wilson interval from outcomes ``[G]`` (1, 0, -1)."""
    games = len(outcomes)
    wins, draws = int((outcomes == 1).sum()), int((outcomes == 0).sum())
    score = (wins + 0.5 * draws) / games
    low, high = wilson_interval(score, games)
    return {
        "games": games,
        "wins": wins,
        "draws": draws,
        "losses": games - wins - draws,
        "score": score,
        "ci_low": low,
        "ci_high": high,
    }


def play_both_colours(runner: Any, key: jax.Array, num_games: int) -> np.ndarray:
    """Outcomes ``[num_games]`` from ``a``'s view: ``a`` first in the first ``ceil(n / 2)``.

    ``runner(key, a_first [G])`` plays a batch (a compiled :func:`play_colours`).
    The two colours are two batches of the same size (one compiled program; an odd count plays
    one extra game that is dropped) with their own keys, so the games are the same on any machine;
    on a multi-core CPU they run side by side (XLA:CPU runs one such program on about one core).
    """
    from rljax import multicore

    half = (num_games + 1) // 2
    keys = jax.random.split(key)
    calls = [
        functools.partial(runner, keys[0], jnp.ones(half, bool)),
        functools.partial(runner, keys[1], jnp.zeros(half, bool)),
    ]
    if multicore.default_workers() > 1:
        first, second = multicore.run_parallel(calls)
    else:
        first, second = (call() for call in calls)
    return np.concatenate([np.asarray(first), np.asarray(second)[: num_games - half]])


def match(
    env: BoardGame, player_a: Player, player_b: Player, key: jax.Array, num_games: int
) -> dict[str, Any]:
    """``player_a`` against ``player_b`` over ``num_games`` games, colours alternated.

    ``a`` moves first in the first ``ceil(num_games / 2)`` games and second in the rest; each
    colour's games run in one batch, the two batches side by side on a multi-core CPU. Returns a
    dict from ``a``'s view: ``wins``, ``draws``, ``losses`` (ints), ``games``, ``score``
    (``(wins + draws / 2) / games``), ``ci95`` (a 95 % Wilson score
    interval on ``score``, treating it as a binomial proportion over ``games``; draws make the
    true variance smaller, so the interval is conservative), ``first`` / ``second`` (the
    wins, draws, losses with ``a`` moving first / second) and ``outcomes`` (int32
    ``[num_games]``, ``+1`` win, ``0`` draw, ``-1`` loss, in the order above).
    """
    if num_games < 1:
        raise ValueError(f"num_games={num_games} is invalid: allowed >= 1")
    outcomes = play_both_colours(_runner(env, player_a, player_b), key, num_games)
    first = np.arange(num_games) < (num_games + 1) // 2

    def tally(o):
        return {
            "wins": int((o == 1).sum()),
            "draws": int((o == 0).sum()),
            "losses": int((o == -1).sum()),
        }

    result = tally(outcomes)
    score = (result["wins"] + 0.5 * result["draws"]) / num_games
    return {
        **result,
        "games": num_games,
        "score": score,
        "ci95": wilson_interval(score, num_games),
        "first": tally(outcomes[first]),
        "second": tally(outcomes[~first]),
        "outcomes": outcomes,
    }
