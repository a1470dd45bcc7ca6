"""The reference DUI's MSSanté messages: the document mail (IHE_XDM.zip and PDF), the MDN, and inbound reading.

Written from shared/reference/messaging-access-referencing.md §1.2-1.3 and the ITI-32 XDM layout; the switches in
``Composition`` let the named faults compose a message wrongly. This module knows nothing about the checks: it
parses inbound mail with the standard library and its own capped zip reading.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid
from xml.sax.saxutils import escape

from lxml import etree

HL7 = "urn:hl7-org:v3"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NS = {"hl7": HL7}
INS_OIDS = frozenset({"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"})
#: the software identification number the referencing gives (X-MSS-NIL, SC.MSS/CONF.16); fictitious
NIL = "DUI-REF-0001"
#: display label of the application mailbox (Intitulé_BAL, SC.MSS.15)
MAILBOX_LABEL = "EHPAD Les Tilleuls - Dossier usager"
#: the organisational mailbox a reader can reply to (SC.MSS.13: an application mailbox does not read replies)
CONTACT_MAILBOX = "secretariat@ehpad-les-tilleuls.mssante.fr"
PATIENT_DOMAIN = "patient.mssante.fr"
XDM_NAME = "IHE_XDM.zip"
SUBSET = "IHE_XDM/SUBSET01"
AUTOMATIC_MENTION = ("Ce message a été généré automatiquement par le dossier usager informatisé de l'EHPAD Les "
                     "Tilleuls : merci de ne pas y répondre. Pour joindre l'établissement : "
                     f"{CONTACT_MAILBOX}.")
#: integration error codes (trans-lps error-codes.md; 905 as the notes describe it, its label written here)
ERRORS = {
    "902": "Identifiant patient inconnu",
    "903": "INS non présent dans le document",
    "904": "L'INS transmis ne correspond pas exactement à celui stocké dans la base du consommateur",
    "905": "INS incomplet : matricule présent, traits d'identité manquants",
    "906": "Autre erreur",
}
# IHE ITI TF-3 §4.2.3 schemes.
_SCHEMES = {
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a2d2f",
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "contentTypeCode": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
}
_ENTRY_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
_ENTRY_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
_SET_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
_SET_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
_SET_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
_STABLE_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
#: XDS class code (TRE_A03-ClasseDocument-CISIS); the DLU's class in ASS_X04 is UNCERTAIN (table not read)
_CLASS_CODE = ("11", "1.2.250.1.213.1.1.4.1", "Synthèse")
#: XDS format code (JDV_J10); the volet's own URN is UNCERTAIN, the IHE generic one is used
_FORMAT_CODE = ("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3", "Format suffisant")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_MAX_ENTRIES = 50
_MAX_ENTRY_BYTES = 10 * 1024 * 1024


@dataclass
class Composition:
    """How messages are composed: correct by default, each switch a named fault's defect."""

    message_id: bool = True
    body_charset: str = "utf-8"
    xdm_subject: bool = True
    codecda: str | None = None
    ins_always_o: bool = False
    nil_on_mdn: bool = True
    mes_fin: bool = True
    dsn_request: bool = True
    references: bool = True
    reply_to: bool = True
    xdm_index: bool = True
    patient_id_v2: bool = False
    stale_hash: bool = False
    type_code: tuple[str, str, str] | None = None
    pdf: bool = True
    mdn_original_message_id: bool = True


@dataclass
class CdaHeader:
    """What the message and its metadata repeat from the CDA header."""

    document_id: str
    code: str
    code_system: str
    display: str
    title: str
    effective_time: str
    confidentiality: tuple[str, str, str]
    language: str
    ins: tuple[str, str] | None
    local_id: tuple[str, str] | None
    traits: dict[str, str | None]
    facility: tuple[str, str, str] | None
    practice: tuple[str, str, str] | None
    author: str | None

    @property
    def qualified_ins(self) -> bool:
        """An INS with the four traits that make it usable (X-MSS-INS: O)."""
        return self.ins is not None and all(self.traits.get(k) for k in
                                            ("birth_name", "first_given_name", "birth_date", "sex"))


def read_cda(data: bytes) -> CdaHeader | None:
    """The header facts of a CDA; None when it cannot be read."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return None
    if root.tag != f"{{{HL7}}}ClinicalDocument":
        return None

    def attr(path: str, name: str, default: str = "") -> str:
        found = root.find(path, NS)
        return str(found.get(name) or default) if found is not None else default

    def text(path: str) -> str | None:
        found = root.find(path, NS)
        value = "".join(found.itertext()).strip() if found is not None else ""
        return value or None

    def coded(path: str) -> tuple[str, str, str] | None:
        found = root.find(path, NS)
        if found is None or not found.get("code"):
            return None
        return str(found.get("code")), str(found.get("codeSystem") or ""), str(found.get("displayName") or "")

    ids = [(str(i.get("root") or ""), str(i.get("extension") or ""))
           for i in root.iterfind("hl7:recordTarget/hl7:patientRole/hl7:id", NS)]
    patient = "hl7:recordTarget/hl7:patientRole/hl7:patient"
    given = [("".join(g.itertext()).strip(), g.get("qualifier")) for g in root.iterfind(f"{patient}/hl7:name/hl7:given",
                                                                                         NS)]
    doc_id = root.find("hl7:id", NS)
    document_id = ""
    if doc_id is not None:
        document_id = str(doc_id.get("root") or "") + (f"^{doc_id.get('extension')}" if doc_id.get("extension")
                                                         else "")
    author = root.find("hl7:author/hl7:assignedAuthor/hl7:id", NS)
    return CdaHeader(
        document_id=document_id, code=attr("hl7:code", "code"), code_system=attr("hl7:code", "codeSystem"),
        display=attr("hl7:code", "displayName"), title=text("hl7:title") or "",
        effective_time=attr("hl7:effectiveTime", "value"),
        confidentiality=coded("hl7:confidentialityCode") or ("N", "2.16.840.1.113883.5.25", "Normal"),
        language=attr("hl7:languageCode", "code", "fr-FR"),
        ins=next(((ext, rt) for rt, ext in ids if rt in INS_OIDS and ext), None),
        local_id=next(((ext, rt) for rt, ext in ids if rt not in INS_OIDS and ext), None),
        traits={
            "birth_name": text(f"{patient}/hl7:name/hl7:family[@qualifier='BR']"),
            "first_given_name": next((g for g, q in given if q == "BR"), None),
            "given_names": next((g for g, q in given if q is None), None),
            "birth_date": attr(f"{patient}/hl7:birthTime", "value") or None,
            "sex": attr(f"{patient}/hl7:administrativeGenderCode", "code") or None,
            "birth_place_cog": text(f"{patient}/hl7:birthplace/hl7:place/hl7:addr/hl7:county"),
        },
        facility=coded("hl7:componentOf/hl7:encompassingEncounter/hl7:location/hl7:healthCareFacility/hl7:code"),
        practice=coded("hl7:documentationOf/hl7:serviceEvent/hl7:performer/hl7:assignedEntity/"
                       "hl7:representedOrganization/hl7:standardIndustryClassCode"),
        author=str(author.get("extension")) if author is not None and author.get("extension") else None,
    )


def subject(header: CdaHeader, *, xdm_prefix: bool = True) -> str:
    """``XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>`` (trans-lps struct-msg-mdn.md)."""
    traits = header.traits
    born = traits.get("birth_date") or ""
    date = f"{born[6:8]}/{born[4:6]}/{born[:4]}" if len(born) >= 8 else ""
    words = [header.title or header.display, traits.get("birth_name") or "", traits.get("first_given_name") or "",
             date]
    label = " ".join(w for w in words if w)
    return f"XDM/1.0/DDM+{label}" if xdm_prefix else label


def patient_address(matricule: str) -> str:
    """The usager's MSSanté mailbox: ``<INS>@patient.mssante.fr`` (SC.MSS/UX.31)."""
    return f"{matricule}@{PATIENT_DOMAIN}"


def pdf_document(title: str, lines: list[str]) -> bytes:
    """A one-page PDF 1.4 declaring PDF/A-1b in its XMP metadata.

    Fonts are not embedded: the file declares PDF/A, it would not pass a PDF/A validator.
    """

    def ascii_text(value: str) -> str:
        plain = value.encode("ascii", "replace").decode("ascii")
        return plain.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 12 Tf 56 790 Td 16 TL " + " ".join(f"({ascii_text(line)}) '" for line in [title, *lines]) + " ET"
    xmp = ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
           '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
           'xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           '<pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>'
           f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>'
           '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Metadata 5 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream.encode("ascii") + b"\nendstream",
        b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(xmp) + xmp + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    digest = hashlib.md5(bytes(out), usedforsecurity=False).hexdigest().encode()  # PDF file identifier, not security
    out += b"trailer\n<< /Size %d /Root 1 0 R /ID [<%s><%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, digest, digest, xref)
    return bytes(out)


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = etree.SubElement(parent, f"{{{RIM}}}Slot", name=name)
    value_list = etree.SubElement(slot, f"{{{RIM}}}ValueList")
    for value in values:
        etree.SubElement(value_list, f"{{{RIM}}}Value").text = value


def _name(parent: etree._Element, value: str) -> None:
    name = etree.SubElement(parent, f"{{{RIM}}}Name")
    etree.SubElement(name, f"{{{RIM}}}LocalizedString", value=value)


def _classification(parent: etree._Element, scheme: str, target: str, code: tuple[str, str, str]) -> None:
    cls = etree.SubElement(parent, f"{{{RIM}}}Classification", id=f"urn:uuid:{uuid.uuid4()}",
                           classificationScheme=_SCHEMES[scheme], classifiedObject=target,
                           nodeRepresentation=code[0],
                           objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification")
    _slot(cls, "codingScheme", code[1])
    _name(cls, code[2])


def _external_id(parent: etree._Element, scheme: str, target: str, value: str, label: str) -> None:
    ext = etree.SubElement(parent, f"{{{RIM}}}ExternalIdentifier", id=f"urn:uuid:{uuid.uuid4()}",
                           identificationScheme=scheme, registryObject=target, value=value,
                           objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier")
    _name(ext, label)


def metadata_xml(header: CdaHeader, document: bytes, uri: str, *, recipient: str, now: datetime,
                 how: Composition) -> bytes:
    """METADATA.XML: one XDSDocumentEntry for the CDA and its submission set (ebRIM 3.0)."""
    if header.ins is not None:
        matricule, oid = header.ins
        patient_id = (f"{matricule}^^^ASIP-SANTE-INS-NIR&{oid}&ISO^INS" if how.patient_id_v2
                      else f"{matricule}^^^&{oid}&ISO^NH")
    else:
        local, root = header.local_id or ("inconnu", "0")
        patient_id = f"{local}^^^&{root}&ISO^PI"
    local, root = header.local_id or (patient_id, "")
    source_id = f"{local}^^^&{root}&ISO^PI" if root else patient_id
    hashed = document + b"\n" if how.stale_hash else document
    created = (header.effective_time[:14] if re.match(r"^\d{14}\+0000$", header.effective_time)
               else now.astimezone(UTC).strftime("%Y%m%d%H%M%S"))
    request = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(request, f"{{{RIM}}}RegistryObjectList")
    entry = etree.SubElement(objects, f"{{{RIM}}}ExtrinsicObject", id="Document01", mimeType="text/xml",
                             objectType=_STABLE_ENTRY)
    _slot(entry, "creationTime", created)
    _slot(entry, "hash", hashlib.sha1(hashed, usedforsecurity=False).hexdigest())
    _slot(entry, "size", str(len(hashed)))
    _slot(entry, "languageCode", header.language)
    _slot(entry, "URI", uri)
    _slot(entry, "sourcePatientId", source_id)
    traits = header.traits
    _slot(entry, "sourcePatientInfo", f"PID-3|{source_id}",
          f"PID-5|{traits.get('birth_name') or ''}^{traits.get('first_given_name') or ''}^^^^^L",
          f"PID-7|{traits.get('birth_date') or ''}", f"PID-8|{traits.get('sex') or ''}")
    _name(entry, header.title or header.display)
    author = etree.SubElement(entry, f"{{{RIM}}}Classification", id=f"urn:uuid:{uuid.uuid4()}",
                              classificationScheme=_SCHEMES["author"], classifiedObject="Document01",
                              nodeRepresentation="")
    _slot(author, "authorPerson", f"{header.author or ''}^^^^^^^^^&1.2.250.1.71.4.2.1&ISO")
    _slot(author, "authorInstitution", "EHPAD Les Tilleuls^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750000002")
    _classification(entry, "classCode", "Document01", _CLASS_CODE)
    _classification(entry, "confidentialityCode", "Document01", header.confidentiality)
    _classification(entry, "formatCode", "Document01", _FORMAT_CODE)
    _classification(entry, "healthcareFacilityTypeCode", "Document01",
                    header.facility or ("SA17", "1.2.250.1.71.4.2.4", "Etablissement pour personnes âgées"))
    _classification(entry, "practiceSettingCode", "Document01",
                    header.practice or ("ESSMS", "1.2.250.1.213.1.1.4.9", "Etablissement médico-social"))
    _classification(entry, "typeCode", "Document01", how.type_code or (header.code, header.code_system,
                                                                        header.display))
    _external_id(entry, _ENTRY_PATIENT_ID, "Document01", patient_id, "XDSDocumentEntry.patientId")
    _external_id(entry, _ENTRY_UNIQUE_ID, "Document01", header.document_id, "XDSDocumentEntry.uniqueId")
    package = etree.SubElement(objects, f"{{{RIM}}}RegistryPackage", id="SubmissionSet01")
    _slot(package, "submissionTime", now.astimezone(UTC).strftime("%Y%m%d%H%M%S"))
    _slot(package, "intendedRecipient", f"|{recipient}^^Internet^{recipient}")
    _name(package, header.title or header.display)
    _classification(package, "contentTypeCode", "SubmissionSet01",
                    (header.code, header.code_system, header.display))
    _external_id(package, _SET_UNIQUE_ID, "SubmissionSet01", f"2.25.{uuid.uuid4().int}",
                 "XDSSubmissionSet.uniqueId")
    _external_id(package, _SET_SOURCE_ID, "SubmissionSet01", "1.2.250.1.213.4.1.1.9999",
                 "XDSSubmissionSet.sourceId")
    _external_id(package, _SET_PATIENT_ID, "SubmissionSet01", patient_id, "XDSSubmissionSet.patientId")
    etree.SubElement(objects, f"{{{RIM}}}Classification", id=f"urn:uuid:{uuid.uuid4()}",
                     classifiedObject="SubmissionSet01", classificationNode=_SET_NODE)
    association = etree.SubElement(
        objects, f"{{{RIM}}}Association", id=f"urn:uuid:{uuid.uuid4()}",
        associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
        sourceObject="SubmissionSet01", targetObject="Document01")
    _slot(association, "SubmissionSetStatus", "Original")
    return bytes(etree.tostring(request, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def xdm_archive(header: CdaHeader, document: bytes, *, recipient: str, now: datetime, how: Composition) -> bytes:
    """IHE_XDM.zip: README.TXT, INDEX.HTM, IHE_XDM/SUBSET01/METADATA.XML and the CDA (ITI-32)."""
    files: list[tuple[str, bytes]] = []
    if how.xdm_index:
        files.append(("README.TXT", (
            "Support XDM (IHE ITI-32) produit par le DUI de référence dui-conformance 1.0\r\n"
            "Editeur : dui-conformance (logiciel de test)\r\n"
            f"Contact : {CONTACT_MAILBOX}\r\n"
            f"Contenu : {SUBSET}/METADATA.XML et le document {SUBSET}/DOC0001.XML\r\n").encode()))
        files.append(("INDEX.HTM", (
            '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Contenu du support XDM</title>'
            f"</head><body><h1>{escape(header.title)}</h1><ul>"
            f'<li><a href="{SUBSET}/DOC0001.XML">{escape(header.title)}</a></li>'
            f'<li><a href="{SUBSET}/METADATA.XML">Métadonnées XDS</a></li>'
            '<li><a href="README.TXT">README.TXT</a></li></ul></body></html>').encode()))
    files.append((f"{SUBSET}/METADATA.XML", metadata_xml(header, document, "DOC0001.XML", recipient=recipient,
                                                          now=now, how=how)))
    files.append((f"{SUBSET}/DOC0001.XML", document))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        stamp = now.astimezone(UTC).timetuple()[:6]
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


@dataclass(frozen=True)
class Reply:
    """The message a new message answers: its Message-ID and References."""

    message_id: str
    references: tuple[str, ...] = ()


def document_message(header: CdaHeader, document: bytes, *, sender: str, to: str, to_patient: bool,
                     reply: Reply | None, now: datetime, how: Composition) -> EmailMessage:
    """The mail carrying a document: UTF-8 text body, IHE_XDM.zip and the PDF beside it, MSSanté headers."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(display_name=MAILBOX_LABEL, addr_spec=sender)
    message["To"] = to
    message["Subject"] = subject(header, xdm_prefix=how.xdm_subject)
    message["Date"] = format_datetime(now)
    if how.message_id:
        message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    if reply is not None:
        message["In-Reply-To"] = reply.message_id
        if how.references:
            message["References"] = " ".join((*reply.references, reply.message_id))
    if how.reply_to:
        message["Reply-To"] = Address(display_name="Secrétariat EHPAD Les Tilleuls", addr_spec=CONTACT_MAILBOX)
    message["Disposition-Notification-To"] = sender
    if how.dsn_request:
        message["Return-Receipt-To"] = sender
    message["X-MSS-CODECDA"] = how.codecda or header.code
    message["X-MSS-INS"] = "O" if header.qualified_ins or how.ins_always_o else "N"
    message["X-MSS-NIL"] = NIL
    if to_patient and how.mes_fin:
        message["X-MSS-MES"] = "FIN"
    traits = header.traits
    who = f"{traits.get('birth_name') or ''} {traits.get('first_given_name') or ''}".strip()
    body = (f"Bonjour,\n\nVeuillez trouver ci-joint le document « {header.title} » de {who} (dossier de l'EHPAD Les "
            "Tilleuls), au format CDA dans l'archive IHE_XDM.zip et en PDF.\n\nCordialement,\nL'équipe soignante\n\n"
            f"{AUTOMATIC_MENTION}\n")
    message.set_content(body, charset=how.body_charset, cte="quoted-printable")
    message.add_attachment(xdm_archive(header, document, recipient=to, now=now, how=how), maintype="application",
                           subtype="zip", filename=XDM_NAME)
    if how.pdf:
        pdf = pdf_document(header.title, [who, f"Né(e) le {traits.get('birth_date') or '?'}",
                                          "Document émis par l'EHPAD Les Tilleuls (DUI de référence)"])
        message.add_attachment(pdf, maintype="application", subtype="pdf",
                               filename=f"{header.code}_{traits.get('birth_name') or 'usager'}.pdf")
    return message


def to_bytes(message: Message) -> bytes:
    """The message as it goes on the wire (CRLF line ends)."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=policy.SMTP).flatten(message)  # type: ignore[arg-type]
    return buffer.getvalue()


@dataclass
class Inbound:
    """A received message as the DUI reads it."""

    raw: bytes
    message: EmailMessage
    message_id: str | None
    references: tuple[str, ...]
    subject: str
    sender: str | None
    notify_to: str | None
    recipient: str | None
    original_recipient: str | None
    xdm: bytes | None = None
    pdf: tuple[str, bytes] | None = None
    cda: bytes | None = None
    problems: list[str] = field(default_factory=list)


def read_inbound(raw: bytes) -> Inbound:
    """Parse a received message and pull the CDA out of its IHE_XDM.zip (capped, in memory)."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)

    def first(name: str) -> str | None:
        try:
            value = message.get(name)
        except Exception:
            return None  # an unreadable header counts as absent
        return str(value).strip() if value is not None else None

    def address(name: str) -> str | None:
        found = [a for _, a in getaddresses([first(name) or ""]) if a]
        return found[0].lower() if found else None

    inbound = Inbound(
        raw=raw, message=message, message_id=first("Message-ID"),
        references=tuple(re.findall(r"<[^<>\s]+>", first("References") or "")),
        subject=(first("Subject") or "").strip(), sender=address("From"),
        notify_to=address("Disposition-Notification-To"),
        recipient=address("To"), original_recipient=address("Original-Recipient"),
    )
    for part in message.walk():
        name = (part.get_filename() or "").lower()
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        if name == XDM_NAME.lower():
            inbound.xdm = data
        elif part.get_content_type() == "application/pdf":
            inbound.pdf = (part.get_filename() or "document.pdf", data)
    if inbound.xdm is None:
        inbound.problems.append("pas d'archive IHE_XDM.zip")
        return inbound
    inbound.cda = _cda_from_xdm(inbound.xdm, inbound.problems)
    return inbound


def _cda_from_xdm(data: bytes, problems: list[str]) -> bytes | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        problems.append("archive IHE_XDM.zip illisible")
        return None
    with archive:
        infos = archive.infolist()
        if len(infos) > _MAX_ENTRIES:
            problems.append("archive IHE_XDM.zip trop grande")
            return None
        for info in infos:
            name = info.filename
            if not name.upper().startswith(f"{SUBSET}/") or ".." in name or not name.upper().endswith(".XML") \
                    or name.upper().endswith("/METADATA.XML") or info.file_size > _MAX_ENTRY_BYTES:
                continue
            try:
                with archive.open(info) as stream:
                    content = stream.read(_MAX_ENTRY_BYTES + 1)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
                continue
            if len(content) <= _MAX_ENTRY_BYTES:
                return content
    problems.append("aucun document CDA dans IHE_XDM/SUBSET01")
    return None


def mdn(original: Inbound, *, sender: str, code: str | None, now: datetime, how: Composition) -> MIMEMultipart:
    """The MDN answering ``original``: processed, or processed/Error with the integration code (RFC 8098, volet)."""
    label = ERRORS.get(code or "", "")
    report = MIMEMultipart("report", report_type="disposition-notification")
    report["From"] = str(Address(display_name=MAILBOX_LABEL, addr_spec=sender))
    report["To"] = original.notify_to or original.sender or ""
    subject_text = original.subject if code is None else f"[KO Intégration système !][{code}] {original.subject}"
    report["Subject"] = subject_text
    report["Date"] = format_datetime(now)
    if how.message_id:
        report["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    if original.message_id:
        report["In-Reply-To"] = original.message_id
        report["References"] = " ".join((*original.references, original.message_id))
    if how.nil_on_mdn:
        report["X-MSS-NIL"] = NIL
    if code is None:
        human = "Le document a été intégré automatiquement dans le dossier de l'usager.\n"
        disposition = "automatic-action/MDN-sent-automatically; processed"
    else:
        human = ("Le message ci-dessous n'a pas pu être intégré automatiquement dans le DUI pour la raison "
                 f"suivante : {label} (erreur {code}).\n")
        # The machine-readable report is 7-bit (RFC 8098 fields): the label loses its accents there only.
        plain = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
        disposition = f"automatic-action/MDN-sent-automatically; processed/Error: {code}^{plain}"
    report.attach(MIMEText(human, "plain", "utf-8"))
    fields = [f"Reporting-UA: {sender.rsplit('@', 1)[-1]}; DUI de reference dui-conformance",
              f"Original-Recipient: rfc822;{original.original_recipient or original.recipient or sender}",
              f"Final-Recipient: rfc822;{sender}"]
    if how.mdn_original_message_id and original.message_id:
        fields.append(f"Original-Message-ID: {original.message_id}")
    fields.append(f"Disposition: {disposition}")
    notification = Message()
    notification["Content-Type"] = "message/disposition-notification"
    notification["Content-Transfer-Encoding"] = "7bit"
    notification.set_payload("\r\n".join(fields) + "\r\n", charset=None)
    report.attach(notification)
    report.attach(MIMEMessage(original.message))
    if original.xdm is not None:
        report.attach(_attachment(original.xdm, "zip", XDM_NAME))
    if original.pdf is not None:
        report.attach(_attachment(original.pdf[1], "pdf", original.pdf[0]))
    return report


def _attachment(data: bytes, subtype: str, filename: str) -> MIMEApplication:
    part = MIMEApplication(data, subtype, name=filename)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part
