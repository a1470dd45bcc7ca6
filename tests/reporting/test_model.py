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
