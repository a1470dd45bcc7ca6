"""The reference DUI: a correct implementation of the driver interface and FHIR reads, with named faults."""

from conformance.reference.app import create_app
from conformance.reference.faults import FAULTS, Fault

__all__ = ["FAULTS", "Fault", "create_app"]
