"""rljax: JAX-accelerated, purely functional reinforcement learning."""

from rljax import spaces
from rljax.env import Environment, make, register, registered_ids

__version__ = "0.1.0"

__all__ = ["Environment", "make", "register", "registered_ids", "spaces"]
