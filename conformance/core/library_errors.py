"""French sentences for what libraries say when they refuse input (json, zipfile, zlib, pydantic…).

A finding is read by a French assessor: the library's own words only follow, in parentheses, as a technical detail
where they add something (a name, a position) the sentence does not already give.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

#: longest technical detail quoted from a library
DETAIL_CLIP = 200

_JSON = {
    "Expecting value": "une valeur JSON est attendue",
    "Expecting property name enclosed in double quotes": "un nom de propriété entre guillemets doubles est attendu "
                                                         "(virgule en trop ou guillemets simples ?)",
    "Expecting ':' delimiter": "« : » attendu après le nom de propriété",
    "Expecting ',' delimiter": "« , » attendue entre deux éléments",
    "Unterminated string starting at": "chaîne de caractères non terminée",
    "Invalid control character at": "caractère de contrôle non échappé dans une chaîne",
    "Invalid \\escape": "séquence d'échappement invalide",
    "Invalid \\uXXXX escape": "séquence \\uXXXX invalide",
    "Extra data": "contenu en trop après la valeur JSON",
    "Illegal trailing comma before end of object": "virgule en trop avant la fin de l'objet",
    "Illegal trailing comma before end of array": "virgule en trop avant la fin du tableau",
}

# zipfile's messages, by their start; the archive's own names stay in the detail.
_ZIP = (
    ("File is not a zip file", "ce n'est pas une archive zip (répertoire central introuvable)"),
    ("Bad CRC-32", "somme de contrôle CRC-32 fausse : le contenu de l'entrée est altéré"),
    ("Bad magic number for file header", "en-tête local d'entrée invalide"),
    ("Bad magic number for central directory", "répertoire central invalide"),
    ("Truncated file header", "en-tête d'entrée tronqué"),
    ("Truncated central directory", "répertoire central tronqué"),
    ("Bad offset for central directory", "position du répertoire central invalide"),
    ("Overlapped entries", "entrées qui se chevauchent (archive forgée)"),
    ("zipfiles that span multiple disks", "archive en plusieurs volumes"),
    ("Corrupt extra field", "champ « extra » d'une entrée corrompu"),
    ("That compression method is not supported", "méthode de compression non prise en charge (stockage ou deflate "
                                                 "attendus)"),
    ("compression type", "méthode de compression inconnue"),
    ("is encrypted", "entrée chiffrée, illisible sans mot de passe"),
    ("Compressed file ended before", "données compressées tronquées"),
)

_PYDANTIC = {
    "string_type": "une chaîne de caractères est attendue",
    "list_type": "un tableau JSON est attendu",
    "dict_type": "un objet JSON est attendu",
    "model_type": "un objet JSON est attendu",
    "model_attributes_type": "un objet JSON est attendu",
    "bool_type": "un booléen (true ou false) est attendu",
    "bool_parsing": "un booléen (true ou false) est attendu",
    "int_type": "un entier est attendu",
    "int_parsing": "un entier est attendu",
    "int_from_float": "un entier est attendu, pas un nombre décimal",
    "float_type": "un nombre est attendu",
    "float_parsing": "un nombre est attendu",
    "decimal_type": "un nombre décimal est attendu",
    "decimal_parsing": "un nombre décimal est attendu",
    "string_pattern_mismatch": "la valeur ne respecte pas le format du type FHIR",
    "string_too_short": "la chaîne est trop courte",
    "string_too_long": "la chaîne est trop longue",
    "too_short": "le tableau a trop peu d'éléments",
    "too_long": "le tableau a trop d'éléments",
    "greater_than_equal": "la valeur est trop petite",
    "less_than_equal": "la valeur est trop grande",
    "enum": "la valeur n'est pas l'un des codes permis",
    "literal_error": "la valeur n'est pas l'une de celles permises",
    "url_parsing": "une URL est attendue",
    "date_parsing": "une date est attendue",
    "datetime_parsing": "une date et heure est attendue",
    "missing": "élément obligatoire absent",
    "extra_forbidden": "élément inconnu à cet endroit",
}

# fhir.resources validators explain value errors in English: the known forms, then the detail for the others.
_VALUE_ERRORS = (
    (re.compile(r"(\w+) value string does not match spec regex"),
     "la valeur ne respecte pas le format FHIR du type {0}"),
    (re.compile(r"Any of one field value is expected from this list (\[.*?\]), but got multiple"),
     "un seul des éléments {0} est permis (type au choix [x]), plusieurs sont présents"),
)


def clip(text: str, limit: int = DETAIL_CLIP) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join(text.split())
    return line[:limit] + "…" if len(line) > limit else line


def technical(detail: object) -> str:
    """`` (détail technique : …)`` for a library's words, or "" when there are none."""
    text = clip(str(detail)) if detail is not None else ""
    return f" (détail technique : {text})" if text else ""


def exception_detail(exc: BaseException) -> str:
    """An exception as a technical detail: its type and message."""
    message = clip(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def json_error(exc: json.JSONDecodeError) -> str:
    """Why JSON could not be read, with its line and column."""
    reason = _JSON.get(exc.msg)
    where = f"ligne {exc.lineno}, colonne {exc.colno}"
    if reason is None:
        return f"JSON mal formé {where}{technical(exc.msg)}"
    return f"JSON mal formé {where} : {reason}"


def zip_error(exc: BaseException) -> str:
    """Why a zip archive or one of its entries could not be read (the caller names the entry)."""
    if isinstance(exc, zipfile.LargeZipFile):
        return "archive ZIP64 non prise en charge"
    if isinstance(exc, zlib.error):
        return f"données compressées (deflate) corrompues{technical(exc)}"
    message = str(exc)
    reason = next((french for start, french in _ZIP if start in message), None)
    return reason or f"archive zip illisible{technical(exception_detail(exc))}"


def pydantic_error(error: Mapping[str, Any]) -> str:
    """One error of a pydantic ValidationError (``exc.errors()``), in French."""
    kind = str(error.get("type", ""))
    message = str(error.get("msg", ""))
    if kind == "value_error":
        text = message.removeprefix("Value error, ")
        for pattern, sentence in _VALUE_ERRORS:
            found = pattern.search(text)
            if found:
                return sentence.format(*(clip(group, 120) for group in found.groups()))
        return f"valeur refusée par le modèle FHIR R4{technical(text)}"
    reason = _PYDANTIC.get(kind)
    if reason is None:
        return f"valeur non conforme au modèle FHIR R4{technical(message)}"
    regex = (error.get("ctx") or {}).get("pattern") if kind == "string_pattern_mismatch" else None
    return reason + (f" (motif {regex})" if regex else "")
