"""Training algorithms, one per module: ``from rljax.train import ppo``."""
