"""The FHIR engine: safe parsing, R4 structure, profile rules as data, StructureDefinition differentials, invariants."""

import json
from pathlib import Path

import pytest

from conformance.validation.fhir import (
    FhirValidator,
    InvalidFhirJson,
    matches,
    nir_key,
    parse_fhir_json,
    select,
)
from conformance.validation.fhir_profiles import IgData, builtin_data, load_ig_dir, profile_from_data
from tests.conftest import CORPUS

DATA = Path(__file__).parent / "data"
TDDUI = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/"
QR = TDDUI + "tddui-questionnaire-response"
TEST_PATIENT = "urn:dui-conformance:test:StructureDefinition/profile-test-patient"


@pytest.fixture(scope="module")
def validator() -> FhirValidator:
    return FhirValidator()


def rules(report, group=None):
    return sorted({i.rule for i in report.issues if group is None or i.group == group})


# --- hostile input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "reason"), [
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "imbrication"),
    (b'{"a": ' + b"[" * 80 + b"]" * 80 + b"}", "imbrication"),
    (b'{"resourceType": "Bundle",', "JSON mal formé"),
    (b'{"name": "\xe9"}', "UTF-8"),
    (b" " * 100, "JSON mal formé"),
])
def test_hostile_json_is_refused_with_a_reason(data, reason):
    with pytest.raises(InvalidFhirJson, match=reason):
        parse_fhir_json(data)


def test_size_cap():
    with pytest.raises(InvalidFhirJson, match="limite"):
        parse_fhir_json(b"[" + b"1," * 100 + b"1]", max_bytes=50)


def test_utf8_bom_is_accepted():
    assert parse_fhir_json(b'\xef\xbb\xbf{"resourceType": "Patient"}') == {"resourceType": "Patient"}


# --- base structure ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "rule", "where"), [
    ({"resourceType": "Patient", "birthDate": "1950-02-30x"}, "r4-value_error", "Patient.birthDate"),
    ({"resourceType": "Patient", "naissance": "1950"}, "r4-extra_forbidden", "Patient.naissance"),
    ({"resourceType": "Patient", "name": [{}]}, "ele-1", "Patient.name[0]"),
    ({"resourceType": "Patient", "name": []}, "ele-1", "Patient.name"),
    ({"resourceType": "Patient", "gender": ""}, "ele-1", "Patient.gender"),
    ({"resourceType": "Patient", "extension": [{"url": "http://x"}]}, "ext-1", "Patient.extension[0]"),
    ({"resourceType": "Patiente"}, "resourceType", "Patiente.resourceType"),
    ({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": "Nope"}}]},
     "resourceType", "Bundle.entry[0].resource.resourceType"),
])
def test_structure_issues_are_located(validator, resource, rule, where):
    issues = [i for i in validator.validate(resource).issues if i.group == "structure"]
    assert (rule, where) in [(i.rule, i.location) for i in issues]
    assert all(i.message for i in issues)


def test_valid_minimal_patient_has_no_structure_issue(validator):
    report = validator.validate({"resourceType": "Patient", "birthDate": "1950-01-31", "gender": "male"})
    assert report.issues == []


# --- navigation and patterns ------------------------------------------------------------------------------------


def test_select_follows_primitive_extensions_and_choices():
    patient = {"birthDate": "1947-04-03", "_birthDate": {"extension": [{"url": "u", "valuePositiveInt": 2}]}}
    found = select(patient, "birthDate.extension", "Patient")
    assert [loc for loc, _ in found] == ["Patient.birthDate.extension[0]"]
    assert [loc for loc, _ in select(found[0][1], "value[x]", "x")] == ["x.valuePositiveInt"]


def test_pattern_matching_is_partial_and_by_inclusion_in_arrays():
    coding = {"coding": [{"system": "s", "code": "a", "display": "A"}, {"system": "t", "code": "b"}]}
    assert matches(coding, {"coding": [{"code": "b"}]})
    assert not matches(coding, {"coding": [{"code": "c"}]})


@pytest.mark.parametrize(("matricule", "key"), [("279035121518989", 89), ("284052A32102552", 52),
                                                ("193052B12345656", 56), ("147720425367411", 30)])
def test_nir_key(matricule, key):
    assert nir_key(matricule) == key


def test_nir_vectors_of_the_corpus():
    path = CORPUS / "nir-vectors.json"
    if not path.exists():
        pytest.skip("official corpus absent on this machine (../shared/corpus/nir-vectors.json)")
    vectors = json.loads(path.read_text(encoding="utf-8"))
    assert all(nir_key(v) == int(v[13:]) for v in vectors["valid"])
    assert all(nir_key(v["value"]) != int(v["value"][13:]) for v in vectors["invalid"] if v["why"] == "wrong key")


# --- profile rules as data --------------------------------------------------------------------------------------

RULES = {
    "url": "urn:test:p", "type": "Patient", "group": "essai",
    "rules": [
        {"path": "birthDate", "min": 1},
        {"path": "identifier", "slice": "local", "discriminator": {"system": "urn:local"}, "min": 1, "max": 1,
         "rules": [{"path": "use", "fixed": "usual"}, {"path": "value", "min": 1}]},
        {"path": "gender", "binding": {"valueSet": "https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-patient-gender-INS"}},
        {"path": "managingOrganization", "targets": ["Organization"]},
        {"path": "name", "pattern": {"use": "official"}},
    ],
    "invariants": [{"key": "essai-1", "human": "un nom", "expression": "name.exists()"}],
}


@pytest.fixture(scope="module")
def rule_validator() -> FhirValidator:
    data = IgData()
    data.merge(builtin_data())
    profile = profile_from_data(RULES)
    data.profiles[profile.url] = profile
    return FhirValidator(data)


@pytest.mark.parametrize(("patient", "rule"), [
    ({"identifier": [{"system": "urn:local", "value": "1", "use": "usual"}], "name": [{"use": "official"}],
      "gender": "male"}, "cardinalite-min"),
    ({"birthDate": "1950-01-31", "name": [{"use": "official", "family": "A"}]}, "cardinalite-min"),
    ({"birthDate": "1950-01-31", "identifier": [{"system": "urn:local", "value": "1"}] * 2,
      "name": [{"use": "official", "family": "A"}]}, "cardinalite-max"),
    ({"birthDate": "1950-01-31", "identifier": [{"system": "urn:local", "value": "1", "use": "official"}],
      "name": [{"use": "official", "family": "A"}]}, "valeur-fixee"),
    ({"birthDate": "1950-01-31", "identifier": [{"system": "urn:local", "value": "1"}], "gender": "other",
      "name": [{"use": "official", "family": "A"}]}, "liaison-requise"),
    ({"birthDate": "1950-01-31", "identifier": [{"system": "urn:local", "value": "1"}],
      "managingOrganization": {"reference": "Practitioner/x"}, "name": [{"use": "official", "family": "A"}]},
     "cible-reference"),
    ({"birthDate": "1950-01-31", "identifier": [{"system": "urn:local", "value": "1"}],
      "name": [{"use": "usual", "family": "A"}]}, "motif"),
    ({"birthDate": "1950-01-31", "identifier": [{"system": "urn:local", "value": "1"}]}, "invariant:essai-1"),
])
def test_each_rule_kind_catches_its_defect(rule_validator, patient, rule):
    report = rule_validator.validate({"resourceType": "Patient", **patient}, "urn:test:p")
    assert rule in rules(report, "essai")
    assert all("Patient" in i.location for i in report.issues)


def test_a_conforming_patient_passes_every_rule(rule_validator):
    patient = {"resourceType": "Patient", "birthDate": "1950-01-31", "gender": "female",
               "identifier": [{"system": "urn:local", "value": "1", "use": "usual"}],
               "name": [{"use": "official", "family": "A"}], "managingOrganization": {"reference": "Organization/o"}}
    assert rule_validator.validate(patient, "urn:test:p").issues == []


def test_builtin_data_loads_and_every_invariant_compiles():
    data = builtin_data()
    assert TDDUI + "tddui-bundle" in data.profiles
    assert len(data.profiles) >= 15
    FhirValidator(data)  # compiles every FHIRPath expression: a typo in the data fails here


# --- the IG's invariant tests (TestInvariant*.fsh rewritten as JSON) --------------------------------------------

INVARIANT_CASES = {
    "test-invariant-porteur-non": "tddui-qr-porteur",
    "test-invariant-professionnel-non": "tddui-qr-professionnel",
    "test-invariant-3-pro-eval-valid": None,
    "test-invariant-auteur-ok": None,
    "test-invariant-evaluateur-ok": None,
    "test-invariant-responsable-ok": None,
}


@pytest.mark.parametrize(("name", "invariant"), INVARIANT_CASES.items())
def test_ig_invariant_examples(validator, name, invariant):
    resource = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    report = validator.validate(resource)
    failed = {i.rule.removeprefix("invariant:") for i in report.issues if i.rule.startswith("invariant:")}
    if invariant is None:
        assert report.issues == []
    else:
        assert invariant in failed
        assert not [i for i in report.issues if not i.rule.startswith("invariant:")]
    if name == "test-invariant-professionnel-non":
        assert failed == {"tddui-qr-professionnel"}


# --- StructureDefinition differentials (--ig) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ig_validator() -> FhirValidator:
    extra = [load_ig_dir(DATA / "ig")]
    if (CORPUS / "ans-tddui-fhir").is_dir():
        extra.append(load_ig_dir(CORPUS / "ans-tddui-fhir"))
    return FhirValidator(extra=extra)


GOOD = {"resourceType": "Patient", "gender": "female", "birthDate": "1979-03-28",
        "_birthDate": {"extension": [{"url": TDDUI + "tddui-birth-order", "valuePositiveInt": 189}]},
        "identifier": [{"system": "urn:dui-conformance:test:dossier", "value": "D1"}],
        "managingOrganization": {"reference": "Organization/o"}}


def test_project_written_structure_definition_is_applied(ig_validator):
    assert ig_validator.validate(GOOD, TEST_PATIENT).issues == []


@pytest.mark.parametrize(("change", "rule"), [
    ({"identifier": [{"system": "urn:autre", "value": "D1"}]}, "cardinalite-min"),
    ({"gender": "unknown"}, "liaison-requise"),
    ({"birthDate": None, "_birthDate": None}, "invariant:test-1"),
    ({"managingOrganization": {"reference": "Practitioner/p"}}, "cible-reference"),
    ({"_birthDate": {"extension": [{"url": TDDUI + "tddui-birth-order", "valueString": "189"}]}}, "type"),
    ({"_birthDate": None}, "cardinalite-min"),
])
def test_differential_rules_catch_defects(ig_validator, change, rule):
    patient = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    assert rule in rules(ig_validator.validate(patient, TEST_PATIENT))


def test_corpus_birth_order_structure_definition_is_read():
    folder = CORPUS / "ans-tddui-fhir"
    if not folder.is_dir():
        pytest.skip("official corpus absent on this machine (../shared/corpus/ans-tddui-fhir)")
    profile = load_ig_dir(folder).profiles[TDDUI + "tddui-birth-order"]
    assert profile.type == "Extension"
    paths = {r.path: r for r in profile.rules}
    assert paths["url"].fixed == TDDUI + "tddui-birth-order"
    assert paths["extension"].max == 0
    assert paths["value[x]"].types == ("positiveInt",)
