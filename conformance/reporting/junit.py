"""``junit.xml``: one test case per scenario, requirement ids as properties, for CI servers."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from conformance.core.outcomes import CheckStatus
from conformance.reporting import BaseReporter, reporter
from conformance.reporting.model import Report, ScenarioReport


@reporter
class JunitReporter(BaseReporter):
    """Writes ``junit.xml``."""

    name = "junit"


    def write(self, report: Report, run_dir: Path) -> None:
        """One testsuite per theme."""
        root = ET.Element("testsuites", name="dui-conformance", id=report.run.run_id)
        for theme in report.themes:
            scenarios = [s for s in report.scenarios if s.theme == theme.theme]
            if not scenarios:
                continue
            suite = ET.SubElement(root, "testsuite", name=f"{theme.theme} - {theme.section}")
            for scenario in scenarios:
                suite.append(_testcase(scenario))
            for attr, status in (("failures", CheckStatus.FAILED), ("errors", CheckStatus.ERROR)):
                suite.set(attr, str(sum(s.status is status for s in scenarios)))
            suite.set("skipped", str(sum(s.status in (CheckStatus.SKIPPED, None) for s in scenarios)))
            suite.set("tests", str(len(scenarios)))
        ET.indent(root)
        ET.ElementTree(root).write(run_dir / "junit.xml", encoding="utf-8", xml_declaration=True)


def _testcase(scenario: ScenarioReport) -> ET.Element:
    case = ET.Element("testcase", classname=f"{scenario.theme}.{scenario.id}", name=f"{scenario.id} {scenario.title}",
                      time=f"{(scenario.duration_ms or 0) / 1000:.3f}", file=scenario.file)
    props = ET.SubElement(case, "properties")
    for req in scenario.requirements:
        ET.SubElement(props, "property", name="requirement", value=req)
    findings = [f"{step.step_id}: {f.message}" for step in scenario.step_results for c in step.checks
                for f in c.findings]
    messages = [f"{step.step_id}: {c.message}" for step in scenario.step_results for c in step.checks if c.message]
    if scenario.status is CheckStatus.FAILED:
        ET.SubElement(case, "failure", message=findings[0] if findings else "non conforme").text = "\n".join(findings)
    elif scenario.status is CheckStatus.ERROR:
        ET.SubElement(case, "error", message=messages[0] if messages else "erreur").text = "\n".join(messages)
    elif scenario.status is CheckStatus.SKIPPED or not scenario.finished:
        ET.SubElement(case, "skipped", message=messages[0] if messages else "non joué")
    return case
