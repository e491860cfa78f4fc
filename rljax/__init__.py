"""rljax: JAX-accelerated, purely functional reinforcement learning."""

from rljax import spaces, wrappers
from rljax.env import Environment, make, register, registered_ids
from rljax.vector import VecEnv, make_vec

__version__ = "0.1.0"

__all__ = [
    "Environment",
    "VecEnv",
    "make",
    "make_vec",
    "register",
    "registered_ids",
    "spaces",
    "wrappers",
]
