"""Everything a run needs, assembled once by the CLI or the pytest plugin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.engine.evidence import EvidenceStore
from conformance.requirements.catalogue import Catalogue
from conformance.scenarios.model import Scenario
from conformance.scenarios.selection import Selection
from conformance.simulators import Simulator
from conformance.transport.client import VendorClient

#: asks the assessor something; returns the answer, or None when the timeout passed
Prompt = Callable[[str, float], Awaitable[str | None]]


@dataclass
class RunContext:
    """The target, the suite, the simulators and the options of one run."""

    run_id: str
    client: VendorClient
    catalogue: Catalogue
    selection: Selection
    fixtures: Mapping[str, Any]
    evidence: EvidenceStore
    seed: int
    suite_version: str
    target: dict[str, Any]
    simulators: dict[str, Simulator] = field(default_factory=dict)
    faults: tuple[str, ...] = ()
    manual_operations: frozenset[str] = frozenset()
    #: None in non-interactive mode: manual steps are then ``non testé``
    prompt: Prompt | None = None
    lang: str = "fr"
    selection_args: dict[str, list[str]] = field(default_factory=dict)
    #: validation kits pinned for the run (name, path, sha256…), recorded in the report
    kits: list[dict[str, Any]] = field(default_factory=list)
    #: recorded for the report: the run fails when EXIGENCEs are left untested
    require_complete: bool = False

    @property
    def scenarios(self) -> list[Scenario]:
        """The selected scenarios, in order."""
        return self.selection.scenarios
