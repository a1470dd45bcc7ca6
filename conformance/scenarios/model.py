"""What a scenario is once loaded: immutable, located, ready to run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StepKind = Literal["driver", "fhir", "http", "await", "manual", "generate"]
STEP_KINDS: tuple[StepKind, ...] = ("driver", "fhir", "http", "await", "manual", "generate")
#: actions that send one request, alone or inside ``generate``
REQUEST_KINDS: tuple[StepKind, ...] = ("driver", "fhir", "http")
#: what the engine itself judges in a step, named like checks so that obligations can cite them: the wait of an
#: ``await`` step, a value a step must capture, an assessor's attestation of a manual step
ENGINE_CHECKS = frozenset({"reception", "capture", "attestation"})


@dataclass(frozen=True)
class CheckCall:
    """A named check with its arguments, bound to requirements (the scenario's unless narrowed)."""

    name: str
    args: dict[str, Any]
    requirements: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True)
class Capture:
    """A value a step extracts for later steps: a JSONPath, a header or an XPath."""

    name: str
    kind: Literal["json", "header", "xpath"]
    expression: str
    namespaces: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One action (driver operation, FHIR interaction, raw HTTP, wait on a simulator, manual step) and its checks."""

    id: str
    title: str
    kind: StepKind
    action: dict[str, Any]
    checks: tuple[CheckCall, ...] = ()
    captures: tuple[Capture, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Scenario:
    """An ordered list of steps proving one or more requirements."""

    id: str
    title: str
    requirements: tuple[str, ...]
    steps: tuple[Step, ...]
    persona: str | None = None
    tags: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    file: str = ""
    line: int = 0

    @property
    def theme(self) -> str:
        """The theme in the id (``SCN-<THEME>-NN``)."""
        return self.id.split("-")[1]

    def bindings(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """Every (step id, check name, requirements) the scenario can judge, the engine's own checks included."""
        found = []
        for step in self.steps:
            if step.kind == "await":
                found.append((step.id, "reception", self.requirements))
            elif step.kind == "manual":
                found.append((step.id, "attestation", self.requirements))
            if step.captures:
                found.append((step.id, "capture", self.requirements))
            found += [(step.id, call.name, call.requirements) for call in step.checks]
        return found
