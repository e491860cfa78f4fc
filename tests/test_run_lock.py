"""rljax.run.lock: one writer per run directory, the holder named, and a dead holder's lock free."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from rljax.run.lock import LOCK_FILE, RunLock, RunLockedError, describe_holder

_HOLD = textwrap.dedent(
    """
    import sys, time
    from rljax.run.lock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("held", flush=True)
    time.sleep(600)
    """
)


def _holder_process(run_dir):
    """A subprocess that takes the lock of ``run_dir`` and sleeps; returns once it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(run_dir), "train", "ppo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_acquirer_in_process_is_refused(tmp_path):
    run_dir = tmp_path / "runs" / "x"
    with RunLock(run_dir) as lock:
        assert lock.held and (run_dir / LOCK_FILE).exists()
        with pytest.raises(RunLockedError) as caught:
            RunLock(run_dir).acquire()
        assert caught.value.holder["pid"] == os.getpid()
        assert str(caught.value).startswith(f"{run_dir} is in use by pid {os.getpid()} on host ")
        with pytest.raises(RuntimeError, match="already held"):
            lock.acquire()
    assert not lock.held
    # Released: free for the next writer, and release is idempotent.
    with RunLock(run_dir):
        pass
    lock.release()


def test_other_process_holds_then_dies(tmp_path):
    run_dir = tmp_path / "run"
    proc = _holder_process(run_dir)
    try:
        with pytest.raises(RunLockedError) as caught:
            RunLock(run_dir).acquire()
        holder = caught.value.holder
        assert holder["pid"] == proc.pid
        assert holder["command"] == "-c " + " ".join([str(run_dir), "train", "ppo"])
        message = str(caught.value)
        assert f"in use by pid {proc.pid} on host {holder['host']} since {holder['started']}" in (
            message
        )
        assert message.endswith(f"({holder['command']})")
        # A refused attempt leaves the holder's record intact.
        assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The kernel dropped the dead holder's flock: the stale file does not block.
    assert (run_dir / LOCK_FILE).exists()
    with RunLock(run_dir) as lock:
        assert lock.holder()["pid"] == os.getpid()


def test_describe_holder():
    holder = {"pid": 1234, "host": "h", "started": "2026-12-03 10:00:00", "command": "rljax x"}
    assert describe_holder(holder) == "pid 1234 on host h since 2026-12-03 10:00:00 (rljax x)"
    assert "not recorded" in describe_holder({})


def test_holder_of_unlocked_dir_is_empty(tmp_path):
    assert RunLock(tmp_path).holder() == {}
    with RunLock(tmp_path):
        pass
    # After release the file still describes the last holder.
    assert RunLock(tmp_path).holder()["pid"] == os.getpid()
