"""The reference DUI's identity rules (its own code, independent of the harness's checks, as a vendor's would be)."""

from __future__ import annotations

import re
from typing import Any

from conformance.reference import faults as f
from conformance.reference.base import Reference

_MATRICULE = re.compile(r"^[12378]\d{4}(\d{2}|2A|2B)\d{6}\d{2}$")
_NAME = re.compile(r"^[A-Z]+(?:[ '\-][A-Z]+)*$")
INS_OIDS = frozenset({"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"})
ATTRIBUTES = frozenset({"DOUT", "FICT", "HOMA"})


def matricule_error(ref: Reference, matricule: Any, oid: Any, *, on_import: bool = False) -> str | None:
    """Why a typed or imported INS is refused, or None."""
    if not isinstance(matricule, str) or not _MATRICULE.match(matricule):
        return f"matricule INS mal formé : {matricule!r}"
    if oid not in INS_OIDS:
        return f"OID INS inconnu : {oid!r}"
    skip = f.IMPORT_KEY_NOT_CHECKED if on_import else f.INS_KEY_NOT_CHECKED
    if ref.has(skip):
        return None
    body = matricule[:13]
    if ref.has(f.CORSICA_MATRICULE_REJECTED):
        if not body.isdigit():
            return f"matricule INS non numérique : {matricule}"
    else:
        body = body[:5] + {"2A": "19", "2B": "18"}.get(body[5:7], body[5:7]) + body[7:]
    if 97 - int(body) % 97 != int(matricule[13:]):
        return f"clé du matricule INS fausse : {matricule}"
    return None


def traits_error(ref: Reference, traits: dict[str, Any]) -> str | None:
    """Why typed name traits are refused (INS character set), or None."""
    if ref.has(f.TRAIT_CHARACTERS_NOT_CHECKED):
        return None
    for key in ("birth_name", "first_given_name"):
        if not _NAME.match(traits[key]):
            return f"caractères non admis dans {key} : {traits[key]!r} (majuscules, espace, tiret, apostrophe)"
    if not all(_NAME.match(part) for part in traits["given_names"].split(" ")):
        return f"caractères non admis dans given_names : {traits['given_names']!r}"
    return None


def stored(ref: Reference, value: str) -> str:
    """A name as the DUI stores it."""
    return value.replace("'", "") if ref.has(f.APOSTROPHE_STRIPPED) else value
