"""The published driver contract (schemas/driver-api.openapi.yaml) matches what the reference DUI serves."""

import asyncio

import httpx
import jsonschema
import pytest
import yaml

from conformance.core.resources import data_path
from conformance.engine.driver import driver_operations
from conformance.reference import create_app

SPEC = yaml.safe_load(data_path("schemas", "driver-api.openapi.yaml").read_text(encoding="utf-8"))
TRAITS = {"birth_name": "MARTIN", "first_given_name": "JEAN", "given_names": "JEAN PIERRE",
          "birth_date": "1950-01-31", "sex": "M", "birth_place_cog": "69123"}


def validate(schema_ref: dict, instance) -> None:
    jsonschema.Draft202012Validator({**schema_ref, "components": SPEC["components"]}).validate(instance)


def call(method: str, path: str, **kwargs) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://ref") as client:
            return await client.request(method, "/driver/v1" + path, **kwargs)

    return asyncio.run(go())


def test_spec_is_a_valid_openapi_document():
    assert SPEC["openapi"].startswith("3.1")
    ids = [op["operationId"] for item in SPEC["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == len(driver_operations())
    for name in ids:
        op = driver_operations()[name]
        for response in SPEC["paths"][op.path][op.method.lower()]["responses"].values():
            for media in response.get("content", {}).values():
                jsonschema.Draft202012Validator.check_schema(
                    {**media["schema"], "components": SPEC["components"]})


UNKNOWN = {"usager_id": "nobody"}
CASES = [
    ("capabilities", None, 200), ("create-usager", {"traits": TRAITS}, 201),
    ("create-usager", {"traits": {**TRAITS, "birth_date": "1950-13-01"}}, 400),
    ("create-usager", {"nothing": 1}, 400),
    ("create-usager", {"traits": TRAITS, "ins": {"matricule": "279035121518990", "oid": "1.2.250.1.213.1.4.10"}}, 400),
    ("insi-lookup", UNKNOWN, 404),
    ("record-identity-check", {**UNKNOWN, "document_type": "CNI", "high_trust": True}, 404),
    ("update-traits", {**UNKNOWN, "traits": {"birth_name": "X"}}, 404),
    ("import-usager", {"traits": TRAITS, "ins": {"matricule": "279035121518989", "oid": "1.2.250.1.213.1.4.10"},
                       "status": "QUAL"}, 201),
    ("import-usager", {"traits": TRAITS, "status": "SUPER"}, 400),
]


@pytest.mark.parametrize(("operation", "body", "status"), CASES,
                         ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_reference_answers_as_the_contract_says(operation, body, status):
    op = driver_operations()[operation]
    spec = SPEC["paths"][op.path][op.method.lower()]
    if body is not None and status < 400:
        validate(spec["requestBody"]["content"]["application/json"]["schema"], body)
    response = call(op.method, op.path, json=body)
    assert response.status_code == status
    declared = spec["responses"][str(status)]
    media = response.headers["content-type"].split(";")[0]
    assert media in declared["content"]
    validate(declared["content"][media]["schema"], response.json())
    for header, rule in declared.get("headers", {}).items():
        assert not rule.get("required") or header.lower() in response.headers


def test_reference_lists_exactly_the_contract_operations():
    assert set(call("GET", "/capabilities").json()["operations"]) == set(driver_operations())


def test_non_json_body_is_refused_with_415():
    response = call("POST", "/$create-usager", content=b"<traits/>", headers={"Content-Type": "application/xml"})
    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"
