"""ConfigBase: strict types (no silent coercion), help on fields, leaf fields, JSON round trips."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from rljax.configs import ConfigBase, field, field_help, leaf_names


@dataclasses.dataclass(frozen=True)
class Example(ConfigBase):
    name: str = field("a", "a name")
    count: int = field(4, "how many")
    rate: float = field(0.5, "a rate", leaf=True)
    flag: bool = field(False, "a switch")
    sizes: tuple[int, ...] = field((64, 64), "layer sizes")
    extra: tuple[tuple[str, Any], ...] = field((), "key-value settings")

    def validate(self) -> None:
        if self.count < 1:
            self.fail("count", "must be >= 1")


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"sizes": "64"}, "Config.sizes='64' is invalid: must be a sequence of integers"),
        ({"sizes": (64, 6.5)}, "Config.sizes=(64, 6.5) is invalid"),
        ({"count": 513.5}, "Config.count=513.5 is invalid: must be an integer"),
        ({"count": True}, "Config.count=True is invalid"),
        ({"rate": "fast"}, "Config.rate='fast' is invalid"),
        ({"rate": float("nan")}, "must be a finite number"),
        ({"flag": 1}, "Config.flag=1 is invalid"),
        ({"extra": "a=1"}, "must be a mapping"),
        ({"count": 0}, "Config.count=0 is invalid: must be >= 1"),
    ],
)
def test_wrong_types_and_values_are_refused_not_coerced(values, needle):
    with pytest.raises(ValueError) as error:
        Example(**values)
    assert needle in str(error.value)


def test_inputs_are_normalised_to_hashable_canonical_forms():
    config = Example(sizes=[32, 16], extra={"b": 2, "a": 1}, rate=1)
    assert config.sizes == (32, 16)
    assert config.extra == (("a", 1), ("b", 2))
    assert isinstance(config.rate, float) and config.rate == 1.0
    hash(config)


def test_json_round_trip_and_unknown_fields():
    config = Example(name="b", sizes=(8,), extra={"k": [1, 2]})
    data = json.loads(json.dumps(config.to_dict()))
    assert data["sizes"] == [8] and data["extra"] == {"k": [1, 2]}
    assert Example.from_dict(data).to_dict() == config.to_dict()
    with pytest.raises(ValueError, match="unknown Config field.*'nope'"):
        Example.from_dict({**data, "nope": 1})


def test_help_and_leaves_come_from_the_fields():
    assert field_help(Example)["count"] == "how many"
    assert leaf_names(Example) == ("rate",)
    assert "rate" not in Example().static_dict() and "count" in Example().static_dict()
