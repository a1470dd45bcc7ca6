"""Load the requirement catalogue: data files a scenario author edits, checked with located errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from conformance.core.errors import SourceError, SourceErrors
from conformance.core.outcomes import Criticality, Level
from conformance.core.resources import data_path
from conformance.core.yamlsource import YamlDocument, load_yaml, schema_errors

CATALOGUE_FILE = "requirements.yaml"


@dataclass(frozen=True)
class Obligation:
    """One DOIT clause of a requirement (or of the source it cites), and the checks that enforce it."""

    id: str
    requirement: str
    text: str
    checks: tuple[str, ...]
    source: str = ""
    line: int = 0


@dataclass(frozen=True)
class Requirement:
    """One REM row."""

    id: str
    theme: str
    title: str
    text: str
    level: Level
    criticality: Criticality
    source: str
    section: str
    profile: str
    uncertain: bool = False
    depends_on: tuple[str, ...] = ()
    obligations: tuple[Obligation, ...] = ()
    file: str = ""
    line: int = 0


@dataclass
class Catalogue:
    """Every requirement by id, in file order, with the versions of the files they came from."""

    requirements: dict[str, Requirement] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        """One version string for reports."""
        return "+".join(self.versions)

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements.values())

    def __contains__(self, req_id: object) -> bool:
        return req_id in self.requirements

    def __getitem__(self, req_id: str) -> Requirement:
        return self.requirements[req_id]

    @property
    def obligations(self) -> dict[str, Obligation]:
        """Every obligation by id, in catalogue order."""
        return {o.id: o for r in self for o in r.obligations}

    @property
    def themes(self) -> list[str]:
        """Themes in catalogue order."""
        return list(dict.fromkeys(r.theme for r in self))

    def dependents(self, req_id: str) -> set[str]:
        """Requirements that depend on ``req_id``, directly or not."""
        found: set[str] = set()
        frontier = {req_id}
        while frontier:
            frontier = {r.id for r in self if set(r.depends_on) & frontier} - found
            found |= frontier
        return found


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(data_path("schemas", "requirements.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def obligation_requirement(target: str) -> str:
    """The requirement an obligation id belongs to (``DUI-CDA-06.a`` → ``DUI-CDA-06``); a requirement id is itself."""
    return target.split(".", 1)[0]


def _obligations(
    doc: YamlDocument, index: int, raw: dict[str, Any]
) -> tuple[tuple[Obligation, ...], list[SourceError]]:
    """A requirement's obligations; each id is the requirement's own id, a dot and a letter, used once."""
    found: list[Obligation] = []
    errors: list[SourceError] = []
    for j, item in enumerate(raw.get("obligations", ())):
        where = ("requirements", index, "obligations", j)
        if obligation_requirement(item["id"]) != raw["id"]:
            errors.append(doc.error((*where, "id"), f"l'obligation {item['id']} doit commencer par {raw['id']}."))
        elif any(o.id == item["id"] for o in found):
            errors.append(doc.error((*where, "id"), f"obligation {item['id']} déjà définie"))
        found.append(Obligation(id=item["id"], requirement=raw["id"], text=" ".join(item["text"].split()),
                                checks=tuple(item["checks"]), source=item.get("source", ""),
                                line=doc.position(where)[0]))
    return tuple(found), errors


def builtin_catalogue_files() -> list[Path]:
    """The catalogue shipped with the project: one file per theme folder."""
    return sorted(data_path("scenarios").rglob(CATALOGUE_FILE))


def load_catalogue(paths: Iterable[Path] = ()) -> Catalogue:
    """Load the built-in catalogue plus ``paths``; raise SourceErrors listing every problem."""
    builtin = builtin_catalogue_files()
    known = {p.resolve() for p in builtin}
    files = [*builtin, *(p for p in paths if p.resolve() not in known)]
    catalogue = Catalogue()
    errors: list[SourceError] = []
    for path in files:
        doc, found = load_yaml(path)
        errors += found
        if doc is None or found:
            continue
        problems = schema_errors(doc, _validator())
        if problems:
            errors += problems
            continue
        if doc.data["version"] not in catalogue.versions:
            catalogue.versions.append(doc.data["version"])
        sections = doc.data.get("themes", {})
        for index, raw in enumerate(doc.data["requirements"]):
            if raw["id"] in catalogue:
                errors.append(doc.error(("requirements", index, "id"), f"exigence {raw['id']} déjà définie"))
                continue
            line, _ = doc.position(("requirements", index))
            obligations, found = _obligations(doc, index, raw)
            errors += found
            catalogue.requirements[raw["id"]] = Requirement(
                id=raw["id"], theme=raw["theme"], title=raw["title"], text=raw["text"].strip(),
                level=Level(raw["level"]), criticality=Criticality(raw["criticality"]), source=raw["source"],
                section=sections.get(raw["theme"], raw["theme"]), profile=doc.data.get("profile", ""),
                uncertain=raw.get("uncertain", False), depends_on=tuple(raw.get("depends_on", ())),
                obligations=obligations, file=str(path), line=line,
            )
        for index, raw in enumerate(doc.data["requirements"]):
            for j, dep in enumerate(raw.get("depends_on", ())):
                if dep not in catalogue:
                    errors.append(doc.error(("requirements", index, "depends_on", j), f"exigence inconnue : {dep}"))
    if errors:
        raise SourceErrors(errors)
    return catalogue
