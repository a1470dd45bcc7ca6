"""FHIR R4 renderings of the reference DUI's records (FR Core shapes)."""

from __future__ import annotations

from typing import Any

from conformance.reference.store import Usager

FR_CORE_PATIENT = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
LOCAL_ID_SYSTEM = "https://reference.dui-conformance.invalid/identifiant-usager"
_GENDER = {"F": "female", "M": "male", "I": "other"}


def patient(usager: Usager, *, with_meta: bool = True) -> dict[str, Any]:
    """An FR Core Patient for ``usager``."""
    resource: dict[str, Any] = {"resourceType": "Patient", "id": usager.id}
    if with_meta:
        resource["meta"] = {"versionId": str(usager.version), "lastUpdated": usager.last_updated,
                            "profile": [FR_CORE_PATIENT]}
    else:
        resource["meta"] = {"profile": [FR_CORE_PATIENT]}
    resource["identifier"] = [{
        "use": "usual",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]},
        "system": LOCAL_ID_SYSTEM, "value": usager.local_id,
    }]
    names: list[dict[str, Any]] = [{"use": "official", "family": usager.birth_name,
                                    "given": usager.given_names.split()}]
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
    if usager.birth_place_cog:
        resource["extension"] = [{
            "url": BIRTH_PLACE,
            "valueAddress": {"extension": [{"url": INSEE_CODE, "valueCoding": {"code": usager.birth_place_cog}}]},
        }]
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
