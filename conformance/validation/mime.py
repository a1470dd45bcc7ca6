"""MIME messages (RFC 5322, 2045-2049, 6532) read safely: size, part-count and depth caps, every defect a finding.

A message from a DUI under test may be hostile or broken: it is parsed once, within caps, and whatever is wrong
(missing boundary, undecodable base64, a charset nobody knows, non-UTF-8 bytes) becomes a located finding in
French instead of an exception. Parts are named like IMAP sections (``1``, ``2.1``) so an assessor can find them.
Sources for the MSSanté rules applied on top (UTF-8, body types, Message-ID): shared/reference/
messaging-access-referencing.md §1.2 (SC.MSS/CONF.19, SC.MSS.10, SC.MSS.12).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.errors import MessageDefect
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from conformance.core.findings import Finding

#: harness cap on one message; the notes give no operator figure, so this is the harness's own bound
MAX_MESSAGE_BYTES = 20 * 1024 * 1024
MAX_PARTS = 200
MAX_DEPTH = 8
_BOUNDARY = re.compile(rb'(?i)\bboundary\s*=\s*("[^"\r\n]{1,200}"|[^\s;"]{1,200})')
_DELIMITER = re.compile(rb"(?m)^--([^\r\n]{1,200}?)[ \t]*\r?$")
_UTF8 = {"utf-8", "utf8"}
_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?[^?\s]*\?=")
#: RFC 5322 msg-id in its common dot-atom form: ``<left@right>``
_MSG_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


@dataclass(frozen=True)
class Part:
    """One MIME part, its place in the message and what its headers declare."""

    #: IMAP-style section number; "" for the message itself
    path: str
    media_type: str
    filename: str | None
    charset: str | None
    transfer_encoding: str | None
    disposition: str | None
    node: Message = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        """How a finding names the part for an assessor."""
        where = f"partie MIME {self.path}" if self.path else "message"
        name = f" « {self.filename} »" if self.filename else ""
        return f"{where} ({self.media_type}{name})"

    @property
    def is_multipart(self) -> bool:
        """True for a container part."""
        return self.media_type.startswith("multipart/")

    def text(self) -> str:
        """The decoded body as text in its declared charset (UTF-8 when absent or unknown), never raising."""
        data = self.payload()
        try:
            return data.decode(self.charset or "utf-8", "replace")
        except LookupError:
            return data.decode("utf-8", "replace")

    def payload(self) -> bytes:
        """The decoded body (base64 or quoted-printable undone); empty when it cannot be decoded."""
        try:
            data = self.node.get_payload(decode=True)
        except (ValueError, TypeError, LookupError):
            return b""
        return data if isinstance(data, bytes) else b""


@dataclass
class ParsedMessage:
    """A message parsed within caps: its parts in document order and the problems met on the way."""

    raw: bytes
    message: EmailMessage | None
    parts: list[Part] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: decoded header values by lower-cased name: the email package's header parsing is costly
    _headers: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def readable(self) -> bool:
        """False when the message was refused before parsing (too large, empty)."""
        return self.message is not None

    def header(self, name: str) -> str | None:
        """The first value of a header, decoded (RFC 2047), or None."""
        values = self.headers(name)
        return values[0] if values else None

    def headers(self, name: str) -> list[str]:
        """Every value of a header, decoded; a header too malformed to decode keeps its raw text."""
        if self.message is None:
            return []
        key = name.lower()
        if key not in self._headers:
            self._headers[key] = header_values(self.message, name)
        return self._headers[key]

    @property
    def media_type(self) -> str:
        """The message's top-level media type."""
        return self.parts[0].media_type if self.parts else "text/plain"

    def leaves(self) -> list[Part]:
        """Non-container parts, in document order."""
        return [p for p in self.parts if not p.is_multipart]

    def attachments(self, media_type: str | None = None) -> list[Part]:
        """Parts with a file name (or a non-text type), optionally of one media type."""
        found = [p for p in self.leaves() if p.filename or not p.media_type.startswith(("text/", "message/"))]
        return [p for p in found if media_type is None or p.media_type == media_type]

    def find_filename(self, name: str) -> Part | None:
        """The first part whose file name is ``name`` (case-insensitive)."""
        return next((p for p in self.leaves() if (p.filename or "").lower() == name.lower()), None)


def header_values(node: Message, name: str) -> list[str]:
    """Every value of a header on one message or part, decoded where possible."""
    try:
        return [str(v) for v in node.get_all(name, [])]
    except Exception:
        # A hostile header must not crash the judgement: fall back to its raw text.
        lowered = name.lower()
        return [str(v) for k, v in getattr(node, "_headers", []) if str(k).lower() == lowered]


def oversize_finding(size: int, max_bytes: int = MAX_MESSAGE_BYTES) -> Finding:
    """The finding for a message judged on its size alone, before anything is read."""
    return Finding(rule="message-trop-volumineux", location="message", expected=f"au plus {max_bytes} octets",
                   actual=f"{size} octets",
                   message=f"Message de {size} octets, au-delà de la limite de {max_bytes} octets : non analysé")


def parse_message(raw: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES, max_parts: int = MAX_PARTS,
                  max_depth: int = MAX_DEPTH) -> ParsedMessage:
    """Parse ``raw`` as an Internet message within caps; problems are findings, never exceptions."""
    if len(raw) > max_bytes:
        return ParsedMessage(raw, None, findings=[oversize_finding(len(raw), max_bytes)])
    if not raw.strip():
        return ParsedMessage(raw, None, findings=[Finding(
            rule="message-vide", location="message", expected="un message RFC 5322", actual=None,
            message="Le message est vide")])
    parts = 1 + _delimiter_lines(raw)  # the message itself is a part, as in _walk
    if parts > max_parts:
        # Counted before parsing: the email package builds every part, ten thousand of them take seconds.
        return ParsedMessage(raw, None, findings=[Finding(
            rule="trop-de-parties", location="message", expected=f"au plus {max_parts} parties MIME",
            actual=f"{parts} parties",
            message=f"Le message compte {parts} parties MIME, au-delà de la limite de {max_parts} : non analysé")])
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    parsed = ParsedMessage(raw, message)
    _walk(parsed, message, max_parts, max_depth)
    return parsed


def _delimiter_lines(raw: bytes) -> int:
    """How many parts the message's boundary delimiter lines open, counted on the bytes in two passes."""
    # One pass per boundary would be quadratic: a message can declare thousands of boundaries.
    boundaries = {b.strip(b'"') for b in _BOUNDARY.findall(raw)}
    return sum(1 for line in _DELIMITER.findall(raw) if line in boundaries)


def _walk(parsed: ParsedMessage, root: Message, max_parts: int, max_depth: int) -> None:
    """Record every part depth-first, numbered like IMAP sections, stopping at the caps."""
    stack: list[tuple[Message, str, int]] = [(root, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if len(parsed.parts) >= max_parts:
            parsed.findings.append(Finding(
                rule="trop-de-parties", location="message", expected=f"au plus {max_parts} parties MIME",
                actual=f"plus de {max_parts}",
                message=f"Le message compte plus de {max_parts} parties MIME : les suivantes ne sont pas lues"))
            return
        part = _part(node, path)
        parsed.parts.append(part)
        parsed.findings += [_defect_finding(part, d) for d in node.defects]
        if not node.is_multipart() or part.media_type == "message/rfc822":
            # An embedded message (message/rfc822) is a leaf here: its own parts belong to another message.
            continue
        if depth + 1 > max_depth:
            parsed.findings.append(Finding(
                rule="imbrication-mime", location=part.label, expected=f"au plus {max_depth} niveaux",
                actual=f"plus de {max_depth} niveaux",
                message=f"{part.label} : parties MIME imbriquées sur plus de {max_depth} niveaux, non lues"))
            continue
        children = node.get_payload()
        if not isinstance(children, list):
            continue
        prefix = f"{path}." if path else ""
        # Reversed onto the stack so parts come out in document order.
        for index in range(len(children), 0, -1):
            child = children[index - 1]
            if isinstance(child, Message):
                stack.append((child, f"{prefix}{index}", depth + 1))


def _part(node: Message, path: str) -> Part:
    try:
        filename = node.get_filename()
    except Exception:
        filename = None  # malformed RFC 2231 parameters: the part stays, without a name
    charset = node.get_param("charset")
    cte = node.get("content-transfer-encoding")
    try:
        disposition = node.get_content_disposition()
    except Exception:
        disposition = None  # an unreadable disposition is reported as absent
    return Part(path=path, media_type=node.get_content_type().lower(),
                filename=str(filename) if filename else None,
                charset=charset.lower() if isinstance(charset, str) else None,
                transfer_encoding=str(cte).strip().lower() if cte else None, disposition=disposition, node=node)


def _defect_finding(part: Part, defect: MessageDefect) -> Finding:
    name = type(defect).__name__
    return Finding(rule="mime-mal-forme", location=part.label, expected="structure MIME conforme (RFC 2045-2049)",
                   actual=name, message=f"{part.label} : défaut de structure MIME ({name}) : {defect}")


def structure_findings(parsed: ParsedMessage) -> Iterator[Finding]:
    """MIME-Version, Date, From, To, a body in text/plain or multipart/alternative (SC.MSS.12)."""
    yield from parsed.findings
    if not parsed.readable:
        return
    if (parsed.header("MIME-Version") or "").strip() != "1.0":
        yield Finding(rule="mime-version", location="en-tête MIME-Version", expected="1.0",
                      actual=parsed.header("MIME-Version"), message="En-tête MIME-Version: 1.0 absent ou erroné")
    for name in ("Date", "From", "To"):
        if not parsed.header(name):
            yield Finding(rule=f"en-tete-{name.lower()}", location=f"en-tête {name}", expected=f"en-tête {name}",
                          actual=None, message=f"L'en-tête {name} est absent du message")
    longest = max((len(line.rstrip(b"\r")) for line in parsed.raw.split(b"\n")), default=0)
    if longest > 998:
        yield Finding(rule="ligne-trop-longue", location="message", expected="lignes de 998 caractères au plus",
                      actual=f"{longest} caractères", message="Le message contient une ligne de plus de 998 "
                                                                  "caractères (RFC 5322 §2.1.1)")
    body = body_part(parsed)
    if body is None:
        yield Finding(rule="corps-absent", location="message", expected="text/plain ou multipart/alternative",
                      actual=[p.media_type for p in parsed.parts],
                      message="Le message n'a pas de corps text/plain ou multipart/alternative")


def body_part(parsed: ParsedMessage) -> Part | None:
    """The message body: the first text/plain or multipart/alternative part that is not an attachment."""
    for part in parsed.parts:
        if part.media_type in ("text/plain", "multipart/alternative") and part.disposition != "attachment" \
                and not part.filename:
            return part
    return None


def utf8_findings(parsed: ParsedMessage) -> Iterator[Finding]:
    """Every text part declared and encoded in UTF-8; non-ASCII headers in UTF-8 (SC.MSS/CONF.19)."""
    if not parsed.readable:
        return
    head = parsed.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for match in _ENCODED_WORD.finditer(head):
        charset = match.group(1).decode("ascii", "replace").lower().split("*", 1)[0]
        if charset not in _UTF8:
            yield Finding(rule="en-tete-charset", location="en-têtes du message", expected="=?utf-8?…?=",
                          actual=match.group(0)[:80].decode("ascii", "replace"),
                          message=f"Un en-tête est encodé en « {charset} » au lieu de UTF-8 (RFC 2047)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Finding(rule="en-tete-octets", location=f"en-têtes du message, octet {exc.start}", expected="UTF-8",
                      actual=head[max(0, exc.start - 20): exc.start + 20].decode("utf-8", "replace"),
                      message="Les en-têtes contiennent des octets bruts qui ne sont pas de l'UTF-8 (RFC 6532)")
    for part in parsed.leaves():
        if not part.media_type.startswith("text/") or part.disposition == "attachment":
            continue
        yield from _text_part_findings(part)


def _text_part_findings(part: Part) -> Iterator[Finding]:
    charset = part.charset
    if charset is None:
        if any(b > 0x7F for b in part.payload()):
            yield Finding(rule="charset-absent", location=part.label, expected="charset=utf-8", actual=None,
                          message=f"{part.label} : texte non ASCII sans jeu de caractères déclaré (UTF-8 attendu)")
        return
    if charset not in _UTF8:
        try:
            codecs.lookup(charset)
            known = True
        except LookupError:
            known = False
        what = "inconnu" if not known else "déclaré"
        yield Finding(rule="charset", location=part.label, expected="charset=utf-8", actual=charset,
                      message=f"{part.label} : jeu de caractères {what} « {charset} » au lieu de UTF-8")
        return
    data = part.payload()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Finding(rule="octets-non-utf8", location=f"{part.label}, octet {exc.start}", expected="UTF-8",
                      actual=data[max(0, exc.start - 20): exc.start + 20].decode("utf-8", "replace"),
                      message=f"{part.label} : déclaré UTF-8 mais contient des octets invalides "
                              f"(position {exc.start})")


def message_id_findings(parsed: ParsedMessage, header: str = "Message-ID") -> Iterator[Finding]:
    """One Message-ID in the RFC 5322 form ``<gauche@droite>`` (SC.MSS.10)."""
    if not parsed.readable:
        return
    values = parsed.headers(header)
    if not values:
        yield Finding(rule="message-id-absent", location=f"en-tête {header}", expected="<identifiant@domaine>",
                      actual=None, message=f"L'en-tête {header} est absent du message")
        return
    if len(values) > 1:
        yield Finding(rule="message-id-multiple", location=f"en-tête {header}", expected="un seul",
                      actual=values, message=f"L'en-tête {header} apparaît {len(values)} fois")
    value = values[0].strip()
    if not _MSG_ID.match(value):
        yield Finding(rule="message-id-forme", location=f"en-tête {header}", expected="<identifiant@domaine>",
                      actual=value, message=f"{header} « {value} » n'a pas la forme RFC 5322 <identifiant@domaine>")


def msg_ids(value: str | None) -> list[str]:
    """The ``<…>`` identifiers of an In-Reply-To or References header, in order."""
    return re.findall(r"<[^<>\s]+>", value or "")


def addresses(value: str | None) -> list[str]:
    """Bare addresses of an address header (From, To, Reply-To…), lower-cased."""
    return [addr.lower() for _, addr in getaddresses([value or ""]) if addr]


def describe(parsed: ParsedMessage) -> dict[str, Any]:
    """A short summary of the message for matching and evidence."""
    return {
        "message_id": (parsed.header("Message-ID") or "").strip() or None,
        "subject": parsed.header("Subject"),
        "content_type": parsed.media_type,
        "from": next(iter(addresses(parsed.header("From"))), None),
        "parts": [f"{p.path or '0'} {p.media_type}{' ' + p.filename if p.filename else ''}" for p in parsed.parts],
    }
