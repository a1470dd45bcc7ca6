"""Each INS check passes on a correct FR Core Patient and names the usager, field, expected and actual on a defect."""

import copy
import json

import pytest

from conformance.checks import CheckContext, evaluate
from conformance.core.outcomes import CheckStatus

STATUS = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
PATIENT = {
    "resourceType": "Patient", "id": "p1",
    "extension": [
        {"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability",
         "extension": [{"url": "identityStatus", "valueCoding": {"system": STATUS, "code": "QUAL"}},
                       {"url": "comment", "valueCoding": {"code": "HOMA"}}]},
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {"extension": [
            {"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code",
             "valueCoding": {"code": "51215"}}]}},
    ],
    "identifier": [{"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.10", "value": "279035121518989",
                    "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                                         "code": "INS-NIR-TEST"}]}}],
    "name": [{"use": "official", "family": "PAT-TROIS", "given": ["DOMINIQUE"], "extension": [
        {"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name",
         "valueString": "DOMINIQUE MARIE-LOUISE"}]}],
    "gender": "female", "birthDate": "1979-03-28",
}
TRAITS = {"birth_name": "PAT-TROIS", "first_given_name": "DOMINIQUE", "given_names": "DOMINIQUE MARIE-LOUISE",
          "birth_date": "1979-03-28", "sex": "F", "birth_place_cog": "51215"}


def status(patient, code):
    patient["extension"][0]["extension"][0]["valueCoding"]["code"] = code


def run(name, patient, **args):
    ctx = CheckContext.of_document(json.dumps(patient).encode(), "application/fhir+json", "p.json")
    return evaluate(name, args, ctx)


def mutated(change):
    patient = copy.deepcopy(PATIENT)
    change(patient)
    return patient


CASES = [
    ("identity_status_is", {"status": "QUAL"}, lambda p: status(p, "VALI"), "statut-identite"),
    ("identity_status_coded", {}, lambda p: p["extension"][0]["extension"][0]["valueCoding"].update(
        system="https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-fiabilite-identite"), "statut-code"),
    ("ins_absent_unless_qualified", {}, lambda p: status(p, "RECUP"), "ins-non-qualifie"),
    ("ins_identifier_valid", {}, lambda p: p["identifier"][0].update(value="279035121518990"), "matricule-cle"),
    ("ins_identifier_valid", {}, lambda p: p["identifier"][0].pop("type"), "ins-type"),
    ("ins_matches_insi", {"matricule": "279035121518989", "oid": "1.2.250.1.213.1.4.10"},
     lambda p: p["identifier"][0].update(system="urn:oid:1.2.250.1.213.1.4.8"), "ins-oid-insi"),
    ("traits_equal", {"traits": TRAITS}, lambda p: p["name"][0]["extension"][0].update(valueString="DOMINIQUE"),
     "trait-given_names"),
    ("birth_place_with_ins", {"require_ins": True}, lambda p: p["extension"].pop(1), "lieu-naissance"),
    ("identity_attributes_valid", {}, lambda p: p["extension"][0]["extension"][1]["valueCoding"].update(code="DOUT"),
     "attribut-statut"),
    ("identity_attribute_present", {"code": "HOMA"}, lambda p: p["extension"][0]["extension"].pop(1),
     "attribut-absent"),
]


@pytest.mark.parametrize(("name", "args", "defect", "rule"), CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_check_passes_then_names_the_defect(name, args, defect, rule):
    assert run(name, PATIENT, **args).status is CheckStatus.PASSED
    result = run(name, mutated(defect), **args)
    assert result.status is CheckStatus.FAILED
    finding = next(f for f in result.findings if f.rule == rule)
    assert "Usager PAT-TROIS DOMINIQUE (Patient/p1)" in finding.message
    assert finding.location and finding.location.startswith("Patient")


def test_a_missing_status_is_only_a_warning_when_not_required():
    patient = mutated(lambda p: p["extension"].pop(0))
    assert run("identity_status_coded", patient).status is CheckStatus.FAILED
    assert run("identity_status_coded", patient, required=False).status is CheckStatus.PASSED


def test_non_patient_body_is_a_finding():
    result = run("identity_status_is", {"resourceType": "Bundle"}, status="QUAL")
    assert [f.rule for f in result.findings] == ["patient-absent"]
