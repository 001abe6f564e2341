"""One registry type for models, datasets and metrics: duplicate names and unknown names fail loudly."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a public name (as written in configs and tables) to a class or function.

    Example:
        >>> REG: Registry[type] = Registry("thing")
        >>> @REG.register("dict")
        ... class D(dict): ...
        >>> REG.get("dict") is D
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

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that adds the decorated object under ``name``."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
                raise TypeError(f"{self.kind} '{name}' must subclass {self.base.__name__}")
            self._entries[name] = obj
            return obj

        return add

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
        """Names in the order they were registered (for the catalogue of metrics: the table's column order)."""
        return list(self._entries)
