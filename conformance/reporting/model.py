"""The conformity report, built from events alone: the same code serves a live run and ``report render``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, computed_field

from conformance.core.findings import Finding
from conformance.core.outcomes import CheckStatus, Level, RunVerdict, Verdict, roll_up
from conformance.core.results import CheckResult, EvidenceRef, StepResult, worst_status
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

#: 2.0: the run verdict may be « incomplet », and ``coverage`` says how much of the catalogue was tested
SCHEMA_VERSION = "2.0"
INTERRUPTED_REASON = "exécution interrompue avant la fin du scénario"
#: verdicts that report an observation of the DUI: the requirement was tested
TESTED = frozenset({Verdict.CONFORME, Verdict.NON_CONFORME})
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

    #: the worst status of its checks, as the runner saw them
    status: CheckStatus | None = None
    #: the status that counts for the run (see VerdictScope): None until the scenario finished
    outcome: CheckStatus | None = None
    #: a check failed for PRECONISATIONs only: reported, but the scenario does not fail
    warning: bool = False
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
    #: the run reached its end (not interrupted); says nothing of how much of the catalogue it tested
    complete: bool = False
    interrupted: bool = False
    error: str | None = None
    #: asked to fail when EXIGENCEs were left untested (``--require-complete``)
    require_complete: bool = False


class Coverage(BaseModel):
    """How much of the requirement catalogue the run tested (conforme or non conforme: an observation)."""

    requirements: int
    tested: int
    exigences: int
    exigences_tested: int
    #: the EXIGENCEs of the catalogue not tested (non testé or erreur), in catalogue order
    untested_exigences: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def complete(self) -> bool:
        """Every EXIGENCE of the catalogue was tested."""
        return not self.untested_exigences


class Report(BaseModel):
    """The content of ``report.json`` (contract: ``schemas/report.schema.json``)."""

    schema_version: str = SCHEMA_VERSION
    run: RunInfo
    verdict: RunVerdict
    coverage: Coverage
    summary: dict[str, int]
    themes: list[ThemeSummary]
    requirements: list[RequirementReport]
    scenarios: list[ScenarioReport]
    evidence: list[EvidenceRef]

    def requirement(self, req_id: str) -> RequirementReport:
        """The entry of one requirement."""
        return next(r for r in self.requirements if r.id == req_id)

    @property
    def scope(self) -> VerdictScope:
        """Which requirements count for this run's verdicts."""
        return VerdictScope.of(self.requirements)


@dataclass(frozen=True)
class VerdictScope:
    """Which check results count for a run, and which of them only warn: the requirement roll-up, per scenario.

    A result counts for the requirements it is bound to that the run selected; a failure bound to PRECONISATIONs
    only is a warning, as for the requirements themselves. Scenario-level outputs (JUnit, Allure, the pytest plugin)
    judge with this, so they agree with the verdicts and the exit code.
    """

    selected: frozenset[str]
    preconisations: frozenset[str]

    @classmethod
    def of(cls, requirements: Iterable[RequirementInfo]) -> VerdictScope:
        """The scope of a run from its requirements."""
        listed = list(requirements)
        return cls(frozenset(r.id for r in listed if r.not_selected is None),
                   frozenset(r.id for r in listed if r.level == Level.PRECONISATION))

    def status(self, checks: Iterable[CheckResult]) -> CheckStatus:
        """Worst status of the results that count; a failure of PRECONISATIONs only counts as passed."""
        return worst_status(CheckStatus.PASSED if self._warns(result) else result.status for result in checks
                            if self.selected.intersection(result.requirements))

    def warned(self, checks: Iterable[CheckResult]) -> bool:
        """True when a result failed for selected PRECONISATIONs only."""
        return any(self._warns(result) for result in checks)

    def _warns(self, result: CheckResult) -> bool:
        bound = self.selected.intersection(result.requirements)
        return result.status is CheckStatus.FAILED and bool(bound) and bound <= self.preconisations


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
        run = RunInfo(
            run_id=started.run_id, tool_version=started.tool_version, suite_version=started.suite_version,
            catalogue_version=started.catalogue_version, target=started.target, faults=started.faults,
            seed=started.seed, lang=started.lang, selection=started.selection, simulators=started.simulators,
            kits=started.kits, started_at=started.at,
            finished_at=finished.at if finished else None, duration_ms=finished.duration_ms if finished else None,
            complete=finished is not None and not finished.interrupted,
            interrupted=finished is None or finished.interrupted, error=finished.error if finished else None,
            require_complete=started.require_complete,
        )
        scope = VerdictScope.of(requirements)
        scenarios = []
        for scenario in self.scenarios.values():
            checks = [c for step in scenario.step_results for c in step.checks]
            scenarios.append(scenario.model_copy(update={
                "outcome": scope.status(checks) if scenario.finished else None, "warning": scope.warned(checks)}))
        return Report(
            run=run, verdict=run_verdict(requirements, run), coverage=coverage(requirements),
            summary=_counts(requirements),
            themes=[
                ThemeSummary(theme=theme, section=next(r.section for r in requirements if r.theme == theme),
                             counts=_counts(r for r in requirements if r.theme == theme))
                for theme in dict.fromkeys(r.theme for r in requirements)
            ],
            requirements=requirements, scenarios=scenarios,
            evidence=[e for s in scenarios for step in s.step_results for e in step.evidence],
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
        said: set[tuple[str, ...]] = set()
        for scenario, step, result in results:
            refs = [e.id for e in step.evidence] if step else []
            report.evidence += [e for e in refs if e not in report.evidence]
            step_id = step.step_id if step else ""
            for finding in result.findings:
                # Two checks of one step can observe the same thing (one cause): the requirement says it once.
                key = (scenario.id, step_id, finding.rule, finding.message, finding.location or "", finding.severity)
                if key not in said:
                    said.add(key)
                    report.findings.append(LocatedFinding(**finding.model_dump(), scenario_id=scenario.id,
                                                          step_id=step_id, evidence=refs))
            error = f"{scenario.id} / {step_id or '-'} : {result.message}"
            if result.status is CheckStatus.ERROR and result.message and error not in report.errors:
                report.errors.append(error)
        if verdict is None:
            report.reason = "aucune vérification exécutée"
        elif verdict is Verdict.NON_TESTE:
            report.reason = next(r.message for _, _, r in results if r.status is CheckStatus.SKIPPED and r.message)
        elif verdict is Verdict.ERREUR:
            report.reason = report.errors[0] if report.errors else None
        report.warning = verdict is Verdict.NON_CONFORME and info.level == Level.PRECONISATION
        return report


def run_verdict(requirements: Iterable[RequirementReport], run: RunInfo) -> RunVerdict:
    """The run's verdict (ARCHITECTURE.md, "Verdict roll-up"): conforme only when every EXIGENCE was tested."""
    listed = list(requirements)
    selected = [r for r in listed if r.not_selected is None]
    verdicts = {r.verdict for r in selected if not r.warning}
    if Verdict.NON_CONFORME in verdicts:
        return RunVerdict.NON_CONFORME
    if Verdict.ERREUR in verdicts or run.error:
        return RunVerdict.ERREUR
    if not any(r.verdict in TESTED for r in selected):
        return RunVerdict.NON_TESTE
    if run.interrupted or not coverage(listed).complete:
        return RunVerdict.INCOMPLET
    return RunVerdict.CONFORME


def coverage(requirements: Iterable[RequirementReport]) -> Coverage:
    """How many requirements, and how many EXIGENCEs, the run tested."""
    listed = list(requirements)
    exigences = [r for r in listed if r.level == Level.EXIGENCE]
    return Coverage(
        requirements=len(listed), tested=sum(r.verdict in TESTED for r in listed), exigences=len(exigences),
        exigences_tested=sum(r.verdict in TESTED for r in exigences),
        untested_exigences=[r.id for r in exigences if r.verdict not in TESTED],
    )


def _counts(requirements: Iterable[RequirementReport]) -> dict[str, int]:
    counter = Counter(r.verdict.value for r in requirements)
    return {v.value: counter.get(v.value, 0) for v in Verdict}
