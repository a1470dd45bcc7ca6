"""``validate cda`` and ``kits`` without the official corpus: reference documents, a miniature kit."""

import json
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.reference.cda_documents import new_version, render
from conformance.reference.store import Usager
from conformance.validation.cda_files import validate_cda_file
from conformance.validation.kits import KitError, load_kit, manifest_digest

TRAITS = {"birth_name": "PAT-TROIS", "first_given_name": "DOMINIQUE", "given_names": "DOMINIQUE MARIE-LOUISE",
          "birth_date": "1979-03-28", "sex": "F", "birth_place_cog": "51215"}
SCH = ('<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">'
       '<ns prefix="hl7" uri="urn:hl7-org:v3"/>')


@pytest.fixture(autouse=True)
def homes(tmp_path, monkeypatch):
    monkeypatch.setenv("DUI_CONFORMANCE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DUI_CONFORMANCE_CACHE", str(tmp_path / "cache"))


def cda(tmp_path: Path, kind: str = "DLU", name: str = "doc.xml", **changes) -> Path:
    usager = Usager(id="u1", **TRAITS, local_id="L1", ins=("279035121518989", "1.2.250.1.213.1.4.10"),
                    insi_retrieved=True, document_checked=True)
    data = render(usager, kind, new_version("u1", kind, None))
    for old, new in changes.items():
        data = data.replace(old.encode(), new.encode())
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def mini_kit(tmp_path) -> Path:
    """A kit with the TestContenuCDA layout: an XSD that wants a title, a structuration minimale that wants FR."""
    root = tmp_path / "kit"
    (root / "infrastructure/cda").mkdir(parents=True)
    (root / "infrastructure/cda/CDA_extended.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:hl7-org:v3" '
        'elementFormDefault="qualified"><xs:element name="ClinicalDocument"><xs:complexType><xs:sequence>'
        '<xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>'
        '<xs:anyAttribute processContents="skip"/></xs:complexType></xs:element></xs:schema>', encoding="utf-8")
    strucmin = root / "schematrons/profils/structurationMinimale"
    (strucmin / "include").mkdir(parents=True)
    (strucmin / "ASIP-STRUCT-MIN-StrucMin.sch").write_text(
        SCH + '<pattern id="p"><rule context="hl7:ClinicalDocument"><assert test="hl7:realmCode/@code = \'FR\'">'
        'realmCode FR obligatoire</assert><assert test="hl7:code/@code = doc(\'include/voc-1.2.250.1.213.1.1.5.471-'
        'DYNAMIC.xml\')//concept/@code">code hors J07</assert></rule></pattern></schema>', encoding="utf-8")
    (root / "jeuxDeValeurs").mkdir()
    (root / "jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml").write_text(
        '<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet><ConceptList>'
        '<Concept code="74207-2" codeSystem="2.16.840.1.113883.6.1"/><Concept code="EXPORT_DUI" '
        'codeSystem="1.2.250.1.213.1.1.4.12"/></ConceptList></ValueSet></RetrieveValueSetResponse>', encoding="utf-8")
    return root


def test_reference_documents_are_valid_in_every_layer(tmp_path):
    for kind in ("DLU", "TDDUI-CDA"):
        report = validate_cda_file(cda(tmp_path, kind), document_type=kind)
        assert report.valid, report.findings
        assert report.document_type == kind
        assert f"volet {kind}" in report.layers


def test_layers_of_a_broken_file(tmp_path):
    path = cda(tmp_path, **{'<realmCode code="FR"/>': "", "279035121518989": "279035121518990"})
    report = validate_cda_file(path)
    assert not report.valid
    assert [f.rule for f in report.findings["structuration minimale"]] == ["realmCode"]
    assert "ins-cle" in [f.rule for f in report.findings["règles DUI (identifiants, INS)"]]


def test_cli_exit_codes_and_json(cli, tmp_path):
    good, bad = cda(tmp_path, name="bon.xml"), cda(tmp_path, name="mauvais.xml", **{'<realmCode code="FR"/>': ""})
    assert cli.invoke(main, ["validate", "cda", str(good)]).exit_code == 0
    result = cli.invoke(main, ["validate", "cda", str(good), str(bad), "--json"])
    assert result.exit_code == 1
    first, second = json.loads(result.output)
    assert first["valid"] and first["type"] == "DLU" and not second["valid"]
    assert {"rule": "realmCode", "layer": "structuration minimale"}.items() <= second["findings"][0].items()
    text = cli.invoke(main, ["validate", "cda", str(bad)]).output
    assert "non valide" in text and "realmCode code=\"FR\" absent" in text


def test_cli_reports_hostile_and_foreign_files(cli, tmp_path):
    xxe = tmp_path / "xxe.xml"
    xxe.write_bytes(b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><ClinicalDocument>&x;</ClinicalDocument>')
    result = cli.invoke(main, ["validate", "cda", str(xxe), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)[0]["findings"][0]["rule"] == "xml-dtd"
    assert "root:" not in result.output


def test_kit_is_pinned_listed_verified_and_held_to_its_manifest(cli, mini_kit):
    result = cli.invoke(main, ["kits", "add", str(mini_kit), "--name", "mini"])
    assert result.exit_code == 0, result.output
    assert "reconstitué depuis jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml (2 codes)" in result.output
    listed = json.loads(cli.invoke(main, ["kits", "list", "--json"]).output)
    assert [(k["name"], k["files"]) for k in listed] == [("mini", 3)]
    assert cli.invoke(main, ["kits", "verify", "mini"]).exit_code == 0
    kit = load_kit("mini")
    assert kit.digest == manifest_digest(kit.files) == listed[0]["sha256"]
    (mini_kit / "jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml").write_text("<changé/>", encoding="utf-8")
    with pytest.raises(KitError, match="a changé depuis son enregistrement"):
        load_kit(mini_kit)
    assert cli.invoke(main, ["kits", "verify", "mini"]).exit_code == 1
    assert cli.invoke(main, ["kits", "remove", "mini"]).exit_code == 0
    assert cli.invoke(main, ["kits", "remove", "mini"]).exit_code == 4


def test_validate_with_a_kit_maps_failed_asserts_to_findings(cli, tmp_path, mini_kit):
    bad = cda(tmp_path, name="sans-realm.xml", **{'<realmCode code="FR"/>': "", "74207-2": "34133-9"})
    result = cli.invoke(main, ["validate", "cda", str(bad), "--kit", str(mini_kit), "--json"])
    assert result.exit_code == 1
    kit = [f for f in json.loads(result.stdout)[0]["findings"] if f["layer"] == "kit kit"]
    findings = [f for f in kit if f["severity"] == "error"]
    assert [f["rule"] for f in kit if f["severity"] == "info"] == ["kit-note"]  # no DLU volet in this kit
    assert {f["message"] for f in findings} == {
        "Kit officiel, ASIP-STRUCT-MIN-StrucMin : realmCode FR obligatoire",
        "Kit officiel, ASIP-STRUCT-MIN-StrucMin : code hors J07"}
    assert {f["location"] for f in findings} == {"/ClinicalDocument"}


def test_not_a_kit_is_a_usage_error(cli, tmp_path):
    result = cli.invoke(main, ["validate", "cda", str(cda(tmp_path)), "--kit", str(tmp_path)])
    assert result.exit_code == 4
    assert "n'est pas un kit TestContenuCDA" in result.output
