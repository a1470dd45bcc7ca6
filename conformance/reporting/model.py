"""The conformity report, built from events alone: the same code serves a live run and ``report render``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from conformance.core.findings import Finding
from conformance.core.outcomes import CheckStatus, Level, Verdict, roll_up
from conformance.core.results import CheckResult, EvidenceRef, StepResult
from conformance.engine.events import (
    Event,
    RequirementInfo,
    RunFinished,
    RunStarted,
    ScenarioFinished,
    ScenarioInfo,
    ScenarioStarted,
    StepFinished,
)

SCHEMA_VERSION = "1.0"
INTERRUPTED_REASON = "exécution interrompue avant la fin du scénario"
NOT_RUN_REASON = "exécution interrompue avant ce scénario"


class LocatedFinding(Finding):
    """A finding with the scenario, step and evidence that show it."""

    scenario_id: str
    step_id: str
    evidence: list[str] = Field(default_factory=list)


class RequirementReport(RequirementInfo):
    """One requirement's verdict with its findings and evidence."""

    verdict: Verdict
    reason: str | None = None
    #: a PRECONISATION that is not met: reported, but it does not make the run non conforme
    warning: bool = False
    findings: list[LocatedFinding] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    scenarios: list[str] = Field(default_factory=list)


class ScenarioReport(ScenarioInfo):
    """One scenario as played."""

    status: CheckStatus | None = None
    duration_ms: float | None = None
    started: bool = False
    finished: bool = False
    step_results: list[StepResult] = Field(default_factory=list)


class ThemeSummary(BaseModel):
    """Counts of verdicts in one theme."""

    theme: str
    section: str
    counts: dict[str, int]


class RunInfo(BaseModel):
    """What was run, against what, when."""

    run_id: str
    tool_version: str
    suite_version: str
    catalogue_version: str
    target: dict[str, Any]
    faults: list[str]
    seed: int
    lang: str
    selection: dict[str, list[str]]
    simulators: dict[str, dict[str, str]]
    #: validation kits pinned for the run (name, path, sha256 of the manifest, workarounds)
    kits: list[dict[str, Any]] = Field(default_factory=list)
    started_at: float
    finished_at: float | None = None
    duration_ms: float | None = None
    complete: bool = False
    interrupted: bool = False
    error: str | None = None


class Report(BaseModel):
    """The content of ``report.json`` (contract: ``schemas/report.schema.json``)."""

    schema_version: str = SCHEMA_VERSION
    run: RunInfo
    verdict: Verdict
    summary: dict[str, int]
    themes: list[ThemeSummary]
    requirements: list[RequirementReport]
    scenarios: list[ScenarioReport]
    evidence: list[EvidenceRef]

    def requirement(self, req_id: str) -> RequirementReport:
        """The entry of one requirement."""
        return next(r for r in self.requirements if r.id == req_id)


class ReportBuilder:
    """Consumes events; ``build()`` gives the report at any moment, partial or complete."""

    def __init__(self) -> None:
        self.started: RunStarted | None = None
        self.finished: RunFinished | None = None
        self.scenarios: dict[str, ScenarioReport] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
            self.scenarios = {s.id: ScenarioReport(**s.model_dump()) for s in event.scenarios}
        elif isinstance(event, ScenarioStarted):
            self.scenarios[event.scenario_id].started = True
        elif isinstance(event, StepFinished):
            self.scenarios[event.scenario_id].step_results.append(event.result)
        elif isinstance(event, ScenarioFinished):
            scenario = self.scenarios[event.scenario_id]
            scenario.status, scenario.duration_ms, scenario.finished = event.status, event.duration_ms, True
        elif isinstance(event, RunFinished):
            self.finished = event

    def feed(self, events: Iterable[Event]) -> ReportBuilder:
        """Consume many events."""
        for event in events:
            self(event)
        return self

    def build(self) -> Report:
        """The report as the events so far allow."""
        if self.started is None:
            raise ValueError("no run-started event: nothing to report")
        started, finished = self.started, self.finished
        results = self._results()
        requirements = [self._requirement(info, results.get(info.id, [])) for info in started.requirements]
        selected = [r for r in requirements if r.not_selected is None]
        run = RunInfo(
            run_id=started.run_id, tool_version=started.tool_version, suite_version=started.suite_version,
            catalogue_version=started.catalogue_version, target=started.target, faults=started.faults,
            seed=started.seed, lang=started.lang, selection=started.selection, simulators=started.simulators,
            kits=started.kits, started_at=started.at,
            finished_at=finished.at if finished else None, duration_ms=finished.duration_ms if finished else None,
            complete=finished is not None and not finished.interrupted,
            interrupted=finished is None or finished.interrupted, error=finished.error if finished else None,
        )
        return Report(
            run=run, verdict=overall_verdict(selected), summary=_counts(requirements),
            themes=[
                ThemeSummary(theme=theme, section=next(r.section for r in requirements if r.theme == theme),
                             counts=_counts(r for r in requirements if r.theme == theme))
                for theme in dict.fromkeys(r.theme for r in requirements)
            ],
            requirements=requirements, scenarios=list(self.scenarios.values()),
            evidence=[e for s in self.scenarios.values() for step in s.step_results for e in step.evidence],
        )

    def _results(self) -> dict[str, list[tuple[ScenarioReport, StepResult | None, CheckResult]]]:
        """Every check result by requirement, with a synthetic skip for scenarios the run did not finish."""
        by_req: dict[str, list[tuple[ScenarioReport, StepResult | None, CheckResult]]] = {}
        for scenario in self.scenarios.values():
            for step in scenario.step_results:
                for result in step.checks:
                    for req in result.requirements:
                        by_req.setdefault(req, []).append((scenario, step, result))
            if not scenario.finished:
                reason = INTERRUPTED_REASON if scenario.started else NOT_RUN_REASON
                cut = CheckResult(check="exécution", status=CheckStatus.SKIPPED,
                                  requirements=scenario.requirements, message=reason)
                for req in scenario.requirements:
                    by_req.setdefault(req, []).append((scenario, None, cut))
        return by_req

    def _requirement(
        self, info: RequirementInfo, results: list[tuple[ScenarioReport, StepResult | None, CheckResult]]
    ) -> RequirementReport:
        report = RequirementReport(**info.model_dump(), verdict=Verdict.NON_TESTE)
        report.scenarios = list(dict.fromkeys(s.id for s, _, _ in results))
        if info.not_selected is not None:
            report.reason = info.not_selected
            return report
        verdict = roll_up(r.status for _, _, r in results)
        report.verdict = verdict or Verdict.NON_TESTE
        for scenario, step, result in results:
            refs = [e.id for e in step.evidence] if step else []
            report.evidence += [e for e in refs if e not in report.evidence]
            report.findings += [
                LocatedFinding(**f.model_dump(), scenario_id=scenario.id, step_id=step.step_id if step else "",
                               evidence=refs)
                for f in result.findings
            ]
            if result.status is CheckStatus.ERROR and result.message:
                report.errors.append(f"{scenario.id} / {step.step_id if step else '-'} : {result.message}")
        if verdict is None:
            report.reason = "aucune vérification exécutée"
        elif verdict is Verdict.NON_TESTE:
            report.reason = next(r.message for _, _, r in results if r.status is CheckStatus.SKIPPED and r.message)
        elif verdict is Verdict.ERREUR:
            report.reason = report.errors[0] if report.errors else None
        report.warning = verdict is Verdict.NON_CONFORME and info.level == Level.PRECONISATION
        return report


def overall_verdict(requirements: Iterable[RequirementReport]) -> Verdict:
    """Run verdict: non conforme if an EXIGENCE fails; else erreur if any errored; else conforme if any passed."""
    verdicts = {r.verdict for r in requirements if not r.warning}
    for verdict in (Verdict.NON_CONFORME, Verdict.ERREUR, Verdict.CONFORME):
        if verdict in verdicts:
            return verdict
    return Verdict.NON_TESTE


def _counts(requirements: Iterable[RequirementReport]) -> dict[str, int]:
    counter = Counter(r.verdict.value for r in requirements)
    return {v.value: counter.get(v.value, 0) for v in Verdict}
