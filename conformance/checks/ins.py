"""INS checks on what the DUI exposes (FR Core Patient) and on what it asked INSi.

Sources: shared/reference/ins-cda-fhir.md §1 (matricule, OIDs, statuses, traits) and §3.2 (FR Core Patient INS).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from conformance.checks import CheckContext, check
from conformance.core.findings import CheckFailed, Finding
from conformance.core.outcomes import Severity
from conformance.validation.ins import (
    INS_OIDS,
    PROVISIONAL_ONLY_ATTRIBUTES,
    matricule_problems,
    oid_problems,
)

IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
IDENTIFIER_TYPES = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
#: FR Core 2.1.0 uses v2-0445; 2.2.0 builds use identity-status (UNCERTAIN which one 2.2.0 keeps): both accepted
STATUS_SYSTEMS = frozenset({"https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445",
                            "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"})
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
BIRTH_LIST = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
_GENDER = {"F": "female", "M": "male", "I": "other"}


def _patient(ctx: CheckContext) -> dict[str, Any]:
    """The Patient in the response (a bare Patient, or the ``patient`` of a driver result)."""
    body = ctx.json()
    if isinstance(body, dict) and isinstance(body.get("patient"), dict):
        body = body["patient"]
    if not isinstance(body, dict) or body.get("resourceType") != "Patient":
        raise CheckFailed(Finding(rule="patient-absent", location="$.resourceType", expected="Patient",
                                  actual=body.get("resourceType") if isinstance(body, dict) else None,
                                  message="La réponse ne contient pas de ressource Patient"))
    return body


def _who(patient: Mapping[str, Any]) -> str:
    """The usager a finding is about, as an assessor recognises it."""
    name = next((n for n in patient.get("name", []) if isinstance(n, dict) and n.get("use") == "official"), {})
    given = " ".join(name.get("given", [])) if isinstance(name.get("given"), list) else ""
    return f"Usager {name.get('family', '?')} {given} (Patient/{patient.get('id', '?')})".replace("  ", " ")


def _ext(element: Mapping[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension", []) if isinstance(e, dict) and e.get("url") == url]


def _status(patient: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Identity status code and its system, from the identity-reliability extension."""
    for reliability in _ext(patient, IDENTITY_RELIABILITY):
        for sub in _ext(reliability, "identityStatus"):
            coding = sub.get("valueCoding") or {}
            return coding.get("code"), coding.get("system")
    return None, None


def _attributes(patient: Mapping[str, Any]) -> set[str]:
    codes = {(sub.get("valueCoding") or {}).get("code") for reliability in _ext(patient, IDENTITY_RELIABILITY)
             for sub in _ext(reliability, "comment")}
    return {c for c in codes if isinstance(c, str)}


def _ins_identifiers(patient: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Identifiers that carry an INS: by OID system or by FR Core INS type code."""
    found = []
    for index, ident in enumerate(patient.get("identifier", [])):
        if not isinstance(ident, dict):
            continue
        oid = str(ident.get("system", "")).removeprefix("urn:oid:")
        codes = {c.get("code") for c in (ident.get("type") or {}).get("coding", []) if isinstance(c, dict)}
        if oid in INS_OIDS or codes & set(INS_OIDS.values()):
            found.append((index, ident))
    return found


def _birth_place(patient: Mapping[str, Any]) -> str | None:
    for place in _ext(patient, BIRTH_PLACE):
        for code in _ext(place.get("valueAddress") or {}, INSEE_CODE):
            return (code.get("valueCoding") or {}).get("code")
    return None


@check
def identity_status_is(ctx: CheckContext, *, status: str) -> Iterator[Finding]:
    """Le statut de l'identité (extension identity-reliability) est celui qu'impose le RNIV à ce stade."""
    patient = _patient(ctx)
    actual, _ = _status(patient)
    if actual != status:
        yield Finding(rule="statut-identite", location="Patient.extension[identityReliability].identityStatus",
                      expected=status, actual=actual,
                      message=f"{_who(patient)} : statut d'identité {actual or 'absent'} au lieu de {status}")


@check
def identity_status_coded(ctx: CheckContext, *, required: bool = True) -> Iterator[Finding]:
    """Le statut est porté par l'extension FR Core identity-reliability, codé dans le système des statuts INS."""
    patient = _patient(ctx)
    code, system = _status(patient)
    where = "Patient.extension[identityReliability].identityStatus"
    if code is None:
        yield Finding(rule="statut-absent", location=where, expected="PROV, RECUP, VALI ou QUAL", actual=None,
                      severity=Severity.ERROR if required else Severity.WARNING,
                      message=f"{_who(patient)} : l'extension FR Core identity-reliability ne porte pas de statut")
    elif system not in STATUS_SYSTEMS or code not in ("PROV", "RECUP", "VALI", "QUAL"):
        yield Finding(rule="statut-code", location=f"{where}.valueCoding", expected=sorted(STATUS_SYSTEMS),
                      actual=f"{system}#{code}",
                      message=f"{_who(patient)} : statut codé {code} dans « {system} », hors du système des "
                              "statuts INS de FR Core (source non confirmée pour FR Core 2.2.0)")


@check
def ins_absent_unless_qualified(ctx: CheckContext) -> Iterator[Finding]:
    """Le matricule INS n'est exposé que pour une identité qualifiée : sinon il est absent, pas seulement signalé."""
    patient = _patient(ctx)
    status, _ = _status(patient)
    if status == "QUAL":
        return
    for index, ident in _ins_identifiers(patient):
        yield Finding(rule="ins-non-qualifie", location=f"Patient.identifier[{index}]", expected="aucun INS",
                      actual=f"{ident.get('system')} {ident.get('value')}",
                      message=f"{_who(patient)} : INS {ident.get('value')} exposé alors que l'identité est "
                              f"{status or 'sans statut'} (seule une identité QUAL transmet son INS)")


@check
def ins_identifier_valid(ctx: CheckContext, *, required: bool = True) -> Iterator[Finding]:
    """L'INS d'une identité qualifiée est présent, bien formé, avec sa clé, sous l'OID et le type FR Core attendus."""
    patient = _patient(ctx)
    found = _ins_identifiers(patient)
    if not found and required:
        yield Finding(rule="ins-absent", location="Patient.identifier", expected="identifiant INS",
                      actual=None, message=f"{_who(patient)} : aucun identifiant INS")
        return
    for index, ident in found:
        where = f"Patient.identifier[{index}]"
        value = str(ident.get("value", ""))
        system = str(ident.get("system", ""))
        for problem in matricule_problems(value):
            yield Finding(rule=f"matricule-{problem.rule}", location=f"{where}.value", expected=problem.expected,
                          actual=problem.actual, message=f"{_who(patient)} : {problem.message}")
        if not system.startswith("urn:oid:"):
            yield Finding(rule="ins-system", location=f"{where}.system", expected="urn:oid:1.2.250.1.213.1.4.x",
                          actual=system or None, message=f"{_who(patient)} : système de l'INS hors forme urn:oid:")
            continue
        actual_oid = system.removeprefix("urn:oid:")
        for problem in oid_problems(value, actual_oid):
            yield Finding(rule=problem.rule, location=f"{where}.system", expected=problem.expected,
                          actual=problem.actual, message=f"{_who(patient)} : {problem.message}")
        codings = [c for c in (ident.get("type") or {}).get("coding", []) if isinstance(c, dict)]
        expected_type = INS_OIDS.get(actual_oid)
        if not any(c.get("system") == IDENTIFIER_TYPES and c.get("code") == expected_type for c in codings):
            yield Finding(rule="ins-type", location=f"{where}.type", expected=f"{IDENTIFIER_TYPES}#{expected_type}",
                          actual=[f"{c.get('system')}#{c.get('code')}" for c in codings] or None,
                          message=f"{_who(patient)} : l'identifiant INS n'a pas le type FR Core {expected_type} "
                                  "(tranche INS de FR Core Patient)")
        if ident.get("use") != "official":
            yield Finding(rule="ins-use", location=f"{where}.use", expected="official", actual=ident.get("use"),
                          message=f"{_who(patient)} : l'identifiant INS doit avoir use = official")


@check
def ins_matches_insi(ctx: CheckContext, *, matricule: str, oid: str) -> Iterator[Finding]:
    """L'INS exposé est celui renvoyé par INSi : même matricule, même OID (un INS de test reste sous .10)."""
    patient = _patient(ctx)
    found = _ins_identifiers(patient)
    if not found:
        yield Finding(rule="ins-absent", location="Patient.identifier", expected=f"urn:oid:{oid} {matricule}",
                      actual=None, message=f"{_who(patient)} : aucun identifiant INS")
    for index, ident in found:
        system, value = str(ident.get("system", "")), ident.get("value")
        actual_oid = system.removeprefix("urn:oid:")
        if actual_oid != oid:
            yield Finding(rule="ins-oid-insi", location=f"Patient.identifier[{index}].system",
                          expected=f"urn:oid:{oid}", actual=system,
                          message=f"{_who(patient)} : INS transmis sous l'OID {actual_oid} "
                                  f"({INS_OIDS.get(actual_oid, 'inconnu')}) alors qu'INSi l'a renvoyé sous {oid} "
                                  f"({INS_OIDS.get(oid)})")
        if value != matricule:
            yield Finding(rule="ins-valeur", location=f"Patient.identifier[{index}].value", expected=matricule,
                          actual=value, message=f"{_who(patient)} : matricule INS différent de celui renvoyé par INSi")


@check
def traits_equal(ctx: CheckContext, *, traits: dict[str, str]) -> Iterator[Finding]:
    """Les traits stricts exposés sont exactement ceux attendus (renvoyés par INSi, ou saisis)."""
    patient = _patient(ctx)
    official = next((n for n in patient.get("name", []) if isinstance(n, dict) and n.get("use") == "official"), {})
    given: list[str] = official["given"] if isinstance(official.get("given"), list) else []
    birth_list = next((e.get("valueString") for e in _ext(official, BIRTH_LIST)), None)
    actual = {
        "birth_name": official.get("family"),
        "first_given_name": given[0] if given else None,
        "given_names": birth_list if birth_list is not None else " ".join(given) or None,
        "birth_date": patient.get("birthDate"),
        "sex": next((k for k, v in _GENDER.items() if v == patient.get("gender")), patient.get("gender")),
        "birth_place_cog": _birth_place(patient),
    }
    where = {"birth_name": "Patient.name[official].family", "first_given_name": "Patient.name[official].given[0]",
             "given_names": "Patient.name[official].extension[birthListGivenName]", "birth_date": "Patient.birthDate",
             "sex": "Patient.gender", "birth_place_cog": "Patient.extension[birthPlace]"}
    labels = {"birth_name": "nom de naissance", "first_given_name": "premier prénom", "given_names":
              "liste des prénoms de naissance", "birth_date": "date de naissance", "sex": "sexe",
              "birth_place_cog": "lieu de naissance (COG)"}
    for key, expected in traits.items():
        if key in actual and actual[key] != expected:
            yield Finding(rule=f"trait-{key}", location=where[key], expected=expected, actual=actual[key],
                          message=f"{_who(patient)} : {labels[key]} « {actual[key]} » au lieu de « {expected} »")


@check
def birth_place_with_ins(ctx: CheckContext, *, require_ins: bool = False) -> Iterator[Finding]:
    """Une identité qui porte un INS porte aussi son lieu de naissance (code COG)."""
    patient = _patient(ctx)
    if require_ins and not _ins_identifiers(patient):
        yield Finding(rule="ins-absent", location="Patient.identifier", expected="identifiant INS", actual=None,
                      message=f"{_who(patient)} : identité qualifiée sans INS")
    if _ins_identifiers(patient) and not _birth_place(patient):
        yield Finding(rule="lieu-naissance",
                      location="Patient.extension[birthPlace].valueAddress.extension[inseeCode]",
                      expected="code COG du lieu de naissance", actual=None,
                      message=f"{_who(patient)} : INS transmis sans lieu de naissance (code COG)")


@check
def identity_attributes_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Les attributs « douteuse » et « fictive » ne coexistent qu'avec le statut PROV."""
    patient = _patient(ctx)
    status, _ = _status(patient)
    wrong = sorted(_attributes(patient) & PROVISIONAL_ONLY_ATTRIBUTES)
    if wrong and status != "PROV":
        yield Finding(rule="attribut-statut", location="Patient.extension[identityReliability].comment",
                      expected=f"aucun attribut {'/'.join(sorted(PROVISIONAL_ONLY_ATTRIBUTES))} hors PROV",
                      actual={"statut": status, "attributs": wrong},
                      message=f"{_who(patient)} : attribut {', '.join(wrong)} sur une identité {status}")


@check
def identity_attribute_present(ctx: CheckContext, *, code: str) -> Iterator[Finding]:
    """Un attribut d'identité posé par un utilisateur (par exemple HOMA, homonyme avéré) est conservé."""
    patient = _patient(ctx)
    if code not in _attributes(patient):
        yield Finding(rule="attribut-absent", location="Patient.extension[identityReliability].comment",
                      expected=code, actual=sorted(_attributes(patient)),
                      message=f"{_who(patient)} : l'attribut {code} a disparu")


@check
def insi_query_traits(ctx: CheckContext, *, traits: dict[str, str]) -> Iterator[Finding]:
    """La requête reçue par INSi porte les traits de naissance de l'usager (et non son nom d'usage)."""
    received = ctx.received
    query = received.content.get("query", {}) if received is not None else {}
    for key in ("birth_name", "sex", "birth_date"):
        if query.get(key) != traits.get(key):
            yield Finding(rule=f"insi-{key}", location=f"requête INSi RECSANSVITALE/{key}", expected=traits.get(key),
                          actual=query.get(key),
                          message=f"Le DUI a interrogé INSi avec {key} = « {query.get(key)} » au lieu de "
                                  f"« {traits.get(key)} »")
    first = (query.get("given_names") or "").split()[:1]
    if first != [traits.get("first_given_name")]:
        yield Finding(rule="insi-prenom", location="requête INSi RECSANSVITALE/Prenom",
                      expected=traits.get("first_given_name"), actual=query.get("given_names"),
                      message="Le DUI n'a pas interrogé INSi avec le premier prénom de naissance")


@check
def insi_answer_is(ctx: CheckContext, *, cr: str) -> Iterator[Finding]:
    """La réponse INSi rapportée par le DUI est celle attendue (00, 01 ou 02)."""
    body = ctx.json()
    actual = body.get("cr") if isinstance(body, dict) else None
    if actual != cr:
        yield Finding(rule="insi-cr", location="$.cr", expected=cr, actual=actual,
                      message=f"Compte rendu INSi {actual} au lieu de {cr}")
