"""The TDDUI IG's own examples (shared/corpus/ans-tddui-fhir) against the project's profile data.

Each example validates against its profiles except for real defects, named here one by one; mutations of the
example Bundle are each caught by the rule written for them.
"""

import copy
import json

import pytest

from conformance.validation.fhir import FhirValidator
from conformance.validation.fhir_profiles import load_ig_dir
from tests.conftest import CORPUS

FOLDER = CORPUS / "ans-tddui-fhir"
pytestmark = pytest.mark.skipif(not FOLDER.is_dir(), reason="corpus absent (../shared/corpus/ans-tddui-fhir)")

#: (file, rule, location) of every defect the examples carry; anything else found is a failure of the engine
KNOWN_DEFECTS = {
    "Bundle-ExampleTDDUIBundle.json": {
        # request.url names the profile (TDDUIPatientINS…) instead of the resource type (POST [base]/Patient)
        *{("request-url", f"Bundle.entry[{i}].request.url") for i in range(8)},
        # the event's Location is not in the Bundle (the corpus README lists it)
        ("reference-non-resolue", "Bundle.entry[3].resource.location[0].location.reference"),
        # FR Core identifier[PI].use is 1..1 (usual); the example omits it
        ("cardinalite-min", "Bundle.entry[0].resource.identifier[1].use"),
        # INS-NIR 147720425367411: the key is 30, not 11
        ("nir-cle", "Bundle.entry[0].resource.identifier[0].value"),
        # an INS is carried while identityStatus is VALI (RNIV: QUAL only)
        ("invariant:tddui-ins-qual", "Bundle.entry[0].resource"),
        # INS traits in mixed case with accents ("Jean Stéphane Patrick")
        ("invariant:tddui-ins-traits-case", "Bundle.entry[0].resource"),
    },
    "Bundle-TDDUIBundleExample.json": {
        ("request-url", "Bundle.entry[0].request.url"), ("request-url", "Bundle.entry[1].request.url"),
    },
    "Patient-tddui-patient-example.json": {
        ("cardinalite-min", "Patient.identifier[0].use"),
        # older IG version: local identifier system http://identifiant-ipp.com instead of the fixed one
        ("valeur-fixee", "Patient.identifier[0].system"),
    },
    "Patient-tddui-patient-ins-example.json": {
        ("cardinalite-min", "Patient.identifier[1].use"),
        ("nir-cle", "Patient.identifier[0].value"),
        ("invariant:tddui-ins-qual", "Patient"),
        ("invariant:tddui-ins-traits-case", "Patient"),
    },
}
EXAMPLES = sorted(p.name for p in FOLDER.glob("*.json")
                  if p.name.split("-")[0] in {"Bundle", "Patient", "Encounter", "QuestionnaireResponse",
                                              "DocumentReference"}) if FOLDER.is_dir() else []


def load(name):
    return json.loads((FOLDER / name).read_text(encoding="utf-8-sig"))


@pytest.fixture(scope="module")
def validator():
    return FhirValidator()


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_validates_except_its_known_defects(validator, name):
    report = validator.validate(load(name))
    assert report.profiles, "the example declares a profile the data knows"
    found = {(i.rule, i.location) for i in report.errors}
    assert found == KNOWN_DEFECTS.get(name, set())


def test_ig_package_folder_is_accepted_with_the_builtin_data():
    validator = FhirValidator(extra=[load_ig_dir(FOLDER)])
    assert "https://interop.esante.gouv.fr/ig/fhir/tddui/CodeSystem/tddui-encounter-identifier" in \
        validator.data.code_systems
    report = validator.validate(load("Patient-tddui-patient-example.json"))
    assert {i.rule for i in report.errors} == {"cardinalite-min", "valeur-fixee"}


def _bundle():
    return load("Bundle-ExampleTDDUIBundle.json")


def _without_finess(b):
    del b["entry"][1]["resource"]["identifier"]


def _ins_wrong_system(b):
    b["entry"][0]["resource"]["identifier"][0]["system"] = "urn:oid:1.2.250.1.213.1.4.10"


def _broken_reference(b):
    b["entry"][2]["resource"]["subject"]["reference"] = "Patient/inconnu"


def _unknown_ig_code(b):
    b["entry"][0]["resource"]["identifier"][1]["type"]["coding"][0] = {
        "system": "https://interop.esante.gouv.fr/ig/fhir/tddui/CodeSystem/tddui-identifier", "code": "PLX"}


def _unknown_base_code(b):
    b["entry"][6]["resource"]["status"] = "terminee"


def _wrong_type(b):
    b["type"] = "collection"


@pytest.mark.parametrize(("mutate", "rule", "location", "group"), [
    (_without_finess, "cardinalite-min", "Bundle.entry[1].resource.identifier:idNatSt", "structure-essms"),
    (_ins_wrong_system, "valeur-fixee", "Bundle.entry[0].resource.identifier[0].system", "ins-identifiant"),
    (_broken_reference, "reference-non-resolue", "Bundle.entry[2].resource.subject.reference", "references"),
    (_unknown_ig_code, "liaison-requise", "Bundle.entry[0].resource.identifier[1].type", "liaisons"),
    (_unknown_base_code, "liaison-requise", "Bundle.entry[6].resource.status", "liaisons"),
    (_wrong_type, "valeur-fixee", "Bundle.type", "type-bundle"),
])
def test_mutations_of_the_example_bundle_are_caught(validator, mutate, rule, location, group):
    baseline = {(i.rule, i.location) for i in validator.validate(_bundle()).errors}
    bundle = copy.deepcopy(_bundle())
    mutate(bundle)
    new = [i for i in validator.validate(bundle).errors if (i.rule, i.location) not in baseline]
    assert (rule, location, group) in [(i.rule, i.location, i.group) for i in new]
    assert {i.group for i in new} == {group}
    assert all(i.message and i.location for i in new)
