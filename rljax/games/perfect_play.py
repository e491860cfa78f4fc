"""Exhaustive check that a player never loses: every opponent reply, from both sides.

For a deterministic player (search with ``gumbel_scale=0``, a fixed key) and a small game such as
Tic-Tac-Toe, "plays perfectly" can be checked without sampling: walk the game tree where the player
makes its one chosen move at its turns and the opponent tries *every* legal move at its turns, and
look for a finished game the player lost. The walk goes level by level with one batched call of the
player per level; identical positions are merged, so Tic-Tac-Toe needs only a few hundred calls'
worth of states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class PerfectPlayReport(NamedTuple):
    losses: list[tuple[int, list[int]]]  # (player's side, the move sequence) of each lost game
    games: int  # distinct finished games reached
    positions: int  # distinct positions where the player had to move

    @property
    def never_loses(self) -> bool:
        return not self.losses


def check_never_loses(
    env: Any,
    act: Callable[[jax.Array, Any], jax.Array],
    sides: tuple[int, ...] = (0, 1),
    chunk: int = 128,
) -> PerfectPlayReport:
    """Plays ``act`` (batched ``act(key, states) -> actions``) against every opponent line.

    ``env`` is an rljax board game. Returns every lost game found (empty when the player is
    unbeatable), how many distinct finished games were reached and how many positions the player
    decided. Calls go in batches of ``chunk`` (padded), so ``act`` compiles once.
    """
    play_batch = jax.jit(jax.vmap(lambda s, a: env.play(s, a)[0]))
    act_batch = jax.jit(act)
    key = jax.random.key(0)
    losses: list[tuple[int, list[int]]] = []
    games = decided = 0

    def stack(states: list[Any]) -> Any:
        return jax.tree.map(lambda *xs: jnp.stack(xs), *states)

    def unstack(batch: Any, n: int) -> list[Any]:
        host = jax.tree.map(np.asarray, batch)
        return [jax.tree.map(lambda x, i=i: x[i], host) for i in range(n)]

    def chunked(fn: Callable[..., Any], states: list[Any], *extra: np.ndarray) -> list[Any]:
        """``fn`` over ``states`` in padded batches of ``chunk``; one host result per state."""
        out: list[Any] = []
        for lo in range(0, len(states), chunk):
            part = states[lo : lo + chunk]
            pad = chunk - len(part)
            batch = stack(part + [part[0]] * pad)
            args = [
                jnp.asarray(np.concatenate([x[lo : lo + chunk], x[:1].repeat(pad, 0)]))
                for x in extra
            ]
            out += unstack(fn(batch, *args), len(part))
        return out

    for side in sides:
        frontier: dict[bytes, tuple[Any, list[int]]] = {}
        start = env.init()
        frontier[np.asarray(start.stones).tobytes()] = (jax.tree.map(np.asarray, start), [])
        while frontier:
            entries = list(frontier.values())
            frontier = {}
            mine = [e for e in entries if int(e[0].current_player) == side]
            theirs = [e for e in entries if int(e[0].current_player) != side]
            parents: list[tuple[Any, list[int]]] = []
            moves: list[int] = []
            if mine:
                decided += len(mine)
                chosen = chunked(lambda b: act_batch(key, b), [e[0] for e in mine])
                parents += mine
                moves += [int(a) for a in chosen]
            for state, line in theirs:
                for a in np.flatnonzero(np.asarray(state.legal_action_mask)):
                    parents.append((state, line))
                    moves.append(int(a))
            if not parents:
                break
            actions = np.asarray(moves, np.int32)
            children = chunked(play_batch, [p[0] for p in parents], actions)
            for (_, line), move, child in zip(parents, moves, children, strict=True):
                child_line = [*line, move]
                if bool(child.terminated):
                    games += 1
                    if float(child.rewards[side]) < 0:
                        losses.append((side, child_line))
                    continue
                frontier.setdefault(child.stones.tobytes(), (child, child_line))
    return PerfectPlayReport(losses, games, decided)
