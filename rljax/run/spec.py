"""What a run directory's ``config.json`` records: everything needed to redo or continue a run.

A run trains ``seeds`` seeds of one configuration — or, with a ``sweep``, every (sweep point,
seed) pair — as one vmapped axis of ``R = points * seeds`` runs. Run ``r`` is sweep point
``r // seeds`` with seed ``seed + r % seeds``, so every point sees the same seeds.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"

# Counters in the compiled programs are int32: a run whose updates or env steps would overflow
# them is refused up front instead of wrapping around half-way.
INT32_MAX = 2**31 - 1


class RunError(ValueError):
    """A user error about a run (bad settings, a run directory that does not fit): one line."""


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes ``data`` as JSON to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def default_chunk_updates(num_updates: int) -> int:
    """About 1/50 of the run (at least 1): ~50 host round trips per run.

    A divisor of ``num_updates`` within a factor of 2 of that is preferred (the nearest, the
    larger of two equally near), so that no second program is compiled for a shorter last chunk.
    At most a few thousand candidates are tried, so a huge run costs no host time.
    """
    target = max(1, round(num_updates / 50))
    low, high = max(1, target // 2), 2 * target
    for distance in range(0, min(target, 4096) + 1):
        for d in (target + distance, target - distance):
            if low <= d <= high and num_updates % d == 0:
                return d
    return target


def default_checkpoint_every(num_updates: int, chunk_updates: int) -> int:
    """About 10 checkpoints per run, on chunk boundaries."""
    return chunk_updates * max(1, round(num_updates / 10 / chunk_updates))


def chunk_sizes(start: int, total: int, chunk: int) -> tuple[int, ...]:
    """The distinct chunk lengths from update ``start`` to ``total`` (full chunks, remainder)."""
    left = max(0, total - start)
    sizes = {chunk} if left >= chunk else set()
    if left % chunk:
        sizes.add(left % chunk)
    return tuple(sorted(sizes))


def parse_sweep(items: list[str] | tuple[str, ...], config_cls: type) -> tuple:
    """``["lr=1e-4,3e-4"]`` -> ``(("lr", (1e-4, 3e-4)),)``; only leaf fields may be swept."""
    from rljax.configs import leaf_names

    leaves = leaf_names(config_cls)
    out = []
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not raw:
            raise RunError(f"--sweep {item!r} is invalid: expected FIELD=V1,V2,...")
        if name not in leaves:
            allowed = ", ".join(leaves) or "none (this algorithm has no vmappable fields)"
            raise RunError(f"--sweep {item!r}: {name!r} cannot be swept; allowed: {allowed}")
        try:
            values = tuple(float(v) for v in raw.split(","))
        except ValueError:
            raise RunError(f"--sweep {item!r}: values must be numbers, e.g. lr=1e-4,3e-4") from None
        if not all(math.isfinite(v) for v in values):
            raise RunError(f"--sweep {item!r}: values must be finite numbers")
        if len(set(values)) != len(values):
            raise RunError(f"--sweep {item!r}: values repeat")
        if any(name == done for done, _ in out):
            raise RunError(f"--sweep names {name!r} twice")
        out.append((name, values))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A run's settings; ``config`` is the algorithm's ``Config``.

    ``evaluation`` holds the algorithm's periodic-evaluation settings (an instance of its
    ``Algorithm.evaluation.settings_cls``), ``None`` where it has none.
    """

    algorithm: str
    config: Any
    seeds: int = 1
    seed: int = 0
    seed_groups: int = 1
    chunk_updates: int = 1
    checkpoint_every: int = 1
    keep_checkpoints: int = 3
    tensorboard: bool = False
    minutes: float | None = None
    eval_every: int | None = None
    evaluation: Any = None
    sweep: tuple[tuple[str, tuple[float, ...]], ...] = ()

    def __post_init__(self) -> None:
        def fail(name: str, allowed: str) -> None:
            # Named as the command line spells the setting (the Python keyword is the same word).
            flag = "--" + name.replace("_", "-")
            raise RunError(f"{flag}={getattr(self, name)!r} is invalid: {allowed}")

        for name in ("seeds", "chunk_updates", "checkpoint_every", "keep_checkpoints"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                fail(name, "must be an integer >= 1")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= INT32_MAX - self.seeds:
            fail("seed", f"seeds seed..seed+{self.seeds - 1} must lie in [0, 2**31 - 1)")
        if self.seed_groups < 1 or self.num_runs % self.seed_groups:
            fail("seed_groups", f"must be >= 1 and divide the {self.num_runs} runs")
        if self.minutes is not None and not (self.minutes > 0 and math.isfinite(self.minutes)):
            fail("minutes", "must be a finite number > 0")
        if self.eval_every is not None and self.eval_every < 1:
            fail("eval_every", "must be an integer >= 1")
        algorithm = self.algorithm_spec
        if algorithm.max_seeds is not None and self.num_runs > algorithm.max_seeds:
            fail("seeds", f"{algorithm.name} runs at most {algorithm.max_seeds} seed(s)")
        steps = self.steps_per_update
        if self.num_updates > INT32_MAX or (steps and self.num_updates * steps > INT32_MAX):
            raise RunError(
                f"the run is too long: {self.num_updates:,} updates"
                + (f" of {steps:,} env steps" if steps else "")
                + " overflow the int32 counters (at most 2**31 - 1 env steps per seed)"
            )

    # -- derived -------------------------------------------------------------------------------

    @property
    def algorithm_spec(self) -> Any:
        from rljax import train

        return train.get(self.algorithm)

    @property
    def num_updates(self) -> int:
        return int(self.algorithm_spec.num_updates(self.config))

    @property
    def steps_per_update(self) -> int | None:
        steps = self.algorithm_spec.steps_per_update
        return None if steps is None else int(steps(self.config))

    @property
    def points(self) -> list[dict[str, float]]:
        """The sweep points (``[{}]`` without a sweep), in run order."""
        names = [name for name, _ in self.sweep]
        grids = [values for _, values in self.sweep]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grids)]

    @property
    def num_runs(self) -> int:
        return self.seeds * len(self.points)

    @property
    def seed_values(self) -> list[int]:
        """The seed of each run, in run order (repeated for every sweep point)."""
        return [self.seed + r % self.seeds for r in range(self.num_runs)]

    @property
    def point_of_run(self) -> list[int]:
        return [r // self.seeds for r in range(self.num_runs)]

    def hparams(self) -> Any:
        """The config's leaf hyperparameters; with a sweep, leaves ``[R]`` (one per run)."""
        import jax.numpy as jnp
        import numpy as np

        from rljax.configs import leaf_names

        if not leaf_names(type(self.config)):
            return None  # nothing vmappable (AlphaZero)
        base = self.config.hparams()
        if not self.sweep:
            return base
        points = self.points
        values = {}
        for name in dataclasses.asdict(base) if dataclasses.is_dataclass(base) else ():
            column = [p.get(name, getattr(self.config, name)) for p in points]
            values[name] = jnp.asarray(np.repeat(np.asarray(column, np.float32), self.seeds))
        return type(base)(**values)

    # -- config.json ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "algorithm": self.algorithm,
            "config": self.config.to_dict(),
            "seeds": self.seeds,
            "seed": self.seed,
            "seed_values": self.seed_values[: self.seeds],
            "seed_groups": self.seed_groups,
            "chunk_updates": self.chunk_updates,
            "checkpoint_every": self.checkpoint_every,
            "keep_checkpoints": self.keep_checkpoints,
            "tensorboard": self.tensorboard,
            "minutes": self.minutes,
            "eval_every": self.eval_every,
            "evaluation": None if self.evaluation is None else self.evaluation.to_dict(),
            "sweep": {name: list(values) for name, values in self.sweep},
            "num_updates": self.num_updates,
        }
        steps = self.steps_per_update
        if steps is not None:
            out["batch_size"] = steps
            out["env_steps_per_seed"] = self.num_updates * steps
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "config.json") -> RunSpec:
        from rljax import train

        try:
            data = upgrade_old_settings(data)
            algorithm = train.get(data["algorithm"])
            config = algorithm.config_cls.from_dict(data["config"])
            evaluation = data.get("evaluation")
            if algorithm.evaluation is not None:
                settings = algorithm.evaluation.settings_cls
                evaluation = settings() if evaluation is None else settings.from_dict(evaluation)
            sweep = tuple((k, tuple(float(x) for x in v)) for k, v in data.get("sweep", {}).items())
            return cls(
                algorithm=algorithm.name,
                config=config,
                seeds=int(data["seeds"]),
                seed=int(data["seed"]),
                seed_groups=int(data.get("seed_groups", 1)),
                chunk_updates=int(data["chunk_updates"]),
                checkpoint_every=int(data["checkpoint_every"]),
                keep_checkpoints=int(data.get("keep_checkpoints", 3)),
                tensorboard=bool(data.get("tensorboard", False)),
                minutes=data.get("minutes"),
                eval_every=data.get("eval_every"),
                evaluation=evaluation,
                sweep=sweep,
            )
        except (KeyError, TypeError, ValueError, RunError) as error:
            message = str(error) if not isinstance(error, KeyError) else f"missing {error}"
            raise RunError(f"{where} is invalid: {message}") from None

    @classmethod
    def load(cls, run_dir: Path) -> RunSpec:
        path = Path(run_dir) / CONFIG_FILE
        if not path.is_file():
            raise RunError(f"{path} not found: not an rljax run directory")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunError(f"{path} cannot be read: {error}") from None
        if not isinstance(data, dict):
            raise RunError(f"{path} is invalid: not a JSON object")
        return cls.from_json(data, str(path))

    def save(self, run_dir: Path) -> None:
        write_json_atomic(Path(run_dir) / CONFIG_FILE, self.to_json())


def upgrade_old_settings(data: dict[str, Any]) -> dict[str, Any]:
    """``config.json`` of a run written by rljax 0.1's separate game loop (run settings
    ``chunk_iterations``, ``eval_games``, ... and no ``seeds``) in this driver's terms."""
    if "chunk_iterations" not in data or "chunk_updates" in data:
        return data
    settings = ("eval_games", "eval_opponents", "eval_simulations")
    chunk = int(data["chunk_iterations"])
    return {
        **{k: v for k, v in data.items() if k not in settings and k != "chunk_iterations"},
        "seeds": 1,
        "chunk_updates": chunk,
        "checkpoint_every": data.get("checkpoint_every") or 4 * chunk,
        "eval_every": data.get("eval_every") or 4 * chunk,
        "evaluation": {k: data[k] for k in settings if k in data},
    }


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``["num_envs: 4 -> 8", ...]``: the config fields whose values differ."""
    names = sorted(set(saved) | set(current))
    return [
        f"{name}: {saved.get(name)!r} -> {current.get(name)!r}"
        for name in names
        if saved.get(name) != current.get(name)
    ]
