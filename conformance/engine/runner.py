"""Replays scenarios step by step, runs their checks and emits events; never raises for what a target does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from conformance import __version__
from conformance.checks import CHECKS, CheckContext
from conformance.core.exchange import Exchange
from conformance.core.findings import CheckFailed, CheckSkipped, Finding
from conformance.core.outcomes import CheckStatus
from conformance.core.results import CheckResult, StepResult, step_status
from conformance.engine.context import RunContext
from conformance.engine.driver import driver_operations
from conformance.engine.events import (
    Event,
    RequirementInfo,
    RunFinished,
    RunStarted,
    ScenarioFinished,
    ScenarioInfo,
    ScenarioStarted,
    StepFinished,
)
from conformance.scenarios.model import Capture, Scenario, Step
from conformance.scenarios.templating import TemplateError, render
from conformance.validation.jsonpath import InvalidJsonPath, find
from conformance.validation.xml import UnsafeXml, parse_xml

FHIR_ACCEPT = {"Accept": "application/fhir+json"}
DEFAULT_WAIT = 30.0
DEFAULT_MANUAL_WAIT = 600.0
INTERRUPTED = "exécution interrompue avant cette étape"


class _Abort(Exception):
    """Stops a scenario: later steps cannot run."""


class Runner:
    """Runs the selected scenarios of a context and emits events to ``emit``."""

    def __init__(self, ctx: RunContext, emit: Callable[[Event], None]) -> None:
        self.ctx = ctx
        self.emit = emit
        self._stop = False
        self._started = time.perf_counter()
        self._current: asyncio.Task[Any] | None = None

    def request_stop(self) -> None:
        """Stop at the next step boundary, cancelling a step that is waiting."""
        self._stop = True
        if self._current is not None:
            self._current.cancel()

    def started_event(self) -> RunStarted:
        """The first event of a run: identity, versions and the requirements in play."""
        ctx = self.ctx
        return RunStarted(
            run_id=ctx.run_id, tool_version=__version__, suite_version=ctx.suite_version,
            catalogue_version=ctx.catalogue.version, target=ctx.target, faults=list(ctx.faults), seed=ctx.seed,
            lang=ctx.lang, selection=ctx.selection_args,
            requirements=[
                RequirementInfo(id=r.id, theme=r.theme, section=r.section, profile=r.profile, title=r.title,
                                text=r.text, level=r.level.value, criticality=r.criticality.value, source=r.source,
                                uncertain=r.uncertain, not_selected=ctx.selection.not_selected.get(r.id))
                for r in ctx.catalogue
            ],
            scenarios=[
                ScenarioInfo(id=s.id, title=s.title, theme=s.theme, requirements=list(s.requirements), file=s.file,
                             steps=len(s.steps))
                for s in ctx.scenarios
            ],
            simulators={name: sim.endpoints() for name, sim in ctx.simulators.items()},
        )

    async def run(self) -> RunFinished:
        """Run every selected scenario; the last event says whether the run was interrupted."""
        self.start()
        for scenario in self.ctx.scenarios:
            if self._stop:
                break
            await self.run_scenario(scenario)
        return self.finish()

    def start(self) -> None:
        """Emit the first event; ``run_scenario`` may then be called for each scenario."""
        self._started = time.perf_counter()
        self.emit(self.started_event())

    def finish(self, error: str | None = None) -> RunFinished:
        """Emit the last event."""
        finished = RunFinished(duration_ms=(time.perf_counter() - self._started) * 1000,
                               interrupted=self._stop or error is not None, error=error)
        self.emit(finished)
        return finished

    async def run_scenario(self, scenario: Scenario) -> CheckStatus:
        """Run one scenario's steps in order; a step that breaks the chain skips the rest."""
        started = time.perf_counter()
        self.emit(ScenarioStarted(scenario_id=scenario.id))
        variables: dict[str, Any] = {"run": {"id": self.ctx.run_id, "seed": self.ctx.seed}, **self.ctx.fixtures}
        variables.update(render(scenario.vars, variables))
        marks = {name: len(sim.inbox.items) for name, sim in self.ctx.simulators.items()}
        statuses = []
        aborted: str | None = None
        for step in scenario.steps:
            if self._stop and aborted is None:
                aborted = INTERRUPTED
            if aborted is not None:
                result = _skipped(step, scenario, aborted)
            else:
                self._current = asyncio.ensure_future(self._run_step(scenario, step, variables, marks))
                try:
                    result = await self._current
                except asyncio.CancelledError:
                    result = _skipped(step, scenario, "étape interrompue")
                finally:
                    self._current = None
                if _breaks_chain(step, result):
                    aborted = f"étape précédente « {step.id} » non aboutie : {result.message}"
            statuses.append(result.status)
            self.emit(StepFinished(scenario_id=scenario.id, result=result))
        status = step_status([CheckResult(check="", status=s, requirements=[]) for s in statuses])
        self.emit(ScenarioFinished(scenario_id=scenario.id, status=status,
                                   duration_ms=(time.perf_counter() - started) * 1000))
        return status

    async def _run_step(
        self, scenario: Scenario, step: Step, variables: dict[str, Any], marks: Mapping[str, int]
    ) -> StepResult:
        started = time.perf_counter()
        result = StepResult(step_id=step.id, title=step.title, kind=step.kind, status=CheckStatus.PASSED)
        try:
            action = render(step.action, variables)
        except TemplateError as exc:
            return _broken(step, scenario, f"référence non résolue : {exc}", started)
        check_ctx = CheckContext(scenario_id=scenario.id, step_id=step.id, variables=variables)
        outcome = await self._act(scenario, step, action, check_ctx, marks, result)
        if outcome is not None:
            result.duration_ms = (time.perf_counter() - started) * 1000
            return outcome
        for call in step.checks:
            result.checks.append(self._check(call.name, call.args, call.requirements, check_ctx, variables))
        missing = self._capture(step, check_ctx, variables, result)
        if missing:
            result.checks.append(CheckResult(
                check="capture", status=CheckStatus.FAILED, requirements=list(scenario.requirements),
                findings=[Finding(rule="capture-absente", check="capture", location=c.expression,
                                  expected=f"une valeur pour « {c.name} »", actual=None,
                                  message=f"La réponse ne contient pas la valeur attendue en {c.expression} "
                                          f"(capture « {c.name} »), les étapes suivantes ne peuvent pas être jouées")
                          for c in missing],
            ))
            result.message = "capture absente : " + ", ".join(c.name for c in missing)
        result.status = step_status(result.checks)
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    async def _act(
        self, scenario: Scenario, step: Step, action: dict[str, Any], check_ctx: CheckContext,
        marks: Mapping[str, int], result: StepResult,
    ) -> StepResult | None:
        """Perform the step's action; a StepResult when the step ends here (error, skip), else None."""
        client = self.ctx.client
        if step.kind == "manual" or (step.kind == "driver" and action["operation"] in self.ctx.manual_operations):
            return await self._manual(scenario, step, action, result)
        if step.kind == "await":
            return await self._await(scenario, step, action, check_ctx, marks, result)
        if step.kind == "driver":
            op = driver_operations()[action["operation"]]
            exchange = await client.send(op.method, client.url("driver", op.path),
                                         json_body=action.get("body") if op.method != "GET" else None)
        elif step.kind == "fhir":
            if "capabilities" in action:
                url = client.url("fhir", "metadata")
            elif "read" in action:
                url = client.url("fhir", f"{action['read']}/{action['id']}")
            else:
                url = client.url("fhir", action["search"])
            exchange = await client.send("GET", url, headers={**FHIR_ACCEPT, **action.get("headers", {})},
                                         params=action.get("params"))
        else:
            body = action.get("body")
            exchange = await client.send(
                action["method"], client.url(action.get("base", "root"), action["path"]),
                headers=action.get("headers"), params=action.get("params"), json_body=action.get("json"),
                content=body.encode("utf-8") if isinstance(body, str) else None,
            )
        result.evidence.append(self.ctx.evidence.exchange(scenario.id, step.id, exchange))
        check_ctx.exchange = exchange
        if exchange.error is not None:
            return self._transport_failed(scenario, step, exchange, result)
        return None

    def _transport_failed(self, scenario: Scenario, step: Step, exchange: Exchange, result: StepResult) -> StepResult:
        message = f"échec d'échange avec la cible : {exchange.error}"
        result.checks.append(CheckResult(check="transport", status=CheckStatus.ERROR,
                                         requirements=list(scenario.requirements), message=message))
        result.checks += [CheckResult(check=c.name, status=CheckStatus.SKIPPED, requirements=list(c.requirements),
                                      message="pas de réponse à vérifier") for c in step.checks]
        result.status, result.message = CheckStatus.ERROR, message
        return result

    async def _await(
        self, scenario: Scenario, step: Step, action: dict[str, Any], check_ctx: CheckContext,
        marks: Mapping[str, int], result: StepResult,
    ) -> StepResult | None:
        sim = self.ctx.simulators.get(action["simulator"])
        if sim is None:
            return _broken(step, scenario, f"simulateur « {action['simulator']} » non démarré", time.perf_counter())
        timeout = float(action.get("timeout", DEFAULT_WAIT))
        match = action.get("match", {})
        item = await sim.inbox.wait_for(lambda r: sim.matches(r, match), timeout, marks.get(sim.name, 0))
        if item is None:
            result.checks.append(CheckResult(
                check="reception", status=CheckStatus.FAILED, requirements=list(scenario.requirements),
                findings=[Finding(rule="rien-recu", check="reception", location=f"simulateur {sim.name}",
                                  expected=match or "un envoi", actual=None,
                                  message=f"Le simulateur {sim.name} n'a rien reçu de conforme au critère "
                                          f"en {timeout:g} s")],
            ))
            result.status, result.message = CheckStatus.FAILED, f"rien reçu par {sim.name}"
            return result
        suffix = {"application/json": ".json", "application/fhir+json": ".json", "message/rfc822": ".eml"}
        result.evidence.append(self.ctx.evidence.record(
            scenario.id, step.id, sim.name, f"reçu par le simulateur {sim.name}", item.payload,
            suffix.get(item.media_type, ".bin")))
        check_ctx.received = item
        return None

    async def _manual(self, scenario: Scenario, step: Step, action: dict[str, Any], result: StepResult) -> StepResult:
        instructions = action.get("instructions") or f"Réalisez l'opération « {action.get('operation')} » dans le DUI."
        if self.ctx.prompt is None:
            return _skipped(step, scenario, "étape manuelle non jouée en mode non interactif (option --interactive)")
        timeout = float(action.get("timeout", DEFAULT_MANUAL_WAIT))
        answer = await self.ctx.prompt(f"[{scenario.id} / {step.id}] {instructions}", timeout)
        if answer is None:
            return _skipped(step, scenario, f"aucune réponse de l'évaluateur en {timeout:g} s")
        attested = answer.strip().lower() in {"o", "oui", "y", "yes"}
        result.evidence.append(self.ctx.evidence.record(
            scenario.id, step.id, "attestation", f"attestation de l'évaluateur : {answer.strip()}",
            {"instructions": instructions, "answer": answer.strip()}, ".json"))
        findings = [] if attested else [Finding(
            rule="non-constate", check="attestation", location=f"étape {step.id}", expected="comportement constaté",
            actual=answer.strip(), message=f"L'évaluateur n'a pas constaté le comportement attendu : {instructions}")]
        result.checks.append(CheckResult(
            check="attestation", status=CheckStatus.PASSED if attested else CheckStatus.FAILED,
            requirements=list(scenario.requirements), findings=findings))
        result.status = step_status(result.checks)
        return result

    def _check(
        self, name: str, raw_args: dict[str, Any], requirements: tuple[str, ...], ctx: CheckContext,
        variables: Mapping[str, Any],
    ) -> CheckResult:
        reqs = list(requirements)
        try:
            args = render(raw_args, variables)
            findings = list(CHECKS[name](ctx, **args) or ())
        except CheckFailed as exc:
            findings = exc.findings
        except CheckSkipped as exc:
            return CheckResult(check=name, requirements=reqs, status=CheckStatus.SKIPPED, message=exc.reason)
        except Exception as exc:
            return CheckResult(check=name, requirements=reqs, status=CheckStatus.ERROR,
                               message=f"la vérification {name} a échoué : {type(exc).__name__}: {exc}")
        findings = [f.model_copy(update={"check": name}) for f in findings]
        failed = any(f.severity == "error" for f in findings)
        return CheckResult(check=name, requirements=reqs, status=CheckStatus.FAILED if failed else CheckStatus.PASSED,
                           findings=findings)

    def _capture(
        self, step: Step, ctx: CheckContext, variables: dict[str, Any], result: StepResult
    ) -> list[Capture]:
        missing = []
        for capture in step.captures:
            value = _extract(capture, ctx)
            if value is None:
                missing.append(capture)
            else:
                variables[capture.name] = value
                result.captures[capture.name] = value
        return missing


def _breaks_chain(step: Step, result: StepResult) -> bool:
    """True when later steps cannot run: the step errored, or its captures are missing."""
    if result.status is CheckStatus.ERROR:
        return True
    return bool(result.message) and (result.status is CheckStatus.FAILED or bool(step.captures))


def _extract(capture: Capture, ctx: CheckContext) -> Any:
    try:
        response = ctx.response
    except CheckSkipped:
        return None
    if capture.kind == "header":
        return response.header(capture.expression)
    if capture.kind == "json":
        try:
            matches = find(capture.expression, ctx.json())
        except (CheckFailed, InvalidJsonPath):
            return None
        return matches[0] if matches else None
    try:
        found = parse_xml(response.body).xpath(capture.expression, namespaces=capture.namespaces)
    except (UnsafeXml, ValueError):
        return None
    if isinstance(found, list):
        found = found[0] if found else None
    return None if found is None else str(getattr(found, "text", found))


def _skipped(step: Step, scenario: Scenario, reason: str) -> StepResult:
    checks = [CheckResult(check=c.name, status=CheckStatus.SKIPPED, requirements=list(c.requirements), message=reason)
              for c in step.checks]
    if not checks:
        checks = [CheckResult(check="étape", status=CheckStatus.SKIPPED, requirements=list(scenario.requirements),
                              message=reason)]
    return StepResult(step_id=step.id, title=step.title, kind=step.kind, status=CheckStatus.SKIPPED, checks=checks,
                      message=reason)


def _broken(step: Step, scenario: Scenario, reason: str, started: float) -> StepResult:
    return StepResult(
        step_id=step.id, title=step.title, kind=step.kind, status=CheckStatus.ERROR, message=reason,
        duration_ms=(time.perf_counter() - started) * 1000,
        checks=[CheckResult(check="harnais", status=CheckStatus.ERROR, requirements=list(scenario.requirements),
                            message=reason)],
    )

