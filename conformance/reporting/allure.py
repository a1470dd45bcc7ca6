"""``allure-results/``: one Allure result per scenario, requirement ids as labels and links, evidence attached.

Statuses follow the exit code: a scenario that failed only for PRECONISATIONs is ``passed`` with the finding in its
details and a tag, so no pipeline gate fails on it; ``environment.properties`` carries the run verdict and coverage.
"""

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
from conformance.reporting.i18n import finding_text, label, run_verdict_text
from conformance.reporting.model import Report, ScenarioReport, VerdictScope

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
        scope = report.scope
        for scenario in report.scenarios:
            result = self._result(scenario, scope, run_dir, out, start_ms)
            result.labels += [Label("epic", "Référencement DUI"), Label("feature", sections.get(scenario.theme, "")),
                              Label("suite", scenario.theme), Label("framework", "dui-conformance")]
            severities = [criticality.get(r, "Mineure") for r in scenario.requirements]
            worst = min(severities, key=list(_SEVERITY).index)
            result.labels.append(Label("severity", _SEVERITY[worst]))
            for req in scenario.requirements:
                result.labels += [Label("story", req), Label("requirement", req)]
                result.links.append(Link(type="requirement", url=f"../report.html#{req}", name=req))
            if scenario.warning:
                result.labels.append(Label("tag", label("verdict.warning", self.lang)))
            logger.report_result(result)  # type: ignore[no-untyped-call]
        # Shown in the report's Environment panel: the verdict of the run, never a bare pass for a partial run.
        (out / "environment.properties").write_text("".join(
            f"{key}={_property(value)}\n" for key, value in (
                ("dui-conformance.verdict", run_verdict_text(report.verdict, report.coverage, self.lang)),
                ("dui-conformance.run", report.run.run_id),
            )), encoding="ascii")

    def _result(self, scenario: ScenarioReport, scope: VerdictScope, run_dir: Path, out: Path,
                start_ms: int) -> TestResult:
        status = _STATUS[scenario.outcome] if scenario.outcome else Status.SKIPPED
        result = TestResult(
            uuid=str(uuid.uuid4()), historyId=str(uuid.uuid5(_NAMESPACE, scenario.id)), testCaseId=scenario.id,
            name=f"{scenario.id} {scenario.title}", fullName=f"{scenario.file}::{scenario.id}", status=status,
            start=start_ms, stop=start_ms + int(scenario.duration_ms or 0),
        )
        messages: list[str] = []
        warning = label("verdict.warning", self.lang)
        for step in scenario.step_results:
            lines = list(dict.fromkeys(
                [f"{warning} — {finding_text(f, self.lang)}" if scope.warned([c]) else finding_text(f, self.lang)
                 for c in step.checks
                 for f in c.findings] + [c.message for c in step.checks if c.message]))
            messages += [line for line in lines if line not in messages]
            status = scope.status(step.checks) if step.checks else step.status
            item = TestStepResult(name=step.title, status=_STATUS[status],
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


def _property(value: str) -> str:
    """A value of a Java properties file (read as ISO-8859-1): backslashes, breaks and non-ASCII escaped."""
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "".join(c if ord(c) < 0x80 else _utf16_escapes(c) for c in escaped)


def _utf16_escapes(char: str) -> str:
    units = char.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))
