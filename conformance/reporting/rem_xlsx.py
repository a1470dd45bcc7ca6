"""``rem.xlsx`` and ``convergence.xlsx``: the ANS export layouts as the spreadsheets an assessor files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from conformance.reporting import BaseReporter, reporter
from conformance.reporting.model import Report
from conformance.reporting.rem_layouts import (
    CONVERGENCE_COLUMNS,
    REM_COLUMNS,
    RESULT_COLUMNS,
    convergence_rows,
    rem_rows,
)


@reporter
class RemXlsxReporter(BaseReporter):
    """Writes ``rem.xlsx`` (sheet « Exigences ») and ``convergence.xlsx`` (sheet « Export »)."""

    name = "xlsx"

    def write(self, report: Report, run_dir: Path) -> None:
        """Both workbooks, proofs linked to their evidence files."""
        _workbook(run_dir / "rem.xlsx", "Exigences", (*REM_COLUMNS, *RESULT_COLUMNS), rem_rows(report, self.lang))
        _workbook(run_dir / "convergence.xlsx", "Export", (*CONVERGENCE_COLUMNS, *RESULT_COLUMNS),
                  convergence_rows(report, self.lang))


def _workbook(path: Path, title: str, columns: Sequence[str], rows: Iterable[list[str]]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    book = Workbook(write_only=False)
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    proofs = {i for i, name in enumerate(columns) if name.startswith("Preuve")}
    for values in rows:
        # Text from the DUI may hold control characters, which XLSX cannot store: they are dropped, never fatal.
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", value) for value in values])
        for i, cell in enumerate(sheet[sheet.max_row]):
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # a value, never a formula (CSV/XLSX injection)
            if i in proofs and cell.value and str(cell.value).startswith("evidence/"):
                cell.hyperlink = str(cell.value)  # relative: the link follows the run folder when it is moved
    sheet.freeze_panes = "A2"
    book.save(path)
