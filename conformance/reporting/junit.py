"""``junit.xml``: one test case per scenario, requirement ids as properties, for CI servers.

Test cases fail as the exit code does: an unmet PRECONISATION is a property and a note in ``system-out``, never a
``<failure>``; a first suite records the run verdict and its coverage, so a partial run never reads as a full pass.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from conformance.core.outcomes import CheckStatus
from conformance.reporting import BaseReporter, reporter
from conformance.reporting.i18n import finding_text, label, run_verdict_text
from conformance.reporting.model import Report, ScenarioReport, VerdictScope

#: name of the suite that carries the run verdict and the coverage test case
VERDICT_SUITE = "dui-conformance"


@reporter
class JunitReporter(BaseReporter):
    """Writes ``junit.xml``."""

    name = "junit"


    def write(self, report: Report, run_dir: Path) -> None:
        """The verdict suite, then one testsuite per theme."""
        root = ET.Element("testsuites", name="dui-conformance", id=report.run.run_id)
        root.append(self._verdict_suite(report))
        scope = report.scope
        for theme in report.themes:
            scenarios = [s for s in report.scenarios if s.theme == theme.theme]
            if not scenarios:
                continue
            suite = ET.SubElement(root, "testsuite", name=f"{theme.theme} - {theme.section}")
            for scenario in scenarios:
                suite.append(self._testcase(scenario, scope))
            for attr, status in (("failures", CheckStatus.FAILED), ("errors", CheckStatus.ERROR)):
                suite.set(attr, str(sum(s.outcome is status for s in scenarios)))
            suite.set("skipped", str(sum(s.outcome in (CheckStatus.SKIPPED, None) for s in scenarios)))
            suite.set("tests", str(len(scenarios)))
        ET.indent(root)
        ET.ElementTree(root).write(run_dir / "junit.xml", encoding="utf-8", xml_declaration=True)

    def _verdict_suite(self, report: Report) -> ET.Element:
        """The run verdict as properties; the coverage as a test case, skipped when incomplete, failed if required."""
        coverage, lang = report.coverage, self.lang
        text = run_verdict_text(report.verdict, coverage, lang)
        suite = ET.Element("testsuite", name=VERDICT_SUITE, tests="1", failures="0", errors="0", skipped="0")
        props = ET.SubElement(suite, "properties")
        for name, value in (("verdict", report.verdict.value), ("verdict-texte", text),
                            ("exigences-catalogue", coverage.requirements), ("exigences-testees", coverage.tested),
                            ("exigences-non-testees", " ".join(coverage.untested_exigences))):
            ET.SubElement(props, "property", name=name, value=str(value))
        case = ET.SubElement(suite, "testcase", classname=f"{VERDICT_SUITE}.couverture",
                             name=f"{label('coverage.title', lang)} : {text}", time="0")
        if not coverage.complete:
            untested = f"{label('coverage.untested_list', lang)} : {' '.join(coverage.untested_exigences)}"
            if report.run.require_complete:
                ET.SubElement(case, "failure", message=label("coverage.required", lang)).text = untested
                suite.set("failures", "1")
            else:
                ET.SubElement(case, "skipped", message=text)
                suite.set("skipped", "1")
            ET.SubElement(case, "system-out").text = untested
        return suite

    def _testcase(self, scenario: ScenarioReport, scope: VerdictScope) -> ET.Element:
        case = ET.Element("testcase", classname=f"{scenario.theme}.{scenario.id}",
                          name=f"{scenario.id} {scenario.title}", time=f"{(scenario.duration_ms or 0) / 1000:.3f}",
                          file=scenario.file)
        props = ET.SubElement(case, "properties")
        for req in scenario.requirements:
            ET.SubElement(props, "property", name="requirement", value=req)
        results = [(step.step_id, c) for step in scenario.step_results for c in step.checks]
        # One line per observation: two checks of a step that saw the same thing are one line.
        failing = list(dict.fromkeys(f"{step_id}: {finding_text(f, self.lang)}" for step_id, c in results
                                     if scope.status([c])
                                     is CheckStatus.FAILED for f in c.findings))
        messages = list(dict.fromkeys(f"{step_id}: {c.message}" for step_id, c in results if c.message))
        if scenario.outcome is CheckStatus.FAILED:
            failure = ET.SubElement(case, "failure", message=failing[0] if failing else "non conforme")
            failure.text = "\n".join(failing)
        elif scenario.outcome is CheckStatus.ERROR:
            ET.SubElement(case, "error", message=messages[0] if messages else "erreur").text = "\n".join(messages)
        elif scenario.outcome is CheckStatus.SKIPPED or not scenario.finished:
            ET.SubElement(case, "skipped", message=messages[0] if messages else "non joué")
        warned = [(step_id, c) for step_id, c in results if scope.warned([c])]
        for req in dict.fromkeys(r for _, c in warned for r in c.requirements if r in scope.preconisations):
            ET.SubElement(props, "property", name="preconisation-non-respectee", value=req)
        if warned:
            tag = label("verdict.warning", self.lang)
            ET.SubElement(case, "system-out").text = "\n".join(dict.fromkeys(
                f"{tag} — {step_id}: {finding_text(f, self.lang)}" for step_id, c in warned for f in c.findings))
        return case
