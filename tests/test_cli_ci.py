"""CI ergonomics of ``run``: a named run folder, a ``latest`` link, JUnit where CI wants it, one line per scenario."""

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from conformance.cli import main

FAST = ["run", "--requirement", "DUI-HTTP-02", "--no-interactive"]


def test_run_id_names_the_folder_and_latest_points_at_the_last_run(cli, tmp_path):
    first = cli.invoke(main, [*FAST, "--report-dir", str(tmp_path), "--run-id", "build-41"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "build-41" / "report.json").is_file()
    assert os.readlink(tmp_path / "latest") == "build-41"  # relative: the folder can be moved or archived whole
    second = cli.invoke(main, [*FAST, "--report-dir", str(tmp_path), "--run-id", "build-42"])
    assert second.exit_code == 0, second.output
    assert os.readlink(tmp_path / "latest") == "build-42"
    assert (tmp_path / "latest" / "junit.xml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build-41", "build-42", "latest"]


@pytest.mark.parametrize("run_id", ["../evasion", "a/b", "latest", ".cache", "x" * 65, ""])
def test_a_run_id_that_is_no_plain_folder_name_is_refused(cli, tmp_path, run_id):
    result = cli.invoke(main, [*FAST, "--report-dir", str(tmp_path), "--run-id", run_id])
    assert result.exit_code == 4, result.output
    assert "--run-id" in result.output
    assert not any(tmp_path.iterdir())


def test_a_run_id_never_overwrites_an_earlier_run(cli, tmp_path):
    (tmp_path / "build-41").mkdir()
    (tmp_path / "build-41" / "report.json").write_text("{}", encoding="utf-8")
    result = cli.invoke(main, [*FAST, "--report-dir", str(tmp_path), "--run-id", "build-41"])
    assert result.exit_code == 4, result.output
    assert "existe déjà" in result.output
    assert (tmp_path / "build-41" / "report.json").read_text(encoding="utf-8") == "{}"


def test_a_user_folder_named_latest_is_left_alone(cli, tmp_path):
    (tmp_path / "latest").mkdir()
    (tmp_path / "latest" / "notes.txt").write_text("à garder", encoding="utf-8")
    result = cli.invoke(main, [*FAST, "--report-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "latest" / "notes.txt").read_text(encoding="utf-8") == "à garder"


def test_junit_xml_is_copied_where_ci_expects_it(cli, tmp_path):
    target = tmp_path / "ci" / "results" / "dui.xml"
    result = cli.invoke(main, [*FAST, "--report-dir", str(tmp_path / "r"), "--junit-xml", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == (tmp_path / "r" / "latest" / "junit.xml").read_bytes()
    assert ET.parse(target).getroot().tag == "testsuites"


def test_without_a_terminal_each_finished_scenario_is_one_line(cli, tmp_path):
    result = cli.invoke(main, ["run", "--theme", "HTTP", "--no-interactive", "--report-dir", str(tmp_path)])
    lines = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 8 and lines[0].startswith("[1/8] SCN-HTTP-") and lines[-1].startswith("[8/8] ")
    assert all(" réussi " in line or " échoué " in line or " erreur " in line for line in lines), lines


def test_a_run_writes_nothing_in_the_current_folder_but_reports(tmp_path):
    # Generated data (hypothesis) keeps its caches in the harness's cache folder, not in the vendor's checkout.
    work = tmp_path / "checkout"
    work.mkdir()
    env = {**os.environ, "DUI_CONFORMANCE_CACHE": str(tmp_path / "cache")}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    command = Path(sys.executable).with_name("dui-conformance")
    done = subprocess.run([str(command), "run", "--requirement", "DUI-INS-20", "--no-interactive"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in work.iterdir()] == ["reports"]
    assert (tmp_path / "cache" / "hypothesis").is_dir()


def test_requirements_failing_for_one_cause_are_one_summary_line(cli, tmp_path):
    # Every metadata read is cut: both requirements are erreur for the same reason, said once with both ids.
    result = cli.invoke(main, ["run", "--theme", "HTTP", "--fault", "metadata-connection-reset", "--no-interactive",
                               "--report-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("erreur ")]
    assert len(lines) == 1 and lines[0].startswith("erreur DUI-HTTP-02, DUI-HTTP-03 — échec d'échange"), lines
