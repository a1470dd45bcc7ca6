"""Named faults of the reference DUI: each a realistic defect that must turn its requirements non conforme."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.core.outcomes import Verdict
from conformance.core.registry import Registry


@dataclass(frozen=True)
class Fault:
    """A defect the reference DUI can be started with, and the obligations (or requirements) it must break.

    A *variant* is the opposite: a correct but unusual behaviour, just inside a limit a text allows, under which
    every requirement must stay conforme (its targets name the obligations it sits next to).
    """

    name: str
    description: str
    #: obligation ids (``DUI-CDA-06.a``) or requirement ids; ``*`` for every requirement in play
    targets: tuple[str, ...]
    #: what the requirements become: ``erreur`` when the defect leaves nothing to judge (no answer, cut connection),
    #: ``conforme`` for a variant
    verdict: Verdict = Verdict.NON_CONFORME
    #: the defect lives in the connection itself (hang, trickle, reset): the reference is served on a real socket
    on_socket: bool = False

    @property
    def variant(self) -> bool:
        """True for a correct behaviour that must move nothing."""
        return self.verdict is Verdict.CONFORME

    @property
    def requirements(self) -> tuple[str, ...]:
        """The requirements the fault must break (none for a variant)."""
        if self.variant:
            return ()
        return tuple(dict.fromkeys(t.split(".", 1)[0] for t in self.targets))

    @property
    def obligations(self) -> tuple[str, ...]:
        """The obligations it breaks (a fault) or sits next to (a variant)."""
        return tuple(t for t in self.targets if "." in t)


FAULTS: Registry[Fault] = Registry("fault")
#: in a fault's requirements: every requirement the run plays (the defect stops every exchange)
EVERY_REQUIREMENT = "*"


def fault(name: str, description: str, *targets: str, verdict: Verdict = Verdict.NON_CONFORME,
          on_socket: bool = False) -> str:
    """Declare a fault breaking ``targets`` (obligation or requirement ids); returns its name for the app's code."""
    if not targets or verdict is Verdict.CONFORME:
        raise ValueError(f"fault {name}: a fault breaks at least one obligation (use variant() for a correct one)")
    FAULTS.add(name, Fault(name, description, targets, verdict, on_socket))
    return name


def variant(name: str, description: str, *obligations: str, on_socket: bool = False) -> str:
    """Declare a correct variant next to ``obligations``: it must leave every requirement conforme."""
    if not obligations or not all("." in o for o in obligations):
        raise ValueError(f"variant {name}: name the obligations whose limit it sits just inside")
    FAULTS.add(name, Fault(name, description, obligations, Verdict.CONFORME, on_socket))
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

# INS theme (shared/reference/ins-cda-fhir.md §1).
INS_KEY_NOT_CHECKED = fault(
    "ins-key-not-checked",
    "Un matricule INS saisi avec une clé de contrôle fausse est accepté.",
    "DUI-INS-01",
)
IMPORT_KEY_NOT_CHECKED = fault(
    "import-key-not-checked",
    "À l'import d'un dossier, un matricule INS dont la clé est fausse est accepté.",
    "DUI-INS-02",
)
CORSICA_MATRICULE_REJECTED = fault(
    "corsica-matricule-rejected",
    "Un matricule né en Corse (département 2A ou 2B) est refusé : la clé est calculée sans remplacer 2A par 19 "
    "et 2B par 18.",
    "DUI-INS-03",
)
TEST_INS_UNDER_PRODUCTION_OID = fault(
    "test-ins-under-production-oid",
    "Tout INS est transmis sous l'OID de production INS-NIR (1.2.250.1.213.1.4.8), même un INS de test "
    "renvoyé par INSi sous l'OID 1.2.250.1.213.1.4.10.",
    "DUI-INS-04",
)
NEW_IDENTITY_VALIDATED = fault(
    "new-identity-validated",
    "Une identité saisie à l'admission est créée directement au statut « identité validée ».",
    "DUI-INS-05",
)
RECUP_STATUS_NOT_SHOWN = fault(
    "recup-status-not-shown",
    "Après une réponse INSi, l'identité est toujours présentée « provisoire » : le statut RECUP manque "
    "(table de statuts antérieure à l'INS).",
    "DUI-INS-06",
)
LOW_TRUST_DOCUMENT_VALIDATES = fault(
    "low-trust-document-validates",
    "Le contrôle d'un justificatif à faible niveau de confiance (acte de naissance) valide l'identité.",
    "DUI-INS-07",
)
DOCUMENT_CHECK_QUALIFIES = fault(
    "document-check-qualifies-without-insi",
    "Le contrôle d'une pièce d'identité suffit à qualifier l'identité, sans interrogation d'INSi.",
    "DUI-INS-08",
)
INS_EXPOSED_WHILE_RECUP = fault(
    "ins-exposed-while-recup",
    "Le matricule INS est exposé dans la ressource Patient dès la réponse INSi, avant la qualification.",
    "DUI-INS-09",
)
DOUBTFUL_KEPT_AFTER_QUALIFICATION = fault(
    "doubtful-attribute-kept-after-qualification",
    "L'attribut « identité douteuse » reste posé après la qualification de l'identité.",
    "DUI-INS-10",
)
HOMONYM_ATTRIBUTE_DROPPED = fault(
    "homonym-attribute-dropped",
    "L'attribut « homonyme avéré » est effacé quand l'identité est qualifiée.",
    "DUI-INS-11",
)
INSI_TRAITS_NOT_STORED = fault(
    "insi-traits-not-stored",
    "Les traits renvoyés par INSi ne remplacent pas ceux saisis : la liste des prénoms reste incomplète.",
    "DUI-INS-12",
)
TRAITS_EDITABLE_AFTER_INSI = fault(
    "traits-editable-after-insi",
    "Les traits stricts restent modifiables après la récupération de l'identité par INSi.",
    "DUI-INS-13",
)
BIRTH_PLACE_DROPPED_WITH_INS = fault(
    "birth-place-dropped-with-ins",
    "Le lieu de naissance (code COG) n'est pas transmis avec l'INS d'une identité qualifiée.",
    "DUI-INS-14",
)
TRAIT_CHARACTERS_NOT_CHECKED = fault(
    "trait-characters-not-checked",
    "Des caractères interdits (chiffres, @) sont acceptés dans le nom de naissance.",
    "DUI-INS-15",
)
INS_SLICE_WITHOUT_TYPE = fault(
    "ins-slice-without-type",
    "L'identifiant INS de la ressource Patient n'a pas de type (fr-core-cs-v2-0203) : la tranche FR Core INS ne "
    "peut pas être reconnue.",
    "DUI-INS-16",
)
IDENTITY_STATUS_OBSOLETE_CODESYSTEM = fault(
    "identity-status-obsolete-codesystem",
    "Le statut de l'identité est codé avec l'ancien système de fiabilité de FR Core 2.0 au lieu du système des "
    "statuts INS.",
    "DUI-INS-17",
)
INSI_QUERY_USES_USED_NAME = fault(
    "insi-query-uses-used-name",
    "INSi est interrogé avec le nom d'usage au lieu du nom de naissance.",
    "DUI-INS-18",
)
INSI_FAILURE_MARKS_RECOVERED = fault(
    "insi-failure-marks-recovered",
    "Une réponse INSi 01 (aucune identité) ou 02 (plusieurs) fait quand même passer l'identité en « récupérée ».",
    "DUI-INS-19",
)
APOSTROPHE_STRIPPED = fault(
    "apostrophe-stripped",
    "Les apostrophes des noms sont supprimées à l'enregistrement (D'ALMEIDA devient DALMEIDA).",
    "DUI-INS-20",
)
