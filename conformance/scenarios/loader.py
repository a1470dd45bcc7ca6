"""Discover scenario files, validate them against the schema and the vocabulary, build the model."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from conformance.core.errors import SourceError, SourceErrors
from conformance.core.resources import data_path
from conformance.core.yamlsource import YamlDocument, load_yaml, schema_errors
from conformance.scenarios.expansion import ExpandedDocument, expand
from conformance.scenarios.model import REQUEST_KINDS, STEP_KINDS, Capture, CheckCall, Scenario, Step
from conformance.scenarios.templating import TemplateError, is_valid_expression, lookup, references

CATALOGUE_FILE = "requirements.yaml"
#: variables every scenario may use without declaring them
RUN_VARIABLES = frozenset({"run", "simulators"})


@dataclass(frozen=True)
class CheckSignature:
    """The keyword arguments a check accepts and the ones it requires."""

    accepted: frozenset[str]
    required: frozenset[str]


@dataclass
class Vocabulary:
    """What scenario files may name; built by the engine from its registries and data files."""

    checks: Mapping[str, CheckSignature]
    operations: frozenset[str]
    simulators: frozenset[str] = frozenset()
    strategies: frozenset[str] = frozenset()
    token_variants: frozenset[str] = frozenset()
    personas: frozenset[str] = frozenset()
    fixtures: Mapping[str, Any] = field(default_factory=dict)
    requirements: frozenset[str] = frozenset()
    #: the parsed fixture file of each data set, so that errors in generated scenarios point at the item's line
    fixture_documents: Mapping[str, YamlDocument] = field(default_factory=dict)


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(data_path("schemas", "scenario.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@cache
def _for_each_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(data_path("schemas", "scenario.schema.json").read_text(encoding="utf-8"))
    sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/forEach"}
    return jsonschema.validators.validator_for(schema)(sub)


def builtin_scenario_dir() -> Path:
    """The suites shipped with the project."""
    return data_path("scenarios")


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """YAML scenario files under ``paths`` (catalogue files excluded), sorted."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*.y*ml") if p.suffix in {".yaml", ".yml"})
        else:
            found.add(path)
    return sorted(p for p in found if p.name != CATALOGUE_FILE)


def catalogue_files(paths: Iterable[Path]) -> list[Path]:
    """Catalogue files shipped beside scenarios under ``paths``."""
    return sorted({p for path in paths if path.is_dir() for p in path.rglob(CATALOGUE_FILE)})


def load_scenarios(paths: Iterable[Path], vocabulary: Vocabulary) -> list[Scenario]:
    """Load every scenario under ``paths``; raise SourceErrors listing every problem in every file."""
    scenarios: list[Scenario] = []
    errors: list[SourceError] = []
    seen: dict[str, str] = {}
    for path in scenario_files(paths):
        if not path.exists():
            errors.append(SourceError(str(path), 1, 1, "fichier ou dossier introuvable"))
            continue
        doc, found = load_yaml(path)
        errors += found
        if doc is None or found:
            continue
        if not isinstance(doc.data, dict):
            errors.append(doc.error((), "un scénario est un objet YAML (id, title, requirements, steps)"))
            continue
        instances, problems = _instances(doc, vocabulary)
        errors += problems
        for instance in instances:
            problems = schema_errors(instance, _validator())
            if problems:
                errors += problems
                continue
            scenario, problems = _build(instance, vocabulary)
            errors += problems
            if isinstance(instance, ExpandedDocument):
                scenario = dataclasses.replace(scenario, id=instance.scenario_id)
            if scenario.id in seen:
                errors.append(instance.error(("id",), f"scénario {scenario.id} déjà défini dans {seen[scenario.id]}"))
            seen[scenario.id] = doc.file
            scenarios.append(scenario)
    if errors:
        raise SourceErrors(errors)
    return sorted(scenarios, key=lambda s: s.id)


def _instances(doc: YamlDocument, vocab: Vocabulary) -> tuple[list[YamlDocument], list[SourceError]]:
    """The file itself, or the scenarios its ``for_each`` generates (conformance/scenarios/expansion.py)."""
    if "for_each" not in doc.data:
        return [doc], []
    block = YamlDocument(doc.file, doc.data["for_each"],
                         {p[1:]: pos for p, pos in doc.positions.items() if p[:1] == ("for_each",)})
    problems = [dataclasses.replace(e, message=_within_for_each(e.message))
                for e in schema_errors(block, _for_each_validator())]
    if problems:
        return [], problems
    generated, problems = expand(doc, vocab.fixtures, vocab.fixture_documents, RUN_VARIABLES)
    return list(generated), problems


def _within_for_each(message: str) -> str:
    """A schema message about the ``for_each`` block, worded from the file's root."""
    return "for_each" + (message.removeprefix("document") if message.startswith("document ") else "." + message)


def _build(doc: YamlDocument, vocab: Vocabulary) -> tuple[Scenario, list[SourceError]]:
    data = doc.data
    errors: list[SourceError] = []
    requirements = tuple(data["requirements"])
    for index, req in enumerate(requirements):
        if req not in vocab.requirements:
            errors.append(doc.error(("requirements", index), f"exigence inconnue du catalogue : {req}"))
    if "persona" in data and data["persona"] not in vocab.personas:
        known = ", ".join(sorted(vocab.personas)) or "aucun"
        errors.append(doc.error(("persona",), f"persona inconnu « {data['persona']} » (connus : {known})"))
    variables = dict(data.get("vars", {}))
    known_roots = set(variables) | set(vocab.fixtures) | RUN_VARIABLES
    errors += _reference_errors(doc, ("vars",), variables, set(vocab.fixtures) | RUN_VARIABLES, vocab)
    steps: list[Step] = []
    step_ids: set[str] = set()
    for index, raw in enumerate(data["steps"]):
        path: tuple[str | int, ...] = ("steps", index)
        if raw["id"] in step_ids:
            errors.append(doc.error((*path, "id"), f"étape « {raw['id']} » en double"))
        step_ids.add(raw["id"])
        kind = next(k for k in STEP_KINDS if k in raw)
        errors += _action_errors(doc, path, kind, raw[kind], vocab)
        step_roots = known_roots | ({raw[kind]["as"]} if kind == "generate" else set())
        errors += _reference_errors(doc, (*path, kind), raw[kind], step_roots, vocab)
        checks = []
        for j, call in enumerate(raw.get("checks", [])):
            check, problems = _check_call(doc, (*path, "checks", j), call, requirements, vocab)
            errors += problems
            errors += _reference_errors(doc, (*path, "checks", j), check.args, step_roots, vocab)
            checks.append(check)
        captures = tuple(
            Capture(name, next(k for k in ("json", "header", "xpath") if k in spec),
                    spec.get("json") or spec.get("header") or spec["xpath"], dict(spec.get("namespaces", {})))
            for name, spec in raw.get("captures", {}).items()
        )
        known_roots |= {c.name for c in captures}
        steps.append(Step(raw["id"], raw.get("title", raw["id"]), kind, raw[kind], tuple(checks), captures,
                          doc.position(path)[0]))
    scenario = Scenario(
        id=data["id"], title=data["title"], requirements=requirements, steps=tuple(steps),
        persona=data.get("persona"), tags=tuple(data.get("tags", ())), vars=variables,
        description=data.get("description", ""), file=doc.file, line=1,
    )
    return scenario, errors


def _action_errors(
    doc: YamlDocument, path: tuple[str | int, ...], kind: str, action: dict[str, Any], vocab: Vocabulary
) -> list[SourceError]:
    if kind == "generate":
        errors = []
        if action["strategy"] not in vocab.strategies:
            known = ", ".join(sorted(vocab.strategies)) or "aucune"
            errors.append(doc.error((*path, "generate", "strategy"),
                                    f"stratégie inconnue « {action['strategy']} » (connues : {known})"))
        inner = next(k for k in REQUEST_KINDS if k in action)
        return errors + _action_errors(doc, (*path, "generate"), inner, action[inner], vocab)
    if kind == "driver" and action["operation"] not in vocab.operations:
        known = ", ".join(sorted(vocab.operations))
        return [doc.error((*path, "driver", "operation"),
                          f"opération du driver inconnue « {action['operation']} » (connues : {known})")]
    if kind in ("fhir", "http") and isinstance(action.get("auth"), dict):
        auth, errors = action["auth"], []
        if "persona" in auth and auth["persona"] not in vocab.personas:
            errors.append(doc.error((*path, kind, "auth", "persona"), f"persona inconnu « {auth['persona']} »"))
        if "token" in auth and auth["token"] not in vocab.token_variants:
            known = ", ".join(sorted(vocab.token_variants)) or "aucune"
            errors.append(doc.error((*path, kind, "auth", "token"),
                                    f"variante de jeton inconnue « {auth['token']} » (connues : {known})"))
        return errors
    if kind == "await" and action["simulator"] not in vocab.simulators:
        known = ", ".join(sorted(vocab.simulators)) or "aucun"
        return [doc.error((*path, "await", "simulator"),
                          f"simulateur inconnu « {action['simulator']} » (connus : {known})")]
    return []


def _check_call(
    doc: YamlDocument, path: tuple[str | int, ...], raw: Any, scenario_reqs: tuple[str, ...], vocab: Vocabulary
) -> tuple[CheckCall, list[SourceError]]:
    args: dict[str, Any]
    if isinstance(raw, str):
        name, args, reqs, args_path = raw, {}, scenario_reqs, path
    elif "check" in raw:
        name, args, reqs = raw["check"], raw.get("args") or {}, tuple(raw.get("requirements", scenario_reqs))
        args_path = (*path, "args")
    else:
        ((name, args),) = raw.items()
        args, reqs, args_path = args or {}, scenario_reqs, (*path, name)
    line = doc.position(path)[0]
    call = CheckCall(name, dict(args), tuple(reqs), line)
    signature = vocab.checks.get(name)
    if signature is None:
        return call, [doc.error(path, f"vérification inconnue « {name} »")]
    errors = []
    for arg in sorted(set(args) - signature.accepted):
        accepted = ", ".join(sorted(signature.accepted)) or "aucun"
        errors.append(doc.error((*args_path, arg), f"{name} : argument inconnu « {arg} » (acceptés : {accepted})"))
    for arg in sorted(signature.required - set(args)):
        errors.append(doc.error(path, f"{name} : argument obligatoire « {arg} » absent"))
    for index, req in enumerate(reqs):
        if req not in scenario_reqs:
            errors.append(doc.error((*path, "requirements", index),
                                    f"{req} n'est pas une exigence du scénario ({', '.join(scenario_reqs)})"))
    return call, errors


def _reference_errors(
    doc: YamlDocument, path: tuple[str | int, ...], value: Any, known: set[str], vocab: Vocabulary
) -> list[SourceError]:
    errors = []
    for where, expr in references(value):
        location = (*path, *where)
        if not is_valid_expression(expr):
            errors.append(doc.error(location, f"référence mal formée « ${{{expr}}} »"))
            continue
        root = expr.split(".")[0]
        if root not in known:
            errors.append(doc.error(location, f"référence « ${{{expr}}} » : « {root} » n'est ni une capture "
                                              "d'une étape précédente, ni une variable, ni un jeu de données"))
        elif root in vocab.fixtures:
            try:
                lookup(expr, vocab.fixtures)
            except TemplateError as exc:
                errors.append(doc.error(location, f"référence « ${{{expr}}} » : {exc}"))
    return errors
