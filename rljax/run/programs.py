"""The compiled programs of a run: ``init`` and ``chunk(n)`` over ``R`` vmapped runs.

:class:`SeedPrograms` is what the driver calls for every algorithm that gives ``make_init`` and
``make_update_chunk``; an algorithm with ``make_programs`` returns an object with the same
methods. Programs are compiled ahead of time, once per process for each program shape
(:func:`programs_for`), and hyperparameters are arguments, not constants, so configurations
that differ only in leaf fields share them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any


def seed_keys(seed: int, num_seeds: int) -> Any:
    """The ``[S]`` typed PRNG keys of seeds ``seed .. seed + S - 1`` (``jax.random.key(s)``).

    A run equals, bit for bit, ``jax.vmap(make_train(config))(seed_keys(seed, S))``. (A single
    seed trained alone follows the same distribution but not the same bits: XLA batches the
    vmapped matrix products differently.)
    """
    import jax
    import numpy as np

    return jax.vmap(jax.random.key)(np.arange(seed, seed + num_seeds, dtype=np.int32))


def run_keys(seed_values: Sequence[int]) -> Any:
    """The typed keys ``[R]`` of runs with these seeds (sweep points repeat the seeds)."""
    import jax
    import numpy as np

    return jax.vmap(jax.random.key)(np.asarray(seed_values, dtype=np.int32))


def static_key(config: Any) -> str:
    """The part of ``config`` that shapes the compiled program: its algorithm and every field
    that is not a leaf of *its own* class (so one algorithm's static ``lr`` never shares a
    program compiled for another value)."""
    static = {**config.static_dict(), "__config__": type(config).__qualname__}
    static["__module__"] = type(config).__module__
    return json.dumps(static, sort_keys=True, default=repr)


class SeedPrograms:
    """``init(keys [R], hparams) -> state`` and ``chunk(n)(state, hparams) -> (state, metrics
    {name: [R, n]}, params_finite [R])``, compiled for ``R / groups`` runs; with ``groups > 1``
    each call runs the groups side by side in threads (:mod:`rljax.multicore`).

    ``batched_hparams``: hyperparameter leaves carry the run axis (a sweep) instead of being
    shared by every run.
    """

    def __init__(
        self,
        algorithm: Any,
        config: Any,
        num_runs: int,
        groups: int = 1,
        batched_hparams: bool = False,
    ):
        import jax

        if groups < 1 or num_runs % groups:
            raise ValueError(f"groups={groups!r} must be >= 1 and divide num_runs={num_runs}")
        self.algorithm = algorithm
        self.config = config
        self.num_runs = num_runs
        self.groups = groups
        self.batched_hparams = batched_hparams
        self._hparams_axis = 0 if batched_hparams else None
        init = algorithm.make_init(config)
        # Seeds are initialised one after another (lax.map): bitwise the same state as vmap, and
        # no batched QR of orthogonal initialisers, which jaxlib's CPU LAPACK kernels fan out onto
        # the thread pool and block on (a deadlock on 2 cores).
        if batched_hparams:
            self._init_fn = lambda keys, hparams: jax.lax.map(lambda kh: init(*kh), (keys, hparams))
        else:
            self._init_fn = lambda keys, hparams: jax.lax.map(lambda k: init(k, hparams), keys)
        self._compiled: dict[Any, Any] = {}
        self._abstract_state = None

    def _hparams_for(self, width: int) -> Any:
        import jax

        from rljax.configs import leaf_names

        if not leaf_names(type(self.config)):
            return None  # nothing vmappable: the programs take no hyperparameters
        hparams = self.config.hparams()
        if not self.batched_hparams:
            return hparams
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct((width, *x.shape), x.dtype), hparams)

    def abstract_state(self, num_runs: int | None = None) -> Any:
        """Shapes and dtypes of the state over ``num_runs`` (default: all) runs."""
        import jax

        num_runs = self.num_runs if num_runs is None else num_runs
        if self._abstract_state is None:
            keys = seed_keys(0, self.num_runs)
            self._abstract_state = jax.eval_shape(
                self._init_fn, keys, self._hparams_for(self.num_runs)
            )
        return jax.tree.map(
            lambda x: jax.ShapeDtypeStruct((num_runs, *x.shape[1:]), x.dtype),
            self._abstract_state,
        )

    def _chunk_fn(self, n: int) -> Any:
        import jax
        import jax.numpy as jnp

        chunk = jax.vmap(
            self.algorithm.make_update_chunk(self.config, n), in_axes=(0, self._hparams_axis)
        )

        def all_finite(params: Any) -> Any:
            return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)]))

        def run(state: Any, hparams: Any) -> Any:
            state, metrics = chunk(state, hparams)
            return state, metrics, jax.vmap(all_finite)(state.params)

        return run

    def compile(self, init: bool, chunk_sizes: Sequence[int]) -> float:
        """Compiles what is missing; returns the seconds it took (tracing included)."""
        import jax

        start = time.perf_counter()
        width = self.num_runs // self.groups
        hparams = self._hparams_for(width)
        lowered = {}
        if init and "init" not in self._compiled:
            lowered["init"] = jax.jit(self._init_fn).lower(seed_keys(0, width), hparams)
        for n in sorted(set(chunk_sizes)):
            if ("chunk", n) not in self._compiled:
                fn = jax.jit(self._chunk_fn(n))
                lowered["chunk", n] = fn.lower(self.abstract_state(width), hparams)
        # One at a time: compiling in threads side by side measured slower on 2 cores.
        self._compiled.update({name: low.compile() for name, low in lowered.items()})
        return time.perf_counter() - start

    def _call(self, compiled: Any, batched: Any, hparams: Any) -> Any:
        from rljax.multicore import run_groups

        if self.batched_hparams:  # the run axis is on both, so the groups split both
            return run_groups(lambda pair: compiled(*pair), (batched, hparams), groups=self.groups)
        return run_groups(compiled, batched, hparams, groups=self.groups)

    def init(self, keys: Any, hparams: Any) -> Any:
        return self._call(self._compiled["init"], keys, hparams)

    def chunk(self, n: int) -> Any:
        compiled = self._compiled["chunk", n]
        return lambda state, hparams: self._call(compiled, state, hparams)


_PROGRAMS: dict[tuple[Any, ...], Any] = {}


def programs_for(
    algorithm: Any, config: Any, num_runs: int, groups: int = 1, batched_hparams: bool = False
) -> Any:
    """The (process-wide cached) programs of ``config`` over ``num_runs`` runs."""
    key = (algorithm.name, static_key(config), num_runs, groups, batched_hparams)
    if key not in _PROGRAMS:
        if algorithm.make_programs is not None:
            _PROGRAMS[key] = algorithm.make_programs(config, num_runs, groups)
        else:
            _PROGRAMS[key] = SeedPrograms(algorithm, config, num_runs, groups, batched_hparams)
    return _PROGRAMS[key]
