"""FHIR profile rules as data: the project's own YAML format, and StructureDefinition differentials read into it.

A profile is a list of element rules (cardinality, fixed and pattern values, slices, required bindings,
reference targets, value types, formats) and FHIRPath invariants. The YAML files under ``schemas/fhir/`` are
written by the project from the IG's FSH sources; ``--ig DIR`` adds the StructureDefinitions, CodeSystems and
ValueSets of an IG package, converted into the same model, so one engine applies both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from conformance.core.errors import SourceError, SourceErrors
from conformance.core.resources import data_path
from conformance.core.yamlsource import load_yaml

DEFAULT_GROUP = "profil"
BUILTIN_IG = "tddui-2.x"
#: a required binding is checked only where the data lists codes; ``None`` accepts any code of the system
Codes = frozenset[str] | None


@dataclass(frozen=True)
class Binding:
    """A required binding of an element to a value set."""

    value_set: str
    strength: str = "required"


@dataclass(frozen=True)
class Invariant:
    """A FHIRPath constraint evaluated on each element the rule selects (or on the resource)."""

    key: str
    expression: str
    human: str
    severity: str = "error"
    group: str = DEFAULT_GROUP
    source: str = ""


@dataclass(frozen=True)
class ElementRule:
    """Constraints on the elements a dotted path selects, optionally restricted to one slice."""

    path: str
    min: int | None = None
    max: int | None = None
    slice: str | None = None
    #: partial value an item must carry to belong to the slice (value/pattern discriminator)
    discriminator: Any = None
    fixed: Any = None
    pattern: Any = None
    binding: Binding | None = None
    #: resource types a Reference must point to
    targets: tuple[str, ...] = ()
    #: allowed FHIR types of a choice element (``value[x]``)
    types: tuple[str, ...] = ()
    #: a named format checked by the engine (``nir``)
    format: str | None = None
    #: StructureDefinition URL of an extension whose own rules apply to the selected items
    profile: str | None = None
    rules: tuple[ElementRule, ...] = ()
    invariants: tuple[Invariant, ...] = ()
    group: str = DEFAULT_GROUP
    short: str = ""


@dataclass(frozen=True)
class EntryProfile:
    """Which profile an entry's resource is validated against when it declares none (a Bundle slice)."""

    slice: str
    resource_type: str
    profile: str
    #: FHIRPath on the resource choosing this slice among those of the same type; absent means always
    when: str | None = None


@dataclass(frozen=True)
class Profile:
    """One profile: its type, its parent, its rules and invariants, and where they come from."""

    url: str
    name: str
    type: str
    parent: str | None = None
    rules: tuple[ElementRule, ...] = ()
    invariants: tuple[Invariant, ...] = ()
    entries: tuple[EntryProfile, ...] = ()
    source: str = ""
    #: applied to every resource of its type (base FHIR required bindings)
    implicit: bool = False


@dataclass(frozen=True)
class ValueSet:
    """A value set as the union of included codes, system by system."""

    url: str
    include: tuple[tuple[str, Codes], ...]


@dataclass
class IgData:
    """Everything the engine knows: profiles, value sets and code systems, by canonical URL."""

    name: str = ""
    version: str = ""
    profiles: dict[str, Profile] = field(default_factory=dict)
    value_sets: dict[str, ValueSet] = field(default_factory=dict)
    code_systems: dict[str, frozenset[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    #: profiles applied to a resource of their type that declares none (the Bundle profile of the IG)
    defaults: set[str] = field(default_factory=set)

    def merge(self, other: IgData) -> None:
        """Add (and override with) another set of definitions."""
        self.profiles.update(other.profiles)
        self.value_sets.update(other.value_sets)
        self.code_systems.update(other.code_systems)
        self.sources += other.sources
        self.defaults |= other.defaults

    def chain(self, url: str) -> list[Profile]:
        """The profile and its known ancestors, the most general first."""
        found: list[Profile] = []
        current: str | None = url
        while current and current in self.profiles and all(p.url != current for p in found):
            profile = self.profiles[current]
            found.insert(0, profile)
            current = profile.parent
        return found

    def implicit_for(self, resource_type: str) -> list[Profile]:
        """Profiles applied to every resource of this type."""
        return [p for p in self.profiles.values() if p.implicit and p.type == resource_type]

    def codes(self, value_set: str) -> tuple[tuple[str, Codes], ...] | None:
        """The (system, codes) a value set allows, code lists completed from known code systems."""
        vs = self.value_sets.get(value_set)
        if vs is None:
            return None
        return tuple((system, codes if codes is not None else self.code_systems.get(system))
                     for system, codes in vs.include)


# --- the project's YAML format ---------------------------------------------------------------------------------


def _rule(raw: Mapping[str, Any], group: str, where: str) -> ElementRule:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("path"), str):
        raise ValueError(f"{where} : une règle est un objet avec un « path »")
    group = str(raw.get("group", group))
    binding = raw.get("binding")
    return ElementRule(
        path=raw["path"], min=raw.get("min"), max=raw.get("max"), slice=raw.get("slice"),
        discriminator=raw.get("discriminator"), fixed=raw.get("fixed"), pattern=raw.get("pattern"),
        binding=Binding(binding["valueSet"], binding.get("strength", "required")) if binding else None,
        targets=tuple(raw.get("targets", ())), types=tuple(raw.get("types", ())), format=raw.get("format"),
        profile=raw.get("profile"), group=group, short=str(raw.get("short", "")),
        rules=tuple(_rule(r, group, f"{where} > {raw['path']}") for r in raw.get("rules", ())),
        invariants=tuple(_invariant(i, group) for i in raw.get("invariants", ())),
    )


def _invariant(raw: Mapping[str, Any], group: str) -> Invariant:
    return Invariant(key=str(raw["key"]), expression=str(raw["expression"]), human=str(raw.get("human", "")),
                     severity=str(raw.get("severity", "error")), group=str(raw.get("group", group)),
                     source=str(raw.get("source", "")))


def profile_from_data(raw: Mapping[str, Any], where: str = "") -> Profile:
    """A profile from the project's YAML/JSON structure (documented in schemas/fhir/*/README.md)."""
    group = str(raw.get("group", DEFAULT_GROUP))
    return Profile(
        url=str(raw["url"]), name=str(raw.get("name", raw["url"])), type=str(raw["type"]),
        parent=raw.get("parent"), source=str(raw.get("source", "")), implicit=bool(raw.get("implicit", False)),
        rules=tuple(_rule(r, group, where or str(raw["url"])) for r in raw.get("rules", ())),
        invariants=tuple(_invariant(i, group) for i in raw.get("invariants", ())),
        entries=tuple(EntryProfile(str(e["slice"]), str(e["resourceType"]), str(e["profile"]), e.get("when"))
                      for e in raw.get("entries", ())),
    )


def _value_set(raw: Mapping[str, Any]) -> ValueSet:
    include = []
    for inc in raw.get("include", ()):
        codes = inc.get("codes")
        include.append((str(inc["system"]), frozenset(map(str, codes)) if codes is not None else None))
    return ValueSet(str(raw["url"]), tuple(include))


def load_data_dir(folder: Path) -> IgData:
    """Load a folder in the project's format: ``ig.yaml``, ``terminology.yaml`` and ``profiles/*.yaml``."""
    data = IgData()
    errors: list[SourceError] = []
    docs = [folder / "ig.yaml", folder / "terminology.yaml", *sorted((folder / "profiles").glob("*.yaml"))]
    for path in docs:
        if not path.exists():
            continue
        doc, found = load_yaml(path)
        errors += found
        if doc is None or found:
            continue
        content = doc.data if isinstance(doc.data, dict) else {}
        try:
            if path.name == "ig.yaml":
                data.name, data.version = str(content.get("name", "")), str(content.get("version", ""))
                data.sources.append(f"{data.name} {data.version} ({folder.name})")
                data.defaults |= {str(u) for u in content.get("defaults", ())}
            elif path.name == "terminology.yaml":
                for vs in content.get("valueSets", ()):
                    value_set = _value_set(vs)
                    data.value_sets[value_set.url] = value_set
                for cs in content.get("codeSystems", ()):
                    data.code_systems[str(cs["url"])] = frozenset(map(str, cs["codes"]))
            else:
                for raw in content.get("profiles", [content]):
                    profile = profile_from_data(raw, path.name)
                    data.profiles[profile.url] = profile
        except (KeyError, TypeError, ValueError) as exc:
            errors.append(doc.error((), f"définition de profil invalide : {exc}"))
    if errors:
        raise SourceErrors(errors)
    return data


@cache
def builtin_data() -> IgData:
    """The profiles the project wrote from the TDDUI IG and FR Core (loaded once)."""
    return load_data_dir(data_path("schemas", "fhir", BUILTIN_IG))


# --- IG packages: StructureDefinition differentials, CodeSystems, ValueSets ------------------------------------


def load_ig_dir(folder: Path) -> IgData:
    """Read every JSON resource of an IG package folder (``package/*.json`` or the folder itself)."""
    data = IgData(name=folder.name)
    root = folder / "package" if (folder / "package").is_dir() else folder
    for path in sorted(root.glob("*.json")):
        try:
            resource = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            continue
        if not isinstance(resource, dict):
            continue
        kind = resource.get("resourceType")
        if kind == "StructureDefinition" and resource.get("derivation") == "constraint":
            profile = profile_from_structure_definition(resource)
            data.profiles[profile.url] = profile
        elif kind == "CodeSystem" and isinstance(resource.get("url"), str):
            data.code_systems[resource["url"]] = frozenset(_concept_codes(resource.get("concept", ())))
        elif kind == "ValueSet" and isinstance(resource.get("url"), str):
            data.value_sets[resource["url"]] = _value_set_resource(resource)
    data.sources.append(f"paquet d'IG {folder}")
    return data


def _concept_codes(concepts: Iterable[Any]) -> Iterator[str]:
    for concept in concepts:
        if isinstance(concept, dict) and isinstance(concept.get("code"), str):
            yield concept["code"]
            yield from _concept_codes(concept.get("concept", ()))


def _value_set_resource(resource: Mapping[str, Any]) -> ValueSet:
    include: list[tuple[str, Codes]] = []
    for inc in (resource.get("compose") or {}).get("include", ()):
        if not isinstance(inc, dict) or not isinstance(inc.get("system"), str):
            continue
        concepts = inc.get("concept")
        codes = frozenset(c["code"] for c in concepts if isinstance(c, dict) and "code" in c) if concepts else None
        include.append((inc["system"], codes))
    return ValueSet(str(resource["url"]), tuple(include))


@dataclass
class _Node:
    """An element of a differential being assembled into a rule tree."""

    path: str
    slice: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list[_Node] = field(default_factory=list)
    slicing: Mapping[str, Any] | None = None


def profile_from_structure_definition(sd: Mapping[str, Any]) -> Profile:
    """The rules a StructureDefinition's differential states, in the project's model."""
    resource_type = str(sd.get("type", ""))
    root = _Node(resource_type)
    by_id: dict[str, _Node] = {resource_type: root}
    invariants: list[Invariant] = []
    source = f"StructureDefinition {sd.get('url')} {sd.get('version', '')}".strip()
    for element in (sd.get("differential") or {}).get("element", ()):
        if not isinstance(element, dict):
            continue
        element_id = str(element.get("id") or element.get("path", ""))
        constraints = [Invariant(str(c["key"]), str(c["expression"]), str(c.get("human", "")),
                                 str(c.get("severity", "error")), DEFAULT_GROUP, source)
                       for c in element.get("constraint", ()) if isinstance(c, dict) and c.get("expression")]
        if element_id == resource_type:
            invariants += constraints
            continue
        parent_id, step = _split_id(element_id)
        parent = _node_for(by_id, parent_id)
        if parent is None:
            continue
        name, _, slice_name = step.partition(":")
        node = _Node(name, slice_name or None, _element_attrs(element, constraints), slicing=element.get("slicing"))
        parent.children.append(node)
        by_id[element_id] = node
    return Profile(url=str(sd.get("url", "")), name=str(sd.get("name", "")), type=resource_type,
                   parent=sd.get("baseDefinition"), rules=tuple(_to_rules(root)), invariants=tuple(invariants),
                   source=source)


def _node_for(by_id: dict[str, _Node], element_id: str) -> _Node | None:
    """The node of ``element_id``, creating the ancestors a differential leaves out (``Patient.birthDate``)."""
    if element_id in by_id:
        return by_id[element_id]
    parent_id, step = _split_id(element_id)
    if not parent_id:
        return None
    parent = _node_for(by_id, parent_id)
    if parent is None:
        return None
    name, _, slice_name = step.partition(":")
    node = _Node(name, slice_name or None)
    parent.children.append(node)
    by_id[element_id] = node
    return node


def _split_id(element_id: str) -> tuple[str, str]:
    # Element ids are dot-separated steps; the IG's slice names carry no dots.
    parent, _, step = element_id.rpartition(".")
    return parent, step


def _element_attrs(element: Mapping[str, Any], constraints: list[Invariant]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if "min" in element:
        attrs["min"] = int(element["min"])
    if element.get("max") not in (None, "*"):
        attrs["max"] = int(element["max"])
    for key, value in element.items():
        if key.startswith("fixed") and key != "fixed":
            attrs["fixed"] = value
        elif key.startswith("pattern") and key != "pattern":
            attrs["pattern"] = value
    binding = element.get("binding")
    if isinstance(binding, dict) and binding.get("strength") == "required" and binding.get("valueSet"):
        attrs["binding"] = Binding(str(binding["valueSet"]).split("|")[0])
    types = [t for t in element.get("type", ()) if isinstance(t, dict)]
    if str(element.get("path", "")).endswith("[x]") and types:
        attrs["types"] = tuple(str(t["code"]) for t in types)
    profiles = [p for t in types for p in t.get("profile", ())]
    if types and types[0].get("code") == "Extension" and profiles:
        attrs["profile"] = str(profiles[0])
    targets = [p.rsplit("/", 1)[-1] for t in types for p in t.get("targetProfile", ())]
    if targets and all(t[:1].isupper() for t in targets):
        attrs["targets"] = tuple(targets)
    if constraints:
        attrs["invariants"] = tuple(constraints)
    return attrs


def _to_rules(node: _Node) -> list[ElementRule]:
    rules: list[ElementRule] = []
    for child in node.children:
        sub = _to_rules(child)
        attrs = dict(child.attrs)
        path = child.path
        discriminator = None
        if child.slice is not None:
            discriminator = _discriminator(node, child)
            if attrs.get("profile") and path == "extension":
                discriminator = {"url": attrs["profile"]}
        rules.append(ElementRule(path=path, slice=child.slice, discriminator=discriminator, rules=tuple(sub),
                                 **attrs))
    return rules


def _discriminator(parent: _Node, child: _Node) -> Any:
    """The partial value that places an item in ``child``'s slice, from the slicing and the slice's values."""
    sliced = next((n for n in parent.children if n.path == child.path and n.slice is None and n.slicing), None)
    paths = [str(d.get("path", "$this")) for d in ((sliced.slicing or {}).get("discriminator", ()) if sliced else ())
             if isinstance(d, dict) and d.get("type") in ("value", "pattern")]
    if child.path == "extension" and not paths:
        paths = ["url"]
    pattern: dict[str, Any] = {}
    for path in paths:
        value = _value_at(child, path)
        if value is not None:
            _put(pattern, path, value)
    return pattern or None


def _value_at(node: _Node, path: str) -> Any:
    if path == "$this":
        return node.attrs.get("fixed", node.attrs.get("pattern"))
    head, _, rest = path.partition(".")
    for child in node.children:
        if child.path == head and child.slice is None:
            return _value_at(child, rest) if rest else child.attrs.get("fixed", child.attrs.get("pattern"))
    return None


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
