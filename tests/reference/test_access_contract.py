"""The access-rules driver operations answer as schemas/driver-api.openapi.yaml says."""

import asyncio

import httpx
import jsonschema
import pytest
import yaml

from conformance.core.resources import data_path
from conformance.engine.driver import driver_operations
from conformance.reference import create_app

SPEC = yaml.safe_load(data_path("schemas", "driver-api.openapi.yaml").read_text(encoding="utf-8"))
TRAITS = {"birth_name": "MARTIN", "first_given_name": "JEAN", "given_names": "JEAN", "birth_date": "1950-01-31",
          "sex": "M"}


def calls(*steps):
    """Create an usager, then run ``steps`` (operation, body with ``{id}`` for the usager) in the same DUI."""

    async def go():
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://ref") as client:
            created = await client.post("/driver/v1/$create-usager", json={"traits": TRAITS})
            usager_id = created.json()["id"]
            answers = []
            for operation, body in steps:
                op = driver_operations()[operation]
                filled = {k: (usager_id if v == "{id}" else v) for k, v in body.items()}
                answers.append((op, filled, await client.request(op.method, "/driver/v1" + op.path, json=filled)))
            return answers

    return asyncio.run(go())


CASES = [
    ("record-note", {"usager_id": "{id}", "category": "social", "text": "Projet personnalisé"}, 201),
    ("record-note", {"usager_id": "{id}", "category": "medical", "text": "x"}, 400),
    ("record-note", {"usager_id": "inconnu", "category": "social", "text": "x"}, 404),
    ("list-notes", {"usager_id": "{id}"}, 200),
    ("list-notes", {"usager_id": "inconnu"}, 404),
    ("assign-essms", {"usager_id": "{id}", "finess": "990000028"}, 200),
    ("assign-essms", {"usager_id": "{id}", "finess": "750000000"}, 400),
    ("assign-essms", {"usager_id": "inconnu", "finess": "990000028"}, 404),
]


@pytest.mark.parametrize(("operation", "body", "status"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_access_operations_follow_the_contract(operation, body, status):
    ((op, sent, answer),) = calls((operation, body))
    spec = SPEC["paths"][op.path][op.method.lower()]
    if status < 400:
        jsonschema.Draft202012Validator({**spec["requestBody"]["content"]["application/json"]["schema"],
                                         "components": SPEC["components"]}).validate(sent)
    assert answer.status_code == status
    declared = spec["responses"][str(status)]
    media = answer.headers["content-type"].split(";")[0]
    assert media in declared["content"]
    jsonschema.Draft202012Validator({**declared["content"][media]["schema"],
                                     "components": SPEC["components"]}).validate(answer.json())


def test_a_recorded_note_is_listed_with_its_category():
    (_, _, recorded), (_, _, listed) = calls(
        ("record-note", {"usager_id": "{id}", "category": "administratif", "text": "Contrat de séjour"}),
        ("list-notes", {"usager_id": "{id}"}))
    note = recorded.json()
    assert note["category"][0]["coding"][0]["code"] == "administratif" and note["description"] == "Contrat de séjour"
    assert listed.json()["notes"] == [{"id": note["id"], "category": "administratif", "text": "Contrat de séjour",
                                       "author": "adaptateur de test du DUI"}]
