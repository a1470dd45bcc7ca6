"""pytest plugin: ``pytest --dui-target URL`` (or ``--dui-reference``) plays the scenarios as pytest items.

Each scenario is one item run by the same engine as ``dui-conformance run``; requirement ids become JUnit
properties and, when allure-pytest is active, Allure labels and links.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from conformance.core.outcomes import CheckStatus
from conformance.core.results import StepResult
from conformance.engine.events import Event, EventLog, StepFinished
from conformance.engine.runner import Runner
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
        )
        report_dir = opt("dui_report_dir")
        self.run_dir = Path(report_dir) / options.run_id if report_dir else None
        self.session = Session(load_suite([Path(p) for p in opt("dui_suite")], vendor.fixture_overrides()), options,
                               self.run_dir)
        self.builder = ReportBuilder()
        self.steps: dict[str, list[StepResult]] = {}
        self.loop = asyncio.new_event_loop()
        self._runner: Runner | None = None
        self._log: EventLog | None = None

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
        self.loop.run_until_complete(self.runner().run_scenario(scenario))
        return self.steps.get(scenario.id, [])

    def close(self) -> None:
        """Finish the run, write the report if asked, release everything."""
        if self._runner is not None:
            self._runner.finish()
            self.loop.run_until_complete(self.session.close())
            if self.run_dir is not None:
                from conformance.reporting import write_reports

                write_reports(self.builder.build(), self.run_dir)
        if self._log is not None:
            self._log.close()
        self.loop.close()


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("dui_target") or config.getoption("dui_reference"))


def pytest_configure(config: pytest.Config) -> None:
    """Load the suite up front so a broken scenario file stops the session with its location."""
    if _enabled(config):
        from conformance.core.errors import ConformanceError

        try:
            config.stash[_STATE] = _DuiState(config)
        except ConformanceError as exc:
            raise pytest.UsageError(str(exc)) from None


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
    """A scenario found defects (non conforme) or could not run (erreur)."""


class ScenarioItem(pytest.Item):
    """One scenario, played by the engine."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        """Play the scenario; failed checks fail the item, harness errors error it, skips skip it."""
        steps = self.config.stash[_STATE].play(self.scenario)
        checks = [c for step in steps for c in step.checks]
        lines = [f"{step.step_id} / {c.check} : {f.message} (attendu : {f.expected!r}, obtenu : {f.actual!r})"
                 for step in steps for c in step.checks for f in c.findings if c.status is CheckStatus.FAILED]
        errors = [f"{step.step_id} / {c.check} : {c.message}" for step in steps for c in step.checks
                  if c.status is CheckStatus.ERROR]
        if lines or errors:
            raise ScenarioFailed("\n".join(lines + errors))
        if checks and all(c.status is CheckStatus.SKIPPED for c in checks):
            pytest.skip(next(c.message for c in checks if c.message) or "non testé")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The findings, not a traceback."""
        if isinstance(excinfo.value, ScenarioFailed):
            return f"{self.scenario.id} {self.scenario.title}\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario is written."""
        return Path(self.scenario.file), self.scenario.line, f"{self.scenario.id} {self.scenario.title}"
