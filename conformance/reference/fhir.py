"""FHIR R4 renderings of the reference DUI's records (FR Core shapes)."""

from __future__ import annotations

from typing import Any

from conformance.reference.store import Usager

FR_CORE_PATIENT = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
LOCAL_ID_SYSTEM = "https://reference.dui-conformance.invalid/identifiant-usager"
_GENDER = {"F": "female", "M": "male", "I": "other"}


FR_CORE_IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
IDENTITY_STATUS_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
OBSOLETE_RELIABILITY_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-fiabilite-identite"
IDENTITY_COMMENT_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status-comment"
BIRTH_LIST_GIVEN_NAME = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
INS_TYPES = {"1.2.250.1.213.1.4.8": "INS-NIR", "1.2.250.1.213.1.4.9": "INS-NIA",
             "1.2.250.1.213.1.4.10": "INS-NIR-TEST", "1.2.250.1.213.1.4.11": "INS-NIR-DEMO"}


def patient(usager: Usager, *, with_meta: bool = True, ins_oid: str | None = None, ins_typed: bool = True,
            status: str | None = None, status_system: str | None = None, show_ins: bool | None = None,
            with_birth_place: bool = True) -> dict[str, Any]:
    """An FR Core Patient for ``usager``; the keyword switches let faults render it wrongly."""
    resource: dict[str, Any] = {"resourceType": "Patient", "id": usager.id}
    if with_meta:
        resource["meta"] = {"versionId": str(usager.version), "lastUpdated": usager.last_updated,
                            "profile": [FR_CORE_PATIENT]}
    else:
        resource["meta"] = {"profile": [FR_CORE_PATIENT]}
    status = status or usager.status
    extensions: list[dict[str, Any]] = [{"url": IDENTITY_RELIABILITY, "extension": [
        {"url": "identityStatus", "valueCoding": {"system": status_system or IDENTITY_STATUS_SYSTEM, "code": status}},
        *({"url": "comment", "valueCoding": {"system": IDENTITY_COMMENT_SYSTEM, "code": code}}
          for code in sorted(usager.attributes)),
    ]}]
    if usager.birth_place_cog and with_birth_place:
        extensions.append({
            "url": BIRTH_PLACE,
            "valueAddress": {"extension": [{"url": INSEE_CODE, "valueCoding": {"code": usager.birth_place_cog}}]},
        })
    resource["extension"] = extensions
    identifiers: list[dict[str, Any]] = [{
        "use": "usual",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]},
        "system": LOCAL_ID_SYSTEM, "value": usager.local_id,
    }]
    if usager.ins is not None and (usager.qualified if show_ins is None else show_ins):
        matricule, oid = usager.ins
        oid = ins_oid or oid
        ins: dict[str, Any] = {"use": "official", "system": f"urn:oid:{oid}", "value": matricule}
        if ins_typed:
            ins["type"] = {"coding": [{"system": FR_CORE_IDENTIFIER_TYPE, "code": INS_TYPES[oid]}]}
        identifiers.append(ins)
    resource["identifier"] = identifiers
    names: list[dict[str, Any]] = [{
        "use": "official", "family": usager.birth_name, "given": [usager.first_given_name],
        "extension": [{"url": BIRTH_LIST_GIVEN_NAME, "valueString": usager.given_names}],
    }]
    if usager.used_name or usager.used_given_name:
        used: dict[str, Any] = {"use": "usual"}
        if usager.used_name:
            used["family"] = usager.used_name
        if usager.used_given_name:
            used["given"] = [usager.used_given_name]
        names.append(used)
    resource["name"] = names
    resource["gender"] = _GENDER.get(usager.sex, "unknown")
    resource["birthDate"] = usager.birth_date
    return resource


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue."""
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}


def capability_statement(fhir_version: str) -> dict[str, Any]:
    """What the reference DUI's FHIR server offers."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-24",
        "kind": "instance",
        "software": {"name": "DUI de référence dui-conformance"},
        "implementation": {"description": "DUI de référence (tests de conformité)"},
        "fhirVersion": fhir_version,
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "resource": [{"type": "Patient", "profile": FR_CORE_PATIENT, "interaction": [{"code": "read"}]}],
        }],
    }
