"""In-memory records of the reference DUI."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Usager:
    """A person supported by the establishment, with the identity traits entered at creation."""

    id: str
    birth_name: str
    first_given_name: str
    given_names: str
    birth_date: str
    sex: str
    birth_place_cog: str | None = None
    used_name: str | None = None
    used_given_name: str | None = None
    local_id: str = ""
    version: int = 1
    last_updated: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class Store:
    """Usagers by id; thread-safe because uvicorn may serve requests from several threads."""

    def __init__(self) -> None:
        self._usagers: dict[str, Usager] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def next_id(self) -> str:
        """A new resource id."""
        with self._lock:
            return f"usager-{next(self._ids)}"

    def add(self, usager: Usager) -> Usager:
        """Store a new usager."""
        with self._lock:
            self._usagers[usager.id] = usager
        return usager

    def get(self, usager_id: str) -> Usager | None:
        """The usager, or None."""
        return self._usagers.get(usager_id)
