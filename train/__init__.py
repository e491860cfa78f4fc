"""Training algorithms, one per module, and their registry (lazy, like the environments').

``from rljax.train import ppo`` imports one algorithm; ``rljax.train.get("ppo")`` returns its
:class:`rljax.run.algorithm.Algorithm` declaration, importing the module on first use. Adding an
algorithm is one module here (ending in ``ALGORITHM = Algorithm(...)``), one line below and its
tests.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

_MODULES: dict[str, str] = {
    "ppo": "rljax.train.ppo",
    "mappo": "rljax.train.mappo",
    "alphazero": "rljax.train.alphazero",
    "pqn": "rljax.train.pqn",
    "dqn": "rljax.train.dqn",
    "sac": "rljax.train.sac",
    "td3": "rljax.train.td3",
    "ppo_lagrangian": "rljax.train.ppo_lagrangian",
}


def register(name: str, module: str) -> None:
    """Registers the module path whose ``ALGORITHM`` is algorithm ``name``."""
    if name in _MODULES and _MODULES[name] != module:
        raise ValueError(f"algorithm {name!r} is already registered as {_MODULES[name]}")
    _MODULES[name] = module


def names() -> list[str]:
    """The registered algorithm names, in registration order."""
    return list(_MODULES)


def get(name: str) -> Any:
    """The :class:`~rljax.run.algorithm.Algorithm` registered as ``name``."""
    if name not in _MODULES:
        close = difflib.get_close_matches(name, _MODULES, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown algorithm {name!r}: registered {', '.join(_MODULES)}{hint}")
    return importlib.import_module(_MODULES[name]).ALGORITHM


def of_config(config: Any) -> Any:
    """The algorithm whose ``Config`` class ``config`` is an instance of."""
    module = type(config).__module__
    for name, path in _MODULES.items():
        if module == path or module.startswith(path + "."):  # a package's config module
            algorithm = get(name)
            if isinstance(config, algorithm.config_cls):
                return algorithm
    raise TypeError(f"{type(config).__name__} from {module} is not the Config of an algorithm")
