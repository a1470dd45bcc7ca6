"""Usage errors exit 4 with one French line that names the command, as the README's exit-code table says."""

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main

USAGE_ERRORS = {
    "option inconnue": (["run", "--bogus"], "option inconnue : --bogus"),
    "option mal orthographiée": (["run", "--targt", "http://127.0.0.1:1"], "vouliez-vous dire --target"),
    "commande inconnue": (["lancer"], "commande inconnue : 'lancer'"),
    "cible sans schéma": (["run", "--target", "not-a-url"], "n'est pas une URL http:// ou https://"),
    "cible ftp": (["run", "--target", "ftp://127.0.0.1/"], "n'est pas une URL http:// ou https://"),
    "cible sans hôte": (["run", "--target", "http://"], "avec un hôte"),
    "port hors limites": (["run", "--target", "http://127.0.0.1:99999"], "n'est pas une URL"),
    "dossier de scénarios absent": (["run", "--suite", "/nonexistent"], "« /nonexistent » n'existe pas"),
    "langue inconnue": (["run", "--lang", "de"], "valeurs permises : fr, en"),
    "graine non numérique": (["run", "--seed", "x"], "un nombre est attendu"),
    "argument manquant": (["report", "render"], "argument manquant : 'RUN_DIR'"),
}


@pytest.mark.parametrize("args, said", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_error_exits_4_with_a_french_line(cli, tmp_path, args, said):
    result = cli.invoke(main, [*args, "--report-dir", str(tmp_path)] if args[0] == "run" else args)
    assert result.exit_code == 4, result.output
    assert said in result.output
    assert "Error:" not in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir()), "a refused command wrote nothing"


def test_usage_error_in_english_with_lang_en(cli):
    result = cli.invoke(main, ["run", "--lang", "en", "--bogus"])
    assert result.exit_code == 4
    assert "No such option" in result.output and "try : dui-conformance run --help" in result.output


def test_installed_command_exits_4_on_usage_error():
    # Through the real process: Click's standalone mode would exit 2, which the README reserves for an interruption.
    command = Path(sys.executable).with_name("dui-conformance")
    done = subprocess.run([str(command), "run", "--bogus"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("dui-conformance run : option inconnue")


def test_unexpected_crash_exits_3_with_one_line(cli, monkeypatch):
    def crash(*_args, **_kwargs):
        raise RuntimeError("panne simulée")

    monkeypatch.setattr("conformance.session.load_suite", crash)
    result = cli.invoke(main, ["requirements"])
    assert result.exit_code == 3, result.output
    assert "erreur du harnais : RuntimeError: panne simulée" in result.output and "Traceback" not in result.output


def test_help_and_version_exit_0(cli):
    assert cli.invoke(main, ["--help"]).exit_code == 0
    assert cli.invoke(main, ["run", "--help"]).exit_code == 0
    assert cli.invoke(main, ["--version"]).exit_code == 0


def test_a_full_disk_exits_3_with_one_line(cli, tmp_path, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "report.html"))

    monkeypatch.setattr("conformance.cli.write_reports", full)
    result = cli.invoke(main, ["run", "--requirement", "DUI-HTTP-02", "--report-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert f"erreur du harnais : disque plein : {tmp_path / 'report.html'}" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.glob("*/events.ndjson")), "what the run recorded is kept"


def test_checks_lists_every_check_with_its_arguments_and_requirements(cli):
    from conformance.checks import CHECKS

    result = cli.invoke(main, ["checks", "--json"])
    assert result.exit_code == 0, result.output
    items = {item["name"]: item for item in json.loads(result.output)}
    assert set(items) == set(CHECKS)
    status = items["status_code_in"]
    assert [a["name"] for a in status["arguments"] if a["required"]] == ["codes"]
    assert status["doc"] and "DUI-HTTP-02" in status["requirements"]
    text = cli.invoke(main, ["checks"]).output
    assert "status_code_in(codes" in text and "exigences : " in text


def test_a_broken_plugin_exits_3_with_its_name(cli, monkeypatch):
    import importlib.metadata

    import conformance.session as session

    broken = importlib.metadata.EntryPoint(name="vendeur-x", value="paquet_absent_de_test:plugin",
                                           group=session.PLUGIN_GROUP)
    monkeypatch.setattr(session, "_plugins_loaded", False)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken] if group == session.PLUGIN_GROUP
                        else [])
    result = cli.invoke(main, ["checks"])
    assert result.exit_code == 3, result.output
    assert "extension « vendeur-x » (paquet_absent_de_test:plugin) impossible à charger : ModuleNotFoundError" in \
        result.output
    assert "Traceback" not in result.output
