"""End-to-end: the CLI as a user drives it, against the reference DUI, compared with golden reports."""

import csv
import json
import os
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import lxml.html
import pytest

from conformance.cli import main

GOLDEN = Path(__file__).parent / "golden"
VOLATILE = {"run_id", "started_at", "finished_at", "duration_ms", "at"}


def run_dir_of(report_dir: Path) -> Path:
    (run_dir,) = [p for p in report_dir.iterdir() if not p.is_symlink()]
    return run_dir


# Clock readings captured by scenarios (AuditEvent search bounds), loopback ports and per-run temporary folders.
MOVING = [
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}(?::|%3A)\d{2}(?::|%3A)\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?"),
     "<horodatage>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"^\d{4,5}$"), "<port>"),
    (re.compile(r"/tmp/[\w.-]+"), "<dossier temporaire>"),
]


def stable(value):
    """The report without what changes from run to run (ids, clocks, durations, ports)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, str):
        for pattern, replacement in MOVING:
            value = pattern.sub(replacement, value)
    return value


def assert_golden(name: str, report: dict) -> None:
    # The verdicts, findings and run metadata are the product's output; step-by-step traces stay out of the golden
    # files so that rewording a step does not churn them.
    report = {k: v for k, v in report.items() if k not in {"scenarios", "evidence"}}
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(stable(report), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert stable(report) == json.loads(path.read_text(encoding="utf-8"))


def test_default_run_is_conforme_and_writes_every_report(cli, tmp_path, report_validator):
    result = cli.invoke(main, ["run", "--report-dir", str(tmp_path), "--seed", "1", "--no-interactive"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "Verdict global" in result.output and "conforme" in result.output
    run_dir = run_dir_of(tmp_path)
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    report_validator.validate(report)
    assert {r["verdict"] for r in report["requirements"]} == {"conforme"}
    assert_golden("reference-run", report)

    suites = ET.parse(run_dir / "junit.xml").getroot()
    verdict_suite, *theme_suites = suites.iter("testsuite")
    assert verdict_suite.get("name") == "dui-conformance"
    assert [(c.find("skipped"), c.find("failure")) for c in verdict_suite.iter("testcase")] == [(None, None)]
    assert {p.get("name"): p.get("value") for p in verdict_suite.iter("property")}["verdict-texte"] == \
        "conforme (119 exigences testées sur 119)"
    assert sum(int(s.get("tests")) for s in theme_suites) == len(report["scenarios"])
    assert {p.get("value") for s in theme_suites for p in s.iter("property")} == {
        r["id"] for r in report["requirements"]}
    allure = list((run_dir / "allure-results").glob("*-result.json"))
    assert len(allure) == len(report["scenarios"])
    labels = {lab["value"] for f in allure for lab in json.loads(f.read_text())["labels"]
              if lab["name"] == "requirement"}
    assert labels == {r["id"] for r in report["requirements"]}
    with (run_dir / "rem.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    # The REM layout: one row per requirement and scenario, in catalogue order, each with its numbered proofs.
    assert list(dict.fromkeys(r["N° exigence"] for r in rows)) == [r["id"] for r in report["requirements"]]
    assert all(r["Verdict"] == "conforme" and r["N° preuve 1"].startswith(r["N° scénario"] + ".01") for r in rows)
    assert all((run_dir / r["Preuve 1"]).is_file() for r in rows)
    assert {(run_dir / n).is_file() for n in ("rem.xlsx", "convergence.xlsx")} == {True}
    for evidence in report["evidence"]:
        assert (run_dir / evidence["path"]).is_file()
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'lang="fr"' in html and "DUI-HTTP-01" in html


def test_faulted_run_is_non_conforme_with_located_findings(cli, tmp_path, report_validator):
    args = ["run", "--report-dir", str(tmp_path), "--seed", "1", "--fault", "errors-as-html", "--no-interactive"]
    result = cli.invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "DUI-HTTP-04" in result.output
    report = json.loads((run_dir_of(tmp_path) / "report.json").read_text(encoding="utf-8"))
    report_validator.validate(report)
    assert report["run"]["faults"] == ["errors-as-html"]
    assert_golden("fault-errors-as-html", report)


def test_unmet_preconisation_is_a_warning_not_a_failure(cli, tmp_path, report_validator):
    result = cli.invoke(main, ["run", "--report-dir", str(tmp_path), "--fault", "patient-meta-missing"])
    assert result.exit_code == 0, result.output
    run_dir = run_dir_of(tmp_path)
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    report_validator.validate(report)
    req = next(r for r in report["requirements"] if r["id"] == "DUI-HTTP-08")
    assert (req["verdict"], req["warning"], report["verdict"]) == ("non conforme", True, "conforme")
    (scenario,) = [s for s in report["scenarios"] if s["warning"]]
    assert "DUI-HTTP-08" in scenario["requirements"] and scenario["outcome"] == "passed"
    # JUnit, Allure and the HTML report agree with the exit code: a warning, not a failure
    cases = {c.get("classname"): c for c in ET.parse(run_dir / "junit.xml").getroot().iter("testcase")}
    case = cases[f"HTTP.{scenario['id']}"]
    assert case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
    assert {(p.get("name"), p.get("value")) for p in case.iter("property")} >= {
        ("preconisation-non-respectee", "DUI-HTTP-08")}
    assert "préconisation non respectée" in case.findtext("system-out")
    assert not [c for c in cases.values() if c.find("failure") is not None]
    allure = [json.loads(f.read_text()) for f in (run_dir / "allure-results").glob("*-result.json")]
    (result_of,) = [a for a in allure if a["testCaseId"] == scenario["id"]]
    assert result_of["status"] == "passed" and {"name": "tag", "value": "préconisation non respectée"} in \
        result_of["labels"]
    assert all(step["status"] == "passed" for step in result_of["steps"])
    assert {a["status"] for a in allure} == {"passed"}
    html = lxml.html.parse(str(run_dir / "report.html")).getroot()
    badge = html.xpath(f"string(//details[@id='sc-{scenario['id']}']/summary/span[contains(@class, 'badge')])")
    assert badge == "préconisation non respectée"


def test_selection_leaves_the_rest_not_tested_with_a_reason(cli, tmp_path):
    result = cli.invoke(main, ["run", "--report-dir", str(tmp_path), "--requirement", "DUI-HTTP-02"])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir_of(tmp_path) / "report.json").read_text(encoding="utf-8"))
    verdicts = {r["id"]: (r["verdict"], r["reason"]) for r in report["requirements"]}
    assert verdicts.pop("DUI-HTTP-02") == ("conforme", None)
    assert set(verdicts.values()) == {("non testé", "non sélectionnée pour cette exécution")}
    assert [s["id"] for s in report["scenarios"]] == ["SCN-HTTP-02"]


def test_serve_runs_the_reference_over_loopback(cli, tmp_path):
    result = cli.invoke(main, ["run", "--serve", "--report-dir", str(tmp_path), "--theme", "HTTP"])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir_of(tmp_path) / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["target"]["url"].startswith("http://127.0.0.1:")


def test_simulators_serve_on_the_ports_the_vendor_configured(cli, tmp_path):
    from tests.support.servers import unused_port

    port = unused_port()
    config = tmp_path / "vendor.toml"
    config.write_text(f"[simulators]\ninsi = {port}\n", encoding="utf-8")
    result = cli.invoke(main, ["run", "--serve", "--config", str(config), "--report-dir", str(tmp_path / "r"),
                               "--requirement", "DUI-INS-06"])
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads((run_dir_of(tmp_path / "r") / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["simulators"]["insi"]["url"] == f"http://127.0.0.1:{port}/insi"
    assert report["verdict"] == "incomplet"
    assert next(r for r in report["requirements"] if r["id"] == "DUI-INS-06")["verdict"] == "conforme"


def test_english_report(cli, tmp_path):
    result = cli.invoke(main, ["run", "--report-dir", str(tmp_path), "--lang", "en", "--theme", "http"])
    assert result.exit_code == 0
    assert "Overall verdict" in result.output
    assert 'lang="en"' in (run_dir_of(tmp_path) / "report.html").read_text(encoding="utf-8")


def test_report_render_rebuilds_the_same_report(cli, tmp_path):
    cli.invoke(main, ["run", "--report-dir", str(tmp_path), "--fault", "latin1-body"])
    run_dir = run_dir_of(tmp_path)
    before = (run_dir / "report.json").read_text(encoding="utf-8")
    for name in ("report.json", "report.html", "junit.xml", "rem.csv"):
        (run_dir / name).unlink()
    result = cli.invoke(main, ["report", "render", str(run_dir)])
    assert result.exit_code == 1
    assert (run_dir / "report.json").read_text(encoding="utf-8") == before
    assert all((run_dir / n).is_file() for n in ("report.html", "junit.xml", "rem.csv"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "no-such-fault"], "défaut inconnu no-such-fault"),
        (["--target", "http://127.0.0.1:9", "--fault", "latin1-body"], "--fault ne s'applique qu'au DUI de référence"),
        (["--theme", "NOPE"], "aucun scénario ne correspond"),
        (["--requirement", "DUI-HTTP-99"], "exigence inconnue du catalogue"),
    ],
    ids=["unknown-fault", "fault-with-target", "unknown-theme", "unknown-requirement"],
)
def test_bad_usage_exits_4_with_a_message(cli, tmp_path, args, message):
    result = cli.invoke(main, ["run", "--report-dir", str(tmp_path), *args])
    assert result.exit_code == 4
    assert message in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[timeouts]\nreed = 3\n", "clé inconnue « timeouts.reed »"),
        ("[timeouts]\nread = \"long\"\n", "timeouts.read"),
        ("[target]\nurl = \"ftp://dui\"\n", "target.url : URL http:// ou https:// attendue"),
        ("[tls]\nca_bundle = \"absent.pem\"\n", "tls.ca_bundle : fichier introuvable"),
        ("[auth]\nbearer_token_env = \"DUI_CONFORMANCE_NO_SUCH_VAR\"\n", "variable d'environnement"),
        ("[manual]\noperations = [\"create-patient\"]\n", "opération(s) inconnue(s) : create-patient"),
        ("[timeouts\n", "TOML invalide"),
        ("[simulators]\nnope = 9999\n", "simulateur(s) inconnu(s) : nope"),
    ],
    ids=["unknown-key", "wrong-type", "bad-url", "missing-file", "missing-env", "unknown-operation", "syntax",
         "unknown-simulator"],
)
def test_bad_config_names_the_key(cli, tmp_path, toml, message):
    config = tmp_path / "vendor.toml"
    config.write_text(toml, encoding="utf-8")
    result = cli.invoke(main, ["run", "--config", str(config), "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 4, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_faults_lists_each_fault_with_its_requirements(cli):
    result = cli.invoke(main, ["faults", "--json"])
    faults = json.loads(result.output)
    assert {f["name"] for f in faults} >= {"errors-as-html", "latin1-body"}
    assert all(f["description"] and f["requirements"] for f in faults)
    verdicts = {f["name"]: f["verdict"] for f in faults}
    assert verdicts["metadata-hangs"] == "erreur" and verdicts["latin1-body"] == "non conforme"


def test_serve_refuses_a_fault_that_lives_in_how_run_serves_the_reference(cli):
    result = cli.invoke(main, ["serve", "reference", "--fault", "tls-certificate-wrong-name", "--port", "9"])
    assert result.exit_code == 4
    assert "ne s'applique pas à `serve`" in result.stderr


def test_requirements_coverage(cli, write):
    result = cli.invoke(main, ["requirements", "--coverage"])
    assert result.exit_code == 0, result.stderr
    assert "DUI-HTTP-01" in result.output
    data = json.loads(cli.invoke(main, ["requirements", "--json"]).output)
    assert data["uncovered"] == [] and all(r["scenarios"] for r in data["requirements"])
    suite = write("suite/requirements.yaml", """\
version: "extra-1"
requirements:
  - {id: DUI-ZZZ-01, theme: ZZZ, title: Orpheline, text: Le DUI DOIT., level: EXIGENCE, criticality: Mineure,
     source: test}
""").parent
    write("suite/s.yaml", "id: SCN-ZZZ-02\ntitle: t\nrequirements: [DUI-HTTP-01]\nsteps:\n  - id: a\n"
          "    fhir: {capabilities: true}\n")
    result = cli.invoke(main, ["requirements", "--coverage", "--suite", str(suite)])
    assert result.exit_code == 4
    assert "DUI-ZZZ-01 : aucun scénario ne prouve cette exigence" in result.stderr


# --- the exit-code table of the README, row by row --------------------------------------------------------------

CAPABILITIES = """\
id: SCN-HTTP-9{n}
title: Lecture {n}
requirements: [DUI-HTTP-0{n}]
steps:
  - id: lire
    fhir: {{capabilities: true}}
    checks: [{check}]
"""


def suite_of(folder: Path, *scenarios: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, text in enumerate(scenarios, start=1):
        (folder / f"s{number}.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def test_checks():
    """Checks that crash, or interrupt the run as Ctrl-C would, registered for one test."""
    import signal

    from conformance.checks import CHECKS, check

    @check
    def crashing_check(ctx):
        """Test check with a bug."""
        raise ZeroDivisionError("boom")

    @check
    def interrupting_check(ctx):
        """Test check that sends SIGINT to the run, as a user pressing Ctrl-C."""
        os.kill(os.getpid(), signal.SIGINT)
        yield from ()

    yield
    CHECKS.remove("crashing_check")
    CHECKS.remove("interrupting_check")


def report_of(report_dir: Path) -> dict:
    return json.loads((run_dir_of(report_dir) / "report.json").read_text(encoding="utf-8"))


def test_a_partial_run_is_incomplet_never_a_bare_conforme(cli, tmp_path, report_validator):
    result = cli.invoke(main, ["run", "--report-dir", str(tmp_path), "--theme", "HTTP", "--no-interactive"])
    assert result.exit_code == 0, result.output
    assert "Verdict global : incomplet (8 exigences testées sur 119, aucune EXIGENCE non conforme ; 111 " \
           "EXIGENCEs non testées)" in " ".join(result.output.split()).replace("\u00a0", " ")
    report = report_of(tmp_path)
    report_validator.validate(report)
    assert report["verdict"] == "incomplet"
    coverage = report["coverage"]
    assert (coverage["requirements"], coverage["tested"], coverage["complete"]) == (119, 8, False)
    assert len(coverage["untested_exigences"]) == 111 and "DUI-INS-01" in coverage["untested_exigences"]
    run_dir = run_dir_of(tmp_path)
    html = lxml.html.parse(str(run_dir / "report.html")).getroot()
    assert html.xpath("string(//*[@id='verdict-text'])").startswith("incomplet (8 exigences testées sur 119")
    suites = ET.parse(run_dir / "junit.xml").getroot()
    verdict_suite = suites.find("testsuite[@name='dui-conformance']")
    props = {p.get("name"): p.get("value") for p in verdict_suite.iter("property")}
    assert props["verdict"] == "incomplet" and props["verdict-texte"].startswith("incomplet (8 exigences")
    (case,) = verdict_suite.iter("testcase")
    assert case.find("skipped") is not None and case.find("failure") is None
    environment = (run_dir / "allure-results" / "environment.properties").read_text(encoding="ascii")
    assert "dui-conformance.verdict=incomplet (8 exigences test\\u00e9es sur 119" in environment


def test_require_complete_fails_a_partial_run_with_exit_6(cli, tmp_path, report_validator):
    args = ["run", "--report-dir", str(tmp_path), "--theme", "HTTP", "--no-interactive", "--require-complete"]
    result = cli.invoke(main, args)
    assert result.exit_code == 6, result.output
    assert "Couverture complète exigée (--require-complete)" in result.output
    report = report_of(tmp_path)
    report_validator.validate(report)
    assert report["run"]["require_complete"] and report["verdict"] == "incomplet"
    verdict_suite = ET.parse(run_dir_of(tmp_path) / "junit.xml").getroot().find("testsuite[@name='dui-conformance']")
    assert verdict_suite.find("testcase/failure") is not None and verdict_suite.get("failures") == "1"
    # report render reads the option from the event log: the same run gives the same status
    rendered = cli.invoke(main, ["report", "render", str(run_dir_of(tmp_path))])
    assert rendered.exit_code == 6


def test_require_complete_passes_a_complete_conforme_run(cli, tmp_path):
    args = ["run", "--report-dir", str(tmp_path), "--seed", "1", "--no-interactive", "--require-complete"]
    result = cli.invoke(main, args)
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path)
    assert report["verdict"] == "conforme" and report["coverage"]["complete"]
    assert "conforme (119 exigences testées sur 119)" in " ".join(result.output.split()).replace("\u00a0", " ")


def test_a_run_that_tests_nothing_exits_5(cli, tmp_path, report_validator):
    manual = ("id: SCN-HTTP-91\ntitle: Démonstration\nrequirements: [DUI-HTTP-02]\nsteps:\n  - id: montrer\n"
              "    manual: {instructions: \"Montrez l'écran\", timeout: 5}\n")
    suite = suite_of(tmp_path / "suite", manual)
    result = cli.invoke(main, ["run", "--suite", str(suite), "--report-dir", str(tmp_path / "r"), "--no-interactive"])
    assert result.exit_code == 5, result.output
    report = report_of(tmp_path / "r")
    report_validator.validate(report)
    assert report["verdict"] == "non testé" and report["coverage"]["tested"] == 0
    assert "mode non interactif" in result.output  # why it was not tested, in the summary


def test_a_harness_error_exits_3(cli, tmp_path, test_checks, report_validator):
    suite = suite_of(tmp_path / "suite", CAPABILITIES.format(n=2, check="crashing_check"))
    result = cli.invoke(main, ["run", "--suite", str(suite), "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 3, result.output
    report = report_of(tmp_path / "r")
    report_validator.validate(report)
    assert report["verdict"] == "erreur"
    (case,) = [c for c in ET.parse(run_dir_of(tmp_path / "r") / "junit.xml").getroot().iter("testcase")
               if c.get("classname").startswith("HTTP.")]
    assert case.find("error") is not None


def test_an_interrupted_run_exits_2_and_is_never_conforme(cli, tmp_path, test_checks, report_validator):
    suite = suite_of(tmp_path / "suite", CAPABILITIES.format(n=2, check="interrupting_check"),
                     CAPABILITIES.format(n=3, check="{status_code_in: {codes: [200]}}"))
    result = cli.invoke(main, ["run", "--suite", str(suite), "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    report = report_of(tmp_path / "r")
    report_validator.validate(report)
    assert report["run"]["interrupted"] and report["verdict"] == "incomplet"
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert (verdicts["DUI-HTTP-02"], verdicts["DUI-HTTP-03"]) == ("conforme", "non testé")
    assert "Exécution interrompue" in result.output and "Verdict global : incomplet" in result.output.replace(
        "\u00a0", " ")
