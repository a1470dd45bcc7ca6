"""Pseudonymised copies of a run for sharing: INS matricules and names replaced consistently everywhere."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conformance.engine.events import parse_event
from conformance.reporting import write_reports
from conformance.reporting.model import ReportBuilder

# NIR / NIA shape (sex, year, month, department incl. 2A/2B, commune, order, optional key), spaced or not.
_MATRICULE = re.compile(
    r"(?<![0-9A-Za-z])[12378] ?\d{2} ?\d{2} ?(?:\d{2}|2A|2B)\d ?\d{2} ?\d{3}(?: ?\d{2})?(?![0-9A-Za-z])")
#: JSON keys whose string values are names of a person (driver traits, FHIR HumanName, birth list extension)
_NAME_KEYS = frozenset({"birth_name", "first_given_name", "given_names", "used_name", "used_given_name", "family",
                        "given"})
_BIRTH_LIST = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
#: shorter names are left alone: replacing two letters everywhere would garble the report's own words
MIN_NAME_LENGTH = 3


class Redactor:
    """Replaces each matricule and each known name by a stable pseudonym (the same value, the same pseudonym)."""

    def __init__(self, salt: bytes | None = None) -> None:
        self._salt = salt or secrets.token_bytes(16)
        self.names: set[str] = set()

    def pseudonym(self, value: str, prefix: str) -> str:
        """A keyed, non-reversible pseudonym of ``value``."""
        digest = hmac.new(self._salt, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{prefix}-{digest[:10].upper()}"

    def collect(self, data: Any) -> None:
        """Learn the person names found in JSON-shaped ``data``."""
        if isinstance(data, dict):
            for key, value in data.items():
                if key in _NAME_KEYS:
                    self._add_names(value)
                elif key == "valueString" and data.get("url") == _BIRTH_LIST:
                    self._add_names(value)
                else:
                    self.collect(value)
        elif isinstance(data, list):
            for item in data:
                self.collect(item)

    def _add_names(self, value: Any) -> None:
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                self.names.update(n for n in {item, *item.split(" ")} if len(n) >= MIN_NAME_LENGTH)

    def text(self, text: str) -> str:
        """``text`` with matricules and known names replaced; names whole-word, longest first."""
        text = _MATRICULE.sub(lambda m: self.pseudonym(m.group(0).replace(" ", ""), "INS"), text)
        if self.names:
            pattern = re.compile(r"(?<![\w'-])(" + "|".join(re.escape(n) for n in sorted(self.names, key=len,
                                                                                          reverse=True))
                                 + r")(?![\w'-])")
            text = pattern.sub(lambda m: self.pseudonym(m.group(1), "NOM"), text)
        return text


    def data(self, value: Any) -> Any:
        """JSON-shaped ``value`` with its strings redacted (numbers and keys untouched)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.data(item) for item in value]
        return value

    def file(self, source: Path, target: Path) -> None:
        """Copy one evidence file redacted: JSON structurally, other text textually; binary is left out."""
        raw = source.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            target.write_bytes(b"")  # binary evidence cannot be pseudonymised: left out of the shared copy
            return
        if source.suffix == ".json":
            try:
                target.write_text(json.dumps(self.data(json.loads(text)), ensure_ascii=False, indent=2),
                                  encoding="utf-8")
                return
            except ValueError:
                pass
        target.write_text(self.text(text), encoding="utf-8")


def redact_run(run_dir: Path, out_dir: Path, fixtures: Iterable[Any] = ()) -> Path:
    """Write a pseudonymised copy of ``run_dir`` (events, reports, evidence) to ``out_dir``."""
    redactor = Redactor()
    for data in fixtures:
        redactor.collect(data)
    events_text = (run_dir / "events.ndjson").read_text(encoding="utf-8")
    folder = run_dir / "evidence"
    evidence = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    for path in evidence:
        if path.suffix == ".json":
            try:
                redactor.collect(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, UnicodeDecodeError):
                pass
    for line in events_text.splitlines():
        if line.strip():
            redactor.collect(json.loads(line))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    events = [redactor.data(json.loads(line)) for line in events_text.splitlines() if line.strip()]
    (out_dir / "events.ndjson").write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events),
                                           encoding="utf-8")
    for path in evidence:
        target = out_dir / path.relative_to(run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        redactor.file(path, target)
    report = ReportBuilder().feed(parse_event(json.dumps(e)) for e in events).build()
    write_reports(report, out_dir, report.run.lang)
    return out_dir
