"""The project's own CDA rules: CI-SIS header (structuration minimale), INS in the header, DLU and TDDUI-CDA.

Rules are grouped in *parts*, one per expectation a requirement names (``realm-type``, ``author``…). Each part
has the rules the official structuration-minimale schematron enforces (``ASIP-STRUCT-MIN-StrucMin.sch`` of
TestContenuCDA 3.0, header template ``1.2.250.1.213.1.1.1.1``) and, in ``strict`` mode, the stricter rules a DUI's
documents must also follow (identifier OIDs and formats). Sources: shared/reference/ins-cda-fhir.md §2; the
kit's header template (cardinalities, datatypes, INS traits assert); the DLU volet schematron
``CI-SIS_DLU-EHPAD-DLU_2022.01.sch``; the TDDUI CDA IG 1.0.1 (``contenu_dossier_entete_cda.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from lxml import etree

from conformance.core.findings import Finding
from conformance.validation.ins import INS_OIDS, matricule_problems

HL7 = "urn:hl7-org:v3"
SDTC = "urn:hl7-org:sdtc"
NS = {"hl7": HL7, "sdtc": SDTC, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}

TYPE_ID_ROOT = "2.16.840.1.113883.1.3"
TYPE_ID_EXTENSION = "POCD_HD000040"
TEMPLATE_HL7_FRANCE = "2.16.840.1.113883.2.8.2.1"
TEMPLATE_CI_SIS = "1.2.250.1.213.1.1.1.1"
TEMPLATE_NON_STRUCTURED = "1.3.6.1.4.1.19376.1.2.20"
#: RPPS and systems ("OID autorité d'attribution des systèmes et des professionnels")
OID_PERSONS_SYSTEMS = "1.2.250.1.71.4.2.1"
#: structures: extension = Struct_IdNat = "1" + FINESS or "3" + SIRET
OID_STRUCTURES = "1.2.250.1.71.4.2.2"
#: the only other custodian root the header template accepts (hébergeur)
OID_HOSTING = "1.2.250.1.213.4.1"
OID_LOINC = "2.16.840.1.113883.6.1"
OID_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
OID_FACILITY_TYPES = "1.2.250.1.71.4.2.4"
OID_AUTHOR_SPECIALTY = "1.2.250.1.213.1.1.4.6"
OID_ESSMS_CATEGORY = "1.2.250.1.213.1.6.1.8"
OID_CISIS_TYPE_CODES = "1.2.250.1.213.1.1.4.12"
#: OIDs of the INS family that are not an INS but are legitimate patient ids (NSS-NIR, NSS-NIA)
_INS_FAMILY = "1.2.250.1.213.1.4."
_NON_INS_FAMILY = {"1.2.250.1.213.1.4.13", "1.2.250.1.213.1.4.14"}

_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))*$")
_UUID = re.compile(r"^[A-Fa-f\d]{8}-[A-Fa-f\d]{4}-[A-Fa-f\d]{4}-[A-Fa-f\d]{4}-[A-Fa-f\d]{12}$")
_RUID = re.compile(r"^[A-Za-z][A-Za-z\d\-]*$")
_TS = re.compile(r"^(?P<date>\d{4}(\d{2}(\d{2})?)?)(?P<time>\d{2}(\d{2}(\d{2}(\.\d{1,4})?)?)?)?(?P<tz>[+-]\d{4})?$")
_INT = re.compile(r"^-?[1-9]\d*$|^\+?\d+$")
_LANGUAGE = re.compile(r"^[a-z]{2}-[A-Z]{2}$")
#: "1" + FINESS (9 characters, Corsica 2A/2B) or "3" + SIRET (14 digits)
STRUCT_IDNAT = re.compile(r"^(1(\d{2}|2A|2B)\d{7}|3\d{14})$")
#: a person: "8" + RPPS (11 digits) or "0" + ADELI (9 digits); a system: Struct_IdNat "/" its id in the structure
#: (UNCERTAIN: the PS_IdNat and Struct_IdNat prefixes come from an ANS annex not read; official examples use
#: "3" + FINESS and "5" + SIRET before the slash, so any one-digit type prefix is accepted there)
PS_OR_SYSTEM_IDNAT = re.compile(r"^(0\d{9}|8\d{11}|\d[0-9AB]{8,14}/\S+)$")
_COG = re.compile(r"^(\d{2}|2A|2B)\d{3}$")
_TELECOM_SCHEMES = {"tel", "fax", "mailto", "http", "ftp", "mllp"}
_TELECOM_USES = {"H", "HP", "HV", "WP", "DIR", "PUB", "EC", "MC", "PG"}
_ADDR_USES = {"H", "HP", "HV", "WP", "TMP"}
_NULL_TELECOM = {"UNK", "NASK", "ASKU", "NAV", "MSK"}


@dataclass(frozen=True)
class DocumentType:
    """A document model the DUI produces: its code and the templateId of its volet."""

    name: str
    title: str
    code: str
    code_system: str
    display_name: str
    template_id: str


DOCUMENT_TYPES = {
    "DLU": DocumentType("DLU", "Document de liaison d'urgence (DLU-EHPAD)", "74207-2", OID_LOINC,
                        "Dossier de liaison d'urgence", "1.2.250.1.213.1.1.1.22"),
    "TDDUI-CDA": DocumentType("TDDUI-CDA", "Export du dossier usager (TDDUI-CDA)", "EXPORT_DUI",
                              OID_CISIS_TYPE_CODES, "Export du Dossier Usager Informatisé",
                              "1.2.250.1.213.1.1.1.58"),
}

@dataclass(frozen=True)
class DluModel:
    """One of the three DLU-EHPAD models: its templateId, its act code, its sections (title, exactly once?)."""

    name: str
    template_id: str
    act_code: str
    #: the treating physician (participant INF, function PCP) is required
    treating_physician: bool
    sections: dict[str, tuple[str, bool]]


_COMMENT = ("1.3.6.1.4.1.19376.1.4.1.2.16", ("Commentaire non codé", False))
_ATTACHED = ("1.2.250.1.213.1.1.2.37", ("Documents ajoutés", True))
_PROSTHESES = ("1.2.250.1.213.1.1.2.53", ("Prothèses et objets personnels", True))
#: CI-SIS_DLU-EHPAD-{DLU,FLUDT,FLUDR}_2022.01.sch and their Entete_*.sch (TestContenuCDA 3.0)
DLU_MODELS = {
    "DLU": DluModel("DLU-EHPAD-DLU", "1.2.250.1.213.1.1.1.22", "34117-2", True, dict([
        ("1.3.6.1.4.1.19376.1.5.3.1.1.13.2.10", ("Dispositions : établissement de santé de préférence", True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.6", ("Pathologies actives", False)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.8", ("Antécédents médicaux", False)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.13", ("Allergies et intolérances", False)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.19", ("Traitements", True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.35", ("Directives anticipées", True)),
        ("1.3.6.1.4.1.19376.1.7.3.1.1.13.7", ("Résultats d'évènements (état psychique, handicaps, déplacements)",
                                               True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.28", ("Résultats d'examens : bactérie multirésistante (BMR)", True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.23", ("Vaccinations", False)),
        _ATTACHED, _COMMENT,
    ])),
    "FLUDT": DluModel("DLU-EHPAD-FLUDT", "1.2.250.1.213.1.1.1.23", "28651-8", False, dict([
        ("1.3.6.1.4.1.19376.1.7.3.1.1.13.7", ("Résultats d'évènements : transfert de l'EHPAD vers le SU", True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.25", ("Signes vitaux", True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.28", ("Résultats d'examens : conscience et douleurs récentes", True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.19", ("Traitements", True)),
        ("1.3.6.1.4.1.19376.1.7.3.1.1.13.5", ("Évaluation du sommeil et de l'alimentation (dernier repas)", True)),
        _PROSTHESES, _COMMENT,
    ])),
    "FLUDR": DluModel("DLU-EHPAD-FLUDR", "1.2.250.1.213.1.1.1.24", "28651-8", False, dict([
        ("1.3.6.1.4.1.19376.1.7.3.1.1.13.7", ("Résultats d'évènements : retour du patient à l'EHPAD", True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.7", ("Diagnostic de sortie de l'épisode de soins", True)),
        ("1.3.6.1.4.1.19376.1.5.3.1.3.22", ("Traitements à la sortie", True)),
        _PROSTHESES, _ATTACHED, _COMMENT,
    ])),
}
#: TDDUI-CDA 1.0.1 body sections (IG example; cardinalities UNCERTAIN): templateId → (title, code, code system)
TDDUI_SECTIONS: dict[str, tuple[str, str, str]] = {
    "1.2.250.1.213.1.1.2.249": ("Historique des séjours", "GEN-362", "1.2.250.1.213.1.1.4.322"),
    "1.2.250.1.213.1.1.2.248": ("Évènements", "89793-4", OID_LOINC),
    "1.2.250.1.213.1.1.2.246": ("Évaluation du statut fonctionnel", "47420-5", OID_LOINC),
    "1.2.250.1.213.1.1.2.37": ("Documents ajoutés", "55107-7", OID_LOINC),
}
TDDUI_FACILITY_CODES = {"SA16", "SA18", "SA41"}


@cache
def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression, namespaces=NS)


def nodes(context: etree._Element, expression: str) -> list[Any]:
    """Result of a compiled XPath (namespaces ``hl7``, ``sdtc``, ``xsi``)."""
    result = _xpath(expression)(context)
    return result if isinstance(result, list) else [result]


def path(node: etree._Element) -> str:
    """A readable location: /ClinicalDocument/recordTarget/patientRole/id[2] (index only among namesakes)."""
    steps = []
    current: etree._Element | None = node
    while current is not None:
        qname = etree.QName(current)
        name = qname.localname if qname.namespace == HL7 else f"sdtc:{qname.localname}" \
            if qname.namespace == SDTC else qname.localname
        parent = current.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == current.tag]
            if len(same) > 1:
                name += f"[{same.index(current) + 1}]"
        steps.append(name)
        current = parent
    return "/" + "/".join(reversed(steps))


def _f(rule: str, location: str, message: str, expected: Any = None, actual: Any = None) -> Finding:
    return Finding(rule=rule, location=location, message=message, expected=expected, actual=actual)


def _cardinality(context: etree._Element, expression: str, low: int, high: int | None, rule: str,
                 label: str) -> Iterator[Finding]:
    """``label`` (French) must appear between ``low`` and ``high`` times under ``context``."""
    found = nodes(context, expression)
    where = path(context)
    if len(found) < low:
        expected = f"{low} fois" if low == high else f"au moins {low} fois"
        yield _f(rule, where, f"{label} absent" + ("" if low <= 1 else f" ({len(found)} sur {low})"),
                 expected=expected, actual=f"{len(found)} fois")
    elif high is not None and len(found) > high:
        expected = "une seule fois" if high == 1 else f"au plus {high} fois"
        yield _f(rule, path(found[high]), f"{label} présent {len(found)} fois au lieu d'{expected}",
                 expected=expected, actual=f"{len(found)} fois")


def is_uid(value: str) -> bool:
    """An HL7 uid: OID, UUID or RUID."""
    return bool(_OID.match(value) or _UUID.match(value) or _RUID.match(value))


def valid_ts(value: str) -> bool:
    """An HL7 TS (AAAAMMJJhhmmss[.ssss][±hhmm]) whose date and time exist."""
    match = _TS.match(value)
    if match is None:
        return False
    digits = match["date"] + (match["time"] or "")
    try:
        if len(digits) >= 8:
            date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        elif len(digits) >= 6 and not 1 <= int(digits[4:6]) <= 12:
            return False
    except ValueError:
        return False
    clock = digits[8:14]
    limits = (23, 59, 59)
    for index in range(0, len(clock), 2):
        if int(clock[index:index + 2]) > limits[index // 2]:
            return False
    tz = match["tz"]
    return tz is None or (int(tz[1:3]) <= 14 and int(tz[3:5]) <= 59)


def _ii(element: etree._Element, rule: str, label: str) -> Iterator[Finding]:
    """An II datatype: a root that is a uid, or a nullFlavor without root nor extension."""
    root = element.get("root")
    if element.get("nullFlavor") is not None:
        if root is not None or element.get("extension") is not None:
            yield _f(rule, path(element), f"{label} : nullFlavor avec @root ou @extension",
                     expected="nullFlavor seul", actual=dict(element.attrib))
        return
    if root is None:
        yield _f(rule, path(element), f"{label} sans attribut @root", expected="@root (OID)", actual=None)
    elif not is_uid(root):
        yield _f(rule, path(element), f"{label} : @root « {root} » n'est pas un OID ni un UUID valide",
                 expected="OID (chiffres séparés par des points) ou UUID", actual=root)


def clinical_document(root: etree._Element) -> etree._Element | None:
    """The ClinicalDocument: the root, or the one embedded in an auto-presentable XSLT (as the kit finds it)."""
    if root.tag == f"{{{HL7}}}ClinicalDocument":
        return root
    return next(root.iter(f"{{{HL7}}}ClinicalDocument"), None)


_document = clinical_document


Part = Callable[[etree._Element, bool], Iterator[Finding]]
PARTS: dict[str, Part] = {}
#: French label of each part, for CLI output
PART_TITLES: dict[str, str] = {}


def _part(name: str, title: str) -> Callable[[Part], Part]:
    def register(fn: Part) -> Part:
        PARTS[name] = fn
        PART_TITLES[name] = title
        return fn

    return register


@_part("realm-type", "realmCode FR et typeId CDA R2")
def _realm_type(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:realmCode[@code='FR']", 1, 1, "realmCode", "realmCode code=\"FR\"")
    yield from _cardinality(doc, f"hl7:typeId[@root='{TYPE_ID_ROOT}'][@extension='{TYPE_ID_EXTENSION}']", 1, 1,
                            "typeId", f"typeId {TYPE_ID_ROOT} / {TYPE_ID_EXTENSION}")


@_part("template-ids", "templateIds de l'en-tête")
def _template_ids(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, f"hl7:templateId[@root='{TEMPLATE_HL7_FRANCE}']", 1, 1, "templateId-hl7-france",
                            f"templateId HL7 France {TEMPLATE_HL7_FRANCE}")
    yield from _cardinality(doc, f"hl7:templateId[@root='{TEMPLATE_CI_SIS}']", 1, 1, "templateId-ci-sis",
                            f"templateId CI-SIS {TEMPLATE_CI_SIS}")
    others = f"hl7:templateId[not(@root='{TEMPLATE_HL7_FRANCE}') and not(@root='{TEMPLATE_CI_SIS}')]"
    yield from _cardinality(doc, others, 1, None, "templateId-volet", "templateId du modèle de document (volet)")
    for template in nodes(doc, "hl7:templateId"):
        yield from _ii(template, "templateId-root", "templateId")
    if nodes(doc, "hl7:component/hl7:nonXMLBody"):
        roots = sorted(t.get("root") or "" for t in nodes(doc, "hl7:templateId"))
        expected = sorted([TEMPLATE_HL7_FRANCE, TEMPLATE_CI_SIS, TEMPLATE_NON_STRUCTURED])
        if roots != expected:
            yield _f("templateId-non-structure", "/ClinicalDocument/templateId",
                     "Un document non structuré (nonXMLBody) porte exactement les trois templateIds "
                     f"{', '.join(expected)}", expected=expected, actual=roots)


@_part("document-ids", "id, setId et versionNumber du document")
def _document_ids(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    for name, label in (("id", "identifiant du document (id)"), ("setId", "identifiant du lot de versions (setId)")):
        yield from _cardinality(doc, f"hl7:{name}[not(@nullFlavor)]", 1, 1, name, label)
        for element in nodes(doc, f"hl7:{name}"):
            yield from _ii(element, f"{name}-root", name)
    yield from _cardinality(doc, "hl7:versionNumber[not(@nullFlavor)]", 1, 1, "versionNumber", "versionNumber")
    for version in nodes(doc, "hl7:versionNumber[not(@nullFlavor)]"):
        value = version.get("value")
        if value is None or not _INT.match(value):
            yield _f("versionNumber-value", path(version), "versionNumber/@value n'est pas un entier",
                     expected="entier", actual=value)
        elif strict and int(value) < 1:
            yield _f("versionNumber-value", path(version), "versionNumber commence à 1", expected=">= 1",
                     actual=value)


@_part("metadata", "code, title, effectiveTime, confidentialityCode et languageCode")
def _metadata(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:code[not(@nullFlavor)]", 1, 1, "code", "type de document (code)")
    for code in nodes(doc, "hl7:code[not(@nullFlavor)]"):
        missing = [a for a in ("code", "codeSystem", *(("displayName",) if strict else ())) if not code.get(a)]
        if missing:
            yield _f("code-attributs", path(code), "Le type de document n'a pas " + ", ".join(f"@{m}" for m in missing),
                     expected="@code, @codeSystem, @displayName", actual=dict(code.attrib))
    yield from _cardinality(doc, "hl7:title[not(@nullFlavor)]", 1, 1, "title", "titre du document (title)")
    if strict:
        for title in nodes(doc, "hl7:title[not(@nullFlavor)]"):
            if not "".join(title.itertext()).strip():
                yield _f("title-vide", path(title), "Le titre du document est vide", expected="texte", actual="")
    yield from _cardinality(doc, "hl7:effectiveTime[not(@nullFlavor)]", 1, 1, "effectiveTime",
                            "date du document (effectiveTime)")
    for time in nodes(doc, "hl7:effectiveTime[not(@nullFlavor)]"):
        value = time.get("value")
        if value is None or not valid_ts(value):
            yield _f("effectiveTime-format", path(time),
                     f"effectiveTime/@value « {value} » n'est pas une date HL7 (AAAAMMJJhhmmss±hhmm)",
                     expected="AAAAMMJJhhmmss±hhmm", actual=value)
    yield from _cardinality(doc, "hl7:confidentialityCode[not(@nullFlavor)]", 1, 1, "confidentialityCode",
                            "niveau de confidentialité (confidentialityCode)")
    for code in nodes(doc, "hl7:confidentialityCode[not(@nullFlavor)]"):
        if code.get("code") not in {"N", "R", "V"} or code.get("codeSystem") != OID_CONFIDENTIALITY:
            yield _f("confidentialityCode-valeur", path(code),
                     "confidentialityCode hors du jeu de valeurs HL7 Confidentiality (N, R, V)",
                     expected=f"N, R ou V / {OID_CONFIDENTIALITY}",
                     actual=f"{code.get('code')} / {code.get('codeSystem')}")
    yield from _cardinality(doc, "hl7:languageCode[not(@nullFlavor)]", 1, 1, "languageCode",
                            "langue du document (languageCode)")
    for language in nodes(doc, "hl7:languageCode[not(@nullFlavor)]"):
        if not _LANGUAGE.match(language.get("code") or ""):
            yield _f("languageCode-format", path(language),
                     f"languageCode « {language.get('code')} » n'a pas la forme langue-PAYS (fr-FR)",
                     expected="fr-FR", actual=language.get("code"))


def _identifier(element: etree._Element, root: str, pattern: re.Pattern[str], rule: str, label: str,
                shape: str) -> Iterator[Finding]:
    """A DUI identifier: the expected OID and an extension of the expected shape."""
    actual_root = element.get("root")
    if actual_root != root:
        yield _f(rule, path(element), f"{label} : OID « {actual_root} » au lieu de {root}", expected=root,
                 actual=actual_root)
    elif not pattern.match(element.get("extension") or ""):
        yield _f(rule, path(element), f"{label} : extension « {element.get('extension')} » mal formée ({shape})",
                 expected=shape, actual=element.get("extension"))


_PERSON_SHAPE = "8 + n° RPPS, 0 + n° ADELI, ou identifiant de structure / identifiant du système"
_STRUCTURE_SHAPE = "1 + n° FINESS ou 3 + n° SIRET"


@_part("author", "auteur du document")
def _author(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:author[not(@nullFlavor)][hl7:assignedAuthor]", 1, None, "author",
                            "auteur (author/assignedAuthor)")
    for author in nodes(doc, "hl7:author[hl7:assignedAuthor]"):
        yield from _cardinality(author, "hl7:time", 1, 1, "author-time", "date de l'auteur (author/time)")
        for time in nodes(author, "hl7:time[@value]"):
            if not valid_ts(time.get("value") or ""):
                yield _f("author-time", path(time), f"author/time « {time.get('value')} » n'est pas une date HL7",
                         expected="AAAAMMJJhhmmss±hhmm", actual=time.get("value"))
        for assigned in nodes(author, "hl7:assignedAuthor"):
            yield from _cardinality(assigned, "hl7:id", 1, None, "author-id", "identifiant de l'auteur")
            yield from _cardinality(assigned, "hl7:code", 0, 1, "author-code", "profession de l'auteur (code)")
            if nodes(assigned, "hl7:assignedPerson") and nodes(assigned, "hl7:assignedAuthoringDevice"):
                yield _f("author-personne-ou-systeme", path(assigned),
                         "L'auteur est à la fois une personne et un dispositif",
                         expected="assignedPerson ou assignedAuthoringDevice", actual="les deux")
            yield from _cardinality(assigned, f"hl7:representedOrganization/hl7:id[@root='{OID_STRUCTURES}']",
                                    0, 1, "author-structure", "identifiant de la structure de l'auteur")
            if not strict:
                continue
            if not nodes(assigned, "hl7:assignedPerson | hl7:assignedAuthoringDevice"):
                yield _f("author-personne-ou-systeme", path(assigned),
                         "L'auteur n'est ni une personne (assignedPerson) ni un système (assignedAuthoringDevice)",
                         expected="assignedPerson ou assignedAuthoringDevice", actual=None)
            for identifier in nodes(assigned, "hl7:id")[:1]:
                yield from _identifier(identifier, OID_PERSONS_SYSTEMS, PS_OR_SYSTEM_IDNAT, "author-id-oid",
                                       "Identifiant de l'auteur", _PERSON_SHAPE)
            organizations = nodes(assigned, "hl7:representedOrganization/hl7:id")
            if not organizations:
                yield _f("author-structure", path(assigned),
                         "La structure de rattachement de l'auteur (representedOrganization/id) est absente",
                         expected=f"id {OID_STRUCTURES}", actual=None)
            for identifier in organizations[:1]:
                yield from _identifier(identifier, OID_STRUCTURES, STRUCT_IDNAT, "author-structure",
                                       "Structure de l'auteur", _STRUCTURE_SHAPE)


@_part("custodian", "structure responsable (custodian)")
def _custodian(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:custodian[not(@nullFlavor)][hl7:assignedCustodian]", 1, 1, "custodian",
                            "structure responsable (custodian)")
    organization = "hl7:custodian/hl7:assignedCustodian/hl7:representedCustodianOrganization"
    for custodian in nodes(doc, "hl7:custodian/hl7:assignedCustodian"):
        yield from _cardinality(custodian, "hl7:representedCustodianOrganization", 1, 1, "custodian-organisation",
                                "representedCustodianOrganization")
    for identifier in nodes(doc, f"{organization}/hl7:id"):
        allowed = {OID_STRUCTURES} if strict else {OID_STRUCTURES, OID_HOSTING}
        if identifier.get("root") not in allowed:
            yield _f("custodian-id-oid", path(identifier),
                     f"Identifiant de la structure responsable sous l'OID « {identifier.get('root')} »",
                     expected=" ou ".join(sorted(allowed)), actual=identifier.get("root"))
        elif strict:
            yield from _identifier(identifier, OID_STRUCTURES, STRUCT_IDNAT, "custodian-id-format",
                                   "Structure responsable", _STRUCTURE_SHAPE)
    for org in nodes(doc, organization):
        yield from _cardinality(org, "hl7:id", 1, 1, "custodian-id", "identifiant de la structure responsable")
        if strict:
            yield from _cardinality(org, "hl7:name", 1, 1, "custodian-nom", "nom de la structure responsable")


@_part("legal-authenticator", "responsable légal (legalAuthenticator)")
def _legal_authenticator(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:legalAuthenticator[hl7:signatureCode[@code='S']]", 1, 1,
                            "legalAuthenticator", "responsable légal signé (legalAuthenticator, signatureCode S)")
    for legal in nodes(doc, "hl7:legalAuthenticator"):
        yield from _cardinality(legal, "hl7:time", 1, 1, "legalAuthenticator-time",
                                "date de prise de responsabilité (legalAuthenticator/time)")
        yield from _cardinality(legal, "hl7:assignedEntity", 1, 1, "legalAuthenticator-entite",
                                "assignedEntity du responsable légal")
        for entity in nodes(legal, "hl7:assignedEntity"):
            yield from _cardinality(entity, "hl7:id", 1, None, "legalAuthenticator-id",
                                    "identifiant du responsable légal")
            if strict:
                for identifier in nodes(entity, "hl7:id")[:1]:
                    yield from _identifier(identifier, OID_PERSONS_SYSTEMS, PS_OR_SYSTEM_IDNAT,
                                           "legalAuthenticator-id-oid", "Identifiant du responsable légal",
                                           _PERSON_SHAPE)


@_part("service-event", "acte documenté (documentationOf/serviceEvent)")
def _service_event(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:documentationOf[not(@nullFlavor)][hl7:serviceEvent]", 1, None,
                            "documentationOf", "acte documenté (documentationOf/serviceEvent)")
    first = nodes(doc, "hl7:documentationOf[1]/hl7:serviceEvent")
    for event in first[:1]:
        yield from _cardinality(event, "hl7:performer", 1, 1, "serviceEvent-performer",
                                "exécutant de l'acte principal (performer)")
        yield from _cardinality(event, "hl7:effectiveTime", 1, 1, "serviceEvent-effectiveTime",
                                "date de l'acte principal (effectiveTime)")
        for entity in nodes(event, "hl7:performer/hl7:assignedEntity"):
            yield from _cardinality(entity, "hl7:representedOrganization", 1, 1, "serviceEvent-structure",
                                    "structure de l'exécutant (representedOrganization)")


@_part("encounter", "prise en charge (componentOf/encompassingEncounter)")
def _encounter(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:componentOf[not(@nullFlavor)][hl7:encompassingEncounter]", 1, 1,
                            "componentOf", "prise en charge (componentOf/encompassingEncounter)")
    for encounter in nodes(doc, "hl7:componentOf/hl7:encompassingEncounter"):
        yield from _cardinality(encounter, "hl7:effectiveTime", 1, 1, "encompassingEncounter-effectiveTime",
                                "date de la prise en charge (encompassingEncounter/effectiveTime)")
        yield from _cardinality(encounter, "hl7:location", 1, 1, "encompassingEncounter-location",
                                "lieu de la prise en charge (location)")
        for location in nodes(encounter, "hl7:location"):
            yield from _cardinality(location, "hl7:healthCareFacility", 1, 1, "healthCareFacility",
                                    "healthCareFacility")
        for facility in nodes(encounter, "hl7:location/hl7:healthCareFacility"):
            yield from _cardinality(facility, "hl7:code", 1, 1, "healthCareFacility-code",
                                    "modalité d'exercice (healthCareFacility/code)")
            for code in nodes(facility, "hl7:code"):
                if not code.get("code") or not code.get("codeSystem"):
                    yield _f("healthCareFacility-code", path(code), "healthCareFacility/code sans @code ou @codeSystem",
                             expected="@code et @codeSystem (JDV_J02)", actual=dict(code.attrib))
                elif strict and code.get("codeSystem") != OID_FACILITY_TYPES:
                    yield _f("healthCareFacility-code", path(code),
                             "healthCareFacility/code hors de la nomenclature des modalités d'exercice",
                             expected=OID_FACILITY_TYPES, actual=code.get("codeSystem"))


@_part("record-target", "usager (recordTarget)")
def _record_target(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:recordTarget[not(@nullFlavor)]", 1, 1, "recordTarget", "usager (recordTarget)")
    for target in nodes(doc, "hl7:recordTarget"):
        yield from _cardinality(target, "hl7:patientRole[hl7:patient]", 1, 1, "patientRole",
                                "patientRole avec patient")
    for role in nodes(doc, "hl7:recordTarget/hl7:patientRole[hl7:patient]"):
        yield from _cardinality(role, "hl7:id[not(@nullFlavor)]", 1, None, "patientRole-id",
                                "identifiant de l'usager (patientRole/id)")
        for identifier in nodes(role, "hl7:id"):
            yield from _ii(identifier, "patientRole-id", "Identifiant de l'usager")
            if identifier.get("nullFlavor") is None and not identifier.get("extension"):
                yield _f("patientRole-id", path(identifier), "Identifiant de l'usager sans @extension",
                         expected="@root et @extension", actual=dict(identifier.attrib))
        for telecom in nodes(role, "hl7:telecom"):
            yield from _telecom(telecom)
        for patient in nodes(role, "hl7:patient"):
            yield from _patient(patient)


def _patient(patient: etree._Element) -> Iterator[Finding]:
    yield from _cardinality(patient, "hl7:name[not(@nullFlavor)]", 1, 1, "patient-name", "nom de l'usager (name)")
    yield from _cardinality(patient, "hl7:administrativeGenderCode", 1, 1, "patient-sexe",
                            "sexe (administrativeGenderCode)")
    yield from _cardinality(patient, "hl7:birthTime", 1, 1, "patient-naissance", "date de naissance (birthTime)")
    yield from _cardinality(patient, "hl7:birthplace[hl7:place]", 0, 1, "patient-lieu-naissance",
                            "lieu de naissance (birthplace)")
    for name in nodes(patient, "hl7:name[not(@nullFlavor)]"):
        yield from _cardinality(name, "hl7:family[not(@nullFlavor)]", 1, None, "patient-nom",
                                "nom de famille (family)")
        yield from _cardinality(name, "hl7:given[not(@nullFlavor)]", 1, None, "patient-prenom", "prénom (given)")
        yield from _cardinality(name, "hl7:prefix", 0, 1, "patient-civilite", "civilité (prefix)")
        yield from _cardinality(name, "hl7:suffix", 0, 1, "patient-titre", "titre (suffix)")
        for family in nodes(name, "hl7:family[not(@nullFlavor)]"):
            if family.get("qualifier") not in {"BR", "CL"}:
                yield _f("family-qualifier", path(family),
                         "Nom de famille sans qualifier BR (nom de naissance) ou CL (nom utilisé)",
                         expected="BR ou CL", actual=family.get("qualifier"))
        for given in nodes(name, "hl7:given[@qualifier]"):
            if given.get("qualifier") not in {"BR", "CL"}:
                yield _f("given-qualifier", path(given),
                         "Prénom typé par un qualifier autre que BR (premier prénom de naissance) ou CL (utilisé)",
                         expected="BR, CL ou aucun", actual=given.get("qualifier"))


def _telecom(telecom: etree._Element) -> Iterator[Finding]:
    value = telecom.get("value")
    null = telecom.get("nullFlavor")
    if not (null in _NULL_TELECOM and len(telecom.attrib) == 1):
        scheme, _, rest = (value or "").partition(":")
        if scheme not in _TELECOM_SCHEMES or not rest:
            yield _f("telecom-format", path(telecom),
                     f"Adresse de télécommunication « {value} » sans préfixe tel:, fax:, mailto:, http:, ftp: ou mllp:",
                     expected="préfixe:valeur (tel:0102030405)", actual=value)
    if telecom.get("use") is not None and telecom.get("use") not in _TELECOM_USES:
        yield _f("telecom-use", path(telecom), f"telecom/@use « {telecom.get('use')} » non permis",
                 expected=sorted(_TELECOM_USES), actual=telecom.get("use"))


@_part("ins-traits", "traits d'identité INS")
def _ins_traits(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    """The kit's INS assert: with an INS (or without any patient id extension), the six traits are present."""
    roles = nodes(doc, "hl7:recordTarget/hl7:patientRole")
    roots = [i.get("root") for role in roles for i in nodes(role, "hl7:id")]
    has_ins = any(r in INS_OIDS for r in roots)
    has_extension = any(i.get("extension") for role in roles for i in nodes(role, "hl7:id"))
    if not has_ins and has_extension:
        return
    patient = "hl7:recordTarget/hl7:patientRole/hl7:patient"
    traits = {
        "nom de naissance (family qualifier=\"BR\")": f"{patient}/hl7:name/hl7:family[@qualifier='BR']",
        "prénoms de naissance (given sans qualifier)": f"{patient}/hl7:name/hl7:given[not(@qualifier)]",
        "premier prénom de naissance (given qualifier=\"BR\")": f"{patient}/hl7:name/hl7:given[@qualifier='BR']",
        "date de naissance (birthTime)": f"{patient}/hl7:birthTime",
        "lieu de naissance, code COG (birthplace/place/addr/county)":
            f"{patient}/hl7:birthplace/hl7:place/hl7:addr/hl7:county",
        "sexe (administrativeGenderCode/@code)": f"{patient}/hl7:administrativeGenderCode/@code",
    }
    for label, expression in traits.items():
        found = nodes(doc, expression)
        where = "/ClinicalDocument/recordTarget/patientRole/patient"
        if not found:
            yield _f("ins-trait-absent", where, f"Avec un INS, le trait {label} est obligatoire", expected=label,
                     actual=None)
        elif strict:
            element = found[0] if isinstance(found[0], etree._Element) else None
            value = (element.get("value") if element is not None and element.tag == f"{{{HL7}}}birthTime"
                     else "".join(element.itertext()).strip() if element is not None else str(found[0]))
            if (element is not None and element.get("nullFlavor") is not None) or not value:
                yield _f("ins-trait-vide", path(element) if element is not None else where,
                         f"Avec un INS, le trait {label} ne peut être vide ni nullFlavor", expected=label, actual=value)
            elif "county" in expression and not _COG.match(value):
                yield _f("ins-trait-cog", path(element) if element is not None else where,
                         f"Code COG du lieu de naissance « {value} » mal formé", expected="5 caractères (2A/2B admis)",
                         actual=value)
            elif "birthTime" in expression and not (len(value) >= 8 and valid_ts(value)):
                yield _f("ins-trait-date", path(element) if element is not None else where,
                         f"Date de naissance « {value} » incomplète ou invalide", expected="AAAAMMJJ", actual=value)


@_part("other", "autres règles de structuration minimale")
def _other(doc: etree._Element, strict: bool) -> Iterator[Finding]:
    yield from _cardinality(doc, "hl7:component", 1, 1, "component", "corps du document (component)")
    yield from _cardinality(doc, "hl7:relatedDocument[@typeCode='RPLC'][hl7:parentDocument]", 0, 1,
                            "relatedDocument", "document remplacé (relatedDocument RPLC)")
    yield from _cardinality(doc, "hl7:dataEnterer", 0, 1, "dataEnterer", "dataEnterer")
    header = ("hl7:author | hl7:custodian | hl7:legalAuthenticator | hl7:authenticator | hl7:informant | "
              "hl7:participant | hl7:documentationOf | hl7:componentOf | hl7:informationRecipient | hl7:dataEnterer")
    for section in nodes(doc, header):
        for telecom in section.iter(f"{{{HL7}}}telecom"):
            yield from _telecom(telecom)
        for addr in section.iter(f"{{{HL7}}}addr"):
            if addr.get("use") is not None and addr.get("use") not in _ADDR_USES:
                yield _f("addr-use", path(addr), f"addr/@use « {addr.get('use')} » non permis",
                         expected=sorted(_ADDR_USES), actual=addr.get("use"))
    for addr in nodes(doc, "hl7:recordTarget/hl7:patientRole/hl7:addr"):
        if addr.get("use") is not None and addr.get("use") not in _ADDR_USES:
            yield _f("addr-use", path(addr), f"addr/@use « {addr.get('use')} » non permis",
                     expected=sorted(_ADDR_USES), actual=addr.get("use"))
    for participant in nodes(doc, "hl7:participant[@typeCode][hl7:associatedEntity[@classCode]]"):
        yield from _cardinality(participant, "hl7:time", 1, 1, "participant-time", "date de participation (time)")
        yield from _cardinality(participant, "hl7:functionCode", 0, 1, "participant-fonction",
                                "fonction du participant (functionCode)")
    for entity in nodes(doc, "hl7:authenticator/hl7:assignedEntity | "
                             "hl7:informationRecipient/hl7:intendedRecipient[hl7:id]"):
        for identifier in nodes(entity, "hl7:id[not(@nullFlavor)]"):
            if identifier.get("root") != OID_PERSONS_SYSTEMS:
                yield _f("identifiant-ps", path(identifier),
                         f"Identifiant de professionnel sous l'OID « {identifier.get('root')} »",
                         expected=OID_PERSONS_SYSTEMS, actual=identifier.get("root"))


#: the parts the official structuration-minimale schematron covers (the built-in header verdict)
HEADER_PARTS = ("realm-type", "template-ids", "document-ids", "metadata", "author", "custodian",
                "legal-authenticator", "service-event", "encounter", "record-target", "ins-traits", "other")


def not_a_cda(root: etree._Element) -> Finding:
    """The finding for a document that holds no CDA R2 ClinicalDocument."""
    qname = etree.QName(root)
    return _f("racine", "/", f"L'élément racine est {{{qname.namespace}}}{qname.localname} et le document ne contient "
                             "pas de ClinicalDocument CDA R2",
              expected=f"{{{HL7}}}ClinicalDocument", actual=f"{{{qname.namespace}}}{qname.localname}")


def part_findings(root: etree._Element, part: str, *, strict: bool = True) -> list[Finding]:
    """Findings of one part; strict adds the DUI rules on top of the structuration minimale."""
    doc = _document(root)
    if doc is None:
        return [not_a_cda(root)]
    return list(PARTS[part](doc, strict))


def structuration_minimale(root: etree._Element) -> list[Finding]:
    """The built-in header verdict: every rule the official structuration-minimale schematron enforces."""
    doc = _document(root)
    if doc is None:
        return [not_a_cda(root)]
    return [finding for part in HEADER_PARTS for finding in PARTS[part](doc, False)]


def ins_findings(root: etree._Element, expected: object = ...) -> list[Finding]:
    """INS in the header: known OID, valid matricule, and (given ``expected``) only and exactly the DUI's INS.

    ``expected`` is the INS the DUI holds for a qualified identity (``{matricule, oid}``), ``None`` when the
    identity is not qualified (then no INS may be sent), or left out to check only the OID and the key.
    """
    doc = _document(root)
    if doc is None:
        return [not_a_cda(root)]
    findings: list[Finding] = []
    ids = nodes(doc, "hl7:recordTarget/hl7:patientRole/hl7:id")
    ins_ids = [i for i in ids if i.get("root") in INS_OIDS]
    for identifier in ids:
        root_oid = identifier.get("root") or ""
        if root_oid.startswith(_INS_FAMILY) and root_oid not in INS_OIDS and root_oid not in _NON_INS_FAMILY:
            findings.append(_f("ins-oid-inconnu", path(identifier),
                               f"OID « {root_oid} » inconnu : un INS se transmet sous 1.2.250.1.213.1.4.8 (NIR), "
                               ".9 (NIA), .10 (NIR de test) ou .11 (NIR de démonstration)",
                               expected=sorted(INS_OIDS), actual=root_oid))
    if len(ins_ids) > 1:
        findings.append(_f("ins-multiple", path(ins_ids[1]), f"{len(ins_ids)} identifiants INS pour un même usager",
                           expected="un seul INS", actual=[f"{i.get('root')}/{i.get('extension')}" for i in ins_ids]))
    for identifier in ins_ids:
        for problem in matricule_problems(identifier.get("extension") or ""):
            findings.append(_f(f"ins-{problem.rule}", path(identifier), f"Matricule INS invalide : {problem.message}",
                               expected=problem.expected, actual=problem.actual))
    if expected is ...:
        return findings
    if expected is None:
        for identifier in ins_ids:
            findings.append(_f("ins-non-qualifie", path(identifier),
                               "Le document transmet un INS alors que l'identité de l'usager n'est pas qualifiée",
                               expected="aucun INS (identité non qualifiée)",
                               actual=f"{identifier.get('root')}/{identifier.get('extension')}"))
        return findings
    assert isinstance(expected, Mapping)
    want = f"{expected.get('oid')}/{expected.get('matricule')}"
    if not ins_ids:
        findings.append(_f("ins-absent", "/ClinicalDocument/recordTarget/patientRole",
                           "L'identité est qualifiée mais le document ne transmet pas son INS", expected=want,
                           actual=[f"{i.get('root')}/{i.get('extension')}" for i in ids]))
    for identifier in ins_ids[:1]:
        sent, held = identifier.get("root") or "", str(expected.get("oid") or "")
        if held and sent != held:
            findings.append(_f("ins-oid", path(identifier),
                               f"INS transmis sous l'OID {sent} ({INS_OIDS.get(sent)}) au lieu de {held} "
                               f"({INS_OIDS.get(held, '?')}) que le DUI détient",
                               expected=expected.get("oid"), actual=identifier.get("root")))
        if expected.get("matricule") and identifier.get("extension") != expected.get("matricule"):
            findings.append(_f("ins-matricule", path(identifier), "Le matricule INS diffère de celui détenu par le DUI",
                               expected=expected.get("matricule"), actual=identifier.get("extension")))
    return findings


def identity_findings(root: etree._Element, traits: Mapping[str, Any]) -> list[Finding]:
    """The identity in the header equals the traits the DUI holds (only the traits present are compared)."""
    doc = _document(root)
    if doc is None:
        return [not_a_cda(root)]
    patient = "hl7:recordTarget/hl7:patientRole/hl7:patient"
    birth_date = str(traits.get("birth_date") or "").replace("-", "")
    compared = [
        ("birth_name", "nom de naissance", f"{patient}/hl7:name/hl7:family[@qualifier='BR']",
         traits.get("birth_name")),
        ("given_names", "prénoms de naissance", f"{patient}/hl7:name/hl7:given[not(@qualifier)]",
         traits.get("given_names")),
        ("first_given_name", "premier prénom de naissance", f"{patient}/hl7:name/hl7:given[@qualifier='BR']",
         traits.get("first_given_name")),
        ("used_name", "nom utilisé", f"{patient}/hl7:name/hl7:family[@qualifier='CL']", traits.get("used_name")),
        ("used_given_name", "prénom utilisé", f"{patient}/hl7:name/hl7:given[@qualifier='CL']",
         traits.get("used_given_name")),
        ("birth_date", "date de naissance", f"{patient}/hl7:birthTime/@value", birth_date or None),
        ("sex", "sexe", f"{patient}/hl7:administrativeGenderCode/@code", traits.get("sex")),
        ("birth_place_cog", "lieu de naissance (COG)", f"{patient}/hl7:birthplace/hl7:place/hl7:addr/hl7:county",
         traits.get("birth_place_cog")),
    ]
    findings = []
    for rule, label, expression, want in compared:
        if want is None:
            continue
        found = nodes(doc, expression)
        if not found:
            continue  # absence is the business of the structure and INS-traits rules
        node = found[0]
        if isinstance(node, etree._Element):
            actual, where = " ".join("".join(node.itertext()).split()), path(node)
        else:
            actual, where = str(node), path(node.getparent()) + f"/@{node.attrname}"
        if rule == "birth_date":
            actual = actual[:8]
        if actual != str(want):
            findings.append(_f(f"identite-{rule.replace('_', '-')}", where,
                               f"Le {label} du document diffère de celui détenu par le DUI",
                               expected=str(want), actual=actual))
    return findings


def document_type_findings(root: etree._Element, requested: str) -> list[Finding]:
    """The document's code is the one of the requested type (DLU → LOINC 74207-2, TDDUI-CDA → EXPORT_DUI)."""
    doc = _document(root)
    if doc is None:
        return [not_a_cda(root)]
    wanted = DOCUMENT_TYPES[requested]
    codes = nodes(doc, "hl7:code")
    actual = f"{codes[0].get('code')} / {codes[0].get('codeSystem')}" if codes else None
    if actual != f"{wanted.code} / {wanted.code_system}":
        return [_f("type-document", "/ClinicalDocument/code",
                   f"Document demandé : {wanted.title} ; le document reçu est de type « {actual} »",
                   expected=f"{wanted.code} / {wanted.code_system}", actual=actual)]
    return []


def _sections(doc: etree._Element) -> list[etree._Element]:
    return nodes(doc, "hl7:component/hl7:structuredBody/hl7:component/hl7:section")


def dlu_model(root: etree._Element) -> str | None:
    """DLU, FLUDT or FLUDR from the document's templateIds, or None."""
    doc = _document(root)
    roots = set(nodes(doc, "hl7:templateId/@root")) if doc is not None else set()
    return next((name for name, model in DLU_MODELS.items() if model.template_id in roots), None)


def dlu_findings(root: etree._Element, model: str | None = None) -> list[Finding]:
    """DLU-EHPAD (DLU, FLUDT, FLUDR) 2022.01: volet templateId, header specifics and sections.

    The model is the one ``model`` names, else the one the document declares, else DLU (the document is then
    missing its templateId, which is reported).
    """
    doc = _document(root)
    if doc is None:
        return [not_a_cda(root)]
    spec = DLU_MODELS[model or dlu_model(root) or "DLU"]
    findings = list(_cardinality(doc, f"hl7:templateId[@root='{spec.template_id}']", 1, 1, "dlu-templateId",
                                 f"templateId du modèle {spec.name} ({spec.template_id})"))
    if not nodes(doc, "hl7:recordTarget/hl7:patientRole/hl7:patient/hl7:birthTime"):
        findings.append(_f("dlu-naissance", "/ClinicalDocument/recordTarget/patientRole/patient",
                           "La date de naissance de l'usager est obligatoire dans un DLU", expected="birthTime"))
    if spec.treating_physician and not nodes(doc, "hl7:participant[@typeCode='INF']/hl7:functionCode[@code='PCP']"):
        findings.append(_f("dlu-medecin-traitant", "/ClinicalDocument/participant",
                           "Le médecin traitant (participant typeCode=\"INF\", functionCode \"PCP\") est absent",
                           expected="participant INF / functionCode PCP",
                           actual=[p.get("typeCode") for p in nodes(doc, "hl7:participant")]))
    events = nodes(doc, "hl7:documentationOf/hl7:serviceEvent")
    if not nodes(doc, f"hl7:documentationOf/hl7:serviceEvent/hl7:code[@code='{spec.act_code}']"):
        findings.append(_f("dlu-acte", "/ClinicalDocument/documentationOf/serviceEvent/code",
                           f"Le code de l'acte documenté d'un document {spec.name} est fixé à {spec.act_code}",
                           expected=spec.act_code,
                           actual=[c.get("code") for e in events for c in nodes(e, "hl7:code")]))
    times = nodes(doc, "hl7:documentationOf/hl7:serviceEvent/hl7:effectiveTime")
    if not times or any(t.get("nullFlavor") or nodes(t, "hl7:low[@nullFlavor]") for t in times):
        findings.append(_f("dlu-date-acte", "/ClinicalDocument/documentationOf/serviceEvent/effectiveTime",
                           "La date de début de l'acte documenté est obligatoire (sans nullFlavor) dans un DLU",
                           expected="effectiveTime/low", actual=None if not times else "nullFlavor"))
    present: dict[str, int] = {}
    for section in _sections(doc):
        for template in nodes(section, "hl7:templateId/@root"):
            present[str(template)] = present.get(str(template), 0) + 1
    for template, (title, required) in spec.sections.items():
        count = present.get(template, 0)
        if (required and count != 1) or count > 1:
            findings.append(_f("dlu-section", "/ClinicalDocument/component/structuredBody",
                               f"Section « {title} » ({template}) présente {count} fois",
                               expected="1 fois" if required else "0 ou 1 fois", actual=f"{count} fois"))
    return findings


def tddui_header_findings(root: etree._Element) -> list[Finding]:
    """TDDUI-CDA header: volet templateId, the DUI software as author and legal authenticator, ESSMS facility."""
    doc = _document(root)
    if doc is None:
        return [not_a_cda(root)]
    model = DOCUMENT_TYPES["TDDUI-CDA"].template_id
    findings = list(_cardinality(doc, f"hl7:templateId[@root='{model}']", 1, 1, "tddui-templateId",
                                 f"templateId du modèle TDDUI-CDA ({model})"))
    authors = nodes(doc, "hl7:author/hl7:assignedAuthor")
    logiciel = f"hl7:code[@code='LOGICIEL_DUI'][@codeSystem='{OID_AUTHOR_SPECIALTY}']"
    software = [a for a in authors if nodes(a, logiciel)]
    if not software:
        findings.append(_f("tddui-auteur-logiciel", "/ClinicalDocument/author/assignedAuthor/code",
                           "L'auteur d'un export TDDUI-CDA est le logiciel DUI (code LOGICIEL_DUI)",
                           expected=f"LOGICIEL_DUI / {OID_AUTHOR_SPECIALTY}",
                           actual=[c.get("code") for a in authors for c in nodes(a, "hl7:code")]))
    for author in software[:1]:
        if not nodes(author, "hl7:assignedAuthoringDevice") or nodes(author, "hl7:assignedPerson"):
            findings.append(_f("tddui-auteur-dispositif", path(author),
                               "L'auteur LOGICIEL_DUI est décrit comme un dispositif (assignedAuthoringDevice), "
                               "pas comme une personne", expected="assignedAuthoringDevice",
                               actual=[etree.QName(c).localname for c in author if isinstance(c.tag, str)]))
    for identifier in nodes(doc, "hl7:custodian/hl7:assignedCustodian/hl7:representedCustodianOrganization/hl7:id"):
        if identifier.get("root") != OID_STRUCTURES:
            findings.append(_f("tddui-custodian", path(identifier),
                               "La structure responsable d'un export TDDUI-CDA est l'ESSMS (identifiant de structure)",
                               expected=OID_STRUCTURES, actual=identifier.get("root")))
    if not nodes(doc, f"hl7:legalAuthenticator/hl7:assignedEntity/{logiciel}"):
        findings.append(_f("tddui-responsable-logiciel", "/ClinicalDocument/legalAuthenticator/assignedEntity/code",
                           "Le responsable légal d'un export TDDUI-CDA est le logiciel DUI (code LOGICIEL_DUI)",
                           expected=f"LOGICIEL_DUI / {OID_AUTHOR_SPECIALTY}",
                           actual=[c.get("code")
                                   for c in nodes(doc, "hl7:legalAuthenticator/hl7:assignedEntity/hl7:code")]))
    facility = nodes(doc, "hl7:componentOf/hl7:encompassingEncounter/hl7:location/hl7:healthCareFacility/hl7:code")
    for code in facility[:1]:
        if code.get("code") not in TDDUI_FACILITY_CODES or code.get("codeSystem") != OID_FACILITY_TYPES:
            findings.append(_f("tddui-modalite", path(code),
                               "La modalité d'exercice d'un export TDDUI-CDA est SA16, SA18 ou SA41",
                               expected=sorted(TDDUI_FACILITY_CODES), actual=code.get("code")))
        if not nodes(code, f"hl7:translation[@codeSystem='{OID_ESSMS_CATEGORY}'][@code]"):
            findings.append(_f("tddui-categorie", path(code),
                               "La modalité d'exercice est traduite par la catégorie d'ESSMS (JDV_J254)",
                               expected=f"translation {OID_ESSMS_CATEGORY}", actual=None))
    if not facility:
        findings.append(_f("tddui-modalite", "/ClinicalDocument/componentOf/encompassingEncounter/location",
                           "La modalité d'exercice de l'ESSMS (healthCareFacility/code) est absente",
                           expected=sorted(TDDUI_FACILITY_CODES), actual=None))
    versions = nodes(doc, "hl7:versionNumber/@value")
    if versions and str(versions[0]).isdigit() and int(versions[0]) > 1 and not nodes(doc, "hl7:relatedDocument"):
        findings.append(_f("tddui-version", "/ClinicalDocument/relatedDocument",
                           "Une nouvelle version de l'export référence la précédente (relatedDocument)",
                           expected="relatedDocument RPLC", actual=None))
    return findings


def tddui_sections_findings(root: etree._Element) -> list[Finding]:
    """TDDUI-CDA body: its four sections, each once, with its code and a narrative."""
    doc = _document(root)
    if doc is None:
        return [not_a_cda(root)]
    findings = []
    for template, (title, code, system) in TDDUI_SECTIONS.items():
        sections = [s for s in _sections(doc) if nodes(s, f"hl7:templateId[@root='{template}']")]
        if len(sections) != 1:
            findings.append(_f("tddui-section", "/ClinicalDocument/component/structuredBody",
                               f"Section « {title} » ({template}) présente {len(sections)} fois",
                               expected="1 fois", actual=f"{len(sections)} fois"))
            continue
        section = sections[0]
        codes = nodes(section, "hl7:code")
        if not codes or codes[0].get("code") != code or codes[0].get("codeSystem") != system:
            findings.append(_f("tddui-section-code", path(section), f"Section « {title} » : code inattendu",
                               expected=f"{code} / {system}",
                               actual=f"{codes[0].get('code')} / {codes[0].get('codeSystem')}" if codes else None))
        if not nodes(section, "hl7:text"):
            findings.append(_f("tddui-section-texte", path(section),
                               f"Section « {title} » sans bloc narratif (text)", expected="text", actual=None))
    return findings
