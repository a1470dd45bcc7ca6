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
    #: (matricule, OID) returned by INSi; held from RECUP on, transmitted only when QUAL
    ins: tuple[str, str] | None = None
    #: the traits were retrieved from INSi (RNIV criterion I)
    insi_retrieved: bool = False
    #: a high-trust identity document was checked (RNIV criterion C)
    document_checked: bool = False
    #: RNIV attributes: DOUT (douteuse), FICT (fictive), HOMA (homonyme avéré)
    attributes: set[str] = field(default_factory=set)
    version: int = 1
    last_updated: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


    @property
    def status(self) -> str:
        """RNIV identity status from its two criteria: PROV, RECUP, VALI or QUAL."""
        return {(False, False): "PROV", (True, False): "RECUP", (False, True): "VALI",
                (True, True): "QUAL"}[self.insi_retrieved, self.document_checked]

    @property
    def qualified(self) -> bool:
        """Only a qualified identity may carry its INS in exchanges (RNIV)."""
        return self.status == "QUAL" and self.ins is not None


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

    def all(self) -> list[Usager]:
        """Every usager, in creation order."""
        with self._lock:
            return list(self._usagers.values())
