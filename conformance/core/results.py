"""Results of steps and checks, as the engine records them and reporters read them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from conformance.core.findings import Finding
from conformance.core.outcomes import CheckStatus


class EvidenceRef(BaseModel):
    """A numbered proof stored under the run's ``evidence/`` folder."""

    id: str
    kind: str
    path: str
    summary: str


class CheckResult(BaseModel):
    """What one check call concluded, and for which requirements."""

    check: str
    status: CheckStatus
    requirements: list[str]
    findings: list[Finding] = Field(default_factory=list)
    #: why it was skipped or errored
    message: str | None = None


class StepResult(BaseModel):
    """One step: its status, its checks, its evidence and what it captured."""

    step_id: str
    title: str
    kind: str
    status: CheckStatus
    duration_ms: float = 0.0
    checks: list[CheckResult] = Field(default_factory=list)
    evidence: list[EvidenceRef] = Field(default_factory=list)
    captures: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None


def worst_status(statuses: Iterable[CheckStatus]) -> CheckStatus:
    """Worst of some statuses: failed, then error, then skipped; passed when there are none."""
    seen = set(statuses)
    for status in (CheckStatus.FAILED, CheckStatus.ERROR, CheckStatus.SKIPPED):
        if status in seen:
            return status
    return CheckStatus.PASSED


def step_status(checks: list[CheckResult]) -> CheckStatus:
    """Worst status among a step's checks (passed when it has none)."""
    return worst_status(c.status for c in checks)
