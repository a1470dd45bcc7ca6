"""``rem.csv``: one row per requirement with the columns of the ANS REM spreadsheets."""

from __future__ import annotations

import csv
from pathlib import Path

from conformance.reporting import BaseReporter, reporter
from conformance.reporting.i18n import finding_text
from conformance.reporting.model import Report

COLUMNS = ("Profil", "Section", "Exigence", "Intitulé", "Niveau", "Criticité", "Source", "Scénario", "Verdict",
           "Motif", "Constats", "Preuves")


@reporter
class RemCsvReporter(BaseReporter):
    """Writes ``rem.csv`` (UTF-8 with BOM and semicolons, as a French spreadsheet opens it)."""

    name = "csv"


    def write(self, report: Report, run_dir: Path) -> None:
        """One row per requirement."""
        with (run_dir / "rem.csv").open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(COLUMNS)
            for req in report.requirements:
                writer.writerow([
                    req.profile, req.section, req.id, req.title, req.level, req.criticality, req.source,
                    " ".join(req.scenarios), req.verdict.value, req.reason or "",
                    " | ".join(f"{f.scenario_id}/{f.step_id} {finding_text(f, self.lang)}" for f in req.findings),
                    " ".join(req.evidence),
                ])
