"""The reference DUI as a FastAPI app: driver interface under ``/driver/v1``, FHIR R4 under ``/fhir``.

Each theme adds its routes and faults in its own module, listed in ``THEMES``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from conformance.reference import access, base_api, cda, hostile, ins, mss, tddui
from conformance.reference.base import Reference

#: modules with ``register(app, ref)``, in route order
THEMES: tuple[ModuleType, ...] = (base_api, ins, tddui, cda, mss, access, hostile)


def create_app(faults: Iterable[str] = (), services: Mapping[str, Mapping[str, str]] | None = None) -> FastAPI:
    """A fresh reference DUI with the given faults active, calling the national services at ``services``."""
    ref = Reference(faults, services or {})
    app = FastAPI(title="DUI de référence dui-conformance", version=base_api.DRIVER_VERSION, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.reference = ref

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return ref.error(exc.status_code, "not-found" if exc.status_code == 404 else "processing", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return ref.error(400, "invalid", "requête invalide")

    for module in THEMES:
        module.register(app, ref)
    return app
