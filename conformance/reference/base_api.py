"""The reference DUI's foundation: driver description, usager creation, FHIR metadata and Patient read."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from conformance.reference import faults as f
from conformance.reference import identity
from conformance.reference.base import Reference, json_body
from conformance.reference.fhir import capability_statement
from conformance.reference.store import Usager

DRIVER_VERSION = "1.0.0"
_REQUIRED_TRAITS = ("birth_name", "first_given_name", "given_names", "birth_date", "sex")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def register(app: FastAPI, ref: Reference) -> None:
    """Add the foundation routes."""
    ref.operations += ["capabilities", "create-usager"]

    if not ref.has(f.DRIVER_CAPABILITIES_MISSING):
        @app.get("/driver/v1/capabilities")
        async def capabilities() -> JSONResponse:
            return JSONResponse({"driverVersion": DRIVER_VERSION, "product": "DUI de référence",
                                 "operations": ref.operations})

    @app.post("/driver/v1/$create-usager")
    async def create_usager(request: Request) -> Response:
        body = await json_body(request, ref)
        return body if isinstance(body, Response) else _create_usager(ref, body)

    @app.get("/fhir/metadata")
    async def metadata() -> Response:
        return ref.fhir(capability_statement("5.0.0" if ref.has(f.CAPABILITY_STATEMENT_R5) else "4.0.1"))

    @app.get("/fhir/Patient/{usager_id}")
    async def read_patient(usager_id: str) -> Response:
        return _read_patient(ref, usager_id)


def _create_usager(ref: Reference, body: Any) -> Response:
    traits = body.get("traits") if isinstance(body, dict) else None
    if not isinstance(traits, dict):
        return ref.error(400, "required", "le corps doit contenir un objet « traits »")
    missing = [t for t in _REQUIRED_TRAITS if not isinstance(traits.get(t), str) or not traits[t].strip()]
    if missing:
        return ref.error(400, "required", f"traits obligatoires absents : {', '.join(missing)}")
    if not ref.has(f.INVALID_BIRTH_DATE_CRASH) and not _valid_date(traits["birth_date"]):
        return ref.error(400, "value", f"date de naissance invalide : {traits['birth_date']!r}")
    date.fromisoformat(traits["birth_date"])  # under the fault, an unchecked date raises here: a 500
    if traits["sex"] not in {"F", "M", "I"}:
        return ref.error(400, "value", f"sexe invalide : {traits['sex']!r} (F, M ou I)")
    problem = identity.traits_error(ref, traits)
    ins = body.get("ins")
    if problem is None and ins is not None:
        problem = identity.matricule_error(ref, (ins or {}).get("matricule"), (ins or {}).get("oid"))
    attributes = set(body.get("attributes") or ())
    if problem is None and not attributes <= identity.ATTRIBUTES:
        problem = f"attributs inconnus : {sorted(attributes - identity.ATTRIBUTES)}"
    if problem:
        return ref.error(400, "value", problem)
    usager_id = ref.store.next_id()
    usager = ref.store.add(Usager(
        id=usager_id, birth_name=identity.stored(ref, traits["birth_name"]),
        first_given_name=identity.stored(ref, traits["first_given_name"]),
        given_names=identity.stored(ref, traits["given_names"]), birth_date=traits["birth_date"], sex=traits["sex"],
        birth_place_cog=traits.get("birth_place_cog"), used_name=traits.get("used_name"),
        used_given_name=traits.get("used_given_name"), local_id=str(body.get("local_id") or usager_id),
        # A typed matricule is kept but does not make the identity RECUP: only an INSi answer does (RNIV).
        ins=(ins["matricule"], ins["oid"]) if ins else None, attributes=attributes,
        document_checked=ref.has(f.NEW_IDENTITY_VALIDATED),
    ))
    resource = ref.patient(usager)
    if ref.has(f.CREATE_WITHOUT_LOCATION):
        return ref.fhir(resource, 200)
    return ref.fhir(resource, 201, headers={"Location": f"/fhir/Patient/{usager.id}"})


def _read_patient(ref: Reference, usager_id: str) -> Response:
    usager = ref.store.get(usager_id)
    if usager is None:
        return ref.error(404, "not-found", f"Patient/{usager_id} inconnu")
    without_meta = ref.has(f.PATIENT_META_MISSING)
    headers = {} if without_meta else {"ETag": f'W/"{usager.version}"'}
    charset = "iso-8859-1" if ref.has(f.LATIN1_BODY) else "utf-8"
    return ref.fhir(ref.patient(usager, with_meta=not without_meta), headers=headers, charset=charset)


def _valid_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        return date.fromisoformat(value) <= date.today()
    except ValueError:
        return False
