"""Algorithm configurations: frozen dataclasses whose fields carry their own help.

Every algorithm's ``Config`` derives from :class:`ConfigBase` and declares its fields with
:func:`field`::

    @dataclasses.dataclass(frozen=True)
    class Config(ConfigBase):
        env_id: str = field("CartPole-v1", "registered environment id")
        lr: float = field(2.5e-4, "Adam learning rate", leaf=True)

        def validate(self) -> None:          # the algorithm's own rules
            if not self.lr > 0:
                self.fail("lr", "must be > 0")

On construction a config is normalised (lists to tuples, an ``env_kwargs`` dict to sorted pairs)
and type-checked strictly before ``validate`` runs: ``num_envs=True``, ``total_timesteps=513.5``
or ``hidden_sizes="64"`` raise ``ValueError`` naming the field, the value and what is allowed,
instead of being coerced. The command line builds one flag per field from the same metadata
(:func:`field_help`), and ``leaf=True`` marks the numeric fields that are pytree leaves of the
compiled program (they may differ between vmapped runs and sweep points, and do not key the
compilation cache).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, ClassVar

HELP = "help"
LEAF = "leaf"


def field(default: Any, help: str, *, leaf: bool = False) -> Any:
    """A config field with its command-line ``help`` text; ``leaf`` marks a vmappable number."""
    return dataclasses.field(default=default, metadata={HELP: help, LEAF: leaf})


def field_help(config_cls: type) -> dict[str, str]:
    """``{field name: help text}`` of a config class (fields without help get their name)."""
    return {
        f.name: f.metadata.get(HELP, f.name.replace("_", " "))
        for f in dataclasses.fields(config_cls)
    }


def leaf_names(config_cls: type) -> tuple[str, ...]:
    """The fields declared ``leaf=True``: numbers the compiled program takes as arguments."""
    return tuple(f.name for f in dataclasses.fields(config_cls) if f.metadata.get(LEAF, False))


@functools.cache
def _hints(config_cls: type) -> dict[str, Any]:
    return typing.get_type_hints(config_cls)


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_PLURALS = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and args and typing.get_origin(args[0]) is tuple:
        return "KEY=VALUE pairs"
    if origin is tuple:
        return f"a sequence of {_PLURALS.get(args[0] if args else None, 'values')}"
    return _KINDS.get(hint, getattr(hint, "__name__", str(hint)))


def _check_scalar(value: Any, hint: Any) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        # An integer is a float here (``lr=1`` from JSON); a bool is not.
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def normalise_field(name: str, value: Any, hint: Any) -> Any:
    """``value`` in the field's canonical form, or ``ValueError`` if it has the wrong type.

    Sequences become tuples (a string is not a sequence of sizes), mappings of
    ``tuple[tuple[str, Any], ...]`` fields become sorted pairs, integral floats stay floats.
    """

    def bad(allowed: str) -> ValueError:
        return ValueError(f"Config.{name}={value!r} is invalid: must be {allowed}")

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and args and typing.get_origin(args[0]) is tuple:  # KEY=VALUE pairs
        if isinstance(value, dict):
            value = sorted(value.items())
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise bad("a mapping of names to values")
        pairs = []
        for item in value:
            if not isinstance(item, list | tuple) or len(item) != 2 or not isinstance(item[0], str):
                raise bad("a mapping of names to values")
            pairs.append((item[0], item[1]))
        return tuple(pairs)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise bad(_describe(hint))
        element = args[0] if args else Any
        for item in value:
            if not _check_scalar(item, element):
                raise bad(_describe(hint))
        return tuple(value)
    if not _check_scalar(value, hint):
        raise bad(_describe(hint))
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise bad("a finite number")
    if hint is float:
        return float(value)
    return value


T = typing.TypeVar("T")


class RolloutSizes:
    """Sizes derived from ``num_envs``, ``num_steps``, ``num_minibatches`` and
    ``total_timesteps``, for configs of rollout-then-epochs learners (PPO, MAPPO, PQN)."""

    num_envs: int
    num_steps: int
    num_minibatches: int
    total_timesteps: int

    @property
    def batch_size(self) -> int:
        """Transitions in one update's rollout, all environments together."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


class ConfigBase:
    """Shared behaviour of algorithm configs (mix into a frozen dataclass).

    Subclasses implement :meth:`validate` (raise through :meth:`fail`). ``to_dict`` and
    ``from_dict`` round-trip through JSON; ``from_dict`` rejects unknown fields.
    """

    # Fields filled in when loading a dict saved before they existed (for older run directories).
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = normalise_field(f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:
        """The algorithm's rules; raise :meth:`fail` on a bad value."""

    def fail(self, name: str, allowed: str) -> typing.NoReturn:
        """Raises ``ValueError("Config.<name>=<value> is invalid: <allowed>")``."""
        raise ValueError(f"Config.{name}={getattr(self, name)!r} is invalid: {allowed}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields: tuples as lists, key-value pairs as a dict."""
        hints = _hints(type(self))
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            hint = hints[f.name]
            args = typing.get_args(hint)
            if typing.get_origin(hint) is tuple and args and typing.get_origin(args[0]) is tuple:
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Any:
        """The config of a ``to_dict`` mapping; unknown fields raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown Config field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**{**cls.LEGACY_DEFAULTS, **values})

    def leaves_as(self, hparams_cls: type[T]) -> T:
        """This config's ``leaf=True`` fields as float32 scalars in ``hparams_cls`` (the
        algorithm's ``HParams`` pytree, whose fields are exactly those names)."""
        import jax.numpy as jnp  # configs stay importable without touching a JAX backend

        values = {name: jnp.float32(getattr(self, name)) for name in leaf_names(type(self))}
        return hparams_cls(**values)

    def static_dict(self) -> dict[str, Any]:
        """The fields that shape the compiled program (``leaf`` fields removed)."""
        leaves = set(leaf_names(type(self)))
        return {k: v for k, v in self.to_dict().items() if k not in leaves}
