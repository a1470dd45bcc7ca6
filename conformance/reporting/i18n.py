"""User-facing labels of the reports, in French (the default) and English, shared by every human-readable reporter."""

from __future__ import annotations

from datetime import datetime

from conformance.core.findings import Finding
from conformance.core.outcomes import CheckStatus, RunVerdict, Severity, Verdict
from conformance.reporting.model import Coverage

DEFAULT_LANG = "fr"

# French typography: a non-breaking space before « : » and between a number and its unit, so that a line never
# starts with a colon or separates 12 from « s ».
_NBSP = "\u00a0"

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "report.title": "Rapport de conformité DUI",
        "report.verdict": "Verdict global",
        "report.contents": "Sommaire",
        "report.warnings": "Préconisations non respectées",
        "run.title": "Exécution",
        "run.id": "Identifiant d’exécution",
        "run.target": "Cible",
        "run.url": "URL",
        "run.mode": "Mode",
        "run.tool_version": "Version de l’outil",
        "run.suite_version": "Version de la suite de tests",
        "run.catalogue_version": "Version du catalogue d’exigences",
        "run.seed": "Graine aléatoire",
        "run.faults": "DUI de référence avec défauts injectés",
        "run.started_at": "Début",
        "run.finished_at": "Fin",
        "run.duration": "Durée",
        "run.selection": "Sélection",
        "run.simulators": "Simulateurs",
        "run.kits": "Kits de validation",
        "run.interrupted": f"Exécution interrompue{_NBSP}: rapport partiel",
        "run.error": "Erreur de l’outil de test",
        "summary.title": "Synthèse par thème",
        "summary.theme": "Thème",
        "summary.section": "Section",
        "summary.warnings": "dont préconisations non respectées",
        "summary.total": "Total",
        "requirements.title": "Exigences",
        "requirements.filter": "Afficher",
        "requirement.level": "Niveau",
        "requirement.criticality": "Criticité",
        "requirement.text": "Énoncé",
        "requirement.source": "Source",
        "requirement.uncertain": "source non confirmée",
        "requirement.reason": "Motif",
        "requirement.scenarios": "Scénarios",
        "requirement.errors": "Erreurs de l’outil de test",
        "requirement.evidence": "Preuves",
        "requirement.findings": "Constats",
        "finding.where": "Scénario / étape",
        "finding.rule": "Règle",
        "finding.location": "Emplacement",
        "finding.message": "Constat",
        "finding.expected": "Attendu",
        "finding.actual": "Obtenu",
        "finding.severity": "Gravité",
        "finding.evidence": "Preuves",
        "scenarios.title": "Scénarios",
        "scenarios.none": "Aucun scénario sélectionné.",
        "scenario.file": "Fichier",
        "scenario.theme": "Thème",
        "scenario.requirements": "Exigences couvertes",
        "scenario.duration": "Durée",
        "scenario.interrupted": "interrompu",
        "scenario.not_run": "non exécuté",
        "scenario.no_steps": "Aucune étape exécutée.",
        "step.title": "Étape",
        "step.kind": "Type",
        "step.status": "Statut",
        "step.duration": "Durée",
        "step.checks": "Vérifications",
        "step.evidence": "Preuves",
        "evidence.title": "Index des preuves",
        "evidence.none": "Aucune preuve enregistrée.",
        "footer.generated": "Généré par dui-conformance",
        "console.progress": "Scénarios",
        "console.report_written": "Rapport écrit dans",
        "console.simulator": "Simulateur",
        "value.none": "—",
        "punct.colon": f"{_NBSP}: ",
        "punct.semicolon": f"{_NBSP}; ",
        "verdict.conforme": "conforme",
        "verdict.non_conforme": "non conforme",
        "verdict.non_teste": "non testé",
        "verdict.erreur": "erreur",
        "verdict.warning": "préconisation non respectée",
        "verdict.incomplet": "incomplet",
        "coverage.title": "Couverture",
        "coverage.tested.none": "aucune exigence testée sur {total}",
        "coverage.tested.one": "{n} exigence testée sur {total}",
        "coverage.tested.many": "{n} exigences testées sur {total}",
        "coverage.untested.one": "{n} EXIGENCE non testée",
        "coverage.untested.many": "{n} EXIGENCEs non testées",
        "coverage.no_failure": "aucune EXIGENCE non conforme",
        "coverage.untested_list": "EXIGENCEs non testées",
        "coverage.required": f"Couverture complète exigée (--require-complete){_NBSP}: exécution en échec",
        "finding.project_reading": "lecture du projet",
        "finding.project_reading.help": "Règle écrite par le projet : aucune source citée ne l’exige telle quelle",
        "status.passed": "réussi",
        "status.failed": "échoué",
        "status.error": "erreur",
        "status.skipped": "non joué",
        "severity.error": "défaut",
        "severity.warning": "avertissement",
        "severity.info": "information",
    },
    "en": {
        "report.title": "DUI conformity report",
        "report.verdict": "Overall verdict",
        "report.contents": "Contents",
        "report.warnings": "Recommendations not met",
        "run.title": "Run",
        "run.id": "Run id",
        "run.target": "Target",
        "run.url": "URL",
        "run.mode": "Mode",
        "run.tool_version": "Tool version",
        "run.suite_version": "Test suite version",
        "run.catalogue_version": "Requirement catalogue version",
        "run.seed": "Random seed",
        "run.faults": "Reference DUI with injected faults",
        "run.started_at": "Started",
        "run.finished_at": "Finished",
        "run.duration": "Duration",
        "run.selection": "Selection",
        "run.simulators": "Simulators",
        "run.kits": "Validation kits",
        "run.interrupted": "Run interrupted: partial report",
        "run.error": "Test harness error",
        "summary.title": "Summary by theme",
        "summary.theme": "Theme",
        "summary.section": "Section",
        "summary.warnings": "of which recommendations not met",
        "summary.total": "Total",
        "requirements.title": "Requirements",
        "requirements.filter": "Show",
        "requirement.level": "Level",
        "requirement.criticality": "Criticality",
        "requirement.text": "Statement",
        "requirement.source": "Source",
        "requirement.uncertain": "source not confirmed",
        "requirement.reason": "Reason",
        "requirement.scenarios": "Scenarios",
        "requirement.errors": "Test harness errors",
        "requirement.evidence": "Evidence",
        "requirement.findings": "Findings",
        "finding.where": "Scenario / step",
        "finding.rule": "Rule",
        "finding.location": "Location",
        "finding.message": "Finding",
        "finding.expected": "Expected",
        "finding.actual": "Actual",
        "finding.severity": "Severity",
        "finding.evidence": "Evidence",
        "scenarios.title": "Scenarios",
        "scenarios.none": "No scenario selected.",
        "scenario.file": "File",
        "scenario.theme": "Theme",
        "scenario.requirements": "Requirements covered",
        "scenario.duration": "Duration",
        "scenario.interrupted": "interrupted",
        "scenario.not_run": "not run",
        "scenario.no_steps": "No step run.",
        "step.title": "Step",
        "step.kind": "Kind",
        "step.status": "Status",
        "step.duration": "Duration",
        "step.checks": "Checks",
        "step.evidence": "Evidence",
        "evidence.title": "Evidence index",
        "evidence.none": "No evidence recorded.",
        "footer.generated": "Generated by dui-conformance",
        "console.progress": "Scenarios",
        "console.report_written": "Report written to",
        "console.simulator": "Simulator",
        "value.none": "—",
        "punct.colon": ": ",
        "punct.semicolon": "; ",
        "verdict.conforme": "conformant",
        "verdict.non_conforme": "non-conformant",
        "verdict.non_teste": "not tested",
        "verdict.erreur": "error",
        "verdict.warning": "recommendation not met",
        "verdict.incomplet": "incomplete",
        "coverage.title": "Coverage",
        "coverage.tested.none": "none of {total} requirements tested",
        "coverage.tested.one": "{n} of {total} requirements tested",
        "coverage.tested.many": "{n} of {total} requirements tested",
        "coverage.untested.one": "{n} EXIGENCE not tested",
        "coverage.untested.many": "{n} EXIGENCEs not tested",
        "coverage.no_failure": "no EXIGENCE non-conformant",
        "coverage.untested_list": "EXIGENCEs not tested",
        "coverage.required": "Complete coverage required (--require-complete): the run fails",
        "finding.project_reading": "project's reading",
        "finding.project_reading.help": "A rule written by the project: no cited source demands it as such",
        "status.passed": "passed",
        "status.failed": "failed",
        "status.error": "error",
        "status.skipped": "skipped",
        "severity.error": "defect",
        "severity.warning": "warning",
        "severity.info": "information",
    },
}

LANGUAGES: tuple[str, ...] = tuple(LABELS)


def resolve_lang(lang: str | None) -> str:
    """The supported language for ``lang`` (``"en-GB"`` gives ``"en"``), French when unsupported."""
    code = (lang or "").split("-")[0].split("_")[0].lower()
    return code if code in LABELS else DEFAULT_LANG


def label(key: str, lang: str = DEFAULT_LANG) -> str:
    """The label ``key`` in ``lang``; an unknown language falls back to French, an unknown key raises KeyError."""
    return LABELS[resolve_lang(lang)][key]


def verdict_key(verdict: Verdict | RunVerdict | str) -> str:
    """The label key of a requirement or run verdict, e.g. ``verdict.non_teste``."""
    return f"verdict.{RunVerdict(verdict).name.lower()}"


def verdict_label(verdict: Verdict | RunVerdict | str, lang: str = DEFAULT_LANG) -> str:
    """A requirement or run verdict in words (``"non conforme"``, ``"non-conformant"``)."""
    return label(verdict_key(verdict), lang)


def finding_text(finding: Finding, lang: str = DEFAULT_LANG) -> str:
    """A finding's message as a text report shows it: labelled when it is the project's reading, with its source."""
    tags = [label("finding.project_reading", lang)] if finding.project_reading else []
    if finding.source:
        tags.append(f"{label('requirement.source', lang).lower()}{label('punct.colon', lang)}{finding.source}")
    return finding.message + (f" [{label('punct.semicolon', lang).join(tags)}]" if tags else "")


def _counted(key: str, n: int, lang: str, **values: int) -> str:
    form = "none" if n == 0 else "one" if n == 1 else "many"
    return label(f"{key}.{form}", lang).format(n=n, **values)


def run_verdict_text(verdict: RunVerdict | str, coverage: Coverage, lang: str = DEFAULT_LANG) -> str:
    """The run verdict with what it covered, e.g. ``incomplet (8 exigences testées sur 119, …)``."""
    detail = _counted("coverage.tested", coverage.tested, lang, total=coverage.requirements)
    if verdict == RunVerdict.INCOMPLET:
        detail += ", " + label("coverage.no_failure", lang)
    if coverage.untested_exigences and coverage.tested:
        detail += label("punct.semicolon", lang) + _counted("coverage.untested", len(coverage.untested_exigences),
                                                            lang)
    return f"{verdict_label(verdict, lang)} ({detail})"


def status_label(status: CheckStatus | str, lang: str = DEFAULT_LANG) -> str:
    """A check or step status in words (``"échoué"``, ``"failed"``)."""
    return label(f"status.{CheckStatus(status).value}", lang)


def severity_label(severity: Severity | str, lang: str = DEFAULT_LANG) -> str:
    """A finding severity in words (``"défaut"``, ``"defect"``)."""
    return label(f"severity.{Severity(severity).value}", lang)


def format_duration(ms: float | None, lang: str = DEFAULT_LANG) -> str:
    """A duration for people: ``850 ms``, ``12,4 s``, ``3 min 05 s``, ``1 h 02 min`` (decimal comma in French)."""
    if ms is None:
        return label("value.none", lang)
    if ms < 1000:
        return f"{ms:.0f}{_NBSP}ms"
    seconds = ms / 1000
    if seconds < 60:
        text = f"{seconds:.1f}"
        if resolve_lang(lang) == "fr":
            text = text.replace(".", ",")
        return f"{text}{_NBSP}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}{_NBSP}h{_NBSP}{minutes:02d}{_NBSP}min"
    return f"{minutes}{_NBSP}min{_NBSP}{secs:02d}{_NBSP}s"


def format_timestamp(epoch: float | None, lang: str = DEFAULT_LANG) -> str:
    """Epoch seconds as local ISO 8601 with the UTC offset, e.g. ``2025-03-14T10:02:37+01:00``."""
    if epoch is None:
        return label("value.none", lang)
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
