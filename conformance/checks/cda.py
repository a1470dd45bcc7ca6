"""CDA documents: safe XML, CI-SIS header (structuration minimale), INS and identity, DLU and TDDUI-CDA.

Every check reads the step's response body as a CDA document. The built-in rules (``validation.cda``) always
run; when the run pins an official kit (``--cda-kit``), ``cda_structuration_minimale`` adds the kit's XSD and
structuration-minimale schematron and ``cda_dlu_valid`` the DLU volet schematron, their failed asserts mapped
to findings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from lxml import etree

from conformance.checks import CheckContext, check, excerpt
from conformance.core.findings import CheckFailed, Finding
from conformance.core.outcomes import Severity
from conformance.validation import cda
from conformance.validation.kits import active_kits
from conformance.validation.xml import UnsafeXml, declared_encoding, parse_xml

#: media types under which a CDA document may be served (RFC 7303, and the one the driver contract names)
XML_MEDIA_TYPES = {"application/hl7-cda+xml", "application/cda+xml", "application/xml", "text/xml"}
_UTF8 = {"utf-8", "utf8"}


@lru_cache(maxsize=2)
def _parse(body: bytes) -> tuple[etree._Element | None, UnsafeXml | None]:
    # Several checks read the same document in one step: parse it once (bytes are the cache key).
    try:
        return parse_xml(body), None
    except UnsafeXml as exc:
        return None, exc


def document(ctx: CheckContext) -> etree._Element:
    """The response body as a parsed CDA document; an unreadable body stops the check with one finding."""
    root, error = _parse(ctx.response.body)
    if root is None:
        raise CheckFailed(Finding(rule="document-illisible", location="corps de la réponse",
                                  message=f"Le document CDA ne peut pas être lu : {error}",
                                  expected="document CDA R2 (XML)", actual=excerpt(ctx.response.body)))
    if cda.clinical_document(root) is None:
        raise CheckFailed(cda.not_a_cda(root))
    return root


@check
def cda_well_formed(ctx: CheckContext) -> Iterator[Finding]:
    """Le document est un XML sûr (sans DTD ni entités), bien formé, encodé et déclaré en UTF-8, de type CDA R2."""
    response = ctx.response
    media = response.media_type
    if media not in XML_MEDIA_TYPES:
        yield Finding(rule="content-type", location="en-tête Content-Type", expected=sorted(XML_MEDIA_TYPES),
                      actual=response.header("content-type"),
                      message=f"Document CDA servi en « {media or 'type absent'} » au lieu d'un type de média XML")
    if response.charset not in (None, *_UTF8):
        yield Finding(rule="charset", location="en-tête Content-Type", expected="charset=utf-8",
                      actual=response.charset,
                      message=f"Jeu de caractères déclaré « {response.charset} » au lieu de UTF-8")
    body = response.body
    encoding = declared_encoding(body)
    if encoding not in (None, *_UTF8):
        yield Finding(rule="encodage-declare", location="déclaration XML", expected='encoding="UTF-8"',
                      actual=encoding, message=f"La déclaration XML annonce l'encodage « {encoding} » au lieu de UTF-8")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Finding(rule="octets-non-utf8", location=f"octet {exc.start}", expected="UTF-8",
                      actual=excerpt(body[max(0, exc.start - 20): exc.start + 20]),
                      message=f"Le document contient des octets invalides en UTF-8 (position {exc.start})")
    root, error = _parse(body)
    if error is not None:
        rule = {"dtd": "xml-dtd", "entite": "xml-entite", "taille": "xml-taille",
                "profondeur": "xml-profondeur"}.get(error.reason, "xml-mal-forme")
        yield Finding(rule=rule, location="document", expected="XML bien formé, sans DTD ni entités",
                      actual=excerpt(body, 80), message=f"Document refusé : {error}")
        return
    assert root is not None
    if cda.clinical_document(root) is None:
        yield cda.not_a_cda(root)


def _kit_note(note: str) -> Finding:
    return Finding(rule="kit-note", severity=Severity.INFO, location="kit de validation", message=note)


@check
def cda_structuration_minimale(ctx: CheckContext) -> Iterator[Finding]:
    """L'en-tête respecte la structuration minimale CI-SIS (et, kit épinglé, sa XSD et son schématron)."""
    root = document(ctx)
    yield from cda.structuration_minimale(root)
    for kit in active_kits():
        result = kit.validate(root, volet=False)
        yield from result.findings()
        yield from map(_kit_note, result.notes)


def _part(ctx: CheckContext, part: str) -> list[Finding]:
    return cda.part_findings(document(ctx), part)


@check
def cda_realm_and_type_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Le document porte une fois realmCode FR et le typeId CDA R2 (POCD_HD000040)."""
    yield from _part(ctx, "realm-type")


@check
def cda_template_ids_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Le document déclare une fois les templateIds HL7 France et CI-SIS, et celui de son modèle."""
    yield from _part(ctx, "template-ids")


@check
def cda_document_ids_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Le document porte une fois id, setId et versionNumber (entier à partir de 1)."""
    yield from _part(ctx, "document-ids")


@check
def cda_metadata_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Le document porte une fois code, title, effectiveTime (date HL7), confidentialityCode et languageCode."""
    yield from _part(ctx, "metadata")


@check
def cda_author_valid(ctx: CheckContext) -> Iterator[Finding]:
    """L'auteur est identifié (OID 1.2.250.1.71.4.2.1) et rattaché à une structure (1 + FINESS ou 3 + SIRET)."""
    yield from _part(ctx, "author")


@check
def cda_custodian_valid(ctx: CheckContext) -> Iterator[Finding]:
    """La structure responsable est unique, identifiée par 1 + FINESS ou 3 + SIRET (OID 1.2.250.1.71.4.2.2)."""
    yield from _part(ctx, "custodian")


@check
def cda_legal_authenticator_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Le responsable légal est unique, signataire (S), daté et identifié (OID 1.2.250.1.71.4.2.1)."""
    yield from _part(ctx, "legal-authenticator")


@check
def cda_service_event_valid(ctx: CheckContext) -> Iterator[Finding]:
    """L'acte documenté (documentationOf/serviceEvent) a un exécutant rattaché à une structure et une date."""
    yield from _part(ctx, "service-event")


@check
def cda_encounter_valid(ctx: CheckContext) -> Iterator[Finding]:
    """La prise en charge (encompassingEncounter) est datée et située (healthCareFacility/code)."""
    yield from _part(ctx, "encounter")


@check
def cda_record_target_valid(ctx: CheckContext) -> Iterator[Finding]:
    """L'usager (recordTarget) est identifié, nommé (qualifiers BR/CL), avec sexe et date de naissance."""
    yield from _part(ctx, "record-target")


@check
def cda_ins_traits_present(ctx: CheckContext) -> Iterator[Finding]:
    """Avec un INS, les six traits d'identité sont présents et renseignés (noms, prénoms, date, lieu, sexe)."""
    yield from _part(ctx, "ins-traits")


@check
def cda_ins_valid(ctx: CheckContext, *, qualified: bool | None = None,
                  ins: Mapping[str, str] | None = None) -> Iterator[Finding]:
    """L'INS n'est transmis que pour une identité qualifiée, sous un OID INS et avec un matricule valide.

    ``qualified`` says whether the DUI holds a qualified identity for this usager (the scenario qualified it, or
    not); ``ins`` is the INS it then holds (``{matricule, oid}``). Without ``qualified``, only the OID and the
    matricule's key are checked.
    """
    root = document(ctx)
    if qualified is None:
        yield from cda.ins_findings(root)
    elif qualified:
        yield from cda.ins_findings(root, dict(ins) if ins is not None else {})
    else:
        yield from cda.ins_findings(root, None)


@check
def cda_identity_matches(ctx: CheckContext, *, traits: Mapping[str, Any]) -> Iterator[Finding]:
    """L'identité de l'en-tête est celle que le DUI détient pour l'usager (noms, prénoms, date, sexe, lieu)."""
    yield from cda.identity_findings(document(ctx), traits)


@check
def cda_document_type_is(ctx: CheckContext, *, type: str) -> Iterator[Finding]:
    """Le document est du type demandé (DLU : LOINC 74207-2 ; TDDUI-CDA : EXPORT_DUI)."""
    if type not in cda.DOCUMENT_TYPES:
        raise ValueError(f"type de document inconnu : {type} (DLU ou TDDUI-CDA)")
    yield from cda.document_type_findings(document(ctx), type)


@check
def cda_dlu_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Le DLU suit le modèle DLU-EHPAD : templateId, médecin traitant, acte 34117-2 et sections obligatoires."""
    root = document(ctx)
    yield from cda.dlu_findings(root)
    for kit in active_kits():
        result = kit.validate(root, xsd=False, strucmin=False, volet=True)
        yield from result.findings()
        yield from map(_kit_note, result.notes)


@check
def cda_tddui_header_valid(ctx: CheckContext) -> Iterator[Finding]:
    """L'export TDDUI-CDA a pour auteur et responsable le logiciel DUI, pour structure l'ESSMS (SA16/18/41)."""
    yield from cda.tddui_header_findings(document(ctx))


@check
def cda_tddui_sections_valid(ctx: CheckContext) -> Iterator[Finding]:
    """L'export TDDUI-CDA contient ses quatre sections (séjours, évènements, évaluations, documents ajoutés)."""
    yield from cda.tddui_sections_findings(document(ctx))
