"""Spaces: jitted sample / sample_batch / contains, constructor errors and ``check_action``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import rljax
from rljax import spaces

KEY = jax.random.key(0)
BATCH = 256
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _draw(space, key=KEY, batch=BATCH):
    """Jitted ``(sample, sample_batch, contains(sample), vmap(contains)(batch))`` as numpy."""

    @jax.jit
    def run(key):
        k1, k2 = jax.random.split(key)
        one = space.sample(k1)
        many = space.sample_batch(k2, batch)
        return one, many, space.contains(one), jax.vmap(space.contains)(many)

    return jax.tree.map(np.asarray, run(key))


# --- Discrete ---------------------------------------------------------------------------------


def test_discrete_sample_and_batch_under_jit():
    space = spaces.Discrete(5)
    one, many, one_in, many_in = _draw(space)
    assert one.shape == () and one.dtype == np.int32
    assert many.shape == (BATCH,) and many.dtype == np.int32
    assert 0 <= one < 5
    assert many.min() >= 0 and many.max() <= 4
    # 256 draws from 5 values: every value shows up (fails if e.g. the top value is never drawn).
    assert set(many.tolist()) == {0, 1, 2, 3, 4}
    assert one_in and many_in.all()


def test_discrete_contains():
    space = spaces.Discrete(3)
    contains = jax.jit(space.contains)
    assert bool(contains(jnp.int32(0))) and bool(contains(jnp.int32(2)))
    assert not bool(contains(jnp.int32(-1)))
    assert not bool(contains(jnp.int32(3)))
    # A batch is not one element of the space.
    assert not bool(space.contains(jnp.zeros((2,), jnp.int32)))


@pytest.mark.parametrize("n", [0, -3])
def test_discrete_rejects_n_below_one(n):
    with pytest.raises(ValueError, match="n >= 1"):
        spaces.Discrete(n)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 10_000), seed=st.integers(0, 2**31 - 1))
def test_discrete_samples_are_contained(n, seed):
    space = spaces.Discrete(n)
    key = jax.random.key(seed)
    one = space.sample(key)
    many = np.asarray(space.sample_batch(key, 64))
    assert bool(space.contains(one))
    assert many.shape == (64,) and many.min() >= 0 and many.max() < n


# --- MultiDiscrete ----------------------------------------------------------------------------


def test_multidiscrete_sample_and_batch_under_jit():
    nvec = [2, 3, 7]
    space = spaces.MultiDiscrete(nvec)
    one, many, one_in, many_in = _draw(space)
    assert space.shape == (3,)
    assert one.shape == (3,) and one.dtype == np.int32
    assert many.shape == (BATCH, 3) and many.dtype == np.int32
    assert (many >= 0).all() and (many < np.asarray(nvec)).all()
    for i, n in enumerate(nvec):
        assert set(many[:, i].tolist()) == set(range(n))
    assert one_in and many_in.all()


def test_multidiscrete_contains():
    space = spaces.MultiDiscrete([2, 3])
    assert bool(space.contains(jnp.asarray([1, 2], jnp.int32)))
    assert not bool(space.contains(jnp.asarray([2, 0], jnp.int32)))
    assert not bool(space.contains(jnp.asarray([0, -1], jnp.int32)))
    assert not bool(space.contains(jnp.asarray([0, 0, 0], jnp.int32)))


@pytest.mark.parametrize("nvec", [[], [2, 0], [[2, 2]], [3, -1]])
def test_multidiscrete_constructor_errors(nvec):
    with pytest.raises(ValueError, match="MultiDiscrete"):
        spaces.MultiDiscrete(nvec)


# --- Box --------------------------------------------------------------------------------------


def test_box_bounded_sample_and_batch_under_jit():
    low = np.array([[-1.0, 0.0], [2.0, -5.0], [0.5, 0.5]], np.float32)
    high = np.array([[1.0, 0.1], [3.0, 5.0], [0.5, 0.6]], np.float32)
    space = spaces.Box(low, high, (3, 2))
    one, many, one_in, many_in = _draw(space)
    assert one.shape == (3, 2) and one.dtype == np.float32
    assert many.shape == (BATCH, 3, 2) and many.dtype == np.float32
    assert (many >= low).all() and (many <= high).all()
    assert (one >= low).all() and (one <= high).all()
    # Uniform over the box: the batch spreads over most of each interval.
    spread = many.max(axis=0) - many.min(axis=0)
    width = high - low
    assert (spread >= 0.8 * width).all()
    assert one_in and many_in.all()


def test_box_scalar_bounds_broadcast():
    space = spaces.Box(-2.0, 3.0, (4,))
    np.testing.assert_array_equal(space.low, np.full((4,), -2.0, np.float32))
    np.testing.assert_array_equal(space.high, np.full((4,), 3.0, np.float32))
    assert space.low.dtype == jnp.float32


def test_box_infinite_bounds_sample_finite():
    space = spaces.Box(-jnp.inf, jnp.inf, (5,))
    one, many, one_in, many_in = _draw(space)
    assert np.isfinite(one).all() and np.isfinite(many).all()
    assert many.shape == (BATCH, 5) and many.dtype == np.float32
    assert one_in and many_in.all()


def test_box_mixed_finite_and_infinite_bounds():
    low = np.array([-1.0, -np.inf], np.float32)
    high = np.array([1.0, np.inf], np.float32)
    space = spaces.Box(low, high, (2,))
    one, many, _, many_in = _draw(space)
    assert np.isfinite(many).all()
    assert (np.abs(many[:, 0]) <= 1.0).all()
    assert many_in.all()


def test_box_half_bounded_samples_are_contained():
    space = spaces.Box(0.0, jnp.inf, (8,))
    _, many, _, many_in = _draw(space)
    assert np.isfinite(many).all()
    assert many_in.all()


def test_box_huge_finite_bounds_sample_finite():
    space = spaces.Box(-FLOAT32_MAX, FLOAT32_MAX, (4,))
    one, many, one_in, many_in = _draw(space)
    assert np.isfinite(one).all() and np.isfinite(many).all()
    assert one_in and many_in.all()


def test_box_traced_bounds_under_jit():
    # Bounds computed from traced params (as env spaces do) still sample inside the box.
    @jax.jit
    def run(key, high):
        space = spaces.Box(-high, high, (3,))
        return space.sample_batch(key, 64), space.sample(key)

    many, one = run(KEY, jnp.asarray([0.5, 1.0, 2.0], jnp.float32))
    high = np.array([0.5, 1.0, 2.0], np.float32)
    assert many.shape == (64, 3)
    assert (np.abs(np.asarray(many)) <= high).all()
    assert (np.abs(np.asarray(one)) <= high).all()


def test_box_integer_dtype():
    space = spaces.Box(0, 3, (4,), jnp.int32)
    one, many, one_in, many_in = _draw(space)
    assert one.dtype == np.int32 and many.dtype == np.int32
    assert many.shape == (BATCH, 4)
    # Integer boxes are inclusive of high.
    assert set(np.unique(many).tolist()) == {0, 1, 2, 3}
    assert one_in and many_in.all()


def test_box_contains():
    space = spaces.Box(-1.0, 1.0, (2,))
    assert bool(space.contains(jnp.asarray([-1.0, 1.0])))
    assert not bool(space.contains(jnp.asarray([0.0, 1.01])))
    assert not bool(space.contains(jnp.asarray([jnp.nan, 0.0])))
    assert not bool(space.contains(jnp.zeros((3,))))
    assert not bool(space.contains(jnp.zeros((1, 2))))


def test_box_unbroadcastable_bounds_raise():
    with pytest.raises(ValueError):
        spaces.Box(np.zeros(3), np.ones(3), (2,))


def test_box_low_above_high_raises():
    with pytest.raises(ValueError):
        spaces.Box(1.0, 0.0, (2,))


@settings(max_examples=25, deadline=None)
@given(
    bounds=st.tuples(st.floats(-1e6, 1e6, width=32), st.floats(-1e6, 1e6, width=32)).map(sorted),
    seed=st.integers(0, 2**31 - 1),
)
# Found by Hypothesis in CI: bounds near the smallest normal float, whose halves are subnormal,
# and subnormal bounds themselves (XLA:CPU flushes subnormals to zero; Box does the same).
@example(bounds=[-1.1645198296652041e-37, -1.1754943508222875e-38], seed=0)
@example(bounds=[-1.1645198296652041e-37, -1.1754943508222875e-38], seed=1)
@example(bounds=[1.401298464324817e-45, 1.401298464324817e-45], seed=0)
@example(bounds=[-1.401298464324817e-45, 1.0], seed=0)
def test_box_samples_are_contained(bounds, seed):
    low, high = bounds
    space = spaces.Box(low, high, (3,))
    key = jax.random.key(seed)
    one = space.sample(key)
    many = np.asarray(space.sample_batch(key, 32))
    assert bool(space.contains(one))
    low32, high32 = np.asarray(space.low), np.asarray(space.high)
    tiny = np.finfo(np.float32).tiny
    for given_bound, bound in ((low, low32), (high, high32)):  # only subnormals are changed
        expected = 0.0 if abs(np.float32(given_bound)) < tiny else np.float32(given_bound)
        assert (bound == expected).all()
    assert many.dtype == np.float32
    assert ((many >= low32) & (many <= high32)).all()


# --- check_action -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "action"),
    [
        (spaces.Discrete(3), jnp.zeros((2,), jnp.int32)),  # batch passed to one env
        (spaces.Discrete(3), jnp.float32(1.0)),  # float for an integer space
        (spaces.Discrete(3), jnp.asarray(True)),  # bool is not an integer action
        (spaces.MultiDiscrete([2, 2]), jnp.zeros((3,), jnp.int32)),
        (spaces.MultiDiscrete([2, 2]), jnp.zeros((2,), jnp.float32)),
        (spaces.Box(-1.0, 1.0, (2,)), jnp.zeros((3,), jnp.float32)),
        (spaces.Box(-1.0, 1.0, (2,)), jnp.zeros((2,), jnp.int32)),
        (spaces.Box(-1.0, 1.0, (1,)), jnp.float32(0.5)),  # scalar for a [1] action
    ],
)
def test_check_action_rejects_wrong_shape_or_dtype(space, action):
    with pytest.raises(TypeError) as excinfo:
        space.check_action(action)
    message = str(excinfo.value)
    assert repr(space) in message
    assert str(tuple(action.shape)) in message


@pytest.mark.parametrize(
    ("space", "action"),
    [
        (spaces.Discrete(3), 2),
        (spaces.Discrete(3), np.uint8(1)),
        (spaces.MultiDiscrete([2, 2]), [1, 0]),
        (spaces.Box(-1.0, 1.0, (2,)), [0.5, -0.5]),
        (spaces.Box(-1.0, 1.0, (2,)), np.zeros(2, np.float64)),
    ],
)
def test_check_action_accepts_matching_actions(space, action):
    out = space.check_action(action)
    assert isinstance(out, jax.Array)
    assert out.shape == space.shape


def test_env_step_checks_action_at_trace_time():
    env, params = rljax.make("CartPole-v1")
    _, state = env.reset(KEY, params)
    step = jax.jit(env.step)
    with pytest.raises(TypeError, match=r"Discrete\(2\)"):
        step(KEY, state, jnp.zeros((4,), jnp.int32), params)
    with pytest.raises(TypeError, match=r"Discrete\(2\)"):
        step(KEY, state, jnp.float32(1.0), params)
