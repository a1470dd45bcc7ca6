"""The reference DUI as a FastAPI app: driver interface under ``/driver/v1``, FHIR R4 under ``/fhir``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from conformance.reference import faults as f
from conformance.reference.faults import FAULTS
from conformance.reference.fhir import capability_statement, operation_outcome, patient
from conformance.reference.store import Store, Usager

DRIVER_VERSION = "1.0.0"
FHIR_JSON = "application/fhir+json"
_REQUIRED_TRAITS = ("birth_name", "first_given_name", "given_names", "birth_date", "sex")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Reference:
    """The reference DUI's behaviour, switched by its active faults."""

    def __init__(self, faults: Iterable[str]) -> None:
        self.faults = frozenset(faults)
        unknown = self.faults - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        self.store = Store()

    def has(self, name: str) -> bool:
        """True when the fault ``name`` is active."""
        return name in self.faults

    def fhir(self, resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None,
             charset: str = "utf-8") -> Response:
        """A FHIR JSON response."""
        media = "application/json" if self.has(f.FHIR_PLAIN_JSON) else FHIR_JSON
        body = json.dumps(resource, ensure_ascii=False).encode(charset)
        return Response(body, status, headers=headers, media_type=f"{media}; charset={charset}")

    def error(self, status: int, code: str, diagnostics: str) -> Response:
        """An error as an OperationOutcome (or, under a fault, as an HTML page)."""
        if self.has(f.ERRORS_AS_HTML):
            return HTMLResponse(f"<html><body><h1>Erreur {status}</h1><p>{diagnostics}</p></body></html>", status)
        return self.fhir(operation_outcome(code, diagnostics), status)

    def create_usager(self, body: Any) -> Response:
        """Driver operation ``create-usager``: record an usager from identity traits."""
        traits = body.get("traits") if isinstance(body, dict) else None
        if not isinstance(traits, dict):
            return self.error(400, "required", "le corps doit contenir un objet « traits »")
        missing = [t for t in _REQUIRED_TRAITS if not isinstance(traits.get(t), str) or not traits[t].strip()]
        if missing:
            return self.error(400, "required", f"traits obligatoires absents : {', '.join(missing)}")
        if not self.has(f.INVALID_BIRTH_DATE_CRASH) and not _valid_date(traits["birth_date"]):
            return self.error(400, "value", f"date de naissance invalide : {traits['birth_date']!r}")
        date.fromisoformat(traits["birth_date"])  # under the fault, an unchecked date raises here: a 500
        if traits["sex"] not in {"F", "M", "I"}:
            return self.error(400, "value", f"sexe invalide : {traits['sex']!r} (F, M ou I)")
        usager_id = self.store.next_id()
        usager = self.store.add(Usager(
            id=usager_id, birth_name=traits["birth_name"], first_given_name=traits["first_given_name"],
            given_names=traits["given_names"], birth_date=traits["birth_date"], sex=traits["sex"],
            birth_place_cog=traits.get("birth_place_cog"), used_name=traits.get("used_name"),
            used_given_name=traits.get("used_given_name"), local_id=str(body.get("local_id") or usager_id),
        ))
        resource = patient(usager)
        if self.has(f.CREATE_WITHOUT_LOCATION):
            return self.fhir(resource, 200)
        return self.fhir(resource, 201, headers={"Location": f"/fhir/Patient/{usager.id}"})

    def read_patient(self, usager_id: str) -> Response:
        """FHIR read of an usager."""
        usager = self.store.get(usager_id)
        if usager is None:
            return self.error(404, "not-found", f"Patient/{usager_id} inconnu")
        without_meta = self.has(f.PATIENT_META_MISSING)
        headers = {} if without_meta else {"ETag": f'W/"{usager.version}"'}
        charset = "iso-8859-1" if self.has(f.LATIN1_BODY) else "utf-8"
        return self.fhir(patient(usager, with_meta=not without_meta), headers=headers, charset=charset)


def _valid_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        return date.fromisoformat(value) <= date.today()
    except ValueError:
        return False


def create_app(faults: Iterable[str] = ()) -> FastAPI:
    """A fresh reference DUI with the given faults active."""
    ref = Reference(faults)
    app = FastAPI(title="DUI de référence dui-conformance", version=DRIVER_VERSION, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.reference = ref

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return ref.error(exc.status_code, "not-found" if exc.status_code == 404 else "processing", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return ref.error(400, "invalid", "requête invalide")

    if not ref.has(f.DRIVER_CAPABILITIES_MISSING):
        @app.get("/driver/v1/capabilities")
        async def capabilities() -> JSONResponse:
            return JSONResponse({"driverVersion": DRIVER_VERSION, "product": "DUI de référence",
                                 "operations": ["capabilities", "create-usager"]})

    @app.post("/driver/v1/$create-usager")
    async def create_usager(request: Request) -> Response:
        if (request.headers.get("content-type") or "").split(";")[0].strip() not in {"application/json", FHIR_JSON}:
            return ref.error(415, "not-supported", "corps JSON attendu")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return ref.error(400, "invalid", "corps JSON mal formé")
        return ref.create_usager(body)

    @app.get("/fhir/metadata")
    async def metadata() -> Response:
        return ref.fhir(capability_statement("5.0.0" if ref.has(f.CAPABILITY_STATEMENT_R5) else "4.0.1"))

    @app.get("/fhir/Patient/{usager_id}")
    async def read_patient(usager_id: str) -> Response:
        return ref.read_patient(usager_id)

    return app
