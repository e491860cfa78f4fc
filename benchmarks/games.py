"""Board games: rljax's TicTacToe-v0 and ConnectFour-v0 against pgx, in one process.

Two measurements, each ours against pgx on identical inputs, prints one JSON line each::

    python benchmarks/games.py                 # everything
    python benchmarks/games.py --only steps    # random play only
    python benchmarks/games.py --only search   # Gumbel MuZero search only

- **Random legal play** (steps/s): a ``lax.scan`` of batch steps, a uniform legal move per game
  drawn by the same code for both (one ``randint`` over each game's legal count, then a ``cumsum``),
  observations and rewards folded into a checksum (so XLA keeps all the work), auto-reset on.
  Our finished games are replaced by ``env.init()`` with a select (the games start the same way, so
  no key is needed); pgx's by ``pgx.experimental.auto_reset`` with one key per game, the way pgx's
  own examples step a batch.
- **Search** (searches/s): ``mctx.gumbel_muzero_policy``, 32 simulations, batch 1024, the same
  128x128 MLP and parameters, through the same :class:`rljax.games.search.GameModel` glue: over our
  Connect Four (``GameModel.for_env``) and over pgx's (``pgx_env.step`` and its observation). The
  roots are the same positions (a few random moves into a game). To show where the time goes, the
  search's ``recurrent_fn`` alone (game step + network) and the search with a network-free model
  (uniform logits, zero value) are timed too. A last row times our search the way rljax's
  self-play runs it on a multi-core CPU (the batch in one group per core, side by side) against
  the pgx-backed search as one program.

Run times are medians of repeats, ours and pgx's interleaved; compile time is reported apart.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pgx
from pgx.experimental import auto_reset

from rljax.benchmarking import emit
from rljax.envs.connect_four import ConnectFour
from rljax.envs.tic_tac_toe import TicTacToe
from rljax.games.search import GameModel
from rljax.networks import PolicyValueMLP

GAMES = {
    "TicTacToe-v0": (TicTacToe, "tic_tac_toe"),
    "ConnectFour-v0": (ConnectFour, "connect_four"),
}


def sample_legal(key: jax.Array, legal: jax.Array) -> jax.Array:
    """A uniform legal move per game of ``legal [B, A]``: one uniform draw over the legal count."""
    count = legal.sum(axis=-1, dtype=jnp.int32)
    pick = (jax.random.uniform(key, count.shape) * count).astype(jnp.int32)  # < count: u < 1
    return jnp.argmax(jnp.cumsum(legal, axis=-1) > pick[:, None], axis=-1).astype(jnp.int32)


def compile_and_time(
    fns: dict[str, Callable[..., Any]], args: dict[str, tuple], repeats: int
) -> dict[str, tuple[float, float]]:
    """``{name: (compile_s, median_run_s)}``: compiled apart, then runs interleaved by repeat."""
    compiled, compile_s, runs = {}, {}, {name: [] for name in fns}
    for name, fn in fns.items():
        start = time.perf_counter()
        compiled[name] = jax.jit(fn).lower(*args[name]).compile()
        compile_s[name] = time.perf_counter() - start
        jax.block_until_ready(compiled[name](*args[name]))  # warm-up
    for _ in range(repeats):
        for name in fns:
            start = time.perf_counter()
            jax.block_until_ready(compiled[name](*args[name]))
            runs[name].append(time.perf_counter() - start)
    return {name: (compile_s[name], statistics.median(runs[name])) for name in fns}


# --- random legal play ---------------------------------------------------------------------------


def ours_random_play(env, num_envs: int, num_steps: int) -> Callable[[jax.Array], jax.Array]:
    play = jax.vmap(env.play)
    observe = jax.vmap(env.observe)

    def run(key):
        init = env.init()
        states = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_envs, *x.shape)), init)

        def body(carry, _):
            states, key = carry
            key, key_action = jax.random.split(key)
            states, _ = play(states, sample_legal(key_action, states.legal_action_mask))
            rewards = states.rewards
            done = states.terminated
            states = jax.tree.map(
                lambda i, s: jnp.where(done.reshape(-1, *([1] * i.ndim)), i, s), init, states
            )
            return (states, key), jnp.sum(observe(states)) + jnp.sum(rewards)

        _, checksums = jax.lax.scan(body, (states, key), None, num_steps)
        return jnp.sum(checksums)

    return run


def pgx_random_play(pgx_env, num_envs: int, num_steps: int) -> Callable[[jax.Array], jax.Array]:
    init = jax.vmap(pgx_env.init)
    step = jax.vmap(auto_reset(pgx_env.step, pgx_env.init))

    def run(key):
        key, key_init = jax.random.split(key)
        states = init(jax.random.split(key_init, num_envs))

        def body(carry, _):
            states, key = carry
            key, key_action, key_step = jax.random.split(key, 3)
            action = sample_legal(key_action, states.legal_action_mask)
            states = step(states, action, jax.random.split(key_step, num_envs))
            return (states, key), jnp.sum(states.observation) + jnp.sum(states.rewards)

        _, checksums = jax.lax.scan(body, (states, key), None, num_steps)
        return jnp.sum(checksums)

    return run


def bench_steps(game_ids, batch_sizes, budget: int, repeats: int) -> None:
    for game_id in game_ids:
        cls, pgx_id = GAMES[game_id]
        for num_envs in batch_sizes:
            num_steps = max(50, budget // num_envs)
            key = (jax.random.key(0),)
            times = compile_and_time(
                {
                    "ours": ours_random_play(cls(), num_envs, num_steps),
                    "pgx": pgx_random_play(pgx.make(pgx_id), num_envs, num_steps),
                },
                {"ours": key, "pgx": key},
                repeats,
            )
            rate = {name: num_envs * num_steps / run_s for name, (_, run_s) in times.items()}
            emit(
                f"games/random_play/{game_id}/B={num_envs}/vs_pgx",
                rate["ours"],
                rate["pgx"],
                "steps/s",
                compile_s=round(times["ours"][0], 3),
                anchor_compile_s=round(times["pgx"][0], 3),
            )


# --- search --------------------------------------------------------------------------------------


def select(mask: jax.Array, a: Any, b: Any) -> Any:
    """Per game of batched pytrees: ``a`` where ``mask [B]``, else ``b``."""
    return jax.tree.map(lambda x, y: jnp.where(mask.reshape(-1, *([1] * (x.ndim - 1))), x, y), a, b)


def root_positions(env, pgx_env, num_envs: int, key: jax.Array, max_moves: int = 10):
    """The same positions in both games: 0..``max_moves`` random legal moves into a game.

    A game that ends on the way restarts (on both sides), so every root is in play.
    """
    key, key_init, key_len = jax.random.split(key, 3)
    init_ours = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_envs, *x.shape)), env.init())
    init_theirs = jax.vmap(pgx_env.init)(jax.random.split(key_init, num_envs))
    num_moves = jax.random.randint(key_len, (num_envs,), 0, max_moves + 1)
    play, step = jax.jit(jax.vmap(env.play)), jax.jit(jax.vmap(pgx_env.step))
    ours, theirs = init_ours, init_theirs
    for t in range(max_moves):
        key, key_action = jax.random.split(key)
        action = sample_legal(key_action, ours.legal_action_mask)
        new_ours, _ = play(ours, action)
        new_theirs = step(theirs, action)
        restart, keep = new_ours.terminated, t >= num_moves
        ours = select(keep, ours, select(restart, init_ours, new_ours))
        theirs = select(keep, theirs, select(restart, init_theirs, new_theirs))
    assert not bool(ours.terminated.any()) and not bool(theirs.terminated.any())
    obs = jax.vmap(env.observe)(ours)
    assert bool((obs == theirs.observation.astype(jnp.float32)).all()), "roots differ"
    return ours, theirs


def uniform_apply(params, obs):
    del params
    return jnp.zeros((obs.shape[0], 7), jnp.float32), jnp.zeros(obs.shape[0], jnp.float32)


def bench_search(num_envs: int, num_simulations: int, repeats: int) -> None:
    env, pgx_env = ConnectFour(), pgx.make("connect_four")
    net = PolicyValueMLP(num_actions=env.num_actions, hidden_sizes=(128, 128))
    params = net.init(jax.random.key(1), jnp.zeros((1, 6, 7, 2), jnp.float32))
    ours_roots, pgx_roots = root_positions(env, pgx_env, num_envs, jax.random.key(2))
    roots = {"ours": ours_roots, "pgx": pgx_roots}
    pgx_observe = lambda s: s.observation.astype(jnp.float32)
    models = {
        "mlp": {
            "ours": GameModel.for_env(env, net.apply),
            "pgx": GameModel(pgx_env.step, pgx_observe, net.apply),
        },
        "uniform_net": {
            "ours": GameModel.for_env(env, uniform_apply),
            "pgx": GameModel(pgx_env.step, pgx_observe, uniform_apply),
        },
    }

    def searcher(model):
        def run(params, key, states):
            out = model.search(params, key, states, num_simulations)
            return out.action, out.action_weights

        return run

    def expander(model):
        # ``num_simulations`` expansions below the roots: the model's share of one search.
        def run(params, key, states):
            def body(total, action):
                out, _ = model.recurrent_fn(params, key, action, states)
                checksum = out.value.sum() + out.prior_logits.max(-1).sum() + out.reward.sum()
                return total + checksum, None

            keys = jax.random.split(key, num_simulations)
            actions = jax.vmap(lambda k: sample_legal(k, states.legal_action_mask))(keys)
            return jax.lax.scan(body, 0.0, actions)[0]

        return run

    fns, args = {}, {}
    for net_name, pair in models.items():
        for side, model in pair.items():
            for what, make_fn in (("gumbel_muzero", searcher), ("recurrent_fn", expander)):
                fns[(what, net_name, side)] = make_fn(model)
                args[(what, net_name, side)] = (params, jax.random.key(3), roots[side])
    times = compile_and_time(fns, args, repeats)
    for what, net_name in (
        ("gumbel_muzero", "mlp"),
        ("gumbel_muzero", "uniform_net"),
        ("recurrent_fn", "mlp"),
        ("recurrent_fn", "uniform_net"),
    ):
        (ours_c, ours_s), (pgx_c, pgx_s) = (times[(what, net_name, s)] for s in ("ours", "pgx"))
        per_call = num_envs * (1 if what == "gumbel_muzero" else num_simulations)
        emit(
            f"games/search/ConnectFour-v0/{what}/{net_name}/sims={num_simulations}"
            f"/B={num_envs}/vs_pgx",
            per_call / ours_s,
            per_call / pgx_s,
            "searches/s" if what == "gumbel_muzero" else "expansions/s",
            ours_s_per_call=round(ours_s, 4),
            anchor_s_per_call=round(pgx_s, 4),
            compile_s=round(ours_c, 3),
            anchor_compile_s=round(pgx_c, 3),
        )


def bench_search_side_by_side(num_envs: int, num_simulations: int, repeats: int) -> None:
    """Our search as rljax's self-play runs it on a multi-core CPU: the batch in
    ``multicore.default_workers()`` groups, one compiled program per group, side by side; against
    the pgx-backed search as one program over the whole batch (how it is written and run)."""
    from rljax import multicore

    env, pgx_env = ConnectFour(), pgx.make("connect_four")
    net = PolicyValueMLP(num_actions=env.num_actions, hidden_sizes=(128, 128))
    params = net.init(jax.random.key(1), jnp.zeros((1, 6, 7, 2), jnp.float32))
    ours_roots, pgx_roots = root_positions(env, pgx_env, num_envs, jax.random.key(2))
    pgx_observe = lambda s: s.observation.astype(jnp.float32)
    models = {
        "ours": GameModel.for_env(env, net.apply),
        "pgx": GameModel(pgx_env.step, pgx_observe, net.apply),
    }
    groups = multicore.default_workers()
    while num_envs % groups:
        groups -= 1
    parts = multicore.split_leading(ours_roots, groups)
    keys = jax.random.split(jax.random.key(3), groups)

    def search(model):
        def run(params, key, states):
            out = model.search(params, key, states, num_simulations)
            return out.action, out.action_weights

        return jax.jit(run)

    start = time.perf_counter()
    ours = search(models["ours"]).lower(params, keys[0], parts[0]).compile()
    ours_compile = time.perf_counter() - start
    start = time.perf_counter()
    theirs = search(models["pgx"]).lower(params, keys[0], pgx_roots).compile()
    pgx_compile = time.perf_counter() - start
    calls = [functools.partial(ours, params, keys[i], parts[i]) for i in range(groups)]
    run = {
        "ours": lambda: multicore.run_parallel(calls),
        "pgx": lambda: jax.block_until_ready(theirs(params, keys[0], pgx_roots)),
    }
    times = {name: [] for name in run}
    for name in run:
        run[name]()  # warm-up
    for _ in range(repeats):
        for name, fn in run.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    ours_s, pgx_s = (statistics.median(times[name]) for name in ("ours", "pgx"))
    emit(
        f"games/search/ConnectFour-v0/gumbel_muzero/mlp/sims={num_simulations}"
        f"/B={num_envs}/side_by_side_{groups}/vs_pgx",
        num_envs / ours_s,
        num_envs / pgx_s,
        "searches/s",
        groups=groups,
        ours_s_per_call=round(ours_s, 4),
        anchor_s_per_call=round(pgx_s, 4),
        compile_s=round(ours_compile, 3),
        anchor_compile_s=round(pgx_compile, 3),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("steps", "search"), default=None)
    parser.add_argument("--games", nargs="*", default=list(GAMES), choices=list(GAMES))
    parser.add_argument("--batch-sizes", nargs="*", type=int, default=[1024, 4096])
    parser.add_argument("--steps-budget", type=int, default=2_000_000, help="env steps per run")
    parser.add_argument("--search-batch", type=int, default=1024)
    parser.add_argument("--simulations", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"# device: {jax.devices()[0].device_kind} ({jax.default_backend()}),"
        f" jax {jax.__version__}, pgx {pgx.__version__}"
    )
    np.set_printoptions(precision=3)
    if args.only in (None, "steps"):
        bench_steps(args.games, args.batch_sizes, args.steps_budget, args.repeats)
    if args.only in (None, "search"):
        bench_search(args.search_batch, args.simulations, args.repeats)
        bench_search_side_by_side(args.search_batch, args.simulations, args.repeats)


if __name__ == "__main__":
    main()
