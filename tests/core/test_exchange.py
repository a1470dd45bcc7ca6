from conformance.core.exchange import Exchange, Request, Response


def test_evidence_redacts_credentials_and_secret_values():
    exchange = Exchange(
        Request("GET", "https://dui/fhir/Patient?token=s3cr3t-token", [("Authorization", "Bearer s3cr3t-token")]),
        Response(200, [("Set-Cookie", "sid=1"), ("X-Echo", "s3cr3t-token")], b'{"echo": "s3cr3t-token"}'),
        1.0,
    )
    evidence = exchange.to_evidence(secrets=["s3cr3t-token"])
    assert "s3cr3t-token" not in str(evidence)
    assert evidence["request"]["headers"] == [["Authorization", "[masqué]"]]
    assert evidence["response"]["json"] == {"echo": "[masqué]"}


def test_binary_body_is_kept_as_base64():
    exchange = Exchange(Request("GET", "http://x/"), Response(200, [], b"\xff\xfe\x00"), 1.0)
    assert exchange.to_evidence()["response"]["body_base64"] == "//4A"


def test_charset_and_media_type():
    response = Response(200, [("Content-Type", 'application/fhir+json; charset="ISO-8859-1"')])
    assert (response.media_type, response.charset) == ("application/fhir+json", "iso-8859-1")
