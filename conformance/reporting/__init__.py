"""Reporters: each turns the report model into one output format, registered with ``@reporter``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from conformance.core.registry import Registry
from conformance.reporting.model import Report, ReportBuilder

BUILTIN_REPORTERS = ("json_report", "html_report", "junit", "allure", "rem_csv")


class Reporter(Protocol):
    """Writes one format of a report into the run folder."""

    #: registry name
    name: str

    def __init__(self, lang: str = "fr") -> None: ...

    def write(self, report: Report, run_dir: Path) -> None:
        """Write the files of this format under ``run_dir``."""


class BaseReporter:
    """Common base of the built-in reporters: the language of what they write."""

    name = ""

    def __init__(self, lang: str = "fr") -> None:
        self.lang = lang


REPORTERS: Registry[type[Reporter]] = Registry("reporter")


def reporter(cls: type[Reporter]) -> type[Reporter]:
    """Register a reporter class under its ``name``."""
    return REPORTERS.add(cls.name, cls)


def load_builtin_reporters() -> None:
    """Import the built-in reporter modules (registration happens at import)."""
    for module in BUILTIN_REPORTERS:
        importlib.import_module(f"conformance.reporting.{module}")


def write_reports(report: Report, run_dir: Path, lang: str = "fr", names: list[str] | None = None) -> None:
    """Write every registered format, or only ``names``."""
    load_builtin_reporters()
    for name, cls in REPORTERS.items():
        if names is None or name in names:
            cls(lang).write(report, run_dir)


__all__ = ["REPORTERS", "BaseReporter", "Report", "ReportBuilder", "Reporter", "reporter", "write_reports"]
