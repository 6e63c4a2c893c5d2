"""Experiments as files: TOML <-> nested dataclasses, with errors that name the key.

A configuration is a tree of dataclasses (the object graph of what it configures); a TOML file sets
any subset of its keys, ``--set section.key=value`` and dedicated flags override them, and the
resolved tree is written back as TOML (the record of a run, re-runnable as it is).

Example:
    >>> merge({"training": {"max_epochs": 100, "patience": 5}}, parse_override("training.max_epochs=20"))
    {'training': {'max_epochs': 20, 'patience': 5}}
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names the key (and the file, if any)."""


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a syntax error names the file and the line."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None


def parse_override(text: str) -> dict[str, Any]:
    """``"a.b=value"`` -> ``{"a": {"b": value}}``; the value is read as TOML, else taken as a string.

    Example:
        >>> parse_override("training.max_epochs=20"), parse_override("data.store=features")
        ({'training': {'max_epochs': 20}}, {'data': {'store': 'features'}})
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set takes KEY=VALUE (e.g. training.max_epochs=20), got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string
    return nest(key, value)


def nest(key: str, value: Any) -> dict[str, Any]:
    """``"a.b", 1`` -> ``{"a": {"b": 1}}``."""
    *parents, last = [part.strip() for part in key.split(".")]
    tree: dict[str, Any] = {last: value}
    for part in reversed(parents):
        tree = {part: tree}
    return tree


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: later layers override earlier ones key by key (tables merge, values replace)."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = dict(value) if isinstance(value, Mapping) else value
    return out


def build(cls: type[T], layers: Iterable[Mapping[str, Any]], where: str = "") -> T:
    """An instance of dataclass ``cls`` from its defaults overridden by ``layers`` (merged in order)."""
    return from_dict(cls, merge(*layers), where)


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Dataclass ``cls`` from a (partial) nested mapping; ConfigError naming the key for anything wrong."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        section = f" of [{where.rstrip('.')}]" if where else ""
        raise ConfigError(f"unknown key {where + unknown[0]!r} (valid keys{section}: {', '.join(known)})")
    values = {name: _convert(hints[name], data[name], where + name) for name in known if name in data}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}: {error}") from None


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table ([{key}]), got {value!r}")
        return from_dict(hint, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return None
        errors = []
        for option in options:
            try:
                return _convert(option, value, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if hint is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        item = args[0] if args else Any
        items = [_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table, got {value!r}")
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(item, v, f"{key}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting type {hint!r}")  # a bug in a config class, not in the file


def to_dict(config: Any, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The dataclass tree as plain data (None values left out: TOML has no null; a missing key is the default)."""
    out: dict[str, Any] = {}
    skipped = set(skip)
    for f in dataclasses.fields(config):
        if f.name in skipped:
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        elif value is not None:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def dump_toml(config: Any, *, header: str = "", skip: Iterable[str] = ()) -> str:
    """TOML text of a dataclass tree, optionally after ``#`` comment lines."""
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + tomli_w.dumps(to_dict(config, skip=skip))


def describe(cls: type, prefix: str = "") -> list[str]:
    """Every key of a dataclass tree with its default, e.g. for ``--help`` texts."""
    lines = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            lines += describe(hint, f"{prefix}{f.name}.")
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            lines.append(f"{prefix}{f.name} = {default!r}")
    return lines
