"""Type-checked construction of config dataclasses and keyword arguments from plain YAML data.

Every error names the key path (``models[1].beta``) and what would be valid, and is raised before
anything trains. Written by hand because the schema is small and the errors are the product; a
dependency like pydantic would add a second way of declaring what the dataclasses already say.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or impossible; the message names its key path."""


def unknown_key_message(path: str, key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{path}{'.' if path else ''}{key}: unknown key{hint}; valid keys: {', '.join(sorted(valid))}"


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if get_origin(tp) in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (recursing into lists, dicts and dataclasses)."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return coerce(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{path}: expected one of {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (item,) = get_args(tp)[:1] or (Any,)
        items = [coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if hasattr(tp, "from_config"):  # a class that parses its own open-ended keys (datasets, models)
        return tp.from_config(value, path)
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, path)
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{path}: expected null, got {value!r}")
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{path}: must be a finite number, got {value!r}")
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")


def build_dataclass(cls: type, data: Any, path: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a mapping, checking keys and types; runs its ``validate()`` if any."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ConfigError(unknown_key_message(path, str(key), list(fields)))
    kwargs = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise ConfigError(f"{sub}: required key is missing")
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate(path)
    return obj


def check_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any], path: str, *, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Check ``kwargs`` against the keyword parameters of ``fn`` (a class's ``__init__``): names and types."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    params = {n: p for n, p in sig.parameters.items() if n not in skip and n != "self" and p.kind is not p.VAR_KEYWORD}
    checked = {}
    for key, value in kwargs.items():
        if key not in params:
            raise ConfigError(unknown_key_message(path, key, list(params)))
        checked[key] = coerce(value, hints.get(key, Any), f"{path}.{key}")
    return checked


def check_required(fn: Callable[..., Any], given: Mapping[str, Any], path: str, *, skip: Sequence[str] = ()) -> None:
    """Raise if a keyword parameter of ``fn`` without a default (a dataset's ``path``) is not in ``given``."""
    for name, p in inspect.signature(fn).parameters.items():
        keyword = p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in (*skip, "self")
        if keyword and p.default is inspect.Parameter.empty and name not in given:
            raise ConfigError(f"{path}.{name}: required key is missing")


def defaults_of(fn: Callable[..., Any], *, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Keyword defaults of ``fn``, for printing a fully resolved config."""
    return {
        n: (list(p.default) if isinstance(p.default, tuple) else p.default)
        for n, p in inspect.signature(fn).parameters.items()
        if n not in skip and n != "self" and p.default is not inspect.Parameter.empty
    }
