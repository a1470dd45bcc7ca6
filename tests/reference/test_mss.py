"""The reference DUI's messaging answers as the driver contract says, and sends what the checks accept."""

import asyncio

import httpx
import jsonschema
import pytest
import yaml

from conformance.checks import CheckContext, evaluate
from conformance.checks.messaging import DOCUMENT_CHECKS, MDN_CHECKS
from conformance.core.resources import data_path
from conformance.engine.driver import driver_operations
from conformance.reference import create_app
from conformance.simulators.insi import InsiSimulator
from conformance.simulators.mssante import MssanteOperator
from tests.support import mss
from tests.support.servers import unused_port

SPEC = yaml.safe_load(data_path("schemas", "driver-api.openapi.yaml").read_text(encoding="utf-8"))
FIXTURES = yaml.safe_load(data_path("fixtures", "mss.yaml").read_text(encoding="utf-8"))["mss"]
TRAITS = dict(mss.PAT_TROIS)


def conforms(operation: str, response: httpx.Response) -> None:
    op = driver_operations()[operation]
    declared = SPEC["paths"][op.path]["post"]["responses"][str(response.status_code)]
    media = response.headers["content-type"].split(";")[0]
    schema = declared["content"][media]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": SPEC["components"]}).validate(response.json())


def scenario(steps, faults=()):
    """Run ``steps(client)`` against a reference DUI wired to a live operator simulator."""

    async def go():
        sim, insi = MssanteOperator(), InsiSimulator()
        await sim.start()
        await insi.start()
        try:
            app = create_app(faults, {"mssante": sim.endpoints(), "insi": insi.endpoints()})
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ref") as client:
                result = await steps(client)
        finally:
            await insi.stop()
            await sim.stop()
        return result, sim

    return asyncio.run(go())


async def qualified(client: httpx.AsyncClient) -> str:
    created = await client.post("/driver/v1/$create-usager", json={"traits": TRAITS})
    usager_id = created.json()["id"]
    await client.post("/driver/v1/$insi-lookup", json={"usager_id": usager_id})
    await client.post("/driver/v1/$record-identity-check",
                      json={"usager_id": usager_id, "document_type": "CNI", "high_trust": True})
    return str(usager_id)


def test_send_document_contract_and_the_message_passes_the_checks():
    async def steps(client):
        usager_id = await qualified(client)
        sent = await client.post("/driver/v1/$send-document",
                                 json={"usager_id": usager_id, "type": "DLU", "to": mss.CORRESPONDENT})
        errors = [
            ("send-document", await client.post("/driver/v1/$send-document",
                                                json={"usager_id": usager_id, "type": "CR", "to": "x@y.fr"})),
            ("send-document", await client.post("/driver/v1/$send-document",
                                                json={"usager_id": "inconnu", "type": "DLU", "to": "x@y.fr"})),
            ("send-document", await client.post("/driver/v1/$send-document", json={
                "usager_id": usager_id, "type": "DLU", "to": "x@y.fr", "relay": f"127.0.0.1:{unused_port()}"})),
        ]
        return sent, errors

    (sent, errors), sim = scenario(steps)
    assert sent.status_code == 200
    conforms("send-document", sent)
    assert [r.status_code for _, r in errors] == [400, 404, 502]
    for operation, response in errors:
        conforms(operation, response)
    (message,) = [i for i in sim.inbox.items if i.summary["kind"] == "message"]
    assert message.summary["message_id"] == sent.json()["message_id"]
    ctx = CheckContext("SCN-T", "envoi", received=message)
    statuses = {name: evaluate(name, {}, ctx).status for name in DOCUMENT_CHECKS}
    assert set(statuses.values()) == {"passed"}, statuses


def test_patient_mailbox_only_for_a_qualified_identity():
    async def steps(client):
        recovered = (await client.post("/driver/v1/$create-usager", json={"traits": TRAITS})).json()["id"]
        await client.post("/driver/v1/$insi-lookup", json={"usager_id": recovered})
        refused = await client.post("/driver/v1/$send-document",
                                    json={"usager_id": recovered, "type": "DLU", "to": "patient"})
        accepted = await client.post("/driver/v1/$send-document",
                                     json={"usager_id": await qualified(client), "type": "DLU", "to": "patient"})
        return refused, accepted

    (refused, accepted), _ = scenario(steps)
    assert refused.status_code == 409
    conforms("send-document", refused)
    assert accepted.json()["to"] == "279035121518989@patient.mssante.fr"


@pytest.mark.parametrize(("name", "code"), [("dlu-pat-trois", None), ("patient-inconnu", "902"),
                                            ("sans-ins", "903"), ("ins-discordant", "904"), ("ins-incomplet", "905")])
def test_receive_message_integrates_or_refuses_with_the_volet_codes(name, code):
    async def steps(client):
        usager_id = await qualified(client)
        answer = await client.post("/driver/v1/$receive-message",
                                   json={"eml_base64": FIXTURES["entrants"][name]["eml_base64"]})
        return usager_id, answer

    (usager_id, answer), sim = scenario(steps)
    assert answer.status_code == 200
    conforms("receive-message", answer)
    body = answer.json()
    assert (body["code"], body["integrated"]) == (code, code is None)
    assert body["usager_id"] == (usager_id if code is None else None)
    (report,) = [i for i in sim.inbox.items if i.summary["kind"] == "message"]
    assert report.summary["recipient"] == FIXTURES["correspondant"]
    ctx = CheckContext("SCN-T", "mdn", received=report)
    assert {name: evaluate(name, {}, ctx).status for name in MDN_CHECKS} == dict.fromkeys(MDN_CHECKS, "passed")
    outcome = {"outcome": "processed"} if code is None else {"outcome": "error", "code": code}
    assert evaluate("mdn_disposition_is", outcome, ctx).status == "passed"


@pytest.mark.parametrize("body", [{}, {"eml_base64": "%%%"}, {"eml_base64": ""}], ids=["absent", "not-base64", "empty"])
def test_receive_message_refuses_what_is_not_a_message(body):
    async def steps(client):
        return await client.post("/driver/v1/$receive-message", json=body)

    answer, _ = scenario(steps)
    assert answer.status_code == 400
    conforms("receive-message", answer)
