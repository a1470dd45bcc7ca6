"""fixtures/mss.yaml: each inbound message still says what its description says (rebuilt by
``python -m tests.support.mss_fixtures``)."""

import base64

import pytest
import yaml

from conformance.core.resources import data_path
from conformance.validation import mime, xdm

FIXTURES = yaml.safe_load(data_path("fixtures", "mss.yaml").read_text(encoding="utf-8"))["mss"]
PAT_TROIS_INS = ("279035121518989", "1.2.250.1.213.1.4.10")


def facts(name: str) -> tuple[mime.ParsedMessage, xdm.CdaFacts]:
    parsed = mime.parse_message(base64.b64decode(FIXTURES["entrants"][name]["eml_base64"], validate=True))
    part = parsed.find_filename(xdm.ARCHIVE_NAME)
    archive = xdm.read_zip(part.payload())
    found = xdm.cda_facts(archive.entries["IHE_XDM/SUBSET01/DOC0001.XML"])
    assert found is not None and not archive.findings
    return parsed, found


@pytest.mark.parametrize("name", list(FIXTURES["entrants"]))
def test_each_inbound_message_is_addressed_to_the_dui_and_asks_for_an_mdn(name):
    parsed, _ = facts(name)
    assert parsed.header("Message-ID") == FIXTURES["entrants"][name]["message_id"]
    assert mime.addresses(parsed.header("Disposition-Notification-To")) == [FIXTURES["correspondant"]]
    assert mime.addresses(parsed.header("To")) == ["dui@essms-test.mssante.fr"]
    assert mime.msg_ids(parsed.header("References")) == FIXTURES["entrants"][name]["references"]


def test_each_case_carries_the_identity_its_code_needs():
    _, ok = facts("dlu-pat-trois")
    assert ok.ins == PAT_TROIS_INS and ok.qualified_ins and ok.traits["birth_date"] == "19790328"
    _, unknown = facts("patient-inconnu")
    assert unknown.ins is not None and unknown.ins[0] != PAT_TROIS_INS[0] and unknown.qualified_ins
    _, absent = facts("sans-ins")
    assert absent.ins is None and absent.other_ids
    _, mismatch = facts("ins-discordant")
    assert mismatch.ins == PAT_TROIS_INS and mismatch.traits["birth_date"] == "19790329"
    _, incomplete = facts("ins-incomplet")
    assert incomplete.ins == PAT_TROIS_INS and not incomplete.traits["birth_date"]
    assert not incomplete.traits["first_given_name"]
