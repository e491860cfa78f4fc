"""The ``rljax`` command line: ``rljax bench envs`` (and, as algorithms land, ``rljax train``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _bench_envs(args: argparse.Namespace) -> int:
    import jax

    from rljax.benchmarking import env_throughput
    from rljax.env import registered_ids

    env_ids = args.envs or registered_ids()
    batch_sizes = args.batch_sizes or ([1, 1024] if args.quick else [1, 64, 1024, 4096])
    unknown = [e for e in env_ids if e not in registered_ids()]
    if unknown:
        print(
            f"error: unknown env id(s) {unknown}; registered: {registered_ids()}", file=sys.stderr
        )
        return 2
    device = jax.devices()[0]
    print(f"rljax environment throughput, random policy, auto-reset on ({device.platform})")
    header = f"{'environment':<28}" + "".join(f"{'B=' + str(b):>14}" for b in batch_sizes)
    print(header + f"{'compile s':>11}")
    print("-" * len(header + " " * 11))
    for env_id in env_ids:
        cells, compile_s = [], 0.0
        for num_envs in batch_sizes:
            steps = max(200, min(5_000, (200_000 if args.quick else 2_000_000) // num_envs))
            row = env_throughput(env_id, num_envs, steps, repeats=3 if args.quick else 5)
            cells.append(f"{row['steps_per_s'] / 1e6:>12.2f} M")
            compile_s = max(compile_s, row["compile_s"])
        print(f"{env_id:<28}" + "".join(f"{c:>14}" for c in cells) + f"{compile_s:>11.2f}")
    print("steps/s = environment steps per second (median of repeats, compile time excluded)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rljax", description="JAX-accelerated, purely functional reinforcement learning."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bench = commands.add_parser("bench", help="measure throughput")
    bench_what = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    envs = bench_what.add_parser(
        "envs", help="random-policy steps/s of the registered environments"
    )
    envs.add_argument("--quick", action="store_true", help="batch sizes 1 and 1024, short runs")
    envs.add_argument("--envs", nargs="+", metavar="ID", help="environment ids (default: all)")
    envs.add_argument("--batch-sizes", nargs="+", type=int, metavar="B", help="numbers of envs")
    envs.set_defaults(handler=_bench_envs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
