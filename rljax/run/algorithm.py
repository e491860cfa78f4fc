"""What an algorithm module declares so that the run driver and the CLI can run it.

Each module in ``rljax/train/`` ends with one ``ALGORITHM = Algorithm(...)`` and is registered
by one line in ``rljax/train/__init__.py``. Generic code (the driver, the CLI, players, eval)
reads only this object; nothing outside the module names the algorithm.

Two ways to run:

- **Vmapped seeds** (the default): give ``make_init(config) -> init(key, hparams)`` and
  ``make_update_chunk(config, n) -> chunk(state, hparams) -> (state, metrics {name: [n]})``. The
  driver vmaps them over seeds (and sweep points), compiles them ahead of time and splits the
  seeds over CPU cores. ``hparams`` is ``config.hparams()`` — the fields declared
  ``field(..., leaf=True)`` as a pytree of float32 scalars.
- **Own programs**: give ``make_programs(config, num_seeds, groups) -> Programs`` for an
  algorithm that steps on the host between compiled programs (AlphaZero's side-by-side
  self-play groups). The object has the methods of :class:`rljax.run.programs.SeedPrograms`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """An algorithm's declaration (see the module docstring).

    Attributes:
        name: the CLI word and ``config.json``'s ``"algorithm"`` (``"ppo"``).
        title: for plots and summaries (``"PPO"``).
        summary: one line for ``rljax train --help``.
        description: the paragraph of ``rljax train NAME --help``.
        examples: command lines shown under ``examples:``.
        config_cls: the frozen ``Config`` dataclass (a :class:`rljax.configs.ConfigBase`).
        presets: named configs (``--preset NAME``).
        metric_names: the metrics a chunk returns per update; ``env_steps`` among them for
            environment-stepping algorithms.
        make_init, make_update_chunk: the vmapped-seeds protocol (module docstring).
        make_programs: the own-programs protocol; overrides the two above.
        preset_for_env: ``env_id -> preset name or None``: the preset used when the user names
            an environment but no preset (per-game defaults).
        title_of: ``config -> title`` where it depends on the config (IPPO against MAPPO).
        evaluation: settings and hook of the periodic evaluation (:class:`Evaluation`).
        evaluate_policy: ``(config, state, episodes, key, max_steps) -> {"returns" [E], "lengths"
            [E], **figures}`` of one seed's state, for ``rljax eval`` (host arrays).
        record_episode: ``(config, state, key, max_steps) -> (length, trajectory)`` for the
            episode ``rljax eval`` draws; the trajectory as :mod:`rljax.render` takes it.
        episode_policy: ``(config, state) -> policy(key, env_state, obs) -> action``: one seed's
            greedy policy, the one ``evaluate_policy`` plays, as a function of one environment
            (:data:`rljax.learning.episodes.Policy`), so that code outside the algorithm can play
            it on episodes of its own (``rljax eval``'s environment reports: the energy figures
            of :mod:`rljax.energy.evaluation` on held-out days). ``None``: no such policy.
        make_player: ``(config, state, num_simulations) -> act(key, states)`` for two-player
            games (``rljax play``, ``rljax arena``, ``rljax.games.players.load``).
        open_ended: with ``--minutes`` the run may go past ``num_updates`` (until the budget).
        unit: what one update is called in progress and messages (``"update"``).
        max_seeds: the most seeds one run may have (``None``: no limit).
        summary_metrics: extra metrics the final summary prints a seed mean of.
        curves: ``{metric: file name}`` of learning curves drawn besides ``curve.png`` (the
            episode return, drawn for every algorithm that reports one).
        run_defaults: defaults of run settings where the driver's rules do not suit:
            ``chunk_updates`` (else ~1/50 of the run), ``checkpoint_chunks`` (checkpoint every
            this many chunks; else ~10 per run), ``eval_chunks`` (evaluate every this many
            chunks; else 4).
        num_updates: ``config -> updates`` a run of ``config`` has (``--minutes`` aside).
        steps_per_update: ``config -> env steps`` one update takes per seed, or ``None`` where
            updates are not counted in environment steps (the progress bar then counts updates).
    """

    name: str
    title: str
    summary: str
    description: str
    config_cls: type
    metric_names: tuple[str, ...]
    examples: tuple[str, ...] = ()
    presets: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    make_init: Callable[..., Any] | None = None
    make_update_chunk: Callable[..., Any] | None = None
    make_programs: Callable[..., Any] | None = None
    preset_for_env: Callable[[str], str | None] | None = None
    title_of: Callable[[Any], str] | None = None
    evaluation: Evaluation | None = None
    evaluate_policy: Callable[..., dict[str, Any]] | None = None
    record_episode: Callable[..., Any] | None = None
    episode_policy: Callable[[Any, Any], Any] | None = None
    make_player: Callable[..., Any] | None = None
    open_ended: bool = False
    unit: str = "update"
    max_seeds: int | None = None
    summary_metrics: tuple[str, ...] = ()
    curves: Mapping[str, str] = dataclasses.field(default_factory=dict)
    run_defaults: Mapping[str, int] = dataclasses.field(default_factory=dict)
    num_updates: Callable[[Any], int] = lambda config: config.num_updates
    steps_per_update: Callable[[Any], int] | None = lambda config: config.batch_size

    def __post_init__(self) -> None:
        if self.make_programs is None and (
            self.make_init is None or self.make_update_chunk is None
        ):
            raise ValueError(
                f"Algorithm {self.name!r}: give make_init and make_update_chunk, or make_programs"
            )

    def run_title(self, config: Any) -> str:
        return self.title if self.title_of is None else self.title_of(config)

    def preset(self, name: str) -> Any:
        """The preset ``name``; ``ValueError`` naming the available ones."""
        if name not in self.presets:
            available = ", ".join(sorted(self.presets)) or "none"
            raise ValueError(f"unknown preset {name!r} for {self.name}; available: {available}")
        return self.presets[name]


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Periodic evaluation during training (AlphaZero's games against baselines).

    ``settings_cls`` is a :class:`rljax.configs.ConfigBase` dataclass of the evaluation's own
    settings (flags of ``rljax train``, recorded in ``config.json``); ``make(config, settings,
    seed) -> evaluate(state, update) -> [row, ...]`` builds the evaluator once per run; its rows
    (JSON objects) go to ``metrics.jsonl`` with ``"kind": "eval"``. ``plot(rows, path)`` draws
    them to ``RUN_DIR/<plot_file>``; ``summarize(rows) -> str`` prints the last ones;
    ``progress(row) -> (label, value)`` shows one figure per row on the progress bar;
    ``check(config, settings)`` raises ``ValueError`` for settings that cannot work with the
    config, before anything is written or compiled.
    """

    settings_cls: type
    make: Callable[..., Callable[[Any, int], list[dict[str, Any]]]]
    check: Callable[[Any, Any], None] | None = None
    plot_file: str | None = None
    plot: Callable[[list[dict[str, Any]], Any], None] | None = None
    summarize: Callable[[list[dict[str, Any]]], str] | None = None
    progress: Callable[[dict[str, Any]], tuple[str, float]] | None = None
