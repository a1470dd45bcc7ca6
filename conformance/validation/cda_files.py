"""One CDA file judged on its own (``dui-conformance validate cda``): every layer, each finding in its layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from conformance.core.findings import Finding
from conformance.core.outcomes import Severity
from conformance.validation import cda
from conformance.validation.kits import CdaKit
from conformance.validation.xml import MAX_BYTES, UnsafeXml, declared_encoding, parse_xml

#: models recognised by their templateId, to apply their volet's rules
_MODELS = {model.template_id: name for name, model in cda.DOCUMENT_TYPES.items()}


@dataclass
class CdaFileReport:
    """Verdict of one file, findings grouped by layer (XML, structuration minimale, DUI rules, volet, kit)."""

    document_type: str | None = None
    findings: dict[str, list[Finding]] = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        """The layers that ran, in order."""
        return list(self.findings)

    @property
    def valid(self) -> bool:
        """No finding of severity error in any layer."""
        return not any(f.severity == Severity.ERROR for found in self.findings.values() for f in found)


def xml_findings(data: bytes) -> tuple[etree._Element | None, list[Finding]]:
    """The safe parse of a CDA file and what is wrong with its XML or its encoding."""
    findings = []
    encoding = declared_encoding(data)
    if encoding not in (None, "utf-8", "utf8"):
        findings.append(Finding(rule="encodage-declare", location="déclaration XML", expected='encoding="UTF-8"',
                                actual=encoding, message=f"La déclaration XML annonce « {encoding} » au lieu de UTF-8"))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        findings.append(Finding(rule="octets-non-utf8", location=f"octet {exc.start}", expected="UTF-8",
                                actual=None, message=f"Octets invalides en UTF-8 (position {exc.start})"))
    try:
        root = parse_xml(data)
    except UnsafeXml as exc:
        findings.append(Finding(rule=f"xml-{exc.reason}", location="document", expected="XML bien formé, sans DTD",
                                actual=None, message=f"Document refusé : {exc}"))
        return None, findings
    if cda.clinical_document(root) is None:
        findings.append(cda.not_a_cda(root))
        return None, findings
    return root, findings


def _dui_rules(root: etree._Element, baseline: list[Finding]) -> list[Finding]:
    seen = {(f.rule, f.location, f.message) for f in baseline}
    strict = [f for part in cda.PARTS for f in cda.part_findings(root, part, strict=True)]
    return [f for f in strict if (f.rule, f.location, f.message) not in seen] + cda.ins_findings(root)


def validate_cda_file(path: Path, *, kit: CdaKit | None = None, document_type: str | None = None,
                      schematrons: Sequence[str] = ()) -> CdaFileReport:
    """Judge one file: XML and encoding, structuration minimale, DUI rules, its volet, and the kit if given."""
    with path.open("rb") as stream:
        data = stream.read(MAX_BYTES + 1)
    report = CdaFileReport(document_type=document_type)
    root, found = xml_findings(data)
    report.findings["XML"] = found
    if root is None:
        return report
    doc = cda.clinical_document(root)
    assert doc is not None
    baseline = cda.structuration_minimale(root)
    report.findings["structuration minimale"] = baseline
    report.findings["règles DUI (identifiants, INS)"] = _dui_rules(root, baseline)
    if document_type is None:
        roots = [t.get("root") for t in doc.iterchildren(f"{{{cda.HL7}}}templateId")]
        document_type = next((_MODELS[r] for r in roots if r in _MODELS), None)
        if document_type is None and cda.dlu_model(root) is not None:
            document_type = "DLU"  # the transfer sheets FLUDT and FLUDR are DLU models too
        report.document_type = document_type
    else:
        report.findings["type de document"] = cda.document_type_findings(root, document_type)
    if document_type == "DLU":
        report.findings["volet DLU"] = cda.dlu_findings(root)
    elif document_type == "TDDUI-CDA":
        report.findings["volet TDDUI-CDA"] = cda.tddui_header_findings(root) + cda.tddui_sections_findings(root)
    if kit is not None:
        result = kit.validate(root, schematrons=schematrons)
        report.findings[f"kit {kit.name}"] = result.findings() + [
            Finding(rule="kit-note", severity=Severity.INFO, location="kit", message=note) for note in result.notes]
    return report
