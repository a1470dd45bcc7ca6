"""The reference DUI's CDA documents: ``$produce-document`` renders an usager's DLU or TDDUI-CDA export."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from conformance.reference.base import Reference, json_body
from conformance.reference.cda_documents import Rendering, Version, new_version, render
from conformance.reference.faults import fault
from conformance.reference.hostile import poisoned_cda

CDA_MEDIA_TYPE = "application/hl7-cda+xml"
DOCUMENT_TYPES = ("DLU", "TDDUI-CDA")

LATIN1_DOCUMENT = fault(
    "cda-latin1-document",
    "Les documents CDA sont produits en ISO-8859-1 (déclaration XML et octets) au lieu d'UTF-8.",
    "DUI-CDA-01",
)
TELECOM_WITHOUT_SCHEME = fault(
    "cda-telecom-without-scheme",
    "Les numéros de téléphone de l'en-tête CDA sont écrits sans le préfixe « tel: ».",
    "DUI-CDA-02",
)
REALM_CODE_MISSING = fault(
    "cda-realm-code-missing",
    "L'en-tête CDA ne porte pas l'élément realmCode code=\"FR\".",
    "DUI-CDA-03", "DUI-CDA-02",
)
CI_SIS_TEMPLATE_MISSING = fault(
    "cda-ci-sis-template-missing",
    "L'en-tête CDA omet le templateId de conformité au CI-SIS (1.2.250.1.213.1.1.1.1).",
    "DUI-CDA-04", "DUI-CDA-02",
)
SET_ID_DUPLICATED = fault(
    "cda-set-id-duplicated",
    "Le setId du document CDA est écrit deux fois dans l'en-tête.",
    "DUI-CDA-05", "DUI-CDA-02",
)
EFFECTIVE_TIME_ISO = fault(
    "cda-effective-time-iso",
    "La date du document CDA est écrite au format ISO 8601 (2026-11-24T10:00:00) au lieu du format HL7.",
    "DUI-CDA-06", "DUI-CDA-02",
)
AUTHOR_STRUCTURE_OID = fault(
    "cda-author-structure-oid",
    "L'identifiant de l'auteur du document CDA est émis sous l'OID des structures (1.2.250.1.71.4.2.2) "
    "au lieu de celui des professionnels et systèmes (1.2.250.1.71.4.2.1).",
    "DUI-CDA-07",
)
CUSTODIAN_RAW_FINESS = fault(
    "cda-custodian-raw-finess",
    "La structure responsable du document CDA est identifiée par son n° FINESS nu, sans le préfixe « 1 » "
    "de l'identifiant national de structure.",
    "DUI-CDA-08",
)
LEGAL_AUTHENTICATOR_UNSIGNED = fault(
    "cda-legal-authenticator-unsigned",
    "Le responsable légal du document CDA est émis sans signatureCode.",
    "DUI-CDA-09", "DUI-CDA-02",
)
SERVICE_EVENT_WITHOUT_PERFORMER = fault(
    "cda-service-event-without-performer",
    "L'acte documenté (documentationOf/serviceEvent) du document CDA n'a pas d'exécutant.",
    "DUI-CDA-10", "DUI-CDA-02",
)
ENCOUNTER_WITHOUT_TIME = fault(
    "cda-encounter-without-time",
    "La prise en charge (encompassingEncounter) du document CDA n'est pas datée.",
    "DUI-CDA-11", "DUI-CDA-02",
)
LOCAL_ID_WITHOUT_ROOT = fault(
    "cda-local-id-without-root",
    "L'identifiant local de l'usager est émis sans OID (@root) dans le document CDA.",
    "DUI-CDA-12", "DUI-CDA-02",
)
INS_SENT_UNQUALIFIED = fault(
    "cda-ins-sent-unqualified",
    "Le document CDA porte l'INS dès qu'INSi l'a renvoyé, même quand l'identité n'est pas qualifiée.",
    "DUI-CDA-13",
)
INS_PRODUCTION_OID = fault(
    "cda-ins-production-oid",
    "Le modèle de document CDA écrit tout INS sous l'OID de production INS-NIR (1.2.250.1.213.1.4.8), même un "
    "INS de test.",
    "DUI-CDA-13",
)
BIRTH_PLACE_MISSING = fault(
    "cda-birth-place-missing",
    "Le lieu de naissance (code COG) de l'usager n'est pas écrit dans l'en-tête CDA, même avec l'INS.",
    "DUI-CDA-14", "DUI-CDA-02",
)
GIVEN_NAMES_TRUNCATED = fault(
    "cda-given-names-truncated",
    "La liste des prénoms de naissance de l'en-tête CDA ne contient que le premier prénom.",
    "DUI-CDA-15",
)
DLU_GENERIC_CODE = fault(
    "dlu-generic-code",
    "Le DLU est codé 34133-9 (synthèse d'épisode) au lieu du code LOINC 74207-2 du DLU.",
    "DUI-CDA-16",
)
DLU_BMR_SECTION_MISSING = fault(
    "dlu-bmr-section-missing",
    "Le DLU ne contient pas la section obligatoire « Résultats d'examens : bactérie multirésistante ».",
    "DUI-CDA-17",
)
TDDUI_CDA_AUTHOR_USER = fault(
    "cda-tddui-author-user",
    "L'export TDDUI-CDA a pour auteur l'utilisateur connecté (médecin coordonnateur) au lieu du logiciel DUI.",
    "DUI-CDA-18",
)
TDDUI_CDA_SECTION_MISSING = fault(
    "cda-tddui-section-missing",
    "L'export TDDUI-CDA ne contient pas la section « Évaluation du statut fonctionnel ».",
    "DUI-CDA-19",
)


def rendering(ref: Reference) -> Rendering:
    """The rendering switches the active faults set."""
    has = ref.has
    return Rendering(
        encoding="ISO-8859-1" if has(LATIN1_DOCUMENT) else "UTF-8",
        telecom_scheme=not has(TELECOM_WITHOUT_SCHEME),
        realm_code=not has(REALM_CODE_MISSING),
        ci_sis_template=not has(CI_SIS_TEMPLATE_MISSING),
        duplicate_set_id=has(SET_ID_DUPLICATED),
        iso_effective_time=has(EFFECTIVE_TIME_ISO),
        author_id_root="1.2.250.1.71.4.2.2" if has(AUTHOR_STRUCTURE_OID) else "1.2.250.1.71.4.2.1",
        custodian_raw_finess=has(CUSTODIAN_RAW_FINESS),
        legal_signature=not has(LEGAL_AUTHENTICATOR_UNSIGNED),
        service_event_performer=not has(SERVICE_EVENT_WITHOUT_PERFORMER),
        encounter_effective_time=not has(ENCOUNTER_WITHOUT_TIME),
        local_id_root=not has(LOCAL_ID_WITHOUT_ROOT),
        ins_always=has(INS_SENT_UNQUALIFIED),
        ins_oid="1.2.250.1.213.1.4.8" if has(INS_PRODUCTION_OID) else None,
        birth_place=not has(BIRTH_PLACE_MISSING),
        truncated_given_names=has(GIVEN_NAMES_TRUNCATED),
        dlu_code=("34133-9", "Synthèse d'épisode") if has(DLU_GENERIC_CODE) else ("74207-2",
                                                                                "Dossier de liaison d'urgence"),
        dlu_sections=frozenset({"bmr"}) if has(DLU_BMR_SECTION_MISSING) else frozenset(),
        tddui_author_is_user=has(TDDUI_CDA_AUTHOR_USER),
        tddui_sections=frozenset({"evaluations"}) if has(TDDUI_CDA_SECTION_MISSING) else frozenset(),
    )


def register(app: FastAPI, ref: Reference) -> None:
    """Add ``$produce-document``."""
    ref.operations.append("produce-document")
    versions: dict[tuple[str, str], Version] = {}
    lock = threading.Lock()
    how = rendering(ref)

    @app.post("/driver/v1/$produce-document")
    async def produce_document(request: Request) -> Response:
        body = await json_body(request, ref)
        if isinstance(body, Response):
            return body
        return _produce(ref, body, versions, lock, how)


def _produce(ref: Reference, body: Any, versions: dict[tuple[str, str], Version], lock: threading.Lock,
             how: Rendering) -> Response:
    usager_id = body.get("usager_id") if isinstance(body, dict) else None
    kind = body.get("type") if isinstance(body, dict) else None
    if kind not in DOCUMENT_TYPES:
        return ref.error(400, "value", f"type de document inconnu : {kind!r} (DLU ou TDDUI-CDA)")
    usager = ref.store.get(usager_id) if isinstance(usager_id, str) else None
    if usager is None:
        return ref.error(404, "not-found", f"usager inconnu : {usager_id!r}")
    with lock:
        version = new_version(usager.id, kind, versions.get((usager.id, kind)))
        versions[(usager.id, kind)] = version
    document = render(usager, kind, version, how)
    if kind == "TDDUI-CDA":
        document = poisoned_cda(ref, document)
    charset = how.encoding.lower()
    return Response(document, 200, media_type=f"{CDA_MEDIA_TYPE}; charset={charset}")
