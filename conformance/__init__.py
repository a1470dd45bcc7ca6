"""dui-conformance: conformity testing of French DUI software, requirement by requirement."""

from conformance.core.findings import CheckFailed, CheckSkipped, Finding
from conformance.core.outcomes import CheckStatus, Severity, Verdict

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The check and reporter registries import heavier modules; load them on first use only.
    if name in {"check", "CheckContext"}:
        from conformance import checks

        return getattr(checks, name)
    if name == "reporter":
        from conformance.reporting import reporter

        return reporter
    if name in {"simulator", "Simulator", "Received"}:
        from conformance import simulators

        return getattr(simulators, name)
    if name == "Exchange":
        from conformance.core.exchange import Exchange

        return Exchange
    raise AttributeError(name)


__all__ = [
    "CheckContext",
    "CheckFailed",
    "CheckSkipped",
    "CheckStatus",
    "Exchange",
    "Finding",
    "Received",
    "Severity",
    "Simulator",
    "Verdict",
    "__version__",
    "check",
    "reporter",
    "simulator",
]
