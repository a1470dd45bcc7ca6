"""Findings: what a check observed that departs from the expectation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from conformance.core.outcomes import Severity


class Finding(BaseModel):
    """One observed defect, located and explained in French."""

    model_config = ConfigDict(frozen=True)

    #: stable rule id inside the check, e.g. ``content-type`` or ``fhirVersion``
    rule: str
    message: str
    severity: Severity = Severity.ERROR
    #: XPath, JSON path, MIME part or HTTP element the finding points at
    location: str | None = None
    expected: Any = None
    actual: Any = None
    #: name of the check that produced it; filled in by the engine
    check: str | None = None
    #: the official text that states the rule, when it is not the requirement's own source (e.g. a volet, an IG
    #: StructureDefinition or invariant)
    source: str | None = None
    #: True when no cited source states the rule as such (an invariant or reading the project wrote itself): every
    #: report labels it « lecture du projet », never as the IG's or the volet's word
    project_reading: bool = False


class CheckFailed(Exception):
    """Raised by a check (or a helper it calls) to stop at once with findings."""

    def __init__(self, *findings: Finding) -> None:
        super().__init__("; ".join(f.message for f in findings))
        self.findings = list(findings)


class CheckSkipped(Exception):
    """Raised by a check that cannot be evaluated here; the reason is shown as ``non testé``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
