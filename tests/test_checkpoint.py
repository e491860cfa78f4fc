"""rljax.checkpoint: bitwise round trips (typed keys included), newest-complete selection,
leftovers of interrupted writes ignored, corrupt checkpoints caught (truncated files, flipped
bytes) with a fallback to the newest intact one, and a target that no longer fits named leaf by
leaf."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from rljax import checkpoint


@struct.dataclass
class _State:
    params: dict
    key: jax.Array
    step: jax.Array


def _tree(seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        "state": _State(
            params={
                "w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
                "b": jnp.asarray([np.nan, np.inf, -0.0, 1e-38], jnp.float32),
            },
            key=jax.random.split(jax.random.key(seed), 2),  # typed keys, batched
            step=jnp.int32(seed),
        ),
        "update": np.int32(seed),
        "mask": jnp.asarray([True, False]),
    }


def _bits(x):
    x = jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    return np.asarray(x).tobytes(), np.asarray(x).dtype, np.shape(x)


def _assert_bitwise(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        assert _bits(x) == _bits(y)


def test_round_trip_bitwise_with_typed_keys(tmp_path):
    tree = _tree(1)
    checkpoint.save(tmp_path, 5, tree)
    restored = checkpoint.restore(tmp_path, target=tree)
    _assert_bitwise(restored, tree)
    assert jax.dtypes.issubdtype(restored["state"].key.dtype, jax.dtypes.prng_key)
    # The restored key keeps working as a key.
    np.testing.assert_array_equal(
        jax.random.key_data(jax.random.split(restored["state"].key[0])),
        jax.random.key_data(jax.random.split(tree["state"].key[0])),
    )


def test_restore_without_target_returns_arrays(tmp_path):
    tree = _tree(2)
    checkpoint.save(tmp_path, 3, tree)
    raw = checkpoint.restore(tmp_path)
    np.testing.assert_array_equal(
        raw["state"]["key"], np.asarray(jax.random.key_data(tree["state"].key))
    )
    np.testing.assert_array_equal(raw["state"]["params"]["w"], tree["state"].params["w"])
    assert int(raw["update"]) == 2


def test_abstract_target(tmp_path):
    tree = _tree(3)
    checkpoint.save(tmp_path, 1, tree)
    abstract = jax.eval_shape(lambda: _tree(3))
    _assert_bitwise(checkpoint.restore(tmp_path, target=abstract), tree)


def test_latest_selection_and_max_to_keep(tmp_path):
    with checkpoint.Checkpointer(tmp_path, max_to_keep=3) as ckpt:
        for update in (2, 4, 6, 8):
            ckpt.save(update, _tree(update))
    assert checkpoint.updates(tmp_path) == [4, 6, 8]
    assert checkpoint.latest_update(tmp_path) == 8
    assert int(checkpoint.restore(tmp_path)["update"]) == 8
    assert int(checkpoint.restore(tmp_path, update=4)["update"]) == 4
    with pytest.raises(FileNotFoundError, match="update 2"):
        checkpoint.restore(tmp_path, update=2)
    # Saving an update again replaces it.
    checkpoint.save(tmp_path, 8, _tree(9))
    assert int(checkpoint.restore(tmp_path)["update"]) == 9


def test_no_checkpoint(tmp_path):
    assert checkpoint.latest_update(tmp_path) is None
    with pytest.raises(FileNotFoundError):
        checkpoint.restore(tmp_path)


def test_interrupted_writes_are_ignored(tmp_path):
    checkpoint.save(tmp_path, 4, _tree(4))
    directory = checkpoint.checkpoint_dir(tmp_path)
    # What a kill during Orbax's write leaves: a temporary directory without the commit file...
    shutil.copytree(directory / "4", directory / "12.orbax-checkpoint-tmp-1700000000")
    (directory / "12.orbax-checkpoint-tmp-1700000000" / checkpoint.COMMIT_FILE).unlink()
    # ...and, worse than Orbax ever leaves, a final-looking directory cut short by hand.
    shutil.copytree(directory / "4", directory / "16")
    (directory / "16" / checkpoint.COMMIT_FILE).unlink()
    (directory / "20").mkdir()
    assert checkpoint.updates(tmp_path) == [4]
    assert int(checkpoint.restore(tmp_path)["update"]) == 4
    with pytest.raises(FileNotFoundError):
        checkpoint.restore(tmp_path, update=16)

    removed = checkpoint.clean_incomplete(tmp_path)
    assert sorted(p.name for p in removed) == ["12.orbax-checkpoint-tmp-1700000000", "16", "20"]
    # Leftovers do not take a max_to_keep slot, and a stale temporary of the same update is
    # no obstacle to saving it.
    (directory / "8.orbax-checkpoint-tmp").mkdir()
    with checkpoint.Checkpointer(tmp_path, max_to_keep=2) as ckpt:
        ckpt.save(8, _tree(8))
        ckpt.save(10, _tree(10))
    assert sorted(p.name for p in directory.iterdir()) == ["10", "8"]


# --- integrity: digests, corrupt checkpoints and the fallback to an intact one -----------------


def _data_files(run_dir, update):
    """The array data files of a checkpoint, largest first (the arrays are in the largest)."""
    root = checkpoint.checkpoint_dir(run_dir) / str(update)
    files = [p for p in root.rglob("*") if p.is_file() and p.parent.name == "d"]
    return sorted(files, key=lambda p: p.stat().st_size, reverse=True)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _big_tree(seed):
    # Random floats do not compress, so zstd stores them raw and a flipped byte flips a value.
    rng = np.random.default_rng(seed)
    tree = _tree(seed)
    tree["state"] = tree["state"].replace(
        params={**tree["state"].params, "big": jnp.asarray(rng.normal(size=(64, 64)), jnp.float32)}
    )
    return tree


def test_flipped_byte_is_caught_by_the_checksum(tmp_path):
    tree = _big_tree(1)
    checkpoint.save(tmp_path, 10, tree)
    _flip_byte(_data_files(tmp_path, 10)[0])
    with pytest.raises(checkpoint.CheckpointCorrupt) as caught:
        checkpoint.restore(tmp_path, target=tree)
    message = str(caught.value)
    assert "checksum mismatch in state/params/big" in message
    assert "\n" not in message and str(checkpoint.checkpoint_dir(tmp_path)) in message
    assert caught.value.update == 10
    with pytest.raises(checkpoint.CheckpointCorrupt, match="checksum mismatch"):
        checkpoint.restore(tmp_path)  # without a target too


def test_fallback_to_the_newest_intact_checkpoint(tmp_path):
    with checkpoint.Checkpointer(tmp_path, max_to_keep=None) as ckpt:
        for update in (10, 20, 30, 40):
            ckpt.save(update, _big_tree(update))
    _truncate(_data_files(tmp_path, 40)[0])
    _flip_byte(_data_files(tmp_path, 30)[0])
    notes = []
    update, tree = checkpoint.restore_latest_intact(tmp_path, target=_big_tree(0), log=notes.append)
    assert update == 20
    _assert_bitwise(tree, _big_tree(20))
    assert len(notes) == 1 and "\n" not in notes[0]
    assert notes[0].startswith("checkpoints 40, 30 in ")
    assert "30: checksum mismatch" in notes[0] and notes[0].endswith("using checkpoint 20")
    # Nothing skipped (the corrupt ones gone): nothing logged.
    notes.clear()
    shutil.rmtree(checkpoint.checkpoint_dir(tmp_path) / "40")
    shutil.rmtree(checkpoint.checkpoint_dir(tmp_path) / "30")
    assert checkpoint.restore_latest_intact(tmp_path, log=notes.append)[0] == 20
    assert notes == []


def test_single_skip_note_and_none_intact(tmp_path):
    checkpoint.save(tmp_path, 1, _big_tree(1), max_to_keep=None)
    checkpoint.save(tmp_path, 2, _big_tree(2), max_to_keep=None)
    _flip_byte(_data_files(tmp_path, 2)[0])
    notes = []
    update, _ = checkpoint.restore_latest_intact(tmp_path, log=notes.append)
    assert update == 1
    assert notes == [
        f"checkpoint 2 in {checkpoint.checkpoint_dir(tmp_path)} is corrupt "
        "(checksum mismatch in state/params/big); using checkpoint 1"
    ]
    # Orbax's own metadata file damaged: corrupt, not mistaken for an old unverified checkpoint.
    (checkpoint.checkpoint_dir(tmp_path) / "1" / checkpoint.METADATA_FILE).write_text("{")
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.restore_latest_intact(tmp_path, log=notes.append)
    message = str(caught.value)
    assert type(caught.value) is checkpoint.CheckpointError and "\n" not in message
    assert message.startswith("no intact checkpoint: checkpoints 2, 1 in ")
    assert str(checkpoint.checkpoint_dir(tmp_path)) in message
    assert "2: checksum mismatch" in message and "1: _CHECKPOINT_METADATA is unreadable" in message
    assert len(notes) == 1  # the failed call logged nothing


def test_no_checkpoint_at_all_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoint.restore_latest_intact(tmp_path)


def test_truncated_file_is_one_line_corrupt_error(tmp_path, capfd):
    tree = _big_tree(3)
    checkpoint.save(tmp_path, 5, tree)
    for path in _data_files(tmp_path, 5):
        _truncate(path)
    with pytest.raises(checkpoint.CheckpointCorrupt) as caught:
        checkpoint.restore(tmp_path, target=tree)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(
        f"checkpoint 5 in {checkpoint.checkpoint_dir(tmp_path)} is corrupt ("
    )
    # Orbax's logged tracebacks of the failed reads are kept off the terminal.
    assert "Traceback" not in capfd.readouterr().err


def test_checkpoint_without_digests_restores_unverified(tmp_path):
    """Checkpoints written before digests existed (plain Orbax) still restore."""
    import orbax.checkpoint as ocp

    tree = _tree(4)
    path = (checkpoint.checkpoint_dir(tmp_path) / "7").absolute()
    with ocp.StandardCheckpointer() as raw:
        raw.save(path, jax.device_get(checkpoint.keys_to_data(tree)))
        raw.wait_until_finished()
    _assert_bitwise(checkpoint.restore(tmp_path, target=tree), tree)
    assert checkpoint.restore_latest_intact(tmp_path)[0] == 7


def test_digests_name_leaves_alike_for_dataclasses_and_restored_dicts(tmp_path):
    tree = checkpoint.keys_to_data(_tree(5))
    checkpoint.save(tmp_path, 1, tree)
    digests = checkpoint.leaf_digests(jax.device_get(tree))
    assert checkpoint.leaf_digests(checkpoint.restore(tmp_path)) == digests
    assert "state/params/w" in digests and "mask" in digests
    # A changed value, dtype or shape changes the digest.
    w = np.asarray(tree["state"].params["w"])
    base = checkpoint.leaf_digests({"w": w})
    for other in (w + 1, w.astype(np.float64), w.reshape(4, 3)):
        assert checkpoint.leaf_digests({"w": other}) != base


# --- a target that no longer matches the checkpoint --------------------------------------------


def test_mismatched_target_names_the_leaves(tmp_path):
    checkpoint.save(tmp_path, 3, _tree(1))
    changed = _tree(1)
    changed["state"] = changed["state"].replace(
        params={
            "w": jnp.zeros((5, 4), jnp.float32),  # shape
            "b": jnp.zeros(4, jnp.int32),  # dtype
            "extra": jnp.zeros(2),  # not saved
        }
    )
    del changed["mask"]  # saved, not expected
    with pytest.raises(checkpoint.CheckpointMismatch) as caught:
        checkpoint.restore(tmp_path, target=changed)
    error = caught.value
    assert isinstance(error, checkpoint.CheckpointError)
    assert error.differences == [
        "mask: saved bool[2], not expected",
        "state/params/b: saved float32[4], expected int32[4]",
        "state/params/extra: expected float32[2], not in the checkpoint",
        "state/params/w: saved float32[3,4], expected float32[5,4]",
    ]
    assert "\n" not in str(error) and "checkpoint 3 in" in str(error)
    # The fallback does not hide a mismatch behind older checkpoints.
    with pytest.raises(checkpoint.CheckpointMismatch):
        checkpoint.restore_latest_intact(tmp_path, target=changed)


def test_mismatch_message_lists_a_few_then_counts(tmp_path):
    checkpoint.save(tmp_path, 1, {f"x{i}": np.zeros(2, np.float32) for i in range(9)})
    target = {f"x{i}": np.zeros(3, np.float32) for i in range(9)}
    with pytest.raises(checkpoint.CheckpointMismatch, match=r"9 leaves differ: .*; and 5 more"):
        checkpoint.restore(tmp_path, target=target)


def test_python_scalar_target_takes_the_saved_dtype(tmp_path):
    checkpoint.save(tmp_path, 1, {"n": np.int32(7), "t": np.float32(2.5)})
    restored = checkpoint.restore(tmp_path, target={"n": 0, "t": 0.0})
    assert restored["n"].dtype == np.int32 and int(restored["n"]) == 7
    assert restored["t"].dtype == np.float32 and float(restored["t"]) == 2.5
    with pytest.raises(checkpoint.CheckpointMismatch, match="t: saved float32"):
        checkpoint.restore(tmp_path, target={"n": 0, "t": False})
