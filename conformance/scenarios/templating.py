"""``${name.path}`` substitution from captures, scenario variables, fixtures and run values."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_PATTERN = re.compile(r"\$\{([^}]*)\}")
_WHOLE = re.compile(r"^\$\{([^}]*)\}$")
_EXPR = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")


class TemplateError(LookupError):
    """A reference that does not resolve."""


def is_valid_expression(expr: str) -> bool:
    """True for ``name`` or ``name.key.0`` forms."""
    return bool(_EXPR.match(expr))


def references(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every ``${…}`` expression inside ``value`` with the path of the string holding it."""
    if isinstance(value, str):
        for match in _PATTERN.finditer(value):
            yield path, match.group(1).strip()
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, (*path, index))


def lookup(expr: str, variables: Mapping[str, Any]) -> Any:
    """The value at a dotted path; integer segments index lists."""
    root, *rest = expr.split(".")
    if root not in variables:
        raise TemplateError(f"variable inconnue « {root} »")
    value = variables[root]
    for part in rest:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"« {expr} » : pas de clé « {part} »")
    return value


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with references replaced; a string that is one whole reference keeps the value's type."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return lookup(whole.group(1).strip(), variables)
        return _PATTERN.sub(lambda m: str(lookup(m.group(1).strip(), variables)), value)
    if isinstance(value, dict):
        return {key: render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    return value
