"""AlphaZero's self-play games, the search player and the arena gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rljax.games.search import GameModel
from rljax.train.alphazero.config import Config
from rljax.train.alphazero.learner import batched_init


def make_selfplay_group(config: Config, model: GameModel, env: Any):
    """``play(params, key) -> (positions, stats)``: one self-play group, ``Bg = selfplay_games /
    selfplay_groups`` whole games.

    ``positions`` holds ``obs [T, Bg, rows, cols, 2]``, ``policy [T, Bg, A]``, ``value [T, Bg]`` and
    ``valid [T, Bg]`` with ``T`` the most plies a game can take; ``stats`` are scalars.
    """
    B, T = config.selfplay_games // config.selfplay_groups, config.max_plies

    def play(params: Any, key: jax.Array):
        key, key_opening = jax.random.split(key)
        opening_plies = jax.random.randint(key_opening, (B,), 0, config.random_opening_plies + 1)
        states = batched_init(env, B)
        obs = jnp.zeros((T, B, env.rows, env.cols, 2), jnp.float32)
        policy = jnp.zeros((T, B, env.num_actions), jnp.float32)
        mover = jnp.zeros((T, B), jnp.int32)
        valid = jnp.zeros((T, B), bool)
        returns = jnp.zeros((B, 2), jnp.float32)

        def cond(carry):
            t, states = carry[0], carry[1]
            return (t < T) & ~jnp.all(states.terminated)

        def body(carry):
            t, states, obs, policy, mover, valid, returns = carry
            out = model.search(
                params,
                jax.random.fold_in(key, t),
                states,
                config.num_simulations,
                config.max_num_considered_actions,
                config.gumbel_scale,
            )
            action = out.action
            learn_from = ~states.terminated
            if config.random_opening_plies:
                opening = t < opening_plies
                uniform = jnp.where(states.legal_action_mask, 0.0, -jnp.inf)
                random_move = jax.random.categorical(jax.random.fold_in(key_opening, t), uniform)
                action = jnp.where(opening, random_move, action)
                learn_from = learn_from & ~opening
            obs = obs.at[t].set(model.observe(states))
            policy = policy.at[t].set(out.action_weights)
            mover = mover.at[t].set(states.current_player)
            valid = valid.at[t].set(learn_from)
            states = model.step(states, action)
            return t + 1, states, obs, policy, mover, valid, returns + states.rewards

        carry = (jnp.int32(0), states, obs, policy, mover, valid, returns)
        plies, states, obs, policy, mover, valid, returns = jax.lax.while_loop(cond, body, carry)
        value = jnp.take_along_axis(returns, mover.T, axis=1).T  # [T, B], mover's outcome
        stats = {
            "game_length": states.step_count.mean(),  # plies, random openings included
            "first_player_score": (returns[:, 0].mean() + 1.0) / 2.0,
            "draw_rate": (returns[:, 0] == 0).mean(),
            "selfplay_plies": plies,
        }
        return (obs, policy, value, valid), stats

    return play


def merge_groups(positions: tuple[jax.Array, ...], stats: dict[str, jax.Array]):
    """The self-play groups' outputs stacked on a leading ``[G]`` axis, as one batch of games.

    Returns ``positions`` flattened to ``[T * B, ...]`` in ply-major order (game ``g * Bg + j`` is
    group ``g``'s ``j``-th), as if all ``B`` games had been one group, and the stats over all games.
    """

    def flat(x: jax.Array) -> jax.Array:  # [G, T, Bg, ...] -> [T * G * Bg, ...]
        x = jnp.moveaxis(x, 0, 1)
        return x.reshape(x.shape[0] * x.shape[1] * x.shape[2], *x.shape[3:])

    merged = {name: value.mean() for name, value in stats.items()}  # equal group sizes
    merged["selfplay_plies"] = stats["selfplay_plies"].max()
    return tuple(flat(x) for x in positions), merged


def make_selfplay(config: Config, model: GameModel, env: Any):
    """``selfplay(params, key) -> (positions, stats)``: ``selfplay_games`` whole games, the
    ``selfplay_groups`` groups vmapped in one program.

    ``positions`` holds ``obs [T * B, rows, cols, 2]``, ``policy [T * B, A]``, ``value [T * B]`` and
    ``valid [T * B]`` with ``T`` the most plies a game can take (ply-major: row ``t * B + b``).
    """
    play = jax.vmap(make_selfplay_group(config, model, env), in_axes=(None, 0))

    def selfplay(params: Any, key: jax.Array):
        return merge_groups(*play(params, group_keys(key, config)))

    return selfplay


def make_search_player(
    model: GameModel, params: Any, num_simulations: int, gumbel_scale: float = 0.0
) -> Callable[[jax.Array, Any], jax.Array]:
    """``act(key, states [B]) -> actions int32 [B]`` by Gumbel MuZero search with ``params``.

    ``gumbel_scale=0`` makes the search deterministic (the usual choice at evaluation in
    perfect-information games); the gate keeps noise so its games differ.
    """

    def act(key: jax.Array, states: Any) -> jax.Array:
        out = model.search(params, key, states, num_simulations, gumbel_scale=gumbel_scale)
        return out.action.astype(jnp.int32)

    return act


def make_gate_games(config: Config, model: GameModel, env: Any):
    """``games(first, second, key) -> outcomes int32 [gate_games / 2]``: half of a gate.

    Both networks search with ``gate_simulations`` and root noise (so the games differ); ``first``
    always moves first. ``+1`` where it won, ``0`` a draw, ``-1`` a loss.
    """
    from rljax.games.arena import play_games

    def games(first: Any, second: Any, key: jax.Array) -> jax.Array:
        act_first = make_search_player(model, first, config.gate_simulations, gumbel_scale=1.0)
        act_second = make_search_player(model, second, config.gate_simulations, gumbel_scale=1.0)
        return play_games(env, act_first, act_second, key, config.gate_games // 2)

    return games


def gate_score(as_first: jax.Array, as_second: jax.Array) -> jax.Array:
    """The candidate's score in ``[0, 1]`` from the two halves' outcomes (first player's view)."""
    outcomes = jnp.concatenate([as_first, -as_second]).astype(jnp.float32)
    return (outcomes.mean() + 1.0) / 2.0


def make_gate(config: Config, model: GameModel, env: Any):
    """``gate(candidate, best, key) -> score`` of the candidate in ``[0, 1]`` over both colours."""
    games = make_gate_games(config, model, env)

    def gate(candidate: Any, best: Any, key: jax.Array) -> jax.Array:
        key_a, key_b = jax.random.split(key)
        return gate_score(games(candidate, best, key_a), games(best, candidate, key_b))

    return gate


def iteration_keys(key: jax.Array, config: Config):
    """One iteration's keys from the state's: ``(next key, self-play group keys [G], learning key,
    gate key)``."""
    key, key_play, key_learn, key_gate = jax.random.split(key, 4)
    return key, group_keys(key_play, config), key_learn, key_gate


def group_keys(key: jax.Array, config: Config) -> jax.Array:
    """``[G]`` keys for the self-play groups; one group plays with ``key`` itself (as runs did
    before groups existed, so they resume exactly)."""
    if config.selfplay_groups == 1:
        return key[None]
    return jax.random.split(key, config.selfplay_groups)
