"""The vendor client: every request the harness makes to a DUI goes through here, bounded in size and time."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from conformance.core.exchange import Exchange, Request, Response

USER_AGENT = "dui-conformance"


@dataclass(frozen=True)
class TargetSettings:
    """Where and how to reach the DUI; built from the CLI options and ``vendor.toml``."""

    base_url: str
    fhir_base: str = "/fhir"
    driver_base: str = "/driver/v1"
    verify: bool | str = True
    client_cert: tuple[str, str] | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    #: wall-clock cap on one exchange, body included: a trickling server cannot hold the run
    total_timeout: float = 60.0
    max_body_bytes: int = 20 * 1024 * 1024
    headers: Mapping[str, str] = field(default_factory=dict)
    #: values to scrub from evidence (tokens, passwords)
    secrets: tuple[str, ...] = ()


class VendorClient:
    """Sends requests to the target and records each as an Exchange; transport failures become ``error``."""

    def __init__(self, settings: TargetSettings, app: Any = None) -> None:
        self.settings = settings
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        transport: httpx.AsyncBaseTransport | None = None
        if app is not None:
            # An exception inside the in-process app must come back as the 500 a real server would send.
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        verify: bool | ssl.SSLContext = settings.verify if isinstance(settings.verify, bool) else _ssl_context(settings)
        if isinstance(settings.verify, bool) and settings.client_cert:
            verify = _ssl_context(settings)
        self._client = httpx.AsyncClient(
            base_url=settings.base_url, transport=transport, timeout=timeout, verify=verify,
            follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT, **settings.headers},
        )
        self._origin = _origin(settings.base_url)

    async def aclose(self) -> None:
        """Close connections."""
        await self._client.aclose()

    def url(self, base: str, path: str) -> str:
        """Absolute URL for ``path`` under one of the target's bases (``root``, ``fhir``, ``driver``)."""
        prefix = {"root": "", "fhir": self.settings.fhir_base, "driver": self.settings.driver_base}[base]
        if urlsplit(path).scheme:
            return path
        root = self.settings.base_url.rstrip("/") + "/" + prefix.strip("/")
        return urljoin(root.rstrip("/") + "/", path.lstrip("/"))

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
    ) -> Exchange:
        """Send one request; never raises for what the target does."""
        headers = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        request = self._client.build_request(method, url, headers=headers, params=params, content=content)
        recorded = Request(method, str(request.url), list(request.headers.items()), content or b"")
        started = time.perf_counter()
        if _origin(str(request.url)) != self._origin:
            # Credentials are configured for the target only; another host never sees them.
            return Exchange(recorded, None, 0.0, error=f"URL hors de la cible refusée : {request.url}")
        try:
            response = await asyncio.wait_for(self._exchange(request), self.settings.total_timeout)
        except TimeoutError:
            error = f"délai total de {self.settings.total_timeout:g} s dépassé"
            return Exchange(recorded, None, _ms(started), error=error)
        except httpx.HTTPError as exc:
            return Exchange(recorded, None, _ms(started), error=_describe(exc))
        except (OSError, ssl.SSLError) as exc:
            return Exchange(recorded, None, _ms(started), error=f"erreur réseau : {exc}")
        return Exchange(recorded, response, _ms(started))

    async def _exchange(self, request: httpx.Request) -> Response:
        response = await self._client.send(request, stream=True)
        try:
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.settings.max_body_bytes:
                    del body[self.settings.max_body_bytes:]
                    truncated = True
                    break
            return Response(response.status_code, list(response.headers.items()), bytes(body), truncated)
        finally:
            await response.aclose()


def _ssl_context(settings: TargetSettings) -> ssl.SSLContext:
    cafile = settings.verify if isinstance(settings.verify, str) else None
    context = ssl.create_default_context(cafile=cafile)
    if settings.verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.client_cert:
        context.load_cert_chain(*settings.client_cert)
    return context


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _describe(exc: httpx.HTTPError) -> str:
    """A French sentence for a transport failure."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, httpx.ConnectTimeout):
        return f"délai de connexion dépassé ({exc.request.url.host})"
    if isinstance(exc, httpx.TimeoutException):
        return f"délai de réponse dépassé ({exc.request.url})"
    if isinstance(exc, httpx.ConnectError) and (isinstance(cause, ssl.SSLError) or "SSL" in str(exc)):
        return f"échec de la négociation TLS : {exc}"
    if isinstance(exc, httpx.ConnectError):
        return f"connexion impossible à la cible ({exc}) : le DUI est-il démarré et l'URL exacte ?"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"réponse HTTP invalide ou connexion coupée : {exc}"
    return f"erreur de transport : {type(exc).__name__}: {exc}"
