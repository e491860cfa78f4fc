"""Learning parts shared by the algorithms in :mod:`rljax.train`, one concern per module.

- :mod:`~rljax.learning.distributions`: categorical, diagonal Gaussian and tanh-squashed Gaussian
  policies (noise drawn ahead for whole rollouts, sampling, log-probability, entropy, mode);
- :mod:`~rljax.learning.returns`: GAE, n-step returns and TD(lambda), each treating termination
  (no future) and truncation (bootstrap from the final observation) differently;
- :mod:`~rljax.learning.running_stats`: running mean and variance for normalisation;
- :mod:`~rljax.learning.optim`: the optimiser chain, learning-rate annealing and epochs of
  shuffled minibatches;
- :mod:`~rljax.learning.episodes`: whole evaluation episodes of a policy (single- or
  multi-agent), optionally recorded for :mod:`rljax.render`;
- :mod:`~rljax.learning.recording`: the one recorded episode ``rljax eval`` draws;
- :mod:`~rljax.learning.ppo_update`: the clipped PPO loss and its epochs, shared by the PPO
  family;
- :mod:`~rljax.learning.updates`: updates scanned into chunks and whole runs, and one update's
  metrics (every algorithm);
- :mod:`~rljax.learning.replay` and :mod:`~rljax.learning.sum_trees`: uniform and prioritised
  replay in the train state, with exact float32 sum trees;
- :mod:`~rljax.learning.q_learning`: the Q-learning parts (C51 projection, double Q, n-step
  windows); :mod:`~rljax.learning.actor_critic`: the continuous actor and critics;
- :mod:`~rljax.learning.off_policy`: the collect-add-learn skeleton SAC and TD3 share.

Modules are imported on their own (``from rljax.learning import returns``); this package imports
none of them, so using one does not load the others.
"""
