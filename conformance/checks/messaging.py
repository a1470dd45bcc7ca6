"""MSSanté messaging: the SMTP session, the MIME message, the X-MSS headers, the IHE_XDM.zip and the MDN.

A check reads the message the MSSanté simulator received (``ctx.received``: raw bytes and the session summary),
or a message an assessor validates on its own (``CheckContext.of_document`` with an ``.eml``). The CDA inside the
XDM is judged by the CDA theme's own checks. Sources: shared/reference/messaging-access-referencing.md §1.2-1.3
(SC.MSS ids in each docstring's requirement), IHE ITI-32, RFC 5322 / 8098 / 6522.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from functools import lru_cache
from typing import Any

from conformance.checks import CHECKS, CheckContext, check, evaluate, excerpt
from conformance.core.findings import CheckFailed, CheckSkipped, Finding
from conformance.core.outcomes import CheckStatus, Severity
from conformance.validation import mime, xdm
from conformance.validation.ins import INS_OIDS
from conformance.validation.mime import ParsedMessage, Part

XDM_PREFIX = "XDM/1.0/DDM+"
KO_PREFIX = re.compile(r"^\[KO Intégration système !\]\[(?P<code>\d{3})\] ")
_BIRTH_DATE_SUFFIX = re.compile(r" \d{2}/\d{2}/\d{4}$")
_DISPOSITION = re.compile(r"^\s*(?P<action>manual-action|automatic-action)\s*/\s*(?P<sending>MDN-sent-manually|"
                          r"MDN-sent-automatically)\s*;\s*(?P<type>displayed|deleted|dispatched|processed)"
                          r"(?:\s*/\s*(?P<modifier>[A-Za-z-]+)\s*(?::\s*(?P<detail>.*))?)?\s*$", re.S)
#: CDA checks of the CDA theme run on each CDA found in an XDM, by document type (absent ones are skipped)
CDA_CHECKS = ("cda_well_formed", "cda_structuration_minimale")
CDA_TYPE_CHECKS = {"74207-2": ("cda_dlu_valid",), "EXPORT_DUI": ("cda_tddui_header_valid", "cda_tddui_sections_valid")}
CDA_MEDIA_TYPE = "application/hl7-cda+xml"


# --- reading what the step gives ------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _parse(raw: bytes) -> ParsedMessage:
    # Several checks read the same message in one step: parse it once (bytes cache their hash).
    return mime.parse_message(raw)


def _raw(ctx: CheckContext) -> bytes:
    received = ctx.received
    if received is not None:
        if received.media_type != "message/rfc822":
            raise CheckSkipped("ce qui a été reçu n'est pas un message")
        return bytes(received.payload)
    return ctx.response.body


def message(ctx: CheckContext) -> ParsedMessage:
    """The message of the step; an unreadable one stops the check with its finding."""
    parsed = _parse(_raw(ctx))
    if not parsed.readable:
        raise CheckFailed(*parsed.findings)
    return parsed


def _summary(ctx: CheckContext) -> Mapping[str, Any]:
    if ctx.received is None:
        raise CheckSkipped("aucune session SMTP observée à cette étape (message validé hors exécution)")
    summary: Mapping[str, Any] = ctx.received.summary
    return summary


@dataclass(frozen=True)
class XdmContent:
    """The message's IHE_XDM.zip as read, its metadata, and its documents with their CDA facts."""

    part: Part
    archive: xdm.Archive
    metadata: xdm.Metadata | None
    documents: tuple[tuple[xdm.DocumentEntry | None, str, bytes, xdm.CdaFacts | None], ...]

    def unjudged(self, *, as_cda: bool = True) -> list[str]:
        """Documents of SUBSET01 present but not read (entry refused), or not readable as CDA (XML refused)."""
        refused = [n for n in self.archive.refused if n.upper().startswith("IHE_XDM/SUBSET01/")
                   and n.upper() != xdm.METADATA_PATH and self.archive.get(n) is None]
        return refused + ([name for _, name, _, facts in self.documents if facts is None] if as_cda else [])

    def skip_if_unjudged(self, what: str, *, as_cda: bool = True) -> None:
        """Skip when documents are present but none could be read: the archive and CDA requirements say why."""
        # One cause, said once: the other checks must not turn an unreadable document into « aucun CDA ».
        unjudged = self.unjudged(as_cda=as_cda)
        if unjudged and not (as_cda and any(facts is not None for *_, facts in self.documents)):
            raise CheckSkipped(f"{', '.join(unjudged)} présent(s) dans {xdm.ARCHIVE_NAME} mais illisible(s) : "
                               f"{what} ne peut pas être jugé (voir les exigences sur l'archive XDM et le CDA joint)")


def _read_xdm(data: bytes) -> tuple[xdm.Archive, xdm.Metadata | None]:
    archive = xdm.read_zip(data)
    found = archive.get(xdm.METADATA_PATH)
    return archive, xdm.parse_metadata(found[1], archive.where(found[0])) if found else None


def xdm_content(parsed: ParsedMessage) -> XdmContent | None:
    """The IHE_XDM.zip attachment read safely; None when the message has none."""
    return _xdm_content(parsed.raw)


@lru_cache(maxsize=16)
def _xdm_content(raw: bytes) -> XdmContent | None:
    # Keyed on the raw message (parsed once by _parse): every check of a step shares one reading.
    parsed = _parse(raw)
    part = parsed.find_filename(xdm.ARCHIVE_NAME)
    if part is None:
        return None
    archive, metadata = _read_xdm(part.payload())
    documents: list[tuple[xdm.DocumentEntry | None, str, bytes, xdm.CdaFacts | None]] = []
    if metadata is not None and metadata.entries:
        for entry in metadata.entries:
            if not entry.uri:
                continue
            found = archive.get(f"IHE_XDM/SUBSET01/{entry.uri}")
            if found is not None and (entry.mime_type or "text/xml").endswith("xml"):
                documents.append((entry, found[0], found[1], xdm.cda_facts(found[1])))
    else:
        for name, data in archive.entries.items():
            if name.upper().startswith("IHE_XDM/SUBSET01/") and name.upper().endswith(".XML") \
                    and name.upper() != xdm.METADATA_PATH:
                documents.append((None, name, data, xdm.cda_facts(data)))
    return XdmContent(part, archive, metadata, tuple(documents))


def _require_xdm(parsed: ParsedMessage) -> XdmContent:
    content = xdm_content(parsed)
    if content is None:
        raise CheckFailed(Finding(rule="xdm-absent", location="message", expected=f"pièce jointe {xdm.ARCHIVE_NAME}",
                                  actual=[p.filename or p.media_type for p in parsed.attachments()],
                                  message=f"Le message ne contient pas de pièce jointe {xdm.ARCHIVE_NAME}"))
    return content


def _who(facts: xdm.CdaFacts | None) -> str:
    """The usager a document is about, as an assessor recognises it."""
    if facts is None:
        return "usager inconnu (CDA illisible)"
    traits = facts.traits
    name = " ".join(v for v in (traits.get("birth_name"), traits.get("first_given_name")) if v) or "sans nom"
    born = traits.get("birth_date") or ""
    return f"usager {name}" + (f" né(e) le {born[6:8]}/{born[4:6]}/{born[:4]}" if len(born) >= 8 else "")


def _header_words(parsed: ParsedMessage, name: str) -> list[str]:
    return [w for value in parsed.headers(name) for w in re.split(r"[\s,;]+", value.strip()) if w]


# --- SMTP session ---------------------------------------------------------------------------------------------


@check
def smtp_no_cleartext(ctx: CheckContext) -> Iterator[Finding]:
    """Ni identifiants ni message ne partent sans TLS : STARTTLS d'abord, et refus d'un relais qui ne le propose pas."""
    summary = _summary(ctx)
    where = f"session SMTP ({summary.get('listener', '?')})"
    if summary.get("secret_in_clear"):
        yield Finding(rule="identifiants-en-clair", location=where, expected="AUTH seulement après STARTTLS",
                      actual=f"AUTH {summary.get('auth')} sans TLS",
                      message=f"Le DUI a transmis ses identifiants ({summary.get('auth')} pour "
                              f"{summary.get('auth_identity')}) sans chiffrement, à un serveur qui ne proposait pas "
                              "STARTTLS")
    if summary.get("mail_in_clear") or (summary.get("kind") == "message" and not summary.get("tls")):
        yield Finding(rule="message-en-clair", location=where, expected="transaction SMTP sous TLS",
                      actual="MAIL FROM sans TLS",
                      message="Le DUI a engagé l'envoi d'un message (MAIL FROM) sans chiffrement TLS")


@check
def smtp_authenticated_as_mailbox(ctx: CheckContext, *, mailbox: str) -> Iterator[Finding]:
    """Le DUI s'authentifie par SASL PLAIN avec l'adresse de sa BAL applicative et envoie en son nom."""
    summary = _summary(ctx)
    mailbox = mailbox.lower()
    if summary.get("auth") != "PLAIN":
        yield Finding(rule="mecanisme-auth", location="session SMTP, commande AUTH", expected="AUTH PLAIN",
                      actual=summary.get("auth"),
                      message=f"Le DUI s'est authentifié par {summary.get('auth') or 'aucun mécanisme'} au lieu de "
                              "SASL PLAIN (BAL applicative, SC.MSS/CONF.12)")
    if (summary.get("auth_identity") or "").lower() != mailbox:
        yield Finding(rule="identifiant-auth", location="session SMTP, commande AUTH", expected=mailbox,
                      actual=summary.get("auth_identity"),
                      message="L'identifiant d'authentification n'est pas l'adresse de la BAL applicative")
    if summary.get("kind") == "message":
        if (summary.get("mail_from") or "") != mailbox:
            yield Finding(rule="expediteur-enveloppe", location="session SMTP, MAIL FROM", expected=mailbox,
                          actual=summary.get("mail_from"),
                          message="L'expéditeur de l'enveloppe (MAIL FROM) n'est pas la BAL authentifiée")
        sender = mime.addresses(message(ctx).header("From"))
        if sender != [mailbox]:
            yield Finding(rule="expediteur-from", location="en-tête From", expected=mailbox, actual=sender or None,
                          message="L'en-tête From ne désigne pas la BAL applicative authentifiée")


# --- MIME and headers -----------------------------------------------------------------------------------------


@check
def message_id_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Le message porte un Message-ID unique de forme RFC 5322 <identifiant@domaine> (SC.MSS.10)."""
    yield from mime.message_id_findings(message(ctx))


@check
def message_utf8(ctx: CheckContext) -> Iterator[Finding]:
    """Message MIME bien formé, corps text/plain ou multipart/alternative, textes et en-têtes en UTF-8."""
    parsed = _parse(_raw(ctx))
    yield from mime.structure_findings(parsed)
    yield from mime.utf8_findings(parsed)


def _disposition(parsed: ParsedMessage) -> tuple[str | None, Part | None]:
    """The Disposition field of an MDN and the part holding it."""
    part = next((p for p in parsed.parts if p.media_type == "message/disposition-notification"), None)
    if part is None:
        return None, None
    return _notification_fields(part).get("disposition"), part


def _notification_fields(part: Part) -> dict[str, str]:
    """Fields of a message/disposition-notification part, by lower-cased name."""
    payload = part.node.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return {str(k).lower(): str(v).strip() for k, v in payload[0].items()}
    text = part.payload().decode("utf-8", "replace") if not isinstance(payload, str) else payload
    fields: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and last:
            fields[last] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            last = name.strip().lower()
            fields[last] = value.strip()
    return fields


@check
def mss_subject_convention(ctx: CheckContext) -> Iterator[Finding]:
    """L'objet suit la convention XDM/1.0/DDM+<libellé> <NOM> <prénom> <date>, préfixée [KO …][code] sur erreur."""
    parsed = message(ctx)
    subject = (parsed.header("Subject") or "").strip()
    where = "en-tête Subject"
    if parsed.media_type == "multipart/report":
        disposition, _ = _disposition(parsed)
        match = _DISPOSITION.match(disposition or "")
        code = None
        if match and (match["modifier"] or "").lower() == "error":
            code = (match["detail"] or "").split("^", 1)[0].strip() or None
        ko = KO_PREFIX.match(subject)
        if code is not None and (ko is None or ko["code"] != code):
            yield Finding(rule="objet-ko", location=where, expected=f"[KO Intégration système !][{code}] {XDM_PREFIX}…",
                          actual=subject, message=f"L'accusé d'erreur {code} n'a pas l'objet "
                                                  f"« [KO Intégration système !][{code}] XDM/1.0/DDM+… »")
        elif code is None and ko is not None:
            yield Finding(rule="objet-ko", location=where, expected=f"{XDM_PREFIX}…", actual=subject,
                          message="Un accusé « processed » a un objet d'erreur [KO Intégration système !]")
        subject = subject[ko.end():] if ko else subject
    elif xdm_content(parsed) is None:
        raise CheckSkipped("le message ne porte pas de document structuré (IHE_XDM.zip)")
    if not subject.startswith(XDM_PREFIX):
        yield Finding(rule="objet-xdm", location=where, expected=f"{XDM_PREFIX}<libellé> <NOM> <prénom> <date>",
                      actual=subject or None,
                      message=f"L'objet « {subject} » ne commence pas par {XDM_PREFIX}")
    elif not _BIRTH_DATE_SUFFIX.search(subject):
        yield Finding(rule="objet-date", location=where, expected="… JJ/MM/AAAA", actual=subject,
                      severity=Severity.WARNING,
                      message="L'objet ne se termine pas par la date de naissance de l'usager (JJ/MM/AAAA)")


@check
def mss_codecda_matches(ctx: CheckContext) -> Iterator[Finding]:
    """X-MSS-CODECDA porte le code de chaque CDA de l'archive XDM, et est absent sans CDA (SC.MSS/CONF.15)."""
    parsed = message(ctx)
    declared = _header_words(parsed, "X-MSS-CODECDA")
    content = xdm_content(parsed)
    codes = sorted({f.code for _, _, _, f in content.documents if f is not None and f.code}) if content else []
    if not codes:
        if content is not None:
            content.skip_if_unjudged("X-MSS-CODECDA")
        if declared:
            yield Finding(rule="codecda-sans-cda", location="en-tête X-MSS-CODECDA", expected="absent",
                          actual=declared, message="X-MSS-CODECDA est présent alors que le message ne porte aucun "
                                                   "CDA dans une archive IHE_XDM.zip")
        return
    if sorted(set(declared)) != codes:
        yield Finding(rule="codecda", location="en-tête X-MSS-CODECDA", expected=codes, actual=declared or None,
                      message=f"X-MSS-CODECDA vaut « {' '.join(declared) or 'absent'} » alors que le CDA joint est "
                              f"de code {', '.join(codes)}")


@check
def mss_ins_header_consistent(ctx: CheckContext) -> Iterator[Finding]:
    """X-MSS-INS vaut O si l'archive XDM porte un INS qualifié (INS et 4 traits), N sinon (SC.MSS/CONF.14)."""
    parsed = message(ctx)
    values = [v.strip() for v in parsed.headers("X-MSS-INS")]
    content = xdm_content(parsed)
    facts = [f for _, _, _, f in content.documents if f is not None] if content else []
    if not facts:
        if content is not None:
            content.skip_if_unjudged("X-MSS-INS")
        if values:
            yield Finding(rule="ins-sans-cda", location="en-tête X-MSS-INS", expected="absent", actual=values,
                          message="X-MSS-INS est présent alors que le message ne porte aucun CDA XDM")
        return
    qualified = [f for f in facts if f.qualified_ins]
    expected = "O" if qualified else "N"
    if values != [expected]:
        why = (f"l'archive porte l'INS qualifié de l'{_who(qualified[0])}" if qualified
               else "aucun CDA de l'archive ne porte d'INS avec ses traits (identité non qualifiée)")
        yield Finding(rule="x-mss-ins", location="en-tête X-MSS-INS", expected=expected, actual=values or None,
                      message=f"X-MSS-INS vaut « {', '.join(values) or 'absent'} » alors que {why}")


@check
def mss_nil_present(ctx: CheckContext) -> Iterator[Finding]:
    """Tout message envoyé porte X-MSS-NIL, le numéro d'identification du logiciel référencé (SC.MSS/CONF.16)."""
    parsed = message(ctx)
    values = [v.strip() for v in parsed.headers("X-MSS-NIL")]
    kind = "L'accusé de réception" if parsed.media_type == "multipart/report" else "Le message"
    if not values or not values[0]:
        yield Finding(rule="x-mss-nil", location="en-tête X-MSS-NIL", expected="identifiant du logiciel référencé",
                      actual=None, message=f"{kind} ne porte pas l'en-tête X-MSS-NIL")
    elif len(values) > 1:
        yield Finding(rule="x-mss-nil-multiple", location="en-tête X-MSS-NIL", expected="une valeur", actual=values,
                      message=f"{kind} porte {len(values)} en-têtes X-MSS-NIL")


@check
def mss_mes_fin(ctx: CheckContext) -> Iterator[Finding]:
    """Un message à la BAL d'un usager, sans réponse attendue, porte X-MSS-MES: FIN (SC.MSS/CONF.21)."""
    values = [v.strip().upper() for v in message(ctx).headers("X-MSS-MES")]
    if values != ["FIN"]:
        yield Finding(rule="x-mss-mes", location="en-tête X-MSS-MES", expected="FIN", actual=values or None,
                      message="Le message à l'usager, envoyé d'une BAL applicative qui ne lit pas les réponses, ne "
                              "porte pas X-MSS-MES: FIN")


@check
def mss_receipt_requested(ctx: CheckContext) -> Iterator[Finding]:
    """Le message demande un MDN (Disposition-Notification-To) et un DSN (Return-Receipt-To) (UX.33, SC.MSS.16)."""
    parsed = message(ctx)
    for name, what in (("Disposition-Notification-To", "un accusé de lecture/traitement (MDN)"),
                       ("Return-Receipt-To", "un accusé de réception (DSN)")):
        found = mime.addresses(parsed.header(name))
        if len(found) != 1:
            yield Finding(rule=f"accuse-{name.lower()}", location=f"en-tête {name}", expected="une adresse MSSanté",
                          actual=parsed.header(name), message=f"Le message ne demande pas {what} : en-tête {name} "
                                                              "absent ou sans adresse")


@check
def mss_reply_headers(ctx: CheckContext, *, original_message_id: str,
                      original_references: Sequence[str] = ()) -> Iterator[Finding]:
    """Une réponse porte In-Reply-To (Message-ID d'origine) et References (fil d'origine complété) (SC.MSS.11)."""
    parsed = message(ctx)
    in_reply_to = mime.msg_ids(parsed.header("In-Reply-To"))
    references = mime.msg_ids(parsed.header("References"))
    if in_reply_to != [original_message_id]:
        yield Finding(rule="in-reply-to", location="en-tête In-Reply-To", expected=original_message_id,
                      actual=parsed.header("In-Reply-To"),
                      message="La réponse ne désigne pas le message d'origine dans In-Reply-To")
    expected = [*original_references, original_message_id]
    if references[-len(expected):] != expected:
        yield Finding(rule="references", location="en-tête References", expected=" ".join(expected),
                      actual=parsed.header("References"),
                      message="La réponse ne prolonge pas le fil du message d'origine dans References "
                              "(References d'origine puis son Message-ID)")


@check
def mss_application_mailbox_identified(ctx: CheckContext) -> Iterator[Finding]:
    """Message d'une BAL applicative : intitulé, mention d'envoi automatique, Reply-To humain (SC.MSS.13/15)."""
    parsed = message(ctx)
    sender = parsed.header("From") or ""
    if not re.match(r'^\s*"?[^<"@]+"?\s*<', sender):
        yield Finding(rule="intitule-bal", location="en-tête From", expected="Intitulé de la BAL <adresse>",
                      actual=sender or None, message="L'expéditeur n'est pas présenté avec l'intitulé de la BAL "
                                                     "(SC.MSS.15)")
    reply_to = mime.addresses(parsed.header("Reply-To"))
    own = mime.addresses(sender)
    if not reply_to or reply_to == own:
        yield Finding(rule="reply-to", location="en-tête Reply-To", expected="BAL personnelle ou organisationnelle",
                      actual=parsed.header("Reply-To"),
                      message="Le message d'une BAL applicative n'indique pas, par Reply-To, une BAL personnelle ou "
                              "organisationnelle à laquelle répondre")
    body = mime.body_part(parsed)
    text = body.text() if body is not None else ""
    if "automatiquement" not in text.lower():
        yield Finding(rule="mention-automatique", location=body.label if body else "corps du message",
                      expected="mention « message généré automatiquement »", actual=excerpt(text.encode(), 80),
                      message="Le corps ne dit pas que le message a été généré automatiquement (SC.MSS.13)")


@check
def mss_recipient_is(ctx: CheckContext, *, address: str) -> Iterator[Finding]:
    """Le message est adressé (enveloppe et To) à la BAL attendue, par exemple <INS>@patient.mssante.fr."""
    parsed = message(ctx)
    address = address.lower()
    envelope = [r for r in str((ctx.received.summary if ctx.received else {}).get("recipients") or "").split(",")
                if r]
    to = mime.addresses(parsed.header("To"))
    if ctx.received is not None and address not in envelope:
        yield Finding(rule="destinataire-enveloppe", location="session SMTP, RCPT TO", expected=address,
                      actual=envelope or None, message=f"Le message n'a pas été remis à {address} (RCPT TO)")
    if address not in to:
        yield Finding(rule="destinataire-to", location="en-tête To", expected=address, actual=parsed.header("To"),
                      message=f"L'en-tête To ne désigne pas {address}")


@check
def mss_pdf_attached(ctx: CheckContext) -> Iterator[Finding]:
    """Le PDF (PDF/A-1) du document voyage à côté de l'archive IHE_XDM.zip (SC.MSS.17.MS1)."""
    parsed = message(ctx)
    pdfs = [p for p in parsed.attachments() if p.media_type == "application/pdf"
            or (p.filename or "").lower().endswith(".pdf")]
    if not pdfs:
        yield Finding(rule="pdf-absent", location="message", expected="pièce jointe application/pdf",
                      actual=[p.filename or p.media_type for p in parsed.attachments()],
                      message="Le message ne contient pas le PDF du document à côté de l'archive IHE_XDM.zip")
        return
    for part in pdfs:
        data = part.payload()
        if not data.startswith(b"%PDF-"):
            yield Finding(rule="pdf-invalide", location=part.label, expected="%PDF-", actual=excerpt(data, 16),
                          message=f"{part.label} n'est pas un fichier PDF")
        elif not re.search(rb"pdfaid:part\s*(?:>|=\s*[\"'])\s*1", data):
            yield Finding(rule="pdfa-non-declare", location=part.label, expected="PDF/A-1 (XMP pdfaid:part 1)",
                          actual=None, severity=Severity.WARNING,
                          message=f"{part.label} ne se déclare pas PDF/A-1 (métadonnées XMP pdfaid:part)")


# --- IHE_XDM.zip and its metadata -----------------------------------------------------------------------------


@check
def xdm_archive_valid(ctx: CheckContext) -> Iterator[Finding]:
    """IHE_XDM.zip : README.TXT, INDEX.HTM, SUBSET01/METADATA.XML ; ni bombe, ni chemin sortant, ni imbrication."""
    content = _require_xdm(message(ctx))
    if content.part.media_type not in ("application/zip", "application/x-zip-compressed", "application/octet-stream"):
        yield Finding(rule="xdm-type", location=content.part.label, expected="application/zip",
                      actual=content.part.media_type, message=f"{content.part.label} n'est pas typée application/zip")
    yield from xdm.layout_findings(content.archive)


def _metadata(content: XdmContent) -> xdm.Metadata:
    if content.metadata is None:
        raise CheckSkipped(f"{xdm.ARCHIVE_NAME} n'a pas de {xdm.METADATA_PATH} lisible (voir l'exigence sur "
                           "l'archive XDM)")
    return content.metadata


@check
def xdm_patient_id_matches_ins(ctx: CheckContext) -> Iterator[Finding]:
    """PatientId de METADATA.XML = INS du CDA sous la forme matricule^^^&OID&ISO^NH ; sans INS, jamais un OID INS."""
    content = _require_xdm(message(ctx))
    metadata = _metadata(content)
    for entry, name, _, facts in content.documents:
        if entry is None or facts is None:
            continue
        values = [("XDSDocumentEntry.patientId", entry.label, entry.patient_id),
                  ("XDSSubmissionSet.patientId", f"{xdm.ARCHIVE_NAME} › {xdm.METADATA_PATH} › RegistryPackage",
                   metadata.set_patient_id)]
        for label, where, value in values:
            if facts.ins is not None:
                expected = xdm.ins_cx(*facts.ins)
                if value != expected:
                    yield Finding(rule="patientid-ins", location=f"{where} › {label}", expected=expected,
                                  actual=value, message=f"{name} ({_who(facts)}) : {label} ne reprend pas l'INS du "
                                                        "CDA sous la forme matricule^^^&OID&ISO^NH")
            else:
                parsed_cx = xdm.parse_cx(value)
                if parsed_cx is not None and parsed_cx[1] in INS_OIDS:
                    yield Finding(rule="patientid-ins-non-qualifie", location=f"{where} › {label}",
                                  expected="identifiant local (…^PI)", actual=value,
                                  message=f"{name} ({_who(facts)}) : {label} porte un INS alors que le CDA n'en "
                                          "transmet pas (identité non qualifiée)")


@check
def xdm_hashes_match(ctx: CheckContext) -> Iterator[Finding]:
    """Chaque document de METADATA.XML existe dans SUBSET01 avec l'empreinte SHA-1 et la taille déclarées."""
    content = _require_xdm(message(ctx))
    findings = list(xdm.file_findings(_metadata(content), content.archive))
    if not findings:
        content.skip_if_unjudged("l'empreinte des documents", as_cda=False)
    yield from findings


@check
def xdm_metadata_matches_cda(ctx: CheckContext) -> Iterator[Finding]:
    """METADATA.XML est complet et reprend le CDA : typeCode, confidentialité, langue, uniqueId, date, structure."""
    content = _require_xdm(message(ctx))
    metadata = _metadata(content)
    yield from xdm.structure_findings(metadata)
    for entry, name, _, facts in content.documents:
        if entry is None:
            continue
        if facts is None:
            raise CheckSkipped(f"{name} n'est pas un CDA lisible (voir l'exigence sur le CDA joint)")
        yield from _codes_findings(entry, name, facts)


def _codes_findings(entry: xdm.DocumentEntry, name: str, facts: xdm.CdaFacts) -> Iterator[Finding]:
    who = f"{name} ({_who(facts)})"

    def code_of(kind: str) -> xdm.Code | None:
        codes = entry.codes.get(kind) or []
        return codes[0] if codes else None

    type_code = code_of("typeCode")
    expected_type = f"{facts.code} ({facts.code_system})"
    if type_code is None or (type_code.code, type_code.scheme) != (facts.code, facts.code_system):
        yield Finding(rule="typecode", location=f"{entry.label} › typeCode", expected=expected_type,
                      actual=str(type_code) if type_code else None,
                      message=f"{who} : le typeCode des métadonnées n'est pas le code du CDA (ClinicalDocument/code)")
    class_code = code_of("classCode")
    if class_code is not None and class_code.scheme not in ("1.2.250.1.213.1.1.4.1", "URN"):
        yield Finding(rule="classcode-systeme", location=f"{entry.label} › classCode",
                      expected="TRE_A03-ClasseDocument-CISIS (1.2.250.1.213.1.1.4.1)", actual=str(class_code),
                      message=f"{who} : classCode hors de la terminologie des classes de documents CI-SIS")
    confidentiality = [c.code for c in entry.codes.get("confidentialityCode") or []]
    if facts.confidentiality and facts.confidentiality not in confidentiality:
        yield Finding(rule="confidentialite", location=f"{entry.label} › confidentialityCode",
                      expected=facts.confidentiality, actual=confidentiality or None,
                      message=f"{who} : la confidentialité des métadonnées n'est pas celle du CDA")
    if facts.language and entry.slot("languageCode") != facts.language:
        yield Finding(rule="langue", location=f"{entry.label} › languageCode", expected=facts.language,
                      actual=entry.slot("languageCode"), message=f"{who} : languageCode différent de celui du CDA")
    if facts.document_id and entry.unique_id != facts.document_id:
        yield Finding(rule="uniqueid", location=f"{entry.label} › XDSDocumentEntry.uniqueId",
                      expected=facts.document_id, actual=entry.unique_id,
                      message=f"{who} : uniqueId différent de l'identifiant du CDA (ClinicalDocument/id)")
    expected_time = xdm.utc_timestamp(facts.effective_time)
    created = entry.slot("creationTime")
    if expected_time and created and not (created.startswith(expected_time) or expected_time.startswith(created)):
        yield Finding(rule="creationtime", location=f"{entry.label} › creationTime", expected=expected_time,
                      actual=created, message=f"{who} : creationTime n'est pas la date du CDA (effectiveTime, en UTC)")
    for kind, expected_code in (("healthcareFacilityTypeCode", facts.facility),
                                ("practiceSettingCode", facts.practice)):
        actual = code_of(kind)
        if expected_code and actual is not None and actual.code != expected_code:
            yield Finding(rule=kind.lower(), location=f"{entry.label} › {kind}", expected=expected_code,
                          actual=str(actual), message=f"{who} : {kind} différent de celui du CDA")


@check
def xdm_cda_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Chaque CDA de l'archive XDM est valide selon les règles CDA (structuration minimale CI-SIS et volet)."""
    content = _require_xdm(message(ctx))
    if not content.documents:
        content.skip_if_unjudged("le CDA joint")
        yield Finding(rule="cda-absent", location=content.archive.where("IHE_XDM/SUBSET01/"),
                      expected="au moins un document CDA", actual=sorted(content.archive.entries),
                      message=f"{xdm.ARCHIVE_NAME} ne contient aucun document CDA")
        return
    names = [n for n in CDA_CHECKS if n in CHECKS]
    if not names:
        raise CheckSkipped("les vérifications CDA ne sont pas disponibles dans cette installation")
    for _, name, data, facts in content.documents:
        where = content.archive.where(name)
        document_ctx = CheckContext.of_document(data, CDA_MEDIA_TYPE, where)
        by_type = CDA_TYPE_CHECKS.get(facts.code or "", ()) if facts else ()
        said = False
        for check_name in [*names, *(c for c in by_type if c in CHECKS)]:
            result = evaluate(check_name, {}, document_ctx)
            if result.status is CheckStatus.ERROR:
                raise RuntimeError(f"{check_name} sur {where} : {result.message}")
            for finding in result.findings:
                if finding.rule == "document-illisible" and said:
                    continue  # the well-formedness check already said why this document cannot be read
                said = True
                yield finding.model_copy(update={
                    "rule": f"{check_name}:{finding.rule}", "check": None,
                    "location": f"{where} › {finding.location}" if finding.location else where,
                    "message": f"{name} ({_who(facts)}) : {finding.message}"})


# --- acknowledgements (MDN) and integration -------------------------------------------------------------------


@check
def mdn_valid(ctx: CheckContext, *, original_message_id: str | None = None) -> Iterator[Finding]:
    """MDN multipart/report : texte, compte rendu complet, message d'origine (RFC 8098, RFC 6522, volet trans-lps).

    The report (message/disposition-notification) carries Disposition, Final-Recipient, Original-Message-ID and
    Original-Recipient; ``original_message_id`` is the Message-ID of the message acknowledged.
    """
    parsed = message(ctx)
    root = parsed.parts[0]
    report_type = (root.node.get_param("report-type") or "")
    if root.media_type != "multipart/report" or str(report_type).lower() != "disposition-notification":
        yield Finding(rule="mdn-type", location="en-tête Content-Type",
                      expected="multipart/report; report-type=disposition-notification",
                      actual=f"{root.media_type}; report-type={report_type or 'absent'}",
                      message="L'accusé n'est pas un MDN multipart/report de type disposition-notification")
        return
    children = [p for p in parsed.parts if p.path.count(".") == 0 and p.path]
    kinds = [p.media_type for p in children]
    if kinds[:2] != ["text/plain", "message/disposition-notification"]:
        expected = ["text/plain", "message/disposition-notification", "message/rfc822"]
        yield Finding(rule="mdn-parties", location="message", expected=expected, actual=kinds,
                      message="Les deux premières parties du MDN ne sont pas le texte lisible puis le compte rendu "
                              "message/disposition-notification")
    if "message/rfc822" not in kinds[2:3]:
        yield Finding(rule="mdn-original", location="message", expected="3e partie message/rfc822", actual=kinds,
                      message="Le MDN ne restitue pas le message d'origine en troisième partie (message/rfc822)")
    part = next((p for p in children if p.media_type == "message/disposition-notification"), None)
    if part is None:
        return
    fields = _notification_fields(part)
    for name in ("Disposition", "Final-Recipient", "Original-Message-ID", "Original-Recipient"):
        if not fields.get(name.lower()):
            yield Finding(rule=f"mdn-{name.lower()}", location=f"{part.label}, champ {name}", expected=name,
                          actual=None, message=f"Le compte rendu du MDN n'a pas de champ {name}")
    if fields.get("disposition") and not _DISPOSITION.match(fields["disposition"]):
        yield Finding(rule="mdn-disposition-forme", location=f"{part.label}, champ Disposition",
                      expected="action-mode/sending-mode; type[/modificateur]", actual=fields["disposition"],
                      message="Le champ Disposition n'a pas la forme RFC 8098")
    original = fields.get("original-message-id")
    if original_message_id and original and original.strip() != original_message_id:
        yield Finding(rule="mdn-original-message-id", location=f"{part.label}, champ Original-Message-ID",
                      expected=original_message_id, actual=original,
                      message="Original-Message-ID ne désigne pas le message reçu")


@check
def mdn_disposition_is(ctx: CheckContext, *, outcome: str, code: str | None = None) -> Iterator[Finding]:
    """Le MDN rend compte de l'intégration : processed, ou processed/Error avec le code d'erreur (902 à 906)."""
    parsed = message(ctx)
    disposition, part = _disposition(parsed)
    where = f"{part.label}, champ Disposition" if part else "MDN"
    match = _DISPOSITION.match(disposition or "")
    if match is None:
        yield Finding(rule="disposition-absente", location=where, expected=outcome, actual=disposition,
                      message="Le MDN n'a pas de champ Disposition lisible")
        return
    error = (match["modifier"] or "").lower() == "error"
    actual_code = (match["detail"] or "").split("^", 1)[0].strip() if error else None
    if outcome == "processed":
        if match["type"] != "processed" or match["modifier"]:
            yield Finding(rule="disposition", location=where, expected="processed", actual=disposition,
                          message=f"Le document aurait dû être intégré (processed) ; le DUI a répondu « "
                                  f"{match['type']}{'/' + match['modifier'] if match['modifier'] else ''}"
                                  f"{' ' + actual_code if actual_code else ''} »")
        return
    if not error or actual_code != code:
        yield Finding(rule="disposition-erreur", location=where, expected=f"processed/Error: {code}^…",
                      actual=disposition,
                      message=f"Le DUI devait refuser l'intégration avec l'erreur {code} ; il a répondu "
                              f"« {'erreur ' + actual_code if actual_code else match['type']} »")


@check
def mss_integration_result(ctx: CheckContext, *, integrated: bool, usager_id: str | None = None,
                           code: str | None = None) -> Iterator[Finding]:
    """Le DUI rapporte l'intégration du message reçu : dans le dossier attendu, ou refusée avec le bon code."""
    body = ctx.json()
    if not isinstance(body, dict):
        raise CheckFailed(Finding(rule="resultat-absent", location="corps de la réponse", expected="objet JSON",
                                  actual=excerpt(ctx.response.body), message="Résultat d'intégration illisible"))
    if bool(body.get("integrated")) != integrated:
        if integrated:
            message = (f"Le document aurait dû être intégré au dossier de l'usager ; le DUI l'a refusé "
                       f"(code {body.get('code') or 'absent'})")
        else:
            message = (f"Le document aurait dû être refusé à l'intégration automatique (erreur {code}) ; le DUI "
                       f"l'a intégré au dossier {body.get('usager_id') or '(non précisé)'}")
        yield Finding(rule="integration", location="$.integrated", expected=integrated, actual=body.get("integrated"),
                      message=message)
    if integrated and usager_id is not None and body.get("usager_id") != usager_id:
        yield Finding(rule="usager", location="$.usager_id", expected=usager_id, actual=body.get("usager_id"),
                      message=f"Le document a été rattaché au dossier {body.get('usager_id')} au lieu de celui de "
                              f"l'usager dont il porte l'INS ({usager_id})")
    # A document integrated by mistake has no error code: that is the finding above, not a second one.
    if not integrated and code is not None and not body.get("integrated") and str(body.get("code")) != code:
        yield Finding(rule="code", location="$.code", expected=code, actual=body.get("code"),
                      message=f"Code d'erreur d'intégration {body.get('code') or 'absent'} au lieu de {code}")


# --- validation of a message on its own (CLI) -----------------------------------------------------------------

#: checks that judge a document message without knowing the scenario that produced it
DOCUMENT_CHECKS = ("message_utf8", "message_id_valid", "mss_subject_convention", "mss_nil_present",
                   "mss_codecda_matches", "mss_ins_header_consistent", "mss_receipt_requested",
                   "mss_application_mailbox_identified", "xdm_archive_valid", "xdm_patient_id_matches_ins",
                   "xdm_hashes_match", "xdm_metadata_matches_cda", "xdm_cda_valid", "mss_pdf_attached")
MDN_CHECKS = ("message_utf8", "message_id_valid", "mss_subject_convention", "mss_nil_present", "mdn_valid")


def standalone_checks(raw: bytes) -> tuple[str, ...]:
    """The checks ``validate message`` runs: an MDN's, or a document message's."""
    parsed = _parse(raw)
    if parsed.readable and parsed.media_type == "multipart/report":
        return MDN_CHECKS
    return DOCUMENT_CHECKS
