"""``allure-results/``: one Allure result per scenario, requirement ids as labels and links, evidence attached."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import (
    Attachment,
    Label,
    Link,
    Status,
    StatusDetails,
    TestResult,
    TestStepResult,
)

from conformance.core.outcomes import CheckStatus
from conformance.reporting import BaseReporter, reporter
from conformance.reporting.model import Report, ScenarioReport

_STATUS = {
    CheckStatus.PASSED: Status.PASSED,
    CheckStatus.FAILED: Status.FAILED,
    CheckStatus.ERROR: Status.BROKEN,
    CheckStatus.SKIPPED: Status.SKIPPED,
}
_SEVERITY = {"Critique": "blocker", "Majeure": "critical", "Mineure": "normal"}
# A stable namespace so the same scenario keeps its Allure history across runs.
_NAMESPACE = uuid.UUID("6f1d7c52-2b7e-4c55-9d1a-3a0f5e2c9b10")


@reporter
class AllureReporter(BaseReporter):
    """Writes Allure 2 result files without pytest."""

    name = "allure"


    def write(self, report: Report, run_dir: Path) -> None:
        """One test result per scenario that started."""
        out = run_dir / "allure-results"
        logger = AllureFileLogger(out, clean=True)  # type: ignore[no-untyped-call]
        criticality = {r.id: r.criticality for r in report.requirements}
        sections = {t.theme: t.section for t in report.themes}
        start_ms = int(report.run.started_at * 1000)
        for scenario in report.scenarios:
            result = self._result(scenario, run_dir, out, start_ms)
            result.labels += [Label("epic", "Référencement DUI"), Label("feature", sections.get(scenario.theme, "")),
                              Label("suite", scenario.theme), Label("framework", "dui-conformance")]
            severities = [criticality.get(r, "Mineure") for r in scenario.requirements]
            worst = min(severities, key=list(_SEVERITY).index)
            result.labels.append(Label("severity", _SEVERITY[worst]))
            for req in scenario.requirements:
                result.labels += [Label("story", req), Label("requirement", req)]
                result.links.append(Link(type="requirement", url=f"../report.html#{req}", name=req))
            logger.report_result(result)  # type: ignore[no-untyped-call]

    def _result(self, scenario: ScenarioReport, run_dir: Path, out: Path, start_ms: int) -> TestResult:
        status = _STATUS[scenario.status] if scenario.finished and scenario.status else Status.SKIPPED
        result = TestResult(
            uuid=str(uuid.uuid4()), historyId=str(uuid.uuid5(_NAMESPACE, scenario.id)), testCaseId=scenario.id,
            name=f"{scenario.id} {scenario.title}", fullName=f"{scenario.file}::{scenario.id}", status=status,
            start=start_ms, stop=start_ms + int(scenario.duration_ms or 0),
        )
        messages = []
        for step in scenario.step_results:
            lines = [f.message for c in step.checks for f in c.findings] + [c.message for c in step.checks
                                                                            if c.message]
            messages += lines
            item = TestStepResult(name=step.title, status=_STATUS[step.status],
                                  statusDetails=StatusDetails(message="\n".join(lines)) if lines else None)
            for evidence in step.evidence:
                source = run_dir / evidence.path
                if source.is_file():
                    name = f"{uuid.uuid4()}-attachment{source.suffix}"
                    shutil.copyfile(source, out / name)
                    item.attachments.append(Attachment(name=f"{evidence.id} {evidence.summary}", source=name,
                                                       type="application/json" if source.suffix == ".json" else None))
            result.steps.append(item)
        if messages:
            result.statusDetails = StatusDetails(message="\n".join(messages))
        return result
