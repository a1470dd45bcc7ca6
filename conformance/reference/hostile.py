"""Hostile faults: what a broken or malicious DUI sends, to prove the harness survives it (DESIGN.md §8).

The HTTP ones hit ``GET /fhir/metadata`` at the ASGI level, below FastAPI, so that they can hang, trickle or cut
the connection. The XML ones poison the TDDUI-CDA export, the messaging ones the mail sent to an usager's mailbox
(see ``cda.py`` and ``mss.py``); the TLS one has ``run`` serve the reference over HTTPS with a certificate for
another name (``certificate_names``). Where they point outside the DUI (a local file, another host), the place comes
from ``DUI_REFERENCE_CANARY_FILE`` and ``DUI_REFERENCE_ELSEWHERE`` so that a test can watch it.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import os
import zipfile
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from email.message import EmailMessage
from typing import Any

from fastapi import FastAPI

from conformance.core.outcomes import Verdict
from conformance.reference.base import FHIR_JSON, Reference
from conformance.reference.faults import EVERY_REQUIREMENT, fault
from conformance.reference.fhir import capability_statement
from conformance.reference.mss_messages import XDM_NAME, to_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: the requirements the CapabilityStatement scenarios prove (SCN-HTTP-02 reads it, SCN-HTTP-03 checks its type)
_METADATA = ("DUI-HTTP-02", "DUI-HTTP-03")
#: every requirement SCN-CDA-02 judges on the TDDUI-CDA export: an unreadable export fails them all
TDDUI_CDA_REQUIREMENTS = tuple(f"DUI-CDA-{n:02d}" for n in (*range(1, 17), 18, 19))
#: what SCN-MSS-04 proves on the message sent to the usager's mailbox
_PATIENT_MAIL = ("DUI-MSS-04", "DUI-MSS-09", "DUI-MSS-13", "DUI-MSS-19", "DUI-MSS-20")

METADATA_HANGS = fault(
    "metadata-hangs",
    "Le serveur accepte la connexion de GET /fhir/metadata et ne répond jamais.",
    *_METADATA, verdict=Verdict.ERREUR, on_socket=True)
METADATA_TRICKLES = fault(
    "metadata-trickles",
    "Le CapabilityStatement arrive un octet par seconde.",
    *_METADATA, verdict=Verdict.ERREUR, on_socket=True)
METADATA_RESET = fault(
    "metadata-connection-reset",
    "La connexion est coupée au milieu du corps du CapabilityStatement.",
    *_METADATA, verdict=Verdict.ERREUR, on_socket=True)
METADATA_HUGE = fault(
    "metadata-100-mb",
    "Le CapabilityStatement fait 100 Mo (Content-Length annoncé).",
    *_METADATA, on_socket=True)
METADATA_ENDLESS = fault(
    "metadata-endless-body",
    "Le corps du CapabilityStatement ne finit jamais (envoi par morceaux sans fin).",
    *_METADATA, on_socket=True)
METADATA_GZIP_BOMB = fault(
    "metadata-gzip-bomb",
    "Le CapabilityStatement est une bombe gzip (Content-Encoding) : 255 Ko qui se décompressent en 256 Mo.",
    *_METADATA)
METADATA_DEEP_JSON = fault(
    "metadata-deep-json",
    "Le CapabilityStatement contient 100 000 tableaux JSON imbriqués.",
    "DUI-HTTP-02")
METADATA_INVALID_UTF8 = fault(
    "metadata-invalid-utf8",
    "Le CapabilityStatement, déclaré en UTF-8, contient des octets qui ne sont pas de l'UTF-8.",
    "DUI-HTTP-02")
METADATA_LYING_TYPE = fault(
    "metadata-lying-content-type",
    "Une page HTML de maintenance est servie avec le type application/fhir+json.",
    "DUI-HTTP-02")
METADATA_REDIRECT_ELSEWHERE = fault(
    "metadata-redirect-elsewhere",
    "GET /fhir/metadata redirige (307) vers un autre hôte, qui recevrait le jeton s'il était suivi.",
    *_METADATA)
METADATA_REDIRECT_LOOP = fault(
    "metadata-redirect-loop",
    "GET /fhir/metadata redirige (302) vers lui-même, sans fin.",
    *_METADATA)

CDA_XXE = fault(
    "xml-xxe-local-file",
    "L'export TDDUI-CDA déclare une entité externe qui lit un fichier local (XXE) et l'utilise dans le titre.",
    *TDDUI_CDA_REQUIREMENTS)
CDA_EXTERNAL_DTD = fault(
    "xml-external-dtd",
    "L'export TDDUI-CDA déclare une DTD externe à télécharger sur un autre hôte.",
    *TDDUI_CDA_REQUIREMENTS)
CDA_BILLION_LAUGHS = fault(
    "xml-billion-laughs",
    "L'export TDDUI-CDA contient une bombe d'entités imbriquées (« billion laughs »).",
    *TDDUI_CDA_REQUIREMENTS)
CDA_QUADRATIC_BLOWUP = fault(
    "xml-quadratic-blowup",
    "L'export TDDUI-CDA référence 20 000 fois une entité de 50 000 caractères (explosion quadratique).",
    *TDDUI_CDA_REQUIREMENTS)
CDA_DEEP_XML = fault(
    "xml-deep-nesting",
    "L'export TDDUI-CDA contient 100 000 éléments imbriqués.",
    *TDDUI_CDA_REQUIREMENTS)

XDM_ZIP_BOMB = fault(
    "xdm-zip-bomb",
    "L'archive IHE_XDM.zip envoyée à l'usager contient une entrée de 1 Mo qui se décompresse en 1 Go.",
    "DUI-MSS-13")
XDM_PATH_TRAVERSAL = fault(
    "xdm-path-traversal",
    "L'archive IHE_XDM.zip envoyée à l'usager contient des chemins qui sortent de l'archive (../, chemin absolu).",
    "DUI-MSS-13")
MIME_10000_PARTS = fault(
    "mime-10000-parts",
    "Le message envoyé à l'usager compte 10 000 parties MIME.",
    "DUI-MSS-04", "DUI-MSS-09", "DUI-MSS-13", "DUI-MSS-19")
SMTP_DATA_NEVER_ENDS = fault(
    "smtp-data-never-ends",
    "Le client SMTP du DUI commence DATA pour le message à l'usager et ne le termine jamais (le DUI annonce "
    "pourtant l'envoi réussi).",
    *_PATIENT_MAIL)

TLS_WRONG_NAME = fault(
    "tls-certificate-wrong-name",
    "Le DUI est servi en HTTPS avec un certificat émis pour un autre nom (autre-hote.invalid) que celui de "
    "son adresse.",
    EVERY_REQUIREMENT, verdict=Verdict.ERREUR, on_socket=True)

#: every hostile fault, for the test that runs them all
HOSTILE = (METADATA_HANGS, METADATA_TRICKLES, METADATA_RESET, METADATA_HUGE, METADATA_ENDLESS, METADATA_GZIP_BOMB,
           METADATA_DEEP_JSON, METADATA_INVALID_UTF8, METADATA_LYING_TYPE, METADATA_REDIRECT_ELSEWHERE,
           METADATA_REDIRECT_LOOP, CDA_XXE, CDA_EXTERNAL_DTD, CDA_BILLION_LAUGHS, CDA_QUADRATIC_BLOWUP, CDA_DEEP_XML,
           XDM_ZIP_BOMB, XDM_PATH_TRAVERSAL, MIME_10000_PARTS, SMTP_DATA_NEVER_ENDS, TLS_WRONG_NAME)
_CHUNK = 64 * 1024


def canary_file() -> str:
    """The local file the XXE fault points at."""
    return os.environ.get("DUI_REFERENCE_CANARY_FILE", "/etc/hostname")


def evasion_paths() -> tuple[str, str]:
    """The entries of ``xdm-path-traversal``: one climbing out with ``../``, one absolute, named after the canary."""
    written = f"{os.path.basename(canary_file())}.evasion"
    return f"../../../{written}", f"{os.path.dirname(canary_file())}/{written}"


def elsewhere() -> str:
    """``host:port`` of the other host the redirect and external DTD faults point at (nothing listens by default)."""
    return os.environ.get("DUI_REFERENCE_ELSEWHERE", "127.0.0.2:9")


class _Cut(Exception):
    """Raised to make the server drop the connection mid-body (a deliberate reset, not a bug)."""


class _QuietCut(logging.Filter):
    """Keeps uvicorn from logging the deliberate cut as a server error (with its traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Cut))


#: one instance, added once however many apps are created (addFilter ignores an instance already there)
_QUIET_CUT = _QuietCut()


def certificate_names(ref: Reference) -> tuple[str, ...]:
    """The names the certificate the reference is served with must carry; none: served in plain HTTP."""
    return ("autre-hote.invalid",) if ref.has(TLS_WRONG_NAME) else ()


def register(app: FastAPI, ref: Reference) -> None:
    """Wrap the app so that an active HTTP fault answers ``GET /fhir/metadata`` its own way."""
    if ref.has(XDM_ZIP_BOMB):
        _zip_bomb()  # seconds of work: done before serving, not inside a request
    behaviour = next((b for name, b in _METADATA_BEHAVIOURS.items() if ref.has(name)), None)
    if behaviour is not None:
        app.add_middleware(_Metadata, behaviour=behaviour)
        logging.getLogger("uvicorn.error").addFilter(_QUIET_CUT)


class _Metadata:
    """ASGI middleware: GET /fhir/metadata goes to the hostile behaviour, everything else to the app."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 behaviour: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app, self.behaviour = app, behaviour

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == "/fhir/metadata":
            await self.behaviour(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone away."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _start(send: Send, status: int = 200, headers: dict[str, str] | None = None) -> None:
    """Send the status line and headers."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})


async def _whole(send: Send, body: bytes, headers: dict[str, str], status: int = 200) -> None:
    """Send a complete response with its Content-Length."""
    await _start(send, status, {**headers, "content-length": str(len(body))})
    await send({"type": "http.response.body", "body": body})


def _statement() -> bytes:
    return json.dumps(capability_statement("4.0.1")).encode()


async def _hang(scope: Scope, receive: Receive, send: Send) -> None:
    await _disconnected(receive)


async def _trickle(scope: Scope, receive: Receive, send: Send) -> None:
    body = _statement()
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await _start(send, 200, {"content-type": FHIR_JSON, "content-length": str(len(body))})
        for i in range(len(body)):
            await send({"type": "http.response.body", "body": body[i:i + 1], "more_body": True})
            await asyncio.wait({gone}, timeout=1.0)
            if gone.done():
                return
        await send({"type": "http.response.body", "body": b""})
    finally:
        gone.cancel()


async def _reset(scope: Scope, receive: Receive, send: Send) -> None:
    body = _statement()
    await _start(send, 200, {"content-type": FHIR_JSON, "content-length": str(len(body))})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise _Cut("connexion coupée volontairement (faute metadata-connection-reset)")


async def _stream(receive: Receive, send: Send, headers: dict[str, str], chunks: Iterable[bytes]) -> None:
    """Send ``chunks`` until they run out or the client goes away."""
    gone = asyncio.ensure_future(_disconnected(receive))
    await _start(send, 200, headers)
    try:
        for chunk in chunks:
            if gone.done():
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0)  # let the disconnect be noticed
        await send({"type": "http.response.body", "body": b""})
    finally:
        gone.cancel()


def _padding(total: int | None) -> Iterator[bytes]:
    """A CapabilityStatement padded to ``total`` bytes, or without end."""
    head = b'{"resourceType":"CapabilityStatement","status":"active","padding":"'
    yield head
    sent = len(head)
    while total is None or sent < total - 2:
        size = _CHUNK if total is None else min(_CHUNK, total - 2 - sent)
        yield b"x" * size
        sent += size
    yield b'"}'


async def _huge(scope: Scope, receive: Receive, send: Send) -> None:
    total = 100 * 1000 * 1000
    await _stream(receive, send, {"content-type": FHIR_JSON, "content-length": str(total)}, _padding(total))


async def _endless(scope: Scope, receive: Receive, send: Send) -> None:
    await _stream(receive, send, {"content-type": FHIR_JSON}, _padding(None))


@functools.cache
def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(b'{"resourceType":"CapabilityStatement","padding":"')]
    block = b" " * (1024 * 1024)
    parts += [packer.compress(block) for _ in range(256)]
    parts.append(packer.compress(b'"}') + packer.flush())
    return b"".join(parts)


async def _gzip(scope: Scope, receive: Receive, send: Send) -> None:
    await _whole(send, _gzip_bomb(), {"content-type": FHIR_JSON, "content-encoding": "gzip"})


async def _deep_json(scope: Scope, receive: Receive, send: Send) -> None:
    depth = 100_000
    body = b'{"resourceType":"CapabilityStatement","extension":' + b"[" * depth + b"]" * depth + b"}"
    await _whole(send, body, {"content-type": FHIR_JSON})


async def _invalid_utf8(scope: Scope, receive: Receive, send: Send) -> None:
    body = _statement().replace(b"DUI de r\\u00e9f\\u00e9rence", b"DUI de r\xe9f\xe9rence \xff\xfe")
    await _whole(send, body, {"content-type": f"{FHIR_JSON}; charset=utf-8"})


async def _lying_type(scope: Scope, receive: Receive, send: Send) -> None:
    page = "<!DOCTYPE html><html><body><h1>Maintenance en cours</h1><p>Revenez plus tard.</p></body></html>"
    await _whole(send, page.encode(), {"content-type": FHIR_JSON})


async def _redirect_elsewhere(scope: Scope, receive: Receive, send: Send) -> None:
    await _whole(send, b"", {"location": f"http://{elsewhere()}/fhir/metadata"}, status=307)


async def _redirect_loop(scope: Scope, receive: Receive, send: Send) -> None:
    await _whole(send, b"", {"location": "/fhir/metadata"}, status=302)


_METADATA_BEHAVIOURS: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
    METADATA_HANGS: _hang, METADATA_TRICKLES: _trickle, METADATA_RESET: _reset, METADATA_HUGE: _huge,
    METADATA_ENDLESS: _endless, METADATA_GZIP_BOMB: _gzip, METADATA_DEEP_JSON: _deep_json,
    METADATA_INVALID_UTF8: _invalid_utf8, METADATA_LYING_TYPE: _lying_type,
    METADATA_REDIRECT_ELSEWHERE: _redirect_elsewhere, METADATA_REDIRECT_LOOP: _redirect_loop,
}


def poisoned_cda(ref: Reference, document: bytes) -> bytes:
    """The document as the active XML fault makes it (unchanged when none is active)."""
    head, _, rest = document.partition(b"?>")
    if not rest:
        head, rest = b"<?xml version='1.0' encoding='UTF-8'", document
    if ref.has(CDA_XXE):
        doctype = f'<!DOCTYPE ClinicalDocument [<!ENTITY canari SYSTEM "file://{canary_file()}">]>'
        return _with_title(head + b"?>" + doctype.encode() + rest, b"&canari;")
    if ref.has(CDA_EXTERNAL_DTD):
        doctype = f'<!DOCTYPE ClinicalDocument SYSTEM "http://{elsewhere()}/CDA.dtd">'
        return head + b"?>" + doctype.encode() + rest
    if ref.has(CDA_BILLION_LAUGHS):
        entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
        doctype = f"<!DOCTYPE ClinicalDocument [{''.join(entities)}]>"
        return _with_title(head + b"?>" + doctype.encode() + rest, b"&lol9;")
    if ref.has(CDA_QUADRATIC_BLOWUP):
        doctype = f'<!DOCTYPE ClinicalDocument [<!ENTITY a "{"a" * 50_000}">]>'
        return _with_title(head + b"?>" + doctype.encode() + rest, b"&a;" * 20_000)
    if ref.has(CDA_DEEP_XML):
        depth = 100_000
        return document.replace(b"</title>", b"</title>" + b"<x>" * depth + b"</x>" * depth, 1)
    return document


def _with_title(document: bytes, content: bytes) -> bytes:
    start = document.index(b"<title>") + len(b"<title>")
    return document[:start] + content + document[document.index(b"</title>", start):]


def poisoned_archive(ref: Reference, archive: bytes) -> bytes:
    """The IHE_XDM.zip as the active archive fault makes it (unchanged when none is active)."""
    if ref.has(XDM_ZIP_BOMB):
        buffer = io.BytesIO(_zip_bomb())
    elif ref.has(XDM_PATH_TRAVERSAL):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zipped:
            for name in evasion_paths():
                zipped.writestr(name, b"ecrit hors de l'archive")
    else:
        return archive
    with zipfile.ZipFile(io.BytesIO(archive)) as original, \
            zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as zipped:
        for info in original.infolist():
            zipped.writestr(info, original.read(info))
    return buffer.getvalue()


@functools.cache
def _zip_bomb() -> bytes:
    """An archive whose one entry inflates from about 1 MB to 1 GiB (built once: it takes seconds)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped, \
            zipped.open(_deflated("IHE_XDM/SUBSET01/ANNEXE.BIN"), "w", force_zip64=True) as entry:
        block = bytes(1024 * 1024)
        for _ in range(1024):
            entry.write(block)
    return buffer.getvalue()


def _deflated(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def poisoned_message(ref: Reference, message: EmailMessage) -> bytes:
    """The message on the wire as the active MIME or archive fault makes it."""
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        if isinstance(part, EmailMessage) and part.get_filename() == XDM_NAME and isinstance(payload, bytes):
            part.set_content(poisoned_archive(ref, payload), maintype="application", subtype="zip",
                             disposition="attachment", filename=XDM_NAME)
    raw = to_bytes(message)
    if not ref.has(MIME_10000_PARTS):
        return raw
    # Written out directly: ten thousand parts through the email package take seconds.
    closing = f"--{message.get_boundary()}--".encode()
    parts = b"".join(f"--{message.get_boundary()}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     f'Content-Disposition: attachment; filename="partie-{i:05d}.txt"\r\n\r\n'
                     f"partie {i}\r\n".encode() for i in range(10_000))
    at = raw.rindex(closing)
    return raw[:at] + parts + raw[at:]
