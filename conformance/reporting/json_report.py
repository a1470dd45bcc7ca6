"""``report.json``: the machine-readable report (contract: ``schemas/report.schema.json``)."""

from __future__ import annotations

from pathlib import Path

from conformance.reporting import reporter
from conformance.reporting.model import Report


@reporter
class JsonReporter:
    """Writes ``report.json``."""

    name = "json"

    def __init__(self, lang: str = "fr") -> None:
        self.lang = lang

    def write(self, report: Report, run_dir: Path) -> None:
        """Write the report as indented JSON."""
        (run_dir / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
