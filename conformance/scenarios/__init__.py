"""Scenario model, YAML loader with located errors, templating and selection."""

from conformance.scenarios.loader import Vocabulary, load_scenarios
from conformance.scenarios.model import Capture, CheckCall, Scenario, Step

__all__ = ["Capture", "CheckCall", "Scenario", "Step", "Vocabulary", "load_scenarios"]
