"""Verdicts, check statuses, severities and the one roll-up rule."""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Verdict(enum.StrEnum):
    """Verdict of one requirement, in the words of the ANS referencing path."""

    CONFORME = "conforme"
    NON_CONFORME = "non conforme"
    NON_TESTE = "non testé"
    #: the harness or the transport failed; says nothing about the vendor
    ERREUR = "erreur"


class RunVerdict(enum.StrEnum):
    """Verdict of a whole run: never a bare « conforme » when EXIGENCEs of the catalogue went untested."""

    CONFORME = "conforme"
    NON_CONFORME = "non conforme"
    ERREUR = "erreur"
    #: nothing failed, but EXIGENCEs of the catalogue were not tested (not selected, skipped, interrupted…)
    INCOMPLET = "incomplet"
    #: not one requirement was tested
    NON_TESTE = "non testé"


class CheckStatus(enum.StrEnum):
    """What happened to one check call."""

    PASSED = "passed"
    FAILED = "failed"
    #: the harness, the transport or the check itself broke
    ERROR = "error"
    #: not evaluated: manual step skipped, interrupted, earlier step failed…
    SKIPPED = "skipped"


class Severity(enum.StrEnum):
    """Severity of a finding; only ERROR findings fail a check."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Level(enum.StrEnum):
    """Requirement level of the REM."""

    EXIGENCE = "EXIGENCE"
    PRECONISATION = "PRECONISATION"


class Criticality(enum.StrEnum):
    """Requirement criticality of the REM."""

    MINEURE = "Mineure"
    MAJEURE = "Majeure"
    CRITIQUE = "Critique"


# Worst first: a single failed check makes a requirement non conforme even if another check of it errored,
# because that failure is a real observation of the vendor's behaviour.
_PRECEDENCE: tuple[tuple[CheckStatus, Verdict], ...] = (
    (CheckStatus.FAILED, Verdict.NON_CONFORME),
    (CheckStatus.ERROR, Verdict.ERREUR),
    (CheckStatus.SKIPPED, Verdict.NON_TESTE),
    (CheckStatus.PASSED, Verdict.CONFORME),
)


def roll_up(statuses: Iterable[CheckStatus]) -> Verdict | None:
    """Verdict of a requirement from the statuses of every check bound to it; None when nothing ran."""
    seen = set(statuses)
    for status, verdict in _PRECEDENCE:
        if status in seen:
            return verdict
    return None
