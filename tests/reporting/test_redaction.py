"""`--redact`: a shareable copy where INS and names are pseudonymised, consistently across every file."""

import json
import re

import openpyxl

from conformance.cli import main
from conformance.reporting.redaction import Redactor

SECRETS = ["279035121518989", "PAT-TROIS", "DOMINIQUE", "MARIE-LOUISE", "745029912345667", "TEMPORAIRE"]


def test_redacted_copy_keeps_no_identity_and_stays_consistent(cli, tmp_path, report_validator):
    result = cli.invoke(main, ["run", "--theme", "INS", "--report-dir", str(tmp_path), "--redact",
                               "--fault", "ins-exposed-while-recup"])
    assert result.exit_code == 1, result.output
    (run_dir,) = [p for p in tmp_path.iterdir() if not p.is_symlink()]
    shared = run_dir / "partage"
    files = [p for p in shared.rglob("*") if p.is_file()]
    assert {"report.json", "report.html", "rem.csv", "junit.xml", "events.ndjson"} <= {p.name for p in files}
    assert {"rem.xlsx", "convergence.xlsx"} <= {p.name for p in files}
    everything = "\n".join(_text(p) for p in files)
    assert [s for s in SECRETS if s in everything] == []
    original = (run_dir / "report.json").read_text(encoding="utf-8")
    assert "279035121518989" in original  # the finding names the exposed INS; the shared copy must not
    report = json.loads((shared / "report.json").read_text(encoding="utf-8"))
    report_validator.validate(report)
    finding = next(f for r in report["requirements"] for f in r["findings"] if f["rule"] == "ins-non-qualifie")
    pseudonym = re.search(r"INS-[0-9A-F]{10}", finding["message"]).group(0)
    assert pseudonym in everything.replace(finding["message"], "")  # same pseudonym in the evidence files


def _text(path):
    """A file's text; a workbook's cell values (it is a zip)."""
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        return "\n".join(str(c.value) for sheet in book for row in sheet.iter_rows() for c in row if c.value)
    return path.read_text(encoding="utf-8")


def test_pseudonyms_are_stable_within_a_redaction_and_keyed():
    first, second = Redactor(b"k1"), Redactor(b"k2")
    first.collect({"family": "PAT-TROIS"})
    text = "PAT-TROIS né 279035121518989 ; PAT-TROISIEME reste"
    redacted = first.text(text)
    assert redacted.count(first.pseudonym("PAT-TROIS", "NOM")) == 1 and "PAT-TROISIEME" in redacted
    assert first.pseudonym("x", "NOM") == first.pseudonym("x", "NOM") != second.pseudonym("x", "NOM")
    assert "279035121518989" not in redacted
