"""The driver interface contract: operation names and routes, read from the published OpenAPI file."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from conformance.core.resources import data_path

DRIVER_API_FILE = "driver-api.openapi.yaml"


@dataclass(frozen=True)
class DriverOperation:
    """One operation a vendor's driver adapter implements."""

    name: str
    method: str
    path: str
    summary: str


@cache
def driver_operations() -> dict[str, DriverOperation]:
    """Every operation of the contract by operationId."""
    spec = yaml.safe_load(data_path("schemas", DRIVER_API_FILE).read_text(encoding="utf-8"))
    operations = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "delete", "patch"}:
                operations[op["operationId"]] = DriverOperation(op["operationId"], method.upper(), path,
                                                                op.get("summary", ""))
    return operations


@cache
def driver_api_version() -> str:
    """The contract's version (``info.version``)."""
    spec = yaml.safe_load(data_path("schemas", DRIVER_API_FILE).read_text(encoding="utf-8"))
    return str(spec["info"]["version"])
