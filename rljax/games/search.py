"""Glue between two-player games and mctx: the environment is the search's model.

AlphaZero searches with the true rules, so mctx's ``recurrent_fn`` steps the game itself and only
asks the network for a prior and a value at the new node. What has to be right, and is tested:

- **Signs.** Values are from the side to move. After a move the other player is to move, so every
  edge has ``discount = -1``: mctx backs up ``reward + discount * value(child)``, which turns the
  child's value into the parent mover's view.
- **Rewards** are credited to the player who made the move (``rewards[mover]``), so a winning move
  is worth ``+1`` to the node where it was chosen.
- **Terminal nodes** get ``discount = 0`` and ``value = 0``: nothing is bootstrapped past the end of
  a game, whatever the network says about a finished board.
- **Illegal moves** are masked at every node, not only at the root: the prior logits of illegal
  moves are set to the lowest float, so interior selection never walks into them. (A terminal
  state's mask is all ``True`` by the game convention; its children are never expanded anyway,
  since the value there is not bootstrapped.)

A game here is anything with ``current_player [B]``, ``legal_action_mask [B, A]``,
``rewards [B, 2]`` and ``terminated [B]`` on its state, plus a step and an observation function;
rljax's board games and pgx's games both qualify (the benchmark runs the same search over both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import mctx

# (params, observations [B, ...]) -> (prior logits [B, A], value [B] in [-1, 1], mover's view)
ApplyFn = Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]


def mask_logits(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """Logits ``[B, A]`` with illegal entries at the lowest float.

    The largest *legal* logit is shifted to 0 first (a softmax-invariant shift that keeps exp()
    in range); taking the maximum over legal moves only matters when the network puts a huge
    logit on an illegal move, which would otherwise push every legal logit to the same -1e9.
    """
    shift = jnp.max(jnp.where(legal, logits, -jnp.inf), axis=-1, keepdims=True)
    shift = jnp.where(jnp.isfinite(shift), shift, 0.0)  # no legal move: leave as is
    return jnp.where(legal, logits - shift, jnp.finfo(logits.dtype).min)


class GameModel:
    """A game and a policy-value network as mctx's ``root_fn``/``recurrent_fn``.

    Args:
        step: ``(state, action) -> state`` for one game (vmapped here).
        observe: ``state -> observation`` for one game, from the side to move (vmapped here).
        apply_fn: the network; see :data:`ApplyFn`.
    """

    def __init__(
        self,
        step: Callable[[Any, jax.Array], Any],
        observe: Callable[[Any], jax.Array],
        apply_fn: ApplyFn,
    ):
        self.step = jax.vmap(step)
        self.observe = jax.vmap(observe)
        self.apply_fn = apply_fn

    @classmethod
    def for_env(cls, env: Any, apply_fn: ApplyFn) -> GameModel:
        """The model of an rljax board game (:class:`rljax.envs.board_game.BoardGame`)."""
        return cls(lambda s, a: env.play(s, a)[0], env.observe, apply_fn)

    def root(self, params: Any, states: Any) -> mctx.RootFnOutput:
        """The search root for a batch of (non-terminal) game states."""
        logits, value = self.apply_fn(params, self.observe(states))
        return mctx.RootFnOutput(
            prior_logits=mask_logits(logits, states.legal_action_mask),
            value=value,
            embedding=states,
        )

    def recurrent_fn(
        self, params: Any, key: jax.Array, action: jax.Array, states: Any
    ) -> tuple[mctx.RecurrentFnOutput, Any]:
        """One expansion: play ``action [B]`` and evaluate the new node."""
        del key  # the games are deterministic
        mover = states.current_player
        next_states = self.step(states, action)
        logits, value = self.apply_fn(params, self.observe(next_states))
        reward = jnp.take_along_axis(next_states.rewards, mover[:, None], axis=1)[:, 0]
        ended = next_states.terminated
        output = mctx.RecurrentFnOutput(
            reward=reward,
            discount=jnp.where(ended, 0.0, -1.0).astype(value.dtype),
            prior_logits=mask_logits(logits, next_states.legal_action_mask),
            value=jnp.where(ended, 0.0, value),
        )
        return output, next_states

    def search(
        self,
        params: Any,
        key: jax.Array,
        states: Any,
        num_simulations: int,
        max_num_considered_actions: int = 16,
        gumbel_scale: float | jax.Array = 1.0,
    ) -> mctx.PolicyOutput:
        """Gumbel MuZero search from ``states`` (batch ``[B]``).

        Returns mctx's ``PolicyOutput``: ``action [B]`` (int32), ``action_weights [B, A]`` (the
        improved policy, the AlphaZero training target) and the search tree.
        """
        root = self.root(params, states)
        return mctx.gumbel_muzero_policy(
            params=params,
            rng_key=key,
            root=root,
            recurrent_fn=self.recurrent_fn,
            num_simulations=num_simulations,
            invalid_actions=~states.legal_action_mask,
            max_num_considered_actions=max_num_considered_actions,
            gumbel_scale=gumbel_scale,
        )
