"""rljax.shuffling.permutation: a bijection, uniformly distributed, cheap on the CPU."""

import collections
import itertools

import jax
import numpy as np
import pytest

from rljax.shuffling import permutation


@pytest.mark.parametrize("n", [1, 2, 5, 128, 512, 1000, 70_000])
def test_is_a_permutation_of_range_n(n):
    # 70 000 needs 17 index bits, so two chained sorting rounds (15 random bits each).
    perm = np.asarray(permutation(jax.random.key(n), n))
    assert perm.dtype == np.int32 and perm.shape == (n,)
    np.testing.assert_array_equal(np.sort(perm), np.arange(n))


def test_every_ordering_is_equally_likely():
    keys = jax.random.split(jax.random.key(0), 12_000)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: permutation(k, 4)))(keys))
    counts = collections.Counter(map(tuple, perms.tolist()))
    assert set(counts) == set(itertools.permutations(range(4)))
    expected = len(keys) / 24  # 500 each; a chi-square with 23 dof stays under 50 w.p. 0.999
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 50, counts


def test_positions_are_uniform_for_a_minibatch_sized_input():
    # Where element 0 lands over many draws of a 512-permutation: no position is favoured.
    keys = jax.random.split(jax.random.key(1), 4096)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: permutation(k, 512)))(keys))
    where = np.argmax(perms == 0, axis=1)
    quarter = np.bincount(where // 128, minlength=4)
    assert np.all(np.abs(quarter - 1024) < 5 * np.sqrt(1024 * 0.75)), quarter


def test_same_key_same_permutation_and_bad_size():
    a = permutation(jax.random.key(7), 300)
    np.testing.assert_array_equal(a, permutation(jax.random.key(7), 300))
    assert not np.array_equal(a, permutation(jax.random.key(8), 300))
    with pytest.raises(ValueError, match="n=0"):
        permutation(jax.random.key(0), 0)
