"""``report.html``: one self-contained page for the assessor, in French (or English), safe against hostile content."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import jinja2

from conformance.core.outcomes import CheckStatus, Severity, Verdict
from conformance.core.results import EvidenceRef, StepResult
from conformance.reporting import BaseReporter, reporter
from conformance.reporting.i18n import (
    format_duration,
    format_timestamp,
    label,
    resolve_lang,
    run_verdict_text,
    severity_label,
    status_label,
    verdict_key,
)
from conformance.reporting.model import Report, RequirementReport, ScenarioReport, ThemeSummary

TEMPLATE = "report.html.j2"
#: longest value shown for a message, an expected or an actual value; the full value stays in the evidence
CLIP = 2000
#: requirement states whose details are expanded: the assessor must see them without clicking
OPEN_STATES = frozenset({"non_conforme", "erreur", "warning"})
#: scenario states expanded for the same reason
OPEN_SCENARIO_STATES = frozenset({"failed", "error", "interrupted", "warning"})

# Characters that can hide or reorder text (bidi overrides, as in "Trojan Source"), break the HTML parser (C0
# controls) or the UTF-8 encoding (lone surrogates): shown as visible code points instead.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
#: the page's own inline style and script: each opening tag alone at the start of a line
_INLINE = re.compile(r"^<(style|script)>(.*?)</\1>", re.DOTALL | re.MULTILINE)


class Badge(NamedTuple):
    """A coloured status: CSS class suffix and text."""

    css: str
    text: str


class Proof(NamedTuple):
    """An evidence entry of the index, with its number and its safe link (None when the path is not safe)."""

    number: int
    ref: EvidenceRef
    href: str | None


class ThemeGroup(NamedTuple):
    """The requirements of one theme with its summary row."""

    anchor: str
    summary: ThemeSummary
    requirements: list[RequirementReport]
    warnings: int


class _Page(NamedTuple):
    template: jinja2.Template
    csp: str


def clip(value: object, limit: int = CLIP) -> str:
    """Text cut to ``limit`` characters with an ellipsis, invisible or dangerous characters made visible."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _INVISIBLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def shown(value: Any, limit: int = CLIP) -> str:
    """An expected or actual value for display: strings as they are, anything else as one-line JSON; "" for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        # an expected empty string is meaningful and must not look like "no value"
        return clip(value, limit) if value else '""'
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # circular structure or non-string keys
        text = repr(value)
    return clip(text, limit)


def evidence_href(path: str) -> str | None:
    """A link to an evidence file relative to the run folder, or None for a path that could leave it."""
    parts = path.split("/")
    if not path or "\\" in path or any(part in ("", ".", "..") for part in parts):
        return None
    # quoting ':' too turns any "scheme:" (javascript:, http:) into a plain relative file name
    return quote(path, safe="/")


def verdict_state(verdict: Verdict) -> str:
    """CSS and label suffix of a verdict, e.g. ``non_teste``."""
    return verdict_key(verdict).removeprefix("verdict.")


def requirement_state(req: RequirementReport) -> str:
    """Display state of a requirement: its verdict's, or ``warning`` for a PRECONISATION not met."""
    return "warning" if req.warning else verdict_state(req.verdict)


def _scenario_state(scenario: ScenarioReport) -> str:
    if scenario.outcome is not None:
        # A scenario that failed only for PRECONISATIONs shows as the requirements do: a warning, not a failure.
        return "warning" if scenario.warning and scenario.outcome is CheckStatus.PASSED else scenario.outcome.value
    return "interrupted" if scenario.step_results else "not_run"


def _groups(report: Report) -> list[ThemeGroup]:
    """Requirements by theme, in the order of the summary; a theme missing from it gets its own counts."""
    by_theme: dict[str, list[RequirementReport]] = {}
    for req in report.requirements:
        by_theme.setdefault(req.theme, []).append(req)
    summaries = {s.theme: s for s in report.themes}
    groups = []
    for number, theme in enumerate(dict.fromkeys([*summaries, *by_theme]), 1):
        reqs = by_theme.get(theme, [])
        summary = summaries.get(theme)
        if summary is None:
            counts = Counter(r.verdict.value for r in reqs)
            summary = ThemeSummary(theme=theme, section=reqs[0].section,
                                   counts={v.value: counts[v.value] for v in Verdict})
        groups.append(ThemeGroup(f"theme-{number}", summary, reqs, sum(r.warning for r in reqs)))
    return groups


def _proofs(report: Report) -> dict[str, Proof]:
    """Evidence by id, numbered in the order of the run; the first of duplicated ids wins."""
    proofs: dict[str, Proof] = {}
    for ref in report.evidence:
        if ref.id not in proofs:
            proofs[ref.id] = Proof(len(proofs) + 1, ref, evidence_href(ref.path))
    return proofs


@cache
def _page() -> _Page:
    """The compiled template and its Content-Security-Policy, built once per process."""
    loader = jinja2.PackageLoader("conformance.reporting", "templates")
    env = jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(clip=clip, shown=shown)
    source, _, _ = loader.get_source(env, TEMPLATE)
    # The inline style and script hold no Jinja syntax, so their source is what the page contains: hashing it lets
    # the policy allow them and nothing else, a second barrier should an injected <script> ever slip through, and a
    # proof that the page loads nothing from outside (default-src 'none').
    hashes: dict[str, list[str]] = {"style": [], "script": []}
    for tag, body in _INLINE.findall(source):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes[tag].append(f"'sha256-{digest}'")
    style, script = (" ".join(hashes[tag]) or "'none'" for tag in ("style", "script"))
    csp = f"default-src 'none'; style-src {style}; script-src {script}; base-uri 'none'; form-action 'none'"
    return _Page(env.get_template(TEMPLATE), csp)


def render_html(report: Report, lang: str = "fr") -> str:
    """The page for ``report`` in ``lang``."""
    lang = resolve_lang(lang)
    page = _page()

    def t(key: str) -> str:
        return label(key, lang)

    def requirement_badge(req: RequirementReport) -> Badge:
        state = requirement_state(req)
        return Badge(state, label(f"verdict.{state}", lang))

    def scenario_badge(scenario: ScenarioReport) -> Badge:
        state = _scenario_state(scenario)
        if state == "warning":
            return Badge(state, label("verdict.warning", lang))
        if scenario.outcome is None:
            return Badge(state, label(f"scenario.{state}", lang))
        return Badge(state, status_label(scenario.outcome, lang))

    scope = report.scope

    def step_badge(step: StepResult) -> Badge:
        status = scope.status(step.checks) if step.checks else step.status
        if status is CheckStatus.PASSED and scope.warned(step.checks):
            return Badge("warning", label("verdict.warning", lang))
        return Badge(status.value, status_label(status, lang))

    helpers: dict[str, Callable[..., Any]] = {
        "t": t,
        "requirement_badge": requirement_badge,
        "scenario_badge": scenario_badge,
        "step_badge": step_badge,
        "verdict_badge": lambda v: Badge(verdict_state(v), label(verdict_key(v), lang)),
        "status_badge": lambda s: Badge(CheckStatus(s).value, status_label(s, lang)),
        "severity": lambda s: severity_label(Severity(s), lang),
        "duration": lambda ms: format_duration(ms, lang),
        "timestamp": lambda epoch: format_timestamp(epoch, lang),
    }
    return page.template.render(
        lang=lang, csp=page.csp, report=report, run=report.run, verdicts=list(Verdict), groups=_groups(report),
        verdict_text=run_verdict_text(report.verdict, report.coverage, lang),
        proofs=_proofs(report), warnings=sum(r.warning for r in report.requirements), open_states=OPEN_STATES,
        open_scenario_states=OPEN_SCENARIO_STATES, **helpers,
    )


@reporter
class HtmlReporter(BaseReporter):
    """Writes ``report.html``."""

    name = "html"


    def write(self, report: Report, run_dir: Path) -> None:
        """Render the page and replace ``report.html`` at once, so a browser never reads half a page."""
        target = run_dir / "report.html"
        partial = target.with_name(".report.html.partial")
        # errors="replace": a lone surrogate in catalogue text must not lose the whole report
        partial.write_text(render_html(report, self.lang), encoding="utf-8", errors="replace")
        os.replace(partial, target)
