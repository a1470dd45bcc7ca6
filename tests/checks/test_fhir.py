"""The FHIR checks judge what the TDDUI receiver got, one group of rules at a time, in French."""

import pytest

from conformance.checks import CHECKS, CheckContext
from conformance.core.findings import CheckFailed, CheckSkipped
from conformance.reference.store import Usager
from conformance.reference.tddui_bundle import export_bundle
from conformance.simulators import Received

USAGER = Usager(id="u", birth_name="PAT-TROIS", first_given_name="DOMINIQUE", given_names="DOMINIQUE MARIE-LOUISE",
                birth_date="1979-03-28", sex="F", birth_place_cog="51215", local_id="L1",
                ins=("279035121518989", "1.2.250.1.213.1.4.10"), insi_retrieved=True, document_checked=True)


def run(name, bundle, media="application/fhir+json", **args):
    item = Received(summary={"content_type": media, "outcome": "x"}, content=bundle)
    try:
        return list(CHECKS[name](CheckContext("SCN-T", "s", received=item), **args) or [])
    except CheckFailed as exc:
        return exc.findings


def test_valid_export_passes_every_group():
    bundle = export_bundle(USAGER)
    for group in ("structure", "type-bundle", "entrees", "references", "ins-identifiant", "ins-cle", "liaisons"):
        assert run("tddui_export_conforms", bundle, groups=[group]) == []


def test_group_filter_reports_only_its_rules():
    bundle = export_bundle(USAGER)
    bundle["type"] = "batch"
    assert run("tddui_export_conforms", bundle, groups=["references"]) == []
    (finding,) = run("tddui_export_conforms", bundle, groups=["type-bundle"])
    assert finding.rule == "valeur-fixee" and finding.location == "Bundle.type"
    assert finding.expected == "transaction" and finding.actual == "batch" and "profil tddui-bundle" in finding.message


def test_unreadable_post_is_a_finding():
    (finding,) = run("tddui_export_conforms", None, groups=["structure"])
    assert finding.rule == "json-invalide"


def test_nothing_received_is_skipped():
    with pytest.raises(CheckSkipped):
        list(CHECKS["tddui_export_conforms"](CheckContext("SCN-T", "s"), groups=["structure"]))


def test_content_type():
    assert run("tddui_content_type", {}) == []
    assert [f.rule for f in run("tddui_content_type", {}, media="application/json")] == ["content-type"]


def test_patient_matches_the_fhir_read():
    bundle = export_bundle(USAGER)
    args = {"family": "PAT-TROIS", "given": "DOMINIQUE", "birth_date": "1979-03-28", "gender": "female"}
    assert run("tddui_patient_matches", bundle, **args) == []
    bundle["entry"][0]["resource"]["gender"] = "unknown"
    (finding,) = run("tddui_patient_matches", bundle, **args)
    assert finding.location == "Bundle.entry[0].resource.gender" and finding.actual == "unknown"
