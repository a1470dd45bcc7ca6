"""MSSanté operator: a real SMTP server on loopback (aiosmtpd) that receives what the DUI sends.

What is modelled (shared/reference/messaging-access-referencing.md §1.2, "Connections to the operator"): SMTP
(RFC 5321) with STARTTLS (TLS 1.2 at least, SC.MSS/CONF.01) from a test CA generated at run time; AUTH PLAIN with
the application mailbox's address as login (BAL applicative, SC.MSS/CONF.12) and AUTH XOAUTH2 carrying a Pro Santé
Connect access token for a personal mailbox (SC.MSS/CONF.07, SASL-IR optional, CONF.09); no AUTH before STARTTLS
and no MAIL before AUTH; a size cap (SIZE, 552 beyond it, read and discarded without buffering).

A second listener, the *probe*, plays a STARTTLS-stripping relay: it offers no STARTTLS and accepts credentials in
clear. A DUI that is secure by design never authenticates nor sends there; the probe records what it was given
(never the secret itself).

Every message is recorded in the inbox with its raw bytes (evidence) and handed to the checks; every SMTP session
is recorded too when it closes (listener, TLS, AUTH, refusals, a transcript with credentials masked). The mailbox
password and the CA are written to a private temporary folder removed at stop, so that no secret appears in the
endpoints a report shows.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from conformance.simulators import Received, Simulator, simulator
from conformance.transport.tls import TestCa, issue_test_certificate
from conformance.validation.mime import MAX_MESSAGE_BYTES, addresses, msg_ids, parse_message

#: the application mailbox (BAL applicative) the operator assigns to the DUI under test
APPLICATION_MAILBOX = "dui@essms-test.mssante.fr"
#: personal mailboxes (BAL personnelles) reachable with XOAUTH2, by the national id their PSC token must carry
PERSONAL_MAILBOXES = {"claire.medecin-coordonnateur@essms-test.mssante.fr": "810001234567"}
SUBMISSION = "soumission"
PROBE = "sonde"
SMTP_IDLE_TIMEOUT = 30.0
#: what a PSC token is checked against when no verifier is configured: its form and its expiry only
TokenVerifier = Callable[[str], Mapping[str, Any] | None]


class _QuietDeprecation(logging.Filter):
    """aiosmtpd logs a deprecation warning on every AUTH from its own code: not the user's concern."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietDeprecation())


@functools.cache
def test_ca() -> TestCa:
    """One test CA per process for the operator, its certificate valid for 127.0.0.1 and localhost."""
    return issue_test_certificate("AC de test de l'opérateur MSSanté simulé", ("localhost",), ("127.0.0.1",))


@dataclass
class SmtpSession:
    """One SMTP connection as the operator saw it."""

    listener: str
    peer: str
    started: float = field(default_factory=time.monotonic)
    tls: bool = False
    tls_version: str | None = None
    ehlo: str | None = None
    auth_mechanism: str | None = None
    auth_identity: str | None = None
    #: a secret (password or token) reached the server before TLS
    secret_in_clear: bool = False
    #: MAIL FROM accepted before TLS
    mail_in_clear: bool = False
    #: the token was only checked for form and expiry (no signature verifier configured)
    token_unverified: bool = False
    messages: int = 0
    #: when the client's DATA began, while its message is not complete yet
    data_since: float | None = None
    refusals: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What scenarios may match on."""
        return {"kind": "session", "listener": self.listener, "tls": self.tls, "auth": self.auth_mechanism,
                "auth_identity": self.auth_identity, "messages": self.messages,
                "secret_in_clear": self.secret_in_clear, "mail_in_clear": self.mail_in_clear}


@dataclass(frozen=True)
class SmtpMessage:
    """One message the operator accepted, with its envelope and the session it came in."""

    raw: bytes
    mail_from: str
    recipients: tuple[str, ...]
    session: SmtpSession


def xoauth2_payload(mailbox: str, token: str) -> str:
    """The SASL XOAUTH2 initial response for ``mailbox`` and a bearer ``token``, base64-encoded."""
    return base64.b64encode(f"user={mailbox}\x01auth=Bearer {token}\x01\x01".encode()).decode("ascii")


def _jwt_claims(token: str) -> Mapping[str, Any] | None:
    """The claims of a well-formed, signed-looking, unexpired JWT; None otherwise (the signature is not checked)."""
    pieces = token.split(".")
    if len(pieces) != 3 or not all(pieces[:2]):
        return None
    try:
        header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in pieces[:2])
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or str(header.get("alg", "none")) == "none":
        return None
    expiry = claims.get("exp")
    if not isinstance(expiry, int | float) or expiry < time.time():
        return None
    return claims


class _Handler:
    """aiosmtpd hooks of one listener: authentication, envelope and delivery, all recorded."""

    def __init__(self, sim: MssanteOperator, listener: str) -> None:
        self.sim = sim
        self.listener = listener

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        """PLAIN and LOGIN: the application mailbox and its password (the probe accepts anything)."""
        record = _record(server)
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        record.auth_mechanism, record.auth_identity = mechanism, login
        if not record.tls:
            record.secret_in_clear = True
        if self.listener == PROBE:
            return AuthResult(success=True, auth_data=login)
        ok = login == self.sim.mailbox and secrets.compare_digest(auth_data.password,
                                                                  self.sim.password.encode("utf-8"))
        if not ok:
            record.refusals.append(f"AUTH {mechanism} refusée pour {login}")
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """XOAUTH2: a personal mailbox and the Pro Santé Connect access token of its owner."""
        record = _record(server)
        if len(args) > 1:
            blob: Any = args[1].encode("ascii")
            try:
                blob = base64.b64decode(blob, validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        fields = dict(f.split("=", 1) for f in blob.decode("utf-8", "replace").split("\x01") if "=" in f)
        mailbox, auth = fields.get("user", ""), fields.get("auth", "")
        record.auth_mechanism, record.auth_identity = "XOAUTH2", mailbox
        if not record.tls:
            record.secret_in_clear = True
        if self.listener == PROBE:
            return AuthResult(success=True, auth_data=mailbox)
        token = auth.removeprefix("Bearer ").strip()
        verifier = self.sim.token_verifier
        claims = verifier(token) if verifier is not None else _jwt_claims(token)
        record.token_unverified = verifier is None
        owner = PERSONAL_MAILBOXES.get(mailbox.lower())
        if claims is None or owner is None or owner not in (claims.get("preferred_username"),
                                                            claims.get("SubjectNameID")):
            record.refusals.append(f"AUTH XOAUTH2 refusée pour {mailbox}")
            await server.push("535 5.7.8 Authentication credentials invalid")
            return AuthResult(success=False, handled=True)
        return AuthResult(success=True, auth_data=mailbox)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        """Record the client's name."""
        session.host_name = hostname
        _record(server).ehlo = hostname
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        """Accept the sender; note it when it arrives in clear."""
        record = _record(server)
        if not record.tls:
            record.mail_in_clear = True
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Record the message (raw bytes as evidence) and accept it."""
        record = _record(server)
        raw = envelope.original_content or b""
        record.messages += 1
        self.sim.deliver(SmtpMessage(raw, str(envelope.mail_from or ""), tuple(envelope.rcpt_tos), record))
        return "250 2.0.0 Ok: queued"


class _OperatorSmtp(SMTP):
    """aiosmtpd's SMTP with a session record per connection: commands transcribed (credentials masked), refusals.

    On the submission listener every command but EHLO, HELO, NOOP, QUIT, RSET and STARTTLS is refused before TLS
    (RFC 3207 §4), after being recorded: an AUTH sent in clear is thus seen, and its secret noted as exposed.
    """

    _BEFORE_TLS = frozenset({"EHLO", "HELO", "NOOP", "QUIT", "RSET", "STARTTLS"})
    #: RFC 4954 §4: an AUTH line may reach 12288 octets (a PSC access token in XOAUTH2 is well over 1000); longer
    #: message lines than RFC 5322's 998 are then judged by the checks rather than refused here
    line_length_limit = 12288

    def __init__(self, handler: _Handler, *, strict_tls: bool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.command_size_limits["AUTH"] = self.line_length_limit
        self.record = SmtpSession(handler.listener, "")
        self._operator = handler.sim
        self._strict_tls = strict_tls
        for command, method in list(self._smtp_methods.items()):
            self._smtp_methods[command] = self._transcribed(command, method)

    def _transcribed(self, command: str, method: Callable[[str | None], Any]) -> Callable[[str | None], Any]:
        async def call(arg: str | None) -> None:
            shown = (arg or "").split(" ", 1)[0] + (" [masqué]" if " " in (arg or "") else "") \
                if command == "AUTH" else (arg or "")
            self.record.transcript.append(f"C: {command} {shown}".rstrip())
            if command == "AUTH" and not self.record.tls and " " in (arg or ""):
                self.record.secret_in_clear = True  # an initial response carries the secret itself
            if self._strict_tls and not self.record.tls and command not in self._BEFORE_TLS:
                await self.push("530 5.7.0 Must issue a STARTTLS command first")
                return
            if command != "DATA":
                await method(arg)
                return
            # aiosmtpd reads the whole message inside the DATA command: while it runs, the client owes the end
            self.record.data_since = time.monotonic()
            try:
                await method(arg)
            finally:
                self.record.data_since = None

        return call

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the peer; after STARTTLS, note the TLS version."""
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self.record.peer = str(transport.get_extra_info("peername"))
            self._operator.track(self, True)
            return
        self.record.tls = True
        ssl_object = (self.session.ssl or {}).get("ssl_object") if self.session is not None else None
        self.record.tls_version = ssl_object.version() if ssl_object is not None else None
        self.record.transcript.append(f"-- TLS établi ({self.record.tls_version or 'version inconnue'})")

    def connection_lost(self, error: Exception | None) -> None:
        """Record the whole session once the client is gone."""
        try:
            super().connection_lost(error)
        finally:
            self._operator.track(self, False)
            self._operator.session_closed(self.record)

    async def push(self, status: Any) -> None:
        """Send a reply; refusals (4xx, 5xx) are recorded."""
        text = bytes(status).decode("utf-8", "replace") if isinstance(status, bytes | bytearray) else str(status)
        if text[:1] in ("4", "5"):
            self.record.refusals.append(text)
        self.record.transcript.append(f"S: {text[:200]}")
        await super().push(status)


def _record(server: SMTP) -> SmtpSession:
    assert isinstance(server, _OperatorSmtp)
    return server.record


class _Loop:
    """An asyncio loop in a daemon thread, serving the SMTP listeners whatever the caller's loop does."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mssante-smtp", daemon=True)
        self._servers: list[asyncio.AbstractServer] = []

    def start(self) -> None:
        """Start the loop thread."""
        self._thread.start()

    def serve(self, factory: Callable[[], SMTP], port: int) -> int:
        """Listen on 127.0.0.1:``port`` (0: a free port); the port actually bound."""
        # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections, so multi-line replies
        # (EHLO) are not held back by Nagle against the client's delayed ACK (40 ms per exchange otherwise).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", port))
        bound: int = sock.getsockname()[1]
        server = asyncio.run_coroutine_threadsafe(self.loop.create_server(factory, sock=sock), self.loop).result(10)
        self._servers.append(server)
        return bound

    def stop(self, connections: list[_OperatorSmtp]) -> None:
        """Close the listeners and every open connection, then stop the loop and join the thread."""

        async def shutdown() -> None:
            for server in self._servers:
                server.close()
            for conn in connections:
                # abort, not close: closing a TLS transport waits for the peer's close_notify, which a client stuck
                # in DATA never sends, and the socket under it would outlive the loop
                if isinstance(conn.transport, asyncio.Transport):
                    conn.transport.abort()
            await asyncio.sleep(0.01)
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()

        if self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


@simulator
class MssanteOperator(Simulator):
    """The MSSanté operator the DUI submits its mail to: STARTTLS, AUTH, size cap; every message recorded."""

    name = "mssante"

    def __init__(self, *, max_message_bytes: int = MAX_MESSAGE_BYTES,
                 token_verifier: TokenVerifier | None = None) -> None:
        super().__init__()
        self.mailbox = APPLICATION_MAILBOX
        # A per-run password unless a vendor pins one for its test instance.
        self.password = os.environ.get("DUI_CONFORMANCE_MSS_PASSWORD") or secrets.token_urlsafe(18)
        self.max_message_bytes = max_message_bytes
        self.token_verifier = token_verifier
        self.submission_port = 0
        self.probe_port = 0
        self._folder: Path | None = None
        self._loop: _Loop | None = None
        self._open: set[_OperatorSmtp] = set()
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Write the CA and credentials to a private folder, then serve both listeners on loopback."""
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        ca = test_ca()
        self._folder = Path(tempfile.mkdtemp(prefix="dui-conformance-mssante-"))
        (self._folder / "ca.pem").write_bytes(ca.ca_pem)
        (self._folder / "server.pem").write_bytes(ca.cert_pem + ca.key_pem)
        (self._folder / "credentials.json").write_text(json.dumps({
            "mailbox": self.mailbox, "login": self.mailbox, "password": self.password, "mechanism": "PLAIN",
        }, indent=2), encoding="utf-8")
        for path in self._folder.iterdir():
            path.chmod(0o600)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(self._folder / "server.pem")
        self._loop = _Loop()
        self._loop.start()
        loop = self._loop.loop
        submission = _Handler(self, SUBMISSION)
        probe = _Handler(self, PROBE)
        self.submission_port = self._loop.serve(lambda: _OperatorSmtp(
            submission, loop=loop, hostname="mssante.simulateur.invalid",
            ident="Operateur MSSante simule (dui-conformance)", strict_tls=True, tls_context=tls,
            auth_required=True, auth_require_tls=True, authenticator=submission.authenticate,
            data_size_limit=self.max_message_bytes, timeout=SMTP_IDLE_TIMEOUT, enable_SMTPUTF8=True), self.port)
        probe_port = self.port + 1 if self.port else 0
        self.probe_port = self._loop.serve(lambda: _OperatorSmtp(
            probe, loop=loop, hostname="sonde.simulateur.invalid",
            ident="Relais sans STARTTLS (sonde dui-conformance)", strict_tls=False, auth_require_tls=False,
            authenticator=probe.authenticate, data_size_limit=self.max_message_bytes, timeout=SMTP_IDLE_TIMEOUT,
            enable_SMTPUTF8=True), probe_port)

    async def stop(self) -> None:
        """Stop serving and remove the private folder."""
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        if self._loop is not None:
            with self._lock:
                connections = list(self._open)
            self._loop.stop(connections)
            self._loop = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def endpoints(self) -> dict[str, str]:
        """Where the DUI submits mail, its mailbox, and the files holding the CA and the mailbox password."""
        if self._folder is None:
            return {}
        return {
            "host": "127.0.0.1", "port": str(self.submission_port),
            "submission": f"127.0.0.1:{self.submission_port}", "probe": f"127.0.0.1:{self.probe_port}",
            "mailbox": self.mailbox, "ca_file": str(self._folder / "ca.pem"),
            "credentials_file": str(self._folder / "credentials.json"),
        }

    def unfinished(self) -> list[str]:
        """Open sessions stuck in DATA: the client began a message and never ended it."""
        now = time.monotonic()
        with self._lock:
            stuck = [(c.record.peer, c.record.data_since) for c in self._open]
        return [f"la session SMTP de {peer} a commencé DATA il y a {now - since:.0f} s sans jamais terminer le "
                "message (ligne « . » finale absente)" for peer, since in stuck if since is not None]

    def track(self, conn: _OperatorSmtp, opened: bool) -> None:
        """Keep the open connections, so that stop can close them."""
        with self._lock:
            if opened:
                self._open.add(conn)
            else:
                self._open.discard(conn)

    def deliver(self, message: SmtpMessage) -> None:
        """Record an accepted message for the checks."""
        parsed = parse_message(message.raw, max_bytes=self.max_message_bytes)
        session = message.session
        summary = {
            "kind": "message", "listener": session.listener, "mail_from": message.mail_from.lower(),
            "recipient": message.recipients[0].lower() if message.recipients else None,
            "recipients": ",".join(r.lower() for r in message.recipients),
            "message_id": (parsed.header("Message-ID") or "").strip() or None,
            "in_reply_to": next(iter(msg_ids(parsed.header("In-Reply-To"))), None),
            "subject": parsed.header("Subject"), "content_type": parsed.media_type,
            "from": next(iter(addresses(parsed.header("From"))), None),
            "tls": session.tls, "auth": session.auth_mechanism, "auth_identity": session.auth_identity,
        }
        self.inbox.put(Received(summary, message.raw, "message/rfc822", message))

    def session_closed(self, record: SmtpSession) -> None:
        """Record a finished session (accepted or refused) with its masked transcript."""
        if not record.transcript and not record.ehlo:
            return  # a bare connect-and-close (port probe): nothing to judge
        fields = {k: v for k, v in asdict(record).items() if k not in ("started", "data_since")}
        payload = json.dumps(fields, ensure_ascii=False, indent=2).encode("utf-8")
        self.inbox.put(Received(record.summary(), payload, "application/json", record))
