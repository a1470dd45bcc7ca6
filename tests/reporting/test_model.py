"""The run roll-up and the scope scenario-level outputs judge with, on hand-made results."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.core.outcomes import CheckStatus, RunVerdict, Verdict
from conformance.core.results import CheckResult
from conformance.reporting.model import RequirementReport, RunInfo, VerdictScope, coverage, run_verdict


def requirement(req_id: str, verdict: Verdict, level: str = "EXIGENCE", **extra: Any) -> RequirementReport:
    return RequirementReport(id=req_id, theme="HTTP", section="s", profile="p", title="t", text="x", level=level,
                             criticality="Majeure", source="src", verdict=verdict, **extra)


def run_info(**extra: Any) -> RunInfo:
    fields: dict[str, Any] = {"run_id": "r", "tool_version": "0", "suite_version": "0", "catalogue_version": "0",
                              "target": {}, "faults": [], "seed": 1, "lang": "fr", "selection": {},
                              "simulators": {}, "started_at": 0.0, "complete": True}
    return RunInfo(**{**fields, **extra})


UNSELECTED = "non sélectionnée pour cette exécution"
OK, KO, ERR, NT = Verdict.CONFORME, Verdict.NON_CONFORME, Verdict.ERREUR, Verdict.NON_TESTE


@pytest.mark.parametrize(("verdicts", "run", "expected"), [
    ([OK, OK], {}, RunVerdict.CONFORME),
    ([OK, (NT, UNSELECTED)], {}, RunVerdict.INCOMPLET),
    ([OK, NT], {}, RunVerdict.INCOMPLET),  # a manual step left unplayed
    ([OK, OK], {"interrupted": True}, RunVerdict.INCOMPLET),
    ([OK, OK], {"error": "boom"}, RunVerdict.ERREUR),
    ([KO, ERR], {}, RunVerdict.NON_CONFORME),
    ([ERR, OK], {}, RunVerdict.ERREUR),
    ([NT, (NT, UNSELECTED)], {}, RunVerdict.NON_TESTE),
], ids=["complete", "not-selected", "skipped", "interrupted", "harness-crash", "failure-wins", "error", "nothing"])
def test_run_verdict(verdicts, run, expected):
    reqs = []
    for number, entry in enumerate(verdicts, 1):
        verdict, not_selected = entry if isinstance(entry, tuple) else (entry, None)
        reqs.append(requirement(f"DUI-HTTP-0{number}", verdict, not_selected=not_selected))
    assert run_verdict(reqs, run_info(**run)) is expected


def test_unmet_preconisation_leaves_the_run_conforme_and_untested_ones_do_not_make_it_incomplete():
    reqs = [requirement("DUI-HTTP-01", Verdict.CONFORME),
            requirement("DUI-HTTP-08", Verdict.NON_CONFORME, level="PRECONISATION", warning=True),
            requirement("DUI-HTTP-09", Verdict.NON_TESTE, level="PRECONISATION")]
    assert run_verdict(reqs, run_info()) is RunVerdict.CONFORME
    cov = coverage(reqs)
    assert (cov.requirements, cov.tested, cov.exigences, cov.exigences_tested, cov.complete) == (3, 2, 1, 1, True)


def result(status: CheckStatus, *requirements: str) -> CheckResult:
    return CheckResult(check="c", status=status, requirements=list(requirements))


def test_scope_counts_selected_requirements_and_warns_for_preconisations_alone():
    scope = VerdictScope(selected=frozenset({"E1", "P1"}), preconisations=frozenset({"P1", "P2"}))
    assert scope.status([result(CheckStatus.FAILED, "P1"), result(CheckStatus.PASSED, "E1")]) is CheckStatus.PASSED
    assert scope.warned([result(CheckStatus.FAILED, "P1")])
    # bound to an EXIGENCE as well: a failure
    assert scope.status([result(CheckStatus.FAILED, "P1", "E1")]) is CheckStatus.FAILED
    assert not scope.warned([result(CheckStatus.FAILED, "P1", "E1")])
    # bound only to requirements outside the selection: does not count either way
    assert scope.status([result(CheckStatus.FAILED, "E9"), result(CheckStatus.ERROR, "P2")]) is CheckStatus.PASSED
    assert not scope.warned([result(CheckStatus.FAILED, "P2")])
    assert scope.status([result(CheckStatus.ERROR, "P1")]) is CheckStatus.ERROR


def test_text_reports_label_the_projects_own_reading():
    from conformance.core.findings import Finding
    from conformance.reporting.i18n import finding_text

    plain = Finding(rule="r", message="Invariant non respecté")
    assert finding_text(plain) == "Invariant non respecté"
    reading = plain.model_copy(update={"project_reading": True, "source": "TDDUI IG 2.0"})
    assert finding_text(reading) == "Invariant non respecté [lecture du projet\u00a0; source\u00a0: TDDUI IG 2.0]"
    assert finding_text(reading, "en") == "Invariant non respecté [project's reading; source: TDDUI IG 2.0]"


def test_one_observation_seen_by_two_checks_of_a_step_is_one_finding_of_the_requirement():
    from conformance.core.findings import Finding
    from conformance.core.results import StepResult
    from conformance.engine.events import (
        RequirementInfo,
        RunFinished,
        RunStarted,
        ScenarioFinished,
        ScenarioInfo,
        ScenarioStarted,
        StepFinished,
    )
    from conformance.reporting.model import ReportBuilder

    info = RequirementInfo(id="DUI-CDA-01", theme="CDA", section="s", profile="p", title="t", text="x",
                           level="EXIGENCE", criticality="Majeure", source="src")
    seen = Finding(rule="document-illisible", message="Le document CDA ne peut pas être lu", location="document")
    checks = [CheckResult(check=name, status=CheckStatus.FAILED, requirements=["DUI-CDA-01"], findings=[seen])
              for name in ("cda_well_formed", "cda_header_valid")]
    other = seen.model_copy(update={"message": "Autre constat"})
    checks.append(CheckResult(check="cda_x", status=CheckStatus.FAILED, requirements=["DUI-CDA-01"],
                              findings=[other]))
    builder = ReportBuilder().feed([
        RunStarted(run_id="r", tool_version="0", suite_version="0", catalogue_version="0", target={}, seed=1,
                   requirements=[info], scenarios=[ScenarioInfo(id="SCN-CDA-01", title="t", theme="CDA",
                                                                requirements=["DUI-CDA-01"], file="f", steps=1)]),
        ScenarioStarted(scenario_id="SCN-CDA-01"),
        StepFinished(scenario_id="SCN-CDA-01", result=StepResult(step_id="dlu", title="t", kind="driver",
                                                                 status=CheckStatus.FAILED, checks=checks)),
        ScenarioFinished(scenario_id="SCN-CDA-01", status=CheckStatus.FAILED, duration_ms=1.0),
        RunFinished(duration_ms=1.0),
    ])
    report = builder.build()
    assert [f.message for f in report.requirement("DUI-CDA-01").findings] == [
        "Le document CDA ne peut pas être lu", "Autre constat"]
    assert report.verdict is RunVerdict.NON_CONFORME and report.coverage.complete
