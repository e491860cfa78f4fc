"""Pieces every command shares: the one-line error, argument types, the help layout."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from rljax.run.spec import RunError


class CliError(RunError):
    """A user error: printed as one ``error:`` line, exit code 2."""


def fail(prog: str, message: Any, code: int = 2) -> int:
    """Prints ``<prog>: error: <message>`` on one line to stderr; returns ``code``."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def note(prog: str, message: str) -> None:
    print(f"{prog}: note: {' '.join(message.split())}", file=sys.stderr)


def parse_int(text: str) -> int:
    """An integer; ``1e6`` and ``100_000`` are accepted too, ``513.5`` and ``abc`` are not."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if not math.isfinite(value) or not value.is_integer():
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}")
    return int(value)


def positive_int(text: str) -> int:
    value = parse_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be an integer >= 1")
    return value


def parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"invalid number: {text!r} (must be finite)")
    return value


def parse_key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with the value read as JSON (``9.81``, ``true``, ``[1, 2]``), else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        lowered = raw.lower()
        value = lowered == "true" if lowered in ("true", "false") else raw
    return key, value


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual but keeps an ``examples:`` epilog's lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one ``<prog>: error:`` line (exit 2), no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        fail(self.prog, message)
        raise SystemExit(2)


def examples(lines: tuple[str, ...]) -> str | None:
    return "examples:\n" + "".join(f"  {line}\n" for line in lines) if lines else None


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has neither)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
