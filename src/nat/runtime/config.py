"""Dataclass configs filled from defaults, a named preset, a YAML file and command-line options.

Later sources win: defaults < preset < ``--config FILE`` < options given on the command line.
Unknown keys are errors (a typo in a config file must not be silently ignored), and values are
checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from ..errors import NatError
from .atomic import write_text_atomic
from .files import read_text_capped

__all__ = ["load_config", "config_to_dict", "write_yaml"]

C = TypeVar("C")


def _coerce(cls: type, name: str, value: Any, where: str) -> Any:
    hint = typing.get_type_hints(cls)[name]
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    if value is None and type(None) in allowed:
        return None
    for t in allowed:
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is float and isinstance(value, str):  # YAML 1.1 reads `1e-3` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if t is bool and isinstance(value, bool):
            return value
        if t is str and isinstance(value, str):
            return value
        if typing.get_origin(t) is tuple and isinstance(value, (list, tuple)):
            return tuple(value)
    raise NatError(f"{where}: '{name}' must be {' or '.join(getattr(t, '__name__', str(t)) for t in allowed)}, "
                   f"got {value!r}")


def _apply(cls: type, values: dict, changes: Mapping[str, Any], where: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in changes.items():
        key = key.replace("-", "_")
        if key not in names:
            raise NatError(f"{where}: unknown setting '{key}' (known: {', '.join(sorted(names))})")
        values[key] = _coerce(cls, key, value, where)


#: a config is a few dozen settings: a megabyte is generous, and parsing it takes a moment, not minutes
MAX_CONFIG_BYTES = 2**20


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The settings in a YAML config file: a mapping, from a regular UTF-8 file of at most
    :data:`MAX_CONFIG_BYTES`; anything else is refused in one line."""
    path = Path(path)
    text = read_text_capped(path, MAX_CONFIG_BYTES, "config file")
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise NatError(f"{path}: malformed YAML ({str(err).splitlines()[0]})") from None
    except RecursionError:
        raise NatError(f"{path}: malformed YAML (nested too deeply)") from None
    if not isinstance(loaded, dict):
        raise NatError(f"{path}: a config file must be a mapping of setting: value")
    return loaded


def load_config(cls: type[C], *, presets: Mapping[str, Mapping[str, Any]], preset: str | None = None,
                config_file: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> C:
    """Build ``cls`` from its defaults, then ``preset``, then ``config_file``, then ``overrides``
    (entries whose value is ``None`` mean "not given" and are skipped)."""
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in presets:
            raise NatError(f"unknown preset '{preset}' (known: {', '.join(presets)})")
        _apply(cls, values, presets[preset], f"preset {preset}")
    if config_file is not None:
        path = Path(config_file)
        _apply(cls, values, read_config_file(path), str(path))
    _apply(cls, values, {k: v for k, v in (overrides or {}).items() if v is not None}, "command line")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise NatError(f"invalid config: {err}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def write_yaml(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    write_text_atomic(path, yaml.safe_dump(dict(data), sort_keys=False))
