"""Reading a run back: its newest intact checkpoint, in this driver's layout or an older one.

A run directory keeps, beside its checkpoints, the config they were written with
(``checkpoints/config.json``): a ``config.json`` edited afterwards is compared with it, so a
mismatch names the fields that differ instead of failing inside Orbax.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rljax.run.spec import CONFIG_FILE, RunError, RunSpec, config_differences

CHECKPOINT_CONFIG = "config.json"


def checkpoint_target(programs: Any) -> dict[str, Any]:
    import numpy as np

    return {
        "state": programs.abstract_state(),
        "update": np.int32(0),
        "train_seconds": np.float32(0),
    }


def legacy_targets(programs: Any) -> list[dict[str, Any]]:
    """The layouts of run directories written before this driver: rljax 0.1's ``rljax train``
    (``{"state", "update"}``) and its AlphaZero loop (``{"state", "iteration",
    "train_seconds"}``). Their states are the same pytrees, so such runs resume exactly."""
    import numpy as np

    state = programs.abstract_state()
    return [
        {"state": state, "update": np.int32(0)},
        {"state": state, "iteration": np.int32(0), "train_seconds": np.float32(0)},
    ]


def restore_tree(run_dir: Path, programs: Any, log: Callable[[str], None]) -> tuple[int, Any]:
    """``(update, {"state", "update", "train_seconds"})`` of the newest intact checkpoint, in
    this driver's layout or an older one."""
    from rljax import checkpoint

    try:
        return checkpoint.restore_latest_intact(run_dir, checkpoint_target(programs), log)
    except checkpoint.CheckpointMismatch as error:
        for target in legacy_targets(programs):
            try:
                update, tree = checkpoint.restore_latest_intact(run_dir, target, log)
            except checkpoint.CheckpointMismatch:
                continue
            tree = {
                "state": tree["state"],
                "update": tree.get("update", tree.get("iteration")),
                "train_seconds": tree.get("train_seconds", 0.0),
            }
            return update, tree
        raise error from None


def restore(spec: RunSpec, run_dir: Path, programs: Any, log: Callable[[str], None]) -> Any:
    """``(update, state, train_seconds)`` of the newest intact checkpoint, or ``None`` if none.

    A config edited since the checkpoints were written is named field by field; one whose
    shapes no longer fit them is an error.
    """
    from rljax import checkpoint

    if checkpoint.latest_update(run_dir) is None:
        return None
    saved_config = run_dir / checkpoint.CHECKPOINT_DIR / CHECKPOINT_CONFIG
    differences: list[str] = []
    if saved_config.is_file():
        try:
            original = json.loads(saved_config.read_text(encoding="utf-8"))
            differences = config_differences(original.get("config", {}), spec.config.to_dict())
        except (OSError, ValueError):
            differences = []
    try:
        update, tree = restore_tree(run_dir, programs, log)
    except checkpoint.CheckpointMismatch as error:
        fields = "; ".join(differences) if differences else "no config field differs"
        raise RunError(
            f"{run_dir / CONFIG_FILE} no longer matches its checkpoints ({fields}): {error}"
        ) from None
    except checkpoint.CheckpointError as error:
        raise RunError(str(error)) from None
    if differences:
        log(f"note: {CONFIG_FILE} differs from the run's checkpoints: {'; '.join(differences)}")
    return int(tree["update"]), tree["state"], float(tree["train_seconds"])


def load_run(run_dir: str | Path, log: Callable[[str], None] | None = None) -> tuple:
    """``(spec, state, update)`` of a run directory's newest intact checkpoint.

    ``state`` is the algorithm's state over all runs (a leading ``[R]`` axis for vmapped
    algorithms). Raises :class:`RunError` when there is no intact checkpoint.
    """
    from rljax import checkpoint
    from rljax.run.programs import programs_for

    run_dir = Path(run_dir)
    spec = RunSpec.load(run_dir)
    programs = programs_for(
        spec.algorithm_spec, spec.config, spec.num_runs, 1, batched_hparams=bool(spec.sweep)
    )
    restored = restore(spec, run_dir, programs, log or (lambda text: None))
    if restored is None:
        raise RunError(f"no complete checkpoint in {checkpoint.checkpoint_dir(run_dir)}")
    update, state, _ = restored
    return spec, state, update
