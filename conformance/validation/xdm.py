"""IHE XDM archives (``IHE_XDM.zip``) read in memory within caps, their XDS metadata and the CDA facts they mirror.

Layout (IHE ITI TF-3, ITI-32 "Distribute Document Set on Media", as confirmed in shared/reference/
messaging-access-referencing.md §1.2): ``README.TXT`` and ``INDEX.HTM`` at the root, ``IHE_XDM/SUBSET01/
METADATA.XML`` (an ebRIM 3.0 ``SubmitObjectsRequest``) and the documents it lists by ``URI``, each with its SHA-1
``hash`` and ``size``. Identification schemes are the IHE XDS ones (ITI TF-3 §4.2.3). ``patientId`` is an HL7 v2
CX: ``matricule^^^&OID&ISO^NH`` for an INS (§1.1, PDSm PatientId.fsh).

Nothing is extracted to disk: entries are read into memory, each one and the archive as a whole capped, and a
zip bomb, an entry climbing out of the archive (``../``), an absolute path, a link or a nested archive becomes a
finding and is not read.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lxml import etree

from conformance.core.findings import Finding
from conformance.core.library_errors import zip_error
from conformance.core.outcomes import Severity
from conformance.validation.ins import INS_OIDS
from conformance.validation.xml import UnsafeXml, parse_xml

ARCHIVE_NAME = "IHE_XDM.zip"
METADATA_PATH = "IHE_XDM/SUBSET01/METADATA.XML"
ROOT_FILES = ("README.TXT", "INDEX.HTM")
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
HL7 = "urn:hl7-org:v3"
NS = {"rim": RIM, "lcm": LCM, "hl7": HL7}

# IHE ITI TF-3 §4.2.3 classification and identification schemes.
DOCUMENT_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
ENTRY_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
ENTRY_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SET_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SET_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SET_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
CODE_SCHEMES = {
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
}
#: codes an XDM document entry carries exactly once (ITI TF-3 Table 4.3.1-3, XDM column "R")
REQUIRED_CODES = ("classCode", "typeCode", "formatCode", "healthcareFacilityTypeCode", "practiceSettingCode")

_NESTED_SUFFIXES = (".zip", ".jar", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".cab")
_NESTED_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"Rar!", b"BZh", b"\xfd7zXZ")
_EOCD = b"PK\x05\x06"
_CX_INS = re.compile(r"^(?P<id>[^^]+)\^\^\^&(?P<oid>[0-9.]+)&ISO\^(?P<type>[^^]*)$")


@dataclass(frozen=True)
class Limits:
    """Caps on reading one archive: entries, bytes per entry and in all, compression ratio."""

    max_entries: int = 100
    max_entry_bytes: int = 20 * 1024 * 1024
    max_total_bytes: int = 40 * 1024 * 1024
    max_ratio: int = 100
    #: below this size a high ratio is ordinary (a short text of repeated markup compresses very well)
    ratio_floor: int = 1024 * 1024


@dataclass
class Archive:
    """What could be read safely from a zip: entries by name, every name listed, and the problems met."""

    label: str
    entries: dict[str, bytes] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    readable: bool = True
    #: entries listed but not read (unsafe or unreadable): their own finding says why, nothing else must call
    #: them absent
    refused: list[str] = field(default_factory=list)

    def get(self, name: str) -> tuple[str, bytes] | None:
        """An entry by name, case-insensitively (XDM names are upper-case 8.3, some writers lower-case them)."""
        if name in self.entries:
            return name, self.entries[name]
        lowered = name.lower()
        return next(((n, d) for n, d in self.entries.items() if n.lower() == lowered), None)

    def was_refused(self, name: str) -> bool:
        """True when the archive lists ``name`` (case-insensitively) but it was not read."""
        lowered = name.lower()
        return any(n.lower() == lowered for n in self.refused)

    def where(self, name: str) -> str:
        """A location naming the entry inside the archive."""
        return f"{self.label} › {name}"


def _finding(rule: str, location: str, message: str, expected: object = None, actual: object = None,
             severity: Severity = Severity.ERROR) -> Finding:
    return Finding(rule=rule, location=location, message=message, expected=expected, actual=actual,
                   severity=severity)


def _declared_entries(data: bytes) -> int | None:
    """Entry count from the end-of-central-directory record, read before zipfile builds its index."""
    at = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if at < 0 or at + 22 > len(data):
        return None
    total: int = struct.unpack_from("<H", data, at + 10)[0]
    return total


def read_zip(data: bytes, *, label: str = ARCHIVE_NAME, limits: Limits | None = None) -> Archive:
    """Read a zip in memory within ``limits``; unsafe or unreadable entries are findings, never files."""
    limits = limits or Limits()
    archive = Archive(label)
    declared = _declared_entries(data)
    if declared is not None and declared > limits.max_entries:
        # 0xFFFF also means "see ZIP64": more entries than any XDM needs either way.
        archive.readable = False
        archive.findings.append(_finding(
            "zip-trop-d-entrees", label, f"{label} annonce {declared} entrées, au-delà de {limits.max_entries} : "
            "archive non lue", f"au plus {limits.max_entries} entrées", declared))
        return archive
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        archive.readable = False
        archive.findings.append(_finding("zip-illisible", label, f"{label} est illisible : {zip_error(exc)}",
                                         "archive zip", f"{len(data)} octets"))
        return archive
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            archive.readable = False
            archive.findings.append(_finding(
                "zip-trop-d-entrees", label, f"{label} contient {len(infos)} entrées, au-delà de "
                f"{limits.max_entries} : archive non lue", f"au plus {limits.max_entries} entrées", len(infos)))
            return archive
        budget = limits.max_total_bytes
        for info in infos:
            archive.names.append(info.filename)
            problem = _entry_problem(info, archive, limits)
            if problem is not None:
                archive.findings.append(problem)
                archive.refused.append(info.filename)
                continue
            if info.is_dir():
                continue
            content, problem = _read_entry(zf, info, min(limits.max_entry_bytes, budget), archive)
            if problem is not None:
                archive.findings.append(problem)
                archive.refused.append(info.filename)
                continue
            assert content is not None
            budget -= len(content)
            if content.startswith(_NESTED_MAGIC) and info.file_size > 0:
                archive.findings.append(_finding(
                    "archive-imbriquee", archive.where(info.filename),
                    f"{archive.where(info.filename)} est elle-même une archive compressée : non ouverte",
                    "documents (XML, PDF, texte)", content[:8].hex()))
                archive.refused.append(info.filename)
                continue
            archive.entries[info.filename] = content
    return archive


def _entry_problem(info: zipfile.ZipInfo, archive: Archive, limits: Limits) -> Finding | None:
    """Why an entry must not be read: its path, its type, its size or its compression ratio."""
    name = info.filename
    where = archive.where(name)
    segments = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return _finding("chemin-absolu", where, f"L'entrée « {name} » a un chemin absolu : non lue",
                        "chemin relatif dans l'archive", name)
    if ".." in segments:
        return _finding("chemin-remontant", where, f"L'entrée « {name} » remonte hors de l'archive (« .. ») : non lue",
                        "chemin sans « .. »", name)
    if "\\" in name or any(ord(c) < 0x20 for c in name):
        return _finding("chemin-invalide", where, f"L'entrée « {name!r} » a un nom invalide (antislash ou "
                        "caractère de contrôle) : non lue", "nom de fichier XDM", repr(name))
    if archive.names.count(name) > 1:
        return _finding("entree-dupliquee", where, f"L'entrée « {name} » apparaît plusieurs fois : seule la "
                        "première est lue", "noms uniques", name)
    if stat.S_ISLNK(info.external_attr >> 16):
        return _finding("lien-symbolique", where, f"L'entrée « {name} » est un lien symbolique : non suivi",
                        "fichier ordinaire", "lien symbolique")
    if info.flag_bits & 0x1:
        return _finding("entree-chiffree", where, f"L'entrée « {name} » est chiffrée : illisible",
                        "entrée non chiffrée", "chiffrée")
    if name.lower().endswith(_NESTED_SUFFIXES):
        return _finding("archive-imbriquee", where, f"L'entrée « {name} » est une archive imbriquée : non ouverte",
                        "documents (XML, PDF, texte)", name)
    if info.file_size > limits.max_entry_bytes:
        return _finding("entree-trop-volumineuse", where, f"L'entrée « {name} » annonce {info.file_size} octets "
                        f"décompressés, au-delà de {limits.max_entry_bytes} : non lue",
                        f"au plus {limits.max_entry_bytes} octets", info.file_size)
    if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        return _finding("bombe-zip", where, f"L'entrée « {name} » se décompresse {ratio} fois sa taille "
                        f"({info.compress_size} → {info.file_size} octets) : bombe zip présumée, non lue",
                        f"taux de compression au plus {limits.max_ratio}", ratio)
    return None


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int,
                archive: Archive) -> tuple[bytes | None, Finding | None]:
    """The entry's bytes, read in chunks up to ``cap`` whatever its header claims."""
    where = archive.where(info.filename)
    chunks: list[bytes] = []
    read = 0
    try:
        with zf.open(info) as stream:
            while True:
                chunk = stream.read(64 * 1024)
                if not chunk:
                    break
                read += len(chunk)
                if read > cap:
                    return None, _finding("entree-trop-volumineuse", where, f"L'entrée « {info.filename} » "
                                          f"dépasse {cap} octets une fois décompressée (taille annoncée "
                                          f"{info.file_size}) : lecture arrêtée", f"au plus {cap} octets",
                                          f"plus de {cap} octets")
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError, ValueError,
            RuntimeError) as exc:
        return None, _finding("entree-illisible", where, f"L'entrée « {info.filename} » ne peut pas être lue : "
                              f"{zip_error(exc)}", "entrée zip intègre (CRC, compression deflate)", type(exc).__name__)
    return b"".join(chunks), None


def layout_findings(archive: Archive) -> Iterator[Finding]:
    """README.TXT and INDEX.HTM at the root, IHE_XDM/SUBSET01/METADATA.XML, upper-case 8.3 names (ITI-32)."""
    yield from archive.findings
    if not archive.readable:
        return
    for name in (*ROOT_FILES, METADATA_PATH):
        found = archive.get(name)
        if found is None:
            yield _finding("xdm-fichier-absent", archive.where(name), f"{archive.label} ne contient pas {name}",
                           name, sorted(archive.entries))
        elif not found[1].strip():
            yield _finding("xdm-fichier-vide", archive.where(found[0]), f"{archive.where(found[0])} est vide",
                           f"{name} non vide", "0 octet")
        elif found[0] != name:
            yield _finding("xdm-casse", archive.where(found[0]), f"{found[0]} devrait s'écrire {name} "
                           "(noms XDM en majuscules)", name, found[0], Severity.WARNING)
    for name in archive.entries:
        if not name.upper().startswith("IHE_XDM/") and name.upper() not in ROOT_FILES:
            yield _finding("xdm-fichier-hors-arborescence", archive.where(name),
                           f"{archive.where(name)} est hors de l'arborescence XDM (racine ou IHE_XDM/)",
                           "README.TXT, INDEX.HTM ou IHE_XDM/…", name, Severity.WARNING)


@dataclass(frozen=True)
class Code:
    """A coded XDS metadata value: the code, its coding scheme, its display name."""

    code: str
    scheme: str | None
    display: str | None

    def __str__(self) -> str:
        return f"{self.code} ({self.scheme or 'sans codingScheme'})"


@dataclass
class DocumentEntry:
    """One XDSDocumentEntry (``rim:ExtrinsicObject``) of METADATA.XML."""

    id: str
    mime_type: str | None
    slots: dict[str, list[str]]
    codes: dict[str, list[Code]]
    patient_id: str | None
    unique_id: str | None

    def slot(self, name: str) -> str | None:
        """The first value of a slot."""
        values = self.slots.get(name) or []
        return values[0] if values else None

    @property
    def uri(self) -> str | None:
        """The document's file name relative to the submission set folder."""
        return self.slot("URI")

    @property
    def label(self) -> str:
        """How a finding names the entry."""
        return f"{ARCHIVE_NAME} › {METADATA_PATH} › ExtrinsicObject {self.id}" + (f" ({self.uri})" if self.uri else "")


@dataclass
class Metadata:
    """The submission set and its document entries."""

    entries: list[DocumentEntry] = field(default_factory=list)
    set_patient_id: str | None = None
    set_unique_id: str | None = None
    set_source_id: str | None = None
    has_submission_set: bool = False
    associations: list[tuple[str, str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _values(element: etree._Element, name: str) -> list[str]:
    return [str(v) for v in element.xpath("rim:Slot[@name=$n]/rim:ValueList/rim:Value/text()", namespaces=NS, n=name)]


def parse_metadata(data: bytes, where: str = f"{ARCHIVE_NAME} › {METADATA_PATH}") -> Metadata:
    """The XDS metadata of METADATA.XML; an unreadable or non-ebRIM document is a finding."""
    metadata = Metadata()
    try:
        root = parse_xml(data)
    except UnsafeXml as exc:
        metadata.findings.append(_finding("metadata-illisible", where, f"METADATA.XML ne peut pas être lu : {exc}",
                                          "XML ebRIM 3.0 bien formé", None))
        return metadata
    if root.tag != f"{{{LCM}}}SubmitObjectsRequest":
        metadata.findings.append(_finding("metadata-racine", where, "METADATA.XML n'est pas un SubmitObjectsRequest "
                                          "ebRIM 3.0", f"{{{LCM}}}SubmitObjectsRequest", root.tag))
        return metadata
    for extrinsic in root.iterfind(".//rim:ExtrinsicObject", NS):
        codes: dict[str, list[Code]] = {}
        for name, scheme in CODE_SCHEMES.items():
            for cls in extrinsic.iterfind(f"rim:Classification[@classificationScheme='{scheme}']", NS):
                display = cls.find("rim:Name/rim:LocalizedString", NS)
                schemes = _values(cls, "codingScheme")
                codes.setdefault(name, []).append(Code(
                    cls.get("nodeRepresentation") or "", schemes[0] if schemes else None,
                    display.get("value") if display is not None else None))
        slots = {str(s.get("name")): _values(extrinsic, str(s.get("name")))
                 for s in extrinsic.iterfind("rim:Slot", NS)}
        metadata.entries.append(DocumentEntry(
            id=extrinsic.get("id") or "?", mime_type=extrinsic.get("mimeType"), slots=slots, codes=codes,
            patient_id=_external_id(extrinsic, ENTRY_PATIENT_ID), unique_id=_external_id(extrinsic, ENTRY_UNIQUE_ID)))
    for package in root.iterfind(".//rim:RegistryPackage", NS):
        package_id = package.get("id")
        classified = package.find(f"rim:Classification[@classificationNode='{SUBMISSION_SET}']", NS) is not None or \
            root.find(f".//rim:Classification[@classificationNode='{SUBMISSION_SET}']"
                      f"[@classifiedObject='{package_id}']", NS) is not None
        if classified:
            metadata.has_submission_set = True
            metadata.set_patient_id = _external_id(package, SET_PATIENT_ID)
            metadata.set_unique_id = _external_id(package, SET_UNIQUE_ID)
            metadata.set_source_id = _external_id(package, SET_SOURCE_ID)
    for assoc in root.iterfind(".//rim:Association", NS):
        metadata.associations.append((str(assoc.get("associationType", "")).rsplit(":", 1)[-1],
                                      assoc.get("sourceObject") or "", assoc.get("targetObject") or ""))
    return metadata


def _external_id(element: etree._Element, scheme: str) -> str | None:
    found = element.find(f"rim:ExternalIdentifier[@identificationScheme='{scheme}']", NS)
    return found.get("value") if found is not None else None


def structure_findings(metadata: Metadata) -> Iterator[Finding]:
    """A submission set with its ids, at least one document entry, each with URI, hash, size and its codes."""
    yield from metadata.findings
    if metadata.findings:
        return
    where = f"{ARCHIVE_NAME} › {METADATA_PATH}"
    if not metadata.has_submission_set:
        yield _finding("metadata-lot", where, "METADATA.XML ne contient pas de lot de soumission (RegistryPackage "
                       "classé SubmissionSet)", SUBMISSION_SET, None)
    else:
        for label, value in (("patientId", metadata.set_patient_id), ("uniqueId", metadata.set_unique_id),
                             ("sourceId", metadata.set_source_id)):
            if not value:
                yield _finding("metadata-lot-identifiant", f"{where} › RegistryPackage",
                               f"Le lot de soumission n'a pas de {label}", f"XDSSubmissionSet.{label}", None)
    if not metadata.entries:
        yield _finding("metadata-sans-document", where, "METADATA.XML ne décrit aucun document (ExtrinsicObject)",
                       "au moins un XDSDocumentEntry", 0)
    members = {target for kind, _, target in metadata.associations if kind == "HasMember"}
    for entry in metadata.entries:
        for slot in ("URI", "hash", "size", "creationTime", "languageCode", "sourcePatientId"):
            if not entry.slot(slot):
                yield _finding("metadata-slot-absent", entry.label, f"{entry.label} : slot {slot} absent",
                               slot, None)
        for name in REQUIRED_CODES:
            if len(entry.codes.get(name, [])) != 1:
                yield _finding("metadata-code-absent", entry.label,
                               f"{entry.label} : {name} présent {len(entry.codes.get(name, []))} fois au lieu d'une",
                               f"un {name}", [str(c) for c in entry.codes.get(name, [])] or None)
        for name, codes in entry.codes.items():
            for code in codes:
                if not code.code or not code.scheme:
                    yield _finding("metadata-code-incomplet", entry.label, f"{entry.label} : {name} sans code ou "
                                   "sans codingScheme", "nodeRepresentation et Slot codingScheme", str(code))
        if not entry.patient_id or not entry.unique_id:
            yield _finding("metadata-identifiant", entry.label, f"{entry.label} : patientId ou uniqueId absent",
                           "XDSDocumentEntry.patientId et uniqueId", [entry.patient_id, entry.unique_id])
        if entry.id not in members:
            yield _finding("metadata-association", entry.label, f"{entry.label} n'est pas rattaché au lot par une "
                           "association HasMember", "Association HasMember", None)


def file_findings(metadata: Metadata, archive: Archive) -> Iterator[Finding]:
    """Each entry's URI names a file of SUBSET01 whose SHA-1 and size are the ones declared."""
    for entry in metadata.entries:
        uri = entry.uri
        if not uri:
            continue
        found = archive.get(f"IHE_XDM/SUBSET01/{uri}")
        if found is None and archive.was_refused(f"IHE_XDM/SUBSET01/{uri}"):
            continue  # present but not read: the archive's finding says why, its hash cannot be judged
        if found is None:
            yield _finding("document-absent", entry.label, f"{entry.label} : le fichier {uri} est absent de "
                           "IHE_XDM/SUBSET01/", f"IHE_XDM/SUBSET01/{uri}", sorted(archive.entries))
            continue
        name, data = found
        digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()  # SHA-1 is what XDS metadata declares
        declared = (entry.slot("hash") or "").lower()
        if declared != digest:
            yield _finding("hash", f"{entry.label} › Slot hash", f"Empreinte SHA-1 déclarée pour {name} différente "
                           "de celle du fichier", digest, entry.slot("hash"))
        if entry.slot("size") != str(len(data)):
            yield _finding("size", f"{entry.label} › Slot size", f"Taille déclarée pour {name} différente de celle "
                           "du fichier", str(len(data)), entry.slot("size"))
    listed = {f"IHE_XDM/SUBSET01/{e.uri}".lower() for e in metadata.entries if e.uri}
    for name in archive.entries:
        upper = name.upper()
        if upper.startswith("IHE_XDM/SUBSET01/") and upper != METADATA_PATH and name.lower() not in listed:
            yield _finding("document-non-decrit", archive.where(name), f"{archive.where(name)} n'est décrit par "
                           "aucun document de METADATA.XML", "document décrit dans METADATA.XML", name,
                           Severity.WARNING)


def ins_cx(matricule: str, oid: str) -> str:
    """The XDS patientId of an INS: ``matricule^^^&OID&ISO^NH``."""
    return f"{matricule}^^^&{oid}&ISO^NH"


def parse_cx(value: str | None) -> tuple[str, str, str] | None:
    """(id, assigning authority OID, identifier type) of a CX ``id^^^&OID&ISO^type``; None when not that form."""
    match = _CX_INS.match(value or "")
    return (match["id"], match["oid"], match["type"]) if match else None


@dataclass
class CdaFacts:
    """What the XDS metadata and the X-MSS headers must mirror from a CDA header."""

    code: str | None
    code_system: str | None
    display: str | None
    document_id: str | None
    effective_time: str | None
    confidentiality: str | None
    language: str | None
    ins: tuple[str, str] | None
    other_ids: list[tuple[str, str]]
    traits: dict[str, str | None]
    #: encompassingEncounter/location/healthCareFacility/code (healthcareFacilityTypeCode)
    facility: str | None = None
    #: serviceEvent performer's standardIndustryClassCode (practiceSettingCode)
    practice: str | None = None

    @property
    def qualified_ins(self) -> bool:
        """An INS with the four traits that make it usable: birth name, first given name, birth date, sex."""
        keys = ("birth_name", "first_given_name", "birth_date", "sex")
        return self.ins is not None and all(self.traits.get(k) for k in keys)


def cda_facts(data: bytes) -> CdaFacts | None:
    """Header facts of a CDA document; None when it is not readable XML or not a ClinicalDocument."""
    try:
        root = parse_xml(data)
    except UnsafeXml:
        return None
    if root.tag != f"{{{HL7}}}ClinicalDocument":
        return None

    def attr(path: str, name: str) -> str | None:
        found = root.find(path, NS)
        return found.get(name) if found is not None else None

    def text(path: str) -> str | None:
        found = root.find(path, NS)
        value = "".join(found.itertext()).strip() if found is not None else ""
        return value or None

    ids = [(i.get("root") or "", i.get("extension") or "")
           for i in root.iterfind("hl7:recordTarget/hl7:patientRole/hl7:id", NS)]
    ins = next(((ext, rt) for rt, ext in ids if rt in INS_OIDS and ext), None)
    patient = "hl7:recordTarget/hl7:patientRole/hl7:patient"
    given = [("".join(g.itertext()).strip(), g.get("qualifier")) for g in root.iterfind(f"{patient}/hl7:name/hl7:given",
                                                                                         NS)]
    doc_id = root.find("hl7:id", NS)
    document_id = None
    if doc_id is not None and doc_id.get("root"):
        document_id = str(doc_id.get("root")) + (f"^{doc_id.get('extension')}" if doc_id.get("extension") else "")
    return CdaFacts(
        code=attr("hl7:code", "code"), code_system=attr("hl7:code", "codeSystem"),
        display=attr("hl7:code", "displayName"), document_id=document_id,
        effective_time=attr("hl7:effectiveTime", "value"), confidentiality=attr("hl7:confidentialityCode", "code"),
        language=attr("hl7:languageCode", "code"), ins=ins,
        other_ids=[(rt, ext) for rt, ext in ids if rt not in INS_OIDS],
        traits={
            "birth_name": text(f"{patient}/hl7:name/hl7:family[@qualifier='BR']"),
            "first_given_name": next((g for g, q in given if q == "BR"), None),
            "given_names": next((g for g, q in given if q is None), None),
            "birth_date": attr(f"{patient}/hl7:birthTime", "value"),
            "sex": attr(f"{patient}/hl7:administrativeGenderCode", "code"),
            "birth_place": text(f"{patient}/hl7:birthplace/hl7:place/hl7:addr/hl7:county"),
        },
        facility=attr("hl7:componentOf/hl7:encompassingEncounter/hl7:location/hl7:healthCareFacility/hl7:code",
                      "code"),
        practice=attr("hl7:documentationOf/hl7:serviceEvent/hl7:performer/hl7:assignedEntity/"
                      "hl7:representedOrganization/hl7:standardIndustryClassCode", "code"),
    )


def utc_timestamp(value: str | None) -> str | None:
    """A HL7 TS (``YYYYMMDDhhmmss[+-zzzz]``) in UTC without zone, as XDS creationTime wants it."""
    match = re.match(r"^(\d{4,14})(?:\.\d+)?([+-]\d{4})?$", value or "")
    if not match:
        return None
    digits, zone = match.groups()
    if zone is None or len(digits) < 12:
        return digits
    moment = datetime.strptime(digits[:12].ljust(12, "0"), "%Y%m%d%H%M")
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * (1 if zone[0] == "+" else -1)
    utc = (moment - offset).replace(tzinfo=UTC)
    return utc.strftime("%Y%m%d%H%M") + digits[12:]
