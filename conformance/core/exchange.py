"""The record of one request and its response, as evidence and as input to checks."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
REDACTED = "[masqué]"


@dataclass(frozen=True)
class Request:
    """What the harness sent."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    """What the target answered; ``truncated`` when the body went past the size cap."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def media_type(self) -> str | None:
        """The Content-Type without parameters, lower-cased."""
        value = self.header("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    @property
    def charset(self) -> str | None:
        """The charset parameter of the Content-Type, if any."""
        value = self.header("content-type")
        if not value:
            return None
        msg = Message()
        msg["content-type"] = value
        charset = msg.get_param("charset")
        return charset.lower() if isinstance(charset, str) else None


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange; ``error`` is set (and ``response`` None) when the transport failed."""

    request: Request
    response: Response | None
    elapsed_ms: float
    error: str | None = None

    def to_evidence(self, secrets: Iterable[str] = ()) -> dict[str, Any]:
        """A JSON-ready form with credentials removed, for the evidence folder."""
        scrub = _Scrubber(secrets)
        data: dict[str, Any] = {
            "request": {
                "method": self.request.method,
                "url": scrub.text(self.request.url),
                "headers": scrub.headers(self.request.headers),
                **scrub.body(self.request.body),
            },
            "elapsed_ms": round(self.elapsed_ms, 3),
        }
        if self.response is not None:
            data["response"] = {
                "status": self.response.status,
                "headers": scrub.headers(self.response.headers),
                "truncated": self.response.truncated,
                **scrub.body(self.response.body),
            }
        if self.error is not None:
            data["error"] = scrub.text(self.error)
        return data


class _Scrubber:
    """Removes known secret values and credential headers from evidence."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        return value

    def headers(self, headers: list[tuple[str, str]]) -> list[list[str]]:
        return [[k, REDACTED if k.lower() in SENSITIVE_HEADERS else self.text(v)] for k, v in headers]

    def body(self, body: bytes) -> dict[str, Any]:
        if not body:
            return {"body": ""}
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return {"body_base64": base64.b64encode(body).decode("ascii")}
        text = self.text(text)
        try:
            return {"json": json.loads(text)}
        except (ValueError, RecursionError):
            return {"body": text}
