"""The one run driver: every algorithm's ``rljax train`` runs through here.

``rljax.run.train(config, run_dir="runs/x", seeds=4)`` trains ``config`` (any registered
algorithm's ``Config``) in compiled chunks with a progress bar, ``metrics.jsonl``, atomic
checkpoints, bitwise resume (``resume=True``), periodic evaluation, plots and a summary — the same
from a notebook as from ``rljax train``. Submodules: :mod:`rljax.run.algorithm` (the protocol an
algorithm module declares), :mod:`rljax.run.spec` (what ``config.json`` records),
:mod:`rljax.run.programs` (compiled init/chunk programs), :mod:`rljax.run.driver` (the loop).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy: importing rljax.run (e.g. for the protocol) must not import JAX programs or Orbax.
    if name in ("train", "resume", "load_run", "make_spec"):
        from rljax.run import driver

        return getattr(driver, name)
    if name in ("RunSpec", "RunError"):
        from rljax.run import spec

        return getattr(spec, name)
    if name in ("Algorithm",):
        from rljax.run import algorithm

        return getattr(algorithm, name)
    raise AttributeError(f"module 'rljax.run' has no attribute {name!r}")
