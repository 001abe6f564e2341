"""One registry type for models, datasets, metrics and samplers: duplicate and unknown names fail loudly.

It lives in its own package, importing nothing of ``datamodules``, ``lightning_modules`` or ``benchmarks``,
so the models and the data can keep their registries without knowing the harness that reads them.
Entries are added explicitly, in one list per registry (``MODELS`` in ``lightning_modules/registry.py``,
``DATAMODULES`` in ``datamodules/registry.py``, ``METRICS`` in ``benchmarks/evaluation/metrics/__init__.py``),
so one file says what exists and in which order.

A registry built with ``entry_points`` also finds what lives outside this repository, through :meth:`Registry.get`
alone (so config validation, the grid, the runner and ``aebench ls`` all see the same thing): an import path
``package.module:Class`` written in a config, or an installed package's entry point of that group
(``[project.entry-points."aebench.models"] my_vae = "my_pkg.models:MyVAE"``). Such an object is checked like
a registered one (``base``, ``check``) each time it is looked up.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.metadata
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """A name that resolves to nothing usable: unknown, not importable, or failing the registry's checks."""

    def __str__(self) -> str:  # the message itself, not KeyError's repr of it
        return str(self.args[0])


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
        aebench_registry.RegistryError: unknown thing 'dcit'; did you mean 'dict'? available: dict

    Args:
        kind: what an entry is, in messages ("model").
        base: the class every entry must subclass.
        entry_points: the entry-point group of installed packages' entries (``"aebench.models"``); it also
            enables import paths ``package.module:Class`` as names (see the module docstring).
        check: what else an entry must satisfy: ``check(obj)`` returns the problem, or None.
    """

    def __init__(
        self,
        kind: str,
        base: type | None = None,
        *,
        entry_points: str | None = None,
        check: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self.entry_points = entry_points
        self.check = check
        self._entries: dict[str, T] = {}

    def add(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name``; a taken name, a class outside ``base`` or one failing ``check`` raises."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        problem = self._problem(obj)
        if problem is not None:
            raise TypeError(f"{self.kind} '{name}' {problem}")
        self._entries[name] = obj
        return obj

    def _problem(self, obj: Any) -> str | None:
        """Why ``obj`` cannot be an entry (``base``, then ``check``), or None."""
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            return f"must subclass {self.base.__name__}, got {obj!r}"
        return None if self.check is None else self.check(obj)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add` (for a user's own entries, e.g. in a test or a plugin)."""
        return lambda obj: self.add(name, obj)

    def remove(self, name: str) -> T:
        """Take ``name`` out again (the inverse of :meth:`add`)."""
        if name not in self._entries:
            raise RegistryError(self.unknown_message(name))
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
        """The entry ``name``: registered, else (with ``entry_points``) an import path or an installed entry point.

        Raises :class:`RegistryError` naming the problem: an unknown name (with the available ones), an import
        that fails (with its ImportError), or an object that fails ``base`` or ``check``.
        """
        if name in self._entries:
            return self._entries[name]
        if self.entry_points is None:
            raise RegistryError(self.unknown_message(name))
        if ":" in name:
            obj, origin = _import_path(name), "import path"
        else:
            found = self._installed().get(name)
            if found is None:
                raise RegistryError(self.unknown_message(name))
            origin = f"entry point {found.value!r} of group {self.entry_points!r}"
            try:
                obj = found.load()
            except (ImportError, AttributeError) as err:
                raise RegistryError(
                    f"{self.kind} '{name}' ({origin}) cannot be loaded: {type(err).__name__}: {err}"
                ) from err
        problem = self._problem(obj)
        if problem is not None:
            raise RegistryError(f"{self.kind} '{name}' ({origin}) {problem}")
        return obj

    def _installed(self) -> dict[str, importlib.metadata.EntryPoint]:
        """The entry points of installed packages in this registry's group, by name (none without a group)."""
        if self.entry_points is None:
            return {}
        return {ep.name: ep for ep in importlib.metadata.entry_points(group=self.entry_points)}

    def installed(self) -> dict[str, str]:
        """Names that installed packages add through entry points, with the import path each names."""
        return {name: ep.value for name, ep in sorted(self._installed().items())}

    def unknown_message(self, name: str) -> str:
        known = [*self._entries, *(n for n in self._installed() if n not in self._entries)]
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ";"
        message = f"unknown {self.kind} '{name}'{hint} available: {', '.join(sorted(known))}"
        return message + (", or an import path 'package.module:Class'" if self.entry_points else "")

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


def _import_path(path: str) -> Any:
    """The object an import path ``package.module:Qualified.name`` names; :class:`RegistryError` if it has none."""
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise RegistryError(f"'{path}' is not an import path; write 'package.module:Class'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise RegistryError(
            f"import path '{path}': cannot import module '{module_name}' ({type(err).__name__}: {err}); it must be "
            "importable here: install its package, or put its folder on PYTHONPATH"
        ) from err
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise RegistryError(f"import path '{path}': module '{module_name}' has no attribute '{qualname}'")
        obj = getattr(obj, part)
    return obj
