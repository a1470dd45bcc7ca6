"""Access checks pass on a correct answer and fail, naming persona, statuses and leaks, on the defect they judge."""

import base64
import json

import pytest

from conformance.checks import CHECKS, CheckContext
from conformance.core.exchange import Exchange, Request, Response
from conformance.core.findings import CheckFailed, CheckSkipped
from conformance.session import load_fixtures

FIXTURES = load_fixtures()
FHIR = [("Content-Type", "application/fhir+json; charset=utf-8")]
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXRlc3Q"
USAGER = FIXTURES["acces"]["usager_temoin"]["traits"]
NOTE = {"resourceType": "DocumentReference", "id": "note-1", "description": "Note témoin soins",
        "category": [{"coding": [{"system": "x", "code": "soins"}]}]}
DENIED = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden",
                                                         "diagnostics": "accès refusé"}]}


def run(check_name, /, status=200, headers=FHIR, body=b"", token=TOKEN, **args):
    if not isinstance(body, bytes):
        body = json.dumps(body, ensure_ascii=False).encode()
    request = Request("GET", "http://x/fhir/Patient/1", [("Authorization", f"Bearer {token}")] if token else [])
    ctx = CheckContext("SCN-T-01", "s", Exchange(request, Response(status, headers, body), 1.0), variables=FIXTURES)
    try:
        return list(CHECKS[check_name](ctx, **args) or [])
    except CheckFailed as exc:
        return exc.findings


def messages(findings):
    return " | ".join(f.message for f in findings)


def denied(status, variant):
    body = json.dumps(NOTE).encode() if status == 200 else b"Internal Server Error"
    ctx = CheckContext("SCN-T-01", "s", Exchange(Request("GET", "http://x/"), Response(status, FHIR, body), 1.0),
                       variables=FIXTURES)
    return list(CHECKS["denied_without_token"](ctx, token=variant))


def test_denied_without_token_names_the_token_and_what_was_served():
    assert denied(401, "expired") == []
    (accepted,) = denied(200, "expired")
    assert accepted.rule == "jeton-accepte" and "jeton expiré" in accepted.message and "note-1" in accepted.message
    (crash,) = denied(500, "malformed")
    assert crash.rule == "statut-refus" and "500" in crash.message and "mal formé" in crash.message


@pytest.mark.parametrize(("decision", "status", "body", "rule"), [
    ("autorise", 403, DENIED, "habilitation-refusee-a-tort"),
    ("refuse", 200, NOTE, "habilitation-ignoree"),
    ("refuse", 500, b"boom", "statut-refus"),
    ("autorise", 200, {**NOTE, "category": [{"coding": [{"code": "social"}]}]}, "categorie-servie"),
    ("autorise", 200, {"resourceType": "Patient", "id": "1"}, "ressource-servie"),
])
def test_habilitation_findings(decision, status, body, rule):
    findings = run("habilitation_respected", status=status, body=body, persona="educateur-specialise",
                   category="soins", action="lecture", decision=decision)
    assert [f.rule for f in findings] == [rule]
    assert "educateur-specialise (Julien FAURE-TEST)" in findings[0].message
    if rule == "habilitation-ignoree":
        assert "données de santé et de soins" in findings[0].message and "Note témoin soins" in findings[0].message


def test_habilitation_respected_passes_on_the_right_answers():
    args = {"persona": "medecin", "category": "soins", "action": "lecture"}
    assert run("habilitation_respected", body=NOTE, decision="autorise", **args) == []
    assert run("habilitation_respected", status=403, body=DENIED, decision="refuse", **args) == []
    assert run("habilitation_respected", status=201, body=NOTE, persona="medecin", category="soins",
               action="ecriture", decision="autorise") == []
    assert run("habilitation_respected", body={"resourceType": "Patient"}, persona="medecin", category="identite",
               action="lecture", decision="autorise", resource="Patient") == []
    with pytest.raises(ValueError, match="décision"):
        run("habilitation_respected", body=NOTE, decision="peut-etre", **args)


def test_refusal_leaks_nothing_finds_names_encoded_values_tokens_and_resource_headers():
    leaky = {**DENIED, "issue": [{"severity": "error", "code": "forbidden",
                                  "diagnostics": "refus : VERIFACCES OCTAVIE, note \u00ab Note secr\u00e8te \u00bb"}]}
    findings = run("refusal_leaks_nothing", status=403, body=leaky, usager=USAGER, values=["Note secrète"])
    assert {f.actual for f in findings} == {"VERIFACCES", "OCTAVIE", "Note secrète"}
    encoded = base64.b64encode("Note secrète de soins".encode()).decode()
    (b64,) = run("refusal_leaks_nothing", status=403, body={"data": encoded}, values=["Note secrète de soins"])
    assert b64.rule == "donnee-divulguee"
    echoed = run("refusal_leaks_nothing", status=401, body={"diagnostics": f"jeton reçu : {TOKEN}"})
    assert [f.rule for f in echoed] == ["jeton-renvoye"]
    assert TOKEN not in json.dumps([f.model_dump() for f in echoed])  # the finding never repeats the token
    headers = [*FHIR, ("ETag", 'W/"1"'), ("Content-Location", "/fhir/DocumentReference/1"), ("X-Nom", "VERIFACCES")]
    rules = sorted(f.rule for f in run("refusal_leaks_nothing", status=403, headers=headers, body=DENIED,
                                       usager=USAGER))
    assert rules == ["donnee-divulguee", "en-tete-ressource", "en-tete-ressource"]


def test_refusal_leaks_nothing_judges_only_refusals():
    assert run("refusal_leaks_nothing", status=200, body={"family": "VERIFACCES"}, usager=USAGER) == []
    assert run("refusal_leaks_nothing", status=403, body=DENIED, usager=USAGER, values=["Note"]) == []


def test_notes_stored_as_decided():
    listed = {"usager_id": "u", "notes": [{"id": "n", "category": "soins", "text": "Écrit"}]}
    assert run("notes_stored_as_decided", body=listed, persona="medecin", category="soins", decision="autorise",
               text="Écrit") == []
    (stored,) = run("notes_stored_as_decided", body=listed, persona="secretaire", category="soins",
                    decision="refuse", text="Écrit")
    assert stored.rule == "ecriture-enregistree" and "enregistrée malgré tout" in stored.message


def test_isolation_checks():
    (idor,) = run("other_establishment_refused", body=NOTE, persona="medecin", what="la note")
    assert idor.rule == "acces-autre-etablissement" and "autre établissement" in idor.message
    assert run("other_establishment_refused", status=404, body=DENIED, persona="medecin", what="la note") == []
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {**NOTE, "subject": {"reference": "http://x/fhir/Patient/u-9"}}},
        {"resource": {**NOTE, "id": "note-2", "subject": {"reference": "Patient/u-1"}}}]}
    (leak,) = run("search_excludes_usager", body=bundle, persona="medecin", usager_id="u-9")
    assert leak.actual == ["entry[0] DocumentReference/note-1"]
    assert run("search_excludes_usager", body=bundle, persona="medecin", usager_id="u-3") == []
    assert run("search_finds", body=bundle, persona="medecin", resource="DocumentReference/note-2") == []
    assert run("search_finds", body=bundle, persona="medecin", resource="DocumentReference/note-3")


def test_break_glass_checks_skip_where_the_dui_does_not_offer_it():
    with pytest.raises(CheckSkipped, match="ne propose pas"):
        run("break_glass_granted", status=403, body=DENIED, persona="medecin")
    assert run("break_glass_granted", body=NOTE, persona="medecin") == []
    (granted,) = run("break_glass_refused", body=NOTE, persona="aide-soignant")
    assert granted.rule == "bris-de-glace-non-habilite"


def test_every_access_check_docstring_is_french_and_one_line():
    module_checks = [n for n, fn in CHECKS.items() if fn.__module__ == "conformance.checks.access"]
    assert len(module_checks) >= 10
    for name in module_checks:
        doc = CHECKS[name].__doc__ or ""
        assert doc and "\n" not in doc.strip() and doc.strip().endswith(".")
