"""The reference DUI's access data: habilitation matrix, who is asking, notes by category, and the audit trail.

The matrix is the DUI's configuration: the default one shipped in ``fixtures/habilitations.yaml`` (read here as the
reference's own settings file, not through the harness). Audit events follow the profile TDEAuditEvent of the ANS
traceability IG (``ans.fhir.fr.tde`` 2.0.0): ``period.start`` 1.., ``agent`` ..2 with ``agent.who``, ``subtype`` ..1,
``source.observer`` (shared/reference/messaging-access-referencing.md §2.3).
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from conformance.core.resources import data_path
from conformance.core.yamlsource import load_yaml

CATEGORY_SYSTEM = "https://dui-conformance.invalid/fhir/CodeSystem/categorie-donnees"
ACTIONS = ("lecture", "ecriture")
#: IdNat_PS, the national identifier of professionals (SubjectNameID), as FR Core identifies practitioners
IDNAT_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
ACCESS_MODE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R248-ModeAcces/FHIR/TRE-R248-ModeAcces"
ACCESS_MODES = {"normal": "Accès normal", "bris_de_glace": "Accès en bris de glace"}
TDE_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/tde/StructureDefinition/tde-auditevent"
AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
#: outcome codes of AuditEvent (FHIR R4): success, minor failure (refused or not found)
SUCCESS, FAILURE = "0", "4"


@dataclass(frozen=True)
class Profile:
    """A row group of the matrix and how a PSC token shows it (profession code or role code)."""

    key: str
    label: str
    profession: str | None
    role: str | None
    break_glass: bool


@dataclass
class Matrix:
    """Habilitations: profile × category × action → allowed; who may read the audit trail."""

    profiles: dict[str, Profile]
    cells: dict[tuple[str, str], dict[str, bool]]
    categories: dict[str, str]
    trace_readers: frozenset[str]
    establishments: dict[str, str]

    @classmethod
    def load(cls, data: Mapping[str, Any] | None = None) -> Matrix:
        """The matrix from a ``fixtures/habilitations.yaml``-shaped mapping (the shipped one by default)."""
        if data is None:
            doc, errors = load_yaml(data_path("fixtures", "habilitations.yaml"))
            if doc is None or errors:
                raise ValueError("; ".join(str(e) for e in errors))
            data = doc.data
        hab = data["habilitations"]
        profiles = {key: Profile(key, str(p.get("libelle", key)), _code(p.get("profession")), _code(p.get("role")),
                                 bool(p.get("bris_de_glace", False)))
                    for key, p in hab["profils"].items()}
        cells = {(row["profil"], row["categorie"]): {action: row.get(action) == "autorise" for action in ACTIONS}
                 for row in hab["matrice"]}
        categories = {key: str(c.get("libelle", key)) for key, c in hab["categories"].items()}
        establishments = {str(e["finess"]): str(e.get("raison_sociale", e["finess"]))
                          for e in (data.get("acces", {}).get("etablissements") or {}).values()}
        return cls(profiles, cells, categories, frozenset(hab.get("traces", {}).get("lecture", [])), establishments)

    def profile_of(self, claims: Mapping[str, Any]) -> Profile | None:
        """The profile of a token: the first exercice's profession, else an activity's role."""
        exercices = (claims.get("SubjectRefPro") or {}).get("exercices") or []
        professions = {str(e.get("codeProfession")) for e in exercices
                       if isinstance(e, dict) and e.get("codeProfession")}
        roles = {str(a.get("codeRole")) for e in exercices if isinstance(e, dict)
                 for a in e.get("activities") or [] if isinstance(a, dict) and a.get("codeRole")}
        for profile in self.profiles.values():
            if profile.profession and profile.profession in professions:
                return profile
        for profile in self.profiles.values():
            if profile.role and profile.role in roles:
                return profile
        return None

    def allows(self, profile: str | None, category: str, action: str) -> bool:
        """True when the matrix grants ``action`` on ``category`` to ``profile`` (missing cells deny)."""
        return profile is not None and self.cells.get((profile, category), {}).get(action, False)

    @property
    def default_establishment(self) -> str:
        """Where new usagers are admitted: the first establishment of the DUI."""
        return next(iter(self.establishments))


def _code(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@dataclass(frozen=True)
class Principal:
    """Who is asking, from a validated token (or the technical account under a fault)."""

    identifier: str
    display: str
    profile: Profile | None
    establishments: frozenset[str]
    technical: bool = False

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], matrix: Matrix) -> Principal:
        """The professional a PSC token names."""
        exercices = (claims.get("SubjectRefPro") or {}).get("exercices") or []
        sites = {str(a.get("numeroFinessSite")) for e in exercices if isinstance(e, dict)
                 for a in e.get("activities") or [] if isinstance(a, dict) and a.get("numeroFinessSite")}
        name = " ".join(str(claims.get(k, "")) for k in ("given_name", "family_name")).strip()
        return cls(str(claims.get("SubjectNameID") or ""), name or str(claims.get("SubjectNameID")),
                   matrix.profile_of(claims), frozenset(sites))

    def who(self) -> dict[str, Any]:
        """``agent.who`` of the audit events this principal causes."""
        if self.technical:
            return {"display": self.display}
        return {"identifier": {"system": IDNAT_SYSTEM, "value": self.identifier}, "display": self.display}


@dataclass
class Note:
    """A piece of an usager's record in one data category (a DocumentReference on the FHIR API)."""

    id: str
    usager_id: str
    category: str
    text: str
    author: dict[str, Any]
    date: str


def now_instant() -> str:
    """The current time as a FHIR instant with microseconds, in UTC."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def note_resource(note: Note, category_label: str) -> dict[str, Any]:
    """The note as a FHIR R4 DocumentReference: category coded, text in description and in a plain attachment."""
    return {
        "resourceType": "DocumentReference", "id": note.id,
        "meta": {"versionId": "1", "lastUpdated": note.date},
        "status": "current",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": note.category, "display": category_label}]}],
        "subject": {"reference": f"Patient/{note.usager_id}"},
        "date": note.date,
        "author": [note.author],
        "description": note.text,
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                    "data": base64.b64encode(note.text.encode("utf-8")).decode("ascii")}}],
    }


@dataclass
class AuditRecord:
    """A stored AuditEvent with what the search needs: the usager it is about and the establishment."""

    resource: dict[str, Any]
    patient: str | None
    establishment: str | None
    recorded: datetime
    period_start: datetime | None


@dataclass
class AuditTrail:
    """Append-only audit events (the API offers no update or delete); thread-safe."""

    records: list[AuditRecord] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, resource: dict[str, Any], patient: str | None, establishment: str | None) -> dict[str, Any]:
        """Store an event, giving it an id."""
        with self._lock:
            resource["id"] = f"trace-{next(self._ids)}"
            start = (resource.get("period") or {}).get("start")
            self.records.append(AuditRecord(resource, patient, establishment, parse_instant(resource["recorded"]),
                                            parse_instant(start) if start else None))
        return resource

    def get(self, event_id: str) -> AuditRecord | None:
        """The record with that id."""
        with self._lock:
            return next((r for r in self.records if r.resource.get("id") == event_id), None)

    def remove(self, event_id: str) -> None:
        """Delete an event (only a fault of the reference DUI ever calls this)."""
        with self._lock:
            self.records = [r for r in self.records if r.resource.get("id") != event_id]

    def snapshot(self) -> list[AuditRecord]:
        """The records, oldest first."""
        with self._lock:
            return list(self.records)


def audit_event(*, who: dict[str, Any], action: str, subtype: str, outcome: str, outcome_desc: str, start: str,
                end: str, entities: list[dict[str, Any]], mode: str, site: str | None,
                audit_log_used: bool = False, with_period: bool = True) -> dict[str, Any]:
    """A TDEAuditEvent for one access."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "meta": {"profile": [TDE_PROFILE]},
        "type": ({"system": DICOM, "code": "110101", "display": "Audit Log Used"} if audit_log_used
                 else {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"}),
        "subtype": [{"system": INTERACTION, "code": subtype}],
        "action": action,
        "recorded": end,
        "outcome": outcome,
        "outcomeDesc": outcome_desc,
        "purposeOfEvent": [{"coding": [{"system": ACCESS_MODE_SYSTEM, "code": mode, "display": ACCESS_MODES[mode]}]}],
        "agent": [{"who": who, "requestor": True}],
        "source": {"site": site or "", "observer": {"display": "DUI de référence dui-conformance"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                             "display": "Application Server"}]},
        "entity": entities,
    }
    if with_period:
        event["period"] = {"start": start, "end": end}
    if not site:
        del event["source"]["site"]
    return event


def patient_entity(usager_id: str) -> dict[str, Any]:
    """The usager an access is about."""
    return {"what": {"reference": f"Patient/{usager_id}"},
            "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}}


def object_entity(reference: str) -> dict[str, Any]:
    """A resource an access touched."""
    return {"what": {"reference": reference},
            "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"}}


def query_entity(query: str) -> dict[str, Any]:
    """The query of a search (base64, as IHE ATNA records it)."""
    return {"type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
            "query": base64.b64encode(query.encode("utf-8")).decode("ascii")}


# -- FHIR date search ---------------------------------------------------------------------------------------------

_DATE = re.compile(r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
                   r"(?P<value>\d{4}(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?)$")


class InvalidDate(ValueError):
    """A date search value FHIR does not allow."""


def parse_instant(value: str) -> datetime:
    """A FHIR instant or dateTime with time, as an aware datetime (UTC when no offset)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def date_range(value: str) -> tuple[str, datetime, datetime]:
    """The prefix and the [low, high] range a FHIR date search value stands for, by its precision."""
    match = _DATE.match(value)
    if not match:
        raise InvalidDate(value)
    prefix, text = match.group("prefix") or "eq", match.group("value")
    try:
        if "T" in text:
            low = parse_instant(text)
            digits = text.split("T", 1)[1]
            seconds = digits[:8].count(":") == 2
            fraction = len(re.split(r"[Z+-]", digits.split(".", 1)[1])[0]) if "." in digits else 0
            step = timedelta(microseconds=10 ** (6 - min(fraction, 6))) if fraction else (
                timedelta(seconds=1) if seconds else timedelta(minutes=1))
            return prefix, low, low + step - timedelta(microseconds=1)
        parts = [int(p) for p in text.split("-")]
        year, month, day = parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1
        low = datetime(year, month, day, tzinfo=UTC)
        if len(parts) == 3:
            high = low + timedelta(days=1)
        elif len(parts) == 2:
            high = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        else:
            high = datetime(year + 1, 1, 1, tzinfo=UTC)
        return prefix, low, high - timedelta(microseconds=1)
    except ValueError as exc:
        raise InvalidDate(value) from exc


def date_matches(moment: datetime | None, prefix: str, low: datetime, high: datetime) -> bool:
    """FHIR date comparison of an instant against a search range."""
    if moment is None:
        return False
    return {
        "eq": low <= moment <= high, "ne": not low <= moment <= high, "gt": moment > high, "lt": moment < low,
        "ge": moment >= low, "le": moment <= high, "sa": moment > high, "eb": moment < low,
        "ap": low - timedelta(days=1) <= moment <= high + timedelta(days=1),
    }[prefix]
