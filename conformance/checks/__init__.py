"""Check registry: a check is a function named after the expectation, registered with ``@check``."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from conformance.core.exchange import Exchange, Request, Response
from conformance.core.findings import CheckFailed, CheckSkipped, Finding
from conformance.core.library_errors import exception_detail, json_error, technical
from conformance.core.outcomes import CheckStatus
from conformance.core.registry import Registry
from conformance.core.results import CheckResult
from conformance.scenarios.loader import CheckSignature

CheckFunction: TypeAlias = Callable[..., Iterable[Finding] | None]
CHECKS: Registry[CheckFunction] = Registry("check")
#: where a finding about the HTTP status points: the runner tells these (the status was judged) from findings about
#: a body that a refusal did not carry
STATUS_LOCATION = "statut HTTP"
#: longest part of a DUI's error diagnostics quoted in a sentence
DIAGNOSTICS_CLIP = 300


def check(fn: CheckFunction) -> CheckFunction:
    """Register ``fn`` as a check under its own name; its keyword-only parameters are its arguments."""
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        raise TypeError(f"check {fn.__name__} must take the CheckContext as its first positional parameter")
    if any(p.kind is not inspect.Parameter.KEYWORD_ONLY for p in params[1:]):
        raise TypeError(f"check {fn.__name__}: arguments after the context must be keyword-only")
    return CHECKS.add(fn.__name__, fn)


def signature_of(fn: CheckFunction) -> CheckSignature:
    """The arguments a scenario may pass to ``fn``."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    return CheckSignature(
        accepted=frozenset(p.name for p in params),
        required=frozenset(p.name for p in params if p.default is inspect.Parameter.empty),
    )


def signatures() -> dict[str, CheckSignature]:
    """Signature of every registered check."""
    return {name: signature_of(fn) for name, fn in CHECKS.items()}


@dataclass
class CheckContext:
    """What a check sees: the step's exchange or simulator record, and the scenario's variables."""

    scenario_id: str
    step_id: str
    exchange: Exchange | None = None
    received: Any = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    _json: Any = field(default=None, repr=False)
    _json_loaded: bool = field(default=False, repr=False)

    @classmethod
    def of_document(cls, body: bytes, media_type: str, name: str) -> CheckContext:
        """A context over a file an assessor validates on its own, as if a target had returned it."""
        exchange = Exchange(Request("GET", f"file:{name}"), Response(200, [("Content-Type", media_type)], body), 0.0)
        return cls(scenario_id="-", step_id=name, exchange=exchange)

    @property
    def response(self) -> Response:
        """The step's HTTP response; a check that needs one is skipped where there is none."""
        if self.exchange is None or self.exchange.response is None:
            raise CheckSkipped("cette étape n'a pas de réponse HTTP à vérifier")
        return self.exchange.response

    def json(self) -> Any:
        """The response body parsed as JSON; an unparsable body is a finding, not a crash."""
        if not self._json_loaded:
            response = self.response
            try:
                self._json = _parse_json(response.body, response.charset)
            except ValueError as exc:
                # A page of markup under a JSON content type: say so, it is the usual lie (an error page).
                markup = response.body.lstrip()[:1] == b"<"
                why = (f"c'est du balisage (HTML ou XML) servi sous le type {response.media_type or 'absent'}"
                       if markup else str(exc))
                raise CheckFailed(Finding(
                    rule="json-invalide", location="corps de la réponse",
                    message=f"Le corps de la réponse n'est pas un JSON valide : {why}",
                    expected="JSON valide", actual=excerpt(response.body),
                )) from None
            self._json_loaded = True
        return self._json


def _parse_json(body: bytes, charset: str | None) -> Any:
    # Honour a declared charset so a wrong encoding is reported once, by ``body_utf8``, not by every check.
    try:
        text = body.decode(charset) if charset else body
    except (LookupError, UnicodeDecodeError):
        text = body
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("imbrication trop profonde") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"octets non UTF-8 (position {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(json_error(exc)) from None
    except ValueError as exc:  # a number past Python's digit limit
        raise ValueError(f"JSON illisible{technical(exc)}") from None


def evaluate(name: str, args: Mapping[str, Any], ctx: CheckContext, requirements: Sequence[str] = ()) -> CheckResult:
    """Run one check; a failure is findings, a broken check is an error result, never an exception."""
    reqs = list(requirements)
    try:
        findings = list(CHECKS[name](ctx, **args) or ())
    except CheckFailed as exc:
        findings = exc.findings
    except CheckSkipped as exc:
        return CheckResult(check=name, requirements=reqs, status=CheckStatus.SKIPPED, message=exc.reason)
    except Exception as exc:
        # A bug of the check or of a library it calls: the harness's error, said in French, the detail kept.
        return CheckResult(check=name, requirements=reqs, status=CheckStatus.ERROR,
                           message=f"la vérification « {name} » n'a pas pu aboutir : erreur interne de l'outil de "
                                   f"test{technical(exception_detail(exc))}")
    findings = [f.model_copy(update={"check": name}) for f in findings]
    failed = any(f.severity == "error" for f in findings)
    return CheckResult(check=name, requirements=reqs, status=CheckStatus.FAILED if failed else CheckStatus.PASSED,
                       findings=findings)


def answer_of(response: Response) -> str:
    """The DUI's error answer in words: its status, and the diagnostics of its OperationOutcome when it sent one."""
    try:
        body = _parse_json(response.body, response.charset)
    except ValueError:
        body = None
    issues = body.get("issue") if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    if isinstance(issues, list):
        said = [_issue_text(issue) for issue in issues if isinstance(issue, dict)]
        text = " ; ".join(dict.fromkeys(s for s in said if s))
        if len(text) > DIAGNOSTICS_CLIP:
            text = text[:DIAGNOSTICS_CLIP] + "…"
        return f"statut HTTP {response.status}, OperationOutcome : « {text or 'sans diagnostic'} »"
    if not response.body:
        return f"statut HTTP {response.status}, corps vide"
    return f"statut HTTP {response.status}, sans OperationOutcome (corps : « {excerpt(response.body, 80)} »)"


def _issue_text(issue: Mapping[str, Any]) -> str:
    details = issue.get("details")
    text = issue.get("diagnostics") or (details.get("text") if isinstance(details, dict) else None) or issue.get("code")
    return " ".join(text.split()) if isinstance(text, str) else ""


def excerpt(body: bytes, size: int = 120) -> str:
    """The start of a body, for a finding's ``actual``."""
    text = body[:size].decode("utf-8", errors="replace")
    return text + ("…" if len(body) > size else "")


__all__ = [
    "CHECKS", "STATUS_LOCATION", "CheckContext", "CheckFailed", "CheckSkipped", "Finding", "answer_of", "check",
    "evaluate", "excerpt", "signatures",
]
