"""Runner behaviour that no reference fault shows: manual steps, simulators, broken chains, harness errors."""

import asyncio
from pathlib import Path

import pytest

from conformance.checks import CHECKS, check
from conformance.core.exchange import Exchange, Request, Response
from conformance.core.outcomes import CheckStatus, Verdict
from conformance.engine.runner import GIVE_UP_AFTER, _response_defects
from conformance.reporting.model import ReportBuilder
from conformance.session import RunOptions, Session, Suite, load_suite
from conformance.simulators import SIMULATORS, Received, Simulator, simulator
from tests.support.runs import play
from tests.support.servers import unused_port


def suite_from(tmp_path: Path, text: str) -> Suite:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return load_suite([path])


MANUAL = """\
id: SCN-HTTP-91
title: Démonstration
requirements: [DUI-HTTP-02]
steps:
  - id: montrer
    manual: {instructions: "Montrez l'écran d'identité", timeout: 5}
"""


def test_manual_step_is_not_tested_without_interaction(tmp_path):
    report = play(suite_from(tmp_path, MANUAL))
    req = report.requirement("DUI-HTTP-02")
    assert req.verdict is Verdict.NON_TESTE
    assert "mode non interactif" in req.reason


@pytest.mark.parametrize(("answer", "verdict"), [("o", Verdict.CONFORME), ("n", Verdict.NON_CONFORME),
                                                 (None, Verdict.NON_TESTE)])
def test_manual_step_uses_the_assessor_attestation(tmp_path, answer, verdict):
    asked = []

    async def prompt(text, timeout):
        asked.append(text)
        return answer

    report = play(suite_from(tmp_path, MANUAL), prompt=prompt)
    assert report.requirement("DUI-HTTP-02").verdict is verdict
    assert "Montrez l'écran d'identité" in asked[0]


def test_manual_driver_operation_skips_dependent_steps(tmp_path):
    text = """\
id: SCN-HTTP-92
title: Création à la main
requirements: [DUI-HTTP-06]
steps:
  - id: creer
    driver: {operation: create-usager, body: {traits: "${identities.martin-jean.traits}"}}
    captures: {usager_id: {json: "$.id"}}
  - id: lire
    fhir: {read: Patient, id: "${usager_id}"}
    checks: [{status_code_in: {codes: [200]}}]
"""
    report = play(suite_from(tmp_path, text), manual_operations=frozenset({"create-usager"}))
    req = report.requirement("DUI-HTTP-06")
    assert req.verdict is Verdict.NON_TESTE, req
    steps = report.scenarios[0].step_results
    assert [s.status for s in steps] == [CheckStatus.SKIPPED, CheckStatus.SKIPPED]
    assert "non aboutie" in steps[1].message


class _Inbound(Simulator):
    name = "test-inbox"

    async def start(self):
        # Arrives once the run is under way, as a DUI's message would.
        item = Received({"kind": "message", "to": "a@b"}, b'{"ok": true}', "application/json", {"ok": True})
        asyncio.get_running_loop().call_later(0.05, self.inbox.put, item)


@check
def received_ok(ctx):
    """Test check on what a simulator received."""
    if not ctx.received.content.get("ok"):
        yield from ()


@pytest.fixture
def test_simulator():
    simulator(_Inbound)
    yield
    SIMULATORS.remove("test-inbox")


def test_await_step_receives_and_times_out(tmp_path, test_simulator):
    text = """\
id: SCN-HTTP-93
title: Réception
requirements: [DUI-HTTP-02, DUI-HTTP-03]
steps:
  - id: recu
    await: {simulator: test-inbox, match: {to: "a@b"}, timeout: 10}
    checks:
      - check: received_ok
        requirements: [DUI-HTTP-02]
  - id: jamais
    await: {simulator: test-inbox, match: {to: "z@b"}, timeout: 0.2}
"""
    report = play(suite_from(tmp_path, text))
    steps = report.scenarios[0].step_results
    assert steps[0].status is CheckStatus.PASSED
    assert steps[0].evidence[0].kind == "test-inbox"
    assert steps[1].checks[0].findings[0].rule == "rien-recu"
    assert report.requirement("DUI-HTTP-03").verdict is Verdict.NON_CONFORME


def test_a_crashing_check_is_a_harness_error_not_a_vendor_defect(tmp_path):
    @check
    def exploding_check(ctx):
        """Test check that has a bug."""
        raise ZeroDivisionError("boom")

    try:
        text = MANUAL.replace("manual: {instructions: \"Montrez l'écran d'identité\", timeout: 5}",
                              "fhir: {capabilities: true}\n    checks: [exploding_check]")
        report = play(suite_from(tmp_path, text))
    finally:
        CHECKS.remove("exploding_check")
    req = report.requirement("DUI-HTTP-02")
    assert req.verdict is Verdict.ERREUR
    assert req.reason.endswith("la vérification « exploding_check » n'a pas pu aboutir : erreur interne de l'outil "
                               "de test (détail technique : ZeroDivisionError: boom)")


def test_request_stop_interrupts_the_run(suite):
    builder = ReportBuilder()
    session = Session(suite, RunOptions(seed=1), None)

    def stop_after_first(event):
        builder(event)
        if event.type == "scenario-finished":
            session.runner.request_stop()

    asyncio.run(session.run([stop_after_first]))
    report = builder.build()
    assert report.run.interrupted
    assert [s.finished for s in report.scenarios].count(True) == 1
    assert {r.reason for r in report.requirements if r.verdict is Verdict.NON_TESTE} == {
        "exécution interrompue avant ce scénario"}


def test_generated_examples_replay_exactly_from_the_seed(suite):
    def failing_example(seed):
        report = play(suite, faults=("apostrophe-stripped",), requirements=("DUI-INS-20",), seed=seed)
        (finding, *_) = report.requirement("DUI-INS-20").findings
        return finding.message

    first = failing_example(11)
    assert "exemple généré en échec (graine 11)" in first and "'" in first.split(" : ", 2)[-1]
    assert failing_example(11) == first


def test_generate_step_passes_on_the_reference(suite):
    report = play(suite, requirements=("DUI-INS-20",), seed=3)
    (step,) = report.scenarios[0].step_results
    assert report.requirement("DUI-INS-20").verdict is Verdict.CONFORME
    assert step.message.startswith("25 exemple(s) générés")


def test_a_silent_target_is_given_up_after_five_exchanges_in_a_row(tmp_path):
    for n in range(1, 8):
        (tmp_path / f"s{n}.yaml").write_text(
            f"id: SCN-HTTP-9{n}\ntitle: Lecture {n}\nrequirements: [DUI-HTTP-02]\nsteps:\n"
            f"  - id: lire\n    fhir: {{capabilities: true}}\n", encoding="utf-8")
    target = f"http://127.0.0.1:{unused_port()}"
    report = play(load_suite([tmp_path]), target=target)
    steps = [step for scenario in report.scenarios for step in scenario.step_results]
    assert [s.status for s in steps] == [CheckStatus.ERROR] * 7
    assert all("connexion impossible" in s.message for s in steps[:GIVE_UP_AFTER])
    assert all(s.evidence for s in steps[:GIVE_UP_AFTER])
    given_up = steps[GIVE_UP_AFTER:]
    assert all("n'a répondu à aucun des 5 derniers échanges" in s.message and "connexion impossible" in s.message
               and not s.evidence for s in given_up)


def test_an_answer_resets_the_count_of_silent_exchanges(tmp_path):
    # Four failed reads, one answered request, four failed reads again: never five failures in a row.
    steps = ["fhir: {capabilities: true}"] * 4 + [
        'driver: {operation: create-usager, body: {traits: "${identities.martin-jean.traits}"}}'] + [
        "fhir: {capabilities: true}"] * 4
    for n, action in enumerate(steps, start=1):
        (tmp_path / f"s{n}.yaml").write_text(
            f"id: SCN-HTTP-9{n}\ntitle: Étape {n}\nrequirements: [DUI-HTTP-02]\nsteps:\n  - id: agir\n    {action}\n",
            encoding="utf-8")
    report = play(load_suite([tmp_path]), faults=("metadata-connection-reset",))
    played = [step for scenario in report.scenarios for step in scenario.step_results]
    assert [s.status for s in played] == [CheckStatus.ERROR] * 4 + [CheckStatus.PASSED] + [CheckStatus.ERROR] * 4
    assert all(s.evidence and "derniers échanges" not in (s.message or "") for s in played)


@pytest.mark.parametrize(("status", "location", "rules"), [
    (302, "http://elsewhere.example/fhir/metadata", ["redirection"]),
    (307, "/fhir/metadata", ["redirection"]),
    (304, None, []),  # the answer to a conditional read, not a redirect
    (200, None, []),
])
def test_redirects_are_findings_whatever_the_step_expects(status, location, rules):
    headers = [("Location", location)] if location else []
    exchange = Exchange(Request("GET", "http://dui.example/fhir/metadata"), Response(status, headers), 1.0)
    findings = _response_defects(exchange, 1024)
    assert [f.rule for f in findings] == rules
    if status == 302:
        assert "vers un autre hôte" in findings[0].message


def test_a_body_cut_at_the_cap_is_a_finding():
    exchange = Exchange(Request("GET", "http://dui.example/fhir/metadata"),
                        Response(200, [("Content-Encoding", "gzip")], b"x" * 1024, truncated=True), 1.0)
    [finding] = _response_defects(exchange, 1024)
    assert finding.rule == "reponse-trop-volumineuse"
    assert "une fois décompressé (gzip) la limite de 1024 octets" in finding.message


# --- a driver operation the DUI refuses: its cause said once, and where later steps fail -----------------------

DIAGNOSTICS = "base de données indisponible"


@pytest.fixture
def refusing_operations(monkeypatch):
    """The reference DUI, answering 500 with an OperationOutcome to the driver operations named by the test."""
    from starlette.responses import JSONResponse

    import conformance.reference

    refused: set[str] = set()
    original = conformance.reference.create_app

    def create_app(faults, services):
        app = original(faults, services)

        @app.middleware("http")
        async def refuse(request, call_next):
            if any(request.url.path.endswith(f"${op}") for op in refused):
                return JSONResponse({"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "exception", "diagnostics": DIAGNOSTICS}]}, status_code=500)
            return await call_next(request)

        return app

    monkeypatch.setattr(conformance.reference, "create_app", create_app)
    return refused


CREATE = ('  - id: creer\n    driver: {operation: create-usager, body: {traits: "${identities.martin-jean.traits}"}}\n'
          '    captures: {usager_id: {json: "$.id"}}\n')


def test_a_refused_operation_is_quoted_where_a_later_step_fails(tmp_path, test_simulator, refusing_operations):
    refusing_operations.add("insi-lookup")
    text = ("id: SCN-HTTP-94\ntitle: Refus\nrequirements: [DUI-HTTP-02]\nsteps:\n" + CREATE
            + '  - id: insi\n    driver: {operation: insi-lookup, body: {usager_id: "${usager_id}"}}\n'
              '  - id: jamais\n    await: {simulator: test-inbox, match: {to: "z@b"}, timeout: 0.2}\n')
    report = play(suite_from(tmp_path, text))
    steps = {s.step_id: s for s in report.scenarios[0].step_results}
    # the refused step fails nothing by itself (a scenario may expect a refusal): what fails later says why
    assert steps["insi"].status is CheckStatus.PASSED
    (finding,) = report.requirement("DUI-HTTP-02").findings
    assert finding.rule == "rien-recu"
    assert ("l'étape « insi » a reçu un refus du DUI à l'opération « insi-lookup » : statut HTTP 500, "
            f"OperationOutcome : « {DIAGNOSTICS} »") in finding.message


def test_checks_of_a_refused_operation_say_the_refusal_once(tmp_path, refusing_operations):
    refusing_operations.add("produce-document")
    text = ("id: SCN-CDA-91\ntitle: Refus\nrequirements: [DUI-CDA-01, DUI-CDA-03, DUI-HTTP-02]\nsteps:\n" + CREATE
            + '  - id: dlu\n    driver: {operation: produce-document, body: {usager_id: "${usager_id}", type: DLU}}\n'
              "    checks:\n      - {check: cda_well_formed, requirements: [DUI-CDA-01]}\n"
              "      - {check: cda_realm_and_type_valid, requirements: [DUI-CDA-03]}\n"
              "      - {check: status_code_in, args: {codes: [200]}, requirements: [DUI-HTTP-02]}\n")
    report = play(suite_from(tmp_path, text))
    for req in ("DUI-CDA-01", "DUI-CDA-03"):
        (finding,) = report.requirement(req).findings
        assert finding.rule == "pilotage-refuse" and finding.actual == 500
        assert (f"Le DUI a refusé l'opération de pilotage « produce-document » (statut HTTP 500, OperationOutcome : "
                f"« {DIAGNOSTICS} »)") in finding.message
    # a finding about the status judges the refusal itself: it stays as the check said it
    (status,) = report.requirement("DUI-HTTP-02").findings
    assert (status.rule, status.actual) == ("statut", 500)


def test_a_missing_capture_quotes_the_answer_and_the_skipped_steps_say_it(tmp_path, refusing_operations):
    refusing_operations.add("create-usager")
    text = ("id: SCN-HTTP-95\ntitle: Refus\nrequirements: [DUI-HTTP-02, DUI-HTTP-06]\nsteps:\n" + CREATE
            + '  - id: lire\n    fhir: {read: Patient, id: "${usager_id}"}\n'
              "    checks: [{status_code_in: {codes: [200]}}]\n")
    report = play(suite_from(tmp_path, text))
    _, lire = report.scenarios[0].step_results
    (finding,) = report.requirement("DUI-HTTP-06").findings
    assert finding.rule == "capture-absente"
    assert f"La réponse (statut HTTP 500, OperationOutcome : « {DIAGNOSTICS} ») ne contient pas" in finding.message
    assert lire.status is CheckStatus.SKIPPED
    assert f"étape précédente « creer » non aboutie : capture absente : usager_id (réponse du DUI : statut HTTP " \
           f"500, OperationOutcome : « {DIAGNOSTICS} »)" == lire.message


def test_a_capture_is_not_a_second_finding_when_a_check_of_the_step_failed(tmp_path, refusing_operations):
    refusing_operations.add("create-usager")
    text = ("id: SCN-HTTP-96\ntitle: Refus\nrequirements: [DUI-HTTP-06]\nsteps:\n" + CREATE
            + "    checks: [{status_code_in: {codes: [201]}}]\n")
    report = play(suite_from(tmp_path, text))
    assert [f.rule for f in report.requirement("DUI-HTTP-06").findings] == ["statut"]


@pytest.mark.parametrize(("body", "said"), [
    (b'{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", '
     b'"details": {"text": "date invalide"}}, {"code": "processing"}]}',
     "statut HTTP 422, OperationOutcome : « date invalide ; processing »"),
    (b"", "statut HTTP 422, corps vide"),
    (b"<html>Erreur</html>", "statut HTTP 422, sans OperationOutcome (corps : « <html>Erreur</html> »)"),
    (b'{"resourceType": "OperationOutcome", "issue": [{"diagnostics": "' + b"x" * 400 + b'"}]}',
     "statut HTTP 422, OperationOutcome : « " + "x" * 300 + "… »"),
])
def test_answer_of_quotes_the_operation_outcome(body, said):
    from conformance.checks import answer_of

    assert answer_of(Response(422, [("Content-Type", "application/fhir+json")], body)) == said
