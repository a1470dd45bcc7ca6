"""The reference DUI's TDDUI export: one usager's record as a transaction Bundle of creates (IG TDDUI 2.x).

The Patient comes from the same FR Core rendering as the FHIR read (``fhir.patient``), completed with what
TDDUI adds: the local identifier ``3`` + FINESS + ``/`` + local id, the birth order when the INS is not sent,
and the TDDUI profiles. The record also holds the demonstration content every usager of the reference DUI
has: one stay, one visit and one AGGIR evaluation by the establishment's nurse.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from conformance.reference.fhir import LOCAL_ID_SYSTEM, patient
from conformance.reference.store import Usager

TDDUI = "https://interop.esante.gouv.fr/ig/fhir/tddui"
PROFILE = f"{TDDUI}/StructureDefinition/"
LOCAL_USAGER_SYSTEM = "https://identifiant-medicosocial-localusager.esante.gouv.fr"
STAY_SYSTEM = "https://identifiant-medicosocial-sejour.esante.gouv.fr"
EVENT_SYSTEM = "https://identifiant-medicosocial-evenement.esante.gouv.fr"
EVALUATION_SYSTEM = "https://identifiant-medicosocial-evaluation.esante.gouv.fr"
STRUCTURE_ID_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
BIRTH_ORDER = f"{PROFILE}tddui-birth-order"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
FR_CORE_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
CISIS = "https://smt.esante.gouv.fr/fhir/CodeSystem/terminologie-cisis"
#: the ESSMS the reference DUI runs in (the IG's example FINESS, tddui-organization-example)
ESSMS_FINESS = "480787529"
ESSMS_NAME = "EHPAD de référence dui-conformance"
_NAMESPACE = uuid.UUID("6f1c3b1e-3d0e-4f8e-9a57-2f0c1d7a9e42")

#: a named change of the rendering, applied when its fault is active (``name -> edit(bundle parts)``)
Edit = Callable[["ExportParts"], None]


class ExportParts:
    """The resources of one export before they are wrapped in entries, so faults can alter any of them."""

    def __init__(self, usager: Usager, *, show_ins: bool | None = None) -> None:
        self.usager = usager
        self.ins_shown = usager.ins is not None and (usager.qualified if show_ins is None else show_ins)
        self.urls = {name: f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{usager.id}/{name}')}"
                     for name in ("patient", "organization", "practitioner", "stay", "event", "evaluation")}
        local = f"3{ESSMS_FINESS}/{usager.local_id}"
        self.patient = _patient(usager, self.ins_shown, show_ins, local)
        self.organization: dict[str, Any] = {
            "resourceType": "Organization", "meta": {"profile": [f"{PROFILE}tddui-organization"]},
            "identifier": [{"use": "official",
                            "type": {"coding": [{"system": FR_CORE_V2_0203, "code": "IDNST"}]},
                            "system": STRUCTURE_ID_SYSTEM, "value": f"1{ESSMS_FINESS}"}],
            "name": ESSMS_NAME,
        }
        self.practitioner: dict[str, Any] = {
            "resourceType": "Practitioner", "meta": {"profile": [f"{PROFILE}tddui-practitioner"]},
            "identifier": [{"system": RPPS_SYSTEM, "value": "10100000003"}],
            "name": [{"family": "Martin", "given": ["Claire"], "prefix": ["MME"]}],
        }
        admission = usager.last_updated[:10]
        self.stay: dict[str, Any] = {
            "resourceType": "Encounter", "meta": {"profile": [f"{PROFILE}tddui-encounter-sejour"]},
            "identifier": [{
                "type": {"coding": [{"system": f"{TDDUI}/CodeSystem/tddui-encounter-identifier", "code": "SEJ",
                                     "display": "Identifiant du séjour"}]},
                "system": STAY_SYSTEM, "value": f"{local}-SEJOUR-1",
            }],
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
            "subject": {"reference": self.urls["patient"]},
            "period": {"start": admission},
            "serviceProvider": {"reference": self.urls["organization"]},
        }
        self.event: dict[str, Any] = {
            "resourceType": "Encounter", "meta": {"profile": [f"{PROFILE}tddui-encounter-evenement"]},
            "identifier": [{"system": EVENT_SYSTEM, "value": f"{local}-EVN-1"}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
            "subject": {"reference": self.urls["patient"]},
            "participant": [{"individual": {"reference": self.urls["practitioner"]}}],
            "period": {"start": f"{admission}T10:30:00+01:00", "end": f"{admission}T11:15:00+01:00"},
            "serviceProvider": {"reference": self.urls["organization"]},
            "partOf": {"reference": self.urls["stay"]},
        }
        self.evaluation: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse", "meta": {"profile": [f"{PROFILE}tddui-questionnaire-response"]},
            "identifier": {"system": EVALUATION_SYSTEM, "value": f"{local}-EVAL-1"},
            "questionnaire": f"{TDDUI}/Questionnaire/tddui-questionnaire-aggir-pa-ssiad",
            "status": "completed",
            "subject": {"reference": self.urls["patient"]},
            "encounter": {"reference": self.urls["event"]},
            "authored": admission,
            "author": {"reference": self.urls["practitioner"]},
            "source": {"reference": self.urls["practitioner"]},
            "item": [{"linkId": "resultat-eval", "text": "Résultat évaluation",
                      "answer": [{"valueCoding": {"system": CISIS, "code": "MED-341", "display": "GIR-3"}}]}],
        }
        self.bundle_type = "transaction"
        self.method = "POST"

    def bundle(self) -> dict[str, Any]:
        """The transaction Bundle."""
        entries = []
        for name, resource in (("patient", self.patient), ("organization", self.organization),
                               ("practitioner", self.practitioner), ("stay", self.stay), ("event", self.event),
                               ("evaluation", self.evaluation)):
            kind = resource["resourceType"]
            url = kind if self.method == "POST" else f"{kind}/{self.urls[name].rsplit(':', 1)[-1]}"
            entries.append({"fullUrl": self.urls[name], "resource": resource,
                            "request": {"method": self.method, "url": url}})
        return {"resourceType": "Bundle", "meta": {"profile": [f"{PROFILE}tddui-bundle"]},
                "type": self.bundle_type, "entry": entries}


def _patient(usager: Usager, ins_shown: bool, show_ins: bool | None, local: str) -> dict[str, Any]:
    resource = patient(usager, with_meta=False, show_ins=show_ins)
    resource.pop("id", None)
    resource["meta"] = {"profile": [f"{PROFILE}tddui-patient-ins" if ins_shown else f"{PROFILE}tddui-patient"]}
    identifiers = [i for i in resource.get("identifier", ()) if i.get("system") != LOCAL_ID_SYSTEM]
    identifiers.insert(0, {"use": "usual", "type": {"coding": [{"system": V2_0203, "code": "PI"}]},
                           "system": LOCAL_USAGER_SYSTEM, "value": local})
    resource["identifier"] = identifiers
    if not ins_shown and usager.ins is not None:
        # The NIR's order number (its 3 digits before the key) is required when the NIR is not sent.
        order = int(usager.ins[0][10:13])
        if order > 0:
            resource["_birthDate"] = {"extension": [{"url": BIRTH_ORDER, "valuePositiveInt": order}]}
    return resource


def export_bundle(usager: Usager, edits: list[Edit] | None = None, *, show_ins: bool | None = None) -> dict[str, Any]:
    """The TDDUI Bundle exporting ``usager``, with the faulty edits applied."""
    parts = ExportParts(usager, show_ins=show_ins)
    for edit in edits or ():
        edit(parts)
    return parts.bundle()
