"""The environment contract and the registry (``make`` / ``register`` / ``renderer_for``).

An :class:`Environment` is a static, hashable object holding only shapes and sizes; everything
numeric lives in an ``EnvParams`` pytree, so ``jax.vmap`` over params gives domain randomisation
and ``jax.jit`` can treat the environment itself as a constant.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax

from rljax import spaces

State = TypeVar("State")
Params = TypeVar("Params")

StepResult = tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]


class Environment(Generic[State, Params]):
    """Base class of every rljax environment.

    Subclasses implement ``default_params``, ``reset_env``, ``step_env``, ``observation_space`` and
    ``action_space``; callers use :meth:`reset` and :meth:`step`, which check the action against the
    action space at trace time. ``step`` is the bare transition (no auto-reset): wrap with
    :class:`rljax.wrappers.AutoReset` or use :class:`rljax.vector.VecEnv` for that.

    Class attributes:
        stochastic_step: ``True`` if ``step_env`` consumes its key. Deterministic environments set
            ``False`` so that auto-reset code can skip splitting keys on the hot path.
    """

    stochastic_step: bool = True

    # --- to implement -----------------------------------------------------------------------
    @property
    def default_params(self) -> Params:
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: Params) -> tuple[Any, State]:
        raise NotImplementedError

    def step_env(
        self, key: jax.Array, state: State, action: jax.Array, params: Params
    ) -> StepResult:
        raise NotImplementedError

    def observation_space(self, params: Params) -> spaces.Space:
        raise NotImplementedError

    def action_space(self, params: Params) -> spaces.Space:
        raise NotImplementedError

    def validate_params(self, params: Params) -> None:
        """Raises ``ValueError`` naming the field if a concrete parameter is out of its meaning."""

    def reward_shape(self, params: Params) -> tuple[int, ...]:
        """Shape of one step's reward: ``()`` for one agent, ``(N,)`` for ``N`` agents or players.

        Multi-agent environments put agents on the leading axis (``reward [N]``); two-player games
        give one reward per player (``[2]``, indexed by player id).
        """
        return ()

    # --- public API ---------------------------------------------------------------------------
    def reset(self, key: jax.Array, params: Params | None = None) -> tuple[Any, State]:
        """Starts an episode. Returns ``(obs, state)``."""
        if params is None:
            params = self.default_params
        return self.reset_env(key, params)

    def step(
        self, key: jax.Array, state: State, action: Any, params: Params | None = None
    ) -> StepResult:
        """One transition: ``(obs, state, reward, terminated, truncated, info)``.

        ``terminated`` marks a true end of the episode (do not bootstrap), ``truncated`` a time
        limit (bootstrap from the final observation). Both are boolean scalars per environment.
        """
        if params is None:
            params = self.default_params
        action = self.action_space(params).check_action(action)
        return self.step_env(key, state, action, params)

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def unwrapped(self) -> Environment:
        return self

    def __repr__(self) -> str:
        return f"{self.name}()"


def check_positive(params: Any, *fields: str, allow_zero: bool = False) -> None:
    """Raises ``ValueError`` if any named (concrete) field of ``params`` is not positive."""
    import numpy as np

    for field in fields:
        value = np.asarray(getattr(params, field))
        ok = (value >= 0) if allow_zero else (value > 0)
        if not np.all(ok):
            allowed = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"parameter {field}={value.tolist()} is invalid: must be {allowed}")


# --- registry ---------------------------------------------------------------------------------

# A factory or renderer may be given as a "package.module:Attribute" string, imported on first use
# (so that importing rljax imports no environment, and drawing one imports its renderer only then).
Entry = Callable[..., Any] | str


@dataclasses.dataclass(frozen=True)
class Registration:
    """What is registered under one environment id.

    Attributes:
        entry_point: the factory (usually the environment class), or a ``"module:Attribute"``.
        renderer: the class that draws its episodes (:mod:`rljax.render`), a ``"module:Attribute"``
            string, or ``None`` (episodes are written as a text replay).
    """

    entry_point: Entry
    renderer: Entry | None = None


_REGISTRY: dict[str, Registration] = {}


def register(
    env_id: str,
    entry_point: Entry,
    *,
    renderer: Entry | None = None,
    overwrite: bool = False,
) -> None:
    """Registers a factory (usually the environment class) under ``env_id``.

    ``entry_point`` may also be a ``"package.module:Attribute"`` string, imported on first ``make``.
    Keyword arguments of ``make`` that name a parameter of the factory (static settings such as a
    grid size) are passed to it; the rest override fields of ``env.default_params``. ``renderer``
    (a class or a lazy string) draws the environment's recorded episodes; see :mod:`rljax.render`.
    Registering the same entry again is a no-op; a different one needs ``overwrite=True``.
    """
    _load_builtin_envs()  # so that a built-in id is taken before anyone registers it
    registration = Registration(entry_point, renderer)
    if _REGISTRY.get(env_id, registration) != registration and not overwrite:
        raise ValueError(f"environment id {env_id!r} is already registered")
    _REGISTRY[env_id] = registration


def unregister(env_id: str) -> None:
    """Removes ``env_id`` from the registry (``ValueError`` if it is not registered)."""
    registration(env_id)
    del _REGISTRY[env_id]


def registered_ids() -> list[str]:
    """All registered environment ids, sorted."""
    _load_builtin_envs()
    return sorted(_REGISTRY)


def registration(env_id: str) -> Registration:
    """What is registered under ``env_id``, unresolved (lazy strings stay strings).

    Raises ``ValueError`` for an unknown id, listing the registered ones and the closest match.
    """
    _load_builtin_envs()
    if env_id not in _REGISTRY:
        close = difflib.get_close_matches(env_id, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown environment id {env_id!r}.{hint} Registered: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[env_id]


def factory(env_id: str) -> Callable[..., Environment]:
    """The factory ``make(env_id)`` calls (a lazy entry point is imported now)."""
    return resolve(registration(env_id).entry_point)


def renderer_for(env_id: str) -> type | None:
    """The renderer class registered with ``env_id`` (imported now), or ``None`` if it has none.

    Raises ``ValueError`` for an unknown id, as :func:`make` does.
    """
    renderer = registration(env_id).renderer
    return None if renderer is None else resolve(renderer)


def check_override(env_id: str, name: str, value: Any, default: Any) -> None:
    """``ValueError`` unless ``value`` has the kind of ``default`` (an integer for an integer,
    a number for a float, a bool for a bool): ``size=8.9`` or ``gravity="abc"`` are refused
    rather than truncated or traced into an error far from the cause."""
    import numpy as np

    if default is None or isinstance(default, str):
        return
    kind = np.asarray(default).dtype.kind
    if np.ndim(default) > 0:  # an array parameter (a wall map, a price curve): numbers of any kind
        if kind in "biuf" and np.asarray(value).dtype.kind not in "biuf":
            raise ValueError(f"{env_id}: {name}={value!r} is invalid: must be an array of numbers")
        return
    is_bool = isinstance(value, bool | np.bool_)
    if kind == "b":
        ok = is_bool
    elif kind in "iu":
        ok = isinstance(value, int | np.integer) and not is_bool
    elif kind == "f":
        ok = isinstance(value, int | float | np.number) and not is_bool
    else:
        return
    if not ok:
        wanted = {"b": "true or false", "i": "an integer", "u": "an integer", "f": "a number"}
        raise ValueError(f"{env_id}: {name}={value!r} is invalid: must be {wanted[kind]}")


def make(env_id: str, **overrides: Any) -> tuple[Environment, Any]:
    """Builds a registered environment: ``env, params = make("CartPole-v1", gravity=9.81)``.

    Raises ``ValueError`` for an unknown id (listing the registered ones and the closest match), for
    an override that names neither a parameter nor a setting, and for a parameter value outside its
    meaning (negative mass, zero capacity, ...).
    """
    build = factory(env_id)
    try:
        factory_args = set(inspect.signature(build).parameters)
    except (TypeError, ValueError):
        factory_args = set()
    settings = {k: v for k, v in overrides.items() if k in factory_args}
    if settings:
        signature = inspect.signature(build).parameters
        for name, value in settings.items():
            default = signature[name].default
            if default is not inspect.Parameter.empty:
                check_override(env_id, name, value, default)
    env = build(**settings)
    # Concrete params even when make() runs inside a trace (an evaluation program builds its
    # environment there): validate_params reads their values with numpy.
    with jax.ensure_compile_time_eval():
        params = env.default_params
        param_overrides = {k: v for k, v in overrides.items() if k not in factory_args}
        if param_overrides:
            fields = {f.name for f in dataclasses.fields(params)}
            unknown = sorted(set(param_overrides) - fields)
            if unknown:
                allowed = sorted(fields | factory_args)
                raise ValueError(
                    f"{env_id} has no parameter {', '.join(map(repr, unknown))}. "
                    f"Allowed: {', '.join(allowed)}"
                )
            for name, value in param_overrides.items():
                check_override(env_id, name, value, getattr(params, name))
            params = params.replace(**param_overrides)
        env.validate_params(params)
    return env, params


def resolve(entry: Entry) -> Any:
    """``entry`` itself, or the attribute a ``"package.module:Attribute"`` string names."""
    if not isinstance(entry, str):
        return entry
    import importlib

    module_name, _, attribute = entry.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _load_builtin_envs() -> None:
    # Importing the package registers the built-in environments (idempotent).
    import rljax.envs  # noqa: F401
