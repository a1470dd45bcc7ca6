"""The INSi simulator speaks SOAP over real HTTP, answers 00/01/02 from its base and records every query."""

import asyncio

import httpx
import pytest

from conformance.simulators.insi import InsiSimulator, soap_request

PAT_TROIS = {"birth_name": "PAT-TROIS", "given_names": "DOMINIQUE", "sex": "F", "birth_date": "1979-03-28"}
HOMONYME = {"birth_name": "HOMONYME", "given_names": "PIERRE", "sex": "M", "birth_date": "1950-06-15"}


def exchange(*bodies: bytes):
    async def go():
        sim = InsiSimulator()
        await sim.start()
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                answers = [await client.post(sim.endpoints()["url"], content=b) for b in bodies]
        finally:
            await sim.stop()
        return answers, sim.inbox.items

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("query", "cr"),
    [(PAT_TROIS, "00"), (HOMONYME, "02"), ({**HOMONYME, "birth_place_cog": "69123"}, "00"),
     ({**PAT_TROIS, "birth_name": "INCONNU"}, "01")],
    ids=["one", "homonyms", "homonyms-with-birth-place", "unknown"],
)
def test_answer_codes(query, cr):
    (answer,), (received,) = exchange(soap_request(query))
    assert answer.status_code == 200
    assert f"<res:CodeCR>{cr}</res:CodeCR>" in answer.text
    assert received.summary["cr"] == cr and received.summary["birth_name"] == query["birth_name"]
    assert ("279035121518989"[:13] in answer.text) == (query is PAT_TROIS)


@pytest.mark.parametrize(
    "body",
    [b"not xml", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
     b"<a>" * 10_000, b"<x/>" + b" " * 200_000, soap_request({"birth_name": "X"})],
    ids=["not-xml", "xxe", "deep", "oversized", "missing-traits"],
)
def test_hostile_queries_get_a_soap_fault_and_are_recorded(body):
    (answer,), (received,) = exchange(body)
    assert answer.status_code == 500 and "Fault" in answer.text
    assert received.summary["operation"] == "fault"
    assert "root:" not in answer.text
