"""INS matricules (NIR, NIA), their OIDs, identity statuses and trait formats, as pure functions.

Sources: shared/reference/ins-cda-fhir.md §1 (key rule 97 − n mod 97 with 2A→19, 2B→18: python-stdnum
``stdnum.fr.nir`` and CNAM nir-validation; OIDs from FR Core and the TDDUI CDA IG; statuses from the RNIV).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.exceptions import ValidationError
from stdnum.fr import nir

OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
INS_OIDS = {
    OID_INS_NIR: "INS-NIR",
    OID_INS_NIA: "INS-NIA",
    OID_INS_NIR_TEST: "INS-NIR-TEST",
    OID_INS_NIR_DEMO: "INS-NIR-DEMO",
}
STATUSES = ("PROV", "RECUP", "VALI", "QUAL")
#: RNIV attributes allowed only on a provisional identity (FR Core 2.2.0 constraint fr-core-comment-requires-prov)
PROVISIONAL_ONLY_ATTRIBUTES = frozenset({"DOUT", "FICT"})

# Sex 1-2 (NIR, CNAM validator) or 7-8 (NIA, UNCERTAIN), year, month 01-12 or 20-99 (fictitious months, CNAM
# validator), department 2 digits or 2A/2B, commune 3 digits, order 3 digits, key 2 digits.
_STRUCTURE = re.compile(r"^(?P<sex>[0-9])(?P<year>\d{2})(?P<month>\d{2})(?P<dept>\d{2}|2A|2B)(?P<commune>\d{3})"
                        r"(?P<order>\d{3})(?P<key>\d{2})$")
# UNCERTAIN (reference §1.4): upper-case A-Z without diacritics, space, hyphen, apostrophe.
_TRAIT_NAME = re.compile(r"^[A-Z]+(?:[ '\-][A-Z]+)*$")


@dataclass(frozen=True)
class MatriculeProblem:
    """Why a matricule is not acceptable, in French, with what was expected."""

    rule: str
    message: str
    expected: str
    actual: str


def normalise(value: str) -> str:
    """The matricule without spaces, upper-cased (as typed or printed: ``2 79 03 51 215 189 89``)."""
    return re.sub(r"\s+", "", value).upper()


def expected_key(matricule: str) -> str | None:
    """The two-digit key of the 13-character body, or None when the body is not a NIR body."""
    body = normalise(matricule)[:13]
    try:
        return str(nir.calc_check_digits(body))
    except (ValidationError, ValueError):
        return None


def matricule_problems(value: str) -> list[MatriculeProblem]:
    """Every structural and key problem of a 15-character matricule (empty when it is valid)."""
    matricule = normalise(value)
    if len(matricule) != 15:
        return [MatriculeProblem("longueur", f"Le matricule doit compter 15 caractères (13 + clé), il en a "
                                             f"{len(matricule)}", "15 caractères", value)]
    match = _STRUCTURE.match(matricule)
    if match is None:
        return [MatriculeProblem("structure", "Le matricule ne respecte pas la structure NIR : sexe, année, mois, "
                                              "département (chiffres, 2A ou 2B), commune, rang, clé",
                                 "13 chiffres (2A/2B admis pour le département) + 2 chiffres de clé", value)]
    problems = []
    if match["sex"] not in "1278":
        problems.append(MatriculeProblem("sexe", f"Premier chiffre « {match['sex']} » impossible pour un NIR "
                                                 "(1 ou 2) ou un NIA (7 ou 8)", "1, 2, 7 ou 8", match["sex"]))
    month = int(match["month"])
    if not (1 <= month <= 12 or month >= 20):
        problems.append(MatriculeProblem("mois", f"Mois de naissance « {match['month']} » impossible",
                                         "01 à 12, ou 20 à 99 (mois inconnu)", match["month"]))
    key = expected_key(matricule)
    if key is not None and key != match["key"]:
        problems.append(MatriculeProblem("cle", f"Clé de contrôle {match['key']} fausse : 97 − (n mod 97) donne "
                                                f"{key}", key, match["key"]))
    if not problems and not nir.is_valid(matricule):  # belt and braces with the reference implementation
        problems.append(MatriculeProblem("cle", "Matricule refusé par le contrôle de clé NIR", "clé valide",
                                         match["key"]))
    return problems


def is_nia(matricule: str) -> bool:
    """True for a NIA (temporary number): first digit 7 or 8 (UNCERTAIN: no authoritative NIA rule found)."""
    return normalise(matricule)[:1] in {"7", "8"}


def oid_problems(matricule: str, oid: str) -> list[MatriculeProblem]:
    """Inconsistencies between a matricule and the OID it travels under."""
    if oid not in INS_OIDS:
        return [MatriculeProblem("oid", f"OID « {oid} » inconnu pour un INS", ", ".join(INS_OIDS), oid)]
    if is_nia(matricule) and oid != OID_INS_NIA:
        return [MatriculeProblem("oid-nia", "Un NIA (premier chiffre 7 ou 8) voyage sous l'OID INS-NIA",
                                 OID_INS_NIA, oid)]
    if not is_nia(matricule) and oid == OID_INS_NIA:
        return [MatriculeProblem("oid-nir", "Un NIR ne voyage pas sous l'OID INS-NIA", OID_INS_NIR, oid)]
    return []


def status_of(insi_retrieved: bool, document_checked: bool) -> str:
    """RNIV status from its two criteria (INSi retrieval, high-trust document check)."""
    return STATUSES[int(insi_retrieved) + 2 * int(document_checked)]


def trait_name_valid(value: str) -> bool:
    """Name trait in the INS character set (UNCERTAIN: upper-case A–Z, space, hyphen, apostrophe)."""
    return bool(_TRAIT_NAME.match(value))
