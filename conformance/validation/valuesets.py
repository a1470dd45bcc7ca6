"""Official value sets (JDV, IHE SVS format) the built-in rules check codes against.

The project bundles the few sets its rules need, in its own JSON form under ``schemas/valuesets/`` (codes, OID,
version, and the name and sha256 of the official file they were read from), never the official files themselves.
A bundled set is made from an official SVS file with::

    python -m conformance.validation.valuesets path/to/JDV_….xml [...] --out schemas/valuesets

and ``tests/validation/test_valuesets.py`` reads each one again from the official kit, where present, to prove the
bundled copy says the same.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from conformance.core.resources import data_path
from conformance.validation.xml import parse_xml

SVS = "urn:ihe:iti:svs:2008"
FOLDER = ("schemas", "valuesets")


@dataclass(frozen=True)
class ValueSet:
    """A value set: its concepts by (code system, code), and where it was read from."""

    name: str
    oid: str
    version: str
    description: str
    #: address of the set in the NOS (``urlFichier``), the official file it was read from and that file's sha256
    source_url: str
    source_file: str
    source_sha256: str
    concepts: dict[tuple[str, str], str] = field(default_factory=dict)

    def __contains__(self, item: object) -> bool:
        return item in self.concepts

    def contains(self, code: str | None, code_system: str | None) -> bool:
        """True when (code system, code) is in the set."""
        return (code_system or "", code or "") in self.concepts

    def display(self, code: str | None, code_system: str | None) -> str | None:
        """The display name of a code of the set, or None."""
        return self.concepts.get((code_system or "", code or ""))

    @property
    def label(self) -> str:
        """How a finding names the set: its name and OID."""
        return f"{self.name} ({self.oid})"

    def to_json(self) -> dict[str, Any]:
        """The bundled form."""
        return {
            "name": self.name, "oid": self.oid, "version": self.version, "description": self.description,
            "source": {"url": self.source_url, "file": self.source_file, "sha256": self.source_sha256},
            "concepts": [{"code": code, "codeSystem": system, "displayName": display}
                         for (system, code), display in sorted(self.concepts.items())],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValueSet:
        """Read the bundled form."""
        return cls(name=data["name"], oid=data["oid"], version=data["version"], description=data["description"],
                   source_url=data["source"]["url"], source_file=data["source"]["file"],
                   source_sha256=data["source"]["sha256"],
                   concepts={(c["codeSystem"], c["code"]): c["displayName"] for c in data["concepts"]})


def from_svs(path: Path) -> ValueSet:
    """Read an official value set file (IHE SVS ``RetrieveValueSetResponse``)."""
    raw = path.read_bytes()
    root = parse_xml(raw)
    value_set = root if root.tag == f"{{{SVS}}}ValueSet" else root.find(f"{{{SVS}}}ValueSet")
    if value_set is None:
        raise ValueError(f"{path.name} : pas de ValueSet IHE SVS")
    concepts = {(c.get("codeSystem") or "", c.get("code") or ""): c.get("displayName") or ""
                for c in value_set.iter(f"{{{SVS}}}Concept")}
    return ValueSet(
        name=path.stem, oid=value_set.get("id") or "",
        version=value_set.get("revisionDate") or value_set.get("effectiveDate") or value_set.get("dateMaj") or "",
        description=value_set.get("description") or "", source_url=value_set.get("urlFichier") or "",
        source_file=path.name, source_sha256=hashlib.sha256(raw).hexdigest(), concepts=concepts,
    )


def bundled_files() -> list[Path]:
    """The value sets shipped with the project."""
    return sorted(data_path(*FOLDER).glob("*.json"))


@cache
def load(name: str) -> ValueSet:
    """A bundled value set by name (``JDV_J02_XdsHealthcareFacilityTypeCode_CISIS``)."""
    path = data_path(*FOLDER, f"{name}.json")
    if not path.is_file():
        raise KeyError(f"jeu de valeurs {name} absent de {'/'.join(FOLDER)}")
    return ValueSet.from_json(json.loads(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    """Write the bundled form of official SVS files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=data_path(*FOLDER))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        value_set = from_svs(path)
        target = args.out / f"{value_set.name}.json"
        target.write_text(json.dumps(value_set.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        sys.stdout.write(f"{target} : {len(value_set.concepts)} codes\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
