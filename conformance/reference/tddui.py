"""The reference DUI's TDDUI export (flux 1): ``$export-tddui`` posts an usager's record to the receiver."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from conformance.reference.base import Reference, json_body, outbound
from conformance.reference.faults import fault
from conformance.reference.tddui_bundle import Edit, ExportParts, export_bundle

FHIR_JSON = "application/fhir+json"
RECEIVER_TIMEOUT = 30.0
MAX_RECEIVER_ANSWER = 1024 * 1024

BUNDLE_BATCH = fault(
    "tddui-bundle-batch",
    "L'export TDDUI est envoyé en Bundle de type batch au lieu d'une transaction.",
    "DUI-FHIR-01",
)
ENTRIES_PUT = fault(
    "tddui-entries-put",
    "Les entrées de l'export TDDUI sont des mises à jour (PUT Type/id) au lieu de créations (POST).",
    "DUI-FHIR-02",
)
DANGLING_REFERENCE = fault(
    "tddui-dangling-reference",
    "Le séjour exporté désigne l'usager par un urn:uuid qui n'est celui d'aucune entrée du Bundle.",
    "DUI-FHIR-03",
)
UNKNOWN_ELEMENT = fault(
    "tddui-unknown-element",
    "Le séjour exporté porte un élément « modeAccueil » inventé, inconnu de FHIR R4 (au lieu d'une extension).",
    "DUI-FHIR-04",
)
INS_WRONG_SYSTEM = fault(
    "tddui-ins-wrong-system",
    "L'INS de test est exporté sous l'OID de production (1.2.250.1.213.1.4.8) alors qu'il est typé INS-NIR-TEST.",
    "DUI-FHIR-05",
)
INS_WITHOUT_KEY = fault(
    "tddui-ins-without-key",
    "Le matricule INS est exporté sans sa clé (13 caractères au lieu de 15).",
    "DUI-FHIR-06",
)
RELIABILITY_MISSING = fault(
    "tddui-identity-reliability-missing",
    "L'export omet l'extension de fiabilité de l'identité (statut QUAL) de l'usager transmis avec son INS.",
    "DUI-FHIR-07",
)
BIRTH_PLACE_MISSING = fault(
    "tddui-birthplace-missing",
    "L'export d'un usager avec INS omet son lieu de naissance (code INSEE).",
    "DUI-FHIR-08",
)
INS_SENT_UNQUALIFIED = fault(
    "tddui-ins-sent-unqualified",
    "L'export transmet l'INS d'une identité seulement récupérée (RECUP), non qualifiée.",
    "DUI-FHIR-09",
)
BIRTH_ORDER_MISSING = fault(
    "tddui-birth-order-missing",
    "L'export d'un usager sans INS omet le rang de naissance (extension tddui-birth-order).",
    "DUI-FHIR-10",
)
LOCAL_ID_WITHOUT_FINESS = fault(
    "tddui-local-id-without-finess",
    "L'identifiant local de l'usager est exporté sans le préfixe 3+FINESS/ de la structure.",
    "DUI-FHIR-11",
)
ORGANIZATION_WITHOUT_FINESS = fault(
    "tddui-organization-without-finess",
    "La structure exportée n'est identifiée que par son SIRET, sans identifiant national 1+FINESS.",
    "DUI-FHIR-12",
)
STAY_WITHOUT_IDENTIFIER = fault(
    "tddui-sejour-without-identifier",
    "Le séjour exporté n'a pas d'identifiant métier (type SEJ).",
    "DUI-FHIR-13",
)
EVENT_WITHOUT_END = fault(
    "tddui-evenement-without-end",
    "L'évènement exporté n'a pas de date de fin.",
    "DUI-FHIR-14",
)
EVALUATION_WITHOUT_PROFESSIONAL = fault(
    "tddui-evaluation-without-professional",
    "L'évaluation AGGIR exportée ne désigne ni évaluateur, ni auteur, ni participant professionnel.",
    "DUI-FHIR-15",
)
LOCAL_ID_CUSTOM_TYPE = fault(
    "tddui-local-id-custom-type",
    "L'identifiant local est typé par un code maison, hors du jeu de valeurs requis des types d'identifiant.",
    "DUI-FHIR-16",
)
GENDER_UNKNOWN = fault(
    "tddui-export-gender-unknown",
    "L'export transmet le sexe « unknown » alors que le DUI connaît et restitue le sexe de l'usager.",
    "DUI-FHIR-17",
)


def _edit_patient_identifier(parts: ExportParts, system: str, change: dict[str, Any]) -> None:
    for identifier in parts.patient.get("identifier", ()):
        if identifier.get("system") == system:
            identifier.update(change)


def _ins_identifier(parts: ExportParts) -> dict[str, Any] | None:
    return next((i for i in parts.patient.get("identifier", ())
                 if str(i.get("system", "")).startswith("urn:oid:1.2.250.1.213.1.4.")), None)


def _ins_wrong_system(parts: ExportParts) -> None:
    identifier = _ins_identifier(parts)
    if identifier is not None:
        identifier["system"] = "urn:oid:1.2.250.1.213.1.4.8"


def _ins_without_key(parts: ExportParts) -> None:
    identifier = _ins_identifier(parts)
    if identifier is not None:
        identifier["value"] = str(identifier["value"])[:13]


def _drop_extension(parts: ExportParts, url: str) -> None:
    parts.patient["extension"] = [e for e in parts.patient.get("extension", ()) if e.get("url") != url]
    if not parts.patient["extension"]:
        del parts.patient["extension"]


def _set(attribute: str, value: Any) -> Edit:
    def edit(parts: ExportParts) -> None:
        setattr(parts, attribute, value)
    return edit


def _local_id_without_finess(parts: ExportParts) -> None:
    _edit_patient_identifier(parts, "https://identifiant-medicosocial-localusager.esante.gouv.fr",
                             {"value": parts.usager.local_id})


def _organization_without_finess(parts: ExportParts) -> None:
    parts.organization["identifier"] = [{"system": "https://sirene.fr/siret", "value": "48078752900017"}]


def _evaluation_without_professional(parts: ExportParts) -> None:
    for key in ("author", "source"):
        parts.evaluation.pop(key, None)


EDITS: dict[str, Edit] = {
    BUNDLE_BATCH: _set("bundle_type", "batch"),
    ENTRIES_PUT: _set("method", "PUT"),
    DANGLING_REFERENCE: lambda p: p.stay.update(subject={"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}),
    UNKNOWN_ELEMENT: lambda p: p.stay.update(modeAccueil="hébergement permanent"),
    INS_WRONG_SYSTEM: _ins_wrong_system,
    INS_WITHOUT_KEY: _ins_without_key,
    RELIABILITY_MISSING: lambda p: _drop_extension(
        p, "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"),
    BIRTH_PLACE_MISSING: lambda p: _drop_extension(p, "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"),
    BIRTH_ORDER_MISSING: lambda p: p.patient.pop("_birthDate", None),
    LOCAL_ID_WITHOUT_FINESS: _local_id_without_finess,
    ORGANIZATION_WITHOUT_FINESS: _organization_without_finess,
    STAY_WITHOUT_IDENTIFIER: lambda p: p.stay.pop("identifier", None),
    EVENT_WITHOUT_END: lambda p: p.event["period"].pop("end", None),
    EVALUATION_WITHOUT_PROFESSIONAL: _evaluation_without_professional,
    LOCAL_ID_CUSTOM_TYPE: lambda p: _edit_patient_identifier(
        p, "https://identifiant-medicosocial-localusager.esante.gouv.fr",
        {"type": {"coding": [{"system": "https://dui.example/CodeSystem/types-identifiant", "code": "ID-LOCAL"}]}}),
    GENDER_UNKNOWN: lambda p: p.patient.update(gender="unknown"),
}


def register(app: FastAPI, ref: Reference) -> None:
    """Add the TDDUI export operation."""
    ref.operations.append("export-tddui")

    @app.post("/driver/v1/$export-tddui")
    async def export_tddui(request: Request) -> Response:
        body = await json_body(request, ref)
        if isinstance(body, Response):
            return body
        return await _export(ref, body)


def build(ref: Reference, usager_id: str) -> dict[str, Any] | None:
    """The Bundle the reference DUI exports for an usager, faults applied; None for an unknown usager."""
    usager = ref.store.get(usager_id)
    if usager is None:
        return None
    edits = [edit for name, edit in EDITS.items() if ref.has(name)]
    show_ins = True if ref.has(INS_SENT_UNQUALIFIED) and usager.ins is not None else None
    return export_bundle(usager, edits, show_ins=show_ins)


async def _export(ref: Reference, body: Any) -> Response:
    usager_id = body.get("usager_id") if isinstance(body, dict) else None
    if not isinstance(usager_id, str):
        return ref.error(400, "required", "le corps doit contenir « usager_id »")
    receiver = body.get("receiver_url") or ref.services.get("tddui", {}).get("fhir")
    if not isinstance(receiver, str) or not receiver.startswith(("http://", "https://")):
        return ref.error(400, "required", "adresse du récepteur TDDUI (« receiver_url ») absente ou invalide")
    bundle = build(ref, usager_id)
    if bundle is None:
        return ref.error(404, "not-found", f"Patient/{usager_id} inconnu")
    payload = json.dumps(bundle, ensure_ascii=False).encode("utf-8")
    try:
        async with outbound(RECEIVER_TIMEOUT) as client:
            answer = await client.post(receiver.rstrip("/"), content=payload,
                                       headers={"Content-Type": f"{FHIR_JSON}; charset=utf-8", "Accept": FHIR_JSON})
    except httpx.HTTPError as exc:
        return ref.error(502, "transient", f"récepteur TDDUI injoignable : {type(exc).__name__}")
    try:
        received = answer.json() if len(answer.content) <= MAX_RECEIVER_ANSWER else None
    except ValueError:
        received = None
    return JSONResponse({"receiver_status": answer.status_code, "receiver_response": received})
