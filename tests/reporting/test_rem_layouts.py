"""The ANS layouts (REM export, Convergence export) as CSV and XLSX, from a report."""

import csv

import openpyxl

from conformance.core.outcomes import CheckStatus, Verdict
from conformance.core.results import EvidenceRef, StepResult
from conformance.reporting.rem_csv import RemCsvReporter
from conformance.reporting.rem_layouts import (
    CONVERGENCE_COLUMNS,
    MAX_PROOFS,
    REM_COLUMNS,
    RESULT_COLUMNS,
    convergence_rows,
    rem_rows,
)
from conformance.reporting.rem_xlsx import RemXlsxReporter
from tests.reporting.test_html_report import make_report, requirement


def _rows(report):
    return [dict(zip((*REM_COLUMNS, *RESULT_COLUMNS), row, strict=True)) for row in rem_rows(report)]


def test_rem_columns_are_the_segur_rapport_ones_in_order():
    assert REM_COLUMNS[:11] == ("Exigence conditionnelle", "Profil", "ID Section", "Section", "Bloc", "Fonction",
                                "Nature de l'exigence", "N° exigence", "Énoncé (DOIT)/(PEUT)", "N° scénario",
                                "Scénario de conformité")
    assert REM_COLUMNS[11:15] == ("N° preuve 1", "Preuve 1", "N° preuve 2", "Preuve 2")
    assert len(REM_COLUMNS) == 11 + 2 * MAX_PROOFS
    assert CONVERGENCE_COLUMNS[:9] == ("Profil", "Chapitre", "ID", "Exigence", "Fonction", "N° scénario",
                                       "Scénario de conformité", "N° preuve", "Preuve")


def test_a_requirement_row_carries_its_scenario_and_numbered_proofs():
    rows = {r["N° exigence"]: r for r in _rows(make_report())}
    http = rows["DUI-HTTP-01"]
    assert (http["N° scénario"], http["Scénario de conformité"]) == ("SC-HTTP-01", "Lecture d’un patient")
    assert http["N° preuve 1"] == "SC-HTTP-01.01 (SC-HTTP-01/get/1)"
    assert http["Preuve 1"] == "evidence/SC-HTTP-01/get-1.json" and http["N° preuve 2"] == ""
    assert http["Nature de l'exigence"] == "EXIGENCE" and http["Verdict"] == "conforme"
    assert rows["DUI-HTTP-02"]["Constats"].startswith("SC-HTTP-01/get ")
    # An untested requirement keeps its row, with the reason.
    assert rows["DUI-MSS-02"]["Verdict"] == "non testé" and rows["DUI-MSS-02"]["Motif"] == "non sélectionné"


def test_conditional_is_non_for_the_general_profile_only():
    report = make_report()
    report.requirements[0] = report.requirements[0].model_copy(update={"profile": "Général"})
    conditional = {r["N° exigence"]: r["Exigence conditionnelle"] for r in _rows(report)}
    assert conditional["DUI-HTTP-01"] == "NON" and conditional["DUI-HTTP-02"] == "OUI"


def test_proofs_past_ten_go_to_the_harness_column():
    report = make_report()
    refs = [EvidenceRef(id=f"SC-HTTP-01/get/{n}", kind="http", path=f"evidence/SC-HTTP-01/get-{n}.json",
                        summary="GET") for n in range(1, 13)]
    report.evidence = refs
    report.scenarios[0].step_results = [StepResult(step_id="get", title="Lire", kind="http",
                                                   status=CheckStatus.PASSED, evidence=refs)]
    report.requirements = [requirement("DUI-HTTP-01", Verdict.CONFORME, scenarios=["SC-HTTP-01"],
                                       evidence=[r.id for r in refs])]
    (row,) = _rows(report)
    assert row["N° preuve 10"] == "SC-HTTP-01.10 (SC-HTTP-01/get/10)"
    assert row["Autres preuves"] == "evidence/SC-HTTP-01/get-11.json evidence/SC-HTTP-01/get-12.json"


def test_convergence_has_one_row_per_proof_and_an_order():
    rows = [dict(zip((*CONVERGENCE_COLUMNS, *RESULT_COLUMNS), row, strict=True))
            for row in convergence_rows(make_report())]
    assert [r["Ordre"] for r in rows] == [str(n) for n in range(1, len(rows) + 1)]
    assert {r["ID"] for r in rows} == {"DUI-HTTP-01", "DUI-HTTP-02", "DUI-HTTP-03", "DUI-MSS-01", "DUI-MSS-02"}
    assert rows[0]["Criticité"] == "Majeure" and rows[0]["Preuve"] == "evidence/SC-HTTP-01/get-1.json"


def test_csv_and_xlsx_hold_the_same_rows(tmp_path):
    report = make_report()
    RemCsvReporter().write(report, tmp_path)
    RemXlsxReporter().write(report, tmp_path)
    with (tmp_path / "rem.csv").open(encoding="utf-8-sig") as handle:
        from_csv = [list(row) for row in csv.reader(handle, delimiter=";")]
    sheet = openpyxl.load_workbook(tmp_path / "rem.xlsx")["Exigences"]
    from_xlsx = [["" if c.value is None else str(c.value) for c in row] for row in sheet.iter_rows()]
    assert from_xlsx == from_csv
    link = sheet.cell(row=2, column=REM_COLUMNS.index("Preuve 1") + 1).hyperlink
    assert link is not None and link.target == "evidence/SC-HTTP-01/get-1.json"
    assert openpyxl.load_workbook(tmp_path / "convergence.xlsx")["Export"].max_row > 1


def test_hostile_text_in_xlsx_is_text_never_a_formula_nor_a_crash(tmp_path):
    report = make_report()
    report.requirements[0] = report.requirements[0].model_copy(
        update={"reason": '=HYPERLINK("http://evil.example","x")', "text": "texte\x00\x1b[31m du DUI"})
    RemXlsxReporter().write(report, tmp_path)
    sheet = openpyxl.load_workbook(tmp_path / "rem.xlsx")["Exigences"]
    reason = sheet.cell(row=2, column=len(REM_COLUMNS) + 2)
    assert reason.data_type == "s" and reason.value.startswith("=HYPERLINK")
    assert sheet.cell(row=2, column=REM_COLUMNS.index("Énoncé (DOIT)/(PEUT)") + 1).value == "texte[31m du DUI"
