"""Events the runner emits; reporters and the event log consume them. One JSON object per line on disk."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from conformance.core.outcomes import CheckStatus
from conformance.core.results import StepResult


class RequirementInfo(BaseModel):
    """A requirement as the run saw it, so a report can be rebuilt from the events alone."""

    id: str
    theme: str
    section: str
    profile: str
    title: str
    text: str
    level: str
    criticality: str
    source: str
    uncertain: bool = False
    #: why it will not be tested in this run (not selected, no scenario…); None when selected
    not_selected: str | None = None


class ScenarioInfo(BaseModel):
    """A selected scenario."""

    id: str
    title: str
    theme: str
    requirements: list[str]
    file: str
    steps: int


class _Event(BaseModel):
    at: float = Field(default_factory=time.time)


class RunStarted(_Event):
    """The run's identity and everything a report must record about it."""

    type: Literal["run-started"] = "run-started"
    run_id: str
    tool_version: str
    suite_version: str
    catalogue_version: str
    target: dict[str, Any]
    faults: list[str] = Field(default_factory=list)
    seed: int
    lang: str = "fr"
    selection: dict[str, list[str]] = Field(default_factory=dict)
    requirements: list[RequirementInfo]
    scenarios: list[ScenarioInfo]
    simulators: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: validation kits pinned for the run (name, path, sha256 of the manifest, workarounds)
    kits: list[dict[str, Any]] = Field(default_factory=list)
    #: the run fails when EXIGENCEs of the catalogue are left untested (``--require-complete``)
    require_complete: bool = False


class ScenarioStarted(_Event):
    """A scenario begins."""

    type: Literal["scenario-started"] = "scenario-started"
    scenario_id: str


class StepFinished(_Event):
    """A step ended with its checks and evidence."""

    type: Literal["step-finished"] = "step-finished"
    scenario_id: str
    result: StepResult


class ScenarioFinished(_Event):
    """A scenario ended."""

    type: Literal["scenario-finished"] = "scenario-finished"
    scenario_id: str
    status: CheckStatus
    duration_ms: float


class RunFinished(_Event):
    """The run ended, completely or not."""

    type: Literal["run-finished"] = "run-finished"
    duration_ms: float
    interrupted: bool = False
    error: str | None = None


Event = Annotated[
    RunStarted | ScenarioStarted | StepFinished | ScenarioFinished | RunFinished, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def dump_event(event: Event) -> str:
    """One line of ``events.ndjson``."""
    return event.model_dump_json()


def parse_event(line: str) -> Event:
    """Parse one line of ``events.ndjson``."""
    return _ADAPTER.validate_json(line)


class EventLog:
    """Appends each event to ``events.ndjson`` and flushes it, so a killed run keeps what it recorded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._file.write(dump_event(event) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_events(path: Path) -> list[Event]:
    """Every complete event of a log; a line cut by a kill is ignored."""
    events: list[Event] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError:
            break
        events.append(parse_event(line))
    return events
