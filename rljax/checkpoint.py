"""Checkpoints of a run (Orbax): ``save(run_dir, update, tree)`` and ``restore(run_dir)``.

Layout: ``RUN_DIR/checkpoints/<update>/`` per checkpoint, written by Orbax's
``StandardCheckpointer``; :class:`Checkpointer` keeps the newest ``max_to_keep`` (3).

Atomicity. Orbax writes a checkpoint into ``<update>.orbax-checkpoint-tmp-<n>/``, puts a
``commit_success.txt`` in it when every array is on disk, and only then renames the directory to
``<update>/``. A process killed mid-write therefore leaves a temporary directory, never a
``<update>/``; :func:`updates` goes further and also ignores any ``<update>/`` lacking the commit
file (a copy cut short by hand, say).

Integrity. Every checkpoint carries a SHA-256 digest of each leaf (over its dtype, shape and
bytes), stored in the checkpoint's own Orbax metadata (``_CHECKPOINT_METADATA``), which is written
inside the temporary directory and so commits with the arrays. A restore recomputes the digests
and raises :class:`CheckpointCorrupt` on any difference, as it does when Orbax cannot read a
damaged file; a checkpoint written before digests existed restores unverified.
:func:`restore_latest_intact` falls back to the newest checkpoint that is intact. The digests,
and the structure check of the next paragraph, are in :mod:`rljax.checkpoint_integrity`.

Structure. With a ``target``, the saved leaf paths, shapes and dtypes (Orbax's metadata) are
compared with the target's before any array is read; a difference raises
:class:`CheckpointMismatch` naming the leaves (a configuration that no longer matches its run),
where Orbax itself would silently slice a larger saved array or fail with an unrelated error.

Typed PRNG keys (``jax.random.key``) are not serialisable arrays: :func:`save` stores their
``jax.random.key_data`` (``uint32 [..., 2]`` for threefry) instead. ``restore(run_dir,
target=tree)`` re-wraps those leaves with the key implementation of the matching ``target`` leaf;
``restore(run_dir)`` without a target returns the saved pytree of plain arrays (nested dicts, the
keys as their raw ``uint32`` data).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from rljax.checkpoint_integrity import (
    abstract_target,
    digest_mismatches,
    leaf_digests,
    named_leaves,
    structure_differences,
)

CHECKPOINT_DIR = "checkpoints"
COMMIT_FILE = "commit_success.txt"  # orbax's marker of a finished checkpoint
METADATA_FILE = "_CHECKPOINT_METADATA"  # orbax's per-checkpoint JSON, custom metadata included
DIGEST_KEY = "rljax_leaf_sha256"  # in each checkpoint's Orbax custom metadata: {path: hex}
_STEP_RE = re.compile(r"^\d+$")
_MAX_LISTED = 4  # leaves named in one error message before "and N more"


class CheckpointError(Exception):
    """A checkpoint cannot be restored (corrupt, not matching the target, or none intact)."""


class CheckpointCorrupt(CheckpointError):
    """A checkpoint's files are damaged: Orbax cannot read them, or a leaf's digest differs.

    Attributes: ``directory`` (the run's checkpoint directory), ``update`` and ``reason`` (one
    line, e.g. ``"checksum mismatch in state/params/w"``).
    """

    def __init__(self, directory: Path, update: int, reason: str):
        self.directory, self.update, self.reason = Path(directory), int(update), reason
        super().__init__(f"checkpoint {update} in {directory} is corrupt ({reason})")


class CheckpointMismatch(CheckpointError):
    """The saved tree's structure, shapes or dtypes differ from the restore target's.

    Attributes: ``directory``, ``update`` and ``differences`` (one line per differing leaf path,
    e.g. ``"state/params/w: saved float32[64,4], expected float32[32,4]"``).
    """

    def __init__(self, directory: Path, update: int, differences: list[str]):
        self.directory, self.update = Path(directory), int(update)
        self.differences = list(differences)
        listed = "; ".join(differences[:_MAX_LISTED])
        more = len(differences) - _MAX_LISTED
        more_text = f"; and {more} more" if more > 0 else ""
        super().__init__(
            f"checkpoint {update} in {directory} does not match the expected state "
            f"({len(differences)} leaves differ: {listed}{more_text}); was the configuration "
            "changed since it was saved?"
        )


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    """``RUN_DIR/checkpoints``, where each checkpoint is a ``<update>/`` directory."""
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


def _one_line(error: BaseException) -> str:
    """``"ValueError: DATA_LOSS: ..."``: the first line of an error, at most 200 characters."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


# --- the directory ----------------------------------------------------------------------------


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
        self._checkpointer = ocp.StandardCheckpointer()

    @property
    def directory(self) -> Path:
        return checkpoint_dir(self.run_dir)

    def save(self, update: int, tree: Any) -> Path:
        """Writes ``tree`` (typed keys allowed) as the checkpoint of ``update``, atomically.

        The per-leaf digests go into the same checkpoint's metadata, so they commit with it. An
        existing checkpoint of the same update is replaced. Returns its directory.
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
        self._checkpointer.save(path, tree, custom_metadata={DIGEST_KEY: leaf_digests(tree)})
        self._checkpointer.wait_until_finished()
        if self.max_to_keep is not None:
            for old in updates(self.run_dir)[: -self.max_to_keep]:
                _remove(self.directory / str(old))
        return path

    def restore(self, update: int | None = None, target: Any = None) -> Any:
        """The checkpoint of ``update`` (default: the newest complete one), verified.

        With ``target`` (a pytree of arrays or ``jax.ShapeDtypeStruct``s shaped like the saved
        one), the result has its structure and typed keys; without, the saved pytree of arrays.

        Raises ``FileNotFoundError`` when there is no such complete checkpoint,
        :class:`CheckpointMismatch` when ``target`` differs from what was saved (checked before
        reading any array) and :class:`CheckpointCorrupt` when the files cannot be read or a
        leaf's digest differs.
        """
        if update is None:
            update = latest_update(self.run_dir)
            if update is None:
                raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        update = int(update)
        path = (self.directory / str(update)).absolute()
        if not _complete(path):
            raise FileNotFoundError(
                f"no complete checkpoint of update {update} in {self.directory}; "
                f"available: {updates(self.run_dir)}"
            )
        digests = self._digests(path, update)
        with _quiet_orbax():
            try:
                item = self._checkpointer.metadata(path).item_metadata
            except Exception as error:  # any unreadable metadata file
                raise CheckpointCorrupt(self.directory, update, _one_line(error)) from error
        if item is None:  # Orbax logs and returns None when its array metadata is unreadable
            raise CheckpointCorrupt(self.directory, update, "its array metadata cannot be read")
        saved = named_leaves(item.tree)

        if target is None:
            data = self._read(path, update, None)
        else:
            target_data = keys_to_data(target)
            differences = structure_differences(saved, named_leaves(target_data))
            if differences:
                raise CheckpointMismatch(self.directory, update, differences)
            data = self._read(path, update, abstract_target(target_data, saved))
        if digests is not None:
            self._verify(update, data, digests)
        return data if target is None else data_to_keys(data, target)

    def restore_latest_intact(
        self, target: Any = None, log: Callable[[str], None] | None = None
    ) -> tuple[int, Any]:
        """``(update, tree)`` of the newest complete checkpoint that is intact.

        Complete checkpoints are tried newest first; a :class:`CheckpointCorrupt` one is skipped,
        and once one restores, ``log`` (if given) receives ONE line naming what was skipped, e.g.
        ``"checkpoint 40 in runs/x/checkpoints is corrupt (checksum mismatch in state/params/w);
        using checkpoint 30"``. Raises ``FileNotFoundError`` when there is no complete checkpoint,
        :class:`CheckpointError` (one line, naming each checkpoint and what was wrong with it)
        when none is intact, and :class:`CheckpointMismatch` at once when ``target`` does not fit
        (an older checkpoint of the same run would not fit either).
        """
        candidates = updates(self.run_dir)[::-1]
        if not candidates:
            raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        skipped: list[CheckpointCorrupt] = []
        for update in candidates:
            try:
                tree = self.restore(update, target)
            except CheckpointCorrupt as error:
                skipped.append(error)
                continue
            if skipped and log is not None:
                log(f"{_skipped_text(self.directory, skipped)}; using checkpoint {update}")
            return update, tree
        raise CheckpointError(f"no intact checkpoint: {_skipped_text(self.directory, skipped)}")

    def _digests(self, path: Path, update: int) -> dict[str, str] | None:
        """The digests saved with a checkpoint, or ``None`` for one written before them.

        Read from Orbax's metadata file directly: Orbax logs a damaged one and carries on
        without its custom metadata, which would pass a corrupt checkpoint as an old one.
        """
        file = path / METADATA_FILE
        if not file.exists():
            return None
        try:
            custom = json.loads(file.read_text(encoding="utf-8")).get("custom_metadata") or {}
        except (ValueError, AttributeError, OSError) as error:
            reason = f"{METADATA_FILE} is unreadable: {_one_line(error)}"
            raise CheckpointCorrupt(self.directory, update, reason) from error
        digests = custom.get(DIGEST_KEY)
        if digests is not None and not isinstance(digests, dict):
            raise CheckpointCorrupt(self.directory, update, f"{METADATA_FILE} has no valid digests")
        return digests

    def _read(self, path: Path, update: int, abstract: Any) -> Any:
        with _quiet_orbax():
            try:
                if abstract is None:
                    return self._checkpointer.restore(path)
                return self._checkpointer.restore(path, abstract)
            except Exception as error:  # a damaged file: tensorstore/Orbax errors of any type
                # Orbax's sibling reads fail too; let their unretrieved errors go quietly now.
                gc.collect()
                raise CheckpointCorrupt(self.directory, update, _one_line(error)) from error

    def _verify(self, update: int, data: Any, digests: dict[str, str]) -> None:
        actual = leaf_digests(jax.device_get(data))
        bad = digest_mismatches(actual, digests)
        if bad:
            listed = ", ".join(bad[:_MAX_LISTED])
            more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
            raise CheckpointCorrupt(self.directory, update, f"checksum mismatch in {listed}{more}")

    def close(self) -> None:
        self._checkpointer.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextlib.contextmanager
def _quiet_orbax():
    """Silences the ``asyncio`` and ``absl`` loggers while Orbax reads a checkpoint: a damaged
    file makes Orbax log each failed read (tracebacks of a screen each) besides raising, and the
    raised error is reported here in one line instead."""
    drop = _DropRecords()
    loggers = [logging.getLogger("asyncio"), logging.getLogger("absl")]
    for logger in loggers:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(drop)


def _skipped_text(directory: Path, skipped: list[CheckpointCorrupt]) -> str:
    if len(skipped) == 1:
        return str(skipped[0])
    reasons = "; ".join(f"{e.update}: {e.reason}" for e in skipped)
    names = ", ".join(str(e.update) for e in skipped)
    return f"checkpoints {names} in {directory} are corrupt ({reasons})"


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
    """Restores a checkpoint of ``run_dir`` (the newest complete one by default), verified.

    ``restore(run_dir)`` returns the saved pytree as arrays: for a ``rljax train`` run,
    ``{"state": {"params", "opt_state", "env_state", "key" (uint32 key data), "update_step",
    ...}, "update": int}`` with a leading seed axis on every state leaf. Pass ``target`` (e.g. a
    freshly initialised state wrapped the same way) to get that structure back, typed keys
    included. Raises as :meth:`Checkpointer.restore` does.
    """
    with Checkpointer(run_dir) as checkpointer:
        return checkpointer.restore(update, target)


def restore_latest_intact(
    run_dir: str | os.PathLike, target: Any = None, log: Callable[[str], None] | None = None
) -> tuple[int, Any]:
    """``(update, tree)`` of the newest intact checkpoint of ``run_dir``, skipping corrupt ones.

    ``log`` is called with one line when a newer checkpoint was skipped (``log=print`` will do).
    Raises as :meth:`Checkpointer.restore_latest_intact` does.
    """
    with Checkpointer(run_dir) as checkpointer:
        return checkpointer.restore_latest_intact(target, log)
