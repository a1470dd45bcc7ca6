"""A small named registry behind decorators, shared by checks, reporters, faults and simulators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named items; registering a name twice is an error, so a plugin cannot silently shadow a built-in."""

    __slots__ = ("_items", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T | None:
        """The item named ``name``, or None."""
        return self._items.get(name)

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        """Every (name, item), sorted by name."""
        return sorted(self._items.items())

    def remove(self, name: str) -> None:
        """Unregister ``name`` (tests and plugins that re-register)."""
        del self._items[name]
