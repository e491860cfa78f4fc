"""Energy management beyond the environment: the exact optimum of a battery schedule with
perfect foresight (:mod:`rljax.energy.optimum`), the yardstick an RL agent's cost is judged by."""
