"""Named faults of the reference DUI: each a realistic defect that must turn its requirements non conforme."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.core.registry import Registry


@dataclass(frozen=True)
class Fault:
    """A defect the reference DUI can be started with, and the requirements it must break."""

    name: str
    description: str
    requirements: tuple[str, ...]


FAULTS: Registry[Fault] = Registry("fault")


def fault(name: str, description: str, *requirements: str) -> str:
    """Declare a fault; returns its name for use in the app's code."""
    FAULTS.add(name, Fault(name, description, requirements))
    return name


DRIVER_CAPABILITIES_MISSING = fault(
    "driver-capabilities-missing",
    "L'adaptateur de pilotage ne publie pas sa description (404 sur /capabilities).",
    "DUI-HTTP-01",
)
CAPABILITY_STATEMENT_R5 = fault(
    "capability-statement-r5",
    "Le CapabilityStatement annonce FHIR 5.0.0 alors que le DUI doit servir FHIR R4 (4.0.1).",
    "DUI-HTTP-02",
)
FHIR_PLAIN_JSON = fault(
    "fhir-plain-json",
    "Les ressources FHIR sont servies en application/json au lieu de application/fhir+json.",
    "DUI-HTTP-03",
)
ERRORS_AS_HTML = fault(
    "errors-as-html",
    "Les erreurs FHIR (ressource inconnue) sont renvoyées sous forme de page HTML, sans OperationOutcome.",
    "DUI-HTTP-04",
)
INVALID_BIRTH_DATE_CRASH = fault(
    "invalid-birth-date-crash",
    "Une date de naissance mal formée à la création d'un usager provoque une erreur serveur 500.",
    "DUI-HTTP-05",
)
CREATE_WITHOUT_LOCATION = fault(
    "create-usager-without-location",
    "La création d'un usager répond 200 sans en-tête Location au lieu de 201 avec Location.",
    "DUI-HTTP-06",
)
LATIN1_BODY = fault(
    "latin1-body",
    "Les ressources Patient sont encodées en ISO-8859-1 : les accents des noms arrivent corrompus.",
    "DUI-HTTP-07",
)
PATIENT_META_MISSING = fault(
    "patient-meta-missing",
    "Les ressources Patient ne portent ni meta.versionId, ni meta.lastUpdated, ni ETag.",
    "DUI-HTTP-08",
)
