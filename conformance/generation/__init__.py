"""Hypothesis strategies for identity data, used by the harness's tests and by property-based scenario steps."""

from conformance.generation.identities import STRATEGIES, strategy

__all__ = ["STRATEGIES", "strategy"]
