"""rljax.checkpoint: bitwise round trips (typed keys included), newest-complete selection, and
leftovers of interrupted writes ignored."""

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
