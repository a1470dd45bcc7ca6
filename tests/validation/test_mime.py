"""MIME reading: within caps, every defect a located finding, never an exception."""

import pytest

from conformance.validation import mime
from tests.support import mss


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


def simple(headers: str, body: bytes = b"Bonjour\r\n") -> bytes:
    return headers.replace("\n", "\r\n").encode("utf-8") + b"\r\n" + body


GOOD_HEAD = ("From: DUI <dui@essms-test.mssante.fr>\nTo: dr@medecin.mssante.fr\n"
             "Date: Tue, 24 Nov 2026 10:00:00 +0000\nMessage-ID: <abc@essms-test.mssante.fr>\nMIME-Version: 1.0\n"
             "Subject: =?utf-8?q?Comptes_rendus_=C3=A9t=C3=A9?=\n")


def test_reference_message_is_clean_and_parts_are_numbered_like_imap():
    parsed = mime.parse_message(mss.message())
    assert parsed.readable and not parsed.findings
    assert [(p.path, p.media_type) for p in parsed.parts] == [
        ("", "multipart/mixed"), ("1", "text/plain"), ("2", "application/zip"), ("3", "application/pdf")]
    assert parsed.find_filename("ihe_xdm.zip").label == "partie MIME 2 (application/zip « IHE_XDM.zip »)"
    assert not list(mime.structure_findings(parsed)) and not list(mime.utf8_findings(parsed))
    assert not list(mime.message_id_findings(parsed))
    assert mime.body_part(parsed).path == "1"


def test_oversized_and_empty_messages_are_refused_before_parsing():
    big = mime.parse_message(b"x" * 101, max_bytes=100)
    assert not big.readable and rules(big.findings) == {"message-trop-volumineux"}
    assert rules(mime.parse_message(b" \r\n").findings) == {"message-vide"}


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    ("text/plain; charset=iso-8859-1", "Équipe".encode("latin-1"), {"charset"}),
    ("text/plain; charset=x-inconnu", b"abc", {"charset"}),
    ("text/plain; charset=utf-8", b"caf\xe9", {"octets-non-utf8"}),
    ("text/plain", "été".encode(), {"charset-absent"}),
    ("text/plain; charset=utf-8", "été".encode(), set()),
], ids=["latin1", "unknown", "bad-bytes", "undeclared", "utf8"])
def test_text_charsets(content_type, body, expected):
    raw = simple(GOOD_HEAD + f"Content-Type: {content_type}\nContent-Transfer-Encoding: 8bit\n", body)
    assert rules(mime.utf8_findings(mime.parse_message(raw))) == expected


def test_headers_encoded_in_another_charset_or_raw_latin1_are_findings():
    latin = simple(GOOD_HEAD.replace("utf-8?q?Comptes", "iso-8859-1?q?Comptes") + "Content-Type: text/plain\n")
    assert rules(mime.utf8_findings(mime.parse_message(latin))) == {"en-tete-charset"}
    raw_bytes = simple(GOOD_HEAD + "Content-Type: text/plain\n").replace(
        b"Subject:", b"X-Nom: H\xe9l\xe8ne\r\nSubject:")
    assert "en-tete-octets" in rules(mime.utf8_findings(mime.parse_message(raw_bytes)))


def test_malformed_mime_is_reported_with_the_part():
    raw = simple(GOOD_HEAD + 'Content-Type: multipart/mixed; boundary="b1"\n',
                 b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nvu\r\n"
                 b"--b1\r\nContent-Type: application/zip\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\n%%%pas du base64\r\n")  # no closing boundary
    parsed = mime.parse_message(raw)
    assert parsed.readable
    found = [f for f in mime.structure_findings(parsed) if f.rule == "mime-mal-forme"]
    assert found and all(f.location for f in found)
    assert any("Boundary" in f.actual or "Base64" in f.actual for f in found)
    assert parsed.parts[2].payload() is not None  # undecodable content does not raise


def test_missing_headers_and_body():
    raw = simple("Content-Type: application/pdf\n", b"%PDF-1.4")
    assert rules(mime.structure_findings(mime.parse_message(raw))) >= {
        "mime-version", "en-tete-date", "en-tete-from", "en-tete-to", "corps-absent"}


@pytest.mark.parametrize(("header", "rule"), [
    (None, "message-id-absent"), ("abc@def", "message-id-forme"), ("<sans-arobase>", "message-id-forme")])
def test_message_id_forms(header, rule):
    head = GOOD_HEAD.replace("Message-ID: <abc@essms-test.mssante.fr>\n", f"Message-ID: {header}\n" if header else "")
    assert rules(mime.message_id_findings(mime.parse_message(simple(head + "Content-Type: text/plain\n")))) == {rule}


def test_part_count_and_depth_are_capped():
    nested = b"".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n".encode() for i in range(30))
    raw = simple(GOOD_HEAD + "Content-Type: multipart/mixed; boundary=b0\n", nested)
    parsed = mime.parse_message(raw, max_depth=5)
    assert "imbrication-mime" in rules(parsed.findings)
    assert len(parsed.parts) <= 7
    many = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(50)) + b"--b--\r\n"
    capped = mime.parse_message(simple(GOOD_HEAD + "Content-Type: multipart/mixed; boundary=b\n", many), max_parts=10)
    # counted on the bytes, before the email package builds a single part
    assert rules(capped.findings) == {"trop-de-parties"} and not capped.readable and capped.parts == []
    assert "51 parties" in capped.findings[0].message
    quoted = mime.parse_message(simple(GOOD_HEAD + 'Content-Type: multipart/mixed; boundary="b"\n', many), max_parts=50)
    assert rules(quoted.findings) == {"trop-de-parties"}
    within = mime.parse_message(simple(GOOD_HEAD + "Content-Type: multipart/mixed; boundary=b\n", many), max_parts=51)
    assert "trop-de-parties" not in rules(within.findings) and len(within.parts) == 51


def test_addresses_and_msg_ids():
    assert mime.addresses('"Dr X" <X@Medecin.mssante.fr>, y@z.fr') == ["x@medecin.mssante.fr", "y@z.fr"]
    assert mime.msg_ids(" <a@b>\r\n <c@d> ") == ["<a@b>", "<c@d>"]
    assert mime.describe(mime.parse_message(mss.message()))["content_type"] == "multipart/mixed"


def test_lines_longer_than_998_characters():
    raw = simple(GOOD_HEAD + "Content-Type: text/plain; charset=utf-8\n", b"a" * 999 + b"\r\n")
    assert "ligne-trop-longue" in rules(mime.structure_findings(mime.parse_message(raw)))
    ok = simple(GOOD_HEAD + "Content-Type: text/plain; charset=utf-8\n", b"a" * 998 + b"\r\n")
    assert "ligne-trop-longue" not in rules(mime.structure_findings(mime.parse_message(ok)))


def test_thousands_of_declared_boundaries_are_counted_in_one_pass():
    # Counted once per boundary, this 3.5 MB message took minutes; it must read like any text message.
    text = b"".join(b"boundary=b%d\r\n" % i for i in range(200_000))
    parsed = mime.parse_message(simple(GOOD_HEAD + "Content-Type: text/plain; charset=utf-8\n", text))
    assert "trop-de-parties" not in rules(parsed.findings) and len(parsed.parts) == 1
