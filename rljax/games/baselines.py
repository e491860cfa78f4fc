"""Baseline players for the k-in-a-row board games (Tic-Tac-Toe, Connect Four).

Three classic opponents, written as batched, jittable JAX functions with the agent's signature::

    act = uct_player(env, num_simulations=1000)
    actions = act(key, states)          # states: BoardGameState with batch [B]; int32 [B]

- :func:`random_player`: uniform over the legal moves.
- :func:`uct_player` (:mod:`rljax.games.uct`): UCT, the classic Monte Carlo tree search with
  random rollouts (UCB1 selection, expansion of one untried move, a uniformly random playout to
  the end of the game, backup), one tree per game, all games searched in lockstep.
- :func:`alphabeta_player` (:mod:`rljax.games.minimax`): depth-limited minimax (negamax) with a
  window-count heuristic; exact perfect play for Tic-Tac-Toe through a solved table
  (:func:`solve_tictactoe`, :mod:`rljax.games.tictactoe_solver`).

Every player takes ``(key, states)`` with ``states`` a batch of
:class:`~rljax.envs.board_game.BoardGameState` (``stones [B, 2, rows]``...) and returns legal
int32 actions ``[B]`` (:data:`Player`, :mod:`rljax.games.player_contract`). Finished games in
the batch are allowed (an arena steps all games at once); their action is some
legal-by-convention move that the game ignores. :func:`make_player` builds one by name.

The searches run on :class:`LeanBoard` (:mod:`rljax.games.lean_board`), bitboard kernels that
never build an observation. This module keeps the registry and re-exports the players and their
constants, so ``baselines.uct_player(...)`` and the like work from here.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from rljax.envs.board_game import BoardGame, BoardGameState
from rljax.games.lean_board import CENTER_WEIGHT, WINDOW_WEIGHTS, LeanBoard
from rljax.games.minimax import NEG_INF, WIN_SCORE, alphabeta_player, minimax_values
from rljax.games.player_contract import Player, check_env
from rljax.games.tictactoe_solver import solve_tictactoe, tictactoe_key
from rljax.games.uct import MAX_UCT_SIMULATIONS, most_visited, uct_player

__all__ = [
    "BASELINES",
    "CENTER_WEIGHT",
    "LeanBoard",
    "MAX_UCT_SIMULATIONS",
    "NEG_INF",
    "Player",
    "WINDOW_WEIGHTS",
    "WIN_SCORE",
    "alphabeta_player",
    "make_player",
    "minimax_values",
    "most_visited",
    "random_player",
    "solve_tictactoe",
    "tictactoe_key",
    "uct_player",
]


def random_player(env: BoardGame) -> Player:
    """A player that moves uniformly at random among the legal moves.

    ``act(key, states) -> int32 [B]``: the argmax of i.i.d. uniforms over the legal entries of
    ``states.legal_action_mask [B, A]``, which is a uniform legal move.
    """
    check_env(env)

    def act(key: jax.Array, states: BoardGameState) -> jax.Array:
        noise = jax.random.uniform(key, states.legal_action_mask.shape)
        return jnp.argmax(jnp.where(states.legal_action_mask, noise, -1.0), -1).astype(jnp.int32)

    return act


BASELINES: dict[str, Callable[..., Player]] = {
    "random": random_player,
    "uct": uct_player,
    "alphabeta": alphabeta_player,
}


def make_player(name: str, env: BoardGame, **kwargs) -> Player:
    """A baseline by name (``"random"``, ``"uct"``, ``"alphabeta"``) with its keyword options."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}: allowed {sorted(BASELINES)}")
    return BASELINES[name](env, **kwargs)
