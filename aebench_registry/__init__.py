"""One registry type for models, datasets, metrics and samplers: duplicate and unknown names fail loudly.

It lives in its own package, importing nothing of ``datamodules``, ``lightning_modules`` or ``benchmarks``,
so the models and the data can keep their registries without knowing the harness that reads them.
Entries are added explicitly, in one list per registry (``MODELS`` in ``lightning_modules/registry.py``,
``DATAMODULES`` in ``datamodules/registry.py``, ``METRICS`` in ``benchmarks/evaluation/metrics/__init__.py``),
so one file says what exists and in which order.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a public name (as written in configs and tables) to a class or function, in insertion order.

    Example:
        >>> REG: Registry[type] = Registry("thing")
        >>> class D(dict): ...
        >>> REG.add("dict", D) is D
        True
        >>> REG.get("dcit")
        Traceback (most recent call last):
        ...
        KeyError: "unknown thing 'dcit'; did you mean 'dict'? available: dict"
    """

    def __init__(self, kind: str, base: type | None = None) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, T] = {}

    def add(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name``; a taken name or (with ``base``) a class outside ``base`` raises."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise TypeError(f"{self.kind} '{name}' must subclass {self.base.__name__}")
        self._entries[name] = obj
        return obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add` (for a user's own entries, e.g. in a test or a plugin)."""
        return lambda obj: self.add(name, obj)

    def remove(self, name: str) -> T:
        """Take ``name`` out again (the inverse of :meth:`add`)."""
        if name not in self._entries:
            raise KeyError(self.unknown_message(name))
        return self._entries.pop(name)

    @contextlib.contextmanager
    def added(self, name: str, obj: T) -> Iterator[T]:
        """``obj`` registered under ``name`` for the duration of a ``with`` block."""
        self.add(name, obj)
        try:
            yield obj
        finally:
            self._entries.pop(name, None)

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise KeyError(self.unknown_message(name))
        return self._entries[name]

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), self._entries, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ";"
        return f"unknown {self.kind} '{name}'{hint} available: {', '.join(sorted(self._entries))}"

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def in_order(self) -> list[str]:
        """Names in the order they were added (metrics: the order of the table's columns)."""
        return list(self._entries)

    def values(self) -> list[T]:
        """Entries in the order they were added."""
        return list(self._entries.values())
