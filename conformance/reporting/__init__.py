"""Reporters: each turns the report model into one output format, registered with ``@reporter``."""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path
from typing import Protocol

from conformance.core.registry import Registry
from conformance.reporting.model import Report, ReportBuilder

BUILTIN_REPORTERS = ("json_report", "html_report", "junit", "allure", "rem_csv", "rem_xlsx")
#: the link, next to the run folders, to the last run started
LATEST = "latest"


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


def write_reports(report: Report, run_dir: Path, lang: str = "fr", names: list[str] | None = None) -> str:
    """Write every registered format, or only ``names``, then the manifest; the manifest's own sha256."""
    from conformance.reporting.manifest import write_manifest

    load_builtin_reporters()
    for name, cls in REPORTERS.items():
        if names is None or name in names:
            cls(lang).write(report, run_dir)
    return write_manifest(run_dir)  # last: it covers every file written above and the evidence


__all__ = ["REPORTERS", "BaseReporter", "Report", "ReportBuilder", "Reporter", "reporter", "write_reports"]


def mark_latest(run_dir: Path) -> None:
    """Point ``<report dir>/latest`` at ``run_dir``; replaced in one step, so a reader never sees it missing."""
    link = run_dir.parent / LATEST
    if link.exists() and not link.is_symlink():
        return  # a folder or file of the user's that happens to have this name: never replaced
    temporary = run_dir.parent / f".{LATEST}-{run_dir.name}"
    # Without symlinks (some Windows setups), the run still counts: only the convenience link is missing.
    with contextlib.suppress(OSError):
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(temporary, link)
