"""The reference DUI's ``$produce-document``: the contract, versions, the INS rule, and what each fault changes."""

import asyncio

import httpx
import pytest
import yaml
from lxml import etree

from conformance.core.resources import data_path
from conformance.reference import FAULTS, create_app

NS = {"h": "urn:hl7-org:v3"}
TRAITS = {"birth_name": "PAT-TROIS", "first_given_name": "DOMINIQUE", "given_names": "DOMINIQUE MARIE-LOUISE",
          "birth_date": "1979-03-28", "sex": "F", "birth_place_cog": "51215"}
INS = {"matricule": "279035121518989", "oid": "1.2.250.1.213.1.4.10"}
SPEC = yaml.safe_load(data_path("schemas", "driver-api.openapi.yaml").read_text(encoding="utf-8"))


def exchanges(calls, faults=()):
    """Play driver calls in order against one fresh reference DUI; ``{id}`` is the imported usager's id."""

    async def go():
        transport = httpx.ASGITransport(app=create_app(faults))
        async with httpx.AsyncClient(transport=transport, base_url="http://ref/driver/v1") as client:
            created = await client.post("/$import-usager", json={"traits": TRAITS, "ins": INS, "status": "QUAL"})
            usager_id = created.json()["id"]
            answers = []
            for path, body in calls:
                body = {k: (v.format(id=usager_id) if isinstance(v, str) else v) for k, v in body.items()}
                answers.append(await client.post(path, json=body))
            return answers

    return asyncio.run(go())


def produce(kind="DLU", faults=(), times=1):
    answers = exchanges([("/$produce-document", {"usager_id": "{id}", "type": kind})] * times, faults)
    return [etree.fromstring(a.content) for a in answers]


def test_contract_declares_the_operation():
    operation = SPEC["paths"]["/$produce-document"]["post"]
    assert operation["operationId"] == "produce-document"
    assert "application/hl7-cda+xml" in operation["responses"]["200"]["content"]
    assert SPEC["components"]["schemas"]["ProduceDocument"]["properties"]["type"]["enum"] == ["DLU", "TDDUI-CDA"]


def test_document_is_served_as_cda_in_utf8():
    [answer] = exchanges([("/$produce-document", {"usager_id": "{id}", "type": "TDDUI-CDA"})])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/hl7-cda+xml; charset=utf-8"
    assert answer.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(answer.content)
    assert root.xpath("h:code/@code", namespaces=NS) == ["EXPORT_DUI"]


@pytest.mark.parametrize(("body", "status"), [
    ({"usager_id": "{id}", "type": "ORDONNANCE"}, 400), ({"usager_id": "personne", "type": "DLU"}, 404),
    ({"type": "DLU"}, 404),
])
def test_refusals_are_operation_outcomes(body, status):
    [answer] = exchanges([("/$produce-document", body)])
    assert answer.status_code == status
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_each_call_is_a_new_version_of_the_same_set():
    first, second = produce(times=2)
    assert first.xpath("h:setId/@root", namespaces=NS) == second.xpath("h:setId/@root", namespaces=NS)
    assert [d.xpath("string(h:versionNumber/@value)", namespaces=NS) for d in (first, second)] == ["1", "2"]
    assert second.xpath("h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@root", namespaces=NS) == \
        first.xpath("h:id/@root", namespaces=NS)


def test_ins_travels_only_for_a_qualified_identity():
    async def go(status, faults=()):
        transport = httpx.ASGITransport(app=create_app(faults))
        async with httpx.AsyncClient(transport=transport, base_url="http://ref/driver/v1") as client:
            created = await client.post("/$import-usager", json={"traits": TRAITS, "ins": INS, "status": status})
            answer = await client.post("/$produce-document", json={"usager_id": created.json()["id"], "type": "DLU"})
            return etree.fromstring(answer.content).xpath("//h:patientRole/h:id/@root", namespaces=NS)

    assert INS["oid"] in asyncio.run(go("QUAL"))
    assert INS["oid"] not in asyncio.run(go("RECUP"))
    assert INS["oid"] in asyncio.run(go("RECUP", ("cda-ins-sent-unqualified",)))


def xpath(document, expression):
    return document.xpath(expression, namespaces=NS)


FAULT_EFFECTS = {
    "cda-latin1-document": ("DLU", lambda d: d.getroottree().docinfo.encoding == "ISO-8859-1"),
    "cda-telecom-without-scheme": ("DLU", lambda d: "0143000000" in xpath(d, "//h:custodian//h:telecom/@value")),
    "cda-realm-code-missing": ("DLU", lambda d: not xpath(d, "h:realmCode")),
    "cda-ci-sis-template-missing": ("DLU", lambda d: not xpath(d, "h:templateId[@root='1.2.250.1.213.1.1.1.1']")),
    "cda-set-id-duplicated": ("DLU", lambda d: len(xpath(d, "h:setId")) == 2),
    "cda-effective-time-iso": ("DLU", lambda d: "-" in xpath(d, "string(h:effectiveTime/@value)")),
    "cda-author-structure-oid": ("DLU", lambda d: xpath(d, "string(//h:assignedAuthor/h:id/@root)")
                                 == "1.2.250.1.71.4.2.2"),
    "cda-custodian-raw-finess": ("DLU", lambda d: xpath(d, "string(//h:representedCustodianOrganization/h:id/"
                                                       "@extension)") == "750000002"),
    "cda-legal-authenticator-unsigned": ("DLU", lambda d: not xpath(d, "//h:legalAuthenticator/h:signatureCode")),
    "cda-service-event-without-performer": ("DLU", lambda d: not xpath(d, "//h:serviceEvent/h:performer")),
    "cda-encounter-without-time": ("DLU", lambda d: not xpath(d, "//h:encompassingEncounter/h:effectiveTime")),
    "cda-local-id-without-root": ("DLU", lambda d: xpath(d, "//h:patientRole/h:id[not(@root)]")),
    "cda-ins-production-oid": ("DLU", lambda d: xpath(d, "string(//h:patientRole/h:id[1]/@root)")
                               == "1.2.250.1.213.1.4.8"),
    "cda-birth-place-missing": ("DLU", lambda d: not xpath(d, "//h:birthplace")),
    "cda-given-names-truncated": ("DLU", lambda d: xpath(d, "string(//h:given[not(@qualifier)])") == "DOMINIQUE"),
    "dlu-generic-code": ("DLU", lambda d: xpath(d, "string(h:code/@code)") == "34133-9"),
    "dlu-bmr-section-missing": ("DLU", lambda d: not xpath(
        d, "//h:section/h:templateId[@root='1.3.6.1.4.1.19376.1.5.3.1.3.28']")),
    "cda-tddui-author-user": ("TDDUI-CDA", lambda d: xpath(d, "//h:author/h:assignedAuthor/h:assignedPerson")),
    "cda-tddui-section-missing": ("TDDUI-CDA", lambda d: not xpath(
        d, "//h:section/h:templateId[@root='1.2.250.1.213.1.1.2.246']")),
}


@pytest.mark.parametrize("fault", sorted(FAULT_EFFECTS))
def test_fault_changes_what_it_says(fault):
    kind, effect = FAULT_EFFECTS[fault]
    [correct] = produce(kind)
    [faulty] = produce(kind, faults=(fault,))
    assert not effect(correct)
    assert effect(faulty)


def test_every_cda_fault_is_exercised():
    cda_faults = {name for name in FAULTS if name.startswith(("cda-", "dlu-"))}
    assert cda_faults - set(FAULT_EFFECTS) == {"cda-ins-sent-unqualified"}  # exercised with a RECUP identity above
