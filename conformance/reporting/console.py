"""Console output: a progress bar fed by events, then a summary per theme."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from conformance.core.outcomes import RunVerdict, Verdict
from conformance.engine.events import Event, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted
from conformance.reporting.i18n import (
    finding_text,
    format_duration,
    label,
    run_verdict_text,
    status_label,
    verdict_label,
)
from conformance.reporting.model import Report

_STYLE: dict[str, str] = {Verdict.CONFORME: "green", Verdict.NON_CONFORME: "red", Verdict.ERREUR: "yellow",
                          Verdict.NON_TESTE: "dim", RunVerdict.INCOMPLET: "yellow"}

#: the "SCN-… / step : " that starts a step's reason; the rest is what requirements failing alike share
_WHERE = re.compile(r"^\S+ / \S+ : ")
#: requirement ids listed on one "non testé" line of the summary
_LISTED = 8


class ConsoleProgress:
    """Progress on stderr (stdout keeps the summary): a bar on a terminal, one line per finished scenario in a log."""

    def __init__(self, console: Console, lang: str = "fr") -> None:
        self.console, self.lang = console, lang
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._total = self._done = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            if event.target.get("mode") == "distant":
                # The vendor's DUI must call these; fixed ports come from vendor.toml [simulators]. One per line, so
                # that a CI log can be searched and copied.
                for name, endpoints in event.simulators.items():
                    for role, address in endpoints.items():
                        self.console.print(f"{label('console.simulator', self.lang)} {name} {role} : {address}",
                                           highlight=False, markup=False)
            self._total = len(event.scenarios)
            if not self.console.is_terminal:
                return  # a CI log: no bar redrawn, one line per scenario below
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(label("console.progress", self.lang), total=self._total)
        elif isinstance(event, ScenarioFinished):
            self._done += 1
            if self._progress is not None and self._task is not None:
                self._progress.advance(self._task)
            elif not self.console.is_terminal:
                self.console.print(f"[{self._done}/{self._total}] {event.scenario_id} "
                                   f"{status_label(event.status, self.lang)} "
                                   f"({format_duration(event.duration_ms, self.lang)})", highlight=False,
                                   markup=False)
        elif self._progress is not None and self._task is not None:
            if isinstance(event, ScenarioStarted):
                self._progress.update(self._task, description=event.scenario_id)
            elif isinstance(event, RunFinished):
                self.close()

    def close(self) -> None:
        """Stop the bar (also on errors, so the terminal is left clean)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def print_summary(report: Report, console: Console, run_dir: str | None, lang: str = "fr") -> None:
    """Verdict counts per theme, the requirements that are not conforme, and where the report is."""
    table = Table(title=label("summary.title", lang))
    table.add_column(label("summary.theme", lang))
    table.add_column(label("summary.section", lang))
    for verdict in Verdict:
        table.add_column(verdict_label(verdict, lang), justify="right", style=_STYLE[verdict])
    for theme in report.themes:
        table.add_row(theme.theme, theme.section, *(str(theme.counts[v.value]) for v in Verdict))
    console.print(table)
    untested: dict[str, list[str]] = {}
    errors: dict[str, list[str]] = {}
    for req in report.requirements:
        if req.verdict is Verdict.ERREUR and not req.findings:
            # A target gone silent gives every remaining requirement the same reason: said once, with the ids.
            errors.setdefault(_WHERE.sub("", req.reason or "", count=1), []).append(req.id)
        elif req.verdict in (Verdict.NON_CONFORME, Verdict.ERREUR):
            tag = label("verdict.warning", lang) if req.warning else verdict_label(req.verdict, lang)
            detail = finding_text(req.findings[0], lang) if req.findings else (req.reason or "")
            line = f"[{_STYLE[req.verdict]}]{tag}[/] {req.id} {escape(req.title)} — {escape(detail)}"
            console.print(line, highlight=False)
        elif req.verdict is Verdict.NON_TESTE and req.not_selected is None:
            untested.setdefault(req.reason or "", []).append(req.id)
    # Selected but not tested: why is what makes the run incomplete; one line per reason (an interrupted run has
    # many requirements and one reason). The unselected are only counted, in the verdict line.
    for verdict, grouped in ((Verdict.ERREUR, errors), (Verdict.NON_TESTE, untested)):
        for reason, ids in grouped.items():
            shown = ", ".join(ids[:_LISTED]) + (f" (+{len(ids) - _LISTED})" if len(ids) > _LISTED else "")
            console.print(f"[{_STYLE[verdict]}]{verdict_label(verdict, lang)}[/] {shown} — {escape(reason)}",
                          highlight=False)
    if report.run.interrupted:
        console.print(f"[yellow]{label('run.interrupted', lang)}[/]")
    colon = label("punct.colon", lang)
    text = escape(run_verdict_text(report.verdict, report.coverage, lang))
    style = _STYLE[report.verdict]
    console.print(f"{label('report.verdict', lang)}{colon}[bold {style}]{text}[/]", highlight=False)
    if report.run.require_complete and not report.coverage.complete:
        console.print(f"[yellow]{label('coverage.required', lang)}[/]", highlight=False)
    if run_dir:
        console.print(f"{label('console.report_written', lang)}{colon}{escape(run_dir)}", highlight=False)
