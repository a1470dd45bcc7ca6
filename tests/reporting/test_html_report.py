from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from conformance.core.outcomes import CheckStatus, RunVerdict, Severity, Verdict
from conformance.core.results import CheckResult, EvidenceRef, StepResult
from conformance.reporting import REPORTERS
from conformance.reporting.html_report import CLIP, HtmlReporter, clip, evidence_href, render_html, shown
from conformance.reporting.i18n import (
    LABELS,
    format_duration,
    format_timestamp,
    label,
    resolve_lang,
    severity_label,
    status_label,
    verdict_label,
)
from conformance.reporting.model import (
    LocatedFinding,
    Report,
    RequirementReport,
    RunInfo,
    ScenarioReport,
    ThemeSummary,
    coverage,
)

HOSTILE = "<script>alert(1)</script>"
EV_HTTP = EvidenceRef(id="SC-HTTP-01/get/1", kind="http", path="evidence/SC-HTTP-01/get-1.json",
                      summary="GET /Patient → 200")
EV_MSS = EvidenceRef(id="SC-MSS-01/send/1", kind="mssante", path="evidence/SC-MSS-01/send-1.eml",
                     summary="message reçu par le simulateur")


def requirement(req_id: str, verdict: Verdict, **extra: Any) -> RequirementReport:
    fields: dict[str, Any] = {
        "id": req_id, "theme": "HTTP", "section": "Transport", "profile": "DUI", "title": f"Titre de {req_id}",
        "text": f"Le DUI DOIT satisfaire {req_id}.", "level": "EXIGENCE", "criticality": "Majeure",
        "source": "REM DUI v1.2 §3", "verdict": verdict,
    }
    fields.update(extra)
    return RequirementReport(**fields)


def make_report(**run: Any) -> Report:
    finding = LocatedFinding(
        rule="content-type", message=f"Type de contenu inattendu {HOSTILE}", severity=Severity.ERROR,
        location="HTTP header Content-Type", expected="application/fhir+json",
        actual={"content-type": "text/html", "charset": None}, check="http.content_type",
        scenario_id="SC-HTTP-01", step_id="get", evidence=[EV_HTTP.id],
    )
    requirements = [
        requirement("DUI-HTTP-01", Verdict.CONFORME, scenarios=["SC-HTTP-01"], evidence=[EV_HTTP.id]),
        requirement("DUI-HTTP-02", Verdict.NON_CONFORME, scenarios=["SC-HTTP-01"], findings=[finding],
                    evidence=[EV_HTTP.id]),
        requirement("DUI-HTTP-03", Verdict.NON_CONFORME, level="PRECONISATION", criticality="Mineure", warning=True,
                    scenarios=["SC-HTTP-01"], findings=[finding.model_copy(update={"rule": "cache-control"})]),
        requirement("DUI-MSS-01", Verdict.ERREUR, theme="MSS", section="Messagerie", scenarios=["SC-MSS-01"],
                    errors=["SC-MSS-01 / send : délai dépassé"], reason="SC-MSS-01 / send : délai dépassé",
                    uncertain=True),
        requirement("DUI-MSS-02", Verdict.NON_TESTE, theme="MSS", section="Messagerie",
                    reason="non sélectionné", not_selected="non sélectionné"),
    ]
    check = CheckResult(check="http.content_type", status=CheckStatus.FAILED,
                        requirements=["DUI-HTTP-02"], findings=[finding])
    scenarios = [
        ScenarioReport(id="SC-HTTP-01", title="Lecture d’un patient", theme="HTTP",
                       requirements=["DUI-HTTP-01", "DUI-HTTP-02", "DUI-HTTP-03"], file="scenarios/http/read.yaml",
                       steps=1, status=CheckStatus.FAILED, duration_ms=1234.0, finished=True,
                       step_results=[StepResult(step_id="get", title="Lire le patient", kind="http",
                                                status=CheckStatus.FAILED, duration_ms=250.0, checks=[check],
                                                evidence=[EV_HTTP])]),
        ScenarioReport(id="SC-MSS-01", title="Envoi MSSanté", theme="MSS", requirements=["DUI-MSS-01"],
                       file="scenarios/mss/send.yaml", steps=2, status=CheckStatus.ERROR, duration_ms=30000.0,
                       finished=True,
                       step_results=[StepResult(step_id="send", title="Envoyer", kind="mssante",
                                                status=CheckStatus.ERROR, message="délai dépassé",
                                                evidence=[EV_MSS])]),
    ]
    run_fields: dict[str, Any] = {
        "run_id": "20250314-100237-ab12", "tool_version": "0.1.0", "suite_version": "2025.03",
        "catalogue_version": "REM-DUI-1.2", "target": {"url": "https://dui.example.test/fhir", "mode": "api",
                                                       "token": "s3cr3t-token"},
        "faults": [], "seed": 42, "lang": "fr", "selection": {"themes": ["HTTP", "MSS"]}, "simulators": {},
        "started_at": 1_741_946_557.0, "finished_at": 1_741_946_600.0, "duration_ms": 43_000.0, "complete": True,
    }
    run_fields.update(run)
    return Report(
        run=RunInfo(**run_fields), verdict=RunVerdict.NON_CONFORME, coverage=coverage(requirements),
        summary={"conforme": 1, "non conforme": 2, "non testé": 1, "erreur": 1},
        themes=[
            ThemeSummary(theme="HTTP", section="Transport",
                         counts={"conforme": 1, "non conforme": 2, "non testé": 0, "erreur": 0}),
            ThemeSummary(theme="MSS", section="Messagerie",
                         counts={"conforme": 0, "non conforme": 0, "non testé": 1, "erreur": 1}),
        ],
        requirements=requirements, scenarios=scenarios, evidence=[EV_HTTP, EV_MSS],
    )


def parse(html: str) -> Any:
    return lxml.html.document_fromstring(html)


def select(element: Any, selector: str) -> list[Any]:
    """Elements matching a simple CSS selector: descendant ``tag.class`` parts only (cssselect is not a dependency)."""
    xpath = "."
    for part in selector.split():
        tag, *classes = part.split(".")
        xpath += f"//{tag or '*'}" + "".join(
            f"[contains(concat(' ', normalize-space(@class), ' '), ' {c} ')]" for c in classes
        )
    return element.xpath(xpath)


def text_of(element: Any) -> str:
    # only ASCII whitespace: the non-breaking spaces of French typography are part of the expected text
    return re.sub(r"[ \t\r\n\f]+", " ", element.text_content()).strip()


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(make_report())


@pytest.fixture(scope="module")
def doc(html: str) -> Any:
    return parse(html)


def test_writes_report_html_through_the_registry(tmp_path: Path) -> None:
    assert REPORTERS["html"] is HtmlReporter
    HtmlReporter().write(make_report(), tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_header_shows_verdict_and_run_identity(doc: Any) -> None:
    assert doc.get("lang") == "fr"
    assert text_of(doc.find(".//h1")) == "Rapport de conformité DUI"
    verdict = select(doc, ".verdict .badge")[0]
    assert text_of(verdict) == "non conforme"
    assert "b-non_conforme" in verdict.get("class")
    facts = text_of(select(doc, "header dl.facts")[0])
    for expected in ("20250314-100237-ab12", "https://dui.example.test/fhir", "api", "0.1.0", "2025.03",
                     "REM-DUI-1.2", "42", format_timestamp(1_741_946_557.0), "43,0\u00a0s"):
        assert expected in facts
    assert "s3cr3t-token" not in doc.text_content()  # the rest of the target may hold credentials
    assert "Préconisations non respectées\u00a0: 1" in text_of(select(doc, ".verdict")[0])


def test_summary_has_a_row_per_theme_and_totals(doc: Any) -> None:
    rows = select(doc, "table.summary tbody tr")
    assert [text_of(r.find("th")) for r in rows] == ["HTTP", "MSS"]
    cells = [text_of(c) for c in rows[0].findall("td")]
    assert cells == ["Transport", "1", "2", "0", "0", "1", "3"]
    totals = [text_of(c) for c in select(doc, "table.summary tfoot td")]
    assert totals == ["1", "2", "1", "1", "1", "5"]


def test_every_requirement_has_its_anchor_and_verdict(doc: Any) -> None:
    expected = {"DUI-HTTP-01": "conforme", "DUI-HTTP-02": "non conforme", "DUI-HTTP-03": "préconisation non respectée",
                "DUI-MSS-01": "erreur", "DUI-MSS-02": "non testé"}
    for req_id, verdict in expected.items():
        element = doc.get_element_by_id(req_id)
        assert element.tag == "details"
        assert text_of(select(element, "summary .badge")[0]) == verdict


def test_failures_are_expanded_and_conforme_collapsed(doc: Any) -> None:
    is_open = {r.get("id"): r.get("open") is not None for r in select(doc, "details.req")}
    assert is_open == {"DUI-HTTP-01": False, "DUI-HTTP-02": True, "DUI-HTTP-03": True, "DUI-MSS-01": True,
                       "DUI-MSS-02": False}


def test_preconisation_not_met_is_a_warning(doc: Any) -> None:
    req = doc.get_element_by_id("DUI-HTTP-03")
    assert "s-warning" in req.get("class")
    assert "b-warning" in select(req, "summary .badge")[0].get("class")


def test_requirement_details(doc: Any) -> None:
    req = text_of(doc.get_element_by_id("DUI-MSS-01"))
    for expected in ("Le DUI DOIT satisfaire DUI-MSS-01.", "REM DUI v1.2 §3", "source non confirmée",
                     "SC-MSS-01 / send : délai dépassé", "EXIGENCE", "Majeure"):
        assert expected in req
    assert "non sélectionné" in text_of(doc.get_element_by_id("DUI-MSS-02"))
    links = [a.get("href") for a in select(doc.get_element_by_id("DUI-HTTP-01"), "a")]
    assert "#sc-SC-HTTP-01" in links


def test_finding_shows_expected_actual_and_evidence(doc: Any) -> None:
    row = select(doc.get_element_by_id("DUI-HTTP-02"), "tr.finding")[0]
    assert text_of(select(row, ".expected")[0]) == "application/fhir+json"
    assert text_of(select(row, ".actual")[0]) == '{"content-type": "text/html", "charset": null}'
    assert "content-type" in text_of(row)
    assert "HTTP header Content-Type" in text_of(row)
    assert "défaut" in text_of(row)
    link = select(row, "a.proof")[0]
    assert link.get("href") == "evidence/SC-HTTP-01/get-1.json"
    assert text_of(link) == EV_HTTP.id


def test_hostile_content_is_escaped(html: str, doc: Any) -> None:
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE in text_of(select(doc.get_element_by_id("DUI-HTTP-02"), "td.message")[0])
    assert len(doc.findall(".//script")) == 1  # ours, nothing injected


def test_hostile_attribute_values_stay_inside_the_attribute() -> None:
    report = make_report()
    evil = EvidenceRef(id='x" onclick="alert(1)', kind="http", path="javascript:alert(1)",
                       summary='"><img src=x onerror=alert(1)>')
    report.evidence.append(evil)
    report.requirements[1].evidence.append(evil.id)
    doc = parse(render_html(report))
    assert not doc.xpath("//*[@onclick or @onerror]")
    assert not doc.xpath("//img")
    # no link has a scheme: "javascript:alert(1)" became the relative file name "javascript%3Aalert%281%29"
    assert not [h for h in doc.xpath("//a/@href") if re.match(r"[a-z][a-z0-9+.-]*:", h, re.IGNORECASE)]


def test_scenarios_with_steps_checks_and_evidence(doc: Any) -> None:
    scenario = doc.get_element_by_id("sc-SC-HTTP-01")
    assert scenario.get("open") is not None
    content = text_of(scenario)
    for expected in ("Lecture d’un patient", "échoué", "1,2\u00a0s", "Lire le patient", "http.content_type",
                     "GET /Patient → 200", "250\u00a0ms"):
        assert expected in content
    assert select(scenario, "a.proof")[0].get("href") == EV_HTTP.path
    assert "délai dépassé" in text_of(doc.get_element_by_id("sc-SC-MSS-01"))


def test_evidence_index_is_numbered_and_linked(doc: Any) -> None:
    items = select(doc, "ol.evidence li")
    assert [i.get("id") for i in items] == ["ev-1", "ev-2"]
    assert select(items[1], "a")[0].get("href") == "evidence/SC-MSS-01/send-1.eml"
    assert "message reçu par le simulateur" in text_of(items[1])


def test_footer(doc: Any) -> None:
    assert "Généré par dui-conformance 0.1.0" in text_of(doc.find(".//footer"))


def test_interrupted_banner_only_when_interrupted(html: str) -> None:
    assert "Exécution interrompue" not in html
    doc = parse(render_html(make_report(interrupted=True, complete=False, finished_at=None, duration_ms=None)))
    banner = doc.get_element_by_id("interrupted")
    assert text_of(banner) == "Exécution interrompue\u00a0: rapport partiel"


def test_run_error_and_faults_are_flagged() -> None:
    doc = parse(render_html(make_report(error="connexion refusée", faults=["wrong-content-type"])))
    assert "connexion refusée" in text_of(select(doc, ".banner-error")[0])
    faults = text_of(doc.get_element_by_id("faults"))
    assert "DUI de référence avec défauts injectés" in faults
    assert "wrong-content-type" in faults


def test_english(html: str) -> None:
    doc = parse(render_html(make_report(), lang="en"))
    assert doc.get("lang") == "en"
    assert text_of(doc.find(".//h1")) == "DUI conformity report"
    assert text_of(select(doc, ".verdict .badge")[0]) == "non-conformant"
    assert text_of(select(doc.get_element_by_id("DUI-HTTP-03"), ".badge")[0]) == "recommendation not met"
    assert "Generated by dui-conformance 0.1.0" in text_of(doc.find(".//footer"))
    assert "Rapport de conformité" not in doc.text_content()


def test_unknown_language_falls_back_to_french() -> None:
    doc = parse(render_html(make_report(), lang="de"))
    assert doc.get("lang") == "fr"
    assert text_of(doc.find(".//h1")) == "Rapport de conformité DUI"


def test_self_contained(html: str, doc: Any) -> None:
    assert "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "@import" not in html and "url(" not in html
    assert not doc.xpath("//*[@src]")
    assert doc.xpath("//meta[@charset='utf-8']")


def test_csp_allows_exactly_the_inline_style_and_script(doc: Any) -> None:
    csp = doc.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0]
    assert "default-src 'none'" in csp
    for tag in ("style", "script"):
        (element,) = doc.findall(f".//{tag}")
        digest = base64.b64encode(hashlib.sha256(element.text.encode("utf-8")).digest()).decode("ascii")
        assert f"{tag}-src 'sha256-{digest}'" in csp


def test_page_is_readable_without_javascript(doc: Any) -> None:
    # the only thing hidden is the filter bar, which needs the script
    assert [e.get("id") for e in doc.xpath("//*[@hidden]")] == ["filters"]


def test_long_values_are_truncated() -> None:
    report = make_report()
    req = report.requirements[1]
    req.findings = [req.findings[0].model_copy(update={"actual": "x" * 10_000, "message": "m" * 10_000})]
    row = select(parse(render_html(report)).get_element_by_id("DUI-HTTP-02"), "tr.finding")[0]
    assert text_of(select(row, ".actual")[0]) == "x" * CLIP + "…"
    assert text_of(select(row, "td.message")[0]) == "m" * CLIP + "…"


def test_display_helpers() -> None:
    assert clip("a\u202eb\x00c") == "a[U+202E]b[U+0000]c"
    assert shown(None) == ""
    assert shown("") == '""'
    assert shown([1, True, None]) == "[1, true, null]"
    assert shown({"é": 1}) == '{"é": 1}'
    assert evidence_href("evidence/SC 1/a#b.json") == "evidence/SC%201/a%23b.json"
    assert evidence_href("javascript:alert(1)") == "javascript%3Aalert%281%29"
    for unsafe in ("", "/etc/passwd", "//evil.example/x", "../x", "evidence/../../x", "a\\b"):
        assert evidence_href(unsafe) is None


def test_unsafe_evidence_path_is_not_linked() -> None:
    report = make_report()
    report.evidence[0] = EV_HTTP.model_copy(update={"path": "../../etc/passwd"})
    doc = parse(render_html(report))
    assert not doc.xpath("//a[contains(@href, 'passwd')]")
    assert "../../etc/passwd" in text_of(select(doc, "ol.evidence")[0])


def test_large_report_renders() -> None:
    report = make_report()
    finding = report.requirements[1].findings[0]
    report.requirements = [
        requirement(f"DUI-BIG-{n:03d}", Verdict.NON_CONFORME if n % 3 == 0 else Verdict.CONFORME,
                    findings=[finding] * 10 if n % 3 == 0 else [], evidence=[EV_HTTP.id])
        for n in range(300)
    ]
    doc = parse(render_html(report))
    assert len(select(doc, "details.req")) == 300
    assert len(select(doc, "tr.finding")) == 1000


# i18n


def test_label_falls_back_to_french_and_rejects_unknown_keys() -> None:
    assert label("report.title") == "Rapport de conformité DUI"
    assert label("report.title", "en") == "DUI conformity report"
    assert label("report.title", "xx") == "Rapport de conformité DUI"
    assert label("report.title", "en-GB") == "DUI conformity report"
    assert resolve_lang("EN") == "en"
    with pytest.raises(KeyError):
        label("no.such.key")


def test_languages_have_the_same_keys() -> None:
    assert set(LABELS["fr"]) == set(LABELS["en"])


@pytest.mark.parametrize(
    ("verdict", "fr", "en"),
    [
        (Verdict.CONFORME, "conforme", "conformant"),
        (Verdict.NON_CONFORME, "non conforme", "non-conformant"),
        (Verdict.NON_TESTE, "non testé", "not tested"),
        (Verdict.ERREUR, "erreur", "error"),
    ],
)
def test_verdict_labels(verdict: Verdict, fr: str, en: str) -> None:
    assert verdict_label(verdict, "fr") == fr
    assert verdict_label(verdict, "en") == en
    assert verdict_label(verdict.value, "fr") == fr


def test_status_and_severity_labels() -> None:
    assert [status_label(s, "fr") for s in CheckStatus] == ["réussi", "échoué", "erreur", "non joué"]
    assert [severity_label(s, "fr") for s in Severity] == ["défaut", "avertissement", "information"]
    assert [severity_label(s, "en") for s in Severity] == ["defect", "warning", "information"]


def test_format_duration() -> None:
    assert format_duration(None) == "—"
    assert format_duration(850) == "850\u00a0ms"
    assert format_duration(12_400) == "12,4\u00a0s"
    assert format_duration(12_400, "en") == "12.4\u00a0s"
    assert format_duration(185_000) == "3\u00a0min\u00a005\u00a0s"
    assert format_duration(3_720_000) == "1\u00a0h\u00a002\u00a0min"


def test_a_finding_of_the_projects_own_reading_is_labelled_as_such() -> None:
    report = make_report()
    finding = report.requirements[1].findings[0]
    report.requirements[1].findings = [finding.model_copy(update={"project_reading": True,
                                                                   "source": "TDDUI IG 2.0, invariant tddui-1"})]
    doc = parse(render_html(report))
    cell = select(doc.get_element_by_id("DUI-HTTP-02"), "td.message")[0]
    (reading,) = select(cell, "span.reading")
    assert text_of(reading) == "lecture du projet" and "aucune source citée" in reading.get("title")
    assert "Source\u00a0: TDDUI IG 2.0, invariant tddui-1" in text_of(cell)
    plain = select(parse(render_html(make_report())).get_element_by_id("DUI-HTTP-02"), "td.message")[0]
    assert not select(plain, "span.reading")


def test_the_run_verdict_says_what_was_covered() -> None:
    report = make_report()
    doc = parse(render_html(report))
    assert text_of(doc.get_element_by_id("verdict-text")) == (
        "non conforme (3 exigences testées sur 5\u00a0; 2 EXIGENCEs non testées)")
    incomplete = report.model_copy(update={"verdict": RunVerdict.INCOMPLET,
                                           "run": report.run.model_copy(update={"require_complete": True})})
    doc = parse(render_html(incomplete))
    assert select(doc, ".verdict .badge.b-incomplet")
    assert "--require-complete" in text_of(doc.get_element_by_id("coverage-required"))
