"""Name -> implementation registries (scorers, policies, labellers, searches, converters...).

Families register themselves with a decorator; the CLI and configs select them by name.
Duplicate names are refused, unknown names produce an error listing the known ones.

Example:
    >>> AGG = Registry("aggregation")
    >>> @AGG.register("min")
    ... def agg_min(xs): return min(xs)
    >>> AGG.get("min")([3, 1, 2])
    1
    >>> "min" in AGG.names()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from prmkit.errors import PrmkitError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named dict of implementations filled by a decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise PrmkitError(f"{self.kind} '{name}' is already registered")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise PrmkitError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
