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
