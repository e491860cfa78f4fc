"""The run loop, once for every algorithm: compiled chunks, metrics, checkpoints, resume.

Between compiled chunks the host draws the progress bar, appends one row per update and run to
``RUN_DIR/metrics.jsonl``, checks for divergence, evaluates when due, and writes an atomic
checkpoint ``{"state", "update", "train_seconds"}`` on the cadence. A run stopped anywhere (crash,
Ctrl-C, ``kill -9``) and resumed ends bitwise where the uninterrupted run would have. One process
at a time may write a run directory (a lock names the holder to a second one).

From Python (a notebook gets the same progress, checkpoints and resume)::

    from rljax import run
    from rljax.train import ppo
    result = run.train(ppo.Config(total_timesteps=100_000), run_dir="runs/x", seeds=4)
    result = run.resume("runs/x")
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rljax.run.restore import CHECKPOINT_CONFIG, load_run, restore
from rljax.run.spec import (
    CONFIG_FILE,
    METRICS_FILE,
    RunError,
    RunSpec,
    chunk_sizes,
    default_checkpoint_every,
    default_chunk_updates,
    write_json_atomic,
)

__all__ = ["RunResult", "load_run", "make_spec", "new_run_dir", "restore", "resume", "run", "train"]


@dataclasses.dataclass
class RunResult:
    """How a run ended. ``status``: 0 done (or stopped on request), 1 diverged, 130 interrupted."""

    run_dir: Path
    status: int
    update: int
    message: str = ""
    state: Any = None
    compile_seconds: float = 0.0
    train_seconds: float = 0.0


def make_spec(
    config: Any,
    *,
    seeds: int | None = None,
    seed: int = 0,
    seed_groups: int | None = None,
    chunk_updates: int | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 3,
    tensorboard: bool = False,
    minutes: float | None = None,
    eval_every: int | None = None,
    evaluation: Any = None,
    sweep: tuple = (),
) -> RunSpec:
    """A :class:`RunSpec` for ``config`` with the driver's defaults filled in."""
    from rljax import train as registry
    from rljax.multicore import seed_groups as default_groups

    algorithm = registry.of_config(config)
    defaults = algorithm.run_defaults
    if seeds is None:
        seeds = 8 if algorithm.max_seeds is None else min(8, algorithm.max_seeds)
    num_updates = int(algorithm.num_updates(config))
    if chunk_updates is None:
        chunk_updates = defaults.get("chunk_updates", default_chunk_updates(num_updates))
    chunk = chunk_updates
    if not isinstance(chunk, int) or chunk < 1:
        raise RunError(f"--chunk-updates={chunk!r} is invalid: must be an integer >= 1")
    if not (algorithm.open_ended and minutes is not None):
        chunk = min(chunk, num_updates)  # no program longer than the run
    if checkpoint_every is None:
        if "checkpoint_chunks" in defaults:
            checkpoint_every = defaults["checkpoint_chunks"] * chunk
        else:
            checkpoint_every = default_checkpoint_every(num_updates, chunk)
    if algorithm.evaluation is not None:
        evaluation = algorithm.evaluation.settings_cls() if evaluation is None else evaluation
        if algorithm.evaluation.check is not None:
            algorithm.evaluation.check(config, evaluation)
        if eval_every is None:
            eval_every = defaults.get("eval_chunks", 4) * chunk
    points = 1
    for _, values in sweep:
        points *= len(values)
    if seed_groups is None:
        seed_groups = default_groups(seeds * points) if isinstance(seeds, int) and seeds > 0 else 1
    return RunSpec(
        algorithm=algorithm.name,
        config=config,
        seeds=seeds,
        seed=seed,
        seed_groups=seed_groups,
        chunk_updates=chunk,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        tensorboard=tensorboard,
        minutes=minutes,
        eval_every=eval_every,
        evaluation=evaluation,
        sweep=sweep,
    )


def train(config: Any, run_dir: str | Path | None = None, **options: Any) -> RunResult:
    """Trains ``config`` into ``run_dir`` (default ``runs/<env>-<algorithm>-<time>``).

    ``options`` are :func:`make_spec`'s (``seeds``, ``minutes``, ``sweep``, ...) and
    :func:`run`'s (``progress``, ``log``). Raises :class:`RunError` on bad settings.
    """
    run_options = {k: options.pop(k) for k in ("progress", "log") if k in options}
    spec = make_spec(config, **options)
    path = new_run_dir(spec) if run_dir is None else Path(run_dir)
    return run(spec, path, resume=False, **run_options)


def resume(run_dir: str | Path, **options: Any) -> RunResult:
    """Continues the run in ``run_dir`` from its newest intact checkpoint (bitwise)."""
    return run(RunSpec.load(Path(run_dir)), Path(run_dir), resume=True, **options)


def new_run_dir(spec: RunSpec) -> Path:
    """``runs/<env_id>-<algorithm>-<YYYYmmdd-HHMMSS>[-n]``, a path that does not exist yet."""
    base = Path("runs") / f"{spec.config.env_id}-{spec.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def check_new_run_dir(run_dir: Path) -> None:
    """A new run may use ``run_dir`` only if it is absent or an empty directory."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"run directory {run_dir} is a file, not a directory")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise RunError(
            f"run directory {run_dir} exists and is not empty (continue it with --resume {run_dir})"
        )


def update_schedule(start: int, spec: RunSpec) -> Iterator[int]:
    """Chunk lengths from ``start``: to ``num_updates``, or forever for an open-ended budget."""
    total = spec.num_updates
    open_ended = spec.minutes is not None and spec.algorithm_spec.open_ended
    update = start
    while open_ended or update < total:
        n = spec.chunk_updates if open_ended else min(spec.chunk_updates, total - update)
        yield n
        update += n


def run(
    spec: RunSpec,
    run_dir: Path,
    *,
    resume: bool,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    stop_after_updates: int | None = None,
    chunk_sleep: float = 0.0,
) -> RunResult:
    """Runs (or, with ``resume``, continues) ``spec`` in ``run_dir``; see the module docstring."""
    from rljax.run.lock import RunLock, RunLockedError

    log = log or (lambda text: print(text, flush=True))
    run_dir = Path(run_dir)
    if not resume:
        check_new_run_dir(run_dir)
    elif not (run_dir / CONFIG_FILE).is_file():
        raise RunError(f"{run_dir / CONFIG_FILE} not found: not an rljax run directory")
    if spec.tensorboard:
        import importlib.util

        if not importlib.util.find_spec("tensorboardX"):
            raise RunError("--tensorboard needs tensorboardX: pip install 'rljax[tensorboard]'")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"cannot create run directory {run_dir}: {error.strerror}") from None
    try:
        with RunLock(run_dir):
            return _locked_run(
                spec, run_dir, resume, progress, log, stop_after_updates, chunk_sleep
            )
    except RunLockedError as error:
        raise RunError(str(error)) from None
    except OSError as error:  # a full disk, a read-only directory: one line, not a traceback
        raise RunError(f"writing {run_dir} failed: {error}") from None


def _locked_run(spec, run_dir, resume, progress, log, stop_after_updates, chunk_sleep):
    import jax
    import numpy as np

    from rljax import checkpoint, metrics
    from rljax.run import outputs
    from rljax.run.programs import programs_for, run_keys

    algorithm = spec.algorithm_spec
    if not resume:
        spec.save(run_dir)
        checkpoint.checkpoint_dir(run_dir).mkdir(exist_ok=True)
        write_json_atomic(
            checkpoint.checkpoint_dir(run_dir) / CHECKPOINT_CONFIG,
            {"config": spec.config.to_dict()},
        )
    checkpoint.clean_incomplete(run_dir)
    programs = programs_for(
        algorithm, spec.config, spec.num_runs, spec.seed_groups, batched_hparams=bool(spec.sweep)
    )
    hparams = spec.hparams()
    restored = restore(spec, run_dir, programs, log) if resume else None
    start, train_seconds = (0, 0.0) if restored is None else (restored[0], restored[2])
    steps = spec.steps_per_update
    num_updates, runs = spec.num_updates, spec.num_runs
    budget = None if spec.minutes is None else 60.0 * spec.minutes
    log(
        f"rljax train {algorithm.name}: {spec.config.env_id}, "
        + (
            f"{runs} runs ({len(spec.points)} sweep points x {spec.seeds} seeds)"
            if spec.sweep
            else f"{runs} seed{'s' if runs > 1 else ''}"
        )
        + (f" x {num_updates} {algorithm.unit}s" if budget is None else f", {spec.minutes:g} min")
        + (f" x {steps} env steps" if steps and budget is None else "")
        + f", chunks of {spec.chunk_updates}"
        + (f", {spec.seed_groups} seed groups side by side" if spec.seed_groups > 1 else "")
        + f", run dir {run_dir}"
    )
    if resume:
        where = f"checkpoint of {algorithm.unit} {start}" if restored else "the start"
        log(f"resuming from {where}")
    schedule = update_schedule(start, spec)
    if budget is not None and algorithm.open_ended:
        sizes: tuple[int, ...] = (spec.chunk_updates,)
    else:
        sizes = chunk_sizes(start, num_updates, spec.chunk_updates)
    lengths = ", ".join(map(str, sizes))
    log(f"compiling the {algorithm.title} programs (chunks of {lengths} {algorithm.unit}s)")
    compile_s = programs.compile(init=restored is None, chunk_sizes=sizes)
    log(f"compiled in {compile_s:.2f} s")
    state = restored[1] if restored else programs.init(run_keys(spec.seed_values), hparams)

    evaluate = None
    if algorithm.evaluation is not None and spec.eval_every:
        start_eval = time.perf_counter()
        evaluate = algorithm.evaluation.make(spec.config, spec.evaluation, spec.seed)
        compile_s += time.perf_counter() - start_eval

    metrics_path = run_dir / METRICS_FILE
    metrics.truncate_jsonl(metrics_path, start)
    jsonl = metrics.JsonlWriter(metrics_path)
    tensorboard = None
    if spec.tensorboard and steps is not None:
        purge = start * steps + 1 if start else None
        tensorboard = metrics.TensorBoardWriter(run_dir / "tensorboard", purge_step=purge)
    checkpointer = checkpoint.Checkpointer(run_dir, spec.keep_checkpoints)
    open_total = budget is not None and algorithm.open_ended
    if steps is not None and not open_total:
        bar = metrics.Progress(num_updates * steps * runs, start * steps * runs, not progress)
    else:
        total = None if open_total else num_updates
        bar = metrics.Progress(total, start, not progress, desc=algorithm.name, unit="it")
    # A sweep point's values under "sweep": a swept "lr" must not clash with the "lr" metric.
    extra = None
    if spec.sweep:
        extra = [{"point": p, "sweep": spec.points[p]} for p in spec.point_of_run]
    names = algorithm.metric_names
    update, last_checkpoint, eval_seconds = start, (start if restored else None), 0.0
    figures: dict[str, float] = {}
    run_start = time.perf_counter()

    def save() -> None:
        nonlocal last_checkpoint
        tree = {
            "state": state,
            "update": np.int32(update),
            "train_seconds": np.float32(train_seconds),
        }
        checkpointer.save(update, tree)
        last_checkpoint = update

    def evaluate_now() -> None:
        nonlocal eval_seconds
        began = time.perf_counter()
        rows = evaluate(state, update)
        stamp = {"kind": "eval", "update": update, "train_seconds": round(train_seconds, 3)}
        jsonl.write([{**stamp, **row} for row in rows])
        if algorithm.evaluation.progress is not None:
            figures.update(dict(algorithm.evaluation.progress(row) for row in rows))
        eval_seconds += time.perf_counter() - began
        outputs.plot_run(spec, run_dir, metrics.read_jsonl(metrics_path))

    status, message = 0, ""
    try:
        for n in schedule:
            if budget is not None and train_seconds >= budget:
                break
            began = time.perf_counter()
            state, chunk_metrics, params_finite = programs.chunk(n)(state, hparams)
            chunk_metrics = jax.device_get(chunk_metrics)
            params_finite = np.asarray(params_finite)
            train_seconds += time.perf_counter() - began
            bad = metrics.first_divergence(chunk_metrics, params_finite)
            keep = n if bad is None else bad[0] + 1
            rows = metrics.chunk_rows(
                chunk_metrics, update + 1, spec.seed_values, time.time(), keep, names, extra
            )
            for row in rows:
                row["kind"] = "train"
                row["train_seconds"] = round(train_seconds, 3)
            jsonl.write(rows)
            if tensorboard is not None:
                tensorboard.write(chunk_metrics, keep)
            if bad is not None:
                kept = (
                    f"the last good checkpoint is {algorithm.unit} {last_checkpoint} in "
                    f"{checkpoint.checkpoint_dir(run_dir)}"
                    if last_checkpoint is not None
                    else "no checkpoint was written"
                )
                status = 1
                message = (
                    f"training diverged at {algorithm.unit} {update + bad[0] + 1}: {bad[1]}; "
                    f"stopped, {kept}"
                )
                break
            previous, update = update, update + n
            if "episode_return" in chunk_metrics:
                figures["return"] = float(metrics.seed_mean(chunk_metrics["episode_return"][:, -1]))
            if evaluate is not None and update // spec.eval_every > previous // spec.eval_every:
                evaluate_now()
            if update == num_updates or update // spec.checkpoint_every > (
                previous // spec.checkpoint_every
            ):
                save()
            shown = dict(figures)
            bar.update(
                n * steps * runs if steps and not open_total else n,
                shown.pop("return", None),
                **shown,
            )
            if stop_after_updates is not None and stop_after_updates <= update < num_updates:
                bar.close()
                log(f"stopped after {update} {algorithm.unit}s (--stop-after-updates)")
                return RunResult(run_dir, 0, update, "stopped", state, compile_s, train_seconds)
            if chunk_sleep:
                time.sleep(chunk_sleep)
    except KeyboardInterrupt:
        bar.close()
        checkpointer.close()
        if tensorboard is not None:
            tensorboard.close()
        message = (
            f"interrupted after {update} {algorithm.unit}s; continue with: "
            f"rljax train {algorithm.name} --resume {run_dir}"
        )
        print("\n" + message, file=sys.stderr)
        return RunResult(run_dir, 130, update, message, state, compile_s, train_seconds)
    bar.close()
    try:
        if status == 0:
            if last_checkpoint != update:
                save()
            if evaluate is not None and not any(
                row.get("kind") == "eval" and row["update"] == update
                for row in metrics.read_jsonl(metrics_path)
            ):
                evaluate_now()
    finally:
        checkpointer.close()
        if tensorboard is not None:
            tensorboard.close()
    run_s = time.perf_counter() - run_start - eval_seconds
    rows = metrics.read_jsonl(metrics_path)
    outputs.plot_run(spec, run_dir, rows)
    if status == 0:
        log(
            outputs.summary(
                spec,
                run_dir,
                rows,
                update=update,
                start_update=start,
                train_seconds=train_seconds,
                eval_seconds=eval_seconds,
                compile_s=compile_s,
                run_s=run_s,
            )
        )
    return RunResult(run_dir, status, update, message, state, compile_s, train_seconds)
