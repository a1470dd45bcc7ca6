"""The TDDUI receiver is a real FHIR endpoint: it answers as the IG says and records every POST, even hostile ones."""

import asyncio
import json

import httpx
import pytest

from conformance.reference.store import Usager
from conformance.reference.tddui_bundle import export_bundle
from conformance.simulators.tddui import TdduiReceiver

FHIR = {"Content-Type": "application/fhir+json"}
USAGER = Usager(id="usager-1", birth_name="PAT-TROIS", first_given_name="DOMINIQUE",
                given_names="DOMINIQUE MARIE-LOUISE", birth_date="1979-03-28", sex="F", birth_place_cog="51215",
                local_id="L1", ins=("279035121518989", "1.2.250.1.213.1.4.10"), insi_retrieved=True,
                document_checked=True)


def post(*requests, max_bytes=None):
    async def go():
        sim = TdduiReceiver()
        if max_bytes:
            sim.max_bytes = max_bytes
        await sim.start()
        try:
            base = sim.endpoints()["fhir"]
            async with httpx.AsyncClient(trust_env=False) as client:
                answers = [await client.post(base, content=body, headers=headers) for body, headers in requests]
        finally:
            await sim.stop()
        return answers, sim.inbox.items

    return asyncio.run(go())


def test_valid_bundle_gets_a_transaction_response_with_201_per_entry():
    bundle = export_bundle(USAGER)
    (answer,), (item,) = post((json.dumps(bundle).encode(), FHIR))
    assert answer.status_code == 200
    body = answer.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created"] * len(bundle["entry"])
    assert item.summary["status"] == 200 and item.summary["local_ids"] == ["3480787529/L1"]
    assert item.content == bundle and item.media_type == "application/fhir+json"


def test_invalid_bundle_gets_an_operation_outcome_and_is_recorded():
    bundle = export_bundle(USAGER)
    bundle["type"] = "batch"
    (answer,), (item,) = post((json.dumps(bundle).encode(), FHIR))
    assert answer.status_code == 400
    issues = answer.json()["issue"]
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert any("Bundle.type" in i.get("expression", [""])[0] for i in issues)
    assert item.summary["status"] == 400 and item.content["type"] == "batch"


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b'{"resourceType": "Bundle", ', FHIR, 400),
    (b'{"a":' * 300 + b"1" + b"}" * 300, FHIR, 400),
    (b"\xff\xfe", FHIR, 400),
    (b"{}", {"Content-Type": "text/plain"}, 415),
    (b"[" + b"1," * 2000 + b"1]", FHIR, 413),
])
def test_hostile_posts_are_refused_cleanly(body, headers, status):
    (answer,), (item,) = post((body, headers), max_bytes=2000)
    assert answer.status_code == status
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert item.summary["status"] == status and item.content is None


def test_metadata():
    async def go():
        sim = TdduiReceiver()
        await sim.start()
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                return (await client.get(sim.endpoints()["fhir"] + "/metadata")).json()
        finally:
            await sim.stop()

    assert asyncio.run(go())["fhirVersion"] == "4.0.1"
