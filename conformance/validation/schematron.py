"""ISO Schematron, compiled to XSLT 2.0 by the project itself and run on Saxon-HE (saxonche).

Supported: ``include`` (with a case-insensitive fallback, for kits written on Windows), abstract patterns
(``is-a``/``param``), abstract rules (``extends``), ``let`` at schema, phase, pattern and rule level, phases
(``defaultPhase``), ``assert``/``report`` with ``value-of`` and ``name``: every construct the ANS TestContenuCDA
kits use (ISO/IEC 19757-3). The generated stylesheet is cached on disk, keyed by the content hash of every
file it was built from (SaxonC-HE cannot export compiled stylesheets, so Saxon compiles it once per process).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from conformance.validation.xml import UnsafeXml, parse_xml

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"
_DUI = "urn:dui-conformance:schematron"
#: bump when the generated XSLT changes shape, so stale cache entries are ignored
COMPILER_VERSION = "5"
#: a schematron file (kits hold 1 MB headers); bigger is refused
MAX_SCHEMA_BYTES = 64 * 1024 * 1024
_XML_LITERAL = re.compile(r"""(?P<q>['"])(?P<path>[^'"\s]+\.xml)(?P=q)""")


class SchematronError(Exception):
    """The schematron cannot be compiled or run; the message says why, in French."""


@dataclass(frozen=True)
class SvrlResult:
    """A failed assert or a successful report, read back from the SVRL output."""

    kind: Literal["assert", "report"]
    test: str
    location: str
    text: str
    role: str | None = None
    see: str | None = None
    pattern: str | None = None

    @property
    def is_error(self) -> bool:
        """Only an error (no role, or role error/fatal) makes a document invalid; warnings inform."""
        return self.role is None or self.role.lower() in {"error", "fatal"}


@dataclass
class CompiledSchematron:
    """A schematron turned into an XSLT 2.0 stylesheet, with the files it was built from."""

    source: Path
    xslt: str
    #: path → sha256 of every file read (the schema, its includes)
    dependencies: dict[str, str]
    #: kit defects worked around while compiling, in French
    workarounds: list[str] = field(default_factory=list)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _CaseInsensitive:
    """Finds a file whose path differs only by letter case (kits written on case-insensitive filesystems)."""

    def __init__(self) -> None:
        self._listings: dict[Path, dict[str, str]] = {}

    def find(self, path: Path) -> Path | None:
        if path.exists():
            return path
        current = Path(path.anchor)
        for part in path.parts[1:]:
            if part in ("..", "."):
                current = (current / part).resolve()
                continue
            exact = current / part
            if exact.exists():
                current = exact
                continue
            listing = self._listing(current)
            match = listing.get(part.lower())
            if match is None:
                return None
            current = current / match
        return current

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                self._listings[folder] = {p.name.lower(): p.name for p in folder.iterdir()}
            except OSError:
                self._listings[folder] = {}
        return self._listings[folder]


class _Compiler:
    """One compilation: resolves includes, expands abstract patterns and rules, emits XSLT."""

    def __init__(self, source: Path, documents: Mapping[str, Path]) -> None:
        self.source = source.resolve()
        self.base = self.source.parent
        self.documents = {k.replace("\\", "/"): v for k, v in documents.items()}
        self.dependencies: dict[str, str] = {}
        self.workarounds: list[str] = []
        self._case = _CaseInsensitive()

    def _load(self, path: Path) -> etree._Element:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SchematronError(f"schématron illisible : {path} ({exc.strerror})") from None
        self.dependencies[str(path)] = hashlib.sha256(data).hexdigest()
        try:
            return parse_xml(data, max_bytes=MAX_SCHEMA_BYTES)
        except UnsafeXml as exc:
            raise SchematronError(f"{path} : {exc}") from None

    def compile(self) -> CompiledSchematron:
        schema = self._expand_includes(self._load(self.source), self.source.parent, (self.source,))
        if etree.QName(schema).namespace != SCH or etree.QName(schema).localname != "schema":
            raise SchematronError(f"{self.source} n'est pas un schéma ISO Schematron (élément racine schema)")
        binding = (schema.get("queryBinding") or "xslt").lower()
        if binding not in {"xslt", "xslt2", "xslt3", "xpath2", "xpath3", "xpath31"}:
            raise SchematronError(f"{self.source} : queryBinding « {binding} » non pris en charge")
        _expand_abstract_patterns(schema)
        self._fix_document_paths(schema)
        xslt = etree.tostring(self._emit(schema), encoding="unicode")
        return CompiledSchematron(self.source, xslt, self.dependencies, self.workarounds)

    def _resolve(self, href: str, folder: Path) -> Path:
        target = (folder / href).resolve()
        if target.is_file():
            return target
        found = self._case.find(target)
        if found is None or not found.is_file():
            raise SchematronError(f"inclusion introuvable : {href} (depuis {folder})")
        self.workarounds.append(
            f"inclusion « {href} » résolue sans tenir compte de la casse vers « {found.name} » "
            "(le kit a été écrit pour un système de fichiers insensible à la casse)")
        return found

    def _expand_includes(self, element: etree._Element, folder: Path, chain: tuple[Path, ...]) -> etree._Element:
        for include in list(element.iter(f"{{{SCH}}}include")):
            href = include.get("href") or ""
            path_part, _, fragment = href.partition("#")
            target = self._resolve(path_part, folder)
            if target in chain:
                raise SchematronError(f"inclusion circulaire : {' → '.join(p.name for p in (*chain, target))}")
            included = self._expand_includes(self._load(target), target.parent, (*chain, target))
            if fragment:
                found = included.xpath("//*[@id=$id]", id=fragment)
                if not found:
                    raise SchematronError(f"inclusion {href} : aucun élément d'id « {fragment} »")
                included = found[0]
            parent = include.getparent()
            if parent is None:
                return included
            parent.replace(include, copy.deepcopy(included))
        return element

    def _fix_document_paths(self, schema: etree._Element) -> None:
        """Point ``doc()`` literals at a substitute (missing kit file) or at a file differing only by case."""
        seen: dict[str, str] = {}
        for element in schema.iter():
            for name in ("test", "context", "select", "value", "path"):
                value = element.get(name)
                if value and ".xml" in value:
                    element.set(name, _XML_LITERAL.sub(lambda m: self._document_literal(m, seen), value))

    def _document_literal(self, match: re.Match[str], seen: dict[str, str]) -> str:
        relative = match["path"]
        if relative not in seen:
            seen[relative] = self._document_uri(relative)
        return f"{match['q']}{seen[relative]}{match['q']}"

    def _document_uri(self, relative: str) -> str:
        if ":" in relative.split("/")[0]:
            return relative  # already a URI
        normalized = relative.replace("\\", "/")
        substitute = self.documents.get(normalized)
        if substitute is not None:
            return substitute.resolve().as_uri()  # the caller asked for it and reports it
        target = (self.base / normalized).resolve()
        if target.exists():
            return relative
        found = self._case.find(target)
        if found is not None and found.is_file():
            self.workarounds.append(
                f"document « {relative} » résolu sans tenir compte de la casse vers « {found.name} »")
            return found.as_uri()
        return relative  # evaluated only if the rule reaches it; Saxon then reports it

    def _emit(self, schema: etree._Element) -> etree._Element:
        namespaces = {"xsl": XSL, "svrl": SVRL, "dui": _DUI, "xs": "http://www.w3.org/2001/XMLSchema"}
        for prefix, uri in schema.nsmap.items():
            if prefix and prefix not in namespaces and uri != SCH:
                namespaces[prefix] = uri
        for ns in schema.iter(f"{{{SCH}}}ns"):
            prefix, uri = ns.get("prefix"), ns.get("uri")
            if prefix and uri and prefix != "xml":
                namespaces[prefix] = uri
        sheet = etree.Element(f"{{{XSL}}}stylesheet", nsmap=namespaces, version="2.0")
        sheet.set("{http://www.w3.org/XML/1998/namespace}base", self.base.as_uri() + "/")
        sheet.set("exclude-result-prefixes", " ".join(p for p in namespaces if p not in {"xsl", "svrl"}))
        etree.SubElement(sheet, f"{{{XSL}}}output", method="xml", indent="no", encoding="UTF-8")
        _emit_path_functions(sheet)
        patterns = _active_patterns(schema)
        self._emit_globals(sheet, schema, patterns)
        abstract = _AbstractRules(schema)
        root = etree.SubElement(sheet, f"{{{XSL}}}template", match="/")
        output = etree.SubElement(root, f"{{{SVRL}}}schematron-output")
        output.set("title", _escape_avt(_text_of(schema.find(f"{{{SCH}}}title"))))
        for index, pattern in enumerate(patterns):
            active = etree.SubElement(output, f"{{{SVRL}}}active-pattern")
            active.set("id", _escape_avt(pattern.get("id") or f"pattern-{index}"))
            etree.SubElement(output, f"{{{XSL}}}call-template", name=f"dui:pattern-{index}")
        for index, pattern in enumerate(patterns):
            _emit_pattern(sheet, pattern, index, abstract)
        abstract.emit(sheet)
        return sheet

    def _emit_globals(self, sheet: etree._Element, schema: etree._Element, patterns: list[etree._Element]) -> None:
        """Schema, phase and pattern ``let``s become global variables, as in the ISO skeleton."""
        lets = [*_children(schema, "let")]
        phase = _default_phase(schema)
        if phase is not None:
            lets += _children(phase, "let")
        for pattern in patterns:
            lets += _children(pattern, "let")
        seen: dict[str, str] = {}
        for let in lets:
            name, value = let.get("name") or "", let.get("value") or "()"
            if seen.get(name) == value:
                continue
            if name in seen:
                raise SchematronError(f"variable globale « {name} » définie deux fois avec des valeurs différentes")
            seen[name] = value
            etree.SubElement(sheet, f"{{{XSL}}}variable", name=name, select=value)


class _AbstractRules:
    """Abstract rules become named templates that the rules extending them call (one copy, not one per use)."""

    def __init__(self, schema: etree._Element) -> None:
        self.rules = {r.get("id") or "": r for r in schema.iter(f"{{{SCH}}}rule") if r.get("abstract") == "true"}
        self.names = {rule_id: f"dui:abstract-{index}" for index, rule_id in enumerate(self.rules)}
        #: only the abstract rules some rule extends are emitted (unused ones may name undeclared prefixes)
        self.used: set[str] = set()

    def call(self, container: etree._Element, rule_id: str, pattern: str) -> None:
        if rule_id not in self.names:
            raise SchematronError(f"règle abstraite « {rule_id} » introuvable")
        self.used.add(rule_id)
        call = etree.SubElement(container, f"{{{XSL}}}call-template", name=self.names[rule_id])
        etree.SubElement(call, f"{{{XSL}}}with-param", name="dui:pattern", select=pattern)

    def emit(self, sheet: etree._Element) -> None:
        self._check_cycles()
        emitted: set[str] = set()
        while self.used - emitted:
            rule_id = min(self.used - emitted)
            emitted.add(rule_id)
            rule = self.rules[rule_id]
            template = etree.SubElement(sheet, f"{{{XSL}}}template", name=self.names[rule_id])
            etree.SubElement(template, f"{{{XSL}}}param", name="dui:pattern", **{"as": "xs:string"})
            _emit_rule_body(template, rule, "{$dui:pattern}", "$dui:pattern", self)

    def _check_cycles(self) -> None:
        def visit(rule_id: str, chain: tuple[str, ...]) -> None:
            for extends in self.rules[rule_id].iter(f"{{{SCH}}}extends"):
                target = extends.get("rule") or ""
                if target in chain:
                    raise SchematronError(f"extension circulaire de règles : {' → '.join((*chain, target))}")
                if target in self.rules:
                    visit(target, (*chain, target))

        for rule_id in self.rules:
            visit(rule_id, (rule_id,))


#: rules per generated template: each template call costs Saxon-HE about 13 µs whatever the document, and one
#: template per pattern compiles in tens of seconds; 64 measured best (structuration minimale on the kit's
#: examples: median 28 → 25 ms a document, compilation 1.3 → 2 s)
RULES_PER_TEMPLATE = 64


def _emit_pattern(sheet: etree._Element, pattern: etree._Element, index: int, abstract: _AbstractRules) -> None:
    """Each rule's context is selected once, minus the nodes an earlier rule of the pattern already fired on.

    That is the ISO semantics (a node fires at most one rule per pattern, the first in order) without walking
    every node of the document against every rule, which is what makes generated kit schematrons slow. Rules go
    by runs of RULES_PER_TEMPLATE into templates that call the next one, passing on the nodes already fired.
    """
    pattern_id = pattern.get("id") or f"pattern-{index}"
    rules = [r for r in _children(pattern, "rule") if r.get("context") and r.get("abstract") != "true"]
    entry = etree.SubElement(sheet, f"{{{XSL}}}template", name=f"dui:pattern-{index}")
    if rules:
        etree.SubElement(entry, f"{{{XSL}}}call-template", name=f"dui:rule-{index}-0")
    runs = [rules[start:start + RULES_PER_TEMPLATE] for start in range(0, len(rules), RULES_PER_TEMPLATE)]
    for number, run in enumerate(runs):
        template = etree.SubElement(sheet, f"{{{XSL}}}template", name=f"dui:rule-{index}-{number}")
        etree.SubElement(template, f"{{{XSL}}}param", name="dui:seen", select="()", **{"as": "node()*"})
        seen = "$dui:seen"
        for position, rule in enumerate(run):
            fired = f"dui:fired-{position}"
            expression = f"({_pattern_as_expression(rule.get('context') or '')}) except {seen}"
            etree.SubElement(template, f"{{{XSL}}}variable", name=fired, select=expression)
            loop = etree.SubElement(template, f"{{{XSL}}}for-each", select=f"${fired}")
            _emit_rule_body(loop, rule, _escape_avt(pattern_id), _xpath_string(pattern_id), abstract)
            etree.SubElement(template, f"{{{XSL}}}variable", name=f"dui:seen-{position}", select=f"{seen} | ${fired}")
            seen = f"$dui:seen-{position}"
        if number < len(runs) - 1:
            call = etree.SubElement(template, f"{{{XSL}}}call-template", name=f"dui:rule-{index}-{number + 1}")
            etree.SubElement(call, f"{{{XSL}}}with-param", name="dui:seen", select=seen)


def _emit_rule_body(container: etree._Element, rule: etree._Element, pattern_avt: str, pattern_xpath: str,
                    abstract: _AbstractRules) -> None:
    for item in rule:
        if not isinstance(item.tag, str) or etree.QName(item).namespace != SCH:
            continue
        kind = etree.QName(item).localname
        if kind == "let":
            etree.SubElement(container, f"{{{XSL}}}variable", name=item.get("name") or "",
                             select=item.get("value") or "()")
        elif kind in {"assert", "report"}:
            _emit_assertion(container, item, kind, pattern_avt)
        elif kind == "extends":
            abstract.call(container, item.get("rule") or "", pattern_xpath)


def _pattern_as_expression(pattern: str) -> str:
    """An XSLT pattern as the expression selecting every node it matches (``a/b`` → ``//a/b``)."""
    branches = []
    for branch in _split_union(pattern):
        branch = branch.strip()
        if branch.startswith(("/", "id(", "key(", "doc(", "(")):
            branches.append(branch)
        else:
            branches.append(f"//{branch}")
    return " | ".join(branches)


def _split_union(pattern: str) -> list[str]:
    """Top-level ``|`` branches of a pattern (not those inside predicates, parentheses or strings)."""
    branches: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in pattern:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append("".join(current))
            current = []
            continue
        current.append(char)
    branches.append("".join(current))
    return branches


def _xpath_string(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in value.split("'")) + ")"


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return list(element.iterchildren(f"{{{SCH}}}{name}"))


def _text_of(element: etree._Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _escape_avt(value: str) -> str:
    """Literal result attributes are attribute value templates: braces must be doubled."""
    return value.replace("{", "{{").replace("}", "}}")


def _default_phase(schema: etree._Element) -> etree._Element | None:
    name = schema.get("defaultPhase")
    if not name or name == "#ALL":
        return None
    for phase in _children(schema, "phase"):
        if phase.get("id") == name:
            return phase
    raise SchematronError(f"phase par défaut « {name} » introuvable")


def _active_patterns(schema: etree._Element) -> list[etree._Element]:
    patterns = [p for p in schema.iter(f"{{{SCH}}}pattern") if p.get("abstract") != "true"]
    phase = _default_phase(schema)
    if phase is None:
        return patterns
    wanted = [a.get("pattern") for a in _children(phase, "active")]
    by_id = {p.get("id"): p for p in patterns}
    missing = [w for w in wanted if w not in by_id]
    if missing:
        raise SchematronError(f"phase « {phase.get('id')} » : motif(s) introuvable(s) : {', '.join(map(str, missing))}")
    return [by_id[w] for w in wanted]


def _parameter_value(params: dict[str, str]) -> Callable[[re.Match[str]], str]:
    """Replacement function: ``$name`` → the value the instantiating pattern gives the parameter."""
    return lambda match: params[match.group(0)[1:]]


def _expand_abstract_patterns(schema: etree._Element) -> None:
    abstract = {p.get("id"): p for p in schema.iter(f"{{{SCH}}}pattern") if p.get("abstract") == "true"}
    for pattern in list(schema.iter(f"{{{SCH}}}pattern")):
        base_id = pattern.get("is-a")
        if not base_id:
            continue
        base = abstract.get(base_id)
        if base is None:
            raise SchematronError(f"motif abstrait « {base_id} » introuvable (motif {pattern.get('id')})")
        params = {p.get("name") or "": p.get("value") or "" for p in _children(pattern, "param")}
        names = sorted(params, key=len, reverse=True)
        replace = re.compile("|".join(r"\$" + re.escape(n) + r"(?![\w.\-])" for n in names)) if names else None
        for child in list(pattern):
            pattern.remove(child)
        for child in base:
            if isinstance(child.tag, str) and etree.QName(child).localname in {"param", "title"}:
                continue
            clone = copy.deepcopy(child)
            if replace is not None:
                for node in clone.iter():
                    for key, value in node.attrib.items():
                        node.set(key, replace.sub(_parameter_value(params), value))
            pattern.append(clone)
        del pattern.attrib["is-a"]
    for pattern in abstract.values():
        parent = pattern.getparent()
        if parent is not None:
            parent.remove(pattern)


def _emit_assertion(template: etree._Element, item: etree._Element, kind: str, pattern_avt: str) -> None:
    test = item.get("test") or "true()"
    if kind == "assert":
        choose = etree.SubElement(template, f"{{{XSL}}}choose")
        etree.SubElement(choose, f"{{{XSL}}}when", test=test)
        container = etree.SubElement(choose, f"{{{XSL}}}otherwise")
        result = etree.SubElement(container, f"{{{SVRL}}}failed-assert")
    else:
        container = etree.SubElement(template, f"{{{XSL}}}if", test=test)
        result = etree.SubElement(container, f"{{{SVRL}}}successful-report")
    result.set("test", _escape_avt(test))
    result.set("location", "{dui:path(.)}")
    result.set("pattern", pattern_avt)
    for name in ("role", "see", "flag", "id"):
        if item.get(name):
            result.set(name, _escape_avt(item.get(name) or ""))
    text = etree.SubElement(result, f"{{{SVRL}}}text")
    _emit_text(text, item)


def _emit_text(target: etree._Element, item: etree._Element) -> None:
    if item.text:
        etree.SubElement(target, f"{{{XSL}}}text").text = item.text
    for child in item:
        if isinstance(child.tag, str) and etree.QName(child).namespace == SCH:
            local = etree.QName(child).localname
            if local == "value-of":
                etree.SubElement(target, f"{{{XSL}}}value-of", select=child.get("select") or "''")
            elif local == "name":
                etree.SubElement(target, f"{{{XSL}}}value-of", select=f"name({child.get('path') or '.'})")
            else:
                _emit_text(target, child)
        if child.tail:
            etree.SubElement(target, f"{{{XSL}}}text").text = child.tail


def _emit_path_functions(sheet: etree._Element) -> None:
    """``dui:path(node)``: a readable XPath such as /ClinicalDocument/recordTarget/patientRole/id[2]."""
    function = etree.SubElement(sheet, f"{{{XSL}}}function", name="dui:path", **{"as": "xs:string"})
    etree.SubElement(function, f"{{{XSL}}}param", name="node", **{"as": "node()"})
    etree.SubElement(function, f"{{{XSL}}}sequence", select=(
        "if ($node instance of document-node()) then '/' else string-join("
        "for $n in $node/ancestor-or-self::node()[not(. instance of document-node())] return dui:step($n), '')"))
    step = etree.SubElement(sheet, f"{{{XSL}}}function", name="dui:step", **{"as": "xs:string"})
    etree.SubElement(step, f"{{{XSL}}}param", name="n", **{"as": "node()"})
    etree.SubElement(step, f"{{{XSL}}}sequence", select=(
        "if ($n instance of attribute()) then concat('/@', name($n)) "
        "else if ($n instance of element()) then concat('/', name($n), "
        "if (count($n/../*[node-name(.) = node-name($n)]) gt 1) "
        "then concat('[', count($n/preceding-sibling::*[node-name(.) = node-name($n)]) + 1, ']') else '') "
        "else concat('/', name($n))"))


def cache_dir() -> Path:
    """Where compiled stylesheets are kept between runs (``DUI_CONFORMANCE_CACHE`` overrides)."""
    override = os.environ.get("DUI_CONFORMANCE_CACHE")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("dui-conformance"))


def compile_schematron(source: Path, documents: Mapping[str, Path] | None = None,
                       *, use_cache: bool = True) -> CompiledSchematron:
    """Compile ``source`` to XSLT 2.0, reusing the on-disk result while no file it was built from changed.

    ``documents`` maps a relative ``doc()`` path that the schematron names but that is missing (a kit defect)
    to a file standing in for it.
    """
    source = source.resolve()
    substitutes = dict(documents or {})
    key = hashlib.sha256(json.dumps(
        [COMPILER_VERSION, str(source), sorted((k, sha256_file(v)) for k, v in substitutes.items())]
    ).encode()).hexdigest()
    entry = cache_dir() / "schematron" / f"{key}.json"
    if use_cache:
        cached = _read_cache(entry, source)
        if cached is not None:
            return cached
    compiled = _Compiler(source, substitutes).compile()
    if use_cache:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            temporary = entry.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"xslt": compiled.xslt, "dependencies": compiled.dependencies,
                                             "workarounds": compiled.workarounds}), encoding="utf-8")
            temporary.replace(entry)
        except OSError:
            pass  # a read-only cache only costs time
    return compiled


def _read_cache(entry: Path, source: Path) -> CompiledSchematron | None:
    try:
        data: dict[str, Any] = json.loads(entry.read_text(encoding="utf-8"))
        dependencies: dict[str, str] = data["dependencies"]
        if any(sha256_file(Path(p)) != digest for p, digest in dependencies.items()):
            return None
        return CompiledSchematron(source, data["xslt"], dependencies, list(data["workarounds"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


_LOCK = threading.Lock()


@cache
def _saxon() -> Any:
    try:
        import saxonche
    except ImportError:  # pragma: no cover - saxonche is a dependency
        raise SchematronError("saxonche n'est pas installé : les schématrons XSLT 2 ne peuvent pas être exécutés"
                              ) from None
    processor = saxonche.PySaxonProcessor(license=False)
    # A kit's schematron only reads its own value sets: nothing over the network.
    processor.set_configuration_property("http://saxon.sf.net/feature/allowedProtocols", "file")
    return processor


_EXECUTABLES: dict[str, Any] = {}


class SaxonDocument:
    """A document handed to Saxon once, for every schematron that validates it."""

    def __init__(self, document: etree._Element) -> None:
        text = etree.tostring(document, encoding="unicode")
        with _LOCK:
            try:
                self.node = _saxon().parse_xml(xml_text=text)
            except Exception as exc:
                raise SchematronError(f"document illisible pour Saxon ({_saxon_message(exc)})") from None


class Schematron:
    """A compiled schematron, ready to validate documents; the Saxon compilation happens once per process."""

    def __init__(self, compiled: CompiledSchematron) -> None:
        self.compiled = compiled
        self._key = hashlib.sha256(compiled.xslt.encode()).hexdigest()
        with _LOCK:
            if self._key not in _EXECUTABLES:
                processor = _saxon().new_xslt30_processor()
                try:
                    _EXECUTABLES[self._key] = processor.compile_stylesheet(stylesheet_text=compiled.xslt)
                except Exception as exc:
                    raise SchematronError(
                        f"{compiled.source.name} : le XSLT généré ne compile pas ({_saxon_message(exc)})") from None
            self._executable = _EXECUTABLES[self._key]

    @classmethod
    def from_file(cls, source: Path, documents: Mapping[str, Path] | None = None) -> Schematron:
        """Compile (or reuse) the schematron at ``source``."""
        return cls(compile_schematron(source, documents))

    def svrl(self, document: etree._Element | SaxonDocument) -> str:
        """The SVRL report for a document already accepted by the safe parser."""
        node = document if isinstance(document, SaxonDocument) else SaxonDocument(document)
        with _LOCK:
            try:
                result = self._executable.transform_to_string(xdm_node=node.node)
            except Exception as exc:
                raise SchematronError(f"{self.compiled.source.name} : erreur d'exécution ({_saxon_message(exc)})"
                                      ) from None
        if result is None:
            raise SchematronError(f"{self.compiled.source.name} : aucune sortie SVRL")
        return str(result)

    def validate(self, document: etree._Element | SaxonDocument) -> list[SvrlResult]:
        """Failed asserts and successful reports for ``document``."""
        return parse_svrl(self.svrl(document))


def parse_svrl(svrl: str) -> list[SvrlResult]:
    """Failed asserts and successful reports of an SVRL report."""
    root = parse_xml(svrl.encode("utf-8"), max_bytes=256 * 1024 * 1024, max_depth=64)
    results = []
    for element in root.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        kind: Literal["assert", "report"] = "assert" if element.tag.endswith("failed-assert") else "report"
        results.append(SvrlResult(
            kind=kind, test=element.get("test", ""), location=element.get("location", ""),
            text=" ".join("".join(element.itertext()).split()), role=element.get("role"), see=element.get("see"),
            pattern=element.get("pattern"),
        ))
    return results


def _saxon_message(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return message[:500] + ("…" if len(message) > 500 else "")
