"""Through the CLI, as an assessor reads them: findings in French, one cause said once.

Library messages (zipfile's « Bad CRC-32 », libxml2's « Start tag expected », pydantic's « Value error ») are
turned into French sentences; an unreadable document is not reported again as « aucun CDA » by the other checks.
"""

import json
import zipfile

import pytest

from conformance.cli import main
from tests.support import mss

#: what libraries say in English: none of it may reach an assessor except as a parenthesised technical detail
ENGLISH = ("Bad CRC", "Start tag expected", "Value error", "Expecting", "tag mismatch", "Input should",
           "is not a zip file", "not expected")


def findings_of(cli, *args: str) -> list[dict]:
    result = cli.invoke(main, ["validate", *args, "--json"])
    assert result.exit_code == 1, result.output
    (item,) = json.loads(result.output)
    return item["findings"]


def assert_french(findings: list[dict]) -> None:
    for finding in findings:
        said = finding["message"].split("(détail technique")[0]
        assert not [word for word in ENGLISH if word in said], finding


def _with_xdm(raw: bytes, edit) -> bytes:
    entries = mss.xdm_entries(raw)
    archive = bytearray(mss.zip_of(entries, zipfile.ZIP_STORED))
    edit(archive)
    return mss.replace_attachment(raw, "IHE_XDM.zip", bytes(archive))


def test_a_damaged_cda_entry_is_one_french_finding_not_aucun_cda(cli, tmp_path):
    def damage(archive: bytearray) -> None:
        archive[archive.index(b"<ClinicalDocument") + 5] ^= 0x20

    path = tmp_path / "message.eml"
    path.write_bytes(_with_xdm(mss.message(), damage))
    findings = findings_of(cli, "message", str(path))
    assert [f["rule"] for f in findings] == ["entree-illisible"], findings
    assert findings[0]["message"] == ("L'entrée « IHE_XDM/SUBSET01/DOC0001.XML » ne peut pas être lue : somme de "
                                      "contrôle CRC-32 fausse : le contenu de l'entrée est altéré")


def test_a_cda_refused_by_the_safe_parser_is_not_reported_absent(cli, tmp_path):
    hostile = mss.cda().replace(b"<ClinicalDocument", b'<!DOCTYPE d [<!ENTITY x "y">]>\n<ClinicalDocument', 1)
    path = tmp_path / "message.eml"
    path.write_bytes(mss.message(document=hostile))
    findings = findings_of(cli, "message", str(path))
    assert_french(findings)
    assert not [f for f in findings if "aucun CDA" in f["message"]], findings
    (refused,) = findings
    assert refused["rule"] == "cda_well_formed:xml-dtd" and "le document déclare une DTD" in refused["message"]


def test_a_malformed_cda_is_said_in_french_with_its_position(cli, tmp_path):
    path = tmp_path / "dlu.xml"
    path.write_bytes(b"<ClinicalDocument xmlns='urn:hl7-org:v3'>\n  <title>DLU</titre>\n</ClinicalDocument>")
    (finding,) = findings_of(cli, "cda", str(path))
    assert finding["message"] == ("Document refusé : XML mal formé ligne 2, colonne 21 : la balise fermante </titre> "
                                  "ne ferme pas l'élément <title> ouvert ligne 2")


@pytest.mark.parametrize(("body", "said"), [
    ('{"resourceType": "Patient", "birthDate": "1990-13-45"}',
     "Patient.birthDate : la valeur ne respecte pas le format FHIR du type Date"),
    ('{"resourceType": "Patient", "deceasedBoolean": true, "deceasedDateTime": "2020"}',
     "un seul des éléments ['deceasedBoolean', 'deceasedDateTime'] est permis"),
    ('{"resourceType": "Patient",}', "JSON mal formé ligne 1, colonne 28 : un nom de propriété entre guillemets"),
])
def test_fhir_structure_errors_are_said_in_french(cli, tmp_path, body, said):
    path = tmp_path / "patient.json"
    path.write_text(body, encoding="utf-8")
    findings = findings_of(cli, "fhir", str(path))
    assert_french(findings)
    assert any(said in f["message"] for f in findings), findings
