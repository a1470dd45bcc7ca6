"""The built-in CDA header rules against the official kit (TestContenuCDA 3.0) on its own examples.

The kit's structuration-minimale schematron runs through the project's Schematron compiler on Saxon-HE; the
built-in verdict must agree with it on every official example, mutations of a valid example must be caught by
both layers, and the reference DUI's documents must pass the kit. Needs ../shared/corpus (skipped without it).
"""

import json
import os
from pathlib import Path

import pytest
from lxml import etree

from conformance.cli import main
from conformance.reference import FAULTS
from conformance.reference.base import Reference
from conformance.reference.cda import rendering
from conformance.reference.cda_documents import new_version, render
from conformance.reference.store import Usager
from conformance.validation import cda
from conformance.validation.kits import STRUCMIN, CdaKit, KitError
from conformance.validation.xml import parse_xml
from tests.conftest import CORPUS
from tests.support.runs import play

KIT_DIR = CORPUS / "ans-testcontenucda-3.0"
EXAMPLES = sorted((KIT_DIR / "ExemplesCDA").glob("*.xml")) + sorted((CORPUS / "ans-tddui-cda").glob("*.xml"))
KNOWN_INVALID = {"eDISP-MED_2024.01.xml"}
DLU_EXAMPLE = KIT_DIR / "ExemplesCDA" / "DLU-EHPAD-DLU_2022.01.xml"
NS = {"h": "urn:hl7-org:v3"}

pytestmark = pytest.mark.skipif(not KIT_DIR.is_dir(), reason="../shared/corpus is not present on this machine")


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    previous = os.environ.get("DUI_CONFORMANCE_CACHE")
    os.environ["DUI_CONFORMANCE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        del os.environ["DUI_CONFORMANCE_CACHE"]
    else:
        os.environ["DUI_CONFORMANCE_CACHE"] = previous


@pytest.fixture(scope="module")
def kit() -> CdaKit:
    opened = CdaKit.open(KIT_DIR)
    opened.prepare()
    return opened


def verdicts(kit: CdaKit, root: etree._Element) -> tuple[list[str], list[str]]:
    """Errors of the built-in header rules and of the kit's structuration minimale (and XSD)."""
    builtin = [f"{f.rule} {f.location}" for f in cda.structuration_minimale(root)]
    result = kit.validate(root, volet=False)
    official = [f"{f.location} {f.message}" for f in result.findings() if f.severity == "error"]
    return builtin, official


def test_builtin_header_verdict_agrees_with_the_kit_on_every_official_example(kit):
    disagreements, invalid = [], set()
    for path in EXAMPLES:
        builtin, official = verdicts(kit, parse_xml(path.read_bytes()))
        if bool(builtin) != bool(official):
            disagreements.append(f"{path.name}: harnais {builtin or 'valide'} / kit {official or 'valide'}")
        if builtin and official:
            invalid.add(path.name)
    assert disagreements == []
    assert invalid == KNOWN_INVALID
    assert len(EXAMPLES) == 96


def test_the_known_invalid_example_fails_both_layers_on_the_same_element(kit):
    builtin, official = verdicts(kit, parse_xml((KIT_DIR / "ExemplesCDA" / "eDISP-MED_2024.01.xml").read_bytes()))
    assert builtin == ["family-qualifier /ClinicalDocument/recordTarget/patientRole/patient/name/family[2]"]
    assert len(official) == 1
    assert official[0].startswith("/ClinicalDocument/recordTarget/patientRole/patient/name ")
    assert "Seuls les qualifiers" in official[0]


def mutate(change) -> etree._Element:
    root = parse_xml(DLU_EXAMPLE.read_bytes())
    change(root)
    return root


def drop(path):
    def change(root):
        node = root.xpath(path, namespaces=NS)[0]
        node.getparent().remove(node)
    return change


def set_attribute(path, name, value):
    return lambda root: root.xpath(path, namespaces=NS)[0].set(name, value)


def duplicate(path):
    def change(root):
        node = root.xpath(path, namespaces=NS)[0]
        node.addnext(etree.fromstring(etree.tostring(node)))
    return change


MUTATIONS = {
    # name: (mutation, built-in rule, fragment of the kit's message)
    "lieu de naissance sans code COG": (drop("//h:birthplace/h:place/h:addr/h:county"), "ins-trait-absent",
                                        "les traits de l'INS"),
    "OID de l'INS altéré": (set_attribute("//h:patientRole/h:id[1]", "root", "1.2.250.1.213.1.4.010"),
                            "patientRole-id", "data type 'uid'"),
    "templateId CI-SIS retiré": (drop("h:templateId[@root='1.2.250.1.213.1.1.1.1']"), "templateId-ci-sis",
                                 "templateId[@root='1.2.250.1.213.1.1.1.1'] is required"),
    "setId en double": (duplicate("h:setId"), "setId", "setId[not(@nullFlavor)] appears too often"),
    "realmCode retiré": (drop("h:realmCode"), "realmCode", "realmCode[@code = 'FR'] is required"),
    "date ISO 8601": (set_attribute("h:effectiveTime", "value", "2020-03-27T15:35:00"), "effectiveTime-format",
                      "is not a valid timestamp"),
    "signataire sans signatureCode": (drop("//h:legalAuthenticator/h:signatureCode"), "legalAuthenticator",
                                      "legalAuthenticator[hl7:signatureCode[@code = 'S']] is required"),
    "téléphone sans tel:": (set_attribute("//h:custodian//h:telecom", "value", "0131931902"), "telecom-format",
                            "adresse de télécommunication"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_caught_by_both_layers(kit, name):
    change, rule, message = MUTATIONS[name]
    root = mutate(change)
    assert rule in [f.rule for f in cda.structuration_minimale(root)]
    official = [f.message for f in kit.validate(root, volet=False).findings() if f.severity == "error"]
    assert any(message in m for m in official), official


def test_an_unknown_ins_oid_is_caught_by_the_dui_rules_only(kit):
    root = mutate(set_attribute("//h:patientRole/h:id[1]", "root", "1.2.250.1.213.1.4.12"))
    assert [f.rule for f in cda.ins_findings(root)] == ["ins-oid-inconnu"]
    assert kit.validate(root, volet=False).valid  # the kit only knows the four INS OIDs by name


@pytest.mark.parametrize("model", ["DLU", "FLUDT", "FLUDR"])
def test_the_three_dlu_models_pass_both_layers(kit, model):
    example = parse_xml((KIT_DIR / "ExemplesCDA" / f"DLU-EHPAD-{model}_2022.01.xml").read_bytes())
    assert cda.dlu_model(example) == model
    assert cda.dlu_findings(example) == []
    result = kit.validate(example, xsd=False, strucmin=False)
    assert result.valid and list(result.schematrons) == [f"schematrons/CI-SIS_DLU-EHPAD-{model}_2022.01.sch"]


def test_dlu_volet_of_the_kit_and_the_builtin_dlu_rules_agree(kit):
    broken = mutate(drop("//h:section[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.3.28']/.."))
    assert [f.rule for f in cda.dlu_findings(broken)] == ["dlu-section"]
    assert not kit.validate(broken, xsd=False, strucmin=False).valid


TRAITS = {"birth_name": "PAT-TROIS", "first_given_name": "DOMINIQUE", "given_names": "DOMINIQUE MARIE-LOUISE",
          "birth_date": "1979-03-28", "sex": "F", "birth_place_cog": "51215"}


def reference_document(kind: str, faults=(), qualified: bool = True) -> etree._Element:
    usager = Usager(id="u1", **TRAITS, local_id="L1", ins=("279035121518989", "1.2.250.1.213.1.4.10"),
                    insi_retrieved=True, document_checked=qualified)
    return parse_xml(render(usager, kind, new_version("u1", kind, None), rendering(Reference(faults, {}))))


@pytest.mark.parametrize("kind", ["DLU", "TDDUI-CDA"])
@pytest.mark.parametrize("qualified", [True, False])
def test_reference_documents_pass_the_kit(kit, kind, qualified):
    result = kit.validate(reference_document(kind, qualified=qualified))
    assert result.valid, result.findings()


def test_kit_and_fault_declarations_agree_on_structuration_minimale(kit):
    """A CDA fault declares DUI-CDA-02 exactly when the kit's XSD and structuration minimale reject it."""
    disagreements = []
    for name, fault in FAULTS.items():
        if not name.startswith(("cda-", "dlu-")):
            continue
        kind = "TDDUI-CDA" if name.startswith("cda-tddui-") else "DLU"
        document = reference_document(kind, (name,), qualified=name != "cda-ins-sent-unqualified")
        rejected = not kit.validate(document, volet=False).valid
        if rejected != ("DUI-CDA-02" in fault.requirements):
            disagreements.append(f"{name}: kit {'rejette' if rejected else 'accepte'}")
    assert disagreements == []


def test_known_linux_defects_are_worked_around_with_a_clear_message(kit):
    assert any("voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml est absent" in note for note in kit.notes)
    kit.schematron("schematrons/profils/IHE.sch")
    assert any("E_directiveanticipee_int.sch" in note and "casse" in note for note in kit.notes)
    with pytest.raises(KitError, match="inclusion introuvable"):
        kit.schematron("schematrons/CI-SIS_BIO-CR-BIO_2023.01.sch")
    assert not (KIT_DIR / "schematrons/profils/structurationMinimale/include/voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml"
                ).exists()


def test_every_example_is_valid_against_the_kit_xsd(kit):
    schema = kit.xsd()
    invalid = [p.name for p in EXAMPLES if (doc := cda.clinical_document(parse_xml(p.read_bytes()))) is not None
               and not schema.validate(etree.ElementTree(doc))]
    assert invalid == []


def test_run_with_the_kit_records_it_in_the_report(cli, tmp_path, kit):
    result = cli.invoke(main, ["run", "--theme", "CDA", "--cda-kit", str(KIT_DIR), "--report-dir", str(tmp_path),
                               "--seed", "3"])
    assert result.exit_code == 0, result.output
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    [recorded] = report["run"]["kits"]
    assert (recorded["sha256"], recorded["files"]) == (kit.digest, len(kit.files))
    assert any("471" in note for note in recorded["workarounds"])
    assert {r["verdict"] for r in report["requirements"] if r["id"].startswith("DUI-CDA")} == {"conforme"}
    assert kit.digest in (run_dir / "report.html").read_text(encoding="utf-8")


def test_kit_failed_asserts_join_the_structuration_minimale_requirement_in_a_run(kit, suite):
    report = play(suite, faults=("cda-telecom-without-scheme",), themes=("CDA",), cda_kits=(kit,))
    findings = report.requirement("DUI-CDA-02").findings
    assert {f.rule for f in findings} == {"telecom-format", "kit:ASIP-STRUCT-MIN-StrucMin"}
    assert report.run.kits == [kit.record()]


def test_validate_cda_with_the_kit_on_official_examples(cli):
    result = cli.invoke(main, ["validate", "cda", "--kit", str(KIT_DIR), "--json", str(DLU_EXAMPLE),
                               str(KIT_DIR / "ExemplesCDA" / "eDISP-MED_2024.01.xml")])
    assert result.exit_code == 1
    dlu, edisp = json.loads(result.stdout)
    assert dlu["valid"] and dlu["type"] == "DLU" and "volet DLU" in dlu["layers"]
    kit_errors = [f for f in edisp["findings"] if f["layer"].startswith("kit ") and f["severity"] == "error"]
    assert [f["location"] for f in kit_errors] == ["/ClinicalDocument/recordTarget/patientRole/patient/name"]
    assert Path(edisp["item"]).name == "eDISP-MED_2024.01.xml"


def test_strucmin_is_the_profile_the_kit_runs_by_default(kit):
    assert set(kit.validate(parse_xml(DLU_EXAMPLE.read_bytes())).schematrons) == {
        STRUCMIN, "schematrons/CI-SIS_DLU-EHPAD-DLU_2022.01.sch"}
