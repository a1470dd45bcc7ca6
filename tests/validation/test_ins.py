"""The matricule rules agree with python-stdnum, with the corpus vectors, and find the official examples' defects."""

import json
import re

import pytest
from hypothesis import given, settings
from stdnum.fr import nir

from conformance.generation.identities import corsican_nir, valid_nia, valid_nir, wrong_key_nir
from conformance.validation.ins import expected_key, matricule_problems, oid_problems, status_of
from conformance.validation.xml import parse_xml
from tests.conftest import CORPUS

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present on this machine")


@settings(max_examples=10_000, deadline=None, database=None)
@given(valid_nir() | corsican_nir() | wrong_key_nir())
def test_key_check_agrees_with_stdnum_on_10000_matricules(matricule):
    assert (not matricule_problems(matricule)) == nir.is_valid(matricule)


@settings(max_examples=500, deadline=None, database=None)
@given(valid_nia())
def test_nia_keys_follow_the_same_rule(matricule):
    assert matricule_problems(matricule) == []
    assert [p.rule for p in oid_problems(matricule, "1.2.250.1.213.1.4.8")] == ["oid-nia"]


def test_corsica_uses_19_and_18():
    assert expected_key("284052A321025") == "52"
    assert expected_key("193052B123456") == "56"


@pytest.mark.parametrize("value", ["27903512151898", "2790351215189899", "2 79 03 51 215 189 8X"])
def test_malformed_matricules_are_named(value):
    assert matricule_problems(value)[0].rule in {"longueur", "structure"}


def test_statuses_follow_the_two_rniv_criteria():
    assert [status_of(i, c) for i in (False, True) for c in (False, True)] == ["PROV", "VALI", "RECUP", "QUAL"]


@needs_corpus
def test_corpus_vectors():
    vectors = json.loads((CORPUS / "nir-vectors.json").read_text(encoding="utf-8"))
    assert all(matricule_problems(v) == [] for v in vectors["valid"])
    for case in vectors["invalid"]:
        assert matricule_problems(case["value"]), case
    for defect in vectors["official_defects"]:
        (problem,) = matricule_problems(defect["value"])
        assert (problem.rule, problem.expected) == ("cle", defect["correct_key"])


@needs_corpus
def test_official_cda_examples_with_a_wrong_key_are_reported():
    vectors = json.loads((CORPUS / "nir-vectors.json").read_text(encoding="utf-8"))
    ins_roots = {"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"}
    wrong = set()
    for path in [*(CORPUS / "ans-testcontenucda-3.0" / "ExemplesCDA").rglob("*.xml"),
                 *(CORPUS / "ans-tddui-cda").glob("*.xml")]:
        root = parse_xml(path.read_bytes())
        for ident in root.iter("{urn:hl7-org:v3}id"):
            if ident.get("root") in ins_roots and re.fullmatch(r"[0-9AB]{15}", ident.get("extension", "")):
                if any(p.rule == "cle" for p in matricule_problems(ident.get("extension"))):
                    wrong.add(ident.get("extension"))
    assert wrong == {d["value"] for d in vectors["official_defects"]}
