"""Return estimates by plain loops, for checking the learners' targets by hand."""

import numpy as np


def hand_gae(reward, value, next_value, final_value, terminated, truncated, gamma, lam):
    """GAE by a plain loop over ``[T, B]`` numpy arrays: ``(advantages, targets)``."""
    T, B = reward.shape
    advantages = np.zeros((T, B), np.float64)
    for b in range(B):
        running = 0.0
        for t in reversed(range(T)):
            if terminated[t, b]:
                after, running = 0.0, 0.0  # a true end: no future
            elif truncated[t, b]:
                after, running = final_value[t, b], 0.0  # a time limit: bootstrap, cut the chain
            else:
                after = value[t + 1, b] if t + 1 < T else next_value[b]
            delta = reward[t, b] + gamma * after - value[t, b]
            running = delta + gamma * lam * running
            advantages[t, b] = running
    return advantages, advantages + value
