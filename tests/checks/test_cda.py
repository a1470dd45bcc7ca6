"""Each CDA check passes on the reference DUI's documents and catches, with a French finding, the defect it names."""

from collections.abc import Callable

import pytest
from lxml import etree

from conformance.checks import CHECKS, CheckContext, evaluate
from conformance.core.exchange import Exchange, Request, Response
from conformance.reference.cda_documents import new_version, render
from conformance.reference.store import Usager

CDA = [("Content-Type", "application/hl7-cda+xml; charset=utf-8")]
TRAITS = {"birth_name": "PAT-TROIS", "first_given_name": "DOMINIQUE", "given_names": "DOMINIQUE MARIE-LOUISE",
          "birth_date": "1979-03-28", "sex": "F", "birth_place_cog": "51215"}
INS = {"matricule": "279035121518989", "oid": "1.2.250.1.213.1.4.10"}


def usager(qualified: bool = True, **traits) -> Usager:
    return Usager(id="usager-1", **{**TRAITS, **traits}, local_id="L1",
                  ins=(INS["matricule"], INS["oid"]), insi_retrieved=True, document_checked=qualified)


def document(kind: str = "DLU", **options) -> bytes:
    return render(usager(**options), kind, new_version("usager-1", kind, None))


def mutate(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def run(name: str, body: bytes, headers=CDA, **args) -> list:
    ctx = CheckContext("SCN-T-01", "s", Exchange(Request("POST", "http://x/"), Response(200, headers, body), 1.0))
    result = evaluate(name, args, ctx)
    assert result.status != "error", result.message
    return result.findings


def first(root, path):
    return root.xpath(path, namespaces={"h": "urn:hl7-org:v3"})[0]


def remove(path):
    def change(root):
        node = first(root, path)
        node.getparent().remove(node)
    return change


def set_attribute(path, name, value):
    def change(root):
        first(root, path).set(name, value)
    return change


def set_text(path, value):
    def change(root):
        first(root, path).text = value
    return change


def duplicate(path):
    def change(root):
        node = first(root, path)
        node.addnext(etree.fromstring(etree.tostring(node)))
    return change


CASES = [
    # (check, args, document type, mutation, expected rule)
    ("cda_structuration_minimale", {}, "DLU", remove("/h:ClinicalDocument/h:custodian"), "custodian"),
    ("cda_realm_and_type_valid", {}, "DLU", remove("/h:ClinicalDocument/h:realmCode"), "realmCode"),
    ("cda_template_ids_valid", {}, "DLU",
     remove("/h:ClinicalDocument/h:templateId[@root='1.2.250.1.213.1.1.1.1']"), "templateId-ci-sis"),
    ("cda_document_ids_valid", {}, "TDDUI-CDA", duplicate("/h:ClinicalDocument/h:setId"), "setId"),
    ("cda_metadata_valid", {}, "DLU", set_attribute("/h:ClinicalDocument/h:languageCode", "code", "fr"),
     "languageCode-format"),
    ("cda_author_valid", {}, "DLU",
     set_attribute("//h:author/h:assignedAuthor/h:id", "root", "1.2.250.1.71.4.2.2"), "author-id-oid"),
    ("cda_custodian_valid", {}, "TDDUI-CDA",
     set_attribute("//h:representedCustodianOrganization/h:id", "extension", "750000010"), "custodian-id-format"),
    ("cda_legal_authenticator_valid", {}, "DLU", remove("//h:legalAuthenticator/h:signatureCode"),
     "legalAuthenticator"),
    ("cda_service_event_valid", {}, "DLU", remove("//h:serviceEvent/h:performer"), "serviceEvent-performer"),
    ("cda_encounter_valid", {}, "TDDUI-CDA", remove("//h:encompassingEncounter/h:effectiveTime"),
     "encompassingEncounter-effectiveTime"),
    ("cda_record_target_valid", {}, "DLU", set_attribute("//h:patient/h:name/h:family[1]", "qualifier", "SP"),
     "family-qualifier"),
    ("cda_ins_traits_present", {}, "DLU", remove("//h:birthplace"), "ins-trait-absent"),
    ("cda_ins_valid", {"qualified": True, "ins": INS}, "DLU",
     set_attribute("//h:patientRole/h:id[1]", "root", "1.2.250.1.213.1.4.8"), "ins-oid"),
    ("cda_ins_valid", {"qualified": True, "ins": INS}, "DLU",
     set_attribute("//h:patientRole/h:id[1]", "extension", "279035121518990"), "ins-cle"),
    ("cda_ins_valid", {}, "DLU", set_attribute("//h:patientRole/h:id[1]", "root", "1.2.250.1.213.1.4.12"),
     "ins-oid-inconnu"),
    ("cda_identity_matches", {"traits": TRAITS}, "DLU",
     set_text("//h:patient/h:name/h:given[not(@qualifier)]", "DOMINIQUE"), "identite-given-names"),
    ("cda_document_type_is", {"type": "DLU"}, "DLU", set_attribute("/h:ClinicalDocument/h:code", "code", "34133-9"),
     "type-document"),
    ("cda_dlu_valid", {}, "DLU",
     remove("//h:section[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.3.28']/.."), "dlu-section"),
    ("cda_tddui_header_valid", {}, "TDDUI-CDA", remove("//h:author/h:assignedAuthor/h:assignedAuthoringDevice"),
     "tddui-auteur-dispositif"),
    ("cda_tddui_sections_valid", {}, "TDDUI-CDA",
     remove("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.249']/.."), "tddui-section"),
    ("cda_well_formed", {}, "DLU", lambda root: None, None),
]


@pytest.mark.parametrize(("name", "args", "kind", "change", "rule"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_check_passes_then_catches_defect(name, args, kind, change, rule):
    good = document(kind)
    assert run(name, good, **args) == []
    if rule is None:
        return
    findings = run(name, mutate(good, change), **args)
    assert rule in [f.rule for f in findings]
    assert all(f.message and f.severity == "error" and f.location for f in findings)


def test_every_cda_check_is_covered():
    import conformance.checks.cda as module

    assert {n for n, fn in CHECKS.items() if fn.__module__ == module.__name__} == {c[0] for c in CASES}


def test_ins_is_refused_for_an_identity_that_is_not_qualified():
    unqualified = render(usager(qualified=False), "DLU", new_version("u", "DLU", None))
    assert run("cda_ins_valid", unqualified, qualified=False) == []
    assert [f.rule for f in run("cda_ins_valid", document(), qualified=False)] == ["ins-non-qualifie"]
    assert [f.rule for f in run("cda_ins_valid", unqualified, qualified=True, ins=INS)] == ["ins-absent"]


def test_accents_must_survive():
    traits = {**TRAITS, "used_name": "DURAND-LEFÈVRE", "used_given_name": "Hélène"}
    good = render(usager(used_name="DURAND-LEFÈVRE", used_given_name="Hélène"), "DLU", new_version("u", "DLU", None))
    assert run("cda_identity_matches", good, traits=traits) == []
    broken = mutate(good, set_text("//h:family[@qualifier='CL']", "DURAND-LEFEVRE"))
    [finding] = run("cda_identity_matches", broken, traits=traits)
    assert (finding.rule, finding.expected, finding.actual) == ("identite-used-name", "DURAND-LEFÈVRE",
                                                                "DURAND-LEFEVRE")


@pytest.mark.parametrize(("body", "headers", "rules"), [
    (document().replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'"), CDA, {"encodage-declare"}),
    ("<?xml version='1.0' encoding='ISO-8859-1'?><ClinicalDocument xmlns='urn:hl7-org:v3'><title>Hélène</title>"
     "</ClinicalDocument>".encode("latin-1"), CDA, {"encodage-declare", "octets-non-utf8"}),
    (document(), [("Content-Type", "text/html; charset=iso-8859-1")], {"content-type", "charset"}),
    (b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><ClinicalDocument>&x;</ClinicalDocument>', CDA,
     {"xml-dtd"}),
    (b"<ClinicalDocument><oops></ClinicalDocument>", CDA, {"xml-mal-forme"}),
    (b'<!DOCTYPE d [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
     b"<ClinicalDocument>&c;&c;&c;&c;</ClinicalDocument>", CDA, {"xml-dtd"}),
    (b"<a>" * 300 + b"</a>" * 300, CDA, {"xml-profondeur"}),
    (b"<Bundle xmlns='http://hl7.org/fhir'/>", CDA, {"racine"}),
])
def test_well_formed_reports_each_defect(body, headers, rules):
    assert {f.rule for f in run("cda_well_formed", body, headers=headers)} == rules


def test_an_unreadable_document_is_one_finding_for_the_other_checks():
    [finding] = run("cda_realm_and_type_valid", b"<<<")
    assert finding.rule == "document-illisible"
    [finding] = run("cda_author_valid", b"<Bundle xmlns='http://hl7.org/fhir'/>")
    assert finding.rule == "racine"


def test_unknown_document_type_is_a_check_error():
    ctx = CheckContext("S", "s", Exchange(Request("POST", "http://x/"), Response(200, CDA, document()), 1.0))
    assert evaluate("cda_document_type_is", {"type": "ORDONNANCE"}, ctx).status == "error"
