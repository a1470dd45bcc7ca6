"""JSONPath evaluation (with filters) for captures and checks, compiled once per expression."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse  # type: ignore[attr-defined]


class InvalidJsonPath(ValueError):
    """The expression is not JSONPath."""


@lru_cache(maxsize=1024)
def _compile(expression: str) -> Any:
    try:
        return parse(expression)
    except (JsonPathParserError, Exception) as exc:  # the parser raises bare Exceptions on some input
        raise InvalidJsonPath(f"JSONPath invalide « {expression} » : {exc}") from None


def find(expression: str, data: Any) -> list[Any]:
    """Every value matched by ``expression`` in ``data``."""
    return [match.value for match in _compile(expression).find(data)]
