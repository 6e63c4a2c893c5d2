"""Experiment files: TOML <-> nested dataclasses, overrides, and errors that name the key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from distser.config import ConfigError, build, dump_toml, load_toml, merge, parse_override


@dataclass
class Inner:
    epochs: int = 10
    names: list[str] = field(default_factory=list)
    rate: float = 0.5
    note: str | None = None
    table: dict[str, float] = field(default_factory=dict)


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    flag: bool = False
    sizes: tuple[int, ...] = (3, 2)

    def __post_init__(self) -> None:
        if self.inner.epochs < 1:
            raise ValueError(f"inner.epochs must be >= 1, got {self.inner.epochs}")


def test_layers_override_defaults_key_by_key():
    cfg = build(Outer, [{"inner": {"epochs": 3, "names": ["a"]}}, parse_override("inner.rate=2"),
                        parse_override("sizes=[4, 5, 6]")])
    assert cfg == Outer(inner=Inner(epochs=3, names=["a"], rate=2.0), sizes=(4, 5, 6))
    assert build(Outer, []) == Outer()


def test_round_trip_through_toml(tmp_path):
    cfg = Outer(inner=Inner(epochs=7, names=["x", "y"], note="n", table={"a": 1.5}), flag=True)
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(cfg, header="made by a test\nsecond line"))
    assert path.read_text().startswith("# made by a test\n# second line\n")
    assert build(Outer, [load_toml(path)]) == cfg


@pytest.mark.parametrize(("layer", "message"), [
    ({"inner": {"epoch": 3}},
     re.escape("unknown key 'inner.epoch' (valid keys of [inner]: epochs, names, rate, note, table)")),
    ({"flags": True}, "unknown key 'flags'"),
    ({"inner": {"epochs": "3"}}, "inner.epochs must be an integer, got '3'"),
    ({"inner": {"epochs": 2.5}}, "inner.epochs must be an integer"),
    ({"inner": {"rate": True}}, "inner.rate must be a number"),
    ({"inner": {"names": "a"}}, "inner.names must be a list"),
    ({"inner": {"names": [1]}}, r"inner.names\[0\] must be a string"),
    ({"inner": 3}, r"inner must be a table"),
    ({"flag": "yes"}, "flag must be true or false"),
    ({"inner": {"table": {"a": "x"}}}, "inner.table.a must be a number"),
    ({"inner": {"epochs": 0}}, "inner.epochs must be >= 1"),
])
def test_errors_name_the_key(layer, message):
    with pytest.raises(ConfigError, match=message):
        build(Outer, [layer])


def test_toml_syntax_error_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[inner\nepochs = 3\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_toml(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")


def test_overrides_parse_toml_values_or_take_words_as_strings():
    assert parse_override("a.b=3") == {"a": {"b": 3}}
    assert parse_override("a=true") == {"a": True}
    assert parse_override("a.b=features") == {"a": {"b": "features"}}
    assert parse_override("a.b=['x', 'y']") == {"a": {"b": ["x", "y"]}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("novalue")
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"d": 4}) == {"a": {"b": 3, "c": 2}, "d": 4}
