"""The reference DUI's MSSanté messaging: ``$send-document`` mails a document, ``$receive-message`` integrates one.

Sending renders the usager's CDA (``cda_documents``), wraps it in an IHE_XDM.zip with a PDF beside it and submits
the mail to the operator it is configured with (the run's MSSanté simulator: STARTTLS, then AUTH PLAIN with the
application mailbox). Receiving finds the usager by the INS of the CDA inside the XDM and answers by MDN:
``processed``, or ``processed/Error`` with the integration code 902, 903, 904 or 905 (trans-lps error-codes.md).

The CDA travels as the messaging component renders it, with the CDA theme's defaults: the CDA theme's faults are
judged by the CDA scenarios, so that each named fault breaks exactly its own requirements.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import smtplib
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from conformance.reference.base import Reference, json_body
from conformance.reference.cda_documents import Rendering, Version, new_version, render
from conformance.reference.faults import fault
from conformance.reference.hostile import SMTP_DATA_NEVER_ENDS, poisoned_message
from conformance.reference.mss_messages import (
    Composition,
    Inbound,
    Reply,
    document_message,
    mdn,
    patient_address,
    read_cda,
    read_inbound,
    to_bytes,
)
from conformance.reference.store import Usager

DOCUMENT_TYPES = ("DLU", "TDDUI-CDA")
SMTP_TIMEOUT = 15.0
#: how long the stalled client of ``smtp-data-never-ends`` waits at most; the operator simulator closes an idle
#: session after 30 s, a real operator after minutes
STALL_LIMIT = 120.0
MAX_INBOUND_BYTES = 20 * 1024 * 1024

CLEARTEXT_FALLBACK = fault(
    "mss-smtp-cleartext-fallback",
    "Le DUI n'utilise STARTTLS que si le serveur l'annonce : face à un relais qui ne le propose pas, il "
    "s'authentifie et envoie le message en clair.",
    "DUI-MSS-01",
)
AUTH_LOGIN = fault(
    "mss-auth-login",
    "Le DUI s'authentifie auprès de l'opérateur par AUTH LOGIN au lieu de SASL PLAIN.",
    "DUI-MSS-02",
)
MESSAGE_ID_MISSING = fault(
    "mss-message-id-missing",
    "Les messages envoyés n'ont pas d'en-tête Message-ID.",
    "DUI-MSS-03",
)
BODY_LATIN1 = fault(
    "mss-body-latin1",
    "Le corps des messages est encodé en ISO-8859-1 (charset=iso-8859-1) au lieu d'UTF-8.",
    "DUI-MSS-04",
)
SUBJECT_WITHOUT_PREFIX = fault(
    "mss-subject-without-xdm-prefix",
    "L'objet d'un message portant un document structuré ne commence pas par XDM/1.0/DDM+.",
    "DUI-MSS-05",
)
CODECDA_FIXED = fault(
    "mss-codecda-fixed",
    "X-MSS-CODECDA vaut toujours 11488-4 (compte rendu de consultation), quel que soit le document joint.",
    "DUI-MSS-06",
)
INS_HEADER_ALWAYS_O = fault(
    "mss-x-mss-ins-always-o",
    "X-MSS-INS vaut toujours O, même quand l'archive ne contient pas d'INS qualifié.",
    "DUI-MSS-07",
)
NIL_MISSING_ON_MDN = fault(
    "mss-nil-missing-on-mdn",
    "Les accusés de réception (MDN) partent sans l'en-tête X-MSS-NIL.",
    "DUI-MSS-08",
)
MES_FIN_MISSING = fault(
    "mss-mes-fin-missing",
    "Les messages envoyés à la BAL d'un usager ne portent pas X-MSS-MES: FIN alors que la BAL applicative ne "
    "traite pas les réponses.",
    "DUI-MSS-09",
)
NO_DSN_REQUEST = fault(
    "mss-no-dsn-request",
    "Les messages ne demandent pas d'accusé de réception DSN (Return-Receipt-To absent).",
    "DUI-MSS-10",
)
REPLY_WITHOUT_REFERENCES = fault(
    "mss-reply-without-references",
    "Une réponse porte In-Reply-To mais pas References.",
    "DUI-MSS-11",
)
REPLY_TO_MISSING = fault(
    "mss-reply-to-missing",
    "Les messages de la BAL applicative n'ont pas d'en-tête Reply-To vers une BAL personnelle ou "
    "organisationnelle.",
    "DUI-MSS-12",
)
XDM_WITHOUT_INDEX = fault(
    "xdm-without-index",
    "L'archive IHE_XDM.zip ne contient ni INDEX.HTM ni README.TXT.",
    "DUI-MSS-13",
)
PATIENT_ID_V2_FORM = fault(
    "xdm-patientid-v2-form",
    "Le patientId de METADATA.XML est écrit sous la forme HL7 v2 PID-3 (…^^^ASIP-SANTE-INS-NIR&OID&ISO^INS) au "
    "lieu de …^^^&OID&ISO^NH.",
    "DUI-MSS-14",
)
STALE_HASH = fault(
    "xdm-stale-hash",
    "Le hash et la taille déclarés dans METADATA.XML sont ceux d'une version antérieure du CDA, pas du fichier "
    "placé dans l'archive.",
    "DUI-MSS-15",
)
TYPE_CODE_FIXED = fault(
    "xdm-typecode-fixed",
    "Le typeCode de METADATA.XML vaut toujours EXPORT_DUI, même pour un DLU.",
    "DUI-MSS-16",
)
CDA_UNSIGNED = fault(
    "xdm-cda-unsigned",
    "Le CDA placé dans l'archive est la version de travail : son legalAuthenticator n'a pas de signatureCode.",
    "DUI-MSS-17",
)
PDF_MISSING = fault(
    "mss-pdf-missing",
    "Le PDF du document n'est pas joint à côté de l'archive IHE_XDM.zip.",
    "DUI-MSS-18",
)
PATIENT_ADDRESS_WITHOUT_KEY = fault(
    "mss-patient-address-without-key",
    "L'adresse de la BAL de l'usager est construite avec le matricule INS sans sa clé (13 caractères).",
    "DUI-MSS-19",
)
PATIENT_MAILBOX_UNQUALIFIED = fault(
    "mss-patient-mailbox-unqualified",
    "Un document est envoyé à la BAL de l'usager alors que son identité n'est pas qualifiée (INS seulement "
    "récupéré).",
    "DUI-MSS-20",
)
INTEGRATION_BY_NAME = fault(
    "mss-integration-by-name",
    "Un document reçu est rattaché au premier usager de même nom de naissance et date de naissance, sans tenir "
    "compte de l'INS.",
    "DUI-MSS-21",
)
MDN_WITHOUT_ORIGINAL_ID = fault(
    "mdn-without-original-message-id",
    "Les MDN n'ont pas de champ Original-Message-ID : l'émetteur ne peut pas les rapprocher de son message.",
    "DUI-MSS-22",
)
UNKNOWN_PATIENT_INTEGRATED = fault(
    "mss-unknown-patient-integrated",
    "Un document pour un INS inconnu est intégré dans un nouveau dossier provisoire et acquitté « processed » au "
    "lieu de l'erreur 902.",
    "DUI-MSS-23",
)
MISSING_INS_REPORTED_UNKNOWN = fault(
    "mss-missing-ins-reported-unknown",
    "Un document sans INS est acquitté par l'erreur 902 (patient inconnu) au lieu de 903 (INS absent).",
    "DUI-MSS-24",
)
INS_MISMATCH_INTEGRATED = fault(
    "mss-ins-mismatch-integrated",
    "Un document dont les traits diffèrent de ceux de l'usager de même matricule est intégré (« processed ») au "
    "lieu de l'erreur 904.",
    "DUI-MSS-25",
)
INCOMPLETE_INS_REPORTED_ABSENT = fault(
    "mss-incomplete-ins-reported-absent",
    "Un INS transmis sans ses traits est traité comme absent (erreur 903 au lieu de 905).",
    "DUI-MSS-26",
)
_KEYS = ("birth_name", "first_given_name", "birth_date", "sex")


def composition(ref: Reference) -> Composition:
    """The composition switches the active faults set."""
    has = ref.has
    return Composition(
        message_id=not has(MESSAGE_ID_MISSING), body_charset="iso-8859-1" if has(BODY_LATIN1) else "utf-8",
        xdm_subject=not has(SUBJECT_WITHOUT_PREFIX), codecda="11488-4" if has(CODECDA_FIXED) else None,
        ins_always_o=has(INS_HEADER_ALWAYS_O), nil_on_mdn=not has(NIL_MISSING_ON_MDN),
        mes_fin=not has(MES_FIN_MISSING), dsn_request=not has(NO_DSN_REQUEST),
        references=not has(REPLY_WITHOUT_REFERENCES), reply_to=not has(REPLY_TO_MISSING),
        xdm_index=not has(XDM_WITHOUT_INDEX), patient_id_v2=has(PATIENT_ID_V2_FORM), stale_hash=has(STALE_HASH),
        type_code=("EXPORT_DUI", "1.2.250.1.213.1.1.4.12", "Export du Dossier Usager Informatisé")
        if has(TYPE_CODE_FIXED) else None,
        pdf=not has(PDF_MISSING), mdn_original_message_id=not has(MDN_WITHOUT_ORIGINAL_ID),
    )


@dataclass(frozen=True)
class Operator:
    """Where and as whom the DUI submits mail: the operator's SMTP endpoint, its CA, the application mailbox."""

    host: str
    port: int
    ca_file: str | None
    mailbox: str
    password: str

    @classmethod
    def configured(cls, services: Mapping[str, Mapping[str, str]]) -> Operator | None:
        """The operator from the DUI's configuration (the run's simulator endpoints); None when absent."""
        conf = services.get("mssante") or {}
        if not conf.get("host") or not conf.get("port"):
            return None
        credentials: dict[str, Any] = {}
        if conf.get("credentials_file"):
            try:
                credentials = json.loads(Path(conf["credentials_file"]).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                credentials = {}
        return cls(conf["host"], int(conf["port"]), conf.get("ca_file"),
                   str(credentials.get("mailbox") or conf.get("mailbox") or ""),
                   str(credentials.get("password") or ""))


class SendFailed(Exception):
    """The operator could not be reached, or refused the session or the message."""


def submit(operator: Operator, relay: tuple[str, int] | None, raw: bytes, recipients: list[str], *,
           cleartext_fallback: bool, auth_login: bool, stall_in_data: bool = False) -> None:
    """Submit one message (blocking): STARTTLS, AUTH PLAIN as the application mailbox, MAIL, RCPT, DATA."""
    host, port = relay or (operator.host, operator.port)
    try:
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT, local_hostname="dui-reference.invalid") as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                context = ssl.create_default_context(cafile=operator.ca_file)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                smtp.starttls(context=context)
                smtp.ehlo()
            elif not cleartext_fallback:
                raise SendFailed(f"le serveur {host}:{port} ne propose pas STARTTLS : rien n'est envoyé en clair")
            smtp.user, smtp.password = operator.mailbox, operator.password
            if auth_login:
                smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
            else:
                smtp.auth("PLAIN", smtp.auth_plain)
            if stall_in_data:
                _stall_in_data(smtp, operator.mailbox, recipients, raw)
                return
            refused = smtp.sendmail(operator.mailbox, recipients, raw)
            if refused:
                raise SendFailed(f"destinataires refusés : {refused}")
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}") from exc


def _stall_in_data(smtp: smtplib.SMTP, sender: str, recipients: list[str], raw: bytes) -> None:
    """Begin DATA, send half the message, then wait for the server to give up (fault smtp-data-never-ends)."""
    smtp.mail(sender)
    for recipient in recipients:
        smtp.rcpt(recipient)
    smtp.putcmd("data")
    smtp.getreply()
    smtp.send(raw[: len(raw) // 2])
    if smtp.sock is not None:
        smtp.sock.settimeout(STALL_LIMIT)
        smtp.sock.recv(1)  # returns when the server closes the session (or raises at the limit)


@dataclass
class _Received:
    """A message the DUI integrated or refused, kept so that a reply can refer to it."""

    inbound: Inbound
    usager_id: str | None
    code: str | None


class Messaging:
    """The reference DUI's messaging state: document versions sent, messages received."""

    def __init__(self, ref: Reference) -> None:
        self.ref = ref
        self.how = composition(ref)
        self.versions: dict[tuple[str, str], Version] = {}
        self.received: dict[str, _Received] = {}
        self.integrated: dict[str, list[bytes]] = {}
        self.lock = threading.Lock()

    def operator(self) -> Operator | None:
        """The configured operator."""
        return Operator.configured(self.ref.services)

    def document(self, usager: Usager, kind: str) -> bytes:
        """The usager's CDA as the messaging component renders it."""
        with self.lock:
            version = new_version(usager.id, kind, self.versions.get((usager.id, kind)))
            self.versions[(usager.id, kind)] = version
        return render(usager, kind, version, Rendering(legal_signature=not self.ref.has(CDA_UNSIGNED)))

    async def send(self, raw: bytes, recipients: list[str], relay: tuple[str, int] | None, *,
                   stall: bool = False) -> None:
        """Submit to the operator without blocking the event loop."""
        operator = self.operator()
        if operator is None:
            raise SendFailed("opérateur MSSanté non configuré")
        options = {"cleartext_fallback": self.ref.has(CLEARTEXT_FALLBACK), "auth_login": self.ref.has(AUTH_LOGIN)}
        if stall:
            def stalled() -> None:
                with contextlib.suppress(SendFailed):
                    submit(operator, relay, raw, recipients, **options, stall_in_data=True)

            # Reported sent at once while the SMTP client hangs in DATA, in a thread of its own: the executor's
            # threads are waited for when the server stops.
            threading.Thread(target=stalled, daemon=True).start()
            return
        await asyncio.to_thread(submit, operator, relay, raw, recipients, **options)

    def usagers(self) -> list[Usager]:
        """Every usager, oldest first."""
        return self.ref.store.all()


def register(app: FastAPI, ref: Reference) -> None:
    """Add ``$send-document`` and ``$receive-message``."""
    ref.operations += ["send-document", "receive-message"]
    messaging = Messaging(ref)

    @app.post("/driver/v1/$send-document")
    async def send_document(request: Request) -> Response:
        body = await json_body(request, ref)
        if isinstance(body, Response):
            return body
        return await _send_document(messaging, body)

    @app.post("/driver/v1/$receive-message")
    async def receive_message(request: Request) -> Response:
        body = await json_body(request, ref)
        if isinstance(body, Response):
            return body
        return await _receive_message(messaging, body)


def _relay(value: Any) -> tuple[str, int] | str | None:
    """``host:port`` of a relay to use instead of the configured operator; a French error when malformed."""
    if value in (None, ""):
        return None
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit():
        return f"relais invalide : {value!r} (hôte:port attendu)"
    return host, int(port)


async def _send_document(messaging: Messaging, body: Any) -> Response:
    ref = messaging.ref
    if not isinstance(body, dict):
        return ref.error(400, "invalid", "objet JSON attendu")
    kind, to = body.get("type"), body.get("to")
    if kind not in DOCUMENT_TYPES:
        return ref.error(400, "value", f"type de document inconnu : {kind!r} (DLU ou TDDUI-CDA)")
    if not isinstance(to, str) or not to:
        return ref.error(400, "required", "destinataire « to » absent (adresse MSSanté ou « patient »)")
    relay = _relay(body.get("relay"))
    if isinstance(relay, str):
        return ref.error(400, "value", relay)
    usager_id = body.get("usager_id")
    usager = ref.store.get(usager_id) if isinstance(usager_id, str) else None
    if usager is None:
        return ref.error(404, "not-found", f"usager inconnu : {usager_id!r}")
    to_patient = to == "patient"
    if to_patient:
        allowed = usager.qualified or (ref.has(PATIENT_MAILBOX_UNQUALIFIED) and usager.ins is not None)
        if not allowed or usager.ins is None:
            return ref.error(409, "business-rule", f"identité {usager.status} : la messagerie de l'usager n'est "
                                                   "ouverte qu'à une identité qualifiée (INS qualifié)")
        matricule = usager.ins[0][:13] if ref.has(PATIENT_ADDRESS_WITHOUT_KEY) else usager.ins[0]
        to = patient_address(matricule)
    reply = None
    if isinstance(body.get("in_reply_to"), str):
        original = messaging.received.get(body["in_reply_to"])
        if original is None:
            return ref.error(404, "not-found", f"message reçu inconnu : {body['in_reply_to']!r}")
        reply = Reply(body["in_reply_to"], original.inbound.references)
    document = messaging.document(usager, kind)
    header = read_cda(document)
    if header is None:
        return ref.error(500, "exception", "document CDA illisible")
    operator = messaging.operator()
    sender = operator.mailbox if operator is not None else ""
    message = document_message(header, document, sender=sender, to=to, to_patient=to_patient, reply=reply,
                               now=datetime.now(UTC), how=messaging.how)
    raw = poisoned_message(ref, message) if to_patient else to_bytes(message)
    try:
        await messaging.send(raw, [to], relay, stall=to_patient and ref.has(SMTP_DATA_NEVER_ENDS))
    except SendFailed as exc:
        return ref.error(502, "transient", f"envoi MSSanté impossible : {exc}")
    return JSONResponse({"message_id": message.get("Message-ID"), "from": sender, "to": to,
                         "subject": str(message["Subject"])})


def _decide(messaging: Messaging, inbound: Inbound) -> tuple[Usager | None, str | None]:
    """The usager the message belongs to and the integration error code (None when integrated)."""
    ref = messaging.ref
    header = read_cda(inbound.cda) if inbound.cda is not None else None
    if header is None:
        return None, "906"
    traits = header.traits
    if header.ins is None:
        return None, "902" if ref.has(MISSING_INS_REPORTED_UNKNOWN) else "903"
    if not all(traits.get(k) for k in _KEYS):
        return None, "903" if ref.has(INCOMPLETE_INS_REPORTED_ABSENT) else "905"
    holders = [u for u in messaging.usagers() if u.qualified and u.ins == header.ins]
    if not holders:
        if ref.has(UNKNOWN_PATIENT_INTEGRATED):
            return _provisional_file(messaging, header.ins, traits), None
        return None, "902"
    usager = holders[-1]  # the most recent file holding this INS (the reference DUI does not merge duplicates)
    if not ref.has(INS_MISMATCH_INTEGRATED) and not _same_traits(usager, traits):
        return None, "904"
    if ref.has(INTEGRATION_BY_NAME):
        usager = next((u for u in messaging.usagers() if u.birth_name == traits.get("birth_name")
                       and u.birth_date.replace("-", "") == traits.get("birth_date")), usager)
    return usager, None


def _same_traits(usager: Usager, traits: Mapping[str, str | None]) -> bool:
    sex = {"F": "F", "M": "M", "I": "UN"}.get(usager.sex, usager.sex)
    expected = {"birth_name": usager.birth_name, "first_given_name": usager.first_given_name,
                "birth_date": usager.birth_date.replace("-", ""), "sex": sex}
    if any(traits.get(k) != v for k, v in expected.items()):
        return False
    given = traits.get("given_names")
    place = traits.get("birth_place_cog")
    return (given is None or given == usager.given_names) and (place is None or place == usager.birth_place_cog)


def _provisional_file(messaging: Messaging, ins: tuple[str, str], traits: Mapping[str, str | None]) -> Usager:
    store = messaging.ref.store
    born = traits.get("birth_date") or "19000101"
    return store.add(Usager(
        id=store.next_id(), birth_name=traits.get("birth_name") or "INCONNU",
        first_given_name=traits.get("first_given_name") or "INCONNU",
        given_names=traits.get("given_names") or traits.get("first_given_name") or "INCONNU",
        birth_date=f"{born[:4]}-{born[4:6]}-{born[6:8]}", sex={"UN": "I"}.get(traits.get("sex") or "I",
                                                                            traits.get("sex") or "I"),
        ins=ins))


async def _receive_message(messaging: Messaging, body: Any) -> Response:
    ref = messaging.ref
    encoded = body.get("eml_base64") if isinstance(body, dict) else None
    if not isinstance(encoded, str):
        return ref.error(400, "required", "eml_base64 absent")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return ref.error(400, "value", "eml_base64 n'est pas du base64")
    if not raw.strip() or len(raw) > MAX_INBOUND_BYTES:
        return ref.error(400, "value", "message vide ou trop volumineux")
    inbound = read_inbound(raw)
    usager, code = _decide(messaging, inbound)
    if usager is not None and inbound.cda is not None:
        with messaging.lock:
            messaging.integrated.setdefault(usager.id, []).append(inbound.cda)
    if inbound.message_id:
        messaging.received[inbound.message_id] = _Received(inbound, usager.id if usager else None, code)
    acknowledgement: dict[str, Any] = {"type": "none"}
    operator = messaging.operator()
    if inbound.notify_to and operator is not None:
        report = mdn(inbound, sender=operator.mailbox, code=code, now=datetime.now(UTC), how=messaging.how)
        try:
            await messaging.send(to_bytes(report), [inbound.notify_to], None)
        except SendFailed as exc:
            return ref.error(502, "transient", f"envoi du MDN impossible : {exc}")
        acknowledgement = {"type": "MDN", "to": inbound.notify_to, "message_id": report.get("Message-ID")}
    return JSONResponse({
        "integrated": usager is not None, "usager_id": usager.id if usager else None, "code": code,
        "disposition": "processed" if code is None else f"processed/Error: {code}",
        "acknowledgement": acknowledgement,
    })
