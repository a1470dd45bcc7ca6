"""pytest plugin: ``pytest --dui-target URL`` (or ``--dui-reference``) plays the scenarios as pytest items.

Each scenario is one item run by the same engine as ``dui-conformance run``; requirement ids become JUnit
properties and, when allure-pytest is active, Allure labels and links. Items and the session's exit status follow
the CLI's exit-code table: a failure of EXIGENCEs fails the item (1), a harness error errors it (3 when nothing
else failed), an unmet PRECONISATION is a warning, a session that tested nothing exits 5, and one that left
EXIGENCEs untested exits 6 under ``--dui-require-complete``.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest

from conformance.core.outcomes import CheckStatus, Level
from conformance.core.results import StepResult
from conformance.engine.events import Event, EventLog, StepFinished
from conformance.engine.runner import Runner
from conformance.reporting.i18n import finding_text
from conformance.reporting.model import Report, VerdictScope
from conformance.scenarios.model import Scenario

_STATE = pytest.StashKey["_DuiState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ``--dui-*`` options."""
    group = parser.getgroup("dui-conformance", "DUI conformity scenarios")
    group.addoption("--dui-target", metavar="URL", help="play the scenarios against the DUI at URL")
    group.addoption("--dui-reference", action="store_true", help="play the scenarios against the reference DUI")
    group.addoption("--dui-fault", action="append", default=[], metavar="NAME", help="reference DUI fault")
    group.addoption("--dui-config", metavar="FILE", help="vendor.toml")
    group.addoption("--dui-suite", action="append", default=[], metavar="PATH", help="scenario folder or file")
    group.addoption("--dui-theme", action="append", default=[], metavar="T", help="only this theme")
    group.addoption("--dui-report-dir", metavar="DIR", help="also write the conformity report under DIR/<run-id>")
    group.addoption("--dui-require-complete", action="store_true",
                    help="exit 6 when EXIGENCEs of the catalogue were left untested")


class _DuiState:
    """The session-wide run: one event loop, one opened target, one runner."""

    def __init__(self, config: pytest.Config) -> None:
        from conformance.config import VendorConfig, load_config
        from conformance.reporting.model import ReportBuilder
        from conformance.session import IN_PROCESS_URL, RunOptions, Session, load_suite

        opt = config.getoption
        vendor = load_config(Path(opt("dui_config"))) if opt("dui_config") else VendorConfig()
        target = opt("dui_target")
        options = RunOptions(
            target=target, settings=vendor.target_settings(target or IN_PROCESS_URL), faults=tuple(opt("dui_fault")),
            themes=tuple(opt("dui_theme")), manual_operations=frozenset(vendor.manual.operations),
            require_complete=bool(opt("dui_require_complete")),
        )
        report_dir = opt("dui_report_dir")
        self.run_dir = Path(report_dir) / options.run_id if report_dir else None
        suite = load_suite([Path(p) for p in opt("dui_suite")], vendor.fixture_overrides())
        self.session = Session(suite, options, self.run_dir)
        self.scope = VerdictScope(frozenset(self.session.selection.requirements),
                                  frozenset(r.id for r in suite.catalogue if r.level is Level.PRECONISATION))
        self.builder = ReportBuilder()
        self.steps: dict[str, list[StepResult]] = {}
        self.loop = asyncio.new_event_loop()
        self._runner: Runner | None = None
        self._log: EventLog | None = None
        #: scenarios played, and those pytest deselected (-k, -m, --deselect)
        self.played: set[str] = set()
        self.deselected: set[str] = set()
        #: DUI items that failed (findings) and that errored (harness), for the session's exit status
        self.failed = 0
        self.errored = 0
        self.report: Report | None = None

    def _record(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            self.steps.setdefault(event.scenario_id, []).append(event.result)

    def runner(self) -> Runner:
        """The runner, opened on first use."""
        if self._runner is None:
            handlers: list[Any] = [self.builder, self._record]
            if self.run_dir is not None:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self._log = EventLog(self.run_dir / "events.ndjson")
                handlers.append(self._log)
            self._runner = self.loop.run_until_complete(self.session.open(handlers))
            self._runner.start()
        return self._runner

    def play(self, scenario: Scenario) -> list[StepResult]:
        """Run one scenario and return its step results."""
        self.played.add(scenario.id)
        try:
            self.loop.run_until_complete(self.runner().run_scenario(scenario))
        except BaseException:
            # Ctrl-C inside a step leaves the scenario's task on the loop: it must not wake up during close().
            self._cancel_pending()
            raise
        return self.steps.get(scenario.id, [])

    def _cancel_pending(self) -> None:
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def finish(self, interrupted: bool) -> Report | None:
        """End the run (once): the scenarios left unplayed say why, the report is built and written if asked."""
        if self._runner is None or self.report is not None:
            return self.report
        runner = self._runner
        if interrupted:
            runner.request_stop()  # the unplayed scenarios stay « exécution interrompue avant ce scénario »
        else:
            for scenario in self.session.selection.scenarios:
                if scenario.id not in self.played:
                    runner.skip_scenario(scenario, DESELECTED if scenario.id in self.deselected else STOPPED)
        runner.finish()
        self.report = self.builder.build()
        if self.run_dir is not None:
            from conformance.reporting import write_reports

            write_reports(self.report, self.run_dir)
        return self.report

    def close(self) -> None:
        """Finish the run if the session did not, release everything."""
        if self._runner is not None:
            self.finish(interrupted=True)
            self.loop.run_until_complete(self.session.close())
        if self._log is not None:
            self._log.close()
        self.loop.close()


#: why a selected scenario was not played under pytest
DESELECTED = "scénario désélectionné dans pytest (-k, -m ou --deselect)"
STOPPED = "scénario non joué : la session pytest s'est arrêtée avant lui (-x, --maxfail)"


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("dui_target") or config.getoption("dui_reference"))


def pytest_configure(config: pytest.Config) -> None:
    """Load the suite up front so a broken scenario file stops the session with its location."""
    if _enabled(config):
        from conformance.core.errors import ConformanceError

        if config.getoption("numprocesses", None) or hasattr(config, "workerinput"):
            # Each xdist worker would play its share against its own simulators and write a partial report that
            # reads "conforme": a run is one session, played in order.
            raise pytest.UsageError("--dui-target et --dui-reference ne se jouent pas en parallèle : relancer sans -n "
                                    "(pytest-xdist), une exécution est une seule session avec ses simulateurs")
        try:
            config.stash[_STATE] = _DuiState(config)
        except ConformanceError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Remember deselected scenarios, so the report says why they were not tested."""
    for item in items:
        if isinstance(item, ScenarioItem):
            item.config.stash[_STATE].deselected.add(item.scenario.id)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Finish the run and give the session the status the CLI's exit-code table gives the same run."""
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    report = state.finish(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
    if report is None:
        return
    from conformance.cli import ExitCode, exit_code

    code = exit_code(report)
    if exitstatus == pytest.ExitCode.OK and code in (ExitCode.NOTHING_TESTED, ExitCode.INCOMPLETE):
        session.exitstatus = code
    elif (exitstatus == pytest.ExitCode.TESTS_FAILED and code is ExitCode.HARNESS_ERROR and not state.failed
          and state.errored == session.testsfailed):
        # Only the harness failed, in DUI items: say so as the CLI does (pytest's own 3 is its internal error).
        session.exitstatus = ExitCode.HARNESS_ERROR


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the run."""
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()
        del config.stash[_STATE]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Append one item per selected scenario."""
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    allure = config.pluginmanager.hasplugin("allure_pytest")
    for scenario in state.session.selection.scenarios:
        item = ScenarioItem.from_parent(session, name=scenario.id, scenario=scenario)
        for req in scenario.requirements:
            item.user_properties.append(("requirement", req))
            if allure:
                item.add_marker(pytest.mark.allure_label(req, label_type="requirement"))
                item.add_marker(pytest.mark.allure_link(f"#{req}", link_type="requirement", name=req))
        items.append(item)


class ScenarioFailed(Exception):
    """A scenario found defects of EXIGENCEs (non conforme)."""


class PreconisationWarning(UserWarning):
    """A scenario found that a PRECONISATION is not met: reported, never a failure (as the exit code)."""


class ScenarioItem(pytest.Item):
    """One scenario, played by the engine."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.steps: list[StepResult] = []

    def setup(self) -> None:
        """Play the scenario; a harness error (and no failure) makes the item an error, not a failure."""
        state = self.config.stash[_STATE]
        self.steps = state.play(self.scenario)
        if state.scope.status(c for step in self.steps for c in step.checks) is CheckStatus.ERROR:
            state.errored += 1
            errors = dict.fromkeys(f"{step.step_id} / {c.check} : {c.message}" for step in self.steps
                                   for c in step.checks if c.status is CheckStatus.ERROR)
            pytest.fail(f"{self.scenario.id} {self.scenario.title}\nerreur de l'outil de test ou du transport "
                        "(ne dit rien du DUI) :\n" + "\n".join(errors), pytrace=False)

    def runtest(self) -> None:
        """Judge the played scenario as the run's verdicts do: EXIGENCEs fail it, PRECONISATIONs warn, skips skip."""
        state = self.config.stash[_STATE]
        scope: VerdictScope = state.scope
        checks = [(step.step_id, c) for step in self.steps for c in step.checks]
        status = scope.status(c for _, c in checks)
        if status is CheckStatus.FAILED:
            state.failed += 1
            lines = dict.fromkeys(
                f"{step_id} / {c.check} : {finding_text(f)} (attendu : {f.expected!r}, obtenu : {f.actual!r})"
                for step_id, c in checks if scope.status([c]) is CheckStatus.FAILED for f in c.findings)
            errors = dict.fromkeys(f"{step_id} / {c.check} : {c.message}" for step_id, c in checks
                                   if c.status is CheckStatus.ERROR)
            raise ScenarioFailed("\n".join([*lines, *errors]))
        for req in dict.fromkeys(r for _, c in checks if scope.warned([c]) for r in c.requirements
                                 if r in scope.preconisations):
            self.user_properties.append(("preconisation-non-respectee", req))
        warned = dict.fromkeys(f"{step_id} / {c.check} ({', '.join(c.requirements)}) : {finding_text(f)}"
                               for step_id, c in checks if scope.warned([c]) for f in c.findings)
        if warned:
            warnings.warn(PreconisationWarning(f"{self.scenario.id} : préconisation non respectée : "
                                               + " ; ".join(warned)), stacklevel=1)
        if status is CheckStatus.SKIPPED:
            pytest.skip(next((c.message for _, c in checks if c.status is CheckStatus.SKIPPED and c.message),
                             None) or "non testé")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The findings, not a traceback."""
        if isinstance(excinfo.value, ScenarioFailed):
            return f"{self.scenario.id} {self.scenario.title}\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario is written."""
        return Path(self.scenario.file), self.scenario.line, f"{self.scenario.id} {self.scenario.title}"
