"""rljax.learning.q_learning against hand computations: the C51 projection against the paper's
loop in numpy, double-Q action selection, n-step windows cut at episode ends, target updates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.learning import q_learning as ql


def project_loop(atoms, probs, v_min, v_max):
    """Algorithm 1 of Bellemare et al. (2017), one atom at a time, in float64."""
    batch, k = atoms.shape
    dz = (v_max - v_min) / (k - 1)
    out = np.zeros((batch, k))
    for b in range(batch):
        for i in range(k):
            tz = min(max(atoms[b, i], v_min), v_max)
            pos = (tz - v_min) / dz
            lo, hi = int(np.floor(pos)), int(np.ceil(pos))
            if lo == hi:  # on a support point: all of it there
                out[b, lo] += probs[b, i]
            else:
                out[b, lo] += probs[b, i] * (hi - pos)
                out[b, hi] += probs[b, i] * (pos - lo)
    return out


def test_support_is_evenly_spaced_and_rejects_one_atom():
    np.testing.assert_allclose(ql.categorical_support(5, -2.0, 2.0), [-2, -1, 0, 1, 2])
    with pytest.raises(ValueError, match="num_atoms=1"):
        ql.categorical_support(1, 0.0, 1.0)


def test_projection_matches_the_papers_loop():
    rng = np.random.default_rng(0)
    k, v_min, v_max = 11, -5.0, 5.0
    support = ql.categorical_support(k, v_min, v_max)
    probs = rng.dirichlet(np.ones(k), size=6)
    atoms = rng.uniform(-8, 8, size=(6, k))  # many outside [v_min, v_max]
    atoms[0] = np.arange(k) - 5.0  # exactly on the support points
    atoms[1] = np.arange(k) - 4.0  # shifted by one point: the top one falls off, clipped
    atoms[2] = 0.5 * (np.arange(k) - 5.0)  # every other on a point, the rest exactly halfway
    atoms[3] = 100.0  # all above v_max
    atoms[4] = -100.0  # all below v_min
    got = np.asarray(ql.categorical_projection(jnp.float32(atoms), jnp.float32(probs), support))
    want = project_loop(atoms, probs, v_min, v_max)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got[0], probs[0], atol=1e-6)  # on the points: unchanged
    assert got[3, -1] == pytest.approx(1.0) and got[4, 0] == pytest.approx(1.0)


def test_cross_entropy_is_minus_target_dot_log_softmax():
    logits = jnp.array([[0.0, 1.0, 2.0]])
    target = jnp.array([[0.2, 0.3, 0.5]])
    log_p = np.array([0.0, 1.0, 2.0]) - np.log(np.exp([0.0, 1.0, 2.0]).sum())
    want = -(np.array([0.2, 0.3, 0.5]) * log_p).sum()
    assert float(ql.categorical_cross_entropy(logits, target)[0]) == pytest.approx(want, rel=1e-6)
    # the target is a constant: no gradient flows into it
    grad = jax.grad(lambda t: ql.categorical_cross_entropy(logits, t).sum())(target)
    assert not np.any(np.asarray(grad))


def test_expected_q_is_the_mean_of_the_atoms():
    support = jnp.array([-1.0, 0.0, 1.0])
    logits = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]]) + 1e-30)  # [1, 2, 3]
    np.testing.assert_allclose(ql.expected_q(logits, support), [[-0.25, 1.0]], atol=1e-6)


def test_double_q_takes_the_online_argmax_and_the_target_evaluates_it():
    q_target = jnp.array([[1.0, 5.0, 2.0], [0.0, -1.0, 3.0]])
    q_online = jnp.array([[9.0, 0.0, 1.0], [0.0, 4.0, 1.0]])
    plain = ql.bootstrap_action(q_target)
    double = ql.bootstrap_action(q_target, q_online)
    np.testing.assert_array_equal(plain, [1, 2])
    np.testing.assert_array_equal(double, [0, 1])
    np.testing.assert_allclose(ql.take_action(q_target, double), [1.0, -1.0])
    np.testing.assert_allclose(ql.take_action(q_target, plain), [5.0, 3.0])
    # with atoms: the action picks a row of the [B, A, K] distribution
    dist = jnp.arange(2 * 3 * 4, dtype=jnp.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(ql.take_action(dist, double), [dist[0, 0], dist[1, 1]])


def test_epsilon_greedy_explores_where_the_draw_is_below_epsilon():
    q = jnp.array([[0.0, 2.0, 1.0], [3.0, 3.0, 0.0], [0.0, 0.0, 5.0]])
    uniform = jnp.array([0.05, 0.5, 0.09])
    random_action = jnp.array([2, 2, 0], jnp.int32)
    action = ql.epsilon_greedy(q, jnp.float32(0.1), uniform, random_action)
    np.testing.assert_array_equal(action, [2, 0, 0])  # random, greedy (first of a tie), random
    np.testing.assert_array_equal(ql.epsilon_greedy(q, 0.0, uniform, random_action), [1, 0, 2])


def n_step_by_hand(reward, terminated, truncated, gamma):
    """The same window, one sequence at a time, with a Python loop."""
    returns, discounts, lasts = [], [], []
    for r, term, trunc in zip(reward, terminated, truncated, strict=True):
        g, k = 0.0, 0
        while True:
            g += gamma**k * r[k]
            if term[k] or trunc[k] or k == len(r) - 1:
                break
            k += 1
        returns.append(g)
        discounts.append(0.0 if term[k] else gamma ** (k + 1))
        lasts.append(k)
    return np.array(returns), np.array(discounts), np.array(lasts)


def test_n_step_window_cuts_at_episode_ends_and_bootstraps_truncation():
    gamma = 0.9
    reward = np.array([[1.0, 2.0, 3.0]] * 5)
    terminated = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=bool
    )  # fmt: skip
    truncated = np.array(
        [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 1, 1]], dtype=bool
    )  # fmt: skip
    window = ql.n_step_window(
        jnp.float32(reward), jnp.asarray(terminated), jnp.asarray(truncated), jnp.float32(gamma)
    )
    returns, discounts, lasts = n_step_by_hand(reward, terminated, truncated, gamma)
    np.testing.assert_allclose(window.returns, returns, rtol=1e-6)
    np.testing.assert_allclose(window.discount, discounts, rtol=1e-6)
    np.testing.assert_array_equal(window.last, lasts)
    # spelled out: full window, terminated at 0, terminated at 1, truncated at 1 (bootstraps)
    np.testing.assert_allclose(window.returns, [5.23, 1.0, 2.8, 5.23, 2.8], rtol=1e-6)
    np.testing.assert_allclose(window.discount, [0.729, 0.0, 0.0, 0.0, 0.81], rtol=1e-6)


def test_one_step_window_is_the_dqn_target():
    window = ql.n_step_window(
        jnp.array([[1.0], [2.0]]), jnp.array([[True], [False]]), jnp.array([[False], [True]]), 0.5
    )
    np.testing.assert_allclose(window.returns, [1.0, 2.0])
    np.testing.assert_allclose(window.discount, [0.0, 0.5])


def test_polyak_and_hard_updates():
    online = {"w": jnp.array([1.0, 2.0]), "b": jnp.float32(4.0)}
    target = {"w": jnp.array([3.0, 6.0]), "b": jnp.float32(0.0)}
    soft = ql.polyak_update(online, target, jnp.float32(0.25))
    np.testing.assert_allclose(soft["w"], [2.5, 5.0])  # 0.25 * online + 0.75 * target
    assert float(soft["b"]) == 1.0
    assert ql.polyak_update(online, target, 1.0)["b"] == 4.0
    kept = ql.hard_update(online, target, jnp.bool_(False))
    copied = ql.hard_update(online, target, jnp.bool_(True))
    np.testing.assert_array_equal(kept["w"], target["w"])
    np.testing.assert_array_equal(copied["w"], online["w"])
