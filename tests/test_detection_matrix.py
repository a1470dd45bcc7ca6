"""The detection matrix: each fault of the reference DUI breaks exactly the requirements it declares.

A check that cannot fail, or a scenario that proves nothing, shows up here at once.
"""

import pytest

from conformance.core.outcomes import Verdict
from conformance.reference import FAULTS
from conformance.reference.faults import EVERY_REQUIREMENT
from tests.support.runs import BOUNDED, play


@pytest.fixture(scope="module")
def baseline(suite):
    return {r.id: r.verdict for r in play(suite).requirements}


def test_reference_is_conforme_on_every_requirement(baseline):
    assert set(baseline.values()) == {Verdict.CONFORME}


def test_every_requirement_is_broken_by_some_fault(suite):
    # A fault that stops every exchange proves nothing about a particular check: it does not count here.
    broken = {req for _, fault in FAULTS.items() if EVERY_REQUIREMENT not in fault.requirements
              for req in fault.requirements}
    assert broken >= {r.id for r in suite.catalogue}
    assert broken <= {r.id for r in suite.catalogue}, "a fault names a requirement the catalogue does not have"


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_breaks_exactly_its_requirements(suite, baseline, fault):
    declared = set(FAULTS[fault].requirements)
    if EVERY_REQUIREMENT in declared:
        declared = {r.id for r in suite.catalogue}
    verdict = FAULTS[fault].verdict
    expected = declared | {dep for req in declared for dep in suite.catalogue.dependents(req)}
    report = play(suite, faults=(fault,), settings=BOUNDED)
    verdicts = {r.id: r.verdict for r in report.requirements}
    assert {req for req, v in verdicts.items() if v is verdict} == expected
    assert {req: v for req, v in verdicts.items() if req not in expected} == {
        req: v for req, v in baseline.items() if req not in expected}
    for req in expected:
        result = report.requirement(req)
        said = result.findings if verdict is Verdict.NON_CONFORME else result.errors
        assert said and all(getattr(s, "message", s) for s in said)
