import pytest

from conformance.core.outcomes import CheckStatus, Verdict, roll_up

P, F, E, S = CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.ERROR, CheckStatus.SKIPPED


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        ([P, P], Verdict.CONFORME),
        ([P, F], Verdict.NON_CONFORME),
        ([E, F], Verdict.NON_CONFORME),
        ([P, E], Verdict.ERREUR),
        ([P, S], Verdict.NON_TESTE),
        ([S, E], Verdict.ERREUR),
        ([], None),
    ],
    ids=["all-passed", "one-failed", "failure-beats-error", "error-beats-pass", "skip-beats-pass", "error-beats-skip",
         "nothing-ran"],
)
def test_roll_up_precedence(statuses, verdict):
    assert roll_up(statuses) == verdict
