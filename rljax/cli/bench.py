"""``rljax bench envs``: random-policy throughput of the registered environments."""

from __future__ import annotations

import argparse

from rljax.cli.common import fail, positive_int


def add_bench(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="measure throughput")
    what = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    envs = what.add_parser("envs", help="random-policy steps/s of the registered environments")
    envs.add_argument("--quick", action="store_true", help="batch sizes 1 and 1024, short runs")
    envs.add_argument("--envs", nargs="+", metavar="ID", help="environment ids (default: all)")
    envs.add_argument(
        "--batch-sizes", nargs="+", type=positive_int, metavar="B", help="numbers of envs (>= 1)"
    )
    envs.set_defaults(handler=bench_envs, prog_name="rljax bench envs")


def bench_envs(args: argparse.Namespace) -> int:
    import jax

    from rljax.benchmarking import env_throughput
    from rljax.env import registered_ids

    env_ids = args.envs or registered_ids()
    batch_sizes = args.batch_sizes or ([1, 1024] if args.quick else [1, 64, 1024, 4096])
    unknown = [e for e in env_ids if e not in registered_ids()]
    if unknown:
        return fail(args.prog_name, f"unknown env id(s) {unknown}; registered: {registered_ids()}")
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
