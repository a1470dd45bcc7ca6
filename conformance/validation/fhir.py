"""FHIR R4 validation: safe JSON parsing, base structure, profile rules as data, FHIRPath invariants, Bundles.

Layers, each yielding located :class:`Issue` objects with a French message:
- ``structure``: the resource is FHIR R4 JSON (known elements, JSON types, primitive formats, mandatory base
  elements) through the fhir.resources models, plus ele-1 (no empty element) and ext-1;
- profile rules (:mod:`conformance.validation.fhir_profiles`): cardinality, fixed and pattern values, slices,
  required bindings, reference targets, choice types, formats, FHIRPath invariants through fhirpathpy;
- Bundle: references resolved inside the Bundle, unique fullUrls, creates addressed to the resource type.
Every issue carries the group of the rule that produced it, so checks can judge one aspect at a time.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fhirpathpy
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy.models import models
from pydantic import ValidationError

from conformance.core.library_errors import exception_detail, json_error, pydantic_error, technical
from conformance.validation.fhir_profiles import (
    DEFAULT_GROUP,
    ElementRule,
    IgData,
    Invariant,
    Profile,
    builtin_data,
)

MAX_BYTES = 20 * 1024 * 1024
MAX_DEPTH = 64
MAX_ISSUES = 500
STRUCTURE = "structure"
REFERENCES = "references"
ENTRIES = "entrees"
_NIR = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}$")
_TYPED_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_ABSOLUTE = re.compile(r"^(?:urn:uuid:[0-9a-fA-F-]{36}|urn:oid:[0-2](?:\.[0-9]+)+|https?://\S+)$")
_bundle_index: contextvars.ContextVar[BundleIndex | None] = contextvars.ContextVar("fhir_bundle", default=None)


class InvalidFhirJson(ValueError):
    """The payload is not JSON a FHIR receiver can read (size, depth, encoding, syntax)."""


def parse_fhir_json(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` as JSON with size and nesting caps; raise InvalidFhirJson with a French reason."""
    if len(data) > max_bytes:
        raise InvalidFhirJson(f"corps de {len(data)} octets, au-delà de la limite de {max_bytes}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidFhirJson(f"octets non UTF-8 à la position {exc.start}") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidFhirJson("imbrication JSON trop profonde") from None
    except json.JSONDecodeError as exc:
        raise InvalidFhirJson(json_error(exc)) from None
    except ValueError as exc:  # a number past Python's digit limit
        raise InvalidFhirJson(f"JSON illisible{technical(exc)}") from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise InvalidFhirJson(f"imbrication de plus de {max_depth} niveaux")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return value


@dataclass(frozen=True)
class Issue:
    """One departure from FHIR, a profile or the Bundle rules, located by a FHIRPath-like path."""

    rule: str
    group: str
    location: str
    message: str
    expected: Any = None
    actual: Any = None
    severity: str = "error"
    profile: str | None = None


@dataclass
class Report:
    """The issues found in one resource or Bundle, and the profiles applied where."""

    issues: list[Issue] = field(default_factory=list)
    profiles: dict[str, list[str]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        """Issues of severity error."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def valid(self) -> bool:
        """True when no issue is an error."""
        return not self.errors

    def in_groups(self, groups: Sequence[str]) -> list[Issue]:
        """Issues produced by rules of the given groups."""
        wanted = set(groups)
        return [i for i in self.issues if i.group in wanted]


# --- element navigation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Primitive:
    """A primitive value with its ``_name`` companion (id and extensions)."""

    value: Any
    element: dict[str, Any] | None


def _unwrap(value: Any) -> Any:
    return value.value if isinstance(value, _Primitive) else value


def _children(node: Any, step: str) -> Iterator[tuple[str, Any]]:
    """The items of ``node`` at one step, with the suffix of their location."""
    if isinstance(node, _Primitive):
        if step in ("extension", "id") and node.element:
            yield from _items(step, node.element.get(step))
        return
    if not isinstance(node, dict):
        return
    if step.endswith("[x]"):
        prefix = step[:-3]
        for key, value in node.items():
            if key.startswith(prefix) and key[len(prefix):len(prefix) + 1].isupper():
                yield from _items(key, value)
        return
    value, companion = node.get(step), node.get("_" + step)
    if companion is None:
        yield from _items(step, value)
        return
    values = value if isinstance(value, list) else [value]
    companions = companion if isinstance(companion, list) else [companion]
    for index in range(max(len(values), len(companions))):
        item = values[index] if index < len(values) else None
        extra = companions[index] if index < len(companions) else None
        suffix = f"{step}[{index}]" if isinstance(value, list) or isinstance(companion, list) else step
        yield suffix, _Primitive(item, extra if isinstance(extra, dict) else None)


def _items(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    if value is None:
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            if item is not None:
                yield f"{key}[{index}]", item
    else:
        yield key, value


def select(node: Any, path: str, location: str) -> list[tuple[str, Any]]:
    """Every element a dotted path selects under ``node``, with its location."""
    current = [(location, node)]
    for step in path.split("."):
        current = [(f"{loc}.{suffix}", item) for loc, value in current for suffix, item in _children(value, step)]
    return current


def matches(value: Any, pattern: Any) -> bool:
    """True when ``value`` carries every part of ``pattern`` (FHIR pattern semantics, arrays by inclusion)."""
    value = _unwrap(value)
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _field_matches(value.get(key), expected) for key, expected in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(matches(item, p) for item in items) for p in pattern)
    return bool(value == pattern)


def _field_matches(value: Any, expected: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list) and not isinstance(expected, list):
        return any(matches(item, expected) for item in value)
    return matches(value, expected)


def _short(value: Any, size: int = 160) -> Any:
    value = _unwrap(value)
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= size else text[:size] + "…"
    return value


# --- base structure ---------------------------------------------------------------------------------------------

_PYDANTIC_MESSAGES = {
    "extra_forbidden": "élément inconnu de FHIR R4 à cet endroit",
    "missing": "élément obligatoire de FHIR R4 absent",
    "model_field_validation.missing": "élément obligatoire de FHIR R4 absent",
}


def _structure_issues(resource: Any, location: str, *, walk: bool = True) -> list[Issue]:
    """FHIR R4 structure of one resource: type, known elements, JSON types, formats, ele-1 and ext-1.

    ``walk`` False skips the ele-1 and ext-1 walks: a Bundle's walk has already covered its entries.
    """
    if not isinstance(resource, dict):
        return [Issue("ressource", STRUCTURE, location, "La ressource n'est pas un objet JSON",
                      "objet JSON", _short(resource))]
    resource_type = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(resource_type))
    except ValueError:
        return [Issue("resourceType", STRUCTURE, f"{location}.resourceType",
                      f"Type de ressource « {resource_type} » inconnu de FHIR R4", "type de ressource FHIR",
                      resource_type)]
    issues = [*_empty_elements(resource, location), *_extension_issues(resource, location)] if walk else []
    envelope: Any = resource
    nested: list[tuple[str, Any]] = []
    if resource_type == "Bundle" and isinstance(resource.get("entry"), list):
        # Entries' resources are validated one by one so a wrong resource type does not hide the others.
        envelope = {**resource, "entry": []}
        for index, entry in enumerate(resource["entry"]):
            if isinstance(entry, dict) and "resource" in entry:
                nested.append((f"{location}.entry[{index}].resource", entry["resource"]))
                envelope["entry"].append({k: v for k, v in entry.items() if k != "resource"})
            else:
                envelope["entry"].append(entry)
    try:
        model.model_validate(envelope)
    except ValidationError as exc:
        for error in exc.errors()[:MAX_ISSUES]:
            where = location + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            kind = str(error["type"])
            text = _PYDANTIC_MESSAGES.get(kind) or pydantic_error(error)
            issues.append(Issue(f"r4-{kind}", STRUCTURE, where, f"{where} : {text}", "FHIR R4",
                                _short(error.get("input"))))
    except (TypeError, KeyError) as exc:
        issues.append(Issue("r4-structure", STRUCTURE, location,
                            f"Structure FHIR R4 illisible{technical(exception_detail(exc))}"))
    for where, item in nested:
        issues += _structure_issues(item, where, walk=False)
    return issues


def _empty_elements(node: Any, location: str) -> Iterator[Issue]:
    """ele-1: every element has a value or children; JSON null and empty objects, arrays or strings are not FHIR."""
    stack: list[tuple[Any, str]] = [(node, location)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            if not value:
                yield Issue("ele-1", STRUCTURE, where, f"{where} est un élément vide (ele-1)", "valeur ou enfants",
                            "{}")
            for key, item in value.items():
                if item is None:
                    yield Issue("ele-1", STRUCTURE, f"{where}.{key}", f"{where}.{key} vaut null (interdit en FHIR)",
                                "valeur", None)
                else:
                    stack.append((item, f"{where}.{key}"))
        elif isinstance(value, list):
            if not value:
                yield Issue("ele-1", STRUCTURE, where, f"{where} est un tableau vide (ele-1)", "au moins un élément",
                            "[]")
            # null is allowed inside primitive arrays paired with their "_name" companion
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value) if item is not None)
        elif isinstance(value, str) and not value.strip():
            yield Issue("ele-1", STRUCTURE, where, f"{where} est une chaîne vide (ele-1)", "valeur non vide", value)


def _extension_issues(node: Any, location: str) -> Iterator[Issue]:
    """ext-1: an extension has sub-extensions or a value, not both; and a url."""
    stack: list[tuple[Any, str]] = [(node, location)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("extension", "modifierExtension") and isinstance(item, list):
                    for i, ext in enumerate(item):
                        if not isinstance(ext, dict):
                            continue
                        has_value = any(k.startswith("value") for k in ext)
                        if has_value == bool(ext.get("extension")):
                            yield Issue("ext-1", STRUCTURE, f"{where}.{key}[{i}]",
                                        f"{where}.{key}[{i}] : une extension porte soit une valeur, soit des "
                                        "sous-extensions (ext-1)", "valeur xor sous-extensions", _short(ext))
                stack.append((item, f"{where}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))


# --- Bundle references ------------------------------------------------------------------------------------------


@dataclass
class BundleIndex:
    """The entries of a Bundle by fullUrl and by type/id, for reference resolution."""

    by_full_url: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_type_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, bundle: dict[str, Any]) -> BundleIndex:
        """Index the resources of ``bundle``."""
        index = cls()
        for entry in _entries(bundle):
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                continue
            if isinstance(entry.get("fullUrl"), str):
                index.by_full_url[entry["fullUrl"]] = resource
            if isinstance(resource.get("id"), str):
                index.by_type_id[f"{resource.get('resourceType')}/{resource['id']}"] = resource
        return index

    def resolve(self, reference: str, full_url: str | None = None) -> dict[str, Any] | None:
        """The resource a reference designates inside the Bundle (FHIR R4 bundle.html#references)."""
        if reference in self.by_full_url:
            return self.by_full_url[reference]
        typed = _TYPED_REFERENCE.search(reference)
        if typed and not reference.startswith(("http://", "https://", "urn:")):
            relative = f"{typed.group(1)}/{typed.group(2)}"
            if full_url and full_url.startswith(("http://", "https://")):
                # A relative reference is resolved against the base of the referencing entry's fullUrl.
                base = _base_of(full_url)
                if base is not None and f"{base}/{relative}" in self.by_full_url:
                    return self.by_full_url[f"{base}/{relative}"]
            return self.by_type_id.get(relative)
        return None


def _base_of(full_url: str) -> str | None:
    found = _TYPED_REFERENCE.search(full_url)
    return full_url[: found.start()] if found else None


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    entries = bundle.get("entry")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _references(node: Any, location: str) -> Iterator[tuple[str, str]]:
    """Every Reference.reference under ``node``."""
    stack: list[tuple[Any, str]] = [(node, location)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("reference"), str):
                yield f"{where}.reference", value["reference"]
            stack.extend((item, f"{where}.{key}") for key, item in value.items() if key != "contained")
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))


def _bundle_issues(bundle: dict[str, Any], index: BundleIndex) -> Iterator[Issue]:
    seen: dict[str, int] = {}
    for i, entry in enumerate(_entries(bundle)):
        where = f"Bundle.entry[{i}]"
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            if not _ABSOLUTE.match(full_url):
                yield Issue("fullurl-format", REFERENCES, f"{where}.fullUrl",
                            f"{where}.fullUrl n'est ni une URL absolue ni un urn:uuid valide",
                            "urn:uuid:<uuid> ou URL absolue", full_url)
            if full_url in seen:
                yield Issue("fullurl-unique", REFERENCES, f"{where}.fullUrl",
                            f"{where}.fullUrl répète celui de l'entrée {seen[full_url]} (bdl-7)", "fullUrl unique",
                            full_url)
            seen.setdefault(full_url, i)
        resource = entry.get("resource")
        request = entry.get("request")
        if isinstance(resource, dict) and isinstance(request, dict) and request.get("method") == "POST" \
                and request.get("url") != resource.get("resourceType"):
            yield Issue("request-url", ENTRIES, f"{where}.request.url",
                        f"{where}.request.url doit être le type de la ressource créée (POST [base]/"
                        f"{resource.get('resourceType')})", resource.get("resourceType"), request.get("url"))
        if not isinstance(resource, dict):
            continue
        contained = {f"#{c.get('id')}" for c in resource.get("contained", ()) if isinstance(c, dict)}
        for loc, reference in _references(resource, f"{where}.resource"):
            if reference.startswith("#"):
                if reference != "#" and reference not in contained:
                    yield Issue("reference-contained", REFERENCES, loc,
                                f"{loc} désigne une ressource contenue absente : {reference}",
                                "ressource contenue existante", reference)
            elif index.resolve(reference, full_url if isinstance(full_url, str) else None) is None:
                yield Issue("reference-non-resolue", REFERENCES, loc,
                            f"{loc} : la référence « {reference} » ne désigne aucune entrée du Bundle",
                            "fullUrl d'une entrée du Bundle", reference)


# --- FHIRPath -----------------------------------------------------------------------------------------------------


def _resolve_function(inputs: list[Any]) -> list[Any]:
    """FHIRPath resolve(): a resource of the current Bundle, or a stub typed from a relative reference."""
    index = _bundle_index.get()
    found = []
    for item in inputs:
        reference = item.get("reference") if isinstance(item, dict) else item
        if not isinstance(reference, str):
            continue
        resource = index.resolve(reference) if index else None
        if resource is None and (typed := _TYPED_REFERENCE.search(reference)):
            resource = {"resourceType": typed.group(1), "id": typed.group(2)}
        if resource is not None:
            found.append(resource)
    return found


_OPTIONS = {"userInvocationTable": {"resolve": {"fn": _resolve_function, "arity": {0: []}}}}


@cache
def compiled(expression: str) -> Callable[..., list[Any]]:
    """A FHIRPath expression compiled once for the R4 model."""
    return fhirpathpy.compile(expression, models["r4"], _OPTIONS)  # type: ignore[no-any-return,unused-ignore]


def _invariant_issue(invariant: Invariant, node: Any, location: str, profile: str) -> Issue | None:
    target = _unwrap(node) if not isinstance(node, _Primitive) else node.value
    try:
        result = compiled(invariant.expression)(target)
    except Exception as exc:  # a broken expression is the data's fault: report it, never crash
        return Issue(f"invariant:{invariant.key}", invariant.group, location,
                     f"L'invariant {invariant.key} n'a pas pu être évalué{technical(exception_detail(exc))}",
                     invariant.expression, None, "warning", profile)
    if result and all(r is False for r in result):
        return Issue(f"invariant:{invariant.key}", invariant.group, location,
                     f"{location} ne respecte pas l'invariant {invariant.key} : {invariant.human}",
                     invariant.expression, False, invariant.severity, profile)
    return None


# --- profile rules ------------------------------------------------------------------------------------------------


class FhirValidator:
    """Validates resources and Bundles against the built-in profile data and any IG package added."""

    def __init__(self, data: IgData | None = None, extra: Sequence[IgData] = ()) -> None:
        self.data = IgData()
        self.data.merge(data if data is not None else builtin_data())
        self.data.name, self.data.version = (data or builtin_data()).name, (data or builtin_data()).version
        for more in extra:
            self.data.merge(more)
        for profile in self.data.profiles.values():
            for invariant in _all_invariants(profile):
                compiled(invariant.expression)

    def validate(self, resource: Any, profile: str | None = None) -> Report:
        """Validate a resource or Bundle; ``profile`` overrides the profiles it declares."""
        report = Report()
        if not isinstance(resource, dict):
            report.issues.append(Issue("ressource", STRUCTURE, "$", "Le document n'est pas un objet JSON FHIR",
                                       "objet JSON", _short(resource)))
            return report
        root = str(resource.get("resourceType") or "Resource")
        report.issues += _structure_issues(resource, root)
        index = BundleIndex.of(resource) if root == "Bundle" else None
        token = _bundle_index.set(index)
        try:
            self._apply_all(resource, root, self._profiles_for(resource, profile), report, index)
            if index is not None:
                bundle_profiles = [self.data.profiles[u] for u in self._profiles_for(resource, profile)
                                   if u in self.data.profiles]
                report.issues += _bundle_issues(resource, index)
                for i, entry in enumerate(_entries(resource)):
                    item = entry.get("resource")
                    if isinstance(item, dict):
                        where = f"Bundle.entry[{i}].resource"
                        urls = self._entry_profiles(item, bundle_profiles)
                        self._apply_all(item, where, urls, report, index, entry.get("fullUrl"))
        finally:
            _bundle_index.reset(token)
        del report.issues[MAX_ISSUES:]
        return report

    def _profiles_for(self, resource: dict[str, Any], explicit: str | None) -> list[str]:
        if explicit:
            return [explicit]
        declared = (resource.get("meta") or {}).get("profile") if isinstance(resource.get("meta"), dict) else None
        known = [u for u in declared if isinstance(u, str) and u in self.data.profiles] \
            if isinstance(declared, list) else []
        if known:
            return known
        return [p.url for p in self.data.profiles.values()
                if p.type == resource.get("resourceType") and p.url in self.data.defaults]

    def _entry_profiles(self, resource: dict[str, Any], bundle_profiles: list[Profile]) -> list[str]:
        declared = self._profiles_for(resource, None)
        if declared:
            return declared
        for bundle_profile in bundle_profiles:
            for slice_ in bundle_profile.entries:
                if slice_.resource_type != resource.get("resourceType"):
                    continue
                if slice_.when is None or compiled(slice_.when)(resource) == [True]:
                    return [slice_.profile]
        return []

    def _apply_all(self, resource: dict[str, Any], location: str, urls: list[str], report: Report,
                   index: BundleIndex | None, full_url: Any = None) -> None:
        chain: list[Profile] = list(self.data.implicit_for(str(resource.get("resourceType"))))
        for url in urls:
            if url not in self.data.profiles:
                report.issues.append(Issue("profil-inconnu", DEFAULT_GROUP, location,
                                           f"Profil inconnu du validateur : {url}", "profil connu", url,
                                           "warning"))
                continue
            chain += [p for p in self.data.chain(url) if p not in chain]
        if urls:
            report.profiles[location] = list(urls)
        context = _Context(self.data, index, full_url if isinstance(full_url, str) else None)
        for profile in chain:
            for rule in profile.rules:
                report.issues += self._rule(rule, resource, location, profile.url, context)
            for invariant in profile.invariants:
                issue = _invariant_issue(invariant, resource, location, profile.url)
                if issue:
                    report.issues.append(issue)

    def _rule(self, rule: ElementRule, node: Any, location: str, profile: str, ctx: _Context) -> list[Issue]:
        issues: list[Issue] = []
        parent_path, _, last = rule.path.rpartition(".")
        parents = select(node, parent_path, location) if parent_path else [(location, node)]
        label = last + (f":{rule.slice}" if rule.slice else "")
        for parent_location, parent in parents:
            items = [(f"{parent_location}.{suffix}", item) for suffix, item in _children(parent, last)]
            if rule.slice is not None and rule.discriminator is not None:
                items = [(loc, item) for loc, item in items if matches(item, rule.discriminator)]
            where = f"{parent_location}.{label}"
            if rule.min is not None and len(items) < rule.min:
                issues.append(Issue("cardinalite-min", rule.group, where,
                                    f"{where} : {len(items)} occurrence(s), au moins {rule.min} attendue(s)"
                                    + (f" ({rule.short})" if rule.short else ""),
                                    f"{rule.min}..{'*' if rule.max is None else rule.max}", len(items),
                                    profile=profile))
            if rule.max is not None and len(items) > rule.max:
                issues.append(Issue("cardinalite-max", rule.group, where,
                                    f"{where} : {len(items)} occurrence(s), au plus {rule.max} permise(s)",
                                    f"{rule.min or 0}..{rule.max}", len(items), profile=profile))
            for item_location, item in items:
                issues += self._item(rule, item, item_location, profile, ctx)
        return issues

    def _item(self, rule: ElementRule, item: Any, where: str, profile: str, ctx: _Context) -> list[Issue]:
        issues: list[Issue] = []
        value = _unwrap(item)
        if rule.fixed is not None and value != rule.fixed:
            issues.append(Issue("valeur-fixee", rule.group, where, f"{where} doit valoir {_short(rule.fixed)!r}",
                                rule.fixed, _short(value), profile=profile))
        if rule.pattern is not None and not matches(value, rule.pattern):
            issues.append(Issue("motif", rule.group, where, f"{where} ne porte pas la valeur attendue "
                                f"{_short(rule.pattern)}", rule.pattern, _short(value), profile=profile))
        if rule.binding is not None:
            issue = self._binding(rule, value, where, profile)
            if issue:
                issues.append(issue)
        if rule.types:
            suffix = where.rsplit(".", 1)[-1].split("[")[0][len(rule.path.rsplit(".", 1)[-1]) - 3:]
            allowed = {t[:1].upper() + t[1:] for t in rule.types}
            if rule.path.endswith("[x]") and suffix not in allowed:
                issues.append(Issue("type", rule.group, where, f"{where} : type {suffix} non permis",
                                    sorted(allowed), suffix, profile=profile))
        if rule.targets and isinstance(value, dict) and isinstance(value.get("reference"), str):
            target = ctx.target_type(value["reference"])
            if target is not None and target not in rule.targets:
                issues.append(Issue("cible-reference", rule.group, where,
                                    f"{where} désigne une ressource {target} au lieu de {' ou '.join(rule.targets)}",
                                    list(rule.targets), target, profile=profile))
        if rule.format == "nir" and isinstance(value, str):
            issues += _nir_issues(value, where, rule.group, profile)
        if rule.profile and rule.profile in self.data.profiles:
            for extension_profile in self.data.chain(rule.profile):
                for sub in extension_profile.rules:
                    issues += self._rule(sub, item, where, extension_profile.url, ctx)
                for invariant in extension_profile.invariants:
                    found = _invariant_issue(invariant, item, where, extension_profile.url)
                    if found:
                        issues.append(found)
        for sub in rule.rules:
            issues += self._rule(sub, item, where, profile, ctx)
        for invariant in rule.invariants:
            found = _invariant_issue(invariant, item, where, profile)
            if found:
                issues.append(found)
        return issues

    def _binding(self, rule: ElementRule, value: Any, where: str, profile: str) -> Issue | None:
        assert rule.binding is not None
        allowed = self.data.codes(rule.binding.value_set)
        if allowed is None:
            return None  # value set unknown to the data: nothing to check against, said in the README
        if isinstance(value, str):
            codings: list[dict[str, Any]] = [{"code": value}]
        elif isinstance(value, dict) and "coding" in value:
            codings = [c for c in value.get("coding") or () if isinstance(c, dict)]
        elif isinstance(value, dict):
            codings = [value]
        else:
            return None
        for coding in codings:
            for system, codes in allowed:
                same_system = coding.get("system") == system or ("system" not in coding and isinstance(value, str))
                if same_system and (codes is None or coding.get("code") in codes):
                    return None
        actual = [f"{c.get('system', '')}#{c.get('code')}".lstrip("#") for c in codings] or _short(value)
        return Issue("liaison-requise", rule.group, where,
                     f"{where} : code hors du jeu de valeurs requis {rule.binding.value_set}",
                     rule.binding.value_set, actual[0] if isinstance(actual, list) and len(actual) == 1 else actual,
                     profile=profile)


@dataclass
class _Context:
    """What rules need beyond the element: terminology and the Bundle around it."""

    data: IgData
    index: BundleIndex | None
    full_url: str | None

    def target_type(self, reference: str) -> str | None:
        """The resource type a reference designates, when it can be known."""
        if self.index is not None:
            resource = self.index.resolve(reference, self.full_url)
            if resource is not None:
                return str(resource.get("resourceType"))
        typed = _TYPED_REFERENCE.search(reference)
        return typed.group(1) if typed and not reference.startswith("urn:") else None


def _all_invariants(profile: Profile) -> Iterator[Invariant]:
    yield from profile.invariants

    def walk(rules: Sequence[ElementRule]) -> Iterator[Invariant]:
        for rule in rules:
            yield from rule.invariants
            yield from walk(rule.rules)

    yield from walk(profile.rules)
    for entry in profile.entries:
        if entry.when:
            yield Invariant(entry.slice, entry.when, "")


def nir_key(matricule: str) -> int:
    """The NIR key: 97 − (13-digit body mod 97), Corsica 2A → 19 and 2B → 18."""
    body = matricule[:13].upper().replace("2A", "19", 1).replace("2B", "18", 1) \
        if matricule[5:7] in ("2A", "2B") else matricule[:13]
    return 97 - int(body) % 97


def _nir_issues(value: str, where: str, group: str, profile: str) -> list[Issue]:
    if not _NIR.match(value):
        return [Issue("nir-format", group, where, f"{where} : matricule INS mal formé (15 caractères attendus : "
                      "sexe, année, mois, lieu, ordre, clé)", "15 caractères", value, profile=profile)]
    key = nir_key(value)
    if int(value[13:]) != key:
        return [Issue("nir-cle", group, where, f"{where} : clé du matricule INS fausse ({value[13:]} au lieu de "
                      f"{key:02d})", f"{key:02d}", value[13:], profile=profile)]
    return []
