"""One writer per run directory: :class:`RunLock` holds ``RUN_DIR/.lock`` for a run's lifetime.

The lock is an ``fcntl.flock`` on the file, taken without blocking: a second process (or a second
``RunLock`` in the same process) that tries to take it gets :class:`RunLockedError`, whose message
names the holder from what the holder wrote into the file (pid, host, start time, command line).
The kernel drops a flock when its holder's file descriptor closes, which includes every kind of
death (``SIGKILL`` too), so a lock file left behind by a dead run never blocks the next one; the
file itself stays, and its contents are only a description of the last holder.

The descriptor is not inherited across ``exec`` (Python's default), but a child made by a bare
``fork`` shares it and keeps the lock while it lives.

``flock`` locks are advisory and local: they exclude other ``RunLock`` users on the same machine
(and on file systems that pass flock through, such as local disks and most NFS v4 setups).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


class RunLockedError(RuntimeError):
    """The run directory is locked by another writer.

    Attributes: ``run_dir`` and ``holder`` (what the holder recorded: ``pid``, ``host``,
    ``started`` and ``command``; empty if it recorded nothing readable).
    """

    def __init__(self, run_dir: Path, holder: dict[str, Any]):
        self.run_dir, self.holder = Path(run_dir), dict(holder)
        super().__init__(f"{run_dir} is in use by {describe_holder(holder)}")


def describe_holder(holder: dict[str, Any]) -> str:
    """``"pid 1234 on host h since 2026-12-03 10:00:00 (rljax train ppo ...)"``."""
    if not holder:
        return "another process (it has not recorded itself yet)"
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    if holder.get("started"):
        text += f" since {holder['started']}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


class RunLock:
    """An exclusive, non-blocking lock on ``RUN_DIR/.lock``; a context manager.

    ``with RunLock(run_dir): ...`` or ``lock.acquire()`` / ``lock.release()``. ``acquire`` creates
    the run directory if needed, raises :class:`RunLockedError` if another holder has it, and
    records this process in the file. Not reentrant: acquiring a held lock again raises.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Takes the lock or raises :class:`RunLockedError` naming the holder. Returns ``self``."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this RunLock")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # O_RDWR without O_TRUNC: a failed attempt must not wipe the holder's record.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(self.run_dir, holder) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            record = json.dumps(current_holder()).encode() + b"\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)  # closing releases the flock
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Drops the lock (the file stays; its record describes the last holder). Idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def holder(self) -> dict[str, Any]:
        """What the current (or last) holder recorded in the lock file; ``{}`` if nothing."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


def current_holder() -> dict[str, Any]:
    """This process's record: ``{"pid", "host", "started" (local time), "command"}``."""
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": started,
        "command": shlex.join(argv),
    }


def _read_holder(fd: int) -> dict[str, Any]:
    # The holder may be between truncating and writing its record: then there is nothing yet.
    data = os.pread(fd, 64 * 1024, 0)
    try:
        holder = json.loads(data.decode("utf-8", errors="replace"))
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}
