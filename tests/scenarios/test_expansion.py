"""``for_each``: one template, one scenario per item; errors located at the item or at the template."""

from pathlib import Path

import pytest

from conformance.checks import signatures
from conformance.cli import main
from conformance.core.errors import SourceErrors
from conformance.core.yamlsource import load_yaml
from conformance.engine.driver import driver_operations
from conformance.scenarios.loader import Vocabulary, load_scenarios
from conformance.session import load_plugins, load_suite

load_plugins()

TEMPLATE = """\
id: SCN-HTTP-90
title: "Lecture par ${ligne.persona}"
requirements: ["${ligne.exigence}"]
for_each:
  as: ligne
  id: "${ligne.persona}"
  in:
    - {persona: medecin, exigence: DUI-HTTP-02, codes: [200]}
    - {persona: infirmier, exigence: DUI-HTTP-03, codes: [200, 404]}
steps:
  - id: creer
    driver: {operation: create-usager, body: {traits: {birth_name: "${ligne.persona}"}}}
    captures: {usager_id: {json: "$.id"}}
  - id: lire
    fhir: {read: Patient, id: "${usager_id}", auth: {persona: "${ligne.persona}"}}
    checks:
      - status_code_in: {codes: "${ligne.codes}"}
"""


def vocabulary(fixtures=None, documents=None) -> Vocabulary:
    return Vocabulary(
        checks=signatures(), operations=frozenset(driver_operations()),
        token_variants=frozenset({"expired"}), personas=frozenset({"medecin", "infirmier"}),
        fixtures=fixtures or {}, fixture_documents=documents or {},
        requirements=frozenset({"DUI-HTTP-02", "DUI-HTTP-03"}),
    )


def load(write, text: str, **vocab) -> list:
    return load_scenarios([write("s.yaml", text)], vocabulary(**vocab))


def errors_of(write, text: str, **vocab) -> list[tuple[str, int, str]]:
    with pytest.raises(SourceErrors) as info:
        load(write, text, **vocab)
    return [(Path(e.file).name, e.line, e.message) for e in info.value.errors]


def test_one_scenario_per_item_with_values_of_any_type(write):
    second, first = load(write, TEMPLATE)  # sorted by id
    assert (first.id, second.id) == ("SCN-HTTP-90-medecin", "SCN-HTTP-90-infirmier")
    assert first.title == "Lecture par medecin" and second.requirements == ("DUI-HTTP-03",)
    assert second.steps[1].checks[0].args == {"codes": [200, 404]}  # a whole reference keeps the list
    assert second.steps[1].action["auth"] == {"persona": "infirmier"}
    assert first.steps[1].action["id"] == "${usager_id}"  # run-time references stay for the run
    assert first.theme == "HTTP" and first.file.endswith("s.yaml")


def test_a_value_from_the_item_is_reported_at_the_item(write):
    text = TEMPLATE.replace("{persona: infirmier,", "{persona: infirmiere,")
    ((file, line, message),) = errors_of(write, text)
    assert (file, line) == ("s.yaml", 9)
    assert "persona inconnu « infirmiere »" in message and "SCN-HTTP-90-infirmiere" in message


def test_a_template_error_is_reported_at_the_template_naming_the_item(write):
    text = TEMPLATE.replace("status_code_in: {codes", "status_code_in: {code")
    found = errors_of(write, text)
    missing = [(ln, m) for _, ln, m in found if "argument obligatoire « codes » absent" in m]
    assert [ln for ln, _ in missing] == [17, 17]
    assert sorted(m.split("élément ")[1][-4:] for _, m in missing) == ["8:7)", "9:7)"]
    # the unknown key holds the item's value: reported at the item, naming the template's line too
    unknown = [(ln, m) for _, ln, m in found if "argument inconnu « code »" in m]
    assert [ln for ln, _ in unknown] == [8, 9] and all("s.yaml:17:" in m for _, m in unknown)


def test_unknown_item_field(write):
    text = TEMPLATE.replace('"${ligne.exigence}"', '"${ligne.exigences}"')
    found = errors_of(write, text)
    assert {(ln, "référence « ${ligne.exigences} » : pas de clé « exigences »" in m) for _, ln, m in found} == {
        (3, True)}


@pytest.mark.parametrize(("change", "line", "message"), [
    (('  as: ligne\n', ''), 5, "for_each : champ obligatoire « as » absent"),
    (('id: "${ligne.persona}"', 'id: "${ligne.persona}-${run.id}"'), 6, "seul « ligne » est connu ici"),
    (('id: "${ligne.persona}"', 'id: "${ligne.exigence}"'), 8, "minuscules, chiffres et tirets attendus"),
    (('id: "${ligne.persona}"', 'id: "x"'), 9, "scénario SCN-HTTP-90-x déjà défini"),
    (('  as: ligne\n', '  as: run\n'), 5, "masque une variable"),
    (('  in:\n', '  where: {persona: directeur}\n  in:\n'), 7, "aucun élément ne correspond"),
    (('  in:\n    - {persona: medecin', '  in: "${lignes}"\n  old:\n    - {persona: medecin'), 5,
     "for_each : champ inconnu « old »"),
])
def test_for_each_block_errors_are_located(write, change, line, message):
    found = errors_of(write, TEMPLATE.replace(*change))
    assert any(ln == line and message in m for _, ln, m in found), found


def test_where_keeps_matching_items(write):
    text = TEMPLATE.replace("  in:\n", "  where: {exigence: DUI-HTTP-03}\n  in:\n")
    assert [s.id for s in load(write, text)] == ["SCN-HTTP-90-infirmier"]


def test_items_from_a_data_set_are_located_in_their_file(write):
    data = write("donnees.yaml", "lignes:\n  - {persona: medecin, exigence: DUI-HTTP-02, codes: [200]}\n"
                                 "  - {persona: directeur, exigence: DUI-HTTP-02, codes: [200]}\n")
    doc, _ = load_yaml(data)
    text = TEMPLATE.replace(TEMPLATE[TEMPLATE.index("  in:\n"):TEMPLATE.index("steps:")], '  in: "${lignes}"\n')
    ((file, line, message),) = errors_of(write, text, fixtures=doc.data, documents={"lignes": doc})
    assert (file, line) == ("donnees.yaml", 3) and "persona inconnu « directeur »" in message
    unknown = errors_of(write, text.replace("${lignes}", "${lignes.rien}"), fixtures=doc.data,
                        documents={"lignes": doc})
    assert [(ln, "pas de clé « rien »" in m) for _, ln, m in unknown] == [(7, True)]


def test_builtin_suite_generates_one_scenario_per_cell_of_the_matrix(suite):
    rows = suite.fixtures["habilitations"]["matrice"]
    ids = {s.id for s in suite.scenarios}
    for row in rows:
        cell = f"{row['profil']}-{row['categorie']}"
        assert {f"SCN-ACC-13-{cell}", f"SCN-ACC-14-{cell}"} <= ids
    identity = [r for r in rows if r["categorie"] == "identite"]
    assert {s.id for s in suite.scenarios if s.id.startswith("SCN-ACC-13b-")} == {
        f"SCN-ACC-13b-{r['profil']}" for r in identity}
    assert len([s for s in suite.scenarios if s.id.startswith("SCN-ACC-01-")]) == 11


def test_cli_lint_prints_the_item_location(write, cli):
    path = write("s.yaml", TEMPLATE.replace("{persona: infirmier,", "{persona: infirmiere,"))
    result = cli.invoke(main, ["scenarios", "lint", str(path)])
    assert result.exit_code == 4
    assert f"{path}:9:" in result.stderr and "persona inconnu « infirmiere »" in result.stderr


MATRIX = Path(__file__).resolve().parents[2] / "fixtures" / "habilitations.yaml"


def override(write, edit) -> Path:
    text = MATRIX.read_text(encoding="utf-8")
    return write("matrice.yaml", edit(text))


def test_an_assessor_matrix_changes_the_generated_suite(write):
    path = override(write, lambda t: t.replace(
        "{profil: medecin, categorie: soins, lecture: autorise", "{profil: medecin, categorie: soins, lecture: refuse"))
    suite = load_suite(fixture_overrides={"habilitations": path})
    (scenario,) = [s for s in suite.scenarios if s.id == "SCN-ACC-13-medecin-soins"]
    assert scenario.steps[2].checks[0].args["decision"] == "refuse"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("    - {profil: directeur, categorie: identite, lecture: autorise, ecriture: refuse, "
                         "sources: [rniv-1], notre_lecture: true}\n", ""),
     "matrice incomplète : aucune ligne pour le profil « directeur » et la catégorie « identite »"),
    (lambda t: t.replace("{profil: directeur, categorie: identite", "{profil: directeur, categorie: social"),
     "cellule directeur × social déjà définie"),
    (lambda t: t.replace("{profil: directeur, categorie: identite", "{profil: directrice, categorie: identite"),
     "profil inconnu « directrice »"),
    (lambda t: t.replace("lecture: autorise, ecriture: refuse, sources: [rniv-1]",
                         "lecture: oui, ecriture: refuse, sources: [rniv-1]", 1), "valeur 'oui' non permise"),
    (lambda t: t.replace("sources: [casf-l315-17], notre_lecture: true}", "sources: [inconnue], notre_lecture: true}",
                         1), "source « inconnue » absente"),
    (lambda t: t.replace("    directeur: {libelle: directeur d'établissement", "    comptable: {libelle: comptable"
                         ", role: \"999\", bris_de_glace: false}\n    directeur: {libelle: directeur d'établissement"),
     "profil « comptable » sans persona du même nom"),
])
def test_matrix_problems_are_located(write, edit, message):
    path = override(write, edit)
    with pytest.raises(SourceErrors) as info:
        load_suite(fixture_overrides={"habilitations": path})
    found = [e for e in info.value.errors if message in e.message]
    assert found and all(e.file == str(path) and e.line > 1 for e in found), info.value.errors


def test_vendor_config_names_the_matrix_and_bad_files_exit_4(write, cli, tmp_path):
    path = override(write, lambda t: t.replace(
        "{profil: medecin, categorie: soins, lecture: autorise", "{profil: medecin, categorie: soins, lecture: refuse"))
    config = write("vendor.toml", f'[access]\nhabilitations = "{path.name}"\n')
    result = cli.invoke(main, ["run", "--config", str(config), "--requirement", "DUI-ACC-13", "--no-interactive",
                               "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output  # the reference DUI enforces the default matrix
    assert "DUI-ACC-13" in result.output
    broken = write("matrice.yaml", "habilitations: {version: x}\n")
    result = cli.invoke(main, ["run", "--config", str(config), "--report-dir", str(tmp_path / "r2")])
    assert result.exit_code == 4 and f"{broken}:1:" in result.stderr
    missing = write("vendor2.toml", '[access]\nhabilitations = "absente.yaml"\n')
    result = cli.invoke(main, ["run", "--config", str(missing), "--report-dir", str(tmp_path / "r3")])
    assert result.exit_code == 4 and "access.habilitations : fichier introuvable" in result.stderr
