"""The public facade: what the README tells plugin authors to import is importable from ``conformance``."""

import conformance
from conformance.checks import CheckContext, check
from conformance.core.exchange import Exchange
from conformance.reporting import reporter
from conformance.simulators import Received, Simulator, simulator


def test_every_name_of_the_facade_is_the_real_object():
    assert (conformance.check, conformance.CheckContext, conformance.reporter) == (check, CheckContext, reporter)
    assert (conformance.simulator, conformance.Simulator, conformance.Received) == (simulator, Simulator, Received)
    assert conformance.Exchange is Exchange
    assert all(hasattr(conformance, name) for name in conformance.__all__)
