"""Which scenarios prove which requirement, and what is left uncovered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.requirements.catalogue import Catalogue


@dataclass
class Coverage:
    """Requirement → scenario ids, plus the gaps in both directions."""

    scenarios_by_requirement: dict[str, list[str]] = field(default_factory=dict)
    #: (scenario id, requirement id) pairs naming a requirement the catalogue does not have
    unknown: list[tuple[str, str]] = field(default_factory=list)

    @property
    def uncovered(self) -> list[str]:
        """Requirements no scenario proves."""
        return [req for req, scenarios in self.scenarios_by_requirement.items() if not scenarios]

    @property
    def complete(self) -> bool:
        """True when every requirement is proved and every named requirement exists."""
        return not self.uncovered and not self.unknown


def coverage(catalogue: Catalogue, bindings: Iterable[tuple[str, Iterable[str]]]) -> Coverage:
    """Coverage from (scenario id, requirement ids) pairs."""
    result = Coverage({req.id: [] for req in catalogue})
    for scenario_id, requirement_ids in bindings:
        for req_id in requirement_ids:
            if req_id in result.scenarios_by_requirement:
                result.scenarios_by_requirement[req_id].append(scenario_id)
            else:
                result.unknown.append((scenario_id, req_id))
    return result
