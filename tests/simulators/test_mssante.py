"""The MSSanté operator simulator speaks real SMTP: STARTTLS from a run-time CA, AUTH PLAIN and XOAUTH2, a size
cap, and it records every message and session (credentials never kept)."""

import asyncio
import base64
import json
import shutil
import smtplib
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conformance.simulators.mssante import (
    APPLICATION_MAILBOX,
    PERSONAL_MAILBOXES,
    MssanteOperator,
    xoauth2_payload,
)
from tests.support import mss

SWAKS = shutil.which("swaks")
PERSONAL = next(iter(PERSONAL_MAILBOXES))


def simple_message(sender: str = APPLICATION_MAILBOX, to: str = mss.CORRESPONDENT) -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: essai\r\nMessage-ID: <essai@essms-test.mssante.fr>\r\n"
            "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nBonjour\r\n").encode()


def with_simulator(client, *, sessions: int = 1, **options):
    """Start a simulator, run ``client(sim, endpoints, credentials)`` in a thread, stop, return what it gave."""

    async def go():
        sim = MssanteOperator(**options)
        await sim.start()
        try:
            endpoints = sim.endpoints()
            credentials = json.loads(Path(endpoints["credentials_file"]).read_text(encoding="utf-8"))
            result = await asyncio.to_thread(client, sim, endpoints, credentials)
            if sessions:
                # Sessions are recorded when the server sees the connection close.
                await sim.inbox.wait_for(lambda r: r.summary["kind"] == "session", 5)
        finally:
            await sim.stop()
        return result, sim

    return asyncio.run(go())


def tls(endpoints) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=endpoints["ca_file"])


def kinds(sim) -> list[str]:
    return [item.summary["kind"] for item in sim.inbox.items]


def test_starttls_and_auth_plain_deliver_a_message():
    def client(sim, endpoints, credentials):
        with smtplib.SMTP(endpoints["host"], int(endpoints["port"]), timeout=10) as smtp:
            smtp.starttls(context=tls(endpoints))
            smtp.login(credentials["login"], credentials["password"])
            return smtp.sendmail(APPLICATION_MAILBOX, [mss.CORRESPONDENT], simple_message())

    refused, sim = with_simulator(client)
    assert refused == {}
    message, session = sim.inbox.items
    assert message.summary | {"message_id": None} == message.summary | {
        "kind": "message", "listener": "soumission", "tls": True, "auth": "PLAIN", "auth_identity": APPLICATION_MAILBOX,
        "mail_from": APPLICATION_MAILBOX, "recipient": mss.CORRESPONDENT, "message_id": None}
    assert message.payload == simple_message() and message.media_type == "message/rfc822"
    assert session.content.tls_version in ("TLSv1.2", "TLSv1.3")
    assert not session.summary["secret_in_clear"]


def test_endpoints_hold_no_secret_and_files_are_removed_at_stop():
    def client(sim, endpoints, credentials):
        return endpoints, credentials

    (endpoints, credentials), _ = with_simulator(client, sessions=0)
    assert credentials["password"] not in json.dumps(endpoints)
    assert endpoints["mailbox"] == APPLICATION_MAILBOX and endpoints["probe"] != endpoints["submission"]
    assert not Path(endpoints["ca_file"]).exists() and not Path(endpoints["credentials_file"]).exists()


def test_nothing_but_starttls_before_tls_and_no_mail_before_auth():
    def client(sim, endpoints, credentials):
        codes = []
        blob = base64.b64encode(f"\0{credentials['login']}\0{credentials['password']}".encode()).decode()
        with smtplib.SMTP(endpoints["host"], int(endpoints["port"]), timeout=10) as smtp:
            smtp.ehlo()
            codes.append(smtp.docmd("AUTH", "PLAIN " + blob)[0])
            codes.append(smtp.docmd("MAIL", f"FROM:<{APPLICATION_MAILBOX}>")[0])
            smtp.starttls(context=tls(endpoints))
            smtp.ehlo()
            codes.append(smtp.docmd("MAIL", f"FROM:<{APPLICATION_MAILBOX}>")[0])
            smtp.user, smtp.password = credentials["login"], "mauvais"
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.auth("PLAIN", smtp.auth_plain)
        return codes, blob

    (codes, blob), sim = with_simulator(client)
    assert codes == [530, 530, 530]
    (session,) = [i for i in sim.inbox.items if i.summary["kind"] == "session"]
    assert session.summary["secret_in_clear"] and not session.summary["mail_in_clear"]
    transcript = session.payload.decode()
    assert "[masqué]" in transcript and "mauvais" not in transcript and blob not in transcript


def token(claims: dict, alg: str = "RS256") -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(("claims", "alg", "accepted"), [
    ({"preferred_username": PERSONAL_MAILBOXES[PERSONAL], "exp": time.time() + 600}, "RS256", True),
    ({"preferred_username": PERSONAL_MAILBOXES[PERSONAL], "exp": time.time() - 10}, "RS256", False),
    ({"preferred_username": "899999999999", "exp": time.time() + 600}, "RS256", False),
    ({"preferred_username": PERSONAL_MAILBOXES[PERSONAL], "exp": time.time() + 600}, "none", False),
], ids=["valid", "expired", "other-person", "unsigned"])
def test_xoauth2_with_a_pro_sante_connect_token(claims, alg, accepted):
    def client(sim, endpoints, credentials):
        with smtplib.SMTP(endpoints["host"], int(endpoints["port"]), timeout=10) as smtp:
            smtp.starttls(context=tls(endpoints))
            smtp.ehlo()
            code, _ = smtp.docmd("AUTH", "XOAUTH2 " + xoauth2_payload(PERSONAL, token(claims, alg)))
            if code == 235:
                smtp.sendmail(PERSONAL, [mss.CORRESPONDENT], simple_message(PERSONAL))
            return code

    code, sim = with_simulator(client)
    assert code == (235 if accepted else 535)
    assert ("message" in kinds(sim)) == accepted
    session = next(i for i in sim.inbox.items if i.summary["kind"] == "session")
    assert session.summary["auth"] == "XOAUTH2" and session.content.token_unverified


def test_a_configured_verifier_decides():
    def client(sim, endpoints, credentials):
        with smtplib.SMTP(endpoints["host"], int(endpoints["port"]), timeout=10) as smtp:
            smtp.starttls(context=tls(endpoints))
            smtp.ehlo()
            return smtp.docmd("AUTH", "XOAUTH2 " + xoauth2_payload(PERSONAL, "jeton-opaque"))[0]

    code, _ = with_simulator(client, token_verifier=lambda t: {"SubjectNameID": PERSONAL_MAILBOXES[PERSONAL]}
                             if t == "jeton-opaque" else None)
    assert code == 235


def test_a_message_over_the_size_cap_is_refused_and_not_kept():
    def client(sim, endpoints, credentials):
        with smtplib.SMTP(endpoints["host"], int(endpoints["port"]), timeout=30) as smtp:
            smtp.starttls(context=tls(endpoints))
            smtp.login(credentials["login"], credentials["password"])
            smtp.esmtp_features.pop("size", None)  # a client that ignores SIZE and sends anyway
            big = simple_message() + (b"A" * 998 + b"\r\n") * (3 * 1024 * 1024 // 1000)
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail(APPLICATION_MAILBOX, [mss.CORRESPONDENT], big)
            return refused.value.smtp_code

    code, sim = with_simulator(client, max_message_bytes=1024 * 1024)
    assert code == 552
    assert "message" not in kinds(sim)
    session = next(i for i in sim.inbox.items if i.summary["kind"] == "session")
    assert any(r.startswith("552") for r in session.content.refusals)


def test_the_probe_offers_no_starttls_and_records_what_it_was_given():
    def client(sim, endpoints, credentials):
        host, port = endpoints["probe"].split(":")
        with smtplib.SMTP(host, int(port), timeout=10) as smtp:
            smtp.ehlo()
            assert not smtp.has_extn("starttls")
            smtp.login(credentials["login"], credentials["password"])
            smtp.sendmail(APPLICATION_MAILBOX, [mss.CORRESPONDENT], simple_message())
        return credentials["password"]

    password, sim = with_simulator(client)
    session = next(i for i in sim.inbox.items if i.summary["kind"] == "session")
    assert session.summary | {"listener": "sonde", "tls": False, "secret_in_clear": True, "mail_in_clear": True} == \
        session.summary
    assert password.encode() not in session.payload


@pytest.mark.skipif(SWAKS is None, reason="swaks absent (apt-get install swaks) : test du client SMTP réel non joué")
def test_swaks_sends_through_starttls_and_auth_and_the_message_is_judged(tmp_path):
    eml = tmp_path / "dlu.eml"
    eml.write_bytes(mss.message())

    def client(sim, endpoints, credentials):
        return subprocess.run(
            [SWAKS, "--server", endpoints["host"], "--port", endpoints["port"], "--tls", "--tls-verify",
             "--tls-ca-path", endpoints["ca_file"], "--tls-sni", "localhost", "--auth", "PLAIN",
             "--auth-user", credentials["login"], "--auth-password", credentials["password"],
             "--from", APPLICATION_MAILBOX, "--to", mss.CORRESPONDENT, "--data", f"@{eml}", "--suppress-data"],
            capture_output=True, text=True, timeout=60, check=False)

    done, sim = with_simulator(client)
    assert done.returncode == 0, done.stdout + done.stderr
    (message,) = [i for i in sim.inbox.items if i.summary["kind"] == "message"]
    assert message.summary["tls"] and message.summary["auth"] == "PLAIN"
    from conformance.checks import CheckContext, evaluate
    from conformance.checks.messaging import DOCUMENT_CHECKS

    ctx = CheckContext("SCN-T", "swaks", received=message)
    results = {name: evaluate(name, {}, ctx).status for name in DOCUMENT_CHECKS}
    results["smtp_authenticated_as_mailbox"] = evaluate("smtp_authenticated_as_mailbox",
                                                        {"mailbox": APPLICATION_MAILBOX}, ctx).status
    assert set(results.values()) == {"passed"}, results


@pytest.mark.parametrize(("variant", "accepted"), [(None, True), ("expired", False), ("bad-signature", False),
                                                   ("alg-none", False), ("wrong-issuer", False)],
                         ids=["valid", "expired", "bad-signature", "alg-none", "wrong-issuer"])
def test_xoauth2_verified_by_the_pro_sante_connect_simulator(variant, accepted):
    from conformance.simulators.psc import PscSimulator

    psc = PscSimulator()
    bearer = psc.token_for("medecin", variant)  # the persona whose SubjectNameID owns the personal mailbox

    def client(sim, endpoints, credentials):
        with smtplib.SMTP(endpoints["host"], int(endpoints["port"]), timeout=10) as smtp:
            smtp.starttls(context=tls(endpoints))
            smtp.ehlo()
            return smtp.docmd("AUTH", "XOAUTH2 " + xoauth2_payload(PERSONAL, bearer))[0]

    code, sim = with_simulator(client, token_verifier=psc.verify)
    assert code == (235 if accepted else 535)
    session = next(i for i in sim.inbox.items if i.summary["kind"] == "session")
    assert not session.content.token_unverified and bearer.encode() not in session.payload
