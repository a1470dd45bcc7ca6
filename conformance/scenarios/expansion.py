"""``for_each``: one scenario file, one scenario per item of a list (a row of a matrix, a token variant…).

A scenario file with a top-level ``for_each`` is a template::

    for_each:
      in: "${habilitations.matrice}"   # a list: inline, or a data set of fixtures/
      as: cellule                      # the name the template uses for the item
      id: "${cellule.profil}-${cellule.categorie}"   # appended to the template's id: SCN-ACC-13-medecin-soins
      where: {categorie: soins}        # optional: only the items with these values

Every ``${cellule…}`` of the template is replaced by the item's value (a reference that is a whole string keeps
the value's type, so ``requirements: ["${cellule.exigence}"]`` works); other references stay for the run. Each
generated scenario is then validated like a hand-written one, and its errors are located where they come from: a
value taken from the item is reported at the item (``fixtures/habilitations.yaml:58:7``), anything else at the
template, both naming the generated scenario.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.core.errors import SourceError
from conformance.core.yamlsource import JsonPath, YamlDocument

_PATTERN = re.compile(r"\$\{([^}]*)\}")
_WHOLE = re.compile(r"^\$\{([^}]*)\}$")
_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Origin:
    """Where an item lives: its document and its path in it."""

    doc: YamlDocument
    path: JsonPath


class ExpandedDocument(YamlDocument):
    """A scenario generated from a template: positions of the template, values traced back to the item."""

    def __init__(self, template: YamlDocument, data: Any, origin: Origin, sources: dict[JsonPath, JsonPath],
                 scenario_id: str) -> None:
        super().__init__(template.file, data, template.positions)
        self.origin = origin
        #: path in the generated scenario → path inside the item, for the values the item gave
        self.sources = sources
        self.scenario_id = scenario_id

    def error(self, path: Iterable[str | int], message: str) -> SourceError:
        """Locate at the item when the value came from it, else at the template; both name the scenario."""
        parts = tuple(path)
        for size in range(len(parts), -1, -1):
            inside = self.sources.get(parts[:size])
            if inside is not None:
                where = (*self.origin.path, *inside, *parts[size:])
                line, column = self.position(parts)
                return self.origin.doc.error(where, f"{message} (scénario {self.scenario_id} généré par "
                                                    f"{self.file}:{line}:{column})")
        line, column = self.origin.doc.position(self.origin.path)
        return super().error(parts, f"{message} (scénario {self.scenario_id}, élément "
                                    f"{self.origin.doc.file}:{line}:{column})")


def expand(doc: YamlDocument, fixtures: Mapping[str, Any], documents: Mapping[str, YamlDocument],
           reserved: Iterable[str]) -> tuple[list[ExpandedDocument], list[SourceError]]:
    """The scenarios a template generates (its ``for_each`` block already checked against the schema)."""
    block = doc.data["for_each"]
    name, source = block["as"], block["in"]
    if name in set(reserved) | set(fixtures):
        return [], [doc.error(("for_each", "as"), f"for_each.as : « {name} » masque une variable ou un jeu de "
                                                   "données du même nom")]
    items, origins, problem = _items(doc, source, fixtures, documents)
    if problem is not None:
        return [], [problem]
    where = block.get("where") or {}
    kept = [(item, origin) for item, origin in zip(items, origins, strict=True)
            if all(isinstance(item, Mapping) and item.get(k) == v for k, v in where.items())]
    if not kept:
        return [], [doc.error(("for_each", "where"), "for_each.where : aucun élément ne correspond")]
    items, origins = [k[0] for k in kept], [k[1] for k in kept]
    template = {k: v for k, v in doc.data.items() if k != "for_each"}
    generated: list[ExpandedDocument] = []
    errors: list[SourceError] = []
    for item, origin in zip(items, origins, strict=True):
        line, column = origin.doc.position(origin.path)
        label = f"élément {origin.doc.file}:{line}:{column}"
        try:
            suffix = _render_all(block["id"], name, item)
        except LookupError as exc:
            errors.append(doc.error(("for_each", "id"), f"for_each.id : {exc} ({label})"))
            continue
        if not isinstance(suffix, str) or not _SUFFIX.match(suffix):
            errors.append(origin.doc.error(origin.path, f"for_each.id donne « {suffix} » : minuscules, chiffres et "
                                                        f"tirets attendus (modèle {doc.file})"))
            continue
        scenario_id = f"{doc.data.get('id')}-{suffix}"
        # The generated id comes from the item: a clash is reported there.
        sources: dict[JsonPath, JsonPath] = {("id",): ()}
        problems: list[tuple[JsonPath, str]] = []
        data = _substitute(template, name, item, (), sources, problems)
        for where, message in problems:
            errors.append(doc.error(where, f"{message} (scénario {scenario_id}, {label})"))
        if not problems:
            generated.append(ExpandedDocument(doc, data, origin, sources, scenario_id))
    return generated, errors


def _items(doc: YamlDocument, source: Any, fixtures: Mapping[str, Any], documents: Mapping[str, YamlDocument],
           ) -> tuple[list[Any], list[Origin], SourceError | None]:
    """The items and where each one is written."""
    if isinstance(source, list):
        return source, [Origin(doc, ("for_each", "in", i)) for i in range(len(source))], None
    expr = str(source)[2:-1].strip()
    root, *rest = expr.split(".")
    try:
        items = _lookup(fixtures, [root, *rest])
    except LookupError as exc:
        return [], [], doc.error(("for_each", "in"), f"for_each.in : « ${{{expr}}} » : {exc}")
    if not isinstance(items, list) or not items:
        return [], [], doc.error(("for_each", "in"), f"for_each.in : « ${{{expr}}} » n'est pas une liste non vide")
    home = documents.get(root)
    if home is None:
        return items, [Origin(doc, ("for_each", "in"))] * len(items), None
    base = (root, *_item_path(home.data.get(root) if isinstance(home.data, dict) else None, rest))
    return items, [Origin(home, (*base, i)) for i in range(len(items))], None


def _lookup(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise LookupError(f"pas de clé « {part} »")
    return value


def _item_path(value: Any, parts: Iterable[str]) -> JsonPath:
    """Path keys for positions: list indexes as integers."""
    path: list[str | int] = []
    for part in parts:
        if isinstance(value, list) and part.isdigit():
            path.append(int(part))
            value = value[int(part)] if int(part) < len(value) else None
        else:
            path.append(part)
            value = value.get(part) if isinstance(value, Mapping) else None
    return tuple(path)


def _root(expr: str) -> str:
    return expr.strip().split(".")[0]


def _render_all(value: Any, name: str, item: Any) -> Any:
    """``value`` with every reference resolved against the item alone (for the generated id)."""
    if not isinstance(value, str):
        return value
    for match in _PATTERN.finditer(value):
        if _root(match.group(1)) != name:
            raise LookupError(f"« ${{{match.group(1)}}} » : seul « {name} » est connu ici")
    whole = _WHOLE.match(value)
    if whole:
        return _lookup(item, whole.group(1).strip().split(".")[1:])
    return _PATTERN.sub(lambda m: str(_lookup(item, m.group(1).strip().split(".")[1:])), value)


def _substitute(value: Any, name: str, item: Any, path: JsonPath, sources: dict[JsonPath, JsonPath],
                problems: list[tuple[JsonPath, str]]) -> Any:
    """``value`` with the item's references replaced; records where each replaced value came from."""
    if isinstance(value, dict):
        return {k: _substitute(v, name, item, (*path, k), sources, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, name, item, (*path, i), sources, problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    mine = [m for m in _PATTERN.finditer(value) if _root(m.group(1)) == name]
    if not mine:
        return value
    failed: list[str] = []

    def resolve(expr: str) -> Any:
        try:
            return _lookup(item, expr.split(".")[1:])
        except LookupError as exc:
            failed.append(f"référence « ${{{expr}}} » : {exc}")
            return None

    whole = _WHOLE.match(value)
    if whole:
        result = resolve(whole.group(1).strip())
    else:
        result = _PATTERN.sub(lambda m: str(resolve(m.group(1).strip())) if _root(m.group(1)) == name
                              else m.group(0), value)
    if failed:
        problems.append((path, failed[0]))
        return value
    sources[path] = _item_path(item, mine[0].group(1).strip().split(".")[1:])
    return result
