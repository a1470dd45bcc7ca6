"""Builds ``fixtures/mss.yaml``: the inbound MSSanté messages the receiving scenarios hand to the DUI.

Run ``python -m tests.support.mss_fixtures`` from the project root after changing what an inbound message must
contain; the messages are rendered with the reference DUI's CDA and message composition (a valid sender), then
edited for each integration case (902 unknown patient, 903 INS absent, 904 traits that differ, 905 traits
missing). ``tests/reference/test_mss_fixtures.py`` checks that each one still says what its description says.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

from lxml import etree

from conformance.reference.cda_documents import Rendering, new_version, render
from conformance.reference.mss_messages import Composition, document_message, read_cda, to_bytes
from conformance.reference.store import Usager
from conformance.simulators.mssante import APPLICATION_MAILBOX

ROOT = Path(__file__).resolve().parents[2]
SENDER = "dr.correspondant@hopital-test.mssante.fr"
THREAD = "<demande-dlu-0001@hopital-test.mssante.fr>"
WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HL7 = "urn:hl7-org:v3"
PAT_TROIS = {"birth_name": "PAT-TROIS", "first_given_name": "DOMINIQUE", "given_names": "DOMINIQUE MARIE-LOUISE",
             "birth_date": "1979-03-28", "sex": "F", "birth_place_cog": "51215"}
PAT_TROIS_INS = ("279035121518989", "1.2.250.1.213.1.4.10")


def _usager(traits: dict[str, str], ins: tuple[str, str] | None) -> Usager:
    return Usager(id="externe-1", local_id="IPP-HOPITAL-4242", ins=ins, insi_retrieved=ins is not None,
                  document_checked=ins is not None, **traits)


def _cda(usager: Usager, drop: tuple[str, ...] = ()) -> bytes:
    document = render(usager, "DLU", new_version("externe", "DLU", None), Rendering(), WHEN)
    if not drop:
        return document
    root = etree.fromstring(document)
    for path in drop:
        for element in root.findall(path, {"hl7": HL7}):
            element.getparent().remove(element)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _message(document: bytes, name: str) -> tuple[str, bytes]:
    header = read_cda(document)
    assert header is not None
    message = document_message(header, document, sender=SENDER, to=APPLICATION_MAILBOX, to_patient=False,
                               reply=None, now=WHEN, how=Composition())
    message_id = f"<{name}.20261120@hopital-test.mssante.fr>"
    message.replace_header("Message-ID", message_id)
    message["References"] = THREAD
    del message["Reply-To"]
    message.replace_header("From", f"Dr Correspondant (Hôpital de test) <{SENDER}>")
    return message_id, to_bytes(message)


CASES: dict[str, tuple[str, Usager, tuple[str, ...]]] = {
    "dlu-pat-trois": ("DLU de PAT-TROIS DOMINIQUE avec son INS qualifié et ses traits exacts : à intégrer",
                      _usager(PAT_TROIS, PAT_TROIS_INS), ()),
    "patient-inconnu": ("DLU d'une personne dont l'INS n'est connu d'aucun DUI de test (INCONNUE CLAIRE) : 902",
                        _usager({"birth_name": "INCONNUE", "first_given_name": "CLAIRE", "given_names": "CLAIRE",
                                 "birth_date": "1955-08-14", "sex": "F", "birth_place_cog": "75112"},
                                ("255087511234542", "1.2.250.1.213.1.4.10")), ()),
    "sans-ins": ("DLU de PAT-TROIS DOMINIQUE identifiée seulement par l'IPP de l'expéditeur, sans INS : 903",
                 _usager(PAT_TROIS, None), ()),
    "ins-discordant": ("DLU portant l'INS de PAT-TROIS DOMINIQUE mais une autre date de naissance (29/03/1979) : 904",
                       _usager({**PAT_TROIS, "birth_date": "1979-03-29"}, PAT_TROIS_INS), ()),
    "ins-incomplet": ("DLU portant l'INS de PAT-TROIS DOMINIQUE sans date de naissance ni premier prénom : 905",
                      _usager(PAT_TROIS, PAT_TROIS_INS),
                      ("hl7:recordTarget/hl7:patientRole/hl7:patient/hl7:birthTime",
                       "hl7:recordTarget/hl7:patientRole/hl7:patient/hl7:name/hl7:given[@qualifier='BR']")),
}


def build() -> str:
    """The text of fixtures/mss.yaml."""
    lines = [
        "# Inbound MSSanté messages the receiving scenarios hand to the DUI ($receive-message), built by",
        "# tests/support/mss_fixtures.py (python -m tests.support.mss_fixtures): do not edit by hand.",
        "# Each is an .eml from a hospital correspondent to the application mailbox of the operator simulator,",
        "# asking for an MDN, carrying an IHE_XDM.zip with a DLU. All identities are fictitious.",
        "mss:",
        f"  correspondant: {SENDER}",
        f"  fil: \"{THREAD}\"",
        "  entrants:",
    ]
    for name, (description, usager, drop) in CASES.items():
        message_id, raw = _message(_cda(usager, drop), name)
        assert BytesParser(policy=policy.default).parsebytes(raw)["Message-ID"] == message_id
        encoded = base64.b64encode(raw).decode("ascii")
        lines += [f"    {name}:", f"      description: \"{description}\"", f"      message_id: \"{message_id}\"",
                  f"      references: [\"{THREAD}\"]", f"      eml_base64: {encoded}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    (ROOT / "fixtures" / "mss.yaml").write_text(build(), encoding="utf-8")
