"""The ``rljax`` command line: ``rljax train ppo|mappo``, ``rljax eval RUN_DIR``, ``rljax bench``.

``rljax train ppo`` (and ``rljax train mappo``, multi-agent PPO on ``TreasureHunt-v0``/``Tag-v0``,
with the same machinery) runs ``--seeds`` seeds of one configuration as one vmapped XLA program,
executed in compiled chunks of ``--chunk-updates`` updates. Between chunks the host draws the
progress bar, appends metric rows to ``RUN_DIR/metrics.jsonl``, checks for divergence and writes
Orbax checkpoints; chunked runs give bitwise the parameters of one ``make_train`` call, and a
run resumed with ``--resume RUN_DIR`` (after a crash, Ctrl-C or ``kill -9``) ends bitwise where
the uninterrupted run would have.

Run directory::

    config.json      the configuration, seeds and chunk/checkpoint settings (written first)
    metrics.jsonl    one row per update per seed (see rljax.metrics)
    checkpoints/     Orbax checkpoints {"state": vmapped TrainState, "update": int}
    curve.png        mean ± std over seeds of the episode return against env steps
    tensorboard/     with --tensorboard
    episode.gif      written by ``rljax eval``
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
import time
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# --- rljax bench envs --------------------------------------------------------------------------


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


# --- shared helpers ----------------------------------------------------------------------------

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CURVE_FILE = "curve.png"
SUCCESS_FILE = "success.png"


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def _fail(prog: str, message: str, code: int = 2) -> int:
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# The algorithms ``rljax train`` runs with the chunked-run machinery below. Each module provides
# Config (frozen dataclass: to_dict/from_dict, hparams() -> ppo.HParams, num_updates, batch_size),
# make_init, make_update_chunk, METRIC_NAMES (with episode_return and env_steps) and PRESETS.
ALGORITHMS = {"ppo": "rljax.train.ppo", "mappo": "rljax.train.mappo"}
_TITLES = {"ppo": "PPO", "mappo": "MAPPO"}


def algorithm_module(name: str) -> Any:
    """The training module of algorithm ``name`` (a key of :data:`ALGORITHMS`)."""
    import importlib

    return importlib.import_module(ALGORITHMS[name])


def _run_title(config: Any) -> str:
    """PPO, MAPPO, or IPPO (a mappo config with independent critics), for titles."""
    algorithm = algorithm_of(config)
    if algorithm == "mappo" and getattr(config, "critic", None) == "independent":
        return "IPPO"
    return _TITLES[algorithm]


def algorithm_of(config: Any) -> str:
    """The algorithm name whose module defines ``config``'s class."""
    module = type(config).__module__
    for name, path in ALGORITHMS.items():
        if module == path:
            return name
    raise TypeError(f"{type(config).__name__} from {module} is not a config of {list(ALGORITHMS)}")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """What ``config.json`` records: everything needed to redo or continue a run."""

    config: Any  # ppo.Config or mappo.Config (the algorithm's module is the config's)
    seeds: int
    seed: int
    chunk_updates: int
    checkpoint_every: int
    keep_checkpoints: int = 3
    tensorboard: bool = False
    algorithm: str = "ppo"
    # Groups of seeds run side by side, one per CPU core (rljax.multicore); recorded so that a
    # resumed run splits the seeds the same way whatever machine it continues on.
    seed_groups: int = 1

    @property
    def seed_values(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def to_json(self) -> dict[str, Any]:
        config = self.config
        return {
            "algorithm": self.algorithm,
            "config": config.to_dict(),
            "seeds": self.seeds,
            "seed": self.seed,
            "seed_values": self.seed_values,
            "chunk_updates": self.chunk_updates,
            "checkpoint_every": self.checkpoint_every,
            "keep_checkpoints": self.keep_checkpoints,
            "tensorboard": self.tensorboard,
            "seed_groups": self.seed_groups,
            "num_updates": config.num_updates,
            "batch_size": config.batch_size,
            "env_steps_per_seed": config.num_updates * config.batch_size,
        }

    @classmethod
    def load(cls, run_dir: Path) -> RunSpec:
        path = run_dir / CONFIG_FILE
        if not path.exists():
            raise CliError(f"{path} not found: not an rljax run directory")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            algorithm = data.get("algorithm", "ppo")
            if algorithm not in ALGORITHMS:
                raise CliError(f"{path}: unsupported algorithm {algorithm!r}")
            return cls(
                config=algorithm_module(algorithm).Config.from_dict(data["config"]),
                seeds=int(data["seeds"]),
                seed=int(data["seed"]),
                chunk_updates=int(data["chunk_updates"]),
                checkpoint_every=int(data["checkpoint_every"]),
                keep_checkpoints=int(data.get("keep_checkpoints", 3)),
                tensorboard=bool(data.get("tensorboard", False)),
                algorithm=algorithm,
                seed_groups=int(data.get("seed_groups", 1)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CliError(f"{path} is invalid: {error}") from None


def seed_keys(seed: int, num_seeds: int):
    """The ``[S]`` typed PRNG keys of a run: seed index ``i`` uses ``jax.random.key(seed + i)``.

    A run equals, bit for bit, ``jax.vmap(ppo.make_train(config))(seed_keys(seed, S))``. (A
    single seed trained alone follows the same distribution but not the same bits: XLA batches
    the vmapped matrix products differently.)
    """
    import jax
    import numpy as np

    return jax.vmap(jax.random.key)(np.arange(seed, seed + num_seeds, dtype=np.int32))


def default_chunk_updates(num_updates: int) -> int:
    """About 1/50 of the run (at least 1): ~50 host round trips per run.

    A divisor of ``num_updates`` within a factor of 2 of that is preferred (the larger of two
    equally close), so that no second program has to be compiled for a shorter last chunk.
    """
    target = max(1, round(num_updates / 50))
    divisors = [d for d in range(max(1, target // 2), 2 * target + 1) if num_updates % d == 0]
    if not divisors:
        return target
    return min(divisors, key=lambda d: (abs(d - target), -d))


def default_checkpoint_every(num_updates: int, chunk_updates: int) -> int:
    """About 10 checkpoints per run, on chunk boundaries."""
    return chunk_updates * max(1, round(num_updates / 10 / chunk_updates))


def _static_key(config: Any) -> str:
    """The part of a config that shapes the compiled program (hyperparameter leaves removed)."""
    from rljax.train import ppo

    leaves = {f.name for f in dataclasses.fields(ppo.HParams)}
    static = {k: v for k, v in config.to_dict().items() if k not in leaves}
    static["__algorithm__"] = algorithm_of(config)
    return json.dumps(static, sort_keys=True, default=repr)


class Programs:
    """The compiled programs of a run over ``S`` seeds, compiled ahead of time once.

    ``init(keys [S], hparams) -> state`` and ``chunk(n)(state, hparams) -> (state, metrics
    {name: [S, n]}, params_finite [S])``. Hyperparameters are arguments, not constants, so
    configurations that differ only in them share programs (the in-process cache below). With
    ``groups > 1`` the programs are compiled for ``S / groups`` seeds and each call runs the groups
    side by side in threads (:mod:`rljax.multicore`), one per CPU core.
    """

    def __init__(self, config: Any, num_seeds: int, groups: int = 1):
        import jax

        if groups < 1 or num_seeds % groups:
            raise ValueError(f"groups={groups!r} must be >= 1 and divide num_seeds={num_seeds}")
        self.config = config
        self.num_seeds = num_seeds
        self.groups = groups
        self._algorithm = algorithm_module(algorithm_of(config))
        init = self._algorithm.make_init(config)
        # Seeds are initialised one after another (lax.map): bitwise the same state as vmap. A
        # plain vmapped orthogonal initialiser would run batched QRs, which jaxlib 0.10's CPU
        # LAPACK kernels fan out onto the thread pool and block on (a deadlock on 2 cores);
        # rljax.networks.orthogonal now loops them too, and this keeps the CLI independent of it.
        self._init_fn = lambda keys, hparams: jax.lax.map(lambda key: init(key, hparams), keys)
        self._compiled: dict[Any, Any] = {}
        self._abstract_state = None

    def abstract_state(self, num_seeds: int | None = None) -> Any:
        """Shapes and dtypes of the state over ``num_seeds`` (default: all) seeds."""
        import jax

        num_seeds = self.num_seeds if num_seeds is None else num_seeds
        full = self._abstract_state
        if full is None:
            keys = seed_keys(0, self.num_seeds)
            full = self._abstract_state = jax.eval_shape(self._init_fn, keys, self.config.hparams())
        return jax.tree.map(
            lambda x: jax.ShapeDtypeStruct((num_seeds, *x.shape[1:]), x.dtype), full
        )

    def _chunk_fn(self, n: int):
        import jax
        import jax.numpy as jnp

        chunk = jax.vmap(self._algorithm.make_update_chunk(self.config, n), in_axes=(0, None))

        def all_finite(params):
            return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)]))

        def run(state, hparams):
            state, metrics = chunk(state, hparams)
            return state, metrics, jax.vmap(all_finite)(state.params)

        return run

    def compile(self, init: bool, chunk_sizes: Sequence[int]) -> float:
        """Compiles what is missing; returns the seconds it took (tracing included)."""
        import jax

        start = time.perf_counter()
        hparams = self.config.hparams()
        lowered = {}
        width = self.num_seeds // self.groups
        if init and "init" not in self._compiled:
            keys = seed_keys(0, width)
            lowered["init"] = jax.jit(self._init_fn).lower(keys, hparams)
        for n in sorted(set(chunk_sizes)):
            if ("chunk", n) not in self._compiled:
                fn = jax.jit(self._chunk_fn(n))
                lowered["chunk", n] = fn.lower(self.abstract_state(width), hparams)
        # One at a time: compiling in threads side by side measured slower on 2 cores.
        self._compiled.update({name: low.compile() for name, low in lowered.items()})
        return time.perf_counter() - start

    def init(self, keys, hparams):
        from rljax.multicore import run_groups

        return run_groups(self._compiled["init"], keys, hparams, groups=self.groups)

    def chunk(self, n: int):
        from rljax.multicore import run_groups

        compiled = self._compiled["chunk", n]
        return lambda state, hparams: run_groups(compiled, state, hparams, groups=self.groups)


_PROGRAMS: dict[tuple[str, int, int], Programs] = {}


def programs_for(config: Any, num_seeds: int, groups: int = 1) -> Programs:
    """The (process-wide cached) :class:`Programs` of ``config`` over ``num_seeds`` seeds."""
    key = (_static_key(config), num_seeds, groups)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = Programs(config, num_seeds, groups)
    return _PROGRAMS[key]


def _chunk_schedule(start: int, total: int, chunk: int) -> list[int]:
    """Chunk lengths from update ``start`` to ``total``: full chunks, then the remainder."""
    sizes = []
    u = start
    while u < total:
        n = min(chunk, total - u)
        sizes.append(n)
        u += n
    return sizes


def _restore_state(run_dir: Path, programs: Programs, update: int):
    import numpy as np

    from rljax import checkpoint

    target = {"state": programs.abstract_state(), "update": np.int32(0)}
    saved = checkpoint.restore(run_dir, update, target=target)
    if int(saved["update"]) != update:
        raise CliError(f"checkpoint {update} of {run_dir} records update {saved['update']}")
    return saved["state"]


# --- rljax train ppo ---------------------------------------------------------------------------

# One line per ppo.Config field; a field missing here still gets a flag (with a generic help).
_FIELD_HELP = {
    "env_id": "registered environment id",
    "num_envs": "parallel environments per seed",
    "num_steps": "rollout length per update, per environment",
    "total_timesteps": "environment steps per seed (updates = this // (num_envs * num_steps))",
    "update_epochs": "passes over each rollout batch",
    "num_minibatches": "minibatches per epoch (must divide num_envs * num_steps)",
    "lr": "Adam learning rate",
    "gamma": "discount factor",
    "gae_lambda": "GAE lambda",
    "clip_eps": "PPO ratio clip (and value clip with --clip-value-loss)",
    "ent_coef": "entropy bonus coefficient",
    "vf_coef": "value loss coefficient",
    "max_grad_norm": "global gradient-norm clip",
    "anneal_lr": "anneal the learning rate linearly to 0",
    "activation": "hidden activation",
    "hidden_sizes": "hidden layer sizes of actor and critic",
    "clip_value_loss": "clip the value loss like the policy ratio",
    "normalize_obs": "normalise observations with running statistics",
    "normalize_reward": "scale rewards by the running std of the discounted return",
    "adam_eps": "Adam epsilon",
    "env_kwargs": "environment parameter overrides, values parsed as JSON (e.g. gravity=9.81)",
}

# mappo.Config's fields: PPO's meanings, plus the multi-agent ones.
_MAPPO_FIELD_HELP = {
    **_FIELD_HELP,
    "env_id": "multi-agent environment id: TreasureHunt-v0 or Tag-v0 (also --env)",
    "total_timesteps": "joint environment steps per seed (updates = this // (num_envs * "
    "num_steps))",
    "critic": "independent (IPPO: each agent's critic sees its observation) or centralised "
    "(MAPPO: the critic sees the global state)",
    "credit": "shared (each agent learns from its reward) or difference (D_i = G - G with agent "
    "i's action replaced by STAY)",
    "share_parameters": "one network per team with a one-hot agent id (--no-share-parameters: "
    "one per agent)",
    "reward_scale": "multiplies the rewards the critic learns",
    "normalize_obs": "normalise observations and the global state with running statistics",
    "env_kwargs": "environment settings and parameters, values parsed as JSON (e.g. size=12 "
    "num_agents=4 num_treasures=6 obs_mode=egocentric view_size=23)",
}


def _parse_int(text: str) -> int:
    """An integer; ``1e6`` and ``100_000`` are accepted too."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}")
    return int(value)


def _parse_key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        lowered = raw.lower()
        if lowered in ("true", "false"):
            value = lowered == "true"
        else:
            try:
                value = float(raw)  # inf, nan
            except ValueError:
                value = raw
    return key, value


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual but keeps an ``examples:`` epilog's lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _format_default(value: Any) -> str:
    if value == ():
        return "none"
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return " ".join(f"{k}={v}" for k, v in value) or "none"
        return " ".join(map(str, value))
    return str(value)


def _add_config_flags(
    parser: argparse.ArgumentParser,
    config_cls: type | None = None,
    title: str = "PPO config",
    description: str = (
        "Every ppo.Config field. Defaults shown are Config's own; --preset replaces them and the "
        "flags given override the preset."
    ),
    field_help: dict[str, str] | None = None,
) -> None:
    """One flag per field of a frozen config dataclass (``--hidden-sizes 64 64``, ``--no-mirror``).

    Flags default to ``argparse.SUPPRESS``, so ``vars(args)`` holds only the fields given.
    """
    if config_cls is None:
        from rljax.train import ppo

        config_cls = ppo.Config
    field_help = _FIELD_HELP if field_help is None else field_help
    group = parser.add_argument_group(title, description)
    defaults = config_cls()
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        name = field.name
        hint = hints.get(name, str)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        help_text = field_help.get(name, name.replace("_", " "))
        help_text = f"{help_text} (default: {_format_default(getattr(defaults, name))})"
        kwargs: dict[str, Any] = {
            "dest": name,
            "default": argparse.SUPPRESS,
            "help": help_text.replace("%", "%%"),
        }
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is tuple and args and typing.get_origin(args[0]) is tuple:
            kwargs.update(nargs="*", type=_parse_key_value, metavar="KEY=VALUE")
        elif origin is tuple:
            element = args[0] if args else str
            kwargs.update(nargs="+", type=_parse_int if element is int else element, metavar="N")
        elif hint is int:
            kwargs.update(type=_parse_int, metavar="N")
        elif hint is float:
            kwargs.update(type=float, metavar="X")
        else:
            kwargs.update(type=str, metavar=name.split("_")[-1].upper())
        group.add_argument("--" + name.replace("_", "-"), **kwargs)


_EXAMPLES = {
    "ppo": (
        "examples:\n"
        "  rljax train ppo --total-timesteps 100000\n"
        "  rljax train ppo --env-id Pendulum-v1 --lr 3e-4 --hidden-sizes 64 64 --seeds 4\n"
        "  rljax train ppo --preset pendulum --total-timesteps 200000\n"
        "  rljax train ppo --resume runs/CartPole-v1-ppo-20250101-120000\n"
        "  rljax eval runs/CartPole-v1-ppo-20250101-120000 --episodes 10"
    ),
    "mappo": (
        "examples:\n"
        "  rljax train mappo --env TreasureHunt-v0 --critic centralised\n"
        "  rljax train mappo --env TreasureHunt-v0 --critic independent --credit difference\n"
        "  rljax train mappo --preset treasure_hunt --seeds 8\n"
        "  rljax train mappo --env Tag-v0 --total-timesteps 1e6\n"
        "  rljax train mappo --resume runs/TreasureHunt-v0-mappo-20250101-120000\n"
        "  rljax eval runs/TreasureHunt-v0-mappo-20250101-120000 --episodes 100 --json"
    ),
}
_DESCRIPTIONS = {
    "ppo": "Train PPO on several seeds at once (one vmapped XLA program), in compiled chunks "
    "with progress, metrics, checkpoints and resume. Writes RUN_DIR/config.json, metrics.jsonl, "
    "checkpoints/, curve.png.",
    "mappo": "Train multi-agent PPO (IPPO with --critic independent, MAPPO with --critic "
    "centralised; shared or difference-reward credit) on several seeds at once (one vmapped XLA "
    "program), in compiled chunks with progress, metrics, checkpoints and resume. Writes "
    "RUN_DIR/config.json, metrics.jsonl, checkpoints/, curve.png (team return) and "
    "success.png (fraction of finished episodes that terminated: every treasure collected, "
    "a catch in Tag).",
}


def _add_train_ppo(commands: argparse._SubParsersAction) -> None:
    _add_train(commands, "ppo")


def _add_train(commands: argparse._SubParsersAction, algorithm: str) -> None:
    """``rljax train ALGORITHM``: the chunked-run flags and one flag per Config field."""
    module = algorithm_module(algorithm)
    title = _TITLES[algorithm]
    presets = ", ".join(sorted(module.PRESETS)) or "none defined yet"
    parser = commands.add_parser(
        algorithm,
        help="Proximal Policy Optimisation"
        if algorithm == "ppo"
        else "multi-agent PPO: IPPO / MAPPO, shared or difference-reward credit",
        description=_DESCRIPTIONS[algorithm],
        formatter_class=_HelpFormatter,
        epilog=_EXAMPLES[algorithm],
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--preset", metavar="NAME", help=f"start from {algorithm}.PRESETS[NAME] ({presets})"
    )
    run.add_argument("--seeds", type=_parse_int, metavar="N", help="seeds, vmapped (default: 8)")
    run.add_argument(
        "--seed-groups",
        type=_parse_int,
        metavar="G",
        help="split the seeds into G groups run side by side, one per CPU core; must divide "
        "--seeds (default: the CPU cores, as many as divide the seeds with >= 2 per group; 1 on "
        "an accelerator)",
    )
    run.add_argument(
        "--seed", type=_parse_int, metavar="S", help="base seed; seed i uses S + i (default: 0)"
    )
    run.add_argument(
        "--run-dir",
        metavar="DIR",
        help=f"output directory (default: runs/<env_id>-{algorithm}-<YYYYmmdd-HHMMSS>)",
    )
    run.add_argument(
        "--chunk-updates",
        type=_parse_int,
        metavar="C",
        help="updates per compiled chunk (default: ~1/50 of the run, at least 1)",
    )
    run.add_argument(
        "--checkpoint-every",
        type=_parse_int,
        metavar="K",
        help="checkpoint at the first chunk end at or after every K updates, and at the end "
        "(default: ~10 per run, on chunk boundaries)",
    )
    run.add_argument(
        "--keep-checkpoints",
        type=_parse_int,
        metavar="N",
        help="newest checkpoints kept (default: 3)",
    )
    run.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard scalars (mean over seeds) to RUN_DIR/tensorboard "
        "(needs tensorboardX: pip install 'rljax[tensorboard]')",
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a stopped run from its newest checkpoint, with the settings in its "
        "config.json (config and run flags other than --tensorboard/--no-progress are ignored)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    # Test hooks: stop like a crash would (no final checkpoint), and slow the host loop down.
    run.add_argument("--stop-after-updates", type=_parse_int, help=argparse.SUPPRESS)
    run.add_argument("--chunk-sleep", type=float, default=0.0, help=argparse.SUPPRESS)
    if algorithm == "ppo":
        _add_config_flags(parser)
    else:
        _add_config_flags(
            parser,
            module.Config,
            title=f"{title} config",
            description=(
                f"Every {algorithm}.Config field. Defaults shown are Config's own; --preset "
                "replaces them and the flags given override the preset."
            ),
            field_help=_MAPPO_FIELD_HELP,
        )
    parser.add_argument("--env", dest="env_id", default=argparse.SUPPRESS, help="alias of --env-id")
    parser.set_defaults(
        handler=_train, prog_name=f"rljax train {algorithm}", train_algorithm=algorithm
    )


def _algorithm_of_args(args: argparse.Namespace) -> str:
    return getattr(args, "train_algorithm", None) or getattr(args, "algorithm", "ppo")


def _config_from_args(args: argparse.Namespace) -> Any:
    module = algorithm_module(_algorithm_of_args(args))
    given = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(module.Config) if f.name in args
    }
    if args.preset is not None:
        if args.preset not in module.PRESETS:
            available = ", ".join(sorted(module.PRESETS)) or "none"
            raise CliError(f"unknown preset {args.preset!r}; available: {available}")
        return dataclasses.replace(module.PRESETS[args.preset], **given)
    return module.Config(**given)


def _new_run_dir(env_id: str, algorithm: str = "ppo") -> Path:
    base = Path("runs") / f"{env_id}-{algorithm}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _spec_from_args(args: argparse.Namespace) -> tuple[RunSpec, Path]:
    algorithm = _algorithm_of_args(args)
    config = _config_from_args(args)  # ValueError on a bad field, before anything compiles
    num_updates = config.num_updates
    seeds = 8 if args.seeds is None else args.seeds
    seed = 0 if args.seed is None else args.seed
    if seeds < 1:
        raise CliError(f"--seeds={seeds} is invalid: must be >= 1")
    if seed < 0 or seed + seeds > 2**31 - 1:
        raise CliError(f"--seed={seed} is invalid: seeds S..S+N-1 must lie in [0, 2**31 - 1)")
    chunk = default_chunk_updates(num_updates) if args.chunk_updates is None else args.chunk_updates
    if chunk < 1:
        raise CliError(f"--chunk-updates={chunk} is invalid: must be >= 1")
    every = args.checkpoint_every
    every = default_checkpoint_every(num_updates, chunk) if every is None else every
    if every < 1:
        raise CliError(f"--checkpoint-every={every} is invalid: must be >= 1")
    if args.seed_groups is None:
        from rljax.multicore import seed_groups

        groups = seed_groups(seeds)
    else:
        groups = args.seed_groups
    if groups < 1 or seeds % groups:
        raise CliError(
            f"--seed-groups={groups} is invalid: must be >= 1 and divide --seeds={seeds}"
        )
    keep = 3 if args.keep_checkpoints is None else args.keep_checkpoints
    if keep < 1:
        raise CliError(f"--keep-checkpoints={keep} is invalid: must be >= 1")
    run_dir = Path(args.run_dir) if args.run_dir else _new_run_dir(config.env_id, algorithm)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise CliError(
            f"run directory {run_dir} exists and is not empty (continue it with --resume {run_dir})"
        )
    spec = RunSpec(
        config,
        seeds,
        seed,
        min(chunk, num_updates),
        every,
        keep,
        args.tensorboard,
        algorithm=algorithm,
        seed_groups=groups,
    )
    return spec, run_dir


def _train(args: argparse.Namespace) -> int:
    prog = args.prog_name
    algorithm = _algorithm_of_args(args)
    module = algorithm_module(algorithm)
    try:
        if args.resume:
            run_dir = Path(args.resume)
            spec = RunSpec.load(run_dir)
            if spec.algorithm != algorithm:
                raise CliError(
                    f"{run_dir} is a {spec.algorithm} run; continue it with "
                    f"rljax train {spec.algorithm} --resume {run_dir}"
                )
            run_flags = ("preset", "seeds", "seed_groups", "seed", "run_dir", "chunk_updates")
            run_flags += ("checkpoint_every", "keep_checkpoints")
            ignored = [f.name for f in dataclasses.fields(module.Config) if f.name in args]
            ignored += [name for name in run_flags if getattr(args, name) is not None]
            ignored = ["--" + name.replace("_", "-") for name in ignored]
            if ignored:
                print(
                    f"{prog}: note: with --resume, {', '.join(ignored)} ignored "
                    f"(settings come from {run_dir / CONFIG_FILE})",
                    file=sys.stderr,
                )
        else:
            spec, run_dir = _spec_from_args(args)
        if (args.tensorboard or spec.tensorboard) and not importlib.util.find_spec("tensorboardX"):
            raise CliError("--tensorboard needs tensorboardX: pip install 'rljax[tensorboard]'")
    except (ValueError, CliError) as error:
        return _fail(prog, error)
    try:
        return _run(spec, run_dir, args, resume=bool(args.resume))
    except CliError as error:
        return _fail(prog, error)


_train_ppo = _train  # the name before mappo shared the machinery


def _run(spec: RunSpec, run_dir: Path, args: argparse.Namespace, resume: bool) -> int:
    import jax
    import numpy as np

    from rljax import checkpoint, metrics, plotting

    prog = args.prog_name
    config = spec.config
    algorithm = spec.algorithm
    metric_names = algorithm_module(algorithm).METRIC_NAMES
    num_updates, batch, num_seeds = config.num_updates, config.batch_size, spec.seeds
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        _write_json_atomic(run_dir / CONFIG_FILE, spec.to_json())
    checkpoint.clean_incomplete(run_dir)
    programs = programs_for(config, num_seeds, spec.seed_groups)
    hparams = config.hparams()
    keys = seed_keys(spec.seed, num_seeds)

    start = checkpoint.latest_update(run_dir) if resume else None
    start_update = 0 if start is None else start
    schedule = _chunk_schedule(start_update, num_updates, spec.chunk_updates)
    print(
        f"rljax train {algorithm}: {config.env_id}, {num_seeds} seeds x {num_updates} updates x "
        f"{batch} env steps, chunks of {spec.chunk_updates}"
        + (f", {spec.seed_groups} seed groups side by side" if spec.seed_groups > 1 else "")
        + f", run dir {run_dir}",
        flush=True,
    )
    if resume:
        where = (
            f"checkpoint of update {start}" if start is not None else "the start (no checkpoint)"
        )
        print(f"resuming from {where}", flush=True)
    compile_s = programs.compile(init=start is None, chunk_sizes=schedule)
    print(f"compiled in {compile_s:.2f} s", flush=True)
    state = (
        programs.init(keys, hparams) if start is None else _restore_state(run_dir, programs, start)
    )

    metrics_path = run_dir / METRICS_FILE
    if resume or metrics_path.exists():
        metrics.truncate_jsonl(metrics_path, start_update)
    jsonl = metrics.JsonlWriter(metrics_path)
    tensorboard = None
    if args.tensorboard or spec.tensorboard:
        purge = start_update * batch + 1 if start_update else None
        tensorboard = metrics.TensorBoardWriter(run_dir / "tensorboard", purge_step=purge)
    checkpointer = checkpoint.Checkpointer(run_dir, spec.keep_checkpoints)
    progress = metrics.Progress(
        num_updates * batch * num_seeds, start_update * batch * num_seeds, args.no_progress
    )
    last_checkpoint = start
    update = start_update
    run_start = time.perf_counter()
    try:
        for n in schedule:
            state, chunk_metrics, params_finite = programs.chunk(n)(state, hparams)
            chunk_metrics = jax.device_get(chunk_metrics)
            params_finite = np.asarray(params_finite)
            wall = time.time()
            bad = metrics.first_divergence(chunk_metrics, params_finite)
            keep = n if bad is None else bad[0] + 1
            jsonl.write(
                metrics.chunk_rows(
                    chunk_metrics, update + 1, spec.seed_values, wall, keep, metric_names
                )
            )
            if tensorboard is not None:
                tensorboard.write(chunk_metrics, keep)
            if bad is not None:
                progress.close()
                kept = (
                    f"the last good checkpoint is update {last_checkpoint} in "
                    f"{checkpoint.checkpoint_dir(run_dir)}"
                    if last_checkpoint is not None
                    else "no checkpoint was written"
                )
                return _fail(
                    prog,
                    f"training diverged at update {update + bad[0] + 1}: {bad[1]}; stopped, {kept}",
                    code=1,
                )
            previous, update = update, update + n
            progress.update(
                n * batch * num_seeds,
                float(metrics.seed_mean(chunk_metrics["episode_return"][:, -1])),
            )
            if update == num_updates or update // spec.checkpoint_every > (
                previous // spec.checkpoint_every
            ):
                checkpointer.save(update, {"state": state, "update": np.int32(update)})
                last_checkpoint = update
            stop = args.stop_after_updates
            if stop is not None and stop <= update < num_updates:
                progress.close()
                print(f"stopped after {update} updates (--stop-after-updates)", flush=True)
                return 0
            if args.chunk_sleep:
                time.sleep(args.chunk_sleep)
    except KeyboardInterrupt:
        progress.close()
        print(
            f"\ninterrupted after {update} updates; continue with: "
            f"rljax train {algorithm} --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    finally:
        checkpointer.close()
        if tensorboard is not None:
            tensorboard.close()
    run_s = time.perf_counter() - run_start
    progress.close()

    rows = metrics.read_jsonl(metrics_path)
    title = _run_title(config)
    plotting.plot_curve(
        rows,
        run_dir / CURVE_FILE,
        title=f"{title} on {config.env_id} ({num_seeds} seeds)",
    )
    if "success_rate" in metric_names:
        plotting.plot_curve(
            rows,
            run_dir / SUCCESS_FILE,
            metric="success_rate",
            title=f"{title} on {config.env_id} ({num_seeds} seeds)",
        )
    print(
        metrics.summary_table(
            rows,
            title=f"{title} on {config.env_id}: {run_dir}",
            env_steps_per_seed=num_updates * batch,
            run_s=run_s,
            compile_s=compile_s,
            steps_run=(num_updates - start_update) * batch * num_seeds,
        ),
        flush=True,
    )
    if "success_rate" in metric_names:
        finals = metrics.final_returns(
            [{**row, "episode_return": row.get("success_rate")} for row in rows]
        )
        values = np.asarray(list(finals.values()), np.float64)
        print(
            f"{'success':>12}  {float(metrics.seed_mean(values)):.3f} mean over seeds of the "
            "success rate of the episodes finished in the last 10 updates",
            flush=True,
        )
    return 0


# --- rljax eval --------------------------------------------------------------------------------


def _add_eval(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="evaluate the greedy policy of a run's newest checkpoint",
        description=(
            "Run N episodes with the greedy policy of RUN_DIR's newest checkpoint and report "
            "the return; draw one episode to RUN_DIR/episode.gif (episode.txt for environments "
            "without a renderer). For a multi-agent (mappo) run the return is the team's "
            "(team 0: the chasers in Tag), and the figures include success_rate (episodes that "
            "terminated: every treasure collected, a catch in Tag), mean_steps (mean length of "
            "the successful episodes) and the same for a sampled (stochastic) policy."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by rljax train")
    parser.add_argument(
        "--episodes", type=_parse_int, default=10, metavar="N", help="episodes (default: 10)"
    )
    parser.add_argument(
        "--seed-index",
        type=_parse_int,
        default=0,
        metavar="I",
        help="which of the run's seeds to evaluate (default: 0)",
    )
    parser.add_argument(
        "--seed", type=_parse_int, default=0, metavar="S", help="evaluation seed (default: 0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-render", action="store_true", help="do not draw an episode")
    parser.add_argument(
        "--max-frames",
        type=_parse_int,
        default=300,
        metavar="F",
        help="frames in the GIF at most; longer episodes are subsampled (default: 300)",
    )
    parser.set_defaults(handler=_eval, prog_name="rljax eval")


def _time_limit(env_params: Any, default: int = 1000) -> int:
    import numpy as np

    limit = getattr(env_params, "max_steps_in_episode", None)
    return default if limit is None else int(np.max(np.asarray(limit)))


def make_episode_fn(config: Any, max_steps: int, record: bool):
    """``episode(train_state, key) -> (return, length[, trajectory])``: one greedy episode.

    ``train_state`` is one seed's ``ppo.TrainState`` or ``mappo.TrainState`` (its params and
    observation statistics). For a multi-agent run the actions are ``[N]``, the rewards ``[N]`` and
    the return counted is team 0's (agent 0's reward).
    The episode runs ``max_steps`` steps of a scan (the environment's time limit), frozen once it
    has ended. With ``record`` the trajectory ``{"initial_state", "initial_obs", "states" [T],
    "obs" [T], "actions" [T], "rewards" [T], "active" [T]}`` (post-step states) comes too.
    """
    import jax
    import jax.numpy as jnp

    from rljax.env import make

    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    algorithm = algorithm_module(algorithm_of(config))
    act = algorithm.make_policy(config)
    multi_agent = algorithm_of(config) == "mappo"

    def episode(train_state, key):
        key_reset, key_run = jax.random.split(key)
        obs, env_state = env.reset(key_reset, env_params)

        def step(carry, key_t):
            env_state, obs, done, ret, length = carry
            key_act, key_step = jax.random.split(key_t)
            policy_obs = algorithm.normalize_for_policy(
                config, train_state, obs[None].astype(jnp.float32)
            )
            action = act(train_state.params, policy_obs, key_act, True)[0]
            next_obs, next_state, reward, terminated, truncated, _ = env.step(
                key_step, env_state, action, env_params
            )
            active = ~done
            keep = lambda new, old: jnp.where(done, old, new)
            next_state = jax.tree.map(keep, next_state, env_state)
            next_obs = keep(next_obs, obs)
            team_reward = reward[0] if multi_agent else reward
            ret = ret + jnp.where(active, team_reward.astype(jnp.float32), 0.0)
            length = length + active.astype(jnp.int32)
            done = done | terminated | truncated
            out = None
            if record:
                out = {
                    "states": next_state,
                    "obs": next_obs,
                    "actions": action,
                    "rewards": reward,
                    "active": active,
                }
            return (next_state, next_obs, done, ret, length), out

        init = (env_state, obs, jnp.bool_(False), jnp.float32(0.0), jnp.int32(0))
        (_, _, _, ret, length), traj = jax.lax.scan(
            step, init, jax.random.split(key_run, max_steps)
        )
        if record:
            traj = {"initial_state": env_state, "initial_obs": obs, **traj}
            return ret, length, traj
        return ret, length

    return env, env_params, episode


_EVALUATORS: dict[tuple[str, int, int], Any] = {}


def _multi_agent_evaluator(config: Any, episodes: int, max_steps: int):
    """Jitted ``(train_state, key) -> {"greedy": ..., "sampled": ...}`` episode figures of a
    mappo run (:func:`rljax.train.mappo.make_evaluate`), cached per process like the programs."""
    import jax

    from rljax.train import mappo

    key = (_static_key(config), episodes, max_steps)
    if key not in _EVALUATORS:
        greedy = mappo.make_evaluate(config, episodes, True, max_steps)
        sampled = mappo.make_evaluate(config, episodes, False, max_steps)
        _EVALUATORS[key] = jax.jit(
            lambda state, k: {"greedy": greedy(state, k), "sampled": sampled(state, k)}
        )
    return _EVALUATORS[key]


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has neither)."""
    import math

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _eval(args: argparse.Namespace) -> int:
    prog = args.prog_name
    run_dir = Path(args.run_dir)
    try:
        return _evaluate(args, run_dir)
    except (CliError, FileNotFoundError, ValueError) as error:
        return _fail(prog, error)


def _evaluate(args: argparse.Namespace, run_dir: Path) -> int:
    import jax
    import numpy as np

    from rljax import checkpoint, render
    from rljax.env import make

    spec = RunSpec.load(run_dir)
    if args.episodes < 1:
        raise CliError(f"--episodes={args.episodes} is invalid: must be >= 1")
    if not 0 <= args.seed_index < spec.seeds:
        raise CliError(
            f"--seed-index={args.seed_index} is invalid: the run has seeds 0..{spec.seeds - 1}"
        )
    update = checkpoint.latest_update(run_dir)
    if update is None:
        raise CliError(f"no complete checkpoint in {checkpoint.checkpoint_dir(run_dir)}")
    config = spec.config
    programs = programs_for(config, spec.seeds)
    state = _restore_state(run_dir, programs, update)
    state = jax.tree.map(lambda x: x[args.seed_index], state)

    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    max_steps = _time_limit(env_params)
    keys = jax.random.split(jax.random.key(args.seed), args.episodes)
    multi_agent = spec.algorithm == "mappo"
    extra: dict[str, Any] = {}
    if multi_agent:
        from rljax.multiagent import episode_summary

        evaluate = _multi_agent_evaluator(config, args.episodes, max_steps)
        figures = jax.device_get(evaluate(state, jax.random.key(args.seed)))
        returns = np.asarray(figures["greedy"]["team_return"], np.float64)
        lengths = np.asarray(figures["greedy"]["length"])
        greedy = episode_summary(figures["greedy"])
        sampled = episode_summary(figures["sampled"])
        extra = {
            "success_rate": greedy["success_rate"],
            "mean_steps": greedy["mean_steps"],
            "sampled": sampled,
        }
    else:
        _, _, episode = make_episode_fn(config, max_steps, record=False)
        run_episodes = jax.jit(jax.vmap(episode, in_axes=(None, 0)))
        returns, lengths = jax.device_get(run_episodes(state, keys))
        returns = np.asarray(returns, np.float64)

    render_path = None
    if not args.no_render:
        _, _, recorder = make_episode_fn(config, max_steps, record=True)
        _, length0, traj = jax.device_get(jax.jit(recorder)(state, keys[0]))
        render_path = render.render_episode(
            config.env_id,
            env,
            env_params,
            traj,
            int(length0),
            run_dir / "episode",
            max_frames=args.max_frames,
            title=f"{_run_title(config)} {config.env_id}, update {update}",
        )

    result = {
        "run_dir": str(run_dir),
        "env_id": config.env_id,
        "update": update,
        "seed_index": args.seed_index,
        "episodes": int(args.episodes),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "min_return": float(returns.min()),
        "max_return": float(returns.max()),
        "mean_length": float(np.mean(lengths)),
        **extra,
        "returns": [float(r) for r in returns],
        "render": None if render_path is None else str(render_path),
    }
    if args.json:
        print(json.dumps(_json_safe(result), allow_nan=False))
    else:
        print(
            f"{config.env_id}, checkpoint of update {update}, seed index {args.seed_index}: "
            f"{args.episodes} greedy episodes"
        )
        print(
            f"return  mean {result['mean_return']:.2f}  std {result['std_return']:.2f}  "
            f"min {result['min_return']:.2f}  max {result['max_return']:.2f}  "
            f"(mean length {result['mean_length']:.1f})"
        )
        if multi_agent:
            for mode, figures in (("greedy", result), ("sampled", result["sampled"])):
                print(
                    f"{mode:<8}success rate {figures['success_rate']:.3f}  mean steps "
                    f"{figures['mean_steps']:.2f} (successful episodes)"
                )
        if render_path is not None:
            print(f"episode drawn to {render_path}")
    return 0


# --- entry point -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from rljax import cli_games  # imports this module's helpers, so not at the top

    parser = argparse.ArgumentParser(
        prog="rljax", description="JAX-accelerated, purely functional reinforcement learning."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train an agent (rljax train ppo --help, rljax train mappo --help)"
    )
    algorithms = train.add_subparsers(dest="algorithm", required=True, metavar="ALGORITHM")
    _add_train_ppo(algorithms)
    _add_train(algorithms, "mappo")
    cli_games.add_train_alphazero(algorithms)

    _add_eval(commands)
    cli_games.add_play(commands)
    cli_games.add_arena(commands)

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
    """Runs the command line; returns the exit code (argparse's own errors and --help included)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
