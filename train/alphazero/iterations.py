"""Whole AlphaZero iterations: one compiled program, or host-stepped side by side."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rljax.train.alphazero.config import Config
from rljax.train.alphazero.learner import (
    AZState,
    Replay,
    TrainResult,
    add_to_replay,
    make_init,
    make_learn,
    setup,
)
from rljax.train.alphazero.selfplay import (
    gate_score,
    iteration_keys,
    make_gate,
    make_gate_games,
    make_selfplay_group,
    merge_groups,
)

# The metrics of one iteration, in row order (every one is a float32 or bool scalar).
METRIC_NAMES = (
    "policy_loss",
    "value_loss",
    "game_length",
    "first_player_score",
    "draw_rate",
    "selfplay_plies",
    "replay_positions",
    "gate_score",
    "best_replaced",
)


def make_learn_stage(config: Config, network: Any, env: Any):
    """``learn_stage(params, opt_state, replay, group_positions, group_stats, key)`` ->
    ``(params, opt_state, replay, metrics)``: the self-play groups' outputs (stacked ``[G, ...]``)
    into the replay, then ``train_steps`` gradient steps on it."""
    learn = make_learn(config, network, env)

    def learn_stage(params, opt_state, replay: Replay, group_positions, group_stats, key):
        positions, stats = merge_groups(group_positions, group_stats)
        replay = add_to_replay(replay, positions)
        params, opt_state, losses = learn(params, opt_state, replay, key)
        metrics = {**stats, **losses, "replay_positions": replay.valid.sum()}
        return params, opt_state, replay, metrics

    return learn_stage


def finish_iteration(
    config: Config,
    best_params: Any,
    iteration: jax.Array,
    key: jax.Array,
    params: Any,
    opt_state: Any,
    replay: Replay,
    metrics: dict[str, jax.Array],
    score: jax.Array,
) -> tuple[AZState, dict[str, jax.Array]]:
    """The next state: the candidate replaces the best where the gate (``score``; NaN when no gate
    was due) reached ``gate_threshold``."""
    due = (iteration + 1) % config.gate_every == 0
    promote = due & (score >= config.gate_threshold)
    best = jax.tree.map(lambda c, b: jnp.where(promote, c, b), params, best_params)
    state = AZState(
        params=params,
        best_params=best,
        opt_state=opt_state,
        replay=replay,
        key=key,
        iteration=iteration + 1,
    )
    return state, {**metrics, "gate_score": score, "best_replaced": promote}


def make_iterations(config: Config, num_iterations: int) -> Callable[[AZState], tuple[Any, dict]]:
    """``run(state) -> (state, metrics)``: ``num_iterations`` iterations; metrics ``[n]`` each."""
    env, network, model = setup(config)
    play_groups = jax.vmap(make_selfplay_group(config, model, env), in_axes=(None, 0))
    learn_stage = make_learn_stage(config, network, env)
    gate = make_gate(config, model, env)

    def iteration(state: AZState, _):
        key, group_keys, key_learn, key_gate = iteration_keys(state.key, config)
        positions, stats = play_groups(state.best_params, group_keys)
        params, opt_state, replay, metrics = learn_stage(
            state.params, state.opt_state, state.replay, positions, stats, key_learn
        )
        due = (state.iteration + 1) % config.gate_every == 0
        score = jax.lax.cond(
            due, lambda: gate(params, state.best_params, key_gate), lambda: jnp.float32(jnp.nan)
        )
        learned = (params, opt_state, replay, metrics)
        return finish_iteration(config, state.best_params, state.iteration, key, *learned, score)

    def run(state: AZState):
        return jax.lax.scan(iteration, state, None, length=num_iterations)

    return run


class ParallelIterations:
    """:func:`make_iterations` driven from the host, with independent work on separate CPU cores.

    An iteration runs as separately compiled programs: the ``selfplay_groups`` self-play groups
    side by side, one thread each, then the learning step, then (when due) the gate's two halves
    side by side. XLA:CPU runs one program's chain of small operations on about one core, so this
    plays about 1.7x the games per second of :func:`make_iterations` on a 2-core CPU. The result
    is bitwise the same as :func:`make_iterations` (tested), so a run may switch between them.

    ``run = ParallelIterations(config, n); state, metrics = run(state)``: ``metrics`` are numpy
    arrays ``[n]``. The input state's replay buffer is donated (reused in place): do not use the
    input state after the call.
    """

    def __init__(self, config: Config, num_iterations: int):
        if not isinstance(num_iterations, int) or num_iterations < 1:
            raise ValueError(f"num_iterations={num_iterations!r} is invalid: allowed >= 1")
        env, network, model = setup(config)
        self.config = config
        self.num_iterations = num_iterations

        def keys(key: jax.Array):
            # The gate's key split in two as make_gate splits it, one key per half.
            key, group_keys, key_learn, key_gate = iteration_keys(key, config)
            return key, group_keys, key_learn, jax.random.split(key_gate)

        self._keys = jax.jit(keys)
        self._play = jax.jit(make_selfplay_group(config, model, env))
        learn_stage = make_learn_stage(config, network, env)

        def learn_from_groups(params, opt_state, replay, groups, key):
            positions, stats = jax.tree.map(lambda *xs: jnp.stack(xs), *groups)
            return learn_stage(params, opt_state, replay, positions, stats, key)

        self._learn = jax.jit(learn_from_groups, donate_argnums=2)
        self._gate_games = jax.jit(make_gate_games(config, model, env))
        self._gate_score = jax.jit(gate_score)
        self._finish = jax.jit(lambda *args: finish_iteration(config, *args))
        self._compiled = False

    def compile(self, state: AZState) -> None:
        """Compiles every program ahead of the first iteration (nothing of ``state`` is used up)."""
        if self._compiled:
            return
        key, group_keys, key_learn, (key_a, _) = self._keys(state.key)
        groups = [jax.eval_shape(self._play, state.best_params, group_keys[0])]
        groups *= self.config.selfplay_groups
        learn_args = (state.params, state.opt_state, state.replay, groups, key_learn)
        learned = jax.eval_shape(self._learn, *learn_args)
        half = jax.eval_shape(self._gate_games, state.params, state.best_params, key_a)
        score = jax.eval_shape(self._gate_score, half, half)
        self._keys = self._keys.lower(state.key).compile()
        self._play = self._play.lower(state.best_params, group_keys[0]).compile()
        self._learn = self._learn.lower(*learn_args).compile()
        self._gate_games = self._gate_games.lower(state.params, state.best_params, key_a).compile()
        self._gate_score = self._gate_score.lower(half, half).compile()
        finish_args = (state.best_params, state.iteration, key, *learned, score)
        self._finish = self._finish.lower(*finish_args).compile()
        self._compiled = True

    def __call__(self, state: AZState) -> tuple[AZState, dict[str, Any]]:
        import numpy as np

        rows = []
        iteration = int(state.iteration)
        for _ in range(self.num_iterations):
            state, metrics = self._iteration(
                state, gate_due=(iteration + 1) % self.config.gate_every == 0
            )
            rows.append(metrics)
            iteration += 1
        return state, jax.tree.map(lambda *xs: np.stack(xs), *jax.device_get(rows))

    def _iteration(self, state: AZState, gate_due: bool) -> tuple[AZState, dict[str, Any]]:
        from functools import partial

        from rljax.multicore import run_parallel

        key, group_keys, key_learn, (key_a, key_b) = self._keys(state.key)
        best = state.best_params
        groups = run_parallel([partial(self._play, best, k) for k in group_keys])
        params, opt_state, replay, metrics = self._learn(
            state.params, state.opt_state, state.replay, groups, key_learn
        )
        if gate_due:
            halves = [
                partial(self._gate_games, params, best, key_a),
                partial(self._gate_games, best, params, key_b),
            ]
            score = self._gate_score(*run_parallel(halves))
        else:
            score = jnp.float32(jnp.nan)
        return self._finish(best, state.iteration, key, params, opt_state, replay, metrics, score)


def make_train(config: Config) -> Callable[[jax.Array], TrainResult]:
    """``train(key) -> TrainResult``: a whole run (``num_iterations``), ready for ``jit``."""
    init = make_init(config)
    run = make_iterations(config, config.num_iterations)

    def train(key: jax.Array) -> TrainResult:
        state, metrics = run(init(key))
        return TrainResult(state.best_params, metrics, state)

    return train


class AlphaZeroPrograms:
    """``init(keys [1], hparams) -> AZState`` and ``chunk(n)(state, hparams) -> (state, metrics
    {name: [1, n]}, params_finite [1])`` for the run driver (``hparams`` is unused: AlphaZero
    has no vmappable leaves)."""

    def __init__(self, config: Any, num_runs: int, groups: int = 1):
        from rljax import multicore

        if num_runs != 1:
            raise ValueError(f"AlphaZero trains one seed per run, got {num_runs} runs")
        self.config = config
        self.side_by_side = multicore.default_workers() > 1
        self._programs: dict[int, Any] = {}
        self._init = None
        self._abstract = None

    def abstract_state(self, num_runs: int | None = None) -> Any:
        import jax

        if self._abstract is None:
            self._abstract = jax.eval_shape(make_init(self.config), jax.random.key(0))
        return self._abstract

    def compile(self, init: bool, chunk_sizes: Sequence[int]) -> float:
        import jax

        start = time.perf_counter()
        if self._init is None:
            fn = jax.jit(make_init(self.config))
            self._init = fn.lower(jax.random.key(0)).compile()
        for n in chunk_sizes:
            if n in self._programs:
                continue
            if self.side_by_side:
                program = ParallelIterations(self.config, n)
                # Its programs are compiled from a state's values: a fresh one serves.
                program.compile(self._init(jax.random.key(0)))
            else:
                fn = jax.jit(make_iterations(self.config, n))
                program = fn.lower(self.abstract_state()).compile()
            self._programs[n] = program
        return time.perf_counter() - start

    def init(self, keys: Any, hparams: Any = None) -> Any:
        return self._init(keys[0])

    def chunk(self, n: int) -> Any:
        import jax

        program = self._programs[n]

        def run(state: Any, hparams: Any = None) -> Any:
            state, metrics = program(state)
            metrics = {k: np.asarray(v)[None] for k, v in jax.device_get(metrics).items()}
            params = jax.tree.leaves(jax.device_get(state.params))
            finite = np.asarray([all(np.isfinite(p).all() for p in params)])
            return state, metrics, finite

        return run


def make_programs(config: Any, num_runs: int, groups: int = 1) -> AlphaZeroPrograms:
    return AlphaZeroPrograms(config, num_runs, groups)
