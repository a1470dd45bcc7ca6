"""Usage errors exit 4 with one French line that names the command, as the README's exit-code table says."""

import errno
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
