"""RunningMeanStd: batches folded in match numpy over everything seen (with the prior), a batch of
one is Welford's update, and normalisation clips and scales as documented."""

import jax
import jax.numpy as jnp
import numpy as np

from rljax.learning.running_stats import INITIAL_COUNT, RunningMeanStd


def _pooled_with_prior(x):
    """Mean and population variance of ``x`` pooled with the prior (mean 0, variance 1)."""
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    total = n + INITIAL_COUNT
    mean = x.sum(0) / total
    m2 = INITIAL_COUNT * 1.0 + ((x - x.mean(0)) ** 2).sum(0)
    m2 += INITIAL_COUNT * n / total * x.mean(0) ** 2
    return mean, m2 / total


def test_batches_of_different_sizes_match_numpy_over_all_seen():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 2)).astype(np.float32) for n in (1, 7, 64, 5)]
    stats = RunningMeanStd.create((2,))
    update = jax.jit(lambda s, b: s.update(b))
    for batch in batches:
        stats = update(stats, jnp.asarray(batch))
    mean, var = _pooled_with_prior(np.concatenate(batches))
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(stats.var, var, rtol=1e-4)
    np.testing.assert_allclose(stats.count, 77 + INITIAL_COUNT, rtol=1e-6)
    assert stats.mean.dtype == stats.var.dtype == stats.count.dtype == jnp.float32


def test_a_batch_of_one_is_welfords_update():
    stats = RunningMeanStd.create(()).update(jnp.array([1.0, 2.0]))
    x = jnp.float32(5.0)
    ours = stats.update(x[None])
    count = stats.count + 1.0
    delta = x - stats.mean
    np.testing.assert_allclose(ours.mean, stats.mean + delta / count, rtol=1e-7)
    np.testing.assert_allclose(
        ours.var, (stats.var * stats.count + delta**2 * stats.count / count) / count, rtol=1e-6
    )


def test_normalize_and_scale():
    stats = RunningMeanStd(jnp.array([1.0, -1.0]), jnp.array([4.0, 0.25]), jnp.float32(10.0))
    x = jnp.array([[3.0, -1.5], [101.0, 0.0]])
    np.testing.assert_allclose(stats.normalize(x), [[1.0, -1.0], [10.0, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(stats.normalize(x, clip=None)[1, 0], 50.0, rtol=1e-6)
    np.testing.assert_allclose(stats.normalize(x, clip=2.0), [[1.0, -1.0], [2.0, 2.0]], rtol=1e-6)
    # scale keeps the sign and the centre: x / std.
    np.testing.assert_allclose(stats.scale(x), [[1.5, -3.0], [50.5, 0.0]], rtol=1e-6)
    # epsilon keeps a zero variance finite.
    zero = RunningMeanStd(jnp.zeros(()), jnp.zeros(()), jnp.float32(1.0))
    np.testing.assert_allclose(zero.normalize(jnp.float32(1e-4), clip=None), 1.0, rtol=1e-6)
