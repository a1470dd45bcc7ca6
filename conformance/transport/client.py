"""The vendor client: every request the harness makes to a DUI goes through here, bounded in size and time."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from conformance.core.exchange import Exchange, Request, Response

USER_AGENT = "dui-conformance"
#: the only codings the harness inflates itself (bounded); advertised explicitly so that installing brotli or
#: zstandard never makes it ask for a coding it would not decode
ACCEPT_ENCODING = "gzip, deflate"
#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = (62, 64)
#: most bytes one inflate call may produce: what a compression bomb can cost beyond ``max_body_bytes``
_INFLATE_STEP = 64 * 1024


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
        # Always our own context: the same trust store (the system's, or ``verify`` as a CA bundle) with or
        # without a client certificate.
        self._client = httpx.AsyncClient(
            base_url=settings.base_url, transport=transport, timeout=timeout, verify=_ssl_context(settings),
            follow_redirects=False, trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING, **settings.headers},
        )
        self._origin = origin(settings.base_url)

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
        try:
            # A URL or header built from what the target returned (a captured id, an ETag) may be invalid.
            request = self._client.build_request(method, url, headers=headers, params=params, content=content)
        except (httpx.InvalidURL, ValueError) as exc:
            recorded = Request(method, url, list(headers.items()), content or b"")
            return Exchange(recorded, None, 0.0, error=f"URL ou en-tête de requête invalide ({exc}) : {url!r}")
        recorded = Request(method, str(request.url), list(request.headers.items()), content or b"")
        started = time.perf_counter()
        if origin(str(request.url)) != self._origin:
            # Credentials are configured for the target only; another host never sees them.
            return Exchange(recorded, None, 0.0, error=f"URL hors de la cible refusée : {request.url}")
        try:
            response = await asyncio.wait_for(self._exchange(request), self.settings.total_timeout)
        except TimeoutError:
            error = f"délai total de {self.settings.total_timeout:g} s dépassé"
            return Exchange(recorded, None, _ms(started), error=error)
        except httpx.HTTPError as exc:
            return Exchange(recorded, None, _ms(started), error=_describe(exc))
        except zlib.error as exc:
            error = f"corps compressé illisible (Content-Encoding déclaré par la cible) : {exc}"
            return Exchange(recorded, None, _ms(started), error=error)
        except ssl.SSLError as exc:
            return Exchange(recorded, None, _ms(started), error=f"échec TLS avec la cible : {exc}")
        except Exception as exc:  # whatever the target does, the run goes on with a recorded error
            return Exchange(recorded, None, _ms(started), error=f"erreur réseau : {type(exc).__name__}: {exc}")
        return Exchange(recorded, response, _ms(started))

    async def _exchange(self, request: httpx.Request) -> Response:
        response = await self._client.send(request, stream=True)
        try:
            cap = self.settings.max_body_bytes
            # Raw bytes, inflated here in bounded steps: httpx inflates a whole network chunk at once, so a
            # 64 KiB gzip chunk costs 64 MiB, and stacked codings ("gzip, gzip") exhaust memory.
            decoder = _Decoder(response.headers.get_list("content-encoding", split_commas=True))
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_raw():
                # One byte past the cap tells a truncated body from one exactly at the cap.
                body += decoder.decode(chunk, cap + 1 - len(body))
                if len(body) > cap:
                    del body[cap:]
                    truncated = True
                    break
            # multi_items keeps repeated headers apart, so a duplicated Content-Type stays visible to checks.
            return Response(response.status_code, list(response.headers.multi_items()), bytes(body), truncated)
        finally:
            await response.aclose()
            # No state between exchanges: a cookie the target sets must not carry over to later scenarios.
            self._client.cookies.clear()


class _Inflater:
    """One gzip or deflate layer that inflates at most ``_INFLATE_STEP`` bytes per step."""

    def __init__(self, coding: str) -> None:
        # "deflate" is meant to be zlib-wrapped, but servers also send raw deflate: decided on the first bytes.
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16) if coding in ("gzip", "x-gzip") else None
        self._pending = b""
        self._more = False  # the last step filled its output: more may come without new input

    def feed(self, data: bytes) -> None:
        self._pending += data

    @property
    def ready(self) -> bool:
        if self._zlib is None:
            return len(self._pending) >= 2
        return not self._zlib.eof and (bool(self._pending) or self._more)

    def step(self) -> bytes:
        if self._zlib is None:
            cmf, flg = self._pending[0], self._pending[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        before = len(self._pending)
        out = self._zlib.decompress(self._pending, _INFLATE_STEP)
        # Bytes after the end of the stream are ignored, as httpx does.
        self._pending = b"" if self._zlib.eof else self._zlib.unconsumed_tail
        self._more = len(out) == _INFLATE_STEP
        if not out and len(self._pending) == before:
            self._pending = b""  # no progress: never spin
        return out


class _Decoder:
    """Undoes the response's Content-Encoding, producing no more than asked for per call."""

    def __init__(self, codings: list[str]) -> None:
        names = [c.strip().lower() for c in codings if c.strip().lower() not in ("", "identity")]
        # A coding the harness does not know leaves the body as received (the checks see what was sent).
        known = all(n in ("gzip", "x-gzip", "deflate") for n in names)
        self._layers = [_Inflater(n) for n in reversed(names)] if known else []

    def decode(self, data: bytes, limit: int) -> bytes:
        """The decoded bytes of ``data``, at most about ``limit`` (plus one step) of them."""
        if not self._layers:
            return data
        self._layers[0].feed(data)
        last = len(self._layers) - 1
        out = bytearray()
        while len(out) < limit:
            # Drain the innermost layer first, so each layer holds at most one step of its input.
            index = next((i for i in range(last, -1, -1) if self._layers[i].ready), None)
            if index is None:
                break
            chunk = self._layers[index].step()
            if index == last:
                out += chunk
            else:
                self._layers[index + 1].feed(chunk)
        return bytes(out)


def _ssl_context(settings: TargetSettings) -> ssl.SSLContext:
    """The TLS context for the target: system trust store unless ``verify`` names a CA bundle."""
    cafile = settings.verify if isinstance(settings.verify, str) else None
    context = ssl.create_default_context(cafile=cafile)
    if settings.verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.client_cert:
        context.load_cert_chain(*settings.client_cert)
    return context


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url``: what decides whether a request stays on the target."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _describe(exc: httpx.HTTPError) -> str:
    """A French sentence for a transport failure."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"délai de connexion dépassé ({exc.request.url.host})"
    if isinstance(exc, httpx.TimeoutException):
        return f"délai de réponse dépassé ({exc.request.url})"
    if _tls_failure(exc):
        mismatch = next((e for e in _chain(exc) if isinstance(e, ssl.SSLCertVerificationError)
                         and e.verify_code in _NAME_MISMATCH), None)
        if mismatch is not None:
            return (f"échec de la négociation TLS : le certificat présenté n'est pas émis pour "
                    f"{exc.request.url.host} ({mismatch.verify_message}) ; connexion abandonnée, rien n'a été envoyé")
        return f"échec de la négociation TLS : {exc}"
    if isinstance(exc, httpx.ConnectError):
        return f"connexion impossible à la cible ({exc}) : le DUI est-il démarré et l'URL exacte ?"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"réponse HTTP invalide ou connexion coupée : {exc}"
    if isinstance(exc, httpx.NetworkError):
        return f"connexion interrompue par la cible pendant l'échange ({_root_cause(exc)})"
    return f"erreur de transport : {type(exc).__name__}: {exc}"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _root_cause(exc: BaseException) -> str:
    """The innermost non-empty message (a reset arrives as a ReadError with an empty one)."""
    return next((f"{e}" for e in reversed(_chain(exc)) if f"{e}"), type(exc).__name__)


def _tls_failure(exc: BaseException) -> bool:
    """Whether an SSL error is behind ``exc`` (a handshake failure, or a TLS alert on a later read)."""
    return any(isinstance(e, ssl.SSLError) or "SSL" in f"{e}" for e in _chain(exc))
