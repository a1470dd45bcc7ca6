"""Which scenarios a run plays, and why each requirement left out is left out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.requirements.catalogue import Catalogue
from conformance.scenarios.model import Scenario

NOT_SELECTED = "non sélectionnée pour cette exécution"
NO_SCENARIO = "aucun scénario ne couvre cette exigence"


@dataclass
class Selection:
    """The scenarios to play and, for every requirement not in play, the reason."""

    scenarios: list[Scenario]
    requirements: set[str]
    not_selected: dict[str, str] = field(default_factory=dict)


def select(
    catalogue: Catalogue, scenarios: Iterable[Scenario], themes: Iterable[str] = (), requirements: Iterable[str] = ()
) -> Selection:
    """Keep the requirements matching every filter given, and the scenarios that prove at least one of them."""
    themes, wanted = {t.upper() for t in themes}, set(requirements)
    chosen = {r.id for r in catalogue if (not themes or r.theme in themes) and (not wanted or r.id in wanted)}
    scenarios = list(scenarios)
    covered = {req for s in scenarios for req in s.requirements}
    selection = Selection([s for s in scenarios if chosen & set(s.requirements)], chosen)
    for req in catalogue:
        if req.id not in covered:
            selection.not_selected[req.id] = NO_SCENARIO
        elif req.id not in chosen:
            selection.not_selected[req.id] = NOT_SELECTED
    selection.requirements -= set(selection.not_selected)
    return selection
