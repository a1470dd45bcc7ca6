"""Replays scenarios step by step, runs their checks and emits events; never raises for what a target does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urljoin

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed

from conformance import __version__
from conformance.checks import STATUS_LOCATION, CheckContext, answer_of, evaluate
from conformance.core.exchange import Exchange, Response
from conformance.core.findings import CheckFailed, CheckSkipped, Finding
from conformance.core.library_errors import exception_detail, technical
from conformance.core.outcomes import CheckStatus
from conformance.core.results import CheckResult, StepResult, step_status, worst_status
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
from conformance.generation import STRATEGIES
from conformance.scenarios.model import REQUEST_KINDS, Capture, Scenario, Step
from conformance.scenarios.templating import TemplateError, render
from conformance.simulators import TokenIssuer
from conformance.transport.client import origin
from conformance.validation.jsonpath import InvalidJsonPath, find
from conformance.validation.xml import UnsafeXml, parse_xml

FHIR_ACCEPT = {"Accept": "application/fhir+json"}
DEFAULT_EXAMPLES = 25
#: a generate step makes at most this many times its example count in requests, shrinking included
SHRINK_BUDGET = 4
DEFAULT_WAIT = 30.0
DEFAULT_MANUAL_WAIT = 600.0
INTERRUPTED = "exécution interrompue avant cette étape"
#: exchanges in a row without an answer after which the run stops sending to the target: a hung DUI costs minutes,
#: not one timeout per scenario
GIVE_UP_AFTER = 5
#: statuses that send the client elsewhere (not 304 Not Modified, the answer to a conditional read)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
        #: exchanges in a row that got no answer; past GIVE_UP_AFTER, the target is taken for silent
        self._failures = 0
        self._silent: str | None = None

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
            kits=ctx.kits, require_complete=ctx.require_complete,
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

    def skip_scenario(self, scenario: Scenario, reason: str) -> None:
        """Record a selected scenario that will not be played: every step non testé, with the reason."""
        self.emit(ScenarioStarted(scenario_id=scenario.id))
        for step in scenario.steps:
            self.emit(StepFinished(scenario_id=scenario.id, result=_skipped(step, scenario, reason)))
        self.emit(ScenarioFinished(scenario_id=scenario.id, status=CheckStatus.SKIPPED, duration_ms=0.0))

    async def run_scenario(self, scenario: Scenario) -> CheckStatus:
        """Run one scenario's steps in order; a step that breaks the chain skips the rest."""
        started = time.perf_counter()
        self.emit(ScenarioStarted(scenario_id=scenario.id))
        variables: dict[str, Any] = {
            "run": {"id": self.ctx.run_id, "seed": self.ctx.seed},
            "simulators": {name: sim.endpoints() for name, sim in self.ctx.simulators.items()},
            **self.ctx.fixtures,
        }
        variables.update(render(scenario.vars, variables))
        marks = {name: len(sim.inbox.items) for name, sim in self.ctx.simulators.items()}
        statuses = []
        aborted: str | None = None
        #: the driver operations of this scenario that the DUI refused so far, said in the later steps' findings
        refusals: list[str] = []
        for step in scenario.steps:
            if self._stop and aborted is None:
                aborted = INTERRUPTED
            if aborted is not None:
                result = _skipped(step, scenario, aborted)
            else:
                self._current = asyncio.ensure_future(self._run_step(scenario, step, variables, marks, refusals))
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
        status = worst_status(statuses)
        self.emit(ScenarioFinished(scenario_id=scenario.id, status=status,
                                   duration_ms=(time.perf_counter() - started) * 1000))
        return status

    async def _run_step(
        self, scenario: Scenario, step: Step, variables: dict[str, Any], marks: Mapping[str, int],
        refusals: list[str],
    ) -> StepResult:
        earlier = list(refusals)
        result = await self._play_step(scenario, step, variables, marks, refusals)
        if earlier:
            # What fails after a refused operation may be its consequence: the finding says what the DUI answered.
            cause = " ; ".join(earlier)
            for check in result.checks:
                if check.status is CheckStatus.FAILED:
                    check.findings = [f.model_copy(update={"message": f"{f.message} ({cause})"})
                                      for f in check.findings]
        return result

    async def _play_step(
        self, scenario: Scenario, step: Step, variables: dict[str, Any], marks: Mapping[str, int],
        refusals: list[str],
    ) -> StepResult:
        started = time.perf_counter()
        result = StepResult(step_id=step.id, title=step.title, kind=step.kind, status=CheckStatus.PASSED)
        try:
            # A generate step renders its request once per example, with the example bound.
            action = step.action if step.kind == "generate" else render(step.action, variables)
        except TemplateError as exc:
            return _broken(step, scenario, f"référence non résolue : {exc}", started)
        check_ctx = CheckContext(scenario_id=scenario.id, step_id=step.id, variables=variables)
        outcome = await self._act(scenario, step, action, check_ctx, marks, result)
        if outcome is not None:
            result.duration_ms = (time.perf_counter() - started) * 1000
            return outcome
        for call in step.checks:
            result.checks.append(self._check(call.name, call.args, call.requirements, check_ctx, variables))
        refusal = _refusal(step, check_ctx.exchange, result.checks)
        if refusal is not None:
            refusals.append(_judge_refusal(step, action, refusal, result))
        missing = self._capture(step, check_ctx, variables, result)
        if missing:
            _missing_captures(scenario, missing, check_ctx.exchange, result)
        result.status = step_status(result.checks)
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    async def _act(
        self, scenario: Scenario, step: Step, action: dict[str, Any], check_ctx: CheckContext,
        marks: Mapping[str, int], result: StepResult,
    ) -> StepResult | None:
        """Perform the step's action; a StepResult when the step ends here (error, skip), else None."""
        if step.kind == "manual" or (step.kind == "driver" and action["operation"] in self.ctx.manual_operations):
            return await self._manual(scenario, step, action, result)
        if step.kind == "await":
            return await self._await(scenario, step, action, check_ctx, marks, result)
        if self._silent is not None:
            return self._transport_failed(scenario, step, self._silent, result)
        if step.kind == "generate":
            return await self._generate(scenario, step, action, check_ctx.variables, result)
        exchange = await self._send(step.kind, action, scenario)
        result.evidence.append(self.ctx.evidence.exchange(scenario.id, step.id, exchange))
        check_ctx.exchange = exchange
        if exchange.error is not None:
            self._failures += 1
            if self._failures >= GIVE_UP_AFTER:
                self._silent = (f"la cible n'a répondu à aucun des {self._failures} derniers échanges (dernier échec : "
                                f"{exchange.error}) : plus rien ne lui est envoyé pendant cette exécution")
            return self._transport_failed(scenario, step, f"échec d'échange avec la cible : {exchange.error}", result)
        self._failures = 0
        # A raw http step may be about a redirect or a big body itself: its own checks judge it.
        findings = _response_defects(exchange, self.ctx.client.settings.max_body_bytes) if step.kind != "http" else []
        if findings:
            result.checks.append(CheckResult(check="reponse", status=CheckStatus.FAILED,
                                             requirements=list(scenario.requirements), findings=findings))
        return None

    def _credentials(self, scenario: Scenario, action: Mapping[str, Any]) -> dict[str, str]:
        """The Authorization header for a FHIR or raw HTTP request: the persona's token from the token issuer."""
        issuer = next((s for s in self.ctx.simulators.values() if isinstance(s, TokenIssuer)), None)
        auth = action.get("auth")
        if issuer is None or auth == "none":
            return {}
        auth = auth if isinstance(auth, dict) else {}
        persona = auth.get("persona") or scenario.persona or self.ctx.fixtures.get("default_persona")
        if not isinstance(persona, str):
            return {}
        token = issuer.token_for(persona, auth.get("token"))
        self.ctx.evidence.add_secret(token)
        return {"Authorization": f"Bearer {token}"}

    async def _send(self, kind: str, action: dict[str, Any], scenario: Scenario) -> Exchange:
        """Send the one request of a driver, FHIR or raw HTTP action."""
        client = self.ctx.client
        if kind == "driver":
            op = driver_operations()[action["operation"]]
            return await client.send(op.method, client.url("driver", op.path),
                                     json_body=action.get("body") if op.method != "GET" else None)
        if kind == "fhir":
            if "capabilities" in action:
                url = client.url("fhir", "metadata")
            elif "read" in action:
                # The id may come from a hostile target's earlier answer: never let it climb out of the path.
                url = client.url("fhir", f"{action['read']}/{quote(str(action['id']), safe='')}")
            else:
                url = client.url("fhir", action["search"])
            headers = {**FHIR_ACCEPT, **self._credentials(scenario, action), **action.get("headers", {})}
            return await client.send("GET", url, headers=headers, params=action.get("params"))
        body = action.get("body")
        return await client.send(
            action["method"], client.url(action.get("base", "root"), action["path"]),
            headers={**self._credentials(scenario, action), **action.get("headers", {})},
            params=action.get("params"), json_body=action.get("json"),
            content=body.encode("utf-8") if isinstance(body, str) else None,
        )

    async def _generate(
        self, scenario: Scenario, step: Step, action: dict[str, Any], variables: Mapping[str, Any],
        result: StepResult,
    ) -> StepResult:
        """Play the request for examples drawn by a hypothesis strategy; report the smallest failing one."""
        trial = PropertyTrial(self, scenario, step, action, variables)
        outcome = await trial.run(asyncio.get_running_loop())
        example, exchange, checks = outcome
        if exchange is not None:
            result.evidence.append(self.ctx.evidence.exchange(scenario.id, step.id, exchange))
        result.evidence.append(self.ctx.evidence.record(
            scenario.id, step.id, "generation", f"{trial.calls} exemple(s) générés, graine {self.ctx.seed}",
            {"strategy": action["strategy"], "seed": self.ctx.seed, "calls": trial.calls, "example": example,
             "failed": trial.failed}, ".json"))
        if trial.error is not None:
            return _broken(step, scenario, trial.error, time.perf_counter())
        if trial.failed:
            shown = json.dumps(example, ensure_ascii=False)
            for check_result in checks:
                check_result.findings = [f.model_copy(update={"message": f"{f.message} — exemple généré en échec "
                                                                         f"(graine {self.ctx.seed}) : {shown}"})
                                         for f in check_result.findings]
        result.checks = checks
        result.message = f"{trial.calls} exemple(s) générés (stratégie {action['strategy']}, graine {self.ctx.seed})"
        result.status = step_status(checks)
        return result

    def _transport_failed(self, scenario: Scenario, step: Step, message: str, result: StepResult) -> StepResult:
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
                                          f"en {timeout:g} s" + "".join(f" ; {u}" for u in sim.unfinished()))],
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
        try:
            args = render(raw_args, variables)
        except TemplateError as exc:
            return CheckResult(check=name, requirements=list(requirements), status=CheckStatus.ERROR,
                               message=f"référence non résolue : {exc}")
        return evaluate(name, args, ctx, requirements)

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


def _response_defects(exchange: Exchange, cap: int) -> list[Finding]:
    """What is wrong with a response whatever the step expects: a body past the cap, a redirect."""
    response = exchange.response
    if response is None:
        return []
    findings = []
    if response.truncated:
        coding = response.header("content-encoding")
        how = f" une fois décompressé ({coding})" if coding else ""
        findings.append(Finding(
            rule="reponse-trop-volumineuse", check="reponse", location="corps de la réponse",
            expected=f"au plus {cap} octets", actual=f"plus de {cap} octets{how}",
            message=f"Le corps de la réponse dépasse{how} la limite de {_size(cap)} : la lecture a été "
                    f"arrêtée et le corps tronqué"))
    if response.status in _REDIRECTS:
        location = response.header("location")
        target = urljoin(exchange.request.url, location) if location else None
        elsewhere = target is not None and origin(target) != origin(exchange.request.url)
        where = "vers un autre hôte" if elsewhere else "sur le DUI lui-même"
        findings.append(Finding(
            rule="redirection", check="reponse", location="statut et en-tête Location",
            expected="une réponse directe (2xx ou 4xx)", actual=f"{response.status} → {location}",
            message=f"Le DUI répond par une redirection {where} ({response.status} vers {location}) : elle n'est "
                    "pas suivie et aucun jeton n'est transmis"))
    return findings


def _size(count: int) -> str:
    """A byte count as a reader says it."""
    return f"{count / (1024 * 1024):g} Mio".replace(".", ",") if count >= 1024 * 1024 else f"{count} octets"


def _refusal(step: Step, exchange: Exchange | None, checks: list[CheckResult]) -> Response | None:
    """The DUI's HTTP error to a driver operation, when none of the step's checks expected it."""
    response = exchange.response if exchange is not None else None
    # The driver contract answers 2xx; a check that passes on the error (a refusal expected) makes it no failure.
    if step.kind == "driver" and response is not None and response.status >= 400 and not any(
            c.status is CheckStatus.PASSED for c in checks):
        return response
    return None


def _judge_refusal(step: Step, action: Mapping[str, Any], response: Response, result: StepResult) -> str:
    """Say the refusal where the step's checks judged a body it did not carry; the refusal, for later steps.

    The checks' findings about the status stay (they judge the refusal itself); the others are consequences of a
    body that is an error and not what the operation returns (a CDA, a usager): each becomes one finding quoting
    the DUI's answer, so a requirement says the cause, once. A step without checks fails nothing by itself: a
    scenario may expect the refusal (a send through a relay without STARTTLS); what fails later says it.
    """
    answer = answer_of(response)
    operation = action.get("operation", step.id)
    refusal = Finding(
        rule="pilotage-refuse", check="pilotage", location=STATUS_LOCATION, expected="une réponse 2xx",
        actual=response.status,
        message=f"Le DUI a refusé l'opération de pilotage « {operation} » ({answer}) : rien de ce que le "
                "scénario attendait de cette opération n'a pu être vérifié")
    for check in result.checks:
        if check.status is CheckStatus.FAILED:
            kept = [f for f in check.findings if f.location == STATUS_LOCATION]
            check.findings = kept or [refusal.model_copy(update={"check": check.check})]
    return f"l'étape « {step.id} » a reçu un refus du DUI à l'opération « {operation} » : {answer}"


def _missing_captures(scenario: Scenario, missing: list[Capture], exchange: Exchange | None,
                      result: StepResult) -> None:
    """A finding per missing capture, for the requirements the step's checks did not already fail."""
    response = exchange.response if exchange is not None else None
    answer = answer_of(response) if response is not None and response.status >= 400 else None
    failed = {req for c in result.checks if c.status is CheckStatus.FAILED for req in c.requirements}
    requirements = [req for req in scenario.requirements if req not in failed]
    names = ", ".join(c.name for c in missing)
    result.message = f"capture absente : {names}" + (f" (réponse du DUI : {answer})" if answer else "")
    if not requirements:
        return  # one cause: the step's failed checks already say it for every requirement
    said = f"La réponse ({answer}) ne contient pas" if answer else "La réponse ne contient pas"
    result.checks.append(CheckResult(
        check="capture", status=CheckStatus.FAILED, requirements=requirements,
        findings=[Finding(rule="capture-absente", check="capture", location=c.expression,
                          expected=f"une valeur pour « {c.name} »", actual=None,
                          message=f"{said} la valeur attendue en {c.expression} (capture « {c.name} »), les étapes "
                                  "suivantes ne peuvent pas être jouées")
                  for c in missing],
    ))


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



class PropertyTrial:
    """One ``generate`` step: hypothesis draws examples in a worker thread; requests go back to the event loop."""

    def __init__(self, runner: Runner, scenario: Scenario, step: Step, action: dict[str, Any],
                 variables: Mapping[str, Any]) -> None:
        self.runner, self.scenario, self.step, self.action, self.variables = runner, scenario, step, action, variables
        self.kind = next(k for k in REQUEST_KINDS if k in action)
        self.examples = int(action.get("examples", DEFAULT_EXAMPLES))
        self.calls = 0
        self.failed = False
        self.error: str | None = None
        self._first: tuple[Any, Exchange | None, list[CheckResult]] | None = None
        self._failing: tuple[Any, Exchange | None, list[CheckResult]] | None = None

    async def run(self, loop: asyncio.AbstractEventLoop) -> tuple[Any, Exchange | None, list[CheckResult]]:
        """Run the property; the smallest failing example, or the first one when all passed."""
        strategy = STRATEGIES[self.action["strategy"]]()

        def attempt(example: Any) -> None:
            self.calls += 1
            if self.error is None and not self._check_example(example, loop):
                raise _Falsified

        test = settings(max_examples=self.examples, database=None, deadline=None, verbosity=Verbosity.quiet,
                        suppress_health_check=list(HealthCheck), phases=(Phase.generate, Phase.shrink))(
            hypothesis_seed(self.runner.ctx.seed)(given(strategy)(attempt)))
        try:
            await asyncio.to_thread(test)
        except _Falsified:
            pass
        except Exception as exc:
            if self._failing is None:
                self.error = f"génération impossible{technical(exception_detail(exc))}"
        self.failed = self._failing is not None
        outcome = self._failing or self._first
        if outcome is None:
            return None, None, []
        return outcome

    def _check_example(self, example: Any, loop: asyncio.AbstractEventLoop) -> bool:
        """Play one example (from hypothesis's thread); False when it falsifies the property."""
        if self.calls > self.examples * SHRINK_BUDGET:
            # Budget spent: stop shrinking; the report keeps the last real failure.
            return self._failing is None
        local = {**self.variables, self.action["as"]: example}
        request = render(self.action[self.kind], local)
        exchange = asyncio.run_coroutine_threadsafe(self.runner._send(self.kind, request, self.scenario),
                                                    loop).result()
        if exchange.error is not None:
            self.error = f"échec d'échange avec la cible : {exchange.error}"
            return True
        ctx = CheckContext(scenario_id=self.scenario.id, step_id=self.step.id, exchange=exchange, variables=local)
        checks = [self.runner._check(c.name, c.args, c.requirements, ctx, local) for c in self.step.checks]
        if any(c.status in (CheckStatus.FAILED, CheckStatus.ERROR) for c in checks):
            self._failing = (example, exchange, checks)
            return False
        if self._first is None:
            self._first = (example, exchange, checks)
        return True


class _Falsified(Exception):
    """A generated example failed a check."""
