"""``rljax train ALGORITHM``: one sub-command per registered algorithm, flags from its Config."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from rljax.cli.common import (
    CliError,
    HelpFormatter,
    examples,
    fail,
    note,
    parse_float,
    parse_int,
)
from rljax.cli.config_flags import add_config_flags, given_fields

# Run flags that --resume takes from config.json instead (named in a note when given).
RESUME_IGNORES = (
    "preset",
    "seeds",
    "seed_groups",
    "seed",
    "run_dir",
    "chunk_updates",
    "checkpoint_every",
    "keep_checkpoints",
    "minutes",
    "eval_every",
    "sweep",
)


def add_train(commands: argparse._SubParsersAction, algorithm: Any) -> None:
    """The ``rljax train <algorithm.name>`` parser, built from the declaration alone."""
    name = algorithm.name
    presets = ", ".join(sorted(algorithm.presets)) or "none defined yet"
    parser = commands.add_parser(
        name,
        help=algorithm.summary,
        description=algorithm.description,
        formatter_class=HelpFormatter,
        epilog=examples(algorithm.examples),
    )
    run = parser.add_argument_group("run")
    run.add_argument("--preset", metavar="NAME", help=f"start from a named config ({presets})")
    run.add_argument("--seeds", type=parse_int, metavar="N", help="seeds, vmapped (default: 8)")
    run.add_argument(
        "--seed", type=parse_int, metavar="S", help="base seed; seed i uses S + i (default: 0)"
    )
    run.add_argument(
        "--seed-groups",
        type=parse_int,
        metavar="G",
        help="split the runs into G groups run side by side, one per CPU core; must divide the "
        "runs (default: the CPU cores, as many as divide them with >= 2 per group; 1 on an "
        "accelerator)",
    )
    run.add_argument(
        "--sweep",
        action="append",
        metavar="FIELD=V1,V2",
        help="train every value of a numeric field (repeat for a grid) for every seed, all as one "
        "vmapped program; one curve per value",
    )
    run.add_argument(
        "--run-dir", metavar="DIR", help=f"output directory (default: runs/<env_id>-{name}-<time>)"
    )
    run.add_argument(
        "--minutes",
        type=parse_float,
        metavar="M",
        help="training time budget"
        + (" (the run then goes on until it is spent)" if algorithm.open_ended else ""),
    )
    run.add_argument(
        "--chunk-updates",
        "--chunk-iterations",
        dest="chunk_updates",
        type=parse_int,
        metavar="C",
        help=f"{algorithm.unit}s per compiled chunk (default: ~1/50 of the run)",
    )
    run.add_argument(
        "--checkpoint-every",
        type=parse_int,
        metavar="K",
        help=f"checkpoint at the first chunk end at or after every K {algorithm.unit}s, and at "
        "the end (default: ~10 per run)",
    )
    run.add_argument(
        "--keep-checkpoints",
        type=parse_int,
        metavar="N",
        help="newest checkpoints kept (default: 3)",
    )
    run.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard scalars to RUN_DIR/tensorboard (pip install "
        "'rljax[tensorboard]')",
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a stopped run from its newest intact checkpoint, with the settings in its "
        "config.json (other settings given are ignored, with a note)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    # Test hooks: stop like a crash would (no final checkpoint), and slow the host loop down.
    run.add_argument("--stop-after-updates", type=parse_int, help=argparse.SUPPRESS)
    run.add_argument("--chunk-sleep", type=float, default=0.0, help=argparse.SUPPRESS)
    if algorithm.evaluation is not None:
        run.add_argument(
            "--eval-every",
            type=parse_int,
            metavar="N",
            help=f"{algorithm.unit}s between evaluations (default: 4 chunks)",
        )
        add_config_flags(
            parser,
            algorithm.evaluation.settings_cls,
            "evaluation",
            "Settings of the periodic evaluation during training.",
        )
    add_config_flags(
        parser,
        algorithm.config_cls,
        f"{algorithm.title} config",
        f"Every {name}.Config field. Defaults shown are Config's own; --preset replaces them and "
        "the flags given override the preset.",
    )
    parser.add_argument("--env", dest="env_alias", default=None, help="alias of --env-id")
    parser.set_defaults(handler=train_command, prog_name=f"rljax train {name}", algorithm=name)


def config_from_args(args: argparse.Namespace, algorithm: Any) -> tuple[Any, str | None]:
    """``(config, preset used)`` from the flags given; ``ValueError`` names a bad field."""
    given = given_fields(args, algorithm.config_cls)
    alias = getattr(args, "env_alias", None)
    if alias is not None:
        if "env_id" in given and given["env_id"] != alias:
            raise CliError(f"--env={alias!r} and --env-id={given['env_id']!r} disagree: give one")
        given["env_id"] = alias
    preset = args.preset
    if preset is None and algorithm.preset_for_env is not None and "env_id" in given:
        preset = algorithm.preset_for_env(given["env_id"])
    if preset is None:
        return algorithm.config_cls(**given), None
    return dataclasses.replace(algorithm.preset(preset), **given), preset


def spec_from_args(args: argparse.Namespace, algorithm: Any) -> Any:
    from rljax.run.driver import make_spec
    from rljax.run.spec import parse_sweep

    config, preset = config_from_args(args, algorithm)
    if preset is not None and args.preset is None:
        note(args.prog_name, f"using preset {preset!r} for {config.env_id} (--preset to choose)")
    evaluation = None
    if algorithm.evaluation is not None:
        settings = algorithm.evaluation.settings_cls
        evaluation = settings(**given_fields(args, settings))
    for name in ("seeds", "chunk_updates", "checkpoint_every", "keep_checkpoints"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CliError(f"--{name.replace('_', '-')}={value} is invalid: must be >= 1")
    return make_spec(
        config,
        seeds=args.seeds,
        seed=0 if args.seed is None else args.seed,
        seed_groups=args.seed_groups,
        chunk_updates=args.chunk_updates,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=3 if args.keep_checkpoints is None else args.keep_checkpoints,
        tensorboard=args.tensorboard,
        minutes=args.minutes,
        eval_every=getattr(args, "eval_every", None),
        evaluation=evaluation,
        sweep=parse_sweep(args.sweep or (), algorithm.config_cls),
    )


def ignored_on_resume(args: argparse.Namespace, algorithm: Any) -> list[str]:
    """The flags given with ``--resume`` that it does not use."""
    names = list(given_fields(args, algorithm.config_cls))
    if algorithm.evaluation is not None:
        names += list(given_fields(args, algorithm.evaluation.settings_cls))
    names += [n for n in RESUME_IGNORES if getattr(args, n, None) is not None]
    if getattr(args, "env_alias", None) is not None:
        names.append("env")
    return ["--" + n.replace("_", "-") for n in names]


def train_command(args: argparse.Namespace) -> int:
    from rljax import train as registry
    from rljax.run import driver
    from rljax.run.spec import RunError, RunSpec

    prog = args.prog_name
    algorithm = registry.get(args.algorithm)
    try:
        if args.resume:
            run_dir = Path(args.resume)
            spec = RunSpec.load(run_dir)
            if spec.algorithm != algorithm.name:
                raise CliError(
                    f"{run_dir} is a {spec.algorithm} run; continue it with "
                    f"rljax train {spec.algorithm} --resume {run_dir}"
                )
            ignored = ignored_on_resume(args, algorithm)
            if ignored:
                note(
                    prog,
                    f"with --resume, {', '.join(ignored)} ignored (settings come from "
                    f"{run_dir / 'config.json'})",
                )
            if args.tensorboard and not spec.tensorboard:
                spec = dataclasses.replace(spec, tensorboard=True)
        else:
            try:
                spec = spec_from_args(args, algorithm)
            except TypeError as error:  # a value of a kind no field check foresaw
                raise RunError(str(error)) from None
            run_dir = Path(args.run_dir) if args.run_dir else driver.new_run_dir(spec)
        result = driver.run(
            spec,
            run_dir,
            resume=bool(args.resume),
            progress=not args.no_progress,
            stop_after_updates=args.stop_after_updates,
            chunk_sleep=args.chunk_sleep,
        )
    except (ValueError, RunError) as error:
        return fail(prog, error)
    if result.status == 1:
        return fail(prog, result.message, code=1)
    return result.status
