"""The ``rljax`` command line, built from the registries.

``rljax train ALGORITHM`` has one sub-command per registered algorithm (:mod:`rljax.train`),
its flags derived from the algorithm's ``Config`` fields; ``rljax eval``, ``rljax play``,
``rljax arena`` and ``rljax bench`` name no algorithm or environment either. The run itself is
:mod:`rljax.run`'s driver. Run-directory layout::

    config.json      the configuration and the run settings (written first)
    metrics.jsonl    one row per update per run ("kind": "train") and per evaluation ("eval")
    checkpoints/     {"state", "update", "train_seconds"}, checksummed; config.json as trained
    curve.png        mean ± std over seeds of the episode return (one curve per sweep point)
    scores.png       evaluation scores over training time (game-playing algorithms)
    tensorboard/     with --tensorboard
    episode.gif      written by ``rljax eval``
"""

from __future__ import annotations

from collections.abc import Sequence


def build_parser():
    """The whole ``rljax`` argument parser."""
    from rljax import train as registry
    from rljax.cli.bench import add_bench
    from rljax.cli.common import Parser
    from rljax.cli.evaluate import add_eval
    from rljax.cli.games import add_arena, add_play
    from rljax.cli.train import add_train

    parser = Parser(
        prog="rljax", description="JAX-accelerated, purely functional reinforcement learning."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = registry.names()
    train = commands.add_parser(
        "train", help=f"train an agent ({', '.join(names)}; rljax train NAME --help)"
    )
    algorithms = train.add_subparsers(dest="algorithm", required=True, metavar="ALGORITHM")
    for name in names:
        add_train(algorithms, registry.get(name))
    add_eval(commands)
    add_play(commands)
    add_arena(commands)
    add_bench(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (argparse's own errors and --help included)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    return args.handler(args)
