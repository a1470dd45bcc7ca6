"""The habilitation matrix file: its shape, and that it is exhaustive (one row per profile and category).

The access-rules suite is generated from the matrix (``for_each`` over ``habilitations.matrice``), so a matrix
that forgets a cell would silently test less: every problem is an error located in the file, row by row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import jsonschema

from conformance.core.errors import SourceError
from conformance.core.resources import data_path
from conformance.core.yamlsource import YamlDocument, schema_errors

KEY = "habilitations"


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(data_path("schemas", "habilitations.schema.json").read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def matrix_problems(doc: YamlDocument, personas: Mapping[str, Any]) -> list[SourceError]:
    """Every problem of a habilitation file, located; ``personas`` are the known personas (one per profile)."""
    problems = schema_errors(doc, _validator())
    if problems:
        return problems
    hab = doc.data[KEY]
    profiles, categories, sources = hab["profils"], hab["categories"], hab["sources"]
    errors: list[SourceError] = []
    for name in profiles:
        if name not in personas:
            errors.append(doc.error((KEY, "profils", name), f"profil « {name} » sans persona du même nom "
                                                           "dans fixtures/personas.yaml (les scénarios l'utilisent)"))
    for index, name in enumerate(hab["traces"]["lecture"]):
        if name not in profiles:
            errors.append(doc.error((KEY, "traces", "lecture", index), f"profil inconnu « {name} »"))
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(hab["matrice"]):
        where = (KEY, "matrice", index)
        if row["profil"] not in profiles:
            errors.append(doc.error((*where, "profil"), f"profil inconnu « {row['profil']} » "
                                                        f"(connus : {', '.join(profiles)})"))
        if row["categorie"] not in categories:
            errors.append(doc.error((*where, "categorie"), f"catégorie inconnue « {row['categorie']} » "
                                                           f"(connues : {', '.join(categories)})"))
        for j, source in enumerate(row["sources"]):
            if source not in sources:
                errors.append(doc.error((*where, "sources", j), f"source « {source} » absente de la liste sources"))
        cell = (row["profil"], row["categorie"])
        if cell in seen:
            line, _ = doc.position((KEY, "matrice", seen[cell]))
            errors.append(doc.error(where, f"cellule {cell[0]} × {cell[1]} déjà définie ligne {line}"))
        seen.setdefault(cell, index)
    for profile in profiles:
        for category in categories:
            if (profile, category) not in seen:
                errors.append(doc.error((KEY, "matrice"), f"matrice incomplète : aucune ligne pour le profil "
                                                          f"« {profile} » et la catégorie « {category} »"))
    return errors
