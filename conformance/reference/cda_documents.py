"""CDA R2 documents of the reference DUI: the DLU (DLU-EHPAD-DLU 2022.01) and the TDDUI-CDA export (1.0.1).

Written from the CI-SIS specifications as summarised in shared/reference/ins-cda-fhir.md §2: header
"structuration minimale", the DLU volet (templateId 1.2.250.1.213.1.1.1.22, LOINC 74207-2, its sections) and the
TDDUI CDA IG (templateId 1.2.250.1.213.1.1.1.58, EXPORT_DUI, the DUI software as author). Every identifier of
the establishment and its people is fictitious. The switches in ``Rendering`` let the named faults render a
document wrongly; this module knows nothing about the checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from conformance.reference.store import Usager

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
OID_PERSONS_SYSTEMS = "1.2.250.1.71.4.2.1"
OID_STRUCTURES = "1.2.250.1.71.4.2.2"
OID_LOINC = "2.16.840.1.113883.6.1"
#: a UUID-derived OID (ITU-T X.667, arc 2.25) for the reference DUI's own identifiers: no registration needed
OID_REFERENCE = "2.25.238474965264217381637549916812474812345"
OID_LOCAL_IDS = f"{OID_REFERENCE}.1"
_NAMESPACE = uuid.UUID("6f1b2c52-3a9e-4d7e-9a51-0c7d2e1b9f10")
_GENDER = {"F": ("F", "Féminin"), "M": ("M", "Masculin"), "I": ("UN", "Indéterminé")}


@dataclass(frozen=True)
class Establishment:
    """An ESSMS of the reference organisation (fictitious FINESS)."""

    finess: str
    name: str
    facility_code: str
    facility_name: str
    category: tuple[str, str] | None = None

    @property
    def struct_idnat(self) -> str:
        """Struct_IdNat: "1" + FINESS."""
        return f"1{self.finess}"


EHPAD = Establishment("750000002", "EHPAD Les Tilleuls (DUI de référence)", "SA17",
                      "Etablissement pour personnes âgées")
SSIAD = Establishment("750000010", "SSIAD Les Tilleuls (DUI de référence)", "SA41",
                      "Autre établissement du domaine social ou médico-social",
                      ("354", "Service de Soins Infirmiers A Domicile (S.S.I.A.D)"))
@dataclass(frozen=True)
class Person:
    """A professional named in a document: PS_IdNat ("8" + RPPS), name, profession."""

    idnat: str
    family: str
    given: str
    code: tuple[str, str, str] | None = None


#: the EHPAD's coordinating physician (fictitious RPPS 10001234567)
PHYSICIAN = Person("810001234567", "MEDECIN-COORDONNATEUR", "Claire",
                   ("G15_10/SM26", "1.2.250.1.213.1.1.4.5", "Médecin - Qualifié en Médecine Générale (SM)"))
#: the usager's treating physician (fictitious RPPS 10009876543)
TREATING_PHYSICIAN = Person("810009876543", "TRAITANT", "Paul")
SOFTWARE_ID = "DUI-REF-1"


@dataclass
class Rendering:
    """How to render: what is correct by default, what a fault changes."""

    encoding: str = "UTF-8"
    realm_code: bool = True
    ci_sis_template: bool = True
    duplicate_set_id: bool = False
    iso_effective_time: bool = False
    author_id_root: str = OID_PERSONS_SYSTEMS
    custodian_raw_finess: bool = False
    legal_signature: bool = True
    service_event_performer: bool = True
    encounter_effective_time: bool = True
    local_id_root: bool = True
    #: send the INS whatever the identity status
    ins_always: bool = False
    ins_oid: str | None = None
    birth_place: bool = True
    truncated_given_names: bool = False
    telecom_scheme: bool = True
    dlu_code: tuple[str, str] = ("74207-2", "Dossier de liaison d'urgence")
    dlu_sections: frozenset[str] = field(default_factory=frozenset)
    tddui_author_is_user: bool = False
    tddui_sections: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Version:
    """Identifiers of one produced document, and of the version it replaces."""

    document_id: str
    set_id: str
    number: int
    replaces: str | None = None


def new_version(usager_id: str, document_type: str, previous: Version | None) -> Version:
    """The identifiers of the next version of an usager's document of a type."""
    set_id = f"2.25.{uuid.uuid5(_NAMESPACE, f'{usager_id}/{document_type}').int}"
    return Version(f"2.25.{uuid.uuid4().int}", set_id, previous.number + 1 if previous else 1,
                   previous.document_id if previous else None)


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{HL7}}}{tag}", {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S+0000")


class _Builder:
    """One document being written."""

    def __init__(self, usager: Usager, kind: str, version: Version, how: Rendering, now: datetime) -> None:
        self.usager, self.kind, self.version, self.how, self.now = usager, kind, version, how, now
        self.place = EHPAD if kind == "DLU" else SSIAD
        self.root = etree.Element(f"{{{HL7}}}ClinicalDocument", nsmap={None: HL7, "xsi": XSI})

    def time(self) -> str:
        return _ts(self.now)

    def telecom(self, parent: etree._Element, number: str, use: str = "WP") -> None:
        _el(parent, "telecom", value=f"tel:{number}" if self.how.telecom_scheme else number, use=use)

    def address(self, parent: etree._Element) -> None:
        addr = _el(parent, "addr")
        _el(addr, "houseNumber", "12")
        _el(addr, "streetName", "rue des Tilleuls")
        _el(addr, "postalCode", "75012")
        _el(addr, "city", "PARIS")

    def organization(self, parent: etree._Element, tag: str, with_telecom: bool = True) -> etree._Element:
        org = _el(parent, tag)
        _el(org, "id", root=OID_STRUCTURES, extension=self.place.struct_idnat)
        _el(org, "name", self.place.name)
        if with_telecom:
            self.telecom(org, "0143000000")
        self.address(org)
        return org

    def header(self) -> None:
        how, root, version = self.how, self.root, self.version
        if how.realm_code:
            _el(root, "realmCode", code="FR")
        _el(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
        _el(root, "templateId", root="2.16.840.1.113883.2.8.2.1")
        if how.ci_sis_template:
            _el(root, "templateId", root="1.2.250.1.213.1.1.1.1")
        if self.kind == "DLU":
            _el(root, "templateId", root="1.2.250.1.213.1.1.1.22", extension="2022.01")
        else:
            _el(root, "templateId", root="1.2.250.1.213.1.1.1.58", extension="1.0.1")
        _el(root, "id", root=version.document_id)
        if self.kind == "DLU":
            code, display = how.dlu_code
            _el(root, "code", code=code, displayName=display, codeSystem=OID_LOINC, codeSystemName="LOINC")
            _el(root, "title", "Document de liaison d'urgence")
        else:
            _el(root, "code", code="EXPORT_DUI", displayName="Export du Dossier Usager Informatisé",
                codeSystem="1.2.250.1.213.1.1.4.12")
            _el(root, "title", "Export du dossier usager informatisé")
        effective = self.now.strftime("%Y-%m-%dT%H:%M:%S") if how.iso_effective_time else self.time()
        _el(root, "effectiveTime", value=effective)
        _el(root, "confidentialityCode", code="N", displayName="Normal", codeSystem="2.16.840.1.113883.5.25",
            codeSystemName="Confidentiality")
        _el(root, "languageCode", code="fr-FR")
        for _ in range(2 if how.duplicate_set_id else 1):
            _el(root, "setId", root=version.set_id)
        _el(root, "versionNumber", value=str(version.number))
        self.record_target()
        self.author()
        self.custodian()
        self.legal_authenticator()
        if self.kind == "DLU":
            self.treating_physician()
        if version.replaces:
            related = _el(root, "relatedDocument", typeCode="RPLC")
            parent = _el(related, "parentDocument")
            _el(parent, "id", root=version.replaces)
        self.service_event()
        self.encounter()

    def record_target(self) -> None:
        usager, how = self.usager, self.how
        role = _el(_el(self.root, "recordTarget"), "patientRole")
        if usager.ins is not None and (usager.qualified or how.ins_always):
            matricule, oid = usager.ins
            _el(role, "id", root=how.ins_oid or oid, extension=matricule)
        local = {"root": OID_LOCAL_IDS} if how.local_id_root else {}
        _el(role, "id", extension=usager.local_id or usager.id, **local)
        patient = _el(role, "patient", classCode="PSN")
        name = _el(patient, "name")
        _el(name, "family", usager.birth_name, qualifier="BR")
        given_names = usager.first_given_name if how.truncated_given_names else usager.given_names
        _el(name, "given", given_names)
        _el(name, "given", usager.first_given_name, qualifier="BR")
        _el(name, "family", usager.used_name or usager.birth_name, qualifier="CL")
        _el(name, "given", usager.used_given_name or usager.first_given_name, qualifier="CL")
        code, display = _GENDER.get(usager.sex, ("UN", "Indéterminé"))
        _el(patient, "administrativeGenderCode", code=code, displayName=display, codeSystem="2.16.840.1.113883.5.1")
        _el(patient, "birthTime", value=usager.birth_date.replace("-", ""))
        if usager.birth_place_cog and how.birth_place:
            addr = _el(_el(_el(patient, "birthplace"), "place"), "addr")
            _el(addr, "county", usager.birth_place_cog)

    def name(self, parent: etree._Element, who: Person) -> None:
        name = _el(parent, "name")
        _el(name, "given", who.given)
        _el(name, "family", who.family)

    def author(self) -> None:
        author = _el(self.root, "author")
        _el(author, "time", value=self.time())
        assigned = _el(author, "assignedAuthor")
        software = self.kind == "TDDUI-CDA" and not self.how.tddui_author_is_user
        if software:
            _el(assigned, "id", root=self.how.author_id_root, extension=f"{self.place.struct_idnat}/{SOFTWARE_ID}")
            _el(assigned, "code", code="LOGICIEL_DUI", displayName="Logiciel de Dossier Usager Informatisé",
                codeSystem="1.2.250.1.213.1.1.4.6")
            device = _el(assigned, "assignedAuthoringDevice")
            _el(device, "manufacturerModelName", "dui-conformance")
            _el(device, "softwareName", "DUI de référence")
        else:
            _el(assigned, "id", root=self.how.author_id_root, extension=PHYSICIAN.idnat)
            if PHYSICIAN.code:
                code, system, display = PHYSICIAN.code
                _el(assigned, "code", code=code, codeSystem=system, displayName=display)
            self.telecom(assigned, "0143000001")
            self.name(_el(assigned, "assignedPerson"), PHYSICIAN)
        org = _el(assigned, "representedOrganization")
        _el(org, "id", root=OID_STRUCTURES, extension=self.place.struct_idnat)
        _el(org, "name", self.place.name)

    def custodian(self) -> None:
        assigned = _el(_el(self.root, "custodian"), "assignedCustodian")
        org = self.organization(assigned, "representedCustodianOrganization")
        if self.how.custodian_raw_finess:
            identifier = org.find(f"{{{HL7}}}id")
            if identifier is not None:
                identifier.set("extension", self.place.finess)

    def legal_authenticator(self) -> None:
        legal = _el(self.root, "legalAuthenticator")
        _el(legal, "time", value=self.time())
        if self.how.legal_signature:
            _el(legal, "signatureCode", code="S")
        entity = _el(legal, "assignedEntity")
        if self.kind == "TDDUI-CDA":
            _el(entity, "id", root=OID_PERSONS_SYSTEMS, extension=f"{self.place.struct_idnat}/{SOFTWARE_ID}")
            _el(entity, "code", code="LOGICIEL_DUI", displayName="Logiciel de Dossier Usager Informatisé",
                codeSystem="1.2.250.1.213.1.1.4.6")
        else:
            _el(entity, "id", root=OID_PERSONS_SYSTEMS, extension=PHYSICIAN.idnat)
            self.name(_el(entity, "assignedPerson"), PHYSICIAN)
        org = _el(entity, "representedOrganization")
        _el(org, "id", root=OID_STRUCTURES, extension=self.place.struct_idnat)
        _el(org, "name", self.place.name)

    def treating_physician(self) -> None:
        participant = _el(self.root, "participant", typeCode="INF")
        _el(participant, "functionCode", code="PCP", displayName="Médecin traitant",
            codeSystem="2.16.840.1.113883.5.88")
        time = _el(participant, "time")
        time.set(f"{{{XSI}}}type", "IVL_TS")
        _el(time, "low", value=self.time())
        entity = _el(participant, "associatedEntity", classCode="PROV")
        _el(entity, "id", root=OID_PERSONS_SYSTEMS, extension=TREATING_PHYSICIAN.idnat)
        self.telecom(entity, "0143000002")
        self.name(_el(entity, "associatedPerson"), TREATING_PHYSICIAN)

    def service_event(self) -> None:
        event = _el(_el(self.root, "documentationOf"), "serviceEvent")
        if self.kind == "DLU":
            _el(event, "code", code="34117-2", displayName="Historique et clinique", codeSystem=OID_LOINC,
                codeSystemName="LOINC")
        times = _el(event, "effectiveTime")
        _el(times, "low", value=self.time())
        if not self.how.service_event_performer:
            return
        entity = _el(_el(event, "performer", typeCode="PRF"), "assignedEntity")
        if self.kind == "TDDUI-CDA":
            _el(entity, "id", root=OID_PERSONS_SYSTEMS, extension=f"{self.place.struct_idnat}/{SOFTWARE_ID}")
            _el(entity, "code", code="LOGICIEL_DUI", displayName="Logiciel de Dossier Usager Informatisé",
                codeSystem="1.2.250.1.213.1.1.4.6")
        else:
            _el(entity, "id", root=OID_PERSONS_SYSTEMS, extension=PHYSICIAN.idnat)
        org = self.organization(entity, "representedOrganization", with_telecom=False)
        industry = ("ESSMS", "Etablissement ou Service Social ou Médico-Social")
        _el(org, "standardIndustryClassCode", code=industry[0], displayName=industry[1],
            codeSystem="1.2.250.1.213.1.1.4.9")

    def encounter(self) -> None:
        encounter = _el(_el(self.root, "componentOf"), "encompassingEncounter")
        if self.how.encounter_effective_time:
            _el(_el(encounter, "effectiveTime"), "low", value=self.time())
        facility = _el(_el(encounter, "location"), "healthCareFacility")
        code = _el(facility, "code", code=self.place.facility_code, displayName=self.place.facility_name,
                   codeSystem="1.2.250.1.71.4.2.4")
        if self.place.category:
            _el(code, "translation", code=self.place.category[0], displayName=self.place.category[1],
                codeSystem="1.2.250.1.213.1.6.1.8")

    def section(self, body: etree._Element, templates: Iterable[str], code: tuple[str, str, str], title: str,
                text: str) -> None:
        section = _el(_el(body, "component"), "section")
        for template in templates:
            _el(section, "templateId", root=template)
        _el(section, "id", root=f"2.25.{uuid.uuid4().int}")
        _el(section, "code", code=code[0], displayName=code[1], codeSystem=code[2])
        _el(section, "title", title)
        _el(_el(section, "text"), "paragraph", text)

    def body(self) -> None:
        body = _el(_el(self.root, "component"), "structuredBody")
        sections = DLU_BODY if self.kind == "DLU" else TDDUI_BODY
        omitted = self.how.dlu_sections if self.kind == "DLU" else self.how.tddui_sections
        for key, templates, code, title, text in sections:
            if key not in omitted:
                self.section(body, templates, code, title, text)


#: DLU-EHPAD-DLU 2022.01 sections the volet requires, with the templateIds of the official example
DLU_BODY: tuple[tuple[str, tuple[str, ...], tuple[str, str, str], str, str], ...] = (
    ("dispositions", ("1.3.6.1.4.1.19376.1.5.3.1.1.13.2.10", "1.2.250.1.213.1.1.2.172"),
     ("11302-7", "Etablissement de santé de préférence", OID_LOINC), "Etablissement de santé de préférence",
     "Aucun établissement de santé de préférence renseigné."),
    ("traitements", ("2.16.840.1.113883.10.20.1.8", "1.3.6.1.4.1.19376.1.5.3.1.3.19", "1.2.250.1.213.1.1.2.143"),
     ("10160-0", "Historique de la prise médicamenteuse", OID_LOINC), "Traitements au long cours",
     "Aucun traitement au long cours."),
    ("directives", ("2.16.840.1.113883.10.20.1.1", "1.3.6.1.4.1.19376.1.5.3.1.3.34",
                    "1.3.6.1.4.1.19376.1.5.3.1.3.35", "1.2.250.1.213.1.1.2.157"),
     ("42348-3", "Directives anticipées", OID_LOINC), "Directives anticipées", "Pas de directives anticipées."),
    ("evenements", ("1.3.6.1.4.1.19376.1.5.3.1.1.21.2.9", "1.3.6.1.4.1.19376.1.7.3.1.1.13.7",
                    "1.2.250.1.213.1.1.2.163"),
     ("42545-4", "Evènements observés", OID_LOINC), "Observations", "Aucun évènement particulier observé."),
    ("bmr", ("1.3.6.1.4.1.19376.1.5.3.1.3.27", "1.3.6.1.4.1.19376.1.5.3.1.3.28", "1.2.250.1.213.1.1.2.151"),
     ("30954-2", "Résultats d'examens", OID_LOINC), "Résultats d'examens", "Pas de bactérie multirésistante connue."),
    ("documents", ("1.2.250.1.213.1.1.2.37",), ("55107-7", "Documents ajoutés", OID_LOINC),
     "Documents ajoutés", "Aucun document annexé."),
)

#: TDDUI-CDA 1.0.1 sections, with the templateIds and codes of the IG example
TDDUI_BODY: tuple[tuple[str, tuple[str, ...], tuple[str, str, str], str, str], ...] = (
    ("sejours", ("1.2.250.1.213.1.1.2.249",), ("GEN-362", "Historique des séjours", "1.2.250.1.213.1.1.4.322"),
     "Séjours", "Prise en charge en cours."),
    ("evenements", ("1.2.250.1.213.1.1.2.248",), ("89793-4", "Evènements", OID_LOINC), "Evènements",
     "Aucun évènement."),
    ("evaluations", ("2.16.840.1.113883.10.22.3.8", "1.2.250.1.213.1.1.2.246"),
     ("47420-5", "Évaluation du statut fonctionnel", OID_LOINC), "Evaluations", "Aucune évaluation."),
    ("documents", ("1.2.250.1.213.1.1.2.37",), ("55107-7", "Documents ajoutés", OID_LOINC), "Documents ajoutés",
     "Aucun document ajouté."),
)


def render(usager: Usager, document_type: str, version: Version, how: Rendering | None = None,
           now: datetime | None = None) -> bytes:
    """The document as bytes, with its XML declaration."""
    builder = _Builder(usager, document_type, version, how or Rendering(), now or datetime.now(UTC))
    builder.header()
    builder.body()
    encoding = builder.how.encoding
    return bytes(etree.tostring(builder.root, xml_declaration=True, encoding=encoding, pretty_print=True))
