"""rljax.multicore: the seed axis split into groups that run side by side, with the same bits."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import multicore


@pytest.mark.parametrize(
    "num_seeds, workers, groups",
    [(64, 2, 2), (8, 2, 2), (2, 2, 1), (3, 2, 1), (1, 2, 1), (6, 4, 3), (4, 4, 2), (64, 1, 1)],
)
def test_seed_groups_divide_the_seeds_and_keep_two_per_group(num_seeds, workers, groups):
    assert multicore.seed_groups(num_seeds, workers) == groups


def test_seed_groups_rejects_bad_counts():
    with pytest.raises(ValueError, match="num_seeds=0"):
        multicore.seed_groups(0, 2)
    with pytest.raises(ValueError, match="workers=0"):
        multicore.seed_groups(4, 0)


def test_split_then_concat_is_the_identity():
    tree = {"a": jnp.arange(12).reshape(6, 2), "b": jax.random.split(jax.random.key(0), 6)}
    parts = multicore.split_leading(tree, 3)
    assert [p["a"].shape for p in parts] == [(2, 2)] * 3
    back = multicore.concat_leading(parts)
    np.testing.assert_array_equal(back["a"], tree["a"])
    np.testing.assert_array_equal(jax.random.key_data(back["b"]), jax.random.key_data(tree["b"]))


def _one_seed(key, scale):
    """A small training-like program: random init, a few matrix-product steps."""
    w = jax.random.normal(key, (16, 16)) * scale
    x = jax.random.normal(jax.random.fold_in(key, 1), (32, 16))

    def step(w, _):
        grad = x.T @ jnp.tanh(x @ w) / 32
        return w - 0.1 * grad, jnp.sum(w**2)

    return jax.lax.scan(step, w, None, 20)


def test_vmap_seeds_matches_one_vmap_bit_for_bit():
    keys = jax.random.split(jax.random.key(3), 8)
    compiled = []  # the name of every program the backend compiles

    def listen(event, seconds, fun_name="", **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(fun_name)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        run = multicore.vmap_seeds(_one_seed, 8, workers=2)
        assert run.groups == 2
        assert isinstance(run.compile(keys, 0.5), float)
        ahead = set(compiled)
        assert ahead, "compile() compiles the seeds' program"
        del compiled[:]
        ours = run(keys, 0.5)
        assert not ahead & set(compiled)  # the run used the program compiled ahead
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    reference = jax.jit(jax.vmap(_one_seed, in_axes=(0, None)))(keys, 0.5)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference), strict=True):
        assert a.shape == b.shape and np.asarray(a).tobytes() == np.asarray(b).tobytes()
    with pytest.raises(ValueError, match="expected 8 keys, got 4"):
        run(keys[:4], 0.5)


def test_default_workers_counts_the_cpu_cores():
    """The cores this process may use on a CPU backend; one worker on an accelerator."""
    expected = len(os.sched_getaffinity(0)) if jax.default_backend() == "cpu" else 1
    assert multicore.default_workers() == expected


def test_run_parallel_runs_each_call_in_its_own_thread_and_keeps_the_order():
    import threading

    barrier = threading.Barrier(3, timeout=10)  # passes only if all three calls run at once

    def call(i):
        barrier.wait()
        return jnp.float32(i), threading.current_thread().name

    results = multicore.run_parallel([lambda i=i: call(i) for i in range(3)])
    assert [float(value) for value, _ in results] == [0.0, 1.0, 2.0]
    assert len({name for _, name in results}) == 3
    assert multicore.run_parallel([lambda: 7]) == [7]
    with pytest.raises(ValueError, match="at least one call"):
        multicore.run_parallel([])
