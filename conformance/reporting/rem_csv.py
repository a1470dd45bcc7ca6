"""``rem.csv``: the REM export layout of the ANS (segur-rapport), then the harness's result columns."""

from __future__ import annotations

import csv
from pathlib import Path

from conformance.reporting import BaseReporter, reporter
from conformance.reporting.model import Report
from conformance.reporting.rem_layouts import REM_COLUMNS, RESULT_COLUMNS, rem_rows


@reporter
class RemCsvReporter(BaseReporter):
    """Writes ``rem.csv`` (UTF-8 with BOM and semicolons, as a French spreadsheet opens it)."""

    name = "csv"

    def write(self, report: Report, run_dir: Path) -> None:
        """One row per requirement and scenario."""
        with (run_dir / "rem.csv").open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow((*REM_COLUMNS, *RESULT_COLUMNS))
            writer.writerows(rem_rows(report, self.lang))
