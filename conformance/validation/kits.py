"""Official CDA validation kits (ANS TestContenuCDA): pinned by a sha256 manifest, run through lxml and Saxon.

A kit is a TestContenuCDA folder kept exactly as published (``infrastructure/cda/CDA_extended.xsd``,
``schematrons/``, ``jeuxDeValeurs/``). The project brings its own Schematron compiler (``schematron.py``) and
works around the kit's known problems on Linux (shared/corpus/ans-testcontenucda-3.0/NOTES.md) without
touching the kit: the missing value set ``voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml`` is generated from
``JDV_J07_XdsTypeCode_CISIS.xml`` into the cache, and includes whose letter case is wrong are resolved
case-insensitively. Each workaround is recorded with the kit in every report.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from conformance.core.findings import Finding
from conformance.core.outcomes import Severity
from conformance.validation.cda import clinical_document
from conformance.validation.schematron import (
    SaxonDocument,
    Schematron,
    SchematronError,
    SvrlResult,
    cache_dir,
    sha256_file,
)
from conformance.validation.xml import schema_error_text

XSD = "infrastructure/cda/CDA_extended.xsd"
STRUCMIN = "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"
#: kit defect 1: named by the header template, absent from the kit
MISSING_VALUE_SET = "include/voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml"
J07 = "jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml"
SVS = "urn:ihe:iti:svs:2008"
#: volet schematron of each document model a DUI produces, by the model's templateId
VOLETS = {
    "1.2.250.1.213.1.1.1.22": "schematrons/CI-SIS_DLU-EHPAD-DLU_2022.01.sch",
    "1.2.250.1.213.1.1.1.23": "schematrons/CI-SIS_DLU-EHPAD-FLUDT_2022.01.sch",
    "1.2.250.1.213.1.1.1.24": "schematrons/CI-SIS_DLU-EHPAD-FLUDR_2022.01.sch",
}
#: models with no published schematron (the TDDUI CDA IG 1.0.1 says "en cours de construction")
NO_VOLET_SCHEMATRON = {"1.2.250.1.213.1.1.1.58": "TDDUI-CDA"}


class KitError(Exception):
    """The kit is missing, incomplete, changed since it was pinned, or cannot run; the message is in French."""


def _data_dir() -> Path:
    override = os.environ.get("DUI_CONFORMANCE_HOME")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("dui-conformance"))


def registry_dir() -> Path:
    """Where ``kits add`` records pinned kits (``DUI_CONFORMANCE_HOME`` overrides)."""
    return _data_dir() / "kits"


def manifest_of(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by path relative to it (``/`` separators)."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
            files[path.relative_to(root).as_posix()] = sha256_file(path)
    return files


def manifest_digest(files: dict[str, str]) -> str:
    """One sha256 for the whole manifest: what a report records."""
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


@dataclass
class KitResult:
    """What a kit said about one document: XSD errors and each schematron's failed asserts and reports."""

    xsd: list[Finding] = field(default_factory=list)
    schematrons: dict[str, list[SvrlResult]] = field(default_factory=dict)
    #: why a layer could not run (volet without schematron, kit defect that could not be worked around)
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """No XSD error and no failed assert of role error."""
        return not self.xsd and not any(r.is_error for results in self.schematrons.values() for r in results)

    def findings(self) -> list[Finding]:
        """Every result as a finding (warnings stay warnings)."""
        found = list(self.xsd)
        for name, results in self.schematrons.items():
            found += [svrl_finding(name, result) for result in results]
        return found


def svrl_finding(schematron: str, result: SvrlResult) -> Finding:
    """A failed assert (or successful report) of a kit schematron as a finding, with its XPath location."""
    severity = Severity.ERROR if result.is_error else (
        Severity.INFO if (result.role or "").lower() in {"info", "information"} else Severity.WARNING)
    stem = Path(schematron).stem
    return Finding(
        rule=f"kit:{stem}", severity=severity, location=result.location or "/",
        message=f"Kit officiel, {stem} : {result.text}",
        expected=result.test, actual="assertion non vérifiée" if result.kind == "assert" else "condition signalée",
    )


@dataclass
class CdaKit:
    """A TestContenuCDA folder, pinned by the sha256 of every file it holds."""

    name: str
    root: Path
    files: dict[str, str]
    digest: str
    registered: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, root: Path, name: str | None = None, files: dict[str, str] | None = None) -> CdaKit:
        """Open a kit folder; ``files`` is the pinned manifest to hold it to (computed when not given)."""
        root = root.resolve()
        if not root.is_dir():
            raise KitError(f"{root} : dossier introuvable")
        missing = [marker for marker in (XSD, STRUCMIN) if not (root / marker).is_file()]
        if missing:
            raise KitError(f"{root} n'est pas un kit TestContenuCDA : {', '.join(missing)} absent(s)")
        current = manifest_of(root)
        if files is not None and current != files:
            changed = sorted(k for k in set(current) | set(files) if current.get(k) != files.get(k))
            shown = ", ".join(changed[:5]) + (f" et {len(changed) - 5} autre(s)" if len(changed) > 5 else "")
            raise KitError(f"le kit « {name} » a changé depuis son enregistrement ({len(changed)} fichier(s) : "
                           f"{shown}) ; réenregistrez-le avec « dui-conformance kits add {root} »")
        return cls(name or root.name, root, current, manifest_digest(current), registered=files is not None)

    def record(self) -> dict[str, Any]:
        """What a report records about the kit."""
        return {"name": self.name, "type": "TestContenuCDA", "path": str(self.root), "sha256": self.digest,
                "files": len(self.files), "workarounds": list(self.notes)}

    def _generated_value_set(self) -> Path:
        """Kit defect 1: ``voc-…471-DYNAMIC.xml`` rebuilt from the J07 value set, in the ART-DECOR shape."""
        source = self.root / J07
        if not source.is_file():
            raise KitError(f"{J07} absent du kit : impossible de reconstituer {MISSING_VALUE_SET}")
        target = cache_dir() / "kits" / self.files.get(J07, sha256_file(source)) / Path(MISSING_VALUE_SET).name
        if not target.is_file():
            from conformance.validation.xml import parse_xml

            svs = parse_xml(source.read_bytes())
            sets = etree.Element("valueSets")
            value_set = etree.SubElement(sets, "valueSet", id="1.2.250.1.213.1.1.5.471",
                                         name="JDV_J07_XdsTypeCode_CISIS")
            concepts = etree.SubElement(value_set, "conceptList")
            for concept in svs.iter(f"{{{SVS}}}Concept"):
                etree.SubElement(concepts, "concept", code=concept.get("code", ""),
                                 codeSystem=concept.get("codeSystem", ""), displayName=concept.get("displayName", ""))
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(etree.tostring(sets, xml_declaration=True, encoding="UTF-8"))
            temporary.replace(target)
        return target

    def schematron(self, relative: str) -> Schematron:
        """A kit schematron, compiled once per process (and its XSLT cached on disk)."""
        return _schematron(self, relative)

    def _compile(self, relative: str) -> tuple[Schematron, list[str]]:
        source = self.root / relative
        if not source.is_file():
            raise KitError(f"schématron absent du kit : {relative}")
        documents = {}
        notes = []
        if relative == STRUCMIN and not (source.parent / MISSING_VALUE_SET).is_file():
            documents[MISSING_VALUE_SET] = generated = self._generated_value_set()
            codes = len(etree.parse(str(generated)).getroot().findall("valueSet/conceptList/concept"))
            notes.append(f"problème connu du kit contourné ({Path(relative).name}) : le jeu de valeurs "
                         f"{MISSING_VALUE_SET} est absent ; reconstitué depuis {J07} ({codes} codes)")
        try:
            compiled = Schematron.from_file(source, documents)
        except SchematronError as exc:
            raise KitError(f"schématron du kit inutilisable ({relative}) : {exc}") from None
        notes += [f"problème connu du kit contourné ({Path(relative).name}) : {note}"
                  for note in compiled.compiled.workarounds]
        return compiled, notes

    def prepare(self) -> None:
        """Compile the XSD, the structuration minimale and the DUI volets now, so the kit's notes are known."""
        self.xsd()
        for relative in (STRUCMIN, *VOLETS.values()):
            if (self.root / relative).is_file():
                self.schematron(relative)

    def xsd(self) -> etree.XMLSchema:
        """``CDA_extended.xsd`` compiled once per process."""
        return _xsd(self.root, self.digest)

    def volet_for(self, document: etree._Element) -> str | None:
        """The kit schematron of the document's model, from its templateIds, or None."""
        doc = clinical_document(document)
        roots = [t.get("root") for t in doc.iterchildren("{urn:hl7-org:v3}templateId")] if doc is not None else []
        return next((VOLETS[r] for r in roots if r in VOLETS), None)

    def validate(self, document: etree._Element, *, schematrons: Sequence[str] = (),
                 xsd: bool = True, strucmin: bool = True, volet: bool = True) -> KitResult:
        """Run the kit's layers on a document already accepted by the safe parser."""
        result = KitResult()
        doc = clinical_document(document)
        if xsd and doc is not None:
            schema = self.xsd()
            if not schema.validate(etree.ElementTree(doc)):
                result.xsd = [
                    Finding(rule="kit:CDA_extended.xsd", location=f"ligne {error.line}",
                            message=f"Kit officiel, schéma XSD CDA_extended : {schema_error_text(error.message)}",
                            expected="conforme à CDA_extended.xsd", actual=None)
                    for error in schema.error_log]
        names = [STRUCMIN] if strucmin else []
        if volet:
            model = self.volet_for(document)
            if model is not None and (self.root / model).is_file():
                names.append(model)
            elif model is not None:
                result.notes.append(f"schématron de volet {model} absent de ce kit : volet non vérifié par le kit")
            elif doc is not None:
                roots = [t.get("root") for t in doc.iterchildren("{urn:hl7-org:v3}templateId")]
                for root in roots:
                    if root in NO_VOLET_SCHEMATRON:
                        result.notes.append(f"aucun schématron de volet publié pour {NO_VOLET_SCHEMATRON[root]} "
                                            f"({root}) : seules la structuration minimale et la XSD s'appliquent")
        names += [s for s in schematrons if s not in names]
        if names:
            prepared = SaxonDocument(document)  # handed to Saxon once for all of them
            for name in names:
                result.schematrons[name] = self.schematron(name).validate(prepared)
        return result


@cache
def _xsd(root: Path, digest: str) -> etree.XMLSchema:
    # The kit's own files only: includes are resolved from the kit folder, never from the network.
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    try:
        return etree.XMLSchema(etree.parse(str(root / XSD), parser))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise KitError(f"{XSD} ne compile pas : {exc}") from None


_SCHEMATRONS: dict[tuple[str, str], tuple[Schematron, list[str]]] = {}


def _schematron(kit: CdaKit, relative: str) -> Schematron:
    # One compilation per process and kit content; every CdaKit object of that content gets the notes.
    key = (kit.digest, relative)
    if key not in _SCHEMATRONS:
        _SCHEMATRONS[key] = kit._compile(relative)
    schematron, notes = _SCHEMATRONS[key]
    kit.notes += [note for note in notes if note not in kit.notes]
    return schematron


def add_kit(root: Path, name: str | None = None) -> CdaKit:
    """Pin a kit folder: compute its manifest and record it under its name."""
    kit = CdaKit.open(root, name)
    if not kit.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise KitError(f"nom de kit « {kit.name} » invalide (lettres, chiffres, tirets, points)")
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"name": kit.name, "type": "TestContenuCDA", "path": str(kit.root), "sha256": kit.digest,
             "added": datetime.now(UTC).isoformat(timespec="seconds"), "files": kit.files}
    (folder / f"{kit.name}.json").write_text(json.dumps(entry, indent=1, ensure_ascii=False), encoding="utf-8")
    kit.registered = True
    return kit


def registered_kits() -> list[dict[str, Any]]:
    """Every pinned kit (name, path, sha256, date), without their manifests."""
    kits = []
    for path in sorted(registry_dir().glob("*.json")) if registry_dir().is_dir() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        kits.append({k: entry.get(k) for k in ("name", "type", "path", "sha256", "added")}
                    | {"files": len(entry.get("files", {}))})
    return kits


def remove_kit(name: str) -> None:
    """Forget a pinned kit (its folder is left alone)."""
    path = registry_dir() / f"{name}.json"
    if not path.is_file():
        raise KitError(f"aucun kit enregistré sous le nom « {name} »")
    path.unlink()


def load_kit(spec: str | Path) -> CdaKit:
    """A kit by its registered name, or by folder (held to its pinned manifest when that folder is registered)."""
    spec_text = str(spec)
    entry_path = registry_dir() / f"{spec_text}.json"
    if "/" not in spec_text and os.sep not in spec_text and entry_path.is_file():
        entry = json.loads(entry_path.read_text(encoding="utf-8"))
        return CdaKit.open(Path(entry["path"]), entry["name"], entry["files"])
    root = Path(spec).expanduser().resolve()
    for path in sorted(registry_dir().glob("*.json")) if registry_dir().is_dir() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if Path(entry.get("path", "")).resolve() == root:
            return CdaKit.open(root, entry["name"], entry["files"])
    if not root.exists():
        raise KitError(f"« {spec_text} » n'est ni un kit enregistré (dui-conformance kits list) ni un dossier")
    return CdaKit.open(root)


_ACTIVE: contextvars.ContextVar[tuple[CdaKit, ...]] = contextvars.ContextVar("dui_conformance_kits", default=())


def active_kits() -> tuple[CdaKit, ...]:
    """The kits the current run validates with (none by default: kit mode is opt-in)."""
    return _ACTIVE.get()


def set_active_kits(kits: Sequence[CdaKit]) -> None:
    """Make ``kits`` the current run's kits (the run's task and the checks it calls see them)."""
    _ACTIVE.set(tuple(kits))


@contextmanager
def using_kits(kits: Sequence[CdaKit]) -> Iterator[None]:
    """Validate with ``kits`` inside the block."""
    token = _ACTIVE.set(tuple(kits))
    try:
        yield
    finally:
        _ACTIVE.reset(token)
