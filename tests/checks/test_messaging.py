"""Messaging checks: each one fails on the defect it names, with a located French finding, and hostile messages
are judged without a crash."""

import json
from datetime import UTC, datetime

import pytest

from conformance.checks import CheckContext, evaluate
from conformance.checks.messaging import DOCUMENT_CHECKS, MDN_CHECKS, standalone_checks
from conformance.cli import main
from conformance.reference.mss_messages import Composition, Reply, mdn, read_inbound, to_bytes
from conformance.simulators import Received
from tests.support import mss

MAILBOX = "dui@essms-test.mssante.fr"
SESSION = {"kind": "message", "listener": "soumission", "tls": True, "auth": "PLAIN", "auth_identity": MAILBOX,
           "mail_from": MAILBOX, "recipients": mss.CORRESPONDENT}


def received(raw: bytes, **summary) -> CheckContext:
    return CheckContext("SCN-T", "etape", received=Received({**SESSION, **summary}, raw, "message/rfc822"))


def document(raw: bytes) -> CheckContext:
    return CheckContext.of_document(raw, "message/rfc822", "message.eml")


def run(name: str, ctx: CheckContext, **args):
    return evaluate(name, args, ctx)


def failed_rules(name: str, ctx: CheckContext, **args) -> set[str]:
    result = run(name, ctx, **args)
    assert result.status != "error", result.message
    assert all(f.message and f.location for f in result.findings)
    return {f.rule for f in result.findings if f.severity == "error"}


def test_the_reference_message_passes_every_standalone_check():
    raw = mss.message()
    assert standalone_checks(raw) == DOCUMENT_CHECKS
    for name in DOCUMENT_CHECKS:
        result = run(name, document(raw))
        assert result.status == "passed", (name, result.message, result.findings)


@pytest.mark.parametrize(("how", "check", "rule"), [
    ({"message_id": False}, "message_id_valid", "message-id-absent"),
    ({"body_charset": "iso-8859-1"}, "message_utf8", "charset"),
    ({"xdm_subject": False}, "mss_subject_convention", "objet-xdm"),
    ({"codecda": "11488-4"}, "mss_codecda_matches", "codecda"),
    ({"ins_always_o": False, "dsn_request": False}, "mss_receipt_requested", "accuse-return-receipt-to"),
    ({"reply_to": False}, "mss_application_mailbox_identified", "reply-to"),
    ({"xdm_index": False}, "xdm_archive_valid", "xdm-fichier-absent"),
    ({"patient_id_v2": True}, "xdm_patient_id_matches_ins", "patientid-ins"),
    ({"stale_hash": True}, "xdm_hashes_match", "hash"),
    ({"type_code": ("EXPORT_DUI", "1.2.250.1.213.1.1.4.12", "Export")}, "xdm_metadata_matches_cda", "typecode"),
    ({"pdf": False}, "mss_pdf_attached", "pdf-absent"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_each_defect_fails_its_check(how, check, rule):
    assert run(check, document(mss.message())).status == "passed"
    assert rule in failed_rules(check, document(mss.message(**how)))


def test_x_mss_ins_follows_what_the_archive_carries():
    recovered = mss.message(mss.usager(qualified=False))
    assert run("mss_ins_header_consistent", document(recovered)).status == "passed"
    assert failed_rules("mss_ins_header_consistent", document(mss.message(mss.usager(qualified=False),
                                                                           ins_always_o=True))) == {"x-mss-ins"}
    assert run("xdm_patient_id_matches_ins", document(recovered)).status == "passed"


def test_cda_inside_the_archive_is_judged_by_the_cda_checks():
    raw = mss.message(document=mss.cda(legal_signature=False))
    result = run("xdm_cda_valid", document(raw))
    assert result.status == "failed"
    finding = result.findings[0]
    assert finding.location.startswith("IHE_XDM.zip › IHE_XDM/SUBSET01/DOC0001.XML")
    assert "PAT-TROIS DOMINIQUE" in finding.message


def test_patient_mailbox_headers():
    raw = mss.message(to="279035121518989@patient.mssante.fr", to_patient=True)
    assert run("mss_mes_fin", document(raw)).status == "passed"
    assert failed_rules("mss_mes_fin", document(mss.message(to_patient=True, mes_fin=False))) == {"x-mss-mes"}
    ctx = received(raw, recipients="279035121518989@patient.mssante.fr")
    assert run("mss_recipient_is", ctx, address="279035121518989@patient.mssante.fr").status == "passed"
    assert failed_rules("mss_recipient_is", ctx, address="2790351215189@patient.mssante.fr") == {
        "destinataire-enveloppe", "destinataire-to"}


def test_reply_headers():
    reply = Reply("<orig@h.mssante.fr>", ("<fil@h.mssante.fr>",))
    args = {"original_message_id": "<orig@h.mssante.fr>", "original_references": ["<fil@h.mssante.fr>"]}
    assert run("mss_reply_headers", document(mss.message(reply=reply)), **args).status == "passed"
    assert failed_rules("mss_reply_headers", document(mss.message(reply=reply, references=False)), **args) == {
        "references"}
    assert failed_rules("mss_reply_headers", document(mss.message()), **args) == {"in-reply-to", "references"}


def test_session_checks():
    raw = mss.message()
    assert run("smtp_authenticated_as_mailbox", received(raw), mailbox=MAILBOX).status == "passed"
    assert failed_rules("smtp_authenticated_as_mailbox", received(raw, auth="LOGIN"), mailbox=MAILBOX) == {
        "mecanisme-auth"}
    assert failed_rules("smtp_authenticated_as_mailbox", received(raw, mail_from="x@y.fr"), mailbox=MAILBOX) == {
        "expediteur-enveloppe"}
    probe = CheckContext("SCN-T", "sonde", received=Received(
        {"kind": "session", "listener": "sonde", "auth": "PLAIN", "auth_identity": MAILBOX, "secret_in_clear": True,
         "mail_in_clear": True}, b"{}", "application/json"))
    assert failed_rules("smtp_no_cleartext", probe) == {"identifiants-en-clair", "message-en-clair"}
    assert run("smtp_no_cleartext", received(raw)).status == "passed"
    assert run("smtp_no_cleartext", document(raw)).status == "skipped"


ORIGINAL = mss.message()


def _mdn(code: str | None, **how) -> bytes:
    inbound = read_inbound(ORIGINAL)
    inbound.notify_to = mss.CORRESPONDENT
    return to_bytes(mdn(inbound, sender=MAILBOX, code=code, now=datetime(2026, 11, 24, tzinfo=UTC),
                        how=Composition(**how)))


def test_mdn_checks():
    ok, error = _mdn(None), _mdn("904")
    assert standalone_checks(ok) == MDN_CHECKS
    original = read_inbound(ORIGINAL).message_id
    for raw in (ok, error):
        for name in MDN_CHECKS:
            assert run(name, document(raw)).status == "passed", name
        assert run("mdn_valid", document(raw), original_message_id=original).status == "passed"
    assert run("mdn_disposition_is", document(ok), outcome="processed").status == "passed"
    assert run("mdn_disposition_is", document(error), outcome="error", code="904").status == "passed"
    assert failed_rules("mdn_disposition_is", document(error), outcome="error", code="905") == {"disposition-erreur"}
    assert failed_rules("mdn_disposition_is", document(ok), outcome="error", code="902") == {"disposition-erreur"}
    assert failed_rules("mdn_valid", document(_mdn(None, mdn_original_message_id=False))) == {
        "mdn-original-message-id"}
    assert failed_rules("mss_nil_present", document(_mdn("902", nil_on_mdn=False))) == {"x-mss-nil"}
    assert failed_rules("mdn_valid", document(mss.message())) == {"mdn-type"}


def test_error_mdn_subject_must_carry_its_code():
    raw = _mdn("903")
    edited = mss.parse(raw)
    edited.replace_header("Subject", edited["Subject"].replace("[903]", "[902]"))
    assert failed_rules("mss_subject_convention", document(to_bytes(edited))) == {"objet-ko"}


def test_integration_result():
    def answer(body: dict) -> CheckContext:
        return CheckContext.of_document(json.dumps(body).encode(), "application/json", "reponse")

    assert run("mss_integration_result", answer({"integrated": True, "usager_id": "u1"}), integrated=True,
               usager_id="u1").status == "passed"
    assert failed_rules("mss_integration_result", answer({"integrated": True, "usager_id": "u2"}), integrated=True,
                        usager_id="u1") == {"usager"}
    assert failed_rules("mss_integration_result", answer({"integrated": False, "code": "902"}), integrated=False,
                        code="903") == {"code"}
    # integrated by mistake: one finding, not a second « code None » about the error code it could not have
    wrongly = run("mss_integration_result", answer({"integrated": True, "usager_id": "u1"}), integrated=False,
                  code="904")
    assert [f.rule for f in wrongly.findings] == ["integration"]
    refused_without_code = run("mss_integration_result", answer({"integrated": False}), integrated=False, code="904")
    assert [f.message for f in refused_without_code.findings] == ["Code d'erreur d'intégration absent au lieu de 904"]


# --- hostile messages --------------------------------------------------------------------------------------


def hostile_messages() -> dict[str, bytes]:
    raw = mss.message()
    entries = mss.xdm_entries(raw)
    bomb = mss.zip_of({**entries, "IHE_XDM/SUBSET01/DOC0001.XML": b"\0" * (100 * 1024 * 1024)})
    traversal = mss.zip_of({**entries, "../../../../tmp/evil.sh": b"rm -rf /", "/etc/cron.d/x": b"*"})
    nested = mss.zip_of({**entries, "IHE_XDM/SUBSET01/DOC0001.XML": mss.zip_of({"A.XML": b"<a/>"})})
    malformed = raw.replace(b"--===", b"--xxx")  # no part boundary matches the declared one
    charset = raw.replace(b'charset="utf-8"', b'charset="x-mac-klingon"', 1)
    return {
        "zip-bomb": mss.replace_attachment(raw, "IHE_XDM.zip", bomb),
        "path-traversal": mss.replace_attachment(raw, "IHE_XDM.zip", traversal),
        "nested-archive": mss.replace_attachment(raw, "IHE_XDM.zip", nested),
        "not-a-zip": mss.replace_attachment(raw, "IHE_XDM.zip", b"MZ\x90\x00 pas un zip"),
        "malformed-mime": malformed,
        "wrong-charset": charset,
        "garbage": b"\x00\xff" * 1000,
    }


EXPECTED = {"zip-bomb": "entree-trop-volumineuse", "path-traversal": "chemin-remontant",
            "nested-archive": "archive-imbriquee", "not-a-zip": "zip-illisible", "malformed-mime": "mime-mal-forme",
            "wrong-charset": "charset", "garbage": "en-tete-from"}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_hostile_messages_are_judged_without_a_crash(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = hostile_messages()[name]
    results = [run(check, document(raw)) for check in standalone_checks(raw)]
    assert not [r for r in results if r.status == "error"], [(r.check, r.message) for r in results]
    rules = {f.rule for r in results for f in r.findings}
    assert EXPECTED[name] in rules
    assert any(r.status == "failed" for r in results)
    assert list(tmp_path.iterdir()) == []


def test_cli_validate_message(cli, tmp_path):
    good = tmp_path / "bon.eml"
    good.write_bytes(mss.message())
    bad = tmp_path / "sans-pdf.eml"
    bad.write_bytes(mss.message(pdf=False, xdm_index=False))
    assert cli.invoke(main, ["validate", "message", str(good)]).exit_code == 0
    result = cli.invoke(main, ["validate", "message", str(good), str(bad), "--json"])
    assert result.exit_code == 1
    verdicts = {r["item"]: r for r in json.loads(result.output)}
    assert verdicts[str(good)]["valid"] and not verdicts[str(bad)]["valid"]
    assert {f["rule"] for f in verdicts[str(bad)]["findings"]} >= {"pdf-absent", "xdm-fichier-absent"}
    text = cli.invoke(main, ["validate", "message", str(bad)]).output
    assert "non valide" in text and "IHE_XDM.zip › INDEX.HTM" in text


def test_cli_judges_a_50_mb_message_on_its_size(cli, tmp_path):
    huge = tmp_path / "enorme.eml"
    with huge.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024)  # sparse: never read
    result = cli.invoke(main, ["validate", "message", str(huge), "--json"])
    assert result.exit_code == 1
    (verdict,) = json.loads(result.output)
    assert verdict["findings"][0]["rule"] == "message-trop-volumineux"
