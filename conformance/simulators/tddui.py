"""TDDUI receiver: the national FHIR endpoint a DUI exports to (flux 1, ``POST [base]`` of a transaction Bundle).

It answers as the IG describes: 200 with a ``transaction-response`` Bundle (one ``201 Created`` per entry) when
the Bundle is valid, otherwise an HTTP error with an OperationOutcome, and nothing is created. Every POST is
recorded in the inbox with its raw bytes, so the checks judge exactly what arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conformance.simulators import Received, Simulator, simulator
from conformance.transport.loopback import LoopbackServer
from conformance.validation.fhir import MAX_BYTES, FhirValidator, InvalidFhirJson, Issue, parse_fhir_json

FHIR_JSON = "application/fhir+json"
MAX_OUTCOME_ISSUES = 50
_validator: FhirValidator | None = None
_validator_lock = threading.Lock()


def shared_validator() -> FhirValidator:
    """One validator per process: profile data loaded and FHIRPath compiled once."""
    global _validator
    with _validator_lock:
        if _validator is None:
            _validator = FhirValidator()
        return _validator


def _fhir(resource: Mapping[str, Any], status: int) -> Response:
    body = json.dumps(resource, ensure_ascii=False).encode("utf-8")
    return Response(body, status, media_type=f"{FHIR_JSON}; charset=utf-8")


def _outcome(status: int, issues: list[tuple[str, str, str | None]]) -> Response:
    """An OperationOutcome: (code, diagnostics, location) per issue."""
    return _fhir({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": code, "diagnostics": text, **({"expression": [where]} if where else {})}
        for code, text, where in issues[:MAX_OUTCOME_ISSUES]
    ]}, status)


def _summary(bundle: Any, status: int) -> dict[str, Any]:
    """What scenarios may match on: Bundle type, resource types, the usagers' local identifiers, our answer."""
    summary: dict[str, Any] = {"status": status}
    if isinstance(bundle, Mapping):
        summary["resourceType"] = bundle.get("resourceType")
        summary["type"] = bundle.get("type")
        resources: list[Mapping[str, Any]] = [
            e["resource"] for e in bundle.get("entry") or ()
            if isinstance(e, Mapping) and isinstance(e.get("resource"), Mapping)]
        summary["resources"] = sorted({str(r.get("resourceType")) for r in resources})
        summary["local_ids"] = sorted(
            str(i.get("value")) for r in resources if r.get("resourceType") == "Patient"
            for i in r.get("identifier") or () if isinstance(i, Mapping)
            and i.get("system") == "https://identifiant-medicosocial-localusager.esante.gouv.fr")
    return summary


@simulator
class TdduiReceiver(Simulator):
    """FHIR endpoint on loopback that validates TDDUI Bundles and records them."""

    name = "tddui"

    def __init__(self) -> None:
        super().__init__()
        self._server: LoopbackServer | None = None
        self._ids = itertools.count(1)
        self.max_bytes = MAX_BYTES
        self.app = Starlette(routes=[
            Route("/fhir", self._transaction, methods=["POST"]),
            Route("/fhir/", self._transaction, methods=["POST"]),
            Route("/fhir/metadata", self._metadata, methods=["GET"]),
        ])

    async def start(self) -> None:
        """Serve on a free loopback port; the validator is shared and loaded once per process."""
        await asyncio.to_thread(shared_validator)
        self._server = LoopbackServer(self.app, port=self.port)
        await asyncio.to_thread(self._server.start)

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
            self._server = None

    def endpoints(self) -> dict[str, str]:
        """The FHIR base the DUI posts its export to."""
        return {"fhir": f"{self._server.url}/fhir"} if self._server else {}

    async def _metadata(self, request: Request) -> Response:
        return _fhir({
            "resourceType": "CapabilityStatement", "status": "active", "date": "2026-11-24", "kind": "instance",
            "fhirVersion": "4.0.1", "format": [FHIR_JSON, "json"],
            "implementation": {"description": "Récepteur TDDUI simulé (dui-conformance)"},
            "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}],
        }, 200)

    async def _transaction(self, request: Request) -> Response:
        media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        raw = await _read_capped(request, self.max_bytes)
        if raw is None:
            self._record(b"", None, 413, "corps trop volumineux", media)
            return _outcome(413, [("too-costly", f"corps au-delà de {self.max_bytes} octets", None)])
        if media not in (FHIR_JSON, "application/json"):
            self._record(raw, None, 415, f"type de contenu {media or 'absent'}", media)
            return _outcome(415, [("not-supported", f"type de contenu « {media or 'absent'} » : "
                                                    f"{FHIR_JSON} attendu", None)])
        try:
            bundle = parse_fhir_json(raw, max_bytes=self.max_bytes)
        except InvalidFhirJson as exc:
            self._record(raw, None, 400, str(exc), media)
            return _outcome(400, [("structure", f"corps illisible : {exc}", None)])
        report = await asyncio.to_thread(shared_validator().validate, bundle)
        problems = _refusals(bundle, report.errors)
        if problems:
            self._record(raw, bundle, 400, f"{len(problems)} problème(s)", media)
            return _outcome(400, problems)
        response = self._transaction_response(bundle)
        self._record(raw, bundle, 200, "accepté", media)
        return _fhir(response, 200)

    def _transaction_response(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        entries = []
        for entry in bundle.get("entry") or ():
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            kind = resource.get("resourceType") if isinstance(resource, Mapping) else "Resource"
            new_id = f"tddui-{next(self._ids)}"
            entries.append({"response": {"status": "201 Created", "location": f"{kind}/{new_id}/_history/1",
                                         "etag": 'W/"1"'}})
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}

    def _record(self, raw: bytes, bundle: Any, status: int, outcome: str, media: str) -> None:
        summary = {**_summary(bundle, status), "outcome": outcome, "content_type": media or None}
        self.inbox.put(Received(summary=summary, payload=raw, media_type=FHIR_JSON, content=bundle))


def _refusals(bundle: Any, errors: list[Issue]) -> list[tuple[str, str, str | None]]:
    """Why the receiver refuses the Bundle: not a transaction, or any error against the profiles."""
    problems: list[tuple[str, str, str | None]] = []
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        problems.append(("invalid", "un Bundle de type transaction est attendu", None))
    problems += [("invariant" if e.rule.startswith("invariant") else "processing", e.message, e.location)
                 for e in errors]
    return problems


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``limit`` (a hostile DUI cannot exhaust memory)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
