"""`dui-conformance validate nir|identity`: the assessor's tools for proof files."""

import json

import pytest

from conformance.cli import main
from tests.conftest import CORPUS

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present on this machine")


def test_validate_nir_exit_codes_and_json(cli):
    assert cli.invoke(main, ["validate", "nir", "279035121518989", "2 84 05 2A 321 025 52"]).exit_code == 0
    result = cli.invoke(main, ["validate", "nir", "279035121518989", "279035121518990", "--json"])
    assert result.exit_code == 1
    verdicts = {r["item"]: r for r in json.loads(result.output)}
    assert verdicts["279035121518989"]["valid"]
    assert verdicts["279035121518990"]["findings"][0] == {
        "rule": "cle", "message": "Clé de contrôle 90 fausse : 97 − (n mod 97) donne 89", "expected": "89",
        "actual": "90"}


def test_validate_nir_checks_the_oid(cli):
    result = cli.invoke(main, ["validate", "nir", "745029912345667", "--oid", "1.2.250.1.213.1.4.8"])
    assert result.exit_code == 1
    assert "Un NIA (premier chiffre 7 ou 8) voyage sous l'OID INS-NIA" in result.output


@needs_corpus
def test_validate_identity_reports_the_official_example_defects(cli):
    folder = CORPUS / "ans-tddui-fhir"
    result = cli.invoke(main, ["validate", "identity", str(folder / "Patient-tddui-patient-ins-example.json"),
                               str(folder / "Patient-tddui-patient-example.json"), "--json"])
    assert result.exit_code == 1
    ins_example, plain = json.loads(result.output)
    assert not ins_example["valid"]
    assert {f["rule"] for f in ins_example["findings"]} == {"ins-non-qualifie", "matricule-cle"}
    key = next(f for f in ins_example["findings"] if f["rule"] == "matricule-cle")
    assert (key["expected"], key["actual"]) == ("30", "11")
    assert plain["valid"] and [f["severity"] for f in plain["findings"]] == ["warning"]


def test_validate_identity_rejects_a_non_patient(cli, write):
    result = cli.invoke(main, ["validate", "identity", str(write("b.json", '{"resourceType": "Bundle"}'))])
    assert result.exit_code == 1
    assert "ne contient pas de ressource Patient" in result.output
