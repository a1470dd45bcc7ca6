"""A run killed with SIGKILL half-way keeps its events; `report render` builds a partial report from them."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.cli import main

FAST = """\
id: SCN-HTTP-02
title: CapabilityStatement
requirements: [DUI-HTTP-02]
steps:
  - id: metadata
    fhir: {capabilities: true}
    checks: [{status_code_in: {codes: [200]}}]
"""
WAITING = """\
id: SCN-HTTP-03
title: Démonstration qui attend l'évaluateur
requirements: [DUI-HTTP-03]
steps:
  - id: attendre
    manual: {instructions: "Montrez l'écran", timeout: 600}
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_leaves_a_renderable_partial_report(tmp_path, cli):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "a.yaml").write_text(FAST, encoding="utf-8")
    (suite / "b.yaml").write_text(WAITING, encoding="utf-8")
    reports = tmp_path / "reports"
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance", "run", "--interactive", "--suite", str(suite), "--report-dir",
         str(reports)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        log = _wait_for_event(reports, "SCN-HTTP-03", process)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
    assert process.returncode == -signal.SIGKILL

    result = cli.invoke(main, ["report", "render", str(log.parent)])
    assert result.exit_code == 2, result.output
    report = json.loads((log.parent / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["interrupted"] and not report["run"]["complete"]
    verdicts = {r["id"]: (r["verdict"], r["reason"]) for r in report["requirements"]}
    assert verdicts["DUI-HTTP-02"] == ("conforme", None)
    assert verdicts["DUI-HTTP-03"] == ("non testé", "exécution interrompue avant la fin du scénario")
    assert (log.parent / "report.html").is_file()


def _wait_for_event(reports: Path, scenario_id: str, process: subprocess.Popen) -> Path:
    """The event log once the given scenario has started; generous deadline, no timing assertion."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for log in reports.glob("*/events.ndjson"):
            for line in log.read_text(encoding="utf-8").splitlines():
                event = json.loads(line)
                if event["type"] == "scenario-started" and event["scenario_id"] == scenario_id:
                    return log
        if process.poll() is not None:
            raise AssertionError(f"run ended early: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the run never reached the waiting scenario")
