"""The reference DUI's TDDUI export is valid, and each of its faults breaks only the rules of its own group."""

import pytest

from conformance.reference import FAULTS
from conformance.reference.base import Reference
from conformance.reference.store import Usager
from conformance.reference.tddui import EDITS, INS_SENT_UNQUALIFIED, build
from conformance.reference.tddui_bundle import export_bundle
from conformance.validation.fhir import FhirValidator

TDDUI = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/"
TRAITS = {"birth_name": "PAT-TROIS", "first_given_name": "DOMINIQUE", "given_names": "DOMINIQUE MARIE-LOUISE",
          "birth_date": "1979-03-28", "sex": "F", "birth_place_cog": "51215"}
INS = ("279035121518989", "1.2.250.1.213.1.4.10")


def usager(*, insi: bool, document: bool, ins=INS) -> Usager:
    return Usager(id="usager-1", local_id="L1", ins=ins if insi else None, insi_retrieved=insi,
                  document_checked=document, **TRAITS)


@pytest.fixture(scope="module")
def validator():
    return FhirValidator()


def patient_of(bundle):
    return bundle["entry"][0]["resource"]


@pytest.mark.parametrize(("state", "profile"), [
    ({"insi": True, "document": True}, "tddui-patient-ins"),
    ({"insi": True, "document": False}, "tddui-patient"),
])
def test_export_is_valid(validator, state, profile):
    bundle = export_bundle(usager(**state))
    report = validator.validate(bundle)
    assert report.issues == []
    assert report.profiles["Bundle.entry[0].resource"] == [TDDUI + profile]


def test_unqualified_identity_is_exported_without_ins_but_with_the_birth_order():
    patient = patient_of(export_bundle(usager(insi=True, document=False)))
    assert not [i for i in patient["identifier"] if i["system"].startswith("urn:oid:1.2.250.1.213.1.4.")]
    assert patient["_birthDate"]["extension"][0]["valuePositiveInt"] == 189


def test_qualified_identity_carries_the_ins_and_the_local_identifier():
    patient = patient_of(export_bundle(usager(insi=True, document=True)))
    values = {i["system"]: i["value"] for i in patient["identifier"]}
    assert values["urn:oid:1.2.250.1.213.1.4.10"] == "279035121518989"
    assert values["https://identifiant-medicosocial-localusager.esante.gouv.fr"] == "3480787529/L1"


GROUPS = {
    "tddui-bundle-batch": "type-bundle", "tddui-entries-put": "entrees", "tddui-dangling-reference": "references",
    "tddui-unknown-element": "structure", "tddui-ins-wrong-system": "ins-identifiant",
    "tddui-ins-without-key": "ins-cle", "tddui-identity-reliability-missing": "fiabilite-identite",
    "tddui-birthplace-missing": "traits-ins", "tddui-local-id-without-finess": "identifiant-local",
    "tddui-organization-without-finess": "structure-essms", "tddui-sejour-without-identifier": "sejour",
    "tddui-evenement-without-end": "evenement", "tddui-evaluation-without-professional": "evaluation",
    "tddui-local-id-custom-type": "liaisons",
}


@pytest.mark.parametrize(("fault", "group"), GROUPS.items())
def test_each_fault_breaks_only_its_group(validator, fault, group):
    bundle = export_bundle(usager(insi=True, document=True), [EDITS[fault]])
    groups = {i.group for i in validator.validate(bundle).errors}
    # without its reliability extension the Patient also breaks the RNIV rule judged in the RECUP scenario
    assert groups == {group} | ({"ins-qualifiee"} if fault == "tddui-identity-reliability-missing" else set())


def test_unqualified_faults(validator):
    ref = Reference([INS_SENT_UNQUALIFIED], {})
    ref.store.add(usager(insi=True, document=False))
    groups = {i.group for i in validator.validate(build(ref, "usager-1")).errors}
    assert groups == {"ins-qualifiee"}
    missing = export_bundle(usager(insi=True, document=False), [EDITS["tddui-birth-order-missing"]])
    assert {i.group for i in validator.validate(missing).errors} == {"rang-naissance"}


def test_every_fault_of_the_theme_is_declared_against_fhir_requirements():
    names = [n for n in FAULTS if n.startswith("tddui-")]
    assert len(names) >= 17
    assert all(all(r.startswith("DUI-FHIR-") for r in FAULTS[n].requirements) for n in names)
