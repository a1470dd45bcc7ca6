"""The requirement catalogue (REM rows) and its coverage by scenarios."""

from conformance.requirements.catalogue import Catalogue, Requirement, load_catalogue

__all__ = ["Catalogue", "Requirement", "load_catalogue"]
