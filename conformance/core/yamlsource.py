"""YAML reading that remembers where every value came from, so errors name file, line and column."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from conformance.core.errors import SourceError

JsonPath = tuple[str | int, ...]


#: libyaml's parser when the wheel has it: the pure-Python one spent about 0.4 s of every run on the suite's files
#: (syntax errors are then worded by libyaml; their line and column are the same)
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc,valid-type]
    """Safe loader that keeps dates as strings: scenario data compares them as text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlDocument:
    """A parsed YAML file with the 1-based (line, column) of each value, keyed by its path."""

    file: str
    data: Any
    positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Iterable[str | int]) -> tuple[int, int]:
        """Position of the value at ``path``, or of its nearest located ancestor."""
        parts = tuple(path)
        while parts not in self.positions and parts:
            parts = parts[:-1]
        return self.positions.get(parts, (1, 1))

    def error(self, path: Iterable[str | int], message: str) -> SourceError:
        """A located error about the value at ``path``."""
        line, column = self.position(path)
        return SourceError(self.file, line, column, message)


def load_yaml(path: Path, display: str | None = None) -> tuple[YamlDocument | None, list[SourceError]]:
    """Parse ``path``; a syntax error comes back as a located error instead of a document."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [SourceError(name, 1, 1, f"le fichier n'est pas en UTF-8 ({exc.reason})")]
    except OSError as exc:
        return None, [SourceError(name, 1, 1, f"lecture impossible : {exc.strerror}")]
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> tuple[YamlDocument | None, list[SourceError]]:
    """Parse YAML text named ``name``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [SourceError(name, line, column, f"YAML invalide : {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [SourceError(name, 1, 1, f"YAML invalide : {exc}")]
    finally:
        loader.dispose()
    doc = YamlDocument(name, None)
    errors: list[SourceError] = []
    if node is not None:
        doc.data = _convert(loader, node, (), doc, errors)
    return doc, errors


def _convert(loader: _Loader, node: yaml.Node, path: JsonPath, doc: YamlDocument, errors: list[SourceError]) -> Any:
    doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            key = key if isinstance(key, str) else str(key)
            if key in result:
                line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                errors.append(SourceError(doc.file, line, column, f"clé « {key} » en double"))
            result[key] = _convert(loader, value_node, (*path, key), doc, errors)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), doc, errors) for i, item in enumerate(node.value)]
    return loader.construct_object(node)


def schema_errors(doc: YamlDocument, validator: jsonschema.protocols.Validator) -> list[SourceError]:
    """Validate a document against a JSON Schema; each error located and worded in French."""
    found = []
    for error in validator.iter_errors(doc.data):
        best = jsonschema.exceptions.best_match([error])
        found.append(doc.error(best.absolute_path, _french(best)))
    return found


def _french(error: jsonschema.ValidationError) -> str:
    """French wording of the common JSON Schema errors; the schema's own description when it has one."""
    where = ".".join(str(p) for p in error.absolute_path) or "document"
    kind = error.validator
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{where} : champ obligatoire « {missing} » absent"
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))  # type: ignore[arg-type]
        allowed = ", ".join(sorted(schema.get("properties", {})))
        return f"{where} : champ inconnu « {', '.join(extra)} » (attendu : {allowed})"
    if kind == "type":
        return f"{where} : type {_type_fr(error.validator_value)} attendu, reçu {error.instance!r}"
    if kind == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)  # type: ignore[union-attr]
        return f"{where} : valeur {error.instance!r} non permise (attendu : {allowed})"
    if kind == "pattern":
        return f"{where} : {error.instance!r} ne respecte pas le format {error.validator_value}"
    description = schema.get("description")
    if description:
        return f"{where} : {description}"
    return f"{where} : {error.message}"


def _type_fr(value: Any) -> str:
    names = {"string": "texte", "integer": "entier", "number": "nombre", "boolean": "booléen",
             "array": "liste", "object": "objet", "null": "null"}
    if isinstance(value, list):
        return " ou ".join(names.get(str(v), str(v)) for v in value)
    return names.get(value, str(value))
