"""Which scenarios prove which requirement, which checks and faults back each obligation, and the gaps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from conformance.requirements.catalogue import Catalogue, obligation_requirement

#: (scenario id, step id, check name, requirements the call is bound to)
Binding = tuple[str, str, str, tuple[str, ...]]


@dataclass
class Coverage:
    """Requirement → scenario ids, obligation → checks bound and faults, plus the gaps in every direction."""

    scenarios_by_requirement: dict[str, list[str]] = field(default_factory=dict)
    #: (scenario id, requirement id) pairs naming a requirement the catalogue does not have
    unknown: list[tuple[str, str]] = field(default_factory=list)
    #: obligation id → the checks it lists that some scenario binds to its requirement
    checks_by_obligation: dict[str, list[str]] = field(default_factory=dict)
    #: obligation id → the faults that claim to break it (None: faults were not given)
    faults_by_obligation: dict[str, list[str]] | None = None
    #: (fault name, target) pairs naming an obligation or requirement the catalogue does not have
    unknown_targets: list[tuple[str, str]] = field(default_factory=list)
    #: requirements whose text is not yet split into obligations
    without_obligations: list[str] = field(default_factory=list)

    @property
    def uncovered(self) -> list[str]:
        """Requirements no scenario proves."""
        return [req for req, scenarios in self.scenarios_by_requirement.items() if not scenarios]

    @property
    def obligations_without_check(self) -> list[str]:
        """Obligations none of whose checks is bound to their requirement in a scenario."""
        return [ob for ob, checks in self.checks_by_obligation.items() if not checks]

    @property
    def obligations_without_fault(self) -> list[str]:
        """Obligations no fault of the reference DUI breaks (empty when faults were not given)."""
        return [ob for ob, faults in (self.faults_by_obligation or {}).items() if not faults]

    @property
    def complete(self) -> bool:
        """True when every requirement is proved, every obligation checked and broken, every name known."""
        return not (self.uncovered or self.unknown or self.obligations_without_check
                    or self.obligations_without_fault or self.unknown_targets)


def coverage(catalogue: Catalogue, scenarios: Iterable[tuple[str, Iterable[str]]], bindings: Iterable[Binding] = (),
             fault_targets: Mapping[str, Iterable[str]] | None = None) -> Coverage:
    """Coverage from (scenario id, requirement ids) pairs, check bindings and each fault's targets."""
    result = Coverage({req.id: [] for req in catalogue})
    for scenario_id, requirement_ids in scenarios:
        for req_id in requirement_ids:
            if req_id in result.scenarios_by_requirement:
                result.scenarios_by_requirement[req_id].append(scenario_id)
            else:
                result.unknown.append((scenario_id, req_id))
    bound: dict[str, set[str]] = {}
    for _, _, check, requirements in bindings:
        for req_id in requirements:
            bound.setdefault(req_id, set()).add(check)
    obligations = catalogue.obligations
    for ob in obligations.values():
        result.checks_by_obligation[ob.id] = [c for c in ob.checks if c in bound.get(ob.requirement, set())]
    result.without_obligations = [r.id for r in catalogue if not r.obligations]
    if fault_targets is not None:
        result.faults_by_obligation = {ob: [] for ob in obligations}
        for name, targets in fault_targets.items():
            for target in targets:
                if target in obligations:
                    result.faults_by_obligation[target].append(name)
                elif target != "*" and (target != obligation_requirement(target) or target not in catalogue):
                    result.unknown_targets.append((name, target))
    return result
