"""Checkpoints of a run (Orbax): ``save(run_dir, update, tree)`` and ``restore(run_dir)``.

Layout: ``RUN_DIR/checkpoints/<update>/`` per checkpoint, written by Orbax's
``StandardCheckpointer``; :class:`Checkpointer` keeps the newest ``max_to_keep`` (3).

Atomicity. Orbax writes a checkpoint into ``<update>.orbax-checkpoint-tmp-<n>/``, puts a
``commit_success.txt`` in it when every array is on disk, and only then renames the directory to
``<update>/``. A process killed mid-write therefore leaves a temporary directory, never a
``<update>/``; :func:`updates` goes further and also ignores any ``<update>/`` lacking the commit
file (a copy cut short by hand, say). Restoring always picks the newest complete checkpoint.

Typed PRNG keys (``jax.random.key``) are not serialisable arrays: :func:`save` stores their
``jax.random.key_data`` (``uint32 [..., 2]`` for threefry) instead. ``restore(run_dir,
target=tree)`` re-wraps those leaves with the key implementation of the matching ``target`` leaf;
``restore(run_dir)`` without a target returns the saved pytree of plain arrays (nested dicts, the
keys as their raw ``uint32`` data).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np

CHECKPOINT_DIR = "checkpoints"
COMMIT_FILE = "commit_success.txt"  # orbax's marker of a finished checkpoint
_STEP_RE = re.compile(r"^\d+$")


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array | jax.ShapeDtypeStruct) and jax.dtypes.issubdtype(
        x.dtype, jax.dtypes.prng_key
    )


def keys_to_data(tree: Any) -> Any:
    """``tree`` with each typed PRNG key leaf replaced by its ``key_data`` (abstract ones too)."""

    def convert(x):
        if not _is_key(x):
            return x
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.eval_shape(jax.random.key_data, x)
        return jax.random.key_data(x)

    return jax.tree.map(convert, tree)


def data_to_keys(data: Any, target: Any) -> Any:
    """Inverse of :func:`keys_to_data`: re-wraps leaves where ``target`` holds a typed key."""

    def convert(d, t):
        if _is_key(t):
            return jax.random.wrap_key_data(d, impl=_key_impl(t))
        return d

    return jax.tree.map(convert, data, target)


def _key_impl(key: jax.Array | jax.ShapeDtypeStruct) -> Any:
    """The PRNG implementation of a typed key, concrete or abstract."""
    if isinstance(key, jax.ShapeDtypeStruct):
        # key_impl needs an array; under tracing the abstract key becomes one.
        found = []
        jax.eval_shape(lambda k: found.append(jax.random.key_impl(k)), key)
        return found[0]
    return jax.random.key_impl(key)


def _complete(path: Path) -> bool:
    return path.is_dir() and _STEP_RE.match(path.name) is not None and (path / COMMIT_FILE).exists()


def updates(run_dir: str | os.PathLike) -> list[int]:
    """Updates that have a complete checkpoint, ascending (temporary and partial ones ignored)."""
    directory = checkpoint_dir(run_dir)
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if _complete(p))


def latest_update(run_dir: str | os.PathLike) -> int | None:
    """The newest complete checkpoint's update, or ``None`` if there is none."""
    found = updates(run_dir)
    return found[-1] if found else None


def clean_incomplete(run_dir: str | os.PathLike) -> list[Path]:
    """Removes leftovers of interrupted writes (temporary and uncommitted directories).

    Returns the removed paths. Call it before saving into a run that may have been killed.
    """
    directory = checkpoint_dir(run_dir)
    removed = []
    if directory.is_dir():
        for path in directory.iterdir():
            if path.is_dir() and not _complete(path):
                _remove(path)
                removed.append(path)
    return removed


class Checkpointer:
    """Saves and restores the checkpoints of one run directory, keeping the newest ``max_to_keep``.

    Each checkpoint is written by Orbax's ``StandardCheckpointer`` (temporary directory, commit
    file, rename) and waited for, so it is complete on disk when :meth:`save` returns. Old ones are
    first renamed away and then deleted, so a kill during the deletion cannot leave a directory
    that looks complete but is not.
    """

    def __init__(self, run_dir: str | os.PathLike, max_to_keep: int | None = 3):
        import orbax.checkpoint as ocp

        if max_to_keep is not None and max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1 or None, got {max_to_keep}")
        self.run_dir = Path(run_dir)
        self.max_to_keep = max_to_keep
        self._ocp = ocp
        self._checkpointer = ocp.StandardCheckpointer()

    @property
    def directory(self) -> Path:
        return checkpoint_dir(self.run_dir)

    def save(self, update: int, tree: Any) -> Path:
        """Writes ``tree`` (typed keys allowed) as the checkpoint of ``update``, atomically.

        An existing checkpoint of the same update is replaced. Returns its directory.
        """
        update = int(update)
        if update < 0:
            raise ValueError(f"update must be >= 0, got {update}")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = (self.directory / str(update)).absolute()
        for stale in self.directory.glob(f"{update}.*"):  # leftovers of a killed write
            _remove(stale)
        if path.exists():
            _remove(path)
        tree = jax.device_get(keys_to_data(tree))
        self._checkpointer.save(path, tree)
        self._checkpointer.wait_until_finished()
        if self.max_to_keep is not None:
            for old in updates(self.run_dir)[: -self.max_to_keep]:
                _remove(self.directory / str(old))
        return path

    def restore(self, update: int | None = None, target: Any = None) -> Any:
        """The checkpoint of ``update`` (default: the newest complete one).

        With ``target`` (a pytree of arrays or ``jax.ShapeDtypeStruct``s shaped like the saved
        one), the result has its structure and typed keys; without, the saved pytree of arrays.
        """
        if update is None:
            update = latest_update(self.run_dir)
            if update is None:
                raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        path = self.directory / str(int(update))
        if not _complete(path):
            raise FileNotFoundError(
                f"no complete checkpoint of update {update} in {self.directory}; "
                f"available: {updates(self.run_dir)}"
            )
        if target is None:
            return self._checkpointer.restore(path.absolute())
        abstract = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(np.shape(x), getattr(x, "dtype", np.asarray(x).dtype)),
            keys_to_data(target),
        )
        data = self._checkpointer.restore(path.absolute(), abstract)
        return data_to_keys(data, target)

    def close(self) -> None:
        self._checkpointer.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _remove(path: Path) -> None:
    """Deletes a checkpoint directory: renamed away first (atomic), then removed."""
    if not path.exists():
        return
    trash = path.with_name(f"{path.name}.deleting-{os.getpid()}")
    try:
        path.rename(trash)
    except OSError:
        trash = path
    if trash.is_dir():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)


def save(run_dir: str | os.PathLike, update: int, pytree: Any, max_to_keep: int = 3) -> None:
    """Saves ``pytree`` as ``RUN_DIR/checkpoints/<update>`` (keeping the newest ``max_to_keep``)."""
    with Checkpointer(run_dir, max_to_keep) as checkpointer:
        checkpointer.save(update, pytree)


def restore(run_dir: str | os.PathLike, update: int | None = None, target: Any = None) -> Any:
    """Restores a checkpoint of ``run_dir`` (the newest complete one by default).

    ``restore(run_dir)`` returns the saved pytree as arrays: for a ``rljax train`` run,
    ``{"state": {"params", "opt_state", "env_state", "key" (uint32 key data), "update_step",
    ...}, "update": int}`` with a leading seed axis on every state leaf. Pass ``target`` (e.g. a
    freshly initialised state wrapped the same way) to get that structure back, typed keys
    included.
    """
    with Checkpointer(run_dir) as checkpointer:
        return checkpointer.restore(update, target)
