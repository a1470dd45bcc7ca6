"""What every part of the reference DUI shares: its active faults, its records and its response helpers."""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from conformance.reference import faults as f
from conformance.reference.faults import FAULTS
from conformance.reference.fhir import OBSOLETE_RELIABILITY_SYSTEM, operation_outcome, patient
from conformance.reference.store import Store, Usager

FHIR_JSON = "application/fhir+json"


@functools.cache
def _trust_store() -> ssl.SSLContext:
    # Loading the CA bundle costs about 40 ms: once per process, not once per call to a national service.
    return httpx.create_ssl_context()


def outbound(timeout: float) -> httpx.AsyncClient:
    """A client for one call of the reference DUI to a national service (INSi, JWKS, TDDUI receiver)."""
    return httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False, verify=_trust_store())


class Reference:
    """The reference DUI's state and behaviour switches; theme modules add routes around it."""

    def __init__(self, faults: Iterable[str], services: Mapping[str, Mapping[str, str]]) -> None:
        self.faults = frozenset(faults)
        #: where the national services are (INSi, TDDUI receiver…), by service then role
        self.services = services
        unknown = self.faults - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        self.store = Store()
        #: driver operations the app implements, listed by GET /capabilities
        self.operations: list[str] = []

    def has(self, name: str) -> bool:
        """True when the fault ``name`` is active."""
        return name in self.faults

    def fhir(self, resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None,
             charset: str = "utf-8") -> Response:
        """A FHIR JSON response."""
        media = "application/json" if self.has(f.FHIR_PLAIN_JSON) else FHIR_JSON
        body = json.dumps(resource, ensure_ascii=False).encode(charset)
        return Response(body, status, headers=headers, media_type=f"{media}; charset={charset}")

    def patient(self, usager: Usager, *, with_meta: bool = True) -> dict[str, Any]:
        """The usager as an FR Core Patient, rendered as the active faults make it."""
        return patient(
            usager, with_meta=with_meta,
            ins_oid="1.2.250.1.213.1.4.8" if self.has(f.TEST_INS_UNDER_PRODUCTION_OID) else None,
            ins_typed=not self.has(f.INS_SLICE_WITHOUT_TYPE),
            status="PROV" if self.has(f.RECUP_STATUS_NOT_SHOWN) and usager.status == "RECUP" else None,
            status_system=OBSOLETE_RELIABILITY_SYSTEM if self.has(f.IDENTITY_STATUS_OBSOLETE_CODESYSTEM) else None,
            show_ins=True if self.has(f.INS_EXPOSED_WHILE_RECUP) else None,
            with_birth_place=not (self.has(f.BIRTH_PLACE_DROPPED_WITH_INS) and usager.qualified),
        )

    def error(self, status: int, code: str, diagnostics: str) -> Response:
        """An error as an OperationOutcome (or, under a fault, as an HTML page)."""
        if self.has(f.ERRORS_AS_HTML):
            return HTMLResponse(f"<html><body><h1>Erreur {status}</h1><p>{diagnostics}</p></body></html>", status)
        return self.fhir(operation_outcome(code, diagnostics), status)


UsagerHandler = Callable[[dict[str, Any], Usager], Awaitable[Response]]


def usager_operation(app: FastAPI, ref: Reference, path: str) -> Callable[[UsagerHandler], UsagerHandler]:
    """Register a driver operation whose JSON body names an usager (``usager_id``); 404 when unknown."""

    def decorate(handler: UsagerHandler) -> UsagerHandler:
        @app.post(path)
        async def route(request: Request) -> Response:
            body = await json_body(request, ref)
            if isinstance(body, Response):
                return body
            usager_id = body.get("usager_id") if isinstance(body, dict) else None
            usager = ref.store.get(usager_id) if isinstance(usager_id, str) else None
            if usager is None:
                return ref.error(404, "not-found", f"usager inconnu : {usager_id!r}")
            return await handler(body, usager)

        return handler

    return decorate


async def json_body(request: Any, ref: Reference) -> Any | Response:
    """The request's JSON body, or the error response to send (415 not JSON, 400 malformed)."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip()
    if media not in {"application/json", FHIR_JSON}:
        return ref.error(415, "not-supported", "corps JSON attendu")
    try:
        return json.loads(await request.body())
    except ValueError:
        return ref.error(400, "invalid", "corps JSON mal formé")
