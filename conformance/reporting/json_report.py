"""``report.json``: the machine-readable report (contract: ``schemas/report.schema.json``)."""

from __future__ import annotations

from pathlib import Path

from conformance.reporting import BaseReporter, reporter
from conformance.reporting.model import Report


@reporter
class JsonReporter(BaseReporter):
    """Writes ``report.json``."""

    name = "json"


    def write(self, report: Report, run_dir: Path) -> None:
        """Write the report as indented JSON."""
        (run_dir / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
