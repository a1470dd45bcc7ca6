import json

import pytest

from conformance.validation.valuesets import ValueSet, bundled_files, from_svs, load, main
from tests.conftest import CORPUS

JDV = CORPUS / "ans-testcontenucda-3.0" / "jeuxDeValeurs"


def test_a_bundled_set_answers_membership_by_system_and_code():
    facility = load("JDV_J02_XdsHealthcareFacilityTypeCode_CISIS")
    assert facility.contains("SA16", "1.2.250.1.71.4.2.4")
    assert not facility.contains("SA16", "1.2.250.1.213.1.6.1.8")  # the right code under another system
    assert not facility.contains("SA99", "1.2.250.1.71.4.2.4")
    assert facility.display("SA16", "1.2.250.1.71.4.2.4")
    assert facility.oid and facility.source_sha256


def test_an_unknown_set_is_named_in_the_error():
    with pytest.raises(KeyError, match="JDV_NOPE"):
        load("JDV_NOPE")


@pytest.mark.parametrize("path", bundled_files(), ids=lambda p: p.stem)
def test_bundled_set_says_what_the_official_file_says(path):
    bundled = ValueSet.from_json(json.loads(path.read_text(encoding="utf-8")))
    official = JDV / bundled.source_file
    if not official.is_file():
        pytest.skip(f"fichier officiel absent : {official}")
    assert from_svs(official) == bundled


def test_extraction_writes_the_bundled_form(tmp_path):
    official = JDV / "JDV_J07_XdsTypeCode_CISIS.xml"
    if not official.is_file():
        pytest.skip(f"fichier officiel absent : {official}")
    assert main([str(official), "--out", str(tmp_path)]) == 0
    written = ValueSet.from_json(json.loads((tmp_path / "JDV_J07_XdsTypeCode_CISIS.json").read_text("utf-8")))
    assert written.contains("EXPORT_DUI", "1.2.250.1.213.1.1.4.12")
    assert written.source_file == official.name
