"""``SHA256SUMS`` and ``report verify``: an edit made to a run folder after the run shows."""

import re
import shutil
import subprocess

import pytest

from conformance.cli import main
from conformance.reporting.manifest import MANIFEST, write_manifest


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from click.testing import CliRunner

    reports = tmp_path_factory.mktemp("reports")
    result = CliRunner().invoke(main, ["run", "--theme", "HTTP", "--no-interactive", "--report-dir", str(reports),
                                       "--run-id", "r1"])
    assert result.exit_code == 0, result.output
    printed = re.search(r"Empreinte SHA-256 de SHA256SUMS : ([0-9a-f]{64})", result.stdout)
    assert printed is not None, result.stdout
    return reports / "r1", printed.group(1)


@pytest.fixture
def copy(run_dir, tmp_path):
    folder, printed = run_dir
    target = tmp_path / "r1"
    shutil.copytree(folder, target, symlinks=True)
    return target, printed


def test_the_manifest_covers_every_file_the_run_wrote(run_dir):
    folder, _ = run_dir
    listed = {line.split("  ", 1)[1] for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines()}
    written = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert listed == written
    assert {"report.json", "events.ndjson", "rem.xlsx"} <= listed and any(n.startswith("evidence/") for n in listed)


def test_an_intact_run_verifies_with_the_printed_hash(cli, copy):
    folder, printed = copy
    result = cli.invoke(main, ["report", "verify", str(folder), "--sha256", printed])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("intact : ")


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum (coreutils) absent")
def test_gnu_sha256sum_checks_the_same_manifest(copy):
    folder, _ = copy
    done = subprocess.run(["sha256sum", "--check", "--quiet", MANIFEST], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_edited_evidence_file_is_named(cli, copy):
    folder, _ = copy
    evidence = sorted((folder / "evidence").rglob("*.json"))[0]
    evidence.write_bytes(evidence.read_bytes().replace(b"200", b"201", 1))
    result = cli.invoke(main, ["report", "verify", str(folder)])
    assert result.exit_code == 1
    assert result.output == f"modifié : {evidence.relative_to(folder).as_posix()}\n"


def test_a_removed_and_an_added_file_are_named(cli, copy):
    folder, _ = copy
    (folder / "rem.csv").unlink()
    (folder / "evidence" / "ajout.json").write_text("{}", encoding="utf-8")
    result = cli.invoke(main, ["report", "verify", str(folder)])
    assert result.exit_code == 1
    assert "absent : rem.csv" in result.output and "ajouté : evidence/ajout.json" in result.output


def test_a_rewritten_manifest_is_caught_by_the_printed_hash(cli, copy):
    # Whoever edits a file and rewrites SHA256SUMS makes the folder consistent again: only the hash kept outside
    # the folder (the CI log) shows it.
    folder, printed = copy
    (folder / "report.json").write_text("{}", encoding="utf-8")
    write_manifest(folder)
    assert cli.invoke(main, ["report", "verify", str(folder)]).exit_code == 0
    result = cli.invoke(main, ["report", "verify", str(folder), "--sha256", printed])
    assert result.exit_code == 1 and "SHA256SUMS lui-même a changé" in result.output


def test_a_folder_without_manifest_is_a_usage_error(cli, tmp_path):
    result = cli.invoke(main, ["report", "verify", str(tmp_path)])
    assert result.exit_code == 4 and "SHA256SUMS absent" in result.output
