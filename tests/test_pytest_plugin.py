"""`pytest --dui-reference` / `--dui-target` play the scenarios as pytest items through the same engine."""

import json
from xml.etree import ElementTree as ET

import pytest


@pytest.fixture(scope="module")
def scenario_count(suite):
    return len(suite.scenarios)


def test_scenarios_run_as_items_against_the_reference(pytester, scenario_count):
    result = pytester.runpytest_subprocess("--dui-reference", "-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(passed=scenario_count)
    cases = ET.parse(pytester.path / "out.xml").getroot().iter("testcase")
    properties = {p.get("value") for case in cases for p in case.iter("property") if p.get("name") == "requirement"}
    assert "DUI-HTTP-07" in properties


def test_a_fault_fails_its_scenario_with_the_findings(pytester, scenario_count):
    result = pytester.runpytest_subprocess("--dui-reference", "--dui-fault", "latin1-body", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=scenario_count - 1, failed=1)
    result.stdout.fnmatch_lines(["*SCN-HTTP-07*", "*body_utf8*Jeu de caractères déclaré*iso-8859-1*"])
    assert "Traceback" not in result.stdout.str()


def test_plugin_writes_the_conformity_report_when_asked(pytester):
    result = pytester.runpytest_subprocess("--dui-reference", "--dui-theme", "HTTP", "--dui-report-dir", "reports",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)  # the HTTP theme's eight scenarios
    (run_dir,) = (pytester.path / "reports").iterdir()
    assert (run_dir / "report.json").is_file() and (run_dir / "events.ndjson").is_file()


def test_plugin_stays_quiet_without_its_options(pytester):
    pytester.makepyfile("def test_nothing(): pass")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_allure_pytest_sees_requirement_labels(pytester):
    result = pytester.runpytest_subprocess("--dui-reference", "--dui-theme", "HTTP", "--alluredir", "allure",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
    labels = [label for path in (pytester.path / "allure").glob("*-result.json")
              for label in json.loads(path.read_text(encoding="utf-8"))["labels"] if label["name"] == "requirement"]
    assert {label["value"] for label in labels} >= {"DUI-HTTP-01", "DUI-HTTP-08"}


# --- the exit-code table of the README holds under pytest too --------------------------------------------------

TEST_CHECKS = '''
import os
from conformance import check

@check
def crashing_check(ctx):
    """Test check with a bug."""
    raise ZeroDivisionError("boom")

@check
def interrupting_check(ctx):
    """Test check interrupted as by Ctrl-C."""
    raise KeyboardInterrupt
'''

SCENARIO = """\
id: SCN-HTTP-9{n}
title: Lecture {n}
requirements: [DUI-HTTP-0{n}]
steps:
  - id: lire
    fhir: {{capabilities: true}}
    checks: [{check}]
"""


def run_suite(pytester, *scenarios: str, extra: tuple[str, ...] = ()):
    pytester.makeconftest(TEST_CHECKS)
    for number, text in enumerate(scenarios, start=1):
        pytester.path.joinpath("suite").mkdir(exist_ok=True)
        pytester.path.joinpath("suite", f"s{number}.yaml").write_text(text, encoding="utf-8")
    return pytester.runpytest_subprocess("--dui-reference", "--dui-suite", "suite", "--dui-report-dir", "reports",
                                         "-p", "no:cacheprovider", *extra)


def report_of(pytester) -> dict:
    (run_dir,) = (pytester.path / "reports").iterdir()
    return json.loads((run_dir / "report.json").read_text(encoding="utf-8"))


def test_unmet_preconisation_is_a_warning_not_a_failure(pytester):
    result = pytester.runpytest_subprocess("--dui-reference", "--dui-theme", "HTTP", "--dui-fault",
                                           "patient-meta-missing", "-p", "no:cacheprovider", "--junitxml=out.xml",
                                           "--alluredir", "allure")
    result.assert_outcomes(passed=8, warnings=1)
    statuses = {json.loads(path.read_text(encoding="utf-8"))["status"]
                for path in (pytester.path / "allure").glob("*-result.json")}
    assert statuses == {"passed"}
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*PreconisationWarning: SCN-HTTP-08 : préconisation non respectée : *(DUI-HTTP-08)*"])
    cases = list(ET.parse(pytester.path / "out.xml").getroot().iter("testcase"))
    assert not [c for c in cases if c.find("failure") is not None]
    flagged = [c for c in cases if ("preconisation-non-respectee", "DUI-HTTP-08") in
               {(p.get("name"), p.get("value")) for p in c.iter("property")}]
    assert len(flagged) == 1


def test_a_partial_session_exits_6_only_when_completeness_is_required(pytester):
    plain = pytester.runpytest_subprocess("--dui-reference", "--dui-theme", "HTTP", "-p", "no:cacheprovider")
    assert plain.ret == 0
    required = pytester.runpytest_subprocess("--dui-reference", "--dui-theme", "HTTP", "--dui-require-complete",
                                             "-p", "no:cacheprovider")
    required.assert_outcomes(passed=8)
    assert required.ret == 6


def test_a_session_that_tests_nothing_exits_5(pytester):
    manual = ("id: SCN-HTTP-91\ntitle: Démonstration\nrequirements: [DUI-HTTP-02]\nsteps:\n  - id: montrer\n"
              "    manual: {instructions: \"Montrez l'écran\", timeout: 5}\n")
    result = run_suite(pytester, manual)
    result.assert_outcomes(skipped=1)
    assert result.ret == 5
    assert report_of(pytester)["verdict"] == "non testé"


def test_a_harness_error_errors_the_item_and_exits_3(pytester):
    result = run_suite(pytester, SCENARIO.format(n=2, check="crashing_check"),
                       SCENARIO.format(n=3, check="{status_code_in: {codes: [200]}}"))
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*erreur de l'outil de test*", "*crashing_check*ZeroDivisionError: boom*"])
    assert "Traceback" not in result.stdout.str()
    assert report_of(pytester)["verdict"] == "erreur"


def test_a_failure_with_a_harness_error_still_exits_1(pytester):
    result = pytester.runpytest_subprocess("--dui-reference", "--dui-theme", "HTTP", "--dui-fault", "latin1-body",
                                           "-p", "no:cacheprovider")
    assert result.ret == 1


def test_an_interrupted_session_exits_2_and_records_an_interrupted_run(pytester):
    result = run_suite(pytester, SCENARIO.format(n=2, check="{status_code_in: {codes: [200]}}"),
                       SCENARIO.format(n=3, check="interrupting_check"),
                       SCENARIO.format(n=4, check="{status_code_in: {codes: [200]}}"))
    assert result.ret == 2
    assert "Traceback" not in result.stderr.str() and "never retrieved" not in result.stderr.str()
    report = report_of(pytester)
    assert report["run"]["interrupted"] and report["verdict"] == "incomplet"
    verdicts = {r["id"]: (r["verdict"], r["reason"]) for r in report["requirements"]}
    assert verdicts["DUI-HTTP-02"] == ("conforme", None)
    assert verdicts["DUI-HTTP-04"] == ("non testé", "exécution interrompue avant ce scénario")


def test_deselected_scenarios_say_why_they_were_not_tested(pytester):
    result = run_suite(pytester, SCENARIO.format(n=2, check="{status_code_in: {codes: [200]}}"),
                       SCENARIO.format(n=3, check="{status_code_in: {codes: [200]}}"), extra=("-k", "SCN-HTTP-92"))
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == 0
    report = report_of(pytester)
    verdicts = {r["id"]: (r["verdict"], r["reason"]) for r in report["requirements"]}
    assert verdicts["DUI-HTTP-03"] == ("non testé", "scénario désélectionné dans pytest (-k, -m ou --deselect)")
    assert report["verdict"] == "incomplet"


def test_an_invalid_scenario_file_is_a_usage_error(pytester):
    pytester.path.joinpath("suite").mkdir()
    pytester.path.joinpath("suite", "s.yaml").write_text("id: SCN-HTTP-91\ntitle: t\nsteps: 3\n", encoding="utf-8")
    result = pytester.runpytest_subprocess("--dui-reference", "--dui-suite", "suite", "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*s.yaml:*"])


def test_parallel_workers_are_refused_rather_than_writing_partial_reports(pytester):
    result = pytester.runpytest_subprocess("--dui-reference", "-n", "2", "--dui-report-dir", "reports",
                                           "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ne se jouent pas en parallèle*relancer sans -n*"])
    assert not (pytester.path / "reports").exists()
