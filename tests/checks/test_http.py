"""Each HTTP check passes on a correct response and fails, with a French finding, on the defect it names."""

import json

import pytest

from conformance.checks import CHECKS, CheckContext
from conformance.core.exchange import Exchange, Request, Response
from conformance.core.findings import CheckFailed, CheckSkipped

FHIR = [("Content-Type", "application/fhir+json; charset=utf-8")]
OO = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
CAPS = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "format": ["json"], "rest": [{"mode": "server"}]}


def run(check_name, /, status=200, headers=FHIR, body=b"", **args):
    if not isinstance(body, bytes):
        body = json.dumps(body, ensure_ascii=False).encode()
    ctx = CheckContext("SCN-T-01", "s", Exchange(Request("GET", "http://x/"), Response(status, headers, body), 1.0))
    try:
        return list(CHECKS[check_name](ctx, **args) or [])
    except CheckFailed as exc:
        return exc.findings


CASES = [
    # (check, args, good response, bad response, expected rule)
    ("status_code_in", {"codes": [200]}, {"status": 200}, {"status": 404}, "statut"),
    ("no_server_error", {}, {"status": 400}, {"status": 503}, "erreur-serveur"),
    ("refused", {"what": "le matricule X"}, {"status": 422}, {"status": 201}, "non-refuse"),
    ("content_type_is", {"media_type": "application/fhir+json"}, {}, {"headers": [("Content-Type", "text/html")]},
     "content-type"),
    ("body_utf8", {}, {"body": "é".encode()}, {"body": "é".encode("latin-1")}, "octets-non-utf8"),
    ("resource_type_is", {"type": "Patient"}, {"body": {"resourceType": "Patient"}},
     {"body": {"resourceType": "Bundle"}}, "resourceType"),
    ("operation_outcome_valid", {}, {"body": OO},
     {"body": b"<html>404</html>", "headers": [("Content-Type", "text/html")]}, "operationoutcome-absent"),
    ("json_value_equals", {"path": "$.name[0].family", "value": "LEFÈVRE"},
     {"body": {"name": [{"family": "LEFÈVRE"}]}}, {"body": {"name": [{"family": "LEFEVRE"}]}}, "valeur"),
    ("header_present", {"name": "Location"}, {"headers": [("Location", "/x")]}, {"headers": []}, "en-tete-absent"),
    ("capability_statement_valid", {}, {"body": CAPS}, {"body": {**CAPS, "fhirVersion": "5.0.0"}}, "fhirVersion"),
    ("driver_capabilities_valid", {}, {"body": {"driverVersion": "1.2.0", "operations": []}},
     {"body": {"driverVersion": "2.0.0", "operations": []}}, "driver-version"),
    ("version_metadata_present", {}, {"body": {"meta": {"versionId": "3", "lastUpdated": "2026-01-01"}},
                                      "headers": [*FHIR, ("ETag", 'W/"3"')]},
     {"body": {"meta": {"versionId": "3", "lastUpdated": "2026-01-01"}}, "headers": [*FHIR, ("ETag", 'W/"2"')]},
     "etag"),
]


@pytest.mark.parametrize(("name", "args", "good", "bad", "rule"), CASES, ids=[c[0] for c in CASES])
def test_check_passes_then_catches_defect(name, args, good, bad, rule):
    assert run(name, **good, **args) == []
    findings = run(name, **bad, **args)
    assert rule in [f.rule for f in findings]
    assert all(f.message and f.severity == "error" for f in findings)


def test_every_builtin_check_is_covered():
    import conformance.checks.http as http

    http_checks = {n for n, fn in CHECKS.items() if fn.__module__ == http.__name__}
    assert http_checks == {c[0] for c in CASES}


def test_invalid_json_is_a_finding_not_a_crash():
    findings = run("resource_type_is", body=b"{not json", type="Patient")
    assert [f.rule for f in findings] == ["json-invalide"]


def test_deeply_nested_json_is_a_finding():
    findings = run("resource_type_is", body=b"[" * 100_000 + b"]" * 100_000, type="Patient")
    assert [f.rule for f in findings] == ["json-invalide"]


def test_declared_charset_is_honoured_so_only_body_utf8_reports_it():
    resource = {"resourceType": "Patient", "name": [{"family": "LEFÈVRE"}]}
    body = json.dumps(resource, ensure_ascii=False).encode("latin-1")
    latin = [("Content-Type", "application/fhir+json; charset=ISO-8859-1")]
    assert run("json_value_equals", headers=latin, body=body, path="$.name[0].family", value="LEFÈVRE") == []
    assert {f.rule for f in run("body_utf8", headers=latin, body=body)} == {"charset", "octets-non-utf8"}


def test_check_without_response_is_skipped():
    with pytest.raises(CheckSkipped):
        list(CHECKS["status_code_in"](CheckContext("SCN-T-01", "s"), codes=[200]))
