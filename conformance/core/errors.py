"""Errors a user can act on: bad files, bad configuration, bad usage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SourceError:
    """One problem in a data file, located by 1-based line and column."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConformanceError(Exception):
    """Base of the errors the CLI turns into a clean message and an exit code."""


class SourceErrors(ConformanceError):
    """Invalid scenario, catalogue or fixture files; carries every error found, not just the first."""

    def __init__(self, errors: list[SourceError]) -> None:
        self.errors = sorted(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class ConfigError(ConformanceError):
    """Invalid target configuration; the message names the file and the key."""


class UsageError(ConformanceError):
    """Options that do not go together."""


class PluginError(ConformanceError):
    """A third-party extension that cannot be loaded; the message names it (the CLI exits 3)."""
