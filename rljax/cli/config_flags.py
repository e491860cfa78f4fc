"""One command-line flag per ``Config`` field, with the help text kept on the field."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from rljax.cli.common import parse_float, parse_int, parse_key_value
from rljax.configs import field_help


def format_default(value: Any) -> str:
    if value == ():
        return "none"
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return " ".join(f"{k}={v}" for k, v in value) or "none"
        return " ".join(map(str, value))
    return str(value)


def add_config_flags(
    parser: argparse.ArgumentParser, config_cls: type, title: str, description: str
) -> None:
    """``--hidden-sizes 64 64``, ``--no-mirror``, ``--env-kwargs k=v``: one per field.

    Flags default to ``argparse.SUPPRESS``, so ``vars(args)`` holds only the fields given.
    """
    group = parser.add_argument_group(title, description)
    defaults = config_cls()
    hints = typing.get_type_hints(config_cls)
    helps = field_help(config_cls)
    for f in dataclasses.fields(config_cls):
        hint = hints.get(f.name, str)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        text = f"{helps[f.name]} (default: {format_default(getattr(defaults, f.name))})"
        kwargs: dict[str, Any] = {
            "dest": f.name,
            "default": argparse.SUPPRESS,
            "help": text.replace("%", "%%"),
        }
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is tuple and args and typing.get_origin(args[0]) is tuple:
            kwargs.update(nargs="*", type=parse_key_value, metavar="KEY=VALUE")
        elif origin is tuple:
            element = args[0] if args else str
            kwargs.update(nargs="+", type=parse_int if element is int else element, metavar="N")
        elif hint is int:
            kwargs.update(type=parse_int, metavar="N")
        elif hint is float:
            kwargs.update(type=parse_float, metavar="X")
        else:
            kwargs.update(type=str, metavar=f.name.split("_")[-1].upper())
        group.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def given_fields(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """The config fields given on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls) if f.name in args}
