"""Scenario files with defects get file:line:column errors, from the loader and from the CLI."""

import pytest

from conformance.cli import main
from conformance.core.errors import SourceErrors
from conformance.session import load_suite

VALID = """\
id: SCN-HTTP-90
title: Essai
requirements: [DUI-HTTP-02]
steps:
  - id: creer
    driver:
      operation: create-usager
      body: {traits: "${identities.martin-jean.traits}"}
    captures:
      usager_id: {json: "$.id"}
  - id: lire
    fhir: {read: Patient, id: "${usager_id}"}
    checks:
      - status_code_in: {codes: [200]}
      - check: resource_type_is
        args: {type: Patient}
        requirements: [DUI-HTTP-02]
      - no_server_error
"""

DEFECTS = {
    "yaml-error": (VALID.replace("  - id: lire", "  - id: lire\n   bad: [1"), 12, "YAML invalide"),
    "unknown-check": (VALID.replace("no_server_error", "no_server_eror"), 18,
                      "vérification inconnue « no_server_eror »"),
    "unknown-requirement": (VALID.replace("[DUI-HTTP-02]\nsteps", "[DUI-HTTP-99]\nsteps"), 3,
                            "exigence inconnue du catalogue : DUI-HTTP-99"),
    "bad-capture-reference": (VALID.replace('id: "${usager_id}"', 'id: "${usager_idd}"'), 12,
                              "« usager_idd » n'est ni une capture"),
    "capture-used-before-defined": (VALID.replace("    captures:\n      usager_id: {json: \"$.id\"}\n", "").replace(
        "      - no_server_error\n", "      - no_server_error\n    captures:\n      usager_id: {json: \"$.id\"}\n"), 10,
        "« usager_id » n'est ni une capture"),
    "unknown-fixture-key": (VALID.replace("martin-jean", "martin-paul"), 8, "pas de clé « martin-paul »"),
    "unknown-argument": (VALID.replace("{codes: [200]}", "{codes: [200], code: 1}"), 14,
                         "status_code_in : argument inconnu « code »"),
    "missing-argument": (VALID.replace("{codes: [200]}", "{}"), 14, "argument obligatoire « codes » absent"),
    "unknown-operation": (VALID.replace("create-usager", "create-patient"), 7, "opération du driver inconnue"),
    "narrowed-to-foreign-requirement": (VALID.replace("        requirements: [DUI-HTTP-02]",
                                                      "        requirements: [DUI-HTTP-01]"), 17,
                                        "DUI-HTTP-01 n'est pas une exigence du scénario"),
    "two-actions": (VALID.replace("    fhir: {read", "    http: {method: GET, path: /}\n    fhir: {read"), 11,
                    "une étape a exactement une action"),
    "unknown-field": (VALID.replace("title: Essai", "title: Essai\ntitel: Essai"), 1, "champ inconnu « titel »"),
}


@pytest.mark.parametrize("defect", list(DEFECTS), ids=list(DEFECTS))
def test_defect_is_located(write, defect):
    text, line, message = DEFECTS[defect]
    path = write("s.yaml", text)
    with pytest.raises(SourceErrors) as info:
        load_suite([path])
    located = [(e.line, e.message) for e in info.value.errors]
    assert any(ln == line and message in msg for ln, msg in located), located


@pytest.mark.parametrize("defect", ["yaml-error", "unknown-check", "unknown-requirement", "bad-capture-reference"])
def test_lint_and_run_print_file_line_column(write, cli, tmp_path, defect):
    text, line, message = DEFECTS[defect]
    path = write("s.yaml", text)
    for args in (["scenarios", "lint", str(path)], ["run", "--suite", str(path), "--report-dir", str(tmp_path / "r")]):
        result = cli.invoke(main, args)
        assert result.exit_code == 4, result.output
        assert f"{path}:{line}:" in result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.output + result.stderr
    assert not (tmp_path / "r").exists()


def test_valid_file_lints_clean(write, cli):
    result = cli.invoke(main, ["scenarios", "lint", str(write("s.yaml", VALID))])
    assert result.exit_code == 0, result.stderr
    assert "1 scénario(s) valides" in result.output


def test_builtin_suite_lints_clean(cli):
    result = cli.invoke(main, ["scenarios", "lint"])
    assert result.exit_code == 0, result.stderr


def test_duplicate_scenario_ids_across_files(write):
    write("a/one.yaml", VALID)
    write("a/two.yaml", VALID)
    with pytest.raises(SourceErrors, match="scénario SCN-HTTP-90 déjà défini"):
        load_suite([write("a/one.yaml", VALID).parent])
